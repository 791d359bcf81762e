/**
 * What a web server's configuration (nginx, Caddy, Apache httpd) sends requests to, beyond the
 * URLs the generic patterns read: Apache's `Define` variables filled in, and an upstream that is
 * wholly a variable (`proxy_pass $backend;`, `reverse_proxy {env.BACKEND_URL}`), whose destination
 * is unknown.
 */

/** At most this many `Define`s are kept for one file (a real config has a handful). */
export const MAX_DEFINES = 256;
/** A defined value longer than this is not filled in. */
const MAX_DEFINE_VALUE = 1024;
/**
 * At most this many characters are added to one line by filling in, and to one file (a 5 MB line
 * of `${A}` with a 1 KiB `A` made a 1.2 G-character string: the audit died on "Invalid string
 * length"); the names past it stay as written, said so.
 */
export const MAX_DEFINE_GROWTH = 64 * 1024;
const MAX_DEFINE_GROWTH_FILE = 1024 * 1024;
/** A value as a note quotes it (the note goes with every finding of the line). */
const quoted = (v: string): string => (v.length > 120 ? `${v.slice(0, 120)}…` : v);

const DEFINE = /^\s*Define\s+([A-Za-z_][A-Za-z0-9_]*)(?:\s+("[^"]*"|'[^']*'|\S+))?\s*$/;
const UNDEFINE = /^\s*UnDefine\s+([A-Za-z_][A-Za-z0-9_]*)\s*$/;
const defineValue = (v: string | undefined): string => (v ?? '').replace(/^(["'])(.*)\1$/, '$2');

/** A defined value and where (`file:line`). */
export interface ApacheDefine {
  value: string;
  at: string;
}

/** What other files of the configuration define for one file: at its start, and after each of its `Include` lines (undefined: an UnDefine). */
export interface ApacheDefinesContext {
  seed: Map<string, ApacheDefine>;
  after: Map<number, Array<[string, ApacheDefine | undefined]>>;
}

/** One file's `Define`/`UnDefine` lines in order (value undefined: UnDefine); values too long left out, said by `full`. */
export function apacheDefineLines(text: string, file: string): { lines: Array<{ line: number; name: string; value?: ApacheDefine }>; full: boolean } {
  const lines: Array<{ line: number; name: string; value?: ApacheDefine }> = [];
  let full = false;
  if (!text.includes('Define')) return { lines, full };
  text.split('\n').forEach((raw, i) => {
    const def = DEFINE.exec(raw);
    const undef = def ? undefined : UNDEFINE.exec(raw);
    if (!def && !undef) return;
    const value = def ? defineValue(def[2]) : undefined;
    if (lines.length >= MAX_DEFINES * 4 || (value !== undefined && value.length > MAX_DEFINE_VALUE)) full = true;
    else lines.push({ line: i + 1, name: (def ?? undef)![1], value: value === undefined ? undefined : { value, at: `${file}:${i + 1}` } });
  });
  return { lines, full };
}

/**
 * Apache httpd's `Define NAME value` (core): from that line on, `${NAME}` in the configuration is
 * the value (httpd fills it in when it reads the file; `UnDefine` removes it). One file's lines in
 * order; a name defined nowhere above stays as written (httpd then takes it from its environment).
 */
export class ApacheDefines {
  private readonly values = new Map<string, ApacheDefine>();
  private full = false;
  /** What filling in may still add to this file's lines. */
  private budget = MAX_DEFINE_GROWTH_FILE;

  /**
   * `context`: the Defines this file starts with (those above the `Include` that pulls it in) and
   * those an `Include` line of its own brings (applied after that line), audit/web-includes.ts.
   */
  constructor(private readonly context?: ApacheDefinesContext) {
    for (const [k, v] of context?.seed ?? []) this.values.set(k, v);
  }

  /** The line with each `${NAME}` defined above filled in, and what was filled in (in words), or undefined when nothing is. */
  fill(raw: string, file: string, n: number): { line: string; note: string } | undefined {
    for (const [k, v] of this.context?.after.get(n - 1) ?? []) {
      if (v === undefined) this.values.delete(k);
      else if (this.values.has(k) || this.values.size < MAX_DEFINES) this.values.set(k, v);
      else this.full = true;
    }
    const def = DEFINE.exec(raw);
    if (def) {
      const value = defineValue(def[2]);
      if (value.length <= MAX_DEFINE_VALUE && (this.values.has(def[1]) || this.values.size < MAX_DEFINES)) this.values.set(def[1], { value, at: `${file}:${n}` });
      else this.full = true;
      return undefined;
    }
    const undef = UNDEFINE.exec(raw);
    if (undef) {
      this.values.delete(undef[1]);
      return undefined;
    }
    if (!this.values.size || !raw.includes('${')) return undefined;
    const used: string[] = [];
    let grown = 0;
    let cut = false;
    const line = raw.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => {
      const d = this.values.get(name);
      if (!d || cut) return whole;
      if (grown + d.value.length - whole.length > Math.min(MAX_DEFINE_GROWTH, this.budget)) {
        cut = true;
        return whole;
      }
      grown += d.value.length - whole.length;
      if (used.length < 8) used.push(`\${${name}} is ${quoted(d.value)} (Define at ${d.at})`);
      return d.value;
    });
    this.budget -= Math.max(0, grown);
    if (!used.length) return undefined;
    const over = cut ? `; filled in, the line would grow by more than ${MAX_DEFINE_GROWTH} characters (${MAX_DEFINE_GROWTH_FILE} in one file): the names past that are left as written, not followed` : '';
    return { line, note: `${file}:${n}: ${used.join(', ')}, which httpd fills in as it reads the configuration${this.full ? `; more than ${MAX_DEFINES} Defines (or one too long) were not kept` : ''}${over}` };
  }
}

/**
 * The upstream of a proxying directive when it is wholly a variable or placeholder: nginx
 * `proxy_pass`/`grpc_pass` `$backend` (a `set` or `map` fills it in per request), Caddy
 * `reverse_proxy {env.BACKEND_URL}` or `{$BACKEND}`, Apache `ProxyPass /p ${BACKEND_URL}`; with
 * the directive's name. A written URL is left to the generic patterns.
 */
export function variableUpstream(raw: string): { directive: string; upstream: string } | undefined {
  const nginx = /^\s*(proxy_pass|grpc_pass)\s+(\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_]*\})\S*\s*;/.exec(raw);
  if (nginx) return { directive: `nginx ${nginx[1]}`, upstream: nginx[2] };
  // `{$BACKEND:api.vendor.example}` has a default: caddyEnvDefaults fills it in.
  const caddy = /^\s*reverse_proxy(?:\s+(?:\/\S*|\*))?\s+(\{(?:env\.|\$)[A-Za-z_][A-Za-z0-9_]*\})(?=\s|$)/.exec(raw);
  if (caddy) return { directive: 'Caddy reverse_proxy', upstream: caddy[1] };
  const apache = /^\s*(ProxyPass(?:Match)?)\s+\S+\s+"?(\$\{[A-Za-z_][A-Za-z0-9_]*\})\S*/.exec(raw);
  if (apache) return { directive: `Apache ${apache[1]}`, upstream: apache[2] };
  return undefined;
}

/** The note for such an upstream. */
export function variableUpstreamNote(file: string, n: number, u: { directive: string; upstream: string }): string {
  return `${file}:${n} ${u.directive} ${u.upstream}: the server proxies requests to the destination this variable holds when it runs (its environment, a set or map), not written in the configuration`;
}

/** At most this many nginx `upstream` groups are kept for one file. */
const MAX_UPSTREAMS = 256;

/** nginx's `upstream NAME {` blocks of a file: each group's name and line (`proxy_pass http://NAME` sends to its `server`s). */
export function nginxUpstreams(text: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!text.includes('upstream')) return out;
  text.split('\n').forEach((l, i) => {
    const m = /^\s*upstream\s+([A-Za-z0-9_.-]+)\s*\{/.exec(l);
    if (m && out.size < MAX_UPSTREAMS && !out.has(m[1].toLowerCase())) out.set(m[1].toLowerCase(), i + 1);
  });
  return out;
}

/** The note for `proxy_pass http://NAME` naming such a group: no host of its own, its servers are the destinations (each found at its line). */
export function upstreamGroupNote(file: string, name: string, line: number): string {
  return `nginx upstream group ${name} (${file}:${line}), not a host: the requests go to its server lines, each a finding of its own where it names a destination`;
}

/** The braces of an nginx line outside quotes and its `#` comment, in one pass. */
function blockChars(raw: string): string {
  let out = '';
  let quote = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#') break;
    else if (c === '{' || c === '}') out += c;
  }
  return out;
}

/** At most this many nginx `set`s are kept for one file, each value at most this long (a real config has a handful). */
export const MAX_NGINX_SETS = 256;
const MAX_SET_VALUE = 2048;
const MAX_NGINX_DEPTH = 64;
/** At most this many destinations are followed from `set` values in one file, after a variable at most this long a text. */
export const MAX_SET_DESTINATIONS = 4096;
const MAX_SET_REST = 2048;

/** One `set $name value;` of a file: its value and line, and the block it sits in. */
interface NginxSet {
  value: string;
  line: number;
  block: number;
}

/**
 * nginx's `set $name value;` of one file, by the block each sits in (`server {`, `location … {`):
 * a `proxy_pass $name` reads the value a `set` gives in its own block or a block around it
 * (rewrite-module directives of the server run before those of the location; a `set` in another
 * location is not this request's). A name a `map` defines (per request, from another variable) or
 * a value holding a variable stays unknown; a name set to several values gives each one.
 */
export class NginxSets {
  private readonly sets = new Map<string, NginxSet[]>();
  private readonly mapped = new Set<string>();
  /** Each line's block (0: the file's top level) and each block's parent. */
  private readonly blockOf: number[] = [];
  private readonly parent: number[] = [0];
  private full = false;

  constructor(text: string) {
    if (!text.includes('set') || !/\b(?:proxy|grpc)_pass\b/.test(text)) return;
    const stack = [0];
    let count = 0;
    text.split('\n').forEach((raw, i) => {
      const set = /^\s*set\s+\$([A-Za-z_][A-Za-z0-9_]*)\s+("[^"]*"|'[^']*'|[^\s;]+)\s*;/.exec(raw);
      const map = /^\s*map\s+\S+\s+\$([A-Za-z_][A-Za-z0-9_]*)\s*\{/.exec(raw);
      if (map && this.mapped.size < MAX_NGINX_SETS) this.mapped.add(map[1]);
      if (set) {
        const value = set[2].replace(/^(["'])(.*)\1$/, '$2');
        if (count < MAX_NGINX_SETS && value.length <= MAX_SET_VALUE) {
          count++;
          this.sets.set(set[1], [...(this.sets.get(set[1]) ?? []), { value, line: i + 1, block: stack[stack.length - 1] }]);
        } else this.full = true;
      }
      this.blockOf[i] = stack[stack.length - 1];
      for (const ch of blockChars(raw)) {
        if (ch === '{') {
          this.parent.push(stack[stack.length - 1]);
          stack.push(this.parent.length - 1);
        } else if (ch === '}' && stack.length > 1) stack.pop();
      }
    });
  }

  /** Destinations followed from `set` values in this file so far. */
  private followed = 0;

  /**
   * The values `$name` has at line `n` (1-based), each with a note saying where it is set;
   * undefined when no `set` around it gives one or a `map` defines it (unknown, as before);
   * `unknown` when it is not followed for a bound (said so): `rest`, the text after the variable
   * (`$backend/api`), longer than MAX_SET_REST, or more than MAX_SET_DESTINATIONS values followed in
   * this file (each `proxy_pass` may read up to MAX_NGINX_SETS values: 330 000 such lines took
   * 84 million findings).
   */
  valuesAt(name: string, n: number, rest: string): { values: Array<{ value: string; note: string }> } | { unknown: string } | undefined {
    const bare = name.replace(/^\$\{?|\}$/g, '');
    const sets = this.sets.get(bare);
    if (!sets || this.mapped.has(bare)) return undefined;
    const around = new Set<number>();
    // Each block has a lower number than the blocks inside it: the walk up ends (nested deeper than a real config: unknown).
    for (let b = this.blockOf[n - 1] ?? 0; ; b = this.parent[b]) {
      around.add(b);
      if (b === 0) break;
      if (around.size > MAX_NGINX_DEPTH) return undefined;
    }
    const here = sets.filter((s) => around.has(s.block));
    if (!here.length || here.some((s) => s.value.includes('$'))) return undefined;
    if (rest.length > MAX_SET_REST) return { unknown: `what follows ${name} is longer than ${MAX_SET_REST} characters, the values a set gives it not followed` };
    const values = [...new Map(here.map((s) => [s.value, s])).values()];
    if (this.followed + values.length > MAX_SET_DESTINATIONS) return { unknown: `more than ${MAX_SET_DESTINATIONS} destinations were followed from set values in this file, the values a set gives ${name} here not` };
    this.followed += values.length;
    const more = `${values.length > 1 ? `, one of ${values.length} values set around this line` : ''}${this.full ? `; more than ${MAX_NGINX_SETS} sets (or one too long) were not kept` : ''}`;
    return { values: values.map((s) => ({ value: s.value, note: `${quoted(s.value)} (set at line ${s.line})${more}` })) };
  }
}

/** The tokens of one nginx line outside its `#` comment: words (quotes removed), `;`, `{` and `}`. */
function nginxTokens(raw: string): string[] {
  const out: string[] = [];
  let word = '';
  let quote = '';
  let quoted = false;
  const flush = () => {
    if (word || quoted) out.push(word);
    word = '';
    quoted = false;
  };
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (quote) {
      if (c === '\\' && i + 1 < raw.length) word += raw[++i];
      else if (c === quote) quote = '';
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      quoted = true;
    } else if (c === '#') break;
    else if (c === ';' || c === '{' || c === '}') {
      flush();
      out.push(c);
    } else if (/\s/.test(c)) flush();
    else word += c;
  }
  flush();
  return out;
}

/** One value an nginx `map` gives its variable, with its line (`default` said). */
export interface NginxMapValue {
  value: string;
  line: number;
  isDefault: boolean;
}

/** An nginx `map $source $name { … }` block: where it is, what it reads, and each value it gives. */
export interface NginxMap {
  name: string;
  source: string;
  file: string;
  line: number;
  values: NginxMapValue[];
  hasDefault: boolean;
  /** Values past the bound, or an `include` inside the block (its pairs not read): then not every value is known. */
  partial?: string;
}

/** At most this many `map` blocks a file, and this many values kept in all of them. */
export const MAX_NGINX_MAPS = 256;
export const MAX_NGINX_MAP_VALUES = 4096;

/**
 * nginx's `map $source $name { key value; … }` blocks of one file (ngx_http_map_module: the value
 * chosen per request by matching `$source` against the keys; `default` when none matches, an
 * empty string when there is no `default`; `hostnames` and `volatile` are parameters, not keys).
 * Every value is a possible destination of a `proxy_pass` holding `$name`; the keys (strings,
 * `~regex`) say only which requests get it.
 */
export function nginxMaps(text: string, file: string): NginxMap[] {
  const out: NginxMap[] = [];
  if (!/\bmap\b/.test(text)) return out;
  let open: NginxMap | undefined;
  let statement: string[] = [];
  let statementLine = 0;
  let kept = 0;
  text.split('\n').forEach((raw, i) => {
    if (!open) {
      const m = /^\s*map\s/.test(raw) ? /^\s*map\s+("[^"]*"|'[^']*'|\S+)\s+\$([A-Za-z_][A-Za-z0-9_]*)\s*\{(.*)$/.exec(raw) : null;
      if (!m || out.length >= MAX_NGINX_MAPS) return;
      open = { name: m[2], source: m[1].replace(/^(["'])(.*)\1$/, '$2'), file, line: i + 1, values: [], hasDefault: false };
      out.push(open);
      statement = [];
      raw = m[3];
    }
    for (const t of nginxTokens(raw)) {
      if (!open) break;
      if (t === '}') {
        open = undefined;
        break;
      }
      if (t === '{') continue;
      if (t !== ';') {
        if (!statement.length) statementLine = i + 1;
        if (statement.length < 3) statement.push(t);
        continue;
      }
      const [key, value] = statement;
      statement = [];
      if (key === 'hostnames' || key === 'volatile' || value === undefined) continue;
      if (key === 'include') {
        open.partial = `its include ${quoted(value)} (key/value pairs of another file) is not read`;
        continue;
      }
      if (key === 'default') open.hasDefault = true;
      if (kept >= MAX_NGINX_MAP_VALUES || value.length > MAX_SET_VALUE) {
        open.partial = `more than ${MAX_NGINX_MAP_VALUES} values in this file's maps (or one longer than ${MAX_SET_VALUE} characters): those past it are not read`;
        continue;
      }
      kept++;
      open.values.push({ value, line: statementLine, isDefault: key === 'default' });
    }
  });
  return out;
}

/** The maps that define each variable, looked up by name (a file's own, and those of the files its configuration includes). */
export class NginxMaps {
  private readonly byName = new Map<string, NginxMap[]>();
  /** Destinations followed from map values in this file so far. */
  private followed = 0;

  constructor(maps: Iterable<NginxMap>) {
    for (const m of maps) this.byName.set(m.name, [...(this.byName.get(m.name) ?? []), m]);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /**
   * The values `$name` may have (each a destination, chosen per request), with a note for each;
   * the note of the whole when some are unknown (a value holding a variable, the map partial).
   * Undefined when no map defines it.
   */
  valuesOf(name: string, within: string): { values: Array<{ value: string; note: string }>; unknown?: string } | undefined {
    const maps = this.byName.get(name.replace(/^\$\{?|\}$/g, ''));
    if (!maps) return undefined;
    const where = (m: NginxMap) => (m.file === within ? `line ${m.line}` : `${m.file}:${m.line}`);
    const distinct = new Map<string, { m: NginxMap; v: NginxMapValue }>();
    const unknown: string[] = [];
    for (const m of maps) {
      for (const v of m.values) {
        if (v.value.includes('$')) unknown.push(`the value ${quoted(v.value)} (map at ${where(m)}, line ${v.line}) holds a variable, its destination chosen per request`);
        else if (v.value && !distinct.has(v.value)) distinct.set(v.value, { m, v });
      }
      if (m.partial) unknown.push(`the map at ${where(m)}: ${m.partial}`);
    }
    if (this.followed + distinct.size > MAX_SET_DESTINATIONS) return { values: [], unknown: `more than ${MAX_SET_DESTINATIONS} destinations were followed from map values in this file, the values of ${name} here not` };
    this.followed += distinct.size;
    const n = distinct.size;
    const values = [...distinct.values()].map(({ m, v }) => ({
      value: v.value,
      note: `${quoted(v.value)} (map $${m.name} at ${where(m)}, ${v.isDefault ? 'its default' : `line ${v.line}`}), one of ${n} value${n === 1 ? '' : 's'} the map gives, chosen per request from ${quoted(m.source)}${m.hasDefault ? '' : '; no default: a request no key matches gets an empty value'}`,
    }));
    return { values, ...(unknown.length ? { unknown: unknown.slice(0, 4).join('; ') } : {}) };
  }
}

/**
 * nginx `proxy_pass`/`grpc_pass` whose host is a variable, `proxy_pass $backend;` or `proxy_pass
 * http://$target;`: the text before the variable, its name and what follows (the path, a port);
 * undefined when the host is written (a request-path variable after it is the generic patterns').
 */
export function nginxPassVariable(raw: string): { directive: string; before: string; name: string; after: string } | undefined {
  const m = /^\s*(proxy_pass|grpc_pass)\s+("[^"]*"|'[^']*'|[^\s;"']+)\s*;/.exec(raw);
  if (!m) return undefined;
  const arg = m[2].replace(/^(["'])(.*)\1$/, '$2');
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(arg)?.[0] ?? '';
  const authority = arg.slice(scheme.length).split('/')[0];
  const v = /\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/.exec(authority);
  if (!v || (!scheme && v.index !== 0)) return undefined;
  return { directive: `nginx ${m[1]}`, before: arg.slice(0, scheme.length + v.index), name: v[0], after: arg.slice(scheme.length + v.index + v[0].length) };
}

/** A Caddyfile (`Caddyfile`, `Caddyfile.prod`, `site.caddyfile`, `*.caddy`): its `{$VAR:default}` is filled in. */
export const isCaddyfile = (file: string): boolean => /(?:^|\/)(?:[^/]*\.)?caddyfile(?:\.[^/]*)?$|\.caddy$/i.test(file);

/**
 * A Caddyfile's environment substitutions (caddyserver.com/docs/caddyfile/concepts#environment-variables):
 * `{$VAR}` is replaced when Caddy parses the file, by the variable's value, by the default after
 * `:` when given (`{$UPSTREAM:api.vendor.example:443}`) and the variable is not set. Each default is
 * filled in (a possible destination: the environment may name another, said in the note); one
 * without a default stays as written (unknown). `{env.VAR}` is a runtime placeholder without a
 * default: as written.
 */
export function caddyEnvDefaults(raw: string, file: string, n: number): { line: string; note: string } | undefined {
  if (!raw.includes('{$') || raw.trimStart().startsWith('#')) return undefined;
  const used: string[] = [];
  const line = raw.replace(/\{\$([A-Za-z_][A-Za-z0-9_]*):([^{}\s]{1,1024})\}/g, (_w, name: string, dflt: string) => {
    if (used.length < 8) used.push(`{$${name}} is ${quoted(dflt)} (its default) when the environment does not set ${name}`);
    return dflt;
  });
  if (!used.length) return undefined;
  return { line, note: `${file}:${n}: ${used.join(', ')}, which Caddy fills in as it parses the Caddyfile; a ${used.length > 1 ? 'variable' : `value of the variable`} set where Caddy runs names another destination, unknown here` };
}

/** One `include` of a web server configuration: nginx `include file|mask;`, Apache `Include`/`IncludeOptional` (a file, a wildcard or a directory). */
export interface WebInclude {
  line: number;
  pattern: string;
  server: 'nginx' | 'apache' | 'caddy';
  /** Caddy: the arguments the import hands the files it pastes. */
  args?: string[];
}

/** At most this many includes are read in one file. */
export const MAX_INCLUDES_PER_FILE = 64;

/** The include lines of one file (nginx's, Apache's). */
export function webIncludes(text: string): WebInclude[] {
  const out: WebInclude[] = [];
  if (!/\binclude/i.test(text)) return out;
  text.split('\n').forEach((raw, i) => {
    if (out.length >= MAX_INCLUDES_PER_FILE) return;
    const nginx = /^\s*include\s+("[^"]{1,1024}"|'[^']{1,1024}'|[^\s;'"]{1,1024})\s*;/.exec(raw);
    const apache = nginx ? undefined : /^\s*(?:Include|IncludeOptional)\s+("[^"]{1,1024}"|'[^']{1,1024}'|\S{1,1024})\s*$/.exec(raw);
    const m = nginx ?? apache;
    if (m) out.push({ line: i + 1, pattern: m[1].replace(/^(["'])(.*)\1$/, '$2'), server: nginx ? 'nginx' : 'apache' });
  });
  return out;
}
