import { randomBytes } from 'node:crypto';
import semver from 'semver';
import { existsSync } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { isWithin } from '../../store/safe-path.js';
import path from 'node:path';
import { FerryError } from '../../errors.js';
import { parseYamlDocuments, type YamlDocumentData } from '../input-file.js';
import { brief, emptyConversion, includeWalk, isHttpUrl, isMapping, isSet, localFile, splitOciChart, stepInto, stepTodo, text, TRUST_TODO, type Conversion, type IncludeWalk, type SourcePlace } from './common.js';

/**
 * A helmfile state file (`helmfile.yaml`, `helmfile.yaml.gotmpl`) read as a ferry manifest:
 * each release becomes a chart (`repo/chart` through `repositories:`, HTTP or `oci: true`, or an
 * `oci://` reference), with its version and values files; ferry renders the chart with them to
 * find its images. Fields as in helmfile/helmfile pkg/state (ReleaseSetSpec, ReleaseSpec,
 * RepositorySpec) and docs/configuration.md.
 *
 * What helmfile decides when it runs is never guessed: a Go template action is kept out of the
 * YAML before it is parsed (a placeholder in its place), and a value that holds one is carried
 * only when the action is a plain reference (`.Values.a.b`, `.StateValues.a.b`,
 * `.Environment.Values.a.b`, `.Environment.Name`) to a scalar of the environment's values as they
 * are written (inline, or a plain YAML values file inside the tree); a part whose structure
 * template actions make (`{{ range }}`, `{{- … }}`, a line that is only an action) is not read.
 * `bases:` and `helmfiles:` are followed inside the top file's directory tree, bounded in depth
 * and files; a cycle is named, not followed.
 */

export interface HelmfileOptions {
  /** Where the converted manifest is written (local paths are made relative to it). */
  outDir: string;
  /** The helmfile environment (`helmfile --environment`): whose values templates are read with. */
  environment: string;
  /** Read a state or values file's text (`real` path) from outside, bounded as the manifest reader; undefined when it is missing. */
  read: (real: string, what: string) => Promise<string | undefined>;
}

/** How far `bases:` and `helmfiles:` are followed, and how many files (state and values) one conversion reads. */
export const HELMFILE_LIMITS = { depth: 8, files: 64 };

const TOP_QUIET = new Set(['helmBinary', 'kustomizeBinary', 'commonLabels', 'lockFilePath', 'missingFileHandler', 'missingFileHandlerConfig', 'kubeContext', 'context', 'namespace', 'llm', 'ignoreMissingGitBranch']);
const TOP_READ = new Set(['repositories', 'releases', 'environments', 'bases', 'helmfiles', 'values', 'templates', 'defaultInherit', 'kubeVersion', 'helmDefaults', 'hooks', 'apiVersions']);
/** Release fields that say how helmfile deploys, and carry nothing. */
const RELEASE_QUIET = new Set([
  'name', 'description', 'namespace', 'labels', 'needs', 'createNamespace', 'wait', 'waitRetries', 'waitForJobs', 'timeout', 'recreatePods', 'force', 'updateStrategy', 'atomic',
  'rollbackOnFailure', 'cleanupOnFail', 'forceConflicts', 'historyMax', 'reuseValues', 'disableOpenAPIValidation', 'disableValidation', 'disableValidationOnInstall', 'missingFileHandler',
  'missingFileHandlerConfig', 'unitTests', 'kubeContext', 'skipDeps', 'skipRefresh', 'skipSchemaValidation', 'cascade', 'suppressOutputLineRegex', 'suppressDiff', 'syncReleaseLabels',
  'disableAutoDetectedKubeVersionForDiff', 'adopt', 'enableDNS', 'waitTemplate', 'inherit', 'valuesPathPrefix', 'env', 'deleteWait', 'deleteTimeout', 'takeOwnership', 'serverSide',
  'trackMode', 'trackTimeout', 'trackLogs', 'trackFailedLogs', 'helmStuckGrace', 'trackKinds', 'skipKinds', 'trackResources', 'kubedogQPS', 'kubedogBurst', 'trackFailOnError',
]);
const RELEASE_READ = new Set(['chart', 'version', 'values', 'installed', 'kubeVersion']);
/** Release fields that change the chart helmfile renders (chartify, post-renderers): images they add are not found. */
const RELEASE_RESHAPES = new Set(['postRenderer', 'postRendererArgs', 'jsonPatches', 'strategicMergePatches', 'transformers', 'dependencies', 'forceNamespace', 'forceGoGetter', 'chartPath', 'directory']);
const REPO_TRUST = ['caFile', 'certFile', 'keyFile', 'username', 'password', 'registryConfig', 'skipTLSVerify', 'plainHttp', 'passCredentials', 'verify', 'keyring'];

// ───────────────────────── Go templates ─────────────────────────

/** A template action kept out of the YAML: its text and line. */
interface Action {
  expr: string;
  line: number;
}

interface MaskedText {
  text: string;
  /** Placeholder → the action it stands for. */
  actions: Map<string, Action>;
  /** The placeholder's pattern (a fresh nonce each file, never in its text). */
  pattern: RegExp;
  /** Parts (`---` apart) whose structure template actions make: their first such line; the part is blanked. */
  structural: Array<{ from: number; to: number; line: number; expr: string }>;
}

/**
 * The template actions of a line (`{{ … }}`, each to the first `}}` after its `{{`, as a lazy match
 * finds them) and whether a `{{` is left unclosed: one pass, linear (a lazy regex tried from every
 * `{{` of a long line with no `}}` was quadratic).
 */
function actionsOf(line: string): { spans: Array<{ start: number; end: number; inner: string }>; unclosed: boolean } {
  const spans: Array<{ start: number; end: number; inner: string }> = [];
  let from = 0;
  for (;;) {
    const start = line.indexOf('{{', from);
    if (start < 0) return { spans, unclosed: false };
    const close = line.indexOf('}}', start + 2);
    if (close < 0) return { spans, unclosed: true };
    spans.push({ start, end: close + 2, inner: line.slice(start + 2, close) });
    from = close + 2;
  }
}

/**
 * The text with each inline template action replaced by a placeholder (letters and digits: a
 * plain YAML scalar, which no value can turn into structure), and each part whose structure
 * actions make blanked (line numbers kept). Structural: an action that spans lines, trims
 * whitespace (`{{-`, `-}}`: it joins lines), stands alone on its line, or sits in a comment
 * (helmfile renders comments too, so what it writes is not known to stay in one).
 */
export function maskTemplates(raw: string): MaskedText {
  let nonce = randomBytes(6).toString('hex');
  while (raw.includes(nonce)) nonce = randomBytes(6).toString('hex');
  const lines = raw.split('\n');
  const actions = new Map<string, Action>();
  const structural: MaskedText['structural'] = [];
  let partStart = 0;
  let partStructural: { line: number; expr: string } | undefined;
  const closePart = (end: number) => {
    if (partStructural) {
      structural.push({ from: partStart + 1, to: end, ...partStructural });
      for (let k = partStart; k < end; k++) if (!/^---(\s|$)/.test(lines[k])) lines[k] = '';
    }
    partStructural = undefined;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^---(\s|$)/.test(line)) {
      closePart(i);
      partStart = i;
      continue;
    }
    if (!line.includes('{{')) continue;
    const mark = (expr: string) => void (partStructural ??= { line: i + 1, expr: expr.trim().slice(0, 120) });
    const { spans, unclosed } = actionsOf(line);
    if (unclosed) {
      mark(line);
      continue;
    }
    let n = 0;
    let structuralHere = false;
    // The first `#` of the line, once: an action after it sits in a comment.
    const hash = line.indexOf('#');
    let replaced = '';
    let outside = '';
    let at = 0;
    for (const { start, end, inner } of spans) {
      replaced += line.slice(at, start);
      outside += line.slice(at, start);
      at = end;
      if (inner.startsWith('-') || inner.endsWith('-')) structuralHere = true;
      if (inner.startsWith('/*') && inner.endsWith('*/')) continue;
      if (hash >= 0 && hash < start) structuralHere = true;
      const key = `ferry${nonce}t${actions.size + n++}x`;
      actions.set(key, { expr: inner.trim(), line: i + 1 });
      replaced += key;
    }
    replaced += line.slice(at);
    outside += line.slice(at);
    if (structuralHere || /^\s*(-\s*)?$/.test(outside)) mark(line);
    else lines[i] = replaced;
  }
  closePart(lines.length);
  return { text: lines.join('\n'), actions, pattern: new RegExp(`ferry${nonce}t\\d+x`, 'g'), structural };
}

// ───────────────────────── values ─────────────────────────

/** An environment's values as ferry could read them, and what it could not read. */
interface Values {
  data: Record<string, unknown>;
  /** Sources whose values are not known here (templates, secrets, missing files): a key not found may be in them. */
  unknown: string[];
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isMapping(out[k]) && isMapping(v) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  return out;
}

const REFERENCE = /^\.(Values|StateValues|Environment\.Values)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)$/;

/** What a string holds once its template actions are resolved: the text, or why it is not known. */
type Expanded = { value: string } | { unknown: string; todo: string };

// ───────────────────────── the walk ─────────────────────────

interface StateFile {
  /** As shown to the user. */
  file: string;
  /** Directory its relative paths start at. */
  base: string;
  /** Real paths of state files on this include chain (cycles). */
  chain: string[];
  masked: MaskedText;
}

interface Repo {
  url: string;
  oci: boolean;
  /** Why its URL is not known (a template ferry does not resolve). */
  unknown?: { unknown: string; todo: string };
}

/** One state (a top or included helmfile) with its bases merged in: what its releases are read with. */
interface State {
  repos: Map<string, Repo>;
  values: Values;
  templates: Record<string, Record<string, unknown>>;
  defaultInherit: string[];
  kubeVersion?: string;
  /** `missingFileHandler:` of the state (Error, Warn, Info, Debug; helmfile's default is Error). */
  missingFileHandler?: string;
  /** `lockFilePath:` of the state, relative to its directory (else `<name>.lock` beside it). */
  lockFilePath?: { path: string; from: SourcePlace };
  /** The versions helmfile.lock pins (`helmfile deps`), by chart name; undefined when there is none. */
  lock?: { shown: string; byName: Map<string, string[]> };
  releases: Array<{ release: unknown; at: (...p: Array<string | number>) => SourcePlace; sf: StateFile; path: Array<string | number> }>;
  /**
   * Local chart directories (the real path of their Chart.yaml) whose dependencies this state's
   * releases already carried, with how many: each is read once (releases of one chart, and a
   * dependency two charts share, would each read it again and repeat its notes).
   */
  localCharts: Map<string, number>;
  includes: Array<{ entry: unknown; at: (...p: Array<string | number>) => SourcePlace; sf: StateFile; path: Array<string | number> }>;
}

/** The bounded walk (root: the top file's real directory: includes and values files are read only inside it). */
interface Walk extends IncludeWalk {
  opts: HelmfileOptions;
  conv: Conversion;
  states: number;
}

export async function convertHelmfile(file: string, abs: string, opts: HelmfileOptions): Promise<Conversion & { states: number }> {
  const conv = emptyConversion();
  const root = await realpath(path.dirname(abs));
  const walk: Walk = { ...includeWalk(root, HELMFILE_LIMITS, { tree: 'the top helmfile\'s directory', step: 'include' }), opts, conv, states: 0 };
  // A helmfile has no name of its own: the manifest is named after its directory (--name says otherwise).
  conv.name = path.basename(path.dirname(abs));
  const real = await realpath(abs).catch(() => abs);
  const read = await readState(real, file, walk);
  if (read === undefined) throw new FerryError('USAGE', `${file}: no such file`, { hint: 'Name the helmfile.yaml (or helmfile.yaml.gotmpl) you run helmfile with.' });
  if (!read.docs.some((d) => isMapping(d.value) && ['releases', 'helmfiles', 'bases', 'repositories', 'environments'].some((k) => k in (d.value as object))) && !read.masked.structural.length) {
    throw new FerryError('VALIDATION', `${file}: no releases:, helmfiles:, bases:, repositories: or environments: in it; not a helmfile state file`, { hint: 'Name the helmfile.yaml you run helmfile with; for a zarf.yaml use `ferry convert zarf`, for Hauler manifests `ferry convert hauler`.' });
  }
  await convertState(file, abs, [real], read.masked, read.docs, walk, undefined);
  if (conv.candidates.length) {
    conv.notes.push({
      from: { file },
      item: 'releases',
      why: 'each release is carried as a chart with images: discover (the default): `ferry lock` renders the chart with the values files listed to find the images it deploys; values helmfile passes otherwise (set:, inline values, secrets, templates) are not seen',
      todo: 'Compare the lock\'s images with what `helmfile template` renders; list an image discovery misses under images:.',
    });
  }
  return { ...conv, states: walk.states };
}

type ReadState = { masked: MaskedText; docs: YamlDocumentData[] };

/** A state file, read bounded, its template actions masked, then parsed (bounded as the manifest reader); undefined when missing. */
async function readState(real: string, shown: string, walk: Walk): Promise<ReadState | undefined> {
  const raw = await walk.opts.read(real, `helmfile state file ${shown}`);
  if (raw === undefined) return undefined;
  const masked = maskTemplates(raw);
  return { masked, docs: parseYamlDocuments(masked.text, shown, 'helmfile state file') };
}

async function convertState(file: string, abs: string, chain: string[], masked: MaskedText, docs: YamlDocumentData[], walk: Walk, includeValues: { entries: unknown; at: Here; sf: StateFile; path: Array<string | number> } | undefined): Promise<void> {
  walk.states++;
  const sf: StateFile = { file, base: path.dirname(abs), chain, masked };
  const state: State = { repos: new Map(), values: { data: {}, unknown: [] }, templates: {}, defaultInherit: [], releases: [], localCharts: new Map(), includes: [] };
  for (const s of masked.structural) {
    walk.conv.skipped.push({
      from: { file, line: s.line },
      item: `lines ${s.from}–${s.to}: ${s.expr}`,
      why: 'template actions make this part\'s YAML (a range, an if, a trimmed or stand-alone action, or one in a comment), so what it holds is known only when helmfile renders it',
      todo: `Render it with \`helmfile --environment ${walk.opts.environment} build\` (or \`helmfile template\`) and convert what helmfile prints, or write the part without template actions.`,
    });
  }
  await loadParts(sf, docs, state, walk);
  if (includeValues) await addValues(includeValues.entries, includeValues.at, includeValues.path, includeValues.sf, state.values, walk, 'values the including helmfile passes');
  await loadLock(sf, state, walk);
  for (const r of state.releases) await convertRelease(r.release, r.path, r.at, r.sf, state, walk);
  for (const inc of state.includes) await followInclude(inc.entry, inc.path, inc.at, inc.sf, state, walk);
}

type Here = (...p: Array<string | number>) => SourcePlace;

/** Add a state file's parts to `state`: its bases first, then its repositories, values, environment, templates, releases and includes. */
async function loadParts(sf: StateFile, docs: YamlDocumentData[], state: State, walk: Walk): Promise<void> {
  const { conv, opts } = walk;
  for (const doc of docs) {
    const top = doc.value;
    const at: Here = (...p) => ({ file: sf.file, line: doc.lineOf(p) });
    if (top === null || top === undefined) continue; // an empty part, or one blanked for its template actions
    if (!isMapping(top)) {
      conv.skipped.push({ from: at(), item: brief(top), why: 'a helmfile part must be a mapping', todo: 'Fix the helmfile.' });
      continue;
    }
    if (Array.isArray(top.bases)) {
      for (let i = 0; i < top.bases.length; i++) await followBase(top.bases[i], ['bases', i], at, sf, state, walk);
    }
    for (const key of Object.keys(top)) {
      const v = top[key];
      if (TOP_QUIET.has(key) || TOP_READ.has(key) || !isSet(v)) continue;
      conv.skipped.push({ from: at(key), item: `${key}: ${brief(v)}`, why: 'not a field of a helmfile state ferry knows', todo: 'Check the field; ferry converts what helmfile/helmfile pkg/state defines.' });
    }
    if (Array.isArray(top.repositories)) top.repositories.forEach((r, i) => addRepository(r, ['repositories', i], at, sf, state, walk));
    await addValues(top.values, at, ['values'], sf, state.values, walk, 'the helmfile\'s values');
    const envs = isMapping(top.environments) ? top.environments : {};
    const env = envs[opts.environment];
    if (isMapping(env)) {
      await addValues(env.values, at, ['environments', opts.environment, 'values'], sf, state.values, walk, `environment ${opts.environment}'s values`);
      if (isSet(env.secrets)) state.values.unknown.push(`environment ${opts.environment}'s secrets (${placeOf(at('environments', opts.environment, 'secrets'))})`);
    } else if (Object.keys(envs).length && opts.environment !== 'default') {
      conv.notes.push({ from: at('environments'), item: `environments: ${brief(envs)}`, why: `no environment ${opts.environment} here (helmfile refuses an environment no state file defines)`, todo: `Convert with --environment naming one of ${Object.keys(envs).join(', ')}.` });
    }
    if (isMapping(top.templates)) for (const [k, t] of Object.entries(top.templates)) if (isMapping(t)) state.templates[k] = t;
    const inherit = top.defaultInherit;
    if (typeof inherit === 'string') state.defaultInherit = [inherit];
    else if (Array.isArray(inherit)) state.defaultInherit = inherit.map(text).filter((t): t is string => Boolean(t));
    const kube = text(top.kubeVersion);
    if (kube) state.kubeVersion = kube;
    const mfh = text(top.missingFileHandler);
    if (mfh) state.missingFileHandler = mfh;
    const lockPath = text(top.lockFilePath);
    if (lockPath) state.lockFilePath = { path: lockPath, from: at('lockFilePath') };
    if (isSet(top.hooks)) conv.skipped.push({ from: at('hooks'), item: `hooks: ${brief(top.hooks)}`, why: 'commands helmfile runs around its work; ferry runs none', todo: 'Run them with your own tooling; anything they download is not carried: list it in the manifest (images:, files:).' });
    if (isSet(top.apiVersions)) conv.notes.push({ from: at('apiVersions'), item: `apiVersions: ${brief(top.apiVersions)}`, why: 'API versions helmfile gives helm to render with; ferry renders charts with its own capabilities', todo: 'A chart that picks images by .Capabilities.APIVersions may deploy others: check the lock\'s images against `helmfile template`.' });
    const defaults = isMapping(top.helmDefaults) ? top.helmDefaults : {};
    for (const key of ['args', 'postRenderer', 'postRendererArgs', 'templateArgs']) {
      if (isSet(defaults[key])) conv.skipped.push({ from: at('helmDefaults', key), item: `helmDefaults.${key}: ${brief(defaults[key])}`, why: 'helm arguments or a post-renderer for every release: they may set values or change what is rendered', todo: 'Write the values they set in a values file and list it under each chart\'s values:; list images a post-renderer adds under images:.' });
    }
    // What every release inherits that changes what is fetched or trusted: named like the release's own.
    for (const key of ['verify', 'keyring', 'insecureSkipTLSVerify', 'plainHttp']) {
      if (!isSet(defaults[key])) continue;
      const provenance = key === 'verify' || key === 'keyring';
      conv.skipped.push({ from: at('helmDefaults', key), item: `helmDefaults.${key}: ${brief(defaults[key])}`, why: provenance ? 'a provenance (.prov) check of every release\'s chart; ferry does not check chart provenance' : 'repository trust settings for every release', todo: provenance ? 'Check the charts\' provenance before you lock them.' : TRUST_TODO });
    }
    if (defaults.devel === true) conv.notes.push({ from: at('helmDefaults', 'devel'), item: 'helmDefaults.devel: true', why: 'helm takes pre-releases for every release without an exact version; ferry\'s "*" and ranges take releases only', todo: 'Write the exact (pre-release) version you deploy under each release\'s version:.' });
    if (Array.isArray(top.releases)) top.releases.forEach((r, i) => state.releases.push({ release: r, at, sf, path: ['releases', i] }));
    else if (isSet(top.releases)) conv.skipped.push({ from: at('releases'), item: `releases: ${brief(top.releases)}`, why: 'releases must be a list', todo: 'Fix the helmfile.' });
    if (Array.isArray(top.helmfiles)) top.helmfiles.forEach((h, i) => state.includes.push({ entry: h, at, sf, path: ['helmfiles', i] }));
  }
}

const placeOf = (p: SourcePlace) => `${p.file}${p.line ? `:${p.line}` : ''}`;

function addRepository(r: unknown, p: Array<string | number>, at: Here, sf: StateFile, state: State, walk: Walk): void {
  const name = isMapping(r) ? text(r.name) : undefined;
  const url = isMapping(r) ? text(r.url) : undefined;
  if (!isMapping(r) || !name || !url) {
    walk.conv.skipped.push({ from: at(...p), item: `repositories: ${brief(r)}`, why: 'a repository names name: and url:', todo: 'Fix the helmfile.' });
    return;
  }
  for (const key of REPO_TRUST) {
    if (isSet(r[key])) walk.conv.skipped.push({ from: at(...p, key), item: `repositories: ${name} ${key}`, why: key === 'verify' || key === 'keyring' ? 'a provenance (.prov) check of its charts; ferry does not check chart provenance' : 'repository credentials or trust settings', todo: key === 'verify' || key === 'keyring' ? 'Check the charts\' provenance before you lock them.' : TRUST_TODO });
  }
  const expanded = expand(url, sf, state, walk);
  state.repos.set(name, 'value' in expanded ? { url: expanded.value, oci: r.oci === true } : { url, oci: r.oci === true, unknown: expanded });
}

/**
 * Merge a `values:` list (inline mappings, values files) into `into`, as helmfile layers it
 * (later entries win, mappings merged deep). A file is read only when it is plain YAML inside
 * the tree; a `.gotmpl` file, a remote one, one outside or missing is named as a source whose
 * values are not known, so a reference that could come from it stays unknown.
 */
async function addValues(entries: unknown, at: Here, p: Array<string | number>, sf: StateFile, into: Values, walk: Walk, what: string): Promise<void> {
  if (!Array.isArray(entries)) return;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const place = placeOf(at(...p, i));
    if (isMapping(e)) {
      into.data = deepMerge(into.data, e);
      continue;
    }
    const f = text(e);
    if (f === undefined) continue;
    const unknown = (why: string) => void into.unknown.push(`${what}: ${f} (${place}, ${why})`);
    if (sf.masked.pattern.test(f)) {
      sf.masked.pattern.lastIndex = 0;
      unknown('a template path');
      continue;
    }
    if (/\.gotmpl$/.test(f) || f.includes('://') || f.includes('::')) {
      unknown(f.endsWith('.gotmpl') ? 'a template helmfile renders' : 'remote');
      continue;
    }
    if (!f.endsWith('.yaml') && !f.endsWith('.yml')) {
      unknown('not a YAML file');
      continue;
    }
    const step = await stepInto(walk, [], path.resolve(await realpath(sf.base), f), f);
    if ('refused' in step) {
      unknown(step.refused === 'missing' ? 'no such file' : step.why);
      continue;
    }
    const real = step.real;
    const read = await readYaml(step.real, path.join(path.dirname(sf.file), f), 'helmfile values file', walk);
    if ('problem' in read) {
      unknown(read.problem);
      continue;
    }
    const docs = read.docs;
    for (const d of docs ?? []) if (isMapping(d.value)) into.data = deepMerge(into.data, d.value);
  }
}

/** A YAML file the walk reached (`real`), read bounded and parsed; what went wrong as text. */
async function readYaml(real: string, shown: string, what: string, walk: Walk): Promise<{ docs: YamlDocumentData[] } | { problem: string }> {
  try {
    const t = await walk.opts.read(real, `${what} ${shown}`);
    return t === undefined ? { problem: `${shown} does not exist` } : { docs: parseYamlDocuments(t, shown, what) };
  } catch (err) {
    if (!(err instanceof FerryError)) throw err;
    return { problem: err.message };
  }
}

/**
 * The state's lock file, as helmfile finds it (pkg/state/chart_dependency.go): `lockFilePath:`,
 * else `<state file name without .gotmpl, .yaml, .yml>.lock`, relative to the state file's
 * directory; its `dependencies:` (name, repository, version) pin the releases' versions.
 * None there: nothing pinned (helmfile then takes what the versions say).
 */
async function loadLock(sf: StateFile, state: State, walk: Walk): Promise<void> {
  const name = state.lockFilePath?.path ?? `${path.basename(sf.file).replace(/\.gotmpl$/, '').replace(/\.ya?ml$/, '')}.lock`;
  const shown = path.join(path.dirname(sf.file), name);
  const from = state.lockFilePath?.from ?? { file: sf.file };
  const skip = (why: string, todo: string) => void walk.conv.skipped.push({ from, item: `lock file ${shown}`, why, todo });
  if (state.lockFilePath && sf.masked.pattern.test(name)) {
    sf.masked.pattern.lastIndex = 0;
    return skip('its path holds a template: the versions it pins are not read', 'Write the path, or pin the versions under each release\'s version:.');
  }
  const target = path.resolve(await realpath(sf.base), name);
  if (!(await stat(target).catch(() => undefined)) && !state.lockFilePath) return;
  const step = await stepInto(walk, [], target, shown);
  if ('refused' in step) return skip(`${step.why}: the versions it pins are not read`, 'Pin the versions under each release\'s version:, or keep the lock file beside the helmfile.');
  const read = await readYaml(step.real, shown, 'helmfile lock file', walk);
  const deps = 'docs' in read && read.docs.length === 1 && isMapping(read.docs[0].value) ? read.docs[0].value.dependencies : undefined;
  if (!Array.isArray(deps)) return skip('problem' in read ? read.problem : 'not a helmfile lock file (no dependencies: list)', 'Run `helmfile deps` to write it again.');
  // Each chart name's versions in the lock's order, at most LOCKED_PER_CHART of them: a release
  // looks at its own chart's few entries, not the whole lock (a crafted lock repeating one name
  // against as many releases was a semver check per pair: 34 s at 1 800 × 2 500).
  const byName = new Map<string, string[]>();
  let dropped = 0;
  for (const d of deps) {
    const n = isMapping(d) ? text(d.name) : undefined;
    const v = isMapping(d) ? text(d.version) : undefined;
    if (!n || !v) continue;
    const list = byName.get(n) ?? [];
    if (list.length >= LOCKED_PER_CHART) dropped++;
    else {
      list.push(v);
      byName.set(n, list);
    }
  }
  if (dropped) walk.conv.notes.push({ from, item: `lock file ${shown}`, why: `${dropped} entries past the first ${LOCKED_PER_CHART} of one chart name are not read (helmfile writes one per chart and repository)`, todo: 'Run `helmfile deps` to write it again.' });
  state.lock = { shown, byName };
}

/** At most this many versions of one chart name are read from a helmfile.lock. */
const LOCKED_PER_CHART = 64;

/** The version helmfile.lock pins for `chart` within `constraint` (helmfile's ResolvedDependencies.Get: the first locked version that satisfies it). */
function lockedVersion(lock: NonNullable<State['lock']>, chart: string, constraint: string | undefined): string | undefined {
  const range = semver.validRange(constraint ?? '*', { loose: true });
  if (range === null) return undefined;
  return lock.byName.get(chart)?.find((v) => semver.valid(v, { loose: true }) && semver.satisfies(v, range, { loose: true }));
}

/** A string of the helmfile with its template actions resolved, when each is a plain reference to a scalar of the environment's values. */
function expand(s: string, sf: StateFile, state: State, walk: Walk): Expanded {
  const { actions, pattern } = sf.masked;
  let problem: { unknown: string; todo: string } | undefined;
  const value = s.replace(pattern, (key) => {
    const a = actions.get(key);
    const expr = a?.expr ?? key;
    const r = resolveAction(expr, state, walk, sf);
    if ('value' in r) return r.value;
    problem ??= { unknown: `{{ ${expr} }} (line ${a?.line ?? '?'}): ${r.unknown}`, todo: r.todo };
    return key;
  });
  pattern.lastIndex = 0;
  return problem ?? { value };
}

function resolveAction(expr: string, state: State, walk: Walk, sf: StateFile): Expanded {
  const env = walk.opts.environment;
  if (expr === '.Environment.Name') return { value: env };
  const envVar = /^(?:requiredEnv|env)\s+"([^"]*)"/.exec(expr);
  if (envVar) return { unknown: `the environment variable ${envVar[1]} when helmfile runs`, todo: 'Write the value you deploy with in its place.' };
  const ref = REFERENCE.exec(expr);
  if (!ref) return { unknown: 'a template expression helmfile evaluates when it runs; ferry resolves only plain references to the environment\'s values', todo: `Write the value in its place, or render the helmfile (\`helmfile --environment ${env} build\`) and convert what it prints.` };
  const keys = ref[2].slice(1).split('.');
  let v: unknown = state.values.data;
  for (const k of keys) v = isMapping(v) ? v[k] : undefined;
  const t = typeof v === 'boolean' ? String(v) : text(v);
  const unknownFrom = state.values.unknown.length ? `; values ferry could not read may set it: ${state.values.unknown.join('; ')}` : '';
  if (t === undefined) {
    return { unknown: `${v === undefined ? `not set in environment ${env}'s values` : 'not a scalar'}${unknownFrom}`, todo: `Set it in the environment's values (a plain YAML file or inline), convert with --environment naming the environment you deploy, or write the value in its place.` };
  }
  if (sf.masked.pattern.test(t)) {
    sf.masked.pattern.lastIndex = 0;
    return { unknown: 'the value it names is itself a template', todo: 'Write the value in its place.' };
  }
  return { value: t };
}

// ───────────────────────── includes ─────────────────────────

/** A `bases:` or `helmfiles:` path made real and checked: inside the tree, not on the chain, within bounds. */
async function includeTarget(p: string, sf: StateFile, walk: Walk, skip: (why: string, todo: string) => void, convertToo: string): Promise<string[] | undefined> {
  if (p.includes('::') || p.includes('://')) return void skip('a remote state file (go-getter); ferry fetches nothing to convert', `Check it out and convert its state file with this one: ferry convert helmfile <checked-out file> ${sf.file}.`);
  if (path.isAbsolute(p)) return void skip('an absolute path; ferry follows includes only inside the top helmfile\'s directory', `Convert it with this one: ${convertToo}`);
  if (!isWithin(path.resolve(await realpath(sf.base), p), walk.root)) return void skip(`outside the top helmfile's directory (${walk.root}); ferry follows includes only inside it`, `Convert it with this one: ${convertToo}`);
  const last = path.basename(p);
  const dir = path.dirname(p);
  if (/[*?[\]{}]/.test(dir)) return void skip('a wildcard in a directory name; ferry expands wildcards only in the file name', `Name the files, or convert them with this one: ${convertToo}`);
  let names = [last];
  if (/[*?[\]{}]/.test(last)) {
    if (/[[\]{}]/.test(last)) return void skip('a wildcard other than * and ?; ferry expands only those', `Name the files, or convert them with this one: ${convertToo}`);
    const re = new RegExp(`^${last.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
    const entries = await readdir(path.resolve(sf.base, dir)).catch(() => [] as string[]);
    names = entries.filter((n) => re.test(n)).sort();
    if (!names.length) return void skip('matches no file', 'Fix the path.');
  }
  const out: string[] = [];
  const realBase = await realpath(sf.base);
  for (const n of names) {
    const shown = path.join(dir, n);
    const step = await stepInto(walk, sf.chain, path.resolve(realBase, dir, n), shown);
    if ('refused' in step) skip(step.why, stepTodo(step.refused, `Convert it with this one: ${convertToo}`));
    else out.push(step.real);
  }
  return out;
}

async function readIncluded(real: string, shown: string, walk: Walk, skip: (why: string, todo: string) => void): Promise<ReadState | undefined> {
  try {
    const read = await readState(real, shown, walk);
    if (read === undefined) skip(`${shown} does not exist`, 'Fix the path.');
    return read;
  } catch (err) {
    if (!(err instanceof FerryError)) throw err;
    return void skip(err.message, err.hint ?? 'Fix that file.');
  }
}

async function followBase(entry: unknown, p: Array<string | number>, at: Here, sf: StateFile, state: State, walk: Walk): Promise<void> {
  const raw = text(entry) ?? '';
  const item = `bases: ${raw || brief(entry)}`;
  const skip = (why: string, todo: string) => void walk.conv.skipped.push({ from: at(...p), item, why, todo });
  const expanded = expand(raw, sf, state, walk);
  if ('unknown' in expanded) return skip(`holds ${expanded.unknown}`, expanded.todo);
  const targets = await includeTarget(expanded.value, sf, walk, skip, `ferry convert helmfile ${path.join(path.dirname(sf.file), expanded.value)} ${sf.file}`);
  for (const real of targets ?? []) {
    const shown = path.join(path.dirname(sf.file), path.relative(await realpath(sf.base), real));
    const read = await readIncluded(real, shown, walk, skip);
    if (!read) continue;
    walk.conv.skipped.push(...read.masked.structural.map((s) => ({ from: { file: shown, line: s.line }, item: `lines ${s.from}–${s.to}: ${s.expr}`, why: 'template actions make this part\'s YAML, so what it holds is known only when helmfile renders it', todo: `Render it with \`helmfile --environment ${walk.opts.environment} build\` and convert what helmfile prints.` })));
    // A base is merged into the state that names it: its repositories, values and releases are this state's.
    await loadParts({ file: shown, base: path.dirname(real), chain: [...sf.chain, real], masked: read.masked }, read.docs, state, walk);
  }
}

async function followInclude(entry: unknown, p: Array<string | number>, at: Here, sf: StateFile, state: State, walk: Walk): Promise<void> {
  const raw = (isMapping(entry) ? text(entry.path) : text(entry)) ?? '';
  const item = `helmfiles: ${raw || brief(entry)}`;
  const skip = (why: string, todo: string) => void walk.conv.skipped.push({ from: at(...p), item, why, todo });
  if (!raw) return skip('names no path', 'Fix the helmfile.');
  const expanded = expand(raw, sf, state, walk);
  if ('unknown' in expanded) return skip(`holds ${expanded.unknown}`, expanded.todo);
  if (isMapping(entry) && isSet(entry.selectors)) {
    walk.conv.notes.push({ from: at(...p, 'selectors'), item: `${item} selectors: ${brief(entry.selectors)}`, why: 'every release of the included helmfile is carried, not only those the selectors pick', todo: 'Remove the charts you do not deploy from the manifest.' });
  }
  const targets = await includeTarget(expanded.value, sf, walk, skip, `ferry convert helmfile ${path.join(path.dirname(sf.file), expanded.value)} ${sf.file}`);
  for (const real of targets ?? []) {
    const shown = path.join(path.dirname(sf.file), path.relative(await realpath(sf.base), real));
    const read = await readIncluded(real, shown, walk, skip);
    if (!read) continue;
    const includeValues = isMapping(entry) ? { entries: entry.values, at, sf, path: [...p, 'values'] } : undefined;
    await convertState(shown, real, [...sf.chain, real], read.masked, read.docs, walk, includeValues);
  }
}

// ───────────────────────── releases ─────────────────────────

/** A release with what it inherits (`inherit:`, `defaultInherit:`, YAML merge keys `<<`): its own fields win. */
function withInherited(release: Record<string, unknown>, state: State): Record<string, unknown> {
  let own: Record<string, unknown> = release;
  const merge = release['<<'];
  if (merge !== undefined) {
    const bases = (Array.isArray(merge) ? merge : [merge]).filter(isMapping);
    own = Object.assign({}, ...bases.reverse(), release);
    delete own['<<'];
  }
  const inherits: Array<{ template: string; except: string[] }> = Array.isArray(own.inherit)
    ? own.inherit.filter(isMapping).map((i) => ({ template: text(i.template) ?? '', except: Array.isArray(i.except) ? i.except.map(String) : [] }))
    : state.defaultInherit.map((t) => ({ template: t, except: [] }));
  let out: Record<string, unknown> = {};
  for (const i of inherits) {
    const t = state.templates[i.template];
    if (t) out = { ...out, ...Object.fromEntries(Object.entries(t).filter(([k]) => !i.except.includes(k))) };
  }
  return { ...out, ...own };
}

async function convertRelease(raw: unknown, p: Array<string | number>, at: Here, sf: StateFile, state: State, walk: Walk): Promise<void> {
  const { conv, opts } = walk;
  if (!isMapping(raw)) return void conv.skipped.push({ from: at(...p), item: `releases: ${brief(raw)}`, why: 'a release must be a mapping', todo: 'Fix the helmfile.' });
  const release = withInherited(raw, state);
  const name = text(release.name) ?? `#${Number(p[p.length - 1]) + 1}`;
  for (const [k, inh] of (Array.isArray(raw.inherit) ? raw.inherit : []).entries()) {
    const t = isMapping(inh) ? text(inh.template) : undefined;
    if (t === undefined || !state.templates[t]) {
      conv.skipped.push({ from: at(...p, 'inherit', k), item: `inherit: ${t ?? brief(inh)}`, why: `no template named ${t ?? '?'} under this helmfile's templates: (helmfile refuses the release)`, todo: 'Fix the template\'s name, or define it under templates:.' });
    }
  }
  const from: SourcePlace = { ...at(...p), component: `release ${name.replace(sf.masked.pattern, '{{…}}')}` };
  sf.masked.pattern.lastIndex = 0;
  const here = (...k: Array<string | number>): SourcePlace => ({ ...at(...p, ...k), component: from.component });
  const skip = (f: SourcePlace, item: string, why: string, todo: string) => void conv.skipped.push({ from: f, item, why, todo });
  const field = (key: string): string | undefined | false => {
    const v = typeof release[key] === 'boolean' ? String(release[key]) : text(release[key]);
    if (v === undefined) return undefined;
    const e = expand(v, sf, state, walk);
    if ('value' in e) return e.value;
    skip(here(key), `${key}: ${v.replace(sf.masked.pattern, '{{…}}')}`, `holds ${e.unknown}`, e.todo);
    sf.masked.pattern.lastIndex = 0;
    return false;
  };
  const installed = field('installed');
  if (installed === 'false') return skip(here('installed'), `release ${name}`, 'installed: false: helmfile removes this release, it deploys nothing', 'Nothing to carry; set installed: true in the helmfile to carry it.');
  if (installed === false) conv.notes.push({ from: here('installed'), item: `release ${name}`, why: 'whether it is installed is decided when helmfile runs; carried', todo: 'Remove the chart from the manifest if you do not deploy it.' });
  for (const key of Object.keys(release)) {
    const v = release[key];
    if (RELEASE_QUIET.has(key) || RELEASE_READ.has(key) || !isSet(v)) continue;
    if (key === 'set' || key === 'setString' || key === 'setTemplate' || key === 'valuesTemplate') {
      skip(here(key), `${key}: ${brief(v)}`, `values helmfile passes with ${key === 'setString' ? '--set-string' : key === 'set' ? '--set' : 'templates'}; ferry's manifest lists values files only, so the chart's images are found without them`, 'Write these values in a values file and list it under the chart\'s values:, so discovery sees the images they select.');
    } else if (key === 'secrets') {
      skip(here(key), `secrets: ${brief(v)}`, 'encrypted values (helm-secrets); the chart\'s images are found without them', 'If they choose images, write those values (not the secrets) in a values file and list it under the chart\'s values:.');
    } else if (RELEASE_RESHAPES.has(key)) {
      skip(here(key), `${key}: ${brief(v)}`, 'helmfile changes what the chart renders (chartify, a post-renderer); images it adds are not found by rendering the chart', 'List the images it adds under images: (`helmfile template` shows them).');
    } else if (key === 'devel') {
      if (v === true) conv.notes.push({ from: here(key), item: `release ${name} devel: true`, why: 'helm takes pre-releases when the version is not exact; ferry\'s "*" and ranges take releases only', todo: 'Write the exact (pre-release) version you deploy under version:.' });
    } else if (key === 'hooks') {
      skip(here(key), `hooks: ${brief(v)}`, 'commands helmfile runs around the release; ferry runs none', 'Run them with your own tooling; anything they download is not carried: list it in the manifest.');
    } else if (key === 'condition' || key === 'conditionTemplate' || key === 'installedTemplate') {
      conv.notes.push({ from: here(key), item: `${key}: ${brief(v)}`, why: 'whether the release is deployed depends on values when helmfile runs; carried', todo: 'Remove the chart from the manifest if you do not deploy it.' });
    } else if (key === 'verify' || key === 'keyring' || key === 'verifyTemplate' || key === 'insecureSkipTLSVerify' || key === 'plainHttp' || key === 'apiVersions') {
      skip(here(key), `${key}: ${brief(v)}`, key === 'apiVersions' ? 'API versions helmfile gives helm to render with; ferry renders with its own capabilities' : key.startsWith('verify') || key === 'keyring' ? 'a provenance (.prov) check; ferry does not check chart provenance' : 'repository trust settings', key === 'apiVersions' ? 'Check the lock\'s images against `helmfile template`.' : key.startsWith('verify') || key === 'keyring' ? 'Check the chart\'s provenance before you lock it.' : TRUST_TODO);
    } else {
      skip(here(key), `${key}: ${brief(v)}`, 'not a field of a helmfile release ferry knows', 'Check the field; ferry converts what helmfile/helmfile pkg/state defines.');
    }
  }
  const chart = field('chart');
  if (chart === false) return;
  if (!chart) return skip(from, `release ${name}`, 'names no chart:', 'Fix the helmfile.');
  const version = field('version');
  if (version === false) return;
  const item = `chart: ${chart}`;
  let entry: Record<string, unknown>;
  let localDir: string | undefined;
  if (chart.startsWith('oci://')) {
    const oci = splitOciChart(chart, version);
    if ('problem' in oci) return skip(here('chart'), item, oci.problem, oci.todo);
    entry = oci;
  } else {
    const slash = chart.indexOf('/');
    const repo = slash > 0 && !chart.startsWith('./') && !chart.startsWith('../') ? state.repos.get(chart.slice(0, slash)) : undefined;
    if (!repo) {
      const named = slash > 0 && !chart.startsWith('.') ? ` (no repository named ${chart.slice(0, slash)} is in this helmfile's repositories:, or its bases': a helmfile's repositories do not reach the helmfiles it includes)` : '';
      const local = chart.includes('://') ? 'a chart archive URL, not a chart in a repository' : `a local chart, ${chart} relative to ${sf.file}, as helmfile reads it${named}`;
      if (chart.includes('://') || named) return skip(here('chart'), item, local, 'Publish it to an HTTP or OCI chart repository (helm package, helm push) and list it under charts: with that repo, or list its images under images: (`helmfile template` renders them).');
      const deps = await localChartDependencies(chart, sf, state, walk, from);
      if (deps) conv.notes.push({ from: here('chart'), item, why: `a local chart: the ${deps} chart${deps === 1 ? '' : 's'} its Chart.yaml depends on ${deps === 1 ? 'is' : 'are'} carried under charts:`, todo: 'Nothing to do.' });
      localDir = chart;
      entry = {};
    } else {
      const chartName = chart.slice(slash + 1);
      if (repo.unknown) return skip(here('chart'), item, `repository ${chart.slice(0, slash)}'s url: holds ${repo.unknown.unknown}`, repo.unknown.todo);
      if (repo.oci) entry = { name: chartName, repo: `oci://${repo.url.replace(/^oci:\/\//, '').replace(/\/+$/, '')}`, version };
      else if (isHttpUrl(repo.url)) entry = { name: chartName, repo: repo.url, version };
      else return skip(here('chart'), item, `repository ${chart.slice(0, slash)} is ${repo.url}: not an http(s):// chart repository (a Helm downloader plugin, git)`, 'Publish the chart to an HTTP or OCI chart repository and name that repository.');
    }
  }
  const lockName = localDir === undefined && !chart.startsWith('oci://') && state.lock ? (state.repos.get(chart.slice(0, chart.indexOf('/')))?.oci ? String(entry.name) : chart.slice(chart.indexOf('/') + 1)) : undefined;
  if (state.lock && lockName !== undefined) {
    const pinned = lockedVersion(state.lock, lockName, version);
    if (pinned) {
      if (pinned !== version) conv.notes.push({ from, item, why: `version ${pinned}, as ${state.lock.shown} pins it (helmfile deploys the locked version${version ? ` within ${version}` : ''})`, todo: `Run \`helmfile deps\` and convert again to move to another version.` });
      entry.version = pinned;
    } else {
      conv.notes.push({ from, item, why: `${state.lock.shown} pins no version of ${lockName}${version ? ` within ${version}` : ''}, so helmfile refuses the release until \`helmfile deps\` runs; carried as the helmfile names it`, todo: 'Run `helmfile deps` and convert again.' });
    }
  }
  if (entry.version === undefined && localDir === undefined) {
    entry.version = '*';
    conv.notes.push({ from, item, why: 'no version: converted as version "*", the newest release when you lock (the lock pins it), as helmfile takes the newest', todo: 'Write the version you deploy under version:.' });
  }
  const ownKube = field('kubeVersion');
  if (ownKube === false) return;
  const stateKube = state.kubeVersion === undefined ? undefined : expand(state.kubeVersion, sf, state, walk);
  if (stateKube && 'unknown' in stateKube && !ownKube) return skip(from, item, `the helmfile's kubeVersion: holds ${stateKube.unknown}`, stateKube.todo);
  const kube = ownKube || (stateKube && 'value' in stateKube ? stateKube.value : undefined);
  if (kube) entry.kubeVersion = kube;
  const values: string[] = [];
  const valuesRead: Array<{ abs: string; shown: string }> = [];
  (Array.isArray(release.values) ? release.values : []).forEach((v, k) => {
    const vAt = here('values', k);
    if (isMapping(v)) return skip(vAt, `values: ${brief(v)}`, 'inline values; ferry\'s manifest lists values files only, so the chart\'s images are found without them', 'Write them in a values file and list it under the chart\'s values:.');
    const f = text(v);
    if (f === undefined) return skip(vAt, `values: ${brief(v)}`, 'a values entry is a file path or a mapping', 'Fix the helmfile.');
    const e = expand(f, sf, state, walk);
    if ('unknown' in e) return skip(vAt, `values: ${f.replace(sf.masked.pattern, '{{…}}')}`, `holds ${e.unknown}; the chart\'s images are found without this file`, e.todo);
    if (e.value.endsWith('.gotmpl')) return skip(vAt, `values: ${e.value}`, 'a values template helmfile renders; ferry reads a values file as it is', `Render it (\`helmfile --environment ${opts.environment} write-values\`), keep the output beside the manifest and list it under the chart's values:.`);
    if (e.value.includes('://') || e.value.includes('::')) return skip(vAt, `values: ${e.value}`, 'a remote values file; the chart\'s images are found without it', 'Download it beside the manifest and list it under the chart\'s values:.');
    const handler = text(release.missingFileHandler) ?? state.missingFileHandler ?? 'Error';
    if (handler !== 'Error' && !existsSync(path.resolve(sf.base, e.value))) {
      return void conv.notes.push({ from: vAt, item: `values: ${e.value}`, why: `no file at ${path.resolve(sf.base, e.value)}; helmfile goes on without it (missingFileHandler: ${handler}), so it is left out`, todo: 'Put the file there and convert again if the release needs it.' });
    }
    values.push(localFile(e.value, sf.base, opts.outDir, `release ${name} values:`, vAt, conv, 'relative to the helmfile\'s directory, as helmfile reads it'));
    valuesRead.push({ abs: path.resolve(sf.base, e.value), shown: path.join(path.dirname(sf.file), e.value) });
  });
  if (localDir !== undefined) {
    // helmfile hands helm the chart directory: rendered by the command for its images, inside the top helmfile's directory.
    return void conv.localCharts.push({ location: path.resolve(sf.base, localDir), shown: path.join(path.dirname(sf.file), localDir), root: walk.root, values: valuesRead, item, from: here('chart') });
  }
  if (values.length) entry.values = values;
  conv.candidates.push({ field: 'charts', entry, from });
}

// ───────────────────────── local charts ─────────────────────────

/**
 * A release's local chart (a directory relative to the state file): the charts its Chart.yaml
 * `dependencies:` fetch are carried (helm dependency build), as Chart.lock pins them when it
 * records the same repository; `repository: "@name"` or `alias:name` names a helmfile
 * repository (helmfile adds them to helm under their names); a `file://` dependency is followed
 * inside the tree (the one bounded walk), and one with no repository is already in charts/.
 * Returns how many were carried.
 */
async function localChartDependencies(chart: string, sf: StateFile, state: State, walk: Walk, from: SourcePlace): Promise<number> {
  const realBase = await realpath(sf.base);
  const shownDir = path.join(path.dirname(sf.file), chart);
  return chartDir(path.resolve(realBase, chart), shownDir, [], sf, state, walk, from, from);
}

/** One chart directory of the walk: `from` is the release (its component names every place), `named` where this directory is named. */
async function chartDir(dir: string, shownDir: string, chain: string[], sf: StateFile, state: State, walk: Walk, from: SourcePlace, named: SourcePlace): Promise<number> {
  const conv = walk.conv;
  const shown = path.join(shownDir, 'Chart.yaml');
  const note = (item: string, why: string, todo: string) => void conv.skipped.push({ from: named, item, why, todo });
  const done = state.localCharts.get((await realpath(path.join(dir, 'Chart.yaml')).catch(() => '')) || '\0');
  if (done !== undefined) return done;
  const step = await stepInto(walk, chain, path.join(dir, 'Chart.yaml'), shown, path.dirname);
  if ('refused' in step) {
    if (step.refused !== 'missing') note(`chart ${shownDir}`, `${step.why}: its dependencies are not read`, 'List the charts it depends on under charts: by hand.');
    return 0;
  }
  const read = await readYaml(step.real, shown, 'Chart.yaml of a local chart', walk);
  const doc = 'docs' in read && read.docs.length === 1 && isMapping(read.docs[0].value) ? read.docs[0] : undefined;
  const meta = doc?.value;
  if (!doc || !isMapping(meta)) {
    note(`chart ${shownDir}`, 'problem' in read ? read.problem : `${shown} is not one chart's metadata`, 'Fix the Chart.yaml.');
    state.localCharts.set(step.real, 0);
    return 0;
  }
  const at = (...p: Array<string | number>): SourcePlace => ({ file: shown, line: doc.lineOf(p), component: from.component });
  const realDir = path.dirname(step.real);
  const pins = await chartLock(realDir, path.join(shownDir, 'Chart.lock'), walk);
  let carried = 0;
  const deps = Array.isArray(meta.dependencies) ? meta.dependencies : [];
  for (let i = 0; i < deps.length; i++) {
    const d = deps[i];
    const here = at('dependencies', i);
    const name = isMapping(d) ? text(d.name) : undefined;
    const repository = isMapping(d) ? (text(d.repository) ?? '') : '';
    const wanted = isMapping(d) ? text(d.version) : undefined;
    const item = `dependencies: ${name ?? brief(d)}${repository ? ` (${repository})` : ''}`;
    const skip = (why: string, todo: string) => void conv.skipped.push({ from: here, item, why, todo });
    if (!name) {
      skip('a dependency names name:', 'Fix the Chart.yaml.');
      continue;
    }
    if (repository === '') continue; // in the chart's charts/ directory: nothing to fetch
    if (repository.startsWith('file://')) {
      const rel = repository.slice('file://'.length);
      if (path.isAbsolute(rel)) {
        skip('an absolute file:// path; ferry follows a dependency only inside the top helmfile\'s directory', 'List the charts it depends on under charts: by hand.');
        continue;
      }
      carried += await chartDir(path.resolve(realDir, rel), path.join(shownDir, rel), [...chain, realDir], sf, state, walk, from, here);
      continue;
    }
    let repo: string | undefined;
    const alias = /^(?:@|alias:)(.+)$/.exec(repository)?.[1];
    if (alias !== undefined) {
      const r = state.repos.get(alias);
      if (!r || r.unknown) {
        skip(`${repository} names a helm repository ${r ? 'whose url: holds a template' : 'this helmfile\'s repositories: do not define'}`, 'Write the repository\'s URL in the Chart.yaml, or define it under the helmfile\'s repositories:.');
        continue;
      }
      repo = r.oci ? `oci://${r.url.replace(/^oci:\/\//, '').replace(/\/+$/, '')}` : r.url;
    } else repo = repository;
    if (!isHttpUrl(repo) && !/^oci:\/\/\S+$/.test(repo)) {
      skip(`${repository} is neither an http(s):// chart repository nor oci://`, 'Publish the chart to an HTTP or OCI chart repository and name that repository.');
      continue;
    }
    const pin = pins.get(`${name}\0${repository}`);
    const entry: Record<string, unknown> = { name, repo: repo.replace(/\/+$/, ''), version: pin ?? wanted ?? '*' };
    if (pin && pin !== wanted) conv.notes.push({ from: here, item, why: `version ${pin}, as ${path.join(shownDir, 'Chart.lock')} pins it (helm dependency build takes the locked version)`, todo: 'Run `helm dependency update` and convert again to move to another version.' });
    if (!pin && !wanted) conv.notes.push({ from: here, item, why: 'no version: converted as version "*", the newest release when you lock (the lock pins it)', todo: 'Write the version under the dependency\'s version:.' });
    conv.candidates.push({ field: 'charts', entry, from: here });
    carried++;
  }
  state.localCharts.set(step.real, carried);
  return carried;
}

/**
 * A chart's Chart.lock when it is there and reads: `name\0repository` → the version it pins (the
 * first entry of a pair, looked up once per dependency); else none.
 */
async function chartLock(realDir: string, shown: string, walk: Walk): Promise<Map<string, string>> {
  const pins = new Map<string, string>();
  if (!(await stat(path.join(realDir, 'Chart.lock')).catch(() => undefined))) return pins;
  const step = await stepInto(walk, [], path.join(realDir, 'Chart.lock'), shown);
  if ('refused' in step) return pins;
  const read = await readYaml(step.real, shown, 'Chart.lock', walk);
  const deps = 'docs' in read && read.docs.length === 1 && isMapping(read.docs[0].value) ? read.docs[0].value.dependencies : undefined;
  for (const d of Array.isArray(deps) ? deps : []) {
    const name = isMapping(d) ? text(d.name) : undefined;
    const version = isMapping(d) ? text(d.version) : undefined;
    const key = `${name}\0${isMapping(d) ? (text(d.repository) ?? '') : ''}`;
    if (name && version && !pins.has(key)) pins.set(key, version);
  }
  return pins;
}
