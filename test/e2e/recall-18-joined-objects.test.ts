import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

/**
 * recall18: Istio's charts installed through Kubernetes objects, as istio.io, Argo CD, Flux and k3s
 * document them: an Argo CD Application's `helm.valuesObject`, a Flux HelmRelease's `spec.values`,
 * an IstioOperator's `spec.values` (istioctl), a k3s HelmChart's `valuesContent`: `global.hub` +
 * a bare `image` name + `global.tag` is one image. And the istiod chart's own values.yaml, whose
 * defaults (`global` too) sit under `_internal_defaults_do_not_set` (the chart lifts them to the top).
 */
const FILES: Record<string, string> = {
  'gitops/istio.yaml': [
    'apiVersion: argoproj.io/v1alpha1', // 1
    'kind: Application',
    'metadata:',
    '  name: istiod',
    '  namespace: argocd', // 5
    'spec:',
    '  project: default',
    '  source:',
    '    chart: istiod',
    '    repoURL: https://istio-release.storage.googleapis.com/charts', // 10
    '    targetRevision: 1.27.1',
    '    helm:',
    '      valuesObject:',
    '        global:',
    '          hub: docker.io/istio', // 15
    '          tag: 1.27.1',
    '          proxy:',
    '            image: proxyv2',
    '        pilot:',
    '          image: pilot', // 20
    '  destination:',
    '    server: https://kubernetes.default.svc',
    '    namespace: istio-system',
    '---',
    'apiVersion: helm.toolkit.fluxcd.io/v2', // 25
    'kind: HelmRelease',
    'metadata:',
    '  name: istio-cni',
    '  namespace: istio-system',
    'spec:', // 30
    '  interval: 10m',
    '  chart:',
    '    spec:',
    '      chart: cni',
    '      sourceRef:', // 35
    '        kind: HelmRepository',
    '        name: istio',
    '  values:',
    '    global:',
    '      hub: gcr.io/istio-release', // 40
    '      tag: 1.27.1',
    '    cni:',
    '      image: install-cni',
    '---',
    'apiVersion: install.istio.io/v1alpha1', // 45
    'kind: IstioOperator',
    'metadata:',
    '  name: control-plane',
    'spec:',
    '  profile: minimal', // 50
    '  values:',
    '    global:',
    '      hub: quay.io/site-istio',
    '      tag: 1.26.4',
    '    pilot:', // 55
    '      image: pilot',
    '---',
    'apiVersion: helm.cattle.io/v1',
    'kind: HelmChart',
    'metadata:', // 60
    '  name: ztunnel',
    '  namespace: kube-system',
    'spec:',
    '  repo: https://istio-release.storage.googleapis.com/charts',
    '  chart: ztunnel', // 65
    '  version: 1.27.1',
    '  valuesContent: |-',
    '    hub: docker.io/istio',
    '    tag: 1.27.1',
    '    image: ztunnel', // 70
    '',
  ].join('\n'),
  'charts/istiod/values.yaml': [
    '_internal_defaults_do_not_set:', // 1
    '  autoscaleEnabled: true',
    '  hub: ""',
    '  tag: ""',
    '  variant: ""', // 5
    '  image: pilot',
    '  global:',
    '    hub: docker.io/istio',
    '    tag: 1.27.1',
    '    proxy:', // 10
    '      image: proxyv2',
    '',
  ].join('\n'),
};

describe('recall18: bare image names joined to the hub and tag in Kubernetes objects and under a lifted global', () => {
  const repo = auditedRepo('ferry-recall18-joined-', FILES, MANIFEST, NESTED_SITE_TARGET);
  const f = 'repo/gitops/istio.yaml';

  it('an Argo CD Application valuesObject: global.hub + pilot.image + global.tag, the proxy the same, the hub no host of its own', () => {
    expect(repo.one(f, 20)).toMatchObject({ kind: 'image', value: 'docker.io/istio/pilot:1.27.1', keyPath: 'spec.source.helm.valuesObject.pilot.image' });
    expect(repo.one(f, 18)).toMatchObject({ kind: 'image', value: 'docker.io/istio/proxyv2:1.27.1' });
    expect(repo.at(f, 15)).toEqual([]);
    expect(repo.findings.filter((x) => x.value === 'pilot' || x.value.includes('library/pilot') || x.value.includes('library/proxyv2'))).toEqual([]);
  });

  it('a Flux HelmRelease spec.values and an IstioOperator spec.values', () => {
    expect(repo.one(f, 43)).toMatchObject({ kind: 'image', value: 'gcr.io/istio-release/install-cni:1.27.1', keyPath: 'spec.values.cni.image' });
    expect(repo.one(f, 56)).toMatchObject({ kind: 'image', value: 'quay.io/site-istio/pilot:1.26.4', keyPath: 'spec.values.pilot.image' });
    expect(repo.at(f, 40)).toEqual([]);
  });

  it('a k3s HelmChart valuesContent', () => {
    expect(repo.one(f, 70)).toMatchObject({ kind: 'image', value: 'docker.io/istio/ztunnel:1.27.1', keyPath: 'spec.valuesContent.image' });
  });

  it("the chart's own values: a global under _internal_defaults_do_not_set", () => {
    const v = 'repo/charts/istiod/values.yaml';
    expect(repo.one(v, 6)).toMatchObject({ kind: 'image', value: 'docker.io/istio/pilot:1.27.1' });
    expect(repo.one(v, 11)).toMatchObject({ kind: 'image', value: 'docker.io/istio/proxyv2:1.27.1' });
    expect(repo.at(v, 8)).toEqual([]);
  });
});
