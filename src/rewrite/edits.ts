import path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { FerryError, unreadableFile } from '../errors.js';
import { replaceFilesAtomic, writeFileAtomic } from '../store/temp-files.js';
import { readRegularFile } from '../store/verified-write.js';
import { escapeLine } from '../ui/escape.js';
import { clip } from '../mapping/mirror-tree.js';

/**
 * Rewrites record their edits first and apply them at the end (the Turborepo codemod model):
 * `--dry-run` is the same run with the diff printed instead of the files written, and a failed
 * check (unmapped references) leaves every file untouched.
 */
export type ReplacementKind = 'image' | 'digest' | 'registry' | 'custom-resource-image' | 'file-url' | 'apt-repo' | 'signed-by' | 'chart-repo';

export interface Replacement {
  file: string;
  line: number;
  kind: ReplacementKind;
  old: string;
  new: string;
  /** Where in the document (values key path, manifest kind/name/container), when known. */
  where?: string;
  /** The key written at `line` when the value is not the file's own (a key added to an object's inline values: `old` is the chart's default): named in the text report. */
  key?: string;
}

export interface Unmapped {
  file: string;
  line: number;
  kind: 'image' | 'file-url' | 'apt-repo' | 'chart-repo';
  ref: string;
  reason: string;
  where?: string;
}

export interface TextEdit {
  start: number;
  end: number;
  text: string;
}

export interface FileChange {
  file: string;
  before: string;
  after: string;
}

export interface RewriteResult {
  replacements: Replacement[];
  unmapped: Unmapped[];
  /** Files written (or that would be written with --dry-run), sorted. */
  files: string[];
  dryRun: boolean;
  /** Unified diff of every change (always computed; printed with --dry-run). */
  diff: string;
  /** Files not changed because they already point at the mirror, or have nothing to rewrite. */
  unchanged: string[];
  warnings: string[];
}

/** Apply non-overlapping edits to a text. */
export function applyTextEdits(text: string, edits: TextEdit[]): string {
  const sorted = [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
  let out = '';
  let pos = 0;
  for (const e of sorted) {
    if (e.start < pos) throw new FerryError('INTERNAL', `overlapping rewrite edits at offset ${e.start}`);
    out += text.slice(pos, e.start) + e.text;
    pos = e.end;
  }
  return out + text.slice(pos);
}

/** 1-based line of an offset. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Offset → 1-based line, for many lookups in one text. */
export function lineIndex(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return (offset: number) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

export function unifiedDiff(changes: FileChange[], cwd = process.cwd()): string {
  return changes
    .filter((c) => c.before !== c.after)
    .map((c) => {
      const rel = path.relative(cwd, c.file) || c.file;
      const patch = createTwoFilesPatch(c.before === '' ? '/dev/null' : `a/${rel}`, `b/${rel}`, c.before, c.after, undefined, undefined, { context: 3 });
      // jsdiff starts with an "Index:"/"====" header only for createPatch; keep the git-style header lines.
      return patch.replace(/^={3,}\n/m, '');
    })
    .join('');
}

/** The largest file a rewrite reads (values, manifests, catalogues, APT sources). */
export const MAX_REWRITE_BYTES = 64 * 1024 * 1024;

/**
 * A file to rewrite, as text: a regular file (a FIFO or device is refused, never waited on) of at
 * most MAX_REWRITE_BYTES, in valid UTF-8 — a byte that is not would come back as U+FFFD and be
 * written over the original, so such a file is refused instead (the error names its line).
 */
export async function readText(file: string, what: string): Promise<string> {
  const buf = await readRegularFile(file, MAX_REWRITE_BYTES, { follow: true });
  if (!Buffer.isBuffer(buf)) {
    if (buf.why === 'unreadable') throw unreadableFile(file, what, buf.err);
    if (buf.why === 'directory') throw unreadableFile(file, what, 'EISDIR');
    if (buf.why === 'too-large') {
      throw new FerryError('USAGE', `${file}: cannot read ${what}: ${buf.reason}, more than the ${MAX_REWRITE_BYTES / 1024 / 1024} MiB a file to rewrite may have`, {
        hint: 'Split the file, or check that it is the file you meant.',
      });
    }
    throw new FerryError('USAGE', `${file}: cannot read ${what}: ${buf.reason}`, { hint: `Pass the ${what} itself, a regular file.` });
  }
  try {
    // ignoreBOM keeps a byte order mark in the text, so it is written back as it was.
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf);
  } catch {
    throw new FerryError('VALIDATION', `${file}: ${what} is not valid UTF-8 (line ${firstInvalidLine(buf)}); it was left as it is`, {
      hint: 'Convert it to UTF-8 first (iconv -f <its encoding> -t UTF-8); ferry does not rewrite a file whose bytes it cannot keep.',
    });
  }
}

/** 1-based line of the first bytes that are not UTF-8 (a line at a time: linear). */
function firstInvalidLine(buf: Buffer): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let line = 1;
  for (let start = 0; start < buf.length; line++) {
    const nl = buf.indexOf(10, start);
    const end = nl < 0 ? buf.length : nl;
    try {
      decoder.decode(buf.subarray(start, end));
    } catch {
      return line;
    }
    start = end + 1;
  }
  return line;
}

/** A file about to be written (an -o output), for the diff: '' when there is none yet; a FIFO or device is refused, never waited on. */
export async function readTextIfExists(file: string): Promise<string> {
  const buf = await readRegularFile(file, MAX_REWRITE_BYTES, { follow: true });
  if (Buffer.isBuffer(buf)) return buf.toString('utf8');
  if (buf.why === 'unreadable' && (buf.err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return '';
  if (buf.why === 'unreadable') throw unreadableFile(file, 'output file', buf.err);
  throw new FerryError('USAGE', `${file}: cannot write there: ${buf.why === 'too-large' ? `it holds ${buf.reason}` : buf.reason}`, { hint: 'Write to a new regular file.' });
}

/** Write through a temporary name so a reader never sees half a file (the one atomic writer). */
export const writeAtomic = writeFileAtomic;

export function sortReplacements<T extends { file: string; line: number }>(list: T[]): T[] {
  return [...list].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
}

/**
 * Finish a rewrite: refuse when references are not covered (unless allowed), otherwise write
 * every changed file (unless dry-run) and return the report.
 */
export async function finishRewrite(
  changes: FileChange[],
  replacements: Replacement[],
  unmapped: Unmapped[],
  opts: { dryRun?: boolean; allowUnmapped?: boolean; warnings?: string[] },
): Promise<RewriteResult> {
  const sortedUnmapped = sortReplacements(unmapped);
  if (sortedUnmapped.length && !opts.allowUnmapped) {
    throw new FerryError('CONFLICT', `${sortedUnmapped.length} reference${sortedUnmapped.length === 1 ? '' : 's'} not covered by the mirror; nothing was written`, {
      details: sortedUnmapped.map((u) => escapeLine(`${u.file}:${u.line}  ${clip(u.ref)}  (${u.reason}${u.where ? `; ${u.where}` : ''})`)),
      hint: 'Add them to the manifest and lock/bundle/import again, or pass --allow-unmapped to rewrite the rest and leave these as they are.',
    });
  }
  const changed = changes.filter((c) => c.before !== c.after).sort((a, b) => (a.file < b.file ? -1 : 1));
  // All or none: every file is checked (a regular file, writable, unchanged since it was read) before any is replaced.
  if (!opts.dryRun) await replaceFilesAtomic(changed.map((c) => ({ file: c.file, expected: c.before, data: c.after })));
  // The diff is made when it is read (--dry-run, --json): on a big rendered install it cost more
  // than the rewrite itself (jsdiff's line diff, 2.5 s of 6.5 s on 2 MB), for a report that prints none.
  let diff: string | undefined;
  return {
    replacements: sortReplacements(replacements),
    unmapped: sortedUnmapped,
    files: changed.map((c) => c.file),
    unchanged: changes.filter((c) => c.before === c.after).map((c) => c.file).sort(),
    dryRun: Boolean(opts.dryRun),
    get diff() {
      return (diff ??= unifiedDiff(changed));
    },
    warnings: opts.warnings ?? [],
  };
}

/** The human report: `file:line  old → new`, then the unmapped ones and a summary. */
/**
 * The human report of a rewrite. `output`: the command wrote a new file (-o: an override, or a
 * rewritten copy) and left its inputs alone — the last line says what was written, not "changed".
 */
export function formatRewriteReport(r: RewriteResult, opts: { cwd?: string; overrideOnStdout?: boolean; output?: { kind: 'override' | 'copy'; file: string; inputs: string[] } } = {}): string {
  const cwd = opts.cwd ?? process.cwd();
  const rel = (f: string) => (path.isAbsolute(f) ? path.relative(cwd, f) || f : f);
  const lines: string[] = [];
  if (r.dryRun && r.diff) lines.push(r.diff.trimEnd(), '');
  // One line each: a value from a crafted file (a newline in a tag) cannot start a line of its own.
  // A key the override sets that had no value (`global.imageRegistry` a template reads first) is named, not an empty column.
  for (const x of r.replacements) {
    const old = x.key ? `${x.key}: ${x.old === '' ? '(not set)' : x.old}` : x.old === '' ? `${x.where ? `${x.where} ` : ''}(not set)` : x.old;
    lines.push(escapeLine(`${rel(x.file)}:${x.line}  ${old} → ${x.new}${x.kind === 'custom-resource-image' ? '  (custom resource)' : ''}`));
  }
  // A reference from the file is shown cut short (a 5 MiB URI on one sources line was printed whole); --json keeps it whole.
  for (const u of r.unmapped) lines.push(escapeLine(`${rel(u.file)}:${u.line}  ${clip(u.ref)}  not mirrored: ${u.reason} (left as is)`));
  const n = r.replacements.length;
  const verb = r.dryRun ? 'would change' : 'changed';
  const out = opts.output;
  const written = out && `${out.kind === 'override' ? 'the override ' : ''}${rel(path.resolve(cwd, out.file))}`;
  const where = opts.overrideOnStdout
    ? 'in the override printed on stdout'
    : out
      ? `${r.files.length ? `${r.dryRun ? 'would write' : 'wrote'} ${written}` : `${written} is already up to date`} (${out.inputs.map(rel).join(', ')} left unchanged)`
      : `${verb} ${r.files.length} file${r.files.length === 1 ? '' : 's'}`;
  lines.push(`${n} replacement${n === 1 ? '' : 's'}; ${where}${r.unmapped.length ? `; ${r.unmapped.length} unmapped` : ''}`);
  return lines.join('\n');
}
