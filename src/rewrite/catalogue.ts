import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parseAllDocuments } from 'yaml';
import { FerryError } from '../errors.js';
import { checkConfigYamlDensity } from '../manifest/input-file.js';
import { trimEndChars } from '../audit/scan.js';
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

/** The longest escaped URL located in its JSON string (its pattern grows with it). */
const MAX_ESCAPED_URL = 8192;

/** A JSON string literal, escapes included. */
const JSON_STRING_RE = /"(?:[^"\\\n]|\\.)*"/g;

/**
 * The forms `text` can take inside a JSON string: each character as itself or `\uXXXX` (hex in
 * either case), a slash also as `\/`.
 */
function escapedForm(text: string): RegExp {
  const unit = (c: string) => {
    const hex = c.charCodeAt(0).toString(16).padStart(4, '0').replace(/[a-f]/g, (h) => `[${h}${h.toUpperCase()}]`);
    const alts = [c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'), `\\\\u${hex}`];
    if (c === '/') alts.push('\\\\/');
    return `(?:${alts.join('|')})`;
  };
  return new RegExp(text.split('').map(unit).join(''), 'g');
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
      const errs = parseAllDocuments(text).flatMap((d) => ('errors' in d ? d.errors : []));
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
  const mattersHere = (url: string) => {
    const mirror = ctx.lookupFileUrl(url);
    if (mirror) return mirror !== 'mirror';
    try {
      return ctx.fileOrigins.has(new URL(url).origin);
    } catch {
      return false;
    }
  };
  const urlsIn = (s: string) => [...s.matchAll(URL_RE)].map((m) => ({ url: trimEndChars(m[0], '.,;:!?'), at: m.index! }));
  if (format === 'json') {
    // Each string as JSON reads it: a URL written with escapes (`https:\/\/host\/x`, as PHP's
    // json_encode writes every slash) is the same URL. A string without escapes is edited at the
    // URL; one with escapes is written again whole, in the same style (`\/` kept).
    for (const lit of text.matchAll(JSON_STRING_RE)) {
      const raw = lit[0];
      const at = lit.index!;
      if (!raw.includes('\\')) {
        for (const { url, at: i } of urlsIn(raw)) consider(url, at + i, (mirror) => edits.push({ start: at + i, end: at + i + url.length, text: mirror }));
        continue;
      }
      const value = JSON.parse(raw) as string;
      const seen = new Set<string>();
      for (const { url } of urlsIn(value)) {
        if (seen.has(url)) continue;
        seen.add(url);
        // Located in the written form only when it matters (carried, or at a mirrored origin): the
        // pattern grows with the URL, and a crafted catalogue's URL can be megabytes long.
        if (!mattersHere(url)) continue;
        if (url.length > MAX_ESCAPED_URL) {
          unmapped.push({ file: abs, line: lineOf(at), kind: 'file-url', ref: `${url.slice(0, 200)}…`, reason: `an escaped URL of ${url.length} characters (more than ${MAX_ESCAPED_URL}) is not located` });
          continue;
        }
        // Where the URL stands in the string as written, escapes and all: only those bytes change.
        for (const m of raw.matchAll(escapedForm(url))) {
          const start = at + m.index!;
          consider(url, start, (mirror) => edits.push({ start, end: start + m[0].length, text: jsonEscapedLike(mirror, m[0]) }));
        }
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
