import { mkdir, readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { HttpClient, buildCaBundle, defaultNoProxy, discard } from '../../../src/net/http.js';
import { RetryableError, type RetryPolicy } from '../../../src/net/retry.js';
import { startConnectProxy, type ConnectProxy } from '../../support/fault-proxy.js';
import { makeTestCa, type TestCa } from '../../support/registry.js';

const FAST: RetryPolicy = { retries: 2, minTimeoutMs: 5, maxTimeoutMs: 20, maxRetryAfterMs: 5_000 };
const BODY = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A loopback server whose answers each test decides; records what it was sent. */
function routes(seen: Array<{ url: string; auth?: string; range?: string; host?: string }>): Handler {
  let flaky = 0;
  return (req, res) => {
    seen.push({ url: req.url ?? '', auth: req.headers.authorization, range: req.headers.range, host: req.headers.host });
    const u = new URL(req.url ?? '/', 'http://x');
    switch (u.pathname) {
      case '/data':
        res.writeHead(200, { 'content-length': String(BODY.length) }).end(BODY);
        return;
      case '/ranged': {
        const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
        if (m) {
          const start = Number(m[1]);
          res.writeHead(206, { 'content-range': `bytes ${start}-${BODY.length - 1}/${BODY.length}` }).end(BODY.subarray(start));
        } else res.writeHead(200).end(BODY);
        return;
      }
      case '/stall':
        res.writeHead(200, { 'content-length': '1000' });
        res.write('partial');
        return;
      case '/missing':
        res.writeHead(404).end('nope');
        return;
      case '/busy':
        res.writeHead(503, { 'retry-after': '7' }).end();
        return;
      case '/flaky':
        flaky++;
        if (flaky % 2 === 1) res.writeHead(502).end();
        else res.writeHead(200).end(BODY);
        return;
      case '/redirect-same':
        res.writeHead(307, { location: '/data' }).end();
        return;
      case '/redirect-other':
        res.writeHead(307, { location: u.searchParams.get('to')! }).end();
        return;
      default:
        res.writeHead(500).end();
    }
  };
}

async function listen(server: http.Server | https.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function text(body: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('HttpClient', () => {
  const seen: Array<{ url: string; auth?: string; range?: string; host?: string }> = [];
  const otherSeen: typeof seen = [];
  let plain: http.Server;
  let other: http.Server;
  let secure: https.Server;
  let base: string;
  let otherBase: string;
  let secureBase: string;
  let dir: string;
  let ca: TestCa;
  let proxy: ConnectProxy;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-http-unit-'));
    ca = await makeTestCa(dir);
    plain = http.createServer(routes(seen));
    other = http.createServer(routes(otherSeen));
    secure = https.createServer({ key: await readFile(ca.keyFile), cert: await readFile(ca.certFile) }, routes(seen));
    base = `http://127.0.0.1:${await listen(plain)}`;
    otherBase = `http://localhost:${await listen(other)}`;
    secureBase = `https://127.0.0.1:${await listen(secure)}`;
    proxy = await startConnectProxy();
  });
  afterAll(async () => {
    for (const s of [plain, other, secure]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    await proxy.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const client = (s: ConstructorParameters<typeof HttpClient>[0] = {}) => new HttpClient({ retry: FAST, httpProxy: '', httpsProxy: '', noProxy: '', ...s });

  it('keeps Authorization on a same-origin redirect and drops it on a cross-origin one', async () => {
    const c = client();
    seen.length = 0;
    otherSeen.length = 0;
    const same = await c.request(`${base}/redirect-same`, { headers: { Authorization: 'Bearer secret' } });
    expect(await text(same.body)).toBe(BODY.toString());
    expect(same.url).toBe(`${base}/data`);
    expect(seen.map((s) => s.auth)).toEqual(['Bearer secret', 'Bearer secret']);
    const cross = await c.request(`${base}/redirect-other?to=${encodeURIComponent(`${otherBase}/data`)}`, { headers: { Authorization: 'Bearer secret' } });
    expect(await text(cross.body)).toBe(BODY.toString());
    expect(otherSeen).toHaveLength(1);
    expect(otherSeen[0].auth).toBeUndefined();
    await c.close();
  });

  it('turns 503 into a RetryableError carrying Retry-After, and 404 into NOT_FOUND naming the URL', async () => {
    const c = client();
    const err = await c.request(`${base}/busy`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).retryAfterMs).toBe(7000);
    const nf = await c.getBytes(`${base}/missing`, { label: 'index.yaml' }).catch((e: unknown) => e);
    expect(nf).toBeInstanceOf(FerryError);
    expect((nf as FerryError).code).toBe('NOT_FOUND');
    expect((nf as FerryError).message).toContain(`${base}/missing`);
    expect((nf as FerryError).message).toContain('index.yaml');
    await c.close();
  });

  it('retries a transient 502 in getBytes', async () => {
    const c = client();
    expect((await c.getBytes(`${base}/flaky`)).equals(BODY)).toBe(true);
    await c.close();
  });

  it('refuses a body larger than maxBytes', async () => {
    const c = client();
    const err = await c.getBytes(`${base}/data`, { maxBytes: 10 }).catch((e: unknown) => e);
    expect((err as FerryError).code).toBe('VERIFY');
    await c.close();
  });

  it('opens at an offset with Range, and skips bytes when the server ignores Range', async () => {
    const c = client();
    seen.length = 0;
    expect(await text(await c.openAt(`${base}/ranged`, 10))).toBe(BODY.subarray(10).toString());
    expect(seen[0].range).toBe('bytes=10-');
    expect(await text(await c.openAt(`${base}/data`, 30))).toBe(BODY.subarray(30).toString());
    expect(await text(await c.openAt(`${base}/data`, 0))).toBe(BODY.toString());
    await c.close();
  });

  it('says a certificate is not trusted, naming the host and how to add a CA', async () => {
    const c = client();
    const err = await c.request(`${secureBase}/data`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('TLS');
    expect((err as FerryError).message).toContain(new URL(secureBase).host);
    expect((err as FerryError).message).toMatch(/certificate not trusted/);
    expect((err as FerryError).hint).toMatch(/--ca-file/);
    await c.close();
  });

  it('trusts extra CAs from caFiles and from SSL_CERT_FILE', async () => {
    const c = client({ caFiles: [ca.caFile] });
    expect(await text((await c.request(`${secureBase}/data`)).body)).toBe(BODY.toString());
    await c.close();
    const prev = process.env.SSL_CERT_FILE;
    process.env.SSL_CERT_FILE = ca.caFile;
    try {
      const c2 = client();
      expect(await text((await c2.request(`${secureBase}/data`)).body)).toBe(BODY.toString());
      await c2.close();
    } finally {
      if (prev === undefined) delete process.env.SSL_CERT_FILE;
      else process.env.SSL_CERT_FILE = prev;
    }
    const bundle = buildCaBundle([ca.caFile], {});
    expect(bundle!.list().length).toBeGreaterThan(1);
    expect(() => buildCaBundle([path.join(dir, 'nope.pem')], {})).toThrow(/nope\.pem/);
  });

  it('reads SSL_CERT_DIR only when the list is first asked for (plain-HTTP work never does), and lists each certificate once', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'ferry-ssl-cert-dir-'));
    const certDir = path.join(root, 'certs');
    try {
      const pem = await readFile(ca.caFile, 'utf8');
      const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
      const count = (list: string[]) => list.filter((p) => p.replace(/\s+/g, '').includes(body)).length;
      const defaults = buildCaBundle([], { SSL_CERT_DIR: certDir })!.list().length;
      // Made before the directory exists; the directory filled afterwards is what it lists.
      const bundle = buildCaBundle([ca.caFile], { SSL_CERT_DIR: certDir })!;
      const lazyDirOnly = buildCaBundle([], { SSL_CERT_DIR: certDir })!;
      await mkdir(certDir);
      // The --ca-file's CA again, rewrapped (as a c_rehash directory's copy may be), under two names.
      await writeFile(path.join(certDir, 'site-ca.pem'), `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,76}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`);
      await writeFile(path.join(certDir, 'abcd1234.0'), pem);
      expect(count(lazyDirOnly.list())).toBe(1);
      expect(lazyDirOnly.list().length).toBe(defaults + 1);
      expect(count(bundle.list())).toBe(1);
      expect(bundle.list()).toBe(bundle.list());
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('tunnels HTTPS through HTTPS_PROXY with the extra CA applied to the tunnelled TLS', async () => {
    proxy.seen.length = 0;
    const c = client({ caFiles: [ca.caFile], httpsProxy: proxy.url, httpProxy: proxy.url });
    expect(await text((await c.request(`${secureBase}/data`)).body)).toBe(BODY.toString());
    expect(proxy.seen).toContain(new URL(secureBase).host);
    expect(await text((await c.request(`${base}/data`)).body)).toBe(BODY.toString());
    expect(proxy.seen).toContain(`${base}/data`);
    await c.close();
    const bypass = client({ httpsProxy: proxy.url, noProxy: '127.0.0.1', caFiles: [ca.caFile] });
    proxy.seen.length = 0;
    await text((await bypass.request(`${secureBase}/data`)).body);
    expect(proxy.seen).toEqual([]);
    await bypass.close();
  });

  it('closes even when a response is still streaming, tearing it down', async () => {
    const c = client();
    const res = await c.request(`${base}/stall`);
    expect(res.status).toBe(200);
    await c.close();
    await expect(text(res.body)).rejects.toThrow();
  });

  it('keeps the connection after a HEAD when asked (registry lookups); by default each HEAD closes it', async () => {
    let connections = 0;
    const server = http.createServer((req, res) => {
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json', 'content-length': '2' });
      res.end(req.method === 'HEAD' ? undefined : '{}');
    });
    server.on('connection', () => connections++);
    const at = `http://127.0.0.1:${await listen(server)}`;
    const heads = async (reuseAfterHead: boolean) => {
      const c = client();
      for (const p of ['/found', '/missing', '/found', '/missing', '/found', '/missing', '/found', '/missing']) {
        const res = await c.request(at + p, { method: 'HEAD', reuseAfterHead });
        await discard(res.body);
        expect(res.status).toBe(p === '/found' ? 200 : 404);
      }
      // A GET after the HEADs reads its own body, not a stray one.
      const got = await c.request(`${at}/found`);
      expect(await text(got.body)).toBe('{}');
      await c.close();
    };
    try {
      // Reused: undici may open a second one while the first is being handed back.
      await heads(true);
      expect(connections).toBeLessThanOrEqual(2);
      connections = 0;
      await heads(false);
      expect(connections).toBeGreaterThanOrEqual(8);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('gives up on a refused connection with a NETWORK error naming the URL', async () => {
    const probe = http.createServer();
    const port = await listen(probe);
    await new Promise((r) => probe.close(r));
    const c = client();
    const err = await c.getBytes(`http://127.0.0.1:${port}/x`).catch((e: unknown) => e);
    expect((err as FerryError).code).toBe('NETWORK');
    expect((err as FerryError).message).toContain(`http://127.0.0.1:${port}/x`);
    expect((err as FerryError).message).toMatch(/refused/);
    await c.close();
  });
});

describe('proxy defaults', () => {
  it('never proxies loopback, on top of NO_PROXY (the upper-case variable first, as Go reads it)', () => {
    expect(defaultNoProxy({ NO_PROXY: '.corp.example' })).toBe('.corp.example,localhost,127.0.0.1,::1');
    expect(defaultNoProxy({ no_proxy: 'a', NO_PROXY: 'b' })).toBe('b,localhost,127.0.0.1,::1');
    expect(defaultNoProxy({ no_proxy: 'a', NO_PROXY: '' })).toBe('a,localhost,127.0.0.1,::1');
    expect(defaultNoProxy({})).toBe('localhost,127.0.0.1,::1');
  });
});
