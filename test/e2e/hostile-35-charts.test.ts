import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { chartOciReference } from '../../src/mapping/index.js';
import { writeHelloChartRepo } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { CraftedBundle } from '../support/craft-bundle.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * Hostile inputs, round 35: round 34 holds an HTTP chart's config and manifest to the ones made
 * from the archive the lock pins. A crafted bundle whose index.json names one archive from 20 000
 * entries (each its own repository, all pinned by a crafted lock) is judged in one pass: each
 * entry one lock lookup, the archive read once. Under a per-test timeout: a check that read the
 * archive again per entry, or scanned the lock per entry, would not finish in it.
 */
let work: string;
let http: StaticServer;
let bundle: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile35-charts-'));
  const pub = path.join(work, 'public');
  await writeHelloChartRepo(work, pub);
  http = await startStaticServer(pub);
  await writeFile(
    path.join(work, 'manifest.yaml'),
    stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'h35' }, charts: [{ repo: `${http.url}/charts`, name: 'hello', version: '1.0.0', images: [] }] }),
  );
  bundle = path.join(work, 'h35.ferry.tar');
  const r = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', bundle], { cwd: work, env: { FERRY_CACHE_DIR: path.join(work, 'cache') } });
  expect(r.code, r.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  await http?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const N = 20_000;

describe('one HTTP chart archive named by 20 000 index.json entries, each pinned by a crafted lock', () => {
  it('bundle verify judges them in one pass: accepted, and one changed config among them refused alone (per-test timeout)', { timeout: 120_000 }, async () => {
    const b = await CraftedBundle.load(bundle);
    const lock = b.getJson<{ charts: Array<Record<string, unknown>> }>('ferry/lock.json');
    const index = b.index;
    const top = b.tops('chart')[0];
    const locked = lock.charts[0];
    const repos = Array.from({ length: N }, (_, i) => `${String(locked.repo)}/r${i}`);
    lock.charts = repos.map((repo) => ({ ...locked, repo }));
    index.manifests = index.manifests.filter((d) => d !== top && d.annotations?.['io.ferry.kind'] !== 'chart');
    for (const repo of repos) index.manifests.push({ ...top, annotations: { ...top.annotations, 'org.opencontainers.image.ref.name': chartOciReference(repo, 'hello', '1.0.0') } });
    b.index = index;
    b.setJson('ferry/lock.json', lock);
    const out = await b.write(path.join(work, 'many.ferry.tar'));
    // Every entry is the lock's (the same archive, config and manifest ferry made): accepted, each checked.
    const v = await runFerry(['bundle', 'verify', out], { timeoutMs: 50_000 });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toMatch(new RegExp(`${N} artifacts complete`));
    // One entry's config changed (its own blob): that one refused naming the field, the others not.
    const bad = await CraftedBundle.load(out);
    const victim = chartOciReference(repos[N - 1], 'hello', '1.0.0');
    bad.editArtifact((d) => d.annotations?.['org.opencontainers.image.ref.name'] === victim, ({ config }) => {
      config.appVersion = '6.6.6-evil';
    });
    const v2 = await runFerry(['bundle', 'verify', await bad.write(path.join(work, 'many-bad.ferry.tar'))], { timeoutMs: 50_000 });
    expect(v2.code).not.toBe(0);
    expect((v2.stdout + v2.stderr).match(/is not the one made from the archive/g)).toHaveLength(1);
    expect(v2.stdout + v2.stderr).toMatch(new RegExp(`r${N - 1}/hello[\\s\\S]*appVersion`));
  });
});
