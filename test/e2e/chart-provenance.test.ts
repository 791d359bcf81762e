import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { mustRun, runFerry } from '../support/cli.js';
import { packageChart, startStaticServer, writeRepoIndex, type PackagedChart, type StaticServer } from '../support/chart-repo.js';
import { makeGpgKey, type GpgKey } from '../support/apt-repo.js';
import { CraftedBundle } from '../support/craft-bundle.js';
import { chartLockOf, clearsign, helmMessage, pushOciChart, signPackaged, writeChartsProject } from '../support/chart-prov.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * Helm chart provenance (`helm pull --verify --keyring`): charts signed with real `gpg --clearsign`
 * in Helm's .prov format (Chart.yaml, `...`, `files:` with the archive's sha256), served from a
 * loopback nginx chart repository and pushed as OCI charts (provenance layer) to a real
 * Distribution registry. A chart entry with keys: locks only with a good provenance, records the
 * signer, and the bundle's side verifies it again offline with the key the lock records.
 */

let work: string;
let vendor: GpgKey;
let stranger: GpgKey;
let repo: StaticServer;
let reg: RunningRegistry;
let repoUrl: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });
const insecure = () => ['--insecure-registry', reg.host];

async function chartSource(name: string, version: string, note = ''): Promise<string> {
  const dir = path.join(work, 'src', `${name}-${version}${note}`, name);
  await mkdir(path.join(dir, 'templates'), { recursive: true });
  await writeFile(path.join(dir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name, version, description: `${name}, signed for tests` }));
  await writeFile(path.join(dir, 'templates', 'cm.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  note: "${note}"\n`);
  return dir;
}

/** Package a chart into the web root and sign its provenance with `key` (none: unsigned). */
async function publish(stable: string, name: string, key: GpgKey | undefined): Promise<PackagedChart> {
  const c = await packageChart(await chartSource(name, '1.0.0'), stable);
  if (key) await signPackaged(key, c);
  return c;
}

async function project(name: string, charts: unknown[]): Promise<string> {
  const dir = await writeChartsProject(path.join(work, name), name, charts, { 'vendor.asc': vendor });
  // A binary keyring, as `helm --keyring ~/.gnupg/pubring.gpg` takes.
  await mustRun('gpg', ['--batch', '--yes', '--output', path.join(dir, 'pubring.gpg'), '--export', vendor.fingerprint], { env: { GNUPGHOME: vendor.home } });
  return dir;
}

const lockOf = chartLockOf;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-chart-prov-'));
  vendor = await makeGpgKey(work, 'vendor');
  stranger = await makeGpgKey(work, 'stranger');
  const stable = path.join(work, 'web', 'stable');
  await mkdir(stable, { recursive: true });
  const signed = await publish(stable, 'signed', vendor);
  const strange = await publish(stable, 'strange', stranger);
  const unsigned = await publish(stable, 'unsigned', undefined);
  // Signed, then the archive replaced (the index names the new one: only the provenance can tell).
  const tamperedSigned = await publish(stable, 'tampered', vendor);
  const tampered = await packageChart(await chartSource('tampered', '1.0.0', 'altered'), stable);
  expect(tampered.digest).not.toBe(tamperedSigned.digest);
  await writeRepoIndex(stable, [signed, strange, unsigned, tampered]);
  [repo, reg] = await Promise.all([startStaticServer(path.join(work, 'web')), startRegistry({ mode: 'http' })]);
  repoUrl = `${repo.url}/stable`;

  const ociDir = path.join(work, 'oci');
  const oci = await packageChart(await chartSource('ocisigned', '2.0.0'), ociDir);
  await pushOciChart(reg, oci, await clearsign(vendor, helmMessage(oci.metadata, 'ocisigned-2.0.0.tgz', oci.digest), `${oci.file}.prov`));
  const ociBad = await packageChart(await chartSource('ocitampered', '2.0.0'), ociDir);
  await pushOciChart(reg, ociBad, await clearsign(vendor, helmMessage(ociBad.metadata, 'ocitampered-2.0.0.tgz', 'ab'.repeat(32)), `${ociBad.file}.prov`));
}, 120_000);

afterAll(async () => {
  await Promise.all([repo?.stop(), reg?.stop()]);
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

describe('chart provenance: keys: requires a .prov signed by one of them (helm pull --verify)', () => {
  let goodDir: string;

  it('good provenance (HTTP .prov, OCI provenance layer; armored and binary keyrings) locks, records the signer, bundles, verifies and imports', async () => {
    goodDir = await project('good', [
      { name: 'signed', repo: repoUrl, version: '1.0.0', images: 'none', keys: ['vendor.asc'] },
      { name: 'ocisigned', repo: `oci://${reg.host}/charts`, version: '2.0.0', images: 'none', keys: ['pubring.gpg'] },
    ]);
    const lock = await runFerry(['lock', 'manifest.yaml', ...insecure()], { cwd: goodDir, env: env() });
    expect(lock.code, lock.stderr).toBe(0);
    const charts = (await lockOf(goodDir, 'good')).charts;
    const by = (n: string) => charts.find((c) => c.name === n)!;
    expect(by('signed').provenance).toMatchObject({ signer: vendor.fingerprint, file: 'signed-1.0.0.tgz' });
    expect(by('ocisigned').provenance).toMatchObject({ signer: vendor.fingerprint, file: 'ocisigned-2.0.0.tgz' });
    expect(by('signed').provenance.key).toMatch(/^-----BEGIN PGP PUBLIC KEY BLOCK-----/);

    const bundle = path.join(goodDir, 'good.ferry.tar');
    const create = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', bundle, ...insecure()], { cwd: goodDir, env: env() });
    expect(create.code, create.stderr).toBe(0);
    const verify = await runFerry(['bundle', 'verify', bundle], { cwd: goodDir, env: env() });
    expect(verify.code, verify.stderr).toBe(0);
    await writeFile(path.join(goodDir, 'target.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 'site' }, charts: { dir: './mirror', baseUrl: 'http://charts.site.example' } }));
    const imp = await runFerry(['import', bundle, '--target', 'target.yaml'], { cwd: goodDir, env: env() });
    expect(imp.code, imp.stderr).toBe(0);
    expect(await readFile(path.join(goodDir, 'mirror', 'signed-1.0.0.tgz.prov'))).toEqual(await readFile(path.join(work, 'web', 'stable', 'signed-1.0.0.tgz.prov')));
  });

  it('an archive altered after signing is refused, naming the chart, the repository and the digests', async () => {
    const dir = await project('tampered', [{ name: 'tampered', repo: repoUrl, version: '1.0.0', images: 'none', keys: ['vendor.asc'] }]);
    const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/chart tampered 1\.0\.0 \(http:\/\/127\.0\.0\.1:\d+\/stable\): the archive's sha256 is sha256:[a-f0-9]{64}, its signed provenance says/);
    // OCI too: the provenance layer names another sha256 than the chart layer's.
    const oci = await project('ocitampered', [{ name: 'ocitampered', repo: `oci://${reg.host}/charts`, version: '2.0.0', images: 'none', keys: ['vendor.asc'] }]);
    const o = await runFerry(['lock', 'manifest.yaml', ...insecure()], { cwd: oci, env: env() });
    expect(o.code, o.stderr).toBe(3);
    expect(o.stderr).toMatch(/chart ocitampered 2\.0\.0 \(oci:\/\/127\.0\.0\.1:\d+\/charts\): the archive's sha256/);
  });

  it('a provenance signed by a key not in the keyring is refused', async () => {
    const dir = await project('strange', [{ name: 'strange', repo: repoUrl, version: '1.0.0', images: 'none', keys: ['vendor.asc'] }]);
    const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/chart strange 1\.0\.0 .* provenance: clear-signed text is not signed by any of the given keys/);
  });

  it('a missing .prov is refused when keys: requires it, and carried unverified as before without keys:', async () => {
    const dir = await project('unsigned', [{ name: 'unsigned', repo: repoUrl, version: '1.0.0', images: 'none', keys: ['vendor.asc'] }]);
    const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/chart unsigned 1\.0\.0 .*: keys: requires its provenance, but http:\/\/127\.0\.0\.1:\d+\/stable\/unsigned-1\.0\.0\.tgz\.prov has none/);
    const plain = await project('plain', [{ name: 'unsigned', repo: repoUrl, version: '1.0.0', images: 'none' }, { name: 'strange', repo: repoUrl, version: '1.0.0', images: 'none' }]);
    const p = await runFerry(['lock', 'manifest.yaml'], { cwd: plain, env: env() });
    expect(p.code, p.stderr).toBe(0);
    expect((await lockOf(plain, 'plain')).charts.every((c) => c.provenance === undefined)).toBe(true);
  });

  it('the air-gapped side verifies again with the key the lock records: a lock whose record does not verify the bundle\'s provenance is refused by bundle create, bundle verify and import', async () => {
    const strangerKey = (await readFile(stranger.publicKey, 'utf8')).trim() + '\n';
    const forge = (lock: { charts: Array<Record<string, any>> }) => {
      for (const c of lock.charts) c.provenance = { ...c.provenance, signer: stranger.fingerprint, key: strangerKey };
      return lock;
    };
    // bundle create from a lock (the cache holds what lock fetched): verified again before packing.
    const lockFile = path.join(goodDir, 'good.lock.json');
    const good = await readFile(lockFile, 'utf8');
    await writeFile(lockFile, JSON.stringify(forge(JSON.parse(good)), null, 2));
    const create = await runFerry(['bundle', 'create', 'manifest.yaml', '--frozen', '-o', path.join(goodDir, 'forged.ferry.tar'), ...insecure()], { cwd: goodDir, env: env() });
    await writeFile(lockFile, good);
    expect(create.code, create.stderr).toBe(3);
    expect(create.stderr).toMatch(/chart signed 1\.0\.0 .*provenance: clear-signed text is not signed by any of the given keys/);

    // A bundle whose lock was edited the same way (checksums made to match): verify and import refuse it.
    const crafted = await CraftedBundle.load(path.join(goodDir, 'good.ferry.tar'));
    crafted.setJson('ferry/lock.json', forge(JSON.parse(crafted.files.get('ferry/lock.json')!.toString('utf8'))));
    const forged = await crafted.write(path.join(goodDir, 'forged-lock.ferry.tar'));
    const verify = await runFerry(['bundle', 'verify', forged], { cwd: goodDir, env: env() });
    expect(verify.code, verify.stdout + verify.stderr).toBe(3);
    expect(verify.stdout + verify.stderr).toMatch(/provenance: clear-signed text is not signed by any of the given keys/);
    const imp = await runFerry(['import', forged, '--target', 'target.yaml'], { cwd: goodDir, env: env() });
    expect(imp.code, imp.stderr).not.toBe(0);
    expect(imp.stderr).toMatch(/provenance: clear-signed text is not signed by any of the given keys/);
  });
});
