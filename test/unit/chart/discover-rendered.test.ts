import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverChartImages, userValues } from '../../../src/kinds/chart/discover.js';
import { loadChart } from '../../../src/kinds/chart/load.js';
import { writeChart } from './helpers.js';

// Discovery from rendered objects: every place a rendered object can name an image.
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-discover-rendered-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const WORKLOADS = `apiVersion: batch/v1
kind: CronJob
metadata:
  name: backup
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers:
          - name: init
            image: {{ .Values.init.repository }}:{{ .Values.init.tag }}
          containers:
          - name: backup
            image: "registry.example.com/tools/backup:2.1"
            args:
            - --helper-image=ghcr.io/acme/helper:1.4.2
            - --class=k8s.io/ingress-nginx
            env:
            - name: SIDECAR_IMAGE
              value: quay.io/acme/sidecar:0.3
            - name: MIRROR
              value: ghcr.io/acme/unnamed:9.9
---
apiVersion: v1
kind: Pod
metadata:
  name: debug
spec:
  containers:
  - name: main
    image: busybox
  ephemeralContainers:
  - name: dbg
    image: docker.io/library/alpine:3.20
---
apiVersion: example.com/v1
kind: Workflow
metadata:
  name: wf
spec:
  podTemplate:
    spec:
      containers:
      - name: step
        image: ghcr.io/acme/step:1
  runnerImage: ghcr.io/acme/runner:7
  database:
    image:
      registry: docker.io
      repository: bitnami/postgresql
      tag: "16.1"
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata:
  name: prom
spec:
  baseImage: quay.io/prometheus/prometheus
  version: v2.51.0
  thanos:
    image: quay.io/thanos/thanos:v0.34.1
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: operator-config
data:
  docker_image: ghcr.io/zalando/spilo-16:3.2-p2
  log_level: info
  config.yaml: |
    a: b
{{- if .Values.metrics.enabled }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: metrics
spec:
  template:
    spec:
      containers:
      - name: exporter
        image: {{ .Values.metrics.image.repository }}:{{ .Values.metrics.image.tag }}-{{ .Values.metrics.flavour }}
{{- end }}
`;

const TEST_HOOK = `apiVersion: v1
kind: Pod
metadata:
  name: test-conn
  annotations:
    helm.sh/hook: test
spec:
  containers:
  - name: t
    image: docker.io/curlimages/curl:8.5.0
`;

describe('discovery from rendered objects', () => {
  it('finds every container of every workload kind, custom-resource image fields and images handed to operators', async () => {
    const dir = await writeChart(path.join(tmp, 'c1'), {
      chart: { name: 'c1', version: '1.0.0' },
      values: 'init:\n  repository: docker.io/library/busybox\n  tag: "1.36"\nmetrics:\n  enabled: false\n  flavour: alpine\n  image:\n    repository: quay.io/acme/exporter\n    tag: v1.0\n',
      files: { 'templates/all.yaml': WORKLOADS, 'templates/tests/conn.yaml': TEST_HOOK },
    });
    const r = discoverChartImages(await loadChart(dir, { allFiles: true }), { apiVersions: ['monitoring.coreos.com/v1'] });
    const by = (ref: string) => r.images.find((i) => i.ref === ref);
    const view = r.images.map((i) => `${i.certainty} ${i.role} ${i.ref}`).sort();
    expect(view).toEqual(
      [
        'certain workload docker.io/library/busybox:1.36',
        'certain workload registry.example.com/tools/backup:2.1',
        'certain operator ghcr.io/acme/helper:1.4.2',
        'certain operator quay.io/acme/sidecar:0.3',
        'possible operator ghcr.io/acme/unnamed:9.9',
        // an untagged image is what the kubelet pulls: :latest
        'certain workload docker.io/library/busybox:latest',
        'certain workload docker.io/library/alpine:3.20',
        'certain workload ghcr.io/acme/step:1',
        'certain custom-resource ghcr.io/acme/runner:7',
        'certain custom-resource docker.io/bitnami/postgresql:16.1',
        'certain custom-resource quay.io/prometheus/prometheus:v2.51.0',
        'certain custom-resource quay.io/thanos/thanos:v0.34.1',
        'certain operator ghcr.io/zalando/spilo-16:3.2-p2',
        'test test-hook docker.io/curlimages/curl:8.5.0',
        // the switch's render gives the tag the templates compose (with the flavour suffix)
        'possible workload quay.io/acme/exporter:v1.0-alpine',
      ].sort(),
    );
    const backup = by('registry.example.com/tools/backup:2.1')!.sources[0];
    expect(backup).toMatchObject({ kind: 'rendered', file: 'templates/all.yaml', line: 15, resource: 'batch/v1 CronJob backup', fieldPath: 'spec.jobTemplate.spec.template.spec.containers[0].image' });
    expect(by('ghcr.io/acme/helper:1.4.2')!.sources[0].fieldPath).toBe('spec.jobTemplate.spec.template.spec.containers[0].args[0]');
    expect(by('docker.io/library/alpine:3.20')!.sources[0].fieldPath).toBe('spec.ephemeralContainers[0].image');
    // the values key that set a rendered image, next to the rendered place
    const init = by('docker.io/library/busybox:1.36')!;
    expect(init.sources.map((s) => s.kind)).toEqual(['rendered', 'values']);
    expect(init.sources[1].valuesPath).toBe('init');
    const exporter = by('quay.io/acme/exporter:v1.0-alpine')!;
    expect(exporter.sources[0].reason).toBe('not deployed with these values; deployed with metrics.enabled=true');
    // a class name in args is not an image
    expect(r.images.some((i) => i.ref.includes('k8s.io/ingress-nginx'))).toBe(false);
    const hook = by('docker.io/curlimages/curl:8.5.0')!.sources[0];
    expect(hook).toMatchObject({ role: 'test-hook', hook: ['test'], certainty: 'test' });
  });

  it('lists an untagged image and its :latest once, as the image the kubelet pulls', async () => {
    const pod = (name: string, image: string) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n  - name: c\n    image: ${image}\n`;
    const dir = await writeChart(path.join(tmp, 'latest'), {
      chart: { name: 'latest', version: '1.0.0' },
      files: { 'templates/a.yaml': pod('a', 'busybox'), 'templates/b.yaml': pod('b', 'busybox:latest'), 'templates/c.yaml': pod('c', 'docker.io/library/busybox') },
    });
    const r = discoverChartImages(await loadChart(dir, { allFiles: true }));
    expect(r.images.map((i) => i.ref)).toEqual(['docker.io/library/busybox:latest']);
    expect(r.images[0].sources.map((s) => s.resource).sort()).toEqual(['v1 Pod a', 'v1 Pod b', 'v1 Pod c']);
  });

  it('user values decide: a feature switched on is certain, one switched off is possible with its switch', async () => {
    const dir = await writeChart(path.join(tmp, 'c2'), {
      chart: { name: 'c2', version: '1.0.0', appVersion: '3.0.0' },
      values: 'metrics:\n  enabled: false\n  image:\n    repository: quay.io/acme/exporter\n',
      files: {
        'templates/d.yaml': `{{- if .Values.metrics.enabled }}
apiVersion: v1
kind: Pod
metadata:
  name: m
spec:
  containers:
  - name: m
    image: {{ .Values.metrics.image.repository }}:{{ .Values.metrics.image.tag | default (printf "v%s" .Chart.AppVersion) }}
{{- end }}
`,
      },
    });
    const chart = await loadChart(dir, { allFiles: true });
    const off = discoverChartImages(chart);
    expect(off.images.map((i) => `${i.certainty} ${i.ref}`)).toEqual(['possible quay.io/acme/exporter:v3.0.0']);
    const on = discoverChartImages(chart, { values: [userValues('metrics:\n  enabled: true\n  image:\n    tag: "3.1"\n', 'site.yaml')] });
    expect(on.images.map((i) => `${i.certainty} ${i.ref}`)).toEqual(['certain quay.io/acme/exporter:3.1']);
    const viaSet = discoverChartImages(chart, { set: ['metrics.enabled=true'] });
    expect(viaSet.images.map((i) => `${i.certainty} ${i.ref}`)).toEqual(['certain quay.io/acme/exporter:v3.0.0']);
  });
});
