import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userValues } from '../../../../src/kinds/chart/discover.js';
import { loadChart } from '../../../../src/kinds/chart/load.js';
import { capabilities, parseKubeVersion } from '../../../../src/kinds/chart/render/helm.js';
import { formatRendered, renderChart } from '../../../../src/kinds/chart/render/index.js';
import { semverCompare } from '../../../../src/kinds/chart/render/sprig.js';
import { writeChart } from '../helpers.js';
import { run } from './run-template.js';

// Defects found by rendering real charts (traefik, opentelemetry-collector, external-secrets,
// bitnami charts) with ferry and with an independent Go renderer. Each expectation is what Helm
// 3.14 gives, by Go's text/template, sprig v3 and Helm's documented dependency rules; the why is
// stated beside each case.


let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('hexadecimal float literals', () => {
  // Go's lexer takes `0x` mantissas with a `p` binary exponent (scanNumber accepts "pP" after hex
  // digits) and strconv.ParseFloat reads them; idealConstant makes a literal holding `p` a float64.
  // traefik's and opentelemetry-collector's memory helpers multiply by `0x1p60` (one EiB).
  it('parses 0x1p60 and friends as float64', () => {
    expect(run('{{ 0x1p4 }} {{ 0x1p-2 }} {{ 0x1.8p1 }} {{ 0X_1P+3 }}')).toBe('16 0.25 3 8');
    expect(run('{{ printf "%T" 0x1p4 }} {{ printf "%v" 0x10 }}')).toBe('float64 16');
    expect(run('{{ mulf (trimSuffix "ei" "2ei" | float64) 0x1p60 }}')).toBe('2.305843009213694e+18');
  });

  it('still refuses a hex mantissa without its p exponent, as ParseFloat does', () => {
    expect(() => run('{{ 0x1.8 }}')).toThrow(/number syntax/);
  });
});

describe('.Capabilities.APIVersions is a slice (chartutil.VersionSet is []string)', () => {
  const caps = capabilities(parseKubeVersion('v1.29.0'), ['b.example/v1', 'a.example/v1']);
  // sprig's list functions reflect on the kind, and VersionSet's kind is slice: external-secrets
  // probes `has "monitoring.coreos.com/v1" .Capabilities.APIVersions`.
  it('takes sprig list functions, index, slice, range and kindOf', () => {
    const d = { Capabilities: caps };
    expect(run('{{ has "a.example/v1" .Capabilities.APIVersions }} {{ has "c/v1" .Capabilities.APIVersions }}', d)).toBe('true false');
    expect(run('{{ kindOf .Capabilities.APIVersions }} {{ len .Capabilities.APIVersions }}', d)).toBe('slice 2');
    expect(run('{{ first .Capabilities.APIVersions }} {{ last .Capabilities.APIVersions }} {{ index .Capabilities.APIVersions 1 }}', d)).toBe('b.example/v1 a.example/v1 a.example/v1');
    expect(run('{{ sortAlpha .Capabilities.APIVersions | join "," }}', d)).toBe('a.example/v1,b.example/v1');
    expect(run('{{ slice .Capabilities.APIVersions 1 | toJson }}', d)).toBe('["a.example/v1"]');
    // range over a slice gives integer indexes 0, 1, ...
    expect(run('{{ range $i, $v := .Capabilities.APIVersions }}{{ add $i 1 }}={{ $v }};{{ end }}', d)).toBe('1=b.example/v1;2=a.example/v1;');
    // encoding/json marshals a []string as an array
    expect(run('{{ toJson .Capabilities.APIVersions }}', d)).toBe('["b.example/v1","a.example/v1"]');
    expect(run('{{ .Capabilities.APIVersions.Has "b.example/v1" }}', d)).toBe('true');
  });
});

describe('a vendored dependency whose version is outside the Chart.yaml range', () => {
  // Helm's processDependencyEnabled: charts under charts/ that match no dependency by name AND
  // version range are kept as they are (unlisted, own name, always enabled); getAliasDependency
  // makes an aliased copy only of a chart inside the range. helm template's CheckDependencies
  // matches by name only, so such a chart is not "missing".
  const CACHE_8 = {
    chart: { name: 'cache', version: '8.0.0' },
    values: 'who: default\n',
    files: { 'templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Chart.Name }}\ndata:\n  who: {{ .Values.who }}\n' },
  };

  it('is rendered under its own name, not under the alias', async () => {
    const dir = await writeChart(path.join(tmp, 'alias-range'), {
      chart: { name: 'top', version: '1.0.0', dependencies: [{ name: 'cache', version: '7.x.x', alias: 'cachea', condition: 'cachea.enabled' }] },
      values: 'cachea:\n  enabled: true\n  who: alias\ncache:\n  who: own\n',
      subcharts: {
        cache: CACHE_8,
      },
    });
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    expect(formatRendered(r)).toBe('---\n# Source: top/charts/cache/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cache\ndata:\n  who: own\n');
    expect(r.missingDependencies).toEqual([]);
  });

  it('uses the in-range copy for the alias when one is there, and a condition still applies by name', async () => {
    const dir = await writeChart(path.join(tmp, 'alias-range2'), {
      chart: {
        name: 'top',
        version: '1.0.0',
        dependencies: [
          { name: 'cache', version: '8.x.x', alias: 'cachea' },
          { name: 'db', version: '1.x.x', condition: 'db.enabled' },
        ],
      },
      values: 'cachea:\n  who: alias\ndb:\n  enabled: false\n',
      subcharts: {
        cache: CACHE_8,
        db: {
          chart: { name: 'db', version: '2.0.0' },
          files: { 'templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db\n' },
        },
      },
    });
    const r = renderChart(await loadChart(dir, { allFiles: true }));
    // db 2.0.0 is outside 1.x.x, kept under its own name, and the condition db.enabled=false
    // removes it by name; cache 8.0.0 is in range and becomes cachea.
    expect(formatRendered(r)).toBe('---\n# Source: top/charts/cachea/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cachea\ndata:\n  who: alias\n');
    expect(r.missingDependencies).toEqual([]);
  });
});

describe('a pipe right before the closing delimiter', () => {
  // Go's parser: command() stops at the `|`, then the pipeline loop meets the delimiter and ends the
  // pipeline, so `{{ x | nindent 4 | }}` is accepted (the datadog-operator chart has one).
  it('is accepted and ignored', () => {
    expect(run('a:{{ "x" | upper | }}', {})).toBe('a:X');
    expect(run('{{- .m | nindent 2 | }}', { m: 'k: v' })).toBe('\n  k: v');
    expect(run('{{ (print "y" | ) }}')).toBe('y');
  });
});

describe('.Files.AsConfig / AsSecrets of a Glob that matches nothing', () => {
  // Helm's Files is a map made by newFiles, never nil, so AsConfig is toYaml of an empty map: "{}"
  // (opentelemetry-demo globs *.yaml where its files are *.yml and gets `data: {}`).
  it('is {}', async () => {
    const dir = await writeChart(path.join(tmp, 'glob-empty'), {
      chart: { name: 'g', version: '1.0.0' },
      files: {
        'conf/a.yml': 'x: 1\n',
        'templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  {{ (.Files.Glob "conf/*.yaml").AsConfig | nindent 2 }}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  {{ (.Files.Glob "none/*").AsSecrets | nindent 2 }}\n',
      },
    });
    const out = formatRendered(renderChart(await loadChart(dir, { allFiles: true })));
    expect(out).toContain('name: c\ndata:\n  \n  {}\n');
    expect(out).toContain('name: s\ndata:\n  \n  {}\n');
  });
});

describe('semverCompare with a partial version and a prerelease', () => {
  // Masterminds: ^1.22-0 is >=1.22.0-0 <2.0.0, ~1.22-0 is >=1.22.0-0 <1.23.0, ^0.22-0 is <0.23.0,
  // ~1-0 is <2.0.0. datadog's `semverCompare "^1.22-0" .Capabilities.KubeVersion.GitVersion`
  // decides whether its node-local Service is rendered.
  it('follows Masterminds caret and tilde bounds', () => {
    expect(semverCompare('^1.22-0', 'v1.29.0')).toBe(true);
    expect(semverCompare('^1.22-0', 'v1.21.9')).toBe(false);
    expect(semverCompare('^1.22-0', 'v2.0.0')).toBe(false);
    expect(semverCompare('~1.22-0', 'v1.22.5-eks.1')).toBe(true);
    expect(semverCompare('~1.22-0', 'v1.29.0')).toBe(false);
    expect(semverCompare('^0.22-0', '0.22.1')).toBe(true);
    expect(semverCompare('^0.22-0', '0.23.0')).toBe(false);
    expect(semverCompare('~1-0', '1.9.0')).toBe(true);
    expect(semverCompare('^1-0', '1.29.0')).toBe(true);
  });
});

describe('a YAML stream of several documents as values or fromYaml input', () => {
  // Helm reads values files and fromYaml input with sigs.k8s.io/yaml, i.e. go-yaml v2's Unmarshal,
  // which decodes the first document and ignores the rest (kyverno's ci/openreports-values.yaml is
  // four documents; helm template -f uses the first).
  it('uses the first document', async () => {
    const dir = await writeChart(path.join(tmp, 'multi-doc'), {
      chart: { name: 'm', version: '1.0.0' },
      values: 'who: default\n',
      files: { 'templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\ndata:\n  who: {{ .Values.who }}\n  from: {{ (fromYaml "x: one\\n---\\nx: two\\n").x }}\n' },
    });
    const r = renderChart(await loadChart(dir, { allFiles: true }), { values: [{ name: 'v.yaml', data: 'who: first\n---\nwho: second\n' }] });
    expect(formatRendered(r)).toBe('---\n# Source: m/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\ndata:\n  who: first\n  from: one\n');
  });

  it('is what ferry charts images -f reads too (discovery values)', () => {
    expect(userValues('image:\n  tag: v9\n---\nimage:\n  tag: v8\n', 'v.yaml').values).toEqual({ image: { tag: 'v9' } });
    expect(() => userValues('a: [\n', 'bad.yaml')).toThrow(/not valid YAML/);
  });
});
