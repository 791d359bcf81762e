import { describe, expect, it } from 'vitest';
import { renderChart } from '../../../../src/kinds/chart/render/index.js';
import { refuses, scratchCharts } from '../helpers.js';

// Eighth pass of real charts against the independent Go renderer (SigNoz, kubescape, kubeshop
// testkube, Trino, community-charts, Unleash, Dragonfly, ownCloud oCIS, NVIDIA, Harvester,
// RocketChat, grafana k8s-monitoring, OpenFGA, PostHog, Karpenter, Antrea, flannel, Kube-OVN).
// Each expectation is what the oracle (Go's text/template, Helm 3.14's behaviour) gives.

const chartWith = scratchCharts('ferry-oracle8-');

/** A chart with one ConfigMap template whose data line `b:` is `action`. */
const withAction = (action: string) =>
  chartWith({ 'templates/cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  b: ${action}\n` }, 'a: 1\nx: [5, 6]\n');

/** The ConfigMap's `b`. */
async function rendered(action: string): Promise<unknown> {
  const r = renderChart(await withAction(action));
  return (r.documents.find((d) => d.kind === 'ConfigMap')!.object as { data: { b: unknown } }).data.b;
}

describe("a field, variable or word ends only where Go's lexer lets it end", () => {
  // signoz-otel-gateway writes `{{ .Values.signoz-otel-gateway.strategy }}`. Go's lexer ends a
  // field only at a space, `.`, `,`, `|`, `:`, a paren or `}}`; anything else is
  // `bad character U+002D '-'`. ferry read `-otel` as a number (`bad number syntax`).
  it('refuses a hyphen after a field as a bad character', async () => {
    refuses(await withAction('{{ .Values.signoz-otel-gateway.strategy }}'), /parse error at \(c1\/templates\/cm\.yaml:6\): bad character U\+002D '-'$/);
  });

  // `$x=1` without spaces is no assignment in Go: `=` cannot end the variable. ferry assigned.
  it('refuses $x=1 written without spaces, which ferry rendered', async () => {
    refuses(await withAction('{{ $x := 0 }}{{ $x=1 }}{{ $x }}'), /bad character U\+003D '='$/);
  });

  it('refuses a word or a field run into a string', async () => {
    refuses(await withAction('{{ include"x" . }}'), /bad character U\+0022 '"'$/);
    refuses(await withAction('{{ ."a" }}'), /bad character U\+0022 '"'$/);
    refuses(await withAction('{{ true"x" }}'), /bad character U\+0022 '"'$/);
  });

  it('names a character outside the BMP by its code point', async () => {
    refuses(await withAction('{{ .Values.a😀 }}'), /bad character U\+1F600 '😀'$/);
  });

  it('still takes every terminator Go takes', async () => {
    expect(await rendered("'{{ .Values.a}}{{.Values.a -}} {{(.Values.a)}}{{ $x := 1 }}{{$x}}{{ .Values.a|quote }}{{- range $i,$v := .Values.x }}{{$i}}{{end}}'")).toBe('1111"1"01');
    expect(await rendered("'{{ $x:=2 }}{{$x}}{{ $x = 3 }}{{ $x }}{{ if true}}{{else}}{{end}}{{ $.Values.a}}{{ .Values.a\t}}'")).toBe('2311');
    expect(await rendered("'{{ printf \"%v\" (index .Values.x 0) }}'")).toBe('5');
  });
});
