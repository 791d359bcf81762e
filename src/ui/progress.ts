import { FerryError } from '../errors.js';
import { escapeLine } from './escape.js';

/**
 * Progress on stderr, named by artifact (an image reference, a chart and its version, a file's
 * URL, an APT repository and suite), never by blob digest. Work is counted in phases (resolve,
 * fetch, pack) whose size is known before they start, or grows explicitly (`grow`), so a count
 * never runs past its total. On a TTY: one line per active artifact with bytes, rate and ETA,
 * plus a total line, redrawn in place. Off a TTY (CI logs, pipes): a line per finished artifact
 * for the first 20 of a phase (every failure, always), then a summary at most every 10 s. Nothing with --json or
 * --quiet. Core code receives a Progress and never prints itself.
 */
export interface Progress {
  /** Begin a phase of `items` artifacts and `bytes` bytes (0 = unknown); a running phase ends first. */
  phase(name: string, size?: { items?: number; bytes?: number }): ProgressPhase;
  /** One artifact in the running phase; outside any phase (verify, import), in one phase that grows as tasks start. */
  start(label: string, total: number): ProgressTask;
  log(message: string): void;
  done(): void;
}

export interface ProgressPhase {
  /** More work found on the way (the images a chart deploys): the totals grow, visibly. */
  grow(items: number, bytes?: number): void;
  /** One artifact, named as its user knows it; `bytes` is its expected size (0 = unknown). */
  item(name: string, bytes?: number): ProgressTask;
  end(): void;
}

export interface ProgressTask {
  /** Bytes transferred. */
  advance(bytes: number): void;
  /** Bytes already in the cache: done without a transfer. */
  cached(bytes: number): void;
  /** Replace the status shown while it runs (`resolving`, `indexes`, …). */
  status(text: string): void;
  finish(message?: string): void;
  fail(message: string): void;
}

/**
 * Run `fn` for a task: when it fails, the task is marked failed (with a FerryError's message,
 * else `otherwise`) and the error goes on. Finishing on success stays the caller's (its message).
 */
export async function failTaskOnError<T>(task: ProgressTask, fn: () => Promise<T>, otherwise = 'unexpected error'): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    task.fail(err instanceof FerryError ? err.message : otherwise);
    throw err;
  }
}

const noTask: ProgressTask = { advance() {}, cached() {}, status() {}, finish() {}, fail() {} };
const noPhase: ProgressPhase = { grow() {}, item: () => noTask, end() {} };

export const silentProgress: Progress = {
  phase: () => noPhase,
  start: () => noTask,
  log() {},
  done() {},
};

export function humanBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function humanDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** What one artifact has done so far. Invariants: done ≤ total once total is known; a finished item is complete. */
export interface ItemState {
  name: string;
  total: number;
  done: number;
  /** Of `done`, bytes that came from the cache (not transferred, not in the rate). */
  cached: number;
  status: string;
  startedAt: number;
  /** The size was known at the start (a bar means something); else the total only follows `done`. */
  sized: boolean;
}

/** Counts of one phase. Invariants: itemsDone ≤ items, bytesDone ≤ bytes. */
export interface PhaseState {
  name: string;
  items: number;
  itemsDone: number;
  failed: number;
  bytes: number;
  bytesDone: number;
  bytesCached: number;
  startedAt: number;
  /** Artifacts started and not finished, in start order. */
  active: ItemState[];
  /** Whether `items` was declared up front (false: it grows as tasks start). */
  declared: boolean;
  /** Whether the byte total was known up front (a declared size, or the sum of sized tasks). */
  bytesSized: boolean;
}

export interface ProgressOptions {
  json?: boolean;
  quiet?: boolean;
  /** Where progress goes (default process.stderr). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  /** Force the TTY (bars) or line renderer; default: the stream is a TTY, TERM is not dumb, CI is unset. */
  tty?: boolean;
  /** Clock in ms (tests). */
  now?: () => number;
}

interface Renderer {
  changed(phase: PhaseState): void;
  itemEnded(phase: PhaseState, item: ItemState, message: string | undefined, failed: boolean): void;
  log(message: string): void;
  phaseEnded(phase: PhaseState): void;
}

export function createProgress(opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return silentProgress;
  // --json: stdout carries the data; stderr still gets log lines (warnings, retries), no progress.
  if (opts.json) return { ...silentProgress, log: (m) => void stream.write(escapeLine(m) + '\n') };
  const now = opts.now ?? Date.now;
  const tty = opts.tty ?? (Boolean(stream.isTTY) && process.env.TERM !== 'dumb' && !process.env.CI);
  const live: Renderer = tty ? ttyRenderer(stream, now) : lineRenderer(stream, now);
  const renderer = live;

  let current: PhaseState | undefined;
  let implicit: PhaseState | undefined;

  const newPhase = (name: string, items: number, bytes: number, declared: boolean): PhaseState => ({
    bytesSized: !declared || bytes > 0,
    name,
    items,
    itemsDone: 0,
    failed: 0,
    bytes,
    bytesDone: 0,
    bytesCached: 0,
    startedAt: now(),
    active: [],
    declared,
  });

  const endedPhases = new WeakSet<PhaseState>();
  const endPhase = (p: PhaseState) => {
    if (endedPhases.has(p)) return;
    endedPhases.add(p);
    if (current === p) current = undefined;
    if (implicit === p) implicit = undefined;
    renderer.phaseEnded(p);
  };

  const itemIn = (p: PhaseState, name: string, expected: number): ProgressTask => {
    const renderer = endedPhases.has(p) ? quietRenderer : live;
    const item: ItemState = { name, total: Math.max(0, expected || 0), done: 0, cached: 0, status: '', startedAt: now(), sized: expected > 0 };
    // More artifacts than declared: grow the count rather than show 8/7.
    if (p.itemsDone + p.failed + p.active.length + 1 > p.items) p.items = p.itemsDone + p.failed + p.active.length + 1;
    if (!p.declared) p.bytes += item.total;
    p.active.push(item);
    let ended = false;
    const add = (n: number, fromCache: boolean) => {
      if (ended || !(n > 0)) return;
      item.done += n;
      if (fromCache) item.cached += n;
      // Larger than expected (or unknown size): the totals grow with it, never behind it.
      if (item.done > item.total) {
        p.bytes += item.done - item.total;
        item.total = item.done;
      }
      p.bytesDone += n;
      if (fromCache) p.bytesCached += n;
      renderer.changed(p);
    };
    const end = (message: string | undefined, failed: boolean) => {
      if (ended) return;
      ended = true;
      // A finished artifact is complete: bytes it did not report (shared layers fetched for
      // another image, cached blobs) count as done now, so the phase ends at exactly its total.
      if (!failed && item.done < item.total) {
        p.bytesDone += item.total - item.done;
        item.done = item.total;
      }
      p.active.splice(p.active.indexOf(item), 1);
      if (failed) p.failed++;
      else p.itemsDone++;
      renderer.itemEnded(p, item, message, failed);
      renderer.changed(p);
    };
    renderer.changed(p);
    return {
      advance: (n) => add(n, false),
      cached: (n) => add(n, true),
      status(text) {
        item.status = text;
        renderer.changed(p);
      },
      finish: (message) => end(message, false),
      fail: (message) => end(`failed: ${message}`, true),
    };
  };

  return {
    phase(name, size = {}) {
      if (current) endPhase(current);
      const p = newPhase(name, Math.max(0, size.items ?? 0), Math.max(0, size.bytes ?? 0), true);
      current = p;
      renderer.changed(p);
      return {
        grow(items, bytes = 0) {
          if (endedPhases.has(p)) return;
          p.items += Math.max(0, items);
          p.bytes += Math.max(0, bytes);
          renderer.changed(p);
        },
        item: (name, bytes = 0) => itemIn(p, name, bytes),
        end: () => endPhase(p),
      };
    },
    start(label, total) {
      if (current) return itemIn(current, label, total);
      implicit ??= newPhase('', 0, 0, false);
      return itemIn(implicit, label, total);
    },
    log(message) {
      renderer.log(escapeLine(message));
    },
    done() {
      if (current) endPhase(current);
      if (implicit) endPhase(implicit);
    },
  };
}

/** Logs and pipes get one line per item for the first few of a phase, then a summary at most every 10 s. */
export const PER_ITEM_LINES = 20;
const SUMMARY_EVERY_MS = 10_000;

function counts(p: PhaseState): string {
  return `${p.itemsDone + p.failed}/${p.items} done`;
}

function failedText(p: PhaseState): string {
  return p.failed ? ` (${p.failed} failed)` : '';
}

function lineRenderer(stream: NodeJS.WritableStream, now: () => number): Renderer {
  const lastSummary = new WeakMap<PhaseState, number>();
  const prefix = (p: PhaseState) => (p.name ? `${p.name}: ` : '');
  return {
    changed() {},
    itemEnded(p, item, message, failed) {
      const ended = p.itemsDone + p.failed;
      // A failure is always named, however many went before it: a CI log must say which one.
      if (ended <= PER_ITEM_LINES || failed) {
        if (message) stream.write(`${escapeLine(item.name)}: ${escapeLine(message)}\n`);
        return;
      }
      const t = now();
      if (t - (lastSummary.get(p) ?? 0) < SUMMARY_EVERY_MS) return;
      lastSummary.set(p, t);
      stream.write(`… ${prefix(p)}${counts(p)}${failedText(p)}${p.bytes ? `, ${humanBytes(p.bytesDone)} of ${humanBytes(p.bytes)}` : ''}\n`);
    },
    log(message) {
      stream.write(message + '\n');
    },
    phaseEnded(p) {
      // Failures are named and counted (all 60 failing is not "60/60 done"); no "0 B" for a phase that moves no bytes (lock).
      if (p.itemsDone + p.failed > PER_ITEM_LINES) stream.write(`${prefix(p)}${counts(p)}${failedText(p)}${p.bytes || p.bytesDone ? `, ${humanBytes(p.bytesDone)}` : ''}\n`);
    },
  };
}

/** For work reported after its phase ended (a straggler): counted, not drawn. */
const quietRenderer: Renderer = { changed() {}, itemEnded() {}, log() {}, phaseEnded() {} };

const REDRAW_MS = 100;
const MAX_BARS = 8;

function bar(done: number, total: number, width: number): string {
  const frac = total > 0 ? Math.min(1, done / total) : 0;
  const full = Math.round(frac * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

/** Bytes per second over the transferred (not cached) bytes, once there is something to measure. */
function rateOf(transferred: number, since: number, t: number): number | undefined {
  const secs = (t - since) / 1000;
  return secs >= 0.5 && transferred > 0 ? transferred / secs : undefined;
}

function fit(name: string, width: number): string {
  if (name.length <= width) return name.padEnd(width);
  // Keep the end: the tag, version or file name tells artifacts apart.
  return `…${name.slice(name.length - width + 1)}`;
}

/** The lines a TTY shows for a phase: one per active artifact (at most MAX_BARS), then the total. */
export function frameLines(p: PhaseState, t: number, columns = 80): string[] {
  const shown = p.active.slice(0, MAX_BARS);
  // Bytes, rate and ETA take about 45 columns; the bar and the name share the rest.
  const barWidth = columns >= 120 ? 20 : 10;
  const nameWidth = Math.max(12, Math.min(48, columns - 50 - barWidth, Math.max(...shown.map((i) => i.name.length), 12)));
  const lines = shown.map((i) => {
    const name = fit(escapeLine(i.name), nameWidth);
    if (i.total === 0 && i.done === 0) return `  ${name}  ${escapeLine(i.status || 'working…')}`;
    const rate = rateOf(i.done - i.cached, i.startedAt, t);
    const eta = rate && i.total ? `  ETA ${humanDuration((i.total - i.done) / rate)}` : '';
    if (!i.sized) return `  ${name}  ${humanBytes(i.done)}${rate ? `  ${humanBytes(rate)}/s` : ''}`;
    const size = `${humanBytes(i.done)}/${humanBytes(i.total)}`;
    return `  ${name}  ${bar(i.done, i.total, barWidth)} ${size}${rate ? `  ${humanBytes(rate)}/s` : ''}${eta}`;
  });
  const rate = rateOf(p.bytesDone - p.bytesCached, p.startedAt, t);
  const more = p.active.length - shown.length;
  const bytes = !p.bytes ? '' : p.bytesSized ? `  ${bar(p.bytesDone, p.bytes, barWidth)} ${humanBytes(p.bytesDone)}/${humanBytes(p.bytes)}` : `  ${humanBytes(p.bytesDone)}`;
  const eta = rate && p.bytes > p.bytesDone ? `  ETA ${humanDuration((p.bytes - p.bytesDone) / rate)}` : '';
  lines.push(
    `${p.name || 'total'}: ${counts(p)}${p.failed ? ` (${p.failed} failed)` : ''}${bytes}${rate ? `  ${humanBytes(rate)}/s` : ''}${eta}${more > 0 ? `  (+${more} more)` : ''}`,
  );
  return lines.map((l) => (l.length > columns - 1 ? l.slice(0, columns - 1) : l));
}

function ttyRenderer(stream: NodeJS.WritableStream & { columns?: number }, now: () => number): Renderer {
  let drawn = 0;
  let lastDraw = 0;
  let timer: NodeJS.Timeout | undefined;
  let latest: PhaseState | undefined;
  const erase = () => {
    // CSI 0 A moves one line on most terminals: only move up when there is a line above.
    if (drawn) stream.write(`\r${drawn > 1 ? `\x1b[${drawn - 1}A` : ''}\x1b[J`);
    drawn = 0;
  };
  const draw = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    lastDraw = now();
    erase();
    if (!latest) return;
    const lines = frameLines(latest, lastDraw, stream.columns || 80);
    stream.write(lines.join('\n'));
    drawn = lines.length;
  };
  return {
    changed(p) {
      latest = p;
      if (now() - lastDraw >= REDRAW_MS) draw();
      // A trailing redraw so the last change shows even when nothing follows it.
      else if (!timer) timer = setTimeout(draw, REDRAW_MS).unref();
    },
    itemEnded() {},
    log(message) {
      erase();
      stream.write(message + '\n');
      if (latest) draw();
    },
    phaseEnded(p) {
      if (timer) clearTimeout(timer);
      timer = undefined;
      erase();
      if (latest === p) latest = undefined;
      const secs = (now() - p.startedAt) / 1000;
      if (p.name || p.itemsDone + p.failed) {
        const cached = p.bytesCached ? `, ${humanBytes(p.bytesCached)} from the cache` : '';
        stream.write(`${p.name || 'total'}: ${counts(p)}${failedText(p)}${p.bytes ? `, ${humanBytes(p.bytesDone)}${cached}` : ''} in ${humanDuration(secs)}\n`);
      }
    },
  };
}
