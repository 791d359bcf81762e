import { isIP } from 'node:net';
import { FerryError } from '../errors.js';

/**
 * Image references, parsed and normalized the way github.com/distribution/reference does:
 * docker.io is the default registry, single-component Docker Hub names get `library/`,
 * `index.docker.io` is `docker.io`, ports and bracketed IPv6 hosts are allowed, and a
 * reference may carry a tag, a digest, or both.
 */
export interface ImageReference {
  /** Registry host as users write it (`docker.io`, `registry.example.com:5000`, `[::1]:5000`). */
  registry: string;
  /** Repository path without the registry (`library/alpine`). */
  repository: string;
  tag?: string;
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_API = 'registry-1.docker.io';

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
// As github.com/distribution/reference: hex groups and colons, no zone (`%eth0`) and no dotted quad.
const IPV6 = /^\[[0-9a-fA-F:]+\]$/;
const PORT = /^[0-9]+$/;
const NAME_TOTAL_MAX = 255;

function invalid(ref: string, why: string): FerryError {
  return new FerryError('VALIDATION', `${JSON.stringify(ref)}: not a valid image reference: ${why}`, {
    hint: 'Write it as [registry[:port]/]repository[:tag][@sha256:<64 hex>], e.g. docker.io/library/alpine:3.20',
  });
}

/** Why a string is not a valid registry host, or undefined when it is one. */
export function checkRegistryHost(host: string): string | undefined {
  let name = host;
  let port: string | undefined;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0) return 'unterminated IPv6 address';
    name = host.slice(0, end + 1);
    const rest = host.slice(end + 1);
    if (rest) {
      if (!rest.startsWith(':')) return `unexpected ${JSON.stringify(rest)} after IPv6 address`;
      port = rest.slice(1);
    }
    if (!IPV6.test(name) || isIP(name.slice(1, -1)) !== 6) return `invalid IPv6 address ${name}`;
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) {
      name = host.slice(0, colon);
      port = host.slice(colon + 1);
    }
    if (!name) return 'empty registry host';
    for (const part of name.split('.')) {
      if (!DOMAIN_COMPONENT.test(part)) return `invalid registry host ${JSON.stringify(host)}`;
    }
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535)) return `invalid port ${JSON.stringify(port)}`;
  return undefined;
}

/** Docker Hub's other names (`index.docker.io`, `registry-1.docker.io`) are `docker.io`, as in a reference. */
export function normalizeRegistryHost(host: string): string {
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB : host;
}

/** The first component of a name is a registry host (docker's and containers/image's rule: a `.` or `:`, `localhost`, an IPv6 literal, or upper case). */
export function looksLikeRegistry(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[') || first !== first.toLowerCase();
}

/** Parse and normalize; throws FerryError('VALIDATION') naming the reason. */
export function parseImageReference(input: string): ImageReference {
  const ref = input.trim();
  if (!ref) throw invalid(input, 'empty');
  if (/\s/.test(ref)) throw invalid(input, 'contains whitespace');
  if (ref.includes('://')) throw invalid(input, 'a URL scheme is not part of an image reference');

  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(input, `invalid digest ${JSON.stringify(digest)}`);
    const [alg, hex] = digest.split(':');
    if (alg === 'sha256' && !/^[a-f0-9]{64}$/.test(hex)) throw invalid(input, 'a sha256 digest has 64 lowercase hex characters');
    if (alg === 'sha384' && !/^[a-f0-9]{96}$/.test(hex)) throw invalid(input, 'a sha384 digest has 96 lowercase hex characters');
    if (alg === 'sha512' && !/^[a-f0-9]{128}$/.test(hex)) throw invalid(input, 'a sha512 digest has 128 lowercase hex characters');
  }

  let registry = DOCKER_HUB;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0 && looksLikeRegistry(rest.slice(0, slash))) {
    registry = rest.slice(0, slash);
    path = rest.slice(slash + 1);
    const why = checkRegistryHost(registry);
    if (why) throw invalid(input, why);
  }

  let tag: string | undefined;
  const lastSlash = path.lastIndexOf('/');
  const colon = path.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(input, `invalid tag ${JSON.stringify(tag)} (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  if (!path) throw invalid(input, 'missing repository name');
  if (path !== path.toLowerCase()) throw invalid(input, 'repository name must be lowercase');
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT.test(component)) throw invalid(input, `invalid path component ${JSON.stringify(component)}`);
  }

  registry = normalizeRegistryHost(registry);
  if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  if (registry.length + 1 + path.length > NAME_TOTAL_MAX) throw invalid(input, `name longer than ${NAME_TOTAL_MAX} characters`);
  return { registry, repository: path, tag, digest };
}

/** `registry/repository` */
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** Fully normalized string: `docker.io/library/alpine:3.20`, `…@sha256:…`, or both. */
export function formatImageReference(ref: ImageReference): string {
  let s = repositoryName(ref);
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

/** Tag `latest` when the reference names neither tag nor digest: what docker, containerd and the kubelet pull. */
export function withDefaultTag(ref: ImageReference): ImageReference {
  return ref.tag || ref.digest ? ref : { ...ref, tag: 'latest' };
}

export function normalizeImageReference(input: string): string {
  return formatImageReference(parseImageReference(input));
}

/** The host to talk to for a registry (Docker Hub's API lives elsewhere). */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** A reference as written, without its tag and digest (`nginx:1.25@sha256:…` → `nginx`; a registry port stays). */
export function referenceName(ref: string): string {
  const at = ref.indexOf('@');
  const s = at >= 0 ? ref.slice(0, at) : ref;
  const colon = s.lastIndexOf(':');
  return colon > s.lastIndexOf('/') ? s.slice(0, colon) : s;
}
