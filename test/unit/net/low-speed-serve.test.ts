import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { speedTickMs, type LowSpeedPolicy } from '../../../src/net/low-speed.js';
import { sendRanged, watchSlowReader } from '../../../src/serve/http.js';

/** The send side of the low-speed limit: what `ferry serve` does with a client that stops reading. */
const POLICY: LowSpeedPolicy = { limitBytesPerSec: 1024, windowMs: 500, wholeBodyMs: 0 };
const SIZE = 256 * 1024 * 1024;
const CHUNK = Buffer.alloc(1 << 16, 0x61);

/** `size` bytes, made as they are read (nothing held), optionally `delayMs` between chunks. */
function source(size: number, chunk = CHUNK, delayMs = 0): Readable {
  let left = size;
  return new Readable({
    read() {
      const go = () => {
        const n = Math.min(chunk.length, left);
        left -= n;
        this.push(n > 0 ? chunk.subarray(0, n) : null);
      };
      if (delayMs) setTimeout(go, delayMs);
      else go();
    },
  });
}

let server: http.Server;
let port: number;
const closed: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    res.on('close', () => closed.push(req.url ?? ''));
    if (req.url === '/slow-source') {
      void sendRanged(req, res, 20, async () => source(20, Buffer.from('x'), 100), {}, POLICY);
      return;
    }
    void sendRanged(req, res, SIZE, async (start, end) => source(end - start + 1), {}, POLICY);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

/** Open a connection, send a GET and never read the answer; resolves once the server closed it (or 10 s passed). */
function neverReads(path: string): Promise<'closed by server' | 'still open'> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.on('connect', () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      s.pause();
    });
    // A paused socket does not see its end: watch the server's side.
    const started = Date.now();
    const poll = setInterval(() => {
      const done = closed.includes(path);
      if (!done && Date.now() - started < 10_000) return;
      clearInterval(poll);
      s.destroy();
      resolve(done ? 'closed by server' : 'still open');
    }, 50);
  });
}

describe('serve: a client too slow to take a body', () => {
  it('is disconnected when it stays under the limit though the response flows now and then (a drain does not erase its history)', () => {
    vi.useFakeTimers();
    try {
      // A response backed up on the client three ticks in four, flowing at the fourth (the client
      // took a burst), 50 bytes a tick: ~270 bytes per 500 ms the client held it up, under the 512 the limit asks.
      let tick = 0;
      let destroyed = false;
      const socket = { bytesWritten: 0, destroy: () => void (destroyed = true) };
      const res = Object.defineProperties(new EventEmitter(), { socket: { value: socket }, writableNeedDrain: { get: () => tick % 4 !== 0 } });
      const stop = watchSlowReader(res as unknown as http.ServerResponse, POLICY);
      for (tick = 1; tick <= 40 && !destroyed; tick++) {
        socket.bytesWritten += 50;
        vi.advanceTimersByTime(speedTickMs(POLICY));
      }
      stop();
      expect(destroyed).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('is disconnected once it has taken less than the limit for the window', async () => {
    expect(await neverReads('/blob')).toBe('closed by server');
  });

  it('is not blamed for a source that is the slow side', async () => {
    const got = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/slow-source' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body));
        res.on('error', reject);
      }).on('error', reject);
    });
    expect(got).toBe('x'.repeat(20));
  });
});
