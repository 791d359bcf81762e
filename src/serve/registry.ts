import type { IncomingMessage, ServerResponse } from 'node:http';
import { FerryError } from '../errors.js';
import { checkCollisions, mapImage, type RegistryMapping } from '../mapping/index.js';
import { isManifestType, type OciDescriptor, type OciIndex } from '../oci/media-types.js';
import { parseImageReference } from '../oci/reference.js';
import { addServedExtras, answerReferrers } from '../oci/referrers.js';
import { MAX_MANIFEST_BYTES, walkIndex } from '../store/layout.js';
import { ANNOTATION, type BlobSource } from '../store/source.js';
import { answeredByPreconditions, sendError, sendJson } from './http.js';
import type { VerifiedBlobs } from './verified-blobs.js';
import { clip } from '../mapping/mirror-tree.js';
import { goesToRegistry, registryTagOwner } from '../kinds/index.js';

/**
 * The read-only OCI distribution API (the pull side) over a bundle tar or an OCI layout:
 * `/v2/` routes and the catalog. Repository names come from the one mapping (`mapImage`);
 * blobs are streamed by offset, never loaded whole, and checked against their digests.
 */

/**
 * A repository's tags in order, sorted once per catalog (a served catalog does not change; a reload
 * builds a new one): a client paging through 90 000 tags, or asking for the list again and again,
 * does not have them sorted on every request.
 */
const tagOrder = new WeakMap<ServedRepository, string[]>();
function sortedTags(repo: ServedRepository): string[] {
  let tags = tagOrder.get(repo);
  if (!tags) tagOrder.set(repo, (tags = [...repo.tags.keys()].sort()));
  return tags;
}

export interface ServedRepository {
  name: string;
  /** tag → top-level descriptor. */
  tags: Map<string, OciDescriptor>;
  /** Every manifest/index the repository's images reach: digest → media type. */
  manifests: Map<string, string>;
  /** Every blob (config, layer, other) the repository's images reach. */
  blobs: Set<string>;
  /** The upstream references served here. */
  upstream: string[];
  /** Subject digest → referrers carried with the images (the referrers API answers from it). */
  referrers?: Map<string, OciDescriptor[]>;
}

export interface RegistryCatalog {
  repositories: Map<string, ServedRepository>;
  /** Things in index.json that are not served, or damaged, said plainly. */
  warnings: string[];
}

/** Which top-level descriptors are images the registry serves, under which repository and tag. */
export async function buildCatalog(source: BlobSource, mapping: RegistryMapping, index?: OciIndex): Promise<RegistryCatalog> {
  const idx = index ?? (await source.readIndex());
  const warnings: string[] = [];
  const servable: Array<{ top: OciDescriptor; refName: string }> = [];
  for (const top of idx.manifests ?? []) {
    const refName = top.annotations?.[ANNOTATION.refName];
    const kind = top.annotations?.[ANNOTATION.kind];
    if (!refName || !isManifestType(top.mediaType)) continue;
    if (kind !== undefined && !goesToRegistry(kind)) continue;
    if (!/[/:@]/.test(refName)) {
      // The OCI convention (skopeo `oci:dir:tag`) puts only a tag in ref.name: no repository to serve it under.
      warnings.push(`${clip(refName)}: ref.name is a bare tag, not a full image reference; not served (${top.digest})`);
      continue;
    }
    try {
      parseImageReference(refName);
    } catch {
      warnings.push(`${clip(refName)}: not a full image reference; not served (${top.digest})`);
      continue;
    }
    servable.push({ top, refName });
  }
  checkCollisions(servable.map((s) => s.refName), mapping);

  // Each distinct top-level digest is walked once, labelled by its digest: an index naming one
  // image under many tags costs one walk, not one per tag (and no per-tag label lists).
  const namesOf = new Map<string, string[]>();
  const walkTops: OciDescriptor[] = [];
  for (const { top, refName } of servable) {
    const names = namesOf.get(top.digest);
    if (names) names.push(refName);
    else {
      namesOf.set(top.digest, [refName]);
      walkTops.push({ mediaType: top.mediaType, digest: top.digest, size: top.size });
    }
  }
  const walk = await walkIndex({ schemaVersion: 2, manifests: walkTops }, source);
  const named = (digests: string[]) => {
    const names = digests.flatMap((d) => namesOf.get(d) ?? [d]);
    return names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');
  };
  for (const p of walk.problems) warnings.push(`${named(p.artifacts)} ${p.role} ${p.digest}: ${p.message}`);

  const repositories = new Map<string, ServedRepository>();
  const reposOfTop = new Map<string, Set<ServedRepository>>();
  /** refName → its repository, for the extras (signatures, referrers) that name their subject by it. */
  const repoOfLabel = new Map<string, ServedRepository>();
  const tops = servable.map((s) => s.top);
  const unowned = new Set<string>();
  for (const { top, refName } of servable) {
    const mapped = mapImage(refName, mapping, top.annotations?.[ANNOTATION.upstreamDigest] ? top.digest : undefined);
    let repo = repositories.get(mapped.repository);
    if (!repo) {
      repo = { name: mapped.repository, tags: new Map(), manifests: new Map(), blobs: new Set(), upstream: [] };
      repositories.set(mapped.repository, repo);
    }
    repo.upstream.push(mapped.upstream);
    repoOfLabel.set(refName, repo);
    if (mapped.tag) {
      // A tag several entries carry with different manifests is served as import pushes it: the
      // entry listed by the tag alone owns it; with none, the tag is not served (by digest only).
      const owner = registryTagOwner(tops, top);
      const prev = repo.tags.get(mapped.tag);
      if (owner === top.digest) repo.tags.set(mapped.tag, top);
      else if (owner === null) {
        if (!unowned.has(`${mapped.repository}:${mapped.tag}`)) warnings.push(`${mapped.upstream}: tag ${mapped.tag} not served: the bundle pins several manifests under it and none by the tag alone (each is served by its digest)`);
        unowned.add(`${mapped.repository}:${mapped.tag}`);
      } else if (owner === undefined) {
        if (prev && prev.digest !== top.digest) warnings.push(`${mapped.upstream}: tag ${mapped.tag} appears twice with different digests; serving ${prev.digest}`);
        else repo.tags.set(mapped.tag, top);
      }
    }
    let repos = reposOfTop.get(top.digest);
    if (!repos) reposOfTop.set(top.digest, (repos = new Set()));
    repos.add(repo);
  }
  for (const b of walk.blobs.values()) {
    for (const topDigest of b.artifacts) {
      for (const repo of reposOfTop.get(topDigest) ?? []) {
        if (b.role === 'index' || b.role === 'manifest') repo.manifests.set(b.digest, b.mediaType);
        else repo.blobs.add(b.digest);
      }
    }
  }
  await addServedExtras(idx.manifests ?? [], (d) => source.readBlob(d), (of) => repoOfLabel.get(of), warnings);
  return { repositories, warnings };
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * One page of `items` after `last`, at most `n` long. An `n` that is no whole number (`-1`,
 * `1e9`, `10abc`) is refused, as Distribution refuses it (PAGINATION_NUMBER_INVALID), not read
 * as whatever number its first digits make (`1e9` was a page of one, `-1` an empty list).
 */
function paginate(items: string[], url: URL): { page: string[]; next?: string } | { invalid: string } {
  const last = url.searchParams.get('last');
  const nText = url.searchParams.get('n');
  if (nText !== null && nText !== '' && !/^\d{1,15}$/.test(nText)) return { invalid: nText };
  let from = 0;
  if (last !== null) {
    // The first item after `last` (items are sorted as strings compare: .sort()'s order).
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (items[mid] > last) hi = mid;
      else lo = mid + 1;
    }
    from = lo;
  }
  if (nText === null || nText === '') return { page: items.slice(from) };
  const n = Number(nText);
  const page = items.slice(from, from + n);
  const more = from + n < items.length && page.length > 0;
  return { page, next: more ? page[page.length - 1] : undefined };
}

function linkHeader(pathname: string, n: string | null, last: string): Record<string, string> {
  const q = new URLSearchParams();
  if (n) q.set('n', n);
  q.set('last', last);
  return { Link: `<${pathname}?${q.toString()}>; rel="next"` };
}

/** Answer a list (`_catalog`, a tag list) one page at a time, or refuse a page size that is no whole number. */
function sendPage(res: ServerResponse, url: URL, items: string[], body: (page: string[]) => unknown, head: boolean): void {
  const paged = paginate(items, url);
  if ('invalid' in paged) {
    sendError(res, 400, 'PAGINATION_NUMBER_INVALID', `n=${JSON.stringify(paged.invalid.slice(0, 100))}: the page size must be a whole number (0 or more)`, head);
    return;
  }
  const { page, next } = paged;
  sendJson(res, 200, body(page), next ? linkHeader(url.pathname, url.searchParams.get('n'), next) : {}, head);
}

/**
 * Answer one `/v2/…` request from the current catalog. `current` is read per request: the
 * server swaps the catalog when a served directory's index.json changes.
 */
export function registryHandler(source: VerifiedBlobs, current: () => { catalog: RegistryCatalog; repoNames: string[] }) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const { catalog, repoNames } = current();
    const head = req.method === 'HEAD';
    const p = url.pathname;
    if (p === '/v2/' || p === '/v2') {
      sendJson(res, 200, {}, {}, head);
      return;
    }
    if (p === '/v2/_catalog') {
      sendPage(res, url, repoNames, (page) => ({ repositories: page }), head);
      return;
    }
    if (answerReferrers(req, res, p, url.searchParams, (name, subject) => catalog.repositories.get(name) && (catalog.repositories.get(name)!.referrers?.get(subject) ?? []))) return;
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(p) ?? /^\/v2\/(.+)\/(tags)\/list$/.exec(p);
    if (!m) {
      sendError(res, 404, 'NOT_FOUND', `no such endpoint: ${p}`, head);
      return;
    }
    const [, name, what, rawRef] = m;
    const repo = catalog.repositories.get(name);
    if (!repo) {
      sendError(res, 404, 'NAME_UNKNOWN', `repository ${name} is not served here`, head, { name });
      return;
    }
    if (what === 'tags') {
      sendPage(res, url, sortedTags(repo), (page) => ({ name, tags: page }), head);
      return;
    }
    let ref: string;
    try {
      ref = decodeURIComponent(rawRef);
    } catch {
      sendError(res, 400, what === 'manifests' ? 'MANIFEST_INVALID' : 'DIGEST_INVALID', `bad reference ${rawRef}`, head);
      return;
    }
    if (what === 'manifests') {
      let digest: string;
      let mediaType: string | undefined;
      if (ref.includes(':')) {
        if (!DIGEST.test(ref)) {
          sendError(res, 400, 'DIGEST_INVALID', `${ref}: unsupported or malformed digest`, head);
          return;
        }
        digest = ref;
        mediaType = repo.manifests.get(ref);
      } else {
        const top = repo.tags.get(ref);
        digest = top?.digest ?? '';
        mediaType = top?.mediaType;
      }
      const size = mediaType ? await source.blobSize(digest) : undefined;
      if (!mediaType || size === undefined) {
        sendError(res, 404, 'MANIFEST_UNKNOWN', `manifest ${ref} is not in ${name}`, head, { name, reference: ref });
        return;
      }
      // Small: read whole (capped) and checked against its digest before a 200 is sent, HEAD included.
      let bytes: Buffer;
      try {
        bytes = await source.readBlob(digest, MAX_MANIFEST_BYTES, `${name} manifest`);
      } catch (err) {
        if (!(err instanceof FerryError) || err.code !== 'VERIFY') throw err;
        sendError(res, 500, 'MANIFEST_INVALID', err.message, head, { name, reference: ref });
        return;
      }
      const headers = { 'Content-Type': mediaType, 'Docker-Content-Digest': digest, ETag: `"${digest}"` };
      // As for blobs: a client holding this digest (If-None-Match) gets 304, one asking for another
      // (If-Match) 412. Answered only once the bytes were checked: a damaged manifest is never 304.
      if (answeredByPreconditions(req, res, headers)) return;
      res.writeHead(200, { ...headers, 'Content-Length': String(bytes.length) });
      res.end(head ? undefined : bytes);
      return;
    }
    // blobs
    if (!DIGEST.test(ref)) {
      sendError(res, 400, 'DIGEST_INVALID', `${ref}: unsupported or malformed digest`, head);
      return;
    }
    const reachable = repo.blobs.has(ref) || repo.manifests.has(ref);
    const size = reachable ? await source.blobSize(ref) : undefined;
    if (size === undefined) {
      sendError(res, 404, 'BLOB_UNKNOWN', `blob ${ref} is not in ${name}`, head, { digest: ref });
      return;
    }
    const headers = { 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': ref, ETag: `"${ref}"` };
    if (!(await source.send(req, res, ref, size, headers, `${name} blob`))) {
      sendError(res, 500, 'DIGEST_INVALID', source.damaged(`${name} blob`, ref), head, { digest: ref });
    }
  };
}
