import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { CraftedBundle } from '../support/craft-bundle.js';
import { makeGpgKey, type GpgKey } from '../support/apt-repo.js';
import { publishVendor, vendorDeb, startVendorLab, stopVendorLab, type VendorLab } from '../support/apt-vendor.js';
import { filesOnlyTarget, movedFileUrl } from '../support/files-target.js';
import { listTree } from '../support/fs-tree.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * Names that are one file on a case-insensitive or normalizing file system (Windows and SMB
 * shares, macOS, ext4 casefold): `Foo.bin` and `foo.bin`, `café` composed and decomposed. On such
 * a target the second written replaces the first after it was verified — and its `.sha256`
 * beside it, so the wrong bytes even pass a client's check. `lock` (which does not know the
 * target) refuses such file URLs and such pool paths of one APT repository; import on a
 * case-sensitive directory (this kernel has no casefold: probed, not assumed) writes both.
 * Also: one pool path listed by two suites of a repository with different SHA256 (one .deb
 * would be carried, the other suite's index naming bytes the mirror does not hold).
 */
let lab: VendorLab;
let http: StaticServer;
let key: GpgKey;
const env = () => ({ FERRY_CACHE_DIR: path.join(lab.work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

beforeAll(async () => {
  lab = await startVendorLab('ferry-e2e-hostile50-');
  const srv = path.join(lab.work, 'srv');
  await mkdir(srv, { recursive: true });
  for (const [name, content] of [['a.txt', 'lower a\n'], ['b.txt', 'b\n']]) await writeFile(path.join(srv, name), content);
  http = await startStaticServer(srv);
  key = await makeGpgKey(lab.work, 'vendor');
}, 120_000);

afterAll(async () => {
  await http?.close();
  await stopVendorLab(lab);
});

async function project(name: string, lines: string[]): Promise<string> {
  const dir = path.join(lab.work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'vendor.asc'), await readFile(key.publicKey));
  await writeFile(path.join(dir, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${name} }`, ...lines, ''].join('\n'));
  return dir;
}

async function refusedLock(dir: string): Promise<string> {
  const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
  expect(r.code, r.stdout + r.stderr).not.toBe(0);
  expect(r.stderr).not.toMatch(/unexpected error/i);
  expect(await listTree(dir)).toEqual(['manifest.yaml', 'vendor.asc']);
  return r.stderr;
}

describe('file URLs whose mirror paths are one name on a case-insensitive or normalizing file system', () => {
  it('lock refuses two URLs differing only in case, naming both; no lock written', async () => {
    const dir = await project('files-case', ['files:', `  - { name: upper, url: "${http.url}/dl/Foo.bin" }`, `  - { name: lower, url: "${http.url}/dl/foo.bin" }`]);
    const err = await refusedLock(dir);
    expect(err).toContain(`files[lower] ${http.url}/dl/foo.bin`);
    expect(err).toContain(`files[upper] ${http.url}/dl/Foo.bin`);
    expect(err).toMatch(/one name on a file system that ignores case or Unicode normalization/);
  });

  it('lock refuses café composed (%C3%A9) and decomposed (e%CC%81), and a file beside a directory of its name in another case', async () => {
    const dir = await project('files-nfd', [
      'files:',
      `  - { name: nfc, url: "${http.url}/caf%C3%A9.txt" }`,
      `  - { name: nfd, url: "${http.url}/cafe%CC%81.txt" }`,
      `  - { name: leaf, url: "${http.url}/Tools" }`,
      `  - { name: under, url: "${http.url}/tools/x.bin" }`,
    ]);
    const err = await refusedLock(dir);
    expect(err).toContain(`files[nfd] ${http.url}/cafe%CC%81.txt`);
    expect(err).toContain(`files[under] ${http.url}/tools/x.bin`);
  });

  it('import of a bundle carrying a.txt and A.txt into a case-sensitive files.dir writes each with its own bytes and checksum, and leaves no probe behind', { timeout: 60_000 }, async () => {
    const dir = await project('files-import', ['files:', `  - { name: a, url: "${http.url}/a.txt" }`, `  - { name: b, url: "${http.url}/b.txt" }`]);
    const made = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'base.tar'], { cwd: dir, env: env() });
    expect(made.code, made.stderr).toBe(0);
    // As a lock made before ferry refused such names would carry them.
    const b = movedFileUrl(await CraftedBundle.load(path.join(dir, 'base.tar')), `${http.url}/b.txt`, `${http.url}/A.txt`);
    await b.write(path.join(dir, 'crafted.tar'));
    const t = await filesOnlyTarget(dir, 'site');
    const imp = await runFerry(['import', 'crafted.tar', '-t', t.file], { cwd: dir, env: env() });
    expect(imp.code, imp.stdout + imp.stderr).toBe(0);
    const host = http.url.replace('http://', '').replace(':', '-');
    expect(await readFile(path.join(t.filesDir, host, 'a.txt'), 'utf8')).toBe('lower a\n');
    expect(await readFile(path.join(t.filesDir, host, 'A.txt'), 'utf8')).toBe('b\n');
    expect(await listTree(t.filesDir)).toEqual([`${host}/A.txt`, `${host}/A.txt.sha256`, `${host}/a.txt`, `${host}/a.txt.sha256`].sort());
  });
});

describe('a malicious APT repository: pool paths', () => {
  const fields = (suite: string) => ['Origin: Vendor', `Suite: ${suite}`, `Codename: ${suite}`, 'Architectures: amd64', 'Components: main', `Date: ${new Date(Date.now() - 86400_000).toUTCString()}`];
  const aptEntry = (root: string, suites: string) => ['apt:', '  - name: vendor', `    url: ${lab.upstream.url}/${root}`, `    suites: [${suites}]`, '    components: [main]', '    architectures: [amd64]', '    keys: [vendor.asc]'];

  it('two suites listing one Filename with different SHA256: lock refuses, naming the path and both suites (apt would fail one with "Hash Sum mismatch")', { timeout: 120_000 }, async () => {
    const old = path.join(lab.work, 'debs-old');
    const neu = path.join(lab.work, 'debs-new');
    await vendorDeb(old, 'hello', '1.0', 'amd64');
    await vendorDeb(neu, 'hello', '2.0', 'amd64');
    const pub = path.join(lab.work, 'public');
    await publishVendor(pub, old, { root: 'two', suite: 'stable', fields: fields('stable'), indexes: [{ comp: 'main', arch: 'amd64', debs: { hello: 'pool/main/h/hello_amd64.deb' } }], compress: ['.gz'], key });
    await publishVendor(pub, neu, { root: 'two', suite: 'stable-updates', fields: fields('stable-updates'), indexes: [{ comp: 'main', arch: 'amd64', debs: { hello: 'pool/main/h/hello_amd64.deb' } }], compress: ['.gz'], key });
    for (const mode of [[], ['    packages: [hello]']]) {
      const dir = await project(`apt-two-${mode.length}`, [...aptEntry('two', 'stable, stable-updates'), ...mode]);
      const err = await refusedLock(dir);
      expect(err).toMatch(/cannot each have a place of (its|their) own in the mirror's pool/);
      expect(err).toMatch(/apt\[vendor\] "pool\/main\/h\/hello_amd64\.deb": suite stable lists SHA256 [0-9a-f]{64}, suite stable-updates lists [0-9a-f]{64}/);
    }
  });

  it('one index listing pool/…/Hello.deb and pool/…/hello.deb: lock refuses, naming both', { timeout: 120_000 }, async () => {
    const debs = path.join(lab.work, 'debs-case');
    await vendorDeb(debs, 'hello', '1.0', 'amd64');
    await vendorDeb(debs, 'hola', '1.0', 'amd64');
    await publishVendor(path.join(lab.work, 'public'), debs, {
      root: 'case',
      suite: 'stable',
      fields: fields('stable'),
      indexes: [{ comp: 'main', arch: 'amd64', debs: { hello: 'pool/main/h/Hello_1.0_amd64.deb', hola: 'pool/main/h/hello_1.0_amd64.deb' } }],
      compress: ['.gz'],
      key,
    });
    const dir = await project('apt-case', aptEntry('case', 'stable'));
    const err = await refusedLock(dir);
    expect(err).toContain('apt[vendor] "pool/main/h/hello_1.0_amd64.deb" and "pool/main/h/Hello_1.0_amd64.deb" are one name on a file system that ignores case or Unicode normalization');
  });
});
