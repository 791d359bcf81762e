import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { FERRY, runFerry } from '../support/cli.js';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { pushLayoutImage, skopeoRawManifest, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * What a new user doing a real job tripped on (each found by running ferry as a user would, then
 * reproduced here against a real docker-registry and nginx): a chart that deploys an image the
 * manifest also lists with a platform filter, audit of what a chart brought in, mistakes in the
 * manifest, a closed output pipe, serving the wrong directory.
 */
let work: string;
let reg: RunningRegistry;
let charts: StaticServer;

const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });
const insecure = () => ['--insecure-registry', reg.host];
const writeManifest = (file: string, name: string, body: Record<string, unknown>) =>
  writeFile(file, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name }, ...body }));

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser-'));
  const repoDir = path.join(work, 'repo');
  await mkdir(repoDir, { recursive: true });
  [reg, charts] = await Promise.all([startRegistry({ mode: 'http' }), startStaticServer(repoDir)]);

  // Upstream: a two-platform app image and a single-platform sidecar.
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, [
    { name: 'app', platforms: [{ architecture: 'amd64', layers: [{ files: { 'app/arch': 'amd64\n' } }] }, { architecture: 'arm64', variant: 'v8', layers: [{ files: { 'app/arch': 'arm64\n' } }] }] },
    { name: 'sidecar', platforms: [{ architecture: 'amd64', layers: [{ files: { 'sidecar/v': '1\n' } }] }] },
  ]);
  await pushLayoutImage(reg, layout, 'app', 'team/app:1.0');
  await pushLayoutImage(reg, layout, 'sidecar', 'team/sidecar:1.0');

  // A chart (HTTP repository) whose values deploy both images.
  const chartDir = path.join(work, 'src', 'stack');
  await mkdir(path.join(chartDir, 'templates'), { recursive: true });
  await writeFile(path.join(chartDir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'stack', version: '1.0.0' }));
  await writeFile(path.join(chartDir, 'values.yaml'), `app:\n  image: ${reg.host}/team/app:1.0\nsidecar:\n  image: ${reg.host}/team/sidecar:1.0\n`);
  await writeFile(
    path.join(chartDir, 'templates', 'deploy.yaml'),
    'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {{ .Values.app.image }}\n        - name: sidecar\n          image: {{ .Values.sidecar.image }}\n',
  );
  await writeRepoIndex(repoDir, [await packageChart(chartDir, repoDir)]);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([reg?.stop(), charts?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a chart deploys an image the manifest lists with a platform filter', () => {
  let dir: string;
  beforeAll(async () => {
    dir = path.join(work, 'job');
    await mkdir(dir, { recursive: true });
    await writeManifest(path.join(dir, 'stack.yaml'), 'stack', {
      images: [{ ref: `${reg.host}/team/app:1.0`, platforms: ['linux/amd64'] }],
      charts: [{ name: 'stack', repo: charts.url, version: '1.0.0' }],
    });
    await writeFile(path.join(dir, 'site.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 'site' }, registry: { url: reg.url, prefix: 'site' } }));
    const lock = await runFerry(['lock', 'stack.yaml', ...insecure()], { cwd: dir, env: env() });
    expect(lock.code, lock.stderr).toBe(0);
  }, 120_000);

  it('locks the image once, with the filter (the discovered copy does not add an unfiltered index under the same tag)', async () => {
    const lock = JSON.parse(await readFile(path.join(dir, 'stack.lock.json'), 'utf8')) as { images: Array<{ ref: string; platforms?: string[]; storedDigest?: string }> };
    const app = lock.images.filter((i) => i.ref === `${reg.host}/team/app:1.0`);
    expect(app).toHaveLength(1);
    expect(app[0].platforms).toEqual(['linux/amd64']);
    expect(app[0].storedDigest).toMatch(/^sha256:/);
    expect(lock.images.map((i) => i.ref).sort()).toEqual([`${reg.host}/team/app:1.0`, `${reg.host}/team/sidecar:1.0`]);
  });

  it('imports the filtered index under the tag: the site gets amd64 only', async () => {
    const create = await runFerry(['bundle', 'create', 'stack.yaml', '-o', 'stack.ferry.tar', '--frozen', ...insecure()], { cwd: dir, env: env() });
    expect(create.code, create.stderr).toBe(0);
    // The summary counts artifacts and how many are images (it used to read "3 artifacts, 2 images complete").
    const verify = await runFerry(['bundle', 'verify', 'stack.ferry.tar'], { cwd: dir, env: env() });
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toContain('3 artifacts complete, 2 of them images; bundle signature unsigned');
    const imp = await runFerry(['import', 'stack.ferry.tar', '--target', 'site.yaml', '-q'], { cwd: dir, env: env() });
    expect(imp.code, imp.stderr).toBe(0);
    const index = JSON.parse((await skopeoRawManifest(reg, `${reg.host}/site/${reg.host.replace(':', '-')}/team/app:1.0`)).toString('utf8')) as { manifests: Array<{ platform: { architecture: string } }> };
    expect(index.manifests.map((m) => m.platform.architecture)).toEqual(['amd64']);
  }, 120_000);

  it('audit counts the image the chart brought in (in the lock, not in images:) as mirrored', async () => {
    // Audit is offline: the same manifest and lock with the images under a public host name
    // (a loopback registry would count as internal whatever the lock says).
    const offline = path.join(work, 'audit');
    await mkdir(path.join(offline, 'deploy'), { recursive: true });
    const swap = (t: string) => t.split(reg.host).join('quay.io');
    await writeFile(path.join(offline, 'stack.yaml'), swap(await readFile(path.join(dir, 'stack.yaml'), 'utf8')));
    await writeFile(path.join(offline, 'stack.lock.json'), swap(await readFile(path.join(dir, 'stack.lock.json'), 'utf8')));
    await writeFile(path.join(offline, 'site.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 'site' }, registry: { url: 'https://harbor.site.internal', prefix: 'site' } }));
    await writeFile(path.join(offline, 'deploy', 'sidecar.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: { name: s }\nspec:\n  containers:\n    - name: s\n      image: quay.io/team/sidecar:1.0\n');
    const r = await runFerry(['audit', 'deploy', '--manifest', 'stack.yaml', '--target', 'site.yaml', '--format', 'json', '--fail-on', 'unmitigated'], { cwd: offline, env: env() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { findings: Array<{ value: string; class: string; mirror?: string }> };
    const sidecar = report.findings.find((x) => x.value === 'quay.io/team/sidecar:1.0');
    expect(sidecar?.class).toBe('mirrored');
    expect(sidecar?.mirror).toBe('harbor.site.internal/site/quay.io/team/sidecar:1.0');
  }, 60_000);

  it('refuses two entries of one reference with different platforms, naming both', async () => {
    await writeManifest(path.join(dir, 'dup.yaml'), 'dup', {
      images: [{ ref: `${reg.host}/team/app:1.0`, platforms: ['linux/amd64'] }, { ref: `${reg.host}/team/app:1.0` }, { ref: `${reg.host}/team/app:1.0`, platforms: ['linux/amd64'] }],
    });
    const r = await runFerry(['lock', 'dup.yaml'], { cwd: dir, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`images[1]: ${reg.host}/team/app:1.0 is listed again with other settings (images[0] has platforms [linux/amd64])`);
    expect(r.stderr).not.toContain('images[2]');
  });
});

describe('mistakes a new user makes', () => {
  it('a mistyped or misplaced field names the field it meant', async () => {
    const dir = path.join(work, 'typo');
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, 'typo.yaml'),
      'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: typo }\nimages:\n  - ref: alpine:3.20\n    platfroms: [linux/amd64]\n  - reference: busybox:1.36\nextras: false\nchart: []\n',
    );
    const r = await runFerry(['lock', 'typo.yaml'], { cwd: dir, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('images[0]: unknown field "platfroms" (did you mean "platforms"?)');
    expect(r.stderr).toContain('images[1].ref: required field is missing (string)');
    expect(r.stderr).toContain('images[1]: unknown field "reference" (did you mean "ref"?)');
    expect(r.stderr).toContain('(top level): unknown fields "extras" (a field of images entries: check its indentation), "chart" (did you mean "charts"?)');
    expect(r.stderr).not.toContain('received undefined');
  });

  it('a mistyped mirror target field names the field it meant', async () => {
    const dir = path.join(work, 'typo');
    await writeFile(path.join(dir, 'site.yaml'), 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: s }\nregistry: { url: http://127.0.0.1:5000, prefx: m }\ndirectroy: ./x\n');
    const r = await runFerry(['map', path.join(work, 'job', 'stack.lock.json'), '--target', 'site.yaml'], { cwd: dir, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('registry: unknown field "prefx" (did you mean "prefix"?)');
    expect(r.stderr).toContain('unknown field "directroy" (did you mean "directory"?)');
  });

  it('serving a directory that is not an OCI layout is a usage error (exit 2) that says how to serve a files tree', async () => {
    const dir = path.join(work, 'files-tree');
    await mkdir(path.join(dir, 'example.org'), { recursive: true });
    const r = await runFerry(['serve', dir, '--listen', '127.0.0.1:0'], { env: env(), timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('not an OCI image layout');
    expect(r.stderr).toContain('/files/');
  });

  it('a reader that closes the pipe early (ferry --help | head -1) ends ferry without an EPIPE stack trace', async () => {
    for (let i = 0; i < 3; i++) {
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [FERRY, '--help'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        child.stdout.once('data', () => child.stdout.destroy());
        child.on('close', (code) => resolve({ code, stderr }));
      });
      expect(result.stderr).not.toContain('EPIPE');
      expect(result.stderr).not.toContain('Unhandled');
      expect([0, 141]).toContain(result.code);
    }
  });
});
