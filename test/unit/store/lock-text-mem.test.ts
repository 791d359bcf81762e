import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { pinnedFileChunks } from '../../../src/commands/bundle-create.js';
import { fileHasChunks, fileHasText, writeLock } from '../../../src/commands/lock.js';
import { lockTextChunks, serializeLock } from '../../../src/manifest/load.js';
import { holdYoung } from '../../../src/store/young-gc.js';

const digest = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const tmp = () => mkdtemp(path.join(os.tmpdir(), 'ferry-lock-mem-'));

describe('a lock file not held whole', () => {
  it('fileHasText: equal only for the same bytes (size, then content), false for a missing file', async () => {
    const dir = await tmp();
    const file = path.join(dir, 'a.lock.json');
    const text = '{\n  "ü": "' + 'x'.repeat(3 << 20) + '"\n}\n';
    expect(await fileHasText(file, text)).toBe(false);
    await writeFile(file, text);
    expect(await fileHasText(file, text)).toBe(true);
    expect(await fileHasText(file, text.replace('ü', 'u'))).toBe(false);
    expect(await fileHasText(file, text.replace('xx', 'xy'))).toBe(false);
  });

  it('pinnedFileChunks: the file again on each call, in slices; a changed file fails the pass', async () => {
    const dir = await tmp();
    const file = path.join(dir, 'b.lock.json');
    const bytes = Buffer.alloc((2 << 20) + 17, 'q');
    await writeFile(file, bytes);
    const chunks = pinnedFileChunks(file, digest(bytes));
    for (let pass = 0; pass < 2; pass++) {
      const got = [...chunks()];
      expect(got.length).toBe(3);
      expect(Buffer.concat(got).equals(bytes)).toBe(true);
    }
    await writeFile(file, Buffer.concat([bytes.subarray(1), Buffer.from('r')]));
    expect(() => [...chunks()]).toThrow(/changed while the bundle was being created/);
  });
});

describe('holdYoung', () => {
  it('returns what fn returns and passes its failure on; the young generation does not grow while held', async () => {
    const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
    const before = young();
    const kept = await holdYoung(async () => {
      const list: object[] = [];
      for (let i = 0; i < 300_000; i++) list.push({ i, s: `item ${i}` });
      return list;
    });
    expect(kept.length).toBe(300_000);
    expect(young()).toBeLessThanOrEqual(before);
    await expect(holdYoung(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });
});

describe('a lock file written in pieces', () => {
  it('lockTextChunks: serializeLock\'s text byte for byte, in pieces of bounded size', () => {
    const packages = Array.from({ length: 3000 }, (_, i) => ({ name: `p${i}`, version: '1:2.0~rc1', architecture: 'amd64', filename: `pool/main/p/p${i}.deb`, sha256: 'a'.repeat(64), size: i, gone: undefined }));
    const lock = {
      version: 1,
      note: 'line\nbreak "quoted" ü \u2028 \u0007',
      empty: [],
      none: {},
      nothing: null,
      skipped: undefined,
      fn: () => 1,
      when: new Date(0),
      nested: [[], [{}], [1, 'two', null, undefined], { deep: { deeper: [{ x: [true, false] }] } }],
      apt: [{ name: 'big', suites: [{ suite: 'bookworm', release: [], packages }], unsatisfied: [] }],
    };
    const pieces = [...lockTextChunks(lock)];
    expect(pieces.join('')).toBe(serializeLock(lock));
    expect(pieces.length).toBeGreaterThan(5);
    for (const p of pieces) expect(p.length).toBeLessThan(64 * 1024 + 1024);
    for (const v of [{}, [], { a: [] }, { a: { b: {} } }]) expect([...lockTextChunks(v)].join('')).toBe(serializeLock(v));
  });

  it('writeLock in pieces: the same file as the text, compared by fileHasChunks, replaced when it differs', async () => {
    const dir = await tmp();
    const file = path.join(dir, 'c.lock.json');
    const lock = { apt: Array.from({ length: 2000 }, (_, i) => ({ name: `ü${i}`, size: i })) };
    expect(await fileHasChunks(file, () => lockTextChunks(lock))).toBe(false);
    await writeLock(file, () => lockTextChunks(lock), 'lock');
    expect(await readFile(file, 'utf8')).toBe(serializeLock(lock));
    expect(await fileHasChunks(file, () => lockTextChunks(lock))).toBe(true);
    const changed = { apt: [...lock.apt, { name: 'one more', size: 1 }] };
    expect(await fileHasChunks(file, () => lockTextChunks(changed))).toBe(false);
    await writeLock(file, () => lockTextChunks(changed), 'lock');
    expect(await readFile(file, 'utf8')).toBe(serializeLock(changed));
  });
});
