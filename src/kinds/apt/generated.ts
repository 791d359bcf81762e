import { createHash } from 'node:crypto';
import type { BlobStore } from '../../store/blob-store.js';
import type { AptFile, AptPackageLock } from './lock.js';
import { poolPathOf, readPackages } from './repo.js';

/**
 * A filtered suite's Packages for one upstream index: the upstream stanzas, verbatim, of the
 * packages kept (matched by pool path and SHA256), sorted by package, version and architecture.
 * Made by `ferry lock` (which pins its digest) and again by `bundle create` (which must make the
 * same bytes): every byte apt at the site is told, Depends and Conflicts included, is then pinned
 * by the lock, not only the fields a stanza check compares.
 */
export async function generatedPackages(packages: readonly Pick<AptPackageLock, 'filename' | 'sha256'>[], index: AptFile, store: BlobStore): Promise<{ path: string; bytes: Buffer }> {
  const keepByFile = new Map(packages.map((p) => [p.filename, p.sha256]));
  const stanzas: Array<{ key: string; raw: string }> = [];
  for await (const st of readPackages(store, index, true)) {
    const file = st.fields.get('filename');
    if (file && keepByFile.get(poolPathOf(file)) === st.fields.get('sha256')?.toLowerCase()) {
      stanzas.push({ key: `${st.fields.get('package')}\u0000${st.fields.get('version')}\u0000${st.fields.get('architecture')}`, raw: st.raw! });
    }
  }
  stanzas.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const text = stanzas.map((x) => x.raw + '\n').join('\n');
  return { path: generatedPath(index.path), bytes: Buffer.from(text, 'utf8') };
}

/** Where the generated Packages of an upstream index is published (and its layer's title). */
export function generatedPath(indexPath: string): string {
  return indexPath.replace(/\.(gz|xz)$/, '');
}

/** The generated Packages of each upstream index, as the lock pins them. */
export async function generatedFiles(packages: readonly Pick<AptPackageLock, 'filename' | 'sha256'>[], indexes: readonly AptFile[], store: BlobStore): Promise<AptFile[]> {
  const out: AptFile[] = [];
  for (const index of indexes) {
    const gen = await generatedPackages(packages, index, store);
    out.push({ path: gen.path, sha256: createHash('sha256').update(gen.bytes).digest('hex'), size: gen.bytes.length });
  }
  return out;
}
