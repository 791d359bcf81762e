import { escapeLine } from '../ui/escape.js';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import type { OciDescriptor, OciIndex } from '../oci/media-types.js';
import { MAX_MANIFEST_BYTES } from './layout.js';
import { MAX_TAR_ENTRIES } from './tar-index.js';
import { type BlobSource } from './source.js';
import { openBundleSource, type BundleSource } from './open-bundle.js';
import type { NetOptions } from '../oci/context.js'; 

/**
 * Differential bundles (`bundle create --since <old lock or bundle>`). index.json still lists
 * every artifact, and every index, manifest and config travels (the one exception: they are a
 * few KB, and they let verify, import and serve read the bundle's whole structure from the
 * bundle alone); every PAYLOAD blob the base already carried is left out: image layers, chart
 * archives (content layer and .prov), APT packages (.deb) and the files of file artifacts. Each
 * is one a target can be checked for before anything is sent: a HEAD in the artifact's mirror
 * repository (or in another repository the base's images and charts map to, mounted from there
 * at import), a stat in a directory target, or its place in the charts, APT or files tree (same
 * size and sha256).
 *
 * `ferry/differential.json` (listed in checksums.sha256 like every other file) names the base
 * and lists every omitted blob (digest and size); `ferry/bundle.json` says `differential: true`
 * with the base and the counts (optional fields: bundle.json's formatVersion stays 1, and a
 * ferry that does not know them still reads the bundle, reporting the omitted blobs missing).
 *
 * differential.json also lists the base's image and chart references (`baseRefs`), so import
 * can find a shared layer in a repository only the base's images went to.
 *
 * The base is identified by a digest: for a bundle, the sha256 of its `ferry/checksums.sha256`
 * (which covers every file of it); for a lock, the sha256 of the lock file's bytes (what a
 * bundle built from it carries as `ferry/lock.json`).
 */

export const DIFFERENTIAL_FILE = 'ferry/differential.json';
/** Read cap: about 130 bytes an omitted blob, for the 40 000 entries a bundle may hold. */
export const DIFFERENTIAL_CAP = 16 * 1024 * 1024;

export interface DifferentialBase {
  kind: 'bundle' | 'lock';
  /** The base's file name as given (for messages; not used to find it). */
  name: string;
  /** bundle: sha256 of its ferry/checksums.sha256; lock: sha256 of the lock file. */
  digest: string;
}

export interface DifferentialManifest {
  base: DifferentialBase;
  /** Every omitted blob, sorted by digest. */
  omitted: Array<{ digest: string; size: number }>;
  /** The base's image and chart references, sorted (absent in bundles from before it was added). */
  baseRefs?: string[];
}

/** The optional fields bundle.json carries for a differential bundle. */
export interface DifferentialInfo {
  differential: true;
  base: DifferentialBase;
  omittedBlobs: number;
  omittedBytes: number;
}

/** A base's name is its file name (for messages): at most what a file name can be. */
const MAX_BASE_NAME = 255;
/** An image or chart reference (a name, a tag and a digest) is far shorter. */
const MAX_REF = 4096;

export const sha256Of = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('hex');
export const DIGEST = /^sha256:[a-f0-9]{64}$/;

export interface DifferentialSource {
  readonly path: string;
  entry(name: string): unknown;
  readFile(name: string, maxBytes?: number): Promise<Buffer>;
}

export async function readDifferential(reader: DifferentialSource): Promise<DifferentialManifest | undefined> {
  if (!reader.entry(DIFFERENTIAL_FILE)) return undefined;
  const raw = await reader.readFile(DIFFERENTIAL_FILE, DIFFERENTIAL_CAP);
  const bad = (why: string) => new FerryError('VERIFY', `${reader.path}: ${DIFFERENTIAL_FILE}: ${why}`, { hint: 'The bundle was crafted or damaged; re-create it on the connected side.' });
  let v: DifferentialManifest;
  try {
    v = JSON.parse(raw.toString('utf8')) as DifferentialManifest;
  } catch {
    throw bad('not valid JSON');
  }
  const b = v?.base;
  if (!b || (b.kind !== 'bundle' && b.kind !== 'lock') || typeof b.name !== 'string' || b.name.length > MAX_BASE_NAME || typeof b.digest !== 'string' || !DIGEST.test(b.digest)) throw bad(`base must be { kind: bundle|lock, name (a file name, at most ${MAX_BASE_NAME} characters), digest: sha256:… }`);
  if (!Array.isArray(v.omitted)) throw bad('omitted is not a list');
  // Each entry is checked field by field and named by its place: it may be anything (a list
  // nested 100 000 deep would overflow the stack of a JSON.stringify meant to quote it).
  const sizes = new Map<string, number>();
  let total = 0;
  for (const [i, o] of v.omitted.entries()) {
    if (typeof o !== 'object' || o === null || typeof o.digest !== 'string' || !DIGEST.test(o.digest) || !Number.isSafeInteger(o.size) || o.size < 0) throw bad(`omitted[${i}] is not { digest: sha256:<64 hex>, size: <bytes> }`);
    const seen = sizes.get(o.digest);
    if (seen !== undefined) throw bad(`omitted[${i}]: ${o.digest} is listed twice${seen !== o.size ? ` (${seen} and ${o.size} bytes)` : ''}`);
    sizes.set(o.digest, o.size);
    total += o.size;
    if (!Number.isSafeInteger(total)) throw bad(`omitted: the sizes add up past 2^53 bytes at omitted[${i}]`);
  }
  // Import looks each base reference's repository up for every blob its own lacks: bounded like a bundle's entries.
  if (v.baseRefs !== undefined && (!Array.isArray(v.baseRefs) || v.baseRefs.length > MAX_TAR_ENTRIES || !v.baseRefs.every((r) => typeof r === 'string' && r.length <= MAX_REF))) {
    throw bad(`baseRefs is not a list of at most ${MAX_TAR_ENTRIES} references of at most ${MAX_REF} characters`);
  }
  return {
    base: { kind: b.kind, name: b.name, digest: b.digest },
    omitted: v.omitted.map((o) => ({ digest: o.digest, size: o.size })),
    ...(v.baseRefs ? { baseRefs: [...v.baseRefs] } : {}),
  };
}

/** For verify: the omitted blobs (expected from the base, not missing), or undefined for a full bundle. */
export async function expectedFromBase(reader: DifferentialSource): Promise<{ base: DifferentialBase; blobs: Map<string, number>; bytes: number } | undefined> {
  const d = await readDifferential(reader);
  if (!d) return undefined;
  const blobs = new Map(d.omitted.map((o) => [o.digest, o.size]));
  return { base: d.base, blobs, bytes: d.omitted.reduce((n, o) => n + o.size, 0) };
}

// ---------------------------------------------------------------------------------------------
// The base: the one check serve --base and bundle verify --base share

/** What a differential bundle left out and where it expects it, for messages. */
export function describeDifferential(bundle: string, diff: Pick<DifferentialManifest, 'base' | 'omitted'>): string {
  return `${bundle} is a differential bundle: ${diff.omitted.length} blobs (${diff.omitted.reduce((n, o) => n + o.size, 0)} bytes) are in its base, ${diff.base.kind} ${escapeLine(diff.base.name)} (${diff.base.digest})`;
}

/** A base that is itself a differential lacks what it left out: serve and verify refuse it the same way. */
export const CHAINED_BASE_HINT = 'Use a differential bundle against a full base: re-create it with --since <full bundle>, or import the chain in order (oldest first) and serve the target.';

/**
 * `--base` is the base the differential was made against: for a bundle base, the sha256 of its
 * ferry/checksums.sha256 (which covers every file of it) is the recorded digest; for a lock base,
 * the sha256 of the base bundle's ferry/lock.json. Refuses (USAGE) naming both digests.
 */
export async function checkBaseMatches(bundle: string, diff: Pick<DifferentialManifest, 'base' | 'omitted'>, basePath: string, base: DifferentialSource): Promise<void> {
  const digest = sha256Of(await base.readFile(diff.base.kind === 'bundle' ? 'ferry/checksums.sha256' : 'ferry/lock.json'));
  if (digest !== diff.base.digest) {
    throw new FerryError('USAGE', `--base ${basePath}: not the base this bundle was made against (${diff.base.kind === 'bundle' ? 'its checksums' : 'its lock'} hash to ${digest}; ${describeDifferential(bundle, diff)})`, {
      hint: `Pass the bundle the differential was created from (--since ${escapeLine(diff.base.name)}).`,
    });
  }
}

/**
 * The omitted blobs a base does not hold with the recorded size (`got`: its size there, or
 * undefined when it is not there at all), in digest order; a blob the differential itself
 * carries after all is not asked of the base. Sizes only: callers that vouch for the bytes hash them.
 */
export async function lackingInBase(
  diff: Pick<DifferentialManifest, 'omitted'>,
  bundle: { blobSize(digest: string): Promise<number | undefined> },
  base: { blobSize(digest: string): Promise<number | undefined> },
): Promise<Array<{ digest: string; size: number; got?: number }>> {
  const lacking: Array<{ digest: string; size: number; got?: number }> = [];
  for (const o of diff.omitted) {
    if ((await bundle.blobSize(o.digest)) !== undefined) continue;
    const got = await base.blobSize(o.digest);
    if (got !== o.size) lacking.push({ digest: o.digest, size: o.size, ...(got === undefined ? {} : { got }) });
  }
  return lacking;
}

// ---------------------------------------------------------------------------------------------
// Importing

/**
 * Before anything is sent: the target already holds every blob the bundle left out, where each
 * artifact needs it: for images and charts in a registry target, a HEAD in the artifact's mirror
 * repository, else in the other repositories the base's images and charts map to (found there,
 * the import mounts it: the returned map, digest → repositories, seeds the import's mounts); a
 * stat in a directory target; a chart's archive (and .prov) where chart import writes it in a
 * `charts:` directory, an APT package at its pool path under `apt.dir`, a file at its place in
 * the files tree (each same size and sha256). Refuses listing every missing one by artifact.
 */
export async function differentialServeSource(
  reader: BundleSource,
  basePath: string | undefined,
  net?: NetOptions,
): Promise<{ source: BlobSource; close(): Promise<void>; /** The base opened (serve checks a split one's parts as the bundle's). */ base?: BundleSource }> {
  const diff = await readDifferential(reader);
  if (!diff) {
    if (basePath) throw new FerryError('USAGE', `--base ${basePath}: ${reader.path} is a full bundle; it needs no base`);
    return { source: reader, close: async () => {} };
  }
  if (!basePath) throw new FerryError('USAGE', `${describeDifferential(reader.path, diff)}; serving it alone would answer 404 for them`, { hint: 'Pass the base bundle too: ferry serve <bundle> --base <base.ferry.tar>.' });
  // The base may be where the differential is: a tar, or a bundle pushed to a registry (`oci://…`).
  const base = await openBundleSource(basePath, net);
  try {
    await base.info();
    await checkBaseMatches(reader.path, diff, basePath, base);
    // The base must hold every blob this bundle left out (a base that is itself a differential
    // does not): refused now, not answered 404 in the middle of a client's pull.
    const lacking = (await lackingInBase(diff, reader, base)).map((l) => `${l.digest} (${l.size} bytes): ${l.got === undefined ? 'not in the base' : `${l.got} bytes in the base`}`);
    if (lacking.length) {
      const chained = (await readDifferential(base)) !== undefined;
      throw new FerryError('VERIFY', `--base ${basePath}: lacks ${lacking.length} of the ${diff.omitted.length} blobs ${reader.path} left out${chained ? ' (the base is itself a differential bundle)' : ''}; nothing was served`, {
        details: lacking.length > 200 ? [...lacking.slice(0, 200), `… and ${lacking.length - 200} more`] : lacking,
        hint: chained ? CHAINED_BASE_HINT : 'The base was altered after the differential was made; copy it again from the source.',
      });
    }
  } catch (err) {
    await base.close();
    throw err;
  }
  const pick = (digest: string) => (reader.entry(`blobs/sha256/${digest.slice('sha256:'.length)}`) ? reader : base);
  const source: BlobSource = {
    blobSize: async (d) => (await reader.blobSize(d)) ?? (await base.blobSize(d)),
    openBlob: (d: string, start?: number, end?: number): Promise<Readable> => pick(d).openBlob(d, start, end),
    readBlob: (d: string, max?: number) => pick(d).readBlob(d, max),
    readIndex: () => reader.readIndex(),
  };
  return { source, close: () => base.close(), base };
}

/** For the CLI: one line on what a differential bundle saved. */
export function describeSaving(info: DifferentialInfo | undefined, size: number): string[] {
  if (!info) return [];
  const pct = size + info.omittedBytes > 0 ? Math.round((100 * info.omittedBytes) / (size + info.omittedBytes)) : 0;
  return [`  differential against ${info.base.kind} ${escapeLine(info.base.name)} (${info.base.digest.slice(0, 19)}…): ${info.omittedBlobs} blobs, ${info.omittedBytes} bytes left out (${pct}% saved; the target must already hold them)`];
}

/** For `bundle verify`'s text: what a differential bundle expects from its base (empty for a full one). */
export function describeExpected(e: { base: DifferentialBase; blobs: number; bytes: number; digests: string[]; usedBy?: Record<string, string> } | undefined): string {
  if (!e) return '';
  const shown = e.digests.slice(0, 20).map((d) => `\n  expected from the base: ${e.usedBy?.[d] ? `${escapeLine(e.usedBy[d])} ` : ''}${d}`);
  const more = e.digests.length > shown.length ? [`\n  … and ${e.digests.length - shown.length} more (--json lists them all)`] : [];
  return `\ndifferential against ${e.base.kind} ${escapeLine(e.base.name)} (${e.base.digest}): ${e.blobs} blobs, ${e.bytes} bytes expected on the target, not in this bundle` + shown.join('') + more.join('');
}
