import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { composeEnvEntries, dotenvSources, entriesByName, interpolateCompose, namesIn, readDotenvEntries, type ComposeEnvEntry } from '../audit/compose-env.js';
import type { Replacement, TextEdit, Unmapped } from './edits.js';

/**
 * The `.env` beside Compose files, read as Compose reads it (audit/compose-env.ts, the one reader
 * audit uses too): a value is filled in from the names set above it, so `REGISTRY=${HOST}:5000`
 * is `registry.vendor.io:5000` when `HOST=registry.vendor.io` is above it. A `${VAR}` in an image's
 * registry or repository (`APP_IMAGE=quay.io/acme/app:1.4`, `REGISTRY=quay.io` under
 * `${REGISTRY}/acme/app:${TAG}`) is rewritten on the one line whose value alone makes the image
 * pull the mirror's name: its own, or a line it is filled in from (`HOST=` above), its value only
 * (quotes, comments, every other byte kept). A line several images depend on moves only when every
 * one of them asks the same value of it; otherwise nothing in the `.env` moves and each image is
 * named. An image made of several lines none of which alone can name the mirror is named, with why.
 */

/** The `.env` beside a Compose file (Compose's default): its lines, its values, and what the images using them ask of it. */
export interface ComposeEnv {
  file: string;
  text: string;
  entries: ComposeEnvEntry[];
  byName: Map<string, number[]>;
  /** The values Compose interpolates the Compose file with; `unknown`: the names whose value needs the shell, with why. */
  vars: Map<string, string>;
  unknown: Map<string, string>;
  demands: EnvDemand[];
  /** Why nothing in this `.env` may move (an image made of more lines than are followed). */
  frozen?: string;
}

/** What one image asks of one `.env` line (`index` into `entries`): a new value (`want`), or to keep the one written. */
export interface EnvDemand {
  index: number;
  want: string;
  /** The image: its file, line and where, as written and as pulled. */
  file: string;
  line: number;
  where: string;
  written: string;
  pulled: string;
}

/** The `.env` lines one image is made of that are followed (a chain longer than this freezes the `.env`). */
const MAX_SOURCES = 32;

export function composeEnvOf(file: string, text: string): ComposeEnv {
  const entries = composeEnvEntries(text);
  const { vars, unknown } = readDotenvEntries(entries, path.basename(file));
  return { file, text, entries, byName: entriesByName(entries), vars, unknown, demands: [] };
}

/** The `.env` names an image reference uses (a default's or alternative's too). */
function usedVars(written: string, env: ComposeEnv): string[] {
  return [...new Set([...written.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]))].filter((n) => env.byName.has(n));
}

/** A line whose value is written out (no `$`, escape or line break): one ferry can replace. */
const literal = (env: ComposeEnv, e: ComposeEnvEntry) => !/[$\\\n]/.test(env.text.slice(e.start, e.end));

/**
 * The demands of a Compose image that uses `.env` variables: to pull `mirror` (undefined: keep
 * what it pulls now), the first written-out line among those its registry or repository is made
 * of (the `movable` names' own lines first, then those they are filled in from) whose value alone
 * makes it pull `mirror` changes to that value, and every other line it is made of keeps its
 * value. `ok: false` when none can: the caller reports the image, with `why` when the names are
 * filled in from other lines.
 */
export function demandEnv(env: ComposeEnv, image: { file: string; line: number; where: string; written: string; pulled: string }, mirror: string | undefined, movable: string[]): { ok: boolean; why?: string } {
  const used = usedVars(image.written, env);
  const base = path.basename(env.file);
  const { indices, more } = dotenvSources(env.entries, used, MAX_SOURCES, env.byName);
  if (more) {
    env.frozen ??= `${image.file}:${image.line} ${image.written} is made of more than ${MAX_SOURCES} lines of ${base} (each filled in from others): ferry follows no more, so nothing in ${base} was changed`;
    return { ok: false, why: env.frozen };
  }
  let moved: { index: number; want: string } | undefined;
  if (mirror !== undefined) {
    const own = movable.filter((m) => used.includes(m)).map((n) => env.byName.get(n)!.at(-1)!);
    const from = dotenvSources(env.entries, movable.filter((m) => used.includes(m)), MAX_SOURCES, env.byName).indices;
    for (const index of [...own, ...from.filter((i) => !own.includes(i))]) {
      const want = literal(env, env.entries[index]) ? solveFor(env, indices, index, image.written, mirror) : undefined;
      if (want !== undefined) {
        moved = { index, want };
        break;
      }
    }
    if (!moved) return { ok: false, why: own.length ? composedWhy(env, indices, own[0], image.written, mirror) : undefined };
  }
  for (const index of indices) env.demands.push({ ...image, index, want: moved?.index === index ? moved.want : env.entries[index].value });
  return { ok: true };
}

/**
 * Why an image whose variable is filled in from other `.env` lines cannot move: none of them alone
 * makes it pull the mirror's name (`REGISTRY=${REGISTRY_HOST}:5000`, the mirror on another port).
 * Undefined when the variable is written out (the caller's own words say it).
 */
function composedWhy(env: ComposeEnv, indices: number[], index: number, written: string, mirror: string): string | undefined {
  const e = env.entries[index];
  if (literal(env, e)) return undefined;
  const base = path.basename(env.file);
  const from = indices.filter((i) => i < index && namesIn(e).includes(env.entries[i].name));
  const want = solveFor(env, indices, index, written, mirror);
  const raw = env.text.slice(e.start, e.end);
  return `${e.name} in ${base}:${e.line} is ${raw}${from.length ? `, filled in from ${from.map((i) => `${env.entries[i].name} (${base}:${env.entries[i].line})`).join(', ')}` : ''}: no one line of ${base} can be set to make it pull ${mirror}, so nothing was changed${want !== undefined ? `; set ${e.name}=${want} there` : ''}`;
}

/** The value of line `index` that makes `written` interpolate to `target` (the other lines as written), if one does. */
function solveFor(env: ComposeEnv, indices: number[], index: number, written: string, target: string): string | undefined {
  const mark = '\u0000';
  const lines = indices.map((i) => env.entries[i]);
  const at = indices.indexOf(index);
  const pulls = (value: string) => {
    const read = readDotenvEntries(lines, path.basename(env.file), { index: at, value });
    return interpolateCompose(written, read.vars, read.unknown);
  };
  const { value, unresolved } = pulls(mark);
  if (unresolved.length || value.split(mark).length !== 2) return undefined;
  const [before, after] = value.split(mark);
  if (!target.startsWith(before) || !target.endsWith(after) || target.length < before.length + after.length) return undefined;
  const want = target.slice(before.length, target.length - after.length);
  // `${NAME:-x}` with NAME set empty takes the default: a value must be non-empty to be the one pulled.
  if (!want || pulls(want).value !== target) return undefined;
  return want;
}

/**
 * The `.env`'s edits: each variable whose images all ask one value of it gets that value where it
 * is set last (compose-go: the last assignment wins). A variable asked two values, set in a way
 * that cannot take the new one (a `$` in it, a multi-line or escaped value), or a `.env` that is
 * no regular file (a link, so the edit would land elsewhere) moves nothing, and each image is named.
 */
export async function settleComposeEnv(env: ComposeEnv): Promise<{ edits: TextEdit[]; replacements: Replacement[]; unmapped: Unmapped[] }> {
  const out = { edits: [] as TextEdit[], replacements: [] as Replacement[], unmapped: [] as Unmapped[] };
  const byIndex = new Map<number, EnvDemand[]>();
  for (const d of env.demands) {
    const list = byIndex.get(d.index);
    if (list) list.push(d);
    else byIndex.set(d.index, [d]);
  }
  const base = path.basename(env.file);
  let regular: boolean | undefined;
  for (const [index, demands] of byIndex) {
    const entry = env.entries[index];
    const { name, value: current } = entry;
    const wants = [...new Set(demands.map((d) => d.want))];
    if (wants.length === 1 && wants[0] === current) continue;
    const refuse = (why: (d: EnvDemand) => string) => {
      for (const d of demands) out.unmapped.push({ file: d.file, line: d.line, kind: 'image', ref: d.written, reason: why(d), where: d.where });
    };
    if (env.frozen) {
      refuse(() => env.frozen!);
      continue;
    }
    const asks = (d: EnvDemand) => `${d.file}:${d.line} ${d.where.replace(/ services\..*$/, '')} ${d.want === current ? `needs it kept (pulls ${d.pulled})` : `needs ${name}=${d.want}`}`;
    if (wants.length > 1) {
      refuse(() => `${name} in ${base} is shared by images that need different values of it (${demands.map(asks).join('; ')}): nothing in ${base} was changed (${name} is set at ${base}:${entry.line}); give each image its own variable`);
      continue;
    }
    const written = env.text.slice(entry.start, entry.end);
    // The new value must read back as itself under the entry's quoting (compose-go: `$` expands outside single quotes, `\\` escapes in double ones).
    const plain = literal(env, entry) && (entry.quote === "'" ? !/['\n]/.test(wants[0]) : !/[$\\"\n]/.test(wants[0]) && (entry.quote === '"' || !/[\s#']/.test(wants[0])));
    regular ??= await lstat(env.file).then((s) => s.isFile(), () => false);
    if (!plain || !regular) {
      refuse((d) => `${name} in ${base} (line ${entry.line}) is what Compose pulls it with, and ${!regular ? `${base} is no regular file (a link): it is not edited` : 'its value is not plain text ferry can replace'}; set ${name}=${d.want} there`);
      continue;
    }
    out.edits.push({ start: entry.start, end: entry.end, text: wants[0] });
    out.replacements.push({ file: env.file, line: entry.line, kind: 'image', old: current, new: wants[0], where: `${name} in ${base}, for ${[...new Set(demands.map((d) => `${path.basename(d.file)} ${d.where.replace(/^Compose service (\S+).*$/, '$1')}`))].join(', ')}` });
  }
  return out;
}
