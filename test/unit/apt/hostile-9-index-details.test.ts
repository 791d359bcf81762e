import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { checkVendorIndex } from '../../../src/kinds/apt/repo.js';

/**
 * Hostile pass 9: import's whole-APT check reads the vendor's Packages index from the bundle and
 * names the packages the bundle does not carry. A crafted index whose stanzas carry 1 MB fields
 * must not turn the error into megabytes of details: each field is shown clipped, twenty at most.
 */
describe('checkVendorIndex on a crafted Packages index', () => {
  it('clips 1 MB Package / Filename / SHA256 fields in the details and counts the rest', async () => {
    const big = 'x'.repeat(1 << 20);
    const stanzas = Array.from({ length: 30 }, (_, i) => `Package: ${big}${i}\nFilename: pool/${big}\nSHA256: ${big}\nSize: 1\n`).join('\n');
    const err = await checkVendorIndex(Readable.from([Buffer.from(stanzas)]), new Map(), 'apt[vendor] stable main/binary-amd64/Packages').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    const f = err as FerryError;
    expect(f.message).toContain('names 30 packages the bundle does not carry');
    expect(f.details).toHaveLength(21);
    expect(f.details![20]).toBe('… and 10 more');
    expect(f.details![0]).toContain(`… (${big.length + 1} characters)`);
    // Twenty lines a person can read, not 60 MB.
    expect(f.details!.join('\n').length).toBeLessThan(20 * 1024);
  });
});
