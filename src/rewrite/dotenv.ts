import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { composeEnvEntries } from '../audit/compose-env.js';
import { interpolateCompose } from '../audit/scan.js';
import type { Replacement, TextEdit, Unmapped } from './edits.js';

/**
 * The `.env` beside Compose files: a `${VAR}` it sets in an image's registry or repository
 * (`APP_IMAGE=quay.io/acme/app:1.4`, `REGISTRY=quay.io` under `${REGISTRY}/acme/app:${TAG}`) is
 * rewritten where it is set, its value only (quotes, comments, every other byte kept). A
 * variable several images use moves only when every one of them asks the same value of it;
 * otherwise nothing in the `.env` moves and each image is named.
 */

/** The `.env` beside a Compose file (Compose's default): what its `${VAR}`s are, and what the images using them ask of it. */
export interface ComposeEnv {
  file: string;
  text: string;
  vars: Map<string, string>;
  demands: EnvDemand[];
}

/** What one image asks of one `.env` variable: a new value (`want`), or to keep the one set. */
export interface EnvDemand {
  name: string;
  want: string;
  /** The image: its file, line and where, as written and as pulled. */
  file: string;
  line: number;
  where: string;
  written: string;
  pulled: string;
}

export function composeEnvOf(file: string, text: string): ComposeEnv {
  const entries = composeEnvEntries(text);
  return { file, text, vars: new Map(entries.map((e) => [e.name, e.value])), demands: [] };
}

/** The `.env` variables an image reference uses (a default's or alternative's too). */
function usedVars(written: string, env: ComposeEnv): string[] {
  return [...new Set([...written.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]))].filter((n) => env.vars.has(n));
}

/**
 * The demands of a Compose image that uses `.env` variables: to pull `mirror` (undefined: keep
 * what it pulls now), the first variable in its registry or repository whose value alone can make
 * it pull `mirror` changes to that value, and every other one it uses keeps its value. Whether one
 * was found: when not, the caller reports the image.
 */
export function demandEnv(env: ComposeEnv, image: { file: string; line: number; where: string; written: string; pulled: string }, mirror: string | undefined, movable: string[]): boolean {
  const used = usedVars(image.written, env);
  let moved: { name: string; want: string } | undefined;
  if (mirror !== undefined) {
    for (const name of movable.filter((m) => used.includes(m))) {
      const want = solveFor(image.written, env.vars, name, mirror);
      if (want !== undefined) {
        moved = { name, want };
        break;
      }
    }
    if (!moved) return false;
  }
  for (const name of used) env.demands.push({ ...image, name, want: moved?.name === name ? moved.want : env.vars.get(name)! });
  return true;
}

/** The value of `name` that makes `written` interpolate to `target` (the others as set), if one does. */
function solveFor(written: string, vars: ReadonlyMap<string, string>, name: string, target: string): string | undefined {
  const mark = '\u0000';
  const { value, unresolved } = interpolateCompose(written, new Map([...vars, [name, mark]]));
  if (unresolved.length || value.split(mark).length !== 2) return undefined;
  const [before, after] = value.split(mark);
  if (!target.startsWith(before) || !target.endsWith(after) || target.length < before.length + after.length) return undefined;
  const want = target.slice(before.length, target.length - after.length);
  // `${NAME:-x}` with NAME set empty takes the default: a value must be non-empty to be the one pulled.
  if (!want || interpolateCompose(written, new Map([...vars, [name, want]])).value !== target) return undefined;
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
  const byName = new Map<string, EnvDemand[]>();
  for (const d of env.demands) {
    const list = byName.get(d.name);
    if (list) list.push(d);
    else byName.set(d.name, [d]);
  }
  const entries = composeEnvEntries(env.text);
  const base = path.basename(env.file);
  let regular: boolean | undefined;
  for (const [name, demands] of byName) {
    const current = env.vars.get(name)!;
    const wants = [...new Set(demands.map((d) => d.want))];
    if (wants.length === 1 && wants[0] === current) continue;
    const refuse = (why: (d: EnvDemand) => string) => {
      for (const d of demands) out.unmapped.push({ file: d.file, line: d.line, kind: 'image', ref: d.written, reason: why(d), where: d.where });
    };
    const asks = (d: EnvDemand) => `${d.file}:${d.line} ${d.where.replace(/ services\..*$/, '')} ${d.want === current ? `needs it kept (pulls ${d.pulled})` : `needs ${name}=${d.want}`}`;
    if (wants.length > 1) {
      refuse(() => `${name} in ${base} is shared by images that need different values of it (${demands.map(asks).join('; ')}): nothing in ${base} was changed; give each image its own variable`);
      continue;
    }
    const entry = entries.filter((e) => e.name === name).at(-1)!;
    const written = env.text.slice(entry.start, entry.end);
    // The new value must read back as itself under the entry's quoting (compose-go: `$` expands outside single quotes, `\\` escapes in double ones).
    const plain = !/[$\\\n]/.test(written) && (entry.quote === "'" ? !/['\n]/.test(wants[0]) : !/[$\\"\n]/.test(wants[0]) && (entry.quote === '"' || !/[\s#']/.test(wants[0])));
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
