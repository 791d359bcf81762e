import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runCommand, runFerry } from '../support/cli.js';
import { makeGpgKey } from '../support/apt-repo.js';
import { publishVendor, startVendorLab, stopVendorLab, type VendorLab } from '../support/apt-vendor.js';
import { listTree } from '../support/fs-tree.js';
import { pseudoRandomStream } from '../support/images.js';
import { mountTmpfs, unmountAll } from '../support/tmpfs.js';

/**
 * `ferry import` checks the free space of the target's directories before it writes anything:
 * a signed vendor APT repository with one 3 MB package (served by nginx) and a 3 MB file, carried
 * in a real bundle, imported into files.dir and apt.dir on small tmpfs mounts. A disk too small is
 * refused up front, naming each directory, its target key, the bytes needed and free, and nothing
 * is written; grown, the same import completes; run again on a disk with no byte left, it needs none.
 */

let lab: VendorLab;
let proj: string;
const mounts: string[] = [];
const MB3 = 3 * 1024 * 1024;
const env = () => ({ FERRY_CACHE_DIR: path.join(lab.work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const ferry = (args: string[]) => runFerry(args, { cwd: proj, env: env() });
let blob: Buffer;

async function randomBytes(size: number, seed: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of pseudoRandomStream(size, seed)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A .deb carrying `size` incompressible bytes (stored uncompressed), at `<debDir>/amd64/<name>_1.0_amd64.deb`. */
async function bigDeb(debDir: string, name: string, size: number): Promise<void> {
  const root = path.join(lab.work, `${name}-root`);
  await mkdir(path.join(root, 'DEBIAN'), { recursive: true });
  await mkdir(path.join(root, 'usr/share', name), { recursive: true });
  await writeFile(path.join(root, 'usr/share', name, 'payload'), await randomBytes(size, `deb-${name}`));
  await writeFile(path.join(root, 'DEBIAN/control'), `Package: ${name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: ferry tests <tests@ferry.test>\nDescription: ${name}, a big test package\n`);
  await mkdir(path.join(debDir, 'amd64'), { recursive: true });
  await mustRun('dpkg-deb', ['-Znone', '--build', '--root-owner-group', root, path.join(debDir, 'amd64', `${name}_1.0_amd64.deb`)]);
}

const targetYaml = (files: string, apt: string) =>
  [
    'apiVersion: ferry/v1alpha1',
    'kind: MirrorTarget',
    'metadata: { name: site }',
    `files: { dir: ${files}, baseUrl: http://mirror.site/files }`,
    `apt: { dir: ${apt}, baseUrl: http://mirror.site/apt }`,
    '',
  ].join('\n');

/** Fill what is left of a tmpfs (dd stops at ENOSPC). */
async function fill(dir: string): Promise<void> {
  await runCommand('dd', ['if=/dev/zero', `of=${path.join(dir, 'filler')}`, 'bs=4k']);
}

beforeAll(async () => {
  lab = await startVendorLab('ferry-import-space-');
  const key = await makeGpgKey(lab.work, 'vendor');
  const debs = path.join(lab.work, 'debs');
  await bigDeb(debs, 'big', MB3);
  await publishVendor(path.join(lab.work, 'public'), debs, {
    root: 'vendor',
    suite: 'stable',
    fields: ['Origin: Vendor', 'Suite: stable', 'Codename: stable', 'Architectures: amd64', 'Components: main', `Date: ${new Date(Date.now() - 86400_000).toUTCString()}`],
    indexes: [{ comp: 'main', arch: 'amd64', debs: { big: 'pool/main/b/big_1.0_amd64.deb' } }],
    compress: ['', '.gz'],
    key,
  });
  blob = await randomBytes(MB3, 'file-tool');
  await mkdir(path.join(lab.work, 'public/files'), { recursive: true });
  await writeFile(path.join(lab.work, 'public/files/tool.bin'), blob);
  proj = path.join(lab.work, 'proj');
  await mkdir(proj, { recursive: true });
  await writeFile(path.join(proj, 'vendor.asc'), await readFile(key.publicKey));
  await writeFile(
    path.join(proj, 'manifest.yaml'),
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: space }',
      'files:',
      '  - name: tool',
      `    url: ${lab.upstream.url}/files/tool.bin`,
      `    sha256: ${sha256(blob)}`,
      'apt:',
      '  - name: vendor',
      `    url: ${lab.upstream.url}/vendor`,
      '    suites: [stable]',
      '    components: [main]',
      '    architectures: [amd64]',
      '    keys: [vendor.asc]',
      '',
    ].join('\n'),
  );
  for (const args of [['lock', 'manifest.yaml'], ['bundle', 'create', 'manifest.yaml', '-o', 'b.tar', '--frozen']]) {
    const r = await ferry(args);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }
}, 180_000);

afterAll(async () => {
  await unmountAll(mounts);
  await stopVendorLab(lab);
});

describe('import checks the target directories have room before writing', () => {
  it('one small disk for files.dir and apt.dir: refused up front naming both, their keys and the figures; nothing written; grown, it imports; again on a full disk, it needs no room', async () => {
    const disk = await mountTmpfs(path.join(lab.work, 'disk'), '4m', mounts);
    await writeFile(path.join(proj, 'small.yaml'), targetYaml(`${disk}/files`, `${disk}/apt`));
    const r = await ferry(['import', 'b.tar', '--target', 'small.yaml']);
    expect(r.code, r.stderr).toBe(1);
    // Both directories are on one file system: one figure for both, the package and the file (3 MiB each, in 4 KiB blocks) and the indexes.
    const m = new RegExp(`error: ${disk}/apt \\(the target's apt\\.dir\\), ${disk}/files \\(the target's files\\.dir\\): importing \\S*b\\.tar needs (\\d+) bytes \\([\\d.]+ MB\\) there for the (\\d+) files they lack, and 1\\.0 MB kept free; the file system that holds them has (\\d+) bytes free`).exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(2 * MB3);
    expect(Number(m![1])).toBeLessThan(2 * MB3 + 64 * 1024);
    expect(Number(m![3])).toBe(4 * 1024 * 1024);
    expect(r.stderr).toContain('refused before writing anything, as it would end in no space left on the device');
    expect(r.stderr).toMatch(new RegExp(`hint: Free space on the file system that holds ${disk}/apt, ${disk}/files \\(\`df -h ${disk}\`\\), or point the target's apt\\.dir / files\\.dir at a disk with room; then run the same import again`));
    expect(r.stderr).not.toMatch(/node:internal|\n\s+at |unexpected error/);
    expect(await listTree(disk)).toEqual([]);

    // Grown: the same import completes, and writes what it said it lacked.
    await mustRun('mount', ['-o', 'remount,size=32m', disk]);
    const ok = await ferry(['import', 'b.tar', '--target', 'small.yaml']);
    expect(ok.code, ok.stderr).toBe(0);
    const tree = await listTree(disk);
    const tool = tree.find((f) => f.startsWith('files/') && f.endsWith('/tool.bin'));
    expect(tool, tree.join('\n')).toBeDefined();
    expect(sha256(await readFile(path.join(disk, tool!)))).toBe(sha256(blob));
    expect(tree.some((f) => f.startsWith('apt/') && f.endsWith('pool/main/b/big_1.0_amd64.deb'))).toBe(true);

    // Everything is there: on a disk with no byte left, the same import needs none and completes.
    await fill(disk);
    const again = await ferry(['import', 'b.tar', '--target', 'small.yaml']);
    expect(again.code, again.stderr).toBe(0);
    await rm(path.join(disk, 'filler'));
  }, 180_000);

  it('files.dir and apt.dir on two disks: only the one without room is named, with its own figures', async () => {
    const aptDisk = await mountTmpfs(path.join(lab.work, 'apt-disk'), '2m', mounts);
    const filesDisk = await mountTmpfs(path.join(lab.work, 'files-disk'), '8m', mounts);
    await writeFile(path.join(proj, 'two.yaml'), targetYaml(`${filesDisk}/files`, `${aptDisk}/apt`));
    const r = await ferry(['import', 'b.tar', '--target', 'two.yaml']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`error: ${aptDisk}/apt \\(the target's apt\\.dir\\): importing \\S*b\\.tar needs \\d+ bytes \\([\\d.]+ MB\\) there for the \\d+ files it lacks, and 1\\.0 MB kept free; the file system that holds it has ${2 * 1024 * 1024} bytes free`));
    expect(r.stderr).not.toContain('files.dir');
    expect(await listTree(aptDisk)).toEqual([]);
    expect(await listTree(filesDisk)).toEqual([]);
  }, 120_000);
});
