import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverChartImages, findRenderedImages, userValues } from '../../../src/kinds/chart/discover.js';
import { loadChartDir } from '../../../src/kinds/chart/load.js';
import { imageValuesOf } from '../../../src/kinds/chart/lock.js';
import { renderChart } from '../../../src/kinds/chart/render/index.js';
import { rewriteChart } from '../../../src/rewrite/chart.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { rewriteValues } from '../../../src/rewrite/values.js';
import { chartLock, fixtureTarget, MIRROR, writeTree } from './helpers.js';

// The seventh rewrite pass over real charts never seen (FairwindsOps, stevehipwell, groundhog2k,
// dysnix, bedag, adfinis, christianhuth, nicholaswilde, softonic, onechart, twuni): each chart
// rewritten, rendered with the mirror values by an independent Go renderer, and every image
// compared with its mirror reference. Small synthetic charts reproduce what it found.
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-charts7-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const chartDir = (name: string, files: Record<string, string>) => writeTree(tmp, name, files);

const lockFor = (images: string[], imageValues: Record<string, Array<{ path: string }>>, name: string) => chartLock(images, imageValues, name, '1.2.7');

// FairwindsOps' gke-node-termination-handler: `image: {repository: k8s.gcr.io/x@sha256, tag: <hex>}`,
// rendered `{{ repository }}:{{ tag }}` — a digest reference split across the map's two keys.
// rewrite chart set the repository to the mirror path without `@sha256` (the render gave a tag
// `:<hex>`, no mirror reference) and then named the image as left upstream; rewrite values did
// not read the map as an image at all and said the file names none.
const HEX = 'aca12d17b222dfed755e28a44d92721e477915fb73211d0a0f8925a1fa847cca';
const GKE = `k8s.gcr.io/gke-node-termination-handler@sha256:${HEX}`;
const GKE_CHART = {
  'Chart.yaml': 'apiVersion: v2\nname: gke-nth\nversion: 1.2.7\n',
  'values.yaml': ['image:', '  repository: k8s.gcr.io/gke-node-termination-handler@sha256', `  tag: ${HEX}`, '  pullPolicy: IfNotPresent', ''].join('\n'),
  'templates/ds.yaml': [
    'apiVersion: apps/v1',
    'kind: DaemonSet',
    'metadata:',
    '  name: nth',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"',
    '          name: nth',
    '',
  ].join('\n'),
};

describe('an image map whose repository ends `@sha256` with the hex in its tag', () => {
  it('discovery ties the map to the rendered image', async () => {
    const chart = await loadChartDir(await chartDir('gke-discover', GKE_CHART), undefined, { allFiles: true });
    const found = discoverChartImages(chart, {}).images;
    expect(found.filter((i) => i.certainty === 'certain').map((i) => i.ref)).toEqual([GKE]);
    expect(imageValuesOf(found)).toEqual({ [GKE]: [{ path: 'image' }] });
  });

  it('rewrite chart moves it, and the render with the override proves it', async () => {
    const dir = await chartDir('gke-chart', GKE_CHART);
    const ctx = createRewriteContext(await fixtureTarget(), lockFor([GKE], { [GKE]: [{ path: 'image' }] }, 'gke-nth'));
    const r = await rewriteChart(dir, ctx, { render: {} });
    expect(r.unmapped).toEqual([]);
    expect(r.overrideValues).toEqual({ image: { repository: `${MIRROR}/k8s.gcr.io/gke-node-termination-handler@sha256` } });
    const chart = await loadChartDir(dir, undefined, { allFiles: true });
    const after = renderChart(chart, { values: [{ name: 'override', data: r.override! }] });
    expect(findRenderedImages(after.documents).map((f) => f.ref)).toEqual([`${MIRROR}/k8s.gcr.io/gke-node-termination-handler@sha256:${HEX}`]);
  });

  it('rewrite values moves it in place', async () => {
    const dir = await chartDir('gke-values', GKE_CHART);
    const ctx = createRewriteContext(await fixtureTarget(), lockFor([GKE], { [GKE]: [{ path: 'image' }] }, 'gke-nth'));
    const r = await rewriteValues([path.join(dir, 'values.yaml')], ctx, { inPlace: true });
    expect(r.unmapped).toEqual([]);
    expect(r.warnings).toEqual([]);
    const text = await readFile(path.join(dir, 'values.yaml'), 'utf8');
    expect(text).toContain(`repository: ${MIRROR}/k8s.gcr.io/gke-node-termination-handler@sha256\n`);
    expect(text).toContain(`tag: ${HEX}`);
  });
});

// dysnix's bsc: `autoScaleTrigger: {enabled: false, containers: [{name: main, image: busybox}]}`,
// and the StatefulSet's init container hard-codes `image: busybox`. Discovery tied the rendered
// busybox to the switched-off key (the same reference), so the lock said that key deploys it,
// and `rewrite values` counted busybox moved while the render still pulled it from Docker Hub.
const BSC = 'ghcr.io/bnb-chain/bsc:1.6.2';
const BUSYBOX = 'docker.io/library/busybox:latest';
const BSC_CHART = {
  'Chart.yaml': 'apiVersion: v2\nname: bsc\nversion: 1.2.7\n',
  'values.yaml': [
    'image:',
    '  repository: ghcr.io/bnb-chain/bsc',
    '  tag: 1.6.2',
    'autoScaleTrigger:',
    '  enabled: false',
    '  containers:',
    '  - name: main',
    '    image: busybox',
    '',
  ].join('\n'),
  'templates/sts.yaml': [
    'apiVersion: apps/v1',
    'kind: StatefulSet',
    'metadata:',
    '  name: bsc',
    'spec:',
    '  template:',
    '    spec:',
    '      initContainers:',
    '        - name: remove-lock',
    '          image: busybox',
    '      containers:',
    '        - name: bsc',
    '          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"',
    '',
  ].join('\n'),
  'templates/trigger.yaml': [
    '{{- if .Values.autoScaleTrigger.enabled }}',
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: trigger',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        {{- toYaml .Values.autoScaleTrigger.containers | nindent 8 }}',
    '{{- end }}',
    '',
  ].join('\n'),
};

describe('a switched-off section naming the image a template hard-codes', () => {
  it('is not recorded as the key that deploys it', async () => {
    const chart = await loadChartDir(await chartDir('bsc-discover', BSC_CHART), undefined, { allFiles: true });
    const found = discoverChartImages(chart, {}).images;
    expect(found.filter((i) => i.certainty === 'certain').map((i) => i.ref).sort()).toEqual([BUSYBOX, BSC]);
    expect(imageValuesOf(found)).toEqual({ [BSC]: [{ path: 'image' }] });
  });

  it('is recorded when the section is switched on', async () => {
    const chart = await loadChartDir(await chartDir('bsc-on', BSC_CHART), undefined, { allFiles: true });
    const found = discoverChartImages(chart, { values: [userValues('autoScaleTrigger:\n  enabled: true\n', 'on.yaml')] }).images;
    expect(imageValuesOf(found)[BUSYBOX]).toEqual([{ path: 'autoScaleTrigger.containers[0].image' }]);
  });

  it('rewrite values names busybox as left upstream', async () => {
    const dir = await chartDir('bsc-values', BSC_CHART);
    const chart = await loadChartDir(dir, undefined, { allFiles: true });
    const found = discoverChartImages(chart, {}).images;
    const ctx = createRewriteContext(await fixtureTarget(), lockFor([BSC, BUSYBOX], imageValuesOf(found), 'bsc'));
    const r = await rewriteValues([path.join(dir, 'values.yaml')], ctx, { inPlace: true });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain(BUSYBOX);
    expect(await readFile(path.join(dir, 'values.yaml'), 'utf8')).toContain(`repository: ${MIRROR}/ghcr.io/bnb-chain/bsc\n`);
  });
});
