import { chartOciReference } from '../../mapping/index.js';
import { ResolveFailures, resolveEach } from '../failures.js';
import type { Kind, UpstreamRef } from '../types.js';
import { chartFetchPlan, fetchChart } from './fetch.js';
import { importChart, validateChartImport } from './import.js';
import type { ChartLock } from './lock.js';
import { mergeChartLocks, resolveChart } from './resolve.js';
import type { ChartSpec } from './spec.js';

export { discoverChartImages, type DiscoveryResult, type DiscoveredImage, type ImageSource } from './discover.js';
export { loadChart, loadChartDir, loadChartArchive } from './load.js';

/** Helm charts from HTTP and OCI repositories, their non-vendored dependencies, and the images they deploy. */
export const chartKind: Kind<ChartSpec, ChartLock> = {
  name: 'chart',
  async resolve(specs, ctx) {
    // One chart at a time: charts are few and small, and two of them may share a dependency.
    // Each is tried: the charts that resolve still join the lock (and their images get checked).
    try {
      const all = await resolveEach(specs, { progress: ctx.progress, concurrency: 1 }, (s) => `chart ${s.name} ${s.version}`, async (s) => (await resolveChart(s, ctx)).entries);
      return mergeChartLocks(all.flat());
    } catch (err) {
      if (err instanceof ResolveFailures) throw new ResolveFailures(err.failures, mergeChartLocks((err.resolved as ChartLock[][]).flat()));
      throw err;
    }
  },
  fetch: fetchChart,
  fetchPlan: chartFetchPlan,
  importTo: importChart,
  validateImport: validateChartImport,
  references(entry): UpstreamRef[] {
    // The image-like reference the mapping places (registry/layout), the same one the bundle names it by.
    return [{ kind: 'chart', upstream: chartOciReference(entry.repo, entry.name, entry.version) }];
  },
};
