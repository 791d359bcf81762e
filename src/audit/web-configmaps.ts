/**
 * Web server configurations held in Kubernetes ConfigMaps (an nginx sidecar's `nginx.conf`,
 * ingress-nginx's custom `nginx.tmpl`, a `Caddyfile`, an `httpd.conf`): each data value read as
 * the file its key names, or, when the key says nothing (`config`, `site`), as the file a
 * container of the scan mounts it at (`subPath`, or `items[].path` under the mount path). The
 * value is read with the web server rules of a file (audit/web-server.ts) at the ConfigMap's lines.
 */
import path from 'node:path';
import { isCaddyfile } from './web-server.js';

/** How a value is read: as a Caddyfile, or as an nginx/Apache configuration. */
export type WebConfigType = 'caddy' | 'conf';

/** The main file names of nginx and Apache httpd configurations (and ingress-nginx's template of nginx.conf). */
const CONF_NAMES = /^(?:nginx|httpd|apache2|default|ssl|proxy)\.conf$|^nginx\.tmpl$/i;
/** A `.conf` whose text is nginx's (a `server {`/`location … {`/`upstream x {` block, a `proxy_pass`) or Apache's (`<VirtualHost`, `ProxyPass`). */
const WEB_SYNTAX = /^[ \t]*(?:(?:server|http|location[^{\n]{0,256}|upstream[ \t]+\S{1,256})[ \t]*\{|(?:proxy_pass|grpc_pass)[ \t]+\S|<VirtualHost\b|ProxyPass(?:Match)?[ \t]+\S)/m;

/** The type of a file or ConfigMap key by its name (and a `.conf`'s text, when given); undefined: not a web server configuration. */
export function webConfigTypeOf(name: string, text?: string): WebConfigType | undefined {
  const base = path.posix.basename(name);
  if (isCaddyfile(base)) return 'caddy';
  if (CONF_NAMES.test(base)) return 'conf';
  // A `.conf` in a web server's directory (`/etc/nginx/conf.d/app.conf`, `/usr/local/apache2/conf/extra/x.conf`), or whose text is one.
  if (/\.conf$/i.test(base) && (WEB_DIR.test(name) || (text !== undefined && WEB_SYNTAX.test(text)))) return 'conf';
  return undefined;
}

const WEB_DIR = /(?:^|\/)(?:nginx|httpd|apache2?|openresty)(?:\/|$)/i;

/** A ConfigMap key holding a file no key name types, where it is (its document in the file), for a mount to type it. */
export interface ConfigMapKey {
  file: string;
  doc: number;
  namespace?: string;
  name: string;
  key: string;
  /** The key's name types it (`nginx.conf`): read as such already, kept to join the includes of the keys mounted with it. */
  typed?: boolean;
}

/** What a scan collects for ConfigMap keys read as the files containers mount them as. */
export interface WebConfigCollected {
  keys: ConfigMapKey[];
  mounts: ConfigMapMount[];
}

/** At most this many ConfigMap keys and mounts a scan keeps for this. */
export const MAX_WEB_CONFIG_KEYS = 65_536;

/** A document's ConfigMap keys with a multi-line value no key name types, and its containers' mounts of web server configuration files. */
export function collectWebConfigMaps(c: WebConfigCollected, file: string, index: number, json: unknown): void {
  if (!isObj(json)) return;
  if (json.kind === 'ConfigMap' && isObj(json.data)) {
    const meta = isObj(json.metadata) ? json.metadata : {};
    const name = str(meta.name);
    if (!name) return;
    for (const [key, v] of Object.entries(json.data)) {
      if (typeof v !== 'string' || !v.includes('\n') || c.keys.length >= MAX_WEB_CONFIG_KEYS) continue;
      c.keys.push({ file, doc: index, ...(str(meta.namespace) ? { namespace: str(meta.namespace) } : {}), name, key, ...(webConfigTypeOf(key, v) ? { typed: true } : {}) });
    }
    return;
  }
  if (c.mounts.length < MAX_WEB_CONFIG_KEYS) c.mounts.push(...webConfigMounts(json));
}

/** A ConfigMap key a container mounts as a file, with the file's path. */
export interface ConfigMapMount {
  namespace?: string;
  configMap: string;
  key: string;
  path: string;
  /** The workload and container mounting it, in words. */
  by: string;
  /** The whole ConfigMap mounted as a directory at `path` (no `items`): each key a file under it. */
  dir?: boolean;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length <= 4096 ? v : undefined);

/** At most this many mounts are kept from one object (a real pod mounts a handful). */
const MAX_MOUNTS = 256;
const MAX_DEPTH = 12;

/**
 * The ConfigMap keys the containers of one object mount as files whose name is a web server
 * configuration (kubelet: a `subPath` mount is that key at `mountPath`; otherwise each key, or
 * each `items[]` entry's `path`, under `mountPath`). The pod specs are found wherever a workload
 * keeps them (`spec`, `spec.template.spec`, a CronJob's `jobTemplate`), bounded in depth.
 */
export function webConfigMounts(obj: unknown): ConfigMapMount[] {
  const out: ConfigMapMount[] = [];
  if (!isObj(obj)) return out;
  const meta = isObj(obj.metadata) ? obj.metadata : {};
  const namespace = str(meta.namespace);
  const subject = `${str(obj.kind) ?? 'object'} ${str(meta.name) ?? '?'}`;
  const visit = (node: unknown, depth: number) => {
    if (!isObj(node) || depth > MAX_DEPTH || out.length >= MAX_MOUNTS) return;
    if (Array.isArray(node.containers) && Array.isArray(node.volumes)) podSpec(node);
    for (const [k, v] of Object.entries(node)) if (k !== 'containers' && k !== 'volumes' && isObj(v)) visit(v, depth + 1);
  };
  const podSpec = (spec: Obj) => {
    const volumes = new Map<string, { name: string; items?: Array<{ key: string; path: string }> }>();
    for (const v of spec.volumes as unknown[]) {
      if (!isObj(v) || !str(v.name) || !isObj(v.configMap) || !str(v.configMap.name)) continue;
      const items = Array.isArray(v.configMap.items) ? v.configMap.items.flatMap((it) => (isObj(it) && str(it.key) && str(it.path) ? [{ key: it.key as string, path: it.path as string }] : [])) : undefined;
      volumes.set(v.name as string, { name: v.configMap.name as string, ...(items ? { items } : {}) });
    }
    for (const list of ['initContainers', 'containers']) {
      for (const c of Array.isArray(spec[list]) ? (spec[list] as unknown[]) : []) {
        if (!isObj(c) || !Array.isArray(c.volumeMounts)) continue;
        const by = `container ${str(c.name) ?? '?'} of ${subject}`;
        for (const m of c.volumeMounts) {
          const vol = isObj(m) ? volumes.get(str(m.name) ?? '') : undefined;
          const mountPath = isObj(m) ? str(m.mountPath)?.replace(/\/+$/, '') : undefined;
          if (!vol || mountPath === undefined || out.length >= MAX_MOUNTS) continue;
          const sub = str((m as Obj).subPath);
          const files = sub ? [{ key: vol.items ? vol.items.find((it) => it.path === sub)?.key : sub, path: mountPath }] : (vol.items ?? []).map((it) => ({ key: it.key, path: `${mountPath}/${it.path}` }));
          for (const f of files) if (f.key && webConfigTypeOf(f.path) && out.length < MAX_MOUNTS) out.push({ ...(namespace ? { namespace } : {}), configMap: vol.name, key: f.key, path: f.path, by });
          // Every key a file under the mount path: those whose names type them may include each other.
          if (!sub && !vol.items && mountPath && out.length < MAX_MOUNTS) out.push({ ...(namespace ? { namespace } : {}), configMap: vol.name, key: '', path: mountPath, by, dir: true });
        }
      }
    }
  };
  visit(obj, 0);
  return out;
}

/** At most this many ConfigMap keys one container mounts are joined by their includes (a real pod mounts a handful). */
export const MAX_MOUNTED_FILES = 1024;

/**
 * At most this many ConfigMap keys are joined by their includes over all the containers of one scan:
 * each container's includes are resolved anew (its own bounds, audit/web-includes.ts), so a few
 * hundred Deployments mounting one ConfigMap of a thousand keys at different paths were minutes.
 */
export const MAX_JOINED_FILES = 2048;

/** The ConfigMap keys one container mounts together, by the path it sees them at. */
export interface MountedTogether {
  by: string;
  /** The keys joined by their includes; empty for a container past the scan's MAX_JOINED_FILES. */
  files: Map<string, ConfigMapKey>;
  /** A key it mounts, to name the container's note at. */
  first: ConfigMapKey;
  /** What of its keys is not joined (a bound), said as a note that leaves the key unaudited. */
  cut?: string;
}

/**
 * The ConfigMap keys each container of the scan mounts, by the path it sees them at: a `subPath`
 * or `items[]` mount is that key at its path, a whole ConfigMap mounted as a directory each of its
 * keys under it (kubelet's projection). `keysOf` gives a ConfigMap's keys by its name and namespace.
 * Only containers mounting two keys or more (an include may join them), and one of the containers
 * mounting the same keys at the same paths (their includes join the same). Bounded:
 * MAX_MOUNTED_FILES a container, MAX_JOINED_FILES a scan (the containers past it named in one note).
 */
export function mountedKeys(mounts: readonly ConfigMapMount[], keysOf: (m: ConfigMapMount) => readonly ConfigMapKey[]): MountedTogether[] {
  const byContainer = new Map<string, ConfigMapMount[]>();
  for (const m of mounts) {
    const k = `${m.namespace ?? ''}\n${m.by}`;
    const list = byContainer.get(k);
    if (list) list.push(m);
    else byContainer.set(k, [m]);
  }
  // A ConfigMap's keys by key name, built once for each list keysOf gives.
  const named = new WeakMap<readonly ConfigMapKey[], Map<string, ConfigMapKey[]>>();
  const withKey = (keys: readonly ConfigMapKey[], key: string): readonly ConfigMapKey[] => {
    let index = named.get(keys);
    if (!index) {
      index = new Map();
      for (const x of keys) {
        const same = index.get(x.key);
        if (same) same.push(x);
        else index.set(x.key, [x]);
      }
      named.set(keys, index);
    }
    return index.get(key) ?? [];
  };
  const out: MountedTogether[] = [];
  const joinedSets = new Set<string>();
  let joined = 0;
  let past: MountedTogether | undefined;
  let pastCount = 0;
  for (const list of byContainer.values()) {
    const files = new Map<string, ConfigMapKey>();
    let cut = false;
    for (const m of list) {
      const keys = keysOf(m);
      for (const k of m.dir ? keys : withKey(keys, m.key)) {
        if (files.size >= MAX_MOUNTED_FILES) {
          cut = true;
          break;
        }
        // The kubelet stacks mounts: a later one at the same path wins.
        files.set(m.dir ? `${m.path}/${k.key}` : m.path, k);
      }
    }
    if (files.size < 2) continue;
    const first = files.values().next().value!;
    // The same keys at the same paths as a container joined already: the same includes, read once.
    const set = [...files].map(([p, k]) => `${p}\0${k.file}\0${k.doc}\0${k.key}`).sort().join('\0\0');
    if (joinedSets.has(set)) continue;
    if (past || joined + files.size > MAX_JOINED_FILES) {
      pastCount++;
      past ??= { by: list[0].by, files: new Map(), first };
      continue;
    }
    joined += files.size;
    joinedSets.add(set);
    out.push({ by: list[0].by, files, first, ...(cut ? { cut: `mounts more than ${MAX_MOUNTED_FILES} ConfigMap keys: those past them are not joined to its web configuration's includes (what they define is unknown there)` } : {}) });
  }
  if (past) {
    past.cut = `${pastCount > 1 ? `and ${pastCount - 1} other container${pastCount > 2 ? 's' : ''} mount` : 'mounts'} ConfigMap keys past the ${MAX_JOINED_FILES} one scan joins by their includes: their keys are read alone (what an include of theirs joins is unknown there)`;
    out.push(past);
  }
  return out;
}
