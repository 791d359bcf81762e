import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, type Document } from 'yaml';
import { parseHostileDocuments } from '../manifest/yaml-input.js';
import { withoutStackTraces } from '../errors.js';
import { scalarText } from '../manifest/input-file.js';
import { isSafeRelativePath, isSafeSegment, isWithin } from '../store/safe-path.js';
import { isKustomization, isKustomizationFile } from './kustomize.js';
import { mergedJS } from './yaml-merge.js';
import { shellCommand } from '../ui/shell-quote.js';

/**
 * kustomize's Helm inflator (`helmCharts:` of a kustomization, built with `--enable-helm`: Argo CD
 * with `kustomize.buildOptions: --enable-helm`, `kubectl kustomize --enable-helm`; Flux's
 * kustomize-controller never runs it), read as kustomize's HelmChartInflationGenerator does
 * (api/types/helmchartargs.go, plugin/builtin/helmchartinflationgenerator):
 *
 * - the chart is `<chartHome>/<name>`, where chartHome is `helmGlobals.chartHome` (default
 *   `charts`, relative to the kustomization) and, when both `version` and `repo` are written,
 *   `<chartHome>/<name>-<version>`; kustomize uses a chart found there as it is (no version check)
 *   and pulls from `repo` only when it is absent;
 * - `helm template <releaseName> <chart> --namespace <namespace> -f <values> -f <additionalValuesFiles…>
 *   [--api-versions …] [--kube-version …] [--include-crds] [--skip-tests] [--no-hooks]`, where
 *   `<values>` is `valuesFile` (default: the chart's own values.yaml), merged with `valuesInline`
 *   as `valuesMerge` says: `override` (default: inline wins), `merge` (the file wins), `replace`
 *   (inline alone).
 *
 * Paths stay under the kustomization's directory, as kustomize's default load restrictor
 * (LoadRestrictionsRootOnly) requires; one that leaves it is not followed.
 */
export interface KustomizeHelmChart {
  /** The kustomization file (as scanned) and the entry's position and line. */
  file: string;
  index: number;
  line: number;
  name: string;
  version?: string;
  repo?: string;
  releaseName?: string;
  namespace?: string;
  valuesFile?: string;
  additionalValuesFiles: string[];
  valuesInline?: Record<string, unknown>;
  valuesMerge: 'override' | 'merge' | 'replace';
  includeCRDs: boolean;
  skipTests: boolean;
  skipHooks: boolean;
  apiVersions: string[];
  kubeVersion?: string;
  /** `helmGlobals.chartHome` as written, else `charts`. */
  chartHome: string;
}

const text = (n: unknown): string | undefined => scalarText(n) || undefined;
const flag = (n: unknown): boolean => isScalar(n) && (n.value === true || String(n.value) === 'true');
const strings = (n: unknown): string[] => (isSeq(n) ? n.items.map((i) => scalarText(i)).filter((s): s is string => !!s) : []);

/**
 * `valuesInline` as kustomize's kyaml reads it: aliases resolved and merge keys applied
 * (audit/yaml-merge.ts); past the alias bound, the map as written (its aliases unresolved).
 */
function inlineValues(inline: Parameters<typeof mergedJS>[0] & { toJSON(): unknown }, doc: Document): Record<string, unknown> {
  try {
    return mergedJS(inline, doc) as Record<string, unknown>;
  } catch {
    return inline.toJSON() as Record<string, unknown>;
  }
}

/** The `helmCharts:` entries of a kustomization file's text (none when it is no kustomization or does not parse). */
export function kustomizeHelmChartsOf(file: string, source: string): KustomizeHelmChart[] {
  if (!source.includes('helmCharts')) return [];
  const lc = new LineCounter();
  const docs = withoutStackTraces(() => parseHostileDocuments(source, { lineCounter: lc, duplicates: 'last-wins' }));
  const doc = Array.isArray(docs) ? docs[0] : docs;
  if (!doc || doc.errors.length || !isMap(doc.contents)) return [];
  const c = doc.contents;
  const kind = c.get('kind');
  if (!isKustomization(file, typeof kind === 'string' ? kind : kind === undefined ? undefined : String(kind))) return [];
  const charts = c.get('helmCharts', true);
  if (!isSeq(charts)) return [];
  const globals = c.get('helmGlobals', true);
  const chartHome = (isMap(globals) ? text(globals.get('chartHome', true)) : undefined) ?? 'charts';
  const out: KustomizeHelmChart[] = [];
  charts.items.forEach((item, index) => {
    if (!isMap(item)) return;
    const get = (k: string) => item.get(k, true);
    const name = text(get('name'));
    if (!name) return;
    const merge = text(get('valuesMerge'));
    const inline = get('valuesInline');
    out.push({
      file,
      index,
      line: item.range ? lc.linePos(item.range[0]).line : 0,
      name,
      version: text(get('version')),
      repo: text(get('repo')),
      releaseName: text(get('releaseName')),
      namespace: text(get('namespace')),
      valuesFile: text(get('valuesFile')),
      additionalValuesFiles: strings(get('additionalValuesFiles')),
      valuesInline: isMap(inline) ? inlineValues(inline, doc) : undefined,
      valuesMerge: merge === 'merge' || merge === 'replace' ? merge : 'override',
      includeCRDs: flag(get('includeCRDs')),
      skipTests: flag(get('skipTests')),
      skipHooks: flag(get('skipHooks')),
      apiVersions: strings(get('apiVersions')),
      kubeVersion: text(get('kubeVersion')),
      chartHome,
    });
  });
  return out;
}

/**
 * A path a kustomization names (chartHome, a values file), resolved against its directory; a
 * message when it leaves that directory (or is absolute, or holds control bytes): kustomize's
 * default load restrictor refuses it, and ferry reads nothing outside.
 */
export function kustomizationPath(dir: string, p: string, what: string): { abs: string } | { problem: string } {
  const norm = path.posix.normalize(p.replace(/\/+$/, ''));
  const abs = path.resolve(dir, norm);
  if (path.isAbsolute(p) || !(norm === '.' || isSafeRelativePath(norm)) || !isWithin(abs, dir)) {
    return { problem: `its ${what} ${JSON.stringify(p)} leads outside the kustomization's directory, which kustomize refuses under its default load restrictor (LoadRestrictionsRootOnly); ferry does not read it` };
  }
  return { abs };
}

/** Where kustomize looks for the chart (absolute), or why that path is not followed. */
export function kustomizeChartDir(kustomizationDir: string, c: KustomizeHelmChart): { abs: string } | { problem: string } {
  const home = kustomizationPath(kustomizationDir, c.chartHome, 'helmGlobals.chartHome');
  if ('problem' in home) return home;
  const versioned = c.version !== undefined && c.repo !== undefined;
  const parts = versioned ? [`${c.name}-${c.version}`, c.name] : [c.name];
  if (!parts.every(isSafeSegment)) return { problem: `its chart name or version (${JSON.stringify(parts.join('/'))}) is no plain directory name; ferry does not follow it` };
  return { abs: path.join(home.abs, ...parts) };
}

/** `charts/ingress-nginx-4.15.1/ingress-nginx` as kustomize would pull it into (helm pull --untar --untardir). */
export function pullHint(c: KustomizeHelmChart): string {
  const into = c.version !== undefined && c.repo !== undefined ? `${c.chartHome}/${c.name}-${c.version}` : c.chartHome;
  // Every value is the scanned kustomization's: each is one quoted argument of the printed command.
  const what = c.repo?.startsWith('oci://') ? [`${c.repo.replace(/\/+$/, '')}/${c.name}`] : [c.name, ...(c.repo ? ['--repo', c.repo] : [])];
  const cmd = shellCommand(['helm', 'pull', '--untar', '--untardir', into, ...what, ...(c.version ? ['--version', c.version] : [])]);
  return `vendor it where kustomize looks (\`${cmd}\` beside the kustomization, then commit it)`;
}

/**
 * The charts the given kustomization files inflate that are vendored where kustomize looks (a
 * directory, not a link): kustomize inflates them from there and never contacts `repo`. `repos`:
 * their `<file> helmCharts[i].repo` entries; `dirs`: the chart directories (absolute) with the entry.
 */
export async function vendoredKustomizeCharts(files: readonly string[], read: (file: string) => Promise<string>): Promise<{ repos: Set<string>; dirs: Map<string, string> }> {
  const repos = new Set<string>();
  const dirs = new Map<string, string>();
  for (const file of files) {
    if (!isKustomizationFile(file)) continue;
    for (const c of kustomizeHelmChartsOf(file, await read(file))) {
      const dir = kustomizeChartDir(path.dirname(path.resolve(file)), c);
      if (!('abs' in dir) || !(await lstat(dir.abs).catch(() => undefined))?.isDirectory()) continue;
      repos.add(`${file} helmCharts[${c.index}].repo`);
      if (!dirs.has(dir.abs)) dirs.set(dir.abs, `${file} helmCharts[${c.index}]`);
    }
  }
  return { repos, dirs };
}
