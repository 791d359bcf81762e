import { createHash, createPublicKey, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { pemCerts } from '../../net/certs-d.js';
import { goRegex } from '../chart/render/regex.js';

/**
 * Offline checks of cosign keyless (Fulcio certificate) signatures.
 *
 * A keyless signature layer carries the signing certificate (`dev.sigstore.cosign/certificate`,
 * PEM), the chain up to Fulcio (`dev.sigstore.cosign/chain`, PEM) and usually the Rekor bundle
 * (`dev.sigstore.cosign/bundle`). With no network, ferry checks:
 *
 *  - the leaf chains to a certificate of the manifest's `trustedRoot` (each link: issuer name
 *    matches, signature verifies with the issuer's key, the issuer is a CA, all valid at the
 *    signing time); intermediates from the chain annotation are untrusted helpers only;
 *  - the leaf has the code-signing extended key usage;
 *  - a SAN (email or URI) equals `certificateIdentity` / matches `certificateIdentityRegexp`,
 *    and the Fulcio OIDC issuer extension (1.3.6.1.4.1.57264.1.8, else .1.1) equals
 *    `certificateOidcIssuer`;
 *  - the signature over the payload verifies with the leaf's key (the caller checks the
 *    payload names the image digest).
 *
 * Signing time: Fulcio leaves live 10 minutes, so "valid now" fails for any real signature.
 * The time is the Rekor bundle's `integratedTime`. Its SET (Rekor's signature over the
 * bundle payload) is verified when the rule names a Rekor public key (`rekorPublicKey`, or the
 * `tlogs` of a `trusted_root.json`); then the entry must also be of this signature and payload.
 * Without a Rekor key the time is the signer's claim and the result says so ("Rekor inclusion
 * not checked"). With no bundle the leaf must be valid now, unless the rule sets
 * `allowExpiredLeaf: true` (then the leaf's validity is not checked at all).
 */

export const CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
export const CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';
export const BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
export const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
export const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_SAN = '2.5.29.17';
const EKU_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
const MAX_CHAIN = 10;

/** A keyless rule as it travels in the bundle's policy: certificates and keys inline. */
export interface KeylessPolicy {
  trustedRoot: { name: string; pem: string };
  identity?: string;
  identityRegexp?: string;
  issuer: string;
  rekorKeys?: Array<{ name: string; pem: string }>;
  allowExpiredLeaf?: boolean;
}

// ---------------------------------------------------------------- DER (just enough of X.509)

interface Tlv {
  tag: number;
  start: number; // of the value
  end: number;
}

function readTlv(buf: Buffer, at: number): Tlv {
  if (at + 2 > buf.length) throw new Error('truncated DER');
  const tag = buf[at];
  let len = buf[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > buf.length) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i];
    start += n;
  }
  if (start + len > buf.length) throw new Error('truncated DER');
  return { tag, start, end: start + len };
}

function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const t = readTlv(buf, at);
    out.push(t);
    at = t.end;
  }
  return out;
}

function decodeOid(b: Buffer): string {
  const parts = [Math.floor(b[0] / 40), b[0] % 40];
  let v = 0;
  for (let i = 1; i < b.length; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if (!(b[i] & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

/** The certificate's extensions: OID → the extnValue's contents (inside its OCTET STRING). */
export function certificateExtensions(der: Buffer): Map<string, Buffer> {
  const cert = readTlv(der, 0);
  const tbs = children(der, cert)[0];
  const out = new Map<string, Buffer>();
  const ext = children(der, tbs).find((t) => t.tag === 0xa3);
  if (!ext) return out;
  const list = children(der, ext)[0];
  for (const e of children(der, list)) {
    const parts = children(der, e);
    const oid = decodeOid(der.subarray(parts[0].start, parts[0].end));
    const value = parts[parts.length - 1];
    out.set(oid, der.subarray(value.start, value.end));
  }
  return out;
}

/** SAN emails (rfc822Name) and URIs, as they are in the certificate. */
export function certificateIdentities(cert: X509Certificate): string[] {
  const san = certificateExtensions(cert.raw).get(OID_SAN);
  if (!san) return [];
  const seq = readTlv(san, 0);
  return children(san, seq)
    .filter((t) => t.tag === 0x81 || t.tag === 0x86)
    .map((t) => san.subarray(t.start, t.end).toString('utf8'));
}

/** The Fulcio OIDC issuer: the v2 extension (DER UTF8String), else v1 (raw string). */
export function certificateOidcIssuer(cert: X509Certificate): string | undefined {
  const ext = certificateExtensions(cert.raw);
  const v2 = ext.get(OID_ISSUER_V2);
  if (v2) {
    const t = readTlv(v2, 0);
    return v2.subarray(t.start, t.end).toString('utf8');
  }
  return ext.get(OID_ISSUER_V1)?.toString('utf8');
}

// ---------------------------------------------------------------- trusted roots

export function pemCertificates(text: string): X509Certificate[] {
  return (pemCerts(text) ?? []).map((p) => new X509Certificate(p));
}

/**
 * A trusted root file: PEM certificates, or a Sigstore `trusted_root.json`
 * (`certificateAuthorities[].certChain.certificates[].rawBytes`, and `tlogs[].publicKey.rawBytes`
 * as Rekor keys). Returns PEM text for the policy; throws when nothing usable is in it.
 */
export function parseTrustedRoot(text: string): { certificates: string; rekorKeys: string[] } {
  if (text.trimStart().startsWith('{')) {
    const json = JSON.parse(text) as {
      certificateAuthorities?: Array<{ certChain?: { certificates?: Array<{ rawBytes?: string }> } }>;
      tlogs?: Array<{ publicKey?: { rawBytes?: string } }>;
    };
    const certs = (json.certificateAuthorities ?? []).flatMap((ca) => ca.certChain?.certificates ?? []).flatMap((c) => (c.rawBytes ? [new X509Certificate(Buffer.from(c.rawBytes, 'base64')).toString()] : []));
    if (!certs.length) throw new Error('no certificateAuthorities[].certChain.certificates in trusted_root.json');
    const rekorKeys = (json.tlogs ?? []).flatMap((t) => (t.publicKey?.rawBytes ? [createPublicKey({ key: Buffer.from(t.publicKey.rawBytes, 'base64'), format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }).toString()] : []));
    return { certificates: certs.join(''), rekorKeys };
  }
  const certs = pemCertificates(text);
  if (!certs.length) throw new Error('no PEM certificate in it');
  return { certificates: certs.map((c) => c.toString()).join(''), rekorKeys: [] };
}

// ---------------------------------------------------------------- checks

function validAt(cert: X509Certificate, at: Date): boolean {
  return new Date(cert.validFrom).getTime() <= at.getTime() && at.getTime() <= new Date(cert.validTo).getTime();
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return parent.ca && child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/** Why `leaf` does not chain to one of `roots` at time `at`, or undefined if it does. */
export function checkChain(leaf: X509Certificate, intermediates: X509Certificate[], roots: X509Certificate[], at: Date | undefined, rootName: string): string | undefined {
  let current = leaf;
  const used = new Set<string>();
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const anchor = roots.find((r) => issuedBy(current, r));
    if (anchor) {
      if (at && !validAt(anchor, at)) return `trusted certificate ${anchor.subject.replace(/\n/g, ', ')} is not valid at ${at.toISOString()}`;
      return undefined;
    }
    const next = intermediates.find((c) => !used.has(c.fingerprint256) && issuedBy(current, c));
    if (!next) return `certificate does not chain to ${rootName}`;
    if (at && !validAt(next, at)) return `intermediate ${next.subject.replace(/\n/g, ', ')} is not valid at ${at.toISOString()}`;
    used.add(next.fingerprint256);
    current = next;
  }
  return `certificate chain is longer than ${MAX_CHAIN}`;
}

/** Why the leaf's identity does not match the rule, or undefined. */
export function checkIdentity(leaf: X509Certificate, rule: Pick<KeylessPolicy, 'identity' | 'identityRegexp' | 'issuer'>): string | undefined {
  const eku = leaf.keyUsage ?? [];
  if (!eku.includes(EKU_CODE_SIGNING)) return 'certificate lacks the code-signing extended key usage';
  const ids = certificateIdentities(leaf);
  const shown = ids.length ? ids.join(', ') : 'no email or URI SAN';
  if (rule.identity !== undefined && !ids.includes(rule.identity)) return `certificate identity ${shown} is not ${rule.identity}`;
  if (rule.identityRegexp !== undefined) {
    // Go's regexp syntax (cosign's), on a linear-time engine: the pattern comes from a bundle's
    // policy and the SAN from a signature layer, both crafted at will (`(a+)+b` hung import).
    let matches: boolean;
    try {
      matches = ids.some((id) => goRegex(rule.identityRegexp!, false, id).test(id));
    } catch (err) {
      return `certificateIdentityRegexp /${rule.identityRegexp}/: ${(err as Error).message}`;
    }
    if (!matches) return `certificate identity ${shown} does not match /${rule.identityRegexp}/`;
  }
  const issuer = certificateOidcIssuer(leaf);
  if (issuer !== rule.issuer) return `certificate OIDC issuer ${issuer ?? '(none)'} is not ${rule.issuer}`;
  return undefined;
}

interface RekorBundle {
  SignedEntryTimestamp?: string;
  Payload?: { body?: string; integratedTime?: number; logIndex?: number; logID?: string };
}

/** The Rekor bundle's time, and whether its SET and entry were checked (or why they fail). */
export function checkRekorBundle(
  text: string | undefined,
  rekorKeys: Array<{ name: string; key: KeyObject }>,
  signature: Buffer,
  payload: Buffer,
): { time?: Date; rekor: 'verified' | 'not checked' | 'absent'; problem?: string } {
  if (text === undefined) return { rekor: 'absent' };
  let b: RekorBundle;
  try {
    b = JSON.parse(text) as RekorBundle;
  } catch {
    return { rekor: 'absent', problem: `${BUNDLE_ANNOTATION} is not JSON` };
  }
  const p = b.Payload;
  if (!p || typeof p.integratedTime !== 'number' || typeof p.body !== 'string' || typeof p.logID !== 'string' || typeof p.logIndex !== 'number') {
    return { rekor: 'absent', problem: `${BUNDLE_ANNOTATION} has no Payload with body, integratedTime, logIndex and logID` };
  }
  const time = new Date(p.integratedTime * 1000);
  if (!rekorKeys.length) return { time, rekor: 'not checked' };
  // The SET is Rekor's signature over the canonical (sorted-key) JSON of the payload.
  const canonical = Buffer.from(JSON.stringify({ body: p.body, integratedTime: p.integratedTime, logID: p.logID, logIndex: p.logIndex }));
  const set = Buffer.from(b.SignedEntryTimestamp ?? '', 'base64');
  if (!rekorKeys.some((k) => safeVerify(canonical, k.key, set))) return { time, rekor: 'verified', problem: `Rekor SET does not verify with ${rekorKeys.map((k) => k.name).join(', ')}` };
  // The entry must be this signature over this payload (a hashedrekord).
  let entry: { spec?: { signature?: { content?: string }; data?: { hash?: { algorithm?: string; value?: string } } } };
  try {
    entry = JSON.parse(Buffer.from(p.body, 'base64').toString('utf8'));
  } catch {
    return { time, rekor: 'verified', problem: 'Rekor entry body is not JSON' };
  }
  const hash = createHash('sha256').update(payload).digest('hex');
  if (entry.spec?.data?.hash?.algorithm !== 'sha256' || entry.spec.data.hash.value !== hash) return { time, rekor: 'verified', problem: 'Rekor entry is not of this payload' };
  if (!entry.spec.signature?.content || !Buffer.from(entry.spec.signature.content, 'base64').equals(signature)) return { time, rekor: 'verified', problem: 'Rekor entry is not of this signature' };
  return { time, rekor: 'verified' };
}

function safeVerify(data: Buffer, key: KeyObject, sig: Buffer): boolean {
  try {
    return verify('sha256', data, { key, dsaEncoding: 'der' }, sig);
  } catch {
    return false;
  }
}

export interface KeylessResult {
  /** Why the signature does not satisfy the rule; undefined when it does. */
  problem?: string;
  /** What was not checked (e.g. "Rekor inclusion not checked"), for the report. */
  notes: string[];
}

/**
 * Check one keyless signature layer against a rule: certificate, chain, identity, time, and the
 * signature over `payload`. `now` is injectable for tests.
 */
export function checkKeyless(annotations: Record<string, string>, payload: Buffer, signature: Buffer, rule: KeylessPolicy, now: Date = new Date()): KeylessResult {
  const notes: string[] = [];
  const certPem = annotations[CERTIFICATE_ANNOTATION];
  if (!certPem) return { problem: `no ${CERTIFICATE_ANNOTATION} annotation (not a keyless signature)`, notes };
  let leaf: X509Certificate;
  let intermediates: X509Certificate[];
  try {
    leaf = new X509Certificate(certPem);
    intermediates = pemCertificates(annotations[CHAIN_ANNOTATION] ?? '');
  } catch (err) {
    return { problem: `certificate cannot be read: ${(err as Error).message}`, notes };
  }
  const rekorKeys = (rule.rekorKeys ?? []).map((k) => ({ name: k.name, key: createPublicKey(k.pem) }));
  const rekor = checkRekorBundle(annotations[BUNDLE_ANNOTATION], rekorKeys, signature, payload);
  if (rekor.problem) return { problem: rekor.problem, notes };
  if (rekor.rekor === 'not checked') notes.push('Rekor inclusion not checked (no Rekor public key named); signing time is the bundle\'s claim');
  if (rekor.rekor === 'absent') notes.push('no Rekor bundle: Rekor inclusion not checked');
  let at = rekor.time;
  if (!at) {
    if (rule.allowExpiredLeaf) notes.push('certificate validity not checked (allowExpiredLeaf, no Rekor bundle)');
    else at = now;
  }
  if (at && !validAt(leaf, at)) {
    return { problem: `certificate is not valid at ${at.toISOString()} (valid ${new Date(leaf.validFrom).toISOString()} to ${new Date(leaf.validTo).toISOString()})${rekor.time ? '' : '; no Rekor bundle gives the signing time'}`, notes };
  }
  const roots = pemCertificates(rule.trustedRoot.pem);
  const chain = checkChain(leaf, intermediates, roots, at ?? undefined, rule.trustedRoot.name);
  if (chain) return { problem: chain, notes };
  const id = checkIdentity(leaf, rule);
  if (id) return { problem: id, notes };
  if (!safeVerify(payload, leaf.publicKey, signature)) return { problem: 'signature does not verify with the certificate\'s key', notes };
  return { notes };
}
