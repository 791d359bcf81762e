import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditReferences } from '../../../src/audit/audit.js';
import { buildConnectionModel } from '../../../src/audit/model.js';
import { referencesIn, scanPaths } from '../../../src/audit/scan.js';
import { validateManifest } from '../../../src/kinds/schema.js';

/**
 * IPv6 literals in audited files: `http://[fd00::5]:8080/` was cut at the bracket (the finding
 * read `http://[fd00::5`), and a zone's IPv6 CIDR never matched, so an address inside the site's
 * own network was reported as undeclared egress.
 */
/** The class of each finding in `file` (written alone in a fresh directory), audited against a manifest of `model`. */
async function classesOf(file: string, text: string, model: Record<string, unknown>): Promise<Record<string, string>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-ipv6-zone-'));
  try {
    await writeFile(path.join(dir, file), text);
    const loaded = { manifest: validateManifest({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'v6' }, ...model }, 'inline'), file: 'm.yaml', dir: '.', digest: 'sha256:x' };
    const report = auditReferences(buildConnectionModel(loaded), undefined, await scanPaths([dir], dir), { manifestFile: 'm.yaml', kinds: [] });
    return Object.fromEntries(report.findings.map((f) => [f.value, f.class]));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('IPv6 literal URLs and zone CIDRs', () => {
  it('a URL with a bracketed IPv6 host is found whole, port and path included', () => {
    expect(referencesIn('endpoint: http://[fd00::5]:8080/api', false)).toEqual([{ kind: 'url', value: 'http://[fd00::5]:8080/api' }]);
    expect(referencesIn('see https://user@[2001:db8::1]/x and https://a.example.com/]', false).map((r) => r.value)).toEqual(['https://user@[2001:db8::1]/x', 'https://a.example.com/']);
  });

  it("an address inside a zone's IPv6 CIDR is internal; one outside every zone is still undeclared", async () => {
    const byValue = await classesOf('app.yaml', 'a: http://[fd00::5]:8080/api\nb: http://[2001:db8::1]/x\nc: http://10.1.2.3/\nd: http://[fd00::9]/one\n', {
      zones: [{ name: 'site', cidrs: ['10.0.0.0/8', 'fd00::/8'] }, { name: 'lab', cidrs: ['fd00::9'] }, { name: 'net', external: true }],
    });
    expect(byValue).toEqual({ 'http://[fd00::5]:8080/api': 'internal', 'http://[fd00::9]/one': 'internal', 'http://10.1.2.3/': 'internal', 'http://[2001:db8::1]/x': 'undeclared' });
  });

  it('a bare IPv6 address in text is a host; a network, a MAC address, a time or code is not', () => {
    const hosts = (t: string) => referencesIn(t, false).map((r) => r.value);
    expect(hosts('peer: 2001:db8::10')).toEqual(['2001:db8::10']);
    expect(hosts('--advertise-address=[fd00::5]:7946 --ntp 2606:4700:f1::1.')).toEqual(['fd00::5', '2606:4700:f1::1']);
    expect(hosts('gw fe80::1%eth0, full 2001:0DB8:0:0:0:ff00:42:8329')).toEqual(['fe80::1', '2001:0db8:0:0:0:ff00:42:8329']);
    expect(hosts('podSubnet: fd00:10:244::/56 serviceSubnet: fd00:10:96::/112 one 2001:db8::1/128')).toEqual(['2001:db8::1']);
    expect(hosts('mac 00:1a:2b:3c:4d:5e at 12:30:45 std::vector Bad::method sha256:abcd c0ffee::1 :: 2026-12-06T23:17:46Z')).toEqual([]);
    // an IPv4-mapped address is its IPv4 address, once
    expect(hosts('::ffff:10.0.0.1')).toEqual(['10.0.0.1']);
  });

  it('a bare IPv6 address outside every zone is undeclared egress; one in a zone or a declared endpoint is not', async () => {
    const byValue = await classesOf('corosync.conf', 'nodelist {\n  node { ring0_addr: fd00::11 }\n}\ntotem { ip_version: ipv6 }\n# upstream NTP\nserver 2001:db8:123::1 iburst\nserver 2001:db8:77::9 iburst\n', {
      zones: [{ name: 'site', cidrs: ['fd00::/8'] }, { name: 'net', external: true }],
      endpoints: [{ name: 'ntp', category: 'other', hosts: ['2001:db8:77::9'], protocol: 'NTP', ports: [123], transport: 'udp', purpose: 'time', from: 'site', to: 'net', mitigation: { type: 'exception', reason: 'site NTP', review: '2030-01-01' } }],
    });
    expect(byValue).toEqual({ 'fd00::11': 'internal', '2001:db8:123::1': 'undeclared', '2001:db8:77::9': 'declared-exception' });
  });
});
