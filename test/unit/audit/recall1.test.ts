import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { scanFileText, type FileType, type Reference } from '../../../src/audit/scan.js';
import { ROOT, runFerry } from '../../support/cli.js';

/** The host findings of one file: `line value` each. */
function hosts(file: string, type: FileType, text: string): string[] {
  const refs: Reference[] = [];
  scanFileText(file, type, text, refs, []);
  return refs.filter((r) => r.kind === 'host').map((r) => `${r.line} ${r.value}`);
}

/** A ConfigMap carrying the config files of a monitoring stack, as a deploy tree writes them. */
const CONFIGMAP = [
  'apiVersion: v1', // 1
  'kind: ConfigMap',
  'metadata:',
  '  name: monitoring',
  'data:', // 5
  '  prometheus.yml: |',
  '    scrape_configs:',
  '      - job_name: nodes',
  '        static_configs:',
  "          - targets: ['node1.corp.example:9100', 'db.vendor.jp:9187']", // 10
  '  alertmanager.yml: |',
  '    global:',
  '      smtp_smarthost: mail.corp.example',
  '  grafana.ini: |',
  '    [analytics]', // 15
  '    reporting_enabled = true',
  '    [smtp]',
  '    host = smtp.vendor.example',
  '  loki.json: \'{"storage": {"s3": {"endpoint": "minio.storage.example"}}}\'',
  '', // 20
].join('\n');

describe('recall1: config documents inside strings are read by their keys', () => {
  it('an embedded YAML, INI and JSON document: each destination key is a host, at its own line', () => {
    expect(hosts('deploy/cm.yaml', 'yaml', CONFIGMAP)).toEqual([
      '10 node1.corp.example:9100',
      '10 db.vendor.jp:9187',
      '13 mail.corp.example',
      '18 smtp.vendor.example',
      '19 minio.storage.example',
    ]);
  });

  it('the key path says where in the embedded document the host is', () => {
    const refs: Reference[] = [];
    scanFileText('deploy/cm.yaml', 'yaml', CONFIGMAP, refs, []);
    expect(refs.filter((r) => r.kind === 'host' && !r.value.includes(':')).map((r) => r.keyPath)).toEqual([
      'data.alertmanager.yml.global.smtp_smarthost',
      'data.grafana.ini.smtp.host',
      'data.loki.json.storage.s3.endpoint',
    ]);
  });

  it('prose, scripts and documents whose keys name no destination add nothing', () => {
    const text = [
      'data:',
      '  notes: |',
      '    The server restarts nightly.',
      '    host = see the runbook',
      '  dashboard.json: \'{"options": "tcp:90", "title": "node.cpu.seconds", "server": "local"}\'',
      '  app.properties: |',
      '    [cache]',
      '    server = redis.cache',
      '    name = service.instance.id',
      '  run.sh: |',
      '    exec app --config=/etc/app.yaml',
      '',
    ].join('\n');
    expect(hosts('deploy/cm.yaml', 'yaml', text)).toEqual([]);
  });
});

describe('recall1: a container env value and a --flag=value are keyed by their names', () => {
  const deployment = [
    'spec:', // 1
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: app', // 5
    '          image: app:1.0',
    '          args:',
    '            - --upstream=api.vendor.jp',
    '            - --log-level=debug.verbose.x',
    '          env:', // 10
    '            - name: LICENSE_SERVER',
    '              value: lic.vendor.example',
    '            - name: APP_NAME',
    '              value: shop.checkout.example',
    '',
  ].join('\n');
  it('LICENSE_SERVER=lic.vendor.example and --upstream=api.vendor.jp are hosts; other names are not read as destinations', () => {
    expect(hosts('deploy/app.yaml', 'yaml', deployment)).toEqual(['8 api.vendor.jp', '12 lic.vendor.example']);
  });

  it('a bare --flag item keys the item after it: ["--server", "ntp.nict.jp"] is a host, ["--log-level", "debug.verbose.x"] is not', () => {
    const args = ['spec:', '  containers:', '    - name: c', '      args: ["--server", "ntp.nict.jp", "--log-level", "debug.verbose.x", "--name", "--server"]', ''].join('\n');
    expect(hosts('deploy/chrony.yaml', 'yaml', args)).toEqual(['4 ntp.nict.jp']);
  });
});

describe('recall1: host:port with three labels or more is a host whatever its domain', () => {
  it('in free text, a script and a template', () => {
    expect(hosts('run.sh', 'text', 'curl -s node1.corp.example:9100/metrics\nnc db.vendor.jp:5432\n')).toEqual(['1 node1.corp.example:9100', '2 db.vendor.jp:5432']);
  });
  it('not two labels (a Service in another namespace), a time, a version or a capitalised Java frame', () => {
    expect(hosts('notes.txt', 'text', 'redis.cache:6379\nat 10.30.45:10\nv1.2.3:4\nat com.Foo.Bar:12\nfile a.b.c:12:3\n')).toEqual([]);
  });
  it('stays linear on a crafted line', () => {
    const line = 'a.'.repeat(200_000) + ':1';
    const run = () => hosts('x.txt', 'text', line);
    expect(vm.runInNewContext('f()', { f: run }, { timeout: 20_000 })).toEqual([]);
  }, 60_000);
});

describe('recall1: ferry audit fails --fail-on unmapped on a destination only an embedded config names', () => {
  it('exit 5, the finding at the line inside the ConfigMap', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-recall1-'));
    await writeFile(path.join(dir, 'cm.yaml'), ['apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: grafana}', 'data:', '  grafana.ini: |', '    [smtp]', '    host = smtp.vendor.example', ''].join('\n'));
    const r = await runFerry(['audit', dir, '--manifest', path.join(ROOT, 'manifests', 'demo.yaml'), '--format', 'json', '--fail-on', 'unmapped'], { cwd: dir });
    expect(r.code).toBe(5);
    const found = (JSON.parse(r.stdout) as { findings: Array<{ line: number; kind: string; value: string; class: string }> }).findings.filter((f) => f.kind === 'host');
    expect(found).toEqual([expect.objectContaining({ line: 7, value: 'smtp.vendor.example', class: 'undeclared' })]);
  });
});
