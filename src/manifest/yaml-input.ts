import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  parseDocument,
  YAMLParseError,
  type Document,
  type DocumentOptions,
  type EmptyStream,
  type Node,
  type ParseOptions,
  type SchemaOptions,
} from 'yaml';

/**
 * Every YAML text ferry parses comes from outside (an index.yaml, a chart's files, a manifest, a
 * bundle's YAML, files `audit` and `rewrite` scan), so it is parsed here, in linear time.
 *
 * The yaml library's duplicate-key check (`uniqueKeys`, on by default) compares each key of a map
 * with every key before it: a map of 20 000 keys took 9.8 s, 40 000 keys 71 s, an index.yaml with
 * 100 000 chart names hours. Here the library's check is always off, and where a caller refuses a
 * key written twice (`duplicates: 'refuse'`), one Set a map finds them, reported as the library
 * did (a YAMLParseError "Map keys must be unique" in the document's errors, with its line).
 *
 * Keys are equal as the library's default check has them (scalars of the same value and type: `1`
 * and `'1'` differ, `~` and `null` do not), and a key written as an alias (`*a: x`) is its
 * anchor's value (the library never compared those). Merge keys (`<<` where merges are read,
 * YAML 1.1 or `merge: true`) are not keys of the map but instructions to merge, and a map may hold
 * several: the library lets them be, so does this; with merges off `<<` is a plain key like any.
 */

/** Whether a map key written twice is refused (as the library's check did) or the later one wins (go-yaml v2, Helm's values). */
export type DuplicateKeys = 'refuse' | 'last-wins';

export type HostileYamlOptions = Omit<ParseOptions & DocumentOptions & SchemaOptions, 'uniqueKeys'> & { duplicates: DuplicateKeys };

/** Duplicate keys reported a document at most: the first is what callers print. */
const MAX_DUPLICATES_REPORTED = 20;

/** Alias expansion allowed when a document becomes plain data (the library's own default, made explicit). */
export const MAX_ALIAS_COUNT = 100;

function libraryOptions(options: HostileYamlOptions): { opts: ParseOptions & DocumentOptions & SchemaOptions; lc: LineCounter | undefined } {
  const { duplicates: _, ...rest } = options;
  // The library counts lines for its pretty errors only when given a counter or left to make its
  // own; ours needs the same counter for the duplicate keys it reports.
  const lc = rest.lineCounter ?? (rest.prettyErrors === false ? undefined : new LineCounter());
  return { opts: { ...rest, lineCounter: lc, uniqueKeys: false }, lc };
}

/** One YAML document (parseDocument), in linear time; duplicate keys in its errors when refused. */
export function parseHostileDocument(text: string, options: HostileYamlOptions): Document.Parsed {
  const { opts, lc } = libraryOptions(options);
  const doc = parseDocument(text, opts);
  if (options.duplicates === 'refuse') addDuplicateKeyErrors(doc, lc, options.prettyErrors !== false);
  return doc;
}

/** Every YAML document of a stream (parseAllDocuments), in linear time; duplicate keys in each one's errors when refused. */
export function parseHostileDocuments(text: string, options: HostileYamlOptions): Document.Parsed[] | EmptyStream {
  const { opts, lc } = libraryOptions(options);
  const docs = parseAllDocuments(text, opts);
  if (options.duplicates === 'refuse' && Array.isArray(docs)) for (const doc of docs) addDuplicateKeyErrors(doc, lc, options.prettyErrors !== false);
  return docs;
}

/**
 * One YAML document as plain data, as the library's `parse` gives it, in linear time: the first
 * error (a duplicate key when refused) thrown, aliases bounded (MAX_ALIAS_COUNT), warnings not
 * printed (the library's parse writes them to the console).
 */
export function parseHostileYaml(text: string, options: HostileYamlOptions & { maxAliasCount?: number }): unknown {
  const { maxAliasCount, ...rest } = options;
  const doc = parseHostileDocument(text, rest);
  if (doc.errors.length) throw doc.errors[0];
  return doc.toJS({ maxAliasCount: maxAliasCount ?? MAX_ALIAS_COUNT });
}

/** A key's identity for equality, as the library's default check compares keys; undefined when it equals no other key. */
function keyIdentity(key: unknown, anchors: Map<string, Node>): string | undefined {
  if (isAlias(key) && !anchors.has(key.source)) return undefined;
  const k = isAlias(key) ? anchors.get(key.source) : key;
  if (k === null || k === undefined) return 'null';
  if (!isScalar(k)) return undefined;
  const v = k.value;
  if (v === null || v === undefined) return 'null';
  // A merge key is a Symbol, a timestamp a Date, binary a Uint8Array: the library compares them by
  // identity, so no two are equal. NaN equals nothing.
  if (typeof v === 'object' || typeof v === 'symbol' || typeof v === 'function' || Number.isNaN(v)) return undefined;
  return `${typeof v === 'bigint' ? 'number' : typeof v}:${String(v)}`;
}

/** A key's text, quoted and cut for a message. */
function shownKey(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text);
}

/**
 * The keys written twice in a map of `doc` (the later one of each pair), in document order: one
 * walk, one Set a map. Anchors are recorded as the walk meets them, so an alias key is its
 * anchor's value at that point of the document (an anchor may be defined again later).
 */
export function duplicateKeys(doc: Document, limit = MAX_DUPLICATES_REPORTED): Array<{ key: Node; text: string }> {
  const found: Array<{ key: Node; text: string }> = [];
  const anchors = new Map<string, Node>();
  // An explicit stack, in document order: a node is entered (its anchor recorded) before what follows it.
  type Task = { node: unknown } | { key: unknown; seen: Set<string> };
  const stack: Task[] = [{ node: doc.contents }];
  while (stack.length && found.length < limit) {
    const task = stack.pop()!;
    if ('seen' in task) {
      const id = keyIdentity(task.key, anchors);
      if (id === undefined) continue;
      if (task.seen.has(id)) found.push({ key: task.key as Node, text: id.slice(id.indexOf(':') + 1) });
      else task.seen.add(id);
      continue;
    }
    const node = task.node;
    if (node === null || node === undefined || isAlias(node)) continue;
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor) anchors.set(anchor, node as Node);
    if (isMap(node)) {
      const seen = new Set<string>();
      for (let i = node.items.length - 1; i >= 0; i--) {
        const pair = node.items[i];
        stack.push({ node: pair.value }, { key: pair.key, seen }, { node: pair.key });
      }
    } else if (isSeq(node)) {
      for (let i = node.items.length - 1; i >= 0; i--) stack.push({ node: node.items[i] });
    }
  }
  return found;
}

function addDuplicateKeyErrors(doc: Document.Parsed, lc: LineCounter | undefined, pretty: boolean): void {
  const dups = duplicateKeys(doc);
  if (!dups.length) return;
  for (const { key, text } of dups) {
    const range = (key as { range?: [number, number, number] }).range ?? [-1, -1, -1];
    const err = new YAMLParseError([range[0], range[1]], 'DUPLICATE_KEY', `Map keys must be unique (${shownKey(text)} is written twice)`);
    if (lc && range[0] >= 0) {
      err.linePos = [lc.linePos(range[0]), lc.linePos(range[1])];
      if (pretty) err.message += ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}`;
    }
    doc.errors.push(err);
  }
  doc.errors.sort((a, b) => a.pos[0] - b.pos[0]);
}
