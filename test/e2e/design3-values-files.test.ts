import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStaticServer, writeHelloChartRepo, type StaticServer } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { unblockFifo } from '../support/fifo.js';

/**
 * One reader for every values file (src/kinds/chart/load.ts readValuesFile): `ferry lock` read a
 * manifest's `values:` with readFile (no bound: a FIFO waited for ever, /dev/zero grew without
 * end), `charts images --values` the same, and `convert` refused any over 512 KiB (the manifest
 * cap), so a values file lock renders with was dropped by convert. Now each reads a regular file
 * of at most 4 MiB, as a chart's own values.yaml, through one checked descriptor.
 */
let work: string;
let server: StaticServer;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });

/** A values file of `bytes` (comment lines), with `body` at the top. */
const bigValues = (bytes: number, body = '') => body + '# padding the site keeps in its values\n'.repeat(Math.ceil(bytes / 38));

async function manifestWith(name: string, values: string): Promise<string> {
  const file = path.join(work, `manifest-${name}.yaml`);
  await writeFile(file, ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${name} }`, 'charts:', `  - { name: hello, repo: "${server.url}/charts", version: 1.0.0, values: [${values}] }`, ''].join('\n'));
  return file;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-design3-values-'));
  const web = path.join(work, 'web');
  await writeHelloChartRepo(work, web);
  server = await startStaticServer(web);
}, 60_000);
afterAll(async () => {
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('lock reads a manifest\'s values files bounded', () => {
  it('a values file over 4 MiB is refused, naming it and the bound (it was read whole)', { timeout: 60_000 }, async () => {
    await writeFile(path.join(work, 'big.yaml'), bigValues(5 * 1024 * 1024));
    const r = await runFerry(['lock', await manifestWith('big', 'big.yaml')], { env: env() });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('big.yaml: values file is');
    expect(r.stderr).toContain('more than the 4 MiB ferry reads of a values file');
  });

  it('a FIFO named as a values file is refused at once, not waited on', { timeout: 60_000 }, async () => {
    const fifo = path.join(work, 'pipe.yaml');
    execFileSync('mkfifo', [fifo]);
    try {
      const r = await runFerry(['lock', await manifestWith('fifo', 'pipe.yaml')], { env: env(), timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('pipe.yaml: values file is a FIFO, not read');
    } finally {
      unblockFifo(fifo);
    }
  });

  it('a values file under the bound still locks', { timeout: 60_000 }, async () => {
    await writeFile(path.join(work, 'ok.yaml'), bigValues(600 * 1024, 'replicas: 2\n'));
    const r = await runFerry(['lock', await manifestWith('ok', 'ok.yaml')], { env: env() });
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('convert reads a local chart\'s values file as lock does', () => {
  it('a 600 KiB values file (over the 512 KiB manifest cap) is rendered with, not dropped', { timeout: 60_000 }, async () => {
    const dir = path.join(work, 'zarf');
    await mkdir(path.join(dir, 'chart', 'templates'), { recursive: true });
    await writeFile(path.join(dir, 'chart', 'Chart.yaml'), 'apiVersion: v2\nname: app\nversion: 1.0.0\n');
    await writeFile(path.join(dir, 'chart', 'values.yaml'), 'image: ghcr.io/acme/app:1.0.0\n');
    await writeFile(path.join(dir, 'chart', 'templates', 'deploy.yaml'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {{ .Values.image }}\n');
    await writeFile(path.join(dir, 'site.yaml'), bigValues(600 * 1024, 'image: ghcr.io/acme/app:2.0.0\n'));
    await writeFile(path.join(dir, 'zarf.yaml'), 'kind: ZarfPackageConfig\nmetadata: {name: app}\ncomponents:\n  - name: c\n    required: true\n    charts:\n      - name: app\n        version: 1.0.0\n        localPath: chart\n        valuesFiles:\n          - site.yaml\n');
    const r = await runFerry(['convert', 'zarf', 'zarf.yaml', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { manifest: { images?: Array<{ ref: string }> } };
    expect(out.manifest.images?.map((i) => i.ref)).toEqual(['ghcr.io/acme/app:2.0.0']);
  });
});
