import { hostOfUrl, mapAptRepo, type MirrorPlace } from '../../mapping/index.js';
import { isUnderUrl, listField, type AptRepoLookup, type AptSourceEntry, type KindModule, type UpstreamRefBase } from '../types.js';
import { AptSpecSchema, type AptSpec } from './spec.js';
import { AptLockSchema, type AptLock } from './lock.js';
import { resolveApt } from './resolve.js';
import { aptFetchPlan, fetchApt } from './fetch.js';
import { importApt, importAptBlobs, validateAptImport } from './import.js';
import { aptServeRoutes } from './serve.js';

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
  references: (entry): AptRef[] => [{ kind: 'apt', upstream: entry.url }],
  locations(entry, m) {
    return this.references(entry).map((ref) => ({ ref, places: m.apt ? [{ facet: 'apt' as const, url: mapAptRepo(ref.upstream, m.apt) }] : [] }));
  },
  serveRoutes: aptServeRoutes,
  presentation: {
    countNoun: 'apt repositories',
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
        // Every entry of that URL (a suite each, say): the mirror carries their union, as rewrite counts it.
        const same = repos.filter((a) => a.url === spec.url);
        const carried = { suites: [...new Set(same.flatMap((a) => a.suites))], components: [...new Set(same.flatMap((a) => a.components))] };
        const gap = r.apt ? sourceEntryGap(r.apt, carried) : undefined;
        if (gap) return { partial: `${spec.url} is mirrored, but not ${gap}` };
        return { mirror: target?.apt ? mapAptRepo(spec.url, target.apt).url : undefined };
      };
    },
    mirrorLookups(locked, target) {
      const trim = (u: string) => u.replace(/\/+$/, '');
      // A filtered APT mirror is re-signed with the site key at import; a whole one keeps the vendor's signature.
      const repos = new Map<string, AptRepoLookup & { carried: { suites: string[]; components: string[] } }>();
      const mirrors = new Map<string, boolean>();
      for (const a of locked) {
        const url = a.url;
        if (!url || !target.apt) continue;
        const mirror = mapAptRepo(url, target.apt).url;
        const resigned = a.mode === 'filtered';
        // Two entries of one repository (a suite each): the mirror carries their union.
        const had = repos.get(trim(url))?.carried;
        const carried = { suites: [...new Set([...(had?.suites ?? []), ...a.suites.map((s) => s.suite)])], components: [...new Set([...(had?.components ?? []), ...a.components])] };
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
function sourceEntryGap(entry: AptSourceEntry, spec: { suites: string[]; components: string[] }): string | undefined {
  const gaps: string[] = [];
  if (entry.types.includes('deb-src')) gaps.push('source packages (deb-src: the mirror has no Sources indexes)');
  // A flat repository (`deb URI dir/`) names a directory, not a suite under dists/.
  const suites = entry.suites.filter((s) => !s.endsWith('/'));
  const missingSuites = suites.filter((s) => !spec.suites.includes(s));
  if (missingSuites.length) gaps.push(`suite${missingSuites.length === 1 ? '' : 's'} ${missingSuites.join(', ')} (carried: ${spec.suites.join(', ')})`);
  const missingComponents = suites.length ? entry.components.filter((c) => !spec.components.includes(c)) : [];
  if (missingComponents.length) gaps.push(`component${missingComponents.length === 1 ? '' : 's'} ${missingComponents.join(', ')} (carried: ${spec.components.join(', ')})`);
  return gaps.length ? gaps.join('; ') : undefined;
}
