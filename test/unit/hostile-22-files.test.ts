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
    // Cut once the 50 000 bytes are in the kernel's hands (a timer alone, under load, could cut
    // them before they left Node: the client then resumed from fewer bytes, or from none).
    res.write(v1.subarray(0, 50_000), () => setTimeout(() => res.destroy(), 20));
  };

  const cases: Array<{ name: string; then: (req: IncomingMessage, res: ServerResponse) => void; first?: Record<string, string>; pins: Buffer; ranges?: boolean }> = [
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
      ranges: false,
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
        if (c.ranges === false) expect(seen.filter((r) => r.range)).toEqual([]);
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

describe('OpenPGP signatures from outside', () => {
  let vendor: SigningKey;
  let dir: string;
  const sums = Buffer.from(`${'a'.repeat(64)}  disk.img\n`);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h22-pgp-'));
    const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name: 'vendor' }], format: 'armored' });
    await writeFile(path.join(dir, 'vendor.key'), privateKey);
    vendor = await readSigningKey(path.join(dir, 'vendor.key'), undefined, 'vendor');
    await writeFile(path.join(dir, 'vendor.asc'), vendor.key.toPublic().armor());
  });

  it('a signature file of 300 copies of one forged signature by the vendor key is refused before any is checked, in one short line', async () => {
    // Each copy names the right key and the right hash prefix: each would cost a full verification.
    const forged = Buffer.from((await openpgp.readSignature({ armoredSignature: await signDetachedArmored(sums, vendor) })).write());
    forged[forged.length - 3] ^= 0x55;
    const bomb = Buffer.concat(Array.from({ length: 300 }, () => forged));
    const keys = await publicKeysFromArmored(vendor.key.toPublic().armor());
    const err = await failure(verifyDetached(sums, bomb, keys, 'files[disk] SHA256SUMS (signature SHA256SUMS.gpg)'));
    expect(isFerryError(err, 'VERIFY')).toBe(true);
    expect(err.message).toMatch(/^files\[disk\] SHA256SUMS \(signature SHA256SUMS\.gpg\): carries 300 signatures; ferry checks at most 16/);
    expect(err.message.length).toBeLessThan(400);
  });

  it('forged signatures by a given key are each reported as bad (apt refuses any), the message bounded', async () => {
    const forged = Buffer.from((await openpgp.readSignature({ armoredSignature: await signDetachedArmored(sums, vendor) })).write());
    forged[forged.length - 3] ^= 0x55;
    const keys = await publicKeysFromArmored(vendor.key.toPublic().armor());
    const err = await failure(verifyDetached(sums, Buffer.concat(Array.from({ length: 6 }, () => forged)), keys, 'x'));
    expect(err.message).toMatch(/carries a bad signature by a given key \(key [0-9A-F]{16}: .*; and 2 more\); apt refuses/);
  });

  it('a "signature" URL that serves megabytes is cut off at 1 MiB and refused, naming the URL', async () => {
    handle = (req, res) => {
      if (req.url === '/SHA256SUMS') return void res.writeHead(200, { 'content-length': String(sums.length) }).end(sums);
      res.writeHead(200, { 'content-length': String(8 * 1024 * 1024) }).end(Buffer.alloc(8 * 1024 * 1024, 0x41));
    };
    const ctx = { ...(await loopbackKindContext('ferry-h22-sig-')), manifestDir: dir };
    const spec = FileSpecSchema.parse({ name: 'disk', url: `${base}/disk.img`, checksums: { url: `${base}/SHA256SUMS`, signature: `${base}/SHA256SUMS.gpg`, keys: ['vendor.asc'] } });
    const err = await failure(resolveFile(spec, ctx));
    expect(isFerryError(err, 'VERIFY')).toBe(true);
    expect(err.message).toContain(`${base}/SHA256SUMS.gpg`);
    expect(err.message).toContain('larger than the 1048576 bytes');
  });

  it('a clear-signed checksum file with unsigned lines after the signature: only the signed line counts', async () => {
    const good = randomBytes(1000);
    const signed = await signClear(`${sha(good)}  disk.img\n`, vendor);
    const text = `${signed}\n${'b'.repeat(64)}  disk.img\n`;
    handle = (req, res) => {
      if (req.url === '/SHA256SUMS') return void res.writeHead(200, { 'content-length': String(Buffer.byteLength(text)) }).end(text);
      res.writeHead(200, { 'content-length': String(good.length) }).end(req.method === 'HEAD' ? undefined : good);
    };
    const ctx = { ...(await loopbackKindContext('ferry-h22-clear-')), manifestDir: dir };
    const lock = await resolveFile(FileSpecSchema.parse({ name: 'disk', url: `${base}/disk.img`, checksums: { url: `${base}/SHA256SUMS`, keys: ['vendor.asc'] } }), ctx);
    expect(lock.sha256).toBe(sha(good));
  });
});

describe('the checksum file at bundle create', () => {
  it('is cut off at the size the lock pinned when the server now sends without end', async () => {
    const pinned = Buffer.from(`${'c'.repeat(64)}  disk.img\n`);
    let sent = 0;
    handle = (req, res) => {
      if (req.url !== '/SUMS') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const more = () => {
        while (!res.destroyed && sent < 320 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        if (!res.destroyed) res.end();
      };
      res.on('close', () => res.removeAllListeners('drain'));
      more();
    };
    const ctx = await loopbackKindContext('ferry-h22-sums-');
    const file = randomBytes(100);
    await ctx.store.putBytes(file);
    const err = await failure(
      fetchFile({ name: 'disk', url: `${base}/disk.img`, sha256: sha(file), size: file.length, checksums: { file: { url: `${base}/SUMS`, sha256: sha(pinned), size: pinned.length } } }, ctx),
    );
    expect(isFerryError(err, 'VERIFY')).toBe(true);
    expect(err.message).toMatch(new RegExp(`^files\\[disk\\]: ${base}/SUMS changed since the lock \\(.*larger than the ${pinned.length} bytes`));
    // Read up to the pinned size, not to a generic 256 MiB cap (socket buffers let a few MB through).
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    await ctx.http.close();
  }, 60_000);
});

describe('redirects and headers', () => {
  /** A second loopback server: a service on this machine a redirect should not reach. */
  let local: Server;
  let localUrl: string;
  const localSeen: string[] = [];
  beforeAll(async () => {
    local = createServer((req, res) => {
      localSeen.push(req.url ?? '');
      res.writeHead(200, { 'content-length': '6' }).end('secret');
    });
    await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
    localUrl = `http://127.0.0.1:${(local.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => local.close(() => r())));

  // `base` is the proxy: requests to files.example.test (a host elsewhere) reach it there.
  const viaProxy = () => client({ httpProxy: base, noProxy: 'localhost,127.0.0.1,::1' });

  it('from a host elsewhere to a service on this machine: refused, naming both; the service gets nothing', async () => {
    handle = (_req, res) => void res.writeHead(302, { location: `${localUrl}/admin/token` }).end();
    localSeen.length = 0;
    const http = viaProxy();
    const err = await failure(http.getBytes('http://files.example.test/disk.img'));
    await http.close();
    expect(isFerryError(err, 'NETWORK')).toBe(true);
    expect(err.message).toMatch(/^GET http:\/\/files\.example\.test\/disk\.img: redirected to "http:\/\/127\.0\.0\.1:\d+\/admin\/token", which is this machine; refusing/);
    expect(localSeen).toEqual([]);
  });

  it('from a host elsewhere to the link-local metadata address: refused; no request is sent there', async () => {
    handle = (req, res) => {
      if ((req.url ?? '').startsWith('http://169.254.169.254')) return void res.writeHead(200, { 'content-length': '4' }).end('role');
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/' }).end();
    };
    seen.length = 0;
    const http = viaProxy();
    const err = await failure(http.getBytes('http://files.example.test/disk.img'));
    await http.close();
    expect(err.message).toMatch(/a link-local address \(where cloud metadata services answer\); refusing/);
    expect(seen.map((r) => r.url)).toEqual(['http://files.example.test/disk.img']);
  });

  it('response headers past the limit: one request, a message that says so (was retried, "Headers Overflow Error")', async () => {
    handle = (_req, res) => {
      const headers: Record<string, string> = {};
      for (let i = 0; i < 10_000; i++) headers[`x-h${i}`] = 'v';
      res.writeHead(200, headers).end('x');
    };
    seen.length = 0;
    const http = client();
    const err = await failure(http.getBytes(`${base}/headers`));
    await http.close();
    expect(err.message).toBe(`GET ${base}/headers: the server's response headers are larger than ferry reads (Node's --max-http-header-size, 16 KiB unless set)`);
    expect(seen).toHaveLength(1);
  });
});

describe('file URLs that cannot each have a place of their own under files.dir', () => {
  it('are refused by lock before any request, every one named with the URL it clashes with', async () => {
    seen.length = 0;
    const ctx = await loopbackKindContext('ferry-h22-paths-');
    const h = 'http://files.example.test';
    const specs = [
      { name: 'a', url: `${h}/a/b` },
      { name: 'a-escaped', url: `${h}/a%2Fb` },
      { name: 'one', url: `${h}/get?id=1` },
      { name: 'two', url: `${h}/get?id=2` },
      { name: 'dir', url: `${h}/tools` },
      { name: 'in-dir', url: `${h}/tools/x.tar` },
      { name: 'long', url: `${h}/${'L'.repeat(230)}.iso` },
      { name: 'no-path', url: `${h}/` },
      { name: 'sums-shared', url: `${h}/c.img`, checksums: { url: `${h}/SHA256SUMS` } },
      { name: 'sums-shared-2', url: `${h}/d.img`, checksums: { url: `${h}/SHA256SUMS` } },
      { name: 'own-sums', url: `${h}/e.img`, checksums: { url: `${h}/e.img.sha256` } },
    ].map((s) => FileSpecSchema.parse(s));
    const err = await failure(resolveFiles(specs, ctx));
    expect(isFerryError(err, 'VALIDATION')).toBe(true);
    expect(err.message).toBe('5 file URLs with no place of their own on the mirror');
    expect(err.details).toEqual([
      `files[a-escaped] ${h}/a%2Fb: ${h}/a/b maps to the same mirror path files.example.test/a/b; only one file can be there (the mirror path is the host and the decoded path: no query string, %2F is /)`,
      `files[two] ${h}/get?id=2: ${h}/get?id=1 maps to the same mirror path files.example.test/get; only one file can be there (the mirror path is the host and the decoded path: no query string, %2F is /)`,
      `files[in-dir] ${h}/tools/x.tar: its mirror path files.example.test/tools/x.tar needs files.example.test/tools to be a directory, where ${h}/tools is a file`,
      `files[long] ${h}/${'L'.repeat(230)}.iso: a segment of its mirror path is 234 bytes long; ferry writes at most 200 (file systems take 255, less ferry's .sha512 and temporary suffixes)`,
      `files[no-path] ${h}/: it has no file name of its own on the mirror ("files.example.test/": no path, or a backslash or control character in it)`,
    ]);
    // A checksum file shared by two entries, and one beside its file (`e.img.sha256`), are fine.
    expect(seen).toEqual([]);
    await ctx.http.close();
  });
});
