import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sweepStaleTemps, tempPathWithTail, tempTail } from '../../../src/store/temp-files.js';

// Import stages tens of thousands of blobs under names made from one tail (no path held each):
// the sweep must still tell this process's staged files from a dead run's.
describe('temp names from one tail', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("keeps this process's tail and sweeps the same pid's other tails", async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-tail-'));
    const tail = tempTail();
    expect(tail).toMatch(new RegExp(`^${process.pid}-(?:n[0-9a-f]{8}-)?[0-9a-f]{8}$`));
    const mine = tempPathWithTail(path.join(dir, '.ferry-staged-aa'), tail);
    // A killed earlier process that had this pid (a container's pid 1): another tail.
    const other = tempPathWithTail(path.join(dir, '.ferry-staged-bb'), `${process.pid}-00000000`);
    await writeFile(mine, 'x');
    await writeFile(other, 'y');
    const removed = await sweepStaleTemps(dir);
    expect(removed).toEqual([path.basename(other)]);
    expect(await readdir(dir)).toEqual([path.basename(mine)]);
  });
});
