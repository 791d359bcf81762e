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

/**
 * Apache httpd's `Define NAME value` (core): from that line on, `${NAME}` in the configuration is
 * the value (httpd fills it in when it reads the file; `UnDefine` removes it). One file's lines in
 * order; a name defined nowhere above stays as written (httpd then takes it from its environment).
 */
export class ApacheDefines {
  private readonly values = new Map<string, { value: string; line: number }>();
  private full = false;
  /** What filling in may still add to this file's lines. */
  private budget = MAX_DEFINE_GROWTH_FILE;

  /** The line with each `${NAME}` defined above filled in, and what was filled in (in words), or undefined when nothing is. */
  fill(raw: string, file: string, n: number): { line: string; note: string } | undefined {
    const def = DEFINE.exec(raw);
    if (def) {
      const value = (def[2] ?? '').replace(/^(["'])(.*)\1$/, '$2');
      if (value.length <= MAX_DEFINE_VALUE && (this.values.has(def[1]) || this.values.size < MAX_DEFINES)) this.values.set(def[1], { value, line: n });
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
      if (used.length < 8) used.push(`\${${name}} is ${quoted(d.value)} (Define at ${file}:${d.line})`);
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
  const caddy = /^\s*reverse_proxy(?:\s+(?:\/\S*|\*))?\s+(\{(?:env\.|\$)[A-Za-z_][A-Za-z0-9_]*(?::[^}\s]*)?\})(?=\s|$)/.exec(raw);
  if (caddy) return { directive: 'Caddy reverse_proxy', upstream: caddy[1] };
  const apache = /^\s*(ProxyPass(?:Match)?)\s+\S+\s+(\$\{[A-Za-z_][A-Za-z0-9_]*\})\S*/.exec(raw);
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
