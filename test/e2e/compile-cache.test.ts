import { mkdtemp, readdir, rm, writeFile, cp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FERRY, runCommand } from '../support/cli.js';
import { VERSION } from '../../src/version.js';

/**
 * dist/ferry.mjs turns on Node's compile cache before it loads the program (dist/ferry-main.mjs),
 * so every run after the first reads the compiled program instead of compiling 4 MB again.
 */
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tmp(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'ferry-ccache-'));
  dirs.push(d);
  return d;
}

/** Every file under `dir` (the cache keeps one subdirectory per Node version). */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** Run the built ferry with only the compile-cache variables we choose (none inherited). */
function ferry(args: string[], env: Record<string, string | undefined>) {
  const clean: Record<string, string | undefined> = { NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined, FERRY_COMPILE_CACHE: undefined, XDG_CACHE_HOME: undefined, NODE_DEBUG_NATIVE: undefined };
  return runCommand(process.execPath, [FERRY, ...args], { env: { ...clean, ...env } });
}

describe('compile cache', () => {
  it('is written by the first run under FERRY_COMPILE_CACHE and read by the next', async () => {
    const cache = path.join(await tmp(), 'cc');
    const first = await ferry(['--version'], { FERRY_COMPILE_CACHE: cache });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.trim()).toBe(VERSION);
    const files = await filesUnder(cache);
    expect(files.length).toBeGreaterThan(0);

    // Node says, when asked, whether it accepted the cached code for the program.
    const second = await ferry(['--version'], { FERRY_COMPILE_CACHE: cache, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout.trim()).toBe(VERSION);
    expect(second.stderr).toMatch(/V8 code cache for ESM file:\/\/\S*\/ferry-main\.mjs was accepted/);

    // A real command through the cache still works (schema output is the program's, not the loader's).
    const schema = await ferry(['schema', 'manifest'], { FERRY_COMPILE_CACHE: cache });
    expect(schema.code, schema.stderr).toBe(0);
    expect(JSON.parse(schema.stdout).properties.images.type).toBe('array');
  });

  it('defaults to $XDG_CACHE_HOME/ferry/compile-cache, then ~/.cache/ferry/compile-cache', async () => {
    const xdg = await tmp();
    const r = await ferry(['--version'], { XDG_CACHE_HOME: xdg });
    expect(r.code, r.stderr).toBe(0);
    expect((await filesUnder(path.join(xdg, 'ferry', 'compile-cache'))).length).toBeGreaterThan(0);

    const home = await tmp();
    const h = await ferry(['--version'], { HOME: home });
    expect(h.code, h.stderr).toBe(0);
    expect((await filesUnder(path.join(home, '.cache', 'ferry', 'compile-cache'))).length).toBeGreaterThan(0);
  });

  it('NODE_COMPILE_CACHE set by the user wins over ferry’s directory', async () => {
    const mine = await tmp();
    const ferrys = await tmp();
    const r = await ferry(['--version'], { NODE_COMPILE_CACHE: mine, FERRY_COMPILE_CACHE: ferrys });
    expect(r.code, r.stderr).toBe(0);
    expect((await filesUnder(mine)).length).toBeGreaterThan(0);
    expect(await filesUnder(ferrys)).toEqual([]);
  });

  it('a cache directory that cannot be created or written changes nothing: ferry runs, silently', async () => {
    const dir = await tmp();
    const file = path.join(dir, 'not-a-directory');
    await writeFile(file, 'x');
    // Under a regular file: mkdir fails even for root.
    const r = await ferry(['--version'], { FERRY_COMPILE_CACHE: path.join(file, 'cc') });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
    expect(r.stderr).toBe('');

    // A home whose cache cannot be made (the default path), and no home at all.
    const h = await ferry(['schema', 'target'], { HOME: file });
    expect(h.code, h.stderr).toBe(0);
    expect(JSON.parse(h.stdout).type).toBe('object');
    expect(h.stderr).toBe('');
    const none = await ferry(['--version'], { HOME: '' });
    expect(none.code, none.stderr).toBe(0);
    expect(none.stderr).toBe('');
    // A home directory that does not exist is not created for the cache.
    const gone = path.join(dir, 'no-such-home');
    const g = await ferry(['--version'], { HOME: gone });
    expect(g.code, g.stderr).toBe(0);
    expect(g.stderr).toBe('');
    expect(await filesUnder(gone)).toEqual([]);
    await expect(readdir(gone)).rejects.toThrow(/ENOENT/);

    // The user turned the cache off: nothing is written.
    const off = await tmp();
    const d = await ferry(['--version'], { FERRY_COMPILE_CACHE: off, NODE_DISABLE_COMPILE_CACHE: '1' });
    expect(d.code, d.stderr).toBe(0);
    expect(await filesUnder(off)).toEqual([]);
  });

  it('a dist/ copied without the program says what is missing', async () => {
    const dir = await tmp();
    await cp(FERRY, path.join(dir, 'ferry.mjs'));
    const r = await runCommand(process.execPath, [path.join(dir, 'ferry.mjs'), '--version'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ferry-main.mjs is missing');
    expect(r.stderr).toContain('copy the whole dist/ directory');
  });
});
