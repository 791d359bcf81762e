import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { HttpClient, readCapped } from '../../../src/net/http.js';
import { LOW_SPEED_DEFAULTS, SlowTransferError, lowSpeedFromEnv, type LowSpeedPolicy } from '../../../src/net/low-speed.js';
import type { RetryPolicy } from '../../../src/net/retry.js';

const FAST: RetryPolicy = { retries: 1, minTimeoutMs: 5, maxTimeoutMs: 20, maxRetryAfterMs: 5_000 };
const POLICY: LowSpeedPolicy = { limitBytesPerSec: 1024, windowMs: 400, wholeBodyMs: 0 };
const BIG = Buffer.alloc(2 * 1024 * 1024, 0x62);

let server: http.Server;
let base: string;
const sockets = new Set<Socket>();
const timers = new Set<NodeJS.Timeout>();
let flip = 0;

/** Write `chunk` every `everyMs` until `total` bytes went out. */
function drip(res: http.ServerResponse, total: number, chunk: number, everyMs: number): void {
  let sent = 0;
  const t = setInterval(() => {
    if (res.destroyed || sent >= total) {
      clearInterval(t);
      if (!res.destroyed) res.end();
      return;
    }
    const n = Math.min(chunk, total - sent);
    res.write(Buffer.alloc(n, 0x61));
    sent += n;
  }, everyMs);
  timers.add(t);
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    res.on('error', () => {});
    switch (req.url) {
      case '/drip': // a byte every 50 ms: 20 B/s, never idle long enough for an idle timeout
        res.writeHead(200, { 'content-length': '100000' });
        drip(res, 100_000, 1, 50);
        return;
      case '/silent': // accepts, reads the request, never answers
        return;
      case '/steady': // 8 KiB/s (above the limit) of a 16 KiB body
        res.writeHead(200, { 'content-length': String(16 * 1024) });
        drip(res, 16 * 1024, 1024, 125);
        return;
      case '/short':
        res.writeHead(200, { 'content-length': '10' }).end('0123456789');
        return;
      case '/big':
        res.writeHead(200, { 'content-length': String(BIG.length) }).end(BIG);
        return;
      case '/drip-then-ok': // every other request drips
        if (flip++ % 2 === 0) {
          res.writeHead(200, { 'content-length': '10' });
          drip(res, 10, 1, 1000);
        } else res.writeHead(200, { 'content-length': '10' }).end('0123456789');
        return;
      default:
        res.writeHead(404).end();
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const t of timers) clearInterval(t);
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

const client = (lowSpeed: LowSpeedPolicy = POLICY) => new HttpClient({ lowSpeed, retry: FAST });

async function drain(body: NodeJS.ReadableStream): Promise<number> {
  let n = 0;
  for await (const c of body) n += (c as Buffer).length;
  return n;
}

describe('low-speed limit', () => {
  it('aborts a body that drips below the limit, naming the URL (an idle timeout never would)', async () => {
    const c = client();
    const res = await c.request(`${base}/drip`);
    const err = await drain(res.body).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SlowTransferError);
    expect((err as Error).message).toContain(`GET ${base}/drip: too slow`);
    expect((err as SlowTransferError).hint).toContain('FERRY_SPEED_LIMIT');
    await c.close();
  });

  it('keeps the error for a reader that comes late (no unhandled error before anyone reads)', async () => {
    const c = client();
    const res = await c.request(`${base}/drip`);
    await new Promise((r) => setTimeout(r, 4 * POLICY.windowMs));
    await expect(drain(res.body)).rejects.toBeInstanceOf(SlowTransferError);
    await c.close();
  });

  it('leaves alone a short body nobody reads', async () => {
    const c = client();
    const res = await c.request(`${base}/short`);
    await new Promise((r) => setTimeout(r, 4 * POLICY.windowMs));
    expect(await drain(res.body)).toBe(10);
    await c.close();
  });

  it('lets a body above the limit finish', async () => {
    const c = client();
    const res = await c.request(`${base}/steady`);
    expect(await drain(res.body)).toBe(16 * 1024);
    await c.close();
  });

  it('does not blame the server while the reader is the one not reading', async () => {
    const c = client();
    const res = await c.request(`${base}/big`);
    // Nothing read for five windows: the body's buffer is full, the server waits on ferry.
    await new Promise((r) => setTimeout(r, 5 * POLICY.windowMs));
    expect(await drain(res.body)).toBe(BIG.length);
    await c.close();
  });

  it('is off with a limit of 0', async () => {
    const c = client({ ...POLICY, limitBytesPerSec: 0 });
    const res = await c.request(`${base}/drip`);
    const got = await Promise.race([drain(res.body).then(() => 'ended', () => 'failed'), new Promise((r) => setTimeout(() => r('still running'), 3 * POLICY.windowMs))]);
    expect(got).toBe('still running');
    res.body.destroy();
    await c.close();
  });

  it('bounds the wait for response headers that never come', async () => {
    const c = client();
    const err = await c.request(`${base}/silent`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SlowTransferError);
    expect((err as Error).message).toContain(`GET ${base}/silent: no answer within`);
    await c.close();
  });

  it('goes through the retry policy: a slow attempt is retried, and giving up names the knob', async () => {
    const c = client();
    expect((await c.getBytes(`${base}/drip-then-ok`)).toString()).toBe('0123456789');
    const err = await c.getBytes(`${base}/drip`, { label: 'test index' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('NETWORK');
    expect((err as FerryError).message).toContain(`test index (${base}/drip)`);
    expect((err as FerryError).message).toContain('too slow');
    expect((err as FerryError).message).toContain('gave up after 2 attempts');
    expect((err as FerryError).hint).toContain('FERRY_SPEED_LIMIT');
    await c.close();
  });

  it('gives a body read whole a total deadline, even above the limit', async () => {
    const c = client({ ...POLICY, wholeBodyMs: 1000 });
    const res = await c.request(`${base}/steady`);
    const err = await readCapped(res.body, 1 << 20, 'too large').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SlowTransferError);
    expect((err as Error).message).toContain(`GET ${base}/steady: still arriving after 1 s`);
    expect((err as SlowTransferError).hint).toContain('FERRY_WHOLE_BODY_TIMEOUT_MS');
    await c.close();
  });
});

describe('lowSpeedFromEnv', () => {
  it('defaults to under 1 KiB/s for 60 s and 10 min for a whole answer', () => {
    expect(lowSpeedFromEnv({})).toEqual(LOW_SPEED_DEFAULTS);
    expect(LOW_SPEED_DEFAULTS).toEqual({ limitBytesPerSec: 1024, windowMs: 60_000, wholeBodyMs: 600_000 });
  });

  it('reads the three variables', () => {
    expect(lowSpeedFromEnv({ FERRY_SPEED_LIMIT: '0', FERRY_SPEED_TIME_MS: '1000', FERRY_WHOLE_BODY_TIMEOUT_MS: '5000' })).toEqual({ limitBytesPerSec: 0, windowMs: 1000, wholeBodyMs: 5000 });
  });

  it('reports every bad value at once', () => {
    let err: unknown;
    try {
      lowSpeedFromEnv({ FERRY_SPEED_LIMIT: '1k', FERRY_SPEED_TIME_MS: '5', FERRY_WHOLE_BODY_TIMEOUT_MS: '-1' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('USAGE');
    for (const name of ['FERRY_SPEED_LIMIT', 'FERRY_SPEED_TIME_MS', 'FERRY_WHOLE_BODY_TIMEOUT_MS']) expect((err as Error).message).toContain(name);
  });
});
