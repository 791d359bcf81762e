import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { mustRunFerry, runFerry } from '../support/cli.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * newuser61: a Zarf package built for one architecture (`metadata.architecture: arm64`, as
 * `zarf package create --architecture`). Its images: are carried for linux/arm64, but the images
 * of its local chart (`localPath:`) for every platform: a package twice as large as Zarf's, and
 * not said. Now the local chart's images are carried for the package's architecture, and a
 * repository chart (whose images lock finds) gets `platforms: [linux/<arch>]` on its entry
 * (platforms66), so lock carries those images for it too. Upstream is a Distribution registry on loopback holding a two-platform index.
 */

let work: string;
let up: RunningRegistry;
let seeded: SeededImages;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser61-arch-'));
  up = await startRegistry({ mode: 'http' });
  seeded = await seedImages(up);
}, 120_000);

afterAll(async () => {
  await up?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('newuser61: a Zarf package for one architecture', () => {
  it('carries its local chart\'s images for that architecture and gives the repository chart that platform', async () => {
    const pkg = path.join(work, 'pkg');
    await mkdir(path.join(pkg, 'chart', 'templates'), { recursive: true });
    await writeFile(path.join(pkg, 'chart', 'Chart.yaml'), 'apiVersion: v2\nname: edge-agent\nversion: 0.3.0\n');
    await writeFile(path.join(pkg, 'chart', 'values.yaml'), `image: ${seeded.refs.multi}\n`);
    await writeFile(
      path.join(pkg, 'chart', 'templates', 'ds.yaml'),
      'apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  template:\n    spec:\n      containers:\n        - name: agent\n          image: {{ .Values.image }}\n',
    );
    await writeFile(
      path.join(pkg, 'zarf.yaml'),
      [
        'kind: ZarfPackageConfig',
        'metadata: { name: edge-agent, architecture: arm64 }',
        'components:',
        '  - name: agent',
        '    required: true',
        '    charts:',
        '      - name: edge-agent',
        '        version: 0.3.0',
        '        localPath: chart',
        '      - name: podinfo',
        '        url: https://stefanprodan.github.io/podinfo',
        '        version: 6.7.1',
        '',
      ].join('\n'),
    );
    const r = await runFerry(['convert', 'zarf', 'zarf.yaml', '-o', 'manifest.yaml'], { cwd: pkg, env: { ...process.env, ...env() } });
    expect(r.code, r.stderr).toBe(0);
    const m = parseYaml(await readFile(path.join(pkg, 'manifest.yaml'), 'utf8')) as { images: Array<{ ref: string; platforms?: string[] }>; charts: Array<{ name: string; platforms?: string[] }> };
    expect(m.images).toEqual([{ ref: seeded.refs.multi, platforms: ['linux/arm64'] }]);
    expect(m.charts.map((c) => [c.name, c.platforms])).toEqual([['podinfo', ['linux/arm64']]]);
    expect(r.stderr).not.toContain('carried for every platform');

    // lock keeps the one platform of the local chart's image (the repository chart is left out: not served here).
    await writeFile(path.join(pkg, 'images-only.yaml'), (await readFile(path.join(pkg, 'manifest.yaml'), 'utf8')).replace(/\ncharts:\n(?: {2}.*\n| {4}.*\n)*/, '\n'));
    await mustRunFerry(['lock', 'images-only.yaml', '--insecure-registry', up.host], { cwd: pkg, env: env() });
    const lock = JSON.parse(await readFile(path.join(pkg, 'edge-agent.lock.json'), 'utf8')) as { images: Array<{ ref: string; platforms?: string[]; manifests?: Array<{ digest: string }> }> };
    const multi = lock.images.find((i) => i.ref === seeded.refs.multi);
    expect(multi?.platforms).toEqual(['linux/arm64']);
    expect(multi?.manifests?.map((p) => p.digest)).toEqual([seeded.platforms['linux/arm64']]);
  }, 120_000);
});
