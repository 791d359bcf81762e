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
  for (const m of text.matchAll(URL_RE)) {
    const url = trimEndChars(m[0], '.,;:!?');
    const start = m.index!;
    const mirror = ctx.lookupFileUrl(url);
    if (mirror === 'mirror') continue;
    const line = lineOf(start);
    if (!mirror) {
      let origin: string | undefined;
      try {
        origin = new URL(url).origin;
      } catch {
        continue;
      }
      if (ctx.fileOrigins.has(origin)) unmapped.push({ file: abs, line, kind: 'file-url', ref: url, reason: 'not in the lock, though its origin is mirrored' });
      continue;
    }
    // JSON may carry the URL escaped; the mirror URL needs the same escaping to stay valid.
    const replacement = format === 'json' ? JSON.stringify(mirror).slice(1, -1) : mirror;
    edits.push({ start, end: start + url.length, text: replacement });
    replacements.push({ file: abs, line, kind: 'file-url', old: url, new: mirror });
  }
  const after = applyTextEdits(text, edits);
  checkParses(after, format, `${abs} (rewritten)`);
  const out = opts.output ? path.resolve(opts.output) : abs;
  const changes: FileChange[] = [{ file: out, before: out === abs ? text : await readTextIfExists(out), after }];
  return finishRewrite(changes, replacements, unmapped, opts);
}
