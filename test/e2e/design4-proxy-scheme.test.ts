import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStaticServer, type StaticServer } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { makeTestCa, type TestCa } from '../support/registry.js';
import { startSquid, type Squid } from '../support/squid.js';

/**
 * Which proxy a request takes, as Go's http.ProxyFromEnvironment (docker, skopeo, helm,
 * containerd) and curl decide it: HTTPS_PROXY for https, HTTP_PROXY for http, never the other.
 * Against a real squid whose access log says what went through it, and nginx serving a file over
 * TLS and plain HTTP. The hosts (`*.design4.test`) resolve only in squid's hosts_file: sent
 * direct, a request fails to resolve its name, which tells the two paths apart.
 */
let work: string;
let ca: TestCa;
let tlsFiles: StaticServer;
let plainFiles: StaticServer;
let squid: Squid;
let accessLog: string;
let sha256: string;
const HOSTS = ['a', 'b', 'c', 'd'].map((x) => `${x}.design4.test`);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-design4-proxy-'));
  await chmod(work, 0o755);
  ca = await makeTestCa(path.join(work, 'pki'), 'design4-ca', ['IP:127.0.0.1', ...HOSTS.map((h) => `DNS:${h}`)].join(','));
  const root = path.join(work, 'www');
  await mkdir(root, { recursive: true });
  const data = Buffer.from('design4 payload\n'.repeat(64));
  sha256 = createHash('sha256').update(data).digest('hex');
  await writeFile(path.join(root, 'data.bin'), data);
  tlsFiles = await startStaticServer(root, { tls: ca });
  plainFiles = await startStaticServer(root);
  const squidDir = path.join(work, 'squid');
  await mkdir(squidDir, { recursive: true });
  await chmod(squidDir, 0o777);
  const hosts = path.join(squidDir, 'hosts');
  await writeFile(hosts, HOSTS.map((h) => `127.0.0.1 ${h}\n`).join(''));
  await chmod(hosts, 0o644);
  accessLog = path.join(squidDir, 'access.log');
  squid = await startSquid(squidDir, { accessLog, config: [`hosts_file ${hosts}`, 'http_access allow all'] });
}, 120_000);

afterAll(async () => {
  await squid?.stop();
  await tlsFiles?.stop();
  await plainFiles?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const NO_ENV = { HTTPS_PROXY: '', https_proxy: '', HTTP_PROXY: '', http_proxy: '', NO_PROXY: '', no_proxy: '', SSL_CERT_DIR: '', NODE_EXTRA_CA_CERTS: '' };
const proxy = () => `http://127.0.0.1:${squid.ports[0]}`;

let n = 0;
async function lock(url: string, env: NodeJS.ProcessEnv) {
  const dir = path.join(work, `p${++n}`);
  await mkdir(path.join(dir, 'home'), { recursive: true });
  await writeFile(path.join(dir, 'ferry.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: design4 }', 'files:', '  - name: data', `    url: ${url}`, ''].join('\n'));
  const r = await runFerry(['lock', 'ferry.yaml'], {
    cwd: dir,
    timeoutMs: 60_000,
    env: { ...NO_ENV, SSL_CERT_FILE: ca.caFile, HOME: path.join(dir, 'home'), FERRY_CACHE_DIR: path.join(dir, 'cache'), FERRY_RETRY_MIN_MS: '20', FERRY_RETRIES: '1', ...env },
  });
  const lockText = await readFile(path.join(dir, 'design4.lock.json'), 'utf8').catch(() => '');
  return { ...r, lockText };
}

/** squid's access log once it names `host` (it writes a request's line when the request ends). */
async function logNaming(host: string): Promise<string> {
  for (let i = 0; ; i++) {
    const text = await readFile(accessLog, 'utf8').catch(() => '');
    if (text.includes(host) || i === 100) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the proxy of the request\'s scheme, as Go and curl pick it', () => {
  it('HTTP_PROXY alone: an https download goes direct (squid never sees it); HTTPS_PROXY: through squid', async () => {
    const [direct, tunnelled] = HOSTS;
    const alone = await lock(`https://${direct}:${tlsFiles.port}/data.bin`, { HTTP_PROXY: proxy() });
    // Direct, the name resolves nowhere: the failure names the host, not the proxy.
    expect(alone.code, alone.stderr).toBe(4);
    expect(alone.stderr).toContain(direct);
    expect(alone.stderr).not.toContain(`proxy 127.0.0.1:${squid.ports[0]}`);

    const viaHttps = await lock(`https://${tunnelled}:${tlsFiles.port}/data.bin`, { HTTPS_PROXY: proxy() });
    expect(viaHttps.code, viaHttps.stderr).toBe(0);
    expect(viaHttps.lockText).toContain(sha256);
    // The tunnelled request's line is logged after any line the first request would have made.
    const log = await logNaming(tunnelled);
    expect(log).toMatch(new RegExp(`CONNECT ${tunnelled.replace(/\./g, '\\.')}:${tlsFiles.port}`));
    expect(log).not.toContain(direct);
  });

  it('the lower-case http_proxy alone the same; HTTP_PROXY still carries plain http', async () => {
    const [, , direct, plain] = HOSTS;
    const alone = await lock(`https://${direct}:${tlsFiles.port}/data.bin`, { http_proxy: proxy() });
    expect(alone.code, alone.stderr).toBe(4);
    expect(alone.stderr).toContain(direct);

    const viaHttp = await lock(`http://${plain}:${plainFiles.port}/data.bin`, { HTTP_PROXY: proxy() });
    expect(viaHttp.code, viaHttp.stderr).toBe(0);
    expect(viaHttp.lockText).toContain(sha256);
    const log = await logNaming(plain);
    expect(log).toContain(`GET http://${plain}:${plainFiles.port}/data.bin`);
    expect(log).not.toContain(direct);
  });
});
