import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, mustRun, runCommand, runFerry } from '../support/cli.js';
import { listTree } from '../support/fs-tree.js';
import { mountTmpfs } from '../support/tmpfs.js';
import { pseudoRandomStream } from '../support/images.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * Crash and disk-full consistency of the writing commands (bundle create, with and without
 * --split-size; lock; import into a files directory), against real files on a small tmpfs and
 * real kill -9: the error names the place and says "no space left", the earlier good state
 * (a bundle, a lock, a mirror's files) stays whole, no temp or part file is left to fill the disk
 * again, and a killed run re-run gives the clean run's bytes.
 */

let work: string;
let server: StaticServer;
let manifest: string;
/** Mounted tmpfs directories, unmounted in afterAll. */
const mounts: string[] = [];
const sources: Record<string, Buffer> = {};
const env = (cache: string) => ({ FERRY_CACHE_DIR: path.join(work, cache), FERRY_RETRIES: '2', FERRY_RETRY_MIN_MS: '50' });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sha256File = async (f: string) => sha256(await readFile(f));
const exists = (f: string) => stat(f).then(() => true, () => false);

async function tmpfs(name: string, size: string): Promise<string> {
  return mountTmpfs(path.join(work, name), size, mounts);
}

/** Fill what is left of a tmpfs (dd stops at ENOSPC), but for `keep` bytes. */
async function fill(dir: string, keep = 0): Promise<void> {
  const file = path.join(dir, 'filler');
  await runCommand('dd', ['if=/dev/zero', `of=${file}`, 'bs=64k']);
  if (keep) await mustRun('truncate', ['-s', `-${keep}`, file]);
}

/** What an ENOSPC failure must look like: the place, the words, no stack trace. */
function expectDiskFull(r: { code: number; stderr: string }, place: string): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).toContain(`error: ${place}`);
  expect(r.stderr).toContain('no space left on the device');
  expect(r.stderr).toMatch(/hint: Free space/);
  expect(r.stderr).not.toMatch(/node:internal|\n\s+at |unexpected error|Node\.js v/);
}

const tempLike = (f: string) => /\.tmp$|\.partial$|\.partial\.json$|\.lock$/.test(f);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-crash-1-'));
  const srv = path.join(work, 'srv');
  await mkdir(srv, { recursive: true });
  for (const [name, size] of [['a.bin', 6_000_000], ['b.bin', 3_000_000], ['c.txt', 3]] as const) {
    const chunks: Buffer[] = [];
    for await (const c of pseudoRandomStream(size, `crash1-${name}`)) chunks.push(c as Buffer);
    sources[name] = Buffer.concat(chunks);
    await writeFile(path.join(srv, name), sources[name]);
  }
  server = await startStaticServer(srv);
  manifest = path.join(work, 'crash.yaml');
  await writeFile(
    manifest,
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: crash }',
      'files:',
      ...Object.keys(sources).flatMap((n) => [`  - name: ${n.replace('.', '-')}`, `    url: ${server.url}/${n}`, `    sha256: ${sha256(sources[n])}`]),
      '',
    ].join('\n'),
  );
  const lock = await runFerry(['lock', manifest], { env: env('cache-lock') });
  expect(lock.code, lock.stderr).toBe(0);
  const ref = await runFerry(['bundle', 'create', manifest, '-o', path.join(work, 'ref.ferry.tar')], { env: env('cache-ref') });
  expect(ref.code, ref.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  for (const m of mounts.reverse()) await runCommand('umount', ['-l', m]);
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('disk full (a 12 MB tmpfs)', () => {
  it('bundle create: a disk that cannot hold the bundle is refused before the first byte, naming the directory; the earlier bundle stays; re-run with space equals a clean run', async () => {
    const dir = await tmpfs('full-create', '12m');
    const out = path.join(dir, 'out.ferry.tar');
    await cp(path.join(work, 'ref.ferry.tar'), out);
    const before = await sha256File(out);
    const r = await runFerry(['bundle', 'create', manifest, '-o', out], { env: env('cache-full-create') });
    // The bundle's size is known from the lock: the free-space check refuses at once (newuser20),
    // so nothing of it is written (with --split-size too, below).
    expectDiskFull(r, dir);
    expect(r.stderr).toContain('refused before writing');
    expect(await sha256File(out)).toBe(before);
    expect((await listTree(dir)).filter(tempLike)).toEqual([]);
    // With room again (the earlier bundle removed), the same command completes.
    await rm(out);
    const again = await runFerry(['bundle', 'create', manifest, '-o', out], { env: env('cache-full-create') });
    expect(again.code, again.stderr).toBe(0);
    expect(await sha256File(out)).toBe(await sha256File(path.join(work, 'ref.ferry.tar')));
    expect((await listTree(dir)).filter(tempLike)).toEqual([]);
  });

  it('bundle create --split-size: a disk that cannot hold the parts is refused before the first part, naming the directory; no part is left', async () => {
    const dir = await tmpfs('full-split', '12m');
    await fill(dir, 5 * 1024 * 1024);
    const out = path.join(dir, 'out.ferry.tar');
    const r = await runFerry(['bundle', 'create', manifest, '-o', out, '--split-size', '2MB'], { env: env('cache-full-split') });
    // Checked as the single-file create is (review6): the parts were written until ENOSPC (…002.partial: cannot write).
    expectDiskFull(r, dir);
    expect(r.stderr).toContain('refused before writing');
    expect(r.stderr).not.toMatch(/cannot write/);
    expect(await listTree(dir)).toEqual(['filler']);
  });

  it('lock: names the lock file, keeps the old lock whole, leaves no temp file', async () => {
    const dir = await tmpfs('full-lock', '1m');
    const m = path.join(dir, 'crash.yaml');
    await writeFile(m, (await readFile(manifest, 'utf8')).replace('name: c-txt', 'name: c-text'));
    const lockFile = path.join(dir, 'crash.lock.json');
    await cp(path.join(work, 'crash.lock.json'), lockFile);
    const old = await readFile(lockFile);
    await fill(dir);
    const r = await runFerry(['lock', m], { env: env('cache-full-lock') });
    expectDiskFull(r, lockFile);
    expect(await readFile(lockFile)).toEqual(old);
    expect((await listTree(dir)).sort()).toEqual(['crash.lock.json', 'crash.yaml', 'filler']);
  });

  it('import into a files directory: names the directory, leaves no temp file, and a re-run with space equals a clean import', async () => {
    const dir = await tmpfs('full-import', '12m');
    const target = path.join(work, 'full-import-target.yaml');
    await writeFile(target, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: dir }\ndirectory: ${dir}/layout\nfiles: { dir: ${dir}/files, baseUrl: https://files.example }\n`);
    await fill(dir, 5 * 1024 * 1024);
    const r = await runFerry(['import', path.join(work, 'ref.ferry.tar'), '--target', target], { env: env('cache-full-import') });
    expectDiskFull(r, `${dir}/files`);
    expect((await listTree(dir)).filter(tempLike)).toEqual([]);
    await rm(path.join(dir, 'filler'));
    const again = await runFerry(['import', path.join(work, 'ref.ferry.tar'), '--target', target], { env: env('cache-full-import') });
    expect(again.code, again.stderr).toBe(0);
    const host = new URL(server.url).host.replace(':', '-');
    for (const [name, bytes] of Object.entries(sources)) expect(await sha256File(path.join(dir, 'files', host, name)), name).toBe(sha256(bytes));
    expect((await listTree(dir)).filter(tempLike)).toEqual([]);
  });

  it('rewrite catalogue in place: names the file, which stays as it was, and leaves no temp file', async () => {
    const dir = await tmpfs('full-rewrite', '1m');
    const target = path.join(work, 'rewrite-target.yaml');
    await writeFile(target, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: dir }\ndirectory: ${work}/unused\nfiles: { dir: ${work}/unused-files, baseUrl: https://files.example }\n`);
    const catalogue = path.join(dir, 'catalogue.txt');
    const text = `get ${server.url}/b.bin\n${'#'.repeat(8000)}\n`;
    await writeFile(catalogue, text);
    await fill(dir);
    const r = await runFerry(['rewrite', 'catalogue', catalogue, '-t', target, '--lock', path.join(work, 'crash.lock.json')]);
    expectDiskFull(r, catalogue);
    expect(await readFile(catalogue, 'utf8')).toBe(text);
    expect((await listTree(dir)).sort()).toEqual(['catalogue.txt', 'filler']);
  });
});

describe('read-only output (a read-only bind mount)', () => {
  it('bundle create and import refuse before any download or write, naming the place', async () => {
    const rw = path.join(work, 'ro-source');
    await mkdir(rw, { recursive: true });
    const ro = path.join(work, 'ro');
    await mkdir(ro, { recursive: true });
    await mustRun('mount', ['--bind', rw, ro]);
    mounts.push(ro);
    await mustRun('mount', ['-o', 'remount,bind,ro', ro]);
    const from = server.requests.length;
    const c = await runFerry(['bundle', 'create', manifest, '-o', path.join(ro, 'x.ferry.tar')], { env: env('cache-ro') });
    expect(c.code).not.toBe(0);
    expect(c.stderr).toContain(`${ro}: read-only file system`);
    expect(server.requests.slice(from)).toEqual([]);
    const target = path.join(work, 'ro-target.yaml');
    await writeFile(target, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: dir }\ndirectory: ${ro}/layout\nfiles: { dir: ${ro}/files, baseUrl: https://files.example }\n`);
    const i = await runFerry(['import', path.join(work, 'ref.ferry.tar'), '--target', target], { env: env('cache-ro') });
    expect(i.code).not.toBe(0);
    expect(i.stderr).toMatch(/read-only file system/);
    expect(i.stderr).not.toMatch(/node:internal|\n\s+at /);
    expect(await listTree(rw)).toEqual([]);
  });
});

/** Start ferry, kill -9 it once `ready()` says so (polled), and wait for it to be gone. */
async function killWhen(args: string[], envv: NodeJS.ProcessEnv, ready: () => Promise<boolean>): Promise<boolean> {
  const child = spawn(process.execPath, [FERRY, ...args], { env: { ...process.env, ...envv }, stdio: 'ignore' });
  const closed = new Promise((r) => child.once('close', r));
  let killed = false;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && child.exitCode === null) {
    if (await ready()) {
      killed = child.kill('SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await closed;
  return killed;
}

const sizeOf = (f: string) => stat(f).then((s) => s.size, () => -1);

describe('kill -9 at many points', () => {
  it('bundle create: never a bundle under its final name that is not the clean one; the re-run equals a clean run', async () => {
    const ref = await sha256File(path.join(work, 'ref.ferry.tar'));
    const out = path.join(work, 'killed.ferry.tar');
    // Kill points: as soon as the partial output exists, then as the fetch went on (bytes of
    // the lock journal show completed blobs), and at the rename.
    const points: Array<() => Promise<boolean>> = [
      () => exists(`${out}.partial`),
      async () => (await readFile(`${out}.partial.json`, 'utf8').catch(() => '')).split('\n').filter((l) => l.startsWith('sha256:')).length >= 1,
      async () => (await readFile(`${out}.partial.json`, 'utf8').catch(() => '')).split('\n').filter((l) => l.startsWith('sha256:')).length >= 3,
      () => exists(out),
    ];
    for (const [i, point] of points.entries()) {
      await rm(out, { force: true });
      await killWhen(['bundle', 'create', manifest, '-o', out, '-q'], env(`cache-kill-${i}`), point);
      if (await exists(out)) expect(await sha256File(out), `kill point ${i}`).toBe(ref);
      const again = await runFerry(['bundle', 'create', manifest, '-o', out], { env: env(`cache-kill-${i}`) });
      expect(again.code, again.stderr).toBe(0);
      expect(await sha256File(out), `kill point ${i}`).toBe(ref);
      expect((await listTree(work)).filter((f) => f.startsWith('killed.') && tempLike(f))).toEqual([]);
    }
  });

  it('bundle create --split-size: an earlier split stays readable as a whole until the new one is complete', async () => {
    const out = path.join(work, 'split.ferry.tar');
    const first = await runFerry(['bundle', 'create', manifest, '-o', out, '--split-size', '2MB'], { env: env('cache-split') });
    expect(first.code, first.stderr).toBe(0);
    const parts = await readFile(`${out}.parts`, 'utf8');
    for (const k of [1, 3]) {
      await killWhen(['bundle', 'create', manifest, '-o', out, '--split-size', '2MB', '-q'], env('cache-split'), async () => (await sizeOf(`${out}.00${k}.partial`)) > 0);
      // Either the old list with its parts, or the new one: verify says which is whole.
      if (await exists(`${out}.parts`)) {
        const v = await runFerry(['bundle', 'verify', out]);
        expect(v.code, v.stdout + v.stderr).toBe(0);
      }
      const again = await runFerry(['bundle', 'create', manifest, '-o', out, '--split-size', '2MB'], { env: env('cache-split') });
      expect(again.code, again.stderr).toBe(0);
      expect(await readFile(`${out}.parts`, 'utf8')).toBe(parts);
    }
  });

  it('lock: the lock file is the old or the new one, never cut', async () => {
    const dir = path.join(work, 'kill-lock');
    await mkdir(dir, { recursive: true });
    const m = path.join(dir, 'crash.yaml');
    const lockFile = path.join(dir, 'crash.lock.json');
    await cp(manifest, m);
    const clean = await runFerry(['lock', m], { env: env('cache-kill-lock') });
    expect(clean.code, clean.stderr).toBe(0);
    const old = await readFile(lockFile, 'utf8');
    await writeFile(m, (await readFile(manifest, 'utf8')).replace('name: c-txt', 'name: c-text'));
    for (let i = 0; i < 4; i++) {
      let polls = 0;
      // Spread kill points: after 0, 4, 8, 12 polls of 5 ms.
      await killWhen(['lock', m], env('cache-kill-lock'), async () => ++polls > i * 4);
      const now = await readFile(lockFile, 'utf8');
      if (now !== old) expect(JSON.parse(now).files.map((f: { name: string }) => f.name)).toContain('c-text');
      await writeFile(lockFile, old);
    }
    const again = await runFerry(['lock', m], { env: env('cache-kill-lock') });
    expect(again.code, again.stderr).toBe(0);
    // Temp files of killed runs are swept by the next write in the directory.
    expect((await listTree(dir)).sort()).toEqual(['crash.lock.json', 'crash.yaml']);
  });

  it('import into a files directory: a file under its final name is always whole; the re-run equals a clean import', async () => {
    const dir = path.join(work, 'kill-import');
    const target = path.join(work, 'kill-import-target.yaml');
    await writeFile(target, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: dir }\ndirectory: ${dir}/layout\nfiles: { dir: ${dir}/files, baseUrl: https://files.example }\n`);
    const host = new URL(server.url).host.replace(':', '-');
    const bundle = path.join(work, 'ref.ferry.tar');
    for (const k of [0, 1, 2]) {
      await rm(dir, { recursive: true, force: true });
      const ready = async () => (await listTree(path.join(dir, 'files'))).length > k;
      await killWhen(['import', bundle, '--target', target, '-q'], env('cache-kill-import'), ready);
      for (const [name, bytes] of Object.entries(sources)) {
        const f = path.join(dir, 'files', host, name);
        if (await exists(f)) expect(await sha256File(f), `${name} at kill point ${k}`).toBe(sha256(bytes));
      }
      const again = await runFerry(['import', bundle, '--target', target], { env: env('cache-kill-import') });
      expect(again.code, again.stderr).toBe(0);
      expect((await listTree(dir)).filter(tempLike)).toEqual([]);
      for (const [name, bytes] of Object.entries(sources)) expect(await sha256File(path.join(dir, 'files', host, name)), name).toBe(sha256(bytes));
    }
  });
});
