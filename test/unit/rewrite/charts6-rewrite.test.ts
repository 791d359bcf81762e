import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverChartImages, findRenderedImages } from '../../../src/kinds/chart/discover.js';
import { loadChartDir } from '../../../src/kinds/chart/load.js';
import { imageValuesOf } from '../../../src/kinds/chart/lock.js';
import { renderChart } from '../../../src/kinds/chart/render/index.js';
import { rewriteChart } from '../../../src/rewrite/chart.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { rewriteValues } from '../../../src/rewrite/values.js';
import { chartLock, fixtureTarget, MIRROR, writeTree } from './helpers.js';

// The sixth rewrite pass over real charts never seen (15 repositories of the fifth oracle pass):
// each chart rewritten, rendered with the mirror values by an independent Go renderer, and every
// image compared with its mirror reference. Small synthetic charts reproduce what it found.
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-charts6-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const chartDir = (name: string, files: Record<string, string>) => writeTree(tmp, name, files);

const lockFor = (images: string[], imageValues: Record<string, Array<{ path: string }>>, name = 'hostpath') => chartLock(images, imageValues, name);

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

// confluentinc/cp-helm-charts: `prometheus.jmx.image: solsson/kafka-prometheus-jmx-exporter@sha256`
// with the digest's hex in `imageTag`, rendered `{{ image }}:{{ imageTag }}`. Discovery read the
// image key alone (not a reference) and tied no key to the image, so `rewrite chart` left the JMX
// exporter upstream in every cp-* chart, and `rewrite values` did not see it.
const HEX = '6f82e2b0464f50da8104acd7363fb9b995001ddff77d248379f8788e78946143';
const JMX = `docker.io/solsson/kafka-prometheus-jmx-exporter@sha256:${HEX}`;
const CP = {
  'Chart.yaml': 'apiVersion: v1\nname: cp-kafka\nversion: 0.1.1\n',
  'values.yaml': ['prometheus:', '  jmx:', '    enabled: true', '    image: solsson/kafka-prometheus-jmx-exporter@sha256', `    imageTag: ${HEX}`, '    imagePullPolicy: IfNotPresent', ''].join('\n'),
  'templates/sts.yaml': [
    'apiVersion: apps/v1',
    'kind: StatefulSet',
    'metadata:',
    '  name: kafka',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: jmx',
    '          image: "{{ .Values.prometheus.jmx.image }}:{{ .Values.prometheus.jmx.imageTag }}"',
    '',
  ].join('\n'),
};

describe('an image key holding `repo@sha256` with the hex in a sibling imageTag', () => {
  it('discovery ties the key to the rendered image', async () => {
    const chart = await loadChartDir(await chartDir('cp-discover', CP), undefined, { allFiles: true });
    const found = discoverChartImages(chart, {}).images;
    expect(imageValuesOf(found)).toEqual({ [JMX]: [{ path: 'prometheus.jmx.image' }] });
  });

  it('rewrite chart moves it, and the render with the override proves it', async () => {
    const dir = await chartDir('cp-chart', CP);
    const ctx = createRewriteContext(await fixtureTarget(), lockFor([JMX], { [JMX]: [{ path: 'prometheus.jmx.image' }] }, 'cp-kafka'));
    const r = await rewriteChart(dir, ctx, { render: {} });
    expect(r.unmapped).toEqual([]);
    expect(r.overrideValues).toEqual({ prometheus: { jmx: { image: `${MIRROR}/docker.io/solsson/kafka-prometheus-jmx-exporter@sha256` } } });
    const chart = await loadChartDir(dir, undefined, { allFiles: true });
    const after = renderChart(chart, { values: [{ name: 'override', data: r.override! }] });
    expect(findRenderedImages(after.documents).map((f) => f.ref)).toEqual([`${MIRROR}/docker.io/solsson/kafka-prometheus-jmx-exporter@sha256:${HEX}`]);
  });

  it('rewrite values moves it in place', async () => {
    const dir = await chartDir('cp-values', CP);
    const ctx = createRewriteContext(await fixtureTarget(), lockFor([JMX], { [JMX]: [{ path: 'prometheus.jmx.image' }] }, 'cp-kafka'));
    const r = await rewriteValues([path.join(dir, 'values.yaml')], ctx, { inPlace: true });
    expect(r.unmapped).toEqual([]);
    expect(r.warnings).toEqual([]);
    const text = await readFile(path.join(dir, 'values.yaml'), 'utf8');
    expect(text).toContain(`image: ${MIRROR}/docker.io/solsson/kafka-prometheus-jmx-exporter@sha256\n`);
    expect(text).toContain(`imageTag: ${HEX}`);
  });
});

// wiremind's clamav with its ci file `fullnameOverride: clamav`: the tag the templates compose
// (`{{ tag | default (printf "%s_base" appVersion) }}`) makes rewrite chart find the key by a probe
// render; `clamav` starts `clamav/clamav/…`, so the probe also set fullnameOverride to a sentinel,
// which renamed the StatefulSet it then looked up by name: nothing found, the image left upstream.
const CLAMAV = {
  'Chart.yaml': 'apiVersion: v2\nname: clamav\nversion: 3.7.2\nappVersion: 1.4.3\n',
  'values.yaml': 'fullnameOverride: ""\nimage:\n  repository: clamav/clamav\n  tag: ""\n',
  'templates/sts.yaml': [
    'apiVersion: apps/v1',
    'kind: StatefulSet',
    'metadata:',
    '  name: {{ .Values.fullnameOverride | default .Chart.Name }}',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: clamav',
    '          image: {{ .Values.image.repository }}:{{ .Values.image.tag | default (printf "%s_base" .Chart.AppVersion) }}',
    '',
  ].join('\n'),
  'ci/default-values.yaml': 'fullnameOverride: clamav\n',
};
const CLAM = 'docker.io/clamav/clamav:1.4.3_base';

describe('a user file setting fullnameOverride to the image name', () => {
  it('rewrite chart still finds the key the templates read, and the render proves it', async () => {
    const dir = await chartDir('clamav', CLAMAV);
    const ctx = createRewriteContext(await fixtureTarget(), lockFor([CLAM], { [CLAM]: [{ path: 'image' }] }, 'clamav'));
    const user = path.join(dir, 'ci/default-values.yaml');
    const r = await rewriteChart(dir, ctx, { render: {}, values: [user] });
    expect(r.unmapped).toEqual([]);
    expect(r.overrideValues).toEqual({ image: { repository: `${MIRROR}/docker.io/clamav/clamav` } });
    const chart = await loadChartDir(dir, undefined, { allFiles: true });
    const after = renderChart(chart, { values: [{ name: 'user', data: { fullnameOverride: 'clamav' } }, { name: 'override', data: r.override! }] });
    expect(findRenderedImages(after.documents).map((f) => f.ref)).toEqual([`${MIRROR}/${CLAM}`]);
  });
});
