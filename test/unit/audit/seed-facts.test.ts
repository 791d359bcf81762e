import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { firewallCommand } from '../../../src/commands/firewall.js';
import { inventoryCommand } from '../../../src/commands/inventory.js';
import { loadManifest } from '../../../src/kinds/schema.js';
import { buildConnectionModel } from '../../../src/audit/model.js';
import { buildRuleset } from '../../../src/audit/firewall/ruleset.js';
import { emitNftables } from '../../../src/audit/firewall/nftables.js';
import { renderInventoryMarkdown } from '../../../src/audit/inventory.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const seed = (name: string) => path.join(ROOT, 'manifests', `${name}.yaml`);
const fixture = (name: string) => path.join(ROOT, 'test', 'fixtures', 'audit', name);

/** Accept lines of one nftables chain, comments dropped. */
function chainLines(nft: string, chain: string): string[] {
  const body = nft.split(`chain ${chain} {`)[1].split('\n  }')[0];
  return body
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('type '));
}

describe('Spinifex', () => {
  it('external surface is 22, 3000, 9999 plus 4432 only while bootstrapping; the rest is cluster-only or localhost', async () => {
    const inv = await inventoryCommand(seed('spinifex'), {});
    const external = inv.inbound.filter((r) => r.scope === 'external' && r.status !== 'blocked');
    expect(external.map((r) => r.ports).sort()).toEqual(['22/tcp', '3000/tcp', '4432/tcp', '9999/tcp']);
    expect(external.find((r) => r.ports === '4432/tcp')?.lifecycle).toBe('bootstrap');
    const cluster = inv.inbound.filter((r) => r.scope === 'cluster').map((r) => r.ports);
    expect(cluster).toEqual(['4222/tcp', '4248/tcp', '8443/tcp', '6660-6662/tcp', '9991-9993/tcp', '6641/tcp', '6642/tcp']);
    expect(inv.inbound.filter((r) => r.scope === 'localhost').map((r) => r.ports)).toEqual(['8222/tcp', 'socket / dynamic TCP']);
  });

  it('the three cloud-image hosts, install telemetry and the operator\'s OS package repositories are the only external destinations; telemetry is disabled by SPX_NO_TELEMETRY=1 or --no-telemetry', async () => {
    const inv = await inventoryCommand(seed('spinifex'), {});
    // §2: "Node software updates come from the operator's OS package channel"; §4: egress limited to the
    // image-catalogue hosts "plus the operator's OS package repositories" (host not named: a placeholder).
    expect(inv.endpoints.flatMap((e) => e.hosts).sort()).toEqual(['<os_package_host>', 'cdimage.debian.org', 'cloud-images.ubuntu.com', 'd2yp8ipz5jfqcw.cloudfront.net', 'install.mulgadc.com']);
    const telemetry = inv.endpoints.find((e) => e.hosts.includes('install.mulgadc.com'))!;
    expect(telemetry.mitigation.type).toBe('disabled');
    // §6: telemetry is "either permitted and recorded in the security plan, or disabled": not required.
    expect(telemetry.requirement).toBe('conditional');
    expect(inv.checklist.requiredForAll.map((c) => c.text).join('\n')).not.toContain('install.mulgadc.com');
    expect(telemetry.checks).toEqual(['env: SPX_NO_TELEMETRY=1 in the environment of spx admin init / join', 'text: spx admin init / join run with --no-telemetry']);
    // The image hosts are carried across the gap by the files section.
    expect(inv.mirrored.map((m) => m.host)).toEqual(['cdimage.debian.org', 'cloud-images.ubuntu.com', 'd2yp8ipz5jfqcw.cloudfront.net']);
  });

  it('nftables input chain is equivalent to the §4 reference (external from anywhere, cluster-only from the cluster CIDR, default deny)', async () => {
    const nft = (await firewallCommand(seed('spinifex'), { format: 'nftables' })).text;
    expect(nft).toContain('type filter hook input priority filter; policy drop;');
    expect(nft).toMatch(/set zone_cluster \{\n\s+type ipv4_addr\n\s+flags interval\n\s+elements = \{ 10\.0\.1\.0\/24 \}/);
    // Loopback, established and IPv6 neighbour discovery (issue 12: a host cannot do IPv6 without it) are not flows.
    const accepts = chainLines(nft, 'input').filter((l) => !['iif "lo" accept', 'ct state established,related accept'].includes(l) && !l.startsWith('icmpv6 type { nd-'));
    // §4:  tcp dport { 22, 9999, 3000 } accept
    //      ip saddr 10.0.1.0/24 tcp dport { 4222, 4248, 8443, 6641, 6642, 6660-6662, 9991-9993 } accept
    //      ip saddr 10.0.1.0/24 udp dport 6081 accept
    expect(accepts).toEqual([
      'tcp dport { 22, 3000, 9999 } accept',
      'ip saddr @zone_cluster tcp dport { 4222, 4248, 6641, 6642, 6660-6662, 8443, 9991-9993 } accept',
      'ip saddr @zone_cluster udp dport 6081 accept',
    ]);
    // 4432 stays closed outside the bootstrap window, visible as a commented rule.
    expect(nft).toContain('#   tcp dport 4432 accept');
    const bootstrap = (await firewallCommand(seed('spinifex'), { format: 'nftables', enable: ['bootstrap'] })).text;
    expect(chainLines(bootstrap, 'input')).toContain('tcp dport { 22, 3000, 4432, 9999 } accept');
  });
});

describe('CCX', () => {
  it('reproduces the Summary Checklist split into "required for all" and "only if enabled"', async () => {
    const inv = await inventoryCommand(seed('ccx'), {});
    const required = inv.checklist.requiredForAll.map((c) => c.text).join('\n');
    const onlyIf = inv.checklist.onlyIfEnabled.map((c) => c.text).join('\n');
    // Vendor repositories are per database vendor (issue 12): only if that vendor's clusters run.
    expect(onlyIf).toMatch(/dlm\.mariadb\.com.*only if MariaDB clusters/);
    for (const host of ['eu.gcr.io', 'europe-docker.pkg.dev', 'docker.io', 'europe-apt.pkg.dev', 'packages.fluentbit.io', 's3.amazonaws.com', 'ec2.eu-north-1.amazonaws.com']) {
      expect(required).toContain(host);
    }
    expect(required).toMatch(/cmon\.license set in Helm values.*avoids ClusterControl license server: severalnines\.com/);
    const items: Array<[string, string]> = [
      ['severalnines.com', 'only if cmon.license is not pre-set'],
      ['<smtp_host>', 'only if ENABLE_EMAIL=true'],
      ['hooks.slack.com', 'only if ENABLE_SLACK=true'],
      ['events.pagerduty.com', 'only if ENABLE_PAGERDUTY=true'],
      ['api.stripe.com', 'only if ccx.services.billing.stripe: true'],
      ['<dns_provider_api_host>', 'only if external-dns.enabled: true'],
      ['opensource.zalando.com', 'only at install/upgrade time, not at runtime'],
      ['quay.io', 'only at install/upgrade time, not at runtime'],
    ];
    for (const [host, condition] of items) {
      const line = inv.checklist.onlyIfEnabled.find((c) => c.text.includes(`→ ${host} `))?.text;
      expect(line, host).toContain(condition);
    }
    for (const host of ['hooks.slack.com', 'api.stripe.com', 'severalnines.com ']) expect(required).not.toContain(`→ ${host}`);
    expect(onlyIf).not.toContain('eu.gcr.io');
  });

  it('license server carries the cmon.license check; optional endpoints are tied to the setting that enables them', async () => {
    const m = buildConnectionModel(await loadManifest(seed('ccx')));
    const byName = new Map(m.endpoints.map((e) => [e.name, e]));
    expect(byName.get('license-server')!.checks).toEqual([expect.objectContaining({ kind: 'values', key: 'cmon.license' })]);
    expect(byName.get('slack')!.checks![0]).toMatchObject({ kind: 'env', key: 'ENABLE_SLACK', notEquals: 'true', whenMissing: 'met' });
    expect(byName.get('stripe-api')!.checks![0]).toMatchObject({ kind: 'values', key: 'ccx.services.billing.stripe' });
    // HTTP and OCI chart repositories and the data-plane APT repositories are carried.
    expect(m.artifacts.charts.map((c) => c.repo)).toEqual(expect.arrayContaining(['oci://registry-1.docker.io/bitnamicharts', 'https://kubernetes.github.io/ingress-nginx']));
    expect(m.artifacts.apt).toEqual(expect.arrayContaining(['https://europe-apt.pkg.dev/projects/severalnines-public', 'http://repo.percona.com/pxc-84-lts/apt']));
  });
});

describe('SPIRE', () => {
  it('keeps TBD and BLOCKED rows visible in the matrix', async () => {
    const inv = await inventoryCommand(seed('spire'), {});
    expect(inv.open.map((r) => [r.name, r.status])).toEqual([
      ['dmz-agent', 'blocked'],
      ['aws-staging-agent', 'tbd'],
      ['gcp-staging-agent', 'tbd'],
      ['azure-staging-agent', 'tbd'],
    ]);
    expect(inv.matrix.filter((r) => r.ref.startsWith('§5 row')).length).toBe(12);
    const md = renderInventoryMarkdown(inv);
    const dmz = md.split('### DMZ / Edge')[1].split('###')[0];
    // §5 row 10: the destination is "TBD — internal SPIRE server or dedicated DMZ server" (§3: "TBD — on-prem
    // downstream or dedicated"), not the on-prem downstream server: its own placeholder zone.
    expect(dmz).toMatch(/\| §5 row 10 \| out \| TBD — internal SPIRE server or dedicated DMZ server \| DMZ agent \(TBD\) \|.*\| BLOCKED \|/);
    const staging = md.split('### AWS staging / dev')[1].split('###')[0];
    expect(staging).toContain('| TBD |');
  });

  it('firewall templates let agents reach only the server addresses on 8081, with segment CIDRs as variables', async () => {
    const nft = (await firewallCommand(seed('spire'), { format: 'nftables' })).text;
    const forward = chainLines(nft, 'forward');
    const to8081 = forward.filter((l) => l.includes('dport 8081'));
    expect(to8081).toEqual([
      'ip saddr @zone_gcp_prod ip daddr @zone_spire_upstream tcp dport 8081 accept',
      'ip saddr @zone_aws_prod ip daddr @zone_spire_upstream tcp dport 8081 accept',
      'ip saddr @zone_azure_prod ip daddr @zone_spire_upstream tcp dport 8081 accept',
      'ip saddr @zone_onprem_dc ip daddr @zone_spire_downstream tcp dport 8081 accept',
      'ip saddr @zone_spire_downstream ip daddr @zone_spire_upstream tcp dport 8081 accept',
      'ip saddr @zone_admin ip daddr @zone_spire_upstream tcp dport 8081 accept',
    ]);
    expect(nft).toContain('set zone_spire_upstream {');
    expect(nft).toMatch(/zone On-prem upstream SPIRE server \(HA cluster\) — PLACEHOLDER: fill in CIDRs of zone spire-upstream, not given/);
    expect(nft).toContain('#   ip saddr @zone_dmz ip daddr @zone_dmz_server_tbd tcp dport 8081 accept');
  });

  it('refuses a wildcard destination, naming every offending connection', async () => {
    await expect(firewallCommand(fixture('wildcard.yaml'), { format: 'nftables' })).rejects.toMatchObject({
      code: 'VALIDATION',
      details: ['connection agent-to-anything (row 2): destination 0.0.0.0/0 is a wildcard', 'connection agent-to-star (row 3): destination *.example.com is a wildcard'],
    });
  });
});

describe('metal-stack', () => {
  it('keeps the communication matrix with its zones and C / I / Auth / Trust marks', async () => {
    const inv = await inventoryCommand(seed('metal-stack'), {});
    expect(inv.matrix.filter((r) => r.kind === 'connection')).toHaveLength(83);
    const row = (ref: string, dest?: string) => inv.matrix.find((r) => r.ref === ref && (!dest || r.destination === dest))!;
    const marks = (ref: string, dest?: string) => {
      const r = row(ref, dest);
      return [r.c, r.i, r.auth, r.trust];
    };
    expect(marks('2.4')).toEqual(['x', 'x', 'x', 'x']);
    expect(marks('2.8')).toEqual(['?', '?', '?', '?']);
    expect(marks('1.3')).toEqual(['x', 'x', '', '']);
    expect(marks('3.7')).toEqual(['x', 'x', 'x', '?']);
    expect(marks('12.4')).toEqual(['', 'x', '', 'x']);
    expect(marks('10.2', 'machine BMC')).toEqual(['', '', 'x', 'x']);
    expect(row('2.1')).toMatchObject({ from: 'Metal Control Plane', to: 'Metal Control Plane', protocol: 'TCP', ports: '28015/tcp' });
    expect(row('14.1')).toMatchObject({ ports: '67/udp, 68/udp', protocol: 'DHCP' });
    expect(inv.zones.map((z) => z.title)).toEqual(expect.arrayContaining(['Metal Control Plane', 'Partition Management', 'Machine', 'Leaf Switches', 'Seed Cluster', 'Shoot Cluster', 'Lightbits Cluster', 'unknown', 'Internet']));
  });
});

describe('Safespring', () => {
  it('renders the security-group model as OpenStack security-group rules', async () => {
    const hot = parse((await firewallCommand(seed('safespring'), { format: 'openstack-sg' })).text);
    const rules = Object.values(hot.resources as Record<string, { type: string; properties: Record<string, unknown> }>).filter((r) => r.type === 'OS::Neutron::SecurityGroupRule');
    const simple = rules.map((r) => {
      const p = r.properties as { security_group: { get_resource: string }; direction: string; port_range_min: number; remote_group?: { get_resource: string }; remote_ip_prefix?: string };
      return `${p.security_group.get_resource} ${p.direction} ${p.port_range_min} ${p.remote_group?.get_resource ?? p.remote_ip_prefix}`;
    });
    expect(simple.sort()).toEqual(
      [
        'sg_public ingress 443 0.0.0.0/0',
        'sg_public egress 80 sg_default_v4_nat',
        'sg_default_v4_nat ingress 80 sg_public',
        'sg_default_v4_nat egress 3333 sg_public',
        'sg_public ingress 3333 sg_default_v4_nat',
        'sg_private egress 4545 sg_default_v4_nat',
        'sg_default_v4_nat ingress 4545 sg_private',
        'sg_default_v4_nat egress 443 1.1.1.1/32',
      ].sort(),
    );
    expect(Object.values(hot.resources as Record<string, { type: string }>).filter((r) => r.type === 'OS::Neutron::SecurityGroup')).toHaveLength(3);
  });
});

describe('firewall address handling', () => {
  it('keeps placeholders by default and records time and resolver only when it resolves', async () => {
    const model = buildConnectionModel(await loadManifest(fixture('resolve.yaml')));
    const plain = emitNftables(await buildRuleset(model)).text;
    expect(plain).toContain('PLACEHOLDER: fill in addresses of localhost');
    expect(plain).not.toMatch(/resolved at/);
    const resolved = emitNftables(
      await buildRuleset(model, { resolve: async () => ['127.0.0.1'], resolverName: 'test resolver', now: () => new Date('2030-01-02T03:04:05Z') }),
    ).text;
    expect(resolved).toContain('# Hostnames resolved at 2030-01-02T03:04:05.000Z via test resolver.');
    expect(resolved).toContain('elements = { 127.0.0.1/32 }');
    expect(chainLines(resolved, 'output')).toContain('ip daddr @host_localhost tcp dport 8443 accept');
  });

  it('YAML formats parse and carry the fields their tools need', async () => {
    const np = parseAllDocuments((await firewallCommand(seed('ccx'), { format: 'networkpolicy' })).text).map((d) => d.toJS());
    expect(np[0]).toMatchObject({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] } });
    const cp = np.find((d) => d.metadata.name === 'ferry-ccx-control-plane');
    const fromCp = cp.spec.ingress.find((r: { from: unknown[] }) => JSON.stringify(r.from) === JSON.stringify([{ podSelector: { matchLabels: { 'ferry.io/zone': 'control-plane' } } }]));
    expect(fromCp.ports).toEqual(expect.arrayContaining([{ protocol: 'TCP', port: 9501 }, { protocol: 'TCP', port: 20001 }, { protocol: 'TCP', port: 5432 }]));
    const cilium = parseAllDocuments((await firewallCommand(seed('ccx'), { format: 'cilium', enable: ['slack'] })).text).map((d) => d.toJS());
    const ccp = cilium.find((d) => d.metadata.name === 'ferry-ccx-control-plane');
    expect(ccp.spec.egress).toContainEqual({ toFQDNs: [{ matchName: 'hooks.slack.com' }], toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }] });
    const aws = parse((await firewallCommand(seed('spinifex'), { format: 'aws-sg' })).text);
    expect(aws.AWSTemplateFormatVersion).toBe('2010-09-09');
    expect(aws.Resources.SgCluster.Type).toBe('AWS::EC2::SecurityGroup');
    const ingress = Object.values(aws.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>).filter((r) => r.Type === 'AWS::EC2::SecurityGroupIngress');
    expect(ingress.map((r) => [r.Properties.FromPort, r.Properties.ToPort, r.Properties.CidrIp ?? 'group']).sort()).toEqual(
      expect.arrayContaining([
        [22, 22, '0.0.0.0/0'],
        [6660, 6662, 'group'],
      ]),
    );
  });
});
