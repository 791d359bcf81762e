import { createHash } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { importBundle } from '../../src/commands/import.js';
import { silentProgress } from '../../src/ui/progress.js';
import { makeGpgKey, type GpgKey } from '../support/apt-repo.js';
import { publishVendor, siteTargetYaml, startVendorLab, stopVendorLab, vendorDeb, type VendorLab } from '../support/apt-vendor.js';
import { runFerry } from '../support/cli.js';
import { clearFsHooks, fired, firstEndsWith, fsHook } from '../support/fs-hooks.js';

/**
 * Hostile inputs, round 42: a test for round 41's fix of APT import's links between suite versions.
 * A suite whose own pool lies under `dists/<suite>/pool/` (Docker CE's layout) is written into each
 * published version; a package the current version already holds is hard-linked from it. The
 * current copy was hashed by path, then linked by path: another local user renaming a file of
 * the same size over it in between had that file linked into the new version (which the site key
 * then signs as the vendor's package). Now the copy is hashed through a descriptor and the link
 * must be that same unchanged file, else the package is written from the bundle. The window is
 * made deterministic with a hook on the link call (vi.mock of node:fs/promises, test/support/fs-hooks.ts).
 */
vi.mock('node:fs/promises', async (importOriginal) => (await import('../support/fs-hooks.js')).hookedFsPromises(await importOriginal()));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const POOL = 'dists/stable/pool/main/h/hello_1.0_amd64.deb';
let lab: VendorLab | undefined;
let key: GpgKey;
let project: string;
let debs: string;
let deb: Buffer;
const env = () => ({ FERRY_CACHE_DIR: path.join(lab!.work, 'cache') });

/** The vendor repository published with `date`, locked and bundled as `<name>.tar` (the CLI: no hook there). */
async function bundleOf(name: string, date: Date): Promise<string> {
  await publishVendor(path.join(lab!.work, 'public'), debs, {
    root: 'vendor',
    suite: 'stable',
    fields: ['Origin: Vendor', 'Suite: stable', 'Codename: stable', 'Architectures: amd64', 'Components: main', `Date: ${date.toUTCString()}`],
    indexes: [{ comp: 'main', arch: 'amd64', debs: { hello: POOL } }],
    compress: ['', '.gz'],
    key,
  });
  const lock = await runFerry(['lock', 'manifest.yaml'], { cwd: project, env: env() });
  expect(lock.code, lock.stderr).toBe(0);
  const create = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', `${name}.tar`, '--frozen'], { cwd: project, env: env() });
  expect(create.code, create.stderr).toBe(0);
  return path.join(project, `${name}.tar`);
}

/** Every file named `name` under `dir`, through no symbolic link (the suite versions themselves). */
async function copiesOf(dir: string, name: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile() && e.name === name).map((e) => path.join(e.parentPath, e.name));
}

beforeAll(async () => {
  lab = await startVendorLab('ferry-hostile42-apt-');
  key = await makeGpgKey(lab.work, 'vendor');
  debs = path.join(lab.work, 'debs');
  const made = await vendorDeb(debs, 'hello', '1.0', 'amd64');
  deb = await readFile(made);
  project = path.join(lab.work, 'project');
  await mkdir(project);
  await writeFile(path.join(project, 'vendor.asc'), await readFile(key.publicKey));
  await writeFile(path.join(project, 'site.secret.asc'), await readFile(lab.site.secretKey));
  await writeFile(path.join(project, 'target.yaml'), siteTargetYaml(lab));
  await writeFile(
    path.join(project, 'manifest.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: apt }', 'apt:', '  - name: vendor', `    url: ${lab.upstream.url}/vendor`, '    suites: [stable]', '    components: [main]', '    architectures: [amd64]', '    keys: [vendor.asc]', ''].join('\n'),
  );
}, 120_000);
afterAll(() => stopVendorLab(lab));
afterEach(clearFsHooks);

const importOf = (bundle: string) => importBundle(bundle, { target: path.join(project, 'target.yaml'), progress: silentProgress, cwd: project });

describe('APT import: a suite pool package linked from the current version into the next', () => {
  it('a file of the same size renamed over the current copy between its hash and the link: not linked; the new version holds the vendor\'s package', { timeout: 120_000 }, async () => {
    const first = await bundleOf('one', new Date(Date.now() - 2 * 86400_000));
    await importOf(first);
    const [v1] = await copiesOf(lab!.mirrorDir, path.basename(POOL));
    expect(sha(await readFile(v1))).toBe(sha(deb));

    const second = await bundleOf('two', new Date(Date.now() - 86400_000));
    const evil = Buffer.alloc(deb.length, 0x45);
    const window = fsHook({
      call: 'link',
      match: firstEndsWith(`/${POOL}`),
      // Another local user renames a file of theirs over the current version's copy, after ferry hashed it.
      run: (current) => {
        const other = path.join(lab!.work, 'other.deb');
        writeFileSync(other, evil);
        renameSync(other, current);
      },
    });
    await importOf(second);
    expect(fired(window), 'the current copy was linked into the new version').toBe(true);

    const copies = await copiesOf(lab!.mirrorDir, path.basename(POOL));
    expect(copies.length, 'two suite versions, each with its copy').toBe(2);
    // Through the suite's symlink, as clients read it: the version just published.
    const root = copies[0].slice(0, copies[0].indexOf('/dists/'));
    const now = await readFile(path.join(root, POOL));
    expect(sha(now), 'the new version (dists/stable now) holds the file renamed over the old copy, linked unchecked').toBe(sha(deb));
  });
});
