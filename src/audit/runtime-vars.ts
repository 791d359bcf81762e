import path from 'node:path';
import { isMap, isScalar } from 'yaml';
import { parseHostileDocument } from '../manifest/yaml-input.js';
import { withoutStackTraces } from '../errors.js';

/**
 * Variables a deploy tool gets at run time from the file that runs it: `ansible-playbook -e k=v`
 * (`--extra-vars`) and `TF_VAR_<name>=value` written in a script, a Makefile, an env file or a CI
 * file (`.gitlab-ci.yml`, `.github/workflows/*`) next to the playbooks or the Terraform module.
 * Each is one more candidate value of its variable (the runs started elsewhere do not have it),
 * named with the file and line that sets it. A value built from the shell's or the CI's own
 * variables (`$MIRROR`, `${{ vars.MIRROR }}`) is unknown.
 */
export interface RuntimeVar {
  name: string;
  /** Undefined: set from something the scan cannot know (a shell or CI variable, a file). */
  value: string | undefined;
  line: number;
  /** How it is set, in words (`ansible-playbook --extra-vars`, `TF_VAR_mirror`). */
  how: string;
}

/** At most this many run-time variables are read from one file (a real CI file sets a few dozen). */
export const MAX_RUNTIME_VARS_PER_FILE = 256;
/** A line longer than this (joined continuations included) is not read for run-time variables. */
const MAX_LINE = 16 * 1024;

/** Whether the scan keeps this file's text for the run-time variables it may set (scan.ts keepsText). */
export function setsRuntimeVars(text: string): boolean {
  return text.includes('TF_VAR_') || (text.includes('ansible-playbook') && /(?:^|\s)(?:-e|--extra-vars)(?:[\s=@{'"]|\S)/m.test(text)) || TF_CLI_VARS.test(text) || (COMPOSE_CLI.test(text) && (COMPOSE_CLI_OPTION.test(text) || SHELL_EXPORT.test(text) || SHELL_SOURCE.test(text)));
}

/**
 * The directory whose playbooks or modules a run-time file runs: its own, or the one above for a
 * file in a `scripts/`, `bin/`, `ci/` or `hack/` directory, the repository's for a GitHub workflow.
 */
export function runtimeScopeOf(file: string): string {
  let dir = path.posix.dirname(file);
  if (/(?:^|\/)\.github\/workflows$/.test(dir)) dir = path.posix.dirname(path.posix.dirname(dir));
  else if (/^(?:scripts?|bin|ci|\.ci|hack|tools)$/.test(path.posix.basename(dir))) dir = path.posix.dirname(dir);
  return dir;
}

/** Whether `file` lies under the run-time file's scope directory. */
export function inRuntimeScope(scope: string, file: string): boolean {
  return scope === '.' || file === scope || file.startsWith(`${scope}/`);
}

/** The file's lines with shell continuations (`\` at a line's end) joined, each with its first line number. */
function logicalLines(text: string): Array<{ text: string; line: number }> {
  const out: Array<{ text: string; line: number }> = [];
  let cur: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, i) => {
    const l = raw.replace(/\r$/, '');
    if (cur) cur.text += ` ${l}`;
    else cur = { text: l, line: i + 1 };
    if (cur.text.length > MAX_LINE) cur.text = '';
    if (!/\\$/.test(l)) {
      out.push(cur);
      cur = undefined;
    } else cur.text = cur.text.replace(/\\$/, '');
  });
  if (cur) out.push(cur);
  return out;
}

/** A value built from a shell's or CI's variable, a command's output or a file: its value is not in the text. */
const FROM_ELSEWHERE = /\$|`/;

function unquote(s: string): string {
  return s.replace(/^(["'])([\s\S]*)\1$/, '$2');
}

/** Shell-like words of a line: quoted strings kept whole (quotes removed), `k="a b"` one word. */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/(?:"[^"]*"|'[^']*'|[^\s"'])+/g)) out.push(m[0].replace(/"([^"]*)"|'([^']*)'/g, (_a, d: string | undefined, s: string | undefined) => d ?? s ?? ''));
  return out;
}

/** The variables of one `--extra-vars` argument: `k=v k2=v2`, a JSON/YAML map, or `@file` (unknown). */
function extraVarsOf(arg: string, line: number, out: RuntimeVar[]): void {
  const how = 'ansible-playbook --extra-vars';
  const a = arg.trim();
  if (!a) return;
  if (a.startsWith('@')) return;
  if (a.startsWith('{')) {
    const doc = withoutStackTraces(() => parseHostileDocument(a, { duplicates: 'refuse' }));
    if (Array.isArray(doc) || doc.errors.length || !isMap(doc.contents)) return;
    for (const p of doc.contents.items) {
      if (!isScalar(p.key)) continue;
      const v = isScalar(p.value) && p.value.value !== null && typeof p.value.value !== 'object' ? String(p.value.value) : undefined;
      out.push({ name: String(p.key.value), value: v !== undefined && !FROM_ELSEWHERE.test(v) ? v : undefined, line, how });
    }
    return;
  }
  for (const w of words(a)) {
    const kv = /^([A-Za-z_][A-Za-z0-9_]*)=([\s\S]*)$/.exec(w);
    if (kv) out.push({ name: kv[1], value: FROM_ELSEWHERE.test(kv[2]) ? undefined : unquote(kv[2]), line, how });
  }
}

/** Each `ansible-playbook … -e ARG` / `--extra-vars ARG` / `--extra-vars=ARG` of a script or CI file. */
export function extraVarsIn(text: string): RuntimeVar[] {
  const out: RuntimeVar[] = [];
  for (const l of logicalLines(text)) {
    if (out.length >= MAX_RUNTIME_VARS_PER_FILE) break;
    const at = l.text.indexOf('ansible-playbook');
    if (at < 0 || /^\s*#/.test(l.text)) continue;
    const ws = words(l.text.slice(at));
    for (let i = 1; i < ws.length; i++) {
      const w = ws[i];
      if (/^(?:&&|\|\||;|\|)$/.test(w)) break;
      let arg: string | undefined;
      if (w === '-e' || w === '--extra-vars') arg = ws[++i];
      else if (w.startsWith('--extra-vars=')) arg = w.slice('--extra-vars='.length);
      else if (/^-e\S/.test(w) && !w.startsWith('--')) arg = w.slice(2);
      if (arg !== undefined) extraVarsOf(arg, l.line, out);
    }
  }
  return out.slice(0, MAX_RUNTIME_VARS_PER_FILE);
}

/**
 * Each `TF_VAR_<name>` a file sets: `TF_VAR_x=v` / `export TF_VAR_x=v` (a shell script, an env
 * file, a Makefile's `export`), `TF_VAR_x: v` (a CI file's `env:`/`variables:` map), `- TF_VAR_x=v`.
 */
export function tfVarsIn(text: string): RuntimeVar[] {
  const out: RuntimeVar[] = [];
  for (const l of logicalLines(text)) {
    if (out.length >= MAX_RUNTIME_VARS_PER_FILE) break;
    if (!l.text.includes('TF_VAR_') || /^\s*#/.test(l.text)) continue;
    for (const m of l.text.matchAll(/(?:^|[\s"'{,;-])(?:export\s+)?TF_VAR_([A-Za-z_][A-Za-z0-9_-]*)(?:\s*=|\s*:(?=\s))[ \t]*("[^"]*"|'[^']*'|[^\s;#,}]*)/g)) {
      const raw = unquote(m[2].trim());
      out.push({ name: m[1], value: raw === '' || FROM_ELSEWHERE.test(raw) ? undefined : raw, line: l.line, how: `TF_VAR_${m[1]}` });
    }
  }
  return out.slice(0, MAX_RUNTIME_VARS_PER_FILE);
}

/** A terraform/tofu command line giving `-var` or `-var-file` (setsRuntimeVars; tfCliVarsIn reads it). */
const TF_CLI_VARS = /\b(?:terraform|tofu)\b[^\n]*\s--?var(?:-file)?[\s=]/;

/** One `terraform … plan|apply|…` command line's `-chdir`, `-var k=v` and `-var-file path` arguments. */
export interface TfCommand {
  line: number;
  /** `-chdir=DIR`: the root module it runs, relative to where the command runs; `-var-file` paths are relative to it. */
  chdir?: string;
  vars: RuntimeVar[];
  /** `-var-file` paths as written; one holding a shell or CI variable (`$ENV.tfvars`) is left out, said in `unnamed`. */
  varFiles: string[];
  unnamed: string[];
}

/** A README's `<ID of your project>`: a placeholder the reader fills in, no value. */
const PLACEHOLDER = /<[A-Za-z]/;

/** At most this many -var / -var-file arguments are read from one file. */
const MAX_TF_ARGS = MAX_RUNTIME_VARS_PER_FILE;

/**
 * Each terraform/tofu command line of a script or CI file that gives `-var 'k=v'` (`-var=k=v`)
 * or `-var-file=path` (`-var-file path`), with its global `-chdir=DIR` (Terraform switches to it
 * before anything else, so a relative -var-file is read from there). A value built from the
 * shell's or CI's variables is unknown; a -var-file path built from them is not named.
 */
export function tfCliVarsIn(text: string): TfCommand[] {
  const out: TfCommand[] = [];
  let args = 0;
  for (const l of logicalLines(text)) {
    if (args >= MAX_TF_ARGS) break;
    if (!/\b(?:terraform|tofu)\b/.test(l.text) || !/-var/.test(l.text) || /^\s*#/.test(l.text)) continue;
    for (const start of l.text.matchAll(/(?:^|[\s;&|(`"'-])(terraform|tofu)(?=\s)/g)) {
      const ws = words(l.text.slice(start.index! + start[0].length));
      const cmd: TfCommand = { line: l.line, vars: [], varFiles: [], unnamed: [] };
      for (let i = 0; i < ws.length && args < MAX_TF_ARGS; i++) {
        const w = ws[i];
        if (/^(?:&&|\|\||;|\||\)|`)$/.test(w) || /[;|&]$/.test(w)) break;
        const value = (flag: string): string | undefined => (w === flag || w === `-${flag}` ? ws[++i] : w.startsWith(`${flag}=`) ? w.slice(flag.length + 1) : w.startsWith(`-${flag}=`) ? w.slice(flag.length + 2) : undefined);
        const chdir = value('-chdir');
        if (chdir !== undefined) {
          if (!FROM_ELSEWHERE.test(chdir)) cmd.chdir = chdir;
          continue;
        }
        const file = value('-var-file');
        if (file !== undefined) {
          args++;
          (FROM_ELSEWHERE.test(file) ? cmd.unnamed : cmd.varFiles).push(file);
          continue;
        }
        const kv = value('-var');
        const m = kv === undefined ? undefined : /^([A-Za-z_][A-Za-z0-9_-]*)=([\s\S]*)$/.exec(kv);
        if (m) {
          args++;
          cmd.vars.push({ name: m[1], value: FROM_ELSEWHERE.test(m[2]) || PLACEHOLDER.test(m[2]) ? undefined : m[2], line: l.line, how: `${start[1]} -var ${m[1]}` });
        }
      }
      if (cmd.vars.length || cmd.varFiles.length || cmd.unnamed.length) out.push(cmd);
    }
  }
  return out;
}

/** A `docker compose` / `docker-compose` command line naming its files, project directory or env files (setsRuntimeVars; composeCliIn reads it). */
const COMPOSE_CLI = /\bdocker(?:-compose|[ \t]+compose)\b/;
const COMPOSE_CLI_OPTION = /(?:^|\s)(?:-f|--file|--env-file|--project-directory)(?:[\s=]|\S)/m;
/** An `export NAME=…` or a `NAME=… docker compose` prefix: the shell environment Compose runs in (composeCliIn). */
const SHELL_EXPORT = /(?:^|[\s;&|(])export[ \t]+[A-Za-z_]|(?:^|[\s;&|(])[A-Za-z_][A-Za-z0-9_]*=\S*[ \t]+docker(?:-compose|[ \t]+compose)\b/m;

/** A `source FILE` / `. FILE` line (composeCliIn follows it). */
const SHELL_SOURCE = /^[ \t]*(?:source|\.)[ \t]+\S/m;

/** One `docker compose … up|config|…` command line's global options, as written (relative to where it runs). */
export interface ComposeCommand {
  line: number;
  /** `-f`/`--file`, in order; none: the default compose file of the project directory. */
  files: string[];
  /** `--project-directory DIR`. */
  projectDir?: string;
  /** `--env-file`, in order (a later file's values win): they replace the project directory's `.env`. */
  envFiles: string[];
  /** An option whose value holds a shell or CI variable (`--env-file $ENV_FILE`): which file is unknown. */
  unnamed: string[];
  /**
   * What the shell the command runs in exports (`export NAME=…` above it in the file, `NAME=…` in
   * front of it): Compose takes these before any env file. `value` undefined: not known here (`why`).
   */
  shellEnv: ShellVar[];
  /**
   * Set: the shell may export names not read here (more than MAX_SHELL_VARS exports above the
   * command, or a `source`d file the scan does not hold): every variable Compose fills in is
   * unknown, this says why.
   */
  shellUnknown?: string;
}

/**
 * A file a script reads into its own shell above a command (`source ./env.sh`, `. ./env`): its
 * name as written, and its text, or why it is not read (not in the scan, a name with a variable,
 * past the depth or count bound).
 */
export type SourcedText = (name: string, from: string, depth: number) => { file: string; text: string } | { why: string };

/** `source FILE` / `. FILE` as a command of its own (arguments after the file are the script's). */
const SOURCE_LINE = /^\s*(?:source|\.)[ \t]+((?:"[^"]*"|'[^']*'|[^\s;&|"'])+)\s*(?:[;#]|&&|$)/;
/** The sourcing script's own directory written as the shell finds it: `$(dirname "$0")/`, `$(dirname "${BASH_SOURCE[0]}")/`, `${0%/*}/`. */
const OWN_DIR = /^(?:\$\(dirname[ \t]+(?:\$0|\$\{0\}|\$\{BASH_SOURCE(?:\[0\])?\}|\$BASH_SOURCE)\)|\$\{0%\/\*\}|\$\{BASH_SOURCE(?:\[0\])?%\/\*\})\//;

/**
 * The file a line sources, as written (quotes removed; the script's own directory written as
 * `$(dirname "$0")/` marked with `ownDir`), or undefined.
 */
export function sourcedName(text: string): string | undefined {
  const m = SOURCE_LINE.exec(text);
  if (!m) return undefined;
  const name = m[1].replace(/"([^"]*)"|'([^']*)'/g, (_a, d: string | undefined, q: string | undefined) => d ?? q ?? '');
  const own = OWN_DIR.exec(name);
  return own ? `${OWN_DIR_MARK}${name.slice(own[0].length)}` : name;
}

/** What `sourcedName` puts for the sourcing script's own directory (no file name starts with it). */
export const OWN_DIR_MARK = '\0own/';

/** At most this deep `source` is followed (a script sourcing a file that sources another…). */
export const MAX_SOURCE_DEPTH = 4;
/** At most this many lines of sourced files are read for one file's shell, sources of sources and files sourced again included. */
export const MAX_SOURCED_LINES = 100_000;

/** A variable of the shell a command runs in, where it is set (`line`), its value or why it is unknown. */
export interface ShellVar {
  name: string;
  value?: string;
  why?: string;
  line: number;
}

/** At most this many exported variables are followed in one file (a real script exports a few). */
const MAX_SHELL_VARS = 256;

/** One shell word's value as an assignment gives it: a single-quoted one as written; one with `$` or a backquote outside single quotes is the shell's (unknown). */
function shellValue(raw: string): { value?: string; expands: boolean } {
  let out = '';
  let expands = false;
  for (const m of raw.matchAll(/'([^']*)'|"((?:[^"\\]|\\.)*)"|([^'"]+)/g)) {
    if (m[1] !== undefined) out += m[1];
    else {
      const t = (m[2] ?? m[3]).replace(/\\(.)/g, '$1');
      if (/[$`]/.test(m[2] ?? m[3])) expands = true;
      out += t;
    }
  }
  return expands ? { expands } : { value: out, expands };
}

/** `NAME=VALUE` words (a value quoted or not), from the start of `s`, each with where it ends. */
const ASSIGNMENT = /^\s*([A-Za-z_][A-Za-z0-9_]*)=((?:'[^']*'|"(?:[^"\\]|\\.)*"|[^\s;&|'"()<>`]|`[^`]*`)*)/;

/**
 * The shell variables a file exports, line by line (`export A=1 B="x"`, a bare `A=1` exported
 * later by `export A`): `at(line)` is what is exported above that line. A name set to different
 * values above it (a script's branches: `if …; then export IMAGE=a; else export IMAGE=b; fi`) or
 * from the shell's own values is unknown there, said so. At most MAX_SHELL_VARS are followed.
 */
class ShellExports {
  private readonly sets: ShellVar[] = [];
  private readonly bare = new Map<string, ShellVar>();
  private readonly exported = new Set<string>();
  private allexport = false;
  /** Where the shell first may export what is not read here (the bound hit, a sourced file unread), and why. */
  private unknownFrom?: { line: number; why: string };
  /** The first line whose plain assignment was past the bound (not kept). */
  private bareFull?: number;
  /** Lines of sourced files read so far (MAX_SOURCED_LINES). */
  private sourcedLines = 0;
  /** Each sourced file's lines, split once. */
  private readonly sourcedFiles = new Map<string, Array<{ text: string; line: number }>>();
  constructor(private readonly file = 'the file') {}
  private push(v: ShellVar): void {
    if (this.sets.length >= MAX_SHELL_VARS) {
      this.unknownFrom ??= { line: v.line, why: `${this.file} exports more than ${MAX_SHELL_VARS} names above the command line (the most read from one file): those past them are not read, so the shell it runs in may set any variable` };
      return;
    }
    this.sets.push(v);
    this.exported.add(v.name);
  }
  /** The shell may export names not read here from `line` on (a sourced file not read). */
  unknownAt(line: number, why: string): void {
    this.unknownFrom ??= { line, why };
  }
  /** Why the shell above `line` may export names not read here, or undefined. */
  unknownAbove(line: number): string | undefined {
    return this.unknownFrom && this.unknownFrom.line < line ? this.unknownFrom.why : undefined;
  }
  /**
   * A sourced file's lines read as this shell's, at the line that sources it (`source ./env.sh`:
   * its exports, and with `set -a` its assignments, hold below that line); files it sources in turn
   * up to MAX_SOURCE_DEPTH deep.
   */
  source(name: string, line: number, sourced: SourcedText | undefined, from: string, depth: number): void {
    // Each `source` line reads its file again (the shell does): a file sourcing itself 100 times read 10^8 lines, 4 deep.
    if (this.sourcedLines >= MAX_SOURCED_LINES) {
      this.unknownAt(line, `${from}:${line} sources ${name}, past the ${MAX_SOURCED_LINES} lines of sourced files read for one file (a file sourced again and again): what it exports is not read, so the shell it runs in may set any variable`);
      return;
    }
    const got = sourced && depth < MAX_SOURCE_DEPTH ? sourced(name, from, depth) : { why: depth >= MAX_SOURCE_DEPTH ? `sourced more than ${MAX_SOURCE_DEPTH} deep` : 'not read' };
    if ('why' in got) {
      this.unknownAt(line, `${from}:${line} sources ${name} (${got.why}): what it exports is unknown here, so the shell it runs in may set any variable`);
      return;
    }
    let lines = this.sourcedFiles.get(got.file);
    if (!lines) this.sourcedFiles.set(got.file, (lines = logicalLines(got.text)));
    for (const l of lines) {
      if (++this.sourcedLines > MAX_SOURCED_LINES) {
        this.unknownAt(line, `${got.file}:${l.line}, sourced by ${from}:${line}, is past the ${MAX_SOURCED_LINES} lines of sourced files read for one file (a file sourced again and again): what the rest exports is not read, so the shell it runs in may set any variable`);
        return;
      }
      if (/^\s*#/.test(l.text)) continue;
      const inner = sourcedName(l.text);
      if (inner !== undefined) this.source(inner, line, sourced, got.file, depth + 1);
      else this.read(l.text, line);
    }
  }
  read(text: string, line: number): void {
    const m = /^\s*export[ \t]+(.*)$/.exec(text);
    if (!m) {
      const a = ASSIGNMENT.exec(text);
      if (a && /^\s*(?:[;#]|$)/.test(text.slice(a[0].length))) {
        if (this.bare.size < MAX_SHELL_VARS || this.bare.has(a[1])) this.bare.set(a[1], this.varOf(a[1], a[2], line));
        else this.bareFull ??= line;
      }
      // A name once exported stays exported: `REG=other` (or `REG+=…`, `unset REG`, `read REG`) below
      // `export REG=…` changes what Compose gets (it kept the exported value, a wrong host shown as known).
      const changed = a ? undefined : /^\s*(?:([A-Za-z_][A-Za-z0-9_]*)\+=|(unset|read)\b[ \t]+(?:-\S+[ \t]+)*([A-Za-z_][A-Za-z0-9_]*))/.exec(text);
      // `set -a` (`set -o allexport`) up to `set +a`: every assignment is exported.
      // (`REG=x cmd` sets REG for that command only.)
      const alone = a && /^\s*(?:[;#]|$)/.test(text.slice(a[0].length));
      const name = alone ? a[1] : (changed?.[1] ?? changed?.[3]);
      if (name && (this.exported.has(name) || (alone && this.allexport))) this.push(alone ? this.varOf(a[1], a[2], line) : { name, why: `${name}, exported above, is changed at line ${line} (${changed?.[2] ?? '+='}) to a value not known here`, line });
      const set = /^\s*set[ \t]+(?:([-+])[A-Za-z]*a[A-Za-z]*|([-+])o[ \t]+allexport)\b/.exec(text);
      if (set) this.allexport = (set[1] ?? set[2]) === '-';
      return;
    }
    let rest = m[1];
    while (rest) {
      if (/^\s*-/.test(rest)) return;
      const a = ASSIGNMENT.exec(rest);
      const name = a ? undefined : /^\s*([A-Za-z_][A-Za-z0-9_]*)(?=\s|;|$)/.exec(rest);
      if (a) this.push(this.varOf(a[1], a[2], line));
      else if (name) {
        const had = this.bare.get(name[1]);
        if (had) this.push({ ...had, line });
        // `export NAME` of a name set past the bound: its value was not kept.
        else if (this.bareFull !== undefined) this.unknownAt(line, `${this.file} sets more than ${MAX_SHELL_VARS} names (the most read from one file) and exports ${name[1]} at line ${line}, whose value was past them: the shell it runs in may set any variable`);
      } else return;
      rest = rest.slice((a ?? name)![0].length);
      if (!/^\s+\S/.test(rest)) return;
    }
  }
  varOf(name: string, raw: string, line: number): ShellVar {
    const v = shellValue(raw);
    return v.value !== undefined ? { name, value: v.value, line } : { name, why: `${name} is exported as ${raw.length > 120 ? `${raw.slice(0, 120)}…` : raw}, a value of the shell it runs in`, line };
  }
  /** What is exported above `line`: each name once, unknown where it was set to several values. */
  at(line: number): ShellVar[] {
    const by = new Map<string, ShellVar[]>();
    for (const s of this.sets) {
      if (s.line >= line) continue;
      // Pushed, not copied: 256 settings of one name copied its list 256 times for each command line.
      const list = by.get(s.name);
      if (list) list.push(s);
      else by.set(s.name, [s]);
    }
    return [...by.values()].map((list) => {
      const last = list[list.length - 1];
      const values = new Set(list.map((x) => x.value ?? `?${x.why}`));
      if (values.size === 1) return last;
      return { name: last.name, line: last.line, why: `${last.name} is exported with ${values.size} values above it (lines ${list.map((x) => x.line).join(', ')}): which one holds depends on how the script runs` };
    });
  }
}

/** At most this many compose command lines are read from one file. */
const MAX_COMPOSE_COMMANDS = 64;
/** At most this many files (-f, --env-file) one compose command names. */
const MAX_COMPOSE_ARGS = 32;

/**
 * Each `docker compose` / `docker-compose` command line of a script, Makefile or CI file with its
 * global options (docs.docker.com "docker compose" reference: `-f`/`--file`, `--project-directory`,
 * `--env-file`, each as `--opt VALUE` or `--opt=VALUE`), up to the subcommand (the first word that
 * is no option) or a shell operator. A value holding `$` or a backquote is named in `unnamed`.
 */
export function composeCliIn(text: string, file = 'the file', sourced?: SourcedText): ComposeCommand[] {
  const out: ComposeCommand[] = [];
  // Each command read costs its line: at most this many are read in one file, named or not.
  let starts = 0;
  const exports = new ShellExports(file);
  for (const l of logicalLines(text)) {
    if (starts >= 4 * MAX_COMPOSE_COMMANDS) break;
    if (/^\s*#/.test(l.text)) continue;
    const src = sourcedName(l.text);
    if (src !== undefined) exports.source(src, l.line, sourced, file, 0);
    else exports.read(l.text, l.line);
    if (!COMPOSE_CLI.test(l.text)) continue;
    for (const start of l.text.matchAll(/(?:^|[\s;&|(`"'])docker(?:-compose|[ \t]+compose)(?=\s|$)/g)) {
      if (out.length >= MAX_COMPOSE_COMMANDS || ++starts > 4 * MAX_COMPOSE_COMMANDS) break;
      const ws = words(l.text.slice(start.index! + start[0].length));
      // `A=1 B=2 docker compose …` (or `env A=1 …`): set for this command, over what is exported.
      const prefix = /(?:^|[;&|(]|&&|\|\|)\s*(?:env\s+)?((?:[A-Za-z_][A-Za-z0-9_]*=(?:'[^']*'|"(?:[^"\\]|\\.)*"|[^\s;&|'"()])*\s+)+)$/.exec(l.text.slice(0, start.index! + (/^\s/.test(start[0]) ? 1 : 0)));
      const own: ShellVar[] = [];
      for (let p = prefix?.[1] ?? '', a = ASSIGNMENT.exec(p); a && own.length < MAX_COMPOSE_ARGS; p = p.slice(a[0].length), a = ASSIGNMENT.exec(p)) own.push(exports.varOf(a[1], a[2], l.line));
      const shellEnv = [...exports.at(l.line).filter((x) => !own.some((o) => o.name === x.name)), ...own];
      const shellUnknown = exports.unknownAbove(l.line);
      const cmd: ComposeCommand = { line: l.line, files: [], envFiles: [], unnamed: [], shellEnv, ...(shellUnknown ? { shellUnknown } : {}) };
      let named = shellEnv.length > 0 || shellUnknown !== undefined;
      for (let i = 0; i < ws.length && cmd.files.length + cmd.envFiles.length + cmd.unnamed.length < MAX_COMPOSE_ARGS; i++) {
        const w = ws[i];
        if (/^(?:&&|\|\||;|\||\)|`)$/.test(w) || /[;|&]$/.test(w)) break;
        const value = (...flags: string[]): string | undefined => {
          for (const f of flags) {
            if (w === f) return ws[++i] ?? '';
            if (f.startsWith('--') && w.startsWith(`${f}=`)) return w.slice(f.length + 1);
            if (!f.startsWith('--') && w.startsWith(f) && w.length > f.length) return w.slice(f.length);
          }
          return undefined;
        };
        const take = (v: string, into: string[], flag: string) => {
          named = true;
          if (FROM_ELSEWHERE.test(v) || !v) cmd.unnamed.push(`${flag} ${v}`);
          else into.push(v);
        };
        const file = value('-f', '--file');
        if (file !== undefined) {
          take(file, cmd.files, '-f');
          continue;
        }
        const env = value('--env-file');
        if (env !== undefined) {
          take(env, cmd.envFiles, '--env-file');
          continue;
        }
        const dir = value('--project-directory');
        if (dir !== undefined) {
          named = true;
          if (FROM_ELSEWHERE.test(dir) || !dir) cmd.unnamed.push(`--project-directory ${dir}`);
          else cmd.projectDir = dir;
          continue;
        }
        // Other global options with a value (`-p NAME`, `--profile P`, `--ansi never`…) and flags; the subcommand ends them.
        if (/^(?:-p|--project-name|--profile|--ansi|--progress|--parallel)$/.test(w)) i++;
        else if (!w.startsWith('-')) break;
      }
      if (named) out.push(cmd);
    }
  }
  return out;
}
