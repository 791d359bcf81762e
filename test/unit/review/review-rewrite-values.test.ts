import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { discoverChartImages, userValues } from '../../../src/kinds/chart/discover/index.js';
import { loadChart } from '../../../src/kinds/chart/load.js';
import { imageValuesOf } from '../../../src/kinds/chart/lock.js';
import { LockSchema } from '../../../src/kinds/schema.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { rewriteValues } from '../../../src/rewrite/values.js';
import { fixtureTarget, MIRROR } from '../rewrite/helpers.js';

// `rewrite values` leaves an image map alone where the chart's own map has a registry key and the
// file's has none. Which chart's map: the lock holds many charts, and `image` is everyone's key.
const sha = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-review-rewrite-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const deployment = (name: string, image: string) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: ${image}\n`;

async function chartAt(dir: string, files: Record<string, string>) {
  for (const [f, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await writeFile(path.join(dir, f), text);
  }
  const chart = await loadChart(dir, { allFiles: true });
  const found = discoverChartImages(chart);
  const images = found.images.filter((i) => i.certainty === 'certain').map((i) => i.ref);
  return { chart, images, entry: { name: chart.metadata.name, repo: 'https://charts.example', version: chart.metadata.version, requested: '*', source: 'http', digest: sha(dir), size: 1, images, imageValues: imageValuesOf(found.images) } };
}

it("another locked chart's registry key at `image` does not stop the file of a chart without one from being rewritten", async () => {
  // A bitnami-style chart: image.registry + image.repository.
  const kafka = await chartAt(path.join(tmp, 'kafka'), {
    'Chart.yaml': 'apiVersion: v2\nname: kafka\nversion: 1.0.0\n',
    'values.yaml': 'image:\n  registry: docker.io\n  repository: bitnami/kafka\n  tag: "4.0"\n',
    'templates/deploy.yaml': deployment('kafka', '"{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"'),
  });
  // An ordinary chart: image.repository is the whole name.
  const web = await chartAt(path.join(tmp, 'web'), {
    'Chart.yaml': 'apiVersion: v2\nname: web\nversion: 1.0.0\n',
    'values.yaml': 'image:\n  repository: docker.io/library/nginx\n  tag: "1.27"\n',
    'templates/deploy.yaml': deployment('web', '"{{ .Values.image.repository }}:{{ .Values.image.tag }}"'),
  });
  const images = [...kafka.images, ...web.images];
  const lock = LockSchema.parse({
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'x', digest: sha('x') },
    images: images.map((r) => ({ source: r, ref: r, digest: sha(r), mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] })),
    charts: [kafka.entry, web.entry],
  });
  expect(lock.charts!.map((c) => c.imageValues)).toEqual([{ 'docker.io/bitnami/kafka:4.0': [{ path: 'image', registry: true }] }, { 'docker.io/library/nginx:1.27': [{ path: 'image' }] }]);
  const ctx = createRewriteContext(await fixtureTarget(), lock);

  // The web chart's values file: its image map has no registry key, and neither has its chart's.
  const file = path.join(tmp, 'web-values.yaml');
  await writeFile(file, 'image:\n  repository: docker.io/library/nginx\n  tag: "1.27"\n');
  const r = await rewriteValues([file], ctx, { inPlace: true });
  const text = await readFile(file, 'utf8');
  const rendered = discoverChartImages(web.chart, { values: [userValues(text, file)] }).images.filter((i) => i.certainty === 'certain').map((i) => i.ref);
  expect(rendered.filter((i) => !i.startsWith(`${MIRROR}/`))).toEqual([]);
  expect(r.warnings.join('\n')).not.toContain('give it a registry key');

  // The kafka chart's file without a registry key is still left as it is (the template would prefix docker.io).
  const kfile = path.join(tmp, 'kafka-values.yaml');
  const kuser = 'image:\n  repository: bitnami/kafka\n  tag: "4.0"\n';
  await writeFile(kfile, kuser);
  const kr = await rewriteValues([kfile], ctx, { inPlace: true });
  expect(await readFile(kfile, 'utf8')).toBe(kuser);
  expect(kr.warnings.join('\n')).toContain('give it a registry key');
});

it("a file that sets `image` for its own chart is not taken for another chart's file (no warning about that chart's other images)", async () => {
  const api = await chartAt(path.join(tmp, 'api'), {
    'Chart.yaml': 'apiVersion: v2\nname: api\nversion: 1.0.0\n',
    'values.yaml': 'image:\n  repository: example.com/api\n  tag: "1"\nmetrics:\n  image:\n    repository: example.com/exporter\n    tag: "2"\n',
    'templates/deploy.yaml': deployment('api', '"{{ .Values.image.repository }}:{{ .Values.image.tag }}"') + '---\n' + deployment('metrics', '"{{ .Values.metrics.image.repository }}:{{ .Values.metrics.image.tag }}"'),
  });
  const web = await chartAt(path.join(tmp, 'web2'), {
    'Chart.yaml': 'apiVersion: v2\nname: web2\nversion: 1.0.0\n',
    'values.yaml': 'image:\n  repository: docker.io/library/nginx\n  tag: "1.27"\n',
    'templates/deploy.yaml': deployment('web', '"{{ .Values.image.repository }}:{{ .Values.image.tag }}"'),
  });
  const images = [...api.images, ...web.images];
  const lock = LockSchema.parse({
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'x', digest: sha('x') },
    images: images.map((r) => ({ source: r, ref: r, digest: sha(r), mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] })),
    charts: [api.entry, web.entry],
  });
  const ctx = createRewriteContext(await fixtureTarget(), lock);
  const file = path.join(tmp, 'web2-values.yaml');
  await writeFile(file, 'image:\n  repository: docker.io/library/nginx\n  tag: "1.27"\n');
  const r = await rewriteValues([file], ctx, { inPlace: true });
  expect(r.warnings.join('\n')).not.toContain('chart api 1.0.0');
});
