import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, makeGpgKey, writeSignedRelease, type GpgKey } from '../support/apt-repo.js';
import { packageChart, startStaticServer, writeRepoIndex, type PackagedChart, type StaticServer } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { makeClientCert, makeTestCa } from '../support/registry.js';

/**
 * eco61: authenticated HTTP repositories. Chart repositories and an APT repository behind nginx
 * auth_basic (and one over TLS with a test CA): credentials from Helm's repositories.yaml, apt's
 * auth.conf or the manifest's `auth:` (environment variable names), sent to the repository's
 * origin only — a second nginx, which an index names or a redirect leads to, logs what it got.
 */
const USER = 'deployer';
const PASSWORD = 's3cret-Pa55';
let work: string;
let repo: StaticServer;
let tlsRepo: StaticServer;
let mtlsRepo: StaticServer;
let clientCert: { certFile: string; keyFile: string; caFile: string };
let other: StaticServer;
let caFile: string;
let vendor: GpgKey;

const baseEnv = (extra: Record<string, string> = {}) => ({
  FERRY_CACHE_DIR: path.join(work, 'cache'),
  FERRY_RETRIES: '1',
  FERRY_RETRY_MIN_MS: '20',
  HELM_REPOSITORY_CONFIG: path.join(work, 'no-helm', 'repositories.yaml'),
  FERRY_APT_AUTH_CONF_DIR: path.join(work, 'no-apt'),
  ...extra,
});

async function chartSrc(name: string): Promise<string> {
  const dir = path.join(work, 'src', name);
  await mkdir(path.join(dir, 'templates'), { recursive: true });
  await writeFile(path.join(dir, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name, version: '1.0.0' }));
  await writeFile(path.join(dir, 'templates', 'cm.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n`);
  return dir;
}

async function manifest(name: string, body: string[]): Promise<string> {
  const file = path.join(work, `${name}.yaml`);
  await writeFile(file, ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${name} }`, ...body, ''].join('\n'));
  return file;
}

async function helmConfig(name: string, entries: Array<Record<string, unknown>>): Promise<string> {
  const file = path.join(work, name, 'repositories.yaml');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, stringifyYaml({ apiVersion: '', generated: '0001-01-01T00:00:00Z', repositories: entries }));
  return file;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-eco61-'));
  const pub = path.join(work, 'public');
  const far = path.join(work, 'far');
  await mkdir(path.join(pub, 'charts'), { recursive: true });
  await mkdir(path.join(far, 'archives'), { recursive: true });
  other = await startStaticServer(far);
  // hello: archive beside the index; distant: archive on another host (named by the index);
  // hopped: archive beside the index's URL, which redirects to the other host.
  const hello = await packageChart(await chartSrc('hello'), path.join(pub, 'charts'));
  const distant = await packageChart(await chartSrc('distant'), path.join(far, 'archives'));
  const hopped = await packageChart(await chartSrc('hopped'), path.join(far, 'archives'));
  const charts: Array<PackagedChart & { url?: string }> = [hello, { ...distant, url: `${other.url}/archives/${path.basename(distant.file)}` }, { ...hopped, url: `hop/${path.basename(hopped.file)}` }];
  await writeRepoIndex(path.join(pub, 'charts'), charts);
  // An APT repository: one package, the vendor's signed Release.
  vendor = await makeGpgKey(work, 'vendor');
  const apt = path.join(pub, 'apt');
  await mkdir(path.join(apt, 'pool/main'), { recursive: true });
  await cp(await buildDeb(path.join(work, 'debs'), 'app', '1.0'), path.join(apt, 'pool/main/app_1.0_all.deb'));
  const packages = execFileSync('dpkg-scanpackages', ['--multiversion', 'pool', '/dev/null'], { cwd: apt, stdio: ['ignore', 'pipe', 'ignore'] });
  const d = path.join(apt, 'dists/stable');
  await mkdir(path.join(d, 'main/binary-amd64'), { recursive: true });
  await writeFile(path.join(d, 'main/binary-amd64/Packages'), packages);
  await writeSignedRelease(d, vendor, ['Origin: Vendor', 'Suite: stable', 'Codename: stable', `Date: ${new Date().toUTCString()}`, 'Architectures: amd64', 'Components: main'], [{ path: 'main/binary-amd64/Packages', bytes: packages }]);
  repo = await startStaticServer(pub, { basicAuth: { user: USER, password: PASSWORD }, redirects: { '/charts/hop/': `${other.url}/archives/` } });
  const ca = await makeTestCa(path.join(work, 'pki'));
  caFile = ca.caFile;
  tlsRepo = await startStaticServer(pub, { basicAuth: { user: USER, password: PASSWORD }, tls: ca });
  clientCert = await makeClientCert(path.join(work, 'client-pki'));
  mtlsRepo = await startStaticServer(pub, { basicAuth: { user: USER, password: PASSWORD }, tls: ca, clientCa: clientCert.caFile });
}, 120_000);

afterAll(async () => {
  await Promise.all([repo?.stop(), tlsRepo?.stop(), mtlsRepo?.stop(), other?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('chart repositories behind basic auth', () => {
  it('without credentials: a 401 naming the repository and where ferry looked', async () => {
    const m = await manifest('none', ['charts:', `  - { repo: "${repo.url}/charts", name: hello, version: 1.0.0, images: [] }`]);
    const r = await runFerry(['lock', m, '-o', path.join(work, 'none.lock.json')], { cwd: work, env: baseEnv() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`chart repository ${repo.url}/charts`);
    expect(r.stderr).toContain('HTTP 401');
    expect(r.stderr).toContain('repositories.yaml');
  });

  it("Helm's repositories.yaml (url with a trailing slash): the index and the archive with basic auth; the secret nowhere in the lock", async () => {
    const cfg = await helmConfig('helm-a', [{ name: 'corp', url: `${repo.url}/charts/`, username: USER, password: PASSWORD }]);
    const m = await manifest('helm', ['charts:', `  - { repo: "${repo.url}/charts", name: hello, version: 1.0.0, images: [] }`]);
    const out = path.join(work, 'helm.lock.json');
    const r = await runFerry(['lock', m, '-o', out], { cwd: work, env: baseEnv({ HELM_REPOSITORY_CONFIG: cfg }) });
    expect(r.code, r.stderr).toBe(0);
    const lock = await readFile(out, 'utf8');
    expect(lock).toContain('hello-1.0.0.tgz');
    expect(lock).not.toContain(PASSWORD);
    expect(lock).not.toContain(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
  });

  it("the manifest's auth: (variable names) for lock and bundle create; a wrong password names the source", async () => {
    const m = await manifest('manifest-auth', ['charts:', `  - { repo: "${repo.url}/charts", name: hello, version: 1.0.0, images: [], auth: { usernameEnv: REPO_USER, passwordEnv: REPO_PASS } }`]);
    const bundle = path.join(work, 'auth.ferry.tar');
    const creds = { REPO_USER: USER, REPO_PASS: PASSWORD };
    const locked = await runFerry(['lock', m], { cwd: work, env: baseEnv(creds) });
    expect(locked.code, locked.stderr).toBe(0);
    // The archive fetched again from the lock (a fresh cache): with the variables the lock names.
    const before = (await repo.log()).length;
    const ok = await runFerry(['bundle', 'create', m, '--frozen', '-o', bundle], { cwd: work, env: baseEnv({ ...creds, FERRY_CACHE_DIR: path.join(work, 'cache-fetch') }) });
    expect(ok.code, ok.stderr).toBe(0);
    expect((await repo.log()).slice(before).some((l) => l.startsWith('/charts/hello-1.0.0.tgz ') && l.includes(' Basic '))).toBe(true);
    expect(execFileSync('tar', ['-xOf', bundle, 'ferry/lock.json']).toString()).not.toContain(PASSWORD);
    const bad = await runFerry(['lock', m, '-o', path.join(work, 'bad.lock.json')], { cwd: work, env: baseEnv({ REPO_USER: USER, REPO_PASS: 'wrong' }) });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('refused the credentials from auth: in the manifest (usernameEnv REPO_USER, passwordEnv REPO_PASS)');
    expect(bad.stderr).not.toContain('wrong');
  });

  it('an archive on another host gets no credentials (pass_credentials_all: false), and does with pass_credentials_all: true', async () => {
    const m = await manifest('distant', ['charts:', `  - { repo: "${repo.url}/charts", name: distant, version: 1.0.0, images: [] }`]);
    const before = (await other.log()).length;
    const cfg = await helmConfig('helm-b', [{ name: 'corp', url: `${repo.url}/charts`, username: USER, password: PASSWORD }]);
    const r = await runFerry(['lock', m, '-o', path.join(work, 'distant.lock.json')], { cwd: work, env: baseEnv({ HELM_REPOSITORY_CONFIG: cfg, FERRY_CACHE_DIR: path.join(work, 'cache-b') }) });
    expect(r.code, r.stderr).toBe(0);
    const got = (await other.log()).slice(before).filter((l) => l.startsWith('/archives/distant-1.0.0.tgz '));
    expect(got.length).toBeGreaterThan(0);
    for (const l of got) expect(l).toMatch(/ -$/);
    const all = await helmConfig('helm-c', [{ name: 'corp', url: `${repo.url}/charts`, username: USER, password: PASSWORD, pass_credentials_all: true }]);
    const mid = (await other.log()).length;
    const r2 = await runFerry(['lock', m, '-o', path.join(work, 'distant2.lock.json')], { cwd: work, env: baseEnv({ HELM_REPOSITORY_CONFIG: all, FERRY_CACHE_DIR: path.join(work, 'cache-c') }) });
    expect(r2.code, r2.stderr).toBe(0);
    const sent = (await other.log()).slice(mid).filter((l) => l.startsWith('/archives/distant-1.0.0.tgz '));
    expect(sent.some((l) => l.endsWith(` Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`))).toBe(true);
  });

  it('a redirect to another host carries no credentials', async () => {
    const m = await manifest('hopped', ['charts:', `  - { repo: "${repo.url}/charts", name: hopped, version: 1.0.0, images: [], auth: { usernameEnv: REPO_USER, passwordEnv: REPO_PASS } }`]);
    const before = (await other.log()).length;
    const r = await runFerry(['lock', m, '-o', path.join(work, 'hopped.lock.json')], { cwd: work, env: baseEnv({ REPO_USER: USER, REPO_PASS: PASSWORD }) });
    expect(r.code, r.stderr).toBe(0);
    const hop = (await repo.log()).filter((l) => l.startsWith('/charts/hop/hopped-1.0.0.tgz '));
    expect(hop.some((l) => l.includes(' Basic '))).toBe(true);
    const got = (await other.log()).slice(before).filter((l) => l.startsWith('/archives/hopped-1.0.0.tgz '));
    expect(got.length).toBeGreaterThan(0);
    for (const l of got) expect(l).toMatch(/ -$/);
  });

  it("over TLS with the entry's caFile: trusted for that repository; without it the certificate is refused", async () => {
    const m = await manifest('tls', ['charts:', `  - { repo: "${tlsRepo.url}/charts", name: hello, version: 1.0.0, images: [] }`]);
    const cfg = await helmConfig('helm-tls', [{ name: 'tls', url: `${tlsRepo.url}/charts`, username: USER, password: PASSWORD, caFile }]);
    const r = await runFerry(['lock', m, '-o', path.join(work, 'tls.lock.json')], { cwd: work, env: baseEnv({ HELM_REPOSITORY_CONFIG: cfg, FERRY_CACHE_DIR: path.join(work, 'cache-tls') }) });
    expect(r.code, r.stderr).toBe(0);
    const noCa = await helmConfig('helm-tls-noca', [{ name: 'tls', url: `${tlsRepo.url}/charts`, username: USER, password: PASSWORD }]);
    const r2 = await runFerry(['lock', m, '-o', path.join(work, 'tls2.lock.json')], { cwd: work, env: baseEnv({ HELM_REPOSITORY_CONFIG: noCa, FERRY_CACHE_DIR: path.join(work, 'cache-tls2') }) });
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toMatch(/certificate|CA/);
  });

  it("a repository that wants a client certificate: the entry's certFile/keyFile presented", async () => {
    const m = await manifest('mtls', ['charts:', `  - { repo: "${mtlsRepo.url}/charts", name: hello, version: 1.0.0, images: [] }`]);
    const cfg = await helmConfig('helm-mtls', [{ name: 'mtls', url: `${mtlsRepo.url}/charts`, username: USER, password: PASSWORD, caFile, certFile: clientCert.certFile, keyFile: clientCert.keyFile }]);
    const r = await runFerry(['lock', m, '-o', path.join(work, 'mtls.lock.json')], { cwd: work, env: baseEnv({ HELM_REPOSITORY_CONFIG: cfg, FERRY_CACHE_DIR: path.join(work, 'cache-mtls') }) });
    expect(r.code, r.stderr).toBe(0);
    const noCert = await helmConfig('helm-mtls-no', [{ name: 'mtls', url: `${mtlsRepo.url}/charts`, username: USER, password: PASSWORD, caFile }]);
    const r2 = await runFerry(['lock', m, '-o', path.join(work, 'mtls2.lock.json')], { cwd: work, env: baseEnv({ HELM_REPOSITORY_CONFIG: noCert, FERRY_CACHE_DIR: path.join(work, 'cache-mtls2') }) });
    expect(r2.code).not.toBe(0);
  });

  it('insecure_skip_tls_verify in repositories.yaml is refused, named (ferry never skips verification upstream)', async () => {
    const m = await manifest('tls-skip', ['charts:', `  - { repo: "${tlsRepo.url}/charts", name: hello, version: 1.0.0, images: [] }`]);
    const cfg = await helmConfig('helm-skip', [{ name: 'skip', url: `${tlsRepo.url}/charts`, insecure_skip_tls_verify: true }]);
    const r = await runFerry(['lock', m, '-o', path.join(work, 'skip.lock.json')], { cwd: work, env: baseEnv({ HELM_REPOSITORY_CONFIG: cfg }) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('insecure_skip_tls_verify');
  });
});

describe('an APT repository behind basic auth', () => {
  const aptManifest = (auth = '') => manifest(`apt${auth ? '-auth' : ''}`, ['apt:', `  - { name: vendor, url: "${repo.url}/apt", suites: [stable], components: [main], architectures: [amd64], keys: [vendor.asc]${auth} }`]);

  it("apt's auth.conf: a machine with http:// explicitly is used; one without a protocol matches https only (as apt)", async () => {
    const m = await aptManifest();
    const host = new URL(repo.url).host;
    const httpsOnly = path.join(work, 'apt-https-only');
    await mkdir(path.join(httpsOnly, 'auth.conf.d'), { recursive: true });
    await writeFile(path.join(httpsOnly, 'auth.conf.d', 'vendor.conf'), `machine ${host}/apt login ${USER} password ${PASSWORD}\n`);
    const no = await runFerry(['lock', m, '-o', path.join(work, 'apt-no.lock.json')], { cwd: work, env: baseEnv({ FERRY_APT_AUTH_CONF_DIR: httpsOnly }) });
    expect(no.code).not.toBe(0);
    expect(no.stderr).toContain('HTTP 401');
    expect(no.stderr).toContain('auth.conf');
    const dir = path.join(work, 'apt-conf');
    await mkdir(path.join(dir, 'auth.conf.d'), { recursive: true });
    // The first match wins: a wrong login for another path first, then this repository's.
    await writeFile(path.join(dir, 'auth.conf'), `machine http://${host}/elsewhere login nobody password nothing\nmachine http://${host}/apt\n  login ${USER}\n  password ${PASSWORD}\n`);
    const out = path.join(work, 'apt.lock.json');
    const r = await runFerry(['lock', m, '-o', out], { cwd: work, env: baseEnv({ FERRY_APT_AUTH_CONF_DIR: dir }) });
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(out, 'utf8')).not.toContain(PASSWORD);
  });

  it("the manifest's auth: for lock and bundle create (the .deb fetched with it)", async () => {
    const m = await aptManifest(', auth: { usernameEnv: APT_USER, passwordEnv: APT_PASS }');
    const bundle = path.join(work, 'apt.ferry.tar');
    const creds = { APT_USER: USER, APT_PASS: PASSWORD };
    const locked = await runFerry(['lock', m], { cwd: work, env: baseEnv(creds) });
    expect(locked.code, locked.stderr).toBe(0);
    expect(await readFile(m.replace(/\.yaml$/, '.lock.json'), 'utf8').catch(() => '')).not.toContain(PASSWORD);
    const before = (await repo.log()).length;
    const r = await runFerry(['bundle', 'create', m, '--frozen', '-o', bundle], { cwd: work, env: baseEnv({ ...creds, FERRY_CACHE_DIR: path.join(work, 'cache-apt-fetch') }) });
    expect(r.code, r.stderr).toBe(0);
    const log = (await repo.log()).slice(before);
    expect(log.some((l) => l.startsWith('/apt/pool/main/app_1.0_all.deb ') && l.includes(' Basic '))).toBe(true);
  });
});
