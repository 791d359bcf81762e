import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { packageChart, writeRepoIndex, type PackagedChart } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { listTree } from '../support/fs-tree.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * Charts whose archives in a chart repository directory are one name on a file system that
 * ignores case (Windows and SMB shares, macOS, ext4 casefold): `Foo` and `foo` of one version
 * (both valid Helm names), or one chart at `1.0.0-RC1` and `1.0.0-rc1` (two SemVer versions).
 * import writes `<name>-<version>.tgz` into charts.dir: there the second replaces the first after it
 * was verified, while index.yaml lists both with their own digests, so `helm pull` of one gets
 * the other's bytes and fails its digest check. `lock` (which does not know the target) refuses
 * them, naming both, as it refuses such file URLs and APT pool paths. Real charts from a loopback
 * repository.
 */
let work: string;
let http: StaticServer;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

async function chart(name: string, version: string, repo: string): Promise<PackagedChart> {
  const src = path.join(work, 'src', `${name}-${version}`, name);
  await mkdir(path.join(src, 'templates'), { recursive: true });
  await writeFile(path.join(src, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name, version, description: `${name} ${version}` }));
  await writeFile(path.join(src, 'templates', 'cm.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name.toLowerCase()}\n`);
  return packageChart(src, repo);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile53-charts-'));
  const repo = path.join(work, 'public', 'charts');
  await writeRepoIndex(repo, [await chart('Foo', '1.0.0', repo), await chart('foo', '1.0.0', repo), await chart('bar', '1.0.0-RC1', repo), await chart('bar', '1.0.0-rc1', repo), await chart('bar', '1.0.0', repo)]);
  http = await startStaticServer(path.join(work, 'public'));
}, 120_000);

afterAll(async () => {
  await http?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

async function lockOf(name: string, charts: Array<[string, string]>) {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  const manifest = { apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name }, charts: charts.map(([n, version]) => ({ repo: `${http.url}/charts`, name: n, version, images: [] })) };
  await writeFile(path.join(dir, 'manifest.yaml'), stringifyYaml(manifest));
  const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
  return { r, files: await listTree(dir) };
}

describe('charts whose archive names differ only in case', () => {
  it('Foo and foo of one version: lock refuses naming both archives and both charts; no lock written', async () => {
    const { r, files } = await lockOf('names', [['Foo', '1.0.0'], ['foo', '1.0.0']]);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).not.toMatch(/unexpected error/i);
    expect(r.stderr).toContain(`chart foo 1.0.0 from ${http.url}/charts and chart Foo 1.0.0 from ${http.url}/charts`);
    expect(r.stderr).toContain('"foo-1.0.0.tgz" and "Foo-1.0.0.tgz" are one name in a chart repository directory (charts.dir) on a file system that ignores case');
    expect(files).toEqual(['manifest.yaml']);
  });

  it('one chart at 1.0.0-RC1 and 1.0.0-rc1: lock refuses naming both; at 1.0.0 and 1.0.0-rc1 it locks', async () => {
    const { r, files } = await lockOf('versions', [['bar', '1.0.0-RC1'], ['bar', '1.0.0-rc1']]);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/"bar-1\.0\.0-(rc|RC)1\.tgz" and "bar-1\.0\.0-(RC|rc)1\.tgz" are one name/);
    expect(files).toEqual(['manifest.yaml']);
    const ok = await lockOf('versions-ok', [['bar', '1.0.0'], ['bar', '1.0.0-rc1']]);
    expect(ok.r.code, ok.r.stdout + ok.r.stderr).toBe(0);
    expect(ok.files).toEqual(['manifest.yaml', 'versions-ok.lock.json']);
  });
});
