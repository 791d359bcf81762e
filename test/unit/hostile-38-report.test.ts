import { copyFileSync, renameSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { buildReport } from '../../src/commands/report.js';
import { joinSplit, useSwappedSplit } from '../support/swapped-split.js';

/**
 * Hostile inputs, round 38: what is checked is what is used, `ferry report --bundle`.
 *
 * report opened the bundle three times by path: for the manifest it carries, for its lock and
 * contents, for the chart archives the audit renders. A bundle renamed over between the first
 * two had one bundle's manifest reported with another's lock. Now it is opened once. The window
 * is made deterministic by wrapping buildConnectionModel (vi.mock), which report calls between.
 */
const hook = vi.hoisted(() => ({ between: undefined as undefined | (() => void) }));
vi.mock('../../src/audit/model.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/audit/model.js')>();
  return {
    ...real,
    buildConnectionModel: (...args: Parameters<typeof real.buildConnectionModel>) => {
      const between = hook.between;
      hook.between = undefined;
      // buildConnectionModel is synchronous: so is the rename, done before report goes on.
      between?.();
      return real.buildConnectionModel(...args);
    },
  };
});

const pinned = async (dir: string) => /sha256: ([0-9a-f]{64})/.exec(await readFile(path.join(path.dirname(dir), 'manifest.yaml'), 'utf8'))![1];

const setup = useSwappedSplit('ferry-hostile38-report');

describe('report --bundle reads one bundle', () => {
  it('another bundle renamed over it after its manifest was read: the lock reported is the same bundle’s', { timeout: 60_000 }, async () => {
    const bundle = await joinSplit(setup.split.good, path.join(setup.work, 'app.ferry.tar'));
    const other = await joinSplit(setup.split.other, path.join(setup.work, 'other.tar'));
    const [good, bad] = [await pinned(setup.split.good), await pinned(setup.split.other)];
    expect(good).not.toBe(bad);
    hook.between = () => {
      // As renameOver does it (a new inode at the same name), synchronously.
      copyFileSync(other, `${bundle}.incoming`);
      renameSync(`${bundle}.incoming`, bundle);
    };
    const r = await buildReport(undefined, { bundle, cwd: setup.work });
    expect(hook.between, 'renamed over between the manifest and the lock').toBeUndefined();
    const shown = JSON.stringify(r.bundle);
    expect(shown).toContain(good);
    expect(shown).not.toContain(bad);
  });
});
