import { writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { isFerryError } from '../../src/errors.js';
import { rewriteAptSources } from '../../src/rewrite/apt-sources.js';
import { rewriteManifests } from '../../src/rewrite/manifests.js';
import { mirrorConfig } from '../../src/rewrite/mirror-config.js';
import { rewriteValues } from '../../src/rewrite/values.js';
import { fixtureContext, scratch, write } from './rewrite/helpers.js';

/**
 * Hostile inputs, round 39: what is checked is what is used, `rewrite …` and `mirror-config -o`.
 * Every rewrite reads its files, decides the edits, then writes: a file another writer changes in
 * between must not be written over from stale content (its change lost silently). The window is
 * made deterministic by wrapping the step between the read and the write (vi.mock of edits.js:
 * finishRewrite for the rewrites, unifiedDiff for mirror-config): the wrapper changes the file.
 */
const hook = vi.hoisted(() => ({ between: undefined as undefined | (() => Promise<void>), betweenSync: undefined as undefined | (() => void) }));
vi.mock('../../src/rewrite/edits.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/rewrite/edits.js')>();
  const run = async () => {
    const between = hook.between;
    hook.between = undefined;
    await between?.();
  };
  return {
    ...real,
    finishRewrite: async (...args: Parameters<typeof real.finishRewrite>) => {
      await run();
      return real.finishRewrite(...args);
    },
    unifiedDiff: (...args: Parameters<typeof real.unifiedDiff>) => {
      const diff = real.unifiedDiff(...args);
      // mirror-config reads the files, computes the diff, then writes: the change lands in between (synchronously).
      const between = hook.betweenSync;
      hook.betweenSync = undefined;
      between?.();
      return diff;
    },
  };
});

const pod = (img: string) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: a\n      image: ${img}\n`;
const EDITED = '# another writer was here\n';

async function refusedWith(p: Promise<unknown>): Promise<{ message: string; details: string[]; hint?: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isFerryError(err), 'the rewrite wrote over a file changed since it was read').toBe(true);
  return err as { message: string; details: string[]; hint?: string };
}

describe('rewrite: a file changed between its read and its write is refused, the other change kept', () => {
  it('rewrite manifests', async () => {
    const dir = await scratch();
    const f = await write(dir, 'pod.yaml', pod('nginx:1.27'));
    hook.between = () => writeFile(f, pod('nginx:1.27') + EDITED);
    const e = await refusedWith(rewriteManifests([f], await fixtureContext(), {}));
    expect(hook.between).toBeUndefined();
    expect(e.details).toEqual([`${f}: changed since ferry read it`]);
    expect(e.hint).toMatch(/run again/);
    expect(await readFile(f, 'utf8')).toBe(pod('nginx:1.27') + EDITED);
  });

  it('rewrite values --in-place', async () => {
    const dir = await scratch();
    const f = await write(dir, 'values.yaml', 'image:\n  repository: docker.io/library/nginx\n  tag: "1.27"\n');
    hook.between = () => writeFile(f, 'image:\n  repository: docker.io/library/nginx\n  tag: "1.27"\n' + EDITED);
    const e = await refusedWith(rewriteValues([f], await fixtureContext(), { inPlace: true }));
    expect(hook.between).toBeUndefined();
    expect(e.details).toEqual([`${f}: changed since ferry read it`]);
    expect(await readFile(f, 'utf8')).toContain(EDITED);
  });

  it('rewrite apt-sources', async () => {
    const dir = await scratch();
    const f = await write(dir, 'x.list', 'deb http://deb.debian.org/debian bookworm main\n');
    hook.between = () => writeFile(f, 'deb http://deb.debian.org/debian bookworm main\n' + EDITED);
    const e = await refusedWith(rewriteAptSources([f], await fixtureContext(), {}));
    expect(hook.between).toBeUndefined();
    expect(e.details).toEqual([`${f}: changed since ferry read it`]);
    expect(await readFile(f, 'utf8')).toContain(EDITED);
  });
});

describe('mirror-config -o: a file in the output directory changed after ferry read it (for the diff) is refused, not clobbered', () => {
  it('changed between the read and the write: nothing written, the change kept, the file named', async () => {
    const dir = await scratch();
    const out = path.join(dir, 'out');
    // A first run writes the files; a second run (another upstream added) reads them to diff.
    await mirrorConfig('registries-conf', await fixtureContext(), { output: out });
    const conf = path.join(out, 'registries.conf');
    const firstRun = await readFile(conf, 'utf8');
    hook.betweenSync = () => writeFileSync(conf, firstRun + EDITED);
    const e = await refusedWith(mirrorConfig('registries-conf', await fixtureContext(), { output: out, registries: ['extra.example.com'] }));
    expect(hook.betweenSync).toBeUndefined();
    expect(e.message).toMatch(/nothing was written/);
    expect(e.details).toEqual([`${conf}: changed since ferry read it`]);
    expect(await readFile(conf, 'utf8')).toBe(firstRun + EDITED);
  });

  it('clean: a second run (another upstream) replaces the files there and adds the new one', async () => {
    const dir = await scratch();
    const out = path.join(dir, 'out');
    const first = await mirrorConfig('containerd', await fixtureContext(), { output: out });
    const r = await mirrorConfig('containerd', await fixtureContext(), { output: out, registries: ['extra.example.com'] });
    expect(r.written).toEqual(expect.arrayContaining(first.written!));
    expect(await readFile(path.join(out, 'certs.d/extra.example.com/hosts.toml'), 'utf8')).toContain('extra.example.com');
  });
});
