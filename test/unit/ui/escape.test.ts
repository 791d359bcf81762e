import { afterEach, describe, expect, it, vi } from 'vitest';
import { reportError } from '../../../src/cli/run.js';
import { FerryError } from '../../../src/errors.js';
import { escapeControls, escapeJson, escapeLine } from '../../../src/ui/escape.js';
import { note, printResult } from '../../../src/ui/output.js';

// What an attacker puts in a ref.name annotation: retitle the terminal, clear the screen,
// a C1 CSI, a bidi override that reverses what follows, DEL and NUL.
const HOSTILE = 'app\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202egnp.exe\u007f\u0000\r';
// eslint-disable-next-line no-control-regex
const ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe('escapeControls / escapeLine', () => {
  it('writes every control character as a visible escape', () => {
    expect(escapeControls(HOSTILE)).toBe('app\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u202egnp.exe\\x7f\\x00\\r');
    expect(escapeControls(HOSTILE)).not.toMatch(ACTIVE);
  });

  it('keeps newlines and tabs in messages, escapes them in one-line fields', () => {
    expect(escapeControls('a\n\tb')).toBe('a\n\tb');
    expect(escapeLine('a\n\tb')).toBe('a\\n\\tb');
    expect(escapeLine('bidi \u2066x\u2069')).toBe('bidi \\u2066x\\u2069');
  });

  it('writes the invisible directional marks (LRM, RLM, ALM) visibly too: they reorder the text around them', () => {
    expect(escapeControls('a/b\u200f/c\u200e\u061c')).toBe('a/b\\u200f/c\\u200e\\u061c');
    expect(escapeLine('x\u200fy')).toBe('x\\u200fy');
    const json = escapeJson(JSON.stringify({ n: 'p\u200fq' }));
    expect(json).toBe('{"n":"p\\u200fq"}');
    expect(JSON.parse(json)).toEqual({ n: 'p\u200fq' });
  });

  it('leaves ordinary text, including non-ASCII letters, alone', () => {
    const plain = 'docker.io/library/alpine:3.20 — Ünïcødé 日本 ✓';
    expect(escapeControls(plain)).toBe(plain);
    expect(escapeLine(plain)).toBe(plain);
  });
});

describe('escapeJson', () => {
  it('escapes what JSON.stringify leaves raw, and the data parses back the same', () => {
    const data = { name: HOSTILE, sep: 'a\u2028b' };
    const raw = JSON.stringify(data);
    expect(raw).toMatch(/[\u007f-\u009f\u202e\u2028]/);
    const safe = escapeJson(raw);
    expect(safe).not.toMatch(ACTIVE);
    expect(safe).not.toMatch(/[\u2028\u2029]/);
    expect(JSON.parse(safe)).toEqual(data);
  });
});

describe('the printing boundary', () => {
  afterEach(() => vi.restoreAllMocks());

  function capture(stream: NodeJS.WriteStream): string[] {
    const out: string[] = [];
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    return out;
  }

  it('escapes an error message, its details and its hint once', () => {
    const err = capture(process.stderr);
    const code = reportError(new FerryError('VERIFY', `bundle ref ${HOSTILE}: damaged`, { details: [`ref.name ${HOSTILE}\nhint: forged`], hint: `re-create ${HOSTILE}` }), false);
    expect(code).toBe(3);
    const text = err.join('');
    expect(text).not.toMatch(ACTIVE);
    expect(text).toContain('error: bundle ref app\\x1b]0;pwned\\x07\\x1b[2J');
    expect(text).toContain('  - ref.name app\\x1b]0;pwned');
    // A detail cannot forge a top-level line: its further lines are escaped and indented under it.
    expect(text).toContain('\\r\n    hint: forged\n');
    expect(text.split('\n').filter((l) => l.startsWith('hint:'))).toHaveLength(1);
    // Escaped once: the backslash of an escape is not escaped again.
    expect(text).not.toContain('\\\\x1b');
  });

  it('escapes an unexpected error too', () => {
    const err = capture(process.stderr);
    reportError(new Error(`boom ${HOSTILE}`), false);
    expect(err.join('')).not.toMatch(ACTIVE);
    expect(err.join('')).toContain('unexpected error: boom app\\x1b]0;');
  });

  it('escapes human results and warnings; --json stays parseable JSON with the same data', () => {
    const out = capture(process.stdout);
    const err = capture(process.stderr);
    const data = { name: HOSTILE, list: [HOSTILE] };
    printResult(data, {}, (d) => `imported ${d.name}\n${d.list.join('\n')}`);
    note(`warning: ${HOSTILE}`);
    expect(out.join('')).not.toMatch(ACTIVE);
    expect(out.join('')).toContain('imported app\\x1b]0;pwned');
    expect(err.join('')).not.toMatch(ACTIVE);
    out.length = 0;
    printResult(data, { json: true }, () => '');
    const json = out.join('');
    expect(json).not.toMatch(ACTIVE);
    expect(JSON.parse(json)).toEqual(data);
  });
});
