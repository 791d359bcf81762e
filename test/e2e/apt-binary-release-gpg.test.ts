import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { aptGet, buildDeb, gpgSign, makeGpgKey, publishWithAptly, startNginx, type GpgKey, type Nginx } from '../support/apt-repo.js';

/**
 * A suite with no InRelease and a binary (unarmored) Release.gpg, as `gpg --detach-sign` writes
 * it: Debian 12's apt (2.6) refuses the signature ("Detached signature file … is in unsupported
 * binary format") and then the repository as unsigned, so `lock` refuses it with that reason; the
 * same Release with an armored Release.gpg is taken by both.
 */

let work: string;
let vendor: GpgKey;
let upstream: Nginx;
let dist: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-apt-binary-gpg-'));
  vendor = await makeGpgKey(work, 'vendor');
  const deb = await buildDeb(path.join(work, 'debs'), 'ferry-hello');
  const repo = await publishWithAptly(work, [deb], vendor, { distribution: 'bookworm', prefixes: ['vendor'] });
  dist = path.join(repo.publicDir, 'vendor/dists/bookworm');
  await rm(path.join(dist, 'InRelease'));
  upstream = await startNginx(repo.publicDir);
}, 120_000);

afterAll(async () => {
  await upstream?.stop();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

async function lockIt(name: string) {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'vendor.asc'), await readFile(vendor.publicKey));
  await writeFile(
    path.join(dir, 'manifest.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${name} }`, 'apt:', '  - name: vendor', `    url: ${upstream.url}/vendor`, '    suites: [bookworm]', '    keys: [vendor.asc]', ''].join('\n'),
  );
  return runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: { FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' } });
}

describe('apt: a binary Release.gpg without InRelease', () => {
  it('apt-get refuses it as unsigned, and lock refuses it with that reason, naming the file', async () => {
    await rm(path.join(dist, 'Release.gpg'));
    await gpgSign(vendor, path.join(dist, 'Release'), 'detach', path.join(dist, 'Release.gpg'));
    const apt = await aptGet(path.join(work, 'client-binary'), `deb [signed-by=${vendor.publicKey}] ${upstream.url}/vendor bookworm main`, ['update']);
    expect(apt.code, apt.stdout + apt.stderr).not.toBe(0);
    expect(apt.stdout + apt.stderr).toMatch(/is in unsupported binary format/);
    expect(apt.stdout + apt.stderr).toMatch(/is not signed/);

    const r = await lockIt('binary');
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/\/vendor\/dists\/bookworm\/Release\.gpg is a binary \(unarmored\) OpenPGP signature and there is no InRelease: apt refuses it/);
    expect(r.stderr).toMatch(/an armored Release\.gpg/);
  });

  it('the same Release signed armored is taken by apt-get and by lock', async () => {
    await rm(path.join(dist, 'Release.gpg'));
    await gpgSign(vendor, path.join(dist, 'Release'), 'armor-detach', path.join(dist, 'Release.gpg'));
    const apt = await aptGet(path.join(work, 'client-armored'), `deb [signed-by=${vendor.publicKey}] ${upstream.url}/vendor bookworm main`, ['update']);
    expect(apt.code, apt.stdout + apt.stderr).toBe(0);
    const r = await lockIt('armored');
    expect(r.code, r.stderr).toBe(0);
  });
});
