import { byCodePoint } from '../file/artifact.js';
import { FerryError, isFerryError } from '../../errors.js';
import { mapLimit } from '../../net/concurrency.js';
import { discard } from '../../net/http.js';
import { mirrorUrlPath } from '../../mapping/index.js';
import { readPublicKeys } from '../../net/pgp.js';
import { resolveEach } from '../failures.js';
import type { KindContext } from '../types.js';
import { computeClosure, suiteFamily, type AptPackage, type ClosureRequest, type SourceInfo } from './deps.js';
import type { AptFile, AptLock, AptPackageLock, AptSuiteLock } from './lock.js';
import { fetchIndex, fetchVerifiedRelease, flatIndexPaths, flatPackagesIndex, repoUrl, listsPackagesFor, packagesIndexFor, readPackages, selectIndexPaths, stanzaToPackage, words, type VerifiedRelease } from './repo.js';
import { flatDir, inSuiteDir, type AptSpec } from './spec.js';
import { generatedFiles } from './generated.js';
import { checkFlatPackagePath } from './suite-version.js';
import { warn } from '../warnings.js';
import { clipName } from '../lock-index.js';
import { ANY_TARGET, foldedClashes } from '../../store/name-folding.js';
import { trimTrailing } from '../../ui/escape.js';
import type { Progress, ProgressTask } from '../../ui/progress.js';
import { aptRepoHttp } from './auth-conf.js';

interface LoadedSource {
  spec: AptSpec;
  specIndex: number;
  suite: string;
  label: string;
  release: VerifiedRelease;
  /** Index files this source carries (whole) or reads stanzas from (filtered). */
  indexes: AptFile[];
  packages: AptPackage[];
}

export function aptLabel(spec: { name: string }, suite?: string): string {
  return `apt[${spec.name}]${suite ? ` ${suite}` : ''}`;
}

/**
 * The most packages the indexes of one lock may list, all sources together. Each is held for the
 * closure (~320 bytes of heap): Debian's largest index lists ~65 000, a manifest of several
 * suites, components and architectures a few hundred thousand; a signed index vouches for its
 * bytes, not for being sane, and 1 GiB of minimal stanzas (MAX_INDEX_BYTES) would be ten million
 * packages — past the heap, a crash instead of an error.
 */
export const MAX_APT_PACKAGES = 1_500_000;

/** What is left of MAX_APT_PACKAGES, shared by the sources read at once. */
interface PackageBudget {
  left: number;
  readonly max: number;
}

async function loadSource(spec: AptSpec, specIndex: number, suite: string, sourceIndex: number, userCtx: KindContext, deps: boolean, budget: PackageBudget): Promise<LoadedSource> {
  const label = aptLabel(spec, suite);
  // Every request to this repository with its credentials (auth:, else apt's auth.conf).
  const ctx = { ...userCtx, http: await aptRepoHttp(userCtx.http, spec.url, spec.auth, aptLabel(spec)) };
  if (!spec.keys?.length) {
    throw new FerryError('VALIDATION', `${label}: no keys: ferry verifies every repository's signature`, {
      hint: 'List the vendor key files (e.g. keys/percona.asc) under keys:.',
    });
  }
  const release = await fetchVerifiedRelease(spec.url, suite, readPublicKeys(spec.keys, ctx.manifestDir, label), ctx.http, ctx.store, label).catch(async (err: unknown) => {
    throw (await explainReleaseFailure(err, spec, suite, label, ctx)) ?? err;
  });
  const rel = release.release;
  const flat = flatDir(suite) !== undefined;
  const whole = !spec.packages;
  const { parse, carry } = flat ? flatIndexes(rel, spec, suite, label) : suiteIndexes(rel, spec, suite, label, ctx);
  const got = await mapLimit(carry, ctx.concurrency, async (p) => {
    try {
      return await fetchIndex(spec.url, suite, p, rel, ctx.http, ctx.store, label);
    } catch (err) {
      // Release may list uncompressed or alternative variants the server does not have; apt skips those too.
      if (isFerryError(err, 'NOT_FOUND') && !parse.includes(p)) return undefined;
      throw err;
    }
  });
  const indexes = got.filter((x): x is AptFile => Boolean(x));
  const packages: AptPackage[] = [];
  for (const p of parse) {
    const file = indexes.find((i) => i.path === inSuiteDir(suite, p))!;
    for await (const st of readPackages(ctx.store, file)) {
      if (--budget.left < 0) {
        throw new FerryError('VERIFY', `${label} ${file.path}: the indexes list more than ${budget.max} packages (all APT sources of the manifest together); refusing to read on`, {
          hint: 'No real repository lists this many: the index is crafted or broken. If the manifest really mirrors this much, split its apt: entries into several manifests.',
        });
      }
      const pkg = stanzaToPackage(st, sourceIndex, `${label} ${file.path}`, deps);
      // In a flat repository the packages lie in the directory that is published whole, beside its metadata.
      if (flat) checkFlatPackagePath(pkg.filename, suite, `${label} ${file.path}: package ${pkg.name}`);
      packages.push(pkg);
    }
  }
  return { spec, specIndex, suite, label, release, indexes: whole ? indexes : indexes.filter((i) => parse.some((p) => i.path === inSuiteDir(suite, p))), packages };
}

/** The Packages indexes of a dists/ suite to read (`parse`) and to carry (`carry`: all a whole mirror keeps), per component and architecture. */
function suiteIndexes(rel: VerifiedRelease['release'], spec: AptSpec, suite: string, label: string, ctx: KindContext): { parse: string[]; carry: string[] } {
  const offered = words(rel.fields.get('architectures'));
  // Which architectures this component has a Packages index for (a Release without Architectures: says only this).
  const indexed = (comp: string) => [...new Set([...rel.sha256.keys()].flatMap((p) => (p.startsWith(`${comp}/binary-`) && /\/Packages(\.\w+)?$/.test(p) ? [p.slice(comp.length + 8).split('/')[0]] : [])))].filter((a) => a !== 'all').sort();
  const components = words(rel.fields.get('components'));
  const problems: string[] = [];
  const parse: string[] = [];
  for (const comp of spec.components) {
    if (components.length && !components.includes(comp) && !components.some((c) => c.endsWith(`/${comp}`))) {
      problems.push(`component ${comp} is not offered (Components: ${components.join(' ')})`);
      continue;
    }
    for (const arch of spec.architectures) {
      const p = packagesIndexFor(rel, comp, arch);
      if (p) parse.push(p);
      else if (listsPackagesFor(rel, comp, arch).length) problems.push(`${comp}/binary-${arch} offers only ${listsPackagesFor(rel, comp, arch).join(', ')}; ferry reads Packages.gz or Packages`);
      else if (!offered.length) problems.push(`${comp}/binary-${arch}: the Release has no Packages index for it (it has: ${indexed(comp).join(', ') || 'none'})`);
      else if (!offered.includes(arch)) problems.push(`architecture ${arch} is not offered (Architectures: ${offered.join(' ')})`);
      // Offered by the suite, but this component has no index for it: say so rather than lock none.
      else warn(ctx, `${label}: ${comp}/binary-${arch} has no Packages index in the Release: no ${arch} packages from ${comp}`);
    }
    const all = packagesIndexFor(rel, comp, 'all');
    if (all) parse.push(all);
  }
  if (problems.length) {
    const hint = ubuntuArchHint(rel.fields.get('origin'), spec, offered);
    throw new FerryError('VALIDATION', `${label}: ${spec.url} dists/${suite} cannot be mirrored as asked`, { details: [...new Set(problems)], ...(hint ? { hint } : {}) });
  }
  return { parse, carry: !spec.packages ? [...new Set([...selectIndexPaths(rel, spec.components, spec.architectures), ...parse])].sort() : parse };
}

/**
 * A flat repository's one Packages index (its Release lists `Packages`, `Packages.gz`, … at the
 * top of its directory, no component or architecture paths). Its stanzas mix architectures: the
 * closure takes each package's `Architecture` (the entry's architectures, and `all`); a whole
 * mirror carries the vendor's index as signed, so every package it lists, whatever its architecture.
 */
function flatIndexes(rel: VerifiedRelease['release'], spec: AptSpec, suite: string, label: string): { parse: string[]; carry: string[] } {
  const p = flatPackagesIndex(rel);
  if (!p) {
    const listed = [...rel.sha256.keys()].filter((k) => /(^|\/)Packages(\.\w+)?$/.test(k));
    throw new FerryError('VALIDATION', `${label}: ${repoUrl(spec.url, inSuiteDir(suite, 'Release'))} lists no Packages index at the top of the flat directory${listed.length ? ` (it lists ${listed.slice(0, 5).join(', ')}; ferry reads Packages.gz, Packages.xz or Packages)` : ''}`, {
      hint: listed.some((k) => k.includes('/binary-')) ? 'The Release lists dists/-style indexes: this is not a flat repository. Name its suite and components instead of a directory.' : 'A flat repository\'s Release lists its Packages beside it; check url: and the directory in suites:.',
    });
  }
  return { parse: [p], carry: !spec.packages ? [...new Set([...flatIndexPaths(rel), p])].sort() : [p] };
}

/** Ubuntu's architectures split by URL: amd64 and i386 on archive/security.ubuntu.com, the rest on ports.ubuntu.com. */
const UBUNTU_ARCHIVE_ARCHES = new Set(['amd64', 'i386']);

function ubuntuArchHint(origin: string | undefined, spec: AptSpec, offered: string[]): string | undefined {
  if (origin?.trim() !== 'Ubuntu' || !offered.length) return undefined;
  const wrong = spec.architectures.filter((a) => !offered.includes(a));
  if (!wrong.length) return undefined;
  const ports = wrong.filter((a) => !UBUNTU_ARCHIVE_ARCHES.has(a));
  const archive = wrong.filter((a) => UBUNTU_ARCHIVE_ARCHES.has(a));
  const said: string[] = [];
  if (ports.length) said.push(`${ports.join(', ')} from http://ports.ubuntu.com/ubuntu-ports (every pocket, -security included)`);
  if (archive.length) said.push(`${archive.join(', ')} from http://archive.ubuntu.com/ubuntu (and -security from http://security.ubuntu.com/ubuntu)`);
  return `Ubuntu publishes ${said.join('; ')}: give those architectures an apt: entry of their own with that url (same suites, components and keys), and keep ${offered.filter((a) => spec.architectures.includes(a)).join(', ') || 'the others'} in this one.`;
}

/**
 * A clearer error for two real-world failures to read a suite's Release: a flat repository
 * (`deb URL ./`: Release beside the packages, no dists/), and a Release signed by a key (often
 * a new subkey after the vendor rotated it) that the manifest's key files lack. Undefined: the
 * original error says it best.
 */
async function explainReleaseFailure(err: unknown, spec: AptSpec, suite: string, label: string, ctx: KindContext): Promise<FerryError | undefined> {
  if (isFerryError(err, 'NOT_FOUND')) {
    // Already flat: the error names the directory read.
    if (flatDir(suite) !== undefined) return undefined;
    // apt's flat form reads <url>/<dir>/Release; ferry asked for <url>/dists/<suite>/.
    for (const name of ['InRelease', 'Release']) {
      const url = repoUrl(spec.url, name);
      const found = await ctx.http
        .request(url, { method: 'HEAD', reuseAfterHead: true })
        .then(async (res) => {
          await discard(res.body);
          return res.status === 200;
        })
        .catch(() => false);
      if (found) return flatRepositoryError(spec, `${label}: ${repoUrl(spec.url, `dists/${suite}`)} has no Release, but ${url} exists`);
    }
    return undefined;
  }
  if (!isFerryError(err, 'VERIFY')) return undefined;
  const ids = [...new Set([...err.message.matchAll(/Could not find signing key with key ID ([0-9a-f]{16})/gi)].map((m) => m[1].toUpperCase()))];
  if (!ids.length) return undefined;
  return new FerryError('VERIFY', `${label}: the Release is not signed by any of the given keys: it is signed by key ${ids.join(', ')}, which is not in ${spec.keys.join(', ')} (keys:)`, {
    details: [err.message],
    hint: `The vendor signs with a key (or a new subkey of its key) that your key file lacks: vendors rotate their signing keys (Google's Linux key gained a new subkey). Download the vendor's current public key from the place its install instructions name, check its fingerprint, save it over ${spec.keys[0]}, and run \`ferry lock\` again. Nothing from this Release was trusted.`,
  });
}

export function flatRepositoryError(spec: { name: string; url: string }, message: string): FerryError {
  return new FerryError('VALIDATION', `${message}: a flat repository (\`deb ${spec.url} ./\`: Release and Packages beside the .deb files, no dists/)`, {
    hint: 'Name its directory as its sources line does: suites: ["./"] for `deb URL ./` (or `/`, or `binary/` for `deb URL binary/`); a flat repository has no components (README, APT repositories).',
  });
}

/**
 * What keeps the packages of one repository from sharing its pool: one Filename listed by two
 * suites with different SHA256 (one .deb would be carried and the other suite's index would name
 * bytes the mirror does not hold: apt there fails with "Hash Sum mismatch"), and two Filenames
 * that are one name on a case-insensitive or normalizing file system (`pool/x/Foo.deb` and
 * `pool/x/foo.deb`: on such a target the second written replaces the first after it was verified).
 */
export function poolProblems(entries: readonly AptLock[]): string[] {
  const out: string[] = [];
  for (const e of entries) {
    // The lock's own package records, by file (no record of its own per package: a whole component has tens of thousands).
    const byFile = new Map<string, AptPackageLock>();
    for (const s of e.suites) {
      for (const p of s.packages) {
        const prev = byFile.get(p.filename);
        if (!prev) byFile.set(p.filename, p);
        else if (prev.sha256 !== p.sha256 && out.length < 20) {
          const prevSuite = e.suites.find((x) => x.packages.includes(prev))?.suite;
          out.push(`${aptLabel(e)} ${shownPath(p.filename)}: suite ${prevSuite} lists SHA256 ${prev.sha256}, suite ${s.suite} lists ${p.sha256}`);
        }
      }
    }
    for (const [a, b] of foldedClashes(byFile.keys(), ANY_TARGET)) {
      out.push(`${aptLabel(e)} ${shownPath(b)} and ${shownPath(a)} are one name on a file system that ignores case or Unicode normalization (Windows and SMB shares, macOS, ext4 casefold): there the second would replace the first`);
    }
  }
  return out;
}

/**
 * Packages a filtered suite's closure carries that its indexes list more than once at the same
 * version and architecture with another .deb (SHA256) or other Depends/Pre-Depends: a broken or
 * crafted index (dpkg-scanpackages -m over two builds, a hand-edited one). apt keeps the first
 * stanza's file (and, when the Depends differ, takes the first as the candidate); the mirror's
 * regenerated Packages would carry one of them as if the other did not exist. Refused, naming
 * both stanzas; one linear pass over each filtered suite's packages, keyed by the few names
 * selected. At most 20.
 */
function ambiguousStanzas(sources: readonly LoadedSource[], selected: ReadonlyMap<number, ReadonlySet<AptPackage>>): string[] {
  const out: string[] = [];
  const stanza = (p: AptPackage) => `${shownPath(p.filename)} (SHA256 ${p.sha256}${p.dependsText ? `, Depends ${JSON.stringify(p.dependsText.slice(0, 200))}` : ''})`;
  for (const [i, chosen] of selected) {
    const byName = new Map<string, AptPackage[]>();
    for (const p of chosen) byName.set(p.name, [...(byName.get(p.name) ?? []), p]);
    for (const p of sources[i].packages) {
      const same = byName.get(p.name)?.find((c) => c !== p && c.version === p.version && c.architecture === p.architecture);
      if (!same || (same.sha256 === p.sha256 && (same.dependsText ?? '') === (p.dependsText ?? ''))) continue;
      if (out.length >= 20) return out;
      out.push(`${sources[i].label}: ${p.name} ${p.version} (${p.architecture}) is listed as ${stanza(same)} and again as ${stanza(p)}`);
    }
  }
  return out;
}

const shownPath = (p: string) => JSON.stringify(clipName(p));

function toLock(p: AptPackage): AptPackageLock {
  return { name: p.name, version: p.version, architecture: p.architecture, filename: p.filename, sha256: p.sha256, size: p.size };
}

function uniquePackages(list: Iterable<AptPackage>): AptPackageLock[] {
  const byFile = new Map<string, AptPackageLock>();
  for (const p of list) {
    const prev = byFile.get(p.filename);
    if (prev && prev.sha256 !== p.sha256) {
      throw new FerryError('VERIFY', `${p.filename}: two indexes of one suite give different SHA256 (${prev.sha256} and ${p.sha256})`, {
        hint: 'The repository is inconsistent; try again later.',
      });
    }
    byFile.set(p.filename, toLock(p));
  }
  return [...byFile.values()].sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0));
}

/**
 * Pin every APT repository: verified Release per suite, verified indexes, and the packages
 * (all of them, or the closure of `packages:` over Depends/Pre-Depends across every listed
 * repository). Unsatisfiable dependencies are reported in the lock, not fatal; a requested
 * package that no suite has is.
 */
export async function resolveApt(specs: AptSpec[], ctx: KindContext, maxPackages = MAX_APT_PACKAGES): Promise<AptLock[]> {
  const lines = new HeldLines(ctx.progress);
  try {
    return await resolveAptLines(specs, { ...ctx, progress: lines.progress }, maxPackages, lines);
  } finally {
    lines.release();
  }
}

/**
 * A filtered suite's progress line says how many of the packages its index lists are carried,
 * known only once the closure over every suite is computed: its line is held until then
 * (`carried`); when the lock fails first, it says what the index listed (`release`).
 */
class HeldLines {
  readonly progress: Progress;
  private readonly realOf = new WeakMap<ProgressTask, ProgressTask>();
  private readonly holding = new WeakSet<ProgressTask>();
  private readonly held = new Map<LoadedSource, ProgressTask>();
  constructor(base: Progress) {
    this.progress = {
      phase: (name, size) => base.phase(name, size),
      log: (message) => base.log(message),
      done: () => base.done(),
      start: (label, total) => {
        const real = base.start(label, total);
        const task: ProgressTask = {
          advance: (n) => real.advance(n),
          cached: (n) => real.cached(n),
          status: (text) => real.status(text),
          fail: (message) => real.fail(message),
          finish: (message) => {
            if (!this.holding.has(task)) real.finish(message);
          },
        };
        this.realOf.set(task, real);
        return task;
      },
    };
  }
  /** The line of `task` (a progress task of this.progress) waits for `carried(source, …)`. */
  hold(task: ProgressTask, source: LoadedSource): void {
    const real = this.realOf.get(task);
    if (!real) return;
    this.holding.add(task);
    this.held.set(source, real);
  }
  carried(source: LoadedSource, carried: number): void {
    const n = source.packages.length;
    this.held.get(source)?.finish(`${carried} of ${n} listed package${n === 1 ? '' : 's'} carried (the entry's packages: and what they depend on)`);
    this.held.delete(source);
  }
  release(): void {
    for (const [source, task] of this.held) task.finish(listedText(source.packages.length));
    this.held.clear();
  }
}

const listedText = (n: number) => `${n} package${n === 1 ? '' : 's'} listed`;

async function resolveAptLines(specs: AptSpec[], ctx: KindContext, maxPackages: number, lines: HeldLines): Promise<AptLock[]> {
  const budget: PackageBudget = { left: maxPackages, max: maxPackages };
  const byPath = new Map<string, string>();
  const clashes: string[] = [];
  for (const spec of specs) {
    // Two entries for one repository would write one mirror tree twice with different contents.
    const key = mirrorUrlPath(trimTrailing(spec.url, '/'));
    const prev = byPath.get(key);
    if (prev !== undefined && prev !== spec.name) clashes.push(`apt[${prev}] and apt[${spec.name}] both mirror ${spec.url}`);
    else byPath.set(key, spec.name);
  }
  // Two roots one name apart only in case or Unicode normalization are one tree on a folding target file system.
  for (const [a, b] of foldedClashes(byPath.keys(), ANY_TARGET)) {
    if (a.split('/').length === b.split('/').length) clashes.push(`apt[${byPath.get(a)}] and apt[${byPath.get(b)}] mirror to ${shownPath(a)} and ${shownPath(b)} under apt.dir: one directory on a file system that ignores case or Unicode normalization (Windows and SMB shares, macOS, ext4 casefold)`);
  }
  // A flat directory is published whole (one switch): another repository's tree inside it would be switched away with it.
  for (const spec of specs) {
    for (const dir of spec.suites.map(flatDir).filter((d): d is string => d !== undefined)) {
      const published = mirrorUrlPath(trimTrailing(dir ? `${trimTrailing(spec.url, '/')}/${dir}` : spec.url, '/'));
      for (const other of specs) {
        const at = mirrorUrlPath(trimTrailing(other.url, '/'));
        if (other !== spec && at.startsWith(`${published}/`)) clashes.push(`apt[${other.name}] (${other.url}) lies inside the flat directory ${spec.url} ${spec.suites.find((s) => flatDir(s) === dir)} of apt[${spec.name}], which is published as a whole`);
      }
    }
  }
  if (clashes.length) {
    throw new FerryError('VALIDATION', `${clashes.length} APT repositor${clashes.length === 1 ? 'y overlaps' : 'ies overlap'} another entry's mirror tree`, {
      details: clashes,
      hint: 'Merge the entries of one repository: list every suite under suites: and every package under packages: of one entry. A repository inside a flat repository\'s directory cannot be mirrored beside it.',
    });
  }
  const plan: Array<{ spec: AptSpec; specIndex: number; suite: string; sourceIndex: number }> = [];
  specs.forEach((spec, specIndex) => {
    for (const suite of spec.suites) plan.push({ spec, specIndex, suite, sourceIndex: plan.length });
  });
  // Dependencies are read only when some entry names packages (a closure is computed).
  const needsClosure = specs.some((s) => s.packages);
  // Every suite is tried: one that fails (a missing suite, a bad key) does not hide the others.
  const sources = await resolveEach(
    plan,
    { progress: ctx.progress, concurrency: Math.max(1, Math.min(2, ctx.concurrency)) },
    (p) => aptLabel(p.spec, p.suite),
    async (p, task) => {
      task.status('Release and indexes');
      const source = await loadSource(p.spec, p.specIndex, p.suite, p.sourceIndex, ctx, needsClosure, budget);
      if (p.spec.packages) lines.hold(task, source);
      return source;
    },
    (s) => listedText(s.packages.length),
  );
  const infos: SourceInfo[] = sources.map((s) => ({ whole: !s.spec.packages, family: suiteFamily(s.suite), label: s.label }));
  const requests: ClosureRequest[] = sources
    .map((s, i) => (s.spec.packages ? { source: i, names: s.spec.packages, architectures: s.spec.architectures } : undefined))
    .filter((r): r is ClosureRequest => Boolean(r));
  const closure = computeClosure(
    sources.flatMap((s) => s.packages),
    infos,
    requests,
  );
  // A requested package is missing only when no suite of its entry has it: an entry for
  // bookworm and bookworm-updates asks for each package from whichever suite offers it (the
  // updates suite carries only what changed), as apt would install it from either. Nor when
  // another entry's suite of the same release has it, for one of the entry's architectures:
  // Ubuntu serves noble-security from security.ubuntu.com, beside noble and noble-updates on
  // archive.ubuntu.com, and -security carries only what got a fix.
  // By name, built once and only when something is missing: a scan of every source's packages
  // per missing name was quadratic (thousands of missing names over a large index).
  let byName: Map<string, Array<{ source: number; pkg: AptPackage }>> | undefined;
  const families = sources.map((s) => suiteFamily(s.suite));
  const familiesOf = new Map<number, Set<string>>();
  const elsewhere = (specIndex: number, name: string): boolean => {
    if (!byName) {
      byName = new Map();
      sources.forEach((s, source) => {
        for (const pkg of s.packages) {
          let list = byName!.get(pkg.name);
          if (!list) byName!.set(pkg.name, (list = []));
          list.push({ source, pkg });
        }
      });
    }
    const [n, v] = name.split('=', 2).map((x) => x.trim());
    const spec = specs[specIndex];
    let mine = familiesOf.get(specIndex);
    if (!mine) familiesOf.set(specIndex, (mine = new Set(sources.flatMap((s, i) => (s.specIndex === specIndex ? [families[i]] : [])))));
    return (byName.get(n.toLowerCase()) ?? []).some(
      ({ source, pkg: p }) =>
        sources[source].specIndex !== specIndex && mine.has(families[source]) && (!v || p.version === v) && (p.architecture === 'all' || spec.architectures.includes(p.architecture)),
    );
  };
  const missingOf = new Map([...closure.missing].map(([i, names]) => [i, new Set(names)]));
  const missing: string[] = [];
  specs.forEach((spec, specIndex) => {
    const mine = sources.map((s, i) => ({ s, i })).filter(({ s }) => s.specIndex === specIndex);
    if (!spec.packages || !mine.length) return;
    for (const name of spec.packages) {
      if (!mine.every(({ i }) => missingOf.get(i)?.has(name))) continue;
      if (elsewhere(specIndex, name)) continue;
      const where = mine.length === 1 ? mine[0].s.label : `${aptLabel(spec)} (${mine.map(({ s }) => s.suite).join(', ')})`;
      missing.push(`${where}: ${name} is not in ${spec.url} (${spec.components.join(', ')}; ${spec.architectures.join(', ')})`);
    }
  });
  if (missing.length) {
    throw new FerryError('NOT_FOUND', `${missing.length} requested package${missing.length === 1 ? '' : 's'} not found`, {
      details: missing,
      hint: 'Check the package names, components and architectures.',
    });
  }
  const ambiguous = ambiguousStanzas(sources, closure.selected);
  if (ambiguous.length) {
    throw new FerryError('VERIFY', `${ambiguous.length} package${ambiguous.length === 1 ? '' : 's'} of the closure ${ambiguous.length === 1 ? 'is' : 'are'} listed twice by ${ambiguous.length === 1 ? 'its' : 'their'} index, at one version, with different contents`, {
      details: ambiguous,
      hint: 'One version of a package must be one .deb: the vendor\'s index is broken or crafted (apt takes the first stanza, whatever the second says). Report it to the vendor. To carry the suite as the vendor signed it (both files, its own index), mirror it whole (omit packages:). No lock was written.',
    });
  }
  const out: AptLock[] = [];
  specs.forEach((spec, specIndex) => {
    const mine = sources.map((s, i) => ({ s, i })).filter(({ s }) => s.specIndex === specIndex);
    const suites: AptSuiteLock[] = mine.map(({ s, i }) => ({
      suite: s.suite,
      signedBy: s.release.signedBy,
      release: s.release.files,
      indexes: s.indexes,
      packages: uniquePackages(spec.packages ? (closure.selected.get(i) ?? []) : s.packages),
    }));
    mine.forEach(({ s }, k) => lines.carried(s, suites[k].packages.length));
    const unsatisfied = [...new Set(mine.flatMap(({ i }) => closure.unsatisfied.get(i) ?? []))].sort();
    for (const u of unsatisfied) warn(ctx, `${aptLabel(spec)}: not satisfied by any listed repository: ${u}`);
    // Said, not only done: a version nobody listed is carried because something Breaks an older one.
    const upgrades = [...new Set(mine.flatMap(({ i }) => closure.upgrades.get(i) ?? []))].sort();
    if (upgrades.length) {
      const shown = upgrades.slice(0, 20).join('; ') + (upgrades.length > 20 ? `; and ${upgrades.length - 20} more` : '');
      warn(ctx, `${aptLabel(spec)}: also carried, for a Breaks/Conflicts in the closure (apt upgrades them on clients that have an older one): ${shown}`);
    }
    const phased = [...new Set(mine.flatMap(({ i }) => closure.phased.get(i) ?? []))].sort();
    if (phased.length) {
      const shown = phased.slice(0, 20).join('; ') + (phased.length > 20 ? `; and ${phased.length - 20} more` : '');
      warn(ctx, `${aptLabel(spec)}: also carried, for hosts outside a phased update (Phased-Update-Percentage: apt there keeps to the newest version not phased): ${shown}`);
    }
    out.push({
      name: spec.name,
      url: spec.url,
      mode: spec.packages ? 'filtered' : 'whole',
      // A flat repository has no components.
      components: spec.suites.some((s) => flatDir(s) !== undefined) ? [] : spec.components,
      architectures: spec.architectures,
      ...(spec.packages ? { packages: [...spec.packages].sort() } : {}),
      suites,
      unsatisfied,
      ...(spec.auth ? { auth: spec.auth } : {}),
    });
  });
  const pool = poolProblems(out);
  if (pool.length) {
    throw new FerryError('VERIFY', `${pool.length} package file${pool.length === 1 ? '' : 's'} of one repository cannot each have a place of ${pool.length === 1 ? 'its' : 'their'} own in the mirror's pool`, {
      details: pool,
      hint: 'A repository\'s suites share one pool: a path is one file, the same for every suite that lists it. The repository is inconsistent (a mirror mid-sync: try again later) or crafted; report it to its operator. No lock was written.',
    });
  }
  // A filtered suite's Packages is ferry's own: its bytes are pinned here, from the indexes the
  // lock pins, so that every field apt at the site reads (Depends, Conflicts…) is the lock's.
  for (const e of out) {
    if (e.mode !== 'filtered') continue;
    for (const s of e.suites) s.generated = await generatedFiles(s.packages, s.indexes, ctx.store);
  }
  return out.sort((a, b) => byCodePoint(a.name, b.name) || byCodePoint(a.url, b.url));
}
