import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { offlineWork } from '../support/offline-lock.js';
import type { AuditReport, Finding } from '../../src/audit/audit.js';

/**
 * `rewrite manifests` on a podman host writes a short name's mirror name as podman pulls it —
 * through the host's registries.conf given with the files (its aliases, the one
 * unqualified-search registry) — never the Docker Hub name the reference normalizes to: a
 * Quadlet unit, the YAML a `.kube` unit hands to `podman kube play`, and a Compose file on that
 * host (where podman-compose and docker compose on the podman socket must agree), as audit reads
 * them. Where podman's choice is unknown, the image is left and named.
 */

const MIRROR = 'registry.site.internal/ferry';
const IMAGES = ['docker.io/library/redis:7.2', 'quay.io/opstree/redis:7.2', 'docker.io/library/nginx:1.25', 'docker.io/library/busybox:1.36'];

const HOST: Record<string, string> = {
  'etc/containers/registries.conf': `unqualified-search-registries = ["registry.access.redhat.com", "docker.io"]
short-name-mode = "enforcing"

[aliases]
"redis" = "quay.io/opstree/redis"
"nginx" = "docker.io/library/nginx"
`,
  'etc/containers/systemd/cache.container': '[Container]\nImage=redis:7.2\n',
  'etc/containers/systemd/tools.container': '[Container]\nImage=busybox:1.36\n',
  'etc/containers/systemd/web.kube': '[Kube]\nYaml=web.yaml\n',
  'etc/containers/systemd/web.yaml': `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: cache
      image: redis:7.2
    - name: web
      image: nginx:1.25
`,
  'srv/stack/compose.yaml': `services:
  cache:
    image: redis:7.2
  web:
    image: nginx:1.25
`,
};

let work = '';

beforeAll(async () => {
  work = await offlineWork('ferry-podman-short-', IMAGES);
  for (const [f, t] of Object.entries(HOST)) {
    await mkdir(path.dirname(path.join(work, 'host', f)), { recursive: true });
    await writeFile(path.join(work, 'host', f), t);
  }
}, 60_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const read = (dir: string, f: string) => readFile(path.join(work, dir, f), 'utf8');

async function findings(dir: string): Promise<Finding[]> {
  const r = await runFerry(['audit', dir, '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
  return (JSON.parse(r.stdout) as AuditReport).findings.filter((f) => f.kind === 'image');
}

describe('rewrite manifests: short names as podman pulls them', () => {
  it('the host with its registries.conf: aliases followed, the Compose alias podman-compose and docker compose disagree on left, several search registries left', async () => {
    await cp(path.join(work, 'host'), path.join(work, 'rw'), { recursive: true });
    // Nothing is written while an image is left unmapped…
    const refused = await runFerry(['rewrite', 'manifests', 'rw', '-t', 't.yaml', '--lock', 'm.lock.json'], { cwd: work });
    expect(refused.code, refused.stderr).toBe(1);
    expect(await read('rw', 'etc/containers/systemd/cache.container')).toBe(HOST['etc/containers/systemd/cache.container']);
    // …and with --allow-unmapped the rest moves.
    const r = await runFerry(['rewrite', 'manifests', 'rw', '-t', 't.yaml', '--lock', 'm.lock.json', '--allow-unmapped'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    // Quadlet: the alias says quay.io, which the mirror holds under its own name.
    expect(await read('rw', 'etc/containers/systemd/cache.container')).toBe(`[Container]\nImage=${MIRROR}/quay.io/opstree/redis:7.2\n`);
    // kube play: the same aliases.
    const pod = await read('rw', 'etc/containers/systemd/web.yaml');
    expect(pod).toContain(`image: ${MIRROR}/quay.io/opstree/redis:7.2`);
    expect(pod).toContain(`image: ${MIRROR}/docker.io/library/nginx:1.25`);
    expect(pod).not.toContain('docker.io/library/redis');
    // Compose: nginx's alias is Docker Hub, which both clients pull; redis's is not, so which is pulled depends on the client.
    const compose = await read('rw', 'srv/stack/compose.yaml');
    expect(compose).toContain(`image: ${MIRROR}/docker.io/library/nginx:1.25`);
    expect(compose).toContain('image: redis:7.2\n');
    expect(r.stdout + r.stderr).toMatch(/compose\.yaml:3 {2}redis:7\.2 {2}not mirrored: a short name: podman-compose pulls it as podman resolves it, quay\.io\/opstree\/redis:7\.2 \(the short name redis is an alias for quay\.io\/opstree\/redis \(rw\/etc\/containers\/registries\.conf\)\)/);
    // Two search registries and short-name-mode enforcing: podman refuses it under systemd; left.
    expect(await read('rw', 'etc/containers/systemd/tools.container')).toBe(HOST['etc/containers/systemd/tools.container']);
    expect(r.stdout + r.stderr).toMatch(/tools\.container:2 {2}busybox:1\.36 {2}not mirrored: a short name with no alias: podman refuses it without a terminal/);
    // registries.conf is read, not rewritten.
    expect(await read('rw', 'etc/containers/registries.conf')).toBe(HOST['etc/containers/registries.conf']);
    // What moved now audits as on the mirror; what was left is still named.
    const after = await findings('rw');
    const at = (file: string) => after.filter((f) => f.file === `rw/${file}`);
    expect(at('etc/containers/systemd/cache.container').map((f) => f.class)).toEqual(['internal']);
    expect(at('etc/containers/systemd/web.yaml').map((f) => f.class)).toEqual(['internal', 'internal']);
    expect(at('srv/stack/compose.yaml').map((f) => [f.value, f.class])).toContainEqual([`${MIRROR}/docker.io/library/nginx:1.25`, 'internal']);
    expect(at('srv/stack/compose.yaml').find((f) => f.value.includes('redis'))?.class).not.toBe('internal');
  });

  it('without the host registries.conf, a Quadlet or kube play short name is unknown and left', async () => {
    await cp(path.join(work, 'host/etc/containers/systemd'), path.join(work, 'units'), { recursive: true });
    const r = await runFerry(['rewrite', 'manifests', 'units', '-t', 't.yaml', '--lock', 'm.lock.json'], { cwd: work });
    expect(r.code, r.stderr).toBe(1);
    expect(await read('units', 'cache.container')).toBe(HOST['etc/containers/systemd/cache.container']);
    expect(await read('units', 'web.yaml')).toBe(HOST['etc/containers/systemd/web.yaml']);
    expect(r.stdout + r.stderr).toMatch(/web\.yaml:8 {2}redis:7\.2 {2}\(run by podman kube play: a short name: podman resolves it through registries\.conf/);
  });
});
