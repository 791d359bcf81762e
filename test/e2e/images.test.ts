import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile, copyFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, mustRun, runFerry } from '../support/cli.js';
import { seedImages, skopeoDigest, type SeededImages } from '../support/images.js';
import { ferryEnv, REGISTRY_BIN, skopeoEnv, skopeoTlsArgs, startRegistry, type RunningRegistry } from '../support/registry.js';
import { flipByte, tarEntries } from '../support/tar-walk.js';

/**
 * The spine end to end, as a user runs it: the built CLI against real Distribution registries,
 * checked with skopeo (not with ferry).
 */
let work: string;
let upstream: RunningRegistry;
let seeded: SeededImages;
let manifest: string;
let bundle: string;
const targets: RunningRegistry[] = [];
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });

async function writeTarget(name: string, reg: RunningRegistry, extra = ''): Promise<string> {
  const file = path.join(work, `${name}.yaml`);
  const ca = reg.caFile ? `\n  ca: ${JSON.stringify(path.relative(work, reg.caFile))}` : '';
  await writeFile(file, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: ${name} }\nregistry:\n  url: ${reg.url}\n  prefix: mirror${ca}\n${extra}`);
  return file;
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

async function catalog(reg: RunningRegistry): Promise<string[]> {
  const r = await mustRun('curl', ['-sS', ...(reg.caFile ? ['--cacert', reg.caFile] : []), `${reg.url}/v2/_catalog`]);
  return (JSON.parse(r.stdout) as { repositories: string[] }).repositories ?? [];
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-images-'));
  upstream = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream, { bigLayerMb: 200 });
  // A second repository with the same two-platform index, to lock with a platform filter.
  await mustRun('skopeo', ['copy', '--all', ...skopeoTlsArgs(upstream, 'src'), ...skopeoTlsArgs(upstream, 'dest'), `docker://${seeded.refs.multi}`, `docker://${upstream.host}/ferry-test/multi-arm:1`], { env: skopeoEnv() });
  const baseRepo = seeded.refs.base.replace(/:1$/, '');
  manifest = path.join(work, 'app.yaml');
  await writeFile(
    manifest,
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: app }',
      'images:',
      `  - ref: ${seeded.refs.base}`,
      `  - ref: ${seeded.refs.app}`,
      `  - ref: ${seeded.refs.multi}`,
      `  - ref: ${upstream.host}/ferry-test/multi-arm:1`,
      '    platforms: [linux/arm64]',
      `  - ref: ${seeded.refs.docker}`,
      `  - ref: ${seeded.refs.big}`,
      `  - ref: ${baseRepo}@${seeded.digests.base}`,
      '',
    ].join('\n'),
  );
  bundle = path.join(work, 'app.ferry.tar');
}, 600_000);

afterAll(async () => {
  for (const t of targets) await t.stop();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('lock and bundle create', () => {
  it('pins every image with upstream digests and writes a deterministic lock', async () => {
    const r = await runFerry(['lock', manifest], { env: env() });
    // Not silent while resolving (issue 16): one line per image, named by its reference.
    expect(r.stderr.trim().split('\n')).toHaveLength(7);
    expect(r.stderr).toContain(`${seeded.refs.base}: resolved sha256:`);
    expect(r.stderr).toContain(`${seeded.refs.multi}: resolved sha256:${seeded.digests.multi.slice(7, 19)}… (2 platforms)`);
    expect(r.code).toBe(0);
    const lock = JSON.parse(await readFile(path.join(work, 'app.lock.json'), 'utf8'));
    const byRef = Object.fromEntries(lock.images.map((i: { ref: string }) => [i.ref, i]));
    expect(byRef[seeded.refs.base].digest).toBe(seeded.digests.base);
    expect(byRef[seeded.refs.multi].digest).toBe(seeded.digests.multi);
    expect(byRef[seeded.refs.multi].manifests.map((m: { platform: string }) => m.platform)).toEqual(['linux/amd64', 'linux/arm64/v8']);
    expect(byRef[seeded.refs.docker].mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const filtered = byRef[`${upstream.host}/ferry-test/multi-arm:1`];
    expect(filtered.digest).toBe(seeded.digests.multi);
    expect(filtered.storedDigest).toMatch(/^sha256:/);
    expect(filtered.storedDigest).not.toBe(seeded.digests.multi);
    expect(filtered.manifests.map((m: { digest: string }) => m.digest)).toEqual([seeded.platforms['linux/arm64']]);
    const again = await runFerry(['lock', manifest, '--json'], { env: env() });
    expect(JSON.parse(again.stdout).changed).toBe(false);
  });

  it('bundles every image once; skopeo reads it; size within 1 % of the unique blob bytes', async () => {
    const r = await runFerry(['bundle', 'create', manifest, '-o', bundle, '--frozen', '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).lockUsed).toBe('existing');
    const lock = JSON.parse(await readFile(path.join(work, 'app.lock.json'), 'utf8'));
    const unique = new Map<string, number>();
    for (const img of lock.images) {
      for (const b of img.blobs) unique.set(b.digest, b.size);
      for (const m of img.manifests) unique.set(m.digest, m.size);
      if (!img.storedDigest) unique.set(img.digest, img.size);
    }
    const uniqueBytes = [...unique.values()].reduce((a, b) => a + b, 0);
    const size = (await stat(bundle)).size;
    expect(size).toBeGreaterThanOrEqual(uniqueBytes);
    expect((size - uniqueBytes) / uniqueBytes).toBeLessThan(0.01);
    const entries = await tarEntries(bundle);
    expect(entries.has('oci-layout')).toBe(true);
    expect(entries.has('index.json')).toBe(true);
    expect(entries.has('ferry/lock.json')).toBe(true);
    // skopeo's OCI transport reads only OCI media types from a layout; the Docker schema 2 image is
    // stored byte for byte (its digest preserved) and checked after import instead.
    for (const key of ['base', 'app', 'multi'] as const) {
      const ins = await mustRun('skopeo', ['inspect', '--raw', `oci-archive:${bundle}:${seeded.refs[key]}`]);
      expect(`sha256:${(await import('node:crypto')).createHash('sha256').update(ins.stdout).digest('hex')}`).toBe(seeded.digests[key]);
    }
  });

  it('bundle verify passes on the intact bundle', async () => {
    const r = await runFerry(['bundle', 'verify', bundle, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).ok).toBe(true);
  });

  it('--frozen refuses a lock that no longer matches the manifest', async () => {
    const changed = path.join(work, 'changed.yaml');
    await copyFile(manifest, changed);
    await copyFile(path.join(work, 'app.lock.json'), path.join(work, 'app.lock.json.bak'));
    await writeFile(changed, (await readFile(manifest, 'utf8')).replace(`  - ref: ${seeded.refs.big}\n`, ''));
    const r = await runFerry(['bundle', 'create', changed, '-o', path.join(work, 'x.tar'), '--frozen'], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the lock does not match the manifest and --frozen forbids re-resolving');
    await expect(stat(path.join(work, 'x.tar'))).rejects.toThrow();
  });
});

describe('import', () => {
  it('pushes into a TLS registry with the target CA: every digest equals upstream; a rerun pushes nothing', async () => {
    const target = await startRegistry({ mode: 'tls' });
    targets.push(target);
    const file = await writeTarget('site', target);
    const r = await runFerry(['import', bundle, '--target', file, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    for (const key of ['base', 'app', 'multi', 'docker', 'big'] as const) {
      const repoTag = seeded.refs[key]!.replace(upstream.host, `mirror/${upstream.host.replace(':', '-')}`);
      expect(await skopeoDigest(target, `${target.host}/${repoTag}`)).toBe(seeded.digests[key]);
    }
    const lock = JSON.parse(await readFile(path.join(work, 'app.lock.json'), 'utf8'));
    const filtered = lock.images.find((i: { platforms?: string[] }) => i.platforms);
    expect(await skopeoDigest(target, `${target.host}/mirror/${upstream.host.replace(':', '-')}/ferry-test/multi-arm:1`)).toBe(filtered.storedDigest);
    // The child manifests are there by digest too (skopeo copies every platform).
    await mustRun('skopeo', ['copy', '--all', ...skopeoTlsArgs(target, 'src'), `docker://${target.host}/mirror/${upstream.host.replace(':', '-')}/ferry-test/multi:1`, `oci:${path.join(work, 'pulled')}:multi`], { env: skopeoEnv() });

    // One read of the bundle: every blob hashed while it was pushed, read exactly once, and the
    // verify pass read only the rest (metadata and manifests, a small part of the bundle).
    const first = JSON.parse(r.stdout);
    const layerBytes = lock.images.flatMap((i: { blobs: Array<{ digest: string; size: number }> }) => i.blobs).reduce((m: Map<string, number>, b: { digest: string; size: number }) => m.set(b.digest, b.size), new Map<string, number>());
    const blobTotal = [...layerBytes.values()].reduce((a: number, n: number) => a + n, 0);
    expect(first.verified.whilePushing.bytes).toBeGreaterThanOrEqual(blobTotal);
    expect(first.verified.whilePushing.read).toBe(first.verified.whilePushing.bytes);
    expect(first.verified.bytes - first.verified.whilePushing.bytes).toBeLessThan(blobTotal / 20);
    expect(first.bytesSent).toBeGreaterThanOrEqual(blobTotal);

    const again = await runFerry(['import', bundle, '--target', file, '--json'], { env: env() });
    expect(again.code, again.stderr).toBe(0);
    const rep = JSON.parse(again.stdout);
    expect(rep.bytesSent).toBe(0);
    expect(rep.pushed).toBe(0);
  });

  it('pushes into a registry with bearer-token auth using the docker config credentials', async () => {
    const target = await startRegistry({ mode: 'token' });
    targets.push(target);
    const file = await writeTarget('token-site', target);
    const r = await runFerry(['import', bundle, '--target', file, '--json'], { env: { ...env(), ...ferryEnv(target) } });
    expect(r.code, r.stderr).toBe(0);
    for (const key of ['app', 'multi', 'docker'] as const) {
      const repoTag = seeded.refs[key].replace(upstream.host, `mirror/${upstream.host.replace(':', '-')}`);
      expect(await skopeoDigest(target, `${target.host}/${repoTag}`)).toBe(seeded.digests[key]);
    }
    // Without credentials the registry refuses, and ferry says where it looked.
    const none = await mkdtemp(path.join(work, 'nocreds-'));
    const denied = await runFerry(['import', bundle, '--target', file], { env: { ...env(), DOCKER_CONFIG: none, REGISTRY_AUTH_FILE: path.join(none, 'auth.json') } });
    expect(denied.code).toBe(4);
    expect(denied.stderr).toContain(target.host);
    expect(denied.stderr).toContain(none);
  });

  it('refuses a bundle with one flipped byte: verify names image and blob; import writes no tag or manifest, and with --verify-first nothing', async () => {
    const damaged = path.join(work, 'damaged.ferry.tar');
    await copyFile(bundle, damaged);
    const lock = JSON.parse(await readFile(path.join(work, 'app.lock.json'), 'utf8'));
    const app = lock.images.find((i: { ref: string }) => i.ref === seeded.refs.app);
    const appOnly = app.blobs.find((b: { digest: string; mediaType: string }) => b.digest !== seeded.sharedLayer && !b.mediaType.includes('config'));
    await flipByte(damaged, `blobs/sha256/${appOnly.digest.slice(7)}`, 10);

    const v = await runFerry(['bundle', 'verify', damaged]);
    expect(v.code).toBe(3);
    expect(v.stderr).toContain(seeded.refs.app);
    expect(v.stderr).toContain(appOnly.digest.slice(7, 19));
    expect(v.stderr).not.toMatch(/\n\s+at /);

    // --verify-first: the whole bundle is checked before the first write; the registry stays empty.
    const first = await startRegistry({ mode: 'http' });
    targets.push(first);
    const i1 = await runFerry(['import', damaged, '--target', await writeTarget('fresh-first', first), '--verify-first'], { env: env() });
    expect(i1.code).toBe(3);
    expect(i1.stderr).toContain('nothing was imported');
    expect(i1.stderr).toContain(seeded.refs.app);
    expect(await catalog(first)).toEqual([]);

    // The default (one read): blobs may be there, untagged; no tag and no manifest of any image.
    const targetDir = path.join(work, 'damaged-target');
    const target = await startRegistry({ mode: 'http', dir: targetDir });
    const file = await writeTarget('fresh', target);
    const i = await runFerry(['import', damaged, '--target', file], { env: env() });
    expect(i.code).toBe(3);
    expect(i.stderr).toContain('nothing was imported: no manifest or tag was written');
    expect(i.stderr).toContain('garbage collection');
    expect(i.stderr).toContain(seeded.refs.app);
    expect(i.stderr).toContain(`${appOnly.digest}: digest mismatch`);
    expect(i.stderr).not.toMatch(/\n\s+at /);
    expect(await catalog(target)).not.toEqual([]); // blobs went out: this is the one-read order at work
    let checked = 0;
    for (const img of lock.images as Array<{ ref: string; digest: string; storedDigest?: string; manifests?: Array<{ digest: string }> }>) {
      const ref = img.ref.replace(/@.*$/, '');
      const repo = `mirror/${upstream.host.replace(':', '-')}/${ref.slice(upstream.host.length + 1).replace(/:[^/:]+$/, '')}`;
      const tags = await fetch(`${target.url}/v2/${repo}/tags/list`);
      const listed = tags.status === 200 ? (((await tags.json()) as { tags?: string[] | null }).tags ?? []) : [];
      expect(listed, repo).toEqual([]);
      for (const digest of [img.storedDigest ?? img.digest, ...(img.manifests ?? []).map((m) => m.digest)]) {
        const res = await fetch(`${target.url}/v2/${repo}/manifests/${digest}`, { method: 'HEAD', headers: { accept: MANIFEST_TYPES } });
        expect(res.status, `${repo}@${digest}`).toBe(404);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(lock.images.length);

    // What was left is what the registry's garbage collection removes: no blob survives it.
    const blobsDir = path.join(target.storageDir, 'docker/registry/v2/blobs');
    const blobFiles = async () => (await readdir(blobsDir, { recursive: true }).catch(() => [] as string[])).filter((f) => String(f).endsWith('/data'));
    expect((await blobFiles()).length).toBeGreaterThan(0);
    await target.stop();
    await mustRun(REGISTRY_BIN, ['garbage-collect', path.join(targetDir, 'config.yml')]);
    expect(await blobFiles()).toEqual([]);
  });

  it('an import killed midway completes when run again', async () => {
    const target = await startRegistry({ mode: 'http' });
    targets.push(target);
    const file = await writeTarget('interrupted', target);
    const child = spawn(process.execPath, [FERRY, 'import', bundle, '--target', file, '--concurrency', '1'], { env: { ...process.env, ...env() }, stdio: 'ignore' });
    const closed = new Promise((r) => child.once('close', r));
    // Kill once the registry holds an upload in progress of the big layer (over 20 MB received).
    const uploads = path.join(target.storageDir, 'docker/registry/v2/repositories');
    const deadline = Date.now() + 120_000;
    let killed = false;
    while (Date.now() < deadline && child.exitCode === null) {
      const bytes = await dirBytes(uploads);
      if (bytes > 20 * 1024 * 1024) {
        child.kill('SIGKILL');
        killed = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await closed;
    expect(killed).toBe(true);
    const r = await runFerry(['import', bundle, '--target', file, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    for (const key of ['base', 'app', 'multi', 'docker', 'big'] as const) {
      const repoTag = seeded.refs[key]!.replace(upstream.host, `mirror/${upstream.host.replace(':', '-')}`);
      expect(await skopeoDigest(target, `${target.host}/${repoTag}`)).toBe(seeded.digests[key]);
    }
  });

  it('imports into a directory target that ferry serve serves to skopeo with upstream digests', async () => {
    const file = path.join(work, 'dir-target.yaml');
    await writeFile(file, 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: dir }\ndirectory: ./mirror-dir\n');
    const r = await runFerry(['import', bundle, '--target', file], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const server = spawn(process.execPath, [FERRY, 'serve', path.join(work, 'mirror-dir'), '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        server.stdout.on('data', (d) => {
          out += d;
          const m = /http:\/\/([\d.]+:\d+)/.exec(out);
          if (m) resolve(m[1]);
        });
        server.once('close', (c) => reject(new Error(`serve exited ${c}: ${out}`)));
      });
      const fakeReg = { host: url, tls: false } as RunningRegistry;
      for (const key of ['base', 'multi', 'docker'] as const) {
        expect(await skopeoDigest(fakeReg, `${url}/${upstream.host.replace(':', '-')}/${seeded.refs[key].slice(upstream.host.length + 1)}`)).toBe(seeded.digests[key]);
      }
    } finally {
      server.kill('SIGTERM');
    }
  });
});

describe('errors a user meets', () => {
  it('a manifest with several mistakes lists every one with its path, and no stack trace', async () => {
    const bad = path.join(work, 'bad.yaml');
    await writeFile(
      bad,
      'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: Bad_Name }\nimages:\n  - ref: alpine:3.20\n  - ref: "Alpine:latest"\n  - ref: ok/image:1\n    platforms: [linux]\n  - ref: x\n    colour: blue\n',
    );
    const r = await runFerry(['lock', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('metadata.name');
    expect(r.stderr).toContain('images[1].ref: not a valid image reference: repository name must be lowercase');
    expect(r.stderr).toContain('images[2].platforms[0]');
    expect(r.stderr).toContain('images[3]: unknown field "colour"');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a target with no place for images is refused before anything is sent', async () => {
    const file = path.join(work, 'files-only.yaml');
    await writeFile(file, 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: files-only }\nfiles: { dir: ./f, baseUrl: "https://files.site.internal" }\n');
    const r = await runFerry(['import', bundle, '--target', file], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the target has no place for the bundle\'s images; nothing was imported');
    expect(r.stderr).toContain('image: add registry: { url } or directory:');
  });

  it('an unknown image names the reference and the registry', async () => {
    const m = path.join(work, 'missing.yaml');
    await writeFile(m, `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: missing }\nimages:\n  - ref: ${upstream.host}/ferry-test/nope:9\n`);
    const r = await runFerry(['lock', m], { env: env() });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('ferry-test/nope');
    expect(r.stderr).toContain(upstream.host);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('wrong credentials name the registry and where credentials were looked for', async () => {
    const reg = await startRegistry({ mode: 'basic' });
    targets.push(reg);
    const cfg = await mkdtemp(path.join(work, 'dockercfg-'));
    await writeFile(path.join(cfg, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('ferry:wrong').toString('base64') } } }));
    const m = path.join(work, 'creds.yaml');
    await writeFile(m, `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: creds }\nimages:\n  - ref: ${reg.host}/any/image:1\n`);
    const r = await runFerry(['lock', m], { env: { ...env(), DOCKER_CONFIG: cfg, NODE_EXTRA_CA_CERTS: reg.caFile } });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(reg.host);
    expect(r.stderr).toContain(path.join(cfg, 'config.json'));
    expect(r.stderr).not.toContain('wrong');
  });

  it('an untrusted certificate names the host and says how to add a CA', async () => {
    const reg = await startRegistry({ mode: 'tls' });
    targets.push(reg);
    const m = path.join(work, 'tls.yaml');
    await writeFile(m, `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: tls }\nimages:\n  - ref: ${reg.host}/any/image:1\n`);
    const r = await runFerry(['lock', m], { env: env() });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(reg.host.split(':')[0]);
    expect(r.stderr).toMatch(/--ca-file|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE/);
    // And with the CA it works (the image does not exist: NOT_FOUND, not TLS).
    const ok = await runFerry(['lock', m, '--ca-file', reg.caFile!], { env: env() });
    expect(ok.stderr).toContain('any/image');
    expect(ok.stderr).not.toMatch(/certificate/i);
  });
});

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (e.isFile()) {
      try {
        total += (await stat(path.join(e.parentPath, e.name))).size;
      } catch {
        /* removed while we looked */
      }
    }
  }
  return total;
}
