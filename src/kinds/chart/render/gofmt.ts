/**
 * Go's fmt.Sprintf over the template engine's Go values (govalue.ts), ported from fmt's print.go
 * (printArg, printValue, badVerb, handleMethods' Stringer) and format.go (fmtInteger, fmtFloat,
 * fmtS, fmtSbx, fmtQ, fmtC, fmtQc, fmtUnicode, pad), with strconv's float formats (`e` `f` `g`,
 * `b` = mantissa p exponent, `x` = hexadecimal mantissa p exponent) and quoting. Every verb of
 * every type a chart reaches prints what Go prints, a bad verb included (`%x` of a float64 is
 * `0x1.8p+00`, `%d` of one `%!d(float64=1.5)`).
 *
 * Bounds: a width or precision is at most 1e6 (fmt's own limit; past it Go prints %!(NOVERB) /
 * %!(BADWIDTH)), and one printf builds at most MAX_FORMATTED characters however many list or map
 * elements each pad to the width.
 */
import {
  GoSizedInt,
  GoStruct,
  goCopyOf,
  GoTypedMap,
  GoTypedSlice,
  formatFloatG,
  formatFloatPrec,
  formatV,
  goBytesOf,
  goQuote,
  goStringOf,
  goTypeName,
  escapedByte,
  escapeRune,
  hex2,
  isPrint,
  isMap,
  isNil,
  isNilMap,
} from './govalue.js';

/** fmt's flags and numbers of one verb. `plusV`/`sharpV` are `%+v`/`%#v` (doPrintf moves + and # there). */
interface Fmt {
  minus: boolean;
  plus: boolean;
  sharp: boolean;
  zero: boolean;
  space: boolean;
  plusV: boolean;
  sharpV: boolean;
  wid?: number;
  prec?: number;
}

/**
 * What one printf may build: each element of a list or map is padded to the width (at most 1e6)
 * on its own, so `%1000000v` of a long list would build terabytes. Past this the call fails
 * (`error calling printf: …`), as the template output limit would.
 */
const MAX_FORMATTED = 64 * 1024 * 1024;
let formatted = 0;
function charged(s: string): string {
  formatted += s.length;
  if (formatted > MAX_FORMATTED) throw new Error(`printf: more than ${MAX_FORMATTED} characters would be built; ferry refuses to render on`);
  return s;
}

const runeCount = (s: string): number => [...s].length;

function writePadding(f: Fmt, n: number): string {
  return n > 0 ? (f.zero ? '0' : ' ').repeat(n) : '';
}

/** format.go's pad/padString: to the width in runes, left unless `-`; with zeros under `0`. */
function pad(f: Fmt, s: string): string {
  if (!f.wid) return s;
  const p = writePadding(f, f.wid - runeCount(s));
  return f.minus ? s + p : p + s;
}

/** `s` with the zero flag off (fmt's `oldZero := f.zero; f.zero = false`). */
function padNoZero(f: Fmt, s: string): string {
  return pad({ ...f, zero: false }, s);
}

// ── strconv ────────────────────────────────────────────────────────────────

/** strconv.CanBackquote. */
function canBackquote(s: string): boolean {
  for (const ch of s) {
    if (escapedByte(ch) !== undefined || ch === '\ufeff' || ch === '`' || ch === '\x7f') return false;
    if (ch < ' ' && ch !== '\t') return false;
  }
  return true;
}

const MAX_RUNE = 0x10ffffn;
/** A rune of an integer as fmt's fmtC/fmtQc take it: anything not a valid rune is U+FFFD. */
function runeOf(u: bigint): string {
  const c = u > MAX_RUNE ? 0xfffd : Number(u);
  return String.fromCodePoint(c >= 0xd800 && c <= 0xdfff ? 0xfffd : c);
}

const MASK64 = (1n << 64n) - 1n;

/** A float64's sign, mantissa (with the implicit bit) and binary exponent, as strconv's genericFtoa reads them. */
function floatBits(x: number): { neg: boolean; mant: bigint; exp: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const neg = bits >> 63n !== 0n;
  let exp = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  if (exp === 0) exp++;
  else mant |= 1n << 52n;
  return { neg, mant, exp: exp - 1023 };
}

/** strconv's fmtX: `-0x1.yyyyp±dd`, `prec` hexadecimal digits (all needed when negative). */
function formatHexFloat(x: number, verb: 'x' | 'X', prec: number): string {
  let { neg, mant, exp } = floatBits(x);
  if (mant === 0n) exp = 0;
  mant = (mant << 8n) & MASK64; // leading 1 (if any) at bit 60
  while (mant !== 0n && (mant & (1n << 60n)) === 0n) {
    mant <<= 1n;
    exp--;
  }
  if (prec >= 0 && prec < 15) {
    const shift = BigInt(prec * 4);
    const extra = (mant << shift) & ((1n << 60n) - 1n);
    mant >>= 60n - shift;
    if ((extra | (mant & 1n)) > 1n << 59n) mant++;
    mant <<= 60n - shift;
    if ((mant & (1n << 61n)) !== 0n) {
      mant >>= 1n;
      exp++;
    }
  }
  const digit = (m: bigint) => {
    const d = Number((m >> 60n) & 15n).toString(16);
    return verb === 'X' ? d.toUpperCase() : d;
  };
  let out = `${neg ? '-' : ''}0${verb}${Number((mant >> 60n) & 1n)}`;
  mant = (mant << 4n) & MASK64;
  if (prec < 0 && mant !== 0n) {
    out += '.';
    while (mant !== 0n) {
      out += digit(mant);
      mant = (mant << 4n) & MASK64;
    }
  } else if (prec > 0) {
    out += '.';
    for (let i = 0; i < prec; i++) {
      out += digit(mant);
      mant = (mant << 4n) & MASK64;
    }
  }
  const e = Math.abs(exp);
  return `${out}${verb === 'X' ? 'P' : 'p'}${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
}

/** strconv.FormatFloat(x, verb, prec, 64) for the verbs fmt passes it (e E f g G b x X). */
function strconvFloat(x: number, verb: string, prec: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  if (verb === 'b') {
    const { neg, mant, exp } = floatBits(x);
    const e = exp - 52;
    return `${neg ? '-' : ''}${mant}p${e >= 0 ? '+' : ''}${e}`;
  }
  if (verb === 'x' || verb === 'X') return formatHexFloat(x, verb, prec);
  const lower = verb.toLowerCase() as 'e' | 'f' | 'g';
  // fmt asks for the shortest digits (-1) only with %g/%G and %v
  const s = prec < 0 ? formatFloatG(x, 6) : formatFloatPrec(x, lower, prec);
  return verb === 'E' || verb === 'G' ? s.replace('e', 'E') : s;
}

// ── format.go ────────────────────────────────────────────────────────────────

/** fmtInteger: `u` the value (negative only when signed), digits in `base`. */
function fmtInteger(f: Fmt, n: bigint, base: number, verb: string, upper: boolean): string {
  const negative = n < 0n;
  const u = negative ? -n : n;
  let prec = 0;
  if (f.prec !== undefined) {
    prec = f.prec;
    // precision 0 and value 0 means "print nothing" but padding
    if (prec === 0 && u === 0n) return writePadding({ ...f, zero: false }, f.wid ?? 0);
  } else if (f.zero && f.wid !== undefined) {
    prec = f.wid;
    if (negative || f.plus || f.space) prec--; // room for the sign
  }
  let s = u.toString(base);
  if (upper) s = s.toUpperCase();
  if (s.length < prec) s = '0'.repeat(prec - s.length) + s;
  if (f.sharp) {
    if (base === 2) s = `0b${s}`;
    else if (base === 8 && s[0] !== '0') s = `0${s}`;
    else if (base === 16) s = `0${upper ? 'X' : 'x'}${s}`;
  }
  if (verb === 'O') s = `0o${s}`;
  if (negative) s = `-${s}`;
  else if (f.plus) s = `+${s}`;
  else if (f.space) s = ` ${s}`;
  return padNoZero(f, s);
}

/** fmtUnicode: `U+0078`, `U+0078 'x'` under `#`. */
function fmtUnicode(f: Fmt, u: bigint): string {
  let prec = 4;
  if (f.prec !== undefined && f.prec > 4) prec = f.prec;
  let s = `U+${u.toString(16).toUpperCase().padStart(prec, '0')}`;
  if (f.sharp && u <= MAX_RUNE) {
    const ch = String.fromCodePoint(Number(u));
    if (!(u >= 0xd800n && u <= 0xdfffn) && isPrint(ch)) s += ` '${ch}'`;
  }
  return padNoZero(f, s);
}

/** fmtFloat: strconv's digits, then the sign, `#`'s decimal point and zeros, and the padding. */
function fmtFloatF(f: Fmt, v: number, verb: string, dflt: number): string {
  const prec = f.prec !== undefined ? f.prec : dflt;
  let num = strconvFloat(v, verb, prec);
  if (num[0] === '-' || num[0] === '+') {
    /* signed already */
  } else num = `+${num}`;
  if (f.space && num[0] === '+' && !f.plus) num = ` ${num.slice(1)}`;
  // infinities and NaN are not padded with zeros; NaN has no sign unless asked for
  if (num[1] === 'I' || num[1] === 'N') {
    if (num[1] === 'N' && !f.space && !f.plus) num = num.slice(1);
    return padNoZero(f, num);
  }
  // `#`: a decimal point always, and %g's trailing zeros kept
  if (f.sharp && verb !== 'b') {
    let digits = 0;
    if (verb === 'v' || verb === 'g' || verb === 'G' || verb === 'x') digits = prec === -1 ? 6 : prec;
    let tail = '';
    let body = num;
    let hasPoint = false;
    let sawNonzero = false;
    for (let i = 1; i < body.length; i++) {
      const c = body[i];
      if (c === '.') hasPoint = true;
      else if (c === 'p' || c === 'P') {
        tail = body.slice(i);
        body = body.slice(0, i);
        break;
      } else if ((c === 'e' || c === 'E') && verb !== 'x' && verb !== 'X') {
        tail = body.slice(i);
        body = body.slice(0, i);
        break;
      } else {
        if (c !== '0') sawNonzero = true;
        if (sawNonzero) digits--;
      }
    }
    if (!hasPoint) {
      if (body.length === 2 && body[1] === '0') digits--;
      body += '.';
    }
    if (digits > 0) body += '0'.repeat(digits);
    num = body + tail;
  }
  if (f.plus || num[0] !== '+') {
    // zero padding goes after the sign
    if (f.zero && f.wid !== undefined && f.wid > num.length) return num[0] + writePadding(f, f.wid - num.length) + num.slice(1);
    return pad(f, num);
  }
  return pad(f, num.slice(1));
}

function truncate(f: Fmt, s: string): string {
  return f.prec === undefined ? s : [...s].slice(0, f.prec).join('');
}

/** fmtSbx: a string's or []byte's bytes in hexadecimal (`#` 0x, ` ` one per byte, precision = bytes). */
function fmtSbx(f: Fmt, bytes: Uint8Array, upper: boolean): string {
  let length = bytes.length;
  if (f.prec !== undefined && f.prec < length) length = f.prec;
  if (length <= 0) return f.wid !== undefined ? writePadding(f, f.wid) : '';
  const x = upper ? 'X' : 'x';
  let width = 2 * length;
  if (f.space) {
    if (f.sharp) width *= 2;
    width += length - 1;
  } else if (f.sharp) width += 2;
  let out = f.sharp ? `0${x}` : '';
  for (let i = 0; i < length; i++) {
    if (f.space && i > 0) out += f.sharp ? ` 0${x}` : ' ';
    const h = hex2(bytes[i]);
    out += upper ? h.toUpperCase() : h;
  }
  const p = f.wid !== undefined && f.wid > width ? writePadding(f, f.wid - width) : '';
  return f.minus ? out + p : p + out;
}

/** fmtQ: a double-quoted Go string, backquoted under `#` when it can be, ASCII only under `+`. */
function fmtQ(f: Fmt, s: string): string {
  s = truncate(f, s);
  if (f.sharp && canBackquote(s)) return pad(f, `\`${s}\``);
  return pad(f, goQuote(s, f.plus));
}

/** fmtQc: a single-quoted Go rune. */
function fmtQc(f: Fmt, u: bigint): string {
  const ch = runeOf(u);
  return pad(f, `'${escapeRune(ch, "'", f.plus)}'`);
}

// ── print.go ────────────────────────────────────────────────────────────────

class Printer {
  constructor(private readonly f: Fmt) {}

  /** badVerb: the operand's type and the operand printed as %v with the same flags (`%06.1f` of 1 is `%!f(int=     1)`). */
  private badVerb(verb: string, v: unknown): string {
    if (isNil(v)) return `%!${verb}(<nil>)`;
    return `%!${verb}(${goTypeName(v)}=${this.printValue(v, 'v', 0)})`;
  }

  private fmtBool(v: boolean, verb: string): string {
    return verb === 't' || verb === 'v' ? pad(this.f, String(v)) : this.badVerb(verb, v);
  }

  private fmtIntegerVerb(v: bigint, signed: boolean, verb: string, orig: unknown): string {
    const f = this.f;
    switch (verb) {
      case 'v':
        if (f.sharpV && !signed) return fmtInteger({ ...f, sharp: true }, v, 16, 'v', false);
        return fmtInteger(f, v, 10, verb, false);
      case 'd':
        return fmtInteger(f, v, 10, verb, false);
      case 'b':
        return fmtInteger(f, v, 2, verb, false);
      case 'o':
      case 'O':
        return fmtInteger(f, v, 8, verb, false);
      case 'x':
        return fmtInteger(f, v, 16, verb, false);
      case 'X':
        return fmtInteger(f, v, 16, verb, true);
      case 'c':
        return pad(f, runeOf(v < 0n ? v & MASK64 : v));
      case 'q':
        return fmtQc(f, v < 0n ? v & MASK64 : v);
      case 'U':
        return fmtUnicode(f, v < 0n ? v & MASK64 : v);
      default:
        return this.badVerb(verb, orig);
    }
  }

  private fmtFloat(v: number, verb: string): string {
    switch (verb) {
      case 'v':
        return fmtFloatF(this.f, v, 'g', -1);
      case 'b':
      case 'g':
      case 'G':
      case 'x':
      case 'X':
        return fmtFloatF(this.f, v, verb, -1);
      case 'f':
      case 'e':
      case 'E':
        return fmtFloatF(this.f, v, verb, 6);
      case 'F':
        return fmtFloatF(this.f, v, 'f', 6);
      default:
        return this.badVerb(verb, v);
    }
  }

  private fmtString(v: string, verb: string): string {
    const f = this.f;
    switch (verb) {
      case 'v':
        return f.sharpV ? fmtQ(f, v) : pad(f, truncate(f, v));
      case 's':
        return pad(f, truncate(f, v));
      case 'x':
      case 'X':
        return fmtSbx(f, goBytesOf(v), verb === 'X');
      case 'q':
        return fmtQ(f, v);
      default:
        return this.badVerb(verb, v);
    }
  }

  private fmtBytes(v: Uint8Array, verb: string, depth: number): string {
    const f = this.f;
    switch (verb) {
      case 'v':
      case 'd':
        if (f.sharpV) return `[]byte{${[...v].map((c) => fmtInteger({ ...f, sharp: true }, BigInt(c), 16, 'v', false)).join(', ')}}`;
        return `[${[...v].map((c) => charged(fmtInteger(f, BigInt(c), 10, verb, false))).join(' ')}]`;
      case 's':
        return pad(f, truncate(f, goStringOf(v)));
      case 'x':
      case 'X':
        return fmtSbx(f, v, verb === 'X');
      case 'q':
        return fmtQ(f, goStringOf(v));
      default:
        return `[${[...v].map((c) => charged(this.printValue(new GoSizedInt(BigInt(c), 'uint8'), verb, depth + 1))).join(' ')}]`;
    }
  }

  /** printArg: the operand at the top (%T first, then a Stringer, then by kind). */
  printArg(v: unknown, verb: string): string {
    const f = this.f;
    if (isNil(v)) return verb === 'T' || verb === 'v' ? pad(f, '<nil>') : this.badVerb(verb, v);
    if (verb === 'T') return pad(f, truncate(f, goTypeName(v)));
    return this.handleMethods(v, verb) ?? this.printValue(v, verb, 0);
  }

  /** handleMethods: a Stringer prints its String() under %v %s %x %X %q (never under %#v). */
  private handleMethods(v: unknown, verb: string): string | undefined {
    if (!(v instanceof GoStruct) || v instanceof GoTypedSlice || v instanceof GoTypedMap || !v.goString || !v.goFields) return undefined;
    if (this.f.sharpV || !'vsxXq'.includes(verb)) return undefined;
    return this.fmtString(v.goString(), verb);
  }

  /** printValue: by the value's kind; elements of lists and maps one level down. */
  printValue(v: unknown, verb: string, depth: number): string {
    const f = this.f;
    if (depth > 0) {
      // an interface{} holding nil, in a list or map: `<nil>` whatever the verb
      if (isNil(v)) return f.sharpV ? 'interface {}(nil)' : '<nil>';
      const handled = this.handleMethods(v, verb);
      if (handled !== undefined) return handled;
    }
    if (typeof v === 'boolean') return this.fmtBool(v, verb);
    if (typeof v === 'number') return this.fmtFloat(v, verb);
    if (typeof v === 'bigint') return this.fmtIntegerVerb(v, true, verb, v);
    if (v instanceof GoSizedInt) return this.fmtIntegerVerb(v.n, v.type === 'int64', verb, v);
    if (typeof v === 'string') return this.fmtString(v, verb);
    if (v instanceof Uint8Array) return depth === 0 ? this.fmtBytes(v, verb, depth) : this.printArgBytesNested(v, verb, depth);
    const list = Array.isArray(v) ? v : v instanceof GoTypedSlice ? v.list : undefined;
    if (list) {
      const nil = v instanceof GoTypedSlice && v.goNil;
      if (f.sharpV) {
        if (nil) return `${goTypeName(v)}(nil)`;
        return `${goTypeName(v)}{${list.map((x) => charged(this.printValue(x, verb, depth + 1))).join(', ')}}`;
      }
      return `[${list.map((x) => charged(this.printValue(x, verb, depth + 1))).join(' ')}]`;
    }
    const map = v instanceof GoTypedMap ? v.entries : isMap(v) ? v : undefined;
    if (map) {
      const nil = v instanceof GoTypedMap ? v.goNil : isNilMap(v);
      const keys = Object.keys(map).sort();
      if (f.sharpV) {
        if (nil) return `${goTypeName(v)}(nil)`;
        return `${goTypeName(v)}{${keys.map((k) => `${charged(this.printValue(k, verb, depth + 1))}:${charged(this.printValue(map[k], verb, depth + 1))}`).join(', ')}}`;
      }
      return `map[${keys.map((k) => `${charged(this.printValue(k, verb, depth + 1))}:${charged(this.printValue(map[k], verb, depth + 1))}`).join(' ')}]`;
    }
    if (v instanceof GoStruct && v.goFields) {
      // a struct, or a pointer to one (&{fields}): each field printed with the verb (names under
      // %+v and %#v), as a copy (a field's pointer-receiver String is not its type's)
      const fields = v.goFields();
      const pointer = v.goType.startsWith('*');
      const type = pointer ? v.goType.slice(1) : v.goType;
      const parts = fields.map(([name, x]) => `${f.plusV || f.sharpV ? `${name}:` : ''}${charged(this.printValue(goCopyOf(x), verb, depth + 1))}`);
      return `${pointer ? '&' : ''}${f.sharpV ? type : ''}{${parts.join(f.sharpV ? ', ' : ' ')}}`;
    }
    // Helm's other structs (.Release, .Chart, .Capabilities): as they print under %v
    if ('vs'.includes(verb)) return pad(f, formatV(v));
    return `%!${verb}(${goTypeName(v)}=${formatV(v)})`;
  }

  /** A []byte inside a list: printValue's []uint8, as fmtBytes prints it but for its type's name under %#v. */
  private printArgBytesNested(v: Uint8Array, verb: string, depth: number): string {
    const s = this.fmtBytes(v, verb, depth);
    return this.f.sharpV ? s.replace(/^\[\]byte/, '[]uint8') : s;
  }
}


/** fmt.Sprintf over Go values. */
export function goSprintf(format: string, args: unknown[]): string {
  formatted = 0;
  let out = '';
  let argi = 0;
  let i = 0;
  // fmt's explicit argument indexes (`%[2]v %[1]v`, `%[1]*[2]d`): printArg's argNumber. Once one is
  // used, leftover arguments are no longer reported as EXTRA; an index out of range is BADINDEX.
  let reordered = false;
  let good = true;
  let afterIndex = false;
  const argNumber = (): void => {
    if (format[i] !== '[') {
      afterIndex = false;
      return;
    }
    reordered = true;
    // parseArgNumber: `[n]` with n one-based; at least three bytes
    let ok = false;
    let index = 0;
    let wid = 1;
    if (format.length - i >= 3) {
      const close = format.indexOf(']', i + 1);
      if (close >= 0) {
        wid = close - i + 1;
        const digits = format.slice(i + 1, close);
        if (/^[0-9]+$/.test(digits) && digits.length <= 7) {
          ok = true;
          index = Number(digits) - 1;
        }
      }
    }
    i += wid;
    afterIndex = ok;
    if (ok && index >= 0 && index < args.length) argi = index;
    else good = false;
  };
  while (i < format.length) {
    const ch = format[i];
    if (ch !== '%') {
      out += ch;
      i++;
      continue;
    }
    i++;
    if (i >= format.length) {
      out += '%!(NOVERB)';
      break;
    }
    good = true;
    const f: Fmt = { minus: false, plus: false, sharp: false, zero: false, space: false, plusV: false, sharpV: false };
    for (; i < format.length; i++) {
      const c = format[i];
      if (c === '-') {
        f.minus = true;
        f.zero = false; // no padding with zeros to the right
      } else if (c === '+') f.plus = true;
      else if (c === '#') f.sharp = true;
      else if (c === '0') f.zero = !f.minus;
      else if (c === ' ') f.space = true;
      else break;
    }
    // fmt's parsenum and intFromArg: a width or precision past 1e6 is refused, not padded to
    // (`%0999999999d` asked for a gigabyte of zeros; Go prints %!(NOVERB) / %!(BADWIDTH) instead)
    let overflow = false;
    const num = (): number | undefined => {
      let n = 0;
      let seen = false;
      for (; i < format.length && format[i] >= '0' && format[i] <= '9'; i++) {
        if (n > 1e6) {
          overflow = true;
          i = format.length;
          return undefined;
        }
        n = n * 10 + Number(format[i]);
        seen = true;
      }
      return seen ? n : undefined;
    };
    const fromArg = (): number | undefined => {
      i++;
      const a = args[argi++];
      const n = a instanceof GoSizedInt ? a.n : typeof a === 'bigint' ? a : undefined;
      if (n === undefined || n > 1_000_000n || n < -1_000_000n) return undefined;
      return Number(n);
    };
    argNumber();
    if (format[i] === '*') {
      afterIndex = false;
      f.wid = fromArg();
      if (f.wid === undefined) out += '%!(BADWIDTH)';
      else if (f.wid < 0) {
        f.wid = -f.wid;
        f.minus = true;
        f.zero = false;
      }
    } else {
      f.wid = num();
      if (afterIndex && f.wid !== undefined) good = false; // "%[3]2d"
    }
    if (i + 1 < format.length && format[i] === '.') {
      i++;
      if (afterIndex) good = false; // "%[3].2d"
      argNumber();
      if (format[i] === '*') {
        afterIndex = false;
        f.prec = fromArg();
        if (f.prec !== undefined && f.prec < 0) f.prec = undefined;
        if (f.prec === undefined) out += '%!(BADPREC)';
      } else f.prec = num() ?? 0;
    }
    if (!afterIndex) argNumber();
    if (overflow || i >= format.length) {
      out += '%!(NOVERB)';
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (!good) {
      out += `%!${verb}(BADINDEX)`;
      continue;
    }
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    // doPrintf: under %v, # is Go syntax (sharpV) and + field names (plusV), not the flags
    if (verb === 'v') {
      if (f.sharp) {
        f.sharp = false;
        f.sharpV = true;
      }
      if (f.plus) {
        f.plus = false;
        f.plusV = true;
      }
    }
    out += charged(new Printer(f).printArg(args[argi++], verb));
  }
  if (!reordered && argi < args.length) {
    out += `%!(EXTRA ${args
      .slice(argi)
      .map((a) => `${goTypeName(a)}=${formatV(a)}`)
      .join(', ')})`;
  }
  return out;
}
