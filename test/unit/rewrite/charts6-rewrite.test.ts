import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverChartImages } from '../../../src/kinds/chart/discover.js';
import { loadChartDir } from '../../../src/kinds/chart/load.js';
import { imageValuesOf } from '../../../src/kinds/chart/lock.js';
import { LockSchema } from '../../../src/kinds/schema.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { rewriteValues } from '../../../src/rewrite/values.js';
import { fixtureTarget, MIRROR } from './helpers.js';

// The sixth rewrite pass over real charts never seen (15 repositories of the fifth oracle pass):
// each chart rewritten, rendered with the mirror values by an independent Go renderer, and every
// image compared with its mirror reference. Small synthetic charts reproduce what it found.
const sha = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-charts6-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function chartDir(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(tmp, name);
  for (const [f, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await writeFile(path.join(dir, f), text);
  }
  return dir;
}

function lockFor(images: string[], imageValues: Record<string, Array<{ path: string }>>) {
  return LockSchema.parse({
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'x', digest: sha('x') },
    images: images.map((r) => ({ source: r, ref: r, digest: sha(r), mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] })),
    charts: [{ name: 'hostpath', version: '0.1.1', repo: 'https://charts.example', requested: '0.1.1', source: 'http', digest: sha('c'), size: 1, images, imageValues }],
  });
}

// wiremind's csi-driver-host-path: the values keep the scaffold's `image: {repository:
// registry.k8s.io/sig-storage/hostpathplugin, tag: ""}`, but no template reads it; the StatefulSet
// spells `hostpathplugin:v1.9.0` itself. Discovery tied the key to the rendered image by its
// repository (the tags differ: the key would give the appVersion), so the lock said `image`
// deploys it, and `rewrite values` reported it moved while it still came from upstream.
const HOSTPATH = (template: string) => ({
  'Chart.yaml': 'apiVersion: v2\nname: hostpath\nversion: 0.1.1\nappVersion: v1.11.0\n',
  'values.yaml': 'image:\n  repository: registry.k8s.io/sig-storage/hostpathplugin\n  pullPolicy: IfNotPresent\n  tag: ""\n',
  'templates/sts.yaml': [
    'apiVersion: apps/v1',
    'kind: StatefulSet',
    'metadata:',
    '  name: plugin',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: plugin',
    `          image: ${template}`,
    '',
  ].join('\n'),
});
const PLUGIN = 'registry.k8s.io/sig-storage/hostpathplugin:v1.9.0';

describe('an image key no template reads, beside a hard-coded image of the same repository', () => {
  it('is not recorded as the key that deploys the image', async () => {
    const chart = await loadChartDir(await chartDir('hp-unread', HOSTPATH(PLUGIN)), undefined, { allFiles: true });
    const found = discoverChartImages(chart, {}).images;
    expect(found.filter((i) => i.certainty === 'certain').map((i) => i.ref)).toEqual([PLUGIN]);
    expect(imageValuesOf(found)).toEqual({});
  });

  it('is still recorded when the templates read it and compose another tag', async () => {
    const chart = await loadChartDir(await chartDir('hp-read', HOSTPATH('"{{ .Values.image.repository }}:v1.9.0"')), undefined, { allFiles: true });
    const found = discoverChartImages(chart, {}).images;
    expect(found.filter((i) => i.certainty === 'certain').map((i) => i.ref)).toEqual([PLUGIN]);
    expect(imageValuesOf(found)).toEqual({ [PLUGIN]: [{ path: 'image' }] });
  });

  it('rewrite values names the image as left upstream, the lock recording that no key deploys it', async () => {
    const dir = await chartDir('hp-values', HOSTPATH(PLUGIN));
    const chart = await loadChartDir(dir, undefined, { allFiles: true });
    const found = discoverChartImages(chart, {}).images;
    // as `ferry lock` writes it: the record is there even when no values key deploys an image
    const ctx = createRewriteContext(await fixtureTarget(), lockFor([PLUGIN], imageValuesOf(found)));
    const r = await rewriteValues([path.join(dir, 'values.yaml')], ctx, { inPlace: true });
    expect(r.warnings.join('\n')).toContain(`1 of the images the lock pins for it is not moved`);
    expect(r.warnings.join('\n')).toContain(PLUGIN);
    // the key itself still moves (harmless): the file names a locked repository
    expect(await readFile(path.join(dir, 'values.yaml'), 'utf8')).toContain(`repository: ${MIRROR}/registry.k8s.io/sig-storage/hostpathplugin`);
  });

  it('an empty imageValues record means no values key deploys the chart images: a file naming one is warned', async () => {
    const dir = await chartDir('hp-empty-record', HOSTPATH(PLUGIN));
    const ctx = createRewriteContext(await fixtureTarget(), lockFor([PLUGIN], {}));
    const r = await rewriteValues([path.join(dir, 'values.yaml')], ctx, { inPlace: true });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain(PLUGIN);
  });
});
