import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRunFerry } from '../support/cli.js';
import { seedImages, skopeoDigest, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

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
  }, 180_000);
});
