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
import { apacheDefineLines, isCaddyfile, MAX_DEFINES, nginxMaps, nginxUpstreams, webIncludes, type ApacheDefine, type ApacheDefinesContext, type NginxMap, type WebInclude } from './web-server.js';

/** Includes nested deeper than this are not followed (httpd stops at 128; a real configuration nests two or three). */
export const MAX_INCLUDE_DEPTH = 16;
/** At most this many files one include pulls in. */
const MAX_INCLUDE_MATCHES = 256;
/** At most this many file visits in Apache's ordered walk over one scan. */
const MAX_WALK_STEPS = 10_000;
/** At most this many included files looked at in that walk (each visit may include hundreds). */
const MAX_WALK_FOLLOWED = 200_000;
/**
 * At most this many names tested against include patterns, and this many (include, file) pairs
 * followed, in one scan: 10 000 files each including a glob that matches them all is 10^8 of
 * either; a real configuration has tens of files.
 */
export const MAX_INCLUDE_TESTS = 2_000_000;
export const MAX_INCLUDE_EDGES = 500_000;
/** At most this many characters are compared matching names to include wildcards in one scan (a long name against a pattern of many runs). */
export const MAX_GLOB_STEPS = 50_000_000;
/** At most this many maps, map values, upstream groups and Caddy snippets are shared among the files one configuration joins. */
const MAX_JOINED_MAPS = 256;
const MAX_JOINED_MAP_VALUES = 4096;
const MAX_JOINED_UPSTREAMS = 1024;
const MAX_JOINED_SNIPPETS = 1024;

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
  private readonly all = new Set<string>();
  private readonly dirs = new Map<string, Set<string>>();
  /** Each (directory, pattern) matched once: 10 000 files including one glob ask the same question. */
  private readonly matched = new Map<string, { files: string[]; cut: boolean }>();
  /** Names tested against patterns so far (MAX_INCLUDE_TESTS), and the characters compared (MAX_GLOB_STEPS). */
  tests = 0;
  readonly steps = { n: 0 };

  constructor(rels: Iterable<string>) {
    for (const rel of rels) {
      const dir = path.posix.dirname(rel);
      const list = this.files.get(dir);
      if (list) list.push(path.posix.basename(rel));
      else this.files.set(dir, [path.posix.basename(rel)]);
      this.all.add(rel);
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

  /**
   * The scanned files a pattern (wildcards in components) names from `base`; a directory names
   * every file under it (Apache). `cut`: more matched than MAX_INCLUDE_MATCHES, or the scan's
   * MAX_INCLUDE_TESTS ran out, so the files are the first ones found only.
   */
  match(base: string, pattern: string): { files: string[]; cut: boolean } {
    const key = `${base}\n${pattern}`;
    const known = this.matched.get(key);
    if (known) return known;
    const got = this.matchOnce(base, pattern);
    this.matched.set(key, got);
    return got;
  }

  private matchOnce(base: string, pattern: string): { files: string[]; cut: boolean } {
    let at = [base];
    let cut = false;
    const parts = pattern.split('/').filter((p) => p && p !== '.');
    for (const [i, part] of parts.entries()) {
      const last = i === parts.length - 1;
      const next: string[] = [];
      const re = /[*?[]/.test(part) ? parseGlob(part) : undefined;
      for (const dir of at) {
        if (part === '..') {
          next.push(path.posix.dirname(dir));
          continue;
        }
        const join = (name: string) => (dir === '.' ? name : `${dir}/${name}`);
        if (!re) {
          // A plain name is looked up, not compared with every name of the directory.
          if (this.dirs.get(dir)?.has(part) || (last && this.all.has(join(part)))) next.push(join(part));
          continue;
        }
        for (const names of [this.dirs.get(dir) ?? [], last ? (this.files.get(dir) ?? []) : []])
          for (const name of names) {
            if (++this.tests > MAX_INCLUDE_TESTS || this.steps.n > MAX_GLOB_STEPS || next.length > MAX_INCLUDE_MATCHES) {
              cut = true;
              break;
            }
            if (globMatch(re, name, this.steps)) next.push(join(name));
          }
        if (cut) break;
      }
      at = [...new Set(next)];
      if (!at.length) return { files: [], cut };
    }
    const out: string[] = [];
    for (const p of at) {
      if (this.all.has(p)) out.push(p);
      else this.under(p, out);
      if (out.length > MAX_INCLUDE_MATCHES) break;
    }
    if (out.length > MAX_INCLUDE_MATCHES) cut = true;
    return { files: out.slice(0, MAX_INCLUDE_MATCHES).sort(), cut };
  }

  private under(dir: string, out: string[]): void {
    const stack = [dir];
    while (stack.length && out.length <= MAX_INCLUDE_MATCHES) {
      const d = stack.pop()!;
      for (const f of this.files.get(d) ?? []) {
        out.push(`${d}/${f}`);
        if (out.length > MAX_INCLUDE_MATCHES) return;
      }
      for (const s of this.dirs.get(d) ?? []) stack.push(`${d}/${s}`);
    }
  }
}

/** One character of a wildcard segment: a literal, `?` (any), or a `[…]` class. */
type GlobChar = string | null | ((c: string) => boolean);
/** A component's wildcard: the character runs between its `*`s (`a*b?c` is [a], [b, ?, c]); `star`: it has one. */
interface Glob {
  runs: GlobChar[][];
  star: boolean;
  /** Characters a name needs at least (the runs'). */
  min: number;
}

/** A shell-style wildcard of one path component (`*`, `?`, `[…]`, `[!…]`), parsed once. */
function parseGlob(part: string): Glob {
  const runs: GlobChar[][] = [[]];
  for (let i = 0; i < part.length; i++) {
    const c = part[i];
    if (c === '*') {
      if (runs[runs.length - 1].length || runs.length === 1) runs.push([]);
    } else if (c === '?') runs[runs.length - 1].push(null);
    else if (c === '[' && part.indexOf(']', i + 2) > 0) {
      const end = part.indexOf(']', i + 2);
      const body = part.slice(i + 1, end);
      const negate = body[0] === '!' || body[0] === '^';
      const set = negate ? body.slice(1) : body;
      const ranges: Array<[string, string]> = [];
      for (let j = 0; j < set.length; j++) ranges.push(set[j + 1] === '-' && j + 2 < set.length ? [set[j], set[(j += 2)]] : [set[j], set[j]]);
      runs[runs.length - 1].push((x: string) => ranges.some(([a, b]) => x >= a && x <= b) !== negate);
      i = end;
    } else runs[runs.length - 1].push(c);
  }
  return { runs, star: runs.length > 1, min: runs.reduce((n, r) => n + r.length, 0) };
}

/**
 * Whether a name matches a wildcard, without backtracking: the first run is the name's start, the
 * last its end, and each run between is taken at its first place after the one before (a `*`
 * between them takes what the leftmost place leaves). At most name.length × longest run steps,
 * counted into `steps` (a backtracking RegExp of `*a*a*a…*b` on a name of 200 `a` ran for minutes).
 */
function globMatch(g: Glob, name: string, steps: { n: number }): boolean {
  if (name.length < g.min || (!g.star && name.length !== g.min)) return false;
  const at = (run: GlobChar[], from: number): boolean => {
    steps.n += run.length;
    for (let k = 0; k < run.length; k++) {
      const m = run[k];
      const c = name[from + k];
      if (m === null) continue;
      if (typeof m === 'string' ? m !== c : !m(c)) return false;
    }
    return true;
  };
  const first = g.runs[0];
  if (!at(first, 0)) return false;
  if (!g.star) return true;
  const last = g.runs[g.runs.length - 1];
  const end = name.length - last.length;
  if (end < first.length || !at(last, end)) return false;
  let pos = first.length;
  for (let r = 1; r < g.runs.length - 1; r++) {
    const run = g.runs[r];
    let found = -1;
    for (let p = pos; p + run.length <= end; p++)
      if (at(run, p)) {
        found = p;
        break;
      }
    if (found < 0) return false;
    pos = found + run.length;
  }
  return true;
}

/** The files of the scan one include names, how it was read (for the notes), and whether the match was cut short. */
function resolveInclude(tree: Tree, from: string, inc: WebInclude): { files: string[]; how: string; cut: boolean } {
  const abs = inc.pattern.startsWith('/');
  const tails: string[] = [];
  if (abs) {
    const parts = inc.pattern.split('/').filter(Boolean);
    for (let i = 0; i < parts.length; i++) tails.push(parts.slice(i).join('/'));
  } else tails.push(inc.pattern);
  let cut = false;
  for (let dir = path.posix.dirname(from); ; dir = path.posix.dirname(dir)) {
    for (const tail of tails) {
      const got = tree.match(dir, tail);
      cut ||= got.cut;
      if (got.files.length) return { files: got.files, cut, how: abs ? `${inc.pattern} read as ${dir === '.' ? '' : `${dir}/`}${tail} in the scan` : `${inc.pattern} from ${dir === '.' ? 'the scan root' : dir}` };
    }
    if (dir === '.' || dir === '/' || dir === '..' || dir.endsWith('/..')) break;
  }
  return { files: [], how: '', cut };
}

/** What the files one include group joins share: maps, upstream groups and Caddy snippets, each bounded for the whole group. */
interface GroupShared {
  maps: NginxMap[];
  /** How many of `maps` and of `upstreams` each file gave (a file's context has the others'). */
  mapsOf: Map<string, number>;
  upstreamsOf: Map<string, number>;
  upstreams: Map<string, { file: string; line: number }>;
  snippets: Map<string, CaddySnippet>;
  /** The files whose maps, upstream groups or snippets were left out past the bounds, in words. */
  dropped?: string;
}

/** The maps, upstream groups and snippets of a group's files (sorted), the first ones up to the bounds. */
function groupShared(members: readonly string[], facts: ReadonlyMap<string, WebFacts>): GroupShared {
  const shared: GroupShared = { maps: [], mapsOf: new Map(), upstreams: new Map(), upstreamsOf: new Map(), snippets: new Map() };
  let values = 0;
  const left: string[] = [];
  for (const o of members) {
    const f = facts.get(o);
    if (!f) continue;
    let lost = false;
    for (const m of f.maps) {
      if (shared.maps.length >= MAX_JOINED_MAPS || values + m.values.length > MAX_JOINED_MAP_VALUES) {
        lost = true;
        continue;
      }
      values += m.values.length;
      shared.maps.push(m);
      shared.mapsOf.set(o, (shared.mapsOf.get(o) ?? 0) + 1);
    }
    for (const [name, line] of f.upstreams) {
      if (shared.upstreams.has(name)) continue;
      if (shared.upstreams.size >= MAX_JOINED_UPSTREAMS) lost = true;
      else {
        shared.upstreams.set(name, { file: o, line });
        shared.upstreamsOf.set(o, (shared.upstreamsOf.get(o) ?? 0) + 1);
      }
    }
    for (const [name, sn] of f.caddy?.snippets ?? []) {
      if (shared.snippets.has(name)) continue;
      if (shared.snippets.size >= MAX_JOINED_SNIPPETS) lost = true;
      else shared.snippets.set(name, sn);
    }
    if (lost) left.push(o);
  }
  if (left.length)
    shared.dropped = `the files its includes join hold more than ${MAX_JOINED_MAPS} maps (${MAX_JOINED_MAP_VALUES} values), ${MAX_JOINED_UPSTREAMS} upstream groups or ${MAX_JOINED_SNIPPETS} Caddy snippets: those of ${left.slice(0, 4).join(', ')}${left.length > 4 ? ` and ${left.length - 4} more files` : ''} are not shared with the others (a variable, group or snippet they define is unknown there)`;
  return shared;
}

/** A Caddyfile's context: the snippets of the files joined with it, and the files each of its import lines pastes that use the import's arguments. */
function caddyContext(file: string, shared: GroupShared, facts: ReadonlyMap<string, WebFacts>, edges: ReadonlyMap<string, Array<{ inc: WebInclude; files: string[] }>>): WebContext['caddy'] {
  const own = facts.get(file)?.caddy;
  if (!own) return undefined;
  // The group's snippets, shared by every file of it: a file's own snippets take precedence where it reads them (scanText).
  const snippets = [...shared.snippets.values()].some((s) => s.file !== file) ? shared.snippets : new Map<string, CaddySnippet>();
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
 * cycle, nesting past the bound, a match or a scan's include work cut short) to list.
 */
export function webContexts(facts: ReadonlyMap<string, WebFacts>, scanned: Iterable<string>): { contexts: Map<string, WebContext>; problems: Array<{ file: string; reason: string }> } {
  const contexts = new Map<string, WebContext>();
  const problems: Array<{ file: string; reason: string }> = [];
  // The files nearer the scan's root first (the main file of a configuration includes the others): they are followed before any bound falls.
  const depth = (f: string) => f.split('/').length;
  const withIncludes = [...facts].filter(([, f]) => f.includes.length).sort(([a], [b]) => depth(a) - depth(b) || (a < b ? -1 : a > b ? 1 : 0));
  if (!withIncludes.length) return { contexts, problems };
  const tree = new Tree(scanned);
  const reported = new Set<string>();
  /** One problem of each kind (`what`) an include line has. */
  const problem = (file: string, line: number, reason: string | (() => string), what = '') => {
    const k = `${file}:${line}:${what}`;
    if (reported.has(k)) return;
    reported.add(k);
    problems.push({ file, reason: `${file}:${line}: ${typeof reason === 'string' ? reason : reason()}` });
  };
  // Each include's files, resolved once; past MAX_INCLUDE_EDGES (include, file) pairs an include is not followed, said.
  const edges = new Map<string, Array<{ inc: WebInclude; files: string[]; how: string }>>();
  let pairs = 0;
  for (const [file, f] of withIncludes) {
    const list: Array<{ inc: WebInclude; files: string[]; how: string }> = [];
    for (const inc of f.includes) {
      const got = resolveInclude(tree, file, inc);
      const word = inc.server === 'apache' ? 'Include' : inc.server === 'caddy' ? 'import' : 'include';
      if (pairs + got.files.length > MAX_INCLUDE_EDGES) {
        problem(file, inc.line, `${word} ${inc.pattern}: not followed, the includes of this scan already join more than ${MAX_INCLUDE_EDGES} (include, file) pairs (what the files it names define is unknown here)`, 'bound');
        continue;
      }
      if (got.cut)
        problem(file, inc.line, tree.tests > MAX_INCLUDE_TESTS || tree.steps.n > MAX_GLOB_STEPS ? `${word} ${inc.pattern}: the includes of this scan tested more than ${MAX_INCLUDE_TESTS} names (${MAX_GLOB_STEPS} characters) against their patterns: the files it names past that are not followed (what they define is unknown here)` : `${word} ${inc.pattern}: names more than ${MAX_INCLUDE_MATCHES} files, only the first ${MAX_INCLUDE_MATCHES} followed (what the others define is unknown here)`, 'bound');
      pairs += got.files.length;
      list.push({ inc, files: got.files, how: got.how });
    }
    edges.set(file, list);
  }

  // nginx and Caddy: the files joined by includes share their maps, upstream groups and snippets (union-find, halving paths).
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    for (let up = parent.get(r)!; up !== r; up = parent.get(r)!) {
      parent.set(r, parent.get(up)!);
      r = up;
    }
    return r;
  };
  const union = (a: string, b: string) => {
    for (const x of [a, b]) if (!parent.has(x)) parent.set(x, x);
    const [ra, rb] = [find(a), find(b)];
    if (ra !== rb) parent.set(ra, rb);
  };
  for (const [file, list] of edges) for (const e of list) if (e.inc.server !== 'apache') for (const g of e.files) union(file, g);
  const groups = new Map<string, string[]>();
  for (const x of parent.keys()) {
    const r = find(x);
    const list = groups.get(r);
    if (list) list.push(x);
    else groups.set(r, [x]);
  }
  for (const members of groups.values()) {
    const set = members.sort();
    const shared = groupShared(set, facts);
    for (const file of set) {
      const others = set.length - 1;
      const joins = `${set.slice(0, 5).filter((o) => o !== file).slice(0, 4).join(', ')}${others > 4 ? ` and ${others - 4} more` : ''}`;
      // The others' maps only (the file's own are read with it); the group's upstream groups whole (its own come first where it reads them).
      const maps = shared.maps.length > (shared.mapsOf.get(file) ?? 0) ? shared.maps.filter((m) => m.file !== file) : [];
      const upstreams = shared.upstreams.size > (shared.upstreamsOf.get(file) ?? 0) ? shared.upstreams : new Map<string, { file: string; line: number }>();
      if (maps.length || upstreams.size) contexts.set(file, { maps, upstreams, via: `nginx include joins ${joins}` });
      const caddy = caddyContext(file, shared, facts, edges);
      if (caddy) contexts.set(file, { ...(contexts.get(file) ?? { maps: [], upstreams: new Map(), via: `Caddy import joins ${joins}` }), caddy });
      if (shared.dropped && contexts.has(file)) contexts.get(file)!.via += `; ${shared.dropped}`;
    }
    if (shared.dropped) problems.push({ file: set[0], reason: `${set[0]}: ${shared.dropped}` });
  }

  // Apache: the Defines in the order httpd reads the files, from each file no other includes.
  const included = new Set<string>();
  for (const list of edges.values()) for (const e of list) if (e.inc.server === 'apache') for (const g of e.files) included.add(g);
  const seeds = new Map<string, Map<string, ApacheDefine>>();
  const after = new Map<string, Map<number, Array<[string, ApacheDefine | undefined]>>>();
  const conflicting = new Map<string, Set<string>>();
  let steps = 0;
  let followed = 0;
  let walkCut: string | undefined;
  let definesCut: string | undefined;
  const walk = (file: string, state: Map<string, ApacheDefine>, stack: string[]): void => {
    if (++steps > MAX_WALK_STEPS) return void (walkCut ??= file);
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
        if (!s.d.value) state.delete(s.d.name);
        else if (state.has(s.d.name) || state.size < MAX_DEFINES) state.set(s.d.name, s.d.value);
        else definesCut ??= `${file}:${s.d.line}`;
        continue;
      }
      const e = (s as { e: { inc: WebInclude; files: string[] } }).e;
      if (!e.files.length) continue;
      const before = new Map(state);
      for (const g of e.files) {
        if (++followed > MAX_WALK_FOLLOWED) {
          walkCut ??= file;
          break;
        }
        if (stack.includes(g) || g === file) problem(file, e.inc.line, () => `Include ${e.inc.pattern} reaches ${g}, which is already being read (${[...stack, file].slice(-4).join(' → ')}): an include cycle, not followed`);
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
  if (definesCut !== undefined) problems.push({ file: definesCut.replace(/:\d+$/, ''), reason: `${definesCut}: Apache Include: more than ${MAX_DEFINES} Defines are carried from file to file in httpd's order: this one and those past it are not carried into the files included after them (those names left as written there)` });
  if (walkCut !== undefined) problems.push({ file: walkCut, reason: `${walkCut}: Apache Include: httpd's order over the files of this scan was followed for ${MAX_WALK_STEPS} file visits (${MAX_WALK_FOLLOWED} included files): the Defines past that (from ${walkCut} on) are not carried into the files they include, those names left as written` });
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
  let dfsCut: string | undefined;
  const visiting = new Set<string>();
  const done = new Set<string>();
  const dfs = (file: string, depth: number): void => {
    if (done.has(file)) return;
    if (++steps > MAX_WALK_STEPS * 2) return void (dfsCut ??= file);
    visiting.add(file);
    for (const e of edges.get(file) ?? []) {
      if (e.inc.server !== 'nginx') continue;
      for (const g of e.files) {
        if (visiting.has(g)) problem(file, e.inc.line, () => `include ${e.inc.pattern} reaches ${g}, which includes this file again: an include cycle (nginx would read these files again and again), not followed further`);
        else if (depth + 1 >= MAX_INCLUDE_DEPTH) problem(file, e.inc.line, `include ${e.inc.pattern}: nested more than ${MAX_INCLUDE_DEPTH} deep, not followed`);
        else dfs(g, depth + 1);
      }
    }
    visiting.delete(file);
    done.add(file);
  };
  for (const file of edges.keys()) dfs(file, 0);
  if (dfsCut !== undefined) problems.push({ file: dfsCut, reason: `${dfsCut}: nginx include: the files of this scan were walked for include cycles ${MAX_WALK_STEPS * 2} times: from ${dfsCut} on a cycle is not looked for (its maps and upstream groups are still shared)` });
  return { contexts, problems };
}
