import type { KindLockDiff, LockEntriesOf } from '../types.js';
import { compareVersions } from './version.js';

/** The fields of an APT lock entry the lock diff reads (a previous lock may come from another ferry version). */
interface AptLockView {
  name: string;
  mode?: string;
  suites?: Array<{ suite: string; signedBy?: string; release?: Array<{ sha256: string }>; packages?: Array<{ name: string; version: string }> }>;
}

interface SuiteView {
  mode?: string;
  signedBy?: string;
  packages: Array<{ name: string; version: string }>;
}

/** Each suite (`name suite`) with its mode, signer and packages. */
function suites(entries: LockEntriesOf): Map<string, SuiteView> {
  const m = new Map<string, SuiteView>();
  for (const r of entries('apt') as readonly AptLockView[]) for (const su of r.suites ?? []) m.set(`${r.name} ${su.suite}`, { mode: r.mode, signedBy: su.signedBy, packages: su.packages ?? [] });
  return m;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** An APT suite by its signed Release (what upstream vouched for) and how many packages it brings. */
export const aptLockDiff: KindLockDiff = {
  pins: (entries) =>
    (entries as readonly AptLockView[]).flatMap((r) =>
      (r.suites ?? []).map((su) => {
        const release = (su.release ?? []).map((f) => f.sha256.slice(0, 12)).join(',');
        return { name: `${r.name} ${su.suite}`, key: `${r.name} ${su.suite}`, pin: `${plural((su.packages ?? []).length, 'package')} (Release ${release || 'none'})` };
      }),
    ),
  // The packages that moved (a whole mirror's too: what the vendor published, at most 20 named), and
  // for a whole mirror a new signing key, which its clients must get: they keep the vendor's signed-by.
  explain(changes, before, after) {
    const was = suites(before);
    const is = suites(after);
    for (const c of changes) {
      if (c.kind !== 'apt' || c.change !== 'updated') continue;
      const a = was.get(c.name);
      const b = is.get(c.name);
      if (!a || !b) continue;
      const moves = aptPackageMoves(a.packages, b.packages);
      if (moves) c.to += `: ${moves}`;
      if (b.mode === 'whole' && a.signedBy && b.signedBy && a.signedBy !== b.signedBy) {
        c.to += `; now signed by key ${b.signedBy} (was ${a.signedBy}): a whole mirror keeps the vendor's signature, so install the vendor's new key (the keys: file) in the signed-by keyring of every client using it, or apt-get update fails there with NO_PUBKEY`;
      }
    }
  },
};

/**
 * `app 1.0 → 2.0, +libnew 1.0, -libold 1.0`: each package whose versions differ, by name; a name
 * with several versions (a whole mirror keeps the old ones) names those added and removed
 * (`kubeadm +1.30.1`). At most 20, then how many more.
 */
export function aptPackageMoves(was: Array<{ name: string; version: string }>, is: Array<{ name: string; version: string }>, max = 20): string {
  const versions = (list: Array<{ name: string; version: string }>) => {
    const m = new Map<string, Set<string>>();
    for (const p of list) {
      const v = m.get(p.name);
      if (v) v.add(p.version);
      else m.set(p.name, new Set([p.version]));
    }
    return m;
  };
  const sorted = (s: Iterable<string>) => [...s].sort(compareVersions);
  const a = versions(was);
  const b = versions(is);
  const moves: string[] = [];
  for (const name of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const from = a.get(name);
    const to = b.get(name);
    if (!from) moves.push(`+${name} ${sorted(to!).join(' ')}`);
    else if (!to) moves.push(`-${name} ${sorted(from).join(' ')}`);
    else {
      const added = sorted([...to].filter((v) => !from.has(v)));
      const removed = sorted([...from].filter((v) => !to.has(v)));
      if (added.length === 0 && removed.length === 0) continue;
      if (added.length === to.size && removed.length === from.size) moves.push(`${name} ${removed.join(' ')} → ${added.join(' ')}`);
      else moves.push(`${name} ${[...added.map((v) => `+${v}`), ...removed.map((v) => `-${v}`)].join(' ')}`);
    }
  }
  return moves.length > max ? `${moves.slice(0, max).join(', ')} and ${moves.length - max} more` : moves.join(', ');
}
