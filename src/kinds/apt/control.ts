import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { FerryError } from '../../errors.js';
import { isSafeRelativePath } from '../../store/safe-path.js';

/** One deb822 paragraph (a Packages stanza, a Release file): fields by lower-case name, plus its text. */
export interface Stanza {
  fields: Map<string, string>;
  /** The paragraph exactly as written (no trailing newline), when asked for. */
  raw?: string;
}

function addLine(fields: Map<string, string>, line: string, last: { key?: string }): void {
  if (/^[ \t]/.test(line)) {
    if (last.key) fields.set(last.key, `${fields.get(last.key)}\n${line.slice(1)}`);
    return;
  }
  const i = line.indexOf(':');
  if (i <= 0) return;
  last.key = line.slice(0, i).trim().toLowerCase();
  fields.set(last.key, line.slice(i + 1).trim());
}

/** Parse deb822 text into paragraphs. */
export function parseDeb822(text: string, keepRaw = false): Stanza[] {
  const out: Stanza[] = [];
  let fields = new Map<string, string>();
  let raw: string[] = [];
  const last: { key?: string } = {};
  const flush = () => {
    if (fields.size) out.push(keepRaw ? { fields, raw: raw.join('\n') } : { fields });
    fields = new Map();
    raw = [];
    last.key = undefined;
  };
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') {
      flush();
      continue;
    }
    if (line.startsWith('#')) continue;
    raw.push(line);
    addLine(fields, line, last);
  }
  flush();
  return out;
}

/**
 * Parse one paragraph, keeping only the fields in `only` (all when absent). A kept field given
 * twice is refused (VERIFY, naming `label`): deb822 forbids it, and ferry would verify one value
 * while a client may read the other (two SHA256 or Filename lines).
 */
function parseParagraph(text: string, keepRaw: boolean, only: ReadonlySet<string> | undefined, label: string): Stanza | undefined {
  const fields = new Map<string, string>();
  let key: string | undefined;
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end === -1) end = text.length;
    const line = text.slice(pos, end);
    pos = end + 1;
    const c = line.charCodeAt(0);
    if (c === 32 || c === 9) {
      if (key) fields.set(key, `${fields.get(key)}\n${line.slice(1)}`);
      continue;
    }
    if (c === 35 /* # */) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      key = undefined;
      continue;
    }
    const k = line.slice(0, colon).trim().toLowerCase();
    key = !only || only.has(k) ? k : undefined;
    if (key && fields.has(key)) throw duplicateField(label, line.slice(0, colon).trim(), fields.get('package'));
    if (key) fields.set(key, line.slice(colon + 1).trim());
  }
  if (!fields.size) return undefined;
  return keepRaw ? { fields, raw: text } : { fields };
}

function duplicateField(label: string, field: string, pkg: string | undefined): FerryError {
  return new FerryError('VERIFY', `${label}: ${pkg ? `package ${JSON.stringify(pkg)}` : 'a paragraph'} has the field ${JSON.stringify(field)} twice; refusing the index`, {
    hint: 'A deb822 paragraph names each field once; which value a client reads is not defined. The index is damaged or crafted: report it to the repository operator.',
  });
}

/**
 * The longest paragraph an index may have. Debian's longest are tens of KB (a long description
 * and a long Depends); what is held while a paragraph is incomplete must not grow with a crafted
 * index that never ends one.
 */
export const MAX_PARAGRAPH_CHARS = 16 << 20;

/**
 * Stream paragraphs from a (decompressed) index without holding the whole file: split on blank
 * lines as chunks arrive, keep only the fields asked for (an index's descriptions are most of it).
 * A paragraph longer than MAX_PARAGRAPH_CHARS is refused (VERIFY).
 */
export async function* streamDeb822(input: Readable, keepRaw = false, only?: ReadonlySet<string>, label = 'index', maxParagraph = MAX_PARAGRAPH_CHARS): AsyncGenerator<Stanza> {
  const decoder = new StringDecoder('utf8');
  let buf = '';
  const emit = function* (chunk: string): Generator<Stanza> {
    // Whitespace-only lines separate paragraphs too (deb822); normalise them and CRLF first.
    const text = chunk.indexOf('\r') !== -1 || /\n[ \t]+\n/.test(chunk) ? chunk.replace(/\r\n/g, '\n').replace(/\n[ \t]+(?=\n)/g, '\n') : chunk;
    let pos = 0;
    while (pos < text.length) {
      while (text.charCodeAt(pos) === 10) pos++;
      let end = text.indexOf('\n\n', pos);
      if (end === -1) end = text.length;
      if (end > pos) {
        const st = parseParagraph(text.slice(pos, end), keepRaw, only, label);
        if (st) yield st;
      }
      pos = end + 2;
    }
  };
  for await (const chunk of input) {
    buf += decoder.write(chunk as Buffer);
    if (buf.indexOf('\r') !== -1 || /\n[ \t]+\n/.test(buf)) buf = buf.replace(/\r\n/g, '\n').replace(/\n[ \t]+(?=\n)/g, '\n');
    const cut = buf.lastIndexOf('\n\n');
    if (cut !== -1) {
      yield* emit(buf.slice(0, cut));
      buf = buf.slice(cut + 2);
    }
    if (buf.length > maxParagraph) {
      input.destroy();
      throw new FerryError('VERIFY', `${label}: a paragraph longer than ${maxParagraph} characters; refusing it`, {
        hint: 'No real Packages or Sources paragraph is this long: the index is damaged or crafted. Report it to the repository operator.',
      });
    }
  }
  buf += decoder.end();
  if (buf.trim()) yield* emit(buf);
}

export interface ReleaseFile {
  fields: Map<string, string>;
  /** Files listed under SHA256 (path → hash, size); also MD5Sum/SHA1/SHA512 for by-hash. */
  sha256: Map<string, { hash: string; size: number }>;
  hashes: Map<string, Map<string, { hash: string; size: number }>>;
  acquireByHash: boolean;
  /** What makes the Release ambiguous (a field given twice, a file listed twice with different hashes): refused at lock time. */
  problems: string[];
}

const HASH_FIELDS: Record<string, string> = { md5sum: 'MD5Sum', sha1: 'SHA1', sha256: 'SHA256', sha512: 'SHA512' };
/** Hex digits of each hash: a hash of another length names no file (and would be a by-hash file name past NAME_MAX). */
const HASH_HEX_LENGTH: Record<string, number> = { md5sum: 32, sha1: 40, sha256: 64, sha512: 128 };

export function parseRelease(text: string): ReleaseFile {
  const fields = parseDeb822(text)[0]?.fields ?? new Map<string, string>();
  const problems = duplicateReleaseFields(text);
  const hashes = new Map<string, Map<string, { hash: string; size: number }>>();
  for (const [key, name] of Object.entries(HASH_FIELDS)) {
    const v = fields.get(key);
    if (!v) continue;
    const m = new Map<string, { hash: string; size: number }>();
    for (const line of v.split('\n')) {
      const parts = line.trim().split(/\s+/);
      // Only hex hashes and relative paths inside the suite (the one path rule): a Release never names anything else.
      // Sizes past 2^53 are not sizes (no index is 9 PB); they would not even compare exactly.
      if (parts.length === 3 && parts[0].length === HASH_HEX_LENGTH[key] && /^[0-9a-fA-F]+$/.test(parts[0]) && /^\d+$/.test(parts[1]) && Number.isSafeInteger(Number(parts[1])) && isSafeRelativePath(parts[2])) {
        const entry = { hash: parts[0].toLowerCase(), size: Number(parts[1]) };
        const prev = m.get(parts[2]);
        if (prev && (prev.hash !== entry.hash || prev.size !== entry.size)) problems.push(`${name} lists ${parts[2]} twice, with different hashes or sizes`);
        m.set(parts[2], entry);
      }
    }
    hashes.set(name, m);
  }
  return {
    fields,
    sha256: hashes.get('SHA256') ?? new Map(),
    hashes,
    acquireByHash: (fields.get('acquire-by-hash') ?? '').toLowerCase() === 'yes',
    problems,
  };
}

/** Fields the first paragraph of a Release names more than once (`SHA256:` twice, say). */
function duplicateReleaseFields(text: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') {
      if (seen.size) break;
      continue;
    }
    if (/^[ \t#]/.test(line)) continue;
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const k = line.slice(0, i).trim().toLowerCase();
    if (seen.has(k)) out.push(`the field ${JSON.stringify(line.slice(0, i).trim())} appears twice`);
    seen.add(k);
  }
  return out;
}

export function words(v: string | undefined): string[] {
  return (v ?? '').split(/\s+/).filter(Boolean);
}
