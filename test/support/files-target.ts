import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CraftedBundle } from './craft-bundle.js';

/** A project under `work/<name>` whose target has only `files: { dir: ./files }`. */
export async function filesOnlyTarget(work: string, name: string): Promise<{ file: string; filesDir: string }> {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'target.yaml');
  await writeFile(file, ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'files: { dir: ./files, baseUrl: https://files.site.internal }', ''].join('\n'));
  return { file, filesDir: path.join(dir, 'files') };
}

/**
 * `b` with the source URL of the file artifact fetched from `from` changed to `to`, in its
 * manifest and in the lock (import and serve refuse an artifact the lock does not pin).
 */
export function movedFileUrl(b: CraftedBundle, from: string, to: string): CraftedBundle {
  b.editArtifact(
    (d) => d.annotations?.['io.ferry.source'] === from,
    ({ manifest }) => {
      const layer = manifest.layers.find((l) => l.annotations?.['io.ferry.role'] === 'file')!;
      layer.annotations!['io.ferry.source'] = to;
    },
  );
  const lock = b.getJson<{ files: Array<{ url: string }> }>('ferry/lock.json');
  for (const f of lock.files) if (f.url === from) f.url = to;
  b.setJson('ferry/lock.json', lock);
  return b;
}
