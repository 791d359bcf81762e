// Bundle I/O benchmark driver (run through scripts/bench/bundle-io.sh): write an upstream OCI
// layout with one big incompressible layer plus small images, then pack it into a bundle.
// Prints JSON timings; the shell script times verify/serve with the built CLI and skopeo.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BlobStore } from '../../src/store/blob-store.js';
import { packBundle } from '../../src/store/bundle-pack.js';
import { writeOciLayout } from '../../test/support/images.js';

const [cmd, dir, sizeText] = process.argv.slice(2);
const up = path.join(dir, 'upstream');

if (cmd === 'layout') {
  const big = Number(sizeText);
  const base = { files: { 'etc/os-release': 'NAME=bench\n' } };
  await writeOciLayout(up, [
    { name: 'docker.io/library/big:1', platforms: [{ architecture: 'amd64', layers: [base, { randomBytes: big, seed: 'bench-big' }] }] },
    ...Array.from({ length: 20 }, (_, i) => ({
      name: `registry.example.com:5000/bench/small-${i}:1`,
      platforms: [{ architecture: 'amd64', layers: [base, { randomBytes: 1024 * 1024, seed: `small-${i}` }] }],
    })),
  ]);
} else if (cmd === 'pack') {
  type Desc = { mediaType: string; digest: string; size: number; annotations?: Record<string, string> };
  const idx = JSON.parse(await readFile(path.join(up, 'index.json'), 'utf8')) as { manifests: Desc[] };
  // The lock the bundle carries pins every image its index.json names (bundle verify and import
  // refuse an image the lock does not name): each an image manifest with its config and layers.
  const blobOf = async (digest: string) => JSON.parse(await readFile(path.join(up, 'blobs', 'sha256', digest.slice(7)), 'utf8')) as { config: Desc; layers: Desc[] };
  const images = await Promise.all(
    idx.manifests.map(async (m) => {
      const ref = m.annotations!['org.opencontainers.image.ref.name'];
      const man = await blobOf(m.digest);
      const blobs = [man.config, ...man.layers].map(({ mediaType, digest, size }) => ({ mediaType, digest, size })).sort((a, b) => (a.digest < b.digest ? -1 : 1));
      return { source: ref, ref, digest: m.digest, mediaType: m.mediaType, size: m.size, manifests: [], blobs };
    }),
  );
  const lock = { apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'bench', digest: `sha256:${'0'.repeat(64)}` }, images };
  const started = process.hrtime.bigint();
  const r = await packBundle({
    store: new BlobStore(up),
    index: { schemaVersion: 2, manifests: idx.manifests.map((m) => ({ ...m, annotations: { ...m.annotations, 'io.ferry.kind': 'image' } })) as never },
    metadata: { manifestYaml: 'bench: true\n', lock: JSON.stringify(lock) + '\n', manifestName: 'bench' },
    output: path.join(dir, 'bench.ferry.tar'),
    trustStore: sizeText === 'trust',
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(JSON.stringify({ ...r, ms, mbPerS: Math.round(r.size / 1e6 / (ms / 1000)) }) + '\n');
} else {
  throw new Error('usage: bundle-io layout|pack <dir> <bytes|trust>');
}
