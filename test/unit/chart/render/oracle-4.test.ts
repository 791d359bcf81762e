import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadChart } from '../../../../src/kinds/chart/load.js';
import { goYamlMarshal, parseGoYaml, parseGoYamlAll } from '../../../../src/kinds/chart/render/goyaml.js';
import { formatRendered, renderChart } from '../../../../src/kinds/chart/render/index.js';
import { writeChart } from '../helpers.js';

// Fourth pass of real charts against the independent Go renderer (kiali, elastic cloud-on-k8s,
// fluxcd-community, spiffe, OT-CONTAINER-KIT, stackrox, chaos-mesh, NVIDIA gpu-operator and others
// from repositories the first three passes did not cover). Each expectation is what go-yaml v2 and
// Go's time package (Go 1.21, Helm 3.14's) give; the why is stated beside each case.

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle4-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

let n = 0;
/** Render a one-template chart with these values: the rendering (ferry's RenderResult). */
async function renderOne(values: string, template: string) {
  const dir = await writeChart(path.join(tmp, `c${n++}`), {
    chart: { name: 'v', version: '1.0.0' },
    values,
    files: { 'templates/cm.yaml': template },
  });
  return renderChart(await loadChart(dir, { allFiles: true }));
}
const render = async (values: string, template: string) => formatRendered(await renderOne(values, template));

describe('toYaml quotes a string as a timestamp only when go-yaml v2 would read it as one', () => {
  // kiali-server's config map: `{{ toYaml .Values.server }}` with `time_field_format:
  // "2006-01-02T15:04:05Z07:00"` (a Go time layout). go-yaml v2 quotes a string that would read
  // back as something else; a timestamp is what Go's time.Parse accepts with one of
  // `2006-1-2T15:4:5.999999999Z07:00`, `2006-1-2t…`, `2006-1-2 15:4:5.999999999`, `2006-1-2`,
  // range checks included. `Z07:00` leaves `07:00` unread, so Helm writes the layout plain; ferry
  // quoted every string starting with a date.
  const y = (s: string) => goYamlMarshal({ k: s });

  it('strings Go time.Parse refuses are written plain', () => {
    for (const s of [
      '2006-01-02T15:04:05Z07:00', // trailing text after the zone
      '2006-01-02 foo', '2006-01-02x', '2006-01-02T', '2006-01-02T15:04:05', // no zone after T
      '2006-01-02 15:04:05Z', // no zone in the space form
      '2024-13-01', '2006-00-01', '2006-01-00', '2006-01-32', '2006-04-31', '2023-02-29', // month, day range
      '2006-01-02T24:04:05Z', '2006-01-02T23:60:05Z', '2006-01-02T23:59:60Z', // hour, minute, second range
      '2006-01-02T15:04:05.Z', '2006-01-02T15:04:05+0700', '2006-01-02T15:04:05+07:00x',
      '20061-01-02', '2006-001-02', '2006-01-002',
    ]) expect(y(s), s).toBe(`k: ${s}\n`);
  });

  it('strings Go time.Parse accepts are quoted', () => {
    for (const s of [
      '2006-01-02T15:04:05Z', '2006-01-02t15:04:05Z', '2006-01-02T15:04:05+07:00', '2000-02-29T00:00:00-07:00',
      '2006-01-02T15:04:05.123Z', '2006-01-02T15:04:05,123Z', '2006-01-02T1:2:3Z',
      '2006-01-02 15:04:05', '2006-01-02   15:04:05.5', '2006-01-02', '2006-1-2', '2024-02-29', '2023-02-28',
      // Go 1.20+: digits past nanoseconds are ignored, zone offsets up to 24:60 accepted
      '2006-01-02T15:04:05.999999999999Z', '2006-01-02T15:04:05+24:60',
    ]) expect(y(s), s).toBe(`k: "${s}"\n`);
    // out-of-range zone offsets are refused (Go 1.20+)
    expect(y('2006-01-02T15:04:05+25:00')).toBe('k: 2006-01-02T15:04:05+25:00\n');
    expect(y('2006-01-02T15:04:05+24:61')).toBe('k: 2006-01-02T15:04:05+24:61\n');
  });

  it('a chart whose toYaml carries a Go time layout renders it as Helm does', async () => {
    const out = await render(
      'server:\n  observability:\n    time_field_format: "2006-01-02T15:04:05Z07:00"\n    since: "2024-01-02T03:04:05Z"\n',
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kiali\ndata:\n  config.yaml: |\n    {{- toYaml .Values.server | nindent 4 }}\n',
    );
    expect(out).toContain('\n      since: "2024-01-02T03:04:05Z"\n      time_field_format: 2006-01-02T15:04:05Z07:00\n');
  });
});

describe('a multi-line quoted string whose later lines are indented no further than its key', () => {
  // The known difference of pass 3: go-yaml v2 does not check the indentation of a quoted
  // scalar's continuation lines, so `  k: 'a\n  b'` reads as `a b` (folded), in values files and in
  // rendered manifests alike; ferry's YAML parser refused it ("Missing closing 'quote").
  it('is read as go-yaml v2 reads it, single- or double-quoted, nested or in a list', () => {
    expect(parseGoYaml("a:\n  sub: 'line one\n  line two'\n")).toEqual({ a: { sub: 'line one line two' } });
    expect(parseGoYaml("sub: 'line one\nline two'\n")).toEqual({ sub: 'line one line two' });
    expect(parseGoYaml('a:\n  sub: "line one\n  line two"\n')).toEqual({ a: { sub: 'line one line two' } });
    expect(parseGoYaml("a:\n  sub: 'x\n line two'\n")).toEqual({ a: { sub: 'x line two' } });
    expect(parseGoYaml("- k: 'x\n  y'\n  j: 2\n")).toEqual([{ k: 'x y', j: 2 }]);
    expect(parseGoYaml("a: 'one\n\n  two'\nb: 1\n")).toEqual({ a: 'one\ntwo', b: 1 });
  });

  it('escapes, block scalars, comments and plain scalars around it keep their meaning', () => {
    expect(parseGoYaml("a:\n  sub: 'it''s\n  more'' here'\n  b: |\n    'not a quote\n  c: \"esc \\\"q\\\"\n  next\"\n")).toEqual({
      a: { sub: "it's more' here", b: "'not a quote\n", c: 'esc "q" next' },
    });
    expect(parseGoYaml("a: b 'c\nd: 'e\n  f'\n")).toEqual({ a: "b 'c", d: 'e f' });
    expect(parseGoYaml("a: 'x # not comment\n  y' # comment 'z\nb: 2\n")).toEqual({ a: 'x # not comment y', b: 2 });
    expect(parseGoYamlAll("a:\n  s: 'x\n  y'\n---\nb: 'p\nq'\n")).toEqual([{ a: { s: 'x y' } }, { b: 'p q' }]);
  });

  it('a document marker inside the string is refused, as go-yaml refuses it', () => {
    expect(() => parseGoYaml("a:\n  sub: 'x\n---\n  y'\n")).toThrow();
  });

  it('a chart rendering such a string gives the object Helm gives', async () => {
    const r = await renderOne(
      "image:\n  repository: 'registry.example/app'\nnote: 'first\nsecond'\n",
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: q\n  annotations:\n    note: 'a long\n    note'\ndata:\n  image: {{ .Values.image.repository }}\n  note: {{ .Values.note | quote }}\n",
    );
    const cm = r.documents.find((d) => d.kind === 'ConfigMap');
    expect(cm?.object).toEqual({
      apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'q', annotations: { note: 'a long note' } },
      data: { image: 'registry.example/app', note: 'first second' },
    });
  });
});

describe('.Values is a chartutil.Values: its methods AsMap, Table, YAML and PathValue', () => {
  // redpanda's connectors chart (templates transpiled from Go by gotohelm) starts every template
  // with `$values := $dot.Values.AsMap`. In Go a method of the map's named type wins over a map
  // key; ferry looked up a key "AsMap", found none, and rendered every port as 0 and no Deployment
  // (no image). Expectations: Helm's chartutil.Values methods.
  it('AsMap gives the values as a plain map; a port from it merges over a default', async () => {
    const out = await render(
      'connectors:\n  restPort: 8083\n',
      '{{- $values := .Values.AsMap -}}\nport: {{ $values.connectors.restPort | int }}\n' +
        'merged: {{ mustMergeOverwrite (dict "port" 0) (dict "port" ($values.connectors.restPort | int)) | toJson }}\n' +
        'types: {{ list (typeOf .Values) (typeOf $values) (typeOf (.Values.Table "connectors")) | toJson | quote }}\n' +
        'plain: {{ .Values.connectors.AsMap }}\n',
    );
    expect(out).toContain('port: 8083\nmerged: {"port":8083}\n');
    // AsMap's result and a map reached by key are plain maps: `.AsMap` on them is a key lookup
    expect(out).toContain('types: "[\\"chartutil.Values\\",\\"map[string]interface {}\\",\\"chartutil.Values\\"]"\nplain:');
  });

  it('Table, PathValue and YAML', async () => {
    const out = await render(
      'a:\n  b:\n    c: 1\n  s: x\n',
      'c: {{ (.Values.Table "a.b").c }}\np: {{ .Values.PathValue "a.s" }}\ny: {{ (.Values.Table "a.b").YAML | quote }}\n',
    );
    expect(out).toContain('c: 1\np: x\ny: "c: 1\\n"\n');
  });

  it('their errors are Helm\'s', async () => {
    await expect(render('a: 1\n', '{{ .Values.Table "nope" }}')).rejects.toThrow(/error calling Table: "nope" is not a table/);
    await expect(render('a: 1\n', '{{ .Values.Table "a" }}')).rejects.toThrow(/error calling Table: "a" is not a table/);
    await expect(render('a:\n  b: 1\n', '{{ .Values.PathValue "a" }}')).rejects.toThrow(/error calling PathValue: "a" is not a value/);
    await expect(render('a: 1\n', '{{ .Values.PathValue "x.y" }}')).rejects.toThrow(/error calling PathValue: "y" is not a value/);
    await expect(render('a: 1\n', '{{ .Values.PathValue "" }}')).rejects.toThrow(/YAML path cannot be empty/);
    await expect(render('a: 1\n', '{{ .Values.Table }}')).rejects.toThrow(/wrong number of args for Table: want 1 got 0/);
  });
});
