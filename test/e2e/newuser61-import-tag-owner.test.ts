import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRunFerry } from '../support/cli.js';
import { seedImages, skopeoDigest, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { startFerryServe } from '../support/static-http.js';
import { sha256 } from '../support/oci-push.js';

/**
 * newuser61: a converted Zarf package (`--arch amd64`) lists ingress-nginx's controller by tag for
 * linux/amd64, and the chart deploys the same tag pinned by digest (the whole index). Both went to
 * one mirror tag: it ended on whichever push finished last, and every import moved it again with a
 * "rollback" warning. Now the entry listed by tag alone owns the tag and the pinned one goes by
 * digest: import is stable and a second run sends nothing. Upstream and site are Distribution
 * registries on loopback; the site's tag and digest are read back with skopeo.
 */

let work: string;
let up: RunningRegistry;
let site: RunningRegistry;
let seeded: SeededImages;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser61-tag-'));
  [up, site] = await Promise.all([startRegistry({ mode: 'http' }), startRegistry({ mode: 'http' })]);
  seeded = await seedImages(up);
}, 120_000);

afterAll(async () => {
  await Promise.all([up?.stop(), site?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('newuser61: one tag, two image entries of one bundle', () => {
  it('the entry listed by tag owns the mirror tag; the digest-pinned one is pushed by digest; a second import sends nothing', async () => {
    const index = seeded.digests.multi;
    await writeFile(
      path.join(work, 'manifest.yaml'),
      [
        'apiVersion: ferry/v1alpha1',
        'kind: Manifest',
        'metadata: { name: edge }',
        'images:',
        `  - ref: ${seeded.refs.multi}`,
        '    platforms: [linux/amd64]',
        `  - ref: ${seeded.refs.multi}@${index}`,
        '',
      ].join('\n'),
    );
    await writeFile(path.join(work, 'site.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', `registry: { url: ${site.url} }`, ''].join('\n'));
    await mustRunFerry(['lock', 'manifest.yaml', '--insecure-registry', up.host], { cwd: work, env: env() });
    const lock = JSON.parse(await readFile(path.join(work, 'edge.lock.json'), 'utf8')) as { images: Array<{ ref: string; digest: string; storedDigest?: string }> };
    const filtered = lock.images.find((i) => i.ref === seeded.refs.multi)?.storedDigest;
    expect(filtered).toMatch(/^sha256:/);
    expect(filtered).not.toBe(index);
    await mustRunFerry(['bundle', 'create', 'manifest.yaml', '-o', 'edge.ferry.tar', '--insecure-registry', up.host], { cwd: work, env: env() });

    const first = await mustRunFerry(['import', 'edge.ferry.tar', '--target', 'site.yaml'], { cwd: work });
    expect(first.stdout + first.stderr).not.toContain('tag moved');
    const repo = `${site.host}/${up.host.replace(':', '-')}/ferry-test/multi`;
    // The tag is what `multi:1` with linux/amd64 asked for; the chart's pin resolves by its digest.
    expect(await skopeoDigest(site, `${repo}:1`)).toBe(filtered);
    expect(await skopeoDigest(site, `${repo}@${index}`)).toBe(index);

    const again = await mustRunFerry(['import', 'edge.ferry.tar', '--target', 'site.yaml'], { cwd: work });
    expect(again.stdout + again.stderr).not.toContain('tag moved');
    expect(again.stdout).toMatch(/\b0 imported, 2 already present, 0 B sent/);
    expect(await skopeoDigest(site, `${repo}:1`)).toBe(filtered);

    // serve answers the tag as import pushed it (it had served the first entry of index.json).
    const serve = await startFerryServe(['edge.ferry.tar', '--target', 'site.yaml'], { cwd: work });
    try {
      const accept = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json';
      const served = async (ref: string) => {
        const res = await fetch(`${serve.url}/v2/${repo.slice(site.host.length + 1)}/manifests/${ref}`, { headers: { accept } });
        expect(res.status, ref).toBe(200);
        return sha256(Buffer.from(await res.arrayBuffer()));
      };
      expect(await served('1')).toBe(filtered);
      expect(await served(index)).toBe(index);
    } finally {
      await serve.stop();
    }
  }, 180_000);

  it('two digests pinned under one tag and none by the tag alone: import and serve both leave the tag to no one, each served by its digest', async () => {
    const dir = path.join(work, 'pinned');
    await mkdir(dir, { recursive: true });
    const index = seeded.digests.multi;
    const amd64 = seeded.platforms['linux/amd64'];
    await writeFile(path.join(dir, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: pins }', 'images:', `  - ref: ${seeded.refs.multi}@${index}`, `  - ref: ${seeded.refs.multi}@${amd64}`, ''].join('\n'));
    await writeFile(path.join(dir, 'site.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', `registry: { url: ${site.url}, prefix: pins }`, ''].join('\n'));
    await mustRunFerry(['bundle', 'create', 'manifest.yaml', '-o', 'pins.ferry.tar', '--insecure-registry', up.host], { cwd: dir, env: env() });
    const imported = await mustRunFerry(['import', 'pins.ferry.tar', '--target', 'site.yaml'], { cwd: dir });
    expect(imported.stdout + imported.stderr).toContain('tag 1 left as it was');
    const repo = `pins/${up.host.replace(':', '-')}/ferry-test/multi`;
    const tagged = await fetch(`${site.url}/v2/${repo}/manifests/1`, { method: 'HEAD' });
    expect(tagged.status).toBe(404);

    const serve = await startFerryServe(['pins.ferry.tar', '--target', 'site.yaml'], { cwd: dir });
    try {
      const accept = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';
      const status = async (ref: string) => (await fetch(`${serve.url}/v2/${repo}/manifests/${ref}`, { headers: { accept } })).status;
      expect(await status('1')).toBe(404);
      expect(await status(index)).toBe(200);
      expect(await status(amd64)).toBe(200);
    } finally {
      await serve.stop();
    }
  }, 180_000);
});
