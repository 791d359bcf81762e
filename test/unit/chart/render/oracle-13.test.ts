import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadChart } from '../../../../src/kinds/chart/load.js';
import { parseGoYaml, parseGoYamlAll } from '../../../../src/kinds/chart/render/goyaml.js';
import { renderChart } from '../../../../src/kinds/chart/render/index.js';
import { findRenderedImages } from '../../../../src/kinds/chart/discover/rendered.js';
import { writeChart } from '../helpers.js';

// Thirteenth pass of real charts against the independent Go renderer (actions-runner-controller's
// gha-runner-scale-set charts with their helm-unittest suites, bjw-s app-template and its common
// library's test chart, vcluster, Dynatrace, Splunk's OpenTelemetry collector with its examples,
// Jaeger, Kubernetes dashboard, headlamp, node-feature-discovery, Reloader and others). Each
// expectation is what go-yaml v2 (gopkg.in/yaml.v2, which sigs.k8s.io/yaml and so Helm use) gives,
// checked with `yaml.Unmarshal` on this machine.

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle13-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('a `#` right after a quoted scalar, a flow indicator or a block header starts a comment', () => {
  // gha-runner-scale-set-experimental's runner env with `requireJobContainer: false` renders
  // `value: "false"# WARNING: …` (no blank before the `#`). go-yaml v2's scanner eats a comment
  // wherever it looks for the next token (yaml_parser_scan_to_next_token), blank before it or not,
  // so Helm reads `false`; ferry's YAML parser refused the document ("Comments must be separated
  // from other tokens by white space characters") and so the whole chart.
  it('is read as go-yaml v2 reads it', () => {
    expect(parseGoYaml('a: "false"# c\nb: 1\n')).toEqual({ a: 'false', b: 1 });
    expect(parseGoYaml("a: 'x'#c\n")).toEqual({ a: 'x' });
    expect(parseGoYaml("a: 'it''s'#c\n")).toEqual({ a: "it's" });
    expect(parseGoYaml('a: "q\\""#c\n')).toEqual({ a: 'q"' });
    expect(parseGoYaml('a: [1,#c\n 2]\n')).toEqual({ a: [1, 2] });
    expect(parseGoYaml('a: [1, 2]#c\n')).toEqual({ a: [1, 2] });
    expect(parseGoYaml('a: {b: 1}#c\n')).toEqual({ a: { b: 1 } });
    expect(parseGoYaml('a: {b: "x"#c\n }\n')).toEqual({ a: { b: 'x' } });
    expect(parseGoYaml('a: {b: [1]#c\n}\n')).toEqual({ a: { b: [1] } });
    expect(parseGoYaml('a: ["x"#c\n, y]\n')).toEqual({ a: ['x', true] });
    expect(parseGoYaml('a: |#c\n  x\n')).toEqual({ a: 'x\n' });
    expect(parseGoYaml('a: |-#c\n  x\n')).toEqual({ a: 'x' });
    expect(parseGoYaml('- "x"#c\n- y\n')).toEqual(['x', true]);
    expect(parseGoYamlAll('a: "1"#c\n---\nb: [2]#d\n')).toEqual([{ a: '1' }, { b: [2] }]);
  });

  it('inside a plain scalar or a quoted one `#` stays text, as in go-yaml', () => {
    expect(parseGoYaml('a: b#c\nd: e,#f\n')).toEqual({ a: 'b#c', d: 'e,#f' });
    expect(parseGoYaml('a: "x#y"\nb: \'p#q\'#r\n')).toEqual({ a: 'x#y', b: 'p#q' });
    // with a multi-line quoted string to re-indent in the same document
    expect(parseGoYaml("a:\n  s: 'one\n  two'#c\n  t: \"u\"#v\n")).toEqual({ a: { s: 'one two', t: 'u' } });
  });

  it('a chart rendering one gives the objects and images Helm gives', async () => {
    const dir = await writeChart(path.join(tmp, 'gha'), {
      chart: { name: 'runner', version: '1.0.0' },
      values: 'requireJobContainer: false\n',
      files: {
        'templates/pod.yaml':
          'apiVersion: v1\nkind: Pod\nmetadata:\n  name: runner\nspec:\n  containers:\n    - name: runner\n      image: ghcr.io/actions/actions-runner:2.330.0\n      env:\n' +
          '        - name: ACTIONS_RUNNER_REQUIRE_JOB_CONTAINER\n          value: {{ .Values.requireJobContainer | toString | quote }}' +
          '{{- if not .Values.requireJobContainer }}# WARNING: jobs run in the runner container{{ end }}\n',
      },
    });
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    const pod = r.documents.find((d) => d.kind === 'Pod');
    expect(pod?.object).toEqual({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'runner' },
      spec: { containers: [{ name: 'runner', image: 'ghcr.io/actions/actions-runner:2.330.0', env: [{ name: 'ACTIONS_RUNNER_REQUIRE_JOB_CONTAINER', value: 'false' }] }] },
    });
    expect(findRenderedImages(r.documents).map((f) => f.ref)).toEqual(['ghcr.io/actions/actions-runner:2.330.0']);
  });
});

describe('toYaml of a string YAML cannot hold gives "", as Helm gives it', () => {
  // bjw-s common's configMapsFromFolder reads a folder holding a JPEG not flagged `binary`:
  // `.Files.Get` gives its bytes, the library's valuesToObject does `toYaml | fromYaml`, and its
  // validation fails with "There was an error loading ConfigMap: test_2 … flagged as `binary`".
  // Helm's toYaml is sigs.k8s.io/yaml: json.Marshal (each byte that is not UTF-8 becomes U+FFFD),
  // then yaml.Unmarshal of that JSON, whose reader refuses U+007F–U+009F (but U+0085), U+FFFE and
  // U+FFFF ("control characters are not allowed"), and toYaml returns "" on an error. Ferry wrote
  // the bytes and rendered the ConfigMap. Checked with Go's encoding/json and gopkg.in/yaml.v2.
  const render = async (files: Record<string, string | Buffer>, template: string) => {
    const dir = await writeChart(path.join(tmp, `y${Math.random().toString(36).slice(2)}`), {
      chart: { name: 'y', version: '1.0.0' },
      values: 'x: 1\n',
      files: { 'templates/cm.yaml': template, ...files },
    });
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    return r.documents.find((d) => d.kind === 'ConfigMap')?.object as { data: Record<string, string> };
  };
  const cm = (body: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n${body}`;

  it('a character go-yaml refuses, in a value or a key, gives ""; mustToYaml fails', async () => {
    const o = await render({}, cm(
      '  del: {{ dict "k" (printf "a%cb" 127) | toYaml | quote }}\n' +
      '  c1: {{ dict "k" (printf "a%cb" 0x9f) | toYaml | quote }}\n' +
      '  key: {{ dict (printf "a%cb" 0x80) 1 | toYaml | quote }}\n' +
      '  fffe: {{ dict "k" (printf "a%cb" 0xfffe) | toYaml | quote }}\n' +
      '  back: {{ dict "k" (printf "a%cb" 127) | toYaml | fromYaml | keys | toJson | quote }}\n' +
      '  nbsp: {{ dict "k" (printf "a%cb" 0xa0) | toYaml | quote }}\n' +
      '  nul: {{ dict "k" (printf "a%cb" 0) | toYaml | quote }}\n',
    ));
    expect(o.data).toEqual({ del: '', c1: '', key: '', fffe: '', back: '[]', nbsp: 'k: a\u00a0b', nul: 'k: "a\\0b"' });
    await expect(render({}, cm('  m: {{ dict "k" (printf "%c" 127) | mustToYaml | quote }}\n'))).rejects.toThrow(/control characters are not allowed/);
  });

  it('a file that is not UTF-8 is written with U+FFFD for each such byte, or not at all if it holds a refused character', async () => {
    const o = await render(
      { 'files/a.bin': Buffer.from([0x61, 0xff, 0xfe, 0x62]), 'files/img.bin': Buffer.from([0xff, 0xd8, 0x7f, 0x00]) },
      cm('  a: {{ dict "k" (.Files.Get "files/a.bin") | toYaml | quote }}\n  img: {{ dict "k" (.Files.Get "files/img.bin") | toYaml | quote }}\n'),
    );
    expect(o.data).toEqual({ a: 'k: a\ufffd\ufffdb', img: '' });
  });
});
