import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runFerry } from '../support/cli.js';
import { makeGpgKey, type GpgKey, type Nginx } from '../support/apt-repo.js';
import { addSigningSubkey, aptInstall, exportPublic, publishVendor, vendorDeb, type VendorRepo, siteTargetYaml, startVendorLab, stopVendorLab, type VendorLab } from '../support/apt-vendor.js';

/**
 * The client side of the vendor repositories (test/e2e/apt-vendors.test.ts recreates their
 * layouts): the sources lines and deb822 files each vendor's install docs tell users to write,
 * in a host's /etc/apt tree, are rewritten with `ferry rewrite apt-sources` against the imported
 * mirror, then the real apt-get (signature checking on) updates and downloads from it in an
 * isolated root; `ferry audit` of the tree finds nothing undeclared. Also: a Release signed twice
 * (a key rotation: old and new key) locks with either key or both.
 */

let work: string;
let upstream: Nginx;
let mirror: Nginx;
let mirrorDir: string;
let site: GpgKey;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });
const debDir = () => path.join(work, 'debs');
const deb = (name: string, version: string, arch: string, fields: Record<string, string> = {}) => vendorDeb(debDir(), name, version, arch, fields);
const publish = (r: VendorRepo) => publishVendor(path.join(work, 'public'), debDir(), r);
const date = () => `Date: ${new Date(Date.now() - 3600_000).toUTCString()}`;

async function runOk(cmd: string, args: string[], home: string, input?: string): Promise<string> {
  const r = await runCommand(cmd, args, { env: { GNUPGHOME: home }, input });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

function project(dir: string, name: string, apt: string[]): Promise<void> {
  return writeFile(path.join(dir, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${name} }`, 'apt:', ...apt, ''].join('\n'));
}

let lab: VendorLab | undefined;

beforeAll(async () => {
  lab = await startVendorLab('ferry-apt-clients-');
  ({ work, upstream, mirror, mirrorDir, site } = lab);
});

afterAll(() => stopVendorLab(lab));

describe('APT clients of vendor repositories', () => {
  it("the vendors' own sources files, rewritten: options kept, signed-by swapped only for re-signed mirrors, inline key handled; apt-get installs; audit finds nothing undeclared", async () => {
    const keys = {
      docker: await makeGpgKey(work, 'docker'),
      chrome: await makeGpgKey(work, 'chrome'),
      microsoft: await makeGpgKey(work, 'microsoft'),
      pgdg: await makeGpgKey(work, 'pgdg'),
      hashicorp: await makeGpgKey(work, 'hashicorp'),
      nodesource: await makeGpgKey(work, 'nodesource'),
      grafana: await makeGpgKey(work, 'grafana'),
    };
    const msSub = await addSigningSubkey(keys.microsoft);
    await deb('containerd.io', '1.6.28-1', 'amd64');
    await deb('docker-ce', '5:25.0.3-1~debian.12~bookworm', 'amd64', { Depends: 'containerd.io (>= 1.6.24)' });
    await deb('google-chrome-stable', '120.0.6099.109-1', 'amd64');
    await deb('code', '1.85.1-1702462158', 'amd64');
    await deb('libpq5', '16.1-1.pgdg120+1', 'amd64');
    await deb('terraform', '1.6.6-1', 'amd64');
    await deb('nodejs', '20.10.0-1nodesource1', 'amd64');
    await deb('grafana', '10.2.3', 'amd64');
    const vendors: Array<VendorRepo & { name: string; pkg: string; filtered: boolean }> = [
      { name: 'docker', pkg: 'docker-ce', filtered: false, root: 'linux/debian', suite: 'bookworm', key: keys.docker, compress: ['', '.bz2', '.gz'],
        fields: ['Origin: Docker', 'Label: Docker CE', 'Suite: bookworm', 'Codename: bookworm', 'Architectures: amd64 arm64', 'Components: stable', date()],
        indexes: [{ comp: 'stable', arch: 'amd64', debs: { 'containerd.io': 'dists/bookworm/pool/stable/amd64/containerd.io_amd64.deb', 'docker-ce': 'dists/bookworm/pool/stable/amd64/docker-ce_amd64.deb' } }] },
      { name: 'chrome', pkg: 'google-chrome-stable', filtered: false, root: 'linux/chrome/deb', suite: 'stable', key: keys.chrome, compress: ['', '.gz'],
        fields: ['Origin: Google LLC', 'Label: Google', 'Suite: stable', 'Codename: stable', date(), 'Components: main'],
        indexes: [{ comp: 'main', arch: 'amd64', debs: { 'google-chrome-stable': 'pool/main/g/google-chrome-stable/google-chrome-stable_120.0.6099.109-1_amd64.deb' } }] },
      { name: 'microsoft', pkg: 'code', filtered: true, root: 'repos/code', suite: 'stable', key: keys.microsoft, signer: `${msSub}!`, compress: ['', '.gz'],
        fields: ['Origin: code stable', 'Label: code stable', 'Suite: stable', 'Codename: stable', date(), 'Architectures: amd64', 'Components: main'],
        indexes: [{ comp: 'main', arch: 'amd64', debs: { code: 'pool/main/c/code/code_1.85.1-1702462158_amd64.deb' } }] },
      { name: 'pgdg', pkg: 'libpq5', filtered: true, root: 'pub/repos/apt', suite: 'bookworm-pgdg', key: keys.pgdg, byHash: true, compress: ['', '.bz2'],
        fields: ['Origin: apt.postgresql.org', 'Suite: bookworm-pgdg', 'Codename: bookworm-pgdg', date(), 'Architectures: amd64', 'Components: main'],
        indexes: [{ comp: 'main', arch: 'amd64', debs: { libpq5: 'pool/main/p/postgresql-16/libpq5_16.1-1.pgdg120+1_amd64.deb' } }] },
      { name: 'hashicorp', pkg: 'terraform', filtered: false, root: 'hashicorp', suite: 'bookworm', key: keys.hashicorp, compress: ['', '.gz'],
        fields: ['Origin: Artifactory', 'Suite: bookworm', 'Codename: bookworm', date(), 'Architectures: amd64', 'Components: main'],
        indexes: [{ comp: 'main', arch: 'amd64', debs: { terraform: 'pool/t/terraform/terraform_1.6.6-1_amd64.deb' } }] },
      { name: 'nodesource', pkg: 'nodejs', filtered: true, root: 'node_20.x', suite: 'nodistro', key: keys.nodesource, compress: ['', '.gz'],
        fields: ['Origin: Node Source', 'Suite: nodistro', 'Codename: nodistro', date(), 'Architectures: amd64', 'Components: main'],
        indexes: [{ comp: 'main', arch: 'amd64', debs: { nodejs: 'pool/main/n/nodejs/nodejs_20.10.0-1nodesource1_amd64.deb' } }] },
      { name: 'grafana', pkg: 'grafana', filtered: true, root: 'grafana', suite: 'stable', key: keys.grafana, compress: ['', '.gz'],
        fields: ['Origin: grafana', 'Suite: stable', 'Codename: stable', date(), 'Architectures: amd64', 'Components: main'],
        indexes: [{ comp: 'main', arch: 'amd64', debs: { grafana: 'pool/main/g/grafana/grafana_10.2.3_amd64.deb' } }] },
    ];
    for (const v of vendors) await publish(v);
    const dir = path.join(work, 'clients-project');
    await mkdir(dir, { recursive: true });
    await cp(site.secretKey, path.join(dir, 'site.secret.asc'));
    const pub: Record<string, string> = {};
    for (const v of vendors) pub[v.name] = await exportPublic(v.key, path.join(dir, `${v.name}.asc`));
    await project(
      dir,
      'clients',
      vendors.flatMap((v) => [`  - name: ${v.name}`, `    url: ${upstream.url}/${v.root}`, `    suites: [${v.suite}]`, ...(v.name === 'docker' ? ['    components: [stable]'] : []), ...(v.filtered ? [`    packages: [${v.pkg}]`] : []), `    keys: [${v.name}.asc]`]),
    );
    await writeFile(
      path.join(dir, 'target.yaml'),
      siteTargetYaml(lab!),
    );
    for (const args of [['lock', 'manifest.yaml'], ['bundle', 'create', 'manifest.yaml', '-o', 'b.tar', '--frozen'], ['import', 'b.tar', '-t', 'target.yaml', '--json']]) {
      const r = await runFerry(args, { cwd: dir, env: env() });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      if (args[0] === 'import') {
        const at = new Map((JSON.parse(r.stdout).results as Array<{ artifact: string; location: string }>).map((x) => [x.artifact, x.location.split(' ')[0]]));
        for (const v of vendors) (v as { at?: string }).at = at.get(`${upstream.url}/${v.root} ${v.suite}`);
      }
    }
    const at = (name: string) => (vendors.find((v) => v.name === name) as { at?: string }).at!;

    // The host: its /etc/apt tree as the vendors' install docs leave it (keyring paths under the test root).
    const host = path.join(work, 'host');
    const etc = path.join(host, 'etc/apt');
    const kr = (f: string) => path.join(etc, 'keyrings', f);
    await mkdir(path.join(etc, 'keyrings'), { recursive: true });
    await mkdir(path.join(etc, 'trusted.gpg.d'), { recursive: true });
    for (const v of vendors) await cp(pub[v.name], kr(`${v.name}.asc`));
    // Chrome's package drops its key in trusted.gpg.d and writes a list with no signed-by.
    await cp(pub.chrome, path.join(etc, 'trusted.gpg.d', 'google-chrome.asc'));
    const siteKeyring = kr('ferry-archive-keyring.asc');
    const inline = async (f: string) => (await readFile(f, 'utf8')).trimEnd().split('\n').map((l) => ` ${l.trim() === '' ? '.' : l}`).join('\n');
    const inlineKey = await inline(pub.microsoft);
    const u = upstream.url;
    const files: Record<string, { before: string; after: string }> = {
      'docker.list': {
        before: `deb [arch=amd64 signed-by=${kr('docker.asc')}] ${u}/linux/debian bookworm stable\n`,
        after: `deb [arch=amd64 signed-by=${kr('docker.asc')}] ${at('docker')} bookworm stable\n`,
      },
      'google-chrome.list': {
        before: `### THIS FILE IS AUTOMATICALLY CONFIGURED ###\n# You may comment out this entry, but any other modifications may be lost.\ndeb [arch=amd64] ${u}/linux/chrome/deb/ stable main\n`,
        after: `### THIS FILE IS AUTOMATICALLY CONFIGURED ###\n# You may comment out this entry, but any other modifications may be lost.\ndeb [arch=amd64] ${at('chrome')}/ stable main\n`,
      },
      'vscode.sources': {
        before: `### THIS FILE IS AUTOMATICALLY CONFIGURED ###\nTypes: deb\nURIs: ${u}/repos/code\nSuites: stable\nComponents: main\nSigned-By:\n${inlineKey}\nArchitectures: amd64\n`,
        after: `### THIS FILE IS AUTOMATICALLY CONFIGURED ###\nTypes: deb\nURIs: ${at('microsoft')}\nSuites: stable\nComponents: main\nSigned-By: ${siteKeyring}\nArchitectures: amd64\n`,
      },
      'pgdg.list': {
        before: `deb [signed-by=${kr('pgdg.asc')}] ${u}/pub/repos/apt bookworm-pgdg main\n`,
        after: `deb [signed-by=${siteKeyring}] ${at('pgdg')} bookworm-pgdg main\n`,
      },
      // A whole (vendor-signed) mirror with the vendor key inline: the key stays, byte for byte.
      'hashicorp-inline.sources': {
        before: `# HashiCorp\nTypes: deb\nURIs: ${u}/hashicorp\nSuites: bookworm\nComponents: main\nSigned-By:\n${await inline(pub.hashicorp)}\nArchitectures: amd64\n`,
        after: `# HashiCorp\nTypes: deb\nURIs: ${at('hashicorp')}\nSuites: bookworm\nComponents: main\nSigned-By:\n${await inline(pub.hashicorp)}\nArchitectures: amd64\n`,
      },
      'nodesource.list': {
        before: `deb [arch=amd64 signed-by=${kr('nodesource.asc')}] ${u}/node_20.x nodistro main\n`,
        after: `deb [arch=amd64 signed-by=${siteKeyring}] ${at('nodesource')} nodistro main\n`,
      },
      'grafana.list': {
        before: `deb [signed-by=${kr('grafana.asc')}] ${u}/grafana stable main\n`,
        after: `deb [signed-by=${siteKeyring}] ${at('grafana')} stable main\n`,
      },
    };
    const parts = path.join(etc, 'sources.list.d');
    await mkdir(parts, { recursive: true });
    for (const [f, { before }] of Object.entries(files)) await writeFile(path.join(parts, f), before);
    const audit = async () => {
      const r = await runFerry(['audit', etc, '--manifest', 'manifest.yaml', '-t', 'target.yaml', '--json'], { cwd: dir, env: env() });
      expect([0, 5], r.stderr).toContain(r.code);
      return JSON.parse(r.stdout) as { findings: Array<{ file: string; value: string; class: string; note?: string }> };
    };
    // Before the rewrite every source entry is carried, but apt still fetches it as written: each
    // goes out, its note naming the mirror and `rewrite apt-sources`; nothing is uncarried.
    const beforeAudit = await audit();
    const goesOut = beforeAudit.findings.filter((f) => f.class === 'undeclared');
    expect(goesOut.length).toBeGreaterThan(0);
    expect(goesOut.filter((f) => !f.note?.includes('carried (the mirror serves it at') || !f.note.includes('ferry rewrite apt-sources')).map((f) => `${f.file} ${f.value}`)).toEqual([]);

    const rw = await runFerry(['rewrite', 'apt-sources', ...Object.keys(files).map((f) => path.join(parts, f)), '-t', 'target.yaml', '--lock', 'clients.lock.json', '--signed-by', siteKeyring], { cwd: dir, env: env() });
    expect(rw.code, rw.stdout + rw.stderr).toBe(0);
    for (const [f, { after }] of Object.entries(files)) expect(await readFile(path.join(parts, f), 'utf8'), f).toBe(after);
    // The site key, installed as the rewrite says: an armored .asc keyring needs the armored key (apt ignores a binary one there).
    const told = /install the site key from (\S+) as (\S+)/.exec(rw.stdout + rw.stderr);
    expect(told, rw.stdout + rw.stderr).not.toBeNull();
    expect(told![2]).toBe(siteKeyring);
    const got = await fetch(told![1]);
    expect(got.status, told![1]).toBe(200);
    await writeFile(siteKeyring, Buffer.from(await got.arrayBuffer()));

    // apt-get in an isolated root holding the rewritten tree (its keyrings, trusted.gpg.d and sources).
    const client = path.join(work, 'client');
    await mkdir(path.join(client, 'etc/apt'), { recursive: true });
    await cp(path.join(etc, 'trusted.gpg.d'), path.join(client, 'etc/apt/trusted.gpg.d'), { recursive: true });
    const texts = Object.fromEntries(await Promise.all(Object.keys(files).map(async (f) => [f, await readFile(path.join(parts, f), 'utf8')] as const)));
    const out = await aptInstall(client, '', vendors.map((v) => v.pkg), 'amd64', texts);
    for (const v of vendors) expect(out).toContain(v.pkg);

    const afterAudit = await audit();
    expect(afterAudit.findings.filter((f) => f.class === 'undeclared' || f.class === 'declared-unmitigated').map((f) => `${f.file} ${f.value} ${f.class}`)).toEqual([]);
    expect(afterAudit.findings.filter((f) => f.value.startsWith(u))).toEqual([]);
  });
  it('a Release and InRelease signed twice (old and new key, mid-rotation): lock with the old key, the new key or both; apt-get with either key', async () => {
    const old = await makeGpgKey(work, 'google-old');
    const next = await makeGpgKey(work, 'google-new');
    // One keyring holding both secret keys: gpg writes one signature per --local-user.
    await runOk('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--import', next.secretKey], old.home);
    await deb('google-chrome-beta', '121.0.6167.16-1', 'amd64');
    for (const sign of ['both', 'detached', 'inrelease'] as const) {
      await publish({
        root: `rotation-${sign}`,
        suite: 'stable',
        fields: ['Origin: Google LLC', 'Label: Google', 'Suite: stable', 'Codename: stable', date(), 'Components: main'],
        indexes: [{ comp: 'main', arch: 'amd64', debs: { 'google-chrome-beta': 'pool/main/g/google-chrome-beta/google-chrome-beta_121.0.6167.16-1_amd64.deb' } }],
        compress: ['', '.gz'],
        key: old,
        signer: [old.fingerprint, next.fingerprint],
        sign,
      });
    }
    const dist = path.join(work, 'public/rotation-both/dists/stable');
    for (const args of [['InRelease'], ['Release.gpg', 'Release']]) {
      const status = await runOk('gpg', ['--batch', '--status-fd', '1', '--verify', ...args.map((f) => path.join(dist, f))], old.home);
      expect(status.match(/^\[GNUPG:\] VALIDSIG /gm)?.length, args[0]).toBe(2);
    }
    for (const [name, keys] of [['old', ['old.asc']], ['new', ['new.asc']], ['both', ['old.asc', 'new.asc']]] as const) {
      const dir = path.join(work, `rotation-${name}`);
      await mkdir(dir, { recursive: true });
      await cp(old.publicKey, path.join(dir, 'old.asc'));
      await cp(next.publicKey, path.join(dir, 'new.asc'));
      await cp(site.secretKey, path.join(dir, 'site.secret.asc'));
      await project(
        dir,
        `rotation-${name}`,
        ['both', 'detached', 'inrelease'].flatMap((sign) => [`  - name: chrome-${sign}`, `    url: ${upstream.url}/rotation-${sign}`, '    suites: [stable]', `    keys: [${keys.join(', ')}]`]),
      );
      const lock = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
      expect(lock.code, `${name}: ${lock.stdout}${lock.stderr}`).toBe(0);
      if (name !== 'both') continue;
      await writeFile(
        path.join(dir, 'target.yaml'),
        siteTargetYaml(lab!),
      );
      const create = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'b.tar', '--frozen'], { cwd: dir, env: env() });
      expect(create.code, create.stderr).toBe(0);
      const imp = await runFerry(['import', 'b.tar', '-t', 'target.yaml', '--json'], { cwd: dir, env: env() });
      expect(imp.code, imp.stdout + imp.stderr).toBe(0);
      const at = new Map((JSON.parse(imp.stdout).results as Array<{ artifact: string; location: string }>).map((x) => [x.artifact, x.location.split(' ')[0]]));
      // The whole mirror keeps the vendor's two signatures: a client with either key alone verifies it.
      for (const sign of ['both', 'detached', 'inrelease'])
        for (const key of [old, next]) {
          const sources = `deb [arch=amd64 signed-by=${key.publicKey}] ${at.get(`${upstream.url}/rotation-${sign} stable`)} stable main`;
          expect(await aptInstall(path.join(work, 'clients', `rotation-${sign}-${path.basename(key.publicKey)}`), sources, ['google-chrome-beta'])).toMatch(/google-chrome-beta/);
        }
    }
  });
});
