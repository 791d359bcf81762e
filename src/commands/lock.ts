import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { lockPathFor, serializeLock } from '../manifest/load.js';
import { loadManifest, lockCounts, readLock, type Lock } from '../kinds/schema.js';
import { lockChanges, type LockChange } from './lock-diff.js';
import { createNetContext, type NetContext, type NetOptions } from '../oci/context.js';
import { lockManifest } from '../kinds/pipeline.js';
import type { KindContext } from '../kinds/types.js';
import { enforceVerifyPolicy, loadVerifyPolicy, registryReader } from '../kinds/image/verify.js';
import { BlobStore } from '../store/blob-store.js';
import { writeFileAtomic as writeFileAtomicInStore } from '../store/temp-files.js';
import { useRegistryCache } from '../store/registry-cache.js';
import type { Progress } from '../ui/progress.js';
import { DEFAULT_CONCURRENCY } from '../net/concurrency.js';
import { pathFrom } from './inputs.js';

/** Options of the commands that resolve and fetch upstream (lock, bundle create). */
export interface CommonOptions extends NetOptions {
  concurrency?: number;
  /** Resolve images without signatures, attestations, SBOMs and referrers. */
  noExtras?: boolean;
  progress: Progress;
  /** Directory relative paths resolve against (default: the process's). */
  cwd?: string;
}

export function defaultCacheDir(): string {
  const base = process.env.FERRY_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'ferry');
  return path.join(base, 'store');
}

/**
 * The lock file replaced atomically (the old one or the new one, never cut) through the store's
 * one temp-file writer: a failed write (a full disk) removes its temp file, and a killed run's is
 * swept by the next (this had its own `<lock>.<pid>.tmp`, left behind on ENOSPC).
 */
export const writeFileAtomic = (file: string, text: string): Promise<void> => writeFileAtomicInStore(file, text);

export function kindContext(manifestDir: string, store: BlobStore, opts: CommonOptions, net: NetContext, warnings: string[]): KindContext {
  return { manifestDir, store, progress: opts.progress, concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY, http: net.http, registry: net.registry, noExtras: opts.noExtras, warnings };
}

/** The content-addressed download cache, ready to use. */
export async function openCache(cacheDir: string | undefined, cwd: string): Promise<BlobStore> {
  const store = new BlobStore(cacheDir ? pathFrom(cwd, cacheDir) : defaultCacheDir());
  await store.init();
  return store;
}

export interface LockOptions extends CommonOptions {
  /** Write the lock here instead of `<name>.lock.json` beside the manifest. */
  output?: string;
  cacheDir?: string;
  /** Shared cache registry (`oci://registry/ferry-cache`) for manifests and blobs read by digest. */
  cache?: string;
  /** Where warnings are collected (default: a new list): the caller still has them when the lock fails. */
  warnings?: string[];
}

export interface LockResult {
  lockFile: string;
  changed: boolean;
  counts: ReturnType<typeof lockCounts>;
  lock: Lock;
  /** Images a platform filter changed: what is stored, beside the upstream index the lock keeps. */
  filtered: PlatformFilterNote[];
  warnings: string[];
  /** When a lock was there before: what this one changed in it (added, removed, updated artifacts). */
  changes?: LockChange[];
  /** The size of a previous lock too large to compare (its changes are not listed). */
  changesNotListed?: number;
}

export interface PlatformFilterNote {
  ref: string;
  kept: string[];
  digest: string;
  storedDigest: string;
}

/** What a platform filter changed, so the user sees what is stored (the lock has the rest). */
export function platformFilterNotes(lock: Lock): PlatformFilterNote[] {
  return lock.images
    .filter((i) => i.storedDigest)
    .map((i) => ({ ref: i.ref, kept: i.manifests.map((m) => m.platform), digest: i.digest, storedDigest: i.storedDigest! }));
}

/**
 * Whether `file` holds exactly `text` (UTF-8), compared by size and then by sha256 as the file
 * streams: the old lock is not read whole beside the new one (21 MB each for a 60 000-package
 * APT component).
 */
export async function fileHasText(file: string, text: string): Promise<boolean> {
  const size = await stat(file).then((s) => s.size, () => undefined);
  if (size !== Buffer.byteLength(text)) return false;
  const h = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  } catch {
    return false;
  }
  return h.digest('hex') === createHash('sha256').update(text).digest('hex');
}

/** The largest previous lock whose changes `ferry lock` lists (it is parsed beside the new one). */
export const PREVIOUS_LOCK_MAX = 4 * 1024 * 1024;

/** `ferry lock`: pin everything the manifest names; writes `<name>.lock.json` beside it. */
export async function lockCommand(manifestFile: string, opts: LockOptions): Promise<LockResult> {
  const cwd = opts.cwd ?? process.cwd();
  const loaded = await loadManifest(path.resolve(cwd, manifestFile));
  const lockFile = opts.output ? path.resolve(cwd, opts.output) : lockPathFor(loaded.file, loaded.manifest.metadata.name);
  const net = createNetContext(opts);
  const warnings: string[] = opts.warnings ?? [];
  try {
    const store = await openCache(opts.cacheDir, cwd);
    const cached = opts.cache ? await useRegistryCache(store, net, opts.cache) : undefined;
    const lock = await lockManifest(loaded, kindContext(loaded.dir, store, opts, cached?.net ?? net, warnings));
    await enforceVerifyPolicy(lock.images, await loadVerifyPolicy(loaded.manifest, loaded.dir), (i) => registryReader(net.registry, i.ref), 'at lock');
    const text = serializeLock(lock);
    const changed = !(await fileHasText(lockFile, text));
    // What the new lock changes against the one it replaces (none when there was none, or it did not parse).
    // A previous lock past PREVIOUS_LOCK_MAX (a whole APT component's 21 MB) is not parsed a second
    // time beside the new one for this list: the list says so instead.
    const previousSize = changed ? await stat(lockFile).then((st) => st.size, () => 0) : 0;
    const before = changed && previousSize <= PREVIOUS_LOCK_MAX ? await readLock(lockFile).catch(() => undefined) : undefined;
    if (changed) await writeFileAtomic(lockFile, text);
    return { lockFile, changed, counts: lockCounts(lock), lock, filtered: platformFilterNotes(lock), warnings, ...(before ? { changes: lockChanges(before, lock) } : {}), ...(previousSize > PREVIOUS_LOCK_MAX ? { changesNotListed: previousSize } : {}) };
  } finally {
    await net.close();
  }
}
