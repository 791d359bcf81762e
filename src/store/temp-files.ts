import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Temporary files: every write that is renamed into place goes through `<dest>.ferry-<pid>-<rand>.tmp`.
 * A run killed mid-write (kill -9, power loss) leaves its temp file behind; the next run that
 * opens the directory removes the temp files of processes that are gone, so reruns do not pile
 * up tens of MB of dead `.tmp` files.
 *
 * Liveness is by pid: a temp file of a live process (a concurrent ferry) is left alone. A pid can
 * be reused (in a container every run may be pid 1): a file carrying this process's own pid that
 * this process did not create is stale too.
 */

/** Temp paths this process handed out (and may still be writing). */
const mine = new Set<string>();
/**
 * Tails (`<pid>-<8 hex>`) of temp names this process hands out for many files at once (import's
 * staged blobs, tens of thousands of them): one entry per tail instead of one per path.
 */
const mineTails = new Set<string>();
/** Directories already swept by this process: each is swept once, not on every write. */
const swept = new Map<string, Promise<string[]>>();

/** `<dest>.ferry-<pid>-<8 hex>.tmp`: unique per call, recognisable by the sweep. */
export function tempPathFor(dest: string): string {
  const tmp = `${dest}.ferry-${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  mine.add(tmp);
  return tmp;
}

/**
 * A tail for many temp names (tempPathWithTail), all this process's: kept as one entry, so a
 * writer of tens of thousands of temp files need not hold each path.
 */
export function tempTail(): string {
  const tail = `${process.pid}-${randomBytes(4).toString('hex')}`;
  mineTails.add(tail);
  return tail;
}

/** `<dest>.ferry-<tail>.tmp`, a name tempTail's caller owns: unique per dest. */
export function tempPathWithTail(dest: string, tail: string): string {
  return `${dest}.ferry-${tail}.tmp`;
}

/** Forget a temp path once it was renamed into place or removed. */
export function releaseTemp(tmp: string): void {
  mine.delete(tmp);
}

/** Current and earlier ferry temp names (for files written before this helper): the pid they carry. */
const TEMP_NAMES: RegExp[] = [
  /\.ferry-(\d+)(?:-[0-9a-f]+)?\.tmp$/,
  // Earlier blob writes in layout directories and the blob store: `<64 hex>.<pid>.<8 hex>.tmp`.
  /^[0-9a-f]{64}\.(\d+)\.[0-9a-f]{8}\.tmp$/,
  // Earlier index.json writes: `index.json.<pid>.<8 hex>.tmp`.
  /^index\.json\.(\d+)\.[0-9a-f]{8}\.tmp$/,
];

function pidOf(name: string): number | undefined {
  for (const re of TEMP_NAMES) {
    const m = re.exec(name);
    if (m) return Number(m[1]);
  }
  return undefined;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isStale(file: string, pid: number): boolean {
  if (pid === process.pid) return !mine.has(file) && !mineTails.has(/\.ferry-(\d+-[0-9a-f]+)\.tmp$/.exec(file)?.[1] ?? '');
  return !processAlive(pid);
}

/**
 * Remove the temp files in `dir` (not below it) left by processes that are gone. Returns the
 * names removed. A missing directory is nothing to sweep.
 */
export async function sweepStaleTemps(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = pidOf(name);
    if (pid === undefined) continue;
    const file = path.join(dir, name);
    if (!isStale(file, pid)) continue;
    await rm(file, { force: true });
    removed.push(name);
  }
  return removed;
}

/** Sweep `dir` once per process (later calls share the first sweep). */
export function sweepStaleTempsOnce(dir: string): Promise<string[]> {
  const key = path.resolve(dir);
  let p = swept.get(key);
  if (!p) {
    p = sweepStaleTemps(key);
    swept.set(key, p);
  }
  return p;
}

/**
 * A temp path for writing `dest`, after the stale temp files of earlier runs in its directory
 * were removed: the one call a writer needs.
 */
export async function freshTempPath(dest: string): Promise<string> {
  await sweepStaleTempsOnce(path.dirname(dest));
  return tempPathFor(dest);
}

/**
 * Write `dest` through a temp name: `write(tmp)` writes (and checks) the content; only when it
 * resolves is the temp file renamed into place. On any failure the temp file is removed. The
 * directory must exist.
 */
export async function writeViaTemp<T>(dest: string, write: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = await freshTempPath(dest);
  try {
    const result = await write(tmp);
    await rename(tmp, dest);
    return result;
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    releaseTemp(tmp);
  }
}

/**
 * Replace `dest` with `data` atomically (a reader sees the old or the new content, never half a
 * file): written to a temp name beside it, then renamed. Creates the directory.
 */
export async function writeFileAtomic(dest: string, data: string | Uint8Array, mode?: number): Promise<void> {
  await mkdir(path.dirname(dest), { recursive: true });
  await writeViaTemp(dest, (tmp) => writeFile(tmp, data, mode === undefined ? undefined : { mode }));
}
