/**
 * encoding/json's syntax check (its scanner, run before any decoding) with Go's messages, so that
 * `fromJson`/`fromJsonArray` give the `Error` text Helm gives (`invalid character '}' looking for
 * beginning of object key string`), not JavaScript's JSON.parse wording.
 */
import { goBytesOf, goQuote } from './govalue.js';

/** encoding/json's quoteChar: the byte as a one-character Go string in single quotes. */
function quoteChar(c: number): string {
  if (c === 0x27) return `'\\''`;
  if (c === 0x22) return `'"'`;
  const q = goQuote(String.fromCharCode(c));
  return `'${q.slice(1, -1)}'`;
}

const SPACE_OK = new Set(['', 'looking for beginning of value', 'looking for beginning of object key string', 'after object key', 'after object key:value pair', 'after array element']);

/** The first syntax error of `text` as encoding/json reports it, or undefined when it is valid JSON. */
export function goJsonSyntaxError(text: string): string | undefined {
  const b = goBytesOf(text);
  let i = 0;
  class Syntax extends Error {}
  // At the end of the input the scanner takes one more space: where a space is no error (between
  // tokens, inside a string) the input ended early; inside a number, literal or escape the space
  // itself is the invalid character.
  const bad = (context: string): never => {
    if (i >= b.length && SPACE_OK.has(context)) throw new Syntax('unexpected end of JSON input');
    throw new Syntax(`invalid character ${quoteChar(i < b.length ? b[i] : 0x20)} ${context}`);
  };
  const space = () => {
    while (i < b.length && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0a || b[i] === 0x0d)) i++;
  };
  const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
  const isHex = (c: number) => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
  const digits = () => {
    while (i < b.length && isDigit(b[i])) i++;
  };
  const string = () => {
    i++; // the opening quote
    for (;;) {
      if (i >= b.length) bad('');
      const c = b[i];
      if (c === 0x22) return void i++;
      if (c < 0x20) bad('in string literal');
      if (c === 0x5c) {
        i++;
        if (b[i] === 0x75) {
          i++;
          for (let k = 0; k < 4; k++, i++) if (i >= b.length || !isHex(b[i])) bad('in \\u hexadecimal character escape');
          continue;
        }
        if (!'bfnrt\\/"'.includes(String.fromCharCode(b[i]))) bad('in string escape code');
      }
      i++;
    }
  };
  const value = (depth: number): void => {
    space();
    const c = b[i];
    // encoding/json's maxNestingDepth: 10000 open arrays and objects
    if ((c === 0x7b || c === 0x5b) && depth >= 10000) bad('exceeded max depth');
    if (c === 0x7b) {
      i++;
      space();
      if (b[i] === 0x7d) return void i++;
      for (;;) {
        if (b[i] !== 0x22) bad('looking for beginning of object key string');
        string();
        space();
        if (b[i] !== 0x3a) bad('after object key');
        i++;
        value(depth + 1);
        space();
        if (b[i] === 0x2c) {
          i++;
          space();
          continue;
        }
        if (b[i] === 0x7d) return void i++;
        bad('after object key:value pair');
      }
    }
    if (c === 0x5b) {
      i++;
      space();
      if (b[i] === 0x5d) return void i++;
      for (;;) {
        value(depth + 1);
        space();
        if (b[i] === 0x2c) {
          i++;
          continue;
        }
        if (b[i] === 0x5d) return void i++;
        bad('after array element');
      }
    }
    if (c === 0x22) return string();
    if (c === 0x2d || isDigit(c)) {
      if (c === 0x2d) {
        i++;
        if (i >= b.length || !isDigit(b[i])) bad('in numeric literal');
      }
      if (b[i] === 0x30) i++;
      else digits();
      if (b[i] === 0x2e) {
        i++;
        if (i >= b.length || !isDigit(b[i])) bad('after decimal point in numeric literal');
        digits();
      }
      if (b[i] === 0x65 || b[i] === 0x45) {
        i++;
        if (b[i] === 0x2b || b[i] === 0x2d) i++;
        if (i >= b.length || !isDigit(b[i])) bad('in exponent of numeric literal');
        digits();
      }
      return;
    }
    for (const lit of ['true', 'false', 'null']) {
      if (c !== lit.charCodeAt(0)) continue;
      i++;
      for (let k = 1; k < lit.length; k++, i++) if (b[i] !== lit.charCodeAt(k)) bad(`in literal ${lit} (expecting ${quoteChar(lit.charCodeAt(k))})`);
      return;
    }
    bad('looking for beginning of value');
  };
  try {
    value(0);
    space();
    if (i < b.length) bad('after top-level value');
    return undefined;
  } catch (e) {
    if (e instanceof Syntax) return e.message;
    throw e;
  }
}
