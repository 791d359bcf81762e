import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertJsonWith, type ConvertJson, convertWorkspace, writeTree } from '../support/convert-output.js';

/**
 * convert48: a chart on disk (Zarf `localPath:`/v1beta1 `local:`, a helmfile `./chart`, a Hauler
 * chart whose repoURL is a directory) is rendered for the images it deploys, its vendored
 * sub-charts (charts/*.tgz and directories) with it, a dependency whose condition is false by the
 * values left out and named; and a Zarf zarf.dev/v1beta1 package (Zarf 1.0's format) is read.
 */

const { dirWith, check } = convertWorkspace('ferry-convert48-');

type Result = ConvertJson;
const convertJson = convertJsonWith(check);

const said = (r: Result, ...words: string[]) => [...r.notCarried, ...r.changed].some((n) => words.every((w) => `${n.place} ${n.item} ${n.why} ${n.todo}`.includes(w)));

/**
 * A podinfo-like chart as people keep it beside their package: its own Deployment, a redis
 * dependency vendored as charts/redis-19.6.4.tgz (helm dependency build) and a metrics
 * dependency vendored as a directory, each behind a condition.
 */
async function writeChart(dir: string): Promise<void> {
  await writeTree(dir, {
    'Chart.yaml': 'apiVersion: v2\nname: podinfo\nversion: 6.4.0\ndependencies:\n  - name: redis\n    version: 19.6.4\n    repository: https://charts.bitnami.com/bitnami\n    condition: redis.enabled\n  - name: metrics\n    version: 0.1.0\n    repository: https://charts.acme.example\n    condition: metrics.enabled\n',
    'values.yaml': 'image:\n  repository: ghcr.io/stefanprodan/podinfo\n  tag: 6.4.0\nredis:\n  enabled: false\nmetrics:\n  enabled: true\n',
    'templates/deployment.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-podinfo\nspec:\n  template:\n    spec:\n      containers:\n        - name: podinfo\n          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n',
    'charts/metrics/Chart.yaml': 'apiVersion: v2\nname: metrics\nversion: 0.1.0\n',
    'charts/metrics/values.yaml': 'image: quay.io/acme/metrics-exporter:0.9.1\n',
    'charts/metrics/templates/ds.yaml': 'apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: metrics\nspec:\n  template:\n    spec:\n      containers:\n        - name: exporter\n          image: {{ .Values.image }}\n',
  });
  const src = path.join(dir, '..', '.redis-src');
  await writeTree(path.join(src, 'redis'), {
    'Chart.yaml': 'apiVersion: v2\nname: redis\nversion: 19.6.4\n',
    'values.yaml': 'image:\n  repository: bitnami/redis\n  tag: 7.2.5\n',
    'templates/sts.yaml': 'apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {{ .Release.Name }}-redis\nspec:\n  template:\n    spec:\n      containers:\n        - name: redis\n          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n',
  });
  await mkdir(path.join(dir, 'charts'), { recursive: true });
  execFileSync('tar', ['czf', path.join(dir, 'charts', 'redis-19.6.4.tgz'), '-C', src, 'redis']);
}

/** The values the site deploys with: redis on, metrics off. */
const SITE_VALUES = 'redis:\n  enabled: true\nmetrics:\n  enabled: false\n';

function expectRendered(r: Result, images: string[]): void {
  const refs = ((r.manifest.images ?? []) as Array<{ ref: string }>).map((i) => i.ref);
  for (const i of images) expect(refs).toContain(i);
  // The vendored .tgz sub-chart's image is carried; the one its condition turns off is not, and is named.
  expect(refs).toContain('docker.io/bitnami/redis:7.2.5');
  expect(refs).not.toContain('quay.io/acme/metrics-exporter:0.9.1');
  expect(said(r, 'dependency podinfo > metrics', 'condition metrics.enabled is false', 'not rendered')).toBe(true);
  expect(said(r, 'a local chart', 'podinfo 6.4.0', 'is not carried', 'carried under images:')).toBe(true);
}

describe('convert: a local chart is rendered for its images', () => {
  it('zarf v1alpha1 localPath: with valuesFiles', async () => {
    const dir = await dirWith('zarf-alpha-local', {
      'zarf.yaml': 'kind: ZarfPackageConfig\nmetadata:\n  name: helm-charts\n  version: 0.0.1\ncomponents:\n  - name: demo-helm-charts\n    required: true\n    charts:\n      - name: podinfo-local\n        version: 6.4.0\n        namespace: podinfo-from-local-chart\n        localPath: chart\n        valuesFiles:\n          - values.yaml\n',
      'values.yaml': SITE_VALUES,
    });
    await writeChart(path.join(dir, 'chart'));
    const r = await convertJson(dir, ['zarf', 'zarf.yaml']);
    expectRendered(r, ['ghcr.io/stefanprodan/podinfo:6.4.0']);
    expect(r.manifest.charts).toBeUndefined();
  });

  it('helmfile ./chart with its values file', async () => {
    const dir = await dirWith('helmfile-local-render', {
      'helmfile.yaml': 'releases:\n  - name: podinfo\n    namespace: podinfo\n    chart: ./chart\n    values:\n      - values.yaml\n',
      'values.yaml': SITE_VALUES,
    });
    await writeChart(path.join(dir, 'chart'));
    const r = await convertJson(dir, ['helmfile', 'helmfile.yaml']);
    expectRendered(r, ['ghcr.io/stefanprodan/podinfo:6.4.0']);
  });

  it('hauler Charts with a directory as repoURL', async () => {
    const dir = await dirWith('hauler-local', {
      'hauler.yaml': 'apiVersion: content.hauler.cattle.io/v1\nkind: Charts\nmetadata:\n  name: local-charts\nspec:\n  charts:\n    - name: podinfo\n      repoURL: ./charts\n      valuesFiles:\n        - values.yaml\n',
      'values.yaml': SITE_VALUES,
    });
    await writeChart(path.join(dir, 'charts', 'podinfo'));
    const r = await convertJson(dir, ['hauler', 'hauler.yaml']);
    expectRendered(r, ['ghcr.io/stefanprodan/podinfo:6.4.0']);
  });

  it('a local chart outside the source\'s directory is named, not read', async () => {
    const dir = await dirWith('zarf-outside', {
      'pkg/zarf.yaml': 'kind: ZarfPackageConfig\nmetadata: {name: out}\ncomponents:\n  - name: c\n    charts:\n      - name: far\n        localPath: ../elsewhere\n',
    });
    await writeChart(path.join(dir, 'elsewhere'));
    const r = await convertJson(dir, ['zarf', 'pkg/zarf.yaml']);
    expect(r.manifest.images).toBeUndefined();
    expect(said(r, 'charts: far', 'outside')).toBe(true);
  });

  it('a values file outside the source\'s directory is not read: the chart renders without it, and that is named', async () => {
    const dir = await dirWith('zarf-values-outside', {
      'pkg/zarf.yaml': 'kind: ZarfPackageConfig\nmetadata: {name: vo}\ncomponents:\n  - name: c\n    charts:\n      - name: podinfo-local\n        localPath: chart\n        valuesFiles:\n          - ../site.yaml\n',
      'site.yaml': SITE_VALUES,
    });
    await writeChart(path.join(dir, 'pkg', 'chart'));
    const r = await convertJson(dir, ['zarf', 'pkg/zarf.yaml']);
    const refs = ((r.manifest.images ?? []) as Array<{ ref: string }>).map((i) => i.ref);
    // Rendered with the chart's defaults only: metrics on, redis off.
    expect(refs).toEqual(['ghcr.io/stefanprodan/podinfo:6.4.0', 'quay.io/acme/metrics-exporter:0.9.1']);
    expect(said(r, 'values site.yaml', 'outside', 'rendered without it')).toBe(true);
  });
});

describe('convert zarf: zarf.dev/v1beta1 (Zarf 1.0)', () => {
  it('reads images, helmRepository/oci/git/local charts, files and selector as zarf dev upgrade writes them', async () => {
    const dir = await dirWith('zarf-beta', {
      'zarf.yaml': `apiVersion: zarf.dev/v1beta1
kind: ZarfPackageConfig
metadata:
  name: helm-charts
  version: 0.0.1
components:
  - name: demo-helm-charts
    optional: false
    charts:
      - name: podinfo-local
        namespace: podinfo-from-local-chart
        local:
          path: chart
        valuesFiles:
          - path: values.yaml
      - name: podinfo-oci
        namespace: podinfo-from-oci
        oci:
          url: oci://ghcr.io/stefanprodan/charts/podinfo
          ref:
            tag: 6.4.0
        valuesFiles:
          - path: values.yaml
        values:
          - sourcePath: .podinfo.replicaCount
            targetPath: .replicaCount
      - name: podinfo-repo
        helmRepository:
          url: https://stefanprodan.github.io/podinfo
          name: podinfo
          version: 6.4.0
      - name: podinfo-git
        git:
          url: https://github.com/stefanprodan/podinfo.git
          path: charts/podinfo
          ref:
            tag: 6.4.0
    images:
      - name: ghcr.io/stefanprodan/podinfo:6.4.0
      - name: local/built:dev
        source: daemon
    files:
      - source: https://github.com/k3s-io/k3s/releases/download/v1.30.0%2Bk3s1/k3s
        checksum: 0c4b7c9e6b1f9a0a8e2c2a2b9b7f1e0d7f0e7b6a5c4d3e2f1a0b9c8d7e6f5a4b
        destination: /usr/sbin/k3s
        executable: true
    repositories:
      - url: https://github.com/stefanprodan/podinfo.git
  - name: arm-only
    selector:
      flavor: arm
    images:
      - name: ghcr.io/acme/arm-tool:1
`,
      'values.yaml': SITE_VALUES,
    });
    await writeChart(path.join(dir, 'chart'));
    const r = await convertJson(dir, ['zarf', 'zarf.yaml', '-o', 'manifest.yaml']);
    await check().accepted(path.join(dir, 'manifest.yaml'));
    expect(r.manifest.charts).toEqual([
      { name: 'podinfo', repo: 'https://stefanprodan.github.io/podinfo', version: '6.4.0' },
      { name: 'podinfo', repo: 'oci://ghcr.io/stefanprodan/charts', version: '6.4.0', values: ['values.yaml'] },
    ]);
    expect(r.manifest.files).toEqual([{ name: 'k3s', url: 'https://github.com/k3s-io/k3s/releases/download/v1.30.0%2Bk3s1/k3s', sha256: '0c4b7c9e6b1f9a0a8e2c2a2b9b7f1e0d7f0e7b6a5c4d3e2f1a0b9c8d7e6f5a4b' }]);
    expectRendered(r, ['ghcr.io/stefanprodan/podinfo:6.4.0']);
    const refs = (r.manifest.images as Array<{ ref: string }>).map((i) => i.ref);
    expect(refs).not.toContain('docker.io/local/built:dev');
    expect(refs).not.toContain('ghcr.io/acme/arm-tool:1');
    expect(said(r, 'images: local/built:dev', 'daemon')).toBe(true);
    expect(said(r, 'charts: podinfo-git', 'git repository')).toBe(true);
    expect(said(r, 'charts: podinfo-oci values:', 'when Zarf deploys')).toBe(true);
    expect(said(r, 'repositories: https://github.com/stefanprodan/podinfo.git', 'git')).toBe(true);
    expect(said(r, 'selector.flavor: arm', '--flavor arm')).toBe(true);
  });

  it('names a v1beta1 import that is not there, and a remote one', async () => {
    const dir = await dirWith('zarf-beta-import', {
      'zarf.yaml': 'apiVersion: zarf.dev/v1beta1\nkind: ZarfPackageConfig\nmetadata: {name: merge-import}\ncomponents:\n  - name: app\n    images:\n      - name: redis:7\n    import:\n      local:\n        - path: components/app.yaml\n      remote:\n        - url: oci://ghcr.io/acme/components/app:1.0.0\n',
    });
    const r = await convertJson(dir, ['zarf', 'zarf.yaml']);
    expect(r.manifest.images).toEqual([{ ref: 'docker.io/library/redis:7' }]);
    expect(said(r, 'import.local: components/app.yaml', 'does not exist', 'not converted')).toBe(true);
    expect(said(r, 'import.remote: oci://ghcr.io/acme/components/app:1.0.0')).toBe(true);
  });
});
