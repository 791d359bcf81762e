import { byCodePoint } from './artifact.js';
import type { Kind } from '../types.js';
import { FerryError } from '../../errors.js';
import { mapLimit } from '../../net/concurrency.js';
import type { FileSpec } from './spec.js';
import type { FileLock } from './lock.js';
import { resolveFile } from './resolve.js';
import { fetchFile } from './fetch.js';
import { importFile, validateFileImport } from './import.js';

export const fileKind: Kind<FileSpec, FileLock> = {
  name: 'file',
  async resolve(specs, ctx) {
    const byName = new Map<string, string>();
    const problems: string[] = [];
    for (const s of specs) {
      const prev = byName.get(s.name);
      if (prev !== undefined && prev !== s.url) problems.push(`files: name ${s.name} is used for ${prev} and ${s.url}`);
      else byName.set(s.name, s.url);
    }
    if (problems.length) throw new FerryError('VALIDATION', `${problems.length} duplicate file name${problems.length === 1 ? '' : 's'}`, { details: problems, hint: 'Give each file a unique name (use <var> placeholders in name: when a list var multiplies the entry).' });
    const cache = new Map();
    const unique = specs.filter((s, i) => specs.findIndex((o) => o.name === s.name) === i);
    const entries = await mapLimit(unique, ctx.concurrency, (s) => resolveFile(s, ctx, cache));
    return entries.sort((a, b) => byCodePoint(a.name, b.name) || byCodePoint(a.url, b.url));
  },
  fetch: fetchFile,
  importTo: importFile,
  validateImport: validateFileImport,
  references: (entry) => [
    { kind: 'file', upstream: entry.url },
    ...(entry.checksums ? [{ kind: 'file' as const, upstream: entry.checksums.file.url }] : []),
    ...(entry.checksums?.signature ? [{ kind: 'file' as const, upstream: entry.checksums.signature.url }] : []),
  ],
};
