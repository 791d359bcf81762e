import { describe, expect, it } from 'vitest';
import { renderChart } from '../../../../src/kinds/chart/render/index.js';
import { refuses, scratchCharts } from '../helpers.js';

// Seventh pass of real charts against the independent Go renderer (JFrog, Camunda, Sourcegraph,
// Sysdig, KubeSphere, authentik, NetBox, Mastodon, Pomerium, Bitwarden, Contour, TimescaleDB,
// Karmada, KubeVela, Emissary and others). Each expectation is what the oracle (Helm 3.14's
// behaviour) gives.

const chartWith = scratchCharts('ferry-oracle7-');

const HELPERS = [
  '{{- define "x" -}}',
  '{{ required "need v" .Values.v }}',
  '{{- end -}}',
  '{{- define "y" -}}',
  'a: {{ include "x" . }}',
  '{{- end -}}',
  '',
].join('\n');

/** A chart whose values leave `v` empty, with the helpers above and `files`. */
const needsV = (files: Record<string, string>) => chartWith({ 'templates/_h.tpl': HELPERS, ...files }, 'v: ""\n');

/** The message rendering fails with. */
function messageOf(chart: Awaited<ReturnType<typeof chartWith>>): string {
  try {
    renderChart(chart);
  } catch (e) {
    return (e as Error).message;
  }
  return '';
}

describe('an error inside include or tpl is located at the template being rendered', () => {
  // sysdig's `A valid accessKey is required`, mastodon's `secret_key_base is required`, bitnami
  // postgresql's TLS check and others fail in a define reached through include. Go wraps the
  // inner error in the caller's (`error calling include: …`), so Helm's message is
  // `execution error at (c/templates/a.yaml:…)`, the file rendered; ferry named the define
  // (`execution error at (x:2)`), which is no file a user can open.
  it('names the outermost file for required through two includes', async () => {
    const chart = await needsV({ 'templates/a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include "y" . }}\n' });
    refuses(chart, /execution error at \(c1\/templates\/a\.yaml:4:11\): need v$/);
  });

  it('names the outermost file for required reached through tpl', async () => {
    const chart = await needsV({ 'templates/sub/b.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  b: {{ tpl "{{ include \\"x\\" . }}" . }}\n' });
    refuses(chart, /execution error at \(c2\/templates\/sub\/b\.yaml:6:8\): need v$/);
  });

  it('starts any other error at the outermost template, then the file of the define that failed', async () => {
    const chart = await chartWith({
      'templates/_h.tpl': '{{- define "deep" -}}{{ .Values.a.b.c }}{{- end -}}\n',
      'templates/a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    l: {{ include "deep" . }}\n',
    });
    const msg = messageOf(chart);
    expect(msg).toMatch(/template: c3\/templates\/a\.yaml:6:10: executing "c3\/templates\/a\.yaml" at <include "deep" \.>: error calling include: template: c3\/templates\/_h\.tpl:1:31: executing "deep" at <\.Values\.a\.b\.c>: nil pointer evaluating interface \{\}\.b/);
  });

  // radondb-postgresql calls its TLS check with the template action: Go runs the define in its own
  // state, whose location is the file the define was parsed from (Go's ParseName), not its name.
  it('names the file of the define for required run by the template action', async () => {
    const chart = await needsV({ 'templates/a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ template "x" . }}\n' });
    refuses(chart, /execution error at \(c4\/templates\/_h\.tpl:2:3\): need v$/);
  });

  it('keeps a bound message (template depth) as it is, not wrapped once per include', async () => {
    const chart = await chartWith({
      'templates/_h.tpl': '{{- define "loop" -}}{{ include "loop" . }}{{- end -}}\n',
      'templates/a.yaml': '{{ include "loop" . }}\n',
    });
    const msg = messageOf(chart);
    expect(msg).toMatch(/exceeded maximum template depth \(200\)/);
    expect(msg.split('error calling include').length).toBeLessThan(3);
  });
});
