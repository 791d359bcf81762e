import { mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { processAlive } from './temp-files.js';

/**
 * An exclusive lock between ferry processes: `file`, created exclusively, holding the pid. A
 * lock whose process is gone is taken over, and so is one carrying this process's own pid
 * (pids repeat: in a container every run may be pid 1; this process never waits on itself).
 * While another live process holds it, `busy` decides: 'wait' polls until it is free; a
 * function returns the error to throw at once.
 */
export async function withPidLock<T>(file: string, busy: 'wait' | ((pid: number) => Error), fn: () => Promise<T>): Promise<T> {
  await mkdir(path.dirname(file), { recursive: true });
  for (;;) {
    try {
      const fh = await open(file, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(await readFile(file, 'utf8').catch(() => ''));
      if (!pid || pid === process.pid || !processAlive(pid)) {
        await rm(file, { force: true });
        continue;
      }
      if (busy !== 'wait') throw busy(pid);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(file, { force: true });
  }
}
