import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type * as OpenPGP from 'openpgp';

/**
 * Signature checks (public keys, clear-signed texts, detached signatures) on a thread of their
 * own. Loading OpenPGP costs ~40 ms of CPU (its cipher tables are built on import) and an
 * InRelease check ~10 ms; on ferry's main thread both sat on the path of every APT lock, with
 * the other core idle. `src/net/pgp.ts` starts this file as a worker when the first key file is
 * read, so the load overlaps ferry's own start of work and the Release round trips.
 *
 * This module imports nothing of ferry's (the worker runs it on its own: the build makes it an
 * entry point, `dist/pgp-worker.mjs`; from source, Node strips its types) and answers in plain
 * data; `src/net/pgp.ts` turns answers into ferry's errors. The same code runs in-process when a
 * worker cannot be started.
 */

let loaded: Promise<typeof OpenPGP> | undefined;
const pgp = (): Promise<typeof OpenPGP> => (loaded ??= import('openpgp'));

export interface KeyFile {
  /** The file's path, for messages. */
  name: string;
  bytes: Uint8Array;
}

export type PgpRequest =
  | { op: 'keys'; files: KeyFile[] }
  | { op: 'clear'; keys: number; bytes: Uint8Array }
  | { op: 'detached'; keys: number; data: Uint8Array; signature: Uint8Array };

export type PgpAnswer =
  | { ok: true; keys: number; count: number }
  | { ok: true; text: string; signer: string }
  | { ok: true; signer: string }
  /** `file`: the key file that is not an OpenPGP key. */
  | { ok: false; kind: 'bad-key'; file: string; message: string }
  /** The input is not a clear-signed message or not a signature. */
  | { ok: false; kind: 'malformed'; message: string }
  /** Well-formed, but no signature verifies with the given keys. */
  | { ok: false; kind: 'unverified'; reasons: string[] }
  | { ok: false; kind: 'internal'; message: string };

const ARMOR = /-----BEGIN PGP /;

export function isArmored(bytes: Uint8Array): boolean {
  return ARMOR.test(Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4096)).toString('latin1'));
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/** Key sets read so far, by number: requests name a set instead of sending keys again. */
const keySets: OpenPGP.Key[][] = [];

async function readKeys(files: KeyFile[]): Promise<PgpAnswer> {
  const o = await pgp();
  const keys: OpenPGP.Key[] = [];
  for (const f of files) {
    try {
      keys.push(...(isArmored(f.bytes) ? await o.readKeys({ armoredKeys: text(f.bytes) }) : await o.readKeys({ binaryKeys: f.bytes })));
    } catch (err) {
      return { ok: false, kind: 'bad-key', file: f.name, message: (err as Error).message };
    }
  }
  keySets.push(keys);
  return { ok: true, keys: keySets.length - 1, count: keys.length };
}

/** Fingerprint of the primary key that owns the key ID (a subkey may have signed). */
function ownerFingerprint(keys: OpenPGP.Key[], keyId: OpenPGP.KeyID): string | undefined {
  for (const k of keys) if (k.getKeys(keyId).length) return k.getFingerprint().toUpperCase();
  return undefined;
}

async function firstVerified(signatures: OpenPGP.VerifyMessageResult['signatures'], keys: OpenPGP.Key[]): Promise<{ signer: string } | { reasons: string[] }> {
  const reasons: string[] = [];
  for (const s of signatures) {
    try {
      await s.verified;
      const fpr = ownerFingerprint(keys, s.keyID);
      if (fpr) return { signer: fpr };
    } catch (err) {
      reasons.push(`key ${s.keyID.toHex().toUpperCase()}: ${(err as Error).message}`);
    }
  }
  return { reasons };
}

async function verifyClear(keys: OpenPGP.Key[], bytes: Uint8Array): Promise<PgpAnswer> {
  const o = await pgp();
  let message: OpenPGP.CleartextMessage;
  try {
    message = await o.readCleartextMessage({ cleartextMessage: text(bytes) });
  } catch (err) {
    return { ok: false, kind: 'malformed', message: (err as Error).message };
  }
  const result = await o.verify({ message, verificationKeys: keys });
  const v = await firstVerified(result.signatures, keys);
  return 'signer' in v ? { ok: true, text: result.data, signer: v.signer } : { ok: false, kind: 'unverified', reasons: v.reasons };
}

async function verifyDetached(keys: OpenPGP.Key[], data: Uint8Array, signature: Uint8Array): Promise<PgpAnswer> {
  const o = await pgp();
  let sig: OpenPGP.Signature;
  try {
    sig = isArmored(signature) ? await o.readSignature({ armoredSignature: text(signature) }) : await o.readSignature({ binarySignature: signature });
  } catch (err) {
    return { ok: false, kind: 'malformed', message: (err as Error).message };
  }
  const message = await o.createMessage({ binary: data });
  const result = await o.verify({ message, signature: sig, verificationKeys: keys, format: 'binary' });
  const v = await firstVerified(result.signatures, keys);
  return 'signer' in v ? { ok: true, signer: v.signer } : { ok: false, kind: 'unverified', reasons: v.reasons };
}

/** Answer one request; never throws. */
export async function answer(req: PgpRequest): Promise<PgpAnswer> {
  try {
    if (req.op === 'keys') return await readKeys(req.files);
    const keys = keySets[req.keys];
    if (!keys) return { ok: false, kind: 'internal', message: `unknown key set ${req.keys}` };
    return req.op === 'clear' ? await verifyClear(keys, req.bytes) : await verifyDetached(keys, req.data, req.signature);
  } catch (err) {
    return { ok: false, kind: 'internal', message: (err as Error)?.message ?? String(err) };
  }
}

/** Marks the worker started by src/net/pgp.ts, so that importing this module never listens. */
export const WORKER_MARK = 'ferry-pgp-worker';

if (!isMainThread && parentPort && workerData === WORKER_MARK) {
  const port = parentPort;
  // Start loading at once: the first request is usually still on its way.
  void pgp().catch(() => undefined);
  port.on('message', (m: { id: number; req: PgpRequest }) => {
    void answer(m.req).then((a) => port.postMessage({ id: m.id, answer: a }));
  });
}
