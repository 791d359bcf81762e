import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { overflowConnections } from '../../src/serve/server.js';
import { startServe, type RunningServe } from '../support/craft-serve.js';

/**
 * A client population larger than `ferry serve` admits, against the built CLI on loopback:
 * connections past --max-connections are answered 503 with Retry-After and closed, the
 * admitted ones keep being served, and the serve process's file descriptors stay bounded
 * under a flood of sockets that never send a request.
 */
const MAX = 4;
let work: string;
let serve: RunningServe;
let port: number;
const sockets: net.Socket[] = [];

/** One request on `socket`; resolves with the raw response head (status line and headers). */
function request(socket: net.Socket, pathName = '/v2/'): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buf.slice(0, end);
      const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length - end - 4 < len) return;
      socket.off('data', onData);
      resolve(head);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET ${pathName} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  });
}

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
    sockets.push(s);
  });
}

const closed = (s: net.Socket) => new Promise<void>((resolve) => (s.destroyed || s.readableEnded ? resolve() : s.once('close', () => resolve())));

const fdCount = async () => (await readdir(`/proc/${serve.child.pid}/fd`)).length;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile6-serve-'));
  const layout = path.join(work, 'layout');
  await mkdir(path.join(layout, 'blobs', 'sha256'), { recursive: true });
  await writeFile(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
  serve = await startServe([layout, '--listen', '127.0.0.1:0', '--max-connections', String(MAX), '-q']);
  port = Number(new URL(serve.url).port);
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await serve?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('ferry serve --max-connections', () => {
  it('serves the first connections, answers the excess 503 with Retry-After and closes them, and keeps fds bounded', async () => {
    const baseline = await fdCount();
    // MAX keep-alive clients, admitted and served.
    const served = await Promise.all(Array.from({ length: MAX }, () => connect()));
    for (const s of served) expect(await request(s)).toMatch(/^HTTP\/1\.1 200 /);
    // More clients than admitted: each told to come back later, and its connection closed.
    const excess = await Promise.all(Array.from({ length: 8 }, () => connect()));
    for (const s of excess) {
      const head = await request(s);
      expect(head).toMatch(/^HTTP\/1\.1 503 /);
      expect(head).toMatch(/\r\nretry-after: \d+/i);
      expect(head).toMatch(/\r\nconnection: close/i);
      await closed(s);
    }
    // A flood of sockets that never send a request: the serve process keeps at most
    // MAX + overflow sockets, so its descriptors stay bounded (the rest are closed on accept).
    const flood: net.Socket[] = [];
    for (let i = 0; i < 300; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      sockets.push(s);
      flood.push(s);
    }
    await Promise.all(flood.map((s) => new Promise<void>((resolve) => (s.connecting ? s.once('connect', () => resolve()).once('close', () => resolve()) : resolve()))));
    await new Promise((r) => setTimeout(r, 300));
    const during = await fdCount();
    expect(during - baseline).toBeLessThanOrEqual(MAX + overflowConnections(MAX) + 4);
    // The admitted clients are still served while the flood holds on.
    for (const s of served) expect(await request(s)).toMatch(/^HTTP\/1\.1 200 /);
    for (const s of flood) s.destroy();
  });

  it('refuses a --max-connections that is not a whole number of at least 1', async () => {
    const err = await startServe([path.join(work, 'layout'), '--listen', '127.0.0.1:0', '--max-connections', '0']).then(
      async (s) => {
        await s.stop();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(String(err)).toMatch(/max-connections/);
  });
});
