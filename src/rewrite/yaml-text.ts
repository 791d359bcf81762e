import { isMap, isScalar, isSeq, parse, parseAllDocuments, Scalar, type Document, type Node, type Pair } from 'yaml';
import { FerryError } from '../errors.js';
import type { TextEdit } from './edits.js';

/**
 * In-place YAML edits at the byte level: a changed scalar is re-written in its own quoting
 * style and nothing else in the file moves, so comments, order, indentation and quoting of
 * every untouched line stay byte for byte.
 */

export function parseYamlDocuments(text: string, file: string): Document.Parsed[] {
  const docs = parseAllDocuments(text, { uniqueKeys: false, keepSourceTokens: false });
  const list = Array.isArray(docs) ? docs : [docs];
  const errors = list.flatMap((d) => d.errors);
  if (errors.length) {
    throw new FerryError('VALIDATION', `${file}: not valid YAML`, {
      details: errors.map((e) => `line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`),
      hint: /\{\{/.test(text) ? 'This looks like a Helm template; render it first (`helm template`) or rewrite the chart with `ferry rewrite chart`.' : 'Fix the YAML first.',
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
  return { start, end, text: renderScalar(value, node.type === Scalar.BLOCK_FOLDED || node.type === Scalar.BLOCK_LITERAL ? Scalar.QUOTE_DOUBLE : node.type) };
}

/** A scalar's string value (numbers keep their source text: tag 1.10 stays "1.10"). */
export function scalarText(node: unknown): string | undefined {
  if (!isScalar(node)) return undefined;
  const v = node.value;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return node.source ?? String(v);
  return undefined;
}

export type YamlPath = Array<string | number>;

export function pairKey(pair: Pair): string | undefined {
  return isScalar(pair.key) ? String(pair.key.value) : undefined;
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
