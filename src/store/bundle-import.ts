import { FerryError } from '../errors.js';
import { loadTarget } from '../manifest/load.js';
import type { MirrorTarget } from '../manifest/target.js';
import { checkCollisions, registryMappingFor } from '../mapping/index.js';
import { createTargetNetContext, type NetOptions } from '../oci/context.js';
import { kindByName } from '../kinds/index.js';
import { DEFAULT_CONCURRENCY, mapLimit } from '../net/concurrency.js';
import type { ImportResult } from '../kinds/types.js';
import type { Progress } from '../ui/progress.js';
import { BundleReader } from './bundle-reader.js';
import { verifyBundle } from './bundle-verify.js';
import { ANNOTATION } from './source.js';

export interface ImportOptions extends NetOptions {
  target: string;
  concurrency?: number;
  progress: Progress;
}

export interface ImportReport {
  bundle: string;
  target: string;
  verified: { files: number; bytes: number };
  results: ImportResult[];
  pushed: number;
  skipped: number;
  bytesSent: number;
}

/**
 * `ferry import`: verify every byte of the bundle first (a damaged bundle is refused before
 * anything is sent), then hand each top-level entry to its kind. Each kind skips what the
 * target already has, so a rerun after an interruption completes without resending.
 */
export async function importBundle(bundle: string, opts: ImportOptions): Promise<ImportReport> {
  const loaded = await loadTarget(opts.target);
  const verifyTask = opts.progress.start('verify', 0);
  const verified = await verifyBundle(bundle, { onProgress: (n) => verifyTask.advance(n) });
  verifyTask.finish(verified.ok ? 'verified' : 'FAILED');
  if (!verified.ok) {
    throw new FerryError('VERIFY', `${bundle}: bundle failed verification; nothing was imported`, {
      details: verified.problems.map((p) => p.message),
      hint: 'Copy the bundle across again (compare `sha256sum` on both sides), or recreate it.',
    });
  }
  const source = await BundleReader.open(bundle);
  const index = await source.readIndex();
  const tops = index.manifests;
  checkTargetTakes(tops.map((d) => d.annotations?.[ANNOTATION.kind] ?? 'image'), loaded.target, loaded.file);
  const imageNames = tops.filter((d) => (d.annotations?.[ANNOTATION.kind] ?? 'image') === 'image').map((d) => d.annotations?.[ANNOTATION.refName]).filter((n): n is string => Boolean(n));
  if (loaded.target.registry) checkCollisions(imageNames, registryMappingFor(loaded.target));

  const net = createTargetNetContext(loaded.target, loaded.dir, opts);
  const results: ImportResult[] = [];
  try {
    const ctx = { source, target: loaded, progress: opts.progress, concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY, registry: net?.registry, mounts: new Map<string, string[]>() };
    const kinds = tops.map((top) => {
      const kindName = top.annotations?.[ANNOTATION.kind] ?? 'image';
      const kind = kindByName(kindName);
      if (!kind) {
        throw new FerryError('VALIDATION', `${bundle}: entry ${top.annotations?.[ANNOTATION.refName] ?? top.digest} has kind ${kindName}, which this ferry cannot import`, {
          hint: 'Use the same or a newer ferry version than the one that created the bundle.',
        });
      }
      return kind;
    });
    // Entries import side by side (each pushes its own blobs, manifests, then tag, in that order).
    const perEntry = await mapLimit(tops, Math.max(1, Math.ceil(ctx.concurrency / 2)), (top, i) => kinds[i].importTo(top, ctx));
    results.push(...perEntry.flat());
  } finally {
    await net?.close();
    await source.close();
  }
  return {
    bundle,
    target: loaded.file,
    verified: { files: verified.files, bytes: verified.bytes },
    results,
    pushed: results.filter((r) => !r.skipped).length,
    skipped: results.filter((r) => r.skipped).length,
    bytesSent: results.reduce((a, r) => a + r.bytesSent, 0),
  };
}

/** What each kind needs in the target; checked for the whole bundle before anything is sent. */
const PLACES: Record<string, { has: (t: MirrorTarget) => boolean; add: string }> = {
  image: { has: (t) => Boolean(t.registry || t.directory), add: 'registry: { url } or directory:' },
  chart: { has: (t) => Boolean(t.registry || t.directory || t.charts), add: 'registry:, directory: or charts: { dir, baseUrl }' },
  file: { has: (t) => Boolean(t.files), add: 'files: { dir, baseUrl }' },
  apt: { has: (t) => Boolean(t.apt), add: 'apt: { dir, baseUrl }' },
};

function checkTargetTakes(kinds: string[], target: MirrorTarget, file: string): void {
  const missing = [...new Set(kinds)].sort().filter((k) => PLACES[k] && !PLACES[k].has(target));
  if (!missing.length) return;
  throw new FerryError('VALIDATION', `${file}: the target has no place for the bundle's ${missing.map((k) => `${k}s`).join(', ')}; nothing was imported`, {
    details: missing.map((k) => `${k}: add ${PLACES[k].add}`),
    hint: 'Add the missing sections to the mirror target (`ferry schema target`).',
  });
}
