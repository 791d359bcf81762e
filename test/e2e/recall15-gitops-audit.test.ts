import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageChart, startStaticServer, writeHelmLayout, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { mustRun, mustRunFerry, runFerry } from '../support/cli.js';
import { BASE_FILES, pushLayoutImage, writeOciLayout } from '../support/images.js';
import { freePort, skopeoEnv, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * recall15: `ferry audit` over a GitOps repository whose Argo CD Applications and Flux
 * HelmReleases install two carried charts (`web` from an HTTP chart repository on nginx, `api`
 * from an OCI registry) with values of their own. The images the charts deploy only with those
 * values (a values file inside the chart, Argo CD's values/valuesObject/parameters, Flux's
 * valuesFrom ConfigMap and spec.values) must be findings naming the object; a valuesFrom the scan
 * does not hold is said, never filled in. And the mirror target on 127.0.0.1 at one port is not
 * the upstream registry and chart repository on 127.0.0.1 at others.
 */
let work: string;
let up: RunningRegistry;
let site: RunningRegistry;
let repo: StaticServer;
let U: string;
let repoUrl: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0', FERRY_RETRY_MIN_MS: '10' });

interface Finding {
  file: string;
  keyPath: string;
  class: string;
  value: string;
  note?: string;
  provenance?: string;
  mirror?: string;
}
interface Report {
  findings: Finding[];
  charts: Array<{ chart: string; values: string[]; status: string; warnings?: string[]; reason?: string }>;
}

async function chartSrc(name: string, version: string, values: string, containers: string, extra: Record<string, string> = {}): Promise<string> {
  const dir = path.join(work, 'src', name);
  await mkdir(path.join(dir, 'templates'), { recursive: true });
  await writeFile(path.join(dir, 'Chart.yaml'), `apiVersion: v2\nname: ${name}\nversion: ${version}\nappVersion: "1.0"\n`);
  await writeFile(path.join(dir, 'values.yaml'), values);
  for (const [f, t] of Object.entries(extra)) await writeFile(path.join(dir, f), t);
  await writeFile(
    path.join(dir, 'templates', 'deploy.yaml'),
    `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: {{ .Release.Name }}-${name} }\nspec:\n  selector: { matchLabels: { app: ${name} } }\n  template:\n    metadata: { labels: { app: ${name} } }\n    spec:\n      containers:\n${containers}`,
  );
  return dir;
}

const optional = (n: string) => `{{- if .Values.${n}.enabled }}\n        - name: ${n}\n          image: {{ .Values.${n}.image | quote }}\n{{- end }}\n`;

let report: Report;
let code: number;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-recall15-'));
  up = await startRegistry({ mode: 'http' });
  site = await startRegistry({ mode: 'http' });
  U = up.host;
  const layout = path.join(work, 'imgs');
  const names = ['web', 'sidecar', 'extra', 'api', 'worker', 'debug'];
  await writeOciLayout(layout, names.map((n) => ({ name: n, platforms: [{ architecture: 'amd64', layers: [{ files: BASE_FILES }, { files: { [`app/${n}`]: n } }] }] })));
  for (const n of names) await pushLayoutImage(up, layout, n, `acme/${n}:1.0`);

  const web = await chartSrc(
    'web',
    '1.2.0',
    `image: ${U}/acme/web:1.0\nsidecar:\n  enabled: false\n  image: ${U}/acme/sidecar:1.0\nextra:\n  enabled: false\n  image: ${U}/acme/extra:1.0\n`,
    `        - name: web\n          image: {{ .Values.image | quote }}\n${optional('sidecar')}${optional('extra')}`,
    { 'values-prod.yaml': 'extra:\n  enabled: true\n' },
  );
  const api = await chartSrc(
    'api',
    '0.5.0',
    `image: ${U}/acme/api:1.0\nworker:\n  enabled: false\n  image: ${U}/acme/worker:1.0\ndebug:\n  enabled: false\n  image: ${U}/acme/debug:1.0\n`,
    `        - name: api\n          image: {{ .Values.image | quote }}\n${optional('worker')}${optional('debug')}`,
  );
  const stable = path.join(work, 'repo', 'stable');
  await writeRepoIndex(stable, [await packageChart(web, stable)]);
  repo = await startStaticServer(path.join(work, 'repo'));
  repoUrl = `${repo.url}/stable`;
  await writeHelmLayout(path.join(work, 'hl'), await packageChart(api, path.join(work, 'oci')), 'api');
  await mustRun('skopeo', ['copy', '--dest-tls-verify=false', `oci:${path.join(work, 'hl')}:api`, `docker://${U}/charts/api:0.5.0`], { env: skopeoEnv() });

  await writeFile(
    path.join(work, 'manifest.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: gitops }', 'charts:', `  - { name: web, repo: "${repoUrl}", version: "1.2.x" }`, `  - { name: api, repo: "oci://${U}/charts", version: "0.5.0" }`, ''].join('\n'),
  );
  // The mirror on the same loopback address as the upstream registry and chart repository, at other ports.
  await writeFile(
    path.join(work, 'site.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'registry:', `  url: http://${site.host}`, '  prefix: mirror', `charts: { dir: ./site-charts, baseUrl: "http://127.0.0.1:${await freePort()}" }`, ''].join('\n'),
  );
  const files: Record<string, string> = {
    'apps/argo/web.yaml': `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: { name: web, namespace: argocd }\nspec:\n  project: default\n  source:\n    repoURL: ${repoUrl}\n    chart: web\n    targetRevision: 1.2.0\n    helm:\n      valueFiles: [values-prod.yaml, $values/env/web.yaml]\n      values: |\n        sidecar:\n          enabled: false\n      valuesObject:\n        sidecar:\n          enabled: true\n  destination: { server: https://kubernetes.default.svc, namespace: web }\n`,
    'apps/argo/api.yaml': `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: { name: api, namespace: argocd }\nspec:\n  project: default\n  source:\n    repoURL: ${U}/charts\n    chart: api\n    targetRevision: 0.5.0\n    helm:\n      values: |\n        worker:\n          enabled: true\n      parameters:\n        - { name: debug.enabled, value: "true" }\n  destination: { server: https://kubernetes.default.svc, namespace: api }\n`,
    'apps/flux/sources.yaml': `apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: { name: stable, namespace: flux-system }\nspec:\n  interval: 10m\n  url: ${repoUrl}\n---\napiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\nmetadata: { name: api-chart, namespace: flux-system }\nspec:\n  interval: 10m\n  url: oci://${U}/charts/api\n  ref:\n    tag: 0.5.0\n`,
    'apps/flux/values.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: web-values, namespace: flux-system }\ndata:\n  values.yaml: |\n    sidecar:\n      enabled: true\n  debug: "true"\n',
    'apps/flux/releases.yaml': `apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: { name: web, namespace: flux-system }\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: web\n      version: 1.2.x\n      sourceRef: { kind: HelmRepository, name: stable }\n  valuesFrom:\n    - { kind: ConfigMap, name: web-values }\n    - { kind: Secret, name: web-secret }\n    - { kind: ConfigMap, name: maybe-values, optional: true }\n  values:\n    extra:\n      enabled: true\n---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: { name: api, namespace: flux-system }\nspec:\n  interval: 10m\n  chartRef: { kind: OCIRepository, name: api-chart }\n  valuesFrom:\n    - { kind: ConfigMap, name: web-values, valuesKey: debug, targetPath: debug.enabled }\n  values:\n    worker:\n      enabled: true\n`,
    'apps/site/deploy.yaml': `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: onsite }\nspec:\n  template:\n    spec:\n      containers:\n        - name: onsite\n          image: ${site.host}/mirror/acme/onsite:1.0\n`,
  };
  for (const [f, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(work, 'gitops', f)), { recursive: true });
    await writeFile(path.join(work, 'gitops', f), text);
  }
  await mustRunFerry(['lock', 'manifest.yaml'], { cwd: work, env: env() });
  const r = await runFerry(['audit', 'gitops', '--manifest', 'manifest.yaml', '-t', 'site.yaml', '--fail-on', 'unmapped', '--json'], { cwd: work, env: env() });
  code = r.code;
  report = JSON.parse(r.stdout) as Report;
}, 240_000);

afterAll(async () => {
  await repo?.stop();
  await up?.stop();
  await site?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The images rendered for `object` (its provenance names it), sorted. */
const renderedFor = (object: string) =>
  [...new Set(report.findings.filter((f) => f.provenance?.includes(` ${object} (`) && f.keyPath.endsWith('.image')).map((f) => f.value))].sort();

describe("recall15: audit renders the charts Argo CD and Flux install, with the objects' values", () => {
  it('Argo CD: valueFiles inside the chart, then valuesObject (over values), then parameters', () => {
    expect(renderedFor('Application/web')).toEqual([`${U}/acme/extra:1.0`, `${U}/acme/sidecar:1.0`, `${U}/acme/web:1.0`]);
    expect(renderedFor('Application/api')).toEqual([`${U}/acme/api:1.0`, `${U}/acme/debug:1.0`, `${U}/acme/worker:1.0`]);
    const web = report.charts.find((c) => c.values.some((v) => v.includes('Application/web')))!;
    expect(web.status).toBe('rendered');
    // Another source's values file is not read, and said so; values beside valuesObject is not used, as Argo CD does.
    expect(web.warnings?.join('\n')).toContain('$values/env/web.yaml');
    expect(web.warnings?.join('\n')).toContain('values is not used: Argo CD reads valuesObject');
    const f = report.findings.find((x) => x.value === `${U}/acme/extra:1.0` && x.provenance?.includes('Application/web'))!;
    expect(f.file).toBe('gitops/apps/argo/web.yaml');
    expect(f.note).toContain('$values/env/web.yaml');
  });

  it('Flux: valuesFrom in order (a ConfigMap of the scan, targetPath), then spec.values; a Secret not scanned is said, not guessed', () => {
    expect(renderedFor('HelmRelease/web')).toEqual([`${U}/acme/extra:1.0`, `${U}/acme/sidecar:1.0`, `${U}/acme/web:1.0`]);
    expect(renderedFor('HelmRelease/api')).toEqual([`${U}/acme/api:1.0`, `${U}/acme/debug:1.0`, `${U}/acme/worker:1.0`]);
    const web = report.charts.find((c) => c.values.some((v) => v.includes('HelmRelease/web')))!;
    expect(web.status).toBe('rendered');
    const warned = web.warnings?.join('\n') ?? '';
    expect(warned).toMatch(/Secret\/web-secret values\.yaml: not in the scan: its values are unknown/);
    expect(warned).toMatch(/ConfigMap\/maybe-values values\.yaml: optional, and not in the scan/);
  });

  it('the mirror target is matched by host and port: the upstream registry and chart repository on the same address are not the mirror', () => {
    const at = (file: string, keyPath: string) => report.findings.filter((f) => f.file === `gitops/${file}` && f.keyPath === keyPath && !f.provenance);
    for (const [file, keyPath] of [
      ['apps/argo/api.yaml', 'spec.source.repoURL'],
      ['apps/argo/web.yaml', 'spec.source.repoURL'],
      ['apps/flux/sources.yaml', 'spec.url'],
    ]) {
      const found = at(file, keyPath);
      expect(found.length, `${file} ${keyPath}`).toBeGreaterThan(0);
      for (const f of found) {
        expect(f.class, `${file} ${f.value}: ${f.note}`).toBe('undeclared');
        expect(f.note).toMatch(/fetches the chart from this URL as written/);
        expect(f.mirror).toBeUndefined();
      }
    }
    // The mirror itself (its own port) is still the mirror target.
    const onsite = at('apps/site/deploy.yaml', 'spec.template.spec.containers[0].image')[0];
    expect(onsite.class).toBe('internal');
    expect(onsite.note).toMatch(/^mirror target/);
    expect(code).toBe(5);
  });
});
