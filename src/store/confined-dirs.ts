import { constants as fsc, existsSync, type Stats } from 'node:fs';
import { lstat, mkdir, open, readlink, realpath, stat } from 'node:fs/promises';
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
  await checkUnder(root, abs);
}

async function checkUnder(root: string, abs: string): Promise<void> {
  // The deepest existing part of the path (a write creates the rest as plain directories).
  let at = abs;
  while (at !== root && !(await lstat(at).then(() => true, () => false))) at = path.dirname(at);
  if (at === root) return;
  const realRoot = await realRootOf(root);
  const real = await realpath(at).catch(() => undefined);
  if (real !== undefined && isWithin(real, realRoot)) return;
  throw await leadsOutside(root, at, real);
}

/**
 * `stat` of `file` for a check that may skip a write ("already there"): its real path (links
 * followed, one call) is checked to stay inside its target directory before it is counted as
 * there or read (callers read `real`); a path that leads outside throws as checkInsideTarget
 * does. Undefined when nothing is there. By default (a pass that runs before anything is written,
 * such as import's count of what the target lacks) a path that is not there is checked too, the
 * deepest part that exists, as checkInsideTarget checks it, so that a link leading outside or
 * nowhere is named before the first write. With `complete: false` (a later pass, whose "not there"
 * is followed by a write that checks its own path through held directories) a missing file costs
 * one stat.
 */
export async function statInsideTarget(file: string, opts: { complete?: boolean } = {}): Promise<{ real: string; st: Stats } | undefined> {
  const abs = path.resolve(file);
  const root = roots.size === 0 ? undefined : rootOf(abs);
  if (root === undefined || abs === root) return stat(abs).then((st) => ({ real: abs, st }), () => undefined);
  if (opts.complete === false) {
    // Where nothing is there, one stat says so (the common case of an import into a new tree);
    // what is there is neither read nor counted before its real path is checked.
    const st = await stat(abs).catch(() => undefined);
    if (st === undefined) return undefined;
    const real = await realpath(abs).catch(() => undefined);
    if (real === undefined) return undefined;
    if (!isWithin(real, await realRootOf(root))) throw await leadsOutside(root, abs, real);
    return { real, st };
  }
  const real = await realpath(abs).catch(() => undefined);
  if (real === undefined) {
    await checkUnder(root, abs);
    return undefined;
  }
  if (!isWithin(real, await realRootOf(root))) throw await leadsOutside(root, abs, real);
  return stat(real).then((st) => ({ real, st }), () => undefined);
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
  /** True when holdMadeDir made the directory itself (it holds nothing an earlier run left). */
  made?: boolean;
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
 *
 * Under a target the descriptor is what is checked (one readlink of /proc/self/fd/<n>), not the
 * path first: opening with O_DIRECTORY reads nothing and opens no device or FIFO, and a path that
 * cannot be opened is checked as checkInsideTarget checks it, so a link that leads outside (or
 * nowhere) is named, not an ENOENT.
 */
export async function holdConfinedDir(dir: string): Promise<HeldDir> {
  const abs = path.resolve(dir);
  const root = roots.size === 0 ? undefined : rootOf(abs);
  if (!FD_PATHS) return { at: dir, close: async () => undefined };
  try {
    return await openChecked(abs, root);
  } catch (err) {
    if (root === undefined && (err as NodeJS.ErrnoException).code === 'EACCES') return { at: dir, close: async () => undefined };
    if (root !== undefined && !(err instanceof FerryError)) await checkUnder(root, abs);
    throw err;
  }
}

/** `abs` opened as a directory and, under `root`, its descriptor checked to be inside it. */
async function openChecked(abs: string, root: string | undefined): Promise<HeldDir> {
  const fh = await open(abs, fsc.O_RDONLY | fsc.O_DIRECTORY);
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
    held = await openChecked(base, root).catch(async (err: unknown) => {
      if (err instanceof FerryError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && base !== root) return undefined;
      if (code === 'ENOENT') {
        await mkdir(root, { recursive: true });
        return undefined;
      }
      // Not a directory, a loop, no access: a link there that leads outside is what to name.
      await checkUnder(root, base);
      throw err;
    });
    if (held) break;
    if (base === root) continue;
    missing.unshift(path.basename(base));
    base = path.dirname(base);
  }
  let at = base;
  try {
    for (const part of missing) {
      const next = await madeIn(held, root, at, part);
      await held.close();
      held = next;
      at = path.join(at, part);
    }
    return held;
  } catch (err) {
    await held.close();
    throw err;
  }
}

/** The target directory `dir` lies under (the deepest registered one), when ferry confines writes there. */
export function confiningRoot(dir: string): string | undefined {
  return roots.size === 0 || !FD_PATHS ? undefined : rootOf(path.resolve(dir));
}

/**
 * `name` made (when missing) in `parent`, a directory held open at `parentPath` under the target
 * directory `root` (holdMadeDir, confiningRoot), and held: made and opened through the parent's
 * descriptor, then checked where its own descriptor really is, as holdMadeDir checks each level.
 * For a writer that holds a parent for many children (an APT pool's `pool/main/b`): no level
 * above is opened again.
 */
export async function holdMadeChild(parent: Pick<HeldDir, 'at'>, parentPath: string, root: string, name: string): Promise<HeldDir> {
  return madeIn(parent, root, path.resolve(parentPath), name);
}

async function madeIn(held: Pick<HeldDir, 'at'>, root: string, parentAbs: string, part: string): Promise<HeldDir> {
  const at = path.join(parentAbs, part);
  const made = await mkdir(path.join(held.at, part)).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw Object.assign(err, { path: at });
      return false;
    },
  );
  const fh = await open(path.join(held.at, part), fsc.O_RDONLY | fsc.O_DIRECTORY).catch(async (err: NodeJS.ErrnoException) => {
    // A link planted there (leading outside, or nowhere): named as checkInsideTarget names it.
    await checkUnder(root, at);
    throw Object.assign(err, { path: at });
  });
  const next: HeldDir = { at: `/proc/self/fd/${fh.fd}`, close: () => fh.close(), made };
  try {
    const real = await readlink(next.at);
    if (!isWithin(real, await realRootOf(root))) throw await leadsOutside(root, at, real);
    return next;
  } catch (err) {
    await next.close();
    throw err;
  }
}
