import { ALL_KINDS } from '../kinds/index.js';
import type { Lock } from '../kinds/schema.js';
import type { LockChange, LockEntriesOf, LockPin } from '../kinds/types.js';

export type { LockChange } from '../kinds/types.js';
export { aptPackageMoves } from '../kinds/apt/lock-diff.js';
export { CHARTS_LISTED } from '../kinds/chart/lock-diff.js';

/** A lock's entries of a kind by its name, from the kind's field (absent or not a list: none). */
function entriesOf(lock: Lock): LockEntriesOf {
  const fields = lock as unknown as Record<string, unknown>;
  return (kind) => {
    const list = fields[ALL_KINDS.find((k) => k.name === kind)?.field ?? ''];
    return Array.isArray(list) ? list : [];
  };
}

/** Pins grouped by name, in order. */
function byName(list: LockPin[]): Map<string, LockPin[]> {
  const m = new Map<string, LockPin[]>();
  for (const p of list) {
    const l = m.get(p.name);
    if (l) l.push(p);
    else m.set(p.name, [p]);
  }
  return m;
}

/**
 * What changed between two locks, as a user upgrading a vendor release reads it (oc-mirror's and
 * Zarf's "what is new"): per kind, what each kind pins by name (an image repository, a chart, a
 * file, an APT suite: the kind's `lockDiff` hook), added, removed or moved to another version or
 * digest; then each kind explains its changes (a chart names itself on the images it deploys).
 * Entries that did not change are not listed. Sorted by kind (KINDS order), then name, so the same
 * two locks always give the same list.
 */
export function lockChanges(before: Lock, after: Lock): LockChange[] {
  const a = entriesOf(before);
  const b = entriesOf(after);
  const out: LockChange[] = [];
  for (const k of ALL_KINDS) {
    if (!k.lockDiff) continue;
    const kind = k.name;
    // Linear in the entries: a previous lock comes from outside (a colleague, a bundle) and may list
    // tens of thousands of images of one repository; no list is copied or searched per entry.
    const old = byName(k.lockDiff.pins(a(kind)));
    const now = byName(k.lockDiff.pins(b(kind)));
    for (const name of [...new Set([...old.keys(), ...now.keys()])].sort()) {
      const was = old.get(name) ?? [];
      const is = now.get(name) ?? [];
      // The same key (reference, chart version, file name) on both sides first: moved or unchanged.
      // Each key's old entries in order, consumed first to last (as a search from the front would).
      const byKey = new Map<string, { at: number[]; next: number }>();
      was.forEach((w, i) => {
        const x = byKey.get(w.key);
        if (x) x.at.push(i);
        else byKey.set(w.key, { at: [i], next: 0 });
      });
      const wasUsed = new Uint8Array(was.length);
      const isLeft: LockPin[] = [];
      for (const p of is) {
        const x = byKey.get(p.key);
        if (!x || x.next >= x.at.length) {
          isLeft.push(p);
          continue;
        }
        const w = was[x.at[x.next++]];
        wasUsed[x.at[x.next - 1]] = 1;
        if (w.pin !== p.pin) out.push({ kind, change: 'updated', name, from: w.pin, to: p.pin });
      }
      const wasLeft = was.filter((_, i) => !wasUsed[i]);
      // Then one old and one new of the same repository or chart: a new version of it.
      const paired = Math.min(wasLeft.length, isLeft.length);
      for (let i = 0; i < paired; i++) out.push({ kind, change: 'updated', name, from: wasLeft[i].pin, to: isLeft[i].pin });
      for (const p of isLeft.slice(paired)) out.push({ kind, change: 'added', name, to: p.pin });
      for (const w of wasLeft.slice(paired)) out.push({ kind, change: 'removed', name, from: w.pin });
    }
  }
  for (const k of ALL_KINDS) k.lockDiff?.explain?.(out, a, b);
  for (const c of out) if (c.change === 'removed' && !c.reason) c.reason = 'no longer in the manifest';
  return out;
}
