import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { aptGet, downloadDebs, makeGpgKey, siteAptMirror, startNginx, writeSignedRelease, type GpgKey, type Nginx } from '../support/apt-repo.js';

/**
 * Debian's -updates and -security suites list `Packages` (for its hash) and serve only
 * `Packages.xz`: ferry must read the xz index, carry it, and the real apt-get must install the
 * listed package with its closure from the re-signed filtered mirror and from the whole one.
 */

const DEBS = ['jq', 'libjq1', 'libonig5'];
const SUITE = 'bookworm-updates';

let work: string;
let vendor: GpgKey;
let site: GpgKey;
let upstream: Nginx;
let mirror: Nginx | undefined;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

/** A repository laid out as Debian's -updates: Release lists Packages and Packages.xz; only the .xz is served. */
async function xzOnlyRepo(root: string, debs: string[]): Promise<void> {
  await mkdir(path.join(root, 'pool/main'), { recursive: true });
  for (const d of debs) await cp(d, path.join(root, 'pool/main', path.basename(d)));
  const packages = execFileSync('dpkg-scanpackages', ['--multiversion', 'pool', '/dev/null'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
  const xz = execFileSync('xz', ['-c'], { input: packages });
  const dir = path.join(root, 'dists', SUITE);
  await mkdir(path.join(dir, 'main/binary-amd64'), { recursive: true });
  await writeFile(path.join(dir, 'main/binary-amd64/Packages.xz'), xz);
  // Listed: the plain index (for its hash) and the .xz; served: the .xz alone, and InRelease alone.
  await writeSignedRelease(
    dir,
    vendor,
    ['Origin: Debian', 'Label: Debian', 'Suite: stable-updates', `Codename: ${SUITE}`, 'Date: Sat, 05 Dec 2026 00:00:00 UTC', 'Architectures: amd64', 'Components: main'],
    [
      { path: 'main/binary-amd64/Packages', bytes: packages },
      { path: 'main/binary-amd64/Packages.xz', bytes: xz },
    ],
    { inReleaseOnly: true },
  );
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-apt-oracle-'));
  const debs = await downloadDebs(DEBS);
  vendor = await makeGpgKey(work, 'vendor');
  site = await makeGpgKey(work, 'site');
  const pub = path.join(work, 'public');
  for (const prefix of ['filtered', 'whole']) await xzOnlyRepo(path.join(pub, prefix), debs);
  upstream = await startNginx(pub);
});

afterAll(async () => {
  await mirror?.stop();
  await upstream?.stop();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

describe('apt oracle: a suite that serves only Packages.xz', () => {
  it('locks, bundles and imports it (filtered and whole); apt-get installs jq with its closure from both', async () => {
    const dir = path.join(work, 'project');
    await mkdir(dir, { recursive: true });
    await cp(vendor.publicKey, path.join(dir, 'vendor.asc'));
    await cp(site.secretKey, path.join(dir, 'site.secret.asc'));
    const entry = (name: string, prefix: string, packages?: string[]) => [
      `  - name: ${name}`,
      `    url: ${upstream.url}/${prefix}`,
      `    suites: [${SUITE}]`,
      '    components: [main]',
      '    architectures: [amd64]',
      ...(packages ? [`    packages: [${packages.join(', ')}]`] : []),
      '    keys: [vendor.asc]',
    ];
    await writeFile(
      path.join(dir, 'manifest.yaml'),
      ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: xz }', 'apt:', ...entry('xz-filtered', 'filtered', ['jq']), ...entry('xz-whole', 'whole'), ''].join('\n'),
    );
    const lock = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
    expect(lock.code, lock.stderr).toBe(0);
    const lockJson = JSON.parse(await readFile(path.join(dir, 'xz.lock.json'), 'utf8'));
    const filtered = lockJson.apt.find((a: { name: string }) => a.name === 'xz-filtered');
    expect(filtered.suites[0].indexes.map((i: { path: string }) => i.path)).toEqual([`dists/${SUITE}/main/binary-amd64/Packages.xz`]);
    expect(filtered.suites[0].packages.map((p: { name: string }) => p.name).sort()).toEqual(DEBS);

    const create = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'xz.tar', '--frozen'], { cwd: dir, env: env() });
    expect(create.code, create.stderr).toBe(0);
    const served = await siteAptMirror(dir);
    mirror = served.mirror;
    const imp = await runFerry(['import', 'xz.tar', '-t', 'target.yaml', '--json'], { cwd: dir, env: env() });
    expect(imp.code, imp.stderr).toBe(0);
    const results = JSON.parse(imp.stdout).results as Array<{ artifact: string; location: string }>;
    const loc = (prefix: string) => results.find((r) => r.artifact === `${upstream.url}/${prefix} ${SUITE}`)!.location.split(' ')[0];

    for (const [prefix, key] of [
      ['filtered', path.join(served.mirrorDir, 'ferry-archive-keyring.asc')],
      ['whole', path.join(dir, 'vendor.asc')],
    ]) {
      const root = path.join(dir, `apt-${prefix}`);
      const sources = `deb [signed-by=${key}] ${loc(prefix)} ${SUITE} main`;
      const update = await aptGet(root, sources, ['update']);
      expect(update.code, update.stdout + update.stderr).toBe(0);
      expect(update.stdout + update.stderr).not.toMatch(/NO_PUBKEY|not signed|insecure|W: |E: /);
      const install = await aptGet(root, sources, ['install', '--download-only', '--reinstall', ...DEBS]);
      expect(install.code, install.stdout + install.stderr).toBe(0);
      const archives = await readdir(path.join(root, 'var/cache/apt/archives'));
      for (const name of DEBS) expect(archives.some((f) => f.startsWith(`${name}_`)), `${prefix}: ${name} in ${archives.join(' ')}`).toBe(true);
    }
  });
});
