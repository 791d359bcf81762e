// Writes the image benchmark workload as an OCI image layout: N images, each on one of a few
// shared base layers plus a layer of its own; layers are valid uncompressed tars of
// incompressible bytes (AES-CTR keystream), so sizes are what they say.
// Usage: node make-workload.mjs <layout-dir> [images=40] [bases=4] [baseMb=250] [appMb=25] [bigGb=0]
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

const [dir, images = '40', bases = '4', baseMb = '250', appMb = '25', bigGb = '0'] = process.argv.slice(2);
const blobs = path.join(dir, 'blobs', 'sha256');
await mkdir(blobs, { recursive: true });

function header(name, size) {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h[156] = 48;
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

/** A tar with one file of `size` pseudo-random bytes; returns its descriptor. */
async function randomLayer(seed, size) {
  const tmp = path.join(blobs, `tmp-${seed}`);
  const out = createWriteStream(tmp, { highWaterMark: 1 << 20 });
  const hash = createHash('sha256');
  const write = (b) => {
    hash.update(b);
    return out.write(b) ? undefined : new Promise((r) => out.once('drain', r));
  };
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  await write(header(`data/${seed}.bin`, size));
  const zero = Buffer.alloc(1 << 20);
  for (let left = size; left > 0; left -= zero.length) await write(cipher.update(left >= zero.length ? zero : zero.subarray(0, left)));
  const pad = (512 - (size % 512)) % 512;
  await write(Buffer.alloc(pad + 1024));
  await new Promise((r, j) => out.end((e) => (e ? j(e) : r())));
  const digest = 'sha256:' + hash.digest('hex');
  await rename(tmp, path.join(blobs, digest.slice(7)));
  return { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: 512 + size + pad + 1024 };
}

async function putJson(obj) {
  const bytes = Buffer.from(JSON.stringify(obj));
  const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
  await writeFile(path.join(blobs, digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

const baseLayers = [];
for (let i = 0; i < Number(bases); i++) baseLayers.push(await randomLayer(`base-${i}`, Number(baseMb) * 1024 * 1024));
const manifests = [];
async function image(name, layers) {
  const config = await putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } });
  const m = await putJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers });
  manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': name } });
}
for (let i = 0; i < Number(images); i++) {
  const own = await randomLayer(`app-${i}`, Number(appMb) * 1024 * 1024);
  await image(`img${i}`, [baseLayers[i % baseLayers.length], own]);
}
if (Number(bigGb) > 0) await image('big', [await randomLayer('big', Number(bigGb) * 1024 * 1024 * 1024)]);
await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
await writeFile(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
console.log(manifests.map((m) => m.annotations['org.opencontainers.image.ref.name']).join('\n'));
