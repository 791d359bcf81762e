import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runFerry } from '../support/cli.js';
import { listTree } from '../support/fs-tree.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { mountTmpfs, unmountAll } from '../support/tmpfs.js';

/**
 * A full download cache (its directory on a small tmpfs): the error names the cache directory,
 * says it is full and what to set instead (`--cache-dir`, FERRY_CACHE_DIR), and nothing is left
 * behind in it (no `.partial`, no temp file, no lock) to keep the disk full; with room, the same
 * command completes.
 */

let work: string;
let upstream: RunningRegistry;
let seeded: SeededImages;
let manifest: string;
const mounts: string[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-crash-2-cache-'));
  upstream = await startRegistry({ mode: 'http', dir: path.join(work, 'upstream') });
  seeded = await seedImages(upstream, { bigLayerMb: 6 });
  manifest = path.join(work, 'app.yaml');
  await writeFile(manifest, ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: app }', 'images:', `  - ref: ${seeded.refs.base}`, `  - ref: ${seeded.refs.big}`, ''].join('\n'));
}, 300_000);

afterAll(async () => {
  await upstream?.stop();
  await unmountAll(mounts);
  if (work) await rm(work, { recursive: true, force: true });
});

const tmpfs = (name: string, size: string) => mountTmpfs(path.join(work, name), size, mounts);

describe('a full download cache', () => {
  for (const how of ['--cache-dir', 'FERRY_CACHE_DIR'] as const) {
    it(`${how}: names the cache directory and what to set; leaves nothing behind; completes with room`, async () => {
      const fs = await tmpfs(`cache-${how}`, '3m');
      const cache = how === '--cache-dir' ? path.join(fs, 'store') : path.join(fs, 'ferry');
      const out = path.join(work, `out-${how}.ferry.tar`);
      const args = ['bundle', 'create', manifest, '-o', out, ...(how === '--cache-dir' ? ['--cache-dir', cache] : ['--keep-cache'])];
      const env = { FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50', ...(how === 'FERRY_CACHE_DIR' ? { FERRY_CACHE_DIR: cache } : { FERRY_CACHE_DIR: path.join(work, 'unused') }) };
      const r = await runFerry(args, { env });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('no space left on the device');
      expect(r.stderr).toContain(how === '--cache-dir' ? cache : path.join(cache, 'store'));
      expect(r.stderr).toMatch(/hint:.*--cache-dir <dir> or FERRY_CACHE_DIR/);
      expect(r.stderr).not.toMatch(/node:internal|\n\s+at |unexpected error|Node\.js v/);
      expect((await listTree(fs)).filter((f) => /\.tmp$|\.partial$|\.lock$/.test(f))).toEqual([]);
      await mustRun('mount', ['-o', 'remount,size=64m', fs]);
      const again = await runFerry(args, { env });
      expect(again.code, again.stderr).toBe(0);
    });
  }
});
