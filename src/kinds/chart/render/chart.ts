/**
 * The chart as Helm's engine sees it: metadata, default values, schema, templates, other files and
 * dependencies; and Helm's dependency processing (conditions, tags, aliases, import-values) and
 * values coalescing (parent overrides subchart, `global` flows down, null deletes a default).
 */
import semver from 'semver';
import type { LoadedChart, ChartDependency } from '../load.js';
import { deepCopy, isMap, isNil } from './govalue.js';
import { parseGoYaml, setKey, YamlParseError } from './goyaml.js';
import { mastermindsSatisfies } from './sprig.js';
import { helmIgnore, HelmIgnoreError } from './helmignore.js';

type Dict = Record<string, unknown>;

export class ChartRenderError extends Error {}

export interface HelmChart {
  /** Chart.yaml as Go data, `name` replaced by the alias when one applies. */
  meta: Dict;
  name: string;
  /** Path prefix of template names: `keycloak`, `keycloak/charts/postgresql`. */
  fullPath: string;
  values: Dict;
  schema?: unknown;
  templates: Array<{ name: string; data: string }>;
  /** Every file that is not a template, Chart.yaml, values.yaml, values.schema.json or under charts/. */
  files: Map<string, Buffer>;
  deps: HelmChart[];
  /** Chart.yaml dependencies (requirements.yaml for apiVersion v1). */
  requirements: ChartDependency[];
  isLibrary: boolean;
  /** The loaded chart this came from (for provenance). */
  source: LoadedChart;
}

/**
 * `.Files.Glob`'s gobwas/glob → RegExp with '/' as the separator: `*` and `?` stay in one path
 * segment, `[...]` classes (`[!a]` negated), `**` crosses segments, `{a,b}`. (`.helmignore` is Go's
 * filepath.Match instead: helmignore.ts.)
 */
export function globToRegExp(glob: string, doubleStar = true): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (doubleStar && glob[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const j = glob.indexOf(']', i);
      if (j < 0) re += '\\[';
      else {
        re += `[${glob.slice(i + 1, j).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = j;
      }
    } else if (doubleStar && c === '{' && glob.indexOf('}', i) > i) {
      const j = glob.indexOf('}', i);
      re += `(?:${glob
        .slice(i + 1, j)
        .split(',')
        .map((a) => globToRegExp(a, true).source.slice(1, -1))
        .join('|')})`;
      i = j;
    } else if (c === '\\' && doubleStar) re += `\\${glob[++i] ?? '\\'}`;
    else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The .helmignore rules a chart's files are read with, and the chart's path from where they were read. */
interface IgnoreRules {
  ignore: (rel: string, isDir: boolean) => boolean;
  prefix: string;
  /** Directories already asked about (each file asks for every directory above it). */
  dirs: Map<string, boolean>;
}

/** Helm walks down the tree and skips an ignored directory whole: a path is ignored when a directory above it is. */
function isIgnored(rel: string, rules: IgnoreRules, isDir = false): boolean {
  let at = rel.indexOf('/');
  while (at >= 0) {
    const dir = rel.slice(0, at);
    let hit = rules.dirs.get(dir);
    if (hit === undefined) rules.dirs.set(dir, (hit = rules.ignore(dir, true)));
    if (hit) return true;
    at = rel.indexOf('/', at + 1);
  }
  return rules.ignore(rel, isDir);
}

/**
 * The rules a chart is read with. A packaged chart (a .tgz, or a directory inside one) is taken as
 * it is (Helm's LoadArchive applies none, its .helmignore is one more file); a chart directory
 * with its own `.helmignore` and Helm's default `templates/.?*` (dot files among the root chart's
 * templates are never rendered: calico's templates/.gitattributes); a subchart directory with the
 * top chart's (Helm's LoadDir walks the whole tree, charts/ included, and reads no subchart
 * directory's own: stable/hlf-ca's `tests` drops the tests/ of its vendored mysql).
 */
function ignoreRules(loaded: LoadedChart, raw: Map<string, Buffer>, inherited: IgnoreRules | undefined): IgnoreRules | undefined {
  if (loaded.packaged) return undefined;
  if (inherited) return inherited;
  try {
    return { ignore: helmIgnore(raw.get('.helmignore')?.toString('utf8'), true, `${loaded.where}/.helmignore`), prefix: '', dirs: new Map() };
  } catch (e) {
    if (e instanceof HelmIgnoreError) throw new ChartRenderError(e.message);
    throw e;
  }
}

function parseChartYaml(text: string, where: string): Dict {
  try {
    const v = parseGoYaml(text);
    return isMap(v) ? v : {};
  } catch (e) {
    throw new ChartRenderError(`${where}/Chart.yaml: ${(e as Error).message}`);
  }
}

/** Build Helm's chart tree from a loaded chart (which must carry raw files: loadChart(…, { allFiles: true })). */
export function toHelmChart(loaded: LoadedChart, parentPath?: string, inherited?: IgnoreRules): HelmChart {
  const all = loaded.raw;
  if (!all) throw new ChartRenderError(`${loaded.where}: chart loaded without its files (load with allFiles to render)`);
  const rules = ignoreRules(loaded, all, inherited);
  const raw = rules ? new Map([...all].filter(([rel]) => !isIgnored(rules.prefix + rel, rules))) : all;
  if (!raw.has('Chart.yaml') && all.has('Chart.yaml')) {
    throw new ChartRenderError(`${loaded.where}: Chart.yaml file is missing: the chart's .helmignore drops it (Helm reads a rule \`!x\` as ignoring every path that x does not match; helm refuses the chart too)`);
  }
  const text = (rel: string) => raw.get(rel)?.toString('utf8');
  const meta = parseChartYaml(text('Chart.yaml') ?? '', loaded.where);
  // Helm 3 loads a Chart.yaml without apiVersion (a Helm 2 chart: many of helm/charts' stable and
  // incubator) as apiVersion v1, requirements.yaml and all.
  if (isNil(meta.apiVersion) || meta.apiVersion === '') meta.apiVersion = 'v1';
  const name = String(meta.name ?? loaded.metadata.name);
  let values: Dict = {};
  const vtext = text('values.yaml') ?? text('values.yml');
  if (vtext !== undefined) {
    try {
      const v = parseGoYaml(vtext);
      values = isMap(v) ? v : {};
    } catch (e) {
      throw new ChartRenderError(`${loaded.where}/values.yaml: ${e instanceof YamlParseError ? e.message : String(e)}`);
    }
  }
  let schema: unknown;
  const stext = text('values.schema.json');
  if (stext !== undefined) {
    try {
      schema = JSON.parse(stext);
    } catch (e) {
      throw new ChartRenderError(`${loaded.where}/values.schema.json: ${(e as Error).message}`);
    }
  }
  const templates: HelmChart['templates'] = [];
  const files = new Map<string, Buffer>();
  for (const [rel, buf] of [...raw].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (rel === 'Chart.yaml' || rel === 'values.yaml' || rel === 'values.schema.json' || rel === 'requirements.yaml' || rel === 'requirements.lock' || rel === 'Chart.lock') continue;
    if (rel.startsWith('charts/')) continue;
    if (rel.startsWith('templates/')) templates.push({ name: rel, data: buf.toString('utf8') });
    else files.set(rel, buf);
  }
  let requirements = (meta.dependencies as ChartDependency[] | undefined) ?? undefined;
  // Helm 3's loader reads requirements.yaml over the Chart.yaml metadata whatever the apiVersion
  // (only warning for v2): its `dependencies` are the chart's.
  const rtext = text('requirements.yaml');
  const r = rtext === undefined ? undefined : parseGoYaml(rtext);
  if (isMap(r) && Object.hasOwn(r, 'dependencies')) requirements = (r.dependencies as ChartDependency[] | null) ?? [];
  const fullPath = parentPath ? `${parentPath}/charts/${name}` : name;
  const chart: HelmChart = {
    meta,
    name,
    fullPath,
    values,
    schema,
    templates,
    files,
    deps: [],
    requirements: (requirements ?? []).filter((d) => d && typeof d.name === 'string').map((d) => ({ ...d })),
    isLibrary: meta.type === 'library',
    source: loaded,
  };
  for (const sub of loaded.subcharts) {
    const base = sub.where.slice(sub.where.lastIndexOf('/') + 1);
    if (base.startsWith('_') || base.startsWith('.')) continue;
    if (rules && isIgnored(`${rules.prefix}charts/${base}`, rules, !sub.packaged || !base.endsWith('.tgz'))) continue;
    const subRules = rules && !sub.packaged ? { ...rules, prefix: `${rules.prefix}charts/${base}/` } : undefined;
    // a subchart directory whose every file the top .helmignore drops is not there for Helm
    if (subRules && sub.raw && [...sub.raw.keys()].every((rel) => isIgnored(subRules.prefix + rel, subRules))) continue;
    chart.deps.push(toHelmChart(sub, fullPath, subRules));
  }
  return chart;
}

function withName(c: HelmChart, name: string, parentPath: string): HelmChart {
  const copy: HelmChart = { ...c, meta: { ...c.meta, name }, name, fullPath: `${parentPath}/charts/${name}` };
  copy.deps = c.deps.map((d) => withName(d, d.name, copy.fullPath));
  return copy;
}

function versionOk(constraint: string | undefined, version: unknown): boolean {
  if (!constraint) return true;
  const v = semver.coerce(String(version ?? ''), { includePrerelease: true });
  const clean = semver.valid(String(version ?? '').replace(/^v/, '')) ?? v?.version;
  if (!clean) return true;
  try {
    return mastermindsSatisfies(clean, constraint, true);
  } catch {
    return true;
  }
}

// ── values ───────────────────────────────────────────────────────────────────

/** Helm's -f merge: later maps merge into earlier, anything else replaces. */
export function mergeUserValues(base: Dict, over: Dict): Dict {
  const out: Dict = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    if (isMap(v) && isMap(b)) setKey(out, k, mergeUserValues(b, v));
    else setKey(out, k, v);
  }
  return out;
}

function coalesceTables(dst: Dict, src: Dict, merge: boolean, warn: (m: string) => void, prefix: string): Dict {
  for (const [key, val] of Object.entries(src)) {
    const full = prefix ? `${prefix}.${key}` : key;
    const has = Object.hasOwn(dst, key);
    const dv = dst[key];
    if (has && !merge && dv === null) delete dst[key];
    else if (!has) setKey(dst, key, deepCopy(val));
    else if (isMap(val)) {
      if (isMap(dv)) coalesceTables(dv, val, merge, warn, full);
      else if (!isNil(dv)) warn(`cannot overwrite table with non table for ${full}`);
    } else if (isMap(dv) && !isNil(val)) warn(`destination for ${full} is a table. Ignoring non-table value (${String(val)})`);
  }
  return dst;
}

function coalesceValues(c: HelmChart, v: Dict, merge: boolean, warn: (m: string) => void): void {
  for (const [key, val] of Object.entries(deepCopy(c.values))) {
    if (Object.hasOwn(v, key)) {
      const value = v[key];
      if (value === null && !merge) delete v[key];
      else if (isMap(value)) {
        if (isMap(val)) {
          const childMerge = merge || c.deps.some((d) => d.name === key);
          coalesceTables(value, val, childMerge, warn, key);
        } else if (!isNil(val)) warn(`skipped value for ${c.name}.${key}: Not a table.`);
      }
    } else setKey(v, key, val);
  }
}

function coalesceGlobals(dest: Dict, src: Dict, warn: (m: string) => void): void {
  const dg: Dict = isMap(dest.global) ? dest.global : {};
  const sg: Dict = isMap(src.global) ? src.global : {};
  for (const [key, val] of Object.entries(sg)) {
    if (isMap(val)) {
      const vv = deepCopy(val);
      const dv = dg[key];
      if (!Object.hasOwn(dg, key)) setKey(dg, key, vv);
      else if (!isMap(dv)) warn(`Conflict: cannot merge map onto non-map for "${key}". Skipping.`);
      else {
        coalesceTables(vv, dv, true, warn, key);
        setKey(dg, key, vv);
      }
    } else if (isMap(dg[key])) warn(`key ${key} is table. Skipping`);
    else setKey(dg, key, val);
  }
  dest.global = dg;
}

function coalesceDeps(c: HelmChart, dest: Dict, merge: boolean, warn: (m: string) => void): void {
  for (const sub of c.deps) {
    if (!Object.hasOwn(dest, sub.name) || isNil(dest[sub.name])) setKey(dest, sub.name, {});
    else if (!isMap(dest[sub.name])) throw new ChartRenderError(`type mismatch on ${sub.name}: ${String(dest[sub.name])}`);
    const dv = dest[sub.name] as Dict;
    coalesceGlobals(dv, dest, warn);
    coalesce(sub, dv, merge, warn);
  }
}

/** chartutil.CoalesceValues: user values over the chart's defaults, recursively into subcharts. */
export function coalesce(c: HelmChart, v: Dict, merge = false, warn: (m: string) => void = () => {}): Dict {
  coalesceValues(c, v, merge, warn);
  coalesceDeps(c, v, merge, warn);
  return v;
}

function pathValue(v: Dict, path: string): unknown {
  let cur: unknown = v;
  for (const p of path.split('.')) {
    if (!isMap(cur) || !Object.hasOwn(cur, p)) return undefined;
    cur = cur[p];
  }
  return cur;
}

export interface DisabledDependency {
  chart: string;
  dependency: string;
  reason: string;
}

/**
 * processDependencyEnabled: keep the dependencies Chart.yaml lists (aliased copies per alias) and
 * the unlisted ones under charts/, then drop those whose tags/condition say disabled.
 */
export function processDependencies(top: HelmChart, user: Dict, warn: (m: string) => void, disabled: DisabledDependency[], missing: Array<{ chart: string; dependency: string }>): void {
  const walk = (c: HelmChart, vals: Dict, path: string) => {
    if (c.requirements.length === 0) {
      for (const d of c.deps) walk(d, vals, `${path}${d.name}.`);
      return;
    }
    const kept: HelmChart[] = [];
    for (const existing of c.deps) {
      if (!c.requirements.some((r) => r.name === existing.name && versionOk(r.version, existing.meta.version))) kept.push(existing);
    }
    const reqs = c.requirements.map((r) => ({ ...r, enabled: true, effName: r.alias || r.name }));
    for (const r of reqs) {
      // Helm's getAliasDependency: only a chart whose version is in the range is used (and aliased);
      // one outside it stays under charts/ as an unlisted chart with its own name (kept above).
      const found = c.deps.find((d) => d.name === r.name && versionOk(r.version, d.meta.version));
      if (!found) {
        if (!c.deps.some((d) => d.name === r.name)) {
          missing.push({ chart: c.fullPath, dependency: r.name });
          r.enabled = false;
        }
        continue;
      }
      kept.push(r.alias ? withName(found, r.alias, c.fullPath) : found);
    }
    c.deps = kept;
    const cvals = coalesce(c, deepCopy(vals), false, () => {});
    // tags
    const tags = isMap(cvals.tags) ? cvals.tags : undefined;
    for (const r of reqs) {
      if (!r.tags?.length || !tags) continue;
      let hasTrue = false;
      let hasFalse = false;
      for (const t of r.tags) {
        if (tags[t] === true) hasTrue = true;
        else if (tags[t] === false) hasFalse = true;
      }
      if (!hasTrue && hasFalse) {
        r.enabled = false;
        disabled.push({ chart: c.fullPath, dependency: r.effName, reason: `tags ${r.tags.join(', ')} are false` });
      }
    }
    // conditions
    for (const r of reqs) {
      if (!r.condition || !c.deps.some((d) => d.name === r.effName)) continue;
      for (const cond of r.condition.split(',').map((s) => s.trim())) {
        if (!cond) continue;
        const v = pathValue(cvals, `${path}${cond}`.replace(/^\./, ''));
        if (v === undefined) continue;
        if (typeof v === 'boolean') {
          const before = r.enabled;
          r.enabled = v;
          if (!v) disabled.push({ chart: c.fullPath, dependency: r.effName, reason: `condition ${cond} is false` });
          else if (!before) {
            const i = disabled.findIndex((d) => d.chart === c.fullPath && d.dependency === r.effName);
            if (i >= 0) disabled.splice(i, 1);
          }
          break;
        }
        warn(`Condition path '${cond}' for chart ${r.effName} returned non-bool value`);
      }
    }
    const off = new Set(reqs.filter((r) => !r.enabled).map((r) => r.effName));
    c.deps = c.deps.filter((d) => !off.has(d.name));
    c.requirements = reqs.filter((r) => r.enabled);
    for (const d of c.deps) walk(d, cvals, `${path}${d.name}.`);
  };
  // conditions are read from the fully coalesced values of the top chart, paths from the top
  walk(top, user, '');
}

/** import-values: copy child values into the parent's values (below the parent's own). */
export function processImportValues(c: HelmChart, warn: (m: string) => void): void {
  for (const d of c.deps) processImportValues(d, warn);
  const reqs = c.requirements as Array<ChartDependency & { 'import-values'?: unknown[]; effName?: string }>;
  let imported: Dict = {};
  let any = false;
  for (const r of reqs) {
    const iv = r['import-values'];
    if (!Array.isArray(iv) || iv.length === 0) continue;
    const sub = c.deps.find((d) => d.name === (r.alias || r.name));
    if (!sub) continue;
    const subVals = coalesce(sub, deepCopy(sub.values));
    for (const item of iv) {
      let child: string;
      let parent: string;
      if (typeof item === 'string') {
        child = `exports.${item}`;
        parent = '';
      } else if (isMap(item)) {
        child = String(item.child ?? '');
        parent = String(item.parent ?? '');
      } else continue;
      const v = pathValue(subVals, child);
      if (!isMap(v)) {
        warn(`import-values: ${child} in ${sub.name} is not a table`);
        continue;
      }
      any = true;
      let target: Dict = {};
      if (parent) {
        const parts = parent.split('.');
        let cur = target;
        for (const p of parts.slice(0, -1)) cur = (cur[p] = {}) as Dict;
        cur[parts[parts.length - 1]] = deepCopy(v);
      } else target = deepCopy(v);
      imported = mergeUserValues(imported, target);
    }
  }
  if (any) c.values = mergeUserValues(imported, c.values);
}
