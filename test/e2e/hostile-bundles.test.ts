import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { mapAptRepo } from '../../src/mapping/index.js';
import { FERRY, runCommand, runFerry } from '../support/cli.js';
import { downloadDebs, makeGpgKey, publishWithAptly, startNginx, type GpgKey, type Nginx } from '../support/apt-repo.js';
import { packageChart, writeRepoIndex } from '../support/chart-repo.js';
import { CraftedBundle, peakRssMb, sha256, type Desc } from '../support/craft-bundle.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';
import { MAX_TAR_ENTRIES } from '../../src/store/tar-index.js';

/**
 * Hostile bundles: a real bundle made by ferry (images from a loopback registry, a chart and a
 * file from a loopback HTTP server, a filtered APT repository published by aptly), then altered
 * as someone with write access to the file would — names that climb out of the target, format
 * versions this ferry does not read, oversized and many-descriptor indexes — with checksums
 * recomputed so only ferry's own checks can catch it. Each case must fail with the problem
 * named, before anything is written: a canary directory beside the target stays empty, the
 * mirror directories stay untouched and the target registry's catalog does not change.
 */

let work: string;
let reg: RunningRegistry;
let seeded: SeededImages;
let http: StaticServer;
let aptUpstream: Nginx;
let site: GpgKey;
let base: CraftedBundle;
let baseTar: string;
let caseNo = 0;

const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });
const KIND = 'io.ferry.kind';
const TITLE = 'org.opencontainers.image.title';
const REF = 'org.opencontainers.image.ref.name';

async function catalog(): Promise<string[]> {
  const r = await fetch(`${reg.url}/v2/_catalog?n=1000`);
  return ((await r.json()) as { repositories: string[] }).repositories.sort();
}

/** Every file under a directory (relative paths), [] when it does not exist. */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

interface Case {
  dir: string;
  target: string;
  canary: string;
  mirror: string;
  /** Facet dirs, for building relative paths that climb out of each. */
  chartsDir: string;
  filesDir: string;
  aptDir: string;
}

/** A fresh project: target.yaml (registry + charts + files + apt, or as `edit` says), a canary dir beside it. */
async function newCase(edit?: (t: Record<string, unknown>) => void): Promise<Case> {
  const dir = path.join(work, 'cases', String(++caseNo));
  const mirror = path.join(dir, 'mirror');
  const canary = path.join(dir, 'canary');
  await mkdir(canary, { recursive: true });
  await mkdir(mirror, { recursive: true });
  await cp(site.secretKey, path.join(dir, 'site.secret.asc'));
  const t: Record<string, unknown> = {
    apiVersion: 'ferry/v1alpha1',
    kind: 'MirrorTarget',
    metadata: { name: 'site' },
    registry: { url: reg.url, prefix: `mirror${caseNo}` },
    charts: { dir: './mirror/charts', baseUrl: 'http://charts.site.internal' },
    files: { dir: './mirror/files', baseUrl: 'http://files.site.internal' },
    apt: { dir: './mirror/apt', baseUrl: 'http://apt.site.internal', signingKey: 'site.secret.asc' },
  };
  edit?.(t);
  const target = path.join(dir, 'target.yaml');
  await writeFile(target, stringifyYaml(t));
  return { dir, target, canary, mirror, chartsDir: path.join(mirror, 'charts'), filesDir: path.join(mirror, 'files'), aptDir: path.join(mirror, 'apt') };
}

/** Relative path from `from` into the case's canary directory. */
const into = (c: Case, from: string, name = 'pwned') => `${path.relative(from, c.canary)}/${name}`;

/** Import the crafted bundle; assert it failed naming the problem and that nothing was written anywhere. */
async function importRefused(c: Case, bundle: CraftedBundle | string, problem: RegExp): Promise<string> {
  const tar = typeof bundle === 'string' ? bundle : await bundle.write(path.join(c.dir, 'hostile.tar'));
  const before = await catalog();
  const r = await runFerry(['import', tar, '--target', c.target], { cwd: c.dir, env: env() });
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.stderr).toMatch(problem);
  expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
  expect(await tree(c.canary)).toEqual([]);
  expect(await tree(c.mirror)).toEqual([]);
  expect(await catalog()).toEqual(before);
  return r.stderr;
}

function chartTop(b: CraftedBundle): (d: Desc) => boolean {
  const digest = b.tops('chart')[0].digest;
  return (d) => d.digest === digest;
}

function aptTop(b: CraftedBundle): (d: Desc) => boolean {
  const digest = b.tops('apt')[0].digest;
  return (d) => d.digest === digest;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile-'));
  reg = await startRegistry({ mode: 'http' });
  seeded = await seedImages(reg, { workDir: path.join(work, 'layout') });

  // A chart repository and a file, served over loopback HTTP.
  const srv = path.join(work, 'srv');
  const chartSrc = path.join(work, 'chart-src', 'tiny');
  await mkdir(path.join(chartSrc, 'templates'), { recursive: true });
  await writeFile(path.join(chartSrc, 'Chart.yaml'), 'apiVersion: v2\nname: tiny\nversion: 1.0.0\n');
  await writeFile(path.join(chartSrc, 'values.yaml'), 'greeting: hello\n');
  await writeFile(path.join(chartSrc, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tiny\ndata:\n  greeting: {{ .Values.greeting }}\n');
  const chart = await packageChart(chartSrc, path.join(srv, 'charts'));
  await writeRepoIndex(path.join(srv, 'charts'), [chart]);
  const tool = Buffer.from('#!/bin/sh\necho tool\n');
  await mkdir(path.join(srv, 'files'), { recursive: true });
  await writeFile(path.join(srv, 'files', 'tool.sh'), tool);
  http = await startStaticServer(srv);

  // A filtered APT repository (jq and what it needs), signed by a vendor key.
  const vendor = await makeGpgKey(work, 'vendor');
  site = await makeGpgKey(work, 'site');
  const debs = await downloadDebs(['jq', 'libjq1', 'libonig5']);
  const apt = await publishWithAptly(work, debs, vendor, { distribution: 'bookworm', prefixes: ['vendor'] });
  aptUpstream = await startNginx(apt.publicDir);

  const project = path.join(work, 'project');
  await mkdir(project, { recursive: true });
  await cp(vendor.publicKey, path.join(project, 'vendor.asc'));
  await writeFile(
    path.join(project, 'manifest.yaml'),
    stringifyYaml({
      apiVersion: 'ferry/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'hostile' },
      images: [{ ref: seeded.refs.app }, { ref: seeded.refs.multi }],
      charts: [{ name: 'tiny', repo: `${http.url}/charts`, version: '1.0.0' }],
      files: [{ name: 'tool', url: `${http.url}/files/tool.sh`, sha256: sha256(tool).slice(7) }],
      apt: [{ name: 'vendor', url: `${aptUpstream.url}/vendor`, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], packages: ['jq'], keys: ['vendor.asc'] }],
    }),
  );
  const insecure = ['--insecure-registry', reg.host];
  const lock = await runFerry(['lock', 'manifest.yaml', ...insecure], { cwd: project, env: env() });
  expect(lock.code, lock.stderr).toBe(0);
  baseTar = path.join(project, 'base.ferry.tar');
  const create = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', baseTar, '--frozen', ...insecure], { cwd: project, env: env() });
  expect(create.code, create.stderr).toBe(0);
  base = await CraftedBundle.load(baseTar);
  expect(base.tops('chart')).toHaveLength(1);
  expect(base.tops('file')).toHaveLength(1);
  expect(base.tops('apt')).toHaveLength(1);
}, 300_000);

afterAll(async () => {
  await Promise.all([http?.close(), aptUpstream?.stop(), reg?.stop()]);
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

describe('the untampered bundle', () => {
  it('re-packed by the test helper, verifies and imports into the same kind of target (so the refusals below are the checks at work)', async () => {
    const c = await newCase();
    const tar = await base.clone().write(path.join(c.dir, 'same.tar'));
    const v = await runFerry(['bundle', 'verify', tar]);
    expect(v.code, v.stderr).toBe(0);
    const r = await runFerry(['import', tar, '--target', c.target], { cwd: c.dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(await tree(c.canary)).toEqual([]);
    expect((await tree(c.chartsDir)).some((f) => f === 'tiny-1.0.0.tgz')).toBe(true);
    expect((await catalog()).some((r) => r.startsWith(`mirror${caseNo}/`))).toBe(true);
  });
});

describe('names that would write outside the target are refused before anything is written', () => {
  it('a chart name climbing out of charts.dir', async () => {
    const c = await newCase();
    const b = base.clone();
    b.editArtifact(chartTop(b), ({ config }) => (config.name = into(c, c.chartsDir)));
    await importRefused(c, b, /chart name ".*canary\/pwned" is not a valid Helm chart name/);
  });

  it('a chart version with /../ in it', async () => {
    const c = await newCase();
    const b = base.clone();
    b.editArtifact(chartTop(b), ({ config }) => (config.version = `1.0.0/../${into(c, c.chartsDir)}`));
    await importRefused(c, b, /chart version "1\.0\.0\/\.\.\/.*" is not a SemVer 2 version/);
  });

  it('a generated APT index titled dists/<suite>/../../…', async () => {
    const c = await newCase();
    const b = base.clone();
    b.editArtifact(aptTop(b), ({ manifest }) => {
      const g = manifest.layers.find((l) => l.annotations?.['io.ferry.role'] === 'generated-index')!;
      // From the suite's directory (under the repository's mapped root in apt.dir) into the canary.
      const suiteDir = path.join(c.aptDir, mapAptRepo(`${aptUpstream.url}/vendor`, { baseUrl: 'http://x' }).path, 'dists', 'bookworm');
      g.annotations![TITLE] = `dists/bookworm/${into(c, suiteDir)}`;
    });
    await importRefused(c, b, /refusing path "dists\/bookworm\/(\.\.\/)+.*pwned": it would lead outside the target directory/);
  });

  it('an APT pool path climbing out of apt.dir, with images earlier in the bundle (nothing pushed first)', async () => {
    const c = await newCase();
    const b = base.clone();
    b.editArtifact(aptTop(b), ({ manifest }) => {
      const deb = manifest.layers.find((l) => l.annotations?.['io.ferry.role'] === 'package')!;
      deb.annotations![TITLE] = `../../../../../../../../..${c.canary}/pwned.deb`;
    });
    await importRefused(c, b, /refusing path ".*canary\/pwned\.deb": it would lead outside the target directory/);
  });

  it('a file name with a control character, and one with an empty host (absolute path)', async () => {
    const c = await newCase();
    const b = base.clone();
    b.editArtifact((d) => d.digest === b.tops('file')[0].digest, ({ manifest }) => {
      const layer = manifest.layers.find((l) => l.annotations?.['io.ferry.role'] === 'file')!;
      layer.annotations!['io.ferry.source'] = `${http.url}/files/evil%0Aname.sh`;
      manifest.layers.push({ ...layer, annotations: { ...layer.annotations, 'io.ferry.source': 'file:///etc/passwd' } });
    });
    const err = await importRefused(c, b, /refusing path ".*evil\\nname\.sh"/);
    expect(err).toMatch(/refusing path "\/etc\/passwd"/);
  });

  it('a repository name and a tag that are not valid references', async () => {
    const c = await newCase();
    const b = base.clone();
    const index = b.index;
    const imgs = index.manifests.filter((d) => (d.annotations?.[KIND] ?? 'image') === 'image');
    imgs[0].annotations![REF] = `${reg.host}/../../../etc/x:1`;
    imgs[1].annotations![REF] = `${reg.host}/ferry-test/multi:..`;
    b.index = index;
    const err = await importRefused(c, b, /invalid path component "\.\."/);
    expect(err).toMatch(/invalid tag "\.\."/);
  });

  it('every problem in one report: a chart name, an APT path and a repository name together', async () => {
    const c = await newCase();
    const b = base.clone();
    b.editArtifact(chartTop(b), ({ config }) => (config.name = '../x'));
    b.editArtifact(aptTop(b), ({ manifest }) => (manifest.layers.find((l) => l.annotations?.['io.ferry.role'] === 'package')!.annotations![TITLE] = '/etc/x.deb'));
    const index = b.index;
    index.manifests.find((d) => (d.annotations?.[KIND] ?? 'image') === 'image')!.annotations![REF] = 'Bad/Name:1';
    b.index = index;
    const err = await importRefused(c, b, /3 problems found before anything was written; nothing was imported/);
    expect(err).toMatch(/chart name "\.\.\/x"/);
    expect(err).toMatch(/refusing path "\/etc\/x\.deb"/);
    expect(err).toMatch(/Bad\/Name:1/);
  });
});

describe('what the target lacks is reported before anything is written', () => {
  it('a missing target facet (no apt:)', async () => {
    const c = await newCase((t) => delete t.apt);
    const err = await importRefused(c, baseTar, /the target has no place for the bundle's APT repositories; nothing was imported/);
    expect(err).toContain('apt: add apt: { dir, baseUrl }');
  });

  it('a filtered APT repository and no apt.signingKey', async () => {
    const c = await newCase((t) => delete (t.apt as Record<string, unknown>).signingKey);
    await importRefused(c, baseTar, /apt\[vendor\] .*: a filtered mirror is re-signed, but the target's apt: has no signingKey/);
  });

  it('an apt.signingKey that cannot be read', async () => {
    const c = await newCase((t) => ((t.apt as Record<string, unknown>).signingKey = 'missing.asc'));
    await importRefused(c, baseTar, /missing\.asc: cannot read signing key .*: no such file/);
  });
});

describe('bundle format versions: exactly one is read', () => {
  for (const [label, value] of [
    ['0', 0],
    ['2', 2],
    ['99', 99],
    ['missing', undefined],
    ['a string', '1'],
  ] as const) {
    it(`formatVersion ${label}: verify and import refuse it, naming the version found and the one read`, async () => {
      const c = await newCase();
      const b = base.clone();
      const info = JSON.parse(b.files.get('ferry/bundle.json')!.toString('utf8')) as Record<string, unknown>;
      if (value === undefined) delete info.formatVersion;
      else info.formatVersion = value;
      b.setJson('ferry/bundle.json', info);
      const tar = await b.write(path.join(c.dir, 'format.tar'));
      const found = value === undefined ? 'null' : JSON.stringify(value);
      const expected = new RegExp(`bundle format ${found.replace(/"/g, '"')} is not supported \\(this ferry reads format 1 only\\)`);
      const v = await runFerry(['bundle', 'verify', tar]);
      expect(v.code).toBe(3);
      expect(v.stderr).toMatch(expected);
      await importRefused(c, tar, expected);
    });
  }
});

describe('bounded memory and time', () => {
  const time = '/usr/bin/time';

  it('a 200 MB index.json is refused by verify and import, naming its size and the cap, within 256 MB of RSS', async () => {
    const c = await newCase();
    const b = base.clone();
    const text = b.files.get('index.json')!.toString('utf8');
    b.setPadded('index.json', text.slice(0, -1), 200 * 1024 * 1024, '}');
    const tar = await b.write(path.join(c.dir, 'big-index.tar'));
    const message = /index\.json is 209715200 bytes, more than the 16777216 bytes ferry reads into memory for it/;
    const v = await runCommand(time, ['-v', process.execPath, FERRY, 'bundle', 'verify', tar, '-q']);
    expect(v.code).toBe(3);
    expect(v.stderr).toMatch(message);
    expect(peakRssMb(v.stderr)).toBeLessThanOrEqual(256);
    const i = await runCommand(time, ['-v', process.execPath, FERRY, 'import', tar, '--target', c.target, '-q'], { cwd: c.dir, env: env() });
    expect(i.code).not.toBe(0);
    expect(i.stderr).toMatch(message);
    expect(peakRssMb(i.stderr)).toBeLessThanOrEqual(256);
    expect(await tree(c.canary)).toEqual([]);
    expect(await tree(c.mirror)).toEqual([]);
  });

  it('an index of 80 000 descriptors over one shared manifest verifies within 256 MB of RSS; import checks them all and refuses them', async () => {
    const c = await newCase();
    const b = base.clone();
    const index = b.index;
    const app = index.manifests.find((d) => d.annotations?.[REF] === seeded.refs.app)!;
    // Each a different artifact (named by its source), so every shared blob is reached by 80 000 names.
    for (let i = 0; i < 80_000; i++) index.manifests.push({ mediaType: app.mediaType, digest: app.digest, size: app.size, annotations: { 'io.ferry.source': `s${i}` } });
    b.index = index;
    const tar = await b.write(path.join(c.dir, 'many.tar'));
    const v = await runCommand(time, ['-v', process.execPath, FERRY, 'bundle', 'verify', tar]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/80\d{3} artifacts/);
    expect(peakRssMb(v.stderr)).toBeLessThanOrEqual(256);
    const before = await catalog();
    const i = await runCommand(time, ['-v', process.execPath, FERRY, 'import', tar, '--target', c.target, '-q'], { cwd: c.dir, env: env() });
    expect(i.code).not.toBe(0);
    expect(i.stderr).toMatch(/80000 problems found before anything was written/);
    expect(i.stderr).toMatch(/s0: image has no org\.opencontainers\.image\.ref\.name annotation/);
    expect(i.stderr).toMatch(/… and 79800 more/);
    expect(peakRssMb(i.stderr)).toBeLessThanOrEqual(256);
    expect(await catalog()).toEqual(before);
    expect(await tree(c.mirror)).toEqual([]);
  });

  it('a bundle of more distinct manifests than a bundle may hold entries is refused by the tar index, within 256 MB of RSS', async () => {
    const c = await newCase();
    const b = base.clone();
    const index = b.index;
    // One past the cap (90 000: a whole Debian suite fits), each a distinct small manifest.
    for (let i = 0; i <= MAX_TAR_ENTRIES; i++) {
      const d = b.putBlob({ schemaVersion: 2, n: i });
      index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...d });
    }
    b.index = index;
    const tar = await b.write(path.join(c.dir, 'distinct.tar'));
    const v = await runCommand(time, ['-v', process.execPath, FERRY, 'bundle', 'verify', tar, '-q']);
    expect(v.code).toBe(3);
    expect(v.stderr).toMatch(new RegExp(`more than ${MAX_TAR_ENTRIES} entries; refusing to index it`));
    expect(peakRssMb(v.stderr)).toBeLessThanOrEqual(256);
    await importRefused(c, tar, new RegExp(`more than ${MAX_TAR_ENTRIES} entries`));
  });
});
