import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRenderedImages } from '../../../src/kinds/chart/discover.js';
import { loadChart } from '../../../src/kinds/chart/load.js';
import { renderChart } from '../../../src/kinds/chart/render/index.js';
import { LockSchema } from '../../../src/kinds/schema.js';
import { rewriteChart } from '../../../src/rewrite/chart.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { writeChart, type ChartFixture } from '../chart/helpers.js';
import { fixtureTarget, MIRROR } from './helpers.js';

// Charts whose templates put pieces of an image back together around the key ferry sets: the
// value must be the mirror reference without what the templates write after it.
const sha = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-charts3-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function rewriteAndRender(name: string, fixture: ChartFixture, refs: string[], userValues?: string) {
  const dir = await writeChart(path.join(tmp, name), fixture);
  const values = userValues === undefined ? [] : [await writeFile(path.join(tmp, `${name}-values.yaml`), userValues).then(() => path.join(tmp, `${name}-values.yaml`))];
  const lock = LockSchema.parse({
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name, digest: sha(name) },
    images: refs.map((r) => ({ source: r, ref: r, digest: sha(r), mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] })),
  });
  const r = await rewriteChart(dir, createRewriteContext(await fixtureTarget(), lock), { values, allowUnmapped: true });
  const chart = await loadChart(dir, { allFiles: true });
  const after = renderChart(chart, { values: [...(userValues === undefined ? [] : [{ name: 'user', data: userValues }]), { name: 'override', data: r.overrideValues }] });
  return { r, images: findRenderedImages(after.documents).map((f) => f.ref).sort() };
}

const deployment = (image: string) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: "${image}"\n`;

describe('rewrite chart: a registry key the templates recombine with more path', () => {
  it('a "registry" that is really a Docker Hub namespace (opentelemetry-ebpf: registry otel + name)', async () => {
    const { r, images } = await rewriteAndRender(
      'ebpf',
      {
        chart: { name: 'ebpf', version: '1.0.0', appVersion: 'v0.10.2' },
        values: 'image:\n  registry: otel\n  tag: ""\nreducer:\n  image:\n    registry: ""\n    tag: ""\n    name: opentelemetry-ebpf-reducer\n',
        files: {
          'templates/d.yaml': deployment('{{ default .Values.image.registry .Values.reducer.image.registry }}/{{ .Values.reducer.image.name }}:{{ default .Chart.AppVersion .Values.image.tag }}'),
        },
      },
      ['docker.io/otel/opentelemetry-ebpf-reducer:v0.10.2'],
    );
    expect(r.unmapped).toEqual([]);
    expect(images).toEqual([`${MIRROR}/docker.io/otel/opentelemetry-ebpf-reducer:v0.10.2`]);
  });

  it('registry and repository left empty for the templates to default (traefik: docker.io + traefik is library/traefik)', async () => {
    const { r, images } = await rewriteAndRender(
      'traefikish',
      {
        chart: { name: 'traefikish', version: '1.0.0', appVersion: 'v3.7.11' },
        values: 'image:\n  registry:\n  repository:\n  tag:\n',
        files: {
          'templates/d.yaml': deployment('{{ .Values.image.registry | default "docker.io" }}/{{ .Values.image.repository | default "traefik" }}:{{ .Values.image.tag | default .Chart.AppVersion }}'),
        },
      },
      ['docker.io/library/traefik:v3.7.11'],
    );
    expect(r.unmapped).toEqual([]);
    expect(images).toEqual([`${MIRROR}/docker.io/library/traefik:v3.7.11`]);
  });
});

describe('rewrite chart: a global registry key several templates read first', () => {
  it('is not set to one image\'s place when the others need another; each image gets its own key (kube-prometheus-stack: node-exporter)', async () => {
    const reg = (x: string) => `{{ .Values.global.imageRegistry | default .Values.${x}.image.registry }}`;
    const { r, images } = await rewriteAndRender(
      'globalreg',
      {
        chart: { name: 'globalreg', version: '1.0.0', appVersion: '1.9.0' },
        values: 'global:\n  imageRegistry: ""\na:\n  image:\n    registry: quay.io\n    repository: prometheus/node-exporter\n    tag: ""\nb:\n  image:\n    registry: docker.io\n    repository: grafana/grafana\n    tag: "12.1.1"\n',
        files: {
          'templates/a.yaml': deployment(`${reg('a')}/{{ .Values.a.image.repository }}:{{ .Values.a.image.tag | default (printf "v%s" .Chart.AppVersion) }}-distroless`),
          'templates/b.yaml': deployment(`${reg('b')}/{{ .Values.b.image.repository }}:{{ .Values.b.image.tag }}`).replace('name: d', 'name: b'),
        },
      },
      ['quay.io/prometheus/node-exporter:v1.9.0-distroless', 'docker.io/grafana/grafana:12.1.1'],
    );
    expect(r.unmapped).toEqual([]);
    expect(images).toEqual([`${MIRROR}/docker.io/grafana/grafana:12.1.1`, `${MIRROR}/quay.io/prometheus/node-exporter:v1.9.0-distroless`]);
    expect((r.overrideValues.global as Record<string, unknown> | undefined)?.imageRegistry).toBeUndefined();
  });
});

describe('rewrite chart: user values under a subchart\'s key', () => {
  it('are the subchart\'s image map, not an image of the parent (prometheus-kafka-exporter ci: kafka.image.repository over Bitnami kafka)', async () => {
    const { r, images } = await rewriteAndRender(
      'withsub',
      {
        chart: { name: 'withsub', version: '1.0.0', appVersion: '1.9.0', dependencies: [{ name: 'kafka', version: '32.4.4', condition: 'kafka.enabled' }] },
        values: 'image:\n  repository: danielqsj/kafka-exporter\n  tag: v1.9.0\nkafka:\n  enabled: false\n',
        files: { 'templates/d.yaml': deployment('{{ .Values.image.repository }}:{{ .Values.image.tag }}') },
        subcharts: {
          kafka: {
            chart: { name: 'kafka', version: '32.4.4', appVersion: '4.0.0' },
            values: 'image:\n  registry: docker.io\n  repository: bitnami/kafka\n  tag: 4.0.0-debian-12-r10\n',
            files: { 'templates/s.yaml': deployment('{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}').replace('name: d', 'name: kafka') },
          },
        },
      },
      ['docker.io/danielqsj/kafka-exporter:v1.9.0', 'docker.io/bitnamilegacy/kafka:4.0.0-debian-12-r10'],
      'kafka:\n  enabled: true\n  image:\n    repository: bitnamilegacy/kafka\n',
    );
    expect(r.unmapped).toEqual([]);
    expect(images).toEqual([`${MIRROR}/docker.io/bitnamilegacy/kafka:4.0.0-debian-12-r10`, `${MIRROR}/docker.io/danielqsj/kafka-exporter:v1.9.0`]);
    expect(r.overrideValues.kafka).toEqual({ image: { registry: `${MIRROR}/docker.io` } });
  });
});

describe('rewrite chart: a bare image word inside a values list', () => {
  it('is found by the render probe and set with the whole list (opentelemetry-demo: initContainers image: busybox)', async () => {
    const { r, images } = await rewriteAndRender(
      'listimg',
      {
        chart: { name: 'listimg', version: '1.0.0' },
        values: 'initContainers:\n  - name: init-config\n    image: busybox\n    command: ["sh", "-c", "true"]\n  - name: second\n    image: busybox\n    args: [1, 2]\n',
        files: {
          'templates/d.yaml':
            'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      initContainers:\n{{ toYaml .Values.initContainers | indent 6 }}\n      containers:\n      - name: c\n        image: docker.io/library/nginx:1.27\n',
        },
      },
      ['docker.io/library/busybox:latest', 'docker.io/library/nginx:1.27'],
    );
    expect(r.unmapped.filter((u) => u.ref.includes('busybox'))).toEqual([]);
    expect(images.filter((i) => i.includes('busybox'))).toEqual([`${MIRROR}/docker.io/library/busybox:latest`, `${MIRROR}/docker.io/library/busybox:latest`]);
    expect(r.overrideValues.initContainers).toEqual([
      { name: 'init-config', image: `${MIRROR}/docker.io/library/busybox:latest`, command: ['sh', '-c', 'true'] },
      { name: 'second', image: `${MIRROR}/docker.io/library/busybox:latest`, args: [1, 2] },
    ]);
  });
});

describe('rewrite chart: images only helm test runs', () => {
  it('are named in a warning when the mirror lacks them (grafana-agent-operator: test pod from the same registry key)', async () => {
    const { r } = await rewriteAndRender(
      'testhook',
      {
        chart: { name: 'testhook', version: '1.0.0' },
        values: 'image:\n  registry: docker.io\n  repository: grafana/agent-operator\n  tag: v0.44.2\n',
        files: {
          'templates/d.yaml': deployment('{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}'),
          'templates/tests/t.yaml':
            'apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations:\n    helm.sh/hook: test\nspec:\n  containers:\n  - name: t\n    image: "{{ .Values.image.registry }}/grafana/agent:{{ .Values.image.tag }}"\n',
        },
      },
      ['docker.io/grafana/agent-operator:v0.44.2'],
    );
    expect(r.unmapped).toEqual([]);
    expect(r.warnings.join('\n')).toContain('docker.io/grafana/agent:v0.44.2');
    expect(r.warnings.join('\n')).toContain('helm test');
  });
});

describe('rewrite chart: a hub (registry plus path) that a template merges in from a defaults key', () => {
  it('is found although the template unsets that key while rendering (istio: _internal_defaults_do_not_set.global.hub)', async () => {
    const { r, images } = await rewriteAndRender(
      'istioish',
      {
        chart: { name: 'istioish', version: '1.0.0' },
        values: '_internal_defaults_do_not_set:\n  hub: ""\n  image: ""\n  global:\n    hub: registry.istio.io/release\n    tag: 1.28.0\n',
        files: {
          'templates/zzz_profile.yaml':
            '{{- $defaults := $.Values._internal_defaults_do_not_set }}\n{{- $_ := unset $.Values "_internal_defaults_do_not_set" }}\n{{- $a := mustMergeOverwrite $defaults ($.Values.global | default dict) }}\n{{- $b := set $ "Values" (mustMergeOverwrite $defaults $.Values) }}\n',
          'templates/d.yaml': deployment('{{ .Values.hub | default .Values.global.hub }}/{{ .Values.image | default "install-cni" }}:{{ .Values.global.tag }}'),
        },
      },
      ['registry.istio.io/release/install-cni:1.28.0'],
    );
    expect(r.unmapped).toEqual([]);
    expect(images).toEqual([`${MIRROR}/registry.istio.io/release/install-cni:1.28.0`]);
  });
});
