import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { aptGet, downloadDebs, makeGpgKey, publishWithAptly, startNginx, type GpgKey, type Nginx } from '../support/apt-repo.js';

/**
 * `ferry rewrite apt-sources` with the real apt-get: a vendor repository (aptly, gpg, nginx) is
 * mirrored filtered (re-signed with the site key) and whole (vendor signature kept); the user's
 * one-line and deb822 sources are rewritten; the upstream is stopped; apt-get updates with
 * signature checks on and downloads from the mirror.
 */
const DEBS = ['jq', 'libjq1', 'libonig5', 'tree'];
let work: string;
let vendor: GpgKey;
let site: GpgKey;
let upstream: Nginx | undefined;
let mirror: Nginx | undefined;
let lockFile: string;
let siteKey: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-rewrite-apt-'));
  const debs = await downloadDebs(DEBS);
  vendor = await makeGpgKey(work, 'vendor');
  site = await makeGpgKey(work, 'site');
  const repo = await publishWithAptly(work, debs, vendor, { distribution: 'bookworm', prefixes: ['filtered', 'whole'] });
  upstream = await startNginx(repo.publicDir);
  const u = upstream.url;
  await writeFile(
    path.join(work, 'manifest.yaml'),
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: rw-apt }',
      'apt:',
      '  - name: filtered',
      `    url: ${u}/filtered`,
      '    suites: [bookworm]',
      '    packages: [jq]',
      '    keys: [vendor.asc]',
      '  - name: whole',
      `    url: ${u}/whole`,
      '    suites: [bookworm]',
      '    keys: [vendor.asc]',
      '',
    ].join('\n'),
  );
  let r = await runFerry(['lock', 'manifest.yaml'], { cwd: work, env: env() });
  expect(r.code, r.stderr).toBe(0);
  lockFile = path.join(work, 'rw-apt.lock.json');
  r = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'b.tar', '--frozen'], { cwd: work, env: env() });
  expect(r.code, r.stderr).toBe(0);
  await mkdir(path.join(work, 'mirror'), { recursive: true });
  mirror = await startNginx(path.join(work, 'mirror'));
  await writeFile(
    path.join(work, 'target.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'apt:', '  dir: ./mirror', `  baseUrl: ${mirror.url}`, '  signingKey: site.secret.asc', ''].join('\n'),
  );
  r = await runFerry(['import', 'b.tar', '-t', 'target.yaml'], { cwd: work, env: env() });
  expect(r.code, r.stderr).toBe(0);
  // What a client installs: the site key import published beside the repositories.
  siteKey = path.join(work, 'site-keyring.asc');
  await cp(path.join(work, 'mirror', 'ferry-archive-keyring.asc'), siteKey);
  await upstream.stop();
  upstream = undefined;
}, 600_000);

afterAll(async () => {
  await mirror?.stop();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('rewrite apt-sources with apt-get', () => {
  it('one-line sources.list: apt-get updates and downloads from the mirror, the re-signed one checked with the site key', async () => {
    const u = 'http://' + (await readFile(lockFile, 'utf8')).match(/"url": "http:\/\/([^/]+)\/filtered"/)![1];
    const file = path.join(work, 'sources.list');
    await writeFile(file, `# vendor\ndeb [signed-by=${vendor.publicKey}] ${u}/filtered bookworm main\ndeb [arch=amd64 signed-by=${vendor.publicKey}] ${u}/whole bookworm main\n`);
    const r = await runFerry(['rewrite', 'apt-sources', file, '-t', 'target.yaml', '--lock', lockFile, '--signed-by', siteKey], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(text).toContain(`deb [signed-by=${siteKey}] ${mirror!.url}/`);
    // The whole mirror keeps the vendor's signature, so it keeps the vendor's key.
    expect(text).toMatch(new RegExp(`deb \\[arch=amd64 signed-by=${vendor.publicKey.replace(/[.]/g, '\\.')}\\] ${mirror!.url}/\\S+/whole bookworm main`));
    expect(r.stdout).toContain(`${u}/filtered → ${mirror!.url}/`);

    const root = path.join(work, 'apt-oneline');
    const update = await aptGet(root, text, ['update']);
    expect(update.code, update.stdout + update.stderr).toBe(0);
    expect(update.stdout + update.stderr).not.toMatch(/NO_PUBKEY|not signed|insecure|W: |E: /);
    const dl = await aptGet(root, text, ['install', '--download-only', '--reinstall', 'jq', 'tree']);
    expect(dl.code, dl.stdout + dl.stderr).toBe(0);
    const archives = await readdir(path.join(root, 'var/cache/apt/archives'));
    expect(archives.some((f) => f.startsWith('jq_'))).toBe(true);
    expect(archives.some((f) => f.startsWith('tree_'))).toBe(true);

    const again = await runFerry(['rewrite', 'apt-sources', file, '-t', 'target.yaml', '--lock', lockFile, '--signed-by', siteKey, '--json'], { cwd: work });
    expect(JSON.parse(again.stdout).replacements).toEqual([]);
  });

  it('deb822 .sources with a bundle as the source of truth: apt-get updates from the mirror', async () => {
    const u = 'http://' + (await readFile(lockFile, 'utf8')).match(/"url": "http:\/\/([^/]+)\/filtered"/)![1];
    const root = path.join(work, 'apt-deb822');
    await mkdir(path.join(root, 'etc/apt/sources.list.d'), { recursive: true });
    const file = path.join(root, 'etc/apt/sources.list.d/vendor.sources');
    await writeFile(file, `Types: deb\nURIs: ${u}/filtered\nSuites: bookworm\nComponents: main\nSigned-By: ${vendor.publicKey}\n`);
    const r = await runFerry(['rewrite', 'apt-sources', file, '-t', 'target.yaml', '--bundle', 'b.tar', '--signed-by', siteKey], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(file, 'utf8')).toContain(`Signed-By: ${siteKey}\n`);
    const update = await aptGet(root, '', ['update']);
    expect(update.code, update.stdout + update.stderr).toBe(0);
    expect(update.stdout + update.stderr).toContain(mirror!.url);
    expect(update.stdout + update.stderr).not.toMatch(/NO_PUBKEY|not signed|W: |E: /);
  });
});
