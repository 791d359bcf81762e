import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest, validateManifest } from '../../../src/kinds/schema.js';
import { expandEntry } from '../../../src/manifest/vars.js';

describe('vars', () => {
  it('substitutes scalars and multiplies entries per list value', () => {
    const out = expandEntry({ url: 'http://x/<release>/<version>', suites: ['<release>'] }, { release: ['jammy', 'noble'], version: '8.0' });
    expect(out).toEqual([
      { url: 'http://x/jammy/8.0', suites: ['jammy'] },
      { url: 'http://x/noble/8.0', suites: ['noble'] },
    ]);
  });

  it('reports placeholders that have no value, with their path', () => {
    expect(() =>
      validateManifest({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'a' }, images: [{ ref: 'x/<nope>:1' }] }, 'm.yaml'),
    ).toThrow(expect.objectContaining({ details: expect.arrayContaining(['images[0]: placeholder <nope> has no value in vars']) }));
  });
});

describe('loadManifest', () => {
  it('gives the same digest whatever the YAML formatting, and a different one when content changes', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-unit-'));
    const a = path.join(dir, 'a.yaml');
    const b = path.join(dir, 'b.yaml');
    await writeFile(a, 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: {name: app, description: one}\nimages:\n  - ref: alpine:3.20 # comment\n');
    await writeFile(b, 'kind: Manifest\napiVersion: "ferry/v1alpha1"\nmetadata:\n  name: app\n  description: two\nimages: [{ref: "alpine:3.20"}]\n');
    expect((await loadManifest(a)).digest).toBe((await loadManifest(b)).digest);
    await writeFile(b, 'kind: Manifest\napiVersion: ferry/v1alpha1\nmetadata: {name: app}\nimages: [{ref: "alpine:3.21"}]\n');
    expect((await loadManifest(a)).digest).not.toBe((await loadManifest(b)).digest);
  });

  it('lists every problem at once', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-unit-'));
    const f = path.join(dir, 'bad.yaml');
    await writeFile(f, 'apiVersion: ferry/v2\nkind: Manifest\nmetadata: {name: app}\nimages:\n  - ref: "UPPER"\n  - {}\n');
    await expect(loadManifest(f)).rejects.toMatchObject({
      code: 'VALIDATION',
      details: expect.arrayContaining([
        expect.stringMatching(/^apiVersion: /),
        'images[0].ref: not a valid image reference: repository name must be lowercase',
        expect.stringMatching(/^images\[1\]\.ref: /),
      ]),
    });
  });

  it('goes stale when a values file a chart deploys with changes, so the lock is re-resolved', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-unit-'));
    const m = path.join(dir, 'm.yaml');
    await writeFile(m, 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: {name: app}\ncharts:\n  - {name: c, repo: "https://charts.example.com", version: "1.0.0", values: [v.yaml]}\n');
    await writeFile(path.join(dir, 'v.yaml'), 'image: {tag: "1"}\n');
    const before = (await loadManifest(m)).digest;
    expect((await loadManifest(m)).digest).toBe(before);
    await writeFile(path.join(dir, 'v.yaml'), 'image: {tag: "2"}\n');
    expect((await loadManifest(m)).digest).not.toBe(before);
  });
});
