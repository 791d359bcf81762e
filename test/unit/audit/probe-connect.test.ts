import net, { type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { environmentProxies, parseProxyUrl, proxyConnect, verdictOf, type ProxySpec } from '../../../src/audit/probe.js';

/**
 * The CONNECT exchange against in-process proxies that misbehave on purpose (fault injection:
 * a crafted status line, silence, garbage); the real squid is in test/e2e/probe-proxy.test.ts.
 */
const open: net.Server[] = [];
const sockets: Socket[] = [];

async function fakeProxy(answer: (request: string, sock: Socket) => void): Promise<{ spec: ProxySpec; received: () => string; closed: Promise<void> }> {
  let data = '';
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const server = net.createServer((sock) => {
    sockets.push(sock);
    let answered = false;
    sock.on('data', (c) => {
      data += c.toString('latin1');
      if (!answered && data.includes('\r\n\r\n')) {
        answered = true;
        answer(data, sock);
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => resolveClosed());
  });
  open.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { spec: { host: '127.0.0.1', port, tls: false, source: '--proxy' }, received: () => data, closed };
}

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of open.splice(0)) await new Promise((r) => s.close(r));
});

describe('proxyConnect', () => {
  it('sends one CONNECT with Basic credentials, reads the answer, sends nothing more and closes', async () => {
    const p = await fakeProxy((_req, sock) => sock.write('HTTP/1.1 200 Connection established\r\n\r\n'));
    const spec = { ...parseProxyUrl(`http://us%40er:p%3Ass@127.0.0.1:${p.spec.port}`, '--proxy') };
    const a = await proxyConnect(spec, '2001:db8::1', 443, 2000);
    expect(a).toEqual({ result: 'reachable', statusCode: 200, statusLine: 'HTTP/1.1 200 Connection established' });
    await p.closed;
    const auth = Buffer.from('us@er:p:ss').toString('base64');
    expect(p.received()).toBe(`CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\nUser-Agent: ferry-probe\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`);
  });

  it('a refusal keeps its status line with control characters escaped', async () => {
    const p = await fakeProxy((_req, sock) => sock.end('HTTP/1.1 403 Forbidden\x1b[2J\tby policy\r\nX: y\r\n\r\n'));
    expect(await proxyConnect(p.spec, 'example.test', 443, 2000)).toEqual({ result: 'refused', statusCode: 403, statusLine: 'HTTP/1.1 403 Forbidden\\x1b[2J\\tby policy' });
  });

  it('silence is timed-out, garbage is error, a closed port is proxy-unreachable', async () => {
    const silent = await fakeProxy(() => undefined);
    expect(await proxyConnect(silent.spec, 'example.test', 443, 200)).toMatchObject({ result: 'timed-out', detail: 'no answer to CONNECT within 200 ms' });
    const garbage = await fakeProxy((_req, sock) => sock.end('SSH-2.0-OpenSSH\r\n\r\n'));
    expect(await proxyConnect(garbage.spec, 'example.test', 443, 2000)).toMatchObject({ result: 'error', detail: 'not an HTTP answer', statusLine: 'SSH-2.0-OpenSSH' });
    const hangup = await fakeProxy((_req, sock) => sock.end('HTTP/1.1 200'));
    expect(await proxyConnect(hangup.spec, 'example.test', 443, 2000)).toMatchObject({ result: 'error' });
    const gone = net.createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
    const port = (gone.address() as AddressInfo).port;
    await new Promise((r) => gone.close(r));
    expect(await proxyConnect({ host: '127.0.0.1', port, tls: false, source: 'x' }, 'example.test', 443, 2000)).toEqual({ result: 'proxy-unreachable', detail: 'refused (ECONNREFUSED)' });
  });
});

describe('proxy settings and verdicts', () => {
  it('reads the proxy variables as ferry\'s HTTP client does (HTTPS_PROXY before https_proxy, as Go), empty as unset, with NO_PROXY', () => {
    expect(environmentProxies({ HTTPS_PROXY: 'http://a:3128', https_proxy: 'http://b:3128', HTTP_PROXY: 'c:8080', NO_PROXY: '.corp' })).toEqual([
      { host: 'a', port: 3128, tls: false, source: 'HTTPS_PROXY', noProxy: '.corp' },
      { host: 'c', port: 8080, tls: false, source: 'HTTP_PROXY', noProxy: '.corp' },
    ]);
    expect(environmentProxies({ HTTPS_PROXY: '', HTTP_PROXY: '' })).toEqual([]);
    // An empty upper-case variable is unset: the lower-case one is read, as the HTTP client reads it.
    expect(environmentProxies({ HTTPS_PROXY: '', https_proxy: 'http://b:3128', no_proxy: '.corp' })).toEqual([{ host: 'b', port: 3128, tls: false, source: 'https_proxy', noProxy: '.corp' }]);
    expect(() => parseProxyUrl('http://u:secret@[::1', '--proxy')).toThrow(/not a proxy URL/);
  });

  it('refused is inconclusive unless reset means blocked; a 407 leaves it open to other credentials', () => {
    const t = { name: 'x', host: 'h', port: 443, expected: 'blocked' as const, reason: 'r' };
    expect(verdictOf(t, 'refused', [], false).verdict).toBe('inconclusive');
    expect(verdictOf(t, 'refused', [], true).verdict).toBe('as-declared');
    expect(verdictOf(t, 'timed-out', [{ proxy: 'p:1', result: 'refused', statusCode: 403 }], false).verdict).toBe('as-declared');
    expect(verdictOf(t, 'timed-out', [{ proxy: 'p:1', result: 'refused', statusCode: 407 }], false).verdict).toBe('inconclusive');
    expect(verdictOf(t, 'error', [], false).verdict).toBe('inconclusive');
    expect(verdictOf(t, 'unreachable', [{ proxy: 'p:1', result: 'not-asked' }], false).verdict).toBe('as-declared');
    const proxied = { ...t, expected: 'via-proxy' as const, proxy: 'p:1' };
    expect(verdictOf(proxied, 'reachable', [{ proxy: 'p:1', result: 'reachable', statusCode: 200 }], false).verdict).toBe('unexpected');
    expect(verdictOf(proxied, 'timed-out', [{ proxy: 'p:1', result: 'timed-out' }], false).verdict).toBe('proxy-refused');
  });
});
