import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create as tarCreate } from 'tar';
import { loadChart } from '../../../../src/kinds/chart/load.js';
import { formatRendered, renderChart } from '../../../../src/kinds/chart/render/index.js';
import { writeChart } from '../helpers.js';

// Helm's documented chart behaviour: subcharts, conditions, tags, aliases, import-values, globals,
// library charts, .Files, tpl, required, hooks, NOTES.txt and partials, schema, kubeVersion.
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-render-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const cm = (name: string, body: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n${body}\n`;

async function parent(name: string) {
  return writeChart(path.join(tmp, name), {
    chart: {
      name: 'parent',
      version: '1.0.0',
      appVersion: '2.0',
      dependencies: [
        { name: 'sub', version: '0.1.x', condition: 'sub.enabled' },
        { name: 'sub', version: '0.1.x', alias: 'second', condition: 'second.enabled,global.second' },
        { name: 'tagged', version: '*', tags: ['extra'] },
        { name: 'lib', version: '*' },
        { name: 'exporter', version: '*', 'import-values': ['data', { child: 'deep', parent: 'imported' }] },
      ],
    },
    values: 'global:\n  registry: parent.example\nsub:\n  greeting: from-parent\n  removed: null\nsecond:\n  enabled: false\ntags:\n  extra: false\nimported:\n  own: parent-wins\nimage: { tag: "1.0" }\n',
    files: {
      'templates/_helpers.tpl': '{{- define "parent.name" -}}{{ .Chart.Name }}-{{ .Release.Name }}{{- end -}}',
      'templates/cm.yaml': cm(
        '{{ include "parent.name" . }}',
        [
          '  ns: {{ .Release.Namespace }}',
          '  app: {{ .Chart.AppVersion | quote }}',
          '  kube: {{ .Capabilities.KubeVersion.Version }}/{{ .Capabilities.KubeVersion.Minor }}',
          '  hasApps: {{ .Capabilities.APIVersions.Has "apps/v1" | quote }}',
          '  hasMon: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}',
          '  lib: {{ include "lib.hello" . }}',
          '  file: {{ .Files.Get "files/a.txt" | trim }}',
          '  glob: {{ len (.Files.Glob "files/*.txt") }}',
          '  tpl: {{ tpl "{{ .Values.image.tag }}" . }}',
          '  imported: {{ .Values.imported | toJson | quote }}',
          '  fromExport: {{ .Values.exported | quote }}',
          '  template: {{ .Template.Name }}',
          '  config: |',
          '{{ (.Files.Glob "files/*").AsConfig | indent 4 }}',
        ].join('\n'),
      ),
      'templates/hook.yaml': 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: test\n  annotations:\n    helm.sh/hook: test\nspec:\n  containers:\n  - name: t\n    image: busybox:1.36\n',
      'templates/NOTES.txt': '{{ required "not needed" .Values.nothing }}',
      'files/a.txt': 'hello\n',
      'files/b.txt': 'b\n',
    },
    subcharts: {
      sub: {
        chart: { name: 'sub', version: '0.1.2' },
        values: 'greeting: from-sub\nremoved: default\nkept: yes\n',
        files: { 'templates/cm.yaml': cm('{{ .Chart.Name }}', '  greeting: {{ .Values.greeting }}\n  removed: {{ .Values.removed | default "gone" }}\n  kept: {{ .Values.kept }}\n  registry: {{ .Values.global.registry }}') },
      },
      tagged: { chart: { name: 'tagged', version: '1.0.0' }, files: { 'templates/cm.yaml': cm('tagged', '  a: b') } },
      lib: { chart: { name: 'lib', version: '1.0.0', type: 'library' }, files: { 'templates/_lib.tpl': '{{ define "lib.hello" }}hi-{{ .Chart.Name }}{{ end }}', 'templates/ignored.yaml': cm('never', '  a: b') } },
      exporter: { chart: { name: 'exporter', version: '1.0.0' }, values: 'exports:\n  data:\n    exported: yes-exported\ndeep:\n  own: child\n  other: child-other\n' },
    },
  });
}

describe('renderChart over a chart tree', () => {
  it('renders subcharts with conditions, aliases, tags, globals, import-values, a library and .Files', async () => {
    const dir = await parent('p1');
    const r = renderChart(await loadChart(dir, { allFiles: true }), { releaseName: 'rel', namespace: 'ns1' });
    const byName = new Map(r.documents.map((d) => [d.name, d]));
    const main = (byName.get('parent-rel')!.object as { data: Record<string, string> }).data;
    expect(main).toMatchObject({
      ns: 'ns1',
      app: '2.0',
      kube: 'v1.29.0/29',
      hasApps: 'true',
      hasMon: 'false',
      lib: 'hi-parent',
      file: 'hello',
      glob: 2,
      tpl: 1, // "1.0" printed unquoted reads back as a number, as in Helm
      fromExport: 'yes-exported',
      template: 'parent/templates/cm.yaml',
      config: 'a.txt: |\n  hello\nb.txt: |\n  b\n',
    });
    // import-values: the parent's own values win over imported ones
    expect(JSON.parse(main.imported)).toEqual({ own: 'parent-wins', other: 'child-other' });
    const sub = (byName.get('sub')!.object as { data: Record<string, string> }).data;
    // parent values override the subchart's; null deletes a default; globals flow down; YAML 1.1 `yes`
    expect(sub).toEqual({ greeting: 'from-parent', removed: 'gone', kept: true, registry: 'parent.example' });
    // the alias `second` is disabled by its condition, `tagged` by its tag; library templates are not output
    expect(r.documents.map((d) => d.source)).not.toContain('parent/charts/second/templates/cm.yaml');
    expect(byName.has('tagged')).toBe(false);
    expect(byName.has('never')).toBe(false);
    expect(r.disabled.map((d) => d.dependency).sort()).toEqual(['second', 'tagged']);
    // hooks come after manifests and test hooks are marked; NOTES.txt is not rendered into the output
    const last = r.documents[r.documents.length - 1];
    expect(last.test).toBe(true);
    expect(last.hook).toEqual(['test']);
    expect(formatRendered(r)).not.toContain('NOTES');
  });

  it('enables an alias through its condition and a tag through tags', async () => {
    const dir = await parent('p2');
    const r = renderChart(await loadChart(dir, { allFiles: true }), { values: [{ name: 'v.yaml', data: 'second:\n  enabled: true\n  greeting: second-copy\ntags:\n  extra: true\n' }] });
    const second = r.documents.find((d) => d.source === 'parent/charts/second/templates/cm.yaml')!;
    expect(second.name).toBe('second');
    expect((second.object as { data: Record<string, string> }).data.greeting).toBe('second-copy');
    expect(r.documents.some((d) => d.name === 'tagged')).toBe(true);
  });

  it('reads a packaged .tgz subchart', async () => {
    const dir = await writeChart(path.join(tmp, 'p3'), { chart: { name: 'p3', version: '1.0.0' }, files: { 'templates/a.yaml': cm('a', '  x: "1"') } });
    const subDir = await writeChart(path.join(tmp, 'build', 'packed'), { chart: { name: 'packed', version: '1.0.0' }, values: 'v: from-tgz\n', files: { 'templates/cm.yaml': cm('packed', '  v: {{ .Values.v }}') } });
    const { mkdir } = await import('node:fs/promises');
    await mkdir(path.join(dir, 'charts'), { recursive: true });
    await tarCreate({ gzip: true, file: path.join(dir, 'charts', 'packed-1.0.0.tgz'), cwd: path.dirname(subDir), portable: true }, ['packed']);
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    expect((r.documents.find((d) => d.name === 'packed')!.object as { data: { v: string } }).data.v).toBe('from-tgz');
  });

  it('fails like helm: required, fail, schema, kubeVersion', async () => {
    const dir = await writeChart(path.join(tmp, 'p4'), {
      chart: { name: 'p4', version: '1.0.0', kubeVersion: '>=1.20.0-0' },
      values: 'replicas: 1\n',
      files: {
        'templates/a.yaml': cm('a', '  x: {{ required "x is required" .Values.x }}'),
        'values.schema.json': JSON.stringify({ type: 'object', properties: { replicas: { type: 'integer' } } }),
      },
    });
    const chart = await loadChart(dir, { allFiles: true });
    expect(() => renderChart(chart)).toThrow(/execution error at \(p4\/templates\/a\.yaml:6:8\): x is required/);
    expect(() => renderChart(chart, { set: ['x=1,replicas=many'] })).toThrow(/values don't meet the specifications of the schema\(s\)[\s\S]*replicas: Invalid type. Expected: integer, given: string/);
    expect(() => renderChart(chart, { set: ['x=1'], kubeVersion: 'v1.19.0' })).toThrow(/kubeVersion: >=1.20.0-0 which is incompatible with Kubernetes v1.19.0/);
    const ok = renderChart(chart, { set: ['x=1'], kubeVersion: '1.30' });
    expect(ok.kubeVersion).toBe('v1.30.0');
  });

  it('says which template line produced a value', async () => {
    const dir = await writeChart(path.join(tmp, 'p5'), {
      chart: { name: 'p5', version: '1.0.0' },
      values: 'image: nginx:1.27\n',
      files: { 'templates/d.yaml': 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: {{ .Values.image }}\n' },
    });
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    const d = r.documents[0];
    expect(d.lineAt(d.text.indexOf('nginx'))).toBe(8);
  });
});

describe('tpl', () => {
  it('renders an empty text as empty, and defines made inside it are visible to include there', async () => {
    const dir = await writeChart(path.join(tmp, 'p6'), {
      chart: { name: 'p6', version: '1.0.0' },
      values: 'empty: ""\nt: \'{{ define "in.tpl" }}from-tpl-{{ .Release.Name }}{{ end }}{{ include "in.tpl" . }}\'\n',
      files: { 'templates/a.yaml': cm('a', '  empty: "{{ tpl .Values.empty . }}"\n  defined: {{ tpl .Values.t . }}') },
    });
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    expect((r.documents[0].object as { data: Record<string, string> }).data).toEqual({ empty: '', defined: 'from-tpl-release-name' });
  });
});

describe('.helmignore and .Files.Glob', () => {
  it('ignored files are neither templates nor .Files; Glob takes ** and {a,b}', async () => {
    const dir = await writeChart(path.join(tmp, 'p7'), {
      chart: { name: 'p7', version: '1.0.0' },
      files: {
        '.helmignore': '# comment\n*.bak\nsecret/\n',
        'templates/a.yaml': cm('a', '  files: x{{ range $p, $_ := .Files.Glob "conf/**" }} {{ $p }}{{ end }}\n  alt: "{{ range $p, $_ := .Files.Glob "conf/{x,y}.txt" }}{{ $p }};{{ end }}"\n  bak: "{{ .Files.Get "keep.txt" | trim }}|{{ .Files.Get "drop.bak" }}|{{ .Files.Get "secret/s.txt" }}"'),
        'templates/old.yaml.bak': cm('never', '  a: b'),
        'conf/x.txt': 'x',
        'conf/deep/z.txt': 'z',
        'keep.txt': 'kept',
        'drop.bak': 'dropped',
        'secret/s.txt': 's',
      },
    });
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    expect(r.documents.map((d) => d.name)).toEqual(['a']);
    const data = (r.documents[0].object as { data: Record<string, string> }).data;
    expect(data.files.split(' ').slice(1)).toEqual(['conf/deep/z.txt', 'conf/x.txt']);
    expect(data.alt).toBe('conf/x.txt;');
    expect(data.bak).toBe('kept||');
  });
});
