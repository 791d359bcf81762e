import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { generatedIndexes } from '../../../src/kinds/apt/import.js';
import type { OciDescriptor } from '../../../src/oci/media-types.js';

/**
 * A crafted bundle's filtered APT repository: import and serve both take its generated indexes
 * through generatedIndexes, and sign a Release over them with the site key.
 */
const digest = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const deb = Buffer.from('!<arch>\ndebian-binary');
const layer = (title: string, role: string, bytes: Buffer): OciDescriptor => ({
  mediaType: 'application/octet-stream',
  digest: digest(bytes),
  size: bytes.length,
  annotations: { 'org.opencontainers.image.title': title, 'io.ferry.role': role },
});
const stanza = (name: string, file: string, sha: string, size: number) => `Package: ${name}\nVersion: 1\nArchitecture: amd64\nFilename: ${file}\nSize: ${size}\nSHA256: ${sha}\n`;

async function run(index: string) {
  const bytes = Buffer.from(index);
  const layers = [layer('pool/main/j/jq/jq_1_amd64.deb', 'package', deb), layer('dists/bookworm/main/binary-amd64/Packages', 'generated-index', bytes)];
  const blobs = new Map(layers.map((l, i) => [l.digest, i === 0 ? deb : bytes]));
  return generatedIndexes('bookworm', layers, async (d) => blobs.get(d)!);
}

describe('a filtered APT repository whose index disagrees with the bundle', () => {
  it('an index that matches the bundle is published', async () => {
    const got = await run(stanza('jq', 'pool/main/j/jq/jq_1_amd64.deb', digest(deb).slice(7), deb.length));
    expect(got.map((i) => i.path)).toEqual(['main/binary-amd64/Packages']);
  });

  it('an index naming a .deb the bundle does not carry, or with another hash or size, is refused before anything is signed, every package named', async () => {
    const index = [
      stanza('jq', 'pool/main/j/jq/jq_1_amd64.deb', digest(deb).slice(7), deb.length),
      stanza('ghost', 'pool/main/g/ghost/ghost_1_amd64.deb', 'a'.repeat(64), 10),
      stanza('jq2', 'pool/main/j/jq/jq_1_amd64.deb', 'b'.repeat(64), deb.length),
      stanza('jq3', 'pool/main/j/jq/jq_1_amd64.deb', digest(deb).slice(7), 999),
    ].join('\n');
    const err = (await run(index).catch((e: unknown) => e)) as FerryError;
    expect(err).toBeInstanceOf(FerryError);
    expect(err.code).toBe('VERIFY');
    expect(err.message).toBe('apt bookworm generated index dists/bookworm/main/binary-amd64/Packages: the index names 3 packages the bundle does not carry as listed');
    expect(err.details).toEqual([
      'ghost: "pool/main/g/ghost/ghost_1_amd64.deb" is not in the bundle',
      `jq2: "pool/main/j/jq/jq_1_amd64.deb" has SHA256 ${'b'.repeat(64)}, the bundle's is ${digest(deb).slice(7)}`,
      `jq3: "pool/main/j/jq/jq_1_amd64.deb" has Size 999, the bundle's is ${deb.length}`,
    ]);
  });
});
