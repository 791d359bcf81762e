import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyBundle } from '../../src/store/bundle-verify.js';
import type { OciIndex } from '../../src/oci/media-types.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { packBundle, type PackResult } from '../../src/store/bundle-pack.js';
import { DeferredBlobs, journalOf } from '../../src/store/direct-pack.js';
import { processNamespace } from '../../src/store/temp-files.js';
import { writeOciLayout } from '../support/images.js';

/**
 * Hostile inputs, round 40: what a killed or failed `bundle create` leaves. Its partial output
 * (`<out>.partial` and its journal) is kept for the same command to continue from. A later create
 * of another manifest or lock writing to the same output found a partial of another plan and
 * started over without a word (the user was told neither that it did not resume nor why); and a
 * partial output no run continued (an output path never used again) stayed beside the bundles,
 * as large as its bundle, with nothing that said so. Now the create says both, naming the files.
 */
let dir: string;
let storeDir: string;
let index: OciIndex;
/** The smallest layer: damaged in the store to make a pack fail after the others were written. */
let layer: string;
const REF = 'registry.example.com/team/app:1';

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile40-partial-'));
  storeDir = path.join(dir, 'store');
  const tops = await writeOciLayout(storeDir, [
    {
      name: REF,
      platforms: [{ architecture: 'amd64', layers: [{ files: { 'etc/os-release': 'NAME=test\n' } }, { files: { 'app/big': 'x'.repeat(200_000) } }, { files: { 'app/small': 'y\n' } }] }],
    },
  ]);
  index = { schemaVersion: 2, manifests: [{ ...tops[REF], annotations: { ...tops[REF].annotations, 'io.ferry.kind': 'image' } }] };
  const top = JSON.parse(await readFile(path.join(storeDir, 'blobs/sha256', tops[REF].digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string; size: number }> };
  layer = [...top.layers].sort((a, b) => a.size - b.size)[0].digest;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const metadataOf = (manifestYaml: string) => ({ manifestYaml, lock: '{"lock":true}\n', manifestName: 'app' });
const manifestA = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: app }\n';
/** Another manifest: its bytes move every blob of the bundle (another plan). */
const manifestB = manifestA + '# another revision of the manifest\n'.repeat(20);

const pack = (output: string, manifestYaml: string): Promise<PackResult> =>
  packBundle({ store: new BlobStore(storeDir), index, metadata: metadataOf(manifestYaml), output, direct: { deferred: new DeferredBlobs(), concurrency: 1 } });

/** A create that fails after writing part of `output` (a store blob damaged, same size): leaves `<output>.partial` and its journal. */
async function failedPack(output: string, manifestYaml: string): Promise<void> {
  const file = path.join(storeDir, 'blobs/sha256', layer.slice(7));
  const good = await readFile(file);
  const bad = Buffer.from(good);
  bad[bad.length - 1] ^= 1;
  await writeFile(file, bad);
  try {
    await expect(pack(output, manifestYaml)).rejects.toThrow(/damaged in the store/);
  } finally {
    await writeFile(file, good);
  }
  expect((await stat(`${output}.partial`)).isFile()).toBe(true);
  expect((await readFile(journalOf(output), 'utf8')).split('\n').filter((l) => l.startsWith('sha256:')).length, 'blobs were written before the failure').toBeGreaterThan(0);
}

/** The bundle reads back whole: every blob's bytes match its digest (the store's verify: the test's lock is no ferry lock). */
async function readsBack(file: string): Promise<void> {
  const report = await verifyBundle(file);
  expect(report.problems.map((p) => p.message)).toEqual([]);
  expect(report.ok).toBe(true);
}

describe('bundle create over a partial output an earlier create left', () => {
  it('of another manifest: written anew, and the create says so, naming the partial output', { timeout: 60_000 }, async () => {
    const out = path.join(dir, 'other-plan', 'app.ferry.tar');
    await mkdir(path.dirname(out));
    await failedPack(out, manifestA);
    const r = await pack(out, manifestB);
    expect(r.reusedBytes ?? 0).toBe(0);
    expect(r.notes, 'the partial of another plan was replaced without a word').toBeDefined();
    expect(r.notes![0]).toBe(
      `${out}.partial: the partial output of an earlier create that did not finish held nothing this bundle could reuse (it was of another manifest, lock or split size), so app.ferry.tar was written anew in its place`,
    );
    await readsBack(out);
    await expect(stat(`${out}.partial`)).rejects.toThrow();
    await expect(stat(journalOf(out))).rejects.toThrow();
  });

  it('of the same manifest: continued from it, with nothing to say', { timeout: 60_000 }, async () => {
    const out = path.join(dir, 'same-plan', 'app.ferry.tar');
    await mkdir(path.dirname(out));
    await failedPack(out, manifestA);
    const r = await pack(out, manifestA);
    expect(r.reusedBytes).toBeGreaterThan(0);
    expect(r.notes).toBeUndefined();
    await readsBack(out);
  });
});

describe('partial outputs of other creates beside the output', () => {
  it('named, with what to do, when no live process writes them; one being written, and files that are not ferry\'s, are not', { timeout: 60_000 }, async () => {
    const out = path.join(dir, 'leftovers', 'app-2.ferry.tar');
    const here = path.dirname(out);
    await mkdir(here);
    // A create of another output (app-1) that did not finish, never run again.
    const old = path.join(here, 'app-1.ferry.tar');
    await failedPack(old, manifestA);
    // Killed: its lock names a process that is gone.
    const dead = spawnSync('true').pid!;
    const lockText = (pid: number) => `${pid}${processNamespace ? ` n${processNamespace}` : ''}`;
    await writeFile(`${old}.lock`, lockText(dead));
    // A split create killed after its second part.
    await writeFile(path.join(here, 'parts.ferry.tar.002.partial'), Buffer.alloc(4096));
    // Being written now: its lock is held by a live process (this test's parent).
    await writeFile(path.join(here, 'busy.ferry.tar.partial'), Buffer.alloc(4096));
    await writeFile(path.join(here, 'busy.ferry.tar.partial.json'), 'plan 0\n');
    await writeFile(path.join(here, 'busy.ferry.tar.lock'), lockText(process.ppid));
    // Not ferry's (no journal beside it): not named.
    await writeFile(path.join(here, 'notes.partial'), 'mine\n');

    const r = await pack(out, manifestB);
    await readsBack(out);
    const partialSize = (await stat(`${old}.partial`)).size;
    expect(r.notes, 'leftover partial outputs stay without a word').toBeDefined();
    expect(r.notes).toHaveLength(2);
    expect(r.notes![0]).toMatch(
      new RegExp(
        `^${esc(`${old}.partial: left by a create of app-1.ferry.tar that did not finish (`)}[^)]*, last written [0-9T:.Z-]+\\); no run continues it: run that create again with -o ${esc(old)} to continue it, or remove app-1.ferry.tar.partial and app-1.ferry.tar.partial.json$`,
      ),
    );
    expect(partialSize).toBeGreaterThan(0);
    expect(r.notes![1]).toContain(`${path.join(here, 'parts.ferry.tar.002.partial')}: left by a create of parts.ferry.tar that did not finish`);
    expect(r.notes![1]).toMatch(/or remove parts\.ferry\.tar\.002\.partial$/);
    expect(r.notes!.join('\n')).not.toContain('busy.ferry.tar');
    expect(r.notes!.join('\n')).not.toContain('notes.partial');
    // Named, not removed: they are the user's to continue or remove.
    expect((await stat(`${old}.partial`)).isFile()).toBe(true);
  });
});

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
