import { Composer, isMap, isScalar, isSeq, parse, parseAllDocuments, Parser, Scalar, type Document, type Node, type Pair } from 'yaml';
import { FerryError, withoutStackTraces } from '../errors.js';
import { checkConfigYamlDensity } from '../manifest/input-file.js';
import type { TextEdit } from './edits.js';
import { helmReads } from '../kinds/chart/values.js';

/**
 * In-place YAML edits at the byte level: a changed scalar is re-written in its own quoting
 * style and nothing else in the file moves, so comments, order, indentation and quoting of
 * every untouched line stay byte for byte.
 */

export function parseYamlDocuments(text: string, file: string): Document.Parsed[] {
  checkConfigYamlDensity(text, file, 'YAML file');
  const docs = withoutStackTraces(() => parseAllDocuments(text, { uniqueKeys: false, keepSourceTokens: false }));
  const list = Array.isArray(docs) ? docs : [docs];
  const errors = list.flatMap((d) => d.errors);
  if (errors.length) {
    throw new FerryError('VALIDATION', `${file}: not valid YAML`, {
      details: errors.map((e) => `line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`),
      hint: /\{\{/.test(text)
        ? 'This looks like a Helm template; render it first (`helm template`) or rewrite the chart with `ferry rewrite chart`.'
        : helmReads(text) !== undefined
          ? "Helm's YAML reader (go-yaml) reads this file, but it is not YAML 1.2, which ferry edits in place: fix the lines named (a flow list's items indented deeper than its key), or give it to `ferry rewrite chart <chart> -f <file>`, which reads values as Helm does."
          : 'Fix the YAML first.',
    });
  }
  return list as Document.Parsed[];
}

function plainIsSafe(value: string): boolean {
  if (!value || /^[\s\-?:,[\]{}#&*!|>'"%@`]/.test(value) || /\s$/.test(value)) return false;
  if (/: |\s#|[\n\t]/.test(value) || value.endsWith(':')) return false;
  try {
    return parse(value) === value;
  } catch {
    return false;
  }
}

/** Render a string as a YAML scalar in the style of `like` (plain, single or double quoted). */
export function renderScalar(value: string, like?: Scalar['type']): string {
  if (like === Scalar.QUOTE_SINGLE) return `'${value.replace(/'/g, "''")}'`;
  if (like === Scalar.QUOTE_DOUBLE || !plainIsSafe(value)) return JSON.stringify(value);
  return value;
}

/** The edit that replaces a scalar node's source with a new string value, in its own style. */
export function scalarEdit(node: Scalar, value: string, text?: string): TextEdit {
  if (!node.range) throw new FerryError('INTERNAL', 'YAML scalar without a source range');
  let [start, end] = node.range;
  if (start === end && text !== undefined) {
    // An empty value (`registry:` or `registry:   # comment`): write right after the colon so a
    // trailing comment keeps its separating spaces.
    while (start > 0 && (text[start - 1] === ' ' || text[start - 1] === '\t')) start--;
    return { start, end: start, text: ' ' + renderScalar(value) };
  }
  const block = node.type === Scalar.BLOCK_FOLDED || node.type === Scalar.BLOCK_LITERAL;
  if (block && text !== undefined) {
    // A block scalar's range ends after its last line break (and the blank lines it keeps): those
    // stay, or the next key would be written onto the quoted value's line (`"…"networking: …`).
    while (end > start && /[ \t\r\n]/.test(text[end - 1])) end--;
  }
  return { start, end, text: renderScalar(value, block ? Scalar.QUOTE_DOUBLE : node.type) };
}

export { scalarText } from '../manifest/input-file.js';

export type YamlPath = Array<string | number>;

export function pairKey(pair: Pair): string | undefined {
  return isScalar(pair.key) ? String(pair.key.value) : undefined;
}

/** A YAML merge key's pair (`<<: *base`): a plain `<<`, read with or without `merge`. */
export function isMergePair(pair: Pair): boolean {
  const k = pair.key;
  if (!isScalar(k)) return false;
  return typeof k.value === 'symbol' ? k.value.description === '<<' : k.value === '<<' && (!k.type || k.type === Scalar.PLAIN);
}

export function mapGet(node: unknown, key: string): Node | undefined {
  if (!isMap(node)) return undefined;
  for (const pair of node.items) if (pairKey(pair) === key) return (pair.value ?? undefined) as Node | undefined;
  return undefined;
}

export function hasKey(node: unknown, key: string): boolean {
  return isMap(node) && node.items.some((p) => pairKey(p) === key);
}

/** Visit every map and sequence item with its path; `visit` returns false to skip children. */
export function walk(node: unknown, visit: (node: Node, path: YamlPath, parentKey: string | number | undefined) => boolean | void, path: YamlPath = []): void {
  if (!node || typeof node !== 'object') return;
  const n = node as Node;
  const key = path.length ? path[path.length - 1] : undefined;
  if (visit(n, path, key) === false) return;
  if (isMap(n)) {
    for (const pair of n.items) {
      const k = pairKey(pair);
      if (k !== undefined) walk(pair.value, visit, [...path, k]);
    }
  } else if (isSeq(n)) {
    n.items.forEach((item, i) => walk(item, visit, [...path, i]));
  }
}

export function formatPath(path: YamlPath): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z_][\w-]*$/.test(p) ? (i ? `.${p}` : p) : `[${JSON.stringify(p)}]`)).join('');
}

/**
 * The YAML documents a string holds, or undefined when it is not YAML (a parse error in any).
 * `merge`: a plain `<<` key is a YAML merge key, as the Go readers of Kubernetes objects and Helm
 * values read it (its pair's key is then the merge symbol, see isMergePair).
 */
export function tryParseYamlDocuments(text: string, opts: { merge?: boolean } = {}): Document.Parsed[] | undefined {
  try {
    const docs = withoutStackTraces(() => parseAllDocuments(text, { uniqueKeys: false, keepSourceTokens: false, merge: opts.merge ?? false }));
    const list = (Array.isArray(docs) ? docs : [docs]) as Document.Parsed[];
    return list.some((d) => d.errors.length) ? undefined : list;
  } catch {
    return undefined;
  }
}

/**
 * The one document of `text` that a parse of the whole text placed at `start`..`end` (its
 * `range[0]` and `range[2]`), read alone, its nodes' ranges offsets in `text` as that parse gives
 * them: an edit inside one document of a big file is read back at the cost of that document.
 * Undefined when the slice is not one document without errors. A text with directives (`%YAML`,
 * `%TAG`, which apply to the document after them) is not read this way: the caller parses it whole.
 */
export function tryParseYamlDocumentAt(text: string, start: number, end: number, opts: { merge?: boolean } = {}): Document.Parsed | undefined {
  try {
    const parser = new Parser();
    parser.offset = start;
    const composer = new Composer({ uniqueKeys: false, keepSourceTokens: false, merge: opts.merge ?? false });
    const docs = withoutStackTraces(() => [...composer.compose(parser.parse(text.slice(start, end)))]);
    return docs.length === 1 && !docs[0].errors.length ? (docs[0] as Document.Parsed) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a YAML text has a directive line (`%YAML 1.1`, `%TAG …`). */
export function hasYamlDirectives(text: string): boolean {
  return text.startsWith('%') || text.includes('\n%');
}

/**
 * A string scalar's value as text of its own (YAML a ConfigMap carries), with the way back to
 * the file: `toFile` maps an offset in the value to the offset of the same character in the
 * file. Only a block literal (`|`: value line k is file line header+1+k, after the block
 * indentation) and a single-line quoted scalar (escapes counted) map back; a folded (`>`),
 * plain or multi-line quoted scalar does not, and `reason` says so.
 */
export interface CarriedText {
  value: string;
  style: 'literal' | 'single' | 'double';
  toFile(offset: number): number;
}

export function carriedText(node: Scalar, text: string): CarriedText | { reason: string } {
  const value = node.value;
  if (typeof value !== 'string' || !node.range) return { reason: 'not a string' };
  const [start, end] = node.range;
  if (node.type === Scalar.BLOCK_LITERAL) {
    const headerEnd = text.indexOf('\n', start);
    if (headerEnd < 0) return { reason: 'a block scalar without content' };
    const lines = value.split('\n');
    const k = lines.findIndex((l) => l.trim() !== '');
    if (k < 0) return { reason: 'an empty block scalar' };
    const lineStarts: number[] = [headerEnd + 1];
    for (let i = 0; i < lines.length; i++) {
      const nl = text.indexOf('\n', lineStarts[i]);
      lineStarts.push(nl < 0 || nl >= end ? end : nl + 1);
    }
    const fileLine = text.slice(lineStarts[k], lineStarts[k + 1]);
    const indent = /^ */.exec(fileLine)![0].length - /^ */.exec(lines[k])![0].length;
    if (indent < 0) return { reason: 'a block scalar whose indentation ferry cannot follow' };
    const valueLineStarts = [0];
    for (const l of lines) valueLineStarts.push(valueLineStarts[valueLineStarts.length - 1] + l.length + 1);
    return {
      value,
      style: 'literal',
      toFile(offset) {
        let line = 0;
        while (line + 1 < lines.length && valueLineStarts[line + 1] <= offset) line++;
        return lineStarts[line] + indent + (offset - valueLineStarts[line]);
      },
    };
  }
  if (node.type !== Scalar.QUOTE_SINGLE && node.type !== Scalar.QUOTE_DOUBLE) return { reason: node.type === Scalar.BLOCK_FOLDED ? 'a folded (>) block scalar' : 'a plain scalar' };
  const raw = text.slice(start + 1, end - 1);
  if (text[start] !== text[end - 1] || /[\r\n]/.test(raw)) return { reason: 'a quoted scalar over several lines' };
  // offsets[i]: where value character i starts in the file.
  const offsets: number[] = [];
  const double = node.type === Scalar.QUOTE_DOUBLE;
  for (let i = 0; i < raw.length; ) {
    let len = 1;
    let produced = 1;
    if (!double && raw[i] === "'" && raw[i + 1] === "'") len = 2;
    else if (double && raw[i] === '\\') {
      const c = raw[i + 1];
      len = c === 'x' ? 4 : c === 'u' ? 6 : c === 'U' ? 10 : 2;
      if (c === 'U' && parseInt(raw.slice(i + 2, i + 10), 16) > 0xffff) produced = 2;
    } else if (raw.codePointAt(i)! > 0xffff) len = produced = 2;
    for (let p = 0; p < produced; p++) offsets.push(start + 1 + i + (len === produced ? p : 0));
    i += len;
  }
  offsets.push(end - 1);
  if (offsets.length !== value.length + 1) return { reason: 'a quoted scalar whose escapes ferry cannot follow' };
  return { value, style: double ? 'double' : 'single', toFile: (offset) => offsets[offset] };
}

/**
 * An edit of a carried text as an edit of the file, or undefined when it cannot be made in place:
 * narrowed to the characters that change, it must cover the same characters in the file as in
 * the value (no escape, no line break inside it), and its new text must need no escaping there.
 */
export function carriedEdit(edit: TextEdit, carried: CarriedText, text: string): TextEdit | undefined {
  const old = carried.value.slice(edit.start, edit.end);
  let p = 0;
  while (p < old.length && p < edit.text.length && old[p] === edit.text[p]) p++;
  let q = 0;
  while (q < old.length - p && q < edit.text.length - p && old[old.length - 1 - q] === edit.text[edit.text.length - 1 - q]) q++;
  const from = edit.start + p;
  const to = edit.end - q;
  const insert = edit.text.slice(p, edit.text.length - q);
  if (/[\r\n]/.test(insert) || /[\r\n]/.test(carried.value.slice(from, to))) return undefined;
  if (carried.style === 'double' && /["\\\x00-\x1f\x7f]/.test(insert)) return undefined;
  if (carried.style === 'single' && /'/.test(insert)) return undefined;
  const start = carried.toFile(from);
  const end = from === to ? start : carried.toFile(to - 1) + 1;
  if (text.slice(start, end) !== carried.value.slice(from, to)) return undefined;
  // At the start of a literal's line a leading space would change the block's indentation.
  if (carried.style === 'literal' && /^\s/.test(insert) && (from === 0 || carried.value[from - 1] === '\n')) return undefined;
  // An insertion (nothing replaced) must land where the value's character is (not past a line end).
  if (from === to && from < carried.value.length && text[start] !== carried.value[from]) return undefined;
  return { start, end, text: insert };
}
