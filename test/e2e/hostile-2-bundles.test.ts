import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { formatChecksums } from '../../src/store/bundle-pack.js';
import { TAR_END, tarHeader, tarPadding } from '../../src/store/tar-index.js';
import { runFerry } from '../support/cli.js';
import { lockPinningImages } from '../support/tar-craft.js';

/**
 * Hand-made hostile bundles (no registry needed): structures a real bundle never has, with
 * checksums that match so only ferry's own checks can refuse them. `bundle verify` and `import`
 * into an OCI layout directory must end in a clear error (or a clean report), never a crash,
 * with nothing written under the target.
 */
let dir: string;
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile2-bundles-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A bundle of the given blobs and top-level descriptors, checksums recomputed. */
async function bundle(blobs: Buffer[], tops: object[]): Promise<string> {
  const files = new Map<string, Buffer>([
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['ferry/bundle.json', Buffer.from('{"formatVersion":1,"ferryVersion":"0.1.0","manifestName":"x"}')],
    ['ferry/lock.json', Buffer.from(lockPinningImages(tops as Parameters<typeof lockPinningImages>[0]))],
    ['ferry/manifest.yaml', Buffer.from('x: 1\n')],
    ...blobs.map((b) => [`blobs/sha256/${hex(b)}`, b] as [string, Buffer]),
    ['index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: tops }))],
  ]);
  files.set('ferry/checksums.sha256', Buffer.from(formatChecksums(new Map([...files].map(([k, b]) => [k, hex(b)])))));
  const parts: Buffer[] = [];
  for (const [k, b] of files) parts.push(tarHeader(k, b.length, 'file'), b, tarPadding(b.length));
  parts.push(TAR_END);
  const file = path.join(dir, `b${++n}.tar`);
  await writeFile(file, Buffer.concat(parts));
  return file;
}

const desc = (b: Buffer, mediaType: string, annotations?: Record<string, string>) => ({ mediaType, digest: `sha256:${hex(b)}`, size: b.length, ...(annotations ? { annotations } : {}) });
const IDX = 'application/vnd.oci.image.index.v1+json';
const MAN = 'application/vnd.oci.image.manifest.v1+json';

async function verifyAndImport(tar: string) {
  const v = await runFerry(['bundle', 'verify', tar], { timeoutMs: 60_000 });
  const c = path.join(dir, `t${n}`);
  await mkdir(c, { recursive: true });
  await writeFile(path.join(c, 'target.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 's' }, directory: './out' }));
  const i = await runFerry(['import', tar, '--target', path.join(c, 'target.yaml')], { cwd: c, timeoutMs: 60_000 });
  return { v, i, out: await readdir(path.join(c, 'out'), { recursive: true }).catch(() => [] as string[]) };
}

describe('structures no ferry writes', () => {
  it('a chain of 3000 nested indexes: verify reports it complete without overflowing; import refuses it cleanly before writing', async () => {
    const config = Buffer.from('{}');
    const layer = Buffer.from('x');
    let child = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MAN, config: desc(config, 'application/vnd.oci.image.config.v1+json'), layers: [desc(layer, 'application/vnd.oci.image.layer.v1.tar')] }));
    const blobs = [config, layer, child];
    let mt = MAN;
    for (let i = 0; i < 3000; i++) {
      const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: IDX, manifests: [desc(child, mt)] }));
      blobs.push(idx);
      child = idx;
      mt = IDX;
    }
    const r = await verifyAndImport(await bundle(blobs, [desc(child, IDX, { 'org.opencontainers.image.ref.name': 'example.com/app:1' })]));
    expect(r.v.code, r.v.stderr).toBe(0);
    expect(r.v.stdout).toMatch(/OK \(3009 files/);
    expect(r.i.code).toBe(3);
    expect(r.i.stderr).toMatch(/example\.com\/app:1 manifest: manifest has no valid config descriptor/);
    expect(r.i.stderr).not.toMatch(/unexpected error|\n\s+at /);
    expect(r.out).toEqual([]);
  });
  it('a manifest holding 200 000 levels of nested JSON is verified and imported byte for byte, no stack overflow', async () => {
    const config = Buffer.from('{}');
    const m = Buffer.from(`{"schemaVersion":2,"mediaType":"${MAN}","config":${JSON.stringify(desc(config, 'application/vnd.oci.image.config.v1+json'))},"layers":[],"annotations":{"x":"y"},"deep":${'['.repeat(200000)}${']'.repeat(200000)}}`);
    const r = await verifyAndImport(await bundle([config, m], [desc(m, MAN, { 'org.opencontainers.image.ref.name': 'example.com/app:1' })]));
    expect(r.v.code, r.v.stderr).toBe(0);
    expect(r.i.code, r.i.stderr).toBe(0);
    expect(r.out).toContain(`blobs/sha256/${hex(m)}`);
  });
  it('terminal escapes in media types, titles and reference names never reach the terminal raw', async () => {
    const config = Buffer.from('{}');
    const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MAN, config: desc(config, 'application/vnd.oci.image.config.v1+json\u001b[2J'), layers: [], annotations: { 'org.opencontainers.image.title': '\u001b]0;pwned\u0007' } }));
    const r = await verifyAndImport(await bundle([config, m], [desc(m, `${MAN}\u001b[31m`, { 'org.opencontainers.image.ref.name': 'example.com/app:1\u001b[2J\u009b31m' })]));
    for (const text of [r.v.stdout, r.v.stderr, r.i.stdout, r.i.stderr]) expect(text).not.toMatch(/[\u001b\u0007\u009b]/);
  });
});
