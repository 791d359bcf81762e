import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapFileUrl } from '../../src/mapping/index.js';
import { fetchOutcome, startServe } from '../support/craft-serve.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';
import { expectServedWhole, swappedSplitBundle, untilSaid } from '../support/swapped-split.js';

/**
 * Hostile inputs, round 35: plain `ferry serve` (no --verify) of a split bundle whose part 003
 * was swapped for the same-numbered part of another bundle of the same size. Serve starts at
 * once and hashes the parts against the .parts list in the background: it warns naming the part
 * and what to do, and from then on refuses the blobs lying in it (the message naming the part).
 * The untouched bundle's parts all match: no warning, the file served whole.
 */
let work: string;
let files: StaticServer;
let split: Awaited<ReturnType<typeof swappedSplitBundle>>;
let filePath: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile35-split-'));
  const srv = path.join(work, 'srv');
  await mkdir(srv);
  files = await startStaticServer(srv);
  split = await swappedSplitBundle(work, srv, files);
  filePath = `/files/${mapFileUrl(split.fileUrl, { baseUrl: 'http://x' }).path}`;
}, 300_000);

afterAll(async () => {
  await files?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('plain serve of a split bundle with a swapped part', () => {
  it('warns naming part 003 of N once the background check reaches it, then refuses the blob lying in it, naming the part; stops cleanly', { timeout: 60_000 }, async () => {
    const n = split.parts.length;
    const s = await startServe([path.join(split.mixed, split.parts[0]), '--listen', '127.0.0.1:0']);
    try {
      await untilSaid(s, new RegExp(`part 003 of ${n}`));
      expect(s.stderr()).toMatch(new RegExp(`part 003 of ${n}: sha256 mismatch[^\\n]*copy ${split.parts[2].replace(/\./g, '\\.')} again from the source`));
      // The file lies across parts 001..00N; 003 does not match: refused with a message, no body of it.
      const got = await fetchOutcome(`${s.url}${filePath}`);
      expect(got.status).toBe(500);
      expect(got.body?.toString('utf8')).toMatch(new RegExp(`lies in parts \\d{3}-\\d{3} of ${n}[\\s\\S]*part 003 of ${n}: sha256 mismatch`));
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('the untouched split bundle: every part matches, no warning, the file served whole', { timeout: 60_000 }, async () => {
    await expectServedWhole([path.join(split.good, split.parts[0])], filePath);
  });
});
