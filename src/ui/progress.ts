import { useColor } from './output.js';

/**
 * Progress on stderr: a redrawn bar on a TTY, plain lines otherwise (CI logs, pipes), nothing
 * with --json or --quiet. Core code receives a Progress and never prints itself.
 */
export interface Progress {
  /** A task with a known total in bytes (0 = unknown). */
  start(label: string, total: number): ProgressTask;
  log(message: string): void;
  done(): void;
}

export interface ProgressTask {
  advance(bytes: number): void;
  finish(message?: string): void;
}

export const silentProgress: Progress = {
  start: () => ({ advance() {}, finish() {} }),
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

export function createProgress(opts: { json?: boolean; quiet?: boolean } = {}): Progress {
  if (opts.json || opts.quiet) return { ...silentProgress, log: (m) => (opts.quiet ? undefined : process.stderr.write(m + '\n')) };
  const tty = Boolean(process.stderr.isTTY) && process.env.TERM !== 'dumb' && !process.env.CI;
  let total = 0;
  let done = 0;
  let tasks = 0;
  let finished = 0;
  let lastDraw = 0;
  const color = useColor();
  const draw = (force = false) => {
    if (!tty) return;
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const width = 30;
    const frac = total ? Math.min(1, done / total) : 0;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const text = `[${bar}] ${humanBytes(done)}/${humanBytes(total)}  ${finished}/${tasks}`;
    process.stderr.write(`\r${color ? '\x1b[2K' : ''}${text}`);
  };
  // Logs and pipes get one line per item for the first few, then a summary line at most every
  // 10 s, so a mirror of 60 000 packages does not write 60 000 lines.
  const PER_ITEM_LINES = 20;
  let lastSummary = 0;
  const plainLine = (label: string, message: string) => {
    if (finished <= PER_ITEM_LINES) {
      process.stderr.write(`${label}: ${message}\n`);
      return;
    }
    const now = Date.now();
    if (now - lastSummary < 10_000) return;
    lastSummary = now;
    process.stderr.write(`… ${finished}/${tasks} done, ${humanBytes(done)} of ${humanBytes(total)}\n`);
  };
  const clear = () => {
    if (tty) process.stderr.write(color ? '\r\x1b[2K' : '\r' + ' '.repeat(80) + '\r');
  };
  return {
    start(label, t) {
      total += t;
      tasks++;
      draw();
      return {
        advance(b) {
          done += b;
          draw();
        },
        finish(message) {
          finished++;
          if (!tty && message) plainLine(label, message);
          draw();
        },
      };
    },
    log(message) {
      clear();
      process.stderr.write(message + '\n');
      draw(true);
    },
    done() {
      clear();
      if (!tty && finished > PER_ITEM_LINES) process.stderr.write(`${finished}/${tasks} done, ${humanBytes(done)}\n`);
    },
  };
}
