import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverChartImages, userValues, type DiscoveryResult } from '../../../src/kinds/chart/discover.js';
import { loadChartDir } from '../../../src/kinds/chart/load.js';
import { writeChart, type ChartFixture } from './helpers.js';

let tmp: string;
let n = 0;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-discover-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function discover(f: ChartFixture, values: Array<[string, string]> = []): Promise<DiscoveryResult> {
  const dir = await writeChart(path.join(tmp, `c${n++}`), f);
  return discoverChartImages(await loadChartDir(dir), { values: values.map(([file, text]) => userValues(text, file)) });
}

const certain = (r: DiscoveryResult) => r.images.filter((i) => i.certainty === 'certain').map((i) => i.ref);
const possible = (r: DiscoveryResult) => r.images.filter((i) => i.certainty === 'possible').map((i) => i.ref);

const bitnamiLike: ChartFixture = {
  chart: {
    name: 'app',
    version: '1.0.0',
    appVersion: '2.0.0',
    dependencies: [
      { name: 'db', version: '1.x', repository: 'oci://example.test/charts', condition: 'db.enabled' },
      { name: 'db', alias: 'replica', version: '1.x', repository: 'oci://example.test/charts', condition: 'replica.enabled' },
      { name: 'cache', version: '1.x', repository: 'https://example.test/charts', tags: ['extras'] },
    ],
  },
  values: ['global:', '  imageRegistry: ""', 'image:', '  registry: docker.io', '  repository: acme/app', '  tag: ""', 'db:', '  enabled: true', 'replica:', '  enabled: false', ''].join('\n'),
  subcharts: {
    db: { chart: { name: 'db', version: '1.2.0', appVersion: '16.1' }, values: 'image:\n  registry: docker.io\n  repository: acme/db\n  tag: 16.1.0\n' },
    cache: { chart: { name: 'cache', version: '1.0.0' }, values: 'image:\n  repository: acme/cache\n  tag: "7.2"\n' },
  },
};

describe('discovery rules', () => {
  it('an empty tag falls back to appVersion; subcharts are scoped by name and alias; conditions and tags skip subcharts', async () => {
    const r = await discover(bitnamiLike);
    expect(certain(r)).toEqual(['docker.io/acme/app:2.0.0', 'docker.io/acme/cache:7.2', 'docker.io/acme/db:16.1.0']);
    const app = r.images.find((i) => i.ref === 'docker.io/acme/app:2.0.0')!.sources[0];
    expect(app).toMatchObject({ kind: 'values', file: 'values.yaml', line: 3, keyPath: 'image', valuesPath: 'image', tagFromAppVersion: true, form: 'map' });
    expect(app.keys).toEqual({ registry: 'registry', repository: 'repository', tag: 'tag' });
    const db = r.images.find((i) => i.ref.startsWith('docker.io/acme/db'))!.sources[0];
    expect(db).toMatchObject({ chart: 'app > db', scope: ['db'], valuesPath: 'db.image', file: 'charts/db/values.yaml' });
    expect(r.skippedSubcharts).toEqual([{ chart: 'app > replica', reason: 'condition replica.enabled is false' }]);

    const off = await discover(bitnamiLike, [['off.yaml', 'tags:\n  extras: false\ndb:\n  enabled: false\n']]);
    expect(certain(off)).toEqual(['docker.io/acme/app:2.0.0']);
    expect(off.skippedSubcharts.map((s) => s.chart).sort()).toEqual(['app > cache', 'app > db', 'app > replica']);
  });

  it('tags are read from the top chart\'s values, also for a subchart\'s own dependencies', async () => {
    const nested: ChartFixture = {
      chart: { name: 'top', version: '1.0.0', dependencies: [{ name: 'mid', version: '1.x', repository: 'oci://example.test/c' }] },
      values: 'tags:\n  monitoring: false\n',
      subcharts: {
        mid: {
          chart: { name: 'mid', version: '1.0.0', dependencies: [{ name: 'exporter', version: '1.x', repository: 'oci://example.test/c', tags: ['monitoring'] }] },
          values: 'image:\n  repository: acme/mid\n  tag: "1"\ntags:\n  monitoring: true\n',
          subcharts: { exporter: { chart: { name: 'exporter', version: '1.0.0' }, values: 'image:\n  repository: acme/exporter\n  tag: "1"\n' } },
        },
      },
    };
    const r = await discover(nested);
    expect(certain(r)).toEqual(['docker.io/acme/mid:1']);
    expect(r.skippedSubcharts).toEqual([{ chart: 'top > mid > exporter', reason: 'tags monitoring are false' }]);
  });

  it('user values win, global.imageRegistry flows into subcharts, and provenance names the overriding file', async () => {
    const r = await discover(bitnamiLike, [
      ['site.yaml', 'global:\n  imageRegistry: mirror.example.com:5000\nreplica:\n  enabled: true\n  image:\n    tag: 16.2.0\n'],
    ]);
    expect(certain(r)).toEqual([
      'mirror.example.com:5000/acme/app:2.0.0',
      'mirror.example.com:5000/acme/cache:7.2',
      'mirror.example.com:5000/acme/db:16.1.0',
      'mirror.example.com:5000/acme/db:16.2.0',
    ]);
    const replica = r.images.find((i) => i.ref.endsWith('db:16.2.0'))!.sources[0];
    expect(replica).toMatchObject({ chart: 'app > replica', scope: ['replica'], valuesPath: 'replica.image', registryFrom: 'global.imageRegistry' });
    expect(replica.overrides).toEqual({ tag: 'site.yaml:6' });
    expect(replica).toMatchObject({ file: 'charts/db/values.yaml', line: 1 });
  });

  it('global.image.registry fills in a missing registry; image/name keys and root imageNamespace compose the path', async () => {
    const r = await discover({
      chart: { name: 'x', version: '1.0.0', appVersion: '1.4.0' },
      values: [
        'global:',
        '  image:',
        '    registry: registry.k8s.io',
        'controller:',
        '  image:',
        '    image: ingress/controller',
        '    tag: v1.2.3',
        '    digest: sha256:' + 'a'.repeat(64),
        'imageRegistry: quay.io',
        'imageNamespace: team',
        'webhook:',
        '  image:',
        '    name: hook',
        'op:',
        '  image:',
        '    registry: container-registry.oracle.com',
        '    repository: mysql',
        '    name: operator',
        '    tag: ""',
      ].join('\n'),
    });
    expect(certain(r)).toEqual([
      'container-registry.oracle.com/mysql/operator:1.4.0',
      `registry.k8s.io/ingress/controller:v1.2.3@sha256:${'a'.repeat(64)}`,
      'registry.k8s.io/team/hook:1.4.0',
    ]);
  });

  it('a v prefix the templates add to appVersion is applied', async () => {
    const r = await discover({
      chart: { name: 'x', version: '1.0.0', appVersion: '0.21.0' },
      values: 'image:\n  repository: registry.k8s.io/x/x\n  tag:\n',
      files: { 'templates/_helpers.tpl': '{{- printf "%s:%s" .Values.image.repository (default (printf "v%s" .Chart.AppVersion) .Values.image.tag) }}\n' },
    });
    expect(certain(r)).toEqual(['registry.k8s.io/x/x:v0.21.0']);
  });

  it('image strings, *image keys, list items and image lists; numeric tags keep their digits', async () => {
    const r = await discover({
      chart: { name: 'x', version: '1.0.0' },
      values: [
        'config:',
        '  docker_image: ghcr.io/acme/spilo:4.1-p2',
        '  sidecarImage: busybox:1.36',
        'sidecars:',
        '  - name: curl',
        '    image: curlimages/curl:8.5.0',
        'extraImages:',
        '  - quay.io/acme/helper:1.0',
        'legacy:',
        '  image:',
        '    repository: acme/legacy',
        '    tag: 1.10',
      ].join('\n'),
    });
    expect(certain(r)).toEqual([
      'docker.io/acme/legacy:1.10',
      'docker.io/curlimages/curl:8.5.0',
      'docker.io/library/busybox:1.36',
      'ghcr.io/acme/spilo:4.1-p2',
      'quay.io/acme/helper:1.0',
    ]);
    expect(r.images.find((i) => i.ref.includes('curl'))!.sources[0].valuesPath).toBe('sidecars[0].image');
  });

  it('URLs, paths, template expressions and incomplete image maps are not reported', async () => {
    const r = await discover({
      chart: { name: 'x', version: '1.0.0' },
      values: [
        'image:',
        '  repository: "{{ .Values.global.repo }}/app"',
        '  tag: 1.0',
        'webhook:',
        '  image:',
        '    repository:',
        '    tag:',
        'iconImage: https://example.com/logo.png:443',
        'bootImage: /var/lib/images/boot.img',
        'initImage: "{{ .Values.init.image }}"',
        'docs: https://quay.io/acme/app:1.0',
        'homepage: quay.io/acme/docs-site',
      ].join('\n'),
    });
    expect(r.images).toEqual([]);
  });

  it('disabled sections are possible, with the reason', async () => {
    const r = await discover({
      chart: { name: 'x', version: '1.0.0' },
      values: 'metrics:\n  enabled: false\n  exporter:\n    image:\n      repository: acme/exporter\n      tag: "1.0"\n',
    });
    expect(possible(r)).toEqual(['docker.io/acme/exporter:1.0']);
    expect(r.images[0].sources[0].reason).toBe('metrics.enabled is false');
    const on = await discover(
      { chart: { name: 'x', version: '1.0.0' }, values: 'metrics:\n  enabled: false\n  image:\n    repository: acme/exporter\n    tag: "1.0"\n' },
      [['on.yaml', 'metrics:\n  enabled: true\n']],
    );
    expect(certain(on)).toEqual(['docker.io/acme/exporter:1.0']);
  });

  it('annotations (helm.sh/images, artifacthub.io/images, images) and Images.lock in any case', async () => {
    const r = await discover({
      chart: {
        name: 'x',
        version: '1.0.0',
        annotations: {
          'artifacthub.io/images': '- name: a\n  image: quay.io/acme/a:1.0\n',
          'helm.sh/images': '- image: ghcr.io/acme/b:2.0\n',
          images: '- name: c\n  image: docker.io/acme/c:3.0\n',
        },
      },
      files: { 'images.LOCK': 'images:\n  - name: d\n    image: docker.io/acme/d:4.0\n    digests:\n      - digest: sha256:' + 'b'.repeat(64) + '\n        arch: linux/amd64\n' },
    });
    expect(certain(r)).toEqual(['docker.io/acme/c:3.0', 'docker.io/acme/d:4.0', 'ghcr.io/acme/b:2.0', 'quay.io/acme/a:1.0']);
    expect(r.images.find((i) => i.ref.includes('/d:'))!.sources[0]).toMatchObject({ kind: 'images-lock', file: 'images.LOCK' });
  });

  it('an annotated image the values replace with another tag is only possible', async () => {
    const r = await discover(
      { chart: { name: 'x', version: '1.0.0', annotations: { images: '- image: docker.io/acme/a:1.0\n' } }, values: 'image:\n  repository: acme/a\n  tag: "1.0"\n' },
      [['up.yaml', 'image:\n  tag: "1.1"\n']],
    );
    expect(certain(r)).toEqual(['docker.io/acme/a:1.1']);
    expect(possible(r)).toEqual(['docker.io/acme/a:1.0']);
  });

  it('image references written literally in templates, with the line; comments are ignored', async () => {
    const r = await discover({
      chart: { name: 'x', version: '1.0.0' },
      files: {
        'templates/job.yaml': [
          'apiVersion: batch/v1',
          'kind: Job',
          'spec:',
          '  template:',
          '    spec:',
          '      initContainers:',
          '        - name: wait',
          '          image: curlimages/curl:8.5.0',
          '      containers:',
          '        - name: main',
          '          image: {{ .Values.image.repository }}:{{ .Values.image.tag }}',
          '          args: ["--helper-image=quay.io/acme/helper:v2", "--docs=https://quay.io/acme/page:1"]',
          '# image: docker.io/acme/commented:1',
          '{{/*',
          '          image: docker.io/acme/in-comment:1',
          '*/}}',
        ].join('\n'),
      },
    });
    expect(certain(r)).toEqual(['docker.io/curlimages/curl:8.5.0']);
    expect(possible(r)).toEqual(['quay.io/acme/helper:v2']);
    expect(r.images[0].sources[0]).toMatchObject({ kind: 'template', file: 'templates/job.yaml', line: 8 });
  });

  it('a tag beside a string image (imageTag) completes it; a default written in a template is possible', async () => {
    const r = await discover({
      chart: { name: 'x', version: '1.0.0' },
      values: 'image: jenkins/jenkins\nimageTag: 2.440-jdk17\nimagePullPolicy: Always\n',
      files: { 'templates/d.yaml': 'containers:\n  - name: side\n    image: {{ .Values.side.image | default "quay.io/acme/side:1.2" }}\n' },
    });
    expect(certain(r)).toEqual(['docker.io/jenkins/jenkins:2.440-jdk17']);
    expect(r.images[0].sources[0].keys).toEqual({ image: 'image', tag: 'imageTag' });
    expect(possible(r)).toEqual(['quay.io/acme/side:1.2']);
  });

  it('a fullImageName in an image map overrides its other sub-keys (nats style)', async () => {
    const r = await discover(
      { chart: { name: 'x', version: '1.0.0' }, values: 'container:\n  image:\n    repository: nats\n    tag: 2.14.2-alpine\n    fullImageName:\n' },
      [['u.yaml', 'container:\n  image:\n    fullImageName: registry.site.internal/nats/nats:2.14.2\n']],
    );
    expect(certain(r)).toEqual(['registry.site.internal/nats/nats:2.14.2']);
    expect(r.images[0].sources[0].overrides).toEqual({ fullImageName: 'u.yaml:3' });
  });

  it('YAML anchors, aliases and merge keys in values are followed', async () => {
    const r = await discover({
      chart: { name: 'x', version: '1.0.0' },
      values: 'base: &img\n  registry: quay.io\n  repository: acme/base\n  tag: "1.0"\nworker:\n  image:\n    <<: *img\n    repository: acme/worker\nsidecar:\n  image: *img\n',
    });
    expect(certain(r)).toEqual(['quay.io/acme/base:1.0', 'quay.io/acme/worker:1.0']);
    expect(r.images.find((i) => i.ref.includes('worker'))!.sources[0].valuesPath).toBe('worker.image');
  });

  it('other common shapes: grafana sha, repo instead of repository, tpl\'d appVersion tags, one image under global (argo-cd)', async () => {
    const hex = 'd'.repeat(64);
    const r = await discover({
      chart: { name: 'x', version: '1.0.0', appVersion: '2.9.0' },
      values: [
        'global:',
        '  image:',
        '    repository: quay.io/argoproj/argocd',
        '    tag: ""',
        'server:',
        '  image:',
        '    repository: ""',
        '    tag: ""',
        'grafana:',
        '  image:',
        '    registry: docker.io',
        '    repository: grafana/grafana',
        '    tag: 11.0.0',
        `    sha: "${hex}"`,
        'agent:',
        '  image:',
        '    repo: ghcr.io/acme/agent',
        '    tag: "{{ .Chart.AppVersion }}"',
      ].join('\n'),
      files: { 'templates/_helpers.tpl': '{{- define "x.tag" -}}{{ default (print "v" .Chart.AppVersion) .Values.global.image.tag }}{{- end }}\n' },
    });
    expect(certain(r)).toEqual([`docker.io/grafana/grafana:11.0.0@sha256:${hex}`, 'ghcr.io/acme/agent:2.9.0', 'quay.io/argoproj/argocd:v2.9.0']);
    const g = r.images.find((i) => i.ref.includes('argocd'))!.sources[0];
    expect(g).toMatchObject({ valuesPath: 'global.image', keyPath: 'global.image', tagFromAppVersion: true });
  });

  it('a literal image inside a template block that is false with these values is only possible', async () => {
    const tpl = [
      '{{- if .Values.metrics.enabled }}',
      '      containers:',
      '        - name: exporter',
      '          image: quay.io/acme/exporter:1.0',
      '{{- else if and .Values.debug (not .Values.quiet) }}',
      '        - name: debug',
      '          image: docker.io/library/busybox:1.36',
      '{{- else }}',
      '        - name: idle',
      '          image: registry.k8s.io/pause:3.9',
      '{{- end }}',
      '{{- if or (eq .Values.mode "job")',
      '          .Values.forceJob }}',
      '          image: curlimages/curl:8.5.0',
      '{{- end }}',
      '{{- with .Values.extra }}',
      '          image: ghcr.io/acme/extra:2',
      '{{- end }}',
      '{{- if include "x.unknown" . }}',
      '          image: ghcr.io/acme/unknown:3',
      '{{- end }}',
    ].join('\n');
    const chart = { chart: { name: 'x', version: '1.0.0' }, values: 'metrics:\n  enabled: false\ndebug: true\nquiet: false\nmode: job\nextra: {}\n', files: { 'templates/d.yaml': tpl } };
    const r = await discover(chart);
    expect(certain(r)).toEqual(['docker.io/curlimages/curl:8.5.0', 'docker.io/library/busybox:1.36', 'ghcr.io/acme/unknown:3']);
    expect(possible(r)).toEqual(['ghcr.io/acme/extra:2', 'quay.io/acme/exporter:1.0', 'registry.k8s.io/pause:3.9']);
    expect(r.images.find((i) => i.ref.includes('exporter'))!.sources[0].reason).toBe('inside {{ if .Values.metrics.enabled }}, which is false with these values');
    const on = await discover(chart, [['on.yaml', 'metrics:\n  enabled: true\nmode: web\nextra:\n  a: 1\n']]);
    expect(certain(on)).toEqual(['ghcr.io/acme/extra:2', 'ghcr.io/acme/unknown:3', 'quay.io/acme/exporter:1.0']);
  });

  it('a null in user values removes a default (Helm semantics)', async () => {
    const r = await discover(
      { chart: { name: 'x', version: '1.0.0' }, values: 'image:\n  repository: acme/a\n  tag: "1.0"\n  digest: sha256:' + 'c'.repeat(64) + '\n' },
      [['u.yaml', 'image:\n  digest: null\n']],
    );
    expect(certain(r)).toEqual(['docker.io/acme/a:1.0']);
  });

  it('dependencies without a vendored copy are listed as missing', async () => {
    const r = await discover({ chart: { name: 'x', version: '1.0.0', dependencies: [{ name: 'redis', version: '19.x', repository: 'oci://example.test/c' }] } });
    expect(r.missingDependencies).toEqual([{ chart: 'x', dependency: 'redis', version: '19.x', repository: 'oci://example.test/c' }]);
  });
});
