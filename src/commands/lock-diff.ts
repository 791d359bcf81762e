import type { Lock } from '../kinds/schema.js';
import { referenceName } from '../oci/reference.js';

/** One difference between the lock on disk and the one `ferry lock` writes over it. */
export interface LockChange {
  kind: 'image' | 'chart' | 'file' | 'apt';
  change: 'added' | 'removed' | 'updated';
  /** The image repository, the chart (`repo name`), the file name, the APT repository and suite (`name suite`). */
  name: string;
  /** Before and after: `tag@digest` for an image, `version (digest)` for a chart, the sha256 for a file. */
  from?: string;
  to?: string;
  /**
   * An image a chart deploys (`images: discover` or its list): the charts (`name version`) that
   * bring it — the new lock's for an added or updated image, the previous lock's for a removed one.
   * At most CHARTS_LISTED names, then `and N more`.
   * Absent for an image only the manifest's `images:` lists.
   */
  charts?: string[];
  /** A chart that is another chart's dependency (not vendored): the charts (`name version`) that need it. */
  dependencyOf?: string[];
  /** Why a removed artifact is gone: `no longer deployed by cert-manager v1.17.0`, `chart x no longer in the manifest`, `no longer in the manifest`. */
  reason?: string;
}

interface Pinned {
  name: string;
  key: string;
  pin: string;
}

/** The tag of `ref` ('' for a reference by digest alone: its pin is the digest). */
const tagOf = (ref: string, repo: string) => ref.split('@')[0].slice(repo.length + 1);

/**
 * What changed between two locks, as a user upgrading a vendor release reads it (oc-mirror's and
 * Zarf's "what is new"): per image repository, per chart and per file, what was added, removed or
 * moved to another version or digest. Entries that did not change are not listed. Sorted by
 * kind, then name, so the same two locks always give the same list.
 */
/** The fields of a lock this comparison reads (a previous lock may come from another ferry version: all optional). */
interface LockView {
  images?: Array<{ ref: string; digest: string; normalized?: string }>;
  charts?: Array<{ repo: string; name: string; version: string; digest?: string; images?: string[]; dependencyOf?: string[] }>;
  files?: Array<{ name: string; sha256?: string; url: string }>;
  apt?: Array<{ name: string; mode?: string; suites?: Array<{ suite: string; release?: Array<{ sha256: string }>; packages?: Array<{ name: string; version: string }> }> }>;
}

const view = (lock: Lock): LockView => lock as unknown as LockView;

export function lockChanges(before: Lock, after: Lock): LockChange[] {
  const pinsOf = (lock: Lock) => {
    const l = view(lock);
    return {
      image: (l.images ?? []).map((i) => {
        const repo = referenceName(i.ref);
        const tag = tagOf(i.ref, repo);
        return { name: repo, key: i.ref, pin: tag ? `${tag}@${i.digest}` : i.digest };
      }),
      chart: (l.charts ?? []).map((c) => ({ name: `${c.repo} ${c.name}`, key: `${c.repo} ${c.name} ${c.version}`, pin: `${c.version}${c.digest ? ` (${c.digest})` : ''}` })),
      file: (l.files ?? []).map((f) => ({ name: f.name, key: f.name, pin: f.sha256 ?? f.url })),
      // An APT suite by its signed Release (what upstream vouched for) and how many packages it brings.
      apt: (l.apt ?? []).flatMap((r) =>
        (r.suites ?? []).map((su) => {
          const release = (su.release ?? []).map((f) => f.sha256.slice(0, 12)).join(',');
          return { name: `${r.name} ${su.suite}`, key: `${r.name} ${su.suite}`, pin: `${(su.packages ?? []).length} packages (Release ${release || 'none'})` };
        }),
      ),
    };
  };
  const a = pinsOf(before);
  const b = pinsOf(after);
  const out: LockChange[] = [];
  for (const kind of ['image', 'chart', 'file', 'apt'] as const) {
    // Linear in the entries: a previous lock comes from outside (a colleague, a bundle) and may list
    // tens of thousands of images of one repository; no list is copied or searched per entry.
    const byName = (list: Pinned[]) => {
      const m = new Map<string, Pinned[]>();
      for (const p of list) {
        const l = m.get(p.name);
        if (l) l.push(p);
        else m.set(p.name, [p]);
      }
      return m;
    };
    const old = byName(a[kind]);
    const now = byName(b[kind]);
    for (const name of [...new Set([...old.keys(), ...now.keys()])].sort()) {
      const was = old.get(name) ?? [];
      const is = now.get(name) ?? [];
      // The same key (reference, chart version, file name) on both sides first: moved or unchanged.
      // Each key's old entries in order, consumed first to last (as a search from the front would).
      const byKey = new Map<string, { at: number[]; next: number }>();
      was.forEach((w, i) => {
        const k = byKey.get(w.key);
        if (k) k.at.push(i);
        else byKey.set(w.key, { at: [i], next: 0 });
      });
      const wasUsed = new Uint8Array(was.length);
      const isLeft: Pinned[] = [];
      for (const p of is) {
        const k = byKey.get(p.key);
        if (!k || k.next >= k.at.length) {
          isLeft.push(p);
          continue;
        }
        const w = was[k.at[k.next++]];
        wasUsed[k.at[k.next - 1]] = 1;
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
  // Each image a chart brings names that chart: a chart upgrade's image list reads per chart.
  // Linear in the (chart, image) pairs: a crafted previous lock may have thousands of charts
  // deploying one repository's thousands of images; the charts of a repository and a removed
  // image's reason are worked out once per repository, and each lists at most CHARTS_LISTED names.
  const deployers = (lock: Lock) => {
    const m = new Map<string, Set<string>>();
    const l = view(lock);
    for (const c of l.charts ?? [])
      for (const ref of c.images ?? []) {
        const at = m.get(ref) ?? new Set<string>();
        at.add(`${c.name} ${c.version}`);
        m.set(ref, at);
      }
    const byRepo = new Map<string, { charts: Set<string>; from: Set<string> }>();
    for (const i of l.images ?? []) {
      const ref = m.has(i.ref) ? i.ref : i.normalized && m.has(i.normalized) ? i.normalized : undefined;
      if (ref === undefined) continue;
      const repo = referenceName(i.ref);
      const entry = byRepo.get(repo) ?? { charts: new Set<string>(), from: new Set<string>() };
      byRepo.set(repo, entry);
      // Each reference's charts once per repository (not once per image naming it).
      if (entry.from.has(ref)) continue;
      entry.from.add(ref);
      for (const c of m.get(ref)!) entry.charts.add(c);
    }
    return new Map([...byRepo].map(([repo, e]) => [repo, [...e.charts].sort()]));
  };
  const da = deployers(before);
  const db = deployers(after);
  const stillCharted = new Set((view(after).charts ?? []).map((c) => c.name));
  const versionsNow = new Map<string, Set<string>>();
  for (const x of view(after).charts ?? []) versionsNow.set(x.name, (versionsNow.get(x.name) ?? new Set()).add(`${x.name} ${x.version}`));
  const reasons = new Map<string, string>();
  const reasonOf = (repo: string, charts: string[]): string => {
    const known = reasons.get(repo);
    if (known !== undefined) return known;
    // Its chart is still carried at another version: that version no longer deploys it.
    const names = [...new Set(charts.map((n) => n.split(' ')[0]))];
    const newer = [...new Set(names.filter((n) => stillCharted.has(n)).flatMap((n) => [...versionsNow.get(n)!]))].sort();
    const gone = names.filter((n) => !stillCharted.has(n));
    const reason = [newer.length ? `no longer deployed by ${capped(newer).join(', ')}` : '', gone.length ? `chart ${capped(gone).join(', ')} no longer in the manifest` : ''].filter(Boolean).join('; ');
    reasons.set(repo, reason);
    return reason;
  };
  for (const c of out) {
    if (c.kind !== 'image') continue;
    const charts = (c.change === 'removed' ? da : db).get(c.name);
    if (charts?.length) c.charts = capped(charts);
    if (c.change !== 'removed') continue;
    c.reason = charts?.length ? reasonOf(c.name, charts) : 'no longer in the manifest';
  }
  // Per lock, once: what needs each chart (`repo name`). A previous lock may list tens of
  // thousands of charts; searched per change, that was quadratic (minutes for a 4 MB lock).
  const neededBy = (lock: Lock) => {
    const m = new Map<string, Set<string>>();
    for (const x of view(lock).charts ?? []) {
      const key = `${x.repo} ${x.name}`;
      const set = m.get(key) ?? new Set<string>();
      for (const d of x.dependencyOf ?? []) set.add(d);
      m.set(key, set);
    }
    return m;
  };
  const na = neededBy(before);
  const nb = neededBy(after);
  for (const c of out) {
    if (c.kind !== 'chart') continue;
    const deps = [...((c.change === 'removed' ? na : nb).get(c.name) ?? [])].sort();
    if (deps.length) c.dependencyOf = deps;
  }
  // Whether the chart (`repo name`) entered the previous lock only as another chart's dependency.
  const wasDependency = (name: string) => Boolean(na.get(name)?.size);
  for (const c of out) if (c.kind !== 'image' && c.change === 'removed') c.reason = c.kind === 'chart' && wasDependency(c.name) ? 'no longer a dependency of a carried chart' : 'no longer in the manifest';
  // A filtered APT suite names the packages that moved (a whole mirror's would be thousands).
  const filtered = (lock: Lock) => {
    const m = new Map<string, Array<{ name: string; version: string }>>();
    const l = view(lock);
    for (const r of l.apt ?? []) if (r.mode === 'filtered') for (const su of r.suites ?? []) m.set(`${r.name} ${su.suite}`, su.packages ?? []);
    return m;
  };
  const fa = filtered(before);
  const fb = filtered(after);
  for (const c of out) {
    const was = fa.get(c.name);
    const is = fb.get(c.name);
    if (c.kind !== 'apt' || c.change !== 'updated' || !was || !is) continue;
    const moves = aptPackageMoves(was, is);
    if (moves) c.to += `: ${moves}`;
  }
  return out;
}

/** The most chart names one change lists (a crafted lock may name thousands for one image). */
export const CHARTS_LISTED = 20;

/** `names`, or its first CHARTS_LISTED and `and N more`. */
function capped(names: string[]): string[] {
  return names.length > CHARTS_LISTED ? [...names.slice(0, CHARTS_LISTED), `and ${names.length - CHARTS_LISTED} more`] : names;
}

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
