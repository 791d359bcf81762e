import { lstat, readlink, realpath } from 'node:fs/promises';
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
  let realRoot = realRoots.get(root);
  if (realRoot === undefined) {
    const got = await realpath(root).catch(() => undefined);
    if (got !== undefined) realRoots.set(root, got);
    realRoot = got ?? root;
  }
  const real = await realpath(at).catch(() => undefined);
  if (real !== undefined && isWithin(real, realRoot)) return;
  // Name the link itself: the first part of the path below the root that is one.
  let link = at;
  for (let p = root; p !== at; ) {
    p = path.join(p, path.relative(p, at).split(path.sep)[0]);
    if ((await lstat(p).catch(() => undefined))?.isSymbolicLink()) {
      link = p;
      break;
    }
  }
  const to = await readlink(link).catch(() => undefined);
  throw new FerryError(
    'CONFLICT',
    `${link}: a symbolic link${to === undefined ? '' : ` (to ${JSON.stringify(to)})`} inside the target directory ${root} leads outside it${real === undefined ? ' (or nowhere)' : ` (to ${real})`}; ferry does not read or write through it, and wrote nothing there`,
    { hint: `Remove the link (ferry writes plain files and directories under ${root}; check who put it there), then import again.` },
  );
}
