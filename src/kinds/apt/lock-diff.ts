import type { KindLockDiff, LockEntriesOf } from '../types.js';

/** The fields of an APT lock entry the lock diff reads (a previous lock may come from another ferry version). */
interface AptLockView {
  name: string;
  mode?: string;
  suites?: Array<{ suite: string; release?: Array<{ sha256: string }>; packages?: Array<{ name: string; version: string }> }>;
}

/** The packages of each filtered suite (`name suite`): a whole mirror's would be thousands. */
function filtered(entries: LockEntriesOf): Map<string, Array<{ name: string; version: string }>> {
  const m = new Map<string, Array<{ name: string; version: string }>>();
  for (const r of entries('apt') as readonly AptLockView[]) if (r.mode === 'filtered') for (const su of r.suites ?? []) m.set(`${r.name} ${su.suite}`, su.packages ?? []);
  return m;
}

/** An APT suite by its signed Release (what upstream vouched for) and how many packages it brings. */
export const aptLockDiff: KindLockDiff = {
  pins: (entries) =>
    (entries as readonly AptLockView[]).flatMap((r) =>
      (r.suites ?? []).map((su) => {
        const release = (su.release ?? []).map((f) => f.sha256.slice(0, 12)).join(',');
        return { name: `${r.name} ${su.suite}`, key: `${r.name} ${su.suite}`, pin: `${(su.packages ?? []).length} packages (Release ${release || 'none'})` };
      }),
    ),
  // A filtered suite names the packages that moved.
  explain(changes, before, after) {
    const fa = filtered(before);
    const fb = filtered(after);
    for (const c of changes) {
      const was = fa.get(c.name);
      const is = fb.get(c.name);
      if (c.kind !== 'apt' || c.change !== 'updated' || !was || !is) continue;
      const moves = aptPackageMoves(was, is);
      if (moves) c.to += `: ${moves}`;
    }
  },
};

/** `app 1.0 → 2.0, +libnew 1.0, -libold 1.0`: each package whose versions differ, by name; at most 20, then how many more. */
export function aptPackageMoves(was: Array<{ name: string; version: string }>, is: Array<{ name: string; version: string }>, max = 20): string {
  const versions = (list: Array<{ name: string; version: string }>) => {
    const m = new Map<string, Set<string>>();
    for (const p of list) {
      const v = m.get(p.name);
      if (v) v.add(p.version);
      else m.set(p.name, new Set([p.version]));
    }
    return new Map([...m].map(([k, v]) => [k, [...v].sort().join(' ')]));
  };
  const a = versions(was);
  const b = versions(is);
  const moves: string[] = [];
  for (const name of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const from = a.get(name);
    const to = b.get(name);
    if (from === to) continue;
    moves.push(from === undefined ? `+${name} ${to}` : to === undefined ? `-${name} ${from}` : `${name} ${from} → ${to}`);
  }
  return moves.length > max ? `${moves.slice(0, max).join(', ')} and ${moves.length - max} more` : moves.join(', ');
}
