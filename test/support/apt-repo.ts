import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mustRun, runCommand } from './cli.js';

/**
 * Real components for APT and signed-file tests: OpenPGP keys made by `gpg` in a private
 * GNUPGHOME, `.deb` files taken with `apt-get download`, repositories published by `aptly`,
 * and `nginx` serving a directory on a free loopback port.
 */

export interface GpgKey {
  home: string;
  fingerprint: string;
  /** Armored public key file. */
  publicKey: string;
  /** Armored secret key file (no passphrase). */
  secretKey: string;
}

export async function makeGpgKey(dir: string, name: string): Promise<GpgKey> {
  const home = path.join(dir, `gnupg-${name}`);
  await mkdir(home, { recursive: true, mode: 0o700 });
  const env = { GNUPGHOME: home };
  await mustRun('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', `${name} <${name}@ferry.test>`, 'rsa2048', 'sign', 'never'], { env });
  const list = await mustRun('gpg', ['--batch', '--with-colons', '--list-secret-keys'], { env });
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(list.stdout)![1];
  const publicKey = path.join(dir, `${name}.asc`);
  const secretKey = path.join(dir, `${name}.secret.asc`);
  await writeFile(publicKey, (await mustRun('gpg', ['--batch', '--armor', '--export', fingerprint], { env })).stdout);
  await writeFile(
    secretKey,
    (await mustRun('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--armor', '--export-secret-keys', fingerprint], { env })).stdout,
  );
  return { home, fingerprint, publicKey, secretKey };
}

/** gpg --detach-sign (binary) or --clearsign a file with the key. */
export async function gpgSign(key: GpgKey, file: string, mode: 'detach' | 'clearsign' | 'armor-detach', out: string): Promise<void> {
  const flag = mode === 'clearsign' ? ['--clearsign'] : mode === 'armor-detach' ? ['--armor', '--detach-sign'] : ['--detach-sign'];
  await mustRun('gpg', ['--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', '--local-user', key.fingerprint, ...flag, '--output', out, file], {
    env: { GNUPGHOME: key.home },
  });
}

/** `.deb` files from Debian's archive, cached across runs in the temp directory. */
export const DEB_CACHE = process.env.FERRY_TEST_DEB_CACHE ?? path.join(os.tmpdir(), 'ferry-test-debs');

export async function downloadDebs(names: string[]): Promise<string[]> {
  await mkdir(DEB_CACHE, { recursive: true });
  const have = await readdir(DEB_CACHE);
  const missing = names.filter((n) => !have.some((f) => f.startsWith(`${n}_`) && f.endsWith('.deb')));
  if (missing.length) {
    // Download into a private directory, then rename into the cache: test files run in parallel.
    const tmp = await mkdtemp(path.join(DEB_CACHE, '.download-'));
    try {
      const r = await runCommand('apt-get', ['download', ...missing], { cwd: tmp });
      if (r.code !== 0) {
        throw new Error(`apt-get download ${missing.join(' ')} failed (needs Debian's archive; run apt-get update):\n${r.stderr}`);
      }
      for (const f of await readdir(tmp)) if (f.endsWith('.deb')) await rename(path.join(tmp, f), path.join(DEB_CACHE, f));
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  const files = await readdir(DEB_CACHE);
  return names.map((n) => {
    const f = files.filter((x) => x.startsWith(`${n}_`) && x.endsWith('.deb')).sort().pop();
    if (!f) throw new Error(`apt-get download ${n}: no .deb in ${DEB_CACHE}`);
    return path.join(DEB_CACHE, f);
  });
}

export interface AptlyRepo {
  /** aptly's published tree (`public/`); publications live under their prefixes. */
  publicDir: string;
  config: string;
  env: NodeJS.ProcessEnv;
}

/** Publish the debs with aptly under each prefix (`<publicDir>/<prefix>/dists/<dist>`), signed with `key`. */
export async function publishWithAptly(
  dir: string,
  debs: string[],
  key: GpgKey,
  opts: { distribution: string; component?: string; prefixes: string[]; architectures?: string[]; byHash?: boolean },
): Promise<AptlyRepo> {
  const rootDir = path.join(dir, 'aptly');
  const config = path.join(dir, 'aptly.conf');
  await writeFile(config, JSON.stringify({ rootDir, gpgProvider: 'gpg', architectures: opts.architectures ?? ['amd64'], gpgDisableVerify: false }));
  const env = { GNUPGHOME: key.home };
  const aptly = (args: string[]) => mustRun('aptly', [`-config=${config}`, ...args], { env });
  const component = opts.component ?? 'main';
  await aptly(['repo', 'create', `-distribution=${opts.distribution}`, `-component=${component}`, 'test']);
  await aptly(['repo', 'add', 'test', ...debs]);
  for (const prefix of opts.prefixes) {
    await aptly([
      'publish',
      'repo',
      `-gpg-key=${key.fingerprint}`,
      '-passphrase=',
      '-batch',
      `-architectures=${(opts.architectures ?? ['amd64']).join(',')}`,
      ...(opts.byHash === false ? [] : ['-acquire-by-hash']),
      'test',
      prefix,
    ]);
  }
  return { publicDir: path.join(rootDir, 'public'), config, env };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Nginx {
  url: string;
  stop(): Promise<void>;
}

/** nginx serving `root` read-only on a free loopback port. */
export async function startNginx(root: string): Promise<Nginx> {
  const bin = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
  const prefix = await mkdtemp(path.join(os.tmpdir(), 'ferry-nginx-'));
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const conf = path.join(prefix, 'nginx.conf');
    const asRoot = process.getuid?.() === 0;
    await writeFile(
      conf,
      `${asRoot ? 'user root;\n' : ''}worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log;
daemon off;
events { worker_connections 64; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  types { application/octet-stream deb; text/plain txt; }
  default_type application/octet-stream;
  sendfile on;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    autoindex on;
  }
}
`,
    );
    const child = spawn(bin, ['-p', prefix, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
    const up = await waitForPort(port, 5000, exited);
    if (up) {
      return {
        url: `http://127.0.0.1:${port}`,
        stop: async () => {
          child.kill('SIGQUIT');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        },
      };
    }
    child.kill('SIGKILL');
    if (!/Address already in use/.test(stderr) && attempt > 1) throw new Error(`nginx did not start: ${stderr}`);
  }
  throw new Error('nginx did not start: no free port');
}

async function waitForPort(port: number, ms: number, exited: Promise<number>): Promise<boolean> {
  let dead = false;
  void exited.then(() => (dead = true));
  const until = Date.now() + ms;
  while (Date.now() < until && !dead) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/**
 * Run the real apt-get against `sourcesLine` in an isolated root: its own sources, lists,
 * cache and trust (signed-by only; no system keyrings), the host's dpkg status so the base
 * system counts as installed.
 */
export async function aptGet(rootDir: string, sourcesLine: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  for (const d of ['etc/apt/sources.list.d', 'etc/apt/trusted.gpg.d', 'etc/apt/preferences.d', 'etc/apt/apt.conf.d', 'var/lib/apt/lists/partial', 'var/cache/apt/archives/partial']) {
    await mkdir(path.join(rootDir, d), { recursive: true });
  }
  await writeFile(path.join(rootDir, 'etc/apt/sources.list'), sourcesLine + '\n');
  return runCommand('apt-get', [
    '-o', `Dir=${rootDir}`,
    '-o', `Dir::State::status=/var/lib/dpkg/status`,
    '-o', `Dir::Etc::trusted=${rootDir}/etc/apt/trusted.gpg`,
    '-o', `Dir::Etc::TrustedParts=${rootDir}/etc/apt/trusted.gpg.d`,
    '-o', 'Debug::NoLocking=1',
    '-o', 'APT::Sandbox::User=root',
    '-o', 'Acquire::AllowInsecureRepositories=false',
    '-y',
    ...args,
  ]);
}

/**
 * A tiny `.deb` built with dpkg-deb: `<name>_<version>_all.deb` holding
 * `/usr/share/doc/<name>/README`, with these control fields besides the usual ones (`Depends`,
 * `Breaks` …), in `dir`.
 */
export async function buildDeb(dir: string, name: string, version = '1.0', fields: Record<string, string> = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const root = path.join(dir, `${name}-${version}-root`);
  await mkdir(path.join(root, 'DEBIAN'), { recursive: true });
  await mkdir(path.join(root, 'usr/share/doc', name), { recursive: true });
  await writeFile(path.join(root, 'usr/share/doc', name, 'README'), `${name}: built by ferry's tests\n`);
  const control = { Package: name, Version: version, Architecture: 'all', Maintainer: 'ferry tests <tests@ferry.test>', Section: 'misc', Priority: 'optional', ...fields, Description: `${name}, a test package` };
  await writeFile(path.join(root, 'DEBIAN/control'), Object.entries(control).map(([k, v]) => `${k}: ${v}`).join('\n') + '\n');
  const deb = path.join(dir, `${name}_${version}_all.deb`);
  await mustRun('dpkg-deb', ['--build', '--root-owner-group', root, deb]);
  await rm(root, { recursive: true, force: true });
  return deb;
}

/** Tiny `.deb` files (a repository of many packages without downloading any): `buildDeb` of each name at 1.0. */
export async function buildDebs(dir: string, names: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const name of names) out.push(await buildDeb(dir, name));
  return out;
}

/**
 * A suite's signed `InRelease` in `dists/<suite>` (`dir`): `fields` (Origin, Suite, Date …) and a
 * SHA256 line for each listed index (listed, whether served or not), clear-signed by `key`. The
 * plain `Release` is kept unless `inReleaseOnly`.
 */
export async function writeSignedRelease(dir: string, key: GpgKey, fields: string[], listed: Array<{ path: string; bytes: Buffer }>, opts: { inReleaseOnly?: boolean } = {}): Promise<void> {
  const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const release = [...fields, 'SHA256:', ...listed.map((f) => ` ${sha256(f.bytes)} ${f.bytes.length} ${f.path}`), ''].join('\n');
  await writeFile(path.join(dir, 'Release'), release);
  await rm(path.join(dir, 'InRelease'), { force: true });
  await gpgSign(key, path.join(dir, 'Release'), 'clearsign', path.join(dir, 'InRelease'));
  if (opts.inReleaseOnly) await rm(path.join(dir, 'Release'));
}

/**
 * A site APT mirror for an import: `<dir>/mirror` served by nginx, and `<dir>/target.yaml`
 * naming it (re-signing with `<dir>/site.secret.asc`).
 */
export async function siteAptMirror(dir: string): Promise<{ mirror: Nginx; mirrorDir: string }> {
  const mirrorDir = path.join(dir, 'mirror');
  await mkdir(mirrorDir, { recursive: true });
  const mirror = await startNginx(mirrorDir);
  await writeFile(
    path.join(dir, 'target.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'apt:', '  dir: ./mirror', `  baseUrl: ${mirror.url}`, '  signingKey: site.secret.asc', ''].join('\n'),
  );
  return { mirror, mirrorDir };
}
