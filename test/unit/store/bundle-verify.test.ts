import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatChecksums } from '../../../src/store/bundle-pack.js';
import { verifyBundle } from '../../../src/commands/bundle-verify.js';
import { TAR_END, tarHeader, tarPadding } from '../../../src/store/tar-index.js';

/** Hand-made bundles, so each check of verify is seen failing on its own. */

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-verify-unit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const LOCK = JSON.stringify({ apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'x', digest: `sha256:${'0'.repeat(64)}` }, images: [] });

function buildFiles(overrides: { bundleJson?: string; lock?: string; extra?: Record<string, Buffer>; checksums?: (text: string) => string } = {}) {
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  const layer = Buffer.from('layer bytes');
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${hex(config)}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${hex(layer)}`, size: layer.length }],
    }),
  );
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${hex(manifest)}`,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': 'example.com/app:1', 'io.ferry.kind': 'image' },
        },
      ],
    }),
  );
  const files = new Map<string, Buffer>([
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['ferry/bundle.json', Buffer.from(overrides.bundleJson ?? '{"formatVersion":1,"ferryVersion":"0.1.0","manifestName":"x"}')],
    // The default lock pins the one image index.json names (verify reports an entry the lock does not pin).
    ['ferry/lock.json', Buffer.from(overrides.lock ?? JSON.stringify({ ...JSON.parse(LOCK), images: [{ source: 'example.com/app:1', ref: 'example.com/app:1', digest: `sha256:${hex(manifest)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: manifest.length, manifests: [], blobs: [] }] }))],
    ['ferry/manifest.yaml', Buffer.from('x: 1\n')],
    ...[config, layer, manifest].map((b) => [`blobs/sha256/${hex(b)}`, b] as [string, Buffer]),
    ['index.json', index],
  ]);
  const sums = new Map([...files].map(([n, b]) => [n, hex(b)]));
  let text = formatChecksums(sums);
  if (overrides.checksums) text = overrides.checksums(text);
  files.set('ferry/checksums.sha256', Buffer.from(text));
  for (const [n, b] of Object.entries(overrides.extra ?? {})) files.set(n, b);
  return { files, layer: `sha256:${hex(layer)}`, config: `sha256:${hex(config)}` };
}

async function writeTar(name: string, files: Map<string, Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for (const [n, b] of files) parts.push(tarHeader(n, b.length, 'file'), b, tarPadding(b.length));
  parts.push(TAR_END);
  const file = path.join(dir, name);
  await writeFile(file, Buffer.concat(parts));
  return file;
}

describe('verifyBundle', () => {
  it('passes a well-formed hand-made bundle', async () => {
    const report = await verifyBundle(await writeTar('ok.tar', buildFiles().files));
    expect(report).toMatchObject({ ok: true, files: 9, images: 1, artifacts: 1, problems: [] });
  });

  it('finds every problem at once, each naming its file', async () => {
    const { files, layer } = buildFiles({
      bundleJson: '{"formatVersion":7}',
      lock: '{"apiVersion":"ferry/v1alpha1"',
      checksums: (t) => t + 'garbage line\n',
      extra: { 'blobs/sha256/not-a-digest': Buffer.from('x') },
    });
    files.set(`blobs/sha256/${layer.slice(7)}`, Buffer.from('LAYER BYTES'));
    const report = await verifyBundle(await writeTar('many.tar', files));
    expect(report.ok).toBe(false);
    const byFile = report.problems.map((p) => `${p.file} | ${p.message}`);
    expect(byFile).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ferry\/bundle.json \| ferry\/bundle.json: bundle format 7 is not supported \(this ferry reads format 1 only\)$/),
        expect.stringMatching(/^ferry\/lock.json \| ferry\/lock.json: not valid JSON/),
        expect.stringMatching(/^ferry\/checksums.sha256 \| ferry\/checksums.sha256 line \d+: not a sha256sum line: "garbage line"$/),
        expect.stringMatching(/^blobs\/sha256\/not-a-digest \| .*unexpected file under blobs\//),
        expect.stringMatching(/^blobs\/sha256\/not-a-digest \| .*not listed in ferry\/checksums.sha256/),
        `blobs/sha256/${layer.slice(7)} | example.com/app:1 layer ${layer}: digest mismatch (content hashes to sha256:${hex('LAYER BYTES')})`,
      ]),
    );
    expect(report.problems).toHaveLength(6);
    expect(report.problems.find((p) => p.file.endsWith(layer.slice(7)))?.artifact).toBe('example.com/app:1');
  });

  it('a lock that parses but breaks the schema lists each field', async () => {
    const report = await verifyBundle(await writeTar('lock.tar', buildFiles({ lock: '{"apiVersion":"ferry/v9","kind":"Lock"}' }).files));
    expect(report.problems.map((p) => p.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^ferry\/lock.json: apiVersion: /), expect.stringMatching(/^ferry\/lock.json: manifest: /)]),
    );
  });

  it('a blob whose size disagrees with its descriptor is named with the image', async () => {
    const { files, config } = buildFiles();
    const bigger = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}} ');
    files.delete(`blobs/sha256/${config.slice(7)}`);
    files.set(`blobs/sha256/${config.slice(7)}`, bigger);
    const report = await verifyBundle(await writeTar('size.tar', files));
    expect(report.problems.map((p) => p.message)).toContain(`example.com/app:1 config ${config}: size ${bigger.length} bytes, the descriptor says ${bigger.length - 1}`);
  });

  it('files whose hash the caller knows (hashed while import pushed them) are not read again; the report is the same', async () => {
    const { files, layer } = buildFiles();
    const name = `blobs/sha256/${layer.slice(7)}`;
    const size = files.get(name)!.length;
    const tar = await writeTar('known.tar', files);
    let read = 0;
    const full = await verifyBundle(tar, { onProgress: (n) => (read += n) });
    let readKnown = 0;
    const skipped = await verifyBundle(tar, { onProgress: (n) => (readKnown += n), known: new Map([[name, layer.slice(7)]]) });
    expect(skipped).toMatchObject({ ok: true, files: full.files, bytes: full.bytes, images: 1, problems: [], hashedBefore: { files: 1, bytes: size } });
    expect(readKnown).toBe(read - size);

    // Not read: bytes changed under a known-good hash pass (the push hashed them, not this pass) …
    const changed = new Map(files).set(name, Buffer.from('LAYER BYTES'));
    const changedTar = await writeTar('known-changed.tar', changed);
    expect((await verifyBundle(changedTar, { known: new Map([[name, layer.slice(7)]]) })).ok).toBe(true);
    expect((await verifyBundle(changedTar)).ok).toBe(false);
    // … and a known hash that is wrong is reported as one computed here would be.
    const wrong = await verifyBundle(tar, { known: new Map([[name, hex('LAYER BYTES')]]) });
    expect(wrong.problems.map((p) => p.message)).toEqual([`example.com/app:1 layer ${layer}: digest mismatch (content hashes to sha256:${hex('LAYER BYTES')})`]);
  });

  it('a missing bundle file is a usage error, not a verification report', async () => {
    await expect(verifyBundle(path.join(dir, 'nope.tar'))).rejects.toMatchObject({ code: 'USAGE' });
  });
});
