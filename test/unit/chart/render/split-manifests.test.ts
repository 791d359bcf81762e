/**
 * Helm splits a template's output into documents with `(?:^|\s*\n)---\s*` on Go's linear-time
 * engine. ferry used the same expression on JavaScript's backtracking engine, where `\s*\n`
 * retries every start inside a run of whitespace: a chart's deep CRD templates (testkube's
 * 600 KB TestWorkflow CRDs, 40+ spaces of indentation per line) spent 2 of `charts images`'
 * 2.5 s there. The scan that replaced it must split exactly as the expression does (Go's `\s`
 * is ASCII whitespace), on every input.
 */
import { describe, expect, it } from 'vitest';
import { splitManifests } from '../../../../src/kinds/chart/render/index.js';

/** The expression Helm uses, with Go's `\s`, applied as the old code did. */
function byRegex(text: string): Array<{ text: string; offset: number }> {
  const big = `\n${text}\n`;
  const sep = /(?:^|[\t\n\f\r ]*\n)---[\t\n\f\r ]*/g;
  const out: Array<{ text: string; offset: number }> = [];
  let last = 0;
  const push = (from: number, to: number) => {
    const raw = big.slice(from, to);
    if (raw.trim() === '') return;
    out.push({ text: raw.trim(), offset: from + (raw.length - raw.trimStart().length) - 1 });
  };
  for (let m = sep.exec(big); m; m = sep.exec(big)) {
    push(last, m.index);
    last = m.index + m[0].length;
  }
  push(last, big.length);
  return out;
}

describe('splitManifests', () => {
  it('splits as Helm does: separators at line starts, text glued to ---, leading and trailing whitespace', () => {
    const text = '---\na: 1\n  \n---\nb: 2\n---x: 3\n  ---\nc: ---\n---\n---\n\n\t---  \nd: 4\n';
    const got = splitManifests(text);
    expect(got).toEqual(byRegex(text));
    // a --- the previous separator's whitespace swallowed the line break of, or one indented, is text
    expect(got.map((d) => d.text)).toEqual(['a: 1', 'b: 2', 'x: 3\n  ---\nc: ---', '---\n\n\t---  \nd: 4']);
    // offsets point at the document's first byte in the template output
    for (const d of got) expect(text.slice(d.offset, d.offset + d.text.length)).toBe(d.text);
  });

  it('agrees with the expression on 20 000 random inputs of separators, whitespace and text', () => {
    const alphabet = ['-', '-', '---', '\n', '\n', ' ', '  ', '\t', '\r', '\f', '\v', '\u00a0', 'a', 'b: 1', '#'];
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 20_000; i++) {
      let s = '';
      const len = rnd(30);
      for (let j = 0; j < len; j++) s += alphabet[rnd(alphabet.length)];
      expect(splitManifests(s), JSON.stringify(s)).toEqual(byRegex(s));
    }
  });

  it('splits a deeply indented document (a CRD schema) into the same documents', () => {
    const deep = Array.from({ length: 2000 }, (_, i) => `${' '.repeat(40 + (i % 20))}key${i}: value`).join('\n');
    const text = `---\nkind: CustomResourceDefinition\nspec:\n${deep}\n   \n---\nkind: ConfigMap\n`;
    const got = splitManifests(text);
    expect(got).toEqual(byRegex(text));
    expect(got).toHaveLength(2);
  });
});
