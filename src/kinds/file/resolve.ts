import { FerryError } from '../../errors.js';
import { headerValue, discard } from '../../net/http.js';
import { isClearSigned, MAX_SIGNATURE_BYTES, readPublicKeys, verifyClearSigned, verifyDetached } from '../../net/pgp.js';
import type { ProgressTask } from '../../ui/progress.js';
import { byCodePoint } from './artifact.js';
import { explainFileAuthError, fileAuthHeaders } from './auth.js';
import { resolveEach } from '../failures.js';
import type { KindContext } from '../types.js';
import { parseChecksumFile, requireChecksum } from './checksums.js';
import { downloadToStore } from './download.js';
import { FileTree, placeUrl } from './paths.js';
import { clip } from '../../mapping/mirror-tree.js';
import { ANY_TARGET, foldedClashes } from '../../store/name-folding.js';
import type { FileLock, PinnedFile } from './lock.js';
import { DEFAULT_MAX_FILE_BYTES, type FileSpec } from './spec.js';

interface FetchedSmall {
  bytes: Buffer;
  pinned: PinnedFile;
}

/** Fetch a small upstream file (checksum file, signature) and keep it in the store for the bundle. */
async function fetchSmall(url: string, label: string, ctx: KindContext, cache: Map<string, Promise<FetchedSmall>>, headers: Record<string, string> = {}, maxBytes = 64 * 1024 * 1024): Promise<FetchedSmall> {
  // Keyed by the credential too: the same URL fetched with and without a token is not one answer.
  const key = `${headers.authorization ? 'auth\0' : ''}${url}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const bytes = await ctx.http.getBytes(url, { label, maxBytes, headers });
      const d = await ctx.store.putBytes(bytes);
      return { bytes, pinned: { url, sha256: d.digest.slice(7), size: d.size } };
    })();
    cache.set(key, p);
  }
  return p;
}

async function headSize(url: string, ctx: KindContext, headers: Record<string, string>): Promise<number | undefined> {
  try {
    const res = await ctx.http.request(url, { method: 'HEAD', headers });
    await discard(res.body);
    if (res.status < 200 || res.status >= 300) return undefined;
    const len = headerValue(res.headers, 'content-length');
    // 0 from a HEAD is more often a server quirk than an empty file; the download will tell.
    return len !== undefined && /^\d+$/.test(len) && Number(len) > 0 ? Number(len) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Pin one file: its checksum from the manifest or from the checksum file (whose signature is
 * verified with the given keys before any line of it is trusted), and its size from the server.
 */
export async function resolveFile(spec: FileSpec, ctx: KindContext, cache: Map<string, Promise<FetchedSmall>> = new Map(), task?: ProgressTask): Promise<FileLock> {
  try {
    return await resolveOne(spec, ctx, cache, task);
  } catch (err) {
    throw explainFileAuthError(err, spec.auth);
  }
}

async function resolveOne(spec: FileSpec, ctx: KindContext, cache: Map<string, Promise<FetchedSmall>>, task?: ProgressTask): Promise<FileLock> {
  const label = `files[${spec.name}]`;
  const auth = (url: string) => fileAuthHeaders(spec.auth, spec.url, url, label);
  const fileHeaders = auth(spec.url);
  let sha256 = spec.sha256;
  let sha512 = spec.sha512;
  let checksums: FileLock['checksums'];
  if (spec.checksums) {
    const c = spec.checksums;
    const where = `${label} ${c.url}`;
    const keys = c.keys?.length ? await readPublicKeys(c.keys, ctx.manifestDir, label) : undefined;
    const sums = await fetchSmall(c.url, label, ctx, cache, auth(c.url));
    let text: string;
    let signedBy: string | undefined;
    let signature: PinnedFile | undefined;
    if (c.signature) {
      if (!keys) {
        throw new FerryError('VALIDATION', `${label}: checksums.signature is set but checksums.keys is empty`, {
          hint: 'List the OpenPGP public key files that sign the checksum file under checksums.keys.',
        });
      }
      const sig = await fetchSmall(c.signature, label, ctx, cache, auth(c.signature), MAX_SIGNATURE_BYTES);
      signedBy = await verifyDetached(sums.bytes, sig.bytes, keys, `${where} (signature ${c.signature})`);
      signature = sig.pinned;
      text = sums.bytes.toString('utf8');
      if (isClearSigned(sums.bytes)) text = (await verifyClearSigned(sums.bytes, keys, where)).text;
    } else if (isClearSigned(sums.bytes)) {
      if (!keys) {
        throw new FerryError('VALIDATION', `${where}: the checksum file is clear-signed but checksums.keys is empty`, {
          hint: 'List the OpenPGP public key files that sign it under checksums.keys.',
        });
      }
      const v = await verifyClearSigned(sums.bytes, keys, where);
      text = v.text;
      signedBy = v.signer;
    } else {
      if (keys) {
        throw new FerryError('VERIFY', `${where}: checksums.keys is set but the checksum file is not signed`, {
          hint: 'Give the detached signature URL as checksums.signature (e.g. SHA256SUMS.gpg), or drop keys: if the vendor does not sign it.',
        });
      }
      text = sums.bytes.toString('utf8');
    }
    const found = requireChecksum(parseChecksumFile(text), spec.url, c.url, c.algorithm, label);
    const pinned = found.algorithm === 'sha256' ? spec.sha256 : spec.sha512;
    if (pinned && pinned !== found.hex) {
      throw new FerryError('VERIFY', `${label}: ${found.algorithm} in the manifest (${pinned}) differs from ${c.url} (${found.hex})`, {
        hint: 'One of them is out of date; remove the inline checksum or correct it.',
      });
    }
    if (found.algorithm === 'sha256') sha256 = found.hex;
    else sha512 = found.hex;
    checksums = { file: sums.pinned, ...(signature ? { signature } : {}), ...(signedBy ? { signedBy } : {}) };
  }
  let size = spec.size ?? (await headSize(spec.url, ctx, fileHeaders));
  const bound = spec.maxSize ?? DEFAULT_MAX_FILE_BYTES;
  if (spec.size === undefined && size !== undefined && size > bound) {
    throw new FerryError('VERIFY', `${label} (${spec.url}): the server announces ${size} bytes, more than the ${bound}-byte bound for a file with no size in the manifest; not downloaded`, {
      hint: 'If the file really is this large, set size: (or a larger maxSize:) on its files: entry in the manifest.',
    });
  }
  if (!sha256 && !sha512) {
    // No published checksum: pin what the file hashes to now (trust on first use); every later fetch must match it.
    task?.status('downloading to pin its checksum');
    const got = await downloadToStore(ctx.store, ctx.http, spec.url, { size }, { label, maxSize: spec.maxSize, headers: fileHeaders, onProgress: (n) => task?.advance(n), onRetry: (m) => ctx.progress.log(m) });
    sha256 = got.digest.slice(7);
    size = got.size;
  }
  return {
    name: spec.name,
    url: spec.url,
    ...(size !== undefined ? { size } : {}),
    ...(sha256 ? { sha256 } : {}),
    ...(sha512 ? { sha512 } : {}),
    ...(spec.auth ? { auth: spec.auth } : {}),
    ...(size === undefined && spec.maxSize !== undefined ? { maxSize: spec.maxSize } : {}),
    ...(checksums ? { checksums } : {}),
  };
}

/**
 * Pin every file (first entry of a name wins; a name used for two URLs is a validation error),
 * each on its own: one that fails does not stop the others.
 */
export async function resolveFiles(specs: FileSpec[], ctx: KindContext): Promise<FileLock[]> {
  const byName = new Map<string, string>();
  const problems: string[] = [];
  for (const s of specs) {
    const prev = byName.get(s.name);
    if (prev !== undefined && prev !== s.url) problems.push(`files: name ${s.name} is used for ${prev} and ${s.url}`);
    else byName.set(s.name, s.url);
  }
  if (problems.length) {
    throw new FerryError('VALIDATION', `${problems.length} duplicate file name${problems.length === 1 ? '' : 's'}`, {
      details: problems,
      hint: 'Give each file a unique name (use <var> placeholders in name: when a list var multiplies the entry).',
    });
  }
  const seen = new Set<string>();
  const unique = specs.filter((s) => !seen.has(s.name) && Boolean(seen.add(s.name)));
  // Before any request: every URL has a place of its own in the files tree import writes.
  const tree = new FileTree();
  const placedAt = new Map<string, string>();
  for (const s of unique) {
    for (const url of [s.url, s.checksums?.url, s.checksums?.signature]) {
      const placed = url === undefined ? undefined : placeUrl(tree, url);
      if (placed && 'problem' in placed) problems.push(`files[${s.name}] ${url}: ${placed.problem}`);
      else if (placed && url !== undefined && !placedAt.has(placed.path)) placedAt.set(placed.path, `files[${s.name}] ${url}`);
    }
  }
  // The target is not known here: names one on any file system (Foo.iso and foo.iso, café composed
  // and decomposed) would have the second replace the first on a case-insensitive or normalizing one.
  for (const [a, b] of foldedClashes(placedAt.keys(), ANY_TARGET)) {
    problems.push(`${placedAt.get(b)}: its mirror path ${clip(b)} and that of ${placedAt.get(a)}, ${clip(a)}, are one name on a file system that ignores case or Unicode normalization (Windows and SMB shares, macOS, ext4 casefold): there the second would replace the first`);
  }
  if (problems.length) {
    throw new FerryError('VALIDATION', `${problems.length} file URL${problems.length === 1 ? '' : 's'} with no place of ${problems.length === 1 ? 'its' : 'their'} own on the mirror`, {
      details: problems,
      hint: 'Import writes each file under files.dir/<host>/<path>. Drop one of two URLs that land on the same path (a query string is not part of it; nor, on many file systems, case or Unicode normalization), or carry the file from a URL with a plain path; no lock was written.',
    });
  }
  const cache = new Map<string, Promise<FetchedSmall>>();
  const entries = await resolveEach(
    unique,
    ctx,
    (s) => s.url,
    (s, task) => resolveFile(s, ctx, cache, task),
    (e) => (e.checksums?.signedBy ? `resolved, checksum signed by ${e.checksums.signedBy}` : e.checksums ? 'resolved from its checksum file' : 'resolved'),
  );
  return entries.sort((a, b) => byCodePoint(a.name, b.name) || byCodePoint(a.url, b.url));
}
