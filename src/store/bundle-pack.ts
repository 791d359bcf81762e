import { createHash } from 'node:crypto';
import { lstat, mkdir, open, opendir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../errors.js';
import { MT, type OciIndex } from '../oci/media-types.js';
import { sha256Hex, type BlobStore } from './blob-store.js';
import { BUNDLE_FORMAT_VERSION, type BundleInfo } from './bundle-reader.js';
import { describeBlob, walkIndex, type ReachableBlob } from './layout.js';
import { SIGNATURE_FILE } from './bundle-sign.js';
import { BLOCK, MAX_TAR_ENTRIES, TAR_END, tarHeader } from './tar-index.js';
import { VERSION } from '../version.js';
import { openBundleOutput, partName } from './split-file.js';
import { requireSpaceFor } from './free-space.js';
import { humanBytes } from '../ui/progress.js';
import type { DifferentialInfo } from './differential.js';
import { copyStoreBlob, journalOf, writeDirect, type BundleLayout, type DeferredBlobs, type Frame } from './direct-pack.js';
import { mainThreadHash, type HashThreads } from './hash-threads.js';
import { lockHeld, withOutputLock } from './pid-lock.js';
import { noteTablesBuilt, noteTextParsed } from './young-gc.js';

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
    /** The lock file's bytes: its text, or its chunks rendered on each call (the same bytes each time). */
    lock: string | (() => Iterable<Buffer>);
    manifestName: string;
    /** Defaults to the running ferry's version. */
    ferryVersion?: string;
    /** Only when asked: a timestamp makes otherwise equal bundles differ. */
    createdAt?: string;
    /** More files under ferry/ (e.g. the SBOM), listed in the checksums like the rest. */
    extraFiles?: Array<[name: string, bytes: Buffer | RenderedFile]>;
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
  /** What earlier creates left beside the output, for the user: a partial output written anew, others' partial outputs no run continues. */
  notes?: string[];
}

export const FERRY_VERSION = VERSION;

/** GNU `sha256sum` text for name → hex, sorted by name (byte order). */
export function formatChecksums(sums: Map<string, string> | Record<string, string>): string {
  const entries = sums instanceof Map ? [...sums.entries()] : Object.entries(sums);
  entries.sort(([a], [b]) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
  return entries.map(([name, hex]) => `${hex}  ${name}\n`).join('');
}

/** A blob's line in ferry/checksums.sha256: `<hex>  blobs/sha256/<hex>\n`. */
const BLOB_LINE = 64 + 2 + 'blobs/sha256/'.length + 64 + 1;

/** Blob lines rendered into one buffer (~100 KB) before it is handed on. */
const LINES_PER_CHUNK = 512;

/**
 * formatChecksums of the metadata files and every blob, without a map of every name: the blobs'
 * names (`blobs/sha256/<hex>`, sorted by digest already) merged with the few metadata names,
 * rendered anew in slices on each call (the same bytes each time): a whole APT component's
 * list (~12 MB for 60 000 lines) is not held while the bundle is written.
 */
function checksumsOf(small: Map<string, SmallFile>, blobs: ReachableBlob[]): () => Iterable<Buffer> {
  const named = [...small].map(([name, f]): [string, string] => [name, sumOf(f)]).sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const namedLines = named.map(([name, sum]) => Buffer.from(`${sum}  ${name}\n`));
  return function* () {
    let i = 0;
    // Lines are written straight into a slice's buffer (held as strings and joined they were
    // ~27 MB at once); a buffer is never written again once part of it was handed on.
    let out = Buffer.allocUnsafe(0);
    let start = 0;
    let at = 0;
    for (const b of blobs) {
      const hex = sha256Hex(b.digest);
      const name = `blobs/sha256/${hex}`;
      // `name` is ASCII: comparing as strings orders as comparing the UTF-8 bytes.
      if (i < named.length && named[i][0] < name) {
        if (at > start) yield out.subarray(start, at);
        start = at;
        for (; i < named.length && named[i][0] < name; i++) yield namedLines[i];
      }
      if (at + BLOB_LINE > out.length) {
        if (at > start) yield out.subarray(start, at);
        out = Buffer.allocUnsafe(Math.min(LINES_PER_CHUNK, blobs.length) * BLOB_LINE);
        start = at = 0;
      }
      at += out.write(`${hex}  ${name}\n`, at, 'latin1');
    }
    if (at > start) yield out.subarray(start, at);
    for (; i < named.length; i++) yield namedLines[i];
  };
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
    const parsed = checksumLine(line);
    if (!parsed) {
      problems.push({ line: i + 1, message: `not a sha256sum line: ${JSON.stringify(line.slice(0, 80))}` });
      return;
    }
    const { name, hex } = parsed;
    if (sums.has(name)) problems.push({ line: i + 1, message: `${name} listed twice` });
    sums.set(name, hex);
  });
  return { sums, problems };
}

/** One line of a sha256sum list: the name (unescaped, without `./`) and the lower-case hash; undefined if it is none. */
function checksumLine(line: string): { name: string; hex: string } | undefined {
  const m = /^\\?([a-fA-F0-9]{64}) [ *](.+)$/.exec(line);
  if (!m) return undefined;
  let name = m[2];
  if (line.startsWith('\\')) name = name.replace(/\\(\\|n)/g, (_s, c: string) => (c === 'n' ? '\n' : '\\'));
  if (name.startsWith('./')) name = name.slice(2);
  return { name, hex: m[1].toLowerCase() };
}

/**
 * The hashes a sha256sum list gives one file (none, one, or — a crafted list — several), found
 * without parsing the whole list: a whole APT component's list is 60 000 lines, and the files
 * read this way (the lock, the verify policy) are one line of it. The same lines parseChecksums
 * reads: a line naming the file ends with its name, as no character of a name that needs no
 * escaping is escaped (others are looked for by parsing every line).
 */
export function checksumsFor(list: Buffer, name: string): string[] {
  if (/[\\\n]/.test(name) || !name) return [...parseChecksumsAll(list.toString('utf8'), name)];
  const needle = Buffer.from(name, 'utf8');
  const found: string[] = [];
  for (let at = list.indexOf(needle); at !== -1; at = list.indexOf(needle, at + 1)) {
    const end = at + needle.length;
    if (end !== list.length && list[end] !== 0x0a) continue;
    const start = at === 0 ? 0 : list.lastIndexOf(0x0a, at - 1) + 1;
    const parsed = checksumLine(list.toString('utf8', start, end));
    if (parsed?.name === name) found.push(parsed.hex);
  }
  return found;
}

function* parseChecksumsAll(text: string, name: string): Generator<string> {
  for (const line of text.split('\n')) {
    const parsed = checksumLine(line);
    if (parsed?.name === name) yield parsed.hex;
  }
}

const hexOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * A file of the bundle too large to hold (the SBOM of a whole APT component is ~1 KB a
 * package): rendered once to size and hash it, and again while it is written, never whole.
 * The rendering must give the same bytes each time (it is checked).
 */
export interface RenderedFile {
  chunks: () => Iterable<string | Buffer>;
}

/** A metadata file: its bytes, or how to render them (size and hash known up front). */
type SmallFile = Buffer | { size: number; sha256: string; chunks: () => Iterable<Buffer> };

const TEXT_SLICE = 1 << 20;

/** Text as UTF-8 slices of about a MiB (never cutting a surrogate pair). */
function* textSlices(text: string): Generator<string> {
  for (let at = 0; at < text.length; ) {
    let end = Math.min(text.length, at + TEXT_SLICE);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    yield text.slice(at, end);
    at = end;
  }
}

/**
 * Rendered text (a whole APT component's SBOM is ~60 MB, rendered twice) leaves its strings and
 * buffers as garbage that V8, left alone, let reach ~50 MB on top of the live heap, resident
 * (the peak of `bundle create` at 60 000 packages): the heap is looked at as it is made.
 */
function* asBuffers(chunks: Iterable<string | Buffer>): Generator<Buffer> {
  for (const c of chunks) {
    noteTextParsed(c.length);
    if (typeof c !== 'string') yield c;
    else for (const t of c.length > TEXT_SLICE ? textSlices(c) : [c]) yield Buffer.from(t, 'utf8');
  }
}

function measured(name: string, chunks: () => Iterable<string | Buffer>): SmallFile {
  const h = createHash('sha256');
  let size = 0;
  for (const b of asBuffers(chunks())) {
    h.update(b);
    size += b.length;
  }
  const sha256 = h.digest('hex');
  return {
    size,
    sha256,
    // The second rendering is checked against the first (the checksums list already names it).
    *chunks() {
      const again = createHash('sha256');
      let n = 0;
      for (const b of asBuffers(chunks())) {
        again.update(b);
        n += b.length;
        yield b;
      }
      if (n !== size || again.digest('hex') !== sha256) throw new FerryError('INTERNAL', `${name}: rendered differently the second time`);
    },
  };
}

const sizeOf = (f: SmallFile) => (Buffer.isBuffer(f) ? f.length : f.size);
const sumOf = (f: SmallFile) => (Buffer.isBuffer(f) ? hexOf(f) : f.sha256);

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

/** Frames are written in runs of up to this many bytes. */
const RUN_BYTES = 1 << 20;
const ZEROS = Buffer.alloc(BLOCK);
const padLength = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;
/** A tar entry's padding, as a view of one zero block. */
const padding = (size: number) => ZEROS.subarray(0, padLength(size));

/**
 * The tar's layout: each blob's data offset, and the frames (every header, metadata file and
 * padding at its offset), generated anew on each call: a whole APT component has a header
 * and a padding per package, too many small buffers to keep.
 */
function layoutOf(small: Map<string, SmallFile>, blobs: ReachableBlob[]): BundleLayout {
  const placed: BundleLayout['blobs'] = [];
  const ferryFiles = [...small.keys()].filter((n) => n.startsWith('ferry/')).sort();
  const entrySize = (bytes: number) => BLOCK + bytes + padLength(bytes);
  let pos = entrySize(sizeOf(small.get('oci-layout')!)) + BLOCK;
  for (const name of ferryFiles) pos += entrySize(sizeOf(small.get(name)!));
  pos += 2 * BLOCK;
  for (const b of blobs) {
    placed.push({ blob: b, pos: pos + BLOCK });
    pos += entrySize(b.size);
  }
  const size = pos + entrySize(sizeOf(small.get('index.json')!)) + TAR_END.length;

  function* pieces(): Generator<Buffer | { gap: number }> {
    const fileEntry = function* (name: string): Generator<Buffer> {
      const f = small.get(name)!;
      yield tarHeader(name, sizeOf(f), 'file');
      if (Buffer.isBuffer(f)) yield f;
      else yield* f.chunks();
      yield padding(sizeOf(f));
    };
    yield* fileEntry('oci-layout');
    yield tarHeader('ferry', 0, 'directory');
    for (const name of ferryFiles) yield* fileEntry(name);
    yield tarHeader('blobs', 0, 'directory');
    yield tarHeader('blobs/sha256', 0, 'directory');
    for (const b of blobs) {
      yield tarHeader(`blobs/sha256/${sha256Hex(b.digest)}`, b.size, 'file');
      yield { gap: b.size };
      yield padding(b.size);
    }
    yield* fileEntry('index.json');
    yield TAR_END;
  }
  // Adjacent pieces become one write (a blob's padding and the next header), up to RUN_BYTES,
  // gathered in one reused buffer: a frame's bytes are valid until the next frame is asked for
  // (both writers write each frame before taking the next).
  function* frames(): Generator<Frame> {
    const runBuf = Buffer.allocUnsafe(RUN_BYTES);
    let at = 0;
    let runBytes = 0;
    let runPos = 0;
    const flush = (): Frame => {
      const frame = { pos: runPos, bytes: runBuf.subarray(0, runBytes) };
      runBytes = 0;
      return frame;
    };
    for (const p of pieces()) {
      if (!Buffer.isBuffer(p)) {
        if (runBytes) yield flush();
        at += p.gap;
        continue;
      }
      if (!p.length) continue;
      if (runBytes && runBytes + p.length > RUN_BYTES) yield flush();
      if (p.length > RUN_BYTES) {
        yield { pos: at, bytes: p };
      } else {
        if (!runBytes) runPos = at;
        p.copy(runBuf, runBytes);
        runBytes += p.length;
      }
      at += p.length;
    }
    if (runBytes) yield flush();
    if (at !== size) throw new FerryError('INTERNAL', `bundle layout: frames end at ${at}, expected ${size}`);
  }
  return { size, frames, blobs: placed };
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
  noteTablesBuilt();
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
  const small = new Map<string, SmallFile>([
    ['oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }))],
    ['ferry/bundle.json', Buffer.from(JSON.stringify(info, null, 2) + '\n')],
    ['ferry/lock.json', measured('ferry/lock.json', typeof metadata.lock === 'string' ? () => textSlices(metadata.lock as string) : metadata.lock)],
    ['ferry/manifest.yaml', Buffer.isBuffer(metadata.manifestYaml) ? metadata.manifestYaml : Buffer.from(metadata.manifestYaml)],
    ['index.json', Buffer.from(JSON.stringify(index))],
    ...(metadata.extraFiles ?? []).map(([name, f]): [string, SmallFile] => [name, Buffer.isBuffer(f) ? f : measured(name, f.chunks)]),
  ]);
  const checksums = checksumsOf(small, blobs);
  if (metadata.sign) {
    // A signature is made over the list's bytes, held whole then.
    const whole = Buffer.concat([...checksums()]);
    small.set('ferry/checksums.sha256', whole);
    small.set(SIGNATURE_FILE, metadata.sign(whole));
  } else small.set('ferry/checksums.sha256', measured('ferry/checksums.sha256', checksums));

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
  return withOutputLock(output, async () => {
    // Under the lock: what an earlier create of this output left is this run's to continue or replace.
    const first = input.splitSize === undefined ? `${output}.partial` : `${partName(output, 1)}.partial`;
    const earlier = await lstat(first).then((st) => st.isFile(), () => false);
    const result = await writeBundle(input, output, layout, blobs, inStore);
    // A split output says itself what an earlier split of it left (splitOutput's notes).
    const notes = [...(result.notes ?? []), ...(await leftoverPartials(output))];
    if (earlier && !result.reusedBytes && input.splitSize === undefined) {
      notes.unshift(
        `${first}: the partial output of an earlier create that did not finish held nothing this bundle could reuse (it was of another manifest, lock or split size), so ${path.basename(output)} was written anew in its place`,
      );
    }
    return notes.length ? { ...result, notes } : result;
  });
}

/** At most this many leftover partial outputs are named (a directory of many is said as a count). */
const MAX_LEFTOVERS_NAMED = 10;
/** At most this many directory entries are looked at for them (the output may be written into a large directory). */
const MAX_ENTRIES_LOOKED_AT = 100_000;

/**
 * The partial outputs other creates left beside `output` and no run continues: `<bundle>.partial`
 * with its journal (`.partial.json`, a direct write) or `<bundle>.<nnn>.partial` (a split one),
 * whose `<bundle>.lock` no live process holds. A killed create's partial output is kept for the
 * same command to continue from; one never run again stays, as large as its bundle, with nothing
 * that says so: named here, with what to do.
 */
async function leftoverPartials(output: string): Promise<string[]> {
  const dir = path.dirname(output);
  const mine = path.basename(output);
  const found: Array<{ partial: string; bundle: string }> = [];
  let more = 0;
  let looked = 0;
  try {
    for await (const e of await opendir(dir)) {
      if (++looked > MAX_ENTRIES_LOOKED_AT) break;
      if (!e.isFile() || !e.name.endsWith('.partial')) continue;
      const split = /^(.+)\.\d{3,}\.partial$/.exec(e.name);
      const bundle = split ? split[1] : e.name.slice(0, -'.partial'.length);
      if (bundle === mine) continue;
      if (!split && !(await lstat(path.join(dir, `${e.name}.json`)).then((st) => st.isFile(), () => false))) continue;
      if (await lockHeld(path.join(dir, `${bundle}.lock`))) continue;
      if (found.length < MAX_LEFTOVERS_NAMED) found.push({ partial: path.join(dir, e.name), bundle });
      else more++;
    }
  } catch {
    return [];
  }
  const notes: string[] = [];
  for (const { partial, bundle } of found.sort((a, b) => (a.partial < b.partial ? -1 : 1))) {
    const st = await stat(partial).catch(() => undefined);
    if (!st) continue;
    notes.push(
      `${partial}: left by a create of ${bundle} that did not finish (${humanBytes(st.size)}, last written ${st.mtime.toISOString()}); no run continues it: run that create again with -o ${path.join(dir, bundle)} to continue it, or remove ${path.basename(partial)}${partial.endsWith(`${bundle}.partial`) ? ` and ${path.basename(partial)}.json` : ''}`,
    );
  }
  if (more) notes.push(`${more} more partial outputs of creates that did not finish in ${dir}`);
  return notes;
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
  // As the direct write: a disk that cannot hold the bundle (or its parts) is said before the first byte, not at ENOSPC halfway.
  const first = input.splitSize === undefined ? `${output}.partial` : `${partName(output, 1)}.partial`;
  await requireSpaceFor(first, layout.size, `the bundle (${humanBytes(layout.size)} in all)`, 'Free space on the disk ferry writes to (where -o puts the bundle), or write it to another file system with -o, and run again.');
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
    const frames = layout.frames()[Symbol.iterator]();
    let f = frames.next();
    for (const { blob, pos } of layout.blobs) {
      for (; !f.done && f.value.pos < pos; f = frames.next()) await writeAll(f.value.bytes);
      await copyBlob(blob);
    }
    for (; !f.done; f = frames.next()) await writeAll(f.value.bytes);
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
    ...(written.notes ? { notes: written.notes } : {}),
  };
}
