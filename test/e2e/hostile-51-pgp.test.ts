import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runFerry } from '../support/cli.js';
import { aptGet, type GpgKey } from '../support/apt-repo.js';
import { publishVendor, startVendorLab, stopVendorLab, vendorDeb, type VendorLab } from '../support/apt-vendor.js';

/**
 * Hostile inputs, round 51: OpenPGP signatures on APT repositories judged as apt's gpgv method
 * judges them (Debian 12's apt 2.6 with gpgv 2.2). The signatures are made by gpg with
 * --faked-system-time: a vendor key (primary, or a signing subkey) that was valid when it signed
 * and has expired since is EXPKEYSIG to gpgv, worthless to apt, and refused by ferry; a
 * Release.gpg carrying a good signature and a bad one by the same trusted key is BADSIG and
 * refused whole by apt and by ferry. A good signature beside one by a key not given is accepted
 * by both (a vendor signing with its current and next keys). The real apt-get is run on each
 * repository with the same key to show that ferry agrees with it.
 */

let lab: VendorLab;
let gnupg: string;
const PAST = '20200101T000000';
const SIGNED_AT = '20200102T000000';
const env = () => ({ FERRY_CACHE_DIR: path.join(lab.work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

const gpg = (args: string[]) => mustRun('gpg', ['--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { env: { GNUPGHOME: gnupg } });

async function colons(uid: string): Promise<{ fpr: string; sub?: string }> {
  const out = (await gpg(['--with-colons', '--list-keys', uid])).stdout;
  return { fpr: /^fpr:+([0-9A-F]{40}):/m.exec(out)![1], sub: /^sub:[^:]*:[^:]*:[^:]*:([0-9A-F]{16}):/m.exec(out)?.[1] };
}

/** A key made on 2020-01-01 (`gpg --quick-gen-key` usage and expiry as given). */
async function pastKey(name: string, usage: string, expire: string): Promise<string> {
  await gpg(['--faked-system-time', PAST, '--quick-gen-key', `${name} <${name}@ferry.test>`, 'rsa2048', usage, expire]);
  return (await colons(`${name}@ferry.test`)).fpr;
}

async function exportKey(fpr: string, file: string): Promise<string> {
  await writeFile(file, (await gpg(['--armor', '--export', fpr])).stdout);
  return file;
}

let publisher: string | undefined;
async function publisherKey(): Promise<string> {
  return (publisher ??= await pastKey('publisher', 'sign', 'never'));
}

/**
 * The repository `<upstream>/<name>` (suite stable, package hello), its Release signed as `sign`
 * writes it into `dist`; a project beside it whose manifest mirrors it with `key` as keys:.
 */
async function repoAndProject(name: string, key: string, sign: (dist: string) => Promise<void>): Promise<string> {
  const debs = path.join(lab.work, 'debs');
  await vendorDeb(debs, 'hello', '1.0', 'amd64');
  // publishVendor signs with a valid key of the lab; `sign` replaces what it signed.
  const publisher: GpgKey = { home: gnupg, fingerprint: await publisherKey(), publicKey: '', secretKey: '' };
  await publishVendor(path.join(lab.work, 'public'), debs, {
    root: name,
    suite: 'stable',
    fields: ['Origin: vendor', 'Suite: stable', 'Codename: stable', 'Components: main', 'Architectures: amd64'],
    indexes: [{ comp: 'main', arch: 'amd64', debs: { hello: 'pool/main/h/hello/hello_1.0_amd64.deb' } }],
    compress: [''],
    key: publisher,
    sign: 'detached',
  });
  const dist = path.join(lab.work, 'public', name, 'dists', 'stable');
  await rm(path.join(dist, 'Release.gpg'));
  await sign(dist);
  const dir = path.join(lab.work, `proj-${name}`);
  await mkdir(dir, { recursive: true });
  await exportKey(key, path.join(dir, 'vendor.asc'));
  await writeFile(
    path.join(dir, 'manifest.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${name} }`, 'apt:', `  - name: ${name}`, `    url: ${lab.upstream.url}/${name}`, '    suites: [stable]', '    components: [main]', '    architectures: [amd64]', '    keys: [vendor.asc]', ''].join('\n'),
  );
  return dir;
}

/** apt-get update against the upstream repository, trusting only the project's vendor.asc. */
async function aptUpdate(dir: string, name: string) {
  const client = path.join(lab.work, `client-${name}`);
  return aptGet(client, `deb [signed-by=${path.join(dir, 'vendor.asc')}] ${lab.upstream.url}/${name} stable main`, ['-o', 'APT::Architecture=amd64', '-o', 'APT::Architectures::=amd64', 'update']);
}

const lock = (dir: string) => runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });

beforeAll(async () => {
  lab = await startVendorLab('ferry-e2e-hostile51-pgp-');
  gnupg = path.join(lab.work, 'gnupg-vendors');
  await mkdir(gnupg, { recursive: true, mode: 0o700 });
}, 120_000);

afterAll(async () => {
  await stopVendorLab(lab);
});

describe('signatures apt counts for nothing are refused by lock', () => {
  it('a primary key that signed on 2020-01-02 and expired on 2020-01-03 (gpgv EXPKEYSIG)', async () => {
    const key = await pastKey('expired', 'sign', '2d');
    const dir = await repoAndProject('expired', key, async (dist) => {
      await gpg(['--faked-system-time', SIGNED_AT, '--local-user', key, '--clearsign', '--output', path.join(dist, 'InRelease'), path.join(dist, 'Release')]);
    });
    const apt = await aptUpdate(dir, 'expired');
    expect(apt.stdout + apt.stderr).toMatch(/EXPKEYSIG/);
    expect(apt.stdout + apt.stderr).toMatch(/is not signed/);

    const r = await lock(dir);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/InRelease/);
    expect(r.stderr).toMatch(/not valid for signing now \(Primary key is expired\)/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  }, 240_000);

  it('a signing subkey that has expired since it signed, its primary key valid (gpgv EXPKEYSIG)', async () => {
    const primary = await pastKey('subexpired', 'cert', 'never');
    await gpg(['--faked-system-time', PAST, '--quick-add-key', primary, 'rsa2048', 'sign', '2d']);
    const sub = (await colons('subexpired@ferry.test')).sub!;
    const dir = await repoAndProject('subexpired', primary, async (dist) => {
      await gpg(['--faked-system-time', SIGNED_AT, '--local-user', `${sub}!`, '--armor', '--detach-sign', '--output', path.join(dist, 'Release.gpg'), path.join(dist, 'Release')]);
    });
    const apt = await aptUpdate(dir, 'subexpired');
    expect(apt.stdout + apt.stderr).toMatch(/EXPKEYSIG/);

    const r = await lock(dir);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/Release\.gpg/);
    expect(r.stderr).toMatch(new RegExp(`key ${sub}: signed while valid, but is not valid for signing now \\(.*Subkey is expired\\)`));
  }, 240_000);

  it('Release.gpg with a good signature and a bad one by the same trusted key (gpgv BADSIG) is refused whole', async () => {
    const key = await pastKey('badsig', 'sign', 'never');
    const dir = await repoAndProject('badsig', key, async (dist) => {
      await gpg(['--local-user', key, '--detach-sign', '--output', path.join(dist, 'good.sig'), path.join(dist, 'Release')]);
      // A signature by the same key over other bytes, appended: gpg made both packets.
      await writeFile(path.join(dist, 'other'), 'Origin: someone else\n');
      await gpg(['--local-user', key, '--detach-sign', '--output', path.join(dist, 'other.sig'), path.join(dist, 'other')]);
      // Armored as apt reads Release.gpg: gpg --enarmor, under the signature armor line.
      await writeFile(path.join(dist, 'both.sig'), Buffer.concat([await readFile(path.join(dist, 'good.sig')), await readFile(path.join(dist, 'other.sig'))]));
      const armored = (await gpg(['--enarmor', '--output', '-', path.join(dist, 'both.sig')])).stdout;
      await writeFile(path.join(dist, 'Release.gpg'), armored.replace(/ARMORED FILE/g, 'SIGNATURE').replace(/^Comment: .*\n/m, ''));
    });
    const apt = await aptUpdate(dir, 'badsig');
    expect(apt.stdout + apt.stderr).toMatch(/BADSIG/);

    const r = await lock(dir);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/Release\.gpg/);
    expect(r.stderr).toMatch(/bad signature by a given key .*Signed digest did not match/);
  }, 240_000);
  it('a SHA-1 signature by a valid key: apt 2.6 counts it as invalid (SHA-1 is an untrusted digest), lock refuses it too', async () => {
    const key = await pastKey('sha1', 'sign', 'never');
    const dir = await repoAndProject('sha1', key, async (dist) => {
      await gpg(['--local-user', key, '--digest-algo', 'SHA1', '--clearsign', '--output', path.join(dist, 'InRelease'), path.join(dist, 'Release')]);
    });
    const apt = await aptUpdate(dir, 'sha1');
    expect(apt.stdout + apt.stderr).toMatch(/The following signatures were invalid/);
    expect(apt.stdout + apt.stderr).toMatch(/is not signed/);

    const r = await lock(dir);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/InRelease.*Insecure message hash algorithm: SHA1/);
  }, 240_000);
});

describe('what apt accepts, lock accepts', () => {
  it('a good signature beside one by a key not given (a vendor signing with its next key too)', async () => {
    const key = await pastKey('current', 'sign', 'never');
    const next = await pastKey('next', 'sign', 'never');
    const dir = await repoAndProject('twokeys', key, async (dist) => {
      await gpg(['--local-user', key, '--local-user', next, '--clearsign', '--output', path.join(dist, 'InRelease'), path.join(dist, 'Release')]);
    });
    const apt = await aptUpdate(dir, 'twokeys');
    expect(apt.code, apt.stdout + apt.stderr).toBe(0);
    expect(apt.stdout + apt.stderr).not.toMatch(/^E:/m);

    const r = await lock(dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await readFile(path.join(dir, 'twokeys.lock.json'), 'utf8')).toContain(key);
  }, 240_000);
});
