import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderOptions } from '../../../../src/kinds/chart/discover/index.js';
import { renderRaw } from '../../../../scripts/oracle/ferry-raw.js';
import { writeChart } from '../helpers.js';
import { run } from './run-template.js';

// Sixteenth pass: the differences the fifteenth pass's fuzzer (scripts/oracle/fuzz.mjs) left. Each
// expectation is what Helm 3.14 (Go text/template, sprig v3.2.3, encoding/json) gives, checked
// with the independent Go renderer.

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle16-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** The template's raw output as Helm's engine gives it (the fuzzer's ferry side), or its error thrown. */
async function render(name: string, chartYaml: Record<string, unknown>, template: string, values = 'a: 1\n'): Promise<string> {
  const dir = await writeChart(path.join(tmp, name), { chart: { name, version: '1.0.0', ...chartYaml }, values, files: { 'templates/t.yaml': template } });
  const r = await renderRaw(dir);
  if (r.err !== undefined || r.crash !== undefined) throw new Error(r.err ?? r.crash);
  return r.ok![`${name}/templates/t.yaml`].replace(/\n$/, '');
}

describe("chart.Metadata's typed slices and map", () => {
  it('a field Chart.yaml leaves out is a nil slice or map: prints [] / map[], rest works, json null, a missing annotation is ""', async () => {
    const t = 'a: {{ .Chart.Maintainers }}|{{ rest .Chart.Maintainers }}|{{ .Chart.Sources }}|{{ .Chart.Annotations }}|{{ toJson .Chart.Sources }}|{{ toJson .Chart.Annotations }}|{{ .Chart.Annotations.x | quote }}|{{ typeOf .Chart.Keywords }}\n';
    expect(await render('nil', {}, t)).toBe('a: []|[]|[]|map[]|null|null|""|[]string');
  });
  it('present: []string, map[string]string and *chart.Maintainer with Go field names', async () => {
    const t =
      'a: {{ .Chart.Keywords }}|{{ typeOf .Chart.Annotations }}|{{ kindOf .Chart.Annotations }}|{{ index .Chart.Annotations "k" }}|{{ .Chart.Annotations.zz | quote }}|{{ range $k, $v := .Chart.Annotations }}{{ $k }}={{ $v }}{{ end }}|{{ range .Chart.Maintainers }}{{ .Name }}/{{ .Email }}{{ end }}|{{ toJson .Chart.Maintainers }}\n';
    expect(await render('set', { keywords: ['p', 'q'], annotations: { k: 'v' }, maintainers: [{ name: 'Bob', email: 'b@x' }] }, t)).toBe(
      'a: [p q]|map[string]string|map|v|""|k=v|Bob/b@x|[{"name":"Bob","email":"b@x"}]',
    );
  });
  it("sprig's map functions refuse a map[string]string as Go does (pluck, hasKey, dig)", async () => {
    for (const f of ['pluck "k" .Chart.Annotations', 'hasKey .Chart.Annotations "k"', 'keys .Chart.Annotations']) {
      await expect(render('refuse', { annotations: { k: 'v' } }, `a: {{ ${f} }}\n`), f).rejects.toThrow(/wrong type for value; expected map\[string\]interface \{\}; got map\[string\]string/);
    }
    await expect(render('dig', { annotations: { k: 'v' } }, 'a: {{ dig "k" "d" .Chart.Annotations }}\n')).rejects.toThrow(/interface conversion: interface \{\} is map\[string\]string, not map\[string\]interface \{\}/);
  });
});

describe('dig type-asserts as sprig does', () => {
  it('a non-map on the way, a non-string key, nil or chartutil.Values are errors; a missing key the default', () => {
    const data = { m: { a: 2, s: 'x' } };
    expect(run('{{ dig "m" "a" "d" . }}|{{ dig "m" "zz" "d" . }}|{{ dig "zz" "q" "d" . }}', data)).toBe('2|d|d');
    expect(() => run('{{ dig "m" "s" "q" "d" . }}', data)).toThrow('interface conversion: interface {} is string, not map[string]interface {}');
    expect(() => run('{{ dig 1 "d" . }}', data)).toThrow('interface conversion: interface {} is int, not string');
    expect(() => run('{{ dig "a" "d" nil }}')).toThrow('interface conversion: interface {} is nil, not map[string]interface {}');
    expect(() => run('{{ dig "a" nil }}')).toThrow('dig needs at least three arguments');
  });
});

describe('html, js and urlquery print nil as <no value> (text/template evalArgs)', () => {
  it('escaped, and urlquery is the builtin (sprig has none)', () => {
    expect(run('{{ html nil }}|{{ js .zz }}|{{ urlquery nil 1 nil }}|{{ if eq (js nil) "\\\\u003Cno value\\\\u003E" }}y{{ end }}|{{ urlquery 1 2 }}')).toBe('&lt;no value&gt;|\\u003Cno value\\u003E|%3Cno+value%3E1%3Cno+value%3E|y|1+2');
  });
});

describe("fromJson / fromJsonArray / mustFromJson: encoding/json's messages", () => {
  it('syntax errors as its scanner words them, the end of input as one more space', async () => {
    const cases: Array<[string, string]> = [
      ['{a:1}', "invalid character 'a' looking for beginning of object key string"],
      ['{"a" 1}', "invalid character '1' after object key"],
      ['{"a":1 "b"}', `invalid character '"' after object key:value pair`],
      ['[1 2]', "invalid character '2' after array element"],
      ['[1,]', "invalid character ']' looking for beginning of value"],
      ['{"a":1,}', "invalid character '}' looking for beginning of object key string"],
      ["'q'", "invalid character '\\'' looking for beginning of value"],
      ['"a\\q"', "invalid character 'q' in string escape code"],
      ['01', "invalid character '1' after top-level value"],
      ['1.', "invalid character ' ' after decimal point in numeric literal"],
      ['tru', "invalid character ' ' in literal true (expecting 'e')"],
      ['"a\\', "invalid character ' ' in string escape code"],
      ['{"a":[1,2', 'unexpected end of JSON input'],
      ['ü', "invalid character 'Ã' looking for beginning of value"],
      ['{"a":"x\ty"}', "invalid character '\\t' in string literal"],
    ];
    const values = `j: ${JSON.stringify(cases.map(([j]) => j))}\n`;
    const out = await render('syn', {}, '{{ range .Values.j }}- {{ fromJson . | toJson }}|{{ fromJsonArray . | toJson }}\n{{ end }}', values);
    expect(out).toBe(cases.map(([, msg]) => `- ${JSON.stringify({ Error: msg })}|${JSON.stringify([msg])}`).join('\n'));
    for (const [j, msg] of cases) expect(() => run('{{ mustFromJson .j }}', { j }), j).toThrow(msg);
  });
  it('a JSON type that does not fit is named; null is a nil map / slice', async () => {
    const t = 'a: {{ fromJsonArray `{}` | toJson }}|{{ fromJsonArray `"s"` | toJson }}|{{ fromJson `[1]` | toJson }}|{{ fromJson `null` }}{{ fromJson `null` | toJson }}|{{ fromJsonArray `null` }}{{ fromJsonArray `null` | toJson }}\n';
    expect(await render('fj', {}, t)).toBe(
      'a: ["json: cannot unmarshal object into Go value of type []interface {}"]|["json: cannot unmarshal string into Go value of type []interface {}"]|{"Error":"json: cannot unmarshal array into Go value of type map[string]interface {}"}|map[]null|[]null',
    );
  });
});

describe('discovery render options', () => {
  it('a values map with no text goes through encoding/json as Helm reads values: .inf is refused', () => {
    expect(() => renderOptions({ values: [{ file: 'u.yaml', values: { a: Infinity } as never }] })).toThrow('json: unsupported value: +Inf');
  });
});

describe('fromYamlArray of a document that is no list', () => {
  it("names the JSON type as encoding/json does (it said object for every one)", async () => {
    expect(await render('fya', {}, 'a: {{ fromYamlArray "-x" }}|{{ fromYamlArray "1" }}|{{ fromYamlArray "true" }}\n')).toBe(
      'a: [error unmarshaling JSON: json: cannot unmarshal string into Go value of type []interface {}]|[error unmarshaling JSON: json: cannot unmarshal number into Go value of type []interface {}]|[error unmarshaling JSON: json: cannot unmarshal bool into Go value of type []interface {}]',
    );
  });
});

describe('the fuzzer, sixteenth pass', () => {
  it("b64dec names the byte where Go's base64 decoder stops (it said byte 0 for every error)", () => {
    const cases: Array<[string, string]> = [
      ['x,y,z', 'illegal base64 data at input byte 1'],
      ['default', 'illegal base64 data at input byte 4'],
      ['v1.29.0', 'illegal base64 data at input byte 2'],
      ['YWJjZA=', 'illegal base64 data at input byte 7'],
      ['YW=j', 'illegal base64 data at input byte 2'],
      ['YWJjZA==x', 'illegal base64 data at input byte 8'],
      ['YWJj ZA==', 'illegal base64 data at input byte 4'],
      ['YWJj\nZA==', 'abcd'],
      ['YWJjZA=\n=', 'abcd'],
      ['YWJ=', 'ab'],
    ];
    for (const [s, want] of cases) expect(run('{{ b64dec .s }}', { s }), s).toBe(want);
  });
  it('toToml of anything but a map or struct is BurntSushi/toml\'s error; a map[string]string is a map', async () => {
    expect(await render('toml', { annotations: { k: 'v' } }, 'a: {{ toToml nil }}|{{ toToml 3.0 }}|{{ toToml (list 1) }}|{{ toToml .Chart.Annotations }}')).toBe(
      'a: toml: top-level values must be Go maps or structs|toml: top-level values must be Go maps or structs|toml: top-level values must be Go maps or structs|k = "v"',
    );
  });
  it('deepCopy of nil fails as copystructure does', () => {
    expect(() => run('{{ deepCopy .zz }}')).toThrow('reflect: call of reflect.Value.Type on zero Value');
  });
});
