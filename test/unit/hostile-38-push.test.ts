import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pullBundle } from '../../src/commands/bundle-pull.js';
import { pushBundle } from '../../src/commands/bundle-push.js';
import { silentProgress } from '../../src/ui/progress.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { copySplit, joinSplit, renameOver, useSwappedSplit } from '../support/swapped-split.js';

/**
 * Hostile inputs, round 38: what is checked is what is used, `ferry bundle push`.
 *
 * push opened the bundle, then read it again by path twice: the tar headers it checks (so `bundle
 * pull` can give back the same bytes) and the whole tar's sha256 it records for pull to prove
 * that. A file renamed over the bundle after it was opened had its headers and hash recorded
 * beside the other bundle's blobs; a split bundle had only its first part read there. Now both
 * read the bundle opened (a split one's parts as one tar). The window is made deterministic by
 * wrapping readDifferential (vi.mock), which push calls after opening the bundle.
 */
const hook = vi.hoisted(() => ({ afterOpen: undefined as undefined | (() => Promise<void>) }));
vi.mock('../../src/store/differential.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/store/differential.js')>();
  return {
    ...real,
    readDifferential: async (...args: Parameters<typeof real.readDifferential>) => {
      const after = hook.afterOpen;
      hook.afterOpen = undefined;
      await after?.();
      return real.readDifferential(...args);
    },
  };
});

let registry: RunningRegistry;

const setup = useSwappedSplit('ferry-hostile38-push');

beforeAll(async () => {
  registry = await startRegistry({ mode: 'http' });
}, 300_000);

afterAll(async () => {
  await registry?.stop();
});

const sha = async (file: string) => 'sha256:' + createHash('sha256').update(await readFile(file)).digest('hex');
const net = () => ({ plainHttpHosts: [registry.host], progress: silentProgress });
let n = 0;

/** Push `bundle` to a fresh tag, pull it back; returns the push result and the pulled tar's sha256. */
async function pushAndPull(bundle: string): Promise<{ tarDigest: string; pulled: string }> {
  const ref = `oci://${registry.host}/hostile38/bundle:t${++n}`;
  const pushed = await pushBundle(bundle, ref, net());
  const output = path.join(setup.work, `pulled-${n}.tar`);
  await pullBundle(ref, { ...net(), output });
  return { tarDigest: pushed.tarDigest, pulled: await sha(output) };
}

describe('bundle push reads the bundle it opened', () => {
  it('one tar opened, another bundle renamed over it: the pushed hash and headers are the opened one, pulled back byte for byte', { timeout: 60_000 }, async () => {
    const dir = path.join(setup.work, 'one');
    await mkdir(dir);
    const bundle = await joinSplit(setup.split.good, path.join(dir, 'app.ferry.tar'));
    const want = await sha(bundle);
    const other = await joinSplit(setup.split.other, path.join(dir, 'other.tar'));
    hook.afterOpen = () => renameOver(other, bundle);
    const got = await pushAndPull(bundle);
    expect(hook.afterOpen, 'renamed over after push opened the bundle').toBeUndefined();
    expect(got.tarDigest).toBe(want);
    expect(got.pulled).toBe(want);
  });

  it('a split bundle: pushed and pulled back as the tar its parts make (every part read, not the first one alone)', { timeout: 60_000 }, async () => {
    const first = await copySplit(setup.split.good, path.join(setup.work, 'split'));
    const want = await sha(await joinSplit(setup.split.good, path.join(setup.work, 'split-joined.tar')));
    const got = await pushAndPull(first);
    expect(got.tarDigest).toBe(want);
    expect(got.pulled).toBe(want);
  });
});
