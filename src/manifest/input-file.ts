import { open } from 'node:fs/promises';
import { isAlias, isMap, isScalar, isSeq, LineCounter, type Document, type Node } from 'yaml';
import { FerryError, unreadableFile } from '../errors.js';
import { parseHostileDocument, parseHostileDocuments } from './yaml-input.js';

/**
 * Manifests, targets and locks come from outside: a file may be huge, its YAML may carry alias
 * bombs, cycles or absurd nesting. Everything here is bounded before it costs memory, and every
 * failure is a VALIDATION error naming the file and, where there is one, the line:column.
 */
export const INPUT_LIMITS = {
  /** Bytes of a manifest or target file (the largest seed manifest is ~45 KiB). */
  yamlBytes: 512 * 1024,
  /**
   * Structural tokens (`,[]{}:-?&*!|>#` and line breaks) of a YAML file: the `yaml` library
   * needs ~1 KiB of memory per token while parsing, so dense input is refused before parsing
   * (the largest seed manifest has ~4 500).
   */
  yamlTokens: 20_000,
  /** Nesting depth of a YAML or JSON document, aliases expanded. */
  depth: 64,
  /** Nodes of a YAML document once aliases are expanded. */
  expandedNodes: 100_000,
  /** Characters of scalar text once aliases are expanded. */
  expandedChars: 8 * 1024 * 1024,
  /** Bytes of a lock file (JSON). */
  jsonBytes: 32 * 1024 * 1024,
} as const;

const MiB = (n: number) => (n >= 1024 * 1024 ? `${n / (1024 * 1024)} MiB` : `${n / 1024} KiB`);

/** Read at most `cap` bytes; a larger (or endless, e.g. /dev/zero) file is refused without reading it all. */
export async function readCapped(file: string, cap: number, what: string): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw unreadableFile(file, what, err);
  }
  const tooLarge = () =>
    new FerryError('VALIDATION', `${file}: ${what} is larger than the ${MiB(cap)} ferry reads`, {
      hint: `A ${what} is a small text file; check that the path names the right file.`,
    });
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    // A regular file is read into one buffer of its size (and a byte more, to see it grow): 64 KiB
    // copies joined were the text twice over at once (a 60 000-package lock is 21 MB), and the C
    // allocator kept the small copies resident for the rest of the run.
    const st = await fh.stat();
    if (st.isFile() && st.size <= cap) {
      const whole = Buffer.allocUnsafeSlow(st.size + 1);
      while (total < whole.length) {
        const { bytesRead } = await fh.read(whole, total, whole.length - total, null);
        if (bytesRead === 0) return whole.toString('utf8', 0, total);
        total += bytesRead;
      }
      chunks.push(whole);
      if (total > cap) throw tooLarge();
    }
    const buf = Buffer.alloc(Math.min(cap + 1, 64 * 1024));
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > cap) throw tooLarge();
      chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    if (err instanceof FerryError) throw err;
    // A directory opens fine and fails on the first read (EISDIR).
    throw unreadableFile(file, what, err);
  } finally {
    await fh.close();
  }
}

// eslint-disable-next-line no-useless-escape
const STRUCTURAL = /[,\[\]{}:\-?&*!|>#\n]/g;

function invalidYaml(file: string, what: string, problems: string[]): FerryError {
  return new FerryError('VALIDATION', `${file}: ${what} is not valid YAML (${problems.length} problem${problems.length === 1 ? '' : 's'})`, {
    details: problems,
    hint: 'Fix the YAML at the lines named; anchors must come before their aliases, and an alias may not point into itself.',
  });
}

interface Measured {
  nodes: number;
  chars: number;
  height: number;
  value: unknown;
}

/**
 * Turn the parsed document into plain data in one walk, in document order, bounding what it
 * becomes with aliases expanded. Every anchor comes before its aliases, so an alias's target is
 * either already converted (shared, as the `yaml` library shares it; measured once: linear time)
 * or an ancestor still being walked (a cycle, refused). The library's own toJS is not used: it
 * resolves each alias by scanning the document (quadratic) and reports no position.
 */
function toPlainData(doc: Document, lc: LineCounter, file: string, what: string, budget = { nodes: 0, chars: 0 }): unknown {
  const problems: string[] = [];
  const anchors = new Map<string, Node>();
  const done = new Map<Node, Measured>();
  const walking = new Set<Node>();
  const at = (node: unknown): string => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    if (!range) return 'line ?';
    const p = lc.linePos(range[0]);
    return `line ${p.line}:${p.col}`;
  };
  const limit = (node: unknown, message: string): never => {
    throw new FerryError('VALIDATION', `${file}: ${what} ${message} (${at(node)})`, {
      hint: 'Aliases and nesting are for sharing a few values; write the content out, or split the file.',
    });
  };
  const count = (node: unknown, m: Omit<Measured, 'value'>, depth: number) => {
    budget.nodes += m.nodes;
    budget.chars += m.chars;
    if (depth + m.height > INPUT_LIMITS.depth) limit(node, `nests deeper than ${INPUT_LIMITS.depth} levels`);
    if (budget.nodes > INPUT_LIMITS.expandedNodes) limit(node, `expands to more than ${INPUT_LIMITS.expandedNodes} nodes through aliases`);
    if (budget.chars > INPUT_LIMITS.expandedChars) limit(node, `expands to more than ${MiB(INPUT_LIMITS.expandedChars)} of text through aliases`);
  };
  const bad = (node: unknown, message: string): Measured => {
    problems.push(`${at(node)}: ${message}`);
    return { nodes: 1, chars: 0, height: 1, value: null };
  };
  const keyOf = (key: unknown): string | undefined => {
    const k = isAlias(key) ? (anchors.get(key.source) ?? key) : key;
    if (k === null || k === undefined) return '';
    if (isScalar(k)) return k.value === null || k.value === undefined ? '' : String(k.value);
    return undefined;
  };
  const walk = (node: unknown, depth: number): Measured => {
    if (depth > INPUT_LIMITS.depth) limit(node, `nests deeper than ${INPUT_LIMITS.depth} levels`);
    if (node === null || node === undefined) return { nodes: 0, chars: 0, height: 0, value: null };
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (!target) return bad(node, `alias *${node.source} names no anchor before it`);
      if (walking.has(target)) return bad(node, `alias *${node.source} points into its own anchor (a cyclic structure)`);
      const m = done.get(target);
      if (!m) return bad(node, `alias *${node.source} cannot be resolved`);
      count(node, m, depth);
      return m;
    }
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor) anchors.set(anchor, node as Node);
    if (isScalar(node)) {
      const v = node.value;
      const m: Measured = { nodes: 1, chars: typeof v === 'string' ? v.length : 8, height: 1, value: v ?? null };
      if (typeof v === 'object' && v !== null) return bad(node, `unsupported YAML value (tag ${node.tag ?? '?'})`);
      done.set(node, m);
      count(node, m, depth);
      return m;
    }
    if (isMap(node) || isSeq(node)) {
      walking.add(node);
      count(node, { nodes: 1, chars: 0, height: 1 }, depth);
      const m: Measured = { nodes: 1, chars: 0, height: 1, value: undefined };
      const add = (c: Measured) => {
        m.nodes += c.nodes;
        m.chars += c.chars;
        m.height = Math.max(m.height, c.height + 1);
      };
      if (isSeq(node)) {
        const out: unknown[] = [];
        for (const item of node.items) {
          const c = walk(item, depth + 1);
          add(c);
          out.push(c.value);
        }
        m.value = out;
      } else {
        const out: Record<string, unknown> = {};
        for (const pair of node.items) {
          const k = walk(pair.key, depth + 1);
          add(k);
          const name = keyOf(pair.key);
          const v = walk(pair.value, depth + 1);
          add(v);
          if (name === undefined) {
            bad(pair.key, 'a key must be a plain value, not a list or map');
            continue;
          }
          // A key named __proto__ is data, not the object's prototype.
          Object.defineProperty(out, name, { value: v.value, enumerable: true, writable: true, configurable: true });
        }
        m.value = out;
      }
      walking.delete(node);
      done.set(node, m);
      return m;
    }
    return bad(node, 'unsupported YAML node');
  };
  const root = walk(doc.contents, 0);
  if (problems.length) throw invalidYaml(file, what, problems);
  return root.value;
}

/** A scalar's string value (numbers keep their source text: tag 1.10 stays "1.10"). */
export function scalarText(node: unknown): string | undefined {
  if (!isScalar(node)) return undefined;
  const v = node.value;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return node.source ?? String(v);
  return undefined;
}

/** Whether `text` has more than `limit` structural YAML tokens (counted without parsing, stopping at the limit). */
export function yamlTokensOver(text: string, limit: number): boolean {
  const re = new RegExp(STRUCTURAL.source, 'g');
  let tokens = 0;
  while (re.exec(text)) if (++tokens > limit) return true;
  return false;
}

/**
 * Structural tokens of a configuration file ferry parses as YAML to rewrite or audit it (values,
 * manifests, kustomizations, catalogues). The yaml library needs ~1 KiB per token while parsing
 * (measured: a 5 MB list of one-character items, 1.3 M tokens, took 1.1 GB and 8.5 s; a 5 MB flow
 * sequence 2.3 GB and 13 s), so a file denser than this is refused before parsing: at most ~1 GB.
 * A real configuration file is far below it (cert-manager's largest CRD, 325 KB: 9 200 tokens).
 */
export const CONFIG_YAML_TOKENS = 1_000_000;

/** Refuse (VALIDATION, naming the file) configuration YAML denser than CONFIG_YAML_TOKENS, before parsing it. */
export function checkConfigYamlDensity(text: string, file: string, what: string): void {
  if (!yamlTokensOver(text, CONFIG_YAML_TOKENS)) return;
  throw new FerryError('VALIDATION', `${file}: ${what} has more than ${CONFIG_YAML_TOKENS.toLocaleString('en-US')} YAML tokens (list items, keys, flow commas, lines); ferry does not parse YAML that dense (about 1 KiB of memory per token)`, {
    hint: 'Split the file, or check that it is the file you meant (a generated dump?).',
  });
}

/**
 * Parse YAML text from an untrusted file into plain data, or throw a VALIDATION error that names
 * the file and the line:column of every problem the parser reports (errors and warnings alike).
 */
export function parseYamlText(text: string, file: string, what: string): unknown {
  checkYamlText(text, file, what);
  const lc = new LineCounter();
  const doc = parseHostileDocument(text, { lineCounter: lc, prettyErrors: false, duplicates: 'refuse' });
  throwParseProblems([doc], lc, file, what);
  return toPlainData(doc, lc, file, what);
}

/** One document of a multi-document YAML file: its plain data, and where a value of it sits. */
export interface YamlDocumentData {
  value: unknown;
  /** The 1-based line of the node at `path` in the file (of its nearest ancestor that has one). */
  lineOf(path: ReadonlyArray<string | number>): number | undefined;
}

/**
 * Parse every document of a multi-document YAML file (`---` separated) from outside, with the
 * bounds of parseYamlText: the file's size and token count, and the nodes and text that aliases
 * expand to, counted over all its documents together. Empty documents are left out.
 */
export function parseYamlDocuments(text: string, file: string, what: string): YamlDocumentData[] {
  checkYamlText(text, file, what);
  const lc = new LineCounter();
  const docs = parseHostileDocuments(text, { lineCounter: lc, prettyErrors: false, duplicates: 'refuse' });
  const list = Array.isArray(docs) ? docs : [];
  throwParseProblems(list, lc, file, what);
  const budget = { nodes: 0, chars: 0 };
  return list
    .filter((doc) => doc.contents !== null)
    .map((doc) => ({
      value: toPlainData(doc, lc, file, what, budget),
      lineOf: (path) => {
        for (let n = path.length; n >= 0; n--) {
          const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
          const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
          if (range) return lc.linePos(range[0]).line;
        }
        return undefined;
      },
    }));
}

function throwParseProblems(docs: Document[], lc: LineCounter, file: string, what: string): void {
  const problems = docs.flatMap((doc) => [...doc.errors, ...doc.warnings]).map((e) => {
    const p = lc.linePos(e.pos[0]);
    return `line ${p.line}:${p.col}: ${e.message.split('\n')[0]}`;
  });
  if (problems.length) throw invalidYaml(file, what, problems);
}

/** The checks made on YAML text before it is parsed: size, binary content, token count. */
function checkYamlText(text: string, file: string, what: string): void {
  if (text.length > INPUT_LIMITS.yamlBytes) {
    throw new FerryError('VALIDATION', `${file}: ${what} is larger than the ${MiB(INPUT_LIMITS.yamlBytes)} ferry reads`);
  }
  // A binary file (a bundle tar or one of its parts, an archive) is not YAML: say so once, rather
  // than list the parser's thousands of complaints about its bytes.
  if (text.includes('\u0000')) {
    const tar = text.slice(257, 262) === 'ustar';
    throw new FerryError('VALIDATION', `${file}: ${what} is a binary file${tar ? ' (a tar archive: a ferry bundle, or a part of a split one?)' : ''}, not YAML`, {
      hint: tar
        ? `Name the ${what} YAML here. A bundle goes where a command takes one: \`ferry map <bundle>\`, \`--bundle <bundle>\` (rewrite, mirror-config, report); its manifest is ferry/manifest.yaml inside it.`
        : `Check that the path names the ${what} YAML file.`,
    });
  }
  if (yamlTokensOver(text, INPUT_LIMITS.yamlTokens)) {
    throw new FerryError('VALIDATION', `${file}: ${what} has more than ${INPUT_LIMITS.yamlTokens} YAML tokens (list items, keys, lines), more than ferry parses`, {
      hint: 'A manifest this dense is not hand-written; check the file, or split it.',
    });
  }
}

/** Read and parse a YAML manifest or target file; a missing file is a USAGE error. */
export async function readYamlFile(file: string, what: string): Promise<unknown> {
  const text = await readCapped(file, INPUT_LIMITS.yamlBytes, what);
  if (text === undefined) throw unreadableFile(file, what, 'ENOENT');
  return parseYamlText(text, file, what);
}

/** Refuse a parsed JSON value nested deeper than the limit (later recursive code would overflow). */
export function checkJsonDepth(value: unknown, file: string, what: string): void {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (!v || typeof v !== 'object') continue;
    if (d >= INPUT_LIMITS.depth) throw new FerryError('VALIDATION', `${file}: ${what} nests deeper than ${INPUT_LIMITS.depth} levels`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1]);
  }
}

/** Read and parse a JSON file (a lock); undefined when it does not exist. */
export async function readJsonFile(file: string, what: string, hint: string): Promise<unknown> {
  const text = await readCapped(file, INPUT_LIMITS.jsonBytes, what);
  if (text === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new FerryError('VALIDATION', `${file}: ${what} is not valid JSON (${(err as Error).message})`, { cause: err, hint });
  }
  checkJsonDepth(raw, file, what);
  return raw;
}
