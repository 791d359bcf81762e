import { FerryError } from '../errors.js';
import type { OciDescriptor } from '../oci/media-types.js';
import { normalizeImageReference } from '../oci/reference.js';
import { mapLimit } from '../net/concurrency.js';
import { ANNOTATION } from '../store/source.js';
import { combineFailures, failuresOf, ResolveFailures, type ResolveFailure } from './failures.js';
import { ALL_KINDS } from './index.js';
import { lockEntries, type LoadedManifest, type Lock } from './schema.js';
import type { AnyKind, KindContext } from './types.js';

/** A spec another kind contributed (a chart's discovered image), with every origin that named it. */
interface Contributed {
  spec: unknown;
  /** `chart podinfo 6.5.0` for every entry that contributes it. */
  origins: string[];
}

const specsOf = (m: LoadedManifest['manifest'], kind: AnyKind): unknown[] => ((m as unknown as Record<string, unknown[] | undefined>)[kind.field] ?? []) as unknown[];
const keyOf = (kind: AnyKind, spec: unknown): string => (kind.specKey ? kind.specKey(spec) : JSON.stringify(spec));

/**
 * Resolve every kind into a lock. Kinds that contribute to another resolve first, so what they
 * contribute (a chart's discovered images, `images: discover`) joins that kind's list,
 * deduplicated with the manifest's own entries and with its origin named. Every artifact is
 * tried: what cannot be resolved is collected and reported together at the end (one
 * FerryError, one detail per artifact with its hint), never one per run.
 */
export async function lockManifest(loaded: LoadedManifest, kindCtx: KindContext): Promise<Lock> {
  const m = loaded.manifest;
  const ctx: KindContext = { ...kindCtx, listedImages: (m.images ?? []).map((i) => normalizeImageReference(i.ref)), ...(m.platforms ? { defaultPlatforms: m.platforms } : {}) };
  const lock = {
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: m.metadata.name, digest: loaded.digest },
    ...Object.fromEntries(ALL_KINDS.filter((k) => k.lockSchema).map((k) => [k.field, []])),
  } as unknown as Lock;
  const entriesOf = lock as unknown as Record<string, unknown[]>;
  // How many artifacts `lock` resolves before contributions add theirs.
  const phase = ctx.progress.phase('resolve', { items: ALL_KINDS.reduce((n, k) => n + (k.resolveItems ? k.resolveItems(specsOf(m, k)) : specsOf(m, k).length), 0) });
  const failures = new Map<string, ResolveFailure[]>();
  // Receiving kind name → spec key → contributed spec.
  const contributed = new Map<string, Map<string, Contributed>>();
  const explicit = new Map<string, Set<string>>();
  const receivers = new Set(ALL_KINDS.flatMap((k) => (k.contributes ? [k.contributes.to] : [])));
  const contribute = (from: AnyKind, entries: unknown[]) => {
    if (!from.contributes) return;
    const to = ALL_KINDS.find((k) => k.name === from.contributes!.to)!;
    const known = contributed.get(to.name) ?? new Map<string, Contributed>();
    contributed.set(to.name, known);
    const own = explicit.get(to.name) ?? new Set(specsOf(m, to).map((s) => keyOf(to, s)));
    explicit.set(to.name, own);
    for (const entry of entries) {
      const { origin, specs } = from.contributes.from(entry);
      for (const spec of specs) {
        const key = keyOf(to, spec);
        const seen = known.get(key);
        if (seen) {
          seen.origins.push(origin);
          if (to.mergeSpecs) seen.spec = to.mergeSpecs(seen.spec, spec);
        } else {
          known.set(key, { spec, origins: [origin] });
          if (!own.has(key)) phase.grow(1);
        }
      }
    }
  };
  const resolveKind = async (kind: AnyKind) => {
    if (!kind.lockSchema) return;
    const extra = [...(contributed.get(kind.name)?.values() ?? [])];
    const specs = [...specsOf(m, kind), ...extra.map((c) => c.spec)];
    if (!specs.length) return;
    try {
      const entries = await kind.resolve(specs, ctx);
      entriesOf[kind.field] = entries;
      contribute(kind, entries);
    } catch (err) {
      const listed = failuresOf(err, kind.field).map((f) => {
        const origins = f.subject !== undefined ? contributed.get(kind.name)?.get(keyOf(kind, f.subject))?.origins : undefined;
        return origins ? { ...f, origins } : f;
      });
      failures.set(kind.field, listed);
      if (err instanceof ResolveFailures) contribute(kind, err.resolved);
    }
  };
  for (const kind of ALL_KINDS) if (!receivers.has(kind.name)) await resolveKind(kind);
  for (const kind of ALL_KINDS) if (receivers.has(kind.name)) await resolveKind(kind);
  phase.end();
  // Listed in the order of KINDS (images, charts, files, apt), manifest order within a kind.
  const all = ALL_KINDS.flatMap(({ field }) => failures.get(field) ?? []);
  if (all.length) throw combineFailures(all);
  return lock;
}

/** Fetch every locked artifact into the store; returns the bundle's top-level descriptors, sorted. */
export async function fetchLocked(lock: Lock, ctx: KindContext): Promise<OciDescriptor[]> {
  // Every artifact and byte is counted before the first one starts.
  const plans = ALL_KINDS.flatMap((kind) => lockEntries(lock, kind.field).map((e) => kind.fetchPlan(e)));
  const phase = ctx.progress.phase('fetch', { items: plans.length, bytes: plans.reduce((n, p) => n + p.bytes, 0) });
  const tops: OciDescriptor[] = [];
  for (const kind of ALL_KINDS) {
    const entries = lockEntries(lock, kind.field);
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
