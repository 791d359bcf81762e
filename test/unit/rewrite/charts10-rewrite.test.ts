import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { rewriteChart } from '../../../src/rewrite/chart.js';
import { chartLock, fixtureTarget, writeTree } from './helpers.js';

// The tenth rewrite pass: grafana/k8s-monitoring's example value sets (docs/examples/*), each
// rewritten, rendered with the mirror values by an independent Go renderer, and every image
// compared with its mirror reference. Small synthetic charts reproduce what it found.
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-charts10-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

// k8s-monitoring renders its collectors as `collectors.grafana.com/v1alpha1` Alloy resources: the
// Alloy Operator installs the Alloy chart with the resource's spec as its values, so a spec without
// `image.repository` runs the Alloy chart's default image (docker.io/grafana/alloy, and its
// config reloader from quay.io), which no rendered field names. rewrite chart proved its override
// (the operator's own image on the mirror) and said nothing about them.
const OPERATOR = 'ghcr.io/grafana/alloy-operator:1.11.1';
const MONITORING_CHART = {
  'Chart.yaml': 'apiVersion: v2\nname: monitoring\nversion: 4.4.0\n',
  'values.yaml': ['image:', '  registry: ghcr.io', '  repository: grafana/alloy-operator', '  tag: 1.11.1', 'globalRegistry: ""', ''].join('\n'),
  'templates/operator.yaml': [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: alloy-operator',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: alloy-operator',
    '          image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"',
    '',
  ].join('\n'),
  'templates/alloy.yaml': [
    'apiVersion: collectors.grafana.com/v1alpha1',
    'kind: Alloy',
    'metadata:',
    '  name: alloy-metrics',
    'spec:',
    '  {{- with .Values.globalRegistry }}',
    '  image:',
    '    registry: {{ . }}',
    '  {{- end }}',
    '  alloy:',
    '    clustering:',
    '      enabled: true',
    '',
  ].join('\n'),
};

describe("an operator's resource that names no image", () => {
  it('rewrite chart names the Alloy chart images the Alloy Operator pulls by default', async () => {
    const dir = await writeTree(tmp, 'alloy-default', MONITORING_CHART);
    const ctx = createRewriteContext(await fixtureTarget(), chartLock([OPERATOR], { [OPERATOR]: [{ path: 'image' }] }, 'monitoring', '4.4.0'));
    const r = await rewriteChart(dir, ctx, { render: {} });
    expect(r.unmapped).toEqual([]);
    const said = r.warnings.filter((w) => w.startsWith('Alloy alloy-metrics'));
    expect(said).toHaveLength(2);
    expect(said[0]).toContain('docker.io/grafana/alloy');
    expect(said[0]).toContain('monitoring/templates/alloy.yaml');
    expect(said[1]).toContain('quay.io/prometheus-operator/prometheus-config-reloader');
  });

  it("a registry set in the resource's image map is the one the operator pulls from", async () => {
    const dir = await writeTree(tmp, 'alloy-registry', { ...MONITORING_CHART, 'values.yaml': MONITORING_CHART['values.yaml'].replace('globalRegistry: ""', 'globalRegistry: my.registry.com') });
    const ctx = createRewriteContext(await fixtureTarget(), chartLock([OPERATOR], { [OPERATOR]: [{ path: 'image' }] }, 'monitoring', '4.4.0'));
    const r = await rewriteChart(dir, ctx, { render: {} });
    expect(r.warnings.join('\n')).toContain('my.registry.com/grafana/alloy');
  });

  it('a repository without a tag is pulled at the tag the operator picks: named too', async () => {
    const dir = await writeTree(tmp, 'alloy-repo', { ...MONITORING_CHART, 'templates/alloy.yaml': MONITORING_CHART['templates/alloy.yaml'].replace('  alloy:\n', '  image:\n    registry: my.registry.com\n    repository: grafana/alloy\n  alloy:\n') });
    const ctx = createRewriteContext(await fixtureTarget(), chartLock([OPERATOR], { [OPERATOR]: [{ path: 'image' }] }, 'monitoring', '4.4.0'));
    const r = await rewriteChart(dir, ctx, { render: {} });
    expect(r.warnings.join('\n')).toContain('spec.image names no tag or digest: the Alloy Operator pulls my.registry.com/grafana/alloy');
  });

  it('a digest in the resource pins the default image the operator pulls', async () => {
    const dg = `sha256:${'1'.repeat(64)}`;
    const dir = await writeTree(tmp, 'alloy-digest', { ...MONITORING_CHART, 'templates/alloy.yaml': MONITORING_CHART['templates/alloy.yaml'].replace('  alloy:\n', `  image:\n    digest: ${dg}\n  alloy:\n`) });
    const ctx = createRewriteContext(await fixtureTarget(), chartLock([OPERATOR], { [OPERATOR]: [{ path: 'image' }] }, 'monitoring', '4.4.0'));
    const r = await rewriteChart(dir, ctx, { render: {} });
    expect(r.warnings.join('\n')).toContain(`docker.io/grafana/alloy (spec.image.digest ${dg})`);
  });

  it('rewrite chart names a Prometheus resource without an image (the table the audit reads)', async () => {
    const dir = await writeTree(tmp, 'prom-default', {
      ...MONITORING_CHART,
      'templates/alloy.yaml': ['apiVersion: monitoring.coreos.com/v1', 'kind: Prometheus', 'metadata:', '  name: k8s', 'spec:', '  version: v3.5.0', ''].join('\n'),
    });
    const ctx = createRewriteContext(await fixtureTarget(), chartLock([OPERATOR], { [OPERATOR]: [{ path: 'image' }] }, 'monitoring', '4.4.0'));
    const r = await rewriteChart(dir, ctx, { render: {} });
    expect(r.warnings.join('\n')).toContain('Prometheus k8s (monitoring/templates/alloy.yaml) has no spec.image: the Prometheus Operator pulls its default image quay.io/prometheus/prometheus');
  });
});

// k8s-monitoring's private-image-registries/globally: `global.imageRegistry: my.registry.com`, read
// by the kube-state-metrics subchart, and the same registry under opencost's own `image.registry`,
// which opencost reads instead. The values finder set `global.imageRegistry` for opencost's image;
// the proof took it back (opencost stayed upstream) and probed only the fields wrong before, so
// kube-state-metrics, which needed that key, was left upstream and the override refused.
const deploy = (name: string, image: string) =>
  ['apiVersion: apps/v1', 'kind: Deployment', 'metadata:', `  name: ${name}`, 'spec:', '  template:', '    spec:', '      containers:', `        - name: ${name}`, `          image: "${image}"`, ''].join('\n');
const GLOBAL_CHART = {
  'Chart.yaml': 'apiVersion: v2\nname: monitoring\nversion: 4.4.0\ndependencies:\n  - name: ksm\n    version: 1.0.0\n  - name: oc\n    version: 1.0.0\n',
  'values.yaml': 'global:\n  imageRegistry: ""\n',
  'charts/ksm/Chart.yaml': 'apiVersion: v2\nname: ksm\nversion: 1.0.0\n',
  'charts/ksm/values.yaml': 'global:\n  imageRegistry: ""\nimage:\n  registry: registry.k8s.io\n  repository: kube-state-metrics/kube-state-metrics\n  tag: v2.19.1\n',
  'charts/ksm/templates/deploy.yaml': deploy('ksm', '{{ .Values.global.imageRegistry | default .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}'),
  'charts/oc/Chart.yaml': 'apiVersion: v2\nname: oc\nversion: 1.0.0\n',
  'charts/oc/values.yaml': 'image:\n  registry: ghcr.io\n  repository: opencost/opencost\n  tag: 1.121.1\n',
  'charts/oc/templates/deploy.yaml': deploy('oc', '{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}'),
};
const GLOBAL_USER = 'global:\n  imageRegistry: my.registry.com\noc:\n  image:\n    registry: my.registry.com\n';

describe('a global registry key taken back for one image and needed by another', () => {
  it('rewrite chart probes every field the take-back leaves wrong and sets the key', async () => {
    const dir = await writeTree(tmp, 'global-registry', { ...GLOBAL_CHART, 'user.yaml': GLOBAL_USER });
    const KSM = 'my.registry.com/kube-state-metrics/kube-state-metrics:v2.19.1';
    const OC = 'my.registry.com/opencost/opencost:1.121.1';
    const ctx = createRewriteContext(await fixtureTarget(), chartLock([KSM, OC], { [KSM]: [{ path: 'global.imageRegistry' }], [OC]: [{ path: 'oc.image' }] }, 'monitoring', '4.4.0'));
    const r = await rewriteChart(dir, ctx, { values: [path.join(dir, 'user.yaml')], render: {} });
    expect(r.unmapped).toEqual([]);
    expect(r.overrideValues).toMatchObject({ global: { imageRegistry: 'mirror.site.example:5000/ferry/my.registry.com' }, oc: { image: { registry: 'mirror.site.example:5000/ferry/my.registry.com' } } });
  });
});
