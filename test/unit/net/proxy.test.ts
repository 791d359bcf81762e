import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { CA_HINT, HttpClient, bypassesProxy, defaultNoProxy, proxyEnv, proxyForUrl, proxyLabel } from '../../../src/net/http.js';
import type { RetryPolicy } from '../../../src/net/retry.js';
import { startSquid, type Squid } from '../../support/squid.js';
import { mustRun } from '../../support/cli.js';

/**
 * Proxy refusals and TLS name mismatches as a user meets them: a real squid that requires basic
 * auth, a proxy port where nothing listens, and a server whose certificate names other hosts.
 * Each must come back as a named FerryError (never "unexpected error"), naming the proxy by
 * host:port and never its credentials.
 */
const FAST: RetryPolicy = { retries: 2, minTimeoutMs: 5, maxTimeoutMs: 20, maxRetryAfterMs: 5_000 };
const PASSWORD = 's3cr3t-pw';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function listen(server: http.Server | https.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as FerryError,
  );

describe('proxy refusals (real squid with basic auth)', () => {
  let dir: string;
  let squid: Squid;
  let squidPort: number;
  let plain: http.Server;
  let secure: https.Server;
  let plainBase: string;
  let secureBase: string;
  let caFile: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-proxy-unit-'));
    await chmod(dir, 0o755);
    // A self-signed certificate for other names than the one the client uses (127.0.0.1).
    const key = path.join(dir, 'key.pem');
    caFile = path.join(dir, 'cert.pem');
    await mustRun('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=registry.example', '-addext', 'subjectAltName=DNS:registry.example,DNS:mirror.example', '-keyout', key, '-out', caFile]);
    plain = http.createServer((_req, res) => res.writeHead(200).end('plain ok'));
    secure = https.createServer({ key: await readFile(key), cert: await readFile(caFile) }, (_req, res) => res.writeHead(200).end('secure ok'));
    plainBase = `http://127.0.0.1:${await listen(plain)}`;
    secureBase = `https://127.0.0.1:${await listen(secure)}`;

    squid = await startSquid(dir, {
      password: PASSWORD,
      config: ['acl blocked_port port 9', 'http_access deny blocked_port', 'http_access allow authed', 'http_access deny all'],
    });
    squidPort = squid.ports[0];
  }, 60_000);

  afterAll(async () => {
    await squid?.stop();
    for (const s of [plain, secure]) {
      s?.closeAllConnections();
      await new Promise((r) => s?.close(r));
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const viaSquid = (userinfo: string) => {
    const proxy = `http://${userinfo}127.0.0.1:${squidPort}`;
    return new HttpClient({ retry: FAST, httpProxy: proxy, httpsProxy: proxy, noProxy: '', caFiles: [caFile] });
  };

  it('a 407 on a CONNECT tunnel is an AUTH error naming the proxy, without the credentials', async () => {
    const c = viaSquid(`ferry:wrong-${PASSWORD}@`);
    const err = await failure(c.getBytes(`${secureBase}/x`));
    await c.close();
    expect(err).toBeInstanceOf(FerryError);
    expect(err.code).toBe('AUTH');
    expect(err.message).toContain(`proxy 127.0.0.1:${squidPort} requires authentication (HTTP 407)`);
    expect(err.hint).toMatch(/HTTPS_PROXY.*NO_PROXY/);
    expect(`${err.message} ${err.hint}`).not.toContain(PASSWORD);
    expect(`${err.message} ${err.hint}`).not.toContain('ferry:');
  });

  it('a 407 on a forwarded plain-HTTP request is the same AUTH error; no credentials at all too', async () => {
    for (const userinfo of [`ferry:wrong-${PASSWORD}@`, '']) {
      const c = viaSquid(userinfo);
      const err = await failure(c.getBytes(`${plainBase}/x`));
      await c.close();
      expect(err.code).toBe('AUTH');
      expect(err.message).toContain(`proxy 127.0.0.1:${squidPort} requires authentication (HTTP 407)`);
      expect(err.message).not.toContain(PASSWORD);
    }
  });

  it('with the right credentials the same requests go through', async () => {
    const c = viaSquid(`ferry:${PASSWORD}@`);
    expect((await c.getBytes(`${plainBase}/x`)).toString()).toBe('plain ok');
    await c.close();
  });

  it('a CONNECT the proxy forbids is a NETWORK error naming proxy and target', async () => {
    const c = viaSquid(`ferry:${PASSWORD}@`);
    const err = await failure(c.getBytes('https://127.0.0.1:9/x'));
    await c.close();
    expect(err.code).toBe('NETWORK');
    expect(err.message).toContain(`proxy 127.0.0.1:${squidPort} refused to connect to 127.0.0.1:9 (HTTP 403)`);
    expect(err.message).not.toContain(PASSWORD);
  });

  it('a proxy where nothing listens is a NETWORK error naming it', async () => {
    const port = await freePort();
    const proxy = `http://ferry:${PASSWORD}@127.0.0.1:${port}`;
    for (const url of [`${secureBase}/x`, `${plainBase}/x`]) {
      const c = new HttpClient({ retry: FAST, httpProxy: proxy, httpsProxy: proxy, noProxy: '' });
      const err = await failure(c.getBytes(url));
      await c.close();
      expect(err.code).toBe('NETWORK');
      expect(err.message).toContain(`cannot reach proxy 127.0.0.1:${port} (connection refused)`);
      expect(err.message).not.toContain(PASSWORD);
      expect(err.hint).toMatch(/HTTPS_PROXY/);
    }
  });

  it('a certificate for other names says so and lists them; trusting a CA is not the hint', async () => {
    const c = new HttpClient({ retry: FAST, httpProxy: '', httpsProxy: '', noProxy: '', caFiles: [caFile] });
    const err = await failure(c.getBytes(`${secureBase}/x`));
    await c.close();
    expect(err.code).toBe('TLS');
    expect(err.message).toBe(`${new URL(secureBase).host}: the certificate is for registry.example, mirror.example, not 127.0.0.1`);
    expect(err.hint).toMatch(/host name the certificate names \(registry\.example, mirror\.example\)/);
    expect(err.hint).not.toBe(CA_HINT);
    // An unknown CA still gets the trust-the-CA hint.
    const untrusted = new HttpClient({ retry: FAST, httpProxy: '', httpsProxy: '', noProxy: '' });
    const err2 = await failure(untrusted.getBytes(`${secureBase}/x`));
    await untrusted.close();
    expect(err2.code).toBe('TLS');
    expect(err2.hint).toBe(CA_HINT);
  });
});

describe('proxy helpers', () => {
  it('labels a proxy by host:port only', () => {
    expect(proxyLabel('http://user:pa%40ss@proxy.corp:3128')).toBe('proxy.corp:3128');
    expect(proxyLabel('https://proxy.corp')).toBe('proxy.corp:443');
    expect(proxyLabel('proxy.corp:8080')).toBe('proxy.corp:8080');
  });

  it('matches NO_PROXY as Go\'s httpproxy does', () => {
    const u = (s: string) => new URL(s);
    expect(bypassesProxy(u('https://a.corp.example/x'), '.corp.example')).toBe(true);
    expect(bypassesProxy(u('https://corp.example/x'), 'corp.example')).toBe(true);
    expect(bypassesProxy(u('https://corp.example/x'), '*.corp.example')).toBe(false);
    expect(bypassesProxy(u('https://x.corp.example:8443/'), 'corp.example:443')).toBe(false);
    expect(bypassesProxy(u('https://x.corp.example/'), 'corp.example:443')).toBe(true);
    expect(bypassesProxy(u('http://[::1]:80/'), '::1')).toBe(true);
    expect(bypassesProxy(u('http://anything/'), 'a, *')).toBe(true);
    expect(bypassesProxy(u('http://other.example/'), 'corp.example')).toBe(false);
    // Go: a name entry matches the name and its subdomains; a leading dot or *. subdomains only
    expect(bypassesProxy(u('https://a.corp.example/'), 'corp.example')).toBe(true);
    expect(bypassesProxy(u('https://corp.example/'), '.corp.example')).toBe(false);
    expect(bypassesProxy(u('https://notcorp.example/'), 'corp.example')).toBe(false);
    // a name entry never matches an IP literal, an IP entry never a name
    expect(bypassesProxy(u('https://10.1.2.3/'), '2.3')).toBe(false);
    expect(bypassesProxy(u('https://10.1.2.3/'), '10.1.2.3')).toBe(true);
    expect(bypassesProxy(u('https://10.1.2.3:5000/'), '10.1.2.3:5000')).toBe(true);
    expect(bypassesProxy(u('https://10.1.2.3/'), '10.1.2.3:5000')).toBe(false);
    expect(bypassesProxy(u('http://[::ffff:10.1.2.3]/'), '10.1.2.3')).toBe(true);
    expect(bypassesProxy(u('http://[::1]:8080/'), '[::1]:8080')).toBe(true);
    // comma-separated and trimmed; a space inside an entry does not separate
    expect(bypassesProxy(u('https://b.example/'), ' a.example , B.Example ')).toBe(true);
    expect(bypassesProxy(u('https://b.example/'), 'a.example b.example')).toBe(false);
    // an internationalised name in Unicode matches the URL's punycode host
    expect(bypassesProxy(u('https://registry.bücher.example/'), 'bücher.example')).toBe(true);
  });

  it('picks the proxy by scheme as Go\'s ProxyFromEnvironment does: HTTPS_PROXY for https only, HTTP_PROXY for http only', () => {
    const u = (s: string) => new URL(s);
    const httpOnly = { httpProxy: 'http://proxy:3128', noProxy: '' };
    expect(proxyForUrl(u('https://registry.example/v2/'), httpOnly)).toBeUndefined();
    expect(proxyForUrl(u('http://mirror.example/debian/'), httpOnly)).toBe('http://proxy:3128');
    const httpsOnly = { httpsProxy: 'http://tls-proxy:3128', noProxy: '' };
    expect(proxyForUrl(u('https://registry.example/v2/'), httpsOnly)).toBe('http://tls-proxy:3128');
    expect(proxyForUrl(u('http://mirror.example/debian/'), httpsOnly)).toBeUndefined();
    expect(proxyForUrl(u('https://registry.example/v2/'), { ...httpsOnly, noProxy: 'example' })).toBeUndefined();
    expect(proxyForUrl(u('https://127.0.0.1:5000/'), { ...httpsOnly, noProxy: defaultNoProxy({}) })).toBeUndefined();
    expect(proxyForUrl(u('https://localhost:5000/'), { ...httpsOnly, noProxy: defaultNoProxy({}) })).toBeUndefined();
  });

  it('reads the variables as Go does: upper case first, empty is unset, a value without a scheme is http://', () => {
    expect(proxyEnv('https_proxy', { HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:1' })).toBe('http://upper:1');
    expect(proxyEnv('https_proxy', { HTTPS_PROXY: '', https_proxy: 'http://lower:1' })).toBe('http://lower:1');
    expect(proxyEnv('http_proxy', { http_proxy: 'proxy.corp:3128' })).toBe('http://proxy.corp:3128');
    expect(proxyEnv('http_proxy', { HTTP_PROXY: '', http_proxy: '' })).toBeUndefined();
  });
});
