import path from 'node:path';
import { withInjectedImages } from './injected.js';
import { isIP } from 'node:net';
import { carriedOciSource } from '../kinds/image/oci-source.js';
import { inCidr } from '../net/cidr.js';
import { parse as parseToml } from 'smol-toml';
import { LineCounter } from 'yaml';
import { parseHostileDocuments, parseHostileYaml } from '../manifest/yaml-input.js';
import type { Check, Endpoint } from '../kinds/endpoint/spec.js';
import type { LoadedTarget } from '../manifest/load.js';
import type { Lock } from '../kinds/schema.js';
import { ALL_KINDS, type AnyKind } from '../kinds/index.js';
import { lockEntries } from '../kinds/schema.js';
import { mapChartHttp, mapImage, registryMappingFor } from '../mapping/index.js';
import { formatImageReference, parseImageReference, registryApiHost, withDefaultTag } from '../oci/reference.js';
import { endpointHosts, hostOfUrl, isPlaceholder, type ConnectionModel } from './model.js';
import { parseProxy } from './firewall/ruleset.js';
import type { ChartRender } from './charts.js';
import { archiveChart, carriedVersion, chartsFrom, K3S_API_PLACEHOLDER, mirrorChartSource, mirrorSourceText } from './chart-sources.js';
import type { ChartLock } from '../kinds/chart/lock.js';
import type { Reference, ScanResult, Setting, SkippedFile } from './scan.js';
import { COMPOSE_SERVICE_IMAGE, SYSTEM_DEFAULT_REGISTRY } from './scan.js';
import { trimTrailing } from '../ui/escape.js';
import { withoutStackTraces } from '../errors.js';
import { requestPathAfterHost, requestPathNote, templatesFilled, unfilledHost, unfilledHostNote } from './unknown-host.js';
import { isRegistriesConf, podmanHostMirrors, podmanHostRoot, podmanHosts, podmanRoute, type PodmanHosts } from './podman.js';

/**
 * Classify every reference a scan found, against the manifest (what is carried and declared)
 * and the mirror target (where carried things live, through the single mapping), and run the
 * mitigation checks. Classes:
 * - mirrored: the manifest carries exactly this artifact; `mirror` is where the mapping puts it
 * - internal: a target host, a zone host or address, loopback or a cluster-local name
 * - declared-mitigated: a declared endpoint whose mitigation is in place (a check met)
 * - declared-unmitigated: a declared endpoint whose mitigation is not shown to be in place
 * - declared-exception: a declared endpoint allowed as an exception (or a declared connection)
 * - undeclared: external, and nothing in the manifest says so
 */
const clip = (s: string): string => (s.length > 120 ? `${s.slice(0, 120)}…` : s);

/** `${HOST}`, `$(SVC)`, `$VAR`: a shell, Compose, Flux or Kubernetes variable. */
const VARIABLE = /\$\{[^}]*\}?|\$\([^)]*\)?|\$[A-Za-z_][A-Za-z0-9_]*/;
/**
 * The variable in a reference's host, when its host is one (`https://${HOST}/x`, `http://$(SVC):80`,
 * a host setting `$REGISTRY`): the first variable of the URL's authority, or of a bare host or oci
 * reference's first part. Undefined when the host is written out.
 */
export function hostVariable(r: Pick<Reference, 'kind' | 'value'>): string | undefined {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(r.value)?.[1] ?? (r.kind === 'host' || r.kind === 'oci' ? r.value.split('/')[0] : undefined);
  // `https://${USER}:${TOKEN}@gitlab.example.com/x`: a variable in the user information leaves the host written out.
  // An `@` inside a variable (`${A:-u@h}`) is none: the part after it closes a brace it did not open.
  const at = authority?.lastIndexOf('@') ?? -1;
  const host = authority !== undefined && at >= 0 && !/^[^{(]*[})]/.test(authority.slice(at + 1)) ? authority.slice(at + 1) : authority;
  return host === undefined ? undefined : VARIABLE.exec(host)?.[0];
}

export type FindingClass = 'mirrored' | 'internal' | 'declared-mitigated' | 'declared-unmitigated' | 'declared-exception' | 'undeclared';
export const FINDING_CLASSES: FindingClass[] = ['mirrored', 'internal', 'declared-mitigated', 'declared-unmitigated', 'declared-exception', 'undeclared'];

export interface Finding {
  file: string;
  line: number;
  keyPath: string;
  kind: Reference['kind'];
  value: string;
  host: string;
  class: FindingClass;
  /** Endpoint or connection the reference matched. */
  declaredBy?: string;
  /** Mirror location from the mapping (mirrored only, when the target covers the kind). */
  mirror?: string;
  note?: string;
  /** Found by rendering a chart with scanned values: `file` is the values file, `line` the template's line. */
  provenance?: string;
  template?: string;
  resource?: string;
}

export interface CheckResult {
  /** Endpoint (mitigation check) or connection (configuration check) the check belongs to. */
  endpoint: string;
  subject: 'endpoint' | 'connection';
  check: string;
  status: 'met' | 'unmet';
  evidence: string;
}

export interface MitigationResult {
  endpoint: string;
  title: string;
  type: Endpoint['mitigation']['type'];
  requirement: Endpoint['requirement'];
  status: 'met' | 'unmet' | 'unchecked' | 'exception';
  referenced: number;
}

export interface AuditReport {
  manifest: string;
  target?: string;
  files: number;
  findings: Finding[];
  checks: CheckResult[];
  mitigations: MitigationResult[];
  /** Manifest charts rendered with values found in the scan (audit/charts.ts), and those that could not be. */
  charts: ChartRender[];
  /** Files found but not read, and why (scan.ts SkippedFile); `unscanned` ones fail either --fail-on. */
  skipped: SkippedFile[];
  summary: Record<FindingClass, number> & { unmetMitigations: number; unmetConnectionChecks: number; unrenderedCharts: number; unscannedFiles: number };
  failOn?: 'unmapped' | 'unmitigated';
  /** The run failed its --fail-on (false when none was given: see wouldFail). */
  failed: boolean;
  /**
   * What each --fail-on would say of these findings, given or not: `failed: false` without
   * --fail-on only means that nothing was asked, never that the deployment passed.
   */
  wouldFail: { unmapped: boolean; unmitigated: boolean };
}

const LOCAL_HOST = /^(localhost|127\.\d+\.\d+\.\d+|::1|0\.0\.0\.0)$|\.(svc|cluster\.local|svc\.cluster\.local|localhost)$/i;

/**
 * A zone CIDR holds an IP literal, IPv4 or IPv6 (written without `/bits`: one address of the zone
 * entry's own family, so an IPv4-mapped IPv6 host matches a bare IPv4 entry).
 */
function ipInCidr(ip: string, cidr: string): boolean {
  if (isIP(ip) === 0) return false;
  if (cidr.includes('/')) return inCidr(ip, cidr);
  const family = isIP(cidr);
  return family !== 0 && inCidr(ip, `${cidr}/${family === 4 ? 32 : 128}`);
}

function hostOfReference(r: Reference): string {
  if (r.kustomizeRemote) return r.kustomizeRemote.host;
  if (r.inCluster && r.value.includes(K3S_API_PLACEHOLDER)) return K3S_API_PLACEHOLDER;
  // Argo CD writes an OCI chart repository without a scheme (`registry.example/charts`).
  if (r.kind === 'oci' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(r.value)) return hostOfUrl(`oci://${r.value}`) ?? r.value;
  if (r.kind === 'url' || r.kind === 'apt' || r.kind === 'oci') return hostOfUrl(requestPathAfterHost(r.value)?.base ?? r.value) ?? r.value;
  if (r.kind === 'image') {
    try {
      return parseImageReference(r.value).registry.toLowerCase().replace(/:\d+$/, '');
    } catch {
      // `nginx:{{ tag }}`: a template past the registry part (unfilledHost finds one in it) leaves the registry known.
      try {
        if (templatesFilled(r.value) !== r.value) return parseImageReference(templatesFilled(r.value)).registry.toLowerCase().replace(/:\d+$/, '');
      } catch {}
      return r.value.split('/')[0].toLowerCase();
    }
  }
  // a bare IPv6 address (`2001:db8::10`) ends in digits after a colon, and has no port there
  return isIP(r.value) === 6 ? r.value.toLowerCase() : r.value.toLowerCase().replace(/:\d+$/, '');
}

/**
 * The port a reference writes (`registry:5000/x`, `https://host:8443/`), or its URL scheme's
 * default (http 80, https 443); undefined when it writes none and has no such scheme (an image,
 * an OCI path, a bare host: the registry's default).
 */
function writtenPort(r: Reference): string | undefined {
  if (r.kustomizeRemote) return undefined;
  let authority: string;
  if (r.kind === 'image') {
    try {
      authority = parseImageReference(r.value).registry;
    } catch {
      return undefined;
    }
  } else if (r.kind === 'url' || r.kind === 'apt' || r.kind === 'oci') {
    const v = requestPathAfterHost(r.value)?.base ?? r.value;
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(v)?.[1]?.toLowerCase();
    authority = (scheme ? v.slice(scheme.length + 3) : v).split(/[/?#]/)[0].replace(/^[^@]*@/, '');
    const port = /:(\d+)$/.exec(authority)?.[1];
    if (port !== undefined) return String(Number(port));
    return scheme === 'http' ? '80' : scheme === 'https' ? '443' : undefined;
  } else {
    if (isIP(r.value) === 6) return undefined;
    authority = r.value;
  }
  const port = /:(\d+)$/.exec(authority)?.[1];
  return port === undefined ? undefined : String(Number(port));
}

function describeCheck(c: Check): string {
  if (c.description) return c.description;
  if (c.kind === 'text') return `text contains ${c.pattern}`;
  const cond = c.equals !== undefined ? ` = ${c.equals}` : c.notEquals !== undefined ? ` != ${c.notEquals}` : c.present === false ? ' absent' : ' set';
  return `${c.kind} ${c.key}${cond}`;
}

export function keyMatches(settingKey: string, key: string): boolean {
  // Umbrella charts nest a subchart's values under its name: accept a dotted suffix.
  return settingKey === key || settingKey.endsWith(`.${key}`);
}

export function runCheck(c: Check, scan: ScanResult): { status: 'met' | 'unmet'; evidence: string } {
  const inFiles = (file: string) => !c.files?.length || c.files.some((f) => file.endsWith(f));
  if (c.kind === 'text') {
    const candidates = scan.files.filter((x) => inFiles(x.file));
    if (c.files?.length && !candidates.length) return { status: c.whenMissing, evidence: `no scanned file matches ${c.files.join(', ')}` };
    for (const f of candidates) {
      if (f.text === undefined && !f.firstLines) throw new Error(`internal: ${f.file} was scanned without the text check patterns (scanPaths textPatterns)`);
      const line = f.text !== undefined ? f.text.split('\n').findIndex((l) => l.includes(c.pattern!)) + 1 : (f.firstLines?.get(c.pattern!) ?? 0);
      if (line > 0) return { status: 'met', evidence: `${f.file}:${line}` };
    }
    return { status: 'unmet', evidence: `"${c.pattern}" not found in the scanned files` };
  }
  const source: Setting['source'] = c.kind === 'env' ? 'env' : 'structured';
  const hits = scan.settings.filter((s) => s.source === source && inFiles(s.file) && (c.kind === 'env' ? s.key === c.key : keyMatches(s.key, c.key!)));
  if (!hits.length) return { status: c.whenMissing, evidence: `${c.key} not set in the scanned files${c.whenMissing === 'met' ? ' (the default is safe)' : ''}` };
  const where = (s: Setting) => `${s.file}:${s.line} ${s.key}=${s.value.length > 40 ? s.value.slice(0, 37) + '…' : s.value}`;
  const secretSafe = (s: Setting) => `${s.file}:${s.line} ${s.key} is set`;
  if (c.equals !== undefined || c.notEquals !== undefined || c.present === false) {
    const bad = hits.find((s) =>
      c.equals !== undefined ? s.value !== String(c.equals) : c.notEquals !== undefined ? s.value === String(c.notEquals) : s.value !== '',
    );
    return bad ? { status: 'unmet', evidence: where(bad) } : { status: 'met', evidence: hits.map(where).join('; ') };
  }
  // present: any non-empty value. Never print it: it may be a license or a secret.
  const good = hits.find((s) => s.value.trim() !== '' && s.value !== 'null' && s.value !== '~');
  return good ? { status: 'met', evidence: secretSafe(good) } : { status: 'unmet', evidence: `${hits[0].file}:${hits[0].line} ${hits[0].key} is empty` };
}

/**
 * A runtime's registry mirror configuration found in the scan, for one upstream registry host:
 * a containerd `certs.d/<upstream>/hosts.toml` whose `[host."…"]` entries are on the mirror
 * target, or a k3s/RKE2 `registries.yaml` `mirrors.<upstream>` whose endpoints are. Such a file
 * is what sends pulls to the mirror, not a way out; but both runtimes still try the upstream
 * itself last (containerd's `server`, k3s's default endpoint) unless told not to, and that is said.
 */
export interface RuntimeMirror {
  upstream: string;
  file: string;
  format: 'containerd' | 'k3s' | 'openshift' | 'podman';
  /** openshift: the object (`ImageDigestMirrorSet/name`), which serves pulls by digest or by tag only. */
  object?: string;
  /** The mirror URLs (on the target) pulls go to. */
  mirrors: string[];
  /** The runtime falls back to the upstream when the mirror fails or lacks the image. */
  fallback: boolean;
  /** k3s: the entry's `rewrite` rules (pattern → replacement) and every endpoint it lists. */
  rewrites?: Array<[string, string]>;
  endpoints?: string[];
}

/** scheme, host and port of a runtime's mirror entry (no scheme: https, as containerd and k3s read it). */
function originOf(u: string): { scheme?: string; host: string; port: string } | undefined {
  const explicit = /^([a-z][a-z0-9+.-]*):\/\//i.exec(u)?.[1]?.toLowerCase();
  let url: URL;
  try {
    url = new URL(explicit ? u : `https://${u}`);
  } catch {
    return undefined;
  }
  if (url.username || url.password) return undefined;
  const scheme = explicit ?? 'https';
  return { scheme: explicit, host: url.hostname.toLowerCase().replace(/^\[|\]$/g, ''), port: url.port || (scheme === 'http' ? '80' : '443') };
}

/**
 * The upstream hosts a containerd hosts.toml sends to `onTarget` hosts: `server` (top level
 * only) and the `[host."…"]` tables that may pull and resolve (containerd's default; a host
 * whose `capabilities` lack either is not where tags are resolved or images fetched).
 */
function containerdHosts(text: string): { server?: string; hosts: string[] } | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const server = typeof doc.server === 'string' ? doc.server : undefined;
  const table = doc.host && typeof doc.host === 'object' ? (doc.host as Record<string, unknown>) : {};
  const hosts = Object.entries(table).flatMap(([h, v]) => {
    const caps = (v as { capabilities?: unknown } | null)?.capabilities;
    const list = caps === undefined ? ['pull', 'resolve'] : Array.isArray(caps) ? caps : [];
    return list.includes('pull') && list.includes('resolve') ? [h] : [];
  });
  return { server, hosts };
}

/**
 * `registry`: the target registry's URL; a mirror entry must be on its host and port (and its
 * scheme when the entry names one), not only on one of `targetHosts`' names (another port of
 * that host is another service).
 */
/** k3s/RKE2's setting that turns the upstream endpoint off (a setting the scan keeps whatever the checks). */
export const NO_DEFAULT_ENDPOINT_KEY = /(^|\.)disable-default-registry-endpoint$/;

/** Whether a runtime's mirror entry (`host[:port][/path]` or a URL) is the target registry. */
function onTargetOf(targetHosts: ReadonlySet<string>, registry?: string): (u: string) => boolean {
  const want = registry ? originOf(registry) : undefined;
  return (u: string) => {
    const o = originOf(u);
    if (!o || !targetHosts.has(o.host)) return false;
    return !want || (o.host === want.host && o.port === want.port && (!o.scheme || !want.scheme || o.scheme === want.scheme));
  };
}

export function runtimeMirrors(scan: ScanResult, targetHosts: ReadonlySet<string>, registry?: string, podman: PodmanHosts = podmanHosts(scan.files)): Map<string, RuntimeMirror> {
  const out = new Map<string, RuntimeMirror>();
  const onTarget = onTargetOf(targetHosts, registry);
  // k3s/RKE2 started with --disable-default-registry-endpoint (config.yaml) never try the upstream.
  const noDefaultEndpoint = scan.settings.some((s) => NO_DEFAULT_ENDPOINT_KEY.test(s.key) && s.value === 'true');
  for (const f of scan.files) {
    const parts = f.file.split('/');
    if (parts.at(-1) === 'hosts.toml' && parts.length >= 2) {
      const upstream = parts.at(-2)!.toLowerCase();
      const parsed = f.text === undefined ? undefined : containerdHosts(f.text);
      if (!parsed) continue;
      const { server, hosts } = parsed;
      // containerd tries the hosts in order, then `server` (default: the namespace itself); a
      // `server` on the mirror (with or without hosts) leaves nothing upstream to fall back to.
      const serverOnMirror = server !== undefined && onTarget(server);
      const mirrors = [...hosts.filter(onTarget), ...(serverOnMirror && !hosts.includes(server!) ? [server!] : [])];
      if (!mirrors.length) continue;
      const fallback = !serverOnMirror;
      out.set(`${f.file}\0${upstream}`, { upstream, file: f.file, format: 'containerd', mirrors, fallback });
      if (!out.has(upstream)) out.set(upstream, out.get(`${f.file}\0${upstream}`)!);
      // Docker Hub's `server` is its API host (certs.d/docker.io: registry-1.docker.io): the same upstream.
      const api = registryApiHost(upstream);
      if (api !== upstream) out.set(`${f.file}\0${api}`, out.get(`${f.file}\0${upstream}`)!);
    } else if (parts.at(-1) === 'registries.yaml' && f.type === 'yaml' && f.text !== undefined) {
      let doc: unknown;
      try {
        doc = parseHostileYaml(f.text, { duplicates: 'refuse' });
      } catch {
        continue;
      }
      const mirrors = (doc as { mirrors?: unknown })?.mirrors;
      if (!mirrors || typeof mirrors !== 'object') continue;
      for (const [up, entry] of Object.entries(mirrors as Record<string, unknown>)) {
        const endpoints = (entry as { endpoint?: unknown })?.endpoint;
        const list = Array.isArray(endpoints) ? endpoints.filter((e): e is string => typeof e === 'string') : [];
        const onMirror = list.filter(onTarget);
        if (!onMirror.length) continue;
        const upstream = up.toLowerCase();
        // An endpoint listed that is not the mirror is tried too; the default endpoint unless disabled.
        const fallback = list.length > onMirror.length || !noDefaultEndpoint;
        const rw = (entry as { rewrite?: unknown })?.rewrite;
        const rewrites = rw && typeof rw === 'object' ? Object.entries(rw as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string') : [];
        const m: RuntimeMirror = { upstream, file: f.file, format: 'k3s', mirrors: onMirror, fallback, rewrites, endpoints: list };
        out.set(`${f.file}\0${upstream}`, m);
        if (!out.has(upstream)) out.set(upstream, m);
      }
    }
  }
  for (const [key, m] of openshiftMirrors(scan, onTarget)) out.set(key, m);
  // podman/CRI-O registries.conf: a `[[registry]]` for a whole registry with a mirror on the target (podman.ts).
  // Each host's own (keyed by its root, podman.ts podmanHostRoot): one host's mirror is not another's.
  // Under the bare registry name (what CRI-O, reading the same registries.conf, does for a cluster's
  // workloads, or dockerd's Compose check) only when the scan holds one host's: with several, which
  // node runs a workload is unknown, and one host's mirror does not vouch for another's pulls.
  for (const [root, config] of podman.configs)
    for (const m of podmanHostMirrors(config, onTarget)) {
      const rm: RuntimeMirror = { ...m, format: 'podman' };
      out.set(`podman\0${root}\0${m.upstream}`, rm);
      if (podman.configs.size === 1 && !out.has(m.upstream)) out.set(m.upstream, rm);
    }
  return out;
}

/** Every YAML document of the scanned YAML files whose text matches `mention`, with its file's line counter. */
function* yamlDocuments(scan: ScanResult, mention: RegExp): Generator<{ f: ScanResult['files'][number]; lc: LineCounter; d: ReturnType<typeof parseHostileDocuments>[number] }> {
  for (const f of scan.files) {
    if (f.type !== 'yaml' || f.text === undefined || !mention.test(f.text)) continue;
    const lc = new LineCounter();
    let docs;
    try {
      docs = withoutStackTraces(() => parseHostileDocuments(f.text!, { lineCounter: lc, duplicates: 'refuse' }));
    } catch {
      continue;
    }
    for (const d of Array.isArray(docs) ? docs : [docs]) yield { f, lc, d };
  }
}

/** The OpenShift objects that send CRI-O's pulls to mirrors, and the list each keeps them in. */
const OPENSHIFT_MIRROR_LISTS: Record<string, { list: string; pulls: string }> = {
  ImageDigestMirrorSet: { list: 'imageDigestMirrors', pulls: 'by digest' },
  ImageTagMirrorSet: { list: 'imageTagMirrors', pulls: 'by tag' },
  ImageContentSourcePolicy: { list: 'repositoryDigestMirrors', pulls: 'by digest' },
};

/**
 * OpenShift's ImageDigestMirrorSet / ImageTagMirrorSet (and the older ImageContentSourcePolicy),
 * what `ferry mirror-config idms|itms` writes: each entry whose mirrors are on the target is the
 * mirror configuration of its `source` (a registry, or a repository under it). Keyed
 * `<file>\0@<line of source>`, the line the scan reports the source's host at.
 */
function openshiftMirrors(scan: ScanResult, onTarget: (u: string) => boolean): Map<string, RuntimeMirror> {
  const out = new Map<string, RuntimeMirror>();
  for (const { f, lc, d } of yamlDocuments(scan, /ImageDigestMirrorSet|ImageTagMirrorSet|ImageContentSourcePolicy/)) {
    const kind = d.get('kind');
    const spec = typeof kind === 'string' ? OPENSHIFT_MIRROR_LISTS[kind] : undefined;
    const entries = spec ? d.getIn(['spec', spec.list]) : undefined;
    if (!spec || !entries || typeof entries !== 'object' || !('items' in entries)) continue;
    for (const item of (entries as { items: unknown[] }).items) {
      const e = item as { get?: (k: string, keep?: boolean) => unknown };
      const sourceNode = e.get?.('source', true) as { value?: unknown; range?: [number, number, number] } | undefined;
      const mirrors = (e.get?.('mirrors') as { items?: Array<{ value?: unknown }> } | undefined)?.items?.map((m) => m.value).filter((v): v is string => typeof v === 'string') ?? [];
      const onMirror = mirrors.filter(onTarget);
      if (typeof sourceNode?.value !== 'string' || !sourceNode.range || !onMirror.length) continue;
      const never = e.get?.('mirrorSourcePolicy') === 'NeverContactSource';
      const name = d.getIn(['metadata', 'name']);
      out.set(`${f.file}\0@${lc.linePos(sourceNode.range[0]).line}`, {
        upstream: sourceNode.value,
        file: f.file,
        format: 'openshift',
        object: `${kind}/${typeof name === 'string' ? name : '?'} (serves pulls ${spec.pulls} only)`,
        mirrors: onMirror,
        // A mirror listed that is not on the target is tried too; the source unless NeverContactSource.
        fallback: !never || mirrors.length > onMirror.length,
      });
    }
  }
  return out;
}

/** `<file>\0@<line>` of each OLM CatalogSource's `spec.image` in the scan. */
function catalogSourceImages(scan: ScanResult): Set<string> {
  const out = new Set<string>();
  for (const { f, lc, d } of yamlDocuments(scan, /CatalogSource/)) {
    if (d.get('kind') !== 'CatalogSource') continue;
    const node = d.getIn(['spec', 'image'], true) as { value?: unknown; range?: [number, number, number] } | undefined;
    if (typeof node?.value === 'string' && node.range) out.add(`${f.file}\0@${lc.linePos(node.range[0]).line}`);
  }
  return out;
}

/** OpenShift's default OperatorHub catalogs (namespace openshift-marketplace) and the index each pulls. */
const OLM_DEFAULT_CATALOGS: Record<string, string> = {
  'redhat-operators': 'registry.redhat.io/redhat/redhat-operator-index',
  'certified-operators': 'registry.redhat.io/redhat/certified-operator-index',
  'community-operators': 'registry.redhat.io/redhat/community-operator-index',
  'redhat-marketplace': 'registry.redhat.io/redhat/redhat-marketplace-index',
};

/**
 * OLM Subscriptions to one of OpenShift's default catalogs that no CatalogSource in the scan
 * stands in for: the cluster installs the operator from registry.redhat.io (the index, the
 * bundle, the operator's images), and no line of the scan names that host. One finding each, at
 * the Subscription's `spec.source`, with what to do about it.
 */
function olmDefaultCatalogSubscriptions(scan: ScanResult): Array<{ ref: Reference; note: string }> {
  const catalogs = new Set<string>();
  for (const { d } of yamlDocuments(scan, /CatalogSource/)) {
    const name = d.get('kind') === 'CatalogSource' ? d.getIn(['metadata', 'name']) : undefined;
    if (typeof name === 'string') catalogs.add(name);
  }
  const out: Array<{ ref: Reference; note: string }> = [];
  for (const { f, lc, d } of yamlDocuments(scan, /Subscription/)) {
    const av = d.get('apiVersion');
    if (d.get('kind') !== 'Subscription' || typeof av !== 'string' || !av.startsWith('operators.coreos.com/')) continue;
    const node = d.getIn(['spec', 'source'], true) as { value?: unknown; range?: [number, number, number] } | undefined;
    const source = node?.value;
    const ns = d.getIn(['spec', 'sourceNamespace']);
    if (typeof source !== 'string' || !node?.range || !Object.hasOwn(OLM_DEFAULT_CATALOGS, source) || catalogs.has(source)) continue;
    if (ns !== undefined && ns !== 'openshift-marketplace') continue;
    const name = d.getIn(['metadata', 'name']);
    const pkg = d.getIn(['spec', 'name']);
    const index = OLM_DEFAULT_CATALOGS[source];
    out.push({
      ref: { file: f.file, line: lc.linePos(node.range[0]).line, keyPath: 'spec.source', kind: 'host', value: 'registry.redhat.io' },
      note:
        `OLM Subscription ${typeof name === 'string' ? name : '?'} installs ${typeof pkg === 'string' ? JSON.stringify(pkg) : 'an operator'} from the default catalog ${source}: ` +
        `the cluster pulls its index (${index}), the operator's bundle and its images from registry.redhat.io. ` +
        'On a disconnected cluster turn the default sources off (`oc patch OperatorHub cluster --type merge -p \'{"spec":{"disableAllDefaultSources":true}}\'`) ' +
        "and subscribe from a CatalogSource whose index is on the mirror; ferry carries the operator's images you list, not operator catalogs",
    });
  }
  return out;
}

/**
 * What OLM does with a CatalogSource's index image, which ferry carries (if listed) as any image
 * and never looks inside: said on the finding, whatever its class, so an oc-mirror user does not
 * take "mirrored" for "the operators it lists are mirrored".
 */
function catalogSourceNote(ref: string): string {
  const byTag = !ref.includes('@');
  return (
    `an OLM CatalogSource index image: the cluster pulls it${byTag ? ' by tag (only an ImageTagMirrorSet, `ferry mirror-config itms`, or a rewritten spec.image sends that pull to the mirror)' : ''}, ` +
    'then every operator a Subscription installs from it is pulled by digest from the registries the catalog names (its bundle image and the CSV relatedImages); ' +
    "ferry does not read, filter or rebuild operator catalogs (oc-mirror's `operators:` packages and channels): list each operator's bundle and relatedImages in the manifest and apply `ferry mirror-config idms`; " +
    'the index still lists every operator, and one not carried fails to install at the site'
  );
}

function runtimeMirrorNote(m: RuntimeMirror): string {
  const runtime = m.format === 'containerd' ? 'containerd' : m.format === 'k3s' ? 'k3s/RKE2' : m.format === 'podman' ? 'podman/CRI-O registries.conf' : `CRI-O ${m.object}`;
  const base = `${runtime} mirror config for ${m.upstream} (${m.file}): pulls go to ${m.mirrors.join(', ')}`;
  if (!m.fallback) return `${base}; no fallback to ${m.upstream}`;
  const how =
    m.format === 'containerd'
      ? 'its server is the upstream; server set to the mirror forbids it'
      : m.format === 'openshift'
        ? m.object?.startsWith('ImageContentSourcePolicy/')
          ? 'an ImageContentSourcePolicy cannot forbid it: `ferry mirror-config idms --never-contact-source` writes the ImageDigestMirrorSet that replaces it'
          : 'mirrorSourcePolicy: NeverContactSource forbids it'
        : m.format === 'podman'
          ? "the [[registry]]'s location is the upstream; location set to the mirror (`ferry mirror-config registries-conf --never-contact-source`) forbids it"
          : 'start k3s/RKE2 with --disable-default-registry-endpoint to forbid it';
  return `${base}; an image the mirror lacks (or a failing mirror) is tried at ${m.upstream} itself (${how})`;
}

/** k3s/RKE2's config.yaml key naming the registry every system image is pulled from. */

/**
 * The repository a k3s/RKE2 node asks a registries.yaml mirror entry for when it pulls `name` from
 * `host` (k3s pkg/agent/containerd/config.go): the entry's `rewrite` applies at each endpoint that is
 * not `host`'s default endpoint (`https://<host>/v2`, with or without `/v2`, which is pulled without
 * rewrites); undefined when no endpoint rewrites it. A pattern with a repeated group (a backtracking
 * risk in a scanned file) is not run.
 */
export function k3sRewrite(entry: Pick<RuntimeMirror, 'rewrites' | 'endpoints'>, host: string, name: string): string | undefined {
  const normal = (u: string) => {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(u) ? u : `https://${u}`;
    try {
      const url = new URL(withScheme);
      const p = url.pathname === '' || url.pathname === '/' ? '/v2' : url.pathname;
      return `${url.protocol}//${url.host}${p}`;
    } catch {
      return undefined;
    }
  };
  const fallback = normal(host);
  if (!(entry.endpoints ?? []).some((e) => normal(e) !== undefined && normal(e) !== fallback)) return undefined;
  for (const [pattern, replacement] of entry.rewrites ?? []) {
    // A scanned file's pattern runs here: one whose backtracking could grow without bound (a
    // quantified group, a backreference, more than two repetitions) is not run.
    if (pattern.length > 256 || /\)[*+?{]|\\[1-9k]/.test(pattern) || (pattern.match(/[*+{]/g) ?? []).length > 2) continue;
    let re: RegExp;
    try {
      re = new RegExp(pattern);
    } catch {
      continue;
    }
    if (re.test(name)) return name.replace(re, replacement.replace(/\$\{(\d+)\}/g, '$$$1'));
  }
  return name;
}

/** kubeadm's ClusterConfiguration keys that name the registry its images are pulled from. */
/** The files Compose reads by default: compose.yaml / docker-compose.yml and their override files (compose.override.yaml). */
const COMPOSE_FILE = /^(?:docker-)?compose(?:\.[\w-]+)?\.ya?ml$/;
const KUBEADM_IMAGE_REPOSITORY = /^(imageRepository|etcd\.local\.imageRepository|dns\.imageRepository)$/;

export function auditReferences(model: ConnectionModel, target: LoadedTarget | undefined, scan: ScanResult, opts: { manifestFile: string; targetFile?: string; failOn?: 'unmapped' | 'unmitigated'; lock?: Lock; charts?: ChartRender[]; kinds?: readonly AnyKind[] }): AuditReport {
  scan = { ...scan, references: withInjectedImages(scan.references, opts.lock) };
  const t = target?.target;
  const mapping = registryMappingFor(t);
  const targetHosts = new Set<string>();
  // Each service of the target: its host and port (the scheme's default when none is written).
  const targetServices: Array<{ host: string; port: string; defaultPort: boolean }> = [];
  for (const u of [t?.registry?.url, t?.charts?.baseUrl, t?.files?.baseUrl, t?.apt?.baseUrl]) {
    const h = u ? hostOfUrl(u) : undefined;
    if (h) targetHosts.add(h);
    const o = u ? originOf(u) : undefined;
    if (o) targetServices.push({ host: o.host, port: o.port, defaultPort: o.port === (o.scheme === 'http' ? '80' : '443') });
  }
  /**
   * A reference names the target: its host, and its port where either side has one (another port
   * of the target's host is another service: an upstream registry beside the mirror). A reference
   * with no port names the scheme's default one (a registry's 443); a bare host names the host
   * alone. Zones and firewall rules stay by host.
   */
  const onTarget = (r: Reference, host: string): boolean => {
    if (!targetHosts.has(host)) return false;
    const port = writtenPort(r);
    return targetServices.some((x) => x.host === host && (port === undefined ? x.defaultPort || r.kind === 'host' || !!r.kustomizeRemote : port === x.port));
  };
  const hosts = podmanHosts(scan.files);
  const runtime = runtimeMirrors(scan, targetHosts, t?.registry?.url, hosts);
  const zoneHosts = new Set(model.zones.flatMap((z) => (z.hosts ?? []).map((h) => h.toLowerCase())));
  // The proxy a `proxied` endpoint goes through is the site's own, declared by the manifest:
  // the proxy setting that names it is what makes the mitigation met, not a way out.
  const proxyHosts = new Map<string, string>();
  for (const e of model.endpoints) {
    const p = e.mitigation.type === 'proxied' ? parseProxy(e.mitigation.proxy) : undefined;
    if (p && !proxyHosts.has(p.host.toLowerCase())) proxyHosts.set(p.host.toLowerCase(), e.name);
  }
  const zoneCidrs = model.zones.flatMap((z) => (z.cidrs ?? []).filter((c) => !isPlaceholder(c) && !c.endsWith('/0')));
  // Each kind says whether it carries a reference (and where the mapping puts it), in KINDS order.
  const carriedBy = (opts.kinds ?? ALL_KINDS).flatMap((k) => {
    const build = k.presentation?.auditCarried;
    return build ? [build({ specs: model.entries[k.field] ?? [], locked: opts.lock ? lockEntries(opts.lock, k.field) : [], registry: mapping, target: t })] : [];
  });
  const carriedHosts = new Set(model.mirrored.flatMap((m) => [m.host, ...m.serviceHosts]));

  // Mitigation status per endpoint: checks (any met), or carried artifacts for mirrored.
  const checks: CheckResult[] = [];
  const status = new Map<string, MitigationResult['status']>();
  for (const e of model.endpoints) {
    if (e.mitigation.type === 'exception') {
      status.set(e.name, 'exception');
      continue;
    }
    const results = (e.checks ?? []).map((c) => ({ c, r: runCheck(c, scan) }));
    for (const { c, r } of results) checks.push({ endpoint: e.name, subject: 'endpoint', check: describeCheck(c), status: r.status, evidence: r.evidence });
    if (e.mitigation.type === 'mirrored') {
      const hosts = endpointHosts(e).filter((h) => !isPlaceholder(h));
      const carried = hosts.filter((h) => carriedHosts.has(h));
      const met = hosts.length > 0 && carried.length === hosts.length;
      checks.push({
        endpoint: e.name,
        subject: 'endpoint',
        check: 'the manifest carries artifacts from every host',
        status: met ? 'met' : 'unmet',
        evidence: met ? `carried: ${carried.join(', ')}` : `not carried: ${hosts.filter((h) => !carriedHosts.has(h)).join(', ') || endpointHosts(e).join(', ')}`,
      });
      status.set(e.name, met && results.every(({ r }) => r.status === 'met') ? 'met' : 'unmet');
    } else if (results.length) status.set(e.name, results.some(({ r }) => r.status === 'met') ? 'met' : 'unmet');
    else status.set(e.name, e.mitigation.type === 'none' ? 'unmet' : 'unchecked');
  }

  for (const c of model.connections) {
    for (const check of c.checks ?? []) {
      const r = runCheck(check, scan);
      checks.push({ endpoint: c.name, subject: 'connection', check: describeCheck(check), status: r.status, evidence: r.evidence });
    }
  }

  const endpointByHost = new Map<string, Endpoint>();
  for (const e of model.endpoints) for (const h of endpointHosts(e)) if (!endpointByHost.has(h)) endpointByHost.set(h, e);
  const connectionByHost = new Map<string, string>();
  for (const c of model.connections) for (const h of c.hosts ?? []) connectionByHost.set(h.toLowerCase(), c.name);
  const referenced = new Map<string, number>();

  const classify = (r: Reference): Omit<Finding, 'file' | 'line' | 'keyPath' | 'kind' | 'value'> => {
    const host = hostOfReference(r);
    if (r.inCluster) return { host, class: 'internal', note: r.inCluster };
    if (r.implied?.unknown) return { host: 'unknown', class: 'undeclared', note: r.implied.note };
    // A Quadlet short name podman resolves to a registry the scan does not tell (audit/podman.ts): never a guessed docker.io.
    if (r.podman?.unknown) return { host: 'unknown', class: 'undeclared', note: r.podman.unknown };
    // `https://{{ .Values.apiHost }}/api`: the host is a template action, filled in when the chart is rendered.
    const action = (r.kind === 'url' || r.kind === 'oci') && /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*?(\{\{.*?\}\})/i.exec(r.value);
    if (action)
      return { host: 'unknown', class: 'undeclared', note: `its host is a template action, ${clip(action[1])}, filled in when the template is rendered: which destination it names is unknown here; audit the chart rendered with the site's values (a chart vendored or carried in the lock is rendered by audit), or declare the destination it takes` };
    // `https://upstream.example.com$request_uri`: a web server's request path after a written host leaves the host known.
    if (r.kind === 'url' && requestPathAfterHost(r.value)) return classifyHost(r, host);
    // `https://${HOST}/x`, `http://$(SVC):80`, a bare `$VAR`: the host is a variable the scan could not fill in.
    const variable = hostVariable(r);
    if (variable)
      return { host: 'unknown', class: 'undeclared', note: `its host is a variable, ${clip(variable)}, filled in where the file is used (a shell, Compose or Flux substitution, a container's $(VAR) from its env, a web server's variable) and set nowhere the scan read: which destination it names is unknown here; scan the file that sets it with this one, or declare the destination it takes` };
    // Any other kind (an Ansible git remote, an image, an APT source, a bare host) whose host part is still `{{ … }}`, `${…}`, `$(…)` or `$VAR`.
    const unfilled = unfilledHost(r);
    if (unfilled) return { host: 'unknown', class: 'undeclared', note: unfilledHostNote(unfilled) };
    return classifyHost(r, host);
  };

  /** A reference whose host is known: mirrored, internal or declared by what the manifest and target say of it. */
  const classifyHost = (r: Reference, host: string): Omit<Finding, 'file' | 'line' | 'keyPath' | 'kind' | 'value'> => {
    // A chart source a GitOps controller fetches itself: carried is not enough, nothing redirects it.
    const upstreamSource = r.chartSource && !onTarget(r, host) ? chartSourceNote(r.chartSource) : undefined;
    if (upstreamSource) return { host, ...declared(host, upstreamSource) };
    // Flux image automation: image-reflector-controller lists the tags at the registry itself (no runtime mirror redirects it).
    if (r.polledBy && !onTarget(r, host))
      return { host, ...declared(host, `Flux image-reflector-controller (${r.polledBy}) polls ${host} for this repository's tags itself, whether or not the image is carried (no registry mirror redirects it): point spec.image at the mirror (\`ferry rewrite manifests\`) or leave image automation off on the air-gapped side`) };
    // A kustomization's remote base: kustomize fetches it at build time, and ferry carries no git trees.
    if (r.kustomizeRemote && !onTarget(r, host))
      return { host, ...declared(host, `kustomize fetches this remote ${r.keyPath?.replace(/\[\d+\]$/, '') ?? 'resource'} entry from ${host} at build time; ferry carries no git trees or remote bases: vendor it into the repository (copy the base in and list it by its local path)`) };
    // 1. mirrored: exactly what the manifest carries, located through the mapping. Never a chart
    // source off the target: its controller fetches that URL itself (one below a carried
    // repository, `…/stable/sub`, is no carried repository, and nothing redirects it).
    for (const carried of r.chartSource && !onTarget(r, host) ? [] : carriedBy) {
      const m = carried(r);
      if (!m) continue;
      // An operator's default image whose tag only its release knows (the resource names none).
      if ('partial' in m && (r.operator || r.tagFrom)) {
        const d = releaseTagged(r, host);
        if (d) return { host, ...d };
      }
      // Part of it is carried (the repository, not this tag): the reference still goes out.
      if ('partial' in m) return { host, ...declared(host, m.partial) };
      // Carried, but fetched as written (a download URL, an APT source, a chart repository): still goes out until rewritten.
      if (m.asWritten) return { host, ...(m.mirror ? { mirror: m.mirror } : {}), ...declared(host, `carried${m.mirror ? ` (the mirror serves it at ${m.mirror})` : ''}, but ${m.asWritten.why}; point it at the mirror (${m.asWritten.rewrite})`) };
      const docker = dockerPullsUpstream(r, host, m.mirror);
      if (docker) return { host, ...declared(host, docker) };
      const pulled = podmanPull(r, host, m.mirror);
      if (pulled) return { host, ...pulled };
      return { host, class: 'mirrored', ...m };
    }
    // A runtime's mirror configuration for this host: the file that sends its pulls to the mirror
    // (its `server`, the upstream it names), or kubeadm's imageRepository when the scan holds one.
    if (!onTarget(r, host)) {
      const own = r.kind === 'url' && r.keyPath === 'server' ? runtime.get(`${r.file}\0${host}`) : undefined;
      const kubeadm = r.kind === 'host' && r.keyPath && KUBEADM_IMAGE_REPOSITORY.test(r.keyPath) ? runtime.get(host) : undefined;
      const openshift = r.kind === 'host' && r.keyPath && /\.source$/.test(r.keyPath) && !r.provenance ? runtime.get(`${r.file}\0@${r.line}`) : undefined;
      // A registries.yaml `mirrors.<registry>` key: that entry is the registry's mirror config.
      const k3s = r.kind === 'host' && r.keyPath === `mirrors.${r.value}` ? runtime.get(`${r.file}\0${r.value}`) : undefined;
      // A host a podman registries.conf names (a prefix, a search registry, an alias) that one of them mirrors wholly.
      const pod = isRegistriesConf(r.file) ? runtime.get(`podman\0${podmanHostRoot(r.file)}\0${host}`) : undefined;
      const m = own ?? kubeadm ?? openshift ?? k3s ?? pod;
      if (m) return { host, class: 'mirrored', mirror: m.mirrors[0], note: kubeadm ? `kubeadm pulls its images from ${host}; ${runtimeMirrorNote(m)}` : runtimeMirrorNote(m) };
    }
    // 2. internal
    if (onTarget(r, host)) {
      const missing = r.chartSource
        ? chartNotOnMirror(r.chartSource)
        : r.kind === 'host' && r.keyPath && SYSTEM_DEFAULT_REGISTRY.test(r.keyPath)
          ? systemImagesNote(r.value)
          : r.kind === 'image'
            ? imageNotOnMirror(r.value)
            : undefined;
      return { host, class: 'internal', note: missing ? `mirror target; ${missing}` : 'mirror target' };
    }
    if (zoneHosts.has(host)) return { host, class: 'internal', note: 'zone host' };
    if (proxyHosts.has(host)) return { host, class: 'internal', note: `proxy of endpoint ${proxyHosts.get(host)} (mitigation proxied)` };
    if (LOCAL_HOST.test(host)) return { host, class: 'internal', note: 'loopback or cluster-local' };
    if (isIP(host) && zoneCidrs.some((c) => ipInCidr(host, c))) return { host, class: 'internal', note: 'inside a zone CIDR' };
    return { host, ...declared(host) };
  };

  /**
   * k3s/RKE2 `system-default-registry: <mirror host>` (config.yaml): the nodes then pull every
   * system image as `<host>/rancher/<name>` (the pause image, CoreDNS, the packaged charts'
   * images). The mirror holds docker.io/rancher/<name> where the mapping puts it; unless that is
   * `<host>/rancher/<name>` (flat layout, no prefix), only a registries.yaml `mirrors."<host>"`
   * rewrite sends the pulls there (and an endpoint equal to `<host>`'s default endpoint gets no
   * rewrite). Not egress either way: said when it does not hold, since the node's system pods then
   * fail at the site.
   */
  function systemImagesNote(value: string): string | undefined {
    const sdr = value.toLowerCase();
    const names = [...(opts.lock?.images ?? []), ...((model.entries.images ?? []) as Array<{ ref: string }>)].flatMap((i) => {
      try {
        const p = parseImageReference(i.ref);
        return p.registry === 'docker.io' && p.repository.startsWith('rancher/') ? [p.repository] : [];
      } catch {
        return [];
      }
    });
    const sample = [...new Set(names.length ? names : ['rancher/mirrored-pause'])].sort();
    const wanted = (n: string) => mapImage(`docker.io/${n}`, mapping).repository;
    const pulls = `k3s/RKE2 pull their system images as ${sdr}/rancher/<name>`;
    if (!mapping.host || sdr !== mapping.host.toLowerCase()) return undefined;
    if (sample.every((n) => wanted(n) === n)) return `${pulls}, where the mirror holds them`;
    const entry = runtime.get(sdr);
    const rewritten = (n: string) => (entry?.format === 'k3s' ? k3sRewrite(entry, sdr, n) : undefined);
    const wrong = sample.filter((n) => rewritten(n) !== wanted(n));
    if (!wrong.length) return `${pulls}, which ${entry!.file} rewrites to where the mirror holds them (${sdr}/${wanted(sample[0])})`;
    const why = !entry
      ? ' and no scanned registries.yaml rewrites them there'
      : entry.format !== 'k3s'
        ? ` and ${entry.file} (no registries.yaml) does not rewrite them there`
        : rewritten(wrong[0]) === undefined
          ? `, and ${entry.file}'s mirrors."${sdr}" lists only ${sdr}'s default endpoint (https://${sdr}/v2), which k3s/RKE2 pull without rewrites (write it https://${sdr}/v2/, as \`ferry mirror-config k3s\` does)`
          : `, and ${entry.file}'s mirrors."${sdr}" rewrites ${wrong[0]} to ${sdr}/${rewritten(wrong[0])}`;
    return (
      `${pulls}, but the mirror holds them at ${sdr}/${wanted(wrong[0])}${why}: ` +
      'the system pods fail to pull at the site; install the registries.yaml `ferry mirror-config k3s` (or rke2) writes beside this config.yaml (its mirrors entry for the mirror host rewrites ^rancher/ to where import put them), or drop system-default-registry'
    );
  }

  /**
   * An operator's default image written without a tag (the operator's release pins it: the
   * helm-controller's rancher/klipper-helm, a Prometheus without spec.version), whose repository the
   * lock carries at some tags: which tag is pulled is not in the scanned files. The pull goes to the
   * mirror when a scanned runtime mirror config sends its registry there (mirrored, the note saying
   * the tag must be one of those carried); without one it goes upstream as written.
   */
  function releaseTagged(r: Reference, host: string): Pick<Finding, 'class' | 'declaredBy' | 'note' | 'mirror'> | undefined {
    let p;
    try {
      p = parseImageReference(r.value);
    } catch {
      return undefined;
    }
    if (p.tag || p.digest) return undefined;
    const images = [...(opts.lock?.images ?? []), ...((model.entries.images ?? []) as Array<{ ref: string }>)];
    const tags = [
      ...new Set(
        images.flatMap((i) => {
          try {
            const q = parseImageReference(i.ref);
            return q.registry === p.registry && q.repository === p.repository && q.tag ? [q.tag] : [];
          } catch {
            return [];
          }
        }),
      ),
    ].sort();
    if (!tags.length) return undefined;
    const carried = `the lock carries ${p.registry}/${p.repository} at ${tags.join(', ')}, and which tag is pulled is not written in the scanned files`;
    const m = runtime.get(host);
    if (!m) return declared(host, `${carried}; no scanned runtime mirror config (registries.yaml, hosts.toml) sends ${host} to the mirror, so it is pulled from ${host} as written: install the one \`ferry mirror-config\` writes (and scan it with this)`);
    return { class: 'mirrored', mirror: m.mirrors[0], note: `${carried}: the pull goes to the mirror through ${runtimeMirrorNote(m)}; it succeeds only if the tag the release pins is one of those carried (take them from the same release)` };
  }

  /**
   * A Compose service's image from a registry other than Docker Hub, in a file Compose reads by
   * default (compose.yaml, docker-compose.yml, their override files): dockerd's registry-mirrors
   * mirror Docker Hub alone, so Docker pulls the image from its own registry however it is
   * carried, unless the file names the mirror. Only a runtime mirror for the host in the scan
   * (containerd's hosts.toml for nerdctl compose, k3s registries.yaml) says otherwise.
   */
  function dockerPullsUpstream(r: Reference, host: string, mirror: string | undefined): string | undefined {
    // On a podman host (its registries.conf in the scan) podman pulls it: podmanPull.
    if (r.podman || r.kind !== 'image' || !r.keyPath || !COMPOSE_SERVICE_IMAGE.test(r.keyPath) || !COMPOSE_FILE.test(path.posix.basename(r.file))) return undefined;
    // A runtime mirror dockerd's pull goes through (nerdctl's hosts.toml, k3s registries.yaml); a
    // podman host's registries.conf is not dockerd's (another machine's, when the file is on none).
    if (runtime.get(host) && runtime.get(host)!.format !== 'podman') return undefined;
    const fix = `run \`ferry rewrite manifests\` on this file to pull it${mirror ? ` from ${mirror}` : ' from the mirror'}`;
    if (host !== 'docker.io') {
      return `a Compose service image: Docker's registry-mirrors mirror Docker Hub alone, so dockerd pulls it from ${host} as written, carried or not (the scan holds no runtime mirror for ${host}); ${fix}`;
    }
    // Docker Hub through registry-mirrors: dockerd asks the mirror for the same repository path at
    // its root, so only a mirror that keeps Docker Hub's paths (layout flat, no prefix) serves it.
    const repository = (ref: string | undefined) => {
      try {
        return ref === undefined ? undefined : parseImageReference(ref).repository;
      } catch {
        return undefined;
      }
    };
    const upstream = repository(r.value);
    if (upstream !== undefined && repository(mirror) === upstream) return undefined;
    return `a Compose service image from Docker Hub: dockerd's registry-mirrors ask the mirror for ${upstream ?? 'the same path'} at its root, but the mirror keeps it at ${mirror ?? 'another path'} (\`ferry mirror-config docker\` needs layout: flat with no prefix), so dockerd pulls it from Docker Hub; ${fix}`;
  }

  /**
   * A carried image a Quadlet unit names: podman pulls it as written unless the scanned
   * registries.conf sends it to where the mirror holds it (audit/podman.ts); the written name is
   * not on the mirror (`ferry rewrite manifests` would have put the mirror's name there).
   */
  function podmanPull(r: Reference, host: string, mirror: string | undefined): Pick<Finding, 'class' | 'declaredBy' | 'note' | 'mirror'> | undefined {
    if (!r.podman) return undefined;
    const fix = `run \`ferry rewrite manifests\` on the ${r.podman.compose ? 'Compose file' : 'unit'}${mirror ? ` to pull ${mirror}` : ''}, or install the registries.conf \`ferry mirror-config registries-conf\` writes as a registries.conf.d drop-in (and audit /etc/containers with the ${r.podman.compose ? 'Compose files' : 'units'})`;
    const podman = hosts.of(r.file);
    if (!podman) return declared(host, `podman pulls it from ${host} as written: the scan holds no registries.conf (/etc/containers) of its host that sends it to the mirror; ${fix}`);
    const route = podmanRoute(podman, r.value, onTargetOf(targetHosts, t?.registry?.url));
    const repo = (ref: string) => ref.replace(/@.*$/, '').replace(/:[^/]*$/, '').toLowerCase();
    const served = mirror ? route.mirrors.find((x) => repo(x.asks) === repo(mirror)) : undefined;
    const e = route.entry;
    if (e && served) {
      const how = route.remapped && served === route.mirrors.at(-1) ? 'no fallback upstream' : `an image the mirror lacks (or a failing mirror) is tried at ${e.location} itself (location set to the mirror, \`ferry mirror-config registries-conf --never-contact-source\`, forbids it)`;
      return { class: 'mirrored', mirror, note: `podman pulls it through [[registry]] ${e.prefix} of ${e.file}: from ${served.asks}; ${how}` };
    }
    if (e?.blocked) return declared(host, `[[registry]] ${e.prefix} of ${e.file} is blocked: podman refuses the pull (the unit fails to start), and nothing sends it to the mirror; ${fix}`);
    if (route.mirrors.length) return declared(host, `registries.conf (${e!.file}) sends it to ${route.mirrors[0].asks}, but the mirror holds it at ${repo(mirror ?? '?')}, so podman falls back to ${e!.location}; ${fix}`);
    const via = e ? `[[registry]] ${e.prefix} of ${e.file} (the longest prefix matching it) sends it to ${[...e.mirrors.map((x) => x.location), e.location].join(', then ')}` : `no [[registry]] of ${podman.files.join(', ')} matches it`;
    return declared(host, `podman pulls it upstream: ${via}, none of them the mirror; ${fix}`);
  }

  /** Why a chart source written upstream still goes out (undefined: its repository carries nothing, classified as any reference). */
  function chartSourceNote(s: NonNullable<Reference['chartSource']>): string | undefined {
    const charts = [...(opts.lock?.charts ?? []), ...((model.entries.charts ?? []) as ChartLock[])];
    if (s.archive) {
      // A HelmChart's `spec.chart: https://…/x-1.2.0.tgz`: the locked chart downloaded from that very URL.
      const c = archiveChart(opts.lock?.charts ?? [], s.repo);
      if (!c) return undefined;
      const m = t?.charts ? mapChartHttp(c.name, c.version, t.charts).url : undefined;
      return `chart ${c.name} ${c.version} (this archive) is carried${m ? ` (on the mirror: ${m})` : ''}, but ${s.tool} ${s.object} fetches it from this URL as written (no registry mirror redirects it): run \`ferry rewrite manifests\` to point it at the mirror`;
    }
    const carried = chartsFrom(charts, s.repo);
    if (!carried.length) return s.kind === 'OCIRepository' ? ociArtifactNote(s) : undefined;
    const by = `${s.tool} ${s.object} fetches the chart from this URL as written (no registry mirror redirects it)`;
    const fix = 'run `ferry rewrite manifests` to point it at the mirror';
    if (!s.chart) return `charts from ${s.repo} are carried, but ${by}: ${fix}`;
    const version = carriedVersion(carried, s.chart, s.version);
    if (!version) return `chart ${s.chart} ${s.version ?? ''} is not carried (the manifest carries ${carried.map((c) => `${c.name} ${c.version}`).sort().join(', ')} from ${s.repo}); ${by}`;
    const m = mirrorChartSource({ repo: s.repo, name: s.chart, version }, s.repo.startsWith('oci://') ? 'oci' : 'http', t, mapping);
    return `chart ${s.chart} ${version} is carried${m ? ` (on the mirror: ${mirrorSourceText(m, s.chart, version)})` : ''}, but ${by}: ${fix}`;
  }

  /** A Flux OCIRepository whose artifact (no chart: manifests, a policy bundle) the manifest carries under `images:`. */
  function ociArtifactNote(s: NonNullable<Reference['chartSource']>): string | undefined {
    const images = [...(opts.lock?.images ?? []), ...((model.entries.images ?? []) as Array<{ ref: string }>)];
    const a = s.chart ? carriedOciSource(images, `${s.repo}/${s.chart}`, s.version, mapping) : undefined;
    if (!a) return undefined;
    const by = `${s.tool} ${s.object} fetches it from this URL as written (no registry mirror redirects it)`;
    if (!a.tag) return `OCI artifact ${a.repository} is carried under images: with ${a.tags.length ? `tags ${a.tags.join(', ')}` : 'digests only'}, not ${s.version ?? 'latest'} (spec.ref), and ${by}`;
    return `OCI artifact ${a.repository}:${a.tag} is carried under images:${t?.registry ? ` (on the mirror: oci://${a.mirror})` : ''}, but ${by}: run \`ferry rewrite manifests\` to point it at the mirror`;
  }

  /**
   * A chart source already pointing at the mirror (after `rewrite manifests`) that pins a chart or
   * version the lock does not carry there: not egress, but the controller's fetch fails at the site
   * (a GitOps repository bumped to a version the last bundle did not bring). Only with a lock (its
   * versions are exact); another bundle may have brought it, which the note says.
   */
  function chartNotOnMirror(s: NonNullable<Reference['chartSource']>): string | undefined {
    if (!s.chart || !opts.lock?.charts?.length) return undefined;
    const want = trimTrailing(s.repo, '/');
    const form = want.startsWith('oci://') ? 'oci' : 'http';
    const here = opts.lock.charts.filter((c) => {
      if (c.name !== s.chart) return false;
      const m = mirrorChartSource(c, form, t, mapping);
      return m !== undefined && (m.form === 'http' ? trimTrailing(m.url, '/') : `oci://${m.path}`) === want;
    });
    if (here.length && carriedVersion(here, s.chart, s.version)) return undefined;
    const held = here.map((c) => c.version).sort();
    return (
      `${s.tool} ${s.object} asks for chart ${s.chart}${s.version ? ` ${s.version}` : ''}, and the lock carries ${held.length ? `only ${held.join(', ')} of it` : 'none of it'} to this mirror location: ` +
      'unless another bundle brought it, the fetch fails at the site (carry that version: change the manifest, lock, bundle and import again)'
    );
  }

  /**
   * An image on the mirror registry that no carried image is imported to: `ferry import` writes
   * each carried image where the mapping puts it (`<mirror>/docker.io/library/nginx:1.27.3` in the
   * nested layout), and a deployment naming `<mirror>/library/nginx:1.27.3` pulls a path import
   * never wrote. No egress (class internal), but "mirror target" alone told the reviewer the image
   * is there; the note says it is not one the manifest carries, and where the carried one is.
   * Unknown (no note) when the images are not all known here: a manifest chart discovers images
   * that only its lock names, and no lock was read.
   */
  type Carried = { upstream: string; repo: string; mirror: string; tag?: string; digests: string[] };
  let carried: { all: Carried[]; byMirrorRepo: Map<string, Carried[]> } | undefined;
  /** The carried images where import writes them, made once per audit (a tree names images thousands of times). */
  function carriedOnMirror(images: Array<{ ref: string; digest?: string; storedDigest?: string }>): { all: Carried[]; byMirrorRepo: Map<string, Carried[]> } {
    const all: Carried[] = [];
    const byMirrorRepo = new Map<string, Carried[]>();
    for (const i of images) {
      try {
        const u = withDefaultTag(parseImageReference(i.ref));
        const m = mapImage(u, mapping, i.storedDigest);
        const q = parseImageReference(m.mirror);
        const e = { upstream: formatImageReference(u), repo: `${u.registry}/${u.repository}`, mirror: m.mirror, tag: q.tag, digests: [u.digest, i.digest, i.storedDigest].filter((d): d is string => Boolean(d)) };
        all.push(e);
        const key = `${q.registry}/${q.repository}`;
        byMirrorRepo.set(key, [...(byMirrorRepo.get(key) ?? []), e]);
      } catch {
        /* a lock entry that does not parse is refused where the lock is read */
      }
    }
    return { all, byMirrorRepo };
  }

  function imageNotOnMirror(value: string): string | undefined {
    if (!mapping.host) return undefined;
    const listed = (model.entries.images ?? []) as Array<{ ref: string }>;
    const locked = opts.lock?.images ?? [];
    if (!opts.lock && (model.entries.charts ?? []).length) return undefined;
    if (!listed.length && !locked.length) return undefined;
    let p;
    try {
      p = parseImageReference(value);
    } catch {
      return undefined;
    }
    const repo = `${p.registry}/${p.repository}`;
    const tag = p.digest ? undefined : (p.tag ?? 'latest');
    const { all, byMirrorRepo } = (carried ??= carriedOnMirror([...locked, ...listed] as Array<{ ref: string; digest?: string; storedDigest?: string }>));
    const atRepo = byMirrorRepo.get(repo) ?? [];
    if (atRepo.some((e) => (p.digest ? e.digests.includes(p.digest) : e.tag === tag))) return undefined;
    if (atRepo.length) {
      const held = [...new Set(atRepo.map((e) => e.tag ?? e.digests[0]))].sort();
      return `\`ferry import\` writes ${repo} only at ${held.join(', ')} (what the manifest carries), not ${p.digest ?? tag}: the pull fails at the site unless something else pushed it`;
    }
    // The carried image this one was probably meant to be: the same repository path under the upstream host.
    const tail = `/${p.repository}`;
    const near = all.filter((e) => `/${e.repo}`.endsWith(tail)).map((e) => `${e.upstream} is at ${e.mirror}`);
    return (
      `no image the manifest carries is imported to ${repo}${near.length ? ` (${[...new Set(near)].sort().slice(0, 3).join('; ')})` : ''}: ` +
      'the pull fails at the site unless the site pushes this image itself; point the reference at the carried image (`ferry rewrite manifests` over the upstream reference), or carry it'
    );
  }

  function declared(host: string, note?: string): Pick<Finding, 'class' | 'declaredBy' | 'note'> {
    const e = endpointByHost.get(host);
    if (e) {
      referenced.set(e.name, (referenced.get(e.name) ?? 0) + 1);
      const s = status.get(e.name);
      const n = [note, `mitigation ${e.mitigation.type}: ${s}`].filter(Boolean).join('; ');
      if (s === 'exception') return { class: 'declared-exception', declaredBy: e.name, note: [note, `exception until ${e.mitigation.review}`].filter(Boolean).join('; ') };
      // A mirrored host covers only what the manifest carries; anything else from it still goes out.
      if (e.mitigation.type === 'mirrored') return { class: 'declared-unmitigated', declaredBy: e.name, note: note ?? 'the host is mirrored, but the manifest does not carry this reference' };
      // Mitigated only when its checks were read as met (a proxied endpoint too: the proxy setting must be seen).
      if (s === 'met') return { class: 'declared-mitigated', declaredBy: e.name, note: n };
      return { class: 'declared-unmitigated', declaredBy: e.name, note: n };
    }
    const c = connectionByHost.get(host);
    if (c) return { class: 'declared-exception', declaredBy: c, note: [note, 'declared connection'].filter(Boolean).join('; ') };
    return { class: 'undeclared', note };
  }

  const catalogs = catalogSourceImages(scan);
  const olm = new Map(olmDefaultCatalogSubscriptions(scan).map((o) => [o.ref, o.note]));
  // A Flux HelmRelease's chart (scan's applyHelmReleases) says more than its HelmRepository's own
  // finding only where the repository is the mirror and the version asked for is not carried there.
  const releaseSaysMore = (r: Reference) => r.chartSource !== undefined && onTarget(r, hostOfReference(r)) && chartNotOnMirror(r.chartSource) !== undefined;
  const findings: Finding[] = [...scan.references.filter((r) => !r.helmRelease || releaseSaysMore(r)), ...olm.keys()]
    .map((r) => {
      // A Subscription to a default catalog goes out whatever the manifest carries: OLM pulls the catalog itself.
      const olmNote = olm.get(r);
      // An untagged values image its release's render pulls at one tag: classed as that image (README "Audit").
      const as = r.renderedAs;
      const c = olmNote !== undefined ? { host: r.value, ...declared(r.value, olmNote) } : as ? classify({ ...r, value: as.ref, tagFrom: undefined, renderedAs: undefined }) : classify(r);
      if (as) c.note = [`no tag is written here, the chart picks it: the audit's render of this release pulls ${as.ref} from this repository (${as.from}), so this key names that image`, c.note].filter(Boolean).join('; ');
      const requestPath = r.kind === 'url' ? requestPathAfterHost(r.value) : undefined;
      if (requestPath) c.note = [c.note, requestPathNote(requestPath)].filter(Boolean).join('; ');
      if (r.kind === 'image' && !r.provenance && catalogs.has(`${r.file}\0@${r.line}`)) c.note = [catalogSourceNote(r.value), c.note].filter(Boolean).join('; ');
      if (r.implied && !r.implied.unknown) c.note = [r.implied.note, c.note].filter(Boolean).join('; ');
      if (!as && (r.operator ?? r.tagFrom)) c.note = [r.operator ?? r.tagFrom, c.note].filter(Boolean).join('; ');
      if (r.podman) c.note = [r.podman.resolved ? `${r.podman.written} in ${r.podman.unit}: ${r.podman.resolved}` : undefined, c.note, r.podman.autoUpdate ? 'AutoUpdate=registry: podman-auto-update asks the registry for this tag\'s digest on its timer' : undefined].filter(Boolean).join('; ');
      if (!r.provenance) return { file: r.file, line: r.line, keyPath: r.keyPath ?? '', kind: r.kind, value: r.value, ...c };
      const note = [r.provenance, c.note].filter(Boolean).join('; ');
      return { file: r.file, line: r.line, keyPath: r.keyPath ?? '', kind: r.kind, value: r.value, ...c, note, provenance: r.provenance, template: r.template, resource: r.resource };
    })
    .sort((a, b) => a.file.localeCompare(b.file) || Number(Boolean(a.provenance)) - Number(Boolean(b.provenance)) || a.line - b.line || a.value.localeCompare(b.value) || a.kind.localeCompare(b.kind) || (a.provenance ?? '').localeCompare(b.provenance ?? ''));

  const mitigations: MitigationResult[] = model.endpoints.map((e) => ({
    endpoint: e.name,
    title: e.title ?? e.name,
    type: e.mitigation.type,
    requirement: e.requirement,
    status: status.get(e.name) ?? 'unchecked',
    referenced: referenced.get(e.name) ?? 0,
  }));

  const summary = Object.fromEntries(FINDING_CLASSES.map((c) => [c, findings.filter((f) => f.class === c).length])) as AuditReport['summary'];
  summary.unmetMitigations = mitigations.filter((m) => m.status === 'unmet').length;
  summary.unmetConnectionChecks = checks.filter((c) => c.subject === 'connection' && c.status === 'unmet').length;
  const charts = opts.charts ?? [];
  summary.unrenderedCharts = charts.filter((c) => c.status === 'not-rendered').length;
  const skipped = scan.skipped ?? [];
  summary.unscannedFiles = skipped.filter((s) => s.unscanned).length;
  // A chart that could not be rendered leaves its templates unaudited, a file that could not be
  // read (too large, unreadable, a link out of the scanned paths) its references: either --fail-on fails.
  const unaudited = summary.unrenderedCharts > 0 || summary.unscannedFiles > 0;
  const unmapped = summary.undeclared > 0 || unaudited;
  const wouldFail = {
    unmapped,
    unmitigated: unmapped || summary['declared-unmitigated'] > 0 || summary.unmetMitigations > 0 || summary.unmetConnectionChecks > 0,
  };
  const failed = opts.failOn ? wouldFail[opts.failOn] : false;
  return {
    manifest: opts.manifestFile,
    target: opts.targetFile,
    files: scan.files.length,
    findings,
    checks,
    mitigations,
    charts,
    skipped,
    summary,
    failOn: opts.failOn,
    failed,
    wouldFail,
  };
}
