import { trimTrailing } from '../ui/escape.js';
import { isMap, isScalar, isSeq, type Document, type Node as YamlNode } from 'yaml';
/**
 * A Compose `.env` file read as compose-go's dotenv parser reads it (compose-spec/compose-go
 * dotenv/parser.go): `[export] NAME=value` or `NAME: value`; `#` starts a comment line; an unquoted
 * value runs to the end of the line, cut at ` #` (an inline comment) and trimmed at its end; a
 * value in `'…'` is taken as written but for `\'`, one in `"…"` has the shell escapes undone
 * (`unescapeDoubleQuoted`), and either may run over several lines; a later assignment of a name wins. `${VAR}`s in unquoted and
 * double-quoted values are expanded by Compose: `raw` keeps them.
 */
export interface ComposeEnvEntry {
  name: string;
  /** 1-based line of the name. */
  line: number;
  /** The value as Compose reads it (quotes removed, escapes of double quotes undone; `${…}` not expanded). */
  value: string;
  /** The value's text in the file: [start, end) (inside the quotes). */
  start: number;
  end: number;
  quote: '' | '"' | "'";
}

/** compose-go's key characters: letters, digits, `_ . - [ ]`. */
const KEY = /^[\p{L}\p{N}_.\-[\]]+$/u;
/** compose-go's isSpace: blanks but no line break. */
const BLANK = /[\t\v\f\r \u0085\u00a0]/;

export function composeEnvEntries(text: string): ComposeEnvEntry[] {
  const out: ComposeEnvEntry[] = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  const skipBlanks = () => {
    while (i < n && BLANK.test(text[i])) i++;
  };
  while (i < n) {
    // A statement starts at the next non-space character; a `#` there comments out its line.
    while (i < n && /\s/.test(text[i])) {
      if (text[i] === '\n') line++;
      i++;
    }
    if (i >= n) break;
    const eol = text.indexOf('\n', i) < 0 ? n : text.indexOf('\n', i);
    if (text[i] === '#') {
      i = eol;
      continue;
    }
    if (text.startsWith('export', i) && BLANK.test(text[i + 6] ?? '')) {
      i += 6;
      skipBlanks();
    }
    const sep = /[=:\n]/.exec(text.slice(i, eol + 1));
    // Trimmed in linear time (a `[…]+$` regex retries from every blank of a long run: quadratic).
    const key = sep ? trimTrailing(text.slice(i, i + sep.index), '\t\v\f\r \u0085\u00a0') : '';
    // `NAME` alone is inherited from the shell; a line that is no assignment is skipped (compose-go refuses the file).
    if (!sep || sep[0] === '\n' || !KEY.test(key)) {
      i = eol;
      continue;
    }
    const nameLine = line;
    i += sep.index + 1;
    skipBlanks();
    const q = text[i];
    if (q === '"' || q === "'") {
      // compose-go: a backslash escapes the character after it (so `\\"` ends the value, `\"` does
      // not); an escaped quote is kept without its backslash, any other pair as written.
      let close = -1;
      let kept = '';
      for (let j = i + 1, from = j; j < n; j++) {
        if (text[j] === '\\' && j + 1 < n) {
          if (text[j + 1] === q) {
            kept += text.slice(from, j);
            from = j + 1;
          }
          j++;
        } else if (text[j] === q) {
          kept += text.slice(from, j);
          close = j;
          break;
        }
      }
      if (close < 0) break;
      const inner = text.slice(i + 1, close);
      const value = q === '"' ? unescapeDoubleQuoted(kept) : kept;
      out.push({ name: key, line: nameLine, value, start: i + 1, end: close, quote: q });
      for (const c of inner) if (c === '\n') line++;
      i = close + 1;
      // The rest of the closing quote's line (a comment) is no statement.
      const rest = text.indexOf('\n', i);
      i = rest < 0 ? n : rest;
      continue;
    }
    const end = eol;
    let raw = text.slice(i, end);
    const comment = raw.indexOf(' #');
    if (comment >= 0) raw = raw.slice(0, comment);
    raw = raw.trimEnd();
    out.push({ name: key, line: nameLine, value: raw, start: i, end: i + raw.length, quote: '' });
    i = end;
  }
  return out;
}

/**
 * compose-go's `expandEscapes` of a double-quoted value (docs.docker.com "Syntax for environment
 * files": `\\n`, `\\r`, `\\t`, `\\\\` and the other shell escapes): `\\a \\b \\f \\n \\r \\t \\v \\\\ \\"` are
 * the characters they name, `\\0` and three octal digits the character of that code (up to 255),
 * `\\$` a literal `$` (written `$$`, which interpolation reads as `$`); anything else as written.
 */
function unescapeDoubleQuoted(s: string): string {
  const named: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '"': '"', '\\': '\\', $: '$$' };
  return s.replace(/\\(?:[abcfnrtv$"\\]|0\d{0,3})/g, (m) => {
    if (m[1] !== '0') return named[m[1]] ?? m;
    const octal = /^[0-7]{3}$/.test(m.slice(2)) ? parseInt(m.slice(2), 8) : 256;
    // Go rewrites `\0` to `\` before unquoting and keeps that form when it is no octal escape.
    return octal < 256 ? String.fromCharCode(octal) : `\\${m.slice(2)}`;
  });
}

/** What interpolation reads of an environment: a value by name (a Map, or a few values over one without copying it). */
export type EnvLookup = Pick<ReadonlyMap<string, string>, 'get'>;

/** The longest value a Compose interpolation yields (an image reference is at most a few hundred characters). */
export const MAX_INTERPOLATED = 4096;

/**
 * A Compose value interpolated as `docker compose` does (`$VAR`, `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:+alt}`, `${VAR:?err}`, `$$`), from `env`; the variables neither set nor
 * defaulted are left as written and named in `unresolved`, and so are those `setUnknown` has (set,
 * to a value not known here: their defaults do not apply). A default may itself hold `${…}`
 * (`${APP:-${DEFAULT_APP}}`): its braces are matched as compose-go matches them, and it is
 * interpolated in turn (was cut at the first `}`, and `${DEF}` reported as what is pulled).
 */
export function interpolateCompose(value: string, env: EnvLookup, setUnknown?: { has(name: string): boolean }): { value: string; unresolved: string[]; tooLong?: true } {
  const unresolved: string[] = [];
  // The result is bounded: `${A}` written 2000 times with a 1 MB `A` is 2 GB (the audit died of
  // "Invalid string length"). Past the bound the value is left as written.
  if (value.length > MAX_INTERPOLATED) return { value, unresolved: [], tooLong: true };
  const tooLong = new Error('too long');
  const run = (s: string): string => {
    let out = '';
    let i = 0;
    while (i < s.length) {
      const at = s.indexOf('$', i);
      if (at < 0) {
        out += s.slice(i);
        break;
      }
      out += s.slice(i, at);
      i = at;
      if (s[i + 1] === '$') {
        out += '$';
        i += 2;
        continue;
      }
      let name: string | undefined;
      let op: string | undefined;
      let arg: string | undefined;
      let all: string;
      if (s[i + 1] === '{') {
        const close = closingBrace(s, i);
        const m = close < 0 ? null : /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(s.slice(i + 2, close));
        if (!m) {
          out += '$';
          i++;
          continue;
        }
        [, name, op, arg] = m;
        all = s.slice(i, close + 1);
      } else {
        const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i + 1, i + 1 + MAX_INTERPOLATED));
        if (!m) {
          out += '$';
          i++;
          continue;
        }
        name = m[0];
        all = `$${name}`;
      }
      i += all.length;
      if (setUnknown?.has(name)) {
        // Set, to a value not known here: no default applies, and what it gives is unknown (as written).
        unresolved.push(name);
        out += all;
        if (out.length > MAX_INTERPOLATED) throw tooLong;
        continue;
      }
      const set = env.get(name);
      const has = set !== undefined && (set !== '' || !op?.startsWith(':'));
      if (op === ':-' || op === '-') out += has ? (set as string) : run(arg ?? '');
      else if (op === ':+' || op === '+') out += has ? run(arg ?? '') : '';
      else if (has) out += set as string;
      else {
        unresolved.push(name);
        out += all;
      }
      if (out.length > MAX_INTERPOLATED) throw tooLong;
    }
    if (out.length > MAX_INTERPOLATED) throw tooLong;
    return out;
  };
  try {
    return { value: run(value), unresolved };
  } catch (err) {
    if (err !== tooLong) throw err;
    return { value, unresolved: [], tooLong: true };
  }
}

/** The index of the `}` closing the `${` at `at` (each `${` inside opens one more), as compose-go finds it; -1: none. */
function closingBrace(s: string, at: number): number {
  let open = 0;
  for (let i = at; i < s.length; i++) {
    if (s[i] === '}') {
      if (--open === 0) return i;
    } else if (s[i] === '$' && s[i + 1] === '{') {
      open++;
      i++;
    }
  }
  return -1;
}


/**
 * The variables a Compose `.env` file gives the Compose file, as compose-go reads them: an unquoted
 * or double-quoted value has its `${VAR}`s interpolated from the names set above it in the file
 * (then from the shell, unknown here), a single-quoted one is taken as written (docs.docker.com,
 * "Syntax for environment files"; compose-go dotenv). A value that still holds a variable set
 * neither above it nor by a default depends on the shell Compose runs in: it is in `unknown`, with
 * why, never in `vars` as written (`REGISTRY=${HOST}:5000` was taken as the text `${HOST}:5000`).
 * The one reader of `.env` values for audit and rewrite (rewrite/dotenv.ts).
 */
export function composeDotenv(text: string, file = '.env'): { vars: Map<string, string>; unknown: Map<string, string> } {
  return readDotenvEntries(composeEnvEntries(text), file);
}

/**
 * `composeDotenv` over entries already parsed (all of a file's, or the ones `dotenvSources` found, in
 * file order); `override` reads the entry at that index as the literal `value` (what rewrite tries).
 */
export function readDotenvEntries(entries: readonly ComposeEnvEntry[], file = '.env', override?: { index: number; value: string }, base?: { vars: Map<string, string>; unknown: Map<string, string> }): { vars: Map<string, string>; unknown: Map<string, string> } {
  // `base`: what the env files read before this one set (docker compose reads its --env-files in order, each filled in from those above);
  // read into, not copied (a command's 32 env files of 300 000 values each copied the whole so far once per file).
  const vars = base?.vars ?? new Map<string, string>();
  const unknown = base?.unknown ?? new Map<string, string>();
  entries.forEach((e, index) => {
    vars.delete(e.name);
    unknown.delete(e.name);
    if (override?.index === index) {
      vars.set(e.name, override.value);
      return;
    }
    if (e.quote === "'" || !e.value.includes('$')) {
      vars.set(e.name, e.value);
      return;
    }
    // A name set above to a value not known here is set: a default written with it does not apply.
    const { value, unresolved, tooLong } = interpolateCompose(e.value, vars, unknown);
    if (tooLong) unknown.set(e.name, `${e.name} in ${file}:${e.line} is longer than ${MAX_INTERPOLATED} characters once interpolated`);
    else if (unresolved.length) {
      const from = [...new Set(unresolved)].map((u) => (unknown.has(u) ? unknown.get(u)! : `\${${u}} is set neither above it in ${file} nor by a default (the shell Compose runs in may set it)`));
      unknown.set(e.name, `${e.name} in ${file}:${e.line} is ${e.value}: ${from.join('; ')}`);
    } else vars.set(e.name, value);
  });
  return { vars, unknown };
}

/** The names a value refers to (`$X`, `${X…}`, a default's too); none in a single-quoted one. */
export function namesIn(e: { value: string; quote: string }): string[] {
  return e.quote === "'" ? [] : [...new Set([...e.value.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]))];
}

/**
 * The indices of the entries whose values make up `names` as the Compose file sees them (each
 * name's last assignment, then, for a value filled in from names set above it, the assignment of
 * each of those it read), in file order, at most `cap` of them; `more` when there were more.
 */
export function dotenvSources(entries: readonly ComposeEnvEntry[], names: readonly string[], cap: number, byName = entriesByName(entries)): { indices: number[]; more: boolean } {
  const found = new Set<number>();
  const lastBefore = (name: string, before: number) => {
    const at = byName.get(name) ?? [];
    let lo = 0;
    let hi = at.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (at[mid] < before) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 ? at[lo - 1] : -1;
  };
  const queue = names.map((n) => lastBefore(n, entries.length)).filter((i) => i >= 0);
  let more = false;
  // Bounded whatever the file: past `cap` entries (or a queue of more names than that) it stops.
  for (let q = 0; q < queue.length; q++) {
    const i = queue[q];
    if (found.has(i)) continue;
    if (found.size >= cap || queue.length > 4 * cap) {
      more = true;
      break;
    }
    found.add(i);
    for (const n of namesIn(entries[i])) {
      const j = lastBefore(n, i);
      if (j >= 0) queue.push(j);
    }
  }
  return { indices: [...found].sort((a, b) => a - b), more };
}

/** Each name's entry indices, ascending (for `dotenvSources`, built once per file). */
export function entriesByName(entries: readonly ComposeEnvEntry[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  entries.forEach((e, i) => {
    const list = out.get(e.name);
    if (list) list.push(i);
    else out.set(e.name, [i]);
  });
  return out;
}

/** A file a Compose service's `env_file:` names, as written (relative to the Compose file's directory). */
export interface ComposeEnvFileRef {
  /** The Compose file (scan-relative) and the line of the name. */
  from: string;
  line: number;
  path: string;
  /** `format: raw`: Compose passes the values as written (docker's `--env-file` reading), no variable filled in, no quotes removed. */
  raw?: boolean;
  /** A name with a variable (`config/${STAGE}.env`): Compose fills it in from the project environment; set, the service's key path and the names its own `environment:` sets (which never fill it). */
  templated?: { keyPath: string; serviceEnv: string[] };
  /** A templated name filled in: the name as written and the env it was filled from. */
  filledFrom?: { written: string; from: string };
  /** The service naming it, with what its `environment:` sets (compose-go 2.10 fills the file's values from it after the project env). */
  service?: ServiceEnv;
}

/** A Compose service's `environment:` as written: each name with its value (undefined for a name alone, `- DEBUG`, which takes the project env's). */
export interface ServiceEnv {
  name: string;
  env: ReadonlyMap<string, string | undefined>;
}

/** The names a service's `environment:` sets (a map, or a list of `NAME=value` / `NAME`) with their values as written, at most 256. */
function serviceEnvOf(service: unknown): Map<string, string | undefined> {
  const env = isMap(service) ? service.get('environment', true) : undefined;
  const pairs: Array<[string, string | undefined]> = isMap(env)
    ? env.items.map((p) => [isScalar(p.key) ? String(p.key.value) : '', isScalar(p.value) && p.value.value !== null ? String(p.value.value) : undefined])
    : isSeq(env)
      ? env.items.map((x): [string, string | undefined] => {
          const t = isScalar(x) ? String(x.value) : '';
          const eq = t.indexOf('=');
          return eq < 0 ? [t, undefined] : [t.slice(0, eq), t.slice(eq + 1)];
        })
      : [];
  return new Map(pairs.filter(([n]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n)).slice(0, 256));
}

/**
 * The files the services of a Compose document name in `env_file:` (a string, a list of strings, or
 * a list of `{path, required, format}`; compose-spec "env_file"): Compose reads each as an env file
 * whatever its name. A name with a variable in it (`${STAGE}.env`) is marked `templated`: Compose
 * fills it in from the project environment (the `.env`, or the command line's env files), never
 * from the service's own `environment:` (scan.ts composeEnvFileNames). At most `cap` of them.
 */
export function composeEnvFilesOf(doc: Document, from: string, lineOf: (n: YamlNode) => number, cap = 256): ComposeEnvFileRef[] {
  const out: ComposeEnvFileRef[] = [];
  const services = isMap(doc.contents) ? doc.contents.get('services', true) : undefined;
  if (!isMap(services)) return out;
  for (const s of services.items) {
    const named = isMap(s.value) ? s.value.get('env_file', true) : undefined;
    const items = isSeq(named) ? named.items : named ? [named] : [];
    const service: ServiceEnv | undefined = items.length ? { name: isScalar(s.key) ? String(s.key.value) : '?', env: serviceEnvOf(s.value) } : undefined;
    items.forEach((item, i) => {
      const node = isMap(item) ? item.get('path', true) : item;
      if (out.length >= cap || !isScalar(node) || typeof node.value !== 'string' || !node.value) return;
      const raw = isMap(item) && String(item.get('format') ?? '') === 'raw';
      const keyPath = `services.${isScalar(s.key) ? String(s.key.value) : '?'}.env_file${isSeq(named) ? `[${i}]` : ''}${isMap(item) ? '.path' : ''}`;
      const templated = node.value.includes('$') ? { templated: { keyPath, serviceEnv: [...service!.env.keys()] } } : {};
      out.push({ from, line: lineOf(node as YamlNode), path: node.value, ...(raw ? { raw } : {}), ...templated, ...(service!.env.size ? { service } : {}) });
    });
  }
  return out;
}

/**
 * What of an env file `env_file:` names reaches the container: each name's last assignment (Compose
 * reads the file into one map), less the names the service's own `environment:` sets with a value,
 * which win over env_file (docs.docker.com, "Environment variables precedence in Docker Compose",
 * https://docs.docker.com/compose/how-tos/environment-variables/envvars-precedence/). A name written
 * alone there (`- DEBUG`) takes the shell's value, if any: not known to win, so not left out.
 * `services`: the services naming the file (their `environment:`); one with none wins nothing.
 * Each kept entry with the services that name it and set it themselves (not all of them).
 */
export function containerEnvEntries(entries: readonly ComposeEnvEntry[], services: ReadonlyArray<ServiceEnv | undefined>): Array<{ entry: ComposeEnvEntry; overriddenIn: string[] }> {
  const last = new Map<string, ComposeEnvEntry>();
  for (const e of entries) {
    last.delete(e.name);
    last.set(e.name, e);
  }
  const out: Array<{ entry: ComposeEnvEntry; overriddenIn: string[] }> = [];
  for (const e of last.values()) {
    const overriddenIn = services.flatMap((s) => (s?.env.get(e.name) !== undefined ? [s!.name] : []));
    if (services.length && overriddenIn.length === services.length) continue;
    out.push({ entry: e, overriddenIn });
  }
  return out.sort((a, b) => a.entry.line - b.entry.line);
}
