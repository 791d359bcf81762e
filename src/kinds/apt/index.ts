import { hostOfUrl, mapAptRepo, type MirrorPlace } from '../../mapping/index.js';
import { listField, type KindModule, type UpstreamRefBase } from '../types.js';
import { AptSpecSchema, type AptSpec } from './spec.js';
import { AptLockSchema, type AptLock } from './lock.js';
import { resolveApt } from './resolve.js';
import { aptFetchPlan, fetchApt } from './fetch.js';
import { importApt, validateAptImport } from './import.js';
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
  validateImport: validateAptImport,
  references: (entry): AptRef[] => [{ kind: 'apt', upstream: entry.url }],
  locations(entry, m) {
    return this.references(entry).map((ref) => ({ ref, places: m.apt ? [{ facet: 'apt' as const, url: mapAptRepo(ref.upstream, m.apt) }] : [] }));
  },
  serveRoutes: aptServeRoutes,
} satisfies KindModule<AptSpec, AptLock, AptRef, Extract<MirrorPlace, { facet: 'apt' }>>;
