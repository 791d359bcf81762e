import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { mustRun } from './cli.js';
import { aptGet, buildDeb, makeGpgKey, startNginx, type GpgKey, type Nginx } from './apt-repo.js';

/**
 * Builders for vendor APT repository layouts (Docker CE, Chrome, Microsoft, PGDG, HashiCorp,
 * NodeSource, Grafana): Release, InRelease and Packages written here and signed with gpg, as the
 * vendors serve them. Used by apt-vendors (server side) and apt-clients (client side).
 */

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface Index {
  comp: string;
  arch: string;
  /** Package name → path of its .deb under the repository root (the Filename the index names). */
  debs: Record<string, string>;
}

export interface VendorRepo {
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
  /** gpg --local-user (a subkey's id with `!`); the key's fingerprint by default. Several: one signature each (a key rotation). */
  signer?: string | string[];
  /** InRelease and Release + Release.gpg (the vendors' usual), or only one of them. */
  sign?: 'both' | 'inrelease' | 'detached';
}

/** A .deb for `arch` in `debDir/<arch>` (dpkg-deb builds `_all`; the control says the architecture). */
export async function vendorDeb(debDir: string, name: string, version: string, arch: string, fields: Record<string, string> = {}): Promise<string> {
  return buildDeb(path.join(debDir, arch), name, version, { Architecture: arch, ...fields });
}

function compress(bytes: Buffer, ext: string): Buffer {
  if (ext === '') return bytes;
  return execFileSync(ext === '.gz' ? 'gzip' : ext === '.bz2' ? 'bzip2' : 'xz', ['-9c'], { input: bytes });
}

/** Writes the repository as the vendor serves it: pool, per-arch Packages, Release, signatures. */
export async function publishVendor(served: string, debDir: string, r: VendorRepo): Promise<void> {
  const root = path.join(served, r.root);
  const dist = path.join(root, 'dists', r.suite);
  const listed: Array<{ path: string; bytes: Buffer }> = [];
  for (const idx of r.indexes) {
    const stanzas: string[] = [];
    for (const [name, file] of Object.entries(idx.debs)) {
      const arch = [idx.arch, 'all'].find((a) => existsSync(path.join(debDir, a)) && readdirSync(path.join(debDir, a)).some((f) => f.startsWith(`${name}_`)))!;
      const src = readdirSync(path.join(debDir, arch)).find((f) => f.startsWith(`${name}_`))!;
      await mkdir(path.dirname(path.join(root, file)), { recursive: true });
      await cp(path.join(debDir, arch, src), path.join(root, file));
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
  const who = [r.signer ?? r.key.fingerprint].flat().flatMap((s) => ['--local-user', s]);
  const sign = async (mode: string[], out: string) =>
    mustRun('gpg', ['--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', ...who, ...mode, '--output', path.join(dist, out), path.join(dist, 'Release')], {
      env: { GNUPGHOME: r.key.home },
    });
  if (r.sign !== 'detached') await sign(['--clearsign'], 'InRelease');
  if (r.sign !== 'inrelease') await sign(['--armor', '--detach-sign'], 'Release.gpg');
  else await rm(path.join(dist, 'Release'));
}

/**
 * apt-get update + install (download only) in a fresh isolated root `client` with nothing
 * installed; fails the test on any warning. `sources` goes to sources.list; `parts` are written
 * to sources.list.d (deb822 `.sources`, `.list`) by file name.
 */
export async function aptInstall(client: string, sources: string, pkgs: string[], arch = 'amd64', parts: Record<string, string> = {}): Promise<string> {
  await mkdir(path.join(client, 'etc/apt/sources.list.d'), { recursive: true });
  for (const [name, text] of Object.entries(parts)) await writeFile(path.join(client, 'etc/apt/sources.list.d', name), text);
  // An empty dpkg status: the host's installed packages (a newer libpq5, amd64 only) play no part.
  await writeFile(path.join(client, 'status'), '');
  const opts = ['-o', `Dir::State::status=${path.join(client, 'status')}`, '-o', `APT::Architecture=${arch}`, '-o', `APT::Architectures::=${arch}`];
  const up = await aptGet(client, sources, [...opts, 'update']);
  expect(up.code, up.stdout + up.stderr).toBe(0);
  expect(up.stdout + up.stderr).not.toMatch(/^(W|E):/m);
  const inst = await aptGet(client, sources, [...opts, 'install', '--download-only', ...pkgs]);
  expect(inst.code, inst.stdout + inst.stderr).toBe(0);
  return inst.stdout;
}

/** Adds a signing subkey to the key; returns its key id. */
export async function addSigningSubkey(key: GpgKey): Promise<string> {
  const env = { GNUPGHOME: key.home };
  await mustRun('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-add-key', key.fingerprint, 'rsa2048', 'sign', 'never'], { env });
  const list = await mustRun('gpg', ['--batch', '--with-colons', '--list-keys', key.fingerprint], { env });
  return [...list.stdout.matchAll(/^sub:[^:]*:[^:]*:[^:]*:([0-9A-F]{16}):/gm)].pop()![1];
}

/** The key's public part as it stands now (with its subkeys), written to `file`. */
export async function exportPublic(key: GpgKey, file: string): Promise<string> {
  await writeFile(file, (await mustRun('gpg', ['--batch', '--armor', '--export', key.fingerprint], { env: { GNUPGHOME: key.home } })).stdout);
  return file;
}

/** A vendor test lab: a work directory, the site key, nginx serving `public/` (upstream) and `mirror/` (the import target). */
export interface VendorLab {
  work: string;
  site: GpgKey;
  upstream: Nginx;
  mirror: Nginx;
  mirrorDir: string;
}

export async function startVendorLab(prefix: string): Promise<VendorLab> {
  const work = await mkdtemp(path.join(os.tmpdir(), prefix));
  const site = await makeGpgKey(work, 'site');
  await mkdir(path.join(work, 'public'), { recursive: true });
  const upstream = await startNginx(path.join(work, 'public'));
  const mirrorDir = path.join(work, 'mirror');
  await mkdir(mirrorDir, { recursive: true });
  return { work, site, upstream, mirror: await startNginx(mirrorDir), mirrorDir };
}

export async function stopVendorLab(lab: VendorLab | undefined): Promise<void> {
  await lab?.mirror.stop();
  await lab?.upstream.stop();
  if (lab && !process.env.FERRY_TEST_KEEP) await rm(lab.work, { recursive: true, force: true });
}

/** target.yaml text: the lab's mirror directory and URL, signed with `site.secret.asc`. */
export function siteTargetYaml(lab: VendorLab): string {
  return ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'apt:', `  dir: ${lab.mirrorDir}`, `  baseUrl: ${lab.mirror.url}`, '  signingKey: site.secret.asc', ''].join('\n');
}

/**
 * One signed vendor repository in the lab (`<upstream>/vendor`, suite `stable`, package `hello`
 * 1.0), and a project directory `dir` holding its key (`vendor.asc`), the site key
 * (`site.secret.asc`) and a manifest `apt` mirroring it whole; not yet locked.
 */
export async function helloVendorProject(lab: VendorLab, dir: string): Promise<void> {
  const key = await makeGpgKey(lab.work, 'vendor');
  const debs = path.join(lab.work, 'debs');
  await vendorDeb(debs, 'hello', '1.0', 'amd64');
  await publishVendor(path.join(lab.work, 'public'), debs, {
    root: 'vendor',
    suite: 'stable',
    fields: ['Origin: Vendor', 'Suite: stable', 'Codename: stable', 'Architectures: amd64', 'Components: main', `Date: ${new Date(Date.now() - 86400_000).toUTCString()}`],
    indexes: [{ comp: 'main', arch: 'amd64', debs: { hello: 'pool/main/h/hello_1.0_amd64.deb' } }],
    compress: ['', '.gz'],
    key,
  });
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'vendor.asc'), await readFile(key.publicKey));
  await writeFile(path.join(dir, 'site.secret.asc'), await readFile(lab.site.secretKey));
  const apt = ['  - name: vendor', `    url: ${lab.upstream.url}/vendor`, '    suites: [stable]', '    components: [main]', '    architectures: [amd64]', '    keys: [vendor.asc]'];
  await writeFile(path.join(dir, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: apt }', 'apt:', ...apt, ''].join('\n'));
}
