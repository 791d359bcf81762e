import { createServer, type Server } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { FIREWALL_FORMATS } from '../../src/audit/firewall/emit.js';
import { mustRunFerry, runCommand, runFerry } from '../support/cli.js';
import { loadValidators, validateFirewall } from '../support/firewall-validate.js';

/**
 * A platform engineer's job (new-user round 36): an air-gapped RKE2 cluster (3 servers, agents,
 * Canal or Cilium, an admin zone, an external load balancer, the site's NTP/DNS), dual stack.
 * RKE2's "inbound network rules" table becomes manifests/rke2.yaml; the inventory, every firewall
 * format for the server zone and the agent zone, and a probe against loopback stand-ins are
 * produced and checked by their tools. (newuser30 covered IP protocols by number, SCTP and
 * transports implied by the protocol; this round covers what RKE2's table adds.)
 *
 * What tripped (old code):
 * - ICMP could only be the whole protocol: RKE2's "ICMP 8/0" (Cilium health, echo request) became
 *   `meta l4proto { icmp, ipv6-icmp }`, every ICMP message of both families (timestamp, redirect…).
 *   `icmpTypes` / `icmpv6Types` did not exist: the manifest was refused.
 * - `--enable` matched a condition by substring: `--enable a` turned on "canal CNI" and "wireguard
 *   encryption"; a typo (`--enable cilum`) enabled nothing, silently.
 * - `probe` dropped UDP and ICMP flows from its report without a word and tried the first port of
 *   2379-2381 as if it were the range.
 */
let work: string;
const manifest = path.resolve('manifests', 'rke2.yaml');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser36-'));
  await loadValidators();
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the inventory writes what the RKE2 table says', () => {
  it('md, csv and json: ICMP 8/0 (and ICMPv6 128/0) as messages, port ranges, NodePorts over tcp and udp', async () => {
    const json = JSON.parse((await mustRunFerry(['inventory', manifest, '--format', 'json'])).stdout);
    const rows = [...json.inbound, ...json.outbound, ...json.internal];
    const ports = Object.fromEntries(rows.map((r: { name: string; ports: string }) => [r.name, r.ports]));
    expect(ports).toMatchObject({
      'cilium-health-icmp': 'icmp 8/0; icmpv6 128/0',
      etcd: '2379-2381/tcp',
      'nodeports-agents': '30000-32767/tcp+udp',
      wireguard: '51820-51821/udp',
    });
    for (const format of ['md', 'csv']) expect((await mustRunFerry(['inventory', manifest, '--format', format])).stdout).toContain('icmp 8/0; icmpv6 128/0');
  });
});

describe('every firewall format, for the server zone and the agent zone, Cilium enabled', () => {
  const out: Record<string, { text: string; stderr: string }> = {};
  beforeAll(async () => {
    for (const zone of ['servers', 'agents'])
      for (const f of FIREWALL_FORMATS) {
        const r = await mustRunFerry(['firewall', manifest, '--zone', zone, '--enable', 'cilium', '--format', f]);
        out[`${zone}.${f}`] = { text: r.stdout, stderr: r.stderr };
      }
  });

  it('each passes its validator (nft -c, iptables-restore --test, ip6tables-restore --test, squid -k parse, the schemas)', async () => {
    for (const zone of ['servers', 'agents']) for (const f of FIREWALL_FORMATS) await validateFirewall(work, f, out[`${zone}.${f}`].text, `rke2-${zone}-${f}`);
  });

  it('nftables, iptables and ip6tables allow echo request only, each family its own type; never all of ICMP', () => {
    const nft = out['servers.nftables'].text;
    expect(nft).toContain('ip saddr @zone_agents icmp type 8 icmp code 0 accept');
    expect(nft).toContain('ip6 saddr @zone_agents_v6 icmpv6 type 128 icmpv6 code 0 accept');
    expect(out['agents.nftables'].text).toContain('ip daddr @zone_servers icmp type 8 icmp code 0 accept');
    for (const zone of ['servers', 'agents']) expect(out[`${zone}.nftables`].text).not.toMatch(/meta l4proto \{ icmp, ipv6-icmp \}/);
    expect(out['servers.iptables'].text).toMatch(/^-A INPUT -s 10\.50\.1\.0\/24 -p icmp --icmp-type 8\/0 -m comment/m);
    expect(out['servers.ip6tables'].text).toMatch(/^-A INPUT -s fd00:51::\/64 -p ipv6-icmp --icmpv6-type 128\/0 -m comment/m);
    expect(out['agents.iptables'].text).toMatch(/^-A OUTPUT -d 10\.50\.0\.0\/28 -p icmp --icmp-type 8\/0 /m);
    for (const zone of ['servers', 'agents']) expect(out[`${zone}.iptables`].text).not.toMatch(/-p icmp (-m comment|-j)/);
  });

  it('port ranges and tcp+udp: 2379-2381 between the servers, NodePorts from the load balancer over both', () => {
    expect(out['servers.nftables'].text).toMatch(/ip saddr @zone_servers tcp dport \{ 2379-2381, 6443, 9345, 10250 \} accept/);
    // A server is both ends of etcd: its output chain allows it to the other servers too.
    expect(out['servers.nftables'].text).toMatch(/chain output[\s\S]*ip daddr @zone_servers tcp dport \{[^}]*2379-2381/);
    const agents = out['agents.nftables'].text;
    for (const p of ['tcp', 'udp']) for (const fam of ['ip saddr @zone_lb', 'ip6 saddr @zone_lb_v6']) expect(agents).toContain(`${fam} ${p} dport 30000-32767 accept`);
    expect(out['agents.iptables'].text).toMatch(/-p udp -m multiport --dports 30000:32767 /);
  });

  it('the Canal and WireGuard ports stay commented out when only Cilium is enabled', () => {
    const nft = out['servers.nftables'].text;
    expect(nft).toMatch(/not allowed: canal-vxlan .*optional \(canal CNI\)/);
    expect(nft).not.toMatch(/^\s+ip saddr @zone_agents udp dport 8472 accept/m);
    expect(nft).toMatch(/^\s+#\s+ip saddr @zone_agents udp dport 8472 accept/m);
  });

  it('AWS and OpenStack: echo request by type and code, ICMPv6 as its own protocol', () => {
    const aws = parse(out['servers.aws-sg'].text) as { Resources: Record<string, { Properties: Record<string, unknown> }> };
    const icmp = Object.values(aws.Resources).map((r) => r.Properties).filter((p) => p.IpProtocol === 'icmp' || p.IpProtocol === 'icmpv6');
    expect(icmp.map((p) => [p.IpProtocol, p.FromPort, p.ToPort]).sort()).toEqual([['icmp', 8, 0], ['icmpv6', 128, 0]]);
    const heat = parse(out['servers.openstack-sg'].text) as { resources: Record<string, { type: string; properties: Record<string, unknown> }> };
    const rules = Object.values(heat.resources).filter((r) => r.type === 'OS::Neutron::SecurityGroupRule').map((r) => r.properties);
    const icmpRules = rules.filter((p) => String(p.protocol).includes('icmp'));
    expect(icmpRules.map((p) => [p.ethertype, p.protocol, p.port_range_min, p.port_range_max]).sort()).toEqual([['IPv4', 'icmp', 8, 0], ['IPv6', 'ipv6-icmp', 128, 0]]);
  });

  it('NetworkPolicy and Cilium cannot say "echo request, code 0": the rule is left out with a warning, never all ICMP', () => {
    for (const f of ['networkpolicy', 'cilium']) {
      const o = out[`servers.${f}`];
      expect(o.stderr).toMatch(new RegExp(`${f}: ingress rule cilium-health-icmp .*cannot be expressed`));
      expect(o.text).toMatch(/^# LEFT OUT .*cilium-health-icmp/m);
      for (const doc of parseAllDocuments(o.text).map((d) => d.toJS()))
        for (const entry of doc.spec.ingress ?? []) if (Object.keys(entry).length) expect(entry.ports ?? entry.toPorts, `${f} ${doc.metadata.name}`).toBeDefined();
    }
  });

  it(
    'in a real kernel: an agent\'s echo request reaches a server, its ICMP timestamp request does not (it did with "all of ICMP")',
    async () => {
      const nftFile = path.join(work, 'servers.nft');
      await writeFile(nftFile, out['servers.nftables'].text);
      // Two network namespaces on a veth pair: an agent (10.50.1.5) and a server (10.50.0.2) loading the server zone's rules.
      const a = `nu36a${process.pid}`;
      const b = `nu36b${process.pid}`;
      const send = (type: number, reply: number) =>
        `ip netns exec ${a} python3 -c 'import socket,struct
def cs(x):
  s=sum(struct.unpack("!%dH"%(len(x)//2),x)); s=(s>>16)+(s&0xffff); s+=s>>16; return ~s&0xffff
s=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_ICMP); s.settimeout(2)
h=struct.pack("!BBHHH",${type},0,0,36,1)+bytes(12); h=h[:2]+struct.pack("!H",cs(h))+h[4:]
s.sendto(h,("10.50.0.2",0))
try:
  while True:
    d,_=s.recvfrom(200)
    if d[20]==${reply}: print("type ${type}: answered"); break
except socket.timeout: print("type ${type}: no answer")'`;
      const script = [
        'set -e',
        `ip netns add ${a}; ip netns add ${b}`,
        `trap 'ip netns del ${a}; ip netns del ${b}' EXIT`,
        `ip link add v${a} netns ${a} type veth peer name v${b} netns ${b}`,
        `ip -n ${a} addr add 10.50.1.5/16 dev v${a}; ip -n ${b} addr add 10.50.0.2/16 dev v${b}`,
        `ip -n ${a} link set v${a} up; ip -n ${b} link set v${b} up`,
        `ip netns exec ${b} nft -f ${nftFile}`,
        send(8, 0),
        send(13, 14),
      ].join('\n');
      const r = await runCommand('sh', ['-c', script], { timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('type 8: answered');
      expect(r.stdout).toContain('type 13: no answer');
    },
    60_000,
  );
});

describe('what the manifest and --enable may say', () => {
  /** Two zones, a → b, and these connections (each a → b inside the cluster unless it says otherwise). */
  const twoZones = (...conns: Array<Record<string, unknown>>) =>
    stringify({
      apiVersion: 'ferry/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 't' },
      zones: [{ name: 'a', cidrs: ['10.1.0.0/24'] }, { name: 'b', cidrs: ['10.2.0.0/24'] }],
      connections: conns.map((c, i) => ({ name: `c${i + 1}`, from: 'a', to: 'b', direction: 'internal', scope: 'cluster', purpose: 'x', ...c })),
    });
  it('ICMP types only on transport icmp and within 0-255, refused naming the field', async () => {
    const f = path.join(work, 'icmp.yaml');
    await writeFile(f, twoZones({ protocol: 'NTP', ports: [123], icmpTypes: ['8/0'] }));
    let r = await runFerry(['inventory', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/connections\[0\]\.icmpTypes: only a connection with transport icmp has ICMP types \(this one is udp\)/);
    await writeFile(f, twoZones({ protocol: 'ICMP', icmpTypes: ['8/300'] }));
    r = await runFerry(['inventory', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/connections\[0\]\.icmpTypes\[0\]: 8\/300 is not an ICMP type\/code/);
    // Only ICMPv4 listed: no ICMPv6 line at all (that family allowed nothing), said in the file.
    await writeFile(f, twoZones({ protocol: 'ICMP', icmpTypes: [8] }));
    const ip6 = (await mustRunFerry(['firewall', f, '--format', 'ip6tables'])).stdout;
    expect(ip6).not.toMatch(/^-A FORWARD .*icmp/m);
    const nft = (await mustRunFerry(['firewall', f, '--format', 'nftables'])).stdout;
    expect(nft).toContain('ip saddr @zone_a ip daddr @zone_b icmp type 8 accept');
    expect(nft).not.toContain('icmpv6 type 128');
  });

  it('--enable names a condition by whole words; a fragment or a typo is refused, not silently nothing or more', async () => {
    const f = path.join(work, 'cni.yaml');
    await writeFile(
      f,
      twoZones(
        { protocol: 'VXLAN', ports: [8472], requirement: 'optional', condition: 'canal CNI' },
        { protocol: 'HTTP', ports: [4240], requirement: 'optional', condition: 'cilium CNI' },
        { protocol: 'WireGuard', ports: ['51820-51821'], requirement: 'optional', condition: 'wireguard encryption' },
      ),
    );
    for (const e of ['a', 'ca', 'cilum']) {
      const r = await runFerry(['firewall', f, '--enable', e, '--format', 'nftables']);
      expect(r.code, `--enable ${e}: ${r.stdout}`).toBe(2);
      expect(r.stderr).toContain(`--enable "${e}": names no connection, endpoint or condition of t`);
    }
    const canal = (await mustRunFerry(['firewall', f, '--enable', 'canal', '--format', 'nftables'])).stdout;
    expect(canal).toMatch(/^\s+ip saddr @zone_a ip daddr @zone_b udp dport 8472 accept/m);
    expect(canal).not.toMatch(/^\s+ip saddr @zone_a ip daddr @zone_b (tcp dport 4240|udp dport 51820-51821) accept/m);
  });
});

describe('probe against loopback stand-ins says what it did not test', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((s) => s.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('UDP (NTP), ICMP and the rest of a port range are named as not probed (unknown), in text and JSON', async () => {
    const f = path.join(work, 'probe.yaml');
    await writeFile(
      f,
      `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: site }
zones:
  - { name: servers, cidrs: [10.50.0.0/28] }
  - { name: site, title: Site services, cidrs: [127.0.0.1/32], external: true }
connections:
  - { name: registry, from: servers, to: site, hosts: [127.0.0.1], direction: outbound, scope: external, protocol: HTTPS, ports: ["${port}-${port + 2}"], purpose: site registry }
  - { name: ntp, from: servers, to: site, hosts: [127.0.0.1], direction: outbound, scope: external, protocol: NTP, ports: [123], purpose: time }
  - { name: dns, from: servers, to: site, hosts: [127.0.0.1], direction: outbound, scope: external, protocol: DNS, ports: [53], purpose: names }
  - { name: ping, from: servers, to: site, hosts: [127.0.0.1], direction: outbound, scope: external, protocol: ICMP, purpose: reachability }
`,
    );
    const text = await runFerry(['probe', f, '--timeout', '2000']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1 +${port} +registry +allowed +reachable`, 'm'));
    expect(text.stdout).toContain(`warning: connection registry: only the first port of ${port}-${port + 2} probed (to 127.0.0.1); the rest of the range is unknown`);
    expect(text.stdout).toContain('warning: connection ntp (123/udp to 127.0.0.1): not probed');
    expect(text.stdout).toContain('warning: connection dns: its UDP half (53/udp to 127.0.0.1) not probed');
    expect(text.stdout).toContain('warning: connection ping (icmp to 127.0.0.1): not probed');
    const json = JSON.parse((await mustRunFerry(['probe', f, '--timeout', '2000', '--json'])).stdout);
    expect(json.warnings.filter((w: string) => /not probed|unknown/.test(w))).toHaveLength(4);
  });
});
