import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { FerryError, unreadableFile } from '../errors.js';
import { checksumsFor } from './bundle-pack.js';
import { readRegularFile } from './verified-write.js';
import { holdYoungSync, noteTextParsed } from './young-gc.js';

/**
 * The bundle signature: `ferry/checksums.sha256.sig` holds an ECDSA P-256 signature over the
 * exact bytes of `ferry/checksums.sha256` (SHA-256 digest, ASN.1 DER signature, base64 text
 * with no newline) — the format `cosign sign-blob` writes, so `cosign verify-blob --key pub.pem
 * --signature checksums.sha256.sig checksums.sha256` checks it, and so does
 * `openssl dgst -sha256 -verify pub.pem -signature <(base64 -d checksums.sha256.sig)`.
 *
 * The checksum list names every other file of the bundle with its sha256, so one signature
 * covers every byte; the signature file itself cannot be listed there, and is covered by
 * verifying it (any change to it or to the list fails the check).
 */
export const CHECKSUMS_FILE = 'ferry/checksums.sha256';
export const SIGNATURE_FILE = 'ferry/checksums.sha256.sig';

/** Cap on what is read as a key or signature file: keys are a few hundred bytes. */
const MAX_KEY_BYTES = 64 * 1024;

async function readKeyFile(file: string, what: string): Promise<Buffer> {
  // Read up to the bound, never whole: a key path that names /dev/zero or a FIFO is refused, not read.
  const got = await readRegularFile(file, MAX_KEY_BYTES, { follow: true });
  if (Buffer.isBuffer(got)) return got;
  if (got.why === 'too-large') throw new FerryError('USAGE', `${file}: ${got.reason} is too large for a ${what}`);
  if (got.why === 'unreadable') throw unreadableFile(file, `the ${what}`, got.err);
  throw new FerryError('USAGE', `${file}: cannot read the ${what}: ${got.reason}`);
}

function requireP256(key: KeyObject, file: string, what: string): void {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    throw new FerryError('USAGE', `${file}: the ${what} is ${key.asymmetricKeyType === 'ec' ? `an EC key on ${curve}` : `a ${key.asymmetricKeyType} key`}; ferry signs bundles with ECDSA P-256 keys (as cosign does)`, {
      hint: 'Make one with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out bundle.key` and `openssl pkey -in bundle.key -pubout -out bundle.pub`.',
    });
  }
}

const KEY_KINDS = {
  private: { what: 'signing key', parse: createPrivateKey, hint: 'Pass a PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`) P-256 key.' },
  public: { what: 'public key', parse: createPublicKey, hint: 'Pass the SPKI public key (`BEGIN PUBLIC KEY`), e.g. from `openssl pkey -in bundle.key -pubout`.' },
} as const;

/** Read, parse and check one PEM key file; every failure names the file and says what to pass. */
async function loadP256Key(file: string, kind: keyof typeof KEY_KINDS): Promise<{ key: KeyObject; file: string }> {
  const abs = path.resolve(file);
  const { what, parse, hint } = KEY_KINDS[kind];
  const pem = await readKeyFile(abs, what);
  const text = pem.toString('utf8');
  if (kind === 'private' && (/-----BEGIN (ENCRYPTED (SIGSTORE|COSIGN) PRIVATE KEY|ENCRYPTED PRIVATE KEY)-----/.test(text) || /Proc-Type: 4,ENCRYPTED/.test(text))) {
    throw new FerryError('USAGE', `${abs}: the signing key is encrypted; ferry reads unencrypted PEM keys only`, {
      hint: 'Keep the key unencrypted on the signing machine (e.g. `openssl pkey -in enc.key -out bundle.key`); cosign-encrypted keys are not read.',
    });
  }
  if (kind === 'private' && /-----BEGIN PUBLIC KEY-----/.test(text) && !/PRIVATE KEY-----/.test(text)) {
    throw new FerryError('USAGE', `${abs}: this is a public key; signing takes the private key (the public key is what \`bundle verify --key\` and \`import --key\` take)`, {
      hint: 'Pass the private key the public key was made from, e.g. --sign-key bundle.key (`openssl pkey -in bundle.key -pubout` gives bundle.pub).',
    });
  }
  let key: KeyObject;
  try {
    key = parse({ key: pem, format: 'pem' });
  } catch (err) {
    throw new FerryError('USAGE', `${abs}: not a PEM ${kind} key (${(err as Error).message})`, { hint, cause: err });
  }
  requireP256(key, abs, what);
  return { key, file: abs };
}

/** A PEM private key (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`), unencrypted, on P-256. */
export async function loadSigningKey(file: string): Promise<KeyObject> {
  return (await loadP256Key(file, 'private')).key;
}

/** A PEM public key (SPKI `PUBLIC KEY`, as `cosign generate-key-pair` writes `cosign.pub`). */
export function loadVerifyKey(file: string): Promise<VerifyKey> {
  return loadP256Key(file, 'public');
}

/** The signature file's bytes for a checksum list: base64 of the DER ECDSA signature. */
export function signChecksums(checksums: Buffer, key: KeyObject): Buffer {
  return Buffer.from(sign('sha256', checksums, { key, dsaEncoding: 'der' }).toString('base64'));
}

/** Why a signature does not verify, or undefined when it does. */
export function checkChecksumsSignature(checksums: Buffer, signatureFile: Buffer, key: KeyObject): string | undefined {
  const text = signatureFile.toString('utf8').trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length > 1024) return `${SIGNATURE_FILE} is not a base64 signature`;
  const der = Buffer.from(text, 'base64');
  let ok = false;
  try {
    ok = verify('sha256', checksums, { key, dsaEncoding: 'der' }, der);
  } catch {
    ok = false;
  }
  return ok ? undefined : `${SIGNATURE_FILE} does not verify with this key over ${CHECKSUMS_FILE} (signed by another key, or the list or signature changed)`;
}

export type SignatureStatus = 'verified' | 'unsigned' | 'not checked' | 'failed';

/**
 * The signature part of `bundle verify`: with a key, an unsigned or wrongly signed bundle is a
 * problem; without one, a signature present is reported as not checked.
 */
export function bundleSignatureProblems(
  checksums: Buffer | undefined,
  signature: Buffer | undefined,
  verifyKey: VerifyKey | undefined,
): { status: SignatureStatus; problems: string[] } {
  if (!verifyKey) return { status: signature ? 'not checked' : 'unsigned', problems: [] };
  if (!signature) return { status: 'unsigned', problems: [`${UNSIGNED} (no ${SIGNATURE_FILE}), and ${verifyKey.file} was given to check it`] };
  if (!checksums) return { status: 'failed', problems: [`${CHECKSUMS_FILE} is missing, so the signature covers nothing`] };
  const why = checkChecksumsSignature(checksums, signature, verifyKey.key);
  return why ? { status: 'failed', problems: [`${why}; key ${verifyKey.file} (fingerprint sha256:${keyFingerprint(verifyKey.key)})`] } : { status: 'verified', problems: [] };
}

const UNSIGNED = 'the bundle is not signed';

/**
 * A public key's fingerprint: the sha256 of its DER SubjectPublicKeyInfo, hex — what
 * `openssl pkey -pubin -in vendor.pub -outform DER | sha256sum` prints, so a vendor can publish
 * it beside the key and a customer can compare the two.
 */
export function keyFingerprint(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ format: 'der', type: 'spki' })).digest('hex');
}

/**
 * The hint for a bundle refused for its signature alone (`bundle verify --key`, `import --key`):
 * the bytes arrived as they were signed or not, but the question for the customer is whose key
 * it is (a vendor's release key rotated, the wrong .pub file, an unsigned build) — copying the
 * bundle again, the hint for damaged bytes, does not help. Undefined when another problem is
 * listed too (the damage hint then fits).
 */
export function signatureProblemHint(problems: readonly string[]): string | undefined {
  if (!problems.length || !problems.every((p) => p.startsWith(UNSIGNED) || p.startsWith(SIGNATURE_FILE))) return undefined;
  if (problems.every((p) => p.startsWith(UNSIGNED))) {
    return 'Whoever made this bundle did not sign it (`bundle create --sign-key`). Ask its maker for a signed one, or for a checksum (sha256sum) of the bundle over another channel; do not import it without --key unless they confirm it ships unsigned.';
  }
  return 'Either another key signed the bundle, or the bundle changed after it was signed. Ask its maker (the vendor) for the fingerprint of the key that signs this release and compare it with the one above (`openssl pkey -pubin -in key.pub -outform DER | sha256sum` prints a key\'s): a different fingerprint means you hold another key (a rotated or wrong .pub); the same one means the bundle changed on its way: copy it again and compare its sha256sum with the maker\'s.';
}

export type VerifyKey = { key: KeyObject; file: string };

/** Reads the list and its signature from a bundle and checks them (bundle-verify's hook). */
export async function readSignature(
  reader: { entry(name: string): { size: number } | undefined; readFile(name: string): Promise<Buffer> },
  verifyKey: VerifyKey | undefined,
): Promise<{ status: SignatureStatus; problems: string[] }> {
  const sig = reader.entry(SIGNATURE_FILE);
  if (sig && sig.size > MAX_KEY_BYTES) return { status: 'failed', problems: [`${SIGNATURE_FILE}: ${sig.size} bytes is too large for a signature`] };
  const signature = sig ? await reader.readFile(SIGNATURE_FILE) : undefined;
  const checksums = verifyKey && reader.entry(CHECKSUMS_FILE) ? await reader.readFile(CHECKSUMS_FILE) : undefined;
  return bundleSignatureProblems(checksums, signature, verifyKey);
}

/**
 * A file of the bundle read to be acted on before the full check (import's verify policy and
 * lock, the SBOM's lock): its bytes must match its line in `ferry/checksums.sha256` — the list
 * the bundle signature covers — or nothing of it is trusted. `use` says what is refused.
 */
export async function readListedFile(reader: { entry(name: string): unknown; readFile(name: string): Promise<Buffer> }, name: string, use: string): Promise<Buffer> {
  const bytes = await reader.readFile(name);
  const found = reader.entry(CHECKSUMS_FILE) ? checksumsFor(await reader.readFile(CHECKSUMS_FILE), name) : [];
  const listed = found.at(-1);
  const actual = createHash('sha256').update(bytes).digest('hex');
  // Listed twice, the list says two things about the file (the last line would win here, the
  // full check may read the other): nothing of it is trusted.
  const twice = found.length > 1;
  if (listed !== actual || twice) {
    const why = twice ? 'it is listed there twice' : listed === undefined ? 'not listed there' : `it says ${listed}, the content hashes to ${actual}`;
    throw new FerryError('VERIFY', `${name} does not match ${CHECKSUMS_FILE} (${why}); ${use}`, { hint: 'Do not import this bundle. Copy it again from the source (or re-create it there); `ferry bundle verify --key` checks every file.' });
  }
  return bytes;
}

/** `readListedFile`, parsed as JSON (`ferry/lock.json`): a file that is not JSON is refused as the bundle's fault, `use` said. */
export async function readListedJson(reader: { entry(name: string): unknown; readFile(name: string): Promise<Buffer> }, name: string, use: string): Promise<unknown> {
  const text = await readListedText(reader, name, use);
  let parsed: unknown;
  try {
    parsed = holdYoungSync(() => JSON.parse(text.value));
  } catch (err) {
    throw new FerryError('VERIFY', `${name}: not valid JSON (${(err as Error).message}); ${use}`, { hint: 'Copy the bundle again from the source and run `ferry bundle verify`.' });
  }
  // The text (and the bytes it was decoded from) are not held past the parse: a bundle's lock of
  // a whole APT component is 21 MB of each, collected now rather than beside what is read next.
  const size = text.value.length;
  text.value = '';
  noteTextParsed(size);
  return parsed;
}

/** A listed file's text, in a box its reader empties once parsed (the bytes are not kept beside it). */
async function readListedText(reader: Parameters<typeof readListedFile>[0], name: string, use: string): Promise<{ value: string }> {
  return { value: (await readListedFile(reader, name, use)).toString('utf8') };
}
