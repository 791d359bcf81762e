import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { loadManifest } from '../../src/kinds/schema.js';
import { buildDeb, makeGpgKey, publishWithAptly, startNginx, type GpgKey, type Nginx } from '../support/apt-repo.js';
import { packageChart, startStaticServer, writeHelmLayout, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { mustRun, runFerry } from '../support/cli.js';
import { CraftedBundle } from '../support/craft-bundle.js';
import { skopeoEnv, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * What the bank platform job (new-user round 60) missed in what `lock` said, and a chart name
 * that did not agree across targets:
 * - the images a chart's discovery found only as possible (Bitnami's `os-shell` behind
 *   `volumePermissions.enabled`) were not carried and not mentioned: `rewrite chart` at the site
 *   was the first to name them. `lock` now names them per chart, the first few and a count;
 * - a chart name misspelled in the manifest (`cert-manger`) was "not in the repository": the
 *   names of the index nearest to it are offered;
 * - a filtered APT entry's line said `5 packages listed` for a suite of which 3 are carried;
 * - an OCI chart from Docker Hub (`oci://registry-1.docker.io/bitnamicharts`) was named by the
 *   API host in a `directory:` target's index.json, while images, the registry target and `map`
 *   say `docker.io/…`.
 */
let work: string;
let repo: StaticServer;
let reg: RunningRegistry;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });

/** Seven sidecars, each deployed only when its section is enabled (all off by default). */
const SIDECARS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf'];

async function writeManifest(name: string, body: Record<string, unknown>): Promise<string> {
  const file = path.join(work, `${name}.yaml`);
  await writeFile(file, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name }, ...body }));
  return file;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-polish61-'));
  const src = path.join(work, 'src');
  // db: an init container behind volumePermissions.enabled, and seven sidecars behind their own switch.
  const db = path.join(src, 'db');
  await mkdir(path.join(db, 'templates'), { recursive: true });
  await writeFile(path.join(db, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'db', version: '1.0.0' }));
  const values: Record<string, unknown> = { volumePermissions: { enabled: false, image: { registry: 'docker.io', repository: 'bitnami/os-shell', tag: '12-debian-12-r50' } } };
  for (const s of SIDECARS) values[s] = { enabled: false, image: { registry: 'docker.io', repository: `acme/${s}`, tag: '1.0' } };
  await writeFile(path.join(db, 'values.yaml'), stringifyYaml(values));
  const img = (k: string) => `"{{ .Values.${k}.image.registry }}/{{ .Values.${k}.image.repository }}:{{ .Values.${k}.image.tag }}"`;
  await writeFile(
    path.join(db, 'templates', 'sts.yaml'),
    [
      'apiVersion: apps/v1',
      'kind: StatefulSet',
      'metadata: { name: db }',
      'spec:',
      '  template:',
      '    spec:',
      '      {{- if .Values.volumePermissions.enabled }}',
      '      initContainers:',
      `        - { name: perms, image: ${img('volumePermissions')} }`,
      '      {{- end }}',
      '      containers:',
      ...SIDECARS.flatMap((s) => [`        {{- if .Values.${s}.enabled }}`, `        - { name: ${s}, image: ${img(s)} }`, '        {{- end }}']),
      '',
    ].join('\n'),
  );
  // cert-manager: a chart without images, under its real name.
  const cm = path.join(src, 'cert-manager');
  await mkdir(path.join(cm, 'templates'), { recursive: true });
  await writeFile(path.join(cm, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'cert-manager', version: '1.21.1' }));
  await writeFile(path.join(cm, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cm }\n');
  const stable = path.join(work, 'repo', 'stable');
  await mkdir(stable, { recursive: true });
  const pgchart = await packageChart(cm, path.join(work, 'pkgs'), (m) => {
    m.name = 'pgchart';
    m.version = '1.0.0';
  });
  await writeRepoIndex(stable, [await packageChart(db, stable), await packageChart(cm, stable)]);
  [repo, reg] = await Promise.all([startStaticServer(path.join(work, 'repo')), startRegistry({ mode: 'http' })]);
  // An OCI chart as `helm push` writes it, in a real Distribution registry.
  const layout = path.join(work, 'pg-layout');
  await writeHelmLayout(layout, pgchart, 'pgchart');
  await mustRun('skopeo', ['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:pgchart`, `docker://${reg.host}/bitnamicharts/pgchart:1.0.0`], { env: skopeoEnv() });
}, 120_000);

afterAll(async () => {
  await repo?.stop();
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('lock names the images a chart may deploy but are not carried', () => {
  it('per chart: how many, the first five with the switch that deploys each, the rest counted, and what to do; -q keeps it, --json carries it', async () => {
    const manifest = await writeManifest('possible', { charts: [{ name: 'db', repo: `${repo.url}/stable`, version: '1.0.0' }] });
    const r = await runFerry(['lock', manifest, '-q'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const lock = JSON.parse(await readFile(path.join(work, 'possible.lock.json'), 'utf8')) as { charts: Array<{ images: string[]; possibleImages: string[] }> };
    expect(lock.charts[0].images).toEqual([]);
    expect(lock.charts[0].possibleImages).toHaveLength(8);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('warning: chart db 1.0.0: '));
    expect(lines).toHaveLength(1);
    const w = lines[0];
    expect(w).toContain('8 images discovery found only as possible');
    expect(w).toContain('are not carried: ');
    // Sorted as the lock lists them: the first five named, each with the value that would deploy it.
    expect(w).toContain('docker.io/acme/alpha:1.0 (not deployed with these values; deployed with alpha.enabled=true)');
    expect(w).toContain('docker.io/acme/echo:1.0 (');
    expect(w).not.toContain('docker.io/acme/foxtrot:1.0');
    expect(w).not.toContain('docker.io/bitnami/os-shell');
    expect(w).toContain(', and 3 more (the lock\'s possibleImages lists every one)');
    expect(w).toContain('list them under images: in the manifest');

    const json = await runFerry(['lock', manifest, '--json'], { env: env() });
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as { warnings: string[] };
    expect(result.warnings.filter((x) => x.startsWith('chart db 1.0.0: 8 images discovery found only as possible'))).toHaveLength(1);
  });

  it('an image the values switch on is carried, and the warning names only the one left', async () => {
    // The sidecars deployed, from a registry where nothing listens: lock fails on them, printing first what it warned.
    await writeFile(path.join(work, 'sidecars-on.yaml'), stringifyYaml(Object.fromEntries(SIDECARS.map((s) => [s, { enabled: true, image: { registry: '127.0.0.1:9' } }]))));
    const manifest = await writeManifest('possible-one', { charts: [{ name: 'db', repo: `${repo.url}/stable`, version: '1.0.0', values: ['sidecars-on.yaml'] }] });
    const r = await runFerry(['lock', manifest], { env: { ...env(), FERRY_RETRIES: '0' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('127.0.0.1:9/acme/alpha:1.0');
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('warning: chart db 1.0.0: '));
    expect(lines).toEqual([
      'warning: chart db 1.0.0: 1 image discovery found only as possible (not deployed with the manifest\'s values, or a loose match) is not carried: docker.io/bitnami/os-shell:12-debian-12-r50 (not deployed with these values; deployed with volumePermissions.enabled=true); if the site switches on what deploys it, list it under images: in the manifest (or set the values that deploy it under the chart\'s values:) and lock again',
    ]);
  });
});

describe('a misspelled chart name', () => {
  it('offers the names of the index nearest to it', async () => {
    const manifest = await writeManifest('typo', { charts: [{ name: 'cert-manger', repo: `${repo.url}/stable`, version: '1.21.1' }] });
    const r = await runFerry(['lock', manifest], { env: env() });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`chart cert-manger: not in the repository ${repo.url}/stable (${repo.url}/stable/index.yaml has no entry for it; it lists "cert-manager")`);
    expect(r.stderr).toContain('hint: Did you mean "cert-manager"? Check the chart name and the repo URL.');
  });

  it('nothing near: the hint as before', async () => {
    const manifest = await writeManifest('typo-far', { charts: [{ name: 'prometheus', repo: `${repo.url}/stable`, version: '1.0.0' }] });
    const r = await runFerry(['lock', manifest], { env: env() });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('has no entry for it)');
    expect(r.stderr).not.toContain('Did you mean');
  });
});

describe('an OCI chart from Docker Hub is named docker.io/… everywhere', () => {
  /**
   * The chart is locked from the loopback registry, then named as Docker Hub's API host names it
   * (`oci://registry-1.docker.io/bitnamicharts`) in a manifest and its lock: bundle create reads it
   * from the cache (nothing reaches Docker Hub) and carries it under that repository.
   */
  async function hubBundle(): Promise<string> {
    const local = await writeManifest('hub-local', { charts: [{ name: 'pgchart', repo: `oci://${reg.host}/bitnamicharts`, version: '1.0.0' }] });
    const locked = await runFerry(['lock', local, '--insecure-registry', reg.host], { env: env() });
    expect(locked.code, locked.stderr).toBe(0);
    const hub = await writeManifest('hub', { charts: [{ name: 'pgchart', repo: 'oci://registry-1.docker.io/bitnamicharts', version: '1.0.0' }] });
    const lock = JSON.parse(await readFile(path.join(work, 'hub-local.lock.json'), 'utf8')) as { manifest: { name: string; digest: string }; charts: Array<{ repo: string }> };
    lock.manifest = { name: 'hub', digest: (await loadManifest(hub)).digest };
    lock.charts[0].repo = 'oci://registry-1.docker.io/bitnamicharts';
    await writeFile(path.join(work, 'hub.lock.json'), JSON.stringify(lock, null, 2));
    const created = await runFerry(['bundle', 'create', hub, '-o', path.join(work, 'hub.tar'), '--frozen', '-q'], { env: env() });
    expect(created.code, created.stderr).toBe(0);
    return path.join(work, 'hub.tar');
  }

  async function importToDirectory(bundle: string, name: string): Promise<string[]> {
    const dir = path.join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'target.yaml'), `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: ${name} }\ndirectory: ./oci\n`);
    const r = await runFerry(['import', bundle, '--target', 'target.yaml'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const index = JSON.parse(await readFile(path.join(dir, 'oci', 'index.json'), 'utf8')) as { manifests: Array<{ annotations?: Record<string, string> }> };
    return index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'] ?? '');
  }

  it('the directory target names it as the registry target and map place it', async () => {
    const bundle = await hubBundle();
    expect(await importToDirectory(bundle, 'site-dir')).toEqual(['docker.io/bitnamicharts/pgchart:1.0.0']);

    const site = path.join(work, 'site-reg.yaml');
    await writeFile(site, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: http://${reg.host}\n  prefix: mirror\n`);
    const imported = await runFerry(['import', bundle, '--target', site], { env: env() });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout + imported.stderr).toContain(`oci://${reg.host}/mirror/docker.io/bitnamicharts/pgchart:1.0.0`);
    await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/mirror/docker.io/bitnamicharts/pgchart:1.0.0`], { env: skopeoEnv() });
    const map = await runFerry(['map', bundle, '-t', site, '--json'], { env: env() });
    expect(map.code, map.stderr).toBe(0);
    expect(map.stdout).toContain('docker.io/bitnamicharts/pgchart:1.0.0');
    expect(map.stdout).not.toContain('registry-1.docker.io/bitnamicharts/pgchart');
    expect(map.stdout).toContain(`${reg.host}/mirror/docker.io/bitnamicharts/pgchart:1.0.0`);
  });

  it('a bundle made before (the chart named registry-1.docker.io/… in its index.json) still imports, under the docker.io name', async () => {
    const crafted = await CraftedBundle.load(path.join(work, 'hub.tar'));
    const index = crafted.index;
    for (const m of index.manifests) m.annotations = { ...m.annotations, 'org.opencontainers.image.ref.name': 'registry-1.docker.io/bitnamicharts/pgchart:1.0.0' };
    crafted.index = index;
    const old = await crafted.write(path.join(work, 'hub-old.tar'));
    expect(await importToDirectory(old, 'site-dir-old')).toEqual(['docker.io/bitnamicharts/pgchart:1.0.0']);
  });
});

describe('a filtered APT entry says what it carries of what its index lists', () => {
  let vendor: GpgKey;
  let upstream: Nginx;
  beforeAll(async () => {
    vendor = await makeGpgKey(work, 'vendor');
    const debs = path.join(work, 'debs');
    const built = [
      await buildDeb(debs, 'app', '1.0', { Depends: 'libapp' }),
      await buildDeb(debs, 'libapp'),
      await buildDeb(debs, 'other-one'),
      await buildDeb(debs, 'other-two'),
      await buildDeb(debs, 'other-three'),
    ];
    const published = await publishWithAptly(work, built, vendor, { distribution: 'bookworm', prefixes: ['vendor'] });
    upstream = await startNginx(published.publicDir);
  }, 120_000);
  afterAll(async () => {
    await upstream?.stop();
  });

  it('2 of 5 listed packages carried; a whole suite says what it lists', async () => {
    await writeFile(path.join(work, 'vendor.asc'), await readFile(vendor.publicKey));
    const apt = (packages?: string[]) => [{ name: 'vendor', url: `${upstream.url}/vendor`, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], keys: ['vendor.asc'], ...(packages ? { packages } : {}) }];
    const filtered = await runFerry(['lock', await writeManifest('apt-filtered', { apt: apt(['app']) })], { env: env() });
    expect(filtered.code, filtered.stderr).toBe(0);
    expect(filtered.stderr).toContain('apt[vendor] bookworm: 2 of 5 listed packages carried (the entry\'s packages: and what they depend on)');
    expect(filtered.stderr).not.toContain('5 packages listed');
    const whole = await runFerry(['lock', await writeManifest('apt-whole', { apt: apt() })], { env: env() });
    expect(whole.code, whole.stderr).toBe(0);
    expect(whole.stderr).toContain('apt[vendor] bookworm: 5 packages listed');
  });
});
