import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError } from '../errors.js';
import { isIndexType, isManifestType, type OciDescriptor, type OciIndex } from '../oci/media-types.js';
import { sha256Hex } from './blob-store.js';
import { sweepStaleTempsOnce, writeViaTemp } from './temp-files.js';
import { ANNOTATION, type BlobSource } from './source.js';

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
  const problems: WalkProblem[] = [];
  const parsed = new Map<string, ChildList | null>();
  const sizes = new Map<string, number | undefined>();
  const reported = new Set<string>();

  const sizeOf = async (digest: string) => {
    if (!sizes.has(digest)) sizes.set(digest, await source.blobSize(digest).catch(() => undefined));
    return sizes.get(digest);
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
        for (const m of json.manifests ?? []) children.push({ desc: m, role: roleOf(m.mediaType, 'blob') });
        if (json.config) children.push({ desc: json.config, role: 'config' });
        for (const l of json.layers ?? []) children.push({ desc: l, role: 'layer' });
        for (const b of json.blobs ?? []) children.push({ desc: b, role: 'blob' });
        for (const c of children) {
          if (typeof c.desc?.digest !== 'string' || typeof c.desc?.size !== 'number') throw new Error('descriptor without digest or size');
        }
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
    const seen = new Set<string>();
    const visit = async (desc: OciDescriptor, role: BlobRole): Promise<void> => {
      if (seen.has(desc.digest)) return;
      seen.add(desc.digest);
      const known = blobs.get(desc.digest);
      if (known) {
        if (!known.artifacts.includes(label)) known.artifacts.push(label);
      } else {
        blobs.set(desc.digest, { digest: desc.digest, size: desc.size, mediaType: desc.mediaType, role, artifacts: [label] });
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
      for (const c of list?.children ?? []) await visit(c.desc, c.role);
    };
    await visit(top, roleOf(top.mediaType));
  }
  // Problems name every artifact that reaches the blob, not only the first one found.
  for (const p of problems) {
    const b = blobs.get(p.digest);
    if (b) p.artifacts = [...b.artifacts].sort();
  }
  for (const b of blobs.values()) b.artifacts.sort();
  return { blobs, problems };
}

export function describeBlob(artifacts: string[], role: BlobRole, digest: string): string {
  return `${artifacts.join(', ')} ${role} ${digest}`;
}

/**
 * An OCI image layout directory (a directory target, a skopeo `oci:` layout, the fetch store)
 * as a BlobSource, and as a writable target: blobs are hashed while written to a temporary
 * name and renamed into place only when the digest matched; index.json is replaced atomically
 * and written last, so a reader never sees a descriptor whose blobs are not there.
 */
export class LayoutDir implements BlobSource {
  readonly root: string;
  /** index.json updates are serialized per directory, across LayoutDir instances (kinds import concurrently). */
  private static readonly indexLocks = new Map<string, Promise<unknown>>();

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  blobPath(digest: string): string {
    return path.join(this.root, 'blobs', 'sha256', sha256Hex(digest));
  }

  async init(): Promise<void> {
    await mkdir(path.join(this.root, 'blobs', 'sha256'), { recursive: true });
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
      text = await readFile(file, 'utf8');
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
    const final = this.blobPath(digest);
    await mkdir(path.dirname(final), { recursive: true });
    const hash = createHash('sha256');
    let written = 0;
    const check = new Transform({
      transform(chunk: Buffer, _e, cb) {
        written += chunk.length;
        if (written > size) {
          cb(new FerryError('VERIFY', `${label} ${digest}: more than the expected ${size} bytes`));
          return;
        }
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    await writeViaTemp(final, async (tmp) => {
      await pipeline(stream, check, createWriteStream(tmp));
      const actual = 'sha256:' + hash.digest('hex');
      if (written !== size) throw new FerryError('VERIFY', `${label} ${digest}: got ${written} bytes, expected ${size}`);
      if (actual !== digest) throw new FerryError('VERIFY', `${label} ${digest}: digest mismatch (content hashes to ${actual})`);
    });
    return true;
  }

  /** Small bytes (manifests, configs) with a known digest. */
  async writeBytes(bytes: Uint8Array, digest: string, label?: string): Promise<boolean> {
    return this.writeBlob(digest, bytes.length, Readable.from([Buffer.from(bytes)]), label);
  }

  /** Replace index.json atomically. Call it last, after every blob it names is written. */
  async writeIndex(index: OciIndex): Promise<void> {
    await mkdir(this.root, { recursive: true });
    const file = path.join(this.root, 'index.json');
    const body: OciIndex = { schemaVersion: 2, mediaType: index.mediaType ?? 'application/vnd.oci.image.index.v1+json', manifests: index.manifests };
    if (index.annotations) body.annotations = index.annotations;
    await writeViaTemp(file, (tmp) => writeFile(tmp, JSON.stringify(body, null, 2) + '\n'));
  }

  /**
   * Add top-level descriptors: one with a ref.name replaces the previous descriptor of that
   * name (a tag moved); one without replaces an unnamed descriptor with the same digest.
   * Sorted, so the same imports give the same index.json. Serialized within the process.
   */
  async addToIndex(descs: OciDescriptor[]): Promise<void> {
    const run = (LayoutDir.indexLocks.get(this.root) ?? Promise.resolve()).then(async () => {
      let index: OciIndex;
      try {
        index = await this.readIndex();
      } catch (err) {
        if (!(err instanceof FerryError && err.code === 'NOT_FOUND')) throw err;
        index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] };
      }
      const nameOf = (d: OciDescriptor) => d.annotations?.[ANNOTATION.refName];
      let manifests = index.manifests;
      for (const d of descs) {
        const name = nameOf(d);
        manifests = manifests.filter((m) => (name !== undefined ? nameOf(m) !== name : !(nameOf(m) === undefined && m.digest === d.digest)));
        manifests.push(d);
      }
      manifests.sort((a, b) => {
        const an = nameOf(a) ?? '';
        const bn = nameOf(b) ?? '';
        return an < bn ? -1 : an > bn ? 1 : a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0;
      });
      await this.writeIndex({ ...index, manifests });
    });
    LayoutDir.indexLocks.set(this.root, run.catch(() => undefined));
    return run;
  }
}
