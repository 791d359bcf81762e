import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runFerry } from '../support/cli.js';
import { BASE_FILES, pushLayoutImage, seedImages, writeOciLayout, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';
import { flipByte, tarEntries } from '../support/tar-walk.js';
import type { BaseReport } from '../../src/store/bundle-verify.js';

/**
 * `bundle verify <differential> --base <base bundle>`: before walking into the air-gapped room
 * with this month's differential and last month's bundle, check that the two together are
 * complete. Real bundles made by the built CLI from a real loopback docker-registry.
 */
let work: string;
let upstream: RunningRegistry;
let seeded: SeededImages;
let files: StaticServer;
let tool1: Buffer;
let tool2: Buffer;
/** v1's full bundle (the base), and v2's differentials against it (as a bundle) and against v1's lock. */
let full: string;
let diffB: string;
let diffL: string;
/** v1 made as a differential against v0: a base that is itself a differential (its lock.json is v1's lock). */
let chained: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const tool1Digest = () => `sha256:${sha256(tool1)}`;

function manifestYaml(name: string, images: string[], fileNames: Array<[string, Buffer]>): string {
  return [
    'apiVersion: ferry/v1alpha1',
    'kind: Manifest',
    `metadata: { name: ${name} }`,
    'images:',
    ...images.map((r) => `  - ref: ${r}`),
    'files:',
    ...fileNames.flatMap(([n, bytes]) => [`  - name: ${n}`, `    url: ${files.url}/${n}`, `    sha256: ${sha256(bytes)}`]),
    '',
  ].join('\n');
}

async function create(args: string[]): Promise<void> {
  const r = await runFerry(['bundle', 'create', ...args], { cwd: work, env: env() });
  expect(r.code, r.stderr).toBe(0);
}

type BaseJson = BaseReport;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-verifybase-'));
  upstream = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  // app:2 shares the base layer with app:1 and has a new app layer.
  const layout2 = path.join(work, 'layout2');
  await writeOciLayout(layout2, [{ name: 'app', platforms: [{ architecture: 'amd64', layers: [{ files: BASE_FILES }, { randomBytes: 256 * 1024, seed: 'verify-base-app-2' }], cmd: ['/app/server.sh'] }] }]);
  await pushLayoutImage(upstream, layout2, 'app', 'ferry-test/app:2');
  const app2 = `${upstream.host}/ferry-test/app:2`;
  await mkdir(path.join(work, 'srv'), { recursive: true });
  tool1 = randomBytes(700 * 1024 + 3);
  tool2 = randomBytes(200 * 1024 + 7);
  await writeFile(path.join(work, 'srv', 'tool-1.bin'), tool1);
  await writeFile(path.join(work, 'srv', 'tool-2.bin'), tool2);
  files = await startStaticServer(path.join(work, 'srv'));

  // Each manifest its own name, so each lock its own file (v0.lock.json, v1.lock.json, v2.lock.json).
  await writeFile(path.join(work, 'v0.yaml'), manifestYaml('v0', [seeded.refs.base], [['tool-1.bin', tool1]]));
  await writeFile(path.join(work, 'v1.yaml'), manifestYaml('v1', [seeded.refs.base, seeded.refs.app, seeded.refs.multi], [['tool-1.bin', tool1]]));
  await writeFile(path.join(work, 'v2.yaml'), manifestYaml('v2', [seeded.refs.base, app2, seeded.refs.multi], [['tool-1.bin', tool1], ['tool-2.bin', tool2]]));
  for (const v of ['v0', 'v1']) {
    const lock = await runFerry(['lock', `${v}.yaml`], { cwd: work, env: env() });
    expect(lock.code, lock.stderr).toBe(0);
  }
  full = path.join(work, 'v1.ferry.tar');
  await create(['v1.yaml', '-o', full, '--frozen']);
  await create(['v0.yaml', '-o', path.join(work, 'v0.ferry.tar'), '--frozen']);
  chained = path.join(work, 'v1-chained.ferry.tar');
  await create(['v1.yaml', '-o', chained, '--frozen', '--since', 'v0.ferry.tar']);
  diffB = path.join(work, 'v2-since-bundle.ferry.tar');
  await create(['v2.yaml', '-o', diffB, '--since', full]);
  diffL = path.join(work, 'v2-since-lock.ferry.tar');
  await create(['v2.yaml', '-o', diffL, '--since', 'v1.lock.json']);
}, 600_000);

afterAll(async () => {
  await upstream?.stop();
  await files?.close();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

describe('bundle verify --base', () => {
  it('a complete pair is OK: every omitted blob re-hashed from the base (a bundle base, and a lock base matched by the bundle lock.json)', async () => {
    const v = await runFerry(['bundle', 'verify', diffB, '--base', full], { cwd: work });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/: OK \(/);
    expect(v.stdout).toMatch(/with its base .*v1\.ferry\.tar \(bundle v1\.ferry\.tar, sha256:[a-f0-9]{64}\): complete: all \d+ blobs the differential left out are in it/);
    const j = JSON.parse((await runFerry(['bundle', 'verify', diffB, '--base', full, '--json'], { cwd: work })).stdout) as { ok: boolean; expectedFromBase: { blobs: number; bytes: number; digests: string[] }; base: BaseJson };
    expect(j.ok).toBe(true);
    expect(j.base.complete).toBe(true);
    expect(j.base.bundle).toBe(full);
    expect(j.base.missing).toEqual([]);
    expect(j.base.differential).toBe(false);
    // Every blob expected from the base was read from it and re-hashed: the same count and bytes.
    expect(j.base.blobs).toBe(j.expectedFromBase.blobs);
    expect(j.base.files).toBe(j.expectedFromBase.blobs);
    expect(j.base.bytes).toBe(j.expectedFromBase.bytes);
    expect(j.expectedFromBase.digests).toContain(seeded.sharedLayer);
    expect(j.expectedFromBase.digests).toContain(tool1Digest());

    const l = await runFerry(['bundle', 'verify', diffL, '--base', full, '--json'], { cwd: work });
    expect(l.code, l.stderr).toBe(0);
    expect((JSON.parse(l.stdout) as { base: BaseJson }).base.complete).toBe(true);
  });

  it('the wrong base is refused naming both digests, before anything is hashed', async () => {
    const recorded = JSON.parse((await mustRun('tar', ['-xOf', diffB, 'ferry/differential.json'])).stdout).base.digest as string;
    const other = `sha256:${sha256((await mustRun('tar', ['-xOf', diffL, 'ferry/checksums.sha256'])).stdout)}`;
    const v = await runFerry(['bundle', 'verify', diffB, '--base', diffL], { cwd: work });
    expect(v.code, v.stderr).toBe(2);
    expect(v.stderr).toContain('not the base this bundle was made against');
    expect(v.stderr).toContain(recorded);
    expect(v.stderr).toContain(other);
    expect(v.stdout).not.toContain('OK');
    // A full bundle needs no base: said so, as serve says it.
    const f = await runFerry(['bundle', 'verify', full, '--base', full], { cwd: work });
    expect(f.code).toBe(2);
    expect(f.stderr).toContain('is a full bundle; it needs no base');
  });

  it('a base lacking an omitted blob: incomplete, the blob named with the artifacts that use it (exit 3)', async () => {
    // The base unpacked and packed again without the shared layer: its checksums.sha256 (so its digest) unchanged.
    const lacking = path.join(work, 'v1-lacking.ferry.tar');
    const unpacked = path.join(work, 'v1-unpacked');
    await mkdir(unpacked, { recursive: true });
    await mustRun('tar', ['-xf', full, '-C', unpacked]);
    await rm(path.join(unpacked, 'blobs', 'sha256', seeded.sharedLayer.slice(7)));
    await mustRun('tar', ['-cf', lacking, '-C', unpacked, 'oci-layout', 'index.json', 'blobs', 'ferry']);
    const v = await runFerry(['bundle', 'verify', diffB, '--base', lacking], { cwd: work });
    expect(v.code, v.stderr).toBe(3);
    expect(v.stderr).toMatch(/incomplete \(1 of the \d+ blobs it left out missing or damaged in the base\)/);
    expect(v.stderr).toMatch(new RegExp(`base .*v1-lacking\\.ferry\\.tar: .*${seeded.refs.base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.* layer ${seeded.sharedLayer} \\(\\d+ bytes\\): not in the base`));
    const j = JSON.parse((await runFerry(['bundle', 'verify', diffB, '--base', lacking, '--json'], { cwd: work })).stdout) as { ok: boolean; base: BaseJson; problems: Array<{ artifact?: string; file: string; inBase?: boolean }> };
    expect(j.ok).toBe(false);
    expect(j.base.complete).toBe(false);
    expect(j.base.missing.map((m) => m.digest)).toEqual([seeded.sharedLayer]);
    expect(j.base.missing[0].usedBy).toContain(seeded.refs.base);
    expect(j.base.missing[0].problem).toBe('not in the base');
    expect(j.problems).toHaveLength(1);
    expect(j.problems[0]).toMatchObject({ file: `blobs/sha256/${seeded.sharedLayer.slice(7)}`, inBase: true });
    expect(j.problems[0].artifact).toContain(seeded.refs.base);
  });

  it('a base that is itself a differential is refused when it lacks what it left out (as serve --base refuses it)', async () => {
    // v1 made against v0: its lock.json is v1's lock, so it matches the lock-based differential, but it left out v0's blobs.
    const v = await runFerry(['bundle', 'verify', diffL, '--base', chained, '--json'], { cwd: work });
    expect(v.code, v.stderr).toBe(3);
    const j = JSON.parse(v.stdout) as { base: BaseJson };
    expect(j.base.differential).toBe(true);
    expect(j.base.complete).toBe(false);
    const missing = j.base.missing.map((m) => m.digest);
    expect(missing).toContain(seeded.sharedLayer);
    expect(missing).toContain(tool1Digest());
    expect(j.base.missing.find((m) => m.digest === tool1Digest())!.usedBy).toContain('tool-1.bin');
    expect(j.base.missing[0].problem).toBe('not in the base (the base is itself a differential bundle)');
    const t = await runFerry(['bundle', 'verify', diffL, '--base', chained], { cwd: work });
    expect(t.code).toBe(3);
    expect(t.stderr).toContain('against a full base');
  });

  it('a damaged blob in the base is a verification failure naming it and its artifact', async () => {
    const damaged = path.join(work, 'v1-damaged.ferry.tar');
    await copyFile(full, damaged);
    await flipByte(damaged, `blobs/sha256/${tool1Digest().slice(7)}`, 1000);
    const v = await runFerry(['bundle', 'verify', diffB, '--base', damaged], { cwd: work });
    expect(v.code, v.stderr).toBe(3);
    expect(v.stderr).toMatch(new RegExp(`tool-1\\.bin.* ${tool1Digest()} \\(${tool1.length} bytes\\): damaged in the base: content hashes to sha256:[a-f0-9]{64}`));
    expect(v.stderr).toContain('incomplete');
    // The differential itself is sound: the hint says to copy the base again, not the bundle.
    expect(v.stderr).toContain('copy the base again');
  });

  it('a split base: its first part or its .parts file', async () => {
    const dir = path.join(work, 'split');
    await mkdir(dir, { recursive: true });
    await create(['v1.yaml', '-o', path.join(dir, 'v1.ferry.tar'), '--frozen', '--split-size', '256KiB']);
    for (const base of ['v1.ferry.tar.001', 'v1.ferry.tar.parts']) {
      const v = await runFerry(['bundle', 'verify', diffB, '--base', path.join(dir, base), '--json'], { cwd: work });
      expect(v.code, v.stderr).toBe(0);
      const j = JSON.parse(v.stdout) as { expectedFromBase: { blobs: number }; base: BaseJson };
      expect(j.base.complete).toBe(true);
      expect(j.base.files).toBe(j.expectedFromBase.blobs);
    }
    // A damaged part is found by re-hashing the omitted blobs read through the parts.
    const tool1Part = path.join(dir, 'v1.ferry.tar.001');
    const copyDir = path.join(work, 'split-damaged');
    await mkdir(copyDir, { recursive: true });
    await mustRun('sh', ['-c', `cp ${dir}/v1.ferry.tar.* ${copyDir}/`]);
    // The parts concatenated are the tar byte for byte: flip a byte of tool-1.bin in whichever part holds it.
    const at = (await tarEntries(full)).get(`blobs/sha256/${tool1Digest().slice(7)}`)!.offset + 100;
    const partSize = (await stat(tool1Part)).size;
    const part = Math.floor(at / partSize) + 1;
    const partFile = path.join(copyDir, `v1.ferry.tar.${String(part).padStart(3, '0')}`);
    const bytes = await readFile(partFile);
    bytes[at % partSize] ^= 0xff;
    await writeFile(partFile, bytes);
    const v = await runFerry(['bundle', 'verify', diffB, '--base', path.join(copyDir, 'v1.ferry.tar.001')], { cwd: work });
    expect(v.code, v.stderr).toBe(3);
    expect(v.stderr).toContain(`${tool1Digest()} (${tool1.length} bytes): damaged in the base`);
  });

  it('a base in a registry (oci://…), read in place', async () => {
    const ref = `oci://${upstream.host}/bundles/v1:1`;
    const push = await runFerry(['bundle', 'push', full, ref, '-q'], { cwd: work, env: env() });
    expect(push.code, push.stderr).toBe(0);
    const v = await runFerry(['bundle', 'verify', diffB, '--base', ref, '--json'], { cwd: work, env: env() });
    expect(v.code, v.stderr).toBe(0);
    const j = JSON.parse(v.stdout) as { expectedFromBase: { blobs: number; bytes: number }; base: BaseJson };
    expect(j.base).toMatchObject({ bundle: ref, complete: true, files: j.expectedFromBase.blobs, bytes: j.expectedFromBase.bytes });
  });

  it('--key applies to both bundles; --base-key names the base key when another key signed it', async () => {
    const key = path.join(work, 'bundle.key');
    const pub = path.join(work, 'bundle.pub');
    const oldKey = path.join(work, 'old.key');
    const oldPub = path.join(work, 'old.pub');
    for (const [k, p] of [[key, pub], [oldKey, oldPub]]) {
      await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', k]);
      await mustRun('openssl', ['pkey', '-in', k, '-pubout', '-out', p]);
    }
    const signedBase = path.join(work, 'v1-signed-old.ferry.tar');
    await create(['v1.yaml', '-o', signedBase, '--frozen', '--sign-key', oldKey]);
    const signedDiff = path.join(work, 'v2-signed.ferry.tar');
    await create(['v2.yaml', '-o', signedDiff, '--since', signedBase, '--sign-key', key]);

    // The differential verifies with --key, the base (signed with the old key) does not: refused naming the base's signature.
    const both = await runFerry(['bundle', 'verify', signedDiff, '--base', signedBase, '--key', pub, '--json'], { cwd: work });
    expect(both.code, both.stderr).toBe(3);
    const j = JSON.parse(both.stdout) as { signature: string; base: BaseJson; problems: Array<{ file: string; message: string }> };
    expect(j.signature).toBe('verified');
    expect(j.base.signature).toBe('failed');
    expect(j.problems.map((p) => p.file)).toEqual(['ferry/checksums.sha256.sig']);
    expect(j.problems[0].message).toMatch(/^base .*v1-signed-old\.ferry\.tar: /);

    const ok = await runFerry(['bundle', 'verify', signedDiff, '--base', signedBase, '--key', pub, '--base-key', oldPub], { cwd: work });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('signature verified');
    expect(ok.stdout).toContain('base signature verified');
  });
});
