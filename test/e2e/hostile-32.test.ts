import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, makeGpgKey, writeSignedRelease, type GpgKey } from '../support/apt-repo.js';
import { packageChart, writeHelloChartRepo } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';
import { CraftedBundle, type Desc } from '../support/craft-bundle.js';
import { writeDirectoryTarget } from '../support/offline-lock.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * Hostile inputs, round 32: a bundle whose index.json carries a chart, file or APT repository
 * the lock does not pin (named only there, or with other content under a locked name), with
 * ferry/checksums.sha256 recomputed so only the lock and index.json disagree. Import and `bundle
 * verify` refuse it, naming the entry; import writes nothing (before: each was written to the
 * site's chart, file and APT trees).
 */
let work: string;
let http: StaticServer;
let vendor: GpgKey;
let bundle: string;
let host: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '20' });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile32-'));
  const pub = path.join(work, 'public');
  await writeHelloChartRepo(work, pub);
  await mkdir(path.join(pub, 'files'), { recursive: true });
  await writeFile(path.join(pub, 'files', 'tool.bin'), 'the real tool\n');
  // An APT repository mirrored whole: one package, the vendor's signed Release.
  vendor = await makeGpgKey(work, 'vendor');
  const repo = path.join(pub, 'apt');
  await mkdir(path.join(repo, 'pool/main'), { recursive: true });
  await cp(await buildDeb(path.join(work, 'debs'), 'app', '1.0'), path.join(repo, 'pool/main/app_1.0_all.deb'));
  const packages = execFileSync('dpkg-scanpackages', ['--multiversion', 'pool', '/dev/null'], { cwd: repo, stdio: ['ignore', 'pipe', 'ignore'] });
  const d = path.join(repo, 'dists/stable');
  await mkdir(path.join(d, 'main/binary-amd64'), { recursive: true });
  await writeFile(path.join(d, 'main/binary-amd64/Packages'), packages);
  await writeSignedRelease(d, vendor, ['Origin: Vendor', 'Suite: stable', 'Codename: stable', `Date: ${new Date().toUTCString()}`, 'Architectures: amd64', 'Components: main'], [{ path: 'main/binary-amd64/Packages', bytes: packages }]);
  http = await startStaticServer(pub);
  host = new URL(http.url).host.replace(':', '-');
  await writeFile(
    path.join(work, 'manifest.yaml'),
    [
      'apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: h32 }',
      'charts:', `  - { repo: "${http.url}/charts", name: hello, version: 1.0.0, images: [] }`,
      'files:', `  - { name: tool, url: "${http.url}/files/tool.bin" }`,
      'apt:', `  - { name: vendor, url: "${http.url}/apt", suites: [stable], components: [main], architectures: [amd64], keys: [vendor.asc] }`, '',
    ].join('\n'),
  );
  bundle = path.join(work, 'h32.ferry.tar');
  const r = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', bundle], { cwd: work, env: env() });
  expect(r.code, r.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  await http?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A directory target (layout, charts, files, apt) of its own under `work/<name>`. */
async function target(name: string): Promise<{ file: string; root: string }> {
  const root = path.join(work, name);
  const file = await writeDirectoryTarget(root, name);
  await writeFile(file, `${await readFile(file, 'utf8')}apt: { dir: ${JSON.stringify(path.join(root, 'apt'))}, baseUrl: "https://apt.site.example" }\n`);
  return { file, root };
}

/** Every file under `dir` (none when it is not there). */
async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}


/** A copy of `kind`'s top-level entry (its manifest and config edited by `edit`) added to index.json. */
function addCopy(b: CraftedBundle, kind: string, refName: string, edit: (m: { manifest: Record<string, unknown> & { config: Desc; layers: Desc[] }; config: Record<string, unknown> }) => void): void {
  const index = b.index;
  const orig = index.manifests.find((d) => d.annotations?.['io.ferry.kind'] === kind)!;
  const copy: Desc = { ...orig, annotations: { ...orig.annotations, 'org.opencontainers.image.ref.name': refName } };
  index.manifests.push(copy);
  b.index = index;
  b.editArtifact((d) => d === copy || (d.annotations?.['org.opencontainers.image.ref.name'] === refName && d.annotations?.['io.ferry.kind'] === kind), edit);
}

/** Import (into a fresh target) and bundle verify of a crafted bundle: each refuses it naming `named`, nothing is written. */
async function refusedEverywhere(out: string, name: string, named: RegExp): Promise<void> {
  const t = await target(name);
  const r = await runFerry(['import', out, '--target', t.file], { env: env() });
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.stderr).toMatch(named);
  expect(r.stderr).toMatch(/bundle's lock/);
  expect(await filesUnder(t.root)).toEqual(['target.yaml']);
  const v = await runFerry(['bundle', 'verify', out]);
  expect(v.code, v.stdout + v.stderr).not.toBe(0);
  expect(v.stdout + v.stderr).toMatch(named);
}

describe("index.json entries of charts, files and APT repositories that the bundle's lock does not pin", () => {
  it('the unchanged bundle imports (the checks refuse nothing the lock pins)', async () => {
    const t = await target('clean');
    const r = await runFerry(['import', bundle, '--target', t.file], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(path.join(t.root, 'files', host, 'files/tool.bin'), 'utf8')).toBe('the real tool\n');
    const v = await runFerry(['bundle', 'verify', bundle]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });

  it('a chart named only in index.json (a copy of the locked one under another name and version)', { timeout: 120_000 }, async () => {
    const b = await CraftedBundle.load(bundle);
    const name = `${http.url.replace('http://', '')}/charts/evil:6.6.6`;
    addCopy(b, 'chart', name, ({ config }) => {
      config.name = 'evil';
      config.version = '6.6.6';
    });
    await refusedEverywhere(await b.write(path.join(work, 'chart-extra.tar')), 'chart-extra', /charts\/evil:6\.6\.6/);
  });

  it("a locked chart whose archive in the bundle is another one (same name and version)", { timeout: 120_000 }, async () => {
    const b = await CraftedBundle.load(bundle);
    const src = path.join(work, 'src', 'evil-hello');
    await mkdir(path.join(src, 'templates'), { recursive: true });
    await writeFile(path.join(src, 'Chart.yaml'), 'apiVersion: v2\nname: hello\nversion: 1.0.0\n');
    await writeFile(path.join(src, 'templates', 'pod.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: evil\nspec:\n  containers: [{ name: x, image: evil.example/x:1 }]\n');
    const evil = await packageChart(src, path.join(work, 'evil-chart'));
    const blob = b.putBlob(await readFile(evil.file));
    b.editArtifact((d) => d.annotations?.['io.ferry.kind'] === 'chart', ({ manifest }) => {
      const layer = manifest.layers.find((l) => l.mediaType.includes('helm.chart.content'))!;
      Object.assign(layer, blob);
    });
    await refusedEverywhere(await b.write(path.join(work, 'chart-swapped.tar')), 'chart-swapped', new RegExp(`${blob.digest}.*lock pins|archive in the bundle is ${blob.digest}`));
  });

  it('a file named only in index.json, written at a URL of its own', { timeout: 120_000 }, async () => {
    const b = await CraftedBundle.load(bundle);
    const ghost = b.putBlob('not from upstream\n');
    addCopy(b, 'file', 'ghost', ({ manifest }) => {
      Object.assign(manifest.layers[0], ghost);
      manifest.layers[0].annotations!['io.ferry.source'] = `${http.url}/files/ghost.bin`;
    });
    await refusedEverywhere(await b.write(path.join(work, 'file-extra.tar')), 'file-extra', /ghost/);
  });

  it('a locked file whose content in the bundle is other bytes of the same size than the sha256 the lock pins', { timeout: 120_000 }, async () => {
    const b = await CraftedBundle.load(bundle);
    const evil = b.putBlob('the evil tool\n'); // as long as the real one
    b.editArtifact((d) => d.annotations?.['io.ferry.kind'] === 'file', ({ manifest }) => Object.assign(manifest.layers[0], evil));
    const lock = JSON.parse(b.files.get('ferry/lock.json')!.toString('utf8')) as { files: Array<{ sha256?: string; size?: number }> };
    expect(lock.files[0].size).toBe(14);
    // The lock pins the content's sha256 (as a manifest's sha256: writes it): the other bytes are refused.
    lock.files[0].sha256 = (await import('node:crypto')).createHash('sha256').update('the real tool\n').digest('hex');
    b.setJson('ferry/lock.json', lock);
    await refusedEverywhere(await b.write(path.join(work, 'file-swapped.tar')), 'file-swapped', new RegExp(`${evil.digest}.*lock pins sha256:${lock.files[0].sha256}`));
  });

  it('an APT repository named only in index.json (the locked one copied under another name and URL)', { timeout: 120_000 }, async () => {
    const b = await CraftedBundle.load(bundle);
    addCopy(b, 'apt', 'ghost-apt', ({ config }) => {
      config.name = 'ghost-apt';
      config.url = `${http.url}/ghost`;
    });
    await refusedEverywhere(await b.write(path.join(work, 'apt-extra.tar')), 'apt-extra', /ghost-apt/);
  });

  it('a locked APT repository carrying a package layer the lock does not pin', { timeout: 120_000 }, async () => {
    const b = await CraftedBundle.load(bundle);
    const deb = b.putBlob(await readFile(await buildDeb(path.join(work, 'evil-debs'), 'evil', '1.0')));
    b.editArtifact((d) => d.annotations?.['io.ferry.kind'] === 'apt', ({ manifest }) => {
      manifest.layers.push({ mediaType: 'application/vnd.debian.binary-package', ...deb, annotations: { 'org.opencontainers.image.title': 'pool/main/evil_1.0_all.deb', 'io.ferry.role': 'package' } });
    });
    await refusedEverywhere(await b.write(path.join(work, 'apt-extra-deb.tar')), 'apt-extra-deb', /pool\/main\/evil_1\.0_all\.deb/);
  });
});
