import { isMap, isScalar, isSeq, type Document } from 'yaml';
import { chartSourcesOf, get, text } from './chart-sources.js';
import { applyMergeKeys, mergedJS } from './yaml-merge.js';

/**
 * The Helm releases GitOps controllers install, with the values they install them with, read from
 * one YAML document, so audit/charts.ts renders the chart as the controller does (the images a
 * chart's own defaults name then show up, as for a manifest chart with its values files).
 *
 * - Argo CD `Application` / `ApplicationSet` (`spec.template.spec`): each chart source
 *   (`spec.source`, `spec.sources[]`). Its `helm:` gives `helm template` (Argo CD's repo-server)
 *   `valueFiles` (files inside the chart, in order), then `valuesObject` when set, else `values`
 *   (Argo CD's ApplicationSourceHelm.ValuesYAML: one of the two, never both), then `parameters`
 *   (`--set`, `--set-string` with `forceString`). `fileParameters`, a `$ref/…` values file (another
 *   source's git tree) and a URL values file are not read: the render says so. Release
 *   `helm.releaseName`, else the Application's name; namespace `destination.namespace`.
 * - Flux `HelmRelease`: `spec.valuesFrom` in order (ConfigMap or Secret, `valuesKey` default
 *   `values.yaml`, `targetPath` sets one value, `optional`), then `spec.values`; the chart is
 *   `spec.chart.spec` (`chart`, `version`, `sourceRef` a HelmRepository) or `spec.chartRef` (an
 *   OCIRepository). Release `spec.releaseName`, else `[<targetNamespace>-]<name>`; namespace
 *   `spec.targetNamespace`, else the release's own.
 */
export interface GitOpsRelease {
  tool: 'Argo CD' | 'Flux';
  /** `Application/web`, `HelmRelease/api`. */
  object: string;
  /** Where the values are in the object (`spec.source.helm`, `spec`): scanned image references under it are the object's own findings. */
  valuesAt: string;
  /** Argo CD: the chart source as written. */
  source?: { form: 'http' | 'oci'; repo: string; chart: string; version?: string };
  /** Flux: the source object the chart comes from, found in the scan by name (and namespace). */
  sourceRef?: { kind: 'HelmRepository' | 'OCIRepository'; name: string; namespace?: string; chart?: string; version?: string };
  releaseName?: string;
  namespace?: string;
  steps: ValuesStep[];
  set: string[];
  setString: string[];
  /** What the controller reads and the audit cannot (said on the render). */
  unknown: string[];
  /** ApplicationSet: values with `{{…}}` are filled in per generated Application. */
  templated?: true;
  /**
   * Flux `spec.chart.spec.valuesFile` (deprecated, first) and `valuesFiles`: files inside the chart
   * that source-controller merges, in order, into the values.yaml it packages the chart with
   * (audit/charts.ts fluxValuesFilesChart).
   */
  chartValuesFiles?: { paths: string[]; ignoreMissing: boolean };
}

/** One layer of values, in the controller's order (later wins). */
export type ValuesStep =
  | { from: 'text'; name: string; text: string }
  | { from: 'chart-file'; name: string; path: string; ignoreMissing: boolean }
  | { from: 'object'; name: string; kind: 'ConfigMap' | 'Secret'; refName: string; namespace?: string; key: string; targetPath?: string; optional: boolean };

/** A ConfigMap or Secret of the scan, for Flux `valuesFrom` (Secret `data` decoded; a SOPS-encrypted one says so). */
export interface ValuesSource {
  kind: 'ConfigMap' | 'Secret';
  name: string;
  namespace?: string;
  data: Map<string, string>;
  /** Encrypted with SOPS (`sops:` metadata): its values are ciphertext, unknown to the audit. */
  sops?: true;
  file: string;
}

/** A values map as JSON text, its aliases resolved and merge keys applied as a YAML reader does (audit/yaml-merge.ts; bounded: an alias bomb is refused, said as unknown). */
function json(n: unknown, doc: Document | undefined, name: string, unknown: string[]): string | undefined {
  try {
    const doubts = new Set<string>();
    const onDoubt = (k: string) => doubts.add(k);
    const text = JSON.stringify((doc ? mergedJS(n as Parameters<typeof mergedJS>[0], doc, onDoubt) : applyMergeKeys((n as { toJS(d?: Document, o?: { maxAliasCount: number }): unknown }).toJS(doc, { maxAliasCount: 100 }), onDoubt)) ?? {});
    for (const k of [...doubts].slice(0, 5)) {
      unknown.push(`${name}: ${JSON.stringify(k.slice(0, 100))} is written before a YAML merge key (<<) that sets it too: Argo CD's and Helm's reader (go-yaml v2) take the merged value, kustomize's (go-yaml v3) the written one`);
    }
    return text;
  } catch (err) {
    unknown.push(`${name} not read (${err instanceof Error ? err.message : String(err)})`);
    return undefined;
  }
}
/** At most this many values steps, parameters or unknown notes per release (a crafted object can list millions). */
export const MAX_RELEASE_ITEMS = 200;

/** The releases one document installs (none when it is no Argo CD Application/ApplicationSet or Flux HelmRelease). */
export function gitopsReleasesOf(contents: unknown, doc?: Document): GitOpsRelease[] {
  const apiVersion = text(get(contents, 'apiVersion')) ?? '';
  const kind = text(get(contents, 'kind'));
  const meta = get(contents, 'metadata');
  const name = text(get(meta, 'name'));
  const object = `${kind}${name ? `/${name}` : ''}`;
  if (/^argoproj\.io\//.test(apiVersion) && (kind === 'Application' || kind === 'ApplicationSet')) {
    const set = kind === 'ApplicationSet';
    const spec = set ? get(get(get(contents, 'spec'), 'template'), 'spec') : get(contents, 'spec');
    const appName = set ? text(get(get(get(get(contents, 'spec'), 'template'), 'metadata'), 'name')) : name;
    const namespace = text(get(get(spec, 'destination'), 'namespace'));
    const out: GitOpsRelease[] = [];
    for (const s of chartSourcesOf(contents)) {
      // keyPath `<base>.source.repoURL` / `<base>.sources[i].repoURL`: the source object beside it.
      const at = s.keyPath.replace(/\.repoURL$/, '');
      const rel = at.slice(at.lastIndexOf('.') + 1);
      const i = /^sources\[(\d+)\]$/.exec(rel)?.[1];
      const srcs = get(spec, 'sources');
      const src = i !== undefined ? (isSeq(srcs) ? srcs.items[Number(i)] : undefined) : get(spec, 'source');
      out.push(argoRelease(object, `${at}.helm`, get(src, 'helm'), { form: s.form, repo: s.repo, chart: s.chart!, version: s.version }, appName, namespace, set, doc));
    }
    return out;
  }
  if (/^helm\.toolkit\.fluxcd\.io\//.test(apiVersion) && kind === 'HelmRelease') {
    const r = fluxRelease(object, get(contents, 'spec'), name, text(get(meta, 'namespace')), doc);
    return r ? [r] : [];
  }
  return [];
}

function argoRelease(object: string, at: string, helm: unknown, source: NonNullable<GitOpsRelease['source']>, appName: string | undefined, namespace: string | undefined, appSet: boolean, doc: Document | undefined): GitOpsRelease {
  const r: GitOpsRelease = { tool: 'Argo CD', object, valuesAt: at, source, releaseName: text(get(helm, 'releaseName')) ?? appName, namespace, steps: [], set: [], setString: [], unknown: [] };
  const ignoreMissing = text(get(helm, 'ignoreMissingValueFiles')) === 'true';
  const files = get(helm, 'valueFiles');
  if (isSeq(files)) {
    for (const [i, n] of files.items.slice(0, MAX_RELEASE_ITEMS).entries()) {
      const f = text(n);
      if (f === undefined) continue;
      const name = `${at}.valueFiles[${i}] ${f}`;
      if (f.startsWith('$')) r.unknown.push(`${name}: a file of another source's repository (a git tree the audit does not fetch)`);
      else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(f)) r.unknown.push(`${name}: fetched by Argo CD from that URL (not read by the audit)`);
      else r.steps.push({ from: 'chart-file', name, path: f, ignoreMissing });
    }
  }
  const values = get(helm, 'values');
  const object2 = get(helm, 'valuesObject');
  // Argo CD reads valuesObject when set, else values (a string, or an object it stores as valuesObject).
  const push = (n: unknown, name: string) => {
    const t = json(n, doc, name, r.unknown);
    if (t !== undefined) r.steps.push({ from: 'text', name, text: t });
  };
  if (isMap(object2)) {
    push(object2, `${at}.valuesObject`);
    if (values !== undefined) r.unknown.push(`${at}.values is not used: Argo CD reads valuesObject instead when both are set`);
  } else if (isMap(values)) push(values, `${at}.values`);
  else if (text(values) !== undefined) r.steps.push({ from: 'text', name: `${at}.values`, text: String((values as { value: unknown }).value) });
  const params = get(helm, 'parameters');
  if (isSeq(params)) {
    // Argo CD's repo-server keeps parameters in two maps by name (forceString: SetString, else Set):
    // a name given twice keeps its last value; helm then applies every --set before every
    // --set-string, and each map's entries in Go's random map order.
    const set = new Map<string, string>();
    const setString = new Map<string, string>();
    for (const p of params.items.slice(0, MAX_RELEASE_ITEMS)) {
      const k = text(get(p, 'name'));
      if (k === undefined) continue;
      const raw = isScalar(get(p, 'value')) ? String((get(p, 'value') as { value: unknown }).value ?? '') : '';
      const v = argoEnvsubst(raw, { ARGOCD_APP_NAME: appName, ARGOCD_APP_NAMESPACE: namespace }, `${at}.parameters ${k}`, r.unknown);
      const m = text(get(p, 'forceString')) === 'true' ? setString : set;
      m.delete(k);
      m.set(k, v);
    }
    for (const [m, out, flag] of [[set, r.set, '--set'], [setString, r.setString, '--set-string']] as const) {
      const names = [...m.keys()];
      const clash = overlappingNames(names);
      if (clash) r.unknown.push(`${at}.parameters ${clash[0]} and ${clash[1]} both set ${clash[1]}: Argo CD passes a source's ${flag} parameters in no fixed order, so which wins is unknown (rendered in the order written)`);
      for (const [k, v] of m) out.push(`${k}=${cleanSetParameter(v)}`);
    }
  }
  const fileParams = get(helm, 'fileParameters');
  if (isSeq(fileParams)) {
    for (const p of fileParams.items.slice(0, MAX_RELEASE_ITEMS)) r.unknown.push(`${at}.fileParameters ${text(get(p, 'name')) ?? '?'}: set from the file ${text(get(p, 'path')) ?? '?'} of the repository Argo CD checks out (not read by the audit)`);
  }
  if (appSet && r.steps.some((s) => s.from === 'text' && s.text.includes('{{'))) r.templated = true;
  if (appSet && [...r.set, ...r.setString].some((s) => s.includes('{{'))) r.templated = true;
  return r;
}

/**
 * A parameter value as Argo CD passes it to `--set` (util/helm cleanSetParameters): a value in
 * braces is a list and kept, otherwise each comma not after a backslash is escaped, so the value
 * is one string, commas included.
 */
function cleanSetParameter(v: string): string {
  return v.startsWith('{') && v.endsWith('}') ? v : v.replace(/(?<!\\),/g, '\\,');
}

/**
 * Argo CD runs os.Expand over each parameter value with the build environment (`$$` is `$`; a
 * variable it does not set is empty): the Application's name and destination namespace are known
 * here, any other variable (ARGOCD_APP_REVISION, KUBE_VERSION …) is named as unknown and left as
 * written.
 */
function argoEnvsubst(v: string, known: Record<string, string | undefined>, name: string, unknown: string[]): string {
  if (!v.includes('$')) return v;
  return v.replace(/\$(?:\$|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*|[0-9*#!@?-]))/g, (m, braced: string | undefined, bare: string | undefined) => {
    if (m === '$$') return '$';
    const k = braced ?? bare ?? '';
    const got = known[k];
    if (got !== undefined) return got;
    unknown.push(`${name}: ${m} is filled in from Argo CD's build environment (empty where it sets no such variable): its value is unknown here (rendered as written)`);
    return m;
  });
}

/** Two parameter names one of which sets inside the other (`image` and `image.tag`, `a[0]`), or undefined. */
function overlappingNames(names: string[]): [string, string] | undefined {
  const all = new Set(names);
  // Only the prefixes as long as some name (at most MAX_RELEASE_ITEMS lengths), looked up in a Set.
  const lengths = [...new Set(names.map((n) => n.length))];
  for (const n of names) {
    for (const l of lengths) if (l < n.length && (n[l] === '.' || n[l] === '[') && all.has(n.slice(0, l))) return [n.slice(0, l), n];
  }
  return undefined;
}

function fluxRelease(object: string, spec: unknown, name: string | undefined, ns: string | undefined, doc: Document | undefined): GitOpsRelease | undefined {
  const cs = get(get(spec, 'chart'), 'spec');
  const chartRef = get(spec, 'chartRef');
  let sourceRef: GitOpsRelease['sourceRef'];
  if (cs !== undefined) {
    const chart = text(get(cs, 'chart'));
    const ref = get(cs, 'sourceRef');
    const refName = text(get(ref, 'name'));
    if (!chart || !refName || (text(get(ref, 'kind')) ?? 'HelmRepository') !== 'HelmRepository') return undefined;
    sourceRef = { kind: 'HelmRepository', name: refName, namespace: text(get(ref, 'namespace')) ?? ns, chart, version: text(get(cs, 'version')) };
  } else if (chartRef !== undefined) {
    const refName = text(get(chartRef, 'name'));
    if (!refName || text(get(chartRef, 'kind')) !== 'OCIRepository') return undefined;
    sourceRef = { kind: 'OCIRepository', name: refName, namespace: text(get(chartRef, 'namespace')) ?? ns };
  } else return undefined;
  const target = text(get(spec, 'targetNamespace'));
  const r: GitOpsRelease = {
    tool: 'Flux',
    object,
    valuesAt: 'spec.values',
    sourceRef,
    releaseName: text(get(spec, 'releaseName')) ?? (name ? (target ? `${target}-${name}` : name) : undefined),
    namespace: target ?? ns,
    steps: [],
    set: [],
    setString: [],
    unknown: [],
  };
  // source-controller merges GetValuesFiles() (the deprecated valuesFile first) into the chart's values.yaml.
  const paths = [text(get(cs, 'valuesFile')), ...(isSeq(get(cs, 'valuesFiles')) ? (get(cs, 'valuesFiles') as { items: unknown[] }).items.slice(0, MAX_RELEASE_ITEMS).map((n) => text(n)) : [])].filter(
    (p): p is string => p !== undefined && p !== '',
  );
  if (paths.length) r.chartValuesFiles = { paths, ignoreMissing: text(get(cs, 'ignoreMissingValuesFiles')) === 'true' };
  const from = get(spec, 'valuesFrom');
  if (isSeq(from)) {
    for (const [i, v] of from.items.slice(0, MAX_RELEASE_ITEMS).entries()) {
      const kind = text(get(v, 'kind'));
      const refName = text(get(v, 'name'));
      if ((kind !== 'ConfigMap' && kind !== 'Secret') || !refName) {
        r.unknown.push(`spec.valuesFrom[${i}]: ${kind ?? 'no kind'}/${refName ?? '?'} is not a ConfigMap or Secret Flux reads`);
        continue;
      }
      const key = text(get(v, 'valuesKey')) ?? 'values.yaml';
      r.steps.push({ from: 'object', name: `spec.valuesFrom[${i}] ${kind}/${refName} ${key}`, kind, refName, namespace: ns, key, targetPath: text(get(v, 'targetPath')), optional: text(get(v, 'optional')) === 'true' });
    }
  }
  const values = get(spec, 'values');
  const t = isMap(values) ? json(values, doc, 'spec.values', r.unknown) : undefined;
  if (t !== undefined) r.steps.push({ from: 'text', name: 'spec.values', text: t });
  return r;
}

/** A ConfigMap's `data` or a Secret's `data` (base64) and `stringData`, for valuesFrom; undefined for any other document. */
export function valuesSourceOf(contents: unknown, file: string): ValuesSource | undefined {
  const apiVersion = text(get(contents, 'apiVersion'));
  const kind = text(get(contents, 'kind'));
  if (apiVersion !== 'v1' || (kind !== 'ConfigMap' && kind !== 'Secret')) return undefined;
  const meta = get(contents, 'metadata');
  const name = text(get(meta, 'name'));
  if (!name) return undefined;
  const data = new Map<string, string>();
  const put = (m: unknown, b64: boolean) => {
    if (!isMap(m)) return;
    for (const p of m.items) {
      const k = text(p.key);
      const v = isScalar(p.value) ? p.value.value : undefined;
      if (k === undefined || typeof v !== 'string') continue;
      if (!b64) data.set(k, (' ' + v).slice(1));
      else if (/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(v)) data.set(k, Buffer.from(v.replace(/\s+/g, ''), 'base64').toString('utf8'));
    }
  };
  put(get(contents, 'data'), kind === 'Secret');
  if (kind === 'Secret') put(get(contents, 'stringData'), false);
  return { kind, name, ...(text(get(meta, 'namespace')) ? { namespace: text(get(meta, 'namespace')) } : {}), data, ...(get(contents, 'sops') !== undefined ? { sops: true as const } : {}), file };
}
