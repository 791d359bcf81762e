import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { aptGet, buildDebs, makeGpgKey, publishWithAptly, startNginx, type Nginx } from '../support/apt-repo.js';
import { mustRun, runFerry } from '../support/cli.js';
import { pushLayoutImage, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A second new user's jobs (a vendor's APT repositories and images to a site, the bundle through a
 * registry, runtime mirror configs), and the slips they made, against a real docker-registry, aptly,
 * gpg, nginx and apt-get: a registry url without a scheme, a passphrase-protected site key, a
 * public key given to --sign-key, a split bundle whose .parts list was left behind, a bundle pulled
 * by a tag that is not there, mirror-config --registry given a URL.
 */
let work: string;
let reg: RunningRegistry;
let vendorRepo: Nginx;
let siteApt: Nginx;
let job: string;
let site: string;
const vendorUrl = () => `${vendorRepo.url}/ps-80/apt`;
const PASSPHRASE = 'site secret';

const env = (extra: NodeJS.ProcessEnv = {}) => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1', FERRY_SIGNING_PASSPHRASE: '', ...extra });
const insecure = () => ['--insecure-registry', reg.host];
const target = (registry: Record<string, unknown>) =>
  stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 'site' }, registry, apt: { dir: './apt', baseUrl: siteApt.url, signingKey: './site-apt.key' } });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser2-'));
  job = path.join(work, 'job');
  site = path.join(work, 'site');
  await mkdir(path.join(job, 'keys'), { recursive: true });
  await mkdir(path.join(site, 'apt'), { recursive: true });
  reg = await startRegistry({ mode: 'http' });

  // The vendor: an image and an APT repository (server, client, common; the server is what is installed).
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, [{ name: 'cmon', platforms: [{ architecture: 'amd64', layers: [{ files: { 'cmon/v': '2.3.1\n' } }] }] }]);
  await pushLayoutImage(reg, layout, 'cmon', 'severalnines/cmon:2.3.1');
  const vendor = await makeGpgKey(work, 'percona');
  const debs = await buildDebs(path.join(work, 'debs'), ['ps-server', 'ps-client', 'ps-extra']);
  const aptly = await publishWithAptly(work, debs, vendor, { distribution: 'jammy', prefixes: ['ps-80/apt'] });
  [vendorRepo, siteApt] = await Promise.all([startNginx(aptly.publicDir), startNginx(path.join(site, 'apt'))]);
  await writeFile(path.join(job, 'keys', 'percona.asc'), await readFile(vendor.publicKey));

  // The site's own APT signing key, protected by a passphrase as a site keeps it.
  const home = path.join(work, 'gnupg-site');
  await mkdir(home, { recursive: true, mode: 0o700 });
  const gpg = (args: string[]) => mustRun('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', PASSPHRASE, ...args], { env: { GNUPGHOME: home } });
  await gpg(['--quick-gen-key', 'Site APT <apt@site.test>', 'rsa2048', 'sign', 'never']);
  await writeFile(path.join(site, 'site-apt.key'), (await gpg(['--armor', '--export-secret-keys'])).stdout);

  await writeFile(
    path.join(job, 'ccx.yaml'),
    stringifyYaml({
      apiVersion: 'ferry/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'ccx' },
      images: [{ ref: `${reg.host}/severalnines/cmon:2.3.1` }],
      apt: [{ name: 'percona-ps-80', url: vendorUrl(), suites: ['jammy'], components: ['main'], architectures: ['amd64'], packages: ['ps-server'], keys: ['keys/percona.asc'] }],
    }),
  );
  const created = await runFerry(['bundle', 'create', 'ccx.yaml', '-o', 'ccx.ferry.tar', ...insecure()], { cwd: job, env: env() });
  expect(created.code, created.stderr).toBe(0);
  await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path.join(job, 'bundle.key')]);
  await mustRun('openssl', ['pkey', '-in', path.join(job, 'bundle.key'), '-pubout', '-out', path.join(job, 'bundle.pub')]);
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([reg?.stop(), vendorRepo?.stop(), siteApt?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('APT + images to a site with its own passphrase-protected signing key', () => {
  it('a registry url written as docker writes it (no scheme) names the url to write', async () => {
    await writeFile(path.join(site, 'noscheme.yaml'), target({ url: reg.host }));
    const r = await runFerry(['import', path.join(job, 'ccx.ferry.tar'), '--target', 'noscheme.yaml'], { cwd: site, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`url "${reg.host}" has no scheme: write https://${reg.host}, or http://${reg.host} for plain HTTP`);
    await writeFile(path.join(site, 'path.yaml'), target({ url: 'https://harbor.site.test/ccx/mirror' }));
    const p = await runFerry(['import', path.join(job, 'ccx.ferry.tar'), '--target', 'path.yaml'], { cwd: site, env: env() });
    expect(p.code).toBe(2);
    expect(p.stderr).toContain('has a path: write url: https://harbor.site.test and prefix: ccx/mirror');
  });

  it('without the passphrase, or with a wrong one, the import names FERRY_SIGNING_PASSPHRASE and does not blame the bundle', async () => {
    await writeFile(path.join(site, 'site.yaml'), target({ url: reg.url, prefix: 'mirror' }));
    const none = await runFerry(['import', path.join(job, 'ccx.ferry.tar'), '--target', 'site.yaml'], { cwd: site, env: env() });
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('is protected by a passphrase: set FERRY_SIGNING_PASSPHRASE');
    expect(none.stderr).not.toContain('crafted or damaged');
    const wrong = await runFerry(['import', path.join(job, 'ccx.ferry.tar'), '--target', 'site.yaml'], { cwd: site, env: env({ FERRY_SIGNING_PASSPHRASE: 'not it' }) });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('FERRY_SIGNING_PASSPHRASE is not its passphrase');
    expect(wrong.stderr).not.toContain('crafted or damaged');
  });

  it('with it, the mirror takes the packages and apt-get updates from it after rewrite apt-sources (one-line and deb822)', async () => {
    const imp = await runFerry(['import', path.join(job, 'ccx.ferry.tar'), '--target', 'site.yaml'], { cwd: site, env: env({ FERRY_SIGNING_PASSPHRASE: PASSPHRASE }) });
    expect(imp.code, imp.stderr).toBe(0);
    const root = path.join(work, 'vm');
    await mkdir(path.join(root, 'etc/apt/sources.list.d'), { recursive: true });
    const keyring = path.join(root, 'ferry-archive-keyring.gpg');
    await writeFile(keyring, await readFile(path.join(site, 'apt', 'ferry-archive-keyring.gpg')));
    const list = path.join(root, 'vendor.list');
    const deb822 = path.join(root, 'vendor.sources');
    await writeFile(list, `# percona-release\ndeb ${vendorUrl()} jammy main\ndeb-src ${vendorUrl()} jammy main\n`);
    await writeFile(deb822, `Types: deb\nURIs: ${vendorUrl()}\nSuites: jammy\nComponents: main\nSigned-By: /usr/share/keyrings/percona.gpg\n`);
    const rw = await runFerry(['rewrite', 'apt-sources', list, deb822, '-t', 'site.yaml', '--bundle', path.join(job, 'ccx.ferry.tar'), '--signed-by', keyring], { cwd: site, env: env() });
    expect(rw.code, rw.stderr).toBe(0);
    // percona-release writes a deb-src line too; the mirror has no Sources index, and the user is told so.
    expect(rw.stderr).toContain(`deb-src now points at the mirror, which carries binary packages only`);
    expect(rw.stderr).toContain(`${list}:3`);
    const mirrored = `${siteApt.url}/${new URL(vendorUrl()).host.replace(':', '-')}/ps-80/apt`;
    expect(await readFile(list, 'utf8')).toContain(`deb [signed-by=${keyring}] ${mirrored} jammy main`);
    expect(await readFile(deb822, 'utf8')).toContain(`URIs: ${mirrored}\n`);
    // One apt root reads the one-line file as its sources.list, the other the deb822 file in sources.list.d.
    for (const form of ['one-line', 'deb822'] as const) {
      const aptRoot = path.join(work, `apt-${form}`);
      const line = form === 'one-line' ? (await readFile(list, 'utf8')).split('\n')[1] : '';
      if (form === 'deb822') {
        await mkdir(path.join(aptRoot, 'etc/apt/sources.list.d'), { recursive: true });
        await writeFile(path.join(aptRoot, 'etc/apt/sources.list.d/vendor.sources'), await readFile(deb822));
      }
      const update = await aptGet(aptRoot, line, ['update']);
      expect(update.code, update.stderr).toBe(0);
      expect(update.stderr).not.toMatch(/^(E|W): .*(NO_PUBKEY|not signed|Failed)/m);
      const dl = await aptGet(aptRoot, line, ['install', '--download-only', 'ps-server']);
      expect(dl.code, dl.stderr).toBe(0);
    }
  }, 120_000);
});

describe('the bundle through a registry, split and signed', () => {
  it('a bundle pulled by a tag that is not there lists the tags the repository has', async () => {
    const push = await runFerry(['bundle', 'push', path.join(job, 'ccx.ferry.tar'), `oci://${reg.host}/bundles/ccx:2024-06`, ...insecure()], { env: env() });
    expect(push.code, push.stderr).toBe(0);
    const pull = await runFerry(['bundle', 'pull', `oci://${reg.host}/bundles/ccx:2024-07`, '-o', path.join(work, 'pulled.tar'), ...insecure()], { env: env() });
    expect(pull.code).toBe(4);
    expect(pull.stderr).toContain(`no bundle tagged 2024-07; ${reg.host}/bundles/ccx has 1 tag: 2024-06`);
    const verify = await runFerry(['bundle', 'verify', `oci://${reg.host}/bundles/ccx:2024-07`, ...insecure()], { env: env() });
    expect(verify.stderr).toContain('has 1 tag: 2024-06');
  });

  it('--sign-key given the public key says it is the public one', async () => {
    const r = await runFerry(['bundle', 'create', 'ccx.yaml', '-o', 'signed.tar', '--sign-key', 'bundle.pub', ...insecure()], { cwd: job, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('this is a public key; signing takes the private key');
  });

  it('a split part whose .parts list was left behind says the list is missing', async () => {
    const r = await runFerry(['bundle', 'create', 'ccx.yaml', '-o', 'split/ccx.ferry.tar', '--split-size', '8K', '--sign-key', 'bundle.key', ...insecure()], { cwd: job, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const ok = await runFerry(['bundle', 'verify', 'split/ccx.ferry.tar.001', '--key', 'bundle.pub'], { cwd: job, env: env() });
    expect(ok.code, ok.stderr).toBe(0);
    await rename(path.join(job, 'split/ccx.ferry.tar.parts'), path.join(job, 'parts.away'));
    for (const args of [['bundle', 'verify', 'split/ccx.ferry.tar.001'], ['import', 'split/ccx.ferry.tar.001', '--target', path.join(site, 'site.yaml')]]) {
      const v = await runFerry(args, { cwd: job, env: env() });
      expect(v.code, args.join(' ')).not.toBe(0);
      expect(v.stderr).toContain('the list of parts of the split bundle ccx.ferry.tar is missing');
      expect(v.stderr).not.toContain('runs past the end');
    }
    await rename(path.join(job, 'parts.away'), path.join(job, 'split/ccx.ferry.tar.parts'));
  }, 60_000);
});

describe('runtime mirror configs', () => {
  it('--registry given a URL or a repository path is refused naming the host meant; one the lock lacks is a warning', async () => {
    const bad = await runFerry(['mirror-config', 'containerd', '-t', 'site.yaml', '--bundle', path.join(job, 'ccx.ferry.tar'), '--registry', 'https://quay.io', '--registry', 'docker.io/library', '-o', 'mc'], { cwd: site, env: env() });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--registry https://quay.io: a registry host, not a URL or a repository: write --registry quay.io');
    expect(bad.stderr).toContain('write --registry docker.io');
    await expect(access(path.join(site, 'mc'))).rejects.toThrow();
    const extra = await runFerry(['mirror-config', 'containerd', '-t', 'site.yaml', '--bundle', path.join(job, 'ccx.ferry.tar'), '--registry', 'quay.io', '-o', 'mc', '--json'], { cwd: site, env: env() });
    expect(extra.code, extra.stderr).toBe(0);
    const out = JSON.parse(extra.stdout) as { warnings: string[]; mirrors: Array<{ upstream: string }> };
    expect(out.mirrors.map((m) => m.upstream)).toEqual([reg.host, 'quay.io']);
    expect(out.warnings.join('\n')).toContain('the lock pins no image from quay.io');
    expect(await readFile(path.join(site, 'mc/certs.d/quay.io/hosts.toml'), 'utf8')).toContain('server = "https://quay.io"');
  });
});
