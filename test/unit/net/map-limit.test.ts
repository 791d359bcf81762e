import { describe, expect, it } from 'vitest';
import { mapLimit } from '../../../src/net/concurrency.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('mapLimit', () => {
  it('returns the results in item order with at most n running', async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0, 6], 3, async (ms, i) => {
      running++;
      most = Math.max(most, running);
      await tick(ms);
      running--;
      return `${i}:${ms}`;
    });
    expect(out).toEqual(['0:5', '1:1', '2:4', '3:2', '4:3', '5:0', '6:6']);
    expect(most).toBe(3);
  });

  it('runs every item, then rejects with the error of the first failing item in order', async () => {
    const ran: number[] = [];
    const err = await mapLimit([0, 1, 2, 3, 4], 2, async (x) => {
      await tick(x === 3 ? 1 : 10);
      ran.push(x);
      if (x === 1 || x === 3) throw new Error(`item ${x}`);
      return x;
    }).catch((e: Error) => e);
    expect((err as Error).message).toBe('item 1');
    expect(ran.sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('catches a synchronous throw, and runs one at a time for a concurrency below 1', async () => {
    await expect(mapLimit([1], 4, () => { throw new Error('sync'); })).rejects.toThrow('sync');
    let running = 0;
    let most = 0;
    for (const n of [0, Number.NaN]) {
      await mapLimit([1, 2, 3], n, async () => {
        most = Math.max(most, ++running);
        await tick(1);
        running--;
      });
    }
    expect(most).toBe(1);
    expect(await mapLimit([], 8, async () => 1)).toEqual([]);
  });
});
