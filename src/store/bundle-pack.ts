import { createHash } from 'node:crypto';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../errors.js';
import { MT, type OciIndex } from '../oci/media-types.js';
import { sha256Hex, type BlobStore } from './blob-store.js';
import { BUNDLE_FORMAT_VERSION, type BundleInfo } from './bundle-reader.js';
import { describeBlob, walkIndex, type ReachableBlob } from './layout.js';
import { SIGNATURE_FILE } from './bundle-sign.js';
import { MAX_TAR_ENTRIES, TAR_END, tarHeader, tarPadding } from './tar-index.js';
import { VERSION } from '../version.js';
import { openBundleOutput } from './split-file.js';
import type { DifferentialInfo } from './differential.js';
import { copyStoreBlob, journalOf, writeDirect, type BundleLayout, type DeferredBlobs } from './direct-pack.js';
import { mainThreadHash, type HashThreads } from './hash-threads.js';
import { withPidLock } from './pid-lock.js';

/**
 * Bundle layout (one plain tar, root = an OCI image layout), in this order:
 *
 *   oci-layout
 *   ferry/ bundle.json, checksums.sha256, lock.json, manifest.yaml
 *   blobs/sha256/<hex>        every reachable blob once, sorted by digest
 *   index.json                last
 *
 * Metadata first, so a reader streaming the tar (verify) knows what to expect before the
 * gigabytes arrive; index.json last, so a tar cut short in transit has no index and can never
 * be mistaken for a complete layout by an OCI tool. The checksums can be written up front
 * because a blob's checksum is its name: each blob is re-hashed while it is copied in, and a
 * store blob that does not match its name aborts the pack.
 */

export interface PackInput {
  store: BlobStore;
  index: OciIndex;
  metadata: {
    manifestYaml: Buffer | string;
    lock: string;
    manifestName: string;
    /** Defaults to the running ferry's version. */
    ferryVersion?: string;
    /** Only when asked: a timestamp makes otherwise equal bundles differ. */
    createdAt?: string;
    /** More files under ferry/ (e.g. the SBOM), listed in the checksums like the rest. */
    extraFiles?: Array<[name: string, bytes: Buffer]>;
    /** bundle.json's fields for a differential bundle (differential.ts). */
    differential?: DifferentialInfo;
    /** Signs the checksum list's bytes; the result is written as ferry/checksums.sha256.sig. */
    sign?: (checksums: Buffer) => Buffer;
  };
  output: string;
  onProgress?: (bytes: number) => void;
  /**
   * Skip re-hashing blobs on the way in (sizes are still checked). Only for a store whose
   * blobs were verified moments ago by this same run; roughly halves pack CPU. The far side's
   * `bundle verify` re-hashes everything either way.
   */
  trustStore?: boolean | ((digest: string) => boolean);
  /** Blobs left out (a differential bundle): digest → size. Not written, not in the checksums. */
  omit?: Map<string, number>;
  /** Write the tar as parts of at most this many bytes (`<output>.001` …) plus `<output>.parts`. */
  splitSize?: number;
  /**
   * Direct packing (direct-pack.ts): blobs the store lacks come from `deferred` (recorded by
   * the fetch phase), written straight into their places, several at once; a rerun continues
   * from `<output>.partial`. Not with splitSize: a split bundle needs every blob in the store.
   */
  direct?: {
    deferred: DeferredBlobs;
    concurrency: number;
    segments?: number;
    segmentMinBytes?: number;
    onBlobBytes?: (blob: ReachableBlob, bytes: number, reused: boolean) => void;
    onBlobDone?: (blob: ReachableBlob) => void;
    /** Every blob the bundle carries, before the first is written (to size the progress). */
    onPlan?: (blobs: ReachableBlob[]) => void;
    /** Hashing threads started early by the caller (who closes them). */
    hashes?: HashThreads;
  };
}

export interface PackResult {
  path: string;
  size: number;
  blobs: number;
  blobBytes: number;
  /** The parts, in order, when split (the tar itself is not written then). */
  parts?: Array<{ file: string; size: number; sha256: string }>;
  /** Direct packing: bytes found complete in an earlier run's partial output (re-hashed, not fetched). */
  reusedBytes?: number;
}

export const FERRY_VERSION = VERSION;

/** GNU `sha256sum` text for name → hex, sorted by name (byte order). */
export function formatChecksums(sums: Map<string, string> | Record<string, string>): string {
  const entries = sums instanceof Map ? [...sums.entries()] : Object.entries(sums);
  entries.sort(([a], [b]) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
  return entries.map(([name, hex]) => `${hex}  ${name}\n`).join('');
}

export interface ChecksumProblem {
  line: number;
  message: string;
}

/** Parse GNU `sha256sum` output (text or binary mode markers); every bad line is reported. */
export function parseChecksums(text: string): { sums: Map<string, string>; problems: ChecksumProblem[] } {
  const sums = new Map<string, string>();
  const problems: ChecksumProblem[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((line, i) => {
    const m = /^\\?([a-fA-F0-9]{64}) [ *](.+)$/.exec(line);
    if (!m) {
      problems.push({ line: i + 1, message: `not a sha256sum line: ${JSON.stringify(line.slice(0, 80))}` });
      return;
    }
    let name = m[2];
    if (line.startsWith('\\')) name = name.replace(/\\(\\|n)/g, (_s, c: string) => (c === 'n' ? '\n' : '\\'));
    if (name.startsWith('./')) name = name.slice(2);
    if (sums.has(name)) problems.push({ line: i + 1, message: `${name} listed twice` });
    sums.set(name, m[1].toLowerCase());
  });
  return { sums, problems };
}

const hexOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Adapts the fetch store to the walker. A blob the store lacks may have been deferred (direct
 * packing): its size is the one recorded. `inStore` collects the blobs the store holds.
 */
function storeSource(store: BlobStore, deferred: DeferredBlobs | undefined, inStore: Set<string>) {
  return {
    async blobSize(digest: string) {
      try {
        const s = await stat(store.blobPath(digest));
        if (s.isFile()) {
          inStore.add(digest);
          return s.size;
        }
      } catch {
        // not in the store
      }
      return deferred?.get(digest)?.desc.size;
    },
    readBlob: (digest: string) => store.readBytes(digest),
  };
}

/** The tar's layout: every header, metadata file and padding at its offset, and each blob's data offset. */
function layoutOf(small: Map<string, Buffer>, blobs: ReachableBlob[]): BundleLayout {
  const frames: BundleLayout['frames'] = [];
  const placed: BundleLayout['blobs'] = [];
  let pos = 0;
  const frame = (bytes: Buffer) => {
    if (!bytes.length) return;
    const last = frames[frames.length - 1];
    // Adjacent runs (a blob's padding and the next header) become one write.
    if (last && last.pos + last.bytes.length === pos) last.bytes = Buffer.concat([last.bytes, bytes]);
    else frames.push({ pos, bytes });
    pos += bytes.length;
  };
  const fileEntry = (name: string) => {
    const bytes = small.get(name)!;
    frame(Buffer.concat([tarHeader(name, bytes.length, 'file'), bytes, tarPadding(bytes.length)]));
  };
  fileEntry('oci-layout');
  frame(tarHeader('ferry', 0, 'directory'));
  for (const name of [...small.keys()].filter((n) => n.startsWith('ferry/')).sort()) fileEntry(name);
  frame(Buffer.concat([tarHeader('blobs', 0, 'directory'), tarHeader('blobs/sha256', 0, 'directory')]));
  for (const b of blobs) {
    frame(tarHeader(`blobs/sha256/${sha256Hex(b.digest)}`, b.size, 'file'));
    placed.push({ blob: b, pos });
    pos += b.size;
    frame(tarPadding(b.size));
  }
  fileEntry('index.json');
  frame(TAR_END);
  return { size: pos, frames, blobs: placed };
}

/**
 * Write a bundle: every blob streamed from the store and re-hashed on the way (never held in
 * memory), written to `<output>.partial` and renamed when complete. Equal inputs give
 * byte-identical tars (sorted entries, mtime 0, uid/gid 0, fixed modes).
 */
export async function packBundle(input: PackInput): Promise<PackResult> {
  const { store, metadata } = input;
  const index: OciIndex = {
    schemaVersion: 2,
    mediaType: input.index.mediaType ?? MT.ociIndex,
    manifests: input.index.manifests,
    ...(input.index.annotations ? { annotations: input.index.annotations } : {}),
  };

  const inStore = new Set<string>();
  const walk = await walkIndex(index, storeSource(store, input.direct?.deferred, inStore));
  if (walk.problems.length) {
    const details = walk.problems.map((p) => `${describeBlob(p.artifacts, p.role, p.digest)}: ${p.message === 'missing' ? 'not in the store' : p.message}`);
    throw new FerryError('VERIFY', `cannot pack ${input.output}: ${walk.problems.length} blob${walk.problems.length > 1 ? 's' : ''} missing or damaged in the store ${store.root}`, {
      details,
      hint: 'Run `ferry bundle create` again to fetch what is missing.',
    });
  }
  const blobs: ReachableBlob[] = [...walk.blobs.values()].filter((b) => !input.omit?.has(b.digest)).sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));

  const info: BundleInfo = {
    formatVersion: BUNDLE_FORMAT_VERSION,
    ferryVersion: metadata.ferryVersion ?? FERRY_VERSION,
    manifestName: metadata.manifestName,
    ...(metadata.createdAt ? { createdAt: metadata.createdAt } : {}),
    ...(metadata.differential ?? {}),
  };
  const small = new Map<string, Buffer>([
    ['oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }))],
    ['ferry/bundle.json', Buffer.from(JSON.stringify(info, null, 2) + '\n')],
    ['ferry/lock.json', Buffer.from(metadata.lock)],
    ['ferry/manifest.yaml', Buffer.isBuffer(metadata.manifestYaml) ? metadata.manifestYaml : Buffer.from(metadata.manifestYaml)],
    ['index.json', Buffer.from(JSON.stringify(index))],
    ...(metadata.extraFiles ?? []),
  ]);
  const sums = new Map<string, string>();
  for (const [name, bytes] of small) sums.set(name, hexOf(bytes));
  for (const b of blobs) sums.set(`blobs/sha256/${sha256Hex(b.digest)}`, sha256Hex(b.digest));
  small.set('ferry/checksums.sha256', Buffer.from(formatChecksums(sums)));
  if (metadata.sign) small.set(SIGNATURE_FILE, metadata.sign(small.get('ferry/checksums.sha256')!));

  const output = path.resolve(input.output);
  // Every reader refuses a tar of more entries (a bound on memory for hostile input): a bundle
  // over it would be written and then refused on the other side.
  const entries = small.size + blobs.length + 3;
  if (entries > MAX_TAR_ENTRIES) {
    throw new FerryError('VALIDATION', `${input.output}: the bundle would hold ${entries} files, more than the ${MAX_TAR_ENTRIES} a bundle may hold (verify and import refuse more)`, {
      hint: 'Split the manifest into several, one bundle each (an APT repository by component or architecture, images by team or release).',
    });
  }
  await mkdir(path.dirname(output), { recursive: true });
  const layout = layoutOf(small, blobs);
  // Two creates writing one output would write into the same partial file: the second is told at once.
  const busy = (pid: number) =>
    new FerryError('CONFLICT', `${output}: another ferry process (pid ${pid}) is writing this bundle`, {
      hint: `Wait for it to finish, or write to another path (-o). ${output}.lock names the process.`,
    });
  return withPidLock(`${output}.lock`, busy, () => writeBundle(input, output, layout, blobs, inStore));
}

/** packBundle's writing, under the output's lock: the direct write, or the in-order one from the store. */
async function writeBundle(input: PackInput, output: string, layout: BundleLayout, blobs: ReachableBlob[], inStore: Set<string>): Promise<PackResult> {
  const { store } = input;
  if (input.direct && input.splitSize === undefined) {
    const direct = input.direct;
    const storeRoot = store.root;
    direct.onPlan?.(blobs);
    const written = await writeDirect({
      output,
      layout,
      concurrency: direct.concurrency,
      segments: direct.segments,
      segmentMinBytes: direct.segmentMinBytes,
      hashes: direct.hashes,
      origin: (b) => {
        const deferred = inStore.has(b.digest) ? undefined : direct.deferred.get(b.digest);
        if (deferred) return { from: 'network', deferred };
        const trusted = typeof input.trustStore === 'function' ? input.trustStore(b.digest) : Boolean(input.trustStore);
        return { from: 'store', file: store.blobPath(b.digest), trusted, root: storeRoot };
      },
      onBlobBytes: (b, n, reused) => {
        direct.onBlobBytes?.(b, n, reused);
        input.onProgress?.(n);
      },
      onBlobDone: direct.onBlobDone,
    });
    return { path: output, size: written.size, blobs: blobs.length, blobBytes: blobs.reduce((s, b) => s + b.size, 0), reusedBytes: written.reusedBytes };
  }
  if (input.direct && blobs.some((b) => !inStore.has(b.digest))) {
    throw new FerryError('INTERNAL', `cannot pack ${input.output}: ${blobs.filter((b) => !inStore.has(b.digest)).length} blobs were not fetched and a split bundle is written in order`, {
      hint: 'Run `ferry bundle create` with --keep-cache together with --split-size.',
    });
  }
  // A journal of an earlier direct write does not describe what this run writes.
  await rm(journalOf(output), { force: true });

  // Straight positional writes through two reused buffers: the next chunk is read and hashed
  // while the previous one is written, and memory stays flat whatever the blob sizes. The
  // output is one file, or parts (split-file.ts) cut as the bytes pass.
  const out = await openBundleOutput(output, input.splitSize, layout.size);
  let outPos = 0;
  const writeAll = async (bytes: Buffer) => {
    let off = 0;
    while (off < bytes.length) {
      const { bytesWritten } = await out.write(bytes, off, bytes.length - off, outPos);
      off += bytesWritten;
      outPos += bytesWritten;
    }
  };
  const copyBlob = (b: ReachableBlob) => {
    const trusted = typeof input.trustStore === 'function' ? input.trustStore(b.digest) : input.trustStore;
    return copyStoreBlob(store.blobPath(b.digest), store.root, b, writeAll, trusted ? undefined : mainThreadHash(createHash('sha256')), input.onProgress);
  };

  let written: Awaited<ReturnType<typeof out.commit>>;
  try {
    // Frames and blobs interleave by position; the writes are sequential (a split output needs that).
    let f = 0;
    for (const { blob, pos } of layout.blobs) {
      for (; f < layout.frames.length && layout.frames[f].pos < pos; f++) await writeAll(layout.frames[f].bytes);
      await copyBlob(blob);
    }
    for (; f < layout.frames.length; f++) await writeAll(layout.frames[f].bytes);
    written = await out.commit();
  } catch (err) {
    await out.abort();
    throw err;
  }
  return {
    path: output,
    size: written.size,
    blobs: blobs.length,
    blobBytes: blobs.reduce((s, b) => s + b.size, 0),
    ...(written.parts ? { parts: written.parts } : {}),
  };
}
