/**
 * hostile57: the provenance record a lock carries (`provenance.key`) is hostile, as the lock is
 * (a crafted lock handed to a site, the lock inside a crafted bundle): `bundle create` from it,
 * `import`, `serve` and `bundle verify` verify the chart's .prov with that key. openpgp verifies a
 * DSA signature in JavaScript BigInt arithmetic whose cost grows with the cube of the key's size:
 * a crafted DSA key of 16 384 bits (5.7 KB armored) took 15 s for one signature, and the 64 KiB a
 * lock may record, hours. Now a key beyond what gpg makes (RSA 16 384 bits with a 64-bit exponent,
 * DSA 3072 bits with a 256-bit order) is refused before any signature is checked, naming the key;
 * the same for a key file the manifest names. vitest's per-test timeout (BOUND) is what fails on
 * the old code: no timing assertion.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { reverifyChartProvenance } from '../../../src/kinds/chart/provenance.js';
import { readPublicKeys } from '../../../src/net/pgp.js';
import { craftClearSigned, craftDsaKey } from '../../support/crafted-pgp.js';

const BOUND = 10_000;
const digest = `sha256:${'c6'.repeat(32)}`;
const subject = { label: 'chart plain 1.0.0 (https://charts.example)', name: 'plain', version: '1.0.0', archiveDigest: digest };
const body = `apiVersion: v2\nname: plain\nversion: 1.0.0\n\n...\nfiles:\n  plain-1.0.0.tgz: ${digest}\n`;

describe('hostile57: a provenance key whose parameters would cost hours to verify with', () => {
  it("the lock's record holds a DSA key of 16 384 bits: refused before the signature is checked, naming the key", async () => {
    const key = craftDsaKey(2048);
    const prov = Buffer.from(craftClearSigned(body, key));
    const err = await reverifyChartProvenance({ signer: key.fingerprint, file: 'plain-1.0.0.tgz', key: key.armored }, prov, subject).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'VERIFY' });
    expect((err as Error).message).toBe(`chart plain 1.0.0 (https://charts.example): the lock's provenance key is refused: key ${key.fingerprint.slice(24)} has a DSA prime of 16384 bits; ferry verifies with at most 3072`);
  }, BOUND);

  it('a keys: file of the manifest holding such a key is refused by name (VALIDATION)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h57-key-'));
    const key = craftDsaKey(2048);
    await writeFile(path.join(dir, 'vendor.asc'), key.armored);
    await expect(readPublicKeys(['vendor.asc'], dir, 'chart plain (keys:)')).rejects.toMatchObject({
      code: 'VALIDATION',
      message: `chart plain (keys:): ${path.join(dir, 'vendor.asc')}: key ${key.fingerprint.slice(24)} has a DSA prime of 16384 bits; ferry verifies with at most 3072`,
    });
  });

  it('a small DSA key (256-bit prime and order) is read, and its bad signature judged as before', async () => {
    const key = craftDsaKey(32);
    const prov = Buffer.from(craftClearSigned(body, key));
    await expect(reverifyChartProvenance({ signer: key.fingerprint, file: 'plain-1.0.0.tgz', key: key.armored }, prov, subject)).rejects.toThrow(/carries a bad signature by a given key|is not signed by any of the given keys/);
  }, BOUND);
});
