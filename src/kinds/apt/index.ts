import { hostOfUrl, mapAptRepo, type MirrorPlace } from '../../mapping/index.js';
import { isUnderUrl, listField, type AptRepoLookup, type KindModule, type UpstreamRefBase } from '../types.js';
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
      const repos = specs.map((a) => a.url).sort();
      return (r) => {
        if (r.kind !== 'url' && r.kind !== 'apt') return undefined;
        const repo = repos.find((a) => isUnderUrl(r.value, a));
        return repo ? { mirror: target?.apt ? mapAptRepo(repo, target.apt).url : undefined } : undefined;
      };
    },
    mirrorLookups(locked, target) {
      const trim = (u: string) => u.replace(/\/+$/, '');
      // A filtered APT mirror is re-signed with the site key at import; a whole one keeps the vendor's signature.
      const repos = new Map<string, AptRepoLookup>();
      const mirrors = new Map<string, boolean>();
      for (const a of locked) {
        const url = a.url;
        if (!url || !target.apt) continue;
        const mirror = mapAptRepo(url, target.apt).url;
        const resigned = a.mode === 'filtered';
        repos.set(trim(url), { url: mirror, resigned });
        mirrors.set(trim(mirror), resigned);
      }
      const lookupAptRepo = (url: string): AptRepoLookup | undefined => {
        const onMirror = mirrors.get(trim(url));
        if (onMirror !== undefined) return { url: 'mirror', resigned: onMirror };
        if (target.apt && trim(url).startsWith(trim(target.apt.baseUrl))) return { url: 'mirror', resigned: false };
        return repos.get(trim(url));
      };
      return { lookupAptRepo };
    },
  },
} satisfies KindModule<AptSpec, AptLock, AptRef, Extract<MirrorPlace, { facet: 'apt' }>>;
