import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageChart, writeHelmLayout } from '../support/chart-repo.js';
import { mustRun, runFerry } from '../support/cli.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { skopeoEnv, skopeoTlsArgs, startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * Registry credentials where docker, podman/skopeo and helm keep them, against a real
 * Distribution registry with htpasswd basic auth over TLS (a CA made by openssl, given with
 * --ca-file): every place a platform engineer's `docker login`, `podman login` or `helm
 * registry login` wrote must let `ferry lock` pull, the password never in its output or lock,
 * and a credential helper that fails or hangs is an error naming the registry, in bounded time.
 */
let work: string;
let reg: RunningRegistry;
let seeded: SeededImages;
let chartDigest: string;
const PASSWORD = 'eco50-Sup3r$ecret-pw';
const b64 = (s: string) => Buffer.from(s).toString('base64');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-eco50-cred-'));
  reg = await startRegistry({ mode: 'basic', username: 'eco', password: PASSWORD });
  seeded = await seedImages(reg);
  // An OCI chart, as `helm push` writes it.
  const src = path.join(work, 'chart-src');
  await mkdir(path.join(src, 'templates'), { recursive: true });
  await writeFile(path.join(src, 'Chart.yaml'), 'apiVersion: v2\nname: eco\nversion: 0.1.0\n');
  await writeFile(path.join(src, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: eco\n');
  const pkg = await packageChart(src, path.join(work, 'pkg'));
  const layout = path.join(work, 'chart-layout');
  chartDigest = (await writeHelmLayout(layout, pkg, 'eco')).digest;
  await mustRun('skopeo', ['copy', '--preserve-digests', ...skopeoTlsArgs(reg, 'dest'), `oci:${layout}:eco`, `docker://${reg.host}/charts/eco:0.1.0`], { env: skopeoEnv() });
  // Credential helpers on PATH: one that knows the registry, one that fails, one that hangs.
  const bin = path.join(work, 'bin');
  await mkdir(bin, { recursive: true });
  const helpers: Record<string, string> = {
    eco: `#!/bin/sh\n[ "$1" = get ] || exit 1\nread server\nif [ "$server" = "${reg.host}" ]; then echo '{"ServerURL":"'"$server"'","Username":"eco","Secret":"${PASSWORD}"}'; else echo "credentials not found in native keychain"; exit 1; fi\n`,
    broken: `#!/bin/sh\necho "keychain locked: cannot unlock" >&2\nexit 3\n`,
    // The shell waits on its child: killing the shell alone leaves `sleep` holding the pipes.
    stuck: `#!/bin/sh\nsleep 600\necho never\n`,
  };
  for (const [name, text] of Object.entries(helpers)) {
    await writeFile(path.join(bin, `docker-credential-${name}`), text);
    await chmod(path.join(bin, `docker-credential-${name}`), 0o755);
  }
}, 180_000);

afterAll(async () => {
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

let n = 0;
/** A fresh project dir and an empty HOME; `files` are written under it (paths relative to it). */
async function project(files: Record<string, unknown>, what: 'image' | 'chart' = 'image'): Promise<string> {
  const dir = path.join(work, `p${++n}`);
  await mkdir(path.join(dir, 'home'), { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), typeof content === 'string' ? content : JSON.stringify(content));
  }
  const body =
    what === 'image'
      ? ['images:', `  - ref: ${seeded.refs.app}`]
      : ['charts:', '  - name: eco', `    repo: oci://${reg.host}/charts`, '    version: 0.1.0', '    images: none'];
  await writeFile(path.join(dir, 'ferry.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: eco50 }', ...body, ''].join('\n'));
  return dir;
}

/** `ferry lock` in `dir` with nothing of the test's own environment that could hold credentials. */
function lock(dir: string, env: NodeJS.ProcessEnv = {}, args: string[] = []) {
  return runFerry(['lock', 'ferry.yaml', '--ca-file', reg.caFile!, ...args], {
    cwd: dir,
    timeoutMs: 120_000,
    env: {
      HOME: path.join(dir, 'home'),
      DOCKER_CONFIG: '',
      REGISTRY_AUTH_FILE: '',
      XDG_RUNTIME_DIR: '',
      XDG_CONFIG_HOME: '',
      HELM_REGISTRY_CONFIG: '',
      FERRY_CACHE_DIR: path.join(dir, 'cache'),
      FERRY_RETRY_MIN_MS: '20',
      PATH: `${path.join(work, 'bin')}:${process.env.PATH}`,
      ...env,
    },
  });
}

async function expectLocked(dir: string, r: { code: number; stdout: string; stderr: string }, digest = seeded.digests.app) {
  expect(r.code, r.stderr).toBe(0);
  const lockText = await readFile(path.join(dir, 'eco50.lock.json'), 'utf8');
  expect(lockText).toContain(digest);
  for (const text of [r.stdout, r.stderr, lockText]) {
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(b64(`eco:${PASSWORD}`));
  }
}

describe('docker config.json', () => {
  it('auths with a base64 auth, in ~/.docker/config.json', async () => {
    const dir = await project({ 'home/.docker/config.json': { auths: { [reg.host]: { auth: b64(`eco:${PASSWORD}`) } } } });
    await expectLocked(dir, await lock(dir));
  });

  it('auths with username/password and an https:// key, in $DOCKER_CONFIG', async () => {
    const dir = await project({ 'dockercfg/config.json': { auths: { [`https://${reg.host}/v2/`]: { username: 'eco', password: PASSWORD } } } });
    await expectLocked(dir, await lock(dir, { DOCKER_CONFIG: path.join(dir, 'dockercfg') }));
  });

  it('credHelpers: the helper is asked with the server on stdin', async () => {
    const dir = await project({ 'home/.docker/config.json': { credHelpers: { [reg.host]: 'eco' } } });
    await expectLocked(dir, await lock(dir));
  });

  it('credsStore: the default helper', async () => {
    const dir = await project({ 'home/.docker/config.json': { credsStore: 'eco' } });
    await expectLocked(dir, await lock(dir));
  });

  it('a helper that fails: an error naming the helper and the registry', async () => {
    const dir = await project({ 'home/.docker/config.json': { credHelpers: { [reg.host]: 'broken' } } });
    const r = await lock(dir);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('docker-credential-broken');
    expect(r.stderr).toContain(reg.host);
  });

  it('a helper that hangs is stopped after FERRY_CREDENTIAL_HELPER_TIMEOUT_MS, with an error naming the helper and the registry', async () => {
    const dir = await project({ 'home/.docker/config.json': { credHelpers: { [reg.host]: 'stuck' } } });
    const r = await lock(dir, { FERRY_CREDENTIAL_HELPER_TIMEOUT_MS: '1500' });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain('docker-credential-stuck');
    expect(r.stderr).toContain(reg.host);
    expect(r.stderr).toMatch(/did not answer within 1\.5 s/);
  });
});

describe('containers auth.json (podman, skopeo, buildah)', () => {
  it('REGISTRY_AUTH_FILE', async () => {
    const dir = await project({ 'auth.json': { auths: { [reg.host]: { auth: b64(`eco:${PASSWORD}`) } } } });
    await expectLocked(dir, await lock(dir, { REGISTRY_AUTH_FILE: path.join(dir, 'auth.json') }));
  });

  it('${XDG_RUNTIME_DIR}/containers/auth.json, where `podman login` writes by default', async () => {
    const dir = await project({ 'run/containers/auth.json': { auths: { [reg.host]: { auth: b64(`eco:${PASSWORD}`) } } } });
    await expectLocked(dir, await lock(dir, { XDG_RUNTIME_DIR: path.join(dir, 'run') }));
  });

  it('$HOME/.config/containers/auth.json, where podman writes without XDG_RUNTIME_DIR', async () => {
    const dir = await project({ 'home/.config/containers/auth.json': { auths: { [reg.host]: { auth: b64(`eco:${PASSWORD}`) } } } });
    await expectLocked(dir, await lock(dir));
  });
});

describe("helm's registry config (helm registry login)", () => {
  it('~/.config/helm/registry/config.json for an OCI chart', async () => {
    const dir = await project({ 'home/.config/helm/registry/config.json': { auths: { [reg.host]: { auth: b64(`eco:${PASSWORD}`) } } } }, 'chart');
    await expectLocked(dir, await lock(dir), chartDigest);
  });

  it('$HELM_REGISTRY_CONFIG', async () => {
    const dir = await project({ 'helm-registry.json': { auths: { [reg.host]: { auth: b64(`eco:${PASSWORD}`) } } } }, 'chart');
    await expectLocked(dir, await lock(dir, { HELM_REGISTRY_CONFIG: path.join(dir, 'helm-registry.json') }), chartDigest);
  });
});

describe('no credentials anywhere', () => {
  it('is an authentication error naming the places looked in, including the new ones', async () => {
    const dir = await project({});
    const r = await lock(dir, { XDG_RUNTIME_DIR: path.join(dir, 'run') });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(path.join(dir, 'run', 'containers', 'auth.json'));
    expect(r.stderr).toContain(path.join(dir, 'home', '.docker', 'config.json'));
    expect(r.stderr).toContain(path.join(dir, 'home', '.config', 'helm', 'registry', 'config.json'));
  });
});

describe('the credential stays out of the bundle', () => {
  it('bundle create with credentials from a helper: the password is in no byte of the bundle', async () => {
    const dir = await project({ 'home/.docker/config.json': { credHelpers: { [reg.host]: 'eco' } } });
    const r = await runFerry(['bundle', 'create', 'ferry.yaml', '-o', 'out.ferry.tar', '--ca-file', reg.caFile!], {
      cwd: dir,
      timeoutMs: 120_000,
      env: { HOME: path.join(dir, 'home'), DOCKER_CONFIG: '', REGISTRY_AUTH_FILE: '', XDG_RUNTIME_DIR: '', FERRY_CACHE_DIR: path.join(dir, 'cache'), PATH: `${path.join(work, 'bin')}:${process.env.PATH}` },
    });
    expect(r.code, r.stderr).toBe(0);
    const bundle = await readFile(path.join(dir, 'out.ferry.tar'));
    expect(bundle.length).toBeGreaterThan(1000);
    expect(bundle.includes(Buffer.from(PASSWORD))).toBe(false);
    expect(bundle.includes(Buffer.from(b64(`eco:${PASSWORD}`)))).toBe(false);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });
});
