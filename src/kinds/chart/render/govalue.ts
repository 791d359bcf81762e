/**
 * Go values as the template engine sees them, in JavaScript:
 *
 * - nil: `null` or `undefined`
 * - bool: boolean; string: string
 * - float64: number (every number in Helm values is a float64, as encoding/json gives it)
 * - int: bigint (template literals like `1`, `len`, `atoi`, `int`, `until`'s elements)
 * - int64, uint64, uint8: a GoSizedInt of that type (int64: sprig's arithmetic `add` `sub` `mul`
 *   `div` `mod` `add1` `max` `min`, `int64`, `toDecimal`, Helm's `--set` integers; uint64: a semver's
 *   `Major`, `Minor`, `Patch`; uint8: a byte, `index "ab" 0`): Go keeps them apart (`%T`, `typeOf`,
 *   `kindOf`, `deepEqual`, `has`, `uniq`, an `int` parameter refusing them), so ferry does;
 *   `intValue` reads any of them
 * - map[string]interface{}: a plain object; []interface{}: an array; []byte: Uint8Array
 * - structs with fields and methods (`.Release`, `.Files`, `.Capabilities`): GoStruct instances
 */

export type GoValue = unknown;

/** A Go struct: named fields are own properties, methods are functions on the instance. */
export class GoStruct {
  constructor(
    readonly goType: string,
    fields: Record<string, unknown> = {},
  ) {
    Object.assign(this, fields);
  }
  /** fmt's Stringer, when the struct has a String method. */
  goString?(): string;
  /** For Go map/slice types with methods (engine.files, VersionSet): their length (len, truth). */
  goLen?(): number;
  /** For Go named slice types (chartutil.VersionSet is a []string): the elements, so list functions take them. */
  goSlice?(): unknown[];
  /** For Go named map types (engine.files): the entries, which range, json and yaml see. */
  goRange?(): Record<string, unknown>;
  /** For Go map types: the zero value of the element type, what a missing key gives (`.m.missing`, `index`). */
  declare goZero?: unknown;
  /** encoding/json's Marshaler (`*semver.Version`, `time.Time`): the value written instead of the fields. */
  goMarshal?(): unknown;
  /** A nil slice or map of a Go type: len 0, prints `[]`/`map[]`, but encoding/json writes `null`. */
  declare goNil?: boolean;
  /**
   * For a pointer to a Go struct with a String method (`*semver.Version`): its fields, in order,
   * which fmt prints as `&{…}` under a verb the Stringer does not take (`printf "%d"`).
   */
  goFields?(): [string, unknown][];
  /**
   * For a struct value Go reaches through a pointer (`.Capabilities.KubeVersion`): it is
   * addressable there, so its pointer-receiver methods (String, GitVersion) are found and `{{ }}`
   * prints it through String; a function, `include` or a struct's printed field receives a copy,
   * which has neither. This gives that copy.
   */
  goCopy?(): GoStruct;
}

/** What a function receives for a value (a copy, for an addressable struct: see GoStruct.goCopy). */
export const goCopyOf = (v: unknown): unknown => (v instanceof GoStruct && v.goCopy ? v.goCopy() : v);

/** Properties of the JS form that are no Go field (not printed, not a template's `.field`). */
function hide(o: object, props: Record<string, unknown>): void {
  for (const [k, value] of Object.entries(props)) Object.defineProperty(o, k, { value, enumerable: false, writable: true });
}

/** Names of GoStruct's own machinery, never a Go field or method a template can reach. */
export const GO_INTERNAL = new Set(['constructor', 'goType', 'goString', 'goLen', 'goSlice', 'goRange', 'goZero', 'goNil', 'goMarshal', 'goFields', 'goCopy', 'list', 'entries', 'jsonNames']);

/**
 * A Go slice of a type other than []interface{} (`.Chart.Keywords` is a []string,
 * `.Chart.Maintainers` a []*chart.Maintainer): list functions take it, `typeOf` names it, and a
 * nil one (a Chart.yaml without the field) still prints `[]` and is a list to `rest`, as in Helm.
 */
export class GoTypedSlice extends GoStruct {
  constructor(
    goType: string,
    readonly list: unknown[],
    nil = false,
  ) {
    super(goType);
    hide(this, { list, goNil: nil });
  }
  override goLen = () => this.list.length;
  override goSlice = () => this.list;
  override goString = () => `[${this.list.map((x) => formatV(x, false)).join(' ')}]`;
}

/**
 * A Go map of a type other than map[string]interface{} (`.Chart.Annotations` is a
 * map[string]string): fields, `index`, `range`, `len` and the encoders see its entries, a missing
 * key gives the element's zero value, and sprig's map functions (`pluck`, `hasKey`, `keys`…),
 * which take map[string]interface{}, refuse it as Go does.
 */
export class GoTypedMap extends GoStruct {
  constructor(
    goType: string,
    readonly entries: Record<string, unknown>,
    zero: unknown,
    nil = false,
  ) {
    super(goType);
    hide(this, { entries, goZero: zero, goNil: nil });
  }
  override goLen = () => Object.keys(this.entries).length;
  override goRange = () => this.entries;
  override goString = () => formatV(this.entries);
}

/**
 * Lists of a Go slice type other than []interface{} that sprig's functions return (`until` gives
 * an []int, `splitList`, `keys`, `regexFindAll` & co. a []string): still JS arrays, so every list
 * function takes them; `typeOf` names the type and `deepEqual` tells them from an []interface{}.
 */
const LIST_TYPES = new WeakMap<unknown[], string>();
export function typedList<T extends unknown[]>(list: T, elem: 'int' | 'string'): T {
  LIST_TYPES.set(list, `[]${elem}`);
  return list;
}
/** `to`, of `from`'s Go slice type (reflect's Slice and copystructure keep it). */
export function sameListType<T extends unknown[]>(from: unknown[], to: T): T {
  const t = LIST_TYPES.get(from);
  if (t !== undefined) LIST_TYPES.set(to, t);
  return to;
}

/**
 * A nil map[string]interface{} that a function returned (`merge nil nil`): a map to every
 * function (prints `map[]`, len 0, `typeOf` map[string]interface {}), but encoding/json writes `null`.
 */
const NIL_MAPS = new WeakSet<object>();
export function nilMap(): Record<string, unknown> {
  const m = {};
  NIL_MAPS.add(m);
  return m;
}
/** A nil map (still empty: whatever filled it made it a map). */
export function isNilMap(v: unknown): boolean {
  return typeof v === 'object' && v !== null && NIL_MAPS.has(v) && Object.keys(v).length === 0;
}

/** The elements of a Go slice: a JS array, or a named slice type such as chartutil.VersionSet. */
export function asSlice(v: unknown): unknown[] | undefined {
  if (Array.isArray(v)) return v;
  if (v instanceof GoStruct && v.goSlice) return v.goSlice();
  return undefined;
}

/**
 * Maps of Helm's named map type chartutil.Values (every chart's `.Values`, and what its `Table`
 * returns), with their methods (`AsMap`, `Table`, `YAML`, `PathValue`). In Go a method wins over a
 * map key of the same name: `.Values.AsMap` calls the method.
 */
const CHART_VALUES = new WeakMap<object, Record<string, (...args: unknown[]) => unknown>>();
export function markChartValues<T extends object>(m: T, methods: Record<string, (...args: unknown[]) => unknown>): T {
  CHART_VALUES.set(m, methods);
  return m;
}
/** The methods of a chartutil.Values map, undefined for any other value. */
export function chartValuesMethods(v: unknown): Record<string, (...args: unknown[]) => unknown> | undefined {
  return typeof v === 'object' && v !== null ? CHART_VALUES.get(v) : undefined;
}

export function isNil(v: unknown): v is null | undefined {
  return v === null || v === undefined;
}

export function isMap(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof GoStruct || v instanceof Uint8Array) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export function isList(v: unknown): v is unknown[] {
  return Array.isArray(v);
}

/**
 * A Go integer of a sized type, kept apart from Go's int (a bigint): int64 (sprig's functions
 * declared to return int64 wrap their result in `int64Of`), uint64 (`uint64Of`: a semver's fields)
 * and uint8 (`uint8Of`: a byte of a string or a []byte). Every other integer is an int. `valueOf`
 * gives the bigint, so `<`, `+`, `Number()` and `BigInt()` read it as they read an int; a type test
 * must use `isInt`/`intValue` (any integer) or `.type`, never `typeof v === 'bigint'`.
 */
export class GoSizedInt {
  constructor(
    readonly n: bigint,
    readonly type: 'int64' | 'uint64' | 'uint8',
  ) {}
  valueOf(): bigint {
    return this.n;
  }
  toString(): string {
    return this.n.toString();
  }
}

/** A Go int64 of this value (wrapped to 64 bits, as Go's arithmetic wraps). */
export const int64Of = (n: bigint): GoSizedInt => new GoSizedInt(BigInt.asIntN(64, n), 'int64');
/** A Go uint64 of this value (wrapped to 64 bits). */
export const uint64Of = (n: bigint): GoSizedInt => new GoSizedInt(BigInt.asUintN(64, n), 'uint64');
/** A Go uint8 (a byte) of this value (wrapped to 8 bits). */
export const uint8Of = (n: bigint | number): GoSizedInt => new GoSizedInt(BigInt.asUintN(8, BigInt(n)), 'uint8');
/** Whether `v` is a Go int64 (sprig's type switches that take an int64 and nothing else: `duration`). */
export const isInt64 = (v: unknown): v is GoSizedInt => v instanceof GoSizedInt && v.type === 'int64';

/** An int or a sized integer (int64, uint64, uint8). */
export function isInt(v: unknown): v is bigint | GoSizedInt {
  return typeof v === 'bigint' || v instanceof GoSizedInt;
}

/** The value of an int or a sized integer; undefined for anything else. */
export function intValue(v: unknown): bigint | undefined {
  return typeof v === 'bigint' ? v : v instanceof GoSizedInt ? v.n : undefined;
}

export function isNumber(v: unknown): v is number | bigint | GoSizedInt {
  return typeof v === 'number' || isInt(v);
}

/** [type name, reflect.Kind] of the JS forms of basic Go values. */
const BASIC: Record<string, [string, string]> = {
  string: ['string', 'string'],
  boolean: ['bool', 'bool'],
  number: ['float64', 'float64'],
  bigint: ['int', 'int'],
  function: ['func', 'func'],
};

/** Go's type name, for messages and `typeOf`. */
export function goTypeName(v: unknown): string {
  if (isNil(v)) return '<nil>';
  if (BASIC[typeof v]) return BASIC[typeof v][0];
  if (v instanceof GoSizedInt) return v.type;
  if (Array.isArray(v)) return LIST_TYPES.get(v) ?? '[]interface {}';
  if (v instanceof Uint8Array) return '[]uint8';
  if (v instanceof GoStruct) return v.goType;
  if (chartValuesMethods(v)) return 'chartutil.Values';
  return 'map[string]interface {}';
}

/** reflect.Kind names as sprig's kindOf reports them. */
export function goKind(v: unknown): string {
  if (isNil(v)) return 'invalid';
  if (BASIC[typeof v]) return BASIC[typeof v][1];
  if (v instanceof GoSizedInt) return v.type;
  if (Array.isArray(v) || v instanceof Uint8Array) return 'slice';
  if (v instanceof GoStruct) return v.goSlice ? 'slice' : v.goRange ? 'map' : v.goType.startsWith('*') ? 'ptr' : 'struct';
  return 'map';
}

/** text/template's truth: the zero value of its type is false. */
export function truthy(v: unknown): boolean {
  if (isNil(v)) return false;
  switch (typeof v) {
    case 'boolean':
      return v;
    case 'string':
      return v.length > 0;
    case 'number':
      return v !== 0;
    case 'bigint':
      return v !== 0n;
  }
  if (v instanceof GoSizedInt) return v.n !== 0n;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Uint8Array) return v.length > 0;
  if (v instanceof GoStruct) return v.goLen ? v.goLen() > 0 : true;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}

/** sprig's `empty` (the same as not truthy, except for structs). */
export function isEmpty(v: unknown): boolean {
  return !truthy(v);
}

// ── formatting numbers the way Go does ─────────────────────────────────────────

function expParts(x: number, prec?: number): { digits: string; exp: number; neg: boolean } {
  const s = prec === undefined ? Math.abs(x).toExponential() : Math.abs(x).toExponential(prec);
  const [mant, e] = s.split('e');
  return { digits: mant.replace('.', ''), exp: Number(e), neg: x < 0 || Object.is(x, -0) };
}

function goExp(exp: number): string {
  const sign = exp < 0 ? '-' : '+';
  const a = Math.abs(exp);
  return `e${sign}${a < 10 ? '0' : ''}${a}`;
}

/** strconv.FormatFloat(x, 'g', -1, 64): shortest digits; exponent when exp < -4 or exp >= the limit (6 for 'g'). */
export function formatFloatG(x: number, shortestExpLimit = 21): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const { digits, exp, neg } = expParts(x);
  let out: string;
  if (exp < -4 || exp >= shortestExpLimit) {
    out = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}${goExp(exp)}` : `${digits}${goExp(exp)}`;
  } else if (exp < 0) {
    out = `0.${'0'.repeat(-exp - 1)}${digits}`;
  } else if (digits.length <= exp + 1) {
    out = digits + '0'.repeat(exp + 1 - digits.length);
  } else {
    out = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  }
  return neg ? `-${out}` : out;
}

/** fmt's %v of a float64 (strconv 'g', -1): shortest digits, exponent when exp < -4 or exp >= 6 (1e+06). */
export function formatFloatV(x: number): string {
  return formatFloatG(x, 6);
}

/** The exact decimal digits of |x| (a float64 is a dyadic rational) and where the point goes. */
function exactDigits(x: number): { digits: string; point: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(x));
  const bits = view.getBigUint64(0);
  const expBits = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  let e2 = -1074;
  if (expBits !== 0) {
    mant |= 1n << 52n;
    e2 = expBits - 1075;
  }
  if (e2 >= 0) {
    const digits = (mant << BigInt(e2)).toString();
    return { digits, point: digits.length };
  }
  const k = -e2;
  const digits = (mant * 5n ** BigInt(k)).toString().padStart(k + 1, '0');
  return { digits, point: digits.length - k };
}

/** `digits` rounded to `keep` of them, half to even as strconv rounds: the digits and whether they grew by one. */
function roundHalfEven(digits: string, keep: number): { digits: string; grew: boolean } {
  if (keep >= digits.length) return { digits: digits.padEnd(keep, '0'), grew: false };
  const kept = digits.slice(0, keep);
  const next = digits[keep];
  const rest = digits.slice(keep + 1);
  const odd = keep > 0 && Number(kept[keep - 1]) % 2 === 1;
  const up = next > '5' || (next === '5' && (/[1-9]/.test(rest) || odd));
  if (!up) return { digits: kept, grew: false };
  const inc = (BigInt(kept || '0') + 1n).toString().padStart(keep, '0');
  return { digits: inc, grew: inc.length > keep };
}

/** Significant digits of |x| rounded to `n` (half to even) and the decimal exponent of the first. */
function sigDigits(x: number, n: number): { digits: string; exp: number } {
  const { digits, point } = exactDigits(x);
  const first = digits.search(/[1-9]/);
  const r = roundHalfEven(digits.slice(first), n);
  return { digits: r.grew ? r.digits.slice(0, n) : r.digits, exp: point - first - 1 + (r.grew ? 1 : 0) };
}

/** %e / %f / %g with a precision: the exact value rounded half to even, as strconv does (JavaScript's toFixed rounds 2.5 up). */
export function formatFloatPrec(x: number, verb: 'e' | 'f' | 'g', prec: number): string {
  if (!Number.isFinite(x)) return formatFloatG(x);
  const neg = x < 0 || Object.is(x, -0);
  if (verb === 'f') {
    const { digits, point } = exactDigits(x);
    const r = roundHalfEven(digits, point + prec);
    const intLen = point + (r.grew ? 1 : 0);
    const whole = r.digits.slice(0, intLen).replace(/^0+(?=\d)/, '') || '0';
    const frac = r.digits.slice(intLen);
    return `${neg ? '-' : ''}${whole}${prec > 0 ? `.${frac}` : ''}`;
  }
  if (verb === 'e') {
    if (x === 0) return `${neg ? '-' : ''}0${prec > 0 ? `.${'0'.repeat(prec)}` : ''}e+00`;
    const { digits, exp } = sigDigits(x, prec + 1);
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${neg ? '-' : ''}${m}${goExp(exp)}`;
  }
  // %g with precision: significant digits, trailing zeros dropped
  const p = prec === 0 ? 1 : prec;
  if (x === 0) return neg ? '-0' : '0';
  const { digits, exp } = sigDigits(x, p);
  const d = digits.replace(/0+$/, '') || '0';
  let out: string;
  if (exp < -4 || exp >= p) out = d.length > 1 ? `${d[0]}.${d.slice(1)}${goExp(exp)}` : `${d}${goExp(exp)}`;
  else if (exp < 0) out = `0.${'0'.repeat(-exp - 1)}${d}`;
  else if (d.length <= exp + 1) out = d + '0'.repeat(exp + 1 - d.length);
  else out = `${d.slice(0, exp + 1)}.${d.slice(exp + 1)}`;
  return neg ? `-${out}` : out;
}

/** fmt.Sprint-style %v of any Go value. */
export function formatV(v: unknown, top = true): string {
  if (isNil(v)) return '<nil>';
  switch (typeof v) {
    case 'string':
      return v;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      return formatFloatV(v);
    case 'bigint':
      return v.toString();
    case 'function':
      return '0x0';
  }
  if (v instanceof GoSizedInt) return v.n.toString();
  if (Array.isArray(v)) return `[${v.map((x) => formatV(x, false)).join(' ')}]`;
  if (v instanceof Uint8Array) return `[${[...v].join(' ')}]`;
  if (v instanceof GoStruct) {
    if (v.goString) return v.goString();
    const fields = Object.keys(v).filter((k) => k !== 'goType' && typeof (v as unknown as Record<string, unknown>)[k] !== 'function');
    // a field is printed as a copy (fmt's handleMethods sees the field's type, not a pointer to it)
    return `{${fields.map((k) => formatV(goCopyOf((v as unknown as Record<string, unknown>)[k]), false)).join(' ')}}`;
  }
  if (isMap(v)) {
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${formatV(v[k], false)}`).join(' ')}]`;
  }
  void top;
  return String(v);
}

/** An escaped byte of a Go string (govalue's surrogateescape), or undefined for a real character. */
export function escapedByte(ch: string): number | undefined {
  const c = ch.codePointAt(0)!;
  return ch.length === 1 && c >= 0xdc80 && c <= 0xdcff ? c - 0xdc00 : undefined;
}

/** strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space. */
const PRINT = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
export const isPrint = (ch: string): boolean => PRINT.test(ch);

export const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/** strconv's appendEscapedRune for one character (`ascii`: QuoteToASCII). */
export function escapeRune(ch: string, quote: string, ascii: boolean): string {
  const c = ch.codePointAt(0)!;
  if (ch === quote || ch === '\\') return `\\${ch}`;
  if (ascii ? c < 0x80 && isPrint(ch) : isPrint(ch)) return ch;
  switch (c) {
    case 7:
      return '\\a';
    case 8:
      return '\\b';
    case 12:
      return '\\f';
    case 10:
      return '\\n';
    case 13:
      return '\\r';
    case 9:
      return '\\t';
    case 11:
      return '\\v';
  }
  if (c < 0x20 || c === 0x7f) return `\\x${hex2(c)}`;
  // a lone surrogate is no valid rune: U+FFFD
  const r = c >= 0xd800 && c <= 0xdfff ? 0xfffd : c;
  return r < 0x10000 ? `\\u${r.toString(16).padStart(4, '0')}` : `\\U${r.toString(16).padStart(8, '0')}`;
}

/** strconv.Quote (`ascii`: QuoteToASCII): an invalid byte is `\xff`. */
export function goQuote(s: string, ascii = false): string {
  let out = '"';
  for (const ch of s) {
    const b = escapedByte(ch);
    out += b !== undefined ? `\\x${hex2(b)}` : escapeRune(ch, '"', ascii);
  }
  return `${out}"`;
}

/** fmt.Sprint: a space between operands when neither is a string. */
export function goSprint(args: unknown[]): string {
  let out = '';
  for (let i = 0; i < args.length; i++) {
    if (i > 0 && typeof args[i] !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += formatV(args[i]);
  }
  return out;
}

export function goSprintln(args: unknown[]): string {
  return `${args.map((a) => formatV(a)).join(' ')}\n`;
}

/** Deep copy of plain Go data (maps, lists); structs and functions are shared. */
/** Assign without tripping over `__proto__`. */
export function setKey(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

export function deepCopy<T>(v: T): T {
  if (Array.isArray(v)) return sameListType(v, v.map((x) => deepCopy(x))) as T;
  // copystructure copies a nil map as a nil map (`deepCopy (merge nil nil) | toJson` is null)
  if (isNilMap(v)) return nilMap() as T;
  if (isMap(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) setKey(out, k, deepCopy(x));
    return out as T;
  }
  return v;
}

/** Go's == on basic values (and reflect.DeepEqual-ish for the rest). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (isNil(a) || isNil(b)) return isNil(a) && isNil(b);
  if (typeof a !== typeof b) return false;
  if (a instanceof GoSizedInt || b instanceof GoSizedInt) return a instanceof GoSizedInt && b instanceof GoSizedInt && a.type === b.type && a.n === b.n;
  if (Array.isArray(a)) return Array.isArray(b) && LIST_TYPES.get(a) === LIST_TYPES.get(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isMap(a)) {
    if (!isMap(b)) return false;
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return a === b;
}

/*
 * A Go string is bytes, a JavaScript string UTF-16. Text that is valid UTF-8 is the same either
 * way; each byte of a file that is not (`.Files.Get "files/crds.bz2" | b64enc`) is kept as a lone
 * surrogate U+DC80–U+DCFF (Python's surrogateescape) so that the functions reading a string's
 * bytes (b64enc, sha256sum, len, index, slice) see the bytes the file holds, not U+FFFD.
 */
const ESCAPE_BASE = 0xdc00;
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** A Go string of these bytes. */
export function goStringOf(b: Uint8Array): string {
  try {
    return utf8Strict.decode(b);
  } catch {
    /* not UTF-8: below, byte by byte */
  }
  let out = '';
  let i = 0;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => k < b.length && b[k] >= lo && b[k] <= hi;
  while (i < b.length) {
    const c = b[i];
    // utf8.DecodeRune's accept ranges: no overlong forms, no surrogates, nothing above U+10FFFF.
    let n = 0;
    if (c < 0x80) n = 1;
    else if (c >= 0xc2 && c <= 0xdf) n = cont(i + 1) ? 2 : 0;
    else if (c >= 0xe0 && c <= 0xef) n = cont(i + 1, c === 0xe0 ? 0xa0 : 0x80, c === 0xed ? 0x9f : 0xbf) && cont(i + 2) ? 3 : 0;
    else if (c >= 0xf0 && c <= 0xf4) n = cont(i + 1, c === 0xf0 ? 0x90 : 0x80, c === 0xf4 ? 0x8f : 0xbf) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    if (n) {
      out += Buffer.from(b.subarray(i, i + n)).toString('utf8');
      i += n;
    } else {
      out += String.fromCharCode(ESCAPE_BASE + c);
      i += 1;
    }
  }
  return out;
}

/** The bytes of a Go string (the inverse of goStringOf). */
export function goBytesOf(s: string): Buffer {
  if (!/[\udc80-\udcff]/.test(s)) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    // a low surrogate after a high one is half of a real character, not an escaped byte
    if (u >= 0xdc80 && u <= 0xdcff && !(i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff)) {
      parts.push(Buffer.from(s.slice(start, i), 'utf8'), Buffer.of(u - ESCAPE_BASE));
      start = i + 1;
    }
  }
  parts.push(Buffer.from(s.slice(start), 'utf8'));
  return Buffer.concat(parts);
}
