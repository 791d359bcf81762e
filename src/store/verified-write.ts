import { createHash } from 'node:crypto';
import { constants as fsc, createReadStream } from 'node:fs';
import { lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError } from '../errors.js';
import { identityOf, renameIntoPlace, writeHeldTemp, type FileIdentity } from './temp-files.js';
import { checkInsideTarget, statInsideTarget } from './confined-dirs.js';
import { noteItemDone } from './young-gc.js';

/**
 * The one verified write (DESIGN.md, "Stream everything"): bytes go to a temporary name, are
 * hashed while they are written, and are renamed into place only when the digest (and size)
 * matched; on a mismatch the temporary file is removed and a VERIFY error names the artifact.
 * Resumable downloads append to their own `.partial` file and end in `renameVerified`.
 */

/** The hint for bytes read back from a verified bundle that no longer match (the bundle changed on disk). */
export const BUNDLE_DAMAGED = 'The bundle is damaged; run `ferry bundle verify`.';

/** What the bytes must be. `digest` is `sha256:<hex>`; `sha512` is hex. Absent values are not checked. */
export interface Expected {
  digest?: string;
  size?: number;
  sha512?: string;
}

/** What the bytes were. */
export interface Actual {
  digest: string;
  size: number;
  sha512?: string;
  /** The file hashed, as its descriptor saw it (a resumable download's PartialState.id): the rename checks it is still that file. */
  id?: FileIdentity;
}

export interface VerifyLabel {
  /** Names the artifact (and where it goes) in the error: `docker.io/library/alpine:3.20 layer sha256:…`. */
  label: string;
  /** What to do about a mismatch. */
  hint?: string;
}

/** Every way `actual` differs from `expected`, worded for a user; empty when they agree. */
export function mismatches(expected: Expected, actual: Actual): string[] {
  const problems: string[] = [];
  if (expected.digest !== undefined && actual.digest !== expected.digest) problems.push(`digest mismatch (content hashes to ${actual.digest})`);
  if (expected.sha512 !== undefined && actual.sha512 !== expected.sha512) {
    problems.push(`sha512 mismatch (content hashes to ${(actual.sha512 ?? '').slice(0, 16)}…, pinned ${expected.sha512.slice(0, 16)}…)`);
  }
  if (expected.size !== undefined && actual.size !== expected.size) problems.push(`got ${actual.size} bytes, expected ${expected.size}`);
  return problems;
}

function verifyError(problems: string[], opts: VerifyLabel): FerryError {
  return new FerryError('VERIFY', `${opts.label}: ${problems.join('; ')}`, opts.hint ? { hint: opts.hint } : {});
}

/**
 * The end of every verified write: rename `tmp` to `dest` when `actual` matches `expected`;
 * otherwise remove `tmp` and throw a VERIFY error naming the artifact.
 */
export async function renameVerified(tmp: string, dest: string, expected: Expected, actual: Actual, opts: VerifyLabel): Promise<void> {
  const problems = mismatches(expected, actual);
  if (problems.length) {
    await rm(tmp, { force: true });
    throw verifyError(problems, opts);
  }
  await checkInsideTarget(dest);
  if (actual.id === undefined) {
    await mkdir(path.dirname(dest), { recursive: true });
    await rename(tmp, dest);
    return;
  }
  // What is renamed into place must be the file hashed: one renamed over the `.partial` name of a
  // shared cache (or written into) between its hash and this rename is refused and removed.
  await renameIntoPlace(tmp, dest, actual.id).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
}

/**
 * Stream `src` to `dest` through a temp name, hashing (sha256) while writing; more bytes than
 * `expected.size` stop the stream at once. Returns the bytes written. Creates the directory.
 */
export async function verifiedWrite(
  dest: string,
  src: Readable | NodeJS.ReadableStream,
  expected: Expected,
  opts: VerifyLabel & { onProgress?: (bytes: number) => void },
): Promise<number> {
  await checkInsideTarget(dest);
  const hash = createHash('sha256');
  let size = 0;
  const check = new Transform({
    transform(chunk: Buffer, _e, cb) {
      size += chunk.length;
      if (expected.size !== undefined && size > expected.size) {
        cb(verifyError([`more than the expected ${expected.size} bytes`], opts));
        return;
      }
      hash.update(chunk);
      opts.onProgress?.(chunk.length);
      cb(null, chunk);
    },
  });
  // The temp name sweeps the temp files that runs killed mid-write left in dest's directory.
  // Written through the one descriptor (each chunk whole): what is renamed into place is the file
  // hashed, checked by its identity (writeHeldTemp); another file found at dest just after is
  // accepted only when it holds the verified bytes too (a concurrent writer of the same blob).
  const placed = async (file: string) => expected.digest !== undefined && (await lstat(file).then((st) => st.isFile(), () => false)) && (await hasSameContent(file, expected.digest, size));
  await writeHeldTemp(dest, async (fh) => {
    await pipeline(src, check, async (chunks: AsyncIterable<Buffer>) => {
      for await (const c of chunks) await fh.writeFile(c);
    });
    const problems = mismatches(expected, { digest: 'sha256:' + hash.digest('hex'), size });
    if (problems.length) throw verifyError(problems, opts);
  }, { placed });
  noteItemDone();
  return size;
}

/**
 * A blob of a verified bundle streamed to a file of the target (file and APT imports): hashed
 * again on the way, since the bundle on disk may have changed since it was verified.
 */
export function writeVerified(src: Readable | NodeJS.ReadableStream, dest: string, expectedDigest: string, label: string, onProgress?: (n: number) => void): Promise<number> {
  return verifiedWrite(dest, src, { digest: expectedDigest }, { label, hint: BUNDLE_DAMAGED, onProgress });
}

/** `sha256:<hex>` of a file, streamed; undefined when it cannot be read. */
export async function sha256OfFile(file: string): Promise<string | undefined> {
  await checkInsideTarget(file);
  return sha256Unchecked(file);
}

async function sha256Unchecked(file: string): Promise<string | undefined> {
  const hash = createHash('sha256');
  try {
    await pipeline(
      createReadStream(file),
      new Transform({
        transform(chunk: Buffer, _e, cb) {
          hash.update(chunk);
          cb();
        },
      }),
    );
  } catch {
    return undefined;
  }
  return 'sha256:' + hash.digest('hex');
}

/**
 * The identity of `file` (FileIdentity) when it holds `digest` and `size`, hashed through one
 * descriptor; undefined when it does not (or cannot be read). A hard link made of `file` afterwards
 * and found with this identity is the file hashed, unchanged: what a link by path links is
 * whatever the name holds then, so the link, not the name, is what is checked.
 */
export async function verifiedIdentity(file: string, digest: string, size: number): Promise<FileIdentity | undefined> {
  await checkInsideTarget(file);
  const fh = await open(file, fsc.O_RDONLY | fsc.O_NONBLOCK).catch(() => undefined);
  if (!fh) return undefined;
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size !== size) return undefined;
    const hash = createHash('sha256');
    for await (const c of fh.createReadStream({ autoClose: false, start: 0 }) as AsyncIterable<Buffer>) hash.update(c);
    if ('sha256:' + hash.digest('hex') !== digest) return undefined;
    const after = identityOf(await fh.stat());
    return after.size === size && after.mtimeMs === st.mtimeMs ? after : undefined;
  } catch {
    return undefined;
  } finally {
    await fh.close();
  }
}

/**
 * How a presence check treats a path under a target directory that is not there (statInsideTarget):
 * `complete` (the default) also checks where the deepest part that exists leads, so a link leading
 * outside or nowhere is named now; `complete: false` is for a check whose "not there" is followed by
 * a write that checks its own path (through held directories): one call for a missing file.
 */
export interface PresenceCheck {
  complete?: boolean;
}

/** True when `file` is a regular file of `size` bytes (its content not read). */
export async function presentWithSize(file: string, size: number, opts: PresenceCheck = {}): Promise<boolean> {
  const got = await statInsideTarget(file, opts);
  return got !== undefined && got.st.isFile() && got.st.size === size;
}

/** True when `file` exists with this size and sha256 (its real path checked once, then read). */
export async function hasSameContent(file: string, digest: string, size: number, opts: PresenceCheck = {}): Promise<boolean> {
  const got = await statInsideTarget(file, opts);
  if (got === undefined || !got.st.isFile() || got.st.size !== size) return false;
  return (await sha256Unchecked(got.real)) === digest;
}

/** What `readRegularFile` found instead of bytes. */
export interface NotRead {
  /** `special`: a FIFO, socket or device; `directory`; `link`: a symbolic link (not followed); `too-large`: past the limit; `unreadable`: an fs error. */
  why: 'special' | 'directory' | 'link' | 'too-large' | 'unreadable';
  reason: string;
  err?: unknown;
}

/** What a file that is not a regular file is, in words. */
export function specialKind(s: { isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isDirectory(): boolean }): string {
  return s.isFIFO() ? 'a FIFO' : s.isSocket() ? 'a socket' : s.isCharacterDevice() || s.isBlockDevice() ? 'a device' : s.isDirectory() ? 'a directory' : 'not a regular file';
}

/**
 * A regular file's bytes, at most `limit`, from a file that arrived from outside (a scanned tree,
 * a file to rewrite): opened without blocking (a FIFO is refused, never waited on) and, unless
 * `follow`, without following a symbolic link; checked to be a regular file through the one
 * descriptor read; read only up to the limit, so a file that says it is empty but streams forever
 * (`/proc`) or grows while read stops there too.
 */
export async function readRegularFile(file: string, limit: number, opts: { follow?: boolean } = {}): Promise<Buffer | NotRead> {
  let fh;
  try {
    fh = await open(file, fsc.O_RDONLY | fsc.O_NONBLOCK | (opts.follow ? 0 : fsc.O_NOFOLLOW));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP' && !opts.follow) return { why: 'link', reason: 'a symbolic link, not followed', err };
    return { why: 'unreadable', reason: `cannot read: ${(err as Error).message}`, err };
  }
  try {
    const s = await fh.stat();
    if (!s.isFile()) return { why: s.isDirectory() ? 'directory' : 'special', reason: `${specialKind(s)}, not read` };
    if (s.size > limit) return { why: 'too-large', reason: `${s.size} bytes` };
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      // Sized by the file's size (at least 64 KiB: /proc files say 0): a scan reads thousands of
      // small files, and 1 MiB for each (twice, with the read that finds the end) was gigabytes
      // of buffers for the garbage collector, hundreds of MB of RSS.
      const buf = Buffer.allocUnsafe(Math.min(1024 * 1024, limit + 1 - total, Math.max(64 * 1024, s.size - total + 1)));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (!bytesRead) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > limit) return { why: 'too-large', reason: `more than ${limit} bytes` };
    }
    return Buffer.concat(chunks, total);
  } catch (err) {
    return { why: 'unreadable', reason: `cannot read: ${(err as Error).message}`, err };
  } finally {
    await fh.close();
  }
}
