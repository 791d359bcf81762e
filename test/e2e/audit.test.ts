import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runFerry } from '../support/cli.js';

/**
 * `ferry audit` on a fixture tree: Helm values, Kubernetes manifests, a sources.list, a TOML
 * config, an env file and a shell script with URLs. Each planted reference must come back
 * with the right class and location; mitigation checks report met/unmet; --fail-on exits 5.
 */
const SITE = 'test/fixtures/audit/site';
const CLEAN = 'test/fixtures/audit/clean';
const base = ['--manifest', 'manifests/ccx.yaml', '--target', 'mirror-targets/ccx.yaml'];

interface Finding {
  file: string;
  line: number;
  keyPath: string;
  kind: string;
  value: string;
  class: string;
  declaredBy?: string;
  mirror?: string;
}

/** Line of the first occurrence of `needle` in a fixture file (1-based). */
function lineOf(file: string, needle: string): number {
  const idx = readFileSync(path.join(ROOT, file), 'utf8').split('\n').findIndex((l) => l.includes(needle));
  if (idx < 0) throw new Error(`${needle} not in ${file}`);
  return idx + 1;
}

async function auditJson(args: string[]): Promise<{ code: number; report: { findings: Finding[]; checks: Array<{ endpoint: string; status: string; evidence: string }>; summary: Record<string, number>; failed: boolean } }> {
  const r = await runFerry(['audit', ...args, '--json']);
  if (r.code !== 0 && r.code !== 5) throw new Error(`ferry audit exited ${r.code}\n${r.stderr}`);
  return { code: r.code, report: JSON.parse(r.stdout) };
}

describe('ferry audit', () => {
  it('finds each planted reference with its class, file, line and key path', async () => {
    const { code, report } = await auditJson([SITE, ...base]);
    expect(code).toBe(0);
    const find = (file: string, value: string) => {
      const f = report.findings.find((x) => x.file === `${SITE}/${file}` && x.value === value);
      if (!f) throw new Error(`no finding ${value} in ${file}: ${JSON.stringify(report.findings.map((x) => `${x.file} ${x.value}`))}`);
      return f;
    };
    const planted: Array<[string, string, string, string, string?]> = [
      // file, reference, class, key path, needle for the line (default: the reference)
      ['values.yaml', 'eu.gcr.io/brave-night-121210/cmon:2.3.1', 'mirrored', 'cmon.image'],
      ['values.yaml', 'docker.io/bitnami/kubectl:latest', 'mirrored', 'ccx.migrate.image', 'repository: bitnami/kubectl'],
      // ghcr.io is declared since issue 12 (the postgres-operator chart pulls from it); this image is not carried.
      ['values.yaml', 'ghcr.io/acme/sidecar:1.0', 'declared-unmitigated', 'ccx.sidecar.image'],
      ['values.yaml', 'registry.ccx.internal/mirror/eu.gcr.io/brave-night-121210/cmon:2.3.1', 'internal', 'ccx.mirrored.image'],
      ['values.yaml', 'https://hooks.slack.com/services/T000/B000/XXXX', 'declared-mitigated', 'ccx.notify.env[0].value'],
      ['k8s/deployment.yaml', 'docker.io/library/mysql:8.4', 'mirrored', 'spec.template.spec.initContainers[0].image'],
      ['k8s/deployment.yaml', 'quay.io/prometheus/node-exporter:v1.8.0', 'declared-unmitigated', 'spec.template.spec.containers[0].image'],
      ['k8s/deployment.yaml', 'https://s3.amazonaws.com/ccx-backups', 'declared-unmitigated', 'data.endpoint'],
      ['apt/sources.list', 'http://repo.percona.com/ps-80/apt', 'declared-unmitigated', ''],
      ['apt/sources.list', 'http://deb.example.org/debian', 'undeclared', ''],
      ['config.toml', 'https://s3.amazonaws.com', 'declared-unmitigated', 'backup.endpoint', 'endpoint = "https://s3.amazonaws.com"'],
      ['config.toml', 'smtp.corp.example.com', 'undeclared', 'smtp.host'],
      ['config.toml', 'https://ec2.eu-north-1.amazonaws.com', 'declared-exception', 'cloud.aws.api'],
      ['install.sh', 'https://get.acme-tools.io/install.sh', 'undeclared', ''],
      ['install.sh', 'https://kubernetes.github.io/ingress-nginx', 'declared-unmitigated', ''],
      ['install.sh', 'oci://registry-1.docker.io/bitnamicharts/keycloak', 'declared-unmitigated', ''],
      ['install.sh', 'https://severalnines.com/service/lic.php', 'declared-mitigated', ''],
      ['app.env', 'https://events.pagerduty.com/v2/enqueue', 'declared-unmitigated', 'PAGERDUTY_URL'],
      ['app.env', 'postgres.ccx.svc.cluster.local', 'internal', 'DB_HOST'],
      ['ui-config.json', 'https://severalnines.piwik.pro/ppms.js', 'declared-exception', 'analytics.trackerUrl'],
      ['ui-config.json', 'http://localhost:18091', 'internal', 'api'],
    ];
    for (const [file, value, cls, keyPath, needle] of planted) {
      const f = find(file, value);
      expect({ value, class: f.class, line: f.line, keyPath: f.keyPath }).toEqual({ value, class: cls, line: lineOf(`${SITE}/${file}`, needle ?? value), keyPath });
    }
    expect(report.findings).toHaveLength(planted.length);
    // Mirrored references say where the single mapping puts them on the target.
    expect(find('values.yaml', 'eu.gcr.io/brave-night-121210/cmon:2.3.1').mirror).toBe('registry.ccx.internal/mirror/eu.gcr.io/brave-night-121210/cmon:2.3.1');
    expect(find('apt/sources.list', 'http://repo.percona.com/ps-80/apt').mirror).toBe('http://apt.ccx.internal/repo.percona.com/ps-80/apt');
    expect(find('install.sh', 'oci://registry-1.docker.io/bitnamicharts/keycloak').mirror).toBe('registry.ccx.internal/mirror/docker.io/bitnamicharts/keycloak:24.0.5');
  });

  it('runs the mitigation checks and reports them met or unmet with evidence', async () => {
    const { report } = await auditJson([SITE, ...base]);
    const check = (endpoint: string) => report.checks.find((c) => c.endpoint === endpoint)!;
    expect(check('license-server')).toMatchObject({ status: 'met', evidence: `${SITE}/values.yaml:${lineOf(`${SITE}/values.yaml`, 'license:')} cmon.license is set` });
    expect(check('slack')).toMatchObject({ status: 'met' });
    expect(check('pagerduty')).toMatchObject({ status: 'unmet', evidence: `${SITE}/app.env:1 ENABLE_PAGERDUTY=true` });
    expect(check('stripe-api')).toMatchObject({ status: 'met' });
    expect(check('dns-provider-api')).toMatchObject({ status: 'met', evidence: 'external-dns.enabled not set in the scanned files (the default is safe)' });
    // The license value itself never reaches the output.
    const text = await runFerry(['audit', SITE, ...base]);
    expect(text.stdout).not.toContain('LICENSE-KEY-PLACEHOLDER');
  });

  it('exits 5 with --fail-on when findings exist, 0 when the tree is clean', async () => {
    for (const failOn of ['unmapped', 'unmitigated']) {
      const dirty = await auditJson([SITE, ...base, '--fail-on', failOn]);
      expect(dirty.code, failOn).toBe(5);
      expect(dirty.report.failed).toBe(true);
      const clean = await auditJson([CLEAN, ...base, '--fail-on', failOn]);
      expect(clean.code, failOn).toBe(0);
      expect(clean.report.summary.undeclared).toBe(0);
    }
    // Only declared-but-unmitigated: unmapped passes, unmitigated fails.
    const onlyDeclared = await auditJson([`${SITE}/app.env`, ...base, '--fail-on', 'unmapped']);
    expect(onlyDeclared.code).toBe(0);
    const strict = await auditJson([`${SITE}/app.env`, ...base, '--fail-on', 'unmitigated']);
    expect(strict.code).toBe(5);
  });

  it('renders md and csv deterministically and refuses unknown options', async () => {
    const a = await runFerry(['audit', SITE, ...base, '--format', 'csv']);
    const b = await runFerry(['audit', SITE, ...base, '--format', 'csv']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout.split('\n')[0]).toBe('file,line,key_path,kind,reference,host,class,declared_by,mirror,note');
    const md = await runFerry(['audit', SITE, ...base]);
    expect(md.stdout).toContain('| undeclared | 3 |');
    const bad = await runFerry(['audit', SITE, ...base, '--fail-on', 'everything']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--fail-on everything: unknown');
  });

  it('Spinifex node: runs the telemetry opt-out, SSH and dev_networking checks against the node configuration', async () => {
    const node = 'test/fixtures/audit/spinifex-node';
    const r = await runFerry(['audit', node, '--manifest', 'manifests/spinifex.yaml', '--target', 'mirror-targets/spinifex.yaml', '--fail-on', 'unmitigated', '--json']);
    expect(r.code, r.stderr).toBe(5);
    const report = JSON.parse(r.stdout);
    const checks = report.checks.map((c: { endpoint: string; status: string; evidence: string }) => [c.endpoint, c.status, c.evidence]);
    expect(checks).toContainEqual(['install-telemetry', 'met', `${node}/bootstrap.sh:2 SPX_NO_TELEMETRY=1`]);
    expect(checks).toContainEqual(['ssh', 'met', `${node}/etc/ssh/sshd_config:3`]);
    expect(checks).toContainEqual(['qemu-dev-port-forwarding', 'unmet', `${node}/etc/spinifex/spinifex.toml:7 nodes.node1.daemon.dev_networking=true`]);
    const byValue = new Map(report.findings.map((f: Finding) => [f.value, f]));
    expect(byValue.get('https://cdimage.debian.org/cdimage/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2')).toMatchObject({
      // Carried, but the node fetches the URL as written: still out until `rewrite catalogue` points it at the mirror.
      class: 'declared-unmitigated',
      mirror: 'https://mirror.spinifex.internal/files/cdimage.debian.org/cdimage/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2',
    });
    expect(byValue.get('https://cloud-images.ubuntu.com/noble/current/')).toMatchObject({ class: 'declared-unmitigated', declaredBy: 'ubuntu-cloud-image' });
    const addresses = report.findings.filter((f: Finding) => f.value === '10.0.1.11').map((f: Finding) => [f.keyPath, f.class]);
    expect(addresses).toEqual([
      ['nodes.node1.awsgw.host', 'internal'],
      ['nodes.node1.daemon.host', 'internal'],
      ['nodes.node1.vpcd.ovn_nb_addr', 'internal'],
      ['nodes.node1.vpcd.ovn_sb_addr', 'internal'],
    ]);
  });

  it('ferry inventory prints the golden inventory in every format, and refuses an unknown one', async () => {
    for (const [args, golden] of [
      [['--format', 'md'], 'inventory.md'],
      [['--json'], 'inventory.json'],
      [['--format', 'csv'], 'inventory.csv'],
    ] as const) {
      const r = await runFerry(['inventory', 'manifests/spire.yaml', ...args]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(readFileSync(path.join(ROOT, 'test/golden/spire', golden), 'utf8'));
    }
    const bad = await runFerry(['inventory', 'manifests/spire.yaml', '--format', 'pdf']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--format pdf: unknown format');
  });
});
