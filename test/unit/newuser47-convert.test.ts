import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCommand } from '../../src/commands/convert.js';
import { writeTree } from '../support/convert-output.js';

/**
 * newuser47: `ferry convert` reads a source's relative paths (values files, imports) from the
 * source file's directory, whatever directory ferry runs in (here `cwd`, which is not the test
 * process's), and writes them relative to the manifest.
 */

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser47-unit-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('convert: relative paths start at the input file, not at the process\'s working directory', () => {
  it('zarf (values files, an import) and hauler (values files), converted from another directory than the process\'s', async () => {
    const dir = await writeTree(path.join(work, 'cwd'), {
      'sub/zarf.yaml': `kind: ZarfPackageConfig
metadata: {name: sub}
components:
  - name: web
    charts:
      - name: podinfo
        url: https://charts.example/podinfo
        version: 6.0.0
        valuesFiles: [vals/web.yaml]
  - name: shared
    import: {path: common}
`,
      'sub/vals/web.yaml': 'replicas: 1\n',
      'sub/common/zarf.yaml': 'kind: ZarfPackageConfig\nmetadata: {name: common}\ncomponents:\n  - name: shared\n    images: [ghcr.io/acme/shared:1]\n',
      'sub/hauler.yaml': `apiVersion: content.hauler.cattle.io/v1
kind: Charts
metadata: {name: h}
spec:
  charts:
    - name: podinfo
      repoURL: https://charts.example/podinfo
      version: 6.0.0
      valuesFiles: [vals/web.yaml]
`,
    });
    expect(process.cwd()).not.toBe(dir);
    const z = await convertCommand('zarf', ['sub/zarf.yaml'], { cwd: dir, output: 'out/manifest.yaml' });
    expect(z.manifest.charts).toEqual([{ name: 'podinfo', repo: 'https://charts.example/podinfo', version: '6.0.0', values: ['../sub/vals/web.yaml'] }]);
    expect(z.manifest.images).toEqual([{ ref: 'ghcr.io/acme/shared:1' }]);
    expect(z.notCarried).toEqual([]);
    expect(z.changed).toEqual([]);
    const h = await convertCommand('hauler', ['sub/hauler.yaml'], { cwd: dir });
    expect(h.manifest.charts).toEqual([{ name: 'podinfo', repo: 'https://charts.example/podinfo', version: '6.0.0', values: ['sub/vals/web.yaml'] }]);
    // The one difference convert names for every hauler chart without add-images/add-dependencies
    // (convert50): ferry carries the chart's images and dependencies too. Nothing else changed.
    expect(h.changed.map((c) => c.item)).toEqual(['charts: podinfo']);
    expect(h.changed[0].why).toMatch(/add-images/);
  });
});

describe('convert helmfile: lock files and chart dependencies are looked up in linear time', () => {
  // A crafted helmfile.lock repeating one chart name with versions no release accepts, and as many
  // releases of it as the 512 KiB state file holds: each release scanned the whole lock (9 000 ×
  // 15 000 semver checks: minutes); a Chart.yaml's dependencies each scanned the whole Chart.lock.
  it('1 800 releases against a 2 500-entry helmfile.lock, and 1 600 dependencies against their Chart.lock', async () => {
    const lock = ['dependencies:', ...Array.from({ length: 2500 }, (_, i) => `- {name: app, version: 0.0.${i}}`)].join('\n');
    const releases = ['repositories:', '  - {name: r, url: https://c.example}', 'releases:', ...Array.from({ length: 1800 }, (_, i) => `- {name: x${i}, chart: r/app, version: "9.${i}"}`)].join('\n');
    const chartDeps = ['apiVersion: v2', 'name: local', 'version: 1.0.0', 'dependencies:', ...Array.from({ length: 1600 }, (_, i) => `- {name: d${i}, repository: https://c.example, version: 1.0.0}`)].join('\n');
    const chartLock = ['dependencies:', ...Array.from({ length: 1600 }, (_, i) => `- {name: e${i}, repository: https://c.example, version: 2.0.0}`), '- {name: d0, repository: https://c.example, version: 1.0.1}'].join('\n');
    const dir = await writeTree(path.join(work, 'lockbomb'), {
      'helmfile.yaml': `${releases}\n- {name: local, chart: ./charts/local}\n`,
      'helmfile.lock': `${lock}\n`,
      'charts/local/Chart.yaml': `${chartDeps}\n`,
      'charts/local/Chart.lock': `${chartLock}\n`,
    });
    const r = await convertCommand('helmfile', ['helmfile.yaml'], { cwd: dir });
    // Each release is carried as the helmfile names it (the lock pins none of those versions), and
    // the lock entries past the first 64 of one name are said not to be read.
    const charts = r.manifest.charts as Array<{ name: string; version: string }>;
    const apps = charts.filter((c) => c.name === 'app');
    expect(apps).toHaveLength(1800);
    expect(apps.every((c) => /^9\.\d+$/.test(String(c.version)))).toBe(true);
    expect(r.changed.some((n) => n.item.includes('helmfile.lock') && n.why.includes('2436 entries past the first 64'))).toBe(true);
    // The Chart.lock's own entry pins d0; the others keep their Chart.yaml version.
    expect(charts.find((c) => c.name === 'd0')?.version).toBe('1.0.1');
    expect(charts.find((c) => c.name === 'd1')?.version).toBe('1.0.0');
  }, 120_000);
});
