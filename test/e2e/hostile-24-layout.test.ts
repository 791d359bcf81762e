import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { runFerry } from '../support/cli.js';
import { CraftedBundle } from '../support/craft-bundle.js';
import { startServe } from '../support/craft-serve.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * Image names a crafted bundle gives its artifacts, imported into an OCI layout directory
 * (`directory:` of a target): the name becomes the layout's `org.opencontainers.image.ref.name`,
 * which `skopeo copy oci:<dir>:<name>` and `ferry serve` read back. A real bundle of one image
 * from a real registry, its index.json annotation rewritten as an attacker would.
 */
let work: string;
let reg: RunningRegistry;
let seeded: SeededImages;
let base: CraftedBundle;
let caseNo = 0;
const REF = 'org.opencontainers.image.ref.name';
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile24-layout-'));
  reg = await startRegistry({ mode: 'http' });
  seeded = await seedImages(reg, { workDir: path.join(work, 'seed') });
  const project = path.join(work, 'project');
  await mkdir(project, { recursive: true });
  await writeFile(path.join(project, 'manifest.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'layout' }, images: [{ ref: seeded.refs.base }] }));
  const insecure = ['--insecure-registry', reg.host];
  const lock = await runFerry(['lock', 'manifest.yaml', ...insecure], { cwd: project, env: env() });
  expect(lock.code, lock.stderr).toBe(0);
  const tar = path.join(project, 'base.ferry.tar');
  const create = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', tar, '--frozen', ...insecure], { cwd: project, env: env() });
  expect(create.code, create.stderr).toBe(0);
  base = await CraftedBundle.load(tar);
}, 300_000);

afterAll(async () => {
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

/** The bundle with its image renamed `name`, imported into a layout-only target. */
/**
 * The base bundle with its first image renamed to `name`, in index.json and in the lock (what is
 * under test is the name, not an image only index.json names: import and serve refuse those).
 */
function renamed(name: string) {
  const b = base.clone();
  const index = b.index;
  const image = index.manifests.find((d) => (d.annotations?.['io.ferry.kind'] ?? 'image') === 'image')!;
  const lock = b.getJson<{ images: Array<{ ref: string }> }>('ferry/lock.json');
  lock.images.find((i) => i.ref === image.annotations?.[REF])!.ref = name;
  b.setJson('ferry/lock.json', lock);
  image.annotations = { ...image.annotations, [REF]: name };
  b.index = index;
  return b;
}

async function importNamed(name: string) {
  const dir = path.join(work, 'cases', String(++caseNo));
  await mkdir(dir, { recursive: true });
  const b = renamed(name);
  const tar = await b.write(path.join(dir, 'crafted.ferry.tar'));
  await writeFile(path.join(dir, 'target.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 'site' }, directory: './layout' }));
  const r = await runFerry(['import', tar, '-t', 'target.yaml'], { cwd: dir, env: env(), timeoutMs: 120_000 });
  const layout = await readdir(path.join(dir, 'layout'), { recursive: true }).catch(() => [] as string[]);
  return { ...r, out: r.stdout + r.stderr, layout };
}

describe('an image name that cannot name an artifact in an OCI layout', () => {
  const host = 'registry.example.test';
  const cases: Array<[string, string, RegExp]> = [
    ['a 4 000-byte name', `${host}/${'a'.repeat(4000)}:1`, /: it is 4024 bytes long; ferry writes at most 3000/],
    ['a 250-byte repository path component', `${host}/team/${'b'.repeat(250)}:1`, /a component of it is 252 bytes long; ferry writes at most 200/],
    ['a name climbing out with ..', `${host}/../../etc/cron.d:1`, /component "\.\." is not one the OCI image spec allows/],
    ['an absolute name', '/etc/cron.d/evil:1', /component "" is not one the OCI image spec allows/],
    ['a name with terminal escapes', `${host}/app\u001b]0;pwned\u0007:1`, /is not one the OCI image spec allows/],
  ];
  for (const [what, name, why] of cases) {
    it(`${what}: refused before anything is written, naming the image`, async () => {
      const r = await importNamed(name);
      expect(r.code, r.out).not.toBe(0);
      expect(r.out).toContain('refusing it as a name in the OCI layout');
      expect(r.out, r.out.slice(0, 1500)).toMatch(why);
      expect(r.out).not.toContain('\u001b]');
      // The name is shown, cut short: a crafted name of kilobytes does not fill the terminal.
      expect(r.out.length).toBeLessThan(1500);
      expect(r.out).not.toMatch(/ENAMETOOLONG|Unexpected/);
      expect(r.layout.filter((f) => f === 'index.json' || f.startsWith('blobs/sha256/'))).toEqual([]);
    }, 180_000);
  }

  it('a name the spec allows (host, port, path, tag and digest) is imported as before', async () => {
    const r = await importNamed(`${host}:5000/team/app:1.0@sha256:${'c'.repeat(64)}`);
    expect(r.code, r.out).toBe(0);
    expect(r.layout).toContain('index.json');
  }, 180_000);
});

describe('ferry serve of a bundle whose image name is kilobytes of garbage', () => {
  it('refuses to serve it, naming the entry cut short', async () => {
    // Since hostile53, serve holds the lock's image entries to the lock schema as import does:
    // a bundle whose lock names no valid reference is refused whole, not served in part.
    const dir = path.join(work, 'cases', 'serve');
    await mkdir(dir, { recursive: true });
    const b = renamed(`not a reference ${'x'.repeat(100_000)}`);
    const tar = await b.write(path.join(dir, 'crafted.ferry.tar'));
    const r = await runFerry(['serve', tar, '--listen', '127.0.0.1:0'], { cwd: dir, env: env(), timeoutMs: 60_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('images[0].ref');
    expect(r.stderr).not.toContain('x'.repeat(1000));
    expect(r.stderr.length).toBeLessThan(4000);
  }, 120_000);
});
