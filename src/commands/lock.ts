import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { writeChunksAtomic, writeFileAtomic } from '../store/temp-files.js';
import os from 'node:os';
import path from 'node:path';
import { lockPathFor, lockTextChunks } from '../manifest/load.js';
import { loadManifest, lockCounts, readLock, type Lock } from '../kinds/schema.js';
import { lockChanges, type LockChange } from './lock-diff.js';
import { createNetContext, type NetContext, type NetOptions } from '../oci/context.js';
import { lockManifest, lockMatches } from '../kinds/pipeline.js';
import { FerryError } from '../errors.js';
import { formatImageReference, parseImageReference, withDefaultTag } from '../oci/reference.js';
import type { KindContext } from '../kinds/types.js';
import { enforceVerifyPolicy, loadVerifyPolicy, registryReader, type ImageSignatureSummary } from '../kinds/image/verify.js';
import { platformsKept } from '../kinds/image/platforms.js';
import { BlobStore } from '../store/blob-store.js';
import { useRegistryCache } from '../store/registry-cache.js';
import type { Progress } from '../ui/progress.js';
import { DEFAULT_CONCURRENCY } from '../net/concurrency.js';
import { pathFrom } from './inputs.js';
import { chartArchiveClashes } from '../mapping/mirror-tree.js';

/** Options of the commands that resolve and fetch upstream (lock, bundle create). */
export interface CommonOptions extends NetOptions {
  concurrency?: number;
  /** Resolve images without signatures, attestations, SBOMs and referrers. */
  noExtras?: boolean;
  progress: Progress;
  /** Directory relative paths resolve against (default: the process's). */
  cwd?: string;
}

/**
 * `$FERRY_CACHE_DIR/store`, else `$XDG_CACHE_HOME/ferry/store`, else `~/.cache/ferry/store`. An
 * empty variable counts as unset (a CI template's `FERRY_CACHE_DIR: ""` put `store/` in the
 * checkout), and so does a relative XDG_CACHE_HOME, as the XDG base directory spec says.
 */
export function defaultCacheDir(): string {
  return path.join(process.env.FERRY_CACHE_DIR || path.join(xdgCacheHome() ?? path.join(os.homedir(), '.cache'), 'ferry'), 'store');
}

function xdgCacheHome(): string | undefined {
  const dir = process.env.XDG_CACHE_HOME;
  return dir && path.isAbsolute(dir) ? dir : undefined;
}

/** Where the default download cache came from, in the user's words. */
function cacheDirSource(): string {
  if (process.env.FERRY_CACHE_DIR) return 'from FERRY_CACHE_DIR';
  if (xdgCacheHome()) return 'the default, under XDG_CACHE_HOME';
  return `the default, under HOME (${os.homedir()})`;
}

const CACHE_DIR_REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EEXIST: 'a file is in the way',
  ENOENT: 'a directory on the way cannot be made',
};

/**
 * Write a lock file (atomically, through the store's temp names, which a rerun after a kill
 * sweeps). A checkout CI mounted read-only, or owned by another user, is said as the lock that
 * could not be written, with the ways round it, not as a temp file's name.
 */
export async function writeLock(lockFile: string, text: string | (() => Iterable<string>), by: 'lock' | 'bundle create'): Promise<void> {
  try {
    if (typeof text === 'string') await writeFileAtomic(lockFile, text);
    else await writeChunksAtomic(lockFile, text);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException)?.code ?? '';
    if (!['EACCES', 'EPERM', 'EROFS'].includes(code)) throw err;
    throw new FerryError('INTERNAL', `cannot write the lock ${lockFile}: ${code === 'EROFS' ? 'read-only file system' : 'permission denied'} (a read-only checkout?)`, {
      cause: err,
      hint:
        by === 'lock'
          ? 'Write it elsewhere with -o <file> (then compare or commit it), or run in a writable checkout; `ferry lock --check` tells whether the committed lock is up to date without writing.'
          : 'The committed lock does not match the manifest, so bundle create re-resolved and had to rewrite it. Commit an up-to-date lock (`ferry lock`; `ferry lock --check` tells) and build with --frozen, or run in a writable checkout.',
    });
  }
}

export function kindContext(manifestDir: string, store: BlobStore, opts: CommonOptions, net: NetContext, warnings: string[]): KindContext {
  return { manifestDir, store, progress: opts.progress, concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY, http: net.http, registry: net.registry, noExtras: opts.noExtras, warnings };
}

/** The content-addressed download cache, ready to use. */
export async function openCache(cacheDir: string | undefined, cwd: string): Promise<BlobStore> {
  const dir = cacheDir ? pathFrom(cwd, cacheDir) : defaultCacheDir();
  const store = new BlobStore(dir);
  try {
    await store.init();
  } catch (err) {
    // A CI runner's HOME is often unwritable (or not a directory): say that this is the download
    // cache, where its path came from, and how to give ferry another one.
    const reason = CACHE_DIR_REASONS[(err as NodeJS.ErrnoException)?.code ?? ''];
    if (!reason) throw err;
    throw new FerryError('INTERNAL', `cannot create the download cache ${dir} (${cacheDir ? '--cache-dir' : cacheDirSource()}): ${reason}`, {
      cause: err,
      hint: 'Give ferry a writable cache directory with --cache-dir <dir> or FERRY_CACHE_DIR=<dir> (in CI: a directory in the job\'s workspace or the runner\'s cache).',
    });
  }
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
  /** What the manifest's `verify:` rules checked of the images' cosign signatures (from the registry). */
  imageSignatures: ImageSignatureSummary;
  /** What was not checked for keyless signatures that passed (e.g. "Rekor inclusion not checked"). */
  signatureNotes: string[];
  warnings: string[];
  /** When a lock was there before: what this one changed in it (added, removed, updated artifacts). */
  changes?: LockChange[];
  /** The size of a previous lock too large to compare (its changes are not listed). */
  changesNotListed?: number;
}

export interface PlatformFilterNote {
  ref: string;
  /** The platforms kept (attestation manifests are not platforms: counted in `attestations`). */
  kept: string[];
  /** buildx attestation manifests kept with those platforms. */
  attestations: number;
  digest: string;
  storedDigest: string;
}

/** What a platform filter changed, so the user sees what is stored (the lock has the rest). */
export function platformFilterNotes(lock: Lock): PlatformFilterNote[] {
  return lock.images
    .filter((i) => i.storedDigest)
    .map((i) => {
      const { platforms, attestations } = platformsKept(i.manifests);
      return { ref: i.ref, kept: platforms, attestations, digest: i.digest, storedDigest: i.storedDigest! };
    });
}

/**
 * Whether `file` holds exactly `text` (UTF-8), compared by size and then by sha256 as the file
 * streams: the old lock is not read whole beside the new one (21 MB each for a 60 000-package
 * APT component).
 */
export async function fileHasText(file: string, text: string): Promise<boolean> {
  return fileHasChunks(file, () => [text]);
}

/** Whether `file` holds exactly the text `chunks()` gives (taken only when the file is there). */
export async function fileHasChunks(file: string, chunks: () => Iterable<string>): Promise<boolean> {
  const size = await stat(file).then((s) => s.size, () => undefined);
  if (size === undefined) return false;
  const want = createHash('sha256');
  let length = 0;
  for (const c of chunks()) {
    want.update(c);
    length += Buffer.byteLength(c);
  }
  if (size !== length) return false;
  const h = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  } catch {
    return false;
  }
  return h.digest('hex') === want.digest('hex');
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
    const signatureNotes: string[] = [];
    // Import refuses two repositories' charts of one name and version with different bytes in one
    // charts.dir; lock does not know the target (a registry keeps them apart), so it warns here,
    // on the connected side, where the user can still drop or rename one.
    for (const clash of chartArchiveClashes(lock.charts ?? [])) {
      warnings.push(`${clash}: import into a target with charts.dir will refuse both (a registry target keeps them apart, each under its repository's path), and serve offers neither over HTTP; lock one of them, or import into a registry`);
    }
    const imageSignatures = await enforceVerifyPolicy(lock.images, await loadVerifyPolicy(loaded.manifest, loaded.dir), (i) => registryReader(net.registry, i.ref), 'at lock', signatureNotes);
    await checkManifestUnchanged(loaded, lockFile, 'lock');
    // Not held as one text (a whole APT component's lock is 21 MB): hashed, then written, in pieces.
    const changed = !(await fileHasChunks(lockFile, () => lockTextChunks(lock)));
    // What the new lock changes against the one it replaces (none when there was none, or it did not parse).
    // A previous lock past PREVIOUS_LOCK_MAX (a whole APT component's 21 MB) is not parsed a second
    // time beside the new one for this list: the list says so instead.
    const previousSize = changed ? await stat(lockFile).then((st) => st.size, () => 0) : 0;
    const before = changed && previousSize <= PREVIOUS_LOCK_MAX ? await readLock(lockFile).catch(() => undefined) : undefined;
    if (changed) await writeLock(lockFile, () => lockTextChunks(lock), 'lock');
    return { lockFile, changed, counts: lockCounts(lock), lock, filtered: platformFilterNotes(lock), imageSignatures, signatureNotes, warnings, ...(before ? { changes: lockChanges(before, lock) } : {}), ...(previousSize > PREVIOUS_LOCK_MAX ? { changesNotListed: previousSize } : {}) };
  } finally {
    await net.close();
  }
}

export interface LockCheckResult {
  lockFile: string;
  /** The lock matches the manifest (and the local files it names): `bundle create --frozen` takes it. */
  upToDate: boolean;
  /** Why not, when it is not. */
  reason?: string;
}

/**
 * `ferry lock --check`: whether the lock beside the manifest (or `output`) is the one for this
 * manifest, by the same test `bundle create --frozen` applies. No network, no cache, nothing
 * written: a merge-request job fails on a manifest change whose lock was not committed with it.
 */
export async function lockCheck(manifestFile: string, opts: { output?: string; cwd?: string } = {}): Promise<LockCheckResult> {
  const cwd = opts.cwd ?? process.cwd();
  const loaded = await loadManifest(path.resolve(cwd, manifestFile));
  const lockFile = opts.output ? path.resolve(cwd, opts.output) : lockPathFor(loaded.file, loaded.manifest.metadata.name);
  const lock: Lock | undefined = await readLock(lockFile);
  if (lockMatches(lock, loaded)) {
    // The digest is the manifest's, which anyone can compute and write into a lock: the entries
    // a manifest names one to one are checked too, so a lock edited by hand (or made for another
    // manifest and given this digest) does not pass.
    const differs = lockContentMismatch(lock, loaded.manifest);
    if (!differs.length) return { lockFile, upToDate: true };
    const shown = differs.slice(0, 10).join('; ') + (differs.length > 10 ? `; and ${differs.length - 10} more` : '');
    return { lockFile, upToDate: false, reason: `the lock carries the manifest's digest, but not what the manifest lists: ${shown}` };
  }
  const found = lock as Lock | undefined;
  const reason = !found
    ? 'no lock file'
    : found.manifest.name !== loaded.manifest.metadata.name
      ? `the lock is for manifest ${JSON.stringify(found.manifest.name)}, not ${JSON.stringify(loaded.manifest.metadata.name)}`
      : 'the manifest (or a local file it names: values files, signing keys) changed since the lock was written';
  return { lockFile, upToDate: false, reason };
}

/**
 * How the lock's entries differ from what the manifest names: its files and APT repositories
 * (name and url; an APT repository's suites, components, architectures and requested packages
 * too), its charts (repository and name; a chart the lock has only as another's dependency is not
 * named by the manifest), its images (each of the lock's is the manifest's or in a locked chart's
 * `images:`, and each of the manifest's is in the lock, compared in their normal form). What a
 * chart deploys (its `images:`, its dependencies) and every digest and version pinned are the
 * lock's own: checking them needs the chart archives or the network (README, In CI).
 */
export function lockContentMismatch(lock: Lock, manifest: unknown): string[] {
  type AptEntry = { name: string; url: string; suites?: unknown[]; components?: unknown[]; architectures?: unknown[]; packages?: unknown[] };
  const m = manifest as { files?: Array<{ name: string; url: string }>; apt?: AptEntry[]; charts?: Array<{ name: string; repo: string }>; images?: Array<{ ref: string }> };
  const l = lock as unknown as {
    files?: Array<{ name: string; url: string }>;
    apt?: Array<Omit<AptEntry, 'suites'> & { suites?: Array<{ suite: string }> }>;
    charts?: Array<{ name: string; repo: string; dependencyOf?: string[]; images?: string[] }>;
    images?: Array<{ source: string; ref: string }>;
  };
  const out: string[] = [];
  const compare = (what: string, wanted: string[], held: string[], extraOk: (key: string) => boolean = () => false) => {
    const want = new Set(wanted);
    const have = new Set(held);
    for (const k of [...want].sort()) if (!have.has(k)) out.push(`${what} ${k} is not in the lock`);
    for (const k of [...have].sort()) if (!want.has(k) && !extraOk(k)) out.push(`${what} ${k} is in the lock, not in the manifest`);
  };
  const key = (e: { name: string; url: string }) => `${e.name} (${e.url})`;
  compare('file', (m.files ?? []).map(key), (l.files ?? []).map(key));
  compare('apt', (m.apt ?? []).map(key), (l.apt ?? []).map(key));
  // An APT repository both name: what of it the lock carries (an extra suite or component is carried and published).
  const strings = (xs: unknown[] | undefined) => (xs ?? []).map(String);
  for (const want of m.apt ?? []) {
    const held = (l.apt ?? []).find((x) => key(x) === key(want));
    if (!held) continue;
    const what = `apt ${key(want)}`;
    compare(`${what} suite`, strings(want.suites), (held.suites ?? []).map((s) => String(s.suite)));
    compare(`${what} component`, strings(want.components), strings(held.components));
    compare(`${what} architecture`, strings(want.architectures), strings(held.architectures));
    if ((want.packages === undefined) !== (held.packages === undefined)) out.push(`${what}: the lock carries ${held.packages ? 'only some packages' : 'the whole repository'}, the manifest asks for ${want.packages ? 'some packages' : 'the whole repository'}`);
    else compare(`${what} package`, strings(want.packages), strings(held.packages));
  }
  const dependencies = new Set((l.charts ?? []).filter((c) => c.dependencyOf?.length).map((c) => `${c.name} (${c.repo})`));
  compare('chart', (m.charts ?? []).map((c) => `${c.name} (${c.repo})`), (l.charts ?? []).map((c) => `${c.name} (${c.repo})`), (k) => dependencies.has(k));
  // A dependency names the chart it is one of (`app 1.0.0`): one the lock holds.
  const locked = new Set((l.charts ?? []).map((c) => `${c.name} ${(c as { version?: string }).version}`));
  for (const c of l.charts ?? []) for (const p of c.dependencyOf ?? []) if (!locked.has(p)) out.push(`chart ${c.name} (${c.repo}) is in the lock as a dependency of ${p}, which the lock does not hold`);
  // Images: the manifest's and the locked charts' (a chart's are the lock's own), in normal form.
  const normal = (ref: string) => {
    try {
      return formatImageReference(withDefaultTag(parseImageReference(ref)));
    } catch {
      return ref;
    }
  };
  const fromCharts = new Set((l.charts ?? []).flatMap((c) => (Array.isArray(c.images) ? c.images.map(normal) : [])));
  const named = new Set((m.images ?? []).map((i) => normal(i.ref)));
  const held = new Set((l.images ?? []).flatMap((i) => [normal(i.ref), normal(i.source)]));
  for (const k of [...named].sort()) if (!held.has(k)) out.push(`image ${k} is not in the lock`);
  const extra = new Set((l.images ?? []).filter((i) => ![i.ref, i.source].some((r) => named.has(normal(r)) || fromCharts.has(normal(r)))).map((i) => normal(i.ref)));
  for (const k of [...extra].sort()) out.push(`image ${k} is in the lock, neither in the manifest nor in a locked chart's images:`);
  return out;
}

/**
 * The manifest and the files it names (values files, keys) were hashed for its digest before the
 * resolution read them again: one changed meanwhile would get a lock whose digest claims content it
 * was not resolved from. Hashed once more before a lock is written (small files, read again): refused.
 */
export async function checkManifestUnchanged(loaded: { file: string; digest: string }, lockFile: string, command: string): Promise<void> {
  const again = await loadManifest(loaded.file).then((m) => m.digest, () => undefined);
  if (again !== loaded.digest) {
    throw new FerryError('CONFLICT', `${loaded.file}: the manifest (or a file it names: values files, keys) changed while ferry was locking it; ${lockFile} was not written`, {
      hint: `Run \`ferry ${command}\` again once nothing else is editing them.`,
    });
  }
}
