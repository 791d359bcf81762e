import net from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveRange } from '../../src/serve/http.js';
import { SERVE_TIMEOUTS, startRegistryServer, type RegistryServer } from '../../src/serve/server.js';
import { emptyBlobSource } from '../support/blob-source.js';

/** Clients that hold ferry serve's connections without making progress, and crafted Range headers. */
const empty = emptyBlobSource;

let server: RegistryServer;
/** Resolved when the server drops the endless response (its 'close': the socket was destroyed). */
let endlessClosed: () => void = () => undefined;
beforeAll(async () => {
  server = await startRegistryServer({
    source: empty,
    index: { schemaVersion: 2, manifests: [] },
    mapping: { layout: 'nested' },
    listen: '127.0.0.1:0',
    headersTimeoutMs: 1000,
    idleTimeoutMs: 1000,
    routes: [
      {
        // An endless body: a client that stops reading leaves the server's writes blocked.
        prefix: '/endless/',
        handle: (_req, res) => {
          res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
          const chunk = Buffer.alloc(1 << 16);
          const body = new Readable({ read() { this.push(chunk); } });
          body.pipe(res);
          res.on('close', () => {
            body.destroy();
            endlessClosed();
          });
        },
      },
    ],
  });
});
afterAll(() => server?.close());

/** Open a connection, write `text` and nothing more; resolve with what came back once the server closes it. */
function holdOpen(port: number, text: string): Promise<{ closed: true; head: string }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let head = '';
    sock.on('connect', () => sock.write(text));
    sock.on('data', (d) => {
      if (head.length < 200) head += d.toString('latin1');
    });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve({ closed: true, head }));
    setTimeout(() => reject(new Error('connection still open after 20 s')), 20_000).unref();
  });
}

describe('ferry serve and clients that make no progress', () => {
  it('the defaults: headers within 15 s, 10 min with nothing moving', () => {
    expect(SERVE_TIMEOUTS).toEqual({ headersMs: 15_000, idleMs: 600_000 });
  });

  it('a client that trickles its request headers (slowloris) is answered 408 and dropped', async () => {
    // Its own server, idle bound long: the header bound is what fires.
    const slow = await startRegistryServer({ source: empty, index: { schemaVersion: 2, manifests: [] }, mapping: { layout: 'nested' }, listen: '127.0.0.1:0', headersTimeoutMs: 1000, idleTimeoutMs: 60_000 });
    try {
      const got = await holdOpen(slow.port, 'GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      expect(got.head).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      await slow.close();
    }
  }, 30_000);

  it('a client that asks for a body and stops reading is dropped once nothing moves', async () => {
    const dropped = new Promise<void>((resolve, reject) => {
      endlessClosed = resolve;
      setTimeout(() => reject(new Error('response still open after 20 s')), 20_000).unref();
    });
    const sock = net.connect(server.port, '127.0.0.1');
    sock.on('error', () => undefined);
    sock.on('connect', () => {
      sock.write('GET /endless/x HTTP/1.1\r\nHost: x\r\n\r\n');
      sock.pause();
    });
    await dropped;
    // The client, reading again, finds the connection ended.
    const ended = new Promise<void>((resolve) => sock.on('close', () => resolve()));
    sock.resume();
    await ended;
  }, 30_000);

  it('a prompt client is still answered', async () => {
    const r = await fetch(`${server.url}/v2/`);
    expect(r.status).toBe(200);
  });
});

describe('Range headers from a crafted client', () => {
  it('numbers past 2^53, many ranges, and suffixes longer than the blob', () => {
    expect(resolveRange('bytes=99999999999999999999999-', 100)).toEqual({ status: 416 });
    expect(resolveRange('bytes=0-99999999999999999999999', 100)).toEqual({ status: 206, start: 0, end: 99 });
    expect(resolveRange('bytes=-99999999999999999999999', 100)).toEqual({ status: 206, start: 0, end: 99 });
    expect(resolveRange(`bytes=${Array.from({ length: 10_000 }, (_, i) => `${i}-${i}`).join(',')}`, 100)).toEqual({ status: 200, start: 0, end: 99 });
    expect(resolveRange('bytes=5-4', 100)).toEqual({ status: 416 });
    expect(resolveRange('bytes=0-', 0)).toEqual({ status: 416 });
    expect(resolveRange('bytes=1e3-', 10_000)).toEqual({ status: 416 });
    expect(resolveRange('bytes=0x10-', 10_000)).toEqual({ status: 416 });
  });
});
