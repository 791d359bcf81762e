import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors.js';
import { HttpClient } from '../../src/net/http.js';
import type { RetryPolicy } from '../../src/net/retry.js';
import { RegistryClient, type RepoRef } from '../../src/oci/client.js';
import { CredentialStore } from '../../src/oci/credentials.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { mustRun } from '../support/cli.js';
import { startConnectProxy, startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { pseudoRandomStream, seedImages, skopeoDigest, skopeoRawManifest, type SeededImages } from '../support/images.js';
import { skopeoEnv, skopeoTlsArgs, startRegistry, type RegistryMode, type RunningRegistry } from '../support/registry.js';

const FAST: RetryPolicy = { retries: 4, minTimeoutMs: 20, maxTimeoutMs: 200, maxRetryAfterMs: 10_000 };
const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

function repoOf(ref: string): { repo: RepoRef; tag: string } {
  const slash = ref.indexOf('/');
  const colon = ref.lastIndexOf(':');
  return { repo: { registry: ref.slice(0, slash), repository: ref.slice(slash + 1, colon) }, tag: ref.slice(colon + 1) };
}

function clientFor(reg: RunningRegistry, opts: { password?: string; home: string; onRetry?: (m: string) => void; ca?: boolean } = { home: os.tmpdir() }) {
  const http = new HttpClient({ caFiles: reg.caFile && opts.ca !== false ? [reg.caFile] : [], retry: FAST });
  const env: NodeJS.ProcessEnv = { HOME: opts.home, PATH: process.env.PATH };
  if (reg.dockerConfigDir) env.DOCKER_CONFIG = reg.dockerConfigDir;
  const credentials = new CredentialStore({ env });
  return { http, client: new RegistryClient({ http, credentials, retry: FAST, onRetry: opts.onRetry }) };
}

/** Hash a blob as the registry serves it, read with Node's own fetch (not the client under test). */
async function servedBlobDigest(reg: RunningRegistry, repository: string, digest: string): Promise<string> {
  const res = await fetch(`${reg.url}/v2/${repository}/blobs/${digest}`);
  expect(res.status).toBe(200);
  return sha256(Buffer.from(await res.arrayBuffer()));
}

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Copy one image (manifest or index with its children) between repositories with the client under test. */
async function copyImage(client: RegistryClient, from: RepoRef, ref: string, to: RepoRef, tag: string, opts: { chunkSize?: number; mount?: boolean } = {}): Promise<string[]> {
  const results: string[] = [];
  const copyManifest = async (reference: string, asTag?: string): Promise<string> => {
    const m = await client.getManifest(from, reference);
    const j = JSON.parse(m.bytes.toString('utf8')) as { manifests?: { digest: string }[]; config?: { digest: string; size: number }; layers?: { digest: string; size: number }[] };
    if (j.manifests) {
      for (const child of j.manifests) await copyManifest(child.digest);
    } else {
      for (const b of [j.config!, ...j.layers!]) {
        const r = await client.pushBlob(to, b, (start) => client.openBlob(from, b.digest, start), { chunkSize: opts.chunkSize, mountFrom: opts.mount ? [from.repository] : [] });
        results.push(r);
      }
    }
    return client.putManifest(to, asTag ?? m.digest, m.bytes, m.mediaType);
  };
  await copyManifest(ref, tag);
  return results;
}

const MODES: RegistryMode[] = ['http', 'tls', 'basic', 'token'];

describe.each(MODES)('RegistryClient against docker-registry (%s)', (mode) => {
  let reg: RunningRegistry;
  let seeded: SeededImages;
  let home: string;
  let client: RegistryClient;
  let http: HttpClient;

  beforeAll(async () => {
    reg = await startRegistry({ mode, identityToken: mode === 'token' ? 'refresh-me-123' : undefined });
    seeded = await seedImages(reg);
    home = await mkdtemp(path.join(os.tmpdir(), 'ferry-home-'));
    ({ client, http } = clientFor(reg, { home }));
  });
  afterAll(async () => {
    await http?.close();
    await reg?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('pings and reads OCI, Docker schema 2 and index manifests byte for byte (digests equal skopeo)', async () => {
    await client.ping(reg.host);
    for (const key of ['base', 'app', 'multi', 'docker'] as const) {
      const { repo, tag } = repoOf(seeded.refs[key]);
      const m = await client.getManifest(repo, tag);
      expect(m.digest).toBe(seeded.digests[key]);
      expect(m.bytes.equals(await skopeoRawManifest(reg, seeded.refs[key]))).toBe(true);
      const byDigest = await client.getManifest(repo, m.digest);
      expect(byDigest.digest).toBe(m.digest);
      const head = await client.headManifest(repo, tag);
      expect(head).toEqual({ digest: m.digest, mediaType: m.mediaType, size: m.bytes.length });
    }
    const multi = await client.getManifest(repoOf(seeded.refs.multi).repo, '1');
    expect(multi.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    const docker = await client.getManifest(repoOf(seeded.refs.docker).repo, '1');
    expect(docker.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
  });

  it('pushes blobs monolithically, then finds them (exists) and mounts them across repositories', async () => {
    const src = repoOf(seeded.refs.app);
    const dst: RepoRef = { registry: reg.host, repository: 'copies/app' };
    const first = await copyImage(client, src.repo, '1', dst, '1');
    expect(first.every((r) => r === 'uploaded')).toBe(true);
    expect(await skopeoDigest(reg, `${reg.host}/copies/app:1`)).toBe(seeded.digests.app);
    const again = await copyImage(client, src.repo, '1', dst, '1');
    expect(again.every((r) => r === 'exists')).toBe(true);
    const mounted = await copyImage(client, src.repo, '1', { registry: reg.host, repository: 'copies/app-mounted' }, 'v1', { mount: true });
    expect(mounted.every((r) => r === 'mounted')).toBe(true);
    expect(await skopeoDigest(reg, `${reg.host}/copies/app-mounted:v1`)).toBe(seeded.digests.app);
    // skopeo can pull every blob of what we pushed
    const out = await mkdtemp(path.join(os.tmpdir(), 'ferry-oci-out-'));
    await mustRun('skopeo', ['copy', ...skopeoTlsArgs(reg, 'src'), `docker://${reg.host}/copies/app-mounted:v1`, `oci:${out}:x`], { env: skopeoEnv(reg) });
    await rm(out, { recursive: true, force: true });
  });

  it('pushes an index and its children with chunked uploads, and skopeo reads the copy', async () => {
    const src = repoOf(seeded.refs.multi);
    const dst: RepoRef = { registry: reg.host, repository: 'copies/multi' };
    const results = await copyImage(client, src.repo, '1', dst, '1', { chunkSize: 100 });
    expect(results).toContain('uploaded');
    expect(await skopeoDigest(reg, `${reg.host}/copies/multi:1`)).toBe(seeded.digests.multi);
    const out = await mkdtemp(path.join(os.tmpdir(), 'ferry-oci-out-'));
    await mustRun('skopeo', ['copy', '--all', ...skopeoTlsArgs(reg, 'src'), `docker://${reg.host}/copies/multi:1`, `oci:${out}:x`], { env: skopeoEnv(reg) });
    await rm(out, { recursive: true, force: true });
  });

  it('reads blobs from an offset (Range), lists tags, and pages through the catalog', async () => {
    const { repo } = repoOf(seeded.refs.app);
    const m = JSON.parse((await client.getManifest(repo, '1')).bytes.toString('utf8')) as { layers: { digest: string; size: number }[] };
    const layer = m.layers[1];
    const whole = await readAll(await client.openBlob(repo, layer.digest));
    expect(sha256(whole)).toBe(layer.digest);
    const tail = await readAll(await client.openBlob(repo, layer.digest, 17));
    expect(tail.equals(whole.subarray(17))).toBe(true);
    expect(await client.blobSize(repo, layer.digest)).toBe(layer.size);

    const man = await client.getManifest(repo, '1');
    const tags = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    for (const t of tags) await client.putManifest(repo, t, man.bytes, man.mediaType);
    // Distribution 2.8 ignores ?n= on tags/list (one page); the catalog pages with Link.
    const listed = await client.listTags(repo, { pageSize: 3 });
    expect([...listed].sort()).toEqual(['1', ...tags].sort());
    const catalog = await client.listCatalog(reg.host, { pageSize: 2 });
    expect(catalog.length).toBeGreaterThan(2);
    expect([...catalog].sort()).toEqual([...(await client.listCatalog(reg.host))].sort());
    expect(catalog).toEqual(expect.arrayContaining(['ferry-test/app', 'ferry-test/base', 'ferry-test/multi', 'ferry-test/docker']));
  });

  it('names the reference and registry for an unknown tag', async () => {
    const { repo } = repoOf(seeded.refs.app);
    const err = await client.getManifest(repo, 'no-such-tag').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('NOT_FOUND');
    expect((err as FerryError).message).toContain(`${reg.host}/ferry-test/app:no-such-tag`);
  });

  if (mode === 'basic' || mode === 'token') {
    it('says which registry refused the credentials and where it looked for them', async () => {
      const cfgDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-badcfg-'));
      const cfgFile = path.join(cfgDir, 'config.json');
      await writeFile(cfgFile, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.username}:wrong-password`).toString('base64') } } }));
      const bad = new RegistryClient({ http, credentials: new CredentialStore({ env: { HOME: home, DOCKER_CONFIG: cfgDir } }), retry: FAST });
      const err = await bad.getManifest(repoOf(seeded.refs.app).repo, '1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FerryError);
      expect((err as FerryError).code).toBe('AUTH');
      expect((err as FerryError).message).toContain(reg.host);
      expect((err as FerryError).message).toContain(cfgFile);
      expect((err as FerryError).message).not.toContain('wrong-password');

      const none = new RegistryClient({ http, credentials: new CredentialStore({ env: { HOME: home } }), retry: FAST });
      const err2 = await none.getManifest(repoOf(seeded.refs.app).repo, '1').catch((e: unknown) => e);
      expect((err2 as FerryError).code).toBe('AUTH');
      expect((err2 as FerryError).message).toContain(path.join(home, '.docker', 'config.json'));
      await rm(cfgDir, { recursive: true, force: true });
    });
  }

  if (mode === 'token') {
    it('reuses a token per repository scope instead of asking for each request', async () => {
      const fresh = clientFor(reg, { home });
      const { repo } = repoOf(seeded.refs.base);
      const before = reg.tokenServer!.requests.length;
      for (let i = 0; i < 5; i++) await fresh.client.getManifest(repo, '1');
      await fresh.client.blobSize(repo, seeded.sharedLayer);
      const asked = reg.tokenServer!.requests.slice(before);
      const forBase = asked.filter((r) => r.scopes.includes(`repository:${repo.repository}:pull`));
      expect(forBase.length).toBe(1);
      expect(asked.every((r) => r.account === reg.username)).toBe(true);
      await fresh.http.close();
    });

    it('exchanges an identity token from the docker config for a bearer token', async () => {
      const cfgDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-idcfg-'));
      await writeFile(path.join(cfgDir, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.username}:`).toString('base64'), identitytoken: 'refresh-me-123' } } }));
      const viaToken = new RegistryClient({ http, credentials: new CredentialStore({ env: { HOME: home, DOCKER_CONFIG: cfgDir } }), retry: FAST });
      const m = await viaToken.getManifest(repoOf(seeded.refs.multi).repo, '1');
      expect(m.digest).toBe(seeded.digests.multi);
      await rm(cfgDir, { recursive: true, force: true });
    });
  }

  if (mode === 'tls') {
    it('reaches the registry through an HTTPS_PROXY tunnel with the CA applied inside it', async () => {
      const proxy = await startConnectProxy();
      const viaProxy = new HttpClient({ caFiles: [reg.caFile!], httpsProxy: proxy.url, httpProxy: proxy.url, noProxy: '', retry: FAST });
      const c = new RegistryClient({ http: viaProxy, credentials: new CredentialStore({ env: { HOME: home } }), retry: FAST });
      const { repo } = repoOf(seeded.refs.multi);
      expect((await c.getManifest(repo, '1')).digest).toBe(seeded.digests.multi);
      expect(proxy.seen).toContain(reg.host);
      await viaProxy.close();
      await proxy.stop();
    });

    it('refuses a certificate it cannot verify, naming the host and how to add a CA', async () => {
      const untrusted = clientFor(reg, { home, ca: false });
      const err = await untrusted.client.getManifest(repoOf(seeded.refs.app).repo, '1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FerryError);
      expect((err as FerryError).code).toBe('TLS');
      expect((err as FerryError).message).toContain(reg.host);
      expect((err as FerryError).hint).toMatch(/--ca-file/);
      expect((err as FerryError).hint).toMatch(/SSL_CERT_FILE|NODE_EXTRA_CA_CERTS/);
      await untrusted.http.close();
    });
  }
});

describe('RegistryClient through a fault-injecting proxy', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let seeded: SeededImages;
  let home: string;
  const blob = { digest: '', size: 0 };
  let repo: RepoRef;

  beforeAll(async () => {
    reg = await startRegistry({ mode: 'http' });
    seeded = await seedImages(reg);
    proxy = await startFaultProxy(reg.url);
    home = await mkdtemp(path.join(os.tmpdir(), 'ferry-home-'));
    // A 4 MiB incompressible blob to cut in the middle.
    const bytes = await readAll(pseudoRandomStream(4 * 1024 * 1024, 'fault-blob'));
    blob.digest = sha256(bytes);
    blob.size = bytes.length;
    repo = { registry: proxy.host, repository: 'faults/blob' };
    const { client, http } = clientFor(reg, { home });
    await client.pushBlob({ registry: reg.host, repository: 'faults/blob' }, blob, async (start) => Readable.from([bytes.subarray(start)]));
    await http.close();
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  async function ingestThroughProxy(onRetry?: (m: string) => void) {
    const { client, http } = clientFor(reg, { home, onRetry });
    const storeDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-store-'));
    const store = new BlobStore(storeDir);
    await store.init();
    try {
      await store.ingest(blob, (off) => client.openBlob(repo, blob.digest, off), { label: `${proxy.host}/faults/blob`, retry: FAST, onRetry });
      return sha256(await readFile(store.blobPath(blob.digest)));
    } finally {
      await http.close();
      await rm(storeDir, { recursive: true, force: true });
    }
  }

  const blobPath = () => new RegExp(`/v2/faults/blob/blobs/${blob.digest}`);

  it('resumes a blob with Range after the connection is reset in the middle', async () => {
    proxy.clearRules();
    proxy.requests.length = 0;
    proxy.addRule({ method: 'GET', path: blobPath(), action: { kind: 'reset', afterBytes: 1_500_000 } });
    expect(await ingestThroughProxy()).toBe(blob.digest);
    const gets = proxy.requests.filter((r) => r.method === 'GET' && blobPath().test(r.path));
    expect(gets.length).toBe(2);
    expect(gets[0].fault).toBe('reset');
    expect(gets[1].range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(Number(/bytes=(\d+)-/.exec(gets[1].range!)![1])).toBeLessThanOrEqual(1_500_000);
  });

  it('waits as long as a 429 Retry-After asks, then succeeds', async () => {
    proxy.clearRules();
    proxy.requests.length = 0;
    proxy.addRule({ method: 'GET', path: blobPath(), action: { kind: 'status', status: 429, retryAfter: '1' } });
    const retries: string[] = [];
    expect(await ingestThroughProxy((m) => retries.push(m))).toBe(blob.digest);
    expect(retries.some((m) => /429/.test(m) && /waiting 1 s as the server asked/.test(m))).toBe(true);
    expect(proxy.requests.filter((r) => blobPath().test(r.path)).map((r) => r.status)).toEqual([429, 200]);
  });

  it('retries a 503 on manifests and blobs', async () => {
    proxy.clearRules();
    proxy.requests.length = 0;
    proxy.addRule({ method: 'GET', path: /\/manifests\//, action: { kind: 'status', status: 503 }, times: 2 });
    proxy.addRule({ method: 'GET', path: blobPath(), action: { kind: 'status', status: 503 } });
    const { client, http } = clientFor(reg, { home });
    const m = await client.getManifest({ registry: proxy.host, repository: 'ferry-test/app' }, '1');
    expect(m.digest).toBe(seeded.digests.app);
    await http.close();
    expect(await ingestThroughProxy()).toBe(blob.digest);
    expect(proxy.requests.filter((r) => r.status === 503).length).toBe(3);
  });

  it('fails at once with a VERIFY error naming the blob when the body is corrupted, without retrying', async () => {
    proxy.clearRules();
    proxy.requests.length = 0;
    proxy.addRule({ method: 'GET', path: blobPath(), action: { kind: 'corrupt', atByte: 123_456 }, times: Infinity });
    const err = await ingestThroughProxy().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('VERIFY');
    expect((err as FerryError).message).toContain(blob.digest);
    expect((err as FerryError).message).toContain('faults/blob');
    expect(proxy.requests.filter((r) => blobPath().test(r.path)).length).toBe(1);
  });

  it('refuses a manifest whose bytes do not match the digest asked for', async () => {
    proxy.clearRules();
    proxy.requests.length = 0;
    proxy.addRule({ method: 'GET', path: /\/manifests\/sha256:/, action: { kind: 'corrupt', atByte: 10 }, times: Infinity });
    const { client, http } = clientFor(reg, { home });
    const err = await client.getManifest({ registry: proxy.host, repository: 'ferry-test/app' }, seeded.digests.app).catch((e: unknown) => e);
    await http.close();
    expect((err as FerryError).code).toBe('VERIFY');
    expect((err as FerryError).message).toContain(`ferry-test/app@${seeded.digests.app}`);
    expect(proxy.requests.filter((r) => /\/manifests\//.test(r.path)).length).toBe(1);
  });

  it('resumes an interrupted chunked upload from the range the registry reports', async () => {
    proxy.clearRules();
    proxy.requests.length = 0;
    // The second PATCH is cut off on its way back: the registry may or may not have stored it.
    const bytes = await readAll(pseudoRandomStream(3 * 1024 * 1024 + 77, 'chunked-upload'));
    const desc = { digest: sha256(bytes), size: bytes.length };
    proxy.addRule({ method: 'PATCH', path: /\/v2\/faults\/chunked\/blobs\/uploads\//, action: { kind: 'status', status: 503 }, skip: 1, times: 1 });
    const { client, http } = clientFor(reg, { home });
    const r = await client.pushBlob({ registry: proxy.host, repository: 'faults/chunked' }, desc, async (start) => Readable.from([bytes.subarray(start)]), { chunkSize: 1024 * 1024 });
    await http.close();
    expect(r).toBe('uploaded');
    const patches = proxy.requests.filter((x) => x.method === 'PATCH');
    expect(patches.length).toBe(5);
    expect(await servedBlobDigest(reg, 'faults/chunked', desc.digest)).toBe(desc.digest);
  });

  it('an upload session the registry forgot (404 on a PATCH, or on the monolithic PUT) is started again, not a failure', async () => {
    proxy.clearRules();
    proxy.requests.length = 0;
    const bytes = await readAll(pseudoRandomStream(2 * 1024 * 1024 + 9, 'forgotten-session'));
    const desc = { digest: sha256(bytes), size: bytes.length };
    proxy.addRule({ method: 'PATCH', path: /\/v2\/faults\/forgotten\/blobs\/uploads\//, action: { kind: 'status', status: 404 }, skip: 1, times: 1 });
    const { client, http } = clientFor(reg, { home });
    const r = await client.pushBlob({ registry: proxy.host, repository: 'faults/forgotten' }, desc, async (start) => Readable.from([bytes.subarray(start)]), { chunkSize: 1024 * 1024 });
    expect(r).toBe('uploaded');
    const after404 = proxy.requests.slice(proxy.requests.findIndex((x) => x.status === 404 && x.method === 'PATCH') + 1);
    expect(after404[0]).toMatchObject({ method: 'POST', status: 202 });
    expect(await servedBlobDigest(reg, 'faults/forgotten', desc.digest)).toBe(desc.digest);

    // Monolithic (small): the PUT answered 404 once.
    const small = Buffer.from('a small blob whose session was forgotten');
    const sdesc = { digest: sha256(small), size: small.length };
    proxy.clearRules();
    proxy.addRule({ method: 'PUT', path: /\/v2\/faults\/forgotten\/blobs\/uploads\//, action: { kind: 'status', status: 404 }, times: 1 });
    expect(await client.pushBlob({ registry: proxy.host, repository: 'faults/forgotten' }, sdesc, async (start) => Readable.from([small.subarray(start)]))).toBe('uploaded');
    await http.close();
    expect(await servedBlobDigest(reg, 'faults/forgotten', sdesc.digest)).toBe(sdesc.digest);
  });

  it('recovers a chunked upload whose PATCH reached the registry but whose answer was lost', async () => {
    proxy.clearRules();
    proxy.requests.length = 0;
    const bytes = await readAll(pseudoRandomStream(2 * 1024 * 1024 + 5, 'lost-answer'));
    const desc = { digest: sha256(bytes), size: bytes.length };
    proxy.addRule({ method: 'PATCH', path: /\/v2\/faults\/lost\/blobs\/uploads\//, action: { kind: 'drop' }, skip: 1, times: 1 });
    const { client, http } = clientFor(reg, { home });
    const r = await client.pushBlob({ registry: proxy.host, repository: 'faults/lost' }, desc, async (start) => Readable.from([bytes.subarray(start)]), { chunkSize: 1024 * 1024 });
    await http.close();
    expect(r).toBe('uploaded');
    // The client asks the registry where the session stands. Distribution 2.8 keeps the offset in
    // the Location's signed _state, so the stale session is unknown (404) and a fresh one is started.
    const afterDrop = proxy.requests.slice(proxy.requests.findIndex((x) => x.fault === 'drop') + 1);
    expect(afterDrop[0]).toMatchObject({ method: 'GET', status: 404 });
    expect(afterDrop[1]).toMatchObject({ method: 'POST', status: 202 });
    expect(afterDrop[afterDrop.length - 1]).toMatchObject({ method: 'PUT', status: 201 });
    expect(await servedBlobDigest(reg, 'faults/lost', desc.digest)).toBe(desc.digest);
  });
});

describe('a 200 MB layer', () => {
  let reg: RunningRegistry;
  let seeded: SeededImages;
  let home: string;
  beforeAll(async () => {
    reg = await startRegistry({ mode: 'http' });
    seeded = await seedImages(reg, { bigLayerMb: 200 });
    home = await mkdtemp(path.join(os.tmpdir(), 'ferry-home-'));
  });
  afterAll(async () => {
    await reg?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('streams into the store and back out with a chunked push, digest intact', async () => {
    const { client, http } = clientFor(reg, { home });
    const { repo } = repoOf(seeded.refs.big!);
    const m = JSON.parse((await client.getManifest(repo, '1')).bytes.toString('utf8')) as { layers: { digest: string; size: number }[] };
    const layer = m.layers[0];
    expect(layer.size).toBeGreaterThanOrEqual(200 * 1024 * 1024);
    const storeDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-store-'));
    const store = new BlobStore(storeDir);
    await store.init();
    await store.ingest(layer, (off) => client.openBlob(repo, layer.digest, off), { label: seeded.refs.big!, retry: FAST });
    const dst: RepoRef = { registry: reg.host, repository: 'copies/big' };
    expect(await client.pushBlob(dst, layer, async (start) => store.open(layer.digest, start))).toBe('uploaded');
    expect(await client.blobSize(dst, layer.digest)).toBe(layer.size);
    await copyImage(client, repo, '1', dst, '1');
    expect(await skopeoDigest(reg, `${reg.host}/copies/big:1`)).toBe(seeded.digests.big);
    await http.close();
    await rm(storeDir, { recursive: true, force: true });
  });
});
