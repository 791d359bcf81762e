import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { discoverChartImages, findRenderedImages } from '../../../src/kinds/chart/discover.js';
import { loadChartDir } from '../../../src/kinds/chart/load.js';
import { renderChart } from '../../../src/kinds/chart/render/index.js';
import { LockSchema } from '../../../src/kinds/schema.js';
import { rewriteChart } from '../../../src/rewrite/chart.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { rewriteValues } from '../../../src/rewrite/values.js';
import { fixtureTarget, MIRROR, write } from './helpers.js';

// The fifth rewrite pass over real charts never seen (30 repositories of the fourth oracle pass):
// each chart rewritten, rendered with the mirror values by an independent Go renderer, and every
// image compared with its mirror reference. Small synthetic charts reproduce what it found.
const sha = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-charts5-'));
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

async function lockFor(images: string[], chart?: { name: string; version: string }) {
  return LockSchema.parse({
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'x', digest: sha('x') },
    images: images.map((r) => ({ source: r, ref: r, digest: sha(r), mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] })),
    ...(chart ? { charts: [{ ...chart, repo: 'https://charts.example', requested: chart.version, source: 'http', digest: sha('c'), size: 1, images }] } : {}),
  });
}

// NVIDIA gpu-operator: `{repository: nvcr.io/nvidia, image: driver, version: 580}` rendered as
// `{{ repository }}/{{ image }}:{{ version }}`, in a Deployment and in the ClusterPolicy it hands
// the operator. The old code read `image: driver` alone as docker.io/library/driver:latest, locked
// it, and wrote the whole mirror reference into `image:`, which the templates put after the
// repository: an override that breaks every image it touches.
const NVIDIA = {
  'Chart.yaml': 'apiVersion: v2\nname: gpu-op\nversion: 1.0.0\nappVersion: v25.3.0\n',
  'values.yaml': [
    'operator:',
    '  repository: nvcr.io/nvidia',
    '  image: gpu-operator',
    '  # version: defaults to the appVersion',
    'driver:',
    '  enabled: true',
    '  repository: nvcr.io/nvidia',
    '  image: driver',
    '  version: "580.95.05"',
    'vgpuManager:',
    '  enabled: false',
    '  repository: ""',
    '  image: vgpu-manager',
    '  version: ""',
    '',
  ].join('\n'),
  'templates/operator.yaml': [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: gpu-operator',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: op',
    '          image: {{ .Values.operator.repository }}/{{ .Values.operator.image }}:{{ .Values.operator.version | default .Chart.AppVersion }}',
    '',
  ].join('\n'),
  'templates/clusterpolicy.yaml': [
    'apiVersion: nvidia.com/v1',
    'kind: ClusterPolicy',
    'metadata:',
    '  name: cluster-policy',
    'spec:',
    '  driver:',
    '    enabled: {{ .Values.driver.enabled }}',
    '    repository: {{ .Values.driver.repository }}',
    '    image: {{ .Values.driver.image }}',
    '    version: {{ .Values.driver.version | quote }}',
    '  vgpuManager:',
    '    enabled: {{ .Values.vgpuManager.enabled }}',
    '    {{- if .Values.vgpuManager.repository }}',
    '    repository: {{ .Values.vgpuManager.repository }}',
    '    {{- end }}',
    '    image: {{ .Values.vgpuManager.image }}',
    '',
  ].join('\n'),
};
const OPERATOR = 'nvcr.io/nvidia/gpu-operator:v25.3.0';
const DRIVER = 'nvcr.io/nvidia/driver:580.95.05';

describe('NVIDIA image maps {repository, image, version} (gpu-operator)', () => {
  it('discovery composes repository/image:version, and no bare image from `image:` alone or a switched-off component', async () => {
    const chart = await loadChartDir(await chartDir('nv-discover', NVIDIA), undefined, { allFiles: true });
    const found = discoverChartImages(chart, {}).images;
    const certain = found.filter((i) => i.certainty === 'certain').map((i) => i.ref).sort();
    // The operator pulls the ClusterPolicy's driver as `580.95.05-<node OS>` (resolveDriverTag), never
    // the bare tag: possible, not certain (round 15 found this expectation wrong).
    expect(certain).toEqual([OPERATOR]);
    expect(found.find((i) => i.ref === DRIVER)?.certainty).toBe('possible');
    expect(found.map((i) => i.ref).join(' ')).not.toMatch(/docker\.io\/library\/(driver|gpu-operator)/);
  });

  it('rewrite chart sets each repository key to the mirror path before the name, and the render runs the mirror images', async () => {
    const dir = await chartDir('nv-chart', NVIDIA);
    // The manifest lists the driver with its node-OS tag, as the operator pulls it.
    const ctx = createRewriteContext(await fixtureTarget(), await lockFor([OPERATOR, `${DRIVER}-ubuntu24.04`]));
    const r = await rewriteChart(dir, ctx, { render: {} });
    expect(r.unmapped).toEqual([]);
    const o = r.overrideValues as Record<string, Record<string, unknown>>;
    expect(o.operator).toEqual({ repository: `${MIRROR}/nvcr.io/nvidia` });
    expect(o.driver).toEqual({ repository: `${MIRROR}/nvcr.io/nvidia` });
    expect(o.vgpuManager).toBeUndefined();
    const chart = await loadChartDir(dir, undefined, { allFiles: true });
    const after = renderChart(chart, { values: [{ name: 'override', data: r.override! }] });
    const refs = findRenderedImages(after.documents).filter((f) => !f.ref.includes('vgpu-manager')).map((f) => f.ref).sort();
    expect(refs).toEqual([`${MIRROR}/nvcr.io/nvidia/driver:580.95.05`, `${MIRROR}/nvcr.io/nvidia/gpu-operator:v25.3.0`]);
  });

  it('rewrite chart names a driver whose `<version>-<node OS>` tag the lock does not carry (the repository alone on the mirror is not enough)', async () => {
    const dir = await chartDir('nv-chart-notag', NVIDIA);
    const ctx = createRewriteContext(await fixtureTarget(), await lockFor([OPERATOR, 'nvcr.io/nvidia/driver:570.1-ubuntu22.04']));
    await expect(rewriteChart(dir, ctx, { render: {} })).rejects.toThrow(/not covered by the mirror/);
    const r = await rewriteChart(dir, ctx, { render: {}, allowUnmapped: true });
    expect(r.unmapped).toEqual([expect.objectContaining({ ref: DRIVER, reason: expect.stringContaining(`lock carries no such tag: list \`- ref: ${DRIVER}-ubuntu24.04\``) })]);
    // The repository still moves: the tag is what is missing.
    expect((r.overrideValues as Record<string, Record<string, unknown>>).driver).toEqual({ repository: `${MIRROR}/nvcr.io/nvidia` });
  });

  it('rewrite values moves the repository key, keeps `image:` and leaves an empty repository alone', async () => {
    const ctx = createRewriteContext(await fixtureTarget(), await lockFor([OPERATOR, DRIVER], { name: 'gpu-op', version: '1.0.0' }));
    const f = await write(tmp, 'nv-values.yaml', NVIDIA['values.yaml'].replace('  # version: defaults to the appVersion', '  version: v25.3.0'));
    const r = await rewriteValues([f], ctx, { inPlace: true });
    const after = parse(await readFile(f, 'utf8')) as Record<string, Record<string, unknown>>;
    expect(after.operator).toMatchObject({ repository: `${MIRROR}/nvcr.io/nvidia`, image: 'gpu-operator' });
    expect(after.driver).toMatchObject({ repository: `${MIRROR}/nvcr.io/nvidia`, image: 'driver', version: '580.95.05' });
    expect(after.vgpuManager).toMatchObject({ repository: '', image: 'vgpu-manager' });
    expect(r.unmapped).toEqual([]);
    expect(r.warnings).toEqual([]);
  });
});

// OT-CONTAINER-KIT's charts list their containers under global (`global.containers: [{name,
// image: mysql, tag: "8.0"}]`, rendered `"{{ image }}:{{ tag }}"`). Values discovery did not look
// into lists under global, so `rewrite chart` found no key to set and failed a chart it can move.
describe('a container list under global (OT-CONTAINER-KIT mysql)', () => {
  it('rewrite chart sets the list item image to the mirror path and the render proves it', async () => {
    const dir = await chartDir('ot-mysql', {
      'Chart.yaml': 'apiVersion: v2\nname: mysql\nversion: 0.1.0\n',
      'values.yaml': 'global:\n  name:\n    appName: mysql\n  containers:\n   -  name: mysql\n      image: mysql\n      tag: "8.0"\n      pullPolicy: Always\n',
      'templates/deployment.yaml': [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata:',
        '  name: {{ .Values.global.name.appName }}',
        'spec:',
        '  template:',
        '    metadata:',
        '      labels:',
        '        app: {{ .Values.global.name.appName }}',
        '    spec:',
        '      containers:',
        '      {{- range $c := .Values.global.containers }}',
        '      - name: {{ $c.name }}',
        '        image: "{{ $c.image }}:{{ $c.tag }}"',
        '        imagePullPolicy: {{ $c.pullPolicy }}',
        '      {{- end }}',
        '',
      ].join('\n'),
    });
    const ctx = createRewriteContext(await fixtureTarget(), await lockFor(['docker.io/library/mysql:8.0']));
    const r = await rewriteChart(dir, ctx, { render: {} });
    expect(r.unmapped).toEqual([]);
    expect((r.overrideValues as { global: { containers: Array<Record<string, unknown>> } }).global.containers).toEqual([{ name: 'mysql', image: `${MIRROR}/docker.io/library/mysql`, tag: '8.0', pullPolicy: 'Always' }]);
    const chart = await loadChartDir(dir, undefined, { allFiles: true });
    const after = renderChart(chart, { values: [{ name: 'override', data: r.override! }] });
    expect(findRenderedImages(after.documents).map((f) => f.ref)).toEqual([`${MIRROR}/docker.io/library/mysql:8.0`]);
  });
});

// kiali's charts in their source tree carry release placeholders (`image: ${HELM_IMAGE_REPO}:${HELM_IMAGE_TAG}`)
// and OT-CONTAINER-KIT's microservice renders `image: ":"` until the user sets one. Neither is an
// image reference: the proof skipped them, and rewrite chart said nothing about a pod it had not moved.
describe('container images the render leaves as no image reference', () => {
  it('rewrite chart names each one (resource, field, template, the text) instead of passing it over', async () => {
    const dir = await chartDir('placeholder', {
      'Chart.yaml': 'apiVersion: v2\nname: kiali-like\nversion: 1.0.0\n',
      'values.yaml': 'image:\n  repo: ${HELM_IMAGE_REPO}\n  tag: ${HELM_IMAGE_TAG}\nsidecar:\n  image: quay.io/org/sidecar:1.0\n',
      'templates/deployment.yaml': [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata:',
        '  name: kiali',
        'spec:',
        '  template:',
        '    spec:',
        '      containers:',
        '        - name: kiali',
        '          image: "{{ .Values.image.repo }}:{{ .Values.image.tag }}"',
        '        - name: sidecar',
        '          image: {{ .Values.sidecar.image }}',
        '',
      ].join('\n'),
    });
    const ctx = createRewriteContext(await fixtureTarget(), await lockFor(['quay.io/org/sidecar:1.0']));
    const r = await rewriteChart(dir, ctx, { render: {} });
    expect(r.unmapped).toEqual([]);
    expect(r.overrideValues).toEqual({ sidecar: { image: `${MIRROR}/quay.io/org/sidecar:1.0` } });
    const named = r.warnings.filter((w) => w.includes('no image reference'));
    expect(named).toHaveLength(1);
    expect(named[0]).toContain('Deployment kiali spec.template.spec.containers[0].image');
    expect(named[0]).toContain('"${HELM_IMAGE_REPO}:${HELM_IMAGE_TAG}"');
    expect(named[0]).toContain('templates/deployment.yaml');
  });
});
