import { describe, expect, it } from 'vitest';
import { scratchRawRender } from './run-template.js';

// Twenty-fifth pass (scripts/oracle/pass.mjs on 134 chart directories from 14 repositories):
// text/template's two kinds of nil argument, and the type name of Helm's `.Files`. Every expectation
// is what the independent Go renderer (Helm 3.14's engine, Go 1.19's text/template, sprig 3.2.3)
// gives for the same chart, but for `.Files`' type, which the oracle names main.Files and Helm's
// pkg/engine/files.go declares `type files map[string][]byte` in package engine.

const render = scratchRawRender('oracle25-', { located: true });
const at = (node: string, col: number, name = 'c/templates/t.yaml') => `ERR template: c/templates/t.yaml:1:${col}: executing "${name}" at <${node}>: `;

describe('a nil argument is a nil interface {} or Go\'s invalid value, as validateType tells them apart', () => {
  it('a field of a nil dot is invalid (camunda: common.names.fullname given .Subcharts.keycloak when keycloak is off)', async () => {
    const define = '{{ define "x" }}{{ lower .Release.Name }}{{ end }}';
    expect(await render(`{{ template "x" .Values.missing }}${define}`)).toBe(`${at('.Release.Name', 67, 'x')}invalid value; expected string`);
    expect(await render(`{{ include "x" .Values.missing }}${define}`)).toBe(
      `${at('include "x" .Values.missing', 3)}error calling include: ${at('.Release.Name', 66, 'x').slice(4)}invalid value; expected string`,
    );
    expect(await render('{{ $m := .Values.missing }}{{ lower $m.x }}')).toBe(`${at('$m.x', 38)}invalid value; expected string`);
    expect(await render('{{ lower (.Values.missing).x }}')).toBe(`${at('.Values.missing', 17)}invalid value; expected string`);
  });
  it('a key a map lacks is a nil interface {}, however the map was reached', async () => {
    expect(await render('{{ lower .Values.missing }}')).toBe(`${at('.Values.missing', 16)}wrong type for value; expected string; got interface {}`);
    expect(await render('{{ $m := .Values.m }}{{ lower $m.x }}', 'm: {}\n')).toBe(`${at('$m.x', 32)}wrong type for value; expected string; got interface {}`);
    expect(await render('{{ lower (.Values.m).x }}', 'm: {}\n')).toBe(`${at('.Values.m', 17)}wrong type for value; expected string; got interface {}`);
    expect(await render('{{ with .Values.m }}{{ lower .x }}{{ end }}', 'm: {a: 1}\n')).toBe(`${at('.x', 29)}wrong type for value; expected string; got interface {}`);
  });
  it('a nil ranged from an []interface{} or map[string]interface{} is a nil interface {}, as the range variable or dot', async () => {
    expect(await render('{{ range $k, $v := .Values.m }}{{ lower $v }}{{ end }}', 'm: {a: null}\n')).toBe(
      `${at('$v', 40)}wrong type for value; expected string; got interface {}`,
    );
    expect(await render('{{ range .Values.l }}{{ lower . }}{{ end }}', 'l: [null]\n')).toBe(`${at('.', 30)}wrong type for value; expected string; got interface {}`);
    expect(await render('{{ range .Values.l }}{{ get . "a" }}{{ end }}', 'l: [null]\n')).toBe(
      `${at('.', 28)}wrong type for value; expected map[string]interface {}; got interface {}`,
    );
    expect(await render('{{ range $v := .Values.l }}{{ get $v "a" }}{{ end }}', 'l: [null]\n')).toBe(
      `${at('$v', 34)}wrong type for value; expected map[string]interface {}; got interface {}`,
    );
  });
  it('a pipeline\'s nil (unwrapped by evalPipeline) stays invalid: a string parameter refuses it, a map parameter takes it', async () => {
    expect(await render('{{ $x := .Values.missing }}{{ lower $x }}')).toBe(`${at('$x', 36)}invalid value; expected string`);
    expect(await render('{{ template "x" .Values.missing }}{{ define "x" }}{{ lower . }}{{ end }}')).toBe(`${at('.', 59, 'x')}invalid value; expected string`);
    expect(await render('{{ $x := .Values.missing }}[{{ get $x "a" }}]')).toBe('[]');
    expect(await render('{{ template "x" .Values.missing }}{{ define "x" }}[{{ get .Release "a" }}]{{ end }}')).toBe('[]');
  });
});

describe('.Files is Helm\'s engine.files', () => {
  it('in printf %T, typeOf and a type error', async () => {
    expect(await render('{{ printf "%T" .Files }} {{ typeOf (.Files.Glob "x") }}')).toBe('engine.files engine.files');
    expect(await render('{{ lower .Files }}')).toBe(`${at('.Files', 9)}wrong type for value; expected string; got engine.files`);
  });
});
