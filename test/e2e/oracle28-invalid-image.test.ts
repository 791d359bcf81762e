import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';

/**
 * A rendered container whose image is no image reference (`image: ":"` composed from empty
 * values, as a chart's stray template renders it; an empty one; upper case and control bytes):
 * the oracle (chartrender -images) lists the string, ferry listed nothing and said nothing, so the
 * pod's image was silently unknown. Now `charts images` and `lock` warn, naming the resource, the
 * field and the template; the string is listed as no image.
 */
let work: string;
let repo: StaticServer;

const DEPLOY = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        - name: sidecar
          image: {{ .Values.sidecar | quote }}
`;

async function chart(name: string, values: Record<string, unknown>): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(path.join(dir, 'templates'), { recursive: true });
  await writeFile(path.join(dir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name, version: '1.0.0' }));
  await writeFile(path.join(dir, 'values.yaml'), stringifyYaml(values));
  await writeFile(path.join(dir, 'templates', 'deploy.yaml'), DEPLOY);
  return dir;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-oracle28-'));
  const stable = path.join(work, 'repo', 'stable');
  await mkdir(stable, { recursive: true });
  await writeRepoIndex(stable, [await packageChart(await chart('blank', { image: { repository: '', tag: '' }, sidecar: '' }), stable)]);
  repo = await startStaticServer(path.join(work, 'repo'));
}, 60_000);

afterAll(async () => {
  await repo?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a rendered container image that is no image reference', () => {
  it('charts images: a warning naming the resource, field and template; the valid sibling still listed', async () => {
    const dir = await chart('colon', { image: { repository: '', tag: '' }, sidecar: 'registry.example.com/tools/sidecar:1.2' });
    const r = await runFerry(['charts', 'images', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('registry.example.com/tools/sidecar:1.2');
    expect(r.stdout).toContain(
      'warning: a container image that is no valid image reference: Deployment web spec.template.spec.containers[0].image (colon/templates/deploy.yaml) is ":", which the kubelet cannot pull (InvalidImageName), so no image of it is listed; fix the values or the template that compose it',
    );
    const json = await runFerry(['charts', 'images', dir, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as { charts: Array<{ images: Array<{ ref: string }>; rendered: { warnings: string[] } }> };
    expect(report.charts[0].images.map((i) => i.ref)).toEqual(['registry.example.com/tools/sidecar:1.2']);
    expect(report.charts[0].rendered.warnings.filter((w) => w.startsWith('a container image that is no valid image reference'))).toHaveLength(1);
  }, 60_000);

  it('an empty image, and one with upper case and a control byte: each warned, the byte escaped', async () => {
    const dir = await chart('odd', { image: { repository: 'Vendor/App', tag: '1\u001b[31m' }, sidecar: '' });
    const r = await runFerry(['charts', 'images', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Deployment web spec.template.spec.containers[0].image (odd/templates/deploy.yaml) is "Vendor/App:1\\u001b[31m", which the kubelet cannot pull (InvalidImageName)');
    expect(r.stdout).toContain('Deployment web spec.template.spec.containers[1].image (odd/templates/deploy.yaml) is "", which the API server refuses (an image is required)');
    expect(r.stdout).not.toContain('\u001b');
  }, 60_000);

  it('valid images draw no such warning', async () => {
    const r = await runFerry(['charts', 'images', await chart('fine', { image: { repository: 'busybox', tag: '1.36' }, sidecar: 'ghcr.io/acme/sidecar:2' })]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('docker.io/library/busybox:1.36');
    expect(r.stdout).not.toContain('no valid image reference');
  }, 60_000);

  it('ferry lock: the same warning, printed and in --json, naming the chart', async () => {
    const manifest = path.join(work, 'm.yaml');
    await writeFile(manifest, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'm' }, charts: [{ name: 'blank', repo: `${repo.url}/stable`, version: '1.0.0' }] }));
    const env = { FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' };
    const r = await runFerry(['lock', manifest], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('warning: chart blank 1.0.0: a container image that is no valid image reference: Deployment web spec.template.spec.containers[0].image (blank/templates/deploy.yaml) is ":"');
    const lock = JSON.parse(await readFile(path.join(work, 'm.lock.json'), 'utf8')) as { charts: Array<{ images: string[] }> };
    expect(lock.charts[0].images).toEqual([]);
    const json = await runFerry(['lock', manifest, '--json'], { env });
    expect(json.code, json.stderr).toBe(0);
    const warnings = (JSON.parse(json.stdout) as { warnings: string[] }).warnings;
    // one for each container: `:` and the empty sidecar
    const invalid = warnings.filter((w) => w.startsWith('chart blank 1.0.0: a container image that is no valid image reference'));
    expect(invalid.map((w) => /containers\[(\d)\]/.exec(w)?.[1])).toEqual(['0', '1']);
  }, 60_000);
});
