import { execFileSync } from 'node:child_process';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { gpgSign, makeGpgKey, type GpgKey, type Nginx } from '../support/apt-repo.js';
import { addSigningSubkey, aptInstall, exportPublic as exportPublicTo, publishVendor as publishVendorIn, sha256, vendorDeb, type VendorRepo, siteTargetYaml, startVendorLab, stopVendorLab, type VendorLab } from '../support/apt-vendor.js';

/**
 * Real vendor APT repository layouts, each recreated as a small signed repository on loopback
 * with the quirk that sets it apart from Debian's archive and from aptly's output (the Release,
 * InRelease and Packages written here, signed with gpg): `ferry lock`, `bundle create`, `import`
 * into a directory target, then the real apt-get (signature checking on) installs from the mirror.
 */

let work: string;
let upstream: Nginx;
let mirror: Nginx;
let mirrorDir: string;
let site: GpgKey;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

const debDir = () => path.join(work, 'debs');
const deb = (name: string, version: string, arch: string, fields: Record<string, string> = {}) => vendorDeb(debDir(), name, version, arch, fields);
const publishVendor = (served: string, r: VendorRepo) => publishVendorIn(served, debDir(), r);
const exportPublic = (key: GpgKey) => exportPublicTo(key, path.join(work, `${path.basename(key.home)}-now.asc`));

async function project(name: string, apt: string[], keys: Record<string, string>): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  for (const [file, from] of Object.entries(keys)) await cp(from, path.join(dir, file));
  await cp(site.secretKey, path.join(dir, 'site.secret.asc'));
  await writeFile(path.join(dir, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${name} }`, 'apt:', ...apt, ''].join('\n'));
  await writeFile(
    path.join(dir, 'target.yaml'),
    siteTargetYaml(lab!),
  );
  return dir;
}

/** lock, bundle create, import; the import's locations by upstream `url suite`. */
async function carry(dir: string): Promise<Map<string, string>> {
  const lock = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
  expect(lock.code, lock.stdout + lock.stderr).toBe(0);
  const create = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'b.tar', '--frozen'], { cwd: dir, env: env() });
  expect(create.code, create.stderr).toBe(0);
  const imp = await runFerry(['import', 'b.tar', '-t', 'target.yaml', '--json'], { cwd: dir, env: env() });
  expect(imp.code, imp.stdout + imp.stderr).toBe(0);
  const out = new Map<string, string>();
  for (const r of JSON.parse(imp.stdout).results as Array<{ artifact: string; location: string }>) out.set(r.artifact, r.location.split(' ')[0]);
  return out;
}

/** apt-get update + install (download only) in a fresh isolated root with nothing installed; fails the test on any warning. */
const install = (name: string, sources: string, pkgs: string[], arch = 'amd64') => aptInstall(path.join(work, 'clients', name), sources, pkgs, arch);

const site_ = () => path.join(mirrorDir, 'ferry-archive-keyring.asc');

let lab: VendorLab | undefined;

beforeAll(async () => {
  lab = await startVendorLab('ferry-apt-vendors-');
  ({ work, upstream, mirror, mirrorDir, site } = lab);
});

afterAll(() => stopVendorLab(lab));

describe('vendor APT repositories', () => {
  it('Docker CE: packages under dists/<suite>/pool, Packages + .gz + .bz2 only, arches without packages; whole and filtered', async () => {
    const key = await makeGpgKey(work, 'docker');
    await deb('containerd.io', '1.6.28-1', 'amd64');
    await deb('docker-ce-cli', '5:25.0.3-1~debian.12~bookworm', 'amd64');
    await deb('docker-ce', '5:25.0.3-1~debian.12~bookworm', 'amd64', { Depends: 'containerd.io (>= 1.6.24), docker-ce-cli' });
    await deb('containerd.io', '1.6.28-1', 'arm64');
    const pool = (arch: string, n: string) => `dists/bookworm/pool/stable/${arch}/${n}_${arch}.deb`;
    await publishVendor(path.join(work, 'public'), {
      root: 'linux/debian',
      suite: 'bookworm',
      fields: ['Origin: Docker', 'Label: Docker CE', 'Suite: bookworm', 'Codename: bookworm', 'Architectures: amd64 arm64 armhf ppc64el s390x', 'Components: stable test', `Date: ${new Date(Date.now() - 86400_000).toUTCString()}`],
      indexes: [
        { comp: 'stable', arch: 'amd64', debs: { 'containerd.io': pool('amd64', 'containerd.io'), 'docker-ce-cli': pool('amd64', 'docker-ce-cli'), 'docker-ce': pool('amd64', 'docker-ce') } },
        { comp: 'stable', arch: 'arm64', debs: { 'containerd.io': pool('arm64', 'containerd.io') } },
      ],
      compress: ['', '.bz2', '.gz'],
      key,
    });
    const dir = await project(
      'docker',
      ['  - name: docker', `    url: ${upstream.url}/linux/debian`, '    suites: [bookworm]', '    components: [stable]', '    architectures: [amd64, armhf]', '    keys: [docker.asc]'],
      { 'docker.asc': key.publicKey },
    );
    const at = await carry(dir);
    const loc = at.get(`${upstream.url}/linux/debian bookworm`)!;
    const out = await install('docker', `deb [arch=amd64 signed-by=${key.publicKey}] ${loc} bookworm stable`, ['docker-ce']);
    expect(out).toMatch(/containerd\.io/);
    // The same repository filtered to docker-ce (re-signed with the site key), imported over the whole mirror.
    const manifest = await readFile(path.join(dir, 'manifest.yaml'), 'utf8');
    await writeFile(path.join(dir, 'manifest.yaml'), manifest.replace('    keys:', '    packages: [docker-ce]\n    keys:'));
    await rm(path.join(dir, 'docker.lock.json'));
    await carry(dir);
    const filtered = await install('docker-filtered', `deb [arch=amd64 signed-by=${site_()}] ${loc} bookworm stable`, ['docker-ce']);
    expect(filtered).toMatch(/containerd\.io/);
  });

  it('Microsoft: Release signed by a signing subkey, amd64 + arm64 + armhf; Google Chrome: amd64 only, no Architectures field, key rotated to a new subkey', async () => {
    const ms = await makeGpgKey(work, 'microsoft');
    const sub = await addSigningSubkey(ms);
    await deb('code', '1.85.1-1702462158', 'amd64');
    await deb('code', '1.85.1-1702462158', 'arm64');
    await deb('code', '1.85.1-1702462158', 'armhf');
    const codeDebs = (arch: string) => ({ code: `pool/main/c/code/code_1.85.1-1702462158_${arch}.deb` });
    await publishVendor(path.join(work, 'public'), {
      root: 'repos/code',
      suite: 'stable',
      fields: ['Origin: code stable', 'Label: code stable', 'Suite: stable', 'Codename: stable', `Date: ${new Date(Date.now() - 3600_000).toUTCString()}`, 'Architectures: amd64 arm64 armhf', 'Components: main', 'Description: Generated by aptly'],
      indexes: ['amd64', 'arm64', 'armhf'].map((arch) => ({ comp: 'main', arch, debs: codeDebs(arch) })),
      compress: ['', '.bz2', '.gz'],
      key: ms,
      signer: `${sub}!`,
    });
    const chrome = await makeGpgKey(work, 'chrome');
    // What a user downloaded before the rotation: the primary key alone.
    const before = path.join(work, 'chrome-before-rotation.asc');
    await cp(chrome.publicKey, before);
    const rotated = await addSigningSubkey(chrome);
    await deb('google-chrome-stable', '120.0.6099.109-1', 'amd64', { Provides: 'www-browser' });
    await publishVendor(path.join(work, 'public'), {
      root: 'linux/chrome/deb',
      suite: 'stable',
      fields: ['Origin: Google LLC', 'Label: Google', 'Suite: stable', 'Codename: stable', 'Version: 1.0', `Date: ${new Date(Date.now() - 3600_000).toUTCString()}`, 'Components: main', 'Description: Google chrome-linux software repository'],
      indexes: [{ comp: 'main', arch: 'amd64', debs: { 'google-chrome-stable': 'pool/main/g/google-chrome-stable/google-chrome-stable_120.0.6099.109-1_amd64.deb' } }],
      compress: ['', '.bz2', '.gz'],
      key: chrome,
      signer: `${rotated}!`,
    });
    const apt = [
      '  - name: microsoft-code',
      `    url: ${upstream.url}/repos/code`,
      '    suites: [stable]',
      '    architectures: [amd64, arm64, armhf]',
      '    keys: [microsoft.asc]',
      '  - name: google-chrome',
      `    url: ${upstream.url}/linux/chrome/deb`,
      '    suites: [stable]',
      '    architectures: [amd64, arm64]',
      '    keys: [google.asc]',
    ];
    const dir = await project('msgoogle', apt, { 'microsoft.asc': (await exportPublic(ms)), 'google.asc': before });
    // The key from before the rotation: refused, naming the subkey that signed and what to do.
    const old = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
    expect(old.code).not.toBe(0);
    expect(old.stderr).toContain(rotated.toUpperCase());
    expect(old.stderr).toMatch(/not in .*google\.asc|download the vendor's current key/i);
    await cp(await exportPublic(chrome), path.join(dir, 'google.asc'));
    // Chrome has no arm64 build: its Release has no Architectures field, and no arm64 index.
    const arm = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
    expect(arm.code).not.toBe(0);
    expect(arm.stderr).toContain('main/binary-arm64: the Release has no Packages index for it (it has: amd64)');
    await writeFile(path.join(dir, 'manifest.yaml'), (await readFile(path.join(dir, 'manifest.yaml'), 'utf8')).replace('    architectures: [amd64, arm64]\n', '    architectures: [amd64]\n'));
    const at = await carry(dir);
    const code = at.get(`${upstream.url}/repos/code stable`)!;
    const chromeAt = at.get(`${upstream.url}/linux/chrome/deb stable`)!;
    const sources = (arch: string) =>
      [`deb [arch=${arch} signed-by=${path.join(dir, 'microsoft.asc')}] ${code} stable main`, `deb [arch=amd64 signed-by=${path.join(dir, 'google.asc')}] ${chromeAt} stable main`].join('\n');
    expect(await install('ms-amd64', sources('amd64'), ['code', 'google-chrome-stable'])).toMatch(/google-chrome-stable/);
    expect(await install('ms-armhf', sources('armhf'), ['code'], 'armhf')).toMatch(/code armhf/);
  });

  it('PostgreSQL PGDG: suite bookworm-pgdg, components main and 15, Acquire-By-Hash (indexes served by hash only)', async () => {
    const key = await makeGpgKey(work, 'pgdg');
    await deb('postgresql-common', '257.pgdg120+1', 'all');
    await deb('libpq5', '16.1-1.pgdg120+1', 'amd64');
    await deb('postgresql-15', '15.5-1.pgdg120+1', 'amd64', { Depends: 'postgresql-common (>= 252~), libpq5 (>= 14~)' });
    await publishVendor(path.join(work, 'public'), {
      root: 'pub/repos/apt',
      suite: 'bookworm-pgdg',
      fields: ['Origin: apt.postgresql.org', 'Label: PostgreSQL for Debian/Ubuntu repository', 'Suite: bookworm-pgdg', 'Codename: bookworm-pgdg', `Date: ${new Date(Date.now() - 3600_000).toUTCString()}`, 'Architectures: amd64 arm64 i386 ppc64el s390x', 'Components: main 16 15 14'],
      indexes: [
        { comp: 'main', arch: 'amd64', debs: { 'postgresql-common': 'pool/main/p/postgresql-common/postgresql-common_257.pgdg120+1_all.deb', libpq5: 'pool/main/p/postgresql-16/libpq5_16.1-1.pgdg120+1_amd64.deb' } },
        { comp: '15', arch: 'amd64', debs: { 'postgresql-15': 'pool/15/p/postgresql-15/postgresql-15_15.5-1.pgdg120+1_amd64.deb' } },
      ],
      compress: ['', '.bz2', '.gz'],
      byHash: true,
      key,
    });
    // Only the by-hash copies are served (a mirror mid-sync has the named files of the next Release).
    for (const c of ['main', '15']) for (const ext of ['', '.bz2', '.gz']) await rm(path.join(work, 'public/pub/repos/apt/dists/bookworm-pgdg', c, 'binary-amd64', `Packages${ext}`));
    const dir = await project(
      'pgdg',
      ['  - name: pgdg', `    url: ${upstream.url}/pub/repos/apt`, '    suites: [bookworm-pgdg]', '    components: [main, 15]', '    packages: [postgresql-15]', '    keys: [pgdg.asc]'],
      { 'pgdg.asc': key.publicKey },
    );
    const at = await carry(dir);
    const loc = at.get(`${upstream.url}/pub/repos/apt bookworm-pgdg`)!;
    const out = await install('pgdg', `deb [signed-by=${site_()}] ${loc} bookworm-pgdg main 15`, ['postgresql-15']);
    expect(out).toMatch(/libpq5/);
    expect(out).toMatch(/postgresql-common/);
  });

  it('HashiCorp, NodeSource, Grafana: [arch=amd64] lines, suite nodistro, every version kept in one index', async () => {
    const key = await makeGpgKey(work, 'vendors');
    await deb('terraform', '1.6.6-1', 'amd64');
    await deb('nodejs', '20.10.0-1nodesource1', 'amd64', { Provides: 'nodejs-doc' });
    await deb('grafana', '10.2.3', 'amd64', { Conflicts: 'grafana-enterprise' });
    const date = `Date: ${new Date(Date.now() - 3600_000).toUTCString()}`;
    const vendors = [
      { name: 'hashicorp', root: 'hashicorp', suite: 'bookworm', pkg: 'terraform', file: 'pool/t/terraform/terraform_1.6.6-1_amd64.deb', arches: 'amd64 arm64 armhf i386' },
      { name: 'nodesource', root: 'node_20.x', suite: 'nodistro', pkg: 'nodejs', file: 'pool/main/n/nodejs/nodejs_20.10.0-1nodesource1_amd64.deb', arches: 'amd64 arm64 armhf' },
      { name: 'grafana', root: 'grafana', suite: 'stable', pkg: 'grafana', file: 'pool/main/g/grafana/grafana_10.2.3_amd64.deb', arches: 'amd64 arm64 armhf' },
    ];
    for (const v of vendors) {
      await publishVendor(path.join(work, 'public'), {
        root: v.root,
        suite: v.suite,
        fields: [`Origin: ${v.name}`, `Label: ${v.name}`, `Suite: ${v.suite}`, `Codename: ${v.suite}`, date, `Architectures: ${v.arches}`, 'Components: main'],
        indexes: [{ comp: 'main', arch: 'amd64', debs: { [v.pkg]: v.file } }],
        compress: ['', '.gz'],
        key,
      });
    }
    const apt = vendors.flatMap((v) => [`  - name: ${v.name}`, `    url: ${upstream.url}/${v.root}`, `    suites: [${v.suite}]`, `    packages: [${v.pkg}]`, '    keys: [vendors.asc]']);
    const dir = await project('vendors', apt, { 'vendors.asc': key.publicKey });
    const at = await carry(dir);
    const sources = vendors.map((v) => `deb [arch=amd64 signed-by=${site_()}] ${at.get(`${upstream.url}/${v.root} ${v.suite}`)} ${v.suite} main`).join('\n');
    const out = await install('vendors', sources, ['terraform', 'nodejs', 'grafana']);
    expect(out).toMatch(/terraform/);
  });

  it('a flat repository (deb URL ./: Release and Packages beside the packages, no dists/) named as a dists/ suite is refused at lock, naming the layout and the suites: line to write (test/e2e/apt-flat.test.ts mirrors it)', async () => {
    const key = await makeGpgKey(work, 'flat');
    await deb('internal-tool', '2.1', 'amd64');
    const root = path.join(work, 'public/internal');
    await mkdir(root, { recursive: true });
    await cp(path.join(debDir(), 'amd64', 'internal-tool_2.1_all.deb'), path.join(root, 'internal-tool_2.1_amd64.deb'));
    const packages = execFileSync('dpkg-scanpackages', ['.', '/dev/null'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
    await writeFile(path.join(root, 'Packages'), packages);
    await writeFile(path.join(root, 'Release'), `Origin: internal\nDate: ${new Date().toUTCString()}\nSHA256:\n ${sha256(packages)} ${packages.length} Packages\n`);
    await gpgSign(key, path.join(root, 'Release'), 'clearsign', path.join(root, 'InRelease'));
    const dir = await project('flat-stable', ['  - name: internal', `    url: ${upstream.url}/internal`, '    suites: [stable]', '    keys: [flat.asc]'], { 'flat.asc': key.publicKey });
    const lock = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
    expect(lock.code).not.toBe(0);
    expect(lock.stderr).toMatch(/flat repository/);
    expect(lock.stderr).toContain('suites: ["./"]');
  });
});
