import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { indexTar, tarHeader, tarPadding, TAR_END, type TarIndex } from '../../../src/store/tar-index.js';
import { mustRun } from '../../support/cli.js';
import { paxHeader, paxRecord, retype } from '../../support/tar-craft.js';

/**
 * Headers that GNU tar (and Python's tarfile) read differently from a plain walk of the headers:
 * a bundle verified by ferry must be the tar another tool extracts, so each of these is either
 * read as GNU tar reads it or refused, naming the byte where it is.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile46-tar-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const fileEntry = (name: string, body: Buffer) => Buffer.concat([tarHeader(name, body.length, 'file'), body, tarPadding(body.length)]);
const longName = (name: string) => {
  const data = Buffer.from(`${name}\0`);
  return retype(Buffer.concat([tarHeader('././@LongLink', data.length, 'file'), data, tarPadding(data.length)]), 'L');
};

async function write(name: string, bytes: Buffer): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return file;
}

async function outcome(file: string): Promise<FerryError | TarIndex> {
  return indexTar(file).catch((e: unknown) => e as FerryError);
}

/** What GNU tar lists: one name per line. */
async function gnuList(file: string): Promise<string[]> {
  return (await mustRun('tar', ['-tf', file])).stdout.split('\n').filter(Boolean);
}

function refused(got: FerryError | TarIndex, pattern: RegExp): void {
  expect(got).toBeInstanceOf(FerryError);
  expect((got as FerryError).code).toBe('VERIFY');
  expect((got as FerryError).message).toMatch(pattern);
}

describe('entries whose name GNU tar reads from elsewhere', () => {
  it('a global PAX header naming every later entry is refused (GNU tar renames both files to it; the index kept their own names)', async () => {
    const file = await write('global-path.tar', Buffer.concat([paxHeaderOfType([paxRecord('path', 'blobs/sha256/evil')], 'g'), fileEntry('blobs/a', Buffer.from('AAAA')), fileEntry('blobs/b', Buffer.from('BBBB')), TAR_END]));
    expect(await gnuList(file)).toEqual(['blobs/sha256/evil', 'blobs/sha256/evil']);
    refused(await outcome(file), /global-path\.tar: global PAX header at byte 0 sets "path" for every later entry; refusing it/);
  });

  it('a global header with a comment only (as git archive writes) is still read', async () => {
    const file = await write('global-comment.tar', Buffer.concat([paxHeaderOfType([paxRecord('comment', 'c0ffee')], 'g'), fileEntry('blobs/a', Buffer.from('AAAA')), TAR_END]));
    expect(await gnuList(file)).toEqual(['blobs/a']);
    const got = (await outcome(file)) as TarIndex;
    expect(got.entries.map((e) => e.name)).toEqual(['blobs/a']);
  });

  it('two PAX headers for one entry are refused (GNU tar takes the second path, tarfile the first)', async () => {
    const file = await write('two-pax.tar', Buffer.concat([paxHeader(paxRecord('path', 'blobs/first')), paxHeader(paxRecord('path', 'blobs/second')), fileEntry('blobs/a', Buffer.from('AAAA')), TAR_END]));
    expect(await gnuList(file)).toEqual(['blobs/second']);
    refused(await outcome(file), /a second PAX header for one entry at byte 1024/);
  });

  it('a GNU long name and a PAX path for one entry are refused (GNU tar takes the PAX path, tarfile the long name when it comes first)', async () => {
    const file = await write('long-and-pax.tar', Buffer.concat([longName('blobs/long'), paxHeader(paxRecord('path', 'blobs/pax')), fileEntry('blobs/a', Buffer.from('AAAA')), TAR_END]));
    expect(await gnuList(file)).toEqual(['blobs/pax']);
    refused(await outcome(file), /entry at byte 0 is named both by a GNU long name and a PAX path/);
  });

  it('a PAX sparse file (GNU tar --sparse --format=pax) is refused: GNU tar extracts it under GNU.sparse.name, not the name in its header', async () => {
    const src = path.join(dir, 'sparse-src');
    await writeFile(src, Buffer.alloc(0));
    await mustRun('truncate', ['-s', '1M', src]);
    const file = path.join(dir, 'pax-sparse.tar');
    await mustRun('tar', ['--format=pax', '--sparse', '-C', dir, '-cf', file, 'sparse-src']);
    expect(await gnuList(file)).toEqual(['sparse-src']);
    refused(await outcome(file), /pax-sparse\.tar: PAX header at byte 0 describes a GNU sparse file \("GNU\.sparse\.[a-z]+"\); bundles hold only regular files and directories/);
  });

  it('a PAX size describes the entry, not a GNU long name between them: the long name is read whole, as GNU tar reads it', async () => {
    // The PAX header sets size=5 for the file; the long name header keeps its own size (11).
    const file = await write('pax-size-long.tar', Buffer.concat([paxHeader(paxRecord('size', '5')), longName('blobs/long'), tarHeader('blobs/short', 0, 'file'), Buffer.from('12345'), tarPadding(5), TAR_END]));
    expect(await gnuList(file)).toEqual(['blobs/long']);
    const got = (await outcome(file)) as TarIndex;
    expect(got).not.toBeInstanceOf(FerryError);
    expect(got.entries.map((e) => [e.name, e.size])).toEqual([['blobs/long', 5]]);
  });
});

describe('files that are directories to other readers', () => {
  it("an old-style directory (type '\\0', name ending in /) carrying data is refused, not indexed as a file", async () => {
    const file = await write('areg-dir.tar', Buffer.concat([retype(fileEntry('blobs/d/', Buffer.from('DIRDATA')), '\0'), TAR_END]));
    expect((await mustRun('tar', ['-tvf', file])).stdout).toMatch(/^d/);
    refused(await outcome(file), /entry "blobs\/d\/" at byte 0 is a file with a directory's name/);
  });

  it('a regular file named "." is refused, not skipped (GNU tar lists it and its data)', async () => {
    const file = await write('dot-file.tar', Buffer.concat([fileEntry('.', Buffer.from('DOTDATA')), TAR_END]));
    expect(await gnuList(file)).toEqual(['.']);
    refused(await outcome(file), /entry "\." at byte 0 is a file with a directory's name/);
  });

  it('a directory entry carrying data is refused (tarfile reads that data as the next headers, GNU tar skips it)', async () => {
    const body = Buffer.from('x'.repeat(600));
    const file = await write('dir-data.tar', Buffer.concat([retype(Buffer.concat([tarHeader('blobs', body.length, 'file'), body, tarPadding(body.length)]), '5'), TAR_END]));
    refused(await outcome(file), /directory "blobs" at byte 0 carries 600 bytes of data/);
  });
});

/** A PAX header of type `type` ('x' or 'g'). */
function paxHeaderOfType(records: string[], type: 'x' | 'g'): Buffer {
  return retype(paxHeader(records.join('')), type);
}
