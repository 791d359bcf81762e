import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { CraftedBundle } from '../support/craft-bundle.js';
import { runCommand, runFerry } from '../support/cli.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * Hostile inputs, round 30: the target registry lying during `ferry import` (an in-process proxy
 * in front of a real docker-registry answers what a real one never would), and a bundle whose
 * lock and index.json disagree. Each case against the built CLI; what the site registry holds
 * afterwards is read by skopeo.
 */
let work: string;
let upstream: RunningRegistry;
let site: RunningRegistry;
let seeded: SeededImages;
let bundle: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '20' });

/** A target for `url` with its own prefix, so each case starts from repositories nobody wrote. */
async function target(name: string, url: string): Promise<string> {
  const file = path.join(work, `${name}.target.yaml`);
  await writeFile(file, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name }, registry: { url, prefix: name, layout: 'flat' } }));
  return file;
}

/** What the site registry answers for `<prefix>/<repo>:<tag>` (skopeo's digest, or its failure). */
async function siteDigest(reg: RunningRegistry, repoAndTag: string, extra: string[] = []): Promise<string> {
  const r = await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', ...extra, `docker://${reg.host}/${repoAndTag}`]);
  if (r.code !== 0) return `absent: ${r.stderr.trim().split('\n').pop()}`;
  return 'sha256:' + (await import('node:crypto')).createHash('sha256').update(r.stdout).digest('hex');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile30-'));
  upstream = await startRegistry({ mode: 'http' });
  site = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  const manifest = path.join(work, 'h30.yaml');
  await writeFile(
    manifest,
    stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'h30' }, images: [{ ref: seeded.refs.app, extras: false }, { ref: seeded.refs.base, extras: false }] }),
  );
  bundle = path.join(work, 'h30.ferry.tar');
  const r = await runFerry(['bundle', 'create', manifest, '-o', bundle], { env: env() });
  expect(r.code, r.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  await upstream?.stop();
  await site?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const appRepo = () => new URL(`http://${seeded.refs.app}`).pathname.slice(1).replace(/:.*/, '');
const baseRepo = () => new URL(`http://${seeded.refs.base}`).pathname.slice(1).replace(/:.*/, '');

describe('the lock and index.json of a bundle disagree', () => {
  it('an image tagged in index.json that the lock does not list: refused before anything is written, naming it', async () => {
    const b = await CraftedBundle.load(bundle);
    const index = b.index;
    const app = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === seeded.refs.app)!;
    const smuggled = `${upstream.host}/ferry-test/smuggled:1`;
    index.manifests.push({ ...app, annotations: { ...app.annotations, 'org.opencontainers.image.ref.name': smuggled } });
    b.index = index;
    const out = await b.write(path.join(work, 'extra-top.ferry.tar'));
    const verify = await runFerry(['bundle', 'verify', out]);
    const r = await runFerry(['import', out, '--target', await target('extratop', site.url)], { env: env() });
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain(smuggled);
    expect(r.stderr).toMatch(/not in the bundle's lock|the lock does not/);
    expect(await siteDigest(site, 'extratop/ferry-test/smuggled:1')).toMatch(/^absent/);
    expect(await siteDigest(site, `extratop/${appRepo()}:1`)).toMatch(/^absent/);
    expect(verify.code, verify.stdout + verify.stderr).not.toBe(0);
    expect(verify.stdout + verify.stderr).toContain(smuggled);
  });

  it("a locked image whose tag in index.json points at another manifest of the bundle: refused; the tag is not moved", async () => {
    const b = await CraftedBundle.load(bundle);
    const index = b.index;
    const app = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === seeded.refs.app)!;
    const base = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === seeded.refs.base)!;
    app.digest = base.digest;
    app.size = base.size;
    b.index = index;
    const out = await b.write(path.join(work, 'moved-tag.ferry.tar'));
    const r = await runFerry(['import', out, '--target', await target('movedtag', site.url)], { env: env() });
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain(seeded.refs.app);
    expect(r.stderr).toContain(base.digest);
    expect(await siteDigest(site, `movedtag/${appRepo()}:1`)).toMatch(/^absent/);
    expect(await siteDigest(site, `movedtag/${baseRepo()}:1`)).toMatch(/^absent/);
  });
});

describe('the target registry lies during import', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy(site.url);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it('a HEAD saying every blob is there (200 with its size) when none is: no tag is written, the refusal names a blob and says what to do', async () => {
    proxy.clearRules();
    const sizes = new Map<string, number>();
    const b = await CraftedBundle.load(bundle);
    for (const [name, bytes] of b.files) if (name.startsWith('blobs/sha256/')) sizes.set(`sha256:${name.slice(13)}`, bytes.length);
    proxy.addRule({
      method: 'HEAD',
      path: /\/blobs\/sha256:[a-f0-9]{64}$/,
      times: Infinity,
      action: { kind: 'reply', status: 200, headers: (p) => ({ 'content-length': String(sizes.get(p.slice(p.lastIndexOf('/') + 1)) ?? 0), 'docker-content-digest': p.slice(p.lastIndexOf('/') + 1) }) },
    });
    const r = await runFerry(['import', bundle, '--target', await target('headlie', proxy.url)], { env: env() });
    proxy.clearRules();
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/sha256:[a-f0-9]{64}/);
    expect(r.stderr).toMatch(/BLOB_UNKNOWN|blob .* (unknown|missing|not there)/i);
    expect(await siteDigest(site, `headlie/${appRepo()}:1`)).toMatch(/^absent/);
    expect(await siteDigest(site, `headlie/${baseRepo()}:1`)).toMatch(/^absent/);
  });

  it('a cross-repository mount answered 201 when nothing was mounted: no tag over a missing blob', async () => {
    proxy.clearRules();
    proxy.addRule({ method: 'POST', path: /\/blobs\/uploads\/\?mount=/, times: Infinity, action: { kind: 'reply', status: 201, headers: () => ({ 'content-length': '0' }) } });
    const r = await runFerry(['import', bundle, '--target', await target('mountlie', proxy.url), '--concurrency', '1'], { env: env() });
    const mounts = proxy.requests.filter((q) => q.fault === 'reply').length;
    proxy.clearRules();
    expect(mounts).toBeGreaterThan(0);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/sha256:[a-f0-9]{64}/);
    // One of the two images shares the base layer: the one pushed second was told it was mounted.
    const tagged = [await siteDigest(site, `mountlie/${appRepo()}:1`), await siteDigest(site, `mountlie/${baseRepo()}:1`)];
    expect(tagged.filter((t) => t.startsWith('absent')).length).toBeGreaterThan(0);
    // Whatever is tagged is whole: skopeo copies it, every blob included.
    for (const [repo, t] of [
      [appRepo(), tagged[0]],
      [baseRepo(), tagged[1]],
    ]) {
      if (t.startsWith('absent')) continue;
      const c = await runCommand('skopeo', ['copy', '--src-tls-verify=false', `docker://${site.host}/mountlie/${repo}:1`, `oci:${path.join(work, 'mountlie-copy')}:${repo.replace(/\//g, '-')}`]);
      expect(c.code, c.stderr).toBe(0);
    }
  });

  it('a manifest PUT answered with another Docker-Content-Digest: refused naming both digests, not reported as imported', async () => {
    proxy.clearRules();
    const lie = `sha256:${'e'.repeat(64)}`;
    proxy.addRule({ method: 'PUT', path: /\/manifests\//, times: Infinity, action: { kind: 'headers', set: () => ({ 'docker-content-digest': lie }) } });
    const r = await runFerry(['import', bundle, '--target', await target('digestlie', proxy.url), '--json'], { env: env() });
    proxy.clearRules();
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain(lie);
    expect(r.stderr).toMatch(/expected sha256:[a-f0-9]{64}/);
    expect(r.stdout).not.toMatch(/"results"/);
  });

  it('an upload Location naming another host: the bearer token does not follow it there', async () => {
    const tokenReg = await startRegistry({ mode: 'token' });
    const front = await startFaultProxy(tokenReg.url);
    const seen: Array<{ method: string; url: string; authorization?: string }> = [];
    const catcher = http.createServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
      req.resume();
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': `Basic realm="elsewhere"` });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"elsewhere"}]}');
    });
    await new Promise<void>((resolve) => catcher.listen(0, '127.0.0.1', resolve));
    const elsewhere = `http://127.0.0.1:${(catcher.address() as AddressInfo).port}`;
    try {
      front.addRule({
        method: 'POST',
        path: /\/blobs\/uploads\/$/,
        times: Infinity,
        action: { kind: 'headers', set: (h) => ({ location: `${elsewhere}${new URL(String(h.location), tokenReg.url).pathname}${new URL(String(h.location), tokenReg.url).search}` }) },
      });
      const dockerConfig = path.join(work, 'docker-token');
      await mkdir(dockerConfig, { recursive: true });
      const auth = Buffer.from(`${tokenReg.username}:${tokenReg.password}`).toString('base64');
      await writeFile(path.join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [front.host]: { auth } } }));
      const r = await runFerry(['import', bundle, '--target', await target('elsewhere', front.url)], { env: { ...env(), DOCKER_CONFIG: dockerConfig } });
      expect(r.code, r.stderr).not.toBe(0);
      expect(seen.length).toBeGreaterThan(0);
      // The token server's Authorization went to the registry's origin; none reached the other host.
      expect(front.requests.some((q) => q.method === 'POST' && q.status === 202)).toBe(true);
      expect(seen.filter((s) => s.authorization !== undefined)).toEqual([]);
    } finally {
      catcher.closeAllConnections();
      await new Promise<void>((resolve) => catcher.close(() => resolve()));
      await front.stop();
      await tokenReg.stop();
    }
  });
});

describe('a valid signature from another bundle', () => {
  it("another bundle's signature (same key) beside this bundle's checksums: verify --key and import --key refuse, naming the bundle; nothing written", async () => {
    const key = path.join(work, 'sign.key');
    const pub = path.join(work, 'sign.pub');
    expect((await runCommand('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key])).code).toBe(0);
    expect((await runCommand('openssl', ['pkey', '-in', key, '-pubout', '-out', pub])).code).toBe(0);
    const signed: string[] = [];
    for (const [name, ref] of [
      ['one', seeded.refs.app],
      ['two', seeded.refs.base],
    ]) {
      const manifest = path.join(work, `sig-${name}.yaml`);
      await writeFile(manifest, stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: `sig-${name}` }, images: [{ ref, extras: false }] }));
      const out = path.join(work, `sig-${name}.ferry.tar`);
      const r = await runFerry(['bundle', 'create', manifest, '-o', out, '--sign-key', key], { env: env() });
      expect(r.code, r.stderr).toBe(0);
      signed.push(out);
    }
    const other = await CraftedBundle.load(signed[1]);
    const b = await CraftedBundle.load(signed[0]);
    b.files.set('ferry/checksums.sha256.sig', other.files.get('ferry/checksums.sha256.sig')!);
    const out = await b.write(path.join(work, 'sig-swapped.ferry.tar'), { keepChecksums: true });
    const v = await runFerry(['bundle', 'verify', out, '--key', pub]);
    expect(v.code, v.stderr).toBe(3);
    expect(v.stderr).toContain(out);
    expect(v.stderr).toMatch(/does not verify with this key/);
    const r = await runFerry(['import', out, '--key', pub, '--target', await target('sigswap', site.url)], { env: env() });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain(out);
    expect(r.stderr).toMatch(/nothing was imported/);
    expect(await siteDigest(site, `sigswap/${appRepo()}:1`)).toMatch(/^absent/);
    // Both bundles whole: each verifies with the key.
    for (const s of signed) expect((await runFerry(['bundle', 'verify', s, '--key', pub])).code).toBe(0);
  });
});
