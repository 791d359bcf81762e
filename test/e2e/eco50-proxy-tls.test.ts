import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStaticServer, type StaticServer } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { makeTestCa, type TestCa } from '../support/registry.js';
import { startSquid, type Squid } from '../support/squid.js';

/**
 * The proxy and CA settings a platform engineer's curl, skopeo and helm already honour, against
 * real components: nginx serving a file over TLS with a CA made by openssl, and squid as the
 * HTTPS proxy with basic auth (basic_ncsa_auth). The file's host, `files.eco50.test`, resolves
 * only in squid's hosts_file: fetched through the proxy it works, sent direct (NO_PROXY) it
 * cannot resolve — which tells the two paths apart.
 */
let work: string;
let ca: TestCa;
let nginx: StaticServer;
let squid: Squid;
let sha256: string;
const PROXY_PASSWORD = 'eco50-Pr0xy$pw';
const NAME = 'files.eco50.test';

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-eco50-net-'));
  await chmod(work, 0o755);
  ca = await makeTestCa(path.join(work, 'pki'), 'eco50-ca', `IP:127.0.0.1,DNS:${NAME}`);
  const root = path.join(work, 'www');
  await mkdir(root, { recursive: true });
  const data = Buffer.from('eco50 payload\n'.repeat(100));
  sha256 = createHash('sha256').update(data).digest('hex');
  await writeFile(path.join(root, 'data.bin'), data);
  nginx = await startStaticServer(root, { tls: ca });
  const squidDir = path.join(work, 'squid');
  await mkdir(squidDir, { recursive: true });
  await chmod(squidDir, 0o777);
  const hosts = path.join(squidDir, 'hosts');
  await writeFile(hosts, `127.0.0.1 ${NAME}\n`);
  await chmod(hosts, 0o644);
  squid = await startSquid(squidDir, { password: PROXY_PASSWORD, config: [`hosts_file ${hosts}`, 'http_access deny !authed', 'http_access allow authed', 'http_access deny all'] });
}, 120_000);

afterAll(async () => {
  await squid?.stop();
  await nginx?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const NO_ENV = { HTTPS_PROXY: '', https_proxy: '', HTTP_PROXY: '', http_proxy: '', NO_PROXY: '', no_proxy: '', SSL_CERT_FILE: '', SSL_CERT_DIR: '', NODE_EXTRA_CA_CERTS: '' };

let n = 0;
async function lock(host: string, env: NodeJS.ProcessEnv, args: string[] = []) {
  const dir = path.join(work, `p${++n}`);
  await mkdir(path.join(dir, 'home'), { recursive: true });
  const url = `https://${host}:${nginx.port}/data.bin`;
  await writeFile(path.join(dir, 'ferry.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: eco50 }', 'files:', '  - name: data', `    url: ${url}`, ''].join('\n'));
  const r = await runFerry(['lock', 'ferry.yaml', ...args], {
    cwd: dir,
    timeoutMs: 60_000,
    env: { ...NO_ENV, HOME: path.join(dir, 'home'), FERRY_CACHE_DIR: path.join(dir, 'cache'), FERRY_RETRY_MIN_MS: '20', FERRY_RETRIES: '1', ...env },
  });
  const lockText = await readFile(path.join(dir, 'eco50.lock.json'), 'utf8').catch(() => '');
  for (const text of [r.stdout, r.stderr, lockText]) expect(text).not.toContain(PROXY_PASSWORD);
  return { ...r, dir, lockText };
}

const proxyUrl = (password = PROXY_PASSWORD) => `http://ferry:${encodeURIComponent(password)}@127.0.0.1:${squid.ports[0]}`;

describe('custom CAs', () => {
  it('without the CA the file server is refused, with a TLS error naming the host', async () => {
    const r = await lock('127.0.0.1', {});
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`127.0.0.1:${nginx.port}`);
  });

  it('SSL_CERT_FILE', async () => {
    const r = await lock('127.0.0.1', { SSL_CERT_FILE: ca.caFile });
    expect(r.code, r.stderr).toBe(0);
    expect(r.lockText).toContain(sha256);
  });

  it('SSL_CERT_DIR (a directory of PEM files, as OpenSSL and Go read it; other files in it are skipped)', async () => {
    const certDir = path.join(work, 'ssl-certs');
    await mkdir(certDir, { recursive: true });
    await copyFile(ca.caFile, path.join(certDir, 'eco50-ca.pem'));
    await writeFile(path.join(certDir, 'README'), 'not a certificate\n');
    const r = await lock('127.0.0.1', { SSL_CERT_DIR: `${path.join(work, 'missing')}:${certDir}` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.lockText).toContain(sha256);
  });

  it('--ca-file', async () => {
    const r = await lock('127.0.0.1', {}, ['--ca-file', ca.caFile]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('~/.config/containers/certs.d/<host:port>/ca.crt', async () => {
    const dir = path.join(work, 'certsd-home');
    const hostDir = path.join(dir, '.config', 'containers', 'certs.d', `127.0.0.1:${nginx.port}`);
    await mkdir(hostDir, { recursive: true });
    await copyFile(ca.caFile, path.join(hostDir, 'ca.crt'));
    const r = await lock('127.0.0.1', { HOME: dir });
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('HTTPS_PROXY through squid with basic auth', () => {
  // Every run here has the lower-case variables set empty (NO_ENV), as a profile script that
  // clears them leaves them: an empty value is unset (Go, curl), it must not hide the upper case.
  it('HTTPS_PROXY=http://user:pass@proxy beside an empty https_proxy: the file arrives through the tunnel, the CA applied inside it', async () => {
    const r = await lock(NAME, { HTTPS_PROXY: proxyUrl(), SSL_CERT_FILE: ca.caFile });
    expect(r.code, r.stderr).toBe(0);
    expect(r.lockText).toContain(sha256);
  });

  it('the lower-case https_proxy the same', async () => {
    const r = await lock(NAME, { https_proxy: proxyUrl(), SSL_CERT_FILE: ca.caFile });
    expect(r.code, r.stderr).toBe(0);
  });

  it('a wrong proxy password: the proxy named with its 407, its password never printed', async () => {
    const r = await lock(NAME, { HTTPS_PROXY: proxyUrl('wrong-Pa55-eco50'), SSL_CERT_FILE: ca.caFile });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`proxy 127.0.0.1:${squid.ports[0]}`);
    expect(r.stderr).toContain('407');
    expect(r.stderr).not.toContain('wrong-Pa55-eco50');
  });

  for (const noProxy of [`.eco50.test`, 'eco50.test', `${NAME}:${'PORT'}`, '*', `other.example, ${NAME}`]) {
    it(`NO_PROXY=${noProxy} sends it direct (where the name does not resolve)`, async () => {
      const r = await lock(NAME, { HTTPS_PROXY: proxyUrl(), SSL_CERT_FILE: ca.caFile, NO_PROXY: noProxy.replace('PORT', String(nginx.port)) });
      expect(r.code).toBe(4);
      expect(r.stderr).toContain(NAME);
      expect(r.stderr).not.toContain(`proxy 127.0.0.1:${squid.ports[0]}`);
    });
  }

  it('NO_PROXY naming another port of the host still uses the proxy', async () => {
    const r = await lock(NAME, { HTTPS_PROXY: proxyUrl(), SSL_CERT_FILE: ca.caFile, NO_PROXY: `${NAME}:1` });
    expect(r.code, r.stderr).toBe(0);
  });

  it('the lower-case no_proxy the same', async () => {
    const r = await lock(NAME, { https_proxy: proxyUrl(), SSL_CERT_FILE: ca.caFile, no_proxy: '.eco50.test' });
    expect(r.code).toBe(4);
    expect(r.stderr).not.toContain(`proxy 127.0.0.1:${squid.ports[0]}`);
  });
});
