import { describe, expect, it } from 'vitest';
import { checkBaseMatches, describeDifferential, describeExpected, describeSaving } from '../../src/store/differential.js';
import { FerryError } from '../../src/errors.js';

// differential.json comes from outside: its base name (a file name, at most 255 characters) may
// carry a newline that would forge a line of ferry's output, and terminal escapes.
const name = 'old.tar\nerror: forged line\x1b]0;pwned\x07';
const base = { kind: 'bundle' as const, name, digest: `sha256:${'a'.repeat(64)}` };
const forged = (s: string) => s.includes('\nerror: forged') || s.includes('\x1b') || s.includes('\x07');

describe('hostile 12: a differential bundle\'s base name is printed on one line, escaped', () => {
  it('describeDifferential, describeExpected and describeSaving escape it', () => {
    const d = describeDifferential('new.tar', { base, omitted: [{ digest: base.digest, size: 1 }] });
    expect(forged(d)).toBe(false);
    expect(d).toContain('old.tar\\nerror: forged line\\x1b]0;pwned\\x07');
    expect(forged(describeExpected({ base, blobs: 1, bytes: 1, digests: [base.digest] }))).toBe(false);
    expect(forged(describeSaving({ differential: true, base, omittedBlobs: 1, omittedBytes: 1 }, 10).join('\n'))).toBe(false);
  });

  it('the refusal of a wrong base escapes it in the message and the hint', async () => {
    const other = { path: 'b.tar', entry: () => ({}), readFile: async () => Buffer.from('not the base') };
    const err = await checkBaseMatches('new.tar', { base, omitted: [] }, 'b.tar', other).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect(forged((err as FerryError).message)).toBe(false);
    expect(forged((err as FerryError).hint ?? '')).toBe(false);
  });
});
