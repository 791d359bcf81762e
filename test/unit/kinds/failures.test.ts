import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { combineFailures, ResolveFailures, resolveEach } from '../../../src/kinds/failures.js';
import { createProgress } from '../../../src/ui/progress.js';
import { Writable } from 'node:stream';

const sink = () => {
  const out = { text: '' };
  const stream = new Writable({ write: (c, _e, cb) => ((out.text += String(c)), cb()) });
  return { out, progress: createProgress({ stream, tty: false }) };
};
const later = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('resolveEach: every spec is tried, every failure kept', () => {
  it('lists failures in spec order whatever order they failed in, and keeps what resolved', async () => {
    const { out, progress } = sink();
    const specs = ['a', 'b', 'c', 'd'];
    const err = await resolveEach(specs, { progress, concurrency: 4 }, (s) => `img/${s}`, async (s) => {
      await later(s === 'a' ? 30 : 1);
      if (s === 'a' || s === 'c') throw new FerryError('NOT_FOUND', `img/${s}: manifest unknown`, { hint: `check ${s}` });
      return s.toUpperCase();
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResolveFailures);
    const f = err as ResolveFailures;
    expect(f.failures.map((x) => x.artifact)).toEqual(['img/a', 'img/c']);
    expect(f.failures.map((x) => x.subject)).toEqual(['a', 'c']);
    expect(f.resolved).toEqual(['B', 'D']);
    expect(f.message).toBe('2 artifacts could not be resolved');
    expect(f.details).toEqual(['img/a: manifest unknown\n    hint: check a', 'img/c: manifest unknown\n    hint: check c']);
    expect(out.text).toContain('img/a: failed: manifest unknown\n');
    expect(out.text).toContain('img/b: resolved\n');
  });

  it('a bug is not swallowed into the list', async () => {
    const { progress } = sink();
    await expect(resolveEach([1, 2], { progress, concurrency: 2 }, String, async (n) => (n === 2 ? (null as unknown as { x: number }).x : n))).rejects.toBeInstanceOf(TypeError);
  });
});

describe('combineFailures', () => {
  const nf = (m: string, hint?: string, details?: string[]) => new FerryError('NOT_FOUND', m, { hint, details });

  it('one failure is itself; with an origin it names the chart that deploys it', () => {
    const e = nf('r/x:1: manifest unknown', 'Check the tag.');
    expect(combineFailures([{ artifact: 'r/x:1', error: e }])).toBe(e);
    const c = combineFailures([{ artifact: 'r/x:1', error: e, origins: ['chart b 1.0', 'chart a 2.0', 'chart a 2.0'] }]);
    expect(c.message).toBe('r/x:1: manifest unknown (image deployed by chart a 2.0, chart b 1.0)');
    expect(c.hint).toMatch(/^Check the tag\. Set the chart's values/);
  });

  it('several: the first one sets the code; a hint they all share is said once', () => {
    const c = combineFailures([
      { artifact: 'files[x]', error: new FerryError('NETWORK', 'files[x]: connection refused', { hint: 'Check the network.' }) },
      { artifact: 'chart a ^1', error: nf('chart a: no version matches', 'Check the network.', ['versions that exist: 0.9']) },
    ]);
    expect(c.code).toBe('NETWORK');
    expect(c.details).toEqual(['files[x]: connection refused', 'chart a: no version matches\n    versions that exist: 0.9']);
    expect(c.hint).toBe('Check the network. Fix each one listed, then run `ferry lock` again; no lock was written.');
  });
});
