import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { lockCheck, lockCommand } from '../../src/commands/lock.js';
import { silentProgress } from '../../src/ui/progress.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * Hostile inputs, round 39: what is checked is what is used, `ferry lock`. The manifest (and the
 * files it names) is read and hashed for its digest, then resolved: a manifest changed while the
 * resolution ran got a lock that carries the digest of what was read first and content resolved
 * from it, written beside a manifest that says something else. The window is made deterministic
 * by wrapping the resolution (vi.mock of lockManifest): the wrapper edits the manifest.
 */
const hook = vi.hoisted(() => ({ afterResolve: undefined as undefined | (() => Promise<void>) }));
vi.mock('../../src/kinds/pipeline.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/kinds/pipeline.js')>();
  return {
    ...real,
    lockManifest: async (...args: Parameters<typeof real.lockManifest>) => {
      const lock = await real.lockManifest(...args);
      const after = hook.afterResolve;
      hook.afterResolve = undefined;
      await after?.();
      return lock;
    },
  };
});

let work: string;
let files: StaticServer;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const one = randomBytes(1000);
const two = randomBytes(2000);
const manifest = (names: Array<[string, Buffer]>) =>
  ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: app }', 'files:', ...names.flatMap(([n, b]) => [`  - name: ${n}`, `    url: ${files.url}/${n}.bin`, `    sha256: ${sha(b)}`]), ''].join('\n');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile39-lock-'));
  await writeFile(path.join(work, 'one.bin'), one);
  await writeFile(path.join(work, 'two.bin'), two);
  files = await startStaticServer(work);
});
afterAll(async () => {
  await files?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const lock = (file: string) => lockCommand(file, { progress: silentProgress, cwd: work, cacheDir: path.join(work, 'cache') });

describe('lock: the manifest changed while it was resolved', () => {
  it('refused, naming the manifest; no lock written (the old code wrote a lock of the manifest read first)', { timeout: 60_000 }, async () => {
    const file = path.join(work, 'a.yaml');
    await writeFile(file, manifest([['one', one]]));
    hook.afterResolve = () => writeFile(file, manifest([['one', one], ['two', two]]));
    const err = await lock(file).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string; hint?: string },
    );
    expect(hook.afterResolve, 'the resolution ran and the manifest was edited').toBeUndefined();
    expect(err, 'a lock was written for a manifest no longer there').toBeDefined();
    expect(err!.code).toBe('CONFLICT');
    expect(err!.message).toContain(`${file}: the manifest (or a file it names`);
    expect(err!.hint).toMatch(/ferry lock. again/);
    expect(await stat(path.join(work, 'app.lock.json')).then(() => true, () => false)).toBe(false);
  });

  it('clean: the lock is written and is up to date for the manifest', { timeout: 60_000 }, async () => {
    const file = path.join(work, 'b.yaml');
    await writeFile(file, manifest([['one', one], ['two', two]]));
    const r = await lock(file);
    expect(r.changed).toBe(true);
    expect(JSON.parse(await readFile(r.lockFile, 'utf8')).files).toHaveLength(2);
    expect((await lockCheck(file, { cwd: work })).upToDate).toBe(true);
  });
});
