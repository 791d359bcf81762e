import { describe, expect, it } from 'vitest';
import { TemplateSet, Writer } from '../../../../src/kinds/chart/render/exec.js';
import { goSprintf } from '../../../../src/kinds/chart/render/gofmt.js';
import { formatV, type GoTypedMap, int64Of } from '../../../../src/kinds/chart/render/govalue.js';
import { goYamlMarshal, goJson, parseGoYaml } from '../../../../src/kinds/chart/render/goyaml.js';
import { sprigFuncs, semverCompare } from '../../../../src/kinds/chart/render/sprig.js';
import { parseSet } from '../../../../src/kinds/chart/render/index.js';
import { validateSchema } from '../../../../src/kinds/chart/render/schema.js';

// Expectations are Go's documented text/template / fmt / sprig behaviour, not this code's output.
function run(text: string, data: unknown = {}, defines: Record<string, string> = {}): string {
  const set = new TemplateSet(sprigFuncs());
  for (const [n, t] of Object.entries(defines)) set.parse(n, t);
  set.parse('t', text);
  const w = new Writer();
  set.execute('t', data, w);
  return w.toString();
}

describe('text/template semantics', () => {
  it('prints fields, missing map keys as <no value>, and trims with {{- -}}', () => {
    expect(run('a {{ .x }} b', { x: 1 })).toBe('a 1 b');
    expect(run('[{{ .missing }}]', {})).toBe('[<no value>]');
    expect(run('a  \n {{- .x -}} \n  b', { x: 'X' })).toBe('aXb');
    expect(run('{{/* a comment */}}x{{- /* trimmed */ -}}  y')).toBe('xy');
  });

  it('errors on a field of a nil found by a map lookup, but not on a parenthesized nil', () => {
    expect(() => run('{{ .a.b }}', {})).toThrow(/nil pointer evaluating interface \{\}\.b/);
    expect(run('[{{ (.a).b }}]', {})).toBe('[<no value>]');
    expect(run('{{ $x := .a }}[{{ $x.b }}]', {})).toBe('[<no value>]');
  });

  it('if / else if / else, with, and Go truthiness', () => {
    const t = '{{ if .a }}A{{ else if .b }}B{{ else }}C{{ end }}';
    expect(run(t, { a: 1 })).toBe('A');
    expect(run(t, { a: 0, b: 'x' })).toBe('B');
    expect(run(t, { a: [], b: {}, })).toBe('C');
    expect(run('{{ with .m }}{{ .k }}{{ else }}none{{ end }}', { m: { k: 'v' } })).toBe('v');
    expect(run('{{ with .m }}{{ .k }}{{ else }}none{{ end }}', { m: {} })).toBe('none');
  });

  it('range over lists and maps (keys sorted), with $i $v, else, break and continue', () => {
    expect(run('{{ range $i, $v := .l }}{{ $i }}={{ $v }};{{ end }}', { l: ['a', 'b'] })).toBe('0=a;1=b;');
    expect(run('{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}', { m: { b: 2, a: 1 } })).toBe('a=1;b=2;');
    expect(run('{{ range .l }}x{{ else }}empty{{ end }}', { l: [] })).toBe('empty');
    expect(run('{{ range .l }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}', { l: [1n, 2n, 3n, 4n, 5n] })).toBe('13');
  });

  it('variables: scopes end with their block; assignment changes the outer one; $ is the root', () => {
    expect(run('{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}')).toBe('2');
    expect(() => run('{{ if true }}{{ $y := 3 }}{{ end }}{{ $y }}')).toThrow(/undefined variable/);
    expect(run('{{ range .l }}{{ $.top }}{{ end }}', { l: [1, 2], top: 'T' })).toBe('TT');
  });

  it('define, template, block and include-like reuse; a later define wins', () => {
    expect(run('{{ template "x" .v }}', { v: 'V' }, { d1: '{{ define "x" }}old{{ . }}{{ end }}', d2: '{{ define "x" }}new{{ . }}{{ end }}' })).toBe('newV');
    expect(run('{{ block "b" . }}default{{ end }}')).toBe('default');
  });

  it('comparison: eq with several arguments, lt on numbers and strings, type errors', () => {
    expect(run('{{ eq .a "x" "y" }}', { a: 'y' })).toBe('true');
    expect(run('{{ lt 1 2 }} {{ gt "b" "a" }} {{ le 2 2 }} {{ ne 1 2 }}')).toBe('true true true true');
    expect(run('{{ eq .missing "x" }}', {})).toBe('false');
    expect(() => run('{{ lt "a" 1 }}')).toThrow(/incompatible types/);
    expect(() => run('{{ eq .l .l }}', { l: [1] })).toThrow(/non-comparable/);
  });

  it('and/or short-circuit and return the deciding value', () => {
    expect(run('{{ or .a "fallback" }}', { a: '' })).toBe('fallback');
    expect(run('{{ and .a .b }}', { a: 'x', b: 'y' })).toBe('y');
    // the second argument would fail if it were evaluated
    expect(run('{{ if and .a .a.b }}yes{{ else }}no{{ end }}', {})).toBe('no');
  });

  it('built-ins: index, slice, len, not, print, printf, println, html, js, urlquery, call', () => {
    expect(run('{{ index .m "k" 1 }}', { m: { k: ['a', 'b'] } })).toBe('b');
    expect(run('{{ slice .l 1 3 }} {{ len .l }} {{ len .s }} {{ not 0 }}', { s: 'abcd', l: [1n, 2n, 3n] })).toBe('[2 3] 3 4 true');
    // sprig's slice replaces Go's built-in in Helm: it takes lists only
    expect(() => run('{{ slice .s 1 3 }}', { s: 'abcd' })).toThrow(/error calling slice/);
    expect(run('{{ print "a" 1 2 "b" }}|{{ println 1 "x" }}')).toBe('a1 2b|1 x\n');
    expect(run('{{ html "<a&b>" }} {{ js "it\'s" }} {{ urlquery "a b&c" }}')).toBe('&lt;a&amp;b&gt; it\\\'s a+b%26c');
    expect(run('{{ call .f 2 }}', { f: (x: bigint) => x * 2n })).toBe('4');
  });

  it('pipelines pass the value as the last argument; parenthesized pipelines', () => {
    expect(run('{{ .s | upper | printf "%s!" }}', { s: 'hi' })).toBe('HI!');
    expect(run('{{ printf "%s-%s" (.a | lower) "z" }}', { a: 'X' })).toBe('x-z');
  });

  it('reports parse errors with the template name and line', () => {
    expect(() => run('a\n{{ if }}')).toThrow(/template: t:2: missing value for if/);
    expect(() => run('{{ end }}')).toThrow(/unexpected \{\{end\}\}/);
    expect(() => run('{{ .x')).toThrow(/unclosed action/);
  });
});

describe('Go values: numbers and printf', () => {
  it('float64 values print like Go (1e+06), ints from literals stay ints', () => {
    expect(run('{{ .n }} {{ .big }} {{ .f }} {{ 3 }}', { n: 1, big: 1000000, f: 1.5 })).toBe('1 1e+06 1.5 3');
    expect(formatV(123456789)).toBe('1.23456789e+08');
    expect(formatV(0.00001)).toBe('1e-05');
  });

  it('printf verbs on Go values', () => {
    expect(goSprintf('%s %d %v %q %t', ['a', 5n, [1n, 'x'], 'q"', true])).toBe('a 5 [1 x] "q\\"" true');
    expect(goSprintf('%x %X %05d %-4s| %.2f %e %g', [255n, 'hi', 42n, 'ab', 3.14159, 1234.5, 1e21])).toBe('ff 6869 00042 ab  | 3.14 1.234500e+03 1e+21');
    expect(goSprintf('%d %s', [1.5])).toBe('%!d(float64=1.5) %!s(MISSING)');
    expect(goSprintf('%v', [{ b: 1, a: 'x' }])).toBe('map[a:x b:1]');
    expect(goSprintf('%d', ['1', 2n])).toBe('%!d(string=1)%!(EXTRA int=2)');
    expect(goSprintf('%s:%v', [null, null])).toBe('%!s(<nil>):<nil>');
  });
});

describe('sprig', () => {
  const f = sprigFuncs();
  it('strings', () => {
    expect(f.trunc(5n, 'abcdefgh')).toBe('abcde');
    expect(f.trunc(-3n, 'abcdefgh')).toBe('fgh');
    expect(f.trimSuffix('-', 'abc-')).toBe('abc');
    expect(f.indent(2n, 'a\nb')).toBe('  a\n  b');
    expect(f.nindent(2n, 'a')).toBe('\n  a');
    expect(f.quote('a', null, 1)).toBe('"a" "1"');
    expect(f.squote('a')).toBe("'a'");
    expect(f.replace('a', 'b', 'banana')).toBe('bbnbnb');
    expect(f.title('hello world')).toBe('Hello World');
    expect(f.substr(1n, 3n, 'abcd')).toBe('bc');
    expect((f.split('.', 'a.b') as GoTypedMap).entries).toEqual({ _0: 'a', _1: 'b' });
    expect(f.join(',', ['a', 1n, 2])).toBe('a,1,2');
    expect(f.b64enc('hi')).toBe('aGk=');
    expect(f.b64dec('aGk=')).toBe('hi');
    expect(f.sha256sum('x')).toBe('2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881');
    expect(f.cat('a', null, 2)).toBe('a 2');
  });

  it('defaults, empty, coalesce, ternary, required-like behaviour', () => {
    expect(f.default('d', '')).toBe('d');
    expect(f.default('d', 0)).toBe('d');
    expect(f.default('d', false)).toBe('d');
    expect(f.default('d', 'x')).toBe('x');
    expect(f.default('d')).toBe('d');
    expect(f.empty({})).toBe(true);
    expect(f.coalesce(null, '', 'a')).toBe('a');
    expect(f.ternary('y', 'n', true)).toBe('y');
  });

  it('lists and dicts', () => {
    expect(f.list(1n, 2n)).toEqual([1n, 2n]);
    expect(f.append([1n], 2n)).toEqual([1n, 2n]);
    expect(f.uniq(['a', 'b', 'a'])).toEqual(['a', 'b']);
    expect(f.without(['a', 'b'], 'a')).toEqual(['b']);
    expect(f.has('a', ['a'])).toBe(true);
    expect(f.compact(['', 'a', null])).toEqual(['a']);
    expect(f.until(3n)).toEqual([0n, 1n, 2n]);
    expect(f.untilStep(0n, 10n, 4n)).toEqual([0n, 4n, 8n]);
    expect(f.seq(3n)).toBe('1 2 3');
    const d = f.dict('a', 1n, 'b') as Record<string, unknown>;
    expect(d).toEqual({ a: 1n, b: '' });
    expect(f.hasKey(d, 'a')).toBe(true);
    expect(f.pluck('a', { a: 1 }, { b: 2 }, { a: 3 })).toEqual([1, 3]);
    expect(f.keys({ b: 1, a: 2 })).toEqual(['a', 'b']);
    expect(f.merge({ a: { x: 1 }, b: '' }, { a: { x: 2, y: 3 }, b: 'set', c: 4 })).toEqual({ a: { x: 1, y: 3 }, b: 'set', c: 4 });
    expect(f.mergeOverwrite({ a: { x: 1 } }, { a: { x: 2 } })).toEqual({ a: { x: 2 } });
    expect(f.dig('a', 'b', 'def', { a: { b: 'v' } })).toBe('v');
    expect(f.dig('a', 'z', 'def', { a: { b: 'v' } })).toBe('def');
  });

  it('numbers: int64 arithmetic, conversions', () => {
    expect(f.add(1, 2n, '3')).toEqual(int64Of(6n));
    expect(f.int('42')).toBe(42n);
    expect(f.int64(3.9)).toEqual(int64Of(3n));
    expect(f.float64('1.5')).toBe(1.5);
    expect(f.atoi('12')).toBe(12n);
    expect(f['toString'](1000000)).toBe('1e+06');
    expect(f.max(1n, 5n, 3n)).toEqual(int64Of(5n));
    expect(f.div(7n, 2n)).toEqual(int64Of(3n));
  });

  it('semver constraints as Masterminds reads them', () => {
    expect(semverCompare('>=1.19-0', 'v1.29.0')).toBe(true);
    expect(semverCompare('<1.21-0', 'v1.29.0')).toBe(false);
    expect(semverCompare('>= 1.2, < 2', '1.5.0')).toBe(true);
    expect(semverCompare('^1.2', '1.9.1')).toBe(true);
    expect(semverCompare('~1.2', '1.3.0')).toBe(false);
    expect(semverCompare('1.x || 3.x', '3.1.0')).toBe(true);
  });

  it('regex functions use Go (RE2) syntax', () => {
    expect(f.regexMatch('^[a-z]+$', 'abc')).toBe(true);
    expect(f.regexReplaceAll('a(x*)b', '-ab-axxb-', '${1}W')).toBe('-W-xxW-');
    expect(f.regexFind('(?i)ABC', 'xxabcxx')).toBe('abc');
    expect(f.regexFindAll('a.', 'a1a2a3', -1n)).toEqual(['a1', 'a2', 'a3']);
  });

  it('deterministic placeholders for time and randomness', () => {
    expect(f.date('2006-01-02', f.now())).toBe('2000-01-01');
    expect(String(f.randAlphaNum(10n))).toMatch(/^[A-Za-z0-9]{10}$/);
    const ca = f.genCA('x', 365n) as { Cert: string; Key: string };
    expect(ca.Cert).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
  });
});

describe('YAML and JSON like Helm', () => {
  it('a duplicate key is no error: the later one wins, as with go-yaml v2 Unmarshal', () => {
    expect(parseGoYaml('a: 1\nb: 2\na: 3\n')).toEqual({ a: 3, b: 2 });
  });

  it('values parse as go-yaml v2: YAML 1.1 booleans, float64 numbers, timestamps stay strings', () => {
    expect(parseGoYaml('a: yes\nb: on\nc: 1\nd: 2024-01-01\ne: "1"\nf: 0x1F\ng: 1:20\n')).toEqual({ a: true, b: true, c: 1, d: '2024-01-01', e: '1', f: 31, g: '1:20' });
  });

  it('toYaml: sorted keys, unindented lists, quoting of words YAML 1.1 reads as other types', () => {
    const v = { b: ['x', 'y'], a: { on: 'yes', n: '1', s: 'plain', e: '', m: 'a\nb\n', c: ': x' }, i: 1000000, f: 1.5, big: 1e21 };
    expect(goYamlMarshal(v)).toBe(
      [
        'a:',
        "  c: ': x'",
        '  e: ""',
        '  m: |',
        '    a',
        '    b',
        '  "n": "1"',
        '  "on": "yes"',
        '  s: plain',
        'b:',
        '- x',
        '- "y"',
        'big: 1e+21',
        'f: 1.5',
        'i: 1000000',
        '',
      ].join('\n'),
    );
    expect(goYamlMarshal([{ a: 1, b: [1, 2] }])).toBe('- a: 1\n  b:\n  - 1\n  - 2\n');
    expect(goYamlMarshal({})).toBe('{}\n');
  });

  it('toYaml folds long strings at a space past column 80, as go-yaml does', () => {
    const long = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.';
    expect(goYamlMarshal({ long, list: [long], q: `#${long}` })).toBe(
      [
        'list:',
        '- Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt',
        '  ut labore et dolore magna aliqua.',
        'long: Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor',
        '  incididunt ut labore et dolore magna aliqua.',
        "q: '#Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor",
        "  incididunt ut labore et dolore magna aliqua.'",
        '',
      ].join('\n'),
    );
    expect(parseGoYaml(goYamlMarshal({ long }))).toEqual({ long });
    expect(goYamlMarshal({ t: 'tab\there' })).toBe('t: "tab\\there"\n');
  });

  it('toJson: sorted keys, HTML escaped, ints and floats as encoding/json writes them', () => {
    expect(goJson({ b: '<x>', a: [1, 1.5, 2n, null, 1e21, 1e-7] })).toBe('{"a":[1,1.5,2,null,1e+21,1e-7],"b":"\\u003cx\\u003e"}');
  });
});

describe('--set and schema', () => {
  it('parses --set like helm strvals (typed ints, lists, escapes)', () => {
    expect(parseSet('a.b=1,c=true,d=x\\,y,e[1].f=null,g={a,b},h=007')).toEqual({ a: { b: int64Of(1n) }, c: true, d: 'x,y', e: [null, { f: null }], g: ['a', 'b'], h: '007' });
    expect(parseSet('a=1', true)).toEqual({ a: '1' });
  });

  it('validates values against a JSON schema with gojsonschema messages', () => {
    const schema = { type: 'object', required: ['name'], properties: { replicas: { type: 'integer', minimum: 1 }, mode: { enum: ['a', 'b'] }, image: { type: 'object', additionalProperties: false, properties: { tag: { type: 'string' } } } } };
    expect(validateSchema(schema, { replicas: 'x', mode: 'c', image: { tag: 1, extra: true } })).toEqual([
      '(root): name is required',
      'replicas: Invalid type. Expected: integer, given: string',
      'mode: mode must be one of the following: "a", "b"',
      'image.tag: Invalid type. Expected: string, given: integer',
      'image: Additional property extra is not allowed',
    ]);
    expect(validateSchema(schema, { name: 'x', replicas: 2 })).toEqual([]);
  });
});
