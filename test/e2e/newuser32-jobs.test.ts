import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { offlineImagesSite } from '../support/offline-site.js';
import { skopeoEnv, startRegistry, type RunningRegistry } from '../support/registry.js';
import type { Finding } from '../../src/audit/audit.js';

/**
 * A RHEL edge host on Podman, no Kubernetes (new-user round 32): the workloads are Quadlet units in
 * /etc/containers/systemd (podman-systemd.unit(5)), pulls go through /etc/containers/registries.conf
 * and its registries.conf.d drop-ins (containers-registries.conf(5)): RHEL's three search registries
 * in enforcing short-name mode, the short-name aliases drop-in, a vendor's mirror for its namespace;
 * policy.json (containers-policy.json(5)) and registries.d lookasides (containers-registries.d(5)).
 *
 * What tripped:
 * - `Image=nginx:1.25` (a short name, as most units are written) gave no finding at all: the
 *   line-by-line scan of a `.container` file only saw images with a registry host in them. The
 *   audit now reads `Image=` as podman pulls it: through the scanned aliases, or the one search
 *   registry; with several (podman asks, or refuses under systemd in enforcing mode) or no
 *   registries.conf, the registry is printed as unknown, never a guessed docker.io.
 * - a carried image in a unit was "mirrored" while nothing sent podman to the mirror; and once
 *   `mirror-config registries-conf` was installed, its own `prefix = "docker.io"` lines and the
 *   search list's hosts were "undeclared": registries.conf was never read as a runtime mirror
 *   configuration. It is now (podman.ts), with the longest-prefix rule: the vendor's
 *   `quay.io/acme` entry still wins over ferry's `quay.io` one (skopeo agrees).
 * - policy.json's Fulcio `oidcIssuer` (an identity in the signing certificate) was a destination.
 * - `rewrite manifests` did not look at unit files at all ("0 replacements").
 */

let work: string;
let site: RunningRegistry;
const IMAGES = ['docker.io/library/nginx:1.25', 'quay.io/acme/sensor:1.4.2', 'registry.access.redhat.com/ubi9/ubi-minimal:9.4', 'docker.io/library/redis:7.2'];
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache') });

const HOST: Record<string, string> = {
  // RHEL 9's registries.conf, with a vendor's mirror for its namespace.
  'etc/containers/registries.conf': `unqualified-search-registries = ["registry.access.redhat.com", "registry.redhat.io", "docker.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "quay.io/acme"
location = "quay.io/acme"
[[registry.mirror]]
location = "mirror.acme-vendor.com/acme"
`,
  'etc/containers/registries.conf.d/000-shortnames.conf': '[aliases]\n  "nginx" = "docker.io/library/nginx"\n  "ubi9" = "registry.access.redhat.com/ubi9"\n',
  'etc/containers/registries.d/default.yaml': 'docker:\n  registry.access.redhat.com:\n    lookaside: https://access.redhat.com/webassets/docker/content/sigstore\n',
  'etc/containers/policy.json': JSON.stringify(
    {
      default: [{ type: 'insecureAcceptAnything' }],
      transports: { docker: { 'quay.io/acme': [{ type: 'sigstoreSigned', fulcio: { caPath: '/etc/pki/fulcio.pem', oidcIssuer: 'https://oauth2.sigstore.dev/auth', subjectEmail: 'ci@acme.example' }, rekorPublicKeyPath: '/etc/pki/rekor.pub', signedIdentity: { type: 'matchRepository' } }] } },
    },
    null,
    2,
  ),
  'etc/containers/systemd/web.container': '[Unit]\nDescription=Web front\n\n[Container]\nImage=nginx:1.25\nAutoUpdate=registry\nPublishPort=8080:80\n\n[Install]\nWantedBy=multi-user.target\n',
  'etc/containers/systemd/redis.container': '[Container]\nImage=redis:7.2\n',
  'etc/containers/systemd/sensor.container': '[Container]\nImage=quay.io/acme/sensor:1.4.2\n',
  'etc/containers/systemd/tools.image': '[Image]\nImage=registry.access.redhat.com/ubi9/ubi-minimal:9.4\n',
  'etc/containers/systemd/tools-run.container': '[Container]\nImage=tools.image\nExec=/bin/true\n',
};

async function audit(paths: string[]): Promise<{ code: number; findings: Finding[] }> {
  const r = await runFerry(['audit', ...paths, '--manifest', 'edge.yaml', '--target', 'site.yaml', '--format', 'json', '--fail-on', 'unmapped'], { cwd: work, env: env() });
  return { code: r.code, findings: (JSON.parse(r.stdout) as { findings: Finding[] }).findings };
}

const at = (fs: Finding[], file: string, keyPath?: string) => fs.filter((f) => f.file.endsWith(file) && (keyPath === undefined || f.keyPath === keyPath));

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser32-'));
  site = await startRegistry({ mode: 'http' });
  await offlineImagesSite(work, site, 'edge', IMAGES);
  await writeTree(path.join(work, 'host'), HOST);
}, 120_000);

afterAll(async () => {
  await site?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a RHEL edge host on Podman: Quadlet units, registries.conf, short names', () => {
  it('audit of the host: short names as podman resolves them (alias, or unknown), units with nothing sending them to the mirror go out', async () => {
    const { code, findings } = await audit(['host']);
    expect(code).toBe(5);
    // The alias in 000-shortnames.conf decides; AutoUpdate=registry is said.
    const web = at(findings, 'web.container', 'Container.Image');
    expect(web).toEqual([expect.objectContaining({ line: 5, kind: 'image', value: 'docker.io/library/nginx:1.25', host: 'docker.io', class: 'undeclared' })]);
    expect(web[0].note).toContain('nginx:1.25 in web.container: the short name nginx is an alias for docker.io/library/nginx (host/etc/containers/registries.conf.d/000-shortnames.conf)');
    expect(web[0].note).toContain('AutoUpdate=registry');
    // No alias, three search registries, enforcing: the registry is unknown, not docker.io.
    const redis = at(findings, 'redis.container', 'Container.Image');
    expect(redis).toEqual([expect.objectContaining({ value: 'redis:7.2', host: 'unknown', class: 'undeclared' })]);
    expect(redis[0].note).toContain('registry.access.redhat.com, registry.redhat.io, docker.io (unqualified-search-registries, host/etc/containers/registries.conf)');
    // Carried, but written upstream and no registries.conf entry sends it to the mirror.
    const sensor = at(findings, 'sensor.container', 'Container.Image');
    expect(sensor).toEqual([expect.objectContaining({ value: 'quay.io/acme/sensor:1.4.2', class: 'undeclared' })]);
    expect(sensor[0].note).toContain('sends it to mirror.acme-vendor.com/acme, then quay.io/acme, none of them the mirror');
    // `Image=tools.image` names the .image unit, whose own Image= is the pull.
    expect(at(findings, 'tools-run.container').map((f) => f.value)).toEqual([]);
    expect(at(findings, 'tools.image', 'Image.Image').map((f) => f.value)).toEqual(['registry.access.redhat.com/ubi9/ubi-minimal:9.4']);
    // Signature lookasides are fetched; a Fulcio OIDC issuer is an identity, not a destination.
    expect(at(findings, 'registries.d/default.yaml').map((f) => [f.host, f.class])).toEqual([['access.redhat.com', 'undeclared']]);
    expect(at(findings, 'policy.json')).toEqual([]);
  }, 60_000);

  it('mirror-config registries-conf as a drop-in: audit reads it as podman merges it, and skopeo pulls through it as audit says', async () => {
    const mc = await runFerry(['mirror-config', 'registries-conf', '-t', 'site.yaml', '--lock', 'edge.lock.json', '-o', 'mc'], { cwd: work, env: env() });
    expect(mc.code, mc.stderr).toBe(0);
    const dropIn = await readFile(path.join(work, 'mc', 'registries.conf'), 'utf8');
    await writeFile(path.join(work, 'host/etc/containers/registries.conf.d/50-ferry.conf'), dropIn);
    const { findings } = await audit(['host']);
    const web = at(findings, 'web.container', 'Container.Image')[0];
    expect(web).toMatchObject({ class: 'mirrored', mirror: `${site.host}/ferry/docker.io/library/nginx:1.25` });
    expect(web.note).toContain(`podman pulls it through [[registry]] docker.io of host/etc/containers/registries.conf.d/50-ferry.conf: from ${site.host}/ferry/docker.io/library/nginx; an image the mirror lacks (or a failing mirror) is tried at docker.io itself`);
    expect(at(findings, 'tools.image', 'Image.Image')[0].class).toBe('mirrored');
    // The vendor's longer prefix still wins for quay.io/acme/*.
    expect(at(findings, 'sensor.container', 'Container.Image')[0].class).toBe('undeclared');
    // registries.conf's own hosts: mirrored where the drop-in mirrors the registry, the rest still goes out.
    const conf = at(findings, 'etc/containers/registries.conf').map((f) => [f.keyPath, f.value, f.class]);
    expect(conf).toEqual([
      ['unqualified-search-registries', 'docker.io', 'mirrored'],
      ['unqualified-search-registries', 'registry.access.redhat.com', 'mirrored'],
      ['unqualified-search-registries', 'registry.redhat.io', 'undeclared'],
      ['registry.prefix', 'quay.io', 'mirrored'],
      ['registry.location', 'quay.io', 'mirrored'],
      ['registry.mirror.location', 'mirror.acme-vendor.com', 'undeclared'],
    ]);
    expect(at(findings, '50-ferry.conf').filter((f) => f.class !== 'mirrored' && f.class !== 'internal')).toEqual([]);
    // containers/image merges the drop-in's [[registry]] tables with the main file's: one file
    // holding both is what skopeo reads here (it takes no drop-in directory).
    const merged = path.join(work, 'merged.conf');
    await writeFile(merged, HOST['etc/containers/registries.conf'] + '\n' + dropIn.replace(/^#.*$/gm, ''));
    const inspect = (ref: string) => runCommand('skopeo', ['--registries-conf', merged, 'inspect', '--raw', `docker://${ref}`], { env: skopeoEnv() });
    const nginx = await inspect('docker.io/library/nginx:1.25');
    expect(nginx.code, nginx.stderr).toBe(0);
    expect(JSON.parse(nginx.stdout).layers).toHaveLength(1);
    // quay.io/acme/sensor: the vendor's entry, never the mirror (which holds it): fails here.
    const sensor = await inspect('quay.io/acme/sensor:1.4.2');
    expect(sensor.code).not.toBe(0);
    expect(sensor.stderr).toMatch(/mirror\.acme-vendor\.com|quay\.io/);
    // --never-contact-source: the location is the mirror, nothing upstream is ever tried (skopeo reads it so).
    const never = await runFerry(['mirror-config', 'registries-conf', '-t', 'site.yaml', '--lock', 'edge.lock.json', '-o', 'mc2', '--never-contact-source'], { cwd: work, env: env() });
    expect(never.code, never.stderr).toBe(0);
    const strict = await readFile(path.join(work, 'mc2', 'registries.conf'), 'utf8');
    expect(strict).not.toContain('[[registry.mirror]]');
    await writeFile(path.join(work, 'host/etc/containers/registries.conf.d/50-ferry.conf'), strict);
    const after = (await audit(['host'])).findings;
    expect(at(after, 'web.container', 'Container.Image')[0].note).toContain(`from ${site.host}/ferry/docker.io/library/nginx; no fallback upstream`);
    await writeFile(merged, HOST['etc/containers/registries.conf'] + '\n' + strict.replace(/^#.*$/gm, ''));
    expect((await inspect('docker.io/library/nginx:1.25')).code).toBe(0);
    await writeFile(path.join(work, 'host/etc/containers/registries.conf.d/50-ferry.conf'), dropIn);
  }, 90_000);

  it('rewrite manifests moves Quadlet Image= lines to the mirror, leaves short names named, and the host then audits clean', async () => {
    await cp(path.join(work, 'host'), path.join(work, 'rw'), { recursive: true });
    const units = path.join(work, 'rw/etc/containers/systemd');
    const before = await readFile(path.join(units, 'web.container'), 'utf8');
    const r = await runFerry(['rewrite', 'manifests', units, '-t', 'site.yaml', '--lock', 'edge.lock.json'], { cwd: work, env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('web.container:5  nginx:1.25  (a short name: podman resolves it through the host\'s registries.conf');
    expect(r.stderr).toContain('redis.container:2  redis:7.2');
    expect(await readFile(path.join(units, 'web.container'), 'utf8')).toBe(before);
    // Written fully qualified, as the engineer then does, the units move (every other byte kept).
    await writeFile(path.join(units, 'web.container'), before.replace('Image=nginx:1.25', 'Image=docker.io/library/nginx:1.25'));
    await writeFile(path.join(units, 'redis.container'), '[Container]\nImage=docker.io/library/redis:7.2\n');
    const ok = await runFerry(['rewrite', 'manifests', units, '-t', 'site.yaml', '--lock', 'edge.lock.json'], { cwd: work, env: env() });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('4 replacements');
    expect(await readFile(path.join(units, 'web.container'), 'utf8')).toBe(before.replace('Image=nginx:1.25', `Image=${site.host}/ferry/docker.io/library/nginx:1.25`));
    expect(await readFile(path.join(units, 'sensor.container'), 'utf8')).toBe(`[Container]\nImage=${site.host}/ferry/quay.io/acme/sensor:1.4.2\n`);
    expect(await readFile(path.join(units, 'tools-run.container'), 'utf8')).toBe(HOST['etc/containers/systemd/tools-run.container']);
    // What the units now name is on the mirror.
    for (const ref of IMAGES) {
      const got = await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${site.host}/ferry/${ref}`], { env: skopeoEnv() });
      expect(got.code, got.stderr).toBe(0);
    }
    const again = await runFerry(['rewrite', 'manifests', units, '-t', 'site.yaml', '--lock', 'edge.lock.json'], { cwd: work, env: env() });
    expect(again.stdout).toContain('0 replacements');
    // The units alone (the lookaside is a host file, not a unit) audit clean.
    const { code, findings } = await audit(['rw/etc/containers/systemd']);
    expect(code, JSON.stringify(findings.filter((f) => f.class === 'undeclared'))).toBe(0);
    expect(at(findings, 'sensor.container', 'Container.Image')[0]).toMatchObject({ class: 'internal' });
  }, 90_000);
});
