import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';

/**
 * Hostile pass 13, through the built CLI: `ferry charts images <dir>` on a chart directory whose
 * Chart.yaml names `file://` dependencies (charts developed side by side, as checked out from a
 * repository someone else writes).
 *
 * What tripped: a dependency leading back (a → file://../b → file://../a) loaded the two charts
 * in turn forever (the command never ended; killed after 60 s); a lattice of them (each level's
 * two charts depending on both of the next level's) doubled the loads at each level.
 */

let work: string;

async function chart(dir: string, name: string, deps: string[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const lines = ['apiVersion: v2', `name: ${name}`, 'version: 1.0.0', ...(deps.length ? ['dependencies:'] : [])];
  for (const d of deps) lines.push(`- name: ${d}`, '  version: 1.0.0', `  repository: file://../${d}`);
  await writeFile(path.join(dir, 'Chart.yaml'), lines.join('\n') + '\n');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile13-'));
});

describe('charts images on file:// dependencies that never end', () => {
  it('a cycle a → ../b → ../a is refused, naming the chain (it loaded forever)', async () => {
    await chart(path.join(work, 'cycle', 'a'), 'a', ['b']);
    await chart(path.join(work, 'cycle', 'b'), 'b', ['a']);
    const r = await runFerry(['charts', 'images', path.join(work, 'cycle', 'a')], { timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`dependency a from file://../a is a cycle: ${path.join(work, 'cycle', 'a')} → ${path.join(work, 'cycle', 'b')} → ${path.join(work, 'cycle', 'a')}`);
  });

  it('a lattice of 40 levels (2^40 loads) is refused at the load bound', async () => {
    const root = path.join(work, 'lattice');
    const levels = 40;
    for (let i = 0; i < levels; i++) {
      const next = i + 1 < levels ? [`l${i + 1}x`, `l${i + 1}y`] : [];
      await chart(path.join(root, `l${i}x`), `l${i}x`, next);
      await chart(path.join(root, `l${i}y`), `l${i}y`, next);
    }
    const r = await runFerry(['charts', 'images', path.join(root, 'l0x')], { timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('file:// dependencies load more than 1000 charts');
  });

  it('a dependency that is there but does not load is named with its problem, not as missing (review 4)', async () => {
    const root = path.join(work, 'broken');
    await chart(path.join(root, 'a'), 'a', ['b', 'c']);
    await mkdir(path.join(root, 'b'), { recursive: true });
    await writeFile(path.join(root, 'b', 'Chart.yaml'), 'apiVersion: v2\nname: b\nversion: [1\n');
    const r = await runFerry(['charts', 'images', path.join(root, 'a')], { timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`dependency b from file://../b: the chart at ${path.join(root, 'b')} cannot be loaded: a/charts/b/Chart.yaml: not valid YAML`);
    expect(r.stderr).not.toContain('no chart at');
    await writeFile(path.join(root, 'b', 'Chart.yaml'), 'apiVersion: v2\nname: b\nversion: 1.0.0\n');
    const missing = await runFerry(['charts', 'images', path.join(root, 'a')], { timeoutMs: 60_000 });
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain(`dependency c from file://../c: no chart at ${path.join(root, 'c')}`);
  });

  it('a diamond (a → b, c; b, c → d) still loads', async () => {
    const root = path.join(work, 'diamond');
    await chart(path.join(root, 'a'), 'a', ['b', 'c']);
    await chart(path.join(root, 'b'), 'b', ['d']);
    await chart(path.join(root, 'c'), 'c', ['d']);
    await chart(path.join(root, 'd'), 'd', []);
    const r = await runFerry(['charts', 'images', path.join(root, 'a')], { timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
