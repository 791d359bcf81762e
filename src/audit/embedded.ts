/**
 * Configuration documents written inside a string (a ConfigMap's `prometheus.yml`, `grafana.ini`,
 * a JSON blob in an env value or a flag): their keys name destinations as a file's keys do
 * (`smtp_smarthost: smtp.corp.example:587`, `host = smtp.vendor.example`, `"endpoint": "minio.x:9000"`),
 * but to the line patterns they are only text. Each leaf is given with its key path inside the
 * document and its line in the string, so the caller can apply its destination-key rules to it.
 * Decided by syntax only: JSON/YAML that parses to a map or list, or INI/TOML-style `key = value` lines.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, type Document } from 'yaml';
import { parseHostileDocuments } from '../manifest/yaml-input.js';
import { withoutStackTraces } from '../errors.js';
import { CONFIG_YAML_TOKENS, yamlTokensOver } from '../manifest/input-file.js';

export interface EmbeddedLeaf {
  /** Key path inside the embedded document (`global.smtp_smarthost`, `smtp.host`, `targets[0]`). */
  keyPath: string;
  value: string;
  /** 0-based line of the value in the string. */
  line: number;
}

/** At most this many leaves are taken from one string (the rest are still read line by line as text). */
const MAX_LEAVES = 10_000;

/**
 * Matched against the line with its blanks trimmed, and the captured text trimmed after: a lazy
 * group followed by `\s*$` (`(.*?)\s*$`) retried from every blank of a line with a blank run not
 * at its end (one 300 KB line `a=b` + blanks + `x` took 29 s; 1 MB, minutes).
 */
const INI_SECTION = /^\[([^\]]*)\]$/;
const INI_PAIR = /^([A-Za-z_][\w.-]*)\s*=([\s\S]*)$/;

/**
 * The leaves of the document a string holds, or nothing when it holds none: a string of several
 * lines that parses as YAML (JSON included) to a map or list, a one-line `{…}`/`[…]` JSON-style
 * flow, or lines of `[section]` and `key = value` (INI, TOML, `.conf`).
 */
export function embeddedLeaves(text: string): EmbeddedLeaf[] {
  const trimmed = text.trim();
  const multiLine = trimmed.includes('\n');
  if (!multiLine && !/^[{[][\s\S]*[}\]]$/.test(trimmed)) return [];
  return yamlLeaves(text) ?? (multiLine ? iniLeaves(text) : []);
}

/**
 * The YAML (JSON) documents a string holds, with its line counter, or undefined: a string denser
 * than ferry parses (CONFIG_YAML_TOKENS), or one that does not parse.
 */
export function embeddedDocuments(text: string): { list: Document.Parsed[]; lc: LineCounter } | undefined {
  if (yamlTokensOver(text, CONFIG_YAML_TOKENS)) return undefined;
  const lc = new LineCounter();
  let docs;
  try {
    docs = withoutStackTraces(() => parseHostileDocuments(text, { lineCounter: lc, duplicates: 'last-wins' }));
  } catch {
    return undefined;
  }
  const list = Array.isArray(docs) ? docs : [docs];
  return list.some((d) => d.errors.length) ? undefined : { list, lc };
}

function yamlLeaves(text: string): EmbeddedLeaf[] | undefined {
  const parsed = embeddedDocuments(text);
  if (!parsed) return undefined;
  const { list, lc } = parsed;
  if (!list.length || !list.some((d) => isMap(d.contents) || isSeq(d.contents))) return undefined;
  const out: EmbeddedLeaf[] = [];
  const walk = (node: unknown, keyPath: string) => {
    if (out.length >= MAX_LEAVES) return;
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const k = isScalar(pair.key) ? String(pair.key.value) : '?';
        walk(pair.value, keyPath ? `${keyPath}.${k}` : k);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, `${keyPath}[${i}]`));
    } else if (isScalar(node) && typeof node.value === 'string' && node.range) {
      out.push({ keyPath, value: node.value, line: lc.linePos(node.range[0]).line - 1 });
    }
  };
  for (const d of list) walk(d.contents, '');
  return out;
}

function iniLeaves(text: string): EmbeddedLeaf[] {
  const out: EmbeddedLeaf[] = [];
  let section = '';
  let pairs = 0;
  text.split('\n').forEach((raw, line) => {
    if (out.length >= MAX_LEAVES) return;
    const trimmed = raw.trim();
    const s = INI_SECTION.exec(trimmed);
    if (s && s[1].trim()) {
      section = s[1].trim().replace(/^["']|["']$/g, '');
      return;
    }
    const p = INI_PAIR.exec(trimmed);
    if (!p) return;
    pairs++;
    const value = unquoted(p[2].trim());
    out.push({ keyPath: section ? `${section}.${p[1]}` : p[1], value, line });
  });
  return pairs ? out : [];
}

/** `"x"` or `'x'` → `x`, by its first and last character (the regex `^(["'])(.*)\1$` backtracks on a long line). */
function unquoted(v: string): string {
  return v.length >= 2 && (v[0] === '"' || v[0] === "'") && v[v.length - 1] === v[0] ? v.slice(1, -1) : v;
}

/** `--upstream=api.vendor.jp:443` (a container's `args`/`command` item): the flag's name and its value. */
export function flagValue(item: string): { flag: string; value: string } | undefined {
  const m = /^--?([A-Za-z][\w.-]*)=(\S+)$/.exec(item.trim());
  return m ? { flag: m[1], value: unquoted(m[2]) } : undefined;
}
