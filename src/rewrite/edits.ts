import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { FerryError, unreadableFile } from '../errors.js';
import { writeFileAtomic } from '../store/temp-files.js';

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

export async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw unreadableFile(file, what, err);
  }
}

export async function readTextIfExists(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
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
      details: sortedUnmapped.map((u) => `${u.file}:${u.line}  ${u.ref}  (${u.reason}${u.where ? `; ${u.where}` : ''})`),
      hint: 'Add them to the manifest and lock/bundle/import again, or pass --allow-unmapped to rewrite the rest and leave these as they are.',
    });
  }
  const changed = changes.filter((c) => c.before !== c.after).sort((a, b) => (a.file < b.file ? -1 : 1));
  if (!opts.dryRun) for (const c of changed) await writeAtomic(c.file, c.after);
  return {
    replacements: sortReplacements(replacements),
    unmapped: sortedUnmapped,
    files: changed.map((c) => c.file),
    unchanged: changes.filter((c) => c.before === c.after).map((c) => c.file).sort(),
    dryRun: Boolean(opts.dryRun),
    diff: unifiedDiff(changed),
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
  for (const x of r.replacements) lines.push(`${rel(x.file)}:${x.line}  ${x.old} → ${x.new}${x.kind === 'custom-resource-image' ? '  (custom resource)' : ''}`);
  for (const u of r.unmapped) lines.push(`${rel(u.file)}:${u.line}  ${u.ref}  not mirrored: ${u.reason} (left as is)`);
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
