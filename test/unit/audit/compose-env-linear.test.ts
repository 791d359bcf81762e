import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { composeEnvEntries } from '../../../src/audit/compose-env.js';

/**
 * A crafted `.env` in a scanned tree: long runs of blanks inside a value or before a key's `=`.
 * Trailing blanks were cut with `/\s+$/`-style expressions, which retry from every blank of the
 * run: 100 000 blanks took 8 s, a 5 MiB line hours. Read in linear time now (run under vm's
 * watchdog: the old code's quadratic pass fails the test instead of stalling the suite).
 */
describe('.env parsing in linear time', () => {
  it('a value and a key with 400 000 blanks inside are read at once', () => {
    const blanks = ' '.repeat(400_000);
    const text = `TAG=1${blanks}x\nKEY${blanks}\tx=2\nNAME=v${blanks}\n`;
    const entries = vm.runInNewContext('f()', { f: () => composeEnvEntries(text) }, { timeout: 10_000 }) as ReturnType<typeof composeEnvEntries>;
    expect(entries.map((e) => [e.name, e.value.length])).toEqual([['TAG', 400_002], ['NAME', 1]]);
  }, 20_000);
});
