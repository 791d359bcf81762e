import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { mustRun } from './cli.js';
import { skopeoEnv, skopeoTlsArgs, type RunningRegistry } from './registry.js';

/**
 * Real test images without docker: OCI image layouts written by hand (ustar layers, gzip'd or
 * not, configs, manifests, indexes), pushed with skopeo. Content is deterministic, so the same
 * image built twice has the same digest; the big layer is incompressible pseudo-random bytes
 * generated on the fly.
 */

const MT_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MT_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const MT_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const MT_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const MT_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

export type LayerSpec =
  /** Small files, gzip'd layer. */
  | { files: Record<string, string | Buffer> }
  /** One file of incompressible deterministic bytes, stored as an uncompressed tar layer. */
  | { randomBytes: number; seed: string; fileName?: string };

export interface PlatformImageSpec {
  os?: string;
  architecture: string;
  variant?: string;
  layers: LayerSpec[];
  cmd?: string[];
}

export interface ImageSpec {
  /** Name inside the layout (org.opencontainers.image.ref.name). */
  name: string;
  /** One entry: a single manifest; several: an index over them. */
  platforms: PlatformImageSpec[];
}

const sha256 = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, '0') + '\0';
}

/** A ustar header for a regular file (or directory), mtime 0, root-owned: deterministic. */
export function tarHeader(name: string, size: number, type: 'file' | 'dir' = 'file'): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar name too long for the test writer: ${name}`);
  const h = Buffer.alloc(512, 0);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(type === 'dir' ? 0o755 : 0o644, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii');
  h.write(octal(0, 8), 116, 8, 'ascii');
  h.write(octal(type === 'dir' ? 0 : size, 12), 124, 12, 'ascii');
  h.write(octal(0, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write(type === 'dir' ? '5' : '0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

const pad = (size: number) => Buffer.alloc((512 - (size % 512)) % 512, 0);

export function tarOf(files: Record<string, string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  for (const name of Object.keys(files).sort()) {
    const segs = name.split('/');
    for (let i = 1; i < segs.length; i++) {
      const d = segs.slice(0, i).join('/') + '/';
      if (!dirs.has(d)) {
        dirs.add(d);
        parts.push(tarHeader(d, 0, 'dir'));
      }
    }
    const data = Buffer.isBuffer(files[name]) ? (files[name] as Buffer) : Buffer.from(files[name] as string);
    parts.push(tarHeader(name, data.length), data, pad(data.length));
  }
  parts.push(Buffer.alloc(1024, 0));
  return Buffer.concat(parts);
}

/** Deterministic incompressible bytes: AES-128-CTR keystream seeded by `seed`. */
export function pseudoRandomStream(size: number, seed: string): Readable {
  const key = createHash('sha256').update(`key:${seed}`).digest().subarray(0, 16);
  const iv = createHash('sha256').update(`iv:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  const zero = Buffer.alloc(1024 * 1024, 0);
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, zero.length);
      left -= n;
      this.push(cipher.update(n === zero.length ? zero : zero.subarray(0, n)));
    },
  });
}

class Layout {
  constructor(readonly dir: string) {}
  blobPath(digest: string) {
    return path.join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  }
  async init() {
    await mkdir(path.join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(path.join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }
  async putBytes(mediaType: string, bytes: Buffer): Promise<Descriptor> {
    const digest = sha256(bytes);
    await writeFile(this.blobPath(digest), bytes);
    return { mediaType, digest, size: bytes.length };
  }
}

/** Write one layer; returns its descriptor and diff_id (digest of the uncompressed tar). */
async function writeLayer(layout: Layout, spec: LayerSpec): Promise<{ desc: Descriptor; diffId: string }> {
  if ('files' in spec) {
    const tar = tarOf(spec.files);
    const gz = gzipSync(tar, { level: 6 });
    return { desc: await layout.putBytes(MT_LAYER_GZIP, gz), diffId: sha256(tar) };
  }
  const { randomBytes, seed } = spec;
  const name = spec.fileName ?? `data/${seed}.bin`;
  const tmp = path.join(layout.dir, 'blobs', 'sha256', `tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const hash = createHash('sha256');
  let size = 0;
  const header = tarHeader(name, randomBytes);
  async function* gen() {
    yield header;
    for await (const c of pseudoRandomStream(randomBytes, seed)) yield c as Buffer;
    yield pad(randomBytes);
    yield Buffer.alloc(1024, 0);
  }
  await pipeline(
    Readable.from(gen()),
    new Transform({
      transform(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    }),
    createWriteStream(tmp),
  );
  const digest = 'sha256:' + hash.digest('hex');
  await rename(tmp, layout.blobPath(digest));
  return { desc: { mediaType: MT_LAYER_TAR, digest, size }, diffId: digest };
}

async function writePlatformImage(layout: Layout, spec: PlatformImageSpec, name: string): Promise<Descriptor> {
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const l of spec.layers) {
    const { desc, diffId } = await writeLayer(layout, l);
    layers.push(desc);
    diffIds.push(diffId);
  }
  const config = {
    architecture: spec.architecture,
    os: spec.os ?? 'linux',
    ...(spec.variant ? { variant: spec.variant } : {}),
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: spec.cmd ?? ['/bin/true'], Labels: { 'io.ferry.test': name } },
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  const cfgDesc = await layout.putBytes(MT_OCI_CONFIG, Buffer.from(JSON.stringify(config)));
  const manifest = { schemaVersion: 2, mediaType: MT_OCI_MANIFEST, config: cfgDesc, layers };
  const desc = await layout.putBytes(MT_OCI_MANIFEST, Buffer.from(JSON.stringify(manifest)));
  return { ...desc, platform: { os: spec.os ?? 'linux', architecture: spec.architecture, ...(spec.variant ? { variant: spec.variant } : {}) } };
}

/** Write images into an OCI layout at `dir` (created if needed); returns each image's top descriptor. */
export async function writeOciLayout(dir: string, images: ImageSpec[]): Promise<Record<string, Descriptor>> {
  const layout = new Layout(dir);
  await layout.init();
  const out: Record<string, Descriptor> = {};
  for (const img of images) {
    let top: Descriptor;
    if (img.platforms.length === 1) {
      const { platform: _p, ...d } = await writePlatformImage(layout, img.platforms[0], img.name);
      top = d;
    } else {
      const children: Descriptor[] = [];
      for (const p of img.platforms) children.push(await writePlatformImage(layout, p, img.name));
      const index = { schemaVersion: 2, mediaType: MT_OCI_INDEX, manifests: children };
      top = await layout.putBytes(MT_OCI_INDEX, Buffer.from(JSON.stringify(index)));
    }
    out[img.name] = { ...top, annotations: { 'org.opencontainers.image.ref.name': img.name } };
  }
  const indexFile = path.join(dir, 'index.json');
  let existing: Descriptor[] = [];
  try {
    existing = (JSON.parse(await readFile(indexFile, 'utf8')) as { manifests: Descriptor[] }).manifests;
  } catch {
    /* new layout */
  }
  const names = new Set(Object.keys(out));
  const manifests = [...existing.filter((d) => !names.has(d.annotations?.['org.opencontainers.image.ref.name'] ?? '')), ...Object.values(out)];
  await writeFile(indexFile, JSON.stringify({ schemaVersion: 2, manifests }));
  return out;
}

/** Push one image of a layout to the registry with skopeo (all platforms); `format: 'v2s2'` converts to Docker schema 2. */
export async function pushLayoutImage(reg: RunningRegistry, layoutDir: string, name: string, repoAndTag: string, opts: { format?: 'oci' | 'v2s2' } = {}): Promise<void> {
  const args = ['copy', '--all', ...(opts.format === 'v2s2' ? ['--format', 'v2s2'] : []), ...skopeoTlsArgs(reg, 'dest'), `oci:${layoutDir}:${name}`, `docker://${reg.host}/${repoAndTag}`];
  await mustRun('skopeo', args, { env: skopeoEnv(reg) });
}

/** The manifest bytes the registry serves, via skopeo (an independent client). */
export async function skopeoRawManifest(reg: RunningRegistry, refWithoutScheme: string): Promise<Buffer> {
  const r = await mustRun('skopeo', ['inspect', '--raw', ...skopeoTlsArgs(reg), `docker://${refWithoutScheme}`], { env: skopeoEnv(reg) });
  return Buffer.from(r.stdout, 'utf8');
}

/** Digest of the manifest the registry serves for a reference, computed from skopeo's raw bytes. */
export async function skopeoDigest(reg: RunningRegistry, refWithoutScheme: string): Promise<string> {
  return sha256(await skopeoRawManifest(reg, refWithoutScheme));
}

export const BASE_FILES: Record<string, string> = {
  'etc/os-release': 'NAME="ferry test base"\nID=ferrytest\nVERSION_ID=1\n',
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
  'bin/true': '#!/bin/sh\nexit 0\n',
};

export interface SeededImages {
  /** Full references (host/repo:tag) of each seeded image. */
  refs: { base: string; app: string; multi: string; docker: string; big?: string };
  /** Digest of the top manifest (or index) in the registry, computed from skopeo's raw bytes. */
  digests: { base: string; app: string; multi: string; docker: string; big?: string };
  /** Child manifest digests of the two-platform index. */
  platforms: { 'linux/amd64': string; 'linux/arm64': string };
  /** Blob digests shared by base and app (the base layer). */
  sharedLayer: string;
  /** Size in bytes of the big layer, when asked for. */
  bigLayerSize?: number;
  /** The OCI layout the images were built in (kept until the registry's dir is removed). */
  layoutDir: string;
}

export interface SeedOptions {
  /** Repository prefix (default `ferry-test`). */
  prefix?: string;
  /** Add `<prefix>/big:1` with one layer of this many MB of incompressible bytes (≥ 200 for the big-layer test). */
  bigLayerMb?: number;
  /** Where to build the layout (default: inside the registry's dir). */
  workDir?: string;
  tag?: string;
}

/**
 * Seed a running registry with the standard test images:
 * - `<prefix>/base:1` OCI, one layer;
 * - `<prefix>/app:1` OCI, the base layer + an app layer (shares the base layer);
 * - `<prefix>/multi:1` OCI index over linux/amd64 and linux/arm64 (both on the base layer);
 * - `<prefix>/docker:1` Docker schema 2 (converted by `skopeo copy --format v2s2`);
 * - `<prefix>/big:1` (opt-in) one layer of `bigLayerMb` MB of incompressible data.
 */
export async function seedImages(reg: RunningRegistry, opts: SeedOptions = {}): Promise<SeededImages> {
  const prefix = opts.prefix ?? 'ferry-test';
  const tag = opts.tag ?? '1';
  const layoutDir = opts.workDir ?? (await mkdtemp(path.join(reg.dir ?? os.tmpdir(), 'layout-')));
  const base: LayerSpec = { files: BASE_FILES };
  const images: ImageSpec[] = [
    { name: 'base', platforms: [{ architecture: 'amd64', layers: [base] }] },
    { name: 'app', platforms: [{ architecture: 'amd64', layers: [base, { files: { 'app/server.sh': '#!/bin/sh\necho app\n', 'app/VERSION': '1.0.0\n' } }], cmd: ['/app/server.sh'] }] },
    {
      name: 'multi',
      platforms: [
        { architecture: 'amd64', layers: [base, { files: { 'opt/arch': 'amd64\n' } }] },
        { architecture: 'arm64', variant: 'v8', layers: [base, { files: { 'opt/arch': 'arm64\n' } }] },
      ],
    },
    { name: 'docker', platforms: [{ architecture: 'amd64', layers: [base, { files: { 'srv/docker.txt': 'converted to Docker schema 2\n' } }] }] },
  ];
  if (opts.bigLayerMb) {
    images.push({ name: 'big', platforms: [{ architecture: 'amd64', layers: [{ randomBytes: opts.bigLayerMb * 1024 * 1024, seed: `big-${opts.bigLayerMb}` }] }] });
  }
  const tops = await writeOciLayout(layoutDir, images);
  const refs: SeededImages['refs'] = {
    base: `${reg.host}/${prefix}/base:${tag}`,
    app: `${reg.host}/${prefix}/app:${tag}`,
    multi: `${reg.host}/${prefix}/multi:${tag}`,
    docker: `${reg.host}/${prefix}/docker:${tag}`,
  };
  await pushLayoutImage(reg, layoutDir, 'base', `${prefix}/base:${tag}`);
  await pushLayoutImage(reg, layoutDir, 'app', `${prefix}/app:${tag}`);
  await pushLayoutImage(reg, layoutDir, 'multi', `${prefix}/multi:${tag}`);
  await pushLayoutImage(reg, layoutDir, 'docker', `${prefix}/docker:${tag}`, { format: 'v2s2' });
  let bigLayerSize: number | undefined;
  if (opts.bigLayerMb) {
    refs.big = `${reg.host}/${prefix}/big:${tag}`;
    await pushLayoutImage(reg, layoutDir, 'big', `${prefix}/big:${tag}`);
    const m = JSON.parse(await readFile(path.join(layoutDir, 'blobs', 'sha256', tops.big.digest.slice(7)), 'utf8')) as { layers: Descriptor[] };
    bigLayerSize = m.layers[0].size;
    // The layout's copy of the big layer is not needed any more.
    await rm(path.join(layoutDir, 'blobs', 'sha256', m.layers[0].digest.slice(7)), { force: true });
  }
  const digests = {} as SeededImages['digests'];
  for (const [k, ref] of Object.entries(refs)) (digests as Record<string, string>)[k] = await skopeoDigest(reg, ref);
  const idx = JSON.parse((await skopeoRawManifest(reg, refs.multi)).toString('utf8')) as { manifests: Descriptor[] };
  const platforms = {
    'linux/amd64': idx.manifests.find((d) => d.platform?.architecture === 'amd64')!.digest,
    'linux/arm64': idx.manifests.find((d) => d.platform?.architecture === 'arm64')!.digest,
  };
  const baseManifest = JSON.parse(await readFile(path.join(layoutDir, 'blobs', 'sha256', tops.base.digest.slice(7)), 'utf8')) as { layers: Descriptor[] };
  return { refs, digests, platforms, sharedLayer: baseManifest.layers[0].digest, bigLayerSize, layoutDir };
}

/** Total size of a file (helper for size assertions). */
export async function fileSize(p: string): Promise<number> {
  return (await stat(p)).size;
}
