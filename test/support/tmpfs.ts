import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { mustRun, runCommand } from './cli.js';
import { startRegistry, type RunningRegistry } from './registry.js';

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

/**
 * A plain-HTTP docker-registry under `dir`, its storage on a tmpfs of `size` when given (a registry
 * whose disk fills); recorded in `registries` (to stop) and `mounts` (to unmount).
 */
export async function registryOnTmpfs(dir: string, size: string | undefined, mounts: string[], registries: RunningRegistry[]): Promise<RunningRegistry> {
  if (size) await mountTmpfs(path.join(dir, 'storage'), size, mounts);
  const reg = await startRegistry({ mode: 'http', dir });
  registries.push(reg);
  return reg;
}
