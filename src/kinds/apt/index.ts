import { hostOfUrl, mapAptRepo, type MirrorPlace } from '../../mapping/index.js';
import { isUnderUrl, listField, type AptRepoLookup, type AptSourceEntry, type KindModule, type UpstreamRefBase } from '../types.js';
import { AptSpecSchema, flatDir, suiteKey, type AptSpec } from './spec.js';
import { AptLockSchema, type AptLock } from './lock.js';
import { resolveApt } from './resolve.js';
import { aptFetchPlan, fetchApt } from './fetch.js';
import { aptImportNeeds, importApt, importAptBlobs, unlockedAptTop, validateAptImport } from './import.js';
import { aptServeRoutes } from './serve.js';
import { aptRoot, readAptArtifact } from './import.js';
import { ROLE } from '../file/artifact.js';
import { ANNOTATION } from '../../store/source.js';
import { safeJoin } from '../../store/safe-path.js';
import { trimTrailing } from '../../ui/escape.js';
import { aptLockDiff } from './lock-diff.js';

/** An APT repository by its root URL. */
export type AptRef = UpstreamRefBase<'apt'>;

/** APT repositories, whole suites or the closure of named packages, with their signatures. */
export const aptKind = {
  name: 'apt',
  field: 'apt',
  specSchema: AptSpecSchema,
  lockSchema: AptLockSchema,
  manifestShape: listField('apt', AptSpecSchema),
  lockShape: listField('apt', AptLockSchema),
  expandVars: true,
  referencedFiles: (spec) => spec.keys ?? [],
  resolveItems: (specs) => specs.reduce((n, a) => n + a.suites.length, 0),
  upstreamHosts: (spec) => {
    const host = hostOfUrl(spec.url);
    return host ? [{ host, item: spec.url }] : [];
  },
  targetFacet: { anyOf: ['apt'], add: 'apt: { dir, baseUrl }', noun: 'APT repositories' },
  resolve: resolveApt,
  fetch: fetchApt,
  fetchPlan: aptFetchPlan,
  importTo: importApt,
  importBlobs: importAptBlobs,
  validateImport: validateAptImport,
  importNeeds: aptImportNeeds,
  unlockedTop: unlockedAptTop,
  async differentialPayload(top, read) {
    // A big APT artifact is an index of manifests, each with a slice of the layers (artifact.ts).
    const json = await read(top);
    const parts = Array.isArray(json.manifests) ? await Promise.all(json.manifests.filter((c) => typeof c?.digest === 'string').map(read)) : [json];
    return parts.flatMap((p) => p.layers ?? []).filter((l) => l?.annotations?.[ROLE] === 'package');
  },
  async heldOnTarget(top, digests, source, target) {
    if (!target.apt) return [];
    const a = await readAptArtifact(top, source);
    const { root } = aptRoot(target.apt, a);
    return a.manifest.layers.flatMap((layer) => {
      const title = layer.annotations?.[ANNOTATION.title];
      if (!digests.has(layer.digest) || layer.annotations?.[ROLE] !== 'package' || typeof title !== 'string') return [];
      return [{ digest: layer.digest, label: `${a.label} ${title}`, file: safeJoin(root, title, a.label) }];
    });
  },
  references: (entry): AptRef[] => [{ kind: 'apt', upstream: entry.url }],
  locations(entry, m) {
    return this.references(entry).map((ref) => ({ ref, places: m.apt ? [{ facet: 'apt' as const, url: mapAptRepo(ref.upstream, m.apt) }] : [] }));
  },
  serveRoutes: aptServeRoutes,
  lockDiff: aptLockDiff,
  presentation: {
    countNoun: 'apt repositories',
    countNounOne: 'apt repository',
    bundleTable: {
      title: 'APT repositories',
      nameColumn: 'Repository',
      versionColumn: 'Suites · mode · packages',
      row: (a) => {
        const packages = a.suites.flatMap((s) => s.packages);
        return { name: a.url, version: `${a.suites.map((s) => s.suite).join(', ')} · ${a.mode} · ${packages.length} packages`, digest: '', size: packages.reduce((n, p) => n + p.size, 0) };
      },
    },
    unsatisfied: (a) => a.unsatisfied.map((u) => `${a.name}: ${u}`),
    auditCarried({ specs, target }) {
      // The most specific repository first: `…/debian/sub` is not judged by `…/debian`'s suites.
      const repos = [...specs].sort((a, b) => b.url.length - a.url.length || (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
      return (r) => {
        if (r.kind !== 'url' && r.kind !== 'apt') return undefined;
        const spec = repos.find((a) => isUnderUrl(r.value, a.url));
        if (!spec) return undefined;
        // A source entry is carried only as far as the mirror has what it asks for: binary
        // packages (no Sources indexes) of the suites and components the manifest lists.
        // Every entry of that URL (a suite each, say): the mirror carries each suite with the
        // components of the entries that list it, as rewrite counts it.
        const carried = new Map<string, Set<string>>();
        for (const a of repos) if (a.url === spec.url) addCarried(carried, a.suites, a.components);
        const gap = r.apt ? sourceEntryGap(r.apt, carried) : undefined;
        if (gap) return { partial: `${spec.url} is mirrored, but not ${gap}` };
        return { mirror: target?.apt ? mapAptRepo(spec.url, target.apt).url : undefined, asWritten: { why: 'apt fetches a source entry from the URL written: nothing redirects it to the mirror', rewrite: '`ferry rewrite apt-sources`' } };
      };
    },
    mirrorLookups(locked, target) {
      const trim = (u: string) => trimTrailing(u, '/');
      // A filtered APT mirror is re-signed with the site key at import; a whole one keeps the vendor's signature.
      const repos = new Map<string, AptRepoLookup & { carried: Carried }>();
      const mirrors = new Map<string, boolean>();
      for (const a of locked) {
        const url = a.url;
        if (!url || !target.apt) continue;
        const mirror = mapAptRepo(url, target.apt).url;
        const resigned = a.mode === 'filtered';
        // Two entries of one repository (a suite each): each suite with its own entry's components.
        const carried = repos.get(trim(url))?.carried ?? new Map<string, Set<string>>();
        addCarried(carried, a.suites.map((s) => s.suite), a.components);
        repos.set(trim(url), { url: mirror, resigned, carried });
        mirrors.set(trim(mirror), resigned);
      }
      const lookupAptRepo = (url: string, entry?: AptSourceEntry): AptRepoLookup | undefined => {
        const onMirror = mirrors.get(trim(url));
        if (onMirror !== undefined) return { url: 'mirror', resigned: onMirror };
        if (target.apt && trim(url).startsWith(trim(target.apt.baseUrl))) return { url: 'mirror', resigned: false };
        const found = repos.get(trim(url));
        if (!found) return undefined;
        // deb-src is said apart by the rewrite (a warning): only suites and components here.
        const gap = entry ? sourceEntryGap({ types: ['deb'], suites: entry.suites, components: [] }, found.carried) : undefined;
        const partial = entry && !gap ? sourceEntryGap({ types: ['deb'], suites: entry.suites, components: entry.components }, found.carried) : undefined;
        return { url: found.url, resigned: found.resigned, ...(gap ? { gap } : {}), ...(partial ? { partial } : {}) };
      };
      return { lookupAptRepo };
    },
  },
} satisfies KindModule<AptSpec, AptLock, AptRef, Extract<MirrorPlace, { facet: 'apt' }>>;

/** What an APT source entry asks for that a mirror of `spec` does not carry, in words (undefined: nothing). */
/** What a mirror holds of one repository: each suite with the components carried for it. */
type Carried = Map<string, Set<string>>;

function addCarried(carried: Carried, suites: readonly string[], components: readonly string[]): void {
  for (const suite of suites) {
    // A flat directory by one name (`./` and `/` are the root alike); it has no components.
    const key = suiteKey(suite);
    const had = carried.get(key) ?? new Set<string>();
    if (flatDir(suite) === undefined) for (const c of components) had.add(c);
    carried.set(key, had);
  }
}

function sourceEntryGap(entry: AptSourceEntry, carried: Carried): string | undefined {
  const gaps: string[] = [];
  if (entry.types.includes('deb-src')) gaps.push('source packages (deb-src: the mirror has no Sources indexes)');
  // A flat repository (`deb URI dir/`) names a directory, carried when the mirror has that directory (it has no components).
  const missingSuites = entry.suites.filter((s) => !carried.has(suiteKey(s)));
  if (missingSuites.length) gaps.push(`suite${missingSuites.length === 1 ? '' : 's'} ${missingSuites.join(', ')} (carried: ${[...carried.keys()].join(', ')})`);
  const suites = entry.suites.filter((s) => flatDir(s) === undefined);
  // Components per suite: `bookworm contrib` is not carried because another suite's entry has contrib.
  const bySuite = suites
    .filter((s) => carried.has(s))
    .map((s) => ({ suite: s, have: [...carried.get(s)!], missing: entry.components.filter((c) => !carried.get(s)!.has(c)) }))
    .filter((x) => x.missing.length);
  const same = bySuite.every((x) => x.missing.join(' ') === bySuite[0].missing.join(' ') && x.have.join(' ') === bySuite[0].have.join(' '));
  const word = (n: number) => `component${n === 1 ? '' : 's'}`;
  if (bySuite.length && same && bySuite.length === suites.filter((s) => carried.has(s)).length) {
    gaps.push(`${word(bySuite[0].missing.length)} ${bySuite[0].missing.join(', ')} (carried: ${bySuite[0].have.join(', ')})`);
  } else {
    for (const x of bySuite) gaps.push(`${word(x.missing.length)} ${x.missing.join(', ')} of ${x.suite} (carried there: ${x.have.join(', ')})`);
  }
  return gaps.length ? gaps.join('; ') : undefined;
}
