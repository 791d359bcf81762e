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
