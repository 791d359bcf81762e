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
 * RHEL edge hosts on podman (new-user round 35): Compose stacks run by podman-compose (or docker
 * compose on the podman socket) with a `.env` beside each compose file, Quadlet `.kube` units
 * whose `Yaml=` names a Kubernetes YAML, and each host's own /etc/containers/registries.conf, all
 * in one scanned tree (hosts/<name>/…).
 *
 * What tripped:
 * - a Compose `image: redis:7.2` on a podman host was read as Docker Hub through dockerd: podman
 *   resolves it through that host's registries.conf (here an alias), and its carried images go
 *   through its [[registry]] entries, not Docker's registry-mirrors.
 * - the `.env` was never rewritten: `APP_IMAGE="quay.io/acme/app:1.4"` and `REGISTRY=quay.io`
 *   (under `${REGISTRY}/acme/sensor:${TAG}`) kept pulling upstream after `rewrite manifests`.
 * - a `.kube` unit's `Yaml=` file was audited as plain Kubernetes: its short names were taken for
 *   docker.io and its carried images "mirrored" with nothing sending podman there; one named
 *   outside the scan passed unnoticed.
 * - two hosts' registries.conf were merged: edge-b's `Image=nginx:1.25` took edge-a's alias.
 */

let work: string;
let site: RunningRegistry;
const IMAGES = ['docker.io/library/nginx:1.25', 'docker.io/library/redis:7.2', 'quay.io/acme/app:1.4', 'quay.io/acme/sensor:1.4.2'];
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache') });

const COMPOSE = 'services:\n  cache:\n    image: redis:7.2\n  app:\n    image: ${APP_IMAGE}\n  sensor:\n    image: ${REGISTRY}/acme/sensor:${TAG}\n';
const DOTENV = '# stack settings\nAPP_IMAGE="quay.io/acme/app:1.4"  # pinned by the vendor\nexport REGISTRY=quay.io\nTAG=1.4.2\n';
const POD = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: web\n      image: nginx:1.25\n';

const HOSTS: Record<string, string> = {
  'edge-a/etc/containers/registries.conf': 'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "enforcing"\n',
  'edge-a/etc/containers/registries.conf.d/000-shortnames.conf': '[aliases]\n  "nginx" = "docker.io/library/nginx"\n  "redis" = "docker.io/library/redis"\n',
  'edge-a/etc/containers/systemd/web.kube': '[Unit]\nDescription=Web pod\n\n[Kube]\nYaml=web.yaml\n\n[Install]\nWantedBy=default.target\n',
  'edge-a/etc/containers/systemd/web.yaml': POD,
  'edge-a/srv/stack/compose.yaml': COMPOSE,
  'edge-a/srv/stack/.env': DOTENV,
  // Another host: one search registry and no aliases.
  'edge-b/etc/containers/registries.conf': 'unqualified-search-registries = ["quay.io"]\n',
  'edge-b/etc/containers/systemd/front.container': '[Container]\nImage=nginx:1.25\n',
};

type Skipped = { file: string; reason: string; unscanned: boolean };
async function audit(paths: string[]): Promise<{ code: number; findings: Finding[]; skipped: Skipped[] }> {
  const r = await runFerry(['audit', ...paths, '--manifest', 'edge.yaml', '--target', 'site.yaml', '--format', 'json', '--fail-on', 'unmapped'], { cwd: work, env: env() });
  const out = JSON.parse(r.stdout) as { findings: Finding[]; skipped?: Skipped[] };
  return { code: r.code, findings: out.findings, skipped: out.skipped ?? [] };
}

const at = (fs: Finding[], file: string, keyPath?: string) => fs.filter((f) => f.file.endsWith(file) && (keyPath === undefined || f.keyPath === keyPath));
const inspect = (ref: string, conf?: string) => runCommand('skopeo', [...(conf ? ['--registries-conf', conf] : []), 'inspect', '--raw', ...(conf ? [] : ['--tls-verify=false']), `docker://${ref}`], { env: skopeoEnv() });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser35-'));
  site = await startRegistry({ mode: 'http' });
  await offlineImagesSite(work, site, 'edge', IMAGES);
  await writeTree(path.join(work, 'hosts'), HOSTS);
}, 120_000);

afterAll(async () => {
  await site?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('RHEL edge hosts on podman: Compose with .env, .kube units, one registries.conf per host', () => {
  it('audit reads Compose and .kube pulls as podman does, each with its own host\'s registries.conf', async () => {
    const { findings } = await audit(['hosts']);
    // Compose on a podman host: the short name through edge-a's alias, the route through its registries.conf (none yet).
    const cache = at(findings, 'edge-a/srv/stack/compose.yaml', 'services.cache.image');
    expect(cache).toEqual([expect.objectContaining({ value: 'docker.io/library/redis:7.2', host: 'docker.io', class: 'undeclared' })]);
    expect(cache[0].note).toContain('redis:7.2 in compose.yaml service cache: the short name redis is an alias for docker.io/library/redis (hosts/edge-a/etc/containers/registries.conf.d/000-shortnames.conf)');
    expect(cache[0].note).toContain('podman pulls it upstream');
    expect(cache[0].note).not.toContain('registry-mirrors');
    // The .kube unit's Yaml= is podman's pull too: not "mirrored" while nothing sends podman to the mirror.
    const pod = at(findings, 'edge-a/etc/containers/systemd/web.yaml', 'spec.containers[0].image');
    expect(pod).toEqual([expect.objectContaining({ value: 'docker.io/library/nginx:1.25', class: 'undeclared' })]);
    expect(pod[0].note).toContain('nginx:1.25 in web.kube (Yaml=web.yaml): the short name nginx is an alias for docker.io/library/nginx');
    // edge-b: its own registries.conf (one search registry, no alias), not edge-a's alias.
    const front = at(findings, 'edge-b/etc/containers/systemd/front.container', 'Container.Image');
    expect(front).toEqual([expect.objectContaining({ value: 'quay.io/nginx:1.25', host: 'quay.io', class: 'undeclared' })]);
    expect(front[0].note).toContain('the one unqualified-search registry, quay.io (hosts/edge-b/etc/containers/registries.conf)');
  }, 60_000);

  it('mirror-config drop-in, rewrite manifests (the .env too): skopeo pulls what podman would, and edge-a audits clean', async () => {
    const mc = await runFerry(['mirror-config', 'registries-conf', '-t', 'site.yaml', '--lock', 'edge.lock.json', '-o', 'mc'], { cwd: work, env: env() });
    expect(mc.code, mc.stderr).toBe(0);
    const dropIn = await readFile(path.join(work, 'mc', 'registries.conf'), 'utf8');
    await cp(path.join(work, 'hosts'), path.join(work, 'rw'), { recursive: true });
    await writeFile(path.join(work, 'rw/edge-a/etc/containers/registries.conf.d/50-ferry.conf'), dropIn);
    const stack = path.join(work, 'rw/edge-a/srv/stack');
    // The host's etc/containers, registries.conf with the units: the kube play YAML's short names are podman's to resolve.
    const r = await runFerry(['rewrite', 'manifests', stack, path.join(work, 'rw/edge-a/etc/containers'), '-t', 'site.yaml', '--lock', 'edge.lock.json'], { cwd: work, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const M = `${site.host}/ferry`;
    // The .env: values moved where they are set, quotes, comments and `export` kept.
    expect(await readFile(path.join(stack, '.env'), 'utf8')).toBe(`# stack settings\nAPP_IMAGE="${M}/quay.io/acme/app:1.4"  # pinned by the vendor\nexport REGISTRY=${M}/quay.io\nTAG=1.4.2\n`);
    expect(await readFile(path.join(stack, 'compose.yaml'), 'utf8')).toBe(COMPOSE.replace('image: redis:7.2', `image: ${M}/docker.io/library/redis:7.2`));
    expect(await readFile(path.join(work, 'rw/edge-a/etc/containers/systemd/web.yaml'), 'utf8')).toBe(POD.replace('nginx:1.25', `${M}/docker.io/library/nginx:1.25`));
    // What Compose now interpolates is on the mirror.
    for (const ref of [`${M}/quay.io/acme/app:1.4`, `${M}/quay.io/acme/sensor:1.4.2`, `${M}/docker.io/library/redis:7.2`]) {
      const got = await inspect(ref);
      expect(got.code, got.stderr).toBe(0);
    }
    // And what podman pulls for a name still written upstream goes through edge-a's merged registries.conf to the mirror.
    const merged = path.join(work, 'edge-a.conf');
    await writeFile(merged, HOSTS['edge-a/etc/containers/registries.conf'] + '\n' + dropIn.replace(/^#.*$/gm, ''));
    const viaConf = await inspect('docker.io/library/nginx:1.25', merged);
    expect(viaConf.code, viaConf.stderr).toBe(0);
    const again = await runFerry(['rewrite', 'manifests', stack, '-t', 'site.yaml', '--lock', 'edge.lock.json'], { cwd: work, env: env() });
    expect(again.stdout).toContain('0 replacements');
    // "Nothing outside" on edge-a.
    const { code, findings } = await audit(['rw/edge-a']);
    expect(code, JSON.stringify(findings.filter((f) => f.class === 'undeclared' || f.host === 'unknown'))).toBe(0);
    expect(at(findings, 'compose.yaml', 'services.sensor.image')[0]).toMatchObject({ value: `${M}/quay.io/acme/sensor:1.4.2`, class: 'internal' });
  }, 120_000);

  it('a .kube unit whose Yaml= leaves the scan is unaudited and not rewritten, and said so', async () => {
    const dir = path.join(work, 'stray/etc/containers/systemd');
    await writeTree(path.join(work, 'stray'), {
      'etc/containers/registries.conf': 'unqualified-search-registries = ["docker.io"]\n',
      'etc/containers/systemd/app.kube': '[Kube]\nYaml=/opt/app/pod.yaml\n',
      'etc/containers/systemd/up.kube': '[Kube]\nYaml=../../../../../elsewhere/pod.yaml\n',
    });
    const { code, skipped } = await audit(['stray']);
    expect(code).not.toBe(0);
    expect(skipped).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ file: 'stray/etc/containers/systemd/app.kube', unscanned: true, reason: expect.stringContaining('Yaml=/opt/app/pod.yaml names the Kubernetes YAML podman kube play runs, and stray/opt/app/pod.yaml is not in the scan') }),
        expect.objectContaining({ file: 'stray/etc/containers/systemd/up.kube', unscanned: true, reason: expect.stringContaining('it leads out of the scanned tree') }),
      ]),
    );
    const r = await runFerry(['rewrite', 'manifests', dir, '-t', 'site.yaml', '--lock', 'edge.lock.json'], { cwd: work, env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('app.kube:2  Yaml=/opt/app/pod.yaml  (the Kubernetes YAML podman kube play runs');
    expect(r.stderr).toContain('up.kube:2  Yaml=../../../../../elsewhere/pod.yaml');
  }, 60_000);
});
