import { trimTrailing } from '../ui/escape.js';
/**
 * A Compose `.env` file read as compose-go's dotenv parser reads it (compose-spec/compose-go
 * dotenv/parser.go): `[export] NAME=value` or `NAME: value`; `#` starts a comment line; an unquoted
 * value runs to the end of the line, cut at ` #` (an inline comment) and trimmed at its end; a
 * value in `'…'` is taken as written, one in `"…"` has `\n`/`\r` and `\"` unescaped, and either may
 * run over several lines; a later assignment of a name wins. `${VAR}`s in unquoted and
 * double-quoted values are expanded by Compose: `raw` keeps them.
 */
export interface ComposeEnvEntry {
  name: string;
  /** 1-based line of the name. */
  line: number;
  /** The value as Compose reads it (quotes removed, escapes of double quotes undone; `${…}` not expanded). */
  value: string;
  /** The value's text in the file: [start, end) (inside the quotes). */
  start: number;
  end: number;
  quote: '' | '"' | "'";
}

/** compose-go's key characters: letters, digits, `_ . - [ ]`. */
const KEY = /^[\p{L}\p{N}_.\-[\]]+$/u;
/** compose-go's isSpace: blanks but no line break. */
const BLANK = /[\t\v\f\r \u0085\u00a0]/;

export function composeEnvEntries(text: string): ComposeEnvEntry[] {
  const out: ComposeEnvEntry[] = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  const skipBlanks = () => {
    while (i < n && BLANK.test(text[i])) i++;
  };
  while (i < n) {
    // A statement starts at the next non-space character; a `#` there comments out its line.
    while (i < n && /\s/.test(text[i])) {
      if (text[i] === '\n') line++;
      i++;
    }
    if (i >= n) break;
    const eol = text.indexOf('\n', i) < 0 ? n : text.indexOf('\n', i);
    if (text[i] === '#') {
      i = eol;
      continue;
    }
    if (text.startsWith('export', i) && BLANK.test(text[i + 6] ?? '')) {
      i += 6;
      skipBlanks();
    }
    const sep = /[=:\n]/.exec(text.slice(i, eol + 1));
    // Trimmed in linear time (a `[…]+$` regex retries from every blank of a long run: quadratic).
    const key = sep ? trimTrailing(text.slice(i, i + sep.index), '\t\v\f\r \u0085\u00a0') : '';
    // `NAME` alone is inherited from the shell; a line that is no assignment is skipped (compose-go refuses the file).
    if (!sep || sep[0] === '\n' || !KEY.test(key)) {
      i = eol;
      continue;
    }
    const nameLine = line;
    i += sep.index + 1;
    skipBlanks();
    const q = text[i];
    if (q === '"' || q === "'") {
      let close = -1;
      for (let j = i + 1; j < n; j++) {
        if (text[j] === q && text[j - 1] !== '\\') {
          close = j;
          break;
        }
      }
      if (close < 0) break;
      const inner = text.slice(i + 1, close);
      const value = q === '"' ? inner.replace(/\\([nr"\\])/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c)) : inner;
      out.push({ name: key, line: nameLine, value, start: i + 1, end: close, quote: q });
      for (const c of inner) if (c === '\n') line++;
      i = close + 1;
      // The rest of the closing quote's line (a comment) is no statement.
      const rest = text.indexOf('\n', i);
      i = rest < 0 ? n : rest;
      continue;
    }
    const end = eol;
    let raw = text.slice(i, end);
    const comment = raw.indexOf(' #');
    if (comment >= 0) raw = raw.slice(0, comment);
    raw = raw.trimEnd();
    out.push({ name: key, line: nameLine, value: raw, start: i, end: i + raw.length, quote: '' });
    i = end;
  }
  return out;
}
