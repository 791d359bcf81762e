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

describe('printf', () => {
  // found by the fuzzer: fmt's explicit argument indexes were printed as bad verbs
  it('takes explicit argument indexes, as fmt does', () => {
    expect(out('{{ printf "%[2]v %[1]v" nil "(a)(b)?" }}')).toBe('(a)(b)? <nil>');
    expect(out('{{ printf "%[3]v|%v|%[1]d %d" 1 2 3 }}')).toBe('3|%!v(MISSING)|1 2');
    expect(out('{{ printf "%[2]v" 1 2 3 }}')).toBe('2'); // no EXTRA once reordered
    expect(out('{{ printf "%[1]*[2]d|" 5 7 }}')).toBe('    7|');
  });
  it('an index out of range, malformed, or followed by a width or precision is BADINDEX', () => {
    expect(out('{{ printf "%[5]v %v" 1 2 }}')).toBe('%!v(BADINDEX) 1');
    expect(out('{{ printf "%[0]v %[x]v %[]v %[1v" 1 }}')).toBe('%!v(BADINDEX) %!v(BADINDEX) %!v(BADINDEX) %!v(BADINDEX)');
    expect(out('{{ printf "%[2]5d|%[1].2f|%.[2]*[1]f" 1.5 3 }}')).toBe('%!d(BADINDEX)|%!f(BADINDEX)|1.500');
    expect(out('{{ printf "%[1]-5s|%-[1]5s|" "a" }}')).toBe('%!-(string=a)5s|%!s(BADINDEX)|');
  });
  it('a precision on %d is the least number of digits', () => {
    expect(out('{{ printf "%3.[1]*[2]d|%.4d|%08.3d|%-6.3d|%+.2d|%.0d|%5.0d|%+.0d|%.2d" 4 7 5 -5 3 0 0 0 -123 }}')).toBe(
      '0007|0005|    -005|003   |+00||     |-123|%!d(MISSING)',
    );
  });
});
