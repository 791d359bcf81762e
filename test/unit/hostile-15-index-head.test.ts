import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRelease } from '../../src/kinds/apt/control.js';
import { fetchIndex } from '../../src/kinds/apt/repo.js';
import { HttpClient } from '../../src/net/http.js';
import { BlobStore } from '../../src/store/blob-store.js';

// Hostile pass 15: the HEAD fetchIndex sends after a failed index download is the server's word too.
describe('hostile 15: the HEAD after a failed index download', () => {
  it('a crafted Content-Length too large to be a size is not reported as one (1e+20 bytes)', async () => {
    const listed = Buffer.alloc(2000, 0x61);
    const hash = createHash('sha256').update(listed).digest('hex');
    let heads = 0;
    // Fault injection: other bytes served for the index, the HEAD claiming an absurd length.
    const server = createServer((req, res) => {
      if (req.method === 'HEAD') {
        heads++;
        res.writeHead(200, { 'content-length': '99999999999999999999' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-length': '2000' });
      res.end(Buffer.alloc(2000, 0x62));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h15-'));
    const http = new HttpClient({ retry: { retries: 1, minTimeoutMs: 10, maxTimeoutMs: 20, maxRetryAfterMs: 100 } });
    try {
      const release = parseRelease(['Suite: x', 'Codename: x', 'SHA256:', ` ${hash} ${listed.length} main/binary-all/Packages.xz`, ''].join('\n'));
      const store = new BlobStore(path.join(dir, 'store'));
      await store.init();
      const err = (await fetchIndex(url, 'x', 'main/binary-all/Packages.xz', release, http, store, 'apt[evil] x').catch((e: unknown) => e)) as { code: string; message: string };
      expect(heads).toBe(1);
      expect(err.code).toBe('VERIFY');
      expect(err.message).toContain('apt[evil] x dists/x/main/binary-all/Packages.xz');
      expect(err.message).not.toMatch(/e\+\d+ bytes|99999999999999999999 bytes/);
      expect(err.message).toMatch(/does not match the signed Release/);
    } finally {
      await http.close();
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
