/**
 * PIDs wrap (32 768 by default on Linux): on a busy machine the pid of a writer killed with -9 is
 * soon another live process's. Temp files and cache locks were judged by `kill(pid, 0)` alone, so
 * such a leftover was kept as live: a re-run of an APT import after a kill left the dead run's
 * `app_2.0_all.deb.ferry-<pid>-….tmp` in the pool (seen under load in apt-atomic), and a lock
 * would have been waited on for ever. Now a live pid counts as the writer only when that process
 * started before the file's last modification (to about a second).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPidLock } from '../../../src/store/pid-lock.js';
import { processStartMs, sweepStaleTemps, writerAlive } from '../../../src/store/temp-files.js';

let dir: string;
let later: ChildProcess;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-pid-reuse-'));
  // A live process standing for "another process that got the dead writer's pid".
  later = spawn('sleep', ['60'], { stdio: 'ignore' });
  await new Promise((r) => later.once('spawn', r));
});
afterAll(async () => {
  later.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('a pid reused by a later process', () => {
  it('reads a process start time from /proc, close to now for a process just started', () => {
    const started = processStartMs(later.pid!)!;
    expect(Math.abs(started - Date.now())).toBeLessThan(60_000);
    expect(writerAlive(later.pid!, Date.now())).toBe(true);
    expect(writerAlive(later.pid!, Date.now() - 3_600_000)).toBe(false);
    expect(writerAlive(process.pid, Date.now())).toBe(true);
  });

  it("sweeps a temp file last written before the pid's process started, and keeps one written after", async () => {
    const old = path.join(dir, `app_2.0_all.deb.ferry-${later.pid}-0a1b2c3d.tmp`);
    const fresh = path.join(dir, `app_3.0_all.deb.ferry-${later.pid}-0a1b2c3e.tmp`);
    await writeFile(old, 'x');
    await writeFile(fresh, 'y');
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(old, hourAgo, hourAgo);
    expect(await sweepStaleTemps(dir)).toEqual([path.basename(old)]);
    expect((await readdir(dir)).sort()).toEqual([path.basename(fresh)]);
  });

  it('takes over a cache lock whose pid now belongs to a process started after its last heartbeat', async () => {
    const file = path.join(dir, 'store.lock');
    await writeFile(file, `${later.pid}\n`);
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(file, hourAgo, hourAgo);
    const got = await Promise.race([withPidLock(file, 'wait', async () => 'taken'), new Promise((r) => setTimeout(() => r('still waiting'), 5_000))]);
    expect(got).toBe('taken');
  });
});
