/**
 * Go text/template execution over JavaScript Go values (see govalue.ts): pipelines, variables and
 * their scopes, if/else/range/with, template invocation, break/continue, the built-in functions,
 * `missingkey=zero` with Go's `<no value>` printing, and `and`/`or` short-circuit.
 */
import {
  asSlice,
  chartValuesMethods,
  deepEqual,
  formatV,
  goBytesOf,
  goKind,
  GO_INTERNAL,
  goQuote,
  GoStruct,
  goCopyOf,
  goSprint,
  goSprintln,
  goStringOf,
  goTypeName,
  GoSizedInt,
  uint8Of,
  intValue,
  isInt,
  isMap,
  isNil,
  isNilMap,
  sameListType,
  truthy,
} from './govalue.js';
import { goSprintf } from './gofmt.js';
import { errorLocation, nodeString, parseTemplate, TemplateParseError, type Arg, type ErrorNode, type Node, type Pipe } from './parse.js';
import { arityError, argTypeError, methodArgTypeError } from './signatures.js';

export type GoFunc = (...args: unknown[]) => unknown;

export class TemplateExecError extends Error {
  constructor(
    message: string,
    /** The message the template itself gave (`required`, `fail`), without the location. */
    readonly bare?: string,
    /** One of RENDER_LIMITS was passed: the message is not wrapped again by each include on the way out. */
    readonly bound = false,
  ) {
    super(message);
  }
}

/** Raised by functions to report a problem; the executor adds the location. */
export class FuncError extends Error {}

class BreakSignal {}
class ContinueSignal {}

const NOFINAL = Symbol('nofinal');

/**
 * Bounds on one rendering, for charts that are crafted (or broken): templates calling each other
 * (template, include, tpl) without end would overflow the JavaScript stack long before Go's
 * 100 000 levels, a range over a huge list or number would run for hours, and output or strings
 * could grow past memory. Each bound is far above what real charts need (nesting of tens, loops
 * of thousands, manifests of megabytes) and ends the rendering with a TemplateExecError naming it.
 */
export const RENDER_LIMITS = {
  /** Templates running inside each other, all kinds together. */
  nesting: 200,
  /** Range iterations in one top-level rendering, all ranges together. */
  iterations: 10_000_000,
  /** Characters one Writer (a template's output, an include's result) may hold. */
  outputChars: 64 * 1024 * 1024,
};

/** Nesting of running templates and range iterations of the current top-level rendering (rendering is synchronous). */
let nesting = 0;
let iterations = 0;

function nested<T>(name: string, run: () => T): T {
  if (nesting === 0) iterations = 0;
  if (nesting >= RENDER_LIMITS.nesting) {
    throw new TemplateExecError(`template: ${name}: exceeded maximum template depth (${RENDER_LIMITS.nesting}): templates call each other (template, include, tpl) without end`, undefined, true);
  }
  nesting++;
  try {
    return run();
  } finally {
    nesting--;
  }
}

/** Output with, for the template being rendered, the source line each piece came from. */
export class Writer {
  private parts: string[] = [];
  private size = 0;
  /** [output offset, template line, text node] for top-level writes. */
  readonly marks: Array<[number, number, boolean]> = [];
  constructor(readonly track = false) {}
  write(s: string, line: number, text: boolean, depth: number): void {
    if (!s) return;
    if (this.track && depth === 0) this.marks.push([this.size, line, text]);
    if (this.size + s.length > RENDER_LIMITS.outputChars) {
      throw new TemplateExecError(`template output larger than ${RENDER_LIMITS.outputChars} characters; refusing to render on (a loop over a huge list?)`, undefined, true);
    }
    this.parts.push(s);
    this.size += s.length;
  }
  toString(): string {
    return this.parts.join('');
  }
}

/**
 * Template line for an output offset. `<no value>` removal shifts offsets; callers map with the
 * text before removal or accept a line off by none (removal never spans a newline).
 */
export function lineForOffset(marks: Array<[number, number, boolean]>, output: string, offset: number): number | undefined {
  let lo = 0;
  let hi = marks.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (marks[mid][0] <= offset) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (best < 0) return undefined;
  const [start, line, text] = marks[best];
  if (!text) return line;
  let n = 0;
  for (let i = start; i < offset && i < output.length; i++) if (output.charCodeAt(i) === 10) n++;
  return line + n;
}

interface Variable {
  name: string;
  value: unknown;
  /** Set by a range over an []interface{} or map[string]interface{}: the value's static type is interface {} (see State.dotIface). */
  iface?: boolean;
}

interface State {
  name: string;
  /** The file the running template was parsed from (Go's ParseName): where its errors are located. */
  file: string;
  /** The text it was parsed from: node positions are offsets into it. */
  text: string;
  vars: Variable[];
  out: Writer;
  depth: number;
  /** The node the executor last reached (Go's `state.node`, set by `at`): an error is located there. */
  at?: ErrorNode;
  /** Dot is an element of a range over an []interface{} or map[string]interface{}: its static type is interface {}. */
  dotIface?: boolean;
}

/** The file each parsed body (a file's root or one of its defines) came from, and its text. */
const parseNames = new WeakMap<Node[], { file: string; text: string }>();

function isEmptyTree(nodes: Node[]): boolean {
  return nodes.every((n) => n.type === 'text' && n.text.trim() === '');
}

/** text/template's basicKind: the comparison class of a value (int and uint apart; anything else invalid). */
type CmpKind = 'bool' | 'int' | 'uint' | 'float' | 'string' | 'invalid';
function basicKind(v: unknown): CmpKind {
  if (v instanceof GoSizedInt) return v.type === 'int64' ? 'int' : 'uint';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'bigint':
      return 'int';
    case 'number':
      return 'float';
    case 'string':
      return 'string';
  }
  return 'invalid';
}

const isIntKind = (k: CmpKind): boolean => k === 'int' || k === 'uint';

/** text/template's isNil: nil, or a nil map or slice of its type. */
function isNilValue(v: unknown): boolean {
  return isNil(v) || isNilMap(v) || (v instanceof GoStruct && v.goNil === true);
}

/** fmt's %s of a reflect.Value, as text/template's comparison errors print one (`map[a:%!s(float64=1)]`). */
const formatS = (v: unknown): string => goSprintf('%s', [v]);

/**
 * text/template's eq of two values: the same basic kind (an int and a uint compare by value; a
 * float64 and an int are `incompatible types for comparison`, as `eq .Values.n 1` is in Helm, a
 * values number being a float64); nil equals only nil; otherwise values of one kind, and a
 * non-comparable one (a list, a map) refused.
 */
function basicEq(a: unknown, b: unknown): boolean {
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka !== kb) {
    if (isIntKind(ka) && isIntKind(kb)) return intValue(a) === intValue(b);
    if (!isNil(a) && !isNil(b)) throw new FuncError('incompatible types for comparison');
    return false;
  }
  if (isIntKind(ka)) return intValue(a) === intValue(b);
  if (ka !== 'invalid') return a === b;
  const ga = goKind(a);
  const gb = goKind(b);
  if (ga !== gb && ga !== 'invalid' && gb !== 'invalid') throw new FuncError(`non-comparable types ${formatS(a)}: ${goTypeName(a)}, ${goTypeName(b)}: ${formatV(b)}`);
  if (isNilValue(a) || isNilValue(b)) return isNilValue(a) === isNilValue(b);
  if (gb === 'slice' || gb === 'map') throw new FuncError(`non-comparable type ${formatS(b)}: ${goTypeName(b)}`);
  return a === b || deepEqual(a, b);
}

/** text/template's lt: two values of one basic kind but bool (an int and a uint compare by value); strings by their bytes. */
function basicLess(a: unknown, b: unknown): boolean {
  const ka = basicKind(a);
  if (ka === 'invalid') throw new FuncError('invalid type for comparison');
  const kb = basicKind(b);
  if (kb === 'invalid') throw new FuncError('invalid type for comparison');
  if (ka !== kb) {
    if (isIntKind(ka) && isIntKind(kb)) return intValue(a)! < intValue(b)!;
    throw new FuncError('incompatible types for comparison');
  }
  switch (ka) {
    case 'bool':
      throw new FuncError('invalid type for comparison');
    case 'string':
      return Buffer.compare(goBytesOf(a as string), goBytesOf(b as string)) < 0;
    case 'float':
      return (a as number) < (b as number);
    default:
      return intValue(a)! < intValue(b)!;
  }
}

/** text/template's indexArg: an integer of any size; a float64 (a values number, `1.0`) or nil is refused. */
function toIndex(v: unknown): number {
  if (isInt(v)) return Number(v);
  throw new FuncError(isNil(v) ? 'cannot index slice/array with nil' : `cannot index slice/array with type ${goTypeName(v)}`);
}

function htmlEscape(s: string): string {
  return s.replace(/[<>&'"\0]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&#39;', '"': '&#34;', '\0': '\uFFFD' })[c]!);
}

function jsEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (ch === '"') out += '\\"';
    else if (ch === '<') out += '\\u003C';
    else if (ch === '>') out += '\\u003E';
    else if (ch === '&') out += '\\u0026';
    else if (ch === '=') out += '\\u003D';
    else if (c < 0x20) out += `\\u${c.toString(16).toUpperCase().padStart(4, '0')}`;
    else out += ch;
  }
  return out;
}

/** Go's url.QueryEscape. */
export function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/%20/g, '+')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%7E/g, '~');
}

/** A key of a Go map of a named or typed map type: its value, or the element type's zero value. */
function mapIndex(m: GoStruct, key: string): unknown {
  const entries = m.goRange!();
  return Object.hasOwn(entries, key) ? entries[key] : m.goZero;
}

const BUILTINS: Record<string, GoFunc> = {
  call: (fn, ...args) => {
    if (typeof fn !== 'function') throw new FuncError(`non-function of type ${goTypeName(fn)}`);
    return (fn as GoFunc)(...args);
  },
  index: (item, ...idx) => {
    let v = item;
    for (const i of idx) {
      if (isNil(v)) throw new FuncError('index of untyped nil');
      v = asSlice(v) ?? v;
      if (Array.isArray(v) || typeof v === 'string' || v instanceof Uint8Array) {
        const n = toIndex(i);
        const len = typeof v === 'string' ? goBytesOf(v).length : v.length;
        if (n < 0 || n >= len) throw new FuncError(`index out of range: ${n}`);
        v = typeof v === 'string' ? uint8Of(goBytesOf(v)[n]) : v instanceof Uint8Array ? uint8Of(v[n]) : v[n];
      } else if (v instanceof GoStruct && v.goRange) {
        if (typeof i !== 'string') throw new FuncError(`value has type ${goTypeName(i)}; should be string`);
        v = mapIndex(v, i);
      } else if (isMap(v)) {
        if (isNil(i)) v = undefined;
        else if (typeof i !== 'string') throw new FuncError(`value has type ${goTypeName(i)}; should be string`);
        else v = Object.hasOwn(v, i) ? v[i] : undefined;
      } else throw new FuncError(`can't index item of type ${goTypeName(v)}`);
    }
    return v;
  },
  slice: (item, ...idx) => {
    if (isNil(item)) throw new FuncError('slice of untyped nil');
    if (idx.length > 3) throw new FuncError(`too many slice indexes: ${idx.length}`);
    const n = idx.map(toIndex);
    if (typeof item === 'string') {
      const b = goBytesOf(item);
      if (idx.length === 3) throw new FuncError('cannot 3-index slice a string');
      return goStringOf(b.subarray(n[0] ?? 0, n[1] ?? b.length));
    }
    const elems = asSlice(item);
    if (elems) return sameListType(elems, elems.slice(n[0] ?? 0, n[1] ?? elems.length));
    throw new FuncError(`can't slice item of type ${goTypeName(item)}`);
  },
  len: (item) => {
    if (isNil(item)) throw new FuncError('len of nil pointer');
    if (typeof item === 'string') return BigInt(goBytesOf(item).length);
    if (Array.isArray(item) || item instanceof Uint8Array) return BigInt(item.length);
    if (isMap(item)) return BigInt(Object.keys(item).length);
    if (item instanceof GoStruct && item.goLen) return BigInt(item.goLen());
    throw new FuncError(`len of type ${goTypeName(item)}`);
  },
  not: (v) => !truthy(v),
  eq: (a, ...rest) => {
    if (rest.length === 0) throw new FuncError('missing argument for comparison');
    return rest.some((b) => basicEq(a, b));
  },
  ne: (a, b) => !basicEq(a, b),
  lt: (a, b) => basicLess(a, b),
  le: (a, b) => basicLess(a, b) || basicEq(a, b),
  gt: (a, b) => !basicLess(a, b) && !basicEq(a, b),
  ge: (a, b) => !basicLess(a, b),
  print: (...args) => goSprint(args),
  printf: (format, ...args) => goSprintf(String(format), args),
  println: (...args) => goSprintln(args),
  html: (...args) => htmlEscape(evalArgs(args)),
  js: (...args) => jsEscape(evalArgs(args)),
  urlquery: (...args) => queryEscape(evalArgs(args)),
};

/** text/template's evalArgs (html, js, urlquery): printableValue makes each nil `<no value>` before fmt.Sprint. */
function evalArgs(args: unknown[]): string {
  if (args.length === 1 && typeof args[0] === 'string') return args[0];
  return goSprint(args.map((a) => (isNil(a) ? '<no value>' : a)));
}

/**
 * A set of named templates sharing one function map, like Go's *template.Template with its
 * associated templates. `child()` is `Clone()` for `tpl`: new defines stay in the child.
 */
export class TemplateSet {
  private readonly own = new Map<string, Node[]>();
  funcs: Record<string, GoFunc>;
  /** Nested include depth per name (Helm stops at 1000). */
  readonly includeDepth = new Map<string, number>();

  constructor(
    funcs: Record<string, GoFunc> = {},
    private readonly parent?: TemplateSet,
  ) {
    this.funcs = funcs;
  }

  child(): TemplateSet {
    return new TemplateSet(this.funcs, this);
  }

  lookup(name: string): Node[] | undefined {
    return this.own.get(name) ?? this.parent?.lookup(name);
  }

  has(name: string): boolean {
    return this.lookup(name) !== undefined;
  }

  /** Parsed texts whose functions checkFunctions found in this set. */
  private readonly checked = new WeakSet<object>();

  /** Parse `text` as template `name`; its defines join the set (a later non-empty define wins). */
  parse(name: string, text: string): Node[] {
    const parsed = parseTemplate(name, text);
    // Once per parsed text and set: `tpl` in a loop parses (from the cache) the same text each time.
    if (!this.checked.has(parsed)) {
      this.checkFunctions(name, parsed.text, [parsed.root, ...parsed.defines.values()]);
      this.checked.add(parsed);
    }
    const source = { file: name, text };
    for (const [n, body] of parsed.defines) {
      parseNames.set(body, source);
      this.associate(n, body);
    }
    parseNames.set(parsed.root, source);
    this.associate(name, parsed.root);
    return parsed.root;
  }

  /**
   * Go's parser refuses a function the set does not have (`template: FILE:LINE: function "x" not
   * defined`), before anything runs. One pass over the tree (its nesting is bounded by the parser).
   */
  private checkFunctions(name: string, text: string, bodies: Node[][]): void {
    const has = (f: string) => Object.hasOwn(this.funcs, f) || Object.hasOwn(BUILTINS, f) || f === 'and' || f === 'or';
    // the first in the text, as the parser meets it (defines and the root are separate trees)
    let first: Extract<Arg, { type: 'ident' }> | undefined;
    const arg = (a: Arg): void => {
      if (a.type === 'ident' && !has(a.name) && (!first || a.pos < first.pos)) first = a;
      if (a.type === 'chain') arg(a.node);
      if (a.type === 'pipe') pipe(a.pipe);
    };
    const pipe = (p: Pipe | undefined): void => {
      for (const c of p?.cmds ?? []) for (const a of c) arg(a);
    };
    const list = (nodes: Node[] | undefined): void => {
      for (const n of nodes ?? []) {
        if (n.type === 'action' || n.type === 'template') pipe(n.pipe);
        else if (n.type === 'if' || n.type === 'with' || n.type === 'range') {
          pipe(n.pipe);
          list(n.list);
          list(n.elseList);
        }
      }
    };
    for (const b of bodies) list(b);
    if (first) throw new TemplateParseError(`template: ${name}:${errorLocation(text, first.pos).split(':')[0]}: function ${goQuote(first.name)} not defined`);
  }

  /** Run a parsed body directly (Helm's tpl runs the text it parsed, even when it is empty). */
  executeBody(name: string, body: Node[], data: unknown, out: Writer): void {
    const st: State = { name, ...(parseNames.get(body) ?? { file: name, text: '' }), vars: [{ name: '$', value: data }], out, depth: 0 };
    nested(name, () => this.walkList(st, data, body));
  }

  private associate(name: string, body: Node[]): void {
    const old = this.lookup(name);
    if (old && isEmptyTree(body)) return;
    this.own.set(name, body);
  }

  /** Run template `name` with `data` as dot (and `$`). */
  execute(name: string, data: unknown, out: Writer): void {
    const body = this.lookup(name);
    if (!body) throw new TemplateExecError(`template: no template ${JSON.stringify(name)} associated with template "gotpl"`);
    const st: State = { name, ...(parseNames.get(body) ?? { file: name, text: '' }), vars: [{ name: '$', value: data }], out, depth: 0 };
    nested(name, () => this.walkList(st, data, body));
  }

  /**
   * Go's state.errorf: `template: FILE:LINE:COL: executing "NAME" at <NODE>: msg`, located at the
   * node the executor last reached (`st.at`), or `template: NAME: msg` before any.
   */
  private fail(st: State, msg: string, bare?: string, bound = false): never {
    const where = st.at ? `${st.file}:${errorLocation(st.text, st.at.pos)}: executing ${goQuote(st.name)} at <${nodeString(st.at)}>` : st.name;
    throw new TemplateExecError(`template: ${where}: ${msg}`, bare, bound);
  }

  private walkList(st: State, dot: unknown, list: Node[]): void {
    for (const n of list) this.walk(st, dot, n);
  }

  private walk(st: State, dot: unknown, node: Node): void {
    switch (node.type) {
      case 'text':
        st.out.write(node.text, node.line, true, st.depth);
        return;
      case 'action': {
        const v = this.evalPipeline(st, dot, node.pipe);
        if (node.pipe.decl.length === 0) st.out.write(this.printable(v), node.line, false, st.depth);
        return;
      }
      case 'if':
      case 'with': {
        const mark = st.vars.length;
        const v = this.evalPipeline(st, dot, node.pipe);
        if (truthy(v) && node.type === 'with') {
          // with's dot is the pipeline's value, of its own type (evalPipeline unwraps the interface)
          const saved = st.dotIface;
          st.dotIface = false;
          this.walkList(st, v, node.list);
          st.dotIface = saved;
        } else if (truthy(v)) this.walkList(st, dot, node.list);
        else if (node.elseList) this.walkList(st, dot, node.elseList);
        st.vars.length = mark;
        return;
      }
      case 'range':
        return this.walkRange(st, dot, node);
      case 'template': {
        st.at = node;
        const body = this.lookup(node.name);
        // Go's walkTemplate; `no template … associated with template` is ExecuteTemplate's (include).
        if (!body) this.fail(st, `template ${JSON.stringify(node.name)} not defined`);
        const mark = st.vars.length;
        const v = node.pipe ? this.evalPipeline(st, dot, node.pipe) : undefined;
        st.vars.length = mark;
        if (nesting >= RENDER_LIMITS.nesting) this.fail(st, `exceeded maximum template depth (${RENDER_LIMITS.nesting}): templates call each other (template, include, tpl) without end`, undefined, true);
        const sub: State = { name: node.name, ...(parseNames.get(body!) ?? { file: node.name, text: '' }), vars: [{ name: '$', value: v }], out: st.out, depth: st.depth + 1 };
        nested(node.name, () => this.walkList(sub, v, body!));
        return;
      }
      case 'break':
        throw new BreakSignal();
      case 'continue':
        throw new ContinueSignal();
    }
  }

  private walkRange(st: State, dot: unknown, node: Extract<Node, { type: 'range' }>): void {
    const mark = st.vars.length;
    const got = this.evalPipeline(st, dot, node.pipe);
    // A named slice type (chartutil.VersionSet) ranges as the slice it is.
    const v = asSlice(got) ?? got;
    // evalPipeline pushed declared variables; the range assigns them per element instead.
    st.vars.length = mark;
    const decl = node.pipe.decl;
    const ifaceElems = (Array.isArray(v) && goTypeName(v) === '[]interface {}') || (isMap(v) && !(v instanceof GoStruct));
    const one = (key: unknown, elem: unknown): boolean => {
      if (++iterations > RENDER_LIMITS.iterations) this.fail(st, `more than ${RENDER_LIMITS.iterations} range iterations; refusing to render on (a range over a huge list or number?)`, undefined, true);
      const inner = st.vars.length;
      // the element variable holds the element as Go's range does: an interface {} value when the
      // list or map is of interface {} (`$v.x` on a number: `can't evaluate field x in type interface {}`)
      if (node.pipe.isAssign) {
        if (decl.length === 1) this.setVar(st, decl[0], elem, ifaceElems);
        else if (decl.length === 2) {
          this.setVar(st, decl[0], key);
          this.setVar(st, decl[1], elem, ifaceElems);
        }
      } else if (decl.length === 1) st.vars.push({ name: decl[0], value: elem, iface: ifaceElems });
      else if (decl.length === 2) {
        st.vars.push({ name: decl[0], value: key });
        st.vars.push({ name: decl[1], value: elem, iface: ifaceElems });
      }
      const savedIface = st.dotIface;
      st.dotIface = ifaceElems;
      try {
        this.walkList(st, elem, node.list);
      } catch (e) {
        if (e instanceof BreakSignal) {
          st.vars.length = inner;
          return false;
        }
        if (!(e instanceof ContinueSignal)) throw e;
      } finally {
        st.dotIface = savedIface;
      }
      st.vars.length = inner;
      return true;
    };
    let any = false;
    const ranged = v instanceof GoStruct ? (v.goRange?.() ?? v.goSlice?.() ?? v) : v;
    if (ranged !== v) return this.rangeOver(st, dot, node, ranged, mark, one);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        any = true;
        if (!one(BigInt(i), v[i])) break;
      }
    } else if (isMap(v)) {
      for (const k of Object.keys(v).sort()) {
        any = true;
        if (!one(k, v[k])) break;
      }
    } else if (isInt(v)) {
      // Go 1.22's range over an integer kind (one variable: the element; two: an error, whatever the
      // count). A float64 is no integer kind, however whole (a values number, `1e9`): it falls to
      // the default case below, as a string does.
      if (decl.length > 1) this.fail(st, `can't use ${formatV(v)} to iterate over more than one variable`);
      const n = Number(v);
      // the elements are of the count's type (an int64 count gives int64s)
      const elem = v instanceof GoSizedInt ? (i: number) => new GoSizedInt(BigInt(i), v.type) : (i: number) => BigInt(i);
      for (let i = 0; i < n; i++) {
        any = true;
        if (!one(elem(i), elem(i))) break;
      }
    } else if (v instanceof Uint8Array) {
      for (let i = 0; i < v.length; i++) {
        any = true;
        if (!one(BigInt(i), uint8Of(v[i]))) break;
      }
    } else if (!isNil(v)) {
      this.fail(st, `range can't iterate over ${formatV(v)}`);
    }
    if (!any && node.elseList) this.walkList(st, dot, node.elseList);
    st.vars.length = mark;
  }

  private rangeOver(st: State, dot: unknown, node: Extract<Node, { type: 'range' }>, v: unknown, mark: number, one: (k: unknown, e: unknown) => boolean): void {
    let any = false;
    if (isMap(v)) {
      for (const k of Object.keys(v).sort()) {
        any = true;
        if (!one(k, v[k])) break;
      }
    }
    if (!any && node.elseList) this.walkList(st, dot, node.elseList);
    st.vars.length = mark;
  }

  /** How an action prints its value: nil is `<no value>` (Helm later removes it). */
  private printable(v: unknown): string {
    if (isNil(v)) return '<no value>';
    if (typeof v === 'function') throw new FuncError(`can't print value of type func`);
    return formatV(v);
  }

  private setVar(st: State, name: string, value: unknown, iface = false): void {
    for (let i = st.vars.length - 1; i >= 0; i--) {
      if (st.vars[i].name === name) {
        st.vars[i].value = value;
        st.vars[i].iface = iface;
        return;
      }
    }
    this.fail(st, `undefined variable: ${name}`);
  }

  private variable(st: State, name: string): Variable {
    for (let i = st.vars.length - 1; i >= 0; i--) if (st.vars[i].name === name) return st.vars[i];
    return this.fail(st, `undefined variable: ${name}`);
  }

  private evalPipeline(st: State, dot: unknown, pipe: Pipe): unknown {
    st.at = pipe;
    let value: unknown = NOFINAL;
    for (let i = 0; i < pipe.cmds.length; i++) value = this.evalCommand(st, dot, pipe.cmds[i], value, pipe.cmdPos[i]);
    for (const d of pipe.decl) {
      if (pipe.isAssign) this.setVar(st, d, value);
      else st.vars.push({ name: d, value });
    }
    return value;
  }

  private evalCommand(st: State, dot: unknown, cmd: Arg[], final: unknown, cmdPos: number): unknown {
    const first = cmd[0];
    // Go's evalCommand: the executor is at the first word (evalFieldNode, evalChainNode, …)
    if (first.type !== 'pipe') st.at = first;
    switch (first.type) {
      case 'field':
        return this.evalFieldChain(st, dot, dot, first.idents, cmd, final, st.dotIface);
      case 'chain': {
        const recv = this.evalArg(st, dot, first.node);
        return this.evalFieldChain(st, dot, recv, first.fields, cmd, final);
      }
      case 'variable': {
        const { value: v, iface } = this.variable(st, first.idents[0]);
        if (first.idents.length === 1) {
          if (cmd.length > 1 || final !== NOFINAL) this.fail(st, `can't give argument to non-function ${first.idents[0]}`);
          return v;
        }
        return this.evalFieldChain(st, dot, v, first.idents.slice(1), cmd, final, iface);
      }
      case 'ident':
        return this.evalFunction(st, dot, first.name, cmd, final, cmdPos);
      case 'pipe': {
        if (cmd.length > 1 || final !== NOFINAL) this.fail(st, `can't give argument to non-function`);
        const mark = st.vars.length;
        const v = this.evalPipeline(st, dot, first.pipe);
        st.vars.length = mark;
        return v;
      }
      default:
        if (cmd.length > 1 || final !== NOFINAL) this.fail(st, `can't give argument to non-function ${this.argText(first)}`);
        // Go's evalCommand: nil is an argument (`default nil`), never a command (`{{ nil }}`, `{{ if nil }}`)
        if (first.type === 'nil') this.fail(st, 'nil is not a command');
        return this.evalArg(st, dot, first);
    }
  }

  private argText(a: Arg): string {
    switch (a.type) {
      case 'string':
        return JSON.stringify(a.value);
      case 'number':
        return a.text;
      case 'bool':
        return String(a.value);
      case 'nil':
        return 'nil';
      case 'dot':
        return '.';
      default:
        return a.type;
    }
  }

  /**
   * Whether the value the last evalArg gave, when nil, is a nil `interface {}` (Go's valid
   * reflect.Value of kind Interface: what a map lookup or a range over an []interface{} or
   * map[string]interface{} gives) rather than Go's invalid reflect.Value (a pipeline's result, which
   * evalPipeline unwraps, a variable holding one, a field of a nil dot). validateType tells them
   * apart: `wrong type for value; expected string; got interface {}` against `invalid value;
   * expected string`.
   */
  private argIface = false;

  private evalArg(st: State, dot: unknown, a: Arg): unknown {
    st.at = a;
    this.argIface = false;
    switch (a.type) {
      case 'dot':
        this.argIface = st.dotIface === true;
        return dot;
      case 'nil':
        return null;
      case 'bool':
        return a.value;
      case 'number':
        // idealConstant: an integer literal that fits uint64 but not int (IsUint alone)
        if (typeof a.value === 'bigint' && a.value >= 2n ** 63n) this.fail(st, `${a.text} overflows int`);
        return a.value;
      case 'string':
        return a.value;
      case 'field': {
        const v = this.evalFieldChain(st, dot, dot, a.idents, [a], NOFINAL, st.dotIface);
        // a field of an invalid dot is invalid (Go's evalField); any other reached a map lookup
        this.argIface = !isNil(dot) || st.dotIface === true;
        return v;
      }
      case 'variable': {
        const { value: v, iface } = this.variable(st, a.idents[0]);
        if (a.idents.length === 1) {
          this.argIface = iface === true;
          return v;
        }
        const r = this.evalFieldChain(st, dot, v, a.idents.slice(1), [a], NOFINAL, iface);
        this.argIface = !isNil(v) || iface === true;
        return r;
      }
      case 'chain': {
        const recv = this.evalArg(st, dot, a.node);
        const r = this.evalFieldChain(st, dot, recv, a.fields, [a], NOFINAL);
        this.argIface = !isNil(recv);
        return r;
      }
      case 'ident':
        return this.evalFunction(st, dot, a.name, [a], NOFINAL, a.pos);
      case 'pipe': {
        const mark = st.vars.length;
        const v = this.evalPipeline(st, dot, a.pipe);
        st.vars.length = mark;
        // evalPipeline unwraps each command's interface {} result: a nil it gives is Go's invalid
        // value, whatever the last argument evaluated inside it was (`(default (dict) .Values.x |
        // pluck "k" | first)` given to merge is a nil map, not a nil interface {})
        this.argIface = false;
        return v;
      }
    }
  }

  /** `iface`: the receiver's static type is interface {} (see State.dotIface). */
  private evalFieldChain(st: State, dot: unknown, receiver: unknown, idents: string[], cmd: Arg[], final: unknown, iface = false): unknown {
    // A nil receiver that came from dot, a variable or a parenthesized pipeline is Go's invalid
    // reflect.Value: the field is the zero value, no error (`(.Values.global).x`). A nil found by a
    // map lookup inside the chain is a nil interface: the next field is an error.
    // (An element of a range over an []interface{} or map[string]interface{} is such an interface.)
    if (isNil(receiver) && !iface) return undefined;
    let r: unknown = receiver;
    // a value found in a map[string]interface{} has the static type interface {}: Go's evalField
    // names that type, not the value's, when it has no such field
    for (let i = 0; i < idents.length - 1; i++) {
      const next = this.evalField(st, dot, idents[i], [], NOFINAL, r, cmd[0], iface);
      iface = isMap(r) && !(r instanceof GoStruct);
      r = next;
    }
    return this.evalField(st, dot, idents[idents.length - 1], cmd.slice(1), final, r, cmd[0], iface);
  }

  /** `node`: the field, variable or chain the name is part of (where a method's error is). */
  private evalField(st: State, dot: unknown, name: string, args: Arg[], final: unknown, receiver: unknown, node: Arg, iface = false): unknown {
    const hasArgs = args.length > 0 || final !== NOFINAL;
    if (isNil(receiver)) this.fail(st, `nil pointer evaluating interface {}.${name}`);
    if (receiver instanceof GoStruct) {
      const member = GO_INTERNAL.has(name) ? undefined : (receiver as unknown as Record<string, unknown>)[name];
      if (typeof member === 'function') {
        // a Go method: its argument count first, then each argument converted to its parameter
        const want = member.length;
        const got = args.length + (final !== NOFINAL ? 1 : 0);
        if (got !== want) this.fail(st, `wrong number of args for ${name}: want ${want} got ${got}`);
        const vals: unknown[] = [];
        for (const a of args) {
          vals.push(goCopyOf(this.evalArg(st, dot, a)));
          const typeError = methodArgTypeError(name, vals.length - 1, vals[vals.length - 1], a, this.argIface);
          if (typeError) this.fail(st, typeError);
        }
        if (final !== NOFINAL) {
          vals.push(goCopyOf(final));
          const typeError = methodArgTypeError(name, vals.length - 1, vals[vals.length - 1], undefined, false);
          if (typeError) this.fail(st, typeError);
        }
        return this.call(st, name, member.bind(receiver) as GoFunc, vals, node);
      }
      // a named map type (engine.files, map[string]string): after its methods, a key
      if (receiver.goRange) {
        if (hasArgs) this.fail(st, `${name} is not a method but has arguments`);
        return mapIndex(receiver, name);
      }
      if (Object.hasOwn(receiver, name) && !GO_INTERNAL.has(name)) {
        if (hasArgs) this.fail(st, `${name} has arguments but cannot be invoked as function`);
        return member;
      }
      return this.fail(st, `can't evaluate field ${name} in type ${iface ? 'interface {}' : receiver.goType}`);
    }
    const methods = chartValuesMethods(receiver);
    if (methods && Object.hasOwn(methods, name)) {
      const vals = args.map((a) => this.evalArg(st, dot, a));
      if (final !== NOFINAL) vals.push(final);
      const want = methods[name].length;
      if (vals.length !== want) this.fail(st, `wrong number of args for ${name}: want ${want} got ${vals.length}`);
      return this.call(st, name, methods[name] as GoFunc, vals, node);
    }
    if (isMap(receiver)) {
      if (hasArgs) this.fail(st, `${name} is not a method but has arguments`);
      return Object.hasOwn(receiver, name) ? receiver[name] : undefined;
    }
    return this.fail(st, `can't evaluate field ${name} in type ${iface ? 'interface {}' : goTypeName(receiver)}`);
  }

  /** `cmdPos`: where the command is (a function's error is at the command). */
  private evalFunction(st: State, dot: unknown, name: string, cmd: Arg[], final: unknown, cmdPos: number): unknown {
    st.at = cmd[0];
    const argNodes = cmd.slice(1);
    if (name === 'and' || name === 'or') {
      const all = argNodes.length + (final !== NOFINAL ? 1 : 0);
      if (all === 0) this.fail(st, `wrong number of args for ${name}: want at least 1 got 0`);
      let v: unknown;
      for (let i = 0; i < all; i++) {
        v = i < argNodes.length ? this.evalArg(st, dot, argNodes[i]) : final;
        if (name === 'and' ? !truthy(v) : truthy(v)) return v;
      }
      return v;
    }
    // own members only: `{{ constructor }}` or `{{ toString }}` is no function (Object's prototype)
    const fn = Object.hasOwn(this.funcs, name) ? this.funcs[name] : Object.hasOwn(BUILTINS, name) ? BUILTINS[name] : undefined;
    if (!fn) return this.fail(st, `function "${name}" not defined`);
    const arity = arityError(name, argNodes.length, final !== NOFINAL);
    if (arity) return this.fail(st, arity);
    // Go checks each written argument where it evaluates it: the error is at the node last reached
    // in that argument (`at <.Values.host>: … got interface {}` names the key to set). The piped
    // value: Go checks it after the written arguments, so its error is where the last of them left
    // the executor (`| trunc 5` is `at <5>`), or at the function.
    // (each argument checked once evaluated, before the next: `split .Release.Revision toToml` is
    // the int for a string, not toToml's missing argument)
    const written = (i: number) => argNodes[i];
    const ifaces: boolean[] = [];
    const nilIface = (i: number) => ifaces[i] === true;
    const vals: unknown[] = [];
    // a function receives a copy of each value (an addressable struct loses its pointer methods)
    for (const a of argNodes) {
      vals.push(goCopyOf(this.evalArg(st, dot, a)));
      ifaces.push(this.argIface);
      const typeError = argTypeError(name, vals, written, vals.length - 1, nilIface);
      if (typeError) return this.fail(st, typeError.message);
    }
    if (final !== NOFINAL) {
      // the piped value: evalPipeline unwrapped it, a nil is invalid
      vals.push(goCopyOf(final));
      const typeError = argTypeError(name, vals, written, vals.length - 1, nilIface);
      if (typeError) return this.fail(st, typeError.message);
    }
    return this.call(st, name, fn, vals, { type: 'command', args: cmd, pos: cmdPos });
  }

  /** `node`: where Go's evalCall is when the call fails (the command, or a method's field). */
  private call(st: State, name: string, fn: GoFunc, args: unknown[], node: ErrorNode): unknown {
    try {
      return fn(...args);
    } catch (e) {
      if (e instanceof BreakSignal || e instanceof ContinueSignal) throw e;
      st.at = node;
      // A template that failed inside include or tpl: Go wraps its error in the caller's, so the
      // message (and Helm's `execution error at (…)` of a required or fail) starts at the outermost
      // template, the file being rendered, not at the define that failed.
      if (e instanceof TemplateExecError) {
        if (e.bound) throw e;
        return this.fail(st, `error calling ${name}: ${e.message}`, e.bare);
      }
      const msg = e instanceof Error ? e.message : String(e);
      return this.fail(st, `error calling ${name}: ${msg}`, msg);
    }
  }
}
