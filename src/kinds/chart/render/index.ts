/**
 * ferry's Helm-compatible renderer: what `helm template` prints for a chart, offline, with no helm
 * binary. See README.md in this folder for what is covered and the known deviations.
 *
 *   const r = renderChart(await loadChart(dir, { allFiles: true }), { values: [...], set: [...] });
 *   r.documents  // every rendered document (manifests, then hooks), parsed, with provenance
 */
import { FerryError } from '../../../errors.js';
import type { LoadedChart } from '../load.js';
import { ChartRenderError, coalesce, mergeUserValues, processDependencies, processImportValues, toHelmChart, type DisabledDependency, type HelmChart } from './chart.js';
import { TemplateExecError } from './exec.js';
import { TemplateParseError } from './parse.js';
import { deepCopy, int64Of, isMap, isNil } from './govalue.js';
import { parseGoYaml, parseGoYamlShared, setKey, YamlParseError } from './goyaml.js';
import { capabilities, DEFAULT_API_VERSIONS, DEFAULT_KUBE_VERSION, parseKubeVersion, renderTemplates, type RenderedTemplate } from './helm.js';
import { validateSchema } from './schema.js';
import { holdYoungSync, noteItemDone } from '../../../store/young-gc.js';
import { mastermindsSatisfies, resetRandom } from './sprig.js';
import { lineForOffset } from './exec.js';

export { DEFAULT_API_VERSIONS, DEFAULT_KUBE_VERSION } from './helm.js';
export { parseGoYaml, goYamlMarshal } from './goyaml.js';

type Dict = Record<string, unknown>;

export interface RenderOptions {
  /** Values files' contents in order (later wins), as `helm -f a -f b`: { name, data } with data parsed Go values or text. */
  values?: Array<{ name: string; data: Dict | string }>;
  /** `--set a.b=c,d[0]=e` expressions, applied after the files. */
  set?: string[];
  /** `--set-string` expressions. */
  setString?: string[];
  releaseName?: string;
  namespace?: string;
  /** `.Capabilities.KubeVersion` (default v1.29.0). */
  kubeVersion?: string;
  /**
   * What the warning tells the user to do when the chart's kubeVersion: refuses the default and a
   * later version is picked (default: `ferry chart`'s --kube-version flag); each caller says it
   * its own way (the manifest's kubeVersion:, a kustomization's).
   */
  kubeVersionAdvice?: string;
  /** Added to `.Capabilities.APIVersions` (Helm's built-in 1.29 set is always there). */
  apiVersions?: string[];
  isUpgrade?: boolean;
  /** Also return the chart's (and subcharts') crds/ files, unrendered, first. */
  includeCrds?: boolean;
  skipSchemaValidation?: boolean;
}

export interface RenderedDocument {
  /** `# Source:` of helm template: `nats/templates/statefulset.yaml`. */
  source: string;
  /** The (sub)chart: `keycloak/charts/postgresql` as Helm names it, and its value scope from the top. */
  chart: string;
  scope: string[];
  /** Template file relative to its chart (`templates/statefulset.yaml`). */
  file: string;
  /** The document's text as printed. */
  text: string;
  /** Parsed object (Go data), null for a comment-only document. */
  object: unknown;
  apiVersion?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  /** Hook events when the document is a Helm hook (`pre-install`, `test`, …). */
  hook?: string[];
  /** A test hook (`helm.sh/hook: test` / `test-success`). */
  test: boolean;
  /** Is a CRD file from crds/ (only with includeCrds). */
  crd?: boolean;
  /** Template line for an offset in `text`. */
  lineAt(offset: number): number | undefined;
}

export interface RenderResult {
  chart: { name: string; version: string; appVersion?: string };
  documents: RenderedDocument[];
  /** The values the templates were given (coalesced), as they were before any template changed them (`set`, `unset`, `mergeOverwrite` on .Values). */
  values: Dict;
  disabled: DisabledDependency[];
  missingDependencies: Array<{ chart: string; dependency: string }>;
  warnings: string[];
  kubeVersion: string;
}

/** Helm's InstallOrder. */
const INSTALL_ORDER = [
  'PriorityClass', 'Namespace', 'NetworkPolicy', 'ResourceQuota', 'LimitRange', 'PodSecurityPolicy', 'PodDisruptionBudget',
  'ServiceAccount', 'Secret', 'SecretList', 'ConfigMap', 'StorageClass', 'PersistentVolume', 'PersistentVolumeClaim',
  'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleList', 'ClusterRoleBinding', 'ClusterRoleBindingList', 'Role',
  'RoleList', 'RoleBinding', 'RoleBindingList', 'Service', 'DaemonSet', 'Pod', 'ReplicationController', 'ReplicaSet',
  'Deployment', 'HorizontalPodAutoscaler', 'StatefulSet', 'Job', 'CronJob', 'IngressClass', 'Ingress', 'APIService',
];

const HOOK_EVENTS = new Set(['pre-install', 'post-install', 'pre-delete', 'post-delete', 'pre-upgrade', 'post-upgrade', 'pre-rollback', 'post-rollback', 'test', 'test-success']);

// ── --set ────────────────────────────────────────────────────────────────────

function typedValue(v: string, asString: boolean): unknown {
  if (asString) return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (v.toLowerCase() === 'null') return null;
  if (/^-?\d+$/.test(v) && (v === '0' || !/^-?0/.test(v))) {
    const n = BigInt(v);
    // strvals' strconv.ParseInt(v, 10, 64): an int64
    if (n >= -(2n ** 63n) && n < 2n ** 63n) return int64Of(n);
  }
  return v;
}

function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[++i];
      continue;
    }
    if (c === '{') depth++;
    if (c === '}') depth--;
    if (c === sep && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

const unescape = (s: string) => s.replace(/\\(.)/g, '$1');

/** Helm's strvals: `a.b=c`, `a[0].b=c`, `a={x,y}`, `\.` and `\,` escapes. */
export function parseSet(expr: string, asString = false, into: Dict = {}): Dict {
  for (const pair of splitUnescaped(expr, ',')) {
    if (!pair) continue;
    const eq = pair.search(/(?<!\\)=/);
    if (eq < 0) throw new FerryError('USAGE', `--set ${expr}: key "${pair}" has no value`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    const value = raw.startsWith('{') && raw.endsWith('}') ? splitUnescaped(raw.slice(1, -1), ',').filter((x) => x !== '').map((x) => typedValue(unescape(x), asString)) : typedValue(unescape(raw), asString);
    const parts: Array<string | number> = [];
    for (const seg of splitUnescaped(key, '.')) {
      const m = /^(.*?)((?:\[\d+\])*)$/.exec(seg)!;
      parts.push(unescape(m[1]));
      for (const idx of m[2].matchAll(/\[(\d+)\]/g)) parts.push(Number(idx[1]));
    }
    let cur: unknown = into;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      const last = i === parts.length - 1;
      const nextIsIndex = !last && typeof parts[i + 1] === 'number';
      if (typeof p === 'number') {
        const arr = cur as unknown[];
        while (arr.length <= p) arr.push(null);
        if (last) arr[p] = value;
        else {
          if (nextIsIndex ? !Array.isArray(arr[p]) : !isMap(arr[p])) arr[p] = nextIsIndex ? [] : {};
          cur = arr[p];
        }
      } else {
        const d = cur as Dict;
        if (last) setKey(d, p, value);
        else {
          if (nextIsIndex ? !Array.isArray(d[p]) : !isMap(d[p])) setKey(d, p, nextIsIndex ? [] : {});
          cur = d[p];
        }
      }
    }
  }
  return into;
}

// ── splitting and sorting, as helm template prints ─────────────────────────────

/** Go's `\s` (RE2): ASCII whitespace only; JavaScript's `\s` also takes Unicode spaces. */
function isGoSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d || c === 0x0c;
}

/**
 * Helm's `releaseutil.SplitManifests`: documents separated by `(?:^|\s*\n)---\s*`, each
 * trimmed, empty ones dropped. Found with a scan, not that regular expression: on a JavaScript
 * (backtracking) engine `\s*\n` retries every start inside a run of whitespace, quadratic in
 * the indentation of a deep document (a chart's 600 KB CRD template took 2 s); Go's engine is
 * linear. The match is the same: the whitespace run before a line that starts with `---`,
 * the `---`, and the whitespace after it.
 */
export function splitManifests(text: string): Array<{ text: string; offset: number }> {
  const big = `\n${text}\n`;
  const out: Array<{ text: string; offset: number }> = [];
  let last = 0;
  const push = (from: number, to: number) => {
    const raw = big.slice(from, to);
    if (raw.trim() === '') return;
    const lead = raw.length - raw.trimStart().length;
    out.push({ text: raw.trim(), offset: from + lead - 1 });
  };
  for (let nl = big.indexOf('\n---', last); nl >= 0; nl = big.indexOf('\n---', last)) {
    let start = nl;
    while (start > last && isGoSpace(big.charCodeAt(start - 1))) start--;
    let end = nl + 4;
    while (end < big.length && isGoSpace(big.charCodeAt(end))) end++;
    push(last, start);
    last = end;
  }
  push(last, big.length);
  return out;
}

function kindRank(kind: string | undefined): number {
  const i = INSTALL_ORDER.indexOf(kind ?? '');
  return i < 0 ? INSTALL_ORDER.length : i;
}

function sortByKind<T extends { kind?: string }>(docs: T[]): T[] {
  return docs
    .map((d, i) => ({ d, i }))
    .sort((a, b) => {
      const ra = kindRank(a.d.kind);
      const rb = kindRank(b.d.kind);
      if (ra !== rb) return ra - rb;
      if (ra === INSTALL_ORDER.length && (a.d.kind ?? '') !== (b.d.kind ?? '')) return (a.d.kind ?? '') < (b.d.kind ?? '') ? -1 : 1;
      return a.i - b.i;
    })
    .map((x) => x.d);
}

function scopeOf(c: HelmChart, top: HelmChart): string[] {
  if (c === top) return [];
  const rel = c.fullPath.slice(top.fullPath.length + 1).split('/');
  return rel.filter((_x, i) => i % 2 === 1);
}

function toDocuments(t: RenderedTemplate, top: HelmChart): RenderedDocument[] {
  const out: RenderedDocument[] = [];
  const chartPath = t.chart.fullPath;
  const file = t.name.slice(chartPath.length + 1);
  for (const piece of splitManifests(t.output)) {
    let obj: unknown;
    try {
      // the document as printed (helm template ends each with a newline): a block scalar on its
      // last line keeps its final line break. Shared with the parse cache: read only (every
      // consumer of RenderedDocument.object only reads it).
      obj = parseGoYamlShared(`${piece.text}\n`);
    } catch (e) {
      throw new ChartRenderError(`YAML parse error on ${t.name}: ${(e as Error).message}`);
    }
    if (!isNil(obj) && !isMap(obj)) throw new ChartRenderError(`YAML parse error on ${t.name}: the document is not a mapping`);
    const o = (obj ?? {}) as Dict;
    const meta = isMap(o.metadata) ? o.metadata : {};
    const ann = isMap(meta.annotations) ? meta.annotations : {};
    const hookText = typeof ann['helm.sh/hook'] === 'string' ? (ann['helm.sh/hook'] as string) : undefined;
    const hook = hookText?.split(',').map((h) => h.trim().toLowerCase());
    if (hook && hook.some((h) => !HOOK_EVENTS.has(h))) continue; // helm skips unknown hooks
    const base = piece.offset;
    out.push({
      source: t.name,
      chart: chartPath,
      scope: scopeOf(t.chart, top),
      file,
      text: piece.text,
      object: obj ?? null,
      apiVersion: typeof o.apiVersion === 'string' ? o.apiVersion : undefined,
      kind: typeof o.kind === 'string' ? o.kind : undefined,
      name: typeof meta.name === 'string' ? meta.name : undefined,
      namespace: typeof meta.namespace === 'string' ? meta.namespace : undefined,
      hook,
      test: Boolean(hook?.some((h) => h === 'test' || h === 'test-success')),
      lineAt: (offset: number) => lineForOffset(t.marks, t.output, base + offset),
    });
  }
  return out;
}

function crdDocuments(c: HelmChart, top: HelmChart): RenderedDocument[] {
  const out: RenderedDocument[] = [];
  for (const d of c.deps) out.push(...crdDocuments(d, top));
  for (const [rel, buf] of c.files) {
    if (!rel.startsWith('crds/') || !/\.(ya?ml|json)$/.test(rel)) continue;
    const t: RenderedTemplate = { name: `${c.fullPath}/${rel}`, chart: c, output: buf.toString('utf8'), marks: [[0, 1, true]] };
    for (const d of toDocuments(t, top)) out.push({ ...d, crd: true });
  }
  return out;
}

/** The chart's `kubeVersion:` constraint, when it has one. */
const kubeConstraint = (top: HelmChart): string | undefined => (typeof top.meta.kubeVersion === 'string' && top.meta.kubeVersion.trim() ? top.meta.kubeVersion : undefined);

function kubeSatisfies(constraint: string, kube: string): boolean {
  try {
    return mastermindsSatisfies(kube.replace(/^v/, ''), constraint, true);
  } catch {
    return true;
  }
}

/** What the kubeVersion warning advises unless the caller says (RenderOptions.kubeVersionAdvice). */
const KUBE_VERSION_ADVICE = "give --kube-version with your cluster's version to render for it";

/** A chart's `kubeVersion:` refused the Kubernetes version it was rendered for. */
class KubeVersionError extends ChartRenderError {}

function kubeVersionCheck(top: HelmChart, kube: string): void {
  const constraint = kubeConstraint(top);
  if (constraint && !kubeSatisfies(constraint, kube)) throw new KubeVersionError(`chart requires kubeVersion: ${constraint} which is incompatible with Kubernetes ${kube}`);
}

/**
 * The Kubernetes version to render for when none was asked for: the default, unless the chart's
 * `kubeVersion:` refuses it (JupyterHub 4.3 wants >=1.32; a current `helm template` defaults to its
 * own newer Kubernetes and renders it): then the oldest later minor the chart accepts, said in a
 * warning: some images follow the version (z2jh's user-scheduler holds kube-scheduler back below
 * 1.34), so the warning asks for the cluster's.
 */
function defaultKubeVersion(top: HelmChart, warn: (m: string) => void, advice = KUBE_VERSION_ADVICE): string {
  const constraint = kubeConstraint(top);
  if (!constraint || kubeSatisfies(constraint, DEFAULT_KUBE_VERSION)) return DEFAULT_KUBE_VERSION;
  const [major, minor] = DEFAULT_KUBE_VERSION.replace(/^v/, '').split('.').map(Number);
  for (let m = minor + 1; m <= minor + 20; m++) {
    const v = `v${major}.${m}.0`;
    if (!kubeSatisfies(constraint, v)) continue;
    warn(`the chart requires kubeVersion: ${constraint}, which the default Kubernetes ${DEFAULT_KUBE_VERSION} does not meet: rendered for Kubernetes ${v} (${advice})`);
    return v;
  }
  return DEFAULT_KUBE_VERSION;
}

function parseValuesText(name: string, text: string): Dict {
  let v: unknown;
  try {
    v = parseGoYaml(text);
  } catch (e) {
    throw new FerryError('VALIDATION', `${name}: not valid YAML: ${(e as Error).message}`, { hint: 'Fix the values file; Helm would refuse it too.' });
  }
  if (isNil(v)) return {};
  if (!isMap(v)) throw new FerryError('VALIDATION', `${name}: values must be a mapping at the top level`);
  return v;
}

/** `helm template` over a loaded chart (loaded with `{ allFiles: true }`). */
export function renderChart(loaded: LoadedChart, opts: RenderOptions = {}): RenderResult {
  // one synchronous stretch: the young generation would grow to 128 MB in it, and stay resident
  return holdYoungSync(() => render(loaded, opts));
}

function render(loaded: LoadedChart, opts: RenderOptions): RenderResult {
  const where = `chart ${loaded.metadata.name} ${loaded.metadata.version}`;
  resetRandom();
  try {
    const top = toHelmChart(loaded);
    if (top.isLibrary) throw new ChartRenderError('library charts are not installable');
    const warnings: string[] = [];
    const warn = (m: string) => warnings.push(m);
    const kube = parseKubeVersion(opts.kubeVersion ?? defaultKubeVersion(top, warn, opts.kubeVersionAdvice));
    kubeVersionCheck(top, kube.version);
    let user: Dict = {};
    for (const v of opts.values ?? []) user = mergeUserValues(user, typeof v.data === 'string' ? parseValuesText(v.name, v.data) : deepCopy(v.data));
    for (const s of opts.set ?? []) user = mergeUserValues(user, parseSet(s, false));
    for (const s of opts.setString ?? []) user = mergeUserValues(user, parseSet(s, true));
    const disabled: DisabledDependency[] = [];
    const missing: Array<{ chart: string; dependency: string }> = [];
    processDependencies(top, deepCopy(user), warn, disabled, missing);
    processImportValues(top, warn);
    const values = coalesce(top, deepCopy(user), false, warn);
    if (!opts.skipSchemaValidation) {
      const problems: string[] = [];
      const check = (c: HelmChart, v: Dict) => {
        if (c.schema !== undefined) {
          const errs = validateSchema(c.schema, v);
          if (errs.length) problems.push(`${c.name}:\n${errs.map((e) => `- ${e}`).join('\n')}`);
        }
        for (const d of c.deps) check(d, isMap(v[d.name]) ? (v[d.name] as Dict) : {});
      };
      check(top, values);
      if (problems.length) throw new ChartRenderError(`values don't meet the specifications of the schema(s) in the following chart(s):\n${problems.join('\n')}`);
    }
    // templates may change .Values in place (Istio's profile merge unsets its defaults key)
    const given = deepCopy(values);
    const apis = [...DEFAULT_API_VERSIONS, ...(opts.apiVersions ?? []).flatMap((a) => a.split(',')).map((a) => a.trim()).filter(Boolean)];
    const rendered = renderTemplates({
      top,
      values,
      release: { name: opts.releaseName ?? 'release-name', namespace: opts.namespace ?? 'default', revision: 1, isUpgrade: Boolean(opts.isUpgrade) },
      caps: capabilities(kube, apis),
    });
    const generic: RenderedDocument[] = [];
    const hooks: RenderedDocument[] = [];
    for (const t of [...rendered].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (t.output.trim() === '') continue;
      for (const d of toDocuments(t, top)) {
        (d.hook ? hooks : generic).push(d);
        // a render leaves garbage (template output, YAML parses) faster than V8 collects it
        noteItemDone();
      }
    }
    const documents = [...(opts.includeCrds ? crdDocuments(top, top) : []), ...sortByKind(generic), ...sortByKind(hooks)];
    return {
      chart: { name: loaded.metadata.name, version: loaded.metadata.version, appVersion: loaded.metadata.appVersion },
      documents,
      values: given,
      disabled,
      missingDependencies: missing,
      warnings,
      kubeVersion: kube.version,
    };
  } catch (e) {
    if (e instanceof FerryError) throw e;
    if (e instanceof KubeVersionError) {
      const constraint = kubeConstraint(toHelmChart(loaded)) ?? '';
      throw new FerryError('VALIDATION', `${where}: ${e.message}`, {
        cause: e,
        hint: `The chart is rendered for the Kubernetes version --kube-version names; give your cluster's version, one the chart accepts (${constraint}).`,
      });
    }
    if (e instanceof ChartRenderError || e instanceof TemplateExecError || e instanceof TemplateParseError || e instanceof YamlParseError) {
      throw new FerryError('VALIDATION', `${where}: ${e.message}`, {
        cause: e,
        hint: 'helm template would fail the same way: fix the values (or the chart). Where the message names one of ferry\'s bounds against crafted charts (template depth, range iterations, list, string or output size, schema depth), `--render helm` renders with a helm binary instead.',
      });
    }
    if (e instanceof RangeError && /call stack/i.test(e.message)) {
      // the bounds above keep templates and values shallower than the stack; this is the net under them
      throw new FerryError('VALIDATION', `${where}: templates or values nest deeper than the renderer's stack; refusing to render on`, {
        cause: e,
        hint: 'A chart nests this deep only when crafted (or a value contains itself); `--render helm` renders with a helm binary instead.',
      });
    }
    throw new FerryError('INTERNAL', `${where}: the renderer failed unexpectedly: ${(e as Error).message}`, { cause: e, hint: 'Please report this with the chart; `--render helm` uses a helm binary instead.' });
  }
}

/** The text `helm template` prints for a render result. */
export function formatRendered(r: RenderResult): string {
  return r.documents.map((d) => `---\n# Source: ${d.source}\n${d.text}\n`).join('');
}

/**
 * Documents from text `helm template` printed (for `--render helm`): the same shape as ferry's own
 * render, without template lines.
 */
export function documentsFromHelmOutput(text: string): RenderedDocument[] {
  const out: RenderedDocument[] = [];
  // helm template prints each document as `---\n# Source: NAME\nCONTENT\n`. CONTENT can itself
  // hold `---` lines (a template writing `---` twice: Helm's split leaves the second in the
  // document, as yugabyte's certificates and otel-collector do), so only a `---` followed by a
  // `# Source:` line starts a document.
  const parts = text.split(/^---[ \t]*\n(?=# Source: )/m);
  for (const part of parts) {
    const m = /^\s*# Source: (\S+)\s*$/m.exec(part);
    if (!m) continue;
    const source = m[1];
    const at = source.lastIndexOf('/templates/') >= 0 ? source.lastIndexOf('/templates/') : source.lastIndexOf('/crds/');
    const chartPath = at >= 0 ? source.slice(0, at) : source.split('/')[0];
    const segs = chartPath.split('/');
    const scope = segs.filter((_x, i) => i > 0 && segs[i - 1] === 'charts');
    const fake = { name: chartPath, fullPath: chartPath } as unknown as HelmChart;
    const t: RenderedTemplate = { name: source, chart: fake, output: part.replace(m[0], ''), marks: [] };
    for (const d of toDocuments(t, fake)) out.push({ ...d, scope, lineAt: () => undefined });
  }
  return out;
}
