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
  /** What was left out past a bound (snippets, lines, imports), at its line: said in the audit's notes. */
  cut: Array<{ line: number; reason: string }>;
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
  const cut: CaddyFacts['cut'] = [];
  const said = new Set<string>();
  const stop = (line: number, what: string, reason: string) => {
    if (said.has(what)) return;
    said.add(what);
    cut.push({ line, reason });
  };
  text.split('\n').forEach((raw, i) => {
    const tokens = caddyTokens(raw);
    if (!tokens.length) return;
    const n = i + 1;
    const snippet = depth === 0 && /^\([^()\s]{1,256}\)$/.test(tokens[0]) && tokens[tokens.length - 1] === '{' ? tokens[0].slice(1, -1) : undefined;
    if (snippet !== undefined) {
      open = { file, line: n, argLines: [] };
      if (!snippets.has(snippet) && snippets.size < MAX_CADDY_SNIPPETS) snippets.set(snippet, open);
      else if (!snippets.has(snippet)) stop(n, 'snippets', `Caddy snippet (${snippet.slice(0, 120)}): more than ${MAX_CADDY_SNIPPETS} snippets in this file, this one and those after it not read (an import of them pastes nothing here: what they name is unknown)`);
      openDepth = depth;
    } else if (ARG_PLACEHOLDER.test(raw)) {
      const list = open ? open.argLines : argLines;
      if (list.length < MAX_SNIPPET_LINES) list.push({ line: n, text: raw });
      else stop(n, `lines ${open ? open.line : 0}`, `Caddy ${open ? `snippet at line ${open.line}` : 'file'}: more than ${MAX_SNIPPET_LINES} lines using the import's arguments, this one and those after it not pasted (what they name is unknown)`);
    }
    if (tokens[0] === 'import' && tokens.length > 1) {
      if (imports.length < MAX_CADDY_IMPORTS) imports.push({ line: n, pattern: tokens[1], args: tokens.slice(2, 2 + MAX_IMPORT_ARGS), ...(open ? { inSnippet: true } : {}) });
      else stop(n, 'imports', `Caddy import ${tokens[1].slice(0, 120)}: more than ${MAX_CADDY_IMPORTS} import lines in this file, this one and those after it not followed (what they paste is unknown)`);
      if (tokens.length > 2 + MAX_IMPORT_ARGS) stop(n, `args ${n}`, `Caddy import ${tokens[1].slice(0, 120)}: more than ${MAX_IMPORT_ARGS} arguments, those past them not filled in`);
    }
    for (const t of tokens) {
      if (t === '{') depth++;
      else if (t === '}' && depth > 0) {
        depth--;
        if (open && depth === openDepth) open = undefined;
      }
    }
  });
  if (!snippets.size && !imports.length && !argLines.length) return undefined;
  return { snippets, imports, argLines, cut };
}

/**
 * A line with its argument placeholders filled in from `args`, as Caddy replaces them; undefined
 * when a placeholder names an argument the import does not give (Caddy refuses that file) or the
 * line would grow past the bound.
 */
export function fillArgs(raw: string, args: readonly string[]): string | undefined {
  const got = fillArgsWhy(raw, args);
  return typeof got === 'string' ? got : undefined;
}

/** fillArgs, or why the line is not filled in (Caddy's refusal, or a bound). */
function fillArgsWhy(raw: string, args: readonly string[]): string | { why: string } {
  let bad = false;
  let long = false;
  // The line's length as it is filled in, counted before each piece is made: a line of a thousand
  // `{args[:]}` with 32 arguments would be tens of MB built only to be refused.
  let length = raw.length;
  const re = new RegExp(ARG_PLACEHOLDER.source, 'g');
  const line = raw.replace(re, (w: string, from: string | undefined, colon: string | undefined, to: string | undefined, dot: string | undefined) => {
    if (long) return '';
    const part = dot !== undefined || (from !== undefined && colon === undefined) ? [args[Number(dot ?? from)]] : args.slice(from === undefined ? 0 : Number(from), to === undefined ? undefined : Number(to));
    if (part[0] === undefined && part.length === 1) {
      bad = true;
      return '';
    }
    length += part.reduce((n, a) => n + a!.length + 1, -1) - w.length;
    if (part.some((a) => a!.length > MAX_ARG) || length > MAX_FILLED) {
      long = true;
      return '';
    }
    return part.join(' ');
  });
  if (bad) return { why: 'names an argument the import does not give (Caddy refuses it)' };
  if (long || line.length > MAX_FILLED) return { why: `filled in, an argument longer than ${MAX_ARG} characters or a line longer than ${MAX_FILLED}: not read` };
  return line;
}

/** A line filled in is at most this long. */
const MAX_FILLED = 64 * 1024;

/** Snippets pasting snippets are followed this deep (each level may paste a snippet twice: 2^8 pastes at most, under the pasted-characters budget). */
const MAX_IMPORT_NESTING = 8;

/** The characters left to paste for one file, and where what the reader stops on is said (a cycle, a bound). */
export interface PasteBudget {
  left: number;
  stop?: (reason: string) => void;
  /** The budget's end was said (once a file). */
  spent?: boolean;
}

/**
 * How an import line pastes lines that use its arguments: each line filled in, with where it is, in
 * words. A pasted line that imports a snippet in turn (`import inner {args[0]}`) pastes that
 * snippet with its arguments filled in, as Caddy expands it, at most MAX_IMPORT_NESTING deep; a
 * snippet importing itself, directly or through others, is a cycle Caddy refuses: not followed.
 * Each thing not followed (a cycle, the nesting, the budget, the lines) is told to `budget.stop`.
 */
export function importedArgLines(imp: CaddyImport, snippets: ReadonlyMap<string, CaddySnippet>, files: ReadonlyArray<{ file: string; argLines: readonly ArgLine[] }>, budget: PasteBudget, chain: readonly string[] = []): Array<{ line: string; from: string }> {
  const out: Array<{ line: string; from: string }> = [];
  const snippet = snippets.get(imp.pattern);
  const sources = snippet ? [{ what: `snippet (${imp.pattern}) at ${snippet.file}:${snippet.line}`, file: snippet.file, argLines: snippet.argLines }] : files.map((f) => ({ what: `file ${f.file}`, file: f.file, argLines: f.argLines }));
  const said = `import ${imp.pattern.slice(0, 120)}${chain.length ? ` (pasted by ${chain.map((c) => c.slice(0, 60)).join(' → ')})` : ''}`;
  for (const s of sources)
    for (const l of s.argLines) {
      if (budget.left <= 0) {
        if (!budget.spent) budget.stop?.(`${said}: more than ${MAX_PASTED_CHARS} characters of pasted lines read for this file: the ${s.what} line ${s.file}:${l.line} and the lines after it are not read (what they name is unknown here)`);
        budget.spent = true;
        return out;
      }
      if (out.length >= MAX_SNIPPET_LINES) {
        budget.stop?.(`${said}: more than ${MAX_SNIPPET_LINES} pasted lines, the ${s.what} line ${s.file}:${l.line} and those after it not read (what they name is unknown here)`);
        return out;
      }
      const filled = fillArgsWhy(l.text, imp.args);
      if (typeof filled !== 'string') {
        // A line refused is read all the same: it spends the budget as a filled one does (256 imports of a snippet of long refused lines were gigabytes read).
        budget.left -= l.text.length;
        budget.stop?.(`${said}: the ${s.what} line ${s.file}:${l.line} ${filled.why}`);
        continue;
      }
      budget.left -= filled.length;
      const from = `${s.what}, line ${s.file}:${l.line} ${l.text.trim().slice(0, 120)}`;
      const tokens = caddyTokens(filled);
      if (tokens[0] === 'import' && tokens.length > 1 && snippets.has(tokens[1])) {
        // An import is no destination itself: what it pastes is (a cycle or nesting past the bound: nothing, said).
        const inner = tokens[1];
        if (inner === imp.pattern || chain.includes(inner)) {
          budget.stop?.(`${said}: the ${s.what} line ${s.file}:${l.line} imports snippet (${inner.slice(0, 120)}) again while it is being pasted (${[...chain, imp.pattern, inner].map((c) => c.slice(0, 60)).join(' → ')}): an import cycle Caddy refuses, not followed`);
          continue;
        }
        if (chain.length + 1 >= MAX_IMPORT_NESTING) {
          budget.stop?.(`${said}: the ${s.what} line ${s.file}:${l.line} imports snippet (${inner.slice(0, 120)}) nested more than ${MAX_IMPORT_NESTING} deep: not followed (what it names is unknown here)`);
          continue;
        }
        const nested = importedArgLines({ line: imp.line, pattern: inner, args: tokens.slice(2, 2 + MAX_IMPORT_ARGS) }, snippets, [], budget, [...chain, imp.pattern]);
        for (const x of nested) if (out.length < MAX_SNIPPET_LINES) out.push({ line: x.line, from: `${x.from}, pasted by ${from}` });
        continue;
      }
      out.push({ line: filled, from });
    }
  return out;
}
