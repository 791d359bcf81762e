import type { IncomingMessage, ServerResponse } from 'node:http';
import { FerryError } from '../errors.js';
import { discard, headerValue, readCapped } from '../net/http.js';
import { withRetry } from '../net/retry.js';
import { repositoryScope } from './auth.js';
import type { RegistryClient, RepoRef } from './client.js';
import { isIndexType, isManifestType, MT, type OciDescriptor, type OciIndex, type OciManifest } from './media-types.js';
import { registryApiHost } from './reference.js';

/**
 * OCI 1.1 referrers (https://github.com/opencontainers/distribution-spec, "Listing Referrers")
 * and the cosign tag scheme, on top of the RegistryClient's public surface:
 *
 * - the referrers API, `GET /v2/<name>/referrers/<digest>` → an image index of descriptors
 *   whose manifest's `subject` is that digest; a registry without the API answers 404;
 * - the referrers tag fallback, `<alg>-<hex>` (e.g. `sha256-ab…`): an image index kept by
 *   clients, for registries without the API (Distribution 2.8, Docker Hub, ghcr);
 * - cosign's tags `sha256-<hex>.sig`, `.att`, `.sbom` (signatures, attestations, SBOMs).
 */

/** Annotations on an extra's top-level descriptor in a bundle's index.json. */
export const EXTRA_ANNOTATION = {
  /** The image (its ref.name in the bundle) the extra travels with. */
  of: 'io.ferry.extra-of',
  /** The manifest digest the extra is about (the image's index or one of its platform manifests). */
  subject: 'io.ferry.extra-subject',
  /** Tag-scheme extras: the tag it lives under (`sha256-<hex>.sig`). Referrers have none. */
  tag: 'io.ferry.extra-tag',
} as const;

export const COSIGN_SUFFIXES = ['sig', 'att', 'sbom'] as const;

/** `sha256:ab…` → `sha256-ab…`: the referrers fallback tag, and the stem of cosign's tags. */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}

export function cosignTag(subject: string, suffix: (typeof COSIGN_SUFFIXES)[number]): string {
  return `${referrersTag(subject)}.${suffix}`;
}

/** Referrer lists are small; a registry answering megabytes is refused. */
const MAX_REFERRERS_BYTES = 4 * 1024 * 1024;

function parseIndex(bytes: Buffer, what: string): OciIndex {
  let index: OciIndex;
  try {
    index = JSON.parse(bytes.toString('utf8')) as OciIndex;
  } catch (err) {
    throw new FerryError('VALIDATION', `${what}: not JSON (${(err as Error).message})`);
  }
  if (!index || !Array.isArray(index.manifests)) throw new FerryError('VALIDATION', `${what}: not an image index`);
  return index;
}

/**
 * The referrers API for one subject: `{ api: true, index }` when the registry has the API,
 * `{ api: false }` when it answers 404 (or another 4xx: no such endpoint here).
 */
export async function fetchReferrersApi(client: RegistryClient, repo: RepoRef, subject: string): Promise<{ api: true; index: OciIndex } | { api: false }> {
  const host = registryApiHost(repo.registry);
  const scopes = [repositoryScope(repo.repository, 'pull')];
  const what = `${repo.registry}/${repo.repository} referrers of ${subject}`;
  return withRetry(what, async () => {
    const url = `${client.baseUrl(repo.registry)}/v2/${repo.repository}/referrers/${subject}`;
    const headers: Record<string, string> = { accept: MT.ociIndex };
    const up = await client.auth.headerFor(host, scopes, repo.repository);
    if (up) headers.authorization = up;
    let res = await client.http.request(url, { method: 'GET', headers });
    if (res.status === 401) {
      const challenge = headerValue(res.headers, 'www-authenticate');
      await discard(res.body);
      const outcome = await client.auth.respond(host, repo.registry, challenge, scopes, repo.repository, url.startsWith('https:'));
      res = await client.http.request(url, { method: 'GET', headers: { ...headers, authorization: outcome.header } });
    }
    if (res.status === 200) return { api: true as const, index: parseIndex(await readCapped(res.body, MAX_REFERRERS_BYTES, `${what}: answer larger than ${MAX_REFERRERS_BYTES} bytes`, 'VALIDATION'), what) };
    await discard(res.body);
    // 404 is what the spec says a registry without the API answers; other 4xx (405, a 403 from a
    // proxy that does not know the path) mean the same for us: use the fallback tag.
    if (res.status >= 400 && res.status < 500) return { api: false as const };
    throw new FerryError('NETWORK', `${what}: unexpected HTTP ${res.status}`);
  });
}

/** The `sha256-<hex>` fallback index, or undefined when the tag does not exist. */
export async function fetchReferrersTag(client: RegistryClient, repo: RepoRef, subject: string): Promise<OciIndex | undefined> {
  const tag = referrersTag(subject);
  const head = await client.headManifest(repo, tag);
  if (!head || !isIndexType(head.mediaType)) return undefined;
  const got = await client.getManifest(repo, head.digest);
  return parseIndex(got.bytes, `${repo.registry}/${repo.repository}:${tag}`);
}

/** Referrers of a subject: through the API where the registry has it, else the fallback tag. */
export async function listReferrers(client: RegistryClient, repo: RepoRef, subject: string): Promise<{ via: 'referrers-api' | 'referrers-tag'; descriptors: OciDescriptor[] }> {
  const api = await fetchReferrersApi(client, repo, subject);
  if (api.api) return { via: 'referrers-api', descriptors: api.index.manifests };
  return { via: 'referrers-tag', descriptors: (await fetchReferrersTag(client, repo, subject))?.manifests ?? [] };
}

/** The descriptor a referrers list carries for a referrer manifest (its artifactType and annotations). */
export function referrerDescriptor(bytes: Buffer, digest: string, mediaType: string): OciDescriptor {
  const m = JSON.parse(bytes.toString('utf8')) as OciManifest & { artifactType?: string };
  const artifactType = m.artifactType ?? m.config?.mediaType;
  return { mediaType, digest, size: bytes.length, ...(artifactType ? { artifactType } : {}), ...(m.annotations ? { annotations: m.annotations } : {}) };
}

/**
 * Where the target has no referrers API, add a referrer to the subject's `sha256-<hex>` index
 * (read, merge by digest, write back), as OCI 1.1 clients do. Callers serialise per repository.
 */
export async function addToReferrersTag(client: RegistryClient, repo: RepoRef, subject: string, desc: OciDescriptor): Promise<boolean> {
  const existing = await fetchReferrersTag(client, repo, subject);
  const manifests = existing?.manifests ?? [];
  if (manifests.some((d) => d.digest === desc.digest)) return false;
  const index: OciIndex = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [...manifests, desc] };
  await client.putManifest(repo, referrersTag(subject), Buffer.from(JSON.stringify(index)), MT.ociIndex);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Serving: `ferry serve` answers the referrers API from the extras a bundle carries.

const REFERRERS_PATH = /^\/v2\/(.+)\/referrers\/(sha256:[a-f0-9]{64})$/;

/**
 * Answer `GET /v2/<name>/referrers/<digest>[?artifactType=…]` when the path is one; returns
 * false for any other path. `lookup` gives the referrers served under a repository.
 */
export function answerReferrers(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  search: URLSearchParams,
  lookup: (repository: string, subject: string) => OciDescriptor[] | undefined,
): boolean {
  const m = REFERRERS_PATH.exec(pathname);
  if (!m) return false;
  const found = lookup(m[1], m[2]);
  const head = req.method === 'HEAD';
  if (found === undefined) {
    const text = JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: `repository ${m[1]} is not served here` }] });
    res.writeHead(404, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(head ? undefined : text);
    return true;
  }
  const artifactType = search.get('artifactType');
  const manifests = artifactType ? found.filter((d) => d.artifactType === artifactType) : found;
  const text = JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests });
  res.writeHead(200, { 'Content-Type': MT.ociIndex, 'Content-Length': Buffer.byteLength(text), ...(artifactType ? { 'OCI-Filters-Applied': 'artifactType' } : {}) });
  res.end(head ? undefined : text);
  return true;
}

/** What serving needs of one extra: where it is listed, and the digests it makes reachable. */
export interface ServedExtra {
  of: string;
  subject: string;
  tag?: string;
  top: OciDescriptor;
  /** As a referrers list shows it: artifactType and the manifest's own annotations. */
  descriptor: OciDescriptor;
  manifests: Map<string, string>;
  blobs: string[];
}

/** Read the extras among a bundle's top-level descriptors (their manifests are small). */
export async function readServedExtras(tops: OciDescriptor[], readBlob: (digest: string) => Promise<Buffer>, warnings: string[]): Promise<ServedExtra[]> {
  const out: ServedExtra[] = [];
  for (const top of tops) {
    const a = top.annotations ?? {};
    const of = a[EXTRA_ANNOTATION.of];
    const subject = a[EXTRA_ANNOTATION.subject];
    if (!of || !subject || !isManifestType(top.mediaType) || isIndexType(top.mediaType)) continue;
    try {
      const bytes = await readBlob(top.digest);
      const m = JSON.parse(bytes.toString('utf8')) as OciManifest;
      out.push({
        of,
        subject,
        tag: a[EXTRA_ANNOTATION.tag],
        top,
        descriptor: referrerDescriptor(bytes, top.digest, top.mediaType),
        manifests: new Map([[top.digest, top.mediaType]]),
        blobs: [m.config, ...(m.layers ?? [])].filter(Boolean).map((d) => d.digest),
      });
    } catch (err) {
      warnings.push(`extra ${top.digest} of ${of}: not served (${(err as Error).message})`);
    }
  }
  return out;
}

/** What a served repository keeps (structurally: src/serve/registry.ts's ServedRepository). */
export interface ExtrasHolder {
  tags: Map<string, OciDescriptor>;
  manifests: Map<string, string>;
  blobs: Set<string>;
  referrers?: Map<string, OciDescriptor[]>;
}

/** Serve each extra in its image's repository: cosign tags as tags, referrers in the API's lists. */
export async function addServedExtras(
  tops: OciDescriptor[],
  readBlob: (digest: string) => Promise<Buffer>,
  repoOf: (refName: string) => ExtrasHolder | undefined,
  warnings: string[],
): Promise<void> {
  for (const x of await readServedExtras(tops, readBlob, warnings)) {
    const repo = repoOf(x.of);
    if (!repo) continue;
    for (const [d, mt] of x.manifests) repo.manifests.set(d, mt);
    for (const b of x.blobs) repo.blobs.add(b);
    if (x.tag) {
      repo.tags.set(x.tag, x.top);
    } else {
      repo.referrers ??= new Map();
      const list = repo.referrers.get(x.subject) ?? [];
      if (!list.some((d) => d.digest === x.descriptor.digest)) list.push(x.descriptor);
      repo.referrers.set(x.subject, list);
    }
  }
}
