import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { helmChartObjectOf } from '../../../src/audit/chart-sources.js';

/**
 * A k3s/RKE2 HelmChart's `spec.values` is read as helm-controller reads it: YAML aliases resolved
 * through the document. Without the document, `*base` came out as the alias's own fields
 * (`{source: base}`), so the chart was rendered with values nobody wrote; an alias bomb is not
 * expanded but said.
 */
describe('HelmChart spec.values with YAML aliases', () => {
  const chartDoc = (values: string) =>
    parseAllDocuments(`defaults: &img\n  repository: registry.example.com/team/app\n  tag: "1.2"\n---\napiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: { name: app, namespace: kube-system }\nspec:\n  repo: https://charts.example.com\n  chart: app\n  version: 1.0.0\n  values:\n${values}`);

  it('an alias to an anchor elsewhere in the file is its value', () => {
    const docs = parseAllDocuments('apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: { name: app }\nspec:\n  chart: app\n  values:\n    base: &img\n      repository: registry.example.com/team/app\n      tag: "1.2"\n    image: *img\n');
    const h = helmChartObjectOf(docs[0].contents, docs[0]);
    expect(h?.values).toEqual({ base: { repository: 'registry.example.com/team/app', tag: '1.2' }, image: { repository: 'registry.example.com/team/app', tag: '1.2' } });
    expect(h?.valuesError).toBeUndefined();
  });

  it('an alias bomb is not expanded: the values are said unread', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)];
    const docs = parseAllDocuments(`apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: { name: app }\nspec:\n  chart: app\n  values:\n${bomb.map((l) => `    ${l}`).join('\n')}\n`);
    const h = helmChartObjectOf(docs[0].contents, docs[0]);
    expect(h?.values).toBeUndefined();
    expect(h?.valuesError).toMatch(/alias/i);
  });

  it('a HelmChart document without aliases reads as before', () => {
    const docs = chartDoc('    image:\n      repository: registry.example.com/team/app\n');
    const h = helmChartObjectOf(docs[1].contents, docs[1]);
    expect(h?.values).toEqual({ image: { repository: 'registry.example.com/team/app' } });
  });
});
