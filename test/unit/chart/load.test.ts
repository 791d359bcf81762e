import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create as tarCreate } from 'tar';
import { discoverChartImages } from '../../../src/kinds/chart/discover.js';
import { chartLockPins, loadChartArchive } from '../../../src/kinds/chart/load.js';
import { helmRepoByName } from '../../../src/kinds/chart/resolve.js';
import { chartsImagesCommand } from '../../../src/commands/charts-images.js';
import { writeChart } from './helpers.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-chart-load-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('packaged charts', () => {
  it('streams subchart archives inside the archive (charts/<dep>-<ver>.tgz) and scopes them', async () => {
    const stage = path.join(tmp, 'stage');
    await writeChart(path.join(stage, 'redis'), { chart: { name: 'redis', version: '19.0.0', appVersion: '7.2.4' }, values: 'image:\n  repository: acme/redis\n  tag: ""\n' });
    const parent = path.join(stage, 'pkg', 'shop');
    await writeChart(parent, {
      chart: { name: 'shop', version: '2.0.0', dependencies: [{ name: 'redis', version: '19.x', repository: 'https://charts.example.com', alias: 'cache' }] },
      values: 'cache:\n  image:\n    tag: 7.2.5\n',
      files: { 'Chart.lock': 'dependencies:\n- name: redis\n  repository: https://charts.example.com\n  version: 19.0.0\n' },
    });
    await mkdir(path.join(parent, 'charts'), { recursive: true });
    await tarCreate({ gzip: true, file: path.join(parent, 'charts', 'redis-19.0.0.tgz'), cwd: stage, portable: true }, ['redis']);
    const file = path.join(tmp, 'shop-2.0.0.tgz');
    await tarCreate({ gzip: true, file, cwd: path.join(stage, 'pkg'), portable: true }, ['shop']);

    const chart = await loadChartArchive(file);
    expect(chart.metadata).toMatchObject({ name: 'shop', version: '2.0.0' });
    expect(chart.subcharts.map((s) => s.metadata.name)).toEqual(['redis']);
    expect(chartLockPins(chart)).toEqual([{ name: 'redis', repository: 'https://charts.example.com', version: '19.0.0' }]);
    const r = discoverChartImages(chart);
    expect(r.images.map((i) => [i.ref, i.certainty, i.sources[0].valuesPath, i.sources[0].chart])).toEqual([['docker.io/acme/redis:7.2.5', 'certain', 'cache.image', 'shop > cache']]);
    expect(r.missingDependencies).toEqual([]);
  });

  it('a file that is not a gzip tar is named', async () => {
    const bad = path.join(tmp, 'bad.tgz');
    await writeFile(bad, 'not a chart');
    await expect(loadChartArchive(bad)).rejects.toThrow(/bad\.tgz: not a readable chart archive/);
  });
});

describe('named repositories (helm repo add)', () => {
  it('reads the URL from Helm\'s repositories.yaml', async () => {
    const cfg = path.join(tmp, 'repositories.yaml');
    await writeFile(cfg, 'apiVersion: ""\nrepositories:\n- name: bitnami\n  url: https://charts.bitnami.com/bitnami\n');
    const prev = process.env.HELM_REPOSITORY_CONFIG;
    process.env.HELM_REPOSITORY_CONFIG = cfg;
    try {
      expect(await helmRepoByName('bitnami')).toBe('https://charts.bitnami.com/bitnami');
      expect(await helmRepoByName('other')).toBeUndefined();
    } finally {
      if (prev === undefined) delete process.env.HELM_REPOSITORY_CONFIG;
      else process.env.HELM_REPOSITORY_CONFIG = prev;
    }
  });
});

describe('chart directories with file:// dependencies', () => {
  it('loads the dependency from disk, scoped under its alias', async () => {
    await writeChart(path.join(tmp, 'mono', 'lib'), { chart: { name: 'lib', version: '0.1.0', appVersion: '9.9' }, values: 'image:\n  repository: ghcr.io/acme/lib\n' });
    await writeChart(path.join(tmp, 'mono', 'app'), {
      chart: { name: 'app', version: '1.0.0', dependencies: [{ name: 'lib', version: '0.1.0', repository: 'file://../lib', alias: 'helper' }] },
      values: 'helper:\n  image:\n    tag: "9.9.1"\n',
    });
    const report = await chartsImagesCommand(path.join(tmp, 'mono', 'app'), { values: [] });
    expect(report.charts[0].images.map((i) => [i.ref, i.sources[0].valuesPath])).toEqual([['ghcr.io/acme/lib:9.9.1', 'helper.image']]);
    await writeChart(path.join(tmp, 'mono', 'bad'), { chart: { name: 'bad', version: '1.0.0', dependencies: [{ name: 'gone', version: '1', repository: 'file://../gone' }] } });
    await expect(chartsImagesCommand(path.join(tmp, 'mono', 'bad'), { values: [] })).rejects.toThrow(/chart bad 1\.0\.0: dependency gone from file:\/\/\.\.\/gone: no chart at/);
  });
});
