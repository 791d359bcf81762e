import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadChart } from '../../../../src/kinds/chart/load.js';
import { parseGoYaml, parseGoYamlAll } from '../../../../src/kinds/chart/render/goyaml.js';
import { renderChart } from '../../../../src/kinds/chart/render/index.js';
import { writeChart } from '../helpers.js';
import { run } from './run-template.js';

// Second pass of real charts against the independent Go renderer (Kong, SonarQube, New Relic and
// others from repositories the first pass did not cover). Each expectation is what Go's
// text/template, sprig v3 (mergo) and go-yaml v2 give; the why is stated beside each case.


let tmp: string;
let n = 0;
/** Execute `text` with Helm's functions (fromYaml, toYaml, …) in a chart; the output as a string. */
async function helmRun(text: string): Promise<string> {
  const dir = await writeChart(path.join(tmp, `h${n++}`), {
    chart: { name: 'h', version: '1.0.0' },
    files: {
      'templates/_t.tpl': `{{- define "t" -}}${text}{{- end -}}`,
      'templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  v: {{ include "t" . | quote }}\n',
    },
  });
  const r = renderChart(await loadChart(dir, { allFiles: true }));
  return (r.documents[0].object as { data: { v: string } }).data.v;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle2-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('merge and mergeOverwrite keep the source maps and lists (mergo stores them, it does not copy)', () => {
  it('a set on a nested map of the merged dict reaches the source', () => {
    const data = { Values: { proxy: { stream: [{ containerPort: 9000 }], http: { port: 80 } } } };
    const t = '{{- $c := merge (dict) .Values.proxy -}}{{- range $c.stream }}{{ $_ := set . "protocol" "TCP" }}{{ end -}}{{- $_ := set $c.http "tls" true -}}{{ range .Values.proxy.stream }}{{ .protocol }}{{ end }} {{ .Values.proxy.http.tls }}';
    expect(run(t, data)).toBe('TCP true');
    const o = '{{- $d := dict "a" (dict "x" 1) -}}{{- $m := mergeOverwrite (dict) $d -}}{{- $_ := set $m.a "y" 2 -}}{{ $d.a.y }}';
    expect(run(o)).toBe('2');
  });

  it('a chart whose service adds a default to .Values entries through merge: the deployment, rendered later, sees it (kong)', async () => {
    // Helm renders templates in reverse lexical order: service.yaml before deployment.yaml.
    const dir = await writeChart(path.join(tmp, 'kongish'), {
      chart: { name: 'kongish', version: '1.0.0' },
      values: 'proxy:\n  stream:\n  - containerPort: 9000\n',
      files: {
        'templates/service.yaml':
          '{{- $c := merge (dict) .Values.proxy -}}\n{{- range $c.stream }}{{- if not (hasKey . "protocol") }}{{ $_ := set . "protocol" "TCP" }}{{ end }}{{ end -}}\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n',
        'templates/deployment.yaml':
          'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: kong:3.9\n        ports:\n        {{- range .Values.proxy.stream }}\n        - containerPort: {{ .containerPort }}\n          protocol: {{ .protocol }}\n        {{- end }}\n',
      },
    });
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    const d = r.documents.find((x) => x.kind === 'Deployment')!;
    expect(d.text).toContain('protocol: TCP');
  });
});

describe('join follows sprig strslice', () => {
  // strslice leaves nil elements out and makes a nil value no element (nr-ebpf-agent:
  // `{{ .Values.dropDataForNamespaces | join "," }}` with the key unset gives "").
  it('drops nil elements and joins a nil list to ""', () => {
    expect(run('{{ join "," (list "a" nil "b") }}')).toBe('a,b');
    expect(run('[{{ .Values.missing | join "," }}]', { Values: {} })).toBe('[]');
    expect(run('{{ join "-" 5 }}')).toBe('5');
  });
});

describe('a block scalar that ends the text without a line break has no final newline (go-yaml)', () => {
  // go-yaml keeps only the line breaks it read; the yaml package adds one. Helm's toYaml trims the
  // last newline, so fromYaml (toYaml x) of a map ending in a multi-line string loses it, and the
  // next toYaml writes `|-` (sonarqube-dce's deepMerge helper, run again by every template).
  it('fromYaml', async () => {
    expect(await helmRun('{{ fromYaml "a: |\\n  x\\n  y" | toJson }}')).toBe('{"a":"x\\ny"}');
    expect(await helmRun('{{ fromYaml "a: |\\n  x\\n  y\\n" | toJson }}')).toBe('{"a":"x\\ny\\n"}');
    expect(await helmRun('{{ fromYaml "a:\\n- |+\\n  x" | toJson }}')).toBe('{"a":["x"]}');
    expect(await helmRun('{{ fromYaml "a: >\\n  x\\n  y" | toJson }}')).toBe('{"a":"x y"}');
    // a break read before trailing spaces counts
    expect(await helmRun('{{ fromYaml "a: |\\n  x\\n  " | toJson }}')).toBe('{"a":"x\\n"}');
  });

  it('toYaml then fromYaml then toYaml gives |- for a string whose map ends with it', async () => {
    const t = '{{- $m := dict "k" (list "sh" "echo 1\\necho 2\\n") -}}{{- $back := fromYaml (toYaml $m) -}}{{ toYaml $back }}';
    expect(await helmRun(t)).toBe('k:\n- sh\n- |-\n  echo 1\n  echo 2');
  });

  it('values text and multi-document text', () => {
    expect(parseGoYaml('a: 1\ns: |\n  line')).toEqual({ a: 1, s: 'line' });
    expect(parseGoYaml('s: |\n  line\nb: 2')).toEqual({ s: 'line\n', b: 2 });
    expect(parseGoYamlAll('s: |\n  one\n---\nt: |\n  two')).toEqual([{ s: 'one\n' }, { t: 'two' }]);
  });
});

describe("Helm's default ignore rule", () => {
  // LoadDir adds `templates/.?*` after the chart's .helmignore: calico's templates/.gitattributes
  // (not YAML) is not rendered.
  it('leaves dot files among the templates out', async () => {
    const dir = await writeChart(path.join(tmp, 'dotfile'), {
      chart: { name: 'dotfile', version: '1.0.0' },
      files: {
        'templates/.gitattributes': '*.yaml linguist-generated=true\n',
        'templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n',
      },
    });
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    expect(r.documents.map((d) => d.source)).toEqual(['dotfile/templates/cm.yaml']);
  });
});
