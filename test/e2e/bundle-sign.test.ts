import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runCommand, runFerry } from '../support/cli.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { flipByte } from '../support/tar-walk.js';

/**
 * The signed bundle: ferry signs ferry/checksums.sha256 with keys openssl made, openssl checks
 * ferry's signature, and ferry refuses unsigned, wrongly signed and altered bundles when given
 * a key — at `bundle verify` and at `import`, before anything reaches the target.
 */
let work: string;
let upstream: RunningRegistry;
let seeded: SeededImages;
let manifest: string;
let signed: string;
let unsigned: string;
const targets: RunningRegistry[] = [];
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });
const keys = { pkcs8: '', pkcs8Pub: '', sec1: '', sec1Pub: '', other: '', otherPub: '', rsa: '' };

async function catalog(reg: RunningRegistry): Promise<string[]> {
  const r = await mustRun('curl', ['-sS', `${reg.url}/v2/_catalog`]);
  return (JSON.parse(r.stdout) as { repositories: string[] }).repositories ?? [];
}

async function writeTarget(name: string, reg: RunningRegistry): Promise<string> {
  const file = path.join(work, `${name}.yaml`);
  await writeFile(file, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: ${name} }\nregistry:\n  url: ${reg.url}\n  prefix: mirror\n`);
  return file;
}

/** Pull one file out of the bundle with GNU tar (not with ferry). */
async function extract(bundle: string, name: string, into: string): Promise<string> {
  await mustRun('tar', ['-xf', bundle, '-C', into, name]);
  return path.join(into, name);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-sign-'));
  const k = (n: string) => path.join(work, n);
  keys.pkcs8 = k('pkcs8.key');
  keys.pkcs8Pub = k('pkcs8.pub');
  keys.sec1 = k('sec1.key');
  keys.sec1Pub = k('sec1.pub');
  keys.other = k('other.key');
  keys.otherPub = k('other.pub');
  keys.rsa = k('rsa.key');
  await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keys.pkcs8]);
  await mustRun('openssl', ['pkey', '-in', keys.pkcs8, '-pubout', '-out', keys.pkcs8Pub]);
  await mustRun('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keys.sec1]);
  await mustRun('openssl', ['ec', '-in', keys.sec1, '-pubout', '-out', keys.sec1Pub]);
  await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keys.other]);
  await mustRun('openssl', ['pkey', '-in', keys.other, '-pubout', '-out', keys.otherPub]);
  await mustRun('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keys.rsa]);

  upstream = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  manifest = path.join(work, 'app.yaml');
  await writeFile(manifest, ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: app }', 'images:', `  - ref: ${seeded.refs.app}`, `  - ref: ${seeded.refs.multi}`, ''].join('\n'));
  signed = path.join(work, 'signed.ferry.tar');
  unsigned = path.join(work, 'unsigned.ferry.tar');
  const a = await runFerry(['bundle', 'create', manifest, '-o', signed, '--sign-key', keys.pkcs8, '--json'], { env: env() });
  expect(a.code, a.stderr).toBe(0);
  expect(JSON.parse(a.stdout).signed).toBe(true);
  const b = await runFerry(['bundle', 'create', manifest, '-o', unsigned, '--frozen'], { env: env() });
  expect(b.code, b.stderr).toBe(0);
}, 600_000);

afterAll(async () => {
  for (const t of targets) await t.stop();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('bundle create --sign-key', () => {
  it('writes a cosign-format signature (base64 DER ECDSA over SHA-256) that openssl verifies over the checksum list', async () => {
    const out = await mkdtemp(path.join(work, 'x-'));
    const sums = await extract(signed, 'ferry/checksums.sha256', out);
    const sigFile = await extract(signed, 'ferry/checksums.sha256.sig', out);
    const sigText = await readFile(sigFile, 'utf8');
    expect(sigText).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const der = path.join(out, 'sig.der');
    await writeFile(der, Buffer.from(sigText, 'base64'));
    const ok = await runCommand('openssl', ['dgst', '-sha256', '-verify', keys.pkcs8Pub, '-signature', der, sums]);
    expect(ok.stdout + ok.stderr).toContain('Verified OK');
    expect(ok.code).toBe(0);
    const wrong = await runCommand('openssl', ['dgst', '-sha256', '-verify', keys.otherPub, '-signature', der, sums]);
    expect(wrong.code).not.toBe(0);
    // The list names every other file of the bundle, the SBOM and metadata included, but not the signature.
    const listed = (await readFile(sums, 'utf8')).split('\n').filter(Boolean).map((l) => l.slice(66));
    expect(listed).toContain('ferry/lock.json');
    expect(listed).toContain('index.json');
    expect(listed).not.toContain('ferry/checksums.sha256.sig');
  });

  it('signs with a SEC1 key from `openssl ecparam` too', async () => {
    const sec1Bundle = path.join(work, 'sec1.ferry.tar');
    const r = await runFerry(['bundle', 'create', manifest, '-o', sec1Bundle, '--frozen', '--sign-key', keys.sec1], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('signed');
    const v = await runFerry(['bundle', 'verify', sec1Bundle, '--key', keys.sec1Pub, '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).signature).toBe('verified');
    await rm(sec1Bundle);
  });

  it('refuses a key that is not ECDSA P-256, before fetching anything', async () => {
    const r = await runFerry(['bundle', 'create', manifest, '-o', path.join(work, 'rsa.ferry.tar'), '--frozen', '--sign-key', keys.rsa], { env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/rsa key; ferry signs bundles with ECDSA P-256/);
    const missing = await runFerry(['bundle', 'create', manifest, '-o', path.join(work, 'rsa.ferry.tar'), '--frozen', '--sign-key', path.join(work, 'nope.key')], { env: env() });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/nope\.key: cannot read the signing key/);
  });
});

describe('bundle verify --key', () => {
  it('accepts the bundle with the right public key', async () => {
    const t0 = performance.now();
    const plain = await runFerry(['bundle', 'verify', signed, '--json']);
    const t1 = performance.now();
    const r = await runFerry(['bundle', 'verify', signed, '--key', keys.pkcs8Pub, '--json']);
    const t2 = performance.now();
    expect(plain.code).toBe(0);
    console.log(`bundle-sign: verify ${Math.round(t1 - t0)} ms without --key, ${Math.round(t2 - t1)} ms with --key (${JSON.parse(plain.stdout).bytes} bytes re-hashed)`);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    expect(report.signature).toBe('verified');
    const text = await runFerry(['bundle', 'verify', signed, '--key', keys.pkcs8Pub]);
    expect(text.stdout).toContain('signature verified');
  });

  it('without a key, a signed bundle verifies and says its signature was not checked', async () => {
    const r = await runFerry(['bundle', 'verify', signed, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).signature).toBe('not checked');
  });

  it('report --bundle says the bundle is signed and that the report does not check the signature', async () => {
    const out = path.join(path.dirname(signed), 'signed-report.html');
    const r = await runFerry(['report', '--bundle', signed, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const html = await readFile(out, 'utf8');
    expect(html).toContain('holds a signature over its checksum list, not checked by this report');
    expect(html).not.toContain('holds no signature');
  });

  it('fails with another key', async () => {
    const r = await runFerry(['bundle', 'verify', signed, '--key', keys.otherPub]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ferry/checksums.sha256.sig does not verify with this key');
    expect(r.stderr).toContain('other.pub');
  });

  it('fails when one byte of checksums.sha256 changed', async () => {
    const altered = path.join(work, 'altered.ferry.tar');
    await copyFile(signed, altered);
    // A byte inside the list's first hash: the list no longer matches its signature.
    await flipByte(altered, 'ferry/checksums.sha256', 3);
    const r = await runFerry(['bundle', 'verify', altered, '--key', keys.pkcs8Pub, '--json']);
    expect(r.code).toBe(3);
    const report = JSON.parse(r.stdout);
    expect(report.signature).toBe('failed');
    expect(report.problems.map((p: { file: string }) => p.file)).toContain('ferry/checksums.sha256.sig');
    await rm(altered);
  });

  it('fails when the signature itself changed', async () => {
    const altered = path.join(work, 'altered-sig.ferry.tar');
    await copyFile(signed, altered);
    await flipByte(altered, 'ferry/checksums.sha256.sig', 10);
    const r = await runFerry(['bundle', 'verify', altered, '--key', keys.pkcs8Pub]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/checksums\.sha256\.sig (does not verify|is not a base64 signature)/);
    await rm(altered);
  });

  it('fails on an unsigned bundle when a key is given, passes without one', async () => {
    const r = await runFerry(['bundle', 'verify', unsigned, '--key', keys.pkcs8Pub]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('the bundle is not signed');
    const plain = await runFerry(['bundle', 'verify', unsigned, '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout).signature).toBe('unsigned');
  });
});

describe('import --key', () => {
  it('with a wrong key writes nothing to the target; with the right key imports', async () => {
    const target = await startRegistry({ mode: 'http' });
    targets.push(target);
    const file = await writeTarget('sign-target', target);
    const wrong = await runFerry(['import', signed, '--target', file, '--key', keys.otherPub], { env: env() });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain('nothing was imported');
    const unsignedImport = await runFerry(['import', unsigned, '--target', file, '--key', keys.pkcs8Pub], { env: env() });
    expect(unsignedImport.code).toBe(3);
    expect(unsignedImport.stderr).toContain('the bundle is not signed');
    expect(await catalog(target)).toEqual([]);

    const right = await runFerry(['import', signed, '--target', file, '--key', keys.pkcs8Pub, '--json'], { env: env() });
    expect(right.code, right.stderr).toBe(0);
    expect(JSON.parse(right.stdout).verified.signature).toBe('verified');
    const repos = await catalog(target);
    expect(repos).toHaveLength(2);
    expect(repos.some((r) => r.endsWith('ferry-test/app'))).toBe(true);
    expect(repos.some((r) => r.endsWith('ferry-test/multi'))).toBe(true);
  });
});
