/**
 * Hostile pass 19, `ferry lock --check` (src/commands/lock.ts lockCheck): the CI gate that a
 * committed lock is the one for the manifest, offline.
 *
 * Fixed: the gate compared only the manifest digest the lock carries — a sha256 of the expanded
 * manifest anyone can compute and write into a lock. A lock edited by hand to carry an extra file
 * (or made for another manifest and given this digest) passed, and `bundle create --frozen` carries
 * what the lock lists. Now the entries a manifest names one to one (files and APT repositories by
 * name and url, charts by repository and name; a chart's dependencies are the lock's own) are
 * compared too, and the difference is the reason given.
 * Accepted here: no digest or version pinned is checked — that needs the network; review of the
 * committed lock's diff guards those. (Images and APT suites were compared from hostile pass 20 on:
 * test/unit/hostile-20-lock-check.test.ts.)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockCheck } from '../../src/commands/lock.js';
import { loadManifest } from '../../src/kinds/schema.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h19-check-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SHA = 'a'.repeat(64);

async function check(files: Array<{ name: string; url: string }>, charts: Array<Record<string, unknown>> = []) {
  const m = path.join(dir, 'm.yaml');
  await writeFile(
    m,
    `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: {name: m}\nfiles:\n  - name: tool\n    url: https://dl.example.com/tool.tgz\n    sha256: ${SHA}\ncharts:\n  - name: app\n    repo: https://charts.example.com\n    version: 1.0.0\n`,
  );
  const loaded = await loadManifest(m);
  const lock = {
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'm', digest: loaded.digest },
    images: [],
    charts: [{ name: 'app', repo: 'https://charts.example.com', version: '1.0.0', requested: '1.0.0', source: 'http', url: 'https://charts.example.com/app-1.0.0.tgz', digest: `sha256:${SHA}`, size: 1, images: [] }, ...charts],
    files: files.map((f) => ({ ...f, sha256: SHA })),
    apt: [],
  };
  await writeFile(path.join(dir, 'm.lock.json'), JSON.stringify(lock, null, 2));
  return lockCheck(m);
}

describe('hostile-19: lock --check against a lock that carries the manifest digest', () => {
  it('held: the lock the manifest names passes', async () => {
    expect(await check([{ name: 'tool', url: 'https://dl.example.com/tool.tgz' }])).toMatchObject({ upToDate: true });
  });

  it('a file the manifest does not list fails the check, named', async () => {
    const r = await check([
      { name: 'tool', url: 'https://dl.example.com/tool.tgz' },
      { name: 'implant', url: 'https://evil.example/implant' },
    ]);
    expect(r.upToDate).toBe(false);
    expect(r.reason).toContain('file implant (https://evil.example/implant) is in the lock, not in the manifest');
  });

  it('a file pointed elsewhere, or missing, fails the check', async () => {
    const r = await check([{ name: 'tool', url: 'https://evil.example/tool.tgz' }]);
    expect(r.upToDate).toBe(false);
    expect(r.reason).toContain('file tool (https://dl.example.com/tool.tgz) is not in the lock');
    expect((await check([])).upToDate).toBe(false);
  });

  it("a chart the manifest does not name fails; the lock's own dependency does not", async () => {
    const extra = { name: 'other', repo: 'https://evil.example', version: '1', requested: '1', source: 'http', url: 'https://evil.example/other-1.tgz', digest: `sha256:${SHA}`, size: 1, images: [] };
    const tool = [{ name: 'tool', url: 'https://dl.example.com/tool.tgz' }];
    expect((await check(tool, [extra])).reason).toContain('chart other (https://evil.example) is in the lock, not in the manifest');
    expect(await check(tool, [{ ...extra, dependencyOf: ['app 1.0.0'] }])).toMatchObject({ upToDate: true });
  });
});
