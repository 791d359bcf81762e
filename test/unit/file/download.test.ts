import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadToStore } from '../../../src/kinds/file/download.js';
import { HttpClient } from '../../../src/net/http.js';
import { BlobStore } from '../../../src/store/blob-store.js';
import { isFerryError } from '../../../src/errors.js';
import { startStaticServer, type StaticServer } from '../../support/static-http.js';

let dir: string;
let server: StaticServer;
let http: HttpClient;
const body = randomBytes(300_000);
const sha = (alg: string, b: Buffer) => createHash(alg).update(b).digest('hex');

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-download-'));
  await writeFile(path.join(dir, 'f.bin'), body);
  server = await startStaticServer(dir);
  http = new HttpClient({ retry: { retries: 3, minTimeoutMs: 10, maxTimeoutMs: 50, maxRetryAfterMs: 1000 } });
});

afterAll(async () => {
  await http?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

async function freshStore(): Promise<BlobStore> {
  const s = new BlobStore(await mkdtemp(path.join(dir, 'store-')));
  await s.init();
  return s;
}

describe('downloadToStore', () => {
  it('verifies a sha512-only file while streaming, resumes a dropped connection with Range, and stores it under its sha256', async () => {
    const store = await freshStore();
    server.dropAfter('/f.bin', 100_000);
    const got = await downloadToStore(store, http, `${server.url}/f.bin`, { sha512: sha('sha512', body), size: body.length }, { label: 'files[f]' });
    expect(got.digest).toBe(`sha256:${sha('sha256', body)}`);
    expect(await readFile(store.blobPath(got.digest))).toEqual(body);
    expect(server.requests.some((r) => r.path === '/f.bin' && r.range === 'bytes=100000-')).toBe(true);
    // A second call finds the recorded blob and downloads nothing.
    const before = server.requests.length;
    await downloadToStore(store, http, `${server.url}/f.bin`, { sha512: sha('sha512', body), size: body.length }, { label: 'files[f]' });
    expect(server.requests.length).toBe(before);
  });

  it('resumes a dropped connection for a file whose size is not known yet (ferry lock from a checksum file)', async () => {
    const store = await freshStore();
    server.dropAfter('/f.bin', 150_000);
    const got = await downloadToStore(store, http, `${server.url}/f.bin`, { sha256: sha('sha256', body) }, { label: 'files[f]' });
    expect(got).toMatchObject({ digest: `sha256:${sha('sha256', body)}`, size: body.length });
    expect(await readFile(store.blobPath(got.digest))).toEqual(body);
    expect(server.requests.some((r) => r.path === '/f.bin' && /^bytes=[1-9]\d*-$/.test(r.range ?? ''))).toBe(true);
  });

  it('refuses a sha512 mismatch, names the URL, and keeps nothing', async () => {
    const store = await freshStore();
    const wrong = sha('sha512', Buffer.from('other'));
    await expect(downloadToStore(store, http, `${server.url}/f.bin`, { sha512: wrong }, { label: 'files[f]' })).rejects.toSatisfy(
      (e) => isFerryError(e, 'VERIFY') && (e as Error).message.includes(`${server.url}/f.bin`),
    );
    expect(await readdir(path.join(store.root, 'blobs/sha256'))).toEqual([]);
    expect((await readdir(path.join(store.root, 'ingest'))).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('pins an unchecksummed file by what it hashes to (trust on first use)', async () => {
    const store = await freshStore();
    const got = await downloadToStore(store, http, `${server.url}/f.bin`, {}, { label: 'files[f]' });
    expect(got).toMatchObject({ digest: `sha256:${sha('sha256', body)}`, size: body.length });
  });

  it('deduplicates concurrent downloads of the same content', async () => {
    const store = await freshStore();
    const before = server.requests.filter((r) => r.path === '/f.bin').length;
    const expectSha = { sha256: sha('sha256', body), size: body.length };
    await Promise.all([1, 2, 3].map(() => downloadToStore(store, http, `${server.url}/f.bin`, expectSha, { label: 'x' })));
    expect(server.requests.filter((r) => r.path === '/f.bin').length - before).toBe(1);
  });
});
