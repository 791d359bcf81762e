import semver from 'semver';
import { isMap, isScalar, isSeq, type Node as YamlNode, type Scalar } from 'yaml';
import type { ChartLock } from '../kinds/chart/lock.js';
import type { MirrorTarget } from '../manifest/target.js';
import { chartOciReference, mapChartHttp, mapImage, type RegistryMapping } from '../mapping/index.js';
import { trimTrailing } from '../ui/escape.js';

/**
 * Helm chart sources GitOps controllers fetch themselves (Argo CD, Flux): the controller, not a
 * container runtime, downloads the chart, so no registry mirror configuration redirects it; on the
 * air-gapped side the source must name the mirror. Read by the audit (a source still written
 * upstream goes out) and by `rewrite manifests` (which points it at the mirror).
 *
 * - Argo CD `Application` / `ApplicationSet` (`spec.template.spec`): `spec.source` or each of
 *   `spec.sources[]` that has a `chart` — `repoURL` (an http(s) chart repository, or an OCI
 *   registry path written without `oci://`, or with it), `chart`, `targetRevision`.
 * - Flux `HelmRepository`: `spec.url` (`type: oci` → `oci://…`); the chart and version are in the
 *   `HelmRelease` that names it (`spec.chart.spec.{chart,version,sourceRef}`).
 * - Flux `OCIRepository`: `spec.url` (`oci://<registry>/<path>/<chart>`), `spec.ref.digest`, else `semver`, else `tag` (Flux's precedence).
 * - kustomize's Helm inflator (`kustomize build --enable-helm`): a kustomization's `helmCharts[]`
 *   — `repo` (an http(s) chart repository, or `oci://<registry>/<path>`), `name`, `version`.
 */
export type ChartSourceTool = 'Argo CD' | 'Flux' | 'Kustomize';

export interface ChartSource {
  tool: ChartSourceTool;
  /** `Application/web`, `HelmRepository/stable`. */
  object: string;
  kind: 'Application' | 'ApplicationSet' | 'HelmRepository' | 'OCIRepository' | 'Kustomization';
  /** The URL scalar and its path in the document (scan's dotted form: `spec.sources[0].repoURL`). */
  urlNode: Scalar;
  keyPath: string;
  url: string;
  /** How the source is fetched as written. */
  form: 'http' | 'oci';
  /** The repository as a lock names it (`https://host/path`, `oci://host/path`). */
  repo: string;
  /** Argo CD, OCIRepository and kustomize: the chart and the version (or range) asked for. */
  chart?: string;
  version?: string;
  versionNode?: Scalar;
  /** Flux HelmRepository: its `type` scalar, when written; the object holding `url` (to add `type: oci`). */
  typeNode?: Scalar;
  spec?: YamlNode;
  /** Flux HelmRepository: its name and namespace (HelmReleases name it). */
  name?: string;
  namespace?: string;
}

const text = (n: unknown): string | undefined => (isScalar(n) && n.value !== null && n.value !== undefined && String(n.value) !== '' ? String(n.value) : undefined);
/** A value filled in later (an ApplicationSet's `{{…}}`, Flux's `${var}` substitution): not a source ferry can judge or move. */
const templated = (v: string | undefined): boolean => v !== undefined && (v.includes('{{') || v.includes('${'));
const get = (n: unknown, k: string): unknown => (isMap(n) ? n.items.find((p) => isScalar(p.key) && p.key.value === k)?.value : undefined);

/** `oci://host/path` for an OCI form (scheme optional, as Argo CD writes it), the URL without trailing slashes otherwise. */
export function sourceRepo(url: string, form: 'http' | 'oci'): string {
  const u = trimTrailing(url.trim(), '/');
  return form === 'oci' ? `oci://${u.replace(/^oci:\/\//i, '')}` : u;
}

/**
 * Every chart source of one YAML document (its contents). `kustomization`: the document is a
 * kustomization (audit/kustomize.ts `isKustomization`, which needs the file's name), whose
 * `helmCharts:` kustomize fetches when it builds with `--enable-helm`.
 */
export function chartSourcesOf(contents: unknown, opts: { kustomization?: boolean } = {}): ChartSource[] {
  if (opts.kustomization) return kustomizeChartSources(contents);
  const apiVersion = text(get(contents, 'apiVersion')) ?? '';
  const kind = text(get(contents, 'kind'));
  const meta = get(contents, 'metadata');
  const name = text(get(meta, 'name'));
  const object = `${kind}${name ? `/${name}` : ''}`;
  const out: ChartSource[] = [];
  if (/^argoproj\.io\//.test(apiVersion) && (kind === 'Application' || kind === 'ApplicationSet')) {
    const base = kind === 'ApplicationSet' ? 'spec.template.spec' : 'spec';
    const spec = kind === 'ApplicationSet' ? get(get(get(contents, 'spec'), 'template'), 'spec') : get(contents, 'spec');
    const one = (src: unknown, at: string) => {
      const urlNode = get(src, 'repoURL');
      const url = text(urlNode);
      const chart = text(get(src, 'chart'));
      if (!url || !chart || !isScalar(urlNode) || templated(url) || templated(chart)) return;
      const form = /^https?:\/\//i.test(url) ? 'http' : /^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^oci:\/\//i.test(url) ? undefined : 'oci';
      if (!form) return;
      const versionNode = get(src, 'targetRevision');
      out.push({ tool: 'Argo CD', object, kind, urlNode, keyPath: `${at}.repoURL`, url, form, repo: sourceRepo(url, form), chart, version: text(versionNode), versionNode: isScalar(versionNode) ? versionNode : undefined });
    };
    one(get(spec, 'source'), `${base}.source`);
    const sources = get(spec, 'sources');
    if (isSeq(sources)) sources.items.forEach((s, i) => one(s, `${base}.sources[${i}]`));
  } else if (/^source\.toolkit\.fluxcd\.io\//.test(apiVersion) && (kind === 'HelmRepository' || kind === 'OCIRepository')) {
    const spec = get(contents, 'spec');
    const urlNode = get(spec, 'url');
    const url = text(urlNode);
    if (!url || !isScalar(urlNode) || templated(url)) return out;
    const namespace = text(get(meta, 'namespace'));
    if (kind === 'HelmRepository') {
      const typeNode = get(spec, 'type');
      const form = text(typeNode) === 'oci' || /^oci:\/\//i.test(url) ? 'oci' : 'http';
      out.push({ tool: 'Flux', object, kind, urlNode, keyPath: 'spec.url', url, form, repo: sourceRepo(url, form), typeNode: isScalar(typeNode) ? typeNode : undefined, spec: spec as YamlNode, name, namespace });
    } else {
      // oci://host/path/chart: the chart is the last segment, the repository the rest.
      const full = sourceRepo(url, 'oci');
      const cut = full.lastIndexOf('/');
      if (cut <= 'oci://'.length) return out;
      const ref = get(spec, 'ref');
      // Flux's precedence: digest, then semver, then tag (a tag beside a range is not what is pulled).
      const versionNode = get(ref, 'digest') ?? get(ref, 'semver') ?? get(ref, 'tag');
      out.push({ tool: 'Flux', object, kind, urlNode, keyPath: 'spec.url', url, form: 'oci', repo: full.slice(0, cut), chart: full.slice(cut + 1), version: text(versionNode), versionNode: isScalar(versionNode) ? versionNode : undefined, name, namespace });
    }
  }
  return out;
}

/** A kustomization's `helmCharts[]` (`repo`, `name`, `version`): `repo` `oci://…` is pulled as `<repo>/<name>`, an http(s) one as a chart repository. */
function kustomizeChartSources(contents: unknown): ChartSource[] {
  const out: ChartSource[] = [];
  const charts = get(contents, 'helmCharts');
  if (!isSeq(charts)) return out;
  const name = text(get(get(contents, 'metadata'), 'name'));
  const object = `Kustomization${name ? `/${name}` : ''}`;
  charts.items.forEach((c, i) => {
    const urlNode = get(c, 'repo');
    const url = text(urlNode);
    const chart = text(get(c, 'name'));
    if (!url || !chart || !isScalar(urlNode) || templated(url) || templated(chart)) return;
    const form = /^oci:\/\//i.test(url) ? 'oci' : /^https?:\/\//i.test(url) ? 'http' : undefined;
    if (!form) return;
    const versionNode = get(c, 'version');
    out.push({ tool: 'Kustomize', object, kind: 'Kustomization', urlNode, keyPath: `helmCharts[${i}].repo`, url, form, repo: sourceRepo(url, form), chart, version: text(versionNode), versionNode: isScalar(versionNode) ? versionNode : undefined });
  });
  return out;
}

/** A Flux HelmRelease's chart: `spec.chart.spec.{chart,version,sourceRef}`. */
export interface HelmReleaseChart {
  object: string;
  chart: string;
  chartNode: Scalar;
  version?: string;
  sourceKind: string;
  sourceName: string;
  sourceNamespace?: string;
}

export function helmReleaseChartOf(contents: unknown): HelmReleaseChart | undefined {
  const apiVersion = text(get(contents, 'apiVersion')) ?? '';
  if (!/^helm\.toolkit\.fluxcd\.io\//.test(apiVersion) || text(get(contents, 'kind')) !== 'HelmRelease') return undefined;
  const meta = get(contents, 'metadata');
  const cs = get(get(get(contents, 'spec'), 'chart'), 'spec');
  const chartNode = get(cs, 'chart');
  const chart = text(chartNode);
  const ref = get(cs, 'sourceRef');
  const sourceName = text(get(ref, 'name'));
  if (!chart || !isScalar(chartNode) || !sourceName || templated(chart)) return undefined;
  const name = text(get(meta, 'name'));
  return {
    object: `HelmRelease${name ? `/${name}` : ''}`,
    chart,
    chartNode,
    version: text(get(cs, 'version')),
    sourceKind: text(get(ref, 'kind')) ?? 'HelmRepository',
    sourceName,
    sourceNamespace: text(get(ref, 'namespace')) ?? text(get(meta, 'namespace')),
  };
}

/** The carried charts (lock entries, top-level and dependencies alike: import places both) from `repo`. */
export function chartsFrom(charts: ReadonlyArray<Pick<ChartLock, 'repo' | 'name' | 'version'>>, repo: string): Array<Pick<ChartLock, 'repo' | 'name' | 'version'>> {
  const want = trimTrailing(repo, '/');
  return charts.filter((c) => trimTrailing(c.repo, '/') === want);
}

/** The carried version a requested version (exact, or a range as Argo CD and Flux accept) resolves to; undefined when none does. */
export function carriedVersion(charts: ReadonlyArray<Pick<ChartLock, 'name' | 'version'>>, chart: string, version: string | undefined): string | undefined {
  const versions = charts.filter((c) => c.name === chart).map((c) => c.version);
  if (!versions.length) return undefined;
  if (version === undefined || version === '' || version === '*') return semver.maxSatisfying(versions, '*') ?? versions.sort().at(-1);
  if (versions.includes(version)) return version;
  if (semver.valid(version)) return undefined;
  try {
    return semver.maxSatisfying(versions, version) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where a carried chart's source points on the mirror. The form the source was written in is kept
 * when the target has it (an HTTP repository → the target's `charts:` repository; an OCI one → its
 * registry), the other facet otherwise: a user who wrote an HTTP repository gets one back.
 * `oci`: registry path `host/path` (no scheme; the chart is `<path>/<name>`); `http`: the chart repository URL.
 */
export type MirrorSource = { form: 'http'; url: string } | { form: 'oci'; path: string };

export function mirrorChartSource(chart: Pick<ChartLock, 'repo' | 'name' | 'version'>, written: 'http' | 'oci', target: Pick<MirrorTarget, 'registry' | 'charts'> | undefined, mapping: RegistryMapping): MirrorSource | undefined {
  const http = target?.charts ? ({ form: 'http', url: mapChartHttp(chart.name, chart.version, target.charts).indexUrl.replace(/\/index\.yaml$/, '') } as const) : undefined;
  let oci: MirrorSource | undefined;
  if (target?.registry) {
    const mirror = mapImage(chartOciReference(chart.repo, chart.name, chart.version), mapping).mirror;
    const cut = mirror.lastIndexOf('/');
    if (cut > 0 && mirror.slice(cut + 1).split(':')[0] === chart.name) oci = { form: 'oci', path: mirror.slice(0, cut) };
  }
  return written === 'http' ? (http ?? oci) : (oci ?? http);
}

/** A source already pointing at the target (its chart repository, or its registry host). */
export function onMirror(source: Pick<ChartSource, 'form' | 'repo'>, target: Pick<MirrorTarget, 'registry' | 'charts'> | undefined, mapping: RegistryMapping): boolean {
  if (source.form === 'http') return !!target?.charts && source.repo === trimTrailing(target.charts.baseUrl, '/');
  const host = source.repo.replace(/^oci:\/\//, '').split('/')[0].toLowerCase();
  return !!mapping.host && host === mapping.host.toLowerCase();
}

export function mirrorSourceText(m: MirrorSource, chart: string, version: string): string {
  return m.form === 'http' ? `${m.url} (chart ${chart} ${version})` : `oci://${m.path}/${chart}:${version}`;
}
