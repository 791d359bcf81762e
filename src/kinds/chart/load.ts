import { constants as fsc, createReadStream } from 'node:fs';
import { type FileHandle, open, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { parseHostileYaml } from '../../manifest/yaml-input.js';
import { FerryError, unreadableFile } from '../../errors.js';
import { readRegularFile } from '../../store/verified-write.js';
import { parseGoYaml } from './render/goyaml.js';

/**
 * A Helm chart as discovery and dependency resolution see it: metadata, the text files that
 * matter (values, templates, lock files), and its vendored subcharts. Read from a directory or
 * streamed from a .tgz (subchart archives inside it are streamed too, never unpacked to disk).
 */
export interface ChartDependency {
  name: string;
  version?: string;
  repository?: string;
  alias?: string;
  condition?: string;
  tags?: string[];
}

export interface ChartMetadata {
  apiVersion?: string;
  name: string;
  version: string;
  appVersion?: string;
  type?: string;
  dependencies?: ChartDependency[];
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface LoadedChart {
  metadata: ChartMetadata;
  /** Where this chart sits, for messages: `keycloak`, `keycloak/charts/postgresql`. */
  where: string;
  /** Text files by path relative to the chart root (Chart.yaml, values.yaml, templates/…, Images.lock, Chart.lock). */
  files: Map<string, string>;
  /** Vendored subcharts (charts/<dir>/ or charts/*.tgz), by the directory or archive they came from. */
  subcharts: LoadedChart[];
  /** Every file of the chart (not its subcharts) as bytes, when loaded with `allFiles` (the renderer needs them). */
  raw?: Map<string, Buffer>;
  /** Read from a packaged chart (a .tgz, or a directory inside one): Helm applies no .helmignore to it. */
  packaged?: true;
}

export interface LoadOptions {
  /** Keep every file's bytes in `raw` (for rendering: .Files, schema, .helmignore). */
  allFiles?: boolean;
}

/** Largest single chart file read (templates and values are small; a CRD template is under 1 MiB). */
const MAX_TEXT = 4 * 1024 * 1024;

/**
 * A chart file over MAX_TEXT that rendering reads (a template, Chart.yaml, a values file): refused,
 * naming it. It was skipped in silence, so a chart rendered without that template (its objects and
 * images) where helm renders them. Other files (under `files/`, read by `.Files.Get`) are still
 * skipped, and `.Files.Get` sees them empty.
 */
function tooLarge(where: string, rel: string, size: string): FerryError {
  return new FerryError('VALIDATION', `${where}: ${rel} is ${size}, more than the ${MAX_TEXT / 1024 / 1024} MiB ferry reads of one chart file; refusing to render the chart without it`, {
    hint: 'Render such a chart with `--render helm` (a helm binary on the PATH), or list its images in the manifest.',
  });
}

/**
 * A values file a user or a manifest names (`--values`, a chart's `values:`, a converted
 * source's values files): at most MAX_TEXT, as a chart's own values.yaml, read through one
 * descriptor that is checked to be a regular file (a FIFO is refused, never waited on; /dev/zero
 * is not read without bound, as readFile read it). Every reader of a values file calls this one.
 */
export async function readValuesFile(file: string, opts: { shown?: string; hint?: string } = {}): Promise<string> {
  const shown = opts.shown ?? file;
  const buf = await readRegularFile(file, MAX_TEXT, { follow: true });
  if (Buffer.isBuffer(buf)) return buf.toString('utf8');
  if (buf.why === 'unreadable') throw unreadableFile(shown, 'values file', buf.err, { hint: opts.hint });
  if (buf.why === 'directory') throw unreadableFile(shown, 'values file', 'EISDIR', { hint: opts.hint });
  if (buf.why === 'too-large') {
    throw new FerryError('VALIDATION', `${shown}: values file is ${buf.reason}, more than the ${MAX_TEXT / 1024 / 1024} MiB ferry reads of a values file (as of any chart file)`, {
      hint: 'Check that the path names the values file you meant; a values file this large is refused by ferry as a chart\'s own values.yaml would be.',
    });
  }
  throw new FerryError('VALIDATION', `${shown}: values file is ${buf.reason}`, { hint: 'Name the values file itself, a regular file.' });
}

function wanted(rel: string): boolean {
  const base = path.posix.basename(rel);
  if (rel === 'Chart.yaml' || rel === 'values.yaml' || rel === 'values.yml' || rel === 'Chart.lock') return true;
  if (rel === 'requirements.yaml' || rel === 'requirements.lock') return true;
  if (/^images\.lock$/i.test(base) && !rel.startsWith('charts/')) return true;
  if (rel.startsWith('templates/') && /\.(ya?ml|tpl|txt|json)$/i.test(base)) return true;
  return false;
}

function parseMetadata(text: string | undefined, where: string): ChartMetadata {
  if (text === undefined) throw new FerryError('VALIDATION', `${where}: no Chart.yaml`, { hint: 'Point at a chart directory, a packaged chart (.tgz) or a manifest.' });
  let raw: unknown;
  try {
    raw = parseHostileYaml(text, { duplicates: 'refuse' });
  } catch (err) {
    // Helm reads Chart.yaml with go-yaml, which lets a later duplicate key win (stable's
    // aws-cluster-autoscaler) and does not check a quoted string's continuation indentation
    // (ceph-csi's description): read it that way before refusing it.
    try {
      raw = parseGoYaml(text);
    } catch {
      throw new FerryError('VALIDATION', `${where}/Chart.yaml: not valid YAML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
    }
  }
  const m = (raw ?? {}) as Partial<ChartMetadata>;
  const problems: string[] = [];
  if (typeof m.name !== 'string' || !m.name) problems.push('name: missing');
  if (m.version === undefined || m.version === null) problems.push('version: missing');
  if (problems.length) throw new FerryError('VALIDATION', `${where}/Chart.yaml: not a valid chart`, { details: problems });
  return {
    ...m,
    name: String(m.name),
    version: String(m.version),
    appVersion: m.appVersion === undefined || m.appVersion === null ? undefined : String(m.appVersion),
  } as ChartMetadata;
}

/** A chart's YAML file (requirements.yaml, Chart.lock …), a FerryError naming it when it does not parse. */
function parseChartYaml(chart: LoadedChart, file: string): Record<string, unknown> {
  try {
    const doc = parseHostileYaml(chart.files.get(file)!, { duplicates: 'refuse' }) ?? {};
    return typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : {};
  } catch (err) {
    throw new FerryError('VALIDATION', `${chart.where}/${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
}

/** The entries of a `dependencies:` list that name a chart (anything else in it is ignored, as a list that is not one). */
function dependencyList(deps: unknown): ChartDependency[] {
  return Array.isArray(deps) ? deps.filter((d): d is ChartDependency => Boolean(d) && typeof d.name === 'string') : [];
}

/** Dependencies from Chart.yaml (apiVersion v2) or requirements.yaml (v1). */
export function chartDependencies(chart: LoadedChart): ChartDependency[] {
  let deps: unknown = chart.metadata.dependencies;
  if (!deps && chart.files.has('requirements.yaml')) deps = parseChartYaml(chart, 'requirements.yaml').dependencies;
  return dependencyList(deps);
}

/** Chart.lock / requirements.lock pins: name → {version, repository}. */
export function chartLockPins(chart: LoadedChart): ChartDependency[] {
  const file = chart.files.get('Chart.lock') ? 'Chart.lock' : chart.files.get('requirements.lock') ? 'requirements.lock' : undefined;
  if (!file) return [];
  return dependencyList(parseChartYaml(chart, file).dependencies).map((d) => ({ ...d, version: d.version === undefined ? undefined : String(d.version) }));
}

// ── directory ────────────────────────────────────────────────────────────────

/**
 * What a directory entry is once symbolic links are followed, as Helm's directory loader follows
 * them (rook's `charts/library -> ../../library`): a link to a directory is walked as one, a link
 * to a file read as one. A dangling link is refused, as Helm refuses it; so is a link back to a
 * directory being walked (Helm would walk it forever).
 */
async function entryKind(abs: string, e: import('node:fs').Dirent, walking: ReadonlySet<string>, where: string): Promise<'dir' | 'file' | 'other'> {
  if (e.isDirectory()) return 'dir';
  if (e.isFile()) return 'file';
  if (!e.isSymbolicLink()) return 'other';
  let real: string;
  let st: import('node:fs').Stats;
  try {
    real = await realpath(abs);
    st = await stat(real);
  } catch (err) {
    throw new FerryError('VALIDATION', `${where}: the symbolic link ${e.name} leads nowhere: ${(err as Error).message}`, { cause: err });
  }
  if (st.isDirectory()) {
    if (walking.has(real)) throw new FerryError('VALIDATION', `${where}: the symbolic link ${e.name} leads back to a directory it is in (${real})`);
    return 'dir';
  }
  return st.isFile() ? 'file' : 'other';
}

/**
 * Entries one chart directory walk may visit: a chart has tens to hundreds of files; a link to
 * `/` or a home directory (followed, as Helm follows it) would otherwise be walked whole.
 */
const MAX_DIR_ENTRIES = 20_000;

/**
 * What one chart directory load may read, its vendored subcharts (directories and archives) with
 * it: 10 000 `charts/` entries linked to one directory were each a fresh load of it.
 */
interface DirBudget extends ChartBudget {
  entries: number;
}

function spendEntries(budget: ChartBudget, n: number, where: string, rel: string, archive = false): void {
  budget.entries = (budget.entries ?? MAX_DIR_ENTRIES) - n;
  if (budget.entries < 0) {
    throw new FerryError('VALIDATION', `${where}: more than ${MAX_DIR_ENTRIES.toLocaleString('en-US')} files and directories ${archive ? 'in the chart archive' : 'under the chart directory'} (at ${rel || '.'}), its vendored subcharts counted with it; refusing to read on`, {
      hint: archive
        ? 'A chart has tens to hundreds of files; the archive was crafted or is not a chart. Ask its publisher, or list the images in the manifest.'
        : 'A chart has tens to hundreds of files: does a symbolic link in it lead to a large directory (/, a home directory), or do many subcharts link to one? Point at the chart itself, or package it with `helm package`.',
    });
  }
}

async function walk(dir: string, where: string, walking: ReadonlySet<string>, rel: string, budget: DirBudget): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(path.join(dir, rel), { withFileTypes: true });
  spendEntries(budget, entries.length, where, rel);
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    const kind = await entryKind(path.join(dir, r), e, walking, where);
    if (kind === 'dir') {
      if (r === 'charts') continue;
      out.push(...(await walk(dir, where, new Set([...walking, await realpath(path.join(dir, r))]), r, budget)));
    } else if (kind === 'file') out.push(r);
  }
  return out;
}

export async function loadChartDir(
  dir: string,
  where = path.basename(path.resolve(dir)),
  opts: LoadOptions = {},
  ancestors: ReadonlySet<string> = new Set(),
  budget: DirBudget = { left: MAX_CHART_BYTES, entries: MAX_DIR_ENTRIES },
  depth = 0,
): Promise<LoadedChart> {
  if (depth > MAX_SUBCHART_DEPTH) throw tooDeep(where);
  const walking = new Set([...ancestors, await realpath(dir)]);
  const files = new Map<string, string>();
  const raw = opts.allFiles ? new Map<string, Buffer>() : undefined;
  for (const rel of await walk(dir, where, walking, '', budget)) {
    if (!wanted(rel) && !raw) continue;
    // Opened once, then checked and read through that descriptor: a file swapped for a FIFO or a
    // device after the walk saw it (a followed link re-pointed) is not read (readFile of a FIFO
    // waited forever, of /dev/zero grew without bound).
    const buf = await readRegularFile(path.join(dir, rel), MAX_TEXT, { follow: true });
    if (!Buffer.isBuffer(buf)) {
      if (buf.why === 'unreadable') throw new FerryError('VALIDATION', `${where}: ${rel}: ${buf.reason}`, { cause: buf.err });
      if (buf.why === 'too-large' && wanted(rel)) throw tooLarge(where, rel, buf.reason);
      continue;
    }
    budget.left -= buf.length;
    if (budget.left < 0) {
      throw new FerryError('VALIDATION', `${where}: its files hold more than ${MAX_CHART_BYTES} bytes (at ${rel}); refusing to read on`, {
        hint: 'helm refuses a packaged chart this large; does a symbolic link in the chart directory lead to a large directory?',
      });
    }
    raw?.set(rel, buf);
    if (wanted(rel)) files.set(rel, buf.toString('utf8'));
  }
  const metadata = parseMetadata(files.get('Chart.yaml'), where);
  const subcharts: LoadedChart[] = [];
  const chartsDir = path.join(dir, 'charts');
  let entries: import('node:fs').Dirent[] = [];
  try {
    entries = await readdir(chartsDir, { withFileTypes: true });
  } catch {
    /* no charts/ */
  }
  spendEntries(budget, entries.length, where, 'charts');
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const abs = path.join(chartsDir, e.name);
    const kind = await entryKind(abs, e, walking, where);
    if (kind === 'dir') subcharts.push(await loadChartDir(abs, `${where}/charts/${e.name}`, opts, walking, budget, depth + 1));
    else if (kind === 'file' && /\.tgz$/.test(e.name)) {
      const archive = await openRegularFile(abs, `${where}/charts/${e.name}`);
      if (archive) subcharts.push(await loadChartStream(archive.createReadStream(), `${where}/charts/${e.name}`, opts, budget, depth + 1));
    }
  }
  return { metadata, where, files, subcharts, ...(raw ? { raw } : {}) };
}

/** A file opened without waiting on a FIFO and checked through its descriptor; undefined: not a regular file (any more). */
async function openRegularFile(file: string, where: string): Promise<FileHandle | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(file, fsc.O_RDONLY | fsc.O_NONBLOCK);
  } catch (err) {
    throw new FerryError('VALIDATION', `${where}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  if ((await fh.stat()).isFile()) return fh;
  await fh.close();
  return undefined;
}

// ── archive ──────────────────────────────────────────────────────────────────

interface Tree {
  files: Map<string, string>;
  raw: Map<string, Buffer>;
  /** charts/<name>/… entries of vendored subcharts as directories inside the archive. */
  dirs: Map<string, Tree>;
  archives: Array<{ name: string; chart: Promise<LoadedChart> }>;
}

function newTree(): Tree {
  return { files: new Map(), raw: new Map(), dirs: new Map(), archives: [] };
}

function collect(entry: ReadEntry): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    entry.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_TEXT) chunks.push(c);
    });
    entry.on('end', () => resolve(size <= MAX_TEXT ? Buffer.concat(chunks) : undefined));
    entry.on('error', reject);
  });
}

/**
 * Bytes one chart may unpack to, its subchart archives included (they share the budget): the
 * 100 MiB `helm` itself allows a chart. A decompression bomb (a few KB of gzip for gigabytes of
 * zeros, or archives nested in archives) is refused once it passes, naming the chart.
 */
export const MAX_CHART_BYTES = 100 * 1024 * 1024;

interface ChartBudget {
  left: number;
  /** Entries (files and directories) left to read, subcharts counted with their parent; MAX_DIR_ENTRIES when first spent. */
  entries?: number;
}

/**
 * Levels of vendored subcharts (`charts/<dep>/charts/<dep>/…`, directories or archives) one chart
 * may nest: real umbrella charts go three or four deep. A crafted archive of thousands of levels
 * (each with its Chart.yaml) overflowed the stack of every walk over the tree.
 */
export const MAX_SUBCHART_DEPTH = 32;

function tooDeep(where: string): FerryError {
  const shown = where.length > 300 ? `${where.slice(0, 300)}…` : where;
  return new FerryError('VALIDATION', `${shown}: vendored subcharts nest more than ${MAX_SUBCHART_DEPTH} levels deep (charts/<name>/charts/…); refusing to read on`, {
    hint: 'No real chart nests its dependencies this deep; the archive was crafted or is broken. Ask its publisher, or list the images in the manifest.',
  });
}

function spend(budget: ChartBudget, where: string): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      budget.left -= chunk.length;
      if (budget.left < 0) {
        cb(new FerryError('VALIDATION', `${where}: unpacks to more than ${MAX_CHART_BYTES} bytes; refusing it (a decompression bomb?)`, { hint: 'helm refuses charts this large too; the archive was crafted or is not a chart.' }));
        return;
      }
      cb(null, chunk);
    },
  });
}

/**
 * Stream a packaged chart (.tgz). Helm archives hold one top directory (`<name>/…`); vendored
 * subcharts are `charts/<dep>/…` directories or `charts/<dep>-<ver>.tgz` archives, which are
 * parsed by piping the entry into a nested parser.
 */
export async function loadChartStream(input: Readable, where: string, opts: LoadOptions = {}, budget: ChartBudget = { left: MAX_CHART_BYTES }, depth = 0): Promise<LoadedChart> {
  if (depth > MAX_SUBCHART_DEPTH) throw tooDeep(where);
  const root = newTree();
  const pending: Promise<unknown>[] = [];
  // The first refusal inside the parser's callback: the stream is stopped and it is thrown below.
  let refused: FerryError | undefined;
  const parser = new Parser({
    onReadEntry: (entry: ReadEntry) => {
      if (refused) return entry.resume();
      try {
        spendEntries(budget, 1, where, String(entry.path).slice(0, 200), true);
      } catch (err) {
        refused = err as FerryError;
        parser.abort(refused);
        return entry.resume();
      }
      const parts = entry.path.replace(/\\/g, '/').split('/').filter((p) => p && p !== '.');
      if (entry.type !== 'File' && entry.type !== 'OldFile') return entry.resume();
      if (parts.length < 2 || parts.includes('..')) return entry.resume();
      // Walk down charts/<dir>/ levels to the tree the file belongs to.
      let tree = root;
      let i = 1;
      let whereHere = where;
      let level = depth;
      while (parts.length - i > 2 && parts[i] === 'charts') {
        const dirName = parts[i + 1];
        whereHere = `${whereHere}/charts/${dirName}`;
        if (++level > MAX_SUBCHART_DEPTH) {
          refused = tooDeep(whereHere);
          parser.abort(refused);
          return entry.resume();
        }
        let sub = tree.dirs.get(dirName);
        if (!sub) tree.dirs.set(dirName, (sub = newTree()));
        tree = sub;
        i += 2;
      }
      const rel = parts.slice(i).join('/');
      if (/^charts\/[^/]+\.tgz$/.test(rel)) {
        const name = rel.slice('charts/'.length);
        const nested = new Readable({ read() {} });
        entry.on('data', (c: Buffer) => nested.push(c));
        entry.on('end', () => nested.push(null));
        entry.on('error', (e: unknown) => nested.destroy(e as Error));
        const chart = loadChartStream(nested, `${whereHere}/charts/${name}`, opts, budget, level + 1);
        chart.catch(() => undefined);
        tree.archives.push({ name, chart });
        pending.push(chart);
        return;
      }
      if (!wanted(rel) && !opts.allFiles) return entry.resume();
      const read = collect(entry).then((buf) => {
        if (!buf) {
          if (wanted(rel)) throw tooLarge(whereHere, rel, `more than ${MAX_TEXT} bytes`);
          return;
        }
        if (opts.allFiles) tree.raw.set(rel, buf);
        if (wanted(rel) && buf.length) tree.files.set(rel, buf.toString('utf8'));
      });
      // Handled at Promise.all(pending), once the archive is read: not an unhandled rejection meanwhile.
      read.catch(() => undefined);
      pending.push(read);
    },
  });
  try {
    await pipeline(input, createGunzip(), spend(budget, where), parser);
    if (refused) throw refused;
    await Promise.all(pending);
  } catch (err) {
    if (refused) throw refused;
    if (err instanceof FerryError) throw err;
    throw new FerryError('VALIDATION', `${where}: not a readable chart archive (${(err as Error).message})`, { cause: err, hint: 'A packaged chart is a gzip-compressed tar, as `helm package` writes it.' });
  }
  const build = async (tree: Tree, whereHere: string): Promise<LoadedChart> => {
    const metadata = parseMetadata(tree.files.get('Chart.yaml'), whereHere);
    const subcharts: LoadedChart[] = [];
    for (const [name, sub] of [...tree.dirs].sort(([a], [b]) => (a < b ? -1 : 1))) subcharts.push(await build(sub, `${whereHere}/charts/${name}`));
    for (const a of tree.archives.sort((x, y) => (x.name < y.name ? -1 : 1))) subcharts.push(await a.chart);
    return { metadata, where: whereHere, files: tree.files, subcharts, ...(opts.allFiles ? { raw: tree.raw } : {}), packaged: true };
  };
  return build(root, where);
}

export async function loadChartArchive(file: string, opts: LoadOptions = {}): Promise<LoadedChart> {
  return loadChartStream(createReadStream(file), path.basename(file), opts);
}

/**
 * What to do when a chart location is no file. `ferry charts images` and `ferry rewrite chart`
 * fetch an `oci://` chart or a URL themselves (before they look on disk); a caller that reads
 * only from disk gets here with one: the hint says which commands fetch it, as they take it, and
 * how to have it on disk.
 */
export function chartLocationHint(location: string): string {
  const onDisk = 'the carried copy `ferry import` wrote to the target\'s charts.dir (<charts.dir>/<name>-<version>.tgz)';
  if (/^oci:\/\//i.test(location)) {
    const tagged = /^(oci:\/\/[^@]*\/[^/:@]+):([^/:@]+)$/i.exec(location);
    const ref = tagged ? `${tagged[1]} --version ${tagged[2]}` : `${location} --version <version>`;
    return `a chart in a registry: \`ferry charts images ${ref}\` fetches and verifies it (and so does \`ferry rewrite chart\` given it so); where a chart on disk is needed, pull it first (\`helm pull ${ref}\`) or use ${onDisk}.`;
  }
  if (/^https?:\/\//i.test(location)) {
    return `a chart on a web server: \`ferry charts images\` and \`ferry rewrite chart\` fetch and verify it (an archive URL as it is: \`ferry charts images ${location}\`; a repository URL with --chart <name> --version <version>); where a chart on disk is needed, download the archive first (the urls of the repository's index.yaml name it) or use ${onDisk}.`;
  }
  // `host[:port]/path/chart[:version]` with no scheme, as `ferry map` prints a chart on the mirror
  // registry: the registry reference it stands for, written as the commands that fetch one take it.
  const reference = /^((?:localhost|[a-z0-9-]+(?:\.[a-z0-9-]+)+)(?::\d{1,5})?(?:\/[\w.-]+)+)(?::(\w[\w.+-]{0,127}))?$/i.exec(location);
  if (reference) {
    const version = reference[2] ?? '<version>';
    return `no such file here; if this is a chart in a registry (\`ferry map\` prints a carried chart's mirror location so), give it as oci://${reference[1]} --version ${version}: \`ferry charts images\` and \`ferry rewrite chart\` fetch and verify it. Otherwise give the path of a chart directory (holding Chart.yaml) or of a packaged .tgz.`;
  }
  return 'Give the path of a chart directory (holding Chart.yaml) or of a packaged .tgz; `ferry import` writes the carried charts to the target\'s charts.dir as <name>-<version>.tgz.';
}

/** A chart directory or a packaged .tgz. */
export async function loadChart(location: string, opts: LoadOptions = {}): Promise<LoadedChart> {
  let s;
  try {
    s = await stat(location);
  } catch (err) {
    throw new FerryError('USAGE', `${location}: no such chart directory or archive`, { cause: err, hint: chartLocationHint(location) });
  }
  return s.isDirectory() ? loadChartDir(location, undefined, opts) : loadChartArchive(location, opts);
}
