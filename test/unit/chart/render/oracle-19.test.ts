import { describe, expect, it } from 'vitest';
import { run } from './run-template.js';

// Nineteenth pass: real charts from repositories not seen before (TrueCharts' library, Wikimedia's
// deployment charts, Hazelcast and others). Each expectation is what Helm 3.14 gives (Go
// text/template, sprig v3.2.3), checked with the independent Go renderer.

const out = (t: string, data: unknown = {}): string => {
  try {
    return run(t, data);
  } catch (e) {
    return `ERR ${(e as Error).message}`;
  }
};

describe('assigning a variable never declared', () => {
  // TrueCharts' common library: `{{- $excludednetworksv6 = (printf …) -}}` inside a range over a
  // values list that is empty by default; Helm renders, ferry refused the whole chart at parse time
  it('parses, as Go parses it, and fails only when executed', () => {
    expect(out('{{ if false }}{{ $x = 1 }}{{ end }}ok')).toBe('ok');
    expect(out('{{ range list }}{{ $x = 1 }}{{ end }}ok')).toBe('ok');
    expect(out('{{ $x = 1 }}')).toMatch(/undefined variable: \$x$/);
    expect(out('{{ range list 1 }}{{ $x = 2 }}{{ end }}')).toMatch(/undefined variable: \$x$/);
  });
  it('declares the name for the rest of its scope, as Go’s parser does', () => {
    expect(out('{{ if false }}{{ $x = 1 }}{{ $x }}{{ end }}ok')).toBe('ok');
    expect(out('{{ $x = 1 }}{{ $x }}')).toMatch(/undefined variable: \$x$/);
    // the scope ends with its control structure: a use after it is still a parse error
    expect(out('{{ if true }}{{ if false }}{{ $x = 1 }}{{ end }}{{ end }}{{ $x }}')).toMatch(/undefined variable "\$x"/);
  });
});

describe('merge into nil', () => {
  // hazelcast: `merge nil .Values.metrics.service.annotations .Values.commonAnnotations | toYaml`;
  // wikimedia kserve-inference: `merge ($settings.annotations) $.Values.inference.annotations`
  // with no annotations of its own. mergo makes the nil destination a map; ferry returned nil.
  const values = { Values: { a: { x: '1' }, b: { y: '2', x: '3' }, s: {} } };
  it('the first source that is not nil makes a new map, which is returned', () => {
    expect(out('{{ merge nil .Values.a .Values.b | toJson }}', values)).toBe('{"x":"1","y":"2"}');
    expect(out('{{ mergeOverwrite nil .Values.a .Values.b | toJson }}', values)).toBe('{"x":"3","y":"2"}');
    expect(out('{{ merge (.Values.s.none) .Values.b | toJson }}', values)).toBe('{"x":"3","y":"2"}');
    expect(out('{{ mustMerge nil nil .Values.a | toJson }}', values)).toBe('{"x":"1"}');
    expect(out('{{ merge nil (dict) | toJson }}')).toBe('{}');
  });
  it('with only nil sources it stays nil', () => {
    expect(out('{{ merge nil nil | toJson }}')).toBe('null');
  });
  it('the sources are not changed', () => {
    expect(out('{{ $m := merge nil .Values.a .Values.b }}{{ toJson .Values.a }}', values)).toBe('{"x":"1"}');
  });
});
