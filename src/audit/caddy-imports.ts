/**
 * Caddy's `import` (caddyserver.com/docs/caddyfile/directives/import, concepts#snippets): `import
 * <pattern> [args…]` pastes a snippet defined as `(name) { … }` at the top of a Caddyfile, or the
 * files a path or glob names (relative to the importing file's directory), in place of the line;
 * `{args[0]}`, `{args[1:]}` (and the older `{args.0}`) in what is pasted are the import's
 * arguments. Snippets defined in an imported file are known to the files joined with it. The
 * lines holding an argument placeholder are read again, filled in, at the import line; a snippet
 * line without one is the finding of its own line already. Bounded: snippets, lines, arguments.
 */

/** At most this many snippets are kept for one file, this many lines each, this many import lines a file, this many arguments each. */
export const MAX_CADDY_SNIPPETS = 256;
const MAX_SNIPPET_LINES = 512;
const MAX_CADDY_IMPORTS = 256;
const MAX_IMPORT_ARGS = 32;
/** At most this many characters of pasted lines are read again for one file (each import may paste hundreds of long lines). */
export const MAX_PASTED_CHARS = 1024 * 1024;
/** An argument longer than this is not filled in (a real one is a host, a port, a path). */
const MAX_ARG = 1024;

/** A line of a snippet or file that uses the import's arguments. */
export interface ArgLine {
  line: number;
  text: string;
}

/** A snippet `(name) { … }`: where it is and its lines holding an argument placeholder. */
export interface CaddySnippet {
  file: string;
  line: number;
  argLines: ArgLine[];
}

/** One `import` line: its pattern and arguments. */
export interface CaddyImport {
  line: number;
  pattern: string;
  args: string[];
  /** Inside a snippet's definition: pasted where the snippet is imported, not at its own line. */
  inSnippet?: boolean;
}

/** What one Caddyfile defines and imports. */
export interface CaddyFacts {
  snippets: Map<string, CaddySnippet>;
  imports: CaddyImport[];
  /** The lines outside snippets that use the arguments of an import pasting this whole file. */
  argLines: ArgLine[];
}

const ARG_PLACEHOLDER = /\{args(?:\[(\d+)?(:)?(\d+)?\]|\.(\d+))\}/;

/** The tokens of one Caddyfile line, quotes removed (`"a b"` one token), stopping at a `#` comment. */
function caddyTokens(raw: string): string[] {
  const out: string[] = [];
  let word = '';
  let quote = false;
  let quoted = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (quote) {
      if (c === '\\' && raw[i + 1] === '"') word += raw[++i];
      else if (c === '"') quote = false;
      else word += c;
    } else if (c === '"') quote = quoted = true;
    else if (c === '#' && !word) break;
    else if (/\s/.test(c)) {
      if (word || quoted) out.push(word);
      word = '';
      quoted = false;
    } else word += c;
  }
  if (word || quoted) out.push(word);
  return out;
}

/** A Caddyfile's snippets, imports and argument lines; undefined when it has none of them. */
export function caddyFactsOf(text: string, file: string): CaddyFacts | undefined {
  if (!text.includes('import') && !text.includes('{args')) return undefined;
  const snippets = new Map<string, CaddySnippet>();
  const imports: CaddyImport[] = [];
  const argLines: ArgLine[] = [];
  let depth = 0;
  let open: CaddySnippet | undefined;
  let openDepth = 0;
  text.split('\n').forEach((raw, i) => {
    const tokens = caddyTokens(raw);
    if (!tokens.length) return;
    const n = i + 1;
    const snippet = depth === 0 && /^\([^()\s]{1,256}\)$/.test(tokens[0]) && tokens[tokens.length - 1] === '{' ? tokens[0].slice(1, -1) : undefined;
    if (snippet !== undefined) {
      open = { file, line: n, argLines: [] };
      if (!snippets.has(snippet) && snippets.size < MAX_CADDY_SNIPPETS) snippets.set(snippet, open);
      openDepth = depth;
    } else if (ARG_PLACEHOLDER.test(raw)) {
      const list = open ? open.argLines : argLines;
      if (list.length < MAX_SNIPPET_LINES) list.push({ line: n, text: raw });
    }
    if (tokens[0] === 'import' && tokens.length > 1 && imports.length < MAX_CADDY_IMPORTS) imports.push({ line: n, pattern: tokens[1], args: tokens.slice(2, 2 + MAX_IMPORT_ARGS), ...(open ? { inSnippet: true } : {}) });
    for (const t of tokens) {
      if (t === '{') depth++;
      else if (t === '}' && depth > 0) {
        depth--;
        if (open && depth === openDepth) open = undefined;
      }
    }
  });
  if (!snippets.size && !imports.length && !argLines.length) return undefined;
  return { snippets, imports, argLines };
}

/**
 * A line with its argument placeholders filled in from `args`, as Caddy replaces them; undefined
 * when a placeholder names an argument the import does not give (Caddy refuses that file) or the
 * line would grow past the bound.
 */
export function fillArgs(raw: string, args: readonly string[]): string | undefined {
  let bad = false;
  const re = new RegExp(ARG_PLACEHOLDER.source, 'g');
  const line = raw.replace(re, (_w, from: string | undefined, colon: string | undefined, to: string | undefined, dot: string | undefined) => {
    if (dot !== undefined || (from !== undefined && colon === undefined)) {
      const a = args[Number(dot ?? from)];
      if (a === undefined || a.length > MAX_ARG) bad = true;
      return a ?? '';
    }
    const part = args.slice(from === undefined ? 0 : Number(from), to === undefined ? undefined : Number(to));
    if (part.some((a) => a.length > MAX_ARG)) bad = true;
    return part.join(' ');
  });
  return bad || line.length > 64 * 1024 ? undefined : line;
}

/** Snippets pasting snippets are followed this deep (each level may paste a snippet twice: 2^8 pastes at most, under the pasted-characters budget). */
const MAX_IMPORT_NESTING = 8;

/**
 * How an import line pastes lines that use its arguments: each line filled in, with where it is, in
 * words. A pasted line that imports a snippet in turn (`import inner {args[0]}`) pastes that
 * snippet with its arguments filled in, as Caddy expands it, at most MAX_IMPORT_NESTING deep; a
 * snippet importing itself, directly or through others, is a cycle Caddy refuses: not followed.
 */
export function importedArgLines(imp: CaddyImport, snippets: ReadonlyMap<string, CaddySnippet>, files: ReadonlyArray<{ file: string; argLines: readonly ArgLine[] }>, budget: { left: number }, chain: readonly string[] = []): Array<{ line: string; from: string }> {
  const out: Array<{ line: string; from: string }> = [];
  const snippet = snippets.get(imp.pattern);
  const sources = snippet ? [{ what: `snippet (${imp.pattern}) at ${snippet.file}:${snippet.line}`, file: snippet.file, argLines: snippet.argLines }] : files.map((f) => ({ what: `file ${f.file}`, file: f.file, argLines: f.argLines }));
  for (const s of sources)
    for (const l of s.argLines) {
      if (budget.left <= 0) return out;
      const filled = fillArgs(l.text, imp.args);
      if (filled === undefined || out.length >= MAX_SNIPPET_LINES) continue;
      budget.left -= filled.length;
      const from = `${s.what}, line ${s.file}:${l.line} ${l.text.trim().slice(0, 120)}`;
      const tokens = caddyTokens(filled);
      if (tokens[0] === 'import' && tokens.length > 1 && snippets.has(tokens[1])) {
        // An import is no destination itself: what it pastes is (a cycle or nesting past the bound: nothing).
        const inner = tokens[1];
        if (inner === imp.pattern || chain.includes(inner) || chain.length + 1 >= MAX_IMPORT_NESTING) continue;
        const nested = importedArgLines({ line: imp.line, pattern: inner, args: tokens.slice(2, 2 + MAX_IMPORT_ARGS) }, snippets, [], budget, [...chain, imp.pattern]);
        for (const x of nested) if (out.length < MAX_SNIPPET_LINES) out.push({ line: x.line, from: `${x.from}, pasted by ${from}` });
        continue;
      }
      out.push({ line: filled, from });
    }
  return out;
}
