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
    process.stdout.write(escapeJson(JSON.stringify(data, null, 2)) + '\n');
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
