/**
 * Hostile pass 18, `ferry serve`'s SIGHUP reload (src/commands/serve.ts `reload`, src/serve/server.ts
 * `swap`/`setTls`), on a real listening server serving a directory target.
 *
 * - `--tls-cert`/`--tls-key` are read again at each reload: a FIFO put in their place blocked the
 *   read for ever (readFile waits for a writer), and every later reload queued behind it, so the
 *   site could never switch again without a restart. A device (/dev/zero: read until memory ran
 *   out) or a huge file the same. Now each is refused, named, before it is opened; the certificate
 *   in use stays and the server keeps answering.
 * - A flood of SIGHUPs queued one whole load per signal (with --verify, a full re-hash of the bundle
 *   each): a hundred signals were a hundred passes. Now a signal while a reload runs asks for one
 *   more load after it, and every further signal before that one starts shares it.
 * Held (no change): a half-written tar, a bundle whose format version is unknown, a FIFO or device
 * at the bundle path are refused by open (newuser22, hostile-4); `--verify` runs on every reload
 * (load() is the one path, start and reload); requests under way keep their generation's source,
 * whose blobs are re-hashed as served (newuser22).
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unblockFifo } from '../support/fifo.js';
import { serveCommand, TLS_FILE_CAP } from '../../src/commands/serve.js';
import { makeTestCa, type TestCa } from '../support/registry.js';

let dir: string;
let ca: TestCa;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h18-serve-'));
  const layout = path.join(dir, 'target');
  await mkdir(path.join(layout, 'blobs', 'sha256'), { recursive: true });
  await writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(path.join(layout, 'index.json'), '{"schemaVersion":2,"manifests":[]}');
  ca = await makeTestCa(path.join(dir, 'ca'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function ping(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https.get(`${url}/v2/`, { ca: readFileSync(ca.caFile) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

describe('hostile-18: serve reload', () => {
  it('a FIFO, a device or a huge file put in place of --tls-key/--tls-cert is refused, named; the certificate in use stays', async () => {
    const cert = path.join(dir, 'serve.crt');
    const key = path.join(dir, 'serve.key');
    await copyFile(ca.certFile, cert);
    await copyFile(ca.keyFile, key);
    const s = await serveCommand(path.join(dir, 'target'), { listen: '127.0.0.1:0', tlsCert: cert, tlsKey: key, cwd: dir });
    try {
      expect(await ping(s.result.url)).toBe(200);
      await unlink(key);
      execFileSync('mkfifo', [key]);
      const timer = setTimeout(() => unblockFifo(key), 8000);
      await expect(s.reload()).rejects.toThrow(/--tls-key .*serve\.key: not a regular file/);
      clearTimeout(timer);
      expect(await ping(s.result.url)).toBe(200);

      await unlink(key);
      await copyFile(ca.keyFile, key);
      await unlink(cert);
      await symlink('/dev/zero', cert);
      await expect(s.reload()).rejects.toThrow(/--tls-cert .*serve\.crt: not a regular file/);
      await unlink(cert);
      await writeFile(cert, Buffer.alloc(TLS_FILE_CAP + 1, 0x41));
      await expect(s.reload()).rejects.toThrow(/serve\.crt: --tls-cert file is larger than the 1 MiB ferry reads/);
      expect(await ping(s.result.url)).toBe(200);

      // A good pair again: the reload goes through (nothing stayed stuck behind the FIFO).
      await copyFile(ca.certFile, cert);
      expect((await s.reload()).url).toBe(s.result.url);
    } finally {
      await s.close();
    }
  }, 5000);

  it('a flood of reloads is at most two loads: one under way, one after it shared by the rest', async () => {
    const s = await serveCommand(path.join(dir, 'target'), { listen: '127.0.0.1:0', cwd: dir });
    try {
      const results = await Promise.all(Array.from({ length: 50 }, () => s.reload()));
      expect(new Set(results).size).toBe(2);
      expect(results[0]).not.toBe(results[1]);
      expect(results.slice(2).every((r) => r === results[1])).toBe(true);
      // Later ones load again.
      const after = await s.reload();
      expect(results).not.toContain(after);
    } finally {
      await s.close();
    }
  });
});
