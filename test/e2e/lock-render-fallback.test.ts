import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';

/**
 * A chart that refuses to render with the manifest's values (a `required` value only set at
 * install time): `ferry lock` reads its images from the values alone, and says so as a warning,
 * printed and in --json, since an image only its templates name is then not in the lock.
 */
let work: string;
let repo: StaticServer;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });

const POD = `{{- $password := required "auth.password is required at install time" .Values.auth.password }}
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-db
spec:
  containers:
    - name: db
      image: "{{ .Values.registry }}/tools/busybox:1.36"
`;

async function writeManifest(name: string, chart: Record<string, unknown>): Promise<string> {
  const file = path.join(work, `${name}.yaml`);
  await writeFile(file, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name }, charts: [{ name: 'needs-password', repo: `${repo.url}/stable`, version: '1.0.0', ...chart }] }));
  return file;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-lock-fallback-'));
  const chartDir = path.join(work, 'src', 'needs-password');
  await mkdir(path.join(chartDir, 'templates'), { recursive: true });
  await writeFile(path.join(chartDir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'needs-password', version: '1.0.0' }));
  await writeFile(path.join(chartDir, 'values.yaml'), 'registry: 127.0.0.1:9\nauth:\n  password: ""\n');
  await writeFile(path.join(chartDir, 'templates', 'pod.yaml'), POD);
  const stable = path.join(work, 'repo', 'stable');
  await mkdir(stable, { recursive: true });
  await writeRepoIndex(stable, [await packageChart(chartDir, stable)]);
  repo = await startStaticServer(path.join(work, 'repo'));
}, 60_000);

afterAll(async () => {
  await repo?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('ferry lock: a chart that does not render falls back to its values, with a warning', () => {
  it('prints the warning naming the chart and the render error; --json carries it', async () => {
    const manifest = await writeManifest('fallback', {});
    const r = await runFerry(['lock', manifest], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: chart needs-password 1\.0\.0 does not render with the manifest's values \(execution error at \(needs-password\/templates\/pod\.yaml:1:17\): auth\.password is required at install time\); its images were read from the values alone/);
    const lock = JSON.parse(await readFile(path.join(work, 'fallback.lock.json'), 'utf8')) as { charts: Array<{ name: string; images: string[] }> };
    // The template's image is what the warning is about: the values alone do not name it.
    expect(lock.charts[0]).toMatchObject({ name: 'needs-password', images: [] });

    const json = await runFerry(['lock', manifest, '--json'], { env: env() });
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as { warnings: string[] };
    expect(result.warnings.filter((w) => w.startsWith('chart needs-password 1.0.0 does not render'))).toHaveLength(1);
  });

  it('when the lock then fails, the warning is printed with the error', async () => {
    // Values that name an image (nothing listens there) but not the password: the images come from the values alone.
    await writeFile(path.join(work, 'values-image.yaml'), 'app:\n  image: 127.0.0.1:9/tools/app:1.0\n');
    const manifest = await writeManifest('fails', { values: ['values-image.yaml'] });
    const r = await runFerry(['lock', manifest], { env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('127.0.0.1:9/tools/app:1.0');
    expect(r.stderr).toMatch(/warning: chart needs-password 1\.0\.0 does not render with the manifest's values/);
  });

  it('with the value the chart requires, it renders: the template image is locked and nothing is said', async () => {
    await writeFile(path.join(work, 'values-install.yaml'), 'auth:\n  password: s3cret\n');
    const manifest = await writeManifest('renders', { values: ['values-install.yaml'], images: 'discover' });
    const r = await runFerry(['lock', manifest, '--json'], { env: env() });
    // Rendered, the template's image is discovered and resolved (nothing listens there: the lock fails naming it).
    expect(r.stderr).not.toMatch(/does not render/);
    expect(r.stderr).toContain('127.0.0.1:9/tools/busybox:1.36');
  });

  it('an explicit image list does not use discovery: no warning', async () => {
    const manifest = await writeManifest('explicit', { images: 'none' });
    const r = await runFerry(['lock', manifest], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/does not render/);
  });
});
