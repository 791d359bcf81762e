import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../support/cli.js';

/**
 * A download cache shared by jobs in separate PID namespaces (CI containers on one cache volume):
 * each job may be pid 1, and a pid from another namespace says nothing here. Two real processes,
 * each in its own namespace (`unshare --pid --fork --mount-proc`), on one directory: the second
 * must neither take over the first's live lock nor sweep its live temp file (both did: pid 1 is
 * "this process's own pid", taken for a leftover of an earlier run). A lock or temp file of
 * another namespace goes once stale by age; within one namespace a dead writer's go at once.
 */

let work: string;
let helper: string;
const children: ChildProcess[] = [];

const HELPER = `
import { writeFile, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { withPidLock } from ${JSON.stringify(path.resolve('src/store/pid-lock.ts'))};
import { sweepStaleTemps, tempPathFor } from ${JSON.stringify(path.resolve('src/store/temp-files.ts'))};
const [cmd, lock, dir, ready, release] = process.argv.slice(2);
const exists = (f) => stat(f).then(() => true, () => false);
if (cmd === 'hold') {
  await withPidLock(lock, 'wait', async () => {
    const tmp = tempPathFor(path.join(dir, 'blob'));
    await writeFile(tmp, 'being written');
    await writeFile(ready, JSON.stringify({ pid: process.pid, tmp: path.basename(tmp) }));
    while (!(await exists(release))) await new Promise((r) => setTimeout(r, 50));
  });
} else {
  const removed = await sweepStaleTemps(dir);
  let lockState = 'taken';
  await withPidLock(lock, (pid) => new Error('busy ' + pid), async () => {}).catch((e) => { lockState = e.message; });
  console.log(JSON.stringify({ pid: process.pid, removed, lock: lockState }));
}
`;

async function waitFor(file: string, child: ChildProcess): Promise<{ pid: number; tmp: string }> {
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text) return JSON.parse(text) as { pid: number; tmp: string };
    if (child.exitCode !== null) throw new Error(`holder exited ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function startHolder(name: string, ns: boolean): { child: ChildProcess; lock: string; dir: string; ready: string; release: string } {
  const dir = path.join(work, name);
  const lock = path.join(dir, 'blob.lock');
  const ready = path.join(work, `${name}.ready`);
  const release = path.join(work, `${name}.release`);
  const argv = [process.execPath, helper, 'hold', lock, dir, ready, release];
  const child = ns ? spawn('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', ...argv], { stdio: 'ignore' }) : spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
  children.push(child);
  return { child, lock, dir, ready, release };
}

async function tryOther(lock: string, dir: string, ns: boolean): Promise<{ pid: number; removed: string[]; lock: string }> {
  const argv = [process.execPath, helper, 'try', lock, dir];
  const r = ns ? await runCommand('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', ...argv]) : await runCommand(argv[0], argv.slice(1));
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { pid: number; removed: string[]; lock: string };
}

const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-crash-2-pidns-'));
  helper = path.join(work, 'helper.mjs');
  await writeFile(path.join(work, 'helper-src.mjs'), HELPER);
  await build({ entryPoints: [path.join(work, 'helper-src.mjs')], bundle: true, platform: 'node', format: 'esm', outfile: helper, logLevel: 'error' });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rm(work, { recursive: true, force: true });
});

describe('a cache shared across PID namespaces', () => {
  it("another namespace's live lock and temp file are left alone, though both processes are pid 1", async () => {
    const h = startHolder('live', true);
    await mkdir(h.dir, { recursive: true });
    const held = await waitFor(h.ready, h.child);
    expect(held.pid).toBe(1);
    const other = await tryOther(h.lock, h.dir, true);
    expect(other.pid).toBe(1);
    expect(other.removed).toEqual([]);
    expect(other.lock).toMatch(/^busy /);
    expect(await readdir(h.dir)).toContain(held.tmp);
    await writeFile(h.release, '');
    await exited(h.child);
    expect(h.child.exitCode).toBe(0);
    // Released: the lock is free for the other namespace at once.
    expect((await tryOther(h.lock, h.dir, true)).lock).toBe('taken');
  });

  it("a killed holder's lock and temp file in another namespace go once stale by age", async () => {
    const h = startHolder('killed-foreign', true);
    await mkdir(h.dir, { recursive: true });
    const held = await waitFor(h.ready, h.child);
    h.child.kill('SIGKILL');
    await exited(h.child);
    // Not yet stale by age: left alone.
    const early = await tryOther(h.lock, h.dir, true);
    expect(early.removed).toEqual([]);
    expect(early.lock).toMatch(/^busy /);
    // Unmodified for longer than the limits (a day for a temp file, two minutes for a lock).
    const old = new Date(Date.now() - 25 * 3600_000);
    await utimes(h.lock, old, old);
    await utimes(path.join(h.dir, held.tmp), old, old);
    const late = await tryOther(h.lock, h.dir, true);
    expect(late.removed).toEqual([held.tmp]);
    expect(late.lock).toBe('taken');
    expect(await readdir(h.dir)).toEqual([]);
  });

  it("within one namespace a killed holder's lock and temp file go at once", async () => {
    const h = startHolder('killed-same', false);
    await mkdir(h.dir, { recursive: true });
    const held = await waitFor(h.ready, h.child);
    h.child.kill('SIGKILL');
    await exited(h.child);
    const other = await tryOther(h.lock, h.dir, false);
    expect(other.removed).toEqual([held.tmp]);
    expect(other.lock).toBe('taken');
    expect(await stat(h.lock).then(() => true, () => false)).toBe(false);
  });
});
