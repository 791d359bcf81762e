/**
 * Everything ferry prints may carry bytes from outside (a bundle's annotations, a registry's
 * error body, a manifest). Control characters are escaped once, at the printing boundary, so a
 * crafted name cannot move the cursor, clear the screen or retitle the terminal.
 */
// C0 controls except \n and \t, DEL, C1 controls, the Unicode bidi overrides/isolates, and the
// directional marks (LRM, RLM, ALM: invisible, they reorder the neutral characters around them).
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
// Also the line/paragraph separators: a YAML 1.1 reader (PyYAML, go-yaml) and JavaScript end a
// line at U+2028/U+2029 (and at NEL, U+0085, a C1 control), so a one-line field keeps none.
// eslint-disable-next-line no-control-regex
const UNSAFE_LINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/g;

function escapeChar(c: string): string {
  const code = c.codePointAt(0)!;
  if (c === '\r') return '\\r';
  if (c === '\n') return '\\n';
  if (c === '\t') return '\\t';
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** Escape control characters; newlines and tabs are kept (multi-line messages stay readable). */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/** Escape control characters including newlines and tabs: for one-line fields (names, log lines). */
export function escapeLine(text: string): string {
  return text.replace(UNSAFE_LINE, escapeChar);
}

// What JSON.stringify leaves raw but a terminal acts on: DEL, C1 controls (0x9b is CSI), bidi
// overrides/isolates and directional marks, and the line/paragraph separators.
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;

/**
 * JSON text (from JSON.stringify, which escapes C0 controls itself) with the remaining
 * terminal-active characters written as \uXXXX escapes: the same data for a JSON parser.
 */
export function escapeJson(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * `text` without the trailing characters in `chars` (`trimTrailing(url, '/')`): a loop, since
 * `/\/+$/` and its kin backtrack quadratically on a long run that does not reach the end.
 */
export function trimTrailing(text: string, chars: string): string {
  let end = text.length;
  while (end > 0 && chars.includes(text[end - 1])) end--;
  return end === text.length ? text : text.slice(0, end);
}

/** `text` without the leading and trailing characters in `chars` (for `/^[-.]+|[-.]+$/g`). */
export function trimBoth(text: string, chars: string): string {
  let start = 0;
  while (start < text.length && chars.includes(text[start])) start++;
  return trimTrailing(text.slice(start), chars);
}

/**
 * Where the last line of `text` starts: after its last `\n`, `\r`, U+2028 or U+2029 (0 when there
 * is none). A regex's `.` stops at those and `$` (no `m` flag) is the end of the text, so what
 * `/X.*$/` can match lies in `text.slice(lastLineStart(text))`: looking there replaces a pattern
 * that rescans to the end from each `X` (quadratic on a long run of them).
 */
export function lastLineStart(text: string): number {
  return Math.max(text.lastIndexOf('\n'), text.lastIndexOf('\r'), text.lastIndexOf('\u2028'), text.lastIndexOf('\u2029')) + 1;
}

/** `text.replace(/X.*$/, '')` for a one-character `X` (`#` of a comment), without its quadratic rescans. */
export function cutLastLineFrom(text: string, mark: string): string {
  const at = text.indexOf(mark, lastLineStart(text));
  return at < 0 ? text : text.slice(0, at);
}
