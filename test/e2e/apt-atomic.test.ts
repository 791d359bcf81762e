import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importApt } from '../../src/kinds/apt/import.js';
import { loadResolvedTarget } from '../../src/manifest/resolved-target.js';
import { BundleReader } from '../../src/store/bundle-reader.js';
import { ANNOTATION, type BlobSource } from '../../src/store/source.js';
import { silentProgress } from '../../src/ui/progress.js';
import { FERRY, runFerry } from '../support/cli.js';
import { aptGet, buildDeb, makeGpgKey, siteAptMirror, startNginx, writeSignedRelease, type GpgKey, type Nginx } from '../support/apt-repo.js';

/**
 * A suite is switched whole on import. The vendor's suite here is signed and has no
 * `Acquire-By-Hash` (as apt-day2's): before, day 2's import replaced its named `Packages.gz`
 * before its `InRelease`, and a run stopped in between left the old InRelease beside the new
 * index, which apt refuses ("Hash Sum mismatch") until an import completes. Now `dists/<suite>`
 * is a symlink switched to a complete version directory; checked with real nginx and apt-get:
 * an import stopped anywhere (every blob read in turn, and kill -9 of the CLI at points seen in
 * the tree), clients updating in a loop during imports, and the tree copied with cp -a / tar.
 */

let work: string;
let dir: string;
let vendor: GpgKey;
let site: GpgKey;
let upstream: Nginx;
let mirror: Nginx;
let mirrorDir: string;
const extra: Nginx[] = [];
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

async function publish(root: string, date: Date): Promise<void> {
  const packages = execFileSync('dpkg-scanpackages', ['--multiversion', 'pool', '/dev/null'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
  const gz = execFileSync('gzip', ['-9n'], { input: packages });
  const d = path.join(root, 'dists/stable');
  await mkdir(path.join(d, 'main/binary-amd64'), { recursive: true });
  await writeFile(path.join(d, 'main/binary-amd64/Packages.gz'), gz);
  await writeSignedRelease(d, vendor, ['Origin: Vendor', 'Label: Vendor', 'Suite: stable', 'Codename: stable', `Date: ${date.toUTCString()}`, 'Architectures: amd64', 'Components: main'], [
    { path: 'main/binary-amd64/Packages.gz', bytes: gz },
  ]);
}

/** Every entry under `root` (symlinks not followed): files by SHA-256 (signatures the site key made: present only), links by target. */
async function treeOf(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const rel of (await readdir(root, { recursive: true })).sort()) {
    const p = path.join(root, rel);
    const st = await lstat(p);
    if (st.isSymbolicLink()) out.push(`${rel} -> ${await readlink(p)}`);
    else if (st.isFile()) {
      const signedHere = rel.includes('filtered') && /(InRelease|Release\.gpg)$/.test(rel);
      out.push(signedHere ? `${rel} (signed)` : `${rel} ${createHash('sha256').update(await readFile(p)).digest('hex')}`);
    }
  }
  return out;
}

async function restore(from: string): Promise<void> {
  await rm(mirrorDir, { recursive: true, force: true });
  await cp(from, mirrorDir, { recursive: true, verbatimSymlinks: true });
}

let sources: (base: string, opts?: string) => string;

/** apt-get update in a fresh client (it reads every index the Release names), then which app version it would install. */
async function clientSees(base: string, name: string, opts = ''): Promise<{ ok: boolean; out: string; app?: string }> {
  const root = await mkdtemp(path.join(work, `client-${name}-`));
  const src = sources(base, opts);
  const up = await aptGet(root, src, ['update']);
  const out = up.stdout + up.stderr;
  if (up.code !== 0 || /^(W|E): /m.test(out)) return { ok: false, out };
  const sim = await aptGet(root, src, ['install', '--simulate', 'app']);
  await rm(root, { recursive: true, force: true });
  return { ok: sim.code === 0, out: sim.stdout + sim.stderr, app: /^Inst app \((\S+)/m.exec(sim.stdout)?.[1] };
}

let day1: string;
let clean: string[];
let cleanDir: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-apt-atomic-'));
  vendor = await makeGpgKey(work, 'vendor');
  site = await makeGpgKey(work, 'site');
  upstream = await startNginx(path.join(work, 'public'));
  // The same vendor repository at two URLs: mirrored whole (vendor-signed) and filtered (re-signed).
  const repos = ['whole', 'filtered'].map((n) => path.join(work, 'public', n));
  const debs = path.join(work, 'debs');
  const month1 = [await buildDeb(debs, 'app', '1.0', { Depends: 'libfoo (>= 1.0)' }), await buildDeb(debs, 'libfoo', '1.0')];
  const now = Date.now();
  for (const r of repos) {
    await mkdir(path.join(r, 'pool/main'), { recursive: true });
    for (const d of month1) await cp(d, path.join(r, 'pool/main', path.basename(d)));
    await publish(r, new Date(now - 30 * 86400_000));
  }
  dir = path.join(work, 'project');
  await mkdir(dir, { recursive: true });
  await cp(vendor.publicKey, path.join(dir, 'vendor.asc'));
  await cp(site.secretKey, path.join(dir, 'site.secret.asc'));
  await writeFile(
    path.join(dir, 'manifest.yaml'),
    [
      'apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: atomic }', 'apt:',
      '  - name: whole', `    url: ${upstream.url}/whole`, '    suites: [stable]', '    components: [main]', '    architectures: [amd64]', '    keys: [vendor.asc]',
      '  - name: filtered', `    url: ${upstream.url}/filtered`, '    suites: [stable]', '    components: [main]', '    architectures: [amd64]', '    packages: [app]', '    keys: [vendor.asc]', '',
    ].join('\n'),
  );
  const ferry = async (args: string[]) => {
    const r = await runFerry(args, { cwd: dir, env: env() });
    expect(r.code, `ferry ${args.join(' ')}\n${r.stderr}`).toBe(0);
    return r;
  };
  await ferry(['lock', 'manifest.yaml']);
  await ferry(['bundle', 'create', 'manifest.yaml', '-o', 'month1.tar', '--frozen']);
  const served = await siteAptMirror(dir);
  mirror = served.mirror;
  mirrorDir = served.mirrorDir;
  await ferry(['import', 'month1.tar', '-t', 'target.yaml']);
  const host = new URL(upstream.url).host.replace(':', '-');
  sources = (base, opts = '') =>
    [
      `deb [signed-by=${path.join(dir, 'vendor.asc')}${opts}] ${base}/${host}/whole stable main`,
      `deb [signed-by=${path.join(mirrorDir, 'ferry-archive-keyring.asc')}] ${base}/${host}/filtered stable main`,
    ].join('\n');
  expect((await clientSees(mirror.url, 'day1')).app).toBe('1.0');
  day1 = path.join(work, 'day1-mirror');
  await cp(mirrorDir, day1, { recursive: true, verbatimSymlinks: true });

  // Day 2: app 2.0 needs libnew; the vendor re-signs a new Release.
  const month2 = [await buildDeb(debs, 'app', '2.0', { Depends: 'libnew' }), await buildDeb(debs, 'libnew', '1.0')];
  for (const r of repos) {
    for (const d of month2) await cp(d, path.join(r, 'pool/main', path.basename(d)));
    await publish(r, new Date(now - 3600_000));
  }
  await cp(path.join(dir, 'atomic.lock.json'), path.join(dir, 'month1.lock.json'));
  await ferry(['lock', 'manifest.yaml']);
  await ferry(['bundle', 'create', 'manifest.yaml', '-o', 'month2.tar', '--frozen', '--since', 'month1.tar']);
  await ferry(['bundle', 'create', 'manifest.yaml', '-o', 'month2-full.tar', '--frozen']);
  // The clean day-2 tree: day 1, then month2.tar imported uninterrupted.
  await ferry(['import', 'month2.tar', '-t', 'target.yaml']);
  clean = await treeOf(mirrorDir);
  cleanDir = path.join(work, 'day2-mirror');
  await cp(mirrorDir, cleanDir, { recursive: true, verbatimSymlinks: true });
}, 300_000);

afterAll(async () => {
  for (const n of [mirror, upstream, ...extra]) await n?.stop();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

/** Day 2's full bundle imported in-process, the `n`-th blob read failing (the import stops there, as a kill would leave it). */
async function importStoppedAt(n: number): Promise<boolean> {
  const reader = await BundleReader.open(path.join(dir, 'month2-full.tar'));
  let calls = 0;
  const hit = () => {
    if (++calls === n) throw new Error(`stopped at blob read ${n}`);
  };
  const source: BlobSource = {
    blobSize: (d) => reader.blobSize(d),
    openBlob: async (d, s, e) => (hit(), reader.openBlob(d, s, e)),
    readBlob: async (d, m) => (hit(), reader.readBlob(d, m)),
    readIndex: () => reader.readIndex(),
  };
  const target = await loadResolvedTarget(path.join(dir, 'target.yaml'));
  const ctx = { source, target, progress: silentProgress, concurrency: 1, warnings: [] as string[] };
  try {
    for (const top of (await reader.readIndex()).manifests.filter((m) => m.annotations?.[ANNOTATION.kind] === 'apt')) await importApt(top, ctx);
    return false;
  } catch (err) {
    if (!String((err as Error).message).startsWith('stopped at')) throw err;
    return true;
  } finally {
    await reader.close();
  }
}

describe('apt: a suite is switched whole on import', () => {
  it('an import stopped at every blob read in turn leaves a mirror apt-get updates from (old suite or new, whole); re-running it gives the clean tree', async () => {
    const seen = new Set<string>();
    let n = 1;
    for (; n < 200; n++) {
      await restore(day1);
      if (!(await importStoppedAt(n))) break;
      const half = await clientSees(mirror.url, `stop${n}`);
      expect(half.ok, `stopped at blob read ${n}: ${half.out}`).toBe(true);
      seen.add(half.app!);
      const again = await runFerry(['import', 'month2.tar', '-t', 'target.yaml'], { cwd: dir, env: env() });
      expect(again.code, again.stderr).toBe(0);
      expect(await treeOf(mirrorDir), `re-run after a stop at blob read ${n}`).toEqual(clean);
    }
    // The stops fell before and after the switch, and the spread covered the whole import.
    expect(n).toBeGreaterThan(5);
    expect(seen).toContain('1.0');
    expect((await clientSees(mirror.url, 'after')).app).toBe('2.0');
  }, 600_000);

  it('kill -9 of the CLI at points seen in the tree: apt-get still updates, and a re-run completes to the clean tree', async () => {
    const names = (root: string) => readdir(root, { recursive: true }).catch(() => [] as string[]);
    const versionsDay1 = new Set((await names(day1)).filter((e) => /\.stable\.ferry\/[0-9a-f]{16}$/.test(e)));
    const points: Array<[string, (t: string[]) => boolean]> = [
      ['a new .deb in the pool', (t) => t.some((e) => e.endsWith('app_2.0_all.deb'))],
      ['a version being written', (t) => t.some((e) => /\.partial$/.test(e))],
      ['a new index in a version being written', (t) => t.some((e) => /\.partial\/main\/binary-amd64\/Packages/.test(e))],
      ['a new version complete', (t) => t.some((e) => /\.stable\.ferry\/[0-9a-f]{16}$/.test(e) && !versionsDay1.has(e))],
      ['never (run to the end)', () => false],
    ];
    for (const [what, when] of points) {
      await restore(day1);
      const child = spawn(process.execPath, [FERRY, 'import', 'month2.tar', '-t', 'target.yaml'], { cwd: dir, env: { ...process.env, ...env() }, stdio: 'ignore' });
      let exited = false;
      const done = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
      while (!exited) {
        const t = await names(mirrorDir);
        if (when(t)) {
          child.kill('SIGKILL');
          break;
        }
      }
      await done;
      const half = await clientSees(mirror.url, 'kill');
      expect(half.ok, `killed at ${what}: ${half.out}`).toBe(true);
      expect(['1.0', '2.0']).toContain(half.app);
      const again = await runFerry(['import', 'month2.tar', '-t', 'target.yaml'], { cwd: dir, env: env() });
      expect(again.code, again.stderr).toBe(0);
      expect(await treeOf(mirrorDir), `re-run after kill at ${what}`).toEqual(clean);
    }
  }, 600_000);

  it('apt-get update in a loop while imports switch the suite back and forth never fails', async () => {
    await restore(day1);
    let stop = false;
    const failures: string[] = [];
    let updates = 0;
    // A vendor suite without Acquire-By-Hash: the client asks by hash with [by-hash=force], so an
    // update that read the old Release just before a switch still gets that Release's indexes.
    const loop = (async () => {
      while (!stop) {
        const r = await clientSees(mirror.url, 'loop', ' by-hash=force');
        updates++;
        if (!r.ok) failures.push(r.out);
      }
    })();
    try {
      for (const bundle of ['month2.tar', 'month1.tar', 'month2-full.tar', 'month1.tar', 'month2.tar']) {
        const r = await runFerry(['import', bundle, '-t', 'target.yaml'], { cwd: dir, env: env() });
        expect(r.code, r.stderr).toBe(0);
      }
    } finally {
      stop = true;
      await loop;
    }
    expect(failures).toEqual([]);
    expect(updates).toBeGreaterThan(0);
    // Two versions kept: the current one and the one it replaced.
    const versions = (await readdir(path.join(mirrorDir, new URL(upstream.url).host.replace(':', '-'), 'whole/dists/.stable.ferry'))).sort();
    expect(versions).toHaveLength(2);
    expect((await clientSees(mirror.url, 'loop-after')).app).toBe('2.0');
  }, 600_000);

  it('the tree copied with cp -a and tar (as rsync -a) to another server serves the same suite (the symlink is relative, inside the tree)', async () => {
    const host = new URL(upstream.url).host.replace(':', '-');
    for (const suite of ['whole', 'filtered']) {
      const link = await readlink(path.join(cleanDir, host, suite, 'dists/stable'));
      expect(link).toMatch(/^\.stable\.ferry\/[0-9a-f]{16}$/);
    }
    const viaCp = path.join(work, 'copy-cp');
    execFileSync('cp', ['-a', cleanDir, viaCp]);
    // As rsync -a copies it (symlinks as symlinks): through tar, rsync not being installed here.
    const viaTar = path.join(work, 'copy-tar');
    await mkdir(viaTar);
    execFileSync('sh', ['-c', 'tar -C "$1" -cf - . | tar -C "$2" -xf -', 'sh', cleanDir, viaTar]);
    for (const copy of [viaCp, viaTar]) {
      expect(await treeOf(copy)).toEqual(clean);
      const server = await startNginx(copy);
      extra.push(server);
      const seen = await clientSees(server.url, path.basename(copy));
      expect(seen.ok, seen.out).toBe(true);
      expect(seen.app).toBe('2.0');
    }
  }, 300_000);
});
