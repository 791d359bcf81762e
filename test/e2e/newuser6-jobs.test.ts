import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aptGet, downloadDebs, makeGpgKey, siteAptMirror, startNginx, type GpgKey, type Nginx } from '../support/apt-repo.js';
import { FERRY, mustRun, runFerry } from '../support/cli.js';

/**
 * A Debian sysadmin's job (new-user round 6): two vendor repositories with different keys, one
 * filtered across two suites and two components for amd64 and arm64 (arm64 has only an `all`
 * package), one whole and published with Release + Release.gpg only; a day-2 update through a
 * differential bundle with the old version kept for pinning; `ferry serve` straight to apt-get.
 * Real aptly, gpg, nginx and apt-get on loopback.
 */
let work: string;
let upstream: Nginx;
let mirror: Nginx;
let keyA: GpgKey;
let keyB: GpgKey;
let job: string;
let site: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50', FERRY_SIGNING_PASSPHRASE: '' });

async function buildDeb(dir: string, name: string, version: string, arch: string, depends?: string): Promise<string> {
  const root = path.join(dir, `${name}-${version}-root`);
  await mkdir(path.join(root, 'DEBIAN'), { recursive: true });
  await mkdir(path.join(root, 'usr/share/doc', name), { recursive: true });
  await writeFile(path.join(root, 'usr/share/doc', name, 'README'), `${name} ${version}\n`);
  const control = [`Package: ${name}`, `Version: ${version}`, `Architecture: ${arch}`, 'Maintainer: t <t@ferry.test>', ...(depends ? [`Depends: ${depends}`] : []), `Description: ${name}`, ''];
  await writeFile(path.join(root, 'DEBIAN/control'), control.join('\n'));
  const deb = path.join(dir, `${name}_${version}_${arch}.deb`);
  await mustRun('dpkg-deb', ['--build', '--root-owner-group', root, deb]);
  await rm(root, { recursive: true, force: true });
  return deb;
}

function aptlyFor(name: string, key: GpgKey, archs: string[]) {
  const config = path.join(work, `aptly-${name}.conf`);
  const run = async (args: string[]) => {
    await writeFile(config, JSON.stringify({ rootDir: path.join(work, `aptly-${name}`), gpgProvider: 'gpg', architectures: archs }));
    return mustRun('aptly', [`-config=${config}`, ...args], { env: { GNUPGHOME: key.home } });
  };
  const sign = [`-gpg-key=${key.fingerprint}`, '-passphrase=', '-batch', `-architectures=${archs.join(',')}`];
  return { run, sign, publicDir: path.join(work, `aptly-${name}`, 'public') };
}

let vendorA: ReturnType<typeof aptlyFor>;
const urlA = () => `${upstream.url}/vendor-a`;
const urlB = () => `${upstream.url}/vendor-b`;

function manifest(name: string, packages: string[]): string {
  return [
    'apiVersion: ferry/v1alpha1',
    'kind: Manifest',
    `metadata: { name: ${name} }`,
    'apt:',
    '  - name: vendor-a',
    `    url: ${urlA()}`,
    '    suites: [bookworm, bookworm-updates]',
    '    components: [main, extra]',
    '    architectures: [amd64, arm64]',
    `    packages: [${packages.join(', ')}]`,
    '    keys: [keyA.asc]',
    '  - name: vendor-b',
    `    url: ${urlB()}`,
    '    suites: [stable]',
    '    components: [main]',
    '    architectures: [amd64]',
    '    keys: [keyB.asc]',
    '',
  ].join('\n');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser6-'));
  job = path.join(work, 'job');
  site = path.join(work, 'site');
  await mkdir(job, { recursive: true });
  await mkdir(site, { recursive: true });
  const [jq, libjq1, libonig5, tree, sensible] = await downloadDebs(['jq', 'libjq1', 'libonig5', 'tree', 'sensible-utils']);
  keyA = await makeGpgKey(work, 'vendor-a');
  keyB = await makeGpgKey(work, 'vendor-b');
  const debs = path.join(work, 'debs');
  await mkdir(debs, { recursive: true });
  // vtool is `all` (so arm64 has it) and depends on libonig5, which only vendor B has (amd64 only).
  const vtool = await buildDeb(debs, 'vtool', '1.0', 'all', 'libonig5');
  const vextra = await buildDeb(debs, 'vextra', '1.0', 'amd64');

  // Vendor A: bookworm (main: jq, libjq1, vtool; extra: vextra) and bookworm-updates (main: jq; extra: vextra), by-hash, amd64 + arm64.
  vendorA = aptlyFor('a', keyA, ['amd64', 'arm64']);
  const a = vendorA.run;
  for (const r of ['main', 'extra', 'upd', 'updx']) await a(['repo', 'create', r]);
  await a(['repo', 'add', 'main', jq, libjq1, vtool]);
  await a(['repo', 'add', 'extra', vextra]);
  await a(['repo', 'add', 'upd', jq]);
  await a(['repo', 'add', 'updx', vextra]);
  await a(['publish', 'repo', ...vendorA.sign, '-acquire-by-hash', '-distribution=bookworm', '-component=main,extra', 'main', 'extra', 'vendor-a']);
  await a(['publish', 'repo', ...vendorA.sign, '-acquire-by-hash', '-distribution=bookworm-updates', '-component=main,extra', 'upd', 'updx', 'vendor-a']);
  // Vendor B: Release + Release.gpg only (no InRelease), no by-hash.
  const vendorB = aptlyFor('b', keyB, ['amd64']);
  await vendorB.run(['repo', 'create', 'main']);
  await vendorB.run(['repo', 'add', 'main', libonig5, tree, sensible]);
  await vendorB.run(['publish', 'repo', ...vendorB.sign, '-distribution=stable', 'main', 'vendor-b']);
  await rm(path.join(vendorB.publicDir, 'vendor-b/dists/stable/InRelease'));

  // One web root for both vendors.
  const root = path.join(work, 'upstream');
  await mkdir(root, { recursive: true });
  await mustRun('ln', ['-s', path.join(vendorA.publicDir, 'vendor-a'), path.join(root, 'vendor-a')]);
  await mustRun('ln', ['-s', path.join(vendorB.publicDir, 'vendor-b'), path.join(root, 'vendor-b')]);
  upstream = await startNginx(root);
  await writeFile(path.join(job, 'keyA.asc'), await readFile(keyA.publicKey));
  await writeFile(path.join(job, 'keyB.asc'), await readFile(keyB.publicKey));
  const siteKey = await makeGpgKey(work, 'site');
  await writeFile(path.join(site, 'site.secret.asc'), await readFile(siteKey.secretKey));
  mirror = (await siteAptMirror(site)).mirror;
}, 240_000);

afterAll(async () => {
  await Promise.allSettled([upstream?.stop(), mirror?.stop()]);
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

/** ferry serve with its --json line parsed (warnings included). */
async function serveJson(args: string[], cwd: string): Promise<{ url: string; warnings: string[]; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [FERRY, 'serve', ...args, '--listen', '127.0.0.1:0', '--json'], { cwd, env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const data = await new Promise<{ url: string; warnings: string[] }>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      try {
        resolve(JSON.parse(out));
      } catch {
        /* not complete yet */
      }
    });
    child.on('exit', (code) => reject(new Error(`ferry serve exited ${code}: ${err}`)));
  });
  return { ...data, stop: () => new Promise<void>((r) => (child.exitCode !== null ? r() : (child.once('exit', () => r()), child.kill('SIGTERM')))) };
}

const sourcesA = (base: string, key: string) => `deb [ arch=amd64 signed-by=${key} ] ${base}/vendor-a bookworm main extra\ndeb [arch=amd64 signed-by=${key}] ${base}/vendor-a bookworm-updates main extra`;

describe('two vendors, two suites, two components, two architectures', () => {
  it('a package listed for an entry of two suites may be in one of them only; one in neither names both suites', async () => {
    await writeFile(path.join(job, 'nowhere.yaml'), manifest('nowhere', ['jq', 'nosuch']));
    const bad = await runFerry(['lock', 'nowhere.yaml'], { cwd: job, env: env() });
    expect(bad.code).toBe(4);
    expect(bad.stderr).toContain(`apt[vendor-a] (bookworm, bookworm-updates): nosuch is not in ${urlA()} (main, extra; amd64, arm64)`);
    // vtool is only in bookworm (bookworm-updates carries what changed): that is how Debian publishes.
    expect(bad.stderr).not.toMatch(/: jq is not in|: vtool is not in/);

    await writeFile(path.join(job, 'lab.yaml'), manifest('lab', ['jq', 'vtool', 'vextra']));
    const lock = await runFerry(['lock', 'lab.yaml'], { cwd: job, env: env() });
    expect(lock.code, lock.stderr).toBe(0);
    // vtool (all) taken for arm64 lacks libonig5 there (vendor B is amd64 only): the warning names arm64.
    expect(lock.stderr).toContain('not satisfied by any listed repository: vtool 1.0 (all, for arm64) depends on libonig5');
    const l = JSON.parse(await readFile(path.join(job, 'lab.lock.json'), 'utf8'));
    const a = l.apt.find((x: { name: string }) => x.name === 'vendor-a');
    const names = (suite: string) => a.suites.find((s: { suite: string }) => s.suite === suite).packages.map((p: { name: string }) => p.name).sort();
    expect(names('bookworm')).toEqual(['jq', 'libjq1', 'vextra', 'vtool']);
    expect(names('bookworm-updates')).toEqual(['jq', 'vextra']);
  });

  it('day 1 and day 2: a new version comes as a differential bundle; apt-get gets it, and the pinned old one stays installable', async () => {
    await writeFile(path.join(job, 'lab.yaml'), manifest('lab', ['jq', 'vtool', 'vextra', 'vtool=1.0']));
    expect((await runFerry(['lock', 'lab.yaml'], { cwd: job, env: env() })).code).toBe(0);
    const day1 = await runFerry(['bundle', 'create', 'lab.yaml', '-o', 'day1.ferry.tar', '--frozen'], { cwd: job, env: env() });
    expect(day1.code, day1.stderr).toBe(0);
    const imp1 = await runFerry(['import', path.join(job, 'day1.ferry.tar'), '-t', 'target.yaml'], { cwd: site, env: env() });
    expect(imp1.code, imp1.stderr).toBe(0);

    // The vendor publishes vtool 1.1 into bookworm.
    await vendorA.run(['repo', 'add', 'main', await buildDeb(path.join(work, 'debs2'), 'vtool', '1.1', 'all', 'libonig5')]);
    await vendorA.run(['publish', 'update', `-gpg-key=${keyA.fingerprint}`, '-passphrase=', '-batch', 'bookworm', 'vendor-a']);
    expect((await runFerry(['lock', 'lab.yaml'], { cwd: job, env: env() })).code).toBe(0);
    const day2 = await runFerry(['bundle', 'create', 'lab.yaml', '-o', 'day2.ferry.tar', '--since', 'day1.ferry.tar', '--frozen'], { cwd: job, env: env() });
    expect(day2.code, day2.stderr).toBe(0);
    const imp2 = await runFerry(['import', path.join(job, 'day2.ferry.tar'), '-t', 'target.yaml'], { cwd: site, env: env() });
    expect(imp2.code, imp2.stderr).toBe(0);

    const key = path.join(site, 'mirror', 'ferry-archive-keyring.gpg');
    const base = `${mirror.url}/${new URL(upstream.url).host.replace(':', '-')}`;
    const sources = `${sourcesA(base, key)}\ndeb [signed-by=${keyB.publicKey}] ${base}/vendor-b stable main`;
    const root = path.join(work, 'client');
    const update = await aptGet(root, sources, ['update']);
    expect(update.code, update.stdout + update.stderr).toBe(0);
    expect(update.stdout + update.stderr).not.toMatch(/NO_PUBKEY|not signed|W: |E: /);
    const now = await aptGet(root, sources, ['install', '--download-only', 'vtool', 'tree', 'vextra']);
    expect(now.code, now.stdout + now.stderr).toBe(0);
    const pinned = await aptGet(root, sources, ['install', '--download-only', 'vtool=1.0']);
    expect(pinned.code, pinned.stdout + pinned.stderr).toBe(0);
    const archives = await readdir(path.join(root, 'var/cache/apt/archives'));
    expect(archives.filter((f) => f.startsWith('vtool_')).sort()).toEqual(['vtool_1.0_all.deb', 'vtool_1.1_all.deb']);
  }, 180_000);

  it('ferry serve without --target warns that the filtered suites go out unsigned; with it, apt-get installs through it', async () => {
    const bare = await serveJson([path.join(job, 'day1.ferry.tar')], job);
    try {
      expect(bare.warnings.join('\n')).toContain(`${urlA()} bookworm, bookworm-updates: a filtered mirror, served with an unsigned Release that apt refuses ("not signed"): pass --target`);
      // apt-get agrees with the warning.
      const update = await aptGet(path.join(work, 'client-bare'), sourcesA(`${bare.url}/apt/${new URL(upstream.url).host.replace(':', '-')}`, keyA.publicKey), ['update']);
      expect(update.stdout + update.stderr).toMatch(/not signed/);
    } finally {
      await bare.stop();
    }
    const served = await serveJson([path.join(job, 'day2.ferry.tar'), '--base', path.join(job, 'day1.ferry.tar'), '--target', path.join(site, 'target.yaml')], site);
    try {
      expect(served.warnings).toEqual([]);
      const key = path.join(work, 'served.asc');
      await writeFile(key, Buffer.from(await (await fetch(`${served.url}/apt/ferry-archive-keyring.asc`)).arrayBuffer()));
      const base = `${served.url}/apt/${new URL(upstream.url).host.replace(':', '-')}`;
      const sources = `${sourcesA(base, key)}\ndeb [signed-by=${keyB.publicKey}] ${base}/vendor-b stable main`;
      const root = path.join(work, 'client-serve');
      const update = await aptGet(root, sources, ['update']);
      expect(update.code, update.stdout + update.stderr).toBe(0);
      expect(update.stdout + update.stderr).not.toMatch(/NO_PUBKEY|not signed|W: |E: /);
      const dl = await aptGet(root, sources, ['install', '--download-only', 'vtool', 'jq', 'tree']);
      expect(dl.code, dl.stdout + dl.stderr).toBe(0);
      expect(await readdir(path.join(root, 'var/cache/apt/archives'))).toContain('vtool_1.1_all.deb');
    } finally {
      await served.stop();
    }
  }, 120_000);
});
