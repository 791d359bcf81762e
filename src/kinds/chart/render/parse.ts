/**
 * Go text/template: lexer and parser. Produces the same tree shapes as Go's text/template/parse
 * (lists, actions, if/range/with with else branches, template invocations, pipelines with
 * declarations, commands, fields, chains, variables, literals), with `{{-`/`-}}` trimming and
 * comments handled as Go does.
 */
import { goBytesOf, goQuote, goStringOf } from './govalue.js';

export class TemplateParseError extends Error {}

type TokType =
  | 'text'
  | 'left'
  | 'right'
  | 'ident'
  | 'field'
  | 'variable'
  | 'dot'
  | 'string'
  | 'rawstring'
  | 'char'
  | 'number'
  | 'bool'
  | 'nil'
  | 'pipe'
  | 'lparen'
  | 'rparen'
  | 'declare'
  | 'assign'
  | 'comma'
  | 'keyword'
  | 'space'
  | 'comment'
  | 'eof';

interface Token {
  t: TokType;
  v: string;
  line: number;
  pos: number;
}

const KEYWORDS = new Set(['block', 'break', 'continue', 'define', 'else', 'end', 'if', 'range', 'nil', 'template', 'with']);

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const ALNUM = /[\p{L}\p{Nd}_]/u;
const isAlnum = (c: string) => {
  const n = c.charCodeAt(0);
  if (n < 128) return (n >= 48 && n <= 57) || (n >= 65 && n <= 90) || (n >= 97 && n <= 122) || n === 95;
  return ALNUM.test(c);
};

function lex(name: string, input: string): Token[] {
  const toks: Token[] = [];
  let pos = 0;
  let line = 1;
  const lineAt = (p: number) => {
    // count lines incrementally
    return p;
  };
  void lineAt;
  let lastPos = 0;
  const advanceLine = (to: number) => {
    for (let i = lastPos; i < to; i++) if (input.charCodeAt(i) === 10) line++;
    lastPos = to;
  };
  const err = (msg: string): never => {
    advanceLine(pos);
    throw new TemplateParseError(`template: ${name}:${line}: ${msg}`);
  };
  const emit = (t: TokType, start: number, end: number, v = input.slice(start, end)) => {
    advanceLine(start);
    toks.push({ t, v, line, pos: start });
  };
  // Go's lexer ends a field, variable, identifier or lone `.` only at a space, `.`, `,`, `|`, `:`,
  // a paren or the right delimiter: `.Values.a-b`, `include"x"` and `$x=1` are `bad character`.
  const terminated = (q: number) => {
    const cp = input.codePointAt(q);
    if (cp === undefined || isSpace(input[q]) || '.,|:()'.includes(input[q]) || input.startsWith('}}', q)) return;
    pos = q;
    const c = String.fromCodePoint(cp);
    const u = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
    err(`bad character ${/\p{L}|\p{M}|\p{N}|\p{P}|\p{S}|\p{Zs}/u.test(c) ? `${u} '${c}'` : u}`);
  };
  while (pos < input.length) {
    const open = input.indexOf('{{', pos);
    if (open < 0) {
      emit('text', pos, input.length);
      pos = input.length;
      break;
    }
    let textEnd = open;
    let after = open + 2;
    const trimLeft = input[after] === '-' && isSpace(input[after + 1] ?? '');
    if (trimLeft) {
      while (textEnd > pos && isSpace(input[textEnd - 1])) textEnd--;
      after += 2;
    }
    if (textEnd > pos) emit('text', pos, textEnd);
    pos = after;
    // comment
    let p = pos;
    if (input.startsWith('/*', p)) {
      const close = input.indexOf('*/', p + 2);
      if (close < 0) err('unclosed comment');
      p = close + 2;
      let trimRight = false;
      if (input.startsWith(' -}}', p) || input.startsWith('\t-}}', p) || input.startsWith('\n-}}', p) || input.startsWith('\r-}}', p)) {
        trimRight = true;
        p += 4;
      } else if (input.startsWith('}}', p)) p += 2;
      else err('comment ends before closing delimiter');
      advanceLine(p);
      pos = p;
      if (trimRight) while (pos < input.length && isSpace(input[pos])) pos++;
      toks.push({ t: 'comment', v: '', line, pos: open });
      continue;
    }
    emit('left', open, pos, '{{');
    let parenDepth = 0;
    // inside action
    for (;;) {
      if (pos >= input.length) err('unclosed action');
      const c = input[pos];
      // right delimiter, with trim marker
      if (isSpace(c)) {
        let q = pos;
        while (q < input.length && isSpace(input[q])) q++;
        if (input.startsWith('-}}', q)) {
          emit('right', q, q + 3, '}}');
          pos = q + 3;
          while (pos < input.length && isSpace(input[pos])) pos++;
          break;
        }
        emit('space', pos, q);
        pos = q;
        continue;
      }
      if (input.startsWith('}}', pos)) {
        if (parenDepth > 0) err('unclosed left paren');
        emit('right', pos, pos + 2, '}}');
        pos += 2;
        break;
      }
      if (c === '|') {
        emit('pipe', pos, pos + 1);
        pos++;
      } else if (c === '(') {
        emit('lparen', pos, pos + 1);
        parenDepth++;
        pos++;
      } else if (c === ')') {
        emit('rparen', pos, pos + 1);
        parenDepth--;
        if (parenDepth < 0) err(`unexpected right paren`);
        pos++;
      } else if (c === ',') {
        emit('comma', pos, pos + 1);
        pos++;
      } else if (c === ':' && input[pos + 1] === '=') {
        emit('declare', pos, pos + 2);
        pos += 2;
      } else if (c === '=') {
        emit('assign', pos, pos + 1);
        pos++;
      } else if (c === '"') {
        let q = pos + 1;
        while (q < input.length && input[q] !== '"') {
          if (input[q] === '\\') q++;
          if (input[q] === '\n') err('unterminated quoted string');
          q++;
        }
        if (q >= input.length) err('unterminated quoted string');
        emit('string', pos, q + 1);
        pos = q + 1;
      } else if (c === '`') {
        const q = input.indexOf('`', pos + 1);
        if (q < 0) err('unterminated raw quoted string');
        emit('rawstring', pos, q + 1);
        pos = q + 1;
      } else if (c === "'") {
        let q = pos + 1;
        while (q < input.length && input[q] !== "'") {
          if (input[q] === '\\') q++;
          q++;
        }
        emit('char', pos, q + 1);
        pos = q + 1;
      } else if (c === '$') {
        let q = pos + 1;
        while (q < input.length && isAlnum(input[q])) q++;
        terminated(q);
        emit('variable', pos, q);
        pos = q;
      } else if (c === '.') {
        if (/[0-9]/.test(input[pos + 1] ?? '')) {
          const q = scanNumber(input, pos);
          emit('number', pos, q);
          pos = q;
        } else if (isAlnum(input[pos + 1] ?? '')) {
          let q = pos + 1;
          while (q < input.length && isAlnum(input[q])) q++;
          terminated(q);
          emit('field', pos, q);
          pos = q;
        } else {
          terminated(pos + 1);
          emit('dot', pos, pos + 1);
          pos++;
        }
      } else if (c === '+' || c === '-' || (c >= '0' && c <= '9')) {
        const q = scanNumber(input, pos);
        if (q === pos) err(`bad number syntax: "${input.slice(pos, pos + 2)}"`);
        if (isAlnum(input[q] ?? '')) err(`bad number syntax: "${input.slice(pos, q + 1)}"`);
        emit('number', pos, q);
        pos = q;
      } else if (isAlnum(c)) {
        let q = pos;
        while (q < input.length && isAlnum(input[q])) q++;
        terminated(q);
        const word = input.slice(pos, q);
        if (KEYWORDS.has(word)) emit(word === 'nil' ? 'nil' : 'keyword', pos, q);
        else if (word === 'true' || word === 'false') emit('bool', pos, q);
        else emit('ident', pos, q);
        pos = q;
      } else {
        err(`unexpected "${c}" in ${'command'}`);
      }
    }
  }
  emit('eof', input.length, input.length, '');
  return toks;
}

function scanNumber(s: string, p: number): number {
  let q = p;
  if (s[q] === '+' || s[q] === '-') q++;
  let digits = '0123456789_';
  if (s[q] === '0' && /[xX]/.test(s[q + 1] ?? '')) {
    q += 2;
    digits = '0123456789abcdefABCDEF_';
  } else if (s[q] === '0' && /[oO]/.test(s[q + 1] ?? '')) {
    q += 2;
    digits = '01234567_';
  } else if (s[q] === '0' && /[bB]/.test(s[q + 1] ?? '')) {
    q += 2;
    digits = '01_';
  }
  while (q < s.length && digits.includes(s[q])) q++;
  if (s[q] === '.') {
    q++;
    while (q < s.length && digits.includes(s[q])) q++;
  }
  if (digits.length === 11 && /[eE]/.test(s[q] ?? '')) {
    q++;
    if (s[q] === '+' || s[q] === '-') q++;
    while (q < s.length && /[0-9_]/.test(s[q])) q++;
  }
  // Hexadecimal floats (`0x1p60`, `0x1.8p-3`), as Go's lexer accepts them.
  if (digits.length === 23 && /[pP]/.test(s[q] ?? '')) {
    q++;
    if (s[q] === '+' || s[q] === '-') q++;
    while (q < s.length && /[0-9_]/.test(s[q])) q++;
  }
  if (s[q] === 'i') q++;
  return q;
}

// ── tree ─────────────────────────────────────────────────────────────────────

export type Node =
  | { type: 'text'; text: string; line: number }
  | { type: 'action'; pipe: Pipe; line: number }
  | { type: 'if' | 'with'; pipe: Pipe; list: Node[]; elseList?: Node[]; line: number }
  | { type: 'range'; pipe: Pipe; list: Node[]; elseList?: Node[]; line: number }
  /** `pos`: where the name is (Go's TemplateNode position), for an error's location. */
  | { type: 'template'; name: string; pipe?: Pipe; line: number; pos: number }
  | { type: 'break' | 'continue'; line: number };

/**
 * Positions (`pos`) are offsets into the parsed text, as Go's parse.Pos: an execution error is
 * located at the node the executor last reached (`template: FILE:LINE:COL: executing "NAME" at
 * <NODE>: …`), line and byte column counted from the text (see `errorLocation`).
 */
export interface Pipe {
  type: 'pipeline';
  decl: string[];
  isAssign: boolean;
  cmds: Arg[][];
  /** Where each command starts (Go's CommandNode position). */
  cmdPos: number[];
  line: number;
  pos: number;
  text: string;
}

export type Arg = (
  | { type: 'field'; idents: string[] }
  | { type: 'variable'; idents: string[] }
  | { type: 'chain'; node: Arg; fields: string[] }
  | { type: 'ident'; name: string }
  | { type: 'dot' }
  | { type: 'nil' }
  | { type: 'bool'; value: boolean }
  | { type: 'number'; value: number | bigint; text: string }
  /** `quoted`: as written (`"a"`, `` `a` ``), as Go's StringNode prints it in an error's `at <…>`. */
  | { type: 'string'; value: string; quoted: string }
  | { type: 'pipe'; pipe: Pipe }
) & { pos: number };

/**
 * A node an execution error can be at (Go's `state.node`): an operand, a pipeline, a command (a
 * function's `error calling`) or a `{{template}}`.
 */
export type ErrorNode = Arg | Pipe | { type: 'command'; args: Arg[]; pos: number } | Extract<Node, { type: 'template' }>;

/**
 * Go's Node.String() of `n`, as an error's `at <…>` prints it: a command's parenthesized
 * pipelines in parentheses, a pipeline's declarations before ` := `. Bounded: a crafted template's
 * nesting is bounded by the parser (MAX_NESTING), its length by the template's.
 */
export function nodeString(n: ErrorNode): string {
  switch (n.type) {
    case 'field':
      return `.${n.idents.join('.')}`;
    case 'variable':
      return n.idents.join('.');
    case 'chain':
      return `${n.node.type === 'pipe' ? `(${nodeString(n.node.pipe)})` : nodeString(n.node)}.${n.fields.join('.')}`;
    case 'ident':
      return n.name;
    case 'dot':
      return '.';
    case 'nil':
      return 'nil';
    case 'bool':
      return String(n.value);
    case 'number':
      return n.text;
    case 'string':
      return n.quoted;
    case 'pipe':
      return nodeString(n.pipe);
    case 'pipeline':
      return `${n.decl.length ? `${n.decl.join(', ')} := ` : ''}${n.cmds.map((c) => nodeString({ type: 'command', args: c, pos: 0 })).join(' | ')}`;
    case 'command':
      return n.args.map((a) => (a.type === 'pipe' ? `(${nodeString(a.pipe)})` : nodeString(a))).join(' ');
    case 'template':
      return `{{template ${goQuote(n.name)}${n.pipe ? ` ${nodeString(n.pipe)}` : ''}}}`;
  }
}

/** Go's ErrorContext location of offset `pos` in `text`: `LINE:COL`, the column in bytes from 0. */
export function errorLocation(text: string, pos: number): string {
  const start = pos > 0 ? text.lastIndexOf('\n', pos - 1) + 1 : 0;
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < pos; i = text.indexOf('\n', i + 1)) line++;
  return `${line}:${Buffer.byteLength(text.slice(start, pos))}`;
}

export interface ParsedTemplate {
  /** The template's own body (undefined when the file only defines). */
  root: Node[];
  /** `{{define}}` / `{{block}}` bodies found in the text. */
  defines: Map<string, Node[]>;
  /** The text parsed: node positions are offsets into it. */
  text: string;
}

function unquote(tok: Token, err: (m: string) => never): string {
  if (tok.t === 'rawstring') return tok.v.slice(1, -1).replace(/\r/g, '');
  const body = tok.v.slice(1, -1);
  let out = '';
  // strconv.Unquote: `\x` and octal escapes are bytes, not characters
  let bytesEscaped = false;
  const byteOf = (b: number): string => {
    if (b < 0x80) return String.fromCharCode(b);
    bytesEscaped = true;
    return String.fromCharCode(0xdc00 + b);
  };
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = body[++i];
    switch (n) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'a':
        out += '\x07';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case '\\':
        out += '\\';
        break;
      case '"':
        out += '"';
        break;
      case "'":
        out += "'";
        break;
      case 'x':
        out += byteOf(parseInt(body.slice(i + 1, i + 3), 16));
        i += 2;
        break;
      case 'u':
        out += String.fromCodePoint(parseInt(body.slice(i + 1, i + 5), 16));
        i += 4;
        break;
      case 'U':
        out += String.fromCodePoint(parseInt(body.slice(i + 1, i + 9), 16));
        i += 8;
        break;
      default:
        if (n >= '0' && n <= '7') {
          out += byteOf(parseInt(body.slice(i, i + 3), 8));
          i += 2;
        } else err(`invalid syntax: ${tok.v}`);
    }
  }
  // `\xc3\xa9` is the bytes of é; `\xff` a byte that is no UTF-8 (kept escaped, as govalue keeps one)
  return bytesEscaped ? goStringOf(goBytesOf(out)) : out;
}

function parseNumber(text: string): number | bigint | undefined {
  const t = text.replace(/_/g, '');
  if (/^[+-]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+)$/.test(t)) {
    const neg = t.startsWith('-');
    const body = t.replace(/^[+-]/, '');
    const v = BigInt(body.toLowerCase().startsWith('0o') ? `0o${body.slice(2)}` : body);
    return neg ? -v : v;
  }
  if (/^[+-]?0[0-7]+$/.test(t)) {
    const neg = t.startsWith('-');
    const v = BigInt(`0o${t.replace(/^[+-]?0/, '')}`);
    return neg ? -v : v;
  }
  if (/^[+-]?\d+$/.test(t)) return BigInt(t);
  if (/^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(t)) return Number(t);
  // strconv.ParseFloat's hexadecimal form: mantissa in hex, binary exponent after p (required).
  // (`[0-9a-f]*(?:\.[0-9a-f]*)?`, not `[0-9a-f]*\.?[0-9a-f]*`: the same numbers, without quadratic backtracking)
  const hex = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?\d+)$/.exec(t);
  const frac = hex?.[3] ?? '';
  if (hex && (hex[2] || frac)) {
    const mant = Number(BigInt(`0x${hex[2] || '0'}${frac}`));
    const v = mant * 2 ** (Number(hex[4]) - 4 * frac.length);
    return hex[1] === '-' ? -v : v;
  }
  return undefined;
}

const CACHE = new Map<string, ParsedTemplate>();
const CACHE_MAX = 20000;

/** Parse template text; `name` is used in error messages (`template: chart/templates/x.yaml:3: ...`). Trees are immutable and cached. */
/**
 * Deepest nesting of parentheses and control structures a template may have. Go's parser stops
 * parentheses at 10000 (1000 where stacks are small); here both the parser and the executor recurse
 * per level, so a crafted `((((…))))` or `{{if}}{{if}}…` overflowed the stack ("failed unexpectedly").
 * Charts nest a few levels (an `else if` chain of a few dozen at most).
 */
const MAX_NESTING = 500;

export function parseTemplate(name: string, text: string): ParsedTemplate {
  const key = `${name}\u0000${text}`;
  const hit = CACHE.get(key);
  if (hit) return hit;
  const parsed = parseUncached(name, text);
  if (CACHE.size >= CACHE_MAX) CACHE.delete(CACHE.keys().next().value!);
  CACHE.set(key, parsed);
  return parsed;
}

function parseUncached(name: string, text: string): ParsedTemplate {
  const toks = lex(name, text);
  let i = 0;
  const defines = new Map<string, Node[]>();
  const err = (msg: string, tok: Token = toks[Math.min(i, toks.length - 1)]): never => {
    throw new TemplateParseError(`template: ${name}:${tok.line}: ${msg}`);
  };
  const peek = () => toks[i];
  const next = () => toks[i++];
  const peekNonSpace = () => {
    let j = i;
    while (toks[j].t === 'space') j++;
    return toks[j];
  };
  const nextNonSpace = () => {
    while (toks[i].t === 'space') i++;
    return toks[i++];
  };
  const expect = (t: TokType, ctx: string) => {
    const tok = nextNonSpace();
    if (tok.t !== t) err(`unexpected ${describe(tok)} in ${ctx}`, tok);
    return tok;
  };
  const describe = (tok: Token) => (tok.t === 'eof' ? 'EOF' : tok.t === 'right' ? '"}}"' : `"${tok.v}"`);

  let loopDepth = 0;
  let varScopes: string[][] = [['$']];
  /** Parentheses and control structures open around the current token (bounded: each level is a stack frame, here and in exec). */
  let nesting = 0;
  const nested = <T>(tok: Token, f: () => T): T => {
    if (++nesting > MAX_NESTING) err(`max nesting depth (${MAX_NESTING}) exceeded; parentheses, {{if}}, {{else if}}, {{with}} and {{range}} nest this deep only in a crafted template`, tok);
    try {
      return f();
    } finally {
      nesting--;
    }
  };
  const hasVar = (n: string) => varScopes.some((s) => s.includes(n));

  // Parse a list of nodes until {{end}} / {{else}}; returns the terminating keyword.
  const itemList = (ctx: string): { list: Node[]; end: 'end' | 'else' | 'eof'; elseTok?: Token } => {
    const list: Node[] = [];
    for (;;) {
      const tok = peek();
      if (tok.t === 'eof') {
        if (ctx !== 'top') err(`unexpected EOF`);
        return { list, end: 'eof' };
      }
      if (tok.t === 'text') {
        next();
        list.push({ type: 'text', text: tok.v, line: tok.line });
        continue;
      }
      if (tok.t === 'comment') {
        next();
        continue;
      }
      // left delim
      next();
      const kw = peekNonSpace();
      if (kw.t === 'keyword' && (kw.v === 'end' || kw.v === 'else')) {
        nextNonSpace();
        if (ctx === 'top') err(`unexpected {{${kw.v}}}`, kw);
        if (kw.v === 'end') {
          expect('right', 'end');
          return { list, end: 'end' };
        }
        return { list, end: 'else', elseTok: kw };
      }
      const node = action();
      if (node) list.push(node);
    }
  };

  const action = (): Node | undefined => {
    const tok = peekNonSpace();
    if (tok.t === 'keyword') {
      nextNonSpace();
      switch (tok.v) {
        case 'if':
        case 'with':
          return control(tok.v, tok);
        case 'range':
          return control('range', tok);
        case 'template':
          return templateCall(tok);
        case 'block':
          return blockCall(tok);
        case 'define':
          defineCall(tok);
          return undefined;
        case 'break':
        case 'continue':
          if (loopDepth === 0) err(`{{${tok.v}}} outside {{range}}`, tok);
          expect('right', tok.v);
          return { type: tok.v, line: tok.line };
        default:
          err(`unexpected keyword ${tok.v}`, tok);
      }
    }
    const pipe = pipeline('command', 'right');
    return { type: 'action', pipe, line: tok.line };
  };

  const control = (kind: 'if' | 'with' | 'range', tok: Token): Node => nested(tok, () => controlBody(kind, tok));
  const controlBody = (kind: 'if' | 'with' | 'range', tok: Token): Node => {
    varScopes.push([]);
    const pipe = pipeline(kind, 'right');
    if (kind === 'range') loopDepth++;
    const body = itemList(kind);
    if (kind === 'range') loopDepth--;
    let elseList: Node[] | undefined;
    if (body.end === 'else') {
      // {{else if ...}} / {{else with ...}} chain into a nested control in the else list
      const n = peekNonSpace();
      if ((kind === 'if' && n.t === 'keyword' && n.v === 'if') || (kind === 'with' && n.t === 'keyword' && n.v === 'with')) {
        nextNonSpace();
        const chained = control(n.v as 'if' | 'with', n);
        elseList = [chained];
        varScopes.pop();
        return { type: kind, pipe, list: body.list, elseList, line: tok.line } as Node;
      }
      expect('right', 'else');
      const rest = itemList(kind);
      if (rest.end !== 'end') err(`expected end; found {{else}}`, rest.elseTok);
      elseList = rest.list;
    }
    varScopes.pop();
    return { type: kind, pipe, list: body.list, elseList, line: tok.line } as Node;
  };

  const templateName = (ctx: string): string => {
    const tok = nextNonSpace();
    if (tok.t !== 'string' && tok.t !== 'rawstring') err(`unexpected ${describe(tok)} in ${ctx} clause`, tok);
    return unquote(tok, err);
  };

  const templateCall = (tok: Token): Node => {
    const nameTok = peekNonSpace();
    const name = templateName('template');
    let pipe: Pipe | undefined;
    if (peekNonSpace().t !== 'right') pipe = pipeline('template', 'right');
    else nextNonSpace();
    return { type: 'template', name, pipe, line: tok.line, pos: nameTok.pos };
  };

  const blockCall = (tok: Token): Node => {
    const nameTok = peekNonSpace();
    const name = templateName('block');
    let pipe: Pipe | undefined;
    if (peekNonSpace().t !== 'right') pipe = pipeline('block', 'right');
    else nextNonSpace();
    const saved = varScopes;
    varScopes = [['$']];
    const body = itemList('block');
    varScopes = saved;
    if (body.end !== 'end') err('unexpected {{else}} in block', body.elseTok);
    defines.set(name, body.list);
    return { type: 'template', name, pipe, line: tok.line, pos: nameTok.pos };
  };

  const defineCall = (tok: Token) => {
    const name = templateName('define');
    expect('right', 'define');
    const saved = varScopes;
    const savedLoop = loopDepth;
    varScopes = [['$']];
    loopDepth = 0;
    const body = itemList('define');
    varScopes = saved;
    loopDepth = savedLoop;
    if (body.end !== 'end') err('unexpected {{else}} in define', body.elseTok);
    void tok;
    defines.set(name, body.list);
  };

  const pipeline = (ctx: string, end: 'right' | 'rparen'): Pipe => {
    const startTok = peekNonSpace();
    const decl: string[] = [];
    let isAssign = false;
    // declarations: $x := / $x = / $i, $v :=
    const save = i;
    const v1 = nextNonSpace();
    if (v1.t === 'variable') {
      const n = peekNonSpace();
      if (n.t === 'declare' || n.t === 'assign') {
        nextNonSpace();
        decl.push(v1.v);
        isAssign = n.t === 'assign';
      } else if (n.t === 'comma' && ctx === 'range') {
        nextNonSpace();
        const v2 = nextNonSpace();
        if (v2.t !== 'variable') err(`range can only initialize variables`, v2);
        const d = nextNonSpace();
        if (d.t !== 'declare' && d.t !== 'assign') err(`range can only initialize variables`, d);
        isAssign = d.t === 'assign';
        decl.push(v1.v, v2.v);
      } else i = save;
    } else i = save;
    // Go's parser declares the variables of an assignment too, without checking that they exist
    // (parse.go pipeline): `{{ $x = 1 }}` with no `$x` parses, and fails only when executed
    // (`undefined variable: $x`); a later `{{ $x }}` in the scope parses as well.
    for (const d of decl) varScopes[varScopes.length - 1].push(d);
    const cmds: Arg[][] = [];
    const cmdPos: number[] = [];
    for (;;) {
      const tok = peekNonSpace();
      if (tok.t === end) {
        nextNonSpace();
        break;
      }
      if (tok.t === 'eof' || (tok.t === 'right' && end === 'rparen')) err(`unclosed left paren`, tok);
      cmdPos.push(tok.pos);
      cmds.push(command(end));
      const after = peekNonSpace();
      // A pipe before the closing delimiter is accepted, as Go's parser does (`{{ x | nindent 4 | }}`:
      // command() stops at the pipe, and the pipeline loop then meets its end).
      if (after.t === 'pipe') nextNonSpace();
    }
    if (cmds.length === 0) err(`missing value for ${ctx}`, startTok);
    for (let c = 1; c < cmds.length; c++) {
      const first = cmds[c][0];
      if (['bool', 'dot', 'nil', 'number', 'string'].includes(first.type)) err(`non executable command in pipeline stage ${c + 1}`, startTok);
    }
    const text = ''; // filled for messages by the executor when needed
    return { type: 'pipeline', decl, isAssign, cmds, cmdPos, line: startTok.line, pos: startTok.pos, text };
  };

  const command = (end: 'right' | 'rparen'): Arg[] => {
    const args: Arg[] = [];
    for (;;) {
      while (peek().t === 'space') next();
      const tok = peek();
      if (tok.t === end || tok.t === 'pipe') break;
      if (tok.t === 'rparen' || tok.t === 'right' || tok.t === 'eof') err(`unexpected ${describe(tok)} in operand`, tok);
      args.push(operand());
      const after = peek();
      if (after.t !== 'space' && after.t !== end && after.t !== 'pipe' && after.t !== 'rparen' && after.t !== 'right') err(`unexpected ${describe(after)} in operand`, after);
    }
    if (args.length === 0) err('empty command');
    return args;
  };

  const operand = (): Arg => {
    const t = term();
    if (peek().t !== 'field') return t;
    // Go's operand: the chain, and the field or variable it extends, is at its first added field
    const pos = peek().pos;
    const fields: string[] = [];
    while (peek().t === 'field') fields.push(next().v.slice(1));
    if (t.type === 'field' || t.type === 'variable') return { ...t, idents: [...t.idents, ...fields], pos };
    if (t.type === 'bool' || t.type === 'string' || t.type === 'number' || t.type === 'nil' || t.type === 'dot')
      err(`unexpected . after term`);
    return { type: 'chain', node: t, fields, pos };
  };

  const term = (): Arg => {
    const tok = next();
    switch (tok.t) {
      case 'ident':
        return { type: 'ident', name: tok.v, pos: tok.pos };
      case 'dot':
        return { type: 'dot', pos: tok.pos };
      case 'nil':
        return { type: 'nil', pos: tok.pos };
      case 'variable':
        if (!hasVar(tok.v)) err(`undefined variable "${tok.v}"`, tok);
        return { type: 'variable', idents: [tok.v], pos: tok.pos };
      case 'field':
        return { type: 'field', idents: [tok.v.slice(1)], pos: tok.pos };
      case 'bool':
        return { type: 'bool', value: tok.v === 'true', pos: tok.pos };
      case 'number': {
        const v = parseNumber(tok.v);
        if (v === undefined) err(`bad number syntax: "${tok.v}"`, tok);
        // parse.newNumber: an integer beyond uint64 (or below int64) is refused, as a float out
        // of float64's range is: "integer overflow" where ParseFloat reads it, else "illegal number syntax"
        if (typeof v === 'bigint' && (v >= 2n ** 64n || v < -(2n ** 63n)))
          err(`${/^[+-]?0[xXoObB]/.test(tok.v) ? 'illegal number syntax' : 'integer overflow'}: ${JSON.stringify(tok.v)}`, tok);
        if (typeof v === 'number' && !Number.isFinite(v)) err(`illegal number syntax: ${JSON.stringify(tok.v)}`, tok);
        return { type: 'number', value: v!, text: tok.v, pos: tok.pos };
      }
      case 'char': {
        const s = unquote({ ...tok, v: `"${tok.v.slice(1, -1).replace(/"/g, '\\"')}"` }, err);
        return { type: 'number', value: BigInt(s.codePointAt(0) ?? 0), text: tok.v, pos: tok.pos };
      }
      case 'string':
      case 'rawstring':
        return { type: 'string', value: unquote(tok, err), quoted: tok.v, pos: tok.pos };
      case 'lparen': {
        const pipe = nested(tok, () => pipeline('parenthesized pipeline', 'rparen'));
        return { type: 'pipe', pipe, pos: pipe.pos };
      }
      default:
        return err(`unexpected ${describe(tok)} in operand`, tok);
    }
  };

  const body = itemList('top');
  return { root: body.list, defines, text };
}
