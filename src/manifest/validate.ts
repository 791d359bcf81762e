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

export function issuesToProblems(issues: ReadonlyArray<z.core.$ZodIssue>, prefix: PropertyKey[] = []): string[] {
  return issues.map((i) => {
    let message = i.message;
    if (i.code === 'unrecognized_keys') message = `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    return `${formatPath([...prefix, ...i.path])}: ${message}`;
  });
}

/** Parse with a schema; on failure throw one FerryError listing every problem with its path. */
export function parseOrThrow<S extends z.ZodType>(schema: S, data: unknown, what: string, hint?: string): z.output<S> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const problems = issuesToProblems(result.error.issues);
  throw new FerryError('VALIDATION', `${what}: ${problems.length} problem${problems.length > 1 ? 's' : ''}`, {
    details: problems,
    hint,
  });
}
