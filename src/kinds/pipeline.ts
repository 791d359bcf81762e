import { FerryError } from '../errors.js';
import type { LoadedManifest } from '../manifest/load.js';
import type { Lock } from '../manifest/lock.js';
import type { OciDescriptor } from '../oci/media-types.js';
import { mapLimit } from '../net/concurrency.js';
import { ANNOTATION } from '../store/source.js';
import type { ImageSpec } from './image/spec.js';
import { imageKey } from './image/resolve.js';
import { combineFailures, failuresOf, ResolveFailures, type ResolveFailure } from './failures.js';
import { KINDS } from './index.js';
import type { KindContext } from './types.js';

/** An image a chart deploys, with the charts it came from (typed; never recovered from an error text). */
interface DiscoveredImage {
  spec: ImageSpec;
  /** `chart podinfo 6.5.0` for every chart entry that deploys it. */
  origins: string[];
}

function keyOf(spec: ImageSpec): string {
  try {
    return imageKey(spec);
  } catch {
    return spec.ref;
  }
}

/** How many artifacts `lock` resolves before charts add their images: one per image, chart, file, APT suite. */
function resolveCount(m: LoadedManifest['manifest']): number {
  const images = new Set(m.images.map(keyOf)).size;
  const files = new Set((m.files ?? []).map((f) => f.name)).size;
  const suites = (m.apt ?? []).reduce((n, a) => n + a.suites.length, 0);
  return images + (m.charts ?? []).length + files + suites;
}

/**
 * Resolve every kind into a lock. Charts go before images so the images a chart deploys
 * (discovered, `images: discover`) join the image list, deduplicated with explicit ones.
 * Every artifact is tried: what cannot be resolved is collected and reported together at
 * the end (one FerryError, one detail per artifact with its hint), never one per run.
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
  const phase = ctx.progress.phase('resolve', { items: resolveCount(m) });
  const failures = new Map<string, ResolveFailure[]>();
  const discovered = new Map<string, DiscoveredImage>();
  const explicit = new Set(m.images.map(keyOf));
  const collect = (entries: unknown[]) => {
    for (const e of entries as Array<Record<string, unknown>>) {
      if (!Array.isArray(e.images)) continue;
      const chart = `chart ${String(e.name ?? '?')}${e.version ? ` ${String(e.version)}` : ''}`;
      for (const ref of e.images) {
        if (typeof ref !== 'string') continue;
        const spec: ImageSpec = { ref };
        const key = keyOf(spec);
        const known = discovered.get(key);
        if (known) known.origins.push(chart);
        else {
          discovered.set(key, { spec, origins: [chart] });
          if (!explicit.has(key)) phase.grow(1);
        }
      }
    }
  };
  for (const { field, kind } of KINDS) {
    if (field === 'images') continue;
    const specs = (m[field] ?? []) as unknown[];
    if (!specs.length) continue;
    try {
      const entries = (await kind.resolve(specs, ctx)) as unknown[];
      (lock[field] as unknown[]) = entries;
      collect(entries);
    } catch (err) {
      failures.set(field, failuresOf(err, field));
      if (err instanceof ResolveFailures) collect(err.resolved);
    }
  }
  const images = KINDS.find((k) => k.field === 'images')!.kind;
  try {
    lock.images = await images.resolve([...m.images, ...[...discovered.values()].map((d) => d.spec)], ctx);
  } catch (err) {
    failures.set(
      'images',
      failuresOf(err, 'images').map((f) => {
        const origins = f.subject ? discovered.get(keyOf(f.subject as ImageSpec))?.origins : undefined;
        return origins ? { ...f, origins } : f;
      }),
    );
  }
  phase.end();
  // Listed in the order of KINDS (images, charts, files, apt), manifest order within a kind.
  const all = KINDS.flatMap(({ field }) => failures.get(field) ?? []);
  if (all.length) throw combineFailures(all);
  return lock;
}

/** Fetch every locked artifact into the store; returns the bundle's top-level descriptors, sorted. */
export async function fetchLocked(lock: Lock, ctx: KindContext): Promise<OciDescriptor[]> {
  // Every artifact and byte is counted before the first one starts.
  const plans = KINDS.flatMap(({ field, kind }) => ((lock[field] ?? []) as unknown[]).map((e) => kind.fetchPlan(e)));
  const phase = ctx.progress.phase('fetch', { items: plans.length, bytes: plans.reduce((n, p) => n + p.bytes, 0) });
  const tops: OciDescriptor[] = [];
  for (const { field, kind } of KINDS) {
    const entries = (lock[field] ?? []) as unknown[];
    const got = await mapLimit(entries, Math.max(1, Math.ceil(ctx.concurrency / 2)), (e) => kind.fetch(e, ctx));
    tops.push(...got.flat());
  }
  phase.end();
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
