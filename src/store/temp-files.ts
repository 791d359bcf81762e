import { createHash, randomBytes } from 'node:crypto';
import { constants as fsc, mkdtempSync, readFileSync, readlinkSync, rmSync, type Stats } from 'node:fs';
import { access, chmod, chown, lstat, mkdir, mkdtemp, open, readdir, readFile, readlink, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { checkInsideTarget, holdConfinedDir, holdMadeDir, type HeldDir } from './confined-dirs.js';
import { FerryError } from '../errors.js';

/**
 * Temporary files: every write that is renamed into place goes through `<dest>.ferry-<pid>-<rand>.tmp`.
 * A run killed mid-write (kill -9, power loss) leaves its temp file behind; the next run that
 * opens the directory removes the temp files of processes that are gone, so reruns do not pile
 * up tens of MB of dead `.tmp` files.
 *
 * Liveness is by pid: a temp file of a live process (a concurrent ferry) is left alone. A pid can
 * be reused (in a container every run may be pid 1): a file carrying this process's own pid that
 * this process did not create is stale too.
 *
 * A pid means something only in its PID namespace on its host: jobs in separate containers
 * sharing one cache volume each see their own pids (each may be pid 1). So a temp name carries
 * the writer's namespace too (`n<8 hex>`, see processNamespace), and a temp file of another
 * namespace is judged by age instead: stale once unmodified for FOREIGN_TEMP_STALE_MS.
 */

/**
 * This process's PID namespace on this host, as 8 hex (a hash of the kernel's boot id and the
 * `/proc/self/ns/pid` inode): two processes whose pids may be compared have the same one.
 * Undefined where /proc does not say (not Linux): names and locks then carry none, as before.
 */
export const processNamespace: string | undefined = (() => {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const ns = readlinkSync('/proc/self/ns/pid');
    return createHash('sha256').update(`${boot}\n${ns}`).digest('hex').slice(0, 8);
  } catch {
    return undefined;
  }
})();

const NS_PART = processNamespace ? `n${processNamespace}-` : '';

/**
 * A temp file of another PID namespace (another container on a shared volume, another host on a
 * network one) whose writer cannot be asked is stale once unmodified for a day: longer than any
 * one run writes or holds a temp file (a cache download's temp lives seconds; an import's staged
 * copies sit unmodified until the import commits, which on a large mirror takes hours), while a
 * killed job's leftovers cost only disk, and only until then. Within one namespace nothing waits:
 * a dead writer's temp file goes at the next run.
 */
export const FOREIGN_TEMP_STALE_MS = 24 * 60 * 60 * 1000;

/** Temp paths this process handed out (and may still be writing). */
const mine = new Set<string>();
/**
 * Tails (`<pid>-<8 hex>`) of temp names this process hands out for many files at once (import's
 * staged blobs, tens of thousands of them): one entry per tail instead of one per path.
 */
const mineTails = new Set<string>();
/** Directories already swept by this process: each is swept once, not on every write. */
const swept = new Map<string, Promise<string[]>>();

/** `<dest>.ferry-<pid>-n<namespace>-<8 hex>.tmp`: unique per call, recognisable by the sweep. */
export function tempPathFor(dest: string): string {
  const tmp = `${dest}.ferry-${process.pid}-${NS_PART}${randomBytes(4).toString('hex')}.tmp`;
  mine.add(tmp);
  return tmp;
}

/**
 * A tail for many temp names (tempPathWithTail), all this process's: kept as one entry, so a
 * writer of tens of thousands of temp files need not hold each path.
 */
export function tempTail(): string {
  const tail = `${process.pid}-${NS_PART}${randomBytes(4).toString('hex')}`;
  mineTails.add(tail);
  return tail;
}

/** `<dest>.ferry-<tail>.tmp`, a name tempTail's caller owns: unique per dest. */
export function tempPathWithTail(dest: string, tail: string): string {
  return `${dest}.ferry-${tail}.tmp`;
}

/**
 * A write's error (`fh.write`, a stream's, `writeFile`'s: ENOSPC, EIO) carries no path, or the
 * temp name `tmp` the user never chose: the file it was writing is set on it, so the CLI's
 * message names the place ("<file>: cannot write: no space left …").
 */
export function withPlace(err: unknown, file: string, tmp?: string): unknown {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e && typeof e === 'object' && typeof e.code === 'string' && (!e.path || e.path === tmp)) e.path = file;
  return err;
}

/** Forget a temp path once it was renamed into place or removed. */
export function releaseTemp(tmp: string): void {
  mine.delete(tmp);
}

/**
 * Current and earlier ferry temp names (for files written before this helper): the pid they carry
 * and, in current names, the PID namespace (a name without one is taken to be of this namespace,
 * as before namespaces were recorded).
 */
const TEMP_NAMES: RegExp[] = [
  /\.ferry-(\d+)(?:-n([0-9a-f]{8}))?(?:-[0-9a-f]+)?\.tmp$/,
  // Earlier blob writes in layout directories and the blob store: `<64 hex>.<pid>.<8 hex>.tmp`.
  /^[0-9a-f]{64}\.(\d+)\.[0-9a-f]{8}\.tmp$/,
  // Earlier index.json writes: `index.json.<pid>.<8 hex>.tmp`.
  /^index\.json\.(\d+)\.[0-9a-f]{8}\.tmp$/,
];

function writerOf(name: string): { pid: number; ns?: string } | undefined {
  for (const re of TEMP_NAMES) {
    const m = re.exec(name);
    if (m) return { pid: Number(m[1]), ns: m[2] };
  }
  return undefined;
}

/**
 * Whether `name` (one path segment) is a name ferry gives its temporary files: a sweep removes
 * such a file once its writer is gone, so nothing ferry writes under its final name may have one.
 */
export function isTempName(name: string): boolean {
  return writerOf(name) !== undefined;
}

/** A writer recorded with `ns` is one whose pid this process may test (same namespace, same host). */
export function sameNamespace(ns: string | undefined): boolean {
  return ns === undefined || processNamespace === undefined || ns === processNamespace;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Clock ticks per second of /proc/<pid>/stat's start time: Linux's USER_HZ, 100 on every architecture Node runs on. */
const USER_HZ = 100;
let bootSeconds: number | null | undefined;

/** Process `pid`'s state letter and start (ms since the epoch, to about a second), from /proc/<pid>/stat; undefined where /proc does not say. */
function procStat(pid: number): { state: string; startMs?: number } | undefined {
  try {
    if (bootSeconds === undefined) {
      const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
      bootSeconds = m ? Number(m[1]) : null;
    }
    if (bootSeconds === null) return undefined;
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses): state is field 3, starttime field 22.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return { state: fields[0], ...(fields[19] && Number.isFinite(ticks) ? { startMs: bootSeconds * 1000 + (ticks * 1000) / USER_HZ } : {}) };
  } catch {
    return undefined;
  }
}

/** When process `pid` started (ms since the epoch, to about a second), from /proc; undefined where /proc does not say. */
export function processStartMs(pid: number): number | undefined {
  return procStat(pid)?.startMs;
}

/**
 * Whether the process that wrote a file last modified at `mtimeMs` may still be `pid`: it is
 * alive, and it did not start after that write. PIDs wrap (32 768 by default): on a busy machine a
 * killed writer's pid was soon another process's, and its temp files and locks were kept as live.
 * Start time and boot time are known to about a second, so a process started within 2 s of the
 * write still counts as the writer (kept, the safe side).
 */
export function writerAlive(pid: number, mtimeMs: number): boolean {
  if (!processAlive(pid)) return false;
  const st = procStat(pid);
  // A zombie (Z, or X on its way out) answers kill(pid, 0) but runs no code: it holds nothing.
  // Under a container init that does not reap, a killed ferry stays one for as long as it runs.
  if (st?.state === 'Z' || st?.state === 'X') return false;
  return st?.startMs === undefined || st.startMs <= mtimeMs + 2000;
}

async function isStale(file: string, pid: number, ns: string | undefined): Promise<boolean> {
  if (!sameNamespace(ns)) {
    const st = await stat(file).catch(() => undefined);
    // Either way from now: a time a day ahead is no writer's heartbeat (a crafted or skewed file
    // would otherwise be kept until then).
    return st !== undefined && Math.abs(Date.now() - st.mtimeMs) > FOREIGN_TEMP_STALE_MS;
  }
  if (pid === process.pid) return !mine.has(file) && !mineTails.has(/\.ferry-(\d+-(?:n[0-9a-f]{8}-)?[0-9a-f]+)\.tmp$/.exec(file)?.[1] ?? '');
  if (!processAlive(pid)) return true;
  const st = await lstat(file).catch(() => undefined);
  return st !== undefined && !writerAlive(pid, st.mtimeMs);
}

/**
 * Remove the temp files in `dir` (not below it) left by processes that are gone (of another PID
 * namespace: unmodified for FOREIGN_TEMP_STALE_MS). Returns the names removed. A missing directory is nothing to sweep.
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
    const writer = writerOf(name);
    if (writer === undefined) continue;
    const file = path.join(dir, name);
    // Only files (or links) ferry's writes leave: a directory that merely has such a name (a crafted
    // bundle's `x.ferry-1-0a.tmp/y`, an operator's) is not one, and rm would refuse it and fail the sweep.
    if ((await lstat(file).catch(() => undefined))?.isDirectory() !== false) continue;
    if (!(await isStale(file, writer.pid, writer.ns))) continue;
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
 * directory is made (holdMadeDir) and held: `tmp` names the temp file through it, and the rename
 * is made in it, not through a link planted under its path meanwhile.
 */
export async function writeViaTemp<T>(dest: string, write: (tmp: string) => Promise<T>): Promise<T> {
  await checkInsideTarget(dest);
  const tmp = await freshTempPath(dest);
  const dir = await holdMadeDir(path.dirname(dest)).catch((err: unknown) => {
    releaseTemp(tmp);
    throw err;
  });
  const tmpAt = path.join(dir.at, path.basename(tmp));
  try {
    const result = await write(tmpAt);
    await rename(tmpAt, path.join(dir.at, path.basename(dest)));
    return result;
  } catch (err) {
    await rm(tmpAt, { force: true });
    throw withPlace(err, dest, tmpAt);
  } finally {
    releaseTemp(tmp);
    await dir.close();
  }
}

/** What a file written through a descriptor is on disk: a file renamed over its name, or written into, differs. */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

export function identityOf(st: Stats): FileIdentity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
}

/** True when `st` (an lstat) is the regular file `id` names, unchanged. */
export function isSameFile(st: Stats | undefined, id: FileIdentity): boolean {
  return st !== undefined && st.isFile() && st.dev === id.dev && st.ino === id.ino && st.size === id.size && st.mtimeMs === id.mtimeMs;
}

let umask: number | undefined;
/** The mode a write asking for `mode` gives a new file (less the umask); by default what a plain write gives (0666 less the umask). */
export function plainMode(mode = 0o666): number {
  return mode & ~(umask ??= process.umask());
}

/**
 * Write `dest` through a temp file held by its descriptor, for bytes that were checked as they
 * were written (a digest): what is renamed into place must be the file written. The temp file is
 * created new (O_EXCL, never a link followed) and owner-only (0600) while it is written, then
 * given `mode` less the umask (by default what a plain write gives); its identity is taken from the descriptor.
 * Before the rename the temp name must still be that file, and after it so must `dest`: a file
 * renamed over the temp name, or written into, in between (another user of a shared directory)
 * is refused and removed, never left under the final name. `placed(file)` may accept what is
 * found at `dest` after the rename when it is not this file (another ferry wrote the same
 * verified bytes there just after): it is called with a path to `dest`.
 * The directory is made and held open (holdMadeDir): the temp file is made and renamed in the
 * directory that was checked, not through a link planted in between.
 */
export async function writeHeldTemp<T>(
  dest: string,
  write: (fh: FileHandle) => Promise<T>,
  opts: { mode?: number; placed?: (file: string) => Promise<boolean> } = {},
): Promise<T> {
  await checkInsideTarget(dest);
  await sweepStaleTempsOnce(path.dirname(dest));
  const dir = await holdMadeDir(path.dirname(dest));
  try {
    const t = await writeTempIn(dir, dest, write, opts);
    try {
      await renameHeld(t, opts.placed);
    } catch (err) {
      await rm(t.tmpAt, { force: true });
      throw withPlace(err, dest, t.tmpAt);
    } finally {
      releaseTemp(t.tmp);
    }
    return t.result;
  } finally {
    await dir.close();
  }
}

/** A temp file written through its descriptor in a held directory, not yet renamed into place. */
interface HeldTemp<T> {
  dest: string;
  tmp: string;
  /** The temp name and the final name through the held directory. */
  tmpAt: string;
  destAt: string;
  id: FileIdentity;
  result: T;
}

/**
 * Create `dest`'s temp file new (O_EXCL, no link followed) and owner-only in the held directory
 * `dir`, write it through its descriptor, then give it `mode` (less the umask) and `owner`
 * through that descriptor too (a name swapped for a link meanwhile leads no chmod/chown
 * elsewhere). On failure nothing is left.
 */
async function writeTempIn<T>(
  dir: HeldDir,
  dest: string,
  write: (fh: FileHandle) => Promise<T>,
  opts: { mode?: number; exactMode?: number; owner?: { uid: number; gid: number } },
): Promise<HeldTemp<T>> {
  const tmp = tempPathFor(dest);
  const tmpAt = path.join(dir.at, path.basename(tmp));
  try {
    const fh = await open(tmpAt, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600).catch((err: NodeJS.ErrnoException) => {
      // A fresh random name already there (a file or a link planted at it): another writer in the directory.
      if (err.code === 'EEXIST' || err.code === 'ELOOP') throw tempNameTaken(tmp, dest);
      throw err;
    });
    try {
      const result = await write(fh);
      await fh.chmod(opts.exactMode ?? plainMode(opts.mode));
      if (opts.owner) await fh.chown(opts.owner.uid, opts.owner.gid);
      const id = identityOf(await fh.stat());
      return { dest, tmp, tmpAt, destAt: path.join(dir.at, path.basename(dest)), id, result };
    } finally {
      await fh.close();
    }
  } catch (err) {
    await rm(tmpAt, { force: true });
    releaseTemp(tmp);
    throw withPlace(err, dest, tmpAt);
  }
}

/**
 * Rename a held temp file into place: before the rename its name must still be the file written,
 * and after it so must `dest` (or `placed(destAt)` accepts what is there); otherwise what the
 * rename put there is removed and a CONFLICT names the place.
 */
async function renameHeld<T>(t: HeldTemp<T>, placed?: (file: string) => Promise<boolean>): Promise<void> {
  if (!isSameFile(await lstat(t.tmpAt).catch(() => undefined), t.id)) throw notTheFileWritten(t.tmp, t.dest, 'before');
  await rename(t.tmpAt, t.destAt);
  if (!isSameFile(await lstat(t.destAt).catch(() => undefined), t.id) && !(await placed?.(t.destAt))) {
    await rm(t.destAt, { force: true });
    throw notTheFileWritten(t.tmp, t.dest, 'as');
  }
}

/**
 * Rename `tmp` (a file written and hashed through a descriptor, whose identity is `id`: a
 * resumable download's `.partial`) to `dest`, in dest's directory made and held (holdMadeDir), and
 * checked as writeHeldTemp checks: before the rename `tmp` must still be that file, after it `dest`.
 */
export async function renameIntoPlace(tmp: string, dest: string, id: FileIdentity): Promise<void> {
  const dir = await holdMadeDir(path.dirname(dest));
  const sameDir = path.resolve(path.dirname(tmp)) === path.resolve(path.dirname(dest));
  const t: HeldTemp<undefined> = { dest, tmp, tmpAt: sameDir ? path.join(dir.at, path.basename(tmp)) : tmp, destAt: path.join(dir.at, path.basename(dest)), id, result: undefined };
  try {
    // Owner-only while it was written: given the mode a plain write gives through a descriptor of the file hashed.
    const fh = await open(t.tmpAt, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK).catch(() => undefined);
    if (!fh) throw notTheFileWritten(tmp, dest, 'before');
    try {
      if (!isSameFile(await fh.stat(), id)) throw notTheFileWritten(tmp, dest, 'before');
      await fh.chmod(plainMode());
    } finally {
      await fh.close();
    }
    await renameHeld(t);
  } catch (err) {
    throw withPlace(err, dest, t.tmpAt);
  } finally {
    await dir.close();
  }
}

function tempNameTaken(tmp: string, dest: string): FerryError {
  return new FerryError('CONFLICT', `${dest}: the temporary name ferry chose for it, ${path.basename(tmp)}, was taken before ferry created it; nothing was written`, {
    hint: `Something else writes in ${path.dirname(dest)} (another user, another program): find out what and stop it, then run again.`,
  });
}

function notTheFileWritten(tmp: string, dest: string, when: 'before' | 'as'): FerryError {
  return new FerryError(
    'CONFLICT',
    `${dest}: the file ferry wrote and checked under the temporary name ${path.basename(tmp)} was replaced or written into ${when === 'before' ? 'before it was renamed into place; it was not placed' : 'as it was renamed into place; what that put there was removed'}`,
    {
      hint: `Something else writes in ${path.dirname(dest)} (another user, another program): find out what and stop it, then run again; files placed before are intact.`,
    },
  );
}

/**
 * Replace `dest` with `data` atomically (a reader sees the old or the new content, never half a
 * file): written to a temp name beside it, then renamed. Creates the directory.
 */
export async function writeFileAtomic(dest: string, data: string | Uint8Array, mode?: number): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  // Found at dest after the rename but not this file: accepted only when it holds these bytes (a second writer of the same content).
  const placed = async (file: string) => {
    const fh = await open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK).catch(() => undefined);
    if (!fh) return false;
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size !== bytes.length) return false;
      const got = Buffer.alloc(bytes.length);
      const { bytesRead } = await fh.read(got, 0, got.length, 0);
      return bytesRead === got.length && Buffer.compare(got, bytes) === 0;
    } finally {
      await fh.close();
    }
  };
  await writeHeldTemp(dest, (fh) => fh.writeFile(bytes), { mode, placed });
}

/**
 * writeFileAtomic for a text given in pieces (a 21 MB lock is never one string or buffer):
 * `chunks()` is written once; a file found at `dest` after the rename that is not this one is
 * accepted only when it has the same size and SHA-256.
 */
export async function writeChunksAtomic(dest: string, chunks: () => Iterable<string>, mode?: number): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  const write = async (fh: FileHandle) => {
    for (const c of chunks()) {
      const bytes = Buffer.from(c);
      hash.update(bytes);
      size += bytes.length;
      for (let at = 0; at < bytes.length; ) at += (await fh.write(bytes, at, bytes.length - at)).bytesWritten;
    }
    return hash.digest('hex');
  };
  let digest = '';
  const placed = async (file: string) => {
    const fh = await open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK).catch(() => undefined);
    if (!fh) return false;
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size !== size) return false;
      const h = createHash('sha256');
      for await (const chunk of fh.createReadStream({ autoClose: false })) h.update(chunk as Buffer);
      return h.digest('hex') === digest;
    } finally {
      await fh.close();
    }
  };
  await writeHeldTemp(dest, async (fh) => (digest = await write(fh)), { mode, placed });
}

/** One file replaced in place: `expected` is what it held when it was read ('' when it did not exist). */
export interface InPlaceWrite {
  file: string;
  expected: string;
  data: string;
}

/**
 * Rewrite files in place, all or none: every file is checked before any is replaced, and a
 * failed check leaves every file byte for byte as it was.
 * - A symbolic link is refused (neither its target, which may be anywhere, is written, nor is the
 *   link silently replaced by a regular file): the error names where it leads.
 * - A file this user may not write (read-only) is refused, not replaced behind its mode.
 * - A file whose content changed since it was read is refused (another writer's change is kept).
 * The new content goes to a temp name beside each file, with the file's mode (and, as root, its
 * owner) — a 0600 values file stays 0600 — and is renamed over it only after every file passed;
 * the content is compared once more just before the renames.
 */
export async function replaceFilesAtomic(writes: InPlaceWrite[]): Promise<void> {
  const problems: string[] = [];
  const modes = new Map<string, { mode: number; uid: number; gid: number } | undefined>();
  /** The file each write checked (device and inode), when there was one: the held directory must hold that file. */
  const checked = new Map<string, { dev: number; ino: number }>();
  const changedSinceRead = async (w: InPlaceWrite): Promise<boolean> => {
    const now = await readFile(w.file).then(
      (b) => b.toString('utf8'),
      (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? '' : undefined),
    );
    return now !== w.expected;
  };
  for (const w of writes) {
    const st = await lstat(w.file).catch(() => undefined);
    if (!st) {
      if (w.expected !== '') problems.push(`${w.file}: removed since ferry read it`);
      modes.set(w.file, undefined);
      continue;
    }
    if (st.isSymbolicLink()) {
      const to = await readlink(w.file).catch(() => '?');
      problems.push(`${w.file}: a symbolic link (to ${to}); ferry does not write through links nor replace them`);
      continue;
    }
    if (!st.isFile()) {
      problems.push(`${w.file}: not a regular file`);
      continue;
    }
    if (await access(w.file, fsc.W_OK).then(() => false, () => true)) {
      problems.push(`${w.file}: read-only for this user (mode ${(st.mode & 0o7777).toString(8)})`);
      continue;
    }
    if ((st.mode & 0o222) === 0) {
      problems.push(`${w.file}: read-only (mode ${(st.mode & 0o7777).toString(8)})`);
      continue;
    }
    if (await changedSinceRead(w)) {
      problems.push(`${w.file}: changed since ferry read it`);
      continue;
    }
    modes.set(w.file, { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
    checked.set(w.file, { dev: st.dev, ino: st.ino });
  }
  if (problems.length) throw notReplaced(problems);

  // Each directory is opened once and everything after the checks goes through it (holdConfinedDir):
  // the temp files are made, the files compared once more and renamed in the directory whose files
  // were checked, not in one a link planted under its path meanwhile leads to. The temp files are
  // created new and owner-only, given the file's mode (and, as root, its owner) through their
  // descriptors, and checked to be the files written when they are renamed (writeTempIn, renameHeld).
  const held = new Map<string, HeldDir>();
  const temps: Array<HeldTemp<void> & { w: InPlaceWrite }> = [];
  const renamed = new Set<string>();
  try {
    for (const w of writes) {
      const d = path.dirname(w.file);
      let dir = held.get(d);
      if (!dir) {
        await sweepStaleTempsOnce(d);
        dir = await holdMadeDir(d);
        held.set(d, dir);
      }
      const keep = modes.get(w.file);
      const t = await writeTempIn(dir, w.file, (fh) => fh.writeFile(w.data), keep ? { exactMode: keep.mode, ...(process.getuid?.() === 0 ? { owner: keep } : {}) } : {});
      temps.push({ ...t, w });
    }
    for (const t of temps) {
      const now = await currentContent(t.destAt, checked.get(t.w.file));
      if (now !== t.w.expected) problems.push(`${t.w.file}: ${now === REPLACED ? 'replaced' : 'changed'} while ferry was rewriting it`);
    }
    if (problems.length) throw notReplaced(problems);
    for (const t of temps) {
      await renameHeld(t).catch((err: unknown) => {
        throw withPlace(err, t.w.file, t.tmpAt);
      });
      renamed.add(t.tmp);
    }
  } finally {
    for (const t of temps) {
      if (!renamed.has(t.tmp)) await rm(t.tmpAt, { force: true });
      releaseTemp(t.tmp);
    }
    for (const dir of held.values()) await dir.close();
  }
}

/** What currentContent says of a name that no longer holds the file checked (or a link, a directory, a FIFO now). */
const REPLACED = Symbol('replaced');

/**
 * The text `file` holds now ('' when it does not exist), read without following a link or
 * waiting on a FIFO; REPLACED when it is not a regular file, or not the file `was` (device and inode).
 */
async function currentContent(file: string, was: { dev: number; ino: number } | undefined): Promise<string | typeof REPLACED | undefined> {
  let fh;
  try {
    fh = await open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? (was === undefined ? '' : REPLACED) : code === 'ELOOP' ? REPLACED : undefined;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || (was !== undefined && (st.dev !== was.dev || st.ino !== was.ino))) return REPLACED;
    return (await fh.readFile()).toString('utf8');
  } finally {
    await fh.close();
  }
}

function notReplaced(problems: string[]): FerryError {
  return new FerryError('CONFLICT', `${problems.length} file${problems.length === 1 ? '' : 's'} cannot be rewritten in place; nothing was written`, {
    details: problems,
    hint: 'Rewrite the file a link points to by its own path (or write a copy with -o where the command has it); make read-only files writable if they are meant to change; run again after another writer is done.',
  });
}

/** The system's reasons a temporary directory cannot be made or written, in words. */
const TEMP_DIR_REASONS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'it does not exist',
  ENOTDIR: 'it is not a directory',
};

const DISK_LEVEL = new Set(['ENOSPC', 'EDQUOT', 'EROFS']);

/**
 * An error of a write under the temporary directory (a full or read-only TMPDIR, one that is not
 * there) as the directory, where it came from and what to set; `err` itself when it is another
 * error. A FerryError is looked through to its cause (a BlobStore there says "download cache").
 */
export function tempDirProblem(err: unknown, what: string, making = false): unknown {
  const code = ((err instanceof FerryError ? err.cause : err) as NodeJS.ErrnoException | undefined)?.code;
  // Once the directory is made, only a disk-level error is the temp directory's (a missing or
  // unreadable file met meanwhile is some other place's).
  const reason = code && (making || DISK_LEVEL.has(code)) ? TEMP_DIR_REASONS[code] : undefined;
  if (!reason) return err;
  const base = os.tmpdir();
  const from = process.env.TMPDIR ? 'TMPDIR' : 'the system default; TMPDIR is not set';
  return new FerryError('INTERNAL', `${base} (${from}): cannot write ${what} in the temporary directory: ${reason}`, {
    cause: err,
    hint: `Point TMPDIR at a writable directory with room (TMPDIR=<dir> ferry …)${code === 'ENOSPC' || code === 'EDQUOT' ? ', or free space there' : ''}; nothing ferry wrote there was kept.`,
  });
}

/**
 * Run `use` on a fresh directory under the temporary directory (TMPDIR), removed afterwards
 * whatever happens; a full, read-only or missing TMPDIR is said as tempDirProblem says it.
 */
export async function withTempDir<T>(prefix: string, what: string, use: (dir: string) => Promise<T>): Promise<T> {
  let dir: string;
  try {
    dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  } catch (err) {
    throw tempDirProblem(err, what, true);
  }
  try {
    return await use(dir);
  } catch (err) {
    throw tempDirProblem(err, what);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** withTempDir for synchronous work (a renderer called synchronously). */
export function withTempDirSync<T>(prefix: string, what: string, use: (dir: string) => T): T {
  let dir: string;
  try {
    dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  } catch (err) {
    throw tempDirProblem(err, what, true);
  }
  try {
    return use(dir);
  } catch (err) {
    throw tempDirProblem(err, what);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
