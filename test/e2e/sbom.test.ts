import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobStore } from '../../src/store/blob-store.js';
import { packBundle } from '../../src/store/bundle-pack.js';
import { mustRun, runFerry } from '../support/cli.js';
import { cycloneDxValidator } from '../support/cyclonedx.js';
import { packageChart, startStaticServer, writeRepoIndex, type PackagedChart, type StaticServer } from '../support/chart-repo.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { flipByte } from '../support/tar-walk.js';

/**
 * The bundle's SBOM, from a real bundle of images (a real registry), a chart (an HTTP chart
 * repository) and a file (an HTTP server): CycloneDX 1.6 validated against the CycloneDX 1.6 JSON
 * schema the CycloneDX library ships, SPDX 2.3 checked field by field against the spec's rules;
 * Debian packages from a packed lock with an APT repository.
 */
let work: string;
let upstream: RunningRegistry;
let seeded: SeededImages;
let server: StaticServer;
let chart: PackagedChart;
let fileBytes: Buffer;
let bundle: string;

const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

interface CdxComponent {
  type: string;
  name: string;
  version?: string;
  purl?: string;
  'bom-ref': string;
  hashes?: Array<{ alg: string; content: string }>;
  externalReferences?: Array<{ type: string; url: string }>;
  properties?: Array<{ name: string; value: string }>;
  components?: CdxComponent[];
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-sbom-'));
  upstream = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  const srv = path.join(work, 'srv');
  const chartSrc = path.join(work, 'chart-src', 'hello');
  await mkdir(path.join(chartSrc, 'templates'), { recursive: true });
  await writeFile(path.join(chartSrc, 'Chart.yaml'), 'apiVersion: v2\nname: hello\nversion: 1.2.3\n');
  await writeFile(path.join(chartSrc, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\n');
  chart = await packageChart(chartSrc, path.join(srv, 'charts'));
  await writeRepoIndex(path.join(srv, 'charts'), [chart]);
  fileBytes = Buffer.from('a tool the site needs\n'.repeat(100));
  await mkdir(path.join(srv, 'files'), { recursive: true });
  await writeFile(path.join(srv, 'files', 'tool.tar.gz'), fileBytes);
  server = await startStaticServer(srv);
  const manifest = path.join(work, 'app.yaml');
  await writeFile(
    manifest,
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: sbom-app }',
      'images:',
      `  - ref: ${seeded.refs.app}`,
      `  - ref: ${seeded.refs.multi}`,
      'charts:',
      `  - { name: hello, repo: "${server.url}/charts", version: 1.2.3, images: [] }`,
      'files:',
      `  - { name: tool, url: "${server.url}/files/tool.tar.gz", sha256: ${sha256(fileBytes)} }`,
      '',
    ].join('\n'),
  );
  bundle = path.join(work, 'app.ferry.tar');
  const r = await runFerry(['bundle', 'create', manifest, '-o', bundle], { env: env() });
  expect(r.code, r.stderr).toBe(0);
}, 600_000);

afterAll(async () => {
  await server?.stop();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('ferry sbom --format cyclonedx', () => {
  let sbom: { bomFormat: string; specVersion: string; serialNumber: string; components: CdxComponent[]; metadata: { component: { name: string } } };

  it('validates against the CycloneDX 1.6 JSON schema', async () => {
    const r = await runFerry(['sbom', bundle]);
    expect(r.code, r.stderr).toBe(0);
    sbom = JSON.parse(r.stdout);
    expect(sbom.bomFormat).toBe('CycloneDX');
    expect(sbom.specVersion).toBe('1.6');
    const validate = await cycloneDxValidator();
    const ok = validate(sbom);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    // The schema is not a rubber stamp: a component without a name fails it.
    const broken = structuredClone(sbom) as unknown as { components: Array<Record<string, unknown>> };
    delete broken.components[0].name;
    expect(validate(broken)).toBe(false);
  });

  it('lists every image (digest, platforms, repository), chart and file of the bundle', () => {
    expect(sbom.metadata.component.name).toBe('sbom-app');
    const containers = sbom.components.filter((c) => c.type === 'container');
    const app = containers.find((c) => c.version === seeded.digests.app)!;
    const host = upstream.host;
    expect(app.purl).toBe(`pkg:oci/app@sha256%3A${seeded.digests.app.slice(7)}?repository_url=${host}/ferry-test/app&tag=1`);
    expect(app.hashes).toEqual([{ alg: 'SHA-256', content: seeded.digests.app.slice(7) }]);
    expect(app.properties).toContainEqual({ name: 'ferry:repository', value: `${host}/ferry-test/app` });
    const multi = containers.find((c) => c.version === seeded.digests.multi)!;
    expect(multi.properties?.filter((p) => p.name === 'ferry:platform').map((p) => p.value).sort()).toEqual(['linux/amd64', 'linux/arm64/v8']);
    expect(multi.components?.map((c) => c.purl).sort()).toEqual(
      [
        `pkg:oci/multi@sha256%3A${seeded.platforms['linux/amd64'].slice(7)}?arch=amd64&os=linux&repository_url=${host}/ferry-test/multi&tag=1`,
        `pkg:oci/multi@sha256%3A${seeded.platforms['linux/arm64'].slice(7)}?arch=arm64&os=linux&repository_url=${host}/ferry-test/multi&tag=1&variant=v8`,
      ].sort(),
    );
    expect(containers).toHaveLength(2);

    const helm = sbom.components.find((c) => c.purl?.startsWith('pkg:helm/'))!;
    expect(helm).toMatchObject({ name: 'hello', version: '1.2.3', purl: `pkg:helm/hello@1.2.3?repository_url=${server.url}/charts` });
    expect(helm.hashes).toEqual([{ alg: 'SHA-256', content: chart.digest }]);

    const file = sbom.components.find((c) => c.type === 'file')!;
    expect(file.name).toBe('tool');
    expect(file.hashes).toEqual([{ alg: 'SHA-256', content: sha256(fileBytes) }]);
    expect(file.externalReferences).toEqual([{ type: 'distribution', url: `${server.url}/files/tool.tar.gz` }]);
    expect(sbom.components).toHaveLength(4);
  });

  it('is the same document as ferry/sbom.cdx.json inside the bundle, which checksums.sha256 covers', async () => {
    const inside = (await mustRun('tar', ['-xOf', bundle, 'ferry/sbom.cdx.json'])).stdout;
    const r = await runFerry(['sbom', bundle]);
    expect(inside).toBe(r.stdout);
    const sums = (await mustRun('tar', ['-xOf', bundle, 'ferry/checksums.sha256'])).stdout;
    expect(sums).toContain(`${sha256(inside)}  ferry/sbom.cdx.json\n`);
    // Deterministic: the same bundle gives the same bytes, serial number included.
    expect((await runFerry(['sbom', bundle])).stdout).toBe(r.stdout);
  });

  it('writes to a file with -o, and refuses a bundle whose lock changed after packing', async () => {
    const out = path.join(work, 'out.cdx.json');
    const r = await runFerry(['sbom', bundle, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/2 images with 2 platform manifests, 1 chart, 0 Debian packages, 1 file/);
    expect(JSON.parse(await readFile(out, 'utf8')).components).toHaveLength(4);
    const damaged = path.join(work, 'damaged.ferry.tar');
    await mustRun('cp', [bundle, damaged]);
    await flipByte(damaged, 'ferry/lock.json', 40);
    const bad = await runFerry(['sbom', damaged]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('ferry/lock.json does not match ferry/checksums.sha256');
    const fmt = await runFerry(['sbom', bundle, '--format', 'xml']);
    expect(fmt.code).toBe(2);
    expect(fmt.stderr).toContain('choose one of cyclonedx, spdx');
  });
});

describe('ferry sbom --format spdx', () => {
  it('writes SPDX 2.3 JSON with every package, its checksum, purl and download location', async () => {
    const r = await runFerry(['sbom', bundle, '--format', 'spdx'], { env: { SOURCE_DATE_EPOCH: '1767225600' } });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    checkSpdx23(doc);
    expect(doc.creationInfo.created).toBe('2026-01-01T00:00:00Z');
    const purls = doc.packages.map((p: { externalRefs?: Array<{ referenceLocator: string }> }) => p.externalRefs?.[0].referenceLocator);
    expect(purls.filter((p: string) => p.startsWith('pkg:oci/'))).toHaveLength(4);
    expect(purls.filter((p: string) => p.startsWith('pkg:helm/'))).toHaveLength(1);
    expect(purls.filter((p: string) => p.startsWith('pkg:generic/'))).toHaveLength(1);
    const file = doc.packages.find((p: { name: string }) => p.name === 'tool');
    expect(file).toMatchObject({ downloadLocation: `${server.url}/files/tool.tar.gz`, checksums: [{ algorithm: 'SHA256', checksumValue: sha256(fileBytes) }], primaryPackagePurpose: 'FILE' });
    // The two platform manifests hang off their index.
    const contains = doc.relationships.filter((x: { relationshipType: string }) => x.relationshipType === 'CONTAINS');
    expect(contains).toHaveLength(2);
  });
});

describe('Debian packages', () => {
  it('become pkg:deb purls with version (epoch encoded), architecture and distro', async () => {
    const store = new BlobStore(path.join(work, 'empty-store'));
    await store.init();
    const deb = (name: string, version: string, arch: string) => ({ name, version, architecture: arch, filename: `pool/main/${name[0]}/${name}/${name}_${version.replace(/^\d+:/, '')}_${arch}.deb`, sha256: sha256(name + version), size: 1000 });
    const lock = {
      apiVersion: 'ferry/v1alpha1',
      kind: 'Lock',
      manifest: { name: 'apt-app', digest: `sha256:${sha256('apt-app')}` },
      images: [],
      apt: [
        {
          name: 'debian',
          url: 'http://deb.debian.org/debian',
          mode: 'filtered',
          components: ['main'],
          architectures: ['amd64'],
          packages: ['curl'],
          suites: [{ suite: 'bookworm', signedBy: 'ABCD', release: [], indexes: [], packages: [deb('curl', '7.88.1-10+deb12u5', 'amd64'), deb('libc6', '2.36-9+deb12u4', 'amd64'), deb('tzdata', '1:2024a-0+deb12u1', 'all')] }],
        },
      ],
    };
    const aptBundle = path.join(work, 'apt.ferry.tar');
    await packBundle({ store, index: { schemaVersion: 2, manifests: [] }, metadata: { manifestYaml: 'x', lock: JSON.stringify(lock), manifestName: 'apt-app' }, output: aptBundle });
    const r = await runFerry(['sbom', aptBundle]);
    expect(r.code, r.stderr).toBe(0);
    const sbom = JSON.parse(r.stdout) as { components: CdxComponent[] };
    const validate = await cycloneDxValidator();
    expect(validate(sbom), JSON.stringify(validate.errors)).toBe(true);
    expect(sbom.components.map((c) => c.purl)).toEqual([
      'pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12',
      'pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12',
      'pkg:deb/debian/tzdata@1%3A2024a-0%2Bdeb12u1?arch=all&distro=debian-12',
    ]);
    const curl = sbom.components[0];
    expect(curl.hashes).toEqual([{ alg: 'SHA-256', content: sha256('curl7.88.1-10+deb12u5') }]);
    expect(curl.externalReferences).toEqual([{ type: 'distribution', url: 'http://deb.debian.org/debian/pool/main/c/curl/curl_7.88.1-10+deb12u5_amd64.deb' }]);
    const spdx = JSON.parse((await runFerry(['sbom', aptBundle, '--format', 'spdx'])).stdout);
    checkSpdx23(spdx);
    expect(spdx.packages.map((p: { versionInfo: string }) => p.versionInfo)).toEqual(['7.88.1-10+deb12u5', '2.36-9+deb12u4', '1:2024a-0+deb12u1']);
  });
});

/**
 * SPDX 2.3's rules for what ferry writes (the published JSON schema is not available offline in
 * this environment): required document fields, SPDXID syntax, unique ids, package fields the spec
 * makes mandatory, checksum algorithms and lengths, relationship ends that exist.
 */
function checkSpdx23(doc: Record<string, any>): void {
  expect(doc.spdxVersion).toBe('SPDX-2.3');
  expect(doc.dataLicense).toBe('CC0-1.0');
  expect(doc.SPDXID).toBe('SPDXRef-DOCUMENT');
  expect(typeof doc.name).toBe('string');
  expect(doc.documentNamespace).toMatch(/^https?:\/\/[^\s#]+$/);
  expect(doc.creationInfo.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  for (const c of doc.creationInfo.creators) expect(c).toMatch(/^(Tool|Organization|Person): \S/);
  const ids = new Set<string>(['SPDXRef-DOCUMENT']);
  for (const p of doc.packages) {
    expect(p.SPDXID).toMatch(/^SPDXRef-[A-Za-z0-9.-]+$/);
    expect(ids.has(p.SPDXID)).toBe(false);
    ids.add(p.SPDXID);
    expect(typeof p.name).toBe('string');
    expect(p.downloadLocation === 'NOASSERTION' || p.downloadLocation === 'NONE' || /^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(p.downloadLocation)).toBe(true);
    expect(p.filesAnalyzed).toBe(false);
    for (const c of p.checksums) {
      expect(['SHA256', 'SHA512']).toContain(c.algorithm);
      expect(c.checksumValue).toMatch(c.algorithm === 'SHA256' ? /^[a-f0-9]{64}$/ : /^[a-f0-9]{128}$/);
    }
    for (const ref of p.externalRefs ?? []) expect(ref).toMatchObject({ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: expect.stringMatching(/^pkg:[a-z]+\//) });
    expect(['CONTAINER', 'APPLICATION', 'LIBRARY', 'FILE']).toContain(p.primaryPackagePurpose);
    for (const k of ['licenseConcluded', 'licenseDeclared', 'copyrightText']) expect(p[k]).toBe('NOASSERTION');
  }
  for (const r of doc.relationships) {
    expect(ids.has(r.spdxElementId)).toBe(true);
    expect(ids.has(r.relatedSpdxElement)).toBe(true);
    expect(['DESCRIBES', 'CONTAINS']).toContain(r.relationshipType);
  }
  const described = doc.relationships.filter((r: { relationshipType: string }) => r.relationshipType === 'DESCRIBES').length;
  expect(described).toBeGreaterThan(0);
}
