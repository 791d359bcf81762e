import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { BASE_FILES, pushLayoutImage, seedImages, skopeoDigest, writeOciLayout, type SeededImages } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * A platform engineer's job a month later (new-user round 12): the site imported last month's
 * bundle; the vendor shipped a new release. The engineer (who knows oc-mirror's incremental mode
 * and Zarf) bumps `app` from 1 to 2, finds the vendor re-pushed `base:1` with a fix (same tag,
 * new digest), adds `docker:1`, drops `multi:1`, runs `ferry lock` again, builds a differential
 * bundle (`--since` last month's bundle) split for two USB sticks, and imports it into the
 * mirror that holds last month's import. Everything against real Distribution registries on
 * loopback.
 *
 * What tripped:
 * - `ferry lock` over last month's lock said only `wrote app.lock.json: 3 images` — nothing of
 *   what moved: which image got a new version, which tag now names another digest (the vendor's
 *   silent re-push), what was added or dropped. oc-mirror and Zarf users expect that list before
 *   carrying anything. Now a re-lock prints `changes since the previous lock: N updated, N added,
 *   N removed` with one line per image repository, chart or file (`~ from → to`, `+`, `-`), and
 *   `--json` has `changes[]`.
 * - Importing last month's bundle again after this month's (a stick picked from the wrong
 *   drawer) moved `base:1` on the mirror back to the old, unpatched digest, and said `1 imported,
 *   0 B sent` — a silent rollback. The same silence hid the forward move too. Now every tag the
 *   import moves from one digest to another is said: in the table (`tag moved from sha256:…`), in
 *   the summary (`1 tag moved to another digest`), and as a warning naming both digests and what
 *   to do if that was a rollback (import the newest bundle again); `--json` gives `previous`.
 */
let work: string;
let upstream: RunningRegistry;
let mirror: RunningRegistry;
let seeded: SeededImages;
let app2: string;
let base1Old: string;
let base1New: string;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50' });
const ferry = (args: string[]) => runFerry(args, { cwd: work, env: env() });

const manifest = (refs: string[]) => ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: app }', 'images:', ...refs.map((r) => `  - ref: ${r}`), ''].join('\n');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser12-'));
  upstream = await startRegistry({ mode: 'http' });
  mirror = await startRegistry({ mode: 'http' });
  seeded = await seedImages(upstream);
  base1Old = seeded.digests.base;
  await writeFile(
    path.join(work, 'target.yaml'),
    `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: ${mirror.url}\n  prefix: mirror\n`,
  );
  // Last month: lock, bundle, import.
  await writeFile(path.join(work, 'app.yaml'), manifest([seeded.refs.base, seeded.refs.app, seeded.refs.multi]));
  for (const args of [['lock', 'app.yaml'], ['bundle', 'create', 'app.yaml', '-o', 'app-1.ferry.tar'], ['import', 'app-1.ferry.tar', '-t', 'target.yaml']]) {
    const r = await ferry(args);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
  // The vendor's new release: app:2 (new app layer), base:1 re-pushed with a fix (the tag moves).
  const layout = path.join(work, 'layout2');
  await writeOciLayout(layout, [
    { name: 'app', platforms: [{ architecture: 'amd64', layers: [{ files: BASE_FILES }, { files: { 'app/VERSION': '2.0.0\n' } }] }] },
    { name: 'base', platforms: [{ architecture: 'amd64', layers: [{ files: BASE_FILES }, { files: { 'etc/patch': 'CVE fix\n' } }] }] },
  ]);
  await pushLayoutImage(upstream, layout, 'app', 'ferry-test/app:2');
  await pushLayoutImage(upstream, layout, 'base', 'ferry-test/base:1');
  app2 = `${upstream.host}/ferry-test/app:2`;
  base1New = await skopeoDigest(upstream, seeded.refs.base);
}, 180_000);

afterAll(async () => {
  await upstream?.stop();
  await mirror?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a month later: the vendor shipped a new release', () => {
  it('ferry lock again says what changed against last month\'s lock', async () => {
    expect(base1New).not.toBe(base1Old);
    await writeFile(path.join(work, 'app.yaml'), manifest([seeded.refs.base, app2, seeded.refs.docker]));
    const r = await ferry(['lock', 'app.yaml']);
    expect(r.code, r.stderr).toBe(0);
    const repo = (ref: string) => ref.replace(/:[^:/]+$/, '');
    expect(r.stdout).toContain('changes since the previous lock: 2 updated, 1 added, 1 removed');
    expect(r.stdout).toContain(`~ image ${repo(seeded.refs.app)}: 1@${seeded.digests.app} → 2@`);
    expect(r.stdout).toContain(`~ image ${repo(seeded.refs.base)}: 1@${base1Old} → 1@${base1New}`);
    expect(r.stdout).toContain(`+ image ${repo(seeded.refs.docker)}: 1@${seeded.digests.docker}`);
    expect(r.stdout).toContain(`- image ${repo(seeded.refs.multi)}: 1@${seeded.digests.multi} for every platform (no longer in the manifest)`);
    // Locking again with nothing new: unchanged, no change list.
    const again = await ferry(['lock', 'app.yaml', '--json']);
    expect(again.code, again.stderr).toBe(0);
    const j = JSON.parse(again.stdout) as { changed: boolean; changes?: unknown[] };
    expect(j.changed).toBe(false);
    expect(j.changes).toBeUndefined();
  });

  it('the differential import says the moved tag, and an older bundle imported after it is a rollback that is said', async () => {
    const c = await ferry(['bundle', 'create', 'app.yaml', '-o', 'usb/app-2.ferry.tar', '--since', 'app-1.ferry.tar', '--split-size', '16K']);
    expect(c.code, c.stderr).toBe(0);
    const imp = await ferry(['import', 'usb/app-2.ferry.tar.001', '-t', 'target.yaml']);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout).toContain(`tag moved from ${base1Old.slice(0, 19)}…`);
    expect(imp.stdout).toContain('1 tag moved to another digest');
    expect(await skopeoDigest(mirror, `${mirror.host}/mirror/${seeded.refs.base.replace(/^([^/]+):(\d+)\//, '$1-$2/')}`)).toBe(base1New);
    // Rerun: idempotent, nothing moves.
    const rerun = await ferry(['import', 'usb/app-2.ferry.tar.001', '-t', 'target.yaml', '--json']);
    expect(rerun.code, rerun.stderr).toBe(0);
    const rj = JSON.parse(rerun.stdout) as { pushed: number; results: Array<{ previous?: string }> };
    expect(rj.pushed).toBe(0);
    expect(rj.results.every((x) => !x.previous)).toBe(true);
    // Last month's stick again, by mistake: base:1 goes back to the unpatched digest — said.
    const old = await ferry(['import', 'app-1.ferry.tar', '-t', 'target.yaml', '--json']);
    expect(old.code, old.stderr).toBe(0);
    const oj = JSON.parse(old.stdout) as { results: Array<{ artifact: string; previous?: string }>; warnings: string[] };
    expect(oj.results.find((x) => x.artifact === seeded.refs.base)?.previous).toBe(base1New);
    expect(oj.warnings.join('\n')).toMatch(new RegExp(`tag moved from ${base1New} to ${base1Old}.*rollback: import the newest bundle again`));
  });
});
