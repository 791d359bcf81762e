import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, runCommand, runFerry } from '../support/cli.js';
import { seedImages, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A release engineer wiring ferry into CI (new-user round 19): GitLab CI / GitHub Actions style
 * jobs, no TTY, `CI=true`, logs captured, a non-root user whose HOME may be unwritable, a
 * read-only checkout. A merge request that changes the manifest must fail its job when the
 * committed lock was not updated with it; a build job makes the bundle (with its SBOM) as an
 * artifact; two pipelines share one cache directory on the runner; a nightly job re-locks and
 * opens a merge request only when something changed. The engineer knew skopeo, helm and zarf in
 * pipelines and worked from the README. A real Distribution registry on loopback; the non-root
 * user is `nobody` (setpriv).
 *
 * What tripped:
 * - There was no way to ask "is the committed lock up to date?" without writing it: `ferry lock`
 *   rewrites the lock (and needs the network), and `bundle create --frozen` fetches the whole
 *   bundle before it is of use as a gate. Now `ferry lock --check` answers offline, by the same
 *   test `bundle create --frozen` applies, writing nothing: exit 0 `up to date`, or exit 1 with
 *   `<lock>: out of date: <why>` and the command to run on stderr (`--json`: `{lockFile,
 *   upToDate, reason}` on stdout).
 * - A runner's HOME that is not writable (or not a directory) failed the build with
 *   `/nonexistent: cannot mkdir: permission denied` and a hint about permissions: nothing said it
 *   was the download cache nor how to move it. Now the error names the download cache, where its
 *   path came from (HOME, XDG_CACHE_HOME, FERRY_CACHE_DIR) and `--cache-dir`/`FERRY_CACHE_DIR`.
 * - A CI template's empty `FERRY_CACHE_DIR: ""` (or an empty `XDG_CACHE_HOME`) put the download
 *   cache in the working directory (`./store`, `./ferry/store`): into the checkout, where the next
 *   `git status` and the job's artifacts found it. An empty variable now counts as unset, and a
 *   relative XDG_CACHE_HOME too, as the XDG spec says.
 * - In a read-only checkout, a stale lock made `ferry lock` and `bundle create` fail, after
 *   resolving everything, with `<checkout>/app.lock.json.441.tmp: cannot open: permission denied`
 *   (a temp name, and a hint about permissions). Now the error names the lock it could not write
 *   and the ways round it (`-o`, `lock --check`, an up-to-date lock with `--frozen`); the temp
 *   file is one of the store's names, which a rerun after a kill sweeps.
 * - README: SPDX's `created` is the time of the run unless SOURCE_DATE_EPOCH is set ("output is
 *   deterministic" was said of both formats); the README now says so, and has a section for CI
 *   jobs (the gate, the nightly re-lock, the build's artifacts, caches, a killed job, exit codes
 *   and output).
 */
let work: string;
let reg: RunningRegistry;
let seeded: SeededImages;
const cache = () => path.join(work, 'cache');
const env = () => ({ CI: 'true', FERRY_CACHE_DIR: cache(), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1' });
const manifest = (name: string, refs: string[]) => ['apiVersion: ferry/v1alpha1', 'kind: Manifest', `metadata: { name: ${name} }`, 'images:', ...refs.map((r) => `  - ref: ${r}`), ''].join('\n');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser19-'));
  await chmod(work, 0o755);
  reg = await startRegistry({ mode: 'http' });
  seeded = await seedImages(reg);
  await mkdir(path.join(work, 'repo'));
  await writeFile(path.join(work, 'repo', 'app.yaml'), manifest('app', [seeded.refs.base, seeded.refs.app]));
  const r = await runFerry(['lock', 'app.yaml'], { cwd: path.join(work, 'repo'), env: env() });
  expect(r.code, r.stderr).toBe(0);
}, 180_000);

afterAll(async () => {
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the merge-request job: fail when the committed lock is stale', () => {
  it('ferry lock --check: exit 0 when the lock matches, exit 1 naming the lock and why when it does not, writing nothing', async () => {
    const mr = path.join(work, 'mr');
    await cp(path.join(work, 'repo'), mr, { recursive: true });
    const ok = await runFerry(['lock', 'app.yaml', '--check'], { cwd: mr, env: env() });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(`${path.join(mr, 'app.lock.json')}: up to date with the manifest\n`);

    // The merge request adds an image and forgets the lock.
    const committed = await readFile(path.join(mr, 'app.lock.json'));
    await writeFile(path.join(mr, 'app.yaml'), manifest('app', [seeded.refs.base, seeded.refs.app, seeded.refs.multi]));
    const stale = await runFerry(['lock', 'app.yaml', '--check'], { cwd: mr, env: env() });
    expect(stale.code).toBe(1);
    expect(stale.stdout).toBe('');
    expect(stale.stderr).toContain(`error: ${path.join(mr, 'app.lock.json')}: out of date: the manifest (or a local file it names: values files, signing keys) changed since the lock was written`);
    expect(stale.stderr).toContain('hint: Run `ferry lock app.yaml` and commit the lock with the manifest.');
    const json = await runFerry(['lock', 'app.yaml', '--check', '--json'], { cwd: mr, env: env() });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ lockFile: path.join(mr, 'app.lock.json'), upToDate: false, reason: expect.stringContaining('changed since the lock was written') });
    expect(await readFile(path.join(mr, 'app.lock.json'))).toEqual(committed);
    expect((await readdir(mr)).sort()).toEqual(['app.lock.json', 'app.yaml']);

    // It judges as bundle create --frozen does: what --check passes, --frozen takes.
    const frozen = await runFerry(['bundle', 'create', 'app.yaml', '--frozen', '-o', path.join(work, 'mr.ferry.tar')], { cwd: mr, env: env() });
    expect(frozen.code).toBe(1);
    expect(frozen.stderr).toContain('the lock does not match the manifest');
  });

  it('lock --check resolves nothing: a manifest whose registry is unreachable and that has no lock is "no lock file", exit 1, not a network error', async () => {
    const dir = path.join(work, 'offline');
    await mkdir(dir);
    await writeFile(path.join(dir, 'edge.yaml'), manifest('edge', ['127.0.0.1:9/nothing/here:1']));
    const r = await runFerry(['lock', 'edge.yaml', '--check'], { cwd: dir, env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${path.join(dir, 'edge.lock.json')}: out of date: no lock file`);
    expect(await readdir(dir)).toEqual(['edge.yaml']);
  });
});

describe('the build job on a runner: caches and checkouts', () => {
  it('a HOME that cannot hold the default cache is named as the download cache, with --cache-dir and FERRY_CACHE_DIR', async () => {
    const home = path.join(work, 'home-is-a-file');
    await writeFile(home, 'not a directory\n');
    const r = await runFerry(['bundle', 'create', 'app.yaml', '-o', path.join(work, 'home.ferry.tar')], {
      cwd: path.join(work, 'repo'),
      env: { ...env(), HOME: home, FERRY_CACHE_DIR: undefined, XDG_CACHE_HOME: undefined },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: cannot create the download cache ${path.join(home, '.cache', 'ferry', 'store')} (the default, under HOME (${home})): a part of the path is a file, not a directory`);
    expect(r.stderr).toMatch(/hint: Give ferry a writable cache directory with --cache-dir <dir> or FERRY_CACHE_DIR=<dir>/);
  });

  it('an empty FERRY_CACHE_DIR or XDG_CACHE_HOME (a CI template\'s "") counts as unset: no cache in the checkout', async () => {
    const checkout = path.join(work, 'empty-vars');
    await cp(path.join(work, 'repo'), checkout, { recursive: true });
    const home = path.join(work, 'home');
    await mkdir(home);
    const r = await runFerry(['bundle', 'create', 'app.yaml', '-o', path.join(work, 'empty.ferry.tar')], {
      cwd: checkout,
      env: { ...env(), HOME: home, FERRY_CACHE_DIR: '', XDG_CACHE_HOME: '' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(checkout)).sort()).toEqual(['app.lock.json', 'app.yaml']);
    expect(await readdir(path.join(home, '.cache', 'ferry', 'store'))).toContain('blobs');
  });

  it('a read-only checkout (another user\'s) with a stale lock: the error names the lock, not a temp file, and says --frozen / lock --check', async () => {
    const checkout = path.join(work, 'ro');
    await cp(path.join(work, 'repo'), checkout, { recursive: true });
    await writeFile(path.join(checkout, 'app.yaml'), manifest('app', [seeded.refs.base]));
    await chmod(checkout, 0o755);
    const shared = path.join(work, 'nobody');
    await mkdir(shared, { mode: 0o777 });
    await chmod(shared, 0o777);
    const asNobody = (args: string[]) =>
      runCommand('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, FERRY, ...args], {
        cwd: checkout,
        env: { ...env(), HOME: '/nonexistent', FERRY_CACHE_DIR: path.join(shared, 'cache') },
      });
    const lockFile = path.join(checkout, 'app.lock.json');
    const lock = await asNobody(['lock', 'app.yaml']);
    expect(lock.code).toBe(1);
    expect(lock.stderr).toContain(`error: cannot write the lock ${lockFile}: permission denied (a read-only checkout?)`);
    expect(lock.stderr).toContain('-o <file>');
    expect(lock.stderr).not.toMatch(/\.tmp/);
    const create = await asNobody(['bundle', 'create', 'app.yaml', '-o', path.join(shared, 'ro.ferry.tar')]);
    expect(create.code).toBe(1);
    expect(create.stderr).toContain(`error: cannot write the lock ${lockFile}`);
    expect(create.stderr).toMatch(/hint: The committed lock does not match the manifest.*--frozen/);
    const check = await asNobody(['lock', 'app.yaml', '--check']);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('out of date');
    expect((await readdir(checkout)).sort()).toEqual(['app.lock.json', 'app.yaml']);
  });
});

describe('the nightly job: re-lock, and a merge request only when something changed', () => {
  it('a re-lock with nothing moved says changed: false and leaves the lock byte for byte; two builds give the same bundle and SBOM; nothing for a terminal in the logs', async () => {
    const repo = path.join(work, 'repo');
    const before = await readFile(path.join(repo, 'app.lock.json'));
    const r = await runFerry(['lock', 'app.yaml', '--json'], { cwd: repo, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ changed: false });
    expect(await readFile(path.join(repo, 'app.lock.json'))).toEqual(before);

    const outs = [path.join(work, 'n1.ferry.tar'), path.join(work, 'n2.ferry.tar')];
    const sboms: Buffer[] = [];
    for (const out of outs) {
      const c = await runFerry(['bundle', 'create', 'app.yaml', '--frozen', '-o', out], { cwd: repo, env: { ...env(), NO_COLOR: undefined } });
      expect(c.code, c.stderr).toBe(0);
      expect(c.stdout + c.stderr).not.toMatch(/\x1b|\r/);
      const s = await runFerry(['sbom', out, '--format', 'spdx', '-o', `${out}.spdx.json`], { cwd: repo, env: { ...env(), SOURCE_DATE_EPOCH: '1700000000' } });
      expect(s.code, s.stderr).toBe(0);
      sboms.push(await readFile(`${out}.spdx.json`));
    }
    expect((await readFile(outs[0])).equals(await readFile(outs[1]))).toBe(true);
    expect(sboms[0].equals(sboms[1])).toBe(true);
    expect(JSON.parse(sboms[0].toString()).creationInfo.created).toBe('2023-11-14T22:13:20Z');
  });
});
