import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { chartDependencies, chartLockPins } from '../../../src/kinds/chart/load.js';
import { goSprintf } from '../../../src/kinds/chart/render/gofmt.js';
import { renderChart } from '../../../src/kinds/chart/render/index.js';
import { goRegex } from '../../../src/kinds/chart/render/regex.js';
import { refuses, scratchCharts } from './helpers.js';

/**
 * Pass 7 of crafted charts against the renderer and the chart loader: regular expressions that
 * backtrack exponentially on JavaScript's engine (Go's RE2 is linear), templates nested deeper than
 * the stack, printf widths and random strings of gigabytes, and a requirements.yaml that does not
 * parse. Each ends in a VALIDATION error naming the bound, or renders as Helm would.
 */
const chartWith = scratchCharts('ferry-hostile-7-');

/** The `data.v` of a ConfigMap whose value is `expr`. */
async function value(expr: string, values?: string): Promise<string> {
  const chart = await chartWith({ 'templates/t.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  v: {{ ${expr} | quote }}\n` }, values);
  return (renderChart(chart).documents[0].object as { data: { v: string } }).data.v;
}

describe('regular expressions run in linear time, as RE2 does', () => {
  it('(a+)+$ on a long subject answers at once (took 2 minutes on 34 characters with the backtracking engine)', async () => {
    const subject = `${'a'.repeat(5000)}b`;
    expect(await value(`regexMatch "^(a+)+$" "${subject}"`)).toBe('false');
    expect(await value(`regexMatch "(?i)^(A+)+$" "${subject}"`)).toBe('false');
    expect(await value(`regexReplaceAll "(x+x+)+y" "${'x'.repeat(5000)}" "-" | len`)).toBe('5000');
    expect(await value(`regexFindAll "(a|aa)+c" "${subject}" -1 | len`)).toBe('0');
  });

  it('the patterns run on the linear engine, (?i) and Go group names included', () => {
    for (const re of ['^(a+)+$', '(?i)^[a-z0-9-]+$', '(?P<w>o+)', '(?s)a.b']) expect(goRegex(re, false, 'abc').flags, re).toContain('l');
  });

  it('matches as before: (?i) classes and letters, named groups, replacements', async () => {
    expect(await value('regexMatch "(?i)^[a-c0-9-]+$" "AbC-1"')).toBe('true');
    expect(await value('regexMatch "(?i)^[^a-z]+$" "AbC"')).toBe('false');
    expect(await value('regexFind "(?i)HELLO" "say hello"')).toBe('hello');
    expect(await value('regexReplaceAll "(?P<w>o+)" "foo boo" "${w}X"')).toBe('fooX booX');
    expect(await value('regexSplit "[,;]+" "a,;b;c" -1 | join "|"')).toBe('a|b|c');
    expect(await value('regexFind "é+" "xééy"')).toBe('éé');
  });

  it('backreferences and lookaround are refused as Go refuses them (regexMatch answers false, as sprig does)', async () => {
    expect(await value('regexMatch "(a)\\\\1" "aa"')).toBe('false');
    refuses(await chartWith({ 'templates/t.yaml': 'a: {{ regexFind "^(a+)+\\\\1$" "aa" }}' }), /error calling regexFind: error parsing regexp: invalid escape sequence: `\\1`/);
    refuses(await chartWith({ 'templates/t.yaml': 'a: {{ regexReplaceAll "(?=a)" "aa" "b" }}' }), /invalid or unsupported Perl syntax: `\(\?=`/);
  });

  it('a values.schema.json pattern that backtracks exponentially is checked in linear time', async () => {
    const schema = JSON.stringify({ type: 'object', properties: { x: { type: 'string', pattern: '^(a+)+$' } } });
    refuses(await chartWith({ 'templates/t.yaml': 'a: 1', 'values.schema.json': schema }, `x: ${'a'.repeat(5000)}b\n`), /x: Does not match pattern '\^\(a\+\)\+\$'/);
  });
});

describe('nesting deeper than the stack', () => {
  const NESTING = /max nesting depth \(500\) exceeded; parentheses, \{\{if\}\}, \{\{else if\}\}, \{\{with\}\} and \{\{range\}\} nest this deep only in a crafted template/;

  it('100000 parentheses, 50000 nested ifs, 2000 else-ifs and a tpl of them are refused (was "the renderer failed unexpectedly")', async () => {
    refuses(await chartWith({ 'templates/t.yaml': `a: {{ ${'('.repeat(100000)}1${')'.repeat(100000)} }}` }), NESTING);
    refuses(await chartWith({ 'templates/t.yaml': `${'{{ if true }}'.repeat(50000)}x${'{{ end }}'.repeat(50000)}` }), NESTING);
    refuses(await chartWith({ 'templates/t.yaml': `{{ if false }}${'{{ else if false }}'.repeat(2000)}{{ else }}y{{ end }}` }), NESTING);
    refuses(await chartWith({ 'templates/t.yaml': 'a: {{ tpl .Values.x . }}' }, `x: "${'{{ with 1 }}'.repeat(5000)}${'{{ end }}'.repeat(5000)}"\n`), NESTING);
  });

  it('nesting within the bound still renders', async () => {
    expect(await value(`${'('.repeat(450)}print 1${')'.repeat(450)}`)).toBe('1');
    const chart = await chartWith({ 'templates/t.yaml': `a: ${'{{ if true }}'.repeat(450)}x${'{{ end }}'.repeat(450)}\n` });
    expect(renderChart(chart).documents[0].object).toEqual({ a: 'x' });
  });
});

describe('printf and random strings of gigabytes', () => {
  it('a width or precision past 1e6 prints %!(NOVERB) / %!(BADWIDTH) as Go does (was "Invalid string length" or 500 MB of spaces)', () => {
    expect(goSprintf('%0999999999d', [1n])).toBe('%!(NOVERB)%!(EXTRA int=1)');
    expect(goSprintf('%500000000d|', [1n])).toBe('%!(NOVERB)%!(EXTRA int=1)');
    expect(goSprintf('%*d', [999999999n, 1n])).toBe('%!(BADWIDTH)1');
    expect(goSprintf('%.*s', [999999999n, 'abc'])).toBe('%!(BADPREC)abc');
    expect(goSprintf('%5d|%-3d|%*d|%.*s', [1n, 2n, -3n, 4n, 2n, 'xyz'])).toBe('    1|2  |4  |xy');
  });

  it('randAlpha and friends are bounded like repeat (100 million characters took 12 s)', async () => {
    for (const fn of ['randAlpha', 'randAlphaNum', 'randAscii', 'randNumeric', 'randBytes']) {
      refuses(await chartWith({ 'templates/t.yaml': `a: {{ ${fn} 100000000 | len }}` }), new RegExp(`error calling ${fn}: random characters: 100000000 would be built, more than the 67108864 ferry renders`));
    }
    expect(await value('randAlphaNum 1000 | len')).toBe('1000');
  });
});

describe('dependency files', () => {
  it('a requirements.yaml or Chart.lock that does not parse is a VALIDATION error naming it (was an unexpected error)', async () => {
    const bad = await chartWith({ 'templates/t.yaml': 'a: 1', 'requirements.yaml': 'dependencies: [\n', 'Chart.lock': 'dependencies: *nope\n' });
    expect(() => chartDependencies(bad)).toThrow(/c\d+\/requirements\.yaml: not valid YAML/);
    expect(() => chartLockPins(bad)).toThrow(/c\d+\/Chart\.lock: not valid YAML/);
    try {
      chartDependencies(bad);
    } catch (e) {
      expect((e as FerryError).code).toBe('VALIDATION');
    }
  });

  it('a dependencies: that is not a list names no dependency (was "filter is not a function")', async () => {
    const odd = await chartWith({ 'templates/t.yaml': 'a: 1', 'requirements.yaml': 'dependencies: 5\n', 'Chart.lock': 'dependencies: {a: 1}\n' });
    expect(chartDependencies(odd)).toEqual([]);
    expect(chartLockPins(odd)).toEqual([]);
  });
});
