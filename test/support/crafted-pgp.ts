import { createHash } from 'node:crypto';
import { armor, enums } from 'openpgp';

/**
 * OpenPGP packets written by hand, for keys and signatures no tool makes: a DSA key with
 * parameters of any size, and a clear-signed text whose signature names it (its hash prefix
 * right, so openpgp goes on to the public-key arithmetic; its r and s odd values below q).
 */
const mpi = (buf: Buffer): Buffer => {
  const bits = buf.length * 8 - (Math.clz32(buf[0]) - 24);
  return Buffer.concat([Buffer.from([bits >> 8, bits & 255]), buf]);
};
const packet = (tag: number, body: Buffer): Buffer => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([Buffer.from([0xc0 | tag, 0xff]), len, body]);
};
const filled = (bytes: number, top: number): Buffer => {
  const b = Buffer.alloc(bytes, 0x5a);
  b[0] = top;
  b[bytes - 1] = 0x5b;
  return b;
};

export interface CraftedDsaKey {
  armored: string;
  /** Uppercase hex, as `gpg --fingerprint` shows it. */
  fingerprint: string;
  keyId: Buffer;
  fpr: Buffer;
  orderBytes: number;
}

/** A v4 DSA public key with a prime and a group order of `bytes` bytes each, and one user ID (no self-signature). */
export function craftDsaKey(bytes: number): CraftedDsaKey {
  const body = Buffer.concat([Buffer.from([4, 0x60, 0, 0, 0, 17]), mpi(filled(bytes, 0xff)), mpi(filled(bytes, 0xfe)), mpi(Buffer.from([2])), mpi(Buffer.from([3]))]);
  const fpr = createHash('sha1').update(Buffer.concat([Buffer.from([0x99, body.length >> 8, body.length & 255]), body])).digest();
  const key = Buffer.concat([packet(6, body), packet(13, Buffer.from('crafted <crafted@example.org>'))]);
  return { armored: armor(enums.armor.publicKey, key), fingerprint: fpr.toString('hex').toUpperCase(), keyId: fpr.subarray(12), fpr, orderBytes: bytes };
}

/** `text` clear-signed (SHA-256, a canonical-text signature) by `key`, as far as a reader can tell before the arithmetic. */
export function craftClearSigned(text: string, key: CraftedDsaKey): string {
  const hashed = Buffer.concat([Buffer.from([5, 2, 0x60, 0, 0, 1, 22, 33, 4]), key.fpr]);
  const head = Buffer.concat([Buffer.from([4, 1, 17, 8, hashed.length >> 8, hashed.length & 255]), hashed]);
  const trailer = Buffer.from([4, 0xff, 0, 0, head.length >> 8, head.length & 255]);
  const canonical = text.replace(/[ \t]+$/gm, '').replace(/\r?\n/g, '\r\n');
  const digest = createHash('sha256').update(canonical).update(head).update(trailer).digest();
  const unhashed = Buffer.concat([Buffer.from([9, 16]), key.keyId]);
  const sig = Buffer.concat([head, Buffer.from([0, unhashed.length]), unhashed, digest.subarray(0, 2), mpi(filled(key.orderBytes, 0x7f)), mpi(filled(key.orderBytes, 0x7e))]);
  return `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n${text.replace(/^-/gm, '- -')}\n${armor(enums.armor.signature, packet(2, sig))}`;
}
