import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { buildConnectionModel } from '../../../src/audit/model.js';
import { buildRuleset } from '../../../src/audit/firewall/ruleset.js';
import { emitFirewall, FIREWALL_FORMATS } from '../../../src/audit/firewall/emit.js';
import { validateManifest } from '../../../src/kinds/schema.js';

/** Firewall output that told a network engineer something false (issue 12), one case each. */
const loaded = (raw: unknown) => ({ manifest: validateManifest(raw, 'inline'), file: 'inline.yaml', dir: '.', digest: 'sha256:x' });
const conn = (name: string, from: string, to: string, extra: Record<string, unknown> = {}) => ({ name, from, to, direction: 'outbound', scope: 'external', protocol: 'HTTPS', ports: [443], purpose: name, ...extra });
function model(zones: unknown[], connections: unknown[]) {
  return buildConnectionModel(loaded({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'm' }, zones, connections }));
}
const emit = async (m: ReturnType<typeof model>, format: string, zone?: string) => emitFirewall(await buildRuleset(m, { zone, now: () => new Date(0) }), format);

const hostZones = [{ name: 'app', self: true, cidrs: ['10.0.0.0/24'] }, { name: 'ops' }, { name: 'internet', external: true, cidrs: ['0.0.0.0/0'] }];

describe('the format list is the emitter record', () => {
  it('every format emits, including ip6tables', async () => {
    expect(FIREWALL_FORMATS).toEqual(['nftables', 'iptables', 'ip6tables', 'squid', 'networkpolicy', 'cilium', 'openstack-sg', 'aws-sg']);
    expect(() => emitFirewall({} as never, 'pf')).toThrow(/unknown firewall format/);
  });
});

describe('nftables', () => {
  it('loading twice replaces the table instead of doubling the rules', async () => {
    const { text } = await emit(model(hostZones, [conn('web', 'app', 'internet', { hosts: ['192.0.2.10'] })]), 'nftables');
    const lines = text.split('\n');
    expect(lines.indexOf('table inet ferry_m')).toBeLessThan(lines.indexOf('delete table inet ferry_m'));
    expect(lines.indexOf('delete table inet ferry_m')).toBeLessThan(lines.indexOf('table inet ferry_m {'));
  });

  it('host mode allows IPv6 neighbour discovery and says that DNS, NTP and DHCP are not allowed', async () => {
    const out = await emit(model(hostZones, [conn('web', 'app', 'internet', { hosts: ['192.0.2.10'] })]), 'nftables');
    expect(out.text).toContain('icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } ip6 hoplimit 255 accept');
    expect(out.text).toContain('# NOT ALLOWED (not in the manifest): DNS 53/tcp+udp, NTP 123/udp, DHCP client 67/udp.');
    expect(out.warnings).toEqual(['host output chain: DNS, NTP, DHCP client not allowed (not in the manifest); see the comment in the output chain']);
    const dns = await emit(model(hostZones, [conn('web', 'app', 'internet', { hosts: ['192.0.2.10'] }), conn('dns', 'app', 'ops', { ports: [53], transport: 'udp', protocol: 'DNS' })]), 'nftables');
    expect(dns.text).toContain('# NOT ALLOWED (not in the manifest): NTP 123/udp, DHCP client 67/udp.');
  });
});

describe('iptables / ip6tables', () => {
  it('an IPv6 destination is in the ip6tables file, and the iptables file says where it went', async () => {
    const m = model(hostZones, [conn('v6', 'app', 'internet', { hosts: ['2001:db8::10'] })]);
    expect((await emit(m, 'ip6tables')).text).toContain('-A OUTPUT -d 2001:db8::10/128 -p tcp --dport 443 -m comment --comment "v6" -j ACCEPT');
    expect((await emit(m, 'iptables')).text).toContain('# IPv6 addresses only: see ip6tables (IPv6)');
  });
});

describe('a source zone of one address family', () => {
  const inbound = (cidrs: string[]) =>
    model([{ name: 'app', self: true, cidrs: ['10.0.0.0/24'] }, { name: 'internet', external: true, cidrs }], [conn('https-in', 'internet', 'app', { direction: 'inbound' })]);

  it('0.0.0.0/0 alone admits every IPv4 address and no IPv6 one (it used to drop the match: `tcp dport 443 accept` in table inet, and in ip6tables)', async () => {
    const m = inbound(['0.0.0.0/0']);
    const nft = (await emit(m, 'nftables')).text;
    expect(nft).toMatch(/^\s+ip saddr @zone_internet tcp dport 443 accept$/m);
    expect(nft).not.toMatch(/^\s+tcp dport 443 accept$/m);
    expect((await emit(m, 'iptables')).text).toContain('-A INPUT -s 0.0.0.0/0 -p tcp --dport 443 -m comment --comment "https-in" -j ACCEPT');
    expect((await emit(m, 'ip6tables')).text).not.toMatch(/--dport 443 .*-j ACCEPT/);
    expect(parseAllDocuments((await emit(m, 'cilium')).text).map((d) => JSON.stringify(d.toJS()))).not.toContainEqual(expect.stringContaining('world'));
  });

  it('0.0.0.0/0 with ::/0 is anywhere: no source match', async () => {
    const nft = (await emit(inbound(['0.0.0.0/0', '::/0']), 'nftables')).text;
    expect(nft).toMatch(/^\s+tcp dport 443 accept$/m);
    expect((await emit(inbound(['0.0.0.0/0', '::/0']), 'ip6tables')).text).toContain('-A INPUT -p tcp --dport 443 -m comment --comment "https-in" -j ACCEPT');
  });
});

describe('squid', () => {
  it('listens on loopback, never allows without a source, and allows every port of a range', async () => {
    const m = model([{ name: 'app' }, { name: 'internet', external: true }], [conn('api', 'app', 'internet', { hosts: ['api.example.com'], ports: ['8443-8445'] })]);
    const { text, warnings } = await emit(m, 'squid');
    expect(text).toContain('\nhttp_port 127.0.0.1:3128\n');
    expect(text).not.toMatch(/^http_port 3128$/m);
    expect(text).toContain('acl ports_connect port 8443-8445');
    expect(text).not.toMatch(/^http_access allow dst_/m);
    expect(text).toContain('# PLACEHOLDER http_access allow src_app dst_api_example_com ports_8443_8445');
    expect(warnings).toEqual(['squid: api left commented out: CIDRs of zone app are not given']);
  });
});

describe('gateway mode', () => {
  it('a flow from outside to outside is no rule, so internal zones do not inherit it', async () => {
    const m = model(
      [{ name: 'internet', external: true, cidrs: ['0.0.0.0/0'] }, { name: 'machines', cidrs: ['10.1.0.0/16'] }],
      [conn('metalctl-github', 'internet', 'internet', { hosts: ['github.com'] }), conn('pxe', 'machines', 'internet', { hosts: ['192.0.2.1'] })],
    );
    const rs = await buildRuleset(m);
    expect(rs.rules.map((r) => r.names.join())).toEqual(['pxe']);
    expect(rs.skipped).toContainEqual({ name: 'metalctl-github', chain: 'forward', reason: 'outside the system: from internet to internet does not cross a gateway between zones' });
    expect((await emit(m, 'nftables')).text).not.toMatch(/^\s+ip daddr @host_github_com .*accept$/m);
  });
});

describe('Kubernetes NetworkPolicy and Cilium', () => {
  const m = () =>
    model(
      [{ name: 'app' }, { name: 'db', cidrs: ['10.2.0.0/24'] }, { name: 'partner', external: true }, { name: 'internet', external: true }],
      [
        conn('to-partner', 'app', 'partner'),
        conn('to-db', 'app', 'db', { scope: 'cluster', ports: [5432], protocol: 'PostgreSQL' }),
        conn('to-v6', 'db', 'internet', { hosts: ['2001:db8::10'] }),
        conn('to-name', 'db', 'internet', { hosts: ['api.example.com'] }),
      ],
    );

  it('NetworkPolicy never writes a placeholder CIDR: the rule is left out and named', async () => {
    const { text, warnings } = await emit(m(), 'networkpolicy');
    expect(text).not.toMatch(/cidr: <|cidr: "</);
    expect(warnings).toContain('networkpolicy: egress rule to-partner left out — zone partner has no addresses (CIDRs of zone partner, not given in the manifest); give CIDRs in the manifest or use --resolve');
    expect(text).toContain('# LEFT OUT networkpolicy: egress rule to-partner left out');
  });

  it('Cilium gives DNS to every zone with egress, and an IPv6 literal is a CIDR, not an FQDN', async () => {
    const docs = parseAllDocuments((await emit(m(), 'cilium')).text).map((d) => d.toJS());
    for (const d of docs) expect(d.spec.egress[0].toPorts?.[0]?.rules?.dns, d.metadata.name).toBeDefined();
    const db = docs.find((d) => d.metadata.name === 'ferry-m-db');
    expect(db.spec.egress).toContainEqual({ toCIDRSet: [{ cidr: '2001:db8::10/128' }], toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }] });
    expect(JSON.stringify(docs)).not.toContain('"matchName":"2001:db8::10"');
  });
});

describe('security groups', () => {
  const m = () => model([{ name: 'app' }, { name: 'db' }], [conn('to-db', 'app', 'db', { scope: 'cluster', ports: [5432] }), conn('db-in', 'db', 'db', { scope: 'cluster', ports: [5433] })]);

  it('OpenStack: every group gets an inline egress rule, so Heat deletes Neutron\'s default allow-all egress', async () => {
    const hot = parse((await emit(m(), 'openstack-sg')).text);
    for (const [name, r] of Object.entries(hot.resources as Record<string, { type: string; properties: { rules?: Array<{ direction: string }> } }>)) {
      if (r.type === 'OS::Neutron::SecurityGroup') expect(r.properties.rules?.some((x) => x.direction === 'egress'), name).toBe(true);
    }
  });

  it('with --zone, references to groups the template does not create are parameters', async () => {
    const hot = parse((await emit(m(), 'openstack-sg', 'db')).text);
    const resources = hot.resources as Record<string, { properties: Record<string, unknown> }>;
    const refs = JSON.stringify(resources).match(/"get_resource":"[^"]+"/g) ?? [];
    for (const r of refs) expect(Object.keys(resources)).toContain(r.split('"')[3]);
    expect(hot.parameters).toHaveProperty('sg_app_id');
    const cfn = parse((await emit(m(), 'aws-sg', 'db')).text);
    const ids = Object.keys(cfn.Resources);
    for (const g of JSON.stringify(cfn.Resources).match(/"Fn::GetAtt":\["[^"]+"/g) ?? []) expect(ids).toContain(g.split('"')[3]);
    expect(cfn.Parameters.SgAppId).toEqual({ Type: 'AWS::EC2::SecurityGroup::Id', Description: 'Existing security group of zone app (not created by this template)' });
  });
});
