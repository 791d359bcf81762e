import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFerryError } from '../../../src/errors.js';
import { digestOf, LayoutDir, LayoutIndexWriter, LayoutWriters } from '../../../src/store/layout.js';
import { renameVerified, verifiedWrite } from '../../../src/store/verified-write.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-vw-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const body = Buffer.from('verified bytes');
const digest = digestOf(body);

describe('verifiedWrite', () => {
  it('renames into place only when digest and size match', async () => {
    const dest = path.join(dir, 'a', 'b.bin');
    expect(await verifiedWrite(dest, Readable.from([body]), { digest, size: body.length }, { label: 'thing' })).toBe(body.length);
    expect(await readFile(dest)).toEqual(body);
    expect(await readdir(path.dirname(dest))).toEqual(['b.bin']);
  });

  it('on a mismatch leaves nothing behind and names the artifact', async () => {
    const dest = path.join(dir, 'x.bin');
    const wrong = digestOf('other');
    const err = await verifiedWrite(dest, Readable.from([body]), { digest: wrong }, { label: 'charts.example.com/demo:1.2.3 chart', hint: 'do this' }).catch((e) => e);
    expect(isFerryError(err, 'VERIFY')).toBe(true);
    expect(err.message).toBe(`charts.example.com/demo:1.2.3 chart: digest mismatch (content hashes to ${digest})`);
    expect(err.hint).toBe('do this');
    expect(await readdir(dir)).toEqual([]);
  });

  it('stops at more bytes than expected', async () => {
    const err = await verifiedWrite(path.join(dir, 'y'), Readable.from([body, body]), { digest, size: body.length }, { label: 'big' }).catch((e) => e);
    expect(err.message).toBe(`big: more than the expected ${body.length} bytes`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('a resumable download ends in the same verified rename', async () => {
    const partial = path.join(dir, 'f.partial');
    await writeFile(partial, body);
    const err = await renameVerified(partial, path.join(dir, 'f'), { digest, size: 99 }, { digest, size: body.length }, { label: 'f' }).catch((e) => e);
    expect(err.message).toBe(`f: got ${body.length} bytes, expected 99`);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('LayoutIndexWriter', () => {
  const top = (ref: string, n: number) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(String(n)), size: n, annotations: { 'org.opencontainers.image.ref.name': ref } });

  it('deferred: many adds, index.json written once by flush, sorted, tags moved', async () => {
    const layout = new LayoutDir(dir);
    await layout.init();
    let writes = 0;
    const writeIndex = layout.writeIndex.bind(layout);
    layout.writeIndex = async (index) => {
      writes++;
      return writeIndex(index);
    };
    const w = new LayoutIndexWriter(layout, { deferred: true });
    await Promise.all(Array.from({ length: 500 }, (_, i) => w.add([top(`r/${String(i).padStart(3, '0')}:1`, i)])));
    await w.add([top('r/000:1', 1000)]);
    expect(await w.hasRef('r/000:1', digestOf('1000'))).toBe(true);
    expect(writes).toBe(0);
    await expect(layout.readIndex()).rejects.toSatisfy((e) => isFerryError(e, 'NOT_FOUND'));
    await w.flush();
    expect(writes).toBe(1);
    const idx = await layout.readIndex();
    expect(idx.manifests).toHaveLength(500);
    expect(idx.manifests[0].digest).toBe(digestOf('1000'));
    expect(idx.manifests.map((m) => m.annotations!['org.opencontainers.image.ref.name'])).toEqual([...idx.manifests.map((m) => m.annotations!['org.opencontainers.image.ref.name'])].sort());
  });

  it('not deferred: each add is on disk when it returns; concurrent adds share writes', async () => {
    const writers = new LayoutWriters();
    const w = await writers.forDir(dir);
    let writes = 0;
    const writeIndex = w.layout.writeIndex.bind(w.layout);
    w.layout.writeIndex = async (index) => {
      writes++;
      return writeIndex(index);
    };
    await Promise.all(Array.from({ length: 50 }, (_, i) => w.add([top(`r/${i}:1`, i)])));
    expect((await new LayoutDir(dir).readIndex()).manifests).toHaveLength(50);
    expect(writes).toBeLessThan(50);
    expect(await new LayoutDir(dir).hasRef('r/7:1', digestOf('7'))).toBe(true);
  });

  it('refuses an index.json above its cap without reading it', async () => {
    const layout = new LayoutDir(dir);
    await writeFile(path.join(dir, 'index.json'), '');
    const { truncate } = await import('node:fs/promises');
    await truncate(path.join(dir, 'index.json'), 65 * 1024 * 1024);
    await expect(layout.readIndex()).rejects.toThrow(/more than the 67108864 bytes/);
  });
});
