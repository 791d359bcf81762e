import { describe, expect, it } from 'vitest';
import { keyedMutex, singleFlight } from '../../../src/net/concurrency.js';

/** A promise the test settles by hand. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('singleFlight', () => {
  it('shares one in-flight call per key and runs different keys separately', async () => {
    const flight = singleFlight<string, string>();
    const gate = deferred<string>();
    let calls = 0;
    const fn = () => {
      calls++;
      return gate.promise;
    };
    const a1 = flight('a', fn);
    const a2 = flight('a', fn);
    const b = flight('b', async () => 'b');
    expect(a1).toBe(a2);
    expect(calls).toBe(1);
    gate.resolve('a');
    expect(await Promise.all([a1, a2, b])).toEqual(['a', 'a', 'b']);
  });

  it('forgets a key once its call settled, so a later call runs again', async () => {
    const flight = singleFlight<string, number>();
    let calls = 0;
    expect(await flight('k', async () => ++calls)).toBe(1);
    expect(await flight('k', async () => ++calls)).toBe(2);
  });

  it('shares a failure with every waiter but does not remember it', async () => {
    const flight = singleFlight<string, number>();
    const gate = deferred<number>();
    const first = flight('k', () => gate.promise);
    const second = flight('k', async () => 99);
    gate.reject(new Error('boom'));
    await expect(first).rejects.toThrow('boom');
    await expect(second).rejects.toThrow('boom');
    expect(await flight('k', async () => 7)).toBe(7);
  });

  it('turns a synchronous throw into a rejection', async () => {
    const flight = singleFlight<string, number>();
    const p = flight('k', () => {
      throw new Error('sync');
    });
    await expect(p).rejects.toThrow('sync');
    expect(await flight('k', async () => 1)).toBe(1);
  });
});

describe('keyedMutex', () => {
  it('runs calls with one key one after the other, in call order', async () => {
    const lock = keyedMutex<string>();
    const log: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const runs = gates.map((g, i) =>
      lock('k', async () => {
        log.push(`start ${i}`);
        await g.promise;
        log.push(`end ${i}`);
        return i;
      }),
    );
    await tick();
    expect(log).toEqual(['start 0']);
    gates[2].resolve();
    gates[1].resolve();
    await tick();
    expect(log).toEqual(['start 0']);
    gates[0].resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2]);
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('lets different keys run at the same time', async () => {
    const lock = keyedMutex<string>();
    const gate = deferred();
    const started: string[] = [];
    const a = lock('a', async () => {
      started.push('a');
      await gate.promise;
    });
    const b = lock('b', async () => {
      started.push('b');
    });
    await b;
    expect(started).toEqual(['a', 'b']);
    gate.resolve();
    await a;
  });

  it('does not let a failed call block the ones queued behind it', async () => {
    const lock = keyedMutex<string>();
    const failed = lock('k', async () => {
      throw new Error('first');
    });
    const next = lock('k', async () => 'second');
    await expect(failed).rejects.toThrow('first');
    expect(await next).toBe('second');
  });

  it('gives each caller its own result type', async () => {
    const lock = keyedMutex<number>();
    const n: number = await lock(1, async () => 5);
    const s: string = await lock(1, async () => 'x');
    expect([n, s]).toEqual([5, 'x']);
  });
});
