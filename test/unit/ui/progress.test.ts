import { afterEach, describe, expect, it, vi } from 'vitest';
import { createProgress } from '../../../src/ui/progress.js';

describe('progress without a terminal', () => {
  afterEach(() => vi.restoreAllMocks());

  it('prints a line per item for the first twenty, then summaries, then a final count', () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const p = createProgress();
    for (let i = 0; i < 500; i++) {
      const t = p.start(`pkg-${i}.deb`, 1000);
      t.advance(1000);
      t.finish('fetched');
    }
    p.done();
    expect(lines.filter((l) => l.endsWith(': fetched\n'))).toHaveLength(20);
    expect(lines.length).toBeLessThan(30);
    expect(lines.at(-1)).toBe('500/500 done, 500.0 KB\n');
  });
});
