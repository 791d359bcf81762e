import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { StaticServer } from '../support/chart-repo.js';
import { runCommand, runFerry } from '../support/cli.js';
import { serveWebAndApiCharts } from '../support/gitops-charts.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * Kustomize, second round: what `kustomize build` fetches or pulls that ferry did not see.
 *
 * What tripped:
 * - `helmCharts:` (kustomize's Helm inflator, `--enable-helm`): kustomize fetches the chart from
 *   `repo` itself, so no registry mirror redirects it; audit classed a carried repository's URL as
 *   "mirrored" (a false clean) and `rewrite manifests` left `repo` upstream;
 * - remote `resources:`/`components:` (git URLs, `github.com/…`, `git@…`, plain https files):
 *   audit did not list the bare and scp-like forms at all, and named none of them as a remote base;
 * - overrides across the chain: a base's `images:` applies first, then the overlay's (checked with
 *   the real `kubectl kustomize`); only the nearest kustomization's override was applied;
 * - YAML merge keys in `images:` entries (`<<: *pin`) were not expanded.
 * Real docker-registry (images and an OCI chart), nginx (an HTTP chart repository), `kubectl kustomize`.
 */
let work: string;
let upstream: RunningRegistry;
let repo: StaticServer;
let seeded: SeededImages;
let H: string;
let repoUrl: string;
let lockFile: string;
let manifestFile: string;
let targetFile: string;
const SITE = 'registry.site.internal:5443';
const CHARTS = 'https://charts.site.internal/helm';
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0', FERRY_RETRY_MIN_MS: '10' });
const mirrorOf = (p: string) => `${SITE}/k2/${H.replace(':', '-')}/${p}`;

type Finding = { file: string; line: number; keyPath: string; kind: string; value: string; class: string; host?: string; note?: string };

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-kustomize2-'));
  upstream = await startRegistry({ mode: 'http' });
  H = upstream.host;
  seeded = await seedImages(upstream);
  ({ repo, repoUrl } = await serveWebAndApiCharts(work, upstream));
  manifestFile = path.join(work, 'k2.yaml');
  await writeFile(
    manifestFile,
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: k2 }',
      'images:',
      `  - ref: ${seeded.refs.app}`,
      `  - ref: ${H}/ferry-test/base@${seeded.digests.base}`,
      'charts:',
      `  - { repo: "${repoUrl}", name: web, version: 2.1.0, images: none }`,
      `  - { repo: "oci://${H}/charts", name: api, version: 1.0.0, images: none }`,
      '',
    ].join('\n'),
  );
  targetFile = path.join(work, 'site.yaml');
  await writeFile(
    targetFile,
    ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'registry:', `  url: https://${SITE}`, '  prefix: k2', 'charts:', `  dir: ${path.join(work, 'mirror-charts')}`, `  baseUrl: ${CHARTS}`, ''].join('\n'),
  );
  const r = await runFerry(['lock', manifestFile, '--insecure-registry', H], { env: env() });
  expect(r.code, r.stderr).toBe(0);
  lockFile = path.join(work, 'k2.lock.json');
}, 180_000);

afterAll(async () => {
  await repo?.stop();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function writeTree(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(work, name);
  for (const [f, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await writeFile(path.join(dir, f), text);
  }
  return dir;
}

async function audit(dir: string) {
  const r = await runFerry(['audit', dir, '--manifest', manifestFile, '--target', targetFile, '--format', 'json', '--fail-on', 'unmapped'], { env: env() });
  expect(r.stdout, r.stderr).not.toBe('');
  return { code: r.code, findings: (JSON.parse(r.stdout) as { findings: Finding[] }).findings };
}

const rewrite = (dir: string, ...extra: string[]) => runFerry(['rewrite', 'manifests', dir, '-t', targetFile, '--lock', lockFile, ...extra], { env: env() });

async function kustomizeImages(dir: string): Promise<string[]> {
  const built = await runCommand('kubectl', ['kustomize', dir]);
  expect(built.code, built.stderr).toBe(0);
  return [...built.stdout.matchAll(/image: (\S+)/g)].map((m) => m[1]).sort();
}

const deployment = (containers: string, init = '') => `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
${init}      containers:
${containers}`;

function helmKustomization(webVersion = '2.1.0'): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
helmCharts:
  - name: web
    repo: ${repoUrl}   # the vendor's repository
    version: ${webVersion}
    releaseName: web
    includeCRDs: false
    valuesInline:
      image:
        repository: ${H}/ferry-test/app
        tag: "1"
      sidecar:
        image: ${seeded.refs.app}
  - name: api
    repo: oci://${H}/charts
    version: 1.0.0
    releaseName: api
`;
}

describe('kustomize helmCharts, remote bases, overrides across the chain', () => {
  it('helmCharts: audit reports each chart source as going out until rewritten; rewrite points repo at the mirror, and valuesInline images move too', async () => {
    const dir = await writeTree('helm', { 'kustomization.yaml': helmKustomization() });
    const before = await audit(dir);
    expect(before.code).not.toBe(0);
    const sources = before.findings.filter((f) => /^helmCharts\[\d\]\.repo$/.test(f.keyPath));
    expect(sources.map((f) => `${f.line} ${f.keyPath} ${f.class}`)).toEqual(['5 helmCharts[0].repo undeclared', '16 helmCharts[1].repo undeclared']);
    for (const f of sources) expect(f.note, JSON.stringify(f)).toMatch(/Kustomize Kustomization fetches the chart from this URL as written.*ferry rewrite manifests/);
    expect(sources[0].note).toContain(`chart web 2.1.0 is carried (on the mirror: ${CHARTS} (chart web 2.1.0))`);
    expect(sources[1].note).toContain(`chart api 1.0.0 is carried (on the mirror: oci://${mirrorOf('charts')}/api:1.0.0)`);

    const r = await rewrite(dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const text = await readFile(path.join(dir, 'kustomization.yaml'), 'utf8');
    expect(text).toContain(`    repo: ${CHARTS}   # the vendor's repository\n    version: 2.1.0\n`);
    expect(text).toContain(`    repo: oci://${mirrorOf('charts')}\n    version: 1.0.0\n`);
    const k = parseYaml(text) as { helmCharts: Array<{ valuesInline?: { image: { repository: string; tag: string }; sidecar: { image: string } } }> };
    expect(k.helmCharts[0].valuesInline).toEqual({ image: { repository: mirrorOf('ferry-test/app'), tag: '1' }, sidecar: { image: `${mirrorOf('ferry-test/app')}:1` } });
    // Only values change: every entry keeps the fields kustomize's HelmChart type defines (helm is not installed here to inflate it).
    for (const c of k.helmCharts) expect(Object.keys(c).every((f) => ['name', 'repo', 'version', 'releaseName', 'includeCRDs', 'valuesInline'].includes(f))).toBe(true);

    const again = await rewrite(dir);
    expect(again.stdout).toMatch(/^0 replacements; changed 0 files/m);
    const after = await audit(dir);
    expect(after.code, JSON.stringify(after.findings.filter((f) => f.class !== 'internal' && f.class !== 'mirrored'))).toBe(0);
    for (const f of after.findings.filter((x) => /^helmCharts\[\d\]\.repo$/.test(x.keyPath))) expect(f.class).toBe('internal');
  });

  it('helmCharts: a chart version the lock lacks is refused with file, line and chart named', async () => {
    const dir = await writeTree('helm-missing', { 'kustomization.yaml': helmKustomization('9.9.9') });
    const r = await rewrite(dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/kustomization\.yaml:5 {2}chart web 9\.9\.9 from http:\/\/\S+\/stable {2}\(the lock carries web 2\.1\.0 from this repository, not this version; Kustomization helmCharts\[0\]\.repo\)/);
    expect(await readFile(path.join(dir, 'kustomization.yaml'), 'utf8')).toBe(helmKustomization('9.9.9'));
    const a = await audit(dir);
    expect(a.findings.find((f) => f.keyPath === 'helmCharts[0].repo')).toMatchObject({ class: 'undeclared', note: expect.stringContaining('chart web 9.9.9 is not carried') });
  });

  it('remote resources and components are outbound dependencies with their host named and a hint to vendor them; local paths stay local', async () => {
    const dir = await writeTree('remote', {
      'app/kustomization.yaml': `resources:
  - deploy.yaml
  - ../shared
  - https://github.com/org/repo//deploy/base?ref=v1.2.0
  - github.com/org/other/overlays/prod?ref=v2
  - git@gitlab.example.com:org/infra.git//base
  - https://example.com/manifests/x.yaml
components:
  - ssh://git@git.example.org/org/components.git//monitoring?ref=main
`,
      'app/deploy.yaml': deployment(`        - name: web\n          image: ${seeded.refs.app}\n`),
      'shared/kustomization.yaml': 'resources: [cm.yaml]\n',
      'shared/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: shared }\n',
    });
    const a = await audit(dir);
    expect(a.code).not.toBe(0);
    const remote = a.findings.filter((f) => /^(resources|components)\[\d\]$/.test(f.keyPath));
    expect(remote.map((f) => `${f.line} ${f.host} ${f.class}`)).toEqual([
      '4 github.com undeclared',
      '5 github.com undeclared',
      '6 gitlab.example.com undeclared',
      '7 example.com undeclared',
      '9 git.example.org undeclared',
    ]);
    for (const f of remote) expect(f.note, JSON.stringify(f)).toMatch(/kustomize fetches this remote (resources|components) entry from \S+ at build time.*vendor it into the repository/);
    // Local entries are no findings at all.
    expect(a.findings.filter((f) => f.value === 'deploy.yaml' || f.value === '../shared')).toEqual([]);

    const r = await rewrite(path.join(dir, 'app'), '--json');
    expect(r.code, r.stderr).toBe(0);
    const warnings = (JSON.parse(r.stdout) as { warnings: string[] }).warnings;
    expect(warnings.filter((w) => /vendor it into the repository/.test(w)).map((w) => /:(\d+): Kustomization (\S+) is/.exec(w)!.slice(1).join(' '))).toEqual([
      '4 resources[2]',
      '5 resources[3]',
      '6 resources[4]',
      '7 resources[5]',
      '9 components[0]',
    ]);
  });

  it('a base override applies first, then each overlay that includes it (as kubectl kustomize builds it); a renamed image no longer matches the overlay', async () => {
    const files = {
      'base/deploy.yaml': deployment(`        - name: web\n          image: ${H}/ferry-test/app:0.9\n`, `      initContainers:\n        - name: init\n          image: base-placeholder\n`),
      'base/kustomization.yaml': `resources: [deploy.yaml]
images:
  - name: ${H}/ferry-test/app
    newTag: "0.5"
  - name: base-placeholder
    newName: ${H}/ferry-test/base
    digest: ${seeded.digests.base}
`,
      'overlays/prod/kustomization.yaml': `resources: [../../base]
images:
  - name: ${H}/ferry-test/app
    newTag: "1"
  - name: base-placeholder   # renamed by the base already: matches nothing
    newTag: "9"
`,
      'overlays/dev/kustomization.yaml': 'resources:\n  - ../../base\n',
    };
    const dir = await writeTree('chain', files);
    expect(await kustomizeImages(path.join(dir, 'overlays/prod'))).toEqual([`${H}/ferry-test/app:1`, `${H}/ferry-test/base@${seeded.digests.base}`].sort());
    expect(await kustomizeImages(path.join(dir, 'overlays/dev'))).toEqual([`${H}/ferry-test/app:0.5`, `${H}/ferry-test/base@${seeded.digests.base}`].sort());

    const a = await audit(dir);
    const web = a.findings.filter((f) => f.file.endsWith('base/deploy.yaml') && f.keyPath === 'spec.template.spec.containers[0].image');
    // One finding for each way the image is pulled: prod pulls the carried 1, dev the base's 0.5.
    expect(web.map((f) => `${f.value} ${f.class}`).sort()).toEqual([`${H}/ferry-test/app:0.5 undeclared`, `${H}/ferry-test/app:1 mirrored`]);
    expect(web.find((f) => f.value.endsWith(':1'))!.note).toMatch(/base\/kustomization\.yaml images\[0\], then \S*overlays\/prod\/kustomization\.yaml images\[0\] says/);
    const init = a.findings.filter((f) => f.file.endsWith('base/deploy.yaml') && f.keyPath === 'spec.template.spec.initContainers[0].image');
    expect(init.map((f) => `${f.value} ${f.class}`)).toEqual([`${H}/ferry-test/base@${seeded.digests.base} mirrored`]);

    // The rewrite judges the resource through the chain too: dev's 0.5 is named at the resource.
    const r = await rewrite(dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/base\/deploy\.yaml:\d+ {2}\S+\/ferry-test\/app:0\.9 {2}\(pulled as \S+\/ferry-test\/app:0\.5 \(kustomization\.yaml images\[0\]\)/);
    expect(r.stderr).not.toMatch(/pulled as \S+\/ferry-test\/app:1 /);
  });

  it('an overlay pinning an image the lock lacks is named at the base resource it reaches', async () => {
    const dir = await writeTree('chain-overlay', {
      'base/deploy.yaml': deployment(`        - name: web\n          image: ${H}/ferry-test/app:0.9\n`),
      'base/kustomization.yaml': `resources: [deploy.yaml]\nimages:\n  - name: ${H}/ferry-test/app\n    newTag: "1"\n`,
      'overlays/prod/kustomization.yaml': `resources: [../../base]\nimages:\n  - name: ${H}/ferry-test/app\n    newTag: "0.7"\n`,
    });
    expect(await kustomizeImages(path.join(dir, 'overlays/prod'))).toEqual([`${H}/ferry-test/app:0.7`]);
    const r = await rewrite(dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/base\/deploy\.yaml:11 {2}\S+\/ferry-test\/app:0\.9 {2}\(pulled as \S+\/ferry-test\/app:0\.7 \(kustomization\.yaml images\[0\], then \.\.\/overlays\/prod\/kustomization\.yaml images\[0\]\): tag 0\.7 not in the lock/);
  });

  it('YAML merge keys in images: entries are expanded, as kustomize reads them; the rewritten tree builds mirror images', async () => {
    const dir = await writeTree('merge', {
      'deploy.yaml': deployment(`        - name: web\n          image: app-alias:0.9\n        - name: side\n          image: ${H}/ferry-test/app:0.3\n`),
      'kustomization.yaml': `resources: [deploy.yaml]
images:
  - &pin
    name: ${H}/ferry-test/app
    newTag: "1"
  - <<: *pin
    name: app-alias
    newName: ${H}/ferry-test/app
`,
    });
    expect(await kustomizeImages(dir)).toEqual([`${H}/ferry-test/app:1`, `${H}/ferry-test/app:1`]);
    const a = await audit(dir);
    const alias = a.findings.find((f) => f.keyPath === 'spec.template.spec.containers[0].image')!;
    expect(alias).toMatchObject({ value: `${H}/ferry-test/app:1`, class: 'mirrored' });
    expect(a.findings.find((f) => f.keyPath === 'images[1].newName')).toMatchObject({ value: `${H}/ferry-test/app:1`, class: 'mirrored' });

    const r = await rewrite(dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await kustomizeImages(dir)).toEqual([`${mirrorOf('ferry-test/app')}:1`, `${mirrorOf('ferry-test/app')}:1`]);
    const after = await audit(dir);
    expect(after.code, JSON.stringify(after.findings.filter((f) => f.class !== 'internal'))).toBe(0);
  });
});
