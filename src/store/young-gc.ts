import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Worker } from 'node:worker_threads';
import { openStartFlags, setV8Flag, startFlagsOpen, withV8Flag } from '../net/v8-flags.js';

/**
 * Streaming gigabytes through JS allocates a fresh buffer per chunk (an HTTP body chunk, a file
 * read). Their memory lives outside the JS heap, and V8 frees it only when it collects the
 * young generation, which it schedules by the size of the JS heap, not of those buffers; as
 * the outside memory grows it falls back to full mark-compact collections instead. Measured:
 * up to ~90 MB of dead chunks held during `bundle create` (the 4 GB layer's peak RSS over
 * 256 MB), and 31 mark-compacts, a third of ferry's CPU, while `import` read 545 MB.
 * A young-generation collection every YOUNG_GC_BYTES passed (about a millisecond each) frees
 * them early and keeps both flat. `gc` comes from a fresh context once --expose-gc is set;
 * where that is refused, nothing is done.
 *
 * And once bytes stream (or ferry first asks for a full collection, below), incremental
 * marking is turned off. With it, V8 kept starting mark-compact collections from a background
 * task while the heap was nowhere near its limit
 * (the old generation is small, ~16 MB, and what streams lives outside it): in a third to a half
 * of the runs, 10–30 of them per 545 MB, ~0.3 s of CPU (measured on create and import, with
 * --trace-gc --trace-incremental-marking: "Start (task)" at 16 MB of a 59 MB limit). Without
 * it a full collection runs only when the old generation reaches its limit (once per run
 * here). A command-line tool has no pauses to hide, only the total to pay.
 */
/** FERRY_YOUNG_GC_MB sets the interval in MiB (0: never), for measuring; default 32. */
const intervalMb = /^\d+$/.test(process.env.FERRY_YOUNG_GC_MB ?? '') ? Number(process.env.FERRY_YOUNG_GC_MB) : 32;
const YOUNG_GC_BYTES = intervalMb === 0 ? Infinity : intervalMb * 2 ** 20;
let sinceCollect = 0;

/** Count bytes that passed through fresh buffers; collect the young generation every 32 MiB. */
export function noteBytesPassed(bytes: number): void {
  capYoungNow();
  sinceCollect += bytes;
  if (sinceCollect < YOUNG_GC_BYTES) return;
  sinceCollect = 0;
  collectors().young();
}

let gcs: { young: () => void; full: () => void } | undefined;
function collectors(): { young: () => void; full: () => void } {
  // --expose-gc set while a worker boots or a module loads would cost it Node's snapshot or
  // compile cache (v8-flags.ts): skip this turn.
  if (!gcs && startFlagsOpen()) return { young: () => undefined, full: () => undefined };
  if (!gcs) {
    try {
      // --expose-gc is read when a context is made: set only for that moment.
      const gc = withV8Flag('--expose-gc', '--no-expose-gc', () => runInNewContext('gc')) as (opts?: { type: 'minor' | 'major' }) => void;
      setV8Flag('--no-incremental-marking', '--incremental-marking');
      gcs = { young: () => gc({ type: 'minor' }), full: () => gc({ type: 'major' }) };
    } catch {
      gcs = { young: () => undefined, full: () => undefined };
    }
  }
  return gcs;
}

/**
 * Garbage allowed on top of the live heap before ferry asks for a full collection: the larger of
 * this share of it and SLACK_MIN (FERRY_GC_SLACK_MB, for measuring). 24 MB, down from 64: on a
 * 60 000-package APT component (~60 MB live) the heap held up to 64 MB of garbage, resident;
 * measured, peak RSS went from 306 to 264 MB (create) and 275 to 249 MB (import) for 2-4 % more CPU.
 */
const SLACK_SHARE = 0.5;
const SLACK_MIN = (Number(process.env.FERRY_GC_SLACK_MB) || 24) << 20;
/** No full collection is asked for while the heap holds less than this. */
const HEAP_FLOOR = 64 << 20;
/** How often (in small items) the heap is looked at. */
const CHECK_EVERY = 100;
let sinceCheck = 0;
let liveAfterFull = 0;

/**
 * One small item handled (a blob fetched, stored, copied, staged or placed). Tens of thousands of
 * small blobs (a whole APT component) each leave ~150 KB of short-lived objects, many of which
 * outlive two young collections, and V8 let that garbage grow the old generation to several
 * times the live data (a 60 000-package create peaked at 1.2 GB). Every CHECK_EVERY items the
 * heap is looked at; once it holds more than half again its live size (at least 24 MB more), a
 * full collection brings it back. FERRY_FULL_GC=0 turns this off, for measuring.
 */
export function noteItemDone(): void {
  capYoungNow();
  if (++sinceCheck < CHECK_EVERY) return;
  sinceCheck = 0;
  collectIfGrown();
}

/** How much parsed text between two looks at the heap (noteTextParsed): FERRY_TEXT_GC_KB, for measuring; default 1 MiB. */
const TEXT_CHECK_BYTES = (/^\d+$/.test(process.env.FERRY_TEXT_GC_KB ?? '') ? Number(process.env.FERRY_TEXT_GC_KB) : 1024) << 10;
let textSinceCheck = 0;

/**
 * A text of `bytes` parsed (a file `audit` read and parsed as YAML) or rendered (a bundle's SBOM,
 * lock and checksums list, in pieces: bundle-pack.ts asBuffers): parsing leaves ~10 times
 * its size of short-lived objects (the yaml library's CST and nodes), and on a tree of large
 * files (Grafana dashboards, CRD templates) V8 let that garbage grow the heap to several times
 * what the scan keeps. Every 4 MiB of text the heap is looked at, as noteItemDone does.
 */
export function noteTextParsed(bytes: number): void {
  capYoungNow();
  textSinceCheck += bytes;
  if (textSinceCheck < TEXT_CHECK_BYTES) return;
  textSinceCheck = 0;
  collectIfGrown();
}

/**
 * A step that built tables of tens of thousands of entries is done (a bundle's SBOM items, the
 * walk of its blobs): growing them left their earlier, smaller copies behind in the old
 * generation, ~15 MB each for a 60 000-package APT component. The heap is looked at now, before
 * the next step adds its own.
 */
export function noteTablesBuilt(): void {
  capYoungNow();
  collectIfGrown();
}

function collectIfGrown(): void {
  if (process.env.FERRY_FULL_GC === '0') return;
  const used = getHeapStatistics().used_heap_size;
  // Never below HEAP_FLOOR: a small run (an APT mirror of a hundred packages) would pay a full
  // collection it does not need (measured: ~0.05 s of CPU on the APT benchmark).
  if (used <= Math.max(HEAP_FLOOR, liveAfterFull + Math.max(liveAfterFull * SLACK_SHARE, SLACK_MIN))) return;
  collectors().full();
  liveAfterFull = getHeapStatistics().used_heap_size;
}

/**
 * FERRY_YOUNG_MAX_MB: the young generation's size past which it stops growing (0: no cap), for
 * measuring; default 16.
 */
const youngMaxMb = /^\d+$/.test(process.env.FERRY_YOUNG_MAX_MB ?? '') ? Number(process.env.FERRY_YOUNG_MAX_MB) : 16;
/** V8's own factor (its default): the young generation doubles when it needs to grow. */
const GROWTH = 2;
let youngCapped = false;
let youngSize = 0;

/**
 * Node 24's V8 lets the young generation grow to 128 MB (two 64 MB semi-spaces) when many
 * objects survive a scavenge, as they do with tens of thousands of small items in flight; all
 * of it stays resident. Measured on a 20 000-package APT import: new space 128 MB of a 300 MB
 * peak RSS. The size limit is fixed at start-up (--max-semi-space-size), but the growth factor
 * is read whenever V8 grows it: once the young generation reaches youngMaxMb it is set to 1
 * (no growth), and back to V8's default should V8 have shrunk it below. Looked at by an
 * unref'd timer (it never keeps ferry alive), often while the size changes, less while not.
 * True when the young generation changed size since the last look.
 */
function capYoungGeneration(): boolean {
  const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  if (!young) return false;
  const changed = young.space_size !== youngSize;
  youngSize = young.space_size;
  const atCap = young.space_size >= youngMaxMb * 2 ** 20;
  if (atCap === youngCapped || held) return changed;
  if (setGrowth(atCap ? 1 : GROWTH)) youngCapped = atCap;
  return changed;
}

/**
 * The timer alone is not enough: a long synchronous stretch (parsing a 21 MB lock, tens of
 * thousands of small items handled between two timer turns) let the young generation double
 * from 16 to 64 MB before the timer first ran (measured: 64 MB of new space in a 60 000-package
 * `bundle create`). So the hot paths look too, every CAP_EVERY calls (a look costs ~2 µs), and
 * holdYoung() stops growth for a synchronous stretch that does none of them.
 */
const CAP_EVERY = 64;
let sinceCap = 0;
function capYoungNow(): void {
  if (!youngMaxMb || ++sinceCap < CAP_EVERY) return;
  sinceCap = 0;
  capYoungGeneration();
}

let held = 0;
/**
 * Run fn (reading and parsing of data that outlives it) with the young generation not
 * growing: what it builds is promoted whatever the young generation's size, and a large young
 * generation stays resident after. The size V8 gave it before is kept.
 */
export async function holdYoung<T>(fn: () => Promise<T>): Promise<T> {
  if (!youngMaxMb) return fn();
  held++;
  setGrowth(1);
  try {
    return await fn();
  } finally {
    release();
  }
}

/**
 * holdYoung for a synchronous stretch: rendering a chart parses its output documents, a 600 KB
 * CRD template in one go, and no timer turn comes between (measured on testkube: the young
 * generation went from 16 to 128 MB in one render, peak RSS 318 MB instead of ~240).
 */
export function holdYoungSync<T>(fn: () => T): T {
  if (!youngMaxMb) return fn();
  held++;
  setGrowth(1);
  try {
    return fn();
  } finally {
    release();
  }
}

function release(): void {
  if (--held === 0) {
    setGrowth(GROWTH);
    youngCapped = false;
    capYoungGeneration();
  }
}

/**
 * A worker thread made under flags other than Node's start-up ones boots without Node's
 * startup snapshot (~10–25 ms of CPU more each, measured in an APT `bundle create`: the young
 * generation reached its cap 20 ms after the hash thread was created, and the growth-factor flag
 * set then cost the thread its snapshot). So the start-up flags are put back while it is made and
 * boots (v8-flags.ts), until it says it is ready (a message `{ op: 'ready' }` posted once it has
 * loaded the builtins it uses: a builtin loaded after a flag change misses its code cache too) or
 * exits; the young generation may grow for those few ms.
 */
export function workerBooting(make: () => Worker): Worker {
  const close = openStartFlags();
  let worker: Worker;
  try {
    worker = make();
  } catch (err) {
    close();
    throw err;
  }
  const booted = () => {
    worker.off('message', onMessage);
    close();
  };
  const onMessage = (m: unknown) => {
    if ((m as { op?: unknown } | null)?.op === 'ready') booted();
  };
  worker.on('message', onMessage);
  // A worker that fails exits: no 'error' listener here, which would change what an error does.
  worker.once('exit', booted);
  return worker;
}

/** V8's young-generation growth factor; false when this Node refuses the flag (V8's own sizing then). */
function setGrowth(factor: number): boolean {
  return setV8Flag(`--semi-space-growth-factor=${factor}`, `--semi-space-growth-factor=${GROWTH}`);
}

/** How often the young generation is looked at: every YOUNG_CHECK_MS after it changed, backing off to MAX_CHECK_MS while it does not. */
const YOUNG_CHECK_MS = 20;
const MAX_CHECK_MS = 160;
function watchYoung(delay: number): void {
  const next = capYoungGeneration() ? YOUNG_CHECK_MS : Math.min(MAX_CHECK_MS, delay * 2);
  setTimeout(() => watchYoung(next), next).unref();
}
if (youngMaxMb) watchYoung(YOUNG_CHECK_MS);
