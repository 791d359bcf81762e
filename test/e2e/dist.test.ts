import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FERRY, runCommand } from '../support/cli.js';

/** ferry itself crosses the gap: dist/ferry.mjs must run with Node alone, far from node_modules. */
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('single-file build', () => {
  it('runs from a directory with no node_modules anywhere above it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-dist-'));
    dirs.push(dir);
    const copy = path.join(dir, 'ferry.mjs');
    await copyFile(FERRY, copy);
    const help = await runCommand(process.execPath, [copy, '--help'], { cwd: dir, env: { NODE_PATH: '' } });
    expect(help.code, help.stderr).toBe(0);
    for (const verb of ['lock', 'bundle', 'import', 'map', 'serve', 'schema']) expect(help.stdout).toContain(verb);
    const schema = await runCommand(process.execPath, [copy, 'schema', 'manifest'], { cwd: dir });
    expect(schema.code, schema.stderr).toBe(0);
    expect(JSON.parse(schema.stdout).properties.images.type).toBe('array');
  });

  it('on a Node older than 22.19 it says what it needs instead of failing inside a dependency', async () => {
    // Present an old version to the very same file (the machine's own Node may be new enough).
    const script = `Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '20.11.0' } }); Object.defineProperty(process, 'version', { value: 'v20.11.0' }); await import(${JSON.stringify(FERRY)});`;
    const r = await runCommand(process.execPath, ['--input-type=module', '-e', script, '--', '--help']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ferry needs Node.js 22.19 or newer; this is v20.11.0');
    expect(r.stdout).toBe('');
  });
});
