import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runFerry } from '../support/cli.js';
import { CraftedBundle, sha256, type Desc } from '../support/craft-bundle.js';
import { startServe } from '../support/craft-serve.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { signWithOpenssl } from '../support/keyless-ca.js';
import { pushCosignSignatureManifest, simpleSigningPayload } from '../support/oci-push.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * newuser63 required cosign signatures (`verify:` rules) and could not see that they were
 * checked: only `--json` said so, and `bundle verify` did not check the image signature policy
 * at all. Upstream is a real Distribution registry; `app` and `multi` carry cosign signatures
 * made with an openssl P-256 key (as the repository's other tests and cosign sign them), `base`
 * carries none and no rule covers it. Each command's human output says how many images were
 * checked against which rules and keys, and names the image no rule covers as not checked;
 * `bundle verify` refuses a bundle whose `.sig` manifest was swapped for one signed with another
 * key (every checksum recomputed, so only the policy can catch it) and says so of a bundle
 * without rules.
 */
let work: string;
let upstream: RunningRegistry;
let target: RunningRegistry;
let seeded: SeededImages;
let cosignKey: string;
let otherKey: string;
let manifest: string;
let bundle: string;
let targetFile: string;
let locked: Awaited<ReturnType<typeof runFerry>>;
let created: Awaited<ReturnType<typeof runFerry>>;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });
const EXTRA_SUBJECT = 'io.ferry.extra-subject';

async function genKey(name: string): Promise<string> {
  const key = path.join(work, `${name}.key`);
  await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  await mustRun('openssl', ['pkey', '-in', key, '-pubout', '-out', path.join(work, `${name}.pub`)]);
  return key;
}

/** The base64 DER signature cosign puts in `dev.cosignproject.cosign/signature`, made by openssl. */
async function signPayload(key: string, payload: Buffer): Promise<string> {
  const file = path.join(work, `payload-${sha256(payload).slice(7, 19)}.json`);
  await writeFile(file, payload);
  return signWithOpenssl(key, file);
}

async function signImage(repo: string, subject: string): Promise<void> {
  const payload = simpleSigningPayload(subject, `${upstream.host}/${repo}`);
  await pushCosignSignatureManifest(upstream, repo, subject, payload, { 'dev.cosignproject.cosign/signature': await signPayload(cosignKey, payload) });
}

const expectedLine = () =>
  `image signatures: 2 of 3 images checked against 2 rules (cosign.pub), all verified; 1 image no rule covers, not checked: ${seeded.refs.base}`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-sigshown-'));
  cosignKey = await genKey('cosign');
  otherKey = await genKey('other');
  await genKey('bundle');
  upstream = await startRegistry({ mode: 'http' });
  target = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  await signImage('ferry-test/app', seeded.digests.app);
  await signImage('ferry-test/multi', seeded.digests.multi);
  manifest = path.join(work, 'signed.yaml');
  await writeFile(
    manifest,
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: signed }',
      'images:',
      `  - ref: ${seeded.refs.app}`,
      '    verify: { keys: [cosign.pub] }',
      `  - ref: ${seeded.refs.multi}`,
      '    verify: { keys: [cosign.pub] }',
      `  - ref: ${seeded.refs.base}`,
      '',
    ].join('\n'),
  );
  bundle = path.join(work, 'signed.ferry.tar');
  targetFile = path.join(work, 'target.yaml');
  await writeFile(targetFile, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: ${target.url}\n  prefix: mirror\n`);
  // Made here, so each test below stands on its own.
  locked = await runFerry(['lock', manifest], { env: env() });
  expect(locked.code, locked.stderr).toBe(0);
  created = await runFerry(['bundle', 'create', manifest, '-o', bundle, '--sign-key', path.join(work, 'bundle.key')], { env: env() });
  expect(created.code, created.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  await upstream?.stop();
  await target?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('image signature checks are shown (newuser63)', () => {
  it('lock, bundle create and import each print what the verify: rules checked, naming the image no rule covers as not checked', async () => {
    expect(locked.stdout).toContain(expectedLine());
    expect(created.stdout).toContain(`  ${expectedLine()}`);

    const imported = await runFerry(['import', bundle, '--target', targetFile, '--key', path.join(work, 'bundle.pub')], { env: env() });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain('bundle signature verified');
    expect(imported.stdout).toContain(expectedLine());
    expect(imported.stdout).not.toContain('nothing says who set them');
    // Without --key the policy passed, but only the bundle's own signature could say who set its rules: said.
    const unkeyed = await runFerry(['import', bundle, '--target', targetFile], { env: env() });
    expect(unkeyed.code, unkeyed.stderr).toBe(0);
    expect(unkeyed.stdout).toContain("the rules and keys came in the bundle (ferry/verify-policy.json), so nothing says who set them unless the bundle signature is checked; its signature was not checked: verify with --key <its maker's public key>");
  });

  it('bundle verify checks the policy the bundle carries, says which signature --key verified, and --json reports it', async () => {
    const v = await runFerry(['bundle', 'verify', bundle, '--key', path.join(work, 'bundle.pub')], { env: env() });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('bundle signature verified (ferry/checksums.sha256.sig, made with bundle create --sign-key)');
    expect(v.stdout).toContain(expectedLine());
    expect(v.stdout).not.toContain('nothing says who set them');

    // Without --key the policy and its keys are only the bundle's word: said.
    const unkeyed = await runFerry(['bundle', 'verify', bundle], { env: env() });
    expect(unkeyed.code, unkeyed.stderr).toBe(0);
    expect(unkeyed.stdout).toContain(expectedLine());
    expect(unkeyed.stdout).toContain("nothing says who set them unless the bundle signature is checked; its signature was not checked: verify with --key <its maker's public key>");

    const j = await runFerry(['bundle', 'verify', bundle, '--json'], { env: env() });
    expect(j.code, j.stderr).toBe(0);
    const report = JSON.parse(j.stdout) as { imageSignatures: { status: string; summary: { verified: number; unchecked: number; uncheckedRefs: string[] } } };
    expect(report.imageSignatures.status).toBe('verified');
    expect(report.imageSignatures.summary).toMatchObject({ verified: 2, unchecked: 1, uncheckedRefs: [seeded.refs.base] });
  });

  it('bundle verify refuses a bundle whose .sig manifest was replaced by one signed with another key (checksums recomputed)', async () => {
    const b = await CraftedBundle.load(bundle);
    b.files.delete('ferry/checksums.sha256.sig');
    const index = b.index;
    const sigTop = index.manifests.find((d) => d.annotations?.[EXTRA_SUBJECT] === seeded.digests.app && d.annotations?.['io.ferry.extra-tag']?.endsWith('.sig'));
    expect(sigTop, 'the bundle carries app’s .sig manifest').toBeDefined();
    // The same payload (it names app's digest), signed by the other key.
    const sigManifest = b.json<{ layers: Desc[] }>(sigTop!.digest);
    const payload = b.blob(sigManifest.layers[0].digest);
    sigManifest.layers[0].annotations = { ...sigManifest.layers[0].annotations, 'dev.cosignproject.cosign/signature': await signPayload(otherKey, payload) };
    const swapped = b.putBlob(sigManifest);
    const oldDigest = sigTop!.digest;
    Object.assign(sigTop!, swapped);
    b.index = index;
    const lock = b.getJson<{ images: Array<{ extras?: Array<{ digest: string; size: number }> }> }>('ferry/lock.json');
    const extra = lock.images.flatMap((i) => i.extras ?? []).find((e) => e.digest === oldDigest)!;
    expect(extra).toBeDefined();
    Object.assign(extra, swapped);
    b.setJson('ferry/lock.json', lock);
    const crafted = await b.write(path.join(work, 'swapped-sig.ferry.tar'));

    const v = await runFerry(['bundle', 'verify', crafted], { env: env() });
    expect(v.code, v.stdout + v.stderr).toBe(3);
    expect(v.stderr).toContain(`image signature policy (ferry/verify-policy.json): ${seeded.refs.app}: not signed by cosign.pub (signature in ${swapped.digest} does not verify with cosign.pub)`);
    expect(v.stderr).toContain('the images named are not signed as its manifest');
    // Only the app's signature was touched: the other image is not named.
    expect(v.stderr).not.toContain(`${seeded.refs.multi}: not signed`);
    const j = await runFerry(['bundle', 'verify', crafted, '--json'], { env: env() });
    expect(j.code).toBe(3);
    expect((JSON.parse(j.stdout) as { imageSignatures: { status: string } }).imageSignatures.status).toBe('failed');
    // serve checks the policy as import does: it never listens for such a bundle (it served it before).
    const refused = await startServe([crafted, '--listen', '127.0.0.1:0']).then(
      async (s) => `listening (exit ${await s.stop()})`,
      (e: Error) => e.message,
    );
    expect(refused).toContain('failed signature verification at serve; not serving it');
    expect(refused).toContain(`${seeded.refs.app}: not signed by cosign.pub`);
    // The bundle as made is served.
    const served = await startServe([bundle, '--listen', '127.0.0.1:0']);
    expect(await served.stop()).not.toBeNull();
  });

  it('bundle verify of a bundle whose manifest has no verify: rules says there is no image signature policy', async () => {
    const plain = path.join(work, 'plain.yaml');
    await writeFile(plain, ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: plain }', 'images:', `  - ref: ${seeded.refs.app}`, ''].join('\n'));
    const plainBundle = path.join(work, 'plain.ferry.tar');
    const plainCreated = await runFerry(['bundle', 'create', plain, '-o', plainBundle], { env: env() });
    expect(plainCreated.code, plainCreated.stderr).toBe(0);
    const v = await runFerry(['bundle', 'verify', plainBundle], { env: env() });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain("image signatures: not checked (no image signature policy in this bundle's manifest: it had no verify: rules)");
    expect(v.stdout).not.toMatch(/image signatures: .*verified/);
    expect(plainCreated.stdout).toContain('image signatures: not checked (the manifest has no verify: rules)');
  });
});
