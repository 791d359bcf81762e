import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { makeCa, makeLeaf, signWithOpenssl, type TestCa, type TestLeaf } from '../support/keyless-ca.js';
import { pushCosignSignatureManifest, simpleSigningPayload } from '../support/oci-push.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * Keyless cosign signatures verified offline. A tiny Fulcio-like CA made with openssl (root →
 * intermediate → leaf with a SAN email, the OIDC issuer extensions and the code-signing EKU);
 * the leaf signs `app`'s simple-signing payload, and the keyless `.sig` manifest (certificate
 * and chain in its layer annotations) is pushed to a real Distribution registry with plain API
 * calls. `base` gets a signature whose payload was changed after signing.
 */
let work: string;
let upstream: RunningRegistry;
let target: RunningRegistry;
let seeded: SeededImages;
let ca: TestCa;
let other: TestCa;
let leaf: TestLeaf;
const ISSUER = 'https://token.actions.example';
const IDENTITY = 'builder@example.com';
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });

async function pushKeyless(repo: string, subject: string, tamper: boolean): Promise<string> {
  const payload = simpleSigningPayload(subject, `${upstream.host}/${repo}`);
  const file = path.join(work, `payload-${subject.slice(7, 19)}.json`);
  await writeFile(file, payload);
  const sig = await signWithOpenssl(leaf.keyFile, file);
  // Tampered: the pushed payload differs from the signed one by its identity only (same digest named).
  const pushed = tamper ? simpleSigningPayload(subject, `${upstream.host}/evil/${repo}`) : payload;
  return pushCosignSignatureManifest(upstream, repo, subject, pushed, {
    'dev.cosignproject.cosign/signature': sig,
    'dev.sigstore.cosign/certificate': leaf.certPem,
    'dev.sigstore.cosign/chain': ca.intermediatePem + ca.rootPem,
  });
}

/** A manifest whose images are all covered by one keyless rule with these fields. */
async function manifestWith(name: string, refs: string[], rule: string[]): Promise<string> {
  const file = path.join(work, `${name}.yaml`);
  await writeFile(file, ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${name} }`, 'verify:', `  - images: ${upstream.host}/ferry-test/`, ...rule.map((l) => `    ${l}`), 'images:', ...refs.map((r) => `  - ref: ${r}`), ''].join('\n'));
  return file;
}

/** The rule's YAML lines; a field set to null is left out. */
const goodRule = (over: Record<string, string | null> = {}) =>
  Object.entries({ trustedRoot: 'fulcio-root.pem', certificateIdentity: IDENTITY, certificateOidcIssuer: ISSUER, ...over }).flatMap(([k, v]) => (v === null ? [] : [`${k}: ${JSON.stringify(v)}`]));

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-keyless-'));
  ca = await makeCa(work, 'fulcio');
  other = await makeCa(work, 'other');
  leaf = await makeLeaf(ca, work, 'signer', { email: IDENTITY, issuer: ISSUER, issuerV1: ISSUER });
  upstream = await startRegistry({ mode: 'http' });
  target = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  await pushKeyless('ferry-test/app', seeded.digests.app, false);
  await pushKeyless('ferry-test/base', seeded.digests.base, true);
  // A Sigstore trusted_root.json naming the same CA.
  const raw = (pem: string) => ({ rawBytes: new X509Certificate(pem).raw.toString('base64') });
  await writeFile(path.join(work, 'trusted_root.json'), JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', certificateAuthorities: [{ subject: { organization: 'ferry-test' }, certChain: { certificates: [raw(ca.intermediatePem), raw(ca.rootPem)] } }], tlogs: [] }));
}, 600_000);

afterAll(async () => {
  await target?.stop();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('keyless signatures (Fulcio-style certificates, offline)', () => {
  it('passes with the right root, identity and issuer at lock, bundle create and import', async () => {
    const m = await manifestWith('good', [seeded.refs.app], goodRule());
    const locked = await runFerry(['lock', m], { env: env() });
    expect(locked.code, locked.stderr).toBe(0);
    const bundle = path.join(work, 'good.ferry.tar');
    const created = await runFerry(['bundle', 'create', m, '-o', bundle, '--frozen', '--json'], { env: env() });
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout).signaturesVerified).toBe(1);
    // No Rekor bundle on this signature and no Rekor key: said, not silently passed over.
    expect(JSON.parse(created.stdout).signatureNotes).toEqual([`${seeded.refs.app}: no Rekor bundle: Rekor inclusion not checked`]);
    const t = path.join(work, 'target.yaml');
    await writeFile(t, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: t }\nregistry:\n  url: ${target.url}\n  prefix: mirror\n`);
    const imported = await runFerry(['import', bundle, '--target', t, '--json'], { env: env() });
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout).verified.imageSignatures).toBe(1);
    expect(JSON.parse(imported.stdout).verified.imageSignatureNotes).toEqual([`${seeded.refs.app}: no Rekor bundle: Rekor inclusion not checked`]);
  });

  it('a Sigstore trusted_root.json and an identity regexp work too', async () => {
    const m = await manifestWith('json-root', [seeded.refs.app], goodRule({ trustedRoot: 'trusted_root.json', certificateIdentity: null, certificateIdentityRegexp: '^builder@example\\.com$' }));
    const r = await runFerry(['bundle', 'create', m, '-o', path.join(work, 'json.ferry.tar'), '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).signaturesVerified).toBe(1);
  });

  it.each([
    ['another root', { trustedRoot: 'other-root.pem' }, 'certificate does not chain to other-root.pem'],
    ['another identity', { certificateIdentity: 'someone@example.com' }, `certificate identity ${IDENTITY} is not someone@example.com`],
    ['another issuer', { certificateOidcIssuer: 'https://accounts.example' }, `certificate OIDC issuer ${ISSUER} is not https://accounts.example`],
  ])('fails with %s, naming the reason', async (_what, over, reason) => {
    const m = await manifestWith(`bad-${Object.keys(over)[0].toLowerCase()}`, [seeded.refs.app], goodRule(over));
    const r = await runFerry(['bundle', 'create', m, '-o', path.join(work, 'bad.ferry.tar')], { env: env() });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('1 image failed signature verification');
    expect(r.stderr).toContain(`${seeded.refs.app}: not signed by a certificate for`);
    expect(r.stderr).toContain(reason);
  });

  it('fails for a tampered payload; a rule without an issuer, or an unreadable trustedRoot, is a validation error', async () => {
    const m = await manifestWith('tampered', [seeded.refs.app, seeded.refs.base], goodRule());
    const r = await runFerry(['lock', m], { env: env() });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain(`${seeded.refs.base}: not signed by a certificate for ${IDENTITY} from ${ISSUER} under fulcio-root.pem`);
    expect(r.stderr).toContain("signature does not verify with the certificate's key");
    expect(r.stderr.slice(r.stderr.indexOf('error:'))).not.toContain(`${seeded.refs.app}:`);
    const missing = await manifestWith('missing', [seeded.refs.app], goodRule({ trustedRoot: 'nope.pem', certificateOidcIssuer: null }));
    const v = await runFerry(['lock', missing], { env: env() });
    expect(v.code).not.toBe(0);
    expect(v.stderr).toContain('keyless needs `certificateOidcIssuer`');
    const unreadable = await runFerry(['lock', await manifestWith('unreadable', [seeded.refs.app], goodRule({ trustedRoot: 'nope.pem' }))], { env: env() });
    expect(unreadable.code).toBe(2);
    // Where it was looked for, and that a manifest's paths are relative to its directory.
    expect(unreadable.stderr).toContain(`verify ${upstream.host}/ferry-test/: trustedRoot nope.pem: no such file (looked for /`);
    expect(unreadable.stderr).toContain("relative to the manifest's directory");
  });
});
