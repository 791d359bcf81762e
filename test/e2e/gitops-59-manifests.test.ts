import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runFerry } from '../support/cli.js';
import { gitopsTreeProblems } from '../support/gitops-validate.js';
import { argoApplication } from '../support/gitops-charts.js';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { writeTree } from '../support/convert-output.js';
import { pushLayoutImage, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * gitops59: what `rewrite manifests` left upstream in silence, against a real Distribution
 * registry (the images), nginx (the chart repository) and `ferry lock` (its download cache holds
 * the archives the rewrite renders):
 * - an image only a chart entry's `imagePaths:` found, in a chart an Argo CD Application installs,
 *   is named with the object and the path (no values key is known to move it);
 * - an image handed over in a flag inside a shell-script `command` item is moved inside the
 *   string where it is written out as one word, or named (not on the mirror, written in pieces,
 *   a folded string);
 * - YAML merge keys (`<<: *base`) in an Application's `valuesObject` are read as the controllers'
 *   Go YAML readers read them; a value the override would have to change inside a merged-in map
 *   leaves the object with a warning, as an anchored map does, and so does a map whose merge the
 *   Go readers read differently.
 */

let work: string;
let repo: StaticServer;
let up: RunningRegistry;

const PLUGIN_PATH = '{.spec.artifact.location}';
const img = (name: string) => `${up.host}/acme/${name}`;
const MIRROR = 'mirror.site.internal:5000/mirror/';
const job = () => path.join(work, 'job');
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache') });
const rewrite = (dir: string, ...more: string[]) => runFerry(['rewrite', 'manifests', dir, '-t', 'site.yaml', '--lock', 'g59.lock.json', ...more], { cwd: job(), env: env() });
const read = (f: string) => readFile(path.join(job(), f), 'utf8');

const app = (name: string, chart: string, version: string, helm: string[]) => argoApplication({ name, repoUrl: repo.url, chart, version, helm });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-gitops59-'));
  const served = path.join(work, 'repo');
  await mkdir(served, { recursive: true });
  [repo, up] = await Promise.all([startStaticServer(served), startRegistry({ mode: 'http' })]);
  const names = ['manager', 'plugin', 'web', 'sidecar', 'dataplane'];
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, names.map((n) => ({ name: n, platforms: [{ architecture: 'amd64', layers: [{ files: { [n]: `${n}\n` } }] }] })));
  for (const n of names) await pushLayoutImage(up, layout, n, `acme/${n}:1.0`);
  // The operator runs its manager in a container and the plugin only in a custom resource field
  // the template composes (charts60): only the entry's imagePaths find the plugin.
  const operator = await writeTree(path.join(work, 'src', 'operator'), {
    'Chart.yaml': 'apiVersion: v2\nname: operator\nversion: 1.0.0\n',
    'values.yaml': `image: ${img('manager')}:1.0\nplugin:\n  registry: ${up.host}\n  version: "1.0"\n`,
    'templates/deployment.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: manager\nspec:\n  template:\n    spec:\n      containers:\n        - name: manager\n          image: {{ .Values.image }}\n',
    'templates/plugin.yaml': 'apiVersion: acme.io/v1\nkind: Plugin\nmetadata:\n  name: default\nspec:\n  artifact:\n    location: {{ .Values.plugin.registry }}/acme/plugin:{{ .Values.plugin.version }}\n',
  });
  // web: its image as registry/repository/tag, and a sidecar switched off by default.
  const web = await writeTree(path.join(work, 'src', 'web'), {
    'Chart.yaml': 'apiVersion: v2\nname: web\nversion: 1.2.0\n',
    'values.yaml': `image:\n  registry: ${up.host}\n  repository: acme/web\n  tag: "1.0"\nsidecar:\n  enabled: false\n  image: ${img('sidecar')}:1.0\n`,
    'templates/deployment.yaml':
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n{{- if .Values.sidecar.enabled }}\n        - name: sidecar\n          image: {{ .Values.sidecar.image | quote }}\n{{- end }}\n',
  });
  await writeRepoIndex(served, [await packageChart(operator, served), await packageChart(web, served)]);
  await writeTree(job(), {
    'manifest.yaml': [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: g59 }',
      'images:',
      `  - ref: ${img('dataplane')}:1.0`,
      'charts:',
      `  - { name: operator, repo: "${repo.url}", version: 1.0.0, imagePaths: ["${PLUGIN_PATH}"] }`,
      `  - { name: web, repo: "${repo.url}", version: 1.2.0, values: [web-on.yaml] }`,
      '',
    ].join('\n'),
    'web-on.yaml': 'sidecar:\n  enabled: true\n',
    'site.yaml': 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: http://mirror.site.internal:5000\n  prefix: mirror\n',
  });
  const l = await runFerry(['lock', 'manifest.yaml', '--insecure-registry', up.host], { cwd: job(), env: env() });
  expect(l.code, l.stderr).toBe(0);
}, 240_000);

afterAll(async () => {
  await Promise.all([repo?.stop(), up?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('gitops59: an image only imagePaths found, in a chart a GitOps object installs', () => {
  it('is named with the object, the image and the path; the chart\'s other image moves', async () => {
    await writeTree(path.join(job(), 'paths'), { 'app.yaml': app('ops', 'operator', '1.0.0', ['valuesObject:', '  replicas: 1']) });
    const r = await rewrite('paths');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(`app\\.yaml:\\d+: Application/ops: chart operator 1\\.0\\.0: ${img('plugin').replace(/[.]/g, '\\.')}:1\\.0 was found only by the chart entry's imagePaths \\{\\.spec\\.artifact\\.location\\} and is NOT moved`),
    );
    const values = (parseYaml(await read('paths/app.yaml')) as { spec: { source: { helm: { valuesObject: Record<string, string> } } } }).spec.source.helm.valuesObject;
    expect(values.image.startsWith(MIRROR)).toBe(true);
    expect(values.image.endsWith('/acme/manager:1.0')).toBe(true);
  }, 60_000);
});

describe('gitops59: an image handed over in a flag inside a shell-script command item', () => {
  const deploy = (name: string, script: string[], style = '|') =>
    [
      'apiVersion: apps/v1',
      'kind: Deployment',
      `metadata: { name: ${name} }`,
      'spec:',
      '  template:',
      '    spec:',
      '      containers:',
      `        - name: ${name}`,
      `          image: ${img('dataplane')}:1.0`,
      '          command:',
      '            - /bin/sh',
      '            - -ec',
      `            - ${style}`,
      ...script.map((l) => `              ${l}`),
      '',
    ].join('\n');

  it('a carried one is moved inside the string where it is one word; one not carried is refused, naming object, container and reference', async () => {
    const text = deploy('injector', [
      'mesh-control inject \\',
      '  -log-level=info \\',
      `  -dataplane-image="${img('dataplane')}:1.0" \\`,
      `  --init-image '${img('init')}:1.4' \\`,
      '  -listen=:8080',
      `echo ${img('dataplane')}:1.0-debug`,
    ]);
    await writeTree(path.join(job(), 'script'), { 'deploy.yaml': text });
    const refused = await rewrite('script');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`${img('init')}:1.4`);
    expect(refused.stderr).toMatch(/Deployment\/injector spec\.template\.spec\.containers\[0\]\.command\[2\] \(container injector: --init-image in a shell script/);
    expect(await read('script/deploy.yaml')).toBe(text);

    const r = await rewrite('script', '--allow-unmapped');
    expect(r.code, r.stderr).toBe(0);
    const after = await read('script/deploy.yaml');
    const script = (parseYaml(after) as { spec: { template: { spec: { containers: Array<{ command: string[]; image: string }> } } } }).spec.template.spec.containers[0];
    const moved = script.image;
    expect(moved.startsWith(MIRROR)).toBe(true);
    // The flag's reference is the mirror's; the rest of the script byte for byte (another word that only starts with the reference stays).
    expect(script.command[2]).toBe(
      ['mesh-control inject \\', '  -log-level=info \\', `  -dataplane-image="${moved}" \\`, `  --init-image '${img('init')}:1.4' \\`, '  -listen=:8080', `echo ${img('dataplane')}:1.0-debug`, ''].join('\n'),
    );
  }, 60_000);

  it('written in pieces, or in a folded string, it is named as left upstream, never passed over', async () => {
    const pieces = deploy('pieces', ['run \\', `  --x-image=${img('dataplane')}:"1.0"`]);
    const folded = deploy('folded', [`run --x-image=${img('dataplane')}:1.0 --y=1`], '>');
    await writeTree(path.join(job(), 'left'), { 'pieces.yaml': pieces, 'folded.yaml': folded });
    const r = await rewrite('left');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/pieces\.yaml:\d+: Deployment\/pieces [^\n]*command\[2\] \(container pieces: x-image in a shell script[^\n]*does not write it out as one word/);
    expect(r.stderr).toMatch(/folded\.yaml:\d+: Deployment\/folded [^\n]*command\[2\] \(container folded: x-image in a shell script[^\n]*cannot change it in place in a folded \(>\) block scalar/);
    // The containers' own images moved; the scripts as they were.
    expect(await read('left/pieces.yaml')).toContain(`--x-image=${img('dataplane')}:"1.0"`);
    expect(await read('left/folded.yaml')).toContain(`run --x-image=${img('dataplane')}:1.0 --y=1`);
  }, 60_000);
});

describe('gitops59: YAML merge keys in a GitOps object\'s inline values', () => {
  type Helm = { spec: { source: { helm: { valuesObject: Record<string, any> } } } };
  const valuesOf = async (f: string) => (parseYaml(await read(f), { merge: true }) as Helm).spec.source.helm.valuesObject;

  it('read as the controllers read them: a sidecar a merge key switches on is moved; a key a merged-in map holds, or a merge the Go readers disagree on, leaves the object', async () => {
    const merged = app('merged', 'web', '1.2.0', ['valuesObject:', '  toggles: &on', '    enabled: true', '  sidecar:', '    <<: *on']);
    // The sidecar map comes whole from the merge: a `sidecar:` key written here would replace it (the sidecar switched off again).
    const inherited = app('inherited', 'web', '1.2.0', ['valuesObject:', '  defaults: &on', '    sidecar: { enabled: true }', '  <<: *on']);
    const ordered = app('ordered', 'web', '1.2.0', ['valuesObject:', '  defaults: &off', '    sidecar: { enabled: false }', '  sidecar: { enabled: true }', '  <<: *off']);
    await writeTree(path.join(job(), 'merge'), { 'merged.yaml': merged, 'inherited.yaml': inherited, 'ordered.yaml': ordered });
    const r = await rewrite('merge');
    expect(r.code, r.stderr).toBe(0);

    // The merge key switches the sidecar on: its image is set in the sidecar map, after the << line.
    const m = await valuesOf('merge/merged.yaml');
    expect(m.sidecar.enabled).toBe(true);
    expect(m.sidecar.image.startsWith(MIRROR)).toBe(true);
    expect(m.sidecar.image.endsWith('/acme/sidecar:1.0')).toBe(true);
    expect(m.image.registry.startsWith(MIRROR)).toBe(true);
    expect(r.stderr).not.toMatch(/Application\/merged/);

    expect(r.stderr).toMatch(/inherited\.yaml:\d+: Application\/inherited: chart web 1\.2\.0: the override cannot be merged into the object \(sidecar comes from a YAML merge key \(<<\)/);
    // Only the chart source moved (to the mirror's chart repository); the values as they were.
    const sourceOnly = (t: string) => t.replace(/repoURL: .*/, 'repoURL:');
    expect(sourceOnly(await read('merge/inherited.yaml'))).toBe(sourceOnly(inherited));

    expect(r.stderr).toMatch(/ordered\.yaml:\d+: Application\/ordered: chart web 1\.2\.0 is rendered with values ferry cannot read here \(spec\.source\.helm\.valuesObject: sidecar is written before a YAML merge key \(<<\) that sets it too/);
    expect(sourceOnly(await read('merge/ordered.yaml'))).toBe(sourceOnly(ordered));
    // The edited objects stay valid for Argo CD (its published schema).
    for (const dir of ['merge', 'paths']) {
      const schema = await gitopsTreeProblems(path.join(job(), dir));
      expect(schema.problems).toEqual([]);
      expect(schema.judged).toBeGreaterThan(0);
    }
  }, 60_000);
});

describe('gitops59: audit reads YAML merge keys as the controllers do', () => {
  it('a sidecar a merge key switches on in an Application\'s values is rendered and reported; a key written beside the merge wins over it', async () => {
    const on = app('audit-on', 'web', '1.2.0', ['valuesObject:', '  toggles: &on', '    enabled: true', '  sidecar:', '    <<: *on']);
    // A key of the map itself wins over the merged one (YAML 1.1 merge): the sidecar stays off.
    const off = app('audit-off', 'web', '1.2.0', ['valuesObject:', '  toggles: &on', '    enabled: true', '  sidecar:', '    <<: *on', '    enabled: false']);
    const audit = async (dir: string, text: string) => {
      await writeTree(path.join(job(), dir), { 'app.yaml': text });
      const r = await runFerry(['audit', dir, '--manifest', 'manifest.yaml', '-t', 'site.yaml', '--format', 'json'], { cwd: job(), env: env() });
      return (JSON.parse(r.stdout) as { findings: Array<{ value: string }> }).findings.map((f) => f.value);
    };
    const sidecar = `${img('sidecar')}:1.0`;
    const withOn = await audit('audit-merge-on', on);
    expect(withOn).toContain(`${img('web')}:1.0`);
    expect(withOn).toContain(sidecar);
    const withOff = await audit('audit-merge-off', off);
    expect(withOff).toContain(`${img('web')}:1.0`);
    expect(withOff).not.toContain(sidecar);
    // A key written BEFORE the merge that sets it too: go-yaml v2 (Argo CD, Helm) and v3 (kustomize) differ, so audit says so.
    const before = app('audit-before', 'web', '1.2.0', ['valuesObject:', '  toggles: &on', '    enabled: true', '  sidecar:', '    enabled: false', '    <<: *on']);
    await writeTree(path.join(job(), 'audit-merge-before'), { 'app.yaml': before });
    const r = await runFerry(['audit', 'audit-merge-before', '--manifest', 'manifest.yaml', '-t', 'site.yaml', '--format', 'json'], { cwd: job(), env: env() });
    expect(r.stdout).toContain('is written before a YAML merge key (<<) that sets it too');
  }, 60_000);
});
