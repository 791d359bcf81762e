import { FerryError } from '../errors.js';

/**
 * `<name>` placeholders from `vars`. A scalar var is substituted; a list var used by an entry
 * multiplies that entry, once per value (several list vars: every combination), as the seed
 * documents write `<release>` for "each supported release".
 */
export type Vars = Record<string, string | number | Array<string | number>>;

const PLACEHOLDER = /<([A-Za-z_][A-Za-z0-9_-]*)>/g;

function placeholdersIn(value: unknown, found: Set<string>): void {
  if (typeof value === 'string') {
    for (const m of value.matchAll(PLACEHOLDER)) found.add(m[1]);
  } else if (Array.isArray(value)) {
    for (const v of value) placeholdersIn(v, found);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) placeholdersIn(v, found);
  }
}

function substitute(value: unknown, binding: Record<string, string>): unknown {
  if (typeof value === 'string') return value.replace(PLACEHOLDER, (whole, name: string) => binding[name] ?? whole);
  if (Array.isArray(value)) return value.map((v) => substitute(v, binding));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, binding)]));
  }
  return value;
}

/** Limits on what vars may expand to, checked before expanding. */
export const VARS_LIMITS = {
  /** Entries one manifest entry may expand to (product of the lengths of the list vars it uses). */
  perEntry: 1000,
  /** Entries all manifest entries may expand to together. */
  total: 10_000,
  /** Characters of string content after expansion, all entries together. */
  chars: 8 * 1024 * 1024,
} as const;

function valuesOf(value: Vars[string]): string[] {
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

/**
 * What `expandEntry` would produce, computed without expanding: the number of entries (product
 * of the lengths of the list vars the entry uses) and an upper bound on their string content.
 */
export function expansionSize(entry: unknown, vars: Vars): { entries: number; chars: number } {
  const used = new Set<string>();
  placeholdersIn(entry, used);
  let entries = 1;
  const longest = new Map<string, number>();
  for (const name of used) {
    const value = vars[name];
    if (value === undefined) continue;
    const values = valuesOf(value);
    entries *= values.length;
    longest.set(name, Math.max(0, ...values.map((v) => v.length)));
  }
  let chars = 0;
  const stack: unknown[] = [entry];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') {
      chars += v.length;
      for (const m of v.matchAll(PLACEHOLDER)) chars += longest.get(m[1]) ?? 0;
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) stack.push(k, x);
    }
  }
  return { entries, chars: chars * entries };
}

/** Expand one entry into one or more; placeholders that name no var are left for validation to report. */
export function expandEntry<T>(entry: T, vars: Vars): T[] {
  const used = new Set<string>();
  placeholdersIn(entry, used);
  let bindings: Record<string, string>[] = [{}];
  for (const name of [...used].sort()) {
    const value = vars[name];
    if (value === undefined) continue;
    const values = valuesOf(value);
    bindings = bindings.flatMap((b) => values.map((v) => ({ ...b, [name]: v })));
  }
  return bindings.map((b) => substitute(entry, b) as T);
}

/** Placeholders left after expansion, as `path: message` problems. */
export function unresolvedPlaceholders(value: unknown, path: string): string[] {
  const found = new Set<string>();
  placeholdersIn(value, found);
  return [...found].sort().map((name) => `${path}: placeholder <${name}> has no value in vars`);
}

export function checkVars(vars: unknown): Vars {
  if (vars === undefined) return {};
  if (!vars || typeof vars !== 'object' || Array.isArray(vars)) {
    throw new FerryError('VALIDATION', 'vars: must be a map of name → value or list of values');
  }
  return vars as Vars;
}
