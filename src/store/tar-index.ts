import { FerryError } from '../errors.js';
import { openBundleFile, type RandomAccessFile } from './split-file.js';
import { trimTrailing } from '../ui/escape.js';

/**
 * The tar format, both ways, without unpacking anything: an index of a tar built from its
 * headers alone (one seek per entry, data never read), so bundles are read in place by
 * offset; and the header writer the bundle packer uses (ustar, PAX only where needed).
 *
 * The reader is deliberately strict: a bundle crosses an air gap and may have been tampered
 * with, so absolute paths, `..`, links, devices, sparse files and duplicate names are refused
 * rather than interpreted.
 */

export const BLOCK = 512;

export interface TarEntry {
  /** Normalized path: no leading `./`, no trailing `/`. */
  name: string;
  type: 'file' | 'directory';
  /** Byte offset of the entry's data in the tar. */
  offset: number;
  size: number;
  /** Byte offset of the entry's first header (PAX/GNU long-name headers included). */
  headerOffset: number;
}

export interface TarIndex {
  /** In archive order. */
  entries: TarEntry[];
  byName: Map<string, TarEntry>;
  /** Size of the tar file in bytes. */
  fileSize: number;
}

const TYPE_NAMES: Record<string, string> = {
  '1': 'hard link',
  '2': 'symbolic link',
  '3': 'character device',
  '4': 'block device',
  '6': 'FIFO',
  K: 'GNU long link name',
  S: 'GNU sparse file',
  V: 'volume header',
  M: 'multi-volume continuation',
};

function cString(buf: Buffer, start: number, len: number): string {
  const field = buf.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? len : nul).toString('utf8');
}

/** Numeric header field: octal text, or GNU base-256 when the high bit of the first byte is set. */
function numberField(buf: Buffer, start: number, len: number): number {
  const field = buf.subarray(start, start + len);
  if (field[0] & 0x80) {
    if (field[0] & 0x40) return NaN; // negative: never valid for a size
    let v = field[0] & 0x3f;
    for (let i = 1; i < len; i++) v = v * 256 + field[i];
    return v;
  }
  const text = cString(buf, start, len).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return NaN;
  return parseInt(text, 8);
}

function checksumOk(header: Buffer): boolean {
  const stored = numberField(header, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : header[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

/** PAX extended header records: `<len> <key>=<value>\n`. */
export function parsePaxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    // `<decimal length> ` then the record, ending in a newline: nothing parseInt would guess at ("12abc", "+5", " 7").
    const digits = data.subarray(pos, space).toString('latin1');
    const len = /^\d{1,7}$/.test(digits) ? Number(digits) : NaN;
    if (!(len > space - pos + 1) || pos + len > data.length || data[pos + len - 1] !== 0x0a) throw new Error('malformed PAX record');
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

/** Reject anything that could land outside the extraction root; return the normalized name. */
/** Names that need no normalising and cannot climb out: plain segments joined by single slashes. */
const PLAIN_NAME = /^[A-Za-z0-9_+@=,~-][A-Za-z0-9._+@=,~-]*(?:\/[A-Za-z0-9_+@=,~-][A-Za-z0-9._+@=,~-]*)*$/;

export function safeEntryName(raw: string, where: string): string {
  // Fast path for the names ferry writes (no segment starts with "."), without building arrays per entry.
  if (PLAIN_NAME.test(raw)) return raw;
  let name = raw;
  while (name.startsWith('./')) name = name.slice(2);
  const isDirSyntax = name.endsWith('/');
  name = trimTrailing(name, '/');
  if (name === '' || name === '.') {
    if (isDirSyntax || raw === '.') return '.';
    throw new FerryError('VERIFY', `${where}: entry with an empty name`);
  }
  if (name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(name)) {
    throw new FerryError('VERIFY', `${where}: entry ${JSON.stringify(raw)} has an absolute path; refusing it`, {
      hint: 'A bundle only holds relative paths; this tar was not made by ferry or was tampered with.',
    });
  }
  if (name.includes('\0') || name.split(/[\\/]/).some((s) => s === '..')) {
    throw new FerryError('VERIFY', `${where}: entry ${JSON.stringify(raw)} climbs out of the archive with ..; refusing it`, {
      hint: 'A bundle never contains `..`; this tar was not made by ferry or was tampered with.',
    });
  }
  return name.split('/').filter((s) => s !== '' && s !== '.').join('/');
}

/**
 * Reads at offsets through a window of WINDOW bytes: headers of small entries sit next to each
 * other, so a tar of many small files is indexed in a few large reads into ONE reused buffer,
 * not one read and one allocation per header (nor a fresh window per refill: a 90 000-entry
 * bundle would leave a thousand dead windows for the collector). A returned buffer is a view of
 * the window, valid until the next read; only a read longer than the window (a PAX header of up
 * to MAX_META bytes) gets a buffer of its own.
 */
const WINDOW = 256 * 1024;

function windowReader(fh: Pick<RandomAccessFile, 'read'>, fileSize: number) {
  const buf = Buffer.allocUnsafe(WINDOW);
  let win: Buffer = buf.subarray(0, 0);
  let winStart = 0;
  const fill = async (target: Buffer, pos: number, want: number) => {
    let got = 0;
    while (got < want) {
      const { bytesRead } = await fh.read(target, got, want - got, pos + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return target.subarray(0, got);
  };
  return async (pos: number, len: number): Promise<Buffer> => {
    if (pos >= winStart && pos + len <= winStart + win.length) return win.subarray(pos - winStart, pos - winStart + len);
    const want = Math.max(Math.min(Math.max(len, WINDOW), fileSize - pos), 0);
    if (want > WINDOW) return fill(Buffer.allocUnsafe(want), pos, want).then((b) => b.subarray(0, Math.min(len, b.length)));
    win = await fill(buf, pos, want);
    winStart = pos;
    return win.subarray(0, Math.min(len, win.length));
  };
}

const ZERO_BLOCK = Buffer.alloc(BLOCK);

const LINK_HINT = 'Refusing it rather than following it; this tar was not made by ferry or was tampered with.';
/** For headers tar readers interpret differently: what ferry verified would not be what another tool extracts. */
const AMBIGUOUS_HINT = 'Tar readers disagree on what this entry is, so what ferry checks need not be what another tool extracts; no ferry bundle holds it: the tar was crafted or altered.';

/** Metadata (PAX records, GNU long names) that may precede one entry, in total. */
const MAX_META = 1 << 20;
/**
 * Entries one bundle may hold, and the longest name: the index keeps one record per entry in
 * memory (about 200 bytes: the name string, the record, its map slot), and verify and import
 * keep a few bytes more, so a tar of many thousands of tiny entries must not grow them past a
 * bounded footprint. A bundle is one blob per file; 90 000 holds a whole Debian suite (about
 * 65 000 .debs of bookworm main for one architecture, `all` included) with room for images.
 * Measured (scripts/bench/tar-entries.ts, synthetic bundles of tiny blobs): `bundle verify`
 * peaks at 229 MB RSS at 90 000 entries (253 MB at 100 000, 395 MB at 250 000: V8's young
 * generation grows to 128 MB while every record survives), indexing alone at about 120 MB.
 */
export const MAX_TAR_ENTRIES = 90_000;
const MAX_NAME_BYTES = 1024;

/**
 * Index a tar by reading its headers only. Throws a VERIFY FerryError naming the tar and the
 * entry for anything malformed, truncated or unsafe.
 */
export async function indexTar(source: string | RandomAccessFile): Promise<TarIndex> {
  // A path is opened (and closed) here; an open file (one tar or a split bundle's parts) is the caller's.
  const fh = typeof source === 'string' ? await openBundleFile(source) : source;
  const file = fh.path;
  try {
    const fileSize = fh.size;
    const readAt = windowReader(fh, fileSize);
    const entries: TarEntry[] = [];
    const byName = new Map<string, TarEntry>();
    let pos = 0;
    // Only the PAX keys that change where or how much data lands are kept (path, size).
    let pax: { path?: string; size?: string } = {};
    let metaBytes = 0;
    let gnuLongName: string | undefined;
    // One PAX header and one GNU long name per entry at most, never both naming it: tar readers
    // disagree on which wins (GNU tar takes the last PAX header and the PAX path over a long name,
    // Python's tarfile the first header read), so such an entry has no one name to verify.
    let paxHeaders = 0;
    let firstHeader = -1;
    const bad = (msg: string, hint?: string) =>
      new FerryError('VERIFY', `${file}: ${msg}`, { hint: hint ?? 'The bundle is damaged or is not a tar; copy it again from the source.' });
    for (;;) {
      if (pos + BLOCK > fileSize) {
        throw bad(pos === fileSize ? 'ends without the end-of-archive marker (truncated?)' : `truncated header at byte ${pos}`);
      }
      const header = await readAt(pos, BLOCK);
      if (header.equals(ZERO_BLOCK)) break;
      if (!checksumOk(header)) throw bad(`bad header checksum at byte ${pos} (not a tar, or damaged)`);
      if (firstHeader === -1) firstHeader = pos;
      const type = String.fromCharCode(header[156] || 0x30);
      const meta = type === 'x' || type === 'g' || type === 'L';
      let size = numberField(header, 124, 12);
      if (!Number.isSafeInteger(size) || size < 0) throw bad(`invalid size field at byte ${pos}`);
      // A PAX size is the size of the entry the records describe: a PAX header or long name in
      // between keeps its own (as GNU tar and tarfile read it), or its data would be read as headers.
      if (pax.size !== undefined && !meta) {
        // Decimal digits only: Number() would also take "0x200", "1e3" and "" (as 0), which other tar readers refuse.
        size = /^\d+$/.test(pax.size) ? Number(pax.size) : NaN;
        if (!Number.isSafeInteger(size) || size < 0) throw bad(`invalid PAX size ${JSON.stringify(pax.size)} at byte ${pos}`);
      }
      const dataStart = pos + BLOCK;
      const next = dataStart + Math.ceil(size / BLOCK) * BLOCK;
      if (dataStart + size > fileSize) throw bad(`entry at byte ${pos} runs past the end of the file (truncated?)`);

      if (meta) {
        metaBytes += size;
        if (size > MAX_META || metaBytes > MAX_META) throw bad(`oversized ${type === 'L' ? 'GNU long name' : 'PAX'} header at byte ${pos} (more than ${MAX_META} bytes of metadata for one entry)`);
        const data = await readAt(dataStart, size);
        if (type === 'L') {
          if (gnuLongName !== undefined) throw bad(`a second GNU long name for one entry at byte ${pos}`, AMBIGUOUS_HINT);
          gnuLongName = cString(data, 0, data.length);
        } else {
          let records: Record<string, string>;
          try {
            records = parsePaxRecords(data);
          } catch {
            throw bad(`malformed PAX header at byte ${pos}`);
          }
          const sparse = Object.keys(records).find((k) => k.startsWith('GNU.sparse.'));
          if (sparse) {
            // GNU tar's PAX sparse format: the entry's data is a map plus fragments and its real
            // name is GNU.sparse.name, so other readers extract a different file than the one indexed.
            throw bad(`PAX header at byte ${pos} describes a GNU sparse file (${JSON.stringify(sparse)}); bundles hold only regular files and directories`, LINK_HINT);
          }
          if (type === 'g') {
            // A global header's records apply to every later entry in GNU tar and tarfile: a path or
            // size there renames or resizes all of them. ferry never writes one; any other record
            // (a comment, as git archive writes) changes nothing and is skipped.
            const key = ['path', 'size', 'linkpath'].find((k) => records[k] !== undefined);
            if (key) throw bad(`global PAX header at byte ${pos} sets ${JSON.stringify(key)} for every later entry; refusing it`, AMBIGUOUS_HINT);
          } else {
            if (++paxHeaders > 1) throw bad(`a second PAX header for one entry at byte ${pos}`, AMBIGUOUS_HINT);
            if (records.path !== undefined) pax.path = records.path;
            if (records.size !== undefined) pax.size = records.size;
          }
        }
        if (gnuLongName !== undefined && pax.path !== undefined) throw bad(`entry at byte ${firstHeader === -1 ? pos : firstHeader} is named both by a GNU long name and a PAX path`, AMBIGUOUS_HINT);
        pos = next;
        continue;
      }

      const magic = header.subarray(257, 263).toString('latin1');
      let rawName = cString(header, 0, 100);
      if (magic === 'ustar\0') {
        const prefix = cString(header, 345, 155);
        if (prefix) rawName = `${prefix}/${rawName}`;
      }
      if (gnuLongName !== undefined) rawName = gnuLongName;
      if (pax.path !== undefined) rawName = pax.path;
      const headerOffset = firstHeader;
      pax = {};
      metaBytes = 0;
      gnuLongName = undefined;
      paxHeaders = 0;
      firstHeader = -1;

      if (TYPE_NAMES[type] || (type !== '0' && type !== '7' && type !== '5')) {
        throw bad(
          `entry ${JSON.stringify(rawName)} is a ${TYPE_NAMES[type] ?? `type ${JSON.stringify(type)} entry`}; bundles hold only regular files and directories`,
          LINK_HINT,
        );
      }
      // A directory's data is skipped by GNU tar and read as headers by tarfile: ferry writes none.
      if (type === '5' && size > 0) throw bad(`directory ${JSON.stringify(rawName)} at byte ${headerOffset} carries ${size} bytes of data`, AMBIGUOUS_HINT);
      if (Buffer.byteLength(rawName) > MAX_NAME_BYTES) throw bad(`entry at byte ${headerOffset} has a name of ${Buffer.byteLength(rawName)} bytes (at most ${MAX_NAME_BYTES})`, 'No ferry bundle has names this long: the tar was crafted or is not a bundle.');
      const name = safeEntryName(rawName, file);
      // Old tars mark a directory as a regular file ('\0') whose name ends in "/" (GNU tar and
      // tarfile read it so), and a file named "." would be skipped here and written by others.
      if (type !== '5' && (name === '.' || /\/\.?$/.test(rawName))) throw bad(`entry ${JSON.stringify(rawName)} at byte ${headerOffset} is a file with a directory's name`, AMBIGUOUS_HINT);
      if (name !== '.') {
        const entry: TarEntry = { name, type: type === '5' ? 'directory' : 'file', offset: dataStart, size: type === '5' ? 0 : size, headerOffset };
        const prev = byName.get(name);
        if (prev && !(prev.type === 'directory' && entry.type === 'directory')) {
          throw bad(`entry ${JSON.stringify(name)} appears twice (bytes ${prev.headerOffset} and ${headerOffset})`, 'A bundle holds each file once; this tar was altered after ferry wrote it.');
        }
        if (!prev) {
          if (entries.length >= MAX_TAR_ENTRIES) {
            throw bad(`more than ${MAX_TAR_ENTRIES} entries; refusing to index it`, 'No ferry bundle holds this many files: the tar was crafted or is not a bundle.');
          }
          entries.push(entry);
          byName.set(name, entry);
        }
      }
      pos = next;
    }
    return { entries, byName, fileSize };
  } finally {
    if (typeof source === 'string') await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Largest size the 11-digit octal field holds; larger files get a PAX `size` record. */
const MAX_OCTAL_SIZE = 0o77777777777;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function rawHeader(name: string, size: number, type: string, mode: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii'); // mtime: fixed epoch, so equal inputs give equal bytes
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'ascii');
  h.write(octal(0, 8), 329, 'ascii');
  h.write(octal(0, 8), 337, 'ascii');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i];
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/**
 * Header block(s) for one entry: plain ustar, preceded by a PAX header when the name is longer
 * than 100 bytes or the size does not fit the octal field. Deterministic: mtime 0, uid/gid 0,
 * no user names.
 */
export function tarHeader(name: string, size: number, type: 'file' | 'directory'): Buffer {
  const fullName = type === 'directory' && !name.endsWith('/') ? `${name}/` : name;
  const mode = type === 'directory' ? 0o755 : 0o644;
  const typeFlag = type === 'directory' ? '5' : '0';
  const records: string[] = [];
  if (Buffer.byteLength(fullName) > 100) records.push(paxRecord('path', fullName));
  if (size > MAX_OCTAL_SIZE) records.push(paxRecord('size', String(size)));
  // With a PAX path the ustar name field keeps a truncated copy (Buffer.write never splits a character).
  const main = rawHeader(fullName, size > MAX_OCTAL_SIZE ? 0 : size, typeFlag, mode);
  if (!records.length) return main;
  const data = Buffer.from(records.join(''), 'utf8');
  const base = fullName.replace(/\/$/, '').split('/').pop() ?? 'entry';
  const paxHeader = rawHeader(`PaxHeaders/${base}`.slice(0, 100), data.length, 'x', 0o644);
  return Buffer.concat([paxHeader, data, tarPadding(data.length), main]);
}

export function tarPadding(size: number): Buffer {
  const rem = size % BLOCK;
  return Buffer.alloc(rem === 0 ? 0 : BLOCK - rem);
}

/** Two zero blocks end an archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);
