import { execFileSync } from 'node:child_process';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runFerry } from '../support/cli.js';
import { aptGet, makeGpgKey, type GpgKey } from '../support/apt-repo.js';
import { addSigningSubkey, exportPublic, publishVendor, siteTargetYaml, startVendorLab, stopVendorLab, vendorDeb, type VendorLab } from '../support/apt-vendor.js';

/**
 * A platform engineer's APT job, day 1 and day 2, as the README tells it: three vendor
 * repositories recreated on loopback (nginx) — Docker CE's layout (`dists/bookworm/pool/…`, epoch
 * versions, mirrored filtered), Kubernetes' flat OBS repository (`…/core:/stable:/v1.30/deb/ /`,
 * signed by a subkey, mirrored whole) and a vendor in the middle of a key rotation (InRelease
 * signed by its old and new keys, mirrored whole) — locked, bundled, imported, the hosts' deb822
 * and one-line sources rewritten, and the real apt-get (signature checking on) installs from the
 * mirror. Day 2: the vendors publish new versions and the rotating one drops its old key; the
 * re-lock names what moved in the whole mirrors too and the new signing key their clients need,
 * a differential bundle is imported, and apt-get upgrade takes the new versions.
 */

let lab: VendorLab;
let docker: GpgKey;
let k8s: GpgKey;
let k8sSub: string;
let rot: GpgKey;
let rotNew: GpgKey;
const env = () => ({ FERRY_CACHE_DIR: path.join(lab.work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });
const proj = () => path.join(lab.work, 'proj');
const client = () => path.join(lab.work, 'client');
const K8S_DIR = 'core:/stable:/v1.30/deb';

async function ferryOk(args: string[]): Promise<string> {
  const r = await runFerry(args, { cwd: proj(), env: env() });
  expect(r.code, `ferry ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
  return r.stdout + r.stderr;
}

/** The vendors' repositories as of `day`; every .deb of an earlier day stays byte for byte. */
async function publish(day: 1 | 2): Promise<void> {
  const pub = path.join(lab.work, 'public');
  const debs = path.join(lab.work, `debs-${day}`);
  const dv = day === 1 ? '27.0.1' : '27.1.0';
  const kv = day === 1 ? '1.30.0' : '1.30.1';
  // Docker CE: packages under dists/<codename>/pool, epoch versions, the file names without the epoch.
  if (day === 2) {
    await mkdir(path.join(debs, 'amd64'), { recursive: true });
    await cp(path.join(lab.work, 'debs-1', 'amd64', 'containerd.io_1.7.18-1_all.deb'), path.join(debs, 'amd64', 'containerd.io_1.7.18-1_all.deb'));
  } else await vendorDeb(debs, 'containerd.io', '1.7.18-1', 'amd64');
  await vendorDeb(debs, 'docker-ce-cli', `5:${dv}-1~debian.12~bookworm`, 'amd64');
  await vendorDeb(debs, 'docker-ce', `5:${dv}-1~debian.12~bookworm`, 'amd64', { Depends: 'containerd.io (>= 1.6.24), docker-ce-cli' });
  const pool = 'dists/bookworm/pool/stable/amd64';
  await publishVendor(pub, debs, {
    root: 'linux/debian',
    suite: 'bookworm',
    fields: ['Origin: Docker', 'Label: Docker', 'Suite: bookworm', 'Codename: bookworm', 'Architectures: amd64 arm64', 'Components: stable', `Date: ${new Date(Date.now() - 86400_000).toUTCString()}`],
    indexes: [
      {
        comp: 'stable',
        arch: 'amd64',
        debs: {
          'containerd.io': `${pool}/containerd.io_1.7.18-1_amd64.deb`,
          'docker-ce-cli': `${pool}/docker-ce-cli_${dv}-1~debian.12~bookworm_amd64.deb`,
          'docker-ce': `${pool}/docker-ce_${dv}-1~debian.12~bookworm_amd64.deb`,
        },
      },
    ],
    compress: ['', '.gz'],
    key: docker,
  });
  // Kubernetes (OBS): one flat directory, `Filename: amd64/x.deb`, every version kept, signed by a subkey.
  const flat = path.join(pub, K8S_DIR);
  await mkdir(path.join(flat, 'amd64'), { recursive: true });
  const k8sDebs: Array<[string, string, Record<string, string>]> = [
    ['cri-tools', '1.30.0-1.1', {}],
    ['kubelet', `${kv}-1.1`, { Depends: 'cri-tools (>= 1.28.0)' }],
    ['kubeadm', `${kv}-1.1`, { Depends: 'cri-tools (>= 1.28.0), kubelet (>= 1.19.0)' }],
  ];
  for (const [name, version, fields] of k8sDebs) {
    const target = path.join(flat, 'amd64', `${name}_${version}_amd64.deb`);
    if (day === 2 && name === 'cri-tools') continue;
    await cp(await vendorDeb(debs, name, version, 'amd64', fields), target);
  }
  await writeFile(path.join(flat, 'Packages'), execFileSync('dpkg-scanpackages', ['--multiversion', 'amd64', '/dev/null'], { cwd: flat, stdio: ['ignore', 'pipe', 'ignore'] }));
  execFileSync('gzip', ['-9kf', path.join(flat, 'Packages')]);
  const release = execFileSync('apt-ftparchive', ['-o', 'APT::FTPArchive::Release::Origin=obs://build.opensuse.org/isv:kubernetes:core:stable:v1.30/deb', '-o', 'APT::FTPArchive::Release::Label=isv:kubernetes:core:stable:v1.30', '-o', 'APT::FTPArchive::Release::Architectures=amd64 arm64', 'release', '.'], { cwd: flat });
  await writeFile(path.join(flat, 'Release'), release);
  await mustRun('gpg', ['--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', '--local-user', `${k8sSub}!`, '--clearsign', '--output', path.join(flat, 'InRelease'), path.join(flat, 'Release')], { env: { GNUPGHOME: k8s.home } });
  // A vendor rotating its key: day 1 signed by the old and the new key, day 2 by the new one alone.
  await vendorDeb(debs, 'rtool', day === 1 ? '1.0' : '1.1', 'all');
  await publishVendor(pub, debs, {
    root: 'rot',
    suite: 'stable',
    fields: ['Origin: Rot', 'Suite: stable', 'Codename: stable', 'Architectures: amd64', 'Components: main', `Date: ${new Date(Date.now() - 86400_000).toUTCString()}`],
    indexes: [{ comp: 'main', arch: 'amd64', debs: { rtool: `pool/main/r/rtool_${day === 1 ? '1.0' : '1.1'}_all.deb` } }],
    compress: ['', '.gz'],
    key: rot,
    signer: day === 1 ? [rot.fingerprint, rotNew.fingerprint] : rotNew.fingerprint,
  });
}

/** apt-get with the client's own status file and amd64 only. */
async function clientApt(args: string[]): Promise<string> {
  const opts = ['-o', `Dir::State::status=${path.join(client(), 'status')}`, '-o', 'APT::Architecture=amd64', '-o', 'APT::Architectures::=amd64'];
  const r = await aptGet(client(), '', [...opts, ...args]);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r.stdout + r.stderr;
}

beforeAll(async () => {
  lab = await startVendorLab('ferry-newuser52-');
  docker = await makeGpgKey(lab.work, 'docker');
  k8s = await makeGpgKey(lab.work, 'k8s');
  k8sSub = await addSigningSubkey(k8s);
  rot = await makeGpgKey(lab.work, 'rot-old');
  rotNew = await makeGpgKey(lab.work, 'rot-new');
  // One signing home holds both of the rotating vendor's keys (it signs with both on day 1).
  await mustRun('gpg', ['--batch', '--import', rotNew.secretKey], { env: { GNUPGHOME: rot.home } });
  await publish(1);
  await mkdir(path.join(proj(), 'keys'), { recursive: true });
  await cp(docker.publicKey, path.join(proj(), 'keys/docker.asc'));
  // Kubernetes' instructions dearmor Release.key into a binary keyring; the subkey is in it.
  await writeFile(path.join(proj(), 'keys/kubernetes-apt-keyring.gpg'), execFileSync('gpg', ['--batch', '--export', k8s.fingerprint], { env: { ...process.env, GNUPGHOME: k8s.home } }));
  await cp(rot.publicKey, path.join(proj(), 'keys/rot.asc'));
  await cp(lab.site.secretKey, path.join(proj(), 'site.secret.asc'));
  const up = lab.upstream.url;
  await writeFile(
    path.join(proj(), 'manifest.yaml'),
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: hosts }',
      'apt:',
      '  - name: docker',
      `    url: ${up}/linux/debian`,
      '    suites: [bookworm]',
      '    components: [stable]',
      '    architectures: [amd64]',
      '    packages: [docker-ce]',
      '    keys: [keys/docker.asc]',
      '  - name: kubernetes',
      `    url: ${up}/${K8S_DIR}/`,
      '    suites: ["/"]',
      '    architectures: [amd64]',
      '    keys: [keys/kubernetes-apt-keyring.gpg]',
      '  - name: rot',
      `    url: ${up}/rot`,
      '    suites: [stable]',
      '    components: [main]',
      '    architectures: [amd64]',
      '    keys: [keys/rot.asc]',
      '',
    ].join('\n'),
  );
  await writeFile(path.join(proj(), 'target.yaml'), siteTargetYaml(lab));
}, 120_000);

afterAll(() => stopVendorLab(lab));

describe('newuser52: vendor APT repositories, day 1 and day 2', () => {
  it('installs from the mirror through the rewritten deb822 and one-line sources; day 2 names the whole mirrors’ new versions and signing key, and apt-get upgrade takes them', async () => {
    // Day 1.
    await ferryOk(['lock', 'manifest.yaml']);
    await ferryOk(['bundle', 'create', 'manifest.yaml', '-o', 'hosts-1.ferry.tar']);
    await ferryOk(['bundle', 'verify', 'hosts-1.ferry.tar']);
    await ferryOk(['import', 'hosts-1.ferry.tar', '-t', 'target.yaml']);

    // The host as the vendors' install docs leave it (keyrings under the client root).
    const keyrings = path.join(client(), 'etc/apt/keyrings');
    const parts = path.join(client(), 'etc/apt/sources.list.d');
    await mkdir(keyrings, { recursive: true });
    await mkdir(parts, { recursive: true });
    await cp(path.join(proj(), 'keys/docker.asc'), path.join(keyrings, 'docker.asc'));
    await cp(path.join(proj(), 'keys/kubernetes-apt-keyring.gpg'), path.join(keyrings, 'kubernetes-apt-keyring.gpg'));
    await cp(rot.publicKey, path.join(keyrings, 'rot.asc'));
    const up = lab.upstream.url;
    await writeFile(path.join(parts, 'docker.sources'), `Types: deb\nURIs: ${up}/linux/debian\nSuites: bookworm\nComponents: stable\nArchitectures: amd64\nSigned-By: ${keyrings}/docker.asc\n`);
    await writeFile(path.join(parts, 'kubernetes.list'), `deb [signed-by=${keyrings}/kubernetes-apt-keyring.gpg] ${up}/${K8S_DIR}/ /\n`);
    await writeFile(path.join(parts, 'rot.list'), `deb [arch=amd64 signed-by=${keyrings}/rot.asc] ${up}/rot stable main\n`);
    const files = ['docker.sources', 'kubernetes.list', 'rot.list'].map((f) => path.join(parts, f));
    await ferryOk(['rewrite', 'apt-sources', ...files, '-t', 'target.yaml', '--lock', 'hosts.lock.json', '--signed-by', path.join(keyrings, 'ferry-archive-keyring.asc')]);
    expect(await readFile(path.join(parts, 'docker.sources'), 'utf8')).toContain(`Signed-By: ${keyrings}/ferry-archive-keyring.asc`);
    expect(await readFile(path.join(parts, 'kubernetes.list'), 'utf8')).toMatch(new RegExp(`signed-by=${keyrings}/kubernetes-apt-keyring\\.gpg\\] ${lab.mirror.url}/\\S+/deb/ /$`, 'm'));
    await cp(path.join(lab.mirrorDir, 'ferry-archive-keyring.asc'), path.join(keyrings, 'ferry-archive-keyring.asc'));

    await writeFile(path.join(client(), 'status'), '');
    const update1 = await clientApt(['update']);
    expect(update1).not.toMatch(/^(W|E):/m);
    const install1 = await clientApt(['install', '--download-only', 'docker-ce', 'kubeadm', 'rtool']);
    expect(install1).toMatch(/docker-ce amd64 5:27\.0\.1-1~debian\.12~bookworm/);
    expect(install1).toMatch(/kubeadm 1\.30\.0-1\.1/);
    // What day 1 installed, as dpkg would record it.
    const archives = path.join(client(), 'var/cache/apt/archives');
    const installed = (await readdir(archives)).filter((f) => f.endsWith('.deb'));
    expect(installed).toHaveLength(7);
    const status = installed.map((f) => `${execFileSync('dpkg-deb', ['-f', path.join(archives, f)]).toString().trimEnd()}\nStatus: install ok installed\n`);
    await writeFile(path.join(client(), 'status'), status.join('\n'));

    // Day 2: new versions everywhere, and the rotating vendor signs with its new key only.
    await publish(2);
    const refused = await runFerry(['lock', 'manifest.yaml'], { cwd: proj(), env: env() });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`signed by key ${rotNew.fingerprint.slice(-16)}, which is not in keys/rot.asc`);
    // The README's fix: the vendor's current key over the old file, then lock again.
    await exportPublic(rotNew, path.join(proj(), 'keys/rot.asc'));
    const relock = await ferryOk(['lock', 'manifest.yaml']);
    expect(relock).toMatch(/~ apt docker bookworm: .*docker-ce 5:27\.0\.1-1~debian\.12~bookworm → 5:27\.1\.0-1~debian\.12~bookworm/);
    // A whole mirror names what the vendor added (both versions stay on the mirror).
    expect(relock).toMatch(/~ apt kubernetes \/: 3 packages \(.*\) → 5 packages \(.*\): kubeadm \+1\.30\.1-1\.1, kubelet \+1\.30\.1-1\.1\n/);
    // ... and the new signing key, which the clients of a whole mirror must be given.
    expect(relock).toContain(`~ apt rot stable: 1 package (`);
    expect(relock).toContain(`rtool 1.0 → 1.1; now signed by key ${rotNew.fingerprint} (was ${rot.fingerprint})`);
    expect(relock).toMatch(/install the vendor's new key \(the keys: file\) in the signed-by keyring of every client/);

    await ferryOk(['bundle', 'create', 'manifest.yaml', '-o', 'hosts-2.ferry.tar', '--since', 'hosts-1.ferry.tar']);
    await ferryOk(['bundle', 'verify', 'hosts-2.ferry.tar', '--base', 'hosts-1.ferry.tar']);
    await ferryOk(['import', 'hosts-2.ferry.tar', '-t', 'target.yaml']);

    // The client with last month's rot key: apt refuses the re-signed vendor Release, as the lock said.
    const stale = await aptGet(client(), '', ['-o', `Dir::State::status=${path.join(client(), 'status')}`, '-o', 'APT::Architectures::=amd64', 'update']);
    expect(stale.stdout + stale.stderr).toContain(`NO_PUBKEY ${rotNew.fingerprint.slice(-16)}`);
    await exportPublic(rotNew, path.join(keyrings, 'rot.asc'));
    const update2 = await clientApt(['update']);
    expect(update2).not.toMatch(/^(W|E):/m);
    const upgrade = await clientApt(['upgrade', '--with-new-pkgs', '--download-only']);
    expect(upgrade).toMatch(/^5 upgraded, 0 newly installed/m);
    expect(upgrade).toMatch(/docker-ce amd64 5:27\.1\.0-1~debian\.12~bookworm/);
    expect(upgrade).toMatch(/kubeadm 1\.30\.1-1\.1/);
    expect(upgrade).toMatch(/rtool all 1\.1/);
  }, 240_000);
});
