import { copyFileSync, renameSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildReport } from '../../src/commands/report.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';
import { joinSplit, swappedSplitBundle } from '../support/swapped-split.js';

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

let work: string;
let files: StaticServer;
let split: Awaited<ReturnType<typeof swappedSplitBundle>>;
const pinned = async (dir: string) => /sha256: ([0-9a-f]{64})/.exec(await readFile(path.join(path.dirname(dir), 'manifest.yaml'), 'utf8'))![1];

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile38-report-'));
  const srv = path.join(work, 'srv');
  await mkdir(srv);
  files = await startStaticServer(srv);
  split = await swappedSplitBundle(work, srv, files);
}, 300_000);

afterAll(async () => {
  await files?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('report --bundle reads one bundle', () => {
  it('another bundle renamed over it after its manifest was read: the lock reported is the same bundle’s', { timeout: 60_000 }, async () => {
    const bundle = await joinSplit(split.good, path.join(work, 'app.ferry.tar'));
    const other = await joinSplit(split.other, path.join(work, 'other.tar'));
    const [good, bad] = [await pinned(split.good), await pinned(split.other)];
    expect(good).not.toBe(bad);
    hook.between = () => {
      // As renameOver does it (a new inode at the same name), synchronously.
      copyFileSync(other, `${bundle}.incoming`);
      renameSync(`${bundle}.incoming`, bundle);
    };
    const r = await buildReport(undefined, { bundle, cwd: work });
    expect(hook.between, 'renamed over between the manifest and the lock').toBeUndefined();
    const shown = JSON.stringify(r.bundle);
    expect(shown).toContain(good);
    expect(shown).not.toContain(bad);
  });
});
