import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runFerry } from '../support/cli.js';
import { packageChart, writeHelmLayout } from '../support/chart-repo.js';
import { pushLayoutImage, writeOciLayout } from '../support/images.js';
import { skopeoEnv, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * Two upstream repositories that one mirror repository would hold (a `layout: flat` target drops
 * the upstream host): an image `A/team/app` and an OCI chart `B/team/app`. `serve` refused the
 * bundle (mapping collision); `import` checked images only and pushed the chart into the image's
 * mirror repository, where a tag of one could point at the other. Now import refuses it too,
 * naming both, before anything is pushed. Real Distribution registries, skopeo to publish.
 */
let work: string;
let a: RunningRegistry;
let b: RunningRegistry;
let site: RunningRegistry;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-import-collision-'));
  [a, b, site] = await Promise.all([startRegistry({ mode: 'http' }), startRegistry({ mode: 'http' }), startRegistry({ mode: 'http' })]);
  const layout = path.join(work, 'img-layout');
  await writeOciLayout(layout, [{ name: 'app', platforms: [{ architecture: 'amd64', layers: [{ files: { 'app.txt': 'image' } }] }] }]);
  await pushLayoutImage(a, layout, 'app', 'team/app:1.0.0');
  const src = path.join(work, 'chart-src', 'app');
  await mkdir(path.join(src, 'templates'), { recursive: true });
  await writeFile(path.join(src, 'Chart.yaml'), 'apiVersion: v2\nname: app\nversion: 1.0.0\n');
  await writeFile(path.join(src, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cm }\n');
  const chart = await packageChart(src, path.join(work, 'pkg'));
  const helm = path.join(work, 'helm-layout');
  await writeHelmLayout(helm, chart, 'app');
  await mustRun('skopeo', ['copy', '--dest-tls-verify=false', `oci:${helm}:app`, `docker://${b.host}/team/app:1.0.0`], { env: skopeoEnv() });
}, 120_000);

afterAll(async () => {
  await Promise.all([a, b, site].map((r) => r?.stop()));
  if (work) await rm(work, { recursive: true, force: true });
});

describe('import into a flat mirror registry', () => {
  it('an image and an OCI chart of one repository path from two registries are refused before anything is pushed, as serve refuses them', async () => {
    const dir = path.join(work, 'project');
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, 'manifest.yaml'),
      ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: clash }', 'images:', `  - ref: ${a.host}/team/app:1.0.0`, 'charts:', `  - { name: app, repo: "oci://${b.host}/team", version: 1.0.0, images: none }`, ''].join('\n'),
    );
    await writeFile(path.join(dir, 'target.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', `registry: { url: "http://${site.host}", prefix: mirror, layout: flat }`, ''].join('\n'));
    const insecure = ['--insecure-registry', a.host, '--insecure-registry', b.host];
    const lock = await runFerry(['lock', 'manifest.yaml', ...insecure], { cwd: dir });
    expect(lock.code, lock.stderr).toBe(0);
    const create = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'clash.tar', ...insecure], { cwd: dir });
    expect(create.code, create.stderr).toBe(0);

    const imported = await runFerry(['import', 'clash.tar', '--target', 'target.yaml'], { cwd: dir });
    expect(imported.code, imported.stdout + imported.stderr).not.toBe(0);
    expect(imported.stderr).toContain('mapping collision');
    expect(imported.stderr).toContain(`${a.host}/team/app`);
    expect(imported.stderr).toContain(`${b.host}/team/app`);
    // Nothing reached the site registry: no repository, so no tag of either.
    const catalog = (await (await fetch(`http://${site.host}/v2/_catalog`)).json()) as { repositories: string[] };
    expect(catalog.repositories).toEqual([]);

    const served = await runFerry(['serve', 'clash.tar', '--target', 'target.yaml', '--listen', '127.0.0.1:0'], { cwd: dir, timeoutMs: 60_000 });
    expect(served.code).not.toBe(0);
    expect(served.stderr).toContain('mapping collision');
  }, 180_000);
});
