/**
 * systemd service units (`*.service`, and their drop-ins `*.service.d/*.conf`, beside them or, on a
 * host's search path, in any of its directories: see unitGroups): the
 * environment a service runs with and the command lines it runs, as systemd reads them
 * (systemd.syntax(7), systemd.exec(5), systemd.service(5)):
 *
 * - a line ending in `\` goes on with the next (the backslash read as a space), comment lines
 *   (`#`, `;`) inside such a run skipped; `[Section]` headers; `Key=value`;
 * - `Environment=` holds space-separated assignments, each word split with systemd's quoting
 *   (`Environment="A=1 2" B=3`: `"…"`/`'…'` anywhere in a word, C escapes); `$` means nothing there;
 *   a later assignment of a name wins; an empty `Environment=` resets the list;
 * - `EnvironmentFile=` names an absolute file (`-` in front: skipped when missing); its assignments
 *   override `Environment=`, later files over earlier ones; an empty one resets the list;
 * - `Exec*=` command lines: `;` alone between commands, prefixes `@-:+!` on the first word;
 *   `${NAME}` anywhere in a word is the variable's value, `$NAME` as a whole word its value split at
 *   blanks, `$$` a `$`; an empty `ExecStart=` resets the list;
 * - `%` specifiers (`%h`, `%i`…) are filled in on the host: unknown here (`%%` is a `%`).
 *
 * A variable neither `Environment=` nor a readable `EnvironmentFile=` sets is unknown (systemd passes
 * an empty string unless the manager's own environment sets it). An `EnvironmentFile=` is found in
 * the scan on the unit's host: the part of the unit's path before `etc/systemd/` (`usr/lib/systemd/`,
 * `lib/systemd/`, `run/systemd/`) is that host's `/`; otherwise, or when the scan does not hold it,
 * its values are unknown, said so. Bounded: a logical line, the assignments and files of a unit,
 * the files read, the length of an expanded word; each bound that falls is a note.
 */
import path from 'node:path';
import { readRegularFile } from '../store/verified-write.js';
import { flagValue } from './embedded.js';
import { hostOfDestinationKey, MAX_BYTES, MAX_TOTAL_BYTES, referencesIn, type Reference, type Setting, type SkippedFile } from './scan.js';

/** A unit file audit reads as systemd does: a service, or a drop-in of one beside it. */
export function isSystemdUnit(file: string): boolean {
  const parts = file.split('/');
  const base = parts.at(-1) ?? '';
  return base.endsWith('.service') || (base.endsWith('.conf') && (parts.at(-2) ?? '').endsWith('.service.d'));
}

/** The longest logical line read (continuations joined); a longer one is not read, said so. */
export const MAX_UNIT_LINE = 256 * 1024;
/** At most this many Environment= assignments and EnvironmentFile= entries a unit (each). */
export const MAX_UNIT_ASSIGNMENTS = 4096;
export const MAX_UNIT_ENV_FILES = 256;
/** At most this many environment files read in one scan. */
export const MAX_ENV_FILES_READ = 1024;
/** The longest command-line word once variables are filled in. */
export const MAX_EXPANDED_WORD = 64 * 1024;
/** At most this many arguments a command line once `$NAME` words are split; the rest not read, said so. */
export const MAX_EXEC_ARGS = 4096;
/**
 * Over the scan: at most this many characters of variable values filled into command lines, and
 * this many environment-file assignments kept (about 400 bytes each) and applied to units (a unit
 * naming one large file 256 times, 1 000 units naming it: each is work). Past them, what is left is
 * not read, said so.
 */
export const MAX_EXPANDED_TOTAL = 64 * 1024 * 1024;
export const MAX_ENV_ENTRIES_READ = 100_000;
export const MAX_ENV_ENTRIES_APPLIED = 1_000_000;

const READ_KEYS = /^(?:Environment|EnvironmentFile|Exec(?:Start|StartPre|StartPost|Condition|Reload|Stop|StopPost))$/;

/** One `Key=value` of a unit's `[Service]` section that systemd reads for the environment or a command line. */
export interface UnitEntry {
  key: string;
  value: string;
  line: number;
  /** The logical line was longer than MAX_UNIT_LINE: not read. */
  tooLong?: true;
}

export interface SystemdUnitFile {
  file: string;
  entries: UnitEntry[];
  /** The text with the lines read here (and `Documentation=`, which nothing connects to) blanked, line numbers kept. */
  rest: string;
}

/** A unit file's `[Service]` entries audit reads (continuations joined, linear), and the rest of its text for the line-by-line scan. */
export function systemdUnitOf(file: string, text: string): SystemdUnitFile {
  const lines = text.split('\n');
  const entries: UnitEntry[] = [];
  let section = '';
  // The line being continued: its entry when read here, whether its lines are blanked (read here, or `Documentation=`).
  let continued: { entry?: UnitEntry; parts: string[]; size: number; blank: boolean } | undefined;
  const finish = () => {
    const e = continued?.entry;
    if (e) {
      if (continued!.size <= MAX_UNIT_LINE) e.value = continued!.parts.join(' ').trim();
      else e.tooLong = true;
      entries.push(e);
    }
    continued = undefined;
  };
  lines.forEach((raw, i) => {
    const line = raw.trim();
    const more = line.endsWith('\\');
    if (continued) {
      // Comment lines inside a continued line are skipped (systemd.syntax(7)); a continuation line is never a key of its own.
      if (line.startsWith('#') || line.startsWith(';')) return;
      if (continued.blank) lines[i] = '';
      if (continued.entry) {
        const part = more ? line.slice(0, -1) : line;
        // Counted past the bound, not kept: a 1 MB run of continuation lines holds at most MAX_UNIT_LINE.
        continued.size += part.length + 1;
        if (continued.size <= MAX_UNIT_LINE) continued.parts.push(part);
      }
      if (!more) finish();
      return;
    }
    if (!line || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([^\]]*)\]$/.exec(line);
    if (header) {
      section = header[1].trim();
      return;
    }
    const eq = line.indexOf('=');
    const key = eq < 0 ? '' : line.slice(0, eq).trim();
    const read = section === 'Service' && READ_KEYS.test(key);
    const blank = read || key === 'Documentation';
    if (blank) lines[i] = '';
    const first = eq < 0 ? '' : line.slice(eq + 1).trim();
    const entry: UnitEntry | undefined = read ? { key, value: '', line: i + 1 } : undefined;
    if (more) {
      const part = first.slice(0, -1);
      continued = { ...(entry ? { entry } : {}), parts: [part], size: part.length, blank };
    } else if (entry) {
      if (first.length > MAX_UNIT_LINE) entry.tooLong = true;
      else entry.value = first;
      entries.push(entry);
    }
  });
  // A file ending in a continued line: what it holds so far.
  finish();
  return { file, entries, rest: lines.join('\n') };
}

/**
 * systemd's word splitting (extract_first_word with unquoting and C unescaping): blanks separate
 * words; `"…"` and `'…'` may open anywhere in a word; a backslash escape is the character it
 * names (`\\n`, `\\t`, `\\xHH`, octal, `\\s` a space), any other is kept as written.
 */
export function systemdWords(s: string): string[] {
  const out: string[] = [];
  let word: string | undefined;
  let quote = '';
  const named: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', s: ' ', '\\': '\\', '"': '"', "'": "'" };
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (!quote && (c === ' ' || c === '\t' || c === '\n' || c === '\r')) {
      if (word !== undefined) out.push(word);
      word = undefined;
      continue;
    }
    word ??= '';
    if (c === '\\' && i + 1 < s.length) {
      const n = s[i + 1];
      const hex = n === 'x' ? /^[0-9a-fA-F]{2}/.exec(s.slice(i + 2, i + 4)) : null;
      const oct = /[0-7]/.test(n) ? /^[0-7]{3}/.exec(s.slice(i + 1, i + 4)) : null;
      if (hex) {
        word += String.fromCharCode(parseInt(hex[0], 16));
        i += 3;
      } else if (oct) {
        word += String.fromCharCode(parseInt(oct[0], 8) & 0xff);
        i += 3;
      } else if (named[n] !== undefined) {
        word += named[n];
        i++;
      } else word += c;
      continue;
    }
    if (quote) {
      if (c === quote) quote = '';
      else word += c;
    } else if (c === '"' || c === "'") quote = c;
    else word += c;
  }
  if (word !== undefined) out.push(word);
  return out;
}

/** A specifier other than `%%` in a value: filled in by systemd on the host. */
const SPECIFIER = /%[A-Za-z]/;

/**
 * A value with its specifiers marked as unknown (`%H` → `${%H}`, which every reader of a host
 * takes as not known here), `%%` as `%`.
 */
function markSpecifiers(v: string): string {
  return v.includes('%') ? v.replace(/%(%|[A-Za-z])/g, (_, c: string) => (c === '%' ? '%' : `\${%${c}}`)) : v;
}

/**
 * An EnvironmentFile as systemd reads it (systemd.exec(5), "EnvironmentFile="): `NAME=value` lines;
 * blank lines, lines without `=`, and lines starting with `#` or `;` ignored; blanks around the name
 * and the value dropped; an unquoted value keeps its inner blanks and quotes, a backslash keeps the
 * character after it (a backslash at the end of a line continues the value on the next); `'…'` as
 * written, `"…"` with `\\"`, `\\\\`, `` \\` ``, `\\$` escaped (a backslash before anything else kept),
 * both spanning lines. A name that is no valid variable name is ignored (systemd refuses it).
 */
export function systemdEnvFileEntries(text: string, max = Infinity): Array<{ name: string; value: string; line: number }> {
  const out: Array<{ name: string; value: string; line: number }> = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  // Past `max`, one more entry tells the caller the file holds more; the rest is not read.
  while (i < n && out.length <= max) {
    // A line's leading blanks, then a comment or the name.
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\r')) i++;
    if (i >= n) break;
    if (text[i] === '\n') {
      line++;
      i++;
      continue;
    }
    const nl = text.indexOf('\n', i);
    const eol = nl < 0 ? n : nl;
    // Looked for within the line only (from each line to the end of the file is quadratic on a file of lines without `=`).
    const inLine = text.slice(i, eol).indexOf('=');
    const eq = inLine < 0 ? -1 : i + inLine;
    if (text[i] === '#' || text[i] === ';' || eq < 0) {
      i = eol;
      continue;
    }
    const name = text.slice(i, eq).trim();
    const at = line;
    i = eq + 1;
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    let value = '';
    const q = text[i];
    if (q === "'" || q === '"') {
      i++;
      while (i < n && text[i] !== q) {
        if (q === '"' && text[i] === '\\' && i + 1 < n) {
          const c = text[i + 1];
          if (c === '\n') line++;
          else value += '"\\`$'.includes(c) ? c : `\\${c}`;
          i += 2;
          continue;
        }
        if (text[i] === '\n') line++;
        value += text[i++];
      }
      i++;
      // The rest of the line after the closing quote is read on as unquoted text.
    }
    let tail = '';
    while (i < n && text[i] !== '\n') {
      if (text[i] === '\\' && i + 1 < n) {
        if (text[i + 1] === '\n') line++;
        else tail += text[i + 1];
        i += 2;
        continue;
      }
      tail += text[i++];
    }
    value += q === "'" || q === '"' ? tail.trimEnd() : tail.replace(/[ \t\r]+$/, '');
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) out.push({ name, value, line: at });
  }
  return out;
}

/** Where a value of the unit's environment comes from, or why it is unknown. */
type EnvValue = { value: string; at: string } | { unknown: string };

/** A unit's files in the scan: the unit (if the scan holds it) and its drop-ins, in the order systemd applies them. */
interface UnitGroup {
  name: string;
  files: SystemdUnitFile[];
}

/**
 * systemd's system unit search path, highest precedence first (systemd.unit(5), "Unit File Load
 * Path"): a unit file in an earlier directory hides one of the same name in a later one; the
 * drop-ins of `<unit>.d/` in all of them apply, a drop-in file name in an earlier directory
 * hiding the same name in a later one, all applied in the order of their file names.
 */
const SYSTEM_UNIT_DIRS = ['etc/systemd/system', 'run/systemd/system', 'usr/local/lib/systemd/system', 'usr/lib/systemd/system', 'lib/systemd/system'];

/** Where a unit file sits: its host's root, its place in the search path, and the unit it belongs to. */
function unitPlace(file: string): { key: string; rank: number; dropIn: boolean } {
  const dropIn = file.endsWith('.conf');
  const dir = path.posix.dirname(file);
  const unitPath = dropIn ? dir.slice(0, -2) : file;
  const root = systemdHostRoot(unitPath);
  if (root !== undefined) {
    const rank = SYSTEM_UNIT_DIRS.indexOf(path.posix.dirname(unitPath.slice(root.length)));
    // One unit of one host, wherever on its search path the files are.
    if (rank >= 0) return { key: `${root}\0${path.posix.basename(unitPath)}`, rank, dropIn };
  }
  return { key: unitPath, rank: 0, dropIn };
}

/**
 * The units of a scan: each unit with its drop-ins, as systemd loads them. Files under a host's
 * system search path (`etc/systemd/system/`, `run/…`, `usr/local/lib/…`, `usr/lib/…`, `lib/…` below
 * the part of the path that is the host's `/`) are one unit per name: the unit file of the
 * highest-precedence directory, and the drop-ins of every directory (`systemctl edit`'s
 * `/etc/systemd/system/app.service.d/override.conf` applies to `/usr/lib/systemd/system/app.service`).
 * A unit file or drop-in that one of higher precedence hides is still read alone (nothing it says
 * is dropped from the audit). Elsewhere, `dir/x.service` with `dir/x.service.d/`.
 */
function unitGroups(units: readonly SystemdUnitFile[]): UnitGroup[] {
  const groups = new Map<string, { mains: Array<{ u: SystemdUnitFile; rank: number }>; dropIns: Map<string, { u: SystemdUnitFile; rank: number }>; hidden: SystemdUnitFile[] }>();
  for (const u of units) {
    const { key, rank, dropIn } = unitPlace(u.file);
    const g = groups.get(key) ?? { mains: [] as Array<{ u: SystemdUnitFile; rank: number }>, dropIns: new Map<string, { u: SystemdUnitFile; rank: number }>(), hidden: [] as SystemdUnitFile[] };
    groups.set(key, g);
    if (!dropIn) g.mains.push({ u, rank });
    else {
      const base = path.posix.basename(u.file);
      const seen = g.dropIns.get(base);
      if (!seen || rank < seen.rank) {
        g.dropIns.set(base, { u, rank });
        if (seen) g.hidden.push(seen.u);
      } else g.hidden.push(u);
    }
  }
  const out: UnitGroup[] = [];
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  for (const [key, g] of groups) {
    const mains = g.mains.sort((a, b) => a.rank - b.rank || byName(a.u.file, b.u.file));
    const name = path.posix.basename(key.includes('\0') ? key.slice(key.indexOf('\0') + 1) : key);
    const dropIns = [...g.dropIns.entries()].sort(([a], [b]) => byName(a, b)).map(([, d]) => d.u);
    out.push({ name, files: [...(mains.length ? [mains[0].u] : []), ...dropIns] });
    for (const hidden of [...mains.slice(1).map((m) => m.u), ...g.hidden]) out.push({ name, files: [hidden] });
  }
  return out;
}

/** The part of a unit's path that is its host's `/` (`hosts/edge-1/` of `hosts/edge-1/etc/systemd/system/app.service`); undefined: none says. */
export function systemdHostRoot(unitFile: string): string | undefined {
  const m = /(?:^|\/)(?:etc|run|lib|usr\/lib|usr\/local\/lib)\/systemd\/(?:system|user)(?:\.[a-z]+)?\//.exec(unitFile);
  if (!m) return undefined;
  return unitFile.slice(0, m.index + (m[0].startsWith('/') ? 1 : 0));
}

/** What applySystemdUnits gives the scan. */
export interface SystemdFindings {
  references: Reference[];
  settings: Setting[];
  notes: SkippedFile[];
  /** Files read again as environment files: what the line-by-line scan found in them is replaced. */
  reread: Set<string>;
}

/**
 * The environment and command lines of each unit of the scan, as systemd gives them to the
 * service: each effective `Environment=` assignment and each assignment of a readable
 * `EnvironmentFile=` classified as audit reads any environment variable (URLs, hosts, images, a
 * destination key's host); each command-line word with its variables filled in, read for URLs and
 * `--flag=host` / `--flag host` as a container's args are. `scanned`: the scan's files (relative).
 */
export async function applySystemdUnits(units: readonly SystemdUnitFile[], scanned: ReadonlySet<string>, cwd: string, envClassify: (file: string, line: number, key: string, value: string, refs: Reference[], settings: Setting[]) => void): Promise<SystemdFindings> {
  const out: SystemdFindings = { references: [], settings: [], notes: [], reread: new Set() };
  const fileCache = new Map<string, Array<{ name: string; value: string; line: number }> | { why: string }>();
  let budget = MAX_TOTAL_BYTES;
  // A bound that falls leaves what the unit connects to unknown: unaudited (fails --fail-on).
  const note = (file: string, reason: string) => out.notes.push({ file, reason, unscanned: true });
  const work = { entriesRead: 0, entriesApplied: 0, expanded: 0 };
  const readEnvFile = async (rel: string): Promise<Array<{ name: string; value: string; line: number }> | { why: string }> => {
    const had = fileCache.get(rel);
    if (had) return had;
    let got: Array<{ name: string; value: string; line: number }> | { why: string };
    if (fileCache.size >= MAX_ENV_FILES_READ || budget <= 0) got = { why: `not read: the scan read ${MAX_ENV_FILES_READ} environment files of systemd units (or their bytes) already, the most it does` };
    else {
      const buf = await readRegularFile(path.resolve(cwd, rel), Math.min(MAX_BYTES, budget), { follow: false });
      if (Buffer.isBuffer(buf)) {
        budget -= buf.length;
        const left = MAX_ENV_ENTRIES_READ - work.entriesRead;
        const entries = systemdEnvFileEntries(buf.toString('utf8'), left);
        if (entries.length > left) got = { why: `not read: it holds more assignments than the ${MAX_ENV_ENTRIES_READ.toLocaleString('en-US')} the scan keeps from environment files of systemd units (${work.entriesRead.toLocaleString('en-US')} before it)` };
        else {
          work.entriesRead += entries.length;
          got = entries;
        }
      } else got = { why: `not readable: ${buf.reason}` };
    }
    fileCache.set(rel, got);
    return got;
  };
  const reported = new Set<string>();
  for (const group of unitGroups(units)) {
    const unit = group.name;
    const assignments: Array<{ name: string; value: string; file: string; line: number }> = [];
    const envFiles: Array<{ written: string; file: string; line: number }> = [];
    const execs = new Map<string, Array<{ value: string; file: string; line: number }>>();
    // Set when a value past a bound or an unread line may set any variable: why.
    let wild: string | undefined;
    for (const f of group.files) {
      for (const e of f.entries) {
        const at = `${f.file}:${e.line}`;
        if (e.tooLong) {
          note(f.file, `${at} ${e.key}= is longer than ${MAX_UNIT_LINE / 1024} KiB once its continuation lines are joined: not read${e.key.startsWith('Environment') ? ` (the environment of ${unit} is unknown)` : ''}`);
          if (e.key.startsWith('Environment')) wild = `${at} ${e.key}= was not read (longer than ${MAX_UNIT_LINE / 1024} KiB)`;
          continue;
        }
        if (e.key === 'Environment') {
          if (!e.value) {
            assignments.length = 0;
            continue;
          }
          for (const w of systemdWords(e.value)) {
            const eq = w.indexOf('=');
            if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(w.slice(0, eq))) continue;
            if (assignments.length >= MAX_UNIT_ASSIGNMENTS) {
              wild ??= `${unit} has more than ${MAX_UNIT_ASSIGNMENTS} Environment= assignments, the rest not read`;
              note(f.file, `${at}: more than ${MAX_UNIT_ASSIGNMENTS} Environment= assignments in ${unit}, the rest not read (its environment is unknown)`);
              break;
            }
            assignments.push({ name: w.slice(0, eq), value: w.slice(eq + 1), file: f.file, line: e.line });
          }
        } else if (e.key === 'EnvironmentFile') {
          if (!e.value) {
            envFiles.length = 0;
            continue;
          }
          if (envFiles.length >= MAX_UNIT_ENV_FILES) {
            if (envFiles.length === MAX_UNIT_ENV_FILES) note(f.file, `${at}: more than ${MAX_UNIT_ENV_FILES} EnvironmentFile= entries in ${unit}, the rest not read (its environment is unknown)`);
            wild ??= `${unit} names more than ${MAX_UNIT_ENV_FILES} EnvironmentFile= entries, the rest not read`;
            envFiles.push({ written: '', file: f.file, line: e.line });
            continue;
          }
          envFiles.push({ written: e.value, file: f.file, line: e.line });
        } else {
          const list = execs.get(e.key) ?? [];
          execs.set(e.key, list);
          if (!e.value) list.length = 0;
          else list.push({ value: e.value, file: f.file, line: e.line });
        }
      }
    }
    // The environment: Environment= (a later assignment wins), then each EnvironmentFile in order over it.
    const env = new Map<string, EnvValue>();
    for (const a of assignments) env.set(a.name, SPECIFIER.test(a.value) ? { unknown: `${a.name} (${a.file}:${a.line}) holds a systemd specifier, filled in on the host` } : { value: a.value.replace(/%%/g, '%'), at: `Environment= at ${a.file}:${a.line}` });
    const fromFiles = new Set<string>();
    const hostRoot = group.files.length ? systemdHostRoot(group.files[0].file) : undefined;
    for (const ef of envFiles.slice(0, MAX_UNIT_ENV_FILES)) {
      const optional = ef.written.startsWith('-');
      const written = optional ? ef.written.slice(1).trim() : ef.written;
      const at = `${ef.file}:${ef.line} EnvironmentFile=${ef.written}`;
      const unknown = (why: string) => {
        wild = `${at}: ${why}`;
        env.clear();
        const key = `${ef.file}\0${ef.line}\0${written}`;
        if (reported.has(key)) return;
        reported.add(key);
        out.references.push({ file: ef.file, line: ef.line, keyPath: 'Service.EnvironmentFile', kind: 'host', value: '${EnvironmentFile}', provenance: `${at}: systemd reads this file into the environment of ${unit}${optional ? ' (skipped when missing: the - in front)' : ''}; ${why}: the destinations its values name are unknown here` });
      };
      if (!written.startsWith('/')) {
        // Known: systemd ignores it.
        out.notes.push({ file: ef.file, reason: `${at}: not an absolute path, which systemd refuses (the setting is ignored)`, unscanned: false });
        continue;
      }
      if (SPECIFIER.test(written) || /[*?[]/.test(written)) {
        unknown(SPECIFIER.test(written) ? 'its name holds a systemd specifier, filled in on the host' : 'its name is a wildcard: which files match on the host is unknown');
        continue;
      }
      if (hostRoot === undefined) {
        unknown(`an absolute path, and ${ef.file} is under no etc/systemd/ (lib/systemd/, run/systemd/) that says which host's root it is on`);
        continue;
      }
      const rel = path.posix.join(hostRoot, path.posix.normalize(written.replace(/%%/g, '%')).slice(1));
      if (!scanned.has(rel)) {
        unknown(`${rel} is not in the scan`);
        continue;
      }
      const entries = await readEnvFile(rel);
      if (!Array.isArray(entries)) {
        unknown(`${rel} is ${entries.why}`);
        continue;
      }
      if (work.entriesApplied + entries.length > MAX_ENV_ENTRIES_APPLIED) {
        unknown(`${rel} is not applied: the scan applied ${MAX_ENV_ENTRIES_APPLIED.toLocaleString('en-US')} environment-file assignments to units already, the most it does`);
        note(ef.file, `${at}: not applied to ${unit}: the scan applied ${MAX_ENV_ENTRIES_APPLIED.toLocaleString('en-US')} environment-file assignments to units already, the most it does (its environment is unknown)`);
        continue;
      }
      work.entriesApplied += entries.length;
      for (const x of entries) env.set(x.name, { value: x.value, at: `${rel}:${x.line} (EnvironmentFile= at ${ef.file}:${ef.line})` });
      if (!out.reread.has(rel)) {
        out.reread.add(rel);
        for (const x of entries) {
          const refs: Reference[] = [];
          envClassify(rel, x.line, x.name, x.value, refs, out.settings);
          for (const r of refs) out.references.push({ ...r, provenance: `${rel}:${x.line} ${x.name}: an environment file systemd reads into ${unit} (${at})` });
        }
      }
      for (const x of entries) fromFiles.add(x.name);
    }
    // Each Environment= assignment that is what the service gets (not overridden by a later one or a file read here).
    const last = new Map(assignments.map((a) => [a.name, a]));
    for (const a of last.values()) {
      if (fromFiles.has(a.name)) continue;
      const refs: Reference[] = [];
      envClassify(a.file, a.line, a.name, markSpecifiers(a.value), refs, out.settings);
      const special = SPECIFIER.test(a.value) ? '; a % specifier in it is filled in by systemd on the host, unknown here' : '';
      for (const r of refs) out.references.push({ ...r, keyPath: `Service.Environment.${a.name}`, provenance: `${a.file}:${a.line} Environment= of ${unit}: ${a.name}${wild ? ` (an environment file may override it: ${wild})` : ''}${special}` });
    }
    const lookup = (name: string): EnvValue => env.get(name) ?? { unknown: wild ?? `\${${name}} is set neither by Environment= nor by an EnvironmentFile= of ${unit} (systemd passes an empty string unless its manager's environment sets it: unknown here)` };
    let cut = false;
    for (const [key, list] of execs) {
      for (const c of list) {
        if (work.expanded > MAX_EXPANDED_TOTAL) {
          // Once for the unit: its command lines from here on are not read.
          if (!cut) note(c.file, `${c.file}:${c.line} ${key}= of ${unit} and the command lines after it not read: the scan filled ${MAX_EXPANDED_TOTAL / 1024 / 1024} MiB of variable values into command lines already, the most it does (what they connect to is unknown)`);
          cut = true;
          continue;
        }
        execFindings(unit, key, c, lookup, out, work, note);
      }
    }
  }
  return out;
}

/** A command line's findings: its words with the unit's variables filled in, read for URLs, hosts and `--flag=host`. */
function execFindings(unit: string, key: string, c: { value: string; file: string; line: number }, lookup: (name: string) => EnvValue, out: SystemdFindings, work: { expanded: number }, note: (file: string, reason: string) => void): void {
  // Each argument with what filled it in (or why a variable in it is unknown).
  const args: Array<{ text: string; why: string[]; unknownNames?: string[] }> = [];
  let first = true;
  let overLong = false;
  let tooMany = false;
  for (const w of systemdWords(c.value)) {
    // Counted as they are filled in: a value of 100 000 words named 100 000 times is not split out.
    if (args.length >= MAX_EXEC_ARGS || work.expanded > MAX_EXPANDED_TOTAL) {
      tooMany = true;
      break;
    }
    if (w === ';') {
      first = true;
      continue;
    }
    const word = first ? w.replace(/^[@\-:+!]+/, '') : w;
    first = false;
    // `$NAME` as a whole word: its value split at blanks.
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (whole) {
      const v = lookup(whole[1]);
      if ('value' in v) {
        work.expanded += v.value.length;
        for (const part of v.value.split(/[ \t\n]+/)) {
          if (!part) continue;
          if (args.length >= MAX_EXEC_ARGS) {
            tooMany = true;
            break;
          }
          args.push({ text: part, why: [`$${whole[1]} from ${v.at}`] });
        }
      }
      else args.push({ text: `\${${whole[1]}}`, why: [v.unknown], unknownNames: [whole[1]] });
      continue;
    }
    const why: string[] = [];
    const unknownNames: string[] = [];
    let expanded = '';
    for (let i = 0; i < word.length; ) {
      const at = word.indexOf('$', i);
      if (at < 0) {
        expanded += word.slice(i);
        break;
      }
      expanded += word.slice(i, at);
      if (word[at + 1] === '$') {
        expanded += '$';
        i = at + 2;
        continue;
      }
      const m = word[at + 1] === '{' ? /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(word.slice(at, at + 4096)) : null;
      if (!m) {
        // `$NAME` inside a word is no variable to systemd: passed as written.
        expanded += '$';
        i = at + 1;
        continue;
      }
      const v = lookup(m[1]);
      if ('value' in v) {
        why.push(`\${${m[1]}} from ${v.at}`);
        work.expanded += v.value.length;
        expanded += v.value;
      } else {
        why.push(v.unknown);
        unknownNames.push(m[1]);
        expanded += m[0];
      }
      i = at + m[0].length;
      if (expanded.length > MAX_EXPANDED_WORD) break;
    }
    if (expanded.length > MAX_EXPANDED_WORD) {
      overLong = true;
      continue;
    }
    args.push({ text: markSpecifiers(expanded), why: SPECIFIER.test(expanded) ? [...why, 'a % specifier in it is filled in by systemd on the host, unknown here'] : why, unknownNames });
  }
  if (overLong) note(c.file, `${c.file}:${c.line} ${key}= of ${unit}: a word is longer than ${MAX_EXPANDED_WORD / 1024} KiB once its variables are filled in: not read`);
  if (tooMany) note(c.file, `${c.file}:${c.line} ${key}= of ${unit}: more than ${MAX_EXEC_ARGS} arguments once its variables are filled in (or the scan's ${MAX_EXPANDED_TOTAL / 1024 / 1024} MiB of filled-in values reached): the rest not read`);
  const seen = new Set<string>();
  args.forEach((a, i) => {
    const found = referencesIn(a.text, false);
    const flag = flagValue(a.text);
    // `--server ntp.vendor.jp`: the word after a bare flag is keyed by the flag's name.
    const bare = i > 0 ? /^--?([A-Za-z][\w.-]*)$/.exec(args[i - 1].text)?.[1] : undefined;
    const keyed = flag ?? (bare && !a.text.startsWith('-') ? { flag: bare, value: a.text } : undefined);
    if (keyed && !found.length) {
      const host = hostOfDestinationKey(keyed.flag, keyed.value);
      if (host) found.push({ kind: 'host', value: host });
      // A destination flag whose value holds a variable not known here (a probe value asks whether the flag's name is a destination key): its host is unknown.
      else if (keyed.value.includes('${') && namesDestination(keyed.flag)) found.push({ kind: 'host', value: keyed.value });
    }
    // A variable named for a destination (`API_URL`, `PROXY_HOST`), not known here: the word's host is unknown.
    if (!found.length && a.unknownNames?.some(namesDestination)) found.push({ kind: 'host', value: a.text });
    const why = [...new Set(a.why)].slice(0, 4).join('; ');
    for (const r of found) {
      if (seen.has(`${r.kind} ${r.value}`)) continue;
      seen.add(`${r.kind} ${r.value}`);
      out.references.push({ file: c.file, line: c.line, keyPath: `Service.${key}`, kind: r.kind, value: r.value, provenance: `${c.file}:${c.line} ${key}= of ${unit}${why ? `: ${why}` : ''}` });
    }
  });
}

/** A variable or flag named for a destination: a URL's (`*_URL`, `*_URI`), or a key audit reads a host from (asked with a probe host). */
function namesDestination(name: string): boolean {
  return /(?:^|[_-])UR[LI]$/i.test(name) || hostOfDestinationKey(name, 'host.example.com') !== undefined;
}
