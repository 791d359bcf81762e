import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { runFerry } from '../support/cli.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A bank platform engineer's job on both sides of the gap (new-user round 5): a split bundle
 * carried on a USB stick, imported into a Harbor-like registry (bearer tokens) with the robot
 * account handed over by a docker credential helper, then `map` over the split bundle. The slips:
 * the helper was run once per repository, `map` read a bundle's first part as a manifest, and a
 * bundle part given as `--manifest` printed thousands of parser complaints full of NUL bytes.
 */
let work: string;
let upstream: RunningRegistry;
let harbor: RunningRegistry;
let seeded: SeededImages;
const env = (extra: NodeJS.ProcessEnv = {}) => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1', ...extra });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser5-'));
  [upstream, harbor] = await Promise.all([startRegistry({ mode: 'http' }), startRegistry({ mode: 'token', username: 'robot$bank+ferry' })]);
  seeded = await seedImages(upstream);
  await writeFile(
    path.join(work, 'bank.yaml'),
    stringifyYaml({
      apiVersion: 'ferry/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'bank' },
      images: [{ ref: seeded.refs.base }, { ref: seeded.refs.app }, { ref: seeded.refs.multi, platforms: ['linux/amd64'] }],
    }),
  );
  await mkdir(path.join(work, 'usb'));
  const created = await runFerry(['bundle', 'create', 'bank.yaml', '-o', 'usb/bank.ferry.tar', '--split-size', '4K'], { cwd: work, env: env() });
  expect(created.code, created.stderr).toBe(0);
  await writeFile(
    path.join(work, 'site.yaml'),
    stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 'site' }, registry: { url: harbor.url, prefix: 'platform' } }),
  );
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([upstream?.stop(), harbor?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a Harbor robot account through a docker credential helper', () => {
  it('the helper is asked once for the registry, not once per repository imported', async () => {
    const bin = path.join(work, 'bin');
    const cfg = path.join(work, 'helper-config');
    const log = path.join(work, 'helper.log');
    await mkdir(bin, { recursive: true });
    await mkdir(cfg, { recursive: true });
    const helper = path.join(bin, 'docker-credential-bank');
    await writeFile(
      helper,
      `#!/bin/sh\nread host\necho "$1 $host" >> '${log}'\n[ "$1" = get ] || exit 1\nprintf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\\n' "$host" '${harbor.username}' '${harbor.password}'\n`,
    );
    await chmod(helper, 0o755);
    await writeFile(path.join(cfg, 'config.json'), JSON.stringify({ credHelpers: { [harbor.host]: 'bank' } }));

    const r = await runFerry(['import', 'usb/bank.ferry.tar.001', '--target', 'site.yaml'], {
      cwd: work,
      env: env({ DOCKER_CONFIG: cfg, PATH: `${bin}:${process.env.PATH}` }),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/3 imported/);
    // Three repositories were written; the robot account was fetched from the helper once.
    const calls = (await readFile(log, 'utf8')).trim().split('\n');
    expect(calls).toEqual([`get ${harbor.host}`]);
    expect(harbor.tokenServer!.requests.filter((q) => q.outcome === 'ok').every((q) => q.account === harbor.username)).toBe(true);
  });
});

describe('the split bundle on the air-gapped side', () => {
  it('`map` takes the first part of a split bundle (and its .parts list) as verify and import do', async () => {
    for (const named of ['usb/bank.ferry.tar.001', 'usb/bank.ferry.tar.parts', 'usb/bank.ferry.tar']) {
      const r = await runFerry(['map', named, '--target', 'site.yaml', '--json'], { cwd: work, env: env() });
      expect(r.code, `${named}: ${r.stderr}`).toBe(0);
      const rows = JSON.parse(r.stdout).rows as Array<{ upstream: string }>;
      expect(rows.map((x) => x.upstream).sort()).toEqual([seeded.refs.app, seeded.refs.base, seeded.refs.multi].sort());
    }
  });

  it('a bundle part given where a manifest goes is named as a binary file in one line, with no bytes of it printed', async () => {
    const r = await runFerry(['audit', '.', '--manifest', 'usb/bank.ferry.tar.001'], { cwd: work, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/usb\/bank\.ferry\.tar\.001: manifest is a binary file \(a tar archive: a ferry bundle, or a part of a split one\?\), not YAML/);
    expect(r.stderr).toMatch(/ferry map <bundle>/);
    expect(r.stderr).not.toMatch(/\\u0000|Unexpected scalar token/);
    expect(r.stderr.length).toBeLessThan(1000);
  });
});

describe('a Harbor target whose projects take few path components', () => {
  it('import refusing a mirror path too deep says what to change, not only that it is too deep', async () => {
    await writeFile(
      path.join(work, 'shallow.yaml'),
      stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 'site' }, registry: { url: harbor.url, prefix: 'platform', maxPathDepth: 2 } }),
    );
    const r = await runFerry(['import', 'usb/bank.ferry.tar.001', '--target', 'shallow.yaml'], { cwd: work, env: env({ DOCKER_CONFIG: harbor.dockerConfigDir }) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/nothing was imported/);
    expect(r.stderr).toMatch(/has 4 components; the target allows 2 \(registry\.maxPathDepth: use layout: flat or a shorter prefix/);
  });
});
