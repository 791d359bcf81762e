import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { watch } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, mustRun, runFerry } from '../support/cli.js';
import { downloadDebs, makeGpgKey, publishWithAptly, startNginx, type GpgKey, type Nginx } from '../support/apt-repo.js';
import { packageChart, writeRepoIndex } from '../support/chart-repo.js';
import { pushLayoutImage, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { mountTmpfs, unmountAll } from '../support/tmpfs.js';

/**
 * Month-2 operations, following the README: the vendor published new versions (an image's new
 * tag, an image dropped, a new chart version whose values name a new image tag, an upgraded .deb
 * in an aptly-published signed APT repository of real Debian packages). Lock again, a signed
 * differential bundle against last month's, split for fixed-size media, verify and import the
 * parts over last month's mirror (two real Distribution registries, nginx upstream); then the
 * drills an operator meets: a part missing or damaged, the wrong base, another key, a base
 * signed before the key was rotated, an import killed with SIGKILL and run again, and a target
 * directory whose disk fills mid-import.
 */

let work: string;
let up: RunningRegistry;
let site: RunningRegistry;
let web: Nginx;
let vendor: GpgKey;
let siteApt: GpgKey;
const mounts: string[] = [];
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const ferry = (args: string[], cwd = path.join(work, 'proj')) => runFerry(args, { cwd, env: env() });

/** A real .deb rebuilt with a higher version (the vendor's upgrade): its files and scripts as Debian shipped them. */
function upgradedDeb(deb: string, outDir: string, suffix: string): string {
  const tree = execFileSync('mktemp', ['-d', path.join(outDir, 'repack-XXXXXX')]).toString().trim();
  execFileSync('dpkg-deb', ['-R', deb, tree]);
  const control = path.join(tree, 'DEBIAN/control');
  const text = execFileSync('cat', [control]).toString();
  const version = /^Version: (.*)$/m.exec(text)![1];
  execFileSync('sed', ['-i', `s/^Version: .*/Version: ${version}${suffix}/`, control]);
  const out = path.join(outDir, `${path.basename(deb, '.deb')}${suffix}.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-b', tree, out], { stdio: 'ignore' });
  return out;
}

function ecKey(dir: string, name: string): { key: string; pub: string } {
  const key = path.join(dir, `${name}.key`);
  const pub = path.join(dir, `${name}.pub`);
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  execFileSync('openssl', ['pkey', '-in', key, '-pubout', '-out', pub]);
  return { key, pub };
}

const manifest = (images: string[], chartVersion: string) =>
  [
    'apiVersion: ferry/v1alpha1',
    'kind: Manifest',
    'metadata: { name: app }',
    'images:',
    ...images.map((i) => `  - ref: ${up.host}/vendor/${i}`),
    'charts:',
    '  - name: svc',
    `    repo: ${web.url}/charts`,
    `    version: "${chartVersion}"`,
    'files:',
    '  - name: tool',
    `    url: ${web.url}/files/tool-1.0.bin`,
    `    checksums: { url: ${web.url}/files/SHA256SUMS }`,
    'apt:',
    '  - name: vendor',
    `    url: ${web.url}/apt/vendor`,
    '    suites: [stable]',
    '    components: [main]',
    '    architectures: [amd64]',
    '    packages: [less, jq]',
    '    keys: [vendor.asc]',
    '',
  ].join('\n');

const target = (name: string, dirs: string) =>
  [
    'apiVersion: ferry/v1alpha1',
    'kind: MirrorTarget',
    `metadata: { name: ${name} }`,
    `registry: { url: ${site.url}, prefix: ${name} }`,
    `charts: { dir: ${dirs}/charts, baseUrl: http://mirror.site/charts }`,
    `files:  { dir: ${dirs}/files,  baseUrl: http://mirror.site/files }`,
    `apt:    { dir: ${dirs}/apt,    baseUrl: http://mirror.site/apt, signingKey: ../site-apt.key }`,
    '',
  ].join('\n');

async function pushImage(layout: string, name: string, tag: string, content: string): Promise<void> {
  await writeOciLayout(layout, [{ name: `${name}-${tag}`, platforms: [{ architecture: 'amd64', layers: [{ files: { 'app/version': content } }, { randomBytes: 256 << 10, seed: `${name}-${tag}` }] }] }]);
  await pushLayoutImage(up, layout, `${name}-${tag}`, `vendor/${name}:${tag}`);
}

async function tags(repo: string): Promise<string[]> {
  const r = await fetch(`${site.url}/v2/${repo}/tags/list`);
  return ((await r.json()) as { tags: string[] }).tags.sort();
}

/** Temporary names an import leaves in a tree (staged copies, partial writes). */
async function leftovers(dir: string): Promise<string[]> {
  const all = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return all.filter((f) => /\.ferry-staged-|\.tmp$|\.partial$/.test(f));
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser51-'));
  [up, site] = await Promise.all([startRegistry({ mode: 'http' }), startRegistry({ mode: 'http' })]);
  vendor = await makeGpgKey(work, 'vendor');
  siteApt = await makeGpgKey(work, 'site-apt');
  await mkdir(path.join(work, 'www/charts'), { recursive: true });
  await mkdir(path.join(work, 'www/files'), { recursive: true });
  web = await startNginx(path.join(work, 'www'));
}, 120_000);

afterAll(async () => {
  await unmountAll(mounts);
  await Promise.all([up?.stop(), site?.stop(), web?.stop()]);
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

describe('newuser 51: month-2 operations with a signed, split differential bundle, and the drills', () => {
  it('lock, differential + sign + split, verify the joined parts, import over the mirror; a missing or damaged part, the wrong base or key, kill -9 and a full disk each say what to do', async () => {
    const proj = path.join(work, 'proj');
    const siteDir = path.join(work, 'site');
    await mkdir(proj, { recursive: true });
    await mkdir(siteDir, { recursive: true });
    await cp(vendor.publicKey, path.join(proj, 'vendor.asc'));
    await cp(siteApt.secretKey, path.join(work, 'site-apt.key'));
    const keys = { site: ecKey(work, 'site-bundle'), other: ecKey(work, 'other') };

    // Month 1 upstream: images, a chart whose values name vendor/web:2.0, a file with SHA256SUMS, APT.
    const layout = path.join(work, 'layout');
    await pushImage(layout, 'app', '1.0', 'one');
    await pushImage(layout, 'db', '5.0', 'db');
    await pushImage(layout, 'web', '2.0', 'web');
    const chartSrc = path.join(work, 'chart/svc');
    await mkdir(path.join(chartSrc, 'templates'), { recursive: true });
    await writeFile(path.join(chartSrc, 'Chart.yaml'), 'apiVersion: v2\nname: svc\nversion: 1.0.0\n');
    await writeFile(path.join(chartSrc, 'values.yaml'), `image: { repository: ${up.host}/vendor/web, tag: "2.0" }\n`);
    await writeFile(
      path.join(chartSrc, 'templates/deploy.yaml'),
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: {{ .Release.Name }} }\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n',
    );
    const chart1 = await packageChart(chartSrc, path.join(work, 'www/charts'));
    await writeRepoIndex(path.join(work, 'www/charts'), [chart1]);
    // Large enough that an import is caught while it stages it (the kill drill) and a small disk cannot take it.
    const tool = Buffer.alloc(24 << 20);
    for (let i = 0; i < tool.length; i += 4096) tool.writeUInt32LE(i * 2654435761 >>> 0, i);
    await writeFile(path.join(work, 'www/files/tool-1.0.bin'), tool);
    await writeFile(path.join(work, 'www/files/SHA256SUMS'), `${sha256(tool)}  tool-1.0.bin\n`);
    const [less, jq] = await downloadDebs(['less', 'jq']);
    const debs = path.join(work, 'debs');
    await mkdir(debs, { recursive: true });
    const aptly = await publishWithAptly(work, [less, jq], vendor, { distribution: 'stable', prefixes: ['vendor'] });
    await mkdir(path.join(work, 'www/apt'), { recursive: true });
    await cp(path.join(aptly.publicDir, 'vendor'), path.join(work, 'www/apt/vendor'), { recursive: true });

    await writeFile(path.join(proj, 'app.yaml'), manifest(['app:1.0', 'db:5.0'], '1.0.0'));
    await writeFile(path.join(siteDir, 'site.yaml'), target('site', '.'));
    expect((await ferry(['lock', 'app.yaml'])).code).toBe(0);
    const c1 = await ferry(['bundle', 'create', 'app.yaml', '-o', '../app-1.ferry.tar', '--frozen', '--sign-key', keys.site.key]);
    expect(c1.code, c1.stderr).toBe(0);
    const i1 = await ferry(['import', '../app-1.ferry.tar', '--target', 'site.yaml', '--key', keys.site.pub], siteDir);
    expect(i1.code, i1.stderr).toBe(0);

    // Month 2 upstream: app 1.1, chart 1.1.0 naming web:2.1, less upgraded (a newer build of the real .deb).
    await pushImage(layout, 'app', '1.1', 'two');
    await pushImage(layout, 'web', '2.1', 'web21');
    await writeFile(path.join(chartSrc, 'values.yaml'), `image: { repository: ${up.host}/vendor/web, tag: "2.1" }\n`);
    const chart2 = await packageChart(chartSrc, path.join(work, 'www/charts'), (m) => (m.version = '1.1.0'));
    await writeRepoIndex(path.join(work, 'www/charts'), [chart2, chart1]);
    const newLess = upgradedDeb(less, debs, '+vendor1');
    await mustRun('aptly', [`-config=${aptly.config}`, 'repo', 'add', 'test', newLess], { env: aptly.env });
    await mustRun('aptly', [`-config=${aptly.config}`, 'publish', 'update', `-gpg-key=${vendor.fingerprint}`, '-passphrase=', '-batch', 'stable', 'vendor'], { env: aptly.env });
    await rm(path.join(work, 'www/apt/vendor'), { recursive: true });
    await cp(path.join(aptly.publicDir, 'vendor'), path.join(work, 'www/apt/vendor'), { recursive: true });

    await writeFile(path.join(proj, 'app.yaml'), manifest(['app:1.1'], '1.1.0'));
    expect((await ferry(['lock', 'app.yaml', '--check'])).code).toBe(1);
    const l2 = await ferry(['lock', 'app.yaml']);
    expect(l2.code, l2.stderr).toBe(0);
    const said = l2.stdout + l2.stderr;
    expect(said).toMatch(/~ image \S+\/vendor\/app: 1\.0@sha256:[a-f0-9]{64} → 1\.1@/);
    expect(said).toMatch(/- image \S+\/vendor\/db: 5\.0@\S+ \(no longer in the manifest\)/);
    expect(said).toMatch(/~ image \S+\/vendor\/web: 2\.0@\S+ → 2\.1@\S+ \(chart svc 1\.1\.0\)/);
    expect(said).toMatch(/~ chart \S+ svc: 1\.0\.0 .*→ 1\.1\.0/);
    expect(said).toMatch(/less \S+ → \S+\+vendor1/);
    expect((await ferry(['lock', 'app.yaml', '--check'])).code).toBe(0);

    const c2 = await ferry(['bundle', 'create', 'app.yaml', '-o', '../app-2.ferry.tar', '--frozen', '--since', '../app-1.ferry.tar', '--sign-key', keys.site.key]);
    expect(c2.code, c2.stderr).toBe(0);
    expect(c2.stdout + c2.stderr).toMatch(/differential against bundle app-1\.ferry\.tar/);
    // The 24 MiB file and jq did not change: left out, so the differential fits on small media.
    const media = path.join(work, 'media');
    await mkdir(media);
    const sp = await ferry(['bundle', 'split', '../app-2.ferry.tar', '--split-size', '300K', '-o', '../media/app-2.ferry.tar']);
    expect(sp.code, sp.stderr).toBe(0);
    const parts = (await readdir(media)).filter((f) => /\.\d{3}$/.test(f)).sort();
    expect(parts.length).toBeGreaterThan(2);

    // The far side: the parts carried, checked with sha256sum, joined, verified with the public key.
    const far = path.join(work, 'far');
    await cp(media, far, { recursive: true });
    await mustRun('sha256sum', ['-c', 'app-2.ferry.tar.parts'], { cwd: far });
    await writeFile(path.join(far, 'app-2.ferry.tar'), Buffer.concat(await Promise.all(parts.map((p) => readFile(path.join(far, p))))));
    const vj = await ferry(['bundle', 'verify', 'app-2.ferry.tar', '--key', keys.site.pub], far);
    expect(vj.code, vj.stderr).toBe(0);
    expect(vj.stdout).toMatch(/signature verified/);
    const vb = await ferry(['bundle', 'verify', 'app-2.ferry.tar.001', '--key', keys.site.pub, '--base', '../app-1.ferry.tar'], far);
    expect(vb.code, vb.stderr).toBe(0);
    expect(vb.stdout).toMatch(/complete: all \d+ blobs the differential left out are in it/);

    // Import over last month's mirror: new content only, the old tags kept (import deletes nothing); a rerun sends nothing.
    const i2 = await ferry(['import', '../far/app-2.ferry.tar.001', '--target', 'site.yaml', '--key', keys.site.pub], siteDir);
    expect(i2.code, i2.stderr).toBe(0);
    expect(i2.stdout).toMatch(/tool-1\.0\.bin\s.*already there/);
    const i3 = await ferry(['import', '../far/app-2.ferry.tar.001', '--target', 'site.yaml', '--key', keys.site.pub], siteDir);
    expect(i3.code, i3.stderr).toBe(0);
    expect(i3.stdout).toMatch(/0 imported, \d+ already present, 0 B sent/);
    const host = up.host.replace(':', '-');
    expect(await tags(`site/${host}/vendor/app`)).toEqual(['1.0', '1.1']);
    expect(await tags(`site/${host}/vendor/db`)).toEqual(['5.0']);
    const index = await readFile(path.join(siteDir, 'charts/index.yaml'), 'utf8');
    expect(index).toContain('svc-1.0.0.tgz');
    expect(index).toContain('svc-1.1.0.tgz');

    // Drill: a part missing, then a part damaged on the media: verify names the part to copy again.
    const drill = path.join(work, 'drill');
    await cp(media, drill, { recursive: true });
    await rm(path.join(drill, 'app-2.ferry.tar.002'));
    const vm = await ferry(['bundle', 'verify', 'app-2.ferry.tar.001', '--key', keys.site.pub], drill);
    expect(vm.code).toBe(3);
    expect(vm.stderr).toMatch(/part 002 of \d+: app-2\.ferry\.tar\.002 is missing/);
    expect(vm.stderr).toMatch(/hint: Copy app-2\.ferry\.tar\.002 again from the source/);
    const damaged = await readFile(path.join(media, 'app-2.ferry.tar.002'));
    damaged[1000] ^= 0xff;
    await writeFile(path.join(drill, 'app-2.ferry.tar.002'), damaged);
    const vd = await ferry(['bundle', 'verify', 'app-2.ferry.tar.001', '--key', keys.site.pub], drill);
    expect(vd.code).toBe(3);
    expect(vd.stderr).toMatch(/part 002 of \d+: sha256 mismatch/);
    expect(vd.stderr).toMatch(/hint: Copy app-2\.ferry\.tar\.002 again from the source[^\n]*Then verify again/);

    // Drill: the wrong base (this month's own bundle), a bundle checked with another key.
    const wb = await ferry(['bundle', 'verify', 'app-2.ferry.tar.001', '--base', '../app-2.ferry.tar'], far);
    expect(wb.code).toBe(2);
    expect(wb.stderr).toMatch(/not the base this bundle was made against[\s\S]*bundle app-1\.ferry\.tar \(sha256:[a-f0-9]{64}\)/);
    const wk = await ferry(['import', '../far/app-2.ferry.tar.001', '--target', 'site.yaml', '--key', keys.other.pub], siteDir);
    expect(wk.code).toBe(3);
    expect(wk.stderr).toMatch(/does not verify with this key[\s\S]*nothing was imported|nothing was imported[\s\S]*does not verify with this key/);
    // The base signed before a key rotation, checked with the new key: the hint points at --base-key, not at copying the base again.
    const bk = await ferry(['bundle', 'verify', 'app-2.ferry.tar.001', '--key', keys.site.pub, '--base', '../app-1.ferry.tar', '--base-key', keys.other.pub], far);
    expect(bk.code).toBe(3);
    expect(bk.stderr).toMatch(/base \.\.\/app-1\.ferry\.tar: ferry\/checksums\.sha256\.sig does not verify with this key/);
    expect(bk.stderr).toMatch(/hint: .*--base-key <the earlier \.pub>/);

    // Drill: an import killed (SIGKILL) while it stages the 24 MiB file, run again: complete, nothing left over.
    const killed = path.join(work, 'killed');
    await mkdir(path.join(killed, 'files'), { recursive: true });
    await writeFile(path.join(killed, 'site.yaml'), target('killed', '.'));
    const child = spawn(process.execPath, [FERRY, 'import', '../app-1.ferry.tar', '--target', 'site.yaml', '-q'], { cwd: killed, env: { ...process.env, ...env() }, stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    let seen = false;
    const watcher = watch(path.join(killed, 'files'), { recursive: true }, (_e, name) => {
      if (!seen && name && /\.ferry-staged-/.test(String(name))) {
        seen = true;
        child.kill('SIGKILL');
      }
    });
    await exited;
    watcher.close();
    expect(seen, 'the import was killed while it staged a file').toBe(true);
    const again = await ferry(['import', '../app-1.ferry.tar', '--target', 'site.yaml'], killed);
    expect(again.code, again.stderr).toBe(0);
    expect(sha256(await readFile(path.join(killed, `files/${web.url.replace('http://', '').replace(':', '-')}/files/tool-1.0.bin`)))).toBe(sha256(tool));
    expect(await leftovers(killed)).toEqual([]);

    // Drill: the target's files and APT trees on a disk too small for what the bundle brings.
    const small = path.join(work, 'small');
    await mkdir(small);
    await writeFile(path.join(small, 'site.yaml'), target('small', './disk'));
    await mountTmpfs(path.join(small, 'disk'), '4m', mounts);
    const full = await ferry(['import', '../app-1.ferry.tar', '--target', 'site.yaml', '--key', keys.site.pub], small);
    expect(full.code).toBe(1);
    // Refused before the first byte (the free-space check of the target's directories), naming them and the figures.
    expect(full.stderr).toMatch(/disk\/apt \(the target's apt\.dir\), \S+disk\/charts \(the target's charts\.dir\), \S+disk\/files \(the target's files\.dir\): importing \S*app-1\.ferry\.tar needs \d+ bytes [^\n]* has 4194304 bytes free \(4\.2 MB\); refused before writing anything, as it would end in no space left on the device/);
    expect(full.stderr).toMatch(/hint: Free space on the file system that holds \S+disk\/apt, .*then run the same import again/);
    expect(await leftovers(path.join(small, 'disk'))).toEqual([]);
    expect((await fetch(`${site.url}/v2/small/${host}/vendor/app/tags/list`)).status).toBe(404);
    await mustRun('mount', ['-o', 'remount,size=64m', path.join(small, 'disk')]);
    const roomy = await ferry(['import', '../app-1.ferry.tar', '--target', 'site.yaml', '--key', keys.site.pub], small);
    expect(roomy.code, roomy.stderr).toBe(0);
    expect(await tags(`small/${host}/vendor/app`)).toEqual(['1.0']);
  }, 300_000);
});
