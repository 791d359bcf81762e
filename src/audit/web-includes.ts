/**
 * A web server configuration split over files: nginx's `include` and Apache's `Include` /
 * `IncludeOptional` pull other files of the scan into the one that names them, so what a file uses
 * may be defined in another. nginx's `map` variables and `upstream` groups are the whole
 * configuration's (http-level), so every file joined by includes sees them; Apache's `Define` holds
 * from its line on in the order httpd reads the files, so a file starts with the Defines above the
 * `Include` that pulls it in, and an `Include` line brings those its file sets.
 *
 * Only files of the scan are followed. A relative name is looked for beside the including file,
 * then in each directory above it (nginx takes it from its configuration prefix, httpd from
 * ServerRoot: the directory of the main file, somewhere above); an absolute one
 * (`/etc/nginx/conf.d/*.conf`) by its tail in the same places (the scanned tree standing for
 * `/etc/nginx`), said in the notes. Wildcards match within one path component. Bounded: depth,
 * files per include, steps; a file that includes itself again (a cycle) is not followed, listed.
 */
import path from 'node:path';
import { caddyFactsOf, type ArgLine, type CaddyFacts, type CaddySnippet } from './caddy-imports.js';
import { apacheDefineLines, isCaddyfile, nginxMaps, nginxUpstreams, webIncludes, type ApacheDefine, type ApacheDefinesContext, type NginxMap, type WebInclude } from './web-server.js';

/** Includes nested deeper than this are not followed (httpd stops at 128; a real configuration nests two or three). */
export const MAX_INCLUDE_DEPTH = 16;
/** At most this many files one include pulls in. */
const MAX_INCLUDE_MATCHES = 256;
/** At most this many file visits in Apache's ordered walk over one scan. */
const MAX_WALK_STEPS = 10_000;

/** What one file of the scan defines and includes. */
export interface WebFacts {
  includes: WebInclude[];
  maps: NginxMap[];
  upstreams: Map<string, number>;
  defines: ReturnType<typeof apacheDefineLines>;
  caddy?: CaddyFacts;
}

/** What other files of its configuration give one file. */
export interface WebContext {
  maps: NginxMap[];
  upstreams: Map<string, { file: string; line: number }>;
  apache?: ApacheDefinesContext;
  /** Caddy: the snippets of the files joined by imports, and the files each import line pastes (by line). */
  caddy?: { snippets: Map<string, CaddySnippet>; files: Map<number, Array<{ file: string; argLines: ArgLine[] }>> };
  /** The files joined to this one, in words (for the notes). */
  via: string;
}

/** A file's facts, or undefined when it has none of these directives. */
export function webFactsOf(text: string, file: string): WebFacts | undefined {
  const includes = webIncludes(text);
  const maps = nginxMaps(text, file);
  const upstreams = nginxUpstreams(text);
  const defines = apacheDefineLines(text, file);
  const caddy = isCaddyfile(file) ? caddyFactsOf(text, file) : undefined;
  // A Caddy import that names no snippet of its own file is a file pattern (or another file's snippet).
  for (const imp of caddy?.imports ?? []) if (!caddy!.snippets.has(imp.pattern)) includes.push({ line: imp.line, pattern: imp.pattern, server: 'caddy', args: imp.args });
  if (!includes.length && !maps.length && !upstreams.size && !defines.lines.length && !caddy) return undefined;
  return { includes, maps, upstreams, defines, ...(caddy ? { caddy } : {}) };
}

/** The scanned files by directory: each directory's files and subdirectories. */
class Tree {
  private readonly files = new Map<string, string[]>();
  private readonly dirs = new Map<string, Set<string>>();

  constructor(rels: Iterable<string>) {
    for (const rel of rels) {
      const dir = path.posix.dirname(rel);
      this.files.set(dir, [...(this.files.get(dir) ?? []), path.posix.basename(rel)]);
      let d = dir;
      while (d !== '.' && d !== '/' && d !== '..' && !d.endsWith('/..')) {
        const up = path.posix.dirname(d);
        const set = this.dirs.get(up) ?? new Set<string>();
        if (set.has(path.posix.basename(d))) break;
        set.add(path.posix.basename(d));
        this.dirs.set(up, set);
        d = up;
      }
    }
  }

  /** The scanned files a pattern (wildcards in components) names from `base`; a directory names every file under it (Apache). */
  match(base: string, pattern: string): string[] {
    let at = [base];
    const parts = pattern.split('/').filter((p) => p && p !== '.');
    for (const [i, part] of parts.entries()) {
      const last = i === parts.length - 1;
      const next: string[] = [];
      for (const dir of at) {
        if (part === '..') {
          next.push(path.posix.dirname(dir));
          continue;
        }
        const re = /[*?[]/.test(part) ? globRegExp(part) : undefined;
        const names = [...(this.dirs.get(dir) ?? []), ...(last ? (this.files.get(dir) ?? []) : [])];
        for (const name of names) if (re ? re.test(name) : name === part) next.push(dir === '.' ? name : `${dir}/${name}`);
        if (next.length > MAX_INCLUDE_MATCHES) break;
      }
      at = [...new Set(next)];
      if (!at.length) return [];
    }
    const out: string[] = [];
    for (const p of at) {
      if (this.files.get(path.posix.dirname(p))?.includes(path.posix.basename(p))) out.push(p);
      else this.under(p, out);
      if (out.length >= MAX_INCLUDE_MATCHES) break;
    }
    return out.slice(0, MAX_INCLUDE_MATCHES).sort();
  }

  private under(dir: string, out: string[]): void {
    const stack = [dir];
    while (stack.length && out.length < MAX_INCLUDE_MATCHES) {
      const d = stack.pop()!;
      for (const f of this.files.get(d) ?? []) out.push(`${d}/${f}`);
      for (const s of this.dirs.get(d) ?? []) stack.push(`${d}/${s}`);
    }
  }
}

/** A shell-style wildcard of one path component (`*`, `?`, `[…]`), linear. */
function globRegExp(part: string): RegExp {
  let re = '';
  for (let i = 0; i < part.length; i++) {
    const c = part[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = part.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        const body = part.slice(i + 1, end).replace(/^!/, '^').replace(/[\\\]]/g, '\\$&');
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The files of the scan one include names, and how it was read (for the notes). */
function resolveInclude(tree: Tree, from: string, inc: WebInclude): { files: string[]; how: string } {
  const abs = inc.pattern.startsWith('/');
  const tails: string[] = [];
  if (abs) {
    const parts = inc.pattern.split('/').filter(Boolean);
    for (let i = 0; i < parts.length; i++) tails.push(parts.slice(i).join('/'));
  } else tails.push(inc.pattern);
  for (let dir = path.posix.dirname(from); ; dir = path.posix.dirname(dir)) {
    for (const tail of tails) {
      const files = tree.match(dir, tail);
      if (files.length) return { files, how: abs ? `${inc.pattern} read as ${dir === '.' ? '' : `${dir}/`}${tail} in the scan` : `${inc.pattern} from ${dir === '.' ? 'the scan root' : dir}` };
    }
    if (dir === '.' || dir === '/' || dir === '..' || dir.endsWith('/..')) break;
  }
  return { files: [], how: '' };
}

/** A Caddyfile's context: the snippets of the files joined with it, and the files each of its import lines pastes that use the import's arguments. */
function caddyContext(file: string, others: readonly string[], facts: ReadonlyMap<string, WebFacts>, edges: ReadonlyMap<string, Array<{ inc: WebInclude; files: string[] }>>): WebContext['caddy'] {
  const own = facts.get(file)?.caddy;
  if (!own) return undefined;
  const snippets = new Map<string, CaddySnippet>();
  for (const o of others) for (const [name, s] of facts.get(o)?.caddy?.snippets ?? []) if (!own.snippets.has(name) && !snippets.has(name)) snippets.set(name, s);
  const files = new Map<number, Array<{ file: string; argLines: ArgLine[] }>>();
  for (const e of edges.get(file) ?? []) {
    if (e.inc.server !== 'caddy' || !e.inc.args?.length) continue;
    const list = e.files.flatMap((g) => (facts.get(g)?.caddy?.argLines.length ? [{ file: g, argLines: facts.get(g)!.caddy!.argLines }] : []));
    if (list.length) files.set(e.inc.line, list);
  }
  return snippets.size || files.size ? { snippets, files } : undefined;
}

/**
 * Each file's context from the other files of its configuration, and the include problems (a
 * cycle, nesting past the bound) to list.
 */
export function webContexts(facts: ReadonlyMap<string, WebFacts>, scanned: Iterable<string>): { contexts: Map<string, WebContext>; problems: Array<{ file: string; reason: string }> } {
  const contexts = new Map<string, WebContext>();
  const problems: Array<{ file: string; reason: string }> = [];
  const withIncludes = [...facts].filter(([, f]) => f.includes.length);
  if (!withIncludes.length) return { contexts, problems };
  const tree = new Tree(scanned);
  // Each include's files, resolved once.
  const edges = new Map<string, Array<{ inc: WebInclude; files: string[]; how: string }>>();
  for (const [file, f] of withIncludes) edges.set(file, f.includes.map((inc) => ({ inc, ...resolveInclude(tree, file, inc) })));
  const reported = new Set<string>();
  const problem = (file: string, line: number, reason: string) => {
    const k = `${file}:${line}`;
    if (reported.has(k)) return;
    reported.add(k);
    problems.push({ file, reason: `${file}:${line}: ${reason}` });
  };

  // nginx: the files joined by includes share their maps and upstream groups (a walk from each file, cycles cut).
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.has(r) && parent.get(r) !== r) r = parent.get(r)!;
    return r;
  };
  const union = (a: string, b: string) => {
    for (const x of [a, b]) if (!parent.has(x)) parent.set(x, x);
    const [ra, rb] = [find(a), find(b)];
    if (ra !== rb) parent.set(ra, rb);
  };
  for (const [file, list] of edges) for (const e of list) if (e.inc.server !== 'apache') for (const g of e.files) union(file, g);
  const groups = new Map<string, string[]>();
  for (const x of parent.keys()) groups.set(find(x), [...(groups.get(find(x)) ?? []), x]);
  for (const members of groups.values()) {
    const set = [...new Set(members)].sort();
    for (const file of set) {
      const others = set.filter((o) => o !== file);
      const maps = others.flatMap((o) => facts.get(o)?.maps ?? []);
      const upstreams = new Map<string, { file: string; line: number }>();
      for (const o of others) for (const [name, line] of facts.get(o)?.upstreams ?? []) if (!upstreams.has(name)) upstreams.set(name, { file: o, line });
      const joins = `${others.slice(0, 4).join(', ')}${others.length > 4 ? ` and ${others.length - 4} more` : ''}`;
      if (maps.length || upstreams.size) contexts.set(file, { maps, upstreams, via: `nginx include joins ${joins}` });
      const caddy = caddyContext(file, others, facts, edges);
      if (caddy) contexts.set(file, { ...(contexts.get(file) ?? { maps: [], upstreams: new Map(), via: `Caddy import joins ${joins}` }), caddy });
    }
  }

  // Apache: the Defines in the order httpd reads the files, from each file no other includes.
  const included = new Set<string>();
  for (const list of edges.values()) for (const e of list) if (e.inc.server === 'apache') for (const g of e.files) included.add(g);
  const seeds = new Map<string, Map<string, ApacheDefine>>();
  const after = new Map<string, Map<number, Array<[string, ApacheDefine | undefined]>>>();
  const conflicting = new Map<string, Set<string>>();
  let steps = 0;
  const walk = (file: string, state: Map<string, ApacheDefine>, stack: string[]): void => {
    if (++steps > MAX_WALK_STEPS) return;
    const seen = seeds.get(file);
    if (!seen) seeds.set(file, new Map(state));
    else {
      // Reached again from another Include with other Defines: those names are unknown at its start.
      const names = new Set([...seen.keys(), ...state.keys()]);
      for (const k of names) if (seen.get(k)?.value !== state.get(k)?.value) (conflicting.get(file) ?? conflicting.set(file, new Set()).get(file)!).add(k);
    }
    const f = facts.get(file);
    const steps_ = [...(f?.defines.lines ?? []).map((d) => ({ line: d.line, d })), ...(edges.get(file) ?? []).filter((e) => e.inc.server === 'apache').map((e) => ({ line: e.inc.line, e }))].sort((a, b) => a.line - b.line);
    for (const s of steps_) {
      if ('d' in s && s.d) {
        if (s.d.value) state.set(s.d.name, s.d.value);
        else state.delete(s.d.name);
        continue;
      }
      const e = (s as { e: { inc: WebInclude; files: string[] } }).e;
      const before = new Map(state);
      for (const g of e.files) {
        if (stack.includes(g) || g === file) problem(file, e.inc.line, `Include ${e.inc.pattern} reaches ${g}, which is already being read (${[...stack, file].slice(-4).join(' → ')}): an include cycle, not followed`);
        else if (stack.length + 1 >= MAX_INCLUDE_DEPTH) problem(file, e.inc.line, `Include ${e.inc.pattern}: nested more than ${MAX_INCLUDE_DEPTH} deep, not followed (the Defines of ${g} are unknown here)`);
        else walk(g, state, [...stack, file]);
      }
      const changes: Array<[string, ApacheDefine | undefined]> = [];
      for (const k of new Set([...before.keys(), ...state.keys()])) if (before.get(k) !== state.get(k)) changes.push([k, state.get(k)]);
      if (changes.length) {
        const m = after.get(file) ?? after.set(file, new Map()).get(file)!;
        if (!m.has(e.inc.line)) m.set(e.inc.line, changes);
      }
    }
  };
  for (const [file, list] of edges) if (!included.has(file) && list.some((e) => e.inc.server === 'apache')) walk(file, new Map(), []);
  for (const file of new Set([...seeds.keys(), ...after.keys()])) {
    const seed = new Map(seeds.get(file) ?? []);
    for (const k of conflicting.get(file) ?? []) seed.delete(k);
    const afterOf = after.get(file) ?? new Map();
    if (!seed.size && !afterOf.size) continue;
    const ctx: WebContext = contexts.get(file) ?? { maps: [], upstreams: new Map(), via: 'Apache Include' };
    ctx.apache = { seed, after: afterOf };
    contexts.set(file, ctx);
  }

  // nginx cycles: an include reaching back to a file it came from, named once.
  const visiting = new Set<string>();
  const done = new Set<string>();
  const dfs = (file: string, depth: number): void => {
    if (done.has(file) || ++steps > MAX_WALK_STEPS * 2) return;
    visiting.add(file);
    for (const e of edges.get(file) ?? []) {
      if (e.inc.server !== 'nginx') continue;
      for (const g of e.files) {
        if (visiting.has(g)) problem(file, e.inc.line, `include ${e.inc.pattern} reaches ${g}, which includes this file again: an include cycle (nginx would read these files again and again), not followed further`);
        else if (depth + 1 >= MAX_INCLUDE_DEPTH) problem(file, e.inc.line, `include ${e.inc.pattern}: nested more than ${MAX_INCLUDE_DEPTH} deep, not followed`);
        else dfs(g, depth + 1);
      }
    }
    visiting.delete(file);
    done.add(file);
  };
  for (const file of edges.keys()) dfs(file, 0);
  return { contexts, problems };
}
