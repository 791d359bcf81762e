import { describe, expect, it } from 'vitest';
import { lockChanges } from '../../../src/commands/lock-diff.js';
import type { Lock } from '../../../src/kinds/schema.js';

const lock = (charts: unknown[]) => ({ images: [], charts, files: [], apt: [] }) as unknown as Lock;
const chart = (version: string, digest: string, signer?: unknown) => ({ repo: 'https://charts.example', name: 'app', version, digest: `sha256:${digest.repeat(64)}`, images: [], ...(signer === undefined ? {} : { provenance: { signer } }) });
const A = 'A'.repeat(40);
const B = 'B'.repeat(40);

describe('the lock diff and chart provenance signers', () => {
  it('the same version and archive re-signed by another key is a change, with a note naming both signers', () => {
    const [c] = lockChanges(lock([chart('1.0.0', 'a', A)]), lock([chart('1.0.0', 'a', B)]));
    expect(c).toMatchObject({ kind: 'chart', change: 'updated', from: `1.0.0 (sha256:${'a'.repeat(64)}), provenance signed by ${A}`, to: `1.0.0 (sha256:${'a'.repeat(64)}), provenance signed by ${B}` });
    expect(c.notes).toEqual([`its provenance signer changed: ${A} signed the previous lock's, ${B} signs this one (compare the new fingerprint with the one the vendor publishes before you trust it)`]);
  });

  it('one signer across versions has no note; a previous lock whose signer is not a string (hostile) counts as none', () => {
    expect(lockChanges(lock([chart('1.0.0', 'a', A)]), lock([chart('2.0.0', 'b', A)]))[0].notes).toBeUndefined();
    const [c] = lockChanges(lock([chart('1.0.0', 'a', { toString: 'x' })]), lock([chart('2.0.0', 'b', B)]));
    expect(c.from).toBe(`1.0.0 (sha256:${'a'.repeat(64)})`);
    expect(c.notes).toBeUndefined();
  });
});
