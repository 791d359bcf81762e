import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runFerry } from '../support/cli.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A software vendor and its air-gapped customer (new-user round 21). The vendor ships its product
 * (images, charts, a CLI file, a .deb) as a ferry bundle signed with its release key
 * (`bundle create --sign-key`), and next month a differential bundle (`--since` last release).
 * The customer's engineer has never used ferry: they get the bundle, the vendor's public key and
 * the vendor's install doc, verify it (`bundle verify --key`), look inside without importing
 * (`map`, `sbom`, `report --bundle`), and import into their Harbor-like registry (bearer tokens)
 * under a project prefix. What tripped, each fixed and tested here against a real token-auth
 * Distribution registry:
 *  - (checked, held) the same lock and key give the same bundle but for the signature file (ECDSA
 *    draws a fresh nonce per signature; the README says so);
 *  - a bundle signed by a key the customer did not expect (a rotated release key, the wrong
 *    .pub) was refused with the hint for damaged bytes ("copy it again"), which cannot help; the
 *    message now names the key's fingerprint and the hint says to compare it with the vendor's;
 *    an unsigned bundle given to `--key` says its maker did not sign it;
 *  - `import` without `--key` of a signed bundle said only `signature not checked` in the result
 *    line; it now warns that nothing checked who made the bundle and names `--key`;
 *  - `report --bundle` needed the vendor's manifest, which the customer does not have; with only
 *    the bundle it now reports from the manifest the bundle carries (checked against its list).
 * A differential bundle imported without its base was already clear (it names the base and
 * writes nothing); a guard here keeps it so.
 */
let work: string;
let upstream: RunningRegistry;
let seeded: SeededImages;
let customer: RunningRegistry;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });
const at = (n: string) => path.join(work, n);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-nu21-'));
  await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', at('vendor.key')]);
  await mustRun('openssl', ['pkey', '-in', at('vendor.key'), '-pubout', '-out', at('vendor.pub')]);
  await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', at('other.key')]);
  await mustRun('openssl', ['pkey', '-in', at('other.key'), '-pubout', '-out', at('other.pub')]);
  upstream = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  customer = await startRegistry({ mode: 'token' });
  await mkdir(at('r1'));
  await writeFile(at('r1/product.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: product }', 'images:', `  - ref: ${seeded.refs.base}`, `  - ref: ${seeded.refs.app}`, ''].join('\n'));
  await mkdir(at('r2'));
  await writeFile(at('r2/product.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: product }', 'images:', `  - ref: ${seeded.refs.base}`, `  - ref: ${seeded.refs.app}`, `  - ref: ${seeded.refs.multi}`, ''].join('\n'));
  await writeFile(at('customer.yaml'), `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: acme }\nregistry:\n  url: ${customer.url}\n  prefix: vendor-x\n`);
}, 600_000);

afterAll(async () => {
  await customer?.stop();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const customerEnv = () => ({ ...env(), DOCKER_CONFIG: customer.dockerConfigDir! });

/** The fingerprint a vendor publishes beside its key, as openssl computes it. */
async function fingerprint(pub: string): Promise<string> {
  const r = await mustRun('sh', ['-c', `openssl pkey -pubin -in '${pub}' -outform DER | sha256sum`]);
  return r.stdout.split(' ')[0];
}

describe('the vendor pins what the customer gets', () => {
  it('the same lock and key give the same bundle but for the signature (ECDSA draws a fresh nonce), and openssl verifies each signature', async () => {
    const a = await runFerry(['bundle', 'create', at('r1/product.yaml'), '-o', at('r1.tar'), '--sign-key', at('vendor.key')], { env: env() });
    expect(a.code, a.stderr).toBe(0);
    const b = await runFerry(['bundle', 'create', at('r1/product.yaml'), '-o', at('r1-again.tar'), '--sign-key', at('vendor.key'), '--frozen'], { env: env() });
    expect(b.code, b.stderr).toBe(0);
    // Every file but the signature is byte-identical (the signed list with it): what a customer's
    // auditor can rebuild without the vendor's key.
    for (const [tar, dir] of [['r1.tar', 'x'], ['r1-again.tar', 'y']]) {
      await mkdir(at(dir));
      await mustRun('tar', ['-xf', at(tar), '-C', at(dir)]);
      await mustRun('sh', ['-c', `base64 -d '${at(`${dir}/ferry/checksums.sha256.sig`)}' > '${at(`${dir}.sig.der`)}'`]);
      const v = await mustRun('openssl', ['dgst', '-sha256', '-verify', at('vendor.pub'), '-signature', at(`${dir}.sig.der`), at(`${dir}/ferry/checksums.sha256`)]);
      expect(v.stdout).toContain('Verified OK');
    }
    await mustRun('diff', ['-r', '--exclude=checksums.sha256.sig', at('x'), at('y')]);
    // Release N+1, differential against release N, signed with the same key.
    const c = await runFerry(['bundle', 'create', at('r2/product.yaml'), '-o', at('r2.tar'), '--sign-key', at('vendor.key'), '--since', at('r1.tar')], { env: env() });
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toContain('differential against bundle r1.tar');
  }, 300_000);
});

describe('the customer checks who made the bundle', () => {
  it('a bundle signed by another key names that key\'s fingerprint and says to compare it with the vendor\'s, not to copy it again', async () => {
    const fp = await fingerprint(at('other.pub'));
    const r = await runFerry(['bundle', 'verify', at('r1.tar'), '--key', at('other.pub')], { env: env() });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`fingerprint sha256:${fp}`);
    expect(r.stderr).toContain('another key signed the bundle');
    expect(r.stderr).not.toContain('Copy it again');
    const i = await runFerry(['import', at('r1.tar'), '-t', at('customer.yaml'), '--key', at('other.pub')], { env: customerEnv() });
    expect(i.code).toBe(3);
    expect(i.stderr).toContain(`fingerprint sha256:${fp}`);
    expect(i.stderr).toContain('another key signed the bundle');
    expect(i.stderr).not.toContain('Copy the bundle across again');
    expect(i.stderr).toContain('nothing was imported');
  }, 300_000);

  it('an unsigned bundle given to --key says its maker did not sign it', async () => {
    const u = await runFerry(['bundle', 'create', at('r1/product.yaml'), '-o', at('r1-unsigned.tar'), '--frozen'], { env: env() });
    expect(u.code, u.stderr).toBe(0);
    const r = await runFerry(['bundle', 'verify', at('r1-unsigned.tar'), '--key', at('vendor.pub')], { env: env() });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('the bundle is not signed');
    expect(r.stderr).toContain('did not sign it');
    expect(r.stderr).not.toContain('Copy it again');
  }, 300_000);

  it('the customer sees release N+1\'s contents without importing and without the vendor\'s manifest: report --bundle alone', async () => {
    const r = await runFerry(['report', '--bundle', at('r2.tar'), '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const data = JSON.parse(r.stdout) as { manifestFile: string; bundle: { manifestName: string; artifacts: Array<{ kind: string }> } };
    expect(data.manifestFile).toContain('ferry/manifest.yaml');
    expect(data.bundle.manifestName).toBe('product');
    expect(data.bundle.artifacts.filter((a) => a.kind === 'image')).toHaveLength(3);
    const none = await runFerry(['report'], { env: env() });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--bundle');
  }, 300_000);

  it('release N+1 without release N on the registry is refused, naming the base to import first; nothing is written', async () => {
    const r = await runFerry(['import', at('r2.tar'), '-t', at('customer.yaml'), '--key', at('vendor.pub')], { env: customerEnv() });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('differential bundle against bundle r1.tar');
    expect(r.stderr).toContain('Import the base (r1.tar) into this target first');
    expect(r.stderr).toContain('nothing was imported');
  }, 300_000);

  it('import of a signed bundle without --key warns that nothing checked who made it; with --key it verifies, then N+1 applies', async () => {
    const i = await runFerry(['import', at('r1.tar'), '-t', at('customer.yaml')], { env: customerEnv() });
    expect(i.code, i.stderr).toBe(0);
    expect(i.stdout).toContain('signature not checked');
    expect(i.stderr).toContain('warning: the bundle is signed, but no --key was given');
    const k = await runFerry(['import', at('r1.tar'), '-t', at('customer.yaml'), '--key', at('vendor.pub')], { env: customerEnv() });
    expect(k.code, k.stderr).toBe(0);
    expect(k.stdout).toContain('signature verified');
    expect(k.stderr).not.toContain('no --key was given');
    const n1 = await runFerry(['import', at('r2.tar'), '-t', at('customer.yaml'), '--key', at('vendor.pub')], { env: customerEnv() });
    expect(n1.code, n1.stderr).toBe(0);
    expect(n1.stdout).toContain('/vendor-x/');
  }, 300_000);
});
