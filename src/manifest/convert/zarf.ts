import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../../errors.js';
import type { YamlDocumentData } from '../input-file.js';
import { brief, emptyConversion, includeWalk, isHttpUrl, isMapping, isSet, localFile, placeText, splitOciChart, stepInto, stepTodo, text, type Conversion, type ConvertNote, type IncludeWalk, type SourcePlace } from './common.js';

/**
 * A Zarf package definition (`zarf.yaml`, apiVersion zarf.dev/v1alpha1 or zarf.dev/v1beta1, kind
 * ZarfPackageConfig or ZarfInitConfig) read as a ferry manifest: component `images:`, `charts:`
 * from an HTTP or OCI repository and `files:` from URLs are carried, a local chart is rendered by
 * the command for its images; everything else is named, with its place and what to do. Fields as
 * in zarf-dev/zarf src/api/v1alpha1 and src/api/v1beta1 (component.go, package.go).
 */

export interface ZarfOptions {
  /** Values of package templates (`###ZARF_PKG_TMPL_NAME###`), by NAME, as `zarf package create --set`. */
  set: Record<string, string>;
  /** `zarf package create --flavor`: components whose `only.flavor` differs are left out. */
  flavor?: string;
  /**
   * `zarf package create --architecture`: the package's architecture (`###ZARF_PKG_ARCH###`, the
   * platform images are pulled for, components' `only.cluster.architecture`). Else the package's
   * `metadata.architecture`; else unknown (zarf would take the machine's it runs on).
   */
  arch?: string;
  /** Where the converted manifest is written (local paths are made relative to it). */
  outDir: string;
  /** Read an imported package definition (`real` path), bounded as the manifest reader; `shown` names it in errors. */
  read: (real: string, shown: string) => Promise<YamlDocumentData[]>;
  /** The package is zarf.dev/v1beta1 (set by convertZarf from its apiVersion). */
  beta?: boolean;
}

const PACKAGE_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'build', 'components', 'constants', 'variables', 'values', 'documentation']);
/** Component fields that say how or whether Zarf deploys, and carry nothing (v1beta1 adds optional, selector, target, service). */
const COMPONENT_QUIET = new Set(['name', 'description', 'default', 'required', 'group', 'only', 'healthChecks', 'stateAccess', 'optional', 'selector', 'target', 'service']);
const CHART_QUIET = new Set(['name', 'namespace', 'releaseName', 'noWait', 'schemaValidation', 'serverSideApply', 'skipWait', 'skipSchemaValidation']);
const FILE_QUIET = new Set(['target', 'destination', 'executable', 'symlinks', 'template', 'enableTemplating']);
const APIS = ['zarf.dev/v1alpha1', 'zarf.dev/v1beta1'];
/** What a field not known names as its schema. */
const schemaOf = (opts: ZarfOptions) => `zarf-dev/zarf ${opts.beta ? 'v1beta1' : 'v1alpha1'}`;

// ###ZARF_PKG_TMPL_X### (set at create), ###ZARF_VAR_X###, ###ZARF_CONST_X###, ###ZARF_PKG_ARCH### …
const TEMPLATE = /###ZARF_([A-Z0-9_]{1,200})###/g;

/** A git URL as Zarf tells one (`….git`, or `….git@<ref>`), found without a backtracking pattern. */
function isGitUrl(url: string): boolean {
  for (let i = url.indexOf('.git'); i >= 0; i = url.indexOf('.git', i + 1)) {
    const next = url[i + 4];
    if (next === undefined || next === '@') return true;
  }
  return false;
}

/** What a package template or variable in `value` leaves unknown: '' when nothing, after --set. */
function applyTemplates(value: string, set: Record<string, string>, arch: string | undefined): { value: string; unknown: string[] } {
  const unknown: string[] = [];
  const out = value.replace(TEMPLATE, (whole, name: string) => {
    if (name === 'PKG_ARCH' && arch !== undefined) return arch;
    if (name.startsWith('PKG_TMPL_')) {
      const v = set[name.slice('PKG_TMPL_'.length)];
      if (v !== undefined) return v;
    }
    unknown.push(whole);
    return whole;
  });
  return { value: out, unknown };
}

function templateTodo(tokens: string[]): string {
  if (tokens.includes('###ZARF_PKG_ARCH###')) return 'Give the package\'s architecture: --arch <arch> (as zarf package create --architecture), or set metadata.architecture.';
  const tmpl = tokens.filter((t) => t.startsWith('###ZARF_PKG_TMPL_')).map((t) => t.slice('###ZARF_PKG_TMPL_'.length, -3));
  return tmpl.length
    ? `Give its value: --set ${tmpl.map((n) => `${n}=<value>`).join(' --set ')} (as zarf package create --set), or write the value in place.`
    : 'Zarf fills it in at deploy (a variable or constant), so what it names is not known here: write the value you deploy with in its place.';
}

/** An architecture as Go and OCI platforms name one (amd64, arm64, ppc64le, riscv64 …). */
const ARCH = /^[a-z][a-z0-9_]{0,31}$/;

/** How far `import: { path }` is followed: nesting, and package files read in one conversion. */
export const ZARF_IMPORT_LIMITS = { depth: 8, files: 64 };

/** One package definition being read: the top one, or one a component imports. */
interface PackageContext {
  doc: YamlDocumentData;
  /** The file as it is named to the user (relative to where ferry runs, or as given). */
  file: string;
  /** The package's directory: its relative paths (values files, imports) start here. */
  base: string;
  /** Real paths of the package directories on this import chain, the top one first (cycles). */
  chain: string[];
  /** The component line that imported this package, for its places. */
  importedAt?: string;
}

/** What one conversion shares across its imports: the bounded walk (root: the top package's real directory). */
interface Walk extends IncludeWalk {
  opts: ZarfOptions;
  conv: Conversion;
}

function checkPackage(pkg: unknown, file: string): asserts pkg is Record<string, unknown> & { components: unknown[] } {
  if (!isMapping(pkg) || (pkg.kind !== 'ZarfPackageConfig' && pkg.kind !== 'ZarfInitConfig')) {
    throw new FerryError('VALIDATION', `${file}: not a Zarf package definition (kind: ZarfPackageConfig or ZarfInitConfig)`, {
      hint: 'Name the zarf.yaml of the package; for Hauler manifests use `ferry convert hauler`, for an oc-mirror ImageSetConfiguration `ferry convert oc-mirror`.',
    });
  }
  // Zarf treats a definition without apiVersion as v1alpha1.
  if (pkg.apiVersion !== undefined && !APIS.includes(pkg.apiVersion as string)) {
    throw new FerryError('VALIDATION', `${file}: apiVersion ${JSON.stringify(pkg.apiVersion)} is not read; ferry converts zarf.dev/v1alpha1 and zarf.dev/v1beta1 package definitions`, {
      hint: 'Convert the zarf.yaml the package is created from (`zarf dev upgrade` writes a v1beta1 one).',
    });
  }
  if (!Array.isArray(pkg.components) || pkg.components.length === 0) {
    throw new FerryError('VALIDATION', `${file}: components: the package has none`, { hint: 'A zarf.yaml lists what it carries under components:.' });
  }
}

/** `file` as the user named it (in places), `abs` where it is: its relative paths start at abs's directory. */
export async function convertZarf(doc: YamlDocumentData, file: string, abs: string, given: ZarfOptions): Promise<Conversion> {
  const conv = emptyConversion();
  const pkg = doc.value;
  checkPackage(pkg, file);
  const base = path.dirname(abs);
  const root = await realpath(base);
  const metadata = isMapping(pkg.metadata) ? pkg.metadata : {};
  // As zarf takes it: --architecture, else metadata.architecture (zarf's last resort, the machine's own, is not guessed).
  let arch = given.arch;
  if (arch !== undefined && !ARCH.test(arch)) throw new FerryError('USAGE', `--arch ${JSON.stringify(arch)}: not an architecture name`, { hint: 'Name one as Go and OCI platforms do: amd64, arm64, arm, ppc64le, s390x, riscv64.' });
  const metaArch = text(metadata.architecture);
  if (arch === undefined && metaArch !== undefined) {
    if (ARCH.test(metaArch)) arch = metaArch;
    else conv.skipped.push({ from: { file, line: doc.lineOf(['metadata', 'architecture']) }, item: `metadata.architecture: ${brief(metaArch)}`, why: 'not an architecture name: the package\'s architecture is taken as unknown', todo: 'Write an architecture (amd64, arm64, …) or convert with --arch <arch>.' });
  }
  const opts: ZarfOptions = { ...given, arch, beta: pkg.apiVersion === 'zarf.dev/v1beta1' };
  conv.name = text(metadata.name);
  conv.description = text(metadata.description);
  // The import chain holds package directories (v1alpha1 imports a package) or component config files (v1beta1).
  const ctx: PackageContext = { doc, file, base, chain: [opts.beta ? await realpath(abs) : root] };
  const walk: Walk = { ...includeWalk(root, ZARF_IMPORT_LIMITS, { tree: 'the package\'s directory', step: 'import' }), opts, conv };
  for (const key of Object.keys(pkg)) {
    if (!PACKAGE_FIELDS.has(key)) conv.skipped.push({ from: { file, line: doc.lineOf([key]) }, item: `${key}: ${brief(pkg[key])}`, why: 'not a field of a Zarf package ferry knows', todo: `Check the field; ferry converts what ${schemaOf(opts)} defines.` });
  }
  // Package values files feed charts only through each chart's values: mappings (named there) and Zarf's templating at deploy.
  if (isMapping(pkg.values) && isSet(pkg.values.files)) {
    conv.skipped.push({ from: { file, line: doc.lineOf(['values', 'files']) }, item: `values.files: ${brief(pkg.values.files)}`, why: 'Zarf values, which reach a chart through its values: mappings and templating when Zarf deploys; the charts\' images are found without them', todo: 'Write the chart values they set in a values file and list it under the chart\'s values:.' });
  }
  for (let i = 0; i < pkg.components.length; i++) {
    const comp = pkg.components[i];
    const from = (...p: string[]) => ({ file, line: doc.lineOf(['components', i, ...p]), component: `component ${(isMapping(comp) && text(comp.name)) || `#${i + 1}`}` });
    const unfit = componentUnfit(comp, opts);
    if (unfit) {
      conv.skipped.push({ from: from(...unfit.path), item: unfit.item, why: unfit.why, todo: unfit.todo });
      continue;
    }
    const sel = selectorOf(comp, opts);
    if (sel.arch && opts.arch === undefined) {
      conv.notes.push({ from: from(...sel.path, ...sel.archPath), item: `${[...sel.path, ...sel.archPath].join('.')}: ${sel.arch}`, why: 'carried, though Zarf packages it only for that architecture: the package\'s architecture is not known here', todo: 'Convert with --arch <arch> (as zarf package create --architecture) to carry only the components of that architecture.' });
    }
    await convertComponent(comp, i, ctx, walk);
  }
  return conv;
}

/**
 * Why `zarf package create` leaves a component out for the chosen flavor and architecture
 * (`only.flavor`, `only.cluster.architecture`), as an item not carried; undefined when it is taken.
 * With no architecture known, a component for one is taken (convertZarf names it).
 */
function componentUnfit(comp: unknown, opts: ZarfOptions): { path: string[]; item: string; why: string; todo: string } | undefined {
  const sel = selectorOf(comp, opts);
  if (sel.flavor && sel.flavor !== opts.flavor) {
    return { path: [...sel.path, 'flavor'], item: `${sel.path.join('.')}.flavor: ${sel.flavor}`, why: opts.flavor ? `only for flavor ${sel.flavor}, not ${opts.flavor}` : `only for flavor ${sel.flavor}`, todo: `Convert with --flavor ${sel.flavor} for that flavor's package.` };
  }
  if (sel.arch && opts.arch !== undefined && sel.arch !== opts.arch) {
    return { path: [...sel.path, ...sel.archPath], item: `${[...sel.path, ...sel.archPath].join('.')}: ${sel.arch}`, why: `only for architecture ${sel.arch}; the package is converted for ${opts.arch}`, todo: `Convert with --arch ${sel.arch} for that architecture's package.` };
  }
  return undefined;
}

/** A component's create-time filter: v1alpha1 `only.flavor`/`only.cluster.architecture`, v1beta1 `selector.flavor`/`selector.architecture`. */
function selectorOf(comp: unknown, opts: ZarfOptions): { path: string[]; archPath: string[]; flavor?: string; arch?: string } {
  const key = opts.beta ? 'selector' : 'only';
  const sel = isMapping(comp) && isMapping(comp[key]) ? comp[key] : {};
  if (opts.beta) return { path: [key], archPath: ['architecture'], flavor: text(sel.flavor), arch: text(sel.architecture) };
  return { path: [key], archPath: ['cluster', 'architecture'], flavor: text(sel.flavor), arch: isMapping(sel.cluster) ? text(sel.cluster.architecture) : undefined };
}

async function convertComponent(comp: unknown, i: number, ctx: PackageContext, walk: Walk): Promise<void> {
  const { conv, opts } = walk;
  const cp = ['components', i];
  const at = (p: Array<string | number>, component?: string): SourcePlace => ({ file: ctx.file, line: ctx.doc.lineOf(p), component });
  const skip = (from: SourcePlace, item: string, why: string, todo: string) => conv.skipped.push({ from, item, why, todo });
  if (!isMapping(comp)) {
    skip(at(cp), brief(comp), 'a component must be a mapping', 'Fix the zarf.yaml.');
    return;
  }
  const component = `component ${text(comp.name) ?? `#${i + 1}`}${ctx.importedAt ? `, imported by ${ctx.importedAt}` : ''}`;
  const here = (...p: Array<string | number>) => at([...cp, ...p], component);
  // v1beta1: the imported component config is merged under this component (Zarf's mergeComponentSpec).
  if (opts.beta) {
    await otherFields(comp, here, ctx, walk);
    const parts = await betaParts(comp, here, ctx, walk);
    convertParts(parts, walk);
    return;
  }
  await otherFields(comp, here, ctx, walk);
  convertParts(partsOf(comp, here, ctx, conv), walk);
}

/** A component's fields other than images, charts and files: each named (a v1alpha1 `import:` followed). */
async function otherFields(comp: Record<string, unknown>, here: Here, ctx: PackageContext, walk: Walk): Promise<void> {
  const { conv, opts } = walk;
  const skip = (from: SourcePlace, item: string, why: string, todo: string) => conv.skipped.push({ from, item, why, todo });
  for (const key of Object.keys(comp)) {
    const v = comp[key];
    if (COMPONENT_QUIET.has(key) || ['images', 'charts', 'files'].includes(key) || !isSet(v)) continue;
    const items = Array.isArray(v) ? v : [v];
    switch (key) {
      case 'import':
        if (!opts.beta) await followImport(comp, here, ctx, walk);
        break;
      case 'repos':
      case 'repositories':
        items.forEach((r, j) => skip(here(key, j), `${key}: ${isMapping(r) ? (text(r.url) ?? brief(r)) : brief(r)}`, 'a git repository: ferry carries no git trees', 'Mirror it with your git tooling; a chart in it goes under charts: once published to an HTTP or OCI chart repository.'));
        break;
      case 'manifests':
        items.forEach((m, j) => skip(here(key, j), `manifests: ${isMapping(m) ? (text(m.name) ?? brief(m)) : brief(m)}`, 'raw manifests Zarf deploys as a generated chart; ferry does not deploy', 'Keep them in your deployment repository and list their images under images: (`ferry audit <dir> --format json` names every image they use); a remote manifest URL can be carried as a files: entry.'));
        break;
      case 'imageArchives':
        items.forEach((a, j) => skip(here(key, j), `imageArchives: ${isMapping(a) ? (text(a.path) ?? brief(a)) : brief(a)}`, 'images from an archive on disk; ferry pulls images from registries', 'List the images\' upstream references under images:, or push the archive\'s images to a registry and list them there.'));
        break;
      case 'dataInjections':
        items.forEach((d, j) => skip(here(key, j), `dataInjections: ${isMapping(d) ? (text(d.source) ?? brief(d)) : brief(d)}`, 'data Zarf copies into a running pod; ferry does not deploy', 'Carry the data as a files: entry (from a URL) and copy it in with your own tooling.'));
        break;
      case 'actions':
      case 'scripts':
        skip(here(key), `${key}: ${brief(v)}`, 'commands Zarf runs at create, deploy or remove; ferry runs none', 'Run them with your own deployment tooling; anything they download is not carried: list it here (images:, files:).');
        break;
      default:
        skip(here(key), `${key}: ${brief(v)}`, 'not a field of a Zarf component ferry knows', `Check the field; ferry converts what ${schemaOf(opts)} defines.`);
    }
  }
}

const exists = (p: string) => stat(p).then((s) => s, () => undefined);

/** One item of a component (an image, a file, a values file) with its place and the package it is read in. */
interface Placed {
  value: unknown;
  /** Its place, or a field's below it. */
  at: Here;
  ctx: PackageContext;
}

/** A chart as Zarf merges it: its fields (the source's place and package), its values files each from its own package. */
interface ChartItem extends Placed {
  valuesFiles: Placed[];
}

interface ComponentParts {
  images: Placed[];
  charts: ChartItem[];
  files: Placed[];
}

/** A component's images, charts and files as placed items; a field that is no list is named. */
function partsOf(comp: Record<string, unknown>, here: Here, ctx: PackageContext, conv: Conversion): ComponentParts {
  const list = (key: 'images' | 'charts' | 'files'): Placed[] => {
    const v = comp[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      conv.skipped.push({ from: here(key), item: `${key}: ${brief(v)}`, why: `${key} must be a list`, todo: 'Fix the zarf.yaml.' });
      return [];
    }
    return v.map((value, j) => ({ value, at: (...p: Array<string | number>) => here(key, j, ...p), ctx }));
  };
  const charts = list('charts').map((c): ChartItem => {
    const vfs = isMapping(c.value) && Array.isArray(c.value.valuesFiles) ? c.value.valuesFiles : [];
    return { ...c, valuesFiles: vfs.map((value, k) => ({ value, at: (...p: Array<string | number>) => c.at('valuesFiles', k, ...p), ctx })) };
  });
  return { images: list('images'), charts, files: list('files') };
}

function convertParts(parts: ComponentParts, walk: Walk): void {
  convertImages(parts.images, walk.opts, walk.conv);
  convertCharts(parts.charts, walk.opts, walk.conv, walk.root);
  convertFiles(parts.files, walk.opts, walk.conv);
}

const CHART_SOURCES = ['helmRepository', 'git', 'local', 'oci'];

/**
 * What Zarf makes of an imported component config under a component (zarf-dev/zarf
 * src/pkg/packager/load/import_v1beta1_merge.go mergeComponentSpec): images merged by name (this
 * component's `source:` wins), charts by name (its source replaces the imported one's, its values
 * files come after), files appended.
 */
function mergeParts(imported: ComponentParts, head: ComponentParts): ComponentParts {
  const nameOf = (p: Placed) => (isMapping(p.value) ? text(p.value.name) : undefined);
  const images = [...imported.images];
  for (const h of head.images) {
    const name = nameOf(h);
    const k = name === undefined ? -1 : images.findIndex((b) => nameOf(b) === name);
    if (k < 0) images.push(h);
    else if (isMapping(h.value) && text(h.value.source)) images[k] = { ...images[k], value: { ...(images[k].value as Record<string, unknown>), source: h.value.source } };
  }
  const charts = [...imported.charts];
  for (const h of head.charts) {
    const name = nameOf(h);
    const k = name === undefined ? -1 : charts.findIndex((b) => nameOf(b) === name);
    if (k < 0 || !isMapping(h.value)) {
      charts.push(h);
      continue;
    }
    const base = charts[k];
    const hv = h.value;
    const merged: Record<string, unknown> = { ...(base.value as Record<string, unknown>) };
    const headSource = CHART_SOURCES.some((key) => isMapping(hv[key]));
    if (headSource) for (const key of CHART_SOURCES) delete merged[key];
    for (const [key, v] of Object.entries(hv)) {
      if (key === 'valuesFiles') continue;
      if ((key === 'values' || key === 'variables') && Array.isArray(merged[key]) && Array.isArray(v)) merged[key] = [...(merged[key] as unknown[]), ...v];
      else if (isSet(v)) merged[key] = v;
    }
    // The chart's source is read where it is written: this component's when it names one, else the imported one's.
    const where = headSource ? h : base;
    charts[k] = { value: merged, at: where.at, ctx: where.ctx, valuesFiles: [...base.valuesFiles, ...h.valuesFiles] };
  }
  return { images, charts, files: [...imported.files, ...head.files] };
}

const COMPONENT_CONFIG_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'component', 'values', 'publishData']);

/**
 * A v1beta1 component with its `import: { local: [{path}], remote: [{url}] }` resolved as `zarf
 * package create` resolves it (src/pkg/packager/load/import_v1beta1.go): each `local` path (relative
 * to the file naming it) is a ZarfComponentConfig, the entries are variants of which exactly one
 * fits the flavor and architecture (`component.selector`), its own import resolved first, then
 * merged under this component (mergeParts). Followed inside the top package's directory only, at
 * most ZARF_IMPORT_LIMITS deep and files, a cycle named; a `remote` (OCI) import is named with the
 * command to pull it.
 */
async function betaParts(spec: Record<string, unknown>, here: Here, ctx: PackageContext, walk: Walk): Promise<ComponentParts> {
  const { conv, opts } = walk;
  const own = partsOf(spec, here, ctx, conv);
  const imp = spec.import;
  if (!isSet(imp)) return own;
  const m = isMapping(imp) ? imp : {};
  if (!isMapping(imp)) conv.skipped.push({ from: here('import'), item: `import: ${brief(imp)}`, why: 'import must be a mapping of local: and remote:', todo: 'Fix the zarf.yaml.' });
  const remote = Array.isArray(m.remote) ? m.remote : [];
  remote.forEach((e, j) => {
    const url = isMapping(e) ? text(e.url) : undefined;
    conv.skipped.push({
      from: here('import', 'remote', j),
      item: `import.remote: ${url ?? brief(e)}`,
      why: 'a component config imported from an OCI registry; ferry fetches nothing to convert (and Zarf\'s v1beta1 loader refuses remote imports so far)',
      todo: `Pull it (\`oras pull ${url ? url.replace(/^oci:\/\//, '') : '<ref>'}\`), import the file it holds under import.local with its path, and convert again.`,
    });
  });
  for (const key of Object.keys(m)) {
    if (key !== 'local' && key !== 'remote' && isSet(m[key])) conv.skipped.push({ from: here('import', key), item: `import.${key}: ${brief(m[key])}`, why: 'not a field of a v1beta1 import ferry knows', todo: 'Check the field; ferry converts what zarf-dev/zarf v1beta1 defines.' });
  }
  const local = Array.isArray(m.local) ? m.local : [];
  if (!local.length) return own;
  const from = here('import', 'local');
  const item = `import.local: ${local.map((e) => (isMapping(e) ? (text(e.path) ?? '?') : brief(e))).join(', ')}`;
  const skip = (why: string, todo: string): ComponentParts => {
    conv.skipped.push({ from, item, why: `${why}; the imported component is not converted (its images, charts and files are not carried)`, todo });
    return own;
  };
  // Every entry is read (as Zarf reads them), then the one that fits is taken.
  const loaded: Array<{ config: Record<string, unknown>; spec: Record<string, unknown>; doc: YamlDocumentData; shown: string; real: string }> = [];
  for (let j = 0; j < local.length; j++) {
    const e = local[j];
    const p = isMapping(e) ? text(e.path) : undefined;
    if (!p) return skip(`entry ${j + 1} names no path:, which Zarf refuses`, 'Fix the zarf.yaml.');
    if (p.includes('###ZARF_')) return skip(`${p} holds a template, which Zarf does not fill in an import path`, 'Write the path.');
    if (path.isAbsolute(p)) return skip(`${p} is an absolute path, which Zarf refuses`, 'Write the path relative to the file that imports it.');
    const shown = path.join(path.dirname(ctx.file), p);
    const target = path.resolve(await realpath(ctx.base), p);
    const step = await stepInto(walk, ctx.chain, target, shown);
    if ('refused' in step) return skip(step.refused === 'cycle' ? `${step.why}, which Zarf refuses` : step.refused === 'not-a-file' ? `${shown} is not a file: a v1beta1 import names a component config file, not a directory` : step.why, stepTodo(step.refused, `List that component's images, charts and files in ${ctx.file}, or convert from a directory that holds both.`));
    const docs = await opts.read(step.real, shown);
    const config = docs.length === 1 ? docs[0].value : undefined;
    if (!isMapping(config) || config.kind !== 'ZarfComponentConfig') return skip(`${shown} is not a ZarfComponentConfig (kind:), which a v1beta1 import must name: components are not imported from packages`, 'Name the component config file.');
    if (config.apiVersion !== 'zarf.dev/v1beta1') return skip(`${shown} has apiVersion ${brief(config.apiVersion)}; a v1beta1 package imports zarf.dev/v1beta1 component configs`, 'Fix the component config.');
    if (!isMapping(config.component)) return skip(`${shown} defines no component:`, 'Fix the component config.');
    loaded.push({ config, spec: config.component, doc: docs[0], shown, real: step.real });
  }
  const fitting = loaded.filter((l) => !componentUnfit(l.spec, opts));
  if (fitting.length !== 1) {
    const fits = [opts.flavor && `flavor ${opts.flavor}`, opts.arch && `architecture ${opts.arch}`].filter(Boolean).join(' and ');
    const archOpen = opts.arch === undefined && fitting.filter((l) => selectorOf(l.spec, opts).arch).length > 1;
    return skip(
      `${fitting.length ? 'several' : 'no'} imported component variants (${loaded.map((l) => l.shown).join(', ')}) fit${fits ? ` ${fits}` : ' (no --flavor, no --arch)'}, and Zarf takes exactly one`,
      archOpen ? 'They are for different architectures (selector.architecture): convert with --arch <arch>.' : 'Convert with the --flavor (and --arch) of the package you build, or fix the variants\' selector:.',
    );
  }
  const chosen = fitting[0];
  const importedAt = placeText(from).replace(/ \(.*$/, '');
  const label = `${here().component ?? 'component'}, imported by ${importedAt}`;
  const cctx: PackageContext = { doc: chosen.doc, file: chosen.shown, base: path.dirname(chosen.real), chain: [...ctx.chain, chosen.real], importedAt };
  const cat = (...p: Array<string | number>): SourcePlace => ({ file: chosen.shown, line: chosen.doc.lineOf(['component', ...p]), component: label });
  const sel = selectorOf(chosen.spec, opts);
  if (sel.arch && opts.arch === undefined) conv.notes.push({ from: cat(...sel.path, ...sel.archPath), item: `selector.architecture: ${sel.arch}`, why: 'carried, though Zarf imports this variant only for that architecture: the package\'s architecture is not known here', todo: 'Convert with --arch <arch> (as zarf package create --architecture).' });
  for (const key of Object.keys(chosen.config)) {
    const at: SourcePlace = { file: chosen.shown, line: chosen.doc.lineOf([key]), component: label };
    if (!COMPONENT_CONFIG_FIELDS.has(key)) conv.skipped.push({ from: at, item: `${key}: ${brief(chosen.config[key])}`, why: 'not a field of a Zarf component config ferry knows', todo: 'Check the field; ferry converts what zarf-dev/zarf v1beta1 defines.' });
  }
  const values = chosen.config.values;
  if (isMapping(values) && isSet(values.files)) conv.skipped.push({ from: { file: chosen.shown, line: chosen.doc.lineOf(['values', 'files']), component: label }, item: `values.files: ${brief(values.files)}`, why: 'Zarf values, merged into the package\'s, which reach a chart through its values: mappings and templating when Zarf deploys; the charts\' images are found without them', todo: 'Write the chart values they set in a values file and list it under the chart\'s values:.' });
  await otherFields(chosen.spec, cat, cctx, walk);
  const imported = await betaParts(chosen.spec, cat, cctx, walk);
  return mergeParts(imported, own);
}

/**
 * A component's `import:`, as `zarf package create` resolves it (zarf-dev/zarf
 * src/pkg/packager/load/import.go): `path:` is a package directory (its zarf.yaml) or a file,
 * relative to the importing package; the one component named `import.name` (else this
 * component's name) that fits the flavor is taken, its paths relative to its own package, and
 * this component's own images, charts and files come after it. Followed only while it stays
 * inside the top package's directory tree (real paths: a symlink out is not followed), at most
 * ZARF_IMPORT_LIMITS deep and files; a cycle is named, not followed. A `url:` import (an OCI
 * skeleton package) is not fetched.
 */
async function followImport(comp: Record<string, unknown>, here: Here, ctx: PackageContext, walk: Walk): Promise<void> {
  const imp = isMapping(comp.import) ? comp.import : {};
  const from = here('import');
  const local = text(imp.path);
  const url = text(imp.url);
  const wanted = text(imp.name) ?? text(comp.name);
  const item = `import: ${local ?? url ?? brief(comp.import)}`;
  const skip = (why: string, todo: string) => void walk.conv.skipped.push({ from, item, why, todo });
  const convertBoth = (p: string) => `Convert that package too, with this one: ferry convert zarf ${p} ${ctx.file} (its component ${wanted ?? '?'}).`;
  if (local === undefined) {
    return skip(url ? 'a component imported from a remote (OCI) package; ferry fetches nothing to convert' : 'names neither path: nor url:', url ? 'Pull that package\'s zarf.yaml (zarf package inspect definition) and convert it with this one.' : 'Fix the zarf.yaml.');
  }
  if (url !== undefined) return skip('names both path: and url:, which Zarf refuses', 'Keep one of them.');
  if (local.includes('###ZARF_')) return skip('holds a template, which Zarf refuses in an import path', 'Write the path.');
  if (path.isAbsolute(local)) return skip('an absolute path, which Zarf refuses', 'Write the path relative to this zarf.yaml.');
  const shown = path.join(path.dirname(ctx.file), local);
  // Resolved from the package's real directory: the lexical check holds for a path that does not exist yet.
  const target = path.resolve(await realpath(ctx.base), local);
  // A directory (what Zarf takes the path for) names its zarf.yaml; a file is taken as it is (a stat only: stepInto refuses what is outside the tree).
  const isDir = !(await exists(target))?.isFile();
  const shownManifest = isDir ? path.join(shown, 'zarf.yaml') : shown;
  const step = await stepInto(walk, ctx.chain, isDir ? path.join(target, 'zarf.yaml') : target, shownManifest, path.dirname);
  if ('refused' in step) return skip(step.refused === 'cycle' ? `${step.why}, which Zarf refuses` : step.why, stepTodo(step.refused, convertBoth(shownManifest)));
  const realManifest = step.real;
  const pkgDir = path.dirname(realManifest);
  const docs = await walk.opts.read(realManifest, shownManifest);
  if (docs.length !== 1) return skip(`${shownManifest} holds ${docs.length} YAML documents, not one package definition`, 'Fix the imported zarf.yaml.');
  const pkg = docs[0].value;
  try {
    checkPackage(pkg, shownManifest);
  } catch (err) {
    if (!(err instanceof FerryError)) throw err;
    return skip(err.message, err.hint ?? 'Fix the imported zarf.yaml.');
  }
  if (pkg.apiVersion === 'zarf.dev/v1beta1') return skip(`${shownManifest} is a zarf.dev/v1beta1 package, imported by a v1alpha1 one`, convertBoth(shownManifest));
  const found: number[] = [];
  pkg.components.forEach((c, k) => {
    if (isMapping(c) && text(c.name) === wanted && !componentUnfit(c, walk.opts)) found.push(k);
  });
  if (found.length !== 1) {
    const fits = [walk.opts.flavor && `flavor ${walk.opts.flavor}`, walk.opts.arch && `architecture ${walk.opts.arch}`].filter(Boolean).join(' and ');
    return skip(`${shownManifest} has ${found.length ? 'several components' : 'no component'} named ${wanted ?? '?'}${fits ? ` for ${fits}` : ''}, as Zarf needs exactly one`, found.length > 1 && walk.opts.arch === undefined ? 'They may be for different architectures (only.cluster.architecture): convert with --arch <arch>; else fix import.name, or the imported package.' : 'Fix import.name, or the imported package.');
  }
  const importedAt = placeText(from).replace(/ \(.*$/, '');
  await convertComponent(pkg.components[found[0]], found[0], { doc: docs[0], file: shownManifest, base: pkgDir, chain: [...ctx.chain, pkgDir], importedAt }, walk);
}

type Here = (...p: Array<string | number>) => SourcePlace;

/** A field's text with package templates filled in; undefined (and the item skipped) when one is left. */
function filled(value: string, item: string, from: SourcePlace, opts: ZarfOptions, conv: Conversion): string | undefined {
  const t = applyTemplates(value, opts.set, opts.arch);
  if (!t.unknown.length) return t.value;
  conv.skipped.push({ from, item, why: `holds ${t.unknown.join(', ')}, known only when Zarf builds or deploys the package`, todo: templateTodo(t.unknown) });
  return undefined;
}

function convertImages(images: Placed[], opts: ZarfOptions, conv: Conversion): void {
  for (const { value: img, at } of images) {
    // v1beta1: { name, source: registry | daemon }.
    const raw = opts.beta ? (isMapping(img) ? text(img.name) : undefined) : text(img);
    if (raw === undefined) {
      conv.skipped.push({ from: at(), item: `images: ${brief(img)}`, why: opts.beta ? 'an image must be a mapping with name:' : 'an image must be a reference (text)', todo: 'Fix the zarf.yaml.' });
      continue;
    }
    if (opts.beta && isMapping(img)) {
      const source = text(img.source);
      if (source !== undefined && source !== 'registry') {
        conv.skipped.push({ from: at('source'), item: `images: ${raw}`, why: `source: ${brief(source)}: taken from ${source === 'daemon' ? 'the local container daemon' : 'elsewhere'}, not from a registry; ferry pulls images from registries`, todo: 'Push the image to a registry and list that reference under images:.' });
        continue;
      }
      for (const key of Object.keys(img)) {
        if (key !== 'name' && key !== 'source' && isSet(img[key])) conv.skipped.push({ from: at(key), item: `images: ${raw} ${key}: ${brief(img[key])}`, why: 'not a field of a Zarf image ferry knows', todo: `Check the field; ferry converts what ${schemaOf(opts)} defines.` });
      }
    }
    const ref = filled(raw, `images: ${raw}`, at(), opts, conv);
    // zarf package create pulls each image for linux/<the package's architecture> only.
    if (ref !== undefined) conv.candidates.push({ field: 'images', entry: { ref, ...(opts.arch !== undefined ? { platforms: [`linux/${opts.arch}`] } : {}) }, from: at() });
  }
}

/**
 * A chart's source fields as v1alpha1 names them (url, version, repoName, localPath, gitPath),
 * with the path each is read at; a v1beta1 chart's helmRepository/oci/git/local block read so.
 * A v1beta1 `oci.ref.digest` is named (a ferry chart names a version).
 */
function chartSource(chart: Record<string, unknown>, opts: ZarfOptions): { fields: Record<string, { value: string; at: string[] }>; known: string[]; digest?: string } {
  const fields: Record<string, { value: string; at: string[] }> = {};
  const put = (name: string, v: unknown, at: string[]) => {
    const t = text(v);
    if (t !== undefined) fields[name] = { value: t, at };
  };
  if (!opts.beta) {
    for (const key of ['url', 'version', 'repoName', 'localPath', 'gitPath']) put(key, chart[key], [key]);
    return { fields, known: ['url', 'version', 'repoName', 'valuesFiles', 'localPath', 'gitPath'] };
  }
  const block = (k: string) => (isMapping(chart[k]) ? (chart[k] as Record<string, unknown>) : undefined);
  const hr = block('helmRepository');
  const oci = block('oci');
  const git = block('git');
  const local = block('local');
  let digest: string | undefined;
  if (hr) {
    put('url', hr.url, ['helmRepository', 'url']);
    put('version', hr.version, ['helmRepository', 'version']);
    put('repoName', hr.name, ['helmRepository', 'name']);
  } else if (oci) {
    put('url', oci.url, ['oci', 'url']);
    const ref = isMapping(oci.ref) ? oci.ref : {};
    put('version', ref.tag, ['oci', 'ref', 'tag']);
    digest = text(ref.digest);
  } else if (git) {
    put('url', git.url, ['git', 'url']);
    put('gitPath', git.path ?? '', ['git', 'path']);
  } else if (local) put('localPath', local.path, ['local', 'path']);
  return { fields, known: ['helmRepository', 'oci', 'git', 'local', 'valuesFiles'], digest };
}

function convertCharts(charts: ChartItem[], opts: ZarfOptions, conv: Conversion, root: string): void {
  charts.forEach(({ value: chart, at: chartAt, ctx, valuesFiles }, j) => {
    const base = ctx.base;
    const from = chartAt();
    if (!isMapping(chart)) {
      conv.skipped.push({ from, item: `charts: ${brief(chart)}`, why: 'a chart must be a mapping', todo: 'Fix the zarf.yaml.' });
      return;
    }
    const zarfName = text(chart.name) ?? `#${j + 1}`;
    const item = `charts: ${zarfName}`;
    const skip = (why: string, todo: string, at = from) => conv.skipped.push({ from: at, item, why, todo });
    const source = chartSource(chart, opts);
    const fields: Record<string, string | undefined> = {};
    for (const [key, { value, at }] of Object.entries(source.fields)) {
      const f = filled(value, `${item} ${at.join('.')}: ${value}`, chartAt(...at), opts, conv);
      if (f === undefined) return;
      fields[key] = f;
    }
    const values: Array<{ rel: string; abs: string; shown: string }> = [];
    // Each values file is read from the package that names it (an imported chart's and this component's).
    valuesFiles.forEach(({ value: vf, at: vfAt, ctx: vctx }) => {
      // v1beta1: { path, enableTemplating }; a templated file is what Zarf fills in at deploy.
      const v = opts.beta && isMapping(vf) ? text(vf.path) : text(vf);
      const at = vfAt();
      if (v === undefined) return conv.skipped.push({ from: at, item: `${item} valuesFiles: ${brief(vf)}`, why: 'a values file must be a path', todo: 'Fix the zarf.yaml.' });
      const f = filled(v, `${item} valuesFiles: ${v}`, at, opts, conv);
      if (f === undefined) return;
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(f)) {
        return conv.skipped.push({ from: at, item: `${item} valuesFiles: ${f}`, why: 'a remote values file: the chart is carried, its images found without this file', todo: 'Download the file beside the manifest and list it under the chart\'s values:.' });
      }
      if (isMapping(vf) && vf.enableTemplating === true) conv.notes.push({ from: at, item: `${item} valuesFiles: ${f}`, why: 'Zarf fills its templates in at deploy; ferry reads the file as it is', todo: 'Check the images the chart finds with the values you deploy.' });
      values.push({ rel: localFile(f, vctx.base, opts.outDir, `${item} valuesFiles:`, at, conv, 'relative to the directory of the file naming it, as zarf reads it'), abs: path.resolve(vctx.base, f), shown: path.join(path.dirname(vctx.file), f) });
    });
    const url = fields.url;
    const unknownFields = () => {
      for (const key of Object.keys(chart)) {
        if (CHART_QUIET.has(key) || source.known.includes(key) || !isSet(chart[key])) continue;
        const at = chartAt(key);
        const deployTime = ['variables', 'values', 'templatedValuesFiles'].includes(key);
        conv.skipped.push({
          from: at,
          item: `${item} ${key}: ${brief(chart[key])}`,
          why: deployTime ? 'values set when Zarf deploys; the chart\'s images are found without them' : 'not a field of a Zarf chart ferry knows',
          todo: deployTime ? 'Write the values you deploy with in a values file and list it under the chart\'s values:, so discovery sees the images they select.' : `Check the field; ferry converts what ${schemaOf(opts)} defines.`,
        });
      }
    };
    if (fields.localPath !== undefined && url === undefined) {
      unknownFields();
      // Zarf packages the chart from disk, relative to the package's directory: rendered by the command for its images.
      // Its images are carried for the package's architecture, as the images: Zarf lists are.
      conv.localCharts.push({ location: path.resolve(base, fields.localPath), shown: path.join(path.dirname(ctx.file), fields.localPath), root, values: values.map(({ abs, shown }) => ({ abs, shown })), item, from, ...(opts.arch !== undefined ? { platforms: [`linux/${opts.arch}`] } : {}) });
      return;
    }
    if (url === undefined) return skip(opts.beta ? 'names none of helmRepository:, oci:, git:, local:' : 'names neither url: nor localPath:', 'Fix the zarf.yaml.');
    if (source.digest !== undefined) return skip(`oci.ref.digest: ${source.digest}: pinned by digest; a ferry chart names a version (the lock pins the digest)`, 'Write the chart\'s version under oci.ref.tag.');
    if (fields.gitPath !== undefined || isGitUrl(url)) {
      return skip(`a chart from a git repository (${url}${fields.gitPath ? `, gitPath: ${fields.gitPath}` : ''}); ferry carries no git trees`, 'Publish the chart to an HTTP or OCI chart repository (helm package, helm push) and list it under charts: with that repo.');
    }
    let entry: Record<string, unknown>;
    if (url.startsWith('oci://')) {
      // Zarf pulls oci://host/path/chart at `version` as its tag: ferry names the repository and the chart apart.
      const oci = splitOciChart(url, fields.version);
      if ('problem' in oci) return skip(oci.problem, oci.todo);
      entry = oci;
    } else if (isHttpUrl(url)) {
      entry = { name: fields.repoName ?? text(chart.name), repo: url, version: fields.version };
    } else {
      return skip(`url: ${url} is neither an http(s):// chart repository nor oci://`, 'Name the chart\'s repository (http(s):// or oci://).');
    }
    if (entry.version === undefined) {
      entry.version = '*';
      conv.notes.push({ from, item, why: 'no version: converted as version "*", the newest release when you lock (the lock pins it)', todo: 'Write the version you deploy under version:.' });
    }
    if (values.length) entry.values = values.map((v) => v.rel);
    unknownFields();
    // zarf package create pulls the images it finds in the chart for linux/<the package's architecture> only, as the listed ones.
    if (opts.arch !== undefined) entry.platforms = [`linux/${opts.arch}`];
    conv.candidates.push({ field: 'charts', entry, from });
  });
}

function convertFiles(files: Placed[], opts: ZarfOptions, conv: Conversion): void {
  files.forEach(({ value: f, at: fileAt }) => {
    const from = fileAt();
    if (!isMapping(f)) {
      conv.skipped.push({ from, item: `files: ${brief(f)}`, why: 'a file must be a mapping', todo: 'Fix the zarf.yaml.' });
      return;
    }
    const rawSource = text(f.source) ?? '';
    const source = filled(rawSource, `files: ${rawSource}`, fileAt('source'), opts, conv);
    if (source === undefined) return;
    const item = `files: ${source}`;
    const skip = (why: string, todo: string) => conv.skipped.push({ from, item, why, todo });
    if (!isHttpUrl(source)) {
      return skip(source ? 'a local file or folder (ferry carries files from URLs)' : 'names no source:', 'Serve it from an HTTP server you trust and list its URL under files:, or keep it with your deployment.');
    }
    // v1beta1 names them destination: and checksum:.
    const sumKey = opts.beta ? 'checksum' : 'shasum';
    const extract = text(f.extractPath);
    // With extractPath the carried file is the archive: named by its URL, not by where Zarf puts the extracted file.
    const entry: Record<string, unknown> = { name: fileName(extract ? undefined : text(opts.beta ? f.destination : f.target), source), url: source };
    const shasum = text(f[sumKey]);
    if (shasum !== undefined && !/^[0-9a-fA-F]{64}$/.test(shasum)) return skip(`${sumKey}: ${brief(shasum)} is not a SHA-256 (64 hex characters)`, `Write the file's SHA-256 under ${sumKey}:, or leave it out (the lock records it).`);
    if (extract) {
      // Zarf checks the sum on the file it extracted (SHAsMatch on extractPath), not on the archive it downloads.
      const sum = shasum === undefined ? '' : `; its ${sumKey}: is the SHA-256 of ${extract}, which Zarf checks after extracting, not the archive's: the archive is not pinned by it (the lock records the archive's SHA-256)`;
      const check = shasum === undefined ? '' : `, and check it: \`tar -xOf <archive> ${extract} | sha256sum\` gives ${shasum.toLowerCase()}`;
      conv.notes.push({ from, item, why: `carried whole; Zarf takes ${extract} out of it at deploy${sum}`, todo: `Extract it at the site after import${check}.` });
    } else if (shasum !== undefined) entry.sha256 = shasum.toLowerCase();
    for (const key of Object.keys(f)) {
      if (FILE_QUIET.has(key) || ['source', sumKey, 'extractPath'].includes(key) || !isSet(f[key])) continue;
      skip(`${key}: ${brief(f[key])}: not a field of a Zarf file ferry knows`, `Check the field; ferry converts what ${schemaOf(opts)} defines.`);
    }
    conv.candidates.push({ field: 'files', entry, from });
  });
}

/** A file's name in the manifest: where Zarf puts it (target's base name), else the URL path's (an archive Zarf extracts from: the URL's). */
export function fileName(target: string | undefined, url: string): string {
  const last = (s: string) => s.split(/[/\\]/).filter(Boolean).pop();
  let fromUrl: string | undefined;
  try {
    const u = new URL(url);
    fromUrl = last(decodeURIComponent(u.pathname)) ?? u.hostname;
  } catch {
    fromUrl = undefined;
  }
  return (target && !target.includes('###') ? last(target) : undefined) ?? fromUrl ?? 'file';
}

export type { ConvertNote };
