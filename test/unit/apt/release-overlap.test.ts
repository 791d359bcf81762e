import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { fetchVerifiedRelease } from '../../../src/kinds/apt/repo.js';
import { HttpClient } from '../../../src/net/http.js';
import type { PublicKeys } from '../../../src/net/pgp.js';
import { BlobStore } from '../../../src/store/blob-store.js';

let server: Server;
let base: string;
let keysReady: (() => void) | undefined;
const seen: string[] = [];

beforeAll(async () => {
  // A repository with no Release at all; the first request it sees lets the keys finish loading.
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    keysReady?.();
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/repo`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function store() {
  const s = new BlobStore(await mkdtemp(path.join(os.tmpdir(), 'ferry-release-')));
  await s.init();
  return s;
}

describe('fetchVerifiedRelease while the keys load', () => {
  it('sends its requests before the keys are ready (the round trips overlap loading OpenPGP)', async () => {
    // Keys that become ready only once the repository has been asked: had the requests waited for
    // the keys, this would never settle.
    const keys = new Promise<PublicKeys>((resolve) => (keysReady = () => resolve([])));
    const err = await fetchVerifiedRelease(base, 'bookworm', keys, new HttpClient(), await store(), 'apt[t] bookworm').catch((e: unknown) => e);
    expect(seen).toContain('/repo/dists/bookworm/InRelease');
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('NOT_FOUND');
  });

  it('a key that fails to load is the error reported, not what the repository answered', async () => {
    const s = await store();
    const keys = Promise.reject(new FerryError('VALIDATION', 'apt[t] bookworm: keys/vendor.asc is not an OpenPGP public key'));
    const err = await fetchVerifiedRelease('http://127.0.0.1:9/repo', 'bookworm', keys, new HttpClient({ connectTimeoutMs: 2000 }), s, 'apt[t] bookworm').catch((e: unknown) => e);
    expect((err as FerryError).code).toBe('VALIDATION');
    expect((err as FerryError).message).toMatch(/not an OpenPGP public key/);
  });
});
