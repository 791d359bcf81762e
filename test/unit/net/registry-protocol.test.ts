import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../../src/net/http.js';
import { RegistryClient } from '../../../src/oci/client.js';
import { CredentialStore } from '../../../src/oci/credentials.js';

/**
 * Registry behaviours Distribution 2.8 (the e2e registry) does not show: tag pages with Link
 * (relative and absolute), blob GETs answered with a 307 to a CDN on another origin, and upload
 * Locations carrying their own query parameters. A loopback server plays that registry.
 */
const BLOB = Buffer.from('layer bytes served by the CDN');
const DIGEST = 'sha256:' + createHash('sha256').update(BLOB).digest('hex');
const AUTH = 'Basic ' + Buffer.from('u:p').toString('base64');

describe('registry protocol details', () => {
  let reg: http.Server;
  let cdn: http.Server;
  let host: string;
  let configDir: string;
  let cdnBase: string;
  const seen: Array<{ method: string; url: string; auth?: string }> = [];
  const cdnSeen: Array<{ url: string; auth?: string }> = [];
  const uploaded: Buffer[] = [];
  const all = Array.from({ length: 7 }, (_, i) => `t${i}`);

  beforeAll(async () => {
    cdn = http.createServer((req, res) => {
      cdnSeen.push({ url: req.url ?? '', auth: req.headers.authorization });
      res.writeHead(200, { 'content-length': String(BLOB.length) }).end(BLOB);
    });
    await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
    cdnBase = `http://localhost:${(cdn.address() as AddressInfo).port}`;
    reg = http.createServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization });
      if (req.headers.authorization !== AUTH) {
        req.resume();
        return void res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' }).end();
      }
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/v2/') return void res.writeHead(200).end('{}');
      if (u.pathname === '/v2/team/app/tags/list') {
        const n = Number(u.searchParams.get('n') ?? 100);
        const last = u.searchParams.get('last');
        const start = last ? all.indexOf(last) + 1 : 0;
        const page = all.slice(start, start + n);
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (start + n < all.length) {
          const next = `/v2/team/app/tags/list?n=${n}&last=${page[page.length - 1]}`;
          headers.link = `<${start === 0 ? next : `http://${host}${next}`}>; rel="next"`;
        }
        return void res.writeHead(200, headers).end(JSON.stringify({ name: 'team/app', tags: page }));
      }
      if (u.pathname === `/v2/team/app/blobs/${DIGEST}` && req.method === 'GET') {
        return void res.writeHead(307, { location: `${cdnBase}/blobs/${DIGEST.slice(7)}?X-Amz-Signature=abc%2Bdef` }).end();
      }
      if (u.pathname === `/v2/team/app/blobs/${DIGEST}` && req.method === 'HEAD') return void res.writeHead(404).end();
      if (u.pathname === '/v2/team/app/blobs/uploads/' && req.method === 'POST') {
        return void res.writeHead(202, { location: '/upload/session-1?_state=c3RhdGU%3D&id=1' }).end();
      }
      if (u.pathname === '/upload/session-1' && req.method === 'PUT') {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          uploaded.push(Buffer.concat(chunks));
          res.writeHead(201, { location: `/v2/team/app/blobs/${DIGEST}` }).end();
        });
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => reg.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(reg.address() as AddressInfo).port}`;
    configDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-proto-'));
    await writeFile(path.join(configDir, 'config.json'), JSON.stringify({ auths: { [host]: { username: 'u', password: 'p' } } }));
  });
  afterAll(async () => {
    await rm(configDir, { recursive: true, force: true });
    for (const s of [reg, cdn]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  function makeClient() {
    const credentials = new CredentialStore({ env: { HOME: '/nonexistent', DOCKER_CONFIG: configDir } });
    const httpClient = new HttpClient({ httpProxy: '', httpsProxy: '', noProxy: '' });
    return { httpClient, client: new RegistryClient({ http: httpClient, credentials, plainHttp: () => true }) };
  }

  it('follows Link rel="next" until the last page', async () => {
    const { httpClient, client } = makeClient();
    seen.length = 0;
    expect(await client.listTags({ registry: host, repository: 'team/app' }, { pageSize: 3 })).toEqual(all);
    expect(seen.filter((s) => s.url.includes('tags/list') && s.auth)).toEqual([
      { method: 'GET', url: '/v2/team/app/tags/list?n=3', auth: AUTH },
      { method: 'GET', url: '/v2/team/app/tags/list?n=3&last=t2', auth: AUTH },
      { method: 'GET', url: '/v2/team/app/tags/list?n=3&last=t5', auth: AUTH },
    ]);
    await httpClient.close();
  });

  it('follows a blob 307 to a CDN without sending it the registry credentials', async () => {
    const { httpClient, client } = makeClient();
    cdnSeen.length = 0;
    const chunks: Buffer[] = [];
    for await (const c of await client.openBlob({ registry: host, repository: 'team/app' }, DIGEST)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(BLOB)).toBe(true);
    expect(cdnSeen).toEqual([{ url: `/blobs/${DIGEST.slice(7)}?X-Amz-Signature=abc%2Bdef`, auth: undefined }]);
    await httpClient.close();
  });

  it('finishes an upload at a Location with its own query, appending digest= with &', async () => {
    const { httpClient, client } = makeClient();
    seen.length = 0;
    const r = await client.pushBlob({ registry: host, repository: 'team/app' }, { digest: DIGEST, size: BLOB.length }, async (start) => Readable.from([BLOB.subarray(start)]));
    expect(r).toBe('uploaded');
    const put = seen.find((s) => s.method === 'PUT' && s.auth);
    expect(put?.url).toBe(`/upload/session-1?_state=c3RhdGU%3D&id=1&digest=${encodeURIComponent(DIGEST)}`);
    expect(uploaded[uploaded.length - 1].equals(BLOB)).toBe(true);
    await httpClient.close();
  });
});
