import path from 'node:path';
import { parseHostileDocuments } from '../manifest/yaml-input.js';
import { parse as parseToml } from 'smol-toml';
import { FerryError, withoutStackTraces } from '../errors.js';
import { checkConfigYamlDensity } from '../manifest/input-file.js';
import { trimTrailing } from '../ui/escape.js';
import type { RewriteContext } from './context.js';
import { applyTextEdits, finishRewrite, lineIndex, readText, readTextIfExists, type FileChange, type Replacement, type RewriteResult, type TextEdit, type Unmapped } from './edits.js';

export type CatalogueFormat = 'json' | 'yaml' | 'toml' | 'text';

export interface RewriteCatalogueOptions {
  format?: CatalogueFormat;
  /** Write here instead of in place. */
  output?: string;
  dryRun?: boolean;
  allowUnmapped?: boolean;
}

// A URL ends at whitespace, a quote, or a closing bracket; trailing sentence punctuation is not part of it.
const URL_RE = /https?:\/\/[^\s"'<>`\\)\]}]+/g;

/** A JSON string literal, escapes included. */
const JSON_STRING_RE = /"(?:[^"\\\n]|\\.)*"/g;

/**
 * A JSON string literal (quotes included) read as JSON reads it, with where each UTF-16 unit of
 * the value starts in the literal as written: every escape (`\/`, `\n`, `\uXXXX`) is one unit,
 * so `at[i]` … `at[j]` is the written form of `value.slice(i, j)`, escapes and all (`at[length]`
 * is the closing quote). One linear pass, whatever the length.
 */
function decodeJsonString(raw: string): { value: string; at: number[] } {
  const value = JSON.parse(raw) as string;
  const at: number[] = [];
  for (let i = 1; i < raw.length - 1; ) {
    at.push(i);
    i += raw[i] !== '\\' ? 1 : raw[i + 1] === 'u' ? 6 : 2;
  }
  at.push(raw.length - 1);
  return { value, at };
}

/** `value` escaped for the inside of a JSON string, with `\/` for every slash when `like` had one. */
function jsonEscapedLike(value: string, like: string): string {
  const out = JSON.stringify(value).slice(1, -1);
  return like.includes('\\/') ? out.replace(/\//g, '\\/') : out;
}

export function formatOf(file: string, explicit?: string): CatalogueFormat {
  if (explicit) {
    if (!['json', 'yaml', 'toml', 'text'].includes(explicit)) throw new FerryError('USAGE', `--format ${explicit}: choose json, yaml, toml or text`);
    return explicit as CatalogueFormat;
  }
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  if (ext === '.toml') return 'toml';
  return 'text';
}

function checkParses(text: string, format: CatalogueFormat, what: string): void {
  if (format === 'yaml') checkConfigYamlDensity(text, what, 'catalogue');
  try {
    if (format === 'json') JSON.parse(text);
    else if (format === 'toml') parseToml(text);
    else if (format === 'yaml') {
      const errs = withoutStackTraces(() => parseHostileDocuments(text, { duplicates: 'refuse' })).flatMap((d) => ('errors' in d ? d.errors : []));
      if (errs.length) throw errs[0];
    }
  } catch (err) {
    throw new FerryError('VALIDATION', `${what}: not valid ${format.toUpperCase()}: ${(err as Error).message.split('\n')[0]}`, {
      hint: 'Pass --format text to treat it as plain text, or fix the file.',
    });
  }
}

/**
 * Replace every URL of a mirrored file with its mirror URL. Only URLs are touched, byte for byte
 * in place, so checksums, signatures and formatting next to them stay exactly as they were.
 * A URL at a mirrored origin that the lock does not pin is reported as unmapped.
 */
export async function rewriteCatalogue(file: string, ctx: RewriteContext, opts: RewriteCatalogueOptions): Promise<RewriteResult> {
  if (!ctx.target.files) throw new FerryError('USAGE', `${ctx.targetFile}: the target has no files: {dir, baseUrl}; there is no mirror to point the catalogue at`);
  const abs = path.resolve(file);
  const text = await readText(abs, 'catalogue');
  const format = formatOf(abs, opts.format);
  checkParses(text, format, abs);
  const lineOf = lineIndex(text);
  const edits: TextEdit[] = [];
  const replacements: Replacement[] = [];
  const unmapped: Unmapped[] = [];
  /** One URL found at `start` (in the text as written); `edit` replaces it with the mirror URL. */
  const consider = (url: string, start: number, edit: (mirror: string) => void) => {
    const mirror = ctx.lookupFileUrl(url);
    if (mirror === 'mirror') return;
    const line = lineOf(start);
    if (!mirror) {
      let origin: string | undefined;
      try {
        origin = new URL(url).origin;
      } catch {
        return;
      }
      if (ctx.fileOrigins.has(origin)) unmapped.push({ file: abs, line, kind: 'file-url', ref: url, reason: 'not in the lock, though its origin is mirrored' });
      return;
    }
    edit(mirror);
    replacements.push({ file: abs, line, kind: 'file-url', old: url, new: mirror });
  };
  const urlsIn = (s: string) => [...s.matchAll(URL_RE)].map((m) => ({ url: trimTrailing(m[0], '.,;:!?'), at: m.index! }));
  if (format === 'json') {
    // Each string as JSON reads it: a URL written with escapes (`https:\/\/host\/x`, as PHP's
    // json_encode writes every slash) is the same URL. A string without escapes is edited at the
    // URL; in one with escapes, the URL's written form is replaced in the same style (`\/` kept).
    for (const lit of text.matchAll(JSON_STRING_RE)) {
      const raw = lit[0];
      const base = lit.index!;
      if (!raw.includes('\\')) {
        for (const { url, at: i } of urlsIn(raw)) consider(url, base + i, (mirror) => edits.push({ start: base + i, end: base + i + url.length, text: mirror }));
        continue;
      }
      // Where each URL of the value stands in the string as written: only those bytes change.
      const { value, at } = decodeJsonString(raw);
      for (const { url, at: i } of urlsIn(value)) {
        const start = base + at[i];
        const end = base + at[i + url.length];
        consider(url, start, (mirror) => edits.push({ start, end, text: jsonEscapedLike(mirror, text.slice(start, end)) }));
      }
    }
  } else {
    for (const { url, at } of urlsIn(text)) consider(url, at, (mirror) => edits.push({ start: at, end: at + url.length, text: mirror }));
  }
  const after = applyTextEdits(text, edits);
  checkParses(after, format, `${abs} (rewritten)`);
  const out = opts.output ? path.resolve(opts.output) : abs;
  const changes: FileChange[] = [{ file: out, before: out === abs ? text : await readTextIfExists(out), after }];
  return finishRewrite(changes, replacements, unmapped, opts);
}
