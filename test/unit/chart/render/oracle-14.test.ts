import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadChart } from '../../../../src/kinds/chart/load.js';
import { renderChart } from '../../../../src/kinds/chart/render/index.js';
import { writeChart } from '../helpers.js';
import { run } from './run-template.js';

// Fourteenth pass of real charts against the independent Go renderer (DataDog, AWS EKS charts,
// SonarQube, kafbat, Atlantis and Langfuse with their helm-unittest suites, Litmus, Woodpecker,
// APISIX, Open WebUI, Ollama, JupyterHub, Zalando postgres-operator, Cerbos, Authelia, Immich,
// Mailu, gabe565's charts, pascaliske's charts and Temporal with its helm-unittest suite). Each
// expectation is what Helm 3.14's text/template and sprig v3.2.3 give, checked with the oracle.

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle14-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const GO_NIL_MAP = /wrong type for value; expected map\[string\]interface \{\}; got interface \{\}/;

describe("a missing or nil field handed to a sprig dict function's map parameter", () => {
  // gabe565's smarter-device-manager and borgmatic (with bjw-s common's `get .Values.global
  // "nameOverride"` and no `global` in the chart's values): Helm executes templates with
  // missingkey=zero, so `.Values.global` is a nil `interface {}`, and text/template's validateType
  // refuses it for get's `map[string]interface {}` parameter; `helm template` fails. ferry took it
  // as an empty map and rendered the chart.
  const values = { Values: { nul: null, m: { a: 1 }, s: 'str' } };

  it('is refused, at the argument, as Go refuses it', () => {
    for (const t of [
      '{{ get .Values.missing "a" }}', '{{ get .Values.nul "a" }}', '{{ hasKey .Values.missing "a" }}',
      '{{ set .Values.missing "a" 1 }}', '{{ unset .Values.missing "a" }}', '{{ keys .Values.missing }}',
      '{{ keys .Values.m .Values.missing }}', '{{ pick .Values.missing "a" }}', '{{ omit .Values.missing "a" }}',
      '{{ values .Values.missing }}', '{{ merge .Values.missing .Values.m }}', '{{ merge .Values.m .Values.missing }}',
      '{{ mergeOverwrite .Values.m .Values.missing }}', '{{ mustMerge .Values.m .Values.missing }}',
      '{{ mustMergeOverwrite .Values.m .Values.nul }}', '{{ pluck "a" .Values.missing }}',
      '{{ pluck "a" .Values.m .Values.nul }}', '{{ get $.Values.missing "a" }}',
    ]) {
      expect(() => run(t, values), t).toThrow(GO_NIL_MAP);
    }
    expect(() => run('{{ get .Values.missing "a" }}', values)).toThrow(/at <\.Values\.missing>: wrong type/);
    expect(() => run('{{ merge .Values.m .Values.s }}', values)).toThrow(/at <\.Values\.s>: wrong type for value; expected map\[string\]interface \{\}; got string/);
    expect(() => run('{{ get .Values.s "a" }}', values)).toThrow(/at <\.Values\.s>: wrong type for value; expected map\[string\]interface \{\}; got string/);
  });

  it('a literal nil or a piped value is an empty map, as in Go', () => {
    expect(run('{{ get nil "a" | quote }}', values)).toBe('""');
    expect(run('{{ .Values.missing | keys | toJson }}', values)).toBe('[]');
    expect(run('{{ .Values.missing | values | toJson }}', values)).toBe('[]');
    expect(run('{{ get .Values.m "a" }} {{ hasKey .Values.m "b" }} {{ keys .Values.m | toJson }}', values)).toBe('1 false ["a"]');
    expect(run('{{ merge (dict) .Values.m | toJson }} {{ pluck "a" .Values.m (dict "a" 2) | toJson }}', values)).toBe('{"a":1} [1,2]');
  });

  it('a chart whose library reads `.Values.global` it does not have is refused as Helm refuses it', async () => {
    const names = (name: string, values: string) =>
      writeChart(path.join(tmp, name), {
        chart: { name: 'sdm', version: '1.0.0' },
        values,
        files: {
          'templates/_names.tpl': '{{- define "n" -}}{{- get .Values.global "nameOverride" | default .Values.nameOverride -}}{{- end -}}\n',
          'templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include "n" . }}\n',
        },
      });
    const dir = await names('sdm', 'nameOverride: x\n');
    await expect(async () => renderChart(await loadChart(dir, { allFiles: true }))).rejects.toThrow(GO_NIL_MAP);
    const withGlobal = await names('sdm-global', 'nameOverride: x\nglobal: {}\n');
    const r = renderChart(await loadChart(withGlobal, { allFiles: true }));
    expect(r.documents.map((d) => (d.object as { metadata: { name: string } }).metadata.name)).toEqual(['x']);
  });
});

describe("a nil list handed to sprig's list functions", () => {
  // gabe565's bookstack, monica, vaultwarden and others with every `enabled: false` switched on:
  // `first .hosts` on an ingress without hosts. sprig's list functions start with
  // `reflect.TypeOf(list).Kind()`, which panics on nil, and Helm fails with `error calling first:
  // runtime error: invalid memory address or nil pointer dereference`; ferry read nil as an empty
  // list and went on.
  const values = { Values: { nul: null, l: [1, 2] } };
  const NIL_DEREF = /error calling \w+: runtime error: invalid memory address or nil pointer dereference/;

  it('is refused, a missing field or a literal nil alike', () => {
    for (const t of [
      'first .Values.missing', 'first nil', 'last .Values.nul', 'rest .Values.missing', 'initial .Values.missing',
      'reverse .Values.missing', 'uniq .Values.missing', 'compact .Values.missing', 'without .Values.missing 1',
      'append .Values.missing 1', 'push .Values.missing 1', 'prepend .Values.missing 1', 'chunk 2 .Values.missing',
      'chunk 0 nil', 'slice .Values.missing', 'concat .Values.missing', 'concat (list 1) .Values.missing', 'mustFirst nil',
      'mustLast nil', 'mustRest nil', 'mustInitial nil', 'mustReverse nil', 'mustUniq nil', 'mustCompact nil',
      'mustWithout nil 1', 'mustAppend nil 1', 'mustPush nil 1', 'mustPrepend nil 1', 'mustChunk 1 nil', 'mustSlice nil',
    ]) {
      expect(() => run(`{{ ${t} }}`, values), t).toThrow(NIL_DEREF);
    }
  });

  it('the functions Go lets through a nil still take it, and an empty list is no nil', () => {
    expect(run('{{ has 1 .Values.missing }} {{ mustHas 1 nil }}', values)).toBe('false false');
    expect(run('{{ toStrings .Values.missing | toJson }} {{ join "," .Values.missing | quote }}', values)).toBe('[] ""');
    expect(run('{{ first (list) | toJson }} {{ concat (list) (list 1) | toJson }} {{ first .Values.l }}', values)).toBe('null [1] 1');
  });
});
