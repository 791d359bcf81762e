import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError, isFerryError } from '../../src/errors.js';
import { downloadToStore } from '../../src/kinds/file/download.js';
import { fetchFile } from '../../src/kinds/file/fetch.js';
import { resolveFile, resolveFiles } from '../../src/kinds/file/resolve.js';
import { FileSpecSchema } from '../../src/kinds/file/spec.js';
import { HttpClient } from '../../src/net/http.js';
import { publicKeysFromArmored, readSigningKey, signClear, signDetachedArmored, verifyDetached, type SigningKey } from '../../src/net/pgp.js';
import { loopbackKindContext } from '../support/kind-context.js';

/**
 * A download host, mirror or CDN that answers like an attacker, on loopback: resumed ranges from
 * another version of the file, signature files of thousands of forged signatures, redirects to
 * services on this machine, header bombs, checksum files that never end; and manifests whose file
 * URLs cannot each have a place of their own in the files tree.
 */
let server: Server;
let base: string;
let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => void res.writeHead(404).end();
const seen: Array<{ method: string; url: string; host?: string; range?: string; ifRange?: string }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ method: req.method ?? 'GET', url: req.url ?? '', host: req.headers.host, range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined });
    handle(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const sha = (b: Buffer, alg = 'sha256') => createHash(alg).update(b).digest('hex');
const client = (s: ConstructorParameters<typeof HttpClient>[0] = {}) =>
  new HttpClient({ retry: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 5, maxRetryAfterMs: 10 }, httpProxy: '', httpsProxy: '', noProxy: '', ...s });
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as FerryError,
  );
const rangeStart = (req: IncomingMessage) => Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);

describe('a file pinned on first use (no checksum) that is resumed is one version of it, never the head of one and the tail of another', () => {
  const v1 = randomBytes(200_000);
  const v2 = randomBytes(200_000);
  const spliced = (at: number) => sha(Buffer.concat([v1.subarray(0, at), v2.subarray(at)]));
  /** The first answer: version 1, named by its ETag, cut off after 50 000 bytes. */
  const dropV1 = (res: ServerResponse, headers: Record<string, string> = { etag: '"v1"' }) => {
    res.writeHead(200, { 'content-length': String(v1.length), ...headers });
    res.write(v1.subarray(0, 50_000));
    setTimeout(() => res.destroy(), 20);
  };

  const cases: Array<{ name: string; then: (req: IncomingMessage, res: ServerResponse) => void; first?: Record<string, string>; pins: Buffer }> = [
    {
      name: 'the resumed request is answered 200 with the new version (Range ignored): the whole new version, not its tail after the old head',
      then: (_req, res) => void res.writeHead(200, { 'content-length': String(v2.length), etag: '"v2"' }).end(v2),
      pins: v2,
    },
    {
      name: 'the resumed request is answered 206 from the new version (If-Range ignored): started over',
      then: (req, res) => {
        const s = rangeStart(req);
        res.writeHead(s ? 206 : 200, { 'content-length': String(v2.length - s), etag: '"v2"', ...(s ? { 'content-range': `bytes ${s}-${v2.length - 1}/${v2.length}` } : {}) }).end(v2.subarray(s));
      },
      pins: v2,
    },
    {
      name: 'the server names no version (no ETag, no Last-Modified): a dropped download starts over instead of resuming',
      first: {},
      then: (req, res) => {
        const s = rangeStart(req);
        res.writeHead(s ? 206 : 200, { 'content-length': String(v2.length - s), ...(s ? { 'content-range': `bytes ${s}-${v2.length - 1}/${v2.length}` } : {}) }).end(v2.subarray(s));
      },
      pins: v2,
    },
    {
      name: 'the resumed range comes back as multipart/byteranges (no Content-Range): its bytes are not appended',
      then: (req, res) => {
        const s = rangeStart(req);
        if (!s) return void res.writeHead(200, { 'content-length': String(v1.length), etag: '"v1"' }).end(v1);
        const part = Buffer.concat([Buffer.from(`--b\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes ${s}-${v1.length - 1}/${v1.length}\r\n\r\n`), v1.subarray(s), Buffer.from('\r\n--b--\r\n')]);
        res.writeHead(206, { 'content-type': 'multipart/byteranges; boundary=b', 'content-length': String(part.length), etag: '"v1"' }).end(part);
      },
      pins: v1,
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      let n = 0;
      handle = (req, res) => (n++ === 0 ? dropV1(res, c.first) : c.then(req, res));
      seen.length = 0;
      const ctx = await loopbackKindContext('ferry-h22-tofu-');
      const http = client();
      try {
        const got = await downloadToStore(ctx.store, http, `${base}/disk-${n}-${Math.random()}.img`, {}, { label: 'files[disk]' });
        expect(got.digest).not.toBe(`sha256:${spliced(50_000)}`);
        expect(got).toMatchObject({ digest: `sha256:${sha(c.pins)}`, size: c.pins.length });
      } finally {
        await http.close();
      }
    }, 30_000);
  }

  it('a resumed request carries If-Range with the version the first part came from', async () => {
    let n = 0;
    handle = (req, res) => {
      if (n++ === 0) return dropV1(res);
      const s = rangeStart(req);
      res.writeHead(206, { 'content-length': String(v1.length - s), etag: '"v1"', 'content-range': `bytes ${s}-${v1.length - 1}/${v1.length}` }).end(v1.subarray(s));
    };
    seen.length = 0;
    const ctx = await loopbackKindContext('ferry-h22-tofu-');
    const http = client();
    try {
      const got = await downloadToStore(ctx.store, http, `${base}/resumed.img`, {}, { label: 'files[disk]' });
      expect(got.digest).toBe(`sha256:${sha(v1)}`);
      expect(seen.filter((r) => r.url === '/resumed.img').map((r) => [r.range, r.ifRange])).toEqual([
        [undefined, undefined],
        ['bytes=50000-', '"v1"'],
      ]);
    } finally {
      await http.close();
    }
  }, 30_000);
});
