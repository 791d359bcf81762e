import { spawnSync } from 'node:child_process';
import { constants as fsc, writeFileSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { FerryError, unreadableFile } from '../../errors.js';
import { specialKind } from '../../store/verified-write.js';
import { withTempDirSync } from '../../store/temp-files.js';
import { discoverWithDocuments, discoverWithRenderer, userValues, type ChartRenderer, type DiscoverOptions, type DiscoveryResult, type UserValues } from './discover.js';
import { DEFAULT_KUBE_VERSION, documentsFromHelmOutput, type RenderedDocument, type RenderOptions, type RenderResult } from './render/index.js';
import { goJson } from './render/goyaml.js';
import { chartDependencies, loadChartDir, loadChartStream, readValuesFile, type LoadedChart } from './load.js';
import { attachDependencies, loadChartFromStore, locateChart } from './resolve.js';
import type { ChartSpec } from './spec.js';
import type { KindContext } from '../types.js';

/**
 * What `ferry charts images` (src/commands/charts-images.ts) asks of the chart kind: load a chart
 * from a directory or a packaged .tgz (its `file://` dependencies with it), and render a chart as
 * `helm template` does (ferry's renderer, or a helm binary) to report every image it runs.
 */

/** How a chart is rendered, as `helm template`'s flags say it (the values files apart: read by the command). */
export type ChartRenderFlags = Pick<DiscoverOptions, 'set' | 'setString' | 'kubeVersion' | 'apiVersions' | 'namespace' | 'releaseName'>;

/** `helm template` as a ChartRenderer: values objects go to temporary files, the output is read back. */
function helmRenderer(helm: string, chartPath: string, chartName: string): ChartRenderer {
  return (o: RenderOptions): RenderResult => {
    return withTempDirSync('ferry-helm-', 'the values files for helm', (dir) => {
      const args = ['template', o.releaseName ?? 'release-name', chartPath, '--namespace', o.namespace ?? 'default', '--kube-version', o.kubeVersion ?? DEFAULT_KUBE_VERSION];
      (o.values ?? []).forEach((v, i) => {
        const f = path.join(dir, `values-${i}.yaml`);
        writeFileSync(f, typeof v.data === 'string' ? v.data : goJson(v.data));
        args.push('-f', f);
      });
      for (const s of o.set ?? []) args.push('--set', s);
      for (const s of o.setString ?? []) args.push('--set-string', s);
      for (const a of o.apiVersions ?? []) args.push('--api-versions', a);
      const r = spawnSync(helm, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
      if (r.status !== 0) throw new FerryError('VALIDATION', `chart ${chartName}: helm template failed: ${(r.stderr || '').trim().split('\n')[0]}`);
      return { chart: { name: chartName, version: '' }, documents: documentsFromHelmOutput(r.stdout), values: {}, disabled: [], missingDependencies: [], warnings: (r.stderr || '').trim() ? [(r.stderr || '').trim()] : [], kubeVersion: o.kubeVersion ?? DEFAULT_KUBE_VERSION };
    });
  };
}

/** The most charts `file://` dependencies may load for one command (each level of a lattice of them doubles the loads). */
export const MAX_LOCAL_DEPENDENCY_LOADS = 1000;

/**
 * `repository: file://../common` in a chart directory (charts developed side by side): load the
 * dependency from disk when it is not vendored, as `helm dependency build` would copy it. A
 * dependency on a directory already being loaded (a cycle: a → ../b → ../a) is refused, naming
 * the chain (it loaded forever); so are more than MAX_LOCAL_DEPENDENCY_LOADS loads in all.
 */
async function attachLocalDependencies(chart: LoadedChart, dir: string, chain: string[] = [path.resolve(dir)], loads = { n: 0 }): Promise<void> {
  for (const dep of chartDependencies(chart)) {
    if (!dep.repository?.startsWith('file://') || chart.subcharts.some((s) => s.metadata.name === dep.name)) continue;
    const depDir = path.resolve(dir, dep.repository.slice('file://'.length));
    if (chain.includes(depDir)) {
      throw new FerryError('VALIDATION', `chart ${chart.metadata.name} ${chart.metadata.version}: dependency ${dep.name} from ${dep.repository} is a cycle: ${[...chain, depDir].join(' → ')}`, {
        hint: 'Helm cannot build this chart either; remove the dependency that leads back.',
      });
    }
    if (++loads.n > MAX_LOCAL_DEPENDENCY_LOADS) {
      throw new FerryError('VALIDATION', `chart ${chart.metadata.name} ${chart.metadata.version}: file:// dependencies load more than ${MAX_LOCAL_DEPENDENCY_LOADS} charts; refusing to load ${depDir}`, {
        hint: 'The charts depend on each other in a lattice whose loads double at each level; vendor the dependencies under charts/ (helm dependency build).',
      });
    }
    let sub: LoadedChart;
    try {
      sub = await loadChartDir(depDir, `${chart.where}/charts/${dep.name}`, { allFiles: true });
    } catch (err) {
      const what = `chart ${chart.metadata.name} ${chart.metadata.version}: dependency ${dep.name} from ${dep.repository}`;
      // A chart that is there but does not load is named with its own problem, not as missing.
      if (err instanceof FerryError && (await stat(path.join(depDir, 'Chart.yaml')).then((s) => s.isFile(), () => false))) {
        throw new FerryError(err.code, `${what}: the chart at ${depDir} cannot be loaded: ${err.message}`, { cause: err, details: err.details, hint: err.hint ?? 'Fix that chart, or vendor the dependency under charts/.' });
      }
      throw new FerryError('NOT_FOUND', `${what}: no chart at ${depDir}`, {
        cause: err,
        hint: 'Fix the file:// path in Chart.yaml, or vendor the dependency under charts/.',
      });
    }
    await attachLocalDependencies(sub, depDir, [...chain, depDir], loads);
    chart.subcharts.push(sub);
  }
}

/** The user's values files (`-f`, a manifest entry's `values:`), each relative to `baseDir`, in order. */
export async function readUserValues(files: readonly string[], baseDir: string): Promise<UserValues[]> {
  const out: UserValues[] = [];
  for (const f of files) {
    const text = await readValuesFile(path.resolve(baseDir, f), { shown: f });
    out.push(userValues(text, f));
  }
  return out;
}

/**
 * A chart directory or packaged chart (.tgz) a user names, with the `file://` dependencies of a
 * directory. Opened once without waiting (a FIFO's open would block until a writer came, and no
 * signal ends it) and checked through that descriptor: a FIFO, socket or device is refused,
 * never read (/dev/zero was read as an endless archive).
 */
export async function loadLocalChart(abs: string, shown: string): Promise<LoadedChart> {
  let fh;
  try {
    fh = await open(abs, fsc.O_RDONLY | fsc.O_NONBLOCK);
  } catch (err) {
    throw unreadableFile(shown, 'chart', err);
  }
  const st = await fh.stat().catch(async (err: unknown) => {
    await fh.close();
    throw err;
  });
  if (st.isDirectory()) {
    await fh.close();
    const chart = await loadChartDir(abs, undefined, { allFiles: true });
    await attachLocalDependencies(chart, abs);
    return chart;
  }
  if (!st.isFile()) {
    await fh.close();
    throw notChartInput(shown, specialKind(st));
  }
  const stream = fh.createReadStream();
  try {
    return await loadChartStream(stream, path.basename(abs), { allFiles: true });
  } finally {
    stream.destroy();
  }
}

/** The refusal of a path that is neither a directory nor a regular file (a FIFO, a socket, a device). */
export function notChartInput(shown: string, what: string): FerryError {
  return new FerryError('USAGE', `${shown}: ${what}, not read: not a chart directory, packaged chart or manifest`, {
    hint: 'Name a chart directory, a packaged chart (.tgz, as `helm package` writes it) or a ferry manifest (a regular file).',
  });
}

/** Whether the chart names dependencies neither vendored under charts/ nor loaded from a file:// path. */
export function hasMissingDependencies(chart: LoadedChart): boolean {
  return chartDependencies(chart).some((d) => !chart.subcharts.some((s) => s.metadata.name === d.name));
}

/** A render's findings with the objects of its first render (the user's values; later ones probe): what `imagePaths` are read in. */
export interface DiscoveryWithDocuments {
  result: DiscoveryResult;
  documents: RenderedDocument[];
}

/**
 * Every image a chart loaded from `chartPath` runs, rendered by ferry or, given `helm` (a helm
 * binary), by `helm template`; the result says which rendered it.
 */
export function discoverLocalChart(chart: LoadedChart, chartPath: string, values: UserValues[], flags: ChartRenderFlags, helm?: string): DiscoveryWithDocuments {
  const opts: DiscoverOptions = { values, ...flags };
  let found: DiscoveryWithDocuments;
  if (helm) {
    let documents: RenderedDocument[] | undefined;
    const render = helmRenderer(helm, chartPath, chart.metadata.name);
    const result = discoverWithRenderer(chart, opts, (o) => {
      const r = render(o);
      documents ??= r.documents;
      return r;
    });
    found = { result, documents: documents ?? [] };
  } else found = discoverWithDocuments(chart, opts);
  if (found.result.rendered) found.result.rendered.renderer = helm ? 'helm' : 'ferry';
  return found;
}

/**
 * Every image one chart of a manifest runs: located in its repository, fetched into `ctx.store`
 * with its dependencies, rendered by ferry with its own values files (relative to the manifest)
 * and then `extraValues` (the command line's). `source` names where it came from.
 */
export async function discoverManifestChart(
  spec: ChartSpec,
  ctx: Pick<KindContext, 'manifestDir' | 'store' | 'http' | 'registry' | 'progress'>,
  extraValues: UserValues[],
  flags: ChartRenderFlags,
): Promise<DiscoveryWithDocuments & { source: string }> {
  const located = await locateChart(spec, ctx);
  const chart = await loadChartFromStore(located, ctx);
  await attachDependencies(chart, located, ctx);
  const values = [...(await readUserValues(spec.values ?? [], ctx.manifestDir)), ...extraValues];
  const { result, documents } = discoverWithDocuments(chart, { values, ...flags });
  if (result.rendered) result.rendered.renderer = 'ferry';
  return { result, documents, source: `${spec.repo} ${spec.name} ${located.version}` };
}
