import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandDependentVars } from '../../../src/audit/container-env.js';
import { scanFileText, type FileType, type Reference } from '../../../src/audit/scan.js';
import { ROOT, runFerry } from '../../support/cli.js';

/** The references of one file: `line kind value` each. */
function found(file: string, type: FileType, text: string): string[] {
  const refs: Reference[] = [];
  scanFileText(file, type, text, refs, []);
  return refs.map((r) => `${r.line} ${r.kind} ${r.value}`);
}

/** A workload whose destinations are written through Kubernetes' `$(VAR)` references, as the OpenTelemetry demo chart renders them. */
const WORKLOAD = [
  'apiVersion: apps/v1', // 1
  'kind: Deployment',
  'metadata: {name: checkout}',
  'spec:',
  '  template:', // 5
  '    spec:',
  '      containers:',
  '        - name: checkout',
  '          image: app:1.0',
  '          env:', // 10
  '            - name: OTEL_K8S_NODE_IP',
  '              valueFrom: {fieldRef: {fieldPath: status.hostIP}}',
  '            - name: EARLY',
  '              value: http://$(COLLECTOR_HOST):4318',
  '            - name: COLLECTOR_HOST', // 15
  '              value: collector.vendor.example',
  '            - name: OTEL_EXPORTER_OTLP_ENDPOINT',
  '              value: http://$(COLLECTOR_HOST):4318',
  '            - name: KUBELET',
  '              value: https://$(OTEL_K8S_NODE_IP):10250/metrics', // 20
  '            - name: ESCAPED',
  '              value: http://$$(COLLECTOR_HOST)/x',
  '          args:',
  '            - --upstream=$(COLLECTOR_HOST):4317',
  '', // 25
].join('\n');

describe("recall2: a container's $(VAR) references are expanded from its env, as Kubernetes does", () => {
  it('a variable defined before the value (or anywhere, for args) is its value; unknown and escaped references stay as written', () => {
    expect(found('deploy/checkout.yaml', 'yaml', WORKLOAD)).toEqual([
      '9 image app:1.0',
      // Defined after it in the list: Kubernetes leaves the reference as written.
      '14 url http://$(COLLECTOR_HOST):4318',
      '16 host collector.vendor.example',
      '18 url http://collector.vendor.example:4318',
      // valueFrom: its value is not in the file, so the reference is kept whole (`)` included), never guessed.
      '20 url https://$(OTEL_K8S_NODE_IP):10250/metrics',
      '22 url http://$(COLLECTOR_HOST)/x',
      '24 host collector.vendor.example:4317',
    ]);
  });

  it('the finding says the value was expanded, from what', () => {
    const refs: Reference[] = [];
    scanFileText('deploy/checkout.yaml', 'yaml', WORKLOAD, refs, []);
    expect(refs.find((r) => r.line === 18)?.provenance).toBe(
      "deploy/checkout.yaml:18 http://$(COLLECTOR_HOST):4318, which Kubernetes expands from the container's env to http://collector.vendor.example:4318",
    );
    expect(refs.find((r) => r.line === 16)?.provenance).toBeUndefined();
  });

  it("Kubernetes' expansion rules: $$ is $, an unknown or unclosed reference is kept, a lone $ is kept", () => {
    const vars = new Map([['A', 'x.example']]);
    expect(expandDependentVars('$(A)/$(B)/$$(A)/$$$(A)/$/a$b/$(A', vars)).toBe('x.example/$(B)/$(A)/$x.example/$/a$b/$(A');
  });

  it('the audit reports the destination the container connects to, and --fail-on fails on it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-recall2-'));
    await writeFile(path.join(dir, 'checkout.yaml'), WORKLOAD);
    const r = await runFerry(['audit', dir, '--manifest', path.join(ROOT, 'manifests', 'demo.yaml'), '--format', 'json', '--fail-on', 'unmapped'], { cwd: dir });
    expect(r.code).toBe(5);
    const f = (JSON.parse(r.stdout) as { findings: Array<{ line: number; kind: string; value: string; host: string }> }).findings.find((x) => x.line === 18);
    expect(f).toEqual(expect.objectContaining({ kind: 'url', value: 'http://collector.vendor.example:4318', host: 'collector.vendor.example' }));
  });
});

describe('recall2: a URL is read whole through its variable references', () => {
  it('${VAR} and $(VAR) do not end the URL', () => {
    expect(found('release.sh', 'text', 'git push https://github.com/${ORG}/repo.git\nhelm push c.tgz oci://ghcr.io/${GITHUB_REPOSITORY}/charts\ncurl http://$(NODE):8080/x\n')).toEqual([
      '1 url https://github.com/${ORG}/repo.git',
      '2 oci oci://ghcr.io/${GITHUB_REPOSITORY}/charts',
      '3 url http://$(NODE):8080/x',
    ]);
  });
});

describe('recall2: a URL whose host is only a wildcard names no destination', () => {
  it('a listen address, a CORS origin, a shell glob and a regex add nothing; a wildcard under a domain is still that domain', () => {
    const text = [
      'ASPNETCORE_URLS=http://+:80',
      'listen: http://*:8080',
      'allowed_origins: ["http://*", "https://*"]',
      'if [[ "$E" == https://* ]]; then',
      'grep "server:.*https://.*/k8s/clusters/.*" kubeconfig',
      'origin: https://*.vendor.example',
      '',
    ].join('\n');
    expect(found('notes.txt', 'text', text)).toEqual(['6 url https://*.vendor.example']);
  });
});

describe('recall2: expansion is bounded (a scanned tree is hostile)', () => {
  it('a chain of variables each naming the one before ten times is not expanded past the bound', { timeout: 20_000 }, () => {
    // A = 1 KB; B = ten A; C = ten B; … twelve levels would be 10^12 bytes expanded.
    const env = ['            - name: V0', `              value: ${'a'.repeat(1000)}.vendor.example`];
    for (let i = 1; i < 12; i++) env.push(`            - name: V${i}`, `              value: ${`$(V${i - 1})`.repeat(10)}`);
    const text = ['kind: Pod', 'spec:', '  containers:', '    - name: c', '      image: app:1.0', '      env:', ...env, '      args: ["http://$(V11)/x", "http://$(V1)/y"]', ''].join('\n');
    const refs = found('pod.yaml', 'yaml', text);
    // V1 (10 KB) is within the bound and expanded; V2 (100 KB) is not, so it is unknown and kept
    // as written wherever it is named, and nothing read is past the bound.
    expect(refs.some((r) => r.includes(`http://${'a'.repeat(1000)}.vendor.example`))).toBe(true);
    expect(refs.every((r) => r.length < 200_000)).toBe(true);
  });
});
