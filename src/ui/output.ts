import { escapeControls, escapeJson } from './escape.js';

/**
 * The only place that writes to stdout/stderr. Commands return data; the CLI layer passes it
 * here with a human renderer; `--json` prints the data itself.
 */
export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
}

export function printResult<T>(data: T, opts: OutputOptions, human: (d: T) => string): void {
  if (opts.json) {
    // In pieces: `audit --json` of a big tree is a report of tens of MB, which as one string,
    // its escaped copy and its UTF-8 copy added ~150 MB to the command's peak (measured: 327 →
    // 476 MB RSS on a 91 MB chart monorepo). Writes to files and pipes are synchronous on Linux.
    writeJson(data, (text) => process.stdout.write(escapeJson(text)));
    process.stdout.write('\n');
    return;
  }
  // Results carry names from outside (annotations, registry answers, file names): escaped here, once.
  const text = escapeControls(human(data));
  if (text) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

/** Ready-made JSON text (an SBOM): terminal-active characters become JSON escapes, so it still parses. */
export function printJsonText(text: string): void {
  process.stdout.write(escapeJson(text.endsWith('\n') ? text : text + '\n'));
}

export const useColor = (): boolean => !process.env.NO_COLOR && Boolean(process.stderr.isTTY) && process.env.TERM !== 'dumb';

export function note(message: string): void {
  process.stderr.write(escapeControls(message) + '\n');
}

/** Columns of the terminal stdout is, or undefined off a TTY (pipes, files, CI logs). */
export function terminalWidth(): number | undefined {
  return process.stdout.isTTY && process.stdout.columns > 0 ? process.stdout.columns : undefined;
}

/** Narrowest a shrunk column gets: its header, and at least this many characters. */
const MIN_COLUMN = 10;

/** `text` in at most `width` characters: the middle gives way to an ellipsis, so a reference keeps its registry and its tag. */
export function ellipsize(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width <= 1) return '…'.slice(0, width);
  const head = Math.ceil((width - 1) / 2);
  return `${text.slice(0, head)}…${text.slice(text.length - (width - 1 - head))}`;
}

/**
 * Fixed-width table; deterministic. With `width` (default: the terminal's columns on a TTY),
 * the widest columns give way until every line fits, their cells shortened with an ellipsis.
 * Off a TTY there is no width: scripts, files and diffs see every character (and --json
 * never goes through here).
 */
export function table(headers: string[], rows: string[][], opts: { width?: number } = {}): string {
  const natural = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const width = opts.width ?? terminalWidth();
  const widths = width ? fitColumns(natural, headers, width) : natural;
  const line = (cells: string[]) =>
    cells
      .map((c, i) => ellipsize(c, widths[i]))
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Shrink the widest column, one character at a time, until the table fits `total` (or no column can give). */
function fitColumns(natural: number[], headers: string[], total: number): number[] {
  const widths = [...natural];
  const min = natural.map((w, i) => Math.min(w, Math.max(headers[i].length, MIN_COLUMN)));
  let excess = widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1) - total;
  while (excess > 0) {
    let widest = -1;
    for (let i = 0; i < widths.length; i++) if (widths[i] > min[i] && (widest < 0 || widths[i] > widths[widest])) widest = i;
    if (widest < 0) break;
    widths[widest]--;
    excess--;
  }
  return widths;
}

/** Containers this shallow are written entry by entry; deeper ones whole (one JSON.stringify), unless large. */
const WALK_DEPTH = 2;
/** A deeper container with at least this many entries is written entry by entry too. */
const WALK_ENTRIES = 256;

/**
 * Which containers are stringified whole. `shallow` (a report): below WALK_DEPTH, unless it has
 * WALK_ENTRIES entries or more. `leaves` (a lock, whose 60 000 packages sit four levels down in one
 * repository of a few keys): only a container holding no container, so no piece is ever larger than
 * one leaf's text.
 */
export type JsonWalk = 'shallow' | 'leaves';

/**
 * `JSON.stringify(value, null, 2)`, the same text, in pieces of about `batch` characters: the
 * containers `walk` says are walked entry by entry, the rest stringified whole. Follows
 * JSON.stringify's rules: `toJSON(key)` first; in an object, a key whose value is undefined, a
 * function or a symbol is left out; in an array such a value is `null`; an empty container is
 * `[]` / `{}`. A generator: a caller that writes each piece as it comes holds one piece at a time.
 */
export function* jsonChunks(value: unknown, batch = 1 << 20, walkRule: JsonWalk = 'shallow'): Generator<string> {
  let parts: string[] = [];
  let size = 0;
  const whole = (v: object, keys: string[], depth: number) =>
    walkRule === 'shallow' ? depth >= WALK_DEPTH && keys.length < WALK_ENTRIES : keys.every((k) => { const x = (v as Record<string, unknown>)[k]; return x === null || typeof x !== 'object'; });
  function* walk(v: unknown, indent: string, depth: number): Generator<string> {
    if (v === null || typeof v !== 'object') return yield JSON.stringify(v) ?? 'null';
    const isArray = Array.isArray(v);
    const keys = isArray ? Array.from({ length: v.length }, (_, i) => String(i)) : Object.keys(v);
    // Strings in JSON text never hold a raw newline: every line break is the indentation's.
    if (whole(v, keys, depth)) return yield JSON.stringify(v, null, 2).replaceAll('\n', `\n${indent}`);
    const inner = `${indent}  `;
    let first = true;
    for (const k of keys) {
      const x = toJsonValue((v as Record<string, unknown>)[k], k);
      const skipped = x === undefined || typeof x === 'function' || typeof x === 'symbol';
      if (skipped && !isArray) continue;
      yield `${first ? (isArray ? '[' : '{') : ','}\n${inner}${isArray ? '' : `${JSON.stringify(k)}: `}`;
      first = false;
      if (skipped) yield 'null';
      else yield* walk(x, inner, depth + 1);
    }
    yield first ? (isArray ? '[]' : '{}') : `\n${indent}${isArray ? ']' : '}'}`;
  }
  for (const text of walk(toJsonValue(value, ''), '', 0)) {
    parts.push(text);
    size += text.length;
    if (size < batch) continue;
    yield parts.join('');
    parts = [];
    size = 0;
  }
  if (parts.length) yield parts.join('');
}

/** jsonChunks handed to `write` piece by piece. */
export function writeJson(value: unknown, write: (text: string) => void, batch = 1 << 20): void {
  for (const text of jsonChunks(value, batch)) write(text);
}

/** What JSON.stringify writes for `value` under `key`: its toJSON(key) when it has one. */
function toJsonValue(value: unknown, key: string): unknown {
  const toJSON = value !== null && typeof value === 'object' ? (value as { toJSON?: unknown }).toJSON : undefined;
  return typeof toJSON === 'function' ? (toJSON as (k: string) => unknown).call(value, key) : value;
}
