// Memory of a bundle with very many entries (a whole Debian suite is ~70 000 .debs): writes a
// synthetic bundle tar of N tiny blobs, shaped as ferry writes a split APT artifact (an index of
// child manifests of 4000 layers each, one config), then measures the peak RSS of `indexTar`
// alone in this process. `bundle verify` of the same tar is measured with the built CLI:
//
//   node_modules/.bin/esbuild scripts/bench/tar-entries.ts --bundle --platform=node --format=esm \
//     --outfile=/tmp/tar-entries.mjs --log-level=warning
//   node /tmp/tar-entries.mjs make /tmp/big.ferry.tar 249990      # N blobs (+ metadata entries)
//   /usr/bin/time -f '%e s, %M KB peak RSS' node /tmp/tar-entries.mjs index /tmp/big.ferry.tar
//   /usr/bin/time -f '%e s, %M KB peak RSS' node dist/ferry.mjs bundle verify -q /tmp/big.ferry.tar
//
// No timing or memory assertion: it prints what it measured.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { BUNDLE_FORMAT_VERSION } from '../../src/store/bundle-reader.js';
import { FERRY_VERSION, formatChecksums } from '../../src/store/bundle-pack.js';
import { verifyBundle } from '../../src/store/bundle-verify.js';
import { indexTar, TAR_END, tarHeader, tarPadding } from '../../src/store/tar-index.js';
import { splitAptManifests } from '../../src/kinds/apt/artifact.js';
import { APT_ARTIFACT_TYPE, APT_CONFIG_TYPE, DEB_MEDIA_TYPE } from '../../src/kinds/apt/fetch.js';

const [cmd, file, countText] = process.argv.slice(2);
const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

if (cmd === 'make') {
  const n = Number(countText ?? 249_990);
  const out = createWriteStream(file, { highWaterMark: 1 << 20 });
  const sums = new Map<string, string>();
  const write = async (buf: Buffer) => {
    if (!out.write(buf)) await once(out, 'drain');
  };
  const entry = async (name: string, bytes: Buffer) => {
    await write(tarHeader(name, bytes.length, 'file'));
    await write(bytes);
    await write(tarPadding(bytes.length));
    sums.set(name, hex(bytes));
  };
  const blob = (bytes: Buffer) => entry(`blobs/sha256/${hex(bytes)}`, bytes);
  const packages = [];
  for (let i = 0; i < n; i++) {
    const bytes = Buffer.from(`package ${i}\n`);
    await blob(bytes);
    const name = `pkg-${i}`;
    packages.push({
      mediaType: DEB_MEDIA_TYPE,
      digest: `sha256:${hex(bytes)}`,
      size: bytes.length,
      annotations: { 'org.opencontainers.image.title': `pool/main/${name[0]}/${name}/${name}_1.0-1_amd64.deb`, 'io.ferry.role': 'package' },
    });
  }
  const config = Buffer.from(JSON.stringify({ name: 'bench', url: 'http://deb.example/debian', mode: 'whole', suites: [] }));
  await blob(config);
  const annotations = { 'io.ferry.kind': 'apt', 'io.ferry.source': 'http://deb.example/debian', 'io.ferry.apt.mode': 'whole' };
  const split = splitAptManifests({ artifactType: APT_ARTIFACT_TYPE, config: { mediaType: APT_CONFIG_TYPE, digest: `sha256:${hex(config)}`, size: config.length }, meta: [], packages, annotations })!;
  for (const c of split.children) await blob(c);
  await blob(split.index);
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${hex(split.index)}`, size: split.index.length, artifactType: APT_ARTIFACT_TYPE, annotations: { ...annotations, 'org.opencontainers.image.ref.name': 'bench' } }],
  };
  await entry('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  await entry('index.json', Buffer.from(JSON.stringify(index)));
  await entry('ferry/bundle.json', Buffer.from(JSON.stringify({ formatVersion: BUNDLE_FORMAT_VERSION, ferryVersion: FERRY_VERSION, manifestName: 'bench' }, null, 2) + '\n'));
  await entry('ferry/manifest.yaml', Buffer.from('bench: true\n'));
  await entry('ferry/lock.json', Buffer.from(JSON.stringify({ apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'bench', digest: `sha256:${'0'.repeat(64)}` }, images: [] }) + '\n'));
  const text = Buffer.from(formatChecksums(sums));
  await write(tarHeader('ferry/checksums.sha256', text.length, 'file'));
  await write(text);
  await write(tarPadding(text.length));
  await write(TAR_END);
  out.end();
  await once(out, 'finish');
  console.log(JSON.stringify({ tar: file, entries: sums.size + 1, manifests: split.children.length, largestManifest: Math.max(...split.children.map((c) => c.length)), checksumsBytes: text.length }));
} else if (cmd === 'index') {
  const before = process.memoryUsage().rss;
  const idx = await indexTar(file);
  globalThis.gc?.();
  const after = process.memoryUsage();
  console.log(
    JSON.stringify({
      entries: idx.entries.length,
      rssBeforeMB: Math.round(before / 2 ** 20),
      rssAfterMB: Math.round(after.rss / 2 ** 20),
      heapUsedMB: Math.round(after.heapUsed / 2 ** 20),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
} else if (cmd === 'verify') {
  // In-process, sampling memory: where the peak comes from (the CLI run gives the real figure).
  let peakHeap = 0;
  let peakExternal = 0;
  const curve: string[] = [];
  const t0 = Date.now();
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    if (process.env.CURVE) curve.push(`${Date.now() - t0}ms heap ${Math.round(m.heapUsed / 2 ** 20)}/${Math.round(m.heapTotal / 2 ** 20)} ext ${Math.round((m.external + m.arrayBuffers) / 2 ** 20)} rss ${Math.round(m.rss / 2 ** 20)}`);
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakExternal = Math.max(peakExternal, m.external + m.arrayBuffers);
  }, 5);
  const report = await verifyBundle(file);
  clearInterval(timer);
  if (curve.length) console.log(curve.filter((_, i) => i % 10 === 0).join('\n'));
  console.log(
    JSON.stringify({
      ok: report.ok,
      files: report.files,
      problems: report.problems.slice(0, 3),
      peakHeapUsedMB: Math.round(peakHeap / 2 ** 20),
      peakExternalMB: Math.round(peakExternal / 2 ** 20),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
} else {
  console.error('usage: tar-entries.mjs make <out.tar> [count] | index <tar> | verify <tar>');
  process.exit(2);
}
