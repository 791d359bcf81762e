import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, mustRun, runFerry } from '../support/cli.js';
import { seedImages, skopeoDigest, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { settledWalk, walkRegistry } from '../support/registry-walk.js';
import { registryOnTmpfs, unmountAll } from '../support/tmpfs.js';

/**
 * `import` into a real registry killed (-9) at a spread of points, and into a registry whose
 * storage is full (its rootdirectory on a small tmpfs). Whatever the registry serves afterwards
 * must be whole: every tag resolves, with every child manifest and blob it names present in its
 * repository. A re-run completes with the upstream digests; a full registry's error names the
 * registry and the blob, and once space is freed the same import completes (Distribution, its
 * disk full, can leave an empty link file for a blob in a repository and then answer 500 to a
 * HEAD of it: the push took that for a failure to retry, for ever; it now mounts or uploads the
 * blob again, which rewrites the link).
 */

let work: string;
let upstream: RunningRegistry;
let seeded: SeededImages;
let bundle: string;
const registries: RunningRegistry[] = [];
const mounts: string[] = [];
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });


async function writeTarget(name: string, reg: RunningRegistry): Promise<string> {
  const file = path.join(work, `${name}.yaml`);
  await writeFile(file, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: ${name} }\nregistry:\n  url: ${reg.url}\n  prefix: mirror\n`);
  return file;
}

/** A target registry, its storage on a tmpfs of `size` when given. */
const target = (name: string, size?: string): Promise<RunningRegistry> => registryOnTmpfs(path.join(work, name), size, mounts, registries);

const walk = walkRegistry;

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const e of entries) if (e.isFile()) n++;
  return n;
}

/** Start an import, kill -9 it once the registry's storage holds `files` files (or let it finish). */
async function importKilledAt(reg: RunningRegistry, targetFile: string, files: number): Promise<'killed' | 'finished'> {
  const child = spawn(process.execPath, [FERRY, 'import', bundle, '--target', targetFile], { env: { ...process.env, ...env() }, stdio: 'ignore' });
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished) {
    if ((await countFiles(reg.storageDir)) >= files) {
      child.kill('SIGKILL');
      await done;
      return child.exitCode === null ? 'killed' : 'finished';
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return 'finished';
}

const mirrored = (key: keyof SeededImages['refs']) => `${seeded.refs[key]!.replace(upstream.host, `mirror/${upstream.host.replace(':', '-')}`)}`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-crash-2-registry-'));
  upstream = await startRegistry({ mode: 'http', dir: path.join(work, 'upstream') });
  seeded = await seedImages(upstream, { bigLayerMb: 12 });
  const manifest = path.join(work, 'app.yaml');
  await writeFile(
    manifest,
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: app }', 'images:', ...(['base', 'app', 'multi', 'docker', 'big'] as const).map((k) => `  - ref: ${seeded.refs[k]}`), ''].join('\n'),
  );
  bundle = path.join(work, 'app.ferry.tar');
  const r = await runFerry(['bundle', 'create', manifest, '-o', bundle], { env: env() });
  expect(r.code, r.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  for (const r of registries) await r.stop();
  await upstream?.stop();
  await unmountAll(mounts);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('import into a registry, killed', () => {
  let cleanFiles = 0;
  it('a clean import: every tag whole, the digests upstream', async () => {
    const reg = await target('clean');
    const r = await runFerry(['import', bundle, '--target', await writeTarget('clean', reg)], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const w = await walk(reg);
    expect(w.problems).toEqual([]);
    expect(w.tags).toHaveLength(5);
    for (const k of ['base', 'app', 'multi', 'docker', 'big'] as const) expect(await skopeoDigest(reg, `${reg.host}/${mirrored(k)}`)).toBe(seeded.digests[k]);
    cleanFiles = await countFiles(reg.storageDir);
    expect(cleanFiles).toBeGreaterThan(20);
  });

  for (const fraction of [0.05, 0.3, 0.6, 0.85, 0.97]) {
    it(`killed once the registry holds ${fraction * 100} % of its files: every served tag is whole; a re-run completes`, async () => {
      const reg = await target(`kill-${fraction}`);
      const file = await writeTarget(`kill-${fraction}`, reg);
      await importKilledAt(reg, file, Math.max(1, Math.floor(cleanFiles * fraction)));
      const w = await settledWalk(reg);
      expect(w.problems).toEqual([]);
      const again = await runFerry(['import', bundle, '--target', file], { env: env() });
      expect(again.code, again.stderr).toBe(0);
      const after = await walk(reg);
      expect(after.problems).toEqual([]);
      expect(after.tags).toHaveLength(5);
      for (const k of ['base', 'app', 'multi', 'docker', 'big'] as const) expect(await skopeoDigest(reg, `${reg.host}/${mirrored(k)}`)).toBe(seeded.digests[k]);
    });
  }
});

describe('import into a registry whose storage is full', () => {
  it('names the registry and the blob; no tag points at a missing blob; a re-run after space is freed completes', async () => {
    const reg = await target('full', '6m');
    const file = await writeTarget('full', reg);
    const r = await runFerry(['import', bundle, '--target', file], { env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(reg.host);
    expect(r.stderr).toMatch(/sha256:[0-9a-f]{64}/);
    expect(r.stderr).not.toMatch(/node:internal|\n\s+at |unexpected error|Node\.js v/);
    const w = await walk(reg);
    expect(w.problems).toEqual([]);
    // Space freed (the tmpfs grown): the same import completes.
    await mustRun('mount', ['-o', 'remount,size=64m', reg.storageDir]);
    const again = await runFerry(['import', bundle, '--target', file], { env: env() });
    expect(again.code, again.stderr).toBe(0);
    const after = await walk(reg);
    expect(after.problems).toEqual([]);
    expect(after.tags).toHaveLength(5);
  });
});
