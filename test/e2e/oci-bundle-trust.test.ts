import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { seedImages, skopeoDigest, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A bundle kept in a registry whose certificate comes from a private CA: `bundle verify`,
 * `import` and `serve` read `oci://…` with the `--ca-file` they are given (and refuse the
 * registry without it), like every other command that talks to a registry.
 */
let work: string;
let upstream: RunningRegistry;
let tlsStore: RunningRegistry;
let target: RunningRegistry;
let seeded: SeededImages;
let ref: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-oci-trust-'));
  upstream = await startRegistry({ mode: 'http' });
  tlsStore = await startRegistry({ mode: 'tls' });
  target = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  const manifest = path.join(work, 'app.yaml');
  await writeFile(manifest, ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: app }', 'images:', `  - ref: ${seeded.refs.app}`, ''].join('\n'));
  const bundle = path.join(work, 'app.ferry.tar');
  const created = await runFerry(['bundle', 'create', manifest, '-o', bundle, '-q'], { env: env() });
  expect(created.code, created.stderr).toBe(0);
  ref = `oci://${tlsStore.host}/bundles/app:v1`;
  const pushed = await runFerry(['bundle', 'push', bundle, ref, '-q', '--ca-file', tlsStore.caFile!], { env: env() });
  expect(pushed.code, pushed.stderr).toBe(0);
}, 600_000);

afterAll(async () => {
  for (const r of [upstream, tlsStore, target]) await r?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('oci:// bundles on a registry with a private CA', () => {
  it('bundle verify refuses the registry without --ca-file and verifies with it', async () => {
    const without = await runFerry(['bundle', 'verify', ref, '--json'], { env: env() });
    expect(without.code).not.toBe(0);
    expect(without.stderr).toMatch(/certificate|--ca-file/i);
    const r = await runFerry(['bundle', 'verify', ref, '--json', '--ca-file', tlsStore.caFile!], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.ok).toBe(true);
    expect(rep.images).toBe(1);
  });

  it('import reads the bundle with --ca-file and the target gets the upstream digest', async () => {
    const file = path.join(work, 'site.yaml');
    await writeFile(file, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: ${target.url}\n  prefix: mirror\n`);
    const without = await runFerry(['import', ref, '--target', file, '-q'], { env: env() });
    expect(without.code).not.toBe(0);
    expect(without.stderr).toMatch(/certificate|--ca-file/i);
    const r = await runFerry(['import', ref, '--target', file, '-q', '--ca-file', tlsStore.caFile!], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const mirrored = seeded.refs.app.replace(upstream.host, `${target.host}/mirror/${upstream.host.replace(':', '-')}`);
    expect(await skopeoDigest(target, mirrored)).toBe(seeded.digests.app);
  });

  it('map, sbom, report --bundle, audit --bundle, rewrite --bundle and mirror-config --bundle read it with --ca-file, and refuse the registry without', async () => {
    const file = path.join(work, 'site-readers.yaml');
    await writeFile(file, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: ${target.url}\n  prefix: mirror\n`);
    const values = path.join(work, 'values.yaml');
    await writeFile(values, `image: ${seeded.refs.app}\n`);
    const runs: Array<[string[], (stdout: string) => void]> = [
      [['map', ref, '-t', file, '--json'], (out) => expect(JSON.parse(out).rows.some((r: { upstream: string }) => r.upstream.includes(seeded.refs.app))).toBe(true)],
      [['sbom', ref], (out) => expect(JSON.parse(out).bomFormat).toBe('CycloneDX')],
      [['report', path.join(work, 'app.yaml'), '--bundle', ref, '--json'], (out) => expect(JSON.parse(out).bundle.artifacts.length).toBeGreaterThan(0)],
      [['rewrite', 'values', values, '-t', file, '--bundle', ref, '--dry-run'], (out) => expect(out).toContain(`${target.host}/mirror/`)],
      [['mirror-config', 'registries-conf', '-t', file, '--bundle', ref], (out) => expect(out).toContain(target.host)],
      [['audit', values, '--manifest', path.join(work, 'app.yaml'), '-t', file, '--bundle', ref, '--json'], (out) => expect(JSON.parse(out).findings.length).toBeGreaterThan(0)],
    ];
    for (const [args, check] of runs) {
      const without = await runFerry(args, { env: env() });
      expect(without.code, args.join(' ')).not.toBe(0);
      expect(without.stderr, args.join(' ')).toMatch(/certificate|--ca-file/i);
      const r = await runFerry([...args, '--ca-file', tlsStore.caFile!], { env: env() });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      check(r.stdout);
    }
  });

  it('serve reads the bundle with --ca-file', async () => {
    const { servedAppManifest } = await import('../support/craft-serve.js');
    expect(await servedAppManifest([ref, '--ca-file', tlsStore.caFile!], seeded, upstream.host)).toEqual({ status: 200, digest: seeded.digests.app });
  });
});
