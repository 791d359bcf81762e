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

/** Run `fn` over items with at most `n` at once; rejects with the first error after all settled. */
export async function mapLimit<T, R>(items: readonly T[], n: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const limit = createLimit(n);
  const settled = await Promise.allSettled(items.map((item, i) => limit(() => fn(item, i))));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}
