import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type * as OpenPGP from 'openpgp';
import { FerryError, unreadableFile } from '../errors.js';
import { atStartFlags } from './v8-flags.js';

/**
 * OpenPGP with the pure-JS `openpgp` package rather than shelling out to gpg/gpgv: ferry runs
 * where gpg is absent (a build host, a container), keyrings are just files the manifest names,
 * and no agent or GNUPGHOME state leaks in or out.
 */

/** Loaded on first use: commands that verify no signature do not pay for its start-up. */
let loaded: Promise<typeof OpenPGP> | undefined;
const pgp = (): Promise<typeof OpenPGP> => (loaded ??= atStartFlags(() => import('openpgp')));

export type PublicKeys = OpenPGP.Key[];

const ARMOR = /-----BEGIN PGP /;

export function isArmored(bytes: Uint8Array): boolean {
  return ARMOR.test(Buffer.from(bytes.subarray(0, 4096)).toString('latin1'));
}

/** Read public keys (armored or binary, one or several per file) relative to `baseDir`. */
export async function readPublicKeys(files: string[], baseDir: string, label: string): Promise<PublicKeys> {
  const keys: OpenPGP.Key[] = [];
  for (const f of files) {
    const abs = path.resolve(baseDir, f);
    let bytes: Buffer;
    try {
      bytes = await readFile(abs);
    } catch (err) {
      throw unreadableFile(abs, `key file (${label})`, err, {
        code: 'VALIDATION',
        hint: 'Key paths are relative to the manifest; export the vendor key with `gpg --export --armor <id>`.',
      });
    }
    let read: OpenPGP.Key[];
    try {
      read = isArmored(bytes) ? await (await pgp()).readKeys({ armoredKeys: bytes.toString('utf8') }) : await (await pgp()).readKeys({ binaryKeys: bytes });
    } catch (err) {
      throw new FerryError('VALIDATION', `${label}: ${abs} is not an OpenPGP public key: ${(err as Error).message}`, { cause: err });
    }
    const costly = oversizedKey(read);
    if (costly) throw new FerryError('VALIDATION', `${label}: ${abs}: ${costly}`, { hint: OVERSIZED_KEY_HINT });
    keys.push(...read);
  }
  if (!keys.length) throw new FerryError('VALIDATION', `${label}: no OpenPGP keys given`, { hint: 'List the vendor key files under keys:.' });
  return keys;
}

export async function publicKeysFromArmored(text: string): Promise<PublicKeys> {
  return (await pgp()).readKeys({ armoredKeys: text });
}

/**
 * Bits of a signing key's parameters ferry verifies with, at most. openpgp verifies DSA (and RSA
 * that OpenSSL refuses) in JavaScript, at a cost that grows with the cube of the size: a crafted
 * DSA key of 16 384 bits took 15 s a signature, and the 64 KiB a lock may record for a key,
 * hours. gpg makes RSA keys of up to 4096 bits (16 384 with --enable-large-rsa) with the exponent
 * 65537, and DSA keys of up to 3072 bits with a 256-bit group order (FIPS 186).
 */
export const MAX_KEY_BITS = { rsaModulus: 16_384, rsaExponent: 64, dsaPrime: 3072, dsaOrder: 256 } as const;
export const OVERSIZED_KEY_HINT = 'No vendor signs with such a key: the key was crafted, or is not the one meant. Export the vendor key again (`gpg --export --armor <fingerprint>`).';

function bitLength(mpi: Uint8Array | undefined): number {
  if (!mpi) return 0;
  let i = 0;
  while (i < mpi.length && mpi[i] === 0) i++;
  return i === mpi.length ? 0 : (mpi.length - i) * 8 - (Math.clz32(mpi[i]) - 24);
}

/** Why one of `keys` (or a subkey) costs too much to verify with, or undefined: each checked before any signature is. */
export function oversizedKey(keys: PublicKeys): string | undefined {
  for (const key of keys) {
    for (const k of key.getKeys()) {
      const params = k.keyPacket.publicParams as Record<string, Uint8Array | undefined>;
      const id = k.getKeyID().toHex().toUpperCase();
      const over = (what: string, bits: number, max: number) => (bits > max ? `key ${id} has a ${what} of ${bits} bits; ferry verifies with at most ${max}` : undefined);
      const algo = k.keyPacket.algorithm as number;
      // 1-3 RSA, 17 DSA (openpgp's enums.publicKey); elliptic-curve keys have a fixed size.
      const why =
        algo >= 1 && algo <= 3
          ? (over('modulus', bitLength(params.n), MAX_KEY_BITS.rsaModulus) ?? over('public exponent', bitLength(params.e), MAX_KEY_BITS.rsaExponent))
          : algo === 17
            ? (over('DSA prime', bitLength(params.p), MAX_KEY_BITS.dsaPrime) ?? over('DSA group order', bitLength(params.q), MAX_KEY_BITS.dsaOrder))
            : undefined;
      if (why) return why;
    }
  }
  return undefined;
}

/**
 * The public key of `fingerprint` among `keys`, armored, without the certifications others made
 * on its user IDs (a keyring's copy of a vendor key may carry hundreds): what a record of the
 * signer needs to verify its signatures again, a few KB.
 */
export async function minimalPublicKey(keys: PublicKeys, fingerprint: string): Promise<string> {
  const key = keys.find((k) => k.getFingerprint().toUpperCase() === fingerprint);
  if (!key) throw new FerryError('VERIFY', `key ${fingerprint} is not among the given keys`);
  // A copy (a PublicKey's toPublic() is itself): the caller's key stays whole.
  const pub = await (await pgp()).readKey({ binaryKey: key.toPublic().write() });
  for (const u of pub.users) u.otherCertifications = [];
  return pub.armor();
}

/** The primary key that owns the key ID (a subkey may have signed). */
function ownerKey(keys: PublicKeys, keyId: OpenPGP.KeyID): OpenPGP.Key | undefined {
  return keys.find((k) => k.getKeys(keyId).length > 0);
}

/**
 * Signatures one signed file may carry. Vendors sign with one to three keys (Debian's InRelease
 * with the current and previous archive keys); every signature by a given key costs a public-key
 * verification, so a 64 MiB file of copies of one forged signature was minutes of CPU and an
 * error message of megabytes.
 */
export const MAX_SIGNATURES = 16;
/** Bytes of a detached signature file: a few KB even with several RSA-4096 signatures. */
export const MAX_SIGNATURE_BYTES = 1024 * 1024;
/** Reasons a failed verification names, at most. */
const MAX_REASONS = 4;

function checkSignatureCount(keyIDs: OpenPGP.KeyID[], label: string): void {
  if (keyIDs.length <= MAX_SIGNATURES) return;
  throw new FerryError('VERIFY', `${label}: carries ${keyIDs.length} signatures; ferry checks at most ${MAX_SIGNATURES}, and no vendor signs a file that often. Nothing from it was trusted`, {
    hint: 'The signature was crafted or damaged; download it again from the vendor, or ask them.',
  });
}

/**
 * How far ahead of this host's clock a signature may be dated: a vendor's clock a few seconds or
 * minutes fast is not a forgery (gpgv accepts any future signature, and apt judges time by the
 * Release's Date instead, refusing one dated ahead of its clock as "not valid yet"); one dated
 * further ahead is refused, as apt refuses its Release. The same allowance as a Release's Date.
 */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** The moment openpgp judges a signature's creation at: now plus the allowed skew. */
const skewedNow = () => new Date(Date.now() + MAX_CLOCK_SKEW_MS);

const FUTURE_SIGNATURE = /^Signature creation time is in the future/;

/** openpgp's words for a signature whose bytes do not match the data under a key it holds (gpgv's BADSIG). */
const BAD_SIGNATURE = /^(Signed digest did not match|Signature verification failed)/;

const shortReason = (err: unknown) => String((err as Error)?.message ?? err).slice(0, 200);

/** The first few reasons, and how many more. */
const shownReasons = (reasons: string[]) => reasons.slice(0, MAX_REASONS).join('; ') + (reasons.length > MAX_REASONS ? `; and ${reasons.length - MAX_REASONS} more` : '');

/**
 * Decide a signed file as apt's gpgv method does: it is trusted when at least one signature is
 * good, and refused when any signature by a key in the keyring is bad (gpgv BADSIG), whatever
 * the others say. A signature is good only if it verifies, is not expired, and its key is valid
 * for signing now: a key or subkey that has since expired (EXPKEYSIG), been revoked (REVKEYSIG)
 * or lost its signing flag counts for nothing, as do signatures by keys not given (NO_PUBKEY) and
 * by weak digests (SHA-1, MD5, RIPEMD-160: apt's untrusted digests). openpgp alone judges a key
 * at the signature's creation time, so an archive key that expired last year still passed.
 */
async function goodSigner(signatures: OpenPGP.VerifyMessageResult['signatures'], keys: PublicKeys, label: string, what: string): Promise<string> {
  const reasons: string[] = [];
  const bad: string[] = [];
  let good: string | undefined;
  for (const s of signatures) {
    const id = s.keyID.toHex().toUpperCase();
    const owner = ownerKey(keys, s.keyID);
    try {
      await s.verified;
    } catch (err) {
      const reason = `key ${id}: ${FUTURE_SIGNATURE.test(shortReason(err)) ? await futureReason(s) : shortReason(err)}`;
      if (owner && BAD_SIGNATURE.test(shortReason(err))) bad.push(reason);
      else reasons.push(reason);
      continue;
    }
    if (!owner) continue;
    // openpgp judged expiry at the skewed moment; the signature must not have expired by now.
    const packet = (await s.signature).packets[0];
    if (packet && packet.getExpirationTime() <= new Date()) {
      reasons.push(`key ${id}: Signature is expired`);
      continue;
    }
    try {
      await owner.getSigningKey(s.keyID, new Date());
    } catch (err) {
      reasons.push(`key ${id}: signed while valid, but is not valid for signing now (${shortReason(err)})`);
      continue;
    }
    good ??= owner.getFingerprint().toUpperCase();
  }
  if (bad.length) {
    throw new FerryError('VERIFY', `${label}: ${what} carries a bad signature by a given key (${shownReasons(bad)}); apt refuses such a file even beside a good signature. Nothing from it was trusted`, {
      details: bad.slice(0, MAX_SIGNATURES),
      hint: 'The file was altered after signing, or a signature over other data was attached; download it again from the vendor.',
    });
  }
  if (good) return good;
  throw new FerryError('VERIFY', `${label}: ${what} is not signed by any of the given keys (${shownReasons(reasons) || 'no signatures'})`, {
    details: reasons.slice(0, MAX_SIGNATURES),
    hint: 'Check that keys: names the vendor key that signs this file, that it has not expired or been revoked (a renewed key is exported again), and that the file was not altered. Nothing from it was trusted.',
  });
}

/** Why a signature dated ahead of the allowed skew counts for nothing, with its date. */
async function futureReason(s: OpenPGP.VerifyMessageResult['signatures'][number]): Promise<string> {
  const created = await s.signature.then((sig) => sig.packets[0]?.created).catch(() => undefined);
  const ahead = created ? ` (made ${created.toISOString()}, ${Math.round((created.getTime() - Date.now()) / 60_000)} minutes from now)` : '';
  return `the signature is dated more than ${MAX_CLOCK_SKEW_MS / 60_000} minutes ahead of this host's clock${ahead}; apt refuses a Release dated so ("not valid yet")`;
}

/** Verify a detached signature (armored or binary) over `data`; returns the signer's fingerprint. */
export async function verifyDetached(data: Uint8Array, signature: Uint8Array, keys: PublicKeys, label: string): Promise<string> {
  if (signature.length > MAX_SIGNATURE_BYTES) {
    throw new FerryError('VERIFY', `${label}: the signature file is ${signature.length} bytes; a detached signature is a few KB (ferry reads at most ${MAX_SIGNATURE_BYTES}). Nothing from it was trusted`, {
      hint: 'The signature URL names something else, or the file was crafted; check the URL.',
    });
  }
  let sig: OpenPGP.Signature;
  try {
    sig = isArmored(signature)
      ? await (await pgp()).readSignature({ armoredSignature: Buffer.from(signature).toString('utf8') })
      : await (await pgp()).readSignature({ binarySignature: signature });
  } catch (err) {
    throw new FerryError('VERIFY', `${label}: signature is not an OpenPGP signature: ${(err as Error).message}`, { cause: err });
  }
  checkSignatureCount(sig.getSigningKeyIDs(), label);
  const message = await (await pgp()).createMessage({ binary: data });
  const result = await (await pgp()).verify({ message, signature: sig, verificationKeys: keys, format: 'binary', date: skewedNow() });
  return goodSigner(result.signatures, keys, label, 'signature');
}

export function isClearSigned(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, 64)).toString('latin1').trimStart().startsWith('-----BEGIN PGP SIGNED MESSAGE-----');
}

/**
 * Verify a clear-signed text (InRelease, signed SHA256SUMS) and return only the signed text:
 * nothing outside the signature is ever parsed.
 */
export async function verifyClearSigned(bytes: Uint8Array, keys: PublicKeys, label: string): Promise<{ text: string; signer: string }> {
  let message: OpenPGP.CleartextMessage;
  try {
    message = await (await pgp()).readCleartextMessage({ cleartextMessage: Buffer.from(bytes).toString('utf8') });
  } catch (err) {
    throw new FerryError('VERIFY', `${label}: not a valid clear-signed OpenPGP message: ${(err as Error).message}`, { cause: err });
  }
  checkSignatureCount(message.getSigningKeyIDs(), label);
  const result = await (await pgp()).verify({ message, verificationKeys: keys, date: skewedNow() });
  const signer = await goodSigner(result.signatures, keys, label, 'clear-signed text');
  return { text: result.data, signer };
}

/** The signed text of a clear-signed message, without verifying (for data verified earlier). */
export function clearSignedText(text: string): string {
  const lines = text.split(/\r?\n/);
  let i = lines.findIndex((l) => l.startsWith('-----BEGIN PGP SIGNED MESSAGE-----'));
  if (i < 0) return text;
  i++;
  while (i < lines.length && lines[i].trim() !== '') i++; // Hash: headers
  i++;
  const out: string[] = [];
  for (; i < lines.length && !lines[i].startsWith('-----BEGIN PGP SIGNATURE-----'); i++) out.push(lines[i].startsWith('- ') ? lines[i].slice(2) : lines[i]);
  return out.join('\n');
}

export interface SigningKey {
  key: OpenPGP.PrivateKey;
  fingerprint: string;
}

/** Read the site's private signing key (armored or binary), decrypting it with `passphrase` if needed. */
export async function readSigningKey(file: string, passphrase: string | undefined, label: string): Promise<SigningKey> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw unreadableFile(file, `signing key (${label})`, err, {
      code: 'VALIDATION',
      hint: 'Export it with `gpg --export-secret-keys --armor <id> > key.asc`; the path is relative to the target file.',
    });
  }
  let key: OpenPGP.PrivateKey;
  try {
    key = isArmored(bytes) ? await (await pgp()).readPrivateKey({ armoredKey: bytes.toString('utf8') }) : await (await pgp()).readPrivateKey({ binaryKey: bytes });
  } catch (err) {
    throw new FerryError('VALIDATION', `${label}: ${file} is not an OpenPGP private key: ${(err as Error).message}`, { cause: err });
  }
  if (!key.isDecrypted()) {
    if (!passphrase) {
      throw new FerryError('AUTH', `${label}: signing key ${file} is protected by a passphrase: set FERRY_SIGNING_PASSPHRASE`, { hint: 'Set FERRY_SIGNING_PASSPHRASE.' });
    }
    try {
      key = await (await pgp()).decryptKey({ privateKey: key, passphrase });
    } catch (err) {
      throw new FerryError('AUTH', `${label}: cannot unlock signing key ${file}: FERRY_SIGNING_PASSPHRASE is not its passphrase`, { hint: 'Set FERRY_SIGNING_PASSPHRASE to the passphrase the key was exported with.', cause: err });
    }
  }
  return { key, fingerprint: key.getFingerprint().toUpperCase() };
}

export async function signDetachedArmored(data: Uint8Array, key: SigningKey): Promise<string> {
  const message = await (await pgp()).createMessage({ binary: data });
  return (await pgp()).sign({ message, signingKeys: key.key, detached: true, format: 'armored' });
}

export async function signClear(text: string, key: SigningKey): Promise<string> {
  const message = await (await pgp()).createCleartextMessage({ text });
  return (await pgp()).sign({ message, signingKeys: key.key });
}

export function publicKeyArmored(key: SigningKey): string {
  return key.key.toPublic().armor();
}

export function publicKeyBinary(key: SigningKey): Uint8Array {
  return key.key.toPublic().write();
}
