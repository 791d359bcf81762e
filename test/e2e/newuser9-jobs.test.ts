import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gpgSign, makeGpgKey } from '../support/apt-repo.js';
import { mustRun, runFerry, runPrivileged as privileged } from '../support/cli.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * A factory / research-lab platform engineer's job (new-user round 9): bootstrap an air-gapped
 * Kubernetes cluster (kubeadm/k3s style) plus VM images. Cloud images as `files:` pinned by a
 * gpg-signed SHA256SUMS (detached and clear-signed) behind a CDN-style 302 with a download cut and
 * resumed; the registry.k8s.io control-plane images for one Kubernetes version filtered to
 * amd64+arm64; a CNI chart with `images: discover`; import into a TLS registry and a files
 * directory; `mirror-config` for containerd and k3s; `inventory` and `firewall` for the cluster's
 * nodes, checked with `nft -c -f` and `iptables-restore --test`; `audit` of the config directory.
 *
 * What tripped:
 * - `firewall` / `inventory`: the README never mentions `transport`, so the cluster's own flows
 *   were written the way the documents name them, `protocol: VXLAN` (Cilium/Flannel's overlay,
 *   8472), `protocol: WireGuard`, `protocol: UDP`, `protocol: DNS`. Every one became a TCP rule
 *   (`tcp dport { 8472, 51871 }`), which both `nft -c` and `iptables-restore --test` accept, so
 *   nothing said anything: loaded on the nodes, the default-deny ruleset drops every overlay
 *   packet and the pod network is dead. The protocol now sets the transport when none is given.
 * - `rewrite catalogue` on the Packer template (`iso_url` + `iso_checksum = "file:…/SHA256SUMS"`,
 *   Packer's way to verify against the vendor's list) refused the SHA256SUMS URL as "not in the
 *   lock, though its origin is mirrored", although the lock pins it and import wrote it to the
 *   file mirror (where `sha256sum -c` and `gpgv` use it); `audit` of the Packer directory called it
 *   undeclared. The checksum file and its signature now map like the file itself.
 */
let work: string;
const TOOLS = { nft: '/usr/sbin/nft', iptablesRestore: '/usr/sbin/iptables-restore' };

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser9-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('firewall for the cluster nodes: the protocol a connection names sets its transport', () => {
  const site = () => path.join(work, 'k8s-site.yaml');
  beforeAll(async () => {
    await writeFile(
      site(),
      [
        'apiVersion: ferry/v1alpha1',
        'kind: Manifest',
        'metadata: { name: k8s-site }',
        'zones:',
        '  - { name: nodes, title: Cluster nodes, cidrs: [10.20.0.0/24], self: true }',
        '  - { name: mirror, title: Mirror host, cidrs: [10.20.1.10/32] }',
        '  - { name: admin, title: Admin workstations, cidrs: [10.30.0.0/24] }',
        '  - { name: dns, title: Site resolvers, cidrs: [10.20.1.53/32] }',
        '  - { name: ntp, title: Site time servers, cidrs: [10.20.1.123/32] }',
        'connections:',
        '  - { name: kube-apiserver, from: admin, to: nodes, direction: inbound, scope: cluster, protocol: HTTPS, ports: [6443], purpose: kubectl }',
        '  - { name: etcd-peer, from: nodes, to: nodes, direction: internal, scope: cluster, protocol: TLS, ports: ["2379-2380"], purpose: etcd }',
        '  - { name: cilium-vxlan, from: nodes, to: nodes, direction: internal, scope: cluster, protocol: VXLAN, ports: [8472], purpose: pod overlay }',
        '  - { name: wireguard, from: nodes, to: nodes, direction: internal, scope: cluster, protocol: WireGuard, ports: [51871], purpose: node-to-node encryption }',
        '  - { name: health, from: nodes, to: nodes, direction: internal, scope: cluster, protocol: UDP, ports: [4240], purpose: health probes }',
        '  - { name: resolver, from: nodes, to: dns, direction: outbound, scope: cluster, protocol: DNS, ports: [53], purpose: name resolution }',
        '  - { name: time, from: nodes, to: ntp, direction: outbound, scope: cluster, protocol: NTP, ports: [123], purpose: clock for certificates and etcd }',
        '  - { name: node-ping, from: nodes, to: nodes, direction: internal, scope: cluster, protocol: ICMP, purpose: node reachability }',
        '  - { name: registry-pull, from: nodes, to: mirror, direction: outbound, scope: cluster, protocol: HTTPS, ports: [5443], purpose: image pulls }',
        '  - { name: explicit-tcp, from: nodes, to: mirror, direction: outbound, scope: cluster, protocol: VXLAN, transport: tcp, ports: [9472], purpose: an explicit transport wins }',
        '',
      ].join('\n'),
    );
  });

  it('nftables: VXLAN, WireGuard and UDP are udp rules, DNS both, HTTPS tcp; nft -c -f accepts it', async () => {
    const r = await runFerry(['firewall', site(), '--format', 'nftables']);
    expect(r.code, r.stderr).toBe(0);
    const input = r.stdout.slice(r.stdout.indexOf('chain input'), r.stdout.indexOf('chain output'));
    const output = r.stdout.slice(r.stdout.indexOf('chain output'));
    expect(input).toContain('ip saddr @zone_nodes udp dport { 4240, 8472, 51871 } accept');
    expect(input).toContain('ip saddr @zone_nodes tcp dport 2379-2380 accept');
    expect(input).toContain('ip saddr @zone_admin tcp dport 6443 accept');
    expect(input).not.toMatch(/tcp dport[^\n]*(8472|51871|4240)/);
    expect(output).toContain('ip daddr @zone_dns udp dport 53 accept');
    expect(output).toContain('ip daddr @zone_dns tcp dport 53 accept');
    expect(output).toContain('ip daddr @zone_ntp udp dport 123 accept');
    expect(output).toContain('ip daddr @zone_nodes meta l4proto { icmp, ipv6-icmp } accept');
    // DNS and NTP are declared, so only DHCP is left in the warning about host essentials.
    expect(r.stderr).toMatch(/DHCP client not allowed/);
    expect(r.stderr).not.toMatch(/DNS|NTP/);
    expect(output).toMatch(/ip daddr @zone_mirror tcp dport \{ 5443, 9472 \} accept/);
    const file = path.join(work, 'nodes.nft');
    await writeFile(file, r.stdout);
    const check = await privileged(TOOLS.nft, ['-c', '-f', file]);
    expect(check.code, check.stderr).toBe(0);
  });

  it('iptables: the same flows as -p udp, and iptables-restore --test accepts them', async () => {
    const r = await runFerry(['firewall', site(), '--format', 'iptables']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/-A INPUT -s 10\.20\.0\.0\/24 -p udp -m multiport --dports 4240,8472,51871 /);
    expect(r.stdout).not.toMatch(/-p tcp[^\n]*(8472|51871|4240)/);
    expect(r.stdout).toMatch(/-A OUTPUT -d 10\.20\.1\.53\/32 -p udp --dport 53 /);
    expect(r.stdout).toMatch(/-A OUTPUT -d 10\.20\.1\.123\/32 -p udp --dport 123 /);
    expect(r.stdout).toMatch(/-A OUTPUT -d 10\.20\.1\.123\/32 -p udp --dport 123 /);
    const check = await privileged(TOOLS.iptablesRestore, ['--test'], r.stdout);
    expect(check.code, check.stderr).toBe(0);
  });

  it('inventory shows the overlay as 8472/udp, and the JSON carries the transport', async () => {
    const md = await runFerry(['inventory', site()]);
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout).toMatch(/VXLAN \| 8472\/udp/);
    expect(md.stdout).not.toContain('8472/tcp');
    const json = await runFerry(['inventory', site(), '--format', 'json']);
    expect(json.code, json.stderr).toBe(0);
    const text = json.stdout;
    expect(text).not.toMatch(/"8472\/tcp"/);
    expect(text).toContain('udp');
  });
});

describe('VM images behind a CDN redirect, resumed, and the Packer template pointed at the mirror', () => {
  let vendor: StaticServer;
  let cdn: http.Server;
  let vendorUrl: string;
  let job: string;
  const IMG = 'noble-server-cloudimg-amd64.img';
  const BLOB = '/cdn/blobs/3f/3f9a1c';
  const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'files-cache'), FERRY_RETRIES: '3', FERRY_RETRY_MIN_MS: '50' });

  beforeAll(async () => {
    const srv = path.join(work, 'srv');
    await mkdir(path.join(srv, 'noble/current'), { recursive: true });
    await mkdir(path.join(srv, path.dirname(BLOB)), { recursive: true });
    // The image lives on the CDN under a content path; the vendor URL answers 302 to it, as
    // cloud-image hosts behind a CDN do.
    const img = randomBytes(4 * 1024 * 1024 + 7);
    await writeFile(path.join(srv, BLOB), img);
    const sums = `${createHash('sha256').update(img).digest('hex')} *${IMG}\n`;
    await writeFile(path.join(srv, 'noble/current/SHA256SUMS'), sums);
    const key = await makeGpgKey(work, 'cloud-images');
    await gpgSign(key, path.join(srv, 'noble/current/SHA256SUMS'), 'detach', path.join(srv, 'noble/current/SHA256SUMS.gpg'));
    vendor = await startStaticServer(srv);
    cdn = http.createServer((req, res) => {
      const p = new URL(req.url ?? '/', 'http://x').pathname;
      const to = p === `/noble/current/${IMG}` ? `${BLOB}?expires=1&signature=abc` : p;
      res.writeHead(302, { location: `${vendor.url}${to}` }).end();
    });
    await new Promise<void>((resolve) => cdn.listen(0, '127.0.0.1', resolve));
    vendorUrl = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}`;
    job = path.join(work, 'vm-images');
    await mkdir(path.join(job, 'keys'), { recursive: true });
    await cp(key.publicKey, path.join(job, 'keys/cloud-images.asc'));
    await writeFile(
      path.join(job, 'vm.yaml'),
      [
        'apiVersion: ferry/v1alpha1',
        'kind: Manifest',
        'metadata: { name: vm-images }',
        'files:',
        '  - name: noble-amd64',
        `    url: ${vendorUrl}/noble/current/${IMG}`,
        '    checksums:',
        `      url: ${vendorUrl}/noble/current/SHA256SUMS`,
        `      signature: ${vendorUrl}/noble/current/SHA256SUMS.gpg`,
        '      keys: [keys/cloud-images.asc]',
        '',
      ].join('\n'),
    );
    await writeFile(
      path.join(job, 'site.yaml'),
      ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: lab }', 'files: { dir: ./mirror, baseUrl: http://files.lab.internal/files }', ''].join('\n'),
    );
  }, 120_000);
  afterAll(async () => {
    await vendor?.close();
    await new Promise((resolve) => cdn?.close(resolve));
  });

  it('a download cut on the CDN resumes with Range, and the mirror holds the image, SHA256SUMS and its signature', async () => {
    vendor.dropAfter(BLOB, 1024 * 1024, 1);
    const created = await runFerry(['bundle', 'create', 'vm.yaml', '-o', 'vm.ferry.tar'], { cwd: job, env: env() });
    expect(created.code, created.stderr).toBe(0);
    const blobGets = vendor.requests.filter((r) => r.method === 'GET' && r.path === BLOB);
    expect(blobGets.some((r) => /^bytes=[1-9]\d*-$/.test(r.range ?? ''))).toBe(true);
    const imported = await runFerry(['import', 'vm.ferry.tar', '-t', 'site.yaml'], { cwd: job, env: env() });
    expect(imported.code, imported.stderr).toBe(0);
    const dir = path.join(job, 'mirror/127.0.0.1-' + new URL(vendorUrl).port + '/noble/current');
    await mustRun('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir });
    const keyring = path.join(work, 'cloud-images.gpg');
    await mustRun('gpg', ['--batch', '--yes', '--output', keyring, '--dearmor', path.join(job, 'keys/cloud-images.asc')]);
    await mustRun('gpgv', ['--keyring', keyring, 'SHA256SUMS.gpg', 'SHA256SUMS'], { cwd: dir });
  });

  it('audit says iso_url and iso_checksum still go out though carried; rewrite catalogue moves both to paths the mirror holds, and audit then counts them internal', async () => {
    const packer = path.join(job, 'packer');
    await mkdir(packer, { recursive: true });
    const hcl = path.join(packer, 'noble.pkr.hcl');
    await writeFile(
      hcl,
      ['source "qemu" "noble" {', `  iso_url      = "${vendorUrl}/noble/current/${IMG}"`, `  iso_checksum = "file:${vendorUrl}/noble/current/SHA256SUMS"`, '  disk_image   = true', '}', ''].join('\n'),
    );
    const audit = await runFerry(['audit', 'packer', '--manifest', 'vm.yaml', '--target', 'site.yaml', '--format', 'json'], { cwd: job, env: env() });
    expect(audit.code, audit.stderr).toBe(0);
    const findings = (JSON.parse(audit.stdout) as { findings: Array<{ value: string; class: string; note?: string }> }).findings;
    // Carried, but Packer downloads the URL written: not "mirrored" until the template names the mirror.
    const upstream = findings.filter((f) => f.value.startsWith(vendorUrl));
    expect(upstream.map((f) => [f.value.replace(vendorUrl, ''), f.class])).toEqual([
      [`/noble/current/${IMG}`, 'undeclared'],
      ['/noble/current/SHA256SUMS', 'undeclared'],
    ]);
    for (const f of upstream) expect(f.note).toContain('carried (the mirror serves it at http://files.lab.internal/files/');
    const r = await runFerry(['rewrite', 'catalogue', hcl, '-t', 'site.yaml', '--lock', 'vm-images.lock.json'], { cwd: job, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const text = await readFile(hcl, 'utf8');
    const base = `http://files.lab.internal/files/127.0.0.1-${new URL(vendorUrl).port}/noble/current`;
    expect(text).toContain(`iso_url      = "${base}/${IMG}"`);
    expect(text).toContain(`iso_checksum = "file:${base}/SHA256SUMS"`);
    // Every rewritten URL names a file import wrote.
    for (const m of text.matchAll(/http:\/\/files\.lab\.internal\/files\/(\S+?)"/g)) {
      await expect(readFile(path.join(job, 'mirror', m[1]))).resolves.toBeInstanceOf(Buffer);
    }
    const after = await runFerry(['audit', 'packer', '--manifest', 'vm.yaml', '--target', 'site.yaml', '--format', 'json'], { cwd: job, env: env() });
    const moved = (JSON.parse(after.stdout) as { findings: Array<{ value: string; class: string }> }).findings.filter((f) => f.value.includes('files.lab.internal'));
    expect(moved.map((f) => f.class)).toEqual(['internal', 'internal']);
  });
});
