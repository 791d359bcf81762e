/**
 * Helm's `.helmignore`: its rules (helm/pkg/ignore/rules.go) over Go's `path/filepath.Match`
 * (go/src/path/filepath/match.go, Go ≥ 1.16: a pattern is checked whole even once the match has
 * failed). Only a chart *directory* is read with them (Helm's LoadDir); a packaged chart is taken
 * as its archive holds it (LoadArchive applies no rules).
 */

/** Go's filepath.ErrBadPattern. */
export class BadPatternError extends Error {
  constructor() {
    super('syntax error in pattern');
  }
}

/** Go works on a string's UTF-8 bytes: literals compare byte by byte, `?` and a class decode one rune. */
type Bytes = Uint8Array;
const SLASH = 0x2f;
const STAR = 0x2a;
const BACKSLASH = 0x5c;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const CARET = 0x5e;
const DASH = 0x2d;
const QUESTION = 0x3f;
const RUNE_ERROR = 0xfffd;

/** utf8.DecodeRune: the rune at i and its width; an invalid or short sequence is (U+FFFD, 1). */
function decodeRune(b: Bytes, i: number): [number, number] {
  const c0 = b[i];
  if (c0 < 0x80) return [c0, 1];
  const n = c0 >= 0xc2 && c0 <= 0xdf ? 2 : c0 >= 0xe0 && c0 <= 0xef ? 3 : c0 >= 0xf0 && c0 <= 0xf4 ? 4 : 0;
  if (n === 0 || i + n > b.length) return [RUNE_ERROR, 1];
  const lo = c0 === 0xe0 ? 0xa0 : c0 === 0xf0 ? 0x90 : 0x80;
  const hi = c0 === 0xed ? 0x9f : c0 === 0xf4 ? 0x8f : 0xbf;
  if (b[i + 1] < lo || b[i + 1] > hi) return [RUNE_ERROR, 1];
  let r = c0 & (n === 2 ? 0x1f : n === 3 ? 0x0f : 0x07);
  for (let k = 1; k < n; k++) {
    if (k > 1 && (b[i + k] < 0x80 || b[i + k] > 0xbf)) return [RUNE_ERROR, 1];
    r = (r << 6) | (b[i + k] & 0x3f);
  }
  return [r, n];
}

/** scanChunk: the next run of non-star terms (pattern[start, end)), after the stars before it. */
function scanChunk(p: Bytes, from: number): { star: boolean; start: number; end: number } {
  let i = from;
  let star = false;
  while (i < p.length && p[i] === STAR) {
    i++;
    star = true;
  }
  const start = i;
  let inrange = false;
  for (; i < p.length; i++) {
    const c = p[i];
    if (c === BACKSLASH) {
      if (i + 1 < p.length) i++;
    } else if (c === LBRACKET) inrange = true;
    else if (c === RBRACKET) inrange = false;
    else if (c === STAR && !inrange) break;
  }
  return { star, start, end: i };
}

/** getEsc: one (possibly escaped) character of a class; `-`, `]`, an invalid byte or the chunk's end here is a bad pattern. */
function getEsc(p: Bytes, i: number, end: number): { r: number; next: number } {
  if (i >= end || p[i] === DASH || p[i] === RBRACKET) throw new BadPatternError();
  if (p[i] === BACKSLASH) {
    i++;
    if (i >= end) throw new BadPatternError();
  }
  const [r, n] = decodeRune(p.subarray(0, end), i);
  if (r === RUNE_ERROR && n === 1) throw new BadPatternError();
  if (i + n >= end) throw new BadPatternError();
  return { r, next: i + n };
}

/** matchChunk: does p[start, end) match s from `at`? The rest's index, or -1; throws on a bad chunk (checked whole even after a failure). */
function matchChunk(p: Bytes, start: number, end: number, s: Bytes, at: number): number {
  let failed = false;
  let si = at;
  let ci = start;
  while (ci < end) {
    if (!failed && si >= s.length) failed = true;
    const c = p[ci];
    if (c === LBRACKET) {
      let r = 0;
      if (!failed) {
        const [rr, n] = decodeRune(s, si);
        r = rr;
        si += n;
      }
      ci++;
      let negated = false;
      if (ci < end && p[ci] === CARET) {
        negated = true;
        ci++;
      }
      let match = false;
      for (let nrange = 0; ; nrange++) {
        if (ci < end && p[ci] === RBRACKET && nrange > 0) {
          ci++;
          break;
        }
        const lo = getEsc(p, ci, end);
        let hi = lo;
        ci = lo.next;
        if (p[ci] === DASH) {
          hi = getEsc(p, ci + 1, end);
          ci = hi.next;
        }
        if (lo.r <= r && r <= hi.r) match = true;
      }
      if (match === negated) failed = true;
    } else if (c === QUESTION) {
      if (!failed) {
        if (s[si] === SLASH) failed = true;
        si += decodeRune(s, si)[1];
      }
      ci++;
    } else {
      if (c === BACKSLASH) {
        ci++;
        if (ci >= end) throw new BadPatternError();
      }
      if (!failed) {
        if (p[ci] !== s[si]) failed = true;
        si++;
      }
      ci++;
    }
  }
  return failed ? -1 : si;
}

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);

/**
 * Go's filepath.Match on a `/`-separated system: `*` and `?` stay within a path segment, `[…]` a
 * non-empty class negated by `^` only (`[!a]` is the class of `!` and `a`), `\` escapes (also in a
 * class), a `]` or `-` first in a class is a bad pattern. Throws BadPatternError where Go returns
 * ErrBadPattern. Linear in pattern × name (one segment's positions per star).
 */
export function goFilepathMatch(pattern: string, name: string): boolean {
  const p = utf8.encode(pattern);
  const s = utf8.encode(name);
  let ni = 0;
  let pi = 0;
  pattern: while (pi < p.length) {
    const { star, start, end } = scanChunk(p, pi);
    pi = end;
    if (star && start === end) return s.indexOf(SLASH, ni) < 0;
    const t = matchChunk(p, start, end, s, ni);
    if (t >= 0 && (t === s.length || pi < p.length)) {
      ni = t;
      continue;
    }
    if (star) {
      for (let i = ni; i < s.length && s[i] !== SLASH; i++) {
        const t2 = matchChunk(p, start, end, s, i + 1);
        if (t2 >= 0) {
          if (pi >= p.length && t2 < s.length) continue;
          ni = t2;
          continue pattern;
        }
      }
    }
    // Before answering no: the rest of the pattern must be well formed.
    while (pi < p.length) {
      const rest = scanChunk(p, pi);
      pi = rest.end;
      matchChunk(p, rest.start, rest.end, EMPTY, 0);
    }
    return false;
  }
  return ni === s.length;
}

/** Rules one .helmignore may hold, and characters one rule may have: real ones have tens of short lines. */
export const MAX_IGNORE_RULES = 1000;
export const MAX_IGNORE_RULE_CHARS = 1024;

export class HelmIgnoreError extends Error {}

interface Rule {
  negate: boolean;
  mustDir: boolean;
  /** `base`: the rule has no `/`, so only the last path element is matched. */
  base: boolean;
  pattern: string;
}

/** Go's strings.TrimSpace (unicode.IsSpace; not U+FEFF, which JavaScript's trim() takes too). */
const goTrimSpace = (s: string): string => s.replace(/^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g, '');

function parseRule(line: string, where: string): Rule | undefined {
  let rule = goTrimSpace(line);
  if (rule === '' || rule.startsWith('#')) return undefined;
  if (rule.length > MAX_IGNORE_RULE_CHARS) throw new HelmIgnoreError(`${where}: a rule of more than ${MAX_IGNORE_RULE_CHARS} characters; ferry reads no longer ones`);
  if (rule.includes('**')) throw new HelmIgnoreError(`${where}: ${JSON.stringify(rule)}: double-star (**) syntax is not supported (helm refuses the chart too)`);
  try {
    goFilepathMatch(rule, 'abc');
  } catch (e) {
    if (!(e instanceof BadPatternError)) throw e;
    throw new HelmIgnoreError(`${where}: ${JSON.stringify(rule)}: syntax error in pattern (Go's filepath.Match: a class is [^…] or […], never empty, no leading "]" or "-"; helm refuses the chart too)`);
  }
  const negate = rule.startsWith('!');
  if (negate) rule = rule.slice(1);
  const mustDir = rule.endsWith('/');
  if (mustDir) rule = rule.slice(0, -1);
  if (rule.startsWith('/')) return { negate, mustDir, base: false, pattern: rule.slice(1) };
  return { negate, mustDir, base: !rule.includes('/'), pattern: rule };
}

/** A rule's match as Helm's matcher does it: a pattern Go refuses (only a negated one gets here so) matches nothing. */
function ruleMatches(r: Rule, rel: string): boolean {
  try {
    return goFilepathMatch(r.pattern, r.base ? rel.slice(rel.lastIndexOf('/') + 1) : rel);
  } catch {
    return false;
  }
}

/**
 * A chart directory's `.helmignore` (text) followed by Helm's default `templates/.?*` when
 * `defaults`: is a path (relative to the chart, `/`-separated) ignored? Helm's order: the first
 * rule that matches ignores it; a negated rule (`!x`) ignores every path it does NOT match (and
 * every non-directory when it ends in `/`) and lets the matching ones go on to the next rule — not
 * gitignore's "re-include". Throws HelmIgnoreError where Helm refuses the file (`**`, a bad pattern).
 */
export function helmIgnore(text: string | undefined, defaults: boolean, where = '.helmignore'): (rel: string, isDir: boolean) => boolean {
  const rules: Rule[] = [];
  const lines = (text ?? '').split('\n');
  for (let n = 0; n < lines.length; n++) {
    const r = parseRule(lines[n], `${where} line ${n + 1}`);
    if (!r) continue;
    if (rules.length >= MAX_IGNORE_RULES) throw new HelmIgnoreError(`${where}: more than ${MAX_IGNORE_RULES} rules; ferry reads no more`);
    rules.push(r);
  }
  if (defaults) rules.push(parseRule('templates/.?*', where) as Rule);
  return (rel, isDir) => {
    if (rel === '' || rel === '.' || rel === './') return false;
    for (const r of rules) {
      if (r.negate) {
        if (r.mustDir && !isDir) return true;
        if (!ruleMatches(r, rel)) return true;
        continue;
      }
      if (r.mustDir && !isDir) continue;
      if (ruleMatches(r, rel)) return true;
    }
    return false;
  };
}
