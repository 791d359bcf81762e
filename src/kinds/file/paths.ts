import { mirrorUrlPath } from '../../mapping/index.js';
import { isSafeRelativePath } from '../../store/safe-path.js';

/**
 * Bytes of one segment of a path under `files.dir`. File systems take 255 (NAME_MAX); ferry
 * writes `<name>.sha512` beside a file and every write goes through `<name>.ferry-<pid>-…tmp`,
 * so a longer upstream name would fail with ENAMETOOLONG midway through an import.
 */
export const MAX_FILE_SEGMENT = 200;
/** Bytes of a whole path under `files.dir` (PATH_MAX is 4096 with the directory in front). */
export const MAX_FILE_PATH = 3000;

/** Where an upstream URL goes under `files.dir`, or why it has no place of its own there. */
export type FilePlace = { path: string } | { problem: string; clash?: string };

/**
 * The upstream files one files tree holds (the file, its checksum file, its signature, for every
 * entry), each at its mapped path (mapping/mirrorUrlPath: host + decoded path). The mapping is
 * not one-to-one: `a%2Fb` and `a/b`, `get?id=1` and `get?id=2`, hosts `a_b` and `a-b` land on
 * one path, and `x` can be a file for one entry and the directory of `x/y` for another. One URL
 * per path, and no path both a file and a directory: otherwise one file would silently replace
 * another (and rewrite point both URLs at it), or the import would fail halfway. `lock`,
 * `import` and `serve` all place URLs through here, so each refuses what the others would.
 */
export class FileTree {
  /** Path → the URL there. */
  private readonly files = new Map<string, string>();
  /** Directory path → one URL under it. */
  private readonly dirs = new Map<string, string>();

  /**
   * Place `url` at `p`, its mapped path (mapFileUrl; one that is not a plain relative path is
   * for safeJoin or addServedPath to refuse, as they always did): the problem when it is too
   * long, or taken by another URL, or a file where another needs a directory.
   */
  place(url: string, p: string): FilePlace {
    const bad = lengthProblem(p);
    if (bad) return { problem: bad };
    const there = this.files.get(p);
    if (there === url) return { path: p };
    if (there !== undefined) {
      return {
        problem: `${clip(there)} maps to the same mirror path ${clip(p)}; only one file can be there (the mirror path is the host and the decoded path: no query string, %2F is /)`,
        clash: p,
      };
    }
    const under = this.dirs.get(p);
    if (under !== undefined) return { problem: `its mirror path ${clip(p)} is the directory of ${clip(under)}; it cannot be a file too` };
    const segments = p.split('/');
    for (let i = 1; i < segments.length; i++) {
      const dir = segments.slice(0, i).join('/');
      const file = this.files.get(dir);
      if (file !== undefined) return { problem: `its mirror path ${clip(p)} needs ${clip(dir)} to be a directory, where ${clip(file)} is a file` };
    }
    this.files.set(p, url);
    for (let i = 1; i < segments.length; i++) {
      const dir = segments.slice(0, i).join('/');
      if (!this.dirs.has(dir)) this.dirs.set(dir, url);
    }
    return { path: p };
  }

  /** Whether ferry may put a file of its own at `p` (the `.sha256` beside a file): no upstream file is there or under it. */
  isFree(p: string): boolean {
    return !this.files.has(p) && !this.dirs.has(p);
  }
}

/**
 * The mapped path of `url` (a URL, with a plain relative path) placed in `tree`; for `lock`,
 * which has no target to let safeJoin refuse the rest, and for import's look over the whole
 * bundle (`own`: the URL alone is at fault, which import's per-layer checks report in their words).
 */
export function placeUrl(tree: FileTree, url: string): FilePlace & { own?: boolean } {
  let p: string;
  try {
    p = mirrorUrlPath(url);
  } catch (err) {
    return { problem: (err as Error).message, own: true };
  }
  if (!isSafeRelativePath(p)) return { problem: `it has no file name of its own on the mirror (${clip(JSON.stringify(p))}: no path, or a backslash or control character in it)`, own: true };
  return tree.place(url, p);
}

/** Why `p` (relative to files.dir) is too long to be written, or undefined. */
function lengthProblem(p: string): string | undefined {
  if (Buffer.byteLength(p) > MAX_FILE_PATH) return `its mirror path is ${Buffer.byteLength(p)} bytes long; ferry writes at most ${MAX_FILE_PATH}`;
  const long = p.split('/').find((s) => Buffer.byteLength(s) > MAX_FILE_SEGMENT);
  if (long !== undefined) return `a segment of its mirror path is ${Buffer.byteLength(long)} bytes long; ferry writes at most ${MAX_FILE_SEGMENT} (file systems take 255, less ferry's .sha512 and temporary suffixes)`;
  return undefined;
}

function clip(s: string): string {
  return s.length > 160 ? `${s.slice(0, 120)}…(${s.length} characters)` : s;
}
