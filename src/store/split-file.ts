import { createHash, type Hash } from 'node:crypto';
import { constants, readSync } from 'node:fs';
import { lstat, open, opendir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { FerryError, unreadableFile } from '../errors.js';
import { SyncBehind } from './sync-behind.js';
import { withPlace } from './temp-files.js';

/**
 * Split bundles: one tar written as `<name>.001 … <name>.NNN` (each part at most the split size;
 * `cat` of the parts in order is the tar, byte for byte) plus `<name>.parts`, a plain
 * `sha256sum` file listing every part in order (`sha256sum -c <name>.parts` checks them, and the
 * number of lines is the number of parts, so a missing last part is noticed too).
 *
 * Both sides stream: the writer hashes each part as its bytes are written (one write per byte,
 * nothing held); the reader is a virtual single file over the parts (positional reads and
 * read streams mapped onto the parts), so the tar index, BundleReader and verify read a split
 * bundle exactly as they read one tar.
 */

/** Positional access to a bundle's bytes, whether one file or several parts. */
export interface RandomAccessFile {
  /** What the user named (the tar, its first part, or the .parts file), resolved. */
  readonly path: string;
  readonly size: number;
  /** The parts, in order, when split. */
  readonly parts?: PartInfo[];
  read(buf: Buffer, off: number, len: number, pos: number): Promise<{ bytesRead: number }>;
  readSync(buf: Buffer, off: number, len: number, pos: number): number;
  /** The open descriptor every read of a single-file bundle goes through (none for split bundles). */
  readonly fd?: number;
  /** Bytes `start` to `end` INCLUSIVE, as fs.createReadStream. */
  createReadStream(start: number, end: number): Readable;
  close(): Promise<void>;
}

export interface PartInfo {
  file: string;
  /** Offset of the part's first byte in the whole tar. */
  start: number;
  size: number;
  /** From the .parts file. */
  sha256: string;
}

/** Numbered part names: `.001` … `.999`. */
const PART_DIGITS = 3;
export const MAX_PARTS = 10 ** PART_DIGITS - 1;

export const partName = (tar: string, n: number) => `${tar}.${String(n).padStart(PART_DIGITS, '0')}`;
export const partsFileOf = (tar: string) => `${tar}.parts`;

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
};

/**
 * `4G`, `700M`, `4GiB`, `4.7GB`, `1048576`: K/M/G/T and KiB/MiB/GiB/TiB are powers of 1024 (as
 * `split -b` reads them); KB/MB/GB/TB powers of 1000 (as media are labelled). Whole bytes, at
 * least one tar block (512).
 */
export function parseSize(text: string, what = '--split-size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new FerryError('USAGE', `${what} ${JSON.stringify(text)}: not a size`, { hint: 'Write a number of bytes with an optional unit: 4G, 700M, 4GiB, 4.7GB, 1048576.' });
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes < 512) throw new FerryError('USAGE', `${what} ${JSON.stringify(text)}: must be at least 512 bytes`);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Where the packer writes: sequential positional writes, then commit (rename into place) or abort. */
export interface BundleOutput {
  write(buf: Buffer, off: number, len: number, pos: number): Promise<{ bytesWritten: number }>;
  /**
   * Flush, close and move into place; returns the parts written (split) or none, and `notes` for
   * the user: what an earlier split of this output left that this one removed or replaced.
   */
  commit(): Promise<{ size: number; parts?: Array<{ file: string; size: number; sha256: string }>; notes?: string[] }>;
  abort(): Promise<void>;
}

/** One file (written as `<output>.partial`, renamed on commit), or parts when `splitSize` is set. */
export async function openBundleOutput(output: string, splitSize?: number, plannedSize?: number): Promise<BundleOutput> {
  if (splitSize === undefined) return singleOutput(output);
  if (plannedSize !== undefined && Math.ceil(plannedSize / splitSize) > MAX_PARTS) {
    throw new FerryError('USAGE', `--split-size ${splitSize}: the bundle (${plannedSize} bytes) would make ${Math.ceil(plannedSize / splitSize)} parts, more than ${MAX_PARTS}`, {
      hint: 'Choose a larger split size.',
    });
  }
  return splitOutput(output, splitSize);
}

/**
 * A `.partial` file opened new: whatever was at its name (an earlier run's leftover, or a symbolic
 * or hard link planted beside the output to an input part, which `open(…, 'w')` truncated and
 * overwrote) is removed first, and the file is created exclusively (a link made in between fails it).
 */
async function openFresh(file: string): Promise<FileHandle> {
  await rm(file, { force: true });
  return open(file, 'wx');
}

async function singleOutput(output: string): Promise<BundleOutput> {
  const partial = `${output}.partial`;
  const fh = await openFresh(partial);
  const behind = new SyncBehind(fh);
  let size = 0;
  let closed = false;
  const close = async () => {
    await behind.settle();
    if (!closed) await fh.close();
    closed = true;
  };
  return {
    async write(buf, off, len, pos) {
      const r = await fh.write(buf, off, len, pos).catch((err: unknown) => {
        throw withPlace(err, partial);
      });
      size = Math.max(size, pos + r.bytesWritten);
      behind.wrote(r.bytesWritten);
      return r;
    },
    async commit() {
      await behind.sync();
      await close();
      await rename(partial, output);
      return { size };
    },
    async abort() {
      await close().catch(() => undefined);
      await rm(partial, { force: true });
    },
  };
}

/**
 * What is under a split bundle's names beside `tar`: its parts (`<tar>.NNN`, every number present,
 * gaps included: a run stopped while removing an older split's higher-numbered parts leaves gaps),
 * the `.partial` files of a split that did not finish (`<tar>.NNN.partial`, `<tar>.parts.partial`)
 * and whether the `.parts` list is there. One pass over the directory (streamed); only names of
 * `tar` are kept, at most 2 × MAX_PARTS + 1, whatever else the directory holds.
 */
export interface SplitNames {
  parts: number[];
  partials: string[];
  list: boolean;
  /** Those of its names (parts, `.partial` files, the list) that are directories: nothing a split wrote, and nothing it removes. */
  dirs: string[];
}

export async function splitNamesOf(tar: string): Promise<SplitNames> {
  const dir = path.dirname(tar);
  const prefix = `${path.basename(tar)}.`;
  const parts: number[] = [];
  const partials: string[] = [];
  const dirs: string[] = [];
  let list = false;
  let entries;
  try {
    entries = await opendir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { parts, partials, list, dirs };
    throw withPlace(err, dir);
  }
  for await (const e of entries) {
    if (!e.name.startsWith(prefix)) continue;
    const rest = e.name.slice(prefix.length);
    const m = /^(\d{3})(\.partial)?$/.exec(rest);
    const ours = (m && Number(m[1]) >= 1) || rest === 'parts.partial' || rest === 'parts';
    if (!ours) continue;
    // The entry itself (a link is removed or replaced as a link): lstat when the directory does not say.
    const isDir = e.isDirectory() || (!e.isFile() && !e.isSymbolicLink() && (await lstat(path.join(dir, e.name)).then((st) => st.isDirectory(), () => false)));
    if (isDir) dirs.push(path.join(dir, e.name));
    if (m && Number(m[1]) >= 1) {
      if (m[2]) partials.push(path.join(dir, e.name));
      else parts.push(Number(m[1]));
    } else if (rest === 'parts.partial') partials.push(path.join(dir, e.name));
    else if (rest === 'parts') list = true;
  }
  parts.sort((a, b) => a - b);
  partials.sort();
  dirs.sort();
  return { parts, partials, list, dirs };
}

/** `a.001 … a.007` or `a.001`: names for a message, never hundreds of them. */
function nameRange(names: string[]): string {
  const base = names.map((n) => path.basename(n));
  return base.length > 2 ? `${base[0]} … ${base[base.length - 1]} (${base.length} files)` : base.join(' and ');
}

/**
 * What a split stopped before it finished left under `output`'s names, said for the run that now
 * writes there: its `.partial` files (removed before the first byte: they are of no use, and
 * a smaller split would never overwrite its higher-numbered ones), and parts under final names
 * with no `.parts` list (stopped while it renamed them into place; replaced or removed at commit).
 */
function earlierSplitNotes(output: string, earlier: SplitNames): string[] {
  const notes: string[] = [];
  if (earlier.partials.length) {
    notes.push(`${path.dirname(output)}: removed ${nameRange(earlier.partials)}, left by a split of ${path.basename(output)} (bundle split or bundle create --split-size) that did not finish; this run wrote its parts anew`);
  }
  if (!earlier.list && earlier.parts.length) {
    notes.push(
      `${partsFileOf(output)} was missing: ${nameRange(earlier.parts.map((n) => partName(output, n)))} were parts of a split that was stopped while it renamed them into place (they may have been of two splits); this run replaced them all`,
    );
  }
  return notes;
}

/**
 * Parts written in order: each write goes to the current part up to its limit, the rest to the
 * next one. Writes must be sequential (the packer's are); each part is hashed as it is written.
 * The caller holds `<output>.lock` (no other ferry writes these names): what an earlier split
 * left under them is removed first, and said (`notes`).
 */
async function splitOutput(output: string, splitSize: number): Promise<BundleOutput> {
  const earlier = await splitNamesOf(output);
  if (earlier.dirs.length) {
    // Refused before anything is removed or written: the commit would stop halfway, parts renamed and no list.
    throw new FerryError('CONFLICT', `${path.dirname(output)}: ${nameRange(earlier.dirs)} ${earlier.dirs.length === 1 ? 'is a directory' : 'are directories'} under the names a split of ${path.basename(output)} writes (its parts, their .partial files, its .parts list); ferry removes or replaces only files there, so nothing was written`, {
      hint: 'Move or remove them, or write the split under another name (-o).',
    });
  }
  for (const f of earlier.partials) await rm(f, { force: true });
  const notes = earlierSplitNotes(output, earlier);
  const done: Array<{ file: string; size: number; sha256: string }> = [];
  let cur: { fh: FileHandle; behind: SyncBehind; n: number; size: number; hash: Hash } | undefined;
  let total = 0;
  /** Once the commit starts replacing names: an abort then keeps the list's `.partial`, which says so to readers. */
  let replacing = false;
  const partial = (n: number) => `${partName(output, n)}.partial`;
  const listPartial = `${partsFileOf(output)}.partial`;

  const finishPart = async () => {
    if (!cur) return;
    await cur.behind.sync();
    await cur.fh.close();
    done.push({ file: partName(output, cur.n), size: cur.size, sha256: cur.hash.digest('hex') });
    cur = undefined;
  };
  const nextPart = async () => {
    const n = done.length + 1;
    if (n > MAX_PARTS) throw new FerryError('USAGE', `--split-size ${splitSize}: the bundle needs more than ${MAX_PARTS} parts`, { hint: 'Choose a larger split size.' });
    const fh = await openFresh(partial(n));
    cur = { fh, behind: new SyncBehind(fh), n, size: 0, hash: createHash('sha256') };
  };

  return {
    async write(buf, off, len, pos) {
      if (pos !== total) throw new FerryError('INTERNAL', `split bundle writer: write at ${pos}, expected ${total} (writes must be sequential)`);
      let written = 0;
      while (written < len) {
        if (!cur || cur.size === splitSize) {
          await finishPart();
          await nextPart();
        }
        const part = cur!;
        const n = Math.min(len - written, splitSize - part.size);
        const { bytesWritten } = await part.fh.write(buf, off + written, n, part.size).catch((err: unknown) => {
          throw withPlace(err, partial(part.n));
        });
        part.hash.update(buf.subarray(off + written, off + written + bytesWritten));
        part.behind.wrote(bytesWritten);
        part.size += bytesWritten;
        written += bytesWritten;
        total += bytesWritten;
      }
      return { bytesWritten: written };
    },
    async commit() {
      await finishPart();
      // The new list is written first, as `.parts.partial`: while the names are replaced (a split
      // already under this name is replaced only now, once every new part is written: a failed run
      // leaves it whole) no `.parts` is there and this file is, so a run stopped in between (killed,
      // the machine off) is told apart from parts copied without their list, by readers and by the
      // next split. Then the old list removed (no list names parts of two splits), each part renamed
      // over, every higher-numbered part of an older split removed (gaps too), the list renamed last.
      const text = done.map((p) => `${p.sha256}  ${path.basename(p.file)}\n`).join('');
      const list = await openFresh(listPartial);
      await list
        .writeFile(text)
        .then(() => list.sync())
        .finally(() => list.close());
      replacing = true;
      await rm(partsFileOf(output), { force: true });
      for (let i = 0; i < done.length; i++) await rename(partial(i + 1), done[i].file);
      for (const n of (await splitNamesOf(output)).parts) if (n > done.length) await rm(partName(output, n), { force: true });
      await rename(listPartial, partsFileOf(output));
      return { size: total, parts: done, ...(notes.length ? { notes } : {}) };
    },
    async abort() {
      if (cur) {
        await cur.behind.settle();
        await cur.fh.close().catch(() => undefined);
      }
      for (let n = 1; n <= done.length + 1; n++) await rm(partial(n), { force: true });
      if (!replacing) await rm(listPartial, { force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * The tar a path names, and its parts when split: `x.ferry.tar.001` (any part), `x.ferry.tar.parts`,
 * or `x.ferry.tar` itself when only its parts exist. Returns undefined for a plain file.
 */
export async function splitTarOf(file: string): Promise<string | undefined> {
  const abs = path.resolve(file);
  if (abs.endsWith('.parts')) return abs.slice(0, -'.parts'.length);
  const numbered = /^(.*)\.\d{3}$/.exec(abs);
  // A part whose list was left behind, or whose split was stopped before its list was renamed into
  // place (`.parts.partial`, `.001.partial`), is still a part: the reader then says which happened.
  const listOrMarker = async (tar: string) => (await isFile(partsFileOf(tar))) || (await isFile(`${partsFileOf(tar)}.partial`));
  if (numbered && ((await listOrMarker(numbered[1])) || (await isFile(partName(numbered[1], abs.endsWith('.001') ? 2 : 1))))) return numbered[1];
  if (!(await isFile(abs)) && ((await listOrMarker(abs)) || (await isFile(partName(abs, 1))) || (await isFile(`${partName(abs, 1)}.partial`)))) return abs;
  return undefined;
}

const isFile = (f: string) => stat(f).then((s) => s.isFile(), () => false);

export interface PartProblem {
  /** Part file name, or the .parts file. */
  file: string;
  message: string;
}

/** Caps the .parts file read: MAX_PARTS lines of a hash and a name. */
const MAX_PARTS_FILE = 1024 * 1024;

/**
 * Parse `<tar>.parts` and stat every part. Every problem is returned (missing parts, a part of
 * the wrong size), each naming `part 003 of 7`; nothing is hashed here.
 */
export async function readPartList(tar: string): Promise<{ parts: PartInfo[]; problems: PartProblem[] }> {
  const listFile = partsFileOf(tar);
  const problems: PartProblem[] = [];
  let text: string;
  try {
    const st = await stat(listFile);
    // A FIFO would block the read below forever (hostile-4).
    if (!st.isFile()) throw new FerryError('VERIFY', `${listFile}: not a regular file; refusing to read it as the list of parts`);
    if (st.size > MAX_PARTS_FILE) throw new FerryError('VERIFY', `${listFile}: ${st.size} bytes, more than a list of ${MAX_PARTS} parts can be`);
    text = await readFile(listFile, 'utf8');
  } catch (err) {
    if (err instanceof FerryError) throw err;
    throw await missingList(tar, err);
  }
  const lines = text.split('\n').filter((l) => l !== '');
  const dir = path.dirname(tar);
  const parts: PartInfo[] = [];
  const count = lines.length;
  const label = (i: number) => `part ${String(i + 1).padStart(PART_DIGITS, '0')} of ${count}`;
  if (count === 0 || count > MAX_PARTS) throw new FerryError('VERIFY', `${listFile}: lists ${count} parts (expected 1 to ${MAX_PARTS})`);
  let start = 0;
  for (let i = 0; i < count; i++) {
    const m = /^([a-f0-9]{64}) [ *](.+)$/.exec(lines[i]);
    const expected = path.basename(partName(tar, i + 1));
    if (!m || m[2] !== expected) {
      throw new FerryError('VERIFY', `${listFile} line ${i + 1}: expected "<sha256>  ${expected}", found ${JSON.stringify(lines[i].slice(0, 100))}`, {
        hint: 'The list of parts was altered; copy it again from the source.',
      });
    }
    const file = path.join(dir, expected);
    const size = await stat(file).then((s) => (s.isFile() ? s.size : undefined), () => undefined);
    if (size === undefined) {
      problems.push({ file, message: `${label(i)}: ${expected} is missing` });
      continue;
    }
    parts.push({ file, start, size, sha256: m[1] });
    start += size;
  }
  // Every part but the last has the first part's size (the split size).
  if (!problems.length) {
    for (let i = 1; i < parts.length - 1; i++) {
      if (parts[i].size !== parts[0].size) problems.push({ file: parts[i].file, message: `${label(i)}: ${parts[i].size} bytes, the other parts have ${parts[0].size} (truncated or damaged)` });
    }
    const last = parts[parts.length - 1];
    if (parts.length > 1 && last.size > parts[0].size) problems.push({ file: last.file, message: `${label(parts.length - 1)}: ${last.size} bytes, more than the ${parts[0].size} of the other parts` });
  }
  return { parts, problems };
}

/**
 * `<tar>.parts` cannot be read: why, as far as the names beside it tell. A `.parts.partial` there:
 * a split was stopped while it renamed its parts into place (they may be of two splits). Only
 * `.NNN.partial` files: a split has not finished writing (or was stopped before its commit). Neither:
 * the list was not copied with the parts.
 */
async function missingList(tar: string, err: unknown): Promise<FerryError> {
  const listFile = partsFileOf(tar);
  const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  const names = await splitNamesOf(tar).catch((): SplitNames => ({ parts: [], partials: [], list: false, dirs: [] }));
  const base = path.basename(tar);
  const finals = names.parts.length ? nameRange(names.parts.map((n) => partName(tar, n))) : 'no part';
  if (names.partials.includes(`${listFile}.partial`)) {
    return new FerryError('USAGE', `${listFile} is missing and ${path.basename(listFile)}.partial is there: a split writing ${base} (bundle split or bundle create --split-size) was stopped while it renamed its parts into place; ${finals} under final names may be of two splits, so nothing was read`, {
      hint: `Run that split or create again (it starts over and replaces them), or copy the bundle again from the source.`,
    });
  }
  if (names.partials.length) {
    return new FerryError('USAGE', `${listFile} is missing and ${nameRange(names.partials)} are there: a split writing ${base} has not finished, or was stopped before it renamed its parts into place; nothing was read`, {
      hint: 'Wait for that split or create to finish, or run it again (it starts over), or copy the bundle again from the source.',
    });
  }
  return new FerryError('USAGE', `${listFile}: the list of parts of the split bundle ${base} is missing (${why})`, {
    hint: 'Copy the .parts file along with the parts; it lists them in order with their sha256.',
  });
}

/** A part's sha256 against the .parts file: the problem naming it (`part 003 of 7: sha256 mismatch`), or undefined. */
function partMismatch(parts: PartInfo[], i: number, hex: string): PartProblem | undefined {
  const p = parts[i];
  if (hex === p.sha256) return undefined;
  return { file: p.file, message: `part ${String(i + 1).padStart(PART_DIGITS, '0')} of ${parts.length}: sha256 mismatch (${path.basename(p.file)} hashes to ${hex}, the .parts file says ${p.sha256})` };
}

/**
 * Hash every part of an opened split bundle against its .parts list, through the descriptors it
 * was opened with (the bytes the caller read, not whatever is at the parts' names now), naming
 * each damaged one (`part 003 of 7: sha256 mismatch`) or unreadable one.
 */
export async function checkParts(file: SplitFile, onProgress?: (bytes: number) => void, within?: Array<{ start: number; end: number }>): Promise<PartProblem[]> {
  const problems: PartProblem[] = [];
  await file.hashParts(new AbortController().signal, (p) => problems.push(p), onProgress, within && file.partsIn(within));
  return problems;
}

/**
 * The parts' hashes computed from the whole tar's bytes as a sequential reader passes them (byte
 * 0 first, no gaps), so `bundle verify` checks the .parts file and the files inside in one read.
 */
export class PartHashes {
  private next = 0;
  private part = 0;
  private hash: Hash;
  readonly problems: PartProblem[] = [];

  constructor(private readonly parts: PartInfo[]) {
    this.hash = createHash('sha256');
  }

  /** The tar's bytes at `pos`, which must be where the previous call ended. */
  update(pos: number, bytes: Buffer): void {
    if (pos !== this.next) throw new FerryError('INTERNAL', `part hashes: bytes at ${pos}, expected ${this.next}`);
    let off = 0;
    while (off < bytes.length && this.part < this.parts.length) {
      const p = this.parts[this.part];
      const n = Math.min(bytes.length - off, p.start + p.size - (pos + off));
      this.hash.update(bytes.subarray(off, off + n));
      off += n;
      if (pos + off === p.start + p.size) this.close();
    }
    this.next = pos + bytes.length;
  }

  /** True once every part was hashed (the reader reached the end). */
  get done(): boolean {
    return this.part >= this.parts.length;
  }

  private close(): void {
    const bad = partMismatch(this.parts, this.part, this.hash.digest('hex'));
    if (bad) this.problems.push(bad);
    this.part++;
    if (this.part < this.parts.length) this.hash = createHash('sha256');
  }
}

/** Open a bundle for positional reads: one file, or a split bundle's parts (all present, or refused naming the missing ones). */
export async function openBundleFile(file: string): Promise<RandomAccessFile> {
  const abs = path.resolve(file);
  const tar = await splitTarOf(abs);
  if (tar === undefined) return openSingle(abs);
  const got = await openSplit(tar);
  if ('problems' in got) {
    throw new FerryError('VERIFY', `${abs}: split bundle ${path.basename(tar)} is incomplete; nothing was read from it`, {
      details: got.problems.map((p) => p.message),
      hint: 'Copy the missing or damaged parts again from the source (`sha256sum -c` on the .parts file checks them).',
    });
  }
  return new SplitFile(abs, got.parts, got.files);
}

/**
 * A split bundle's list of parts read and every part opened: each later read of a part (serving,
 * verify, the check of its hash) goes through the descriptor opened here, so a part renamed over
 * or replaced on disk afterwards is never read, and what is checked is what is served or
 * imported. A part missing, of the wrong size, not a regular file or changed while opened is a
 * problem naming it (nothing is left open then); the list's own faults are thrown (readPartList).
 */
async function openSplit(tar: string): Promise<{ parts: PartInfo[]; files: OpenFile[] } | { problems: PartProblem[] }> {
  const { parts, problems } = await readPartList(tar);
  if (problems.length) return { problems };
  const opened: OpenFile[] = [];
  const refused = async (p: PartInfo, i: number, why: string) => {
    await Promise.all(opened.map((f) => f.close()));
    return { problems: [{ file: p.file, message: `part ${String(i + 1).padStart(PART_DIGITS, '0')} of ${parts.length}: ${path.basename(p.file)} ${why}` }] };
  };
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    let got: { file: OpenFile; size: number };
    try {
      got = await openRegular(p.file, (why) => new Error(why));
    } catch (err) {
      return refused(p, i, (err as Error).message);
    }
    opened.push(got.file);
    if (got.size !== p.size) return refused(p, i, `changed while it was opened (${got.size} bytes, ${p.size} a moment before)`);
  }
  return { parts, files: opened };
}

/** Bytes `start` to `end` (inclusive) of an open file, read at their positions, 1 MiB at a time. */
function rangeStream(fh: FileHandle, file: string, start: number, end: number): Readable {
  const CHUNK = 1 << 20;
  let pos = start;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      const len = Math.min(CHUNK, end + 1 - pos);
      if (len <= 0) {
        this.push(null);
        return;
      }
      fh.read(Buffer.allocUnsafe(len), 0, len, pos).then(
        ({ bytesRead, buffer }) => {
          if (bytesRead === 0) {
            this.destroy(new FerryError('VERIFY', `${file}: ended at byte ${pos}, before byte ${end}`));
            return;
          }
          pos += bytesRead;
          this.push(bytesRead < len ? buffer.subarray(0, bytesRead) : buffer);
        },
        (err: Error) => this.destroy(err),
      );
    },
  });
}

/**
 * One file opened once and read only at explicit positions through that handle. fs read streams
 * are not used: they close the descriptor they are given when they end. The handle's close waits
 * for its reads in flight; streams still open then are destroyed first.
 */
class OpenFile {
  private readonly streams = new Set<Readable>();
  private closed = false;

  constructor(
    readonly fh: FileHandle,
    readonly file: string,
  ) {}

  /** Bytes `start` to `end` INCLUSIVE, as fs.createReadStream. */
  stream(start: number, end: number): Readable {
    if (this.closed) throw new FerryError('INTERNAL', `${this.file}: read after the bundle was closed`);
    const stream = rangeStream(this.fh, this.file, start, end);
    this.streams.add(stream);
    stream.once('close', () => this.streams.delete(stream));
    return stream;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const st of this.streams) st.destroy();
    await this.fh.close();
  }
}

/**
 * Open `abs` for reading, refusing (with `refuse(why)`) what cannot be opened or is not a
 * regular file. O_NONBLOCK: opening a FIFO put in a bundle's place returns at once (and is
 * refused) instead of waiting forever for a writer; it changes nothing for a regular file (hostile-4).
 */
async function openRegular(abs: string, refuse: (why: string, err?: NodeJS.ErrnoException) => Error): Promise<{ file: OpenFile; size: number }> {
  const fh = await open(abs, constants.O_RDONLY | constants.O_NONBLOCK).catch((err: NodeJS.ErrnoException) => {
    throw refuse(`cannot be opened (${err.code ?? err.message})`, err);
  });
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw refuse(st.isDirectory() ? 'is a directory' : 'is not a regular file (a FIFO, socket or device)');
  }
  return { file: new OpenFile(fh, abs), size: st.size };
}

async function openSingle(abs: string): Promise<RandomAccessFile> {
  const hint = 'Pass the bundle .tar that `ferry bundle create` wrote.';
  const { file, size } = await openRegular(abs, (why, err) => {
    if (err) return unreadableFile(abs, 'bundle', err, { hint: err.code === 'ENOENT' ? undefined : hint });
    if (why === 'is a directory') return unreadableFile(abs, 'bundle', 'EISDIR', { hint });
    return new FerryError('USAGE', `${abs}: not a regular file (a FIFO, socket or device); refusing to read it as a bundle`, { hint });
  });
  // Every read goes through the one handle opened (and checked) here, at explicit positions: a
  // file put in the bundle's place during an import is never read, and a bundle of tens of
  // thousands of small blobs is not opened and closed again for each.
  const fh = file.fh;
  return {
    path: abs,
    size,
    read: (buf, off, len, pos) => fh.read(buf, off, len, pos),
    readSync: (buf, off, len, pos) => readSync(fh.fd, buf, off, len, pos),
    get fd() {
      return fh.fd;
    },
    createReadStream: (start, end) => file.stream(start, end),
    close: () => file.close(),
  };
}

export class SplitFile implements RandomAccessFile {
  readonly size: number;

  constructor(
    readonly path: string,
    readonly parts: PartInfo[],
    /** Each part, opened by `openBundleFile`: every read of it, and `hashParts`, go through these. */
    private readonly files: OpenFile[],
  ) {
    const last = parts[parts.length - 1];
    this.size = last.start + last.size;
  }

  /** Index of the part holding byte `pos` (binary search; parts are in offset order). */
  private partAt(pos: number): number {
    let lo = 0;
    let hi = this.parts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.parts[mid].start <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  async read(buf: Buffer, off: number, len: number, pos: number): Promise<{ bytesRead: number }> {
    // Within one part per call (a short read is allowed; callers loop).
    if (pos >= this.size || len === 0) return { bytesRead: 0 };
    const i = this.partAt(pos);
    const p = this.parts[i];
    return this.files[i].fh.read(buf, off, Math.min(len, p.start + p.size - pos), pos - p.start);
  }

  readSync(buf: Buffer, off: number, len: number, pos: number): number {
    if (pos >= this.size || len === 0) return 0;
    const i = this.partAt(pos);
    const p = this.parts[i];
    return readSync(this.files[i].fh.fd, buf, off, Math.min(len, p.start + p.size - pos), pos - p.start);
  }

  createReadStream(start: number, end: number): Readable {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const parts = this.parts;
    const first = this.partAt(start);
    void (async () => {
      for (let i = first; i < parts.length && parts[i].start <= end; i++) {
        const p = parts[i];
        const s = Math.max(start, p.start) - p.start;
        const e = Math.min(end, p.start + p.size - 1) - p.start;
        if (e < s) continue;
        for await (const chunk of this.files[i].stream(s, e)) {
          if (out.destroyed) return;
          if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve).once('close', resolve));
        }
      }
      out.end();
    })().catch((err: unknown) => out.destroy(err as Error));
    return out;
  }

  /** Parts hashed so far by `hashParts` that do not match the .parts list, by index. */
  private readonly badParts = new Map<number, PartProblem>();

  /** The indexes of the parts holding any of the byte ranges (each `start`..`end` inclusive), once each. */
  partsIn(ranges: Array<{ start: number; end: number }>): Set<number> {
    const out = new Set<number>();
    for (const r of ranges) for (let i = this.partAt(r.start); i < this.parts.length && this.parts[i].start <= Math.max(r.start, r.end); i++) out.add(i);
    return out;
  }

  /** `part 003 of 7` (or `parts 003-004 of 7`): where bytes `start`..`end` (inclusive) lie. */
  partsAt(start: number, end: number): string {
    const a = this.partAt(start);
    const b = this.partAt(Math.max(start, end));
    const n = (i: number) => String(i + 1).padStart(PART_DIGITS, '0');
    const files = a === b ? path.basename(this.parts[a].file) : `${path.basename(this.parts[a].file)} … ${path.basename(this.parts[b].file)}`;
    return `${a === b ? `part ${n(a)}` : `parts ${n(a)}-${n(b)}`} of ${this.parts.length} (${files})`;
  }

  /** The first part found not to match the .parts list that holds any of bytes `start`..`end` (inclusive). */
  badPartIn(start: number, end: number): PartProblem | undefined {
    if (!this.badParts.size) return undefined;
    for (let i = this.partAt(start); i < this.parts.length && this.parts[i].start <= Math.max(start, end); i++) {
      const bad = this.badParts.get(i);
      if (bad) return bad;
    }
    return undefined;
  }

  /**
   * Hash every part against the .parts list, one after the other, each read once in 1 MiB
   * chunks through the descriptor it is served from (a served split bundle checked after it
   * starts listening): each part that does not match is told to `onBad` and answered by
   * `badPartIn` from then on. Stops, resolved, when `signal` aborts (the bundle is closed or
   * replaced); a part that cannot be read is a bad part. `only`: those parts (by index), not all.
   */
  async hashParts(signal: AbortSignal, onBad: (problem: PartProblem) => void, onProgress?: (bytes: number) => void, only?: ReadonlySet<number>): Promise<void> {
    for (let i = 0; i < this.parts.length && !signal.aborted; i++) {
      if (only && !only.has(i)) continue;
      const h = createHash('sha256');
      let problem: PartProblem | undefined;
      const stream = this.files[i].stream(0, this.parts[i].size - 1);
      const stop = () => stream.destroy();
      signal.addEventListener('abort', stop, { once: true });
      try {
        for await (const chunk of stream) {
          h.update(chunk as Buffer);
          onProgress?.((chunk as Buffer).length);
        }
        problem = partMismatch(this.parts, i, h.digest('hex'));
      } catch (err) {
        if (signal.aborted) return;
        problem = { file: this.parts[i].file, message: `part ${String(i + 1).padStart(PART_DIGITS, '0')} of ${this.parts.length}: ${path.basename(this.parts[i].file)} cannot be read (${(err as Error).message})` };
      } finally {
        signal.removeEventListener('abort', stop);
      }
      if (problem && !signal.aborted) {
        this.badParts.set(i, problem);
        onBad(problem);
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }
}

/**
 * For `bundle verify`: when `file` names a split bundle, its parts opened (`file`, read as one tar
 * and hashed against the .parts list through those descriptors, `PartHashes` or `checkParts`), or
 * every part missing or of the wrong size named on its own (`incomplete`: nothing else can be read).
 */
export async function checkSplitBundle(file: string): Promise<{ file?: SplitFile; problems: PartProblem[]; incomplete: boolean }> {
  const abs = path.resolve(file);
  const tar = await splitTarOf(abs);
  if (tar === undefined) return { problems: [], incomplete: false };
  let got: Awaited<ReturnType<typeof openSplit>>;
  try {
    got = await openSplit(tar);
  } catch (err) {
    if (err instanceof FerryError && err.code === 'USAGE') throw err;
    return { problems: [{ file: partsFileOf(tar), message: (err as Error).message }], incomplete: true };
  }
  if ('problems' in got) return { problems: got.problems, incomplete: true };
  return { file: new SplitFile(abs, got.parts, got.files), problems: [], incomplete: false };
}

/** Lines for the CLI: the parts written (empty when not split). */
export function describeParts(parts: Array<{ file: string; size: number }> | undefined): string[] {
  if (!parts?.length) return [];
  const first = parts[0].file;
  const names = parts.length > 1 ? `${path.basename(first)} … ${path.basename(parts[parts.length - 1].file)}` : path.basename(first);
  return [`  split into ${parts.length} part${parts.length > 1 ? 's' : ''}: ${names} (largest ${Math.max(...parts.map((p) => p.size))} bytes); list: ${path.basename(first.replace(/\.\d+$/, '.parts'))}`];
}

/** Bytes `bundle verify` reads, for its progress total: a split bundle's parts, each read once. */
export async function verifyBytes(file: string): Promise<number> {
  const tar = await splitTarOf(file);
  if (tar === undefined) return stat(file).then((s) => s.size, () => 0);
  const { parts } = await readPartList(tar).catch(() => ({ parts: [] as PartInfo[] }));
  return parts.reduce((n, p) => n + p.size, 0);
}
