import { setFlagsFromString } from 'node:v8';

/**
 * Go regular expressions (RE2: linear time, no backreferences, no lookaround) on JavaScript's
 * backtracking engine, where a crafted pattern such as `^(a+)+$` takes exponential time (two
 * minutes on 34 characters). Patterns run on V8's linear-time engine (the `l` flag) wherever it
 * takes them — it refuses what RE2 refuses too — and backreferences and lookaround are refused as
 * Go does. The linear engine knows neither `u` nor `i`: a subject with no astral characters
 * matches the same without `u`, and `(?i)` is spelled out for ASCII letters. What is left (`\p{…}`
 * classes, case folding beyond ASCII, astral subjects) runs on the backtracking engine, which V8
 * hands to the linear engine after excessive backtracking where the flags allow it.
 */
let linearEngine = false;
/**
 * The flags are set on the first Go regular expression, not when this module loads (with every
 * command): once V8's flags change, a worker thread started afterwards boots without Node's
 * startup snapshot, ~25 ms of CPU more each (measured), and bundle create, import and verify
 * start their hashing threads after load.
 */
function useLinearEngine(): void {
  if (linearEngine) return;
  linearEngine = true;
  setFlagsFromString('--enable-experimental-regexp-engine');
  setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
}

export class GoRegexError extends Error {}

export function goRegex(re: string, global = false, subject = ''): RegExp {
  useLinearEngine();
  let flags = global ? 'g' : '';
  let src = re;
  let ignoreCase = false;
  const m = /^\(\?([imsU]+)\)/.exec(src);
  if (m) {
    src = src.slice(m[0].length);
    ignoreCase = m[1].includes('i');
    if (m[1].includes('m')) flags += 'm';
    if (m[1].includes('s')) flags += 's';
  }
  src = src.replace(/\\z/g, '$').replace(/\\A/g, '^').replace(/\(\?P</g, '(?<');
  const unsupported = perlOnly(src);
  if (unsupported) throw new GoRegexError(`error parsing regexp: invalid or unsupported Perl syntax: \`${unsupported}\``);
  const ascii = !/[^\x00-\x7f]/.test(src) && !/[^\x00-\x7f]/.test(subject);
  // `(?i)` is folded letter by letter: a letter written as an escape (`\x41`) cannot be, so such a pattern takes the `i` flag below.
  if (!/[\uD800-\uDFFF]/.test(subject) && !/\\[pP]/.test(src) && (!ignoreCase || (ascii && !/\\[x0-7]/.test(src)))) {
    try {
      return new RegExp(ignoreCase ? foldAscii(src) : src, `${flags}l`);
    } catch {
      /* a construct the linear engine does not take: the backtracking engine below */
    }
  }
  if (ignoreCase) flags += 'i';
  try {
    return new RegExp(src, `${flags}u`);
  } catch {
    return new RegExp(src, flags);
  }
}

/** The first backreference or lookaround in `src` (RE2 has neither), or undefined. */
function perlOnly(src: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    if (src[i] === '\\') {
      const next = src[i + 1] ?? '';
      // Go reads `\NNN` (a digit 1-7 then another octal digit) as an octal character code; a
      // lone `\1`-`\9` would be a backreference, and `\k<name>` a named one.
      if (next === 'k' || (/[1-9]/.test(next) && !(/[1-7]/.test(next) && /[0-7]/.test(src[i + 2] ?? '')))) return src.slice(i, i + 2);
      i++;
    } else if (inClass) {
      if (src[i] === ']') inClass = false;
    } else if (src[i] === '[') {
      inClass = true;
      // `[]…]` and `[^]…]`: a `]` first is a member, not the end.
      if (src[i + 1] === '^') i++;
      if (src[i + 1] === ']') i++;
    } else if (src[i] === '(' && src[i + 1] === '?') {
      const look = /^\(\?<?[=!]/.exec(src.slice(i));
      if (look) return look[0];
    }
  }
  return undefined;
}

const swap = (c: string) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase());
const isLetter = (c: string) => /^[A-Za-z]$/.test(c);

/** `(?i)` for ASCII: every letter `x` becomes `[xX]`, and classes gain the other case of their letters. */
function foldAscii(src: string): string {
  let out = '';
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      out += src.slice(i, i + 2);
      i++;
    } else if (c === '(' && src.startsWith('(?<', i)) {
      const close = src.indexOf('>', i);
      out += src.slice(i, close + 1);
      i = close;
    } else if (c === '[') {
      const { text, end } = foldClass(src, i);
      out += text;
      i = end;
    } else out += isLetter(c) ? `[${c}${swap(c)}]` : c;
  }
  return out;
}

function foldClass(src: string, start: number): { text: string; end: number } {
  let i = start + 1;
  if (src[i] === '^') i++;
  if (src[i] === ']') i++;
  const extra: string[] = [];
  while (i < src.length && src[i] !== ']') {
    if (src[i] === '\\') {
      i += 2;
      continue;
    }
    const lo = src[i];
    if (src[i + 1] === '-' && src[i + 2] !== undefined && src[i + 2] !== ']' && src[i + 2] !== '\\') {
      const hi = src[i + 2];
      for (const [a, z] of [['A', 'Z'], ['a', 'z']]) {
        const from = lo > a ? lo : a;
        const to = hi < z ? hi : z;
        if (from <= to) extra.push(`${swap(from)}-${swap(to)}`);
      }
      i += 3;
      continue;
    }
    if (isLetter(lo)) extra.push(swap(lo));
    i++;
  }
  if (i >= src.length) return { text: src.slice(start), end: src.length - 1 };
  return { text: src.slice(start, i) + extra.join('') + ']', end: i };
}
