import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { containerdFor } from '../support/containerd.js';
import { pushLayoutImage, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { buildServeBundle, startServe, type RunningServe, type ServeFixture } from '../support/craft-serve.js';
import { referencesIn } from '../../src/audit/scan.js';
import { mapFileUrl } from '../../src/mapping/index.js';
import { imagesLock, NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * A new user's air-gapped kubeadm/k3s bootstrap: the node configuration ferry itself writes
 * (`mirror-config containerd`, `mirror-config k3s`) plus a kubeadm ClusterConfiguration, audited
 * with `--fail-on unmitigated`; `rewrite manifests` on the ClusterConfiguration; and `ferry serve`
 * asked for a `/files/` directory.
 */

let work: string;

const MANIFEST = `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: k8s }
zones:
  - { name: nodes }
  - { name: internet }
images:
  - ref: registry.k8s.io/pause:3.10
  - ref: registry.k8s.io/coredns/coredns:v1.11.3
  - ref: quay.io/coreos/etcd:v3.5.15
endpoints:
  - name: registry-k8s-io
    title: registry.k8s.io
    category: registry
    hosts: [registry.k8s.io]
    from: nodes
    to: internet
    purpose: control plane images
    mitigation: { type: mirrored, description: mirrored to the site registry }
`;

const TARGET = NESTED_SITE_TARGET;

const KUBEADM = `apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.31.0
imageRepository: registry.k8s.io
etcd:
  local:
    imageRepository: registry.k8s.io
dns:
  imageRepository: registry.k8s.io
networking:
  podSubnet: 10.244.0.0/16,fd00:10:244::/56
  serviceSubnet: 10.96.0.0/12
`;

/** A lock as `ferry lock` writes it, for the three images (mirror-config and rewrite read refs and registries from it). */
function lock(refs = ['registry.k8s.io/pause:3.10', 'registry.k8s.io/coredns/coredns:v1.11.3', 'quay.io/coreos/etcd:v3.5.15']): string {
  return imagesLock('k8s', refs);
}

interface Finding {
  file: string;
  line: number;
  keyPath: string;
  value: string;
  class: string;
  mirror?: string;
  note?: string;
}

async function audit(dir: string): Promise<{ code: number; findings: Finding[]; stderr: string }> {
  const r = await runFerry(['audit', dir, '--manifest', 'm.yaml', '--target', 't.yaml', '--fail-on', 'unmitigated', '--json'], { cwd: work });
  if (r.code !== 0 && r.code !== 5) throw new Error(`ferry audit exited ${r.code}\n${r.stderr}`);
  return { code: r.code, findings: JSON.parse(r.stdout).findings, stderr: r.stderr };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-audit-cluster-'));
  await writeFile(path.join(work, 'm.yaml'), MANIFEST);
  await writeFile(path.join(work, 't.yaml'), TARGET);
  await writeFile(path.join(work, 'm.lock.json'), lock());
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('audit on the cluster configuration ferry writes', () => {
  it("passes --fail-on unmitigated on mirror-config's containerd and k3s output and a kubeadm config, naming the mirror and the upstream fallback", async () => {
    const node = path.join(work, 'node');
    for (const [format, out] of [
      ['containerd', 'etc/containerd'],
      ['k3s', 'etc/rancher/k3s'],
    ]) {
      const r = await runFerry(['mirror-config', format, '-t', 't.yaml', '--lock', 'm.lock.json', '-o', path.join(node, out)], { cwd: work });
      expect(r.code, r.stderr).toBe(0);
    }
    // The hosts.toml no longer claims nodes never contact the upstream: its server is the fallback.
    const hosts = await readFile(path.join(node, 'etc/containerd/certs.d/registry.k8s.io/hosts.toml'), 'utf8');
    expect(hosts).not.toContain('never contact');
    expect(hosts).toContain('server = "https://registry.k8s.io"');
    await writeFile(path.join(node, 'kubeadm.yaml'), KUBEADM);

    const { code, findings } = await audit('node');
    const at = (file: string, keyPath: string) => findings.find((f) => f.file === `node/${file}` && f.keyPath === keyPath);
    const server = at('etc/containerd/certs.d/registry.k8s.io/hosts.toml', 'server')!;
    expect(server).toMatchObject({ value: 'https://registry.k8s.io', class: 'mirrored', mirror: 'https://registry.site.internal/v2/ferry/registry.k8s.io' });
    expect(server.note).toContain('an image the mirror lacks (or a failing mirror) is tried at registry.k8s.io itself');
    // quay.io is not declared: its mirror config is still the mirror's, not an undeclared way out.
    expect(at('etc/containerd/certs.d/quay.io/hosts.toml', 'server')).toMatchObject({ class: 'mirrored', mirror: 'https://registry.site.internal/v2/ferry/quay.io' });
    for (const key of ['imageRepository', 'etcd.local.imageRepository', 'dns.imageRepository']) {
      const f = at('kubeadm.yaml', key)!;
      expect(f, key).toMatchObject({ value: 'registry.k8s.io', class: 'mirrored' });
      expect(f.note).toContain('kubeadm pulls its images from registry.k8s.io; containerd mirror config for registry.k8s.io');
    }
    // A network is no destination: neither the IPv4 nor the IPv6 pod/service subnets are hosts.
    expect(findings.filter((f) => f.file === 'node/kubeadm.yaml' && f.keyPath.startsWith('networking'))).toEqual([]);
    expect(findings.filter((f) => !['mirrored', 'internal'].includes(f.class))).toEqual([]);
    expect(code).toBe(0);
  });

  it('a hosts.toml whose hosts are not on the target is no mirror config for it; without one, kubeadm imageRepository is still reported', async () => {
    const dir = path.join(work, 'elsewhere');
    await mkdir(path.join(dir, 'certs.d/registry.k8s.io'), { recursive: true });
    await writeFile(path.join(dir, 'certs.d/registry.k8s.io/hosts.toml'), 'server = "https://registry.k8s.io"\n\n[host."https://other-mirror.example.com"]\n  capabilities = ["pull", "resolve"]\n');
    await writeFile(path.join(dir, 'kubeadm.yaml'), KUBEADM);
    const { code, findings } = await audit('elsewhere');
    expect(findings.find((f) => f.keyPath === 'server')).toMatchObject({ class: 'declared-unmitigated' });
    expect(findings.find((f) => f.keyPath === 'imageRepository')).toMatchObject({ class: 'declared-unmitigated' });
    expect(code).toBe(5);
  });

  it('a hosts.toml whose server is the mirror (no [host] entries) is mirror config with no fallback', async () => {
    const dir = path.join(work, 'nofallback');
    await mkdir(path.join(dir, 'certs.d/registry.k8s.io'), { recursive: true });
    await writeFile(path.join(dir, 'certs.d/registry.k8s.io/hosts.toml'), 'server = "https://registry.site.internal/v2/ferry/registry.k8s.io"\ncapabilities = ["pull", "resolve"]\noverride_path = true\n');
    await writeFile(path.join(dir, 'kubeadm.yaml'), KUBEADM);
    const { code, findings } = await audit('nofallback');
    expect(findings.find((f) => f.keyPath === 'server')).toMatchObject({ class: 'internal' });
    const repo = findings.find((f) => f.keyPath === 'imageRepository')!;
    expect(repo).toMatchObject({ class: 'mirrored', mirror: 'https://registry.site.internal/v2/ferry/registry.k8s.io' });
    expect(repo.note).toContain('no fallback to registry.k8s.io');
    expect(code).toBe(0);
  });

  it('k3s with --disable-default-registry-endpoint (config.yaml): its mirror config is said to have no fallback', async () => {
    const dir = path.join(work, 'k3s');
    const r = await runFerry(['mirror-config', 'k3s', '-t', 't.yaml', '--lock', 'm.lock.json', '-o', dir], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    await writeFile(path.join(dir, 'kubeadm.yaml'), KUBEADM);
    const before = (await audit('k3s')).findings.find((f) => f.keyPath === 'imageRepository')!;
    expect(before.note).toContain('start k3s/RKE2 with --disable-default-registry-endpoint to forbid it');
    await writeFile(path.join(dir, 'config.yaml'), 'disable-default-registry-endpoint: true\n');
    const after = (await audit('k3s')).findings.find((f) => f.keyPath === 'imageRepository')!;
    expect(after).toMatchObject({ class: 'mirrored' });
    expect(after.note).toContain('no fallback to registry.k8s.io');
  });
});

describe('a network CIDR is not a host', () => {
  it('IPv4 and IPv6 subnets (and IPv4-mapped ones) give no host; an address, or a /32, still does', () => {
    expect(referencesIn('10.244.0.0/16', false)).toEqual([]);
    expect(referencesIn('--service-cidr=10.96.0.0/12', false)).toEqual([]);
    expect(referencesIn('10.244.0.0/16,fd00:10:244::/56', false)).toEqual([]);
    expect(referencesIn('::ffff:10.0.0.0/104', false)).toEqual([]);
    expect(referencesIn('2001:db8::/32', false)).toEqual([]);
    expect(referencesIn('10.1.2.3', false)).toEqual([{ kind: 'host', value: '10.1.2.3' }]);
    expect(referencesIn('10.1.2.3/32', false)).toEqual([{ kind: 'host', value: '10.1.2.3' }]);
  });
});

describe('rewrite manifests on a kubeadm ClusterConfiguration', () => {
  it('points imageRepository, etcd.local.imageRepository and dns.imageRepository (with /coredns) at the mirror', async () => {
    const file = path.join(work, 'kubeadm.yaml');
    await writeFile(file, KUBEADM);
    const r = await runFerry(['rewrite', 'manifests', file, '-t', 't.yaml', '--lock', 'm.lock.json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('3 replacements');
    const text = await readFile(file, 'utf8');
    expect(text).toContain('\nimageRepository: registry.site.internal/ferry/registry.k8s.io\n');
    expect(text).toContain('  local:\n    imageRepository: registry.site.internal/ferry/registry.k8s.io\n');
    // kubeadm pulls CoreDNS as <dns.imageRepository>/coredns:<tag> once the repository is not registry.k8s.io.
    expect(text).toContain('dns:\n  imageRepository: registry.site.internal/ferry/registry.k8s.io/coredns\n');
  });

  it('warns, naming the keys, when dns.imageRepository or imageRepository is missing', async () => {
    const noDns = path.join(work, 'kubeadm-nodns.yaml');
    await writeFile(noDns, 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nimageRepository: registry.k8s.io\n');
    let r = await runFerry(['rewrite', 'manifests', noDns, '-t', 't.yaml', '--lock', 'm.lock.json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('add dns.imageRepository: registry.site.internal/ferry/registry.k8s.io/coredns');
    const none = path.join(work, 'kubeadm-none.yaml');
    await writeFile(none, 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.31.0\n');
    r = await runFerry(['rewrite', 'manifests', none, '-t', 't.yaml', '--lock', 'm.lock.json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('has no imageRepository, so kubeadm pulls from registry.k8s.io: add imageRepository: registry.site.internal/ferry/registry.k8s.io and dns.imageRepository: registry.site.internal/ferry/registry.k8s.io/coredns');
  });
});

describe('ferry serve: a files URL that is not a file', () => {
  let fx: ServeFixture;
  let serve: RunningServe;
  beforeAll(async () => {
    fx = await buildServeBundle(await mkdtemp(path.join(work, 'serve-')));
    serve = await startServe([fx.bundle, '--listen', '127.0.0.1:0', '-q']);
  }, 180_000);
  afterAll(async () => {
    await serve?.stop();
    await fx?.stop();
  });

  it('answers a directory with a plain 404 in words, not a registry JSON error; the file itself is served', async () => {
    const filePath = mapFileUrl(fx.fileUrl, { baseUrl: 'http://x' }).path;
    expect((await fetch(`${serve.url}/files/${filePath}`)).status).toBe(200);
    for (const dir of [`/files/${filePath.split('/')[0]}/`, '/files/', '/charts/', '/apt/']) {
      const r = await fetch(`${serve.url}${dir}`);
      const body = await r.text();
      expect(r.status, dir).toBe(404);
      expect(r.headers.get('content-type'), dir).toMatch(/^text\/plain/);
      expect(body, dir).not.toContain('NAME_INVALID');
      expect(body, dir).toContain('no directory listing');
    }
  });
});

describe('containerd falls back to the upstream unless mirror-config containerd --never-contact-source (real containerd, ctr)', () => {
  const cd = containerdFor('ferry-auditrt-containerd-');
  let mirror: RunningRegistry;
  let upstream: net.Server;
  let upstreamHost: string;
  let contacts = 0;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(work, 'fallback-'));
    // The "upstream": a listener that only counts the connections made to it (behind a gap, each is a leak).
    upstream = net.createServer((s) => {
      contacts++;
      s.destroy();
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamHost = `127.0.0.1:${(upstream.address() as net.AddressInfo).port}`;
    mirror = await startRegistry({ mode: 'http' });
    const layout = path.join(dir, 'layout');
    await writeOciLayout(layout, [{ name: 'app', platforms: [{ architecture: 'amd64', layers: [{ files: { 'srv/app.txt': 'carried\n' } }] }] }]);
    // Where the nested mapping with prefix `ferry` puts it (spelled out independently of ferry).
    await pushLayoutImage(mirror, layout, 'app', `ferry/${upstreamHost.replace(':', '-')}/ferry-test/app:1`);
    await writeFile(path.join(dir, 't.yaml'), `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: ${mirror.url}\n  prefix: ferry\n  layout: nested\n`);
    await writeFile(path.join(dir, 'm.lock.json'), lock([`${upstreamHost}/ferry-test/app:1`]));
  }, 120_000);
  afterAll(async () => {
    await mirror?.stop();
    await new Promise((r) => upstream?.close(r));
  });

  const configure = async (name: string, extra: string[]) => {
    const out = path.join(dir, name);
    const r = await runFerry(['mirror-config', 'containerd', '-t', 't.yaml', '--lock', 'm.lock.json', '-o', out, ...extra], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    return { hostsDir: path.join(out, 'certs.d'), hosts: await readFile(path.join(out, 'certs.d', upstreamHost, 'hosts.toml'), 'utf8') };
  };
  const fetchVia = (hostsDir: string, ref: string) => cd.ctr(['content', 'fetch', '--hosts-dir', hostsDir, ref]);

  it('the default hosts.toml: a carried image comes from the mirror; one the mirror lacks is tried upstream (what audit notes)', async () => {
    const { hostsDir, hosts } = await configure('default', []);
    expect(hosts).toContain(`server = "https://${upstreamHost}"`);
    const before = contacts;
    const carried = await fetchVia(hostsDir, `${upstreamHost}/ferry-test/app:1`);
    expect(carried.code, `${carried.stderr}\n${cd.log().slice(-2000)}`).toBe(0);
    expect(contacts).toBe(before);
    const missing = await fetchVia(hostsDir, `${upstreamHost}/ferry-test/missing:1`);
    expect(missing.code).not.toBe(0);
    expect(contacts, 'containerd did not try the upstream after the mirror answered 404').toBeGreaterThan(before);
  });

  it('--never-contact-source: the mirror is the server; the carried image still comes, the missing one fails without contacting the upstream', async () => {
    const { hostsDir, hosts } = await configure('never', ['--never-contact-source']);
    expect(hosts).toContain(`server = "${mirror.url}/v2/ferry/${upstreamHost.replace(':', '-')}"`);
    expect(hosts.match(/^server = .*$/m)?.[0]).not.toContain(upstreamHost + '"');
    const before = contacts;
    const carried = await fetchVia(hostsDir, `${upstreamHost}/ferry-test/app:1`);
    expect(carried.code, `${carried.stderr}\n${cd.log().slice(-2000)}`).toBe(0);
    const missing = await fetchVia(hostsDir, `${upstreamHost}/ferry-test/missing:1`);
    expect(missing.code).not.toBe(0);
    expect(contacts).toBe(before);
  });

  it('refuses --never-contact-source for k3s, naming the flag that does it there', async () => {
    const r = await runFerry(['mirror-config', 'k3s', '-t', 't.yaml', '--lock', 'm.lock.json', '--never-contact-source', '-o', path.join(dir, 'k3s')], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('start it with --disable-default-registry-endpoint');
  });
});
