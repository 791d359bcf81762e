import path from 'node:path';
import { referencesIn, type Reference, type ScannedFile } from './scan.js';
import { mergeWays, type Way } from './ways.js';
import { inRuntimeScope, runtimeScopeOf, tfCliVarsIn, tfVarsIn } from './runtime-vars.js';

/**
 * Terraform / OpenTofu configurations (`*.tf`, `*.tofu`, `*.tfvars`, the CLI configuration
 * `.terraformrc`/`terraform.rc`/`.tofurc`/`tofu.rc`, the dependency lock file `.terraform.lock.hcl`):
 * what `terraform init`/`apply` fetch, read by block. The generic text scan found a literal URL but
 * never a provider or module fetched from a registry written without one (`hashicorp/aws` is
 * registry.terraform.io, `terraform-aws-modules/vpc/aws` its module registry), read `image = "…"`
 * as no image, and cut `"${var.registry}/app:${var.tag}"` at its interpolations.
 *
 * Read here (checked against the Terraform docs: provider requirements, module sources, CLI
 * configuration `provider_installation`, dependency lock file):
 * - `required_providers` and the lock file's `provider "<host>/<ns>/<type>"` blocks: the registry
 *   host (default registry.terraform.io; OpenTofu's registry.opentofu.org when the scan holds
 *   OpenTofu files), unless the scan's CLI configuration installs it otherwise: a matching
 *   `direct` (or no `provider_installation` at all) asks the origin registry; a matching
 *   `network_mirror` fetches `<url><host>/<ns>/<type>/index.json`; a matching
 *   `filesystem_mirror` reads a local directory. Terraform tries every matching method and takes
 *   the newest version, so a matching `direct` always goes out.
 * - `module` `source`: local paths fetch nothing; registry addresses, `github.com/…`,
 *   `bitbucket.org/…`, `git::`, `hg::`, `s3::`, `gcs::`, scp-like `git@host:…` and plain URLs.
 * - every other string attribute: `image` as an image, any URL or host in it as the generic scan
 *   reads it, `helm_release` `repository` + `chart` + `version` as a chart from a repository, with
 *   `${var.x}` / `${local.x}` filled in from the module directory's `variable` defaults, `locals`
 *   and `*.tfvars` where set to exactly one value; otherwise as written, the note saying why unknown.
 *
 * A small HCL reader of its own (no npm HCL parser gives source lines, and those that parse HCL2
 * are WASM or GopherJS builds of the Go library, megabytes in a single-file CLI). Hostile input is
 * bounded: MAX_TOKENS tokens a file, MAX_DEPTH nesting, MAX_STRING characters a string, MAX_RESOLVED
 * characters a value once filled in.
 */

export const MAX_TOKENS = 500_000;
export const MAX_DEPTH = 32;
export const MAX_STRING = 64 * 1024;
export const MAX_RESOLVED = 4096;

const CLI_CONFIG = /^(?:\.terraformrc|terraform\.rc|\.tofurc|tofu\.rc)$/;
const LOCK_FILE = '.terraform.lock.hcl';

/** Whether the Terraform pass reads this file (its text is kept for it). */
export function isTerraformFile(file: string): boolean {
  const base = path.posix.basename(file);
  return /\.(?:tf|tofu|tfvars|tfvars\.json)$/.test(base) || base === LOCK_FILE || CLI_CONFIG.test(base) || isTemplateFile(base);
}

/** A template `templatefile()` may render (`.tftpl`, Terraform's recommended name, or `.tpl`; not a Helm chart's `_helpers.tpl`): its text is kept. */
function isTemplateFile(base: string): boolean {
  return base.endsWith('.tftpl') || (base.endsWith('.tpl') && !base.startsWith('_'));
}

// ---------------------------------------------------------------- tokens

type Tok = { t: 'id' | 'num' | 'p' | 'nl' | 'eof'; v: string; line: number } | { t: 'str'; v: string; line: number; long?: true };

function tokenize(text: string): Tok[] | string {
  const out: Tok[] = [];
  let i = 0;
  let line = 1;
  const push = (tok: Tok): boolean => {
    out.push(tok);
    return out.length <= MAX_TOKENS;
  };
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '\n') {
      if (!push({ t: 'nl', v: '\n', line })) return `more than ${MAX_TOKENS} tokens`;
      line++;
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '#' || (c === '/' && text[i + 1] === '/')) {
      const e = text.indexOf('\n', i);
      i = e < 0 ? n : e;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      const e = text.indexOf('*/', i + 2);
      const end = e < 0 ? n : e + 2;
      for (let k = i; k < end; k++) if (text[k] === '\n') line++;
      i = end;
      continue;
    }
    if (c === '"') {
      const start = line;
      // A quoted template: `${ … }` and `%{ … }` nest braces and strings of their own.
      let j = i + 1;
      let depth = 0;
      let inner = false; // inside a string within an interpolation
      for (; j < n; j++) {
        const d = text[j];
        if (d === '\\') {
          j++;
          continue;
        }
        if (d === '\n') {
          if (depth === 0) break; // a quoted string ends at its line
          line++;
        }
        if (depth > 0) {
          if (d === '"') inner = !inner;
          else if (!inner && d === '{') depth++;
          else if (!inner && d === '}') depth--;
          continue;
        }
        if (d === '"') break;
        if ((d === '$' || d === '%') && text[j + 1] === '{') {
          depth = 1;
          j++;
        }
      }
      const raw = text.slice(i + 1, j);
      if (!push(raw.length > MAX_STRING ? { t: 'str', v: '', line: start, long: true } : { t: 'str', v: raw, line: start })) return `more than ${MAX_TOKENS} tokens`;
      i = j + 1;
      continue;
    }
    if (c === '<' && text[i + 1] === '<' && /^<<-?[A-Za-z_]/.test(text.slice(i, i + 4))) {
      const m = /^<<-?([A-Za-z_][\w-]*)[ \t]*\r?\n/.exec(text.slice(i, i + 300));
      if (m) {
        const start = line;
        const bodyStart = i + m[0].length;
        const endRe = new RegExp(`^[ \\t]*${m[1]}[ \\t]*\\r?$`, 'm');
        const rest = text.slice(bodyStart);
        const e = endRe.exec(rest);
        const body = e ? rest.slice(0, e.index) : rest;
        const end = e ? bodyStart + e.index + e[0].length : n;
        for (let k = i; k < end; k++) if (text[k] === '\n') line++;
        if (!push(body.length > MAX_STRING ? { t: 'str', v: '', line: start + 1, long: true } : { t: 'str', v: body, line: start + 1 })) return `more than ${MAX_TOKENS} tokens`;
        i = end;
        continue;
      }
    }
    const id = /^[A-Za-z_][\w-]*/.exec(text.slice(i, i + 256));
    if (id) {
      if (!push({ t: 'id', v: id[0], line })) return `more than ${MAX_TOKENS} tokens`;
      i += id[0].length;
      continue;
    }
    const num = /^\d[\d.eE+-]*/.exec(text.slice(i, i + 64));
    if (num) {
      if (!push({ t: 'num', v: num[0], line })) return `more than ${MAX_TOKENS} tokens`;
      i += num[0].length;
      continue;
    }
    if (!push({ t: 'p', v: c, line })) return `more than ${MAX_TOKENS} tokens`;
    i++;
  }
  out.push({ t: 'eof', v: '', line });
  return out;
}

// ---------------------------------------------------------------- tree

export type Value =
  | { t: 'str'; v: string; line: number; long?: true }
  | { t: 'list'; items: Value[]; line: number }
  | { t: 'obj'; entries: Attr[]; line: number }
  | { t: 'ref'; v: string; line: number }
  | { t: 'call'; fn: string; args: Value[]; line: number }
  | { t: 'other'; line: number; calls: string[]; strings: Value[] };
export interface Attr {
  name: string;
  line: number;
  value: Value;
}
export interface Block {
  type: string;
  labels: string[];
  line: number;
  attrs: Attr[];
  blocks: Block[];
}

class Parser {
  i = 0;
  constructor(readonly toks: Tok[]) {}
  peek(): Tok {
    return this.toks[this.i];
  }
  next(): Tok {
    return this.toks[Math.min(this.i++, this.toks.length - 1)];
  }
  skipNl(): void {
    while (this.peek().t === 'nl') this.i++;
  }
  /** A body up to `}` (nested) or the end of the file. */
  body(depth: number, into: Block): void {
    if (depth > MAX_DEPTH) throw new Error(`nested deeper than ${MAX_DEPTH} blocks`);
    for (;;) {
      this.skipNl();
      const tok = this.peek();
      if (tok.t === 'eof') return;
      if (tok.t === 'p' && tok.v === '}') {
        if (depth > 0) this.i++;
        else this.i++; // a stray `}` at the top: skipped
        if (depth > 0) return;
        continue;
      }
      if (tok.t !== 'id' && tok.t !== 'str') {
        this.skipLine();
        continue;
      }
      this.i++;
      const after = this.peek();
      if (tok.t === 'id' && after.t === 'p' && (after.v === '=' || after.v === ':')) {
        this.i++;
        into.attrs.push({ name: tok.v, line: tok.line, value: this.expr(depth + 1, 'nl') });
        continue;
      }
      const labels: string[] = [];
      while (this.peek().t === 'str' || this.peek().t === 'id') labels.push(this.next().v);
      if (this.peek().t === 'p' && this.peek().v === '{') {
        this.i++;
        const b: Block = { type: tok.v, labels, line: tok.line, attrs: [], blocks: [] };
        into.blocks.push(b);
        this.body(depth + 1, b);
        continue;
      }
      this.skipLine();
    }
  }
  skipLine(): void {
    while (this.peek().t !== 'nl' && this.peek().t !== 'eof') this.i++;
  }
  /** One expression, up to a newline (`stop` 'nl'), or a `,` / closer in a list or object, at its own depth. */
  expr(depth: number, stop: 'nl' | 'item'): Value {
    if (depth > MAX_DEPTH) throw new Error(`nested deeper than ${MAX_DEPTH} expressions`);
    const first = this.peek();
    // A one-line block (`variable "x" { default = "y" }`): its `}` ends the attribute too.
    const ends = (t: Tok) => t.t === 'eof' || (stop === 'nl' && (t.t === 'nl' || (t.t === 'p' && t.v === '}'))) || (stop === 'item' && (t.t === 'nl' || (t.t === 'p' && (t.v === ',' || t.v === ']' || t.v === '}' || t.v === ')'))));
    let primary: Value | undefined;
    if (first.t === 'str') {
      this.i++;
      primary = first.long ? { t: 'str', v: '', line: first.line, long: true } : { t: 'str', v: first.v, line: first.line };
    } else if (first.t === 'p' && first.v === '[') {
      this.i++;
      primary = { t: 'list', items: this.items(depth, ']'), line: first.line };
    } else if (first.t === 'p' && first.v === '{') {
      this.i++;
      primary = { t: 'obj', entries: this.entries(depth), line: first.line };
    } else if (first.t === 'id' && first.v === 'templatefile' && this.toks[this.i + 1]?.v === '(') {
      // templatefile(path, { … }): the template is rendered with the map (read by renderTemplate).
      this.i += 2;
      primary = { t: 'call', fn: first.v, args: this.items(depth, ')'), line: first.line };
    } else if (first.t === 'id' && /^(?:var|local)$/.test(first.v) && this.toks[this.i + 1]?.v === '.' && this.toks[this.i + 2]?.t === 'id') {
      primary = { t: 'ref', v: `${first.v}.${this.toks[this.i + 2].v}`, line: first.line };
      this.i += 3;
    }
    if (primary && ends(this.peek())) return primary;
    // Anything else (a call, an operator, a conditional): kept as "other", with the calls and strings inside.
    const other: Value & { t: 'other' } = { t: 'other', line: first.line, calls: [], strings: primary ? [primary] : [] };
    let nest = 0;
    for (;;) {
      const tok = this.peek();
      if (tok.t === 'eof') break;
      if (nest === 0 && ends(tok)) break;
      if (tok.t === 'p' && (tok.v === '(' || tok.v === '[' || tok.v === '{')) {
        if (++nest > MAX_DEPTH) throw new Error(`nested deeper than ${MAX_DEPTH} brackets`);
      } else if (tok.t === 'p' && (tok.v === ')' || tok.v === ']' || tok.v === '}')) nest--;
      else if (tok.t === 'id' && this.toks[this.i + 1]?.v === '(') other.calls.push(tok.v);
      else if (tok.t === 'str' && !tok.long) other.strings.push({ t: 'str', v: tok.v, line: tok.line });
      this.i++;
    }
    return other;
  }
  items(depth: number, close: string): Value[] {
    const out: Value[] = [];
    for (;;) {
      this.skipNl();
      const tok = this.peek();
      if (tok.t === 'eof') return out;
      if (tok.t === 'p' && tok.v === close) {
        this.i++;
        return out;
      }
      if (tok.t === 'p' && tok.v === ',') {
        this.i++;
        continue;
      }
      const before = this.i;
      out.push(this.expr(depth + 1, 'item'));
      if (this.i === before) this.i++;
    }
  }
  entries(depth: number): Attr[] {
    const out: Attr[] = [];
    for (;;) {
      this.skipNl();
      const tok = this.peek();
      if (tok.t === 'eof') return out;
      if (tok.t === 'p' && tok.v === '}') {
        this.i++;
        return out;
      }
      if (tok.t === 'p' && tok.v === ',') {
        this.i++;
        continue;
      }
      const sep = this.toks[this.i + 1];
      if ((tok.t === 'id' || tok.t === 'str') && sep?.t === 'p' && (sep.v === '=' || sep.v === ':')) {
        this.i += 2;
        out.push({ name: tok.v, line: tok.line, value: this.expr(depth + 1, 'item') });
        continue;
      }
      const before = this.i;
      this.expr(depth + 1, 'item');
      if (this.i === before) this.i++;
    }
  }
}

/** The file's top-level body, or why it is not read. */
export function parseHcl(text: string): Block | string {
  const toks = tokenize(text);
  if (typeof toks === 'string') return toks;
  const root: Block = { type: '', labels: [], line: 1, attrs: [], blocks: [] };
  try {
    new Parser(toks).body(0, root);
  } catch (e) {
    return (e as Error).message;
  }
  return root;
}

// ---------------------------------------------------------------- variables

interface SetAt {
  where: string;
  value: Value;
  /** The directory whose variables the value uses: the caller's, for a module argument. */
  ctx?: string;
  /** A place that may set it to a value the scan cannot know (a `-var-file=$VARS` a shell or CI variable names): why, in words. */
  unknownWhy?: string;
  /** A module block's argument overrides the child's `variable` default; a file Terraform loads itself (`auto`) overrides both. */
  kind?: 'default' | 'arg' | 'auto' | 'env' | 'cli';
  /** An `auto` file's place in Terraform's loading order (autoTfvarsRank): the last loaded wins. */
  rank?: string;
}

/**
 * Where a variables file comes in Terraform's loading order, later ones winning: `terraform.tfvars`,
 * then `terraform.tfvars.json`, then every `*.auto.tfvars` and `*.auto.tfvars.json` in the lexical
 * order of their names (Terraform's "Variable Definition Precedence"). Undefined for any other
 * `*.tfvars`: Terraform reads it only when `-var-file` names it, so it is one candidate among others.
 */
export function autoTfvarsRank(base: string): string | undefined {
  if (base === 'terraform.tfvars') return '0';
  if (base === 'terraform.tfvars.json') return '1';
  return /\.auto\.tfvars(?:\.json)?$/.test(base) ? `2${base}` : undefined;
}
/** Each module directory's `var.x` and `local.x` values, where set. */
class Vars {
  readonly sets = new Map<string, SetAt[]>();
  /** Each name resolved once (a chain of variables each using the last many times would otherwise be exponential). */
  readonly memo = new Map<string, Resolved[]>();
  readonly active = new Set<string>();
  /** How many module blocks of the scan call each local child directory. */
  readonly callers = new Map<string, number>();
  add(dir: string, name: string, where: string, value: Value, extra: Partial<SetAt> = {}): void {
    const k = `${dir}\0${name}`;
    const list = this.sets.get(k) ?? [];
    list.push({ where, value, ...extra });
    this.sets.set(k, list);
  }
  get(dir: string, name: string): SetAt[] {
    return this.sets.get(`${dir}\0${name}`) ?? [];
  }
}

type Resolved = Way;

/** At most this many ways one string is filled in (one finding each, as Ansible's, MAX_WAYS); past it, the part stays as written, unknown. */
export const MAX_WAYS = 16;
/** At most this many places or values are named in one note. */
const MAX_NAMED = 8;

/**
 * A quoted template with `${var.x}` / `${local.x}` filled in, one way per combination of the
 * values its variables may take (a default, a TF_VAR_ in CI, each -var-file candidate: at most
 * MAX_WAYS); anything else stays as written, said unknown.
 */
function resolveWays(s: string, dir: string, vars: Vars, depth = 0, scope?: (name: string) => Resolved[] | undefined): Resolved[] {
  let ways: Resolved[] = [{ value: '', unknown: [], by: [] }];
  let i = 0;
  for (;;) {
    const open = s.indexOf('${', i);
    if (open < 0 || (open > 0 && s[open - 1] === '$')) {
      for (const w of ways) w.value += s.slice(i);
      break;
    }
    const close = matchingBrace(s, open + 2);
    if (close < 0) {
      for (const w of ways) w.value += s.slice(i);
      break;
    }
    for (const w of ways) w.value += s.slice(i, open);
    const inner = s.slice(open + 2, close).trim();
    const whole = s.slice(open, close + 1);
    const m = /^(var|local)\.([A-Za-z_][\w-]*)$/.exec(inner);
    const named = scope && /^[A-Za-z_][\w-]*$/.test(inner) ? scope(inner) : undefined;
    const opts = named ?? (m ? resolveName(m[0], dir, vars, depth) : [{ value: whole, unknown: [`${whole}: an expression the scan does not evaluate`], by: [] }]);
    i = close + 1;
    if (ways.length * opts.length > MAX_WAYS) {
      const shown = opts.slice(0, MAX_NAMED).map((o) => (o.unknown.length ? '(unknown)' : o.value)).join(', ');
      for (const w of ways) (w.value += whole), w.unknown.push(`${whole} takes ${opts.length} values (${shown}${opts.length > MAX_NAMED ? ', …' : ''}): with the other variables of ${s.length > 80 ? `${s.slice(0, 80)}…` : s}, more than ${MAX_WAYS} ways, not each reported`);
      continue;
    }
    const next: Resolved[] = [];
    for (const w of ways)
      for (const o of opts) {
        if (w.value.length + o.value.length > MAX_RESOLVED) return [{ value: s, unknown: [`${s.slice(0, 80)}… is longer than ${MAX_RESOLVED} characters once filled in: not a reference the scan takes`], by: [] }];
        next.push({ value: w.value + (o.unknown.length ? whole : o.value), unknown: [...w.unknown, ...o.unknown], by: [...w.by, ...o.by] });
      }
    ways = next;
  }
  if (/%\{/.test(s)) for (const w of ways) w.unknown.push('a template directive (%{ … }) the scan does not evaluate');
  return mergeWays(ways);
}

/** Where a way's value came from, for a note; with the number of ways when there are several. */
function resolvedNote(written: string, r: Resolved, ways: number): string {
  return r.by.length ? `: ${written}, resolved ${r.by.join(', ')}${ways > 1 ? ` (one of ${ways} ways it is filled in)` : ''}` : '';
}

/** A string filled in one way only (a templatefile path): several ways make it unknown, the values named. */
function resolveTemplate(s: string, dir: string, vars: Vars): Resolved {
  const ways = resolveWays(s, dir, vars);
  if (ways.length === 1) return ways[0];
  return { value: s, unknown: [`${s} is filled in ${ways.length} ways (${ways.slice(0, MAX_NAMED).map((w) => w.value).join('; ')}): which applies depends on how terraform is run`], by: [] };
}

function matchingBrace(s: string, from: number): number {
  let depth = 1;
  let inStr = false;
  for (let k = from; k < s.length; k++) {
    const c = s[k];
    if (c === '\\') k++;
    else if (c === '"') inStr = !inStr;
    else if (!inStr && c === '{') depth++;
    else if (!inStr && c === '}' && --depth === 0) return k;
  }
  return -1;
}

function resolveName(name: string, dir: string, vars: Vars, depth: number): Resolved[] {
  const key = `${dir}\0${name}`;
  const known = vars.memo.get(key);
  if (known) return known;
  if (vars.active.has(key)) return [{ value: '', unknown: [`\${${name}}: defined through itself`], by: [] }];
  vars.active.add(key);
  const r = resolveNameOnce(name, dir, vars, depth);
  vars.active.delete(key);
  vars.memo.set(key, r);
  return r;
}

/** A string, a `var.x`/`local.x` or a template filled in, each way it may be; undefined for any other expression. */
function valueOf(v: Value, dir: string, vars: Vars, depth: number): Resolved[] | undefined {
  return v.t === 'str' && !v.long ? resolveWays(v.v, dir, vars, depth) : v.t === 'ref' ? resolveName(v.v, dir, vars, depth) : undefined;
}

/**
 * Each value `var.x` / `local.x` may take, named with where it is set: one way per place that may
 * apply (a default, a TF_VAR_ or -var on a command line, each -var-file candidate), those Terraform
 * always loads over it left out (terraform.tfvars, *.auto.tfvars). A value that is itself unknown
 * (from the shell, no string) is an unknown way.
 */
function resolveNameOnce(name: string, dir: string, vars: Vars, depth: number): Resolved[] {
  let set = vars.get(dir, name);
  // A module argument overrides the child's default when every module block calling the child sets it.
  const args = set.filter((s) => s.kind === 'arg').length;
  if (args && args >= (vars.callers.get(dir) ?? 0)) set = set.filter((s) => s.kind !== 'default');
  // A file Terraform loads itself overrides the default, and the last one loaded the others; a
  // `-var-file` candidate (any other *.tfvars) or a command line's -var stays one more way it may be set.
  const auto = set.filter((s) => s.kind === 'auto');
  if (auto.length) {
    const last = auto.reduce((a, b) => (b.rank! >= a.rank! ? b : a));
    // TF_VAR_ in the environment comes first in Terraform's loading order: every variables file it loads itself overrides it.
    set = set.filter((s) => s.kind !== 'default' && s.kind !== 'env' && (s.kind !== 'auto' || s === last));
  }
  const where = dir || '.';
  if (!set.length) return [{ value: '', unknown: [`\${${name}} is set in no variable default, locals or *.tfvars of ${where} in the scan (-var, TF_VAR_ or a -var-file may set it)`], by: [] }];
  if (depth >= 8) return [{ value: '', unknown: [`\${${name}}: defined through itself or nested deeper than 8`], by: [] }];
  const each = set.map((s) => ({ s, ways: valueOf(s.value, s.ctx ?? dir, vars, depth + 1) }));
  const distinct = new Set(each.flatMap(({ ways }) => (ways ?? [undefined]).map((w) => (w && !w.unknown.length ? w.value : undefined))));
  const several = distinct.size > 1 ? `, one of ${distinct.size} values: which applies depends on how terraform is run` : '';
  const out: Resolved[] = [];
  for (const { s, ways } of each) {
    if (!ways) {
      out.push({ value: '', unknown: [s.unknownWhy ? `\${${name}} ${s.unknownWhy} (${s.where})` : `\${${name}} is set to no string (${s.where})${several}`], by: [] });
      continue;
    }
    for (const w of ways) {
      if (w.unknown.length) out.push({ value: '', unknown: [`\${${name}} (${s.where}${several})`, ...w.unknown], by: [] });
      else out.push({ value: w.value, unknown: [], by: [`\${${name}}=${w.value.length > 200 ? `${w.value.slice(0, 200)}…` : w.value} (${s.where}${several})`, ...w.by] });
    }
  }
  const merged = mergeWays(out);
  if (merged.length > MAX_WAYS)
    return [{ value: '', unknown: [`\${${name}} is set ${set.length} times to ${distinct.size} values (${set.slice(0, MAX_NAMED).map((s) => s.where).join('; ')}${set.length > MAX_NAMED ? '; …' : ''}): more than ${MAX_WAYS} ways, not each reported`], by: [] }];
  return merged;
}

// ---------------------------------------------------------------- provider installation

interface Method {
  kind: 'direct' | 'network_mirror' | 'filesystem_mirror';
  file: string;
  line: number;
  url?: string;
  path?: string;
  include: string[];
  exclude: string[];
}

// A two-part pattern (`hashicorp/STAR`, `STAR/STAR`) is on the default registry host (the CLI configuration docs).
function patternMatches(pattern: string, addr: string, defaultHost: string): boolean {
  const parts = pattern.split('/');
  const full = parts.length === 2 ? [defaultHost, ...parts] : parts;
  const a = addr.split('/');
  return full.length === 3 && full.every((p, k) => p === '*' || p.toLowerCase() === a[k]?.toLowerCase());
}

function methodApplies(m: Method, addr: string, defaultHost: string): boolean {
  if (m.exclude.some((p) => patternMatches(p, addr, defaultHost))) return false;
  return !m.include.length || m.include.some((p) => patternMatches(p, addr, defaultHost));
}

function stringsOf(v: Value | undefined): string[] {
  if (!v) return [];
  if (v.t === 'str') return [v.v];
  if (v.t === 'list') return v.items.flatMap((x) => (x.t === 'str' ? [x.v] : []));
  return [];
}

// ---------------------------------------------------------------- the pass

const attr = (b: Block, name: string) => b.attrs.find((a) => a.name === name);
const str = (b: Block, name: string) => {
  const a = attr(b, name);
  return a?.value.t === 'str' && !a.value.long ? { v: a.value.v, line: a.value.line } : undefined;
};

/**
 * The Terraform references of the scan's files, replacing the generic text scan's at the lines
 * this pass reads (those are read here with their meaning); other lines keep the generic reading.
 */
export function applyTerraform(files: ScannedFile[], references: Reference[]): Array<{ file: string; reason: string }> {
  const tf = files.filter((f) => f.text !== undefined && isTerraformFile(f.file));
  if (!tf.length) return [];
  const problems: Array<{ file: string; reason: string }> = [];
  const parsed: Array<{ file: string; dir: string; root: Block }> = [];
  const vars = new Vars();
  /** Each `*.tfvars.json`'s variables, for a `-var-file` that names it. */
  const jsonTfvars = new Map<string, Attr[]>();
  /** Template files by path (templatefile renders them), and how many times each was rendered. */
  const templates = new Map<string, { text: string; renders: number }>();
  for (const f of tf) {
    const base = path.posix.basename(f.file);
    if (isTemplateFile(base)) {
      templates.set(f.file, { text: f.text!, renders: 0 });
      continue;
    }
    if (base.endsWith('.tfvars.json')) {
      jsonTfvars.set(f.file, tfvarsJson(f.file, f.text!, vars, problems));
      continue;
    }
    const root = parseHcl(f.text!);
    if (typeof root === 'string') problems.push({ file: f.file, reason: `not read as Terraform (${root}): read line by line as text` });
    else parsed.push({ file: f.file, dir: path.posix.dirname(f.file), root });
  }
  // OpenTofu when the scan says so (a .tofu file, a .tofurc, a lock file of registry.opentofu.org).
  const tofu = tf.some((f) => /\.tofu$|(?:^|\/)(?:\.tofurc|tofu\.rc)$/.test(f.file) || (path.posix.basename(f.file) === LOCK_FILE && f.text!.includes('registry.opentofu.org/')));
  const defaultHost = tofu ? 'registry.opentofu.org' : 'registry.terraform.io';
  const tool = tofu ? 'tofu' : 'terraform';

  const methods: Method[] = [];
  const cliFiles: string[] = [];
  for (const p of parsed) {
    const base = path.posix.basename(p.file);
    if (CLI_CONFIG.test(base)) {
      cliFiles.push(p.file);
      for (const pi of p.root.blocks.filter((b) => b.type === 'provider_installation'))
        for (const m of pi.blocks)
          if (m.type === 'direct' || m.type === 'network_mirror' || m.type === 'filesystem_mirror')
            methods.push({ kind: m.type, file: p.file, line: m.line, url: str(m, 'url')?.v, path: str(m, 'path')?.v, include: stringsOf(attr(m, 'include')?.value), exclude: stringsOf(attr(m, 'exclude')?.value) });
      continue;
    }
    if (base.endsWith('.tfvars')) {
      const rank = autoTfvarsRank(base);
      for (const a of p.root.attrs) vars.add(p.dir, `var.${a.name}`, `${p.file}:${a.line}`, a.value, rank ? { kind: 'auto', rank } : {});
    }
    for (const b of p.root.blocks) {
      if (b.type === 'variable' && b.labels[0]) {
        const d = attr(b, 'default');
        if (d) vars.add(p.dir, `var.${b.labels[0]}`, `${p.file}:${d.line} default`, d.value, { kind: 'default' });
      }
      // A local child module: its variables get the caller's arguments, filled in from the caller's directory.
      const src = b.type === 'module' ? str(b, 'source') : undefined;
      if (src && /^\.\.?\//.test(src.v)) {
        const child = path.posix.normalize(path.posix.join(p.dir, src.v)).replace(/\/+$/, '');
        vars.callers.set(child, (vars.callers.get(child) ?? 0) + 1);
        for (const a of b.attrs)
          if (!['source', 'version', 'providers', 'count', 'for_each', 'depends_on'].includes(a.name))
            vars.add(child, `var.${a.name}`, `${p.file}:${a.line} module "${b.labels[0] ?? ''}" argument`, a.value, { ctx: p.dir, kind: 'arg' });
      }
      if (b.type === 'locals') for (const a of b.attrs) vars.add(p.dir, `local.${a.name}`, `${p.file}:${a.line}`, a.value);
    }
  }

  // `TF_VAR_<name>=value` in an env, script or CI file next to a root module (runtime-vars.ts): a
  // run-time value of its `var.<name>`, over the variable's default only (Terraform reads the
  // environment first, then terraform.tfvars, *.auto.tfvars and -var/-var-file, later ones winning).
  const declaredVars = new Map<string, Set<string>>();
  for (const p of parsed) for (const b of p.root.blocks) if (b.type === 'variable' && b.labels[0]) declaredVars.set(p.dir, (declaredVars.get(p.dir) ?? new Set()).add(b.labels[0]));
  for (const f of files) {
    if (f.text === undefined || isTerraformFile(f.file) || !f.text.includes('TF_VAR_')) continue;
    const scope = runtimeScopeOf(f.file);
    for (const x of tfVarsIn(f.text))
      for (const [dir, names] of declaredVars) {
        // Only a root module reads TF_VAR_ (a child module gets its caller's arguments).
        if (!names.has(x.name) || !inRuntimeScope(scope, dir) || vars.callers.get(dir)) continue;
        const value: Value = x.value === undefined ? { t: 'other', line: x.line, calls: [], strings: [] } : { t: 'str', v: x.value, line: x.line };
        vars.add(dir, `var.${x.name}`, `${f.file}:${x.line} ${x.how} (a run-time value${x.value === undefined ? ' from the shell or CI, unknown' : ''})`, value, { kind: 'env' });
      }
  }

  commandLineVars(files, parsed, jsonTfvars, declaredVars, vars, problems);

  const out: Reference[] = [];
  // Lines read here whose generic references give way even where this pass reports nothing (include/exclude patterns are no destinations).
  const claimed = new Set<string>();
  for (const m of methods) {
    const b = parsed.find((p) => p.file === m.file)!.root.blocks.flatMap((x) => x.blocks).find((x) => x.line === m.line)!;
    for (const a of b.attrs) if (a.name === 'include' || a.name === 'exclude') for (const v of a.value.t === 'list' ? a.value.items : [a.value]) claimed.add(`${m.file}\0${v.line}`);
    const u = str(b, 'url');
    if (m.kind === 'network_mirror' && u) for (const r of referencesIn(u.v, false)) out.push({ file: m.file, line: u.line, keyPath: 'provider_installation.network_mirror.url', ...r, provenance: `${m.file}:${u.line} the provider network mirror the CLI configuration installs providers from` });
  }
  const provider = (file: string, line: number, keyPath: string, source: string, version: string | undefined, what: string) => {
    const parts = source.toLowerCase().split('/');
    if (parts.length < 2 || parts.length > 3 || parts.some((x) => !/^[a-z0-9][a-z0-9._-]*$/.test(x))) {
      out.push({ file, line, keyPath, kind: 'host', value: source, provenance: `${file}:${line} ${what} ${source}: not a provider address ([hostname/]namespace/type); where ${tool} init fetches it from is unknown` });
      return;
    }
    const addr = parts.length === 2 ? `${defaultHost}/${parts.join('/')}` : parts.join('/');
    const host = addr.split('/')[0];
    const v = version ? ` ${version}` : ' (any version)';
    const applied = methods.filter((m) => methodApplies(m, addr, defaultHost));
    const say = `${file}:${line} ${what} ${addr}${v}`;
    if (!cliFiles.length || applied.some((m) => m.kind === 'direct')) {
      const d = applied.find((m) => m.kind === 'direct');
      const how = d ? `the direct method of ${d.file}:${d.line} matches it (${tool} tries every matching method and takes the newest version)` : cliFiles.length ? '' : `no CLI configuration (.terraformrc, terraform.rc, .tofurc) with provider_installation is in the scan`;
      out.push({ file, line, keyPath, kind: 'host', value: host, provenance: `${say}: ${tool} init downloads it from its origin registry ${host}${how ? `; ${how}` : ''}: serve it from a network_mirror or filesystem_mirror and exclude it from direct` });
    }
    for (const m of applied) {
      if (m.kind === 'network_mirror' && m.url) {
        const base = m.url.endsWith('/') ? m.url : `${m.url}/`;
        for (const r of referencesIn(`${base}${addr}/index.json`, false).filter((x) => x.kind === 'url'))
          out.push({ file, line, keyPath, ...r, provenance: `${say}: from the network mirror of ${m.file}:${m.line}` });
      }
      if (m.kind === 'filesystem_mirror' && m.path)
        out.push({ file, line, keyPath, kind: 'url', value: `file://${m.path.replace(/\/$/, '')}/${addr}/`, inCluster: `${say}: installed from the filesystem mirror ${m.path} of ${m.file}:${m.line} (a directory on the machine running ${tool}; whether it holds this version is not in the scan)` });
    }
    if (cliFiles.length && !applied.length)
      out.push({ file, line, keyPath, kind: 'host', value: host, provenance: `${say}: no installation method of ${cliFiles.join(', ')} matches it: ${tool} init fails to install it` });
  };

  // Each module directory's required_providers local names: a resource, data source or provider block of another is an implied hashicorp/<name>.
  const declared = new Map<string, Set<string>>();
  for (const p of parsed)
    for (const b of p.root.blocks.filter((x) => x.type === 'terraform'))
      for (const rp of b.blocks.filter((x) => x.type === 'required_providers')) for (const a of rp.attrs) declared.set(p.dir, (declared.get(p.dir) ?? new Set()).add(a.name));
  const implied = new Set<string>();
  const rendered = new Set<string>();

  for (const p of parsed) {
    const base = path.posix.basename(p.file);
    if (CLI_CONFIG.test(base)) continue;
    if (base === LOCK_FILE) {
      for (const b of p.root.blocks.filter((x) => x.type === 'provider' && x.labels[0])) provider(p.file, b.line, `provider.${b.labels[0]}`, b.labels[0], str(b, 'version')?.v, 'the dependency lock file pins provider');
      continue;
    }
    const resolve = (s: string) => resolveWays(s, p.dir, vars);
    /** A string value's references: `image` as an image, otherwise every URL, host and image in it. */
    const emit = (line: number, keyPath: string, written: string, what: string, as: 'image' | 'text' | 'url', extra: Partial<Reference> = {}): void => {
      // A heredoc or multi-line template (a local-exec script): each line at its own line.
      if (as === 'text' && written.includes('\n')) {
        written.split('\n').forEach((l, k) => l.trim() && emit(line + k, keyPath, l, what, as, extra));
        return;
      }
      const ways = resolve(written);
      const at = `${p.file}:${line} ${what}`;
      for (const r of ways) {
        if (r.unknown.length) {
          const probe = written.replace(/\$\{[^}]*\}/g, 'x');
          if (as === 'image' || referencesIn(probe, false).length || as === 'url')
            out.push({ file: p.file, line, keyPath, kind: as === 'image' ? 'image' : 'url', value: r.value, ...extra, provenance: `${at}: ${written}${r.by.length ? `, resolved ${r.by.join(', ')}` : ''}: ${r.unknown.join('; ')}; what it fetches is unknown until that is set` });
          continue;
        }
        const found = as === 'image' ? [{ kind: 'image' as const, value: r.value }] : referencesIn(r.value, false);
        for (const f of found) out.push({ file: p.file, line, keyPath, ...f, ...extra, provenance: `${at}${resolvedNote(written, r, ways.length)}` });
      }
    };

    const walk = (b: Block, keyPath: string, resource: string | undefined, depth: number) => {
      if (depth > MAX_DEPTH) return;
      if (b.type === 'terraform') {
        for (const rp of b.blocks.filter((x) => x.type === 'required_providers'))
          for (const a of rp.attrs) {
            if (a.value.t === 'obj') {
              const e = (n: string) => a.value.t === 'obj' ? a.value.entries.find((x) => x.name === n) : undefined;
              const src = e('source');
              const ver = e('version');
              const source = src?.value.t === 'str' ? src.value.v : `hashicorp/${a.name}`;
              provider(p.file, src?.line ?? a.line, `terraform.required_providers.${a.name}`, source, ver?.value.t === 'str' ? ver.value.v : undefined, `provider ${a.name}:`);
            } else if (a.value.t === 'str') provider(p.file, a.line, `terraform.required_providers.${a.name}`, `hashicorp/${a.name}`, a.value.v, `provider ${a.name} (legacy version-only form):`);
          }
        return;
      }
      if (b.type === 'module') {
        const src = str(b, 'source');
        if (src) moduleSource(p.file, src.line, `module.${b.labels[0] ?? ''}.source`, src.v, str(b, 'version')?.v, out, defaultHost, tool);
        for (const a of b.attrs) if (a.name !== 'source' && a.name !== 'version') attrRefs(a, `${keyPath}.${a.name}`, undefined);
        return;
      }
      if (resource === 'helm_release' && b.type === 'resource') {
        const repo = str(b, 'repository');
        const chart = str(b, 'chart');
        const version = str(b, 'version');
        const what = `helm_release.${b.labels[1] ?? ''}: chart ${chart?.v ?? '(none)'} ${version ? `version ${version.v}` : '(the latest version: no version)'}`;
        if (repo) emit(repo.line, `${keyPath}.repository`, repo.v, `${what} from the repository`, 'url');
        else if (chart && /^(?:oci|https?):\/\//.test(chart.v)) emit(chart.line, `${keyPath}.chart`, chart.v, what, 'url');
        else if (chart && /^[^/\s.]+\/[^/\s]+$/.test(chart.v))
          out.push({ file: p.file, line: chart.line, keyPath: `${keyPath}.chart`, kind: 'host', value: `helm repository ${chart.v.split('/')[0]}`, provenance: `${p.file}:${chart.line} ${what}: the repository ${chart.v.split('/')[0]} is one helm repo add made on the machine running ${tool} (no repository argument): its URL is unknown` });
        // `set { name = "image.repository" … }` + `image.tag`: the image the chart is told to pull.
        const sets = new Map<string, { v: string; line: number }>();
        for (const s of b.blocks.filter((x) => x.type === 'set')) {
          const n = str(s, 'name');
          const v = str(s, 'value');
          if (n && v) sets.set(n.v, v);
        }
        for (const [n, v] of sets) {
          const m = /^(.*\bimage)\.repository$/.exec(n);
          if (!m) continue;
          const tag = sets.get(`${m[1]}.tag`);
          const reg = sets.get(`${m[1]}.registry`);
          emit(v.line, `${keyPath}.set[${n}]`, `${reg ? `${reg.v}/` : ''}${v.v}${tag ? `:${tag.v}` : ''}`, `helm_release.${b.labels[1] ?? ''} set ${n}${tag ? ` + ${m[1]}.tag` : ''}`, 'image');
        }
        for (const a of b.attrs) if (!['repository', 'chart', 'version'].includes(a.name)) attrRefs(a, `${keyPath}.${a.name}`, resource);
        for (const c of b.blocks) if (c.type !== 'set') walk(c, `${keyPath}.${c.type}`, resource, depth + 1);
        return;
      }
      for (const a of b.attrs) attrRefs(a, `${keyPath}.${a.name}`, resource);
      for (const c of b.blocks) walk(c, `${keyPath}.${c.type}`, c.type === 'resource' || c.type === 'data' ? c.labels[0] : resource, depth + 1);
    };
    const attrRefs = (a: Attr, keyPath: string, resource: string | undefined) => {
      const visit = (v: Value, kp: string, name: string, depth: number) => {
        if (depth > MAX_DEPTH) return;
        if (v.t === 'str' && !v.long) {
          const image = name === 'image' || (resource === 'docker_image' && name === 'name');
          emit(v.line, kp, v.v, resource ? `${resource} ${name}` : name, image ? 'image' : 'text');
        } else if (v.t === 'ref') {
          // `image = var.image`, `host = var.endpoint`: the variable's value, as a string written `${var.x}` would be.
          const image = name === 'image' || (resource === 'docker_image' && name === 'name');
          emit(v.line, kp, `\${${v.v}}`, resource ? `${resource} ${name}` : name, image ? 'image' : DESTINATION_NAME.test(name) ? 'url' : 'text');
        } else if (v.t === 'call') renderTemplate(v, kp);
        else if (v.t === 'list') v.items.forEach((x, k) => visit(x, `${kp}[${k}]`, name, depth + 1));
        else if (v.t === 'obj') for (const e of v.entries) visit(e.value, `${kp}.${e.name}`, e.name, depth + 1);
        else if (v.t === 'other') for (const s of v.strings) visit(s, kp, name, depth + 1);
      };
      visit(a.value, keyPath, a.name, 0);
    };
    /** templatefile("x.tftpl", { k = … }): each line of the template with `${k}` filled in from the map, at the template's own line. */
    const renderTemplate = (call: Value & { t: 'call' }, keyPath: string) => {
      const [pathArg, mapArg] = call.args;
      if (pathArg?.t !== 'str' || pathArg.long) return;
      const rel = resolveTemplate(pathArg.v.replace(/\$\{\s*path\.module\s*\}/g, '.'), p.dir, vars);
      if (rel.unknown.length || path.posix.isAbsolute(rel.value)) return;
      const file = path.posix.normalize(path.posix.join(p.dir, rel.value));
      const tpl = templates.get(file);
      if (!tpl) return;
      const at = `${file} rendered by templatefile at ${p.file}:${call.line}`;
      if (++tpl.renders > MAX_RENDERS) {
        out.push({ file: p.file, line: call.line, keyPath, kind: 'host', value: `template ${file}`, provenance: `${at}: rendered more than ${MAX_RENDERS} times in the scan; this call's values are not filled in (its literal lines are read as text)` });
        return;
      }
      rendered.add(file);
      const entries = mapArg?.t === 'obj' ? mapArg.entries : [];
      const memo = new Map<string, Resolved[]>();
      const scope = (n: string): Resolved[] => {
        const known = memo.get(n);
        if (known) return known;
        const e = entries.find((x) => x.name === n);
        const ways = e ? (valueOf(e.value, p.dir, vars, 1) ?? [{ value: '', unknown: [`\${${n}}: ${p.file}:${e.line} is an expression the scan does not evaluate`], by: [] }]) : [{ value: '', unknown: [`\${${n}} is not in the templatefile map at ${p.file}:${call.line}`], by: [] }];
        const named = ways.map((r) => (r.unknown.length ? r : { ...r, by: [`\${${n}}=${r.value} (${p.file}:${e!.line})`, ...r.by] }));
        memo.set(n, named);
        return named;
      };
      let line = 0;
      for (const l of tpl.text.split('\n')) {
        line++;
        if (!l.includes('${')) continue;
        const ways = resolveWays(l, p.dir, vars, 0, scope);
        for (const r of ways) {
          if (r.unknown.length) {
            if (referencesIn(l.replace(/\$\{[^}]*\}/g, 'x'), false).length) out.push({ file, line, keyPath, kind: 'url', value: r.value.trim(), provenance: `${file}:${line} (${at}): ${l.trim()}${r.by.length ? `, resolved ${r.by.join(', ')}` : ''}: ${r.unknown.join('; ')}; what it fetches is unknown until that is set` });
            continue;
          }
          for (const f of referencesIn(r.value, false)) out.push({ file, line, keyPath, ...f, provenance: `${file}:${line} (${at})${resolvedNote(l.trim(), r, ways.length)}` });
        }
      }
    };
    for (const b of p.root.blocks) {
      // The implicit provider rule (Terraform's provider requirements docs): a resource type's first word, or a provider block's name, with no required_providers entry is hashicorp/<name>.
      const local = b.type === 'provider' ? b.labels[0] : (b.type === 'resource' || b.type === 'data') && b.labels[0] && !attr(b, 'provider') ? /^([a-z0-9]+)_/.exec(b.labels[0])?.[1] : undefined;
      if (local && local !== 'terraform' && !declared.get(p.dir)?.has(local) && !implied.has(`${p.dir}\0${local}`)) {
        implied.add(`${p.dir}\0${local}`);
        provider(p.file, b.line, `${b.type}.${b.labels[0]}`, `hashicorp/${local}`, undefined, `${b.type} "${b.labels[0]}" with no required_providers entry for ${local} in ${p.dir || '.'} implies provider`);
      }
      walk(b, [b.type, ...b.labels].join('.'), b.type === 'resource' || b.type === 'data' ? b.labels[0] : undefined, 0);
    }
    for (const a of p.root.attrs) attrRefs(a, a.name, undefined);
  }

  // The generic text scan's references at the lines read here give way to these.
  const read = new Set([...out.map((r) => `${r.file}\0${r.line}`), ...claimed]);
  const parsedFiles = new Set([...parsed.map((p) => p.file), ...rendered]);
  for (let k = references.length - 1; k >= 0; k--) {
    const r = references[k];
    if (parsedFiles.has(r.file) && read.has(`${r.file}\0${r.line}`)) references.splice(k, 1);
  }
  const seen = new Set<string>();
  for (const r of out) {
    const key = `${r.file}\0${r.line}\0${r.kind}\0${r.value}\0${r.keyPath ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    references.push(r);
  }
  return problems;
}

/** An attribute whose name says it holds a destination: a variable there is reported even when its value is unknown. */
const DESTINATION_NAME = /(?:^|_)(?:host|url|endpoint|address|server|registry|repository|uri)s?$/;
/** A template rendered more often than this by the scan's templatefile calls: the later calls are named, not rendered (each render reads the whole template). */
const MAX_RENDERS = 16;

/** At most this many variable settings come from command lines (each -var, each variable of a -var-file, for each root module). */
export const MAX_CLI_SETTINGS = 10_000;
/**
 * At most this many steps (a root module looked at for a command line, a variable compared between
 * a -var-file and a root module) go into matching command lines with root modules: 8 small
 * scripts naming one 110 000-variable -var-file 256 times each took 16 s, and more scripts more.
 */
export const MAX_CLI_STEPS = 10_000_000;

/**
 * `terraform -chdir=DIR plan -var 'x=v' -var-file=prod.tfvars` in a script or CI file next to a
 * root module (runtime-vars.ts tfCliVarsIn): each -var, and each variable of a -var-file the scan
 * holds, is one more run-time value of that root module's `var.x` (a command line's -var and
 * -var-file come last in Terraform's loading order, over terraform.tfvars and *.auto.tfvars). The
 * root module: `-chdir`'s directory, else each root module in the file's scope declaring the
 * variable; a relative -var-file is read from `-chdir`'s directory, else from the file's scope or
 * the root module's directory (a `cd` before it), wherever the scan holds it. What a -var-file sets
 * of a root module's variables is found once for the pair (the smaller of the two walked), a file
 * named twice on one command line counts once, and at most MAX_CLI_STEPS steps are taken in all.
 */
function commandLineVars(files: ScannedFile[], parsed: Array<{ file: string; dir: string; root: Block }>, jsonTfvars: ReadonlyMap<string, Attr[]>, declaredVars: Map<string, Set<string>>, vars: Vars, problems: Array<{ file: string; reason: string }>): void {
  let added = 0;
  let steps = 0;
  const add = (f: string, dir: string, name: string, where: string, value: Value, unknownWhy?: string): boolean => {
    if (++added > MAX_CLI_SETTINGS) {
      problems.push({ file: f, reason: `more than ${MAX_CLI_SETTINGS} terraform -var/-var-file settings in the scan: those past it are not read, so the variables they set may take values not reported` });
      return false;
    }
    vars.add(dir, name, where, value, { kind: 'cli', ...(unknownWhy ? { unknownWhy } : {}) });
    return true;
  };
  const step = (f: string, n: number): boolean => {
    if ((steps += n) <= MAX_CLI_STEPS) return true;
    problems.push({ file: f, reason: `more than ${MAX_CLI_STEPS} steps matching terraform command lines' -var/-var-file with root modules in the scan: the command lines from here on are not read, so the variables they set may take values not reported` });
    return false;
  };
  const tfvars = new Map<string, Attr[]>([...parsed.filter((p) => p.file.endsWith('.tfvars')).map((p) => [p.file, p.root.attrs] as const), ...jsonTfvars]);
  // A -var-file's variables by name, and what it sets of a root module's variables, each found once.
  const byName = new Map<string, Map<string, Attr[]>>();
  const setsOf = new Map<string, Attr[]>();
  const setBy = (file: string, dir: string, names: ReadonlySet<string>): Attr[] => {
    const key = `${dir}\0${file}`;
    const had = setsOf.get(key);
    if (had) return had;
    let index = byName.get(file);
    if (!index) {
      index = new Map();
      for (const a of tfvars.get(file)!) {
        const list = index.get(a.name);
        if (list) list.push(a);
        else index.set(a.name, [a]);
      }
      byName.set(file, index);
    }
    const out: Attr[] = [];
    if (names.size <= index.size) {
      for (const n of names) out.push(...(index.get(n) ?? []));
      out.sort((x, y) => x.line - y.line);
    } else for (const a of tfvars.get(file)!) if (names.has(a.name)) out.push(a);
    setsOf.set(key, out);
    return out;
  };
  for (const f of files) {
    if (f.text === undefined || isTerraformFile(f.file) || !/-var/.test(f.text)) continue;
    const scope = runtimeScopeOf(f.file);
    for (const cmd of tfCliVarsIn(f.text)) {
      if (!step(f.file, declaredVars.size)) return;
      const chdir = cmd.chdir === undefined ? undefined : path.posix.normalize(path.posix.join(scope, cmd.chdir)).replace(/\/+$/, '');
      const roots = [...declaredVars.keys()].filter((dir) => !vars.callers.get(dir) && (chdir === undefined ? inRuntimeScope(scope, dir) : dir === chdir || (chdir === '.' && dir === '')));
      for (const dir of roots) {
        const names = declaredVars.get(dir)!;
        for (const x of cmd.vars) {
          if (!names.has(x.name)) continue;
          const value: Value = x.value === undefined ? { t: 'other', line: x.line, calls: [], strings: [] } : { t: 'str', v: x.value, line: x.line };
          if (!add(f.file, dir, `var.${x.name}`, `${f.file}:${x.line} ${x.how} (a run-time value${x.value === undefined ? ' from the shell or CI, unknown' : ''})`, value)) return;
        }
        for (const written of new Set(cmd.varFiles)) {
          if (path.posix.isAbsolute(written)) continue;
          const bases = chdir !== undefined ? [chdir] : [...new Set([scope, dir || '.'])];
          const file = bases.map((b) => path.posix.normalize(path.posix.join(b, written))).find((x) => tfvars.has(x));
          if (!file) continue;
          if (!setsOf.has(`${dir}\0${file}`) && !step(f.file, Math.min(names.size, tfvars.get(file)!.length))) return;
          for (const a of setBy(file, dir, names)) if (!add(f.file, dir, `var.${a.name}`, `${file}:${a.line} (-var-file at ${f.file}:${cmd.line}, a run-time value)`, a.value)) return;
        }
        // `-var-file=$VARS` / `${VARS}.tfvars`: a file the shell or CI names may set any variable of the module.
        for (const written of cmd.unnamed.slice(0, 1))
          for (const name of names)
            if (!add(f.file, dir, `var.${name}`, `${f.file}:${cmd.line} -var-file=${written.length > 120 ? `${written.slice(0, 120)}…` : written}`, { t: 'other', line: cmd.line, calls: [], strings: [] }, `may be set by a -var-file the shell or CI names, unknown here`)) return;
      }
    }
  }
}

/** terraform.tfvars.json / *.auto.tfvars.json: a JSON object of variable values (the string ones are read). */
function tfvarsJson(file: string, text: string, vars: Vars, problems: Array<{ file: string; reason: string }>): Attr[] {
  const attrs: Attr[] = [];
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    problems.push({ file, reason: `not read as Terraform variables (${(e as Error).message.slice(0, 200)})` });
    return attrs;
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return attrs;
  const dir = path.posix.dirname(file);
  // The line of each key: found from the last one on (keys come in text order), so the text is walked once.
  // A key written otherwise than JSON.stringify writes it (`\u0061`) ends the search: each miss would
  // read the rest of the text again (100 000 such keys, quadratic); later keys get the last line found.
  let cursor = 0;
  let cursorLine = 1;
  for (const [k, v] of Object.entries(obj)) {
    const at = cursor < 0 ? -1 : text.indexOf(JSON.stringify(k), cursor);
    if (at >= 0) {
      for (let i = text.indexOf('\n', cursor); i >= 0 && i < at; i = text.indexOf('\n', i + 1)) cursorLine++;
      cursor = at;
    } else cursor = -1;
    const line = cursorLine;
    const value: Value = typeof v === 'string' ? (v.length > MAX_STRING ? { t: 'str', v: '', line, long: true } : { t: 'str', v, line }) : { t: 'other', line, calls: [], strings: [] };
    const rank = autoTfvarsRank(path.posix.basename(file));
    vars.add(dir, `var.${k}`, `${file}:${line}`, value, rank ? { kind: 'auto', rank } : {});
    attrs.push({ name: k, line, value });
  }
  return attrs;
}


/** A module `source` address (the module sources docs): what `terraform init` fetches. */
function moduleSource(file: string, line: number, keyPath: string, source: string, version: string | undefined, out: Reference[], defaultHost: string, tool: string): void {
  const at = `${file}:${line} module source ${source}`;
  if (/^\.\.?\//.test(source)) return; // a local path: nothing fetched
  const push = (kind: Reference["kind"], value: string, how: string): void => void out.push({ file, line, keyPath, kind, value, provenance: `${at}: ${tool} init ${how}; ferry carries no module trees: vendor it into the repository and use a local path (./modules/…)` });
  let s = source;
  const forced = /^(git|hg|s3|gcs)::(.*)$/.exec(s);
  if (forced) s = forced[2];
  // `//subdir` and `?ref=`: the package is what is before them.
  const noQuery = s.replace(/\?.*$/, '');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(noQuery);
  if (scheme) {
    const pkg = noQuery.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/]*\/.*?)\/\/.*$/i, '$1');
    if (/^(?:https?)$/i.test(scheme[1])) return push('url', pkg, forced ? `fetches it with ${forced[1]} from ${pkg}` : `downloads ${pkg}`);
    const host = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?([^/:]+)/i.exec(noQuery)?.[1];
    if (host) return push('host', host.toLowerCase(), `fetches it over ${scheme[1]} from ${host}`);
  }
  const scp = /^[\w.-]+@([a-z0-9.-]+):/i.exec(noQuery);
  if (scp) return push('host', scp[1].toLowerCase(), `clones it with git over SSH from ${scp[1]}`);
  const gh = /^(github\.com|bitbucket\.org)\/([^/]+\/[^/]+?)(?:\.git)?(?:\/\/.*)?$/i.exec(noQuery);
  if (gh) return push('url', `https://${gh[1].toLowerCase()}/${gh[2]}.git`, `clones it with git from https://${gh[1].toLowerCase()}/${gh[2]}.git`);
  const reg = /^(?:([a-z0-9.-]+\.[a-z0-9-]+(?::\d+)?)\/)?([\w-]+)\/([\w-]+)\/([\w-]+)(?:\/\/.*)?$/i.exec(noQuery);
  if (reg) {
    const host = (reg[1] ?? defaultHost).toLowerCase();
    return push('host', host, `downloads module ${reg[2]}/${reg[3]}/${reg[4]} ${version ? `version ${version}` : '(the latest version: no version)'} through the module registry ${host}`);
  }
  out.push({ file, line, keyPath, kind: 'host', value: source, provenance: `${at}: a source address the scan does not read: what ${tool} init fetches is unknown` });
}
