import { createHash, generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateIdentities, certificateOidcIssuer, checkChain, checkIdentity, checkKeyless, parseTrustedRoot, type KeylessPolicy } from '../../../src/kinds/image/keyless.js';
import { makeCa, makeLeaf, type TestCa, type TestLeaf } from '../../support/keyless-ca.js';

let dir: string;
let ca: TestCa;
let other: TestCa;
let leaf: TestLeaf;
let uriLeaf: TestLeaf;
let serverLeaf: TestLeaf;
const ISSUER = 'https://token.actions.example';
const payload = Buffer.from('{"critical":{"image":{"docker-manifest-digest":"sha256:abc"}}}');

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-keyless-unit-'));
  ca = await makeCa(dir, 'fulcio');
  other = await makeCa(dir, 'other');
  leaf = await makeLeaf(ca, dir, 'email', { email: 'builder@example.com', issuer: ISSUER });
  uriLeaf = await makeLeaf(ca, dir, 'uri', { uri: 'https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main', issuerV1: ISSUER });
  serverLeaf = await makeLeaf(ca, dir, 'server', { email: 'builder@example.com', issuer: ISSUER, codeSigning: false });
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const cert = (l: TestLeaf) => new X509Certificate(l.certPem);
const rule = (over: Partial<KeylessPolicy> = {}): KeylessPolicy => ({ trustedRoot: { name: 'root.pem', pem: ca.rootPem }, identity: 'builder@example.com', issuer: ISSUER, ...over });
const signed = async (l: TestLeaf, data = payload) => sign('sha256', data, { key: await readFile(l.keyFile, 'utf8'), dsaEncoding: 'der' });
const annotations = (l: TestLeaf, extra: Record<string, string> = {}) => ({ 'dev.sigstore.cosign/certificate': l.certPem, 'dev.sigstore.cosign/chain': ca.intermediatePem + ca.rootPem, ...extra });

describe('certificate fields', () => {
  it('reads SAN emails and URIs and the OIDC issuer (v2 UTF8String, v1 raw)', () => {
    expect(certificateIdentities(cert(leaf))).toEqual(['builder@example.com']);
    expect(certificateOidcIssuer(cert(leaf))).toBe(ISSUER);
    expect(certificateIdentities(cert(uriLeaf))).toEqual(['https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main']);
    expect(certificateOidcIssuer(cert(uriLeaf))).toBe(ISSUER);
    expect(certificateOidcIssuer(new X509Certificate(ca.rootPem))).toBeUndefined();
  });

  it('identity: exact, regexp, issuer, code-signing EKU', () => {
    expect(checkIdentity(cert(leaf), rule())).toBeUndefined();
    expect(checkIdentity(cert(leaf), rule({ identity: 'someone@example.com' }))).toBe('certificate identity builder@example.com is not someone@example.com');
    expect(checkIdentity(cert(uriLeaf), rule({ identity: undefined, identityRegexp: '^https://github\\.com/org/repo/' }))).toBeUndefined();
    expect(checkIdentity(cert(uriLeaf), rule({ identity: undefined, identityRegexp: '^https://github\\.com/evil/' }))).toMatch(/does not match/);
    expect(checkIdentity(cert(leaf), rule({ issuer: 'https://accounts.example' }))).toBe(`certificate OIDC issuer ${ISSUER} is not https://accounts.example`);
    expect(checkIdentity(cert(serverLeaf), rule())).toBe('certificate lacks the code-signing extended key usage');
  });

  it('chain: through an untrusted intermediate to the trusted root; not to another root', () => {
    const inter = [new X509Certificate(ca.intermediatePem)];
    expect(checkChain(cert(leaf), inter, [new X509Certificate(ca.rootPem)], new Date(), 'root.pem')).toBeUndefined();
    expect(checkChain(cert(leaf), [], [new X509Certificate(ca.rootPem)], new Date(), 'root.pem')).toBe('certificate does not chain to root.pem');
    expect(checkChain(cert(leaf), inter, [new X509Certificate(other.rootPem)], new Date(), 'other.pem')).toBe('certificate does not chain to other.pem');
    // The intermediate alone may be the trust anchor (a site that pins its Fulcio intermediate).
    expect(checkChain(cert(leaf), [], inter, new Date(), 'int.pem')).toBeUndefined();
    // A leaf is not a CA: a chain "through" it is refused.
    expect(checkChain(cert(leaf), [], [cert(leaf)], new Date(), 'leaf.pem')).toBe('certificate does not chain to leaf.pem');
  });

  it('trusted roots: PEM or a Sigstore trusted_root.json (certificates and Rekor keys)', () => {
    expect(parseTrustedRoot(ca.rootPem + ca.intermediatePem).certificates).toBe(new X509Certificate(ca.rootPem).toString() + new X509Certificate(ca.intermediatePem).toString());
    const rekor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const json = JSON.stringify({
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      tlogs: [{ baseUrl: 'https://rekor.example', publicKey: { rawBytes: rekor.publicKey.export({ format: 'der', type: 'spki' }).toString('base64') } }],
      certificateAuthorities: [{ certChain: { certificates: [{ rawBytes: new X509Certificate(ca.intermediatePem).raw.toString('base64') }, { rawBytes: new X509Certificate(ca.rootPem).raw.toString('base64') }] } }],
    });
    const parsed = parseTrustedRoot(json);
    expect(parsed.certificates).toContain(new X509Certificate(ca.rootPem).toString());
    expect(parsed.rekorKeys).toEqual([rekor.publicKey.export({ format: 'pem', type: 'spki' })]);
    expect(() => parseTrustedRoot('not a certificate')).toThrow(/no PEM certificate/);
    expect(() => parseTrustedRoot('{"certificateAuthorities":[]}')).toThrow(/no certificateAuthorities/);
  });
});

describe('checkKeyless', () => {
  it('passes with the right root, identity and issuer; says Rekor inclusion was not checked', async () => {
    const r = checkKeyless(annotations(leaf), payload, await signed(leaf), rule());
    expect(r).toEqual({ notes: ['no Rekor bundle: Rekor inclusion not checked'] });
  });

  it('names the reason: tampered payload, other root, not a keyless signature', async () => {
    const sig = await signed(leaf);
    expect(checkKeyless(annotations(leaf), Buffer.from(payload.toString().replace('abc', 'abd')), sig, rule()).problem).toBe("signature does not verify with the certificate's key");
    expect(checkKeyless(annotations(leaf), payload, sig, rule({ trustedRoot: { name: 'other.pem', pem: other.rootPem } })).problem).toBe('certificate does not chain to other.pem');
    expect(checkKeyless({}, payload, sig, rule()).problem).toMatch(/no dev\.sigstore\.cosign\/certificate annotation/);
  });

  it('an expired leaf: refused without a Rekor bundle, accepted with allowExpiredLeaf or a bundle time inside its validity', async () => {
    const sig = await signed(leaf);
    const later = new Date(Date.now() + 3 * 86400_000);
    expect(checkKeyless(annotations(leaf), payload, sig, rule(), later).problem).toMatch(/^certificate is not valid at .*no Rekor bundle gives the signing time$/);
    expect(checkKeyless(annotations(leaf), payload, sig, rule({ allowExpiredLeaf: true }), later)).toEqual({ notes: ['no Rekor bundle: Rekor inclusion not checked', 'certificate validity not checked (allowExpiredLeaf, no Rekor bundle)'] });
    const bundle = (time: number) => JSON.stringify({ SignedEntryTimestamp: '', Payload: { body: 'e30=', integratedTime: time, logIndex: 1, logID: 'ab' } });
    const ok = checkKeyless(annotations(leaf, { 'dev.sigstore.cosign/bundle': bundle(Math.floor(Date.now() / 1000)) }), payload, sig, rule(), later);
    expect(ok.problem).toBeUndefined();
    expect(ok.notes[0]).toMatch(/^Rekor inclusion not checked/);
    const tooLate = checkKeyless(annotations(leaf, { 'dev.sigstore.cosign/bundle': bundle(Math.floor(later.getTime() / 1000)) }), payload, sig, rule(), new Date());
    expect(tooLate.problem).toMatch(/^certificate is not valid at /);
  });

  it('with a Rekor key: the SET must verify and the entry must be of this signature and payload', async () => {
    const sig = await signed(leaf);
    const rekor = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rekorPem = rekor.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const entry = (s: Buffer, data: Buffer) =>
      Buffer.from(JSON.stringify({ apiVersion: '0.0.1', kind: 'hashedrekord', spec: { data: { hash: { algorithm: 'sha256', value: sha256hex(data) } }, signature: { content: s.toString('base64'), publicKey: { content: Buffer.from(leaf.certPem).toString('base64') } } } })).toString('base64');
    const bundleFor = (body: string, key = rekor.privateKey) => {
      const p = { body, integratedTime: Math.floor(Date.now() / 1000), logID: 'c0ffee', logIndex: 42 };
      return JSON.stringify({ SignedEntryTimestamp: sign('sha256', Buffer.from(JSON.stringify(p)), { key, dsaEncoding: 'der' }).toString('base64'), Payload: p });
    };
    const withRekor = rule({ rekorKeys: [{ name: 'rekor.pub', pem: rekorPem }] });
    expect(checkKeyless(annotations(leaf, { 'dev.sigstore.cosign/bundle': bundleFor(entry(sig, payload)) }), payload, sig, withRekor)).toEqual({ notes: [] });
    const forged = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(checkKeyless(annotations(leaf, { 'dev.sigstore.cosign/bundle': bundleFor(entry(sig, payload), forged) }), payload, sig, withRekor).problem).toBe('Rekor SET does not verify with rekor.pub');
    expect(checkKeyless(annotations(leaf, { 'dev.sigstore.cosign/bundle': bundleFor(entry(sig, Buffer.from('other'))) }), payload, sig, withRekor).problem).toBe('Rekor entry is not of this payload');
  });
});

function sha256hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
