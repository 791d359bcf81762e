import { describe, expect, it } from 'vitest';
import { goFilepathMatch, helmIgnore, HelmIgnoreError, MAX_IGNORE_RULES } from '../../../../src/kinds/chart/render/helmignore.js';

const ERR = 'bad pattern';
const match = (pattern: string, name: string): boolean | typeof ERR => {
  try {
    return goFilepathMatch(pattern, name);
  } catch {
    return ERR;
  }
};

describe("Go's filepath.Match", () => {
  // The table of Go's src/path/filepath/match_test.go (matchTests, Go 1.19-1.24), case for case.
  const goTable: Array<[string, string, boolean | typeof ERR]> = [
    ['abc', 'abc', true],
    ['*', 'abc', true],
    ['*c', 'abc', true],
    ['a*', 'a', true],
    ['a*', 'abc', true],
    ['a*', 'ab/c', false],
    ['a*/b', 'abc/b', true],
    ['a*/b', 'a/c/b', false],
    ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
    ['a*b?c*x', 'abxbbxdbxebxczzx', true],
    ['a*b?c*x', 'abxbbxdbxebxczzy', false],
    ['ab[c]', 'abc', true],
    ['ab[b-d]', 'abc', true],
    ['ab[e-g]', 'abc', false],
    ['ab[^c]', 'abc', false],
    ['ab[^b-d]', 'abc', false],
    ['ab[^e-g]', 'abc', true],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'ab', false],
    ['a?b', 'a☺b', true],
    ['a[^a]b', 'a☺b', true],
    ['a???b', 'a☺b', false],
    ['a[^a][^a][^a]b', 'a☺b', false],
    ['[a-ζ]*', 'α', true],
    ['*[a-ζ]', 'A', false],
    ['a?b', 'a/b', false],
    ['a*b', 'a/b', false],
    ['[\\]a]', ']', true],
    ['[\\-]', '-', true],
    ['[x\\-]', 'x', true],
    ['[x\\-]', '-', true],
    ['[x\\-]', 'z', false],
    ['[\\-x]', 'x', true],
    ['[\\-x]', '-', true],
    ['[\\-x]', 'a', false],
    ['[]a]', ']', ERR],
    ['[-]', '-', ERR],
    ['[x-]', 'x', ERR],
    ['[x-]', '-', ERR],
    ['[x-]', 'z', ERR],
    ['[-x]', 'x', ERR],
    ['[-x]', '-', ERR],
    ['[-x]', 'a', ERR],
    ['\\', 'a', ERR],
    ['[a-b-c]', 'a', ERR],
    ['[', 'a', ERR],
    ['[^', 'a', ERR],
    ['[^bc', 'a', ERR],
    ['a[', 'a', ERR],
    ['a[', 'ab', ERR],
    ['a[', 'x', ERR],
    ['a/b[', 'x', ERR],
    ['*x', 'xxx', true],
  ];
  it.each(goTable)('Match(%j, %j) = %j', (pattern, name, want) => {
    expect(match(pattern, name)).toBe(want);
  });

  it('reads `[!a]` as the class of `!` and `a` (Go negates with `^` only), and `\\` escapes', () => {
    expect(match('[!a].txt', 'b.txt')).toBe(false);
    expect(match('[!a].txt', '!.txt')).toBe(true);
    expect(match('[!a].txt', 'a.txt')).toBe(true);
    expect(match('[^a].txt', 'b.txt')).toBe(true);
    expect(match('\\[x\\]', '[x]')).toBe(true);
    expect(match('\\[x\\]', 'x')).toBe(false);
  });

  it('checks the whole pattern even when an earlier part already failed (Go 1.20 on, which Helm ships)', () => {
    expect(match('[^a]*[]a]', 'a]')).toBe(ERR);
    expect(match('x*[', 'abc')).toBe(ERR);
  });

  it('steps a star over bytes, as Go does: `*??` matches the 3-byte "€" from its second byte', () => {
    expect(match('*??', '€')).toBe(true);
    expect(match('??', '€')).toBe(false);
  });
});

describe("Helm's .helmignore rules (pkg/ignore/rules.go)", () => {
  it('matches a rule without `/` against the base name, one with `/` against the path, `/x` from the root, `x/` directories only', () => {
    const ig = helmIgnore('*.bak\nconf/*.txt\n/top.md\nsecret/\n', true);
    expect(ig('a/b/c.bak', false)).toBe(true);
    expect(ig('conf/x.txt', false)).toBe(true);
    expect(ig('deep/conf/x.txt', false)).toBe(false);
    expect(ig('top.md', false)).toBe(true);
    expect(ig('sub/top.md', false)).toBe(false);
    expect(ig('secret', true)).toBe(true);
    expect(ig('secret', false)).toBe(false);
    expect(ig('templates/.hidden', false)).toBe(true);
    expect(ig('charts/x/templates/.hidden', false)).toBe(false);
  });

  it('a negated rule ignores every path it does not match (Helm, not gitignore)', () => {
    const ig = helmIgnore('*.bak\n!keep.bak\n', false);
    expect(ig('drop.bak', false)).toBe(true);
    expect(ig('keep.bak', false)).toBe(true);
    expect(ig('Chart.yaml', false)).toBe(true);
    const dirOnly = helmIgnore('!templates/\n', false);
    expect(dirOnly('templates', true)).toBe(false);
    expect(dirOnly('Chart.yaml', false)).toBe(true);
  });

  it('refuses what Helm refuses: `**`, a bad pattern; bounds the rules', () => {
    expect(() => helmIgnore('ok\n**/x\n', false, 'c/.helmignore')).toThrow(/c\/\.helmignore line 2: "\*\*\/x": double-star/);
    expect(() => helmIgnore('[]a]\n', false)).toThrow(HelmIgnoreError);
    expect(() => helmIgnore('!x[\n', false)).toThrow(/line 1: "!x\[": syntax error in pattern/);
    expect(() => helmIgnore(Array.from({ length: MAX_IGNORE_RULES + 1 }, (_, i) => `f${i}`).join('\n'), false)).toThrow(/more than 1000 rules/);
  });

  it('trims as Go does: a byte-order mark is no space', () => {
    expect(helmIgnore('\uFEFF*.bak\n', false)('a.bak', false)).toBe(false);
    expect(helmIgnore(' *.bak\r\n', false)('a.bak', false)).toBe(true);
  });
});
