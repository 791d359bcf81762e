import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildConnectionModel } from '../../src/audit/model.js';
import { buildRuleset } from '../../src/audit/firewall/ruleset.js';
import { emitFirewall } from '../../src/audit/firewall/emit.js';
import { validateManifest } from '../../src/kinds/schema.js';
import { runCommand, runPrivileged } from '../support/cli.js';

/**
 * Hostile pass 16: the firewall files ferry writes for nft, iptables-restore, squid and the
 * Kubernetes API, from a crafted manifest's zone CIDRs, hosts, refs and zone titles (the
 * manifest schema takes any string for them).
 *
 * What tripped:
 * - a zone CIDR `10.0.0.0/8 }\n }\n chain evil {…` closed the nft set and defined a chain of its
 *   own (and its text became iptables arguments); `10.0.0.0/8, 0.0.0.0/0` widened the set to
 *   everything — both loaded;
 * - a host `good.example .evil.example` put a second domain into squid's dstdomain ACL; a host
 *   `<v>\nhttp_access allow all` counted as a placeholder and wrote its own squid line;
 *   `192.0.2.1/99` and `fe80::1%eth0` were taken as addresses (nft refuses the whole file);
 * - a ref cut at 250 characters right after a backslash: iptables-restore read `\"` as an escaped
 *   quote, took ` -j ACCEPT` into the comment and loaded the rule with no target (the allow lost);
 * - a zone title with line breaks in squid's PLACEHOLDER comment and in NetworkPolicy/Cilium's
 *   `# LEFT OUT` header started lines of their own (a squid directive, a YAML key of the first
 *   document).
 * Refused (VALIDATION, every value named at once) where the value enters the ruleset; comments
 * are one line.
 */
const loaded = (raw: unknown) => ({ manifest: validateManifest(raw, 'inline'), file: 'inline.yaml', dir: '.', digest: 'sha256:x' });
const conn = (name: string, from: string, to: string, extra: Record<string, unknown> = {}) => ({ name, from, to, direction: 'outbound', scope: 'external', protocol: 'HTTPS', ports: [443], purpose: name, ...extra });
const model = (zones: unknown[], connections: unknown[]) => buildConnectionModel(loaded({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'm' }, zones, connections }));
const emit = async (m: ReturnType<typeof model>, format: string) => emitFirewall(await buildRuleset(m, { now: () => new Date(0) }), format);
const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: { code?: string; message: string; details?: string[] }) => e);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h16-fw-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const zones = (aCidrs: string[]) => [
  { name: 'a', cidrs: aCidrs },
  { name: 'b', cidrs: ['10.1.0.0/16'] },
];

describe('zone CIDRs and hosts are exactly one address, CIDR or name', () => {
  it('a CIDR closing the nft set (a chain of its own) or adding 0.0.0.0/0 is refused, each named', async () => {
    const good = await emit(model(zones(['10.0.0.0/8']), [conn('c1', 'a', 'b', { direction: 'internal', scope: 'cluster' })]), 'nftables');
    const file = path.join(dir, 'good.nft');
    await writeFile(file, good.text);
    expect((await runPrivileged('/usr/sbin/nft', ['-c', '-f', file])).code).toBe(0);

    const chain = '10.0.0.0/8 }\n  }\n  chain evil {\n    type filter hook forward priority -1; policy accept;\n  }\n  set x {\n    type ipv4_addr\n    elements = { 10.0.0.1';
    const m = model(zones([chain, '10.0.0.0/8, 0.0.0.0/0', '10.2.0.0/33']), [conn('c1', 'a', 'b', { direction: 'internal', scope: 'cluster' })]);
    for (const format of ['nftables', 'iptables', 'squid']) {
      const e = await refusal(emit(m, format));
      expect(e?.code, format).toBe('VALIDATION');
      expect(e!.details).toEqual([
        `zone a: CIDR ${JSON.stringify(chain)} is not an IP address or CIDR`,
        'zone a: CIDR "10.0.0.0/8, 0.0.0.0/0" is not an IP address or CIDR',
        'zone a: CIDR "10.2.0.0/33" is prefix length /33 is out of range for IPv4',
      ]);
    }
  });

  it('a host adding a squid domain or line, or an address nft refuses, is refused; names, placeholders and addresses pass', async () => {
    const hosts = ['good.example .evil.example', '<v>\nhttp_access allow all', '192.0.2.1/99', 'fe80::1%eth0', 'a.example/path'];
    const e = await refusal(emit(model(zones(['10.0.0.0/8']), [conn('c1', 'a', 'b', { hosts })]), 'squid'));
    expect(e?.code).toBe('VALIDATION');
    expect(e!.details).toEqual(hosts.map((h) => `connection c1: host ${JSON.stringify(h)} is ${h === '192.0.2.1/99' ? 'prefix length /99 is out of range for IPv4' : 'not a host name or IP address'}`));

    // The proxy of a proxied endpoint is a host too.
    const withProxy = buildConnectionModel(
      loaded({
        apiVersion: 'ferry/v1alpha1',
        kind: 'Manifest',
        metadata: { name: 'm' },
        zones: zones(['10.0.0.0/8']),
        endpoints: [{ name: 'e', category: 'telemetry', hosts: ['t.example'], from: 'a', to: 'b', purpose: 'p', mitigation: { type: 'proxied', proxy: 'http://proxy .evil.example:3128' } }],
      }),
    );
    const p = await refusal(emit(withProxy, 'squid'));
    expect(p?.code).toBe('VALIDATION');
    expect(p!.details).toEqual(['endpoint e (proxy): host "proxy .evil.example" is not a host name or IP address']);

    const fine = await emit(model(zones(['10.0.0.0/8', 'fd00::/8']), [conn('c1', 'a', 'b', { hosts: ['registry.example.com', '<mirror_host>', 'api.<region>.example.com', '192.0.2.7', '2001:db8::1', '198.51.100.0/24'] })]), 'squid');
    expect(fine.text).toContain('acl dst_registry_example_com dstdomain registry.example.com\n');
    const file = path.join(dir, 'fine.squid.conf');
    await writeFile(file, fine.text);
    const r = await runCommand('/usr/sbin/squid', ['-k', 'parse', '-f', file]);
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('comments stay comments', () => {
  it('iptables: a comment cut after a backslash keeps -j ACCEPT a target (checked by loading it)', async () => {
    // `c1 [` + 245 characters: the 250-character cut ends on the backslash.
    const ref = `${'r'.repeat(245)}\\tail`;
    const { text } = await emit(model(zones(['10.0.0.0/8']), [conn('c1', 'a', 'b', { ref, direction: 'internal', scope: 'cluster' })]), 'iptables');
    const rule = text.split('\n').find((l) => l.startsWith('-A FORWARD -s 10.0.0.0/8'))!;
    expect(rule).toMatch(/" -j ACCEPT$/);
    await writeFile(path.join(dir, 'rules.v4'), text);
    const ns = process.getuid?.() === 0 ? ['-n'] : ['-rn'];
    const loadedRules = await runCommand('unshare', [...ns, 'sh', '-c', `/usr/sbin/iptables-restore < '${path.join(dir, 'rules.v4')}' && /usr/sbin/iptables-save -t filter`]);
    expect(loadedRules.code, loadedRules.stderr).toBe(0);
    const saved = loadedRules.stdout.split('\n').find((l) => l.startsWith('-A FORWARD -s 10.0.0.0/8'));
    expect(saved).toMatch(/ -j ACCEPT$/);
    expect(saved).not.toContain('\\');
  });

  it('a zone title with line breaks stays inside the squid comment and the YAML header comment', async () => {
    const title = 'Ops\nhttp_access allow all\nkind: Secret';
    const zs = [
      { name: 'app', cidrs: ['10.0.0.0/24'] },
      { name: 'ops', title, external: true },
    ];
    const squid = await emit(model(zs, [conn('c1', 'ops', 'app', { hosts: ['svc.example'], direction: 'inbound' })]), 'squid');
    expect(squid.text.split('\n')).not.toContain('http_access allow all');
    for (const format of ['networkpolicy', 'cilium']) {
      const out = await emit(model(zs, [conn('c1', 'ops', 'app', { direction: 'inbound' })]), format);
      expect(out.warnings.join('\n'), format).toContain('left out');
      const docs = parseAllDocuments(out.text);
      expect(docs.every((d) => d.errors.length === 0), format).toBe(true);
      expect(docs.map((d) => (d.toJS() as { kind: string }).kind).filter((k) => k === 'Secret'), format).toEqual([]);
    }
  });
});
