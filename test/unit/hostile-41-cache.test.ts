import { createHash } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BlobStore, SMALL_BLOB_BYTES } from '../../src/store/blob-store.js';
import { confineTo } from '../../src/store/confined-dirs.js';
import { replaceFilesAtomic } from '../../src/store/temp-files.js';
import { verifiedWrite } from '../../src/store/verified-write.js';
import { clearFsHooks, fired, firstEndsWith, firstIs, fsHook } from '../support/fs-hooks.js';

/**
 * Hostile inputs, round 41: the store's remaining writes by path after a check. A resumable
 * download into a shared cache appended to whatever its `.partial` name held (a link planted there
 * led the append to another file) and renamed it by path after hashing it (a file renamed over it
 * in between was placed as the verified blob); `mkdir -p` of a target subdirectory made the
 * directories by path after the check (a link planted in between made them outside); the
 * all-or-nothing rewrite compared and renamed by path (a directory swapped for a link after the
 * checks had another file replaced). The windows are made deterministic by wrapping the
 * file-system calls the writes make in them (vi.mock of node:fs/promises).
 */
vi.mock('node:fs/promises', async (importOriginal) => (await import('../support/fs-hooks.js')).hookedFsPromises(await importOriginal()));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile41-'));
});
afterEach(async () => {
  clearFsHooks();
  await rm(dir, { recursive: true, force: true });
});

const exists = (p: string) => lstat(p).then(() => true, () => false);
const policy = { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 5, maxRetryAfterMs: 1000 };
// Over SMALL_BLOB_BYTES: the resumable path (`.partial`, renamed into the cache).
const content = Buffer.alloc(SMALL_BLOB_BYTES + 4096, 0x61);
const desc = { digest: 'sha256:' + createHash('sha256').update(content).digest('hex'), size: content.length };
const evil = Buffer.alloc(content.length, 0x45);

async function cache(): Promise<BlobStore> {
  const s = new BlobStore(path.join(dir, 'cache'));
  await s.init();
  return s;
}

describe('the download cache: the .partial file is held to the descriptor hashed', () => {
  it('another user renames a file over the .partial between its hash and the rename: refused, naming it; nothing cached', { timeout: 30_000 }, async () => {
    const s = await cache();
    const window = fsHook({
      call: 'rename',
      match: firstEndsWith('.partial'),
      run: (from) => {
        const other = path.join(dir, 'other.bin');
        writeFileSync(other, evil);
        renameSync(other, from);
      },
    });
    const err = await s.ingest(desc, async (o) => Readable.from([content.subarray(o)]), { label: 'blob', retry: policy }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string; hint?: string },
    );
    expect(fired(window), 'the window was taken').toBe(true);
    const final = s.blobPath(desc.digest);
    expect((await readFile(final).catch(() => undefined))?.equals(evil), 'the other user\'s file was cached as the verified blob').not.toBe(true);
    expect(err?.code).toBe('CONFLICT');
    expect(err!.message).toContain(final);
    expect(err!.message).toMatch(/was replaced or written into/);
    expect(err!.hint).toMatch(/run again/);
    expect(await exists(final)).toBe(false);
  });

  it('a link planted under the .partial name: not followed (the file it points to is untouched); the download starts over and completes', { timeout: 30_000 }, async () => {
    const s = await cache();
    const victim = path.join(dir, 'victim.txt');
    await writeFile(victim, 'precious\n');
    const partial = `${s.blobPath(desc.digest)}.partial`;
    await mkdir(path.dirname(partial), { recursive: true });
    await symlink(victim, partial);
    const offsets: number[] = [];
    await s.ingest(desc, async (o) => (offsets.push(o), Readable.from([content.subarray(o)])), { label: 'blob', retry: policy });
    expect(await readFile(victim, 'utf8'), 'the download appended to the file the link points to').toBe('precious\n');
    expect(offsets).toEqual([0]);
    expect((await s.readBytes(desc.digest)).equals(content)).toBe(true);
    expect((await stat(s.blobPath(desc.digest))).mode & 0o777, "the mode a plain write gives, as before").toBe(0o666 & ~process.umask());
  });

  it('clean: a .partial an interrupted run left is continued from where it stopped, as before', { timeout: 30_000 }, async () => {
    const s = await cache();
    await mkdir(path.dirname(s.blobPath(desc.digest)), { recursive: true });
    await writeFile(`${s.blobPath(desc.digest)}.partial`, content.subarray(0, 4096));
    const offsets: number[] = [];
    await s.ingest(desc, async (o) => (offsets.push(o), Readable.from([content.subarray(o)])), { label: 'blob', retry: policy });
    expect(offsets).toEqual([4096]);
    expect((await s.readBytes(desc.digest)).equals(content)).toBe(true);
  });
});

describe('mkdir -p under a target directory: a link planted after the check', () => {
  it('a level of the path swapped for a link to outside before the directories below it are made: nothing made outside; the file lands in the directory that was checked', { timeout: 30_000 }, async () => {
    const root = path.join(dir, 'files');
    const outside = path.join(dir, 'outside');
    await mkdir(path.join(root, 'a'), { recursive: true });
    await mkdir(outside);
    const dest = path.join(root, 'a', 'b', 'c', 'file.bin');
    // Another user moves `a` aside (still inside the target) and plants a link to outside in its place.
    const window = fsHook({
      call: 'mkdir',
      run: async () => {
        renameSync(path.join(root, 'a'), path.join(root, 'a.moved'));
        await symlink(outside, path.join(root, 'a'));
      },
    });
    const release = confineTo([root]);
    try {
      await verifiedWrite(dest, Readable.from([content]), { digest: desc.digest, size: content.length }, { label: 'file' });
    } finally {
      release();
    }
    expect(fired(window), 'the window was taken').toBe(true);
    expect(await readdir(outside), 'directories were made (and the file written) through the link, outside the target').toEqual([]);
    expect((await readFile(path.join(root, 'a.moved', 'b', 'c', 'file.bin'))).equals(content)).toBe(true);
  });

  it('the link planted before the write: refused, naming it; nothing made outside', { timeout: 30_000 }, async () => {
    const root = path.join(dir, 'files');
    const outside = path.join(dir, 'outside');
    await mkdir(root);
    await mkdir(outside);
    await symlink(outside, path.join(root, 'a'));
    const release = confineTo([root]);
    let err: (Error & { code?: string; hint?: string }) | undefined;
    try {
      err = await verifiedWrite(path.join(root, 'a', 'b', 'file.bin'), Readable.from([content]), { digest: desc.digest, size: content.length }, { label: 'file' }).then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string; hint?: string },
      );
    } finally {
      release();
    }
    expect(await readdir(outside)).toEqual([]);
    expect(err?.code).toBe('CONFLICT');
    expect(err!.message).toContain(`${path.join(root, 'a')}: a symbolic link (to ${JSON.stringify(outside)}) inside the target directory ${root} leads outside it`);
    expect(err!.hint).toMatch(/Remove the link/);
  });

  it('clean: the missing levels are made and the file written', async () => {
    const root = path.join(dir, 'files');
    const dest = path.join(root, 'a', 'b', 'c', 'file.bin');
    const release = confineTo([root]);
    try {
      expect(await verifiedWrite(dest, Readable.from([content]), { digest: desc.digest, size: content.length }, { label: 'file' })).toBe(content.length);
    } finally {
      release();
    }
    expect((await readFile(dest)).equals(content)).toBe(true);
  });
});

describe('replaceFilesAtomic: compared and renamed in the directory whose files were checked', () => {
  it('the directory swapped for a link to another holding a file of the same content after the checks: refused; neither file replaced', { timeout: 30_000 }, async () => {
    const conf = path.join(dir, 'conf');
    const moved = path.join(dir, 'conf.moved');
    const other = path.join(dir, 'other');
    await mkdir(conf);
    await mkdir(other);
    const before = 'registry: docker.io\n';
    await writeFile(path.join(conf, 'app.yaml'), before);
    await writeFile(path.join(other, 'app.yaml'), before);
    // The sweep of stale temp files reads the directory after the checks, before the temp file is made.
    const window = fsHook({
      call: 'readdir',
      when: 'after',
      match: firstIs(conf),
      run: async () => {
        renameSync(conf, moved);
        await symlink(other, conf);
      },
    });
    const err = await replaceFilesAtomic([{ file: path.join(conf, 'app.yaml'), expected: before, data: 'registry: mirror.local\n' }]).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string; details?: string[] },
    );
    expect(fired(window), 'the window was taken').toBe(true);
    expect(await readFile(path.join(other, 'app.yaml'), 'utf8'), 'a file that was never checked was replaced').toBe(before);
    expect(await readFile(path.join(moved, 'app.yaml'), 'utf8')).toBe(before);
    expect(err?.code).toBe('CONFLICT');
    expect(err!.message).toMatch(/cannot be rewritten in place; nothing was written/);
    expect(err!.details).toEqual([`${path.join(conf, 'app.yaml')}: replaced while ferry was rewriting it`]);
    expect((await readdir(other)).filter((n) => n.includes('.ferry-'))).toEqual([]);
  });

  it('clean: the file keeps its mode; nothing else is left', async () => {
    const conf = path.join(dir, 'conf');
    await mkdir(conf);
    const file = path.join(conf, 'app.yaml');
    await writeFile(file, 'a: 1\n', { mode: 0o600 });
    await replaceFilesAtomic([
      { file, expected: 'a: 1\n', data: 'a: 2\n' },
      { file: path.join(conf, 'new', 'b.yaml'), expected: '', data: 'b: 1\n' },
    ]);
    expect(await readFile(file, 'utf8')).toBe('a: 2\n');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(path.join(conf, 'new', 'b.yaml'), 'utf8')).toBe('b: 1\n');
    expect((await readdir(conf)).sort()).toEqual(['app.yaml', 'new']);
  });
});
