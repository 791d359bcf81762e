import path from 'node:path';
import { FerryError } from '../errors.js';

/**
 * The one way to build a filesystem path from data that arrived from outside (bundle names,
 * chart names and versions, APT titles, file names, request paths). Each part is a relative
 * POSIX path; the result is refused unless it stays strictly inside `root`.
 *
 * Refused: empty parts, absolute paths, `..` or `.` segments, empty segments (`a//b`),
 * backslashes, NUL and other control characters. `label` names the artifact in the error.
 */
export function safeJoin(root: string, parts: string | string[], label: string): string {
  const list = Array.isArray(parts) ? parts : [parts];
  for (const p of list) checkRelativePath(p, label);
  const absRoot = path.resolve(root);
  const joined = path.resolve(absRoot, ...list);
  const rel = path.relative(absRoot, joined);
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw unsafePath(list.join('/'), label);
  }
  const long = pathLengthProblem(rel);
  if (long) {
    throw new FerryError('VERIFY', `${label}: refusing path ${JSON.stringify(rel.length > 300 ? `${rel.slice(0, 200)}…` : rel)}: ${long}`, {
      hint: 'A file system cannot hold it: the name was crafted, or is longer than any this target can take. Nothing was written; mirror it under a shorter name.',
    });
  }
  return joined;
}

/**
 * Bytes of one path segment ferry writes from outside data. File systems take 255 (NAME_MAX);
 * ferry writes beside a name (`.sha512`, `.prov`), publishes through `.<suite>.ferry/`, and
 * every write goes through `<name>.ferry-<pid>-n<ns>-<8 hex>.tmp` (about 40 bytes), so a longer
 * name would fail with ENAMETOOLONG midway through an import.
 */
export const MAX_SEGMENT_BYTES = 200;
/** Bytes of a whole path under a target directory (PATH_MAX is 4096 with the directory in front). */
export const MAX_PATH_BYTES = 3000;

/** Why the relative path `p` is too long to be written, or undefined. */
export function pathLengthProblem(p: string): string | undefined {
  const n = Buffer.byteLength(p);
  if (n > MAX_PATH_BYTES) return `its mirror path is ${n} bytes long; ferry writes at most ${MAX_PATH_BYTES}`;
  const long = p.split(/[\\/]/).find((s) => Buffer.byteLength(s) > MAX_SEGMENT_BYTES);
  if (long !== undefined) return `a segment of its mirror path is ${Buffer.byteLength(long)} bytes long; ferry writes at most ${MAX_SEGMENT_BYTES} (file systems take 255, less ferry's .sha512 and temporary suffixes)`;
  return undefined;
}

/** Throws unless `p` is a plain relative POSIX path with no `..`, `.`, empty segment or control byte. */
export function checkRelativePath(p: string, label: string): string {
  if (typeof p !== 'string' || !isSafeRelativePath(p)) throw unsafePath(String(p), label);
  return p;
}

export function isSafeRelativePath(p: string): boolean {
  if (!p || p.startsWith('/') || p.includes('\\')) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) return false;
  return p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

/** Whether the absolute path `file` is `root` itself or lies under it (both already resolved). */
export function isWithin(file: string, root: string): boolean {
  return file === root || file.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** One path segment (a file name): no `/` at all. */
export function isSafeSegment(s: string): boolean {
  return isSafeRelativePath(s) && !s.includes('/');
}

function unsafePath(p: string, label: string): FerryError {
  return new FerryError('VERIFY', `${label}: refusing path ${JSON.stringify(p)}: it would lead outside the target directory`, {
    hint: 'The bundle names a path that is absolute, contains "..", or has control characters. It was crafted or damaged; nothing was written.',
  });
}
