import { Readable } from 'node:stream';
import type { BlobSource } from '../../src/store/source.js';

/** A bundle with nothing in it: for tests of `serve`'s own routes and limits. */
export const emptyBlobSource: BlobSource = {
  blobSize: async () => undefined,
  openBlob: async () => Readable.from([]),
  readBlob: async () => Buffer.alloc(0),
  readIndex: async () => ({ schemaVersion: 2, manifests: [] }),
};
