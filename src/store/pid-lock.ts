import { constants as fsc } from 'node:fs';
import { lstat, mkdir, open, rename, rm, utimes } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../errors.js';
import { processAlive, processNamespace, releaseTemp, sameNamespace, tempPathFor, withPlace, writerAlive } from './temp-files.js';

/**
 * A lock of another PID namespace (a job in another container on a shared cache volume) cannot
 * be tested by pid: its holder touches it every LOCK_HEARTBEAT_MS, and it is taken over once
 * unmodified for LOCK_STALE_MS. Two minutes: eight missed heartbeats, so a holder whose event
 * loop stalls for a while (a loaded CI host) keeps it, while a waiter behind a killed job's lock
 * waits at most that long once.
 */
export const LOCK_STALE_MS = 120_000;
export const LOCK_HEARTBEAT_MS = 15_000;

/** What a lock file holds: `<pid>` (as written before namespaces were recorded) or `<pid> n<namespace>`. */
function parseLock(text: string): { pid: number; ns?: string } {
  const m = /^(\d+)(?:\s+n([0-9a-f]{8}))?\s*$/.exec(text);
  return m ? { pid: Number(m[1]), ns: m[2] } : { pid: 0 };
}

/** Bytes of a lock file read: `<pid> n<8 hex>` is under 30; anything longer is no ferry lock. */
const LOCK_READ_CAP = 64;

/**
 * What the lock file `file` holds (undefined: it is gone). The file sits on a shared cache volume
 * that other containers write: read without following a symbolic link (to /dev/zero, an endless
 * read) and without waiting on a FIFO (whose open blocks until a writer comes, for ever), at most
 * LOCK_READ_CAP bytes. Anything but a regular file, or one this user cannot read, reads as '' (no
 * pid): judged by its age like an empty lock, so it is taken over once stale, never waited on for ever.
 */
async function readLock(file: string): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : '';
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) {
      throw new FerryError('CONFLICT', `${file}: a directory where ferry keeps a lock file; refusing to wait on it or take it over`, {
        hint: 'Remove that directory (ferry creates the lock as a small file and removes it when done).',
      });
    }
    if (!st.isFile()) return '';
    const buf = Buffer.alloc(LOCK_READ_CAP + 1);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.toString('utf8', 0, got);
  } catch (err) {
    if (err instanceof FerryError) throw err;
    return '';
  } finally {
    await fh.close().catch(() => {});
  }
}

/** Whether the lock that held `text` (read from `file`) is still held by a live process. */
async function held(file: string, text: string): Promise<boolean> {
  const { pid, ns } = parseLock(text);
  // Empty or unreadable: a holder between creating it and writing its pid, or one killed right
  // there; judged by age like a foreign one.
  if (!pid || !sameNamespace(ns)) {
    // The entry's own age (a symbolic link's, not its target's): what the holder's heartbeat touches.
    const st = await lstat(file).catch(() => undefined);
    // Either way from now: a lock dated hours ahead (crafted, or written under a wrong clock) is
    // no holder's heartbeat, and waiting for it to age would wait until that date.
    return st !== undefined && Math.abs(Date.now() - st.mtimeMs) <= LOCK_STALE_MS;
  }
  if (pid === process.pid || !processAlive(pid)) return false;
  // Alive, but perhaps a later process that got the dead holder's pid: the holder refreshes the
  // lock's time while it lives, so a process started after that is not the holder.
  const st = await lstat(file).catch(() => undefined);
  return st === undefined || writerAlive(pid, st.mtimeMs);
}

/** Whether lock file `file` is held now by a live process (false when it is not there). */
export async function lockHeld(file: string): Promise<boolean> {
  const text = await readLock(file);
  return text !== undefined && (await held(file, text));
}

/**
 * Remove the stale lock whose content was `text` (taken over), unless
 * another process replaced it meanwhile: it is renamed aside first (one of two processes taking it
 * over at once wins the rename), and put back when what was moved is not `text` (a live lock).
 */
async function removeIfHolds(file: string, text: string): Promise<void> {
  const aside = tempPathFor(file);
  try {
    await rename(file, aside);
  } catch (err) {
    releaseTemp(aside);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // gone already: another process took it over
    // Not ours to move (a directory this user may not write): waiting would spin on it for ever.
    throw withPlace(err, file, aside);
  }
  const moved = (await readLock(aside)) ?? text;
  if (moved !== text) {
    // A live lock taken over by mistake: put it back unless yet another was created since.
    const back = await open(file, 'wx').then(
      (fh) => fh.close().then(() => true),
      () => false,
    );
    if (back) await rename(aside, file);
  }
  await rm(aside, { force: true });
  releaseTemp(aside);
}

/**
 * An exclusive lock between ferry processes: `file`, created exclusively, holding the pid (and
 * the PID namespace, see processNamespace). A lock whose process is gone is taken over, and so
 * is one carrying this process's own pid (pids repeat: in a container every run may be pid 1;
 * this process never waits on itself). A lock of another PID namespace is taken over once stale
 * by age (LOCK_STALE_MS); its holder keeps it fresh. While another live process holds it, `busy`
 * decides: 'wait' polls until it is free; a function returns the error to throw at once.
 */
export async function withPidLock<T>(file: string, busy: 'wait' | ((pid: number) => Error), fn: () => Promise<T>): Promise<T> {
  await mkdir(path.dirname(file), { recursive: true });
  const mine = processNamespace ? `${process.pid} n${processNamespace}` : String(process.pid);
  for (;;) {
    try {
      const fh = await open(file, 'wx');
      await fh.writeFile(mine);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const text = await readLock(file);
      if (text === undefined) continue; // removed meanwhile
      if (!(await held(file, text))) {
        await removeIfHolds(file, text);
        continue;
      }
      if (busy !== 'wait') throw busy(parseLock(text).pid);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(file, now, now).catch(() => {});
  }, LOCK_HEARTBEAT_MS);
  heartbeat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(heartbeat);
    // Only our own lock: one taken over while this process stalled (another container's job, after
    // LOCK_STALE_MS) now belongs to its new holder, and removing it would let a third one in.
    // A plain remove: a rename aside here would leave a temp file behind a kill at that moment.
    if ((await readLock(file)) === mine) await rm(file, { force: true });
  }
}

/**
 * The bundle output's lock (`<output>.lock`), as bundle create and bundle split take it: two runs
 * writing one output's file or parts would write into or remove each other's; the second is told at once.
 */
export function withOutputLock<T>(output: string, fn: () => Promise<T>): Promise<T> {
  const busy = (pid: number) =>
    new FerryError('CONFLICT', `${output}: another ferry process (pid ${pid}) is writing this bundle`, {
      hint: `Wait for it to finish, or write to another path (-o). ${output}.lock names the process.`,
    });
  return withPidLock(`${output}.lock`, busy, fn);
}
