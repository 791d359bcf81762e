import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import { bodyFromOffset, discard, headerValue, readCapped, wholeNumber } from '../net/http.js';
import { MANIFEST_ACCEPT, MEDIA_TYPE, checkManifestJson, manifestMediaType } from './media-types.js';
import { isDigest, pullContext, repoLabel, sha256, type RegistryTransport, type RepoRef } from './transport.js';

/** Reads from a registry: manifests (verified against their digest) and blobs (ranged, resumable). */

const DEFAULT_MAX_MANIFEST = 16 * 1024 * 1024;
/** A digest ferry can check: sha256, sha384 or sha512, lower-case hex of the right length. */
const HASHED_DIGEST = /^(?:sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$/;

/** The digest `bytes` have in the algorithm `digest` names; undefined for one ferry cannot compute. */
function digestIn(digest: string, bytes: Uint8Array): string | undefined {
  const algorithm = digest.slice(0, digest.indexOf(':'));
  if (algorithm !== 'sha256' && algorithm !== 'sha384' && algorithm !== 'sha512') return undefined;
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** `digestIn`, or a refusal naming `what` when ferry cannot check that algorithm (nothing is taken unchecked). */
function checkedDigest(digest: string, bytes: Uint8Array, what: string): string {
  const got = digestIn(digest, bytes);
  if (got !== undefined) return got;
  throw new FerryError('VERIFY', `${what}: ferry cannot check a digest of the algorithm ${JSON.stringify(digest.slice(0, digest.indexOf(':')).slice(0, 40))}; refusing the content it names (it would be taken on the registry's word)`, {
    hint: 'Name the image by a sha256 (or sha384, sha512) digest, or by its tag.',
  });
}

export async function getManifest(t: RegistryTransport, repo: RepoRef, reference: string): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
  const ctx = pullContext(repo);
  const what = repoLabel(repo, reference);
  const max = t.opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST;
  return t.retry(`${what} manifest`, async () => {
    const res = await t.send(ctx, 'GET', `/v2/${repo.repository}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT } });
    if (res.status !== 200) {
      if (res.status === 404) {
        await discard(res.body);
        throw new FerryError('NOT_FOUND', `${what}: manifest not found on ${repo.registry}`, {
          hint: `Check that ${repo.repository} exists on ${repo.registry} and has ${isDigest(reference) ? 'that digest' : `the tag ${reference}`}.`,
        });
      }
      await t.fail(res, `${what} manifest`, ctx);
    }
    const bytes = await readCapped(res.body, max, `${what}: manifest larger than ${max} bytes`);
    const digest = sha256(bytes);
    if (isDigest(reference)) {
      // Asked for by digest: the bytes must have it, in whichever algorithm it names (a sha512
      // pin was taken on the registry's word: any manifest it served was locked).
      const got = checkedDigest(reference, bytes, what);
      if (got !== reference) {
        throw new FerryError('VERIFY', `${what}: manifest digest mismatch (received bytes hash to ${got})`, {
          hint: 'The registry (or something between) served different bytes than the digest names; nothing was kept.',
        });
      }
    }
    const headerDigest = headerValue(res.headers, 'docker-content-digest');
    const headerGot = headerDigest !== undefined && HASHED_DIGEST.test(headerDigest) ? digestIn(headerDigest, bytes) : undefined;
    if (headerGot !== undefined && headerDigest !== headerGot) {
      throw new FerryError('VERIFY', `${what}: manifest digest mismatch (registry says ${headerDigest}, received bytes hash to ${headerGot})`, {
        hint: 'Something between ferry and the registry altered the response; nothing was kept.',
      });
    }
    checkManifestJson(bytes, what);
    return { bytes, mediaType: manifestMediaType(bytes, headerValue(res.headers, 'content-type'), what), digest };
  });
}

export async function headManifest(t: RegistryTransport, repo: RepoRef, reference: string): Promise<{ digest: string; mediaType: string; size: number } | undefined> {
  const ctx = pullContext(repo);
  const what = repoLabel(repo, reference);
  const res = await t.retry(`${what} manifest`, async () => {
    const r = await t.send(ctx, 'HEAD', `/v2/${repo.repository}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT } });
    await discard(r.body);
    if (r.status === 404) return undefined;
    if (r.status !== 200) await t.fail(r, `${what} manifest`, ctx);
    return r;
  });
  if (!res) return undefined;
  // The answer's headers are the registry's word: taken only when each is well formed (a digest
  // of a known algorithm, the one asked for when asking by digest; a size a manifest can have; a
  // media type), else the manifest itself is fetched and hashed. A crafted header would otherwise
  // become a reference (the referrers tag) or a size compared with ours.
  const digest = headerValue(res.headers, 'docker-content-digest');
  const size = wholeNumber(headerValue(res.headers, 'content-length'));
  const ct = headerValue(res.headers, 'content-type')?.split(';')[0].trim();
  const max = t.opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST;
  const digestOk = digest !== undefined && HASHED_DIGEST.test(digest) && (!isDigest(reference) || digest === reference);
  if (digestOk && size !== undefined && size <= max && ct && MEDIA_TYPE.test(ct)) return { digest, mediaType: ct, size };
  const full = await getManifest(t, repo, reference);
  return { digest: full.digest, mediaType: full.mediaType, size: full.bytes.length };
}

/**
 * The size of a blob the repository has, undefined when it has none. `unknownOn500`: a 500 from
 * the registry itself (its Docker-Distribution-API-Version header) also counts as none.
 */
export async function blobSize(t: RegistryTransport, repo: RepoRef, digest: string, opts: { unknownOn500?: boolean } = {}): Promise<number | undefined> {
  const ctx = pullContext(repo);
  const what = `${repoLabel(repo)} blob ${digest}`;
  return t.retry(what, async () => {
    const res = await t.send(ctx, 'HEAD', `/v2/${repo.repository}/blobs/${digest}`);
    await discard(res.body);
    if (res.status === 404) return undefined;
    // The registry itself (not a proxy or gateway in front of it) could not read its record of the blob.
    if (opts.unknownOn500 && res.status === 500 && headerValue(res.headers, 'docker-distribution-api-version')) return undefined;
    if (res.status !== 200) await t.fail(res, what, ctx);
    // A length that is no whole number (a crafted or broken answer) tells nothing: as if absent.
    return wholeNumber(headerValue(res.headers, 'content-length'));
  });
}

/**
 * Open a blob from `offset` (Range). Redirects to a CDN are followed without Authorization.
 * Only the opening is retried here; use it as BlobStore.ingest's openAt so a dropped body
 * resumes from where the store got to.
 */
export async function openBlob(t: RegistryTransport, repo: RepoRef, digest: string, offset = 0): Promise<Readable> {
  const ctx = pullContext(repo);
  const what = `${repoLabel(repo)} blob ${digest}`;
  return t.retry(what, async () => {
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const res = await t.send(ctx, 'GET', `/v2/${repo.repository}/blobs/${digest}`, { headers });
    if (res.status === 404) {
      await discard(res.body);
      throw new FerryError('NOT_FOUND', `${what}: blob not found on ${repo.registry}`, { hint: 'The registry lost a blob its manifest names; tell its operator.' });
    }
    if (res.status !== 200 && res.status !== 206 && res.status !== 416) await t.fail(res, what, ctx);
    return bodyFromOffset(res, offset, what);
  });
}

/** A whole small blob (a config), verified against its digest. */
export async function getBlobBytes(t: RegistryTransport, repo: RepoRef, digest: string, maxBytes = 64 * 1024 * 1024): Promise<Buffer> {
  const what = `${repoLabel(repo)} blob ${digest}`;
  return t.retry(what, async () => {
    const body = await openBlob(t, repo, digest);
    const bytes = await readCapped(body, maxBytes, `${what}: larger than ${maxBytes} bytes`);
    const got = checkedDigest(digest, bytes, what);
    if (got !== digest) {
      throw new FerryError('VERIFY', `${what}: digest mismatch (received content hashes to ${got})`);
    }
    return bytes;
  });
}
