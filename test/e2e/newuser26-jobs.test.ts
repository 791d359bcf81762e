import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustRun, runFerry } from '../support/cli.js';
import { aptGet, makeGpgKey, type GpgKey } from '../support/apt-repo.js';
import { exportPublic, publishVendor, siteTargetYaml, startVendorLab, stopVendorLab, vendorDeb, type VendorLab, type VendorRepo } from '../support/apt-vendor.js';

/**
 * An Ubuntu fleet's APT mirror (new-user round 26): 200 Ubuntu 24.04 (noble) hosts, amd64 and
 * arm64, behind the air gap. The engineer knew `apt-mirror`, `aptly mirror` and Landscape and
 * worked from the README. Ubuntu's layout, recreated signed on loopback (nginx, gpg): amd64 from
 * `archive.ubuntu.com/ubuntu` (noble, noble-updates) and `security.ubuntu.com/ubuntu`
 * (noble-security), arm64 from `ports.ubuntu.com/ubuntu-ports` (all three pockets);
 * main/restricted/universe; `Packages.xz` only; `Phased-Update-Percentage:` on an -updates
 * package; Translation, dep11 and cnf files listed in the Release; `Architectures: amd64 i386` on
 * the archive. A filtered set (a package list and its dependencies, the newest version across the
 * pockets) for both architectures; a week later a differential bundle onto the same mirror; the
 * hosts' stock deb822 `/etc/apt/sources.list.d/ubuntu.sources` rewritten; the real apt-get in an
 * isolated root as the judge.
 *
 * What tripped:
 * - The stock sources split one release over two hosts (noble-security from security.ubuntu.com),
 *   so the manifest has an entry per host with the same package list. `ferry lock` refused it:
 *   `ubuntu-security noble-security: app is not in …security/ubuntu` — -security carries only
 *   what got a security fix. A listed package is now missing only when no suite of its release
 *   (noble, noble-updates, noble-security), in any entry for that architecture, has it.
 * - Phased updates: libapp's newest version was in -updates at `Phased-Update-Percentage: 10`,
 *   its security fix (an older version) in -security. The closure carried only the newest for a
 *   dependency, so on the 90% of the fleet outside the phase apt held libapp back ("kept back":
 *   apt pins a phased version to 1 there unless a security update lies between, which it could
 *   no longer see) and the hosts kept the vulnerable version. Now the closure also carries the
 *   newest version of the release that is not phased, and `lock` says so; apt then upgrades as it
 *   does from Ubuntu's archive.
 * - arm64 asked of the archive's URL (`architectures: [amd64, arm64]`, as in an apt-mirror
 *   `deb-arm64` line) failed with `architecture arm64 is not offered (Architectures: amd64 i386)`
 *   and no word of where Ubuntu publishes arm64. Now it names ports.ubuntu.com/ubuntu-ports.
 * - The stock ubuntu.sources names `noble noble-updates noble-backports` in one stanza; with
 *   backports not mirrored, `rewrite apt-sources` refused the stanza (not covered) and offered
 *   only "add them to the manifest, or --allow-unmapped" — which leaves the whole stanza, noble
 *   and noble-updates too, on the Internet. Now it names the suite to remove from that stanza's
 *   `Suites:` and what --allow-unmapped would leave upstream.
 * What worked as the README says: xz-only indexes, Translation/dep11/cnf listed in the Release,
 * `Phased-Update-Percentage` kept in the re-signed Packages, the deb822 `Signed-By:` swapped for
 * the site keyring, the week-2 differential bundle onto the same mirror, and the audit.
 */

let lab: VendorLab | undefined;
let work: string;
let ubuntu: GpgKey;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });
const date = () => `Date: ${new Date(Date.now() - 3600_000).toUTCString()}`;
const COMPONENTS = ['main', 'restricted', 'universe'];

interface Pkg {
  name: string;
  version: string;
  fields?: Record<string, string>;
}

/** One Ubuntu pocket as the archive serves it: xz-only indexes per component, Translation/dep11/cnf listed. */
async function pocket(root: string, suite: string, arch: string, pkgs: Pkg[], archs: string, week = 1): Promise<void> {
  const debDir = path.join(work, 'debs', `week${week}`, root.replace(/\W/g, '_'), suite);
  const debs: Record<string, string> = {};
  for (const p of pkgs) {
    await vendorDeb(debDir, p.name, p.version, arch, p.fields ?? {});
    debs[p.name] = `pool/main/${p.name[0]}/${p.name}/${p.name}_${p.version}_${arch}.deb`;
  }
  const r: VendorRepo = {
    root,
    suite,
    key: ubuntu,
    compress: ['.xz'],
    byHash: true,
    fields: ['Origin: Ubuntu', 'Label: Ubuntu', `Suite: ${suite}`, 'Version: 24.04', 'Codename: noble', date(), `Architectures: ${archs}`, 'Components: main restricted universe multiverse', 'Description: Ubuntu Noble 24.04'],
    indexes: COMPONENTS.map((comp) => ({ comp, arch, debs: comp === 'main' ? debs : {} })),
    listedNotServed: COMPONENTS.flatMap((c) => [`${c}/i18n/Translation-en.xz`, `${c}/dep11/Components-${arch}.yml.gz`, `${c}/cnf/Commands-${arch}.xz`]),
  };
  await publishVendor(path.join(work, 'public'), debDir, r);
}

beforeAll(async () => {
  lab = await startVendorLab('ferry-e2e-newuser26-');
  work = lab.work;
  ubuntu = await makeGpgKey(work, 'ubuntu-archive');
});

afterAll(() => stopVendorLab(lab));

describe('new user round 26: an Ubuntu fleet (noble, amd64 + arm64) behind the air gap', () => {
  it('two hosts per release, phased updates, ports: lock, bundle, import, rewrite ubuntu.sources, apt-get on amd64 and arm64', async () => {
    const u = lab!.upstream.url;
    for (const [root, arch, archs, suites] of [
      ['archive/ubuntu', 'amd64', 'amd64 i386', ['noble', 'noble-updates']],
      ['security/ubuntu', 'amd64', 'amd64 i386', ['noble-security']],
      ['ports/ubuntu-ports', 'arm64', 'arm64 armhf ppc64el riscv64 s390x', ['noble', 'noble-updates', 'noble-security']],
    ] as const) {
      const bySuite: Record<string, Pkg[]> = {
        noble: [
          { name: 'app', version: '1.0-1', fields: { Depends: 'libapp (>= 1.0)' } },
          { name: 'libapp', version: '1.0-1' },
          { name: 'tool', version: '2.0-1' },
        ],
        'noble-updates': [{ name: 'libapp', version: '1.0-1ubuntu0.2', fields: { 'Phased-Update-Percentage': '10' } }],
        'noble-security': [
          { name: 'libapp', version: '1.0-1ubuntu0.1' },
          { name: 'tool', version: '2.0-1ubuntu0.1' },
        ],
      };
      for (const s of suites) await pocket(root, s, arch, bySuite[s], archs);
    }
    const dir = path.join(work, 'fleet');
    await mkdir(dir, { recursive: true });
    await cp(lab!.site.secretKey, path.join(dir, 'site.secret.asc'));
    // The key as an Ubuntu host has it: the binary keyring /usr/share/keyrings/ubuntu-archive-keyring.gpg.
    await mustRun('gpg', ['--batch', '--export', '--output', path.join(dir, 'ubuntu-archive-keyring.gpg'), ubuntu.fingerprint], { env: { GNUPGHOME: ubuntu.home } });
    await writeFile(path.join(dir, 'target.yaml'), siteTargetYaml(lab!));
    const entry = (name: string, root: string, suites: string, arch: string) => [
      `  - name: ${name}`,
      `    url: ${u}/${root}`,
      `    suites: [${suites}]`,
      `    components: [${COMPONENTS.join(', ')}]`,
      `    architectures: [${arch}]`,
      '    packages: [app, tool]',
      '    keys: [ubuntu-archive-keyring.gpg]',
    ];
    await writeFile(
      path.join(dir, 'manifest.yaml'),
      [
        'apiVersion: ferry/v1alpha1',
        'kind: Manifest',
        'metadata: { name: fleet }',
        'apt:',
        ...entry('ubuntu', 'archive/ubuntu', 'noble, noble-updates', 'amd64'),
        ...entry('ubuntu-security', 'security/ubuntu', 'noble-security', 'amd64'),
        ...entry('ubuntu-ports', 'ports/ubuntu-ports', 'noble, noble-updates, noble-security', 'arm64'),
        '',
      ].join('\n'),
    );
    const lock = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
    expect(lock.code, lock.stdout + lock.stderr).toBe(0);
    const locked = JSON.parse(await readFile(path.join(dir, 'fleet.lock.json'), 'utf8')) as { apt: Array<{ name: string; suites: Array<{ suite: string; packages: Array<{ name: string; version: string }> }> }> };
    const carried = (name: string) => locked.apt.find((a) => a.name === name)!.suites.flatMap((s) => s.packages.map((p) => `${s.suite} ${p.name}=${p.version}`)).sort();
    // The security fix of libapp stays carried beside the phased -updates version (for the fleet outside the phase).
    expect(carried('ubuntu-security')).toEqual(['noble-security libapp=1.0-1ubuntu0.1', 'noble-security tool=2.0-1ubuntu0.1']);
    expect(carried('ubuntu-ports')).toContain('noble-security libapp=1.0-1ubuntu0.1');
    expect(carried('ubuntu-ports')).toContain('noble-updates libapp=1.0-1ubuntu0.2');
    expect(lock.stderr).toContain('apt[ubuntu-ports]: also carried, for hosts outside a phased update');
    expect(lock.stderr).toContain('libapp 1.0-1ubuntu0.1 (libapp 1.0-1ubuntu0.2 is phased at 10%)');

    for (const args of [['bundle', 'create', 'manifest.yaml', '-o', 'week1.tar', '--frozen'], ['import', 'week1.tar', '-t', 'target.yaml']]) {
      const r = await runFerry(args, { cwd: dir, env: env() });
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }

    // The hosts' stock deb822 sources (amd64 and arm64 variants), as Ubuntu 24.04 installs them.
    const stock = (uri: string, secUri: string) =>
      [
        'Types: deb',
        `URIs: ${uri}/`,
        'Suites: noble noble-updates noble-backports',
        'Components: main restricted universe',
        'Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg',
        '',
        'Types: deb',
        `URIs: ${secUri}/`,
        'Suites: noble-security',
        'Components: main restricted universe',
        'Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg',
        '',
      ].join('\n');
    const siteKeyring = path.join(work, 'keyrings', 'ferry-archive-keyring.gpg');
    await mkdir(path.dirname(siteKeyring), { recursive: true });
    const hosts = { amd64: stock(`${u}/archive/ubuntu`, `${u}/security/ubuntu`), arm64: stock(`${u}/ports/ubuntu-ports`, `${u}/ports/ubuntu-ports`) };
    const rewritten: Record<string, string> = {};
    for (const [arch, text] of Object.entries(hosts)) {
      const f = path.join(work, `ubuntu-${arch}.sources`);
      await writeFile(f, text);
      // Backports is not carried: the rewrite says which suite to drop from the stanza (not only
      // --allow-unmapped, which would leave noble and noble-updates upstream too).
      const first = await runFerry(['rewrite', 'apt-sources', f, '-t', 'target.yaml', '--lock', 'fleet.lock.json', '--signed-by', siteKeyring], { cwd: dir, env: env() });
      expect(first.code).not.toBe(0);
      expect(first.stderr).toContain("remove noble-backports from this stanza's Suites:");
      expect(first.stderr).toContain('--allow-unmapped would leave noble noble-updates upstream as well');
      await writeFile(f, text.replace(' noble-backports', ''));
      const rw = await runFerry(['rewrite', 'apt-sources', f, '-t', 'target.yaml', '--lock', 'fleet.lock.json', '--signed-by', siteKeyring], { cwd: dir, env: env() });
      expect(rw.code, rw.stdout + rw.stderr).toBe(0);
      rewritten[arch] = await readFile(f, 'utf8');
      expect(rewritten[arch]).not.toContain(u);
      const told = /install the site key from (\S+) as (\S+)/.exec(rw.stdout + rw.stderr)!;
      await writeFile(siteKeyring, Buffer.from(await (await fetch(told[1])).arrayBuffer()));
    }

    // The audit of the hosts' sources: nothing left upstream, nothing undeclared.
    const etc = path.join(work, 'etc-apt');
    await mkdir(etc, { recursive: true });
    for (const arch of ['amd64', 'arm64']) await writeFile(path.join(etc, `ubuntu-${arch}.sources`), rewritten[arch]);
    const audit = await runFerry(['audit', etc, '--manifest', 'manifest.yaml', '-t', 'target.yaml', '--json'], { cwd: dir, env: env() });
    expect([0, 5], audit.stdout + audit.stderr).toContain(audit.code);
    const findings = (JSON.parse(audit.stdout) as { findings: Array<{ file: string; value: string; class: string }> }).findings;
    expect(findings.filter((f) => f.class === 'undeclared' || f.class === 'declared-unmitigated' || f.value.startsWith(u)).map((f) => `${f.file} ${f.value} ${f.class}`)).toEqual([]);

    // apt-get, per architecture: update with no warning, install the list at the newest version across pockets.
    for (const arch of ['amd64', 'arm64']) {
      const client = path.join(work, `client-${arch}`);
      const out = await aptClient(client, arch, rewritten[arch], '', ['install', '--download-only', 'app', 'tool']);
      expect(out).toMatch(/tool[^\n]*2\.0-1ubuntu0\.1|tool_2\.0-1ubuntu0\.1/);
      // A host outside libapp's phase that has libapp 1.0-1: apt holds a phased version back
      // unless a security update lies between (then it takes the newest, as from Ubuntu's
      // archive). Without -security's libapp on the mirror it was kept back: no fix at all.
      const outside = path.join(work, `client-${arch}-outside`);
      const up = await aptClient(outside, arch, rewritten[arch], installed('libapp', '1.0-1', arch), ['-o', 'APT::Get::Never-Include-Phased-Updates=true', 'upgrade', '--download-only']);
      expect(up).not.toContain('kept back');
      expect(up).toContain('1 upgraded');
    }
  });

  it('a week later: a new -security fix, re-locked, a differential bundle imported onto the mirror, apt-get upgrade on both architectures', async () => {
    const dir = path.join(work, 'fleet');
    for (const [root, arch, archs] of [
      ['security/ubuntu', 'amd64', 'amd64 i386'],
      ['ports/ubuntu-ports', 'arm64', 'arm64 armhf ppc64el riscv64 s390x'],
    ] as const) {
      await pocket(root, 'noble-security', arch, [{ name: 'libapp', version: '1.0-1ubuntu0.1' }, { name: 'tool', version: '2.0-1ubuntu0.2' }], archs, 2);
    }
    await cp(path.join(dir, 'fleet.lock.json'), path.join(dir, 'week1.lock.json'));
    const lock = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
    expect(lock.code, lock.stdout + lock.stderr).toBe(0);
    expect(lock.stdout + lock.stderr).toMatch(/tool 2\.0-1ubuntu0\.1 → 2\.0-1ubuntu0\.2/);
    for (const args of [['bundle', 'create', 'manifest.yaml', '-o', 'week2.tar', '--frozen', '--since', 'week1.tar'], ['import', 'week2.tar', '-t', 'target.yaml']]) {
      const r = await runFerry(args, { cwd: dir, env: env() });
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    for (const arch of ['amd64', 'arm64']) {
      const sources = await readFile(path.join(work, `ubuntu-${arch}.sources`), 'utf8');
      const out = await aptClient(path.join(work, `client-${arch}-week2`), arch, sources, installed('tool', '2.0-1ubuntu0.1', arch), ['upgrade', '--download-only']);
      expect(out).toMatch(/tool[^\n]*2\.0-1ubuntu0\.2/);
      // A new host still installs the whole list.
      const fresh = await aptClient(path.join(work, `client-${arch}-week2-new`), arch, sources, '', ['install', '--download-only', 'app', 'tool']);
      expect(fresh).toMatch(/app[^\n]*1\.0-1/);
    }
  });

  it('arm64 asked of the archive URL names ports.ubuntu.com', async () => {
    const dir = path.join(work, 'wrong-arch');
    await mkdir(dir, { recursive: true });
    await exportPublic(ubuntu, path.join(dir, 'ubuntu-archive-keyring.asc'));
    await writeFile(
      path.join(dir, 'manifest.yaml'),
      ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: wrong }', 'apt:', '  - name: ubuntu', `    url: ${lab!.upstream.url}/archive/ubuntu`, '    suites: [noble]', '    architectures: [amd64, arm64]', '    packages: [app]', '    keys: [ubuntu-archive-keyring.asc]', ''].join('\n'),
    );
    const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('ports.ubuntu.com/ubuntu-ports');
  });
});

function installed(name: string, version: string, arch: string): string {
  return [`Package: ${name}`, 'Status: install ok installed', 'Priority: optional', 'Section: misc', 'Maintainer: ferry tests <tests@ferry.test>', `Architecture: ${arch}`, `Version: ${version}`, `Description: ${name}`, ''].join('\n');
}

/** apt-get update (no warning allowed), then `args`, in an isolated root for `arch` with `status` as dpkg's status. */
async function aptClient(client: string, arch: string, sources: string, status: string, args: string[]): Promise<string> {
  await mkdir(path.join(client, 'etc/apt/sources.list.d'), { recursive: true });
  await writeFile(path.join(client, 'etc/apt/sources.list.d/ubuntu.sources'), sources);
  await writeFile(path.join(client, 'status'), status);
  const opts = ['-o', `Dir::State::status=${path.join(client, 'status')}`, '-o', `APT::Architecture=${arch}`, '-o', `APT::Architectures::=${arch}`];
  const up = await aptGet(client, '', [...opts, 'update']);
  expect(up.code, up.stdout + up.stderr).toBe(0);
  expect(up.stdout + up.stderr).not.toMatch(/^(W|E):/m);
  const r = await aptGet(client, '', [...opts, ...args]);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r.stdout;
}
