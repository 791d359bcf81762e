import type { Readable } from 'node:stream';
import type { OciIndex } from '../oci/media-types.js';

/**
 * Read access to blobs by digest, whatever holds them: the fetch store (a directory), an
 * unpacked OCI layout (a directory target) or a bundle tar read in place (no unpacking).
 * Import and serve read through this, so they work the same over all three.
 */
export interface BlobSource {
  /** Size in bytes, or undefined when the blob is not there. */
  blobSize(digest: string): Promise<number | undefined>;
  /** Bytes `start` to `end` INCLUSIVE (as fs.createReadStream and HTTP Range); both optional. */
  openBlob(digest: string, start?: number, end?: number): Promise<Readable>;
  /** The whole blob in memory; a reader may refuse one larger than `maxBytes` (its default cap otherwise). */
  readBlob(digest: string, maxBytes?: number): Promise<Buffer>;
  /** The layout's index.json. */
  readIndex(): Promise<OciIndex>;
}

/** Annotations on top-level descriptors in a bundle's index.json. */
export const ANNOTATION = {
  refName: 'org.opencontainers.image.ref.name',
  title: 'org.opencontainers.image.title',
  /** image | chart | file | apt */
  kind: 'io.ferry.kind',
  /** Where the artifact came from (URL, repository, reference as written). */
  source: 'io.ferry.source',
  /** The upstream digest of an image whose stored index was filtered by platform. */
  upstreamDigest: 'io.ferry.upstream-digest',
} as const;
