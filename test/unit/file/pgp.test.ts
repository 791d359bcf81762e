import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { beforeAll, describe, expect, it } from 'vitest';
import { clearSignedText, isClearSigned, publicKeysFromArmored, readSigningKey, signClear, signDetachedArmored, verifyClearSigned, verifyDetached, type SigningKey } from '../../../src/net/pgp.js';
import { isFerryError } from '../../../src/errors.js';

let signer: SigningKey;
let other: SigningKey;

async function makeKey(dir: string, name: string): Promise<SigningKey> {
  const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name }], format: 'armored' });
  const file = path.join(dir, `${name}.asc`);
  await writeFile(file, privateKey);
  return readSigningKey(file, undefined, name);
}

beforeAll(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-pgp-'));
  signer = await makeKey(dir, 'vendor');
  other = await makeKey(dir, 'other');
});

describe('OpenPGP helpers', () => {
  it('verifies a detached signature and names the signer; a changed byte fails', async () => {
    const data = Buffer.from('abc  file.img\n');
    const sig = Buffer.from(await signDetachedArmored(data, signer));
    const keys = await publicKeysFromArmored(signer.key.toPublic().armor());
    expect(await verifyDetached(data, sig, keys, 'SUMS')).toBe(signer.fingerprint);
    await expect(verifyDetached(Buffer.from('abd  file.img\n'), sig, keys, 'SUMS')).rejects.toSatisfy((e) => isFerryError(e, 'VERIFY'));
  });

  it('refuses a signature from a key that is not given', async () => {
    const data = Buffer.from('x');
    const sig = Buffer.from(await signDetachedArmored(data, other));
    const keys = await publicKeysFromArmored(signer.key.toPublic().armor());
    await expect(verifyDetached(data, sig, keys, 'https://h/SUMS')).rejects.toThrow(/https:\/\/h\/SUMS: signature is not signed by any of the given keys/);
  });

  it('returns only the signed text of a clear-signed message', async () => {
    const text = 'Origin: x\nSuite: stable\nSHA256:\n 00 1 main/binary-amd64/Packages\n';
    const signed = await signClear(text, signer);
    expect(isClearSigned(Buffer.from(signed))).toBe(true);
    const keys = await publicKeysFromArmored(signer.key.toPublic().armor());
    const v = await verifyClearSigned(Buffer.from(signed), keys, 'InRelease');
    expect(v.text.trimEnd()).toBe(text.trimEnd());
    expect(v.signer).toBe(signer.fingerprint);
    expect(clearSignedText(signed).trimEnd()).toBe(text.trimEnd());
    const forged = signed.replace('Suite: stable', 'Suite: evil');
    await expect(verifyClearSigned(Buffer.from(forged), keys, 'InRelease')).rejects.toSatisfy((e) => isFerryError(e, 'VERIFY'));
  });
});
