import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runFerry } from '../support/cli.js';
import { pseudoRandomStream } from '../support/images.js';
import type { RunningRegistry } from '../support/registry.js';
import { ferryKilledWhen, settledWalk, walkRegistry } from '../support/registry-walk.js';
import { mountTmpfs, registryOnTmpfs, unmountAll } from '../support/tmpfs.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * `bundle push` and `bundle pull` killed (-9) at a spread of points, and on a full disk (the
 * registry's storage on a small tmpfs for push; the output directory on one for pull), against a
 * real docker-registry. After a killed or failed push every tag the registry serves resolves to
 * a manifest whose blobs are all there; a pulled bundle never appears under its final name until
 * it is whole and verified; the re-run completes (the pull gives the pushed bytes), and a full
 * disk's error names the registry or the file and says the device is full.
 */

let work: string;
let server: StaticServer;
let bundle: string;
let bundleSha = '';
const registries: RunningRegistry[] = [];
const mounts: string[] = [];
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });
const sha256File = async (f: string) => createHash('sha256').update(await readFile(f)).digest('hex');

const registry = (name: string, size?: string): Promise<RunningRegistry> => registryOnTmpfs(path.join(work, name), size, mounts, registries);

const walk = walkRegistry;

async function bytesUnder(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (e.isFile()) n += (await stat(path.join(e.parentPath, e.name)).catch(() => ({ size: 0 }))).size;
  }
  return n;
}

const killedWhen = (args: string[], reached: () => Promise<boolean>) => ferryKilledWhen(args, env(), reached);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-crash-3-push-'));
  const srv = path.join(work, 'srv');
  await mkdir(srv);
  const lines = ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: pushed }', 'files:'];
  for (const [name, size] of [['a.bin', 2_500_000], ['b.bin', 1_500_000], ['c.bin', 600_000], ['d.txt', 5]] as const) {
    const chunks: Buffer[] = [];
    for await (const c of pseudoRandomStream(size, `crash3-push-${name}`)) chunks.push(c as Buffer);
    const data = Buffer.concat(chunks);
    await writeFile(path.join(srv, name), data);
    lines.push(`  - name: ${name.replace('.', '-')}`, `    url: URL/${name}`, `    sha256: ${createHash('sha256').update(data).digest('hex')}`);
  }
  server = await startStaticServer(srv);
  const manifest = path.join(work, 'pushed.yaml');
  await writeFile(manifest, lines.join('\n').replaceAll('URL', server.url) + '\n');
  bundle = path.join(work, 'pushed.ferry.tar');
  const r = await runFerry(['bundle', 'create', manifest, '-o', bundle], { env: env() });
  expect(r.code, r.stderr).toBe(0);
  bundleSha = await sha256File(bundle);
}, 120_000);

afterAll(async () => {
  await server?.close();
  for (const r of registries) await r.stop();
  await unmountAll(mounts);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('bundle push, killed', () => {
  let cleanBytes = 0;
  it('a clean push: one tag, whole; pulled back byte for byte', async () => {
    const reg = await registry('push-clean');
    const r = await runFerry(['bundle', 'push', bundle, `oci://${reg.host}/bundles/app:1`], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(await walk(reg)).toEqual({ problems: [], tags: ['bundles/app:1'] });
    cleanBytes = await bytesUnder(reg.storageDir);
    const out = path.join(work, 'clean-pull', 'app.ferry.tar');
    const pull = await runFerry(['bundle', 'pull', `oci://${reg.host}/bundles/app:1`, '-o', out], { env: env() });
    expect(pull.code, pull.stderr).toBe(0);
    expect(await sha256File(out)).toBe(bundleSha);
  });

  for (const fraction of [0.1, 0.5, 0.9, 0.99]) {
    it(`killed once the registry holds ${fraction * 100} % of its bytes: no tag points at missing blobs; a re-run completes`, async () => {
      const reg = await registry(`push-kill-${fraction}`);
      const ref = `oci://${reg.host}/bundles/app:1`;
      await killedWhen(['bundle', 'push', bundle, ref], async () => (await bytesUnder(reg.storageDir)) >= cleanBytes * fraction);
      const w = await settledWalk(reg);
      expect(w.problems).toEqual([]);
      const again = await runFerry(['bundle', 'push', bundle, ref], { env: env() });
      expect(again.code, again.stderr).toBe(0);
      expect(await walk(reg)).toEqual({ problems: [], tags: ['bundles/app:1'] });
      const out = path.join(work, `pull-after-kill-${fraction}`, 'app.ferry.tar');
      const pull = await runFerry(['bundle', 'pull', ref, '-o', out], { env: env() });
      expect(pull.code, pull.stderr).toBe(0);
      expect(await sha256File(out)).toBe(bundleSha);
    });
  }

  it('into a registry whose storage is full: the registry and the blob are named; no tag; with room the same push completes', async () => {
    const reg = await registry('push-full', '2m');
    const ref = `oci://${reg.host}/bundles/app:1`;
    const r = await runFerry(['bundle', 'push', bundle, ref], { env: env() });
    // Distribution answers 500 "unknown error" when its disk is full: ferry cannot tell the device
    // from that, so it says the registry, the blob and the status (exit 4), and that a 500 on a
    // push is most often the registry's own storage (the hint said to check the network path).
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(new RegExp(`error: push ${reg.host}/bundles/app blob sha256:[0-9a-f]{64}: .*HTTP 500`));
    expect(r.stderr).toMatch(/hint: .*failed while storing what was sent \(HTTP 500\): often its own storage — a full disk/);
    expect(r.stderr).not.toMatch(/network path/);
    expect(r.stderr).not.toMatch(/node:internal|\n\s+at |unexpected error|Node\.js v/);
    expect(await walk(reg)).toEqual({ problems: [], tags: [] });
    await mustRun('mount', ['-o', 'remount,size=64m', reg.storageDir]);
    const again = await runFerry(['bundle', 'push', bundle, ref], { env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect(await walk(reg)).toEqual({ problems: [], tags: ['bundles/app:1'] });
  });
});

describe('bundle pull, killed or out of space', () => {
  let ref: string;
  beforeAll(async () => {
    const reg = await registry('pull-src');
    ref = `oci://${reg.host}/bundles/app:1`;
    const r = await runFerry(['bundle', 'push', bundle, ref], { env: env() });
    expect(r.code, r.stderr).toBe(0);
  });

  for (const fraction of [0.1, 0.5, 0.95]) {
    it(`killed once ${fraction * 100} % is written: nothing under the final name; the re-run gives the pushed bytes and leaves no temp file`, async () => {
      const dir = path.join(work, `pull-kill-${fraction}`);
      await mkdir(dir);
      const out = path.join(dir, 'app.ferry.tar');
      const size = (await stat(bundle)).size;
      let sawFinal = false;
      await killedWhen(['bundle', 'pull', ref, '-o', out], async () => {
        const names = await readdir(dir);
        if (names.includes('app.ferry.tar')) sawFinal = true;
        return (await bytesUnder(dir)) >= size * fraction;
      });
      const names = await readdir(dir);
      // Killed before the rename: only a temp file; after it (the run won the race): the whole bundle.
      if (names.includes('app.ferry.tar')) expect(await sha256File(out)).toBe(bundleSha);
      else expect(sawFinal).toBe(false);
      const again = await runFerry(['bundle', 'pull', ref, '-o', out], { env: env() });
      expect(again.code, again.stderr).toBe(0);
      expect(await sha256File(out)).toBe(bundleSha);
      expect(await readdir(dir)).toEqual(['app.ferry.tar']);
    });
  }

  it('into a full disk: the file and the device are named; nothing under the final name, nothing left', async () => {
    const dir = await mountTmpfs(path.join(work, 'pull-full'), '2m', mounts);
    const out = path.join(dir, 'app.ferry.tar');
    const r = await runFerry(['bundle', 'pull', ref, '-o', out], { env: env() });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`error: ${out}`);
    expect(r.stderr).toContain('no space left on the device');
    expect(r.stderr).not.toMatch(/node:internal|\n\s+at |unexpected error|Node\.js v/);
    expect(await readdir(dir)).toEqual([]);
    await mustRun('mount', ['-o', 'remount,size=64m', dir]);
    const again = await runFerry(['bundle', 'pull', ref, '-o', out], { env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect(await sha256File(out)).toBe(bundleSha);
  });
});
