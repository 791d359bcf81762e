import type { Kind } from '../types.js';
import type { FileSpec } from './spec.js';
import type { FileLock } from './lock.js';
import { resolveFiles } from './resolve.js';
import { fetchFile, fileFetchPlan } from './fetch.js';
import { importFile, validateFileImport } from './import.js';

export const fileKind: Kind<FileSpec, FileLock> = {
  name: 'file',
  resolve: resolveFiles,
  fetch: fetchFile,
  fetchPlan: fileFetchPlan,
  importTo: importFile,
  validateImport: validateFileImport,
  references: (entry) => [
    { kind: 'file', upstream: entry.url },
    ...(entry.checksums ? [{ kind: 'file' as const, upstream: entry.checksums.file.url }] : []),
    ...(entry.checksums?.signature ? [{ kind: 'file' as const, upstream: entry.checksums.signature.url }] : []),
  ],
};
