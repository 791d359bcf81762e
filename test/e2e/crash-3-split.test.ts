import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, runCommand, runFerry } from '../support/cli.js';
import { pseudoRandomStream } from '../support/images.js';
import { mountTmpfs, unmountAll } from '../support/tmpfs.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * A disk that fills in the middle of a split write: the tmpfs has room for the whole split when
 * ferry checks its free space, and another process fills it while the third part is being opened
 * (strace stops ferry once it has opened it, deterministically: no timing). No `.NNN` part is left under
 * its final name (short or not), no `.partial` is left to fill the disk again, the error names the
 * part, and once there is room the same command writes the split.
 */

let work: string;
let server: StaticServer;
let manifest: string;
let bundle: string;
const mounts: string[] = [];
const PART = 1_000_000;
const env = { FERRY_CACHE_DIR: '' };

/**
 * Run ferry under strace, stopped (SIGSTOP, injected at the openat of `stopAt`) once it has
 * opened that file; then `whileStopped`, then continued. Stopped is read from strace's log or from
 * /proc (the process's state, and the file there), never guessed from time.
 */
async function runStoppedAt(args: string[], stopAt: string, whileStopped: () => Promise<void>): Promise<{ code: number; stderr: string; stopped: boolean }> {
  const log = path.join(work, `strace-${path.basename(stopAt)}-${Date.now()}.log`);
  const child = spawn('strace', ['-f', '-o', log, '-P', stopAt, '-e', 'trace=openat', '-e', 'inject=openat:signal=SIGSTOP', process.execPath, FERRY, ...args], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  let done = false;
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 128))).finally(() => (done = true));
  let stopped = false;
  while (!done && !stopped) {
    const pid = (await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').catch(() => '')).trim().split(/\s+/)[0];
    // Stopped: strace's log says so (for whichever thread did the openat: SIGSTOP stops the whole
    // process), or the part exists and the process is in a stop state (/proc): the openat that made
    // it returned into strace's hands, which resumes it only with the SIGSTOP it injects, so ferry
    // writes nothing to the part before it is continued. The second form holds when the log line is
    // late (the test hung under load waiting for it).
    const text = await readFile(log, 'utf8').catch(() => '');
    const state = pid ? /^\d+ \(.*\) (\S)/s.exec(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''))?.[1] : undefined;
    const logged = /^\d+ --- stopped by SIGSTOP ---$/m.test(text);
    if (pid && (logged || ((state === 'T' || state === 't') && (await stat(stopAt).then(() => true, () => false))))) {
      stopped = true;
      await whileStopped();
      // Continued until it exits: a SIGSTOP delivered after the first SIGCONT (the stop seen in
      // /proc before strace injected it) is undone by the next one.
      while (!done) {
        try {
          process.kill(Number(pid), 'SIGCONT');
        } catch {
          // Exited already; strace is finishing.
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    } else await new Promise((r) => setTimeout(r, 20));
  }
  return { code: await exited, stderr, stopped };
}

async function fill(dir: string): Promise<void> {
  await runCommand('dd', ['if=/dev/zero', `of=${path.join(dir, 'filler')}`, 'bs=64k']);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-crash-3-split-'));
  env.FERRY_CACHE_DIR = path.join(work, 'cache');
  const srv = path.join(work, 'srv');
  await mkdir(srv);
  const chunks: Buffer[] = [];
  for await (const c of pseudoRandomStream(3_500_000, 'crash3-split')) chunks.push(c as Buffer);
  const data = Buffer.concat(chunks);
  await writeFile(path.join(srv, 'big.bin'), data);
  server = await startStaticServer(srv);
  manifest = path.join(work, 'split.yaml');
  await writeFile(
    manifest,
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: split }', 'files:', '  - name: big', `    url: ${server.url}/big.bin`, `    sha256: ${createHash('sha256').update(data).digest('hex')}`, ''].join('\n'),
  );
  bundle = path.join(work, 'split.ferry.tar');
  const r = await runFerry(['bundle', 'create', manifest, '-o', bundle], { env });
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await server?.close();
  await unmountAll(mounts);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the disk fills while a split is written', () => {
  for (const verb of ['bundle split', 'bundle create --split-size'] as const) {
    it(`${verb}: the third part fails; no part under its final name, nothing left, the part named; a re-run with room writes it`, async () => {
      const disk = await mountTmpfs(path.join(work, verb.replace(/\W+/g, '-')), '8m', mounts);
      const out = path.join(disk, 'out.ferry.tar');
      const args = verb === 'bundle split' ? ['bundle', 'split', bundle, '--split-size', String(PART), '-o', out] : ['bundle', 'create', manifest, '-o', out, '--split-size', String(PART)];
      const r = await runStoppedAt(args, `${out}.003.partial`, () => fill(disk));
      expect(r.stopped, r.stderr).toBe(true);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`error: ${out}.003.partial: cannot write: no space left on the device`);
      expect(r.stderr).not.toMatch(/node:internal|\n\s+at /);
      expect(await readdir(disk)).toEqual(['filler']);

      await rm(path.join(disk, 'filler'));
      const again = await runFerry(args, { env });
      expect(again.code, again.stderr).toBe(0);
      expect((await readdir(disk)).sort()).toEqual(['out.ferry.tar.001', 'out.ferry.tar.002', 'out.ferry.tar.003', 'out.ferry.tar.004', 'out.ferry.tar.parts']);
      const verify = await runFerry(['bundle', 'verify', `${out}.parts`], { env });
      expect(verify.code, verify.stderr).toBe(0);
    }, 120_000);
  }
});
