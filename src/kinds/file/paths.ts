import { mirrorUrlPath } from '../../mapping/index.js';
import { clip, MirrorTree, type TreePlace } from '../../mapping/mirror-tree.js';
import { isSafeRelativePath } from '../../store/safe-path.js';
import { isTempName } from '../../store/temp-files.js';

/** Where an upstream URL goes under `files.dir`, or why it has no place of its own there. */
export type FilePlace = TreePlace;

/**
 * The upstream files one files tree holds (the file, its checksum file, its signature, for every
 * entry), each at its mapped path (mapping/mirrorUrlPath: host + decoded path), one URL per path
 * and none inside another's file (see MirrorTree). `lock`, `import` and `serve` all place URLs
 * through here, so each refuses what the others would.
 */
export class FileTree extends MirrorTree {
  constructor() {
    super('file', 'the mirror path is the host and the decoded path: no query string, %2F is /');
  }

  override place(owner: string, p: string, key = owner): FilePlace {
    const temp = tempNameProblem(p);
    return temp ? { problem: temp, own: true } : super.place(owner, p, key);
  }
}

/**
 * Why a mirror path cannot hold an upstream file: its name is one ferry gives its temporary
 * files (`x.ferry-999999.tmp`), which the next import or write in that directory would remove as
 * left by a killed run (the mirror losing a file it was said to hold).
 */
export function tempNameProblem(p: string): string | undefined {
  const name = p.slice(p.lastIndexOf('/') + 1);
  return isTempName(name) ? `its file name ${clip(JSON.stringify(name))} is one ferry gives its temporary files (a later import would remove it as left by a killed run); mirror it under another name` : undefined;
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
