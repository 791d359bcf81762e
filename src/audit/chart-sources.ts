import semver from 'semver';
import { Document, isMap, isScalar, isSeq, Pair, Scalar, YAMLMap, type Node as YamlNode } from 'yaml';
import type { ChartLock } from '../kinds/chart/lock.js';
import type { MirrorTarget } from '../manifest/target.js';
import { chartOciReference, mapChartHttp, mapImage, type RegistryMapping } from '../mapping/index.js';
import { trimTrailing } from '../ui/escape.js';
import { mergedJS } from './yaml-merge.js';

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
 * - k3s/RKE2's helm-controller (`helm.cattle.io/v1` `HelmChart`): its install Job (klipper-helm)
 *   runs `helm install` with `spec.repo` (`helm repo add`) and `spec.chart` (a name in it), or
 *   `spec.chart` alone as `oci://<registry>/<path>/<chart>` or the https URL of an archive;
 *   `spec.version`; `spec.chartContent` (the archive inline) overrides them and fetches nothing.
 *   `%{KUBERNETES_API}%` in `spec.chart` is the k3s/RKE2 server itself (its /static/charts).
 */
export type ChartSourceTool = 'Argo CD' | 'Flux' | 'Kustomize' | 'helm-controller';

export interface ChartSource {
  tool: ChartSourceTool;
  /** `Application/web`, `HelmRepository/stable`. */
  object: string;
  kind: 'Application' | 'ApplicationSet' | 'HelmRepository' | 'OCIRepository' | 'Kustomization' | 'HelmChart';
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
  /** HelmChart `spec.chart: https://…/<chart>-<version>.tgz`: the archive itself, `repo` its URL (a locked chart's `url`). */
  archive?: true;
  /** HelmChart `spec.chart: oci://…/<chart>:<tag>`: the tag written on the reference (a rewrite keeps it). */
  ociTag?: string;
}

/** A scalar's text; undefined for anything else, null or empty. */
export const text = (n: unknown): string | undefined => (isScalar(n) && n.value !== null && n.value !== undefined && String(n.value) !== '' ? String(n.value) : undefined);
/** A value filled in later (an ApplicationSet's `{{…}}`, Flux's `${var}` substitution): not a source ferry can judge or move. */
const templated = (v: string | undefined): boolean => v !== undefined && (v.includes('{{') || v.includes('${'));
/** A map's value under a scalar key; undefined when `n` is no map or lacks it. */
export const get = (n: unknown, k: string): unknown => (isMap(n) ? n.items.find((p) => isScalar(p.key) && p.key.value === k)?.value : undefined);

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
  } else if (isHelmChartKind(apiVersion, kind) && kind === 'HelmChart') {
    const spec = get(contents, 'spec');
    const source = helmChartSource(spec, object);
    if (source) out.push(source);
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

/** A k3s/RKE2 helm-controller object (`helm.cattle.io/v1` `HelmChart` or `HelmChartConfig`). */
export function isHelmChartKind(apiVersion: string, kind: string | undefined): boolean {
  return /^helm\.cattle\.io\//.test(apiVersion) && (kind === 'HelmChart' || kind === 'HelmChartConfig');
}

/** k3s's substitution in `spec.chart` (klipper-helm replaces it with the API server's address): the server's own /static/charts. */
export const K3S_API_PLACEHOLDER = '%{KUBERNETES_API}%';

/**
 * Where a HelmChart's install Job fetches its chart (see the tools above): `spec.repo` with a chart
 * name, else `spec.chart` as an `oci://` reference or an archive URL; none with `spec.chartContent`
 * (the archive is inline) or a value k3s fills in (`%{…}%`).
 */
function helmChartSource(spec: unknown, object: string): ChartSource | undefined {
  if (text(get(spec, 'chartContent'))) return undefined;
  const chartNode = get(spec, 'chart');
  const chart = text(chartNode);
  const repoNode = get(spec, 'repo');
  const repo = text(repoNode);
  const versionNode = get(spec, 'version');
  const version = text(versionNode);
  const filled = (v: string | undefined) => templated(v) || (v !== undefined && v.includes('%{'));
  if (!chart || !isScalar(chartNode) || filled(chart) || filled(repo)) return undefined;
  const base = { tool: 'helm-controller' as const, object, kind: 'HelmChart' as const, versionNode: isScalar(versionNode) ? versionNode : undefined };
  if (repo && isScalar(repoNode)) {
    const form = /^https?:\/\//i.test(repo) ? 'http' : /^oci:\/\//i.test(repo) ? 'oci' : undefined;
    if (!form) return undefined;
    return { ...base, urlNode: repoNode, keyPath: 'spec.repo', url: repo, form, repo: sourceRepo(repo, form), chart, version };
  }
  if (/^oci:\/\//i.test(chart)) {
    // oci://host/path/chart[:tag]: the chart is the last segment, the repository the rest.
    const full = sourceRepo(chart, 'oci');
    const cut = full.lastIndexOf('/');
    if (cut <= 'oci://'.length) return undefined;
    const [name, tag] = full.slice(cut + 1).split(':');
    return { ...base, urlNode: chartNode, keyPath: 'spec.chart', url: chart, form: 'oci', repo: full.slice(0, cut), chart: name, version: version ?? tag, ...(tag !== undefined ? { ociTag: tag } : {}) };
  }
  if (/^https?:\/\//i.test(chart)) return { ...base, urlNode: chartNode, keyPath: 'spec.chart', url: chart, form: 'http', repo: chart, archive: true };
  return undefined;
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

/** The locked chart whose archive was downloaded from `url` (a HelmChart's `spec.chart: https://…/x-1.2.0.tgz`). */
export function archiveChart<C extends Pick<ChartLock, 'url'>>(charts: readonly C[], url: string): C | undefined {
  const want = trimTrailing(url.trim(), '/');
  return charts.find((c) => c.url !== undefined && trimTrailing(c.url, '/') === want);
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
export function onMirror(source: Pick<ChartSource, 'form' | 'repo' | 'archive'>, target: Pick<MirrorTarget, 'registry' | 'charts'> | undefined, mapping: RegistryMapping): boolean {
  if (source.form === 'http') {
    const base = target?.charts ? trimTrailing(target.charts.baseUrl, '/') : undefined;
    // An archive URL is on the mirror when it is in the target's chart repository.
    return base !== undefined && (source.repo === base || (!!source.archive && source.repo.startsWith(`${base}/`)));
  }
  const host = source.repo.replace(/^oci:\/\//, '').split('/')[0].toLowerCase();
  return !!mapping.host && host === mapping.host.toLowerCase();
}

export function mirrorSourceText(m: MirrorSource, chart: string, version: string): string {
  return m.form === 'http' ? `${m.url} (chart ${chart} ${version})` : `oci://${m.path}/${chart}:${version}`;
}

/**
 * A k3s/RKE2 `HelmChart` or `HelmChartConfig` as its install Job runs it (`helm install <name>
 * <chart> --namespace <targetNamespace> --version <version> --values <valuesContent> --values
 * <values> --set/--set-string <set>`; a HelmChartConfig of the same name and namespace adds its
 * values after the HelmChart's). `node`: where it is reported (its `spec.chart`, else its `kind`).
 */
export interface HelmChartObject {
  kind: 'HelmChart' | 'HelmChartConfig';
  object: string;
  name?: string;
  namespace?: string;
  source?: Omit<ChartSource, 'urlNode' | 'versionNode' | 'typeNode' | 'spec'>;
  /** `spec.chart` names k3s's own packaged chart (`%{KUBERNETES_API}%`). */
  packaged?: boolean;
  /** `spec.chartContent`: the archive, base64 (as written; decoded by the reader, bounded). */
  chartContent?: string;
  targetNamespace?: string;
  valuesContent?: string;
  values?: unknown;
  /** `spec.set`, as helm-controller passes it: `--set` for numbers, booleans and null, `--set-string` otherwise. */
  set: string[];
  setString: string[];
  jobImage?: string;
  node?: YamlNode;
  /** `spec.values` could not be read (an alias bomb): why; the chart is then not rendered. */
  valuesError?: string;
}

/**
 * `spec.values` as helm-controller reads it: aliases resolved through the document (toJSON without
 * it gave an alias's own fields, `{source: x}`, for `*x`), bounded as a YAML reader bounds them.
 */
function valuesOf(node: unknown, doc: Document | undefined): { values?: unknown; valuesError?: string } {
  if (!isMap(node)) return {};
  try {
    return { values: mergedJS(node, doc ?? new Document()) };
  } catch (err) {
    return { valuesError: err instanceof Error ? err.message : String(err) };
  }
}

export function helmChartObjectOf(contents: unknown, doc?: Document): HelmChartObject | undefined {
  const apiVersion = text(get(contents, 'apiVersion')) ?? '';
  const kind = text(get(contents, 'kind'));
  if (!isHelmChartKind(apiVersion, kind)) return undefined;
  const meta = get(contents, 'metadata');
  const name = text(get(meta, 'name'));
  const spec = get(contents, 'spec');
  const object = `${kind}${name ? `/${name}` : ''}`;
  const source = kind === 'HelmChart' ? helmChartSource(spec, object) : undefined;
  const chart = text(get(spec, 'chart'));
  const set: string[] = [];
  const setString: string[] = [];
  const setMap = get(spec, 'set');
  if (isMap(setMap)) {
    for (const p of setMap.items) {
      const k = isScalar(p.key) ? String(p.key.value) : undefined;
      if (k === undefined || !isScalar(p.value)) continue;
      const v = p.value.value;
      // helm-controller's typedVal: an int, or "true"/"false"/"null", goes to --set.
      if (typeof v === 'number' || typeof v === 'boolean' || v === null || /^(true|false|null)$/i.test(String(v))) set.push(`${k}=${v === null ? 'null' : String(v)}`);
      // and an unescaped comma in a string is escaped, as it does.
      else setString.push(`${k}=${String(v).replace(/\\*,/g, (m) => (m.length % 2 === 1 ? `\\${m}` : m))}`);
    }
  }
  const valuesNode = get(spec, 'values');
  const { urlNode, versionNode, typeNode, spec: _spec, ...src } = source ?? ({} as Partial<ChartSource>);
  void typeNode;
  void _spec;
  const kindNode = isMap(contents) ? contents.items.find((p) => isScalar(p.key) && p.key.value === 'kind')?.value : undefined;
  return {
    kind: kind as HelmChartObject['kind'],
    object,
    name,
    namespace: text(get(meta, 'namespace')),
    ...(source ? { source: src as HelmChartObject['source'] } : {}),
    ...(chart?.includes(K3S_API_PLACEHOLDER) ? { packaged: true } : {}),
    chartContent: text(get(spec, 'chartContent')),
    targetNamespace: text(get(spec, 'targetNamespace')),
    valuesContent: isScalar(get(spec, 'valuesContent')) ? text(get(spec, 'valuesContent')) : undefined,
    ...valuesOf(valuesNode, doc),
    set,
    setString,
    jobImage: text(get(spec, 'jobImage')),
    node: (urlNode ?? versionNode ?? kindNode) as YamlNode | undefined,
  };
}

/**
 * A HelmChart's `spec.set` (`image.repository: quay.io/x`, keys as `--set` writes them) as the
 * values it sets: a map of maps whose leaves are the written scalars themselves (their positions
 * in the file kept), so an image map split over keys (`image.repository`, `image.tag`) is read,
 * and rewritten, as one. `a\.b` is one key; a list index (`a[0]`) stays part of its key.
 */
export function helmSetValues(set: YAMLMap): YAMLMap {
  const root = new YAMLMap();
  // Each map's keys, so a `set` of many keys is built in one pass (not a search per key).
  const children = new Map<YAMLMap, Map<string, YAMLMap>>();
  for (const p of set.items) {
    if (!isScalar(p.key)) continue;
    const parts = String(p.key.value)
      .split(/(?<!\\)\./)
      .map((k) => k.replace(/\\\./g, '.'));
    let at = root;
    for (const k of parts.slice(0, -1)) {
      let known = children.get(at);
      if (!known) children.set(at, (known = new Map()));
      let next = known.get(k);
      if (!next) {
        next = new YAMLMap();
        known.set(k, next);
        at.items.push(new Pair(new Scalar(k), next));
      }
      at = next;
    }
    at.items.push(new Pair(new Scalar(parts[parts.length - 1]), p.value));
  }
  return root;
}
