import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport, Finding } from '../../src/audit/audit.js';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { offlineWork } from '../support/offline-lock.js';

/**
 * recall13: a bare image name joined to the hub and tag around it, read from Istio's rendered
 * manifests (excerpts written from istio/istio, manifests/charts at 86c9f01f):
 * - istio-control/istio-discovery/templates/istiod-injector-configmap.yaml: the
 *   `istio-sidecar-injector` ConfigMap, `data.values` the picked values as toPrettyJson
 *   (`global.hub`, `global.tag`, `global.proxy.image: proxyv2`, `global.proxy_init.image: proxyv2`,
 *   values.yaml), `data.config` the injection templates writing `{{ .ProxyImage }}`;
 * - istio-control/istio-discovery/templates/configmap-values.yaml: the `values` ConfigMap's
 *   `merged-values` (istiod's own `image: pilot` at the top, its `hub`/`tag` empty, so the chart's
 *   `{{ .Values.hub | default .Values.global.hub }}` takes global's);
 * - istio-cni/templates/daemonset.yaml and ztunnel/templates/daemonset.yaml: the rendered image fields.
 */
const MIRROR = 'registry.site.internal/ferry';
const LOCKED = ['docker.io/istio/proxyv2:1.27.1', 'docker.io/istio/install-cni:1.27.1', 'docker.io/istio/ztunnel:1.27.1'];

const values = (hub: string, tag: string) => [
  '    {',
  '      "gateways": {',
  '        "seccompProfile": {},',
  '        "securityContext": {}',
  '      },',
  '      "global": {',
  '        "caAddress": "",',
  `        "hub": "${hub}",`,
  '        "imagePullPolicy": "",',
  '        "imagePullSecrets": [],',
  '        "proxy": {',
  '          "autoInject": "enabled",',
  '          "image": "proxyv2",',
  '          "statusPort": 15020',
  '        },',
  '        "proxy_init": {',
  '          "forceApplyIptables": false,',
  '          "image": "proxyv2"',
  '        },',
  `        "tag": "${tag}",`,
  '        "variant": ""',
  '      },',
  '      "pilot": {',
  '        "cni": {',
  '          "enabled": false',
  '        },',
  '        "env": {}',
  '      },',
  '      "revision": ""',
  '    }',
];

const injector = (name: string, hub: string, tag: string) =>
  [
    'apiVersion: v1', // 1
    'kind: ConfigMap',
    'metadata:',
    `  name: ${name}`,
    '  namespace: "istio-system"', // 5
    '  labels:',
    '    istio.io/rev: "default"',
    '    operator.istio.io/component: "Pilot"',
    'data:',
    '  values: |-', // 10
    ...values(hub, tag), // 11-40: hub at 18, proxy.image at 23, proxy_init.image at 28, tag at 30
    '',
    '  config: |-',
    '    defaultTemplates: [sidecar]',
    '    policy: enabled',
    '    templates:',
    '      sidecar: |',
    '        spec:',
    '          initContainers:',
    '          - name: istio-init',
    '            image: "{{ .ProxyInitImage }}"',
    '          containers:',
    '          - name: istio-proxy',
    '            image: "{{ .ProxyImage }}"',
    '',
  ].join('\n');

const INJECTOR = injector('istio-sidecar-injector', 'docker.io/istio', '1.27.1');
/** A revision whose values leave the tag empty: the name has a hub and no tag. */
const NO_TAG = injector('istio-sidecar-injector-canary', 'docker.io/istio', '');

const MERGED = [
  'apiVersion: v1', // 1
  'kind: ConfigMap',
  'metadata:',
  '  name: values',
  '  namespace: "istio-system"', // 5
  'data:',
  '  merged-values: |-',
  '    {',
  '      "hub": "",',
  '      "image": "pilot",', // 10
  '      "tag": "",',
  '      "global": {',
  '        "hub": "docker.io/istio",',
  '        "proxy": { "image": "proxyv2" },',
  '        "tag": "1.27.1"', // 15
  '      }',
  '    }',
  '',
].join('\n');

const DAEMONSETS = [
  'apiVersion: apps/v1', // 1
  'kind: DaemonSet',
  'metadata:',
  '  name: istio-cni-node',
  'spec:', // 5
  '  template:',
  '    spec:',
  '      containers:',
  '        - name: install-cni',
  '          image: "docker.io/istio/install-cni:1.27.1"', // 10
  '---',
  'apiVersion: apps/v1',
  'kind: DaemonSet',
  'metadata:',
  '  name: ztunnel', // 15
  'spec:',
  '  template:',
  '    spec:',
  '      containers:',
  '      - name: istio-proxy', // 20
  '        image: "docker.io/istio/ztunnel:1.27.1"',
  '',
].join('\n');

const FILES = { 'injector.yaml': INJECTOR, 'canary.yaml': NO_TAG, 'values.yaml': MERGED, 'daemonsets.yaml': DAEMONSETS };

let work = '';
beforeAll(async () => {
  work = await offlineWork('ferry-recall13-istio-', LOCKED);
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const at = (f: Finding[], file: string) =>
  f
    .filter((x) => x.file === file && (x.kind === 'image' || x.kind === 'host'))
    .map((x) => `${x.line} ${x.kind} ${x.value}`)
    .sort();

describe('recall13: Istio image names joined to the hub and tag around them', () => {
  it('audit: hub + name + tag is one image at the name, the hub no host of its own; a missing tag is said unknown', async () => {
    await writeTree(path.join(work, 'audit'), FILES);
    const r = await runFerry(['audit', 'audit', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const f = (JSON.parse(r.stdout) as AuditReport).findings;
    expect(at(f, 'audit/injector.yaml')).toEqual(['23 image docker.io/istio/proxyv2:1.27.1', '28 image docker.io/istio/proxyv2:1.27.1']);
    expect(f.filter((x) => x.file === 'audit/injector.yaml' && x.kind === 'image').map((x) => x.class)).toEqual(['mirrored', 'mirrored']);
    expect(at(f, 'audit/values.yaml')).toEqual(['10 image docker.io/istio/pilot:1.27.1', '14 image docker.io/istio/proxyv2:1.27.1']);
    expect(f.find((x) => x.file === 'audit/values.yaml' && x.line === 10)?.class).toBe('undeclared');
    // No tag anywhere around the name: the image is named without one, and the note says the tag is unknown.
    expect(at(f, 'audit/canary.yaml')).toEqual(['23 image docker.io/istio/proxyv2', '28 image docker.io/istio/proxyv2']);
    expect(f.find((x) => x.file === 'audit/canary.yaml' && x.line === 23)?.note).toContain('with no tag around it: the program picks the tag, unknown here');
    expect(at(f, 'audit/daemonsets.yaml')).toEqual(['10 image docker.io/istio/install-cni:1.27.1', '21 image docker.io/istio/ztunnel:1.27.1']);
  }, 60_000);

  it('rewrite manifests: the hub moves when every image joined to it is carried, else stays and names what is missing; never library/proxyv2', async () => {
    await writeTree(path.join(work, 'rw'), FILES);
    const r = await runFerry(['rewrite', 'manifests', 'rw', '-t', 't.yaml', '--lock', 'm.lock.json', '--allow-unmapped', '--json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(path.join(work, 'rw/injector.yaml'), 'utf8')).toBe(INJECTOR.replace('"hub": "docker.io/istio"', `"hub": "${MIRROR}/docker.io/istio"`));
    expect(await readFile(path.join(work, 'rw/values.yaml'), 'utf8')).toBe(MERGED);
    expect(await readFile(path.join(work, 'rw/canary.yaml'), 'utf8')).toBe(NO_TAG);
    expect(await readFile(path.join(work, 'rw/daemonsets.yaml'), 'utf8')).toBe(DAEMONSETS.replace(/"docker\.io\/istio\//g, `"${MIRROR}/docker.io/istio/`));
    const out = JSON.parse(r.stdout) as { unmapped: Array<{ file: string; line: number; ref: string; reason: string }> };
    const missing = out.unmapped.map((u) => `${path.basename(u.file)}:${u.line} ${u.ref}`).sort();
    expect(missing).toEqual(['canary.yaml:23 docker.io/istio/proxyv2', 'canary.yaml:28 docker.io/istio/proxyv2', 'values.yaml:10 docker.io/istio/pilot:1.27.1']);
    expect(out.unmapped.find((u) => u.line === 10)?.reason).toContain('the hub docker.io/istio stays');
    expect(out.unmapped.find((u) => u.file.endsWith('canary.yaml'))?.reason).toContain('no tag around it');
    expect(JSON.stringify(out)).not.toContain('library/proxyv2');
  }, 60_000);
});
