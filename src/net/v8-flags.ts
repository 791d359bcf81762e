import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags ferry changes while it runs (the young generation's growth, incremental marking, the
 * linear regular-expression engine), kept away from the two things V8 checks them against:
 *
 *  - Node's compile cache: V8 accepts cached code only when the flags are those it was made
 *    under, and Node writes the cache at exit. A module loaded after a change (openpgp, the SBOM
 *    library, undici, the xz decoder, all loaded when first needed) was compiled from source on
 *    every run, and its cache written anew each time under flags the next run no longer had
 *    (measured: openpgp's 0.8 MB compiled on every `lock` of an APT repository);
 *  - a worker thread's start-up snapshot: a worker whose isolate is made under changed flags
 *    boots without it (~10–25 ms of CPU more each).
 *
 * So a change is recorded here with the value it replaces, and while a module loads or a worker
 * boots (`atStartFlags`) the flags are put back as they were at start-up; changes asked for in
 * that window are applied when it closes. At exit they are put back for good, before Node writes
 * its cache. No imports of ferry's own; in net/, the lowest layer that needs it (net/http.ts and net/pgp.ts load modules).
 */

/** Flag name → the text that sets what ferry wants now, and the text that sets its start-up value. */
const changed = new Map<string, { now: string; start: string }>();
/** Windows open (module loads, worker boots): the flags are the start-up ones while any is. */
let open = 0;
let exitHooked = false;

/** `--no-foo` / `--foo=3` / `--foo` → `foo`. */
const nameOf = (flag: string): string => flag.replace(/^--(no-)?/, '').replace(/=.*$/, '');

function apply(text: string): boolean {
  try {
    setFlagsFromString(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Set `flag` (`--no-incremental-marking`, `--semi-space-growth-factor=1`), whose value at start-up
 * `start` sets (`--incremental-marking`, `--semi-space-growth-factor=2`). In an open window it is
 * applied when the window closes. False when V8 refuses it.
 */
export function setV8Flag(flag: string, start: string): boolean {
  const name = nameOf(flag);
  if (flag === start) changed.delete(name);
  else changed.set(name, { now: flag, start });
  if (!exitHooked && changed.size) {
    exitHooked = true;
    // Before Node writes its compile cache (it does so after the 'exit' listeners).
    process.once('exit', () => {
      open++;
      for (const f of changed.values()) apply(f.start);
    });
  }
  return open > 0 ? true : apply(flag);
}

/**
 * A one-off use of a flag that needs it only for a moment (`--expose-gc`, read when a context
 * is made): set, `fn` run, then put back.
 */
export function withV8Flag<T>(flag: string, start: string, fn: () => T): T {
  apply(flag);
  try {
    return fn();
  } finally {
    apply(start);
  }
}

/**
 * Open a window with the start-up flags (a module being loaded, a worker booting); the returned
 * function closes it (once), and the flags ferry set come back when the last window closes.
 */
export function openStartFlags(): () => void {
  if (open++ === 0) for (const f of changed.values()) apply(f.start);
  let closed = false;
  return () => {
    if (closed) return;
    closed = true;
    if (--open === 0) for (const f of changed.values()) apply(f.now);
  };
}

/** True while a window is open (a flag set now for a moment would reach what it protects). */
export function startFlagsOpen(): boolean {
  return open > 0;
}

/** Load a module (a dynamic import) under the start-up flags, so Node's compile cache is used. */
export async function atStartFlags<T>(load: () => Promise<T>): Promise<T> {
  const close = openStartFlags();
  try {
    return await load();
  } finally {
    close();
  }
}
