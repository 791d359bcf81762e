import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors.js';
import { startRegistryServer, type RegistryServer } from '../../src/serve/server.js';
import { emptyBlobSource } from '../support/blob-source.js';

/** A route that fails: the client learns that it failed, never a path on the serving host. */
const empty = emptyBlobSource;

let server: RegistryServer;
const logged: string[] = [];
beforeAll(async () => {
  server = await startRegistryServer({
    source: empty,
    index: { schemaVersion: 2, manifests: [] },
    mapping: { layout: 'nested' },
    listen: '127.0.0.1:0',
    onError: (m) => logged.push(m),
    routes: [
      {
        prefix: '/io/',
        handle: () => {
          throw Object.assign(new Error("EIO: i/o error, read '/srv/secret/bundles/app.ferry.tar'"), { code: 'EIO' });
        },
      },
      {
        prefix: '/own/',
        handle: () => {
          throw new FerryError('VERIFY', 'app.ferry.tar: blob sha256:ab… does not match its digest');
        },
      },
    ],
  });
});
afterAll(() => server?.close());

describe('serve: a request that fails', () => {
  it("an I/O error goes to the operator's log; the client gets a 500 without the host's path", async () => {
    const res = await fetch(`${server.url}/io/x`);
    const body = await res.text();
    expect(res.status).toBe(500);
    expect(body).not.toContain('/srv/secret');
    expect(logged.join('\n')).toContain("GET /io/x: EIO: i/o error, read '/srv/secret/bundles/app.ferry.tar'");
  });

  it("ferry's own error (a damaged bundle) is said to the client, as before", async () => {
    const res = await fetch(`${server.url}/own/x`);
    expect(res.status).toBe(500);
    expect(await res.text()).toContain('does not match its digest');
  });
});
