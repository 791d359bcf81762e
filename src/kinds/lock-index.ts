import type { OciDescriptor } from '../oci/media-types.js';
import { ANNOTATION } from '../store/source.js';

// What each kind's `unlockedTop` shares (a module of its own: lock-tops.ts reads the kinds' list).

export const clipName = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…` : s);

/** Lock entries of one name an index.json entry is compared with, at most (lockedByRefName). */
export const MAX_SAME_NAME = 64;

/**
 * A lock list indexed once per list by a key each entry gives (`keyOf`: undefined for an entry
 * without one), so checking N entries of index.json against N lock entries is N lookups, not
 * N scans. The entries are as parsed, not yet checked against their schema: `keyOf` reads
 * only fields of the types it needs.
 */
export function lockIndex(keyOf: (entry: Record<string, unknown>) => string | undefined): (entries: readonly unknown[]) => Map<string, Array<Record<string, unknown>>> {
  const cache = new WeakMap<readonly unknown[], Map<string, Array<Record<string, unknown>>>>();
  return (entries) => {
    let index = cache.get(entries);
    if (index) return index;
    index = new Map();
    for (const e of entries) {
      if (typeof e !== 'object' || e === null || Array.isArray(e)) continue;
      let key: string | undefined;
      try {
        key = keyOf(e as Record<string, unknown>);
      } catch {
        continue; // a field no place can be made of: that entry pins nothing
      }
      if (key === undefined) continue;
      const list = index.get(key);
      if (list) list.push(e as Record<string, unknown>);
      else index.set(key, [e as Record<string, unknown>]);
    }
    cache.set(entries, index);
    return index;
  };
}

/**
 * The lock entries of one kind a top-level entry names by its ref.name annotation (`byName`
 * the kind's index), or why there are none. `noun` names the kind in the message.
 */
export function lockedByRefName(top: OciDescriptor, entries: readonly unknown[], byName: (entries: readonly unknown[]) => Map<string, Array<Record<string, unknown>>>, noun: string): { name: string; locked: Array<Record<string, unknown>> } | { why: string } {
  const name = top.annotations?.[ANNOTATION.refName];
  if (typeof name !== 'string') return { why: `${noun} ${top.digest} has no ${ANNOTATION.refName} annotation: the bundle's lock (ferry/lock.json) cannot name it` };
  const locked = byName(entries).get(name);
  if (!locked) return { why: `${noun} ${clipName(name)} (${top.digest}) is not in the bundle's lock (ferry/lock.json lists none of that name): it would be imported without appearing in what is made from the lock (map, rewrite, sbom, report, audit)` };
  // Each entry of that name is compared with the artifact: a crafted lock repeating one name
  // 90 000 times against as many index.json entries would be 8·10^9 comparisons.
  if (locked.length > MAX_SAME_NAME) return { why: `${noun} ${clipName(name)}: the bundle's lock (ferry/lock.json) lists ${locked.length} entries of that name, more than the ${MAX_SAME_NAME} ferry compares; a lock ferry writes has one` };
  return { name, locked };
}

/** What a lock check says when an artifact's manifest or config cannot be read: nothing (its own validation names it). */
export async function readOrSkip<T>(read: () => Promise<T>): Promise<T | undefined> {
  return read().catch(() => undefined);
}
