import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { CraftedBundle } from '../support/craft-bundle.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * A bundle's lock read by `map`, `audit --bundle` and `report --bundle` is held to its line in
 * ferry/checksums.sha256 (the list a bundle signature covers), as import and sbom read it: a lock
 * swapped into a bundle (an image added to it) is refused naming the file, not mapped or reported
 * as the bundle's. Before, only the lock schema was checked.
 */
let work: string;
let clean: string;
let swapped: string;
let target: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-lock-listed-'));
  await writeFile(path.join(work, 'manifest.yaml'), 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: listed }\nimages: []\n');
  target = path.join(work, 'target.yaml');
  await writeFile(target, NESTED_SITE_TARGET);
  clean = path.join(work, 'listed.ferry.tar');
  const c = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', clean, '-q'], { cwd: work, env: { FERRY_CACHE_DIR: path.join(work, 'cache') } });
  expect(c.code, c.stderr).toBe(0);
  const b = await CraftedBundle.load(clean);
  const lock = b.getJson<{ images: unknown[] }>('ferry/lock.json');
  lock.images.push({ ref: 'docker.io/evil/added:1', digest: `sha256:${'a'.repeat(64)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json', manifests: [] });
  b.setJson('ferry/lock.json', lock);
  swapped = await b.write(path.join(work, 'swapped.ferry.tar'), { keepChecksums: true });
}, 120_000);
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe("a bundle's lock is read only as its checksums list names it", () => {
  it('the untouched bundle: map reads its lock', async () => {
    const r = await runFerry(['map', clean, '--target', target], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
  });

  it('a lock swapped in (an image added): map and report --bundle refuse it, naming ferry/lock.json', { timeout: 120_000 }, async () => {
    const m = await runFerry(['map', swapped, '--target', target], { cwd: work });
    expect(m.code, m.stdout + m.stderr).not.toBe(0);
    expect(m.stdout).not.toContain('evil/added');
    expect(m.stderr).toMatch(/ferry\/lock\.json does not match ferry\/checksums\.sha256/);
    const r = await runFerry(['report', '--bundle', swapped, '-o', path.join(work, 'report.html')], { cwd: work });
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/ferry\/lock\.json does not match ferry\/checksums\.sha256/);
  });
});
