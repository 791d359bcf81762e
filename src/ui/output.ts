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

export const useColor = (): boolean => !process.env.NO_COLOR && Boolean(process.stderr.isTTY) && process.env.TERM !== 'dumb';

export function note(message: string): void {
  process.stderr.write(escapeControls(message) + '\n');
}

/** Fixed-width table; deterministic. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
