/**
 * Helm's side of rendering: built-in objects (.Release, .Chart, .Capabilities, .Template, .Files,
 * .Subcharts), Helm's own functions (include, tpl, required, fail, toYaml/fromYaml/…, lookup), and
 * `helm template`'s walk over the chart tree: every template of every enabled chart in one set
 * (deepest parsed first, so a parent's define wins), partials (`_*`) and NOTES.txt not output,
 * library charts only for their defines, `<no value>` removed.
 */
import { stringify as tomlStringify } from 'smol-toml';
import { FuncError, TemplateExecError, TemplateSet, Writer, type GoFunc } from './exec.js';
import { TemplateParseError } from './parse.js';
import { goQuote, GoSizedInt, goStringOf, GoStruct, GoTypedMap, GoTypedSlice, isMap, isNil, markChartValues, nilMap } from './govalue.js';
import { goSprintf } from './gofmt.js';
import { goJson, goYamlMarshal, parseGoYaml, parseGoYamlAll, setKey } from './goyaml.js';
import { goJsonSyntaxError } from './gojson.js';
import { jsonToGo, sprigFuncs, str } from './sprig.js';
import { globToRegExp, type HelmChart } from './chart.js';

type Dict = Record<string, unknown>;

/** Group/versions a Kubernetes 1.29 client scheme registers: what `helm template` offers by default. */
export const DEFAULT_API_VERSIONS = [
  'v1',
  'admissionregistration.k8s.io/v1',
  'admissionregistration.k8s.io/v1alpha1',
  'admissionregistration.k8s.io/v1beta1',
  'internal.apiserver.k8s.io/v1alpha1',
  'apps/v1',
  'apps/v1beta1',
  'apps/v1beta2',
  'authentication.k8s.io/v1',
  'authentication.k8s.io/v1alpha1',
  'authentication.k8s.io/v1beta1',
  'authorization.k8s.io/v1',
  'authorization.k8s.io/v1beta1',
  'autoscaling/v1',
  'autoscaling/v2',
  'autoscaling/v2beta1',
  'autoscaling/v2beta2',
  'batch/v1',
  'batch/v1beta1',
  'certificates.k8s.io/v1',
  'certificates.k8s.io/v1beta1',
  'certificates.k8s.io/v1alpha1',
  'coordination.k8s.io/v1beta1',
  'coordination.k8s.io/v1',
  'discovery.k8s.io/v1',
  'discovery.k8s.io/v1beta1',
  'events.k8s.io/v1',
  'events.k8s.io/v1beta1',
  'extensions/v1beta1',
  'flowcontrol.apiserver.k8s.io/v1',
  'flowcontrol.apiserver.k8s.io/v1beta1',
  'flowcontrol.apiserver.k8s.io/v1beta2',
  'flowcontrol.apiserver.k8s.io/v1beta3',
  'networking.k8s.io/v1',
  'networking.k8s.io/v1alpha1',
  'networking.k8s.io/v1beta1',
  'node.k8s.io/v1',
  'node.k8s.io/v1alpha1',
  'node.k8s.io/v1beta1',
  'policy/v1',
  'policy/v1beta1',
  'rbac.authorization.k8s.io/v1',
  'rbac.authorization.k8s.io/v1beta1',
  'rbac.authorization.k8s.io/v1alpha1',
  'resource.k8s.io/v1alpha2',
  'scheduling.k8s.io/v1alpha1',
  'scheduling.k8s.io/v1beta1',
  'scheduling.k8s.io/v1',
  'storage.k8s.io/v1beta1',
  'storage.k8s.io/v1',
  'storage.k8s.io/v1alpha1',
  'apiextensions.k8s.io/v1beta1',
  'apiextensions.k8s.io/v1',
];

export const DEFAULT_KUBE_VERSION = 'v1.29.0';
export const HELM_VERSION = 'v3.14.4';

// ── built-in objects ─────────────────────────────────────────────────────────

export class ChartFiles extends GoStruct {
  constructor(private readonly entries: Map<string, Buffer>) {
    super('engine.files');
    this.goZero = new Uint8Array(0);
  }
  override goLen = () => this.entries.size;
  /** For `range $path, $bytes := .Files.Glob …`. */
  goRange(): Dict {
    const out: Dict = {};
    for (const [k, v] of this.entries) setKey(out, k, new Uint8Array(v));
    return out;
  }
  GetBytes = (name: unknown) => new Uint8Array(this.entries.get(str(name)) ?? Buffer.alloc(0));
  Get = (name: unknown) => goStringOf(this.entries.get(str(name)) ?? Buffer.alloc(0));
  Glob = (pattern: unknown) => {
    const re = globToRegExp(str(pattern));
    return new ChartFiles(new Map([...this.entries].filter(([k]) => re.test(k))));
  };
  // Helm's Files is never nil (newFiles makes a map), so an empty Glob gives toYaml of {}: "{}".
  AsConfig = () => {
    const m: Dict = {};
    for (const [k, v] of this.entries) setKey(m, k.slice(k.lastIndexOf('/') + 1), goStringOf(v));
    return toYaml(m);
  };
  AsSecrets = () => {
    const m: Dict = {};
    for (const [k, v] of this.entries) setKey(m, k.slice(k.lastIndexOf('/') + 1), v.toString('base64'));
    return toYaml(m);
  };
  Lines = (p: unknown) => {
    const b = this.entries.get(str(p));
    if (!b) return [];
    let s = goStringOf(b);
    if (s.endsWith('\n')) s = s.slice(0, -1);
    return s.split('\n');
  };
  // fmt prints a map[string][]byte with its keys sorted and each []byte as its decimal bytes.
  override goString = () =>
    `map[${[...this.entries.keys()]
      .sort()
      .map((k) => `${k}:[${[...this.entries.get(k)!].join(' ')}]`)
      .join(' ')}]`;
}

class VersionSet extends GoTypedSlice {
  constructor(list: string[]) {
    super('chartutil.VersionSet', list);
  }
  Has = (v: unknown) => this.list.includes(str(v));
}

export interface KubeVersion {
  version: string;
  major: string;
  minor: string;
}

export function parseKubeVersion(v: string): KubeVersion {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?([-+].*)?$/.exec(v.trim());
  if (!m) throw new Error(`invalid kube version "${v}": expected v<major>.<minor>[.<patch>]`);
  return { version: `v${m[1]}.${m[2]}.${m[3] ?? 0}${m[4] ?? ''}`, major: m[1], minor: m[2] };
}

/**
 * Helm's `*chartutil.Capabilities` (pkg/chartutil/capabilities.go): a pointer, so `typeOf` is
 * `*chartutil.Capabilities` and `printf "%v"` prints `&{…}`. Its KubeVersion is a struct value
 * whose String and GitVersion have pointer receivers: `.Capabilities.KubeVersion` (addressable
 * through the pointer) prints `v1.29.0` and has `.GitVersion`, while a function given it
 * (`toString`, `printf "%v"`, `quote`, `include`, `dict`) gets the bare struct, `{v1.29.0 1 29}`,
 * without them. Neither KubeVersion nor BuildInfo's methods are JSON fields; BuildInfo
 * (helm.sh/helm/v3/internal/version) has json tags. The build is Helm v3.14.4's release.
 */
export function capabilities(kube: KubeVersion, apiVersions: string[]): GoStruct {
  const fieldsOf = (o: Record<string, unknown>) => () => Object.entries(o);
  const kubeFields = { Version: kube.version, Major: kube.major, Minor: kube.minor };
  // one copy for every use, so that copies compare equal (`eq`, `deepEqual`), as equal structs do
  const bareKube = new GoStruct('chartutil.KubeVersion', kubeFields);
  bareKube.goFields = fieldsOf(kubeFields);
  const kv = new GoStruct('chartutil.KubeVersion', kubeFields);
  Object.assign(kv, { String: () => kube.version, GitVersion: () => kube.version });
  kv.goString = () => kube.version;
  kv.goCopy = () => bareKube;
  const build = { Version: HELM_VERSION, GitCommit: '81c902a123462fd4052bc5e9aa9c513c4c8fc142', GitTreeState: 'clean', GoVersion: 'go1.21.9' };
  const helm = new GoStruct('version.BuildInfo', build);
  helm.goFields = fieldsOf(build);
  Object.defineProperty(helm, 'jsonNames', { enumerable: false, value: { Version: 'version', GitCommit: 'git_commit', GitTreeState: 'git_tree_state', GoVersion: 'go_version' } });
  const fields = { KubeVersion: kv, APIVersions: new VersionSet(apiVersions), HelmVersion: helm };
  const caps = new GoStruct('*chartutil.Capabilities', fields);
  caps.goFields = fieldsOf(fields);
  return caps;
}

const META_FIELDS: Record<string, string> = {
  name: 'Name',
  home: 'Home',
  sources: 'Sources',
  version: 'Version',
  description: 'Description',
  keywords: 'Keywords',
  maintainers: 'Maintainers',
  icon: 'Icon',
  apiVersion: 'APIVersion',
  condition: 'Condition',
  tags: 'Tags',
  appVersion: 'AppVersion',
  deprecated: 'Deprecated',
  annotations: 'Annotations',
  kubeVersion: 'KubeVersion',
  dependencies: 'Dependencies',
  type: 'Type',
};

const STRING_FIELDS = new Set(['Name', 'Home', 'Version', 'Description', 'Icon', 'APIVersion', 'Condition', 'Tags', 'AppVersion', 'KubeVersion', 'Type']);

/**
 * json.Unmarshal of Helm's fromJson/fromJsonArray into `into`: the value (null for JSON null), or
 * encoding/json's error text: a syntax error, or the JSON type that does not fit the Go type.
 */
function jsonDecode(text: string, into: 'map[string]interface {}' | '[]interface {}'): unknown {
  const syntax = goJsonSyntaxError(text);
  if (syntax) return syntax;
  const v = jsonToGo(JSON.parse(text));
  if (isNil(v) || (into === '[]interface {}' ? Array.isArray(v) : isMap(v))) return v;
  return `json: cannot unmarshal ${jsonKind(v)} into Go value of type ${into}`;
}

/** The JSON type encoding/json names in an UnmarshalTypeError. */
function jsonKind(v: unknown): string {
  return Array.isArray(v) ? 'array' : isMap(v) ? 'object' : typeof v === 'string' ? 'string' : typeof v === 'boolean' ? 'bool' : 'number';
}

/** `.Chart`: chart.Metadata with Go field names, plus IsRoot. */
export function chartObject(meta: Dict, isRoot: boolean): GoStruct {
  const fields: Dict = {};
  const jsonNames: Record<string, string> = {};
  for (const [json, goName] of Object.entries(META_FIELDS)) {
    const v = meta[json];
    fields[goName] = STRING_FIELDS.has(goName) ? (isNil(v) ? '' : typeof v === 'string' ? v : String(v)) : goName === 'Deprecated' ? v === true : isNil(v) ? null : v;
    jsonNames[goName] = json;
  }
  // chart.Metadata's typed slices and map: a field Chart.yaml leaves out is a nil slice or map,
  // which prints `[]` / `map[]` and is a list to `rest` (a nil interface would fail there).
  const slice = (v: unknown, type: string, elem: (x: unknown) => unknown) => (Array.isArray(v) ? new GoTypedSlice(type, v.map(elem)) : new GoTypedSlice(type, [], true));
  fields.Sources = slice(meta.sources, '[]string', str);
  fields.Keywords = slice(meta.keywords, '[]string', str);
  fields.Maintainers = slice(meta.maintainers, '[]*chart.Maintainer', (m) => {
    const d = isMap(m) ? m : {};
    const s = new GoStruct('*chart.Maintainer', { Name: str(d.name), Email: str(d.email), URL: str(d.url) });
    Object.defineProperty(s, 'jsonNames', { enumerable: false, value: { Name: 'name', Email: 'email', URL: 'url' } });
    return s;
  });
  const ann: Dict = {};
  if (isMap(meta.annotations)) for (const [k, v] of Object.entries(meta.annotations)) ann[k] = str(v);
  fields.Annotations = new GoTypedMap('map[string]string', ann, '', !isMap(meta.annotations));
  fields.Dependencies = slice(meta.dependencies, '[]*chart.Dependency', (x) => {
    const d = isMap(x) ? x : {};
    return new GoStruct('*chart.Dependency', {
      Name: str(d.name),
      Version: str(d.version),
      Repository: str(d.repository),
      Condition: str(d.condition),
      Tags: d.tags ?? null,
      Enabled: d.enabled !== false,
      ImportValues: d['import-values'] ?? null,
      Alias: str(d.alias),
    });
  });
  const s = new GoStruct('chart.Metadata', { ...fields, IsRoot: isRoot });
  Object.assign(s, { jsonNames });
  Object.defineProperty(s, 'jsonNames', { enumerable: false, value: jsonNames });
  return s;
}

export function toYaml(v: unknown): string {
  try {
    return goYamlMarshal(v).replace(/\n$/, '');
  } catch {
    return '';
  }
}

// ── the engine ───────────────────────────────────────────────────────────────

export interface RenderedTemplate {
  /** Template name: `nats/templates/statefulset.yaml`. */
  name: string;
  chart: HelmChart;
  output: string;
  /** [offset in output, template line, text node] (after `<no value>` removal). */
  marks: Array<[number, number, boolean]>;
}

function warnWrap(msg: string): string {
  return `HELM_ERR_START${msg}HELM_ERR_END`;
}

function sortTemplateNames(names: string[]): string[] {
  // byPathLen reversed: deepest first, and in reverse lexical order among equals
  return [...names].sort((a, b) => {
    const ca = a.split('/').length;
    const cb = b.split('/').length;
    if (ca !== cb) return cb - ca;
    return a < b ? 1 : a > b ? -1 : 0;
  });
}

function adjustMarks(raw: string, marks: Array<[number, number, boolean]>): { text: string; marks: Array<[number, number, boolean]> } {
  const hits: number[] = [];
  for (let i = raw.indexOf('<no value>'); i >= 0; i = raw.indexOf('<no value>', i + 10)) hits.push(i);
  if (hits.length === 0) return { text: raw, marks };
  let h = 0;
  const out = marks.map(([o, l, t]) => {
    while (h < hits.length && hits[h] < o) h++;
    return [Math.max(0, o - h * 10), l, t] as [number, number, boolean];
  });
  return { text: raw.split('<no value>').join(''), marks: out };
}

export interface EngineInput {
  top: HelmChart;
  values: Dict;
  release: { name: string; namespace: string; revision: number; isUpgrade: boolean };
  caps: GoStruct;
}

/** Render every template of the chart tree; returns the non-partial templates' outputs. */
/**
 * `m` seen as Helm's chartutil.Values (a chart's `.Values`), with its methods: `AsMap`, `Table "a.b"`
 * (the map at that path, itself a Values; `"x" is not a table` when a step is missing or no map),
 * `YAML` (sigs.k8s.io/yaml, trailing newline kept) and `PathValue "a.b"` (a non-map value;
 * `"b" is not a value` otherwise).
 */
export function chartValues(m: Dict): Dict {
  const q = (s: string) => goSprintf('%q', [s]);
  const table = (name: unknown): Dict => {
    let t: Dict = m;
    for (const n of str(name).split('.')) {
      const v = Object.hasOwn(t, n) ? t[n] : undefined;
      if (!isMap(v)) throw new FuncError(`${q(n)} is not a table`);
      t = v;
    }
    return chartValues(t);
  };
  // A proxy over the map: the same entries (reads and `set` go to `m`), its own identity, so the
  // map reached another way (`.Values.sub` in the parent, AsMap's result) stays a plain map, as in Go.
  return markChartValues(new Proxy(m, {}), {
    AsMap: () => (Object.keys(m).length === 0 ? {} : m),
    Table: (name: unknown) => table(name),
    YAML: () => goYamlMarshal(m),
    PathValue: (path: unknown) => {
      const parts = str(path).split('.');
      if (str(path) === '') throw new FuncError('YAML path cannot be empty');
      const key = parts.pop()!;
      let t: Dict = m;
      if (parts.length > 0) {
        try {
          t = table(parts.join('.'));
        } catch {
          throw new FuncError(`${q(key)} is not a value`);
        }
      }
      if (Object.hasOwn(t, key) && !isMap(t[key])) return t[key];
      throw new FuncError(`${q(key)} is not a value`);
    },
  });
}

export function renderTemplates(input: EngineInput): RenderedTemplate[] {
  const release: Dict = {
    Name: input.release.name,
    Namespace: input.release.namespace,
    IsUpgrade: input.release.isUpgrade,
    IsInstall: !input.release.isUpgrade,
    Revision: BigInt(input.release.revision),
    Service: 'Helm',
  };
  const entries = new Map<string, { data: string; vals: Dict; basePath: string; chart: HelmChart }>();
  const rec = (c: HelmChart, parentVals: Dict, isRoot: boolean): Dict => {
    const subCharts: Dict = {};
    const next: Dict = {
      Chart: chartObject(c.meta, isRoot),
      Files: new ChartFiles(c.files),
      Release: release,
      Capabilities: input.caps,
      Values: chartValues({}),
      Subcharts: subCharts,
    };
    if (isRoot) next.Values = isMap(parentVals.Values) ? chartValues(parentVals.Values) : parentVals.Values;
    else {
      const pv = parentVals.Values;
      const own = isMap(pv) ? pv[c.name] : undefined;
      if (isMap(own)) next.Values = chartValues(own);
    }
    for (const d of c.deps) setKey(subCharts, d.name, rec(d, next, false));
    for (const t of c.templates) {
      if (c.isLibrary && !t.name.slice(t.name.lastIndexOf('/') + 1).startsWith('_')) continue;
      entries.set(`${c.fullPath}/${t.name}`, { data: t.data, vals: next, basePath: `${c.fullPath}/templates`, chart: c });
    }
    return next;
  };
  rec(input.top, { Values: input.values }, true);

  const set = new TemplateSet();
  set.funcs = helmFuncs(set);
  const names = sortTemplateNames([...entries.keys()]);
  for (const n of names) {
    try {
      set.parse(n, entries.get(n)!.data);
    } catch (err) {
      throw cleanupParseError(err);
    }
  }
  const out: RenderedTemplate[] = [];
  for (const n of names) {
    const base = n.slice(n.lastIndexOf('/') + 1);
    if (base.startsWith('_')) continue;
    const e = entries.get(n)!;
    e.vals.Template = { Name: n, BasePath: e.basePath };
    const w = new Writer(true);
    try {
      set.execute(n, e.vals, w);
    } catch (err) {
      if (base === 'NOTES.txt') continue;
      throw cleanupError(err);
    }
    if (base === 'NOTES.txt') continue;
    const adjusted = adjustMarks(w.toString(), w.marks);
    out.push({ name: n, chart: e.chart, output: adjusted.text, marks: adjusted.marks });
  }
  return out;
}

/**
 * `/HELM_ERR_START([\s\S]*)HELM_ERR_END/.exec(message)?.[1]` by index (the first start, the last
 * end after it): the regex was quadratic on a chart's crafted `fail` message.
 */
export function helmErrMessage(message: string): string | undefined {
  const start = message.indexOf('HELM_ERR_START');
  const end = start < 0 ? -1 : message.lastIndexOf('HELM_ERR_END');
  return start >= 0 && end >= start + 'HELM_ERR_START'.length ? message.slice(start + 'HELM_ERR_START'.length, end) : undefined;
}

/**
 * Helm's cleanupExecError for `required`/`fail`: `execution error at (FILE:LINE:COL): msg`, the
 * location being what lies between the message's first and second `: ` (strings.SplitN).
 */
function cleanupError(err: unknown): Error {
  if (!(err instanceof Error)) return new Error(String(err));
  const msg = helmErrMessage(err.message);
  if (msg !== undefined) {
    const first = err.message.indexOf(': ');
    const second = first < 0 ? -1 : err.message.indexOf(': ', first + 2);
    return new TemplateExecError(`execution error at (${second < 0 ? '?' : err.message.slice(first + 2, second)}): ${msg}`, msg);
  }
  return err;
}

/**
 * Helm's cleanupParseError: `parse error at (FILE:LINE): MSG`, the location the text between the
 * first and second `: `, the message what follows the last `: ` (strings.Split).
 */
function cleanupParseError(err: unknown): unknown {
  if (!(err instanceof TemplateParseError)) return err;
  const parts = err.message.split(': ');
  if (parts.length === 1) return err;
  return new TemplateParseError(`parse error at (${parts[1]}): ${parts[parts.length - 1]}`);
}

/** The function map of a template set: sprig, Helm's own, and include/tpl closing over `set`. */
function helmFuncs(set: TemplateSet, base: Record<string, GoFunc> = helmBaseFuncs()): Record<string, GoFunc> {
  const include = (name: unknown, data: unknown) => {
    const n = str(name);
    const depth = set.includeDepth.get(n) ?? 0;
    if (depth > 1000) throw new FuncError(`rendering template has a nested reference name: ${n}: unable to execute template`);
    set.includeDepth.set(n, depth + 1);
    const w = new Writer(false);
    try {
      if (!set.has(n)) throw new FuncError(`template: no template ${JSON.stringify(n)} associated with template "gotpl"`);
      set.execute(n, data, w);
    } finally {
      set.includeDepth.set(n, depth);
    }
    return w.toString();
  };
  const tpl = (text: unknown, vals: unknown) => {
    // Helm clones the set, so defines in the text are visible to include inside it only
    const child = set.child();
    child.funcs = helmFuncs(child, base);
    const t = str(text);
    // Helm (3.13 on) parses the text as a template named after the set's root, `gotpl`, and wraps
    // what fails in it: `cannot parse template "…": template: gotpl:1: …`, `error during tpl
    // function execution for "…": template: gotpl:1:3: executing "gotpl" at <…>: …`
    let body;
    try {
      body = child.parse('gotpl', t);
    } catch (e) {
      if (e instanceof TemplateParseError) throw new FuncError(`cannot parse template ${goQuote(t)}: ${e.message}`);
      throw e;
    }
    const w = new Writer(false);
    try {
      child.executeBody('gotpl', body, vals, w);
    } catch (e) {
      if (e instanceof TemplateExecError && !e.bound) throw new TemplateExecError(`error during tpl function execution for ${goQuote(t)}: ${e.message}`, e.bare);
      throw e;
    }
    return w.toString().split('<no value>').join('');
  };
  return { ...base, include, tpl };
}

function helmBaseFuncs(): Record<string, GoFunc> {
  const f: Record<string, GoFunc> = { ...sprigFuncs() };
  delete f.env;
  delete f.expandenv;
  Object.assign(f, {
    required: (msg: unknown, v: unknown) => {
      if (isNil(v) || v === '') throw new FuncError(warnWrap(str(msg)));
      return v;
    },
    fail: (msg: unknown) => {
      throw new FuncError(warnWrap(str(msg)));
    },
    toYaml: (v: unknown) => toYaml(v),
    toYamlPretty: (v: unknown) => toYaml(v),
    mustToYaml: (v: unknown) => goYamlMarshal(v).replace(/\n$/, ''),
    fromYaml: (s: unknown) => {
      try {
        const v = parseGoYaml(str(s));
        if (isNil(v)) return {};
        if (!isMap(v)) return { Error: `error unmarshaling JSON: json: cannot unmarshal ${jsonKind(v)} into Go value of type map[string]interface {}` };
        return v;
      } catch (e) {
        return { Error: (e as Error).message };
      }
    },
    fromYamlArray: (s: unknown) => {
      try {
        const v = parseGoYaml(str(s));
        if (isNil(v)) return [];
        if (!Array.isArray(v)) return [`error unmarshaling JSON: json: cannot unmarshal ${jsonKind(v)} into Go value of type []interface {}`];
        return v;
      } catch (e) {
        return [(e as Error).message];
      }
    },
    toJson: (v: unknown) => {
      try {
        return goJson(v);
      } catch {
        return '';
      }
    },
    fromJson: (s: unknown) => {
      const v = jsonDecode(str(s), 'map[string]interface {}');
      // json.Unmarshal of null into the map makes it a nil map (prints map[], toJson null)
      return typeof v === 'string' ? { Error: v } : isNil(v) ? nilMap() : v;
    },
    fromJsonArray: (s: unknown) => {
      const v = jsonDecode(str(s), '[]interface {}');
      return typeof v === 'string' ? [v] : isNil(v) ? new GoTypedSlice('[]interface {}', [], true) : v;
    },
    toToml: (v: unknown) => {
      // BurntSushi/toml encodes a map or a struct; any other top-level value is its error
      const top = v instanceof GoStruct && v.goRange ? v.goRange() : v;
      if (!isMap(top) && !(top instanceof GoStruct)) return 'toml: top-level values must be Go maps or structs';
      try {
        const t = toTomlable(top) as Record<string, unknown>;
        // BurntSushi/toml writes a newline only after something it wrote: an empty map (or one of
        // nils only) is the empty string, where smol-toml gives "\n"
        return Object.keys(t).length === 0 ? '' : tomlStringify(t);
      } catch (e) {
        return (e as Error).message;
      }
    },
    lookup: () => ({}),
  });
  return f;
}

function toTomlable(v: unknown): unknown {
  if (typeof v === 'bigint') return v;
  if (v instanceof GoSizedInt) return v.n;
  if (Array.isArray(v)) return v.map(toTomlable);
  if (isMap(v)) {
    const out: Dict = {};
    for (const k of Object.keys(v).sort()) if (!isNil(v[k])) setKey(out, k, toTomlable(v[k]));
    return out;
  }
  return v;
}

export { parseGoYamlAll };
