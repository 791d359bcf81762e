import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * One temporary directory for the whole run (vitest globalSetup): every test's mkdtemp under
 * os.tmpdir() lands inside it, and it is removed when the run ends, so a developer's /tmp does not
 * collect thousands of test directories (tests that fail keep nothing of theirs either; set
 * FERRY_TEST_KEEP_TMP=1 to keep them for a look). The forked test workers inherit TMPDIR.
 */
export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.FERRY_TEST_KEEP_TMP) return undefined;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-tests-'));
  // Some tests run ferry as an unprivileged user (nobody) in a directory below this one.
  await chmod(dir, 0o755);
  process.env.TMPDIR = dir;
  return async () => {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch((err: Error) => {
      process.stderr.write(`test temp directory ${dir} not removed: ${err.message}\n`);
    });
  };
}
