import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { runFerry } from '../support/cli.js';
import { packageChart, startStaticServer, writeRepoIndex, type PackagedChart, type StaticServer } from '../support/chart-repo.js';
import { makeGpgKey, type GpgKey } from '../support/apt-repo.js';
import { chartLockOf, clearsign, helmMessage, pushOciChart, signPackaged, writeChartsProject } from '../support/chart-prov.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * Chart provenance beyond a chart entry's own archive, against a real nginx chart repository, a
 * real Distribution registry and charts clear-signed by a real gpg in Helm's .prov format:
 * `--keyring` on `charts images` and `rewrite chart` for a published chart (oci://, a repository,
 * a URL), the dependencies a chart does not vendor held to its entry's keys: at `lock` (as
 * `helm dependency build --verify`), and the re-lock summary naming a change of signer.
 */

/** The signing keys: the vendor's, and another's. */
let vendor: GpgKey;
let stranger: GpgKey;
/** The nginx chart repository (its web root's `stable/`) and the Distribution registry. */
let repo: StaticServer;
let repoUrl: string;
let stable: string;
let reg: RunningRegistry;
let work: string;
let tmp: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1', TMPDIR: tmp });
const ferry = (args: string[], cwd = work) => runFerry(args, { cwd, env: env() });

/** A chart with a ConfigMap and an image, its dependencies (by repository URL) not vendored. */
async function chartSource(name: string, version: string, deps: Array<{ name: string; version: string }> = []): Promise<string> {
  const dir = path.join(work, 'src', `${name}-${version}`, name);
  await mkdir(path.join(dir, 'templates'), { recursive: true });
  const meta = { apiVersion: 'v2', name, version, description: `${name} for tests`, ...(deps.length ? { dependencies: deps.map((d) => ({ ...d, repository: repoUrl })) } : {}) };
  await writeFile(path.join(dir, 'Chart.yaml'), stringifyYaml(meta));
  await writeFile(path.join(dir, 'values.yaml'), `image: ghcr.io/acme/${name}:${version}\n`);
  await writeFile(path.join(dir, 'templates', 'pod.yaml'), `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n    - name: c\n      image: {{ .Values.image }}\n`);
  return dir;
}

/** Package into the repository's web root, signed by `key` (none: unsigned). */
async function publish(name: string, version: string, key: GpgKey | undefined, deps: Array<{ name: string; version: string }> = []): Promise<PackagedChart> {
  const c = await packageChart(await chartSource(name, version, deps), stable);
  if (key) await signPackaged(key, c);
  return c;
}

const project = (name: string, charts: unknown[]) => writeChartsProject(path.join(work, name), name, charts, { 'vendor.asc': vendor, 'stranger.asc': stranger });
const lockOf = chartLockOf;

interface Report {
  charts: Array<{ chart: { name: string; version: string }; origin: { reference: string; archiveDigest: string; verifiedBy: string; provenance?: { signer: string; file: string } }; images: Array<{ ref: string }> }>;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-prov62-'));
  tmp = path.join(work, 'tmp');
  await mkdir(tmp);
  vendor = await makeGpgKey(work, 'vendor');
  stranger = await makeGpgKey(work, 'stranger');
  await writeFile(path.join(work, 'vendor.asc'), await readFile(vendor.publicKey));
  stable = path.join(work, 'web', 'stable');
  await mkdir(stable, { recursive: true });
  // The repository's URL goes into the charts' dependencies: started first, it serves what is written after.
  [repo, reg] = await Promise.all([startStaticServer(path.join(work, 'web')), startRegistry({ mode: 'http' })]);
  repoUrl = `${repo.url}/stable`;
  const charts = [
    await publish('lib', '1.0.0', vendor),
    await publish('strangelib', '1.0.0', stranger),
    await publish('plainlib', '1.0.0', undefined),
    await publish('app', '1.0.0', vendor, [{ name: 'lib', version: '1.0.0' }]),
    // The next release, signed by another key.
    await publish('app', '2.0.0', stranger, [{ name: 'lib', version: '1.0.0' }]),
    await publish('withplain', '1.0.0', vendor, [{ name: 'plainlib', version: '1.0.0' }]),
    await publish('withstrange', '1.0.0', vendor, [{ name: 'strangelib', version: '1.0.0' }]),
    await publish('unsigned', '1.0.0', undefined),
  ];
  await writeRepoIndex(stable, charts);
  const ociDir = path.join(work, 'oci');
  const oci = await packageChart(await chartSource('ocisigned', '2.0.0'), ociDir);
  await pushOciChart(reg, oci, await clearsign(vendor, helmMessage(oci.metadata, 'ocisigned-2.0.0.tgz', oci.digest), `${oci.file}.prov`));
  await pushOciChart(reg, await packageChart(await chartSource('ocinoprov', '2.0.0'), ociDir), undefined);
  const ociStrange = await packageChart(await chartSource('ocistrange', '2.0.0'), ociDir);
  await pushOciChart(reg, ociStrange, await clearsign(stranger, helmMessage(ociStrange.metadata, 'ocistrange-2.0.0.tgz', ociStrange.digest), `${ociStrange.file}.prov`));
}, 120_000);

afterAll(async () => {
  await Promise.all([repo?.stop(), reg?.stop()]);
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

describe('--keyring on charts images and rewrite chart (helm pull --verify --keyring)', () => {
  it('oci://: the provenance layer signed by a key of the keyring is verified and named; none, or another signer, is refused before rendering', async () => {
    const ok = await ferry(['charts', 'images', `oci://${reg.host}/charts/ocisigned`, '--version', '2.0.0', '--keyring', 'vendor.asc', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const r = JSON.parse(ok.stdout) as Report;
    expect(r.charts[0].origin.provenance).toEqual({ signer: vendor.fingerprint, file: 'ocisigned-2.0.0.tgz' });
    expect(r.charts[0].images.map((i) => i.ref)).toEqual(['ghcr.io/acme/ocisigned:2.0.0']);
    const text = await ferry(['charts', 'images', `oci://${reg.host}/charts/ocisigned:2.0.0`, '--keyring', 'vendor.asc']);
    expect(text.stdout).toContain(`its provenance, signed by ${vendor.fingerprint}, verified with --keyring`);

    const none = await ferry(['charts', 'images', `oci://${reg.host}/charts/ocinoprov`, '--version', '2.0.0', '--keyring', 'vendor.asc']);
    expect(none.code, none.stderr).toBe(3);
    expect(none.stderr).toMatch(/chart ocinoprov 2\.0\.0 \(oci:\/\/127\.0\.0\.1:\d+\/charts\/ocinoprov:2\.0\.0\): --keyring requires its provenance, but .* has none/);
    expect(none.stdout).toBe('');
    // Without --keyring, as before: the digest only.
    expect((await ferry(['charts', 'images', `oci://${reg.host}/charts/ocinoprov`, '--version', '2.0.0'])).code).toBe(0);

    const strange = await ferry(['charts', 'images', `oci://${reg.host}/charts/ocistrange`, '--version', '2.0.0', '--keyring', 'vendor.asc']);
    expect(strange.code, strange.stderr).toBe(3);
    expect(strange.stderr).toMatch(/chart ocistrange 2\.0\.0 .*provenance: clear-signed text is not signed by any of the given keys/);
  });

  it('a repository (--chart) and an archive URL: the .prov beside the archive; an unsigned chart is refused; the dependencies it fetches are held to the keyring', async () => {
    const ok = await ferry(['charts', 'images', repoUrl, '--chart', 'app', '--version', '1.0.0', '--keyring', 'vendor.asc', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const r = JSON.parse(ok.stdout) as Report;
    expect(r.charts[0].origin.provenance).toEqual({ signer: vendor.fingerprint, file: 'app-1.0.0.tgz' });
    expect(r.charts[0].images.map((i) => i.ref).sort()).toEqual(['ghcr.io/acme/app:1.0.0', 'ghcr.io/acme/lib:1.0.0']);

    const url = await ferry(['charts', 'images', `${repoUrl}/unsigned-1.0.0.tgz`, '--keyring', 'vendor.asc']);
    expect(url.code, url.stderr).toBe(3);
    expect(url.stderr).toMatch(/chart unsigned 1\.0\.0 .*: --keyring requires its provenance, but http:\/\/127\.0\.0\.1:\d+\/stable\/unsigned-1\.0\.0\.tgz\.prov has none/);
    // An archive URL names no digest: its signed provenance is what checks it.
    const urlOk = await ferry(['charts', 'images', `${repoUrl}/lib-1.0.0.tgz`, '--keyring', 'vendor.asc']);
    expect(urlOk.code, urlOk.stderr).toBe(0);
    expect(urlOk.stdout).toMatch(new RegExp(`chart archive sha256:[a-f0-9]{64} \\(no digest given for it; its provenance, signed by ${vendor.fingerprint}, verified with --keyring and naming this sha256 for lib-1\\.0\\.0\\.tgz\\)`));

    const dep = await ferry(['charts', 'images', repoUrl, '--chart', 'withplain', '--keyring', 'vendor.asc']);
    expect(dep.code, dep.stderr).toBe(3);
    expect(dep.stderr).toMatch(/chart withplain 1\.0\.0: dependency plainlib 1\.0\.0 from http:\/\/127\.0\.0\.1:\d+\/stable: chart plainlib 1\.0\.0 .*--keyring requires its provenance/);
    // Without --keyring the same chart renders, its dependency unverified, as before.
    expect((await ferry(['charts', 'images', repoUrl, '--chart', 'withplain'])).code).toBe(0);
  });

  it('rewrite chart verifies before it writes an override; --keyring with a chart on disk is refused', async () => {
    const target = path.join(work, 'site.yaml');
    await writeFile(target, 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: https://registry.site.example\n  prefix: mirror\n');
    const lock = path.join(work, 'empty.lock.json');
    await writeFile(lock, JSON.stringify({ apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'x', digest: `sha256:${'0'.repeat(64)}` }, images: [], charts: [], files: [], apt: [] }));
    const ok = await ferry(['rewrite', 'chart', `oci://${reg.host}/charts/ocisigned`, '--version', '2.0.0', '--keyring', 'vendor.asc', '-t', target, '--lock', lock, '--allow-unmapped', '-o', 'ok.yaml']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout + ok.stderr).toContain(`signed by ${vendor.fingerprint}, verified with --keyring`);
    const bad = await ferry(['rewrite', 'chart', `oci://${reg.host}/charts/ocinoprov`, '--version', '2.0.0', '--keyring', 'vendor.asc', '-t', target, '--lock', lock, '--allow-unmapped', '-o', 'bad.yaml']);
    expect(bad.code, bad.stderr).toBe(3);
    expect(bad.stderr).toContain('--keyring requires its provenance');
    await expect(readFile(path.join(work, 'bad.yaml'))).rejects.toThrow();

    const disk = await ferry(['charts', 'images', path.join(work, 'src', 'app-1.0.0', 'app'), '--keyring', 'vendor.asc']);
    expect(disk.code, disk.stderr).toBe(2);
    expect(disk.stderr).toContain('--keyring verifies the provenance of a chart fetched from oci://, a repository or a URL');
  });
});

describe("a chart entry's keys: hold the dependencies lock fetches (helm dependency build --verify)", () => {
  it('each dependency verified and its provenance recorded in the lock; one unsigned or signed by another key refused, naming it', async () => {
    const dir = await project('deps', [{ name: 'app', repo: repoUrl, version: '1.0.0', images: 'none', keys: ['vendor.asc'] }]);
    const r = await ferry(['lock', 'manifest.yaml'], dir);
    expect(r.code, r.stderr).toBe(0);
    const lib = (await lockOf(dir, 'deps')).charts.find((c) => c.name === 'lib')!;
    expect(lib.dependencyOf).toEqual(['app 1.0.0']);
    expect(lib.provenance).toMatchObject({ signer: vendor.fingerprint, file: 'lib-1.0.0.tgz' });

    const plain = await project('plaindep', [{ name: 'withplain', repo: repoUrl, version: '1.0.0', images: 'none', keys: ['vendor.asc'] }]);
    const p = await ferry(['lock', 'manifest.yaml'], plain);
    expect(p.code, p.stderr).toBe(3);
    expect(p.stderr).toMatch(/chart withplain 1\.0\.0: dependency plainlib 1\.0\.0 from http:\/\/127\.0\.0\.1:\d+\/stable: chart plainlib 1\.0\.0 .*: the keys: of chart withplain 1\.0\.0 requires its provenance, but .*plainlib-1\.0\.0\.tgz\.prov has none/);
    expect(p.stderr).toContain('drop keys: from the entry of chart withplain 1.0.0');

    const strange = await project('strangedep', [{ name: 'withstrange', repo: repoUrl, version: '1.0.0', images: 'none', keys: ['vendor.asc'] }]);
    const s = await ferry(['lock', 'manifest.yaml'], strange);
    expect(s.code, s.stderr).toBe(3);
    expect(s.stderr).toMatch(/dependency strangelib 1\.0\.0 .*not signed by any of the given keys/);
    // The dependency's own key given too: any key listed is accepted, as Helm's keyring.
    await writeFile(path.join(strange, 'manifest.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'strangedep' }, charts: [{ name: 'withstrange', repo: repoUrl, version: '1.0.0', images: 'none', keys: ['vendor.asc', 'stranger.asc'] }] }));
    const both = await ferry(['lock', 'manifest.yaml'], strange);
    expect(both.code, both.stderr).toBe(0);
    expect((await lockOf(strange, 'strangedep')).charts.find((c) => c.name === 'strangelib')!.provenance.signer).toBe(stranger.fingerprint);
  });
});

describe('the re-lock summary names a change of provenance signer', () => {
  it('another key signs the new version: said on its own line; keys: dropped: said too', async () => {
    const entry = (version: string, keys?: string[]) => [{ name: 'app', repo: repoUrl, version, images: 'none', ...(keys ? { keys } : {}) }];
    const dir = await project('signer', entry('1.0.0', ['vendor.asc', 'stranger.asc']));
    expect((await ferry(['lock', 'manifest.yaml'], dir)).code).toBe(0);
    await writeFile(path.join(dir, 'manifest.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'signer' }, charts: entry('2.0.0', ['vendor.asc', 'stranger.asc']) }));
    const up = await ferry(['lock', 'manifest.yaml'], dir);
    expect(up.code, up.stderr).toBe(0);
    const out = up.stdout + up.stderr;
    expect(out).toMatch(new RegExp(`~ chart http://127\\.0\\.0\\.1:\\d+/stable app: 1\\.0\\.0 \\(sha256:[a-f0-9]{64}\\), provenance signed by ${vendor.fingerprint} → 2\\.0\\.0 \\(sha256:[a-f0-9]{64}\\), provenance signed by ${stranger.fingerprint}`));
    expect(out).toContain(`    ! its provenance signer changed: ${vendor.fingerprint} signed the previous lock's, ${stranger.fingerprint} signs this one`);

    await writeFile(path.join(dir, 'manifest.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'signer' }, charts: entry('2.0.0') }));
    const dropped = await ferry(['lock', 'manifest.yaml'], dir);
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(dropped.stdout + dropped.stderr).toContain(`    ! its provenance was verified (signed by ${stranger.fingerprint}) in the previous lock, and is not now`);
  });
});
