import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, cp, mkdir, open, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { mapAptRepo } from '../../src/mapping/index.js';
import { TAR_END, tarHeader, tarPadding } from '../../src/store/tar-index.js';
import { downloadDebs, makeGpgKey, publishWithAptly, startNginx, type Nginx } from './apt-repo.js';
import { FERRY, mustRun, runCommand, runFerry } from './cli.js';
import { pushLayoutImage, writeOciLayout, type Descriptor } from './images.js';
import { startRegistry, type RunningRegistry } from './registry.js';
import { startStaticServer, type StaticServer } from './static-http.js';
import { flipByte, tarEntries } from './tar-walk.js';

/**
 * Hostile bundles for `ferry serve`, crafted as an attacker with the bundle in hand would: first
 * a real bundle built by ferry itself (two images from the loopback docker-registry, a file from
 * a loopback HTTP server, a filtered and a whole APT repository published by aptly behind nginx),
 * then changed entry by entry (a byte flipped, bundle.json or index.json rewritten).
 */

export const sha256 = (b: Uint8Array | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

export interface ServeFixture {
  work: string;
  /** The untouched bundle ferry made. */
  bundle: string;
  /** Repository (as `ferry serve` names it) and tag of each image, with its top digest. */
  images: { layer: { repo: string; tag: string; digest: string }; manifest: { repo: string; tag: string; digest: string } };
  /** Upstream URL of the file and of each APT repository (what `/files/` and `/apt/` paths are mapped from). */
  fileUrl: string;
  aptUrls: { filtered: string; whole: string };
  stop(): Promise<void>;
}

/** Build a real bundle with ferry (lock + bundle create) from loopback services. */
export async function buildServeBundle(work: string): Promise<ServeFixture> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const reg: RunningRegistry = await startRegistry({ mode: 'http' });
    stops.push(() => reg.stop());
    const layout = path.join(work, 'layout');
    // A layer of several read chunks (1 MiB each), so a flipped byte sits mid-stream.
    await writeOciLayout(layout, [
      { name: 'layer', platforms: [{ architecture: 'amd64', layers: [{ files: { 'etc/os-release': 'ID=hostile\n' } }, { randomBytes: 3 * 1024 * 1024 + 123, seed: 'hostile-layer' }] }] },
      { name: 'manifest', platforms: [{ architecture: 'amd64', layers: [{ files: { 'srv/m.txt': 'manifest image\n' } }] }] },
    ]);
    await pushLayoutImage(reg, layout, 'layer', 'hostile/layer:1');
    await pushLayoutImage(reg, layout, 'manifest', 'hostile/manifest:1');

    const srvDir = path.join(work, 'srv');
    await mkdir(srvDir, { recursive: true });
    const file = randomBytes(2 * 1024 * 1024 + 77);
    await writeFile(path.join(srvDir, 'disk.img'), file);
    const files: StaticServer = await startStaticServer(srvDir);
    stops.push(() => files.close());

    const vendor = await makeGpgKey(work, 'vendor');
    const debs = await downloadDebs(['jq', 'libjq1', 'libonig5']);
    const repo = await publishWithAptly(work, debs, vendor, { distribution: 'bookworm', prefixes: ['filtered', 'whole'] });
    const nginx: Nginx = await startNginx(repo.publicDir);
    stops.push(() => nginx.stop());

    const project = path.join(work, 'project');
    await mkdir(project, { recursive: true });
    await cp(vendor.publicKey, path.join(project, 'vendor.asc'));
    const fileUrl = `${files.url}/disk.img`;
    const aptUrls = { filtered: `${nginx.url}/filtered`, whole: `${nginx.url}/whole` };
    await writeFile(
      path.join(project, 'manifest.yaml'),
      [
        'apiVersion: ferry/v1alpha1',
        'kind: Manifest',
        'metadata: { name: hostile-serve }',
        'images:',
        `  - ref: ${reg.host}/hostile/layer:1`,
        `  - ref: ${reg.host}/hostile/manifest:1`,
        'files:',
        '  - name: disk',
        `    url: ${fileUrl}`,
        `    sha256: ${sha256(file).slice(7)}`,
        'apt:',
        ...(['filtered', 'whole'] as const).flatMap((k) => [
          `  - name: vendor-${k}`,
          `    url: ${aptUrls[k]}`,
          '    suites: [bookworm]',
          '    components: [main]',
          '    architectures: [amd64]',
          ...(k === 'filtered' ? ['    packages: [jq]'] : []),
          '    keys: [vendor.asc]',
        ]),
        '',
      ].join('\n'),
    );
    const env = { FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' };
    const lock = await runFerry(['lock', 'manifest.yaml'], { cwd: project, env });
    if (lock.code !== 0) throw new Error(`ferry lock failed:\n${lock.stderr}`);
    const bundle = path.join(work, 'hostile.ferry.tar');
    const create = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', bundle, '--frozen'], { cwd: project, env });
    if (create.code !== 0) throw new Error(`ferry bundle create failed:\n${create.stderr}`);

    const repoOf = (name: string) => `${reg.host.replace(':', '-')}/hostile/${name}`;
    const index = await entryJson<{ manifests: Descriptor[] }>(bundle, 'index.json');
    const top = (name: string) => index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === `${reg.host}/hostile/${name}:1`)!.digest;
    return {
      work,
      bundle,
      images: { layer: { repo: repoOf('layer'), tag: '1', digest: top('layer') }, manifest: { repo: repoOf('manifest'), tag: '1', digest: top('manifest') } },
      fileUrl,
      aptUrls,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One entry of a tar, read by the test's own walker (not ferry's reader). */
export async function entryBytes(tar: string, name: string): Promise<Buffer> {
  const e = (await tarEntries(tar)).get(name);
  if (!e) throw new Error(`${tar}: no entry ${name}`);
  const fh = await open(tar, 'r');
  try {
    const buf = Buffer.alloc(e.size);
    await fh.read(buf, 0, e.size, e.offset);
    return buf;
  } finally {
    await fh.close();
  }
}

export async function entryJson<T>(tar: string, name: string): Promise<T> {
  return JSON.parse((await entryBytes(tar, name)).toString('utf8')) as T;
}

export const blobEntry = (digest: string) => `blobs/sha256/${digest.slice(7)}`;

export async function blobJson<T>(tar: string, digest: string): Promise<T> {
  return entryJson<T>(tar, blobEntry(digest));
}

/** A copy of `src` with one byte of an entry flipped (same size: only the digest can tell). */
export async function withFlippedBytes(src: string, dst: string, flips: Array<{ entry: string; at: number }>): Promise<void> {
  await copyFile(src, dst);
  for (const f of flips) await flipByte(dst, f.entry, f.at);
}

/**
 * A copy of `src` re-packed with some entries replaced (`Buffer`) or left out (`null`), every
 * other entry copied byte for byte in the same order.
 */
export async function rewriteBundle(src: string, dst: string, edits: Record<string, Buffer | null>): Promise<void> {
  const entries = await tarEntries(src);
  const inFh = await open(src, 'r');
  const outFh = await open(dst, 'w');
  try {
    for (const [name, e] of entries) {
      const edit = edits[name];
      if (edit === null) continue;
      let data = edit;
      if (!data) {
        data = Buffer.alloc(e.size);
        await inFh.read(data, 0, e.size, e.offset);
      }
      await outFh.write(tarHeader(name, data.length, 'file'));
      await outFh.write(data);
      await outFh.write(tarPadding(data.length));
    }
    await outFh.write(TAR_END);
  } finally {
    await inFh.close();
    await outFh.close();
  }
}

/** A copy whose ferry/bundle.json says `formatVersion: version` (`undefined`: the field left out). */
export async function withFormatVersion(src: string, dst: string, version: unknown): Promise<void> {
  const info = await entryJson<Record<string, unknown>>(src, 'ferry/bundle.json');
  if (version === undefined) delete info.formatVersion;
  else info.formatVersion = version;
  await rewriteBundle(src, dst, { 'ferry/bundle.json': Buffer.from(JSON.stringify(info, null, 2) + '\n') });
}

/** A copy whose index.json carries extra top-level descriptors (e.g. with hostile ref.names). */
export async function withIndexDescriptors(src: string, dst: string, extra: Descriptor[]): Promise<void> {
  const index = await entryJson<{ manifests: Descriptor[] }>(src, 'index.json');
  index.manifests.push(...extra);
  await rewriteBundle(src, dst, { 'index.json': Buffer.from(JSON.stringify(index)) });
}

/** Unpack a bundle into a directory: an OCI layout, as a directory target is. */
export async function unpackBundle(tar: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await mustRun('tar', ['-xf', tar, '-C', dir]);
}

/** The top-level descriptor of an artifact kind, by its io.ferry.source (or the first one). */
export function topOf(index: { manifests: Descriptor[] }, kind: string, source?: string): Descriptor {
  const d = index.manifests.find((m) => m.annotations?.['io.ferry.kind'] === kind && (!source || m.annotations?.['io.ferry.source'] === source));
  if (!d) throw new Error(`no ${kind} artifact ${source ?? ''} in index.json`);
  return d;
}

/** Where `ferry serve` answers an APT repository's file. */
export const aptPath = (repoUrl: string, title: string) => `/apt/${mapAptRepo(repoUrl, { baseUrl: 'http://x' }).path}/${title}`;

// ---------------------------------------------------------------------------------------------
// Talking to a served bundle

export interface RunningServe {
  url: string;
  host: string;
  child: ChildProcess;
  stderr(): string;
  stop(): Promise<number | null>;
}

/** The built `ferry serve` (give `--listen`), resolved once it prints the address it listens on. */
export function startServe(args: string[]): Promise<RunningServe> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FERRY, 'serve', ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (https?:\/\/(\S+))\n/.exec(out);
      if (m) {
        resolve({
          url: m[1],
          host: m[2],
          child,
          stderr: () => err,
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null) return done(child.exitCode);
              child.once('exit', (code) => done(code));
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.on('exit', (code) => reject(new Error(`ferry serve exited ${code} before listening\n${out}\n${err}`)));
  });
}

export interface Outcome {
  status: number;
  headers: Headers;
  /** Whether the whole body arrived (the transfer ended cleanly). */
  complete: boolean;
  body?: Buffer;
  error?: string;
}

/** GET/HEAD with Node's fetch (undici), reading the whole body: did a complete response arrive? */
export async function fetchOutcome(url: string, init?: RequestInit): Promise<Outcome> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    // The connection went away before the response was complete enough for fetch to resolve.
    return { status: 0, headers: new Headers(), complete: false, error: String((err as Error).cause ?? err) };
  }
  try {
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, headers: res.headers, complete: true, body };
  } catch (err) {
    return { status: res.status, headers: res.headers, complete: false, error: String((err as Error).cause ?? err) };
  }
}

/** `curl --fail` to /dev/null: its exit code (0 only for a complete 2xx transfer). */
export async function curlFail(url: string, extra: string[] = []): Promise<number> {
  return (await runCommand('curl', ['--fail', '-sS', '-o', '/dev/null', ...extra, url])).code;
}

/** A GET with the request path sent exactly as given (no client-side dot-segment resolution). */
export function rawGet(base: string, rawPath: string): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.get({ host: u.hostname, port: u.port, path: rawPath }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/**
 * Serve `args` (a bundle and flags), ask it for the seeded `app` image's manifest by tag as a
 * client would, stop it: the status and the digest of the bytes served.
 */
export async function servedAppManifest(args: string[], seeded: { refs: { app: string } }, upstreamHost: string): Promise<{ status: number; digest: string }> {
  const s = await startServe([...args, '--listen', '127.0.0.1:0']);
  try {
    const repo = seeded.refs.app.replace(/:1$/, '').replace(upstreamHost, upstreamHost.replace(':', '-'));
    const res = await fetch(`${s.url}/v2/${repo}/manifests/1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    return { status: res.status, digest: sha256(Buffer.from(await res.arrayBuffer())) };
  } finally {
    await s.stop();
  }
}
