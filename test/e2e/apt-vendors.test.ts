import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runFerry } from '../support/cli.js';
import { aptGet, buildDeb, gpgSign, makeGpgKey, startNginx, type GpgKey, type Nginx } from '../support/apt-repo.js';

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
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Index {
  comp: string;
  arch: string;
  /** Package name → path of its .deb under the repository root (the Filename the index names). */
  debs: Record<string, string>;
}

interface VendorRepo {
  /** Repository root under the served tree (the manifest's url: path). */
  root: string;
  suite: string;
  fields: string[];
  indexes: Index[];
  /** Compressions of each Packages written and listed ('' = plain). */
  compress: string[];
  /** Also list, in the Release, indexes for these comp/arch pairs whose files are not served. */
  listedNotServed?: string[];
  byHash?: boolean;
  key: GpgKey;
  /** gpg --local-user (a subkey's id with `!`); the key's fingerprint by default. */
  signer?: string;
  /** InRelease and Release + Release.gpg (the vendors' usual), or only one of them. */
  sign?: 'both' | 'inrelease' | 'detached';
  /** Debs built for the repository: name → control fields besides Package/Version. */
}

const debDir = () => path.join(work, 'debs');

/** A .deb for `arch` (dpkg-deb builds `_all`; the control says the architecture). */
async function deb(name: string, version: string, arch: string, fields: Record<string, string> = {}): Promise<string> {
  return buildDeb(path.join(debDir(), arch), name, version, { Architecture: arch, ...fields });
}

function compress(bytes: Buffer, ext: string): Buffer {
  if (ext === '') return bytes;
  return execFileSync(ext === '.gz' ? 'gzip' : ext === '.bz2' ? 'bzip2' : 'xz', ['-9c'], { input: bytes });
}

/** Writes the repository as the vendor serves it: pool, per-arch Packages, Release, signatures. */
async function publishVendor(served: string, r: VendorRepo): Promise<void> {
  const root = path.join(served, r.root);
  const dist = path.join(root, 'dists', r.suite);
  const listed: Array<{ path: string; bytes: Buffer }> = [];
  for (const idx of r.indexes) {
    const stanzas: string[] = [];
    for (const [name, file] of Object.entries(idx.debs)) {
      const src = (await import('node:fs')).readdirSync(path.join(debDir(), idx.arch)).find((f) => f.startsWith(`${name}_`));
      await mkdir(path.dirname(path.join(root, file)), { recursive: true });
      await cp(path.join(debDir(), idx.arch, src!), path.join(root, file));
      const bytes = await readFile(path.join(root, file));
      const control = execFileSync('dpkg-deb', ['-f', path.join(root, file)]).toString().trimEnd();
      stanzas.push(`${control}\nFilename: ${file}\nSize: ${bytes.length}\nMD5sum: ${createHash('md5').update(bytes).digest('hex')}\nSHA256: ${sha256(bytes)}`);
    }
    const plain = Buffer.from(stanzas.join('\n\n') + '\n');
    const dir = `${idx.comp}/binary-${idx.arch}`;
    await mkdir(path.join(dist, dir), { recursive: true });
    for (const ext of r.compress) {
      const bytes = compress(plain, ext);
      await writeFile(path.join(dist, dir, `Packages${ext}`), bytes);
      listed.push({ path: `${dir}/Packages${ext}`, bytes });
      if (r.byHash) {
        await mkdir(path.join(dist, dir, 'by-hash/SHA256'), { recursive: true });
        await writeFile(path.join(dist, dir, 'by-hash/SHA256', sha256(bytes)), bytes);
      }
    }
  }
  for (const p of r.listedNotServed ?? []) listed.push({ path: p, bytes: Buffer.from('') });
  listed.sort((a, b) => (a.path < b.path ? -1 : 1));
  const release = [...r.fields, ...(r.byHash ? ['Acquire-By-Hash: yes'] : []), 'SHA256:', ...listed.map((f) => ` ${sha256(f.bytes)} ${String(f.bytes.length).padStart(8)} ${f.path}`), ''].join('\n');
  await writeFile(path.join(dist, 'Release'), release);
  const who = r.signer ?? r.key.fingerprint;
  const sign = async (mode: string[], out: string) =>
    mustRun('gpg', ['--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', '--local-user', who, ...mode, '--output', path.join(dist, out), path.join(dist, 'Release')], {
      env: { GNUPGHOME: r.key.home },
    });
  if (r.sign !== 'detached') await sign(['--clearsign'], 'InRelease');
  if (r.sign !== 'inrelease') await sign(['--armor', '--detach-sign'], 'Release.gpg');
  else await rm(path.join(dist, 'Release'));
}

async function project(name: string, apt: string[], keys: Record<string, string>): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  for (const [file, from] of Object.entries(keys)) await cp(from, path.join(dir, file));
  await cp(site.secretKey, path.join(dir, 'site.secret.asc'));
  await writeFile(path.join(dir, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${name} }`, 'apt:', ...apt, ''].join('\n'));
  await writeFile(
    path.join(dir, 'target.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'apt:', `  dir: ${mirrorDir}`, `  baseUrl: ${mirror.url}`, '  signingKey: site.secret.asc', ''].join('\n'),
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

/** apt-get update + install in a fresh isolated root; fails the test on any warning. */
async function install(name: string, sources: string, pkgs: string[], arch = 'amd64'): Promise<string> {
  const client = path.join(work, 'clients', name);
  await mkdir(client, { recursive: true });
  const opts = ['-o', `APT::Architecture=${arch}`, '-o', `APT::Architectures::=${arch}`];
  const up = await aptGet(client, sources, [...opts, 'update']);
  expect(up.code, up.stdout + up.stderr).toBe(0);
  expect(up.stdout + up.stderr).not.toMatch(/^(W|E):/m);
  const inst = await aptGet(client, sources, [...opts, 'install', '--download-only', ...pkgs]);
  expect(inst.code, inst.stdout + inst.stderr).toBe(0);
  return inst.stdout;
}

const site_ = () => path.join(mirrorDir, 'ferry-archive-keyring.asc');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-apt-vendors-'));
  site = await makeGpgKey(work, 'site');
  await mkdir(path.join(work, 'public'), { recursive: true });
  upstream = await startNginx(path.join(work, 'public'));
  mirrorDir = path.join(work, 'mirror');
  await mkdir(mirrorDir, { recursive: true });
  mirror = await startNginx(mirrorDir);
});

afterAll(async () => {
  await mirror?.stop();
  await upstream?.stop();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

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
});
