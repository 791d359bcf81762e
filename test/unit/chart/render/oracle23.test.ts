import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderRaw } from '../../../../scripts/oracle/ferry-raw.js';
import { scratchDir, writeChart } from '../helpers.js';

// Twenty-third pass: error texts. Go's executor locates an error at the node it last reached
// (text/template's state.at): `template: FILE:LINE:COL: executing "NAME" at <NODE>: …`, the column
// in bytes from 0, the node as Go's Node.String() prints it (a failing function's whole command, a
// {{template}} action, a field chain); Helm's required/fail keep that `FILE:LINE:COL`, and a parse
// error is Helm's `parse error at (FILE:LINE): …`. Found by `scripts/oracle/fuzz.mjs --errtext`;
// every expectation is the text the independent Go renderer (Helm 3.14's engine, Go 1.19's
// text/template, sprig 3.2.3) gives for the same chart.

const tmp = scratchDir('oracle23-');
let n = 0;
async function err(template: string, values = ''): Promise<string> {
  const dir = await writeChart(path.join(tmp(), `c${n++}`), {
    chart: { name: 'c', version: '1.0.0' },
    values,
    files: { 'templates/t.yaml': template, 'templates/_h.tpl': '{{- define "h" }}x{{ .Values.s0 }}{{ end }}\n' },
  });
  const r = await renderRaw(dir);
  if (r.crash !== undefined) throw new Error(r.crash);
  return r.err ?? `rendered: ${JSON.stringify(r.ok)}`;
}

describe('an execution error names the file, line, byte column and node where Go stopped', () => {
  it('a field chain through a nil value: at the chain, on its line', async () => {
    expect(await err('k: v\nx: {{ .Values.m.a.b }}\n', 'm: {a: null}\n')).toBe(
      'template: c/templates/t.yaml:2:13: executing "c/templates/t.yaml" at <.Values.m.a.b>: nil pointer evaluating interface {}.b',
    );
  });
  it('the column counts bytes, not characters', async () => {
    expect(await err('# ü\nü: ü{{ .Values.m.a.b }}\n', 'm: {a: null}\n')).toBe(
      'template: c/templates/t.yaml:2:16: executing "c/templates/t.yaml" at <.Values.m.a.b>: nil pointer evaluating interface {}.b',
    );
  });
  it('a failing function is at its command; an include nests the define\'s own location', async () => {
    expect(await err('{{ include "h" 2.5 }}\n')).toBe(
      'template: c/templates/t.yaml:1:3: executing "c/templates/t.yaml" at <include "h" 2.5>: error calling include: template: c/templates/_h.tpl:1:28: executing "h" at <.Values.s0>: can\'t evaluate field Values in type float64',
    );
    expect(await err('{{ indent -1 "a" }}\n')).toBe('template: c/templates/t.yaml:1:3: executing "c/templates/t.yaml" at <indent -1 "a">: error calling indent: strings: negative Repeat count');
    expect(await err('{{ divf 1 0 }}\n')).toBe('template: c/templates/t.yaml:1:3: executing "c/templates/t.yaml" at <divf 1 0>: error calling divf: decimal division by 0');
  });
  it('{{template}} of an unknown name is at the whole action; nil as a command at the nil', async () => {
    expect(await err('a: 1\n{{ template "nope" .Values.m }}\n', 'm: {}\n')).toBe(
      'template: c/templates/t.yaml:2:12: executing "c/templates/t.yaml" at <{{template "nope" .Values.m}}>: template "nope" not defined',
    );
    expect(await err('x: {{ nil }}\n')).toBe('template: c/templates/t.yaml:1:6: executing "c/templates/t.yaml" at <nil>: nil is not a command');
  });
  it('each argument is checked once evaluated, before the next one runs', async () => {
    expect(await err('{{ split .Release.Revision toToml }}\n')).toBe(
      'template: c/templates/t.yaml:1:17: executing "c/templates/t.yaml" at <.Release.Revision>: wrong type for value; expected string; got int',
    );
  });
  it('a value found in a map[string]interface{} or ranged from an []interface{} has the type interface {}', async () => {
    expect(await err('{{ range .Values.l }}{{ .x }}{{ end }}\n', 'l: [1]\n')).toBe(
      'template: c/templates/t.yaml:1:24: executing "c/templates/t.yaml" at <.x>: can\'t evaluate field x in type interface {}',
    );
    expect(await err('{{ range .Values.m }}{{ .x }}{{ end }}\n', 'm: {a: null}\n')).toBe(
      'template: c/templates/t.yaml:1:24: executing "c/templates/t.yaml" at <.x>: nil pointer evaluating interface {}.x',
    );
    expect(await err('{{ $x := .Values.m }}{{ $x.a.b }}\n', 'm: {a: "s"}\n')).toBe(
      'template: c/templates/t.yaml:1:26: executing "c/templates/t.yaml" at <$x.a.b>: can\'t evaluate field b in type interface {}',
    );
    // a function's result keeps its own type; the chain is where the executor last was (its operand)
    expect(await err('{{ (list 1).x }}\n')).toBe('template: c/templates/t.yaml:1:9: executing "c/templates/t.yaml" at <1>: can\'t evaluate field x in type []interface {}');
  });
});

describe("Helm's own wrapping", () => {
  it('required keeps the line and column of its command', async () => {
    expect(await err('{{- $p := required "need p" .Values.p }}\n')).toBe('execution error at (c/templates/t.yaml:1:10): need p');
  });
  it('a function the set lacks is a parse error, even in a branch never taken', async () => {
    expect(await err('a: 1\n{{ if false }}{{ nosuch 1 }}{{ end }}\n')).toBe('parse error at (c/templates/t.yaml:2): function "nosuch" not defined');
  });
});
