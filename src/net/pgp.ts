import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import path from 'node:path';
import type * as OpenPGP from 'openpgp';
import { FerryError, unreadableFile } from '../errors.js';
import { answer, isArmored, WORKER_MARK, type KeyFile, type PgpAnswer, type PgpRequest } from './pgp-worker.js';

/**
 * OpenPGP with the pure-JS `openpgp` package rather than shelling out to gpg/gpgv: ferry runs
 * where gpg is absent (a build host, a container), keyrings are just files the manifest names,
 * and no agent or GNUPGHOME state leaks in or out.
 */

/** Loaded on first use: commands that verify no signature do not pay for its start-up. */
let loaded: Promise<typeof OpenPGP> | undefined;
const pgp = (): Promise<typeof OpenPGP> => (loaded ??= import('openpgp'));

/**
 * Public keys read from the manifest's key files: a handle on a key set held by the signature
 * checker (`src/net/pgp-worker.ts`, on a thread of its own).
 */
export interface PublicKeys {
  readonly set: number;
  readonly count: number;
}

type Pending = { resolve: (a: PgpAnswer) => void };

/**
 * The signature checker: a worker thread started on first use, which never keeps ferry alive
 * while it has nothing to do. Where no worker can be started (the worker's file is missing from
 * a copied dist/, a restricted runtime), the same code answers on this thread.
 */
class Checker {
  private worker?: Worker;
  private readonly pending = new Map<number, Pending>();
  private next = 0;
  private inProcess = false;

  private start(): Worker | undefined {
    if (this.worker || this.inProcess) return this.worker;
    const file = workerFile();
    if (!file) {
      this.inProcess = true;
      return undefined;
    }
    try {
      const w = new Worker(file, { workerData: WORKER_MARK });
      w.on('message', (m: { id: number; answer: PgpAnswer }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (!this.pending.size) w.unref();
        p.resolve(m.answer);
      });
      const fail = (err: unknown) => {
        // A worker that dies fails its requests; later ones are answered here.
        this.worker = undefined;
        this.inProcess = true;
        const message = `signature checker thread stopped: ${(err as Error)?.message ?? String(err)}`;
        for (const p of this.pending.values()) p.resolve({ ok: false, kind: 'internal', message });
        this.pending.clear();
      };
      w.on('error', fail);
      w.on('exit', (code) => {
        if (this.worker === w) fail(new Error(`exit code ${code}`));
      });
      // After the listeners: adding a 'message' listener refs the worker's port again.
      w.unref();
      this.worker = w;
    } catch {
      this.inProcess = true;
    }
    return this.worker;
  }

  /** Where the checks run: on their own thread, or on this one (no worker could start). */
  get mode(): 'thread' | 'in-process' | 'not started' {
    return this.worker ? 'thread' : this.inProcess ? 'in-process' : 'not started';
  }

  /** Start the thread now, so that OpenPGP loads while the caller does other work. */
  warm(): void {
    this.start();
  }

  ask(req: PgpRequest, transfer: ArrayBuffer[] = []): Promise<PgpAnswer> {
    const w = this.start();
    if (!w) return answer(req);
    const id = this.next++;
    return new Promise<PgpAnswer>((resolve) => {
      this.pending.set(id, { resolve });
      w.ref();
      w.postMessage({ id, req }, transfer);
    });
  }
}

/** dist/pgp-worker.mjs next to ferry-main.mjs (or one up from dist/chunks/), or the source file. */
function workerFile(): URL | undefined {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return new URL('./pgp-worker.ts', here);
  for (const rel of ['./pgp-worker.mjs', '../pgp-worker.mjs']) {
    const u = new URL(rel, here);
    if (existsSync(u)) return u;
  }
  return undefined;
}

const checker = new Checker();

/** Start the signature-check thread now (see src/net/pgp-early.ts). */
export function warmSignatureChecks(): void {
  checker.warm();
}

/** Where signature checks run (for tests and `--debug`). */
export function signatureCheckMode(): 'thread' | 'in-process' | 'not started' {
  return checker.mode;
}

/** Bytes of a Buffer as their own ArrayBuffer (Buffers may share a pooled one), to transfer. */
function own(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

/** Read public keys (armored or binary, one or several per file) relative to `baseDir`. */
export async function readPublicKeys(files: string[], baseDir: string, label: string): Promise<PublicKeys> {
  checker.warm();
  const read: Array<KeyFile & { bytes: Uint8Array<ArrayBuffer> }> = [];
  for (const f of files) {
    const abs = path.resolve(baseDir, f);
    try {
      read.push({ name: abs, bytes: own(await readFile(abs)) });
    } catch (err) {
      throw unreadableFile(abs, `key file (${label})`, err, {
        code: 'VALIDATION',
        hint: 'Key paths are relative to the manifest; export the vendor key with `gpg --export --armor <id>`.',
      });
    }
  }
  const a = await checker.ask({ op: 'keys', files: read }, read.map((r) => r.bytes.buffer));
  if (!a.ok) {
    if (a.kind === 'bad-key') throw new FerryError('VALIDATION', `${label}: ${a.file} is not an OpenPGP public key: ${a.message}`);
    throw checkerFailed(a, label);
  }
  if (!('count' in a) || !a.count) throw new FerryError('VALIDATION', `${label}: no OpenPGP keys given`, { hint: 'List the vendor key files under keys:.' });
  return { set: a.keys, count: a.count };
}

/** Public keys from armored text (a site's own key, a test's). */
export async function publicKeysFromArmored(text: string, label = 'public key'): Promise<PublicKeys> {
  const bytes = new Uint8Array(Buffer.from(text, 'utf8'));
  const a = await checker.ask({ op: 'keys', files: [{ name: label, bytes }] }, [bytes.buffer]);
  if (!a.ok) throw a.kind === 'bad-key' ? new FerryError('VALIDATION', `${label} is not an OpenPGP public key: ${a.message}`) : checkerFailed(a, label);
  if (!('count' in a)) throw checkerFailed({ ok: false, kind: 'internal', message: 'unexpected answer' }, label);
  return { set: a.keys, count: a.count };
}

function checkerFailed(a: Extract<PgpAnswer, { ok: false }>, label: string): FerryError {
  return new FerryError('INTERNAL', `${label}: the OpenPGP check failed: ${'message' in a ? a.message : a.kind}`, {
    hint: 'Nothing was trusted. Run the command again; if it fails the same way, report it.',
  });
}

function notVerified(a: Extract<PgpAnswer, { ok: false }>, label: string, what: string, malformed: string): FerryError {
  if (a.kind === 'malformed') return new FerryError('VERIFY', `${label}: ${malformed}: ${a.message}`);
  if (a.kind === 'unverified') {
    return new FerryError('VERIFY', `${label}: ${what} is not signed by any of the given keys (${a.reasons.join('; ') || 'no signatures'})`, {
      details: a.reasons,
      hint: 'Check that keys: names the vendor key that signs this file, and that the file was not altered. Nothing from it was trusted.',
    });
  }
  return checkerFailed(a, label);
}

/** Verify a detached signature (armored or binary) over `data`; returns the signer's fingerprint. */
export async function verifyDetached(data: Uint8Array, signature: Uint8Array, keys: PublicKeys, label: string): Promise<string> {
  const d = own(data);
  const s = own(signature);
  const a = await checker.ask({ op: 'detached', keys: keys.set, data: d, signature: s }, [d.buffer, s.buffer]);
  if (!a.ok) throw notVerified(a, label, 'signature', 'signature is not an OpenPGP signature');
  if (!('signer' in a)) throw checkerFailed({ ok: false, kind: 'internal', message: 'unexpected answer' }, label);
  return a.signer;
}

export function isClearSigned(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, 64)).toString('latin1').trimStart().startsWith('-----BEGIN PGP SIGNED MESSAGE-----');
}

/**
 * Verify a clear-signed text (InRelease, signed SHA256SUMS) and return only the signed text:
 * nothing outside the signature is ever parsed.
 */
export async function verifyClearSigned(bytes: Uint8Array, keys: PublicKeys, label: string): Promise<{ text: string; signer: string }> {
  const b = own(bytes);
  const a = await checker.ask({ op: 'clear', keys: keys.set, bytes: b }, [b.buffer]);
  if (!a.ok) throw notVerified(a, label, 'clear-signed text', 'not a valid clear-signed OpenPGP message');
  if (!('text' in a)) throw checkerFailed({ ok: false, kind: 'internal', message: 'unexpected answer' }, label);
  return { text: a.text, signer: a.signer };
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
