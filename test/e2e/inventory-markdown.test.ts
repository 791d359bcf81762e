import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';

/**
 * `inventory --format md` goes into an SSP appendix: rendered by GitHub, pandoc, a wiki. A crafted
 * manifest's purpose or notes must stay text there: no link a reader clicks (`javascript:`), no
 * image the page fetches from outside when opened. Checked with cmark, CommonMark's reference
 * implementation (Debian's `cmark`).
 */

const run = promisify(execFile);
let work: string;

const manifest = `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: md-links }
zones:
  - { name: app, title: App, cidrs: [10.0.1.0/24], self: true }
  - { name: corp, title: "Corp [see](javascript:alert(2))", cidrs: [10.9.0.0/16] }
connections:
  - name: admin
    component: "ops ![beacon](https://tracker.example/p.png)"
    from: corp
    to: app
    direction: inbound
    scope: cluster
    protocol: SSH
    ports: [22]
    purpose: "operator access [click here](javascript:alert(1))"
    notes: "keys only ![x](<https://tracker.example/q.png>)"
`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-md-links-'));
  await writeFile(path.join(work, 'm.yaml'), manifest);
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('inventory --format md rendered by a CommonMark renderer', () => {
  it('a crafted link or image in a manifest field renders as text, not a link or an image', async () => {
    const r = await runFerry(['inventory', path.join(work, 'm.yaml'), '--format', 'md']);
    expect(r.code, r.stderr).toBe(0);
    await writeFile(path.join(work, 'inventory.md'), r.stdout);
    const { stdout: html } = await run('cmark', ['--unsafe', path.join(work, 'inventory.md')]);
    expect(html).not.toMatch(/<img\b/);
    expect(html).not.toMatch(/<a\b/);
    // The words are still there for the reader.
    expect(html).toContain('click here');
    expect(html).toContain('tracker.example/p.png');
  });
});
