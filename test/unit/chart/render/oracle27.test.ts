import { describe, expect, it } from 'vitest';
import { scratchRawRender } from './run-template.js';

// Twenty-seventh pass (Rancher's charts, Kubernetes SIGs' CSI drivers, KEDA, kured, W&B, Posit, …):
// a parenthesized pipeline's nil result is Go's invalid value, since evalPipeline unwraps each
// command's interface {} result, whatever the last argument evaluated inside the pipeline was. W&B's
// operator-wandb merges `(pluck "labels" (default (dict) .Values.common) | first)` into its labels:
// with no `common` that is a nil map for merge, and Helm renders; ferry had kept the nil interface {}
// of `.Values.common`, the last argument it read, and refused every render of the chart.

const render = scratchRawRender('oracle27-', { located: true });
const at = (node: string, col: number) => `ERR template: c/templates/t.yaml:1:${col}: executing "c/templates/t.yaml" at <${node}>: `;

describe('a parenthesized pipeline whose last argument was a map lookup', () => {
  it('gives merge a nil map when it ends in nil (first of an empty pluck)', async () => {
    const labels =
      '{{ define "labels" }}{{ $l := merge (pluck "labels" (default (dict) .Values.common) | first) .Values.global.labels }}{{ range $k, $v := $l }}{{ $k }}={{ $v }};{{ end }}{{ end }}{{ include "labels" . }}';
    expect(await render(labels, 'global:\n  labels: {team: x}\n')).toBe('team=x;');
    expect(await render(labels, 'common:\n  labels: {app: z}\nglobal:\n  labels: {team: x}\n')).toBe('app=z;team=x;');
    expect(await render('{{ merge (default (dict) .Values.nope | pluck "k" | first) (dict "a" 1) }}')).toBe('map[a:1]');
  });
  it('is an invalid value, not an interface {}, for a string parameter', async () => {
    expect(await render('{{ upper (pluck "k" (default (dict) .Values.nope) | first) }}')).toBe(`${at('first', 52)}invalid value; expected string`);
    expect(await render('{{ upper (default (dict) .Values.nope | pluck "k" | first) }}')).toBe(`${at('first', 52)}invalid value; expected string`);
    expect(await render('{{ upper (.Values.nope | default nil) }}')).toBe(`${at('nil', 33)}invalid value; expected string`);
    // the map lookup itself, unparenthesized, is still a nil interface {}
    expect(await render('{{ upper .Values.nope }}')).toBe(`${at('.Values.nope', 16)}wrong type for value; expected string; got interface {}`);
  });
});
