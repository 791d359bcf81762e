import { stat, statfs } from 'node:fs/promises';
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
  const fs = await statfs(dir).catch((err: NodeJS.ErrnoException) => {
    throw unreadableFile(dir, 'output directory', err);
  });
  if (fs.blocks === 0) return Number.POSITIVE_INFINITY;
  return (process.getuid?.() === 0 ? fs.bfree : fs.bavail) * fs.bsize;
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
