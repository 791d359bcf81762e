import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockSchema } from '../../../src/kinds/schema.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { rewriteValues } from '../../../src/rewrite/values.js';
import { fixtureTarget, MIRROR, write } from './helpers.js';

// `rewrite values` on a user's own values file, checked against what the chart really deploys
// (190 public charts rendered with the rewritten file): what the file does not name stays
// upstream, and must be said.
const sha = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-charts4-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function context(images: string[], chartImages = images) {
  const lock = LockSchema.parse({
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'x', digest: sha('x') },
    images: images.map((r) => ({ source: r, ref: r, digest: sha(r), mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] })),
    charts: [{ name: 'app', repo: 'https://charts.example', version: '1.2.3', requested: '1.2.3', source: 'http', digest: sha('c'), size: 1, images: chartImages }],
  });
  return createRewriteContext(await fixtureTarget(), lock);
}

describe('rewrite values: images the file does not name', () => {
  it('names the chart images a partial values file leaves upstream (a subchart, the chart defaults) and points at rewrite chart', async () => {
    const ctx = await context(['docker.io/bitnami/app:1.0', 'docker.io/bitnami/postgresql:17.6.0']);
    const f = await write(tmp, 'values-prod.yaml', 'image:\n  registry: docker.io\n  repository: bitnami/app\n  tag: "1.0"\n');
    const r = await rewriteValues([f], ctx, { inPlace: true });
    expect(await readFile(f, 'utf8')).toContain(`registry: ${MIRROR}/docker.io`);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('chart app 1.2.3');
    expect(r.warnings[0]).toContain('docker.io/bitnami/postgresql:17.6.0');
    expect(r.warnings[0]).not.toContain('bitnami/app:1.0');
    expect(r.warnings[0]).toContain('ferry rewrite chart');
  });

  it('a values file that names no image at all (a ci/*.yaml, a prod file of replicas and ingress) says it moves none of the chart images', async () => {
    const ctx = await context(['registry.k8s.io/external-dns/external-dns:v0.21.0']);
    const f = await write(tmp, 'ci-values.yaml', 'replicaCount: 2\ningress:\n  enabled: true\n');
    const r = await rewriteValues([f], ctx, { inPlace: true });
    expect(r.replacements).toHaveLength(0);
    expect(r.warnings.join('\n')).toContain('registry.k8s.io/external-dns/external-dns:v0.21.0');
    expect(r.warnings.join('\n')).toContain('ferry rewrite chart');
  });

  it('a file that names every image the chart pins gets no warning', async () => {
    const ctx = await context(['docker.io/bitnami/app:1.0']);
    const f = await write(tmp, 'full.yaml', 'image:\n  registry: docker.io\n  repository: bitnami/app\n  tag: "1.0"\n');
    expect((await rewriteValues([f], ctx, { inPlace: true })).warnings).toEqual([]);
  });
});

describe('rewrite values: image maps under a document-wide registry (ingress-nginx)', () => {
  it('a map without a registry key takes global.image.registry: the global key moves it, the repository stays, nothing is unmapped', async () => {
    const ctrl = 'registry.k8s.io/ingress-nginx/controller:v1.15.1';
    const ctx = await context([ctrl]);
    const text = 'global:\n  image:\n    registry: registry.k8s.io\ncontroller:\n  image:\n    image: ingress-nginx/controller\n    tag: "v1.15.1"\n';
    const f = await write(tmp, 'ingress.yaml', text);
    const r = await rewriteValues([f], ctx, { inPlace: true });
    expect(r.unmapped).toEqual([]);
    expect(r.warnings).toEqual([]);
    const after = await readFile(f, 'utf8');
    expect(after).toContain(`registry: ${MIRROR}/registry.k8s.io`);
    expect(after).toContain('image: ingress-nginx/controller');
  });
});
