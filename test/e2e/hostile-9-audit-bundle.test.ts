import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { CraftedBundle } from '../support/craft-bundle.js';
import type { AuditReport } from '../../src/audit/audit.js';
import type { ChartLock } from '../../src/kinds/chart/lock.js';
import { MAX_LOCKED_CHARTS } from '../../src/audit/charts.js';

/**
 * Hostile pass 9: `ferry audit --bundle` and `ferry report --bundle` read a bundle's
 * ferry/lock.json and render chart archives taken from the bundle by the lock's digest. A crafted
 * lock (a dependency cycle, one archive named under many entries so each level doubles the
 * loads, a digest naming a blob that is not a chart, names carrying terminal escapes) ends with
 * the chart reported as not rendered, naming what is wrong — never a hang or a raw byte printed.
 */
let work: string;
let repo: StaticServer;
let base: CraftedBundle;
let site: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });
// The air-gapped side: an empty download cache; everything comes from the bundle.
const airgap = () => ({ FERRY_CACHE_DIR: path.join(work, 'airgap-cache') });

const JOB = 'apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: "{{ .Values.image }}"\n';

/** A chart archive (`helm package` layout) named `name`, with `dependencies` in its Chart.yaml. */
async function chartTgz(name: string, dependencies: Array<{ name: string; version: string; repository: string }>): Promise<Buffer> {
  const dir = await mkdtemp(path.join(work, 'chart-'));
  const src = path.join(dir, name);
  await mkdir(path.join(src, 'templates'), { recursive: true });
  await writeFile(path.join(src, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name, version: '1.0.0', ...(dependencies.length ? { dependencies } : {}) }));
  await writeFile(path.join(src, 'values.yaml'), 'image: registry.example.com/app:1\n');
  await writeFile(path.join(src, 'templates', 'job.yaml'), JOB);
  const pkg = await packageChart(src, path.join(dir, 'out'));
  return readFile(pkg.file);
}

interface LockJson {
  charts: ChartLock[];
  [key: string]: unknown;
}

/** The base bundle with its lock edited by `edit`; written to a new tar. */
async function crafted(name: string, edit: (b: CraftedBundle, lock: LockJson) => void | Promise<void>): Promise<string> {
  const b = base.clone();
  const lock = JSON.parse(b.files.get('ferry/lock.json')!.toString('utf8')) as LockJson;
  await edit(b, lock);
  b.setJson('ferry/lock.json', lock);
  return b.write(path.join(work, `${name}.ferry.tar`));
}

async function auditWith(bundle: string, extra: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return runFerry(['audit', path.join(work, 'deploy'), '--manifest', 'site.yaml', '--bundle', bundle, ...extra], { cwd: site, env: airgap(), timeoutMs: 120_000 });
}

async function auditJson(bundle: string): Promise<AuditReport> {
  const r = await auditWith(bundle, ['--json']);
  expect([0, 5], r.stderr).toContain(r.code);
  return JSON.parse(r.stdout) as AuditReport;
}

const top = (lock: LockJson) => lock.charts.find((c) => c.name === 'app' && !c.dependencyOf)!;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile-9-'));
  const stable = path.join(work, 'repo', 'stable');
  await mkdir(stable, { recursive: true });
  const chartSrc = path.join(work, 'src', 'app');
  await mkdir(path.join(chartSrc, 'templates'), { recursive: true });
  await writeFile(path.join(chartSrc, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'app', version: '1.0.0' }));
  await writeFile(path.join(chartSrc, 'values.yaml'), 'image: registry.example.com/app:1\n');
  await writeFile(path.join(chartSrc, 'templates', 'job.yaml'), JOB);
  await writeRepoIndex(stable, [await packageChart(chartSrc, stable)]);
  repo = await startStaticServer(path.join(work, 'repo'));
  await mkdir(path.join(work, 'deploy', 'app'), { recursive: true });
  await writeFile(path.join(work, 'deploy', 'app', 'values-prod.yaml'), 'image: registry.example.com/app:2\n');
  const manifest = stringifyYaml({
    apiVersion: 'ferry/v1alpha1',
    kind: 'Manifest',
    metadata: { name: 'site' },
    charts: [{ name: 'app', repo: `${repo.url}/stable`, version: '1.0.0', images: 'none' }],
  });
  await writeFile(path.join(work, 'site.yaml'), manifest);
  const bundle = path.join(work, 'site.ferry.tar');
  const created = await runFerry(['bundle', 'create', path.join(work, 'site.yaml'), '-o', bundle], { env: env() });
  expect(created.code, created.stderr).toBe(0);
  base = await CraftedBundle.load(bundle);
  site = path.join(work, 'airgap');
  await mkdir(site, { recursive: true });
  await writeFile(path.join(site, 'site.yaml'), manifest);
  // The real bundle renders: what the crafted ones are compared with.
  expect((await auditJson(bundle)).charts).toMatchObject([{ chart: 'app', status: 'rendered' }]);
}, 120_000);

afterAll(async () => {
  await repo?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('hostile bundles for audit --bundle / report --bundle', () => {
  it('a lock whose dependency entries make a cycle: not rendered, the cycle named (was endless recursion)', async () => {
    const bundle = await crafted('cycle', async (b, lock) => {
      // The archive depends on a chart named app; the lock says app 1.0.0 needs app 1.0.0 → itself.
      const blob = b.putBlob(await chartTgz('app', [{ name: 'app', version: '1.0.0', repository: 'https://charts.example.com' }]));
      const t = top(lock);
      Object.assign(t, blob);
      lock.charts.push({ ...t, dependencyOf: ['app 1.0.0'] });
    });
    const report = await auditJson(bundle);
    expect(report.charts).toMatchObject([{ chart: 'app', status: 'not-rendered', reason: expect.stringMatching(/app 1\.0\.0 → app 1\.0\.0 a dependency cycle/) }]);
  }, 150_000);

  it('a lock naming one archive under two entries at every level (2^25 loads): refused after MAX_LOCKED_CHARTS', async () => {
    const LEVELS = 25;
    const bundle = await crafted('fanout', async (b, lock) => {
      const t = top(lock);
      const entries: ChartLock[] = [];
      for (let i = 0; i <= LEVELS; i++) {
        const next = i < LEVELS ? ['d', 'e'].map((p) => ({ name: `${p}${i + 1}`, version: '1', repository: 'https://charts.example.com' })) : [];
        const blob = b.putBlob(await chartTgz(`level${i}`, next));
        if (i === 0) Object.assign(t, blob);
        else {
          const parents = i === 1 ? ['app 1.0.0'] : [`d${i - 1} 1`, `e${i - 1} 1`];
          for (const p of ['d', 'e']) entries.push({ ...t, name: `${p}${i}`, version: '1', ...blob, dependencyOf: parents });
        }
      }
      lock.charts.push(...entries);
    });
    const report = await auditJson(bundle);
    expect(report.charts).toMatchObject([{ chart: 'app', status: 'not-rendered', reason: expect.stringContaining(`more than ${MAX_LOCKED_CHARTS} charts to load`) }]);
  }, 150_000);

  it('a lock digest naming a blob that is not a chart archive: not rendered, naming the blob in the bundle and what a chart is', async () => {
    let digest = '';
    const bundle = await crafted('not-a-chart', (b, lock) => {
      const blob = b.putBlob(Buffer.from('{"schemaVersion":2}'));
      digest = blob.digest;
      Object.assign(top(lock), blob);
    });
    const report = await auditJson(bundle);
    expect(report.charts[0]).toMatchObject({ chart: 'app', status: 'not-rendered' });
    expect(report.charts[0].reason).toContain(`${digest} in the bundle ${bundle}`);
    expect(report.charts[0].reason).toMatch(/not a readable chart archive.*gzip-compressed tar/);
  }, 150_000);

  it('a lock version carrying terminal escapes and ../ reaches audit md and report HTML escaped, and no path', async () => {
    const evil = '1.0.0\u001b]0;pwned\u0007/../../../escaped\u009b2J';
    const bundle = await crafted('escapes', (_b, lock) => {
      const t = top(lock);
      t.version = evil;
      t.digest = `sha256:${'0'.repeat(64)}`;
    });
    const md = await auditWith(bundle);
    expect([0, 5], md.stderr).toContain(md.code);
    expect(md.stdout).toContain('not rendered'.replace(' ', '-'));
    expect(md.stdout + md.stderr).not.toMatch(/[\u001b\u0007\u009b]/);
    expect(md.stdout).toContain('1.0.0\\x1b]0;pwned\\x07/../../../escaped\\x9b2J');
    const out = path.join(site, 'report.html');
    const rep = await runFerry(['report', 'site.yaml', '--bundle', bundle, '--audit', path.join(work, 'deploy'), '-o', out], { cwd: site, env: airgap() });
    expect(rep.code, rep.stderr).toBe(0);
    const html = await readFile(out, 'utf8');
    expect(html + rep.stderr).not.toMatch(/[\u001b\u0007\u009b]/);
    expect(html).toContain('1.0.0\\x1b]0;pwned\\x07/../../../escaped\\x9b2J');
  }, 150_000);

  it('report --bundle with a ferry/lock.json that is not JSON: a VERIFY error naming the member (was an unexpected error)', async () => {
    const b = base.clone();
    b.files.set('ferry/lock.json', Buffer.from('{"charts": ['));
    const bundle = await b.write(path.join(work, 'bad-lock.ferry.tar'));
    const rep = await runFerry(['report', 'site.yaml', '--bundle', bundle, '-o', path.join(site, 'r.html')], { cwd: site, env: airgap() });
    expect(rep.code).toBe(3);
    expect(rep.stderr).not.toMatch(/unexpected error/);
    expect(rep.stderr).toContain('ferry/lock.json is not valid JSON');
  }, 150_000);
});
