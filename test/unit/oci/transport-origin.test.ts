import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RegistryTransport } from '../../../src/oci/transport.js';
import type { HttpClient } from '../../../src/net/http.js';

/**
 * Credentials go with a request only to the registry's own origin (scheme, host and port): an
 * upload Location naming the same host over plain http from an https registry (a downgrade a
 * hostile or broken registry can send) got the Authorization header in clear text.
 */
describe('registry credentials and the request origin', () => {
  it('a same-host http:// URL from an https registry gets no Authorization header; the https origin does', async () => {
    const seen: Array<{ url: string; authorization?: string }> = [];
    const http = {
      request: async (url: string, opts: { headers?: Record<string, string> }) => {
        seen.push({ url, authorization: opts.headers?.authorization });
        // The first request learns the Basic challenge; every later one is answered 202.
        const status = seen.length === 1 ? 401 : 202;
        return { status, headers: status === 401 ? { 'www-authenticate': 'Basic realm="reg"' } : {}, body: Readable.from([]), url };
      },
    } as unknown as HttpClient;
    const credentials = { lookup: async () => ({ credential: { username: 'u', password: 'p' }, searched: [], warnings: [] }) };
    const t = new RegistryTransport({ http, credentials } as unknown as ConstructorParameters<typeof RegistryTransport>[0]);
    const ctx = { registry: 'reg.example', scopes: ['repository:app:pull,push'], repo: { registry: 'reg.example', repository: 'app' } };
    await t.send(ctx as never, 'POST', '/v2/app/blobs/uploads/');
    await t.send(ctx as never, 'PATCH', 'http://reg.example/v2/app/blobs/uploads/abc');
    await t.send(ctx as never, 'PATCH', 'https://reg.example/v2/app/blobs/uploads/abc');
    const basic = `Basic ${Buffer.from('u:p').toString('base64')}`;
    expect(seen).toEqual([
      { url: 'https://reg.example/v2/app/blobs/uploads/', authorization: undefined },
      { url: 'https://reg.example/v2/app/blobs/uploads/', authorization: basic },
      { url: 'http://reg.example/v2/app/blobs/uploads/abc', authorization: undefined },
      { url: 'https://reg.example/v2/app/blobs/uploads/abc', authorization: basic },
    ]);
  });
});
