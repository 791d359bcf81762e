import { isMap, isScalar, isSeq, type YAMLMap } from 'yaml';

/**
 * The files an Ansible `include_vars` task may load when its name is a loop's item or a
 * `first_found` lookup (the with_first_found / first_found lookup docs): `include_vars: "{{ item }}"`
 * with `loop:` / `with_items:` / `with_list:` / `with_first_found:` (strings, or `{files, paths}`
 * maps), `loop: "{{ lookup('first_found', params) }}"`, or `include_vars: "{{ lookup('first_found',
 * params) }}"` with `params` in the task's `vars:` or written as a list of quoted names. Each is a
 * candidate (the host decides which one is found first): a name may still hold `{{ … }}`.
 */

/** Candidates read from one task at most (a crafted loop of 10^6 entries is not walked). */
export const MAX_CANDIDATES = 64;

/** A YAML node's strings: a scalar, or a sequence's scalars (one level of nesting, as with_items flattens). */
function stringsOf(n: unknown): string[] {
  if (isScalar(n) && typeof n.value === 'string') return [n.value];
  if (!isSeq(n)) return [];
  return n.items.flatMap((x) => (isScalar(x) && typeof x.value === 'string' ? [x.value] : isSeq(x) ? x.items.flatMap((y) => (isScalar(y) && typeof y.value === 'string' ? [y.value] : [])) : []));
}

/** first_found's terms: names, or `{files, paths}` (each a list or a `,`/`;`-separated string; paths also `:`), each file under each path. */
function firstFoundTerms(n: unknown): string[] {
  const out: string[] = [];
  const term = (t: unknown) => {
    if (isScalar(t) && typeof t.value === 'string') out.push(t.value);
    else if (isMap(t)) {
      const split = (x: unknown, sep: RegExp) => stringsOf(x).flatMap((s) => (s.includes('{{') ? [s] : s.split(sep))).map((s) => s.trim()).filter(Boolean);
      const files = split(t.get('files', true), /[,;]/);
      const paths = split(t.get('paths', true), /[,:;]/);
      for (const f of files) for (const p of paths.length ? paths : ['']) out.push(p ? `${p.replace(/\/+$/, '')}/${f}` : f);
    }
  };
  if (isSeq(n)) n.items.forEach(term);
  else term(n);
  return out;
}

/** `lookup('first_found', X …)` / `query(…)` / `q(…)` in an expression: its terms, X a task variable or a list of quoted names. */
function firstFoundLookup(inner: string, task: YAMLMap): string[] | undefined {
  const m = /^\s*(?:lookup|query|q)\(\s*(['"])(?:ansible\.builtin\.)?first_found\1\s*,\s*([\s\S]*?)\s*\)\s*$/.exec(inner);
  if (!m) return undefined;
  const arg = m[2].replace(/\s*,\s*(?:errors|skip)\s*=\s*\S+$/, '').trim();
  const named = /^([A-Za-z_][A-Za-z0-9_]*)$/.exec(arg);
  if (named) {
    const vars = task.get('vars', true);
    return isMap(vars) && vars.has(named[1]) ? firstFoundTerms(vars.get(named[1], true)) : undefined;
  }
  const list = /^\[([\s\S]*)\]$/.exec(arg)?.[1] ?? arg;
  const names = [...list.matchAll(/\s*(?:'([^'\\]*)'|"([^"\\]*)")\s*(?:,|$)/g)].map((x) => x[1] ?? x[2]);
  return names.length ? names : undefined;
}

/** The one `{{ … }}` a name is made of, or undefined. */
function wholeExpression(s: string): string | undefined {
  return /^\s*\{\{([\s\S]*?)\}\}\s*$/.exec(s)?.[1];
}

/**
 * The names an include_vars task's `written` name may take (at most MAX_CANDIDATES), or undefined
 * when it is no loop item nor first_found lookup (read as written).
 */
export function includeVarsCandidates(task: YAMLMap, written: string): string[] | undefined {
  const inner = wholeExpression(written);
  if (inner === undefined) return undefined;
  const direct = firstFoundLookup(inner, task);
  if (direct) return direct.slice(0, MAX_CANDIDATES);
  const control = task.get('loop_control', true);
  const loopVar = isMap(control) && isScalar(control.get('loop_var', true)) ? String(control.get('loop_var')) : 'item';
  if (inner.trim() !== loopVar) return undefined;
  for (const k of ['loop', 'with_items', 'with_list', 'with_first_found']) {
    const n = task.get(k, true);
    if (n === undefined) continue;
    const expr = isScalar(n) && typeof n.value === 'string' ? wholeExpression(n.value) : undefined;
    const found = expr !== undefined ? firstFoundLookup(expr, task) : k === 'with_first_found' ? firstFoundTerms(n) : stringsOf(n);
    return found?.length ? found.slice(0, MAX_CANDIDATES) : undefined;
  }
  return undefined;
}
