import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { RetryableError } from '../../../src/net/retry.js';
import { DeferredBlobs, journalOf, SMALL_DEFER_MAX } from '../../../src/store/direct-pack.js';
import type { OciIndex } from '../../../src/oci/media-types.js';
import { BlobStore, digestOf } from '../../../src/store/blob-store.js';
import { packBundle } from '../../../src/store/bundle-pack.js';

/** Deterministic bytes: a sha256 chain, so every test run (and the old packer) sees the same content. */
function bytesOf(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let h = createHash('sha256').update(seed).digest();
  for (let off = 0; off < size; off += 32) {
    h.copy(out, off, 0, Math.min(32, size - off));
    h = createHash('sha256').update(h).digest();
  }
  return out;
}

let dir: string;
const blobs = new Map<string, Buffer>();
let index: OciIndex;
const metadata = { manifestYaml: 'apiVersion: ferry/v1alpha1\nkind: Manifest\n', lock: '{"lock":true}\n', manifestName: 'app', ferryVersion: '0.0.0-golden' };

/** Two images sharing a big layer; layers large (deferrable) and small. */
function buildInputs(): void {
  const layer = (seed: string, size: number) => {
    const b = bytesOf(seed, size);
    blobs.set(digestOf(b), b);
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(b), size };
  };
  const json = (v: unknown, mediaType: string) => {
    const b = Buffer.from(JSON.stringify(v));
    blobs.set(digestOf(b), b);
    return { mediaType, digest: digestOf(b), size: b.length };
  };
  const shared = layer('shared', 3 * 1024 * 1024 + 17);
  const tops = ['one', 'two'].map((name, i) => {
    const config = json({ architecture: 'amd64', os: 'linux', name }, 'application/vnd.oci.image.config.v1+json');
    const own = layer(`own-${name}`, (i + 1) * 1024 * 1024 + 511);
    const tiny = layer(`tiny-${name}`, 700 + i);
    const manifest = json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [shared, own, tiny] }, 'application/vnd.oci.image.manifest.v1+json');
    return { ...manifest, annotations: { 'io.ferry.kind': 'image', 'org.opencontainers.image.ref.name': `example.com/${name}:1` } };
  });
  index = { schemaVersion: 2, manifests: tops };
}

const sha256File = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-direct-pack-'));
  buildInputs();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const GOLDEN = '70692d8993b8ce1e7616a602919eb799b4c8541dfa6f7cf64b2fba6b3aab71c4';
const fastRetry = { retries: 3, minTimeoutMs: 1, maxTimeoutMs: 5, maxRetryAfterMs: 1000 };

/** A store holding the blobs `keep` selects (every small one always: manifests are read back). */
async function storeWith(name: string, keep: (digest: string, size: number) => boolean = () => true): Promise<BlobStore> {
  const store = new BlobStore(path.join(dir, name));
  await store.init();
  for (const [d, b] of blobs) if (b.length < 1024 * 1024 || keep(d, b.length)) await store.putBytes(b, d);
  return store;
}

interface Served {
  opens: Array<{ digest: string; offset: number }>;
}

/**
 * Record every big blob the store lacks as deferred, served from memory in 64 KiB chunks;
 * `fault` may break a body (after some bytes) or change its bytes.
 */
function deferAll(store: BlobStore, served: Served, fault?: (digest: string, offset: number) => { failAfter?: number; fatal?: boolean; corrupt?: boolean } | undefined): DeferredBlobs {
  const deferred = new DeferredBlobs();
  for (const [digest, bytes] of blobs) {
    if (!deferred.accepts({ digest, size: bytes.length })) continue;
    deferred.add({
      desc: { digest, size: bytes.length },
      label: `example.com/app layer`,
      retry: fastRetry,
      openAt: async (offset) => {
        served.opens.push({ digest, offset });
        const f = fault?.(digest, offset);
        let body = bytes.subarray(offset);
        if (f?.corrupt) {
          body = Buffer.from(body);
          body[body.length - 1] ^= 1;
        }
        const end = f?.failAfter ?? body.length;
        async function* chunks() {
          for (let o = 0; o < end; o += 65536) yield body.subarray(o, Math.min(end, o + 65536));
          if (f?.failAfter !== undefined) throw f.fatal ? new FerryError('NETWORK', 'gone for good') : new RetryableError('connection reset');
        }
        return Readable.from(chunks(), { objectMode: false });
      },
    });
  }
  void store;
  return deferred;
}

describe('bundle layout', () => {
  it('packs from a full store exactly as the packer before direct writes did', async () => {
    const store = await storeWith('full');
    const r = await packBundle({ store, index, metadata, output: path.join(dir, 'old.tar') });
    expect(await sha256File(r.path)).toBe(GOLDEN);
    expect(r.size).toBe(6313472);
  });

  it('writes the same bytes streaming big blobs straight into place, none or some of them cached', async () => {
    for (const [name, keep] of [
      ['empty', () => false],
      ['some', (_d: string, size: number) => size > 3 * 1024 * 1024],
    ] as const) {
      const store = await storeWith(`direct-${name}`, keep);
      const served: Served = { opens: [] };
      const deferred = deferAll(store, served);
      const out = path.join(dir, `direct-${name}.tar`);
      const r = await packBundle({ store, index, metadata, output: out, direct: { deferred, concurrency: 3 } });
      expect(await sha256File(r.path)).toBe(GOLDEN);
      // Only what the store lacked came from the network, each blob once.
      const fromNet = [...blobs].filter(([d, b]) => b.length >= 1024 * 1024 && !keep(d, b.length)).map(([d]) => d).sort();
      expect(served.opens.map((o) => o.digest).sort()).toEqual(fromNet);
      await expect(stat(journalOf(out))).rejects.toThrow();
    }
  });

  it('fetches a big blob as ranged segments at once and still hashes it in order', async () => {
    const store = await storeWith('segments', () => false);
    const served: Served = { opens: [] };
    const deferred = deferAll(store, served);
    const r = await packBundle({ store, index, metadata, output: path.join(dir, 'segments.tar'), direct: { deferred, concurrency: 2, segments: 3, segmentMinBytes: 1024 * 1024 } });
    expect(await sha256File(r.path)).toBe(GOLDEN);
    expect(served.opens.filter((o) => o.offset > 0).length).toBeGreaterThan(0);
  });

  it('resumes a dropped body with Range from the byte reached', async () => {
    const store = await storeWith('dropped', () => false);
    const served: Served = { opens: [] };
    let dropped = 0;
    const deferred = deferAll(store, served, (_d, offset) => (offset === 0 && dropped++ < 1 ? { failAfter: 1024 * 1024 + 4096 } : undefined));
    const r = await packBundle({ store, index, metadata, output: path.join(dir, 'dropped.tar'), direct: { deferred, concurrency: 1, segments: 1 } });
    expect(await sha256File(r.path)).toBe(GOLDEN);
    expect(served.opens.some((o) => o.offset === 1024 * 1024 + 4096)).toBe(true);
  });

  it('the same bytes, a dropped body resumed and a damaged one refused, whether the hashing thread writes or this thread does (FERRY_HASH_THREADS=0)', async () => {
    const saved = process.env.FERRY_HASH_THREADS;
    try {
      for (const threads of ['0', '1']) {
        process.env.FERRY_HASH_THREADS = threads;
        const store = await storeWith(`threads-${threads}`, () => false);
        const served: Served = { opens: [] };
        let dropped = 0;
        const deferred = deferAll(store, served, (_d, offset) => (offset === 0 && dropped++ < 1 ? { failAfter: 2 * 1024 * 1024 + 100 } : undefined));
        const r = await packBundle({ store, index, metadata, output: path.join(dir, `threads-${threads}.tar`), direct: { deferred, concurrency: 2, segments: 1 } });
        expect(await sha256File(r.path)).toBe(GOLDEN);
        expect(served.opens.some((o) => o.offset === 2 * 1024 * 1024 + 100)).toBe(true);

        const bad = await storeWith(`threads-bad-${threads}`, () => false);
        const victim = [...blobs].find(([, b]) => b.length > 3 * 1024 * 1024)![0];
        const out = path.join(dir, `threads-bad-${threads}.tar`);
        await expect(packBundle({ store: bad, index, metadata, output: out, direct: { deferred: deferAll(bad, { opens: [] }, (d) => (d === victim ? { corrupt: true } : undefined)), concurrency: 2 } })).rejects.toThrow(/digest mismatch/);
        await expect(stat(out)).rejects.toThrow();
      }
    } finally {
      if (saved === undefined) delete process.env.FERRY_HASH_THREADS;
      else process.env.FERRY_HASH_THREADS = saved;
    }
  });

  it('refuses a blob whose bytes do not match, naming it, and writes no bundle', async () => {
    const store = await storeWith('corrupt', () => false);
    const victim = [...blobs].find(([, b]) => b.length > 3 * 1024 * 1024)![0];
    const deferred = deferAll(store, { opens: [] }, (d) => (d === victim ? { corrupt: true } : undefined));
    const out = path.join(dir, 'corrupt.tar');
    const err = await packBundle({ store, index, metadata, output: out, direct: { deferred, concurrency: 2 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('VERIFY');
    expect((err as FerryError).message).toContain(victim);
    expect((err as FerryError).message).toContain('example.com/app layer');
    await expect(stat(out)).rejects.toThrow();
  });

  it('continues an interrupted pack from the partial output: only what was missing is fetched again', async () => {
    const store = await storeWith('resume', () => false);
    const victim = [...blobs].find(([, b]) => b.length > 3 * 1024 * 1024)![0];
    const out = path.join(dir, 'resume.tar');
    const first = deferAll(store, { opens: [] }, (d) => (d === victim ? { failAfter: 100_000, fatal: true } : undefined));
    await expect(packBundle({ store, index, metadata, output: out, direct: { deferred: first, concurrency: 2 } })).rejects.toThrow('gone for good');
    const journal = await readFile(journalOf(out), 'utf8');
    const done = journal.split('\n').filter((l) => l.startsWith('sha256:'));
    expect(done.length).toBeGreaterThan(0);
    expect(done).not.toContain(victim);

    const served: Served = { opens: [] };
    const r = await packBundle({ store, index, metadata, output: out, direct: { deferred: deferAll(store, served), concurrency: 2 } });
    expect(served.opens.map((o) => o.digest)).toEqual([victim]);
    expect(r.reusedBytes).toBe(done.reduce((n, d) => n + blobs.get(d)!.length, 0));
    expect(await sha256File(out)).toBe(GOLDEN);
    await expect(stat(journalOf(out))).rejects.toThrow();
  });

  it('starts afresh when the partial output belongs to another plan, and never trusts it blindly', async () => {
    const store = await storeWith('afresh', () => false);
    const out = path.join(dir, 'afresh.tar');
    const victim = [...blobs].find(([, b]) => b.length > 3 * 1024 * 1024)![0];
    await expect(
      packBundle({ store, index, metadata, output: out, direct: { deferred: deferAll(store, { opens: [] }, (d) => (d === victim ? { failAfter: 10, fatal: true } : undefined)), concurrency: 1 } }),
    ).rejects.toThrow();
    // Damage a completed blob in the partial output: the rerun re-hashes it and fetches it again.
    const journal = (await readFile(journalOf(out), 'utf8')).split('\n').filter((l) => l.startsWith('sha256:'));
    const { open } = await import('node:fs/promises');
    const tarText = await readFile(`${out}.partial`);
    const at = tarText.indexOf(blobs.get(journal[0])!.subarray(0, 64));
    const fh = await open(`${out}.partial`, 'r+');
    await fh.write(Buffer.from([tarText[at + 100] ^ 1]), 0, 1, at + 100);
    await fh.close();
    const served: Served = { opens: [] };
    await packBundle({ store, index, metadata, output: out, direct: { deferred: deferAll(store, served), concurrency: 2 } });
    expect(served.opens.map((o) => o.digest).sort()).toEqual([journal[0], victim].sort());
    expect(await sha256File(out)).toBe(GOLDEN);

    // Another plan (other metadata sizes move every blob): nothing of the old partial is reused.
    await expect(
      packBundle({ store, index, metadata, output: out, direct: { deferred: deferAll(store, { opens: [] }, (d) => (d === victim ? { failAfter: 10, fatal: true } : undefined)), concurrency: 1 } }),
    ).rejects.toThrow();
    const other = { ...metadata, manifestYaml: metadata.manifestYaml + '# '.repeat(400) };
    const r = await packBundle({ store, index, metadata: other, output: out, direct: { deferred: deferAll(store, { opens: [] }), concurrency: 2 } });
    expect(r.reusedBytes).toBe(0);
  });
});

describe('deferred ingest', () => {
  it('records a big deferrable blob the store lacks instead of fetching it; everything else is stored as before', async () => {
    const store = new BlobStore(path.join(dir, 'defer'));
    await store.init();
    store.deferral = new DeferredBlobs();
    const [bigDigest, big] = [...blobs].find(([, b]) => b.length > 2 * 1024 * 1024)!;
    const [smallDigest, small] = [...blobs].find(([, b]) => b.length < 1024)!;
    const opened: string[] = [];
    const opener = (digest: string, bytes: Buffer) => async (offset: number) => {
      opened.push(digest);
      return Readable.from([bytes.subarray(offset)]);
    };
    await store.ingest({ digest: bigDigest, size: big.length }, opener(bigDigest, big), { label: 'app layer', deferrable: true });
    await store.ingest({ digest: smallDigest, size: small.length }, opener(smallDigest, small), { label: 'app config', deferrable: true });
    expect(opened).toEqual([smallDigest]);
    expect(store.deferral.get(bigDigest)?.label).toBe('app layer');
    expect(await store.has({ digest: bigDigest, size: big.length })).toBe(false);
    expect(await store.has({ digest: smallDigest, size: small.length })).toBe(true);

    // Not deferrable (read back before packing): fetched into the store even when big.
    const [otherDigest, other] = [...blobs].find(([d, b]) => b.length > 1024 * 1024 && d !== bigDigest)!;
    await store.ingest({ digest: otherDigest, size: other.length }, opener(otherDigest, other), { label: 'chart', deferrable: false });
    expect(await store.has({ digest: otherDigest, size: other.length })).toBe(true);
    // Already in the store: nothing to defer.
    await store.ingest({ digest: otherDigest, size: other.length }, opener(otherDigest, other), { label: 'again', deferrable: true });
    expect(store.deferral.get(otherDigest)).toBeUndefined();
  });

  it('defers small blobs of a many-small-blobs kind (.debs) too: the pack fetches them, writes them in place and keeps them in the cache', async () => {
    const store = await storeWith('defer-small', () => true);
    const tiny = [...blobs].filter(([, b]) => b.length < 1024 && b.length >= 700 && b.length <= 701);
    expect(tiny).toHaveLength(2);
    for (const [d] of tiny) await rm(store.blobPath(d));
    store.deferral = new DeferredBlobs();
    const opened: string[] = [];
    for (const [digest, bytes] of tiny) {
      await store.ingest({ digest, size: bytes.length }, async () => (opened.push(digest), Readable.from([bytes])), { label: 'apt[x] tiny.deb', deferrable: true, small: true });
    }
    // Recorded, not fetched yet.
    expect(opened).toEqual([]);
    for (const [d, b] of tiny) expect(await store.has({ digest: d, size: b.length })).toBe(false);
    const out = path.join(dir, 'defer-small.tar');
    const r = await packBundle({ store, index, metadata, output: out, direct: { deferred: store.deferral, concurrency: 3 } });
    expect(await sha256File(r.path)).toBe(GOLDEN);
    expect(opened.sort()).toEqual(tiny.map(([d]) => d).sort());
    // Kept in the cache too, verified: the next create (an offline --frozen one) finds them.
    for (const [d, b] of tiny) expect(await readFile(store.blobPath(d))).toEqual(b);
  });

  it('a resumed pack keeps in the cache the small blobs an interrupted run had completed (from the partial output)', async () => {
    const store = await storeWith('defer-small-resume', () => false);
    const tiny = [...blobs].filter(([, b]) => b.length >= 700 && b.length <= 701);
    for (const [d] of tiny) await rm(store.blobPath(d), { force: true });
    const victim = [...blobs].find(([, b]) => b.length > 3 * 1024 * 1024)![0];
    const out = path.join(dir, 'defer-small-resume.tar');
    // The big blobs deferred as usual (the victim's body breaks), the tiny ones as small with keep.
    const records = (fault?: (d: string) => { failAfter?: number; fatal?: boolean } | undefined) => {
      const deferred = deferAll(store, { opens: [] }, fault);
      for (const [digest, bytes] of tiny) {
        deferred.add({ desc: { digest, size: bytes.length }, label: 'apt[x] tiny.deb', openAt: async () => Readable.from([bytes]), keep: async (b) => void (await store.putBytes(b, digest)) });
      }
      return deferred;
    };
    await expect(packBundle({ store, index, metadata, output: out, direct: { deferred: records((d) => (d === victim ? { failAfter: 100_000, fatal: true } : undefined)), concurrency: 2 } })).rejects.toThrow('gone for good');
    const journal = await readFile(journalOf(out), 'utf8');
    for (const [d] of tiny) expect(journal).toContain(d);
    // Killed after its journal line and before it was kept: the cache lacks them.
    for (const [d] of tiny) await rm(store.blobPath(d), { force: true });
    const r = await packBundle({ store, index, metadata, output: out, direct: { deferred: records(), concurrency: 2 } });
    expect(r.reusedBytes).toBeGreaterThan(0);
    expect(await sha256File(out)).toBe(GOLDEN);
    for (const [d, b] of tiny) expect(await readFile(store.blobPath(d))).toEqual(b);
  });

  it('defers at most SMALL_DEFER_MAX small blobs; past it they are fetched into the cache at once (records stay bounded)', async () => {
    const store = new BlobStore(path.join(dir, 'defer-cap'));
    await store.init();
    store.deferral = new DeferredBlobs();
    const opened: string[] = [];
    const ingestSmall = async (seed: string) => {
      const bytes = bytesOf(seed, 300);
      const digest = digestOf(bytes);
      await store.ingest({ digest, size: bytes.length }, async () => (opened.push(digest), Readable.from([bytes])), { label: `apt[x] ${seed}.deb`, deferrable: true, small: true });
      return digest;
    };
    for (let i = 0; i < SMALL_DEFER_MAX; i++) await ingestSmall(`deb-${i}`);
    expect(store.deferral.blobs.size).toBe(SMALL_DEFER_MAX);
    expect(opened).toEqual([]);
    const past = await ingestSmall('deb-past');
    expect(opened).toEqual([past]);
    expect(store.deferral.get(past)).toBeUndefined();
    expect(await store.has({ digest: past, size: 300 })).toBe(true);
  });
});
