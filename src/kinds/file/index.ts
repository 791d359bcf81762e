import type { Kind } from '../types.js';
import { mapLimit } from '../../net/concurrency.js';
import type { FileSpec } from './spec.js';
import type { FileLock } from './lock.js';
import { resolveFile } from './resolve.js';
import { fetchFile } from './fetch.js';
import { importFile } from './import.js';

export const fileKind: Kind<FileSpec, FileLock> = {
  name: 'file',
  async resolve(specs, ctx) {
    const cache = new Map();
    const entries = await mapLimit(specs, ctx.concurrency, (s) => resolveFile(s, ctx, cache));
    return entries.sort((a, b) => a.name.localeCompare(b.name) || a.url.localeCompare(b.url));
  },
  fetch: fetchFile,
  importTo: importFile,
  references: (entry) => [
    { kind: 'file', upstream: entry.url },
    ...(entry.checksums ? [{ kind: 'file' as const, upstream: entry.checksums.file.url }] : []),
    ...(entry.checksums?.signature ? [{ kind: 'file' as const, upstream: entry.checksums.signature.url }] : []),
  ],
};
