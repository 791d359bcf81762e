import { describe, expect, it } from 'vitest';
import { renderChart } from '../../../../src/kinds/chart/render/index.js';
import { refuses, scratchCharts } from '../helpers.js';

/**
 * Crafted charts against the renderer: templates that call themselves, ranges over huge lists,
 * output and strings that would not fit in memory, a values.schema.json whose $ref loops or fans
 * out. Each must end in a VALIDATION error naming the bound (never a stack overflow reported as
 * "the renderer failed unexpectedly", never hours of work or gigabytes of memory).
 */
const chartWith = scratchCharts('ferry-hostile-render-');

const DEPTH = /exceeded maximum template depth \(200\): templates call each other \(template, include, tpl\) without end/;

describe('templates that call themselves', () => {
  it('{{ template }} calling itself (was a stack overflow: "the renderer failed unexpectedly")', async () => {
    refuses(await chartWith({ 'templates/t.yaml': '{{- define "a" }}{{ template "a" . }}{{ end }}{{ template "a" . }}' }), DEPTH);
  });

  it('include through two names, and tpl of a value that runs itself', async () => {
    refuses(await chartWith({ 'templates/t.yaml': '{{- define "a" }}{{ include "b" . }}{{ end }}{{- define "b" }}{{ include "a" . }}{{ end }}{{ include "a" . }}' }), DEPTH);
    refuses(await chartWith({ 'templates/t.yaml': '{{ tpl .Values.x . }}' }, 'x: "{{ tpl .Values.x . }}"\n'), DEPTH);
  });

  it('a finite recursion within the bound still renders', async () => {
    const chart = await chartWith({
      'templates/t.yaml': '{{- define "a" }}{{ if gt (int .) 0 }}{{ include "a" (sub (int .) 1) }}{{ else }}done{{ end }}{{ end }}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n  v: {{ include "a" 150 }}\n',
    });
    expect((renderChart(chart).documents[0].object as { data: { v: string } }).data.v).toBe('done');
  });
});

describe('work and memory', () => {
  it('until, untilStep and seq of 100 million elements are refused before they are built', async () => {
    refuses(await chartWith({ 'templates/t.yaml': '{{ range until 100000000 }}{{ end }}' }), /error calling until: list of elements: 100000000 would be built, more than the 1000000 ferry renders/);
    refuses(await chartWith({ 'templates/t.yaml': '{{ len (untilStep 0 100000000 1) }}' }), /error calling untilStep: list of elements: 100000000 would be built/);
    refuses(await chartWith({ 'templates/t.yaml': '{{ len (seq 100000000) }}' }), /error calling seq: list of elements: 100000000 would be built/);
  });

  it('nested ranges and a range over a huge number stop at the iteration bound', async () => {
    refuses(await chartWith({ 'templates/t.yaml': '{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}' }), /more than 10000000 range iterations; refusing to render on/);
    refuses(await chartWith({ 'templates/t.yaml': '{{ range 100000000 }}{{ end }}' }), /more than 10000000 range iterations/);
  });

  it('output past 64 Mi characters is refused (was "Invalid string length" after 2 GB of memory)', async () => {
    refuses(await chartWith({ 'templates/t.yaml': `{{ range until 1000000 }}${'x'.repeat(100)}{{ end }}` }), /template output larger than 67108864 characters/);
  });

  it('repeat and indent that would build gigabytes are refused before building them', async () => {
    refuses(await chartWith({ 'templates/t.yaml': 'a: {{ repeat 500000000 "x" }}' }), /error calling repeat: repeat: characters: 500000000 would be built, more than the 67108864 ferry renders/);
    refuses(await chartWith({ 'templates/t.yaml': 'a: {{ .Values.x | indent 10000000 }}' }, `x: "${'\\n'.repeat(100)}"\n`), /error calling indent: indent: characters: \d+ would be built/);
  });
});

describe('values.schema.json', () => {
  it('a $ref to itself, and anyOf back to the root, end with one error naming the bound (was a stack overflow)', async () => {
    const self = JSON.stringify({ $ref: '#/definitions/a', definitions: { a: { $ref: '#/definitions/a' } } });
    refuses(await chartWith({ 'templates/t.yaml': 'a: 1', 'values.schema.json': self }), /values\.schema\.json nests deeper than 256 levels \(a \$ref that refers to itself\?\); refusing it/);
    const any = JSON.stringify({ anyOf: [{ $ref: '#' }, { $ref: '#' }] });
    refuses(await chartWith({ 'templates/t.yaml': 'a: 1', 'values.schema.json': any }), /nests deeper than 256 levels/);
  });

  it('definitions that fan out exponentially stop at the work bound', async () => {
    const definitions: Record<string, unknown> = { a0: { type: 'integer' } };
    for (let i = 1; i < 40; i++) definitions[`a${i}`] = { anyOf: [{ $ref: `#/definitions/a${i - 1}` }, { $ref: `#/definitions/a${i - 1}` }] };
    refuses(await chartWith({ 'templates/t.yaml': 'a: 1', 'values.schema.json': JSON.stringify({ $ref: '#/definitions/a39', definitions }) }), /needs more than 1000000 checks/);
  });

  it('a recursive schema over finite values still validates them', async () => {
    const chart = await chartWith({ 'templates/t.yaml': 'a: 1', 'values.schema.json': JSON.stringify({ type: 'object', properties: { x: { $ref: '#' } } }) }, 'x: { x: { x: 1 } }\n');
    refuses(chart, /x\.x\.x: Invalid type\. Expected: object, given: integer/);
  });
});
