import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { imagesLock } from '../support/offline-lock.js';

/**
 * `ferry rewrite` of crafted site files, with the built CLI: a reference the mirror does not
 * cover is named in the report and the refusal cut short (a line of megabytes is not printed
 * whole), its control bytes escaped; the file is left as it was.
 */

let work: string;
const TARGET = [
  'apiVersion: ferry/v1alpha1',
  'kind: MirrorTarget',
  'metadata: { name: site }',
  'registry: { url: "https://registry.site.internal", prefix: ferry, layout: nested }',
  'apt: { dir: ./apt, baseUrl: "http://mirror.site.internal/apt" }',
  '',
].join('\n');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile-25-rewrite-'));
  await writeFile(path.join(work, 'target.yaml'), TARGET);
  await writeFile(path.join(work, 'lock.json'), imagesLock('h25', ['docker.io/library/nginx:1.25']));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('a sources line of megabytes', () => {
  const uri = `http://deb.debian.org/\u001b]0;owned\u0007${'x'.repeat(5 * 1024 * 1024)}`;
  const text = `deb ${uri} bookworm main\n`;

  it('refused: the unmapped repository is named cut short, escaped; the file is unchanged', { timeout: 60_000 }, async () => {
    const file = path.join(work, 'long.list');
    await writeFile(file, text);
    const r = await runFerry(['rewrite', 'apt-sources', file, '-t', 'target.yaml', '--lock', 'lock.json'], { cwd: work });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${file}:1  http://deb.debian.org/\\x1b]0;owned\\x07xxx`);
    expect(r.stderr).toContain(`(${uri.length} characters)`);
    expect(r.stderr).not.toContain('\u001b');
    expect(r.stderr.length).toBeLessThan(4096);
    expect(await readFile(file, 'utf8')).toBe(text);
  });

  it('--allow-unmapped: the report names it cut short; --json keeps it whole', { timeout: 60_000 }, async () => {
    const file = path.join(work, 'long2.list');
    await writeFile(file, text);
    const r = await runFerry(['rewrite', 'apt-sources', file, '-t', 'target.yaml', '--lock', 'lock.json', '--allow-unmapped'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`long2.list:1  http://deb.debian.org/\\x1b]0;owned\\x07xxx`);
    expect(r.stdout).toContain(`(${uri.length} characters)  not mirrored`);
    expect(r.stdout).not.toContain('\u001b');
    expect(r.stderr.length + r.stdout.length).toBeLessThan(4096);
    const j = await runFerry(['rewrite', 'apt-sources', file, '-t', 'target.yaml', '--lock', 'lock.json', '--allow-unmapped', '--json'], { cwd: work });
    expect(j.code, j.stderr).toBe(0);
    expect((JSON.parse(j.stdout) as { unmapped: Array<{ ref: string }> }).unmapped.map((u) => u.ref)).toEqual([uri]);
    expect(await readFile(file, 'utf8')).toBe(text);
  });
});
