import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { mustRun } from './cli.js';
import { startTokenServer, type RunningTokenServer } from './token-server.js';

/**
 * Real CNCF Distribution registries (Debian's `docker-registry`) on loopback, in four modes:
 * plain HTTP, TLS with a CA generated per run, htpasswd basic auth, and bearer-token auth with
 * the in-process token server. Each one gets its own storage dir and a free port.
 */
export type RegistryMode = 'http' | 'tls' | 'basic' | 'token';

export interface RunningRegistry {
  /** 127.0.0.1:port — the registry part of image references. */
  host: string;
  /** http(s)://127.0.0.1:port */
  url: string;
  mode: RegistryMode;
  tls: boolean;
  /** The CA that signed the server certificate (TLS registries). */
  caFile?: string;
  /** A directory with `ca.crt` (and, with `clientCa`, `client.cert` + `client.key`), for skopeo's --cert-dir / containers' certs.d. */
  certDir?: string;
  /** With `clientCa`: the client certificate the registry accepts, its key, and the CA that signed it. */
  clientCert?: { certFile: string; keyFile: string; caFile: string };
  username?: string;
  password?: string;
  /** A DOCKER_CONFIG dir with working credentials (auth modes). */
  dockerConfigDir?: string;
  storageDir: string;
  /** The run's working dir (config, certs, storage). */
  dir: string;
  tokenServer?: RunningTokenServer;
  /** Last lines the registry logged, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  mode: RegistryMode;
  /** Working dir (default: a fresh temp dir, removed on stop). */
  dir?: string;
  /** Serve HTTPS. Default: true for tls and basic, false for http and token. */
  tls?: boolean;
  username?: string;
  password?: string;
  /** Token lifetime for token mode (seconds). */
  tokenExpiresIn?: number;
  /** Token mode: an identity (refresh) token the token server also accepts for the user. */
  identityToken?: string;
  /** TLS registries: require a client certificate signed by a CA made for the run (`http.tls.clientcas`). */
  clientCa?: boolean;
}

export const REGISTRY_BIN = process.env.FERRY_TEST_REGISTRY_BIN ?? '/usr/bin/docker-registry';

/** Registries this process started: killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestCa {
  caFile: string;
  caKey: string;
  certFile: string;
  keyFile: string;
}

/** A CA and a server certificate for 127.0.0.1 and localhost (SAN; `san` replaces them), made with openssl. */
export async function makeTestCa(dir: string, cn = 'ferry-test-ca', san = 'IP:127.0.0.1,DNS:localhost'): Promise<TestCa> {
  await mkdir(dir, { recursive: true });
  const caKey = path.join(dir, 'ca.key');
  const caFile = path.join(dir, 'ca.pem');
  const keyFile = path.join(dir, 'server.key');
  const csr = path.join(dir, 'server.csr');
  const certFile = path.join(dir, 'server.pem');
  const ext = path.join(dir, 'server.ext');
  await mustRun('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await mustRun('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', '/CN=127.0.0.1']);
  await writeFile(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
  await mustRun('openssl', ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext]);
  return { caFile, caKey, certFile, keyFile };
}

/** A client CA and a client certificate it signed (extendedKeyUsage clientAuth), made with openssl. */
export async function makeClientCert(dir: string, cn = 'ferry-test-client'): Promise<{ certFile: string; keyFile: string; caFile: string }> {
  // The CA of makeTestCa (its server certificate is not used).
  const { caFile, caKey } = await makeTestCa(dir, `${cn}-ca`);
  const [keyFile, csr, certFile, ext] = ['client.key', 'client.csr', 'client.pem', 'client.ext'].map((f) => path.join(dir, f));
  await writeFile(ext, 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n');
  await mustRun('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${cn}`]);
  await mustRun('openssl', ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext]);
  return { certFile, keyFile, caFile };
}

function yamlString(s: string): string {
  return JSON.stringify(s);
}

export async function startRegistry(opts: StartRegistryOptions): Promise<RunningRegistry> {
  const ownDir = !opts.dir;
  const dir = opts.dir ?? (await mkdtemp(path.join(os.tmpdir(), `ferry-registry-${opts.mode}-`)));
  await mkdir(dir, { recursive: true });
  const storageDir = path.join(dir, 'storage');
  await mkdir(storageDir, { recursive: true });
  const useTls = opts.tls ?? (opts.mode === 'tls' || opts.mode === 'basic');
  const username = opts.mode === 'basic' || opts.mode === 'token' ? (opts.username ?? 'ferry') : undefined;
  const password = username ? (opts.password ?? `pw-${Math.random().toString(36).slice(2, 10)}`) : undefined;

  let ca: TestCa | undefined;
  let certDir: string | undefined;
  if (useTls) {
    ca = await makeTestCa(path.join(dir, 'pki'));
    certDir = path.join(dir, 'certs.d');
    await mkdir(certDir, { recursive: true });
    await copyFile(ca.caFile, path.join(certDir, 'ca.crt'));
  }
  let clientCert: { certFile: string; keyFile: string; caFile: string } | undefined;
  if (opts.clientCa) {
    if (!ca || !certDir) throw new Error('clientCa needs a TLS registry');
    clientCert = await makeClientCert(path.join(dir, 'client-pki'));
    await copyFile(clientCert.certFile, path.join(certDir, 'client.cert'));
    await copyFile(clientCert.keyFile, path.join(certDir, 'client.key'));
  }

  let tokenServer: RunningTokenServer | undefined;
  let authYaml = '';
  if (opts.mode === 'basic') {
    const htpasswd = path.join(dir, 'htpasswd');
    const r = await mustRun('htpasswd', ['-Bbn', username!, password!]);
    await writeFile(htpasswd, r.stdout);
    authYaml = `auth:\n  htpasswd:\n    realm: ferry-basic\n    path: ${yamlString(htpasswd)}\n`;
  } else if (opts.mode === 'token') {
    const tokDir = path.join(dir, 'token');
    await mkdir(tokDir, { recursive: true });
    const key = path.join(tokDir, 'signing.key');
    const cert = path.join(tokDir, 'signing.pem');
    await mustRun('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=ferry-test-token-signer']);
    tokenServer = await startTokenServer({
      keyFile: key,
      certFile: cert,
      users: { [username!]: password! },
      expiresIn: opts.tokenExpiresIn,
      refreshTokens: opts.identityToken ? { [username!]: opts.identityToken } : undefined,
    });
    authYaml =
      `auth:\n  token:\n    realm: ${yamlString(tokenServer.realm)}\n    service: ${yamlString(tokenServer.service)}\n` +
      `    issuer: ${yamlString(tokenServer.issuer)}\n    rootcertbundle: ${yamlString(cert)}\n`;
  }

  let dockerConfigDir: string | undefined;
  let lastErr = '';
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const url = `${useTls ? 'https' : 'http'}://${host}`;
    const config =
      `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n` +
      `storage:\n  filesystem:\n    rootdirectory: ${yamlString(storageDir)}\n  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\n` +
      `http:\n  addr: ${host}\n  secret: ferry-test-secret-${port}\n` +
      (ca ? `  tls:\n    certificate: ${yamlString(ca.certFile)}\n    key: ${yamlString(ca.keyFile)}\n` : '') +
      (clientCert ? `    clientcas:\n      - ${yamlString(clientCert.caFile)}\n` : '') +
      authYaml;
    const configFile = path.join(dir, 'config.yml');
    await writeFile(configFile, config);
    const env: NodeJS.ProcessEnv = {};
    // REGISTRY_* variables override the config file; keep the test's environment out of it.
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_') && !k.startsWith('OTEL_')) env[k] = v;
    const child = spawn(REGISTRY_BIN, ['serve', configFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    let log = '';
    const keep = (d: Buffer) => {
      log = (log + d.toString()).slice(-20_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let exited = false;
    child.on('exit', () => (exited = true));
    const up = await waitUntilUp(url, ca?.caFile, () => exited, 30_000, clientCert);
    if (!up) {
      lastErr = log;
      await killChild(child);
      if (/address already in use/i.test(log)) continue;
      throw new Error(`docker-registry (${opts.mode}) did not come up on ${host}:\n${log.slice(-3000)}`);
    }
    if (username) {
      dockerConfigDir = path.join(dir, 'docker-config');
      await mkdir(dockerConfigDir, { recursive: true });
      await writeFile(
        path.join(dockerConfigDir, 'config.json'),
        JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } } }, null, 2),
      );
    }
    return {
      host,
      url,
      mode: opts.mode,
      tls: useTls,
      caFile: ca?.caFile,
      certDir,
      ...(clientCert ? { clientCert } : {}),
      username,
      password,
      dockerConfigDir,
      storageDir,
      dir,
      tokenServer,
      logs: () => log,
      stop: async () => {
        await killChild(child);
        await tokenServer?.stop();
        if (ownDir) await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await tokenServer?.stop();
  throw new Error(`docker-registry (${opts.mode}) could not get a free port:\n${lastErr.slice(-2000)}`);
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function waitUntilUp(url: string, caFile: string | undefined, exited: () => boolean, timeoutMs: number, client?: { certFile: string; keyFile: string }): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const ca = caFile ? readFileSync(caFile) : undefined;
  const clientTls = client ? { cert: readFileSync(client.certFile), key: readFileSync(client.keyFile) } : {};
  while (Date.now() < deadline) {
    if (exited()) return false;
    const status = await new Promise<number | undefined>((resolve) => {
      const mod = url.startsWith('https') ? https : http;
      const req = mod.get(`${url}/v2/`, { ca, ...clientTls, timeout: 2000 } as https.RequestOptions, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', () => resolve(undefined));
      req.on('timeout', () => {
        req.destroy();
        resolve(undefined);
      });
    });
    if (status === 200 || status === 401) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** skopeo flags to talk to this registry as source (`src`) or destination (`dest`), or for inspect (''). */
export function skopeoTlsArgs(reg: RunningRegistry, side: 'src' | 'dest' | '' = ''): string[] {
  const p = side ? `--${side}-` : '--';
  const args: string[] = [];
  if (!reg.tls) args.push(`${p}tls-verify=false`);
  else args.push(`${p}cert-dir`, reg.certDir!);
  if (reg.username) args.push(`${p}creds`, `${reg.username}:${reg.password}`);
  return args;
}

/** Environment for skopeo: no stray auth file from the host. */
export function skopeoEnv(_reg?: RunningRegistry): NodeJS.ProcessEnv {
  const none = path.join(os.tmpdir(), 'ferry-test-no-credentials');
  return { REGISTRY_AUTH_FILE: path.join(none, 'auth.json'), DOCKER_CONFIG: none };
}

/** Environment for the ferry CLI to reach this registry: its CA and a DOCKER_CONFIG with working credentials. */
export function ferryEnv(reg: RunningRegistry): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  if (reg.caFile) env.NODE_EXTRA_CA_CERTS = reg.caFile;
  if (reg.dockerConfigDir) env.DOCKER_CONFIG = reg.dockerConfigDir;
  return env;
}

/** `docker://127.0.0.1:port/<repo>:<tag>` */
export function dockerRef(reg: RunningRegistry, repoAndTag: string): string {
  return `docker://${reg.host}/${repoAndTag}`;
}
