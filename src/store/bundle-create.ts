import { readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadManifest, lockPathFor, readLock, serializeLock } from '../manifest/load.js';
import type { Lock } from '../manifest/lock.js';
import { MT } from '../oci/media-types.js';
import { createNetContext, type NetOptions } from '../oci/context.js';
import { fetchLocked, frozenMismatch, lockManifest, lockMatches } from '../kinds/pipeline.js';
import type { KindContext } from '../kinds/types.js';
import type { Progress } from '../ui/progress.js';
import { BlobStore, digestOf } from './blob-store.js';
import { packBundle } from './bundle-pack.js';
import { VERSION } from '../version.js';
import { DEFAULT_CONCURRENCY } from '../net/concurrency.js';
import { keepTag, useRegistryCache, type CacheStats } from './registry-cache.js';

export interface CommonOptions extends NetOptions {
  concurrency?: number;
  progress: Progress;
}

export function defaultCacheDir(): string {
  const base = process.env.FERRY_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'ferry');
  return path.join(base, 'store');
}

async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

export function kindContext(manifestDir: string, store: BlobStore, opts: CommonOptions, net: ReturnType<typeof createNetContext>): KindContext {
  return { manifestDir, store, progress: opts.progress, concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY, http: net.http, registry: net.registry };
}

function countLock(lock: Lock) {
  return { images: lock.images.length, charts: lock.charts.length, files: lock.files.length, apt: lock.apt.length };
}

export interface LockResult {
  lockFile: string;
  changed: boolean;
  counts: ReturnType<typeof countLock>;
  lock: Lock;
}

/** `ferry lock`: pin everything the manifest names; writes `<name>.lock.json` beside it. */
export async function lockCommand(manifestFile: string, opts: CommonOptions & { output?: string; cacheDir?: string; cache?: string }): Promise<LockResult> {
  const loaded = await loadManifest(manifestFile);
  const lockFile = opts.output ? path.resolve(opts.output) : lockPathFor(loaded.file, loaded.manifest.metadata.name);
  const net = createNetContext(opts);
  try {
    const store = new BlobStore(opts.cacheDir ?? defaultCacheDir());
    await store.init();
    const cached = opts.cache ? await useRegistryCache(store, net, opts.cache) : undefined;
    const lock = await lockManifest(loaded, kindContext(loaded.dir, store, opts, cached?.net ?? net));
    const text = serializeLock(lock);
    const before = await readFile(lockFile, 'utf8').catch(() => undefined);
    if (before !== text) await writeFileAtomic(lockFile, text);
    return { lockFile, changed: before !== text, counts: countLock(lock), lock };
  } finally {
    await net.close();
  }
}

export interface CreateResult {
  bundle: string;
  size: number;
  blobs: number;
  blobBytes: number;
  lockFile: string;
  lockUsed: 'existing' | 'refreshed';
  counts: ReturnType<typeof countLock>;
  /** With --cache: what came from the shared cache and what from upstream. */
  cache?: CacheStats;
}

/** `ferry bundle create`: lock (or use the matching lock), fetch verified, pack one tar. */
export async function createBundle(
  manifestFile: string,
  opts: CommonOptions & { output: string; frozen?: boolean; cacheDir?: string; cache?: string },
): Promise<CreateResult> {
  const loaded = await loadManifest(manifestFile);
  const lockFile = lockPathFor(loaded.file, loaded.manifest.metadata.name);
  const existing = await readLock(lockFile);
  const net = createNetContext(opts);
  try {
    const store = new BlobStore(opts.cacheDir ?? defaultCacheDir());
    await store.init();
    const cached = opts.cache ? await useRegistryCache(store, net, opts.cache) : undefined;
    const ctx = kindContext(loaded.dir, store, opts, cached?.net ?? net);
    let lock: Lock;
    let lockUsed: CreateResult['lockUsed'] = 'existing';
    if (lockMatches(existing, loaded)) {
      lock = existing;
    } else {
      if (opts.frozen) throw frozenMismatch(lockFile, Boolean(existing));
      lock = await lockManifest(loaded, ctx);
      await writeFileAtomic(lockFile, serializeLock(lock));
      lockUsed = 'refreshed';
    }
    const manifests = await fetchLocked(lock, ctx);
    const packTask = opts.progress.start('pack', 0);
    const packed = await packBundle({
      store,
      index: { schemaVersion: 2, mediaType: MT.ociIndex, manifests },
      metadata: { manifestYaml: await readFile(loaded.file), lock: serializeLock(lock), manifestName: loaded.manifest.metadata.name, ferryVersion: VERSION },
      output: path.resolve(opts.output),
      // Blobs hashed while they streamed in during this run are not hashed again; blobs that
      // were already in the cache from an earlier run are re-hashed as they are packed.
      trustStore: (digest) => store.verifiedThisRun.has(digest),
      onProgress: (n) => packTask.advance(n),
    });
    packTask.finish('packed');
    await cached?.cache.keep(keepTag(digestOf(serializeLock(lock))));
    return { bundle: packed.path, size: packed.size, blobs: packed.blobs, blobBytes: packed.blobBytes, lockFile, lockUsed, counts: countLock(lock), ...(cached ? { cache: cached.cache.stats } : {}) };
  } finally {
    await net.close();
  }
}
