import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { transportFromProtocol } from '../../src/kinds/endpoint/spec.js';
import { FIREWALL_FORMATS } from '../../src/audit/firewall/emit.js';
import { runCommand, runFerry } from '../support/cli.js';
import { loadValidators, validateFirewall } from '../support/firewall-validate.js';

/**
 * A network engineer's job (new-user round 30): the site's vendor documents use more than TCP and
 * UDP to fixed ports — an IPsec site-to-site VPN (IKE UDP 500/4500, ESP = IP protocol 50, AH = 51),
 * a keepalived pair (VRRP = IP protocol 112 to 224.0.0.18), Pacemaker/Corosync (UDP 5404-5406),
 * Diameter over SCTP 3868, an ICMP health check, and a partner's "management VPN" that names no
 * protocol. manifests/edge-ha-vpn.yaml models them; the inventory and every firewall format are
 * produced and checked by their tools and schemas.
 *
 * What tripped (old code):
 * - `transport` took tcp/udp/tcp+udp/icmp/unix/other only: ESP, AH, VRRP, SCTP could not be written.
 * - `protocol: ESP` (or GRE, VRRP) with no transport defaulted to TCP, and with no ports that is
 *   `meta l4proto tcp` — every TCP port to the peer, and no ESP at all. `protocol: management VPN`
 *   became TCP too: a guess where the document says nothing.
 * - NetworkPolicy and Cilium wrote an ICMP rule (or any rule without ports) as a peer with no
 *   ports: every protocol and port to that peer.
 */
let work: string;
const manifest = path.resolve('manifests', 'edge-ha-vpn.yaml');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser30-'));
  await loadValidators();
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function ferryOk(args: string[]) {
  const r = await runFerry(args);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

describe('the inventory names the IP protocols the documents give', () => {
  it('md, csv and json: ESP/AH/VRRP by IANA number, SCTP ports, the vague VPN as unknown', async () => {
    const json = JSON.parse((await ferryOk(['inventory', manifest, '--format', 'json'])).stdout);
    const rows = [...json.inbound, ...json.outbound, ...json.internal];
    const ports = Object.fromEntries(rows.map((r: { name: string; ports: string }) => [r.name, r.ports]));
    expect(ports).toMatchObject({
      ike: '500/udp, 4500/udp',
      esp: 'IP protocol 50 (esp)',
      ah: 'IP protocol 51 (ah)',
      vrrp: 'IP protocol 112 (vrrp)',
      'corosync-totem': '5404-5406/udp',
      diameter: '3868/sctp',
      'health-ping': 'icmp',
      'partner-mgmt-vpn': 'unknown (no IP protocol given)',
    });
    const csv = (await ferryOk(['inventory', manifest, '--format', 'csv'])).stdout;
    expect(csv).toContain('IP protocol 50 (esp)');
    expect(csv).toContain('3868/sctp');
    const md = (await ferryOk(['inventory', manifest, '--format', 'md'])).stdout;
    expect(md).toContain('IP protocol 112 (vrrp)');
    expect(md).toContain('unknown (no IP protocol given)');
  });
});

describe('every firewall format: the protocol matched, or the rule left out with a warning', () => {
  const out: Record<string, { text: string; stderr: string }> = {};
  beforeAll(async () => {
    for (const f of FIREWALL_FORMATS) {
      const r = await ferryOk(['firewall', manifest, '--format', f]);
      out[f] = { text: r.stdout, stderr: r.stderr };
    }
  });

  it('each passes its validator (nft -c, iptables-restore --test, squid -k parse, the schemas)', async () => {
    for (const f of FIREWALL_FORMATS) await validateFirewall(work, f, out[f].text, `edge-${f}`);
  });

  it('nftables and iptables match ESP and VRRP by protocol number, SCTP by port; nothing is all of TCP', () => {
    const nft = out.nftables.text;
    expect(nft).toContain('ip daddr @zone_partner meta l4proto 50 accept');
    expect(nft).toContain('ip daddr @host_224_0_0_18 meta l4proto 112 accept');
    expect(nft).toContain('sctp dport 3868 accept');
    expect(nft).not.toMatch(/meta l4proto tcp/);
    expect(nft).toMatch(/not allowed: partner-mgmt-vpn .*transport unknown/);
    const ipt = out.iptables.text;
    expect(ipt).toMatch(/-d 203\.0\.113\.10\/32 -p 50 -m comment/);
    expect(ipt).toMatch(/-p sctp --dport 3868 /);
    expect(ipt).not.toMatch(/^-A FORWARD .*-p tcp -m comment/m);
  });

  it('the ruleset loads into a real kernel (nft in a fresh network namespace) with ESP, VRRP and SCTP rules', async () => {
    const file = path.join(work, 'edge.nft');
    await writeFile(file, out.nftables.text);
    const r = await runCommand('unshare', ['-n', 'sh', '-c', `nft -f ${file} && nft list ruleset`]);
    expect(r.code, r.stderr).toBe(0);
    // nft lists protocol numbers by their /etc/protocols names where it knows them.
    expect(r.stdout).toMatch(/meta l4proto (esp|50) accept/);
    expect(r.stdout).toMatch(/meta l4proto (vrrp|112) accept/);
    expect(r.stdout).toMatch(/sctp dport 3868 accept/);
  });

  it('NetworkPolicy: ICMP, ESP, VRRP left out with a warning; every allowed entry names its protocol', () => {
    const np = out.networkpolicy;
    for (const name of ['esp', 'vrrp', 'health-ping']) expect(np.stderr).toMatch(new RegExp(`networkpolicy: (egress|ingress) rule ${name} .*cannot be expressed`));
    for (const doc of parseAllDocuments(np.text).map((d) => d.toJS())) {
      for (const dir of ['ingress', 'egress'])
        for (const entry of doc.spec[dir] ?? []) {
          expect(entry.ports, `${doc.metadata.name} ${dir}: an entry without ports allows every protocol`).toBeDefined();
          for (const p of entry.ports) expect(['TCP', 'UDP', 'SCTP']).toContain(p.protocol);
        }
    }
    expect(np.text).toMatch(/protocol: SCTP\n\s+port: 3868/);
  });

  it('Cilium: VRRP as a protocol, ESP and ICMP left out with a warning; no entry without ports', () => {
    const c = out.cilium;
    expect(c.stderr).toMatch(/cilium: egress rule esp .*cannot be expressed/);
    expect(c.stderr).toMatch(/cilium: (egress|ingress) rule health-ping .*cannot be expressed/);
    expect(c.text).toMatch(/- protocol: VRRP/);
    for (const doc of parseAllDocuments(c.text).map((d) => d.toJS()))
      for (const dir of ['ingress', 'egress'])
        for (const entry of doc.spec[dir] ?? []) if (Object.keys(entry).length) expect(entry.toPorts, `${doc.metadata.name} ${dir}`).toBeDefined();
  });

  it('AWS: ESP and VRRP by number without ports; SCTP 3868 left out (AWS would allow all of SCTP)', () => {
    const t = parse(out['aws-sg'].text) as { Resources: Record<string, { Properties: Record<string, unknown> }> };
    const rules = Object.values(t.Resources).map((r) => r.Properties).filter((p) => p.IpProtocol !== undefined && p.GroupId !== undefined);
    expect(rules.filter((p) => p.IpProtocol === '50')).toHaveLength(1);
    expect(rules.filter((p) => p.IpProtocol === '112').length).toBeGreaterThan(0);
    for (const p of rules.filter((x) => !['tcp', 'udp', 'icmp', 'icmpv6'].includes(String(x.IpProtocol)))) expect(p.FromPort).toBeUndefined();
    expect(rules.some((p) => p.IpProtocol === '132')).toBe(false);
    expect(out['aws-sg'].stderr).toMatch(/aws-sg: egress rule of cluster \(diameter .*sctp ports 3868 cannot be expressed/);
  });

  it('OpenStack: esp, vrrp and sctp by Neutron name, SCTP with its port', () => {
    const t = parse(out['openstack-sg'].text) as { resources: Record<string, { properties: Record<string, unknown> }> };
    const rules = Object.values(t.resources).map((r) => r.properties);
    expect(rules.some((p) => p.protocol === 'esp' && p.port_range_min === undefined)).toBe(true);
    expect(rules.some((p) => p.protocol === 'vrrp')).toBe(true);
    expect(rules.some((p) => p.protocol === 'sctp' && p.port_range_min === 3868 && p.port_range_max === 3868)).toBe(true);
  });
});

describe('what the manifest may say', () => {
  const base = (conn: string) => `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: t }
zones:
  - { name: a, cidrs: [10.1.0.0/24] }
  - { name: b, cidrs: [10.2.0.0/24] }
connections:
  - { name: c1, from: a, to: b, direction: internal, scope: cluster, purpose: x, ${conn} }
`;
  it('an IP protocol by IANA number becomes its keyword; 256 and ports on ESP are refused naming the field', async () => {
    const f = path.join(work, 'm.yaml');
    await writeFile(f, base('protocol: GRE tunnel, transport: 47'));
    expect((await ferryOk(['firewall', f, '--format', 'iptables'])).stdout).toMatch(/-p 47 /);
    expect((await ferryOk(['inventory', f, '--format', 'csv'])).stdout).toContain('IP protocol 47 (gre)');
    await writeFile(f, base('protocol: X, transport: 256'));
    let r = await runFerry(['inventory', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/connections\[0\]\.transport/);
    await writeFile(f, base('protocol: ESP, ports: [50]'));
    r = await runFerry(['inventory', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/connections\[0\]\.ports: transport esp \(IP protocol 50 \(esp\)\) has no ports/);
  });

  it('an endpoint over a portless protocol gets no default port 443', async () => {
    const f = path.join(work, 'e.yaml');
    await writeFile(
      f,
      `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: t }
zones:
  - { name: a, cidrs: [10.1.0.0/24] }
  - { name: internet, cidrs: [0.0.0.0/0, "::/0"], external: true }
endpoints:
  - { name: vendor-gw, category: other, hosts: [198.51.100.7], from: a, protocol: GRE, purpose: vendor GRE tunnel, mitigation: { type: exception, reason: vendor support tunnel, review: 2027-01-01 } }
`,
    );
    const nft = (await ferryOk(['firewall', f, '--format', 'nftables', '--enable', 'all'])).stdout;
    expect(nft).toContain('meta l4proto 47 accept');
    expect(nft).not.toContain('443');
  });

  it("the transport a protocol implies: an IP protocol's name is that protocol, a family of them is unknown", () => {
    const cases: Array<[string, string]> = [
      ['ESP', 'esp'],
      ['AH', 'ah'],
      ['GRE', 'gre'],
      ['VRRP', 'vrrp'],
      ['Diameter over SCTP', 'sctp'],
      ['PIM-SM', 'pim'],
      ['Corosync', 'udp'],
      ['IKE', 'udp'],
      ['IPsec', 'other'],
      ['site-to-site VPN', 'other'],
      ['IKE + ESP', 'other'],
      ['HTTPS', 'tcp'],
    ];
    expect(cases.map(([p]) => [p, transportFromProtocol(p)])).toEqual(cases);
  });
});
