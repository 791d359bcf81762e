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
import { planDifferential, type DifferentialInfo } from './differential.js';
import { loadSigningKey, signChecksums } from './bundle-sign.js';
import { BUNDLE_SBOM_FILE, renderCycloneDx } from './sbom.js';
import { withoutExtras } from '../kinds/image/extras.js';
import { blobReader, enforceVerifyPolicy, loadVerifyPolicy, policyFileEntry, registryReader } from '../kinds/image/verify.js';
import { VERSION } from '../version.js';
import { DEFAULT_CONCURRENCY } from '../net/concurrency.js';
import { keepTag, useRegistryCache, type CacheStats } from './registry-cache.js';

export interface CommonOptions extends NetOptions {
  concurrency?: number;
  /** Resolve images without signatures, attestations, SBOMs and referrers. */
  noExtras?: boolean;
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
  return { manifestDir, store, progress: opts.progress, concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY, http: net.http, registry: net.registry, noExtras: opts.noExtras };
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
    await enforceVerifyPolicy(lock.images, await loadVerifyPolicy(loaded.manifest, loaded.dir), (i) => registryReader(net.registry, i.ref), 'at lock');
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
  signed: boolean;
  /** Images whose cosign signature the manifest's `verify:` rules required and that passed. */
  signaturesVerified: number;
  /** What was not checked for keyless signatures that passed (e.g. "Rekor inclusion not checked"). */
  signatureNotes: string[];
  size: number;
  blobs: number;
  blobBytes: number;
  lockFile: string;
  lockUsed: 'existing' | 'refreshed';
  counts: ReturnType<typeof countLock>;
  /** With --cache: what came from the shared cache and what from upstream. */
  cache?: CacheStats;
  /** Split bundle: the parts in order (`<bundle>.001` …; `<bundle>.parts` lists their sha256). */
  parts?: Array<{ file: string; size: number; sha256: string }>;
  /** `--since`: the base and what was left out. */
  differential?: DifferentialInfo;
}

/** `ferry bundle create`: lock (or use the matching lock), fetch verified, pack one tar. */
export async function createBundle(
  manifestFile: string,
  opts: CommonOptions & { output: string; frozen?: boolean; cacheDir?: string; signKey?: string; cache?: string; splitSize?: number; since?: string },
): Promise<CreateResult> {
  const loaded = await loadManifest(manifestFile);
  const signKey = opts.signKey ? await loadSigningKey(opts.signKey) : undefined;
  const policy = await loadVerifyPolicy(loaded.manifest, loaded.dir);
  const lockFile = lockPathFor(loaded.file, loaded.manifest.metadata.name);
  const existing = await readLock(lockFile);
  const net = createNetContext(opts);
  try {
    const store = new BlobStore(opts.cacheDir ?? defaultCacheDir());
    await store.init();
    const cached = opts.cache ? await useRegistryCache(store, net, opts.cache) : undefined;
    const ctx = kindContext(loaded.dir, store, opts, cached?.net ?? net);
    let lock: Lock;
    // The bundle carries the lock file's exact bytes: a build from the committed lock and the
    // build that wrote it give the same bundle (a parsed lock re-serialises in another key order).
    let lockText: string;
    let lockUsed: CreateResult['lockUsed'] = 'existing';
    if (lockMatches(existing, loaded)) {
      lock = opts.noExtras ? withoutExtras(existing) : existing;
      lockText = opts.noExtras ? serializeLock(lock) : await readFile(lockFile, 'utf8');
    } else {
      if (opts.frozen) throw frozenMismatch(lockFile, Boolean(existing));
      lock = await lockManifest(loaded, ctx);
      lockText = serializeLock(lock);
      await writeFileAtomic(lockFile, lockText);
      lockUsed = 'refreshed';
    }
    const manifests = await fetchLocked(lock, ctx);
    const signatureNotes: string[] = [];
    const signaturesVerified = await enforceVerifyPolicy(lock.images, policy, () => blobReader({ readBlob: (d) => store.readBytes(d) }), 'at bundle create', signatureNotes);
    const diff = opts.since
      ? await planDifferential({ since: opts.since, index: { schemaVersion: 2, manifests }, readStoreBlob: (d) => store.readBytes(d), fetchLock: (l) => fetchLocked(l, ctx) })
      : undefined;
    opts.progress.phase('pack', { items: 1 });
    const packTask = opts.progress.start(path.basename(opts.output), 0);
    const packed = await packBundle({
      store,
      index: { schemaVersion: 2, mediaType: MT.ociIndex, manifests },
      metadata: {
        manifestYaml: await readFile(loaded.file),
        lock: lockText,
        manifestName: loaded.manifest.metadata.name,
        ferryVersion: VERSION,
        extraFiles: [[BUNDLE_SBOM_FILE, Buffer.from(renderCycloneDx({ lock, lockBytes: lockText, name: loaded.manifest.metadata.name }))], ...policyFileEntry(policy), ...(diff ? [diff.file] : [])],
        differential: diff?.info,
        sign: signKey && ((sums) => signChecksums(sums, signKey)),
      },
      output: path.resolve(opts.output),
      // Blobs hashed while they streamed in during this run are not hashed again; blobs that
      // were already in the cache from an earlier run are re-hashed as they are packed.
      trustStore: (digest) => store.verifiedThisRun.has(digest),
      onProgress: (n) => packTask.advance(n),
      splitSize: opts.splitSize,
      omit: diff?.omit,
    });
    packTask.finish(`packed ${packed.blobs} blobs`);
    await cached?.cache.keep(keepTag(digestOf(lockText)));
    return {
      signaturesVerified,
      signatureNotes,
      signed: Boolean(signKey),
      bundle: packed.path,
      size: packed.size,
      blobs: packed.blobs,
      blobBytes: packed.blobBytes,
      lockFile,
      lockUsed,
      counts: countLock(lock),
      ...(cached ? { cache: cached.cache.stats } : {}),
      ...(packed.parts ? { parts: packed.parts } : {}),
      ...(diff ? { differential: diff.info } : {}),
    };
  } finally {
    await net.close();
  }
}
