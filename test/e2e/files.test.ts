import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runFerry } from '../support/cli.js';
import { gpgSign, makeGpgKey, type GpgKey } from '../support/apt-repo.js';
import { startFerryServe, startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * Files and cloud images from a loopback HTTP server with signed checksum files (made with the
 * real gpg): GNU and BSD forms, SHA-256 and SHA-512, detached and clear-signed; then bundle,
 * verify, import, and check the mirror with sha256sum and gpg as a user would.
 */

let work: string;
let srv: string;
let server: StaticServer;
let vendor: GpgKey;
let stranger: GpgKey;

const sha = (alg: string, b: Buffer) => createHash(alg).update(b).digest('hex');
const env = (dir: string) => ({ FERRY_CACHE_DIR: path.join(dir, 'cache'), FERRY_RETRIES: '3', FERRY_RETRY_MIN_MS: '50' });

function manifest(files: string[]): string {
  return ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: files-e2e }', 'vars:', '  release: [noble, jammy]', 'files:', ...files, ''].join('\n');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-files-e2e-'));
  srv = path.join(work, 'srv');
  vendor = await makeGpgKey(work, 'vendor');
  stranger = await makeGpgKey(work, 'stranger');
  for (const release of ['noble', 'jammy']) {
    const dir = path.join(srv, release, 'current');
    await mkdir(dir, { recursive: true });
    const img = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(path.join(dir, `${release}-server-cloudimg-amd64.img`), img);
    const other = randomBytes(1000);
    await writeFile(path.join(dir, 'other.tar.gz'), other);
    // GNU form, binary marker, detached binary signature (Ubuntu's SHA256SUMS + SHA256SUMS.gpg).
    await writeFile(path.join(dir, 'SHA256SUMS'), `${sha('sha256', other)} *other.tar.gz\n${sha('sha256', img)} *${release}-server-cloudimg-amd64.img\n`);
    await gpgSign(vendor, path.join(dir, 'SHA256SUMS'), 'detach', path.join(dir, 'SHA256SUMS.gpg'));
    // BSD form with SHA-512, clear-signed.
    await writeFile(path.join(dir, 'SHA512SUMS.txt'), `SHA512 (${release}-server-cloudimg-amd64.img) = ${sha('sha512', img)}\nSHA512 (other.tar.gz) = ${sha('sha512', other)}\n`);
    await gpgSign(vendor, path.join(dir, 'SHA512SUMS.txt'), 'clearsign', path.join(dir, 'SHA512SUMS'));
  }
  // A checksum file whose signature comes from a key the manifest does not trust.
  await mkdir(path.join(srv, 'evil'), { recursive: true });
  await cp(path.join(srv, 'noble/current/noble-server-cloudimg-amd64.img'), path.join(srv, 'evil/disk.img'));
  await writeFile(path.join(srv, 'evil/SHA256SUMS'), `${sha('sha256', await readFile(path.join(srv, 'evil/disk.img')))}  disk.img\n`);
  await gpgSign(stranger, path.join(srv, 'evil/SHA256SUMS'), 'armor-detach', path.join(srv, 'evil/SHA256SUMS.gpg'));
  server = await startStaticServer(srv);
});

afterAll(async () => {
  await server?.close();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

async function project(name: string, files: string[]): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(path.join(dir, 'keys'), { recursive: true });
  await cp(vendor.publicKey, path.join(dir, 'keys/vendor.asc'));
  await writeFile(path.join(dir, 'manifest.yaml'), manifest(files));
  return dir;
}

describe('files: signed checksums, resumed downloads, bundle, import', () => {
  it('pins cloud images from signed GNU/BSD checksum files, resumes a dropped download, imports with checksums beside', async () => {
    const dir = await project('good', [
      '  - name: ubuntu-<release>-cloudimg',
      `    url: ${server.url}/<release>/current/<release>-server-cloudimg-amd64.img`,
      '    checksums:',
      `      url: ${server.url}/<release>/current/SHA256SUMS`,
      `      signature: ${server.url}/<release>/current/SHA256SUMS.gpg`,
      '      keys: [keys/vendor.asc]',
      '  - name: other-sha512',
      `    url: ${server.url}/noble/current/other.tar.gz`,
      '    checksums:',
      `      url: ${server.url}/noble/current/SHA512SUMS`,
      '      keys: [keys/vendor.asc]',
    ]);
    const lock = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env(dir) });
    expect(lock.code, lock.stderr).toBe(0);
    const l = JSON.parse(await readFile(path.join(dir, 'files-e2e.lock.json'), 'utf8'));
    expect(l.files.map((f: { name: string }) => f.name)).toEqual(['other-sha512', 'ubuntu-jammy-cloudimg', 'ubuntu-noble-cloudimg']);
    const noble = l.files.find((f: { name: string }) => f.name === 'ubuntu-noble-cloudimg');
    const nobleBytes = await readFile(path.join(srv, 'noble/current/noble-server-cloudimg-amd64.img'));
    expect(noble.sha256).toBe(sha('sha256', nobleBytes));
    expect(noble.size).toBe(nobleBytes.length);
    expect(noble.checksums.signedBy).toBe(vendor.fingerprint);
    const other = l.files.find((f: { name: string }) => f.name === 'other-sha512');
    expect(other.sha512).toBe(sha('sha512', await readFile(path.join(srv, 'noble/current/other.tar.gz'))));
    expect(other.sha256).toBeUndefined();

    // The first GET of the noble image is cut after 1 MiB; ferry resumes with Range.
    server.dropAfter('/noble/current/noble-server-cloudimg-amd64.img', 1024 * 1024);
    const bundle = path.join(dir, 'files.ferry.tar');
    const create = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', bundle, '--frozen'], { cwd: dir, env: env(dir) });
    expect(create.code, create.stderr).toBe(0);
    const ranged = server.requests.filter((r) => r.path === '/noble/current/noble-server-cloudimg-amd64.img' && r.range);
    expect(ranged.length).toBeGreaterThan(0);
    expect(Number(/bytes=(\d+)-/.exec(ranged[0].range!)![1])).toBeGreaterThan(0);
    const verify = await runFerry(['bundle', 'verify', bundle], { cwd: dir, env: env(dir) });
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);

    await writeFile(
      path.join(dir, 'target.yaml'),
      ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'files:', '  dir: ./mirror', '  baseUrl: https://mirror.example.internal/files', ''].join('\n'),
    );
    const imp = await runFerry(['import', bundle, '-t', 'target.yaml', '--json'], { cwd: dir, env: env(dir) });
    expect(imp.code, imp.stderr).toBe(0);
    const results = JSON.parse(imp.stdout).results as Array<{ artifact: string; location: string }>;
    const host = new URL(server.url).host.replace(':', '-');
    const nobleResult = results.find((r) => r.artifact.endsWith('noble-server-cloudimg-amd64.img'))!;
    expect(nobleResult.location).toBe(`https://mirror.example.internal/files/${host}/noble/current/noble-server-cloudimg-amd64.img`);

    // On the mirror: the image with its own checksum file, and the vendor's signed SHA256SUMS beside it.
    const mirrored = path.join(dir, 'mirror', host, 'noble/current');
    expect(sha('sha256', await readFile(path.join(mirrored, 'noble-server-cloudimg-amd64.img')))).toBe(noble.sha256);
    await mustRun('sha256sum', ['-c', 'noble-server-cloudimg-amd64.img.sha256'], { cwd: mirrored });
    await mustRun('sha256sum', ['--ignore-missing', '-c', 'SHA256SUMS'], { cwd: mirrored });
    const keyring = path.join(dir, 'vendor.kbx');
    await mustRun('gpg', ['--batch', '--no-default-keyring', '--keyring', keyring, '--import', path.join(dir, 'keys/vendor.asc')], { env: { GNUPGHOME: vendor.home } });
    await mustRun('gpgv', ['--keyring', keyring, 'SHA256SUMS.gpg', 'SHA256SUMS'], { cwd: mirrored });
    expect(await readFile(path.join(dir, 'mirror', host, 'noble/current/other.tar.gz'))).toEqual(await readFile(path.join(srv, 'noble/current/other.tar.gz')));
    // The SHA-512-pinned file gets a .sha512 beside it too, checked with the real sha512sum.
    await mustRun('sha512sum', ['-c', 'other.tar.gz.sha512'], { cwd: mirrored });

    // A second import finds everything in place and writes nothing.
    const again = await runFerry(['import', bundle, '-t', 'target.yaml', '--json'], { cwd: dir, env: env(dir) });
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(again.stdout).results as Array<{ skipped: boolean; bytesSent: number }>;
    expect(second.length).toBe(3);
    expect(second.every((r) => r.skipped && r.bytesSent === 0)).toBe(true);

    // ferry serve answers the same paths under /files/, straight from the bundle, with Range.
    const serve = await startFerryServe([bundle], { cwd: dir });
    try {
      const url = `${serve.url}/files/${host}/noble/current/noble-server-cloudimg-amd64.img`;
      const whole = Buffer.from(await (await fetch(url)).arrayBuffer());
      expect(sha('sha256', whole)).toBe(noble.sha256);
      const part = await fetch(url, { headers: { range: 'bytes=1000-' } });
      expect(part.status).toBe(206);
      expect(Buffer.from(await part.arrayBuffer())).toEqual(whole.subarray(1000));
      expect(await (await fetch(`${url}.sha256`)).text()).toBe(`${noble.sha256}  noble-server-cloudimg-amd64.img\n`);
      expect((await fetch(`${serve.url}/files/${host}/noble/current/SHA256SUMS`)).status).toBe(200);
      expect((await fetch(`${serve.url}/files/${host}/nope.img`)).status).toBe(404);
    } finally {
      await serve.stop();
    }
  });

  it('refuses bytes that do not match the signed checksum, naming the URL', async () => {
    const dir = await project('tampered', [
      '  - name: jammy',
      `    url: ${server.url}/jammy/current/jammy-server-cloudimg-amd64.img`,
      '    checksums:',
      `      url: ${server.url}/jammy/current/SHA256SUMS`,
      `      signature: ${server.url}/jammy/current/SHA256SUMS.gpg`,
      '      keys: [keys/vendor.asc]',
    ]);
    expect((await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env(dir) })).code).toBe(0);
    const img = path.join(srv, 'jammy/current/jammy-server-cloudimg-amd64.img');
    const original = await readFile(img);
    const changed = Buffer.from(original);
    changed[12345] ^= 0x55;
    await writeFile(img, changed);
    try {
      const r = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'x.tar', '--frozen'], { cwd: dir, env: env(dir) });
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`${server.url}/jammy/current/jammy-server-cloudimg-amd64.img`);
      expect(r.stderr).toMatch(/mismatch/);
    } finally {
      await writeFile(img, original);
    }
  });

  it('refuses a checksum file whose signature is not from the given keys, naming the file', async () => {
    const dir = await project('badsig', [
      '  - name: disk',
      `    url: ${server.url}/evil/disk.img`,
      '    checksums:',
      `      url: ${server.url}/evil/SHA256SUMS`,
      `      signature: ${server.url}/evil/SHA256SUMS.gpg`,
      '      keys: [keys/vendor.asc]',
    ]);
    const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env(dir) });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${server.url}/evil/SHA256SUMS`);
    expect(r.stderr).toMatch(/not signed by any of the given keys/);
  });
});
