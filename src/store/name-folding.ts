import { lstat, mkdir, open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { releaseTemp, tempPathFor } from './temp-files.js';

/**
 * How a directory's file system compares names: case-insensitive (Windows and SMB shares, macOS
 * by default, ext4/f2fs `casefold` directories) and normalization-insensitive (macOS APFS and
 * HFS+, ext4 casefold: `é` composed and `e` + combining accent are one name). On such a target,
 * two names a bundle holds apart are one file: the second written replaces the first after it
 * was verified.
 */
export interface NameFolding {
  caseInsensitive: boolean;
  normalizing: boolean;
  /** Set when the directory could not be probed: both are then assumed (refusing is safe). */
  unknown?: string;
}

/** Every folding some target does: what `lock` and `bundle create` hold names to (the target is not known there). */
export const ANY_TARGET: NameFolding = { caseInsensitive: true, normalizing: true };

/**
 * One path segment as a folding file system sees it: NFD (what APFS and ext4 casefold compare),
 * then full case folding approximated by upper- then lower-casing (`ß` and `SS` one, the Kelvin
 * sign and `k` one), final sigma as sigma.
 */
function foldSegment(s: string, f: NameFolding): string {
  // ASCII (a whole Debian pool's names): NFD leaves it as it is and full case folding is lower-casing,
  // which hands back the same string when there is nothing to change (no copy kept per name).
  if (ASCII.test(s)) return f.caseInsensitive ? s.toLowerCase() : s;
  let out = f.normalizing ? s.normalize('NFD') : s;
  if (f.caseInsensitive) out = out.toUpperCase().toLowerCase().replace(/ς/g, 'σ');
  return f.normalizing ? out.normalize('NFD') : out;
}

const ASCII = /^[\x00-\x7f]*$/;

/**
 * One folded segment of the trie. Most directories of a real tree hold one entry (a package's
 * directory its .deb): that child is kept inline, and a Map made only for a second one, so the
 * trie of 60 000 pool paths is a few MB, not tens.
 */
interface FoldNode {
  onlyKey?: string;
  only?: FoldNode;
  children?: Map<string, FoldNode>;
  /** The path whose leaf this is. */
  leaf?: string;
  /** A path under this directory (the first placed). */
  under?: string;
}

function childOf(node: FoldNode, key: string): FoldNode | undefined {
  return node.children ? node.children.get(key) : node.onlyKey === key ? node.only : undefined;
}

function addChild(node: FoldNode, key: string, child: FoldNode): void {
  if (node.children) node.children.set(key, child);
  else if (node.only === undefined) {
    node.onlyKey = key;
    node.only = child;
  } else {
    node.children = new Map([[node.onlyKey!, node.only], [key, child]]);
    node.onlyKey = node.only = undefined;
  }
}

/** The first `n` segments of `p`. */
const prefix = (p: string, n: number) => p.split('/', n).join('/');

/**
 * Pairs of distinct relative paths (POSIX, already checked safe) that are one file, or a file
 * and a directory, on a file system folding names as `f` says: `Foo.iso` and `foo.iso`, or
 * `café` composed and decomposed, or the file `A` and the file `a/b`. A trie of folded segments:
 * linear in the total length, whatever the depth. Pairs whose clash is there without folding
 * (`a` and `a/b`) are left to the exact checks. At most `max` pairs.
 */
export function foldedClashes(paths: Iterable<string>, f: NameFolding = ANY_TARGET, max = 20): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!f.caseInsensitive && !f.normalizing) return out;
  const root: FoldNode = {};
  const clash = (a: string, b: string, n: number) => {
    if (prefix(a, n) !== prefix(b, n) && out.length < max) out.push([a, b]);
  };
  for (const p of new Set(paths)) {
    const segs = p.split('/');
    let node = root;
    for (let i = 0; i < segs.length; i++) {
      if (node.leaf !== undefined) {
        clash(node.leaf, p, i);
        break;
      }
      const key = foldSegment(segs[i], f);
      let child = childOf(node, key);
      if (!child) addChild(node, key, (child = {}));
      if (i === segs.length - 1) {
        if (child.leaf !== undefined) clash(child.leaf, p, i + 1);
        else if (child.under !== undefined) clash(child.under, p, i + 1);
        else child.leaf = p;
      } else child.under ??= p;
      node = child;
    }
    if (out.length >= max) break;
  }
  return out;
}

/** What folding `f` does, in words. */
export function foldingWords(f: NameFolding): string {
  return f.caseInsensitive && f.normalizing ? 'ignores case and Unicode normalization' : f.caseInsensitive ? 'ignores case' : 'ignores Unicode normalization';
}

/** Upper-case for lower and lower for upper, letter by letter. */
function swapCase(s: string): string {
  return [...s].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join('');
}

/**
 * How `dir` compares names, learnt by making a name there (a ferry temporary name, so a killed
 * run's probe is swept like any other) and asking for its case-swapped and decomposed twins:
 * found as the same file means the directory folds. What cannot be learnt is `unknown`, with
 * both foldings assumed.
 */
export async function probeNameFolding(dir: string): Promise<NameFolding> {
  // The target directory itself (import makes it anyway): its file system decides, and an ext4
  // casefold flag is inherited from the directory above when it is made.
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    return { ...ANY_TARGET, unknown: `${dir}: cannot make the directory (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  // Composed é (NFC) and letters of both cases: the twins differ from it in case and in normalization.
  const tmp = tempPathFor(path.join(dir, 'name-probe-Ab\u00e9'));
  try {
    const fh = await open(tmp, 'wx');
    await fh.close();
  } catch (err) {
    releaseTemp(tmp);
    return { ...ANY_TARGET, unknown: `${dir}: cannot make a probe file there (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  try {
    const made = await lstat(tmp);
    const base = path.basename(tmp);
    const same = async (name: string) => {
      const st = await lstat(path.join(dir, name)).catch(() => undefined);
      return st !== undefined && st.ino === made.ino && st.dev === made.dev;
    };
    return { caseInsensitive: await same(swapCase(base)), normalizing: await same(base.normalize('NFD')) };
  } finally {
    await unlink(tmp).catch(() => undefined);
    releaseTemp(tmp);
  }
}

const probes = new Map<string, Promise<NameFolding>>();

/** probeNameFolding, once per directory in this process (every artifact of an import asks). */
export function probeNameFoldingOnce(dir: string): Promise<NameFolding> {
  const key = path.resolve(dir);
  let p = probes.get(key);
  if (!p) probes.set(key, (p = probeNameFolding(key)));
  return p;
}

/**
 * The clashes of `paths` (relative to `dir`) on `dir`'s file system, as import reports them:
 * each pair with why they are one file there. `shown` turns a path into what the user knows it by.
 */
export function foldedClashLines(paths: Iterable<string>, f: NameFolding, dir: string, shown: (p: string) => string = (p) => JSON.stringify(p.length > 200 ? `${p.slice(0, 200)}…` : p)): Array<{ paths: [string, string]; line: string }> {
  const how = f.unknown ? `a file system ferry could not probe (${f.unknown}), so taken to ignore case and Unicode normalization` : `a file system that ${foldingWords(f)}`;
  return foldedClashes(paths, f).map(([a, b]) => ({
    paths: [a, b],
    line: `${shown(a)} and ${shown(b)} are one name in ${dir}, on ${how}: the second written would replace the first after it was verified; import into a directory on a case-sensitive file system (ext4 or xfs without casefold), or bundle one of them`,
  }));
}

/**
 * foldedClashLines for paths each placed by an artifact (`placed`: path → its `top` digest and how
 * it is `shown`), probed in `dir` once per `cache`: each line under every artifact it involves.
 */
export function foldedByArtifact(placed: ReadonlyMap<string, { top: string; shown: string }>, dir: string, cache: Map<string, Promise<Map<string, string[]>>>): Promise<Map<string, string[]>> {
  let p = cache.get(dir);
  if (!p) {
    p = clashesOnTarget([...placed.keys()], dir, (x) => placed.get(x)!.shown).then((lines) => {
      const out = new Map<string, string[]>();
      for (const { paths, line } of lines) {
        for (const top of new Set(paths.map((x) => placed.get(x)!.top))) out.set(top, [...(out.get(top) ?? []), line]);
      }
      return out;
    });
    cache.set(dir, p);
  }
  return p;
}

/**
 * foldedClashLines on `dir`'s own file system, probed only when some pair of `paths` would be one
 * name on a target folding both case and normalization: names that cannot clash anywhere (nearly
 * every import) leave the target untouched, no directory made and no probe file written before
 * the import's other checks. `under`: the directory the paths are relative to (named in the lines).
 */
export async function clashesOnTarget(paths: readonly string[], dir: string, shown?: (p: string) => string, under = dir): Promise<Array<{ paths: [string, string]; line: string }>> {
  if (foldedClashes(paths, ANY_TARGET, 1).length === 0) return [];
  return foldedClashLines(paths, await probeNameFoldingOnce(dir), under, shown);
}
