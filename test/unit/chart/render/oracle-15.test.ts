import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadChart } from '../../../../src/kinds/chart/load.js';
import { parseGoYaml } from '../../../../src/kinds/chart/render/goyaml.js';
import { renderChart } from '../../../../src/kinds/chart/render/index.js';
import { writeChart } from '../helpers.js';
import { run } from './run-template.js';

// Fifteenth pass: a differential fuzzer (scripts/oracle/fuzz.mjs) rendering random small charts —
// templates from a grammar of text/template and sprig/Helm functions, values from a pool of YAML 1.1
// scalars — with ferry and with the independent Go renderer (Helm 3.14's text/template, sprig
// v3.2.3, go-yaml v2). Each expectation is what Go gives, checked with the oracle.

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle15-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function render(name: string, values: string, template: string): Promise<string> {
  const dir = await writeChart(path.join(tmp, name), { chart: { name, version: '1.0.0' }, values, files: { 'templates/t.yaml': template } });
  return renderChart(await loadChart(dir, { allFiles: true })).documents.map((d) => d.text).join('\n---\n');
}

describe('plain scalars in values and fromYaml, as go-yaml v2 resolves them', () => {
  // go-yaml v2 reads a plain scalar starting with a digit, sign or dot with strconv.ParseInt base 0
  // (underscores removed), ParseUint, then a decimal float; anything else is a string. The yaml
  // package's YAML 1.1 tags read `e5` and `.` as NaN, `1e400` as Infinity, `0o17` as a string.
  it('numbers and strings', () => {
    const v = parseGoYaml('a: 0o17\nb: 1_000\nc: e5\nd: .\ne: 1e400\nf: 08\ng: -0\nh: .5_5\ni: 0b101\nj: +0x1A\nk: 0x\nl: -0.0\nm: 0b-1\no: -e14\np: E2\nq: 0_\nr: 0O62\n') as Record<string, unknown>;
    expect(v).toEqual({ a: 15, b: 1000, c: 'e5', d: '.', e: '1e400', f: 8, g: 0, h: 0.55, i: 5, j: 26, k: '0x', l: -0, m: -1, o: '-e14', p: 'E2', q: 0, r: 50 });
    expect(Object.is(v.g, 0)).toBe(true);
    expect(Object.is(v.l, -0)).toBe(true);
    expect(run('{{ .c }}|{{ typeOf .c }} {{ .g }} {{ .a }}', v)).toBe('e5|string 0 15');
  });

  it('.inf and .nan are refused, as sigs.k8s.io/yaml refuses them (encoding/json)', () => {
    expect(() => parseGoYaml('a: .inf\n')).toThrow('error converting YAML to JSON: json: unsupported value: +Inf');
    expect(() => parseGoYaml('a: [-.Inf]\n')).toThrow('json: unsupported value: -Inf');
    expect(() => parseGoYaml('a: {b: .nan}\n')).toThrow('json: unsupported value: NaN');
  });

  it('in a chart: a values.yaml with .inf is refused, fromYaml gives the error, `e5` is a string', async () => {
    await expect(render('inf', 'a: .inf\n', 'x: 1\n')).rejects.toThrow(/values\.yaml: error converting YAML to JSON: json: unsupported value: \+Inf/);
    expect(await render('fy', 'tag: e5\nmode: 0o644\n', 'a: {{ fromYaml "a: .inf" | toJson | squote }}\nb: {{ .Values.tag }}-{{ typeOf .Values.tag }}\nc: {{ .Values.mode }}\n')).toBe(
      `a: '{"Error":"error converting YAML to JSON: json: unsupported value: +Inf"}'\nb: e5-string\nc: 420`,
    );
  });
});

describe('nil as a command', () => {
  // text/template's evalCommand: nil is an argument, never a command
  it('is refused as Go refuses it', () => {
    for (const t of ['{{ nil }}', '{{ if nil }}x{{ end }}', '{{ with nil }}x{{ end }}', '{{ $x := nil }}', '{{ range nil }}x{{ end }}', '{{ define "d" }}{{ end }}{{ template "d" nil }}']) {
      expect(() => run(t), t).toThrow(/nil is not a command/);
    }
    expect(() => run('{{ nil 1 }}')).toThrow(/can't give argument to non-function nil/);
  });
  it('is an argument', () => {
    expect(run('{{ default 3 nil }} {{ list 1 nil | len }}')).toBe('3 2');
  });
});

describe("sprig's strslice (toStrings, join, sortAlpha)", () => {
  it('takes a map or a number as one element and leaves nil elements out', () => {
    expect(run('{{ toStrings (dict "a" 1) | toJson }} {{ list 1 nil "x" | toStrings | toJson }} {{ list "b" nil "a" | sortAlpha | toJson }}')).toBe('["map[a:1]"] ["1","x"] ["a","b"]');
    expect(run('{{ toStrings .a | toJson }} {{ join "," (dict "k" "v") }} {{ toStrings nil | toJson }}', { a: 15 })).toBe('["15"] map[k:v] []');
  });
});
