import { createHash } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { pullBundle } from '../../src/commands/bundle-pull.js';
import { pushBundle } from '../../src/commands/bundle-push.js';
import type { FerryError } from '../../src/errors.js';
import { silentProgress } from '../../src/ui/progress.js';
import { clearFsHooks, fired, firstIncludes, fsHook } from '../support/fs-hooks.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { joinSplit, useSwappedSplit } from '../support/swapped-split.js';

/**
 * Hostile inputs, round 42: a test for round 41's fix of `ferry bundle pull`'s output. The pull
 * wrote its temp file by path (opened with 'w': a link planted at the temp name was followed and
 * the file it led to overwritten with the bundle) and renamed it by path after hashing it (a file
 * renamed over the temp name in between was put under the output name as the pulled bundle). Now
 * it writes through writeHeldTemp: the temp file is made new (O_EXCL, no link followed) in the
 * held directory, and what is renamed into place must be the file written. The windows are made
 * deterministic with hooks on the open and rename calls (vi.mock of node:fs/promises, test/support/fs-hooks.ts).
 */
vi.mock('node:fs/promises', async (importOriginal) => (await import('../support/fs-hooks.js')).hookedFsPromises(await importOriginal()));

let registry: RunningRegistry;
let ref: string;
let pushedDigest: string;
const setup = useSwappedSplit('ferry-hostile42-pull');
afterEach(clearFsHooks);
const net = () => ({ plainHttpHosts: [registry.host], progress: silentProgress });
const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  registry = await startRegistry({ mode: 'http' });
  const bundle = await joinSplit(setup.split.good, path.join(setup.work, 'app.ferry.tar'));
  ref = `oci://${registry.host}/hostile42/bundle:1`;
  pushedDigest = (await pushBundle(bundle, ref, net())).tarDigest;
}, 300_000);
afterAll(async () => {
  await registry?.stop();
});

let n = 0;
async function outDir(): Promise<string> {
  const d = path.join(setup.work, `pull-${++n}`);
  await mkdir(d);
  return d;
}

describe('bundle pull: what lands under the output name is the file written and hashed', () => {
  it('a file renamed over the temp name just before it is renamed into place: refused, naming the output; nothing under it', { timeout: 60_000 }, async () => {
    const d = await outDir();
    const output = path.join(d, 'pulled.ferry.tar');
    const window = fsHook({
      call: 'rename',
      match: (p) => p[0].includes('.ferry-') && path.basename(p[1] ?? '') === 'pulled.ferry.tar',
      run: (tmp) => {
        const other = path.join(d, 'other');
        writeFileSync(other, 'not the bundle');
        renameSync(other, tmp);
      },
    });
    const err = await pullBundle(ref, { ...net(), output }).then(
      () => undefined,
      (e: unknown) => e as FerryError,
    );
    expect(fired(window), 'the window was taken').toBe(true);
    expect(await readFile(output).then((b) => b.toString(), () => undefined), 'the other file was put under the output name as the pulled bundle').toBeUndefined();
    expect(err?.code).toBe('CONFLICT');
    expect(err!.message).toContain(output);
    expect((await readdir(d)).filter((f) => f.includes('.ferry-')), 'no temp file is left').toEqual([]);
  });

  it('a link to another file planted at the temp name before it is opened: that file is not written; refused, nothing under the output name', { timeout: 60_000 }, async () => {
    const d = await outDir();
    const output = path.join(d, 'pulled.ferry.tar');
    const victim = path.join(setup.work, `victim-${n}`);
    await writeFile(victim, 'keep me\n');
    const window = fsHook({ call: 'open', match: firstIncludes('.ferry-'), run: (tmp) => symlink(victim, tmp) });
    const err = await pullBundle(ref, { ...net(), output }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(fired(window), 'the window was taken').toBe(true);
    expect(await readFile(victim, 'utf8'), 'the pull wrote through a link planted at its temp name').toBe('keep me\n');
    // The temp file is created new (O_EXCL): a name already taken refuses the pull, nothing under the output name.
    expect(err, 'pulled through the planted name').toBeDefined();
    // Said as the output's conflict, not a raw EEXIST on a /proc/self/fd path.
    expect((err as FerryError).code).toBe('CONFLICT');
    expect(err!.message).toContain(output);
    expect(err!.message).not.toContain('/proc/self/fd');
    expect(await readdir(d)).toEqual([]);
  });

  it('clean: the pulled tar is the pushed one, and its mode is what a plain write gives', { timeout: 60_000 }, async () => {
    const d = await outDir();
    const output = path.join(d, 'pulled.ferry.tar');
    const r = await pullBundle(ref, { ...net(), output });
    expect(r.sha256).toBe(pushedDigest);
    expect(sha(await readFile(output))).toBe(pushedDigest);
    expect((await stat(output)).mode & 0o777).toBe(0o666 & ~process.umask());
    expect(await readdir(d)).toEqual(['pulled.ferry.tar']);
  });
});
