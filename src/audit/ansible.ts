import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Node as YamlNode, type YAMLMap } from 'yaml';
import { withoutStackTraces } from '../errors.js';
import { DEB_LINE, referencesIn, type Reference, type ScannedFile } from './scan.js';

/**
 * Ansible repositories (playbooks, roles, group_vars, requirements.yml): what their tasks fetch,
 * read by module. The generic YAML scan finds a literal URL anywhere, but it cut a URL at its
 * first `{{ var }}`, never saw an image written as `name:` + `tag:` with variables, an
 * `apt_repository` line with a variable in it, PyPI behind a bare `pip: name=…`, or Galaxy behind
 * a `requirements.yml` entry with no `source`. Here each task module's arguments become references
 * of the right kind (the module named in the note), with Jinja `{{ var }}` filled in from the
 * role's `defaults/` and `vars/` and from `group_vars/` and `host_vars/` where the scan sets the
 * variable to exactly one value; otherwise the reference keeps the variable as written and the
 * note says why it is unknown (set nowhere, set to several values — each place named — or an
 * expression). Nothing is guessed.
 */

/** The role directory (`…/roles/<name>`) of a file, or undefined. */
function roleOf(file: string): string | undefined {
  const m = /^(.*?(?:^|\/)roles\/[^/]+)\//.exec(file);
  return m?.[1];
}

const VARS_FILE = /(?:^|\/)(?:group_vars|host_vars)\/|(?:^|\/)roles\/[^/]+\/(?:defaults|vars)\//;
const TASKS_FILE = /(?:^|\/)roles\/[^/]+\/(?:tasks|handlers)\//;
const REQUIREMENTS_FILE = /(?:^|\/)requirements\.ya?ml$/;
/**
 * A playbook or task list outside a role: a top-level list (a line starting `- `) with a play's
 * keys, or a module of the table below, at a line start. (`hosts:` alone is an Ingress's TLS
 * hosts or an Istio VirtualService's: those files are no playbooks, and keeping their text for
 * this pass would hold every such manifest of a large tree.)
 */
const PLAY_KEY = /^[ \t]*-?[ \t]*(?:hosts|import_playbook|tasks|pre_tasks|post_tasks):/m;
const TOP_LIST = /^-[ \t]/m;
const MODULE_KEY = /^[ \t]*-?[ \t]*(?:ansible\.(?:builtin|legacy)|community\.docker|containers\.podman|kubernetes\.core|community\.kubernetes)\.\w+:/m;

/** Whether the scan keeps this YAML file's text for `applyAnsible`. */
export function isAnsibleText(file: string, text: string): boolean {
  return VARS_FILE.test(file) || TASKS_FILE.test(file) || REQUIREMENTS_FILE.test(file) || (TOP_LIST.test(text) && (PLAY_KEY.test(text) || MODULE_KEY.test(text)));
}

/**
 * `text` with each `{{ … }}` replaced by `fill(inner, whole)`, scanned once (a lazy `\{\{(.*?)\}\}`
 * regex retries from every `{{` of a line with no `}}`: quadratic on a crafted value).
 */
function replaceJinja(text: string, fill: (inner: string, whole: string) => string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const open = text.indexOf('{{', i);
    if (open < 0) break;
    const close = text.indexOf('}}', open + 2);
    if (close < 0) break;
    const nl = text.indexOf('\n', open + 2);
    // As the regex read it: `{{ … }}` on one line.
    if (nl >= 0 && nl < close) {
      out += text.slice(i, nl + 1);
      i = nl + 1;
      continue;
    }
    out += text.slice(i, open) + fill(text.slice(open + 2, close), text.slice(open, close + 2));
    i = close + 2;
  }
  return out + text.slice(i);
}

/** What each module fetches: its URL arguments, APT, image and chart arguments. Keyed by the short name. */
const URL_ARGS: Record<string, string[]> = {
  get_url: ['url'],
  uri: ['url'],
  unarchive: ['src'],
  apt_key: ['url'],
  apt: ['deb'],
  yum_repository: ['baseurl', 'mirrorlist', 'metalink', 'gpgkey'],
  yum: ['name'],
  dnf: ['name'],
  git: ['repo'],
  rpm_key: ['key'],
  deb822_repository: ['signed_by'],
  helm_repository: ['repo_url'],
};
const COLLECTIONS: Record<string, string> = {
  docker_image: 'community.docker',
  docker_image_pull: 'community.docker',
  docker_container: 'community.docker',
  podman_image: 'containers.podman',
  podman_container: 'containers.podman',
  helm: 'kubernetes.core',
  helm_repository: 'kubernetes.core',
};
const MODULES = new Set([...Object.keys(URL_ARGS), ...Object.keys(COLLECTIONS), 'apt_repository', 'pip']);

/** The module short name of a task key (`ansible.builtin.get_url`, `get_url`, `community.kubernetes.helm`), or undefined. */
function moduleOf(key: string): string | undefined {
  const m = /^(?:(ansible\.builtin|ansible\.legacy|community\.docker|containers\.podman|kubernetes\.core|community\.kubernetes)\.)?([a-z0-9_]+)$/.exec(key);
  if (!m || !MODULES.has(m[2])) return undefined;
  const col = COLLECTIONS[m[2]];
  if (m[1] && col && m[1] !== col && !(m[2].startsWith('helm') && m[1] === 'community.kubernetes')) return undefined;
  if (m[1] && !col && !m[1].startsWith('ansible.')) return undefined;
  return m[2];
}

interface VarSetting {
  value: string | undefined;
  where: string;
}

/** Variables of the scan: global (group_vars, host_vars) and per role (defaults, vars). */
class AnsibleVars {
  private global = new Map<string, VarSetting[]>();
  private roles = new Map<string, Map<string, VarSetting[]>>();
  /** `<role>\0<name>` → the variable filled in (resolveJinja). */
  readonly resolved = new Map<string, { value: string; unknown: string[]; by: string[] }>();

  add(file: string, map: YAMLMap, lineOf: (n: YamlNode) => number): void {
    const role = /(?:^|\/)roles\/[^/]+\/(?:defaults|vars)\//.test(file) ? roleOf(file) : undefined;
    let into = this.global;
    if (role) {
      into = this.roles.get(role) ?? new Map();
      this.roles.set(role, into);
    }
    for (const pair of map.items) {
      if (!isScalar(pair.key)) continue;
      const name = String(pair.key.value);
      const v = pair.value;
      const value = isScalar(v) && v.value !== null && typeof v.value !== 'object' ? String(v.value) : undefined;
      const list = into.get(name) ?? [];
      list.push({ value, where: `${file}:${lineOf((v ?? pair.key) as YamlNode)}` });
      into.set(name, list);
    }
  }

  settings(name: string, file: string): VarSetting[] {
    const role = roleOf(file);
    return [...((role && this.roles.get(role)?.get(name)) || []), ...(this.global.get(name) ?? [])];
  }
}

const SIMPLE_VAR = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*$/;
const MAX_DEPTH = 8;
/** A variable longer than this once filled in is left unknown: nesting cannot grow a value without bound. */
const MAX_RESOLVED = 4096;

/** The places a note names for one variable: each finding that uses it carries the note. */
const MAX_PLACES = 5;

/**
 * Where a variable is set (with its values), the first MAX_PLACES and how many more: a variable
 * set in 50 000 places (one key repeated, or one host_vars file per host) named them all in the
 * note of each task using it (1 000 tasks: a 5 GB report, 4.6 GB of memory).
 */
function placesOf(set: VarSetting[], withValues: boolean, sep: string): string {
  const shown = set.slice(0, MAX_PLACES).map((s) => `${s.where}${withValues && s.value !== undefined ? ` = ${s.value.length > 200 ? `${s.value.slice(0, 200)}…` : s.value}` : ''}`);
  return `${shown.join(sep)}${set.length > MAX_PLACES ? `${sep}and ${set.length - MAX_PLACES} more place${set.length - MAX_PLACES === 1 ? '' : 's'}` : ''}`;
}

/** `text` with each `{{ var }}` filled in; `unknown` says why any stays as written, `by` where each value came from. */
function resolveJinja(text: string, file: string, vars: AnsibleVars, depth = 0, seen: string[] = []): { value: string; unknown: string[]; by: string[] } {
  const unknown: string[] = [];
  const by: string[] = [];
  if (/\{%/.test(text)) unknown.push('a Jinja statement ({% … %}) the scan does not evaluate');
  let grown = 0;
  const value = replaceJinja(text, (inner, all) => {
    const m = SIMPLE_VAR.exec(inner);
    if (!m) {
      unknown.push(`${all}: an expression the scan does not evaluate`);
      return all;
    }
    const name = m[1];
    if (seen.includes(name) || depth >= MAX_DEPTH) {
      unknown.push(`{{ ${name} }}: defined through itself or nested deeper than ${MAX_DEPTH}`);
      return all;
    }
    const set = vars.settings(name, file);
    const values = [...new Set(set.map((s) => s.value))];
    if (!set.length) {
      unknown.push(`{{ ${name} }} is set in no role defaults/vars, group_vars or host_vars of the scan${name.startsWith('ansible_') ? ' (a fact of the managed host)' : ' (an inventory, play vars or extra vars may set it)'}`);
      return all;
    }
    if (values.length > 1 || values[0] === undefined) {
      unknown.push(`{{ ${name} }} is set ${values.length > 1 ? `to ${values.length} different values` : 'to no string'} (${placesOf(set, true, '; ')}): which applies depends on the host`);
      return all;
    }
    // Each variable is resolved once per role (a chain of variables each using the last many times is not re-walked).
    const cacheKey = `${roleOf(file) ?? ''}\0${name}`;
    let inner2 = vars.resolved.get(cacheKey);
    if (!inner2) {
      inner2 = resolveJinja(values[0], file, vars, depth + 1, [...seen, name]);
      if (inner2.value.length > MAX_RESOLVED) inner2 = { value: all, unknown: [`{{ ${name} }} is longer than ${MAX_RESOLVED} characters once filled in: not a reference the scan takes`], by: [] };
      vars.resolved.set(cacheKey, inner2);
    }
    if (grown + inner2.value.length > MAX_RESOLVED) {
      unknown.push(`${text.slice(0, 80)}… is longer than ${MAX_RESOLVED} characters once filled in: not a reference the scan takes`);
      return all;
    }
    grown += inner2.value.length;
    unknown.push(...inner2.unknown);
    by.push(`{{ ${name} }}=${values[0]} (${placesOf(set, false, ', ')})`, ...inner2.by);
    return inner2.value;
  });
  return { value, unknown: [...new Set(unknown)], by: [...new Set(by)] };
}

/** A task's arguments: the module's mapping, its `args:`, or a free-form `k=v k=v` string. */
function argsOf(task: YAMLMap, moduleKey: string): Map<string, { node: YamlNode; value: unknown; key: string }> {
  const out = new Map<string, { node: YamlNode; value: unknown; key: string }>();
  const add = (m: unknown, prefix: string) => {
    if (!isMap(m)) return;
    for (const p of m.items) if (isScalar(p.key) && p.value) out.set(String(p.key.value), { node: p.value as YamlNode, value: (p.value as { toJSON?: () => unknown }).toJSON?.() ?? null, key: `${prefix}.${String(p.key.value)}` });
  };
  const body = task.get(moduleKey, true);
  if (isScalar(body) && typeof body.value === 'string') {
    for (const m of body.value.matchAll(/(?:^|\s)([a-z_]+)=("[^"]*"|'[^']*'|\S+)/g)) out.set(m[1], { node: body, value: m[2].replace(/^(["'])(.*)\1$/, '$2'), key: moduleKey });
  }
  add(task.get('args', true), 'args');
  add(body, moduleKey);
  return out;
}

const PYPI = 'https://pypi.org/simple';

/** The references of one task file or playbook (document `doc`), pushed to `out`; `handled` gets each key path read here. */
function tasksOf(file: string, contents: unknown, lineOf: (n: YamlNode) => number, vars: AnsibleVars, repos: Map<string, string>, out: Reference[], handled: Set<string>): void {
  const emit = (line: number, keyPath: string, kind: Reference['kind'], written: string, what: string, extra: Partial<Reference> = {}) => {
    handled.add(keyPath);
    const r = resolveJinja(written, file, vars);
    const at = `${file}:${line} ${what}`;
    if (r.unknown.length) {
      // Only the host may be known: the reference as written with what resolved filled in.
      out.push({ file, line, keyPath, kind, value: r.value, ...extra, provenance: `${at}: ${written}: ${r.unknown.join('; ')}; what it fetches is unknown until that is set` });
      return;
    }
    const found = kind === 'url' ? referencesIn(r.value, false).filter((x) => x.kind === 'url' || x.kind === 'oci') : [{ kind, value: r.value }];
    for (const f of found) out.push({ file, line, keyPath, ...f, ...extra, provenance: `${at}${r.by.length ? `: ${written}, resolved ${r.by.join(', ')}` : ''}` });
  };
  const walkList = (list: unknown, keyPath: string) => {
    if (!isSeq(list)) return;
    list.items.forEach((item, i) => walkTask(item, `${keyPath}[${i}]`));
  };
  const walkTask = (task: unknown, keyPath: string) => {
    if (!isMap(task)) return;
    for (const k of ['tasks', 'pre_tasks', 'post_tasks', 'handlers', 'block', 'rescue', 'always']) walkList(task.get(k, true), `${keyPath}.${k}`);
    for (const p of task.items) {
      if (!isScalar(p.key)) continue;
      const key = String(p.key.value);
      const mod = moduleOf(key);
      if (!mod) continue;
      const args = argsOf(task, key);
      const str = (a: string) => {
        const v = args.get(a);
        return v && (typeof v.value === 'string' || typeof v.value === 'number') ? { ...v, text: String(v.value) } : undefined;
      };
      const kp = (a: string) => `${keyPath}.${args.get(a)!.key}`;
      const what = (a: string) => `${key} ${a}`;
      for (const a of URL_ARGS[mod] ?? []) {
        const v = args.get(a);
        if (!v) continue;
        const items = Array.isArray(v.value) ? v.value : [v.value];
        for (const x of items) {
          if (typeof x !== 'string') continue;
          // A package name, a local path or a key file on the host fetches nothing from outside.
          if (!/^[a-z][a-z0-9+.-]*:\/\/|^\{\{/i.test(x.trim()) && !(mod === 'git' && /@/.test(x))) continue;
          emit(lineOf(v.node), kp(a), 'url', x.trim(), what(a));
        }
      }
      if (mod === 'get_url') {
        // `checksum: sha256:https://…/SHA256SUMS`: the checksum file is fetched too.
        const c = str('checksum');
        if (c && /^[a-z0-9]+:(?:https?|ftp):\/\//i.test(c.text)) emit(lineOf(c.node), kp('checksum'), 'url', c.text.slice(c.text.indexOf(':') + 1), what('checksum'));
      }
      if (mod === 'apt_repository') {
        const repo = str('repo');
        if (repo) {
          const r = resolveJinja(repo.text, file, vars);
          const m = DEB_LINE.exec(r.value.trim());
          handled.add(kp('repo'));
          if (m && !r.unknown.length) {
            out.push({ file, line: lineOf(repo.node), keyPath: kp('repo'), kind: 'apt', value: m[2], apt: { types: [m[1]], suites: m[3] ? [m[3]] : [], components: m[4].split(/\s+/).filter(Boolean) }, provenance: `${file}:${lineOf(repo.node)} ${what('repo')}${r.by.length ? `: ${repo.text}, resolved ${r.by.join(', ')}` : ''}` });
          } else if (/^ppa:/.test(r.value.trim())) {
            out.push({ file, line: lineOf(repo.node), keyPath: kp('repo'), kind: 'url', value: 'https://ppa.launchpadcontent.net', provenance: `${file}:${lineOf(repo.node)} ${what('repo')}: ${repo.text}: a Launchpad PPA (its key from keyserver.ubuntu.com / api.launchpad.net)` });
          } else emit(lineOf(repo.node), kp('repo'), 'apt', m ? m[2] : repo.text, what('repo'));
        }
      }
      if (mod === 'deb822_repository') {
        const v = args.get('uris');
        const list = (a: string) => {
          const x = args.get(a)?.value;
          return (Array.isArray(x) ? x : typeof x === 'string' ? x.split(/\s+/) : []).map(String).filter(Boolean);
        };
        const apt = { types: list('types').length ? list('types') : ['deb'], suites: list('suites'), components: list('components') };
        for (const u of list('uris')) emit(lineOf(v!.node), kp('uris'), 'apt', u, what('uris'), { apt });
      }
      if (mod === 'pip') {
        const extra = str('extra_args')?.text ?? '';
        const index = /(?:^|\s)(?:--index-url|-i)[=\s]+(\S+)/.exec(extra);
        const names = args.get('name') ?? args.get('requirements');
        if (index) emit(lineOf(args.get('extra_args')!.node), kp('extra_args'), 'url', index[1], what('extra_args --index-url'));
        for (const m of extra.matchAll(/--extra-index-url[=\s]+(\S+)/g)) emit(lineOf(args.get('extra_args')!.node), kp('extra_args'), 'url', m[1], what('extra_args --extra-index-url'));
        if (!index && names) {
          handled.add(kp(args.has('name') ? 'name' : 'requirements'));
          out.push({ file, line: lineOf(names.node), keyPath: kp(args.has('name') ? 'name' : 'requirements'), kind: 'url', value: PYPI, provenance: `${file}:${lineOf(names.node)} ${key}: pip installs ${JSON.stringify(names.value)} from its default index, PyPI (no --index-url in extra_args; a pip.conf or PIP_INDEX_URL on the host may point elsewhere)` });
        }
      }
      if (mod === 'docker_container' || mod === 'podman_container') {
        const img = str('image');
        if (img) emit(lineOf(img.node), kp('image'), 'image', img.text, what('image'));
      }
      if (mod === 'docker_image' || mod === 'podman_image' || mod === 'docker_image_pull') {
        const name = str('name');
        const source = str('source')?.text;
        // docker_image with `source: build|load|local` pulls nothing; podman_image pulls unless `pull: false`.
        if (name && !(mod === 'docker_image' && source && source !== 'pull') && str('pull')?.text !== 'false') {
          const tag = str('tag')?.text;
          // The tag applies when the name carries none (docker_image's docs: `name` may include a tag; `tag` defaults to latest).
          const hasTag = /@|:[^/]*$/.test(replaceJinja(name.text, () => 'x'));
          // The generic scan read `{name, tag}` as an image map at the module's own key path.
          handled.add(`${keyPath}.${key}`);
          emit(lineOf(name.node), kp('name'), 'image', hasTag || !tag ? name.text : `${name.text}:${tag}`, `${key} name${tag && !hasTag ? ' + tag' : ''}`);
        }
      }
      if (mod === 'helm') {
        const ref = str('chart_ref');
        const repoUrl = str('chart_repo_url');
        const version = str('chart_version')?.text;
        if (!ref) continue;
        const v = version ? resolveJinja(version, file, vars) : undefined;
        const ver = v ? (v.unknown.length ? `version ${version} (${v.unknown.join('; ')})` : `version ${v.value}`) : 'the latest version (no chart_version)';
        if (repoUrl) emit(lineOf(repoUrl.node), kp('chart_repo_url'), 'url', repoUrl.text, `${key}: chart ${ref.text} ${ver} from chart_repo_url`);
        else if (/^oci:\/\//.test(ref.text) || /^https?:\/\//.test(ref.text)) emit(lineOf(ref.node), kp('chart_ref'), /^oci:/.test(ref.text) ? 'oci' : 'url', ref.text, `${key}: chart_ref ${ver}`);
        else {
          const m = /^([^/\s]+)\/([^/\s]+)$/.exec(ref.text);
          const repo = m ? repos.get(m[1]) : undefined;
          if (m && repo) emit(lineOf(ref.node), kp('chart_ref'), 'url', repo, `${key}: chart ${m[2]} ${ver} from the repository ${m[1]} a helm_repository task adds`);
          else if (m) {
            handled.add(kp('chart_ref'));
            out.push({ file, line: lineOf(ref.node), keyPath: kp('chart_ref'), kind: 'host', value: `helm repository ${m[1]}`, provenance: `${file}:${lineOf(ref.node)} ${key}: chart_ref ${ref.text}: the repository ${m[1]} is added by no kubernetes.core.helm_repository task of the scan (helm repo add on the host, whose URL is unknown)` });
          }
        }
      }
    }
  };
  if (isSeq(contents)) walkList(contents, '');
}

/** `name: ingress-nginx` → repo_url of each kubernetes.core.helm_repository task of the scan (one URL each, else left out). */
function helmRepositories(docs: Array<{ file: string; contents: unknown }>, vars: AnsibleVars): Map<string, string> {
  const found = new Map<string, Set<string>>();
  const visit = (n: unknown, file: string) => {
    if (isSeq(n)) return n.items.forEach((x) => visit(x, file));
    if (!isMap(n)) return;
    for (const p of n.items) {
      const key = isScalar(p.key) ? String(p.key.value) : '';
      if (moduleOf(key) === 'helm_repository') {
        const args = argsOf(n, key);
        const name = args.get('name')?.value;
        const url = args.get('repo_url')?.value;
        if (typeof name === 'string' && typeof url === 'string') {
          const r = resolveJinja(url, file, vars);
          if (!r.unknown.length) found.set(name, (found.get(name) ?? new Set()).add(r.value));
        }
      } else visit(p.value, file);
    }
  };
  for (const d of docs) visit(d.contents, d.file);
  return new Map([...found].filter(([, s]) => s.size === 1).map(([k, s]) => [k, [...s][0]]));
}

const GALAXY = 'https://galaxy.ansible.com';

/** requirements.yml: each collection or role, from its `source`/`src`, or Galaxy by default. */
function requirementsOf(file: string, contents: unknown, lineOf: (n: YamlNode) => number, out: Reference[], handled: Set<string>): void {
  const entries: Array<{ node: unknown; keyPath: string; what: string }> = [];
  if (isSeq(contents)) contents.items.forEach((n, i) => entries.push({ node: n, keyPath: `[${i}]`, what: 'role' }));
  else if (isMap(contents)) {
    for (const k of ['roles', 'collections']) {
      const list = contents.get(k, true);
      if (isSeq(list)) list.items.forEach((n, i) => entries.push({ node: n, keyPath: `${k}[${i}]`, what: k === 'roles' ? 'role' : 'collection' }));
    }
  }
  for (const e of entries) {
    const get = (k: string) => (isMap(e.node) ? e.node.get(k, true) : undefined);
    const name = isScalar(e.node) ? e.node : get('name');
    const src = get('src') ?? get('source');
    const type = get('type') ?? get('scm');
    const named = isScalar(name) ? String(name.value) : undefined;
    const from = isScalar(src) ? String(src.value) : undefined;
    const where = (isScalar(src) ? src : isScalar(name) ? name : e.node) as YamlNode;
    const line = lineOf(where);
    const keyPath = isScalar(src) ? `${e.keyPath}.${get('src') ? 'src' : 'source'}` : isScalar(e.node) ? e.keyPath : `${e.keyPath}.name`;
    // A git URL, a tarball URL or a Galaxy server: the generic scan reports those already.
    if ((from && /^[a-z][a-z0-9+.-]*:\/\/|^git@|^git\+/i.test(from)) || (named && /^[a-z][a-z0-9+.-]*:\/\/|^git@|^git\+/i.test(named))) continue;
    // A local path (`type: file|dir|subdirs`, `./x.tar.gz`) fetches nothing.
    if ((isScalar(type) && /^(?:file|dir|subdirs)$/.test(String(type.value))) || (from && /^[./~]/.test(from)) || (named && /^[./~]/.test(named))) continue;
    if (!named && !from) continue;
    handled.add(keyPath);
    out.push({ file, line, keyPath, kind: 'url', value: GALAXY, provenance: `${file}:${line} ${e.what} ${from ?? named}: ansible-galaxy installs it from its default server, Galaxy (no source; an ansible.cfg [galaxy] server_list may point elsewhere)` });
  }
}

/**
 * After the scan: the references of the Ansible files read by module (tasks, playbooks,
 * requirements.yml) and the Jinja URLs of their variables files, in place of what the generic
 * YAML scan found at the same key paths.
 */
export function applyAnsible(files: ScannedFile[], references: Reference[]): void {
  const docs: Array<{ file: string; contents: unknown; lineOf: (n: YamlNode) => number; role: 'vars' | 'tasks' | 'requirements' }> = [];
  const vars = new AnsibleVars();
  for (const f of files) {
    if (f.type !== 'yaml' || f.text === undefined || !isAnsibleText(f.file, f.text)) continue;
    const lc = new LineCounter();
    const parsed = withoutStackTraces(() => parseAllDocuments(f.text!, { lineCounter: lc, uniqueKeys: false }));
    const list = Array.isArray(parsed) ? parsed : [parsed];
    const lineOf = (n: YamlNode) => (n?.range ? lc.linePos(n.range[0]).line : 1);
    const role = VARS_FILE.test(f.file) ? 'vars' : REQUIREMENTS_FILE.test(f.file) ? 'requirements' : 'tasks';
    for (const d of list) {
      if (d.errors.length) continue;
      if (role === 'vars' && isMap(d.contents)) vars.add(f.file, d.contents, lineOf);
      docs.push({ file: f.file, contents: d.contents, lineOf, role });
    }
  }
  if (!docs.length) return;
  const repos = helmRepositories(docs.filter((d) => d.role === 'tasks'), vars);
  const out: Reference[] = [];
  const handled = new Map<string, Set<string>>();
  for (const d of docs) {
    const h = handled.get(d.file) ?? new Set<string>();
    handled.set(d.file, h);
    if (d.role === 'tasks') tasksOf(d.file, d.contents, d.lineOf, vars, repos, out, h);
    else if (d.role === 'requirements') requirementsOf(d.file, d.contents, d.lineOf, out, h);
    else if (isMap(d.contents)) {
      // A variable's URL with `{{ … }}` (`url: "https://…/v{{ version }}/x.tgz"`): resolved as the tasks are.
      for (const p of d.contents.items) {
        if (!isScalar(p.key) || !isScalar(p.value) || typeof p.value.value !== 'string' || !p.value.value.includes('{{')) continue;
        const written = p.value.value;
        if (!/^[a-z][a-z0-9+.-]*:\/\/|^\{\{[^}]*\}\}\//i.test(written.trim())) continue;
        const keyPath = String(p.key.value);
        h.add(keyPath);
        const r = resolveJinja(written, d.file, vars);
        const line = d.lineOf(p.value as YamlNode);
        if (r.unknown.length) out.push({ file: d.file, line, keyPath, kind: 'url', value: r.value, provenance: `${d.file}:${line} ${keyPath}: ${written}: ${r.unknown.join('; ')}` });
        else for (const x of referencesIn(r.value, false)) out.push({ file: d.file, line, keyPath, ...x, provenance: `${d.file}:${line} ${keyPath}: ${written}, resolved ${r.by.join(', ')}` });
      }
    }
  }
  // The generic scan's references at the key paths read here go: they were cut at `{{` or of the wrong kind.
  const keep = references.filter((r) => !handled.get(r.file)?.has(r.keyPath ?? ''));
  references.length = 0;
  references.push(...keep, ...out);
}
