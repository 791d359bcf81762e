import { lstat, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runFerry } from '../support/cli.js';

/**
 * DESIGN.md, Conventions: "write to a temporary name and rename into place". `ferry report -o`
 * wrote the page to a fixed `<output>.partial` with a plain write, so a link planted at that
 * name (another user of a shared directory) had the page written through it into the file it
 * led to, and the link itself renamed over the output. Now the page goes through the same fresh
 * temporary name every other output uses.
 */
let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-design3-report-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('report -o writes its page through a fresh temporary name', () => {
  it('a link planted at <output>.partial is not written through, and the output is a regular file', { timeout: 60_000 }, async () => {
    const out = path.join(work, 'report.html');
    const victim = path.join(work, 'victim.txt');
    await writeFile(victim, 'not yours\n');
    await symlink(victim, `${out}.partial`);
    const r = await runFerry(['report', path.join(ROOT, 'manifests', 'spinifex.yaml'), '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(victim, 'utf8')).toBe('not yours\n');
    expect((await lstat(out)).isFile()).toBe(true);
    expect(await readFile(out, 'utf8')).toMatch(/^<!doctype html>/i);
    // Nothing of the write is left beside it but what was there before.
    expect((await readdir(work)).sort()).toEqual(['report.html', 'report.html.partial', 'victim.txt']);
  });
});
