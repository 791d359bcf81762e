import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkIdentity, type KeylessPolicy } from '../../src/kinds/image/keyless.js';
import { enforceVerifyPolicy, MAX_SIGNATURE_CHECKS, parseVerifyPolicy, type SignedImage, type VerifyPolicy } from '../../src/kinds/image/verify.js';
import { readListedFile } from '../../src/store/bundle-sign.js';
import { makeCa, makeLeaf, type TestCa, type TestLeaf } from '../support/keyless-ca.js';

/**
 * Hostile pass 11: the verify policy a bundle carries (`ferry/verify-policy.json`) and the
 * keyless identity regexp, crafted.
 *
 * What tripped:
 * - `certificateIdentityRegexp` ran on JavaScript's backtracking engine: `(a+)+b` against a SAN
 *   of 40 `a`s (both from a crafted bundle) hung import for hours (28 took 15 s); and Perl-only
 *   syntax cosign (Go RE2) refuses was accepted;
 * - the policy file's shape was not checked: `keys: {}` or `images: 5` crashed import with a
 *   TypeError instead of a refusal;
 * - a 4 MiB policy could ask for millions of signature checks (every key of 40 000 rules);
 * - a checksum list naming the policy twice: the last line was trusted.
 */
let dir: string;
let ca: TestCa;
let longLeaf: TestLeaf;
const ISSUER = 'https://token.actions.example';
const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile11-verify-'));
  ca = await makeCa(dir, 'fulcio');
  longLeaf = await makeLeaf(ca, dir, 'long', { email: `${'a'.repeat(40)}@example.com`, issuer: ISSUER });
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const rule = (over: Partial<KeylessPolicy>): KeylessPolicy => ({ trustedRoot: { name: 'root.pem', pem: ca.rootPem }, issuer: ISSUER, ...over });

describe('keyless identity regexp from a bundle', () => {
  it('a catastrophically backtracking pattern against a long SAN answers (linear-time engine)', () => {
    // On the backtracking engine this is 2^40 steps: the old code never returned.
    expect(checkIdentity(new X509Certificate(longLeaf.certPem), rule({ identityRegexp: '(a+)+b' }))).toMatch(/does not match/);
    expect(checkIdentity(new X509Certificate(longLeaf.certPem), rule({ identityRegexp: '^(a+)+@example\\.com$' }))).toBeUndefined();
  });

  it('Perl-only syntax (backreference, lookahead) is refused, as cosign (Go RE2) refuses it', () => {
    expect(checkIdentity(new X509Certificate(longLeaf.certPem), rule({ identityRegexp: '(a)\\1' }))).toMatch(/certificateIdentityRegexp .*invalid escape sequence: `\\1`/);
    expect(() => parseVerifyPolicy(policyBytes({ rules: [{ images: 'docker.io/', exact: false, keys: [], keyless: { ...rule({}), identityRegexp: 'a(?=b)' } }] }))).toThrow(/not a verification policy/);
  });
});

const policyBytes = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('the policy file is checked before use', () => {
  it.each([
    ['rules not objects', { rules: [5] }],
    ['images a number', { rules: [{ images: 5, exact: false, keys: [] }] }],
    ['keys an object', { rules: [{ images: 'docker.io/', exact: false, keys: {} }] }],
    ['a key pem that is no key', { rules: [{ images: 'docker.io/', exact: false, keys: [{ name: 'k', pem: 'x' }] }] }],
    ['a key pem as an array', { rules: [{ images: 'docker.io/', exact: false, keys: [{ name: 'k', pem: [pem] }] }] }],
    ['a huge key', { rules: [{ images: 'docker.io/', exact: false, keys: [{ name: 'k', pem: pem + ' '.repeat(70_000) }] }] }],
    ['keyless issuer a number', { rules: [{ images: 'docker.io/', exact: false, keys: [], keyless: { trustedRoot: { name: 'r', pem: 'x' }, issuer: 1 } }] }],
    ['a trusted root with no certificate', { rules: [{ images: 'docker.io/', exact: false, keys: [], keyless: { trustedRoot: { name: 'r', pem: 'x' }, issuer: 'i', identity: 'a' } }] }],
    ['an unknown field', { rules: [{ images: 'docker.io/', exact: false, keys: [], allow: true }] }],
    // It covered images and checked none: they were neither refused nor counted as unchecked.
    ['a rule with no key and no trustedRoot', { rules: [{ images: 'docker.io/', exact: false, keys: [] }] }],
  ])('%s: refused as a FerryError naming the problem', (_what, v) => {
    let err: unknown;
    try {
      parseVerifyPolicy(policyBytes(v));
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'VERIFY', message: 'ferry/verify-policy.json: not a verification policy' });
    expect((err as { details: string[] }).details.length).toBeGreaterThan(0);
  });

  it('a policy ferry writes still parses', () => {
    const v: VerifyPolicy = { rules: [{ images: 'docker.io/library/', exact: false, keys: [{ name: 'k.pub', pem }], keyless: { ...rule({ identity: 'a@b' }), rekorKeys: [{ name: 'rekor.pub', pem }], allowExpiredLeaf: true } }] };
    expect(parseVerifyPolicy(Buffer.from(JSON.stringify(v, null, 2) + '\n'))).toEqual(v);
  });

  it('a policy asking for more signature checks than the cap is refused before any signature is read', async () => {
    const policy = parseVerifyPolicy(policyBytes({ rules: [{ images: 'docker.io/', exact: false, keys: Array.from({ length: 300 }, (_, i) => ({ name: `k${i}`, pem })) }] }));
    const image: SignedImage = {
      ref: 'docker.io/library/alpine:3.20',
      digest: `sha256:${'1'.repeat(64)}`,
      manifests: [],
      extras: Array.from({ length: 1000 }, (_, i) => ({ subject: `sha256:${'1'.repeat(64)}`, digest: `sha256:${i.toString(16).padStart(64, '0')}`, tag: `sha256-${'1'.repeat(64)}.sig`, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1 })) as SignedImage['extras'],
    };
    let reads = 0;
    const reader = { manifest: async () => (reads++, Buffer.from('{}')), blob: async () => (reads++, Buffer.from('')) };
    await expect(enforceVerifyPolicy([image], policy, () => reader, 'at import')).rejects.toThrow(new RegExp(`300000 signature checks \\(more than ${MAX_SIGNATURE_CHECKS}\\) at import`));
    expect(reads).toBe(0);
  });
});

describe('the checksum list naming the policy', () => {
  const bytes = Buffer.from('{"rules":[]}');
  const sum = createHash('sha256').update(bytes).digest('hex');
  const reader = (list: string) => {
    const files: Record<string, Buffer> = { 'ferry/verify-policy.json': bytes, 'ferry/checksums.sha256': Buffer.from(list) };
    return { entry: (n: string) => files[n], readFile: async (n: string) => files[n] };
  };
  it('listed once with its hash: read', async () => {
    await expect(readListedFile(reader(`${sum}  ferry/verify-policy.json\n`), 'ferry/verify-policy.json', 'refused')).resolves.toEqual(bytes);
  });
  it('listed twice (another hash first, or twice the same): refused', async () => {
    await expect(readListedFile(reader(`${'0'.repeat(64)}  ferry/verify-policy.json\n${sum}  ferry/verify-policy.json\n`), 'ferry/verify-policy.json', 'refused')).rejects.toThrow(/listed there twice\); refused/);
    await expect(readListedFile(reader(`${sum}  ./ferry/verify-policy.json\n${sum}  ferry/verify-policy.json\n`), 'ferry/verify-policy.json', 'refused')).rejects.toThrow(/listed there twice/);
  });
  it('named with ../ or another spelling: not the policy, refused', async () => {
    await expect(readListedFile(reader(`${sum}  ferry/../ferry/verify-policy.json\n`), 'ferry/verify-policy.json', 'refused')).rejects.toThrow(/not listed there/);
    await expect(readListedFile(reader(`${sum}  ../ferry/verify-policy.json\n`), 'ferry/verify-policy.json', 'refused')).rejects.toThrow(/not listed there/);
  });
});
