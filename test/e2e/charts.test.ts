import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { mustRun, ROOT, runFerry } from '../support/cli.js';
import { packageChart, sha256Hex, startStaticServer, writeHelmLayout, writeRepoIndex, type PackagedChart, type StaticServer } from '../support/chart-repo.js';
import { pushLayoutImage, skopeoRawManifest, writeOciLayout } from '../support/images.js';
import { freePort, makeTestCa, skopeoEnv, startRegistry, type RunningRegistry } from '../support/registry.js';
import { startFerryServe } from '../support/static-http.js';

/**
 * Charts end to end with the built CLI: an HTTP chart repository (real nginx) built from the
 * corpus charts packaged in set-up, an OCI chart repository in the real Distribution registry;
 * lock → bundle → verify → import to a registry and to an HTTP chart repository directory,
 * checked with skopeo, curl and by reading the imported files.
 */
const CORPUS = process.env.FERRY_CHART_CORPUS ?? path.resolve(ROOT, '../shared/corpus/charts');

let work: string;
let repoDir: string;
let mirrorDir: string;
let repo: StaticServer;
let mirror: StaticServer;
let reg: RunningRegistry;
let repoUrl: string;
let ociRepo: string;
const pkgs: Record<string, PackagedChart> = {};
let externalDnsManifestDigest: string;
let manifest: string;
let bundle: string;
let target: string;

const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });
// The upstream registry speaks plain HTTP on loopback: say so, as a user would.
const insecure = () => ['--insecure-registry', reg.host];
const sha256File = async (f: string) => sha256Hex(await readFile(f));

async function writeManifest(name: string, charts: unknown[], extra: Record<string, unknown> = {}): Promise<string> {
  const file = path.join(work, `${name}.yaml`);
  await writeFile(file, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name }, charts, ...extra }));
  return file;
}

beforeAll(async () => {
  if (!existsSync(CORPUS)) throw new Error(`chart corpus missing at ${CORPUS}: these tests package the real charts from it (set FERRY_CHART_CORPUS)`);
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-charts-'));
  repoDir = path.join(work, 'repo');
  mirrorDir = path.join(work, 'mirror-charts');
  await mkdir(path.join(repoDir, 'stable'), { recursive: true });
  await mkdir(mirrorDir, { recursive: true });
  [repo, mirror, reg] = await Promise.all([startStaticServer(repoDir), startStaticServer(mirrorDir), startRegistry({ mode: 'http' })]);
  repoUrl = `${repo.url}/stable`;
  ociRepo = `oci://${reg.host}/charts`;
  const stable = path.join(repoDir, 'stable');
  const staging = path.join(work, 'staging');

  // HTTP repository: corpus charts as published, an older nats, and synthetic charts for dependencies and faults.
  pkgs.nats = await packageChart(path.join(CORPUS, 'nats'), stable);
  pkgs.nats213 = await packageChart(path.join(CORPUS, 'nats'), stable, (m) => (m.version = '2.13.0'));
  pkgs.keycloak = await packageChart(path.join(CORPUS, 'keycloak'), stable);
  await writeFile(`${pkgs.nats.file}.prov`, `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: nats\nversion: 2.14.2\nfiles:\n  nats-2.14.2.tgz: sha256:${pkgs.nats.digest}\n`);

  const webappDir = path.join(staging, 'webapp');
  await mkdir(path.join(webappDir, 'templates'), { recursive: true });
  const deps = [
    { name: 'nats', version: '2.x', repository: repoUrl }, // the range alone would pick 2.14.2; Chart.lock pins 2.13.0
    { name: 'external-dns', alias: 'dns', version: '1.x', repository: ociRepo, condition: 'dns.enabled' },
  ];
  await writeFile(path.join(webappDir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'webapp', version: '0.1.0', appVersion: '3.2.1', dependencies: deps }));
  await writeFile(path.join(webappDir, 'Chart.lock'), stringifyYaml({ dependencies: [{ name: 'nats', repository: repoUrl, version: '2.13.0' }, { name: 'external-dns', repository: ociRepo, version: '1.21.1' }], digest: 'sha256:' + '0'.repeat(64) }));
  await writeFile(path.join(webappDir, 'values.yaml'), 'image:\n  repository: example.org/acme/webapp\n  tag: ""\ndns:\n  enabled: true\n  image:\n    tag: v0.21.0-site\nnats:\n  natsBox:\n    enabled: false\n');
  await writeFile(path.join(webappDir, 'templates', 'migrate-job.yaml'), 'apiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: wait\n          image: curlimages/curl:8.5.0\n      containers:\n        - name: app\n          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"\n');
  pkgs.webapp = await packageChart(webappDir, stable);

  const brokenDir = path.join(staging, 'broken');
  await mkdir(brokenDir, { recursive: true });
  await writeFile(path.join(brokenDir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'broken', version: '1.0.0', dependencies: [{ name: 'ghost', version: '1.x', repository: repoUrl }] }));
  pkgs.broken = await packageChart(brokenDir, stable);

  const tamperedDir = path.join(staging, 'tampered');
  await mkdir(tamperedDir, { recursive: true });
  await writeFile(path.join(tamperedDir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'tampered', version: '1.0.0' }));
  pkgs.tampered = await packageChart(tamperedDir, stable);
  const needsDir = path.join(staging, 'needs-tampered');
  await mkdir(needsDir, { recursive: true });
  await writeFile(path.join(needsDir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'needs-tampered', version: '1.0.0', dependencies: [{ name: 'tampered', version: '1.0.0', repository: repoUrl }] }));
  pkgs.needs = await packageChart(needsDir, stable);

  await writeRepoIndex(stable, [
    pkgs.nats,
    { ...pkgs.nats213, url: `${repoUrl}/nats-2.13.0.tgz` }, // an absolute URL; the others are relative
    pkgs.keycloak,
    pkgs.webapp,
    pkgs.broken,
    { ...pkgs.tampered, badDigest: true },
    pkgs.needs,
  ]);

  // OCI repository: external-dns pushed as a Helm artifact (skopeo copies the layout in).
  pkgs.externalDns = await packageChart(path.join(CORPUS, 'external-dns'), path.join(staging, 'oci'));
  const layout = path.join(staging, 'helm-layout');
  await writeHelmLayout(layout, pkgs.externalDns, 'external-dns');
  await mustRun('skopeo', ['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:external-dns`, `docker://${reg.host}/charts/external-dns:1.21.1`], { env: skopeoEnv() });
  externalDnsManifestDigest = 'sha256:' + createHash('sha256').update(await skopeoRawManifest(reg, `${reg.host}/charts/external-dns:1.21.1`)).digest('hex');

  // The images keycloak deploys, under the registry its values point at (global.imageRegistry).
  const imgLayout = path.join(staging, 'img-layout');
  await writeOciLayout(imgLayout, [
    { name: 'keycloak', platforms: [{ architecture: 'amd64', layers: [{ files: { 'opt/keycloak/VERSION': '26.3.3\n' } }] }] },
    { name: 'postgresql', platforms: [{ architecture: 'amd64', layers: [{ files: { 'opt/postgresql/VERSION': '17.6.0\n' } }] }] },
  ]);
  await pushLayoutImage(reg, imgLayout, 'keycloak', 'bitnami/keycloak:26.3.3-debian-12-r0');
  await pushLayoutImage(reg, imgLayout, 'postgresql', 'bitnami/postgresql:17.6.0-debian-12-r4');

  await writeFile(path.join(work, 'keycloak-values.yaml'), `global:\n  imageRegistry: ${reg.host}\n`);
  manifest = await writeManifest('charts', [
    { name: 'nats', repo: repoUrl, version: '2.x', images: 'none' },
    { name: 'keycloak', repo: repoUrl, version: '25.4.0', values: ['keycloak-values.yaml'] },
    { name: 'webapp', repo: repoUrl, version: '^0.1', images: 'none' },
    { name: 'external-dns', repo: ociRepo, version: '~1.21.0', images: 'none' },
  ]);
  bundle = path.join(work, 'charts.ferry.tar');
  // An index already on the mirror: import must merge into it, not replace it.
  await writeFile(path.join(mirrorDir, 'index.yaml'), stringifyYaml({ apiVersion: 'v1', entries: { legacy: [{ apiVersion: 'v2', name: 'legacy', version: '1.0.0', urls: [`${mirror.url}/legacy-1.0.0.tgz`], digest: 'a'.repeat(64) }] } }));
  target = path.join(work, 'target.yaml');
  await writeFile(target, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 'site' }, registry: { url: reg.url, prefix: 'mirror' }, directory: './layout', charts: { dir: './mirror-charts', baseUrl: mirror.url } }));
}, 300_000);

afterAll(async () => {
  await Promise.all([repo?.stop(), mirror?.stop(), reg?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

interface ChartLockEntry {
  name: string;
  version: string;
  repo: string;
  source: string;
  digest: string;
  size: number;
  url?: string;
  prov?: { digest: string };
  oci?: { manifest: { digest: string } };
  dependencyOf?: string[];
  images: string[];
  possibleImages?: string[];
}

describe('charts: lock, bundle, verify, import', () => {
  let lock: { charts: ChartLockEntry[]; images: Array<{ ref: string }> };

  it('locks exact versions and digests, resolves ranges, Chart.lock pins and non-vendored dependencies, and adds discovered images', async () => {
    const r = await runFerry(['lock', manifest, ...insecure()], { env: env() });
    expect(r.stderr + r.stdout).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    lock = JSON.parse(await readFile(path.join(work, 'charts.lock.json'), 'utf8'));
    const by = (name: string, version: string) => lock.charts.find((c) => c.name === name && c.version === version)!;
    expect(lock.charts.map((c) => `${c.name} ${c.version}`)).toEqual(['external-dns 1.21.1', 'keycloak 25.4.0', 'nats 2.13.0', 'nats 2.14.2', 'webapp 0.1.0']);
    expect(by('nats', '2.14.2')).toMatchObject({ source: 'http', digest: `sha256:${pkgs.nats.digest}`, size: pkgs.nats.size, url: `${repoUrl}/nats-2.14.2.tgz` });
    expect(by('nats', '2.14.2').prov?.digest).toBe(`sha256:${await sha256File(`${pkgs.nats.file}.prov`)}`);
    // webapp's Chart.lock pins nats 2.13.0 (absolute URL in the index), fetched because it is not vendored.
    expect(by('nats', '2.13.0')).toMatchObject({ digest: `sha256:${pkgs.nats213.digest}`, dependencyOf: ['webapp 0.1.0'] });
    expect(by('external-dns', '1.21.1')).toMatchObject({ source: 'oci', digest: `sha256:${pkgs.externalDns.digest}` });
    expect(by('external-dns', '1.21.1').oci?.manifest.digest).toBe(externalDnsManifestDigest);
    // keycloak's images come from discovery with the user's values (registry overridden), certain ones only.
    expect(by('keycloak', '25.4.0').images).toEqual([`${reg.host}/bitnami/keycloak:26.3.3-debian-12-r0`, `${reg.host}/bitnami/postgresql:17.6.0-debian-12-r4`]);
    expect(by('keycloak', '25.4.0').possibleImages).toContain(`${reg.host}/bitnami/os-shell:12-debian-12-r51`);
    expect(lock.images.map((i) => i.ref).sort()).toEqual([`${reg.host}/bitnami/keycloak:26.3.3-debian-12-r0`, `${reg.host}/bitnami/postgresql:17.6.0-debian-12-r4`]);
    // Deterministic: locking again changes nothing.
    const again = await runFerry(['lock', manifest, ...insecure()], { env: env() });
    expect(again.code).toBe(0);
    expect(JSON.parse(await readFile(path.join(work, 'charts.lock.json'), 'utf8'))).toEqual(lock);
  });

  it('bundles every chart as a Helm OCI artifact and the bundle verifies', async () => {
    const r = await runFerry(['bundle', 'create', manifest, '-o', bundle, '--json', ...insecure()], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const v = await runFerry(['bundle', 'verify', bundle], { env: env() });
    expect(v.code, v.stderr + v.stdout).toBe(0);
    const listing = await mustRun('tar', ['-xOf', bundle, 'index.json']);
    const index = JSON.parse(listing.stdout) as { manifests: Array<{ artifactType?: string; annotations: Record<string, string> }> };
    const charts = index.manifests.filter((m) => m.annotations['io.ferry.kind'] === 'chart');
    expect(charts.map((c) => c.annotations['org.opencontainers.image.ref.name']).sort()).toEqual(
      [
        `${reg.host}/charts/external-dns:1.21.1`,
        `${repo.url.replace('http://', '')}/stable/keycloak:25.4.0`,
        `${repo.url.replace('http://', '')}/stable/nats:2.13.0`,
        `${repo.url.replace('http://', '')}/stable/nats:2.14.2`,
        `${repo.url.replace('http://', '')}/stable/webapp:0.1.0`,
      ].sort(),
    );
  });

  it('imports to the registry (pullable as OCI charts) and to an HTTP chart repository directory, byte for byte', async () => {
    const r = await runFerry(['import', bundle, '--target', target, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);

    // HTTP chart repository: archives byte-identical, index.yaml valid, merged, urls under baseUrl.
    for (const p of [pkgs.nats, pkgs.nats213, pkgs.keycloak, pkgs.webapp, pkgs.externalDns]) {
      expect(await sha256File(path.join(mirrorDir, `${p.name}-${p.version}.tgz`)), `${p.name} ${p.version}`).toBe(p.digest);
    }
    expect(await readFile(path.join(mirrorDir, 'nats-2.14.2.tgz.prov'))).toEqual(await readFile(`${pkgs.nats.file}.prov`));
    const index = parseYaml(await readFile(path.join(mirrorDir, 'index.yaml'), 'utf8')) as { apiVersion: string; entries: Record<string, Array<{ version: string; urls: string[]; digest: string; name: string; appVersion?: string }>> };
    expect(index.apiVersion).toBe('v1');
    expect(Object.keys(index.entries)).toEqual(['external-dns', 'keycloak', 'legacy', 'nats', 'webapp']);
    expect(index.entries.nats.map((e) => e.version)).toEqual(['2.14.2', '2.13.0']);
    for (const [name, list] of Object.entries(index.entries)) {
      if (name === 'legacy') continue;
      for (const e of list) {
        expect(e.name).toBe(name);
        expect(e.urls).toEqual([`${mirror.url}/${name}-${e.version}.tgz`]);
        expect(e.digest).toBe(await sha256File(path.join(mirrorDir, `${name}-${e.version}.tgz`)));
      }
    }
    expect(index.entries.keycloak[0].appVersion).toBe('26.3.3');

    // Registry: the OCI chart keeps its upstream manifest digest; an HTTP chart carries the exact archive as its content layer.
    const mirroredDns = `${reg.host}/mirror/${reg.host.replace(':', '-')}/charts/external-dns:1.21.1`;
    expect('sha256:' + createHash('sha256').update(await skopeoRawManifest(reg, mirroredDns)).digest('hex')).toBe(externalDnsManifestDigest);
    const natsRepo = `mirror/${repo.url.replace('http://', '').replace(':', '-')}/stable/nats`;
    const natsManifest = JSON.parse((await skopeoRawManifest(reg, `${reg.host}/${natsRepo}:2.14.2`)).toString('utf8'));
    expect(natsManifest.config.mediaType).toBe('application/vnd.cncf.helm.config.v1+json');
    expect(natsManifest.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
      'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
      'application/vnd.cncf.helm.chart.provenance.v1.prov',
    ]);
    expect(natsManifest.layers[0].digest).toBe(`sha256:${pkgs.nats.digest}`);
    const blob = path.join(work, 'nats-from-registry.tgz');
    await mustRun('curl', ['-sSfL', '-o', blob, `${reg.url}/v2/${natsRepo}/blobs/sha256:${pkgs.nats.digest}`]);
    expect(await sha256File(blob)).toBe(pkgs.nats.digest);
    const config = JSON.parse((await mustRun('curl', ['-sSfL', `${reg.url}/v2/${natsRepo}/blobs/${natsManifest.config.digest}`])).stdout);
    expect(config).toMatchObject({ name: 'nats', version: '2.14.2', appVersion: '2.14.2', apiVersion: 'v2' });

    // OCI layout directory target: skopeo reads the chart artifact back by its reference name.
    const layoutRef = `${repo.url.replace('http://', '')}/stable/nats:2.14.2`;
    const fromLayout = JSON.parse((await mustRun('skopeo', ['inspect', '--raw', `oci:${path.join(work, 'layout')}:${layoutRef}`])).stdout);
    expect(fromLayout).toEqual(natsManifest);
  });

  it('ferry map names both mirror places of every chart: the registry reference and the chart repository URL', async () => {
    const r = await runFerry(['map', bundle, '--target', target, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const rows = (JSON.parse(r.stdout) as { rows: Array<{ kind: string; upstream: string; mirror: string[] }> }).rows.filter((x) => x.kind === 'chart');
    const repoHost = repo.url.replace('http://', '');
    expect(rows.find((x) => x.upstream === `${repoHost}/stable/nats:2.14.2`)!.mirror).toEqual([`${reg.host}/mirror/${repoHost.replace(':', '-')}/stable/nats:2.14.2`, `${mirror.url}/nats-2.14.2.tgz`]);
    expect(rows.find((x) => x.upstream === `${reg.host}/charts/external-dns:1.21.1`)!.mirror).toEqual([`${reg.host}/mirror/${reg.host.replace(':', '-')}/charts/external-dns:1.21.1`, `${mirror.url}/external-dns-1.21.1.tgz`]);
    expect(rows.length).toBe(5);
  });

  it('a second import sends nothing and leaves index.yaml as it was', async () => {
    const before = await readFile(path.join(mirrorDir, 'index.yaml'), 'utf8');
    const r = await runFerry(['import', bundle, '--target', target, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { results: Array<{ artifact: string; skipped: boolean }>; bytesSent: number };
    const charts = report.results.filter((x) => x.artifact.startsWith('chart '));
    expect(charts.length).toBe(15);
    expect(charts.filter((x) => !x.skipped)).toEqual([]);
    expect(await readFile(path.join(mirrorDir, 'index.yaml'), 'utf8')).toBe(before);
  });

  it('the mirrored chart repository serves what was locked upstream (index read back through nginx)', async () => {
    const m = await writeManifest('from-mirror', [{ name: 'nats', repo: mirror.url, version: '2.x', images: 'none' }]);
    const r = await runFerry(['lock', m], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const l = JSON.parse(await readFile(path.join(work, 'from-mirror.lock.json'), 'utf8'));
    expect(l.charts[0]).toMatchObject({ name: 'nats', version: '2.14.2', digest: `sha256:${pkgs.nats.digest}`, url: `${mirror.url}/nats-2.14.2.tgz` });
  });
  it('ferry serve answers an HTTP chart repository at /charts/ straight from the bundle: index.yaml with relative urls, archives and provenance byte for byte, and a chart client locks from it', async () => {
    const serve = await startFerryServe([bundle], { cwd: work });
    try {
      const text = await (await fetch(`${serve.url}/charts/index.yaml`)).text();
      const index = parseYaml(text) as { apiVersion: string; entries: Record<string, Array<{ version: string; urls: string[]; digest: string }>> };
      expect(index.apiVersion).toBe('v1');
      expect(Object.keys(index.entries)).toEqual(['external-dns', 'keycloak', 'nats', 'webapp']);
      expect(index.entries.nats.map((e) => e.version)).toEqual(['2.14.2', '2.13.0']);
      for (const p of [pkgs.nats, pkgs.nats213, pkgs.keycloak, pkgs.webapp, pkgs.externalDns]) {
        const e = index.entries[p.name].find((x) => x.version === p.version)!;
        expect(e.urls).toEqual([`${p.name}-${p.version}.tgz`]);
        expect(e.digest).toBe(p.digest);
        const body = Buffer.from(await (await fetch(`${serve.url}/charts/${p.name}-${p.version}.tgz`)).arrayBuffer());
        expect(createHash('sha256').update(body).digest('hex'), `${p.name} ${p.version}`).toBe(p.digest);
      }
      expect(Buffer.from(await (await fetch(`${serve.url}/charts/nats-2.14.2.tgz.prov`)).arrayBuffer())).toEqual(await readFile(`${pkgs.nats.file}.prov`));
      expect((await fetch(`${serve.url}/charts/nats-9.9.9.tgz`)).status).toBe(404);
      // A chart client resolves the relative url against the repository and gets the locked archive.
      const m = await writeManifest('from-serve', [{ name: 'nats', repo: `${serve.url}/charts`, version: '2.x', images: 'none' }]);
      const r = await runFerry(['lock', m], { env: env() });
      expect(r.code, r.stderr).toBe(0);
      const l = JSON.parse(await readFile(path.join(work, 'from-serve.lock.json'), 'utf8'));
      expect(l.charts[0]).toMatchObject({ name: 'nats', version: '2.14.2', digest: `sha256:${pkgs.nats.digest}` });
    } finally {
      await serve.stop();
    }
  });
});

describe('charts images over a manifest', () => {
  it('discovers through non-vendored dependencies fetched from the loopback repositories, with alias scoping and provenance', async () => {
    const m = await writeManifest('discover', [{ name: 'webapp', repo: repoUrl, version: '0.1.0' }]);
    const r = await runFerry(['charts', 'images', m, '--json', ...insecure()], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { charts: Array<{ images: Array<{ ref: string; certainty: string; sources: Array<{ chart: string; valuesPath?: string; kind: string; file: string; line?: number }> }> }> };
    const imgs = report.charts[0].images;
    const certain = imgs.filter((i) => i.certainty === 'certain').map((i) => i.ref);
    expect(certain).toEqual(
      [
        'docker.io/curlimages/curl:8.5.0',
        'docker.io/library/nats:2.14.2-alpine', // nats 2.13.0 is a re-versioned copy of the 2.14.2 chart
        'docker.io/natsio/nats-server-config-reloader:0.23.0',
        'example.org/acme/webapp:3.2.1',
        'registry.k8s.io/external-dns/external-dns:v0.21.0-site',
      ].sort(),
    );
    const dns = imgs.find((i) => i.ref.includes('external-dns'))!.sources.find((s) => s.kind === 'values')!;
    expect(dns).toMatchObject({ chart: 'webapp > dns', valuesPath: 'dns.image', kind: 'values' });
    // found by rendering: the resource's template and line
    const curl = imgs.find((i) => i.ref.includes('curl'))!.sources[0];
    expect(curl).toMatchObject({ kind: 'rendered', file: 'templates/migrate-job.yaml', line: 8 });
    // natsBox disabled by the parent's values → only possible.
    expect(imgs.find((i) => i.ref === 'docker.io/natsio/nats-box:0.19.7')?.certainty).toBe('possible');
  });

  it('--render without helm on PATH says so and still reports', async () => {
    const r = await runFerry(['charts', 'images', path.join(CORPUS, 'nats'), '--render', '--json'], { env: { ...env(), PATH: path.dirname(process.execPath) } });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.renderNote).toMatch(/no helm binary/);
    expect(report.charts[0].images.length).toBeGreaterThan(0);
  });
});

describe('charts over HTTPS with a private CA', () => {
  it('trusts the repository with --ca-file, and names the host and what to do without it', async () => {
    const ca = await makeTestCa(path.join(work, 'pki'));
    const tls = await startStaticServer(repoDir, { tls: ca });
    try {
      const m = await writeManifest('tls', [{ name: 'nats', repo: `${tls.url}/stable`, version: '2.14.2', images: 'none' }]);
      const bad = await runFerry(['lock', m], { env: env() });
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain(`127.0.0.1:${tls.port}`);
      expect(bad.stderr).toMatch(/--ca-file/);
      const ok = await runFerry(['lock', m, '--ca-file', ca.caFile], { env: env() });
      expect(ok.code, ok.stderr).toBe(0);
      const l = JSON.parse(await readFile(path.join(work, 'tls.lock.json'), 'utf8'));
      expect(l.charts[0]).toMatchObject({ name: 'nats', version: '2.14.2', digest: `sha256:${pkgs.nats.digest}`, url: `${tls.url}/stable/nats-2.14.2.tgz` });
    } finally {
      await tls.stop();
    }
  });
});

describe('charts: bad input names the chart, the dependency and the place', () => {
  it('a version range that matches nothing lists the versions that exist', async () => {
    const m = await writeManifest('bad-range', [{ name: 'nats', repo: repoUrl, version: '9.x', images: 'none' }]);
    const r = await runFerry(['lock', m], { env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('chart nats');
    expect(r.stderr).toContain('"9.x"');
    expect(r.stderr).toContain('2.14.2, 2.13.0');
  });

  it('a missing dependency fails naming the chart and the dependency', async () => {
    const m = await writeManifest('bad-dep', [{ name: 'broken', repo: repoUrl, version: '1.0.0', images: 'none' }]);
    const r = await runFerry(['lock', m], { env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/chart broken 1\.0\.0: dependency ghost 1\.x from http:\/\/127\.0\.0\.1:\d+\/stable/);
  });

  it('an archive that does not match the index digest is refused, named, and not kept', async () => {
    const m = await writeManifest('bad-digest', [{ name: 'tampered', repo: repoUrl, version: '1.0.0', images: 'none' }]);
    const r = await runFerry(['lock', m], { env: env() });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('chart tampered 1.0.0');
    expect(r.stderr).toContain('digest mismatch');
    expect(existsSync(path.join(work, 'cache', 'blobs', 'sha256', pkgs.tampered.digest))).toBe(false);
    const dep = await writeManifest('bad-dep-digest', [{ name: 'needs-tampered', repo: repoUrl, version: '1.0.0', images: 'none' }]);
    const d = await runFerry(['lock', dep], { env: env() });
    expect(d.code).toBe(3);
    expect(d.stderr).toMatch(/chart needs-tampered 1\.0\.0: dependency tampered 1\.0\.0 .*digest mismatch/);
  });

  it('an unreachable repository is named', async () => {
    const dead = `http://127.0.0.1:${await freePort()}/charts`;
    const m = await writeManifest('dead', [{ name: 'nats', repo: dead, version: '2.x', images: 'none' }]);
    const r = await runFerry(['lock', m], { env: { ...env(), FERRY_RETRIES: '0' } });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`chart repository ${dead}: unreachable`);
    const deadOci = `oci://127.0.0.1:${await freePort()}/charts`;
    const mo = await writeManifest('dead-oci', [{ name: 'external-dns', repo: deadOci, version: '1.x', images: 'none' }]);
    const o = await runFerry(['lock', mo, '--insecure-registry', deadOci.slice('oci://'.length).split('/')[0]], { env: { ...env(), FERRY_RETRIES: '0' } });
    expect(o.code).toBe(4);
    expect(o.stderr).toContain(`chart repository ${deadOci}: unreachable`);
  });
});
