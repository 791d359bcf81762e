import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { type StaticServer } from '../support/chart-repo.js';
import { argoApplication, deploymentChart, serveDefaultImageCharts } from '../support/gitops-charts.js';
import { mustRun, mustRunFerry, runFerry } from '../support/cli.js';
import { gitopsTreeProblems } from '../support/gitops-validate.js';
import { BASE_FILES, pushLayoutImage, writeOciLayout } from '../support/images.js';
import { skopeoEnv, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * `rewrite manifests` moves the images a GitOps-installed chart's own defaults and templates name,
 * in the object that installs it: three charts (`web` from an HTTP chart repository served by nginx,
 * `api` pushed to a Distribution registry as OCI, `agent` from the HTTP repository) are locked,
 * bundled and imported into a mirror registry and charts.dir; a GitOps tree installs them with an
 * Argo CD Application (valuesObject), one with a `helm.values` string, a Flux HelmRelease from an
 * OCIRepository, and a k3s HelmChart with a HelmChartConfig. After `rewrite manifests --bundle`,
 * `audit --bundle` of the tree (which renders each chart as its controller does) finds no default
 * image going upstream, except the one `agent`'s template writes with a host no values key sets:
 * that one is named in a warning and left.
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
const mirrorOf = (p: string) => `${SITE}/mirror/${U.replace(':', '-')}/${p}`;

/** An Argo CD Application installing `web` 1.2.0 from the chart repository, with these `helm:` lines (at 6 spaces). */
const argoWeb = (name: string, helm: string[]) => argoApplication({ name, repoUrl, helm });

const TREE = (): Record<string, string> => ({
  'apps/argo/web.yaml': argoWeb('web', ['valuesObject:', '  # the sidecar runs here', '  sidecar:', '    enabled: true']),
  'apps/argo/web-string.yaml': argoWeb('web2', ['values: |', '  # kept as written', '  sidecar:', '    enabled: true']),
  'apps/flux/sources.yaml': `apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\nmetadata: { name: api-chart, namespace: flux-system }\nspec:\n  interval: 10m\n  url: oci://${U}/charts/api\n  ref:\n    tag: 0.5.0\n`,
  'apps/flux/api.yaml': `apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: { name: api, namespace: flux-system }\nspec:\n  interval: 10m\n  chartRef: { kind: OCIRepository, name: api-chart }\n  values:\n    worker:\n      image:\n        repository: ${U}/acme/worker  # set by the site\n        tag: "1.0"\n`,
  'apps/kustomize/kustomization.yaml': [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'helmCharts:',
    '  - name: web',
    `    repo: ${repoUrl}`,
    '    version: 1.2.0',
    '    releaseName: web3',
    '    valuesInline:',
    '      sidecar: { enabled: true }',
    '',
  ].join('\n'),
  'apps/k3s/agent.yaml': [
    'apiVersion: helm.cattle.io/v1',
    'kind: HelmChart',
    'metadata: { name: agent, namespace: kube-system }',
    'spec:',
    `  repo: ${repoUrl}`,
    '  chart: agent',
    '  version: 0.3.0',
    '  targetNamespace: agent',
    '  valuesContent: |-',
    '    replicas: 2',
    '---',
    'apiVersion: helm.cattle.io/v1',
    'kind: HelmChartConfig',
    'metadata: { name: agent, namespace: kube-system }',
    'spec:',
    '  valuesContent: |-',
    '    agent:',
    '      image:',
    '        tag: "1.0"',
    '',
  ].join('\n'),
});

async function writeTree(dir: string): Promise<void> {
  for (const [f, text] of Object.entries(TREE())) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await writeFile(path.join(dir, f), text);
  }
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-gitops-defaults-'));
  up = await startRegistry({ mode: 'http' });
  site = await startRegistry({ mode: 'http' });
  U = up.host;
  SITE = `localhost:${site.host.split(':')[1]}`;
  const layout = path.join(work, 'imgs');
  const names = ['web', 'sidecar', 'api', 'worker', 'agent', 'odd'];
  await writeOciLayout(layout, names.map((n) => ({ name: n, platforms: [{ architecture: 'amd64', layers: [{ files: BASE_FILES }, { files: { [`app/${n}`]: n } }] }] })));
  for (const n of names) await pushLayoutImage(up, layout, n, `acme/${n}:1.0`);

  // `odd`'s host is written in the template itself: no values key moves it (the proof cannot be made).
  const agent = await deploymentChart(
    work,
    'agent',
    '0.3.0',
    `replicas: 1\nagent:\n  image:\n    registry: ${U}\n    repository: acme/agent\n    tag: latest\n`,
    `        - name: agent\n          image: "{{ .Values.agent.image.registry }}/{{ .Values.agent.image.repository }}:{{ .Values.agent.image.tag }}"\n        - name: odd\n          image: "${U}/acme/odd:{{ .Values.agent.image.tag }}"\n`,
  );
  ({ repo, repoUrl, siteCharts } = await serveDefaultImageCharts(work, U, [agent]));

  await mkdir(path.join(work, 'values'));
  await writeFile(path.join(work, 'values', 'web.yaml'), 'sidecar:\n  enabled: true\n');
  await writeFile(path.join(work, 'values', 'agent.yaml'), 'agent:\n  image:\n    tag: "1.0"\n');
  await writeFile(
    path.join(work, 'manifest.yaml'),
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: gitops }',
      'charts:',
      `  - { name: web, repo: "${repoUrl}", version: "1.2.0", values: [values/web.yaml] }`,
      `  - { name: agent, repo: "${repoUrl}", version: "0.3.0", values: [values/agent.yaml] }`,
      `  - { name: api, repo: "oci://${U}/charts", version: "0.5.0" }`,
      '',
    ].join('\n'),
  );
  await writeFile(
    path.join(work, 'site.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'registry:', `  url: http://${SITE}`, '  prefix: mirror', `charts: { dir: ./site-charts, baseUrl: "http://localhost:${siteCharts.port}" }`, ''].join('\n'),
  );
  await writeTree(path.join(work, 'gitops'));
  await ferry(['lock', 'manifest.yaml']);
  await ferry(['bundle', 'create', 'manifest.yaml', '-o', 'gitops.ferry.tar']);
  await ferry(['import', 'gitops.ferry.tar', '--target', 'site.yaml']);
}, 240_000);

afterAll(async () => {
  await repo?.stop();
  await siteCharts?.stop();
  await up?.stop();
  await site?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

type Finding = { class: string; value: string; file?: string };
async function auditFindings(dir: string): Promise<Finding[]> {
  const r = await runFerry(['audit', dir, '--bundle', 'gitops.ferry.tar', '-t', 'site.yaml', '--json'], { cwd: work, env: env() });
  expect(r.code === 0 || r.code === 5, r.stderr).toBe(true);
  return (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
}
const upstreamImages = (fs: Finding[]) => [...new Set(fs.filter((f) => f.value.startsWith(`${U}/acme/`)).map((f) => f.value))].sort();

describe('rewrite manifests moves the images a GitOps-installed chart deploys by its own defaults', () => {
  it('dry-run shows the merge as a diff and writes nothing', async () => {
    const dir = path.join(work, 'dry');
    await writeTree(dir);
    const r = await ferry(['rewrite', 'manifests', 'dry', '-t', 'site.yaml', '--bundle', 'gitops.ferry.tar', '--dry-run']);
    expect(r.stdout).toContain(`+          registry: ${mirrorOf('')}`.replace(/\/$/, ''));
    for (const [f, text] of Object.entries(TREE())) expect(await readFile(path.join(dir, f), 'utf8')).toBe(text);
  });

  it('--cache-dir beside --bundle is refused (the archives come from the bundle), not silently left unread', async () => {
    const dir = path.join(work, 'both');
    await writeTree(dir);
    const r = await runFerry(['rewrite', 'manifests', 'both', '-t', 'site.yaml', '--bundle', 'gitops.ferry.tar', '--cache-dir', 'cache'], { cwd: work, env: env() });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('--cache-dir cache with --bundle gitops.ferry.tar: the chart archives are read from the bundle');
    for (const [f, text] of Object.entries(TREE())) expect(await readFile(path.join(dir, f), 'utf8')).toBe(text);
  });

  it('values ferry cannot read (another source\'s file, a valuesFrom not among the files): the warning names why, the values are left', async () => {
    const dir = path.join(work, 'unknown');
    await mkdir(dir, { recursive: true });
    const app = [
      'apiVersion: argoproj.io/v1alpha1',
      'kind: Application',
      'metadata: { name: web-ref, namespace: argocd }',
      'spec:',
      '  sources:',
      `    - repoURL: ${repoUrl}`,
      '      chart: web',
      '      targetRevision: 1.2.0',
      '      helm:',
      '        valueFiles: [$values/web/values.yaml]',
      '    - repoURL: https://git.example.com/site.git',
      '      ref: values',
      '',
    ].join('\n');
    const release = `apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: { name: api, namespace: flux-system }\nspec:\n  chartRef: { kind: OCIRepository, name: api-chart }\n  valuesFrom:\n    - { kind: ConfigMap, name: api-values }\n`;
    await writeFile(path.join(dir, 'app.yaml'), app);
    await writeFile(path.join(dir, 'release.yaml'), release);
    await writeFile(path.join(dir, 'sources.yaml'), TREE()['apps/flux/sources.yaml']);
    const r = await ferry(['rewrite', 'manifests', 'unknown', '-t', 'site.yaml', '--bundle', 'gitops.ferry.tar']);
    expect(r.stderr).toMatch(/app\.yaml:\d+: Application\/web-ref: chart web 1\.2\.0 is rendered with values ferry cannot read here \(.*\$values\/web\/values\.yaml: a file of another source's repository.*\); the images the chart's own defaults and templates name were not moved/);
    expect(r.stderr).toMatch(/release\.yaml:\d+: HelmRelease\/api: chart api 0\.5\.0 is rendered with values ferry cannot read here \(spec\.valuesFrom\[0\] ConfigMap\/api-values values\.yaml: not in the scan/);
    // Only the chart sources moved: no values were added to either object.
    expect(await readFile(path.join(dir, 'app.yaml'), 'utf8')).toBe(app.replace(`repoURL: ${repoUrl}`, `repoURL: http://localhost:${siteCharts.port}`));
    expect(await readFile(path.join(dir, 'release.yaml'), 'utf8')).toBe(release);
  });

  it('the audit before finds every default image going upstream; after the rewrite, only the one no key can move, which the rewrite named', async () => {
    const before = await auditFindings('gitops');
    expect(upstreamImages(before)).toEqual(['agent', 'api', 'odd', 'sidecar', 'web', 'worker'].map((n) => `${U}/acme/${n}:1.0`).sort());

    const r = await ferry(['rewrite', 'manifests', 'gitops', '-t', 'site.yaml', '--bundle', 'gitops.ferry.tar']);
    // The image the template writes with its own host: named with its object, never reported moved.
    expect(r.stderr).toMatch(/apps\/k3s\/agent\.yaml:\d+: HelmChart\/agent: chart agent 0\.3\.0 runs an image ferry could not point at the mirror: .*acme\/odd:1\.0/);
    expect(r.stderr).not.toMatch(/(web|web-string|api)\.yaml:\d+: .*not moved/);

    const read = (f: string) => readFile(path.join(work, 'gitops', f), 'utf8');
    // The edited objects stay valid for their controllers (Argo CD's and Flux's published schemas).
    const schema = await gitopsTreeProblems(path.join(work, 'gitops'));
    expect(schema.problems).toEqual([]);
    expect(schema.judged).toBeGreaterThan(0);
    // Argo CD valuesObject: the override merged in, the comment and the object's own key kept.
    const web = await read('apps/argo/web.yaml');
    expect(web).toContain('        # the sidecar runs here\n        sidecar:\n          enabled: true\n');
    const webValues = (parseYaml(web) as { spec: { source: { helm: { valuesObject: Record<string, any> } } } }).spec.source.helm.valuesObject;
    expect(webValues.image.registry).toBe(`${SITE}/mirror/${U.replace(':', '-')}`);
    expect(webValues.sidecar).toEqual({ enabled: true, image: `${mirrorOf('acme/sidecar')}:1.0` });
    // Argo CD values string: still a string, its comment kept, the override inside it.
    const web2 = parseYaml(await read('apps/argo/web-string.yaml')) as { spec: { source: { helm: { values: string; valuesObject?: unknown } } } };
    expect(typeof web2.spec.source.helm.values).toBe('string');
    expect(web2.spec.source.helm.valuesObject).toBeUndefined();
    expect(web2.spec.source.helm.values).toContain('# kept as written\n');
    expect((parseYaml(web2.spec.source.helm.values) as Record<string, any>).image.registry).toBe(`${SITE}/mirror/${U.replace(':', '-')}`);
    // Flux spec.values: the worker the object named was moved as before, the api the chart names added.
    const api = await read('apps/flux/api.yaml');
    expect(api).toContain(`repository: ${mirrorOf('acme/worker')}  # set by the site\n`);
    expect((parseYaml(api) as { spec: { values: Record<string, any> } }).spec.values.image.repository).toBe(mirrorOf('acme/api'));
    // k3s: the HelmChart's valuesContent (a string still), the HelmChartConfig's tag kept where it was.
    const [chart, config] = parseAllDocuments(await read('apps/k3s/agent.yaml')).map((d) => d.toJS() as { spec: { valuesContent: string } });
    const agentValues = parseYaml(chart.spec.valuesContent) as Record<string, any>;
    expect(agentValues.replicas).toBe(2);
    expect(agentValues.agent.image.registry).toBe(`${SITE}/mirror/${U.replace(':', '-')}`);
    expect(config.spec.valuesContent).toBe('agent:\n  image:\n    tag: "1.0"');

    // kustomize helmCharts: valuesInline (a flow map inside it keeps its style).
    const kust = await read('apps/kustomize/kustomization.yaml');
    const inline = (parseYaml(kust) as { helmCharts: Array<{ valuesInline: Record<string, any> }> }).helmCharts[0].valuesInline;
    expect(inline).toEqual({ sidecar: { enabled: true, image: `${mirrorOf('acme/sidecar')}:1.0` }, image: { registry: `${SITE}/mirror/${U.replace(':', '-')}` } });
    expect(kust).toContain(`      sidecar: { enabled: true, image: ${mirrorOf('acme/sidecar')}:1.0 }\n`);

    // What the controllers run now, as the audit renders each chart with the rewritten objects.
    const after = await auditFindings('gitops');
    expect(upstreamImages(after), JSON.stringify(after.filter((f) => f.value.includes(U)), null, 1)).toEqual([`${U}/acme/odd:1.0`]);
    // Every moved image is on the mirror registry (skopeo, an independent client).
    for (const n of ['web', 'sidecar', 'api', 'worker', 'agent']) {
      await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${site.host}/mirror/${U.replace(':', '-')}/acme/${n}:1.0`], { env: skopeoEnv() });
    }
    // Rewriting again changes nothing.
    const copy = path.join(work, 'again');
    await cp(path.join(work, 'gitops'), copy, { recursive: true });
    await ferry(['rewrite', 'manifests', 'again', '-t', 'site.yaml', '--bundle', 'gitops.ferry.tar']);
    for (const f of Object.keys(TREE())) expect(await readFile(path.join(copy, f), 'utf8')).toBe(await read(f));
  });
});
