import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanPaths } from '../../../src/audit/scan.js';

/**
 * ingress-nginx writes its images as `{registry, image: ingress-nginx/controller, tag, digest}`,
 * and a site's values for it do too. Audit read `image` as an image of its own (Docker Hub's
 * `ingress-nginx/controller`, no tag) and `registry` as a host beside it; `rewrite values` already
 * read the map whole. Now audit does too: one reference, at its own line.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-image-map-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('an image map whose repository is under image:', () => {
  it("a site's ingress-nginx values: each image read whole, no Docker Hub name, no bare registry host", async () => {
    await writeFile(
      path.join(dir, 'ingress-values.yaml'),
      `controller:
  image:
    registry: registry.k8s.io
    image: ingress-nginx/controller
    tag: "v1.11.2"
    digest: sha256:${'d'.repeat(64)}
  admissionWebhooks:
    patch:
      image:
        registry: registry.k8s.io
        image: ingress-nginx/kube-webhook-certgen
        tag: v1.4.3
defaultBackend:
  image:
    registry: registry.k8s.io
    image: defaultbackend-amd64
    tag: "1.5"
app:
  image:
    repository: ghcr.io/acme/app
    tag: "1.0"
`,
    );
    const { references } = await scanPaths([path.join(dir, 'ingress-values.yaml')], dir);
    const images = references.filter((r) => r.kind === 'image').map((r) => [r.value, r.line]);
    expect(images).toEqual([
      [`registry.k8s.io/ingress-nginx/controller:v1.11.2@sha256:${'d'.repeat(64)}`, 4],
      ['registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.4.3', 11],
      ['registry.k8s.io/defaultbackend-amd64:1.5', 16],
      ['ghcr.io/acme/app:1.0', 20],
    ]);
    expect(references.filter((r) => r.kind === 'host')).toEqual([]);
  });
});
