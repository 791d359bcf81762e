import { goBytesOf, goStringOf } from './govalue.js';

/**
 * Pieces of Go libraries sprig's functions rest on, as Helm 3.14 runs them (checked against Go on
 * this machine): shopspring/decimal for `addf`/`subf`/`mulf`/`divf` (0.1 × 3 is 0.3, not
 * 0.30000000000000004), time.Duration's String and ParseDuration for `duration`,
 * `durationRound` and `dateModify`, goutils' byte-wise string helpers (`nospace`, `abbrevboth`)
 * and Go's slice bounds for `substr`.
 */

/**
 * strconv.ParseInt (signed) or ParseUint, 64 bits, in base 2, 8 or 10, or base 0 (`0x`, `0o`,
 * `0b`, a leading `0` is octal, and `_` between digits or after the prefix, as underscoreOK
 * allows): undefined where Go fails (syntax or range).
 */
export function goParseInt(s: string, base: 0 | 2 | 8 | 10, signed: boolean): bigint | undefined {
  const whole = s;
  let neg = false;
  if (signed && (s[0] === '+' || s[0] === '-')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '') return undefined;
  let radix: number = base === 0 ? 10 : base;
  if (base === 0 && s[0] === '0') {
    const p = s.length >= 3 ? s[1].toLowerCase() : '';
    radix = p === 'b' ? 2 : p === 'o' ? 8 : p === 'x' ? 16 : 8;
    s = s.slice(p === 'b' || p === 'o' || p === 'x' ? 2 : 1);
  }
  if (base === 0 && s.includes('_')) {
    if (!goUnderscoreOK(whole)) return undefined;
    s = s.replaceAll('_', '');
  }
  const digits = radix === 2 ? /^[01]*$/ : radix === 8 ? /^[0-7]*$/ : radix === 10 ? /^[0-9]*$/ : /^[0-9a-fA-F]*$/;
  if (!digits.test(s)) return undefined;
  // More significant digits than 64 bits hold is out of range: said without building the number
  // (a megabyte of digits in a chart's values was a quadratic BigInt loop).
  const significant = s.replace(/^0+/, '');
  if (significant.length > MAX_DIGITS[radix]) return undefined;
  let n = 0n;
  for (const c of significant) n = n * BigInt(radix) + BigInt(parseInt(c, 16));
  if (!signed) return n < 2n ** 64n ? n : undefined;
  if (neg) n = -n;
  return n >= -(2n ** 63n) && n < 2n ** 63n ? n : undefined;
}

/** The most digits a 64-bit integer has in each base (2^64 - 1: 64, 22, 20 and 16 digits). */
const MAX_DIGITS: Record<number, number> = { 2: 64, 8: 22, 10: 20, 16: 16 };

/** strconv's underscoreOK: each `_` between two digits (a base prefix counts as one). */
function goUnderscoreOK(s: string): boolean {
  let saw = '^';
  let i = 0;
  if (s[0] === '-' || s[0] === '+') s = s.slice(1);
  let hex = false;
  if (s.length >= 2 && s[0] === '0' && 'box'.includes(s[1].toLowerCase())) {
    i = 2;
    saw = '0';
    hex = s[1].toLowerCase() === 'x';
  }
  for (; i < s.length; i++) {
    const c = s[i];
    if ((c >= '0' && c <= '9') || (hex && /[a-fA-F]/.test(c))) {
      saw = '0';
      continue;
    }
    if (c === '_') {
      if (saw !== '0') return false;
      saw = '_';
      continue;
    }
    if (saw === '_') return false;
    saw = '!';
  }
  return saw !== '_';
}

/** Go's int64 arithmetic: a result that overflows wraps around (two's complement). */
export const goInt64 = (n: bigint): bigint => BigInt.asIntN(64, n);

/**
 * Go's conversion of a float64 to int64 as Helm's amd64 builds run it (CVTTSD2SI): truncated
 * toward zero; NaN, ±Inf and anything out of int64's range give the "integer indefinite"
 * -9223372036854775808 (the Go spec leaves it to the implementation; arm64 saturates instead).
 */
export function goFloatToInt64(x: number): bigint {
  return x >= -(2 ** 63) && x < 2 ** 63 ? BigInt(Math.trunc(x)) : -(2n ** 63n);
}

/** A decimal `c × 10^e`. */
interface Dec {
  c: bigint;
  e: number;
}

/** decimal.NewFromFloat: the shortest decimal that reads back as `x` (JavaScript's shortest form too). */
function decFromFloat(x: number): Dec {
  if (!Number.isFinite(x)) throw new Error(`Cannot create a Decimal from ${Number.isNaN(x) ? 'NaN' : x > 0 ? '+Inf' : '-Inf'}`);
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(x))!;
  const frac = m[3] ?? '';
  return { c: BigInt(`${m[1]}${m[2]}${frac}`), e: Number(m[4] ?? 0) - frac.length };
}

const pow10 = (n: number) => 10n ** BigInt(n);

function align(a: Dec, b: Dec): [bigint, bigint, number] {
  const e = Math.min(a.e, b.e);
  return [a.c * pow10(a.e - e), b.c * pow10(b.e - e), e];
}

/** Decimal.Div: half away from zero at 16 decimal places (DivisionPrecision). */
function decDiv(a: Dec, b: Dec): Dec {
  if (b.c === 0n) throw new Error('decimal division by 0'); // shopspring/decimal's QuoRem panic
  const k = a.e - b.e + 16;
  const n = k >= 0 ? a.c * pow10(k) : a.c;
  const d = k >= 0 ? b.c : b.c * pow10(-k);
  let q = n / d;
  const r = n % d;
  const abs = (v: bigint) => (v < 0n ? -v : v);
  if (2n * abs(r) >= abs(d)) q += (n < 0n) !== (d < 0n) ? -1n : 1n;
  return { c: q, e: -16 };
}

const DEC_OPS = {
  add: (a: Dec, b: Dec): Dec => {
    const [x, y, e] = align(a, b);
    return { c: x + y, e };
  },
  sub: (a: Dec, b: Dec): Dec => {
    const [x, y, e] = align(a, b);
    return { c: x - y, e };
  },
  mul: (a: Dec, b: Dec): Dec => ({ c: a.c * b.c, e: a.e + b.e }),
  div: decDiv,
};

/** sprig's execDecimalOp: `first` op each of `rest`, in decimal, read back as the nearest float64. */
export function decimalFold(op: keyof typeof DEC_OPS, first: number, rest: number[]): number {
  let acc = decFromFloat(first);
  for (const x of rest) acc = DEC_OPS[op](acc, decFromFloat(x));
  return Number(`${acc.c}e${acc.e}`);
}

const NS = { ns: 1n, us: 1000n, µs: 1000n, μs: 1000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n } as const;

/** time.ParseDuration ("1h10m", "-1.5h", "300ms"); undefined where Go returns an error. */
export function parseGoDuration(text: string): bigint | undefined {
  let s = text;
  let neg = false;
  if (s[0] === '-' || s[0] === '+') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') return undefined;
  let total = 0n;
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s)!;
    if (m[0] === '' || m[0] === '.') return undefined;
    s = s.slice(m[0].length);
    const unit = /^(ns|us|µs|μs|ms|s|m|h)/.exec(s);
    if (!unit) return undefined;
    s = s.slice(unit[0].length);
    const scale = NS[unit[1] as keyof typeof NS];
    const frac = m[2] ?? '';
    // Go keeps the fraction's value to nanosecond precision, truncating the rest.
    total += BigInt(m[1] || '0') * scale + (frac ? (BigInt(frac) * scale) / pow10(frac.length) : 0n);
    if (total > 9_223_372_036_854_775_807n) return undefined;
  }
  return neg ? -total : total;
}

/** time.Duration.String. */
export function goDurationString(ns: bigint): string {
  if (ns === 0n) return '0s';
  const neg = ns < 0n;
  let u = neg ? -ns : ns;
  let out: string;
  if (u < 1_000_000_000n) {
    // below a second: ns, µs or ms with a fraction
    const [unit, scale] = u < 1000n ? ['ns', 1n] : u < 1_000_000n ? ['µs', 1000n] : ['ms', 1_000_000n];
    out = fraction(u, scale) + unit;
  } else {
    const h = u / NS.h;
    u -= h * NS.h;
    const m = u / NS.m;
    u -= m * NS.m;
    out = `${h > 0n ? `${h}h` : ''}${h > 0n || m > 0n ? `${m}m` : ''}${fraction(u, NS.s)}s`;
  }
  return neg ? `-${out}` : out;
}

/** `v / scale` with its fraction, trailing zeros dropped (Go's fmtFrac). */
function fraction(v: bigint, scale: bigint): string {
  const whole = v / scale;
  const rest = v % scale;
  if (rest === 0n) return String(whole);
  const digits = String(scale).length - 1;
  return `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`;
}

/** sprig's durationRound of a duration in nanoseconds: the largest whole unit it exceeds. */
export function durationRound(ns: bigint): string {
  const u = ns < 0n ? -ns : ns;
  const units: Array<[bigint, string]> = [
    [NS.h * 24n * 365n, 'y'],
    [NS.h * 24n * 30n, 'mo'],
    [NS.h * 24n, 'd'],
    [NS.h, 'h'],
    [NS.m, 'm'],
    [NS.s, 's'],
  ];
  for (const [size, name] of units) if (u > size) return `${u / size}${name}`;
  return '0s';
}

/** Go strings are bytes: one character per UTF-8 byte, and back. */
const bytesOf = (s: string) => goBytesOf(s).toString('latin1');
const fromBytes = (b: string) => goStringOf(Buffer.from(b, 'latin1'));

/** Go's `s[a:b]` on bytes: its panic message when the bounds are out of range. */
function sliceBytes(b: string, lo: number | undefined, hi: number | undefined): string {
  const a = lo ?? 0;
  const z = hi ?? b.length;
  if (hi !== undefined && (z < 0 || z > b.length)) throw new Error(`runtime error: slice bounds out of range [:${z}] with length ${b.length}`);
  if (a < 0 || a > z) throw new Error(`runtime error: slice bounds out of range [${a}:${z}]`);
  return b.slice(a, z);
}

/** sprig's substr: byte offsets, and Go's panic where the bounds cross. */
export function substr(start: number, end: number, s: string): string {
  const b = bytesOf(s);
  if (start < 0) return fromBytes(sliceBytes(b, undefined, end));
  if (end < 0 || end > b.length) return fromBytes(sliceBytes(b, start, undefined));
  return fromBytes(sliceBytes(b, start, end));
}

/**
 * goutils' DeleteWhiteSpace (sprig's `nospace`): it walks bytes, so once a string holds any
 * whitespace, every other byte is written back as the code point of its value (`é` becomes `Ã©`),
 * and the bytes 0x85 and 0xA0 inside multi-byte characters count as whitespace. Helm prints that.
 */
export function deleteWhiteSpace(s: string): string {
  const b = bytesOf(s);
  const space = (c: number) => c === 9 || c === 10 || c === 11 || c === 12 || c === 13 || c === 32 || c === 0x85 || c === 0xa0;
  let out = '';
  for (let i = 0; i < b.length; i++) if (!space(b.charCodeAt(i))) out += b[i];
  return out.length === b.length ? s : out;
}

/** goutils' AbbreviateFull on bytes (sprig's `abbrev` with offset 0, and `abbrevboth`). */
export function abbreviateFull(s: string, offset: number, maxWidth: number): string {
  const b = bytesOf(s);
  if (b === '' || maxWidth < 4) return '';
  if (b.length <= maxWidth) return s;
  let off = Math.min(offset, b.length);
  if (b.length - off < maxWidth - 3) off = b.length - (maxWidth - 3);
  if (off <= 4) return `${fromBytes(b.slice(0, maxWidth - 3))}...`;
  if (maxWidth < 7) return '';
  if (off + maxWidth - 3 < b.length) return `...${abbreviateFull(fromBytes(b.slice(off)), 0, maxWidth - 3)}`;
  return `...${fromBytes(b.slice(b.length - (maxWidth - 3)))}`;
}
