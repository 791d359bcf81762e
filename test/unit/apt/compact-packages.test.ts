import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { streamDeb822 } from '../../../src/kinds/apt/control.js';
import { own, PACKAGE_FIELDS, stanzaToPackage } from '../../../src/kinds/apt/repo.js';

const sha = 'AB'.repeat(32);
const paragraph = (i: number) =>
  [
    `Package: pkg-${i}`,
    'Version: 1:2.3-4',
    'Architecture: amd64',
    'Multi-Arch: foreign',
    'Provides: virtual-a, virtual-b (= 1)',
    'Pre-Depends: libc6 (>= 2.36)',
    'Depends: libfoo1, libbar2 | libbaz2',
    `Filename: pool/main/p/pkg-${i}/pkg-${i}_2.3-4_amd64.deb`,
    'Size: 1234',
    `SHA256: ${sha}`,
    'Description: a package',
    ' with a long description that the lock never reads',
    'Homepage: https://example.com/',
  ].join('\n');

async function parse(deps: boolean) {
  const out = [];
  for await (const st of streamDeb822(Readable.from([Buffer.from([paragraph(1), paragraph(2)].join('\n\n') + '\n')]), false, PACKAGE_FIELDS)) out.push(stanzaToPackage(st, 0, 'test', deps));
  return out;
}

describe('packages of an index, kept compact', () => {
  it('keeps only the fields the closure and the lock read', async () => {
    const [p] = await parse(true);
    expect(p).toEqual({
      source: 0,
      name: 'pkg-1',
      version: '1:2.3-4',
      architecture: 'amd64',
      multiArch: 'foreign',
      provides: [{ name: 'virtual-a' }, { name: 'virtual-b', op: '=', version: '1' }],
      dependsText: 'libc6 (>= 2.36), libfoo1, libbar2 | libbaz2',
      filename: 'pool/main/p/pkg-1/pkg-1_2.3-4_amd64.deb',
      sha256: sha.toLowerCase(),
      size: 1234,
    });
  });

  it('leaves out what only a closure reads when none is computed (every source whole)', async () => {
    const [p, q] = await parse(false);
    expect(p).toMatchObject({ name: 'pkg-1', filename: 'pool/main/p/pkg-1/pkg-1_2.3-4_amd64.deb', sha256: sha.toLowerCase(), size: 1234, provides: [], dependsText: '' });
    expect(p.multiArch).toBeUndefined();
    expect(q.name).toBe('pkg-2');
  });

  it('copies strings to equal values', () => {
    const long = 'x'.repeat(40) + 'tail';
    expect(own(long.slice(3))).toBe(long.slice(3));
    expect(own('short')).toBe('short');
    expect(own(undefined)).toBeUndefined();
  });
});
