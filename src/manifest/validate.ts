import type { z } from 'zod';
import { FerryError } from '../errors.js';

/** `images[3].ref` from a zod issue path. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(top level)';
}

/** The schema inside wrappers (default, optional, nullable, readonly, catch, pipe input). */
function unwrapSchema(schema: z.ZodType): z.ZodType {
  let s = schema as unknown as { _zod?: { def?: Record<string, unknown> } };
  for (let i = 0; i < 16; i++) {
    const def = s._zod?.def;
    const inner = def && (def.innerType ?? (def.type === 'pipe' ? def.in : undefined));
    if (!inner) break;
    s = inner as typeof s;
  }
  return s as unknown as z.ZodType;
}

/** The fields an object schema at `path` accepts, each with its schema (empty when the path leads elsewhere). */
function fieldsAt(schema: z.ZodType, path: ReadonlyArray<PropertyKey>): Array<[string, z.ZodType]> {
  let s = unwrapSchema(schema);
  for (const p of path) {
    const def = (s as unknown as { _zod: { def: Record<string, unknown> } })._zod?.def;
    if (!def) return [];
    if (typeof p === 'number' && def.type === 'array') s = unwrapSchema(def.element as z.ZodType);
    else if (typeof p === 'string' && def.type === 'object') {
      const next = (def.shape as Record<string, z.ZodType>)[p];
      if (!next) return [];
      s = unwrapSchema(next);
    } else return [];
  }
  const def = (s as unknown as { _zod: { def: Record<string, unknown> } })._zod?.def;
  return def?.type === 'object' ? Object.entries(def.shape as Record<string, z.ZodType>) : [];
}

/** The field names an object schema at `path` accepts (empty when the path leads elsewhere). */
function knownKeysAt(schema: z.ZodType, path: ReadonlyArray<PropertyKey>): string[] {
  return fieldsAt(schema, path).map(([k]) => k);
}

/** A field's description (`.describe()`), on the field or on the schema its wrappers hold. */
function descriptionOf(field: z.ZodType): string {
  return (field as { description?: string }).description ?? (unwrapSchema(field) as { description?: string }).description ?? '';
}

/**
 * The fields whose description names an unknown key as a word: a check written `{name: T, value:
 * "false"}` (as Kubernetes env lists are) finds `key` ("… or variable name (env)") and `equals` /
 * `notEquals` ("the value the key must have"). The schema's own words, for any object.
 */
function describedAs(key: string, fields: ReadonlyArray<[string, z.ZodType]>): string[] {
  if (key.length > 64 || !/^[A-Za-z][A-Za-z0-9]*$/.test(key)) return [];
  const word = new RegExp(`\\b${key}\\b`, 'i');
  return fields.filter(([name, f]) => name !== key && word.test(descriptionOf(f))).map(([name]) => name);
}

/**
 * Of the fields an unknown key's word names, the required ones the object lacks when there are
 * any (`registry: {host: …}` names `url`, which is missing, not `insecure`, whose description says
 * "host" too): the field the writer meant is most often the one the object is refused without.
 */
function preferMissing(meant: string[], fields: ReadonlyArray<[string, z.ZodType]>, input: unknown, path: ReadonlyArray<PropertyKey>): string[] {
  if (input === undefined || meant.length < 2) return meant;
  const required = (f: z.ZodType) => !['optional', 'default', 'prefault', 'nullable'].includes((f as unknown as { _zod?: { def?: { type?: string } } })._zod?.def?.type ?? '');
  const missing = meant.filter((name) => {
    const f = fields.find(([n]) => n === name)?.[1];
    return f !== undefined && required(f) && isAbsent(input, [...path, name]);
  });
  return missing.length ? missing : meant;
}

const orList = (names: string[]) => names.map((n) => `"${n}"`).join(names.length > 2 ? ', ' : ' or ').replace(/, ("[^"]*")$/, ', or $1');

/** Edit distance, for "did you mean": small strings only (field names). */
export function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      // a transposition (platfroms → platforms) is one edit
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** The known field a mistyped one most likely meant (`platfroms` → `platforms`, `chart` → `charts`). */
export function closestField(key: string, known: readonly string[]): string | undefined {
  if (key.length > 64) return undefined;
  const k = key.toLowerCase();
  let best: { name: string; d: number } | undefined;
  for (const name of known) {
    const n = name.toLowerCase();
    const prefix = Math.min(n.length, k.length) >= 3 && (n.startsWith(k) || k.startsWith(n));
    const d = n === k ? 0 : distance(k, n);
    if ((prefix || d <= Math.max(1, Math.floor(name.length / 3))) && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}

/**
 * Every issue as `path: message`. With the schema, an unknown field names the field it most
 * likely meant (`images[0]: unknown field "platfroms" (did you mean "platforms"?)`), and a
 * required field that is absent says so instead of zod's "expected string, received undefined".
 */
export function issuesToProblems(issues: ReadonlyArray<z.core.$ZodIssue>, prefix: PropertyKey[] = [], schema?: z.ZodType, input?: unknown): string[] {
  return issues.map((i) => {
    let message = i.message;
    const path: PropertyKey[] = [...prefix, ...i.path];
    if (i.code === 'unrecognized_keys') {
      const fields = schema ? fieldsAt(schema, i.path) : [];
      const known = fields.map(([f]) => f);
      let unexplained = false;
      const named = i.keys.map((k) => {
        const near = closestField(k, known.filter((f) => !i.keys.includes(f)));
        if (near) return `${JSON.stringify(k)} (did you mean "${near}"?)`;
        const meant = preferMissing(describedAs(k, fields), fields, input, i.path);
        if (meant.length && meant.length <= 3) return `${JSON.stringify(k)} (did you mean ${orList(meant)}?)`;
        // A field one level down: of a list's entries (`platforms` beside `images:` instead of
        // under its `- ref:`) or of an object (`encrypted` beside a connection's `security:`).
        if (schema) {
          const inList = known.find((f) => knownKeysAt(schema, [...i.path, f, 0]).includes(k));
          if (inList) return `${JSON.stringify(k)} (a field of ${formatPath([...prefix, ...i.path, inList])} entries: check its indentation)`;
          const inObject = known.find((f) => knownKeysAt(schema, [...i.path, f]).includes(k));
          if (inObject) return `${JSON.stringify(k)} (a field of ${formatPath([...prefix, ...i.path, inObject])}: write it under ${inObject}:)`;
          // A field one level up (`checks` written inside an endpoint's `mitigation:` instead of beside it).
          const parent = i.path.length && typeof i.path[i.path.length - 1] === 'string' ? i.path.slice(0, -1) : undefined;
          if (parent && knownKeysAt(schema, parent).includes(k)) return `${JSON.stringify(k)} (a field of ${formatPath([...prefix, ...parent])}, not of ${String(i.path[i.path.length - 1])}: check its indentation)`;
        }
        unexplained = true;
        return JSON.stringify(k);
      });
      // Nothing near: the fields it takes, so the right name is on the screen.
      const takes = unexplained && known.length ? `; ${formatPath(path)} takes ${known.join(', ')}` : '';
      message = `unknown field${i.keys.length > 1 ? 's' : ''} ${named.join(', ')}${takes}`;
    } else if (i.code === 'invalid_type' && /received undefined$/.test(i.message) && i.path.length && typeof i.path[i.path.length - 1] === 'string') {
      // The field is absent: say so (its path names it).
      message = `required field is missing (${i.expected})`;
    } else if (input !== undefined && isAbsent(input, i.path)) {
      // An absent field whose schema is a choice (an enum, a union): zod says "Invalid option:
      // expected one of …" as if a wrong value had been written; say it is missing, and what it takes.
      const choices = i.code === 'invalid_value' ? i.values.map((v) => JSON.stringify(v)).join(', ') : undefined;
      message = `required field is missing${choices ? ` (one of ${choices})` : ''}`;
    }
    return `${formatPath(path)}: ${message}`;
  });
}

/** True when the last key of `path` is absent from the object its parent path leads to in `input`. */
function isAbsent(input: unknown, path: ReadonlyArray<PropertyKey>): boolean {
  if (!path.length || typeof path[path.length - 1] !== 'string') return false;
  let v: unknown = input;
  for (const p of path.slice(0, -1)) {
    if (v === null || typeof v !== 'object') return false;
    v = (v as Record<PropertyKey, unknown>)[p as string];
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const value = (v as Record<string, unknown>)[path[path.length - 1] as string];
  return value === undefined || !Object.prototype.hasOwnProperty.call(v, path[path.length - 1]);
}

/** Parse with a schema; on failure throw one FerryError listing every problem with its path. */
export function parseOrThrow<S extends z.ZodType>(schema: S, data: unknown, what: string, hint?: string): z.output<S> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const problems = issuesToProblems(result.error.issues, [], schema, data);
  throw new FerryError('VALIDATION', `${what}: ${problems.length} problem${problems.length > 1 ? 's' : ''}`, {
    details: problems,
    hint,
  });
}
