import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { serveCommand } from '../../src/commands/serve.js';
import { BundleReader } from '../../src/store/bundle-reader.js';
import { verifyBundle } from '../../src/store/bundle-verify.js';
import { checkParts, openBundleFile, SplitFile } from '../../src/store/split-file.js';
import type { FerryError } from '../../src/errors.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';
import { copySplit, joinSplit, renameOver, swappedSplitBundle } from '../support/swapped-split.js';

/**
 * Hostile inputs, round 37: what is checked is what is used.
 *
 * 1. `serve --verify` opened the bundle, then verify opened it again by path: a bundle (or a
 *    part) renamed over in between had other bytes verified than those served. The window is
 *    made deterministic by wrapping the verify serve calls (vi.mock of its module): the wrapper
 *    renames the good file over the damaged one that serve has just opened, then verifies. Now
 *    verify reads the readers serve opened, so the damaged bytes served are the bytes refused;
 *    before, the good newcomer was verified and the damaged bundle served.
 * 3. `checkParts` read parts by path: after import's push (which hashed the bytes it sent, through
 *    the descriptors it opened), a damaged part renamed back to a good one was hashed instead and
 *    no part was named. Now it hashes the opened SplitFile's descriptors.
 */
const hook = vi.hoisted(() => ({ beforeVerify: undefined as undefined | (() => Promise<void>) }));
vi.mock('../../src/commands/bundle-verify.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/commands/bundle-verify.js')>();
  return {
    ...real,
    verifyBundle: async (...args: Parameters<typeof real.verifyBundle>) => {
      const before = hook.beforeVerify;
      hook.beforeVerify = undefined;
      await before?.();
      return real.verifyBundle(...args);
    },
  };
});

let work: string;
let files: StaticServer;
let split: Awaited<ReturnType<typeof swappedSplitBundle>>;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile37-unit-'));
  const srv = path.join(work, 'srv');
  await mkdir(srv);
  files = await startStaticServer(srv);
  split = await swappedSplitBundle(work, srv, files);
}, 300_000);

afterAll(async () => {
  await files?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

let n = 0;
const fresh = () => path.join(work, `case-${++n}`);

async function refusal(bundle: string): Promise<FerryError> {
  const err = (await serveCommand(bundle, { listen: '127.0.0.1:0', verify: true, cwd: work }).then(
    async (s) => {
      await s.close();
      return undefined;
    },
    (e: unknown) => e,
  )) as FerryError | undefined;
  expect(err, 'serve --verify served the damaged bundle it had opened').toBeDefined();
  return err!;
}

describe('serve --verify: the file renamed over between open and verify', () => {
  it('a split bundle opened with a swapped part 003, the good part renamed over it before verify: refused naming part 003', { timeout: 60_000 }, async () => {
    const first = await copySplit(split.mixed, fresh());
    const part3 = path.join(path.dirname(first), split.parts[2]);
    hook.beforeVerify = () => renameOver(path.join(split.good, split.parts[2]), part3);
    const err = await refusal(first);
    expect(err.code).toBe('VERIFY');
    expect(err.message).toMatch(/verification failed .*not serving it/);
    expect(err.details?.join('\n')).toMatch(new RegExp(`part 003 of ${split.parts.length}: sha256 mismatch`));
  });

  it('a single tar opened damaged, the good tar renamed over it before verify: refused (the damaged blob named)', { timeout: 60_000 }, async () => {
    const dir = fresh();
    await mkdir(dir);
    const damaged = await joinSplit(split.mixed, path.join(dir, 'app.ferry.tar'));
    const good = await joinSplit(split.good, path.join(dir, 'good.tar'));
    hook.beforeVerify = () => renameOver(good, damaged);
    const err = await refusal(damaged);
    expect(err.code).toBe('VERIFY');
    expect(err.details?.join('\n')).toMatch(/^tool layer sha256:[0-9a-f]{64}: digest mismatch/m);
  });

  it('the good bundle, split or one tar, verifies and is served', { timeout: 60_000 }, async () => {
    const dir = fresh();
    await mkdir(dir);
    for (const bundle of [path.join(split.good, split.parts[0]), await joinSplit(split.good, path.join(dir, 'good.tar'))]) {
      const s = await serveCommand(bundle, { listen: '127.0.0.1:0', verify: true, cwd: work });
      await s.close();
    }
  });
});

/** Every file of the bundle hashed through the reader (as import's push hashes what it sends). */
async function hashedThrough(reader: BundleReader): Promise<Map<string, string>> {
  const known = new Map<string, string>();
  for (const e of reader.index.entries) {
    if (e.type !== 'file') continue;
    const h = createHash('sha256');
    if (e.size) for await (const c of reader.file.createReadStream(e.offset, e.offset + e.size - 1)) h.update(c as Buffer);
    known.set(e.name, h.digest('hex'));
  }
  return known;
}

describe('checkParts reads the parts opened, not their names again', () => {
  it("import's verify (hashes known from its push): the swapped part renamed back to the good one afterwards is still named, part 003", { timeout: 60_000 }, async () => {
    const first = await copySplit(split.mixed, fresh());
    const reader = await BundleReader.open(first);
    try {
      const known = await hashedThrough(reader);
      await renameOver(path.join(split.good, split.parts[2]), path.join(path.dirname(first), split.parts[2]));
      const report = await verifyBundle(first, { reader, known });
      expect(report.ok).toBe(false);
      expect(report.problems.map((p) => p.message).join('\n')).toMatch(new RegExp(`part 003 of ${split.parts.length}: sha256 mismatch`));
    } finally {
      await reader.close();
    }
  });

  it('checkParts on an opened split bundle: a good part renamed over the swapped one is not what is hashed', async () => {
    const first = await copySplit(split.mixed, fresh());
    const f = await openBundleFile(first);
    try {
      expect(f).toBeInstanceOf(SplitFile);
      await renameOver(path.join(split.good, split.parts[2]), path.join(path.dirname(first), split.parts[2]));
      let read = 0;
      const problems = await checkParts(f as SplitFile, (b) => (read += b));
      expect(problems.map((p) => p.message)).toEqual([expect.stringMatching(new RegExp(`^part 003 of ${split.parts.length}: sha256 mismatch`))]);
      expect(read).toBe(f.size);
    } finally {
      await f.close();
    }
  });
});
