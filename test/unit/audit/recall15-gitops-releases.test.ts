import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { gitopsReleasesOf, valuesSourceOf } from '../../../src/audit/gitops-releases.js';

const releasesOf = (text: string) => {
  const doc = parseDocument(text);
  return gitopsReleasesOf(doc.contents, doc);
};

describe('recall15: the values a GitOps object installs its chart with', () => {
  it('Argo CD: valueFiles, then valuesObject (values unused beside it), then parameters; aliases resolved', () => {
    const [r] = releasesOf(
      'apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: { name: web }\nbase: &b { enabled: true }\nspec:\n  destination: { namespace: web }\n  source:\n    repoURL: https://charts.example.com\n    chart: web\n    targetRevision: 1.0.0\n    helm:\n      valueFiles: [values-prod.yaml, $vals/web.yaml]\n      values: "a: 1"\n      valuesObject: { sidecar: *b }\n      parameters:\n        - { name: image.tag, value: "2" }\n        - { name: image.pin, value: "007", forceString: true }\n',
    );
    expect(r.releaseName).toBe('web');
    expect(r.namespace).toBe('web');
    expect(r.steps.map((s) => s.name)).toEqual(['spec.source.helm.valueFiles[0] values-prod.yaml', 'spec.source.helm.valuesObject']);
    expect(r.steps[1]).toMatchObject({ text: '{"sidecar":{"enabled":true}}' });
    expect(r.set).toEqual(['image.tag=2']);
    expect(r.setString).toEqual(['image.pin=007']);
    expect(r.unknown.join('\n')).toContain('$vals/web.yaml');
    expect(r.unknown.join('\n')).toContain('values is not used');
  });

  it('an alias bomb in spec.values is refused as unknown, not expanded', () => {
    const [r] = releasesOf(
      'apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: { name: x, namespace: ns }\na: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nspec:\n  chartRef: { kind: OCIRepository, name: x }\n  values: { x: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c] }\n',
    );
    expect(r.steps).toEqual([]);
    expect(r.unknown[0]).toMatch(/^spec\.values not read \(.*alias/i);
  });

  it('a Secret for valuesFrom: data decoded, a SOPS one marked, keys kept in a Map (no prototype keys)', () => {
    const doc = parseDocument('apiVersion: v1\nkind: Secret\nmetadata: { name: s }\ndata:\n  values.yaml: ' + Buffer.from('a: 1\n').toString('base64') + '\n  constructor: eA==\nsops: { version: 3 }\n');
    const v = valuesSourceOf(doc.contents, 'f.yaml')!;
    expect(v.data.get('values.yaml')).toBe('a: 1\n');
    expect(v.data.has('toString')).toBe(false);
    expect(v.sops).toBe(true);
  });
});
