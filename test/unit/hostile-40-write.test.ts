import { renameSync, writeFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { confineTo } from '../../src/store/confined-dirs.js';
import { digestOf } from '../../src/store/layout.js';
import { writeFileAtomic } from '../../src/store/temp-files.js';
import { verifiedWrite } from '../../src/store/verified-write.js';
import { clearFsHooks, fired, firstIncludes, firstIs, fsHook } from '../support/fs-hooks.js';

/**
 * Hostile inputs, round 40: local races on the one verified write. verifiedWrite streamed into its
 * temp file by path and renamed it by path, and a write into a target directory checked the path
 * for links leading outside, then wrote by path. Another user of a shared directory could rename a
 * file of their own over the temp name (it was placed as the verified file), or plant a link in
 * place of the directory between the check and the write (the write went outside). The windows
 * are made deterministic by wrapping the file-system calls the write makes in them (vi.mock of
 * node:fs/promises): `rename` (just before or just after the temp file is renamed into place) and
 * `readdir` (the sweep of stale temp files, after the path check and before the temp file is made).
 */
vi.mock('node:fs/promises', async (importOriginal) => (await import('../support/fs-hooks.js')).hookedFsPromises(await importOriginal()));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile40-'));
});
afterEach(async () => {
  clearFsHooks();
  await rm(dir, { recursive: true, force: true });
});

const body = Buffer.alloc(64 * 1024, 0x61);
const digest = digestOf(body);
const evil = Buffer.alloc(body.length, 0x45);

const exists = (p: string) => lstat(p).then(() => true, () => false);
const tempNames = async (d: string) => (await readdir(d)).filter((n) => n.includes('.ferry-'));

/** Another local user's file renamed over `file` (same size: nothing but its identity tells). */
function renameOverBy(file: string, bytes: Buffer): void {
  const other = path.join(dir, `other-${Math.random().toString(16).slice(2)}`);
  writeFileSync(other, bytes);
  renameSync(other, file);
}

describe('verifiedWrite: what is renamed into place is the file written and hashed', () => {
  it('a file renamed over the temp name while the bytes stream: refused, naming the place; nothing under the final name', { timeout: 30_000 }, async () => {
    const dest = path.join(dir, 'shared', 'blob.bin');
    await mkdir(path.dirname(dest));
    let swapped = '';
    async function* source() {
      yield body.subarray(0, 1024);
      // The temp file exists once the first bytes are on their way; another user replaces it.
      for (let i = 0; i < 10_000 && (await tempNames(path.dirname(dest))).length === 0; i++) await new Promise((r) => setImmediate(r));
      const [tmp] = await tempNames(path.dirname(dest));
      swapped = path.join(path.dirname(dest), tmp);
      renameOverBy(swapped, evil);
      yield body.subarray(1024);
    }
    const err = await verifiedWrite(dest, Readable.from(source()), { digest, size: body.length }, { label: 'blob' }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string; hint?: string },
    );
    expect(swapped, 'the temp file was replaced').not.toBe('');
    const placed = await readFile(dest).catch(() => undefined);
    expect(placed?.equals(evil), 'the other user\'s file was placed as the verified one').not.toBe(true);
    expect(err?.code).toBe('CONFLICT');
    expect(err!.message).toContain(dest);
    expect(err!.message).toContain(path.basename(swapped));
    expect(err!.message).toMatch(/was replaced or written into before it was renamed into place; it was not placed/);
    expect(err!.hint).toMatch(/run again/);
    expect(await exists(dest)).toBe(false);
    expect(await tempNames(path.dirname(dest)), 'no temp name is left').toEqual([]);
  });

  it('a file renamed over the temp name just before the rename: what the rename placed is removed; refused', { timeout: 30_000 }, async () => {
    const dest = path.join(dir, 'blob.bin');
    const window = fsHook({ call: 'rename', match: firstIncludes('.ferry-'), run: (from) => renameOverBy(from, evil) });
    const err = await verifiedWrite(dest, Readable.from([body]), { digest, size: body.length }, { label: 'blob' }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(fired(window), 'the window was taken').toBe(true);
    expect((await readFile(dest).catch(() => undefined))?.equals(evil), 'the other user\'s file stays under the final name').not.toBe(true);
    expect(err?.code).toBe('CONFLICT');
    expect(err!.message).toMatch(/as it was renamed into place; what that put there was removed/);
    expect(await exists(dest)).toBe(false);
    expect(await tempNames(dir)).toEqual([]);
  });

  it('another writer of the same verified bytes renames over the final name just after: accepted', { timeout: 30_000 }, async () => {
    const dest = path.join(dir, 'blob.bin');
    const window = fsHook({ call: 'rename', when: 'after', match: firstIncludes('.ferry-'), run: (_from, to) => renameOverBy(to, body) });
    expect(await verifiedWrite(dest, Readable.from([body]), { digest, size: body.length }, { label: 'blob' })).toBe(body.length);
    expect(fired(window)).toBe(true);
    expect((await readFile(dest)).equals(body)).toBe(true);
  });

  it('clean: the temp file is owner-only while it is written; the placed file has the mode a plain write gives', { timeout: 30_000 }, async () => {
    const dest = path.join(dir, 'blob.bin');
    let tempMode = -1;
    async function* source() {
      yield body.subarray(0, 10);
      const [tmp] = await tempNames(dir);
      tempMode = (await stat(path.join(dir, tmp))).mode & 0o777;
      yield body.subarray(10);
    }
    expect(await verifiedWrite(dest, Readable.from(source()), { digest, size: body.length }, { label: 'blob' })).toBe(body.length);
    expect(tempMode, 'nobody else may open the temp file to write into it').toBe(0o600);
    expect((await stat(dest)).mode & 0o777).toBe(0o666 & ~process.umask());
    expect((await readFile(dest)).equals(body)).toBe(true);
    expect(await tempNames(dir)).toEqual([]);
  });

  it('writeFileAtomic keeps its mode less the umask, as before', async () => {
    const dest = path.join(dir, 'values.yaml');
    await writeFileAtomic(dest, 'a: 1\n', 0o640);
    expect((await stat(dest)).mode & 0o777).toBe(0o640 & ~process.umask());
    expect(await readFile(dest, 'utf8')).toBe('a: 1\n');
  });
});

describe('a write into a target directory: a link planted between the check and the write', () => {
  it('the directory replaced by a link to outside after it was checked: refused, naming it; nothing written outside', { timeout: 30_000 }, async () => {
    const root = path.join(dir, 'files');
    const sub = path.join(root, 'pool');
    const outside = path.join(dir, 'outside');
    await mkdir(sub, { recursive: true });
    await mkdir(outside);
    const dest = path.join(sub, 'pkg.deb');
    // The sweep of stale temp files reads the directory after the path check, before the temp file is made.
    const window = fsHook({
      call: 'readdir',
      when: 'after',
      match: firstIs(sub),
      run: async () => {
        await rmdir(sub);
        await symlink(outside, sub);
      },
    });
    const release = confineTo([root]);
    let err: (Error & { code?: string; hint?: string }) | undefined;
    try {
      err = await verifiedWrite(dest, Readable.from([body]), { digest, size: body.length }, { label: 'pkg' }).then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string; hint?: string },
      );
    } finally {
      release();
    }
    expect(fired(window), 'the window was taken').toBe(true);
    expect(await readdir(outside), 'a write went through the link, outside the target').toEqual([]);
    expect(err?.code).toBe('CONFLICT');
    expect(err!.message).toContain(`${sub}: a symbolic link (to ${JSON.stringify(outside)}) inside the target directory ${root} leads outside it`);
    expect(err!.hint).toMatch(/Remove the link/);
  });
});
