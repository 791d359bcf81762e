import { FerryError } from '../../errors.js';
import { compareVersions as compareVersionsOf, satisfiesVersion as satisfiesVersionOf, type Relation } from './version.js';

export interface DepAlternative {
  name: string;
  /** `:any`, `:native` or an explicit architecture qualifier. */
  arch?: string;
  op?: Relation;
  version?: string;
}

/** One comma-separated group: any alternative satisfies it. */
export type DepGroup = DepAlternative[];

// No two `\s*` side by side (each optional part eats its own trailing space): a run of spaces then a stray byte must not backtrack cubically.
const ALT = /^([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|=|>=|>>|<|>)\s*([^)\s]+)\s*\)\s*)?(?:\[[^\]]*\]\s*)?(?:<[^>]*>\s*)*$/i;

/** Parse a Depends/Pre-Depends/Provides value. Unparseable alternatives are kept by name only. */
export function parseRelations(value: string | undefined): DepGroup[] {
  if (!value) return [];
  const groups: DepGroup[] = [];
  for (const group of value.replace(/\n/g, ' ').split(',')) {
    const alts: DepAlternative[] = [];
    for (const raw of group.split('|')) {
      const s = raw.trim();
      if (!s) continue;
      const m = ALT.exec(s);
      if (!m) {
        alts.push({ name: s.split(/[\s(:[]/)[0].toLowerCase() });
        continue;
      }
      let op = m[3] as string | undefined;
      if (op === '<') op = '<=';
      if (op === '>') op = '>=';
      alts.push({ name: m[1].toLowerCase(), ...(m[2] ? { arch: m[2] } : {}), ...(op ? { op: op as Relation, version: m[4] } : {}) });
    }
    if (alts.length) groups.push(alts);
  }
  return groups;
}

export function formatAlternative(a: DepAlternative): string {
  return `${a.name}${a.arch ? `:${a.arch}` : ''}${a.op ? ` (${a.op} ${a.version})` : ''}`;
}

export function formatGroup(g: DepGroup): string {
  return g.map(formatAlternative).join(' | ');
}

/** A binary package as the closure sees it. */
export interface AptPackage {
  /** Which repository source (spec + suite) lists it. */
  source: number;
  name: string;
  version: string;
  architecture: string;
  multiArch?: string;
  provides: DepAlternative[];
  /** Pre-Depends then Depends, parsed; or left as text until the closure visits the package. */
  depends?: DepGroup[];
  dependsText?: string;
  /** Breaks then Conflicts, parsed; or left as text until the closure visits the package. */
  breaks?: DepGroup[];
  breaksText?: string;
  /** Ubuntu's Phased-Update-Percentage when below 100: hosts outside the phase keep to an older version. */
  phased?: number;
  filename: string;
  sha256: string;
  size: number;
}

export interface SourceInfo {
  /** Whole mirrors already carry every package; filtered ones get what the closure adds. */
  whole: boolean;
  /** Suite family (`jammy` for jammy-updates, jammy-pgdg): dependencies prefer their own family. */
  family: string;
  label: string;
}

export function suiteFamily(suite: string): string {
  return suite.split(/[-/]/)[0].toLowerCase();
}

export interface ClosureRequest {
  source: number;
  names: string[];
  architectures: string[];
}

export interface ClosureResult {
  /** Packages each filtered source must carry. */
  selected: Map<number, Set<AptPackage>>;
  /** Human-readable: which dependency of which package nothing listed satisfies. */
  unsatisfied: Map<number, string[]>;
  /** Requested names found nowhere. */
  missing: Map<number, string[]>;
  /**
   * Packages carried because something in the closure Breaks (or Conflicts with) an older version
   * of them that the suite family lists: `libfoo 2 (for app 2 Breaks: libfoo (<< 2))`.
   */
  upgrades: Map<number, string[]>;
  /**
   * Older versions carried beside a phased one (Ubuntu's `Phased-Update-Percentage` below 100):
   * apt on a host outside the phase pins the phased version to 1 and takes the newest version
   * that is not phased (a -security fix), so that one must be on the mirror too.
   */
  phased: Map<number, string[]>;
}

/**
 * The dependency closure over Depends and Pre-Depends across every listed repository: for each
 * group the first alternative that something satisfies (apt's choice), a real package before a
 * provider, its suite family first, then the highest version (apt's candidate, whichever suite
 * of the family has it), then the dependent's own repository. Architecture `all` and `Multi-Arch: foreign` packages satisfy any architecture;
 * `:any` accepts `Multi-Arch: allowed`.
 *
 * Breaks and Conflicts with a version: a client that installed an older version from the same
 * suite family (the release, then -updates, -security, or last month's vendor version still
 * listed) must upgrade it before apt installs the package that breaks it, so the closure carries
 * the newest version of the family that the relation does not break, with its own closure. Bounded:
 * only when the family lists both a broken version (one a client can have from this family) and
 * a newer one that is not; a Breaks against versions the family never shipped (libc6's against
 * old games and tools) adds nothing, and an unversioned one means removal (nothing to carry).
 */
/**
 * The closure's bound on work (candidates scanned plus characters of versions compared): a real
 * package set needs a small fraction of it (a name has a handful of versions, a relation names
 * it a few times); a few seconds of comparisons at most.
 */
export const CLOSURE_WORK_LIMIT = 100_000_000;

export function computeClosure(packages: AptPackage[], sources: SourceInfo[], requests: ClosureRequest[], maxWork = CLOSURE_WORK_LIMIT): ClosureResult {
  // Each relation scans every version of the name it names: a crafted index (thousands of
  // versions of one name, a package whose Depends or Breaks names it thousands of times, versions
  // kilobytes long) would make that quadratic. The work is counted (candidates scanned, characters
  // compared) and bounded, named at the package whose relations ran over.
  let work = 0;
  let at = 'the requested packages';
  const spend = (n: number) => {
    work += n;
    if (work > maxWork) {
      throw new FerryError('VERIFY', `APT dependency closure: ${at} needs more than ${maxWork} steps of version comparison; refusing the indexes (crafted?)`, {
        hint: 'No real package set needs this much: some index lists a name with a huge number of versions, relations naming it thousands of times, or versions thousands of characters long. Report it to the repository operator, or leave that repository out.',
      });
    }
  };
  const compareVersions = (a: string, b: string): number => {
    spend(a.length + b.length);
    return compareVersionsOf(a, b);
  };
  const satisfiesVersion = (v: string, op: Relation, wanted: string): boolean => {
    spend(v.length + wanted.length);
    return satisfiesVersionOf(v, op, wanted);
  };
  const versionsOf = (name: string): AptPackage[] => {
    const list = byName.get(name) ?? [];
    spend(list.length);
    return list;
  };
  const byName = new Map<string, AptPackage[]>();
  const byProvides = new Map<string, Array<{ pkg: AptPackage; version?: string }>>();
  for (const p of packages) {
    let list = byName.get(p.name);
    if (!list) byName.set(p.name, (list = []));
    list.push(p);
    for (const pr of p.provides) {
      let pl = byProvides.get(pr.name);
      if (!pl) byProvides.set(pr.name, (pl = []));
      pl.push({ pkg: p, version: pr.op === '=' ? pr.version : undefined });
    }
  }

  const archOk = (cand: AptPackage, want: string, alt: DepAlternative): boolean => {
    if (alt.arch && alt.arch !== 'any' && alt.arch !== 'native') return cand.architecture === alt.arch;
    if (cand.architecture === want || cand.architecture === 'all') return true;
    if (cand.multiArch === 'foreign') return true;
    return alt.arch === 'any' && cand.multiArch === 'allowed';
  };

  const family = (from: AptPackage | undefined, fromSource: number, cand: AptPackage): number => (sources[cand.source].family === sources[from?.source ?? fromSource].family ? 0 : 1);
  const arch = (cand: AptPackage, want: string): number => (cand.architecture === want ? 0 : cand.architecture === 'all' ? 1 : 2);

  // apt installs the candidate: the highest version any source of the client offers. Within a
  // suite family (bookworm, bookworm-updates, bookworm-security) that is the newest one, whichever
  // suite has it, so a fix published in -updates or -security is what the closure carries; the
  // dependent's own repository only breaks a tie.
  const better = (c: AptPackage, top: AptPackage, from: AptPackage | undefined, fromSource: number, want: string): boolean => {
    const own = from?.source ?? fromSource;
    return (
      family(from, fromSource, c) - family(from, fromSource, top) ||
      arch(c, want) - arch(top, want) ||
      -compareVersions(c.version, top.version) ||
      (c.source === own ? 0 : 1) - (top.source === own ? 0 : 1)
    ) < 0;
  };

  const best = (cands: AptPackage[], from: AptPackage | undefined, fromSource: number, want: string): AptPackage | undefined => {
    let top: AptPackage | undefined;
    for (const c of cands) if (!top || better(c, top, from, fromSource, want)) top = c;
    return top;
  };

  const candidates = (alt: DepAlternative, want: string): { real: AptPackage[]; provided: AptPackage[] } => {
    const real = versionsOf(alt.name).filter((c) => archOk(c, want, alt) && (!alt.op || satisfiesVersion(c.version, alt.op, alt.version!)));
    const providers = byProvides.get(alt.name) ?? [];
    spend(providers.length);
    const provided = providers
      .filter(({ pkg, version }) => archOk(pkg, want, alt) && (!alt.op || (version !== undefined && satisfiesVersion(version, alt.op, alt.version!))))
      .map(({ pkg }) => pkg);
    return { real, provided };
  };

  const selected = new Map<number, Set<AptPackage>>();
  const unsatisfied = new Map<number, string[]>();
  const missing = new Map<number, string[]>();
  const upgrades = new Map<number, string[]>();
  const phased = new Map<number, string[]>();
  const visited = new Set<string>();
  const queue: Array<{ pkg: AptPackage; arch: string; origin: number }> = [];

  const take = (pkg: AptPackage, arch: string, origin: number) => {
    const key = `${pkg.source}|${pkg.filename}|${arch}`;
    if (visited.has(key)) return;
    visited.add(key);
    if (!sources[pkg.source].whole) {
      let set = selected.get(pkg.source);
      if (!set) selected.set(pkg.source, (set = new Set()));
      set.add(pkg);
    }
    queue.push({ pkg, arch, origin });
  };

  // A phased pick (Phased-Update-Percentage below 100): hosts outside the phase install the
  // newest version of the same family that is not phased, so carry it too (with its closure).
  const alsoUnphased = (pick: AptPackage, cands: AptPackage[], from: AptPackage | undefined, fromSource: number, want: string, origin: number) => {
    if (pick.phased === undefined) return;
    const older = cands.filter((c) => c.phased === undefined && sources[c.source].family === sources[pick.source].family && compareVersions(c.version, pick.version) < 0);
    const alt = best(older, from, fromSource, want);
    if (!alt) return;
    if (!visited.has(`${alt.source}|${alt.filename}|${want}`)) {
      let list = phased.get(origin);
      if (!list) phased.set(origin, (list = []));
      list.push(`${alt.name} ${alt.version} (${pick.name} ${pick.version} is phased at ${pick.phased}%)`);
    }
    take(alt, want, origin);
  };

  for (const req of requests) {
    for (const name of req.names) {
      let found = false;
      for (const arch of req.architectures) {
        // `name` or `name=version` (apt's syntax for one exact version).
        const [n, v] = name.split('=', 2);
        const alt: DepAlternative = { name: n.trim().toLowerCase(), ...(v ? { op: '=' as Relation, version: v.trim() } : {}) };
        const { real, provided } = candidates(alt, arch);
        const own = real.filter((p) => p.source === req.source);
        const ownProvided = provided.filter((p) => p.source === req.source);
        const pick = best(own.length ? own : ownProvided, undefined, req.source, arch);
        if (pick) {
          found = true;
          take(pick, arch, req.source);
          alsoUnphased(pick, pick.name === alt.name ? real : provided, undefined, req.source, arch, req.source);
        }
      }
      if (!found) {
        let list = missing.get(req.source);
        if (!list) missing.set(req.source, (list = []));
        list.push(name);
      }
    }
  }

  for (let head = 0; head < queue.length; head++) {
    const { pkg, arch, origin } = queue[head];
    at = `${sources[pkg.source].label}: ${pkg.name} ${pkg.version.length > 100 ? `${pkg.version.slice(0, 100)}…` : pkg.version}`;
    const want = pkg.architecture === 'all' ? arch : pkg.architecture;
    pkg.depends ??= parseRelations(pkg.dependsText);
    for (const group of pkg.depends) {
      let chosen: AptPackage | undefined;
      let among: AptPackage[] = [];
      for (const alt of group) {
        const { real, provided } = candidates(alt, want);
        chosen = best(real, pkg, pkg.source, want);
        among = real;
        if (!chosen) (chosen = best(provided, pkg, pkg.source, want)), (among = provided);
        if (chosen) break;
      }
      if (chosen) {
        take(chosen, want, origin);
        alsoUnphased(chosen, among, pkg, pkg.source, want, origin);
      } else {
        let list = unsatisfied.get(origin);
        if (!list) unsatisfied.set(origin, (list = []));
        // An `all` package is resolved once per architecture: name the one whose dependency fails
        // (vtool (all) for arm64 lacks libonig5 even where the amd64 one is listed).
        list.push(`${pkg.name} ${pkg.version} (${pkg.architecture === 'all' ? `all, for ${want}` : pkg.architecture}) depends on ${formatGroup(group)}`);
      }
    }
    pkg.breaks ??= parseRelations(pkg.breaksText);
    for (const group of pkg.breaks) {
      for (const alt of group) {
        if (!alt.op || alt.name === pkg.name) continue;
        const mine = versionsOf(alt.name).filter((c) => archOk(c, want, alt) && sources[c.source].family === sources[pkg.source].family);
        const broken = mine.filter((c) => satisfiesVersion(c.version, alt.op!, alt.version!));
        if (!broken.length) continue;
        const fixed = mine.filter((c) => !satisfiesVersion(c.version, alt.op!, alt.version!));
        const pick = best(fixed, pkg, pkg.source, want);
        // Only an upgrade: a fixed version older than every broken one would be a downgrade apt does not make.
        if (!pick || !broken.some((b) => compareVersions(pick.version, b.version) > 0)) continue;
        if (!visited.has(`${pick.source}|${pick.filename}|${want}`)) {
          let list = upgrades.get(origin);
          if (!list) upgrades.set(origin, (list = []));
          list.push(`${pick.name} ${pick.version} (${pkg.name} ${pkg.version} breaks ${formatAlternative(alt)})`);
        }
        take(pick, want, origin);
      }
    }
  }
  for (const [k, v] of upgrades) upgrades.set(k, [...new Set(v)].sort());
  for (const [k, v] of phased) phased.set(k, [...new Set(v)].sort());
  for (const [k, v] of unsatisfied) unsatisfied.set(k, [...new Set(v)].sort());
  return { selected, unsatisfied, missing, upgrades, phased };
}
