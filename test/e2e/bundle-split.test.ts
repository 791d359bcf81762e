import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runFerry, runPrivileged } from '../support/cli.js';
import { seedImages, skopeoDigest, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * `ferry bundle split`: a bundle made without `--split-size` (or split for other media) written
 * as parts afterwards, the same form `bundle create --split-size` writes. The parts are checked
 * by coreutils (`sha256sum -c`, `cat | cmp`), read by verify and import, and every refusal
 * leaves nothing under a final name.
 */
let work: string;
let upstream: RunningRegistry;
let seeded: SeededImages;
let bundle: string;
/** Part sizes from the bundle's: about six parts, then about three. */
let small: number;
let larger: number;
const targets: RunningRegistry[] = [];
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache') });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const numbered = async (dir: string, prefix: string) => (await readdir(dir)).filter((f) => f.startsWith(prefix) && /\.\d{3}$/.test(f)).sort();
const exists = (f: string) => stat(f).then(() => true, () => false);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-split-'));
  upstream = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  await writeFile(
    path.join(work, 'app.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: app }', 'images:', `  - ref: ${seeded.refs.base}`, `  - ref: ${seeded.refs.app}`, `  - ref: ${seeded.refs.multi}`, ''].join('\n'),
  );
  bundle = path.join(work, 'app.ferry.tar');
  const r = await runFerry(['bundle', 'create', 'app.yaml', '-o', bundle], { cwd: work, env: env() });
  expect(r.code, r.stderr).toBe(0);
  const size = (await stat(bundle)).size;
  small = Math.ceil(size / 6 / 512) * 512;
  larger = Math.ceil(size / 3 / 512) * 512;
}, 600_000);

afterAll(async () => {
  for (const t of targets) await t.stop();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('bundle split', () => {
  it('writes parts of at most the size that cat joins into the same bytes, sha256sum -c checks, and verify and import read', async () => {
    const r = await runFerry(['bundle', 'split', bundle, '--split-size', String(small), '--json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { size: number; parts: Array<{ file: string; size: number; sha256: string }> };
    const parts = await numbered(work, 'app.ferry.tar.');
    expect(parts.length).toBeGreaterThan(3);
    expect(out.parts.map((p) => path.basename(p.file))).toEqual(parts);
    for (const p of parts) expect((await stat(path.join(work, p))).size).toBeLessThanOrEqual(small);
    await mustRun('sha256sum', ['-c', '--strict', 'app.ferry.tar.parts'], { cwd: work });
    await mustRun('sh', ['-c', `cat ${parts.join(' ')} | cmp - app.ferry.tar`], { cwd: work });
    // The parts alone (the tar moved away) are the bundle.
    await mkdir(path.join(work, 'usb'));
    for (const p of [...parts, 'app.ferry.tar.parts']) await mustRun('mv', [p, 'usb/'], { cwd: work });
    const first = path.join(work, 'usb', parts[0]);
    const v = await runFerry(['bundle', 'verify', first], { cwd: work });
    expect(v.code, v.stderr).toBe(0);
    const reg = await startRegistry({ mode: 'http' });
    targets.push(reg);
    await writeFile(path.join(work, 'site.yaml'), `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: ${reg.url}\n  prefix: mirror\n`);
    const imp = await runFerry(['import', first, '-t', 'site.yaml'], { cwd: work, env: env() });
    expect(imp.code, imp.stderr).toBe(0);
    const mirrored = (ref: string) => `${reg.host}/mirror/${ref.replace(/^([^/]+):(\d+)\//, '$1-$2/')}`;
    for (const key of ['base', 'app', 'multi'] as const) expect(await skopeoDigest(reg, mirrored(seeded.refs[key]))).toBe(seeded.digests[key]);
  });

  it('splits a split bundle again at another size under another name, re-hashing each part it reads; its own name is refused', async () => {
    const usb = path.join(work, 'usb');
    const before = await numbered(usb, 'app.ferry.tar.');
    const inPlace = await runFerry(['bundle', 'split', path.join(usb, 'app.ferry.tar.parts'), '--split-size', String(larger)], { cwd: work });
    expect(inPlace.code).toBe(2);
    expect(inPlace.stderr).toMatch(/writing the parts there would replace app\.ferry\.tar\.(001|parts), which is being read/);
    expect(await numbered(usb, 'app.ferry.tar.')).toEqual(before);
    await mustRun('sha256sum', ['-c', '--strict', 'app.ferry.tar.parts'], { cwd: usb });

    const r = await runFerry(['bundle', 'split', path.join(usb, 'app.ferry.tar.parts'), '--split-size', String(larger), '-o', path.join(work, 'dvd.ferry.tar')], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/parts each re-hashed against their list/);
    const dvd = await numbered(work, 'dvd.ferry.tar.');
    expect(dvd.length).toBeLessThan(before.length);
    await mustRun('sha256sum', ['-c', '--strict', 'dvd.ferry.tar.parts'], { cwd: work });
    await mustRun('sh', ['-c', `cat ${dvd.join(' ')} | cmp - app.ferry.tar`], { cwd: work });
  });

  it('the verify command split suggests runs as printed from where split ran (the parts in another directory)', async () => {
    await mkdir(path.join(work, 'media'), { recursive: true });
    const r = await runFerry(['bundle', 'split', 'app.ferry.tar', '--split-size', String(larger), '-o', 'media/m.ferry.tar'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const cmd = /`ferry bundle verify ([^`]+)`/.exec(r.stdout)?.[1];
    expect(cmd).toBe('media/m.ferry.tar.001');
    const v = await runFerry(['bundle', 'verify', cmd!], { cwd: work });
    expect(v.code, v.stderr).toBe(0);
  });

  it('report --bundle on the parts gives the size of the whole tar, whichever name the bundle is given by (review 4)', async () => {
    const usb = path.join(work, 'usb');
    const whole = (await stat(bundle)).size;
    for (const name of ['app.ferry.tar.parts', 'app.ferry.tar.001', 'app.ferry.tar']) {
      const r = await runFerry(['report', 'app.yaml', '--bundle', path.join(usb, name), '--json'], { cwd: work, env: env() });
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as { bundle: { tarSize: number } }).bundle.tarSize, name).toBe(whole);
    }
  });

  it('a damaged input part is refused naming it: nothing new under a final name, an earlier split under the output name kept whole', async () => {
    const usb = path.join(work, 'usb');
    const parts = await numbered(usb, 'app.ferry.tar.');
    const victim = path.join(usb, parts[1]);
    const good = await readFile(victim);
    const bad = Buffer.from(good);
    bad[1000] ^= 0xff;
    await writeFile(victim, bad);
    // An earlier split under the output name (smaller parts: more of them) must survive the failed run.
    const earlier = await runFerry(['bundle', 'split', bundle, '--split-size', String(small), '-o', path.join(work, 'cd.ferry.tar')], { cwd: work });
    expect(earlier.code, earlier.stderr).toBe(0);
    const cd = () => readdir(work).then((l) => l.filter((f) => f.startsWith('cd.ferry.tar')).sort());
    const before = await cd();
    const listBefore = await readFile(path.join(work, 'cd.ferry.tar.parts'), 'utf8');
    try {
      const r = await runFerry(['bundle', 'split', path.join(usb, parts[0]), '--split-size', String(larger), '-o', path.join(work, 'cd.ferry.tar')], { cwd: work });
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`part 002 of ${parts.length} (${parts[1]}): sha256 mismatch`);
      expect(await cd()).toEqual(before);
      expect(await readFile(path.join(work, 'cd.ferry.tar.parts'), 'utf8')).toBe(listBefore);
      await mustRun('sha256sum', ['-c', '--strict', 'cd.ferry.tar.parts'], { cwd: work });
    } finally {
      await writeFile(victim, good);
    }
    expect(sha256(await readFile(victim))).toBe(sha256(good));
    // A split that succeeds replaces it whole: fewer, larger parts, none of the earlier ones left.
    const r = await runFerry(['bundle', 'split', path.join(usb, parts[0]), '--split-size', String(larger), '-o', path.join(work, 'cd.ferry.tar')], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const after = await cd();
    expect(after.length).toBeLessThan(before.length);
    await mustRun('sha256sum', ['-c', '--strict', 'cd.ferry.tar.parts'], { cwd: work });
    const listed = (await readFile(path.join(work, 'cd.ferry.tar.parts'), 'utf8')).trim().split('\n').map((l) => l.split(/\s+/)[1]);
    expect([...listed, 'cd.ferry.tar.parts'].sort()).toEqual(after);
  });

  it('refuses what is not a bundle file, and a file system too small, before writing', async () => {
    await writeFile(path.join(work, 'notes.txt'), 'x'.repeat(4096));
    const notTar = await runFerry(['bundle', 'split', 'notes.txt', '--split-size', '1K'], { cwd: work });
    expect(notTar.code).toBe(2);
    expect(notTar.stderr).toMatch(/notes\.txt: not a tar archive/);
    expect(await exists(path.join(work, 'notes.txt.001'))).toBe(false);
    const oci = await runFerry(['bundle', 'split', 'oci://127.0.0.1:1/bundles/app:1', '--split-size', '1G'], { cwd: work });
    expect(oci.code).toBe(2);
    expect(oci.stderr).toMatch(/a bundle in a registry is not a file to split/);

    const tiny = path.join(work, 'tiny');
    await mkdir(tiny);
    // A file system of 4 pages, smaller than the bundle.
    const mounted = await runPrivileged('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', tiny]);
    expect(mounted.code, mounted.stderr).toBe(0);
    try {
      const r = await runFerry(['bundle', 'split', bundle, '--split-size', String(small), '-o', path.join(tiny, 'app.ferry.tar')], { cwd: work });
      // A disk too small is the machine's problem: exit 1, as bundle create's refusal and ENOSPC (README, exit codes).
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/the split copy \(.*\) needs \d+ bytes more .* than the \d+ free .*no space left on the device/);
      expect(r.stderr).toContain('nothing was written');
      expect(await readdir(tiny)).toEqual([]);
    } finally {
      await runPrivileged('umount', [tiny]);
    }
  });
});
