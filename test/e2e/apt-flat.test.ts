import { execFileSync } from 'node:child_process';
import { cp, lstat, mkdir, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPathComponent } from '../../src/mapping/index.js';
import { mustRun, runFerry } from '../support/cli.js';
import { gpgSign, makeGpgKey, type GpgKey } from '../support/apt-repo.js';
import { startFerryServe } from '../support/static-http.js';
import { aptInstall, siteTargetYaml, startVendorLab, stopVendorLab, vendorDeb, type VendorLab } from '../support/apt-vendor.js';

/**
 * Flat APT repositories (`deb URL ./`, `deb URL /`, `deb URL binary/`: Release and Packages in one
 * directory, no dists/), as NVIDIA's CUDA repository, openSUSE Build Service and Jenkins publish
 * them: built with dpkg-scanpackages and apt-ftparchive, signed with gpg, served by nginx on
 * loopback; `ferry lock`, `bundle create`, `import` into a directory target, `rewrite apt-sources`
 * of the vendor's own sources line, then the real apt-get (signature checking on) installs from
 * the mirror through the rewritten line.
 */

let lab: VendorLab;
const env = () => ({ FERRY_CACHE_DIR: path.join(lab.work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

interface Deb {
  name: string;
  version: string;
  arch: string;
  fields?: Record<string, string>;
  /** Its directory under the repository root: the flat directory by default. */
  at?: string;
}

/**
 * A flat repository under `public/<root>`: each .deb at `<root>/<at>/<name>_<version>_<arch>.deb`
 * (`at`: the flat directory unless the deb says), `Packages` (+ .gz) from `dpkg-scanpackages
 * <scan>` run in `<root>` (Filename relative to the root: `./x.deb` for `.`, `binary/x.deb` for
 * `binary`), put in `<root>/<dir>` with the Release apt-ftparchive writes there, clear-signed
 * (InRelease) and detach-signed (Release.gpg).
 */
async function publishFlat(root: string, dir: string, debs: Deb[], key: GpgKey, opts: { scan?: string; packagesText?: (text: string) => string } = {}): Promise<string> {
  const at = path.join(lab.work, 'public', root);
  const flat = path.join(at, dir);
  await mkdir(flat, { recursive: true });
  for (const d of debs) {
    const built = await vendorDeb(path.join(lab.work, 'debs', root), d.name, d.version, d.arch, d.fields);
    await mkdir(path.join(at, d.at ?? dir), { recursive: true });
    await cp(built, path.join(at, d.at ?? dir, `${d.name}_${d.version}_${d.arch}.deb`));
  }
  const scanned = execFileSync('dpkg-scanpackages', ['--multiversion', opts.scan ?? (dir === '' ? '.' : dir), '/dev/null'], { cwd: at, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const packagesText = opts.packagesText;
  const text = packagesText ? packagesText(scanned) : scanned;
  for (const f of ['Packages', 'Packages.gz', 'Release', 'InRelease', 'Release.gpg']) await rm(path.join(flat, f), { force: true });
  await writeFile(path.join(flat, 'Packages'), text);
  execFileSync('gzip', ['-9k', path.join(flat, 'Packages')]);
  const release = execFileSync('apt-ftparchive', ['-o', `APT::FTPArchive::Release::Origin=${root}`, '-o', `APT::FTPArchive::Release::Label=${root}`, 'release', '.'], { cwd: flat });
  await writeFile(path.join(flat, 'Release'), release);
  await gpgSign(key, path.join(flat, 'Release'), 'clearsign', path.join(flat, 'InRelease'));
  await gpgSign(key, path.join(flat, 'Release'), 'armor-detach', path.join(flat, 'Release.gpg'));
  return text;
}

async function project(name: string, apt: string[], key: GpgKey): Promise<string> {
  const dir = path.join(lab.work, name);
  await mkdir(dir, { recursive: true });
  await cp(key.publicKey, path.join(dir, 'vendor.asc'));
  await cp(lab.site.secretKey, path.join(dir, 'site.secret.asc'));
  await writeFile(path.join(dir, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${name} }`, 'apt:', ...apt, '    keys: [vendor.asc]', ''].join('\n'));
  await writeFile(path.join(dir, 'target.yaml'), siteTargetYaml(lab));
  return dir;
}

async function ferryOk(dir: string, args: string[]): Promise<string> {
  const r = await runFerry(args, { cwd: dir, env: env() });
  expect(r.code, `ferry ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
  return r.stdout + r.stderr;
}

/** lock, bundle create, import: what lock said and the lock file. */
async function carry(dir: string, name: string): Promise<{ lockOut: string; lock: { apt: Array<{ components: string[]; suites: Array<{ suite: string; packages: Array<{ name: string; architecture: string; filename: string }> }> }> } }> {
  const lockOut = await ferryOk(dir, ['lock', 'manifest.yaml']);
  await ferryOk(dir, ['bundle', 'create', 'manifest.yaml', '-o', 'b.tar', '--frozen']);
  await ferryOk(dir, ['import', 'b.tar', '-t', 'target.yaml']);
  return { lockOut, lock: JSON.parse(await readFile(path.join(dir, `${name}.lock.json`), 'utf8')) };
}

/** `rewrite apt-sources` of one sources file (its name says the form) in `etc`, with the site keyring for re-signed mirrors. */
async function rewritten(dir: string, name: string, text: string): Promise<string> {
  const etc = path.join(dir, 'etc-apt', 'sources.list.d');
  await mkdir(etc, { recursive: true });
  await writeFile(path.join(etc, name), text);
  await ferryOk(dir, ['rewrite', 'apt-sources', path.join(etc, name), '-t', 'target.yaml', '--lock', `${path.basename(dir)}.lock.json`, '--signed-by', path.join(lab.mirrorDir, 'ferry-archive-keyring.asc')]);
  return readFile(path.join(etc, name), 'utf8');
}

beforeAll(async () => {
  lab = await startVendorLab('ferry-apt-flat-');
}, 60_000);

afterAll(() => stopVendorLab(lab));

describe('flat APT repositories', () => {
  it("NVIDIA CUDA's form (`deb URL/x86_64/ /`, Filename: ./x.deb), whole: the vendor's signed Release and Packages carried byte for byte, the directory published whole, apt installs through the rewritten line with the vendor key", async () => {
    const key = await makeGpgKey(lab.work, 'nvidia');
    const root = 'compute/cuda/repos/debian12/x86_64';
    const packages = await publishFlat(root, '', [
      { name: 'cuda-runtime', version: '12.4.1-1', arch: 'amd64', fields: { Depends: 'cuda-libraries (>= 12.4)' } },
      { name: 'cuda-libraries', version: '12.4.1-1', arch: 'amd64' },
      { name: 'cuda-docs', version: '12.4.1-1', arch: 'all' },
    ], key);
    expect(packages).toMatch(/^Filename: \.\/cuda-runtime_12\.4\.1-1_amd64\.deb$/m);
    const url = `${lab.upstream.url}/${root}/`;
    const dir = await project('cuda', ['  - name: cuda', `    url: ${url}`, '    suites: ["/"]'], key);
    const { lock } = await carry(dir, 'cuda');
    expect(lock.apt[0].components).toEqual([]);
    expect(lock.apt[0].suites[0].packages.map((p) => p.filename).sort()).toEqual(['cuda-docs_12.4.1-1_all.deb', 'cuda-libraries_12.4.1-1_amd64.deb', 'cuda-runtime_12.4.1-1_amd64.deb']);

    // The mirror: the vendor's files byte for byte, the directory a symlink to one complete version.
    const mirrored = path.join(lab.mirrorDir, hostPathComponent(new URL(url).host), root);
    expect((await lstat(mirrored)).isSymbolicLink()).toBe(true);
    expect(await readlink(mirrored)).toMatch(/^\.x86_64\.ferry\/[0-9a-f]{16}$/);
    const upstreamDir = path.join(lab.work, 'public', root);
    for (const f of ['InRelease', 'Release', 'Release.gpg', 'Packages', 'Packages.gz', 'cuda-runtime_12.4.1-1_amd64.deb']) {
      expect(await readFile(path.join(mirrored, f)), f).toEqual(await readFile(path.join(upstreamDir, f)));
    }

    // The vendor's own line, rewritten to the mirror (still flat, still the vendor key: the vendor's signature is kept).
    const line = `deb [signed-by=${path.join(dir, 'vendor.asc')}] ${url} /\n`;
    const after = await rewritten(dir, 'cuda.list', line);
    expect(after).toBe(`deb [signed-by=${path.join(dir, 'vendor.asc')}] ${lab.mirror.url}/${hostPathComponent(new URL(url).host)}/${root}/ /\n`);
    const out = await aptInstall(path.join(lab.work, 'clients', 'cuda'), after, ['cuda-runtime']);
    expect(out).toMatch(/cuda-libraries/);

    // audit: the rewritten line is APT and on the mirror; nothing goes upstream.
    const audit = await runFerry(['audit', path.join(dir, 'etc-apt'), '--manifest', 'manifest.yaml', '-t', 'target.yaml', '--json'], { cwd: dir, env: env() });
    expect([0, 5], audit.stderr).toContain(audit.code);
    const findings = (JSON.parse(audit.stdout) as { findings: Array<{ value: string; class: string }> }).findings;
    expect(findings.filter((f) => f.value.startsWith(lab.upstream.url))).toEqual([]);

    // The vendor publishes a new version: the next import switches the whole directory; the old version stays for one switch.
    await publishFlat(root, '', [{ name: 'cuda-runtime', version: '12.4.2-1', arch: 'amd64', fields: { Depends: 'cuda-libraries (>= 12.4)' } }], key);
    await rm(path.join(dir, 'cuda.lock.json'));
    await carry(dir, 'cuda');
    expect(await readFile(path.join(mirrored, 'InRelease'))).toEqual(await readFile(path.join(upstreamDir, 'InRelease')));
    expect((await readdir(path.join(path.dirname(mirrored), '.x86_64.ferry'))).length).toBe(2);
    const again = await aptInstall(path.join(lab.work, 'clients', 'cuda-2'), after, ['cuda-runtime=12.4.2-1']);
    expect(again).toMatch(/cuda-runtime/);
  }, 180_000);

  it("Jenkins' form (`deb URL binary/`: the index in binary/, packages at the URL's root and in binary/), filtered to one package for amd64 from an index that mixes architectures: re-signed with the site key, the deb822 stanza rewritten, apt installs", async () => {
    const key = await makeGpgKey(lab.work, 'jenkins');
    await publishFlat('jenkins', 'binary', [
      { name: 'agent', version: '2.1', arch: 'amd64', fields: { Depends: 'libagent (>= 1.0)' }, at: '' },
      { name: 'agent', version: '2.1', arch: 'arm64', fields: { Depends: 'libagent (>= 1.0)' }, at: '' },
      { name: 'libagent', version: '1.2', arch: 'amd64' },
      { name: 'libagent', version: '1.2', arch: 'arm64' },
      { name: 'unrelated', version: '1.0', arch: 'amd64' },
    ], key, { scan: '.' });
    const url = `${lab.upstream.url}/jenkins`;
    const dir = await project('jenkins', ['  - name: jenkins', `    url: ${url}`, '    suites: [binary/]', '    architectures: [amd64]', '    packages: [agent]'], key);
    const { lock } = await carry(dir, 'jenkins');
    // The closure by each stanza's Architecture: amd64 only, and not the package nobody asked for.
    expect(lock.apt[0].suites[0].packages.map((p) => `${p.name} ${p.architecture} ${p.filename}`)).toEqual(['agent amd64 agent_2.1_amd64.deb', 'libagent amd64 binary/libagent_1.2_amd64.deb']);

    // binary/ is published whole (its own package in each version); the package at the root lies beside it, in the shared pool.
    const mirrored = path.join(lab.mirrorDir, hostPathComponent(new URL(url).host), 'jenkins');
    expect((await lstat(path.join(mirrored, 'binary'))).isSymbolicLink()).toBe(true);
    expect((await lstat(path.join(mirrored, 'agent_2.1_amd64.deb'))).isFile()).toBe(true);
    expect((await lstat(path.join(mirrored, '.binary.ferry', await readlink(path.join(mirrored, 'binary')).then((l) => path.basename(l)), 'libagent_1.2_amd64.deb'))).isFile()).toBe(true);
    const index = await readFile(path.join(mirrored, 'binary/Packages'), 'utf8');
    expect(index.match(/^Package: .*$/gm)).toEqual(['Package: agent', 'Package: libagent']);
    expect(index).toMatch(/^Filename: \.\/agent_2\.1_amd64\.deb$/m);
    // Signed with the site key: gpgv with the site's public key accepts it.
    const keyring = path.join(lab.work, 'site.gpg');
    await mustRun('gpg', ['--batch', '--yes', '--dearmor', '-o', keyring, path.join(lab.mirrorDir, 'ferry-archive-keyring.asc')]);
    await mustRun('gpgv', ['--keyring', keyring, path.join(mirrored, 'binary/InRelease')]);

    const stanza = `Types: deb\nURIs: ${url}\nSuites: binary/\nSigned-By: ${path.join(dir, 'vendor.asc')}\n`;
    const after = await rewritten(dir, 'jenkins.sources', stanza);
    expect(after).toBe(`Types: deb\nURIs: ${lab.mirror.url}/${hostPathComponent(new URL(url).host)}/jenkins\nSuites: binary/\nSigned-By: ${path.join(lab.mirrorDir, 'ferry-archive-keyring.asc')}\n`);
    const out = await aptInstall(path.join(lab.work, 'clients', 'jenkins'), '', ['agent'], 'amd64', { 'jenkins.sources': after });
    expect(out).toMatch(/libagent/);
  }, 180_000);

  it('ferry serve answers a flat repository from the bundle as import writes it: apt installs from the whole CUDA-style one (vendor key) and the filtered Jenkins-style one (site key)', async () => {
    const host = hostPathComponent(new URL(lab.upstream.url).host);
    const cases = [
      { dir: 'cuda', line: (u: string) => `deb [signed-by=${path.join(lab.work, 'cuda', 'vendor.asc')}] ${u}/apt/${host}/compute/cuda/repos/debian12/x86_64/ /`, pkg: 'cuda-runtime', dep: /cuda-libraries/ },
      { dir: 'jenkins', line: (u: string) => `deb [signed-by=${path.join(lab.work, 'serve-site.asc')}] ${u}/apt/${host}/jenkins binary/`, pkg: 'agent', dep: /libagent/ },
    ];
    for (const c of cases) {
      const serve = await startFerryServe(['b.tar', '--target', 'target.yaml'], { cwd: path.join(lab.work, c.dir) });
      try {
        const key = await fetch(`${serve.url}/apt/ferry-archive-keyring.asc`);
        if (key.ok) await writeFile(path.join(lab.work, 'serve-site.asc'), Buffer.from(await key.arrayBuffer()));
        const out = await aptInstall(path.join(lab.work, 'clients', `serve-${c.dir}`), c.line(serve.url), [c.pkg]);
        expect(out).toMatch(c.dep);
      } finally {
        await serve.stop();
      }
    }
  }, 120_000);

  it('a flat line naming another directory than the one carried is not pointed at the mirror (apt would find no Release there)', async () => {
    const dir = path.join(lab.work, 'jenkins');
    const etc = path.join(dir, 'etc-apt', 'sources.list.d');
    await writeFile(path.join(etc, 'other.list'), `deb ${lab.upstream.url}/jenkins debian/\n`);
    const r = await runFerry(['rewrite', 'apt-sources', path.join(etc, 'other.list'), '-t', 'target.yaml', '--lock', 'jenkins.lock.json'], { cwd: dir, env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/debian\/ \(carried: binary\/\)/);
    expect(await readFile(path.join(etc, 'other.list'), 'utf8')).toBe(`deb ${lab.upstream.url}/jenkins debian/\n`);
  }, 60_000);

  it('a flat directory the repository does not have is named as such (its Release missing), not as a dists/ suite', async () => {
    const key = await makeGpgKey(lab.work, 'missing');
    // A flat repository at the URL's root (its InRelease there), asked for a directory it lacks.
    await publishFlat('missing', '', [{ name: 'app', version: '1.0', arch: 'amd64' }], key);
    const url = `${lab.upstream.url}/missing/`;
    const dir = await project('missing', ['  - name: cuda', `    url: ${url}`, '    suites: [sbsa/]'], key);
    const lock = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
    expect(lock.code).not.toBe(0);
    expect(lock.stderr).toContain(`${url}sbsa has no InRelease or Release`);
    expect(lock.stderr).toContain("a flat repository's directory");
    expect(lock.stderr).not.toMatch(/dists\//);
  }, 60_000);

  it('a signed flat index naming a package path outside the repository, absolute, with a backslash, or over the directory\'s own metadata is refused at lock, naming the path', async () => {
    const key = await makeGpgKey(lab.work, 'crafted');
    for (const bad of ['../escape.deb', '/etc/escape.deb', 'sub\\escape.deb', 'InRelease', 'by-hash/SHA256/0000', 'Packages.gz', '.flat.ferry/x.deb']) {
      const root = `crafted-${bad.length}-${bad.replace(/[^a-z]/gi, '').toLowerCase()}`;
      await publishFlat(root, '', [{ name: 'app', version: '1.0', arch: 'amd64' }], key, { packagesText: (t) => t.replace(/^Filename: .*$/m, `Filename: ${bad}`) });
      const dir = await project(root, ['  - name: crafted', `    url: ${lab.upstream.url}/${root}`, '    suites: ["./"]'], key);
      const lock = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
      expect(lock.code, bad).not.toBe(0);
      expect(lock.stderr, bad).toContain(`refusing package path ${JSON.stringify(bad)}`);
    }
  }, 120_000);
});
