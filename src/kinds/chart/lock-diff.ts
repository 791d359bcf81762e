import { referenceName } from '../../oci/reference.js';
import type { ImageLockView } from '../image/lock-diff.js';
import type { KindLockDiff, LockEntriesOf } from '../types.js';

/** The fields of a chart lock entry the lock diff reads (a previous lock may come from another ferry version). */
interface ChartLockView {
  repo: string;
  name: string;
  version: string;
  digest?: string;
  images?: string[];
  dependencyOf?: string[];
  provenance?: { signer?: unknown };
}

/** The fingerprint a chart entry's verified provenance records, as a previous lock (read unchecked) may hold it: a string, cut. */
function signerOf(c: ChartLockView): string | undefined {
  const s = c.provenance?.signer;
  return typeof s === 'string' && s ? s.slice(0, 80) : undefined;
}

/** What a chart entry pins: its version, archive digest and, when `keys:` verified it, its provenance signer. */
function chartPin(c: ChartLockView): string {
  const signer = signerOf(c);
  return `${c.version}${c.digest ? ` (${c.digest})` : ''}${signer ? `, provenance signed by ${signer}` : ''}`;
}

/** Per lock, once: each pin's signer (a pin names its signer, so one pin has one). */
function signersByPin(entries: LockEntriesOf): Map<string, string | undefined> {
  return new Map(chartsOf(entries).map((c) => [chartPin(c), signerOf(c)]));
}

/** The most chart names one change lists (a crafted lock may name thousands for one image). */
export const CHARTS_LISTED = 20;

/** `names`, or its first CHARTS_LISTED and `and N more`. */
function capped(names: string[]): string[] {
  return names.length > CHARTS_LISTED ? [...names.slice(0, CHARTS_LISTED), `and ${names.length - CHARTS_LISTED} more`] : names;
}

const chartsOf = (entries: LockEntriesOf) => entries('chart') as readonly ChartLockView[];

/**
 * The charts (`name version`) that deploy each image repository of a lock. Linear in the (chart,
 * image) pairs: a crafted previous lock may have thousands of charts deploying one repository's
 * thousands of images; each reference's charts are counted once per repository.
 */
function deployers(entries: LockEntriesOf): Map<string, string[]> {
  const m = new Map<string, Set<string>>();
  for (const c of chartsOf(entries))
    for (const ref of c.images ?? []) {
      const at = m.get(ref) ?? new Set<string>();
      at.add(`${c.name} ${c.version}`);
      m.set(ref, at);
    }
  const byRepo = new Map<string, { charts: Set<string>; from: Set<string> }>();
  for (const i of entries('image') as readonly ImageLockView[]) {
    const ref = m.has(i.ref) ? i.ref : i.normalized && m.has(i.normalized) ? i.normalized : undefined;
    if (ref === undefined) continue;
    const repo = referenceName(i.ref);
    const entry = byRepo.get(repo) ?? { charts: new Set<string>(), from: new Set<string>() };
    byRepo.set(repo, entry);
    if (entry.from.has(ref)) continue;
    entry.from.add(ref);
    for (const c of m.get(ref)!) entry.charts.add(c);
  }
  return new Map([...byRepo].map(([repo, e]) => [repo, [...e.charts].sort()]));
}

/** Per lock, once: what needs each chart (`repo name`). Searched per change, a lock of tens of thousands of charts was quadratic. */
function neededBy(entries: LockEntriesOf): Map<string, Set<string>> {
  const m = new Map<string, Set<string>>();
  for (const x of chartsOf(entries)) {
    const key = `${x.repo} ${x.name}`;
    const set = m.get(key) ?? new Set<string>();
    for (const d of x.dependencyOf ?? []) set.add(d);
    m.set(key, set);
  }
  return m;
}

/** A chart by `repo name`, its pin the version and archive digest; it names itself on the images it deploys. */
export const chartLockDiff: KindLockDiff = {
  pins: (entries) => (entries as readonly ChartLockView[]).map((c) => ({ name: `${c.repo} ${c.name}`, key: `${c.repo} ${c.name} ${c.version}`, pin: chartPin(c) })),
  explain(changes, before, after) {
    // Each image a chart brings names that chart: a chart upgrade's image list reads per chart.
    const da = deployers(before);
    const db = deployers(after);
    const stillCharted = new Set(chartsOf(after).map((c) => c.name));
    const versionsNow = new Map<string, Set<string>>();
    for (const x of chartsOf(after)) versionsNow.set(x.name, (versionsNow.get(x.name) ?? new Set()).add(`${x.name} ${x.version}`));
    // A removed image's reason, worked out once per repository.
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
    const na = neededBy(before);
    const nb = neededBy(after);
    const sa = signersByPin(before);
    const sb = signersByPin(after);
    for (const c of changes) {
      if (c.kind === 'image') {
        const charts = (c.change === 'removed' ? da : db).get(c.name);
        if (!charts?.length) continue;
        c.charts = capped(charts);
        if (c.change === 'removed') c.reason = reasonOf(c.name, charts);
      } else if (c.kind === 'chart') {
        const deps = [...((c.change === 'removed' ? na : nb).get(c.name) ?? [])].sort();
        if (deps.length) c.dependencyOf = deps;
        // A chart that entered the previous lock only as another chart's dependency.
        if (c.change === 'removed' && na.get(c.name)?.size) c.reason = 'no longer a dependency of a carried chart';
        // Another key signs it now, or nothing verifies it any more: what a reviewer must not miss.
        const was = c.change === 'updated' ? sa.get(c.from!) : undefined;
        const is = c.change === 'updated' ? sb.get(c.to!) : undefined;
        if (was && is && was !== is) c.notes = [`its provenance signer changed: ${was} signed the previous lock's, ${is} signs this one (compare the new fingerprint with the one the vendor publishes before you trust it)`];
        else if (was && !is) c.notes = [`its provenance was verified (signed by ${was}) in the previous lock, and is not now (keys: dropped from the entry)`];
      }
    }
  },
};
