import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors.js';
import { downloadToStore } from '../../src/kinds/file/download.js';
import { resolveFile } from '../../src/kinds/file/resolve.js';
import { loopbackKindContext } from '../support/kind-context.js';

/** A file server that lies: about sizes in HEAD, and by sending more than it should. */
const body = Buffer.from('the real file\n');
const sha = createHash('sha256').update(body).digest('hex');
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/huge-head') {
      // A Content-Length no file has: past 2^53, where numbers stop being exact.
      res.writeHead(200, { 'Content-Length': '99999999999999999999' });
      if (req.method === 'HEAD') return res.end();
      res.destroy();
      return;
    }
    if (url === '/more') {
      // Sends far more than the manifest's size, chunked (no Content-Length to stop the client).
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      if (req.method === 'HEAD') return res.end();
      let n = 0;
      const more = () => {
        while (n < 64 && res.write(Buffer.alloc(1 << 16, 0x61))) n++;
        if (n >= 64) res.end();
        else res.once('drain', more);
      };
      more();
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const context = () => loopbackKindContext('ferry-hostile3-files-');

describe('file servers that lie about sizes', () => {
  it('a HEAD Content-Length past 2^53 is not pinned as the size (the HTTP client refuses the answer; headSize then knows no size)', async () => {
    const ctx = await context();
    const lock = await resolveFile({ name: 'x', url: `${base}/huge-head`, sha256: sha }, ctx);
    expect(lock.size).toBeUndefined();
  });

  it('more bytes than the pinned size are refused as they arrive, and nothing is kept under a final name', async () => {
    const ctx = await context();
    const err = (await downloadToStore(ctx.store, ctx.http, `${base}/more`, { size: 1000 }, { label: 'files[more]' }).catch((e: unknown) => e)) as FerryError;
    expect(err).toBeInstanceOf(FerryError);
    expect(err.code).toBe('VERIFY');
    expect(err.message).toMatch(/files\[more\] .*server sent more than the expected 1000 bytes/);
    const blobs = await readdir(path.join(ctx.store.root, 'blobs', 'sha256')).catch(() => []);
    expect(blobs).toEqual([]);
  });
});
