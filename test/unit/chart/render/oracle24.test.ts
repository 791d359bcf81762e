import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderRaw } from '../../../../scripts/oracle/ferry-raw.js';
import { scratchDir, writeChart } from '../helpers.js';

// Twenty-fourth pass: text/template's comparisons (funcs.go's eq/lt and their basicKind), a range
// variable's static type, and Helm's tpl error texts. Every expectation is what the independent Go
// renderer (Helm 3.14's engine, Go 1.19's text/template, sprig 3.2.3) gives for the same chart.

const tmp = scratchDir('oracle24-');
let n = 0;
async function render(template: string, values = ''): Promise<string> {
  const dir = await writeChart(path.join(tmp(), `c${n++}`), {
    chart: { name: 'c', version: '1.0.0' },
    values,
    files: { 'templates/t.yaml': template },
  });
  const r = await renderRaw(dir);
  if (r.crash !== undefined) throw new Error(r.crash);
  return r.err ?? `rendered: ${r.ok!['c/templates/t.yaml']}`;
}
const at = (node: string, col = 3) => `template: c/templates/t.yaml:1:${col}: executing "c/templates/t.yaml" at <${node}>: `;

describe('eq/ne/lt/le/gt/ge compare values of one basic kind, as text/template does', () => {
  it('a values number (a float64) against an int literal is refused, as Helm refuses it', async () => {
    const values = 'replicas: 1\n';
    expect(await render('{{ eq .Values.replicas 1 }}', values)).toBe(`${at('eq .Values.replicas 1')}error calling eq: incompatible types for comparison`);
    expect(await render('{{ ge .Values.replicas 1 }}', values)).toBe(`${at('ge .Values.replicas 1')}error calling ge: incompatible types for comparison`);
    expect(await render('{{ lt .Values.replicas (len "abc") }}', values)).toBe(
      `${at('lt .Values.replicas (len "abc")')}error calling lt: incompatible types for comparison`,
    );
    expect(await render('{{ lt 1.5 2 }}')).toBe(`${at('lt 1.5 2')}error calling lt: incompatible types for comparison`);
    expect(await render('{{ eq 1.0 1 }}')).toBe(`${at('eq 1.0 1')}error calling eq: incompatible types for comparison`);
  });
  it('float64 with float64, and int with int64, compare by value', async () => {
    expect(await render('{{ eq .Values.replicas 1.0 }} {{ lt .Values.replicas 2.0 }} {{ eq (len "a") (add 0 1) }} {{ lt (len "a") (int64 2) }}', 'replicas: 1\n')).toBe(
      'rendered: true true true true',
    );
  });
  it('two kinds where one is bool are incompatible; two bools have no order', async () => {
    expect(await render('{{ lt "a" true }}')).toBe(`${at('lt "a" true')}error calling lt: incompatible types for comparison`);
    expect(await render('{{ lt 2 true }}')).toBe(`${at('lt 2 true')}error calling lt: incompatible types for comparison`);
    expect(await render('{{ lt true false }}')).toBe(`${at('lt true false')}error calling lt: invalid type for comparison`);
  });
  it('a list against a basic value is incompatible; lists or maps with each other are non-comparable, printed with %s', async () => {
    const values = 'l: [1, "s"]\nm: {a: 1, b: x}\n';
    expect(await render('{{ eq .Values.l 1 }}', values)).toBe(`${at('eq .Values.l 1')}error calling eq: incompatible types for comparison`);
    expect(await render('{{ eq "a" .Values.l }}', values)).toBe(`${at('eq "a" .Values.l')}error calling eq: incompatible types for comparison`);
    expect(await render('{{ eq .Values.m .Values.m }}', values)).toBe(
      `${at('eq .Values.m .Values.m')}error calling eq: non-comparable type map[a:%!s(float64=1) b:x]: map[string]interface {}`,
    );
    expect(await render('{{ eq (list 1) (dict) }}')).toBe(
      `${at('eq (list 1) (dict)')}error calling eq: non-comparable types [%!s(int=1)]: []interface {}, map[string]interface {}: map[]`,
    );
  });
  it('nil equals only nil, a nil map among them', async () => {
    expect(await render('{{ eq (dict) nil }} {{ eq (merge nil nil) nil }} {{ eq .Values.x .Values.l }} {{ eq true nil }}', 'l: [1]\n')).toBe('rendered: false true false false');
  });
  it('strings order by their bytes (UTF-8), not UTF-16 units', async () => {
    expect(await render('{{ lt "\\U0001F600" "\\uffff" }} {{ lt "\\uffff" "\\U0001F600" }}')).toBe('rendered: false true');
  });
});

describe('a variable a range declares holds an interface {} when the list or map is of interface {}', () => {
  it('a field of it is looked up in interface {}', async () => {
    expect(await render('{{ range $i, $v := .Values.l }}{{ $v.foo }}{{ end }}', 'l: [1]\n')).toBe(
      `${at('$v.foo', 36)}can't evaluate field foo in type interface {}`,
    );
    expect(await render('{{ range $k, $v := .Values.m }}{{ $v.x.y }}{{ end }}', 'm: {a: 1}\n')).toBe(
      `${at('$v.x.y', 36)}can't evaluate field x in type interface {}`,
    );
    expect(await render('{{ $v := 0 }}{{ range $v = .Values.l }}{{ $v.foo }}{{ end }}', 'l: [1]\n')).toBe(
      `${at('$v.foo', 44)}can't evaluate field foo in type interface {}`,
    );
  });
  it('the key or index keeps its own type', async () => {
    expect(await render('{{ range $i, $v := .Values.l }}{{ $i.x }}{{ end }}', 'l: [1]\n')).toBe(`${at('$i.x', 36)}can't evaluate field x in type int`);
  });
});

describe('tpl parses its text as Helm 3.13+ does, named after the set (gotpl), and wraps what fails', () => {
  it('an execution error', async () => {
    expect(await render('{{ tpl "{{ .x.y.z }}" (dict "x" (dict "y" 1)) }}')).toBe(
      `${at('tpl "{{ .x.y.z }}" (dict "x" (dict "y" 1))')}error calling tpl: error during tpl function execution for "{{ .x.y.z }}": template: gotpl:1:5: executing "gotpl" at <.x.y.z>: can't evaluate field z in type interface {}`,
    );
  });
  it('a parse error, and an undefined function', async () => {
    expect(await render('{{ tpl "{{ if }}" . }}')).toBe(`${at('tpl "{{ if }}" .')}error calling tpl: cannot parse template "{{ if }}": template: gotpl:1: missing value for if`);
    expect(await render('{{ tpl "{{ nope }}" . }}')).toBe(
      `${at('tpl "{{ nope }}" .')}error calling tpl: cannot parse template "{{ nope }}": template: gotpl:1: function "nope" not defined`,
    );
  });
  it('required inside tpl is still located at the file being rendered', async () => {
    expect(await render('{{ tpl "{{ required \\"need\\" .nope }}" . }}')).toBe('execution error at (c/templates/t.yaml:1:3): need');
  });
});
