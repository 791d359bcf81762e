import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OciIndex } from '../../../src/oci/media-types.js';
import { BlobStore } from '../../../src/store/blob-store.js';
import { formatChecksums, packBundle } from '../../../src/store/bundle-pack.js';
import { signChecksums } from '../../../src/store/bundle-sign.js';
import { walkIndex } from '../../../src/store/layout.js';
import { mustRun } from '../../support/cli.js';

// An artifact of many small blobs, as an APT component is (one layer per .deb): more blobs than
// the checksum list renders into one slice, so its lines cross slice boundaries.
const BLOBS = 1500;
const DEB = 'application/vnd.debian.binary-package';

let dir: string;
let store: BlobStore;
let index: OciIndex;
const metadata = { manifestYaml: 'apiVersion: ferry/v1alpha1\nkind: Manifest\n', lock: '{"lock":true}\n', manifestName: 'many' };

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-pack-many-'));
  store = new BlobStore(path.join(dir, 'store'));
  const layers = [];
  for (let i = 0; i < BLOBS; i++) {
    const d = await store.putBytes(Buffer.from(`package ${i}\n`));
    layers.push({ mediaType: DEB, digest: d.digest, size: d.size, annotations: { 'org.opencontainers.image.title': `pool/p${i}.deb` } });
  }
  const config = await store.putBytes(Buffer.from('{}'));
  const m = await store.putBytes(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: 'application/x-test', config: { mediaType: 'application/vnd.oci.empty.v1+json', ...config }, layers })));
  index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: m.size, annotations: { 'org.opencontainers.image.ref.name': 'many' } }] };
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('a bundle of many small blobs', () => {
  it('lists every file in ferry/checksums.sha256, sorted, as sha256sum -c reads it; signed or not, the same list', async () => {
    const plain = await packBundle({ store, index, metadata, output: path.join(dir, 'plain.tar') });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signed = await packBundle({ store, index, metadata: { ...metadata, sign: (sums) => signChecksums(sums, privateKey) }, output: path.join(dir, 'signed.tar') });
    expect(plain.blobs).toBe(BLOBS + 2);
    const lists: Buffer[] = [];
    for (const r of [plain, signed]) {
      const out = path.join(dir, `x-${path.basename(r.path)}`);
      await mkdir(out);
      await mustRun('tar', ['-xf', r.path, '-C', out]);
      await mustRun('sha256sum', ['-c', '--strict', '--quiet', 'ferry/checksums.sha256'], { cwd: out });
      const list = await readFile(path.join(out, 'ferry/checksums.sha256'));
      // Every file of the tar but the list itself (and its signature), each once, in byte order.
      const names = (await mustRun('tar', ['-tf', r.path])).stdout.trim().split('\n').filter((n) => !n.endsWith('/') && n !== 'ferry/checksums.sha256' && n !== 'ferry/checksums.sha256.sig');
      const sums = new Map<string, string>();
      for (const n of names) sums.set(n, sha256(await readFile(path.join(out, n))));
      expect(list.toString('utf8')).toBe(formatChecksums(sums));
      lists.push(list);
    }
    expect(lists[0].equals(lists[1])).toBe(true);
  }, 60_000);

  it('walks them with one artifact list for all the blobs one artifact reaches (read-only)', async () => {
    const walk = await walkIndex(index, { blobSize: async (d) => (await stat(store.blobPath(d))).size, readBlob: (d) => store.readBytes(d) });
    expect(walk.problems).toEqual([]);
    const debs = [...walk.blobs.values()].filter((b) => b.mediaType === DEB);
    expect(debs).toHaveLength(BLOBS);
    expect(debs.every((b) => b.artifacts === debs[0].artifacts)).toBe(true);
    expect(debs[0].artifacts).toEqual(['many']);
    expect(Object.isFrozen(debs[0].artifacts)).toBe(true);
  });
});
