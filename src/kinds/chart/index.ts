import { chartOciReference, hostOfUrl, mapChartHttp, mapImage, mapOciChart, type MirrorPlace } from '../../mapping/index.js';
import { ResolveFailures, resolveEach, type ResolveFailure } from '../failures.js';
import type { ImageSpec } from '../image/spec.js';
import { isUnderUrl, listField, type KindModule, type UpstreamRefBase } from '../types.js';
import { chartFetchPlan, fetchChart } from './fetch.js';
import { chartImportNeeds, importChart, importChartBlobs, unlockedChartTop, validateChartImport } from './import.js';
import { chartServeRoutes } from './serve.js';
import { registryHeld } from '../differential.js';
import { MT } from '../../oci/media-types.js';
import { safeJoin } from '../../store/safe-path.js';
import { artifactLabel } from '../../store/layout.js';
import { readChartArtifact } from './import.js';
import { ChartLockSchema, type ChartLock } from './lock.js';
import { foldedChartArchives, mergeChartLocks, possibleImagesWarning, resolveChart, type PossibleImage } from './resolve.js';
import { warn } from '../warnings.js';
import { ChartSpecSchema, type ChartSpec } from './spec.js';
import { trimTrailing } from '../../ui/escape.js';
import { chartLockDiff } from './lock-diff.js';

export { discoverChartImages, type DiscoveryResult, type DiscoveredImage, type ImageSource } from './discover.js';
export { loadChart, loadChartDir, loadChartArchive } from './load.js';

/**
 * A chart as its lock entry names it: repository, name and exact version, and (`upstream`) the
 * image-like reference the registry mapping places it at, the one the bundle names it by.
 */
export interface ChartRef extends UpstreamRefBase<'chart'> {
  repo: string;
  name: string;
  version: string;
}

/** A chart artifact's payload: the archive and its provenance file. */
const CHART_PAYLOAD = new Set<string>([MT.helmChart, 'application/tar+gzip', MT.helmProv]);

// Chart repositories on GitHub Pages (chart-releaser) serve their index there and the archives
// from GitHub releases: carrying the chart carries what those hosts would have served.
const GITHUB_RELEASE_HOSTS = ['github.com', 'objects.githubusercontent.com', 'release-assets.githubusercontent.com'];

/** Helm charts from HTTP and OCI repositories, their non-vendored dependencies, and the images they deploy. */
export const chartKind = {
  name: 'chart',
  field: 'charts',
  specSchema: ChartSpecSchema,
  lockSchema: ChartLockSchema,
  manifestShape: listField('charts', ChartSpecSchema),
  lockShape: listField('charts', ChartLockSchema),
  expandVars: true,
  referencedFiles: (spec) => [...(spec.values ?? []), ...(spec.keys ?? [])],
  upstreamHosts(spec) {
    const host = hostOfUrl(spec.repo);
    if (!host) return [];
    const item = `${trimTrailing(spec.repo, '/')}/${spec.name}@${spec.version}`;
    return [host, ...(host.endsWith('.github.io') ? GITHUB_RELEASE_HOSTS : [])].map((h) => ({ host: h, item }));
  },
  targetFacet: { anyOf: ['registry', 'directory', 'charts'], add: 'registry:, directory: or charts: { dir, baseUrl }', noun: 'Helm charts' },
  async resolve(specs, ctx) {
    // One chart at a time: charts are few and small, and two of them may share a dependency.
    // Each is tried: the charts that resolve still join the lock (and their images get checked).
    let merged: ChartLock[];
    let failures: ResolveFailure[] = [];
    const possible: Array<{ chart: string; images: PossibleImage[] }> = [];
    try {
      const all = await resolveEach(
        specs,
        { progress: ctx.progress, concurrency: 1 },
        (s) => `chart ${s.name} ${s.version}`,
        async (s) => {
          const r = await resolveChart(s, ctx);
          if (r.possible.length) possible.push({ chart: `${r.entries[0].name} ${r.entries[0].version}`, images: r.possible });
          return r.entries;
        },
        // A range (`1.2.x`) says which version it picked.
        (entries) => (entries[0] ? `resolved ${entries[0].version}` : 'resolved'),
      );
      merged = mergeChartLocks(all.flat());
    } catch (err) {
      if (!(err instanceof ResolveFailures)) throw err;
      merged = mergeChartLocks((err.resolved as ChartLock[][]).flat());
      failures = err.failures;
    }
    // Charts that are one archive name apart only in case: failures too, their charts still in the
    // pipeline (their images are checked as well); no lock is written.
    failures = [...failures, ...foldedChartArchives(merged)];
    // Images discovery found only as possible are not carried: said per chart now, not first at the site.
    const carried = new Set([...merged.flatMap((e) => e.images), ...(ctx.listedImages ?? [])]);
    for (const p of possible) {
      const w = possibleImagesWarning(p.chart, p.images, carried);
      if (w) warn(ctx, w);
    }
    if (failures.length) throw new ResolveFailures(failures, merged);
    return merged;
  },
  fetch: fetchChart,
  fetchPlan: chartFetchPlan,
  importTo: importChart,
  importBlobs: importChartBlobs,
  serveRoutes: chartServeRoutes,
  validateImport: validateChartImport,
  importNeeds: chartImportNeeds,
  unlockedTop: unlockedChartTop,
  differentialPayload: async (top, read) => ((await read(top)).layers ?? []).filter((l) => CHART_PAYLOAD.has(l?.mediaType)),
  async heldOnTarget(top, digests, source, target) {
    const held = registryHeld(top, digests, target);
    if (!target.charts) return held;
    const a = await readChartArtifact(top, source);
    const label = artifactLabel(top);
    const file = safeJoin(target.charts.dir, mapChartHttp(a.meta.name, a.meta.version, target.charts).path, label);
    if (digests.has(a.chart.digest)) held.push({ digest: a.chart.digest, label, file });
    if (a.prov && digests.has(a.prov.digest)) held.push({ digest: a.prov.digest, label, file: `${file}.prov` });
    return held;
  },
  references: (entry) => [{ kind: 'chart', upstream: chartOciReference(entry.repo, entry.name, entry.version), repo: entry.repo, name: entry.name, version: entry.version }],
  locations(entry, m) {
    return this.references(entry).map((ref) => {
      const places: Array<Extract<MirrorPlace, { facet: 'registry' | 'charts' }>> = [];
      if (m.registry) places.push({ facet: 'registry', image: mapImage(ref.upstream, m.registry) });
      if (m.charts) places.push({ facet: 'charts', chart: mapChartHttp(ref.name, ref.version, m.charts) });
      return { ref, places };
    });
  },
  // The images a chart deploys (discovered, or its explicit list) join the images, the chart named as their origin.
  contributes: {
    to: 'image',
    from: (entry: ChartLock) => ({ origin: `chart ${entry.name} ${entry.version}`, specs: entry.images.map((ref): ImageSpec => ({ ref, ...(entry.platforms ? { platforms: entry.platforms } : {}) })) }),
  },
  lockDiff: chartLockDiff,
  presentation: {
    countNoun: 'charts',
    countNounOne: 'chart',
    bundleTable: {
      title: 'Helm charts',
      nameColumn: 'Upstream',
      versionColumn: 'Version',
      row: (c) => ({ name: `${trimTrailing(c.repo, '/')}/${c.name}`, version: c.version, digest: c.digest, size: c.size }),
    },
    auditCarried({ specs, registry, target }) {
      const charts = specs
        .map((c) => ({ repo: c.repo, name: c.name, version: c.version, reference: chartOciReference(c.repo, c.name, c.version) }))
        .sort((a, b) => a.reference.localeCompare(b.reference));
      return (r) => {
        // An HTTP repository's URLs; an OCI repository's oci:// references.
        const oci = r.kind === 'oci';
        if (!oci && r.kind !== 'url' && r.kind !== 'apt') return undefined;
        const c = charts.find((x) => x.repo.startsWith('oci://') === oci && isUnderUrl(r.value, x.repo));
        if (!c) return undefined;
        // Helm (and every chart client) fetches a repository URL or oci:// reference as written.
        const asWritten = { why: 'Helm fetches a chart repository URL or oci:// reference as written: nothing redirects it to the mirror', rewrite: '`ferry rewrite manifests` for GitOps objects; elsewhere write the mirror\'s chart reference' };
        if (!target?.registry) return { mirror: undefined, asWritten };
        return { mirror: oci ? mapOciChart(c.repo, c.name, c.version, registry).mirror : mapImage(c.reference, registry).mirror, asWritten };
      };
    },
  },
} satisfies KindModule<ChartSpec, ChartLock, ChartRef, Extract<MirrorPlace, { facet: 'registry' | 'charts' }>>;
