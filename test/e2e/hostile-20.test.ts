/**
 * Hostile pass 20, end to end: `audit` of Compose files on Docker hosts.
 *
 * What tripped: a Compose service name may hold dots (`web.v2`, Compose allows `[a-zA-Z0-9._-]`),
 * its key path is `services.web.v2.image`, and the rule that a carried ghcr.io image in a Compose
 * file still goes out through dockerd (registry-mirrors mirror Docker Hub alone) matched one
 * segment only: the service came out "mirrored". Its `${VAR}`s were not interpolated either.
 *
 * And the compile cache (scripts/build.mjs): its directory was used whoever owned it. Node runs
 * the V8 code it finds there, so with HOME=/tmp (CI, containers with a random uid) another local
 * user who made /tmp/.cache first could plant code ferry would run. Now a directory another user
 * owns or can write, on the way to the cache, means no cache.
 */
import { chmod, chown, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, runCommand, runFerry } from '../support/cli.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-h20-'));
  await writeFile(path.join(work, 'm.yaml'), 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: c }\nimages:\n  - ref: ghcr.io/acme/web:1.4\n');
  await writeFile(path.join(work, 't.yaml'), 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry: { url: https://registry.site.internal, layout: nested }\n');
  await mkdir(path.join(work, 'stack'));
  await writeFile(path.join(work, 'stack', 'compose.yaml'), 'services:\n  web.v2:\n    image: ghcr.io/acme/web:1.4\n  web:\n    image: ${WEB:-ghcr.io/acme/web:1.4}\n  api.v2:\n    image: ${API:-ghcr.io/acme/web:1.4}\n');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('audit of a Compose file whose service names hold dots', () => {
  it('a carried ghcr.io image is not mirrored on a Docker host, whatever the service is named', async () => {
    const r = await runFerry(['audit', 'stack', '--manifest', 'm.yaml', '-t', 't.yaml', '--json'], { cwd: work });
    expect(r.stderr).not.toMatch(/internal|unexpected/i);
    const findings = (JSON.parse(r.stdout) as { findings: Array<{ file: string; line: number; value: string; class: string; note?: string }> }).findings.filter((f) => f.file === 'stack/compose.yaml');
    const byLine = new Map(findings.map((f) => [f.line, f]));
    for (const line of [3, 5, 7]) {
      expect(byLine.get(line)?.value).toBe('ghcr.io/acme/web:1.4');
      expect(byLine.get(line)?.class).toBe('undeclared');
      expect(byLine.get(line)?.note).toMatch(/dockerd pulls it from ghcr\.io as written/);
    }
  });
});

describe('the compile cache in a directory another user can write', () => {
  const clean = { NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined, FERRY_COMPILE_CACHE: undefined, XDG_CACHE_HOME: undefined };
  const filesUnder = async (dir: string) => (await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])).filter((e) => e.isFile());
  it('is not used (Node would run the code planted there): HOME=/tmp-like with .cache made by another user', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test makes a directory owned by another user: run as root');
    const home = path.join(work, 'shared-home');
    const cache = path.join(home, '.cache', 'ferry', 'compile-cache');
    await mkdir(cache, { recursive: true });
    // Another user (nobody) made .cache first and owns the tree below it.
    for (const d of [path.join(home, '.cache'), path.join(home, '.cache', 'ferry'), cache]) await chown(d, 65534, 65534);
    const r = await runCommand(process.execPath, [FERRY, '--version'], { env: { ...clean, HOME: home } });
    expect(r.code, r.stderr).toBe(0);
    expect(await filesUnder(cache)).toEqual([]);
    // Control: the same tree owned by the one who runs ferry is used.
    for (const d of [path.join(home, '.cache'), path.join(home, '.cache', 'ferry'), cache]) await chown(d, 0, 0);
    const again = await runCommand(process.execPath, [FERRY, '--version'], { env: { ...clean, HOME: home } });
    expect(again.code, again.stderr).toBe(0);
    expect((await filesUnder(cache)).length).toBeGreaterThan(0);
  });

  it('is not used where a directory on the way is writable by everyone (not sticky)', async () => {
    const base = path.join(work, 'open');
    await mkdir(base);
    await chmod(base, 0o777);
    const r = await runCommand(process.execPath, [FERRY, '--version'], { env: { ...clean, XDG_CACHE_HOME: base } });
    expect(r.code, r.stderr).toBe(0);
    expect(await filesUnder(base)).toEqual([]);
  });
});
