/**
 * sprig's case functions as the Go libraries behind them write them, for Helm 3.14's versions:
 * `camelcase`, `snakecase` and `kebabcase` are huandu/xstrings v1.4.0's ToCamelCase, ToSnakeCase
 * and ToKebabCase (Helm 3.14's go.mod pins v1.4.0); `initials` and `swapcase` are
 * Masterminds/goutils v1.1.1's Initials and SwapCase. Ported from their documented behaviour and
 * checked against the Go libraries on this machine: `-`, `_` and spaces are word connectors
 * (`vm-k8s-stack.rulegroup.key` camel-cases `kubernetes-apps` to `KubernetesApps`), numbers start
 * words (`HTTP20xOK` is `http_20x_ok`), `initials` splits on whitespace only.
 */

const is = (re: RegExp) => (r: number) => re.test(String.fromCodePoint(r));
const isUpper = is(/^\p{Lu}$/u);
const isLower = is(/^\p{Ll}$/u);
const isTitle = is(/^\p{Lt}$/u);
const isLetter = is(/^\p{L}$/u);
const isNumber = is(/^\p{N}$/u);
const isPunct = is(/^\p{P}$/u);
/** Go's unicode.IsSpace: the White_Space property. */
const isSpace = is(/^\p{White_Space}$/u);
const isConnector = (r: number) => r === 0x2d || r === 0x5f || isSpace(r);

/** xstrings' isAlphabet: a letter, CJK ideographs excepted. */
function isAlphabet(r: number): boolean {
  if (!isLetter(r)) return false;
  if (r < 0x3400) return true;
  return !((r >= 0x4e00 && r <= 0x9fcc) || (r >= 0x3400 && r <= 0x4d85) || (r >= 0x20000 && r <= 0x2b81d));
}

/** Go's unicode.ToLower/ToUpper/ToTitle (a simple mapping: one code point, else unchanged). */
function mapCase(r: number, to: 'lower' | 'upper'): number {
  if (r === 0x130 && to === 'lower') return 0x69;
  const s = String.fromCodePoint(r);
  const m = to === 'lower' ? s.toLowerCase() : s.toUpperCase();
  const c = m.codePointAt(0)!;
  return String.fromCodePoint(c) === m ? c : r;
}

const enum Word {
  Invalid,
  Number,
  Upper,
  Alphabet,
  Connector,
  Punct,
  Other,
}

/** xstrings' nextWord over code points from `i`: the word's type and where it ends. */
function nextWord(s: number[], i: number): [Word, number] {
  if (i >= s.length) return [Word.Invalid, i];
  const run = (from: number, ok: (r: number) => boolean) => {
    let j = from;
    while (j < s.length && ok(s[j])) j++;
    return j;
  };
  const r = s[i];
  if (isConnector(r)) return [Word.Connector, run(i + 1, isConnector)];
  if (isPunct(r)) return [Word.Punct, run(i + 1, isPunct)];
  if (isUpper(r)) {
    const next = s[i + 1];
    if (next === undefined) return [Word.Upper, i + 1];
    if (isUpper(next)) {
      const end = run(i + 1, isUpper);
      // "HTTPStatus" is "HTTP" and "Status": the last capital starts the next word.
      return [Word.Upper, end < s.length && isAlphabet(s[end]) ? end - 1 : end];
    }
    if (isAlphabet(next)) return [Word.Upper, run(i + 1, (c) => isAlphabet(c) && !isUpper(c))];
    return [Word.Upper, i + 1];
  }
  if (isAlphabet(r)) return [Word.Alphabet, run(i + 1, (c) => isAlphabet(c) && !isUpper(c))];
  if (isNumber(r)) return [Word.Number, run(i + 1, isNumber)];
  return [Word.Other, run(i + 1, (c) => !(isConnector(c) || isAlphabet(c) || isNumber(c) || isPunct(c)))];
}

/** xstrings' camelCaseToLowerCase (ToSnakeCase with `_`, ToKebabCase with `-`). */
function camelCaseToLowerCase(text: string, connector: string): string {
  if (text === '') return '';
  const s = [...text].map((c) => c.codePointAt(0)!);
  let out = '';
  const lower = (wt: Word, from: number, to: number) => {
    for (let k = from; k < to; k++) {
      const r = s[k];
      if (wt !== Word.Upper && wt !== Word.Connector) out += String.fromCodePoint(r);
      else if (isConnector(r)) out += connector;
      else out += String.fromCodePoint(isUpper(r) ? mapCase(r, 'lower') : r);
    }
  };
  let start = 0;
  let [wt, end] = nextWord(s, 0);
  while (end < s.length) {
    if (wt !== Word.Connector) lower(wt, start, end);
    const prev = wt;
    const lastStart = start;
    const lastEnd = end;
    start = end;
    [wt, end] = nextWord(s, start);
    if (prev === Word.Number) {
      while (wt === Word.Alphabet || wt === Word.Number) {
        lower(wt, start, end);
        start = end;
        [wt, end] = nextWord(s, start);
      }
      if (wt !== Word.Invalid && wt !== Word.Punct && wt !== Word.Connector) out += connector;
    } else if (prev === Word.Connector) {
      lower(prev, lastStart, lastEnd);
    } else if (prev !== Word.Punct) {
      if (wt !== Word.Number) {
        if (wt !== Word.Connector && wt !== Word.Punct) out += connector;
        continue;
      }
      if (end >= s.length) continue;
      const numStart = start;
      const numEnd = end;
      start = end;
      [wt, end] = nextWord(s, start);
      // A number is part of the word before it ("Bld4Floor" is "bld4_floor") unless letters follow it.
      if (wt !== Word.Alphabet) {
        lower(Word.Number, numStart, numEnd);
        if (wt !== Word.Connector && wt !== Word.Punct) out += connector;
        continue;
      }
      out += connector;
      lower(Word.Number, numStart, numEnd);
      while (wt === Word.Alphabet || wt === Word.Number) {
        lower(wt, start, end);
        start = end;
        [wt, end] = nextWord(s, start);
      }
      if (wt !== Word.Invalid && wt !== Word.Connector && wt !== Word.Punct) out += connector;
    }
  }
  lower(wt, start, end);
  return out;
}

export const toSnakeCase = (s: string): string => camelCaseToLowerCase(s, '_');
export const toKebabCase = (s: string): string => camelCaseToLowerCase(s, '-');

/** xstrings v1.4.0's ToCamelCase: connectors dropped, the letter after one upper-cased, other letters kept as written. */
export function toCamelCase(text: string): string {
  const s = [...text].map((c) => c.codePointAt(0)!);
  if (s.length === 0) return '';
  let out = '';
  let i = 0;
  let r0 = 0;
  // Leading connectors stay.
  for (; i < s.length; i++) {
    r0 = s[i];
    if (!isConnector(r0)) {
      r0 = mapCase(r0, 'upper');
      i++;
      break;
    }
    out += String.fromCodePoint(r0);
  }
  // One rune left (or connectors only: Go writes the last connector twice).
  if (i >= s.length) return out + String.fromCodePoint(r0);
  for (; i < s.length; i++) {
    const r1 = r0;
    r0 = s[i];
    if (isConnector(r0) && isConnector(r1)) {
      out += String.fromCodePoint(r1);
      continue;
    }
    if (isConnector(r1)) r0 = mapCase(r0, 'upper');
    else out += String.fromCodePoint(r1);
  }
  return out + String.fromCodePoint(r0);
}

/**
 * goutils' Initials: the first character of each whitespace-separated word. It walks the UTF-8
 * bytes, so a word starting with a multi-byte character gives that character's first byte read as
 * Latin-1 (`É` gives `Ã`), as Helm prints it.
 */
export function initials(text: string): string {
  let out = '';
  let gap = true;
  for (const b of Buffer.from(text, 'utf8')) {
    if (isSpace(b)) gap = true;
    else if (gap) {
      out += String.fromCharCode(b);
      gap = false;
    }
  }
  return out;
}

/** goutils' Uncapitalize (sprig's `untitle`): the first rune of each whitespace-separated word in lower case. */
export function uncapitalize(text: string): string {
  let out = '';
  let next = true;
  for (const c of text) {
    const r = c.codePointAt(0)!;
    if (isSpace(r)) next = true;
    else if (next) {
      out += String.fromCodePoint(mapCase(r, 'lower'));
      next = false;
      continue;
    }
    out += c;
  }
  return out;
}

/** goutils' SwapCase: upper and title case to lower; lower to upper, or to title case after whitespace. */
export function swapCase(text: string): string {
  let out = '';
  let space = true;
  for (const c of text) {
    const r = c.codePointAt(0)!;
    if (isUpper(r) || isTitle(r)) {
      out += String.fromCodePoint(mapCase(r, 'lower'));
      space = false;
    } else if (isLower(r)) {
      out += space ? titleCase(c) : String.fromCodePoint(mapCase(r, 'upper'));
      space = false;
    } else {
      out += c;
      space = isSpace(r);
    }
  }
  return out;
}

/**
 * Go's strings.Title (sprig's `title`): every rune after a separator in title case. ASCII
 * separators are everything but letters, digits and `_` (so `it's` is `It'S`, as in Helm);
 * beyond ASCII only spaces separate.
 */
export function goTitle(text: string): string {
  let out = '';
  let prev = 0x20;
  for (const c of text) {
    const sep = prev <= 0x7f ? !/[0-9A-Za-z_]/.test(String.fromCharCode(prev)) : !(isLetter(prev) || /^\p{Nd}$/u.test(String.fromCodePoint(prev))) && isSpace(prev);
    out += sep ? titleCase(c) : c;
    prev = c.codePointAt(0)!;
  }
  return out;
}

/** Go's unicode.ToTitle for the digraphs that have a title case (ǆ → ǅ); the upper case otherwise. */
function titleCase(c: string): string {
  const r = c.codePointAt(0)!;
  const digraph: Record<number, number> = { 0x1c4: 0x1c5, 0x1c5: 0x1c5, 0x1c6: 0x1c5, 0x1c7: 0x1c8, 0x1c8: 0x1c8, 0x1c9: 0x1c8, 0x1ca: 0x1cb, 0x1cb: 0x1cb, 0x1cc: 0x1cb, 0x1f1: 0x1f2, 0x1f2: 0x1f2, 0x1f3: 0x1f2 };
  return String.fromCodePoint(digraph[r] ?? mapCase(r, 'upper'));
}
