import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { StaticServer } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { serveWebAndApiCharts } from '../support/gitops-charts.js';
import { gitopsSchemaProblems } from '../support/gitops-validate.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * GitOps chart sources: Argo CD (`Application`, `ApplicationSet`; `source` and `sources[]`) and
 * Flux (`HelmRepository` + `HelmRelease`, `OCIRepository`) fetch Helm charts themselves, so no
 * registry mirror configuration redirects them. Charts locked from a real HTTP chart repository
 * (nginx) and a real OCI registry (docker-registry, the chart pushed as `helm push` lays it out).
 *
 * What tripped: `audit` classed an Argo CD `repoURL` of a carried chart as "mirrored" (showing
 * the mirror location) so `--fail-on unmapped` passed, although Argo CD would fetch upstream;
 * `rewrite manifests` moved images in `helm.valuesObject` but left every chart source upstream.
 * Now audit reports such a source as still going out (it needs `rewrite manifests`), and the
 * rewrite points it where import put the chart, keeping name and version, refusing a version the
 * lock does not carry; rewritten objects are valid against Argo CD's and Flux's published schemas
 * (`@kubernetes-models/argo-cd`, `@kubernetes-models/flux-cd`), and a validator that refuses a broken one.
 */
let work: string;
let repo: StaticServer;
let reg: RunningRegistry;
let repoUrl: string;
let manifestFile: string;
let targetBoth: string;
let targetRegistry: string;
const SITE = 'registry.site.internal:5443';
const CHARTS = 'https://charts.site.internal/helm';
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0', FERRY_RETRY_MIN_MS: '10' });
let R: string; // the upstream registry host:port
let mirrorPath: (upstreamPath: string) => string;
/** Where an HTTP repository's chart lands in the registry: under the repository's host and path. */
const mirrorStable = (sub = '') => `${SITE}/gitops/${new URL(repoUrl).host.replace(':', '-')}/stable${sub}`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-gitops-'));
  reg = await startRegistry({ mode: 'http' });
  R = reg.host;
  ({ repo, repoUrl } = await serveWebAndApiCharts(work, reg));
  mirrorPath = (p) => `${SITE}/gitops/${R.replace(':', '-')}/${p}`;

  manifestFile = path.join(work, 'gitops.yaml');
  await writeFile(
    manifestFile,
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: gitops }',
      'charts:',
      `  - { repo: "${repoUrl}", name: web, version: 2.1.0, images: none }`,
      `  - { repo: "oci://${R}/charts", name: api, version: 1.0.0, images: none }`,
      '',
    ].join('\n'),
  );
  const head = ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'registry:', `  url: https://${SITE}`, '  prefix: gitops'];
  targetBoth = path.join(work, 'both.yaml');
  await writeFile(targetBoth, [...head, 'charts:', `  dir: ${path.join(work, 'mirror-charts')}`, `  baseUrl: ${CHARTS}`, ''].join('\n'));
  targetRegistry = path.join(work, 'registry-only.yaml');
  await writeFile(targetRegistry, [...head, ''].join('\n'));
  const r = await runFerry(['lock', manifestFile, '--insecure-registry', R], { env: env() });
  expect(r.code, r.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  await repo?.stop();
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The site's GitOps tree: every form of chart source, with comments and flow style a rewrite must keep. */
function siteFiles(version = '2.1.0'): Record<string, string> {
  return {
    'argo/web.yaml': `# Argo CD: web from the HTTP chart repository
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
  namespace: argocd
spec:
  project: default
  source:
    repoURL: ${repoUrl}   # upstream, for now
    chart: web
    targetRevision: ${version}
    helm:
      valuesObject:
        replicaCount: 2
  destination: { server: https://kubernetes.default.svc, namespace: web }
`,
    'argo/multi.yaml': `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: { name: multi, namespace: argocd }
spec:
  project: default
  sources:
    - repoURL: ${R}/charts
      chart: api
      targetRevision: 1.0.0
    - repoURL: "${repoUrl}/"
      chart: web
      targetRevision: 2.x
  destination: { server: https://kubernetes.default.svc, namespace: multi }
---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: { name: api-everywhere, namespace: argocd }
spec:
  generators: [{ list: { elements: [{ cluster: a }] } }]
  template:
    metadata: { name: "api-{{cluster}}" }
    spec:
      project: default
      source: { repoURL: "oci://${R}/charts", chart: api, targetRevision: 1.0.0 }
      destination: { server: https://kubernetes.default.svc, namespace: api }
---
# filled in by the generator: nothing ferry can judge, left alone
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: { name: from-list, namespace: argocd }
spec:
  generators: [{ list: { elements: [{ chart: api }] } }]
  template:
    metadata: { name: "{{chart}}" }
    spec:
      project: default
      source: { repoURL: "{{repo}}", chart: "{{chart}}", targetRevision: "{{version}}" }
      destination: { server: https://kubernetes.default.svc, namespace: api }
`,
    'flux/helm.yaml': `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: stable
  namespace: flux-system
spec:
  interval: 10m
  url: ${repoUrl} # the vendor's repository
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
  namespace: flux-system
spec:
  interval: 10m
  chart:
    spec:
      chart: web
      version: "${version}"
      sourceRef: { kind: HelmRepository, name: stable }
`,
    'flux/oci.yaml': `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: { name: charts-oci, namespace: flux-system }
spec:
  type: oci
  interval: 10m
  url: oci://${R}/charts
---
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: OCIRepository
metadata: { name: api, namespace: flux-system }
spec:
  interval: 10m
  url: oci://${R}/charts/api
  ref:
    tag: 1.0.0
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: { name: api, namespace: flux-system }
spec:
  interval: 10m
  chartRef: { kind: OCIRepository, name: api }
`,
  };
}

async function writeSite(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(work, name);
  for (const [f, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await writeFile(path.join(dir, f), text);
  }
  return dir;
}

async function audit(dir: string, target: string) {
  const r = await runFerry(['audit', dir, '--manifest', manifestFile, '--target', target, '--format', 'json', '--fail-on', 'unmapped'], { env: env() });
  return { code: r.code, stderr: r.stderr, report: JSON.parse(r.stdout) as { findings: Array<{ file: string; line: number; keyPath: string; value: string; class: string; note?: string; mirror?: string }> } };
}

async function rewrite(dir: string, target: string, ...extra: string[]) {
  return runFerry(['rewrite', 'manifests', dir, '-t', target, '--lock', path.join(work, 'gitops.lock.json'), ...extra], { env: env() });
}

/**
 * The rewritten objects are valid against Argo CD's and Flux's published schemas
 * (test/support/gitops-validate.ts), and an HTTP source stays HTTP, an OCI one is typed so.
 */
async function checkStructure(text: string): Promise<void> {
  const { problems, judged } = await gitopsSchemaProblems(text, 'rewritten');
  expect(problems).toEqual([]);
  expect(judged).toBeGreaterThan(0);
  // The generated validators accept fields their schema does not name (the API server prunes
  // them from a structural CRD): the source keys ferry writes are held to Argo CD's list here.
  const argoSource = (s: Record<string, unknown>) =>
    expect(Object.keys(s).filter((k) => !['repoURL', 'chart', 'targetRevision', 'helm', 'path', 'ref', 'kustomize', 'directory', 'plugin', 'name'].includes(k))).toEqual([]);
  for (const d of parseAllDocuments(text)) {
    const o = d.toJSON() as { kind: string; spec: Record<string, unknown> };
    if (o.kind === 'Application') for (const s of o.spec.source ? [o.spec.source] : (o.spec.sources as unknown[])) argoSource(s as Record<string, unknown>);
    if (o.kind === 'ApplicationSet') argoSource((o.spec.template as { spec: { source: Record<string, unknown> } }).spec.source);
    if (o.kind === 'HelmRepository') expect(String(o.spec.url).startsWith('oci://')).toBe(o.spec.type === 'oci');
  }
}

describe('GitOps chart sources', () => {
  it('the schema check passes the site as written and refuses what the controllers refuse', async () => {
    for (const [f, text] of Object.entries(siteFiles())) expect((await gitopsSchemaProblems(text, f)).problems, f).toEqual([]);
    const broken = siteFiles()['flux/oci.yaml'].replace('type: oci', 'type: git').replace('url: oci://', 'url: ftp://');
    const { problems } = await gitopsSchemaProblems(broken, 'broken');
    expect(problems.join('\n')).toContain('HelmRepository/charts-oci');
    expect(problems.join('\n')).toMatch(/allowed values/);
    expect(problems.join('\n')).toMatch(/must match pattern/);
    const app = siteFiles()['argo/web.yaml'].replace('repoURL:', 'repoUrl:');
    expect((await gitopsSchemaProblems(app, 'app')).problems.join('\n')).toContain('required property repoURL');
  });

  it('audit reports every upstream chart source as needing a rewrite; rewrite points it at the mirror; the rewritten tree audits clean', async () => {
    const dir = await writeSite('site', siteFiles());
    const before = await audit(dir, targetBoth);
    const sources = before.report.findings.filter((f) => /repoURL$|^spec\.url$/.test(f.keyPath));
    expect(sources.map((f) => `${f.file.replace(/^.*site\//, '')}:${f.line} ${f.class}`).sort()).toEqual(
      [
        'argo/multi.yaml:7 undeclared',
        'argo/multi.yaml:10 undeclared',
        'argo/multi.yaml:24 undeclared',
        'argo/web.yaml:10 undeclared',
        'flux/helm.yaml:8 undeclared',
        'flux/oci.yaml:7 undeclared',
        'flux/oci.yaml:14 undeclared',
      ].sort(),
    );
    for (const f of sources) expect(f.note, JSON.stringify(f)).toMatch(/fetches the chart from this URL as written.*ferry rewrite manifests/);
    const web = sources.find((f) => f.file.endsWith('argo/web.yaml'))!;
    expect(web.note).toContain(`chart web 2.1.0 is carried (on the mirror: ${CHARTS} (chart web 2.1.0))`);
    expect(before.code).not.toBe(0);

    const r = await rewrite(dir, targetBoth);
    expect(r.code, r.stderr).toBe(0);
    const webText = await readFile(path.join(dir, 'argo/web.yaml'), 'utf8');
    expect(webText).toBe(siteFiles()['argo/web.yaml'].replace(`repoURL: ${repoUrl}   #`, `repoURL: ${CHARTS}   #`));
    const multi = await readFile(path.join(dir, 'argo/multi.yaml'), 'utf8');
    expect(multi).toContain(`    - repoURL: ${mirrorPath('charts')}\n      chart: api\n      targetRevision: 1.0.0`);
    expect(multi).toContain(`    - repoURL: "${CHARTS}"\n      chart: web\n      targetRevision: 2.x`);
    expect(multi).toContain(`source: { repoURL: "oci://${mirrorPath('charts')}", chart: api, targetRevision: 1.0.0 }`);
    expect(multi).toContain('source: { repoURL: "{{repo}}", chart: "{{chart}}", targetRevision: "{{version}}" }');
    const helm = await readFile(path.join(dir, 'flux/helm.yaml'), 'utf8');
    expect(helm).toContain(`  url: ${CHARTS} # the vendor's repository\n`);
    expect(helm).not.toContain('type:');
    const oci = await readFile(path.join(dir, 'flux/oci.yaml'), 'utf8');
    expect(oci).toContain(`  type: oci\n  interval: 10m\n  url: oci://${mirrorPath('charts')}\n`);
    expect(oci).toContain(`  url: oci://${mirrorPath('charts/api')}\n  ref:\n    tag: 1.0.0\n`);
    for (const t of [webText, multi, helm, oci]) await checkStructure(t);
    // The chart on the mirror is where `ferry map` says import puts it.
    const map = await runFerry(['map', path.join(work, 'gitops.lock.json'), '--target', targetBoth], { env: env() });
    expect(map.code, map.stderr).toBe(0);
    expect(map.stdout).toContain(`${mirrorPath('charts/api')}:1.0.0`);
    expect(map.stdout).toContain(`${CHARTS}/web-2.1.0.tgz`);

    // Idempotent.
    const again = await rewrite(dir, targetBoth);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^0 replacements; changed 0 files/m);

    const after = await audit(dir, targetBoth);
    expect(after.code, JSON.stringify(after.report.findings.filter((f) => f.class === 'undeclared'))).toBe(0);
    for (const f of after.report.findings.filter((x) => /repoURL$|^spec\.url$/.test(x.keyPath))) expect(f.class).toBe('internal');
  });

  it('with a registry only, HTTP chart sources become OCI ones (Flux gains type: oci)', async () => {
    const dir = await writeSite('site-registry', siteFiles());
    const r = await rewrite(dir, targetRegistry);
    expect(r.code, r.stderr).toBe(0);
    const webText = await readFile(path.join(dir, 'argo/web.yaml'), 'utf8');
    expect(webText).toContain(`    repoURL: ${mirrorStable()}   # upstream, for now\n    chart: web\n`);
    const helm = await readFile(path.join(dir, 'flux/helm.yaml'), 'utf8');
    expect(helm).toContain(`  url: oci://${mirrorStable()} # the vendor's repository\n  type: oci\n`);
    await checkStructure(helm);
    await checkStructure(webText);
    const map = await runFerry(['map', path.join(work, 'gitops.lock.json'), '--target', targetRegistry], { env: env() });
    expect(map.stdout).toContain(`${mirrorStable('/web')}:2.1.0`);
    const again = await rewrite(dir, targetRegistry);
    expect(again.stdout).toMatch(/^0 replacements; changed 0 files/m);
    const after = await audit(dir, targetRegistry);
    expect(after.code, JSON.stringify(after.report.findings.filter((f) => f.class === 'undeclared'))).toBe(0);
  });

  it('a chart version the lock does not carry is refused, naming file, line and chart; --allow-unmapped leaves it', async () => {
    const dir = await writeSite('site-missing', siteFiles('9.9.9'));
    const r = await rewrite(dir, targetBoth);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('2 references not covered by the mirror; nothing was written');
    expect(r.stderr).toMatch(/argo\/web\.yaml:10 {2}chart web 9\.9\.9 from http:\/\/\S+\/stable {2}\(the lock carries web 2\.1\.0 from this repository, not this version; Application\/web spec\.source\.repoURL\)/);
    expect(r.stderr).toMatch(/flux\/helm\.yaml:19 {2}chart web 9\.9\.9 from \S+ {2}\(the lock carries web 2\.1\.0 from this repository, not this version; HelmRelease\/web/);
    expect(await readFile(path.join(dir, 'argo/web.yaml'), 'utf8')).toBe(siteFiles('9.9.9')['argo/web.yaml']);
    const allowed = await rewrite(dir, targetBoth, '--allow-unmapped');
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(await readFile(path.join(dir, 'argo/web.yaml'), 'utf8')).toContain(`repoURL: ${repoUrl}   #`);
    const audited = await audit(dir, targetBoth);
    const web = audited.report.findings.find((f) => f.file.endsWith('argo/web.yaml') && f.keyPath === 'spec.source.repoURL')!;
    expect(web.class).toBe('undeclared');
    expect(web.note).toContain('chart web 9.9.9 is not carried');
  });
});
