import { createHash } from 'node:crypto';
import { FerryError } from '../errors.js';
import { loadManifest, lockPathFor, readLock } from '../manifest/load.js';
import type { Lock } from '../manifest/lock.js';
import { createNetContext } from '../oci/context.js';
import { fetchLocked, frozenMismatch, lockMatches } from '../kinds/pipeline.js';
import { BlobStore } from './blob-store.js';
import { defaultCacheDir, kindContext, type CommonOptions } from './bundle-create.js';
import { useRegistryCache, type CacheStats } from './registry-cache.js';

/**
 * Sharded builds: `bundle create --shard i/n --cache oci://…` fetches a deterministic share of
 * the lock into the shared cache and packs nothing; a plain `bundle create --cache oci://…`
 * after every shard packs from the cache alone. Every host computes the same assignment from
 * the same lock: image blobs one by one, every other lock entry (chart, file, APT repository)
 * whole; largest first, each into the least loaded shard (ties: the lower shard), equal sizes in
 * digest order. Image manifests (a few KB each) are read by every shard, through the cache.
 */

export interface ShardSpec {
  /** 1-based. */
  index: number;
  count: number;
}

export function parseShard(text: string): ShardSpec {
  const m = /^(\d{1,4})\/(\d{1,4})$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) {
    throw new FerryError('USAGE', `--shard ${text}: must be <i>/<n> with 1 ≤ i ≤ n (e.g. 2/4)`, {
      hint: 'In a Kubernetes Indexed Job: --shard $((JOB_COMPLETION_INDEX+1))/<completions>.',
    });
  }
  return { index, count };
}

export interface ShardUnit {
  key: string;
  size: number;
}

/** key → shard (1-based): greedy, largest first into the least loaded bin, deterministic. */
export function assignShards(units: ShardUnit[], count: number): Map<string, number> {
  const sorted = [...units].sort((a, b) => b.size - a.size || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const load = new Array<number>(count).fill(0);
  const out = new Map<string, number>();
  for (const u of sorted) {
    if (out.has(u.key)) continue;
    let best = 0;
    for (let i = 1; i < count; i++) if (load[i] < load[best]) best = i;
    load[best] += u.size;
    out.set(u.key, best + 1);
  }
  return out;
}

const entryKey = (field: string, entry: unknown) => `${field}:${createHash('sha256').update(JSON.stringify(entry)).digest('hex')}`;

export interface ShardPlan {
  /** The lock this shard fetches: every image (blobs filtered by `mine`), its share of the other entries. */
  lock: Lock;
  mine: (digest: string) => boolean;
  units: number;
  bytes: number;
  totalUnits: number;
  totalBytes: number;
}

export function planShard(lock: Lock, spec: ShardSpec): ShardPlan {
  const units: ShardUnit[] = [];
  for (const img of lock.images) for (const b of img.blobs) units.push({ key: b.digest, size: b.size });
  const fields = Object.entries(lock).filter(([f, v]) => f !== 'images' && Array.isArray(v)) as Array<[string, unknown[]]>;
  for (const [field, entries] of fields) {
    for (const e of entries) units.push({ key: entryKey(field, e), size: typeof (e as { size?: unknown }).size === 'number' ? (e as { size: number }).size : 0 });
  }
  const assigned = assignShards(units, spec.count);
  const filtered = { ...lock } as Lock & Record<string, unknown[]>;
  for (const [field, entries] of fields) filtered[field] = entries.filter((e) => assigned.get(entryKey(field, e)) === spec.index);
  const seen = new Set<string>();
  let mineUnits = 0;
  let mineBytes = 0;
  let totalBytes = 0;
  for (const u of units) {
    if (seen.has(u.key)) continue;
    seen.add(u.key);
    totalBytes += u.size;
    if (assigned.get(u.key) === spec.index) {
      mineUnits++;
      mineBytes += u.size;
    }
  }
  return {
    lock: filtered,
    // Digests the plan does not know (a manifest, a chart's own blobs) are fetched by whoever needs them.
    mine: (digest) => (assigned.get(digest) ?? spec.index) === spec.index,
    units: mineUnits,
    bytes: mineBytes,
    totalUnits: seen.size,
    totalBytes,
  };
}

export interface ShardResult {
  shard: string;
  lockFile: string;
  /** Units (image blobs, other entries) and bytes assigned to this shard, and in the whole lock. */
  units: number;
  bytes: number;
  totalUnits: number;
  totalBytes: number;
  cache: CacheStats;
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
    await fetchLocked(plan.lock, kindContext(loaded.dir, store, opts, net));
    return { shard: `${spec.index}/${spec.count}`, lockFile, units: plan.units, bytes: plan.bytes, totalUnits: plan.totalUnits, totalBytes: plan.totalBytes, cache: cache.stats };
  } finally {
    await plain.close();
  }
}
