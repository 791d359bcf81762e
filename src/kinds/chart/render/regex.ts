import { setFlagsFromString } from 'node:v8';

/**
 * Go regular expressions (RE2: linear time, no backreferences, no lookaround) on JavaScript's
 * backtracking engine, where a crafted pattern such as `^(a+)+$` takes exponential time (two
 * minutes on 34 characters). Patterns run on V8's linear-time engine (the `l` flag) wherever it
 * takes them — it refuses what RE2 refuses too — and backreferences and lookaround are refused as
 * Go does. The linear engine knows neither `u` nor `i` nor modifier groups, so the pattern is
 * translated from RE2's syntax into one it takes (`translate` below): `(?flags)` and
 * `(?flags:…)` apply to their group as in Go (`(?i)include$|(?i)exclude$`, `a(?i)b`, `(?-i)`),
 * letters under `i` are spelled out with every case Go folds them to, `.` is Go's (anything but
 * `\n`, or anything under `s`), `\s` is Go's `[\t\n\f\r ]`, and `\Q…\E`, `[[:alpha:]]`, `\pL`,
 * `\x{…}`, octal and `\a` escapes are written the JavaScript way. What is left (`\p{…}` classes,
 * `m` on part of a pattern, astral subjects) runs on the backtracking engine, which V8 hands to the
 * linear engine after excessive backtracking where the flags allow it.
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

const syntaxError = (what: string, text: string): GoRegexError => new GoRegexError(`error parsing regexp: ${what}: \`${text}\``);

interface Scope {
  i: boolean;
  m: boolean;
  s: boolean;
  U: boolean;
}

interface Translated {
  source: string;
  /** Uses JavaScript modifier groups (`(?i:…)`, `(?m:…)`): the backtracking engine only. */
  modifiers: boolean;
  /** Needs the `u` flag (`\p{…}`, a code point past U+FFFF). */
  unicode: boolean;
  /** `^`/`$` met under `m`, and met without it (`\A`, `\z` count as without). */
  anchorsM: number;
  anchorsPlain: number;
}

/** Go's `\s`: `[\t\n\f\r ]` (no `\v`, no Unicode spaces, unlike JavaScript's). */
const SPACE: Array<[number, number]> = [[9, 10], [12, 13], [32, 32]];
const POSIX: Record<string, Array<[number, number]>> = {
  alnum: [[48, 57], [65, 90], [97, 122]],
  alpha: [[65, 90], [97, 122]],
  ascii: [[0, 127]],
  blank: [[9, 9], [32, 32]],
  cntrl: [[0, 31], [127, 127]],
  digit: [[48, 57]],
  graph: [[33, 126]],
  lower: [[97, 122]],
  print: [[32, 126]],
  punct: [[33, 47], [58, 64], [91, 96], [123, 126]],
  space: [[9, 13], [32, 32]],
  upper: [[65, 90]],
  word: [[48, 57], [65, 90], [95, 95], [97, 122]],
  xdigit: [[48, 57], [65, 70], [97, 102]],
};
/** Go's Unicode general categories (`\pL`, `\p{Lu}`); any other name is a script. */
const CATEGORIES = new Set('C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs Any'.split(' '));
const SCRIPT_NAME = /^[A-Z][A-Za-z_]*$/;

function complement(ranges: Array<[number, number]>, max: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let next = 0;
  for (const [lo, hi] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (lo > next) out.push([next, lo - 1]);
    next = Math.max(next, hi + 1);
  }
  if (next <= max) out.push([next, max]);
  return out;
}

/**
 * A code point written for a JavaScript pattern, or inside a class (`inClass`), escaped where it
 * could mean syntax (and only there: with the `u` flag, `\-` outside a class is an error).
 */
function lit(cp: number, inClass = false): string {
  if (cp > 0xffff) return `\\u{${cp.toString(16)}}`;
  if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp < 0xa0) || (cp >= 0xd800 && cp <= 0xdfff)) return `\\u${cp.toString(16).padStart(4, '0')}`;
  const c = String.fromCharCode(cp);
  return (inClass ? /[\\^\]\[-]/ : /[\\^$.*+?()[\]{}|/]/).test(c) ? `\\${c}` : c;
}

const rangeText = (r: Array<[number, number]>): string => r.map(([lo, hi]) => (lo === hi ? lit(lo, true) : `${lit(lo, true)}-${lit(hi, true)}`)).join('');

let foldOrbits: Map<number, number[]> | undefined;
/**
 * The code points Go's `(?i)` treats as the same letter as `cp` (unicode.SimpleFold's orbit),
 * `cp` included: the closure of single-code-point upper and lower case mappings, so `k` is also
 * KELVIN SIGN (U+212A) and `s` LONG S (U+017F), as in Go.
 */
function foldOrbit(cp: number): number[] {
  if (!foldOrbits) {
    const parent = new Map<number, number>();
    const find = (x: number): number => {
      let r = x;
      while (parent.has(r) && parent.get(r) !== r) r = parent.get(r)!;
      parent.set(x, r);
      return r;
    };
    const join = (a: number, b: number) => {
      const ra = find(a);
      const rb = find(b);
      if (ra !== rb) parent.set(ra, rb);
    };
    for (let c = 0; c <= 0x1ffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const s = String.fromCodePoint(c);
      for (const t of [s.toLowerCase(), s.toUpperCase()]) {
        const u = t.codePointAt(0)!;
        if (t !== s && t.length === String.fromCodePoint(u).length) join(c, u);
      }
    }
    foldOrbits = new Map();
    for (const c of parent.keys()) {
      const r = find(c);
      const list = foldOrbits.get(r) ?? [];
      if (!list.includes(c)) list.push(c);
      foldOrbits.set(r, list);
    }
    for (const [r, list] of [...foldOrbits]) {
      if (!list.includes(r)) list.push(r);
      for (const c of list) foldOrbits.set(c, list);
    }
  }
  return foldOrbits.get(cp) ?? [cp];
}

/** `cp`'s case orbit under `(?i)`: ASCII letters without the Unicode table (k and s have their two extra members). */
function caseSet(cp: number): number[] {
  if (cp < 0x80) {
    const c = String.fromCharCode(cp);
    if (!/[A-Za-z]/.test(c)) return [cp];
    const extra = /[kK]/.test(c) ? [0x212a] : /[sS]/.test(c) ? [0x17f] : [];
    return [c.toLowerCase().charCodeAt(0), c.toUpperCase().charCodeAt(0), ...extra];
  }
  return foldOrbit(cp);
}

/** A class's ranges with every case `(?i)` adds (ranges past U+FFFF are left as they are). */
function foldRanges(ranges: Array<[number, number]>): Array<[number, number]> {
  const out = [...ranges];
  for (const [lo, hi] of ranges) {
    // Whole alphabets first, then letter by letter where the range is narrow enough to walk.
    for (const [a, z] of [[65, 90], [97, 122]] as const) {
      const from = Math.max(lo, a);
      const to = Math.min(hi, z);
      if (from <= to) out.push([from ^ 0x20, to ^ 0x20]);
    }
    if (lo <= 0x6b && hi >= 0x4b && ((lo <= 0x4b && hi >= 0x4b) || (lo <= 0x6b && hi >= 0x6b))) out.push([0x212a, 0x212a]);
    if ((lo <= 0x53 && hi >= 0x53) || (lo <= 0x73 && hi >= 0x73)) out.push([0x17f, 0x17f]);
    const wideLo = Math.max(lo, 0x80);
    const wideHi = Math.min(hi, 0xffff);
    if (wideLo <= wideHi && wideHi - wideLo < 0x3000) {
      for (let c = wideLo; c <= wideHi; c++) for (const f of foldOrbit(c)) if (f < lo || f > hi) out.push([f, f]);
    } else if (wideLo <= wideHi) {
      // A wide range (a complement, `\x80-\uffff`): the letters folding into it from ASCII.
      for (const f of [0x4b, 0x53, 0x6b, 0x73]) if (foldOrbit(f).some((g) => g >= wideLo && g <= wideHi)) out.push([f, f]);
    }
  }
  return out;
}

/** `\d \D \w \W \s \S` as ranges (Go's ASCII sets). */
function perlClass(c: string, max: number): Array<[number, number]> | undefined {
  const base = c.toLowerCase() === 'd' ? POSIX.digit : c.toLowerCase() === 'w' ? POSIX.word : c.toLowerCase() === 's' ? SPACE : undefined;
  if (!base) return undefined;
  return c === c.toUpperCase() ? complement(base, max) : base;
}

/**
 * An escape after `\` at `re[i]` that stands for one character (`\x41`, `\x{1F600}`, `\101`, `\n`,
 * `\.`): its code point and where it ends; undefined for anything else.
 */
function charEscape(re: string, i: number): { cp: number; end: number } | undefined {
  const c = re[i];
  if (c === undefined) throw syntaxError('trailing backslash at end of expression', '');
  if (c === 'x') {
    if (re[i + 1] === '{') {
      const close = re.indexOf('}', i + 2);
      const hex = close < 0 ? '' : re.slice(i + 2, close);
      if (!/^[0-9A-Fa-f]+$/.test(hex) || parseInt(hex, 16) > 0x10ffff) throw syntaxError('invalid escape sequence', re.slice(i - 1, close < 0 ? re.length : close));
      return { cp: parseInt(hex, 16), end: close + 1 };
    }
    const hex = re.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw syntaxError('invalid escape sequence', re.slice(i - 1, i + 1 + hex.length));
    return { cp: parseInt(hex, 16), end: i + 3 };
  }
  if (/[0-7]/.test(c)) {
    // A single non-zero digit is a backreference, which RE2 does not have; `\0` and `\12` are octal.
    if (c !== '0' && !/[0-7]/.test(re[i + 1] ?? '')) throw syntaxError('invalid escape sequence', `\\${c}`);
    const oct = /^[0-7]{1,3}/.exec(re.slice(i))![0];
    return { cp: parseInt(oct, 8), end: i + oct.length };
  }
  const simple: Record<string, number> = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };
  if (c in simple) return { cp: simple[c], end: i + 1 };
  const cp = re.codePointAt(i)!;
  // Any punctuation may be escaped; a letter or digit Go does not know is an error.
  if (cp < 0x80 && !/[A-Za-z0-9]/.test(c)) return { cp, end: i + 1 };
  return undefined;
}

/** `\pL`, `\p{Greek}`, `\P{^Lu}` at `re[i]` (after the backslash): the JavaScript class and its end. */
function unicodeClass(re: string, i: number): { text: string; end: number } {
  let negate = re[i] === 'P';
  let name: string;
  let end: number;
  if (re[i + 1] === '{') {
    const close = re.indexOf('}', i + 2);
    if (close < 0) throw syntaxError('invalid character class range', re.slice(i - 1));
    name = re.slice(i + 2, close);
    end = close + 1;
  } else {
    name = re[i + 1] ?? '';
    end = i + 2;
  }
  if (name.startsWith('^')) {
    negate = !negate;
    name = name.slice(1);
  }
  if (!CATEGORIES.has(name) && !SCRIPT_NAME.test(name)) throw syntaxError('invalid character class range', re.slice(i - 1, end));
  const prop = CATEGORIES.has(name) ? name : `Script=${name}`;
  return { text: `\\${negate ? 'P' : 'p'}{${prop}}`, end };
}

/**
 * A bracket class at `re[start]` (`[`): its JavaScript text. Members are collected as ranges where
 * they are characters (so `(?i)` can fold them and a POSIX class can be negated), and kept as text
 * where they are Unicode classes.
 */
function translateClass(re: string, start: number, scope: Scope, max: number, t: Translated): { text: string; end: number } {
  let i = start + 1;
  const negate = re[i] === '^';
  if (negate) i++;
  const ranges: Array<[number, number]> = [];
  const props: string[] = [];
  let first = true;
  const member = (): { cp: number } | { set: Array<[number, number]> } | { prop: string } => {
    if (re.startsWith('[:', i)) {
      const close = re.indexOf(':]', i + 2);
      if (close >= 0) {
        const raw = re.slice(i + 2, close);
        const neg = raw.startsWith('^');
        const set = POSIX[neg ? raw.slice(1) : raw];
        if (!set) throw syntaxError('invalid character class range', re.slice(i, close + 2));
        i = close + 2;
        return { set: neg ? complement(set, max) : set };
      }
    }
    if (re[i] === '\\') {
      const c = re[i + 1];
      const perl = c === undefined ? undefined : perlClass(c, max);
      if (perl) {
        i += 2;
        return { set: perl };
      }
      if (c === 'p' || c === 'P') {
        const u = unicodeClass(re, i + 1);
        i = u.end;
        return { prop: u.text };
      }
      const e = charEscape(re, i + 1);
      if (!e) throw syntaxError('invalid escape sequence', re.slice(i, i + 2));
      i = e.end;
      return { cp: e.cp };
    }
    const cp = re.codePointAt(i)!;
    i += cp > 0xffff ? 2 : 1;
    return { cp };
  };
  while (i < re.length && (re[i] !== ']' || first)) {
    first = false;
    const at = i;
    const a = member();
    if ('cp' in a && re[i] === '-' && re[i + 1] !== undefined && re[i + 1] !== ']') {
      i++;
      const b = member();
      if (!('cp' in b)) throw syntaxError('invalid character class range', re.slice(at, i));
      if (b.cp < a.cp) throw syntaxError('invalid character class range', re.slice(at, i));
      ranges.push([a.cp, b.cp]);
    } else if ('cp' in a) ranges.push([a.cp, a.cp]);
    else if ('set' in a) ranges.push(...a.set);
    else props.push(a.prop);
  }
  if (i >= re.length) throw syntaxError('missing closing ]', re.slice(start));
  let all = scope.i ? foldRanges(ranges) : ranges;
  if (all.some(([, hi]) => hi > 0xffff)) t.unicode = true;
  if (props.length) {
    t.unicode = true;
    if (scope.i) t.modifiers = true;
  }
  if (!t.unicode) all = all.filter(([lo]) => lo <= 0xffff).map(([lo, hi]) => [lo, Math.min(hi, 0xffff)]);
  let text = `[${negate ? '^' : ''}${rangeText(all)}${props.join('')}]`;
  // `[^]` in JavaScript is any character; Go's `[^\x00-\x{10FFFF}]` matches nothing.
  if (text === '[]') text = '[^\\s\\S]';
  if (text === '[^]') text = '[\\s\\S]';
  if (props.length && scope.i) text = `(?i:${text})`;
  return { text, end: i + 1 };
}

/** One code point under the scope's flags. */
function literal(cp: number, scope: Scope, t: Translated): string {
  if (cp > 0xffff) t.unicode = true;
  if (!scope.i) return lit(cp);
  const set = [...new Set(caseSet(cp))].filter((c) => t.unicode || c <= 0xffff);
  return set.length === 1 ? lit(cp) : `[${set.map((c) => lit(c, true)).join('')}]`;
}

/**
 * Go's parsePerlFlags for `(?` at `re[i]`: `(?flags)` changes the current group's flags,
 * `(?flags:` opens a group with them; `-` clears the flags after it. Anything else (`(?=`, `(?<=`,
 * `(?#`, `(?P=`, `(?i-)`) is Go's `invalid or unsupported Perl syntax`, shown as far as Go read.
 */
function perlFlags(re: string, i: number, sc: Scope): { scope: Scope; group: boolean; end: number } {
  const scope = { ...sc };
  let negate = false;
  let saw = false;
  let j = i + 2;
  while (j < re.length) {
    const c = re[j++];
    if (c === 'i' || c === 'm' || c === 's' || c === 'U') {
      scope[c] = !negate;
      saw = true;
    } else if (c === '-' && !negate) {
      negate = true;
      saw = false;
    } else if ((c === ':' || c === ')') && !(negate && !saw)) {
      return { scope, group: c === ':', end: j };
    } else break;
  }
  throw syntaxError('invalid or unsupported Perl syntax', re.slice(i, j));
}

/**
 * RE2 syntax to JavaScript syntax the linear engine takes where it can. `mAsFlag`: write `^`/`$`
 * under `m` as plain anchors (the caller sets the `m` flag, right when every anchor is under `m`).
 */
function translate(re: string, mAsFlag: boolean, max: number): Translated {
  const t: Translated = { source: '', modifiers: false, unicode: max > 0xffff, anchorsM: 0, anchorsPlain: 0 };
  const stack: Scope[] = [{ i: false, m: false, s: false, U: false }];
  let out = '';
  let i = 0;
  const scope = () => stack[stack.length - 1];
  while (i < re.length) {
    const c = re[i];
    const sc = scope();
    if (c === '\\') {
      const n = re[i + 1];
      if (n === 'Q') {
        const close = re.indexOf('\\E', i + 2);
        const text = close < 0 ? re.slice(i + 2) : re.slice(i + 2, close);
        for (const ch of text) out += literal(ch.codePointAt(0)!, sc, t);
        i = close < 0 ? re.length : close + 2;
        continue;
      }
      if (n === 'A' || n === 'z') {
        t.anchorsPlain++;
        out += n === 'A' ? '^' : '$';
        i += 2;
        continue;
      }
      if (n === 'b' || n === 'B') {
        // Go repeats an assertion (`\b+`); JavaScript only repeats a group.
        out += /^[*+?{]/.test(re.slice(i + 2)) ? `(?:\\${n})` : `\\${n}`;
        i += 2;
        continue;
      }
      const perl = n === undefined ? undefined : perlClass(n, max);
      if (perl) {
        out += n === 'd' || n === 'D' || n === 'w' || n === 'W' ? `\\${n}` : `[${n === 'S' ? '^' : ''}${rangeText(SPACE)}]`;
        i += 2;
        continue;
      }
      if (n === 'p' || n === 'P') {
        const u = unicodeClass(re, i + 1);
        t.unicode = true;
        if (sc.i) t.modifiers = true;
        out += sc.i ? `(?i:${u.text})` : u.text;
        i = u.end;
        continue;
      }
      const e = charEscape(re, i + 1);
      if (!e) throw syntaxError('invalid escape sequence', re.slice(i, i + 2));
      out += literal(e.cp, sc, t);
      i = e.end;
      continue;
    }
    if (c === '[') {
      const cls = translateClass(re, i, sc, max, t);
      out += cls.text;
      i = cls.end;
      continue;
    }
    if (c === '(') {
      if (re[i + 1] !== '?') {
        stack.push({ ...sc });
        out += '(';
        i++;
        continue;
      }
      const named = /^\(\?P?<([A-Za-z0-9_]+)>/.exec(re.slice(i));
      if (named) {
        stack.push({ ...sc });
        out += `(?<${named[1]}>`;
        i += named[0].length;
        continue;
      }
      const g = perlFlags(re, i, sc);
      i = g.end;
      if (g.group) {
        stack.push(g.scope);
        out += '(?:';
      } else {
        // `(?i)`: the rest of the enclosing group (across `|` too, as in Go).
        stack[stack.length - 1] = g.scope;
      }
      continue;
    }
    if (c === ')') {
      if (stack.length === 1) throw syntaxError('unexpected )', re);
      stack.pop();
      out += ')';
      i++;
      continue;
    }
    if (c === '|') {
      // `(?i)` before a `|` goes on into the next alternative, as in Go: nothing to undo.
      out += '|';
      i++;
      continue;
    }
    if (c === '.') {
      out += sc.s ? '[\\s\\S]' : '[^\\n]';
      i++;
      continue;
    }
    if (c === '^' || c === '$') {
      if (sc.m) {
        t.anchorsM++;
        if (mAsFlag) out += c;
        else {
          t.modifiers = true;
          out += `(?m:${c === '^' ? '^' : '$'})`;
        }
      } else {
        t.anchorsPlain++;
        out += c;
      }
      i++;
      continue;
    }
    if (c === '*' || c === '+' || c === '?' || (c === '{' && /^\{\d+(,\d*)?\}/.test(re.slice(i)))) {
      const q = c === '{' ? /^\{\d+(,\d*)?\}/.exec(re.slice(i))![0] : c;
      const counts = c === '{' ? q.slice(1, -1).split(',').map((x) => (x === '' ? 0 : Number(x))) : [];
      if (counts.some((n) => n > 1000)) throw syntaxError('invalid repeat count', q);
      i += q.length;
      const lazy = re[i] === '?';
      if (lazy) i++;
      out += q + (lazy !== sc.U ? '?' : '');
      continue;
    }
    const cp = re.codePointAt(i)!;
    out += literal(cp, sc, t);
    i += cp > 0xffff ? 2 : 1;
  }
  if (stack.length > 1) throw syntaxError('missing closing )', re);
  t.source = out;
  return t;
}

const CACHE_SIZE = 256;
const cache = new Map<string, { source: string; flags: string }>();

/** Go's `regexp.Compile(re)` as a JavaScript RegExp (`global`: for the find-all loops below). */
export function goRegex(re: string, global = false, subject = ''): RegExp {
  useLinearEngine();
  const astral = /[\uD800-\uDFFF]/.test(subject);
  const key = `${global ? 'g' : '-'}${astral ? 'u' : '-'}${re}`;
  const hit = cache.get(key);
  if (hit) return new RegExp(hit.source, hit.flags);
  const g = global ? 'g' : '';
  let t = translate(re, false, astral ? 0x10ffff : 0xffff);
  let m = '';
  if (t.anchorsM > 0 && t.anchorsPlain === 0) {
    // Every `^`/`$` is under `m` (`(?m)` at the start): JavaScript's `m` flag, which the linear engine takes.
    t = translate(re, true, astral ? 0x10ffff : 0xffff);
    m = 'm';
  }
  let made: RegExp | undefined;
  if (!t.modifiers && !t.unicode) {
    try {
      made = new RegExp(t.source, `${g}${m}l`);
    } catch {
      /* a construct the linear engine does not take: the backtracking engine below */
    }
  }
  if (!made) {
    if (!t.unicode && !astral) {
      try {
        made = new RegExp(t.source, `${g}${m}`);
      } catch {
        /* with `u` below */
      }
    }
    if (!made) {
      const u = t.unicode ? t : translate(re, m === 'm', 0x10ffff);
      try {
        made = new RegExp(u.source, `${g}${m}u`);
      } catch (err) {
        throw new GoRegexError(`error parsing regexp: ${(err as Error).message}`);
      }
    }
  }
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
  cache.set(key, { source: made.source, flags: made.flags });
  return made;
}

/** One match: [start, end] of the whole and of each group (undefined when a group did not take part). */
type Match = RegExpExecArray;

/**
 * Go's allMatches: successive non-overlapping matches, at most `n` (all when `n` < 0), where an
 * empty match right after the previous match is skipped (`a*` on `baaac` is `"" aaa "" ""`, not
 * JavaScript's `"" aaa "" "" ""`).
 */
export function goFindAll(re: string, s: string, n: number): Match[] {
  const rx = goRegex(re, true, s);
  const out: Match[] = [];
  let prevEnd = -1;
  for (let pos = 0; (n < 0 || out.length < n) && pos <= s.length; ) {
    rx.lastIndex = pos;
    const m = rx.exec(s);
    if (!m) break;
    const end = m.index + m[0].length;
    let accept = true;
    if (end === pos && m[0].length === 0) {
      if (m.index === prevEnd) accept = false;
      pos += s.length > pos ? (s.codePointAt(pos)! > 0xffff ? 2 : 1) : 1;
    } else {
      pos = end;
    }
    prevEnd = end;
    if (accept) out.push(m);
  }
  return out;
}

/** Go's Regexp.Expand template (`$1`, `${name}`, `$$`) for one match. */
function expand(template: string, m: Match): string {
  let out = '';
  let rest = template;
  for (;;) {
    const at = rest.indexOf('$');
    if (at < 0) break;
    out += rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (rest.startsWith('$')) {
      out += '$';
      rest = rest.slice(1);
      continue;
    }
    const x = /^(?:\{([\p{L}\p{Nd}_]+)\}|([\p{L}\p{Nd}_]+))/u.exec(rest);
    if (!x) {
      out += '$';
      continue;
    }
    rest = rest.slice(x[0].length);
    const name = x[1] ?? x[2];
    let value: string | undefined;
    if (/^\d+$/.test(name) && !(name.length > 1 && name[0] === '0')) value = Number(name) < m.length ? m[Number(name)] : undefined;
    else value = m.groups?.[name];
    out += value ?? '';
  }
  return out + rest;
}

/**
 * Go's ReplaceAllString (`literal`: ReplaceAllLiteralString): every match replaced, but an empty
 * match right after a match is not (`a*` on `baaac` with `-` is `-b-c-`).
 */
export function goReplaceAll(re: string, s: string, repl: string, literal: boolean): string {
  const rx = goRegex(re, true, s);
  let out = '';
  let lastEnd = 0;
  let search = 0;
  while (search <= s.length) {
    rx.lastIndex = search;
    const m = rx.exec(s);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    out += s.slice(lastEnd, start);
    if (end > lastEnd || start === 0) out += literal ? repl : expand(repl, m);
    lastEnd = end;
    const width = search < s.length ? (s.codePointAt(search)! > 0xffff ? 2 : 1) : 0;
    if (search + width > end) search += width;
    else if (search + 1 > end) search++;
    else search = end;
  }
  return out + s.slice(lastEnd);
}

/** Go's Regexp.Split(s, n). */
export function goSplit(re: string, s: string, n: number): string[] {
  if (n === 0) return [];
  if (re.length > 0 && s.length === 0) return [''];
  const matches = goFindAll(re, s, n);
  const parts: string[] = [];
  let beg = 0;
  let end = 0;
  for (const m of matches) {
    if (n > 0 && parts.length === n - 1) break;
    end = m.index;
    if (m.index + m[0].length !== 0) parts.push(s.slice(beg, end));
    beg = m.index + m[0].length;
  }
  if (end !== s.length) parts.push(s.slice(beg));
  return parts;
}
