import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { FerryError } from '../../errors.js';
import { singleFlight } from '../../net/concurrency.js';
import { pipeWithErrors, UnplaceableRangeError, type HttpClient, type RangedBody } from '../../net/http.js';
import { RetryableError, withRetry } from '../../net/retry.js';
import type { BlobStore } from '../../store/blob-store.js';
import { appendToPartial, readPartial, resetPartial } from '../../store/resumable.js';
import { renameVerified } from '../../store/verified-write.js';
import { DEFAULT_MAX_FILE_BYTES } from './spec.js';

/** Files are checked against SHA-256 and SHA-512 alike, whichever the checksum file gives. */
const HASHES = ['sha256', 'sha512'];

export interface Expected {
  size?: number;
  sha256?: string;
  sha512?: string;
}

export interface Downloaded {
  digest: string;
  size: number;
  sha512?: string;
}

export interface DownloadOptions {
  label: string;
  onProgress?: (n: number) => void;
  onRetry?: (m: string) => void;
  /** Nothing reads the file back before packing: with direct packing it goes straight into the bundle. */
  deferrable?: boolean;
  /** Bound on the bytes taken when `expect.size` is unknown (default DEFAULT_MAX_FILE_BYTES). */
  maxSize?: number;
  /** Sent with every request for the file (a bearer token for its origin); HttpClient drops Authorization on a redirect to another origin. */
  headers?: Record<string, string>;
  /** The URL whose answer named `url` (a chart index naming its archive): held to the redirect rule (net/http.ts `namedBy`). */
  namedBy?: string;
}

/** `body`, failing (VERIFY) once more than `bound` bytes in all (counting from `offset`) came through. */
function bounded(body: Readable, offset: number, bound: number, what: string): Readable {
  let seen = offset;
  const cap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > bound) {
        cb(
          new FerryError('VERIFY', `${what}: the server sent more than ${bound} bytes, the bound for a file with no pinned size; download stopped, nothing kept`, {
            hint: 'If the file really is this large, set size: (or a larger maxSize:) on its files: entry in the manifest.',
          }),
        );
        return;
      }
      cb(null, chunk);
    },
  });
  return pipeWithErrors(body, cap);
}

/**
 * The version of the file a trust-on-first-use partial holds: what the server named it by
 * (a strong ETag, else Last-Modified) and its size. Nothing checks such a download afterwards,
 * so it resumes only from the same version: If-Range asks the server for that, and a 206 that
 * names another version (or none) starts the download over. Without a version it never
 * resumes: the hash `ferry lock` pins is of one file as the server sent it, never of the first
 * part of one version followed by the rest of another.
 */
interface PartialVersion {
  validator: string;
  total?: number;
}

async function readVersion(file: string): Promise<PartialVersion | undefined> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as Partial<PartialVersion>;
    return typeof v.validator === 'string' && (v.total === undefined || Number.isSafeInteger(v.total)) ? { validator: v.validator, ...(v.total !== undefined ? { total: v.total } : {}) } : undefined;
  } catch {
    return undefined;
  }
}

function sameVersion(version: PartialVersion | undefined, answer: RangedBody): boolean {
  if (!version || answer.validator !== version.validator) return false;
  return version.total === undefined || answer.total === undefined || answer.total === version.total;
}

/**
 * Download `url` into the store, verified while it streams and resumed with Range after a
 * dropped connection. With sha256 and size known this is BlobStore.ingest; a file pinned by
 * sha512 only (or with no size) streams to `<store>/ingest/<hash>.partial`, hashed with both
 * algorithms, and is renamed to its sha256 blob path only after every pinned value matched.
 */
export function downloadToStore(
  store: BlobStore,
  http: HttpClient,
  url: string,
  expect: Expected,
  opts: DownloadOptions,
): Promise<Downloaded> {
  // One download per content at a time: two repositories (or suites) often list the same index or .deb.
  const key = expect.sha512 ?? expect.sha256 ?? `url:${url}`;
  return oneDownload(`${store.root}\0${key}`, () => download(store, http, url, expect, opts));
}

const oneDownload = singleFlight<string, Downloaded>();

async function download(
  store: BlobStore,
  http: HttpClient,
  url: string,
  expect: Expected,
  opts: DownloadOptions,
): Promise<Downloaded> {
  // Neither hash known: trust on first use (ferry lock pins what this download hashes to).
  const tofu = !expect.sha256 && !expect.sha512;
  if (expect.sha256 && expect.size !== undefined && !expect.sha512) {
    const desc = { digest: `sha256:${expect.sha256}`, size: expect.size };
    await store.ingest(desc, (offset) => http.openAt(url, offset, { label: opts.label, headers: opts.headers, namedBy: opts.namedBy }), {
      label: `${opts.label} (${url})`,
      onProgress: opts.onProgress,
      onRetry: opts.onRetry,
      deferrable: opts.deferrable,
    });
    return desc;
  }
  const key = expect.sha512 ?? expect.sha256 ?? `url-${createHash('sha256').update(url).digest('hex')}`;
  const partial = path.join(store.root, 'ingest', `${key}.partial`);
  const done = path.join(store.root, 'ingest', `${key}.done`);
  await mkdir(path.dirname(partial), { recursive: true });
  // A file pinned by sha512 only: an earlier run recorded which sha256 blob it became.
  const known = await readFile(done, 'utf8').then((t) => /^sha256:([a-f0-9]{64}) (\d+)$/.exec(t.trim()), () => null);
  const consistent = known && (!expect.sha256 || known[1] === expect.sha256) && (expect.size === undefined || Number(known[2]) === expect.size);
  if (!tofu && known && consistent && (await store.has({ digest: `sha256:${known[1]}`, size: Number(known[2]) }))) {
    return { digest: `sha256:${known[1]}`, size: Number(known[2]), ...(expect.sha512 ? { sha512: expect.sha512 } : {}) };
  }
  // The version of the file the partial holds (trust on first use only): see resumable().
  const versionFile = `${partial}.version`;
  let version = tofu ? await readVersion(versionFile) : undefined;
  let state = await readPartial(partial, HASHES);
  const restart = async () => {
    state = await resetPartial(partial, HASHES);
    version = undefined;
    await rm(versionFile, { force: true });
  };
  if (expect.size !== undefined && state.size > expect.size) await restart();
  await withRetry(
    `${opts.label} (${url})`,
    async () => {
      // What a server that names no version sent cannot be continued: nothing says the rest is of the same file.
      if (tofu && state.size > 0 && !version) await restart();
      if (expect.size !== undefined && state.size >= expect.size) return;
      // A partial an interrupted run left whole (the size its version named): nothing more to ask for.
      if (tofu && version?.total !== undefined && state.size === version.total) return;
      let answer: RangedBody;
      try {
        answer = await http.openRange(url, state.size, { label: opts.label, headers: opts.headers, namedBy: opts.namedBy, ...(version ? { ifRange: version.validator } : {}) });
      } catch (err) {
        // A 206 whose bytes have no place in the file: the next attempt asks for the whole file.
        if (err instanceof UnplaceableRangeError) await restart();
        throw err;
      }
      if (state.size > 0 && answer.start === 0) {
        // A 200 to a range request is the whole file (the server ignores Range, or If-Range
        // said the file changed): it replaces what the partial held rather than being cut to fit.
        await restart();
      } else if (tofu && state.size > 0 && !sameVersion(version, answer)) {
        answer.body.destroy();
        await restart();
        throw new RetryableError(`${opts.label} (${url}): the server answered the resumed range from another version of the file than the first part came from; starting over`);
      }
      if (tofu && state.size === 0) {
        version = answer.validator ? { validator: answer.validator, ...(answer.total !== undefined ? { total: answer.total } : {}) } : undefined;
        if (version) await writeFile(versionFile, JSON.stringify(version));
        else await rm(versionFile, { force: true });
      }
      const body = answer.body;
      // No size pinned (trust on first use, or a checksum with no size): the disk use is still bounded.
      const stream = expect.size === undefined ? bounded(body, state.size, opts.maxSize ?? DEFAULT_MAX_FILE_BYTES, `${opts.label} (${url})`) : body;
      await appendToPartial(partial, HASHES, state, stream, {
        maxSize: expect.size,
        label: `${opts.label} (${url})`,
        onProgress: opts.onProgress,
      });
      if (expect.size !== undefined && state.size < expect.size) {
        throw new RetryableError(`connection ended after ${state.size} of ${expect.size} bytes`);
      }
      if (tofu && version?.total !== undefined && state.size !== version.total) {
        if (state.size < version.total) throw new RetryableError(`connection ended after ${state.size} of ${version.total} bytes`);
        throw new FerryError('VERIFY', `${opts.label} (${url}): the server sent ${state.size} bytes of a file it said has ${version.total}; nothing kept`, {
          hint: 'The server (or something in between) is broken; try again later or ask its operator.',
        });
      }
    },
    undefined,
    opts.onRetry,
  ).catch(async (err) => {
    if (err instanceof FerryError && err.code === 'VERIFY') {
      await rm(partial, { force: true });
      await rm(versionFile, { force: true });
    }
    throw err;
  });
  await rm(versionFile, { force: true });
  const [sha256, sha512] = state.hashes.map((h) => h.digest('hex'));
  await renameVerified(
    partial,
    store.blobPath(`sha256:${sha256}`),
    { ...(expect.sha256 ? { digest: `sha256:${expect.sha256}` } : {}), sha512: expect.sha512, size: expect.size },
    { digest: `sha256:${sha256}`, sha512, size: state.size, id: state.id },
    {
      label: `${opts.label} (${url})`,
      hint: 'The server sent different bytes than the checksum names. Nothing was kept; if the upstream file changed on purpose, run `ferry lock` again.',
    },
  );
  await writeFile(done, `sha256:${sha256} ${state.size}\n`);
  return { digest: `sha256:${sha256}`, size: state.size, sha512 };
}

