import { mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type RunningServe } from '../support/craft-serve.js';
import { writeOciLayout } from '../support/images.js';

/**
 * `ferry serve` facing hostile clients on the site network: HTTP/1.1 pipelining. A client may
 * send many requests on one connection before reading any answer; serve answers them in order,
 * one at a time, holding at most one open blob per connection, and closes a connection with more
 * than 32 requests waiting. Measured on the running server's /proc (open files, not timings).
 */

let work: string;
let serve: RunningServe;
let layerPath: string;
let manifestPath: string;
let manifestBytes: Buffer;

/** Files under the layout's blobs/ the serve process has open now. */
async function openBlobs(pid: number): Promise<number> {
  let n = 0;
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    if (target.includes(`${path.sep}blobs${path.sep}sha256${path.sep}`)) n++;
  }
  return n;
}

function pipelined(paths: string[], method = 'GET'): string {
  return paths.map((p) => `${method} ${p} HTTP/1.1\r\nHost: mirror\r\n\r\n`).join('');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile-25-serve-'));
  const dir = path.join(work, 'layout');
  const tops = await writeOciLayout(dir, [{ name: 'x', platforms: [{ architecture: 'amd64', layers: [{ randomBytes: 3 * 1024 * 1024, seed: 'h25' }] }] }]);
  const idxFile = path.join(dir, 'index.json');
  const idx = JSON.parse(await readFile(idxFile, 'utf8'));
  idx.manifests[0].annotations['org.opencontainers.image.ref.name'] = 'mirror.example/h25/app:1';
  await writeFile(idxFile, JSON.stringify(idx));
  manifestBytes = await readFile(path.join(dir, 'blobs/sha256', tops.x.digest.slice(7)));
  const layer = (JSON.parse(manifestBytes.toString('utf8')) as { layers: Array<{ digest: string }> }).layers[0].digest;
  layerPath = `/v2/mirror.example/h25/app/blobs/${layer}`;
  manifestPath = `/v2/mirror.example/h25/app/blobs/${tops.x.digest}`;
  serve = await startServe([dir, '--listen', '127.0.0.1:0']);
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('pipelined requests', () => {
  it('20 connections, each 30 pipelined GETs of a 3 MiB blob never read: at most one open blob per connection', { timeout: 60_000 }, async () => {
    const u = new URL(serve.url);
    const socks: net.Socket[] = [];
    try {
      for (let c = 0; c < 20; c++) {
        const sock = net.connect(Number(u.port), u.hostname);
        sock.on('error', () => undefined);
        sock.pause();
        sock.write(pipelined(Array(30).fill(layerPath)));
        socks.push(sock);
      }
      // Watch what the server holds while the clients read nothing (the old code opened every
      // request's blob at once: hundreds of files, and read them into memory).
      let most = 0;
      for (let i = 0; i < 15; i++) {
        await new Promise((r) => setTimeout(r, 200));
        most = Math.max(most, await openBlobs(serve.child.pid!));
      }
      expect(most).toBeLessThanOrEqual(20);
      // The clients were not dropped: pipelining within the bound is served.
      expect(socks.every((s) => !s.destroyed)).toBe(true);
    } finally {
      for (const s of socks) s.destroy();
    }
  });

  it('a connection with more than 32 requests waiting is closed; the server answers others', { timeout: 60_000 }, async () => {
    const u = new URL(serve.url);
    const sock = net.connect(Number(u.port), u.hostname);
    sock.on('error', () => undefined);
    // All 200 arrive before the first answer is read (one write, parsed at once); what comes back is read and counted.
    let answers = 0;
    sock.on('data', (d: Buffer) => (answers += d.toString('latin1').split('HTTP/1.1 200 ').length - 1));
    const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    sock.write(pipelined(Array(200).fill(manifestPath)));
    await closed;
    expect(answers).toBeLessThanOrEqual(32);
    const res = await fetch(`${serve.url}${manifestPath}`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(manifestBytes)).toBe(true);
  });

  it('10 pipelined requests (apt\'s default depth) read in full get 10 answers in order', { timeout: 60_000 }, async () => {
    const u = new URL(serve.url);
    const sock = net.connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    const paths = Array.from({ length: 10 }, (_, i) => (i % 3 === 1 ? '/v2/mirror.example/h25/app/blobs/sha256:' + '0'.repeat(64) : manifestPath));
    sock.write(pipelined(paths) + 'GET /v2/ HTTP/1.1\r\nHost: mirror\r\nConnection: close\r\n\r\n');
    await new Promise<void>((resolve) => sock.once('close', () => resolve()));
    const text = Buffer.concat(chunks).toString('latin1');
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    expect(statuses).toEqual([...paths.map((p) => (p === manifestPath ? 200 : 404)), 200]);
    expect(text.split(manifestBytes.toString('latin1')).length - 1).toBe(7);
  });
});
