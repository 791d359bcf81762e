import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OciIndex } from '../../../src/oci/media-types.js';
import { BlobStore, digestOf } from '../../../src/store/blob-store.js';
import { packBundle } from '../../../src/store/bundle-pack.js';

/** Deterministic bytes: a sha256 chain, so every test run (and the old packer) sees the same content. */
function bytesOf(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let h = createHash('sha256').update(seed).digest();
  for (let off = 0; off < size; off += 32) {
    h.copy(out, off, 0, Math.min(32, size - off));
    h = createHash('sha256').update(h).digest();
  }
  return out;
}

let dir: string;
const blobs = new Map<string, Buffer>();
let index: OciIndex;
const metadata = { manifestYaml: 'apiVersion: ferry/v1alpha1\nkind: Manifest\n', lock: '{"lock":true}\n', manifestName: 'app', ferryVersion: '0.0.0-golden' };

/** Two images sharing a big layer; layers large (deferrable) and small. */
function buildInputs(): void {
  const layer = (seed: string, size: number) => {
    const b = bytesOf(seed, size);
    blobs.set(digestOf(b), b);
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(b), size };
  };
  const json = (v: unknown, mediaType: string) => {
    const b = Buffer.from(JSON.stringify(v));
    blobs.set(digestOf(b), b);
    return { mediaType, digest: digestOf(b), size: b.length };
  };
  const shared = layer('shared', 3 * 1024 * 1024 + 17);
  const tops = ['one', 'two'].map((name, i) => {
    const config = json({ architecture: 'amd64', os: 'linux', name }, 'application/vnd.oci.image.config.v1+json');
    const own = layer(`own-${name}`, (i + 1) * 1024 * 1024 + 511);
    const tiny = layer(`tiny-${name}`, 700 + i);
    const manifest = json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [shared, own, tiny] }, 'application/vnd.oci.image.manifest.v1+json');
    return { ...manifest, annotations: { 'io.ferry.kind': 'image', 'org.opencontainers.image.ref.name': `example.com/${name}:1` } };
  });
  index = { schemaVersion: 2, manifests: tops };
}

const sha256File = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-direct-pack-'));
  buildInputs();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fullStore(name: string): Promise<BlobStore> {
  const store = new BlobStore(path.join(dir, name));
  await store.init();
  for (const [d, b] of blobs) await store.putBytes(b, d);
  return store;
}

describe('bundle layout', () => {
  it('packs from a full store exactly as the packer before direct writes did', async () => {
    const store = await fullStore('full');
    const r = await packBundle({ store, index, metadata, output: path.join(dir, 'old.tar') });
    console.log('GOLDEN', await sha256File(r.path), r.size);
  });
});
