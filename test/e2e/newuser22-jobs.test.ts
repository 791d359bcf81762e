import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, open, readFile, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, runFerry } from '../support/cli.js';
import { pushLayoutImage, writeOciLayout } from '../support/images.js';
import { makeTestCa, startRegistry, type RunningRegistry } from '../support/registry.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * A small edge site with no registry of its own (new-user round 22): a factory cell with three
 * k3s nodes and a few Debian hosts; the only server is one small box running `ferry serve` as
 * the site's registry and file server, straight from the bundle, as a systemd service. The
 * engineer knew Hauler's `hauler store serve` and Zarf's registry and worked from the README:
 * serve the bundle, k3s nodes pull from it, `curl` fetches the k3s airgap tarball and a VM image
 * from `/files/`. Day 2: a differential bundle arrives; they switch what is served with no
 * downtime and roll back if the new one is bad. Real docker-registry and a loopback file server
 * upstream, the built CLI, plain HTTP clients; no upstream-sim.
 *
 * What tripped:
 * - There was no way to switch what a running `serve` serves: a new bundle meant stopping the
 *   service (every node's pull in flight broken, the registry gone until the new one listened,
 *   and a bad new bundle left the site with no registry at all). Replacing the bundle file under
 *   a running serve silently kept serving the old one (the open descriptor). Now SIGHUP
 *   (`systemctl reload`, `ExecReload=kill -HUP $MAINPID`) opens the source again — a symlink
 *   followed anew — checks it as at start (`--verify` re-hashes it), and serves it instead;
 *   downloads under way finish from the old bundle; a bundle that does not open leaves the old
 *   one served and says so in the log.
 * - The unit's command line is fixed (`--base app-1.ferry.tar` once a differential arrives), and
 *   rolling back to the full bundle with the same line was refused ("a full bundle; it needs no
 *   base"): the site's registry would not come back up. A full bundle with `--base` is now served
 *   with a warning that `--base` is not used.
 * - A renewed TLS certificate (the site CA issues short-lived ones) meant a restart: serve read
 *   `--tls-cert`/`--tls-key` once. The same SIGHUP now reads them again (checked first: a
 *   certificate that does not match its key leaves the old pair in use).
 * - The README said nothing about running serve for real: listening on the site's address, a
 *   systemd unit, reload, logs (`--access-log` to the journal), what replacing the bundle file
 *   does, memory; it now does.
 */

let work: string;
let reg: RunningRegistry;
let files: StaticServer;
let bigLayer: string;
const vmImage = randomBytes(1024 * 1024 + 17);
const k3sTarball = randomBytes(64 * 1024 + 3);
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });
const sha256 = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

function manifestYaml(name: string, tags: string[], fileNames: string[]): string {
  const bytes: Record<string, Buffer> = { 'k3s-airgap-images-amd64.tar.zst': k3sTarball, 'edge-vm.qcow2': vmImage };
  return [
    'apiVersion: ferry/v1alpha1',
    'kind: Manifest',
    `metadata: { name: ${name} }`,
    'images:',
    ...tags.map((t) => `  - ref: ${reg.host}/edge/app:${t}`),
    'files:',
    ...fileNames.flatMap((n) => [`  - name: ${n.replace(/[^a-z0-9]+/g, '-')}`, `    url: ${files.url}/${n}`, `    sha256: ${sha256(bytes[n]).slice(7)}`]),
    '',
  ].join('\n');
}

interface Serving {
  url: string;
  /** What `--json` printed when it started listening. */
  warnings: string[];
  child: ChildProcess;
  stderr(): string;
  /** Send SIGHUP and wait for the reload's outcome line (and `until`, a line printed after it). */
  reload(until?: RegExp): Promise<string>;
  stop(): Promise<void>;
}

async function serve(args: string[]): Promise<Serving> {
  const child = spawn(process.execPath, [FERRY, 'serve', ...args, '--listen', '127.0.0.1:0', '--json'], {
    cwd: work,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  child.stderr!.on('data', (d) => {
    err += d;
    for (const w of waiters.splice(0)) w();
  });
  // A serve that exits (as one without a SIGHUP handler does) wakes a waiting reload at once.
  child.on('exit', () => {
    for (const w of waiters.splice(0)) w();
  });
  const { url, warnings } = await new Promise<{ url: string; warnings: string[] }>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      try {
        resolve(JSON.parse(out) as { url: string; warnings: string[] });
      } catch {
        /* not complete yet */
      }
    });
    child.on('exit', (code) => reject(new Error(`ferry serve exited ${code}: ${err}`)));
  });
  const outcome = /^(reload: now serving .*|warning: reload failed.*)$/m;
  return {
    url,
    warnings,
    child,
    stderr: () => err,
    reload: async (until) => {
      const from = err.length;
      child.kill('SIGHUP');
      for (;;) {
        const said = err.slice(from);
        if (outcome.test(said) && (!until || until.test(said))) return said;
        if (child.exitCode !== null) throw new Error(`ferry serve exited on SIGHUP: ${err}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

const repo = () => `${reg.host.replace(':', '-')}/edge/app`;
const manifestAccept = { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json' };

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser22-'));
  reg = await startRegistry({ mode: 'http' });
  const layout = path.join(work, 'layout');
  // Both releases share one big layer: the differential leaves it out, serve answers it from the base.
  const shared = { randomBytes: 12 * 1024 * 1024 + 5, seed: 'edge-shared' };
  await writeOciLayout(layout, [
    { name: 'app1', platforms: [{ architecture: 'amd64', layers: [shared, { files: { 'app/VERSION': '1\n' } }] }] },
    { name: 'app2', platforms: [{ architecture: 'amd64', layers: [shared, { files: { 'app/VERSION': '2\n' } }] }] },
  ]);
  await pushLayoutImage(reg, layout, 'app1', 'edge/app:1');
  await pushLayoutImage(reg, layout, 'app2', 'edge/app:2');
  const srv = path.join(work, 'srv');
  await mkdir(srv, { recursive: true });
  await writeFile(path.join(srv, 'k3s-airgap-images-amd64.tar.zst'), k3sTarball);
  await writeFile(path.join(srv, 'edge-vm.qcow2'), vmImage);
  files = await startStaticServer(srv);

  for (const [name, tags, fileNames, since] of [
    ['app-1', ['1'], ['k3s-airgap-images-amd64.tar.zst'], undefined],
    ['app-2', ['1', '2'], ['k3s-airgap-images-amd64.tar.zst', 'edge-vm.qcow2'], 'app-1.ferry.tar'],
  ] as const) {
    await writeFile(path.join(work, `${name}.yaml`), manifestYaml(name, [...tags], [...fileNames]));
    const lock = await runFerry(['lock', `${name}.yaml`], { cwd: work, env: env() });
    expect(lock.code, lock.stderr).toBe(0);
    const create = await runFerry(['bundle', 'create', `${name}.yaml`, '--frozen', '-o', `${name}.ferry.tar`, ...(since ? ['--since', since] : [])], { cwd: work, env: env() });
    expect(create.code, create.stderr).toBe(0);
  }
  const m = JSON.parse((await get(`${reg.url}/v2/edge/app/manifests/1`, manifestAccept)).body.toString()) as { layers: Array<{ digest: string; size: number }> };
  bigLayer = m.layers.reduce((a, b) => (b.size > a.size ? b : a)).digest;
}, 180_000);

afterAll(async () => {
  await files?.close();
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('edge site: ferry serve as the only server, day 2 switch and rollback', () => {
  it('SIGHUP switches a running serve to the new (differential) bundle with no downtime, keeps the old one when the new one is bad, and rolls back with the same command line', async () => {
    const current = path.join(work, 'current.ferry.tar');
    await symlink('app-1.ferry.tar', current);
    // The unit's one command line: the symlink, and the base the differential will need.
    const s = await serve(['current.ferry.tar', '--base', 'app-1.ferry.tar']);
    try {
      expect(s.warnings.join('\n')).toContain('is a full bundle; it needs no base, so --base is not used');
      const host = new URL(files.url).host.replace(':', '-');
      expect((await get(`${s.url}/v2/${repo()}/manifests/1`, manifestAccept)).status).toBe(200);
      expect((await get(`${s.url}/v2/${repo()}/manifests/2`, manifestAccept)).status).toBe(404);
      const k3s = await get(`${s.url}/files/${host}/k3s-airgap-images-amd64.tar.zst`);
      expect(k3s.status).toBe(200);
      expect(sha256(k3s.body)).toBe(sha256(k3sTarball));
      expect((await get(`${s.url}/files/${host}/edge-vm.qcow2`)).status).toBe(404);

      // A node is mid-way through the big layer when the new bundle is switched in.
      const hash = createHash('sha256');
      let paused!: () => void;
      const firstChunk = new Promise<void>((r) => (paused = r));
      let res!: http.IncomingMessage;
      const done = new Promise<void>((resolve, reject) => {
        http
          .get(`${s.url}/v2/${repo()}/blobs/${bigLayer}`, (r) => {
            res = r;
            r.once('data', (c: Buffer) => {
              hash.update(c);
              r.pause();
              r.on('data', (more: Buffer) => hash.update(more));
              paused();
            });
            r.on('end', resolve);
            r.on('error', reject);
            r.on('close', () => reject(new Error('the download under way was cut off by the switch')));
          })
          .on('error', reject);
      });
      await firstChunk;

      await unlink(current);
      await symlink('app-2.ferry.tar', current);
      const toNew = await s.reload();
      expect(toNew).toMatch(/reload: now serving \/.*\/app-2\.ferry\.tar \(1 repository, \/files\/\)/);
      const app2 = await get(`${s.url}/v2/${repo()}/manifests/2`, manifestAccept);
      expect(app2.status).toBe(200);
      // The shared layer the differential left out is answered from the base.
      const layer = await get(`${s.url}/v2/${repo()}/blobs/${bigLayer}`);
      expect(layer.status).toBe(200);
      expect(sha256(layer.body)).toBe(bigLayer);
      const vm = await get(`${s.url}/files/${host}/edge-vm.qcow2`);
      expect(sha256(vm.body)).toBe(sha256(vmImage));

      // The download that started before the switch finishes, whole and intact.
      res.resume();
      await done;
      expect(`sha256:${hash.digest('hex')}`).toBe(bigLayer);

      // A bad bundle (a copy cut short on the way) is refused; the site keeps its registry.
      const bad = path.join(work, 'app-3.ferry.tar');
      await copyFile(path.join(work, 'app-2.ferry.tar'), bad);
      const fh = await open(bad, 'r+');
      await fh.truncate(Math.floor((await stat(bad)).size / 2));
      await fh.close();
      await unlink(current);
      await symlink('app-3.ferry.tar', current);
      const toBad = await s.reload();
      expect(toBad).toContain('warning: reload failed, still serving what was served before:');
      expect(s.child.exitCode).toBeNull();
      expect((await get(`${s.url}/v2/${repo()}/manifests/2`, manifestAccept)).status).toBe(200);

      // Rollback: the full bundle again, same command line (its --base not used).
      await unlink(current);
      await symlink('app-1.ferry.tar', current);
      const back = await s.reload(/--base is not used/);
      expect(back).toContain('reload: now serving');
      expect(back).toContain('it needs no base, so --base is not used');
      expect((await get(`${s.url}/v2/${repo()}/manifests/2`, manifestAccept)).status).toBe(404);
      expect((await get(`${s.url}/v2/${repo()}/manifests/1`, manifestAccept)).status).toBe(200);
      expect((await get(`${s.url}/files/${host}/edge-vm.qcow2`)).status).toBe(404);

      // Day 2 on USB sticks: the same release split in parts; the symlink names its .parts file.
      const split = await runFerry(['bundle', 'create', 'app-2.yaml', '--frozen', '--since', 'app-1.ferry.tar', '-o', 'split/app-2.ferry.tar', '--split-size', '1M'], { cwd: work, env: env() });
      expect(split.code, split.stderr).toBe(0);
      await unlink(current);
      await symlink('split/app-2.ferry.tar.parts', current);
      const toSplit = await s.reload();
      expect(toSplit).toMatch(/reload: now serving \/.*\/split\/app-2\.ferry\.tar\.parts/);
      const layer2 = await get(`${s.url}/v2/${repo()}/blobs/${bigLayer}`);
      expect(sha256(layer2.body)).toBe(bigLayer);
      expect((await get(`${s.url}/v2/${repo()}/manifests/2`, manifestAccept)).status).toBe(200);
    } finally {
      await s.stop();
      await unlink(current).catch(() => undefined);
    }
  }, 120_000);

  it('SIGHUP reads a renewed --tls-cert/--tls-key again: new connections get the new certificate, a broken pair is refused and the old one stays', async () => {
    const a = await makeTestCa(path.join(work, 'ca-a'), 'edge-site-ca-a');
    const b = await makeTestCa(path.join(work, 'ca-b'), 'edge-site-ca-b');
    const cert = path.join(work, 'serve.crt');
    const key = path.join(work, 'serve.key');
    await copyFile(a.certFile, cert);
    await copyFile(a.keyFile, key);
    // Who issued the certificate a new connection gets, checked against that CA.
    const issuer = async (url: string, caFile: string) => {
      const u = new URL(url);
      const ca = await readFile(caFile);
      return new Promise<string>((resolve, reject) => {
        const socket = tls.connect({ host: u.hostname, port: Number(u.port), ca, servername: 'localhost' }, () => {
          const cn = socket.getPeerCertificate().issuer.CN;
          socket.end();
          resolve(String(cn));
        });
        socket.on('error', reject);
      });
    };
    const s = await serve(['app-1.ferry.tar', '--tls-cert', 'serve.crt', '--tls-key', 'serve.key']);
    try {
      expect(await issuer(s.url, a.caFile)).toBe('edge-site-ca-a');
      // A half-done renewal: the new certificate beside the old key.
      await copyFile(b.certFile, cert);
      const broken = await s.reload();
      expect(broken).toContain('warning: reload failed, still serving what was served before: --tls-cert serve.crt / --tls-key serve.key: not a certificate and its key');
      expect(await issuer(s.url, a.caFile)).toBe('edge-site-ca-a');
      await copyFile(b.keyFile, key);
      expect(await s.reload()).toContain('reload: now serving');
      expect(await issuer(s.url, b.caFile)).toBe('edge-site-ca-b');
    } finally {
      await s.stop();
    }
  }, 60_000);
});
