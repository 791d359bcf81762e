import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBundleFile, openBundleOutput, parseSize } from '../../../src/store/split-file.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-split-unit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parseSize', () => {
  it('reads binary suffixes, decimal ones and plain bytes', () => {
    expect(parseSize('4G')).toBe(4 * 1024 ** 3);
    expect(parseSize('4GiB')).toBe(4 * 1024 ** 3);
    expect(parseSize('700M')).toBe(700 * 1024 ** 2);
    expect(parseSize('4.7GB')).toBe(4.7e9);
    expect(parseSize('1k')).toBe(1024);
    expect(parseSize('2T')).toBe(2 * 1024 ** 4);
    expect(parseSize('1048576')).toBe(1048576);
  });
  it('refuses what is not a size, and sizes under one tar block', () => {
    expect(() => parseSize('4X')).toThrow(/not a size/);
    expect(() => parseSize('-1')).toThrow(/not a size/);
    expect(() => parseSize('100')).toThrow(/at least 512/);
  });
});

describe('split writer and reader', () => {
  it('cuts writes across part boundaries and reads them back as one file', async () => {
    const data = randomBytes(10_000);
    const out = path.join(dir, 'x.tar');
    const w = await openBundleOutput(out, 1024);
    // Uneven writes, so boundaries fall inside writes.
    let pos = 0;
    for (const n of [100, 3000, 1, 4000, 2899]) {
      await w.write(data, pos, n, pos);
      pos += n;
    }
    const r = await w.commit();
    expect(r.size).toBe(10_000);
    expect(r.parts!.map((p) => p.size)).toEqual([1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 784]);
    expect((await readdir(dir)).filter((f) => f.endsWith('.partial'))).toEqual([]);
    const joined = Buffer.concat(await Promise.all(r.parts!.map((p) => readFile(p.file))));
    expect(joined.equals(data)).toBe(true);

    for (const name of ['x.tar.001', 'x.tar.parts', 'x.tar']) {
      const f = await openBundleFile(path.join(dir, name));
      try {
        expect(f.size).toBe(10_000);
        const buf = Buffer.alloc(3000);
        let got = 0;
        while (got < 3000) got += (await f.read(buf, got, 3000 - got, 1000 + got)).bytesRead;
        expect(buf.equals(data.subarray(1000, 4000))).toBe(true);
        const sync = Buffer.alloc(10);
        expect(f.readSync(sync, 0, 10, 2045)).toBe(3); // stops at the part's end
        expect(sync.subarray(0, 3).equals(data.subarray(2045, 2048))).toBe(true);
        const chunks: Buffer[] = [];
        for await (const c of f.createReadStream(1020, 5000)) chunks.push(c as Buffer);
        expect(Buffer.concat(chunks).equals(data.subarray(1020, 5001))).toBe(true);
      } finally {
        await f.close();
      }
    }
  });

  it('names a missing part, and an unlisted list', async () => {
    const out = path.join(dir, 'y.tar');
    const w = await openBundleOutput(out, 512);
    await w.write(Buffer.alloc(2000), 0, 2000, 0);
    await w.commit();
    await rm(`${out}.002`);
    await expect(openBundleFile(`${out}.001`)).rejects.toMatchObject({ details: ['part 002 of 4: y.tar.002 is missing'] });
    await writeFile(`${out}.parts`, 'garbage\n');
    await expect(openBundleFile(`${out}.001`)).rejects.toThrow(/line 1: expected/);
  });
});

describe('single-file reader', () => {
  const collect = async (s: NodeJS.ReadableStream) => {
    const chunks: Buffer[] = [];
    for await (const c of s) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };

  it('reads the file it opened, even after another file takes its name', async () => {
    const file = path.join(dir, 'swap.tar');
    const original = randomBytes(4096);
    await writeFile(file, original);
    const f = await openBundleFile(file);
    try {
      // What a hostile neighbour (or a careless copy) does mid-import: a new file under the name.
      await writeFile(file + '.new', Buffer.alloc(4096, 0x41));
      await rename(file + '.new', file);
      expect(await collect(f.createReadStream(100, 199))).toEqual(original.subarray(100, 200));
      const buf = Buffer.alloc(50);
      expect(f.readSync(buf, 0, 50, 1000)).toBe(50);
      expect(buf).toEqual(original.subarray(1000, 1050));
    } finally {
      await f.close();
    }
  });

  it('many reads at once, interleaved, each get their own range', async () => {
    const file = path.join(dir, 'many.tar');
    const data = randomBytes(3 << 20);
    await writeFile(file, data);
    const f = await openBundleFile(file);
    try {
      const ranges = Array.from({ length: 40 }, (_, i) => [i * 70_001, i * 70_001 + 65_536 * (1 + (i % 3))] as const);
      const got = await Promise.all(ranges.map(([s, e]) => collect(f.createReadStream(s, e))));
      ranges.forEach(([s, e], i) => expect(got[i].equals(data.subarray(s, e + 1))).toBe(true));
    } finally {
      await f.close();
    }
  });

  it('close stops the streams still open before it lets the descriptor go', async () => {
    const file = path.join(dir, 'close.tar');
    await writeFile(file, randomBytes(8 << 20));
    const f = await openBundleFile(file);
    const open = f.createReadStream(0, (8 << 20) - 1);
    open.pause();
    await f.close();
    expect(open.destroyed).toBe(true);
    expect(() => f.createReadStream(0, 10)).toThrow(/after the bundle was closed/);
  });
});
