/**
 * A chart's values are outside data, and `__proto__` is a key like any other to Helm (go-yaml
 * makes it a map key). ferry copied values with `out[k] = v`, which for `__proto__` sets the
 * copy's prototype instead: the map stopped being a map to the renderer (`can't evaluate field
 * image in type map[string]interface {}` where Helm renders), and `app.image` was found through
 * the prototype by the values walk, which no template reads.
 */
import { describe, expect, it } from 'vitest';
import { discoverChartImages } from '../../../src/kinds/chart/discover/index.js';
import { renderChart } from '../../../src/kinds/chart/render/index.js';
import { scratchCharts } from './helpers.js';

const chartWith = scratchCharts('ferry-proto-keys-');

const podOnly = `apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n    - name: c\n      image: {{ .Values.app.image | default "good.example/y:2" }}\n`;
const pod = `apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n    - name: c\n      image: {{ .Values.app.image | default "good.example/y:2" }}\n      args: [{{ index .Values.app "__proto__" "image" | quote }}, {{ .Values.app.name | quote }}]\n`;

describe('a values key named __proto__ is data', () => {
  for (const values of ['app:\n  __proto__:\n    image: evil.example/x:1\n  name: a\n', 'app:\n  name: a\n  __proto__:\n    image: evil.example/x:1\n']) {
    it(`renders as Helm does (${JSON.stringify(values.split('\n')[1])} first)`, async () => {
      const chart = await chartWith({ 'templates/pod.yaml': pod }, values);
      const doc = renderChart(chart).documents.find((d) => d.kind === 'Pod')!;
      const c = (doc.object as { spec: { containers: Array<{ image: string; args: string[] }> } }).spec.containers[0];
      expect(c.image).toBe('good.example/y:2');
      expect(c.args).toEqual(['evil.example/x:1', 'a']);
    });

    it(`discovers the deployed image, and the unread key only as possible (${JSON.stringify(values.split('\n')[1])} first)`, async () => {
      const chart = await chartWith({ 'templates/pod.yaml': podOnly }, values);
      const found = discoverChartImages(chart);
      expect(found.images.filter((i) => i.certainty === 'certain').map((i) => i.ref)).toEqual(['good.example/y:2']);
      const evil = found.images.find((i) => i.ref === 'evil.example/x:1');
      expect(evil?.certainty).toBe('possible');
      expect(evil?.sources.map((s) => s.valuesPath)).toContain('app.__proto__.image');
    });
  }

  it('a user values file that overrides under __proto__ merges as a key', async () => {
    const chart = await chartWith({ 'templates/pod.yaml': podOnly }, 'app:\n  name: a\n');
    const found = discoverChartImages(chart, { values: [{ name: 'site.yaml', values: { app: JSON.parse('{"__proto__": {"image": "evil.example/x:1"}}') } }] } as never);
    expect(found.images.filter((i) => i.certainty === 'certain').map((i) => i.ref)).toEqual(['good.example/y:2']);
  });
});
