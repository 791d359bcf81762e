import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { streamDeb822 } from '../../../src/kinds/apt/control.js';
import { openIndex, readPackages } from '../../../src/kinds/apt/repo.js';
import { BlobStore } from '../../../src/store/blob-store.js';

const MiB = 1 << 20;

async function storeWith(bytes: Buffer) {
  const s = new BlobStore(await mkdtemp(path.join(os.tmpdir(), 'ferry-apt-hostile-')));
  await s.init();
  const d = await s.putBytes(bytes);
  return { s, file: { path: 'main/binary-amd64/Packages.gz', sha256: d.digest.slice('sha256:'.length), size: d.size } };
}

async function drain(stream: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const c of stream) n += (c as Buffer).length ?? 1;
  return n;
}

describe('APT indexes from a signed but hostile repository', () => {
  it('a Packages.gz that expands past the bound is refused, naming it, as it expands', async () => {
    // 64 MiB of blank lines compress to ~64 KB: what a Release's hash cannot tell apart from a real index.
    const { s, file } = await storeWith(gzipSync(Buffer.alloc(64 * MiB, 0x0a)));
    const err = await drain(openIndex(s, file, 4 * MiB)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('VERIFY');
    expect((err as FerryError).message).toMatch(/main\/binary-amd64\/Packages\.gz: more than 4194304 bytes once decompressed/);
  });

  it('below the bound, the same index reads whole', async () => {
    const { s, file } = await storeWith(gzipSync(Buffer.alloc(2 * MiB, 0x0a)));
    expect(await drain(openIndex(s, file, 4 * MiB))).toBe(2 * MiB);
  });

  it('a damaged gzip fails the reader with the gzip error (no hang)', async () => {
    const good = gzipSync(Buffer.from('Package: a\nVersion: 1\n\n'.repeat(1000)));
    const { s, file } = await storeWith(Buffer.concat([good.subarray(0, good.length >> 1), Buffer.alloc(64, 0xff)]));
    await expect(drain(readPackages(s, file))).rejects.toThrow();
  });

  it('a paragraph that never ends is refused once it passes the bound, and the input stops being read', async () => {
    let produced = 0;
    const endless = new Readable({
      read() {
        produced += 64 * 1024;
        this.push(produced === 64 * 1024 ? 'Package: x\nDescription: ' : 'y'.repeat(64 * 1024));
      },
    });
    const err = await drain(streamDeb822(endless, false, undefined, 'dists/s/main/binary-amd64/Packages', MiB)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).message).toMatch(/^dists\/s\/main\/binary-amd64\/Packages: a paragraph longer than 1048576 characters/);
    expect(endless.destroyed).toBe(true);
    expect(produced).toBeLessThan(4 * MiB);
  });
});
