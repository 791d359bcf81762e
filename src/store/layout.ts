import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import { keyedMutex } from '../net/concurrency.js';
import { isIndexType, isManifestType, type OciDescriptor, type OciIndex } from '../oci/media-types.js';
import { makeDirs } from './make-dirs.js';
import { checkInsideTarget } from './confined-dirs.js';
import { sweepStaleTempsOnce, writeFileAtomic } from './temp-files.js';
import { ANNOTATION, type BlobSource } from './source.js';
import { verifiedWrite } from './verified-write.js';

export interface BlobDescriptor {
  digest: string;
  size: number;
  mediaType?: string;
}

export function sha256Hex(digest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!m) throw new FerryError('VALIDATION', `${digest}: unsupported digest (ferry stores sha256 only)`);
  return m[1];
}

export function digestOf(bytes: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

/** What a blob is to the artifact that reaches it; named in every error about it. */
export type BlobRole = 'index' | 'manifest' | 'config' | 'layer' | 'blob';

export const OCI_ARTIFACT_MANIFEST = 'application/vnd.oci.artifact.manifest.v1+json';

/** Registries refuse manifests above 4 MiB; a bigger "manifest" is never parsed (it would sit in memory). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export function roleOf(mediaType: string | undefined, fallback: BlobRole = 'blob'): BlobRole {
  if (isIndexType(mediaType)) return 'index';
  if (isManifestType(mediaType) || mediaType === OCI_ARTIFACT_MANIFEST) return 'manifest';
  return fallback;
}

/** How a top-level descriptor is named to a user: its reference, else title/source, else digest. */
export function artifactLabel(top: OciDescriptor): string {
  const a = top.annotations ?? {};
  return a[ANNOTATION.refName] ?? a[ANNOTATION.title] ?? a[ANNOTATION.source] ?? top.digest;
}

export interface ReachableBlob {
  digest: string;
  size: number;
  mediaType: string;
  role: BlobRole;
  /** Labels of the top-level artifacts that reach this blob, sorted. */
  artifacts: string[];
}

export interface WalkProblem {
  artifacts: string[];
  role: BlobRole;
  digest: string;
  message: string;
}

export interface WalkResult {
  /** Every descriptor reachable from index.json, keyed by digest. */
  blobs: Map<string, ReachableBlob>;
  problems: WalkProblem[];
}

interface ChildList {
  children: Array<{ desc: OciDescriptor; role: BlobRole }>;
}

/**
 * Walk index.json → indexes → manifests → config + layers (any artifact kind) and check that
 * each descriptor is present with the right size. `canParse` lets a verifier skip parsing a
 * manifest whose bytes already failed their digest check (its children cannot be trusted).
 */
export async function walkIndex(
  index: OciIndex,
  source: Pick<BlobSource, 'blobSize' | 'readBlob'>,
  opts: { canParse?: (digest: string) => boolean } = {},
): Promise<WalkResult> {
  const blobs = new Map<string, ReachableBlob>();
  // Which artifacts reach each blob, as a set while walking (thousands of artifacts share layers);
  // one artifact's label as itself (most blobs have one: a set each held ~20 MB for 60 000 .debs).
  const reachedBy = new Map<string, string | Set<string>>();
  const problems: WalkProblem[] = [];
  const parsed = new Map<string, ChildList | null>();
  // A size once known is kept as a number, not as the promise that brought it (60 000 of them).
  const sizes = new Map<string, number | undefined | Promise<number | undefined>>();
  const reported = new Set<string>();
  const mediaTypes = new Map<string, string>();
  const interned = (t: string) => {
    if (typeof t !== 'string') return t;
    const known = mediaTypes.get(t);
    if (known !== undefined) return known;
    if (mediaTypes.size < MAX_INTERNED) mediaTypes.set(t, t);
    return t;
  };

  // Asked once per digest; a node's children are asked all at once before they are visited in
  // order (a store's sizes are stats: one after the other, 200 of them were ~30 ms of a create).
  const sizeOf = (digest: string): number | undefined | Promise<number | undefined> => {
    if (sizes.has(digest)) return sizes.get(digest);
    const size = source.blobSize(digest).then(
      (n) => (sizes.set(digest, n), n),
      () => (sizes.set(digest, undefined), undefined),
    );
    sizes.set(digest, size);
    return size;
  };

  const childrenOf = async (desc: OciDescriptor, role: BlobRole, label: string): Promise<ChildList | null> => {
    if (parsed.has(desc.digest)) return parsed.get(desc.digest)!;
    let result: ChildList | null = null;
    if ((role === 'index' || role === 'manifest') && (opts.canParse?.(desc.digest) ?? true)) {
      if (desc.size > MAX_MANIFEST_BYTES) {
        problems.push({ artifacts: [label], role, digest: desc.digest, message: `${desc.size} bytes: larger than any registry accepts for a ${role} (${MAX_MANIFEST_BYTES}); not read` });
        parsed.set(desc.digest, null);
        return null;
      }
      try {
        const json = JSON.parse((await source.readBlob(desc.digest)).toString('utf8')) as {
          manifests?: OciDescriptor[];
          config?: OciDescriptor;
          layers?: OciDescriptor[];
          blobs?: OciDescriptor[];
        };
        const children: ChildList['children'] = [];
        // Only what the walk reads of each descriptor is kept: a manifest's annotations (a title
        // per .deb of an APT component, 60 000 of them) are left with the parsed JSON.
        // A media type is one string however many descriptors name it (JSON.parse gives each
        // its own copy: 60 000 of "application/vnd.debian.binary-package" were ~3 MB).
        const add = (d: OciDescriptor, role: BlobRole) => {
          if (typeof d?.digest !== 'string' || typeof d?.size !== 'number') throw new Error('descriptor without digest or size');
          children.push({ desc: { mediaType: interned(d.mediaType), digest: d.digest, size: d.size }, role });
        };
        for (const m of json.manifests ?? []) add(m, roleOf(m.mediaType, 'blob'));
        if (json.config) add(json.config, 'config');
        for (const l of json.layers ?? []) add(l, 'layer');
        for (const b of json.blobs ?? []) add(b, 'blob');
        result = { children };
      } catch (err) {
        problems.push({ artifacts: [label], role, digest: desc.digest, message: `not a valid ${role} (${(err as Error).message})` });
      }
    }
    parsed.set(desc.digest, result);
    return result;
  };

  for (const top of index.manifests ?? []) {
    const label = artifactLabel(top);
    const visit = async (desc: OciDescriptor, role: BlobRole): Promise<void> => {
      // Visited once per artifact: reachedBy names the artifacts that reached it (no table of its own per artifact).
      const known = reachedBy.get(desc.digest);
      if (typeof known === 'string') {
        if (known === label) return;
        reachedBy.set(desc.digest, new Set([known, label]));
      } else if (known) {
        if (known.has(label)) return;
        known.add(label);
      } else {
        reachedBy.set(desc.digest, label);
        blobs.set(desc.digest, { digest: desc.digest, size: desc.size, mediaType: desc.mediaType, role, artifacts: [] });
      }
      const key = `${desc.digest}`;
      let valid = true;
      try {
        sha256Hex(desc.digest);
      } catch {
        valid = false;
        if (!reported.has(key)) problems.push({ artifacts: [label], role, digest: desc.digest, message: 'unsupported or malformed digest' });
        reported.add(key);
      }
      if (!valid) return;
      const actual = await sizeOf(desc.digest);
      if (actual === undefined) {
        if (!reported.has(key)) problems.push({ artifacts: [label], role, digest: desc.digest, message: 'missing' });
        reported.add(key);
        return;
      }
      if (actual !== desc.size) {
        if (!reported.has(key)) problems.push({ artifacts: [label], role, digest: desc.digest, message: `size ${actual} bytes, the descriptor says ${desc.size}` });
        reported.add(key);
        return;
      }
      const list = await childrenOf(desc, role, label);
      const children = list?.children ?? [];
      for (let i = 0; i < children.length; i++) {
        // The sizes of the next PREFETCH_SIZES children are asked while this one is visited.
        if (i % PREFETCH_SIZES === 0) for (const c of children.slice(i, i + PREFETCH_SIZES)) if (DIGEST_FORM.test(c.desc.digest)) void sizeOf(c.desc.digest);
        await visit(children[i].desc, children[i].role);
      }
    };
    await visit(top, roleOf(top.mediaType));
  }
  // A blob that one artifact reaches shares that artifact's one-label list (frozen: read by
  // everyone, changed by no one): a list each was ~3 MB for the 60 000 .debs of one component.
  const single = new Map<string, string[]>();
  for (const b of blobs.values()) {
    const by = reachedBy.get(b.digest)!;
    if (typeof by === 'string') {
      let list = single.get(by);
      if (!list) single.set(by, (list = Object.freeze([by]) as string[]));
      b.artifacts = list;
    } else b.artifacts = [...by].sort();
  }
  // Problems name every artifact that reaches the blob, not only the first one found.
  for (const p of problems) {
    const b = blobs.get(p.digest);
    if (b) p.artifacts = [...b.artifacts];
  }
  return { blobs, problems };
}

/** Distinct media types kept as one string each (a hostile manifest may name a new one per descriptor). */
const MAX_INTERNED = 256;

/** Children of one node whose sizes are asked at once (an APT artifact has thousands: a window at a time). */
const PREFETCH_SIZES = 64;
const DIGEST_FORM = /^sha256:[a-f0-9]{64}$/;

export function describeBlob(artifacts: string[], role: BlobRole, digest: string): string {
  return `${artifacts.join(', ')} ${role} ${digest}`;
}

/**
 * Most index.json ferry reads whole from a layout directory. A directory target accumulates every
 * import (40 000 images make about 18 MB), so this is above the bundle's 16 MiB; anything larger
 * is not one ferry wrote.
 */
export const LAYOUT_INDEX_CAP = 64 * 1024 * 1024;

const INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';

/**
 * An OCI image layout directory (a directory target, a skopeo `oci:` layout, the fetch store's
 * base) as a BlobSource, and as a writable target: blobs go through the one verified write
 * (temp name, hashed while written, renamed only when digest and size matched); index.json is
 * replaced atomically and written last (LayoutIndexWriter), so a reader never sees a descriptor
 * whose blobs are not there.
 */
export class LayoutDir implements BlobSource {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  blobPath(digest: string): string {
    return path.join(this.root, 'blobs', 'sha256', sha256Hex(digest));
  }

  async init(): Promise<void> {
    // A target directory (confined-dirs.ts): no link planted in it leads a write outside.
    await checkInsideTarget(path.join(this.root, 'blobs', 'sha256'));
    await checkInsideTarget(path.join(this.root, 'oci-layout'));
    await makeDirs(path.join(this.root, 'blobs', 'sha256'));
    // A run killed mid-write left temp files; a rerun clears those of processes that are gone.
    await Promise.all([sweepStaleTempsOnce(this.root), sweepStaleTempsOnce(path.join(this.root, 'blobs', 'sha256'))]);
    const marker = path.join(this.root, 'oci-layout');
    try {
      await stat(marker);
    } catch {
      await writeFile(marker, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    }
  }

  async blobSize(digest: string): Promise<number | undefined> {
    await checkInsideTarget(this.blobPath(digest));
    try {
      const s = await stat(this.blobPath(digest));
      return s.isFile() ? s.size : undefined;
    } catch {
      return undefined;
    }
  }

  async hasBlob(digest: string, size?: number): Promise<boolean> {
    const actual = await this.blobSize(digest);
    return actual !== undefined && (size === undefined || actual === size);
  }

  /** `end` is inclusive, as in fs.createReadStream and HTTP ranges. */
  async openBlob(digest: string, start = 0, end?: number): Promise<Readable> {
    const file = this.blobPath(digest);
    const size = await this.blobSize(digest);
    if (size === undefined) {
      throw new FerryError('NOT_FOUND', `${this.root}: blob ${digest} is not in the layout`);
    }
    const stop = end === undefined ? size - 1 : Math.min(end, size - 1);
    if (start > stop) return Readable.from([]);
    return createReadStream(file, { start, end: stop, highWaterMark: 1 << 20 });
  }

  async readBlob(digest: string): Promise<Buffer> {
    try {
      return await readFile(this.blobPath(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new FerryError('NOT_FOUND', `${this.root}: blob ${digest} is not in the layout`);
      throw err;
    }
  }

  async readIndex(): Promise<OciIndex> {
    const file = path.join(this.root, 'index.json');
    let text: string;
    try {
      text = await readCapped(file, LAYOUT_INDEX_CAP);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new FerryError('NOT_FOUND', `${this.root}: no index.json; not an OCI image layout`, {
          hint: 'Point at a directory written by `ferry import` (a directory target) or an OCI layout (skopeo copy … oci:DIR).',
        });
      }
      throw err;
    }
    try {
      const index = JSON.parse(text) as OciIndex;
      if (!Array.isArray(index.manifests)) throw new Error('no manifests array');
      return index;
    } catch (err) {
      throw new FerryError('VALIDATION', `${file}: not a valid OCI index (${(err as Error).message})`, { cause: err });
    }
  }

  /** Whether index.json already names `refName` (any kind of ref.name) at `digest`. */
  async hasRef(refName: string, digest: string): Promise<boolean> {
    try {
      const index = await this.readIndex();
      return index.manifests.some((m) => m.digest === digest && m.annotations?.[ANNOTATION.refName] === refName);
    } catch (err) {
      if (err instanceof FerryError && err.code === 'NOT_FOUND') return false;
      throw err;
    }
  }

  /**
   * Write a blob from a stream, hashing while writing. Returns false (and discards the stream)
   * when the layout already has it. A digest or size mismatch leaves nothing behind.
   */
  async writeBlob(digest: string, size: number, stream: Readable, label = digest): Promise<boolean> {
    if (await this.hasBlob(digest, size)) {
      stream.destroy();
      return false;
    }
    await verifiedWrite(this.blobPath(digest), stream, { digest, size }, { label: `${label} ${digest}` });
    return true;
  }

  /** Small bytes (manifests, configs) with a known digest. */
  async writeBytes(bytes: Uint8Array, digest: string, label?: string): Promise<boolean> {
    return this.writeBlob(digest, bytes.length, Readable.from([Buffer.from(bytes)]), label);
  }

  /** Replace index.json atomically. Call it last, after every blob it names is written. */
  async writeIndex(index: OciIndex): Promise<void> {
    const body: OciIndex = { schemaVersion: 2, mediaType: index.mediaType ?? INDEX_MEDIA_TYPE, manifests: index.manifests };
    if (index.annotations) body.annotations = index.annotations;
    await writeFileAtomic(path.join(this.root, 'index.json'), JSON.stringify(body, null, 2) + '\n');
  }

  /**
   * Add top-level descriptors to index.json (read, merge, write once): one with a ref.name
   * replaces the previous descriptor of that name (a tag moved); one without replaces an unnamed
   * descriptor with the same digest. Sorted, so the same imports give the same index.json.
   * Serialized per directory within the process, across LayoutDir instances. An import adds
   * through a LayoutIndexWriter, which batches these calls.
   */
  async addToIndex(descs: OciDescriptor[]): Promise<void> {
    await indexLock(this.root, async () => {
      let index: OciIndex;
      try {
        index = await this.readIndex();
      } catch (err) {
        if (!(err instanceof FerryError && err.code === 'NOT_FOUND')) throw err;
        index = { schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests: [] };
      }
      const slots = slotsOf(index.manifests);
      addToSlots(slots, descs);
      await this.writeIndex({ ...index, manifests: sortedTops(slots) });
    });
  }
}

/** index.json updates, one at a time per directory (kinds import side by side). */
const indexLock = keyedMutex<string>();

/** A whole file as text, refused above `maxBytes` before it is read (the error names file, size and cap). */
async function readCapped(file: string, maxBytes: number): Promise<string> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size > maxBytes) {
      throw new FerryError('VALIDATION', `${file}: ${size} bytes, more than the ${maxBytes} bytes ferry reads into memory for an index.json; refusing it`, {
        hint: 'No ferry writes an index this large: point at an OCI layout ferry wrote, or split the directory target.',
      });
    }
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

const nameOf = (d: OciDescriptor) => d.annotations?.[ANNOTATION.refName];
/** One slot per ref.name; unnamed descriptors one per digest. */
const slotOf = (d: OciDescriptor) => {
  const name = nameOf(d);
  return name !== undefined ? `n:${name}` : `d:${d.digest}`;
};

function slotsOf(manifests: OciDescriptor[]): Map<string, OciDescriptor> {
  return new Map(manifests.map((m) => [slotOf(m), m]));
}

function addToSlots(slots: Map<string, OciDescriptor>, descs: OciDescriptor[]): void {
  for (const d of descs) {
    slots.delete(slotOf(d));
    slots.set(slotOf(d), d);
  }
}

function sortedTops(slots: Map<string, OciDescriptor>): OciDescriptor[] {
  return [...slots.values()].sort((a, b) => {
    const an = nameOf(a) ?? '';
    const bn = nameOf(b) ?? '';
    return an < bn ? -1 : an > bn ? 1 : a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0;
  });
}

/**
 * index.json of one layout directory while an import writes into it. Importing 40 000 images
 * used to rewrite it once per image (quadratic: 17 000 rewrites in 15 minutes). The writer reads
 * the index once (to answer `hasRef`), collects what the import adds, and writes it in one
 * `addToIndex` per `flush()`. With `deferred`, `add` only records and the import command calls
 * `flush()` once at the end; without it, `add` writes before it returns, but adds that arrive
 * while a write runs share the next one. Either way blobs are on disk before the index that
 * names them: a crash before the flush leaves blobs a rerun finds (and skips) and an index that
 * names only complete artifacts.
 */
export class LayoutIndexWriter {
  private view?: Promise<Map<string, OciDescriptor>>;
  private pending: OciDescriptor[] = [];
  private writing?: Promise<void>;
  private queued?: Promise<void>;

  constructor(
    readonly layout: LayoutDir,
    private readonly opts: { deferred?: boolean } = {},
  ) {}

  private load(): Promise<Map<string, OciDescriptor>> {
    this.view ??= this.layout.readIndex().then(
      (index) => slotsOf(index.manifests),
      (err) => {
        if (err instanceof FerryError && err.code === 'NOT_FOUND') return new Map<string, OciDescriptor>();
        throw err;
      },
    );
    return this.view;
  }

  /** Whether the index, as this import leaves it so far, names `refName` at `digest`. */
  async hasRef(refName: string, digest: string): Promise<boolean> {
    return (await this.load()).get(`n:${refName}`)?.digest === digest;
  }

  /** Record top-level descriptors; written before this returns unless deferred. */
  async add(descs: OciDescriptor[]): Promise<void> {
    addToSlots(await this.load(), descs);
    this.pending.push(...descs);
    if (!this.opts.deferred) await this.flush();
  }

  /** Write what was added since the last write. A flush asked for during a write runs once after it. */
  flush(): Promise<void> {
    if (this.queued) return this.queued;
    if (this.writing) {
      this.queued = this.writing
        .catch(() => undefined)
        .then(() => {
          this.queued = undefined;
          return this.flush();
        });
      return this.queued;
    }
    if (!this.pending.length) return Promise.resolve();
    const batch = this.pending;
    this.pending = [];
    this.writing = this.layout
      .addToIndex(batch)
      .catch((err) => {
        this.pending = [...batch, ...this.pending];
        throw err;
      })
      .finally(() => {
        this.writing = undefined;
      });
    return this.writing;
  }
}

/**
 * The index writers of one import, one per layout directory (several entries write into one
 * directory target side by side). The import command creates it, passes it in ImportContext and
 * calls `flush()` once after the last entry.
 */
export class LayoutWriters {
  private readonly writers = new Map<string, LayoutIndexWriter>();
  private readonly initOnce = keyedMutex<string>();

  constructor(private readonly opts: { deferred?: boolean } = {}) {}

  /** The writer of the layout at `dir`, created (and the directory initialised) on first use. */
  async forDir(dir: string): Promise<LayoutIndexWriter> {
    const root = path.resolve(dir);
    return this.initOnce(root, async () => {
      let w = this.writers.get(root);
      if (!w) {
        const layout = new LayoutDir(root);
        await layout.init();
        w = new LayoutIndexWriter(layout, this.opts);
        this.writers.set(root, w);
      }
      return w;
    });
  }

  /** Write every changed index.json: after every blob of every entry is on disk. */
  async flush(): Promise<void> {
    for (const root of [...this.writers.keys()].sort()) await this.writers.get(root)!.flush();
  }
}
