import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * `mkdir -p`, one level at a time. Node's recursive mkdir loops forever where a directory exists
 * but nothing can be made in it (HOME=/proc/self: mkdir of the child says ENOENT, the parent is
 * there, and it retries), which made every command with a default cache spin. Here each missing
 * level is made once and its error (ENOENT, EACCES, ENOTDIR, ...) is thrown as it is.
 */
export async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const s = await stat(d).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT' || path.dirname(d) === d) throw err;
      return undefined;
    });
    if (s) {
      if (s.isDirectory()) break;
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), { code: 'ENOTDIR', path: d });
    }
    missing.unshift(d);
  }
  for (const d of missing) {
    await mkdir(d).catch(async (err: NodeJS.ErrnoException) => {
      // Made meanwhile by another process: fine if it is a directory.
      if (err.code !== 'EEXIST' || !(await stat(d)).isDirectory()) throw err;
    });
  }
}
