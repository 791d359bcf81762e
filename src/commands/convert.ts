import { link, lstat, mkdir, realpath, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { FerryError, isFerryError, unreadableFile } from '../errors.js';
import { validateManifest } from '../kinds/schema.js';
import { INPUT_LIMITS, parseYamlDocuments, readCapped } from '../manifest/input-file.js';
import { API_VERSION } from '../manifest/schema.js';
import { assembleManifest, manifestNameFrom, placeText, type Candidate, type Conversion, type ConvertNote } from '../manifest/convert/common.js';
import { convertHauler } from '../manifest/convert/hauler.js';
import { convertHelmfile } from '../manifest/convert/helmfile.js';
import { convertOcMirror } from '../manifest/convert/oc-mirror.js';
import { convertZarf } from '../manifest/convert/zarf.js';
import { checkInsideTarget } from '../store/confined-dirs.js';
import { imagePathProblem, localChartImages } from './convert-local-charts.js';
import { freshTempPath, releaseTemp, writeFileAtomic } from '../store/temp-files.js';
import { escapeLine } from '../ui/escape.js';

export const CONVERT_FORMATS = ['zarf', 'hauler', 'oc-mirror', 'helmfile'] as const;
export type ConvertFormat = (typeof CONVERT_FORMATS)[number];

export interface ConvertOptions {
  /** Write the manifest here (else it is only returned). */
  output?: string;
  /** Replace an existing output file. */
  force?: boolean;
  /** metadata.name of the manifest (default: the source's name). */
  name?: string;
  /** Zarf package templates, by name (`--set NAME=value`). */
  set?: Record<string, string>;
  /** Zarf flavor (`--flavor`). */
  flavor?: string;
  /** Zarf package architecture (`--arch`, as zarf package create --architecture). */
  arch?: string;
  /** helmfile environment (`--environment`, default "default"): whose values its templates are read with. */
  environment?: string;
  cwd?: string;
}

/** A source item and what became of it, for people (`place`) and machines (file, line, component). */
export interface ConvertReportItem {
  place: string;
  file: string;
  line?: number;
  component?: string;
  item: string;
  why: string;
  todo: string;
}

export interface ConvertResult {
  /** The manifest file written, when -o named one. */
  output?: string;
  /** The manifest text: the leading comment, then the YAML. */
  text: string;
  manifest: Record<string, unknown>;
  counts: { images: number; charts: number; files: number };
  /** Items not carried, sorted by place. */
  notCarried: ConvertReportItem[];
  /** Items carried, but not as the source had them. */
  changed: ConvertReportItem[];
}

const reportItem = (n: ConvertNote): ConvertReportItem => ({ place: placeText(n.from), file: n.from.file, line: n.from.line, component: n.from.component, item: n.item, why: n.why, todo: n.todo });

function sortedItems(notes: ConvertNote[]): ConvertReportItem[] {
  const key = (n: ConvertNote) => [n.from.file, String(n.from.line ?? 0).padStart(9, '0'), n.item, n.why];
  return [...notes]
    .sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
      return 0;
    })
    .map(reportItem);
}

function stringsOf(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(stringsOf);
  if (v && typeof v === 'object') return Object.values(v).flatMap(stringsOf);
  return [];
}

/**
 * Check one candidate as the manifest loader will (`ferry lock` reads the same schema): a
 * candidate it would refuse is not carried, with the loader's words, instead of failing the
 * whole conversion. Text a terminal would act on (control characters, bidi overrides) is never
 * carried: it is no reference, URL or path anyone means.
 */
function checkCandidate(c: Candidate): string | undefined {
  if (stringsOf(c.entry).some((s) => escapeLine(s) !== s)) return 'holds control characters (or bidi overrides): not a reference, URL or path';
  try {
    validateManifest({ apiVersion: API_VERSION, kind: 'Manifest', metadata: { name: 'convert' }, [c.field]: [c.entry] }, placeText(c.from));
    return undefined;
  } catch (err) {
    if (!isFerryError(err, 'VALIDATION')) throw err;
    return (err.details ?? [err.message]).map((d) => d.replace(/^[a-z]+\[0\]\.?/, '')).join('; ');
  }
}

async function readSource(file: string, what: string) {
  const text = await readCapped(file, INPUT_LIMITS.yamlBytes, what);
  if (text === undefined) throw unreadableFile(file, what, 'ENOENT');
  return parseYamlDocuments(text, file, what);
}

/** `ferry convert zarf|hauler|oc-mirror|helmfile <file>…`: a ferry manifest from a Zarf package definition, Hauler manifests, an oc-mirror ImageSetConfiguration or a helmfile. */
export async function convertCommand(format: string, files: string[], opts: ConvertOptions = {}): Promise<ConvertResult> {
  if (!CONVERT_FORMATS.includes(format as ConvertFormat)) throw new FerryError('USAGE', `convert ${JSON.stringify(format)}: choose one of ${CONVERT_FORMATS.join(', ')}`);
  if (!files.length) throw new FerryError('USAGE', `convert ${format}: name at least one file`);
  const cwd = opts.cwd ?? process.cwd();
  const output = opts.output === undefined ? undefined : path.resolve(cwd, opts.output);
  const outDir = output ? path.dirname(output) : cwd;
  if (output && !opts.force && (await lstat(output).catch(() => undefined))) {
    throw new FerryError('USAGE', `${output}: exists; ferry convert does not replace a file`, { hint: 'Name another file with -o, or add --force to replace it.' });
  }
  const all: Conversion[] = [];
  for (const file of files) {
    const abs = path.resolve(cwd, file);
    if (format === 'zarf') {
      const docs = await readSource(abs, 'Zarf package definition');
      if (docs.length !== 1) throw new FerryError('VALIDATION', `${file}: a zarf.yaml holds one YAML document, this one ${docs.length}`, { hint: 'Name the package\'s zarf.yaml.' });
      const read = (real: string, shown: string) => readSource(real, `Zarf package definition ${shown} (imported)`);
      all.push(await convertZarf(docs[0], file, abs, { set: opts.set ?? {}, flavor: opts.flavor, arch: opts.arch, outDir, read }));
    } else if (format === 'helmfile') {
      const read = (real: string, what: string) => readCapped(real, INPUT_LIMITS.yamlBytes, what);
      all.push(await convertHelmfile(file, abs, { outDir, environment: opts.environment ?? 'default', read }));
    } else if (format === 'oc-mirror') {
      const docs = await readSource(abs, 'oc-mirror ImageSetConfiguration');
      // oc-mirror reads a helm.local chart's path relative to the directory it runs in.
      const conv = convertOcMirror(docs, file, { cwd, root: await realpath(cwd), imagePathProblem });
      if (!conv.configs) {
        throw new FerryError('VALIDATION', `${file}: no ImageSetConfiguration (mirror.openshift.io/v1alpha2 or v2alpha1) in it`, { hint: 'Name the ImageSetConfiguration file you give oc-mirror --config.' });
      }
      all.push(conv);
    } else {
      const docs = await readSource(abs, 'Hauler manifest');
      const conv = convertHauler(docs, file, abs, { outDir, cwd });
      if (!conv.contentDocuments) {
        const kinds = docs.length ? 'no Images, Charts or Files manifest (content.hauler.cattle.io/v1)' : 'no YAML document';
        throw new FerryError('VALIDATION', `${file}: ${kinds} in it`, { hint: 'Name a Hauler manifest file; for a zarf.yaml use `ferry convert zarf`.' });
      }
      all.push(conv);
    }
  }
  const local = await localChartImages(all.flatMap((c) => c.localCharts));
  const skipped = [...all.flatMap((c) => c.skipped), ...local.skipped];
  const notes = [...all.flatMap((c) => c.notes), ...local.notes];
  const carried: Candidate[] = [];
  for (const c of [...all.flatMap((x) => x.candidates), ...local.candidates]) {
    const problem = checkCandidate(c);
    if (problem) skipped.push({ from: c.from, item: `${c.field}: ${String(c.entry.ref ?? c.entry.url ?? c.entry.name)}`, why: `ferry's manifest refuses it: ${problem}`, todo: 'Fix it in the source, or write the entry by hand.' });
    else carried.push(c);
  }
  const sourceName = all.find((c) => c.name)?.name ?? path.basename(files[0]).replace(/\.ya?ml$/i, '');
  const name = opts.name ?? manifestNameFrom(sourceName);
  const description = all.find((c) => c.description)?.description;
  const assembled = assembleManifest(name, description === undefined ? undefined : escapeLine(description), carried);
  skipped.push(...assembled.conflicts);
  // What the loader refuses here is a bug in the conversion (each entry passed on its own) or a bad --name.
  validateManifest(assembled.manifest, output ?? 'the converted manifest');
  const notCarried = sortedItems(skipped);
  const changed = sortedItems(notes);
  const text = renderManifest(format, files, assembled.manifest, notCarried, changed);
  if (output) await writeNewFile(output, text, Boolean(opts.force));
  return { output, text, manifest: assembled.manifest, counts: assembled.counts, notCarried, changed };
}

/** The manifest text: a leading comment naming the source and every item not carried (or changed), then the YAML. */
function renderManifest(format: string, files: string[], manifest: Record<string, unknown>, notCarried: ConvertReportItem[], changed: ConvertReportItem[]): string {
  const lines = [`# Converted by \`ferry convert ${format}\` from ${files.map((f) => escapeLine(f)).join(', ')}.`];
  const list = (title: string, items: ConvertReportItem[]) => {
    if (!items.length) return;
    lines.push('#', `# ${title} (${items.length}):`);
    for (const n of items) lines.push(`#   ${escapeLine(`${n.place}: ${n.item}: ${n.why}. ${n.todo}`)}`);
  };
  list('Not carried, each with what to do', notCarried);
  list('Carried differently', changed);
  if (!notCarried.length) lines.push('# Every item was carried.');
  return `${lines.join('\n')}\n${stringify(manifest, { lineWidth: 0 })}`;
}

/**
 * Write a new file atomically: the text goes to a temp name beside it and is linked into place,
 * which fails when a file appeared there meanwhile (never replaced without `force`); with
 * `force`, renamed over what is there.
 */
async function writeNewFile(dest: string, text: string, force: boolean): Promise<void> {
  if (force) return writeFileAtomic(dest, text);
  await checkInsideTarget(dest);
  await mkdir(path.dirname(dest), { recursive: true });
  const tmp = await freshTempPath(dest);
  try {
    await writeFile(tmp, text, { flag: 'wx' });
    await link(tmp, dest).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
      throw new FerryError('USAGE', `${dest}: exists; ferry convert does not replace a file`, { hint: 'Name another file with -o, or add --force to replace it.' });
    });
  } finally {
    await rm(tmp, { force: true });
    releaseTemp(tmp);
  }
}
