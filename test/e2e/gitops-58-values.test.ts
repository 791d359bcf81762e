import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type StaticServer } from '../support/chart-repo.js';
import { argoApplication, deploymentChart, lockBundleImport, serveDefaultImageCharts } from '../support/gitops-charts.js';
import { mustRunFerry, runFerry } from '../support/cli.js';
import { gitopsTreeProblems } from '../support/gitops-validate.js';
import { BASE_FILES, pushLayoutImage, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * What a GitOps controller renders, read as it reads it, against real components (a Distribution
 * registry for the images, nginx for the chart repository, lock/bundle/import into a mirror):
 * Flux `spec.chart.spec.valuesFiles` (files inside the chart that source-controller merges into
 * the values.yaml it packages the chart with), Argo CD parameters as its repo-server passes them
 * (build variables filled in), a HelmRelease and its HelmRepository matched when namespaces are
 * not written. `audit --bundle` shows what each object runs, `rewrite manifests --bundle` merges
 * the override into the object only where that is known.
 */
let work: string;
let up: RunningRegistry;
let site: RunningRegistry;
let repo: StaticServer;
let siteCharts: StaticServer;
let SITE: string;
let U: string;
let repoUrl: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0', FERRY_RETRY_MIN_MS: '10' });
const ferry = (args: string[]) => mustRunFerry(args, { cwd: work, env: env() });
const mirror = () => `${SITE}/mirror/${U.replace(':', '-')}`;

async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [f, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(work, dir, f)), { recursive: true });
    await writeFile(path.join(work, dir, f), text);
  }
}

type Finding = { class: string; value: string; file?: string; provenance?: string; note?: string };
type Render = { chart: string; status: string; reason?: string; values: string[]; warnings?: string[] };
async function audit(dir: string): Promise<{ findings: Finding[]; charts: Render[] }> {
  const r = await runFerry(['audit', dir, '--bundle', 'gitops.ferry.tar', '-t', 'site.yaml', '--json'], { cwd: work, env: env() });
  expect(r.code === 0 || r.code === 5, r.stderr).toBe(true);
  return JSON.parse(r.stdout) as { findings: Finding[]; charts: Render[] };
}
const upstreamImages = (fs: Finding[]) => [...new Set(fs.filter((f) => f.value.startsWith(`${U}/acme/`)).map((f) => f.value))].sort();
const images = (...names: string[]) => names.map((n) => `${U}/acme/${n}:1.0`).sort();

const fluxRepo = (name: string, ns: string | undefined, url: string) =>
  `apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: ${name}\n${ns ? `  namespace: ${ns}\n` : ''}spec:\n  interval: 10m\n  url: ${url}\n`;
const fluxRelease = (name: string, ns: string | undefined, chartSpec: string[]) =>
  [
    'apiVersion: helm.toolkit.fluxcd.io/v2',
    'kind: HelmRelease',
    'metadata:',
    `  name: ${name}`,
    ...(ns ? [`  namespace: ${ns}`] : []),
    'spec:',
    '  interval: 10m',
    '  chart:',
    '    spec:',
    '      chart: shop',
    '      version: 0.1.0',
    ...chartSpec.map((l) => `      ${l}`),
    '',
  ].join('\n');

const app = (name: string, helm: string[], eol = '\n') => argoApplication({ name, repoUrl, helm, eol });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-gitops58-'));
  up = await startRegistry({ mode: 'http' });
  site = await startRegistry({ mode: 'http' });
  U = up.host;
  SITE = `localhost:${site.host.split(':')[1]}`;
  const layout = path.join(work, 'imgs');
  const names = ['web', 'sidecar', 'alt'];
  await writeOciLayout(layout, names.map((n) => ({ name: n, platforms: [{ architecture: 'amd64', layers: [{ files: BASE_FILES }, { files: { [`app/${n}`]: n } }] }] })));
  for (const n of names) await pushLayoutImage(up, layout, n, `acme/${n}:1.0`);

  // `shop` names web (and a sidecar it switches off) in values.yaml; two more values files ride in the archive.
  const shop = await deploymentChart(
    work,
    'shop',
    '0.1.0',
    `image:\n  registry: ${U}\n  repository: acme/web\n  tag: "1.0"\nsidecar:\n  enabled: false\n  image: ${U}/acme/sidecar:1.0\n`,
    `        - name: web\n          image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n{{- if .Values.sidecar.enabled }}\n        - name: sidecar\n          image: {{ .Values.sidecar.image | quote }}\n{{- end }}\n`,
  );
  await writeFile(path.join(shop, 'values-prod.yaml'), 'sidecar:\n  enabled: true\n');
  await writeFile(path.join(shop, 'values-alt.yaml'), `image:\n  registry: ${U}\n  repository: acme/alt\n  tag: "1.0"\nsidecar:\n  enabled: false\n`);
  ({ repo, repoUrl, siteCharts } = await serveDefaultImageCharts(work, U, [shop]));

  await mkdir(path.join(work, 'values'));
  await writeFile(path.join(work, 'values', 'web.yaml'), 'sidecar:\n  enabled: true\n');
  await writeFile(
    path.join(work, 'manifest.yaml'),
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: gitops58 }',
      'images:',
      `  - ref: ${U}/acme/alt:1.0`,
      'charts:',
      `  - { name: web, repo: "${repoUrl}", version: "1.2.0", values: [values/web.yaml] }`,
      `  - { name: shop, repo: "${repoUrl}", version: "0.1.0", values: [values/web.yaml] }`,
      '',
    ].join('\n'),
  );
  await lockBundleImport(work, SITE, siteCharts.port, ferry);
}, 240_000);

afterAll(async () => {
  await repo?.stop();
  await siteCharts?.stop();
  await up?.stop();
  await site?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('gitops58: Flux valuesFiles inside the chart archive', () => {
  it('values.yaml then values-prod.yaml: the sidecar the prod file switches on is rendered, and rewrite moves it with the chart\'s own image', async () => {
    await writeTree('flux-prod', {
      'sources.yaml': fluxRepo('shop-repo', 'flux-system', repoUrl),
      'release.yaml': fluxRelease('shop', 'flux-system', ['sourceRef: { kind: HelmRepository, name: shop-repo }', 'valuesFiles:', '  - values.yaml', '  - ./values-prod.yaml']),
    });
    const before = await audit('flux-prod');
    expect(upstreamImages(before.findings)).toEqual(images('sidecar', 'web'));
    const render = before.charts.find((c) => c.values.some((v) => v.includes('HelmRelease/shop')))!;
    expect(render.status).toBe('rendered');
    expect(JSON.stringify(render.warnings ?? [])).not.toMatch(/valuesFiles/);

    const r = await ferry(['rewrite', 'manifests', 'flux-prod', '-t', 'site.yaml', '--bundle', 'gitops.ferry.tar']);
    expect(r.stderr).not.toMatch(/release\.yaml:\d+: HelmRelease\/shop/);
    const values = (parseYaml(await readFile(path.join(work, 'flux-prod', 'release.yaml'), 'utf8')) as { spec: { values: Record<string, any> } }).spec.values;
    expect(values.image.registry).toBe(mirror());
    expect(values.sidecar.image).toBe(`${mirror()}/acme/sidecar:1.0`);
    expect(upstreamImages((await audit('flux-prod')).findings)).toEqual([]);
  });

  it('valuesFiles without values.yaml replace the chart\'s defaults; a path not in the chart fails as Flux fails it, and the object is left', async () => {
    const release = fluxRelease('missing', 'flux-system', ['sourceRef: { kind: HelmRepository, name: shop-repo }', 'valuesFiles: [values-nope.yaml]']);
    await writeTree('flux-alt', {
      'sources.yaml': fluxRepo('shop-repo', 'flux-system', repoUrl),
      'release.yaml': fluxRelease('shop', 'flux-system', ['sourceRef: { kind: HelmRepository, name: shop-repo }', 'valuesFiles: [values-alt.yaml]']),
      'missing.yaml': release,
    });
    const before = await audit('flux-alt');
    // Only alt: the chart's own values.yaml (web) is not among the files source-controller merged.
    expect(upstreamImages(before.findings)).toEqual(images('alt'));
    const missing = before.charts.find((c) => c.values.some((v) => v.includes('HelmRelease/missing')))!;
    expect(missing.status).toBe('not-rendered');
    expect(missing.reason).toMatch(/valuesFiles: values-nope\.yaml is not a values file of chart shop 0\.1\.0 \(no values file found at path 'values-nope\.yaml'\): Flux fails/);

    const r = await ferry(['rewrite', 'manifests', 'flux-alt', '-t', 'site.yaml', '--bundle', 'gitops.ferry.tar']);
    expect(r.stderr).toMatch(/missing\.yaml:\d+: HelmRelease\/missing: chart shop 0\.1\.0 not rendered: .*no values file found at path 'values-nope\.yaml'/);
    expect(await readFile(path.join(work, 'flux-alt', 'missing.yaml'), 'utf8')).toBe(release);
    const values = (parseYaml(await readFile(path.join(work, 'flux-alt', 'release.yaml'), 'utf8')) as { spec: { values: Record<string, any> } }).spec.values;
    expect(values.image.registry).toBe(mirror());
    expect(upstreamImages((await audit('flux-alt')).findings)).toEqual([]);
  });
});

describe('gitops58: Argo CD parameters as the repo-server passes them', () => {
  it('$ARGOCD_APP_NAME in a parameter is the Application\'s name; a value with commas is one string', async () => {
    await writeTree('argo-params', {
      'app.yaml': app('alt', ['parameters:', '  - { name: image.repository, value: acme/$ARGOCD_APP_NAME }', '  - { name: podAnnotations.note, value: "a,b" }']),
    });
    const { findings, charts } = await audit('argo-params');
    const render = charts.find((c) => c.values.some((v) => v.includes('Application/alt')))!;
    expect(render.status, render.reason).toBe('rendered');
    expect(upstreamImages(findings)).toEqual(images('alt'));
  });
});

describe('gitops58: a HelmRelease and its HelmRepository when namespaces are not written', () => {
  it('a release without namespace reads the repository without namespace, not the one of the same name in another namespace', async () => {
    await writeTree('flux-ns', {
      // Applied with kustomize's namespace: both in the same (unknown) namespace.
      'a-elsewhere.yaml': fluxRepo('shop-repo', 'other', 'https://charts.example.com/other'),
      'b-sources.yaml': fluxRepo('shop-repo', undefined, repoUrl),
      'c-release.yaml': fluxRelease('shop', undefined, ['sourceRef: { kind: HelmRepository, name: shop-repo }']),
    });
    const before = await audit('flux-ns');
    const render = before.charts.find((c) => c.values.some((v) => v.includes('HelmRelease/shop')));
    expect(render?.status).toBe('rendered');
    expect(upstreamImages(before.findings)).toEqual(images('web'));

    const r = await ferry(['rewrite', 'manifests', 'flux-ns', '-t', 'site.yaml', '--bundle', 'gitops.ferry.tar', '--allow-unmapped']);
    expect(r.stderr).not.toMatch(/c-release\.yaml:\d+: HelmRelease\/shop/);
    const values = (parseYaml(await readFile(path.join(work, 'flux-ns', 'c-release.yaml'), 'utf8')) as { spec: { values: Record<string, any> } }).spec.values;
    expect(values.image.registry).toBe(mirror());
  });

  it('two repositories either could be: not rendered, said why; the release is left', async () => {
    await writeTree('flux-ambiguous', {
      'a.yaml': fluxRepo('shop-repo', 'one', repoUrl),
      'b.yaml': fluxRepo('shop-repo', 'two', repoUrl),
      'c-release.yaml': fluxRelease('shop', undefined, ['sourceRef: { kind: HelmRepository, name: shop-repo }']),
    });
    const { charts } = await audit('flux-ambiguous');
    const render = charts.find((c) => c.values.some((v) => v.includes('HelmRelease/shop')))!;
    expect(render.status).toBe('not-rendered');
    expect(render.reason).toMatch(/2 objects of that name could be the one/);
    const r = await ferry(['rewrite', 'manifests', 'flux-ambiguous', '-t', 'site.yaml', '--bundle', 'gitops.ferry.tar', '--allow-unmapped']);
    expect(r.stderr).toMatch(/c-release\.yaml:\d+: HelmRelease\/shop: its HelmRepository shop-repo: 2 objects of that name could be the one/);
  });
});

describe('gitops58: rewrite edge cases in the object\'s values', () => {
  it('CRLF, flow maps, |- and > strings are merged (read back and rendered); an anchored values map others share and a key written twice are left with a warning', async () => {
    const shared = [
      'apiVersion: argoproj.io/v1alpha1',
      'kind: Application',
      'metadata: { name: shared, namespace: argocd }',
      'spec:',
      '  project: default',
      '  sources:',
      ...[0, 1].flatMap((i) => [`    - repoURL: ${repoUrl}`, '      chart: web', '      targetRevision: 1.2.0', '      helm:', i === 0 ? '        valuesObject: &v { sidecar: { enabled: true } }' : '        valuesObject: *v']),
      '  destination: { server: https://kubernetes.default.svc, namespace: shared }',
      '',
    ].join('\n');
    const twice = app('twice', ['values: |', '  sidecar:', '    enabled: true', '  image:', '    tag: "1.0"', '  image:', '    tag: "1.0"']);
    await writeTree('edges', {
      'crlf.yaml': app('crlf', ['valuesObject:', '  # on', '  sidecar:', '    enabled: true'], '\r\n'),
      'flow.yaml': app('flow', ['valuesObject: { sidecar: { enabled: true } }']),
      'strip.yaml': app('strip', ['values: |-', '  sidecar:', '    enabled: true']),
      'folded.yaml': app('folded', ['values: >', '  sidecar:', '    enabled: true']),
      'shared.yaml': shared,
      'twice.yaml': twice,
    });
    const r = await ferry(['rewrite', 'manifests', 'edges', '-t', 'site.yaml', '--bundle', 'gitops.ferry.tar']);
    const read = (f: string) => readFile(path.join(work, 'edges', f), 'utf8');
    // The edited objects stay valid for their controllers (Argo CD's and Flux's published schemas).
    const schema = await gitopsTreeProblems(path.join(work, 'edges'));
    expect(schema.problems).toEqual([]);
    expect(schema.judged).toBeGreaterThan(0);
    const helmOf = (text: string) => (parseYaml(text) as { spec: { source: { helm: { valuesObject?: Record<string, any>; values?: string } } } }).spec.source.helm;
    const movedIn = (v: Record<string, any> | undefined) => {
      expect(v?.image?.registry).toBe(mirror());
      expect(v?.sidecar).toEqual({ enabled: true, image: `${mirror()}/acme/sidecar:1.0` });
    };

    const crlf = await read('crlf.yaml');
    expect(crlf.replace(/\r\n/g, '')).not.toContain('\n');
    expect(crlf).toContain('# on\r\n');
    movedIn(helmOf(crlf).valuesObject);
    movedIn(helmOf(await read('flow.yaml')).valuesObject);
    for (const f of ['strip.yaml', 'folded.yaml']) {
      const values = helmOf(await read(f)).values;
      expect(typeof values).toBe('string');
      movedIn(parseYaml(values!) as Record<string, any>);
    }
    // Shared by an alias: not edited (each source would get the other's override), said why.
    expect(r.stderr).toMatch(/shared\.yaml:\d+: Application\/shared: chart web 1\.2\.0: the override cannot be merged into the object \(the map is the YAML anchor &v/);
    expect(await read('shared.yaml')).toBe(shared.replaceAll(`repoURL: ${repoUrl}`, `repoURL: http://localhost:${siteCharts.port}`));
    expect(r.stderr).toMatch(/twice\.yaml:\d+: Application\/twice: .*image.*(twice|written)/);
    expect(await read('twice.yaml')).toBe(twice.replace(`repoURL: ${repoUrl}`, `repoURL: http://localhost:${siteCharts.port}`));

    // What Argo CD renders now: only the objects left go upstream.
    const after = await audit('edges');
    const left = after.findings.filter((f) => f.value.startsWith(`${U}/acme/`)).map((f) => f.file);
    expect([...new Set(left)].sort()).toEqual(['edges/shared.yaml', 'edges/twice.yaml']);
  });
});
