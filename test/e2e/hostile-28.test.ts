import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { runCommand, runFerry } from '../support/cli.js';
import { startStaticServer, writeHelloChartRepo, type StaticServer } from '../support/chart-repo.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { listTree } from '../support/fs-tree.js';
import { writeDirectoryTarget } from '../support/offline-lock.js';

/**
 * Hostile inputs, round 28: the directory targets on disk. The path rule keeps every name a
 * bundle carries inside the target on paper; a symbolic link planted inside a target directory
 * (by another local user) must not lead ferry's writes, or the checks that skip a write ("already
 * there"), to a place outside. Each case against the built CLI; what is outside stays untouched.
 */
let work: string;
let reg: RunningRegistry;
let web: StaticServer;
let seeded: SeededImages;
let bundle: string;
let disk: Buffer;
let chartBytes: Buffer;
let fileHost: string;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache') });

/** A fresh target (layout, charts, files) and an empty directory outside it. */
async function site(name: string): Promise<{ file: string; root: string; outside: string }> {
  const root = path.join(work, name);
  const outside = path.join(work, `${name}-outside`);
  await mkdir(root, { recursive: true });
  await mkdir(outside, { recursive: true });
  for (const d of ['files', 'charts']) await mkdir(path.join(root, d), { recursive: true });
  const file = await writeDirectoryTarget(root, name);
  return { file, root, outside };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile28-'));
  reg = await startRegistry({ mode: 'http' });
  seeded = await seedImages(reg);
  const webRoot = path.join(work, 'web');
  await mkdir(path.join(webRoot, 'pub'), { recursive: true });
  disk = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + 7) & 0xff));
  await writeFile(path.join(webRoot, 'pub', 'disk.img'), disk);
  await writeHelloChartRepo(work, webRoot);
  chartBytes = await readFile(path.join(webRoot, 'charts', 'hello-1.0.0.tgz'));
  web = await startStaticServer(webRoot);
  fileHost = new URL(web.url).host.replace(':', '-');
  const manifest = path.join(work, 'h28.yaml');
  await writeFile(
    manifest,
    stringifyYaml({
      apiVersion: 'ferry/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'h28' },
      images: [{ ref: seeded.refs.app, extras: false }],
      charts: [{ name: 'hello', repo: `${web.url}/charts`, version: '1.0.0', images: 'none' }],
      files: [{ name: 'disk', url: `${web.url}/pub/disk.img`, sha256: sha256(disk) }],
    }),
  );
  bundle = path.join(work, 'h28.ferry.tar');
  const r = await runFerry(['bundle', 'create', manifest, '-o', bundle], { env: env() });
  expect(r.code, r.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  await reg?.stop();
  await web?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a symbolic link planted inside a directory target', () => {
  it('a directory of files.dir linked outside: refused, naming the link; nothing written outside', async () => {
    const t = await site('dirlink');
    await symlink(t.outside, path.join(t.root, 'files', fileHost));
    const r = await runFerry(['import', bundle, '--target', t.file], { env: env() });
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr).toContain(`${path.join(t.root, 'files', fileHost)}: a symbolic link (to ${JSON.stringify(t.outside)}) inside the target directory ${path.join(t.root, 'files')} leads outside it`);
    expect(r.stderr).toMatch(/Remove the link/);
    // The old code wrote pub/disk.img (and its .sha256) into the directory the link led to.
    expect(await readdir(t.outside)).toEqual([]);
  });

  it('a file linked to a copy outside is not "already there": refused, never left as the mirror\'s file', async () => {
    const t = await site('filelink');
    const copy = path.join(t.outside, 'disk.img');
    await writeFile(copy, disk);
    await mkdir(path.join(t.root, 'files', fileHost, 'pub'), { recursive: true });
    const at = path.join(t.root, 'files', fileHost, 'pub', 'disk.img');
    await symlink(copy, at);
    const r = await runFerry(['import', bundle, '--target', t.file, '--json'], { env: env() });
    // The old code counted the link as the file already imported (same content today) and kept it:
    // whoever owns the copy outside could change what the mirror serves afterwards.
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr).toContain(`${at}: a symbolic link (to ${JSON.stringify(copy)})`);
    expect(await readFile(copy)).toEqual(disk);
  });

  it('a chart archive linked to a copy outside: refused before anything is written', async () => {
    const t = await site('chartlink');
    const copy = path.join(t.outside, 'hello-1.0.0.tgz');
    await writeFile(copy, chartBytes);
    await symlink(copy, path.join(t.root, 'charts', 'hello-1.0.0.tgz'));
    const r = await runFerry(['import', bundle, '--target', t.file], { env: env() });
    // The old code skipped the archive as present and listed it in index.yaml.
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr).toContain(`${path.join(t.root, 'charts', 'hello-1.0.0.tgz')}: a symbolic link`);
    expect(await listTree(path.join(t.root, 'charts'))).toEqual(['hello-1.0.0.tgz']);
    expect(await readdir(t.outside)).toEqual(['hello-1.0.0.tgz']);
  });

  it("the OCI layout's blobs/ linked outside: refused; no blob written outside", async () => {
    const t = await site('layoutlink');
    await mkdir(path.join(t.root, 'layout'), { recursive: true });
    await symlink(t.outside, path.join(t.root, 'layout', 'blobs'));
    const r = await runFerry(['import', bundle, '--target', t.file], { env: env() });
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr).toContain(`${path.join(t.root, 'layout', 'blobs')}: a symbolic link (to ${JSON.stringify(t.outside)})`);
    expect(await listTree(t.outside)).toEqual([]);
  });

  it('holds: a link that stays inside the target is followed as any path', async () => {
    const t = await site('insidelink');
    await mkdir(path.join(t.root, 'files', 'real'), { recursive: true });
    await symlink('real', path.join(t.root, 'files', fileHost));
    const r = await runFerry(['import', bundle, '--target', t.file], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(await readFile(path.join(t.root, 'files', 'real', 'pub', 'disk.img')))).toBe(sha256(disk));
    expect(await readdir(t.outside)).toEqual([]);
  });
});

describe('the verified chain', () => {
  it('holds: a signed bundle with an entry appended after signing is refused by verify and import --key; nothing reaches the target', async () => {
    const key = path.join(work, 'bundle.key');
    const pub = path.join(work, 'bundle.pub');
    expect((await runCommand('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key])).code).toBe(0);
    expect((await runCommand('openssl', ['pkey', '-in', key, '-pubout', '-out', pub])).code).toBe(0);
    const signed = path.join(work, 'signed.ferry.tar');
    const c = await runFerry(['bundle', 'create', path.join(work, 'h28.yaml'), '-o', signed, '--sign-key', key], { env: env() });
    expect(c.code, c.stderr).toBe(0);
    // GNU tar appends a well-formed entry: every file the signature covers is unchanged.
    const extra = path.join(work, 'extra');
    await mkdir(path.join(extra, 'ferry'), { recursive: true });
    await writeFile(path.join(extra, 'ferry', 'extra.txt'), 'not signed\n');
    expect((await runCommand('tar', ['--append', '-f', signed, '-C', extra, 'ferry/extra.txt'])).code).toBe(0);
    const v = await runFerry(['bundle', 'verify', signed, '--key', pub], { env: env() });
    expect(v.code).toBe(3);
    expect(v.stderr).toContain('ferry/extra.txt: not listed in ferry/checksums.sha256 (a file was added)');
    const t = await site('appended');
    const r = await runFerry(['import', signed, '--target', t.file, '--key', pub], { env: env() });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('ferry/extra.txt: not listed in ferry/checksums.sha256');
    expect((await listTree(t.root)).filter((f) => f !== 'target.yaml' && !/^layout\/(oci-layout|index\.json)$/.test(f))).toEqual([]);
  });
});
