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

describe('a manifest refused for a blob the registry lacks', () => {
  const transport = () => new RegistryTransport({ http: {} as HttpClient } as unknown as ConstructorParameters<typeof RegistryTransport>[0]);
  const answer = (body: unknown) => ({ status: 400, headers: {}, body: Readable.from([Buffer.from(JSON.stringify(body))]), url: 'https://reg.example/v2/app/manifests/1.0' });
  const ctx = { registry: 'reg.example', scopes: ['repository:app:pull,push'] };

  it('names the blob (MANIFEST_BLOB_UNKNOWN with its digest), as a refusal, not "not found"', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const err = await transport()
      .fail(answer({ errors: [{ code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry', detail: digest }] }) as never, 'manifest app:1.0', ctx as never)
      .catch((e: unknown) => e as { code: string; message: string });
    expect(err.code).toBe('VERIFY');
    expect(err.message).toContain(`reg.example refused it: it does not hold the blob ${digest} the manifest references (MANIFEST_BLOB_UNKNOWN), so it did not store the manifest`);
  });

  it('a detail that is no digest is not printed', async () => {
    const err = await transport()
      .fail(answer({ errors: [{ code: 'MANIFEST_BLOB_UNKNOWN', detail: '\u001b[31mhi' }] }) as never, 'manifest app:1.0', ctx as never)
      .catch((e: unknown) => e as { message: string });
    expect(err.message).toContain('it does not hold a blob the manifest references');
    expect(err.message).not.toContain('\u001b');
  });
});
