import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { FerryError } from '../../errors.js';
import { loadManifest } from '../schema.js';
import { createNetContext, type NetOptions } from '../../oci/context.js';
import { BlobStore } from '../../store/blob-store.js';
import { withTempDir, withTempDirSync } from '../../store/temp-files.js';
import { silentProgress } from '../../ui/progress.js';
import { discoverChartImages, discoverWithRenderer, userValues, type ChartRenderer, type DiscoverOptions, type DiscoveryResult, type UserValues } from './discover.js';
import { DEFAULT_KUBE_VERSION, documentsFromHelmOutput, type RenderOptions, type RenderResult } from './render/index.js';
import { goJson } from './render/goyaml.js';
import { chartDependencies, loadChart, loadChartDir, readValuesFile, type LoadedChart } from './load.js';
import { locateChart, loadChartFromStore, attachDependencies } from './resolve.js';
import type { ChartSpec } from './spec.js';
import { DEFAULT_CONCURRENCY } from '../../net/concurrency.js';

/**
 * `ferry charts images <chart dir | .tgz | manifest>`: render the chart as `helm template` does
 * (ferry's renderer, or a helm binary with `--render helm`) and report every image the rendered
 * objects run, with where each came from.
 */
export interface ChartImagesEntry extends DiscoveryResult {
  /** Where the chart came from (path, or repo URL for a manifest entry). */
  source?: string;
}

export interface ChartsImagesReport {
  charts: ChartImagesEntry[];
  /** Set when helm was asked for but no helm binary is on PATH (ferry's renderer was used). */
  renderNote?: string;
}

export interface ChartsImagesOptions extends NetOptions {
  values: string[];
  set?: string[];
  setString?: string[];
  kubeVersion?: string;
  apiVersions?: string[];
  namespace?: string;
  releaseName?: string;
  /** `ferry` (default): the built-in renderer; `helm`: a helm binary on PATH. */
  render?: 'ferry' | 'helm';
  concurrency?: number;
}

async function readUserValues(files: string[], baseDir: string): Promise<UserValues[]> {
  const out: UserValues[] = [];
  for (const f of files) {
    const text = await readValuesFile(path.resolve(baseDir, f), { shown: f });
    out.push(userValues(text, f));
  }
  return out;
}

async function isManifestFile(file: string): Promise<boolean> {
  if (!/\.ya?ml$/i.test(file)) return false;
  try {
    const doc = parseYaml(await readFile(file, 'utf8')) as { kind?: unknown } | null;
    return doc?.kind === 'Manifest';
  } catch {
    return false;
  }
}

function helmOnPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, 'helm');
    try {
      if (spawnSync(p, ['version', '--short'], { stdio: 'ignore', timeout: 10_000 }).status === 0) return p;
    } catch {
      /* not there */
    }
  }
  return undefined;
}

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

function discoverOptions(values: UserValues[], opts: ChartsImagesOptions): DiscoverOptions {
  return { values, set: opts.set, setString: opts.setString, kubeVersion: opts.kubeVersion, apiVersions: opts.apiVersions, namespace: opts.namespace, releaseName: opts.releaseName };
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

export async function chartsImagesCommand(input: string, opts: ChartsImagesOptions): Promise<ChartsImagesReport> {
  const abs = path.resolve(input);
  try {
    await stat(abs);
  } catch (err) {
    throw new FerryError('USAGE', `${input}: no such chart directory, archive or manifest`, { cause: err });
  }
  const cliValues = await readUserValues(opts.values, process.cwd());
  const helm = opts.render === 'helm' ? helmOnPath() : undefined;
  const report: ChartsImagesReport = { charts: [] };
  if (opts.render === 'helm' && !helm) report.renderNote = 'no helm binary on PATH: --render helm skipped; ferry\u2019s own renderer was used';

  if (!(await isManifestFile(abs))) {
    const chart = await loadChart(abs, { allFiles: true });
    if ((await stat(abs)).isDirectory()) await attachLocalDependencies(chart, abs);
    if (chartDependencies(chart).some((d) => !chart.subcharts.some((s) => s.metadata.name === d.name))) {
      // Dependencies neither vendored nor on disk: fetch them from their repositories.
      const net = createNetContext(opts);
      try {
        await withTempDir('ferry-charts-', 'the chart dependencies it fetches', async (tmp) => {
          const store = new BlobStore(tmp);
          await store.init();
          await attachDependencies(chart, { name: chart.metadata.name, version: chart.metadata.version }, { store, progress: silentProgress, http: net.http, registry: net.registry });
        });
      } finally {
        await net.close();
      }
    }
    const dopts = discoverOptions(cliValues, opts);
    const result = helm ? discoverWithRenderer(chart, dopts, helmRenderer(helm, abs, chart.metadata.name)) : discoverChartImages(chart, dopts);
    if (result.rendered) result.rendered.renderer = helm ? 'helm' : 'ferry';
    report.charts.push({ ...result, source: input });
    return report;
  }

  const loaded = await loadManifest(abs);
  const net = createNetContext(opts);
  try {
    await withTempDir('ferry-charts-', 'the charts it fetches', async (tmp) => {
      const store = new BlobStore(tmp);
      await store.init();
      const ctx = { manifestDir: loaded.dir, store, progress: silentProgress, concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY, http: net.http, registry: net.registry };
      for (const spec of loaded.manifest.charts as ChartSpec[]) {
        const located = await locateChart(spec, ctx);
        const chart: LoadedChart = await loadChartFromStore(located, ctx);
        await attachDependencies(chart, located, ctx);
        const values = [...(await readUserValues(spec.values ?? [], loaded.dir)), ...cliValues];
        const result = discoverChartImages(chart, discoverOptions(values, opts));
        if (result.rendered) result.rendered.renderer = 'ferry';
        report.charts.push({ ...result, source: `${spec.repo} ${spec.name} ${located.version}` });
      }
    });
  } finally {
    await net.close();
  }
  return report;
}
