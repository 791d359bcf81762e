import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mustRun } from './cli.js';
import { packageChart, startStaticServer, writeHelmLayout, writeRepoIndex, type StaticServer } from './chart-repo.js';
import { skopeoEnv, type RunningRegistry } from './registry.js';

/**
 * Two small charts as GitOps sources name them: `web` 2.1.0 in an HTTP chart repository (nginx,
 * `<repoUrl>` = `…/stable`), and `api` 1.0.0 pushed to `reg` as `helm push` lays it out
 * (`oci://<reg>/charts/api:1.0.0`). Each renders one ConfigMap. The caller stops `repo`.
 */
export async function serveWebAndApiCharts(work: string, reg: RunningRegistry): Promise<{ repo: StaticServer; repoUrl: string }> {
  const src = path.join(work, 'src');
  for (const name of ['web', 'api']) {
    await mkdir(path.join(src, name, 'templates'), { recursive: true });
    await writeFile(path.join(src, name, 'Chart.yaml'), `apiVersion: v2\nname: ${name}\nversion: ${name === 'web' ? '2.1.0' : '1.0.0'}\n`);
    await writeFile(path.join(src, name, 'values.yaml'), 'replicaCount: 1\n');
    await writeFile(path.join(src, name, 'templates', 'cm.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${name} }\ndata: { replicas: "{{ .Values.replicaCount }}" }\n`);
  }
  const stable = path.join(work, 'repo', 'stable');
  const web = await packageChart(path.join(src, 'web'), stable);
  await writeRepoIndex(stable, [web]);
  const repo = await startStaticServer(path.join(work, 'repo'));
  const api = await packageChart(path.join(src, 'api'), path.join(work, 'oci'));
  const layout = path.join(work, 'layout');
  await writeHelmLayout(layout, api, 'api');
  await mustRun('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:api`, `docker://${reg.host}/charts/api:1.0.0`], { env: skopeoEnv() });
  return { repo, repoUrl: `${repo.url}/stable` };
}

/** A chart (source directory `<work>/src/<name>`) whose one Deployment runs `containers` (list items at 8 spaces), with `values` as its defaults. */
export async function deploymentChart(work: string, name: string, version: string, values: string, containers: string): Promise<string> {
  const dir = path.join(work, 'src', name);
  await mkdir(path.join(dir, 'templates'), { recursive: true });
  await writeFile(path.join(dir, 'Chart.yaml'), `apiVersion: v2\nname: ${name}\nversion: ${version}\nappVersion: "1.0"\n`);
  await writeFile(path.join(dir, 'values.yaml'), values);
  await writeFile(
    path.join(dir, 'templates', 'deploy.yaml'),
    `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: {{ .Release.Name }}-${name} }\nspec:\n  selector: { matchLabels: { app: ${name} } }\n  template:\n    metadata: { labels: { app: ${name} } }\n    spec:\n      containers:\n${containers}`,
  );
  return dir;
}

/**
 * Two charts whose own defaults name images in the registry `U` (`<U>/acme/<name>:1.0`): `web` 1.2.0
 * (`image.registry/repository/tag`, and a sidecar switched off by default) in an HTTP chart
 * repository served by nginx (`repoUrl` = `…/stable`, with the `extra` charts beside it), and `api`
 * 0.5.0 (`image.repository`, `worker.image`) pushed to `U` as `oci://<U>/charts/api:0.5.0`. Also an
 * empty charts.dir `<work>/site-charts` served by nginx. The caller stops `repo` and `siteCharts`.
 */
export async function serveDefaultImageCharts(work: string, U: string, extra: string[] = []): Promise<{ repo: StaticServer; repoUrl: string; siteCharts: StaticServer }> {
  const web = await deploymentChart(
    work,
    'web',
    '1.2.0',
    `image:\n  registry: ${U}\n  repository: acme/web\n  tag: "1.0"\nsidecar:\n  enabled: false\n  image: ${U}/acme/sidecar:1.0\n`,
    `        - name: web\n          image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n{{- if .Values.sidecar.enabled }}\n        - name: sidecar\n          image: {{ .Values.sidecar.image | quote }}\n{{- end }}\n`,
  );
  const api = await deploymentChart(
    work,
    'api',
    '0.5.0',
    `image:\n  repository: ${U}/acme/api\n  tag: "1.0"\nworker:\n  image:\n    repository: ${U}/acme/worker\n    tag: "1.0"\n`,
    `        - name: api\n          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n        - name: worker\n          image: "{{ .Values.worker.image.repository }}:{{ .Values.worker.image.tag }}"\n`,
  );
  const stable = path.join(work, 'repo', 'stable');
  const packaged = [await packageChart(web, stable)];
  for (const dir of extra) packaged.push(await packageChart(dir, stable));
  await writeRepoIndex(stable, packaged);
  const repo = await startStaticServer(path.join(work, 'repo'));
  const apiPkg = await packageChart(api, path.join(work, 'oci'));
  await writeHelmLayout(path.join(work, 'hl'), apiPkg, 'api');
  await mustRun('skopeo', ['copy', '--dest-tls-verify=false', `oci:${path.join(work, 'hl')}:api`, `docker://${U}/charts/api:0.5.0`], { env: skopeoEnv() });
  await mkdir(path.join(work, 'site-charts'));
  const siteCharts = await startStaticServer(path.join(work, 'site-charts'));
  return { repo, repoUrl: `${repo.url}/stable`, siteCharts };
}

/**
 * The mirror target `<work>/site.yaml` (registry `http://<site>` under `mirror`, charts.dir
 * `./site-charts` served at `siteChartsPort`), then `lock`, `bundle create` (`gitops.ferry.tar`)
 * and `import` of `<work>/manifest.yaml` through `ferry`.
 */
export async function lockBundleImport(work: string, site: string, siteChartsPort: number, ferry: (args: string[]) => Promise<unknown>): Promise<void> {
  await writeFile(
    path.join(work, 'site.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'registry:', `  url: http://${site}`, '  prefix: mirror', `charts: { dir: ./site-charts, baseUrl: "http://localhost:${siteChartsPort}" }`, ''].join('\n'),
  );
  await ferry(['lock', 'manifest.yaml']);
  await ferry(['bundle', 'create', 'manifest.yaml', '-o', 'gitops.ferry.tar']);
  await ferry(['import', 'gitops.ferry.tar', '--target', 'site.yaml']);
}

/**
 * An Argo CD Application installing `chart` `version` from the chart repository `repoUrl`, with these
 * `helm:` lines (written at 6 spaces), its lines ended by `eol` (a CRLF file when asked).
 */
export function argoApplication(o: { name: string; repoUrl: string; chart?: string; version?: string; helm: string[]; eol?: string }): string {
  return [
    'apiVersion: argoproj.io/v1alpha1',
    'kind: Application',
    `metadata: { name: ${o.name}, namespace: argocd }`,
    'spec:',
    '  project: default',
    '  source:',
    `    repoURL: ${o.repoUrl}`,
    `    chart: ${o.chart ?? 'web'}`,
    `    targetRevision: ${o.version ?? '1.2.0'}`,
    '    helm:',
    ...o.helm.map((l) => `      ${l}`),
    `  destination: { server: https://kubernetes.default.svc, namespace: ${o.name} }`,
    '',
  ].join(o.eol ?? '\n');
}
