import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors.js';
import { HttpClient } from '../../src/net/http.js';
import type { RetryPolicy } from '../../src/net/retry.js';
import { RegistryClient, type RepoRef } from '../../src/oci/client.js';
import { CredentialStore } from '../../src/oci/credentials.js';
import { HashedReads } from '../../src/store/hashed-reads.js';
import { HashThreads } from '../../src/store/hash-threads.js';
import type { BlobSource } from '../../src/store/source.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { pseudoRandomStream } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * Import's one read: blobs pushed to a real Distribution registry straight from the bundle,
 * hashed on the way (HashedReads). A blob whose bytes do not match its digest never completes
 * its upload (monolithic or chunked); a resumed chunked upload hashes the part it skips.
 */
const FAST: RetryPolicy = { retries: 3, minTimeoutMs: 20, maxTimeoutMs: 200, maxRetryAfterMs: 10_000 };
const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const MB = 1024 * 1024;

let reg: RunningRegistry;
let proxy: FaultProxy;
let home: string;

/** The bundle side: blobs by digest from memory, served as stored (the damage included). */
function memorySource(blobs: Map<string, Buffer>): BlobSource {
  return {
    async blobSize(d) {
      return blobs.get(d)?.length;
    },
    async openBlob(d, start = 0, end) {
      const b = blobs.get(d)!;
      // Several chunks, as a file read gives them.
      const part = b.subarray(start, end === undefined ? b.length : end + 1);
      const chunks: Buffer[] = [];
      for (let i = 0; i < part.length; i += 64 * 1024) chunks.push(part.subarray(i, i + 64 * 1024));
      return Readable.from(chunks);
    },
    async readBlob(d) {
      return blobs.get(d)!;
    },
    async readIndex() {
      return { schemaVersion: 2, manifests: [] };
    },
  };
}

async function bytesOf(n: number, seed: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of pseudoRandomStream(n, seed)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function client(): { client: RegistryClient; http: HttpClient } {
  const http = new HttpClient({ retry: FAST });
  return { http, client: new RegistryClient({ http, credentials: new CredentialStore({ env: { HOME: home, PATH: process.env.PATH } }), retry: FAST }) };
}

async function blobStatus(repository: string, digest: string): Promise<number> {
  return (await fetch(`${reg.url}/v2/${repository}/blobs/${digest}`, { method: 'HEAD' })).status;
}

beforeAll(async () => {
  reg = await startRegistry({ mode: 'http' });
  proxy = await startFaultProxy(reg.url);
  home = await mkdtemp(path.join(os.tmpdir(), 'ferry-home-'));
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

describe('a blob pushed straight from the bundle, hashed on the way', () => {
  for (const [how, chunkSize, threads] of [
    ['monolithic', 64 * MB, 0],
    ['chunked', MB, 0],
    ['monolithic on hash workers', 64 * MB, 2],
    ['chunked on hash workers', MB, 2],
  ] as const) {
    it(`${how}: a clean blob is uploaded and recorded as verified, the bundle read once`, async () => {
      const bytes = await bytesOf(3 * MB + 11, `clean-${how}`);
      const digest = sha256(bytes);
      const pool = new HashThreads(threads);
      const reads = new HashedReads(memorySource(new Map([[digest, bytes]])), 'test.tar', pool);
      const { client: c, http } = client();
      const repo: RepoRef = { registry: reg.host, repository: `hashed/${how.replace(/ /g, '-')}-clean` };
      const r = await c.pushBlob(repo, { digest, size: bytes.length }, (start) => reads.openBlob(digest, start), { chunkSize });
      await http.close();
      await pool.close();
      expect(r).toBe('uploaded');
      expect(await blobStatus(repo.repository, digest)).toBe(200);
      expect(reads.verified.get(`blobs/sha256/${digest.slice(7)}`)).toBe(digest.slice(7));
      expect(reads.bytesRead).toBe(bytes.length);
    });

    it(`${how}: a damaged blob fails before its upload completes; the registry does not have it`, async () => {
      const bytes = await bytesOf(3 * MB + 11, `damaged-${how}`);
      const digest = sha256(bytes);
      const damaged = Buffer.from(bytes);
      damaged[MB + 5] ^= 0xff;
      const pool = new HashThreads(threads);
      const reads = new HashedReads(memorySource(new Map([[digest, damaged]])), 'test.tar', pool);
      const { client: c, http } = client();
      const repo: RepoRef = { registry: reg.host, repository: `hashed/${how.replace(/ /g, '-')}-damaged` };
      const err = await c.pushBlob(repo, { digest, size: bytes.length }, (start) => reads.openBlob(digest, start), { chunkSize }).catch((e: unknown) => e);
      await http.close();
      await pool.close();
      expect(err).toBeInstanceOf(FerryError);
      expect((err as FerryError).code).toBe('VERIFY');
      expect((err as FerryError).message).toContain(`test.tar: blob ${digest}: digest mismatch (content hashes to ${sha256(damaged)})`);
      expect(await blobStatus(repo.repository, digest)).toBe(404);
      expect(reads.verified.size).toBe(0);
      // Asked again (a retry, another repository): refused at once, nothing read.
      const before = reads.bytesRead;
      await expect(reads.openBlob(digest, 0)).rejects.toThrow(/digest mismatch/);
      expect(reads.bytesRead).toBe(before);
    });
  }

  it('a small blob (read whole, hashed on this thread) is pushed and recorded as verified; damaged, no byte goes on', async () => {
    const small = await bytesOf(300, 'small');
    const digest = sha256(small);
    const damaged = Buffer.from(small);
    damaged[0] ^= 1;
    const { client: c, http } = client();
    const clean = new HashedReads(memorySource(new Map([[digest, small]])), 'test.tar');
    const repo: RepoRef = { registry: reg.host, repository: 'hashed/small' };
    expect(await c.pushBlob(repo, { digest, size: small.length }, (start) => clean.openBlob(digest, start))).toBe('uploaded');
    expect(clean.verified.get(`blobs/sha256/${digest.slice(7)}`)).toBe(digest.slice(7));
    expect(clean.bytesRead).toBe(small.length);

    const bad = new HashedReads(memorySource(new Map([[digest, damaged]])), 'test.tar');
    let got = 0;
    const err = await (async () => {
      for await (const chunk of await bad.openBlob(digest)) got += (chunk as Buffer).length;
    })().catch((e: unknown) => e);
    expect((err as FerryError).message).toContain(`test.tar: blob ${digest}: digest mismatch (content hashes to ${sha256(damaged)})`);
    expect(got).toBe(0);
    expect(bad.verified.size).toBe(0);
    const other: RepoRef = { registry: reg.host, repository: 'hashed/small-damaged' };
    await expect(c.pushBlob(other, { digest, size: small.length }, (start) => bad.openBlob(digest, start))).rejects.toThrow(/digest mismatch/);
    expect(await blobStatus(other.repository, digest)).toBe(404);

    // A bundle whose read gives more bytes than the blob's size: refused as well.
    const longer = new HashedReads({ ...memorySource(new Map([[digest, Buffer.concat([small, Buffer.from('x')])]])), blobSize: async () => small.length }, 'test.tar');
    await expect(longer.openBlob(digest)).rejects.toThrow(`${small.length + 1} of its ${small.length} bytes`);
    await http.close();
  });

  it('a damaged blob of the right size: every byte but the last chunk goes on, then the stream fails', async () => {
    const bytes = await bytesOf(MB, 'last-chunk');
    const digest = sha256(bytes);
    const damaged = Buffer.from(bytes);
    damaged[7] ^= 1;
    const reads = new HashedReads(memorySource(new Map([[digest, damaged]])), 'test.tar');
    let got = 0;
    const err = await (async () => {
      for await (const c of await reads.openBlob(digest)) got += (c as Buffer).length;
    })().catch((e: unknown) => e);
    expect((err as FerryError).message).toContain('digest mismatch');
    expect(got).toBe(bytes.length - 64 * 1024);
  });

  it('a blob longer than its size is refused before its last chunk goes on', async () => {
    const bytes = await bytesOf(MB, 'longer');
    const digest = sha256(bytes);
    const longer = Buffer.concat([bytes, Buffer.from('extra')]);
    const src = memorySource(new Map([[digest, longer]]));
    const reads = new HashedReads({ ...src, blobSize: async () => bytes.length }, 'test.tar');
    let got = 0;
    const err = await (async () => {
      for await (const c of await reads.openBlob(digest)) got += (c as Buffer).length;
    })().catch((e: unknown) => e);
    expect((err as FerryError).message).toContain(`more than its ${bytes.length} bytes`);
    expect(got).toBeLessThan(bytes.length);
  });

  it('a chunked upload resumed after a failed PATCH hashes the part it skips, and is recorded as verified', async () => {
    proxy.clearRules();
    proxy.requests.length = 0;
    const bytes = await bytesOf(3 * MB + 77, 'resumed');
    const digest = sha256(bytes);
    proxy.addRule({ method: 'PATCH', path: /\/v2\/hashed\/resumed\/blobs\/uploads\//, action: { kind: 'status', status: 503 }, skip: 1, times: 1 });
    const reads = new HashedReads(memorySource(new Map([[digest, bytes]])), 'test.tar');
    const { client: c, http } = client();
    const repo: RepoRef = { registry: proxy.host, repository: 'hashed/resumed' };
    const r = await c.pushBlob(repo, { digest, size: bytes.length }, (start) => reads.openBlob(digest, start), { chunkSize: MB });
    await http.close();
    expect(r).toBe('uploaded');
    expect(proxy.requests.filter((x) => x.method === 'PATCH').length).toBe(5);
    expect(await blobStatus('hashed/resumed', digest)).toBe(200);
    expect(reads.verified.get(`blobs/sha256/${digest.slice(7)}`)).toBe(digest.slice(7));
    // The stream was reopened at 1 MiB: its prefix read (and hashed) again, on top of the whole blob.
    expect(reads.bytesRead).toBeGreaterThanOrEqual(bytes.length + MB);
  });
});
