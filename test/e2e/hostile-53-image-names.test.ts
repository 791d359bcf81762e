import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { CraftedBundle } from '../support/craft-bundle.js';
import { pushLayoutImage, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { startFerryServe } from '../support/static-http.js';

/**
 * A real bundle of one image (from the loopback docker-registry, made by ferry), its lock and
 * index.json then edited together as an attacker with the file would, checksums recomputed: the
 * image's reference with an upper-case repository, `//`, `..`, a tag outside the OCI grammar, a
 * sha384 digest of 40 hex, or an upstream digest of the wrong length. `bundle verify` and `map`
 * check the lock against its schema; import and serve read it unchecked, so import wrote
 * `…/Team/app:1.0` into an OCI layout and serve started, serving the entries it could place and
 * saying nothing of the rest. Each command now refuses, naming the entry.
 */
let work: string;
let reg: RunningRegistry;
let good: CraftedBundle;
let target: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });
const REF_NAME = 'org.opencontainers.image.ref.name';

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile53-names-'));
  reg = await startRegistry({ mode: 'http' });
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, [{ name: 'app', platforms: [{ architecture: 'amd64', layers: [{ files: { 'srv/a.txt': 'app\n' } }] }] }]);
  await pushLayoutImage(reg, layout, 'app', 'team/app:1.0');
  await writeFile(path.join(work, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: h53 }', 'images:', `  - ref: ${reg.host}/team/app:1.0`, ''].join('\n'));
  const r = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'good.tar'], { cwd: work, env: env() });
  expect(r.code, r.stderr).toBe(0);
  good = await CraftedBundle.load(path.join(work, 'good.tar'));
  target = path.join(work, 'target.yaml');
  await writeFile(target, ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'directory: ./layout-out', ''].join('\n'));
}, 180_000);

afterAll(async () => {
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

type LockImage = { ref: string; source: string; digest: string; storedDigest?: string };

/** The bundle with its image's lock entry and index.json entry edited alike (`ref` the new reference). */
async function crafted(name: string, ref: (old: string) => string, more: (img: LockImage, annotations: Record<string, string>) => void = () => {}): Promise<string> {
  const b = good.clone();
  const lock = b.getJson<{ images: LockImage[] }>('ferry/lock.json');
  const img = lock.images[0];
  const index = b.index;
  const top = index.manifests.find((m) => m.annotations?.[REF_NAME] === img.ref)!;
  img.ref = ref(img.ref);
  top.annotations![REF_NAME] = img.ref;
  more(img, top.annotations!);
  b.setJson('ferry/lock.json', lock);
  b.index = index;
  return b.write(path.join(work, `${name}.tar`));
}

const CASES: Array<[string, (r: string) => string, RegExp, ((img: LockImage, a: Record<string, string>) => void)?]> = [
  ['an upper-case repository', (r) => r.replace('team/app', 'Team/app'), /images\[0\]\.ref: not a valid image reference: repository name must be lowercase/],
  ['an empty path component (//)', (r) => r.replace('team/app', 'team//app'), /images\[0\]\.ref: not a valid image reference: invalid path component ""/],
  ['a .. path component', (r) => r.replace('team/app', 'team/../app'), /images\[0\]\.ref: not a valid image reference: invalid path component "\.\."/],
  ['a tag starting with a dot', (r) => r.replace(':1.0', ':.hidden'), /images\[0\]\.ref: not a valid image reference: invalid tag "\.hidden"/],
  ['a tag of 129 characters', (r) => r.replace(':1.0', `:${'t'.repeat(129)}`), /images\[0\]\.ref: not a valid image reference: invalid tag "t{129}"/],
  ['a sha384 digest of 40 hex', (r) => `${r}@sha384:${'a'.repeat(40)}`, /images\[0\]\.ref: not a valid image reference: a sha384 digest has 96 lowercase hex characters/],
  [
    'an upstream digest of 62 hex (the stored one filtered from it)',
    (r) => r,
    /images\[0\]\.digest: .*sha256/,
    (img, a) => {
      img.storedDigest = img.digest;
      img.digest = img.digest.slice(0, -2);
      a['io.ferry.upstream-digest'] = img.digest;
    },
  ],
];

describe('a bundle whose lock and index.json name its image with a reference or digest outside the OCI grammar', () => {
  for (const [what, ref, why, more] of CASES) {
    it(`${what}: bundle verify, import, serve and map refuse it, naming the entry; import writes nothing`, { timeout: 60_000 }, async () => {
      const tar = await crafted(what.replace(/\W+/g, '-'), ref, more);
      const verify = await runFerry(['bundle', 'verify', tar], { cwd: work, env: env() });
      expect(verify.code, verify.stdout + verify.stderr).toBe(3);
      expect(verify.stderr).toMatch(why);
      const out = path.join(work, 'layout-out');
      await rm(out, { recursive: true, force: true });
      const imp = await runFerry(['import', tar, '--target', target], { cwd: work, env: env() });
      expect(imp.code, imp.stdout + imp.stderr).not.toBe(0);
      expect(imp.stderr).toMatch(/nothing was imported/);
      expect(imp.stderr).not.toMatch(/unexpected error/i);
      expect(await readdir(out).catch(() => [])).toEqual([]);
      const map = await runFerry(['map', tar, '--target', target], { cwd: work, env: env() });
      expect(map.code, map.stdout + map.stderr).not.toBe(0);
      expect(map.stderr).toMatch(why);
      const served = await startFerryServe([tar], { cwd: work, env: env() }).then(
        async (s) => {
          await s.stop();
          return 'served';
        },
        (err: Error) => err.message,
      );
      expect(served).toMatch(/not serving it/);
      expect(served).toMatch(why);
    });
  }
});
