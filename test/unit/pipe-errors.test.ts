import { PassThrough, Readable, Transform } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { pipeWithErrors } from '../../src/net/http.js';

/** Reads `s` to the end, or gives up after `ms` (a hang is a failure, not a timing to meet). */
async function readOrHang(s: Readable, ms = 5000): Promise<'ended' | Error | 'hung'> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), ms)));
  const read = (async () => {
    try {
      for await (const _ of s) void _;
      return 'ended' as const;
    } catch (err) {
      return err as Error;
    }
  })();
  try {
    return await Promise.race([read, hung]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a response body piped through a transform (resumed downloads, size caps)', () => {
  it('a body that failed before it was piped fails the transform: the reader gets the error, it does not wait for ever', async () => {
    const body = new PassThrough();
    body.on('error', () => undefined); // what the HTTP client's own handling does
    body.write('first part');
    body.destroy(new Error('other side closed'));
    await tick();
    await tick();
    const got = await readOrHang(pipeWithErrors(body, new Transform({ transform: (c, _e, cb) => cb(null, c) })));
    expect(got).toBeInstanceOf(Error);
  });

  it('a body that fails while piped fails the transform', async () => {
    const body = new PassThrough();
    const piped = pipeWithErrors(body, new Transform({ transform: (c, _e, cb) => cb(null, c) }));
    setTimeout(() => body.destroy(new Error('reset')), 10);
    expect(await readOrHang(piped)).toMatchObject({ message: 'reset' });
  });

  it('a transform that fails (a size cap) stops the body too', async () => {
    const body = Readable.from([Buffer.alloc(10), Buffer.alloc(10)]);
    const piped = pipeWithErrors(body, new Transform({ transform: (_c, _e, cb) => cb(new Error('too big')) }));
    expect(await readOrHang(piped)).toMatchObject({ message: 'too big' });
    await tick();
    expect(body.destroyed).toBe(true);
  });

  it('a body that ends ends the transform, every byte through', async () => {
    const body = Readable.from([Buffer.from('ab'), Buffer.from('cd')]);
    const chunks: Buffer[] = [];
    const piped = pipeWithErrors(body, new Transform({ transform: (c, _e, cb) => cb(null, c) }));
    for await (const c of piped) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('abcd');
  });
});
