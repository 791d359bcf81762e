import path from 'node:path';
import { isMap, type Document } from 'yaml';
import { composeDotenv, interpolateCompose, MAX_INTERPOLATED, type EnvLookup, type ServiceEnv } from './compose-env.js';
import { flagValue } from './embedded.js';
import { fluxUnknownWhy, type FluxSubstitutions } from './flux.js';
import { hostOfDestinationKey, referencesIn, type Reference, type ScannedFile } from './scan.js';

/**
 * A YAML string whose destination the deploy tool fills in from another file: a Compose file's
 * `environment: [API_URL=https://${API_HOST}/v1]` (Compose interpolates every value of the file
 * from the project's `.env`), a manifest's `url: https://${VENDOR_HOST}` that a Flux
 * Kustomization's `postBuild` substitutes. The scan records it as written; after the scan
 * (`applyVarScalars`) it is read again as the tool fills it in.
 */
export interface VarScalar {
  file: string;
  /** The line of the string's first character, and of its last. */
  line: number;
  lastLine: number;
  keyPath: string;
  written: string;
  imageCtx: boolean | 'container';
  /** The key that says what the value is (`LICENSE_SERVER`, `licenseServer`): a host the patterns may not tell from a dotted word. */
  key: string;
  /** A literal block (`|`): each of its lines is a file line. */
  literal: boolean;
  how: 'compose' | 'flux';
  /** A value of an env file a Compose file names in `env_file:`: Compose interpolates it with that Compose file's project environment. */
  composeFile?: string;
  /** With `composeFile`: the service naming the env file, whose `environment:` fills in what the project environment does not (compose-go 2.10). */
  service?: ServiceEnv;
}

/** What Compose interpolates a file of a directory with: the `.env` beside it (the project directory's), or the env files a command line names. */
export interface ComposeEnv {
  vars: EnvLookup;
  /** Where the values come from, in words (`deploy/.env`, `no .env beside it`). */
  from: string;
  /** Why the variables left unresolved are unknown. */
  why(unresolved: readonly string[]): string;
  /** Set: the command runs Compose with an env file the scan cannot read or name, so any variable may be set by it: each is unknown (this says why). */
  opaque?: string;
  /** Names the shell Compose runs in sets to a value not known here (`export IMAGE="app:${1}"`): set, so no default written applies; each is unknown. */
  setUnknown?: { has(name: string): boolean };
}

/** One way a Compose file is run: the env files a `docker compose` command line of the scan gives it (scan.ts composeRuns). */
export interface ComposeRun {
  composeFile: string;
  /** The env files it reads, in order (or why they are unknown): runs reading the same are one way. */
  key: string;
  env: ComposeEnv;
}

/** `value` interpolated as Compose does with `env`; an opaque env leaves every variable unknown. */
export function interpolateWith(value: string, env: ComposeEnv): ReturnType<typeof interpolateCompose> {
  // A name set to a value not known here (by the shell, or a .env value built from one) stays as written: its default does not apply.
  if (!env.opaque) return interpolateCompose(value, env.vars, env.setUnknown);
  const { unresolved, tooLong } = interpolateCompose(value, new Map());
  const all = [...value.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
  return { value, unresolved: all.length ? all : unresolved, ...(tooLong ? { tooLong } : {}) };
}

/**
 * What Compose fills an `env_file:` file's values in with (compose-go types/project.go
 * WithServicesEnvironmentResolved, since compose-go 2.10): the project environment first, then
 * the service's own `environment:` (each of its values interpolated from the project environment;
 * a name written alone takes the project environment's value). A service value not known here is
 * set all the same (its name's default does not apply), unknown, said why.
 */
export function withServiceEnv(env: ComposeEnv, service: ServiceEnv, composeFile: string): ComposeEnv {
  if (env.opaque) return env;
  const own = new Map<string, string>();
  const unknown = new Map<string, string>();
  for (const [name, written] of service.env) {
    if (written === undefined || env.vars.get(name) !== undefined || env.setUnknown?.has(name)) continue;
    const { value, unresolved, tooLong } = interpolateWith(written, env);
    if (tooLong || unresolved.length) unknown.set(name, `${name} in service ${service.name}'s environment: (${composeFile}) is ${written}: ${tooLong ? `longer than ${MAX_INTERPOLATED} characters once interpolated` : env.why(unresolved)}`);
    else own.set(name, value);
  }
  if (!own.size && !unknown.size) return env;
  const before = env.setUnknown;
  const setUnknown = unknown.size ? { has: (name: string) => unknown.has(name) || Boolean(before?.has(name)) } : before;
  return {
    vars: { get: (name: string) => env.vars.get(name) ?? own.get(name) },
    from: own.size ? `${env.from}, then service ${service.name}'s environment: in ${composeFile}, which compose-go 2.10 and later fill env_file values from (an older Compose leaves those names empty)` : env.from,
    why: (unresolved) => [env.why(unresolved.filter((u) => !unknown.has(u))), ...unresolved.filter((u) => unknown.has(u)).map((u) => unknown.get(u)!)].filter(Boolean).join('; '),
    ...(setUnknown ? { setUnknown } : {}),
  };
}

/** The env of a `.env` text (or of several env files read in order), its unknown values explained. */
export function composeEnvOf(read: { vars: EnvLookup; unknown: ReadonlyMap<string, string> }, from: string): ComposeEnv {
  const { vars, unknown } = read;
  return {
    vars,
    from,
    // Set in the file, to a value not known here (`REG=${HOST}`): set all the same, so a default written with it does not apply.
    ...(unknown.size ? { setUnknown: new Set(unknown.keys()) } : {}),
    why: (unresolved) => {
      const set = [...new Set(unresolved)];
      const nowhere = set.filter((u) => !unknown.has(u));
      return [...(nowhere.length ? [`${nowhere.map((u) => `\${${u}}`).join(', ')} set neither in the scan (${from}) nor by a default`] : []), ...set.filter((u) => unknown.has(u)).map((u) => `${unknown.get(u)!} (${u} is set all the same, so no default written with it applies)`)].join('; ');
    },
  };
}

/**
 * The `.env` of each directory of the scan, read once (compose-env.ts `composeDotenv`), and the
 * ways `docker compose` command lines of the scan run a Compose file (`--project-directory`,
 * `--env-file`): a Compose file a command line names is interpolated as each such command runs it;
 * any other, with the `.env` beside it.
 */
/** At most this many ways (command lines with their env files) a Compose file is read with: each is one finding per value. */
export const MAX_COMPOSE_WAYS = 16;

export class ComposeEnvs {
  private readonly byDir = new Map<string, ComposeEnv>();
  private readonly runs = new Map<string, Map<string, ComposeEnv>>();
  constructor(files: readonly ScannedFile[], runs: readonly ComposeRun[] = []) {
    for (const f of files) {
      if (f.type !== 'env' || path.posix.basename(f.file) !== '.env' || f.text === undefined) continue;
      this.byDir.set(path.posix.dirname(f.file), composeEnvOf(composeDotenv(f.text, f.file), f.file));
    }
    for (const r of runs) {
      const ways = this.runs.get(r.composeFile) ?? new Map<string, ComposeEnv>();
      if (ways.has(r.key)) continue;
      // Past MAX_COMPOSE_WAYS, one more way says the others are not read (every value it fills is unknown).
      if (ways.size === MAX_COMPOSE_WAYS) ways.set('\0more', { vars: new Map(), from: 'other command lines', why: () => '', opaque: `more than ${MAX_COMPOSE_WAYS} command lines of the scan run ${r.composeFile} with their own env files; those past them are not read, so the values they give are unknown` });
      else if (ways.size < MAX_COMPOSE_WAYS) ways.set(r.key, r.env);
      this.runs.set(r.composeFile, ways);
    }
  }

  /** The `.env` of a directory (`<dir>/.env`), or an empty env saying there is none. */
  ofDir(dir: string): ComposeEnv {
    return this.byDir.get(dir) ?? composeEnvOf({ vars: new Map(), unknown: new Map() }, `no .env in ${dir}`);
  }

  /** The one env of a Compose file: its first way. */
  of(file: string): ComposeEnv {
    return this.ways(file)[0];
  }

  /** Each env a Compose file is interpolated with: one per command line of the scan running it, else the `.env` beside it. */
  ways(file: string): ComposeEnv[] {
    const run = this.runs.get(file);
    if (run?.size) return [...run.values()];
    return [this.byDir.get(path.posix.dirname(file)) ?? composeEnvOf({ vars: new Map(), unknown: new Map() }, 'no .env beside it')];
  }
}

/** The references of one interpolated line, as the scan reads a string under its key (scan.ts scanYaml). */
function referencesOfLine(value: string, s: VarScalar, single: boolean): Array<{ kind: Reference['kind']; value: string }> {
  const found = referencesIn(value, single ? s.imageCtx : false);
  if (found.length || !single) return found;
  const flag = /(?:^|\.)(?:args|command)\[\d+\]$/.test(s.keyPath) ? flagValue(value) : undefined;
  const keyed = hostOfDestinationKey(s.key, value) ?? (flag && hostOfDestinationKey(flag.flag, flag.value));
  return keyed ? [{ kind: 'host', value: keyed }] : [];
}

/**
 * Each recorded string read as Compose interpolates it (from the `.env` beside the Compose file) or
 * as Flux substitutes it (every way the scan sets its variables, FluxSubstitutions): where that
 * changes the string, the references it then holds replace those read from it as written that still
 * hold a variable (`https://${API_HOST}/v1`, host unknown), each with a note saying from what. A
 * variable the scan does not set stays as written, the note saying where its value would come from.
 */
export function applyVarScalars(scalars: readonly VarScalar[], references: Reference[], compose: ComposeEnvs, flux: FluxSubstitutions | undefined): void {
  if (!scalars.length) return;
  // The references read from each string as written, by file and key path.
  const written = new Map<string, Reference[]>();
  for (const r of references) {
    if (r.keyPath === undefined || !r.value.includes('$')) continue;
    const k = `${r.file}\0${r.keyPath}`;
    const list = written.get(k) ?? [];
    list.push(r);
    written.set(k, list);
  }
  const drop = new Set<Reference>();
  const more: Reference[] = [];
  // What filling in may build in one scan (values and notes): 100 000 strings, each filled in up to
  // MAX_FLUX_WAYS ways of up to 4 KiB with a note quoting it, would otherwise be gigabytes.
  let budget = MAX_VAR_TEXT;
  for (const s of scalars) {
    if (budget <= 0) {
      const spent = `not filled in: the scan filled in ${MAX_VAR_TEXT >> 20} MiB of variables' text already (the most one scan does)`;
      for (const r of written.get(`${s.file}\0${s.keyPath}`) ?? []) if (r.line >= s.line && r.line <= s.lastLine) r.provenance ??= spent;
      continue;
    }
    const lines = s.written.split('\n');
    const single = lines.length === 1;
    const made: Reference[] = [];
    let changed = false;
    const stillVariable: string[] = [];
    lines.forEach((l, i) => {
      if (!l.includes('$')) return;
      // Longer than Compose's bound, or more variables than a real string holds: left as written
      // (its variables unknown). Flux's ways of a line cost its variables times their ways.
      if (l.length > MAX_INTERPOLATED || (l.match(/\$/g)?.length ?? 0) > MAX_VARS_PER_STRING) return;
      const line = s.literal ? s.line + 1 + i : s.line;
      const ways: Array<{ value: string; note: string; known: boolean }> = [];
      if (s.how === 'compose') {
        for (const way of compose.ways(s.composeFile ?? s.file)) {
          const env = s.service && s.composeFile ? withServiceEnv(way, s.service, s.composeFile) : way;
          const { value, unresolved, tooLong } = interpolateWith(l, env);
          if (tooLong) continue;
          ways.push(unresolved.length ? { value, note: `${s.file}:${line} ${l}: ${env.opaque ?? env.why(unresolved)}`, known: false } : { value, note: `${s.file}:${line} ${l}, which Compose interpolates to ${value} (${env.from})`, known: true });
        }
      } else if (flux) {
        for (const w of flux.ways(s.file, l)) {
          const known = !w.unresolved.length && !w.unknown.length;
          ways.push({ value: known ? w.value : w.shown, note: known ? `${s.file}:${line} ${l}, which Flux substitutes to ${w.value} (${w.by.join(', ') || 'the defaults written'})` : `${s.file}:${line} ${l}: ${fluxUnknownWhy(w)}`, known });
        }
      }
      for (const w of ways) {
        budget -= w.value.length + w.note.length;
        if (w.value === l) {
          if (!w.known) stillVariable.push(w.note);
          continue;
        }
        changed = true;
        for (const r of referencesOfLine(w.value, s, single)) made.push({ file: s.file, line, keyPath: s.keyPath, ...r, provenance: w.note });
      }
    });
    const from = (written.get(`${s.file}\0${s.keyPath}`) ?? []).filter((r) => r.line >= s.line && r.line <= s.lastLine && r.composeVars === undefined && r.fluxVars === undefined);
    if (changed) {
      for (const r of from) drop.add(r);
      const seen = new Set<string>();
      for (const r of made) {
        const k = `${r.line} ${r.kind} ${r.value}`;
        if (!seen.has(k)) seen.add(k), more.push(r);
      }
    } else if (stillVariable.length) for (const r of from) r.provenance ??= stillVariable.join('; ');
  }
  if (drop.size) {
    let at = 0;
    for (const r of references) if (!drop.has(r)) references[at++] = r;
    references.length = at;
  }
  references.push(...more);
}

/** At most this many `$` in one line of a string filled in (real ones hold a few). */
const MAX_VARS_PER_STRING = 32;

/** At most this much text (filled-in values and their notes) is built in one scan; past it, the rest stay as written, said so. */
export const MAX_VAR_TEXT = 32 << 20;

/** At most this many strings with variables are read again in one scan (past it, the rest stay as written). */
export const MAX_VAR_SCALARS = 100_000;

/** Flux's annotation that keeps kustomize-controller from substituting an object's variables. */
const SUBSTITUTE_ANNOTATION = 'kustomize.toolkit.fluxcd.io/substitute';

/**
 * Whose variables a document's `${VAR}`s are: Compose's in a Compose file (a top-level `services`
 * map, no `kind`/`apiVersion`); Flux's post-build ones in a Kubernetes object (a `kind`), unless
 * annotated or labelled `kustomize.toolkit.fluxcd.io/substitute: disabled`; undefined otherwise.
 */
export function substitutionOf(doc: Document): VarScalar['how'] | undefined {
  const c = doc.contents;
  if (!isMap(c)) return undefined;
  if (!c.has('kind') && !c.has('apiVersion')) return isMap(c.get('services')) ? 'compose' : undefined;
  if (!c.has('kind')) return undefined;
  // kustomize-controller skips an object whose annotation or label says so.
  const off = (m: unknown) => isMap(m) && String(m.get(SUBSTITUTE_ANNOTATION) ?? '') === 'disabled';
  return off(c.getIn(['metadata', 'annotations'])) || off(c.getIn(['metadata', 'labels'])) ? undefined : 'flux';
}
