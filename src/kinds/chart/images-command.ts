import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { FerryError, unreadableFile } from '../../errors.js';
import { loadManifest } from '../../manifest/load.js';
import { createNetContext, type NetOptions } from '../../oci/context.js';
import { BlobStore } from '../../store/blob-store.js';
import { silentProgress } from '../../ui/progress.js';
import { discoverChartImages, imageRefOf, userValues, type DiscoveryResult, type UserValues } from './discover.js';
import { chartDependencies, loadChart, loadChartDir, type LoadedChart } from './load.js';
import { locateChart, loadChartFromStore, attachDependencies } from './resolve.js';
import type { ChartSpec } from './spec.js';
import { DEFAULT_CONCURRENCY } from '../../net/concurrency.js';

/**
 * `ferry charts images <chart dir | .tgz | manifest>`: discovery over a local chart, or over
 * every chart a manifest names (fetched from its repository into a temporary store).
 */
export interface ChartImagesEntry extends DiscoveryResult {
  /** Where the chart came from (path, or repo URL for a manifest entry). */
  source?: string;
  /** Images only `helm template` produced (with --render and a helm binary). */
  renderedOnly?: string[];
}

export interface ChartsImagesReport {
  charts: ChartImagesEntry[];
  /** Set when --render was asked but no helm binary is on PATH. */
  renderNote?: string;
}

export interface ChartsImagesOptions extends NetOptions {
  values: string[];
  render?: boolean;
  concurrency?: number;
}

async function readUserValues(files: string[], baseDir: string): Promise<UserValues[]> {
  const out: UserValues[] = [];
  for (const f of files) {
    const abs = path.resolve(baseDir, f);
    let text: string;
    try {
      text = await readFile(abs, 'utf8');
    } catch (err) {
      throw unreadableFile(f, 'values file', err);
    }
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

const RENDER_IMAGE = /^\s*-?\s*image:\s*["']?([^"'\s]+)["']?\s*$/gm;

/** `helm template` over a chart directory or archive; the image lines it renders. */
function renderImages(helm: string, chartPath: string, values: string[]): string[] {
  const args = ['template', 'ferry-discovery', chartPath, ...values.flatMap((v) => ['-f', v])];
  const r = spawnSync(helm, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new FerryError('VALIDATION', `helm template ${chartPath} failed: ${(r.stderr || '').trim().split('\n')[0]}`);
  return [...r.stdout.matchAll(RENDER_IMAGE)].map((m) => m[1]);
}

function addRendered(entry: ChartImagesEntry, rendered: string[]): void {
  const known = new Set(entry.images.map((i) => i.ref));
  const only = new Set<string>();
  for (const raw of rendered) {
    const norm = imageRefOf(raw);
    if (norm && !known.has(norm)) only.add(norm);
  }
  entry.renderedOnly = [...only].sort();
}

/**
 * `repository: file://../common` in a chart directory (charts developed side by side): load the
 * dependency from disk when it is not vendored, as `helm dependency build` would copy it.
 */
async function attachLocalDependencies(chart: LoadedChart, dir: string): Promise<void> {
  for (const dep of chartDependencies(chart)) {
    if (!dep.repository?.startsWith('file://') || chart.subcharts.some((s) => s.metadata.name === dep.name)) continue;
    const depDir = path.resolve(dir, dep.repository.slice('file://'.length));
    try {
      const sub = await loadChartDir(depDir, `${chart.where}/charts/${dep.name}`);
      await attachLocalDependencies(sub, depDir);
      chart.subcharts.push(sub);
    } catch (err) {
      throw new FerryError('NOT_FOUND', `chart ${chart.metadata.name} ${chart.metadata.version}: dependency ${dep.name} from ${dep.repository}: no chart at ${depDir}`, {
        cause: err,
        hint: 'Fix the file:// path in Chart.yaml, or vendor the dependency under charts/.',
      });
    }
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
  const helm = opts.render ? helmOnPath() : undefined;
  const report: ChartsImagesReport = { charts: [] };
  if (opts.render && !helm) report.renderNote = 'no helm binary on PATH: --render skipped; the findings come from ferry’s own discovery';

  if (!(await isManifestFile(abs))) {
    const chart = await loadChart(abs);
    if ((await stat(abs)).isDirectory()) await attachLocalDependencies(chart, abs);
    if (chartDependencies(chart).some((d) => !chart.subcharts.some((s) => s.metadata.name === d.name))) {
      // Dependencies neither vendored nor on disk: fetch them from their repositories.
      const tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-charts-'));
      const net = createNetContext(opts);
      try {
        const store = new BlobStore(tmp);
        await store.init();
        await attachDependencies(chart, { name: chart.metadata.name, version: chart.metadata.version }, { store, progress: silentProgress, http: net.http, registry: net.registry });
      } finally {
        await net.close();
        await rm(tmp, { recursive: true, force: true });
      }
    }
    const entry: ChartImagesEntry = { ...discoverChartImages(chart, { values: cliValues }), source: input };
    if (helm) addRendered(entry, renderImages(helm, abs, opts.values));
    report.charts.push(entry);
    return report;
  }

  const loaded = await loadManifest(abs);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-charts-'));
  const net = createNetContext(opts);
  try {
    const store = new BlobStore(tmp);
    await store.init();
    const ctx = { manifestDir: loaded.dir, store, progress: silentProgress, concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY, http: net.http, registry: net.registry };
    for (const spec of loaded.manifest.charts as ChartSpec[]) {
      const located = await locateChart(spec, ctx);
      const chart: LoadedChart = await loadChartFromStore(located, ctx);
      await attachDependencies(chart, located, ctx);
      const values = [...(await readUserValues(spec.values ?? [], loaded.dir)), ...cliValues];
      const entry: ChartImagesEntry = { ...discoverChartImages(chart, { values }), source: `${spec.repo} ${spec.name} ${located.version}` };
      report.charts.push(entry);
    }
  } finally {
    await net.close();
    await rm(tmp, { recursive: true, force: true });
  }
  return report;
}
