import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadChart } from '../../../../src/kinds/chart/load.js';
import { renderChart } from '../../../../src/kinds/chart/render/index.js';
import { writeChart } from '../helpers.js';
import { run } from './run-template.js';

// Third pass of real charts against the independent Go renderer (opensearch, cloudnative-pg,
// percona, mongodb, openfaas, ory, cowboysysop, pascaliske and others from repositories the first
// two passes did not cover). Each expectation is what Go's text/template and sprig v3 give.

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle3-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('a function parameter typed string takes a string only (Go checks arguments before the call)', () => {
  // opensearch's serviceMonitor secret: `{{ .Values.serviceMonitor.basicAuth.username | b64enc }}`
  // with no username set. Go hands the missing value (nil) to b64enc's `string` parameter and
  // fails: helm template refuses the chart. ferry printed an empty base64 string.
  it('nil to a string parameter fails, piped or as an argument', () => {
    expect(() => run('{{ .Values.missing | b64enc }}', { Values: {} })).toThrow(/invalid value; expected string/);
    expect(() => run('{{ upper .Values.missing }}', { Values: {} })).toThrow(/expected string/);
    expect(() => run('{{ trimSuffix "-" .Values.missing }}', { Values: {} })).toThrow(/expected string/);
  });

  it('a number, list or map to a string parameter fails; to an interface{} parameter it does not', () => {
    expect(() => run('{{ .Values.n | b64enc }}', { Values: { n: 5 } })).toThrow(/wrong type for value; expected string; got float64/);
    expect(() => run('{{ replace "a" "b" .Values.l }}', { Values: { l: ['a'] } })).toThrow(/wrong type for value; expected string; got \[\]interface \{\}/);
    expect(() => run('{{ pick .Values "a" .Values.n }}', { Values: { n: 5, a: 1 } })).toThrow(/expected string; got float64/);
    // quote, default, toString, join's list and pick's map take interface{} or maps
    expect(run('{{ .Values.n | quote }} {{ .Values.missing | default "d" }} {{ toString .Values.n }} {{ join "," .Values.l }}', { Values: { n: 5, l: ['a', 'b'] } })).toBe('"5" d 5 a,b');
    expect(run('{{ .Values.s | b64enc }} {{ upper "x" }} {{ pick .Values "s" | toJson }}', { Values: { s: 'ab' } })).toBe('YWI= X {"s":"ab"}');
  });

  it('a name of an Object prototype member is no function (Go: function "constructor" not defined)', () => {
    expect(run('{{ toString 1 }}', {})).toBe('1');
    expect(() => run('{{ constructor }}', {})).toThrow(/function "constructor" not defined/);
    expect(() => run('{{ hasOwnProperty "a" }}', {})).toThrow(/function "hasOwnProperty" not defined/);
  });

  it('helm template refuses the chart, so ferry does (tpl of a map, b64enc of an unset value)', async () => {
    const dir = await writeChart(path.join(tmp, 'sm'), {
      chart: { name: 'sm', version: '1.0.0' },
      values: 'auth:\n  enabled: true\nextra:\n  a: 1\n',
      files: {
        'templates/secret.yaml':
          '{{- if .Values.auth.enabled }}\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  username: {{ .Values.auth.username | b64enc | quote }}\n{{- end }}\n',
      },
    });
    await expect(async () => renderChart(await loadChart(dir, { allFiles: true }))).rejects.toThrow(/invalid value; expected string/);
    const tplMap = await writeChart(path.join(tmp, 'tm'), {
      chart: { name: 'tm', version: '1.0.0' },
      values: 'extra:\n  a: 1\n',
      files: { 'templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  x: {{ tpl .Values.extra . | quote }}\n' },
    });
    await expect(async () => renderChart(await loadChart(tplMap, { allFiles: true }))).rejects.toThrow(/wrong type for value; expected string; got map\[string\]interface \{\}/);
  });
});
