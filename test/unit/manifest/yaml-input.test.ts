import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { duplicateKeys, parseHostileDocument, parseHostileDocuments, parseHostileYaml } from '../../../src/manifest/yaml-input.js';

const dupCodes = (text: string, opts: Parameters<typeof parseHostileDocument>[1] = { duplicates: 'refuse' }) =>
  parseHostileDocument(text, opts).errors.filter((e) => e.code === 'DUPLICATE_KEY').map((e) => e.pos[0]);

describe('hostile YAML: duplicate keys in linear time', () => {
  it('finds the keys the library finds, at the same places', () => {
    const samples = [
      'a: 1\na: 2\n',
      '{a: 1, b: 2, a: 3}',
      'x:\n  y: 1\n  z: 2\n  y: 3\nw: [ {k: 1, k: 2} ]\n',
      '~: 1\nnull: 2\n',
      'true: 1\nTrue: 2\n',
      '0x10: 1\n16: 2\n',
      '1: a\n"1": b\n',
      '- a: 1\n  b: 2\n- a: 3\n  a: 4\n',
      'x: &x {a: 1}\nz:\n  <<: *x\n  <<: *x\n',
    ];
    for (const s of samples) {
      const lib = parseDocument(s, { uniqueKeys: true }).errors.filter((e) => e.code === 'DUPLICATE_KEY').map((e) => e.pos[0]);
      expect(dupCodes(s), s).toEqual(lib);
    }
    // Two empty keys: both null, a duplicate (the library places it a character later, past the `?` line's break).
    expect(dupCodes('? \n: 1\n? \n: 2\n')).toHaveLength(1);
  });

  it('reports the duplicate with its key, line and column, and parseHostileYaml throws it as the library\'s parse did', () => {
    const text = 'apiVersion: v1\nentries:\n  nginx: []\n  redis: []\n  nginx: [x]\n';
    const doc = parseHostileDocument(text, { duplicates: 'refuse' });
    expect(doc.errors.map((e) => e.message)).toEqual(['Map keys must be unique ("nginx" is written twice) at line 5, column 3']);
    expect(() => parseHostileYaml(text, { duplicates: 'refuse' })).toThrow(/^Map keys must be unique \("nginx" is written twice\) at line 5, column 3$/);
    expect(parseHostileYaml(text, { duplicates: 'last-wins' })).toEqual({ apiVersion: 'v1', entries: { nginx: ['x'], redis: [] } });
    // Without pretty errors, the position only (callers print their own line:column).
    expect(parseHostileDocument(text, { duplicates: 'refuse', prettyErrors: false }).errors[0].message).toBe('Map keys must be unique ("nginx" is written twice)');
  });

  it('finds a duplicate at any depth, in every document of a stream', () => {
    let deep = '';
    for (let i = 0; i < 200; i++) deep += `${'  '.repeat(i)}k${i}:\n`;
    deep += `${'  '.repeat(200)}a: 1\n${'  '.repeat(200)}a: 2\n`;
    expect(parseHostileDocument(deep, { duplicates: 'refuse' }).errors[0].message).toMatch(/"a" is written twice\) at line 202, column 401/);
    const docs = parseHostileDocuments('a: 1\n---\nb: 1\nb: 2\n---\nc: [ {d: 1, d: 1} ]\n', { duplicates: 'refuse' });
    expect(Array.isArray(docs) && docs.map((d) => d.errors.length)).toEqual([0, 1, 1]);
  });

  it('counts a key written as an alias as its anchor\'s value (the library compared none)', () => {
    expect(duplicateKeys(parseDocument('a: &k foo\n*k : 1\nfoo: 2\n', { uniqueKeys: false })).map((d) => d.text)).toEqual(['foo']);
    // The anchor as defined at that point of the document: redefined later, the alias keeps the earlier one.
    expect(duplicateKeys(parseDocument('a: &k one\nm:\n  *k : 1\n  one: 2\nb: &k two\n', { uniqueKeys: false })).map((d) => d.text)).toEqual(['one']);
    expect(duplicateKeys(parseDocument('a: &k one\nm:\n  *k : 1\n  two: 2\nb: &k two\n', { uniqueKeys: false }))).toEqual([]);
    // An alias to no anchor, or to a map, is no scalar key: not compared.
    expect(duplicateKeys(parseDocument('m: &m {x: 1}\nn:\n  *m : 1\n  *m : 2\n', { uniqueKeys: false }))).toEqual([]);
  });

  it('lets a map hold several merge keys where merges are read (YAML 1.1, merge: true), as the library does; `<<` is a plain key otherwise', () => {
    const text = 'x: &x {a: 1}\ny: &y {b: 2}\nz:\n  <<: *x\n  <<: *y\n';
    expect(dupCodes(text, { duplicates: 'refuse', merge: true })).toEqual([]);
    expect(dupCodes(text.replace('y: &y', 'w: &y'), { duplicates: 'refuse', version: '1.1' })).toEqual([]);
    expect(parseHostileYaml(text, { duplicates: 'refuse', merge: true })).toEqual({ x: { a: 1 }, y: { b: 2 }, z: { a: 1, b: 2 } });
    expect(dupCodes(text)).toHaveLength(1);
  });

  it('reads a map of 40 000 keys, one written twice at its end, in one pass (the library compared each key with every key before it: 71 s)', () => {
    const lines: string[] = [];
    for (let i = 0; i < 40_000; i++) lines.push(`k${i}: ${i}`);
    lines.push('k7: again');
    const doc = parseHostileDocument(lines.join('\n'), { duplicates: 'refuse' });
    expect(doc.errors.map((e) => e.message)).toEqual(['Map keys must be unique ("k7" is written twice) at line 40001, column 1']);
  }, 30_000);

  it('bounds alias expansion when a document becomes data', () => {
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) laughs.push(`${'abcdefgh'[i]}: &${'abcdefgh'[i]} [${Array(10).fill(`*${'abcdefgh'[i - 1]}`).join(', ')}]`);
    expect(() => parseHostileYaml(laughs.join('\n'), { duplicates: 'refuse' })).toThrow(/Excessive alias count/);
  });
});
