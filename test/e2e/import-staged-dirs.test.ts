import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { runFerry } from '../support/cli.js';
import { startStaticServer, writeHelloChartRepo, type StaticServer } from '../support/chart-repo.js';
import { pseudoRandomStream, seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { listTree } from '../support/fs-tree.js';
import { writeDirectoryTarget } from '../support/offline-lock.js';
import { flipByte, tarEntries } from '../support/tar-walk.js';

/**
 * `ferry import` into directory targets (an OCI layout, a chart repository, a files tree)
 * reads the bundle once: the blob pass stages every blob in its target directory, hashed as it
 * streams; the verify pass reads only the rest; the files get their names only after that. A
 * damaged bundle leaves nothing in the directories — no file under a final name, no staged copy.
 */
let work: string;
let reg: RunningRegistry;
let web: StaticServer;
let seeded: SeededImages;
let bundle: string;
let disk: Buffer;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '20' });

async function target(name: string): Promise<{ file: string; root: string }> {
  const root = path.join(work, name);
  const file = await writeDirectoryTarget(root, name);
  return { file, root };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-staged-'));
  reg = await startRegistry({ mode: 'http' });
  seeded = await seedImages(reg);
  const webRoot = path.join(work, 'web');
  await mkdir(path.join(webRoot, 'files'), { recursive: true });
  const chunks: Buffer[] = [];
  for await (const c of pseudoRandomStream(3 * 1024 * 1024 + 77, 'staged-disk')) chunks.push(c as Buffer);
  disk = Buffer.concat(chunks);
  await writeFile(path.join(webRoot, 'files', 'disk.img'), disk);
  await writeHelloChartRepo(work, webRoot);
  web = await startStaticServer(webRoot);
  const manifest = path.join(work, 'staged.yaml');
  await writeFile(
    manifest,
    stringifyYaml({
      apiVersion: 'ferry/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'staged' },
      images: [{ ref: seeded.refs.app, extras: false }],
      charts: [{ name: 'hello', repo: `${web.url}/charts`, version: '1.0.0', images: 'none' }],
      files: [{ name: 'disk', url: `${web.url}/files/disk.img`, sha256: sha256(disk) }],
    }),
  );
  bundle = path.join(work, 'staged.ferry.tar');
  const r = await runFerry(['bundle', 'create', manifest, '-o', bundle], { env: env() });
  expect(r.code, r.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  await reg?.stop();
  await web?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

interface ImportJson {
  verified: { files: number; bytes: number; whilePushing: { files: number; bytes: number; read: number } };
  results: Array<{ artifact: string; location: string; bytesSent: number; skipped: boolean }>;
}

describe('import into directory targets, one read of the bundle', () => {
  it('hashes every blob once as it is staged, names the files after the verify pass, and leaves no staged copy', async () => {
    const t = await target('good');
    // What an import killed midway staged (its process is gone): removed by this one.
    await mkdir(path.join(t.root, 'files'), { recursive: true });
    await writeFile(path.join(t.root, 'files', `.ferry-staged-${sha256(disk)}.ferry-2147483646-0badc0de.tmp`), 'left by a killed import');
    const r = await runFerry(['import', bundle, '--target', t.file, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as ImportJson;
    // The file, the chart archive and the image's blobs were hashed while they were staged:
    // the verify pass read only what is left (metadata and small files).
    expect(report.verified.whilePushing.bytes).toBeGreaterThan(disk.length);
    expect(report.verified.bytes - report.verified.whilePushing.bytes).toBeLessThan(64 * 1024);
    expect(report.verified.whilePushing.read).toBe(report.verified.whilePushing.bytes);

    const files = await listTree(path.join(t.root, 'files'));
    const img = files.find((f) => f.endsWith('/disk.img'));
    expect(img).toBeDefined();
    expect(sha256(await readFile(path.join(t.root, 'files', img!)))).toBe(sha256(disk));
    expect(await listTree(path.join(t.root, 'charts'))).toEqual(['hello-1.0.0.tgz', 'index.yaml']);
    const layoutIndex = JSON.parse(await readFile(path.join(t.root, 'layout', 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(layoutIndex.manifests).toHaveLength(2);
    // The image under the digest the registry has, every blob it names in the layout.
    expect(layoutIndex.manifests.map((m) => m.digest)).toContain(seeded.digests.app);
    const inLayout = async (digest: string) => readFile(path.join(t.root, 'layout', 'blobs', 'sha256', digest.slice(7)));
    const top = await inLayout(seeded.digests.app);
    expect(`sha256:${sha256(top)}`).toBe(seeded.digests.app);
    const m = JSON.parse(top.toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
    for (const d of [m.config, ...m.layers]) expect(`sha256:${sha256(await inLayout(d.digest))}`).toBe(d.digest);
    // Nothing left under a temporary or staged name anywhere in the target.
    expect((await listTree(t.root)).filter((f) => /\.ferry-|\.tmp$/.test(f))).toEqual([]);

    const again = await runFerry(['import', bundle, '--target', t.file, '--json'], { env: env() });
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(again.stdout) as ImportJson;
    expect(second.results.every((x) => x.skipped && x.bytesSent === 0)).toBe(true);
    // A rerun stages nothing: what the directories hold is left as it is.
    expect(second.verified.whilePushing.bytes).toBe(0);
  });

  it('a damaged blob leaves the directories as they were: no file named, no staged copy', async () => {
    const damaged = path.join(work, 'damaged.ferry.tar');
    await cp(bundle, damaged);
    const entries = await tarEntries(damaged);
    const blob = `blobs/sha256/${sha256(disk)}`;
    expect(entries.has(blob)).toBe(true);
    await flipByte(damaged, blob, 1234);
    const t = await target('damaged');
    const r = await runFerry(['import', damaged, '--target', t.file], { env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`sha256:${sha256(disk)}`);
    expect(r.stderr).toMatch(/nothing was imported/);
    const left = await listTree(t.root);
    // Only the target file itself; the layout may hold its empty skeleton, never a blob or index entry.
    expect(left.filter((f) => f !== 'target.yaml' && !/^layout\/(oci-layout|index\.json)$/.test(f))).toEqual([]);
    const index = await readFile(path.join(t.root, 'layout', 'index.json'), 'utf8').catch(() => undefined);
    if (index !== undefined) expect((JSON.parse(index) as { manifests: unknown[] }).manifests).toEqual([]);
  });
});
