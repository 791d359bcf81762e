import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net, { type AddressInfo, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { proxyConnect, verdictOf } from '../../../src/audit/probe.js';
import { HttpClient } from '../../../src/net/http.js';
import { makeTestCa } from '../../support/registry.js';

/** Review findings on the certs.d tunnel routing and on `ferry probe` through an HTTPS proxy. */
let work: string;
let ca: Awaited<ReturnType<typeof makeTestCa>>;
const servers: net.Server[] = [];

async function listen(server: net.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** Resolves once `s` closed, or with 'open' after `ms` (a liveness bound, not a timing assertion). */
function closedWithin(s: Socket, ms: number): Promise<'closed' | 'open'> {
  if (s.destroyed) return Promise.resolve('closed');
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve('open'), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve('closed');
    });
  });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-review-net-'));
  ca = await makeTestCa(path.join(work, 'ca'));
}, 60_000);

afterAll(async () => {
  for (const s of servers) s.close();
  await rm(work, { recursive: true, force: true });
});

it('a certs.d directory that cannot be used fails a proxied request and closes the tunnel the proxy opened', async () => {
  // The registry: only a TCP listener (the request fails before any TLS).
  const target = await listen(net.createServer((s) => s.on('error', () => undefined)));
  // A CONNECT proxy that keeps the client's sockets for inspection.
  const tunnels: Socket[] = [];
  const proxyPort = await listen(
    net.createServer((client) => {
      client.on('error', () => undefined);
      tunnels.push(client);
      let head = '';
      const onData = (d: Buffer) => {
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        client.off('data', onData);
        const [, hostPort] = /^CONNECT (\S+) /.exec(head) ?? [];
        const [h, p] = hostPort.split(':');
        const up = net.connect(Number(p), h, () => client.write('HTTP/1.1 200 Connection established\r\n\r\n'));
        up.on('error', () => client.destroy());
        client.pipe(up).pipe(client);
        client.on('close', () => up.destroy());
      };
      client.on('data', onData);
    }),
  );
  const root = path.join(work, 'certs.d');
  await mkdir(path.join(root, `127.0.0.1:${target}`), { recursive: true });
  await writeFile(path.join(root, `127.0.0.1:${target}`, 'broken.crt'), 'not a certificate\n');
  const http = new HttpClient({ httpsProxy: `http://127.0.0.1:${proxyPort}`, noProxy: '', certsD: { roots: [root] } });
  try {
    await expect(http.request(`https://127.0.0.1:${target}/v2/`)).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining('broken.crt') });
    expect(tunnels.length).toBeGreaterThan(0);
    // The proxy's tunnel is not left open (it would hold a connection at the proxy, and keep
    // ferry's event loop alive, until the proxy timed it out).
    for (const t of tunnels) expect(await closedWithin(t, 5000)).toBe('closed');
  } finally {
    await http.close();
  }
}, 30_000);

it('probe: an HTTPS proxy whose certificate this host does not trust is no evidence that the destination is blocked', async () => {
  // An HTTPS proxy (a certificate from a CA the probe does not know) that would open any tunnel.
  const proxyPort = await listen(
    tls.createServer({ cert: await readFile(ca.certFile), key: await readFile(ca.keyFile) }, (s) => {
      s.on('error', () => undefined);
      s.once('data', () => s.end('HTTP/1.1 200 Connection established\r\n\r\n'));
    }),
  );
  const answer = await proxyConnect({ host: '127.0.0.1', port: proxyPort, tls: true, source: '--proxy' }, 'blocked.example', 443, 5000);
  // The proxy answered TCP: it is not unreachable from here; what it would do is unknown.
  expect(answer.result).not.toBe('proxy-unreachable');
  const target = { name: 'upstream', host: 'blocked.example', port: 443, expected: 'blocked' as const, reason: 'connection blocked' };
  const v = verdictOf(target, 'timed-out', [{ proxy: `127.0.0.1:${proxyPort}`, ...answer }], false);
  expect(v.verdict).toBe('inconclusive');
}, 30_000);

it('probe: a proxy port nobody listens on is still evidence (proxy-unreachable)', async () => {
  const port = await listen(net.createServer());
  const srv = servers.pop()!;
  await new Promise((r) => srv.close(r));
  const answer = await proxyConnect({ host: '127.0.0.1', port, tls: true, source: '--proxy' }, 'blocked.example', 443, 5000);
  expect(answer.result).toBe('proxy-unreachable');
});
