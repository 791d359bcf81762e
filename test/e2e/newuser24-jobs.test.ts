import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A new user's job, round 24: a team running Docker Compose stacks on a handful of air-gapped
 * Debian VMs, no Kubernetes. Their stacks are a Compose file per app (docker.io short names,
 * quay.io, ghcr.io and a vendor registry; `build:` services beside `image:` ones; an image
 * chosen by `${WEB_IMAGE:-ghcr.io/acme/web:1.4}`; a vendor image whose tag comes from the `.env`;
 * `profiles:`; an `include:` of a shared Compose file), locked from a real docker-registry on
 * loopback (the lock's names then set to the upstream names, as earlier rounds do), then
 * `ferry rewrite manifests stacks/` to point them at the site mirror, because Docker's
 * `registry-mirrors` (`mirror-config docker`) only ever mirrors Docker Hub. What tripped:
 *
 * - `rewrite manifests` read a Compose service's `image:` as a custom resource's: a value with
 *   `${…}` was skipped without a word, and exit 0. `image: ${WEB_IMAGE:-ghcr.io/acme/web:1.4}` and
 *   `image: registry.vendor.example/acme/agent:${AGENT_TAG}` stayed upstream although the lock
 *   carried both, so those containers would still be pulled from ghcr.io and the vendor across
 *   the gap. Now the default is moved (the variable kept, so `.env` or the shell still wins), the
 *   written-out repository of a tag-variable image is moved (the tag variable kept), a `.env` that
 *   sets the variable to an upstream image is named in a warning (or reported when not carried),
 *   and a variable in the registry/repository part with nothing to rewrite is reported as unmapped
 *   (exit non-zero) instead of passing in silence.
 * - `mirror-config docker` with the default nested layout refused, its hint offering a flat layout
 *   or containerd/registries.conf: neither is what a Docker-only host does. The hint now says to
 *   rewrite the Compose files (any layout) and what dockerd then needs (trust for the mirror
 *   host). The daemon.json it writes now notes that dockerd falls back to Docker Hub for an image
 *   the mirror lacks (a timeout behind the gap, not "not found").
 * - Every Compose replacement was labelled "(custom resource)" in the report; a Compose service
 *   is now named as such (`Compose service web`), and `image: redis` is written with the `latest`
 *   Compose pulls.
 */
let work: string;
let upstream: RunningRegistry;
let seeded: SeededImages;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0', FERRY_RETRY_MIN_MS: '10' });
const UPSTREAM = ['docker.io/library/postgres:16', 'ghcr.io/acme/web:1.4', 'quay.io/prometheus/node-exporter:v1.8.0', 'registry.vendor.example/acme/agent:2.1'];
const M = '127.0.0.1:5000';

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser24-'));
  upstream = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  const manifest = ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: stacks }', 'images:'];
  for (const r of [seeded.refs.base, seeded.refs.app, seeded.refs.multi, seeded.refs.docker]) manifest.push(`  - ref: ${r}`);
  await writeFile(path.join(work, 'stacks.yaml'), manifest.join('\n') + '\n');
  const locked = await runFerry(['lock', path.join(work, 'stacks.yaml')], { env: env() });
  if (locked.code !== 0) throw new Error(locked.stderr);
  // The lock as the upstream job writes it (the loopback registry stands in for every upstream).
  const lockFile = path.join(work, 'stacks.lock.json');
  const lock = JSON.parse(await readFile(lockFile, 'utf8')) as { images: { ref: string; source: string }[] };
  lock.images.forEach((img, i) => Object.assign(img, { ref: UPSTREAM[i], source: UPSTREAM[i] }));
  await writeFile(lockFile, JSON.stringify(lock, null, 2) + '\n');
  await writeFile(path.join(work, 'site.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'registry:', `  url: http://${M}`, ''].join('\n'));
}, 180_000);

afterAll(async () => {
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function stack(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(work, name);
  for (const [f, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await writeFile(path.join(dir, f), text);
  }
  return dir;
}

const rewrite = (dir: string, ...more: string[]) =>
  runFerry(['rewrite', 'manifests', dir, '-t', path.join(work, 'site.yaml'), '--lock', path.join(work, 'stacks.lock.json'), ...more], { env: env() });

describe('rewrite manifests over Docker Compose stacks', () => {
  const app = [
    '# the app stack',
    'include:',
    '  - ../common/compose.yaml',
    'services:',
    '  db:',
    '    image: postgres:16   # main database',
    '    profiles: [db]',
    '  web:',
    '    image: ${WEB_IMAGE:-ghcr.io/acme/web:1.4}',
    '    build: ./web',
    '  worker:',
    '    build:',
    '      context: ./worker',
    '  agent:',
    '    image: "registry.vendor.example/acme/agent:${AGENT_TAG}"',
    '',
  ].join('\n');

  it('moves ${VAR:-default} defaults and tag-variable images to the mirror, keeping the variables, comments and build-only services', async () => {
    const dir = await stack('stacks', {
      'app/compose.yaml': app,
      'app/.env': 'AGENT_TAG=2.1\n',
      'common/compose.yaml': 'services:\n  node-exporter:\n    image: quay.io/prometheus/node-exporter:v1.8.0\n',
    });
    const r = await rewrite(dir);
    expect(r.code, r.stderr).toBe(0);
    const after = await readFile(path.join(dir, 'app/compose.yaml'), 'utf8');
    expect(after).toBe(
      app
        .replace('image: postgres:16   #', `image: ${M}/docker.io/library/postgres:16   #`)
        .replace('${WEB_IMAGE:-ghcr.io/acme/web:1.4}', `\${WEB_IMAGE:-${M}/ghcr.io/acme/web:1.4}`)
        .replace('"registry.vendor.example/acme/agent:${AGENT_TAG}"', `"${M}/registry.vendor.example/acme/agent:\${AGENT_TAG}"`),
    );
    expect(await readFile(path.join(dir, 'common/compose.yaml'), 'utf8')).toContain(`image: ${M}/quay.io/prometheus/node-exporter:v1.8.0`);
    expect(r.stdout).toContain(`\${WEB_IMAGE:-ghcr.io/acme/web:1.4} → \${WEB_IMAGE:-${M}/ghcr.io/acme/web:1.4}`);
    expect(r.stdout).not.toContain('custom resource');
    // Idempotent: a second run finds everything on the mirror.
    const again = await rewrite(dir);
    expect(again.code, again.stderr).toBe(0);
    expect(await readFile(path.join(dir, 'app/compose.yaml'), 'utf8')).toBe(after);
    const json = await rewrite(dir, '--dry-run', '--json');
    expect((JSON.parse(json.stdout) as { replacements: unknown[] }).replacements).toEqual([]);
  });

  it('a .env that picks an upstream image, and a variable registry, are reported instead of passing in silence', async () => {
    const files = {
      'compose.yaml': [
        'services:',
        '  web:',
        '    image: ${WEB_IMAGE:-ghcr.io/acme/web:1.4}',
        '  api:',
        '    image: ${REGISTRY}/acme/api:2',
        '  old:',
        '    image: ${OLD_IMAGE:-ghcr.io/acme/web:0.9}',
        '',
      ].join('\n'),
      '.env': 'WEB_IMAGE=ghcr.io/acme/web:1.4\n',
    };
    const dir = await stack('reported', files);
    const r = await rewrite(dir, '--dry-run');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('compose.yaml:5  ${REGISTRY}/acme/api:2  (a Compose variable (${REGISTRY}) in its registry or repository');
    expect(r.stderr).toContain('Compose service api');
    expect(r.stderr).toContain('compose.yaml:7  ghcr.io/acme/web:0.9  (the default of ${OLD_IMAGE} (set neither in .env): tag 0.9 not in the lock');
    // The rest rewritten: the default moves, and so does the .env value Compose actually pulls (newuser35: it was only named).
    const rest = await rewrite(dir, '--allow-unmapped');
    expect(rest.code, rest.stderr).toBe(0);
    expect(await readFile(path.join(dir, '.env'), 'utf8')).toBe(`WEB_IMAGE=${M}/ghcr.io/acme/web:1.4\n`);
    expect(await readFile(path.join(dir, 'compose.yaml'), 'utf8')).toContain(`image: \${WEB_IMAGE:-${M}/ghcr.io/acme/web:1.4}`);
  });

  it('a tag variable set nowhere is reported, naming it', async () => {
    const dir = await stack('notag', { 'compose.yaml': 'services:\n  agent:\n    image: registry.vendor.example/acme/agent:${AGENT_TAG}\n' });
    const r = await rewrite(dir, '--dry-run');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('its tag variable (${AGENT_TAG}) is set neither in a .env beside the file (there is none) nor by a default');
  });
});

describe('mirror-config docker for Compose hosts', () => {
  it('the nested-layout refusal tells a Docker host to rewrite its Compose files, and the daemon.json note says dockerd falls back to Docker Hub', async () => {
    const lock = path.join(work, 'stacks.lock.json');
    const nested = await runFerry(['mirror-config', 'docker', '-o', path.join(work, 'docker-nested'), '-t', path.join(work, 'site.yaml'), '--lock', lock], { env: env() });
    expect(nested.code).not.toBe(0);
    expect(nested.stderr).toContain('`ferry rewrite manifests <compose dir>`');
    expect(nested.stderr).toContain(`dockerd needs only to trust ${M}`);
    const flat = path.join(work, 'flat.yaml');
    await writeFile(flat, ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'registry:', `  url: http://${M}`, '  layout: flat', ''].join('\n'));
    const r = await runFerry(['mirror-config', 'docker', '-o', path.join(work, 'docker-flat'), '-t', flat, '--lock', lock], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(await readFile(path.join(work, 'docker-flat', 'daemon.json'), 'utf8'))).toEqual({ 'registry-mirrors': [`http://${M}`], 'insecure-registries': [M] });
    expect(r.stdout + r.stderr).toContain(`dockerd falls back to Docker Hub for an image ${M} lacks`);
    expect(r.stderr).toContain("Docker's registry-mirrors mirror docker.io only; images from ghcr.io, quay.io, registry.vendor.example still go upstream");
  });
});

