import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadChart } from '../../../../src/kinds/chart/load.js';
import { parseGoYaml, parseGoYamlAll } from '../../../../src/kinds/chart/render/goyaml.js';
import { renderChart } from '../../../../src/kinds/chart/render/index.js';
import { writeChart } from '../helpers.js';
import { run } from './run-template.js';

// Fifth pass of real charts against the independent Go renderer (helm/charts stable and incubator,
// k8s-at-home, wiremind, confluentinc cp-helm-charts, haproxytech, nats-io, seaweedfs, itzg,
// envoyproxy gateway, tetragon, zalando postgres-operator, ceph-csi, Altinity, csi-driver-smb,
// aws-efs-csi-driver). Each expectation is what go-yaml v2 (Helm 3.14's YAML reader) gives.

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle5-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('a flow collection continued on lines no deeper than its key is read, as go-yaml reads it', () => {
  // stable/minio (and spinnaker, which vendors it): `command: [ "/bin/sh",` then `"-ce", ...]` on
  // lines at the indentation of `command:`. go-yaml does not check indentation inside a flow
  // collection; the yaml package refused the document, so ferry refused the chart Helm renders.
  const doc = [
    'spec:',
    '  containers:',
    '    - name: minio',
    '      image: "minio/minio:x"',
    '      command: [ "/bin/sh",',
    '      "-ce",',
    '      "run it" ]',
    '      args: {a: 1,',
    '      b: [2,',
    '    3]}',
    '      ports: [1]',
  ].join('\n');

  it('parses the document with the values go-yaml gives', () => {
    expect(parseGoYaml(doc)).toEqual({
      spec: { containers: [{ name: 'minio', image: 'minio/minio:x', command: ['/bin/sh', '-ce', 'run it'], args: { a: 1, b: [2, 3] }, ports: [1] }] },
    });
    expect(parseGoYamlAll(`${doc}\n---\nk: [a,\nb]\n`)).toEqual([
      { spec: { containers: [{ name: 'minio', image: 'minio/minio:x', command: ['/bin/sh', '-ce', 'run it'], args: { a: 1, b: [2, 3] }, ports: [1] }] } },
      { k: ['a', 'b'] },
    ]);
  });

  it('a bracket inside a plain scalar does not open a flow collection', () => {
    expect(parseGoYaml('a: x[0\nb: [1,\n  2]\nc: "q\nr"\n')).toEqual({ a: 'x[0', b: [1, 2], c: 'q r' });
  });

  it('a chart whose template writes one renders, with its image', async () => {
    const dir = await writeChart(path.join(tmp, 'minio'), {
      chart: { name: 'minio', version: '1.0.0' },
      values: 'image: minio/minio:RELEASE.2020-06-14T18-32-17Z\n',
      files: {
        'templates/deploy.yaml': [
          'apiVersion: apps/v1',
          'kind: Deployment',
          'metadata: {name: m}',
          'spec:',
          '  template:',
          '    spec:',
          '      containers:',
          '        - name: minio',
          '          image: "{{ .Values.image }}"',
          '          command: [ "/bin/sh",',
          '          "-ce",',
          '          "minio server /export" ]',
          '',
        ].join('\n'),
      },
    });
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    const d = r.documents.find((x) => x.kind === 'Deployment')!;
    expect((d.object as any).spec.template.spec.containers[0]).toEqual({
      name: 'minio', image: 'minio/minio:RELEASE.2020-06-14T18-32-17Z', command: ['/bin/sh', '-ce', 'minio server /export'],
    });
  });
});

describe('mergeOverwrite replaces a set value with false, "", 0 or nil, as mergo does', () => {
  // k8s-at-home's charts (reverse-proxy, zalando-postgres-cluster) turn the common library's
  // controller off with `mergeOverwrite .Values (… | fromYaml)` holding `controller: {enabled: false}`.
  // mergo stores every source value but a map when overwriting; ferry skipped empty ones, so it
  // rendered a Deployment (image `%!s(<nil>):1.2.0`) Helm does not.
  it('every source value but a map replaces a set one; nil only when overwriting', () => {
    const t = [
      '{{- $a := mergeOverwrite (dict "a" 1 "b" "x" "c" true "m" (dict "z" 1) "s" "str" "e" (dict)) (dict "a" 0 "b" "" "c" false "m" "scalar" "s" (dict "q" 1) "n" nil "e" (dict "w" 2)) -}}',
      '{{- $b := merge (dict "k" 1) (dict "n" nil "k" nil) -}}',
      '{{- $c := mergeOverwrite (dict "l" (list 1 2) "k" 1 "o" "x") (dict "l" (list) "k" nil "o" (list 3)) -}}',
      '{{- $d := merge (dict "a" "" "b" 0) (dict "a" "v" "b" 5 "c" (dict "x" 1)) -}}',
      '{{ toJson $a }} {{ toJson $b }} {{ hasKey $b "n" }} {{ toJson $c }} {{ hasKey $c "k" }} {{ toJson $d }}',
    ].join('');
    expect(run(t)).toBe(
      '{"a":0,"b":"","c":false,"e":{"w":2},"m":"scalar","n":null,"s":"str"} {"k":1} false {"k":null,"l":[],"o":[3]} true {"a":"v","b":5,"c":{"x":1}}',
    );
  });

  it('a chart switching its controller off with mergeOverwrite renders no Deployment', async () => {
    const dir = await writeChart(path.join(tmp, 'rp'), {
      chart: { name: 'rp', version: '1.0.0' },
      values: 'controller:\n  enabled: true\nimage: {tag: "1.2.0"}\n',
      files: {
        'templates/all.yaml': [
          '{{- define "hard" }}',
          '# Disable Deployment',
          'controller:',
          '  enabled: false',
          '{{- end }}',
          '{{- $_ := mergeOverwrite .Values (include "hard" . | fromYaml) -}}',
          '{{- if .Values.controller.enabled }}',
          'apiVersion: apps/v1',
          'kind: Deployment',
          'metadata: {name: d}',
          'spec: {template: {spec: {containers: [{name: c, image: "{{ printf "%s:%s" .Values.image.repository .Values.image.tag }}"}]}}}',
          '{{- end }}',
          '',
        ].join('\n'),
      },
    });
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    expect(r.documents.filter((d) => d.kind === 'Deployment')).toEqual([]);
  });
});

describe('the top chart\'s .helmignore applies to its subchart directories, whose own is not read', () => {
  // stable/hlf-ca's .helmignore says `tests`; Helm's LoadDir walks charts/ with those rules, so its
  // vendored mysql's templates/tests/ (a bats/bats:1.2.1 test Pod) is not rendered. ferry read each
  // subchart directory with its own .helmignore and listed that image.
  it('ignores by the top rules, with the path from the top chart', async () => {
    const pod = (name: string, image: string) =>
      `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}}\nspec: {containers: [{name: c, image: ${image}}]}\n`;
    const dir = await writeChart(path.join(tmp, 'hlf'), {
      chart: { name: 'hlf', version: '1.0.0' },
      values: '',
      files: {
        '.helmignore': 'tests\ncharts/db/templates/b.yaml\ncharts/gone/\n',
        'templates/a.yaml': pod('a', 'top:1'),
        'charts/db/Chart.yaml': 'apiVersion: v2\nname: db\nversion: 1.0.0\n',
        'charts/db/.helmignore': 'templates/c.yaml\n',
        'charts/db/templates/tests/test.yaml': pod('t', 'bats/bats:1.2.1'),
        'charts/db/templates/b.yaml': pod('b', 'b:1'),
        'charts/db/templates/c.yaml': pod('c', 'c:1'),
        'charts/gone/Chart.yaml': 'apiVersion: v2\nname: gone\nversion: 1.0.0\n',
        'charts/gone/templates/g.yaml': pod('g', 'g:1'),
      },
    });
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    const images = r.documents.map((d) => (d.object as any)?.spec?.containers?.[0]?.image).sort();
    expect(images).toEqual(['c:1', 'top:1']);
  });
});

describe('a Chart.yaml without apiVersion is a v1 chart, its requirements.yaml read', () => {
  // helm/charts' older stable and incubator charts (jaeger, keycloak, weave-scope, anchore-engine…)
  // have no apiVersion. Helm 3 loads them as v1, so requirements.yaml's conditions apply; ferry
  // ignored requirements.yaml, treated every vendored subchart as unlisted and so always enabled.
  it('disables the subchart its condition turns off and says APIVersion v1', async () => {
    const pod = (image: string) => `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: ${image}}]}\n`;
    const dir = await writeChart(path.join(tmp, 'old'), {
      chart: { name: 'old', version: '1.0.0' },
      values: 'es:\n  enabled: false\n',
      files: {
        'Chart.yaml': 'name: old\nversion: 1.0.0\n',
        'requirements.yaml': 'dependencies:\n- name: es\n  version: 1.x.x\n  repository: https://example.invalid\n  condition: es.enabled\n',
        'templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {api: {{ .Chart.APIVersion }}}\n',
        'charts/es/Chart.yaml': 'name: es\nversion: 1.2.0\n',
        'charts/es/templates/pod.yaml': pod('es:1'),
      },
    });
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    expect(r.documents.map((d) => d.kind)).toEqual(['ConfigMap']);
    expect((r.documents[0].object as any).data).toEqual({ api: 'v1' });
  });
});

describe('a Chart.yaml go-yaml reads is loaded, though the yaml package refuses it', () => {
  // ceph-csi-rbd and ceph-csi-cephfs continue a quoted description on a line at column 0; stable's
  // aws-cluster-autoscaler says `deprecated: true` twice. Helm (go-yaml v2, later key wins) renders
  // both; ferry refused the Chart.yaml.
  it('loads and renders both', async () => {
    const dir = await writeChart(path.join(tmp, 'ceph'), {
      chart: { name: 'ceph', version: '1.0.0' },
      values: '',
      files: {
        'Chart.yaml': '---\napiVersion: v1\ndescription: "Container Storage Interface (CSI) driver,\nprovisioner and attacher"\nname: ceph\nversion: 1.0.0\ndeprecated: true\ndeprecated: false\n',
        'templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {d: {{ .Chart.Description | quote }}, dep: {{ .Chart.Deprecated | quote }}}\n',
      },
    });
    const loaded = await loadChart(dir, { allFiles: true });
    expect(loaded.metadata.name).toBe('ceph');
    const r = renderChart(loaded);
    expect((r.documents[0].object as any).data).toEqual({ d: 'Container Storage Interface (CSI) driver, provisioner and attacher', dep: 'false' });
  });
});
