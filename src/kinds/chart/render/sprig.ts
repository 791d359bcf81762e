/**
 * The sprig v3 function library (TxtFuncMap, without `env`/`expandenv`, which Helm removes), over
 * JavaScript Go values. Arguments are converted the way sprig and Go's reflection do for the
 * charts that work with Helm; where Go would reject an argument's type, this is lenient and says so
 * only through the result (documented in README.md next to this file).
 *
 * Deterministic by design: `now` is a fixed instant (2000-01-01T00:00:00Z); the random functions
 * (`randAlphaNum`, `uuidv4`, `shuffle`, …) draw from a fixed-seed generator; `genCA`,
 * `genPrivateKey`, `genSelfSignedCert`, `genSignedCert`, `bcrypt`, `htpasswd`, `encryptAES`,
 * `derivePassword` return placeholder text with the right shape (PEM blocks, hash prefixes), never
 * real keys. Rendering is for seeing what a chart deploys, not for installing it.
 */
import { createHash } from 'node:crypto';
import semver from 'semver';
import { FuncError, type GoFunc } from './exec.js';
import { goJsonSyntaxError } from './gojson.js';
import { goSprintf } from './gofmt.js';
import {
  deepCopy,
  deepEqual,
  formatV,
  goBytesOf,
  goKind,
  goStringOf,
  GoStruct,
  chartValuesMethods,
  goTypeName,
  asSlice,
  isEmpty,
  GoSizedInt,
  GoTypedMap,
  isInt64,
  uint64Of,
  uint8Of,
  int64Of,
  isInt,
  isNilMap,
  nilMap,
  sameListType,
  typedList,
  isMap,
  isNil,
} from './govalue.js';
import { goJson, setKey } from './goyaml.js';
import { goFindAll, goRegex, GoRegexError, goReplaceAll, goSplit } from './regex.js';
import { abbreviateFull, decimalFold, deleteWhiteSpace, durationRound, goDurationString, goFloatToInt64, goInt64, goParseInt, parseGoDuration, substr } from './golib.js';
import { urlJoinDict, urlParseDict } from './gourl.js';
import { goTitle, initials, swapCase, toCamelCase, toKebabCase, toSnakeCase, uncapitalize } from './xstrings.js';
import { trimTrailing } from '../../../ui/escape.js';

type Dict = Record<string, unknown>;

/** Go's fmt %v for a string parameter (nil is empty). */
export function str(v: unknown): string {
  if (isNil(v)) return '';
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return goStringOf(v);
  return formatV(v);
}

/** sprig's strval: like fmt %v, but nil is "<nil>" only where sprig keeps it. */
function strval(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return goStringOf(v);
  return formatV(v);
}

/**
 * cast.ToInt64 (spf13/cast 1.5) as sprig uses it: a float64 converted as Go on amd64 does
 * (out of range is -9223372036854775808); a string through trimZeroDecimal (`"12.0"` is 12) and
 * strconv.ParseInt base 0 (`0x1F`, `017`, `1_000`; no spaces; out of range is an error), and 0
 * where it fails.
 */
export function toInt64(v: unknown): bigint {
  if (isNil(v)) return 0n;
  if (v instanceof GoSizedInt) return v.n;
  switch (typeof v) {
    case 'bigint':
      return goInt64(v);
    case 'number':
      return goFloatToInt64(v);
    case 'boolean':
      return v ? 1n : 0n;
    case 'string':
      return goParseInt(trimZeroDecimal(v), 0, true) ?? 0n;
  }
  return 0n;
}

/** cast's trimZeroDecimal: `12.0` and `12.00` are `12` (`12.50`, `1.` and `120` stay). */
function trimZeroDecimal(s: string): string {
  let foundZero = false;
  for (let i = s.length; i > 0; i--) {
    const c = s[i - 1];
    if (c === '.') {
      if (foundZero) return s.slice(0, i - 1);
    } else if (c === '0') foundZero = true;
    else return s;
  }
  return s;
}

export function toFloat64(v: unknown): number {
  if (isNil(v)) return 0;
  if (v instanceof GoSizedInt) return Number(v.n);
  switch (typeof v) {
    case 'bigint':
      return Number(v);
    case 'number':
      return v;
    case 'boolean':
      return v ? 1 : 0;
    case 'string':
      return goParseFloat(v) ?? 0;
  }
  return 0;
}

/**
 * strconv.ParseFloat as cast.ToFloat64 calls it: Go's float literal syntax (underscores between
 * digits, hex mantissas with a `p` exponent), `inf`/`infinity`/`nan` in any case; no spaces and
 * no bare hex integers (`0x1F` is an error, so 0), unlike JavaScript's Number.
 */
export function goParseFloat(s: string): number | undefined {
  const m = /^([+-]?)(?:(inf(?:inity)?)|(nan)|(0[xX])([0-9a-fA-F_]*\.?[0-9a-fA-F_]*)(?:([pP])([+-]?[0-9_]+))?|()([0-9_]*\.?[0-9_]*)(?:([eE])([+-]?[0-9_]+))?)$/i.exec(s);
  if (!m) return undefined;
  const neg = m[1] === '-';
  if (m[2]) return neg ? -Infinity : Infinity;
  if (m[3]) return m[1] ? undefined : NaN;
  const hex = m[4] !== undefined;
  const mant = hex ? m[5] : m[9];
  const expChar = hex ? m[6] : m[10];
  const expText = (hex ? m[7] : m[11]) ?? '';
  // underscores only between digits (or after a base prefix), as underscoreOK checks
  const decimalOk = (t: string) => !/(^|[^0-9])_|_($|[^0-9])/.test(t);
  if (!(hex ? !/(^|[^0-9a-fA-Fx])_|_($|[^0-9a-fA-F])/.test(`0x${mant}`) : decimalOk(mant)) || !decimalOk(expText)) return undefined;
  const clean = mant.replace(/_/g, '');
  if (clean === '' || clean === '.') return undefined;
  if (hex) {
    if (expChar?.toLowerCase() !== 'p') return undefined;
    const [w, f = ''] = clean.split('.');
    const value = (parseInt(w || '0', 16) + (f ? parseInt(f, 16) / 16 ** f.length : 0)) * 2 ** Number(expText.replace(/_/g, ''));
    return neg ? -value : value;
  }
  const value = Number(`${clean}${expChar ? `e${expText.replace(/_/g, '')}` : ''}`);
  return neg ? -value : value;
}

/**
 * The elements of a list argument. sprig's list functions (first, rest, append, concat, chunk…)
 * start with `reflect.TypeOf(list).Kind()`, which panics on nil: Helm reports
 * `error calling first: runtime error: invalid memory address or nil pointer dereference`
 * (checked against sprig v3.2.3), so a nil list fails.
 */
function list(v: unknown, fn: keyof typeof NOT_A_LIST): unknown[] {
  const elems = asSlice(v);
  if (elems) return elems;
  if (v instanceof Uint8Array) return [...v].map((b) => uint8Of(b));
  if (isNil(v)) throw new FuncError('runtime error: invalid memory address or nil pointer dereference');
  // sprig prints the reflect.Kind (`map`, `int64`, `ptr`), not the type
  throw new FuncError(NOT_A_LIST[fn].replace('%s', goKind(v)));
}

/** sprig v3.2.3's error for each list function given something that is no list. */
const NOT_A_LIST = {
  first: 'Cannot find first on type %s',
  last: 'Cannot find last on type %s',
  rest: 'Cannot find rest on type %s',
  initial: 'Cannot find initial on type %s',
  reverse: 'Cannot find reverse on type %s',
  uniq: 'Cannot find uniq on type %s',
  without: 'Cannot find without on type %s',
  has: 'Cannot find has on type %s',
  compact: 'Cannot compact on type %s',
  push: 'Cannot push on type %s',
  prepend: 'Cannot prepend on type %s',
  concat: 'Cannot concat type %s as list',
  slice: 'list should be type of slice or array but %s',
  chunk: 'Cannot chunk type %s',
} as const;

/**
 * sprig's strslice (toStrings, join, sortAlpha): a list's elements as strings, nil elements left
 * out; nil is no element; any other value (a map, a number) is the one element strval gives.
 */
function strslice(v: unknown): string[] {
  const elems = asSlice(v) ?? (v instanceof Uint8Array ? [...v].map((b) => uint8Of(b)) : undefined);
  if (elems) return elems.filter((x) => !isNil(x)).map((x) => strval(x));
  return isNil(v) ? [] : [strval(v)];
}

/**
 * Where base64.StdEncoding.DecodeString stops (its CorruptInputError offset, which sprig's b64dec
 * prints), after Go's decodeQuantum: CR and LF skipped, padding required; undefined when valid.
 */
function base64ErrorAt(src: Uint8Array): number | undefined {
  const isAlpha = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f;
  const nl = (c: number) => c === 0x0a || c === 0x0d;
  let si = 0;
  for (;;) {
    for (let j = 0; j < 4; j++) {
      if (si === src.length) {
        if (j === 0) return undefined;
        return si - j;
      }
      const c = src[si++];
      if (isAlpha(c)) continue;
      if (nl(c)) {
        j--;
        continue;
      }
      if (c !== 0x3d || j < 2) return si - 1;
      if (j === 2) {
        while (si < src.length && nl(src[si])) si++;
        if (si === src.length) return src.length;
        if (src[si] !== 0x3d) return si - 1;
        si++;
      }
      while (si < src.length && nl(src[si])) si++;
      return si < src.length ? si : undefined;
    }
  }
}

function dict(v: unknown): Dict {
  if (isMap(v)) return v;
  if (isNil(v)) return {};
  throw new FuncError(`wrong type for value; expected map[string]interface {}; got ${goTypeName(v)}`);
}

// ── deterministic randomness ─────────────────────────────────────────────────

let seed = 0x2f6b_9a13;
function rand(): number {
  // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
export function resetRandom(): void {
  seed = 0x2f6b_9a13;
}
/** `count` characters drawn from `chars` (ASCII), bounded like `repeat` (randAlpha 100000000 took 12 s and 100 MB). */
function randFrom(chars: string, n: unknown): string {
  const count = Math.max(0, Number(toInt64(n)));
  checkLength('random characters', count, MAX_STRING);
  const out = Buffer.allocUnsafe(count);
  for (let i = 0; i < count; i++) out[i] = chars.charCodeAt(Math.floor(rand() * chars.length));
  return out.toString('latin1');
}
const ALPHA = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const NUM = '0123456789';

function placeholderPem(type: string, seedText: string): string {
  const body = createHash('sha512').update(`ferry-placeholder:${type}:${seedText}`).digest('base64');
  const b64 = (body + body + body).slice(0, 192);
  return `-----BEGIN ${type}-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END ${type}-----\n`;
}

function certStruct(name: string): GoStruct {
  return new GoStruct('sprig.certificate', {
    Cert: placeholderPem('CERTIFICATE', name),
    Key: placeholderPem('RSA PRIVATE KEY', name),
  });
}

// ── time ─────────────────────────────────────────────────────────────────────

/** `now` is fixed so renders are deterministic. */
export const FIXED_NOW = new Date(Date.UTC(2000, 0, 1, 0, 0, 0));

class GoTime extends GoStruct {
  constructor(readonly date: Date) {
    super('time.Time');
  }
  // Go's layouts with `.999999999`: the fraction of a second without its trailing zeros
  override goString = () => this.date.toISOString().replace('T', ' ').replace(/\.(\d+)Z$/, (_, f: string) => `${`.${f}`.replace(/\.?0+$/, '')} +0000 UTC`);
  // MarshalJSON: RFC 3339 with nanoseconds
  override goMarshal = () => this.date.toISOString().replace(/\.(\d+)Z$/, (_, f: string) => `${`.${f}`.replace(/\.?0+$/, '')}Z`);
  Unix = () => int64Of(BigInt(Math.floor(this.date.getTime() / 1000)));
  UTC = () => this;
  Year = () => BigInt(this.date.getUTCFullYear());
  Format = (layout: unknown) => goDate(str(layout), this.date);
}

function toDate(v: unknown): Date {
  if (v instanceof GoTime) return v.date;
  if (isInt(v) || typeof v === 'number') return new Date(Number(v) * 1000);
  if (typeof v === 'string') {
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? FIXED_NOW : d;
  }
  return FIXED_NOW;
}

/** sprig's formatDate argument: a time, or an integer of Unix seconds; anything else is now, as in Go (a date string is not read). */
function dateArg(v: unknown): Date {
  if (v instanceof GoTime) return v.date;
  if (isInt(v)) return new Date(Number(v) * 1000);
  return FIXED_NOW;
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Go's reference-time layouts, UTC only. */
function goDate(layout: string, d: Date): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  const tokens: Array<[string, () => string]> = [
    ['2006', () => String(d.getUTCFullYear())],
    ['January', () => MONTHS[d.getUTCMonth()]],
    ['Jan', () => MONTHS[d.getUTCMonth()].slice(0, 3)],
    ['Monday', () => DAYS[d.getUTCDay()]],
    ['Mon', () => DAYS[d.getUTCDay()].slice(0, 3)],
    ['MST', () => 'UTC'],
    ['Z07:00', () => 'Z'],
    ['-07:00', () => '+00:00'],
    ['-0700', () => '+0000'],
    ['.000000000', () => `.${String(d.getUTCMilliseconds()).padStart(3, '0')}000000`],
    ['.000000', () => `.${String(d.getUTCMilliseconds()).padStart(3, '0')}000`],
    ['.000', () => `.${String(d.getUTCMilliseconds()).padStart(3, '0')}`],
    ['01', () => p2(d.getUTCMonth() + 1)],
    ['02', () => p2(d.getUTCDate())],
    ['15', () => p2(d.getUTCHours())],
    ['03', () => p2(d.getUTCHours() % 12 || 12)],
    ['04', () => p2(d.getUTCMinutes())],
    ['05', () => p2(d.getUTCSeconds())],
    ['06', () => p2(d.getUTCFullYear() % 100)],
    ['PM', () => (d.getUTCHours() >= 12 ? 'PM' : 'AM')],
    ['1', () => String(d.getUTCMonth() + 1)],
    ['2', () => String(d.getUTCDate())],
    ['3', () => String(d.getUTCHours() % 12 || 12)],
    ['4', () => String(d.getUTCMinutes())],
    ['5', () => String(d.getUTCSeconds())],
  ];
  let out = '';
  let i = 0;
  outer: while (i < layout.length) {
    for (const [t, f] of tokens) {
      if (layout.startsWith(t, i)) {
        out += f();
        i += t.length;
        continue outer;
      }
    }
    out += layout[i++];
  }
  return out;
}

// ── semver (Masterminds/semver v3 constraints on npm semver) ─────────────────

function coerceVersion(v: string): string | undefined {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.exec(v.trim());
  if (!m) return undefined;
  // Masterminds reads each number with ParseUint: `01.2.3` is 1.2.3 (npm refuses leading zeros)
  return `${BigInt(m[1])}.${BigInt(m[2] ?? 0)}.${BigInt(m[3] ?? 0)}${m[4] ?? ''}${m[5] ?? ''}`;
}

/**
 * One constraint: operator, spaces, `v`, version. The spaces are taken whole (`(?=(\s*))\2`, an
 * atomic group): `\s*` giving them back one by one was quadratic on a long run before a line break.
 */
const CONSTRAINT = /^(!=|>=|<=|=>|=<|>|<|=|~>|~|\^)?(?=(\s*))\2v?(.*)$/;

/** The AND terms of one `||` alternative (commas and spaces before an operator separate them). */
function constraintTerms(part: string): string[] {
  return (
    part
      // a run of spaces is tried from its start only ((?<!\s)): linear, the same pieces
      .split(/,|(?<!\s)\s+(?=[<>=~^!])/)
      .map((s) => s.trim())
      .filter(Boolean)
  );
}

/** One Masterminds term as an npm semver comparator set (partial versions, `~>`, `=>`). */
function termToNpm(s: string): string {
  const m = CONSTRAINT.exec(s)!;
  let op = m[1] ?? '';
  if (op === '=>') op = '>=';
  if (op === '=<') op = '<=';
  if (op === '~>') op = '~';
  // Masterminds reads the numbers with ParseUint: `01.2.x` is 1.2.x (npm refuses leading zeros)
  const ver = m[3].replace(/^[0-9.]+/, (nums) => nums.split('.').map((n) => (/^\d+$/.test(n) ? String(BigInt(n)) : n)).join('.'));
  if (/[xX*]/.test(ver) || ver.split(/[-+]/)[0].split('.').length < 3) {
    // partial / wildcard versions: npm semver understands x-ranges; keep prerelease suffix
    const [core, ...pre] = ver.split('-');
    const suffix = pre.length ? `-${pre.join('-')}` : '';
    // npm cannot read a partial version with a prerelease (`^1.22-0`): spell out Masterminds'
    // caret and tilde bounds (^1.2 is >=1.2 <2.0, ^0.2 is >=0.2 <0.3, ~1.2 is >=1.2 <1.3, ~1 is >=1 <2).
    if (suffix && (op === '^' || op === '~') && /^\d+(\.\d+)?$/.test(core)) {
      const [maj, min] = core.split('.').map(Number);
      const lower = `>=${maj}.${min ?? 0}.0${suffix}`;
      const upper = op === '~' ? (min === undefined ? `${maj + 1}.0.0` : `${maj}.${min + 1}.0`) : maj > 0 || min === undefined ? `${maj + 1}.0.0` : `0.${min + 1}.0`;
      return `${lower} <${upper}-0`;
    }
    // Masterminds' `>1.2` is above every 1.2.x (>=1.3.0) and `<=1.2` takes every 1.2.x (<1.3.0);
    // padding them to 1.2.0 let 1.2.5 through `>1.2-0` and kept it out of `<=1.10-0`
    if ((op === '>' || op === '<=') && /^\d+(\.\d+)?$/.test(core)) {
      const [maj, min] = core.split('.').map(Number);
      const next = min === undefined ? `${maj + 1}.0.0` : `${maj}.${min + 1}.0`;
      return op === '>' ? `>=${next}${suffix ? '-0' : ''}` : `<${next}-0`;
    }
    if ((op === '>=' || op === '<') && !/[xX*]/.test(core)) {
      const parts = core.split('.');
      while (parts.length < 3) parts.push('0');
      return `${op}${parts.join('.')}${suffix}`;
    }
    return `${op}${core}${suffix}`;
  }
  return `${op}${ver}`;
}

/** Masterminds constraint syntax → npm semver range (commas are AND, `||` is OR, partial versions). */
export function mastermindsRange(c: string): string {
  return c
    .split('||')
    .map((part) => constraintTerms(part).map(termToNpm).join(' '))
    .join(' || ');
}

/**
 * Whether `version` (a clean semver) meets a Masterminds constraint. `!=` is Masterminds' own
 * (npm has none, and read `!=1.2.3` as a range nothing meets): not that version, whatever its
 * prerelease; `!=1.2.x` is outside that x-range (and, as Masterminds has it, no prerelease unless
 * the constraint names one).
 */
export function mastermindsSatisfies(version: string, constraint: string, includePrerelease: boolean): boolean {
  return constraint.split('||').some((part) => {
    const terms = constraintTerms(part);
    for (const t of terms.filter((x) => x.startsWith('!='))) {
      const ver = t.slice(2).trim().replace(/^v/, '');
      if (/[xX*]/.test(ver) || ver.split(/[-+]/)[0].split('.').length < 3) {
        if (semver.prerelease(version) && !ver.includes('-')) return false;
        if (semver.satisfies(version, termToNpm(ver), { includePrerelease: true })) return false;
      } else {
        const other = coerceVersion(ver);
        if (other === undefined || semver.eq(version, other)) return false;
      }
    }
    const rest = terms.filter((x) => !x.startsWith('!='));
    return rest.length === 0 || semver.satisfies(version, rest.map(termToNpm).join(' '), { includePrerelease });
  });
}

export function semverCompare(constraint: string, version: string): boolean {
  const v = coerceVersion(version);
  if (!v) throw new FuncError(`Invalid Semantic Version`);
  // Masterminds: a constraint with a prerelease (`-0`) admits prereleases.
  return mastermindsSatisfies(v, constraint, /-/.test(constraint));
}

class SemverVersion extends GoStruct {
  constructor(private readonly v: semver.SemVer) {
    super('*semver.Version');
  }
  // Masterminds' String: the build metadata too (npm's .version drops it)
  override goString = () => this.v.version + (this.v.build.length ? `+${this.v.build.join('.')}` : '');
  // MarshalJSON: its String, quoted
  override goMarshal = () => this.goString();
  // Masterminds' Version struct: what fmt prints under a verb its String does not take
  override goFields = (): [string, unknown][] => [
    ['major', uint64Of(BigInt(this.v.major))],
    ['minor', uint64Of(BigInt(this.v.minor))],
    ['patch', uint64Of(BigInt(this.v.patch))],
    ['pre', this.v.prerelease.join('.')],
    ['metadata', this.v.build.join('.')],
    ['original', this.v.raw],
  ];
  // Masterminds' Major, Minor and Patch return uint64
  Major = () => uint64Of(BigInt(this.v.major));
  Minor = () => uint64Of(BigInt(this.v.minor));
  Patch = () => uint64Of(BigInt(this.v.patch));
  Prerelease = () => this.v.prerelease.join('.');
  Metadata = () => this.v.build.join('.');
  Original = () => this.v.raw;
  String = () => this.goString();
  Compare = (o: unknown) => BigInt(semver.compare(this.v, o instanceof SemverVersion ? o.v : String(o)));
}

/** sprig's split/splitn result: a map[string]string of the parts under `_0`, `_1`… */
function splitMap(parts: string[]): GoTypedMap {
  const out: Record<string, string> = {};
  parts.forEach((p, i) => (out[`_${i}`] = p));
  return new GoTypedMap('map[string]string', out, '');
}

// ── merge (mergo) ─────────────────────────────────────────────────────────────

// mergo stores the source's own maps and lists in the destination (no copy): a later `set` on a
// nested map of the merged dict changes the source too, as in Helm (kong's services add a default
// `protocol` to .Values.proxy.stream entries through `merge (dict) .Values.proxy`; its deployment
// then reads it).
/**
 * mergo's map merge (sprig's merge, mergeOverwrite): a nil source value is stored only when
 * overwriting; an empty or unset destination takes the source value; when overwriting, every source
 * value but a map replaces a set one, `false`, `""` and `0` included (k8s-at-home's common library
 * turns its controller off with `mergeOverwrite .Values (dict … "enabled" false)`), and a map never
 * replaces a set value that is not a map.
 */
function mergeInto(dst: Dict, src: Dict, overwrite: boolean): void {
  for (const [k, v] of Object.entries(src)) {
    const d = dst[k];
    if (isNil(v)) {
      if (overwrite) setKey(dst, k, v);
    } else if (isMap(d) && isMap(v) && !isEmpty(d)) mergeInto(d, v, overwrite);
    else if (!Object.hasOwn(dst, k) || isEmpty(d)) setKey(dst, k, v);
    else if (overwrite && !isMap(v)) setKey(dst, k, v);
  }
}

/**
 * sprig's merge and mergeOverwrite: `mergo.Merge(&dst, src)` for each source in turn. A nil
 * destination (a literal `nil`: `merge nil .Values.a .Values.b`, hazelcast's annotations) is made
 * a new map by the first source that is not nil, and that map is what the call returns. With no
 * such source the nil map is returned (it prints `map[]`; toJson writes `null`).
 */
function mergeAll(dst: unknown, srcs: unknown[], overwrite: boolean): unknown {
  let out = dst;
  for (const s of srcs) {
    // a nil source, or a nil map (`merge nil (merge nil nil)`), leaves a nil destination nil
    if (isNil(s) || isNilMap(s)) continue;
    if (isNil(out) || isNilMap(out)) out = {};
    mergeInto(dict(out), dict(s), overwrite);
  }
  return isNil(out) ? nilMap() : out;
}

// ── the map ──────────────────────────────────────────────────────────────────

function indent(n: unknown, s: unknown): string {
  const text = str(s);
  checkLength('indent: characters', Math.max(0, Number(toInt64(n))) * (text.split('\n').length) + text.length, MAX_STRING);
  const count = Number(toInt64(n));
  // sprig's strings.Repeat panics on a negative count (safeCall's error)
  if (count < 0) throw new Error('strings: negative Repeat count');
  const pad = ' '.repeat(count);
  return pad + text.replace(/\n/g, `\n${pad}`);
}

function uniq(l: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const x of l) if (!out.some((y) => deepEqual(x, y))) out.push(x);
  return out;
}

export function sprigFuncs(): Record<string, GoFunc> {
  const f: Record<string, GoFunc> = {
    // dates
    now: () => new GoTime(FIXED_NOW),
    date: (fmt, d) => goDate(str(fmt), dateArg(d)),
    dateInZone: (fmt, d) => goDate(str(fmt), dateArg(d)),
    date_in_zone: (fmt, d) => goDate(str(fmt), dateArg(d)),
    htmlDate: (d) => goDate('2006-01-02', dateArg(d)),
    htmlDateInZone: (d) => goDate('2006-01-02', dateArg(d)),
    // time.ParseDuration; a modifier Go cannot read leaves the date (mustDateModify fails)
    dateModify: (m, d) => new GoTime(new Date(toDate(d).getTime() + Number((parseGoDuration(str(m)) ?? 0n) / 1_000_000n))),
    date_modify: (m, d) => f.dateModify(m, d),
    mustDateModify: (m, d) => {
      const ns = parseGoDuration(str(m));
      if (ns === undefined) throw new FuncError(`time: invalid duration ${JSON.stringify(str(m))}`);
      return f.dateModify(m, d);
    },
    ago: () => '0s',
    toDate: (_fmt, s) => new GoTime(toDate(s)),
    mustToDate: (_fmt, s) => new GoTime(toDate(s)),
    unixEpoch: (d) => String(Math.floor(toDate(d).getTime() / 1000)),
    // a string of seconds or an integer (an int64 only: Go's plain int, a template literal, gives 0s); other types are 0s
    duration: (s) => goDurationString((typeof s === 'string' ? (/^[+-]?\d+$/.test(s) ? BigInt(s) : 0n) : isInt64(s) ? s.n : 0n) * 1_000_000_000n),
    durationRound: (d) => durationRound(typeof d === 'string' ? (parseGoDuration(d) ?? 0n) : isInt64(d) ? d.n : d instanceof GoTime ? BigInt(FIXED_NOW.getTime() - d.date.getTime()) * 1_000_000n : 0n),
    // strings
    abbrev: (w, s) => (Number(toInt64(w)) < 4 ? str(s) : abbreviateFull(str(s), 0, Number(toInt64(w)))),
    abbrevboth: (l, r, s) => {
      const left = Number(toInt64(l));
      const right = Number(toInt64(r));
      return right < 4 || (left > 0 && right < 7) ? str(s) : abbreviateFull(str(s), left, right);
    },
    trunc: (c, s) => {
      const n = Number(toInt64(c));
      const t = str(s);
      if (n < 0 && t.length + n > 0) return t.slice(t.length + n);
      if (n >= 0 && t.length > n) return t.slice(0, n);
      return t;
    },
    trim: (s) => str(s).trim(),
    upper: (s) => str(s).toUpperCase(),
    lower: (s) => str(s).toLowerCase(),
    title: (s) => goTitle(str(s)),
    untitle: (s) => uncapitalize(str(s)),
    substr: (start, end, s) => substr(Number(toInt64(start)), Number(toInt64(end)), str(s)),
    repeat: (c, s) => {
      const n = Number(toInt64(c));
      if (n < 0) throw new FuncError('strings: negative Repeat count');
      checkLength('repeat: characters', n * str(s).length, MAX_STRING);
      return str(s).repeat(n);
    },
    trimall: (a, b) => trimChars(str(b), str(a)),
    trimAll: (a, b) => trimChars(str(b), str(a)),
    trimSuffix: (a, b) => (str(b).endsWith(str(a)) && str(a) ? str(b).slice(0, -str(a).length) : str(b)),
    trimPrefix: (a, b) => (str(b).startsWith(str(a)) ? str(b).slice(str(a).length) : str(b)),
    nospace: (s) => deleteWhiteSpace(str(s)),
    initials: (s) => initials(str(s)),
    randAlphaNum: (n) => randFrom(ALPHA + NUM, n),
    randAlpha: (n) => randFrom(ALPHA, n),
    randAscii: (n) => randFrom('!"#$%&\'()*+,-./' + NUM + ':;<=>?@' + ALPHA + '[\\]^_`{|}~', n),
    randNumeric: (n) => randFrom(NUM, n),
    randInt: (min, max) => toInt64(min) + BigInt(Math.floor(rand() * Number(toInt64(max) - toInt64(min)))),
    randBytes: (n) => Buffer.from(randFrom(ALPHA + NUM, n)).toString('base64'),
    swapcase: (s) => swapCase(str(s)),
    shuffle: (s) => str(s),
    snakecase: (s) => toSnakeCase(str(s)),
    camelcase: (s) => toCamelCase(str(s)),
    kebabcase: (s) => toKebabCase(str(s)),
    wrap: (l, s) => wrapText(str(s), Number(toInt64(l)), '\n'),
    wrapWith: (l, sep, s) => wrapText(str(s), Number(toInt64(l)), str(sep)),
    contains: (sub, s) => str(s).includes(str(sub)),
    hasPrefix: (p, s) => str(s).startsWith(str(p)),
    hasSuffix: (p, s) => str(s).endsWith(str(p)),
    quote: (...args) =>
      args
        .filter((a) => !isNil(a))
        .map((a) => goSprintf('%q', [strval(a)]))
        .join(' '),
    squote: (...args) =>
      args
        .filter((a) => !isNil(a))
        .map((a) => `'${strval(a)}'`)
        .join(' '),
    cat: (...args) =>
      args
        .filter((a) => !isNil(a))
        .map((a) => formatV(a))
        .join(' '),
    indent: (n, s) => indent(n, s),
    nindent: (n, s) => `\n${indent(n, s)}`,
    // strings.Replace: an empty old string matches before every character and at the end
    replace: (o, n, s) => (str(o) === '' ? `${str(n)}${[...str(s)].map((c) => c + str(n)).join('')}` : str(s).split(str(o)).join(str(n))),
    plural: (one, many, count) => (toInt64(count) === 1n ? str(one) : str(many)),
    sha1sum: (s) => createHash('sha1').update(goBytesOf(str(s))).digest('hex'),
    sha256sum: (s) => createHash('sha256').update(goBytesOf(str(s))).digest('hex'),
    sha512sum: (s) => createHash('sha512').update(goBytesOf(str(s))).digest('hex'),
    adler32sum: (s) => String(adler32(goBytesOf(str(s)))),
    toString: (v: unknown) => strval(v),
    // strconv.Atoi: base 10, no underscores; out of range gives the nearest int64 (and an error sprig drops)
    atoi: (s) => {
      const t = str(s);
      if (!/^[+-]?\d+$/.test(t)) return 0n;
      // Beyond 19 significant digits it is out of range whatever they are (no BigInt of a megabyte of digits).
      const neg = t.startsWith('-');
      if (t.replace(/^[+-]?0*/, '').length > 19) return neg ? -(2n ** 63n) : 2n ** 63n - 1n;
      const n = BigInt(t);
      return n > 2n ** 63n - 1n ? 2n ** 63n - 1n : n < -(2n ** 63n) ? -(2n ** 63n) : n;
    },
    // int64 (and every sprig function declared to return int64 below) gives an int64 GoSizedInt; int an int
    int64: (v) => int64Of(toInt64(v)),
    int: (v) => toInt64(v),
    float64: (v) => toFloat64(v),
    seq: (...args) => seqList(args.map((a) => toInt64(a))).join(' '),
    toDecimal: (v) => int64Of(goParseInt(str(v), 8, true) ?? 0n), // strconv.ParseInt(fmt.Sprint(v), 8, 64), 0 on error
    // split and splitn return a map[string]string (`_0`, `_1`…): a missing key is "", and sprig's
    // map functions (`hasKey`, `keys`, `set`…), which take a map[string]interface{}, refuse it
    split: (sep, s) => splitMap(str(s).split(str(sep))),
    splitList: (sep, s) => typedList(str(sep) === '' ? [...str(s)] : str(s).split(str(sep)), 'string'),
    splitn: (sep, n, s) => {
      const parts = str(s).split(str(sep));
      const k = Number(toInt64(n));
      if (k === 0) return splitMap([]); // strings.SplitN with n 0: no parts
      return splitMap(k > 0 && parts.length > k ? [...parts.slice(0, k - 1), parts.slice(k - 1).join(str(sep))] : parts);
    },
    toStrings: (v) => typedList(strslice(v), 'string'),
    until: (n) => {
      const c = toInt64(n);
      return typedList(untilStep(0n, c, c >= 0n ? 1n : -1n), 'int');
    },
    untilStep: (start, stop, step) => typedList(untilStep(toInt64(start), toInt64(stop), toInt64(step)), 'int'),
    // math
    // int64 arithmetic: an overflow wraps, as Go's does
    add1: (a) => int64Of(toInt64(a) + 1n),
    add: (...a) => int64Of(a.map(toInt64).reduce((x, y) => goInt64(x + y), 0n)),
    sub: (a, b) => int64Of(toInt64(a) - toInt64(b)),
    div: (a, b) => {
      if (toInt64(b) === 0n) throw new FuncError('runtime error: integer divide by zero');
      return int64Of(toInt64(a) / toInt64(b));
    },
    mod: (a, b) => {
      if (toInt64(b) === 0n) throw new FuncError('runtime error: integer divide by zero');
      return int64Of(toInt64(a) % toInt64(b));
    },
    mul: (a, ...rest) => int64Of([a, ...rest].map(toInt64).reduce((x, y) => goInt64(x * y))),
    randIntn: (n) => BigInt(Math.floor(rand() * Number(toInt64(n)))),
    max: (a, ...rest) => int64Of([a, ...rest].map(toInt64).reduce((x, y) => (y > x ? y : x))),
    biggest: (a, ...rest) => int64Of([a, ...rest].map(toInt64).reduce((x, y) => (y > x ? y : x))),
    min: (a, ...rest) => int64Of([a, ...rest].map(toInt64).reduce((x, y) => (y < x ? y : x))),
    maxf: (a, ...rest) => Math.max(...[a, ...rest].map(toFloat64)),
    minf: (a, ...rest) => Math.min(...[a, ...rest].map(toFloat64)),
    ceil: (a) => Math.ceil(toFloat64(a)),
    floor: (a) => Math.floor(toFloat64(a)),
    round: (a, p, r) => {
      const pow = 10 ** Number(toInt64(p));
      const half = isNil(r) ? 0.5 : toFloat64(r);
      const x = toFloat64(a) * pow;
      const i = Math.trunc(x);
      return (Math.abs(x - i) >= half ? i + Math.sign(x) : i) / pow;
    },
    addf: (...a) => decimalFold('add', 0, a.map(toFloat64)),
    add1f: (a) => decimalFold('add', toFloat64(a), [1]),
    subf: (a, ...rest) => decimalFold('sub', toFloat64(a), rest.map(toFloat64)),
    divf: (a, ...rest) => decimalFold('div', toFloat64(a), rest.map(toFloat64)),
    mulf: (a, ...rest) => decimalFold('mul', toFloat64(a), rest.map(toFloat64)),
    // defaults
    default: (d, ...given) => (given.length === 0 || isEmpty(given[0]) ? d : given[0]),
    empty: (v) => isEmpty(v),
    coalesce: (...args) => args.find((a) => !isEmpty(a)) ?? null,
    all: (...args) => args.every((a) => !isEmpty(a)),
    any: (...args) => args.some((a) => !isEmpty(a)),
    compact: (l) => list(l, 'compact').filter((x) => !isEmpty(x)),
    mustCompact: (l) => list(l, 'compact').filter((x) => !isEmpty(x)),
    fromJson: (s) => {
      try {
        return jsonToGo(JSON.parse(str(s)));
      } catch {
        return {};
      }
    },
    toJson: (v) => goJson(v),
    toPrettyJson: (v) => goJson(v, { indent: '  ' }),
    toRawJson: (v) => goJson(v, { escapeHtml: false }),
    mustFromJson: (s) => {
      const syntax = goJsonSyntaxError(str(s));
      if (syntax) throw new FuncError(syntax);
      return jsonToGo(JSON.parse(str(s)));
    },
    mustToJson: (v) => goJson(v),
    mustToPrettyJson: (v) => goJson(v, { indent: '  ' }),
    mustToRawJson: (v) => goJson(v, { escapeHtml: false }),
    ternary: (vt, vf, c) => (c === true ? vt : vf),
    // copystructure on nil: reflect.ValueOf(nil).Type() panics
    deepCopy: (v) => {
      if (isNil(v)) throw new FuncError('reflect: call of reflect.Value.Type on zero Value');
      return deepCopy(v);
    },
    mustDeepCopy: (v) => deepCopy(v),
    // reflection
    typeOf: (v) => goTypeName(v),
    typeIs: (t, v) => str(t) === goTypeName(v),
    typeIsLike: (t, v) => str(t) === goTypeName(v) || str(t) === `*${goTypeName(v)}`,
    kindOf: (v) => goKind(v),
    kindIs: (k, v) => str(k) === goKind(v),
    deepEqual: (a, b) => deepEqual(a, b),
    // paths
    base: (p) => pathBase(str(p)),
    dir: (p) => pathDir(str(p)),
    clean: (p) => pathClean(str(p)),
    ext: (p) => /(\.[^./]*)$/.exec(str(p))?.[1] ?? '',
    isAbs: (p) => str(p).startsWith('/'),
    osBase: (p) => pathBase(str(p)),
    osClean: (p) => pathClean(str(p)),
    osDir: (p) => pathDir(str(p)),
    osExt: (p) => /(\.[^./]*)$/.exec(str(p))?.[1] ?? '',
    osIsAbs: (p) => str(p).startsWith('/'),
    // encoding
    b64enc: (s) => goBytesOf(str(s)).toString('base64'),
    b64dec: (s) => {
      const b = goBytesOf(str(s));
      const bad = base64ErrorAt(b);
      return bad === undefined ? goStringOf(Buffer.from(b.toString('latin1').replace(/[\r\n]/g, ''), 'base64')) : `illegal base64 data at input byte ${bad}`;
    },
    b32enc: (s) => base32(goBytesOf(str(s))),
    // sprig answers a decoding error with its text
    b32dec: (s) => {
      const d = base32Decode(str(s));
      return typeof d === 'string' ? d : Buffer.from(d).toString('utf8');
    },
    // lists
    tuple: (...a) => a,
    list: (...a) => a,
    dict: (...a) => {
      const out: Dict = {};
      for (let i = 0; i < a.length; i += 2) setKey(out, strval(a[i]), i + 1 < a.length ? a[i + 1] : '');
      return out;
    },
    get: (d, k) => (Object.hasOwn(dict(d), str(k)) ? dict(d)[str(k)] : ''),
    set: (d, k, v) => {
      // a nil map (`merge nil nil`, a literal nil) cannot take an entry: Go panics
      if (isNil(d) || isNilMap(d)) throw new FuncError('assignment to entry in nil map');
      setKey(dict(d), str(k), v);
      return d;
    },
    unset: (d, k) => {
      delete dict(d)[str(k)];
      return d;
    },
    hasKey: (d, k) => Object.hasOwn(dict(d), str(k)),
    pluck: (k, ...ds) => ds.map(dict).filter((d) => Object.hasOwn(d, str(k))).map((d) => d[str(k)]),
    keys: (...ds) => typedList(ds.flatMap((d) => Object.keys(dict(d))).sort(), 'string'),
    pick: (d, ...ks) => {
      const out: Dict = {};
      for (const k of ks.map(str)) if (Object.hasOwn(dict(d), k)) setKey(out, k, dict(d)[k]);
      return out;
    },
    omit: (d, ...ks) => {
      const out: Dict = {};
      const drop = new Set(ks.map(str));
      for (const [k, v] of Object.entries(dict(d))) if (!drop.has(k)) setKey(out, k, v);
      return out;
    },
    merge: (dst, ...srcs) => mergeAll(dst, srcs, false),
    mergeOverwrite: (dst, ...srcs) => mergeAll(dst, srcs, true),
    mustMerge: (dst, ...srcs) => f.merge(dst, ...srcs),
    mustMergeOverwrite: (dst, ...srcs) => f.mergeOverwrite(dst, ...srcs),
    values: (d) => Object.keys(dict(d)).map((k) => dict(d)[k]),
    dig: (...args) => {
      // sprig's dig type-asserts (a panic Helm reports): the last argument and each map it steps
      // through are map[string]interface{} (not chartutil.Values: `.Values` itself fails), each key a string
      if (args.length < 3) throw new FuncError('dig needs at least three arguments');
      const assert = (v: unknown, want: string, ok: boolean) => {
        if (!ok) throw new FuncError(`interface conversion: interface {} is ${isNil(v) ? 'nil' : goTypeName(v)}, not ${want}`);
      };
      const plainMap = (v: unknown): v is Dict => isMap(v) && !chartValuesMethods(v);
      const def = args[args.length - 2];
      let cur: unknown = args[args.length - 1];
      assert(cur, 'map[string]interface {}', plainMap(cur));
      const keys = args.slice(0, -2);
      for (const k of keys) assert(k, 'string', typeof k === 'string');
      for (let i = 0; ; i++) {
        const m = cur as Dict;
        if (!Object.hasOwn(m, keys[i] as string)) return def;
        cur = m[keys[i] as string];
        if (i === keys.length - 1) return cur;
        assert(cur, 'map[string]interface {}', plainMap(cur));
      }
    },
    append: (l, v) => [...list(l, 'push'), v],
    push: (l, v) => [...list(l, 'push'), v],
    mustAppend: (l, v) => [...list(l, 'push'), v],
    mustPush: (l, v) => [...list(l, 'push'), v],
    prepend: (l, v) => [v, ...list(l, 'prepend')],
    mustPrepend: (l, v) => [v, ...list(l, 'prepend')],
    first: (l) => list(l, 'first')[0] ?? null,
    mustFirst: (l) => list(l, 'first')[0] ?? null,
    rest: (l) => list(l, 'rest').slice(1),
    mustRest: (l) => list(l, 'rest').slice(1),
    last: (l) => {
      const x = list(l, 'last');
      return x.length ? x[x.length - 1] : null;
    },
    mustLast: (l) => f.last(l),
    initial: (l) => list(l, 'initial').slice(0, -1),
    mustInitial: (l) => list(l, 'initial').slice(0, -1),
    reverse: (l) => [...list(l, 'reverse')].reverse(),
    mustReverse: (l) => [...list(l, 'reverse')].reverse(),
    uniq: (l) => uniq(list(l, 'uniq')),
    mustUniq: (l) => uniq(list(l, 'uniq')),
    without: (l, ...omit) => list(l, 'without').filter((x) => !omit.some((o) => deepEqual(o, x))),
    mustWithout: (l, ...omit) => list(l, 'without').filter((x) => !omit.some((o) => deepEqual(o, x))),
    has: (needle, l) => !isNil(l) && list(l, 'has').some((x) => deepEqual(x, needle)),
    mustHas: (needle, l) => !isNil(l) && list(l, 'has').some((x) => deepEqual(x, needle)),
    // reflect's Slice: indexes past the list or crossed fail (a third index is ignored)
    slice: (l, ...idx) => {
      const x = list(l, 'slice');
      if (x.length === 0) return null;
      const start = idx.length > 0 ? Number(toInt64(idx[0])) : 0;
      const end = idx.length > 1 ? Number(toInt64(idx[1])) : x.length;
      if (start < 0 || end > x.length || start > end) throw new FuncError('reflect.Value.Slice: slice index out of bounds');
      return sameListType(x, x.slice(start, end));
    },
    mustSlice: (l, ...idx) => f.slice(l, ...idx),
    concat: (...ls) => ls.flatMap((l) => list(l, 'concat')),
    chunk: (size, l) => {
      const x = list(l, 'chunk');
      const n = Number(toInt64(size));
      // Go sizes the result with a float division: a size of 0 or less makes no slice Go can
      // allocate (ferry looped for ever on `chunk 0`, pushing empty chunks until out of memory).
      if (n <= 0) throw new FuncError('runtime error: makeslice: len out of range');
      const out: unknown[][] = [];
      for (let i = 0; i < x.length; i += n) out.push(x.slice(i, i + n));
      return out;
    },
    mustChunk: (size, l) => f.chunk(size, l),
    sortAlpha: (l) => typedList(asSlice(l) || l instanceof Uint8Array ? strslice(l).sort() : [strval(l)], 'string'),
    join: (sep, l) => strslice(l).join(str(sep)),
    // crypto placeholders (see header)
    bcrypt: (s) => bcryptPlaceholder(str(s)),
    htpasswd: (u, p) => `${str(u)}:${bcryptPlaceholder(str(p))}`,
    genPrivateKey: (t) => placeholderPem(str(t) === 'ecdsa' ? 'EC PRIVATE KEY' : str(t) === 'ed25519' ? 'PRIVATE KEY' : 'RSA PRIVATE KEY', 'key'),
    derivePassword: (_c, _t, p, u, s) => createHash('sha256').update(`${str(p)}${str(u)}${str(s)}`).digest('base64').slice(0, 20),
    buildCustomCert: (c, k) => new GoStruct('sprig.certificate', { Cert: str(c), Key: str(k) }),
    genCA: (cn) => certStruct(str(cn)),
    genCAWithKey: (cn) => certStruct(str(cn)),
    genSelfSignedCert: (cn) => certStruct(str(cn)),
    genSelfSignedCertWithKey: (cn) => certStruct(str(cn)),
    genSignedCert: (cn) => certStruct(str(cn)),
    genSignedCertWithKey: (cn) => certStruct(str(cn)),
    encryptAES: (_k, s) => Buffer.from(str(s)).toString('base64'),
    decryptAES: (_k, s) => Buffer.from(str(s), 'base64').toString('utf8'),
    uuidv4: () => {
      const h = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16)).join('');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
    },
    // semver
    semver: (v) => {
      const c = coerceVersion(str(v));
      const p = c ? semver.parse(c) : null;
      if (!p) throw new FuncError('Invalid Semantic Version');
      return new SemverVersion(p);
    },
    semverCompare: (c, v) => semverCompare(str(c), str(v)),
    // flow
    fail: (msg) => {
      throw new FuncError(str(msg));
    },
    // regex
    // sprig's regexMatch ignores a pattern Go cannot compile (false); the others fail on it
    regexMatch: (re, s) => {
      try {
        return goRegex(str(re), false, str(s)).test(str(s));
      } catch (e) {
        if (e instanceof GoRegexError) return false;
        throw e;
      }
    },
    mustRegexMatch: (re, s) => goRegex(str(re), false, str(s)).test(str(s)),
    regexFindAll: (re, s, n) => typedList(goFindAll(str(re), str(s), Number(toInt64(n))).map((m) => m[0]), 'string'),
    mustRegexFindAll: (re, s, n) => f.regexFindAll(re, s, n),
    regexFind: (re, s) => goRegex(str(re), false, str(s)).exec(str(s))?.[0] ?? '',
    mustRegexFind: (re, s) => goRegex(str(re), false, str(s)).exec(str(s))?.[0] ?? '',
    regexReplaceAll: (re, s, repl) => goReplaceAll(str(re), str(s), str(repl), false),
    mustRegexReplaceAll: (re, s, repl) => goReplaceAll(str(re), str(s), str(repl), false),
    regexReplaceAllLiteral: (re, s, repl) => goReplaceAll(str(re), str(s), str(repl), true),
    mustRegexReplaceAllLiteral: (re, s, repl) => goReplaceAll(str(re), str(s), str(repl), true),
    regexSplit: (re, s, n) => typedList(goSplit(str(re), str(s), Number(toInt64(n))), 'string'),
    mustRegexSplit: (re, s, n) => f.regexSplit(re, s, n),
    regexQuoteMeta: (s) => str(s).replace(/[\\.+*?()|[\]{}^$]/g, '\\$&'),
    // urls
    urlParse: (s) => {
      try {
        return urlParseDict(str(s));
      } catch (e) {
        throw new FuncError(`unable to parse url: ${(e as Error).message}`);
      }
    },
    urlJoin: (d) => {
      const m = dict(d);
      // sprig's dictGetOrEmpty: a missing key is empty, a value that is no string fails.
      const get = (k: string): string => {
        if (!Object.hasOwn(m, k)) return '';
        const v = m[k];
        if (typeof v === 'string') return v;
        if (isNil(v)) throw new FuncError('runtime error: invalid memory address or nil pointer dereference');
        throw new FuncError(`unable to parse ${k} key, must be of type string, but ${goKind(v)} found`);
      };
      return urlJoinDict({ scheme: get('scheme'), host: get('host'), path: get('path'), query: get('query'), opaque: get('opaque'), fragment: get('fragment'), userinfo: get('userinfo') });
    },
    getHostByName: () => '127.0.0.1',
  };
  return f;
}

function trimChars(s: string, cut: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && cut.includes(s[a])) a++;
  while (b > a && cut.includes(s[b - 1])) b--;
  return s.slice(a, b);
}

/** Longest list `until`, `untilStep` and `seq` build, and longest string `repeat`/`indent` build (crafted charts ask for billions). */
const MAX_LIST = 1_000_000;
const MAX_STRING = 64 * 1024 * 1024;

function checkLength(what: string, n: number, max: number): void {
  if (n > max) throw new FuncError(`${what}: ${n} would be built, more than the ${max} ferry renders`);
}

/** sprig's untilStep, in Go's int64: start, start+step, … short of stop (none when step points away). */
function untilStep(start: bigint, stop: bigint, step: bigint): bigint[] {
  const out: bigint[] = [];
  if (stop < start ? step >= 0n : step <= 0n) return out;
  const n = (stop - start + step + (step > 0n ? -1n : 1n)) / step;
  checkLength('list of elements', Number(n), MAX_LIST);
  for (let i = start; step > 0n ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

/**
 * sprig seq, as numeric.go has it (1 arg: 1..n; 2: a..b; 3: a, step, b; more: nothing). The end
 * is passed one past, `end+increment`, in Go's int64: `seq 9223372036854775807` wraps and is empty.
 */
function seqList(p: bigint[]): bigint[] {
  switch (p.length) {
    case 1: {
      const inc = p[0] < 1n ? -1n : 1n;
      return untilStep(1n, goInt64(p[0] + inc), inc);
    }
    case 2: {
      const step = p[1] < p[0] ? -1n : 1n;
      return untilStep(p[0], goInt64(p[1] + step), step);
    }
    case 3: {
      const [start, step, end] = p;
      if (end < start && step > 0n) return [];
      return untilStep(start, goInt64(end + (end < start ? -1n : 1n)), step);
    }
    default:
      return [];
  }
}

function wrapText(s: string, width: number, sep: string): string {
  const out: string[] = [];
  let line = '';
  for (const w of s.split(/ +/)) {
    if (line && line.length + 1 + w.length > width) {
      out.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) out.push(line);
  return out.join(sep);
}

/** A bcrypt hash's shape (`$2a$10$` and 53 characters, 60 in all), not a hash: see the header. */
function bcryptPlaceholder(s: string): string {
  const h = createHash('sha512').update(s).digest('base64').replace(/[^A-Za-z0-9]/g, '');
  return `$2a$10$${h.padEnd(53, '0').slice(0, 53)}`;
}

function adler32(b: Buffer): number {
  let a = 1;
  let c = 0;
  for (const x of b) {
    a = (a + x) % 65521;
    c = (c + a) % 65521;
  }
  return ((c << 16) | a) >>> 0;
}

/** base32.StdEncoding.DecodeString: the bytes, or Go's error text (line breaks are skipped). */
function base32Decode(text: string): Uint8Array | string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const s = text.replace(/[\r\n]/g, '');
  const corrupt = (at: number) => `illegal base32 data at input byte ${at}`;
  const out: number[] = [];
  for (let q = 0; q < s.length; q += 8) {
    const quantum = s.slice(q, q + 8);
    if (quantum.length < 8) return corrupt(q);
    const pad = quantum.indexOf('=');
    const data = pad < 0 ? quantum : quantum.slice(0, pad);
    // padding ends the input, fills its quantum, and leaves 2, 4, 5 or 7 characters
    if (pad >= 0 && (!/^=+$/.test(quantum.slice(pad)) || ![2, 4, 5, 7].includes(pad) || q + 8 < s.length)) return corrupt(q + pad);
    let bits = 0;
    let val = 0;
    for (let i = 0; i < data.length; i++) {
      const v = A.indexOf(data[i]);
      if (v < 0) return corrupt(q + i);
      val = (val << 5) | v;
      bits += 5;
      if (bits >= 8) {
        out.push((val >>> (bits - 8)) & 0xff);
        bits -= 8;
        val &= (1 << bits) - 1;
      }
    }
  }
  return Uint8Array.from(out);
}

function base32(b: Buffer): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let val = 0;
  let out = '';
  for (const x of b) {
    val = (val << 8) | x;
    bits += 8;
    while (bits >= 5) {
      out += A[(val >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += A[(val << (5 - bits)) & 31];
  while (out.length % 8) out += '=';
  return out;
}

function pathClean(p: string): string {
  if (p === '') return '.';
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (!abs) out.push('..');
    } else out.push(seg);
  }
  const s = (abs ? '/' : '') + out.join('/');
  return s || (abs ? '/' : '.');
}

function pathBase(p: string): string {
  if (p === '') return '.';
  const t = trimTrailing(p, '/');
  if (t === '') return '/';
  return t.slice(t.lastIndexOf('/') + 1);
}

function pathDir(p: string): string {
  const i = p.lastIndexOf('/');
  return pathClean(i < 0 ? '' : p.slice(0, i + 1));
}

/** JSON data → Go values (numbers float64, safe keys). */
export function jsonToGo(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.map(jsonToGo);
  if (typeof v === 'object') {
    const out: Dict = {};
    for (const [k, x] of Object.entries(v as Dict)) setKey(out, k, jsonToGo(x));
    return out;
  }
  return v;
}
