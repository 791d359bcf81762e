/**
 * Hostile pass 21, PID reuse guard (src/store/temp-files.ts `processStartMs`/`writerAlive`,
 * src/store/pid-lock.ts `held`).
 *
 * Fixed:
 * - A lock (or temp file) whose pid is a zombie was held for as long as the zombie stayed
 *   unreaped (kill(pid, 0) answers for it; under a container init that does not reap, for ever):
 *   a zombie runs no code and holds nothing.
 * - A pid-less (or other-namespace) lock dated in the future was held until that date plus
 *   LOCK_STALE_MS (a waiter waited until 2100); a foreign temp file dated ahead was kept likewise.
 * Held: a command name holding `) ` and spaces (comm may) is read from the last `)`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPidLock } from '../../src/store/pid-lock.js';
import { processAlive, processNamespace, processStartMs, sweepStaleTemps, writerAlive } from '../../src/store/temp-files.js';

let dir: string;
const children: ChildProcess[] = [];
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h22-locks-'));
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/**
 * A zombie: `sh` starts a child that exits shortly after, then becomes `sleep`, which never reaps
 * it. The child outlives the `exec` by a moment: a shell still running when its child exits may
 * reap it (on a loaded machine it did, and the pid was gone), and then another is made.
 */
async function zombie(): Promise<number> {
  const { readFileSync } = await import('node:fs');
  for (let attempt = 0; attempt < 5; attempt++) {
    const c = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(c);
    const pid = await new Promise<number>((resolve) => c.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
    for (let i = 0; i < 400; i++) {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        break; // reaped before the exec: try again
      }
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return pid;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error('no zombie could be made in 5 attempts');
}

const lockText = (pid: number) => (processNamespace ? `${pid} n${processNamespace}` : String(pid));
const busy = (pid: number) => new Error(`held by ${pid}`);

describe('hostile-22: PID reuse guard', () => {
  it('a lock held by a zombie pid is taken over', async () => {
    const pid = await zombie();
    expect(processAlive(pid)).toBe(true);
    expect(writerAlive(pid, Date.now())).toBe(false);
    const file = path.join(dir, 'zombie.lock');
    await writeFile(file, lockText(pid));
    await expect(withPidLock(file, busy, async () => 'ran')).resolves.toBe('ran');
  });

  it('a temp file of a zombie writer is swept', async () => {
    const pid = await zombie();
    const sub = path.join(dir, 'sweep');
    await import('node:fs/promises').then((fs) => fs.mkdir(sub));
    const name = `x.ferry-${pid}${processNamespace ? `-n${processNamespace}` : ''}-0a.tmp`;
    await writeFile(path.join(sub, name), 'partial');
    expect(await sweepStaleTemps(sub)).toEqual([name]);
    expect(await readdir(sub)).toEqual([]);
  });

  it('an empty lock dated in 2100 is stale, not waited on until then', async () => {
    const file = path.join(dir, 'future.lock');
    await writeFile(file, '');
    const t = new Date('2100-01-01T00:00:00Z');
    await utimes(file, t, t);
    await expect(withPidLock(file, busy, async () => 'ran')).resolves.toBe('ran');
  });

  it('another namespace’s lock dated in 2100 is stale too; one touched just now is held', async () => {
    const file = path.join(dir, 'foreign.lock');
    const other = processNamespace === '00000000' ? '11111111' : '00000000';
    await writeFile(file, `4242 n${other}`);
    const t = new Date('2100-01-01T00:00:00Z');
    await utimes(file, t, t);
    await expect(withPidLock(file, busy, async () => 'ran')).resolves.toBe('ran');
    await writeFile(file, `4242 n${other}`);
    await expect(withPidLock(file, busy, async () => 'ran')).rejects.toThrow(/held by/);
    await rm(file);
  });

  it('a command name with ") " and spaces: the start time is read from the last ")"', async () => {
    const exe = path.join(dir, 'a) b c) d');
    await copyFile('/bin/sleep', exe);
    await import('node:fs/promises').then((fs) => fs.chmod(exe, 0o755));
    const before = Date.now();
    const c = spawn(exe, ['60'], { stdio: 'ignore' });
    children.push(c);
    await new Promise((r) => c.once('spawn', r));
    const started = processStartMs(c.pid!);
    expect(started).toBeDefined();
    // To about a second (boot time and clock ticks): within a few seconds of the spawn.
    expect(Math.abs(started! - before)).toBeLessThan(5000);
    expect(writerAlive(c.pid!, Date.now())).toBe(true);
    expect(writerAlive(c.pid!, before - 60_000)).toBe(false);
  });
});
