import { isMap, isScalar, isSeq, LineCounter, type Node as YamlNode, type YAMLMap } from 'yaml';
import { parseHostileDocuments } from '../manifest/yaml-input.js';
import path from 'node:path';
import { withoutStackTraces } from '../errors.js';
import { includeVarsCandidates } from './ansible-loops.js';
import { extraVarsIn, inRuntimeScope, runtimeScopeOf } from './runtime-vars.js';
import { execKeepingTemplates, unfilledHost } from './unknown-host.js';
import { mergeWays, type Way } from './ways.js';
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

/**
 * A role directory under `roles/`: `roles/<name>`, or nested (`roles/container-engine/docker`,
 * named `container-engine/docker` in a play), up to its first role subdirectory.
 */
const ROLE_DIR = String.raw`(?:^|\/)roles\/(?:(?!(?:tasks|handlers|defaults|vars|meta|templates|files)\/)[^/]+\/){0,4}?[^/]+`;
const ROLE_OF = new RegExp(`^(.*?${ROLE_DIR})\\/(?:tasks|handlers|defaults|vars|meta|templates|files)\\/`);
const ROLE_VARS = new RegExp(`${ROLE_DIR}\\/(?:defaults|vars)\\/`);

/**
 * Role directories not under `roles/`: a role repository (a Galaxy role: `tasks/main.yml`,
 * `defaults/main.yml`, `meta/main.yml` at its top) or any directory holding `tasks/main.yml` or
 * `meta/main.yml` beside its `tasks/`. Set by applyAnsible from the scan's file names.
 */
let standaloneRoles: ReadonlySet<string> = new Set();
/** A role's own subdirectories. */
const ROLE_SUBDIRS = new Set(['tasks', 'handlers', 'defaults', 'vars', 'meta', 'templates', 'files']);

/** A standalone role directory holding `file` in one of its subdirectories (`<role>/<subdir>/…`), and that subdirectory. */
function standaloneRoleOf(file: string): { role: string; sub: string } | undefined {
  if (!standaloneRoles.size) return undefined;
  const parts = file.split('/');
  // The innermost first: a role inside a role's files/ is its own.
  for (let i = parts.length - 2; i >= 0; i--) {
    if (!ROLE_SUBDIRS.has(parts[i])) continue;
    const role = parts.slice(0, i).join('/');
    if (standaloneRoles.has(role)) return { role, sub: parts[i] };
  }
  return undefined;
}

/** The role directory (`…/roles/<name>`, `…/roles/<group>/<name>`, a standalone role's) of a file, or undefined. */
function roleOf(file: string): string | undefined {
  const m = ROLE_OF.exec(file) ?? /^(.*?(?:^|\/)roles\/[^/]+)\//.exec(file);
  return m?.[1] ?? standaloneRoleOf(file)?.role;
}

/** A role's defaults/ or vars/ file (under roles/, or of a standalone role). */
function isRoleVars(file: string): boolean {
  if (ROLE_VARS.test(file)) return true;
  const sub = standaloneRoleOf(file)?.sub;
  return sub === 'defaults' || sub === 'vars';
}

/** A role's tasks/ or handlers/ file. */
function isRoleTasks(file: string): boolean {
  if (TASKS_FILE.test(file)) return true;
  const sub = standaloneRoleOf(file)?.sub;
  return sub === 'tasks' || sub === 'handlers';
}

/** A file naming its directory's parent a role (`<role>/tasks/main.yml`, `<role>/meta/main.yml`). */
const ROLE_MARK = /^(?:(.*)\/)?(?:tasks|meta)\/main\.ya?ml$/;
/** What a standalone role's YAML file may be (the scan keeps its text): a task list of tasks/ or handlers/, its defaults/main or vars/main. */
const ROLE_PART = /(?:^|\/)(?:tasks|handlers)\/[^/]+\.ya?ml$/;
const ROLE_MAIN_VARS = /(?:^|\/)(?:defaults|vars)\/main\.ya?ml$/;

const VARS_FILE = new RegExp(`(?:^|\\/)(?:group_vars|host_vars)\\/|${ROLE_VARS.source}`);
/** A variables file a play may name in `vars_files` (`vars/common.yml`, `vars_prod.yml`): read only when a play names it. */
const PLAIN_VARS_FILE = /(?:^|\/)vars\/[^/]+\.ya?ml$|(?:^|\/)[^/]*vars[^/]*\.ya?ml$/;
/** An inventory (the ini and yaml inventory plugins' docs): `hosts`, `inventory`, `*.ini` or YAML under an `inventory/`/`inventories/` directory. */
const INI_INVENTORY = /(?:^|\/)(?:hosts|inventory)(?:\.ini)?$|(?:^|\/)inventor(?:y|ies)\/(?:[^/]+\/)*[^/]+\.ini$/;
const YAML_INVENTORY = /(?:^|\/)(?:hosts|inventory)\.ya?ml$|(?:^|\/)inventor(?:y|ies)\/(?:[^/]+\/)*[^/]+\.ya?ml$/;
const ANSIBLE_CFG = /(?:^|\/)\.?ansible\.cfg$/;

/** Whether the scan keeps this file's text for `applyAnsible` whatever its type: an INI inventory or an ansible.cfg. */
export function isAnsibleConfigFile(file: string): boolean {
  return ANSIBLE_CFG.test(file) || (INI_INVENTORY.test(file) && !VARS_FILE.test(file));
}
const TASKS_FILE = new RegExp(`${ROLE_DIR}\\/(?:tasks|handlers)\\/`);
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

/** A JSON variables file (Ansible reads JSON as YAML): in group_vars/host_vars, a role's defaults/vars, or one a play or include_vars may name (`vars/site.json`). */
const JSON_VARS_FILE = /(?:^|\/)vars\/[^/]+\.json$|(?:^|\/)[^/]*vars[^/]*\.json$/;
export function isAnsibleVarsJson(file: string): boolean {
  return file.endsWith('.json') && (VARS_FILE.test(file) || isRoleVars(file) || JSON_VARS_FILE.test(file));
}

/** Whether the scan keeps this YAML file's text for `applyAnsible`. */
export function isAnsibleText(file: string, text: string): boolean {
  return VARS_FILE.test(file) || TASKS_FILE.test(file) || REQUIREMENTS_FILE.test(file) || PLAIN_VARS_FILE.test(file) || YAML_INVENTORY.test(file) || ROLE_MAIN_VARS.test(file) || (TOP_LIST.test(text) && (ROLE_PART.test(file) || PLAY_KEY.test(text) || MODULE_KEY.test(text)));
}

/**
 * `text` cut into its literal parts and its `{{ … }}` (each on one line), scanned once (a lazy
 * `\{\{(.*?)\}\}` regex retries from every `{{` of a line with no `}}`: quadratic on a crafted value).
 */
function jinjaParts(text: string): Array<string | { inner: string; whole: string }> {
  const out: Array<string | { inner: string; whole: string }> = [];
  let lit = '';
  let i = 0;
  for (;;) {
    const open = text.indexOf('{{', i);
    if (open < 0) break;
    const close = text.indexOf('}}', open + 2);
    if (close < 0) break;
    const nl = text.indexOf('\n', open + 2);
    // As the regex read it: `{{ … }}` on one line.
    if (nl >= 0 && nl < close) {
      lit += text.slice(i, nl + 1);
      i = nl + 1;
      continue;
    }
    lit += text.slice(i, open);
    if (lit) out.push(lit);
    lit = '';
    out.push({ inner: text.slice(open + 2, close), whole: text.slice(open, close + 2) });
    i = close + 2;
  }
  lit += text.slice(i);
  if (lit) out.push(lit);
  return out;
}

/**
 * A string argument of list type cut into its items: Ansible splits a string given for a list at
 * its commas, and APT (a deb822 field) at its blanks; a `{{ … }}` is one piece of an item whatever
 * it holds (`{{ repo_url }}/{{ distro | lower }}` is one URI, not `{{`, `|`, `lower`, `}}`).
 */
function wordsOutsideJinja(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const p of jinjaParts(text)) {
    if (typeof p !== 'string') {
      cur += p.whole;
      continue;
    }
    const pieces = p.split(/[\s,]+/);
    pieces.forEach((w, i) => {
      if (i > 0) {
        if (cur) out.push(cur);
        cur = '';
      }
      cur += w;
    });
  }
  if (cur) out.push(cur);
  return out;
}

/** `text` with each `{{ … }}` replaced by `fill(inner, whole)`. */
function replaceJinja(text: string, fill: (inner: string, whole: string) => string): string {
  return jinjaParts(text).map((p) => (typeof p === 'string' ? p : fill(p.inner, p.whole))).join('');
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
  package: ['name'],
};
/** Modules whose free-form command may fetch (`curl -fsSL {{ url }} | sh`): each URL in it, filled in. */
const COMMANDS = new Set(['shell', 'command', 'script', 'raw']);
const COLLECTIONS: Record<string, string> = {
  docker_image: 'community.docker',
  docker_image_pull: 'community.docker',
  docker_container: 'community.docker',
  podman_image: 'containers.podman',
  podman_container: 'containers.podman',
  helm: 'kubernetes.core',
  helm_repository: 'kubernetes.core',
};
const MODULES = new Set([...Object.keys(URL_ARGS), ...Object.keys(COLLECTIONS), ...COMMANDS, 'apt_repository', 'pip', 'set_fact', 'include_vars']);

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
  /** Ansible's variable precedence, low to high (role defaults 1 … set_fact 19). */
  prec: number;
  /** Whether it holds for every host that runs the task (`group_vars/all`, play vars) or only for some (a group, a host, a set_fact after its task). */
  every: boolean;
  /** A map value (`registry: {host: …}`): its keys are looked up by `{{ registry.host }}` (keyOfSetting). */
  map?: { node: YAMLMap; lineOf: (n: YamlNode) => number; file: string };
}

/** The precedence of each place (the Ansible docs' variable precedence list, least to most). */
export const PREC = { roleDefaults: 1, inventoryGroup: 3, groupVarsAll: 4, groupVars: 6, inventoryHost: 8, hostVars: 9, playVars: 12, playVarsFiles: 14, roleVars: 15, includeVars: 18, setFact: 19, extraVars: 22 } as const;

/** A role's `defaults/main` or `vars/main` (a file, or a directory of them): Ansible loads only these itself; other files there only when a task or play names them (include_vars, vars_from, defaults_from). */
const ROLE_MAIN = /\/(?:defaults|vars)\/main(?:\.ya?ml|\.json)?(?:\/|$)/;

/** Variables of the scan: global (inventories, group_vars, host_vars, set_fact), per role (defaults, vars) and per play (vars, vars_files). */
class AnsibleVars {
  private global = new Map<string, VarSetting[]>();
  private roles = new Map<string, Map<string, VarSetting[]>>();
  /** `<playbook>#<play index>` → its vars and vars_files. */
  private plays = new Map<string, Map<string, VarSetting[]>>();
  /** Run-time variables (`ansible-playbook -e` in a script or CI file) by the directory they apply under (runtime-vars.ts). */
  private extra = new Map<string, Map<string, VarSetting[]>>();
  /** A role's name → the plays that list it in `roles:`. */
  readonly rolePlays = new Map<string, string[]>();
  /** A play's vars_files and include_vars (keyed by the play), or a role's include_vars (keyed `role:<dir>`), the scan does not hold: any variable there may be set in them. */
  readonly unread = new Map<string, string[]>();

  /** One more file the scan does not hold that may set the variables of `key` (a play, or `role:<dir>`), at most MAX_PLACES named. */
  addUnread(key: string, what: string): void {
    const list = this.unread.get(key) ?? [];
    if (list.length < MAX_PLACES) list.push(what);
    this.unread.set(key, list);
  }
  /** `<role>\0<play>\0<name>` → the variable filled in (resolveJinja). */
  readonly resolved = new Map<string, Way[]>();

  /** The `x.<key>` names include_vars `name: x` loads (an expression `{{ x.key }}` is looked up only where one is). */
  readonly named = new Set<string>();
  /** Settings held, at most MAX_SETTINGS: a crafted tree (one vars_files named by 10 000 plays, an inventory of 10^6 host variables) does not grow memory without bound. */
  private count = 0;
  /** Set once a setting was left out for the bound: every variable is then unknown, this place named. */
  overflow?: string;
  /** `<role>\0<play>\0<name>` → the settings that apply (a variable looked up by many tasks is gathered once). */
  readonly lookups = new Map<string, { set: VarSetting[]; values: Array<string | undefined>; unread: string[] }>();

  private into(map: Map<string, VarSetting[]>, name: string, s: VarSetting): void {
    if (this.count >= MAX_SETTINGS) {
      this.overflow ??= s.where;
      return;
    }
    this.count++;
    const list = map.get(name) ?? [];
    list.push(s);
    map.set(name, list);
  }

  /**
   * A YAML map of variables from `file`: role defaults/vars by the role directory (a file other
   * than `main` holds for the hosts whose task includes it: one candidate), group_vars/host_vars by
   * their name, else at `prec` in `play` (for every host of the play unless `every` is false).
   */
  add(file: string, map: YAMLMap, lineOf: (n: YamlNode) => number, at?: { play?: string; role?: string; prec: number; every?: boolean; under?: string }): void {
    const role = isRoleVars(file) ? roleOf(file) : undefined;
    let into = this.global;
    let prec: number = PREC.groupVars;
    let every = false;
    if (at) {
      const [scope, key] = at.play ? [this.plays, at.play] : at.role ? [this.roles, at.role] : [undefined, ''];
      if (scope) {
        into = scope.get(key) ?? new Map();
        scope.set(key, into);
      }
      prec = at.prec;
      every = at.every ?? true;
    } else if (role) {
      into = this.roles.get(role) ?? new Map();
      this.roles.set(role, into);
      const rest = role ? file.slice(role.length) : `/${file}`;
      const main = ROLE_MAIN.test(rest);
      prec = /^\/defaults\//.test(rest) ? PREC.roleDefaults : main ? PREC.roleVars : PREC.includeVars;
      every = main;
    } else if (/(?:^|\/)group_vars\/all(?:\.ya?ml|\.json)?(?:\/|$)/.test(file)) {
      prec = PREC.groupVarsAll;
      every = true;
    } else if (/(?:^|\/)host_vars\//.test(file)) prec = PREC.hostVars;
    // include_vars `name: x` loads the file as one variable: its keys are `x.<key>` (`x.a.b` nested, a few levels).
    const walk = (m: YAMLMap, prefix: string, depth: number) => {
      for (const pair of m.items) {
        if (!isScalar(pair.key)) continue;
        const v = pair.value;
        const name = `${prefix}${String(pair.key.value)}`;
        if (prefix && this.named.size < MAX_SETTINGS) this.named.add(name);
        if (prefix && isMap(v) && depth < 4) walk(v, `${name}.`, depth + 1);
        const value = isScalar(v) && v.value !== null && typeof v.value !== 'object' ? String(v.value) : undefined;
        this.into(into, name, { value, where: `${file}:${lineOf((v ?? pair.key) as YamlNode)}`, prec, every, ...(isMap(v) ? { map: { node: v, lineOf, file } } : {}) });
      }
    };
    walk(map, at?.under ? `${at.under}.` : '', 0);
  }

  /** One variable of an inventory or a set_fact task (global). */
  addOne(name: string, value: string | undefined, where: string, prec: number, every: boolean): void {
    this.into(this.global, name, { value, where, prec, every });
  }

  /** A run-time variable of a script or CI file, for the Ansible files under `scope`. */
  addExtra(scope: string, name: string, value: string | undefined, where: string): void {
    const m = this.extra.get(scope) ?? new Map<string, VarSetting[]>();
    this.extra.set(scope, m);
    this.into(m, name, { value, where, prec: PREC.extraVars, every: false });
  }

  /**
   * The settings that apply to a task of `file` in `play` (undefined in a role's task file). A key of
   * a map variable (`registry.host`, `images.nginx.repo`) is looked up in each setting of the map
   * (Ansible replaces a map as a whole: the map of the highest precedence wins, not a merge of keys),
   * beside any `x.<key>` include_vars `name: x` loads.
   */
  settings(name: string, file: string, play: string | undefined): VarSetting[] {
    const dot = name.indexOf('.');
    if (dot < 0) return this.settingsOf(name, file, play);
    const keys = name.slice(dot + 1).split('.');
    return [...this.settingsOf(name, file, play), ...this.settingsOf(name.slice(0, dot), file, play).map((s) => keyOfSetting(s, keys))];
  }

  private settingsOf(name: string, file: string, play: string | undefined): VarSetting[] {
    const role = roleOf(file);
    const out = [...((role && this.roles.get(role)?.get(name)) || []), ...(this.global.get(name) ?? [])];
    for (const [scope, m] of this.extra) if (inRuntimeScope(scope, file)) out.push(...(m.get(name) ?? []));
    if (play) out.push(...(this.plays.get(play)?.get(name) ?? []));
    else if (role) {
      // A role's tasks see the vars of each play listing it: for every host only when one play lists it.
      const plays = this.rolePlays.get(role.slice(role.lastIndexOf('/') + 1)) ?? [];
      for (const p of plays) for (const s of this.plays.get(p)?.get(name) ?? []) out.push(plays.length === 1 ? s : { ...s, every: false });
    }
    return out;
  }

  unreadFor(file: string, play: string | undefined): string[] {
    if (play) return this.unread.get(play) ?? [];
    const role = roleOf(file);
    return role ? [...(this.unread.get(`role:${role}`) ?? []), ...(this.rolePlays.get(role.slice(role.lastIndexOf('/') + 1)) ?? []).flatMap((p) => this.unread.get(p) ?? [])] : [];
  }
}

/** Each map variable's values by key, indexed once: YAMLMap.get walks the map, and 30 000 `{{ m.kN }}` over a 30 000-key `m` took 25 s. */
const KEY_INDEX = new WeakMap<YAMLMap, Map<string, unknown>>();

/** `map`'s value for each string key, the first pair of a key as YAMLMap.get finds it. */
function keyIndex(map: YAMLMap): Map<string, unknown> {
  let index = KEY_INDEX.get(map);
  if (index) return index;
  index = new Map();
  for (const p of map.items) {
    const k = isScalar(p.key) ? p.key.value : p.key;
    if (typeof k === 'string' && !index.has(k)) index.set(k, p.value);
  }
  KEY_INDEX.set(map, index);
  return index;
}

/**
 * The setting of `root.<keys>` one setting of `root` makes: the scalar at that key of its map (its
 * own line named), else no string (the key missing, or `root` set to no map there), said so.
 */
function keyOfSetting(s: VarSetting, keys: string[]): VarSetting {
  let node: unknown = s.map?.node;
  let at = s.map ? s.where : undefined;
  for (const k of keys) {
    const v = isMap(node) ? keyIndex(node).get(k) : undefined;
    if (v === undefined || v === null) return { ...s, map: undefined, value: undefined, where: `${s.where} (${s.map ? `no key ${keys.join('.')} in the map set there` : 'no map'})` };
    node = v;
    at = `${s.map!.file}:${s.map!.lineOf(v as YamlNode)}`;
  }
  if (isMap(node)) return { ...s, value: undefined, where: at!, map: { ...s.map!, node } };
  const value = isScalar(node) && node.value !== null && typeof node.value !== 'object' ? String(node.value) : undefined;
  return { ...s, map: undefined, value, where: at! };
}

/**
 * The settings that can apply: the highest-precedence one that holds for every host overrides
 * every one below it; those above it that hold for some hosts only still apply to those hosts.
 */
function applicable(set: VarSetting[]): VarSetting[] {
  let base = 0;
  for (const s of set) if (s.every && s.prec > base) base = s.prec;
  return set.filter((s) => s.prec >= base);
}

const SIMPLE_VAR = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*$/;
/** `x.a.b` / `x['a']`: a key of a variable loaded under one name (include_vars `name:`), as `x.a.b`; undefined for anything else. */
function dottedName(head: string): string | undefined {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\s*'[A-Za-z0-9_-]+'\s*\]|\[\s*"[A-Za-z0-9_-]+"\s*\]){1,4})\s*$/.exec(head);
  return m ? m[1].replace(/\[\s*['"]([A-Za-z0-9_-]+)['"]\s*\]/g, '.$1') : undefined;
}
const MAX_DEPTH = 8;
/** A variable longer than this once filled in is left unknown: nesting cannot grow a value without bound. */
const MAX_RESOLVED = 4096;

/** The places a note names for one variable: each finding that uses it carries the note. */
const MAX_PLACES = 5;
/** Variable settings the scan holds at most (AnsibleVars.into). */
export const MAX_SETTINGS = 200_000;

/**
 * Where a variable is set (with its values), the first MAX_PLACES and how many more: a variable
 * set in 50 000 places (one key repeated, or one host_vars file per host) named them all in the
 * note of each task using it (1 000 tasks: a 5 GB report, 4.6 GB of memory).
 */
function placesOf(set: VarSetting[], withValues: boolean, sep: string): string {
  const shown = set.slice(0, MAX_PLACES).map((s) => `${s.where}${withValues && s.value !== undefined ? ` = ${s.value.length > 200 ? `${s.value.slice(0, 200)}…` : s.value}` : ''}`);
  return `${shown.join(sep)}${set.length > MAX_PLACES ? `${sep}and ${set.length - MAX_PLACES} more place${set.length - MAX_PLACES === 1 ? '' : 's'}` : ''}`;
}


/** At most this many ways one string is filled in (one finding each); past it, the string stays as written, unknown. */
export const MAX_WAYS = 16;

/**
 * A Jinja expression the scan evaluates: a variable or a quoted literal, then filters that keep it
 * a string (`default('x')`/`d('x')`, `trim`, `string`, `lower`, `upper`). Undefined for anything else.
 */
function parseExpression(inner: string): { name?: string; literal?: string; fallback?: { value: string; ifEmpty: boolean }; filters: string[] } | undefined {
  const parts = inner.split('|').map((x) => x.trim());
  const head = parts[0];
  const lit = /^(?:'([^'\\]*)'|"([^"\\]*)")$/.exec(head);
  const name = SIMPLE_VAR.exec(head)?.[1] ?? dottedName(head);
  if (!lit && !name) return undefined;
  const out: { name?: string; literal?: string; fallback?: { value: string; ifEmpty: boolean }; filters: string[] } = { name, literal: lit ? (lit[1] ?? lit[2]) : undefined, filters: [] };
  for (const f of parts.slice(1)) {
    const d = /^(?:default|d)\(\s*(?:'([^'\\]*)'|"([^"\\]*)")\s*(?:,\s*(true|false|True|False)\s*)?\)$/.exec(f);
    if (d && !out.fallback && !out.filters.length) out.fallback = { value: d[1] ?? d[2], ifEmpty: /^t/i.test(d[3] ?? '') };
    else if (/^(?:trim|string|lower|upper)$/.test(f)) out.filters.push(f);
    else return undefined;
  }
  return out;
}

function applyFilters(value: string, filters: string[]): string {
  let v = value;
  for (const f of filters) v = f === 'trim' ? v.trim() : f === 'lower' ? v.toLowerCase() : f === 'upper' ? v.toUpperCase() : v;
  return v;
}

/** The ways a variable is set for a task of `file` in `play`, each filled in (cached per role, play and name). */
function variableWays(name: string, file: string, vars: AnsibleVars, depth: number, seen: string[], play: string | undefined): { ways: Way[]; none?: string; some: boolean } {
  const cacheKey = `${roleOf(file) ?? ''}\0${play ?? ''}\0${name}`;
  let looked = vars.lookups.get(cacheKey);
  if (!looked) {
    const applying = applicable(vars.settings(name, file, play));
    looked = { set: applying, values: [...new Set(applying.map((s) => s.value))], unread: vars.unreadFor(file, play) };
    vars.lookups.set(cacheKey, looked);
  }
  const { set, values, unread } = looked;
  const all = `{{ ${name} }}`;
  if (unread.length) return { ways: [{ value: all, unknown: [`${all}: ${unread.slice(0, MAX_PLACES).join(', ')} ${unread.length > 1 ? 'name' : 'names'} no YAML file of the scan and may set it`], by: [] }], some: false };
  if (!set.length) return { ways: [], none: `${all} is set in no role defaults/vars, inventory, group_vars, host_vars, play vars/vars_files, include_vars, set_fact or ansible-playbook -e of the scan${name.startsWith('ansible_') ? ' (a fact of the managed host)' : ' (extra vars or a registered result may set it)'}`, some: false };
  // Each variable is filled in once per role and play (a chain of variables each using the last many times is not re-walked).
  let ways = vars.resolved.get(cacheKey);
  // More values than one string is reported for: unknown, the first places named.
  if (!ways && values.length > MAX_WAYS) ways = [{ value: all, unknown: [`${all} is set to ${values.length} different values (${placesOf(set, true, '; ')}): which applies depends on the host or the run`], by: [] }];
  if (!ways) {
    ways = [];
    for (const v of values) {
      const at = set.filter((s) => s.value === v);
      if (v === undefined) {
        ways.push({ value: all, unknown: [`${all} is set to no string (${placesOf(at, false, '; ')})`], by: [] });
        continue;
      }
      const several = values.length > 1 ? `, one of ${values.length} values: which applies depends on the host or the run` : '';
      const shown = v.length > 200 ? `${v.slice(0, 200)}…` : v;
      for (const w of resolveWays(v, file, vars, depth + 1, [...seen, name], play)) ways.push({ value: w.value, unknown: w.unknown, by: [`${all}=${shown} (${placesOf(at, false, ', ')}${several})`, ...w.by] });
    }
    vars.resolved.set(cacheKey, ways);
  }
  // Set for some hosts only (no setting holds for every host): on the others it is unset.
  return { ways, some: !set.some((s) => s.every) };
}

/** The values of one `{{ … }}`: each way its variable is set, its default where it may be unset, filters applied. */
function expressionWays(inner: string, whole: string, file: string, vars: AnsibleVars, depth: number, seen: string[], play: string | undefined): Way[] {
  const e = parseExpression(inner);
  if (!e) return [{ value: whole, unknown: [`${whole}: an expression the scan does not evaluate`], by: [] }];
  if (e.literal !== undefined) return [{ value: applyFilters(e.literal, e.filters), unknown: [], by: [] }];
  const name = e.name!;
  if (seen.includes(name) || depth >= MAX_DEPTH) return [{ value: whole, unknown: [`{{ ${name} }}: defined through itself or nested deeper than ${MAX_DEPTH}`], by: [] }];
  if (vars.overflow) return [{ value: whole, unknown: [`{{ ${name} }}: the scan sets more than ${MAX_SETTINGS.toLocaleString('en-US')} Ansible variables; those past ${vars.overflow} were not read, so no value is known`], by: [] }];
  const v = variableWays(name, file, vars, depth, seen, play);
  // A key of a variable the scan sets nowhere (a loop's `item.url`, a registered `download.dest`, a fact): not evaluated.
  if (v.none && name.includes('.') && !vars.named.has(name)) return [{ value: whole, unknown: [`${whole}: an expression the scan does not evaluate`], by: [] }];
  const out = v.ways.filter((w) => !(e.fallback?.ifEmpty && w.value === '' && !w.unknown.length)).map((w) => ({ ...w, value: w.unknown.length ? w.value : applyFilters(w.value, e.filters) }));
  if (e.fallback && (v.none || v.some || out.length < v.ways.length)) {
    const why = v.none ? `${name} is set nowhere in the scan` : v.some ? `where ${name} is unset (it is set for some hosts only)` : `where ${name} is empty`;
    out.push({ value: applyFilters(e.fallback.value, e.filters), unknown: [], by: [`${whole}=${e.fallback.value} (its default, ${why})`] });
  }
  if (!out.length) return [{ value: whole, unknown: [v.none!], by: [] }];
  return out;
}

/**
 * `text` with each `{{ … }}` filled in, one way per combination of the values its variables may
 * take (at most MAX_WAYS): `unknown` says why any part stays as written, `by` where each value came from.
 */
function resolveWays(text: string, file: string, vars: AnsibleVars, depth = 0, seen: string[] = [], play?: string): Way[] {
  let ways: Way[] = [{ value: '', unknown: /\{%/.test(text) ? ['a Jinja statement ({% … %}) the scan does not evaluate'] : [], by: [] }];
  for (const part of jinjaParts(text)) {
    if (typeof part === 'string') {
      for (const w of ways) w.value += part;
      continue;
    }
    const opts = expressionWays(part.inner, part.whole, file, vars, depth, seen, play);
    if (ways.length * opts.length > MAX_WAYS) {
      const shown = opts.slice(0, MAX_PLACES).map((o) => o.value).join(', ');
      for (const w of ways) (w.value += part.whole), w.unknown.push(`${part.whole} takes ${opts.length} values (${shown}${opts.length > MAX_PLACES ? ', …' : ''}): with the other variables of ${text.length > 80 ? `${text.slice(0, 80)}…` : text}, more than ${MAX_WAYS} ways, not each reported`);
      continue;
    }
    const next: Way[] = [];
    for (const w of ways)
      for (const o of opts) {
        if (w.value.length + o.value.length > MAX_RESOLVED) next.push({ value: w.value + part.whole, unknown: [...w.unknown, `${text.slice(0, 80)}… is longer than ${MAX_RESOLVED} characters once filled in: not a reference the scan takes`], by: w.by });
        else next.push({ value: w.value + o.value, unknown: [...w.unknown, ...o.unknown], by: [...w.by, ...o.by] });
      }
    ways = next;
  }
  // One way per value (two hosts' settings that fill it in alike are one finding, both named).
  return mergeWays(ways);
}

/** `text` filled in one way only: several ways (by host or run) make it unknown, the values named. */
function resolveJinja(text: string, file: string, vars: AnsibleVars, depth = 0, seen: string[] = [], play?: string): Way {
  const ways = resolveWays(text, file, vars, depth, seen, play);
  if (ways.length === 1) return ways[0];
  return { value: text, unknown: [`${text} is filled in ${ways.length} ways (${ways.slice(0, MAX_PLACES).map((w) => w.value).join('; ')}${ways.length > MAX_PLACES ? '; …' : ''}): which applies depends on the host or the run`], by: [] };
}

/** Where a way's value came from, for a note; with the number of ways when there are several. */
function resolvedNote(written: string, w: Way, ways: number): string {
  return w.by.length ? `: ${written}, resolved ${w.by.join(', ')}${ways > 1 ? ` (one of ${ways} ways it is filled in)` : ''}` : '';
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

/** Modules whose `name` is a package name, or a URL (yum, dnf) the package manager downloads. */
const PACKAGE_NAME = new Set(['package', 'yum', 'dnf']);
/** A value that is a URL as far as it is filled in: a scheme, or a leading `{{ … }}` followed by a path. */
const URL_SHAPED = /^[a-z][a-z0-9+.-]*:\/\/|^\{\{[^}]*\}\}\//i;
/**
 * Ansible's magic variables that hold a path on the controller (the special variables docs):
 * what starts with one is a local path.
 */
const LOCAL_PATH_VAR = /^\{\{-?\s*(?:playbook_dir|inventory_dir|role_path|inventory_file|ansible_config_file|ansible_user_dir|ansible_env\.HOME)\s*(?:\||-?\}\})/;

/** A value that names a file on the controller or the host, filled in as far as known: absolute (not `//`), `~`, `./`, `../`, or a magic path variable. */
export function isLocalPath(value: string): boolean {
  const v = value.trim();
  return /^(?:\/(?!\/)|~\/|~$|\.\.?\/)/.test(v) || LOCAL_PATH_VAR.test(v);
}

/** unarchive's remote_src (or the older `copy: no`): true, false, or undefined where a template decides it. */
function remoteSrc(args: Map<string, { value: unknown }>): boolean | undefined {
  const flag = (k: string) => {
    const v = args.get(k)?.value;
    if (v === undefined || v === null) return undefined;
    const t = String(v).trim();
    if (t.includes('{{')) return 'template';
    return /^(?:yes|true|on|1|y)$/i.test(t);
  };
  const remote = flag('remote_src');
  const copy = flag('copy');
  if (remote === 'template' || copy === 'template') return undefined;
  return remote === true || copy === false;
}

/** The references of one task file or playbook (document `doc`), pushed to `out`; `handled` gets each key path read here. */
function tasksOf(file: string, contents: unknown, lineOf: (n: YamlNode) => number, vars: AnsibleVars, repos: Map<string, string>, out: Reference[], handled: Set<string>): void {
  /** The play (`<file>#<index>`) whose tasks are walked: its vars and vars_files apply. */
  let play: string | undefined;
  const emit = (line: number, keyPath: string, kind: Reference['kind'], written: string, what: string, extra: Partial<Reference> = {}, packageName = false) => {
    handled.add(keyPath);
    const ways = resolveWays(written, file, vars, 0, [], play);
    const at = `${file}:${line} ${what}`;
    // One finding per way the variables are set (by host or run), each naming where its values come from.
    for (const r of ways) {
      if (r.unknown.length) {
        // A way that is a local path already (`/opt/{{ x }}.tgz`, `{{ playbook_dir }}/files/x`), or a package name not shaped as a URL: no destination.
        if (kind === 'url' && (isLocalPath(r.value) || (packageName && !URL_SHAPED.test(r.value.trim())))) continue;
        // Only the host may be known: the reference as written with what resolved filled in.
        // An image whose registry is written out (`nginx:{{ tag }}`): that is known, its name or tag is not.
        const what = kind === 'image' && unfilledHost({ kind, value: r.value }) === undefined ? `its registry is written out; which image or tag it pulls is unknown until that is set` : `what it fetches is unknown until that is set`;
        out.push({ file, line, keyPath, kind, value: r.value, ...extra, provenance: `${at}: ${written}: ${r.unknown.join('; ')}${r.by.length ? ` (${r.by.join(', ')})` : ''}; ${what}` });
        continue;
      }
      // Empty once filled in (`datadog_apt_repo: ""`, a task guarded by `when: x | length > 0`): it names no destination.
      if (!r.value.trim()) continue;
      const found = kind === 'url' ? referencesIn(r.value, false).filter((x) => x.kind === 'url' || x.kind === 'oci') : [{ kind, value: r.value }];
      for (const f of found) out.push({ file, line, keyPath, ...f, ...extra, provenance: `${at}${resolvedNote(written, r, ways.length)}` });
    }
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
          // unarchive copies `src` from the controller unless remote_src (or copy: no): only then may it download a URL (the module's docs).
          if (mod === 'unarchive' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(x.trim()) && remoteSrc(args) === false) continue;
          // A package name (package, yum, dnf): a URL only where it is one once filled in, not a name left unknown.
          emit(lineOf(v.node), kp(a), 'url', x.trim(), what(a), {}, PACKAGE_NAME.has(mod) && a === 'name');
        }
      }
      if (COMMANDS.has(mod)) {
        // A command with `{{ var }}` (`curl -fsSL {{ mirror }}/install.sh | sh`): filled in; a literal one is the generic scan's.
        const body = task.get(key, true);
        const cmd = isMap(body) ? body.get('cmd', true) : undefined;
        const node = isScalar(body) && typeof body.value === 'string' ? body : isScalar(cmd) && typeof cmd.value === 'string' ? cmd : undefined;
        if (node && (node.value as string).includes('{{')) {
          const text = node.value as string;
          const kpx = node === body ? `${keyPath}.${key}` : `${keyPath}.${key}.cmd`;
          const line = lineOf(node);
          handled.add(kpx);
          const ways = resolveWays(text, file, vars, 0, [], play);
          const short = text.length > 200 ? `${text.slice(0, 200)}…` : text;
          if (ways.every((r) => !r.unknown.length)) {
            for (const r of ways) for (const x of referencesIn(r.value, false)) out.push({ file, line, keyPath: kpx, ...x, provenance: `${file}:${line} ${key}${resolvedNote(short, r, ways.length)}` });
          } else {
            // The literal parts as the generic scan reads them, and each URL with a variable in it, unknown.
            for (const x of referencesIn(replaceJinja(text, () => ' '), false)) out.push({ file, line, keyPath: kpx, ...x, provenance: `${file}:${line} ${key}: ${short}` });
            for (const tok of shellWords(text)) if (tok.includes('{{') && /:\/\/|\}\}\//.test(tok)) emit(line, kpx, 'url', tok.replace(/^["'(]+|["')]+$/g, ''), key);
          }
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
          const ways = resolveWays(repo.text, file, vars, 0, [], play);
          handled.add(kp('repo'));
          const line = lineOf(repo.node);
          for (const r of ways) {
            // Empty once filled in: names no repository (the task is guarded, or fails).
            if (!r.unknown.length && !r.value.trim()) continue;
            const m = execKeepingTemplates(DEB_LINE, r.value.trim());
            if (m && !r.unknown.length) {
              out.push({ file, line, keyPath: kp('repo'), kind: 'apt', value: m[2], apt: { types: [m[1]], suites: m[3] ? [m[3]] : [], components: m[4].split(/\s+/).filter(Boolean) }, provenance: `${file}:${line} ${what('repo')}${resolvedNote(repo.text, r, ways.length)}` });
            } else if (/^ppa:/.test(r.value.trim())) {
              out.push({ file, line, keyPath: kp('repo'), kind: 'url', value: 'https://ppa.launchpadcontent.net', provenance: `${file}:${line} ${what('repo')}: ${repo.text}: a Launchpad PPA (its key from keyserver.ubuntu.com / api.launchpad.net)` });
            } else if (!r.unknown.length) {
              out.push({ file, line, keyPath: kp('repo'), kind: 'apt', value: r.value, provenance: `${file}:${line} ${what('repo')}${resolvedNote(repo.text, r, ways.length)}` });
            } else out.push({ file, line, keyPath: kp('repo'), kind: 'apt', value: execKeepingTemplates(DEB_LINE, r.value.trim())?.[2] ?? r.value, provenance: `${file}:${line} ${what('repo')}: ${repo.text}: ${r.unknown.join('; ')}${r.by.length ? ` (${r.by.join(', ')})` : ''}; what it fetches is unknown until that is set` });
          }
        }
      }
      if (mod === 'deb822_repository') {
        const v = args.get('uris');
        const list = (a: string) => {
          const x = args.get(a)?.value;
          return (Array.isArray(x) ? x : typeof x === 'string' ? wordsOutsideJinja(x) : []).map(String).filter(Boolean);
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
        const v = version ? resolveJinja(version, file, vars, 0, [], play) : undefined;
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
  if (isSeq(contents))
    contents.items.forEach((item, i) => {
      play = isMap(item) && item.has('hosts') ? `${file}#${i}` : undefined;
      walkTask(item, `[${i}]`);
    });
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
          for (const r of resolveWays(url, file, vars)) if (!r.unknown.length) found.set(name, (found.get(name) ?? new Set()).add(r.value));
        }
      } else visit(p.value, file);
    }
  };
  for (const d of docs) visit(d.contents, d.file);
  return new Map([...found].filter(([, s]) => s.size === 1).map(([k, s]) => [k, [...s][0]]));
}

const GALAXY = 'https://galaxy.ansible.com';

/** requirements.yml: each collection or role, from its `source`/`src`, or Galaxy by default. */
function requirementsOf(file: string, contents: unknown, lineOf: (n: YamlNode) => number, out: Reference[], handled: Set<string>, cfg: GalaxyConfig | undefined): void {
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
    const what = `${file}:${line} ${e.what} ${from ?? named}`;
    // A collection's `source:` may name a server of the server_list (the galaxy client docs).
    const byName = e.what === 'collection' && isScalar(get('source')) ? from : undefined;
    if (byName) {
      const s = cfg?.servers.find((x) => x.name === byName);
      if (s?.url) out.push({ file, line, keyPath, kind: 'url', value: s.url, provenance: `${what}: from the Galaxy server ${byName} of ${cfg!.file}:${s.line}` });
      else out.push({ file, line, keyPath, kind: 'host', value: `galaxy server ${byName}`, provenance: `${what}: source ${byName} is no URL${cfg ? ` and no server of ${cfg.file}'s server_list with a url` : ' and no ansible.cfg of the scan above it names it'}: where ansible-galaxy fetches it is unknown` });
      continue;
    }
    if (cfg?.servers.length) {
      // Searched in the server_list's order: each server may be asked (and serve a dependency).
      const names = cfg.servers.map((x) => x.name).join(', ');
      for (const s of cfg.servers) {
        if (s.url) out.push({ file, line, keyPath, kind: 'url', value: s.url, provenance: `${what}: no source; ansible-galaxy searches the server_list of ${cfg.file} (${names}) in order: ${s.name} = ${s.url} (${cfg.file}:${s.line})` });
        else out.push({ file, line, keyPath, kind: 'host', value: `galaxy server ${s.name}`, provenance: `${what}: no source; the server_list of ${cfg.file} names ${s.name}, which has no [galaxy_server.${s.name}] url there (an ANSIBLE_GALAXY_SERVER_${s.name.toUpperCase()}_URL may set it): unknown` });
      }
      continue;
    }
    if (cfg?.server) {
      out.push({ file, line, keyPath, kind: 'url', value: cfg.server.url, provenance: `${what}: no source; ansible-galaxy installs it from the [galaxy] server of ${cfg.file}:${cfg.server.line}` });
      continue;
    }
    out.push({ file, line, keyPath, kind: 'url', value: GALAXY, provenance: `${what}: ansible-galaxy installs it from its default server, Galaxy (no source, and no ansible.cfg of the scan above it sets a [galaxy] server_list or server; ANSIBLE_CONFIG or ~/.ansible.cfg may)` });
  }
}

interface GalaxyConfig {
  file: string;
  dir: string;
  servers: Array<{ name: string; url?: string; line: number }>;
  server?: { url: string; line: number };
}

/** An INI file's `[section]` `key = value` lines (ansible.cfg, an INI inventory's `:vars`), with their lines; `;`/`#` comments skipped. */
function iniLines(text: string, each: (section: string, line: string, n: number) => void): void {
  let section = '';
  let n = 0;
  for (const raw of text.split('\n')) {
    n++;
    const l = raw.trim();
    if (!l || l.startsWith('#') || l.startsWith(';')) continue;
    const m = /^\[([^\]]*)\]$/.exec(l);
    if (m) section = m[1].trim();
    else each(section, l, n);
  }
}

function galaxyConfig(file: string, text: string): GalaxyConfig {
  const cfg: GalaxyConfig = { file, dir: path.posix.dirname(file), servers: [] };
  const urls = new Map<string, { url: string; line: number }>();
  let list: { names: string[]; line: number } | undefined;
  iniLines(text, (section, l, n) => {
    const kv = /^([\w.-]+)\s*[=:]\s*(.*)$/.exec(l);
    if (!kv) return;
    const value = kv[2].trim().replace(/^(["'])(.*)\1$/, '$2');
    if (section === 'galaxy' && kv[1] === 'server_list') list = { names: value.split(',').map((x) => x.trim()).filter(Boolean).slice(0, 64), line: n };
    else if (section === 'galaxy' && kv[1] === 'server' && value) cfg.server = { url: value, line: n };
    else if (section.startsWith('galaxy_server.') && kv[1] === 'url') urls.set(section.slice('galaxy_server.'.length), { url: value, line: n });
  });
  if (list) cfg.servers = list.names.map((name) => ({ name, url: urls.get(name)?.url, line: urls.get(name)?.line ?? list!.line }));
  return cfg;
}

/** An INI inventory's variables (the ini inventory plugin's docs): `[group:vars]` lines and a host line's `k=v`. */
function iniInventory(file: string, text: string, vars: AnsibleVars): void {
  iniLines(text, (section, l, n) => {
    const [group, mod] = section.split(':');
    if (mod === 'children') return;
    if (mod === 'vars') {
      const kv = /^([\w.-]+)\s*=\s*(.*)$/.exec(l);
      if (kv) vars.addOne(kv[1], kv[2].trim().replace(/^(["'])(.*)\1$/, '$2'), `${file}:${n} [${section}]`, PREC.inventoryGroup, group === 'all');
      return;
    }
    const host = l.split(/\s+/)[0];
    for (const m of l.matchAll(/\s([\w.-]+)=("[^"]*"|'[^']*'|\S+)/g)) vars.addOne(m[1], m[2].replace(/^(["'])(.*)\1$/, '$2'), `${file}:${n} host ${host}`, PREC.inventoryHost, false);
  });
}

/** A YAML inventory (the yaml inventory plugin's docs): each group's `vars`, `hosts` with their variables, `children`, nested. */
function yamlInventory(file: string, contents: unknown, lineOf: (n: YamlNode) => number, vars: AnsibleVars): void {
  const group = (name: string, node: unknown, depth: number) => {
    if (depth > 32 || !isMap(node)) return;
    const each = (m: unknown, f: (k: string, value: string | undefined, line: number) => void) => {
      if (!isMap(m)) return;
      for (const p of m.items) if (isScalar(p.key)) f(String(p.key.value), isScalar(p.value) && p.value.value !== null && typeof p.value.value !== 'object' ? String(p.value.value) : undefined, lineOf((p.value ?? p.key) as YamlNode));
    };
    each(node.get('vars', true), (k, v, line) => vars.addOne(k, v, `${file}:${line} ${name} vars`, PREC.inventoryGroup, name === 'all'));
    const hosts = node.get('hosts', true);
    if (isMap(hosts)) for (const h of hosts.items) each(h.value, (k, v, line) => vars.addOne(k, v, `${file}:${line} host ${isScalar(h.key) ? String(h.key.value) : ''}`, PREC.inventoryHost, false));
    const children = node.get('children', true);
    if (isMap(children)) for (const c of children.items) if (isScalar(c.key)) group(String(c.key.value), c.value, depth + 1);
  };
  if (isMap(contents)) for (const p of contents.items) if (isScalar(p.key)) group(String(p.key.value), p.value, 0);
}

/**
 * After the scan: the references of the Ansible files read by module (tasks, playbooks,
 * requirements.yml) and the Jinja URLs of their variables files, in place of what the generic
 * YAML scan found at the same key paths.
 */
export function applyAnsible(files: ScannedFile[], references: Reference[]): void {
  const docs: Array<{ file: string; contents: unknown; lineOf: (n: YamlNode) => number; role: 'vars' | 'tasks' | 'requirements' }> = [];
  const vars = new AnsibleVars();
  const cfgs: GalaxyConfig[] = [];
  /** Every parsed YAML map by file: a play's vars_files is looked up here. */
  const maps = new Map<string, { contents: YAMLMap; lineOf: (n: YamlNode) => number }>();
  // Role directories outside roles/ (a role repository): by the files that mark one, of every file the scan read.
  const standalone = new Set<string>();
  for (const f of files) {
    const m = ROLE_MARK.exec(f.file);
    if (m && !ROLE_OF.test(f.file)) standalone.add(m[1] ?? '');
  }
  standaloneRoles = standalone;
  for (const f of files) {
    if (f.text === undefined) continue;
    // `ansible-playbook -e k=v` in a script or CI file: a run-time value for the playbooks next to it.
    if (f.text.includes('ansible-playbook'))
      for (const x of extraVarsIn(f.text)) vars.addExtra(runtimeScopeOf(f.file), x.name, x.value, `${f.file}:${x.line} ${x.how} (a run-time value${x.value === undefined ? ' from the shell or CI, unknown' : ''})`);
    if (f.type !== 'yaml' && isAnsibleConfigFile(f.file)) {
      if (ANSIBLE_CFG.test(f.file)) cfgs.push(galaxyConfig(f.file, f.text));
      else iniInventory(f.file, f.text, vars);
      continue;
    }
    if (f.type === 'json' ? !isAnsibleVarsJson(f.file) : f.type !== 'yaml' || !isAnsibleText(f.file, f.text)) continue;
    const lc = new LineCounter();
    const parsed = withoutStackTraces(() => parseHostileDocuments(f.text!, { lineCounter: lc, duplicates: 'last-wins' }));
    const list = Array.isArray(parsed) ? parsed : [parsed];
    const lineOf = (n: YamlNode) => (n?.range ? lc.linePos(n.range[0]).line : 1);
    const role = VARS_FILE.test(f.file) || isRoleVars(f.file) ? 'vars' : REQUIREMENTS_FILE.test(f.file) ? 'requirements' : 'tasks';
    for (const d of list) {
      if (d.errors.length) continue;
      if (role === 'vars' && isMap(d.contents)) vars.add(f.file, d.contents, lineOf);
      else if (YAML_INVENTORY.test(f.file)) yamlInventory(f.file, d.contents, lineOf, vars);
      if (isMap(d.contents) && !maps.has(f.file)) maps.set(f.file, { contents: d.contents, lineOf });
      docs.push({ file: f.file, contents: d.contents, lineOf, role });
    }
  }
  if (!docs.length) return;
  /** A playbook's one play (`<file>#<index>`), where it has exactly one: its include_vars load into that play. */
  const playOf = new Map<string, string | undefined>();
  // Plays: their vars, vars_files and roles; set_fact tasks (each once: no chain grows past the variables the files set).
  for (const d of docs) {
    if (d.role !== 'tasks' || !isSeq(d.contents)) continue;
    d.contents.items.forEach((item, i) => {
      if (!isMap(item) || !item.has('hosts')) return;
      const play = `${d.file}#${i}`;
      playOf.set(d.file, playOf.has(d.file) ? undefined : play);
      const pv = item.get('vars', true);
      if (isMap(pv)) vars.add(d.file, pv, d.lineOf, { play, prec: PREC.playVars });
      const vf = item.get('vars_files', true);
      if (isSeq(vf))
        for (const x of vf.items) {
          const name = isScalar(x) && typeof x.value === 'string' ? x.value : undefined;
          const target = name && !name.includes('{{') && !path.posix.isAbsolute(name) ? path.posix.normalize(path.posix.join(path.posix.dirname(d.file), name)) : undefined;
          const m = target ? maps.get(target) : undefined;
          if (m) vars.add(target!, m.contents, m.lineOf, { play, prec: PREC.playVarsFiles });
          else vars.addUnread(play, `the play's vars_files ${name ?? '(a list: the first found)'} (${d.file}:${d.lineOf(x as YamlNode)})`);
        }
      const roles = item.get('roles', true);
      if (isSeq(roles))
        for (const r of roles.items) {
          const n = isScalar(r) ? r.value : isMap(r) ? (r.get('role') ?? r.get('name')) : undefined;
          const base = typeof n === 'string' ? n.slice(n.lastIndexOf('/') + 1) : undefined;
          if (base) {
            const list = vars.rolePlays.get(base) ?? [];
            if (list[list.length - 1] !== play) list.push(play);
            vars.rolePlays.set(base, list);
          }
        }
    });
  }
  /**
   * An include_vars task: the files it may load (its `file`/free-form name or `dir`, a `{{ … }}` in
   * it matching any name: `vars/{{ ansible_os_family }}.yml`), looked up as Ansible does (a role's
   * `vars/`, the task's directory; a playbook's directory), each holding for the hosts that load it.
   * A role's `vars/` files are read already (AnsibleVars.add); a play's include of a file the scan
   * does not hold makes its variables unknown, as an unread vars_files does.
   */
  const includeVars = (task: YAMLMap, key: string, file: string, lineOf: (n: YamlNode) => number) => {
    const args = argsOf(task, key);
    const body = task.get(key, true);
    const named = isScalar(body) && typeof body.value === 'string' && (!/=/.test(body.value) || /^\s*\{\{[\s\S]*\}\}\s*$/.test(body.value)) ? body.value.trim() : undefined;
    const given = named ?? (typeof args.get('file')?.value === 'string' ? String(args.get('file')!.value) : undefined);
    const dir = typeof args.get('dir')?.value === 'string' ? String(args.get('dir')!.value) : undefined;
    if (!given && !dir) return;
    // Loaded under one name (`name: x`): the variables are `x.<key>`.
    const under = args.get('name')?.value;
    if (args.has('name') && (typeof under !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(under))) return;
    const role = roleOf(file);
    const play = role && isRoleTasks(file) ? undefined : playOf.get(file);
    const magic = (t: string) => t.replace(/\{\{\s*role_path\s*\}\}/g, role ?? '{{ role_path }}').replace(/\{\{\s*playbook_dir\s*\}\}/g, path.posix.dirname(file));
    // A loop's item or a first_found lookup: each name it may take is a candidate (ansible-loops.ts).
    const targets = (given !== undefined ? (includeVarsCandidates(task, given) ?? [given]) : [dir!]).map(magic);
    const pattern = (target: string, base: string) => {
      const full = path.posix.normalize(base ? `${base}/${target}` : target);
      const re = jinjaParts(full).map((x) => (typeof x === 'string' ? x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : '[^/]*')).join('');
      return new RegExp(`^${re}${dir && !given ? '/[^/]+\\.(?:ya?ml|json)$' : '(?:\\.ya?ml|\\.json)?$'}`);
    };
    // Ansible's search stack (the include_vars and first_found docs): the role's vars/, the role itself (`vars/x.yml`, as
    // first_found's `paths: [vars]` finds it), the task's directory; a playbook's directory and its vars/.
    const res = targets.flatMap((target) => (path.posix.isAbsolute(target) ? [''] : role ? [`${role}/vars`, role, path.posix.dirname(file)] : [path.posix.dirname(file), `${path.posix.dirname(file)}/vars`]).map((base) => pattern(target, base)));
    let found = 0;
    for (const [f, m] of maps) {
      if (!res.some((r) => r.test(f))) continue;
      found++;
      // A role's vars/ file holds for the hosts whose task includes it already (AnsibleVars.add), unless loaded under a name.
      if (role && f.startsWith(`${role}/vars/`) && under === undefined) continue;
      vars.add(f, m.contents, m.lineOf, { play, role: play ? undefined : role, prec: PREC.includeVars, every: false, under: under as string | undefined });
    }
    // A file no candidate of which the scan holds (the role's `vars/`, the task's directory, the playbook's): its variables are unknown.
    if (!found && (play || role)) vars.addUnread(play ?? `role:${role}`, `the include_vars ${given ?? dir} (${file}:${lineOf(task)})`);
  };
  const facts = (n: unknown, file: string, lineOf: (n: YamlNode) => number, depth: number) => {
    if (depth > 64) return;
    if (isSeq(n)) return n.items.forEach((x) => facts(x, file, lineOf, depth + 1));
    if (!isMap(n)) return;
    for (const p of n.items) {
      const key = isScalar(p.key) ? String(p.key.value) : '';
      if (moduleOf(key) === 'include_vars') includeVars(n, key, file, lineOf);
      else if (moduleOf(key) === 'set_fact' && isMap(p.value)) {
        for (const q of p.value.items) {
          if (!isScalar(q.key) || q.key.value === 'cacheable') continue;
          const v = isScalar(q.value) && q.value.value !== null && typeof q.value.value !== 'object' ? String(q.value.value) : undefined;
          vars.addOne(String(q.key.value), v, `${file}:${lineOf((q.value ?? q.key) as YamlNode)} set_fact`, PREC.setFact, false);
        }
      } else facts(p.value, file, lineOf, depth + 1);
    }
  };
  for (const d of docs) if (d.role === 'tasks') facts(d.contents, d.file, d.lineOf, 0);
  const repos = helmRepositories(docs.filter((d) => d.role === 'tasks'), vars);
  const out: Reference[] = [];
  const handled = new Map<string, Set<string>>();
  for (const d of docs) {
    const h = handled.get(d.file) ?? new Set<string>();
    handled.set(d.file, h);
    if (d.role === 'tasks') tasksOf(d.file, d.contents, d.lineOf, vars, repos, out, h);
    else if (d.role === 'requirements') {
      // The ansible.cfg nearest above the requirements file (ansible-galaxy run from the repository root or that directory).
      const cfg = cfgs.filter((c) => c.dir === '.' || d.file.startsWith(`${c.dir}/`)).sort((a, b) => b.dir.length - a.dir.length)[0];
      requirementsOf(d.file, d.contents, d.lineOf, out, h, cfg);
    }
    else if (isMap(d.contents)) {
      // A variable's URL with `{{ … }}` (`url: "https://…/v{{ version }}/x.tgz"`): resolved as the tasks are.
      for (const p of d.contents.items) {
        if (!isScalar(p.key) || !isScalar(p.value) || typeof p.value.value !== 'string' || !p.value.value.includes('{{')) continue;
        const written = p.value.value;
        if (!/^[a-z][a-z0-9+.-]*:\/\/|^\{\{[^}]*\}\}\//i.test(written.trim())) continue;
        const keyPath = String(p.key.value);
        h.add(keyPath);
        const ways = resolveWays(written, d.file, vars);
        const line = d.lineOf(p.value as YamlNode);
        for (const r of ways) {
          // A path on the controller or the host (`{{ inventory_dir }}/credentials`, `/opt/{{ x }}`): no destination.
          if (r.unknown.length && isLocalPath(r.value)) continue;
          if (r.unknown.length) out.push({ file: d.file, line, keyPath, kind: 'url', value: r.value, provenance: `${d.file}:${line} ${keyPath}: ${written}: ${r.unknown.join('; ')}${r.by.length ? ` (${r.by.join(', ')})` : ''}` });
          else for (const x of referencesIn(r.value, false)) out.push({ file: d.file, line, keyPath, ...x, provenance: `${d.file}:${line} ${keyPath}${resolvedNote(written, r, ways.length)}` });
        }
      }
    }
  }
  // The generic scan's references at the key paths read here go: they were cut at `{{` or of the wrong kind.
  const keep = references.filter((r) => !handled.get(r.file)?.has(r.keyPath ?? ''));
  references.length = 0;
  references.push(...keep, ...out);
}

/**
 * A command's words, split at whitespace and `;`, `|`, `&` outside Jinja `{{ … }}` (whose spaces are
 * its own: `curl https://{{ mirror }}/x` is one word, not `https://{{`). Linear; an unclosed `{{`
 * runs to the end.
 */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('{{', i)) {
      const close = text.indexOf('}}', i + 2);
      i = close < 0 ? text.length : close + 2;
      continue;
    }
    if (/[\s;|&]/.test(text[i])) {
      if (i > start) words.push(text.slice(start, i));
      start = i + 1;
    }
    i++;
  }
  if (start < text.length) words.push(text.slice(start));
  return words;
}
