import { isAlias, isMap, isScalar, isSeq, LineCounter, type Node } from 'yaml';
import { parseHostileDocument, parseHostileDocuments } from '../../manifest/yaml-input.js';
import { FerryError } from '../../errors.js';
import { isMap as isGoMap, setKey } from './render/govalue.js';
import { parseGoYaml } from './render/goyaml.js';

/**
 * Helm values as plain data, with the file and line every leaf came from, so discovery can say
 * where it found an image even after user values were merged over the chart defaults.
 *
 * Numbers keep their source text (`tag: 1.10` stays "1.10", not 1.1): discovery never does
 * arithmetic, and an image tag written as a YAML float must not lose digits.
 */
export type Value = string | boolean | null | Value[] | { [key: string]: Value };
export type ValueMap = { [key: string]: Value };

export interface Origin {
  file: string;
  line?: number;
}

/** Origins per key of each map or list (keyed by index for lists). */
const ORIGINS = new WeakMap<object, Map<string, Origin>>();

export function originOf(container: object, key: string | number): Origin | undefined {
  return ORIGINS.get(container)?.get(String(key));
}

function setOrigin(container: object, key: string | number, origin: Origin | undefined): void {
  if (!origin) return;
  let m = ORIGINS.get(container);
  if (!m) ORIGINS.set(container, (m = new Map()));
  m.set(String(key), origin);
}

export function isValueMap(v: unknown): v is ValueMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse a values file; `file` is how provenance names it. Empty text → {}. */
export function parseValues(text: string, file: string): ValueMap {
  const lc = new LineCounter();
  // Helm (go-yaml v2's Unmarshal) reads the first document of a multi-document file and ignores the rest.
  const docs = parseHostileDocuments(text, { lineCounter: lc, duplicates: 'last-wins', prettyErrors: true });
  const doc = Array.isArray(docs) && docs.length > 0 ? docs[0] : parseHostileDocument(text, { lineCounter: lc, duplicates: 'last-wins', prettyErrors: true });
  if (doc.errors.length) {
    // What Helm's go-yaml reads and the YAML 1.2 reader does not (a flow list whose items are
    // indented no deeper than its key, as thumbor's chart writes one) is read as Helm reads it,
    // without line numbers; only what neither reads is refused.
    const helm = helmReads(text);
    if (helm !== undefined) return helm;
    throw new FerryError('VALIDATION', `${file}: not valid YAML`, {
      details: doc.errors.map((e) => `line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`),
      hint: 'Fix the values file; Helm would refuse it too.',
    });
  }
  const lineOf = (n: Node | null | undefined): number | undefined => (n?.range ? lc.linePos(n.range[0]).line : undefined);
  const convert = (node: unknown, depth = 0): Value => {
    if (depth > 64) return null;
    if (isAlias(node)) return convert(node.resolve(doc), depth + 1);
    if (isMap(node)) {
      const out: ValueMap = {};
      const merges: Value[] = [];
      for (const pair of node.items) {
        const keyNode = pair.key as Node | null;
        const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
        if (key === '<<' && (isAlias(pair.value) || isSeq(pair.value))) {
          // YAML merge keys: `<<: *defaults` (or a list of them); explicit keys win.
          const v = convert(pair.value, depth + 1);
          merges.push(...(Array.isArray(v) ? v : [v]));
          continue;
        }
        setKey(out, key, convert(pair.value, depth + 1));
        setOrigin(out, key, { file, line: lineOf(keyNode) ?? lineOf(pair.value as Node) });
      }
      for (const m of merges) {
        if (!isValueMap(m)) continue;
        for (const [k, v] of Object.entries(m)) {
          if (Object.hasOwn(out, k)) continue;
          setKey(out, k, v);
          setOrigin(out, k, originOf(m, k));
        }
      }
      return out;
    }
    if (isSeq(node)) {
      const out: Value[] = [];
      node.items.forEach((item, i) => {
        out.push(convert(item, depth + 1));
        setOrigin(out, i, { file, line: lineOf(item as Node) });
      });
      return out;
    }
    if (isScalar(node)) {
      const v = node.value;
      if (v === null || v === undefined) return null;
      if (typeof v === 'boolean' || typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'bigint') return node.source ?? String(v);
      return String(v);
    }
    return null;
  };
  const root = doc.contents ? convert(doc.contents) : {};
  return isValueMap(root) ? root : {};
}

/** The values as Helm's YAML reader (go-yaml, ferry's render/goyaml.ts) reads them, or undefined where it refuses them too. */
export function helmReads(text: string): ValueMap | undefined {
  let v: unknown;
  try {
    v = parseGoYaml(text);
  } catch {
    return undefined;
  }
  const plain = (x: unknown, depth: number): Value => {
    if (depth > 64 || x === null || x === undefined) return null;
    if (typeof x === 'string' || typeof x === 'boolean') return x;
    if (Array.isArray(x)) return x.map((e) => plain(e, depth + 1));
    if (isGoMap(x)) {
      const out: ValueMap = {};
      for (const [k, e] of Object.entries(x)) setKey(out, k, plain(e, depth + 1));
      return out;
    }
    // Numbers (an int, an int64, a float64): as their scalars read above, text.
    return String(x);
  };
  const root = plain(v, 0);
  return root === null ? {} : isValueMap(root) ? root : undefined;
}

/** Deep copy keeping origins. */
export function cloneValue(v: Value): Value {
  if (Array.isArray(v)) {
    const out = v.map(cloneValue);
    v.forEach((_x, i) => setOrigin(out, i, originOf(v, i)));
    return out;
  }
  if (isValueMap(v)) {
    const out: ValueMap = {};
    for (const [k, x] of Object.entries(v)) {
      setKey(out, k, cloneValue(x));
      setOrigin(out, k, originOf(v, k));
    }
    return out;
  }
  return v;
}

/**
 * Helm's coalescing: `over` wins over `base`; maps merge recursively; a null in `over`
 * deletes the key (how users remove a default); lists replace.
 */
export function mergeValues(base: ValueMap, over: ValueMap): ValueMap {
  return mergeInto(cloneValue(base) as ValueMap, over);
}

/** `over` merged into `out`, a copy the caller owns: each level is copied once, not once per depth. */
function mergeInto(out: ValueMap, over: ValueMap): ValueMap {
  for (const [k, v] of Object.entries(over)) {
    if (v === null) {
      delete out[k];
      continue;
    }
    const cur = Object.hasOwn(out, k) ? out[k] : undefined;
    // A merged map keeps where it was defined; its overridden leaves carry their own origins.
    if (isValueMap(cur) && isValueMap(v)) mergeInto(cur, v);
    else {
      setKey(out, k, cloneValue(v));
      setOrigin(out, k, originOf(over, k));
    }
  }
  return out;
}

/** Value at a dotted path (`postgresql.enabled`), or undefined. */
export function valueAt(root: ValueMap, path: string): Value | undefined {
  let cur: Value | undefined = root;
  for (const part of path.split('.').filter(Boolean)) {
    if (!isValueMap(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

export function asString(v: Value | undefined): string | undefined {
  if (typeof v === 'string') return v;
  return undefined;
}

/** Helm's truthiness for a condition value. */
export function asBoolean(v: Value | undefined): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  return undefined;
}
