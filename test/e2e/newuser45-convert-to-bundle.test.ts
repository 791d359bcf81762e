import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { packageChart, startStaticServer, writeHelloChartRepo, writeHelmLayout, type PackagedChart, type StaticServer } from '../support/chart-repo.js';
import { mustRun, runFerry } from '../support/cli.js';
import { signWithOpenssl } from '../support/keyless-ca.js';
import { pushCosignSignatureManifest, simpleSigningPayload } from '../support/oci-push.js';
import { pushLayoutImage, seedImages, skopeoDigest, type SeededImages } from '../support/images.js';
import { skopeoEnv, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A new user who just converted their oc-mirror ImageSetConfiguration and their Hauler manifest
 * (README "Coming from Zarf, Hauler or oc-mirror") and follows the README from there with the
 * built CLI: `ferry convert` → `ferry lock` → `ferry bundle create` → `ferry import` into a second
 * registry. Upstream is real: a Distribution registry with the images pushed by skopeo (one of them
 * an index, used as the operator catalog; one signed cosign-style with an openssl key), an HTTP
 * chart repository (nginx) and an OCI chart in the registry. The mirror's digests are read back
 * with skopeo and compared with upstream's.
 */

let work: string;
let reg: RunningRegistry; // upstream
let site: RunningRegistry; // the air-gapped side's registry
let web: StaticServer; // upstream chart repository and file server
let seeded: SeededImages;
let hello: PackagedChart;
let podinfo: PackagedChart;
let R: string;
let U: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });
// The upstream registry speaks plain HTTP on loopback: the user says so, as the README tells.
const insecure = () => ['--insecure-registry', reg.host];
const CATALOG = 'redhat/redhat-operator-index:v4.18';
const FILE_BODY = 'a tool the site needs\n';

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser45-'));
  const webRoot = path.join(work, 'web');
  await mkdir(path.join(webRoot, 'files'), { recursive: true });
  [reg, site, web] = await Promise.all([startRegistry({ mode: 'http' }), startRegistry({ mode: 'http' }), startStaticServer(webRoot)]);
  R = reg.host;
  U = web.url;
  seeded = await seedImages(reg);
  // The operator catalog is an index (as redhat-operator-index is: one manifest per architecture).
  await pushLayoutImage(reg, seeded.layoutDir, 'multi', CATALOG);
  hello = await writeHelloChartRepo(work, webRoot);
  await writeFile(path.join(webRoot, 'files', 'tool.sh'), FILE_BODY);
  // An OCI chart, as `helm push` leaves it.
  const podSrc = path.join(work, 'src', 'podinfo');
  await mkdir(path.join(podSrc, 'templates'), { recursive: true });
  await writeFile(path.join(podSrc, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'podinfo', version: '6.5.0' }));
  await writeFile(path.join(podSrc, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: podinfo\n');
  podinfo = await packageChart(podSrc, path.join(work, 'oci-staging'));
  const layout = path.join(work, 'helm-layout');
  await writeHelmLayout(layout, podinfo, 'podinfo');
  await mustRun('skopeo', ['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:podinfo`, `docker://${R}/charts/podinfo:6.5.0`], { env: skopeoEnv() });
  // `app` is signed with the key Hauler's manifest names (cosign's format, made with openssl).
  const keys = path.join(work, 'keys');
  await mkdir(keys);
  await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path.join(keys, 'cosign.key')]);
  await mustRun('openssl', ['pkey', '-in', path.join(keys, 'cosign.key'), '-pubout', '-out', path.join(keys, 'cosign.pub')]);
  const payload = simpleSigningPayload(seeded.digests.app, `${R}/ferry-test/app`);
  await writeFile(path.join(work, 'payload.json'), payload);
  const der = await signWithOpenssl(path.join(keys, 'cosign.key'), path.join(work, 'payload.json'));
  await pushCosignSignatureManifest(reg, 'ferry-test/app', seeded.digests.app, payload, { 'dev.cosignproject.cosign/signature': der });
}, 300_000);

afterAll(async () => {
  await Promise.all([reg?.stop(), site?.stop(), web?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

/** The mirror references `ferry map` prints for each upstream image or chart of the bundle. */
async function mirrorOf(bundle: string, target: string): Promise<Map<string, string>> {
  const r = await runFerry(['map', bundle, '--target', target, '--json'], { env: env() });
  expect(r.code, r.stderr).toBe(0);
  const rows = (JSON.parse(r.stdout) as { rows: Array<{ kind: string; upstream: string; mirror: string[] }> }).rows;
  return new Map(rows.map((x) => [x.upstream, x.mirror[0]]));
}

async function siteTarget(dir: string): Promise<string> {
  const file = path.join(dir, 'target.yaml');
  await mkdir(path.join(dir, 'files'), { recursive: true });
  await writeFile(file, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 'site' }, registry: { url: site.url, prefix: path.basename(dir) }, files: { dir: './files', baseUrl: 'http://files.site.internal/' } }));
  return file;
}

/** convert → lock → bundle create → import, each command as the README gives it, from `cwd`. */
async function throughTheSite(format: string, source: string, cwd: string, outName: string) {
  const out = path.join(cwd, outName);
  const c = await runFerry(['convert', format, source, '-o', out], { cwd, env: env() });
  expect(c.code, c.stderr).toBe(0);
  const l = await runFerry(['lock', out, ...insecure()], { cwd, env: env() });
  expect(l.code, l.stderr + l.stdout).toBe(0);
  const bundle = path.join(path.dirname(out), 'site.ferry.tar');
  const b = await runFerry(['bundle', 'create', out, '-o', bundle, ...insecure()], { cwd, env: env() });
  expect(b.code, b.stderr + b.stdout).toBe(0);
  const target = await siteTarget(path.join(path.dirname(out), 'site'));
  const i = await runFerry(['import', bundle, '--target', target, '--json'], { cwd, env: env() });
  expect(i.code, i.stderr + i.stdout).toBe(0);
  const manifest = parseYaml(await readFile(out, 'utf8')) as { metadata: { name: string } } & Record<string, unknown>;
  // The lock is `<name>.lock.json` beside the manifest (README "Lock").
  const lock = JSON.parse(await readFile(path.join(path.dirname(out), `${manifest.metadata.name}.lock.json`), 'utf8')) as { images: LockedImage[] };
  const imported = JSON.parse(i.stdout) as { verified: { imageSignatures: number } };
  return { manifest, imported, stdout: c.stdout, stderr: c.stderr, lock, bundle, target, mirror: await mirrorOf(bundle, target) };
}

interface LockedImage {
  ref: string;
  digest: string;
  storedDigest?: string;
}

const digestOf = (ref: string) => skopeoDigest(site, ref);

/**
 * An image kept for some platforms only: the mirror holds a filtered index (the lock's
 * storedDigest, as the README says), whose platform manifests are upstream's, byte for byte.
 */
async function expectFiltered(lock: { images: LockedImage[] }, mirrorRef: string, upstreamRef: string, kept: string[]): Promise<void> {
  const entry = lock.images.find((i) => i.ref === upstreamRef)!;
  expect(entry.digest).toBe(seeded.digests.multi);
  expect(entry.storedDigest).toBeDefined();
  expect(await digestOf(mirrorRef)).toBe(entry.storedDigest);
  const index = JSON.parse((await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${mirrorRef}`], { env: skopeoEnv() })).stdout) as { manifests: Array<{ digest: string }> };
  expect(index.manifests.map((d) => d.digest)).toEqual(kept);
}

describe('newuser45: a converted file, through lock, bundle create and import', () => {
  it('oc-mirror: additional images (one for a platform), an index catalog and an HTTP repository chart with no version reach the site registry under upstream digests', async () => {
    const dir = path.join(work, 'ocp');
    await mkdir(dir);
    await writeFile(
      path.join(dir, 'imageset-config.yaml'),
      `kind: ImageSetConfiguration
apiVersion: mirror.openshift.io/v2alpha1
mirror:
  additionalImages:
    - name: ${R}/ferry-test/app:1
    - name: docker://${R}/ferry-test/multi:1
      platforms:
        - os: linux
          architecture: arm64
  operators:
    - catalog: ${R}/${CATALOG}
      packages:
        - name: aws-load-balancer-operator
  helm:
    repositories:
      - name: local
        url: ${U}/charts
        charts:
          - name: hello
`,
    );
    const { manifest, mirror, lock, stderr } = await throughTheSite('oc-mirror', 'imageset-config.yaml', dir, 'manifest.yaml');
    // convert said the platform-filtered image would not keep upstream's digest (below: it does not).
    expect(stderr).toMatch(/additionalImages: \S+\/ferry-test\/multi:1 platforms: linux\/arm64: .*storedDigest/);
    expect(manifest.charts).toEqual([{ name: 'hello', repo: `${U}/charts`, version: '*' }]);
    await expectFiltered(lock, mirror.get(`${R}/ferry-test/multi:1`)!, `${R}/ferry-test/multi:1`, [seeded.platforms['linux/arm64']]);
    for (const [ref, upstream] of [
      [`${R}/ferry-test/app:1`, seeded.digests.app],
      [`${R}/${CATALOG}`, seeded.digests.multi],
    ]) {
      expect(mirror.get(ref), ref).toBeDefined();
      expect(await digestOf(mirror.get(ref)!), ref).toBe(upstream);
    }
    const chart = mirror.get(`${U.replace(/^https?:\/\//, '')}/charts/hello:1.0.0`);
    expect(chart, [...mirror.keys()].join(', ')).toBeDefined();
    const m = JSON.parse((await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${chart}`], { env: skopeoEnv() })).stdout);
    expect(m.layers[0].digest).toBe(`sha256:${hello.digest}`);
  }, 600_000);

  it('Hauler: images with a cosign key named relative to where hauler ran, an OCI chart, a file: all at the site, the signature checked', async () => {
    // The user keeps the Hauler manifest in haul/, ran hauler from work/ (the key is keys/cosign.pub
    // there) and writes the ferry manifest into another directory.
    const dir = path.join(work, 'haul');
    await mkdir(dir);
    await writeFile(
      path.join(dir, 'hauler.yaml'),
      `apiVersion: content.hauler.cattle.io/v1
kind: Images
metadata:
  name: site-images
spec:
  images:
    - name: ${R}/ferry-test/app:1
      key: keys/cosign.pub
    - name: ${R}/ferry-test/multi:1
      platform: linux/amd64
---
apiVersion: content.hauler.cattle.io/v1
kind: Charts
metadata:
  name: site-charts
spec:
  charts:
    - name: podinfo
      repoURL: oci://${R}/charts
      version: 6.5.0
    - name: hello
      repoURL: ${U}/charts
---
apiVersion: content.hauler.cattle.io/v1
kind: Files
metadata:
  name: site-files
spec:
  files:
    - path: ${U}/files/tool.sh
`,
    );
    await mkdir(path.join(work, 'out'));
    const { manifest, mirror, target, lock, imported } = await throughTheSite('hauler', 'haul/hauler.yaml', work, 'out/manifest.yaml');
    expect((manifest.images as Array<{ ref: string; verify?: unknown }>).find((i) => i.ref === `${R}/ferry-test/app:1`)?.verify).toEqual({ keys: ['../keys/cosign.pub'] });
    expect(await digestOf(mirror.get(`${R}/ferry-test/app:1`)!)).toBe(seeded.digests.app);
    await expectFiltered(lock, mirror.get(`${R}/ferry-test/multi:1`)!, `${R}/ferry-test/multi:1`, [seeded.platforms['linux/amd64']]);
    const pod = mirror.get(`${R}/charts/podinfo:6.5.0`);
    expect(pod, [...mirror.keys()].join(', ')).toBeDefined();
    const upstreamPod = createHash('sha256').update((await mustRun('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${R}/charts/podinfo:6.5.0`], { env: skopeoEnv() })).stdout).digest('hex');
    expect(await digestOf(pod!)).toBe(`sha256:${upstreamPod}`);
    expect(mirror.get(`${U.replace(/^https?:\/\//, '')}/charts/hello:1.0.0`)).toBeDefined();
    // import checked app's signature against the key, and wrote the file where `ferry map` says.
    expect(imported.verified.imageSignatures).toBe(1);
    const file = mirror.get(`${U}/files/tool.sh`);
    expect(file, [...mirror.keys()].join(', ')).toMatch(/^http:\/\/files\.site\.internal\//);
    expect(await readFile(path.join(path.dirname(target), 'files', file!.slice('http://files.site.internal/'.length)), 'utf8')).toBe(FILE_BODY);
  }, 600_000);

  it('Hauler converted from another directory than the key\'s: convert says where it looked, and lock stops on that key by name', async () => {
    const dir = path.join(work, 'elsewhere');
    await mkdir(dir);
    await writeFile(path.join(dir, 'hauler.yaml'), `apiVersion: content.hauler.cattle.io/v1\nkind: Images\nmetadata:\n  name: signed\nspec:\n  images:\n    - name: ${R}/ferry-test/app:1\n      key: keys/cosign.pub\n`);
    const out = path.join(dir, 'manifest.yaml');
    const c = await runFerry(['convert', 'hauler', 'hauler.yaml', '-o', out], { cwd: dir, env: env() });
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toContain(`no file at ${path.join(dir, 'keys', 'cosign.pub')}`);
    expect(c.stderr).toContain('ferry lock');
    // As convert said: the lock stops on that key, by name, and nothing is bundled.
    const l = await runFerry(['lock', out, ...insecure()], { cwd: dir, env: env() });
    expect(l.code).not.toBe(0);
    expect(l.stderr).toContain(`${R}/ferry-test/app:1: key keys/cosign.pub`);
  }, 600_000);
});
