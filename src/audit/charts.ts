import path from 'node:path';
import { FerryError } from '../errors.js';
import { parseImageReference } from '../oci/reference.js';
import { findRenderedImages, normalizeRef } from '../kinds/chart/discover/index.js';
import type { ChartLock } from '../kinds/chart/lock.js';
import { chartDependencies, loadChartDir, loadChartStream, MAX_CHART_BYTES, type LoadedChart } from '../kinds/chart/load.js';
import { goYamlMarshal, parseGoYaml, parseSet, renderChart } from '../kinds/chart/render/index.js';
import { isMap as isGoMap } from '../kinds/chart/render/govalue.js';
import type { ChartSpec } from '../kinds/chart/spec.js';
import { BlobStore } from '../store/blob-store.js';
import type { LoadedManifest, Lock } from '../kinds/schema.js';
import type { LoadedTarget } from '../manifest/load.js';
import { auditReferences, keyMatches, NO_DEFAULT_ENDPOINT_KEY, type AuditReport } from './audit.js';
import type { ConnectionModel } from './model.js';
import { MAX_BYTES, MAX_VALUES_SOURCE_BYTES, redactUrlsIn, scanPaths, type Reference, type ScanResult, type ScannedGitOpsRelease, type ScannedHelmChart } from './scan.js';
import type { GitOpsRelease, ValuesSource, ValuesStep } from './gitops-releases.js';
import { kustomizationPath, kustomizeChartDir, kustomizeHelmChartsOf, pullHint, type KustomizeHelmChart } from './kustomize-helm.js';
import { isKustomizationFile, kustomizeScopesOf, overridesText, type KustomizeScopes } from './kustomize.js';
import { readRegularFile } from '../store/verified-write.js';
import { lstat } from 'node:fs/promises';
import { archiveChart, carriedVersion, chartsFrom, mirrorChartSource, onMirror, sourceRepo } from './chart-sources.js';
import { mapChartHttp, registryMappingFor } from '../mapping/index.js';
import type { MirrorTarget } from '../manifest/target.js';
import { trimTrailing } from '../ui/escape.js';
import { Readable } from 'node:stream';

/**
 * Charts the manifest names, rendered with the Helm values found in the scanned tree, so an image
 * hard-coded in a template is audited like any scanned reference.
 *
 * Which scanned file is values for which chart (the rule the README states):
 * - a file the chart's manifest entry lists under `values:` (relative to the manifest); the listed
 *   files found in the scan are rendered together, in the manifest's order;
 * - otherwise, a YAML file named `values.yaml` / `values-*.yaml` / `*-values.yaml` /
 *   `*.values.yaml` (or `.yml`) whose directory is named after the chart (`nats/values-prod.yaml`),
 *   or named `<chart>-values.yaml`, `values-<chart>.yaml`, `<chart>.values.yaml` anywhere; each
 *   such file is rendered on its own.
 * A file in a directory that holds a Chart.yaml is that chart's own defaults, never deploy values.
 *
 * The chart comes from the lock (`<name>.lock.json` beside the manifest: the pinned version and
 * archive digest) and the download cache `ferry lock` / `ferry bundle create` fill; nothing is
 * fetched. A chart that cannot be rendered (not locked, archive not in the cache, a render error)
 * is reported, never skipped.
 */
export interface ChartRender {
  chart: string;
  version?: string;
  /** Values files (as scanned) the chart was rendered with, in order. */
  values: string[];
  status: 'rendered' | 'not-rendered';
  /** Why not rendered. */
  reason?: string;
  /** Image references the rendered objects run (before the ones already found in the values files were dropped). */
  images: number;
  /**
   * What the render assumed or ignored, as Helm warns (the Kubernetes version it rendered for when
   * the chart's kubeVersion refused the default, a values key it skipped): the images were found
   * under these. Absent when the render said nothing.
   */
  warnings?: string[];
}

/** At most this many warnings are kept per render (a crafted chart can warn per values key); the last one counts the rest. */
export const MAX_RENDER_WARNINGS = 20;

/** A render's warnings on its record: distinct, at most MAX_RENDER_WARNINGS. */
function noteWarnings(render: ChartRender, warnings: readonly string[]): void {
  const distinct = [...new Set(warnings)];
  if (!distinct.length) return;
  render.warnings = distinct.length > MAX_RENDER_WARNINGS ? [...distinct.slice(0, MAX_RENDER_WARNINGS - 1), `… and ${distinct.length - MAX_RENDER_WARNINGS + 1} more warnings of this render`] : distinct;
}

export interface RenderedCharts {
  renders: ChartRender[];
  references: Reference[];
  /**
   * Chart directories a kustomization's `helmCharts:` inflates and that were rendered (scan-relative):
   * their files are the chart, audited by its render, not line by line (a vendored chart's changelog
   * URLs, CI values and README are no connection of the site).
   */
  renderedDirs: string[];
  /**
   * Untagged images of a release's values (`tagFrom`: a repository with no tag beside it) whose
   * repository the audit's own render of that release pulls at one tag: that image, and the render
   * (null: two renders of it disagree, the tag stays unknown).
   */
  untagged: Map<Reference, { ref: string; from: string } | null>;
}

const VALUES_NAME = /^(values|values[-.].+|.+[-.]values)\.ya?ml$/i;

/** `file` is named as chart `n`'s values file (`<n>/values.yaml`, `<n>-values.yaml`, `values-<n>.yaml`, `<n>.values.yaml`). */
function valuesNamedFor(n: string, file: string): boolean {
  const base = path.posix.basename(file).toLowerCase();
  const stem = base.replace(/\.ya?ml$/, '');
  const dir = path.posix.basename(path.posix.dirname(file)).toLowerCase();
  const byDir = dir === n && VALUES_NAME.test(base);
  const byName = stem === `${n}-values` || stem === `values-${n}` || stem === `${n}.values`;
  return byDir || byName;
}

/** The values files in a scan for each manifest chart, by the rule above. */
export function associateValues(charts: ChartSpec[], scan: ScanResult, manifestDir: string, cwd: string): Array<{ spec: ChartSpec; files: string[] }> {
  const scanned = scan.files.filter((f) => f.type === 'yaml').map((f) => f.file);
  const chartDirs = new Set(scan.files.filter((f) => path.posix.basename(f.file) === 'Chart.yaml').map((f) => path.posix.dirname(f.file)));
  const out: Array<{ spec: ChartSpec; files: string[] }> = [];
  for (const spec of charts) {
    const listed: string[] = [];
    for (const v of spec.values ?? []) {
      const rel = path.relative(cwd, path.resolve(manifestDir, v)).split(path.sep).join('/');
      if (scanned.includes(rel) && !listed.includes(rel)) listed.push(rel);
    }
    if (listed.length) out.push({ spec, files: listed });
    const n = spec.name.toLowerCase();
    for (const file of scanned) {
      if (listed.includes(file) || chartDirs.has(path.posix.dirname(file))) continue;
      if (valuesNamedFor(n, file)) out.push({ spec, files: [file] });
    }
  }
  return out;
}

/** Why a chart was not rendered (said on the render, or by `rewrite manifests` on the object). */
export class NotRendered extends Error {}

/** Where the locked chart archives are read from, by digest: the download cache, or a bundle that carries them. */
export interface ChartArchives {
  /** Named in reasons: `the download cache <dir>`, `the bundle <path>`. */
  where: string;
  has(digest: string, size: number): Promise<boolean>;
  open(digest: string): Promise<Readable>;
  /** A hint for an archive not there. */
  hint: string;
}

export function cacheArchives(cacheDir: string): ChartArchives {
  const store = new BlobStore(cacheDir);
  return {
    where: `the download cache ${store.root}`,
    has: (digest, size) => store.has({ digest, size }),
    open: async (digest) => store.open(digest),
    hint: 'run `ferry lock` (or pass --cache-dir), or on the air-gapped side --bundle <the bundle that carried it>',
  };
}

/**
 * Charts one render may load from the lock: the top chart and its non-vendored dependencies at
 * every level. Real umbrella charts have tens; a crafted lock (a bundle's) could name the same
 * archive under many entries so each level doubles the loads, or a dependency cycle.
 */
export const MAX_LOCKED_CHARTS = 1000;

/** One render's loading: the lock's dependency entries by name, charts loaded so far, and the unpack budget they share. */
interface LockedLoad {
  lockFile: string;
  archives: ChartArchives;
  deps: Map<string, ChartLock[]>;
  loaded: number;
  /** Bytes the whole tree may unpack to: MAX_CHART_BYTES, as vendored subcharts share it with their parent. */
  budget: { left: number };
}

/** The lock's dependency entries by name (one pass; a lock may hold many entries). */
function dependencyEntries(lock: Lock): Map<string, ChartLock[]> {
  const deps = new Map<string, ChartLock[]>();
  for (const c of lock.charts) {
    if (!c.dependencyOf) continue;
    const list = deps.get(c.name);
    if (list) list.push(c);
    else deps.set(c.name, [c]);
  }
  return deps;
}

async function loadLocked(entry: ChartLock, st: LockedLoad, chain: readonly string[] = []): Promise<LoadedChart> {
  const { archives } = st;
  const parent = `${entry.name} ${entry.version}`;
  if (chain.includes(parent)) {
    throw new NotRendered(`the lock ${st.lockFile} makes ${[...chain, parent].join(' → ')} a dependency cycle: the lock was crafted or damaged; lock the chart again (\`ferry lock\`, or a new bundle)`);
  }
  if (++st.loaded > MAX_LOCKED_CHARTS) {
    throw new NotRendered(`the lock ${st.lockFile} gives ${chain[0] ?? parent} more than ${MAX_LOCKED_CHARTS} charts to load with its dependencies; refusing it (no real chart needs this many): lock the chart again (\`ferry lock\`, or a new bundle)`);
  }
  if (!(await archives.has(entry.digest, entry.size))) {
    throw new NotRendered(`the archive of ${entry.name} ${entry.version} (${entry.digest}) is not in ${archives.where}: ${archives.hint}`);
  }
  let chart: LoadedChart;
  try {
    chart = await loadChartStream(await archives.open(entry.digest), `${entry.name}-${entry.version}.tgz`, { allFiles: true }, st.budget);
  } catch (err) {
    if (!(err instanceof FerryError)) throw err;
    // Name the archive as the place holds it (a bundle blob), and say what to do.
    throw new NotRendered(`${err.message} (${entry.digest} in ${archives.where}${chain.length ? `, a dependency of ${chain.join(' → ')}` : ''})${err.hint ? `: ${err.hint}` : ''}`);
  }
  return addLockedDependencies(chart, parent, st, [...chain, parent]);
}

/** A locked chart with its locked dependencies, from `archives` (NotRendered says why not). */
export function loadLockedChart(entry: ChartLock, lock: Lock, lockFile: string, archives: ChartArchives): Promise<LoadedChart> {
  return loadLocked(entry, { lockFile, archives, deps: dependencyEntries(lock), loaded: 0, budget: { left: MAX_CHART_BYTES } });
}

/** A loaded chart's dependencies that are not vendored, from the lock (`parent`: `name version`, as `dependencyOf` names it). */
async function addLockedDependencies(chart: LoadedChart, parent: string, st: LockedLoad, chain: readonly string[]): Promise<LoadedChart> {
  const vendored = new Set(chart.subcharts.map((s) => s.metadata.name));
  for (const dep of chartDependencies(chart)) {
    if (vendored.has(dep.name)) continue;
    const locked = st.deps.get(dep.name)?.find((c) => c.dependencyOf!.includes(parent));
    if (!locked) throw new NotRendered(`dependency ${dep.name} of ${parent} is neither vendored nor in the lock`);
    chart.subcharts.push(await loadLocked(locked, st, chain));
  }
  return chart;
}

export async function renderScannedCharts(
  charts: ChartSpec[],
  scan: ScanResult,
  opts: { manifestDir: string; cwd: string; lock?: Lock; lockFile: string; archives: ChartArchives; target?: MirrorTarget },
): Promise<RenderedCharts> {
  const renders: ChartRender[] = [];
  const references: Reference[] = [];
  const untagged: RenderedCharts['untagged'] = new Map();
  await renderHelmCharts(scan, opts, renders, references, untagged);
  await renderGitOpsReleases(scan, opts, renders, references, untagged);
  const renderedDirs = await renderKustomizeCharts(scan, opts, renders, references);
  let deps: Map<string, ChartLock[]> | undefined;
  for (const { spec, files } of associateValues(charts, scan, opts.manifestDir, opts.cwd)) {
    const entry = opts.lock?.charts.find((c) => c.name === spec.name && c.repo === spec.repo && !c.dependencyOf);
    const render: ChartRender = { chart: spec.name, version: entry?.version, values: files, status: 'not-rendered', images: 0 };
    renders.push(render);
    try {
      if (!opts.lock) throw new NotRendered(`no lock file ${opts.lockFile}: run \`ferry lock\` so the chart version is pinned and its archive cached`);
      if (!entry) throw new NotRendered(`the lock ${opts.lockFile} has no entry for ${spec.name} from ${spec.repo}: run \`ferry lock\` again`);
      const chart = await loadLocked(entry, {
        lockFile: opts.lockFile,
        archives: opts.archives,
        deps: (deps ??= dependencyEntries(opts.lock)),
        loaded: 0,
        budget: { left: MAX_CHART_BYTES },
      });
      const values = files.map((f) => ({ name: f, data: scan.files.find((x) => x.file === f)!.text ?? '' }));
      const result = renderChart(chart, { values, kubeVersion: spec.kubeVersion, kubeVersionAdvice: `set kubeVersion: on chart ${spec.name} in the manifest to your cluster's version to render for it` });
      const found = findRenderedImages(result.documents);
      render.status = 'rendered';
      render.images = found.length;
      noteWarnings(render, result.warnings);
      // An image the values files set is already a scanned reference with its own file:line.
      const own = scan.references.filter((r) => r.kind === 'image' && files.includes(r.file));
      const from = `rendered from chart ${spec.name} ${entry.version} with values file ${files.join(', ')}`;
      pushRendered(found, valuesImages(own), from, files[0], references);
      resolveUntagged(found, own, from, untagged);
    } catch (err) {
      if (err instanceof NotRendered) render.reason = err.message;
      else if (err instanceof FerryError) render.reason = err.message;
      else throw err;
    }
  }
  return { renders, references, renderedDirs, untagged };
}

/** What rendering the releases of the scan (HelmCharts, Argo CD and Flux objects) reads. */
type ReleaseRenderOptions = { lock?: Lock; lockFile: string; archives: ChartArchives; target?: MirrorTarget };

/** At most this many kustomize helmCharts are rendered in one audit (a repository has tens). */
export const MAX_KUSTOMIZE_CHART_RENDERS = 500;

/**
 * The charts the kustomizations of the scan inflate (`helmCharts:`, audit/kustomize-helm.ts),
 * rendered as kustomize runs `helm template` for them, where the chart is vendored where kustomize
 * looks; their images then go through the kustomization's `images:` overrides (and its overlays'),
 * as kustomize applies its transformers to what a generator made. Where the chart is not there,
 * kustomize pulls it at build time and what it deploys is unknown here: a chart "not rendered",
 * never a clean one. A vendored chart's `repo` is not fetched: its reference is internal, saying so.
 */
async function renderKustomizeCharts(
  scan: ScanResult,
  opts: { cwd: string; lock?: Lock; lockFile: string; archives: ChartArchives; target?: MirrorTarget },
  renders: ChartRender[],
  references: Reference[],
): Promise<string[]> {
  const { cwd } = opts;
  const renderedDirs: string[] = [];
  let scopes: KustomizeScopes | undefined;
  let rendered = 0;
  for (const f of scan.files) {
    if (f.type !== 'yaml' || f.text === undefined || !isKustomizationFile(f.file)) continue;
    for (const c of kustomizeHelmChartsOf(f.file, f.text)) {
      const where = `${f.file} helmCharts[${c.index}]`;
      const render: ChartRender = { chart: c.name, version: c.version, values: [where], status: 'not-rendered', images: 0 };
      renders.push(render);
      if (++rendered > MAX_KUSTOMIZE_CHART_RENDERS) {
        render.reason = `not rendered: an audit renders at most ${MAX_KUSTOMIZE_CHART_RENDERS} kustomize helmCharts (audit fewer files at once)`;
        continue;
      }
      const kdir = path.dirname(path.resolve(cwd, f.file));
      try {
        const dir = kustomizeChartDir(kdir, c);
        if ('problem' in dir) throw new NotRendered(`${where} (chart ${c.name}): ${dir.problem}`);
        const rel = path.relative(cwd, dir.abs).split(path.sep).join('/');
        const st = await lstat(dir.abs).catch(() => undefined);
        if (st?.isSymbolicLink()) throw new NotRendered(`${where}: ${rel} is a symbolic link; ferry does not follow it: vendor the chart there as a directory`);
        const vendored = !!st?.isDirectory();
        // Not vendored: kustomize pulls it from `repo` (upstream, or the mirror once rewritten); the locked chart is what it gets.
        const form = c.repo && /^oci:\/\//i.test(c.repo) ? 'oci' : 'http';
        const entry = vendored || !c.repo || !opts.lock ? undefined : lockedChartFor({ tool: 'Kustomize', object: 'Kustomization', kind: 'Kustomization', keyPath: `helmCharts[${c.index}].repo`, url: c.repo, form, repo: sourceRepo(c.repo, form), chart: c.name, version: c.version }, opts.lock, opts.target);
        if (!vendored && !entry) {
          throw new NotRendered(`${where}: chart ${c.name}${c.version ? ` ${c.version}` : ''} is not vendored at ${rel}, so kustomize pulls it${c.repo ? ` from ${c.repo}` : ''} at build time, and the lock ${opts.lock ? `${opts.lockFile} does not carry it` : `(${opts.lockFile}) is not there`}: what it deploys is unknown to the audit: ${pullHint(c)}, or carry it (\`ferry lock\`) and audit again`);
        }
        const chart = entry
          ? await loadLocked(entry, { lockFile: opts.lockFile, archives: opts.archives, deps: dependencyEntries(opts.lock!), loaded: 0, budget: { left: MAX_CHART_BYTES } })
          : await loadChartDir(dir.abs, rel, { allFiles: true });
        const from = entry ? `the locked chart (${opts.lockFile}), as kustomize pulls it from ${c.repo}` : rel;
        render.version = String(chart.metadata.version ?? c.version ?? '');
        const values = await kustomizeValues(c, kdir, where);
        const result = renderChart(chart, {
          values,
          releaseName: c.releaseName,
          namespace: c.namespace,
          apiVersions: c.apiVersions,
          kubeVersion: c.kubeVersion,
          kubeVersionAdvice: `set kubeVersion: in ${where} to your cluster's version to render for it, as kustomize passes it to helm`,
          includeCrds: c.includeCRDs,
        });
        const docs = result.documents.filter((d) => !(c.skipTests && d.test) && !(c.skipHooks && d.hook));
        const found = findRenderedImages(docs);
        render.status = 'rendered';
        render.images = found.length;
        noteWarnings(render, result.warnings);
        if (!entry) renderedDirs.push(rel);
        // The kustomization's `images:` overrides (then each overlay's that includes it) apply to
        // the inflated resources' containers, as to any resource of the kustomization.
        scopes ??= kustomizeScopesOf(scan.files);
        const pulled = (raw: string, fieldPath: string) =>
          /(?:^|\.)(?:containers|initContainers)\[\d+\]\.image$/.test(fieldPath) ? scopes!.pulls(f.file, raw).map((w) => ({ image: w.image, note: w.by.length ? `, pulled as ${overridesText(w.by)} says` : '' })) : [{ image: raw, note: '' }];
        pushRendered(found, new Set(), `rendered from chart ${c.name} ${render.version} (${from}) as kustomize inflates ${where}`, f.file, references, pulled);
        for (const r of entry ? [] : scan.references) {
          if (r.file === f.file && r.keyPath === `helmCharts[${c.index}].repo` && r.chartSource) {
            r.inCluster = `not fetched: kustomize inflates the chart vendored at ${rel} and pulls from ${r.value} only when that directory is absent`;
          }
        }
      } catch (err) {
        // A repo: written with credentials (`https://user:token@…`) is named without them.
        if (err instanceof NotRendered || err instanceof FerryError) render.reason = redactUrlsIn(err.message);
        else throw err;
      }
    }
  }
  return renderedDirs;
}

/** The values `helm template` gets from kustomize for one chart: valuesFile merged with valuesInline as valuesMerge says, then additionalValuesFiles. */
export async function kustomizeValues(c: KustomizeHelmChart, kdir: string, where: string): Promise<Array<{ name: string; data: string | Record<string, unknown> }>> {
  const read = async (p: string, what: string, base: string) => {
    const at = kustomizationPath(base, p, what);
    if ('problem' in at) throw new NotRendered(`${where}: ${at.problem}`);
    const buf = await readRegularFile(at.abs, MAX_BYTES);
    if (!Buffer.isBuffer(buf)) throw new NotRendered(`${where}: its ${what} ${p}: ${buf.reason}`);
    return { name: `${where} ${what} ${p}`, data: buf.toString('utf8') };
  };
  // The default valuesFile is the chart's own values.yaml, which helm reads anyway.
  const file = c.valuesFile !== undefined ? await read(c.valuesFile, 'valuesFile', kdir) : undefined;
  const inline = c.valuesInline !== undefined ? { name: `${where} valuesInline`, data: c.valuesInline } : undefined;
  const first = inline === undefined ? [file] : c.valuesMerge === 'replace' ? [inline] : c.valuesMerge === 'merge' ? [inline, file] : [file, inline];
  const out = first.filter((v): v is NonNullable<typeof v> => v !== undefined);
  for (const a of c.additionalValuesFiles) out.push(await read(a, 'additionalValuesFiles entry', kdir));
  return out;
}

/** The locked chart a HelmChart installs: by its source as written (upstream) or as `rewrite manifests` wrote it (on the mirror). */
export function lockedChartFor(s: ScannedHelmChart['source'], lock: Lock, target: MirrorTarget | undefined): ChartLock | undefined {
  if (!s) return undefined;
  const mapping = registryMappingFor(target);
  if (s.archive) {
    return archiveChart(lock.charts, s.repo) ?? (target?.charts ? lock.charts.find((c) => mapChartHttp(c.name, c.version, target.charts!).url === s.repo) : undefined);
  }
  if (!s.chart) return undefined;
  const entries = onMirror(s, target, mapping)
    ? lock.charts.filter((c) => {
        if (c.name !== s.chart) return false;
        const m = mirrorChartSource(c, s.form, target, mapping);
        return m !== undefined && (m.form === 'http' ? trimTrailing(m.url, '/') : `oci://${m.path}`) === s.repo;
      })
    : chartsFrom(lock.charts, s.repo).filter((c) => c.name === s.chart);
  const version = carriedVersion(entries, s.chart, s.version);
  return version === undefined ? undefined : (entries.find((c) => c.version === version) as ChartLock | undefined);
}

/** The values helm-controller passes for a HelmChart, in its order: its valuesContent, values, then its HelmChartConfig's (`spec.set` is passed as --set apart). */
export function helmChartValues(h: ScannedHelmChart, config: ScannedHelmChart | undefined): Array<{ name: string; data: string | Record<string, unknown> }> {
  const values: Array<{ name: string; data: string | Record<string, unknown> }> = [];
  for (const o of [h, ...(config ? [config] : [])]) {
    if (o.valuesError) throw new NotRendered(`${o.file} ${o.object} spec.values not read (${o.valuesError}): the values helm-controller would pass are unknown here`);
    if (o.valuesContent !== undefined) values.push({ name: `${o.file} ${o.object} spec.valuesContent`, data: o.valuesContent });
    if (o.values && typeof o.values === 'object') values.push({ name: `${o.file} ${o.object} spec.values`, data: o.values as Record<string, unknown> });
  }
  return values;
}

/** At most this many HelmCharts are rendered in one audit (a site has tens). */
export const MAX_HELMCHART_RENDERS = 500;

/** The base64 of a HelmChart's `spec.chartContent` is at most the file it is in (a scanned file is at most 5 MiB). */
function inlineArchive(h: ScannedHelmChart): Buffer {
  const b64 = (h.chartContent ?? '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new NotRendered(`${h.object} spec.chartContent is not base64`);
  return Buffer.from(b64, 'base64');
}

/**
 * The charts k3s/RKE2 HelmCharts of the scan install (scan.ts `helmCharts`), rendered as their
 * install Job runs `helm install`: release `metadata.name`, namespace `spec.targetNamespace`,
 * values `spec.valuesContent`, then `spec.values`, then a HelmChartConfig's of the same name and
 * namespace, then `spec.set` (`--set`/`--set-string`, as helm-controller passes them). The chart is
 * the locked one its source names (upstream or, rewritten, on the mirror), or its inline
 * `spec.chartContent`. A HelmChart whose chart is not carried is not rendered here: its source is
 * the finding. k3s's packaged charts (`%{KUBERNETES_API}%`) are the release's own.
 */
async function renderHelmCharts(scan: ScanResult, opts: ReleaseRenderOptions, renders: ChartRender[], references: Reference[], untagged: RenderedCharts['untagged']): Promise<void> {
  const all = scan.helmCharts ?? [];
  let rendered = 0;
  for (const h of all) {
    if (h.kind !== 'HelmChart' || h.packaged) continue;
    const entry = h.chartContent ? undefined : opts.lock ? lockedChartFor(h.source, opts.lock, opts.target) : undefined;
    if (!h.chartContent && !entry) continue;
    const where = `${h.file} ${h.object}`;
    const render: ChartRender = { chart: entry?.name ?? `${h.object} spec.chartContent`, version: entry?.version, values: [where], status: 'not-rendered', images: 0 };
    renders.push(render);
    // A render costs a chart's load and templates: a tree of thousands of HelmCharts is bounded (and fails --fail-on).
    if (++rendered > MAX_HELMCHART_RENDERS) {
      render.reason = `not rendered: an audit renders at most ${MAX_HELMCHART_RENDERS} HelmCharts (audit fewer files at once)`;
      continue;
    }
    try {
      const st: LockedLoad = { lockFile: opts.lockFile, archives: opts.archives, deps: opts.lock ? dependencyEntries(opts.lock) : new Map(), loaded: 0, budget: { left: MAX_CHART_BYTES } };
      let chart: LoadedChart;
      if (entry) chart = await loadLocked(entry, st);
      else {
        try {
          chart = await loadChartStream(Readable.from([inlineArchive(h)]), `${where} spec.chartContent`, { allFiles: true }, st.budget);
        } catch (err) {
          if (!(err instanceof FerryError)) throw err;
          throw new NotRendered(`${err.message}${err.hint ? `: ${err.hint}` : ''}`);
        }
        render.chart = `${chart.metadata.name} (${h.object} spec.chartContent)`;
        render.version = String(chart.metadata.version ?? '');
        chart = await addLockedDependencies(chart, `${chart.metadata.name} ${chart.metadata.version}`, st, []);
      }
      const config = all.find((c) => c.kind === 'HelmChartConfig' && c.name === h.name && c.namespace === h.namespace);
      const values = helmChartValues(h, config);
      if (config) render.values.push(`${config.file} ${config.object}`);
      const result = renderChart(chart, { values, set: h.set, setString: h.setString, releaseName: h.name, namespace: h.targetNamespace ?? h.namespace ?? 'default', kubeVersionAdvice: "helm-controller renders for the cluster's own version: images that follow the version may differ" });
      const found = findRenderedImages(result.documents);
      render.status = 'rendered';
      render.images = found.length;
      // helm-controller renders for the cluster it runs in, whose version the audit cannot see.
      noteWarnings(render, result.warnings);
      const files = render.values.map((v) => v.slice(0, v.lastIndexOf(' ')));
      const own = scan.references.filter((r) => r.kind === 'image' && files.includes(r.file) && /^spec\.(valuesContent|values|set)\b/.test(r.keyPath ?? ''));
      const from = `rendered from chart ${render.chart} ${render.version ?? ''} as ${where} installs it (its values${config ? ` and ${config.object}'s` : ''})`;
      pushRendered(found, valuesImages(own), from, h.file, references);
      resolveUntagged(found, own, from, untagged);
    } catch (err) {
      if (err instanceof NotRendered || err instanceof FerryError) render.reason = err.message;
      else throw err;
    }
  }
}

/** At most this many Argo CD / Flux releases are rendered in one audit (a site has tens). */
export const MAX_GITOPS_RENDERS = 500;

/**
 * The object a Flux reference names among `candidates` (already of its kind and name), by namespace.
 * An object without metadata.namespace is in the namespace kustomize or `kubectl apply
 * --namespace` gives it, unknown here but the same for every such object: a reference without a
 * namespace whose release has none is in it too. So an unwritten namespace matches an unwritten
 * one, a written one the same written one; where no such object is there, the one object whose
 * namespace or the reference's is unwritten is taken, said so (`assumed`); two or more such are
 * ambiguous (`ambiguous`: none taken).
 */
export function byNamespace<T extends { namespace?: string }>(candidates: readonly T[], namespace: string | undefined): { match?: T; assumed?: string; ambiguous?: string } {
  const exact = candidates.find((c) => c.namespace === namespace);
  if (exact) return { match: exact };
  const loose = candidates.filter((c) => c.namespace === undefined || namespace === undefined);
  const ns = (n: string | undefined) => (n === undefined ? 'no namespace written' : `namespace ${n}`);
  if (loose.length === 1) return { match: loose[0], assumed: `taken to be in the same namespace as the reference (${ns(namespace)}; the object: ${ns(loose[0].namespace)}), as kustomize's or kubectl's --namespace would put them` };
  if (loose.length > 1) return { ambiguous: `${loose.length} objects of that name could be the one (${ns(namespace)} on the reference; ${loose.map((c) => ns(c.namespace)).join(', ')}): which one Flux reads depends on the namespace the files are applied to` };
  return {};
}

/** The scan's source object a Flux release names (HelmRepository / OCIRepository), by name and namespace (byNamespace). */
function fluxSourceOf(scan: ScanResult, ref: NonNullable<ScannedGitOpsRelease['sourceRef']>, notes: string[]): ScannedHelmChart['source'] | undefined {
  const candidates = scan.references.flatMap((r) => {
    const s = r.chartSource;
    return s && s.kind === ref.kind && s.name === ref.name && !r.helmRelease ? [{ namespace: s.namespace, r, s }] : [];
  });
  const { match, assumed, ambiguous } = byNamespace(candidates, ref.namespace);
  if (ambiguous) notes.push(`its ${ref.kind} ${ref.name} not rendered: ${ambiguous}`);
  if (!match) return undefined;
  if (assumed) notes.push(`its ${ref.kind} ${ref.name} ${assumed}`);
  const { r, s } = match;
  const form = s.repo.startsWith('oci://') ? 'oci' : 'http';
  const chart = ref.kind === 'OCIRepository' ? s.chart : ref.chart;
  const version = ref.kind === 'OCIRepository' ? s.version : ref.version;
  if (!chart) return undefined;
  return { tool: 'Flux', object: s.object, kind: s.kind as 'HelmRepository', keyPath: r.keyPath ?? '', url: r.value, form, repo: s.repo, chart, version };
}

/** A ConfigMap/Secret of the scan a valuesFrom names (by name and namespace: byNamespace). */
function valuesSourceFor(scan: Pick<ScanResult, 'valuesSources'>, step: Extract<ValuesStep, { from: 'object' }>, unknown: string[], notes: string[]): ValuesSource | undefined {
  const { match, assumed, ambiguous } = byNamespace(
    (scan.valuesSources ?? []).filter((v) => v.kind === step.kind && v.name === step.refName),
    step.namespace,
  );
  if (ambiguous) unknown.push(`${step.name}: ${ambiguous}`);
  if (assumed) notes.push(`${step.name}: ${step.kind}/${step.refName} ${assumed}`);
  return match;
}

/** Go's filepath.Clean for a slash path (source-controller cleans each valuesFiles entry). */
function goClean(p: string): string {
  const n = path.posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

/** Helm's chart.Files: what its loader keeps as plain files (not Chart.yaml, values.yaml, templates/, charts/ …). */
function helmChartFile(chart: LoadedChart, rel: string): Buffer | undefined {
  if (/^(Chart\.yaml|Chart\.lock|values\.yaml|values\.schema\.json|requirements\.(yaml|lock))$/.test(rel) || rel.startsWith('templates/') || rel.startsWith('charts/')) return undefined;
  return chart.raw?.get(rel);
}

/** Maps merged as fluxcd/pkg's transform.MergeMaps merges them: maps key by key, anything else replaced. */
function mergeMaps(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, v] of Object.entries(a)) out[k] = v;
  for (const [k, v] of Object.entries(b)) out[k] = isGoMap(v) && isGoMap(out[k]) ? mergeMaps(out[k] as Record<string, unknown>, v) : v;
  return out;
}

/**
 * The chart a Flux HelmRelease installs when its `spec.chart.spec` lists valuesFiles:
 * source-controller merges those files of the chart, in order (`values.yaml` is the chart's own
 * values; the chart's values.yaml is not included otherwise), and packages the chart with the
 * result as its values.yaml. A path that is not a file of the chart fails the HelmChart ("no
 * values file found at path") unless ignoreMissingValuesFiles; so does a file that is not a YAML
 * map, or a chart without a values.yaml. Without valuesFiles: the chart itself.
 */
export function fluxValuesFilesChart(g: GitOpsRelease, chart: LoadedChart, entry: Pick<ChartLock, 'name' | 'version'>, where: string): { chart: LoadedChart; notes: string[] } {
  const vf = g.chartValuesFiles;
  if (!vf?.paths.length) return { chart, notes: [] };
  const notes: string[] = [];
  const what = `${where} spec.chart.spec.valuesFiles`;
  const fails = (why: string) => new NotRendered(`${what}: ${why}: Flux fails this HelmRelease's chart the same way (source-controller), so what it deploys is unknown: fix the list (or set spec.chart.spec.ignoreMissingValuesFiles for a file that may be absent)`);
  if (!chart.raw?.has('values.yaml')) throw fails(`chart ${entry.name} ${entry.version} has no values.yaml for source-controller to replace`);
  let merged: Record<string, unknown> = Object.create(null);
  for (const p of vf.paths) {
    const rel = goClean(p);
    let data: unknown;
    if (rel === 'values.yaml') data = chart.raw.get('values.yaml')!.toString('utf8');
    else {
      const buf = helmChartFile(chart, rel);
      if (!buf) {
        if (vf.ignoreMissing) notes.push(`spec.chart.spec.valuesFiles ${p}: not a file of chart ${entry.name} ${entry.version}, skipped as ignoreMissingValuesFiles says`);
        else throw fails(`${p} is not a values file of chart ${entry.name} ${entry.version} (no values file found at path '${p}')`);
        continue;
      }
      data = buf.toString('utf8');
    }
    let values: unknown;
    try {
      values = parseGoYaml(data as string);
    } catch (err) {
      throw fails(`${p} of chart ${entry.name} ${entry.version} is not valid YAML (${err instanceof Error ? err.message : String(err)})`);
    }
    if (values === null || values === undefined) continue;
    if (!isGoMap(values)) throw fails(`${p} of chart ${entry.name} ${entry.version} is not a YAML map`);
    merged = mergeMaps(merged, values);
  }
  const text = Object.keys(merged).length ? goYamlMarshal(merged) : '';
  const raw = new Map(chart.raw);
  raw.set('values.yaml', Buffer.from(text));
  const files = new Map(chart.files);
  files.set('values.yaml', text);
  files.delete('values.yml');
  raw.delete('values.yml');
  return { chart: { ...chart, raw, files }, notes };
}

/**
 * The values a GitOps release is rendered with, as its controller merges them (later wins), and
 * what the controller reads that the scan does not hold (`unknown`). A values file Argo CD cannot
 * find in the chart is NotRendered, as Argo CD fails the source.
 */
export function gitopsReleaseValues(
  g: GitOpsRelease,
  chart: LoadedChart,
  entry: Pick<ChartLock, 'name' | 'version'>,
  where: string,
  scan: Pick<ScanResult, 'valuesSources' | 'valuesSourcesDropped'>,
): { values: Array<{ name: string; data: string | Record<string, unknown> }>; unknown: string[]; notes: string[] } {
  const unknown = [...g.unknown];
  const notes: string[] = [];
  const values: Array<{ name: string; data: string | Record<string, unknown> }> = [];
  for (const step of g.steps) {
    const name = `${where} ${step.name}`;
    if (step.from === 'text') values.push({ name, data: step.text });
    else if (step.from === 'chart-file') {
      const rel = path.posix.normalize(step.path.replace(/^\.\//, ''));
      const data = rel.startsWith('../') || rel === '..' || path.posix.isAbsolute(rel) ? undefined : (chart.files.get(rel) ?? chart.raw?.get(rel)?.toString('utf8'));
      if (data !== undefined) values.push({ name, data });
      else if (step.ignoreMissing) notes.push(`${step.name}: not in chart ${entry.name} ${entry.version}, skipped as ignoreMissingValueFiles says`);
      else throw new NotRendered(`${where}: ${step.name} is not a file of chart ${entry.name} ${entry.version}: Argo CD fails to render this source (fix the path, or set helm.ignoreMissingValueFiles)`);
    } else {
      const src = valuesSourceFor(scan, step, unknown, notes);
      const missing = step.optional ? 'optional, and not in the scan: if it exists where Flux runs, its values apply' : `not in the scan: its values are unknown to the audit (scan the ${step.kind} with the HelmRelease)${scan.valuesSourcesDropped ? `; ${scan.valuesSourcesDropped} ConfigMaps/Secrets were not kept, past the ${MAX_VALUES_SOURCE_BYTES / 1024 / 1024} MiB the audit holds of them` : ''}`;
      if (!src) unknown.push(`${step.name}: ${missing}`);
      else if (src.sops) unknown.push(`${step.name}: ${src.file} is encrypted with SOPS: its values are unknown to the audit`);
      else if (!src.data.has(step.key)) unknown.push(`${step.name}: ${src.file} has no key ${step.key}${step.optional ? ' (optional: Flux skips it)' : ': Flux fails the release'}`);
      else if (step.targetPath) {
        try {
          values.push({ name, data: parseSet(`${step.targetPath}=${src.data.get(step.key)!.replace(/\\*,/g, (m) => (m.length % 2 === 1 ? `\\${m}` : m))}`) as Record<string, unknown> });
        } catch (err) {
          unknown.push(`${step.name}: targetPath ${step.targetPath} not applied (${err instanceof Error ? err.message : String(err)})`);
        }
      } else values.push({ name: `${name} (${src.file})`, data: src.data.get(step.key)! });
    }
  }
  return { values, unknown, notes };
}

/**
 * The charts Argo CD Applications/ApplicationSets and Flux HelmReleases of the scan install
 * (audit/gitops-releases.ts), rendered with the object's values merged as the controller merges
 * them, where the chart is carried in the lock (upstream, or on the mirror once rewritten). A
 * release whose chart is not carried is not rendered here: its source is the finding. What the
 * controller reads and the scan does not hold (a Secret not scanned, another source's values file,
 * fileParameters) is a warning of the render and named on every finding, never filled in.
 */
async function renderGitOpsReleases(scan: ScanResult, opts: ReleaseRenderOptions, renders: ChartRender[], references: Reference[], untagged: RenderedCharts['untagged']): Promise<void> {
  if (!opts.lock) return;
  let rendered = 0;
  for (const g of scan.gitopsReleases ?? []) {
    const sourceNotes: string[] = [];
    const source = g.source ? { tool: g.tool, object: g.object, kind: 'Application' as const, keyPath: '', url: g.source.repo, ...g.source } : g.sourceRef ? fluxSourceOf(scan, g.sourceRef, sourceNotes) : undefined;
    const entry = source ? lockedChartFor(source, opts.lock, opts.target) : undefined;
    const where = `${g.file} ${g.object}`;
    if (!entry) {
      // Which source object the release reads is not known here: so neither is what it deploys.
      const ambiguous = sourceNotes.filter((n) => n.includes(' not rendered: '));
      if (g.sourceRef && ambiguous.length) renders.push({ chart: g.sourceRef.chart ?? `${g.sourceRef.kind} ${g.sourceRef.name}`, version: g.sourceRef.version, values: [where], status: 'not-rendered', images: 0, reason: redactUrlsIn(`${where}: ${ambiguous.join('; ')}`) });
      continue;
    }
    const render: ChartRender = { chart: entry.name, version: entry.version, values: [where], status: 'not-rendered', images: 0 };
    renders.push(render);
    if (++rendered > MAX_GITOPS_RENDERS) {
      render.reason = `not rendered: an audit renders at most ${MAX_GITOPS_RENDERS} Argo CD / Flux releases (audit fewer files at once)`;
      continue;
    }
    try {
      const loaded = await loadLocked(entry, { lockFile: opts.lockFile, archives: opts.archives, deps: dependencyEntries(opts.lock), loaded: 0, budget: { left: MAX_CHART_BYTES } });
      const { chart, notes: skipped } = fluxValuesFilesChart(g, loaded, entry, where);
      const { values, unknown, notes } = gitopsReleaseValues(g, chart, entry, where, scan);
      if (g.templated) unknown.push('ApplicationSet values with {{…}} are filled in per generated Application: rendered as written');
      const result = renderChart(chart, {
        values,
        set: g.set,
        setString: g.setString,
        releaseName: g.releaseName,
        namespace: g.namespace ?? 'default',
        kubeVersionAdvice: `${g.tool} renders for the cluster's own version: images that follow the version may differ`,
      });
      const found = findRenderedImages(result.documents);
      render.status = 'rendered';
      render.images = found.length;
      noteWarnings(render, [...[...sourceNotes, ...skipped, ...notes, ...unknown].map((u) => `${g.object} ${u}`), ...result.warnings]);
      const own = scan.references.filter((r) => r.kind === 'image' && r.file === g.file && (r.keyPath ?? '').startsWith(g.valuesAt));
      const without = unknown.length ? ` (without what the audit cannot read: ${unknown.join('; ')})` : '';
      const from = redactUrlsIn(`rendered from chart ${entry.name} ${entry.version} as ${g.tool} ${g.object} (${g.file}:${g.line}) installs it with its values${without}`);
      pushRendered(found, valuesImages(own), from, g.file, references);
      // Values the audit could not read may set the tag: then it stays unknown.
      if (!unknown.length) resolveUntagged(found, own, from, untagged);
    } catch (err) {
      if (err instanceof NotRendered || err instanceof FerryError) render.reason = redactUrlsIn(err.message);
      else throw err;
    }
  }
}

/** The images a release's own values name, as the render finds them (normalized). */
function valuesImages(own: readonly Reference[]): Set<string> {
  return new Set(own.map((r) => normalizeRef(r.value) ?? r.value));
}

/**
 * The untagged images of a release's values (`tagFrom`: `image: {repository: quay.io/x}`, the
 * chart's template picks the tag) whose repository this render pulls, certainly, at exactly one tag
 * or digest: that is what the values key pulls (the chart composes it), so it is classed as that
 * image. None, or two of that repository in one render, leave the tag unknown; so do two renders
 * of the same values that disagree.
 */
function resolveUntagged(found: ReturnType<typeof findRenderedImages>, own: readonly Reference[], from: string, out: RenderedCharts['untagged']): void {
  const wanted = own.filter((r) => r.tagFrom);
  if (!wanted.length) return;
  const repository = (ref: string) => {
    try {
      const p = parseImageReference(ref);
      return `${p.registry.toLowerCase()}/${p.repository}`;
    } catch {
      return undefined;
    }
  };
  const pulled = new Map<string, Set<string>>();
  for (const f of found) {
    if (f.certainty !== 'certain') continue;
    const repo = repository(f.ref);
    if (repo === undefined) continue;
    const refs = pulled.get(repo) ?? new Set<string>();
    refs.add(f.ref);
    pulled.set(repo, refs);
  }
  for (const r of wanted) {
    const repo = repository(r.value);
    const refs = repo === undefined ? undefined : pulled.get(repo);
    if (!refs || refs.size !== 1) continue;
    const [ref] = refs;
    const had = out.get(r);
    out.set(r, had === undefined || had?.ref === ref ? { ref, from } : null);
  }
}

/** Rendered images as references (the ones the values already name, `inValues`, are scanned references of their own). */
function pushRendered(
  found: ReturnType<typeof findRenderedImages>,
  inValues: ReadonlySet<string>,
  from: string,
  file: string,
  references: Reference[],
  pulled: (raw: string, fieldPath: string) => Array<{ image: string; note: string }> = (raw) => [{ image: raw, note: '' }],
): void {
  const seen = new Set<string>();
  for (const f of found) {
    if (inValues.has(f.ref)) continue;
    const resource = `${f.doc.kind ?? '?'}/${f.doc.name ?? '?'}`;
    for (const w of pulled(f.raw, f.fieldPath)) {
      const key = `${w.image} ${f.doc.source} ${resource} ${f.fieldPath}`;
      if (seen.has(key)) continue;
      seen.add(key);
      // A `helm test` hook's image is pulled only when someone runs `helm test` (the lock keeps it as testImages; `testImages: carry` bundles it).
      const testHook = f.doc.test ? ' (a `helm test` hook: pulled when `helm test` runs)' : '';
      const provenance = `${from}: template ${f.doc.source}${f.line ? ` line ${f.line}` : ''}, resource ${resource}${testHook}, ${f.fieldPath}${w.image !== f.raw ? ` ${f.raw}${w.note}` : ''}`;
      references.push({ file, line: f.line ?? 0, keyPath: f.fieldPath, kind: 'image', value: w.image, provenance, template: f.doc.source, resource });
    }
  }
}

export interface AuditPathsOptions {
  cwd: string;
  /** The lock that pins the manifest's charts (beside the manifest, or a bundle's). */
  lock?: Lock;
  /** How the lock is named in reasons (`site.lock.json`). */
  lockFile: string;
  /** Where the locked chart archives are: the download cache (cacheArchives) or a bundle. */
  archives: ChartArchives;
  manifestFile: string;
  targetFile?: string;
  failOn?: 'unmapped' | 'unmitigated';
}

/**
 * Scan `paths`, render the manifest's charts with the values files found there, and classify
 * every reference, the rendered ones included: what `ferry audit` and `ferry report --audit` show.
 */
export async function auditPaths(loaded: LoadedManifest, model: ConnectionModel, target: LoadedTarget | undefined, paths: string[], opts: AuditPathsOptions): Promise<AuditReport> {
  // The scan keeps the text of the files rendering reads (values files) and, for the rest, where
  // the text checks' patterns are: not every file's text.
  const charts = (loaded.manifest.charts ?? []) as ChartSpec[];
  const listed = new Set(charts.flatMap((c) => (c.values ?? []).map((v) => path.relative(opts.cwd, path.resolve(loaded.dir, v)).split(path.sep).join('/'))));
  const checks = [...model.endpoints.flatMap((e) => e.checks ?? []), ...model.connections.flatMap((c) => c.checks ?? [])];
  const textPatterns = checks.flatMap((c) => (c.kind === 'text' && c.pattern !== undefined ? [c.pattern] : []));
  const scan = await scanPaths(paths, opts.cwd, {
    textPatterns,
    // Only the settings a check (or the runtime mirror rule) reads: runCheck's own match, by source and key.
    keepSetting: (s) => NO_DEFAULT_ENDPOINT_KEY.test(s.key) || checks.some((c) => c.kind !== 'text' && c.key !== undefined && s.source === (c.kind === 'env' ? 'env' : 'structured') && (c.kind === 'env' ? s.key === c.key : keyMatches(s.key, c.key))),
    keepText: (file, type) => type === 'yaml' && (listed.has(file) || charts.some((c) => valuesNamedFor(c.name.toLowerCase(), file))),
  });
  const rendered = await renderScannedCharts((loaded.manifest.charts ?? []) as ChartSpec[], scan, {
    manifestDir: loaded.dir,
    cwd: opts.cwd,
    lock: opts.lock,
    lockFile: opts.lockFile,
    archives: opts.archives,
    target: target?.target,
  });
  // A rendered chart's own files are audited by its render (a vendored chart's templates, changelog, CI values).
  const inRendered = (file: string) => rendered.renderedDirs.some((d) => file.startsWith(`${d}/`));
  const scanned = rendered.renderedDirs.length ? scan.references.filter((r) => !inRendered(r.file)) : scan.references;
  const skipped = rendered.renderedDirs.length ? scan.skipped.filter((x) => !inRendered(x.file)) : scan.skipped;
  // An untagged values image its release's render pulls at one tag is that image (README "Audit").
  const resolved = rendered.untagged.size ? scanned.map((r) => (rendered.untagged.get(r) ? { ...r, renderedAs: rendered.untagged.get(r)! } : r)) : scanned;
  return auditReferences(model, target, { ...scan, skipped, references: [...resolved, ...rendered.references] }, {
    manifestFile: opts.manifestFile,
    targetFile: opts.targetFile,
    failOn: opts.failOn,
    lock: opts.lock,
    charts: rendered.renders,
  });
}
