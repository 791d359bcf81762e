import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors.js';
import { indexTar, parsePaxRecords, tarHeader, tarPadding, TAR_END } from '../../src/store/tar-index.js';
import { mustRun } from '../support/cli.js';
import { paxHeader, paxRecord, rechecksum, retype } from '../support/tar-craft.js';

/** Tar headers a ferry bundle never has, written by hand: what the index makes of each. */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile3-tar-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const fileEntry = (name: string, body: Buffer) => Buffer.concat([tarHeader(name, body.length, 'file'), body, tarPadding(body.length)]);

async function outcome(name: string, bytes: Buffer): Promise<FerryError | Awaited<ReturnType<typeof indexTar>>> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return indexTar(file).catch((e: unknown) => e as FerryError);
}

describe('PAX sizes and records that only a lax reader accepts', () => {
  it.each([['0x200'], ['1e3'], [''], ['-1'], [' 512'], ['99999999999999999999']])('size=%j is refused, naming it (Number() used to read hex, exponents and "" as sizes)', async (value) => {
    const got = await outcome(`pax-size-${value.length}.tar`, Buffer.concat([paxHeader(paxRecord('size', value)), fileEntry('blobs/a', Buffer.alloc(512, 0x61)), TAR_END]));
    expect(got).toBeInstanceOf(FerryError);
    expect((got as FerryError).message).toMatch(`invalid PAX size ${JSON.stringify(value)}`);
  });

  it('GNU tar refuses the same hex size, so the two readers agree', async () => {
    const file = path.join(dir, 'pax-size-hex.tar');
    await writeFile(file, Buffer.concat([paxHeader(paxRecord('size', '0x200')), fileEntry('blobs/a', Buffer.alloc(512, 0x61)), TAR_END]));
    const r = await mustRun('tar', ['-tvf', file]).then(
      (x) => x.stderr,
      (e: Error) => e.message,
    );
    expect(r).toMatch(/size=0x200|Malformed extended header|invalid/i);
  });

  it('record lengths that are not plain decimals, or that do not end on a newline, are malformed', () => {
    expect(() => parsePaxRecords(Buffer.from('+13 path=abc\n'))).toThrow(/malformed PAX record/);
    expect(() => parsePaxRecords(Buffer.from('13abc path=a\n'))).toThrow(/malformed PAX record/);
    expect(() => parsePaxRecords(Buffer.from('12 path=abcd'))).toThrow(/malformed PAX record/);
    expect(() => parsePaxRecords(Buffer.from('99999999999 path=a\n'))).toThrow(/malformed PAX record/);
    expect(parsePaxRecords(Buffer.from(paxRecord('path', 'a/b') + paxRecord('size', '7')))).toEqual({ path: 'a/b', size: '7' });
  });
});

describe('other headers a bundle never holds', () => {
  it('a GNU long name over 1 MiB is refused before it is read whole', async () => {
    const long = Buffer.alloc((1 << 20) + 1, 0x61);
    const got = await outcome('gnu-long.tar', Buffer.concat([retype(Buffer.concat([tarHeader('././@LongLink', long.length, 'file'), long, tarPadding(long.length)]), 'L'), fileEntry('x', Buffer.alloc(0)), TAR_END]));
    expect((got as FerryError).message).toMatch(/oversized GNU long name header at byte 0/);
  });

  it('base-256 sizes: a small one reads like octal, a negative one and one past 2^53 are refused', async () => {
    const base256 = (size: Buffer) => {
      const h = Buffer.from(tarHeader('blobs/b', 0, 'file'));
      size.copy(h, 124);
      return rechecksum(h);
    };
    const ok = await outcome('b256-ok.tar', Buffer.concat([base256(Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00])), Buffer.alloc(512, 0x62), TAR_END]));
    expect(ok).not.toBeInstanceOf(FerryError);
    expect((ok as Awaited<ReturnType<typeof indexTar>>).byName.get('blobs/b')).toMatchObject({ size: 512, offset: 512 });
    const negative = await outcome('b256-neg.tar', Buffer.concat([base256(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), TAR_END]));
    expect((negative as FerryError).message).toMatch(/invalid size field at byte 0/);
    const huge = await outcome('b256-huge.tar', Buffer.concat([base256(Buffer.from([0x80, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0])), TAR_END]));
    expect((huge as FerryError).message).toMatch(/invalid size field at byte 0/);
  });

  it('a PAX size larger than the file, a GNU sparse entry and a contiguous-file entry', async () => {
    const past = await outcome('pax-past.tar', Buffer.concat([paxHeader(paxRecord('size', String(1 << 30))), fileEntry('blobs/c', Buffer.alloc(0)), TAR_END]));
    expect((past as FerryError).message).toMatch(/runs past the end of the file/);
    const sparse = await outcome('sparse.tar', Buffer.concat([retype(fileEntry('blobs/s', Buffer.alloc(0)), 'S'), TAR_END]));
    expect((sparse as FerryError).message).toMatch(/is a GNU sparse file; bundles hold only regular files/);
    const contiguous = await outcome('contiguous.tar', Buffer.concat([retype(fileEntry('blobs/k', Buffer.from('k')), '7'), TAR_END]));
    expect((contiguous as Awaited<ReturnType<typeof indexTar>>).byName.get('blobs/k')).toMatchObject({ type: 'file', size: 1 });
  });
});
