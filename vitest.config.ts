import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // e2e suites start real services; two cores: keep a couple of files at a time.
    maxWorkers: 2,
    pool: 'forks',
    // Every test's temporary files in one directory, removed at the end (test/support/global-tmp.ts).
    globalSetup: ['test/support/global-tmp.ts'],
  },
});
