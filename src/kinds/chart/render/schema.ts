/**
 * values.schema.json validation, a JSON Schema subset (draft-07 style): type, enum, const,
 * properties, patternProperties, additionalProperties, required, items, minItems/maxItems,
 * minimum/maximum (and exclusive), minLength/maxLength, pattern, uniqueItems, multipleOf,
 * allOf/anyOf/oneOf/not, if/then/else, dependencies, local `$ref`. Messages follow gojsonschema,
 * which Helm up to 3.17 uses: `- replicaCount: Invalid type. Expected: integer, given: string`.
 * Not checked: `format`, remote `$ref`s.
 */
import { deepEqual, isInt, isMap, isNumber } from './govalue.js';
import { goRegex } from './regex.js';

type Schema = Record<string, unknown> | boolean;

function typeOf(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (isInt(v)) return 'integer';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

function matchesType(v: unknown, t: string): boolean {
  const a = typeOf(v);
  if (t === 'number') return a === 'number' || a === 'integer';
  return a === t;
}

function field(path: string): string {
  return path || '(root)';
}

function jsonText(v: unknown): string {
  return isInt(v) ? v.toString() : JSON.stringify(v);
}

export function validateSchema(schema: unknown, value: unknown): string[] {
  const errors: string[] = [];
  const root = schema as Schema;
  const resolve = (ref: string): Schema | undefined => {
    if (!ref.startsWith('#')) return undefined;
    let cur: unknown = root;
    for (const raw of ref.slice(1).split('/').filter(Boolean)) {
      const p = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      if (!isMap(cur) && !(typeof cur === 'object' && cur)) return undefined;
      cur = (cur as Record<string, unknown>)[p];
    }
    return cur as Schema;
  };
  // A crafted schema can loop ($ref to itself, allOf/anyOf back to the root) or fan out
  // exponentially through shared definitions: nesting and total work are bounded, and the
  // validation ends with one error naming the bound instead of overflowing the stack or hanging.
  let depth = 0;
  let steps = 0;
  const check = (s: Schema | undefined, v: unknown, path: string, out: string[]): void => {
    if (++steps > MAX_SCHEMA_STEPS || depth >= MAX_SCHEMA_DEPTH) {
      throw new SchemaTooComplex(
        `${field(path)}: values.schema.json ${steps > MAX_SCHEMA_STEPS ? `needs more than ${MAX_SCHEMA_STEPS} checks` : `nests deeper than ${MAX_SCHEMA_DEPTH} levels`} (a $ref that refers to itself?); refusing it`,
      );
    }
    depth++;
    try {
      checkOne(s, v, path, out);
    } finally {
      depth--;
    }
  };
  const checkOne = (s: Schema | undefined, v: unknown, path: string, out: string[]): void => {
    if (s === undefined || s === true) return;
    if (s === false) {
      out.push(`${field(path)}: False always fails validation`);
      return;
    }
    if (typeof s !== 'object') return;
    if (typeof s.$ref === 'string') {
      check(resolve(s.$ref), v, path, out);
      return;
    }
    const t = s.type;
    if (t !== undefined) {
      const types = Array.isArray(t) ? (t as string[]) : [t as string];
      if (!types.some((x) => matchesType(v, x))) {
        out.push(`${field(path)}: Invalid type. Expected: ${types.join(', ')}, given: ${typeOf(v)}`);
        return;
      }
    }
    if (Array.isArray(s.enum) && !s.enum.some((e) => deepEqual(normalise(e), v))) {
      out.push(`${field(path)}: ${field(path)} must be one of the following: ${s.enum.map((e) => jsonText(e)).join(', ')}`);
    }
    if ('const' in s && !deepEqual(normalise(s.const), v)) out.push(`${field(path)}: Does not match: ${jsonText(s.const)}`);
    if (typeof v === 'string') {
      const len = [...v].length;
      if (typeof s.minLength === 'number' && len < s.minLength) out.push(`${field(path)}: String length must be greater than or equal to ${s.minLength}`);
      if (typeof s.maxLength === 'number' && len > s.maxLength) out.push(`${field(path)}: String length must be less than or equal to ${s.maxLength}`);
      if (typeof s.pattern === 'string') {
        try {
          if (!goRegex(s.pattern, false, v).test(v)) out.push(`${field(path)}: Does not match pattern '${s.pattern}'`);
        } catch {
          /* an unsupported pattern is not checked */
        }
      }
    }
    if (isNumber(v)) {
      const n = Number(v);
      if (typeof s.minimum === 'number' && n < s.minimum) out.push(`${field(path)}: Must be greater than or equal to ${s.minimum}`);
      if (typeof s.maximum === 'number' && n > s.maximum) out.push(`${field(path)}: Must be less than or equal to ${s.maximum}`);
      if (typeof s.exclusiveMinimum === 'number' && n <= s.exclusiveMinimum) out.push(`${field(path)}: Must be greater than ${s.exclusiveMinimum}`);
      if (typeof s.exclusiveMaximum === 'number' && n >= s.exclusiveMaximum) out.push(`${field(path)}: Must be less than ${s.exclusiveMaximum}`);
      if (typeof s.multipleOf === 'number' && Math.abs(n / s.multipleOf - Math.round(n / s.multipleOf)) > 1e-9) out.push(`${field(path)}: Must be a multiple of ${s.multipleOf}`);
    }
    if (Array.isArray(v)) {
      if (typeof s.minItems === 'number' && v.length < s.minItems) out.push(`${field(path)}: Array must have at least ${s.minItems} items`);
      if (typeof s.maxItems === 'number' && v.length > s.maxItems) out.push(`${field(path)}: Array must have at most ${s.maxItems} items`);
      if (s.uniqueItems === true && v.some((x, i) => v.findIndex((y) => deepEqual(x, y)) !== i)) out.push(`${field(path)}: array items must be unique`);
      if (Array.isArray(s.items)) v.forEach((x, i) => check((s.items as Schema[])[i] ?? (s.additionalItems as Schema | undefined), x, `${path ? path : ''}${path ? '.' : ''}${i}`, out));
      else if (s.items !== undefined) v.forEach((x, i) => check(s.items as Schema, x, `${path}${path ? '.' : ''}${i}`, out));
    }
    if (isMap(v)) {
      const props = (isMap(s.properties) ? s.properties : {}) as Record<string, Schema>;
      const patterns = (isMap(s.patternProperties) ? s.patternProperties : {}) as Record<string, Schema>;
      if (Array.isArray(s.required)) for (const r of s.required as string[]) if (!Object.hasOwn(v, r)) out.push(`${field(path)}: ${r} is required`);
      for (const [k, x] of Object.entries(v)) {
        const sub = path ? `${path}.${k}` : k;
        let matched = false;
        if (Object.hasOwn(props, k)) {
          matched = true;
          check(props[k], x, sub, out);
        }
        for (const [p, ps] of Object.entries(patterns)) {
          try {
            if (goRegex(p, false, k).test(k)) {
              matched = true;
              check(ps, x, sub, out);
            }
          } catch {
            /* unsupported pattern */
          }
        }
        if (!matched && s.additionalProperties !== undefined) {
          if (s.additionalProperties === false) out.push(`${field(path)}: Additional property ${k} is not allowed`);
          else check(s.additionalProperties as Schema, x, sub, out);
        }
      }
      if (isMap(s.dependencies)) {
        for (const [k, dep] of Object.entries(s.dependencies)) {
          if (!Object.hasOwn(v, k)) continue;
          if (Array.isArray(dep)) for (const d of dep as string[]) if (!Object.hasOwn(v, d)) out.push(`${field(path)}: Has a dependency on ${d}`);
          else check(dep as unknown as Schema, v, path, out);
        }
      }
      if (typeof s.minProperties === 'number' && Object.keys(v).length < s.minProperties) out.push(`${field(path)}: Must have at least ${s.minProperties} properties`);
      if (typeof s.maxProperties === 'number' && Object.keys(v).length > s.maxProperties) out.push(`${field(path)}: Must have at most ${s.maxProperties} properties`);
    }
    if (Array.isArray(s.allOf)) for (const sub of s.allOf as Schema[]) check(sub, v, path, out);
    if (Array.isArray(s.anyOf)) {
      if (!(s.anyOf as Schema[]).some((sub) => probe(sub, v, path))) out.push(`${field(path)}: Must validate at least one schema (anyOf)`);
    }
    if (Array.isArray(s.oneOf)) {
      const n = (s.oneOf as Schema[]).filter((sub) => probe(sub, v, path)).length;
      if (n !== 1) out.push(`${field(path)}: Must validate one and only one schema (oneOf)`);
    }
    if (s.not !== undefined && probe(s.not as Schema, v, path)) out.push(`${field(path)}: Must not validate the schema (not)`);
    if (s.if !== undefined) {
      if (probe(s.if as Schema, v, path)) check(s.then as Schema | undefined, v, path, out);
      else check(s.else as Schema | undefined, v, path, out);
    }
  };
  const probe = (s: Schema, v: unknown, path: string) => {
    const tmp: string[] = [];
    check(s, v, path, tmp);
    return tmp.length === 0;
  };
  try {
    check(root, value, '', errors);
  } catch (err) {
    if (err instanceof SchemaTooComplex) return [err.message];
    throw err;
  }
  return errors;
}

const MAX_SCHEMA_DEPTH = 256;
const MAX_SCHEMA_STEPS = 1_000_000;

class SchemaTooComplex extends Error {}

function normalise(v: unknown): unknown {
  return v;
}
