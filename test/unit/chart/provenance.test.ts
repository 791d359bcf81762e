import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { beforeAll, describe, expect, it } from 'vitest';
import { publicKeysFromArmored, readSigningKey, signClear, type PublicKeys, type SigningKey } from '../../../src/net/pgp.js';
import { provenanceFileName, recordProvenance, reverifyChartProvenance, verifyChartProvenance } from '../../../src/kinds/chart/provenance.js';

let vendor: SigningKey;
let keys: PublicKeys;
const digest = `sha256:${'c6'.repeat(32)}`;
const subject = { label: 'chart hashtest 1.10 (https://charts.example)', name: 'hashtest', version: '1.10', archiveDigest: digest, file: 'hashtest-1.10.tgz' };

beforeAll(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-prov-'));
  const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name: 'vendor' }], format: 'armored' });
  await writeFile(path.join(dir, 'vendor.asc'), privateKey);
  vendor = await readSigningKey(path.join(dir, 'vendor.asc'), undefined, 'vendor');
  keys = await publicKeysFromArmored(vendor.key.toPublic().armor());
});

const signed = async (text: string) => Buffer.from(await signClear(text, vendor));
// What `helm package --sign` signs: Chart.yaml, `...`, the sums (pkg/provenance's message block).
const helmBody = (files = `  hashtest-1.10.tgz: ${digest}\n`, meta = 'apiVersion: v1\ndescription: Test chart versioning\nname: hashtest\nversion: 1.10\n') => `${meta}\n...\nfiles:\n${files}`;

describe("chart provenance (Helm's .prov)", () => {
  it("verifies Helm's message block: the signer's fingerprint; a version that YAML would read as a number stays the text it is", async () => {
    const prov = await signed(helmBody());
    expect(await verifyChartProvenance(prov, keys, subject)).toBe(vendor.fingerprint);
    const rec = await recordProvenance(vendor.fingerprint, keys, subject.file);
    await expect(reverifyChartProvenance(rec, prov, subject)).resolves.toBeUndefined();
  });

  it('refuses a files: map naming the archive twice, a body without its `...` line, and a provenance of another chart or version', async () => {
    await expect(verifyChartProvenance(await signed(helmBody(`  hashtest-1.10.tgz: ${digest}\n  hashtest-1.10.tgz: sha256:${'00'.repeat(32)}\n`)), keys, subject)).rejects.toThrow(/chart hashtest 1\.10 .*: its provenance is signed but its `files:` document is not valid YAML \(Map keys must be unique/);
    await expect(verifyChartProvenance(await signed(`name: hashtest\nversion: 1.10\nfiles:\n  hashtest-1.10.tgz: ${digest}\n`), keys, subject)).rejects.toThrow(/no `\.\.\.` line/);
    await expect(verifyChartProvenance(await signed(helmBody(undefined, 'name: hashtest\nversion: 1.1\n')), keys, subject)).rejects.toThrow(/signed for chart "hashtest 1\.1", the archive's Chart\.yaml is hashtest 1\.10/);
    await expect(verifyChartProvenance(await signed(helmBody(`  other-1.10.tgz: ${digest}\n`)), keys, subject)).rejects.toThrow(/lists no sha256 for "hashtest-1\.10\.tgz" \(it lists "other-1\.10\.tgz"\)/);
  });

  it('refuses a record the lock carries that is malformed, and a file larger than a provenance', async () => {
    const prov = await signed(helmBody());
    await expect(reverifyChartProvenance({ signer: 'x', file: subject.file, key: 'k' }, prov, subject)).rejects.toThrow(/the lock's provenance record is malformed \(signer/);
    await expect(verifyChartProvenance(Buffer.alloc(1024 * 1024 + 1, 0x41), keys, subject)).rejects.toThrow(/ferry reads at most 1048576/);
  });

  it('names the archive as Helm downloads it: the URL\'s last segment, else <name>-<version>.tgz', () => {
    expect(provenanceFileName('a', '1.0.0', 'https://h/charts/a-1.0.0.tgz?x=1')).toBe('a-1.0.0.tgz');
    expect(provenanceFileName('a', '1.0.0+b', undefined)).toBe('a-1.0.0+b.tgz');
  });
});
