import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { eachChunk, STOP } from '../../../src/net/chunks.js';

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('eachChunk', () => {
  it('hands over every chunk in order, as pushed (no concatenation), and waits for a callback\'s promise before the next', async () => {
    const body = new PassThrough();
    const chunks = Array.from({ length: 20 }, (_, i) => Buffer.alloc(1000 + i, i));
    const seen: Buffer[] = [];
    let busy = false;
    const done = eachChunk(body, (c) => {
      expect(busy).toBe(false);
      seen.push(c);
      if (seen.length % 3) return;
      busy = true;
      return delay(5).then(() => {
        busy = false;
      });
    });
    // Written faster than consumed: the body buffers them while paused.
    for (const c of chunks) body.write(c);
    body.end();
    await done;
    expect(Buffer.concat(seen).equals(Buffer.concat(chunks))).toBe(true);
    expect(seen.every((c) => chunks.some((x) => x.length === c.length))).toBe(true);
  });

  it('STOP ends the read and destroys the body, also from a promise', async () => {
    for (const later of [false, true]) {
      const body = Readable.from([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')], { objectMode: false });
      const seen: string[] = [];
      await eachChunk(body, (c) => {
        seen.push(c.toString());
        if (c.toString() !== 'b') return;
        return later ? delay(1).then(() => STOP) : STOP;
      });
      expect(seen).toEqual(['a', 'b']);
      expect(body.destroyed).toBe(true);
    }
  });

  it('a callback\'s error, thrown or rejected, rejects and destroys the body', async () => {
    for (const reject of [false, true]) {
      const body = new PassThrough();
      const err = new Error('too long');
      const done = eachChunk(body, () => {
        if (reject) return Promise.reject(err);
        throw err;
      });
      body.write('x');
      await expect(done).rejects.toBe(err);
      expect(body.destroyed).toBe(true);
    }
  });

  it('the body\'s error and a premature close reject, also while a callback is pending', async () => {
    const failing = new PassThrough();
    const a = eachChunk(failing, () => delay(10));
    failing.write('x');
    failing.destroy(new Error('socket hang up'));
    await expect(a).rejects.toThrow('socket hang up');

    const cut = new PassThrough();
    const b = eachChunk(cut, () => undefined);
    cut.write('x');
    await delay(1);
    cut.destroy();
    await expect(b).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  it('an empty body resolves', async () => {
    const body = new PassThrough();
    const done = eachChunk(body, () => {
      throw new Error('no chunk expected');
    });
    body.end();
    await expect(done).resolves.toBeUndefined();
  });
});
