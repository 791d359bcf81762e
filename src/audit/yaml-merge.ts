import type { Document } from 'yaml';

/**
 * YAML merge keys (`<<: *base`, `<<: [*a, *b]`) as the programs reading the scanned files merge
 * them: Kubernetes objects and Helm values (go-yaml), Argo CD and Flux (sigs.k8s.io/yaml), GitLab
 * CI and Compose all take the keys of the merged maps that the map does not write itself (YAML
 * 1.1's merge type: the map's own keys win; of a list, the earlier map wins). The audit's parse
 * keeps `<<` a plain key (its findings are read where the text writes them); the values handed to
 * a renderer or a pipeline reader are merged here.
 *
 * Where go-yaml v2 and v3 part (a key written before `<<` that the merge sets too: v2, Argo CD's
 * and Helm's reader through sigs.k8s.io/yaml, lets the merged value win; v3 and the YAML type keep
 * the key), the map's own key is taken and `onDoubt` is told the key, so the caller names the value
 * as unknown instead of trusting either.
 */

/** A node's value with aliases resolved through `doc` (at most 100 alias expansions, as the readers bound them) and merge keys applied. */
export function mergedJS(node: { toJS(doc: Document, opts: { maxAliasCount: number }): unknown }, doc: Document, onDoubt?: (key: string) => void): unknown {
  return applyMergeKeys(node.toJS(doc, { maxAliasCount: 100 }), onDoubt);
}

const MERGE = '<<';

/**
 * At most this many keys copied into maps by merge keys in one call: `<<: *big` in 99 maps of one
 * document (within the readers' 100 aliases) copies `big` 99 times (a 2.5 MB GitLab CI file of a
 * 200 000-key anchor took 40 s and 2.7 GB). Past it the value is refused, as an alias bomb is.
 */
export const MAX_MERGED_KEYS = 100_000;

function isPlainMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Apply the merge keys inside `value` (plain objects and arrays, as `toJS` gives them), in place;
 * returns `value`. Each object is visited once (aliases make `toJS` share objects), children
 * before parents, so a merged map brings its own merges along. A `<<` whose value is not a map or
 * a list of maps is left as a key (the Go readers refuse such a file). Iterative: a deep tree
 * does not exhaust the stack.
 */
export function applyMergeKeys<T>(value: T, onDoubt?: (key: string) => void): T {
  const done = new Set<object>();
  const entered = new Set<object>();
  const stack: object[] = [];
  let copied = 0;
  if (typeof value === 'object' && value !== null) stack.push(value);
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (done.has(top)) {
      stack.pop();
      continue;
    }
    if (!entered.has(top)) {
      entered.add(top);
      for (const child of Object.values(top)) if (typeof child === 'object' && child !== null && !entered.has(child)) stack.push(child);
      continue;
    }
    stack.pop();
    done.add(top);
    if (!isPlainMap(top) || !Object.prototype.hasOwnProperty.call(top, MERGE)) continue;
    const merged = top[MERGE];
    const sources = Array.isArray(merged) ? merged : [merged];
    if (!sources.every(isPlainMap)) continue;
    if (onDoubt) {
      // Keys written before the `<<` (object key order is the document's, integer-like keys aside).
      const keys = Object.keys(top);
      const before = keys.slice(0, keys.indexOf(MERGE));
      for (const k of before) if (sources.some((src) => Object.prototype.hasOwnProperty.call(src, k))) onDoubt(k);
    }
    delete top[MERGE];
    for (const src of sources) {
      const keys = Object.keys(src);
      copied += keys.length;
      if (copied > MAX_MERGED_KEYS) throw new RangeError(`YAML merge keys (<<) copy more than ${MAX_MERGED_KEYS.toLocaleString('en-US')} keys into the maps of this value, the most ferry merges in one: not merged (a resource exhaustion attack, or a document to split)`);
      for (const k of keys) {
        const v = src[k];
        // defineProperty: a key named `__proto__` stays a key, never the object's prototype.
        if (!Object.prototype.hasOwnProperty.call(top, k)) Object.defineProperty(top, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
    }
  }
  return value;
}
