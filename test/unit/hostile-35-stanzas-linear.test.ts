import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { generatedNotLocked } from '../../src/kinds/apt/lock-stanzas.js';
import type { BlobSource } from '../../src/store/source.js';

/**
 * A filtered suite's generated Packages is held to the lock stanza by stanza (round 35): a
 * crafted lock repeating one pool path for as many stanzas naming it must not make that
 * quadratic (20 000 × 20 000 comparisons); it is refused at once, naming the count.
 */
describe('generated Packages against a lock repeating one Filename', () => {
  it('is refused at once, not compared 4·10^8 times', { timeout: 20_000 }, async () => {
    const n = 20_000;
    const filename = 'pool/main/j/jq/jq_1.6-2.1_amd64.deb';
    const sha = 'a'.repeat(64);
    const packages = Array.from({ length: n }, (_, i) => ({ name: `p${i}`, version: '1', architecture: 'amd64', filename, sha256: sha, size: 10 }));
    const text = packages.map((p) => `Package: ${p.name}\nVersion: 1\nArchitecture: amd64\nFilename: ${filename}\nSize: 11\nSHA256: ${sha}\n`).join('\n');
    const bytes = Buffer.from(text);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const source = {
      readBlob: async () => bytes,
      openBlob: async () => Readable.from([bytes]),
      blobSize: async () => bytes.length,
      readIndex: async () => ({ schemaVersion: 2, manifests: [] }),
    } as unknown as BlobSource;
    const layers = [{ mediaType: 'text/plain', digest, size: bytes.length, annotations: { 'io.ferry.role': 'generated-index', 'org.opencontainers.image.title': 'dists/bookworm/main/binary-amd64/Packages' } }];
    const why = await generatedNotLocked({ suite: 'bookworm', packages }, layers, source);
    expect(why).toMatch(/lists 20000 packages at Filename .*jq_1\.6-2\.1_amd64\.deb.*more than the 64 ferry compares/);
  });
});
