import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { COMPOSE_SERVICE_IMAGE, type Reference, type ScannedFile } from './scan.js';
import { formatImageReference, looksLikeRegistry, parseImageReference } from '../oci/reference.js';

/**
 * Podman hosts (RHEL edge boxes, no Kubernetes): the Quadlet units systemd runs
 * (podman-systemd.unit(5)) and the containers/image configuration that decides where their pulls
 * go — registries.conf with its registries.conf.d drop-ins (containers-registries.conf(5),
 * containers-registries.conf.d(5)): `[[registry]]` prefixes with their mirrors, `blocked`,
 * `unqualified-search-registries`, `[aliases]`.
 */

/** A Quadlet unit file, by its extension. */
const QUADLET_UNIT = /\.(?:container|image|volume|pod|kube|network|build)$/;
/** The sections whose `Image=` podman pulls (a `.build` unit's `ImageTag=` names what it builds: nothing pulled). */
const QUADLET_IMAGE_SECTIONS = new Set(['Container', 'Image', 'Volume']);

export function isQuadletUnit(file: string): boolean {
  return QUADLET_UNIT.test(path.posix.basename(file));
}

/** registries.conf, or a drop-in of registries.conf.d (only `*.conf` files are loaded there). */
export function isRegistriesConf(file: string): boolean {
  const parts = file.split('/');
  const base = parts.at(-1) ?? '';
  return base === 'registries.conf' || (parts.at(-2) === 'registries.conf.d' && base.endsWith('.conf'));
}

/** What a Quadlet `Image=` tells the audit beyond the reference (scan.ts `Reference.podman`). */
export interface PodmanPull {
  /** The unit (`web.container`). */
  unit: string;
  /** The value as written, when the pulled name differs (a short name resolved). */
  written?: string;
  /** How the short name was resolved, in words. */
  resolved?: string;
  /** Why the registry the pull goes to is not known (a short name with no alias and not one search registry). */
  unknown?: string;
  /** `AutoUpdate=registry`: podman-auto-update asks the registry for the tag's digest on its timer. */
  autoUpdate?: true;
  /** A Compose service on a podman host (not a Quadlet unit): `unit` names the file and service. */
  compose?: true;
}

/**
 * The images a Quadlet unit pulls (`Image=` in `[Container]`, `[Image]`, `[Volume]`), at their
 * lines; `text` with those lines blanked (line numbers kept), for the line-by-line scan of the rest.
 * `Image=other.image` / `other.build` names another unit, whose own `Image=` is the pull.
 */
export function quadletImages(file: string, text: string): { refs: Reference[]; rest: string } {
  const refs: Reference[] = [];
  const lines = text.split('\n');
  let section = '';
  let autoUpdate = false;
  const unit = path.posix.basename(file);
  // systemd.syntax(7), as Quadlet's parser reads it: a line ending in `\` goes on with the next
  // (the backslash read as a space), comment lines inside such a run skipped; a continuation line
  // is never a key of its own (`Environment=A=1 \` then `Image=…` is one Environment= line).
  let continued: { line: number; parts: string[] } | false | undefined;
  const image = (line: number, value: string) => {
    if (value && !/\.(?:image|build)$/.test(value)) refs.push({ file, line, keyPath: `${section}.Image`, kind: 'image', value, podman: { unit } });
  };
  lines.forEach((raw, i) => {
    const line = raw.trim();
    const more = line.endsWith('\\');
    if (continued !== undefined) {
      if (line.startsWith('#') || line.startsWith(';')) return;
      if (continued) {
        continued.parts.push(more ? line.slice(0, -1) : line);
        lines[i] = '';
        if (!more) image(continued.line, continued.parts.join(' ').trim());
      }
      if (!more) continued = undefined;
      return;
    }
    const header = /^\[([^\]]*)\]$/.exec(line);
    if (header) {
      section = header[1].trim();
      return;
    }
    const kv = /^([A-Za-z][\w-]*)\s*=\s*(.*)$/.exec(line);
    if (!kv || !QUADLET_IMAGE_SECTIONS.has(section) || kv[1] !== 'Image') {
      if (more && !line.startsWith('#') && !line.startsWith(';')) continued = false;
      if (kv?.[1] === 'AutoUpdate' && QUADLET_IMAGE_SECTIONS.has(section) && kv[2].trim() === 'registry') autoUpdate = true;
      return;
    }
    lines[i] = '';
    if (more) continued = { line: i + 1, parts: [kv[2].slice(0, -1)] };
    else image(i + 1, kv[2].trim().replace(/^(["'])(.*)\1$/, '$2'));
  });
  // A file ending in a continued Image= line: what it holds so far.
  if (continued) image(continued.line, continued.parts.join(' ').trim());
  if (autoUpdate) for (const r of refs) r.podman!.autoUpdate = true;
  return { refs, rest: lines.join('\n') };
}

/** A `.kube` unit's `[Kube] Yaml=` lines: the Kubernetes YAML `podman kube play` runs (podman-systemd.unit(5)). */
export function quadletKubeYamls(text: string): Array<{ line: number; value: string }> {
  const out: Array<{ line: number; value: string }> = [];
  let section = '';
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const header = /^\[([^\]]*)\]$/.exec(line);
    if (header) section = header[1].trim();
    const kv = section === 'Kube' ? /^Yaml\s*=\s*(.*)$/.exec(line) : null;
    const value = kv?.[1].trim().replace(/^(["'])(.*)\1$/, '$2');
    if (value) out.push({ line: i + 1, value });
  });
  return out;
}

/**
 * Where a `.kube` unit's `Yaml=` file is, as a path of the scan (or of the tree rewritten): relative
 * to the unit's directory, or absolute on the unit's host (the part of its path before
 * `etc/containers/`, podmanHostRoot's rule); undefined when it leaves the tree (`../..` past its
 * top, an absolute path with no host root), with the reason.
 */
export function kubeYamlPath(unit: string, value: string): { file: string } | { outside: string } {
  const posix = unit.split(path.sep).join('/');
  if (value.startsWith('/')) {
    const m = /(?:^|\/)etc\/containers\//.exec(posix);
    if (!m) return { outside: `an absolute path, and ${unit} is under no etc/containers/ that says which host's root it is on` };
    return { file: path.posix.normalize(posix.slice(0, m.index + (m[0].startsWith('/') ? 1 : 0)) + value.slice(1)) };
  }
  const file = path.posix.normalize(path.posix.join(path.posix.dirname(posix), value));
  if (file === '..' || file.startsWith('../')) return { outside: 'it leads out of the scanned tree' };
  return { file };
}

/** A container image of a Kubernetes workload (a Pod's, a Deployment's template's). */
const KUBE_CONTAINER_IMAGE = /(?:^|\.)(?:containers|initContainers)\[\d+\]\.image$/;

/**
 * The Kubernetes YAML a `.kube` unit names is what podman pulls, through the host's
 * registries.conf: its container images become podman pulls (short names resolved as podman
 * does). One named outside the scan, or not in it, is unaudited: said, as a skipped file.
 */
export function applyQuadletKube(files: readonly ScannedFile[], references: Reference[]): Array<{ file: string; reason: string; unscanned: true }> {
  const skipped: Array<{ file: string; reason: string; unscanned: true }> = [];
  const scanned = new Set(files.map((f) => f.file));
  // The references by file, once: a scan of many units and many files stays linear.
  const byFile = new Map<string, Reference[]>();
  for (const r of references) {
    const list = byFile.get(r.file);
    if (list) list.push(r);
    else byFile.set(r.file, [r]);
  }
  for (const f of files) {
    if (!f.file.endsWith('.kube') || f.text === undefined) continue;
    const unit = path.posix.basename(f.file);
    for (const y of quadletKubeYamls(f.text)) {
      const at = kubeYamlPath(f.file, y.value);
      if ('outside' in at || !scanned.has(at.file)) {
        const why = 'outside' in at ? at.outside : `${at.file} is not in the scan`;
        skipped.push({ file: f.file, reason: `line ${y.line}: Yaml=${y.value} names the Kubernetes YAML podman kube play runs, and ${why}: what it pulls is unaudited; audit it with the unit (its directory, or the host's root)`, unscanned: true });
        continue;
      }
      for (const r of byFile.get(at.file) ?? [])
        if (!r.podman && r.kind === 'image' && r.keyPath && KUBE_CONTAINER_IMAGE.test(r.keyPath)) r.podman = { unit: `${unit} (Yaml=${y.value})` };
    }
  }
  return skipped;
}

/** One `[[registry]]` entry as containers/image reads it, after the drop-ins are merged. */
export interface PodmanRegistry {
  prefix: string;
  /** Where the pull goes when no mirror serves it (default: the prefix itself). */
  location: string;
  mirrors: Array<{ location: string; pullFromMirror: 'all' | 'digest-only' | 'tag-only' }>;
  blocked: boolean;
  /** The file the entry was last set in. */
  file: string;
}

/** The merged configuration of every registries.conf (and drop-in) in the scan. */
export interface PodmanConfig {
  files: string[];
  registries: PodmanRegistry[];
  /** `unqualified-search-registries` and the file that set it last. */
  search?: { list: string[]; file: string };
  aliases: Map<string, { value: string; file: string }>;
  shortNameMode?: string;
  /** Files that do not parse as TOML: their settings are unknown. */
  unreadable: string[];
}

/**
 * The order containers/image loads them in: registries.conf, then registries.conf.d/*.conf in
 * alpha-numerical order, later settings overwriting earlier ones (`[[registry]]` by prefix).
 */
function loadOrder(a: string, b: string): number {
  const key = (f: string) => [path.posix.dirname(f.endsWith('/registries.conf') ? f : path.posix.dirname(f)), f.endsWith('/registries.conf') || f === 'registries.conf' ? 0 : 1, path.posix.basename(f)] as const;
  const [da, ka, ba] = key(a);
  const [db, kb, bb] = key(b);
  return da < db ? -1 : da > db ? 1 : ka - kb || (ba < bb ? -1 : ba > bb ? 1 : 0);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function podmanConfig(files: readonly ScannedFile[]): PodmanConfig | undefined {
  const confs = files.filter((f) => isRegistriesConf(f.file) && f.text !== undefined).sort((a, b) => loadOrder(a.file, b.file));
  if (!confs.length) return undefined;
  const out: PodmanConfig = { files: confs.map((f) => f.file), registries: [], aliases: new Map(), unreadable: [] };
  const byPrefix = new Map<string, PodmanRegistry>();
  for (const f of confs) {
    let doc: Record<string, unknown>;
    try {
      doc = parseToml(f.text!) as Record<string, unknown>;
    } catch {
      out.unreadable.push(f.file);
      continue;
    }
    const search = doc['unqualified-search-registries'];
    if (Array.isArray(search)) out.search = { list: search.filter((s): s is string => typeof s === 'string').map((s) => s.toLowerCase()), file: f.file };
    const mode = str(doc['short-name-mode']);
    if (mode !== undefined) out.shortNameMode = mode;
    const aliases = doc.aliases;
    if (aliases && typeof aliases === 'object') {
      for (const [name, value] of Object.entries(aliases as Record<string, unknown>)) {
        if (typeof value !== 'string') continue;
        // An empty value erases the alias (containers-registries.conf(5)).
        if (value === '') out.aliases.delete(name);
        else out.aliases.set(name, { value, file: f.file });
      }
    }
    const list = Array.isArray(doc.registry) ? doc.registry : [];
    for (const e of list as Array<Record<string, unknown>>) {
      const prefix = str(e?.prefix) ?? str(e?.location);
      if (!prefix) continue;
      const digestOnly = e['mirror-by-digest-only'] === true;
      const mirrors = (Array.isArray(e.mirror) ? (e.mirror as Array<Record<string, unknown>>) : []).flatMap((m) => {
        const location = str(m?.location);
        if (!location) return [];
        const pfm = str(m['pull-from-mirror']);
        const pullFromMirror = digestOnly ? 'digest-only' : pfm === 'digest-only' || pfm === 'tag-only' ? pfm : 'all';
        return [{ location, pullFromMirror } as PodmanRegistry['mirrors'][number]];
      });
      byPrefix.set(prefix, { prefix, location: str(e.location) ?? prefix, mirrors, blocked: e.blocked === true, file: f.file });
    }
  }
  out.registries = [...byPrefix.values()];
  return out;
}

/**
 * The host a registries.conf (or drop-in) configures, as a path prefix of the scan: what comes
 * before its nearest enclosing `etc/containers/` (`hosts/edge-1/` for
 * `hosts/edge-1/etc/containers/registries.conf`, `` for `etc/containers/…`); a registries.conf
 * elsewhere (`~/.config/containers/`, a loose copy) configures its own directory (the parent of a
 * `registries.conf.d`).
 */
export function podmanHostRoot(confFile: string): string {
  const dir = path.posix.dirname(confFile);
  const containers = path.posix.basename(dir) === 'registries.conf.d' ? path.posix.dirname(dir) : dir;
  const etc = /(?:^|\/)etc\/containers$/.exec(containers);
  if (etc) return containers.slice(0, etc.index + (etc[0].startsWith('/') ? 1 : 0));
  return containers === '.' ? '' : `${containers}/`;
}

/** Each host's registries.conf in the scan, merged per host (podmanHostRoot), and the one a file on a host is judged with. */
export interface PodmanHosts {
  /** By host root. */
  configs: Map<string, PodmanConfig>;
  /**
   * The configuration of the host `file` sits on: the nearest enclosing host root. With one host
   * in the scan, every file is judged with it (`ferry audit /etc/containers /srv/units`) unless
   * `enclosed` asks for a root that holds the file.
   */
  of(file: string, enclosed?: boolean): PodmanConfig | undefined;
}

export function podmanHosts(files: readonly ScannedFile[]): PodmanHosts {
  const byRoot = new Map<string, ScannedFile[]>();
  for (const f of files) {
    if (!isRegistriesConf(f.file) || f.text === undefined) continue;
    const root = podmanHostRoot(f.file);
    const list = byRoot.get(root);
    if (list) list.push(f);
    else byRoot.set(root, [f]);
  }
  const configs = new Map<string, PodmanConfig>();
  for (const [root, fs] of byRoot) configs.set(root, podmanConfig(fs)!);
  const roots = [...configs.keys()].sort((a, b) => b.length - a.length);
  return {
    configs,
    of(file, enclosed) {
      const root = roots.find((r) => r === '' || file.startsWith(r));
      if (root !== undefined) return configs.get(root);
      return !enclosed && configs.size === 1 ? [...configs.values()][0] : undefined;
    },
  };
}

/** `docker.io/nginx` as containers/image normalizes it (`docker.io/library/nginx`), for prefix matching. */
function normalized(name: string): string {
  try {
    return formatImageReference(parseImageReference(name));
  } catch {
    return name;
  }
}

/**
 * The `[[registry]]` entry a pull of `image` (fully qualified) uses: the longest prefix that
 * matches at a path boundary, or a `*.domain` wildcard on its host (containers/image's FindRegistry).
 */
export function registryFor(config: PodmanConfig, image: string): PodmanRegistry | undefined {
  const name = normalized(image);
  const host = name.split('/')[0];
  let best: PodmanRegistry | undefined;
  let bestLen = -1;
  for (const r of config.registries) {
    let len = -1;
    if (r.prefix.startsWith('*.')) {
      if (host.endsWith(r.prefix.slice(1))) len = r.prefix.length;
    } else if (name === r.prefix || (name.startsWith(r.prefix) && /^[/:@]/.test(name.slice(r.prefix.length)))) len = r.prefix.length;
    if (len > bestLen) {
      best = r;
      bestLen = len;
    }
  }
  return best;
}

/** A short name as containers/image tells one: its first component is no registry host (reference.ts `looksLikeRegistry`). */
export function isShortName(image: string): boolean {
  return !image.includes('/') || !looksLikeRegistry(image.split('/')[0]);
}

/**
 * A Quadlet image as podman pulls it: a short name (`Image=nginx:1.25`) through the aliases, or
 * the one unqualified-search registry; several search registries (podman tries each in turn, or
 * refuses without a terminal in `enforcing` mode), none, or no registries.conf in the scan: the
 * registry is unknown, and said so — never a guessed docker.io.
 */
export function applyPodmanShortNames(files: readonly ScannedFile[], references: Reference[], hosts = podmanHosts(files)): void {
  // policy.json's Fulcio `oidcIssuer` is an identity matched in the signing certificate, never contacted (containers-policy.json(5)).
  for (let i = references.length - 1; i >= 0; i--) {
    const r = references[i];
    if (path.posix.basename(r.file) === 'policy.json' && r.keyPath !== undefined && /\.fulcio\.oidcIssuer$/.test(r.keyPath)) references.splice(i, 1);
  }
  for (const r of references) {
    // A Compose service on a host whose registries.conf the scan holds (podman-compose, or docker
    // compose on the podman socket): podman pulls it, through that host's registries.conf.
    if (!r.podman && r.kind === 'image' && r.keyPath && COMPOSE_SERVICE_IMAGE.test(r.keyPath) && hosts.of(r.file, true))
      r.podman = { unit: `${path.posix.basename(r.file)} service ${r.keyPath.slice('services.'.length, -'.image'.length)}`, compose: true };
    if (!r.podman || !isShortName(r.value)) continue;
    const written = r.value;
    const got = podmanShortName(hosts.of(r.file), written, r.podman.compose === true);
    if ('value' in got) {
      r.value = got.value;
      r.podman = { ...r.podman, written, resolved: got.how };
    } else r.podman.unknown = got.unknown;
  }
}

/**
 * A short name (`nginx:1.25`) as podman pulls it on a host with `config` (undefined: the scan
 * holds none for that host): through the aliases, or the one unqualified-search registry; several
 * search registries (podman tries each in turn, or refuses without a terminal in `enforcing`
 * mode) or none: unknown, and why — never a guessed docker.io. `compose`: a Compose service,
 * which docker compose on the podman socket pulls through podman's Docker-compatible API (short
 * names normalized to Docker Hub: containers.conf compat_api_enforce_docker_hub, on by default)
 * and podman-compose through podman: known only where both agree.
 */
export function podmanShortName(config: PodmanConfig | undefined, written: string, compose: boolean): { value: string; how: string } | { unknown: string } {
  const at = /[@]|:(?=[^/]*$)/.exec(written)?.index ?? written.length;
  const name = written.slice(0, at);
  const suffix = written.slice(at);
  const alias = config?.aliases.get(name);
  const search = config?.search;
  const resolved = alias
    ? { value: `${alias.value}${suffix}`, how: `the short name ${name} is an alias for ${alias.value} (${alias.file})` }
    : search?.list.length === 1
      ? { value: `${search.list[0]}/${written}`, how: `the short name ${name} is pulled from the one unqualified-search registry, ${search.list[0]} (${search.file})` }
      : undefined;
  const hub = compose ? normalized(written) : undefined;
  if (resolved && (!hub || normalized(resolved.value) === hub)) return resolved;
  const fix = compose ? 'write the fully qualified name in the Compose file' : 'write the fully qualified name (or add a short-name alias for it to a registries.conf.d drop-in)';
  if (resolved)
    return { unknown: `a short name: podman-compose pulls it as podman resolves it, ${resolved.value} (${resolved.how}), but docker compose on the podman socket pulls ${hub} (podman's Docker-compatible API normalizes short names to Docker Hub): which registry it is pulled from depends on the client; ${fix}` };
  return {
    unknown: !config
      ? `a short name: podman resolves it through registries.conf (its aliases and unqualified-search-registries), and the scan holds none for this host, so which registry it is pulled from is unknown; ${fix}`
      : !search?.list.length
        ? `a short name with no alias and no unqualified-search-registries in ${config.files.join(', ')}: podman cannot resolve it and the pull fails; ${fix}`
        : `a short name with no alias: podman ${config.shortNameMode === 'enforcing' ? 'refuses it without a terminal (short-name-mode enforcing, as under systemd) or asks which of' : 'tries in turn'} ${search.list.join(', ')} (unqualified-search-registries, ${search.file}), so which registry it is pulled from is unknown; ${fix}`,
  };
}

/** Splits `host/path:tag` / `@digest` off: the repository part. */
function repositoryOf(image: string): string {
  const at = /@|:(?=[^/]*$)/.exec(image)?.index ?? image.length;
  return image.slice(0, at);
}

/** Where a pull of `image` (fully qualified) goes through `config`: the mirrors on the target it asks first, and whether it ends upstream. */
export interface PodmanRoute {
  entry?: PodmanRegistry;
  /** The mirror locations on the target this pull is asked at, with the repository it asks for (the remapped location last). */
  mirrors: Array<{ location: string; asks: string }>;
  /** The primary location is the target (a remapping `location`): nothing upstream is ever tried. */
  remapped: boolean;
}

export function podmanRoute(config: PodmanConfig, image: string, onTarget: (u: string) => boolean): PodmanRoute {
  const entry = registryFor(config, image);
  if (!entry || entry.prefix.startsWith('*.')) return { entry, mirrors: [], remapped: false };
  const rest = repositoryOf(normalized(image)).slice(entry.prefix.length);
  const byDigest = image.includes('@');
  const mirrors = entry.mirrors
    .filter((m) => (m.pullFromMirror === 'all' || (m.pullFromMirror === 'digest-only') === byDigest) && onTarget(m.location))
    .map((m) => ({ location: m.location, asks: `${m.location}${rest}` }));
  // A location on the target (a remapping entry) is the last place asked, and nothing upstream is.
  const remapped = onTarget(entry.location);
  if (remapped) mirrors.push({ location: entry.location, asks: `${entry.location}${rest}` });
  return { entry, mirrors, remapped };
}

/**
 * The registries registries.conf sends wholly to the target (a `[[registry]]` whose prefix is a
 * registry host, with a mirror on the target or remapped there): the runtime mirror configuration
 * of that host, as audit.ts keeps them (`RuntimeMirror`).
 */
export function podmanHostMirrors(config: PodmanConfig, onTarget: (u: string) => boolean): Array<{ upstream: string; file: string; mirrors: string[]; fallback: boolean }> {
  return config.registries.flatMap((r) => {
    if (r.prefix.includes('/') || r.prefix.startsWith('*.') || r.blocked) return [];
    const remapped = onTarget(r.location);
    const mirrors = [...r.mirrors.filter((m) => m.pullFromMirror === 'all' && onTarget(m.location)).map((m) => m.location), ...(remapped ? [r.location] : [])];
    return mirrors.length ? [{ upstream: r.prefix.toLowerCase(), file: r.file, mirrors, fallback: !remapped }] : [];
  });
}
