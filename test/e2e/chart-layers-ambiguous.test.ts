import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageChart } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { OCI_MANIFEST, pushBlob, putManifest } from '../support/oci-push.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * An OCI chart manifest with two chart content layers (or two provenance layers): which one a
 * client installs is not defined (ferry took the first, Helm's registry client keeps the last it
 * meets), and the mirror copies the manifest byte for byte, so ferry would check one chart while the
 * site could install the other. `lock` and `charts images oci://` refuse it naming both digests; the
 * same manifest with one layer of each locks.
 */
let work: string;
let reg: RunningRegistry;
const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';
const HELM_CHART = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';
const HELM_PROV = 'application/vnd.cncf.helm.chart.provenance.v1.prov';

async function chartArchive(version: string, data: string): Promise<Buffer> {
  const src = path.join(work, 'src', `web-${data}`, 'web');
  await mkdir(path.join(src, 'templates'), { recursive: true });
  await writeFile(path.join(src, 'Chart.yaml'), `apiVersion: v2\nname: web\nversion: ${version}\n`);
  await writeFile(path.join(src, 'templates', 'cm.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: web }\ndata: { which: ${data} }\n`);
  const p = await packageChart(src, path.join(work, 'pkg', data));
  return readFile(p.file);
}

/** Push `web:<tag>` whose manifest lists `layers` (chart archives and provenance bodies) in order. */
async function pushChart(tag: string, layers: Array<{ mediaType: string; bytes: Buffer }>): Promise<void> {
  const config = await pushBlob(reg, 'charts/web', Buffer.from(JSON.stringify({ apiVersion: 'v2', name: 'web', version: tag })));
  const descs = [];
  for (const l of layers) descs.push({ mediaType: l.mediaType, ...(await pushBlob(reg, 'charts/web', l.bytes)) });
  await putManifest(reg, 'charts/web', tag, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: HELM_CONFIG, ...config }, layers: descs })), OCI_MANIFEST);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-chart-layers-'));
  reg = await startRegistry({ mode: 'http' });
  const good = await chartArchive('1.0.0', 'good');
  const other = await chartArchive('1.0.0', 'other');
  await pushChart('1.0.0', [{ mediaType: HELM_CHART, bytes: good }]);
  await pushChart('2.0.0', [
    { mediaType: HELM_CHART, bytes: await chartArchive('2.0.0', 'good') },
    { mediaType: HELM_CHART, bytes: await chartArchive('2.0.0', 'other') },
  ]);
  await pushChart('3.0.0', [
    { mediaType: HELM_CHART, bytes: await chartArchive('3.0.0', 'good') },
    { mediaType: HELM_PROV, bytes: Buffer.from('first provenance\n') },
    { mediaType: HELM_PROV, bytes: Buffer.from('second provenance\n') },
  ]);
  // the legacy layer type (helm 3.0–3.7) beside the current one is two chart layers too
  await pushChart('4.0.0', [
    { mediaType: 'application/tar+gzip', bytes: await chartArchive('4.0.0', 'good') },
    { mediaType: HELM_CHART, bytes: other },
  ]);
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const lock = async (version: string) => {
  const dir = path.join(work, `job-${version}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'm.yaml'), `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: m }\ncharts:\n  - { repo: "oci://${reg.host}/charts", name: web, version: ${version}, images: none }\n`);
  return runFerry(['lock', 'm.yaml', '--insecure-registry', reg.host], { cwd: dir, env: { FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0' } });
};

describe('OCI chart manifests with more than one chart or provenance layer', () => {
  it('a manifest with one chart layer locks', async () => {
    const r = await lock('1.0.0');
    expect(r.code, r.stderr).toBe(0);
  });

  it('two chart content layers (or a legacy and a current one) are refused by lock, naming both digests', async () => {
    for (const v of ['2.0.0', '4.0.0']) {
      const r = await lock(v);
      expect(r.code, r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(/the chart manifest has 2 chart content layers \(sha256:[0-9a-f]{64}, sha256:[0-9a-f]{64}\); a Helm chart has one/);
    }
  });

  it('two provenance layers are refused by lock', async () => {
    const r = await lock('3.0.0');
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain('the chart manifest has 2 provenance layers');
  });

  it('charts images oci:// refuses two chart layers too', async () => {
    const r = await runFerry(['charts', 'images', `oci://${reg.host}/charts/web`, '--version', '2.0.0', '--insecure-registry', reg.host], { cwd: work, env: { FERRY_RETRIES: '0' } });
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain('chart content layers');
    const ok = await runFerry(['charts', 'images', `oci://${reg.host}/charts/web`, '--version', '1.0.0', '--insecure-registry', reg.host], { cwd: work, env: { FERRY_RETRIES: '0' } });
    expect(ok.code, ok.stderr).toBe(0);
  });
});
