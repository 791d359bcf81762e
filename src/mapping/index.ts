import semver from 'semver';
import { FerryError } from '../errors.js';
import { formatImageReference, normalizeRegistryHost, parseImageReference, type ImageReference } from '../oci/reference.js';
import { trimBoth, trimTrailing } from '../ui/escape.js';

/**
 * The single source of truth for "where does this upstream thing live on the mirror".
 * Import, serve, map, rewrite, mirror-config and audit all call these functions; none of
 * them computes a mirror location on its own.
 */

export interface RegistryMapping {
  /** host[:port] of the mirror registry, or undefined for a directory target not yet served. */
  host?: string;
  prefix?: string;
  layout: 'nested' | 'flat';
  maxPathDepth?: number;
  maxPathLength?: number;
}

/** Mapping used when serving a bundle or layout with no target: nested, no prefix. */
export const DEFAULT_REGISTRY_MAPPING: RegistryMapping = { layout: 'nested' };

/**
 * What the mapping reads of a mirror target (the `MirrorTarget` of src/manifest/target.ts fits
 * it): mapping sits below manifest/ and takes any object of this shape.
 */
export interface MappingTarget {
  registry?: { url: string; prefix?: string; layout?: 'nested' | 'flat'; maxPathDepth?: number; maxPathLength?: number };
  directory?: string;
  charts?: { baseUrl: string };
  files?: { baseUrl: string };
  apt?: { baseUrl: string };
}

export function registryMappingFor(target: MappingTarget | undefined): RegistryMapping {
  const reg = target?.registry;
  if (!reg) return DEFAULT_REGISTRY_MAPPING;
  return {
    host: new URL(reg.url).host,
    prefix: reg.prefix,
    layout: reg.layout ?? 'nested',
    maxPathDepth: reg.maxPathDepth,
    maxPathLength: reg.maxPathLength,
  };
}

/**
 * A registry host as one repository path component: `registry.example.com:5000` is not a
 * valid component, so the port joins with `-` (`registry.example.com-5000`); IPv6 brackets
 * and colons become `-` too. Used for every nested mapping, everywhere.
 */
export function hostPathComponent(registry: string): string {
  const cleaned = registry
    .toLowerCase()
    .replace(/[[\]]/g, '')
    .replace(/[^a-z0-9.]+/g, '-');
  return trimBoth(cleaned, '-.').replace(/\.{2,}/g, '.');
}

/**
 * Where an upstream registry's repositories under `namespace` (`rancher` for `docker.io/rancher/…`)
 * live on the mirror: the path a runtime's rewrite of `^<namespace>/` sends them to.
 */
export function mirrorNamespacePath(registry: string, namespace: string, m: RegistryMapping): string {
  const { pathPrefix } = registryMirrorFor(registry, m);
  return pathPrefix ? `${pathPrefix}/${namespace}` : namespace;
}

/** Repository path on the mirror for an upstream repository. */
export function mirrorRepositoryPath(ref: Pick<ImageReference, 'registry' | 'repository'>, m: RegistryMapping): string {
  const path = mirrorNamespacePath(ref.registry, ref.repository, m);
  const depth = path.split('/').length;
  const upstream = `${ref.registry}/${ref.repository}`;
  if (m.maxPathDepth !== undefined && depth > m.maxPathDepth) {
    // The remedy is in the message too: import lists such problems together under one hint of its own.
    throw new FerryError('CONFLICT', `${upstream}: mirror path ${path} has ${depth} components; the target allows ${m.maxPathDepth} (registry.maxPathDepth: use layout: flat or a shorter prefix, or raise it if the registry takes deeper paths)`, {
      hint: 'Use layout: flat, a shorter prefix, or raise maxPathDepth if the registry allows it.',
    });
  }
  if (m.maxPathLength !== undefined && path.length > m.maxPathLength) {
    throw new FerryError('CONFLICT', `${upstream}: mirror path ${path} is ${path.length} characters; the target allows ${m.maxPathLength} (use layout: flat or a shorter prefix)`, {
      hint: 'Use layout: flat or a shorter prefix.',
    });
  }
  return path;
}

/**
 * The runtime-config view of the mapping (containerd hosts.toml, registries.conf, k3s, IDMS):
 * every repository of an upstream registry lands under one path prefix on the mirror host, so
 * `<host>/<pathPrefix>/<upstream repository>` is exactly what mirrorRepositoryPath gives.
 */
export function registryMirrorFor(registry: string, m: RegistryMapping): { host?: string; pathPrefix: string } {
  const parts: string[] = [];
  if (m.prefix) parts.push(m.prefix);
  if (m.layout === 'nested') parts.push(hostPathComponent(registry));
  return { host: m.host, pathPrefix: parts.join('/') };
}

export interface MappedImage {
  upstream: string;
  /** Full mirror reference (host/path[:tag][@digest]); without host for an unserved directory. */
  mirror: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/**
 * Map an upstream image reference. `storedDigest` replaces the digest when a platform filter
 * changed what is stored, so digest references keep resolving on the mirror.
 */
export function mapImage(upstream: string | ImageReference, m: RegistryMapping, storedDigest?: string): MappedImage {
  const ref = typeof upstream === 'string' ? parseImageReference(upstream) : upstream;
  const repository = mirrorRepositoryPath(ref, m);
  const digest = ref.digest ? (storedDigest ?? ref.digest) : undefined;
  let mirror = m.host ? `${m.host}/${repository}` : repository;
  if (ref.tag) mirror += `:${ref.tag}`;
  if (digest) mirror += `@${digest}`;
  return { upstream: formatImageReference(ref), mirror, repository, tag: ref.tag, digest };
}

/** Refuse two upstream repositories landing on one mirror repository (flat layout, odd hosts). */
export function checkCollisions(refs: Iterable<string | ImageReference>, m: RegistryMapping): void {
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const r of refs) {
    const ref = typeof r === 'string' ? parseImageReference(r) : r;
    const upstreamRepo = `${ref.registry}/${ref.repository}`;
    const repo = mirrorRepositoryPath(ref, m);
    const prev = seen.get(repo);
    if (prev && prev !== upstreamRepo) problems.push(`${prev} and ${upstreamRepo} both map to ${repo}`);
    else seen.set(repo, upstreamRepo);
  }
  if (problems.length) {
    throw new FerryError('CONFLICT', `mapping collision${problems.length > 1 ? 's' : ''} in ${m.layout} layout`, {
      details: problems,
      hint: m.layout === 'flat' ? 'Use layout: nested, which keeps the upstream host in the path.' : 'Rename one of the upstream registries.',
    });
  }
}

/** Host of an upstream URL (`oci://` too), lowercased, without IPv6 brackets; undefined when it does not parse. */
export function hostOfUrl(url: string): string | undefined {
  try {
    const u = new URL(url.replace(/^oci:\/\//, 'https://'));
    return u.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}

/** Path of an upstream URL under a mirror directory: `<host>/<path>` (host with port as in hostPathComponent). */
export function mirrorUrlPath(url: string): string {
  // A lock or bundle may be crafted: a URL that does not parse or escapes badly is an error
  // naming it, not a crash. (An empty host gives an absolute path, which the path rule refuses.)
  let u: URL;
  let p: string;
  try {
    u = new URL(url);
    p = decodeURIComponent(u.pathname).replace(/^\/+/, '');
  } catch {
    throw new FerryError('VALIDATION', `${JSON.stringify(url)}: not a URL (or a %-escape in its path is malformed); it has no place on the mirror`, {
      hint: 'A lock or bundle naming it was written by hand or crafted; lock the manifest again.',
    });
  }
  const clean = p.split('/').filter((s) => s && s !== '.' && s !== '..').join('/');
  return `${hostPathComponent(u.host)}/${clean}`;
}

export interface MappedUrl {
  upstream: string;
  /** Path relative to the target dir. */
  path: string;
  /** URL clients use on the mirror. */
  url: string;
}

function joinUrl(base: string, rel: string): string {
  return trimTrailing(base, '/') + '/' + rel.split('/').map(encodeURIComponent).join('/');
}

/** Files and cloud images: `files: { dir, baseUrl }`. */
export function mapFileUrl(url: string, target: { baseUrl: string }): MappedUrl {
  const path = mirrorUrlPath(url);
  return { upstream: url, path, url: joinUrl(target.baseUrl, path) };
}

/** APT repositories: the repository root URL maps to `<baseUrl>/<host>/<path>`. */
export function mapAptRepo(url: string, target: { baseUrl: string }): MappedUrl {
  const path = mirrorUrlPath(trimTrailing(url, '/'));
  return { upstream: url, path, url: joinUrl(target.baseUrl, path) };
}

/** The two forms of the APT site key: armored (`asc`) and binary (`gpg`). */
export type AptSiteKeyForm = 'asc' | 'gpg';

/** The site key's file name, without its form's extension. */
export const APT_SITE_KEY_NAME = 'ferry-archive-keyring';

/**
 * The public half of the site key that re-signed (filtered) APT mirrors are signed with, at the
 * root of the APT mirror beside the repositories: import writes both forms into `apt.dir`, serve
 * serves them under its APT tree, clients fetch them from `apt.baseUrl` for `signed-by`. `path` is
 * relative to that root; `url` only with a target's `baseUrl`.
 */
export function mapAptSiteKey(form: AptSiteKeyForm, target?: { baseUrl: string }): { path: string; url?: string } {
  const file = `${APT_SITE_KEY_NAME}.${form}`;
  return { path: file, ...(target ? { url: joinUrl(target.baseUrl, file) } : {}) };
}

/**
 * Helm chart in an OCI registry: `oci://host/path` + name → the image-like reference that the
 * image mapping places, so charts and images share one rule.
 */
export function mapOciChart(repo: string, name: string, version: string, m: RegistryMapping): MappedImage {
  const base = trimTrailing(repo.replace(/^oci:\/\//, ''), '/');
  return mapImage(`${base}/${name}:${version.replace(/\+/g, '_')}`, m);
}

/**
 * Helm chart from an HTTP repository pushed as OCI: it lives under the repository's host and
 * path, as if the HTTP repository were a registry namespace.
 */
export function chartOciReference(repo: string, name: string, version: string): string {
  // Docker Hub's API host (oci://registry-1.docker.io/bitnamicharts) named as an image names it (docker.io/…).
  if (repo.startsWith('oci://')) return `${canonicalRegistryPath(trimTrailing(repo.slice('oci://'.length), '/'))}/${name}:${version.replace(/\+/g, '_')}`;
  let u: URL;
  try {
    u = new URL(repo);
  } catch {
    throw new FerryError('VALIDATION', `chart ${JSON.stringify(name)}: repository ${JSON.stringify(repo)} is neither an http(s) URL nor oci://`, {
      hint: 'A lock or bundle naming it was written by hand or crafted; lock the manifest again.',
    });
  }
  const segments = u.pathname.split('/').filter(Boolean).map((s) => s.toLowerCase().replace(/[^a-z0-9._-]+/g, '-'));
  return `${u.host.toLowerCase()}/${[...segments, name].join('/')}:${version.replace(/\+/g, '_')}`;
}

/** `registry-1.docker.io/bitnamicharts` → `docker.io/bitnamicharts`: the registry host of a path as an image reference names it. */
export function canonicalRegistryPath(at: string): string {
  const slash = at.indexOf('/');
  const host = slash < 0 ? at : at.slice(0, slash);
  return `${normalizeRegistryHost(host)}${slash < 0 ? '' : at.slice(slash)}`;
}

/**
 * A target's mapping, built once: the registry facet (a `registry:` or an OCI layout
 * `directory:`, both laid out by the registry mapping) and the directory facets by base URL.
 * A facet the target lacks is undefined.
 */
export interface MirrorMapping {
  registry?: RegistryMapping;
  charts?: { baseUrl: string };
  files?: { baseUrl: string };
  apt?: { baseUrl: string };
}

export function mirrorMappingFor(target: MappingTarget): MirrorMapping {
  return {
    ...(target.registry || target.directory ? { registry: registryMappingFor(target) } : {}),
    ...(target.charts ? { charts: target.charts } : {}),
    ...(target.files ? { files: target.files } : {}),
    ...(target.apt ? { apt: target.apt } : {}),
  };
}

/** One place on a mirror, by the facet that carries it: typed, never a string to re-parse. */
export type MirrorPlace =
  | { facet: 'registry'; image: MappedImage }
  | { facet: 'charts'; chart: MappedChartUrl }
  | { facet: 'files'; url: MappedUrl }
  | { facet: 'apt'; url: MappedUrl };

/** A place as users write it: the mirror reference or URL. */
export function placeText(p: MirrorPlace): string {
  switch (p.facet) {
    case 'registry':
      return p.image.mirror;
    case 'charts':
      return p.chart.url;
    default:
      return p.url.url;
  }
}

export type MappedChartUrl = MappedUrl & { indexUrl: string };

/**
 * Helm chart in an HTTP chart repository on the mirror (`charts: { dir, baseUrl }`): one flat
 * repository, archives named as `helm package` names them, listed in `<dir>/index.yaml`.
 */
export function mapChartHttp(name: string, version: string, target: { baseUrl: string }): MappedChartUrl {
  const problems = chartNameProblems(name, version);
  if (problems.length) {
    throw new FerryError('VALIDATION', `chart ${JSON.stringify(String(name))} ${JSON.stringify(String(version))}: ${problems.join('; ')}`, {
      hint: 'Chart names and versions become file names on the mirror; this one was crafted or damaged.',
    });
  }
  const file = `${name}-${version}.tgz`;
  return { upstream: `${name} ${version}`, path: file, url: joinUrl(target.baseUrl, file), indexUrl: joinUrl(target.baseUrl, 'index.yaml') };
}

/** Helm's rule for a chart name: `helm create`'s pattern, at most 250 characters, a plain base name (chart Metadata.Validate). */
const CHART_NAME = /^[A-Za-z0-9._-]{1,250}$/;

/**
 * What is wrong with a chart name and version as Helm defines them (empty when nothing is):
 * the name a plain file name of letters, digits, `.`, `_`, `-`; the version strict SemVer 2.
 * Both become the archive name `<name>-<version>.tgz` on the mirror.
 */
export function chartNameProblems(name: unknown, version: unknown): string[] {
  const problems: string[] = [];
  if (typeof name !== 'string' || !CHART_NAME.test(name) || name === '.' || name === '..') {
    problems.push(`chart name ${JSON.stringify(name ?? null)} is not a valid Helm chart name (letters, digits, ".", "_", "-"; at most 250)`);
  }
  if (typeof version !== 'string' || version.length > 256 || !/^v?[0-9]/.test(version) || /\s/.test(version) || semver.valid(version) === null) {
    problems.push(`chart version ${JSON.stringify(version ?? null)} is not a SemVer 2 version`);
  }
  return problems;
}
