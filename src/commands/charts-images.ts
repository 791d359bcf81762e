import { spawnSync } from 'node:child_process';
import { parseHostileYaml } from '../manifest/yaml-input.js';
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FerryError, unreadableFile } from '../errors.js';
import { discoverLocalChart, discoverManifestChart, hasMissingDependencies, loadLocalChart, notChartInput, readUserValues, type ChartRenderFlags, type DiscoveryWithDocuments } from '../kinds/chart/images-discovery.js';
import { imageOrder, type DiscoveryResult, type ImageSource } from '../kinds/chart/discover.js';
import { compileJsonPath, readImagePaths } from '../kinds/chart/discover/jsonpath.js';
import type { LoadedChart } from '../kinds/chart/load.js';
import { fetchRemoteChart, KEYRING_REQUIREMENT, parseRemoteChart, readKeyring, type RemoteChartFlags, type RemoteChartOrigin } from '../kinds/chart/remote.js';
import { attachDependencies, type DependencyVerification } from '../kinds/chart/resolve.js';
import type { ChartSpec } from '../kinds/chart/spec.js';
import { chartLocationHint } from '../kinds/chart/load.js';
import { loadManifest } from '../kinds/schema.js';
import { INPUT_LIMITS, yamlTokensOver } from '../manifest/input-file.js';
import { DEFAULT_CONCURRENCY } from '../net/concurrency.js';
import { createNetContext, type NetContext, type NetOptions } from '../oci/context.js';
import { BlobStore } from '../store/blob-store.js';
import { withTempDir } from '../store/temp-files.js';
import { readRegularFile } from '../store/verified-write.js';
import { silentProgress } from '../ui/progress.js';

/**
 * `ferry charts images <chart dir | .tgz | manifest>`: render the chart as `helm template` does
 * (ferry's renderer, or a helm binary with `--render helm`) and report every image the rendered
 * objects run, with where each came from.
 */
export interface ChartImagesEntry extends DiscoveryResult {
  /** Where the chart came from (path, or repo URL for a manifest entry). */
  source?: string;
  /** A chart fetched from where it is published (oci://, a repository, a URL): what was rendered and its digest. */
  origin?: RemoteChartOrigin;
  /** What its `imagePaths` (a manifest entry's, `--image-path`) could not say, when the chart did not render (else in rendered.warnings). */
  warnings?: string[];
}

export interface ChartsImagesReport {
  charts: ChartImagesEntry[];
  /** Set when helm was asked for but no helm binary is on PATH (ferry's renderer was used). */
  renderNote?: string;
}

export interface ChartsImagesOptions extends NetOptions, ChartRenderFlags, RemoteChartFlags {
  /** Directory the chart, manifest and values paths are relative to (default: the process's). */
  cwd?: string;
  values: string[];
  /** `ferry` (default): the built-in renderer; `helm`: a helm binary on PATH. */
  render?: 'ferry' | 'helm';
  concurrency?: number;
  /** `--image-path`: JSONPath expressions read in the rendered objects of a chart named directly, as a manifest entry's `imagePaths:`. */
  imagePaths?: string[];
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

/** A top-level `kind: Manifest` line, for text too dense to parse (loadManifest then refuses it, naming the limit). */
const MANIFEST_KIND_LINE = /^kind:[ \t]*(["']?)Manifest\1[ \t]*(?:#.*)?$/m;

/**
 * The text of the ferry manifest `abs` is, or undefined when it is not one (a chart directory or
 * archive). Only a `.yaml`/`.yml` file is read: once, at most the size a manifest may have,
 * through a descriptor checked to be a regular file (a FIFO is refused, never waited on; a link
 * to /dev/zero is not read without bound); the text goes on to loadManifest, not read again.
 */
async function manifestText(abs: string, shown: string): Promise<string | undefined> {
  if (!/\.ya?ml$/i.test(abs)) return undefined;
  const read = await readRegularFile(abs, INPUT_LIMITS.yamlBytes, { follow: true });
  if (!Buffer.isBuffer(read)) {
    if (read.why === 'directory') return undefined;
    if (read.why === 'special') throw notChartInput(shown, read.reason.replace(/, not read$/, ''));
    if (read.why === 'too-large') {
      throw new FerryError('VALIDATION', `${shown}: ${read.reason}, more than the ${INPUT_LIMITS.yamlBytes / 1024} KiB ferry reads of a manifest (and a .yaml file is not a packaged chart)`, {
        hint: 'Name a ferry manifest, a chart directory or a packaged chart (.tgz).',
      });
    }
    throw unreadableFile(shown, 'manifest', read.err);
  }
  const text = read.toString('utf8');
  // The parse is bounded as a manifest's is: past the token limit it is not run.
  if (yamlTokensOver(text, INPUT_LIMITS.yamlTokens)) return MANIFEST_KIND_LINE.test(text) ? text : undefined;
  try {
    return (parseHostileYaml(text, { duplicates: 'refuse' }) as { kind?: unknown } | null)?.kind === 'Manifest' ? text : undefined;
  } catch {
    return undefined;
  }
}

/** Dependencies neither vendored nor on disk, fetched from their repositories into a store that is removed after (with `verify`, each held to its keys). */
async function attachMissingDependencies(chart: LoadedChart, net: NetContext, verify?: DependencyVerification): Promise<void> {
  if (!hasMissingDependencies(chart)) return;
  await withTempDir('ferry-charts-', 'the chart dependencies it fetches', async (tmp) => {
    const store = new BlobStore(tmp);
    await store.init();
    await attachDependencies(chart, { name: chart.metadata.name, version: chart.metadata.version }, { store, progress: silentProgress, http: net.http, registry: net.registry }, verify);
  });
}

/** The most `--image-path` expressions, as a manifest entry's `imagePaths:` takes. */
const MAX_IMAGE_PATHS = 64;

/** `--image-path` expressions checked as a manifest entry's `imagePaths:` are: each one ferry evaluates, at most MAX_IMAGE_PATHS. */
function checkImagePaths(paths: readonly string[]): void {
  if (paths.length > MAX_IMAGE_PATHS) throw new FerryError('USAGE', `--image-path given ${paths.length} times: at most ${MAX_IMAGE_PATHS}`);
  for (const p of paths) {
    const c = compileJsonPath(p);
    if ('problem' in c) {
      throw new FerryError('USAGE', `--image-path ${JSON.stringify(p)}: not a JSONPath ferry evaluates: ${c.problem}`, {
        hint: "Write one {…} path of fields, ['a.b'], [*], [n], ..field and [?(@.f == 'v')], e.g. \"{.spec.template.spec.containers[*].env[?(@.name == 'SIDECAR')].value}\".",
      });
    }
  }
}

/**
 * A chart's `imagePaths` read in the objects of its render as lock reads them (readImagePaths: the
 * same images, the same warnings), its findings joined to the discovered images: an image only
 * they find is listed as certain (lock carries it), one discovery found gains their source, each
 * source naming the path (`imagePaths <path>`) and where it was given (`file`).
 */
function withImagePaths(found: DiscoveryWithDocuments, paths: readonly string[], file: string, values: string): ChartImagesEntry {
  const { result, documents } = found;
  const entry: ChartImagesEntry = result;
  if (!paths.length) return entry;
  const { name, version } = result.chart;
  const renderError = result.renderError ?? (result.rendered ? undefined : 'not rendered');
  const read = readImagePaths(paths, documents, renderError, `chart ${name} ${version}`, values);
  if (result.rendered) result.rendered.warnings.push(...read.warnings);
  else if (read.warnings.length) entry.warnings = read.warnings;
  const byRef = new Map(result.images.map((i) => [i.ref, i]));
  for (const [ref, ps] of read.found) {
    const sources: ImageSource[] = ps.map((p) => ({ kind: 'image-path', chart: name, chartName: name, chartVersion: version, scope: [], file, imagePath: p, certainty: 'certain' }));
    const img = byRef.get(ref);
    if (img) {
      // Deployed after all (the path reads it in what the values render), not just possible, as lock counts it.
      img.certainty = 'certain';
      img.sources.push(...sources);
    } else result.images.push({ ref, certainty: 'certain', sources });
  }
  result.images.sort(imageOrder);
  return entry;
}

export async function chartsImagesCommand(input: string, opts: ChartsImagesOptions): Promise<ChartsImagesReport> {
  const cwd = opts.cwd ?? process.cwd();
  const imagePaths = opts.imagePaths ?? [];
  checkImagePaths(imagePaths);
  const given = 'the values given';
  const remote = parseRemoteChart(input, { chart: opts.chart, version: opts.version });
  const abs = path.resolve(cwd, input);
  const keys = opts.keyring !== undefined ? await readKeyring(opts.keyring, cwd, remote, input) : undefined;
  if (!remote) {
    try {
      await stat(abs);
    } catch (err) {
      throw new FerryError('USAGE', `${input}: no such chart directory, archive or manifest`, { cause: err, hint: chartLocationHint(input) });
    }
  }
  const cliValues = await readUserValues(opts.values, cwd);
  const helm = opts.render === 'helm' ? helmOnPath() : undefined;
  const report: ChartsImagesReport = { charts: [] };
  if (opts.render === 'helm' && !helm) report.renderNote = 'no helm binary on PATH: --render helm skipped; ferry\u2019s own renderer was used';
  const flags: ChartRenderFlags = { set: opts.set, setString: opts.setString, kubeVersion: opts.kubeVersion, apiVersions: opts.apiVersions, namespace: opts.namespace, releaseName: opts.releaseName };

  if (remote) {
    const net = createNetContext(opts);
    try {
      const { chart, archive, origin } = await fetchRemoteChart(remote, net, keys);
      // --keyring holds the dependencies the chart does not vendor too, as `helm dependency build --verify` does.
      await attachMissingDependencies(chart, net, keys ? { keys, requiredBy: KEYRING_REQUIREMENT } : undefined);
      const discover = (chartPath: string): ChartImagesEntry => ({ ...withImagePaths(discoverLocalChart(chart, chartPath, cliValues, flags, helm), imagePaths, '--image-path', given), source: origin.reference, origin });
      // helm renders a file: the verified archive, in a directory removed after (never the reference, which helm would fetch again unchecked).
      const entry = helm
        ? await withTempDir('ferry-charts-', 'the verified chart archive for helm', async (tmp) => {
            const file = path.join(tmp, 'chart.tgz');
            await writeFile(file, archive);
            return discover(file);
          })
        : discover(origin.reference);
      report.charts.push(entry);
    } finally {
      await net.close();
    }
    return report;
  }

  const text = await manifestText(abs, input);
  if (text === undefined) {
    const chart = await loadLocalChart(abs, input);
    if (hasMissingDependencies(chart)) {
      const net = createNetContext(opts);
      try {
        await attachMissingDependencies(chart, net);
      } finally {
        await net.close();
      }
    }
    report.charts.push({ ...withImagePaths(discoverLocalChart(chart, abs, cliValues, flags, helm), imagePaths, '--image-path', given), source: input });
    return report;
  }

  if (imagePaths.length) {
    throw new FerryError('USAGE', `--image-path is for a chart named directly; ${input} is a manifest`, { hint: 'Write the paths under imagePaths: on the chart entries of the manifest (lock reads them there too).' });
  }
  const loaded = await loadManifest(abs, text);
  const net = createNetContext(opts);
  try {
    await withTempDir('ferry-charts-', 'the charts it fetches', async (tmp) => {
      const store = new BlobStore(tmp);
      await store.init();
      const ctx = { manifestDir: loaded.dir, store, progress: silentProgress, concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY, http: net.http, registry: net.registry };
      for (const spec of loaded.manifest.charts as ChartSpec[]) {
        const { source, ...found } = await discoverManifestChart(spec, ctx, cliValues, flags);
        report.charts.push({ ...withImagePaths(found, spec.imagePaths ?? [], input, "the manifest's values"), source });
      }
    });
  } finally {
    await net.close();
  }
  return report;
}
