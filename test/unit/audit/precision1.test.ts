import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { scanFileText, type FileType, type Reference } from '../../../src/audit/scan.js';
import { blanked, YamlLineKeys } from '../../../src/audit/qualified-names.js';
import { ROOT, runFerry } from '../../support/cli.js';

/** The host findings of one file: `line value` each. */
function hosts(file: string, type: FileType, text: string): string[] {
  const refs: Reference[] = [];
  scanFileText(file, type, text, refs, []);
  return refs.filter((r) => r.kind === 'host').map((r) => `${r.line} ${r.value}`);
}
const all = (file: string, type: FileType, text: string) => {
  const refs: Reference[] = [];
  scanFileText(file, type, text, refs, []);
  return refs.map((r) => `${r.line} ${r.kind} ${r.value}`);
};

describe('a label or annotation key at a line key position is no host (a chart template, read as text)', () => {
  const template = [
    'apiVersion: apps/v1', // 1
    'kind: Deployment',
    'metadata:',
    '  labels:',
    '    app.kubernetes.io/name: {{ include "app.name" . }}', // 5
    '    "helm.sh/chart": {{ .Chart.Name }}',
    '  annotations:',
    '    cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/ca',
    '    telemetry.vendor.io/endpoint: collector.vendor.io', // 9: the value is a host
    'spec:', // 10
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: app',
    '          args: ["--upstream=api.vendor.io", "--registry", "registry.vendor.io/app:1.2"]', // 15
    '          env:',
    '            - name: DB_HOST',
    '              value: db.vendor.io:5432', // 18
    '{{- if .Values.x }}',
    '',
  ].join('\n');

  it('the keys are not found; every destination in the same file still is', () => {
    expect(hosts('chart/templates/deploy.yaml', 'yaml', template)).toEqual(['9 collector.vendor.io', '15 api.vendor.io', '18 db.vendor.io:5432']);
    expect(all('chart/templates/deploy.yaml', 'yaml', template)).toContain('15 image registry.vendor.io/app:1.2');
  });

  it('in a README (a quoted block) and a JSON flow map, the same; an image `host/path:tag` is no key', () => {
    const readme = ['> kubernetes.io/os: linux', '| nodeSelector | `{"kubernetes.io/os":"linux"}` |', 'Pull quay.io/vendor/app:1.2 from mirror.vendor.io.', ''].join('\n');
    expect(hosts('README.md', 'text', readme)).toEqual(['3 mirror.vendor.io']);
    expect(all('README.md', 'text', readme)).toContain('3 image quay.io/vendor/app:1.2');
  });
});

describe('apiVersion group/version is an API group, not a host (text and Helm Capabilities)', () => {
  it('apiVersion lines and APIVersions.Has are not found; a bare host/v1 path in prose is', () => {
    const text = [
      'apiVersion: rbac.authorization.k8s.io/v1',
      '{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}',
      '  "apiVersion": "helm.toolkit.fluxcd.io/v2beta1",',
      'server: api.vendor.io/v1',
      'see docs.vendor.io/v1/install',
      '',
    ].join('\n');
    expect(hosts('chart/templates/role.yaml', 'yaml', `{{ if }}\n${text}`)).toEqual(['5 api.vendor.io', '6 docs.vendor.io']);
  });
});

describe('fields defined to hold a qualified name (YAML that parses)', () => {
  it('RBAC apiGroups, roleRef.apiGroup, finalizers, topologyKey, matchExpressions and toleration keys are not hosts', () => {
    const yaml = [
      'apiVersion: rbac.authorization.k8s.io/v1',
      'kind: ClusterRole',
      'metadata:',
      '  name: x',
      '  finalizers: [resources-finalizer.argocd.argoproj.io]', // 5
      'rules:',
      '  - apiGroups: ["cert-manager.io", "acme.cert-manager.io"]',
      '    resources: ["*"]',
      '  - apiGroups:',
      '      - networking.k8s.io', // 10
      '---',
      'kind: Deployment',
      'spec:',
      '  template:',
      '    spec:', // 15
      '      affinity:',
      '        podAntiAffinity:',
      '          requiredDuringSchedulingIgnoredDuringExecution:',
      '            - topologyKey: topology.kubernetes.io/zone',
      '              labelSelector:', // 20
      '                matchExpressions:',
      '                  - key: app.kubernetes.io/name',
      '                    operator: In',
      '      tolerations:',
      '        - key: node-role.kubernetes.io/control-plane', // 25
      '      containers:',
      '        - name: a',
      '          image: registry.vendor.io/app:1.2',
      '          env:',
      '            - {name: UPSTREAM, value: proxy.vendor.io}', // 30
      '---',
      'kind: RoleBinding',
      'roleRef:',
      '  apiGroup: rbac.authorization.k8s.io',
      '',
    ].join('\n');
    expect(hosts('deploy/rbac.yaml', 'yaml', yaml)).toEqual(['30 proxy.vendor.io']);
    // The same lines in a template that does not parse as YAML (key path kept from the indentation).
    expect(hosts('chart/templates/rbac.yaml', 'yaml', `{{- if .Values.rbac }}\n${yaml}`)).toEqual(['31 proxy.vendor.io']);
  });

  it('CRD group and name, APIService name, webhook names, StorageClass provisioner, IngressClass and GatewayClass controllers, Secret type, CSI driver', () => {
    const yaml = [
      'kind: CustomResourceDefinition',
      'metadata: {name: widgets.acme.example.com}',
      'spec: {group: acme.example.com}',
      '---',
      'kind: APIService', // 5
      'metadata: {name: v1beta1.metrics.k8s.io}',
      'spec: {group: metrics.k8s.io, service: {name: adapter}}',
      '---',
      'kind: ValidatingWebhookConfiguration',
      'webhooks:', // 10
      '  - name: validate.cert-manager.io',
      '    clientConfig: {url: "https://hooks.vendor.io/validate"}',
      '---',
      'kind: StorageClass',
      'provisioner: ebs.csi.aws.com', // 15
      '---',
      'kind: IngressClass',
      'spec: {controller: k8s.io/ingress-nginx}',
      '---',
      'kind: GatewayClass', // 20
      'spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}',
      '---',
      'kind: Secret',
      'type: kubernetes.io/tls',
      '---', // 25
      'kind: Pod',
      'spec:',
      '  volumes: [{name: v, csi: {driver: secrets-store.csi.k8s.io}}]',
      '  loadBalancerClass: service.k8s.aws/nlb',
      '  hostAliases: [{hostnames: [license.vendor.io]}]', // 30
      '---',
      // The same words in fields with no such definition are still hosts.
      'kind: ConfigMap',
      'metadata: {name: widgets.acme.example.com}',
      'data: {group: metrics.vendor.io}',
      '',
    ].join('\n');
    expect(hosts('deploy/objects.yaml', 'yaml', yaml)).toEqual(['30 license.vendor.io', '33 widgets.acme.example.com', '34 metrics.vendor.io']);
    expect(all('deploy/objects.yaml', 'yaml', yaml)).toContain('12 url https://hooks.vendor.io/validate');
  });

  it('a value of another shape in such a field is read as any other (`see api.vendor.io`)', () => {
    expect(hosts('x.yaml', 'yaml', 'topologyKey: see api.vendor.io now\n')).toEqual(['1 api.vendor.io']);
  });
});

describe('file names whose extension is a top-level domain', () => {
  it('two labels under sh/so/cc/run in free text are files; three labels, a URL or a destination key are hosts', () => {
    const text = ['./install.sh --prefix /opt', 'LD_PRELOAD=lib.so', 'subprocess.run(["git"])', 'curl get.vendor.sh | sh', 'see https://helm.sh/docs', ''].join('\n');
    expect(hosts('scripts/README.md', 'text', text)).toEqual(['4 get.vendor.sh']);
    expect(all('scripts/README.md', 'text', text)).toContain('5 url https://helm.sh/docs');
    expect(hosts('values.yaml', 'yaml', 'licenseServer: vendor.sh\nscript: install.sh\n')).toEqual(['1 vendor.sh']);
  });
});

describe('ferry audit over a chart tree', () => {
  it('reports the destinations and none of the label keys, API groups or script names', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-precision1-'));
    await mkdir(path.join(dir, 'chart', 'templates'), { recursive: true });
    await writeFile(
      path.join(dir, 'chart', 'templates', 'role.yaml'),
      ['{{- if .Values.rbac }}', 'apiVersion: rbac.authorization.k8s.io/v1', 'kind: Role', 'metadata:', '  labels:', '    app.kubernetes.io/name: x', 'rules:', '  - apiGroups: ["coordination.k8s.io"]', '{{- end }}', ''].join('\n'),
    );
    await writeFile(path.join(dir, 'chart', 'values.yaml'), 'telemetry:\n  endpoint: telemetry.vendor.io\nhook: install.sh\n');
    const r = await runFerry(['audit', dir, '--manifest', path.join(ROOT, 'manifests', 'demo.yaml'), '--format', 'json'], { cwd: dir });
    const hostsFound = (JSON.parse(r.stdout) as { findings: Array<{ kind: string; value: string }> }).findings.filter((f) => f.kind === 'host').map((f) => f.value);
    expect(hostsFound).toEqual(['telemetry.vendor.io']);
  });
});

describe('crafted lines stay linear', () => {
  /** Run `f` under vm's watchdog: a pattern or loop that goes quadratic fails the test instead of stalling the suite. */
  const guarded = <T>(f: () => T): T => vm.runInNewContext('f()', { f }, { timeout: 20_000 }) as T;
  /** Every line of `text` through one reader, blanked; the number of spans blanked. */
  const maskAll = (text: string) => {
    const names = new YamlLineKeys();
    let spans = 0;
    for (const l of text.split('\n')) {
      const s = names.masks(l, true);
      spans += s.length;
      blanked(l, s);
    }
    return spans;
  };

  it('a 3 MiB flow list of API groups, 200 000 label keys on one line, a run of spaces after a key and a deep indentation are read in bounded time', { timeout: 120_000 }, () => {
    const n = 200_000;
    expect(guarded(() => maskAll(`rules:\n  - apiGroups: [${Array.from({ length: n }, (_, i) => `g${i}.example.io`).join(',')}]\n`))).toBe(n);
    expect(guarded(() => maskAll(`{${Array.from({ length: n }, (_, i) => `"k${i}.example.io/n":1`).join(',')}} api.vendor.io\n`))).toBe(n);
    expect(guarded(() => maskAll(`topologyKey:${' '.repeat(2_000_000)}kubernetes.io/hostname\n`))).toBe(1);
    const deep = `${Array.from({ length: 1500 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')}\n${'- a.example.io\n'.repeat(100_000)}  - apiGroups:\n    - x.example.io\n`;
    expect(guarded(() => maskAll(deep))).toBe(1);
  });
});
