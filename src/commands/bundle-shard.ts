import { FerryError } from '../errors.js';
import { lockPathFor, serializeLock } from '../manifest/load.js';
import { loadManifest, readLock } from '../kinds/schema.js';
import { createNetContext } from '../oci/context.js';
import { fetchLocked, frozenMismatch, lockMatches } from '../kinds/pipeline.js';
import { BlobStore, digestOf } from '../store/blob-store.js';
import { defaultCacheDir, kindContext, type CommonOptions } from './lock.js';
import { keepTag, useRegistryCache, type CacheStats } from '../store/registry-cache.js';
import { parseShard, planShard } from '../store/shard.js';

export interface ShardResult {
  shard: string;
  lockFile: string;
  /** Units (image blobs, other entries) and bytes assigned to this shard, and in the whole lock. */
  units: number;
  bytes: number;
  totalUnits: number;
  totalBytes: number;
  cache: CacheStats;
  warnings: string[];
}

/** `bundle create --shard i/n --cache oci://…`: this shard's share of the lock into the cache; no bundle. */
export async function createShard(manifestFile: string, opts: CommonOptions & { shard: string; cache?: string; cacheDir?: string }): Promise<ShardResult> {
  const spec = parseShard(opts.shard);
  if (!opts.cache) throw new FerryError('USAGE', '--shard needs --cache oci://…: the shards meet in the shared cache', { hint: 'e.g. --shard 2/4 --cache oci://registry.example.com/ferry-cache' });
  const loaded = await loadManifest(manifestFile);
  const lockFile = lockPathFor(loaded.file, loaded.manifest.metadata.name);
  const lock = await readLock(lockFile);
  // Every shard must split the same lock: resolving here could pin other digests on each host.
  if (!lockMatches(lock, loaded)) throw frozenMismatch(lockFile, Boolean(lock));
  const plain = createNetContext(opts);
  try {
    const store = new BlobStore(opts.cacheDir ?? defaultCacheDir());
    await store.init();
    const { net, cache } = await useRegistryCache(store, plain, opts.cache);
    const plan = planShard(lock, spec);
    cache.mine = plan.mine;
    const warnings: string[] = [];
    await fetchLocked(plan.lock, kindContext(loaded.dir, store, opts, net, warnings));
    await cache.keep(keepTag(digestOf(serializeLock(lock)), spec));
    return { shard: `${spec.index}/${spec.count}`, lockFile, units: plan.units, bytes: plan.bytes, totalUnits: plan.totalUnits, totalBytes: plan.totalBytes, cache: cache.stats, warnings };
  } finally {
    await plain.close();
  }
}
