import { FerryError } from '../errors.js';
import type { LoadedManifest } from '../manifest/load.js';
import type { Lock } from '../manifest/lock.js';
import type { OciDescriptor } from '../oci/media-types.js';
import { mapLimit } from '../net/concurrency.js';
import { ANNOTATION } from '../store/source.js';
import type { ImageSpec } from './image/spec.js';
import { withDefaultTag } from './image/resolve.js';
import { formatImageReference, parseImageReference } from '../oci/reference.js';
import { KINDS } from './index.js';
import type { KindContext } from './types.js';

/**
 * Resolve every kind into a lock. Charts go before images so the images a chart deploys
 * (discovered, `images: discover`) join the image list, deduplicated with explicit ones.
 */
export async function lockManifest(loaded: LoadedManifest, ctx: KindContext): Promise<Lock> {
  const m = loaded.manifest;
  const lock: Lock = {
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: m.metadata.name, digest: loaded.digest },
    images: [],
    charts: [],
    files: [],
    apt: [],
  };
  const discovered: ImageSpec[] = [];
  /** discovered image ref → the chart entries that deploy it, for error messages. */
  const discoveredBy = new Map<string, string[]>();
  for (const { field, kind } of KINDS) {
    if (field === 'images') continue;
    const specs = (m[field] ?? []) as unknown[];
    if (!specs.length) continue;
    const entries = (await kind.resolve(specs, ctx)) as Array<Record<string, unknown>>;
    (lock[field] as unknown[]) = entries;
    for (const e of entries) {
      const imgs = e.images;
      if (!Array.isArray(imgs)) continue;
      const chart = `${String(e.name ?? 'chart')}${e.version ? ` ${String(e.version)}` : ''}`;
      for (const ref of imgs) {
        if (typeof ref !== 'string') continue;
        discovered.push({ ref });
        discoveredBy.set(ref, [...(discoveredBy.get(ref) ?? []), chart]);
      }
    }
  }
  const images = KINDS.find((k) => k.field === 'images')!.kind;
  try {
    lock.images = await images.resolve([...m.images, ...discovered], ctx);
  } catch (err) {
    const charts = err instanceof FerryError ? [...discoveredBy].filter(([ref]) => err.message.includes(ref) || err.message.includes(normalizeQuiet(ref))) : [];
    if (!charts.length) throw err;
    const by = [...new Set(charts.flatMap(([, c]) => c))].join(', ');
    const e = err as FerryError;
    throw new FerryError(e.code, `${e.message} (image discovered in chart ${by})`, {
      cause: e,
      details: e.details,
      hint: `${e.hint ? `${e.hint} ` : ''}Set the chart's values so it deploys an image that exists, or give the chart \`images:\` as an explicit list (or \`none\`).`,
    });
  }
  return lock;
}

/** Fetch every locked artifact into the store; returns the bundle's top-level descriptors, sorted. */
export async function fetchLocked(lock: Lock, ctx: KindContext): Promise<OciDescriptor[]> {
  const tops: OciDescriptor[] = [];
  for (const { field, kind } of KINDS) {
    const entries = (lock[field] ?? []) as unknown[];
    const got = await mapLimit(entries, Math.max(1, Math.ceil(ctx.concurrency / 2)), (e) => kind.fetch(e, ctx));
    tops.push(...got.flat());
  }
  // One entry per (kind, name, digest), sorted by the same key so index.json is deterministic.
  const key = (d: OciDescriptor) => `${d.annotations?.[ANNOTATION.kind] ?? ''}\u0000${d.annotations?.[ANNOTATION.refName] ?? ''}\u0000${d.digest}`;
  const unique = new Map(tops.map((d) => [key(d), d]));
  return [...unique.keys()].sort().map((k) => unique.get(k)!);
}

export function lockMatches(lock: Lock | undefined, loaded: LoadedManifest): lock is Lock {
  return Boolean(lock && lock.manifest.digest === loaded.digest && lock.manifest.name === loaded.manifest.metadata.name);
}

export function frozenMismatch(lockPath: string, exists: boolean): FerryError {
  return new FerryError('CONFLICT', `${lockPath}: ${exists ? 'the lock does not match the manifest' : 'no lock file'} and --frozen forbids re-resolving`, {
    hint: 'Run `ferry lock <manifest>` on the connected host and commit the lock.',
  });
}

function normalizeQuiet(ref: string): string {
  try {
    return formatImageReference(withDefaultTag(parseImageReference(ref)));
  } catch {
    return ref;
  }
}
