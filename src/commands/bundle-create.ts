import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { access, constants as fsc, readFile, stat } from 'node:fs/promises';
import { FerryError } from '../errors.js';
import path from 'node:path';
import { lockPathFor, lockTextChunks, serializeLock } from '../manifest/load.js';
import { loadManifest, lockCounts, readLock, type Lock } from '../kinds/schema.js';
import { MT } from '../oci/media-types.js';
import { createNetContext } from '../oci/context.js';
import { fetchLocked, frozenMismatch, lockManifest, lockMatches } from '../kinds/pipeline.js';
import { withoutExtras } from '../kinds/image/extras.js';
import { blobReader, enforceVerifyPolicy, loadVerifyPolicy, policyFileEntry, type ImageSignatureSummary } from '../kinds/image/verify.js';
import { digestOf } from '../store/blob-store.js';
import { packBundle } from '../store/bundle-pack.js';
import { DeferredBlobs } from '../store/direct-pack.js';
import { HashThreads } from '../store/hash-threads.js';
import { holdYoung } from '../store/young-gc.js';
import { sha256OfFile } from '../store/verified-write.js';
import type { ReachableBlob } from '../store/layout.js';
import type { Progress, ProgressPhase, ProgressTask } from '../ui/progress.js';
import { planDifferential } from './differential.js';
import type { DifferentialInfo } from '../store/differential.js';
import { keepTag, useRegistryCache, type CacheStats } from '../store/registry-cache.js';
import { loadSigningKey, signChecksums } from '../store/bundle-sign.js';
import { BUNDLE_SBOM_FILE, cycloneDxSource } from './sbom.js';
import { VERSION } from '../version.js';
import { pathFrom } from './inputs.js';
import { checkManifestUnchanged, kindContext, openCache, writeLock, type CommonOptions } from './lock.js';

export interface CreateOptions extends CommonOptions {
  /** The bundle file to write. */
  output: string;
  /** Fail instead of re-resolving when the lock is missing or does not match the manifest. */
  frozen?: boolean;
  /**
   * The download cache. Given explicitly, every fetched blob is kept in it (fetched there, then
   * packed), as with keepCache.
   */
  cacheDir?: string;
  /**
   * Keep every fetched blob in the download cache too (each byte written twice). Default: blobs
   * of 1 MiB or more that the cache lacks are streamed straight into the bundle.
   */
  keepCache?: boolean;
  /** PEM ECDSA P-256 private key: sign ferry/checksums.sha256. */
  signKey?: string;
  /** Shared cache registry (`oci://registry/ferry-cache`): read from it, push what was fetched upstream. */
  cache?: string;
  /** Write the bundle as parts of at most this many bytes. */
  splitSize?: number;
  /** Differential: leave out what this older lock or bundle already carried. */
  since?: string;
}

export interface CreateResult {
  bundle: string;
  signed: boolean;
  /** Images whose cosign signature the manifest's `verify:` rules required and that passed. */
  signaturesVerified: number;
  /** What the manifest's `verify:` rules checked (from the store's bytes): rules, keys, images covered and not. */
  imageSignatures: ImageSignatureSummary;
  /** What was not checked for keyless signatures that passed (e.g. "Rekor inclusion not checked"). */
  signatureNotes: string[];
  size: number;
  blobs: number;
  blobBytes: number;
  lockFile: string;
  lockUsed: 'existing' | 'refreshed';
  counts: ReturnType<typeof lockCounts>;
  /** With --cache: what came from the shared cache and what from upstream. */
  cache?: CacheStats;
  /** Split bundle: the parts in order (`<bundle>.001` …; `<bundle>.parts` lists their sha256). */
  parts?: Array<{ file: string; size: number; sha256: string }>;
  /** `--since`: the base and what was left out. */
  differential?: DifferentialInfo;
  /** Bytes an interrupted earlier run had written to `<bundle>.partial` (re-hashed and kept). */
  resumedBytes?: number;
  warnings: string[];
}

/** FERRY_SEGMENTS: ranged segments per big blob (1 = none); for measuring, the default is chosen in direct-pack.ts. */
function segmentsFromEnv(): number | undefined {
  const n = Number(process.env.FERRY_SEGMENTS);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * The pack phase of direct packing: one line per artifact (the first that reaches each blob),
 * sized before the first byte, started when its first bytes move, finished with its last blob.
 */
function directPackProgress(progress: Progress) {
  const groups = new Map<string, { bytes: number; left: number; task?: ProgressTask }>();
  let phase: ProgressPhase | undefined;
  const groupOf = (b: ReachableBlob) => groups.get(b.artifacts[0] ?? '')!;
  const taskOf = (b: ReachableBlob) => {
    const g = groupOf(b);
    g.task ??= phase?.item(b.artifacts[0] ?? 'bundle', g.bytes);
    return g.task;
  };
  return {
    hooks: {
      onPlan(blobs: ReachableBlob[]) {
        for (const b of blobs) {
          const key = b.artifacts[0] ?? '';
          const g = groups.get(key) ?? { bytes: 0, left: 0 };
          g.bytes += b.size;
          g.left++;
          groups.set(key, g);
        }
        phase = progress.phase('pack', { items: groups.size, bytes: blobs.reduce((n, b) => n + b.size, 0) });
      },
      onBlobBytes(b: ReachableBlob, n: number, reused: boolean) {
        const task = taskOf(b);
        if (reused) task?.cached(n);
        else task?.advance(n);
      },
      onBlobDone(b: ReachableBlob) {
        const g = groupOf(b);
        if (--g.left === 0) taskOf(b)?.finish();
      },
    },
    end: () => phase?.end(),
  };
}

/**
 * A file's bytes in slices, read again on each call, each time checked against the digest it had
 * when the run read it: a lock file rewritten meanwhile fails the pack before the bundle is written.
 */
export function pinnedFileChunks(file: string, digest: string): () => Iterable<Buffer> {
  return function* () {
    const fd = openSync(file, 'r');
    try {
      const h = createHash('sha256');
      for (;;) {
        const buf = Buffer.allocUnsafe(1 << 20);
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        const slice = buf.subarray(0, n);
        h.update(slice);
        yield slice;
      }
      if (`sha256:${h.digest('hex')}` !== digest) {
        throw new FerryError('CONFLICT', `${file} changed while the bundle was being created`, { hint: 'Run `ferry bundle create` again.' });
      }
    } finally {
      closeSync(fd);
    }
  };
}

async function lockFileDigest(file: string): Promise<string> {
  const digest = await sha256OfFile(file);
  if (!digest) throw new FerryError('CONFLICT', `${file}: the lock file cannot be read back`, { hint: 'Run `ferry bundle create` again.' });
  return digest;
}

/**
 * `-o` must name a file in a directory ferry can write, said before anything is fetched (not an
 * fs error after minutes of downloading). A directory that does not exist yet is created later.
 */
async function checkOutputPlace(output: string): Promise<void> {
  const usage = (why: string, hint: string) => new FerryError('USAGE', `-o ${output}: ${why}`, { hint });
  const st = await stat(output).catch(() => undefined);
  if (st?.isDirectory()) throw usage('is a directory, not a bundle file', `Name the bundle file, e.g. -o ${path.join(output, 'bundle.ferry.tar')}.`);
  // The nearest part of the path that exists must be a directory this user may write in.
  let dir = path.dirname(output);
  for (;;) {
    const d = await stat(dir).catch((e: NodeJS.ErrnoException) => e);
    if (!(d instanceof Error)) {
      if (!d.isDirectory()) throw usage(`${dir} is a file, not a directory`, 'Check the path given to -o.');
      break;
    }
    if (d.code !== 'ENOENT' || path.dirname(dir) === dir) break;
    dir = path.dirname(dir);
  }
  await access(dir, fsc.W_OK).catch((e: NodeJS.ErrnoException) => {
    const why = e.code === 'EROFS' ? 'read-only file system' : e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied' : e.message;
    throw usage(`cannot write in ${dir}: ${why}`, 'Write the bundle to a directory this user can write in (-o).');
  });
}

/** `ferry bundle create`: lock (or use the matching lock), fetch verified, pack one tar. */
export async function createBundle(manifestFile: string, opts: CreateOptions): Promise<CreateResult> {
  // Direct packing (one write per byte) unless the cache is wanted: asked for, shared with a
  // cache registry (it pushes from the store), or a split output (written strictly in order).
  const direct = !(opts.keepCache || opts.cacheDir || opts.cache || opts.splitSize !== undefined);
  // Booted first, on the idle core, while this thread reads the manifest: the pack hashes every
  // blob it writes on them.
  const hashes = direct ? new HashThreads().warm() : undefined;
  try {
    return await createWith(manifestFile, opts, direct, hashes);
  } finally {
    await hashes?.close();
  }
}

async function createWith(manifestFile: string, opts: CreateOptions, direct: boolean, hashes: HashThreads | undefined): Promise<CreateResult> {
  const cwd = opts.cwd ?? process.cwd();
  const loaded = await loadManifest(path.resolve(cwd, manifestFile));
  const signKey = opts.signKey ? await loadSigningKey(pathFrom(cwd, opts.signKey)) : undefined;
  const policy = await loadVerifyPolicy(loaded.manifest, loaded.dir);
  const lockFile = lockPathFor(loaded.file, loaded.manifest.metadata.name);
  // Not before the threads booted (HashThreads.ready): the lock and what is made from it live on.
  await hashes?.ready();
  const existing = await holdYoung(() => readLock(lockFile));
  const output = path.resolve(cwd, opts.output);
  await checkOutputPlace(output);
  const net = createNetContext(opts);
  const warnings: string[] = [];
  try {
    const store = await openCache(opts.cacheDir, cwd);
    if (direct) store.deferral = new DeferredBlobs();
    const cached = opts.cache ? await useRegistryCache(store, net, opts.cache) : undefined;
    const ctx = kindContext(loaded.dir, store, opts, cached?.net ?? net, warnings);
    let lock: Lock;
    // The bundle carries the lock file's exact bytes: a build from the committed lock and the
    // build that wrote it give the same bundle (a parsed lock re-serialises in another key order).
    // A lock file is not held as text for the whole run (21 MB for a 60 000-package APT
    // component): its digest is taken now and it is read again, checked, when packed.
    let lockText: string | undefined;
    let lockUsed: CreateResult['lockUsed'] = 'existing';
    if (lockMatches(existing, loaded)) {
      lock = opts.noExtras ? withoutExtras(existing) : existing;
      if (opts.noExtras) lockText = serializeLock(lock);
    } else {
      if (opts.frozen) throw frozenMismatch(lockFile, Boolean(existing));
      lock = await lockManifest(loaded, ctx);
      await checkManifestUnchanged(loaded, lockFile, 'bundle create');
      await writeLock(lockFile, () => lockTextChunks(lock), 'bundle create');
      lockUsed = 'refreshed';
    }
    // Hashed as it streams: a 21 MB lock read whole is a 21 MB buffer that glibc keeps resident.
    const lockDigest = lockText !== undefined ? digestOf(lockText) : await lockFileDigest(lockFile);
    const manifests = await fetchLocked(lock, ctx);
    const signatureNotes: string[] = [];
    const imageSignatures = await enforceVerifyPolicy(lock.images, policy, () => blobReader({ readBlob: (d) => store.readBytes(d) }), 'at bundle create', signatureNotes);
    const diff = opts.since
      ? await planDifferential({ since: pathFrom(cwd, opts.since), index: { schemaVersion: 2, manifests }, readStoreBlob: (d) => store.readBytes(d), fetchLock: (l) => fetchLocked(l, ctx) })
      : undefined;
    const packProgress = direct ? directPackProgress(opts.progress) : undefined;
    if (!packProgress) opts.progress.phase('pack', { items: 1 });
    const packTask = packProgress ? undefined : opts.progress.start(path.basename(output), 0);
    const packed = await packBundle({
      store,
      index: { schemaVersion: 2, mediaType: MT.ociIndex, manifests },
      metadata: {
        // The text validated at load, not the file read again hours later (it may have been edited).
        manifestYaml: loaded.text !== undefined ? Buffer.from(loaded.text) : await readFile(loaded.file),
        lock: lockText ?? pinnedFileChunks(lockFile, lockDigest),
        manifestName: loaded.manifest.metadata.name,
        ferryVersion: VERSION,
        extraFiles: [[BUNDLE_SBOM_FILE, { chunks: await cycloneDxSource({ lock, lockBytes: lockText ?? { digest: lockDigest }, name: loaded.manifest.metadata.name }) }], ...policyFileEntry(policy), ...(diff ? [diff.file] : [])],
        differential: diff?.info,
        sign: signKey && ((sums) => signChecksums(sums, signKey)),
      },
      output,
      // Blobs hashed while they streamed in during this run are not hashed again; blobs that
      // were already in the cache from an earlier run are re-hashed as they are packed.
      trustStore: (digest) => store.verifiedThisRun.has(digest),
      onProgress: packTask && ((n) => packTask.advance(n)),
      splitSize: opts.splitSize,
      omit: diff?.omit,
      ...(store.deferral && packProgress ? { direct: { deferred: store.deferral, concurrency: ctx.concurrency, segments: segmentsFromEnv(), hashes, ...packProgress.hooks } } : {}),
    });
    packTask?.finish(`packed ${packed.blobs} blobs`);
    warnings.push(...(packed.notes ?? []));
    packProgress?.end();
    await cached?.cache.keep(keepTag(lockDigest));
    return {
      signaturesVerified: imageSignatures.verified,
      imageSignatures,
      signatureNotes,
      signed: Boolean(signKey),
      bundle: packed.path,
      size: packed.size,
      blobs: packed.blobs,
      blobBytes: packed.blobBytes,
      lockFile,
      lockUsed,
      counts: lockCounts(lock),
      ...(cached ? { cache: cached.cache.stats } : {}),
      ...(packed.parts ? { parts: packed.parts } : {}),
      ...(diff ? { differential: diff.info } : {}),
      ...(packed.reusedBytes ? { resumedBytes: packed.reusedBytes } : {}),
      warnings,
    };
  } finally {
    await net.close();
  }
}
