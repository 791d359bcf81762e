import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { cycloneDxValidator } from '../support/cyclonedx.js';
import { packageChart } from '../support/chart-repo.js';
import { OCI_MANIFEST, pushBlob, putManifest } from '../support/oci-push.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * newuser63: the SBOM of a bundle carrying a Helm chart from an OCI registry (a real Distribution
 * registry, the chart pushed as `helm push` writes it) validates against the CycloneDX 1.6 schema
 * with the validator the CycloneDX library uses: its `oci://` repository, written as the chart's
 * distribution link, was no `iri-reference` to it (not an IANA scheme) and made the document invalid.
 */
let work: string;
let reg: RunningRegistry;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-nu63-sbom-'));
  reg = await startRegistry({ mode: 'http' });
  const src = path.join(work, 'src', 'edge-stack');
  await mkdir(path.join(src, 'templates'), { recursive: true });
  await writeFile(path.join(src, 'Chart.yaml'), 'apiVersion: v2\nname: edge-stack\nversion: 1.3.0\n');
  await writeFile(path.join(src, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: edge }\n');
  const c = await packageChart(src, work);
  const repo = 'charts/edge-stack';
  const config = await pushBlob(reg, repo, Buffer.from(JSON.stringify({ apiVersion: 'v2', name: 'edge-stack', version: '1.3.0' })));
  const layer = await pushBlob(reg, repo, await readFile(c.file));
  const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', ...config }, layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', ...layer }] };
  await putManifest(reg, repo, '1.3.0', Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST);
  await writeFile(
    path.join(work, 'edge.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: edge }', 'charts:', `  - { name: edge-stack, repo: "oci://${reg.host}/charts", version: 1.3.0, images: none }`, ''].join('\n'),
  );
}, 60_000);

afterAll(async () => {
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('newuser63: ferry sbom of a bundle with an OCI chart', () => {
  it('is a valid CycloneDX 1.6 document; the chart keeps its oci:// repository in its purl', async () => {
    const env = { FERRY_CACHE_DIR: path.join(work, 'cache') };
    const created = await runFerry(['bundle', 'create', 'edge.yaml', '-o', 'edge.ferry.tar', '--insecure-registry', reg.host], { cwd: work, env });
    expect(created.code, created.stderr).toBe(0);
    const r = await runFerry(['sbom', 'edge.ferry.tar', '-o', 'edge.cdx.json'], { cwd: work, env });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(await readFile(path.join(work, 'edge.cdx.json'), 'utf8'));
    const validate = await cycloneDxValidator();
    expect(validate(doc), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    const chart = doc.components.find((c: { name: string }) => c.name === 'edge-stack');
    expect(chart.purl).toBe(`pkg:helm/edge-stack@1.3.0?repository_url=oci://${reg.host}/charts`);
    // The copy bundle create writes into the bundle is the same document, so valid too.
    const inBundle = await runFerry(['sbom', 'edge.ferry.tar'], { cwd: work, env });
    expect(validate(JSON.parse(inBundle.stdout)), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
  });
});
