import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runFerry } from '../support/cli.js';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { writeTree } from '../support/convert-output.js';
import { cycloneDxValidator } from '../support/cyclonedx.js';
import { tarOf } from '../support/images.js';
import { OCI_INDEX, OCI_MANIFEST, pushBlob, putManifest, sha256 } from '../support/oci-push.js';
import { skopeoEnv, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * platforms66 (newuser63's edge job): a chart entry's `platforms:` (and the manifest's top-level
 * `platforms:`) apply to the images the chart brings; an image two entries bring is carried for
 * the union; buildx attestation manifests are counted apart from platforms, and the attestation of
 * a dropped platform is dropped with it. Images in a real Distribution registry, charts served by
 * nginx, the bundle imported into a second registry and read back with skopeo.
 */

let work: string;
let repo: StaticServer;
let up: RunningRegistry;
let site: RunningRegistry;

const FOUR = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: 'arm', variant: 'v7' },
  { os: 'linux', architecture: 's390x' },
];
type Platform = (typeof FOUR)[number];
interface Child { mediaType: string; digest: string; size: number; platform: Platform | { os: string; architecture: string }; annotations?: Record<string, string> }

/** One platform's image manifest (its own config and layer). */
async function platformManifest(name: string, p: Platform): Promise<Child> {
  const id = `${name} ${p.architecture}${'variant' in p ? p.variant : ''}`;
  const config = await pushBlob(up, name, Buffer.from(JSON.stringify({ architecture: p.architecture, os: p.os, ...('variant' in p ? { variant: p.variant } : {}), rootfs: { type: 'layers', diff_ids: [] } })));
  const layer = await pushBlob(up, name, tarOf({ 'etc/arch': `${id}\n` }));
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }] }));
  const digest = await putManifest(up, name, sha256(bytes), bytes, OCI_MANIFEST);
  return { mediaType: OCI_MANIFEST, digest, size: bytes.length, platform: p };
}

/** buildx's provenance attestation manifest for `of`: platform unknown/unknown, annotated with the manifest it describes. */
async function attestation(name: string, of: Child): Promise<Child> {
  const config = await pushBlob(up, name, Buffer.from('{}'));
  const statement = await pushBlob(up, name, Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v0.1', subject: [{ digest: { sha256: of.digest.slice(7) } }], predicateType: 'https://slsa.dev/provenance/v0.2' })));
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [{ mediaType: 'application/vnd.in-toto+json', ...statement, annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v0.2' } }] }));
  const digest = await putManifest(up, name, sha256(bytes), bytes, OCI_MANIFEST);
  return { mediaType: OCI_MANIFEST, digest, size: bytes.length, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.digest': of.digest, 'vnd.docker.reference.type': 'attestation-manifest' } };
}

/** A four-platform index under `name:tag`, with buildx attestations when asked; its children by platform. */
async function fourPlatformImage(name: string, tag: string, buildx: boolean): Promise<{ index: string; byArch: Record<string, Child>; attestations: Record<string, Child> }> {
  const children: Child[] = [];
  const byArch: Record<string, Child> = {};
  const attestations: Record<string, Child> = {};
  for (const p of FOUR) {
    const m = await platformManifest(name, p);
    children.push(m);
    byArch[p.architecture] = m;
    if (buildx) {
      const a = await attestation(name, m);
      children.push(a);
      attestations[p.architecture] = a;
    }
  }
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children }));
  const index = await putManifest(up, name, tag, bytes, OCI_INDEX);
  return { index, byArch, attestations };
}

let gw: Awaited<ReturnType<typeof fourPlatformImage>>;
let shared: Awaited<ReturnType<typeof fourPlatformImage>>;

const deployment = (name: string, images: string[]) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  template:\n    spec:\n      containers:\n${images.map((img, i) => `        - name: c${i}\n          image: ${img}\n`).join('')}`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-platforms66-'));
  const served = path.join(work, 'repo');
  await mkdir(served, { recursive: true });
  [repo, up, site] = await Promise.all([startStaticServer(served), startRegistry({ mode: 'http' }), startRegistry({ mode: 'http' })]);
  gw = await fourPlatformImage('edge/gateway', '2.4.1', true);
  shared = await fourPlatformImage('edge/agent', '1.0.0', false);
  const gateway = await writeTree(path.join(work, 'src', 'gateway'), {
    'Chart.yaml': 'apiVersion: v2\nname: gateway\nversion: 1.0.0\n',
    'values.yaml': '{}\n',
    'templates/deployment.yaml': deployment('gateway', [`${up.host}/edge/gateway:2.4.1`, `${up.host}/edge/agent:1.0.0`]),
  });
  const monitor = await writeTree(path.join(work, 'src', 'monitor'), {
    'Chart.yaml': 'apiVersion: v2\nname: monitor\nversion: 1.0.0\n',
    'values.yaml': '{}\n',
    'templates/deployment.yaml': deployment('monitor', [`${up.host}/edge/agent:1.0.0`]),
  });
  await writeRepoIndex(served, [await packageChart(gateway, served), await packageChart(monitor, served)]);
  await mkdir(path.join(work, 'job'), { recursive: true });
  await writeFile(path.join(work, 'job', 'site.yaml'), `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: ${site.url}\n  prefix: mirror\n`);
});

afterAll(async () => {
  await Promise.all([repo?.stop(), up?.stop(), site?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });
const job = (...p: string[]) => path.join(work, 'job', ...p);

function manifest(name: string, body: string): string {
  return `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: ${name} }\n${body}`;
}
const chartEntry = (name: string, extra = '') => `  - name: ${name}\n    repo: ${repo.url}\n    version: 1.0.0\n${extra}`;

interface LockedImage { ref: string; platforms?: string[]; storedDigest?: string; digest: string; manifests: Array<{ digest: string; platform: string; attestation?: { of?: string } }> }
async function lockedImages(file: string): Promise<Record<string, LockedImage>> {
  const lock = JSON.parse(await readFile(file, 'utf8')) as { images: LockedImage[] };
  return Object.fromEntries(lock.images.map((i) => [i.ref.slice(up.host.length + 1), i]));
}

/** The raw manifest skopeo reads from the site registry (`ref` under its mirror path), or undefined when there is none. */
async function siteManifest(ref: string): Promise<{ manifests: Array<{ digest: string; platform?: { architecture: string }; annotations?: Record<string, string> }> } | undefined> {
  const r = await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${site.host}/mirror/${up.host.replace(':', '-')}/${ref}`], { env: skopeoEnv() });
  return r.code === 0 ? JSON.parse(r.stdout) : undefined;
}

describe('a chart entry with platforms:', () => {
  it('carries the images the chart deploys for those platforms only (attestations of the kept ones with them), imports them so, and an image two charts deploy for the union', async () => {
    await writeFile(
      job('edge.yaml'),
      manifest('edge', `charts:\n${chartEntry('gateway', '    platforms: [linux/amd64, linux/arm64]\n')}${chartEntry('monitor', '    platforms: [linux/s390x]\n')}`),
    );
    const lock = await runFerry(['lock', 'edge.yaml'], { cwd: job(), env: env() });
    expect(lock.code, lock.stderr).toBe(0);
    // Attestation manifests are named as such, not counted as platforms.
    expect(lock.stdout).toContain(`${up.host}/edge/gateway:2.4.1: keeps linux/amd64, linux/arm64/v8 + 2 attestation manifests; stores index`);
    expect(lock.stdout).not.toContain('unknown/unknown');
    const images = await lockedImages(job('edge.lock.json'));
    expect(images['edge/gateway:2.4.1'].platforms).toEqual(['linux/amd64', 'linux/arm64']);
    expect(images['edge/gateway:2.4.1'].manifests.map((m) => m.digest).sort()).toEqual([gw.byArch.amd64, gw.byArch.arm64, gw.attestations.amd64, gw.attestations.arm64].map((c) => c.digest).sort());
    expect(images['edge/gateway:2.4.1'].manifests.filter((m) => m.attestation).map((m) => m.attestation!.of).sort()).toEqual([gw.byArch.amd64.digest, gw.byArch.arm64.digest].sort());
    // The agent both charts deploy: the union of their platforms.
    expect(images['edge/agent:1.0.0'].platforms).toEqual(['linux/amd64', 'linux/arm64', 'linux/s390x']);
    expect(images['edge/agent:1.0.0'].manifests.map((m) => m.platform)).toEqual(['linux/amd64', 'linux/arm64/v8', 'linux/s390x']);
    const charts = (JSON.parse(await readFile(job('edge.lock.json'), 'utf8')) as { charts: Array<{ name: string; platforms?: string[] }> }).charts;
    expect(charts.map((c) => [c.name, c.platforms])).toEqual([['gateway', ['linux/amd64', 'linux/arm64']], ['monitor', ['linux/s390x']]]);

    const bundle = path.join(work, 'edge.ferry.tar');
    const create = await runFerry(['bundle', 'create', 'edge.yaml', '-o', bundle, '--frozen'], { cwd: job(), env: env() });
    expect(create.code, create.stderr).toBe(0);
    const imp = await runFerry(['import', bundle, '--target', job('site.yaml')], { env: env() });
    expect(imp.code, imp.stderr).toBe(0);
    const gateway = await siteManifest('edge/gateway:2.4.1');
    expect(gateway!.manifests.map((m) => m.digest).sort()).toEqual([gw.byArch.amd64, gw.byArch.arm64, gw.attestations.amd64, gw.attestations.arm64].map((c) => c.digest).sort());
    // The dropped platforms and their attestations are nowhere on the site registry.
    for (const c of [gw.byArch.arm, gw.byArch.s390x, gw.attestations.arm, gw.attestations.s390x]) expect(await siteManifest(`edge/gateway@${c.digest}`)).toBeUndefined();
    for (const c of [gw.byArch.amd64, gw.attestations.arm64]) expect(await siteManifest(`edge/gateway@${c.digest}`)).toBeDefined();
    const agent = await siteManifest('edge/agent:1.0.0');
    expect(agent!.manifests.map((m) => m.platform!.architecture).sort()).toEqual(['amd64', 'arm64', 's390x']);
    expect(await siteManifest(`edge/agent@${shared.byArch.arm.digest}`)).toBeUndefined();

    // The SBOM lists the attestation manifests as attestations (data), not as platforms of arch unknown.
    const sbomFile = path.join(work, 'edge.cdx.json');
    const sbom = await runFerry(['sbom', bundle, '-o', sbomFile], { env: env() });
    expect(sbom.code, sbom.stderr).toBe(0);
    expect(sbom.stderr).toContain('+ 2 attestation manifests');
    const doc = JSON.parse(await readFile(sbomFile, 'utf8')) as { components: Array<{ name: string; components?: Array<{ type: string; purl: string; properties?: Array<{ name: string; value: string }> }> }> };
    const validate = await cycloneDxValidator();
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    const children = doc.components.filter((c) => c.name === 'gateway').flatMap((c) => c.components ?? []);
    expect(children.filter((c) => c.purl.includes('arch=unknown'))).toEqual([]);
    const atts = children.filter((c) => c.type === 'data');
    expect(atts.map((c) => c.properties?.find((p) => p.name === 'ferry:attestationOf')?.value).sort()).toEqual([gw.byArch.amd64.digest, gw.byArch.arm64.digest].sort());
    expect(children.filter((c) => c.type === 'container')).toHaveLength(2);
  });

  it('a changed chart platforms: makes the lock stale (lock --check, --frozen) and the re-lock names the image whose platforms moved', async () => {
    await writeFile(job('edge.yaml'), manifest('edge', `charts:\n${chartEntry('gateway', '    platforms: [linux/amd64]\n')}${chartEntry('monitor', '    platforms: [linux/s390x]\n')}`));
    const check = await runFerry(['lock', 'edge.yaml', '--check'], { cwd: job(), env: env() });
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('out of date');
    const frozen = await runFerry(['bundle', 'create', 'edge.yaml', '-o', path.join(work, 'x.tar'), '--frozen'], { cwd: job(), env: env() });
    expect(frozen.code).not.toBe(0);
    const relock = await runFerry(['lock', 'edge.yaml', '--json'], { cwd: job(), env: env() });
    expect(relock.code, relock.stderr).toBe(0);
    const changes = (JSON.parse(relock.stdout) as { changes: Array<{ kind: string; change: string; name: string; from?: string; to?: string }> }).changes;
    expect(changes.filter((c) => c.kind === 'image')).toEqual([
      expect.objectContaining({ change: 'updated', name: `${up.host}/edge/agent`, from: `1.0.0@${shared.index} for linux/amd64, linux/arm64, linux/s390x`, to: `1.0.0@${shared.index} for linux/amd64, linux/s390x` }),
      expect.objectContaining({ change: 'updated', name: `${up.host}/edge/gateway`, from: `2.4.1@${gw.index} for linux/amd64, linux/arm64`, to: `2.4.1@${gw.index} for linux/amd64` }),
    ]);
  });

  it("the manifest's top-level platforms: apply to a chart that gives none and to images: entries; an entry's own list wins", async () => {
    await writeFile(
      job('fleet.yaml'),
      manifest('fleet', `platforms: [linux/arm64]\nimages:\n  - ref: ${up.host}/edge/agent:1.0.0\n    platforms: [linux/s390x]\ncharts:\n${chartEntry('gateway')}`),
    );
    const lock = await runFerry(['lock', 'fleet.yaml'], { cwd: job(), env: env() });
    expect(lock.code, lock.stderr).toBe(0);
    const images = await lockedImages(job('fleet.lock.json'));
    expect(images['edge/gateway:2.4.1'].platforms).toEqual(['linux/arm64']);
    expect(images['edge/gateway:2.4.1'].manifests.map((m) => m.platform)).toEqual(['linux/arm64/v8', 'unknown/unknown']);
    // Listed for s390x, deployed by the chart (the manifest's arm64): both.
    expect(images['edge/agent:1.0.0'].platforms).toEqual(['linux/arm64', 'linux/s390x']);
  });

  it("an image listed with platforms that a chart with no platforms deploys keeps its entry's list, and that is said", async () => {
    await writeFile(job('wide.yaml'), manifest('wide', `images:\n  - ref: ${up.host}/edge/agent:1.0.0\n    platforms: [linux/amd64]\ncharts:\n${chartEntry('monitor')}`));
    const lock = await runFerry(['lock', 'wide.yaml'], { cwd: job(), env: env() });
    expect(lock.code, lock.stderr).toBe(0);
    expect(lock.stderr).toContain(`warning: ${up.host}/edge/agent:1.0.0: carried for linux/amd64 only, as its images: entry lists, although a chart that deploys it gives no platforms:`);
    const images = await lockedImages(job('wide.lock.json'));
    expect(images['edge/agent:1.0.0'].platforms).toEqual(['linux/amd64']);
    expect(images['edge/agent:1.0.0'].manifests.map((m) => m.platform).filter((p) => p !== 'unknown/unknown')).toEqual(['linux/amd64']);
  });
});

describe('buildx attestation manifests', () => {
  it('are counted apart from platforms (an images: entry with platforms), and the attestation of a dropped platform is dropped with it', async () => {
    await writeFile(job('listed.yaml'), manifest('listed', `images:\n  - ref: ${up.host}/edge/gateway:2.4.1\n    platforms: [linux/arm64]\n`));
    const lock = await runFerry(['lock', 'listed.yaml'], { cwd: job(), env: env() });
    expect(lock.code, lock.stderr).toBe(0);
    expect(lock.stdout).toContain(`${up.host}/edge/gateway:2.4.1: keeps linux/arm64/v8 + 1 attestation manifest; stores index`);
    const img = (await lockedImages(job('listed.lock.json')))['edge/gateway:2.4.1'];
    expect(img.manifests).toEqual([
      expect.objectContaining({ digest: gw.byArch.arm64.digest, platform: 'linux/arm64/v8' }),
      expect.objectContaining({ digest: gw.attestations.arm64.digest, platform: 'unknown/unknown', attestation: { of: gw.byArch.arm64.digest } }),
    ]);
    expect(img.manifests[0].attestation).toBeUndefined();
  });
});

describe('convert', () => {
  it("gives a chart the platform the source tool pulls its images for: Hauler's chart platform:, oc-mirror's chart platforms:", async () => {
    const dir = path.join(work, 'convert');
    await writeTree(dir, {
      'hauler.yaml': `apiVersion: content.hauler.cattle.io/v1\nkind: Charts\nmetadata: { name: c }\nspec:\n  charts:\n    - name: gateway\n      repoURL: ${repo.url}\n      version: 1.0.0\n      platform: linux/arm64\n`,
      'isc.yaml': `apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  helm:\n    repositories:\n      - name: edge\n        url: ${repo.url}\n        charts:\n          - name: gateway\n            version: 1.0.0\n            platforms: [{ os: linux, architecture: arm64 }]\n`,
    });
    for (const [tool, file] of [['hauler', 'hauler.yaml'], ['oc-mirror', 'isc.yaml']]) {
      const out = path.join(dir, `${tool}.manifest.yaml`);
      const c = await runFerry(['convert', tool, file, '-o', out], { cwd: dir, env: env() });
      expect(c.code, c.stderr).toBe(0);
      expect(await readFile(out, 'utf8'), tool).toMatch(/charts:\n {2}- name: gateway\n(?: {4}.*\n)* {4}platforms:\n {6}- linux\/arm64\n/);
      expect(c.stderr, tool).not.toContain('ferry carries every platform of a discovered image');
      const lock = await runFerry(['lock', out], { cwd: dir, env: env() });
      expect(lock.code, lock.stderr).toBe(0);
    }
  });
});
