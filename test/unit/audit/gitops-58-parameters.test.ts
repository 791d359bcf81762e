import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { gitopsReleasesOf } from '../../../src/audit/gitops-releases.js';

const argo = (params: string[], name = 'web') => {
  const doc = parseDocument(
    `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: { name: ${name} }\nspec:\n  destination: { namespace: site }\n  source:\n    repoURL: https://charts.example.com\n    chart: web\n    targetRevision: 1.0.0\n    helm:\n      parameters:\n${params.map((p) => `        - ${p}\n`).join('')}`,
  );
  return gitopsReleasesOf(doc.contents, doc)[0];
};

describe('gitops58: Argo CD parameters as its repo-server passes them to helm', () => {
  it('one --set per name, the last value of a name kept (Argo CD keeps them in a map); forceString ones apart', () => {
    const r = argo(['{ name: a, value: "1" }', '{ name: b, value: "2", forceString: true }', '{ name: a, value: "3" }', '{ name: b, value: "4" }']);
    expect(r.set).toEqual(['a=3', 'b=4']);
    expect(r.setString).toEqual(['b=2']);
    expect(r.unknown).toEqual([]);
  });

  it('commas are escaped unless the value is a {list}, as cleanSetParameters does', () => {
    const r = argo(['{ name: a, value: "x,y" }', '{ name: b, value: "{x,y}" }', '{ name: c, value: "x\\\\,y" }']);
    expect(r.set).toEqual(['a=x\\,y', 'b={x,y}', 'c=x\\,y']);
  });

  it('the build environment: the Application name and namespace filled in, $$ is $, any other variable named as unknown', () => {
    const r = argo(['{ name: a, value: "$ARGOCD_APP_NAME-${ARGOCD_APP_NAMESPACE}" }', '{ name: b, value: "$$HOME" }', '{ name: c, value: "v-$ARGOCD_APP_REVISION" }'], 'shop');
    expect(r.set).toEqual(['a=shop-site', 'b=$HOME', 'c=v-$ARGOCD_APP_REVISION']);
    expect(r.unknown.join('\n')).toMatch(/parameters c: \$ARGOCD_APP_REVISION is filled in from Argo CD's build environment/);
  });

  it('names that set inside one another are passed in no fixed order: said as unknown', () => {
    const r = argo(['{ name: image.tag, value: "2" }', '{ name: image, value: "null" }']);
    expect(r.unknown.join('\n')).toMatch(/parameters image and image\.tag both set image\.tag: Argo CD passes a source's --set parameters in no fixed order/);
    expect(argo(['{ name: image.tag, value: "2" }', '{ name: image, value: "x", forceString: true }']).unknown).toEqual([]);
  });
});
