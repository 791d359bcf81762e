import { constants as fsc, existsSync } from 'node:fs';
import { lstat, mkdir, open, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../errors.js';
import { isWithin } from './safe-path.js';

/**
 * The target directories an import writes into (`directory:`, `files.dir`, `charts.dir`,
 * `apt.dir`). The path rule (safe-path.ts) keeps every name a bundle carries inside them on
 * paper; this keeps it there on disk: a symbolic link planted inside one of them (by another
 * local user, or left by anything else) must not lead a write, or a check that skips a write, to
 * a place outside. Links that stay inside (APT's `dists/<suite>` → `.<suite>.ferry/<id>`, which
 * ferry makes itself) are followed as any path is.
 *
 * The store's writers and presence checks call `checkInsideTarget` on every path under one of
 * these roots before touching it; paths outside every root (a cache, a lock file) are not
 * affected. Registered for the length of one command (`confineTo` returns the release).
 */
const roots = new Map<string, number>();
/** A root's real path, once it exists (a root not yet made is resolved again at the next check). */
const realRoots = new Map<string, string>();

export function confineTo(dirs: ReadonlyArray<string | undefined>): () => void {
  const added = dirs.filter((d): d is string => typeof d === 'string' && d !== '').map((d) => path.resolve(d));
  for (const d of added) roots.set(d, (roots.get(d) ?? 0) + 1);
  return () => {
    for (const d of added) {
      const n = (roots.get(d) ?? 1) - 1;
      if (n > 0) roots.set(d, n);
      else {
        roots.delete(d);
        realRoots.delete(d);
      }
    }
  };
}

/** The registered root `file` lies under (the deepest one), or undefined. */
function rootOf(file: string): string | undefined {
  let best: string | undefined;
  for (const r of roots.keys()) if (isWithin(file, r) && (best === undefined || r.length > best.length)) best = r;
  return best;
}

/**
 * Throws when `file` (or the deepest part of its path that exists) lies under a target directory
 * as written but leads outside it once its links are followed. Nothing is created.
 */
export async function checkInsideTarget(file: string): Promise<void> {
  if (roots.size === 0) return;
  const abs = path.resolve(file);
  const root = rootOf(abs);
  if (root === undefined || abs === root) return;
  // The deepest existing part of the path (a write creates the rest as plain directories).
  let at = abs;
  while (at !== root && !(await lstat(at).then(() => true, () => false))) at = path.dirname(at);
  if (at === root) return;
  const realRoot = await realRootOf(root);
  const real = await realpath(at).catch(() => undefined);
  if (real !== undefined && isWithin(real, realRoot)) return;
  throw await leadsOutside(root, at, real);
}

/** The real path of registered root `root` (resolved again while it does not exist). */
async function realRootOf(root: string): Promise<string> {
  let realRoot = realRoots.get(root);
  if (realRoot === undefined) {
    const got = await realpath(root).catch(() => undefined);
    if (got !== undefined) realRoots.set(root, got);
    realRoot = got ?? root;
  }
  return realRoot;
}

/** The error for `at` (under `root`) that leads to `real` outside it: names the link itself, the first part of the path below the root that is one. */
async function leadsOutside(root: string, at: string, real: string | undefined): Promise<FerryError> {
  let link = at;
  for (let p = root; p !== at; ) {
    p = path.join(p, path.relative(p, at).split(path.sep)[0]);
    if ((await lstat(p).catch(() => undefined))?.isSymbolicLink()) {
      link = p;
      break;
    }
  }
  const to = await readlink(link).catch(() => undefined);
  return new FerryError(
    'CONFLICT',
    `${link}: a symbolic link${to === undefined ? '' : ` (to ${JSON.stringify(to)})`} inside the target directory ${root} leads outside it${real === undefined ? ' (or nowhere)' : ` (to ${real})`}; ferry does not read or write through it, and wrote nothing there`,
    { hint: `Remove the link (ferry writes plain files and directories under ${root}; check who put it there), then import again.` },
  );
}

/** Linux names an open descriptor's file as /proc/self/fd/<n>: a path through it resolves from that file, not from its name. */
const FD_PATHS = existsSync('/proc/self/fd');

/** A directory held open: `at` names it through the descriptor (or is its path, where it is not under a target or the platform has no /proc/self/fd). */
export interface HeldDir {
  at: string;
  close(): Promise<void>;
}

/**
 * `dir` opened once and, under a target directory, checked where the descriptor really is.
 * checkInsideTarget checks a path; a write by that path afterwards follows a link planted in
 * between (another local user racing the import). Node has no openat/renameat, but on Linux a
 * path through `/proc/self/fd/<n>` resolves from the file the descriptor holds, not from its
 * name: names joined to `at` are created and renamed in the directory that was checked (or, outside
 * every target, the one directory opened), whatever is planted under its path meanwhile (openat
 * semantics). Where /proc is not there, `at` is `dir` and the check is checkInsideTarget's alone;
 * a directory outside every target that cannot be opened for reading (execute-only) is used by
 * its path, as before. Nothing is created.
 */
export async function holdConfinedDir(dir: string): Promise<HeldDir> {
  const abs = path.resolve(dir);
  const root = roots.size === 0 ? undefined : rootOf(abs);
  if (!FD_PATHS) return { at: dir, close: async () => undefined };
  if (root !== undefined) await checkInsideTarget(abs);
  let fh;
  try {
    fh = await open(abs, fsc.O_RDONLY | fsc.O_DIRECTORY);
  } catch (err) {
    if (root === undefined && (err as NodeJS.ErrnoException).code === 'EACCES') return { at: dir, close: async () => undefined };
    throw err;
  }
  try {
    const at = `/proc/self/fd/${fh.fd}`;
    if (root !== undefined) {
      const real = await readlink(at);
      if (!isWithin(real, await realRootOf(root))) throw await leadsOutside(root, abs, real);
    }
    return { at, close: () => fh.close() };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * `mkdir -p dir`, then holdConfinedDir. Under a target directory each missing level is made in
 * the level above held open (through its descriptor), and each level is opened and checked where
 * it really is before the next is made in it: a link planted in the path meanwhile (another local
 * user) leads no directory, and no write into it, outside the target. Links that stay inside
 * (APT's `dists/<suite>`) are followed as any path is. Outside every target it is `mkdir -p` by
 * path, as before, and the directory made is held.
 */
export async function holdMadeDir(dir: string): Promise<HeldDir> {
  const abs = path.resolve(dir);
  const root = roots.size === 0 ? undefined : rootOf(abs);
  if (root === undefined || !FD_PATHS) {
    await mkdir(abs, { recursive: true });
    return holdConfinedDir(abs);
  }
  // The deepest level already there is held as it is (where its descriptor really is is what is
  // checked); only the levels to make below it are walked.
  const missing: string[] = [];
  let base = abs;
  let held: HeldDir | undefined;
  for (;;) {
    held = await holdConfinedDir(base).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (held) break;
    if (base === root) {
      await mkdir(root, { recursive: true });
      continue;
    }
    missing.unshift(path.basename(base));
    base = path.dirname(base);
  }
  let at = base;
  try {
    for (const part of missing) {
      at = path.join(at, part);
      await mkdir(path.join(held.at, part)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw Object.assign(err, { path: at });
      });
      const fh = await open(path.join(held.at, part), fsc.O_RDONLY | fsc.O_DIRECTORY).catch((err: NodeJS.ErrnoException) => {
        throw Object.assign(err, { path: at });
      });
      const next: HeldDir = { at: `/proc/self/fd/${fh.fd}`, close: () => fh.close() };
      await held.close();
      held = next;
      const real = await readlink(held.at);
      if (!isWithin(real, await realRootOf(root))) throw await leadsOutside(root, at, real);
    }
    return held;
  } catch (err) {
    await held.close();
    throw err;
  }
}
