import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressScope, HttpClient } from '../../src/net/http.js';

/**
 * A URL a server named in its answer (`namedBy`: an index naming an archive, a challenge naming
 * its realm) is held to the redirect rule: from a server elsewhere, never this machine or
 * link-local. The server elsewhere is reached through a proxy (a loopback one, as in
 * hostile-22-files); the service on this machine is a second loopback server.
 */
let proxy: Server;
let proxyUrl: string;
let local: Server;
let localUrl: string;
const localSeen: string[] = [];

beforeAll(async () => {
  proxy = createServer((_req, res) => void res.writeHead(200, { 'content-length': '5' }).end('index'));
  local = createServer((req, res) => {
    localSeen.push(req.url ?? '');
    res.writeHead(200, { 'content-length': '6' }).end('secret');
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => local.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  localUrl = `http://127.0.0.1:${(local.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => proxy.close(() => r()));
  await new Promise<void>((r) => local.close(() => r()));
});

describe('addressScope', () => {
  it('reads IPv4-mapped IPv6 and the unspecified addresses as the addresses they connect to', () => {
    expect(addressScope('[::ffff:7f00:1]')).toBe('loopback');
    expect(addressScope('::ffff:127.0.0.1')).toBe('loopback');
    expect(addressScope('[::]')).toBe('loopback');
    expect(addressScope('0.0.0.0')).toBe('loopback');
    expect(addressScope('::ffff:169.254.169.254')).toBe('link-local');
    expect(addressScope('fe80::1')).toBe('link-local');
    expect(addressScope('10.0.0.1')).toBeUndefined();
    expect(addressScope('charts.example.test')).toBeUndefined();
  });
});

describe('a URL named by a server elsewhere', () => {
  it('to this machine is refused, naming both; the service gets nothing', async () => {
    const http = new HttpClient({ httpProxy: proxyUrl, httpsProxy: '', noProxy: 'localhost,127.0.0.1,::1' });
    localSeen.length = 0;
    const err = await http.request(`${localUrl}/admin/token`, { namedBy: 'http://charts.example.test/index.yaml' }).then(
      () => undefined,
      (e: Error) => e,
    );
    await http.close();
    expect(err?.message).toBe(`GET http://charts.example.test/index.yaml: names "${localUrl}/admin/token", which is this machine; refusing to follow a URL there from another host`);
    expect(localSeen).toEqual([]);
  });

  it('named by a server on this machine itself, is followed', async () => {
    const http = new HttpClient({ httpProxy: '', httpsProxy: '', noProxy: '' });
    localSeen.length = 0;
    const res = await http.request(`${localUrl}/chart.tgz`, { namedBy: `${proxyUrl}/index.yaml` });
    res.body.resume();
    await http.close();
    expect(res.status).toBe(200);
    expect(localSeen).toEqual(['/chart.tgz']);
  });
});
