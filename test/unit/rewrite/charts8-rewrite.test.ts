import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverChartImages } from '../../../src/kinds/chart/discover.js';
import { loadChartDir } from '../../../src/kinds/chart/load.js';
import { imageValuesOf } from '../../../src/kinds/chart/lock.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { rewriteChart } from '../../../src/rewrite/chart.js';
import { rewriteValues } from '../../../src/rewrite/values.js';
import { chartLock, fixtureTarget, writeTree } from './helpers.js';

// The eighth rewrite pass over real charts never seen (the eighth oracle pass's 70 chart
// directories from 18 repositories: NVIDIA, PostHog, SigNoz, Unleash, antrea, karpenter, grafana's
// k8s-monitoring, harvester, kube-ovn, kubeshop, ocis, trino…): each chart rewritten, rendered with
// the mirror values by an independent Go renderer, and every image compared with its mirror
// reference. Small synthetic charts reproduce what it found.
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-charts8-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const chartDir = (name: string, files: Record<string, string>) => writeTree(tmp, name, files);

// kubeshop's testkube-logs: `image: {registry: docker.io, repository: kubeshop/x, tag: latest}`
// rendered `{{ repository }}:{{ tag }}`, the registry key read by no template. The lock recorded
// the map as the image's key, so rewrite values set its registry to the mirror, counted the image
// moved and said nothing, while the render still pulled it from Docker Hub.
const LOGS = 'docker.io/kubeshop/testkube-logs-server:latest';
const LOGS_CHART = {
  'Chart.yaml': 'apiVersion: v2\nname: testkube-logs\nversion: 0.3.0\n',
  'values.yaml': ['image:', '  registry: docker.io', '  repository: kubeshop/testkube-logs-server', '  tag: "latest"', ''].join('\n'),
  'templates/deploy.yaml': [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: logs',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: logs',
    '          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"',
    '',
  ].join('\n'),
};
// The same map whose registry the template does read: still the map's key.
const READ_CHART = {
  ...LOGS_CHART,
  'templates/deploy.yaml': LOGS_CHART['templates/deploy.yaml'].replace('"{{ .Values.image.repository }}', '"{{ .Values.image.registry }}/{{ .Values.image.repository }}'),
};

describe('an image map whose registry key no template reads', () => {
  it('discovery records its repository key, not the map, as what deploys the image', async () => {
    const chart = await loadChartDir(await chartDir('logs-discover', LOGS_CHART), undefined, { allFiles: true });
    const found = discoverChartImages(chart, {}).images;
    expect(found.filter((i) => i.certainty === 'certain').map((i) => i.ref)).toEqual([LOGS]);
    expect(imageValuesOf(found)).toEqual({ [LOGS]: [{ path: 'image.repository' }] });
  });

  it('a map whose registry the templates read keeps the map as its key', async () => {
    const chart = await loadChartDir(await chartDir('logs-read', READ_CHART), undefined, { allFiles: true });
    expect(imageValuesOf(discoverChartImages(chart, {}).images)).toEqual({ [LOGS]: [{ path: 'image', registry: true }] });
  });

  it('rewrite values names the image as left upstream instead of counting it moved', async () => {
    const dir = await chartDir('logs-values', LOGS_CHART);
    const chart = await loadChartDir(dir, undefined, { allFiles: true });
    const where = imageValuesOf(discoverChartImages(chart, {}).images);
    const ctx = createRewriteContext(await fixtureTarget(), chartLock([LOGS], where, 'testkube-logs', '0.3.0'));
    const r = await rewriteValues([path.join(dir, 'values.yaml')], ctx, { inPlace: true });
    expect(r.warnings.join('\n')).toContain(`${LOGS} (from image.repository)`);
  });
});

// kubeshop's testkube-api: TestWorkflowTemplate custom resources whose steps run
// `image: grafana/k6:{{ config.version }}`, a tag testkube's controller fills in when a workflow
// runs. No locked reference is it and the controller pulls it from Docker Hub; rewrite chart
// proved its override and said nothing about them.
const API = 'docker.io/kubeshop/testkube-api-server:2.1.0';
const API_CHART = {
  'Chart.yaml': 'apiVersion: v2\nname: testkube-api\nversion: 2.1.0\n',
  'values.yaml': ['image:', '  repository: kubeshop/testkube-api-server', '  tag: 2.1.0', ''].join('\n'),
  'templates/deploy.yaml': [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: api',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: api',
    '          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"',
    '',
  ].join('\n'),
  'templates/k6.yaml': [
    'apiVersion: testworkflows.testkube.io/v1',
    'kind: TestWorkflowTemplate',
    'metadata:',
    '  name: official--k6--v1',
    'spec:',
    '  config:',
    '    version:',
    '      type: string',
    '      default: 0.49.0',
    '  steps:',
    '    - name: Run k6',
    '      run:',
    '        image: grafana/k6:{{ "{{" }} config.version }}',
    '',
  ].join('\n'),
};

describe("a custom resource's image its controller completes at run time", () => {
  it('rewrite chart names it', async () => {
    const dir = await chartDir('api-chart', API_CHART);
    const ctx = createRewriteContext(await fixtureTarget(), chartLock([API], { [API]: [{ path: 'image' }] }, 'testkube-api', '2.1.0'));
    const r = await rewriteChart(dir, ctx, { render: {} });
    expect(r.unmapped).toEqual([]);
    const said = r.warnings.filter((w) => w.includes('grafana/k6:{{ config.version }}'));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain('TestWorkflowTemplate official--k6--v1 spec.steps[0].run.image');
  });
});
