import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { validateManifest } from '../../src/kinds/schema.js';
import { ACTIVE_TERMINAL, aliasBombLevels, manifestChecker, writeTree, type ManifestChecker } from '../support/convert-output.js';
import { packageChart, startStaticServer, writeRepoIndex, type PackagedChart, type StaticServer } from '../support/chart-repo.js';
import { mustRunFerry, runFerry } from '../support/cli.js';
import { seedImages, skopeoDigest, type SeededImages } from '../support/images.js';
import { ferryEnv, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * `ferry convert helmfile`: a helmfile (helmfile/helmfile docs/configuration.md: repositories with
 * url and oci: true, releases with chart `repo/name`, `oci://…` or a local path, version, values,
 * set, needs; environments; bases:/helmfiles: includes; Go templates) becomes a ferry manifest the
 * loader and the JSON Schema `ferry schema manifest` prints both accept, every item not carried
 * named with file:line. Fixtures are written here.
 */

let work: string;
let check: ManifestChecker;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser46-'));
  check = await manifestChecker();
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const dirWith = (name: string, files: Record<string, string>) => writeTree(path.join(work, name), files);
const accepted = (file: string) => check.accepted(file);

const comment = (text: string) => text.split('\n').filter((l) => l.startsWith('#'));

const HELMFILE = `repositories:
  - name: bitnami
    url: https://charts.bitnami.example/bitnami
  - name: ghcr
    url: ghcr.io/acme/charts
    oci: true
    username: bob
environments:
  default:
    values:
      - env/default.yaml
      - pg: 15.2.0
  production:
    values:
      - pg: 15.3.0
---
bases:
  - common/base.yaml
releases:
  - name: db
    namespace: data
    chart: bitnami/postgresql
    version: "{{ .Values.pg }}"
    values:
      - values/db.yaml
      - values/{{ .Environment.Name }}.yaml
      - primary: { persistence: { size: 1Gi } }
    set:
      - name: image.tag
        value: "16"
    needs: [data/cache]
  - name: cache
    chart: ghcr/redis
  - name: web
    chart: oci://registry.acme.example/charts/web:1.0.0
    kubeVersion: v1.30.0
  - name: mine
    chart: ./charts/mine
  - name: tag
    chart: bitnami/nginx
    version: {{ requiredEnv "NGINX_VERSION" }}
  - name: off
    chart: bitnami/x
    installed: false
  - name: certs
    chart: jetstack/cert-manager
    version: v1.14.0
    postRenderer: ./kustomize.sh
helmfiles:
  - path: apps/*.yaml
    selectors: [tier=front]
  - ../elsewhere/helmfile.yaml
  - git::https://github.com/acme/helmfiles.git@releases/kiam.yaml?ref=0.40.0
`;

const FILES = {
  'helmfile.yaml': HELMFILE,
  'env/default.yaml': 'domain: example.org\n',
  'values/db.yaml': 'auth: { database: shop }\n',
  'values/default.yaml': 'primary: { resources: {} }\n',
  'common/base.yaml': 'repositories:\n  - name: jetstack\n    url: https://charts.jetstack.example\n',
  'apps/front.yaml': 'repositories:\n  - name: bitnami\n    url: https://charts.bitnami.example/bitnami\nreleases:\n  - name: front\n    chart: bitnami/nginx\n    version: ~18.1.0\n    values: [front.yaml]\n',
  'apps/front.yaml.txt': 'not a match\n',
  'apps/loop.yaml': 'helmfiles:\n  - ../helmfile.yaml\n',
  'apps/ranged.yaml': 'releases:\n{{ range .Values.apps }}\n  - name: {{ . }}\n    chart: bitnami/{{ . }}\n{{ end }}\n',
};

describe('ferry convert helmfile', () => {
  it('carries each release as a chart, follows bases and includes inside the tree, names the rest with file:line', async () => {
    const dir = await dirWith('main', FILES);
    const out = path.join(dir, 'ferry', 'manifest.yaml');
    const r = await runFerry(['convert', 'helmfile', 'helmfile.yaml', '-o', out], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const m = await accepted(out);
    expect(m.metadata).toEqual({ name: 'main' });
    expect(m.charts).toEqual([
      // from the base's repository; its post-renderer is named below
      { name: 'cert-manager', repo: 'https://charts.jetstack.example', version: 'v1.14.0' },
      // apps/front.yaml (the wildcard), its values file relative to it
      { name: 'nginx', repo: 'https://charts.bitnami.example/bitnami', version: '~18.1.0', values: ['../apps/front.yaml'] },
      // the template resolved from the default environment's values; values/{{ .Environment.Name }}.yaml → values/default.yaml
      { name: 'postgresql', repo: 'https://charts.bitnami.example/bitnami', version: '15.2.0', values: ['../values/db.yaml', '../values/default.yaml'] },
      // oci: true repository → oci://
      { name: 'redis', repo: 'oci://ghcr.io/acme/charts', version: '*' },
      { name: 'web', repo: 'oci://registry.acme.example/charts', version: '1.0.0', kubeVersion: 'v1.30.0' },
    ]);
    const text = await readFile(out, 'utf8');
    const lines = comment(text);
    const expected: Array<[string, string]> = [
      ['helmfile.yaml:7: repositories: ghcr username', 'trust'],
      ['helmfile.yaml:27 (release db): values: {primary}', 'inline values'],
      ['helmfile.yaml:29 (release db): set: [1 item]', '--set'],
      ['helmfile.yaml:38 (release mine): chart: ./charts/mine', 'a local chart'],
      ['helmfile.yaml:41 (release tag): version: {{…}}', 'the environment variable NGINX_VERSION'],
      ['helmfile.yaml:44 (release off): release off', 'installed: false'],
      ['helmfile.yaml:48 (release certs): postRenderer: ./kustomize.sh', 'post-renderer'],
      ['helmfile.yaml:52: helmfiles: ../elsewhere/helmfile.yaml', 'outside the top helmfile\'s directory'],
      ['helmfile.yaml:53: helmfiles: git::https://github.com/acme/helmfiles.git', 'remote'],
      ['apps/loop.yaml:2: helmfiles: ../helmfile.yaml', 'a cycle'],
      ['apps/ranged.yaml:2: lines 1–6: {{ range .Values.apps }}', 'helmfile --environment default build'],
    ];
    for (const [at, why] of expected) {
      expect(lines.find((l) => l.includes(at) && l.includes(why)), `${at} … ${why}`).toBeTruthy();
      expect(r.stderr.split('\n').find((l) => l.includes(at)), `${at} on stderr`).toBeTruthy();
    }
    expect(lines.find((l) => l.includes('ferry convert helmfile ../elsewhere/helmfile.yaml helmfile.yaml'))).toBeTruthy();
    // Carried, but not as helmfile has it: no version, the selectors, and how images are found.
    expect(lines.find((l) => l.includes('helmfile.yaml:32 (release cache): chart: ghcr/redis: no version: converted as version "*"'))).toBeTruthy();
    expect(lines.find((l) => l.includes('helmfile.yaml:51: helmfiles: apps/*.yaml selectors: [1 item]'))).toBeTruthy();
    expect(lines.find((l) => l.includes('helmfile.yaml: releases: each release is carried as a chart with images: discover'))).toBeTruthy();
    expect(r.stdout).toContain(`wrote ${out} (0 images, 5 charts, 0 files; 11 not carried)`);
    // Deterministic: again, with --force, the same bytes.
    await mustRunFerry(['convert', 'helmfile', 'helmfile.yaml', '-o', out, '--force'], { cwd: dir });
    expect(await readFile(out, 'utf8')).toBe(text);
  });

  it('reads templates with the environment asked for; a reference it cannot resolve is named, never guessed', async () => {
    const dir = await dirWith('env', { ...FILES, 'values/production.yaml': 'primary: {}\n' });
    const r = await runFerry(['convert', 'helmfile', 'helmfile.yaml', '--environment', 'production', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    validateManifest(j.manifest, 'json');
    const db = j.manifest.charts.find((c: { name: string }) => c.name === 'postgresql');
    expect(db).toEqual({ name: 'postgresql', repo: 'https://charts.bitnami.example/bitnami', version: '15.3.0', values: ['values/db.yaml', 'values/production.yaml'] });

    const unknown = await dirWith('unknown', {
      'helmfile.yaml.gotmpl': `environments:
  default:
    values:
      - env.yaml.gotmpl
---
repositories:
  - name: r
    url: https://charts.r.example
  - name: t
    url: https://{{ .Values.host }}/charts
releases:
  - name: a
    chart: r/a
    version: {{ .Values.aVersion }}
  - name: b
    chart: r/b
    version: {{ .Values.bVersion | default "1.0.0" }}
  - name: c
    chart: r/{{ .Values.chartName }}
    version: 1.0.0
  - name: d
    chart: t/d
    version: 1.0.0
# version: {{ .Values.old }}
`,
      'env.yaml.gotmpl': 'aVersion: {{ env "A" }}\n',
    });
    const u = await runFerry(['convert', 'helmfile', 'helmfile.yaml.gotmpl', '--json'], { cwd: unknown });
    expect(u.code, u.stderr).toBe(0);
    const uj = JSON.parse(u.stdout);
    // A comment holding an action makes its part unknown: helmfile renders comments too.
    expect(uj.manifest.charts).toBeUndefined();
    expect(uj.notCarried).toEqual([expect.objectContaining({ file: 'helmfile.yaml.gotmpl', line: 24, item: expect.stringContaining('{{ .Values.old }}') })]);

    await writeFile(path.join(unknown, 'helmfile.yaml.gotmpl'), (await readFile(path.join(unknown, 'helmfile.yaml.gotmpl'), 'utf8')).replace(/^# version.*\n/m, ''));
    const v = await runFerry(['convert', 'helmfile', 'helmfile.yaml.gotmpl', '--json'], { cwd: unknown });
    expect(v.code, v.stderr).toBe(0);
    const vj = JSON.parse(v.stdout);
    expect(vj.manifest.charts).toBeUndefined();
    const why = (line: number) => vj.notCarried.find((n: { line: number }) => n.line === line)?.why as string;
    // not in the values ferry read, and the file it could be in is a template: both said
    expect(why(14)).toContain('not set in environment default\'s values');
    expect(why(14)).toContain('env.yaml.gotmpl');
    expect(why(17)).toContain('ferry resolves only plain references');
    expect(why(19)).toContain('{{ .Values.chartName }}');
    // a repository whose URL is a template: its charts are named, the placeholder never written
    expect(why(22)).toContain('repository t\'s url: holds {{ .Values.host }}');
    expect(v.stdout).not.toMatch(/ferry[0-9a-f]{12}t\d+x/);
  });

  it('bounds includes: a symlink out of the tree is not followed, nesting stops at its depth', { timeout: 60_000 }, async () => {
    const outside = await dirWith('outside', { 'helmfile.yaml': 'repositories: [{ name: o, url: https://o.example }]\nreleases: [{ name: o, chart: o/o, version: 1.0.0 }]\n' });
    const files: Record<string, string> = { 'helmfile.yaml': 'helmfiles: [d1/helmfile.yaml, link/helmfile.yaml]\n' };
    let p = '';
    for (let i = 1; i <= 12; i++) {
      p += `d${i}/`;
      files[`${p}helmfile.yaml`] = `repositories: [{ name: r, url: https://r.example }]\nreleases: [{ name: n${i}, chart: r/n${i}, version: 1.0.0 }]\nhelmfiles: [d${i + 1}/helmfile.yaml]\n`;
    }
    const dir = await dirWith('deep', files);
    await symlink(outside, path.join(dir, 'link'));
    const r = await runFerry(['convert', 'helmfile', 'helmfile.yaml', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.manifest.charts.map((c: { name: string }) => c.name)).toEqual(['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8']);
    const why = j.notCarried.map((n: { item: string; why: string }) => `${n.item}: ${n.why}`).join('\n');
    expect(why).toContain('helmfiles: link/helmfile.yaml: link/helmfile.yaml leads outside the top helmfile\'s directory');
    expect(why).toContain('helmfiles: d9/helmfile.yaml: nested more than 8 includes deep');
    expect(why).not.toContain('o/o');
  });

  it('refuses a file that is no helmfile, and a missing one, naming them', async () => {
    const dir = await dirWith('none', { 'deploy.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: x }\n' });
    const r = await runFerry(['convert', 'helmfile', 'deploy.yaml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('deploy.yaml: no releases:, helmfiles:, bases:, repositories: or environments: in it');
    const m = await runFerry(['convert', 'helmfile', 'nope.yaml'], { cwd: dir });
    expect(m.code).toBe(2);
    expect(m.stderr).toContain('nope.yaml: no such file');
  });
});

describe('ferry convert helmfile: hostile input', () => {
  it('refuses an alias bomb at the top as the manifest reader does; one in an include is named, the rest carried; nothing written on refusal', { timeout: 60_000 }, async () => {
    const bomb = `${aliasBombLevels().join('\n')}\nreleases: *i\n`;
    const dir = await dirWith('bomb', {
      'top/helmfile.yaml': bomb,
      'helmfile.yaml': 'repositories: [{ name: r, url: https://r.example }]\nreleases: [{ name: a, chart: r/a, version: 1.0.0 }]\nhelmfiles: [top/helmfile.yaml]\n',
    });
    const r = await runFerry(['convert', 'helmfile', 'top/helmfile.yaml', '-o', 'out.yaml'], { cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/expands to more than 100000 nodes through aliases/);
    expect(existsSync(path.join(dir, 'out.yaml'))).toBe(false);
    const inc = await runFerry(['convert', 'helmfile', 'helmfile.yaml', '--json'], { cwd: dir });
    expect(inc.code, inc.stderr).toBe(0);
    const j = JSON.parse(inc.stdout);
    expect(j.manifest.charts).toEqual([{ name: 'a', repo: 'https://r.example', version: '1.0.0' }]);
    expect(j.notCarried).toEqual([expect.objectContaining({ line: 3, item: 'helmfiles: top/helmfile.yaml', why: expect.stringMatching(/expands to more than 100000 nodes/) })]);
  });

  it('refuses a file larger than the manifest reader reads', async () => {
    const dir = await dirWith('big', { 'helmfile.yaml': `releases: []\n# ${'x'.repeat(600 * 1024)}\n` });
    const r = await runFerry(['convert', 'helmfile', 'helmfile.yaml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is larger than the 512 KiB ferry reads');
  });

  it('echoes no terminal control bytes, carries no entry that holds them, and a value from the environment cannot become YAML', async () => {
    const dir = await dirWith('evil', {
      'helmfile.yaml': `environments:
  default:
    values:
      - inject: "1.0.0\\nreleases: [{ name: evil, chart: r/evil }]"
---
repositories:
  - name: r
    url: https://r.example
releases:
  - name: "x\\e]0;pwned\\a"
    chart: "r/app\\e[2J"
    version: 1.0.0
  - name: ok
    chart: r/ok
    version: 1.0.0
  - name: injected
    chart: r/inj
    version: {{ .Values.inject }}
`,
    });
    const r = await runFerry(['convert', 'helmfile', 'helmfile.yaml', '-o', 'out.yaml'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const active = ACTIVE_TERMINAL;
    expect(r.stderr).not.toMatch(active);
    expect(r.stdout).not.toMatch(active);
    expect(r.stderr).toContain('\\x1b]0;pwned');
    const text = await readFile(path.join(dir, 'out.yaml'), 'utf8');
    expect(text).not.toMatch(active);
    const m = await accepted(path.join(dir, 'out.yaml'));
    // The value from the environment stays one scalar (the chart's version), never YAML of its own:
    // ferry's schema refuses that version text, so the chart is named, not carried.
    expect((m.charts as Array<{ name: string }>).map((c) => c.name)).toEqual(['ok']);
    expect(text).toContain('holds control characters');
    expect(text).not.toMatch(/^ {2}- name: evil/m);
  });
});

describe('ferry convert helmfile, then lock', () => {
  let web: StaticServer;
  let reg: RunningRegistry;
  let seeded: SeededImages;
  let charts: PackagedChart[];
  beforeAll(async () => {
    reg = await startRegistry({ mode: 'http' });
    seeded = await seedImages(reg, { prefix: 'helmfile' });
    const root = path.join(work, 'web');
    const src = path.join(work, 'src', 'shop');
    await mkdir(path.join(src, 'templates'), { recursive: true });
    await writeFile(path.join(src, 'values.yaml'), stringifyYaml({ image: { repository: 'registry.acme.example/shop', tag: 'base' } }));
    await writeFile(
      path.join(src, 'templates', 'deploy.yaml'),
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\nspec:\n  selector: { matchLabels: { app: shop } }\n  template:\n    metadata: { labels: { app: shop } }\n    spec:\n      containers:\n        - name: shop\n          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n',
    );
    await writeFile(path.join(src, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'shop', version: '1.2.0' }));
    charts = [];
    for (const v of ['1.2.0', '1.2.3', '1.3.0']) charts.push(await packageChart(src, path.join(root, 'charts'), (meta) => void (meta.version = v)));
    await writeRepoIndex(path.join(root, 'charts'), charts);
    web = await startStaticServer(root);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([web?.stop(), reg?.stop()]);
  });

  it('a converted helmfile locks against a loopback chart repository: the range pinned, the values file read, the digest the served file\'s', { timeout: 120_000 }, async () => {
    const dir = await dirWith('lock', {
      'deploy/helmfile.yaml': `environments:
  default:
    values:
      - shopVersion: ~1.2.0
---
repositories:
  - name: acme
    url: ${web.url}/charts
releases:
  - name: shop
    namespace: shop
    chart: acme/shop
    version: "{{ .Values.shopVersion }}"
    values:
      - values/shop.yaml
`,
      'deploy/values/shop.yaml': stringifyYaml({ image: { repository: seeded.refs.app.replace(/:[^:/]+$/, ''), tag: seeded.refs.app.replace(/^.*:/, '') } }),
    });
    const c = await runFerry(['convert', 'helmfile', 'deploy/helmfile.yaml', '-o', 'manifest.yaml', '--name', 'shop'], { cwd: dir });
    expect(c.code, c.stderr).toBe(0);
    const m = await accepted(path.join(dir, 'manifest.yaml'));
    expect(m.charts).toEqual([{ name: 'shop', repo: `${web.url}/charts`, version: '~1.2.0', values: ['deploy/values/shop.yaml'] }]);
    const l = await runFerry(['lock', 'manifest.yaml', '--insecure-registry', reg.host], { cwd: dir, env: { ...ferryEnv(reg), FERRY_CACHE_DIR: path.join(dir, 'cache') } });
    expect(l.code, l.stderr + l.stdout).toBe(0);
    const lock = JSON.parse(await readFile(path.join(dir, 'shop.lock.json'), 'utf8')) as { charts: Array<{ name: string; version: string; digest: string; images: string[] }>; images: Array<{ ref: string; digest: string }> };
    const served = charts.find((x) => x.version === '1.2.3')!;
    // The image the values file chose, found by rendering the chart, at the digest skopeo sees.
    expect(lock.charts).toEqual([expect.objectContaining({ name: 'shop', version: '1.2.3', digest: expect.stringContaining(served.digest), images: [seeded.refs.app] })]);
    expect(lock.images.map((i) => [i.ref, i.digest])).toEqual([[seeded.refs.app, await skopeoDigest(reg, seeded.refs.app)]]);
    expect((await readdir(dir)).sort()).toEqual(['cache', 'deploy', 'manifest.yaml', 'shop.lock.json']);
  });
});
