/**
 * YAML and JSON as Helm sees them.
 *
 * Parsing (values files, `fromYaml`, rendered documents): go-yaml v2 rules through
 * sigs.k8s.io/yaml — YAML 1.1 booleans (`yes`, `on`), timestamps stay strings, no sexagesimal
 * numbers, then JSON-normalised so every number is a float64 (a JS number).
 *
 * Writing (`toYaml`): Helm marshals to JSON, then converts to YAML with go-yaml v2: map keys sorted
 * (go-yaml's natural order), list items not indented under their key, strings that would read back
 * as another type double-quoted, strings plain YAML cannot hold single-quoted, multi-line strings
 * as literal blocks, long strings folded at a space past column 80 as go-yaml does.
 */
import { visit, type Document, type ScalarTag } from 'yaml';
import { asSlice, deepCopy, GoSizedInt, GoStruct, isNilMap, isMap, isNil, setKey } from './govalue.js';
import { goParseInt } from './golib.js';
export { setKey } from './govalue.js';
import { CONFIG_YAML_TOKENS, yamlTokensOver } from '../../../manifest/input-file.js';
import { trimTrailing } from '../../../ui/escape.js';
import { parseHostileDocument, parseHostileDocuments, type HostileYamlOptions } from '../../../manifest/yaml-input.js';

const DROP = new Set(['tag:yaml.org,2002:timestamp', 'tag:yaml.org,2002:omap', 'tag:yaml.org,2002:pairs', 'tag:yaml.org,2002:set']);

export const GO_YAML_OPTIONS: HostileYamlOptions = {
  version: '1.1',
  merge: true,
  // go-yaml v2's Unmarshal (what sigs.k8s.io/yaml calls) lets a later duplicate key win
  duplicates: 'last-wins',
  customTags: (tags) => {
    const kept = tags.filter((t) => typeof t === 'string' || (!DROP.has(t.tag) && (t as { format?: string }).format !== 'TIME'));
    // go-yaml's own resolution of plain number-like scalars goes before the YAML 1.1 int and float
    // tags (which stay for explicit `!!int`/`!!float` only: they read `e5` and `.` as NaN)
    const isNumber = (t: (typeof kept)[number]) => typeof t !== 'string' && (t.tag === INT_TAG || t.tag === FLOAT_TAG);
    const first = kept.findIndex(isNumber);
    const explicitOnly = kept.slice(first).map((t) => (isNumber(t) ? { ...(t as ScalarTag), default: false } : t));
    return [...kept.slice(0, first), GO_NUMBER, ...explicitOnly];
  },
};

const INT_TAG = 'tag:yaml.org,2002:int';
const FLOAT_TAG = 'tag:yaml.org,2002:float';

const GO_SPECIAL_FLOATS: Record<string, number> = {
  '.nan': NaN, '.NaN': NaN, '.NAN': NaN,
  '.inf': Infinity, '.Inf': Infinity, '.INF': Infinity, '+.inf': Infinity, '+.Inf': Infinity, '+.INF': Infinity,
  '-.inf': -Infinity, '-.Inf': -Infinity, '-.INF': -Infinity,
};

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

/**
 * go-yaml v2's resolve for a plain scalar starting with a digit, a sign or a dot: the `.inf`/`.nan`
 * spellings; else (underscores removed) strconv.ParseInt base 0 (`0o17`, `0x1A`, `017`, `+12`,
 * `1_000`), ParseUint, a decimal float that does not overflow, `0b`/`-0b` binary; anything else
 * is a string (`.`, `1e400`, `-e5`; `08` is the float 8; `-0` the int 0). The YAML 1.1 tags of
 * the yaml package read `.` and `-e5` as NaN, `1e400` as Infinity and `0o17` as a string.
 */
function goYamlNumber(text: string): number | string {
  if (Object.hasOwn(GO_SPECIAL_FLOATS, text)) return GO_SPECIAL_FLOATS[text];
  if (text[0] === '.') {
    // strconv.ParseFloat: underscores only between digits
    if (!/^\.\d(_?\d)*([eE][-+]?\d(_?\d)*)?$/.test(text)) return text;
    const f = Number(text.replaceAll('_', ''));
    return Number.isFinite(f) ? f : text;
  }
  const plain = text.replaceAll('_', '');
  const n = goParseInt(plain, 0, true) ?? goParseInt(plain, 0, false);
  if (n !== undefined) return Number(n);
  if (YAML_STYLE_FLOAT.test(plain)) {
    const f = Number(plain);
    if (Number.isFinite(f)) return f;
  }
  const bin = plain.startsWith('0b')
    ? (goParseInt(plain.slice(2), 2, true) ?? goParseInt(plain.slice(2), 2, false))
    : plain.startsWith('-0b')
      ? goParseInt(`-${plain.slice(3)}`, 2, true)
      : undefined;
  return bin !== undefined ? Number(bin) : text;
}

const GO_NUMBER: ScalarTag = {
  tag: INT_TAG,
  default: true,
  test: /^[-+0-9.]/,
  resolve: (text: string) => goYamlNumber(text),
};

/**
 * Parsed YAML/JSON → Go values: plain objects (safe for any key), arrays, float64 numbers. With
 * `json`, as sigs.k8s.io/yaml converts a parsed document: through encoding/json, which refuses
 * `.inf` and `.nan` (Helm refuses such a values file; `fromYaml` gives the error).
 */
export function toGoData(v: unknown, json = false): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') {
    if (json && !Number.isFinite(v)) throw new YamlParseError(`error converting YAML to JSON: json: unsupported value: ${Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf'}`);
    return v;
  }
  if (Array.isArray(v)) return v.map((x) => toGoData(x, json));
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (typeof v === 'object') {
    if (v instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of v) setKey(out, String(k), toGoData(x, json));
      return out;
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) setKey(out, k, toGoData(x, json));
    return out;
  }
  if (typeof v === 'bigint') return Number(v);
  return v;
}


export class YamlParseError extends Error {}

/**
 * A chart's YAML (values files, rendered manifests, `fromYaml` text) comes from outside: text
 * denser than CONFIG_YAML_TOKENS would take the yaml library gigabytes (~1 KiB per token), so it
 * is refused before parsing (a chart file is at most 4 MiB, which a flow list of one-character
 * items fills with 2 M tokens: 2.3 GB).
 */
function checkDensity(text: string): void {
  if (text.length > CONFIG_YAML_TOKENS && yamlTokensOver(text, CONFIG_YAML_TOKENS)) {
    throw new YamlParseError(`more than ${CONFIG_YAML_TOKENS.toLocaleString('en-US')} YAML tokens (list items, keys, flow commas, lines); ferry does not parse YAML that dense`);
  }
}

const PARSED = new Map<string, unknown>();

/** One YAML document as go-yaml + sigs.k8s.io/yaml read it (a fresh copy each time; parses are cached). */
export function parseGoYaml(text: string): unknown {
  return deepCopy(parseGoYamlShared(text));
}

/**
 * parseGoYaml without the copy: the cached value itself, shared by every caller that parses the
 * same text, frozen: it can only be read (rendered documents: discovery renders a chart
 * several times, and a 600 KB CRD template's object was copied on each).
 */
export function parseGoYamlShared(text: string): unknown {
  let v = PARSED.get(text);
  if (v === undefined) {
    checkDensity(text);
    // go-yaml v2's Unmarshal (Helm's values files, fromYaml) reads the first document of a stream
    // and ignores the rest: `a: 1\n---\nb: 2` is {a: 1}.
    const first = (t: string) => {
      const docs = parseHostileDocuments(t, GO_YAML_OPTIONS);
      return Array.isArray(docs) && docs.length > 0 ? docs[0] : parseHostileDocument(t, GO_YAML_OPTIONS);
    };
    let doc = first(text);
    let parsed = text;
    if (doc.errors.length) {
      const again = reindentQuotedContinuations(text);
      if (again !== text) {
        const d = first(again);
        if (!d.errors.length) [doc, parsed] = [d, again];
      }
    }
    if (doc.errors.length) throw new YamlParseError(doc.errors[0].message.split('\n')[0]);
    blockScalarAtEnd(doc, parsed);
    v = deepFreeze(toGoData(doc.toJS({ maxAliasCount: 10000 }), true));
    if (PARSED.size >= 5000) PARSED.delete(PARSED.keys().next().value!);
    PARSED.set(text, v);
  }
  return v;
}

/** Cached values are shared (parseGoYamlShared): a consumer that would change one fails loudly instead. */
function deepFreeze<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  for (const x of Object.values(v)) deepFreeze(x);
  return Object.freeze(v);
}

/**
 * A block scalar (`|`, `>`, with clip or keep chomping) whose last line ends the text without a line
 * break has no final newline in go-yaml (it keeps only the breaks it read); the yaml package adds
 * one. Common in Helm: toYaml trims the last newline, so `fromYaml (toYaml x)` of a map ending in a
 * multi-line string gives the string without its newline, and a later toYaml writes `|-`.
 */
function blockScalarAtEnd(doc: Document, text: string): void {
  if (text.length === 0 || text.endsWith('\n') || text.endsWith('\r')) return;
  visit(doc, {
    Scalar(_key, node) {
      if ((node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') && node.range?.[1] === text.length && typeof node.value === 'string' && node.value.endsWith('\n')) {
        node.value = node.value.slice(0, -1);
      }
    },
  });
}

/**
 * go-yaml v2 does not check the indentation of the continuation lines of a quoted scalar: a
 * multi-line `'…'` or `"…"` whose later lines are indented no further than its key (`  k: 'a\n  b'`)
 * is read, folded, as `a b`. The yaml package refuses it. Leading blanks of a continuation line are
 * not part of the value, so indenting those lines past the opening quote gives the same value in a
 * form the yaml package reads. Used only after a failed parse; a line starting with `---` or `...`
 * (a document marker, which go-yaml refuses inside a quoted scalar too) is left alone.
 *
 * go-yaml v2 also starts a comment at a `#` that begins a token with no blank before it (its scanner
 * eats a comment wherever it looks for the next token): right after a closing quote (`value:
 * "false"# note`, gha-runner-scale-set's runner env), after a flow indicator (`[1, 2]#c`, `[a,#c`)
 * and after a block scalar's header (`|-#c`). The yaml package refuses these; a blank is put before
 * such a `#`. Inside a plain scalar (`a: b#c`) `#` stays text, as in go-yaml.
 */
export function reindentQuotedContinuations(text: string): string {
  const lines = text.split('\n');
  let quote: string | undefined; // the open quote char
  let quoteCol = 0;
  let blockParent = -1; // inside a block scalar whose parent line has this indentation
  let flow = 0; // depth of open flow collections (`[`, `{`)
  let flowIndent = 0; // indentation of the block line the outermost open flow collection began on
  const indentOf = (l: string) => l.length - l.replace(/^ +/, '').length;
  for (let n = 0; n < lines.length; n++) {
    let line = lines[n];
    let i = 0;
    if (quote) {
      if (/^(---|\.\.\.)(\s|$)/.test(line)) return text;
      if (line.trim() !== '' && indentOf(line) <= quoteCol) line = lines[n] = ' '.repeat(quoteCol + 1 - indentOf(line)) + line;
      i = indentOf(line);
    } else if (flow > 0) {
      // go-yaml does not check the indentation inside a flow collection either: `command: [ "a",\n
      // "b" ]` with the later lines at the key's indentation is read (stable/minio's deployment).
      if (/^(---|\.\.\.)(\s|$)/.test(line)) return text;
      if (line.trim() !== '' && indentOf(line) <= flowIndent) line = lines[n] = ' '.repeat(flowIndent + 1 - indentOf(line)) + line;
    } else {
      if (blockParent >= 0) {
        if (line.trim() === '' || indentOf(line) > blockParent) continue;
        blockParent = -1;
      }
      if (/^(---|\.\.\.)(\s|$)/.test(line)) continue;
    }
    let tokenStart = !quote;
    let tokenEnd = -1; // where a quoted scalar or a flow indicator ended on this line: go-yaml's next token starts here
    const blankBeforeComment = (at: number) => { line = lines[n] = `${line.slice(0, at)} ${line.slice(at)}`; };
    while (i < line.length) {
      const c = line[i];
      if (quote) {
        if (quote === "'" && c === "'") {
          if (line[i + 1] === "'") i += 2;
          else [quote, i, tokenStart, tokenEnd] = [undefined, i + 1, false, i + 1];
        } else if (quote === '"' && c === '\\') i += 2;
        else if (quote === '"' && c === '"') [quote, i, tokenStart, tokenEnd] = [undefined, i + 1, false, i + 1];
        else i++;
        continue;
      }
      if (c === ' ' || c === '\t') { i++; continue; }
      if (c === '#' && (i === 0 || line[i - 1] === ' ' || line[i - 1] === '\t')) break;
      if (c === '#' && i === tokenEnd) { blankBeforeComment(i); break; }
      if (tokenStart && (c === "'" || c === '"')) { [quote, quoteCol] = [c, i]; i++; continue; }
      if ((c === '[' || c === '{') && (tokenStart || flow > 0)) {
        if (flow++ === 0) flowIndent = indentOf(line);
        [tokenStart, i, tokenEnd] = [true, i + 1, i + 1];
        continue;
      }
      if (flow > 0 && (c === ']' || c === '}')) { flow--; [tokenStart, i, tokenEnd] = [false, i + 1, i + 1]; continue; }
      if (flow > 0 && c === ',') { [tokenStart, i, tokenEnd] = [true, i + 1, i + 1]; continue; }
      if (tokenStart && (c === '|' || c === '>') && /^[|>][-+0-9]*\s*(#.*)?$/.test(line.slice(i))) {
        const header = /^[|>][-+0-9]*#/.exec(line.slice(i));
        if (header) blankBeforeComment(i + header[0].length - 1);
        blockParent = indentOf(line);
        break;
      }
      if ((c === '-' || c === '?' || c === ':') && (i + 1 === line.length || line[i + 1] === ' ' || line[i + 1] === '\t')) { tokenStart = true; i++; continue; }
      if (c === '[' || c === '{' || c === ',') { tokenStart = true; i++; continue; }
      // a plain scalar: up to `: ` or ` #`
      tokenStart = false;
      i++;
    }
  }
  return lines.join('\n');
}

export function parseGoYamlAll(input: string): unknown[] {
  checkDensity(input);
  let text = input;
  let docs = parseHostileDocuments(text, GO_YAML_OPTIONS);
  const failed = (ds: typeof docs) => (Array.isArray(ds) ? ds : [ds]).some((d) => d.errors.length > 0);
  if (failed(docs)) {
    const again = reindentQuotedContinuations(text);
    const ds = again === text ? docs : parseHostileDocuments(again, GO_YAML_OPTIONS);
    if (!failed(ds)) [docs, text] = [ds, again];
  }
  const out: unknown[] = [];
  for (const d of Array.isArray(docs) ? docs : [docs]) {
    if (d.errors.length) throw new YamlParseError(d.errors[0].message.split('\n')[0]);
    blockScalarAtEnd(d, text);
    out.push(toGoData(d.toJS({ maxAliasCount: 10000 }), true));
  }
  return out;
}

// ── JSON (encoding/json) ─────────────────────────────────────────────────────

/** encoding/json's float64: 'f' format, exponent below 1e-6 or from 1e21 (like JS). */
function jsonFloat(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`json: unsupported value: ${x}`);
  // JS writes floats as encoding/json does: 'f' form, else 1e+21 / 1e-7 (no exponent padding)
  return String(x);
}

function jsonString(s: string, escapeHtml: boolean): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c < 0x20) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else if (escapeHtml && (ch === '<' || ch === '>' || ch === '&')) out += `\\u00${c.toString(16)}`;
    else if (c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16)}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Struct fields as encoding/json sees them (a `json` name map when the struct has tags). */
function structFields(v: GoStruct): Record<string, unknown> {
  // A named map type (engine.files, Helm's .Files, is a map[string][]byte): encoding/json writes its entries, each
  // []byte as base64, so `.Files.Glob "x/*" | toYaml | sha256sum` hashes the files themselves.
  if (v.goRange) return v.goRange();
  const names = (v as unknown as { jsonNames?: Record<string, string> }).jsonNames;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'goType' || k === 'jsonNames' || typeof x === 'function') continue;
    const name = names ? names[k] : k;
    if (!name) continue;
    if (names && (isNil(x) || x === '' || x === false || (Array.isArray(x) && x.length === 0) || (x instanceof GoStruct && x.goLen?.() === 0))) continue;
    out[name] = x;
  }
  return out;
}

/** json.Marshal (compact) or MarshalIndent with `indent`. */
export function goJson(v: unknown, opts: { indent?: string; escapeHtml?: boolean } = {}): string {
  const esc = opts.escapeHtml ?? true;
  const ind = opts.indent;
  const enc = (x: unknown, depth: number): string => {
    if (isNil(x)) return 'null';
    switch (typeof x) {
      case 'string':
        return jsonString(x, esc);
      case 'boolean':
        return x ? 'true' : 'false';
      case 'number':
        return jsonFloat(x);
      case 'bigint':
        return x.toString();
      case 'function':
        throw new Error('json: unsupported type: func');
    }
    if (x instanceof GoSizedInt) return x.n.toString();
    if (x instanceof Uint8Array) return jsonString(Buffer.from(x).toString('base64'), esc);
    if ((x instanceof GoStruct && x.goNil) || isNilMap(x)) return 'null';
    if (x instanceof GoStruct && x.goMarshal) return enc(x.goMarshal(), depth);
    const nl = ind === undefined ? '' : `\n${ind.repeat(depth + 1)}`;
    const close = ind === undefined ? '' : `\n${ind.repeat(depth)}`;
    const colon = ind === undefined ? ':' : ': ';
    const elems = asSlice(x);
    if (elems) {
      if (elems.length === 0) return '[]';
      return `[${elems.map((e) => nl + enc(e, depth + 1)).join(',')}${close}]`;
    }
    const m = x instanceof GoStruct ? structFields(x) : (x as Record<string, unknown>);
    // encoding/json writes a map's keys sorted, a struct's fields in their declaration order
    const keys = x instanceof GoStruct && !x.goRange ? Object.keys(m) : Object.keys(m).sort();
    if (keys.length === 0) return '{}';
    return `{${keys.map((k) => `${nl}${jsonString(k, esc)}${colon}${enc(m[k], depth + 1)}`).join(',')}${close}}`;
  };
  return enc(v, 0);
}

// ── YAML writer (go-yaml v2 after JSON round trip) ─────────────────────────────

type Plain = null | boolean | string | { int: string } | { float: string } | Plain[] | { map: Array<[string, Plain]> };

/** The JSON round trip: what go-yaml sees after sigs.k8s.io/yaml.JSONToYAML. */
/**
 * A string through sigs.k8s.io/yaml's JSON round trip: encoding/json writes each byte that is not
 * UTF-8 (kept as U+DC80–U+DCFF, see goStringOf) as U+FFFD, then go-yaml's reader refuses the JSON
 * text if it holds a character YAML does not allow (U+007F–U+009F but U+0085, U+FFFE, U+FFFF:
 * "control characters are not allowed"), so toYaml gives "" (bjw-s common's ConfigMap from a folder
 * holding a JPEG not flagged `binary`, which its validation then reports; ferry wrote the bytes).
 */
function viaJsonString(s: string): string {
  const t = s.replace(/(?<![\ud800-\udbff])[\udc80-\udcff]/g, '\ufffd');
  if (/[\u007f-\u0084\u0086-\u009f\ufffe\uffff]/.test(t)) throw new Error('yaml: control characters are not allowed');
  return t;
}

function viaJson(v: unknown): Plain {
  if (isNil(v)) return null;
  switch (typeof v) {
    case 'string':
      return viaJsonString(v);
    case 'boolean':
      return v;
    case 'bigint':
      return { int: v.toString() };
    case 'number': {
      const s = jsonFloat(v);
      return /^-?\d+$/.test(s) && Math.abs(v) < 2 ** 63 ? { int: s } : { float: goFloatYaml(Number(s)) };
    }
    case 'function':
      throw new Error('json: unsupported type: func');
  }
  if (v instanceof GoSizedInt) return { int: v.n.toString() };
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if ((v instanceof GoStruct && v.goNil) || isNilMap(v)) return null;
  if (v instanceof GoStruct && v.goMarshal) return viaJson(v.goMarshal());
  const elems = asSlice(v);
  if (elems) return elems.map(viaJson);
  const m = v instanceof GoStruct ? structFields(v) : (v as Record<string, unknown>);
  return { map: Object.keys(m).sort(goKeyLess).map((k) => [viaJsonString(k), viaJson(m[k])] as [string, Plain]) };
}

function goFloatYaml(x: number): string {
  // go-yaml v2: strconv.FormatFloat(f, 'g', -1, 64), exponent from 1e21 as 'g' gives 'e+21'.
  if (Number.isNaN(x)) return '.nan';
  if (x === Infinity) return '.inf';
  if (x === -Infinity) return '-.inf';
  const s = x.toExponential();
  const [mant, e] = s.split('e');
  const exp = Number(e);
  if (exp < -4 || exp >= 21) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(x);
}

const isLetter = (c: string) => /\p{L}/u.test(c);
const isDigit = (c: string) => /\p{Nd}/u.test(c);

/** go-yaml v2's keyList.Less: letters after other runes, digit runs compared as numbers. */
export function goKeyLess(a: string, b: string): number {
  const ar = [...a];
  const br = [...b];
  for (let i = 0; i < ar.length && i < br.length; i++) {
    if (ar[i] === br[i]) continue;
    const al = isLetter(ar[i]);
    const bl = isLetter(br[i]);
    if (al && bl) return ar[i] < br[i] ? -1 : 1;
    if (al || bl) return bl ? -1 : 1;
    let an = 0;
    let bn = 0;
    if (ar[i] === '0' || br[i] === '0') {
      for (let j = i - 1; j >= 0 && isDigit(ar[j]); j--) {
        if (ar[j] !== '0') {
          an = 1;
          bn = 1;
          break;
        }
      }
    }
    let ai = i;
    let bi = i;
    for (; ai < ar.length && isDigit(ar[ai]); ai++) an = an * 10 + Number(ar[ai]);
    for (; bi < br.length && isDigit(br[bi]); bi++) bn = bn * 10 + Number(br[bi]);
    if (an !== bn) return an < bn ? -1 : 1;
    if (ai !== bi) return ai < bi ? -1 : 1;
    return ar[i] < br[i] ? -1 : 1;
  }
  return ar.length - br.length;
}

const YAML11_SPECIAL = new Set([
  'y', 'Y', 'yes', 'Yes', 'YES', 'n', 'N', 'no', 'No', 'NO', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE',
  'on', 'On', 'ON', 'off', 'Off', 'OFF', '', '~', 'null', 'Null', 'NULL', '.nan', '.NaN', '.NAN',
  '.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF', '-.inf', '-.Inf', '-.INF',
]);

/**
 * go-yaml v2's parseTimestamp: four ASCII digits and `-`, then Go's `time.Parse` with one of
 * `2006-1-2T15:4:5.999999999Z07:00` (`T` or `t`), `2006-1-2 15:4:5.999999999` or `2006-1-2`. Go
 * checks ranges (month, day of that month, hour < 24, minute and second < 60, zone offset hour
 * <= 24 and minute <= 60) and refuses trailing text, so `2006-01-02T15:04:05Z07:00` (a Go time
 * layout) or `2024-13-01` is a plain string, which toYaml writes unquoted.
 */
function isYamlTimestamp(s: string): boolean {
  const head = /^(\d{4})-/.exec(s);
  if (!head) return false;
  const year = Number(head[1]);
  let v = s.slice(5);
  const digit = (i: number) => i < v.length && v.charCodeAt(i) >= 48 && v.charCodeAt(i) <= 57;
  /** Go's getnum(value, false): one or two digits. */
  const num = (): number => {
    if (!digit(0)) return -1;
    const n = digit(1) ? 2 : 1;
    const r = Number(v.slice(0, n));
    v = v.slice(n);
    return r;
  };
  const lit = (c: string): boolean => (v[0] === c ? ((v = v.slice(1)), true) : false);
  const month = num();
  if (month < 1 || month > 12 || !lit('-')) return false;
  const day = num();
  const daysIn = month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
  if (day < 1 || day > daysIn) return false;
  if (v === '') return true;
  let zone: boolean;
  if (v[0] === 'T' || v[0] === 't') [zone, v] = [true, v.slice(1)];
  else if (v[0] === ' ') [zone, v] = [false, v.replace(/^ +/, '')];
  else return false;
  const hour = num();
  if (hour < 0 || hour >= 24 || !lit(':')) return false;
  const minute = num();
  if (minute < 0 || minute >= 60 || !lit(':')) return false;
  const second = num();
  if (second < 0 || second >= 60) return false;
  if (v.length >= 2 && (v[0] === '.' || v[0] === ',') && digit(1)) v = v.replace(/^[.,][0-9]+/, '');
  if (zone) {
    if (v[0] === 'Z') v = v.slice(1);
    else {
      const m = /^([-+])(\d\d):(\d\d)/.exec(v);
      if (!m || Number(m[2]) > 24 || Number(m[3]) > 60) return false;
      v = v.slice(6);
    }
  }
  return v === '';
}

/** Would go-yaml v2 read this plain scalar as something other than a string? */
function resolvesToNonString(s: string): boolean {
  if (YAML11_SPECIAL.has(s)) return true;
  const c = s[0];
  if (!/[-+.0-9]/.test(c)) return false;
  const plain = s.replace(/_/g, '');
  if (/^[-+]?(0[xX][0-9a-fA-F]+|0[oO]?[0-7]+|0[bB][01]+|\d+)$/.test(plain)) return true;
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(plain)) return true;
  if (isYamlTimestamp(s)) return true;
  if (/^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/.test(s)) return true; // base 60 float
  return false;
}

/** The go-yaml emitter's plain-scalar analysis (block context). */
function plainAllowed(s: string): boolean {
  if (s === '') return false;
  if (/^\s|\s$/.test(s)) return false;
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u0085\u2028\u2029\ufeff]/.test(s)) return false;
  const first = s[0];
  if ('#,[]{}&*!|>\'"%@`'.includes(first)) return false;
  if ((first === '-' || first === '?' || first === ':') && (s.length === 1 || /\s/.test(s[1]))) return false;
  if (s.startsWith('---') || s.startsWith('...')) return false;
  if (/: |:$| #/.test(s)) return false;
  return true;
}

function doubleQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 0) out += '\\0';
    else if (c === 7) out += '\\a';
    else if (c === 8) out += '\\b';
    else if (c === 9) out += '\\t';
    else if (c === 10) out += '\\n';
    else if (c === 11) out += '\\v';
    else if (c === 12) out += '\\f';
    else if (c === 13) out += '\\r';
    else if (c === 27) out += '\\e';
    else if (c === 0x85) out += '\\N';
    else if (c === 0xa0) out += '\\_';
    else if (c === 0x2028) out += '\\L';
    else if (c === 0x2029) out += '\\P';
    else if (c < 0x20 || c === 0x7f || c === 0xfeff) out += `\\x${c.toString(16).toUpperCase().padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** go-yaml's emitter width: plain and quoted scalars fold at a space once past this column. */
const BEST_WIDTH = 80;
const SPECIAL = /[\x00-\x08\x09\x0b\x0c\x0e-\x1f\x7f\u0085\u2028\u2029\ufeff]/;

/**
 * go-yaml's folding: at a space (not after another space), once the column is past 80, the line
 * breaks and continues at `cont`. Plain scalars need a non-space after it; quoted ones never fold
 * at their first or last character, and double-quoted ones escape a following space with `\`.
 */
function fold(text: string, style: 'plain' | 'single' | 'double', column: number, cont: string): string {
  const chars = [...text];
  const open = style === 'plain' ? 0 : 1;
  let col = column;
  let out = '';
  let spaces = false;
  // for quoted styles `text` is the quoted form: index 0 and last are the quotes
  const first = open;
  const last = chars.length - 1 - open;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === ' ' && i >= first && i <= last) {
      const next = chars[i + 1];
      const canBreak = !spaces && col > BEST_WIDTH && (style === 'plain' ? next !== undefined && next !== ' ' : i > first && i < last);
      if (canBreak) {
        out += `\n${cont}`;
        col = cont.length;
        if (style === 'double' && next === ' ') {
          out += '\\';
          col++;
        }
      } else {
        out += c;
        col++;
      }
      spaces = true;
    } else {
      out += c;
      col++;
      spaces = false;
    }
  }
  return out;
}

function scalarText(s: string, indent: string, column = 0, allowBreaks = true): string {
  if (s.includes('\n') && !SPECIAL.test(s) && !/ \n/.test(s) && !/ $/.test(s)) {
    // literal block: chomping from trailing newlines, indentation indicator for leading space
    const trailing = s.length - trimTrailing(s, '\n').length;
    const chomp = trailing === 0 ? '-' : trailing === 1 ? '' : '+';
    const ind = /^[ \n]/.test(s) ? '2' : '';
    const body = trailing > 0 ? s.slice(0, s.length - 1) : s;
    const lines = body.split('\n').map((l) => (l ? `${indent}  ${l}` : ''));
    return `|${ind}${chomp}\n${lines.join('\n')}`;
  }
  const cont = `${indent}  `;
  let style: 'plain' | 'single' | 'double';
  let text: string;
  if (s.includes('\n') || resolvesToNonString(s) || SPECIAL.test(s)) [style, text] = ['double', doubleQuote(s)];
  else if (plainAllowed(s)) [style, text] = ['plain', s];
  else [style, text] = ['single', `'${s.replace(/'/g, "''")}'`];
  return allowBreaks && style !== 'double' ? fold(text, style, column, cont) : allowBreaks ? foldDouble(text, column, cont) : text;
}

/** Double-quoted folding works on the escaped text: a space is a plain space there too. */
function foldDouble(text: string, column: number, cont: string): string {
  return fold(text, 'double', column, cont);
}

function scalar(p: Plain, indent: string, column = 0): string | undefined {
  if (p === null) return 'null';
  if (typeof p === 'boolean') return p ? 'true' : 'false';
  if (typeof p === 'string') return scalarText(p, indent, column);
  if (Array.isArray(p)) return p.length === 0 ? '[]' : undefined;
  if ('int' in p) return p.int;
  if ('float' in p) return p.float;
  return p.map.length === 0 ? '{}' : undefined;
}

function emit(p: Plain, indent: string, out: string[]): void {
  if (Array.isArray(p)) {
    for (const item of p) {
      const s = scalar(item, indent, indent.length + 2);
      if (s !== undefined) {
        out.push(`${indent}- ${s}`);
        continue;
      }
      const sub: string[] = [];
      emit(item, `${indent}  `, sub);
      sub[0] = `${indent}- ${sub[0].slice(indent.length + 2)}`;
      out.push(...sub);
    }
    return;
  }
  if (p && typeof p === 'object' && 'map' in p) {
    for (const [k, v] of p.map) {
      const key = scalarText(k, indent, 0, false);
      const s = scalar(v, indent, indent.length + [...key].length + 2);
      if (s !== undefined) {
        out.push(`${indent}${key}: ${s}`);
        continue;
      }
      out.push(`${indent}${key}:`);
      emit(v, Array.isArray(v) ? indent : `${indent}  `, out);
    }
  }
}

/** yaml.Marshal as Helm's toYaml does it (with the trailing newline; toYaml trims it). */
export function goYamlMarshal(v: unknown): string {
  const p = viaJson(v);
  const s = scalar(p, '');
  if (s !== undefined) return `${s}\n`;
  const out: string[] = [];
  emit(p, '', out);
  return `${out.join('\n')}\n`;
}

export function isGoMap(v: unknown): v is Record<string, unknown> {
  return isMap(v);
}
