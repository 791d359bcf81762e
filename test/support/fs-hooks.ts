import path from 'node:path';

/**
 * One-shot hooks on `node:fs/promises` calls, for the tests that make a race window deterministic
 * (another local user renaming a file over a temp name, a link planted in place of a directory,
 * a process killed between two renames): the hook runs just before or just after the call whose
 * path arguments it matches, once, and can do what the other party would do at that moment, or
 * never return (`stopHere`: the process stops there, as a kill would stop it).
 *
 * vi.mock is hoisted per test file, so each file still says, at its top:
 *
 *   vi.mock('node:fs/promises', async (importOriginal) => (await import('../support/fs-hooks.js')).hookedFsPromises(await importOriginal()));
 *
 * and arms hooks with `fsHook` (this module's state is shared by the mock and the test: one
 * module instance per test file). Nothing here imports node:fs/promises (the module it wraps).
 */

/** The calls that can be hooked (each returns a promise). */
export type HookedCall = 'rename' | 'link' | 'mkdir' | 'readdir' | 'opendir' | 'rm' | 'unlink' | 'open' | 'symlink' | 'copyFile' | 'writeFile';
const HOOKED: HookedCall[] = ['rename', 'link', 'mkdir', 'readdir', 'opendir', 'rm', 'unlink', 'open', 'symlink', 'copyFile', 'writeFile'];

export interface FsHook {
  call: HookedCall;
  /** Before the real call (default), or after it returned (a call that failed runs no `after` hook). */
  when?: 'before' | 'after';
  /** Which call: its string arguments, paths first (`rename(from, to)`: [from, to]); default any. */
  match?: (paths: string[]) => boolean;
  /** What happens in the window, given the same strings; awaited (a promise never settled stops the call there). */
  run: (...paths: string[]) => void | Promise<void>;
}

const armed = new Set<FsHook>();

/** Arm a one-shot hook; it is disarmed as it fires. Returns it (see `fired`). */
export function fsHook(hook: FsHook): FsHook {
  armed.add(hook);
  return hook;
}

/** True once `hook` ran (the window was taken). */
export const fired = (hook: FsHook): boolean => !armed.has(hook);

/** Disarm every hook (afterEach). */
export function clearFsHooks(): void {
  armed.clear();
}

/** For `run`: never settles, so the call it is in never happens (the process stopped there, as if killed). */
export const stopHere = (): Promise<void> => new Promise<void>(() => undefined);

/** `run` matchers: a call whose first path includes / ends with / is `s` (resolved). */
export const firstIncludes = (s: string) => (paths: string[]) => paths[0]?.includes(s) === true;
export const firstEndsWith = (s: string) => (paths: string[]) => paths[0]?.endsWith(s) === true;
export const firstIs = (file: string) => (paths: string[]) => paths[0] !== undefined && path.resolve(paths[0]) === path.resolve(file);

const pathsOf = (args: unknown[]) => args.filter((a) => typeof a === 'string' || a instanceof URL || Buffer.isBuffer(a)).map((a) => (a instanceof URL ? a.pathname : String(a)));

async function fire(call: HookedCall, when: 'before' | 'after', paths: string[]): Promise<void> {
  for (const h of armed) {
    if (h.call !== call || (h.when ?? 'before') !== when || (h.match && !h.match(paths))) continue;
    armed.delete(h);
    await h.run(...paths);
    return;
  }
}

/** `real` (node:fs/promises) with the hookable calls wrapped; for the vi.mock factory. */
export function hookedFsPromises<M extends object>(real: M): M {
  const all: Record<string, unknown> = { ...(real as Record<string, unknown>) };
  for (const name of HOOKED) {
    const fn = (real as Record<string, unknown>)[name] as ((...a: unknown[]) => Promise<unknown>) | undefined;
    if (typeof fn !== 'function') continue;
    all[name] = async (...args: unknown[]) => {
      const paths = pathsOf(args);
      if (armed.size) await fire(name, 'before', paths);
      const result = await fn(...args);
      if (armed.size) await fire(name, 'after', paths);
      return result;
    };
  }
  return { ...all, default: { ...all } } as M;
}
