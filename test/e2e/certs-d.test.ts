import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { FerryError } from '../../src/errors.js';
import { HttpClient } from '../../src/net/http.js';
import { RegistryClient } from '../../src/oci/client.js';
import { CredentialStore } from '../../src/oci/credentials.js';
import { mustRun, runFerry } from '../support/cli.js';
import { startConnectProxy } from '../support/fault-proxy.js';
import { seedImages, skopeoDigest, type SeededImages } from '../support/images.js';
import { skopeoEnv, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * Per-registry TLS from certs.d directories, as podman, skopeo and docker find it, against real
 * registries that require a client certificate (docker-registry with `http.tls.clientcas`):
 * `--cert-dir`, `$HOME/.config/containers/certs.d/<host:port>` and a mirror target's `certDir`,
 * each holding the registry's CA (ca.crt) and the client certificate (client.cert + client.key).
 * skopeo reads the same directories, as an independent check of their layout.
 */
let work: string;
let upstream: RunningRegistry;
let seeded: SeededImages;
let n = 0;
const FAST = { retries: 0, minTimeoutMs: 1, maxTimeoutMs: 1, maxRetryAfterMs: 1 };

/** A fresh HOME (so no certs.d but the test's own), no CA from the environment. */
async function freshHome(): Promise<string> {
  const home = path.join(work, `home-${++n}`);
  await mkdir(home, { recursive: true });
  return home;
}
const env = (home: string) => ({
  HOME: home,
  FERRY_CACHE_DIR: path.join(work, 'cache'),
  FERRY_RETRIES: '0',
  DOCKER_CONFIG: path.join(home, '.docker'),
  REGISTRY_AUTH_FILE: path.join(home, 'auth.json'),
  NODE_EXTRA_CA_CERTS: '',
  SSL_CERT_FILE: '',
});

async function manifestFor(name: string): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'manifest.yaml');
  await writeFile(file, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name }, images: [{ ref: seeded.refs.app }] }));
  return file;
}

/** `<name>.lock.json` beside the manifest (its directory is named after it). */
const lockOf = (manifest: string) => path.join(path.dirname(manifest), `${path.basename(path.dirname(manifest))}.lock.json`);
const lockedDigest = async (manifest: string) => JSON.parse(await readFile(lockOf(manifest), 'utf8')).images[0].digest as string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-certs-d-'));
  upstream = await startRegistry({ mode: 'tls', clientCa: true });
  // skopeo pushes through the same directory (--dest-cert-dir): ca.crt, client.cert, client.key.
  seeded = await seedImages(upstream);
}, 300_000);

afterAll(async () => {
  await upstream?.stop();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

describe('a registry that requires a client certificate', () => {
  it('without one, lock fails saying the server wants a client certificate and where ferry looked', async () => {
    const home = await freshHome();
    const manifest = await manifestFor('none');
    const r = await runFerry(['lock', manifest, '--ca-file', upstream.caFile!], { env: env(home) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${upstream.host}: the server requires a client certificate (mutual TLS) and ferry has none for ${upstream.host}`);
    for (const dir of [path.join(home, '.config/containers/certs.d', upstream.host), path.join('/etc/containers/certs.d', upstream.host), path.join('/etc/docker/certs.d', upstream.host)]) {
      expect(r.stderr).toContain(dir);
    }
    expect(r.stderr).toContain('--cert-dir');
    expect(existsSync(lockOf(manifest))).toBe(false);
  });

  it('lock with --cert-dir: the directory\'s ca.crt is trusted for the host and its client certificate is sent', async () => {
    const home = await freshHome();
    const manifest = await manifestFor('cert-dir');
    // No --ca-file: the CA comes from ca.crt in the directory.
    const r = await runFerry(['lock', manifest, '--cert-dir', upstream.certDir!], { env: env(home) });
    expect(r.code, r.stderr).toBe(0);
    expect(await lockedDigest(manifest)).toBe(seeded.digests.app);
  });

  it('lock and bundle create find $HOME/.config/containers/certs.d/<host:port>, the directory skopeo reads too', async () => {
    const home = await freshHome();
    const hostDir = path.join(home, '.config/containers/certs.d', upstream.host);
    await cp(upstream.certDir!, hostDir, { recursive: true });
    const manifest = await manifestFor('home');
    const lock = await runFerry(['lock', manifest], { env: env(home) });
    expect(lock.code, lock.stderr).toBe(0);
    expect(await lockedDigest(manifest)).toBe(seeded.digests.app);
    const bundle = path.join(path.dirname(manifest), 'app.ferry.tar');
    const create = await runFerry(['bundle', 'create', manifest, '-o', bundle], { env: { ...env(home), FERRY_CACHE_DIR: path.join(home, 'cache') } });
    expect(create.code, create.stderr).toBe(0);
    expect(existsSync(bundle)).toBe(true);
    // skopeo, with --src-cert-dir on that same directory, copies the image with the same digest.
    await mustRun('skopeo', ['copy', '--src-cert-dir', hostDir, `docker://${seeded.refs.app}`, `oci:${path.join(home, 'skopeo-oci')}:app`], { env: skopeoEnv() });
    const inspected = await mustRun('skopeo', ['inspect', '--raw', `oci:${path.join(home, 'skopeo-oci')}:app`], { env: skopeoEnv() });
    expect(inspected.stdout.length).toBeGreaterThan(0);
    const verify = await runFerry(['bundle', 'verify', bundle], { env: env(home) });
    expect(verify.code, verify.stderr).toBe(0);
  });

  it('a certs.d directory without the key of its client certificate is refused, naming both files', async () => {
    const home = await freshHome();
    const hostDir = path.join(home, '.config/containers/certs.d', upstream.host);
    await mkdir(hostDir, { recursive: true });
    await cp(path.join(upstream.certDir!, 'ca.crt'), path.join(hostDir, 'ca.crt'));
    await cp(path.join(upstream.certDir!, 'client.cert'), path.join(hostDir, 'client.cert'));
    const r = await runFerry(['lock', await manifestFor('nokey')], { env: env(home) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${path.join(hostDir, 'client.cert')}: client certificate without its key ${path.join(hostDir, 'client.key')}`);
  });

  it('a certs.d directory for another host:port is not used for this one', async () => {
    const home = await freshHome();
    const [h, port] = upstream.host.split(':');
    await cp(upstream.certDir!, path.join(home, '.config/containers/certs.d', `${h}:${Number(port) + 1}`), { recursive: true });
    const r = await runFerry(['lock', await manifestFor('other-port'), '--ca-file', upstream.caFile!], { env: env(home) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('the server requires a client certificate');
  });

  it('through an HTTPS proxy (CONNECT tunnel) the host\'s certs.d settings apply inside the tunnel', async () => {
    const proxy = await startConnectProxy();
    const roots = [path.join(work, 'proxy-roots')];
    await cp(upstream.certDir!, path.join(roots[0], upstream.host), { recursive: true });
    const home = await freshHome();
    const repo = { registry: upstream.host, repository: 'ferry-test/app' };
    try {
      for (const withCerts of [true, false]) {
        const http = new HttpClient({ certsD: { roots: withCerts ? roots : [] }, caFiles: [upstream.caFile!], httpsProxy: proxy.url, httpProxy: proxy.url, noProxy: '', retry: FAST });
        const client = new RegistryClient({ http, credentials: new CredentialStore({ env: { HOME: home } }), retry: FAST });
        try {
          if (withCerts) expect((await client.getManifest(repo, '1')).digest).toBe(seeded.digests.app);
          else {
            const err = await client.getManifest(repo, '1').catch((e: unknown) => e);
            expect(err).toBeInstanceOf(FerryError);
            expect((err as FerryError).message).toContain('the server requires a client certificate');
          }
        } finally {
          await http.close();
        }
      }
      expect(proxy.seen).toContain(upstream.host);
    } finally {
      await proxy.stop();
    }
  });
});

describe('a mirror target that requires a client certificate', () => {
  it('import reaches it with the target\'s certDir (relative to the target file); without it, the error says what is missing', async () => {
    const target = await startRegistry({ mode: 'tls', clientCa: true });
    try {
      const home = await freshHome();
      const srcHome = await freshHome();
      const manifest = await manifestFor('import');
      const bundle = path.join(path.dirname(manifest), 'app.ferry.tar');
      const create = await runFerry(['bundle', 'create', manifest, '-o', bundle, '--cert-dir', upstream.certDir!], { env: env(srcHome) });
      expect(create.code, create.stderr).toBe(0);

      const siteDir = path.join(work, 'site');
      await cp(target.certDir!, path.join(siteDir, 'site-certs'), { recursive: true });
      const write = async (name: string, extra: string) => {
        const file = path.join(siteDir, `${name}.yaml`);
        await writeFile(file, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: ${name} }\nregistry:\n  url: ${target.url}\n  prefix: mirror\n${extra}`);
        return file;
      };
      const without = await runFerry(['import', bundle, '-t', await write('plain', '  ca: site-certs/ca.crt\n')], { env: env(home) });
      expect(without.code).not.toBe(0);
      expect(without.stderr).toContain(`${target.host}: the server requires a client certificate (mutual TLS)`);

      const r = await runFerry(['import', bundle, '-t', await write('mtls', '  certDir: site-certs\n')], { env: env(home) });
      expect(r.code, r.stderr).toBe(0);
      const repoTag = seeded.refs.app.replace(upstream.host, `mirror/${upstream.host.replace(':', '-')}`);
      expect(await skopeoDigest(target, `${target.host}/${repoTag}`)).toBe(seeded.digests.app);
    } finally {
      await target.stop();
    }
  });
});
