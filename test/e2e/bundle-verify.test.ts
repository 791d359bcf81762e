import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OciIndex } from '../../src/oci/media-types.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { packBundle } from '../../src/store/bundle-pack.js';
import { mustRun, runFerry } from '../support/cli.js';
import { writeOciLayout, type Descriptor } from '../support/images.js';
import { flipByte, tarEntries } from '../support/tar-walk.js';

/**
 * The bundle as a user meets it: packed from a real OCI layout, read by skopeo (not by ferry)
 * straight out of the tar, and checked by the built `ferry bundle verify`.
 */

const ALPINE = 'docker.io/library/alpine:3.20';
const API = 'registry.example.com:5000/team/api:1.4.2';
const base = { files: { 'etc/os-release': 'NAME=ferry-test\n', 'bin/sh': '#!/bin/true\n' } };

let dir: string;
let upstream: string;
let tops: Record<string, Descriptor>;
let bundle: string;
let packed: Awaited<ReturnType<typeof packBundle>>;

const sha256 = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** The test driver: pack an upstream layout's images as `bundle create` would. */
async function pack(layoutDir: string, refs: string[], output: string) {
  const index: OciIndex = {
    schemaVersion: 2,
    manifests: refs.map((ref) => ({ ...tops[ref], annotations: { 'org.opencontainers.image.ref.name': ref, 'io.ferry.kind': 'image' } })),
  };
  return packBundle({
    store: new BlobStore(layoutDir),
    index,
    metadata: { manifestYaml: `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: app }\n`, lock: JSON.stringify(lockFor(refs), null, 2) + '\n', manifestName: 'app' },
    output,
  });
}

function lockFor(refs: string[]) {
  return {
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'app', digest: sha256('app') },
    images: refs.map((ref) => ({ source: ref, ref, digest: tops[ref].digest, mediaType: tops[ref].mediaType, size: tops[ref].size, manifests: [], blobs: [] })),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-verify-'));
  upstream = path.join(dir, 'upstream');
  tops = await writeOciLayout(upstream, [
    { name: ALPINE, platforms: [{ architecture: 'amd64', layers: [base] }] },
    {
      name: API,
      platforms: [
        { architecture: 'amd64', layers: [base, { randomBytes: 3 * 1024 * 1024, seed: 'api-amd64' }] },
        { architecture: 'arm64', layers: [base, { randomBytes: 3 * 1024 * 1024, seed: 'api-arm64' }] },
      ],
    },
  ]);
  bundle = path.join(dir, 'app.ferry.tar');
  packed = await pack(upstream, [ALPINE, API], bundle);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a packed bundle, read without ferry', () => {
  it('skopeo inspects images straight out of the tar, digests equal upstream', async () => {
    for (const ref of [ALPINE, API]) {
      const raw = await mustRun('skopeo', ['inspect', '--raw', `oci-archive:${bundle}:${ref}`]);
      expect(sha256(Buffer.from(raw.stdout))).toBe(tops[ref].digest);
    }
    const inspected = JSON.parse((await mustRun('skopeo', ['inspect', `oci-archive:${bundle}:${ALPINE}`])).stdout);
    expect(inspected.Architecture).toBe('amd64');
    expect(inspected.Layers).toHaveLength(1);
  });

  it('skopeo copies every platform out of the bundle with the upstream digests', async () => {
    const out = path.join(dir, 'copied');
    await mustRun('skopeo', ['copy', '--all', '--preserve-digests', `oci-archive:${bundle}:${API}`, `oci:${out}:api`]);
    const index = JSON.parse(await readFile(path.join(out, 'index.json'), 'utf8'));
    expect(index.manifests[0].digest).toBe(tops[API].digest);
    const upstreamBlobs = (await readdir(path.join(upstream, 'blobs/sha256'))).sort();
    const copiedBlobs = (await readdir(path.join(out, 'blobs/sha256'))).sort();
    for (const b of copiedBlobs) expect(upstreamBlobs).toContain(b);

    const single = path.join(dir, 'single');
    await mustRun('skopeo', ['copy', '--preserve-digests', `oci-archive:${bundle}:${ALPINE}`, `dir:${single}`]);
    expect(sha256(await readFile(path.join(single, 'manifest.json')))).toBe(tops[ALPINE].digest);
  });

  it('stores shared blobs once: the tar is within 1 % of the unique blob bytes', async () => {
    const uniqueBytes = (await Promise.all((await readdir(path.join(upstream, 'blobs/sha256'))).map(async (b) => (await stat(path.join(upstream, 'blobs/sha256', b))).size))).reduce((a, b) => a + b, 0);
    expect(packed.blobBytes).toBe(uniqueBytes);
    expect((await stat(bundle)).size).toBe(packed.size);
    expect(packed.size / uniqueBytes).toBeLessThan(1.01);
    const entries = await tarEntries(bundle);
    const blobNames = [...entries.keys()].filter((n) => n.startsWith('blobs/sha256/'));
    expect(new Set(blobNames).size).toBe(blobNames.length);
  });
});

describe('ferry bundle verify', () => {
  it('passes an intact bundle and reports what it checked', async () => {
    const r = await runFerry(['bundle', 'verify', bundle]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/OK/);
    const json = await runFerry(['bundle', 'verify', bundle, '--json']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({ ok: true, images: 2, problems: [] });
    expect(report.files).toBe((await tarEntries(bundle)).size);
    expect(report.bytes).toBeGreaterThanOrEqual(packed.blobBytes);
  });

  it('one flipped byte in a shared layer: exit 3, names both images and the blob', async () => {
    const damaged = path.join(dir, 'flipped.tar');
    await mustRun('cp', [bundle, damaged]);
    const manifest = JSON.parse(await readFile(path.join(upstream, 'blobs/sha256', tops[ALPINE].digest.slice(7)), 'utf8'));
    const layer: string = manifest.layers[0].digest;
    await flipByte(damaged, `blobs/sha256/${layer.slice(7)}`, 7);

    const r = await runFerry(['bundle', 'verify', damaged]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${ALPINE}, ${API} layer ${layer}: digest mismatch`);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace without --debug

    const json = await runFerry(['bundle', 'verify', damaged, '--json']);
    expect(json.code).toBe(3);
    const report = JSON.parse(json.stdout);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      { artifact: `${ALPINE}, ${API}`, file: `blobs/sha256/${layer.slice(7)}`, message: expect.stringContaining(`${layer}: digest mismatch`) },
    ]);
  });

  it('a flipped byte in a platform-only layer names that image only; one in index.json fails its checksum', async () => {
    const damaged = path.join(dir, 'flipped-api.tar');
    await mustRun('cp', [bundle, damaged]);
    const idx = JSON.parse(await readFile(path.join(upstream, 'blobs/sha256', tops[API].digest.slice(7)), 'utf8'));
    const arm = JSON.parse(await readFile(path.join(upstream, 'blobs/sha256', idx.manifests[1].digest.slice(7)), 'utf8'));
    const big: string = arm.layers[1].digest;
    await flipByte(damaged, `blobs/sha256/${big.slice(7)}`, 2 * 1024 * 1024);
    const r = await runFerry(['bundle', 'verify', damaged]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`error: ${damaged}: verification failed (1 problem)`);
    expect(r.stderr).toContain(`  - ${API} layer ${big}: digest mismatch`);
    expect(r.stderr).not.toContain(ALPINE);

    await flipByte(damaged, 'index.json', 3);
    const r2 = await runFerry(['bundle', 'verify', damaged]);
    expect(r2.code).toBe(3);
    expect(r2.stderr).toContain('index.json: checksum mismatch');
    // index.json no longer parses, so the blob is named by its digest alone; the damage is still found.
    expect(r2.stderr).toContain(`${big}: digest mismatch`);
  });

  it('a truncated bundle fails with exit 3 and says so', async () => {
    const cut = path.join(dir, 'cut.tar');
    await mustRun('cp', [bundle, cut]);
    const fh = await open(cut, 'r+');
    await fh.truncate(Math.floor(packed.size / 2));
    await fh.close();
    const r = await runFerry(['bundle', 'verify', cut]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/truncated/);
  });

  it('a tar with a symlink or .. is refused, not followed', async () => {
    const evilDir = path.join(dir, 'evil');
    await mkdir(path.join(evilDir, 'blobs'), { recursive: true });
    await mustRun('ln', ['-s', '/etc/passwd', path.join(evilDir, 'blobs', 'sha256')]);
    const evil = path.join(dir, 'evil.tar');
    await mustRun('tar', ['-cf', evil, '-C', evilDir, 'blobs']);
    const r = await runFerry(['bundle', 'verify', evil]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/symbolic link/);
  });

  it('a bundle missing a blob that index.json reaches names the image and blob; an added file is named too', async () => {
    // Re-pack from a store that lacks nothing, then rebuild the tar without one blob using GNU tar.
    const unpacked = path.join(dir, 'unpacked');
    await mkdir(unpacked);
    await mustRun('tar', ['-xf', bundle, '-C', unpacked]);
    const manifest = JSON.parse(await readFile(path.join(upstream, 'blobs/sha256', tops[ALPINE].digest.slice(7)), 'utf8'));
    const config: string = manifest.config.digest;
    await rm(path.join(unpacked, 'blobs/sha256', config.slice(7)));
    await writeFile(path.join(unpacked, 'ferry', 'extra.txt'), 'smuggled\n');
    const rebuilt = path.join(dir, 'rebuilt.tar');
    await mustRun('tar', ['--format=pax', '-cf', rebuilt, '-C', unpacked, 'oci-layout', 'ferry', 'blobs', 'index.json']);
    const r = await runFerry(['bundle', 'verify', rebuilt, '--json']);
    expect(r.code).toBe(3);
    const messages = JSON.parse(r.stdout).problems.map((p: { message: string }) => p.message);
    expect(messages).toContain(`${ALPINE} config ${config}: missing from the bundle`);
    expect(messages).toContain(`blobs/sha256/${config.slice(7)}: listed in ferry/checksums.sha256 but missing from the bundle`);
    expect(messages).toContain('ferry/extra.txt: not listed in ferry/checksums.sha256 (a file was added)');
    expect(messages).toHaveLength(3);
  });
});
