/**
 * The images a GitLab runner's `config.toml` makes the runner pull (docs.gitlab.com/runner/configuration/advanced-configuration):
 * `[runners.docker]` (and `[runners.kubernetes]`) `image` and `helper_image`, `services = [...]`
 * (strings, or inline tables whose `name` is the image), and each `[[runners.docker.services]]`
 * table's `name`. `allowed_images`/`allowed_services` are patterns, no pulls. Each string is given
 * with its place in the text, so `rewrite manifests` can replace it and keep every other byte.
 * Shared by `audit` (scan.ts) and `rewrite manifests` (rewrite/runner-config.ts).
 */
import path from 'node:path';

export interface RunnerImage {
  /** 1-based line of the string. */
  line: number;
  /** The string's characters in the text (inside the quotes). */
  start: number;
  end: number;
  value: string;
  /** `runners.docker.services`, `runners.docker.image`… */
  key: string;
  /** A basic string with a `\` escape: its text is not its value as written, so it is not rewritten in place. */
  escaped: boolean;
}

/**
 * A runner's configuration: a file named config.toml with a `[[runners]]` table. Blanks are TOML's
 * (space, tab): a `\s*` crossed line breaks and was retried from every line (a config.toml of
 * 100 000 blank lines took 36 s).
 */
export function isRunnerConfig(file: string, text: string): boolean {
  return path.basename(file) === 'config.toml' && /^[ \t]*\[\[[ \t]*runners[ \t]*\]\]/m.test(text);
}

/** At most this many images are read from one file, an array at most this long (a hostile file is bounded). */
export const MAX_RUNNER_IMAGES = 1024;
const MAX_ARRAY = 64 * 1024;
const EXECUTOR_TABLE = /^runners\.(?:docker|kubernetes)$/;
const SERVICE_TABLE = /^runners\.(?:docker|kubernetes)\.services$/;

/** The images of a runner configuration, in order. */
export function runnerImages(text: string): RunnerImage[] {
  const out: RunnerImage[] = [];
  let table = '';
  let line = 1;
  let i = 0;
  while (i < text.length && out.length < MAX_RUNNER_IMAGES) {
    const eol = text.indexOf('\n', i);
    const end = eol < 0 ? text.length : eol;
    const raw = text.slice(i, end);
    const header = /^\s*\[\[?([^\]]*)\]/.exec(raw);
    const kv = header ? undefined : /^\s*([A-Za-z0-9_-]+)\s*=\s*/.exec(raw);
    if (header) table = header[1].replace(/["\s]/g, '');
    else if (kv) {
      const key = kv[1];
      const from = i + kv[0].length;
      const single = (EXECUTOR_TABLE.test(table) && (key === 'image' || key === 'helper_image')) || (SERVICE_TABLE.test(table) && key === 'name');
      if (single) {
        const s = stringAt(text, from, line);
        if (s) out.push({ ...s, key: `${table}.${key}` });
      } else if (EXECUTOR_TABLE.test(table) && key === 'services' && text[from] === '[') {
        const arr = serviceStrings(text, from, line, `${table}.services`);
        out.push(...arr.images.slice(0, MAX_RUNNER_IMAGES - out.length));
        // A multi-line array: go on after it.
        const next = text.indexOf('\n', arr.end);
        line += countLines(text, i, next < 0 ? text.length : next);
        if (next < 0) break;
        i = next + 1;
        continue;
      }
    }
    if (eol < 0) break;
    i = eol + 1;
    line++;
  }
  return out;
}

function countLines(text: string, from: number, to: number): number {
  let n = 0;
  for (let k = text.indexOf('\n', from); k >= 0 && k < to; k = text.indexOf('\n', k + 1)) n++;
  return n + 1;
}

/** The TOML string starting at `at` (basic `"…"` or literal `'…'`, on one line), or undefined. */
function stringAt(text: string, at: number, line: number): Omit<RunnerImage, 'key'> | undefined {
  const q = text[at];
  if (q !== '"' && q !== "'") return undefined;
  let j = at + 1;
  let escaped = false;
  while (j < text.length && text[j] !== q && text[j] !== '\n') {
    if (q === '"' && text[j] === '\\') {
      escaped = true;
      j += 2;
    } else j++;
  }
  if (text[j] !== q) return undefined;
  return { line, start: at + 1, end: j, value: text.slice(at + 1, j), escaped };
}

/**
 * `services = [ "postgres:16", { name = "redis:7.2", alias = "cache" } ]`, over lines too: the
 * array's strings and its inline tables' `name`s; `end`: where the array ends.
 */
function serviceStrings(text: string, from: number, line: number, key: string): { images: RunnerImage[]; end: number } {
  const images: RunnerImage[] = [];
  let depth = 0;
  let braces = 0;
  let j = from;
  const stop = Math.min(text.length, from + MAX_ARRAY);
  while (j < stop) {
    const c = text[j];
    if (c === '"' || c === "'") {
      const s = stringAt(text, j, line);
      if (!s) return { images, end: j };
      const before = text.slice(Math.max(from, j - 64), j);
      if (depth === 1 && (braces === 0 || /(?:^|[{,\s])name\s*=\s*$/.test(before))) images.push({ ...s, key });
      j = s.end + 1;
      continue;
    }
    if (c === '#') {
      const nl = text.indexOf('\n', j);
      j = nl < 0 ? text.length : nl;
      continue;
    }
    if (c === '\n') line++;
    else if (c === '[') depth++;
    else if (c === ']' && --depth === 0) return { images, end: j + 1 };
    else if (c === '{') braces++;
    else if (c === '}') braces--;
    j++;
  }
  return { images, end: j };
}
