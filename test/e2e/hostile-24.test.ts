import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPathComponent } from '../../src/mapping/index.js';
import { runFerry } from '../support/cli.js';
import { helloVendorProject, siteTargetYaml, startVendorLab, stopVendorLab, type VendorLab } from '../support/apt-vendor.js';
import { packageChart, writeRepoIndex } from '../support/chart-repo.js';
import { CraftedBundle, type Desc } from '../support/craft-bundle.js';
import { listTree } from '../support/fs-tree.js';

/**
 * What hostile-23 left open: `ferry lock` learning of a chart clash that import would refuse
 * (two repositories' `demo 1.0.0` with different bytes), and APT roots across imports (the
 * same root from another URL, a root that holds an earlier one). Real nginx upstreams, charts
 * packaged by helm's format, APT metadata signed with gpg.
 */
let lab: VendorLab;
const env = () => ({ FERRY_CACHE_DIR: path.join(lab.work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

beforeAll(async () => {
  lab = await startVendorLab('ferry-e2e-hostile24-');
}, 60_000);

afterAll(() => stopVendorLab(lab));

const ferry = (dir: string, args: string[]) => runFerry(args, { cwd: dir, env: env(), timeoutMs: 120_000 });

async function ok(dir: string, args: string[]): Promise<string> {
  const r = await ferry(dir, args);
  expect(r.code, `ferry ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
  return r.stdout + r.stderr;
}

describe('ferry lock and two repositories\' charts of one name and version', () => {
  beforeAll(async () => {
    for (const [repo, says] of [['r1', 'one'], ['r2', 'two'], ['r3', 'one']]) {
      const src = path.join(lab.work, 'chart-src', repo, 'demo');
      await mkdir(path.join(src, 'templates'), { recursive: true });
      // r3 packs the very bytes r1 does (same files, same packer): one archive, no clash.
      await writeFile(path.join(src, 'Chart.yaml'), `apiVersion: v2\nname: demo\nversion: 1.0.0\ndescription: ${says}\n`);
      await writeFile(path.join(src, 'templates', 'cm.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cm }\ndata: { says: ${says} }\n`);
      const out = path.join(lab.work, 'public', 'charts', repo);
      await writeRepoIndex(out, [await packageChart(src, out)]);
    }
  }, 60_000);

  async function lockCharts(name: string, repos: string[]) {
    const dir = path.join(lab.work, name);
    await mkdir(dir, { recursive: true });
    const lines = repos.map((r) => `  - { name: demo, repo: "${lab.upstream.url}/charts/${r}", version: 1.0.0 }`);
    await writeFile(path.join(dir, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${name} }`, 'charts:', ...lines, ''].join('\n'));
    return ferry(dir, ['lock', 'manifest.yaml', '--json']);
  }

  it('different bytes: the lock is written, with a warning naming both repositories and what import will do', async () => {
    const r = await lockCharts('clash', ['r1', 'r2']);
    expect(r.code, r.stderr).toBe(0);
    const warnings = (JSON.parse(r.stdout) as { warnings: string[] }).warnings;
    const clash = warnings.filter((w) => w.includes('maps to the same mirror path demo-1.0.0.tgz'));
    expect(clash, warnings.join('\n')).toHaveLength(1);
    expect(clash[0]).toMatch(new RegExp(`^chart demo 1\\.0\\.0 from ${lab.upstream.url.replace(/\./g, '\\.')}/charts/r2 \\(sha256:[0-9a-f]{12}…\\): ${lab.upstream.url.replace(/\./g, '\\.')}/charts/r1 \\(sha256:[0-9a-f]{12}…\\) maps to the same mirror path`));
    expect(clash[0]).toContain('import into a target with charts.dir will refuse both');
  }, 120_000);

  it('the same bytes from two repositories are one archive: no warning', async () => {
    const r = await lockCharts('same', ['r1', 'r3']);
    expect(r.code, r.stderr).toBe(0);
    const warnings = (JSON.parse(r.stdout) as { warnings: string[] }).warnings;
    expect(warnings.filter((w) => w.includes('same mirror path'))).toEqual([]);
  }, 120_000);
});

describe('APT repository roots across imports', () => {
  let dir: string;
  let bundle: CraftedBundle;
  const host = () => hostPathComponent(new URL(lab.upstream.url).host);

  beforeAll(async () => {
    dir = path.join(lab.work, 'apt');
    await helloVendorProject(lab, dir);
    await ok(dir, ['lock', 'manifest.yaml']);
    await ok(dir, ['bundle', 'create', 'manifest.yaml', '-o', 'b.tar']);
    bundle = await CraftedBundle.load(path.join(dir, 'b.tar'));
  }, 120_000);

  /** The bundle with its APT repository's URL (config, source annotation and lock) made `url`. */
  function from(url: string): CraftedBundle {
    const b = bundle.clone();
    const index = b.index;
    const top = index.manifests.find((m) => m.digest === b.tops('apt')[0].digest)!;
    const manifest = b.json<Record<string, unknown> & { config: Desc }>(top.digest);
    manifest.config = { ...manifest.config, ...b.putBlob({ ...b.json<Record<string, unknown>>(manifest.config.digest), url }) };
    Object.assign(top, b.putBlob(manifest), { annotations: { ...top.annotations, 'io.ferry.source': url } });
    b.index = index;
    // The lock says so too (import holds index.json to it): a bundle as a lock of that URL makes it.
    const lock = JSON.parse(b.files.get('ferry/lock.json')!.toString('utf8')) as { apt: Array<{ url: string }> };
    lock.apt[0].url = url;
    b.setJson('ferry/lock.json', lock);
    return b;
  }

  async function freshTarget(name: string): Promise<{ target: string; mirrorDir: string }> {
    const target = path.join(dir, `${name}-target.yaml`);
    const mirrorDir = path.join(dir, `${name}-mirror`);
    await writeFile(target, siteTargetYaml({ ...lab, mirrorDir }));
    return { target, mirrorDir };
  }

  function refusedBeforeWriting(r: { code: number; stderr: string }): void {
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain('found before anything was written; nothing was imported');
    expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
  }

  it('the same root from https:// in a second import (http:// first) is refused before writing, naming both URLs; the first stays', async () => {
    const { target, mirrorDir } = await freshTarget('scheme');
    await ok(dir, ['import', 'b.tar', '-t', target]);
    const before = await listTree(mirrorDir);
    const https = `${lab.upstream.url.replace('http://', 'https://')}/vendor`;
    const crafted = await from(https).write(path.join(dir, 'https.tar'));
    const r = await ferry(dir, ['import', crafted, '-t', target]);
    refusedBeforeWriting(r);
    expect(r.stderr).toContain(`${path.join(mirrorDir, host(), 'vendor')} holds the APT repository an earlier import published from ${lab.upstream.url}/vendor; this one is from ${https}, another URL with the same mirror path`);
    expect(await listTree(mirrorDir)).toEqual(before);
    // The same URL again is the same repository: imported as before.
    await ok(dir, ['import', 'b.tar', '-t', target]);
  }, 180_000);

  it('a later root that holds an earlier one is refused before writing (it would be published over the earlier tree)', async () => {
    const { target, mirrorDir } = await freshTarget('holds');
    const inner = await from(`${lab.upstream.url}/vendor/extra`).write(path.join(dir, 'inner.tar'));
    await ok(dir, ['import', inner, '-t', target]);
    const before = await listTree(mirrorDir);
    const r = await ferry(dir, ['import', 'b.tar', '-t', target]);
    refusedBeforeWriting(r);
    expect(r.stderr).toContain(`this repository's root ${path.join(mirrorDir, host(), 'vendor')} holds ${path.join(mirrorDir, host(), 'vendor', 'extra')}, the root of the APT repository an earlier import published from ${lab.upstream.url}/vendor/extra`);
    expect(await listTree(mirrorDir)).toEqual(before);
  }, 180_000);
});
