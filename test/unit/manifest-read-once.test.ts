import { appendFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createBundle } from '../../src/commands/bundle-create.js';
import { silentProgress } from '../../src/ui/progress.js';
import { BundleReader } from '../../src/store/bundle-reader.js';

/**
 * What is checked is what is used: `bundle create` carries the manifest text it validated at the
 * start, not the file read again by path when it packs (which may be hours later, after a 200 GB
 * fetch): a manifest edited meanwhile must not go into a bundle built from the earlier version.
 * The window is made deterministic by wrapping loadManifest (vi.mock): the file is edited right
 * after it was read.
 */
const hook = vi.hoisted(() => ({ after: undefined as undefined | ((file: string) => void) }));
vi.mock('../../src/kinds/schema.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/kinds/schema.js')>();
  return {
    ...real,
    loadManifest: async (file: string) => {
      const loaded = await real.loadManifest(file);
      hook.after?.(file);
      hook.after = undefined;
      return loaded;
    },
  };
});

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-manifest-read-once-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('bundle create carries the manifest it validated', () => {
  it('a manifest edited after it was read: the bundle holds the text read, not the edit', { timeout: 60_000 }, async () => {
    const manifest = path.join(work, 'manifest.yaml');
    const text = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: once }\nimages: []\n';
    await writeFile(manifest, text);
    // Locked first: the create below uses that lock and carries the manifest it loaded.
    await createBundle(manifest, { output: path.join(work, 'first.ferry.tar'), cwd: work, cacheDir: path.join(work, 'cache'), progress: silentProgress });
    hook.after = (file) => appendFileSync(file, 'endpoints: [{ name: late, url: "https://edited.example.com" }]\n');
    const output = path.join(work, 'once.ferry.tar');
    await createBundle(manifest, { output, cwd: work, cacheDir: path.join(work, 'cache'), progress: silentProgress });
    expect(hook.after, 'edited after it was read').toBeUndefined();
    expect(await readFile(manifest, 'utf8')).toContain('edited.example.com');
    const reader = await BundleReader.open(output);
    try {
      const carried = (await reader.readFile('ferry/manifest.yaml')).toString('utf8');
      expect(carried).toBe(text);
    } finally {
      await reader.close();
    }
  });

  it('a manifest edited while bundle create locks it: refused, no lock and no bundle written', { timeout: 60_000 }, async () => {
    const dir = path.join(work, 'relock');
    await mkdir(dir, { recursive: true });
    const manifest = path.join(dir, 'manifest.yaml');
    await writeFile(manifest, 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: relock }\nimages: []\n');
    hook.after = (file) => appendFileSync(file, 'endpoints: [{ name: late, url: "https://edited.example.com" }]\n');
    const output = path.join(dir, 'relock.ferry.tar');
    await expect(createBundle(manifest, { output, cwd: dir, cacheDir: path.join(work, 'cache'), progress: silentProgress })).rejects.toThrow(/changed while ferry was locking it/);
    expect((await readdir(dir)).sort()).toEqual(['manifest.yaml']);
  });
});
