/**
 * Hostile pass 20, `ferry lock --check` content comparison (src/commands/lock.ts lockContentMismatch).
 *
 * Fixed: a lock that carries the manifest's digest (anyone can compute it) still passed with
 * - an image in `images:` that neither the manifest nor any locked chart names (`bundle create
 *   --frozen` carries and imports it);
 * - an APT repository the manifest names with an extra suite, component or architecture, or
 *   the whole repository where the manifest asks for some packages (or other packages);
 * - a chart "dependency" whose `dependencyOf` names no chart of the lock.
 * Accepted (README, In CI): an image added to a locked chart's own `images:` list, a dependency
 * added under a real chart, and every digest and version pinned: telling them needs the chart
 * archives or the network, so the reviewer reads the lock's diff.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockCheck } from '../../src/commands/lock.js';
import { loadManifest } from '../../src/kinds/schema.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h20-check-'));
  await writeFile(path.join(dir, 'k.asc'), 'key\n');
  await writeFile(
    path.join(dir, 'm.yaml'),
    'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: {name: m}\nimages:\n  - ref: nginx:1.25\ncharts:\n  - name: app\n    repo: https://charts.example.com\n    version: 1.0.0\n' +
      'apt:\n  - name: deb\n    url: https://deb.example.com/debian\n    suites: [bookworm]\n    components: [main]\n    architectures: [amd64]\n    packages: [curl]\n    keys: [k.asc]\n',
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SHA = 'a'.repeat(64);
const D = `sha256:${SHA}`;
const image = (ref: string, source = ref) => ({ source, ref, digest: D, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1, manifests: [], blobs: [] });
const chart = (name: string, repo: string, images: string[], dependencyOf?: string[]) => ({
  name,
  repo,
  version: '1.0.0',
  requested: '1.0.0',
  source: 'http',
  url: `${repo}/${name}-1.0.0.tgz`,
  digest: D,
  size: 1,
  images,
  ...(dependencyOf ? { dependencyOf } : {}),
});
const suite = (s: string) => ({ suite: s, signedBy: 'F'.repeat(40), release: [], indexes: [], packages: [] });
const apt = (over: Record<string, unknown> = {}) => ({ name: 'deb', url: 'https://deb.example.com/debian', mode: 'filtered', components: ['main'], architectures: ['amd64'], packages: ['curl'], suites: [suite('bookworm')], unsatisfied: [], ...over });

async function check(over: { images?: unknown[]; charts?: unknown[]; apt?: unknown[] } = {}) {
  const loaded = await loadManifest(path.join(dir, 'm.yaml'));
  const lock = {
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'm', digest: loaded.digest },
    images: over.images ?? [image('docker.io/library/nginx:1.25', 'nginx:1.25'), image('ghcr.io/acme/app:1')],
    charts: over.charts ?? [chart('app', 'https://charts.example.com', ['ghcr.io/acme/app:1'])],
    files: [],
    apt: over.apt ?? [apt()],
  };
  await writeFile(path.join(dir, 'm.lock.json'), JSON.stringify(lock, null, 2));
  return lockCheck(path.join(dir, 'm.yaml'));
}

describe('hostile-20: lock --check compares images and APT repositories too', () => {
  it('held: the lock the manifest names passes (an image in normal form, a chart image)', async () => {
    expect(await check()).toEqual(expect.objectContaining({ upToDate: true }));
  });

  it('an image neither the manifest nor a locked chart names fails, named', async () => {
    const r = await check({ images: [image('docker.io/library/nginx:1.25', 'nginx:1.25'), image('ghcr.io/acme/app:1'), image('evil.example/implant:1')] });
    expect(r.upToDate).toBe(false);
    expect(r.reason).toContain("image evil.example/implant:1 is in the lock, neither in the manifest nor in a locked chart's images:");
  });

  it("the manifest's image missing from the lock fails", async () => {
    const r = await check({ images: [image('ghcr.io/acme/app:1')] });
    expect(r.reason).toContain('image docker.io/library/nginx:1.25 is not in the lock');
  });

  it('an APT repository with an extra suite, component or architecture, or other packages, fails', async () => {
    expect((await check({ apt: [apt({ suites: [suite('bookworm'), suite('sid')] })] })).reason).toContain('apt deb (https://deb.example.com/debian) suite sid is in the lock, not in the manifest');
    expect((await check({ apt: [apt({ components: ['main', 'non-free'] })] })).reason).toContain('component non-free is in the lock, not in the manifest');
    expect((await check({ apt: [apt({ architectures: ['amd64', 'arm64'] })] })).reason).toContain('architecture arm64 is in the lock, not in the manifest');
    expect((await check({ apt: [apt({ packages: ['curl', 'netcat'] })] })).reason).toContain('package netcat is in the lock, not in the manifest');
    expect((await check({ apt: [apt({ mode: 'whole', packages: undefined })] })).reason).toContain('the lock carries the whole repository, the manifest asks for some packages');
  });

  it('a chart dependency of no locked chart fails; one of a locked chart passes', async () => {
    const app = chart('app', 'https://charts.example.com', ['ghcr.io/acme/app:1']);
    expect((await check({ charts: [app, chart('other', 'https://evil.example', [], ['nothing 9'])] })).reason).toContain('chart other (https://evil.example) is in the lock as a dependency of nothing 9, which the lock does not hold');
    expect(await check({ charts: [app, chart('redis', 'https://charts.example.com', [], ['app 1.0.0'])] })).toEqual(expect.objectContaining({ upToDate: true }));
  });
});
