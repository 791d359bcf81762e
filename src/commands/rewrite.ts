import path from 'node:path';
import { FerryError } from '../errors.js';
import { loadTarget } from '../manifest/load.js';
import { readLock } from '../kinds/schema.js';
import type { Lock } from '../kinds/schema.js';
import { rewriteAptSources } from '../rewrite/apt-sources.js';
import { rewriteCatalogue, type CatalogueFormat } from '../rewrite/catalogue.js';
import { rewriteChart, type ChartRewriteResult, type RewriteChartOptions } from '../rewrite/chart.js';
import { createRewriteContext, type RewriteContext } from '../rewrite/context.js';
import type { RewriteResult } from '../rewrite/edits.js';
import { rewriteManifests } from '../rewrite/manifests.js';
import { mirrorConfig, type MirrorConfigResult } from '../rewrite/mirror-config.js';
import { rewriteValues, type ValuesRewriteResult } from '../rewrite/values.js';
import { bundleFrom, lockInBundle, pathFrom } from './inputs.js';
import { createNetContext, type NetOptions } from '../oci/context.js';
import { fetchRemoteChart, parseRemoteChart, readKeyring, type RemoteChartFlags, type RemoteChartOrigin } from '../kinds/chart/remote.js';
import { cacheArchives, type ChartArchives } from '../audit/charts.js';
import { openBundleSource, type BundleSource } from '../store/open-bundle.js';
import { bundleArchives } from './audit.js';
import { defaultCacheDir } from './lock.js';

/**
 * `ferry rewrite <what>` and `ferry mirror-config`: read the target and the lock once, build the
 * rewrite context, and hand it to the mechanics in src/rewrite. Every result carries its
 * warnings; nothing here prints.
 */

/** Where the mirror is and what it holds: the target, and the lock from a lock file or a bundle. */
export interface RewriteSources {
  target: string;
  lock?: string;
  bundle?: string;
  /** Relative paths are resolved from here (default: the process's directory). */
  cwd?: string;
  /** How to reach a bundle in a registry (`oci://…`): CAs, plain-HTTP hosts. */
  net?: NetOptions;
}

export interface RewriteCommandOptions extends RewriteSources {
  /** Print the diff instead of writing. */
  dryRun?: boolean;
  /** Rewrite what the mirror covers and report the rest instead of failing. */
  allowUnmapped?: boolean;
}

export async function loadRewriteContext(src: RewriteSources): Promise<RewriteContext> {
  return (await openRewriteContext(src, false)).ctx;
}

/**
 * The rewrite context, and with `keepBundle` the bundle it read the lock from, still open: a
 * command that reads more of the bundle (the chart archives) reads it from that one opening, so
 * the lock and the archives are one bundle's, and an `oci://` bundle is fetched once.
 */
async function openRewriteContext(src: RewriteSources, keepBundle: boolean): Promise<{ ctx: RewriteContext; source?: BundleSource }> {
  const cwd = src.cwd ?? process.cwd();
  const { target, file } = await loadTarget(path.resolve(cwd, src.target));
  let lock: Lock | undefined;
  if (src.bundle && src.lock) throw new FerryError('USAGE', 'give either --lock or --bundle, not both');
  if (src.bundle) {
    const source = await openBundleSource(bundleFrom(cwd, src.bundle), src.net);
    let kept = false;
    try {
      const ctx = createRewriteContext(target, await lockInBundle(source, src.bundle), file);
      kept = keepBundle;
      return kept ? { ctx, source } : { ctx };
    } finally {
      if (!kept) await source.close();
    }
  }
  if (src.lock) {
    const abs = path.resolve(cwd, src.lock);
    lock = await readLock(abs);
    if (!lock) throw new FerryError('USAGE', `${abs}: no such lock file`, { hint: 'Run `ferry lock <manifest>` first, or pass the bundle with --bundle.' });
  } else {
    throw new FerryError('USAGE', 'no --lock <file> or --bundle <tar>: ferry needs one of them to know what the mirror holds', {
      hint: 'Pass the lock `ferry lock` wrote beside the manifest (<name>.lock.json), or the bundle .tar that was imported.',
    });
  }
  return { ctx: createRewriteContext(target, lock, file) };
}

function at(opts: RewriteSources): (p: string) => string {
  const cwd = opts.cwd ?? process.cwd();
  return (p) => pathFrom(cwd, p);
}

const optional = (resolve: (p: string) => string, p: string | undefined) => (p === undefined ? undefined : resolve(p));

/** Helm values: a minimal override (returned, and written with `output`) or the files edited in place. */
export async function rewriteValuesCommand(files: string[], opts: RewriteCommandOptions & { output?: string; inPlace?: boolean }): Promise<ValuesRewriteResult> {
  const ctx = await loadRewriteContext(opts);
  const p = at(opts);
  return rewriteValues(files.map(p), ctx, { output: optional(p, opts.output), inPlace: opts.inPlace, dryRun: opts.dryRun, allowUnmapped: opts.allowUnmapped });
}

/**
 * One override for a chart and its subcharts, and optionally its Chart.yaml dependencies pointed at
 * the mirror. The chart is on disk, or fetched (verified, in memory) from oci://, a repository
 * (`--chart`) or a URL through the same network settings as a bundle in a registry; `origin`
 * says which archive was rendered.
 */
export async function rewriteChartCommand(
  chart: string,
  opts: RewriteCommandOptions & RemoteChartFlags & { output?: string; values?: string[]; chartYaml?: boolean; render?: RewriteChartOptions['render'] },
): Promise<ChartRewriteResult & { origin?: RemoteChartOrigin }> {
  const remote = parseRemoteChart(chart, { chart: opts.chart, version: opts.version });
  const keys = opts.keyring !== undefined ? await readKeyring(opts.keyring, opts.cwd ?? process.cwd(), remote, chart) : undefined;
  const ctx = await loadRewriteContext(opts);
  const p = at(opts);
  const common = { output: optional(p, opts.output), values: (opts.values ?? []).map(p), render: opts.render, dryRun: opts.dryRun, allowUnmapped: opts.allowUnmapped, chartYaml: opts.chartYaml };
  if (!remote) return rewriteChart(p(chart), ctx, common);
  if (opts.chartYaml) throw new FerryError('USAGE', `--chart-yaml: ${chart} is fetched, not a chart directory; --chart-yaml edits the Chart.yaml of a chart directory on disk`, { hint: 'Drop --chart-yaml, or run it on the chart\'s source directory.' });
  const net = createNetContext(opts.net);
  let fetched;
  try {
    fetched = await fetchRemoteChart(remote, net, keys);
  } finally {
    await net.close();
  }
  const result = await rewriteChart(fetched.origin.reference, ctx, { ...common, loaded: fetched.chart });
  return { ...result, origin: fetched.origin };
}

/**
 * Kubernetes YAML in place: every workload's containers, and image keys in custom resources. The
 * charts GitOps objects install are read as `audit` reads them (the bundle's blobs, or the download
 * cache), so the images their own defaults name move in the objects' values too.
 */
export async function rewriteManifestsCommand(paths: string[], opts: RewriteCommandOptions & { cacheDir?: string }): Promise<RewriteResult> {
  if (opts.bundle && opts.cacheDir !== undefined) {
    throw new FerryError('USAGE', `--cache-dir ${opts.cacheDir} with --bundle ${opts.bundle}: the chart archives are read from the bundle, so the cache would not be read`, {
      hint: 'Drop --cache-dir (the bundle carries the charts it locks), or give --lock <lock file> with --cache-dir.',
    });
  }
  const cwd = opts.cwd ?? process.cwd();
  const { ctx, source } = await openRewriteContext(opts, true);
  const run = (archives: ChartArchives, lockFile: string) => rewriteManifests(paths.map(at(opts)), ctx, { dryRun: opts.dryRun, allowUnmapped: opts.allowUnmapped, archives, lockFile });
  if (!source || !opts.bundle) return run(cacheArchives(opts.cacheDir ? path.resolve(cwd, opts.cacheDir) : defaultCacheDir()), opts.lock ?? 'the lock');
  try {
    return await run(bundleArchives(source, opts.bundle), `${opts.bundle} (ferry/lock.json)`);
  } finally {
    await source.close();
  }
}

/** URLs of mirrored files in a catalogue replaced with their mirror URL. */
export async function rewriteCatalogueCommand(file: string, opts: RewriteCommandOptions & { format?: CatalogueFormat; output?: string }): Promise<RewriteResult> {
  const ctx = await loadRewriteContext(opts);
  const p = at(opts);
  return rewriteCatalogue(p(file), ctx, { format: opts.format, output: optional(p, opts.output), dryRun: opts.dryRun, allowUnmapped: opts.allowUnmapped });
}

/** APT sources (one-line and deb822) pointed at the mirror; Signed-By at the site key where re-signed. */
export async function rewriteAptSourcesCommand(files: string[], opts: RewriteCommandOptions & { signedBy?: string; output?: string }): Promise<RewriteResult> {
  const ctx = await loadRewriteContext(opts);
  const p = at(opts);
  return rewriteAptSources(files.map(p), ctx, { signedBy: opts.signedBy, output: optional(p, opts.output), dryRun: opts.dryRun, allowUnmapped: opts.allowUnmapped });
}

export interface MirrorConfigCommandOptions extends RewriteSources {
  /** Directory to write the files into (default: return them only). */
  output?: string;
  /** Compute the diff against the files in `output`; write nothing. */
  dryRun?: boolean;
  /** containerd: certs.d location on the nodes. */
  configPath?: string;
  /** Extra upstream registries to send to the mirror. */
  registries?: string[];
  /** idms/itms: mirrorSourcePolicy NeverContactSource. */
  neverContactSource?: boolean;
}

/** `ferry mirror-config <format>`: runtime configuration so nodes pull upstream-named images from the mirror. */
export async function mirrorConfigCommand(format: string, opts: MirrorConfigCommandOptions): Promise<MirrorConfigResult> {
  if (opts.dryRun && !opts.output) throw new FerryError('USAGE', '--dry-run compares with the files in -o <dir>; give -o');
  const ctx = await loadRewriteContext(opts);
  return mirrorConfig(format, ctx, { output: optional(at(opts), opts.output), dryRun: opts.dryRun, configPath: opts.configPath, registries: opts.registries, neverContactSource: opts.neverContactSource });
}
