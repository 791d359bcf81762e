import path from 'node:path';
import { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import type { OciIndex } from '../oci/media-types.js';
import { sha256Hex } from './blob-store.js';
import type { BlobSource } from './source.js';
import { indexTar, type TarEntry, type TarIndex } from './tar-index.js';
import { openBundleFile, type RandomAccessFile } from './split-file.js';

export type FerryFileName = 'bundle.json' | 'manifest.yaml' | 'lock.json' | 'checksums.sha256';

/** Version of the bundle layout this ferry writes and reads. */
export const BUNDLE_FORMAT_VERSION = 1;

/**
 * How much of one bundle file ferry reads into memory at most. Everything else is streamed.
 * Checked against the tar header's size before a byte is allocated; the error names the file,
 * its size and the cap. Blobs read whole (manifests, configs) default to the 4 MiB registries
 * accept for a manifest (OCI distribution spec); callers that read bigger generated metadata
 * (APT indexes) pass their own cap.
 */
export const READ_CAPS: Readonly<Record<string, number>> = {
  'index.json': 16 * 1024 * 1024,
  'oci-layout': 64 * 1024,
  'ferry/bundle.json': 64 * 1024,
  'ferry/manifest.yaml': 4 * 1024 * 1024,
  'ferry/lock.json': 64 * 1024 * 1024,
  'ferry/checksums.sha256': 64 * 1024 * 1024,
  'ferry/differential.json': 16 * 1024 * 1024,
};
/** Any other whole-file read. */
export const DEFAULT_READ_CAP = 4 * 1024 * 1024;
/** A blob read whole: a manifest or config (the 4 MiB registries accept for a manifest). */
export const BLOB_READ_CAP = 4 * 1024 * 1024;

export interface BundleInfo {
  formatVersion: number;
  ferryVersion: string;
  manifestName: string;
  createdAt?: string;
  /** Differential bundles only (differential.ts): optional, so formatVersion stays 1. */
  differential?: true;
  base?: { kind: 'bundle' | 'lock'; name: string; digest: string };
  omittedBlobs?: number;
  omittedBytes?: number;
}

/**
 * A bundle tar read in place: one scan of its headers gives every file's offset and size;
 * blobs are then streamed straight from the tar by offset, never unpacked. Unsafe entries
 * (absolute paths, `..`, links, devices, duplicates) make `open` refuse the bundle.
 */
export class BundleReader implements BlobSource {
  readonly path: string;
  readonly index: TarIndex;
  /** The tar's bytes: one file, or a split bundle's parts read as one (split-file.ts). */
  readonly file: RandomAccessFile;

  private constructor(tarPath: string, index: TarIndex, file: RandomAccessFile) {
    this.path = tarPath;
    this.index = index;
    this.file = file;
  }

  /** `tarPath` may also be a split bundle's first part (or its .parts file): the parts are found and read as one tar. */
  static async open(tarPath: string): Promise<BundleReader> {
    const abs = path.resolve(tarPath);
    const file = await openBundleFile(abs);
    try {
      return await BundleReader.over(abs, file);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  /** A bundle over bytes already opened (verify's split bundle, whose parts it checks through the same descriptors); the caller closes `file` if this throws. */
  static async over(tarPath: string, file: RandomAccessFile): Promise<BundleReader> {
    return new BundleReader(path.resolve(tarPath), await indexTar(file), file);
  }

  entry(name: string): TarEntry | undefined {
    const e = this.index.byName.get(name);
    return e?.type === 'file' ? e : undefined;
  }

  /** Whole small file by name (metadata, manifests, index.json), refused above its cap (READ_CAPS). */
  async readFile(name: string, maxBytes = READ_CAPS[name] ?? DEFAULT_READ_CAP): Promise<Buffer> {
    const e = this.entry(name);
    if (!e) throw new FerryError('NOT_FOUND', `${this.path}: ${name} is not in the bundle`, { hint: 'Is this a ferry bundle? `ferry bundle verify` checks it.' });
    this.checkCap(name, e.size, maxBytes);
    return this.readRange(e.offset, e.size);
  }

  private checkCap(name: string, size: number, maxBytes: number): void {
    if (size <= maxBytes) return;
    throw new FerryError('VERIFY', `${this.path}: ${name} is ${size} bytes, more than the ${maxBytes} bytes ferry reads into memory for it; refusing it`, {
      hint: 'No ferry writes a file this large there: the bundle was crafted or damaged. Re-create it on the connected side.',
    });
  }

  private async readRange(offset: number, size: number): Promise<Buffer> {
    const fh = this.file;
    // Filled completely below (or an error is thrown), so unsafe allocation (pooled when small) is fine.
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await fh.read(buf, got, size - got, offset + got);
      if (bytesRead === 0) throw new FerryError('VERIFY', `${this.path}: ended early while reading bytes ${offset}–${offset + size}`);
      got += bytesRead;
    }
    return buf;
  }

  ferryFile(name: FerryFileName): Promise<Buffer> {
    return this.readFile(`ferry/${name}`);
  }

  async info(): Promise<BundleInfo> {
    const raw = await this.ferryFile('bundle.json');
    let info: BundleInfo;
    try {
      info = JSON.parse(raw.toString('utf8')) as BundleInfo;
    } catch (err) {
      throw new FerryError('VERIFY', `${this.path}: ferry/bundle.json is not valid JSON`, { cause: err });
    }
    if (info === null || typeof info !== 'object' || info.formatVersion !== BUNDLE_FORMAT_VERSION) {
      const found = info && typeof info === 'object' ? JSON.stringify(info.formatVersion ?? null) : 'missing';
      const by = info && typeof info === 'object' && typeof info.ferryVersion === 'string' ? info.ferryVersion.slice(0, 40) : 'unknown';
      throw new FerryError('VALIDATION', `${this.path}: bundle format ${found} is not supported (this ferry reads format ${BUNDLE_FORMAT_VERSION} only)`, {
        hint: `The bundle says it was written by ferry ${by}; use a ferry that reads that format, or recreate the bundle with this one.`,
      });
    }
    return info;
  }

  blobEntry(digest: string): TarEntry | undefined {
    let hex: string;
    try {
      hex = sha256Hex(digest);
    } catch {
      return undefined;
    }
    return this.entry(`blobs/sha256/${hex}`);
  }

  async blobSize(digest: string): Promise<number | undefined> {
    return this.blobEntry(digest)?.size;
  }

  /** `end` is inclusive, as in fs.createReadStream and HTTP ranges. */
  async openBlob(digest: string, start = 0, end?: number): Promise<Readable> {
    const e = this.blobEntry(digest);
    if (!e) throw new FerryError('NOT_FOUND', `${this.path}: blob ${digest} is not in the bundle`);
    const last = e.size - 1;
    const stop = end === undefined ? last : Math.min(end, last);
    if (start > stop) {
      // An empty read (empty blob, or start at the end): a stream that ends at once.
      return Readable.from([]);
    }
    return this.file.createReadStream(e.offset + start, e.offset + stop);
  }

  /** A whole blob in memory (manifests, configs, small metadata), refused above `maxBytes`. */
  async readBlob(digest: string, maxBytes = BLOB_READ_CAP): Promise<Buffer> {
    const e = this.blobEntry(digest);
    if (!e) throw new FerryError('NOT_FOUND', `${this.path}: blob ${digest} is not in the bundle`);
    this.checkCap(`blob ${digest}`, e.size, maxBytes);
    return this.readRange(e.offset, e.size);
  }

  /**
   * A small blob read synchronously (capped like readBlob): for walks over many thousands of
   * manifests, where an async read per manifest costs more in garbage than the read itself.
   */
  readBlobSync(digest: string, maxBytes = BLOB_READ_CAP): Buffer {
    const e = this.blobEntry(digest);
    if (!e) throw new FerryError('NOT_FOUND', `${this.path}: blob ${digest} is not in the bundle`);
    this.checkCap(`blob ${digest}`, e.size, maxBytes);
    const buf = Buffer.allocUnsafe(e.size);
    let got = 0;
    while (got < e.size) {
      const n = this.file.readSync(buf, got, e.size - got, e.offset + got);
      if (n === 0) throw new FerryError('VERIFY', `${this.path}: ended early while reading ${digest}`);
      got += n;
    }
    return buf;
  }

  async readIndex(): Promise<OciIndex> {
    const raw = await this.readFile('index.json');
    try {
      const index = JSON.parse(raw.toString('utf8')) as OciIndex;
      if (!Array.isArray(index.manifests)) throw new Error('no manifests array');
      if (!index.manifests.every((d) => typeof d === 'object' && d !== null && !Array.isArray(d))) throw new Error('a manifests entry is not an object');
      return index;
    } catch (err) {
      throw new FerryError('VERIFY', `${this.path}: index.json is not a valid OCI index (${(err as Error).message})`, { cause: err });
    }
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}
