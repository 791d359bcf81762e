import { mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapFileUrl } from '../../src/mapping/index.js';
import { runFerry } from '../support/cli.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';
import { differentialOfGood, expectServedWhole, joinSplit, swappedSplitBundle } from '../support/swapped-split.js';

/**
 * Hostile inputs, round 37: `serve --verify` of a differential bundle verified the differential
 * only: its `--base`, from which every blob it left out is served, was matched by its checksums
 * list and the omitted blobs' sizes, never re-hashed. A base whose part 003 was swapped for
 * another bundle's (same size, so sizes and the checksums list still match), or a one-tar base
 * with those bytes, was served under --verify. Now the omitted blobs are re-hashed from the base
 * serve opened, and a damaged one refuses serving, naming the base, the blob and (split) the
 * parts it lies in.
 */
let work: string;
let files: StaticServer;
let split: Awaited<ReturnType<typeof swappedSplitBundle>>;
let diff: string;
let filePath: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile37-'));
  const srv = path.join(work, 'srv');
  await mkdir(srv);
  files = await startStaticServer(srv);
  split = await swappedSplitBundle(work, srv, files);
  filePath = `/files/${mapFileUrl(split.fileUrl, { baseUrl: 'http://x' }).path}`;
  // A differential against the good split bundle: its file is left out; one new file travels.
  ({ diff } = await differentialOfGood(split.good, split.parts[0], srv, files, Buffer.from('carried by the differential\n')));
}, 300_000);

afterAll(async () => {
  await files?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `ferry serve --verify <diff> --base <base>`: refused before listening (killed after 60 s if it serves instead). */
async function refusedWith(base: string): Promise<string> {
  const r = await runFerry(['serve', diff, '--base', base, '--verify', '--listen', '127.0.0.1:0'], { timeoutMs: 60_000 });
  expect(r.code, `serve --verify served the differential with a damaged base:\n${r.stderr}`).not.toBe(0);
  expect(r.stderr).not.toMatch(/listening|serving on/i);
  expect(r.stderr).toMatch(new RegExp(`${re(diff)}: verification failed \\(1 problem, 1 of them in its --base ${re(base)}\\); not serving it`));
  expect(r.stderr).toMatch(new RegExp(`ferry bundle verify ${re(diff)} --base ${re(base)}`));
  return r.stderr;
}

describe('serve --verify of a differential bundle re-hashes the blobs its --base supplies', () => {
  it('a split base with part 003 swapped: refused, naming the base, the file tool, the parts it lies in and part 003 as the damaged one', { timeout: 120_000 }, async () => {
    const base = await realpath(path.join(split.mixed, split.parts[0]));
    const stderr = await refusedWith(base);
    const n = split.parts.length;
    expect(stderr).toMatch(
      new RegExp(`base ${re(base)}: tool layer sha256:[0-9a-f]{64} \\(300000 bytes\\): damaged in the base: content hashes to sha256:[0-9a-f]{64}; it lies in parts 001-00${n} of ${n} \\([^)]*\\), and part 003 of ${n}: sha256 mismatch \\([^)]*\\): copy ${re(split.parts[2])} again from the source`),
    );
    // Only part 003 is named damaged.
    expect(stderr).not.toMatch(/part 00[^3] of \d+: sha256 mismatch/);
  });

  it('the same damage in a one-tar base: refused, naming the base and the file tool', { timeout: 120_000 }, async () => {
    const base = await joinSplit(split.mixed, path.join(work, 'base-one.ferry.tar'));
    const stderr = await refusedWith(base);
    expect(stderr).toMatch(new RegExp(`base ${re(base)}: tool layer sha256:[0-9a-f]{64} \\(300000 bytes\\): damaged in the base: content hashes to sha256:[0-9a-f]{64}\\n`));
  });

  it('the untouched base, split or one tar: verified and served whole', { timeout: 120_000 }, async () => {
    await expectServedWhole([diff, '--base', path.join(split.good, split.parts[0]), '--verify'], filePath);
    await expectServedWhole([diff, '--base', await joinSplit(split.good, path.join(work, 'base-good.ferry.tar')), '--verify'], filePath);
  });
});
