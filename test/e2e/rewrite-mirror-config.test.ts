import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, mustRun, runCommand, runFerry } from '../support/cli.js';
import { seedImages, skopeoDigest, type SeededImages } from '../support/images.js';
import { skopeoEnv, skopeoTlsArgs, startRegistry, type RunningRegistry } from '../support/registry.js';
import { containerdFor } from '../support/containerd.js';

/**
 * Import, then rewrite and generate runtime configs, then prove with real clients that what
 * ferry wrote is exactly where the bytes are: skopeo through the generated registries.conf and
 * containerd through the generated hosts.toml pull upstream-named images from the loopback
 * mirror while the upstream registry is stopped; every rewritten reference resolves on the mirror.
 */
let work: string;
let upstream: RunningRegistry;
let mirror: RunningRegistry;
let seeded: SeededImages;
let upstreamHost: string;
let targetFile: string;
let lockFile: string;
let bundle: string;
let lock: { images: Array<{ ref: string; digest: string; storedDigest?: string }> };
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });

/** Where the nested mapping with prefix `ferry` puts an upstream repository (spelled out independently of ferry). */
const onMirror = (upstreamRepo: string) => `${mirror.host}/ferry/${upstreamHost.replace(':', '-')}/${upstreamRepo}`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-rewrite-'));
  upstream = await startRegistry({ mode: 'http' });
  upstreamHost = upstream.host;
  seeded = await seedImages(upstream);
  await mustRun('skopeo', ['copy', '--all', ...skopeoTlsArgs(upstream, 'src'), ...skopeoTlsArgs(upstream, 'dest'), `docker://${seeded.refs.multi}`, `docker://${upstream.host}/ferry-test/multi-arm:1`], { env: skopeoEnv() });
  const manifest = path.join(work, 'site.yaml');
  await writeFile(
    manifest,
    [
      'apiVersion: ferry/v1alpha1',
      'kind: Manifest',
      'metadata: { name: site }',
      'images:',
      `  - ref: ${seeded.refs.base}`,
      `  - ref: ${seeded.refs.app}`,
      `  - ref: ${seeded.refs.multi}`,
      `  - ref: ${upstream.host}/ferry-test/multi-arm@${seeded.digests.multi}`,
      '    platforms: [linux/arm64]',
      '',
    ].join('\n'),
  );
  let r = await runFerry(['lock', manifest, '--insecure-registry', upstream.host], { env: env() });
  expect(r.code, r.stderr).toBe(0);
  lockFile = path.join(work, 'site.lock.json');
  lock = JSON.parse(await readFile(lockFile, 'utf8'));
  bundle = path.join(work, 'site.ferry.tar');
  r = await runFerry(['bundle', 'create', manifest, '-o', bundle, '--frozen', '--concurrency', '1', '--insecure-registry', upstream.host], { env: env() });
  expect(r.code, r.stderr).toBe(0);

  mirror = await startRegistry({ mode: 'http' });
  targetFile = path.join(work, 'target.yaml');
  await writeFile(targetFile, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: ${mirror.url}\n  prefix: ferry\n  layout: nested\n`);
  r = await runFerry(['import', bundle, '--target', targetFile], { env: env() });
  expect(r.code, r.stderr).toBe(0);
  // From here on the upstream is gone: anything that still needs it fails.
  await upstream.stop();
}, 600_000);

afterAll(async () => {
  await mirror?.stop();
  await upstream?.stop().catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('mirror-config registries-conf', () => {
  it('skopeo with the generated registries.conf pulls upstream-named images from the mirror (upstream stopped)', async () => {
    const out = path.join(work, 'containers');
    const r = await runFerry(['mirror-config', 'registries-conf', '-t', targetFile, '--bundle', bundle, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const conf = path.join(out, 'registries.conf');
    expect(await readFile(conf, 'utf8')).toContain(`location = "${mirror.host}/ferry/${upstreamHost.replace(':', '-')}"`);
    // The upstream is stopped, so the only way these succeed is the mirror entry.
    for (const key of ['base', 'app', 'multi'] as const) {
      const ins = await runCommand('skopeo', ['--registries-conf', conf, 'inspect', '--raw', '--tls-verify=false', `docker://${seeded.refs[key]}`], { env: skopeoEnv() });
      expect(ins.code, ins.stderr).toBe(0);
      const digest = 'sha256:' + (await import('node:crypto')).createHash('sha256').update(ins.stdout).digest('hex');
      expect(digest).toBe(seeded.digests[key]);
    }
    // A full pull (every blob) through the mirror.
    const pulled = path.join(work, 'pulled-app');
    const cp = await runCommand('skopeo', ['--registries-conf', conf, 'copy', '--src-tls-verify=false', `docker://${seeded.refs.app}`, `oci:${pulled}:app`], { env: skopeoEnv() });
    expect(cp.code, cp.stderr).toBe(0);
    // Without the generated file the same pull fails: the upstream really is gone.
    const without = await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', '--retry-times', '0', `docker://${seeded.refs.app}`], { env: skopeoEnv(), timeoutMs: 60_000 });
    expect(without.code).not.toBe(0);
  });

  it('is deterministic, and --dry-run against the written files shows no difference', async () => {
    const out = path.join(work, 'containers');
    const r = await runFerry(['mirror-config', 'registries-conf', '-t', targetFile, '--lock', lockFile, '-o', out, '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).diff).toBe('');
  });
});

describe('mirror-config containerd', () => {
  const cd = containerdFor('ferry-containerd-');
  const ctr = (args: string[]) => cd.ctr(args);

  it('containerd resolves and fetches an upstream-named image through the generated hosts.toml (upstream stopped)', async () => {
    const out = path.join(work, 'containerd');
    const r = await runFerry(['mirror-config', 'containerd', '-t', targetFile, '--lock', lockFile, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    // The directory is named as the reference spells the host, port included.
    expect(await readdir(path.join(out, 'certs.d'))).toEqual([upstreamHost]);
    const hosts = await readFile(path.join(out, 'certs.d', upstreamHost, 'hosts.toml'), 'utf8');
    expect(hosts).toContain(`[host."http://${mirror.host}/v2/ferry/${upstreamHost.replace(':', '-')}"]`);
    expect(hosts).toContain('override_path = true');

    const fetched = await ctr(['content', 'fetch', '--hosts-dir', path.join(out, 'certs.d'), seeded.refs.app]);
    expect(fetched.code, `${fetched.stdout}\n${fetched.stderr}\n${cd.log().slice(-3000)}`).toBe(0);
    // What containerd now holds is the upstream manifest, byte for byte (same digest).
    const listed = await ctr(['content', 'ls', '-q']);
    expect(listed.stdout.split('\n')).toContain(seeded.digests.app);
    // Without the hosts dir the same fetch fails: the upstream is stopped.
    const direct = await ctr(['content', 'fetch', '--plain-http', `${upstreamHost}/ferry-test/base:1`]);
    expect(direct.code).not.toBe(0);
  });

  it('containerd pulls straight from `ferry serve` over the bundle, through the generated hosts.toml', async () => {
    const server = spawn(process.execPath, [FERRY, 'serve', bundle, '--listen', '127.0.0.1:0', '--access-log'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let access = '';
    server.stderr!.on('data', (d) => (access += d));
    try {
      const served = await new Promise<string>((resolve, reject) => {
        let out = '';
        server.stdout!.on('data', (d) => {
          out += d;
          const m = /http:\/\/([\d.]+:\d+)/.exec(out);
          if (m) resolve(m[1]);
        });
        server.once('close', (c) => reject(new Error(`ferry serve exited ${c}: ${out}`)));
      });
      // ferry serve with no target maps nested, no prefix: the target that describes it says just that.
      const serveTarget = path.join(work, 'serve-target.yaml');
      await writeFile(serveTarget, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: served }\nregistry:\n  url: http://${served}\n`);
      const out = path.join(work, 'containerd-served');
      const r = await runFerry(['mirror-config', 'containerd', '-t', serveTarget, '--bundle', bundle, '-o', out]);
      expect(r.code, r.stderr).toBe(0);
      const fetched = await ctr(['content', 'fetch', '--hosts-dir', path.join(out, 'certs.d'), seeded.refs.multi]);
      expect(fetched.code, fetched.stderr).toBe(0);
      expect((await ctr(['content', 'ls', '-q'])).stdout.split('\n')).toContain(seeded.digests.multi);
      // It came from ferry serve: the manifest request is in serve's access log.
      expect(access).toMatch(new RegExp(`GET /v2/${upstreamHost.replace(':', '-')}/ferry-test/multi/manifests/[^ ]+ 200`));
    } finally {
      server.kill('SIGTERM');
    }
  });

  it('a TLS mirror with its own CA: containerd (hosts.toml ca) and skopeo (certs.d) trust it through the generated files', async () => {
    const tls = await startRegistry({ mode: 'tls' });
    try {
      const tlsTarget = path.join(work, 'tls-target.yaml');
      await writeFile(tlsTarget, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: tls }\nregistry:\n  url: ${tls.url}\n  prefix: ferry\n  ca: ${tls.caFile}\n`);
      const imp = await runFerry(['import', bundle, '--target', tlsTarget], { env: env() });
      expect(imp.code, imp.stderr).toBe(0);

      const out = path.join(work, 'containerd-tls');
      const r = await runFerry(['mirror-config', 'containerd', '-t', tlsTarget, '--bundle', bundle, '-o', out, '--config-path', path.join(out, 'certs.d')]);
      expect(r.code, r.stderr).toBe(0);
      const hosts = await readFile(path.join(out, 'certs.d', upstreamHost, 'hosts.toml'), 'utf8');
      expect(hosts).toContain(`ca = "${path.join(out, 'certs.d', upstreamHost, 'ca.crt')}"`);
      expect(await readFile(path.join(out, 'certs.d', upstreamHost, 'ca.crt'), 'utf8')).toBe(await readFile(tls.caFile!, 'utf8'));
      const fetched = await ctr(['content', 'fetch', '--hosts-dir', path.join(out, 'certs.d'), seeded.refs.multi]);
      expect(fetched.code, `${fetched.stdout}\n${fetched.stderr}\n${cd.log().slice(-3000)}`).toBe(0);
      expect((await ctr(['content', 'ls', '-q'])).stdout.split('\n')).toContain(seeded.digests.multi);
      // The CA line is what makes it work: without it containerd refuses the mirror's certificate.
      const noCa = path.join(work, 'containerd-tls-noca');
      await mkdir(path.join(noCa, upstreamHost), { recursive: true });
      await writeFile(path.join(noCa, upstreamHost, 'hosts.toml'), hosts.replace(/^\s*ca = .*$/m, ''));
      const refused = await ctr(['content', 'fetch', '--hosts-dir', noCa, seeded.refs.docker]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/x509|certificate/);

      const conf = path.join(work, 'containers-tls');
      const rc = await runFerry(['mirror-config', 'registries-conf', '-t', tlsTarget, '--bundle', bundle, '-o', conf]);
      expect(rc.code, rc.stderr).toBe(0);
      const certDir = path.join(conf, 'certs.d', tls.host);
      const ins = await runCommand('skopeo', ['--registries-conf', path.join(conf, 'registries.conf'), 'inspect', '--raw', '--cert-dir', certDir, `docker://${seeded.refs.multi}`], { env: skopeoEnv() });
      expect(ins.code, ins.stderr).toBe(0);
      expect('sha256:' + (await import('node:crypto')).createHash('sha256').update(ins.stdout).digest('hex')).toBe(seeded.digests.multi);
    } finally {
      await tls.stop();
    }
  });
});

describe('mirror-config containerd for a mirror that asks for client certificates', () => {
  const cd = containerdFor('ferry-containerd-mtls-');
  const ctr = (args: string[]) => cd.ctr(args);

  it('hosts.toml names the CA and where each node keeps its client pair (no private key is copied); containerd pulls with the pair in place', async () => {
    const mtls = await startRegistry({ mode: 'tls', clientCa: true });
    try {
      const target = path.join(work, 'mtls-target.yaml');
      await writeFile(target, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: mtls }\nregistry:\n  url: ${mtls.url}\n  prefix: ferry\n  certDir: ${mtls.certDir}\n`);
      const imp = await runFerry(['import', bundle, '--target', target], { env: env() });
      expect(imp.code, imp.stderr).toBe(0);

      const out = path.join(work, 'containerd-mtls');
      const certsD = path.join(out, 'certs.d');
      const r = await runFerry(['mirror-config', 'containerd', '-t', target, '--bundle', bundle, '-o', out, '--config-path', certsD]);
      expect(r.code, r.stderr).toBe(0);
      const pairAt = path.join(certsD, mtls.host);
      expect(r.stdout + r.stderr).toContain(`put each node's certificate and key at ${pairAt}/client.cert + ${pairAt}/client.key`);
      // Credentials are another matter hosts.toml cannot carry: said, with where they go instead.
      expect(r.stdout + r.stderr).toContain(`a mirror that asks for credentials: hosts.toml cannot hold them; give the pods an imagePullSecret for ${mtls.host}`);
      const hosts = await readFile(path.join(certsD, upstreamHost, 'hosts.toml'), 'utf8');
      expect(hosts).toContain(`ca = "${path.join(certsD, upstreamHost, 'ca.crt')}"`);
      expect(hosts).toContain(`client = [["${pairAt}/client.cert", "${pairAt}/client.key"]]`);
      // The CA in the certs.d directory is the one written out for the nodes; no key left the site's directory.
      expect(await readFile(path.join(certsD, upstreamHost, 'ca.crt'), 'utf8')).toContain((await readFile(path.join(mtls.certDir!, 'ca.crt'), 'utf8')).trim());
      expect(existsSync(path.join(pairAt, 'client.key'))).toBe(false);

      // Without the pair in place containerd cannot pull (the registry asks for a certificate)…
      const without = await ctr(['content', 'fetch', '--hosts-dir', certsD, seeded.refs.multi]);
      expect(without.code).not.toBe(0);
      // …with it (the operator's step), it pulls the pinned digest.
      await mkdir(pairAt, { recursive: true });
      await cp(path.join(mtls.certDir!, 'client.cert'), path.join(pairAt, 'client.cert'));
      await cp(path.join(mtls.certDir!, 'client.key'), path.join(pairAt, 'client.key'));
      const fetched = await ctr(['content', 'fetch', '--hosts-dir', certsD, seeded.refs.multi]);
      expect(fetched.code, `${fetched.stdout}\n${fetched.stderr}\n${cd.log().slice(-3000)}`).toBe(0);
      expect((await ctr(['content', 'ls', '-q'])).stdout.split('\n')).toContain(seeded.digests.multi);
    } finally {
      await mtls.stop();
    }
  });
});

describe('rewrite against the mirror', () => {
  it('rewrite manifests: every rewritten image resolves on the mirror; the platform-filtered digest is the stored one', async () => {
    const file = path.join(work, 'deploy.yaml');
    const filtered = lock.images.find((i) => i.storedDigest)!;
    await writeFile(
      file,
      [
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata: { name: app }',
        'spec:',
        '  template:',
        '    spec:',
        '      initContainers:',
        `        - { name: init, image: "${seeded.refs.base}" }`,
        '      containers:',
        '        - name: app',
        `          image: ${seeded.refs.app}   # the app`,
        '        - name: arm',
        `          image: ${upstreamHost}/ferry-test/multi-arm@${seeded.digests.multi}`,
        '',
      ].join('\n'),
    );
    const r = await runFerry(['rewrite', 'manifests', file, '-t', targetFile, '--bundle', bundle]);
    expect(r.code, r.stderr).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(text).toContain(`image: "${onMirror('ferry-test/base:1')}"`);
    expect(text).toContain(`image: ${onMirror('ferry-test/app:1')}   # the app`);
    expect(text).toContain(`image: ${onMirror('ferry-test/multi-arm')}@${filtered.storedDigest}`);
    expect(r.stdout).toContain(`${seeded.refs.app} → ${onMirror('ferry-test/app:1')}`);
    // Each rewritten reference is really there (skopeo, straight at the mirror).
    for (const ref of [...text.matchAll(/image: "?([^"\s]+)"?/g)].map((m) => m[1])) {
      const ins = await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { env: skopeoEnv() });
      expect(ins.code, `${ref}: ${ins.stderr}`).toBe(0);
    }
    expect(await skopeoDigest(mirror, `${onMirror('ferry-test/multi-arm')}@${filtered.storedDigest}`)).toBe(filtered.storedDigest);
    // Rewriting twice changes nothing the second time.
    const again = await runFerry(['rewrite', 'manifests', file, '-t', targetFile, '--lock', lockFile, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).replacements).toEqual([]);
    expect(await readFile(file, 'utf8')).toBe(text);
  });

  it('rewrite values: the override points every image at a repository the mirror serves', async () => {
    const values = path.join(work, 'values.yaml');
    const [repo, tag] = seeded.refs.app.slice(upstreamHost.length + 1).split(':');
    await writeFile(values, `app:\n  image:\n    registry: ${upstreamHost}\n    repository: ${repo}\n    tag: "${tag}"\nbase:\n  image: ${seeded.refs.base}\n`);
    const override = path.join(work, 'override.yaml');
    const r = await runFerry(['rewrite', 'values', values, '-o', override, '-t', targetFile, '--lock', lockFile]);
    expect(r.code, r.stderr).toBe(0);
    const { parse } = await import('yaml');
    const o = parse(await readFile(override, 'utf8'));
    // What a chart template composes: {{registry}}/{{repository}}:{{tag}}.
    const composed = `${o.app.image.registry}/${repo}:${tag}`;
    for (const ref of [composed, o.base.image]) {
      const ins = await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { env: skopeoEnv() });
      expect(ins.code, `${ref}: ${ins.stderr}`).toBe(0);
    }
    expect(Object.keys(o.app.image)).toEqual(['registry']);
  });

  it('a reference the mirror does not hold fails the command and writes nothing, unless --allow-unmapped', async () => {
    const file = path.join(work, 'pod.yaml');
    const original = `apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec:\n  containers:\n    - name: a\n      image: ${seeded.refs.app}\n    - name: b\n      image: ${upstreamHost}/ferry-test/not-imported:1\n`;
    await writeFile(file, original);
    const r = await runFerry(['rewrite', 'manifests', file, '-t', targetFile, '--lock', lockFile]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${upstreamHost}/ferry-test/not-imported:1`);
    expect(r.stderr).toContain('--allow-unmapped');
    expect(await readFile(file, 'utf8')).toBe(original);
    const ok = await runFerry(['rewrite', 'manifests', file, '-t', targetFile, '--lock', lockFile, '--allow-unmapped']);
    expect(ok.code, ok.stderr).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(text).toContain(onMirror('ferry-test/app:1'));
    expect(text).toContain(`image: ${upstreamHost}/ferry-test/not-imported:1`);
    expect(ok.stdout).toContain('not mirrored');
  });
});
