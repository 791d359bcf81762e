import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HttpClient } from '../../../src/net/http.js';
import { makeClientCert, makeTestCa } from '../../support/registry.js';

/**
 * A host's certs.d client certificate goes to that host:port only: a redirect to another
 * host:port (a blob on object storage) does not carry it. Two loopback HTTPS servers that ask
 * for a client certificate and say whether they got one.
 */
let work: string;
const servers: https.Server[] = [];
let a: string;
let b: string;
let root: string;
let caFile: string;

async function listen(handler: (peer: string, req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void, tlsFiles: { certFile: string; keyFile: string; clientCa: string }): Promise<string> {
  const server = https.createServer(
    { cert: await readFile(tlsFiles.certFile), key: await readFile(tlsFiles.keyFile), ca: await readFile(tlsFiles.clientCa), requestCert: true, rejectUnauthorized: false },
    (req, res) => handler(String((req.socket as TLSSocket).getPeerCertificate()?.subject?.CN ?? 'none'), req, res),
  );
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-certs-d-redirect-'));
  const ca = await makeTestCa(path.join(work, 'ca'));
  const client = await makeClientCert(path.join(work, 'client'), 'registry-client');
  caFile = ca.caFile;
  const tlsFiles = { certFile: ca.certFile, keyFile: ca.keyFile, clientCa: client.caFile };
  b = await listen((peer, _req, res) => res.end(`blob host saw client certificate: ${peer}`), tlsFiles);
  a = await listen((peer, _req, res) => {
    res.writeHead(307, { location: `https://${b}/blob?peer-at-registry=${peer}` }).end();
  }, tlsFiles);
  root = path.join(work, 'certs.d');
  await mkdir(path.join(root, a), { recursive: true });
  await copyFile(client.certFile, path.join(root, a, 'client.cert'));
  await copyFile(client.keyFile, path.join(root, a, 'client.key'));
}, 60_000);

afterAll(async () => {
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await rm(work, { recursive: true, force: true });
});

it('the registry gets the client certificate from its certs.d directory; the host it redirects to does not', async () => {
  const http = new HttpClient({ caFiles: [caFile], certsD: { roots: [root] } });
  try {
    const res = await http.request(`https://${a}/v2/repo/blobs/sha256:00`);
    expect(res.status).toBe(200);
    expect(new URL(res.url).searchParams.get('peer-at-registry')).toBe('registry-client');
    expect(await new Response(res.body as unknown as ReadableStream).text()).toBe('blob host saw client certificate: none');
  } finally {
    await http.close();
  }
});
