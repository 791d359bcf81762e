import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPathComponent } from '../../src/mapping/index.js';
import { runFerry } from '../support/cli.js';
import { helloVendorProject, siteTargetYaml, startVendorLab, stopVendorLab, type VendorLab } from '../support/apt-vendor.js';
import { packageChart, writeRepoIndex } from '../support/chart-repo.js';
import { CraftedBundle, type Desc } from '../support/craft-bundle.js';
import { listTree } from '../support/fs-tree.js';
import { startFerryServe } from '../support/static-http.js';

/**
 * Mirror paths that two sources claim, across kinds (the files kind's are hostile-22-files):
 * two chart repositories' `demo 1.0.0` with different bytes (a chart repository on the mirror is
 * flat: one `demo-1.0.0.tgz`, one index.yaml), the same across two imports, a chart name too long
 * for a file system with ferry's suffixes, two APT repositories on one root (`http://` and
 * `https://` of one host, as a crafted bundle carries them) and an APT repository inside one an
 * earlier import wrote. Each is refused before anything is written, naming both sources; serve
 * answers neither of two that clash. Real nginx upstreams, apt metadata signed with gpg.
 */
let lab: VendorLab;
const env = () => ({ FERRY_CACHE_DIR: path.join(lab.work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  lab = await startVendorLab('ferry-e2e-hostile23-');
}, 60_000);

afterAll(() => stopVendorLab(lab));

async function ferry(dir: string, args: string[]) {
  return runFerry(args, { cwd: dir, env: env(), timeoutMs: 120_000 });
}

async function ok(dir: string, args: string[]): Promise<string> {
  const r = await ferry(dir, args);
  expect(r.code, `ferry ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
  return r.stdout + r.stderr;
}

function refusedBeforeWriting(r: { code: number; stderr: string }): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.stderr).toContain('found before anything was written; nothing was imported');
  expect(r.stderr).not.toMatch(/unexpected error|ENAMETOOLONG|\n\s+at /);
}

/** A chart `name` `version` whose ConfigMap says `says`, published in the upstream repository `repo`. */
async function publishChart(repo: string, charts: Array<{ name: string; version: string; says: string }>): Promise<void> {
  const out = path.join(lab.work, 'public', 'charts', repo);
  const packaged = [];
  for (const c of charts) {
    const src = path.join(lab.work, 'chart-src', repo, c.name);
    await mkdir(path.join(src, 'templates'), { recursive: true });
    await writeFile(path.join(src, 'Chart.yaml'), `apiVersion: v2\nname: ${c.name}\nversion: ${c.version}\ndescription: from ${repo}\n`);
    await writeFile(path.join(src, 'templates', 'cm.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cm }\ndata: { says: ${c.says} }\n`);
    packaged.push(await packageChart(src, out));
  }
  await writeRepoIndex(out, packaged);
}

async function chartProject(name: string, charts: Array<{ name: string; repo: string }>): Promise<string> {
  const dir = path.join(lab.work, name);
  await mkdir(dir, { recursive: true });
  const lines = charts.map((c) => `  - { name: ${c.name}, repo: "${lab.upstream.url}/charts/${c.repo}", version: 1.0.0 }`);
  await writeFile(path.join(dir, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${name} }`, 'charts:', ...lines, ''].join('\n'));
  await writeFile(path.join(dir, 'target.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: site }', 'charts: { dir: ./charts, baseUrl: https://charts.site.internal }', ''].join('\n'));
  await ok(dir, ['lock', 'manifest.yaml']);
  await ok(dir, ['bundle', 'create', 'manifest.yaml', '-o', 'b.tar']);
  return dir;
}

describe('charts of one name and version from two repositories', () => {
  beforeAll(async () => {
    await publishChart('r1', [{ name: 'demo', version: '1.0.0', says: 'one' }]);
    await publishChart('r2', [{ name: 'demo', version: '1.0.0', says: 'two' }, { name: 'other', version: '1.0.0', says: 'other' }]);
  }, 60_000);

  it('in one bundle: import into charts.dir refuses both before writing anything (it wrote one archive and listed the other digest in index.yaml); serve offers neither over HTTP', async () => {
    const dir = await chartProject('both', [{ name: 'demo', repo: 'r1' }, { name: 'demo', repo: 'r2' }]);
    const host = new URL(lab.upstream.url).host;
    const r = await ferry(dir, ['import', 'b.tar', '-t', 'target.yaml']);
    refusedBeforeWriting(r);
    expect(r.stderr).toContain(`chart ${host}/charts/r2/demo:1.0.0: demo 1.0.0 (sha256:`);
    expect(r.stderr).toMatch(new RegExp(`${host.replace(/\./g, '\\.')}/charts/r1/demo:1\\.0\\.0 \\(sha256:[0-9a-f]{12}…\\) maps to the same mirror path demo-1\\.0\\.0\\.tgz; only one chart archive can be there`));
    expect(r.stderr).toContain('import into a target without charts.dir, or bundle one of them');
    expect(await listTree(path.join(dir, 'charts')).catch(() => [])).toEqual([]);

    const s = await startFerryServe(['b.tar'], { cwd: dir, env: env() });
    try {
      expect((await fetch(`${s.url}/charts/demo-1.0.0.tgz`)).status).toBe(404);
      const index = await fetch(`${s.url}/charts/index.yaml`);
      if (index.ok) expect(await index.text()).not.toContain('demo');
    } finally {
      await s.stop();
    }
  }, 180_000);

  it('across two imports: the second bundle, with another archive of demo 1.0.0, is refused before anything of it is written; what the first import put there stays', async () => {
    const first = await chartProject('first', [{ name: 'demo', repo: 'r1' }]);
    await ok(first, ['import', 'b.tar', '-t', 'target.yaml']);
    const second = await chartProject('second', [{ name: 'other', repo: 'r2' }, { name: 'demo', repo: 'r2' }]);
    const before = { archive: await readFile(path.join(first, 'charts', 'demo-1.0.0.tgz')), index: await readFile(path.join(first, 'charts', 'index.yaml'), 'utf8') };
    const r = await ferry(second, ['import', 'b.tar', '-t', path.join(first, 'target.yaml')]);
    refusedBeforeWriting(r);
    expect(r.stderr).toMatch(/charts\/demo-1\.0\.0\.tgz holds another archive of demo 1\.0\.0 \(sha256:[0-9a-f]{12}…\), from an earlier import; this bundle's, from .*\/charts\/r2\/demo:1\.0\.0, is sha256:/);
    expect(r.stderr).toContain('a site keeps what it imported');
    expect(await readdir(path.join(first, 'charts'))).toEqual(['demo-1.0.0.tgz', 'index.yaml']);
    expect(await readFile(path.join(first, 'charts', 'demo-1.0.0.tgz'))).toEqual(before.archive);
    expect(await readFile(path.join(first, 'charts', 'index.yaml'), 'utf8')).toBe(before.index);
  }, 180_000);

  it('a chart name of 240 characters (Helm allows 250) is refused before writing: <name>-<version>.tgz and its temporary name are longer than a file system takes', async () => {
    const name = `long${'x'.repeat(236)}`;
    await publishChart('r3', [{ name, version: '1.0.0', says: 'long' }]);
    const dir = await chartProject('long', [{ name, repo: 'r3' }]);
    const r = await ferry(dir, ['import', 'b.tar', '-t', 'target.yaml']);
    refusedBeforeWriting(r);
    expect(r.stderr).toContain('a segment of its mirror path is 250 bytes long; ferry writes at most 200');
    expect(await listTree(path.join(dir, 'charts')).catch(() => [])).toEqual([]);
  }, 180_000);
});

describe('APT repositories whose roots clash', () => {
  let dir: string;
  let bundle: CraftedBundle;
  const host = () => hostPathComponent(new URL(lab.upstream.url).host);

  beforeAll(async () => {
    dir = path.join(lab.work, 'apt');
    await helloVendorProject(lab, dir);
    await writeFile(path.join(dir, 'target.yaml'), siteTargetYaml(lab));
    await ok(dir, ['lock', 'manifest.yaml']);
    await ok(dir, ['bundle', 'create', 'manifest.yaml', '-o', 'b.tar']);
    bundle = await CraftedBundle.load(path.join(dir, 'b.tar'));
  }, 120_000);

  /** The bundle with a second APT entry: the first's artifact, its config's url (and source) `url`. */
  function withSecond(url: string, replace = false): CraftedBundle {
    const b = bundle.clone();
    const index = b.index;
    const top = b.tops('apt')[0];
    const manifest = b.json<Record<string, unknown> & { config: Desc }>(top.digest);
    const config = b.json(manifest.config.digest);
    manifest.config = { ...manifest.config, ...b.putBlob({ ...config, url, name: 'copy' }) };
    const copy = { ...top, ...b.putBlob(manifest), annotations: { ...top.annotations, 'io.ferry.source': url, 'org.opencontainers.image.ref.name': 'copy' } };
    index.manifests = replace ? index.manifests.map((m) => (m === top || m.digest === top.digest ? copy : m)) : [...index.manifests, copy];
    b.index = index;
    // The lock pins the copy too: what is under test is the two roots, not an entry only index.json names.
    const lock = b.getJson<{ apt: Array<Record<string, unknown>> }>('ferry/lock.json');
    lock.apt.push({ ...lock.apt[0], name: 'copy', url });
    b.setJson('ferry/lock.json', lock);
    return b;
  }

  it('http:// and https:// of one host in one bundle map to one root: import refuses both before writing (it published one over the other); serve serves neither', async () => {
    const https = lab.upstream.url.replace('http://', 'https://') + '/vendor';
    const crafted = await withSecond(https).write(path.join(dir, 'schemes.tar'));
    const target = path.join(dir, 'schemes-target.yaml');
    const mirrorDir = path.join(dir, 'schemes-mirror');
    await writeFile(target, siteTargetYaml({ ...lab, mirrorDir }));
    const r = await ferry(dir, ['import', crafted, '-t', target]);
    refusedBeforeWriting(r);
    expect(r.stderr).toContain(`${lab.upstream.url}/vendor maps to the same mirror path ${host()}/vendor; only one APT repository can be there (the mirror path is the host and the path: not the scheme`);
    expect(r.stderr).toContain(`apt[vendor] ${lab.upstream.url}/vendor: ${https} has a mirror path`);
    expect(r.stderr).toContain('mirror them into separate apt.dir targets, or bundle one of them');
    expect(await listTree(mirrorDir).catch(() => [])).toEqual([]);

    const s = await startFerryServe([crafted], { cwd: dir, env: env() });
    try {
      expect((await fetch(`${s.url}/apt/${host()}/vendor/dists/stable/InRelease`)).status).toBe(404);
      expect((await fetch(`${s.url}/apt/${host()}/vendor/pool/main/h/hello_1.0_amd64.deb`)).status).toBe(404);
    } finally {
      await s.stop();
    }
  }, 180_000);

  it('a repository whose root lies inside one an earlier import wrote is refused before writing (it was written into the other repository\'s tree)', async () => {
    const target = path.join(dir, 'nested-target.yaml');
    const mirrorDir = path.join(dir, 'nested-mirror');
    await writeFile(target, siteTargetYaml({ ...lab, mirrorDir }));
    await ok(dir, ['import', 'b.tar', '-t', target]);
    const before = await listTree(mirrorDir);
    const crafted = await withSecond(`${lab.upstream.url}/vendor/extra`, true).write(path.join(dir, 'nested.tar'));
    const r = await ferry(dir, ['import', crafted, '-t', target]);
    refusedBeforeWriting(r);
    expect(r.stderr).toContain(`${path.join(mirrorDir, host(), 'vendor')} is the root of an APT repository an earlier import wrote (it has dists/); this repository's root ${path.join(mirrorDir, host(), 'vendor', 'extra')} lies inside it`);
    expect(await listTree(mirrorDir)).toEqual(before);
    expect(sha(await readFile(path.join(mirrorDir, host(), 'vendor/pool/main/h/hello_1.0_amd64.deb')))).toMatch(/^[0-9a-f]{64}$/);
  }, 180_000);
});
