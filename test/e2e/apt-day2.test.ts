import { cp, mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { aptGet, buildDeb, makeGpgKey, siteAptMirror, startNginx, writeSignedRelease, type GpgKey, type Nginx } from '../support/apt-repo.js';

/**
 * Day 2 of a filtered APT mirror: a month after the first import the vendor published new
 * versions (app 2.0 with a new dependency, libnew, and `Breaks: libfoo (<< 2.0)` where app 1.0
 * depended on libfoo). `ferry lock` again, a differential bundle (`--since` the first), import
 * onto the same directory mirror, and the real apt on a client that installed last month's set
 * must see and install the new versions with their new dependencies.
 */

let work: string;
let vendor: GpgKey;
let site: GpgKey;
let upstream: Nginx;
let mirror: Nginx | undefined;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

/** The vendor's repository as it stands: every version in the pool listed (as Docker's, PGDG's), signed. */
async function publish(root: string, date: Date): Promise<void> {
  const packages = execFileSync('dpkg-scanpackages', ['--multiversion', 'pool', '/dev/null'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
  const gz = execFileSync('gzip', ['-9n'], { input: packages });
  const dir = path.join(root, 'dists/stable');
  await mkdir(path.join(dir, 'main/binary-amd64'), { recursive: true });
  await writeFile(path.join(dir, 'main/binary-amd64/Packages.gz'), gz);
  await writeSignedRelease(dir, vendor, ['Origin: Vendor', 'Label: Vendor', 'Suite: stable', 'Codename: stable', `Date: ${date.toUTCString()}`, 'Architectures: amd64', 'Components: main'], [
    { path: 'main/binary-amd64/Packages.gz', bytes: gz },
  ]);
}

/** A dpkg status file: these packages installed (a client that installed last month's set). */
async function installed(file: string, debs: string[]): Promise<void> {
  const stanzas = debs.map((d) => {
    const control = execFileSync('dpkg-deb', ['-f', d]).toString().trimEnd();
    return control.replace(/^(Package: .*)$/m, '$1\nStatus: install ok installed');
  });
  await writeFile(file, stanzas.join('\n\n') + '\n');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-apt-day2-'));
  vendor = await makeGpgKey(work, 'vendor');
  site = await makeGpgKey(work, 'site');
  upstream = await startNginx(path.join(work, 'public'));
});

afterAll(async () => {
  await mirror?.stop();
  await upstream?.stop();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

describe('apt day 2: the vendor publishes new versions a month later', () => {
  it('lock names the change; the differential bundle imported onto the mirror lets apt upgrade a client of last month with the new dependencies and the Breaks fix', async () => {
    const repo = path.join(work, 'public/vendor');
    const pool = path.join(repo, 'pool/main');
    await mkdir(pool, { recursive: true });
    const debs = path.join(work, 'debs');
    const month1 = [await buildDeb(debs, 'app', '1.0', { Depends: 'libfoo (>= 1.0)' }), await buildDeb(debs, 'libfoo', '1.0')];
    for (const d of month1) await cp(d, path.join(pool, path.basename(d)));
    const now = Date.now();
    await publish(repo, new Date(now - 30 * 86400_000));

    const dir = path.join(work, 'project');
    await mkdir(dir, { recursive: true });
    await cp(vendor.publicKey, path.join(dir, 'vendor.asc'));
    await cp(site.secretKey, path.join(dir, 'site.secret.asc'));
    await writeFile(
      path.join(dir, 'manifest.yaml'),
      ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: day2 }', 'apt:', '  - name: vendor', `    url: ${upstream.url}/vendor`, '    suites: [stable]', '    components: [main]', '    architectures: [amd64]', '    packages: [app]', '    keys: [vendor.asc]', ''].join('\n'),
    );
    const lock1 = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: env() });
    expect(lock1.code, lock1.stderr).toBe(0);
    const create1 = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'month1.tar', '--frozen'], { cwd: dir, env: env() });
    expect(create1.code, create1.stderr).toBe(0);
    const served = await siteAptMirror(dir);
    mirror = served.mirror;
    const imp1 = await runFerry(['import', 'month1.tar', '-t', 'target.yaml', '--json'], { cwd: dir, env: env() });
    expect(imp1.code, imp1.stderr).toBe(0);
    const location = (JSON.parse(imp1.stdout).results as Array<{ artifact: string; location: string }>).find((r) => r.artifact.endsWith(' stable'))!.location.split(' ')[0];

    // The client installed last month's set.
    const client = path.join(dir, 'client');
    await mkdir(client, { recursive: true });
    const status = path.join(client, 'status');
    await installed(status, month1);
    const sources = `deb [signed-by=${path.join(served.mirrorDir, 'ferry-archive-keyring.asc')}] ${location} stable main`;
    const apt = (args: string[]) => aptGet(client, sources, ['-o', `Dir::State::status=${status}`, ...args]);
    const up1 = await apt(['update']);
    expect(up1.code, up1.stdout + up1.stderr).toBe(0);
    const none = await apt(['upgrade', '--simulate']);
    expect(none.stdout).toMatch(/0 upgraded, 0 newly installed/);

    // A month later: app 2.0 needs libnew and breaks the libfoo it no longer depends on.
    const month2 = [await buildDeb(debs, 'app', '2.0', { Depends: 'libnew', Breaks: 'libfoo (<< 2.0)' }), await buildDeb(debs, 'libfoo', '2.0'), await buildDeb(debs, 'libnew', '1.0')];
    for (const d of month2) await cp(d, path.join(pool, path.basename(d)));
    await publish(repo, new Date(now - 3600_000));
    await cp(path.join(dir, 'day2.lock.json'), path.join(dir, 'month1.lock.json'));
    const lock2 = await runFerry(['lock', 'manifest.yaml', '--json'], { cwd: dir, env: env() });
    expect(lock2.code, lock2.stderr).toBe(0);
    const lock = JSON.parse(await readFile(path.join(dir, 'day2.lock.json'), 'utf8'));
    const locked = lock.apt[0].suites[0].packages.map((p: { name: string; version: string }) => `${p.name}=${p.version}`);
    expect(locked).toEqual(['app=2.0', 'libfoo=2.0', 'libnew=1.0']);
    // Why libfoo 2.0 is carried though nothing depends on it is said.
    expect(JSON.stringify(JSON.parse(lock2.stdout).warnings ?? []) + lock2.stderr).toContain('also carried, for a Breaks/Conflicts in the closure (apt upgrades them on clients that have an older one): libfoo 2.0 (app 2.0 breaks libfoo (<< 2.0))');
    // The change list names the packages that moved, not only a count.
    const changes = JSON.parse(lock2.stdout).changes as Array<{ kind: string; name: string; from?: string; to?: string }>;
    const aptChange = changes.find((c) => c.kind === 'apt')!;
    expect(aptChange.to).toContain('app 1.0 → 2.0');
    expect(aptChange.to).toContain('libfoo 1.0 → 2.0');
    expect(aptChange.to).toContain('+libnew 1.0');

    const create2 = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'month2.tar', '--frozen', '--since', 'month1.tar'], { cwd: dir, env: env() });
    expect(create2.code, create2.stderr).toBe(0);
    const imp2 = await runFerry(['import', 'month2.tar', '-t', 'target.yaml'], { cwd: dir, env: env() });
    expect(imp2.code, imp2.stderr).toBe(0);

    // The pool keeps last month's .debs beside the new ones; the index lists the new versions.
    const mirrorPool = (await readdir(path.join(served.mirrorDir), { recursive: true })).filter((f) => f.endsWith('.deb')).map((f) => path.basename(f)).sort();
    expect(mirrorPool).toEqual(['app_1.0_all.deb', 'app_2.0_all.deb', 'libfoo_1.0_all.deb', 'libfoo_2.0_all.deb', 'libnew_1.0_all.deb']);

    // A month passes between the two imports; here they can fall in one second, and nginx would
    // then answer the client's If-Modified-Since with 304 for the new Release (Last-Modified has
    // one-second resolution). Date the second import's indexes a minute later, as a month would.
    const later = new Date(Date.now() + 60_000);
    for (const f of await readdir(served.mirrorDir, { recursive: true })) {
      if (f.split(path.sep).includes('dists')) await utimes(path.join(served.mirrorDir, f), later, later).catch(() => undefined);
    }
    const up2 = await apt(['update']);
    expect(up2.code, up2.stdout + up2.stderr).toBe(0);
    expect(up2.stdout + up2.stderr).not.toMatch(/W: |E: /);
    // `apt upgrade` (and `apt-get upgrade --with-new-pkgs`): every new version, with the new dependency; nothing kept back or removed.
    const sim = await apt(['upgrade', '--with-new-pkgs', '--simulate']);
    expect(sim.code, sim.stdout + sim.stderr).toBe(0);
    expect(sim.stdout).toMatch(/^Inst app \[1\.0\] \(2\.0 /m);
    expect(sim.stdout).toMatch(/^Inst libfoo \[1\.0\] \(2\.0 /m);
    expect(sim.stdout).toMatch(/^Inst libnew \(1\.0 /m);
    expect(sim.stdout).not.toMatch(/kept back|^Remv /m);
    // Plain `apt-get upgrade` never installs a new package: it keeps app back (apt's design, not the mirror's).
    const plain = await apt(['upgrade', '--simulate']);
    expect(plain.stdout).toMatch(/kept back:\s+app/);
    // And the full upgrade installs it all too, downloading from the mirror.
    const full = await apt(['dist-upgrade', '--download-only']);
    expect(full.code, full.stdout + full.stderr).toBe(0);
    const archives = (await readdir(path.join(client, 'var/cache/apt/archives'))).filter((f) => f.endsWith('.deb')).sort();
    expect(archives).toEqual(['app_2.0_all.deb', 'libfoo_2.0_all.deb', 'libnew_1.0_all.deb']);
  });
});
