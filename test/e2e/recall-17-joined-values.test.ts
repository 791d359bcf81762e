import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

/**
 * A site's values for Istio's charts as istio.io documents them (`helm install istiod istio/istiod
 * -f values.yaml`, `istio/cni`): `global.hub` + `global.tag`, a component's `image` a bare name
 * the chart joins as `{{ .Values.hub | default .Values.global.hub }}/{{ .Values.image }}:{{ .Values.tag
 * | default .Values.global.tag }}`, in the file's own keys (not inside a string).
 */
const FILES: Record<string, string> = {
  'istio/istiod-values.yaml': [
    'global:', // 1
    '  hub: docker.io/istio',
    '  tag: 1.27.1',
    '  proxy:',
    '    image: proxyv2', // 5
    'pilot:',
    '  hub: ""',
    '  tag: ""',
    '  image: pilot',
    '  extraContainers:', // 10
    '    - name: debug',
    '      image: busybox:1.36',
    '',
  ].join('\n'),
  'istio/cni-values.yaml': [
    'global:', // 1
    '  hub: docker.io/istio',
    '  tag: 1.27.1',
    'cni:',
    '  hub: gcr.io/istio-release', // 5
    '  tag: 1.26.0',
    '  image: install-cni',
    '',
  ].join('\n'),
  'istio/ztunnel-values.yaml': [
    'hub: quay.io/site-istio', // 1
    'image: ztunnel',
    '',
  ].join('\n'),
};

describe('recall17: a values file joins a bare image name to the hub and tag around it', () => {
  const repo = auditedRepo('ferry-recall17-joined-', FILES, MANIFEST, NESTED_SITE_TARGET);

  it('global.hub + pilot.image + global.tag (pilot.tag empty) is docker.io/istio/pilot:1.27.1, the proxy the same, and the hub no host of its own', () => {
    const f = 'repo/istio/istiod-values.yaml';
    expect(repo.one(f, 9)).toMatchObject({ kind: 'image', value: 'docker.io/istio/pilot:1.27.1', keyPath: 'pilot.image' });
    expect(repo.one(f, 5)).toMatchObject({ kind: 'image', value: 'docker.io/istio/proxyv2:1.27.1', keyPath: 'global.proxy.image' });
    expect(repo.at(f, 2)).toEqual([]);
    expect(repo.findings.filter((x) => x.value.includes('library/pilot') || x.value === 'pilot')).toEqual([]);
    // A container in a list is pulled as written, never joined to the hub.
    expect(repo.one(f, 12).value).toBe('busybox:1.36');
  });

  it("a component's own hub and tag are nearer than global's", () => {
    expect(repo.one('repo/istio/cni-values.yaml', 7)).toMatchObject({ kind: 'image', value: 'gcr.io/istio-release/install-cni:1.26.0', host: 'gcr.io' });
    expect(repo.findings.filter((x) => x.file === 'repo/istio/cni-values.yaml' && x.value.includes('install-cni:1.26.0') && !x.value.startsWith('gcr.io/'))).toEqual([]);
  });

  it('with no tag anywhere the image is reported without one and the tag said unknown', () => {
    const z = repo.one('repo/istio/ztunnel-values.yaml', 2);
    expect(z).toMatchObject({ kind: 'image', value: 'quay.io/site-istio/ztunnel', host: 'quay.io' });
    expect(z.note).toContain('no tag around it');
  });
});
