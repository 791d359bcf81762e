import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { listTree } from '../support/fs-tree.js';
import { flipByte, tarEntries } from '../support/tar-walk.js';
import { CraftedBundle, type Desc } from '../support/craft-bundle.js';
import { startFerryServe } from '../support/static-http.js';
import { mapAptRepo } from '../../src/mapping/index.js';
import { aptGet, downloadDebs, gpgSign, makeGpgKey, publishWithAptly, siteAptMirror, startNginx, type GpgKey, type Nginx } from '../support/apt-repo.js';

/**
 * A real signed APT repository (aptly, gpg) served by nginx; ferry locks, bundles, verifies and
 * imports a filtered set and a whole component; the real apt-get then updates and downloads
 * from the imported mirror with signature checking on. Tampering is refused with the file named.
 */

const DEBS = ['jq', 'libjq1', 'libonig5', 'tree', 'sensible-utils'];

let work: string;
let vendor: GpgKey;
let site: GpgKey;
let stranger: GpgKey;
let upstream: Nginx;
let mirror: Nginx | undefined;
let publicDir: string;
/** Set by the first test: the bundle and its project directory, for the serve test. */
let goodDir: string | undefined;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

function manifest(entries: Array<{ name: string; prefix: string; packages?: string[] }>): string {
  return [
    'apiVersion: ferry/v1alpha1',
    'kind: Manifest',
    'metadata: { name: apt-e2e }',
    'vars:',
    '  release: [bookworm]',
    'apt:',
    ...entries.flatMap((e) => [
      `  - name: ${e.name}`,
      `    url: ${upstream.url}/${e.prefix}`,
      '    suites: [<release>]',
      '    components: [main]',
      '    architectures: [amd64]',
      ...(e.packages ? [`    packages: [${e.packages.join(', ')}]`] : []),
      '    keys: [vendor.asc]',
    ]),
    '',
  ].join('\n');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-apt-e2e-'));
  const debs = await downloadDebs(DEBS);
  vendor = await makeGpgKey(work, 'vendor');
  site = await makeGpgKey(work, 'site');
  stranger = await makeGpgKey(work, 'stranger');
  const repo = await publishWithAptly(work, debs, vendor, { distribution: 'bookworm', prefixes: ['filtered', 'whole', 'tamper-deb', 'tamper-gen', 'tamper-index', 'tamper-key', 'no-inrelease'] });
  publicDir = repo.publicDir;
  upstream = await startNginx(publicDir);
});

afterAll(async () => {
  await mirror?.stop();
  await upstream?.stop();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

describe('apt: filtered and whole mirrors through lock, bundle, verify, import, apt-get', () => {
  it('mirrors jq with its dependency closure (re-signed) and a whole component (vendor-signed); apt-get installs from both', async () => {
    const dir = path.join(work, 'good');
    await mkdir(dir, { recursive: true });
    await cp(path.join(work, 'vendor.asc'), path.join(dir, 'vendor.asc'));
    await writeFile(path.join(dir, 'manifest.yaml'), manifest([{ name: 'vendor-filtered', prefix: 'filtered', packages: ['jq'] }, { name: 'vendor-whole', prefix: 'whole' }]));

    const lock = await runFerry(['lock', 'manifest.yaml', '--json'], { cwd: dir, env: env() });
    expect(lock.code, lock.stderr).toBe(0);
    // The user is told which dependencies nothing listed provides (the client's base system must).
    expect(lock.stderr).toMatch(/apt\[vendor-filtered\]: not satisfied by any listed repository: .*depends on libc6/);
    const lockJson = JSON.parse(await readFile(path.join(dir, 'apt-e2e.lock.json'), 'utf8'));
    const filtered = lockJson.apt.find((a: { name: string }) => a.name === 'vendor-filtered');
    const whole = lockJson.apt.find((a: { name: string }) => a.name === 'vendor-whole');
    expect(filtered.mode).toBe('filtered');
    expect(filtered.suites[0].packages.map((p: { name: string }) => p.name).sort()).toEqual(['jq', 'libjq1', 'libonig5']);
    expect(filtered.suites[0].signedBy).toBe(vendor.fingerprint);
    // libc6 is not in the listed repositories: reported, not fatal.
    expect(filtered.unsatisfied.some((u: string) => /depends on libc6/.test(u))).toBe(true);
    expect(whole.mode).toBe('whole');
    expect(whole.suites[0].packages.map((p: { name: string }) => p.name).sort()).toEqual([...DEBS].sort());
    // The lock pins every .deb by the SHA-256 the signed index gives; check one against the real file.
    const jqDeb = (await downloadDebs(['jq']))[0];
    const jqHash = createHash('sha256').update(await readFile(jqDeb)).digest('hex');
    expect(filtered.suites[0].packages.find((p: { name: string }) => p.name === 'jq').sha256).toBe(jqHash);
    // The Packages ferry publishes for the filtered suite is pinned by the lock, every byte: the
    // upstream stanzas of the three packages, each as the signed index has it (Depends included).
    expect(whole.suites[0].generated).toBeUndefined();
    const gen = filtered.suites[0].generated as Array<{ path: string; sha256: string; size: number }>;
    expect(gen.map((g) => g.path)).toEqual(filtered.suites[0].indexes.map((i: { path: string }) => i.path.replace(/\.(gz|xz)$/, '')));

    const bundle = path.join(dir, 'apt.ferry.tar');
    const create = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', bundle, '--frozen'], { cwd: dir, env: env() });
    expect(create.code, create.stderr).toBe(0);
    const verify = await runFerry(['bundle', 'verify', bundle], { cwd: dir, env: env() });
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);

    await cp(site.secretKey, path.join(dir, 'site.secret.asc'));
    const served = await siteAptMirror(dir);
    mirror = served.mirror;
    const mirrorDir = served.mirrorDir;
    const imp = await runFerry(['import', bundle, '-t', 'target.yaml', '--json'], { cwd: dir, env: env() });
    expect(imp.code, imp.stderr).toBe(0);
    const results = JSON.parse(imp.stdout).results as Array<{ artifact: string; location: string; skipped: boolean }>;
    // One read: the .debs were hashed as they were staged in the pool's tree (the verify pass read the rest).
    const verified = JSON.parse(imp.stdout).verified as { bytes: number; whilePushing: { files: number; bytes: number } };
    expect(verified.whilePushing.files).toBeGreaterThanOrEqual(DEBS.length);
    expect(verified.whilePushing.bytes).toBeGreaterThan(verified.bytes / 2);
    const loc = (prefix: string) => results.find((r) => r.artifact === `${upstream.url}/${prefix} bookworm`)!.location.split(' ')[0];
    expect(loc('filtered')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);

    // The filtered mirror is signed with the site key, exported for clients; the whole one keeps the vendor's signature.
    const siteKeyFile = path.join(mirrorDir, 'ferry-archive-keyring.asc');
    expect(await readFile(siteKeyFile, 'utf8')).toContain('BEGIN PGP PUBLIC KEY BLOCK');
    const aptRoot = path.join(dir, 'apt-root');
    const sources = [
      `deb [signed-by=${siteKeyFile}] ${loc('filtered')} bookworm main`,
      `deb [signed-by=${path.join(dir, 'vendor.asc')}] ${loc('whole')} bookworm main`,
    ].join('\n');
    const update = await aptGet(aptRoot, sources, ['update']);
    expect(update.code, update.stdout + update.stderr).toBe(0);
    expect(update.stdout + update.stderr).not.toMatch(/NO_PUBKEY|not signed|insecure|W: |E: /);

    const install = await aptGet(aptRoot, sources, ['install', '--download-only', '--reinstall', 'jq', 'libjq1', 'libonig5', 'tree', 'sensible-utils']);
    expect(install.code, install.stdout + install.stderr).toBe(0);
    const archives = await readdir(path.join(aptRoot, 'var/cache/apt/archives'));
    for (const name of DEBS) expect(archives.some((f) => f.startsWith(`${name}_`) && f.endsWith('.deb')), `${name} in ${archives.join(' ')}`).toBe(true);

    // Import is idempotent: a second run writes nothing new.
    goodDir = dir;
    const again = await runFerry(['import', bundle, '-t', 'target.yaml', '--json'], { cwd: dir, env: env() });
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(again.stdout).results as Array<{ artifact: string; skipped: boolean }>;
    expect(second.filter((r) => r.artifact.includes('bookworm')).every((r) => r.skipped)).toBe(true);
    expect((await listTree(mirrorDir)).filter((f) => /\.ferry-|\.tmp$/.test(f))).toEqual([]);

    // A bundle with one damaged .deb leaves a fresh mirror directory empty: no pool file, no index.
    const damaged = path.join(dir, 'damaged.ferry.tar');
    await cp(bundle, damaged);
    const biggest = [...(await tarEntries(damaged))].filter(([n]) => n.startsWith('blobs/')).sort((a, b) => b[1].size - a[1].size)[0][0];
    await flipByte(damaged, biggest, 100);
    await writeFile(path.join(dir, 'fresh.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: fresh }', 'apt:', '  dir: ./fresh', `  baseUrl: ${mirror.url}`, '  signingKey: site.secret.asc', ''].join('\n'));
    const bad = await runFerry(['import', damaged, '-t', 'fresh.yaml'], { cwd: dir, env: env() });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(biggest.replace('blobs/sha256/', 'sha256:'));
    expect(await listTree(path.join(dir, 'fresh'))).toEqual([]);

    // A whole mirror is the vendor's, complete. A crafted bundle (checksums recomputed) whose
    // whole artifact lacks a package its signed Packages names, or carries an index the signed
    // Release does not list as is, is refused before anything of it is written.
    const wholeTop = (d: Desc) => d.annotations?.['io.ferry.source'] === `${upstream.url}/whole`;
    const lacking = (await CraftedBundle.load(bundle)).clone();
    let dropped = '';
    lacking.editArtifact(wholeTop, ({ manifest }) => {
      const i = manifest.layers.findIndex((l) => l.annotations?.['io.ferry.role'] === 'package' && /\/tree_/.test(l.annotations['org.opencontainers.image.title']));
      dropped = manifest.layers[i].annotations!['org.opencontainers.image.title'];
      manifest.layers.splice(i, 1);
    });
    const r1 = await runFerry(['import', await lacking.write(path.join(dir, 'lacking.tar')), '-t', 'fresh.yaml'], { cwd: dir, env: env() });
    expect(r1.code).toBe(3);
    expect(r1.stderr).toMatch(/bookworm main\/binary-amd64\/Packages(\.gz)?: the vendor's index names 1 package the bundle does not carry as listed/);
    expect(r1.stderr).toContain(`tree: ${JSON.stringify(dropped)} is not in the bundle`);
    expect(await listTree(path.join(dir, 'fresh'))).toEqual([]);

    const swapped = (await CraftedBundle.load(bundle)).clone();
    swapped.editArtifact(wholeTop, ({ manifest }) => {
      const idx = manifest.layers.find((l) => l.annotations?.['io.ferry.role'] === 'index' && /binary-amd64\/Packages$/.test(l.annotations['org.opencontainers.image.title']))!;
      Object.assign(idx, swapped.putBlob(Buffer.concat([swapped.blob(idx.digest), Buffer.from('\n')])));
    });
    const r2 = await runFerry(['import', await swapped.write(path.join(dir, 'swapped.tar')), '-t', 'fresh.yaml'], { cwd: dir, env: env() });
    expect(r2.code).toBe(3);
    expect(r2.stderr).toMatch(/1 index file does not match the vendor's signed Release/);
    expect(r2.stderr).toMatch(/main\/binary-amd64\/Packages is sha256:[0-9a-f]{64} \(\d+ bytes\); the signed Release lists sha256:/);
    expect(await listTree(path.join(dir, 'fresh'))).toEqual([]);
  });
});

describe('apt: ferry serve', () => {
  it('serves both repositories straight from the bundle; apt-get updates and downloads with signatures on', async () => {
    expect(goodDir, 'the import test ran first').toBeDefined();
    const dir = goodDir!;
    const serve = await startFerryServe([path.join(dir, 'apt.ferry.tar'), '--target', 'target.yaml'], { cwd: dir });
    try {
      const at = (prefix: string) => mapAptRepo(`${upstream.url}/${prefix}`, { baseUrl: `${serve.url}/apt` }).url;
      // Armored and binary, as import writes them: `rewrite apt-sources` tells clients to install
      // the binary one (its default keyring path is a .gpg) from the mirror's base URL.
      const armored = await fetch(`${serve.url}/apt/ferry-archive-keyring.asc`);
      expect(armored.status).toBe(200);
      await writeFile(path.join(dir, 'served-site.asc'), Buffer.from(await armored.arrayBuffer()));
      const key = path.join(dir, 'served-site.gpg');
      const res = await fetch(`${serve.url}/apt/ferry-archive-keyring.gpg`);
      expect(res.status).toBe(200);
      await writeFile(key, Buffer.from(await res.arrayBuffer()));
      const sources = [`deb [signed-by=${key}] ${at('filtered')} bookworm main`, `deb [signed-by=${path.join(dir, 'vendor.asc')}] ${at('whole')} bookworm main`].join('\n');
      const aptRoot = path.join(dir, 'apt-root-serve');
      const update = await aptGet(aptRoot, sources, ['update']);
      expect(update.code, update.stdout + update.stderr).toBe(0);
      expect(update.stdout + update.stderr).not.toMatch(/NO_PUBKEY|not signed|insecure|W: |E: /);
      const install = await aptGet(aptRoot, sources, ['install', '--download-only', '--reinstall', 'jq', 'libjq1', 'libonig5', 'tree']);
      expect(install.code, install.stdout + install.stderr).toBe(0);
      const archives = await readdir(path.join(aptRoot, 'var/cache/apt/archives'));
      for (const name of ['jq', 'libjq1', 'libonig5', 'tree']) expect(archives.some((f) => f.startsWith(`${name}_`)), `${name} in ${archives.join(' ')}`).toBe(true);
    } finally {
      await serve.stop();
    }
  });
});

describe('apt: tampering is refused with the file named', () => {
  async function setup(name: string, prefix: string): Promise<string> {
    const dir = path.join(work, name);
    await mkdir(dir, { recursive: true });
    await cp(path.join(work, 'vendor.asc'), path.join(dir, 'vendor.asc'));
    await writeFile(path.join(dir, 'manifest.yaml'), manifest([{ name: 'vendor', prefix, packages: ['jq'] }]));
    return dir;
  }
  const freshEnv = (dir: string) => ({ ...env(), FERRY_CACHE_DIR: path.join(dir, 'cache') });

  it('a changed .deb fails bundle create, naming the package file', async () => {
    const dir = await setup('t-deb', 'tamper-deb');
    expect((await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: freshEnv(dir) })).code).toBe(0);
    const pool = path.join(publicDir, 'tamper-deb/pool/main/j/jq');
    const deb = path.join(pool, (await readdir(pool)).find((f) => f.endsWith('.deb'))!);
    const bytes = await readFile(deb);
    bytes[bytes.length - 10] ^= 0xff;
    await rm(deb);
    await writeFile(deb, bytes);
    const r = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'x.tar', '--frozen'], { cwd: dir, env: freshEnv(dir) });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/pool\/main\/j\/jq\/jq_[^ ]+\.deb/);
    expect(r.stderr).toMatch(/mismatch/);
  });

  it("a lock whose generated Packages digest is not what this ferry makes from the pinned index fails bundle create, saying to lock again", async () => {
    const dir = await setup('t-gen', 'tamper-gen');
    expect((await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: freshEnv(dir) })).code).toBe(0);
    const lockFile = path.join(dir, (await readdir(dir)).find((f) => f.endsWith('.lock.json'))!);
    const lock = JSON.parse(await readFile(lockFile, 'utf8'));
    const g = lock.apt[0].suites[0].generated[0];
    g.sha256 = createHash('sha256').update('another index').digest('hex');
    await writeFile(lockFile, JSON.stringify(lock, null, 2));
    const r = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'x.tar', '--frozen'], { cwd: dir, env: freshEnv(dir) });
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain(`${g.path}: the Packages made from the pinned`);
    expect(r.stderr).toMatch(/ferry lock/);
    expect(await readdir(dir)).not.toContain('x.tar');
  });

  it('a Packages index that does not match the signed Release fails lock, naming the index', async () => {
    const dir = await setup('t-index', 'tamper-index');
    const binDir = path.join(publicDir, 'tamper-index/dists/bookworm/main/binary-amd64');
    const gz = path.join(binDir, 'Packages.gz');
    const text = gunzipSync(await readFile(gz)).toString('utf8').replace(/^Version: (.*)$/m, 'Version: 99:$1');
    const forged = gzipSync(Buffer.from(text));
    // Replace the named file and every by-hash copy, so whichever path ferry takes is forged.
    await rm(gz);
    await writeFile(gz, forged);
    for (const sub of ['by-hash/SHA256', 'by-hash/SHA512', 'by-hash/SHA1', 'by-hash/MD5Sum']) {
      const d = path.join(binDir, sub);
      for (const f of await readdir(d).catch(() => [] as string[])) {
        await rm(path.join(d, f));
        await writeFile(path.join(d, f), forged);
      }
    }
    await writeFile(path.join(binDir, 'Packages'), text);
    const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: freshEnv(dir) });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/dists\/bookworm\/main\/binary-amd64\/Packages/);
  });

  it('without InRelease, Release + Release.gpg are verified and used instead', async () => {
    const dir = await setup('no-inrelease', 'no-inrelease');
    await rm(path.join(publicDir, 'no-inrelease/dists/bookworm/InRelease'));
    const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: freshEnv(dir) });
    expect(r.code, r.stderr).toBe(0);
    const suite = JSON.parse(await readFile(path.join(dir, 'apt-e2e.lock.json'), 'utf8')).apt[0].suites[0];
    expect(suite.release.map((f: { path: string }) => f.path)).toEqual(['dists/bookworm/Release', 'dists/bookworm/Release.gpg']);
    expect(suite.signedBy).toBe(vendor.fingerprint);
    // A Release.gpg from an unknown key is then fatal, naming the file.
    const dist = path.join(publicDir, 'no-inrelease/dists/bookworm');
    await rm(path.join(dist, 'Release.gpg'));
    await gpgSign(stranger, path.join(dist, 'Release'), 'armor-detach', path.join(dist, 'Release.gpg'));
    const bad = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: freshEnv(dir) });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/no-inrelease\/dists\/bookworm\/Release \(signature Release\.gpg\)/);
  });

  it('an InRelease signed by an unknown key fails lock, naming InRelease', async () => {
    const dir = await setup('t-key', 'tamper-key');
    const dist = path.join(publicDir, 'tamper-key/dists/bookworm');
    await gpgSign(stranger, path.join(dist, 'Release'), 'clearsign', path.join(dist, 'InRelease'));
    const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: freshEnv(dir) });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/tamper-key\/dists\/bookworm\/InRelease/);
    expect(r.stderr).toMatch(/not signed by any of the given keys/);
  });
});
