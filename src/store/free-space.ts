import { constants } from 'node:fs';
import { access, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { FerryError, unreadableFile } from '../errors.js';
import { humanBytes } from '../ui/progress.js';

/**
 * Bytes this process may still write on the file system that holds `dir` (root may use the blocks
 * reserved for it, as ext4's reserve). Infinity when the file system gives no size at all (0
 * blocks in all: proc, sys, and FUSE or network file systems that do not report space): what it
 * cannot measure is not refused, a real shortage still ends in ENOSPC, said as such.
 */
export async function freeBytes(dir: string): Promise<number> {
  return (await fsSpace(dir, 'output directory')).free;
}

/** freeBytes, with the block size files are counted in there (a file takes whole blocks). */
async function fsSpace(dir: string, what: string): Promise<{ free: number; block: number }> {
  const fs = await statfs(dir).catch((err: NodeJS.ErrnoException) => {
    throw unreadableFile(dir, what, err);
  });
  const block = fs.bsize > 0 ? fs.bsize : 1;
  if (fs.blocks === 0) return { free: Number.POSITIVE_INFINITY, block };
  return { free: (process.getuid?.() === 0 ? fs.bfree : fs.bavail) * fs.bsize, block };
}

/**
 * Refuse before a byte is written when `file`'s file system cannot take `size` bytes more than
 * `file` already occupies there (a partial output that is resumed, or replaced, gives its blocks back).
 */
export async function requireSpaceFor(file: string, size: number, what: string, hint: string): Promise<void> {
  const dir = path.dirname(file);
  const held = await stat(file).then((s) => s.blocks * 512, () => 0);
  const need = size - held;
  const free = await freeBytes(dir);
  if (need > free) {
    // A full disk is the machine's problem, not a usage error: exit 1, as ENOSPC itself (README, exit codes).
    throw new FerryError('INTERNAL', `${dir}: ${what} needs ${need} bytes more (${humanBytes(need)}) than the ${free} free (${humanBytes(free)}); refused before writing, as it would end in no space left on the device`, { hint });
  }
}

/** One file a command would write into a directory of its target (the kinds' ImportNeed). */
export interface DirectoryNeed {
  /** The target's key for the directory (`files.dir`), named in the refusal. */
  key: string;
  dir: string;
  /** The file's path: one path listed twice is counted once (at its larger size). */
  file: string;
  bytes: number;
}

/** Kept free beyond the files themselves (new directories, index files rewritten through a temporary copy): 1%, at least 1 MiB, at most 1 GiB. */
export function spaceMargin(need: number): number {
  return Math.max(1 << 20, Math.min(1 << 30, Math.ceil(need / 100)));
}

/** A directory that may not exist yet: the nearest one above it that does (where it would be made). */
async function existingDir(dir: string): Promise<{ at: string; dev: number }> {
  let at = path.resolve(dir);
  for (;;) {
    const st = await stat(at).catch(() => undefined);
    if (st) return { at, dev: st.dev };
    const up = path.dirname(at);
    if (up === at) return { at, dev: -1 };
    at = up;
  }
}

/**
 * Refuse before a byte is written when a file system cannot take the files `needs` lists: the
 * directories are grouped by the file system that holds them (st_dev of each, or of the nearest
 * directory above one not made yet), each file counted in whole blocks of that file system, and
 * the sum plus spaceMargin compared with its free space. One error names every file system short
 * (its directories, their target keys, the bytes needed and free). `doing`: what would fill them
 * (`importing <bundle>`); `rerun`: what to do once there is room. A file system that reports no
 * size is not refused (freeBytes).
 */
export async function requireRoomInDirectories(needs: Iterable<DirectoryNeed>, doing: string, rerun: string): Promise<void> {
  const byFile = new Map<string, DirectoryNeed>();
  for (const n of needs) {
    const bytes = Number.isSafeInteger(n.bytes) && n.bytes >= 0 ? n.bytes : Number.POSITIVE_INFINITY;
    const had = byFile.get(n.file);
    if (!had || had.bytes < bytes) byFile.set(n.file, { ...n, bytes });
  }
  // Per target directory, then per file system.
  const dirs = new Map<string, { key: string; dev: number; at: string }>();
  for (const n of byFile.values()) if (!dirs.has(n.dir)) dirs.set(n.dir, { key: n.key, ...(await existingDir(n.dir)) });
  const groups = new Map<number | string, { at: string; dirs: Set<string>; files: number; bytes: number; block?: number; free?: number }>();
  for (const n of byFile.values()) {
    if (n.bytes === 0) continue;
    const d = dirs.get(n.dir)!;
    const id = d.dev >= 0 ? d.dev : d.at;
    let g = groups.get(id);
    if (!g) {
      // A read-only file system is not short of space: the first write names it as what it is.
      const readOnly = await access(d.at, constants.W_OK).then(() => false, (err: NodeJS.ErrnoException) => err.code === 'EROFS');
      const space = readOnly ? { free: Number.POSITIVE_INFINITY, block: 1 } : await fsSpace(d.at, `the free space of ${n.dir} (the target's ${n.key})`);
      groups.set(id, (g = { at: d.at, dirs: new Set(), files: 0, bytes: 0, ...space }));
    }
    g.dirs.add(n.dir);
    g.files++;
    g.bytes += Math.ceil(n.bytes / g.block!) * g.block!;
  }
  const short: string[] = [];
  const fixes: string[] = [];
  for (const g of groups.values()) {
    const margin = spaceMargin(g.bytes);
    if (g.bytes + margin <= g.free!) continue;
    const ds = [...g.dirs].sort();
    const one = ds.length === 1;
    short.push(
      `${ds.map((d) => `${d} (the target's ${dirs.get(d)!.key})`).join(', ')}: ${doing} needs ${g.bytes} bytes (${humanBytes(g.bytes)}) there for the ${g.files} file${g.files === 1 ? '' : 's'} ${one ? 'it lacks' : 'they lack'}, and ${humanBytes(margin)} kept free; the file system that holds ${one ? 'it' : 'them'} has ${g.free} bytes free (${humanBytes(g.free!)})`,
    );
    fixes.push(`Free space on the file system that holds ${ds.join(', ')} (\`df -h ${dirs.get(ds[0])!.at}\`), or point the target's ${[...new Set(ds.map((d) => dirs.get(d)!.key))].join(' / ')} at a disk with room`);
  }
  if (!short.length) return;
  // A full disk is the machine's problem, not a usage error: exit 1, as ENOSPC itself (README, exit codes).
  throw new FerryError('INTERNAL', `${short.length === 1 ? short[0] : `${short.length} file systems have no room for ${doing}`}; refused before writing anything, as it would end in no space left on the device`, {
    details: short.length > 1 ? short : undefined,
    hint: `${fixes.join('; ')}; then ${rerun}`,
  });
}