import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import type { OciIndex } from '../../../src/oci/media-types.js';
import { BlobStore } from '../../../src/store/blob-store.js';
import { formatChecksums, packBundle, parseChecksums } from '../../../src/store/bundle-pack.js';
import { BundleReader } from '../../../src/store/bundle-reader.js';
import { LayoutDir } from '../../../src/store/layout.js';
import { MAX_TAR_ENTRIES } from '../../../src/store/tar-index.js';
import { mustRun } from '../../support/cli.js';
import { writeOciLayout } from '../../support/images.js';

let dir: string;
let storeDir: string;
let index: OciIndex;
const ALPINE = 'docker.io/library/alpine:3.20';
const API = 'registry.example.com:5000/team/api:1.4.2';
const base = { files: { 'etc/os-release': 'NAME=test\n', 'bin/sh': '#!/bin/true\n' } };

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-pack-'));
  storeDir = path.join(dir, 'store');
  const tops = await writeOciLayout(storeDir, [
    { name: ALPINE, platforms: [{ architecture: 'amd64', layers: [base] }] },
    {
      name: API,
      platforms: [
        { architecture: 'amd64', layers: [base, { files: { 'app/api': 'amd64 build\n' } }] },
        { architecture: 'arm64', layers: [base, { files: { 'app/api': 'arm64 build\n' } }] },
      ],
    },
  ]);
  index = {
    schemaVersion: 2,
    manifests: [ALPINE, API].map((ref) => ({ ...tops[ref], annotations: { ...tops[ref].annotations, 'io.ferry.kind': 'image' } })),
  };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const metadata = { manifestYaml: 'apiVersion: ferry/v1alpha1\nkind: Manifest\n', lock: '{"lock":true}\n', manifestName: 'app' };

describe('checksums file', () => {
  it('writes sorted GNU sha256sum lines that sha256sum -c accepts, and parses them back', async () => {
    const d = path.join(dir, 'sums');
    await mkdir(path.join(d, 'b'), { recursive: true });
    const files: Record<string, string> = { 'z.txt': 'zz', 'b/a.txt': 'ba', 'a.txt': 'a' };
    const sums = new Map<string, string>();
    for (const [name, body] of Object.entries(files)) {
      await writeFile(path.join(d, name), body);
      sums.set(name, sha256(body));
    }
    const text = formatChecksums(sums);
    expect(text.split('\n').filter(Boolean).map((l) => l.slice(66))).toEqual(['a.txt', 'b/a.txt', 'z.txt']);
    await writeFile(path.join(d, 'SUMS'), text);
    await mustRun('sha256sum', ['-c', '--strict', 'SUMS'], { cwd: d });
    const gnu = (await mustRun('sha256sum', ['a.txt', 'b/a.txt', 'z.txt'], { cwd: d })).stdout;
    expect(gnu).toBe(text);
    expect(parseChecksums(gnu)).toEqual({ sums, problems: [] });
  });

  it('reports every malformed line with its number', () => {
    const { sums, problems } = parseChecksums(`${'a'.repeat(64)}  ok\nnonsense\n${'b'.repeat(63)}  short\n${'c'.repeat(64)}  ok\n`);
    expect(sums.size).toBe(1);
    expect(problems.map((p) => p.line)).toEqual([2, 3, 4]);
    expect(problems[2].message).toMatch(/ok listed twice/);
  });
});

describe('packBundle', () => {
  it('is deterministic: two packs of the same inputs are byte-identical', async () => {
    const a = await packBundle({ store: new BlobStore(storeDir), index, metadata, output: path.join(dir, 'a.tar') });
    const b = await packBundle({ store: new BlobStore(storeDir), index, metadata, output: path.join(dir, 'b.tar') });
    expect(a.size).toBe(b.size);
    expect(sha256(await readFile(a.path))).toBe(sha256(await readFile(b.path)));
    await expect(stat(`${a.path}.partial`)).rejects.toThrow();
  });

  it('refuses to write a bundle of more files than a reader accepts, before writing anything', async () => {
    const many = Array.from({ length: MAX_TAR_ENTRIES }, (_, i): [string, Buffer] => [`ferry/extra-${i}`, Buffer.from('x')]);
    const out = path.join(dir, 'too-many.tar');
    const err = await packBundle({ store: new BlobStore(storeDir), index, metadata: { ...metadata, extraFiles: many }, output: out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).message).toMatch(new RegExp(`would hold \\d+ files, more than the ${MAX_TAR_ENTRIES} a bundle may hold`));
    await expect(stat(out)).rejects.toThrow();
    await expect(stat(`${out}.partial`)).rejects.toThrow();
  });

  it('writes each reachable blob once, metadata first, index.json last, all files checksummed', async () => {
    const r = await packBundle({ store: new BlobStore(storeDir), index, metadata, output: path.join(dir, 'layout.tar') });
    // alpine: manifest, config, base; api: index, 2 × (manifest, config, app layer) + shared base
    expect(r.blobs).toBe(3 + 1 + 6);
    const names = (await mustRun('tar', ['-tf', r.path])).stdout.trim().split('\n');
    expect(names.slice(0, 7)).toEqual(['oci-layout', 'ferry/', 'ferry/bundle.json', 'ferry/checksums.sha256', 'ferry/lock.json', 'ferry/manifest.yaml', 'blobs/']);
    expect(names[names.length - 1]).toBe('index.json');
    const blobs = names.filter((n) => /^blobs\/sha256\/[a-f0-9]{64}$/.test(n));
    expect(blobs).toEqual([...blobs].sort());
    expect(new Set(blobs).size).toBe(r.blobs);
    const verbose = (await mustRun('tar', ['--numeric-owner', '-tvf', r.path])).stdout.trim().split('\n');
    for (const line of verbose) expect(line).toMatch(/^(-rw-r--r--|drwxr-xr-x) 0\/0 .* 1970-01-01 00:00 /);

    const out = path.join(dir, 'extracted');
    await mkdir(out);
    await mustRun('tar', ['-xf', r.path, '-C', out]);
    await mustRun('sha256sum', ['-c', '--strict', '--quiet', 'ferry/checksums.sha256'], { cwd: out });
    const listed = (await readFile(path.join(out, 'ferry/checksums.sha256'), 'utf8')).trim().split('\n').map((l) => l.slice(66));
    expect(listed.sort()).toEqual(names.filter((n) => !n.endsWith('/') && n !== 'ferry/checksums.sha256').sort());
    const info = JSON.parse(await readFile(path.join(out, 'ferry/bundle.json'), 'utf8'));
    expect(info).toEqual({ formatVersion: 1, ferryVersion: expect.any(String), manifestName: 'app' });
    expect(await readFile(path.join(out, 'ferry/manifest.yaml'), 'utf8')).toBe(metadata.manifestYaml);
  });

  it('refuses a store that misses a blob, naming the image and the blob', async () => {
    const partialStore = path.join(dir, 'partial-store');
    await mustRun('cp', ['-r', storeDir, partialStore]);
    const apiIndex = JSON.parse(await readFile(path.join(partialStore, 'blobs/sha256', index.manifests[1].digest.slice(7)), 'utf8'));
    const arm = apiIndex.manifests[1].digest as string;
    const armManifest = JSON.parse(await readFile(path.join(partialStore, 'blobs/sha256', arm.slice(7)), 'utf8'));
    const appLayer = armManifest.layers[1].digest as string;
    await rm(path.join(partialStore, 'blobs/sha256', appLayer.slice(7)));
    const output = path.join(dir, 'missing.tar');
    const err = await packBundle({ store: new BlobStore(partialStore), index, metadata, output }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).details).toEqual([`${API} layer ${appLayer}: not in the store`]);
    await expect(stat(output)).rejects.toThrow();
    await expect(stat(`${output}.partial`)).rejects.toThrow();
  });

  it('refuses a store blob whose bytes no longer match its name, and leaves no output', async () => {
    const badStore = path.join(dir, 'bad-store');
    await mustRun('cp', ['-r', storeDir, badStore]);
    const alpineManifest = JSON.parse(await readFile(path.join(badStore, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    const layer = alpineManifest.layers[0].digest as string;
    const file = path.join(badStore, 'blobs/sha256', layer.slice(7));
    const bytes = await readFile(file);
    bytes[10] ^= 0xff;
    await writeFile(file, bytes);
    const output = path.join(dir, 'bad.tar');
    const err = await packBundle({ store: new BlobStore(badStore), index, metadata, output }).catch((e: unknown) => e);
    expect((err as FerryError).code).toBe('VERIFY');
    expect((err as FerryError).message).toContain(`${ALPINE}, ${API} layer ${layer}: damaged in the store`);
    await expect(stat(output)).rejects.toThrow();
    await expect(stat(`${output}.partial`)).rejects.toThrow();
  });
});

describe('BundleReader', () => {
  it('reads blobs in place by offset, with ranges, and the ferry metadata', async () => {
    const r = await packBundle({ store: new BlobStore(storeDir), index, metadata, output: path.join(dir, 'read.tar') });
    const reader = await BundleReader.open(r.path);
    try {
      expect((await reader.readIndex()).manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'])).toEqual([ALPINE, API]);
      expect((await reader.ferryFile('lock.json')).toString()).toBe(metadata.lock);
      const top = index.manifests[0];
      const store = new BlobStore(storeDir);
      const manifest = JSON.parse((await reader.readBlob(top.digest)).toString());
      const layer = manifest.layers[0];
      const expected = await store.readBytes(layer.digest);
      expect(await reader.blobSize(layer.digest)).toBe(expected.length);
      const chunks: Buffer[] = [];
      for await (const c of await reader.openBlob(layer.digest, 5, 20)) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks)).toEqual(expected.subarray(5, 21));
      expect(await reader.blobSize('sha256:' + '0'.repeat(64))).toBeUndefined();
    } finally {
      await reader.close();
    }
  });
});

describe('LayoutDir', () => {
  it('writes blobs hashed while streaming, keeps nothing on a mismatch, index.json last and sorted', async () => {
    const layout = new LayoutDir(path.join(dir, 'target'));
    await layout.init();
    const body = Buffer.from('hello blob');
    const digest = 'sha256:' + sha256(body);
    expect(await layout.writeBlob(digest, body.length, Readable.from([body]))).toBe(true);
    expect(await layout.writeBlob(digest, body.length, Readable.from([body]))).toBe(false);
    const wrong = 'sha256:' + sha256('other');
    await expect(layout.writeBlob(wrong, body.length, Readable.from([body]), 'x:1 layer')).rejects.toThrow(/x:1 layer sha256:[a-f0-9]+: digest mismatch/);
    expect(await layout.blobSize(wrong)).toBeUndefined();
    const leftovers = (await mustRun('ls', ['-A', path.join(dir, 'target/blobs/sha256')])).stdout.trim().split('\n');
    expect(leftovers).toEqual([digest.slice(7)]);

    const d = (ref: string, dg: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: dg, size: 1, annotations: { 'org.opencontainers.image.ref.name': ref } });
    // Two writers on one directory (image and chart import side by side) lose nothing.
    const other = new LayoutDir(path.join(dir, 'target'));
    await Promise.all([layout.addToIndex([d('b:1', digest)]), other.addToIndex([d('a:1', digest)])]);
    await layout.addToIndex([d('b:1', wrong)]);
    const idx = await layout.readIndex();
    expect(idx.manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest])).toEqual([
      ['a:1', digest],
      ['b:1', wrong],
    ]);
    expect(await layout.hasRef('a:1', digest)).toBe(true);
    expect(await layout.hasRef('b:1', digest)).toBe(false);
  });
});
