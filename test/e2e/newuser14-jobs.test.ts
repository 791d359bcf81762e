import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bypassesProxy } from '../../src/net/http.js';
import { mustRun, runFerry } from '../support/cli.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { startSquid, type Squid } from '../support/squid.js';

/**
 * A bank's platform team (new-user round 14): the connected host reaches the internet only
 * through the bank's proxy (squid; a CONNECT proxy that wants `Proxy-Authorization`, and TLS
 * interception whose private CA re-signs everything, trusted through `SSL_CERT_FILE`), with
 * `HTTPS_PROXY`/`NO_PROXY` set the way the bank's curl and Go tools read them (`.bank.example`
 * suffixes and the internal `10.0.0.0/8` as a CIDR block), registry credentials from a
 * `docker-credential-*` helper named in `~/.docker/config.json` `credHelpers`. The engineer knew
 * Zarf, Hauler and oc-mirror and wrote the manifest from the README. Real squid and a real
 * Distribution registry on loopback (127.0.0.0/8 stands in for the bank's 10.0.0.0/8); the
 * intercepting proxy's error pages come from an in-process fault injector (the installed squid
 * has no ssl-bump).
 *
 * What tripped:
 * - `NO_PROXY=…,10.0.0.0/8` (what curl ≥ 7.86 and every Go tool — docker, skopeo, helm,
 *   containerd — honour) was read as a host name: the internal registry at an IP in that block
 *   went through the corporate proxy, and with a plain-HTTP registry its `Authorization: Basic`
 *   (the robot account from the credential helper) was handed to the proxy in clear text; with
 *   a proxy that refuses internal addresses, `ferry lock` failed with the proxy's 403. A CIDR
 *   entry now sends an IP-literal host in the block direct (IPv4 and IPv6, as curl and Go: no
 *   DNS lookup of names), for every request and for `probe`'s not-asked verdict alike.
 * - The intercepting proxy's own error pages (squid's `ERR_ACCESS_DENIED` for a URL its policy
 *   blocks, `ERR_SECURE_CONNECT_FAIL` when it cannot verify the upstream's certificate) came
 *   back inside the re-signed TLS as if the registry had answered: a 403 was reported as
 *   `access denied by harbor.bank.example` with "the account may not read this repository" (the
 *   team rotated a robot account for nothing), a 503 was retried and ended as a bare `HTTP 503`.
 *   Both are now named as the proxy's answer (`proxy host:port answered with its own error page
 *   (HTTP 403, ERR_ACCESS_DENIED)`), with what to do (ask the proxy team to allow the host,
 *   exempt a private-CA host from interception, or list it in NO_PROXY), and not retried; squid's
 *   `X-Squid-Error` and RFC 9209 `Proxy-Status: …; error=…` mark such a page. The proxy
 *   password stays out of every message.
 */
let work: string;
let registry: RunningRegistry;
let seeded: SeededImages;
let squid: Squid;
let relay: net.Server;
let relayHost: string;
const PROXY_PASSWORD = 'pr0xy-S3cret-bank';
const ROBOT_PASSWORD = 'robot$harbor-T0ken';

const manifest = (refs: string[]) => ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: platform }', 'images:', ...refs.map((r) => `  - ref: ${r}`), ''].join('\n');

/** A plain TCP relay from 127.0.0.2 (an address in the "internal" block, not ferry's built-in loopback bypass) to the registry. */
async function startRelay(to: number): Promise<net.Server> {
  const sockets = new Set<Socket>();
  const server = net.createServer((c) => {
    const up = net.connect(to, '127.0.0.1');
    sockets.add(c);
    sockets.add(up);
    c.pipe(up);
    up.pipe(c);
    const end = () => {
      c.destroy();
      up.destroy();
    };
    c.on('error', end);
    up.on('error', end);
    c.on('close', () => sockets.delete(c));
    up.on('close', () => sockets.delete(up));
  });
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  }) as typeof server.close;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  return server;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser14-'));
  await chmod(work, 0o755);
  registry = await startRegistry({ mode: 'basic', tls: false, username: 'robot', password: ROBOT_PASSWORD });
  seeded = await seedImages(registry);
  relay = await startRelay(Number(registry.host.split(':')[1]));
  relayHost = `127.0.0.2:${(relay.address() as AddressInfo).port}`;
  const squidDir = path.join(work, 'squid');
  await mkdir(squidDir, { recursive: true });
  await chmod(squidDir, 0o777);
  // The bank's proxy: authenticated CONNECT to the internet only; internal addresses are refused.
  squid = await startSquid(squidDir, { password: PROXY_PASSWORD, config: ['acl internal dst 127.0.0.0/8', 'http_access deny !authed', 'http_access deny internal', 'http_access allow authed', 'http_access deny all'] });
  // The registry's robot account comes from a credential helper on PATH, as the bank's docker config names it.
  const bin = path.join(work, 'bin');
  await mkdir(bin, { recursive: true });
  await writeFile(
    path.join(bin, 'docker-credential-bank'),
    `#!/bin/sh\nread server\necho '{"ServerURL":"'"$server"'","Username":"robot","Secret":"${ROBOT_PASSWORD}"}'\n`,
  );
  await chmod(path.join(bin, 'docker-credential-bank'), 0o755);
  await mkdir(path.join(work, 'docker'), { recursive: true });
  await writeFile(path.join(work, 'docker', 'config.json'), JSON.stringify({ credHelpers: { [relayHost]: 'bank' } }));
}, 180_000);

afterAll(async () => {
  await squid?.stop();
  await new Promise((r) => (relay ? relay.close(r) : r(undefined)));
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const bankEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  FERRY_CACHE_DIR: path.join(work, 'cache'),
  FERRY_RETRY_MIN_MS: '50',
  DOCKER_CONFIG: path.join(work, 'docker'),
  PATH: `${path.join(work, 'bin')}:${process.env.PATH}`,
  HTTPS_PROXY: `http://ferry:${PROXY_PASSWORD}@127.0.0.1:${squid.ports[0]}`,
  HTTP_PROXY: `http://ferry:${PROXY_PASSWORD}@127.0.0.1:${squid.ports[0]}`,
  ...extra,
});

describe('NO_PROXY with a CIDR block, as curl and Go read it', () => {
  it('ferry lock reaches the internal registry in the block directly, its credentials never through the proxy', async () => {
    const dir = path.join(work, 'cidr');
    await mkdir(dir, { recursive: true });
    const ref = seeded.refs.app.replace(registry.host, relayHost);
    await writeFile(path.join(dir, 'platform.yaml'), manifest([ref]));
    const r = await runFerry(['lock', 'platform.yaml'], { cwd: dir, env: bankEnv({ NO_PROXY: '.bank.example,127.0.0.0/8' }) });
    expect(r.code, r.stderr).toBe(0);
    const lock = await readFile(path.join(dir, 'platform.lock.json'), 'utf8');
    expect(lock).toContain(seeded.digests.app);
    for (const text of [r.stdout, r.stderr, lock]) {
      expect(text).not.toContain(PROXY_PASSWORD);
      expect(text).not.toContain(ROBOT_PASSWORD);
    }
  });

  it('without the block in NO_PROXY the same request goes to the proxy (the proxy refusal is named)', async () => {
    const dir = path.join(work, 'cidr-off');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'platform.yaml'), manifest([seeded.refs.app.replace(registry.host, relayHost)]));
    const r = await runFerry(['lock', 'platform.yaml'], { cwd: dir, env: bankEnv({ NO_PROXY: '.bank.example' }) });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`proxy 127.0.0.1:${squid.ports[0]}`);
    expect(r.stderr).not.toContain(PROXY_PASSWORD);
  });

  it('a wrong proxy password is named as the proxy\'s 407, and neither password shows, --debug included', async () => {
    const dir = path.join(work, 'proxy-407');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'platform.yaml'), manifest(['registry.bank.example/platform/app:1']));
    const wrong = 'Wr0ng-pr0xy-pass';
    const r = await runFerry(['lock', 'platform.yaml', '--debug'], { cwd: dir, env: bankEnv({ NO_PROXY: '127.0.0.0/8', HTTPS_PROXY: `http://ferry:${wrong}@127.0.0.1:${squid.ports[0]}` }) });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`proxy 127.0.0.1:${squid.ports[0]} requires authentication (HTTP 407)`);
    expect(r.stderr).toContain('HTTPS_PROXY');
    for (const secret of [wrong, PROXY_PASSWORD, encodeURIComponent(wrong), Buffer.from(`ferry:${wrong}`).toString('base64')]) expect(r.stderr + r.stdout).not.toContain(secret);
  });

  it('bypassesProxy matches IP literals against IPv4 and IPv6 blocks, never a name', () => {
    const u = (s: string) => new URL(s);
    expect(bypassesProxy(u('https://10.1.2.3:5000/v2/'), 'corp.example,10.0.0.0/8')).toBe(true);
    expect(bypassesProxy(u('https://11.1.2.3/v2/'), '10.0.0.0/8')).toBe(false);
    expect(bypassesProxy(u('https://172.20.0.9/'), '172.16.0.0/12')).toBe(true);
    expect(bypassesProxy(u('https://172.32.0.9/'), '172.16.0.0/12')).toBe(false);
    expect(bypassesProxy(u('https://192.168.1.1/'), '192.168.1.1/32')).toBe(true);
    expect(bypassesProxy(u('https://8.8.8.8/'), '0.0.0.0/0')).toBe(true);
    expect(bypassesProxy(u('https://[fd00::5]:443/'), 'fd00::/8')).toBe(true);
    expect(bypassesProxy(u('https://[fe80::1]/'), 'fd00::/8')).toBe(false);
    expect(bypassesProxy(u('https://[::ffff:10.9.8.7]/'), '10.0.0.0/8')).toBe(true);
    expect(bypassesProxy(u('https://[2001:db8:0:1::7]/'), '2001:db8::/48')).toBe(true);
    expect(bypassesProxy(u('https://[2001:db8:1::7]/'), '2001:db8::/48')).toBe(false);
    // A name is not looked up: only IP literals fall in a block.
    expect(bypassesProxy(u('https://harbor.bank.example/'), '10.0.0.0/8')).toBe(false);
    expect(bypassesProxy(u('https://10.1.2.3/'), '10.0.0.0/garbage')).toBe(false);
  });
});

/** The bank's TLS-intercepting proxy at its worst: every CONNECT is re-signed by its CA and answered with squid's error page. */
async function startInterceptingProxy(ca: { key: string; cert: string }, page: { status: number; squidError: string }): Promise<{ port: number; connects: string[]; auths: string[]; stop(): Promise<void> }> {
  const connects: string[] = [];
  const auths: string[] = [];
  const sockets = new Set<Socket>();
  const inner = http.createServer((req, res) => {
    auths.push(String(req.headers.authorization ?? ''));
    const html = `<html><body><h1>ERROR</h1><p>The requested URL could not be retrieved</p><p>${page.squidError}</p></body></html>`;
    res.writeHead(page.status, { 'content-type': 'text/html', server: 'squid/5.7', 'x-squid-error': `${page.squidError} 0`, 'mime-version': '1.0' });
    res.end(html);
  });
  const server = http.createServer((_req, res) => res.writeHead(400).end());
  server.on('connect', (req, socket: Socket) => {
    connects.push(req.url ?? '');
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
    const t = new tls.TLSSocket(socket, { isServer: true, key: ca.key, cert: ca.cert });
    t.on('error', () => undefined);
    inner.emit('connection', t);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connects,
    auths,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('the intercepting proxy\'s own error pages', () => {
  let pki: { key: string; cert: string; caFile: string };
  beforeAll(async () => {
    const d = path.join(work, 'pki');
    await mkdir(d, { recursive: true });
    const run = (args: string[]) => mustRun('openssl', args, { cwd: d });
    await run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Bank Intercept CA']);
    await run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=harbor.bank.example']);
    await writeFile(path.join(d, 'ext'), 'subjectAltName=DNS:harbor.bank.example\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
    await run(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '2', '-extfile', 'ext']);
    pki = { key: await readFile(path.join(d, 'leaf.key'), 'utf8'), cert: await readFile(path.join(d, 'leaf.pem'), 'utf8'), caFile: path.join(d, 'ca.pem') };
  }, 60_000);

  const lockThrough = async (page: { status: number; squidError: string }) => {
    const proxy = await startInterceptingProxy(pki, page);
    try {
      const dir = await mkdtemp(path.join(work, 'intercept-'));
      await writeFile(path.join(dir, 'platform.yaml'), manifest(['harbor.bank.example/platform/app:1']));
      await mkdir(path.join(dir, 'docker'), { recursive: true });
      await writeFile(path.join(dir, 'docker', 'config.json'), JSON.stringify({ auths: { 'harbor.bank.example': { auth: Buffer.from(`robot:${ROBOT_PASSWORD}`).toString('base64') } } }));
      const r = await runFerry(['lock', 'platform.yaml'], {
        cwd: dir,
        env: bankEnv({
          HTTPS_PROXY: `http://ferry:${PROXY_PASSWORD}@127.0.0.1:${proxy.port}`,
          HTTP_PROXY: '',
          NO_PROXY: '',
          SSL_CERT_FILE: pki.caFile,
          DOCKER_CONFIG: path.join(dir, 'docker'),
        }),
      });
      return { r, proxy };
    } finally {
      await proxy.stop();
    }
  };

  it('a 403 page from the proxy\'s URL policy is the proxy\'s refusal, not the registry denying the robot account', async () => {
    const { r, proxy } = await lockThrough({ status: 403, squidError: 'ERR_ACCESS_DENIED' });
    expect(proxy.connects).toContain('harbor.bank.example:443');
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`proxy 127.0.0.1:${proxy.port} answered with its own error page (HTTP 403, ERR_ACCESS_DENIED)`);
    expect(r.stderr).not.toContain('access denied by harbor.bank.example');
    expect(r.stderr).not.toMatch(/account .*may not read/);
    expect(r.stderr).toContain('NO_PROXY');
    expect(r.stderr + r.stdout).not.toContain(PROXY_PASSWORD);
    expect(r.stderr + r.stdout).not.toContain(ROBOT_PASSWORD);
  });

  it('a 503 ERR_SECURE_CONNECT_FAIL page says the proxy could not verify the upstream, with what to do, and is not retried', async () => {
    const { r, proxy } = await lockThrough({ status: 503, squidError: 'ERR_SECURE_CONNECT_FAIL' });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`proxy 127.0.0.1:${proxy.port} answered with its own error page (HTTP 503, ERR_SECURE_CONNECT_FAIL)`);
    expect(r.stderr).toContain('could not make a verified TLS connection to harbor.bank.example');
    expect(r.stderr).toContain('ssl_bump splice');
    expect(r.stderr).not.toMatch(/: HTTP 503\s*$/m);
    // Not retried: one request, one tunnel.
    expect(proxy.connects.length).toBe(1);
    expect(r.stderr + r.stdout).not.toContain(PROXY_PASSWORD);
  });

  it('a 502 ERR_CONNECT_FAIL page (the proxy could not reach the host: often passing) is retried, then named as the proxy\'s failure', async () => {
    const { r, proxy } = await lockThrough({ status: 502, squidError: 'ERR_CONNECT_FAIL' });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`proxy 127.0.0.1:${proxy.port} answered with its own error page (HTTP 502, ERR_CONNECT_FAIL): it could not connect to harbor.bank.example`);
    expect(r.stderr).toMatch(/gave up after \d+ attempts/);
    expect(proxy.auths.length).toBeGreaterThan(1);
    expect(r.stderr + r.stdout).not.toContain(PROXY_PASSWORD);
  });
});
