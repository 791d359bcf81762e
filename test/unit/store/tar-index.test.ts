import { mkdir, mkdtemp, open, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { indexTar, MAX_TAR_ENTRIES, tarHeader, tarPadding, TAR_END } from '../../../src/store/tar-index.js';
import { mustRun } from '../../support/cli.js';
import { paxHeader, paxRecord } from '../../support/tar-craft.js';

let dir: string;
const longName = `deep/${'a'.repeat(60)}/${'b'.repeat(60)}/file-with-a-long-name.txt`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-tar-index-'));
  const src = path.join(dir, 'src');
  await mkdir(path.join(src, path.dirname(longName)), { recursive: true });
  await writeFile(path.join(src, longName), 'long\n');
  await writeFile(path.join(src, 'short.txt'), 'hello world\n');
  await writeFile(path.join(src, 'empty'), '');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function expectRefused(file: string, pattern: RegExp): Promise<void> {
  const err = await indexTar(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FerryError);
  expect((err as FerryError).code).toBe('VERIFY');
  expect((err as FerryError).message).toMatch(pattern);
}

async function readEntry(file: string, offset: number, size: number): Promise<string> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(size);
    await fh.read(b, 0, size, offset);
    return b.toString('utf8');
  } finally {
    await fh.close();
  }
}

describe('indexTar on tars written by other tools', () => {
  for (const format of ['pax', 'gnu', 'ustar'] as const) {
    it(`GNU tar --format=${format}: names (long ones too), sizes and data offsets`, async () => {
      const file = path.join(dir, `gnu-${format}.tar`);
      // ustar cannot hold a 130-byte name without a prefix split; GNU tar does that split.
      await mustRun('tar', [`--format=${format}`, '-cf', file, '-C', path.join(dir, 'src'), 'short.txt', 'empty', longName]);
      const idx = await indexTar(file);
      const short = idx.byName.get('short.txt')!;
      expect(short.type).toBe('file');
      expect(await readEntry(file, short.offset, short.size)).toBe('hello world\n');
      expect(idx.byName.get('empty')!.size).toBe(0);
      const long = idx.byName.get(longName)!;
      expect(await readEntry(file, long.offset, long.size)).toBe('long\n');
    });
  }

  it('node-tar (PAX long names, ./ prefixes, directories)', async () => {
    const file = path.join(dir, 'node-tar.tar');
    await tar.c({ file, cwd: path.join(dir, 'src'), portable: true }, ['./short.txt', 'deep']);
    const idx = await indexTar(file);
    expect(idx.byName.get('short.txt')?.size).toBe(12);
    expect(idx.byName.get('deep')?.type).toBe('directory');
    const long = idx.byName.get(longName)!;
    expect(await readEntry(file, long.offset, long.size)).toBe('long\n');
  });

  it('refuses a symbolic link', async () => {
    const src = path.join(dir, 'withlink');
    await mkdir(src, { recursive: true });
    await writeFile(path.join(src, 'target'), 'x');
    await symlink('/etc/passwd', path.join(src, 'link'));
    const file = path.join(dir, 'symlink.tar');
    await mustRun('tar', ['-cf', file, '-C', src, 'target', 'link']);
    await expectRefused(file, /"link" is a symbolic link/);
  });

  it('refuses a hard link', async () => {
    const src = path.join(dir, 'hl');
    await mkdir(src, { recursive: true });
    await writeFile(path.join(src, 'a'), 'x');
    await mustRun('ln', [path.join(src, 'a'), path.join(src, 'b')]);
    const file = path.join(dir, 'hardlink.tar');
    // GNU tar stores the second name of one inode as a hard link entry.
    await mustRun('tar', ['-cf', file, '-C', src, 'a', 'b']);
    await expectRefused(file, /"b" is a hard link/);
  });

  it('refuses .. and absolute paths written by GNU tar -P', async () => {
    const inner = path.join(dir, 'inner');
    await mkdir(inner, { recursive: true });
    const dotdot = path.join(dir, 'dotdot.tar');
    await mustRun('tar', ['-P', '-cf', dotdot, '../src/short.txt'], { cwd: inner });
    await expectRefused(dotdot, /climbs out of the archive/);
    const abs = path.join(dir, 'abs.tar');
    await mustRun('tar', ['-P', '-cf', abs, path.join(dir, 'src', 'short.txt')]);
    await expectRefused(abs, /absolute path/);
  });

  it('refuses duplicate names', async () => {
    const file = path.join(dir, 'dup.tar');
    await mustRun('tar', ['-cf', file, '-C', path.join(dir, 'src'), 'short.txt']);
    await mustRun('tar', ['-rf', file, '-C', path.join(dir, 'src'), 'short.txt']);
    await expectRefused(file, /"short.txt" appears twice/);
  });

  it('refuses a truncated tar and a damaged header', async () => {
    const file = path.join(dir, 'trunc.tar');
    await mustRun('tar', ['-cf', file, '-C', path.join(dir, 'src'), 'short.txt', 'empty']);
    const fh = await open(file, 'r+');
    await fh.truncate(600);
    await fh.close();
    await expectRefused(file, /truncated/);
    const bad = path.join(dir, 'badsum.tar');
    await mustRun('tar', ['-cf', bad, '-C', path.join(dir, 'src'), 'short.txt']);
    const fh2 = await open(bad, 'r+');
    await fh2.write(Buffer.from('Z'), 0, 1, 3);
    await fh2.close();
    await expectRefused(bad, /bad header checksum/);
  });
});

describe('tarHeader (the writer)', () => {
  it('GNU tar lists and extracts what it writes, long names through PAX', async () => {
    const file = path.join(dir, 'ours.tar');
    const body = Buffer.from('content\n');
    const name = `blobs/${'x'.repeat(120)}`;
    await writeFile(
      file,
      Buffer.concat([tarHeader('blobs', 0, 'directory'), tarHeader(name, body.length, 'file'), body, tarPadding(body.length), TAR_END]),
    );
    const listed = await mustRun('tar', ['-tvf', file]);
    expect(listed.stdout).toContain(name);
    expect(listed.stdout).toMatch(/-rw-r--r-- 0\/0 +8 1970-01-01 00:00 blobs\/x{120}/);
    const out = path.join(dir, 'ours-x');
    await mkdir(out);
    await mustRun('tar', ['-xf', file, '-C', out]);
    const idx = await indexTar(file);
    expect(idx.byName.get(name)?.size).toBe(8);
  });

  it('refuses .. even in a tar it could write', async () => {
    const file = path.join(dir, 'evil.tar');
    await writeFile(file, Buffer.concat([tarHeader('blobs/../../etc/x', 1, 'file'), Buffer.from('x'), tarPadding(1), TAR_END]));
    await expectRefused(file, /climbs out/);
  });

  it('sizes beyond the octal field go through a PAX size record (sparse 9 GB file)', async () => {
    const file = path.join(dir, 'huge.tar');
    const size = 9 * 1024 ** 3 + 3;
    const header = tarHeader('big.bin', size, 'file');
    const fh = await open(file, 'w');
    try {
      await fh.write(header, 0, header.length, 0);
      const end = header.length + size + tarPadding(size).length;
      await fh.write(TAR_END, 0, TAR_END.length, end);
    } finally {
      await fh.close();
    }
    const idx = await indexTar(file);
    expect(idx.byName.get('big.bin')).toMatchObject({ size, offset: header.length });
    await rm(file);
  });
});

describe('indexTar bounds', () => {
  /** A tar of `n` zero-byte files (f0, f1 …), written 10 000 headers at a time. */
  const manyEntries = async (file: string, n: number) => {
    const fh = await open(file, 'w');
    for (let i = 0; i < n; i += 10_000) {
      await fh.write(Buffer.concat(Array.from({ length: Math.min(10_000, n - i) }, (_, j) => tarHeader(`f${i + j}`, 0, 'file'))));
    }
    await fh.write(TAR_END);
    await fh.close();
  };

  it('indexes 90 000 entries (a whole Debian suite is ~65 000 .debs)', async () => {
    const file = path.join(dir, 'ninety-thousand.tar');
    await manyEntries(file, 90_000);
    const idx = await indexTar(file);
    expect(idx.entries.length).toBe(90_000);
    expect(idx.byName.get('f89999')).toMatchObject({ name: 'f89999', type: 'file', size: 0, offset: 89_999 * 512 + 512 });
    await rm(file);
  });

  it('refuses more entries than a bundle holds, before indexing them all', async () => {
    expect(MAX_TAR_ENTRIES).toBe(90_000);
    const file = path.join(dir, 'many-entries.tar');
    await manyEntries(file, MAX_TAR_ENTRIES + 1);
    await expectRefused(file, /more than 90000 entries; refusing to index it/);
    await rm(file);
  });

  it('refuses names longer than 1 KiB (a PAX path) and PAX metadata piling up over 1 MiB for one entry', async () => {
    const longPath = path.join(dir, 'long-pax.tar');
    await writeFile(longPath, Buffer.concat([paxHeader(paxRecord('path', 'a/'.repeat(600) + 'x')), tarHeader('x', 0, 'file'), TAR_END]));
    await expectRefused(longPath, /has a name of 1201 bytes \(at most 1024\)/);

    const piled = path.join(dir, 'piled-pax.tar');
    const one = paxHeader(paxRecord('comment', 'c'.repeat(600 * 1024)));
    await writeFile(piled, Buffer.concat([one, one, tarHeader('x', 0, 'file'), TAR_END]));
    await expectRefused(piled, /oversized PAX header .*more than 1048576 bytes of metadata for one entry/);
  });
});
