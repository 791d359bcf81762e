import { readdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors.js';
import { fetchFile } from '../../src/kinds/file/fetch.js';
import { resolveFile } from '../../src/kinds/file/resolve.js';
import { DEFAULT_MAX_FILE_BYTES, FileSpecSchema } from '../../src/kinds/file/spec.js';
import { loopbackKindContext } from '../support/kind-context.js';

/**
 * A file server that never ends its body (chunked, no Content-Length, HEAD says nothing), and
 * one whose HEAD announces more than the bound. A file with neither checksum nor size is pinned
 * by downloading it: that download must stop at the bound.
 */
const MiB = 1024 * 1024;
/** A safety stop for the server only, far past every bound used here (so a run of the old code ends with a 32 MiB file, not a full disk). */
const SERVER_STOP = 32 * MiB;
let server: Server;
let base: string;
let sentBytes = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/endless.iso') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      if (req.method === 'HEAD') return res.end();
      let n = 0;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const more = () => {
        while (!res.destroyed && n < SERVER_STOP && res.write(chunk)) {
          n += chunk.length;
          sentBytes += chunk.length;
        }
        if (n >= SERVER_STOP) res.end();
        else if (!res.destroyed) res.once('drain', more);
      };
      res.on('close', () => res.removeAllListeners('drain'));
      more();
      return;
    }
    if (url === '/announced-huge.iso') {
      res.writeHead(200, { 'Content-Length': String(3 * MiB) });
      if (req.method === 'HEAD') return res.end();
      res.end(Buffer.alloc(3 * MiB));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const context = () => loopbackKindContext('ferry-hostile6-files-');

/** Every file under the store: blobs by their final names, and the ingest area. */
async function filesIn(root: string): Promise<string[]> {
  const all = await readdir(root, { recursive: true, withFileTypes: true });
  return all.filter((d) => d.isFile() && d.name !== 'oci-layout').map((d) => path.relative(root, path.join(d.parentPath, d.name)));
}

describe('a file with neither checksum nor size', () => {
  it('the pinning download of an endless body stops at maxSize, names the URL and the bound, and keeps nothing', async () => {
    const ctx = await context();
    sentBytes = 0;
    const url = `${base}/endless.iso`;
    const err = (await resolveFile({ name: 'iso', url, maxSize: 2 * MiB }, ctx).catch((e: unknown) => e)) as FerryError;
    expect(err).toBeInstanceOf(FerryError);
    expect(err.code).toBe('VERIFY');
    expect(err.message).toContain(url);
    expect(err.message).toContain(`more than ${2 * MiB} bytes`);
    expect(err.hint).toMatch(/maxSize/);
    // Nothing under a final name, and no partial left behind to grow on the next run.
    expect(await filesIn(ctx.store.root)).toEqual([]);
    // The server was cut off near the bound, not read to its end.
    expect(sentBytes).toBeLessThan(SERVER_STOP);
  });

  it('a checksum but no size: the fetch after the lock is bounded by the maxSize the lock keeps', async () => {
    const ctx = await context();
    const url = `${base}/endless.iso`;
    const lock = await resolveFile({ name: 'iso', url, sha256: 'a'.repeat(64), maxSize: MiB }, ctx);
    expect(lock.size).toBeUndefined();
    expect(lock.maxSize).toBe(MiB);
    const err = (await fetchFile(lock, ctx).catch((e: unknown) => e)) as FerryError;
    expect(err).toBeInstanceOf(FerryError);
    expect(err.message).toContain(url);
    expect(err.message).toContain(`more than ${MiB} bytes`);
    expect((await filesIn(ctx.store.root)).filter((f) => !f.startsWith('ingest/') || f.endsWith('.partial'))).toEqual([]);
  });

  it('a HEAD size past the bound is refused before downloading', async () => {
    const ctx = await context();
    const url = `${base}/announced-huge.iso`;
    const err = (await resolveFile({ name: 'iso', url, maxSize: 2 * MiB }, ctx).catch((e: unknown) => e)) as FerryError;
    expect(err).toBeInstanceOf(FerryError);
    expect(err.message).toContain(url);
    expect(err.message).toContain(`${2 * MiB}-byte bound`);
    expect(await filesIn(ctx.store.root)).toEqual([]);
  });

  it('maxSize is validated: a positive integer, not below size; the default bound is 64 GiB', () => {
    expect(FileSpecSchema.safeParse({ name: 'a', url: 'https://x/a', maxSize: 10 }).success).toBe(true);
    expect(FileSpecSchema.safeParse({ name: 'a', url: 'https://x/a', maxSize: 0 }).success).toBe(false);
    expect(FileSpecSchema.safeParse({ name: 'a', url: 'https://x/a', maxSize: '1G' }).success).toBe(false);
    const small = FileSpecSchema.safeParse({ name: 'a', url: 'https://x/a', size: 20, maxSize: 10 });
    expect(small.success).toBe(false);
    expect(JSON.stringify(small.error?.issues)).toMatch(/maxSize/);
    expect(DEFAULT_MAX_FILE_BYTES).toBe(64 * 1024 ** 3);
  });
});
