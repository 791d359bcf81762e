import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runCommand, runFerry } from '../support/cli.js';
import { containerdFor } from '../support/containerd.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * An RKE2 air-gapped install as Rancher's documentation describes it, against a real registry
 * on loopback holding docker.io/rancher/* (RKE2's system images, rke2-images.linux-amd64.txt)
 * where ferry's mapping puts them (`<mirror>/ferry/docker.io/rancher/<name>`; `ferry map` says
 * where, the same function import uses: docker.io itself is out of reach here, so the images
 * are pushed there by skopeo). Then both documented forms are followed with containerd's `ctr`:
 * (a) `system-default-registry: <mirror host>` in config.yaml, so RKE2 asks for
 *     `<mirror host>/rancher/<name>`; (b) no system-default-registry, registries.yaml mirrors
 *     docker.io. A k3s/RKE2 registries.yaml becomes containerd hosts.toml as k3s writes it
 *     (pkg/agent/containerd/config.go): an endpoint equal to the registry's default endpoint is
 *     the `server` and gets no rewrite; any other is a `[host]` (a path other than /v2: with
 *     override_path) whose rewrite applies to the repository name. Upstream containerd has no
 *     `rewrite`, so the test applies it to the name and lets ctr pull through that [host].
 */
const cd = containerdFor('ferry-e2e-rke2-ctr-');
let work: string;
let site: RunningRegistry;
let seeded: SeededImages;
let targetFile: string;
let lockFile: string;
const IMAGES = ['app', 'multi'] as const;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-rke2-'));
  site = await startRegistry({ mode: 'http' });
  seeded = await seedImages(site, { prefix: 'ferry/docker.io/rancher' });
  targetFile = path.join(work, 'site.yaml');
  await writeFile(targetFile, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: http://${site.host}\n  prefix: ferry\n`);
  // The lock a manifest listing rke2-images.linux-amd64.txt gives (one `- ref:` per line).
  const images = [];
  for (const name of IMAGES) {
    const raw = await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${site.host}/ferry/docker.io/rancher/${name}:1`]);
    expect(raw.code, raw.stderr).toBe(0);
    const m = JSON.parse(raw.stdout) as { mediaType: string };
    images.push({ source: `docker.io/rancher/${name}:1`, ref: `docker.io/rancher/${name}:1`, digest: seeded.digests[name], mediaType: m.mediaType, size: Buffer.byteLength(raw.stdout), manifests: [], blobs: [] });
  }
  lockFile = path.join(work, 'rke2.lock.json');
  await writeFile(lockFile, JSON.stringify({ apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'rke2', digest: `sha256:${'0'.repeat(64)}` }, images }, null, 2));
}, 120_000);

afterAll(async () => {
  await site?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

interface K3sMirror {
  endpoint: string[];
  rewrite?: Record<string, string>;
}

/** k3s's default endpoint for a registry key: https, or http for a loopback host on a port other than 443; docker.io's is registry-1.docker.io. */
function k3sDefault(key: string): string {
  const host = key === 'docker.io' ? 'registry-1.docker.io' : key;
  const [h, port] = [host.replace(/:\d+$/, ''), /:(\d+)$/.exec(host)?.[1]];
  const local = h === 'localhost' || h === '127.0.0.1' || h === '[::1]';
  return `${local && port && port !== '443' ? 'http' : 'https'}://${host}/v2`;
}

/** An endpoint as k3s normalizes it: its URL (path /v2 when empty, / or /v2) and whether that path is override_path. */
function k3sEndpoint(e: string): { url: string; override: boolean } {
  const u = new URL(e);
  if (u.pathname === '' || u.pathname === '/' || u.pathname === '/v2') return { url: `${u.protocol}//${u.host}/v2`, override: false };
  return { url: `${u.protocol}//${u.host}${u.pathname}`, override: true };
}

/**
 * Pull `<key>/<repository>:<tag>` as k3s/RKE2 would with this registries.yaml and the default
 * endpoint disabled: through the mirrors.<key> endpoint (rewrite applied), never the server
 * (a port nothing listens on). Returns ctr's result and the name pulled from the endpoint.
 */
async function pullAsK3s(doc: { mirrors: Record<string, K3sMirror> }, key: string, repository: string, tag: string, dir: string) {
  const m = doc.mirrors[key];
  expect(m, `registries.yaml has no mirrors."${key}"`).toBeDefined();
  const ep = k3sEndpoint(m.endpoint[0]);
  // k3s moves an endpoint equal to the default one to `server`, where no rewrite applies.
  expect(ep.url, `mirrors."${key}" endpoint is ${key}'s default endpoint: k3s drops its rewrite`).not.toBe(k3sDefault(key));
  let name = repository;
  for (const [from, to] of Object.entries(m.rewrite ?? {})) {
    const re = new RegExp(from);
    if (re.test(name)) {
      name = name.replace(re, to.replace(/\$(\d)/g, '$$$1'));
      break;
    }
  }
  const endpointHost = new URL(m.endpoint[0]).host;
  await mkdir(path.join(dir, endpointHost), { recursive: true });
  await writeFile(
    path.join(dir, endpointHost, 'hosts.toml'),
    [`server = "http://127.0.0.1:1"`, '', `[host."${ep.url}"]`, '  capabilities = ["pull", "resolve"]', ...(ep.override ? ['  override_path = true'] : []), ''].join('\n'),
  );
  const ref = `${endpointHost}/${name}:${tag}`;
  const r = await cd.ctr(['image', 'pull', '--hosts-dir', dir, '--platform', 'linux/amd64', ref]);
  return { r, name, ref };
}

async function ctrDigest(ref: string): Promise<string | undefined> {
  const ls = await cd.ctr(['image', 'ls']);
  return ls.stdout.split('\n').find((l) => l.startsWith(ref + ' '))?.split(/\s+/)[2];
}

describe('RKE2 air-gapped from a ferry mirror (nested layout with a prefix)', () => {
  it('ferry map puts docker.io/rancher/<name> where the mirror holds it', async () => {
    const r = await runFerry(['map', lockFile, '-t', targetFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    for (const name of IMAGES) expect(r.stdout).toContain(`${site.host}/ferry/docker.io/rancher/${name}`);
  });

  it('(a) system-default-registry: mirror-config rke2 writes config.yaml, and registries.yaml sends <mirror>/rancher/<name> to where import put it', async () => {
    const out = path.join(work, 'rke2');
    const r = await runFerry(['mirror-config', 'rke2', '-t', targetFile, '--lock', lockFile, '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const config = parseYaml(await readFile(path.join(out, 'config.yaml'), 'utf8')) as Record<string, unknown>;
    expect(config).toEqual({ 'system-default-registry': site.host });
    const doc = parseYaml(await readFile(path.join(out, 'registries.yaml'), 'utf8')) as { mirrors: Record<string, K3sMirror> };
    const sdr = config['system-default-registry'] as string;
    for (const name of IMAGES) {
      // RKE2 asks for <system-default-registry>/rancher/<name>:<tag>.
      const { r: pull, name: pulled, ref } = await pullAsK3s(doc, sdr, `rancher/${name}`, '1', path.join(work, 'hosts-a'));
      expect(pulled).toBe(`ferry/docker.io/rancher/${name}`);
      expect(pull.code, `${ref}: ${pull.stderr}\n${cd.log()}`).toBe(0);
      expect(await ctrDigest(ref)).toBe(seeded.digests[name]);
    }
    // A reference `ferry rewrite` already wrote for the mirror is not rewritten again.
    const direct = await pullAsK3s(doc, sdr, 'ferry/docker.io/rancher/app', '1', path.join(work, 'hosts-a2'));
    expect(direct.name).toBe('ferry/docker.io/rancher/app');
    expect(direct.r.code, direct.r.stderr).toBe(0);
  }, 180_000);

  it('(b) no system-default-registry: registries.yaml alone sends docker.io/rancher/<name> to the mirror', async () => {
    const doc = parseYaml(await readFile(path.join(work, 'rke2', 'registries.yaml'), 'utf8')) as { mirrors: Record<string, K3sMirror> };
    const { r, name, ref } = await pullAsK3s(doc, 'docker.io', 'rancher/multi', '1', path.join(work, 'hosts-b'));
    expect(name).toBe('ferry/docker.io/rancher/multi');
    expect(r.code, `${ref}: ${r.stderr}`).toBe(0);
  }, 120_000);

  it('a flat layout without prefix needs no rewrite: system-default-registry alone names where the images are', async () => {
    const flat = path.join(work, 'flat.yaml');
    await writeFile(flat, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: flat }\nregistry:\n  url: http://${site.host}\n  layout: flat\n`);
    const out = path.join(work, 'rke2-flat');
    const r = await runFerry(['mirror-config', 'rke2', '-t', flat, '--lock', lockFile, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(parseYaml(await readFile(path.join(out, 'config.yaml'), 'utf8'))).toEqual({ 'system-default-registry': site.host });
    const doc = parseYaml(await readFile(path.join(out, 'registries.yaml'), 'utf8')) as { mirrors: Record<string, K3sMirror> };
    expect(Object.keys(doc.mirrors)).toEqual(['docker.io']);
  });

  it('audit: system-default-registry naming the mirror is internal; naming docker.io is not counted as mirrored', async () => {
    await writeFile(path.join(work, 'rke2.yaml'), `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: rke2 }\nimages:\n${IMAGES.map((n) => `  - ref: docker.io/rancher/${n}:1\n`).join('')}`);
    const scan = path.join(work, 'rke2');
    const sdrOf = async () => {
      const r = await runFerry(['audit', scan, '--manifest', 'rke2.yaml', '--target', 'site.yaml', '--json'], { cwd: work });
      expect(r.code === 0 || r.code === 5, r.stderr).toBe(true);
      return (JSON.parse(r.stdout) as { findings: Array<{ keyPath: string; class: string }> }).findings.find((f) => f.keyPath === 'system-default-registry');
    };
    expect(await sdrOf()).toMatchObject({ class: 'internal' });
    const file = path.join(scan, 'config.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace(/^system-default-registry: .*$/m, 'system-default-registry: docker.io'));
    const upstream = await sdrOf();
    expect(upstream).toBeDefined();
    expect(upstream!.class).not.toBe('mirrored');
    expect(upstream!.class).not.toBe('internal');
  });

  it('a lock without docker.io/rancher images says the system images are missing', async () => {
    const lock = JSON.parse(await readFile(lockFile, 'utf8')) as { images: Array<{ ref: string; source: string }> };
    for (const i of lock.images) i.ref = i.source = i.ref.replace('docker.io/rancher/', 'docker.io/acme/');
    const other = path.join(work, 'acme.lock.json');
    await writeFile(other, JSON.stringify(lock));
    const r = await runFerry(['mirror-config', 'rke2', '-t', targetFile, '--lock', other, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const notes = (JSON.parse(r.stdout) as { notes: string[] }).notes.join('\n');
    expect(notes).toContain('rke2-images.linux-amd64.txt');
  });
});
