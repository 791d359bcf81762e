import { mkdir } from 'node:fs/promises';
import { mustRun, runCommand } from './cli.js';

/** A tmpfs of `size` (`12m`) mounted on `dir` (made if missing), for disk-full tests; `mounts` records it for unmountAll. */
export async function mountTmpfs(dir: string, size: string, mounts: string[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  await mustRun('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

/** Unmount (lazily, last first) every mount in `mounts`. */
export async function unmountAll(mounts: string[]): Promise<void> {
  for (const m of [...mounts].reverse()) await runCommand('umount', ['-l', m]);
}
