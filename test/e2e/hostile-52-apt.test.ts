import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile, cp } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runFerry } from '../support/cli.js';
import { aptGet, buildDeb, makeGpgKey, writeSignedRelease, type GpgKey } from '../support/apt-repo.js';
import { startVendorLab, stopVendorLab, type VendorLab } from '../support/apt-vendor.js';

let lab: VendorLab;
let key: GpgKey;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const env = () => ({ FERRY_CACHE_DIR: path.join(lab.work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

interface Deb { name: string; version: string; fields?: Record<string, string>; file: string }

/** `<upstream>/<root>` suite stable main/amd64: each deb built and listed in this order (duplicates kept), signed. */
async function repo(root: string, debs: Deb[], at?: { date: Date; signedAt: Date }): Promise<void> {
  const top = path.join(lab.work, 'public', root);
  const stanzas: string[] = [];
  let n = 0;
  for (const d of debs) {
    const built = await buildDeb(path.join(lab.work, 'build', root, String(n++)), d.name, d.version, { Architecture: 'amd64', ...d.fields });
    await mkdir(path.dirname(path.join(top, d.file)), { recursive: true });
    await cp(built, path.join(top, d.file));
    const bytes = await readFile(built);
    const control = (await mustRun('dpkg-deb', ['-f', built])).stdout.trimEnd();
    stanzas.push(`${control}\nFilename: ${d.file}\nSize: ${bytes.length}\nSHA256: ${sha256(bytes)}`);
  }
  const dist = path.join(top, 'dists/stable');
  await mkdir(path.join(dist, 'main/binary-amd64'), { recursive: true });
  const packages = Buffer.from(stanzas.join('\n\n') + '\n');
  await writeFile(path.join(dist, 'main/binary-amd64/Packages'), packages);
  await writeSignedRelease(dist, key, ['Origin: vendor', 'Suite: stable', 'Codename: stable', 'Components: main', 'Architectures: amd64', `Date: ${(at?.date ?? new Date(Date.now() - 3600_000)).toUTCString()}`], [{ path: 'main/binary-amd64/Packages', bytes: packages }]);
  if (!at) return;
  // Signed again by gpg with its clock set to `signedAt` (a vendor whose clock runs ahead).
  const faked = at.signedAt.toISOString().replace(/[-:]/g, '').slice(0, 15);
  await mustRun('gpg', ['--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', '--faked-system-time', faked, '--local-user', key.fingerprint, '--clearsign', '--output', path.join(dist, 'InRelease'), path.join(dist, 'Release')], { env: { GNUPGHOME: key.home } });
}

async function project(root: string, packages?: string[]): Promise<string> {
  const dir = path.join(lab.work, `proj-${root}-${packages ? 'filtered' : 'whole'}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'vendor.asc'), await readFile(key.publicKey));
  await writeFile(
    path.join(dir, 'manifest.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${root} }`, 'apt:', `  - name: ${root}`, `    url: ${lab.upstream.url}/${root}`, '    suites: [stable]', '    components: [main]', '    architectures: [amd64]', '    keys: [vendor.asc]', ...(packages ? [`    packages: [${packages.join(', ')}]`] : []), ''].join('\n'),
  );
  return dir;
}

async function apt(root: string, args: string[]) {
  const client = path.join(lab.work, `client-${root}`);
  // apt's default (this host's apt.conf.d may turn it off): a Release dated ahead of the clock is refused.
  const opts = ['-o', `Dir::State::status=${path.join(client, 'status')}`, '-o', 'APT::Architecture=amd64', '-o', 'APT::Architectures::=amd64', '-o', 'Acquire::Check-Date=true'];
  await mkdir(client, { recursive: true });
  await writeFile(path.join(client, 'status'), '');
  const line = `deb [signed-by=${key.publicKey}] ${lab.upstream.url}/${root} stable main`;
  const up = await aptGet(client, line, [...opts, 'update']);
  expect(up.code, up.stdout + up.stderr).toBe(0);
  return aptGet(client, line, [...opts, ...args]);
}

beforeAll(async () => {
  lab = await startVendorLab('ferry-e2e-hostile52-apt-');
  key = await makeGpgKey(lab.work, 'vendor52');
}, 120_000);

afterAll(async () => {
  await stopVendorLab(lab);
});

const lock = (dir: string) => runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
const uris = async (root: string, pkg: string) => [...(await apt(root, ['install', '--download-only', '--print-uris', pkg])).stdout.matchAll(/^'[^']*\/(pool\/[^']+)'/gm)].map((m) => m[1]).sort();

describe('one package version listed twice by a signed Packages index', () => {
  it('with two different .deb files: apt takes the first; a filtered lock refuses naming both, a whole mirror carries both and the index as signed', async () => {
    await repo('dupfile', [
      { name: 'hello', version: '1.0', fields: { Homepage: 'https://first.example' }, file: 'pool/a/hello_1.0_amd64.deb' },
      { name: 'hello', version: '1.0', fields: { Homepage: 'https://second.example' }, file: 'pool/b/hello_1.0_amd64.deb' },
    ]);
    expect(await uris('dupfile', 'hello')).toEqual(['pool/a/hello_1.0_amd64.deb']);

    const r = await lock(await project('dupfile', ['hello']));
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/listed twice by its index, at one version, with different contents/);
    expect(r.stderr).toMatch(/apt\[dupfile\] stable: hello 1\.0 \(amd64\) is listed as "pool\/a\/hello_1\.0_amd64\.deb" \(SHA256 [0-9a-f]{64}\) and again as "pool\/b\/hello_1\.0_amd64\.deb"/);
    expect(r.stderr).toMatch(/mirror it whole/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);

    const dir = await project('dupfile');
    const w = await lock(dir);
    expect(w.code, w.stdout + w.stderr).toBe(0);
    const suite = JSON.parse(await readFile(path.join(dir, 'dupfile.lock.json'), 'utf8')).apt[0].suites[0];
    expect(suite.packages.map((p: { filename: string }) => p.filename)).toEqual(['pool/a/hello_1.0_amd64.deb', 'pool/b/hello_1.0_amd64.deb']);
    const served = await readFile(path.join(lab.work, 'public/dupfile/dists/stable/main/binary-amd64/Packages'));
    expect(suite.indexes).toEqual([{ path: 'dists/stable/main/binary-amd64/Packages', sha256: sha256(served), size: served.length }]);
    expect(suite.generated).toBeUndefined();
  }, 240_000);

  it('with different Depends: apt takes the first stanza as the candidate; a filtered lock refuses naming both dependency lists', async () => {
    await repo('dupdep', [
      { name: 'liba', version: '1.0', file: 'pool/liba_1.0_amd64.deb' },
      { name: 'libb', version: '1.0', file: 'pool/libb_1.0_amd64.deb' },
      { name: 'hello', version: '1.0', fields: { Depends: 'liba' }, file: 'pool/a/hello_1.0_amd64.deb' },
      { name: 'hello', version: '1.0', fields: { Depends: 'libb' }, file: 'pool/b/hello_1.0_amd64.deb' },
    ]);
    expect(await uris('dupdep', 'hello')).toEqual(['pool/a/hello_1.0_amd64.deb', 'pool/liba_1.0_amd64.deb']);

    const r = await lock(await project('dupdep', ['hello']));
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/hello 1\.0 \(amd64\) is listed as "pool\/a\/hello_1\.0_amd64\.deb" \(SHA256 [0-9a-f]{64}, Depends "liba"\) and again as "pool\/b\/hello_1\.0_amd64\.deb" \(SHA256 [0-9a-f]{64}, Depends "libb"\)/);
  }, 240_000);

  it('the same bytes at two Filenames (one .deb copied): apt takes the first, and so does lock', async () => {
    await repo('dupsame', [{ name: 'hello', version: '1.0', file: 'pool/a/hello_1.0_amd64.deb' }]);
    // The second stanza: the first's, at another path holding the very same bytes.
    const top = path.join(lab.work, 'public/dupsame');
    const packages = await readFile(path.join(top, 'dists/stable/main/binary-amd64/Packages'), 'utf8');
    await mkdir(path.join(top, 'pool/b'), { recursive: true });
    await cp(path.join(top, 'pool/a/hello_1.0_amd64.deb'), path.join(top, 'pool/b/hello_1.0_amd64.deb'));
    const both = Buffer.from(`${packages.trimEnd()}\n\n${packages.trimEnd().replace('pool/a/', 'pool/b/')}\n`);
    await writeFile(path.join(top, 'dists/stable/main/binary-amd64/Packages'), both);
    await writeSignedRelease(path.join(top, 'dists/stable'), key, ['Origin: vendor', 'Suite: stable', 'Codename: stable', 'Components: main', 'Architectures: amd64'], [{ path: 'main/binary-amd64/Packages', bytes: both }]);
    expect(await uris('dupsame', 'hello')).toEqual(['pool/a/hello_1.0_amd64.deb']);

    const dir = await project('dupsame', ['hello']);
    const r = await lock(dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const suite = JSON.parse(await readFile(path.join(dir, 'dupsame.lock.json'), 'utf8')).apt[0].suites[0];
    expect(suite.packages.map((p: { filename: string }) => p.filename)).toEqual(['pool/a/hello_1.0_amd64.deb']);
  }, 240_000);
});

describe('a Release signed by a vendor whose clock runs ahead of this host', () => {
  it('30 seconds ahead: gpgv and apt accept it, and so does lock', async () => {
    await repo('skew', [{ name: 'hello', version: '1.0', file: 'pool/hello_1.0_amd64.deb' }], { date: new Date(), signedAt: new Date(Date.now() + 30_000) });
    const up = await apt('skew', ['install', '--download-only', '--print-uris', 'hello']);
    expect(up.code, up.stdout + up.stderr).toBe(0);

    const dir = await project('skew');
    const r = await lock(dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(await readFile(path.join(dir, 'skew.lock.json'), 'utf8')).apt[0].suites[0].signedBy).toBe(key.fingerprint);
  }, 240_000);

  it('two days ahead (its Date too): apt refuses it as not valid yet, lock refuses naming the signature date', async () => {
    const ahead = new Date(Date.now() + 2 * 86400_000);
    await repo('future', [{ name: 'hello', version: '1.0', file: 'pool/hello_1.0_amd64.deb' }], { date: ahead, signedAt: ahead });
    const client = path.join(lab.work, 'client-future');
    await mkdir(client, { recursive: true });
    const up = await aptGet(client, `deb [signed-by=${key.publicKey}] ${lab.upstream.url}/future stable main`, ['-o', 'APT::Architecture=amd64', '-o', 'Acquire::Check-Date=true', 'update']);
    expect(up.stdout + up.stderr).toMatch(/is not valid yet/);

    const r = await lock(await project('future'));
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/InRelease/);
    expect(r.stderr).toMatch(/the signature is dated more than 5 minutes ahead of this host's clock \(made \d{4}-\d\d-\d\dT[\d:.]+Z, 28\d\d minutes from now\)/);
  }, 240_000);
});

describe('two APT repositories whose mirror roots differ only in case', () => {
  it('lock refuses naming both entries (one directory under apt.dir on a case-insensitive target)', async () => {
    await repo('CaseRepo', [{ name: 'hello', version: '1.0', file: 'pool/hello_1.0_amd64.deb' }]);
    await repo('caserepo', [{ name: 'hello', version: '2.0', file: 'pool/hello_2.0_amd64.deb' }]);
    const dir = path.join(lab.work, 'proj-case');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'vendor.asc'), await readFile(key.publicKey));
    const entry = (name: string, root: string) => [`  - name: ${name}`, `    url: ${lab.upstream.url}/${root}`, '    suites: [stable]', '    components: [main]', '    architectures: [amd64]', '    keys: [vendor.asc]'];
    await writeFile(path.join(dir, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: case }', 'apt:', ...entry('upper', 'CaseRepo'), ...entry('lower', 'caserepo'), ''].join('\n'));
    const r = await lock(dir);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/apt\[upper\] and apt\[lower\] mirror to "[^"]*CaseRepo" and "[^"]*caserepo" under apt\.dir: one directory on a file system that ignores case/);
  }, 240_000);
});
