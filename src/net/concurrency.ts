/** Parallel transfers by default (measured with scripts/bench/images.sh: 8 beat 4 on import by ~25 %). */
export const DEFAULT_CONCURRENCY = 8;

/** A bounded pool: at most `n` tasks run at once; the rest wait in order. */
export function createLimit(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  const max = Math.max(1, Math.floor(n));
  let active = 0;
  const queue: Array<() => void> = [];
  const next = () => {
    active--;
    queue.shift()?.();
  };
  return <T>(task: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      const run = () => {
        active++;
        task().then(resolve, reject).finally(next);
      };
      if (active < max) run();
      else queue.push(run);
    });
}

/**
 * Run `fn` over items with at most `n` at once; rejects with the first error (in item order)
 * after all settled. `n` runners take the items in order: nothing is allocated per waiting
 * item (a whole APT component is tens of thousands of them; a promise and closures each, made
 * up front, held ~30 MB).
 */
export async function mapLimit<T, R>(items: readonly T[], n: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let failed: { index: number; reason: unknown } | undefined;
  let next = 0;
  const runner = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (reason) {
        if (!failed || i < failed.index) failed = { index: i, reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(items.length, Math.max(1, Math.floor(n) || 1)) }, runner));
  if (failed) throw failed.reason;
  return results;
}

/**
 * Share one in-flight call per key: while `fn` for a key is running, later calls with that key
 * get the same promise instead of starting another. Once it settles (either way) the key is free,
 * so nothing is cached and a failure is not remembered.
 */
export function singleFlight<K, V>(): (key: K, fn: () => Promise<V>) => Promise<V> {
  const running = new Map<K, Promise<V>>();
  return (key, fn) => {
    const existing = running.get(key);
    if (existing) return existing;
    const p = (async () => fn())().finally(() => {
      if (running.get(key) === p) running.delete(key);
    });
    running.set(key, p);
    return p;
  };
}

/**
 * Run `fn` exclusively per key: calls with one key run one after the other in call order, calls
 * with different keys run concurrently. A failed call does not block the ones queued behind it.
 */
export function keyedMutex<K>(): <T>(key: K, fn: () => Promise<T>) => Promise<T> {
  const tails = new Map<K, Promise<void>>();
  return <T>(key: K, fn: () => Promise<T>) => {
    const run = (tails.get(key) ?? Promise.resolve()).then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    tails.set(key, tail);
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key);
    });
    return run;
  };
}
