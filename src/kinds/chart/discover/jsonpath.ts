/**
 * The part of Kubernetes JSONPath (k8s.io/client-go/util/jsonpath) that oc-mirror's `imagePaths`
 * are written in: one `{…}` expression of `.field`, `['field']`, `..field` (recursive), `[*]` /
 * `.*`, `[n]` (negative from the end) and `[?(@.a.b == 'v')]` / `!=` / `[?(@.a)]` filters. What
 * it selects is printed as client-go prints it (strings, space-separated, which oc-mirror then
 * splits on spaces); anything else in a path is refused with the reason, never half-evaluated.
 * Bounded: the path's length and steps, and the nodes a walk may visit. A chart entry's
 * `imagePaths` (the lock) and an oc-mirror local chart's (convert) are read through imagesAtPath.
 */
import type { RenderedDocument } from '../render/index.js';
import { normalizeRef } from './rendered.js';


export type JsonPathStep =
  | { kind: 'field'; name: string; recursive: boolean }
  | { kind: 'all'; recursive: boolean }
  | { kind: 'index'; index: number }
  | { kind: 'filter'; path: string[]; op?: '==' | '!='; value?: string };

export const JSONPATH_LIMITS = { length: 512, steps: 64, visits: 2_000_000 };

const NAME = /^[A-Za-z0-9_-]+/;

/** A path compiled, or why it is not evaluated. */
export function compileJsonPath(expr: string): { steps: JsonPathStep[] } | { problem: string } {
  if (expr.length > JSONPATH_LIMITS.length) return { problem: `longer than ${JSONPATH_LIMITS.length} characters` };
  const t = expr.trim();
  if (!t.startsWith('{') || !t.endsWith('}') || t.indexOf('{', 1) >= 0) return { problem: 'not one {…} JSONPath expression (text around it, or several)' };
  let s = t.slice(1, -1).trim();
  if (s.startsWith('$')) s = s.slice(1);
  const steps: JsonPathStep[] = [];
  let i = 0;
  while (i < s.length) {
    if (steps.length >= JSONPATH_LIMITS.steps) return { problem: `more than ${JSONPATH_LIMITS.steps} steps` };
    const recursive = s.startsWith('..', i);
    if (s[i] === '.') {
      i += recursive ? 2 : 1;
      if (s[i] === '*') {
        steps.push({ kind: 'all', recursive });
        i++;
        continue;
      }
      const m = NAME.exec(s.slice(i));
      if (!m) return { problem: `a field name expected at "${s.slice(i, i + 16)}"` };
      steps.push({ kind: 'field', name: m[0], recursive });
      i += m[0].length;
      continue;
    }
    if (s[i] !== '[') return { problem: `"${s.slice(i, i + 16)}" is not a step ferry evaluates` };
    const close = s.indexOf(']', i);
    if (close < 0) return { problem: 'a [ without ]' };
    const inner = s.slice(i + 1, close).trim();
    i = close + 1;
    if (inner === '*') steps.push({ kind: 'all', recursive: false });
    else if (/^-?\d{1,9}$/.test(inner)) steps.push({ kind: 'index', index: Number(inner) });
    else if (/^'[^']*'$|^"[^"]*"$/.test(inner)) steps.push({ kind: 'field', name: inner.slice(1, -1), recursive: false });
    else if (inner.startsWith('?(') && inner.endsWith(')')) {
      const f = /^@((?:\.[A-Za-z0-9_-]+)+)\s*(?:(==|!=)\s*(?:'([^']*)'|"([^"]*)"|(-?[\w.]+)))?$/.exec(inner.slice(2, -1).trim());
      if (!f) return { problem: `the filter [${inner}] is not one ferry evaluates (@.field, @.field == 'value', @.field != 'value')` };
      steps.push({ kind: 'filter', path: f[1].slice(1).split('.'), op: f[2] as '==' | '!=' | undefined, value: f[3] ?? f[4] ?? f[5] });
    } else return { problem: `[${inner}] is not a step ferry evaluates (slices and unions are not)` };
  }
  if (!steps.length) return { problem: 'selects the whole document' };
  return { steps };
}

const isObj = (v: unknown): v is Record<string, unknown> => Boolean(v) && typeof v === 'object' && !Array.isArray(v);
const children = (v: unknown): unknown[] => (Array.isArray(v) ? v : isObj(v) ? Object.values(v) : []);

/** Scalars as client-go prints them, for filters. */
function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return undefined;
}

/**
 * The strings `steps` select in `doc`, split on spaces as oc-mirror splits client-go's output;
 * undefined when the walk would visit more than the limit's nodes (`budget` is shared across calls).
 */
export function evaluateJsonPath(steps: JsonPathStep[], doc: unknown, budget: { visits: number }): string[] | undefined {
  let nodes: unknown[] = [doc];
  const spend = (n: number) => (budget.visits -= n) >= 0;
  for (const step of steps) {
    let pool = nodes;
    if ((step.kind === 'field' || step.kind === 'all') && step.recursive) {
      // Every node at or below the current ones (client-go's recursive descent), breadth first.
      pool = [];
      const queue = [...nodes];
      for (let q = 0; q < queue.length; q++) {
        if (!spend(1)) return undefined;
        pool.push(queue[q]);
        for (const c of children(queue[q])) queue.push(c);
      }
    }
    const next: unknown[] = [];
    for (const n of pool) {
      if (!spend(1)) return undefined;
      if (step.kind === 'field') {
        if (isObj(n) && Object.hasOwn(n, step.name)) next.push(n[step.name]);
      } else if (step.kind === 'all') {
        const c = children(n);
        if (!spend(c.length)) return undefined;
        for (const x of c) next.push(x);
      } else if (step.kind === 'index') {
        if (Array.isArray(n)) {
          const k = step.index < 0 ? n.length + step.index : step.index;
          if (k >= 0 && k < n.length) next.push(n[k]);
        }
      } else {
        const list = Array.isArray(n) ? n : [n];
        if (!spend(list.length)) return undefined;
        for (const el of list) {
          let v: unknown = el;
          for (const key of step.path) v = isObj(v) && Object.hasOwn(v, key) ? v[key] : undefined;
          const keep = step.op === undefined ? v !== undefined && v !== null && v !== false : step.op === '==' ? scalarText(v) === step.value : scalarText(v) !== step.value;
          if (keep) next.push(el);
        }
      }
    }
    nodes = next;
  }
  return nodes.flatMap((n) => (typeof n === 'string' ? n.split(' ').filter(Boolean) : []));
}

/** What one path finds in a chart's rendered objects. */
export interface ImagePathFindings {
  /** Image references found (normalized), in the order found. */
  refs: string[];
  /** Bare words found (no registry path, tag or digest): no image anyone means, though oc-mirror would try docker.io/library/<word>:latest. */
  bare: string[];
  /** The walk ran out of its budget: images the path names may be missing. */
  exhausted: boolean;
}

/**
 * The images a compiled path selects in every rendered object, as oc-mirror reads them
 * (client-go's output split on spaces; a result that is no image reference is passed over).
 * `budget` is shared by every path of one chart.
 */
export function imagesAtPath(steps: JsonPathStep[], documents: readonly RenderedDocument[], budget: { visits: number }): ImagePathFindings {
  const refs = new Set<string>();
  const bare = new Set<string>();
  for (const d of documents) {
    const strings = evaluateJsonPath(steps, d.object, budget);
    if (strings === undefined) return { refs: [...refs], bare: [...bare], exhausted: true };
    for (const s of strings) {
      const ref = normalizeRef(s);
      if (ref !== undefined && (s.includes('/') || s.includes(':') || s.includes('@'))) refs.add(ref);
      else if (ref !== undefined) bare.add(s);
    }
  }
  return { refs: [...refs], bare: [...bare], exhausted: false };
}

/** One `imagePaths` entry read: why it is not evaluated, or what it found. */
export type ImagePathOutcome = { path: string; problem: string } | ({ path: string } & ImagePathFindings);

/**
 * Each JSONPath of an `imagePaths` list read in every rendered object, one visit budget for them
 * all (JSONPATH_LIMITS.visits): a path ferry does not evaluate has its `problem`; the others what
 * they found (image references, bare words, whether the budget ran out). Callers say it their way
 * (lock's warnings, convert's report).
 */
export function imagePathOutcomes(paths: readonly string[], documents: readonly RenderedDocument[]): ImagePathOutcome[] {
  const budget = { visits: JSONPATH_LIMITS.visits };
  return paths.map((path) => {
    const compiled = compileJsonPath(path);
    return 'problem' in compiled ? { path, problem: compiled.problem } : { path, ...imagesAtPath(compiled.steps, documents, budget) };
  });
}

/** Words for a path's bare-word findings (up to 8 shown). */
export function bareWords(bare: readonly string[]): string {
  return bare.slice(0, 8).join(', ') + (bare.length > 8 ? `, … (${bare.length})` : '');
}

/** What a chart's `imagePaths` found in its render: each image with the paths that found it, and what to warn. */
export interface ImagePathsRead {
  /** Image reference → the paths that found it (in the order given). */
  found: Map<string, string[]>;
  warnings: string[];
}

/**
 * A chart's `imagePaths` read in the objects of its render with `values` (words for the values it
 * was rendered with: "the manifest's values"), one function for `lock` and `ferry charts images`:
 * what cannot be read (no render, the walk's budget spent), a bare word found there and a path
 * that finds nothing are warned, never guessed. `what` names the chart (`chart acme 1.0.0`).
 */
export function readImagePaths(paths: readonly string[], documents: readonly RenderedDocument[], renderError: string | undefined, what: string, values = "the manifest's values"): ImagePathsRead {
  const found = new Map<string, string[]>();
  const warnings: string[] = [];
  if (renderError !== undefined) {
    warnings.push(`${what}: imagePaths not read (${paths.join(', ')}): the chart did not render with ${values}, so the images only they name are NOT carried; set the values it needs under values:, or list those images under images:`);
    return { found, warnings };
  }
  for (const o of imagePathOutcomes(paths, documents)) {
    if ('problem' in o) {
      warnings.push(`${what}: imagePaths ${o.path} not read: ${o.problem}`);
      continue;
    }
    const { path: p, refs, bare, exhausted } = o;
    for (const r of refs) found.set(r, [...(found.get(r) ?? []), p]);
    if (exhausted) warnings.push(`${what}: imagePaths ${p} not read in every rendered object (more than ${JSONPATH_LIMITS.visits} steps), so an image it names may be missing: list it under images:`);
    if (bare.length) warnings.push(`${what}: imagePaths ${p} finds ${bareWords(bare)}: a bare word (no registry path, tag or digest) is not carried as an image; list it under images: with its full reference if it is one`);
    if (!refs.length && !bare.length && !exhausted) warnings.push(`${what}: imagePaths ${p} finds no image in the chart rendered with ${values}`);
  }
  return { found, warnings };
}
