import { constants } from 'node:fs';
import { lstat, open, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { FerryError, unreadableFile } from '../errors.js';
import { requireSpaceFor } from '../store/free-space.js';
import { humanBytes } from '../ui/progress.js';
import { withOutputLock } from '../store/pid-lock.js';
import { MAX_PARTS, openBundleOutput, partName, partsFileOf, readPartList, splitNamesOf, splitTarOf, type BundleOutput } from '../store/split-file.js';
import type { Progress } from '../ui/progress.js';
import { pathFrom } from './inputs.js';

export interface BundleSplitOptions {
  splitSize: number;
  /** The tar name the parts are named after (`<output>.001 …`, `<output>.parts`); default: the input's. */
  output?: string;
  progress?: Progress;
  cwd?: string;
}

export interface BundleSplitResult {
  input: string;
  /** The input's own parts when it was already split (each re-hashed against its list while read). */
  inputParts?: number;
  bundle: string;
  size: number;
  parts: Array<{ file: string; size: number; sha256: string }>;
  /** What an earlier split of this output left (a `.partial` removed, parts without their list replaced), for the user. */
  warnings: string[];
}

/** One file the input is read from, in order; `sha256` when a `.parts` list vouches for it. */
interface Source {
  file: string;
  size: number;
  sha256?: string;
  label: string;
  /** dev:ino as refuseOverlap found it: the file copied must be that one (not one renamed over it since). */
  id?: string;
}

/**
 * `ferry bundle split <bundle> --split-size 4G`: an existing bundle (one tar, or a split one to
 * split again at another size) written as `<output>.001 … .NNN` and `<output>.parts`, exactly
 * as `bundle create --split-size` writes them — for a bundle made without it that must now fit
 * removable media. A byte copy, streamed: each input part is re-hashed against its own list as
 * it is read, each output part hashed as it is written; the tar's contents are not verified
 * here (that is `bundle verify`, on either side). Parts are written as `.partial` and renamed,
 * the `.parts` list last, so a failed or killed split leaves no part under a final name.
 */
export async function splitBundle(input: string, opts: BundleSplitOptions): Promise<BundleSplitResult> {
  const cwd = opts.cwd ?? process.cwd();
  if (/^oci:\/\//i.test(input)) {
    throw new FerryError('USAGE', `${input}: bundle split reads a bundle file; a bundle in a registry is not a file to split`, {
      hint: 'Pull it first (`ferry bundle pull <oci://…> -o app.ferry.tar`), then split the .tar.',
    });
  }
  const abs = pathFrom(cwd, input);
  const splitTar = await splitTarOf(abs);
  const sources = splitTar === undefined ? [await singleSource(abs)] : await partSources(splitTar);
  const size = sources.reduce((n, s) => n + s.size, 0);
  const output = opts.output === undefined ? (splitTar ?? abs) : pathFrom(cwd, opts.output);
  const count = Math.max(1, Math.ceil(size / opts.splitSize));
  if (count > MAX_PARTS) {
    throw new FerryError('USAGE', `--split-size ${opts.splitSize}: ${path.basename(abs)} (${size} bytes) would make ${count} parts, more than ${MAX_PARTS}`, { hint: 'Choose a larger split size.' });
  }
  await checkTarHeader(sources[0]);
  // The output's lock, as bundle create takes it: two runs writing one output's parts would remove
  // each other's, and what a run stopped before it finished left there is this one's to replace.
  return withOutputLock(output, async () => {
    await refuseOverlap(sources, output, count);
    await checkSpace(output, size);

    const out = await openBundleOutput(output, opts.splitSize, size);
    const task = opts.progress?.start(`split ${path.basename(abs)}`, size);
    try {
      let pos = 0;
      for (const src of sources) pos = await copySource(src, out, pos, (n) => task?.advance(n));
      if (pos !== size) throw new FerryError('VERIFY', `${abs}: read ${pos} bytes, expected ${size} (the bundle changed while it was split)`, { hint: 'Split it again once nothing writes to it.' });
      const { parts = [], notes = [] } = await out.commit();
      task?.finish();
      return { input: abs, inputParts: splitTar === undefined ? undefined : sources.length, bundle: output, size, parts, warnings: notes };
    } catch (err) {
      task?.fail(err instanceof FerryError ? err.message : 'failed');
      await out.abort();
      throw err;
    }
  });
}

async function singleSource(file: string): Promise<Source> {
  const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw unreadableFile(file, 'bundle', err);
  });
  if (!st.isFile()) {
    throw new FerryError('USAGE', `${file}: not a regular file (a directory, FIFO, socket or device); refusing to read it as a bundle`, { hint: 'Pass the bundle .tar that `ferry bundle create` wrote.' });
  }
  return { file, size: st.size, label: path.basename(file) };
}

async function partSources(tar: string): Promise<Source[]> {
  const { parts, problems } = await readPartList(tar);
  if (problems.length) {
    throw new FerryError('VERIFY', `split bundle ${path.basename(tar)} is incomplete; nothing was written`, {
      details: problems.map((p) => p.message),
      hint: 'Copy the missing or damaged parts again from the source (`sha256sum -c` on the .parts file checks them).',
    });
  }
  return parts.map((p, i) => ({ file: p.file, size: p.size, sha256: p.sha256, label: `part ${String(i + 1).padStart(3, '0')} of ${parts.length} (${path.basename(p.file)})` }));
}

/** A ferry bundle is a POSIX tar: refuse anything else before writing a byte. */
async function checkTarHeader(first: Source): Promise<void> {
  const fh = await open(first.file, 'r');
  try {
    const block = Buffer.alloc(512);
    const { bytesRead } = await fh.read(block, 0, 512, 0);
    if (!isTarStart(block.subarray(0, bytesRead))) throw notTar(first.file);
  } finally {
    await fh.close();
  }
}

const isTarStart = (head: Buffer) => head.length >= 512 && head.toString('latin1', 257, 262) === 'ustar';
const notTar = (file: string) =>
  new FerryError('USAGE', `${file}: not a tar archive (no ustar header); a ferry bundle is one`, { hint: 'Pass the bundle .tar that `ferry bundle create` wrote (or its first part or .parts list).' });

/** The output's names must not be any file being read (re-splitting a split bundle under its own name would delete its parts). */
async function refuseOverlap(sources: Source[], output: string, count: number): Promise<void> {
  const ids = new Set<string>();
  for (const s of sources) {
    const st = await stat(s.file);
    s.id = `${st.dev}:${st.ino}`;
    ids.add(s.id);
  }
  // Every part this split writes (`-o b.tar` over an input named b.tar.002, no b.tar.001 beside
  // it), every older part it removes (gaps too) and every `.partial` of an earlier split it removes.
  const there = await splitNamesOf(output);
  const names = [partsFileOf(output), ...there.partials];
  for (let n = 1; n <= count; n++) names.push(partName(output, n));
  for (const n of there.parts) if (n > count) names.push(partName(output, n));
  // lstat: a name is replaced by a rename or removed, never written through, so a link there
  // (a leftover `.partial` planted as a link to an input part) endangers nothing; the name that
  // is an input file itself (the same inode) would be replaced under its reader.
  for (const name of names) {
    const st = await lstat(name).catch(() => undefined);
    if (st && ids.has(`${st.dev}:${st.ino}`)) {
      throw new FerryError('USAGE', `${output}: writing the parts there would replace ${path.basename(name)}, which is being read`, {
        hint: 'Name another output with -o (e.g. -o app-dvd.ferry.tar); the parts and their list are written under that name.',
      });
    }
  }
}

/**
 * Refuse at once, naming both figures, when the output's file system cannot hold the copy: the
 * same check (and exit code: 1, a full disk is the machine's problem) as `bundle create`'s.
 */
async function checkSpace(output: string, size: number): Promise<void> {
  await requireSpaceFor(`${partName(output, 1)}.partial`, size, `the split copy (${humanBytes(size)} in all)`, 'Free space there, or name an output on another file system with -o; nothing was written.');
}

/** Stream one input file into the output from `pos`, re-hashing it against its list when it has one. */
async function copySource(src: Source, out: BundleOutput, pos: number, advance: (n: number) => void): Promise<number> {
  const hash = src.sha256 ? createHash('sha256') : undefined;
  let read = 0;
  // Opened without blocking and checked on the open file: a part swapped for a FIFO after it was
  // listed would block the read forever, a device would stream without end.
  const fh = await open(src.file, constants.O_RDONLY | constants.O_NONBLOCK).catch((err: NodeJS.ErrnoException) => {
    throw unreadableFile(src.file, 'bundle', err);
  });
  const st = await fh.stat().catch(async (err: unknown) => {
    await fh.close();
    throw err;
  });
  if (!st.isFile() || (src.id !== undefined && src.id !== `${st.dev}:${st.ino}`)) {
    await fh.close();
    throw new FerryError('VERIFY', `${src.label}: ${st.isFile() ? 'another file now (renamed over it after it was checked)' : 'no longer a regular file'} (replaced while it was split); nothing was written`, { hint: 'Split it again once nothing writes to it.' });
  }
  for await (const chunk of fh.createReadStream({ highWaterMark: 4 << 20 })) {
    const buf = chunk as Buffer;
    // The tar header checked on the bytes copied too (checkTarHeader read the name before).
    if (pos === 0 && read === 0 && !isTarStart(buf)) throw notTar(src.file);
    if (read + buf.length > src.size) throw new FerryError('VERIFY', `${src.label}: grew while it was split`, { hint: 'Split it again once nothing writes to it.' });
    hash?.update(buf);
    await out.write(buf, 0, buf.length, pos + read);
    read += buf.length;
    advance(buf.length);
  }
  if (read !== src.size) throw new FerryError('VERIFY', `${src.label}: ${read} bytes read, ${src.size} expected (it changed while it was split)`, { hint: 'Split it again once nothing writes to it.' });
  if (hash && src.sha256) {
    const hex = hash.digest('hex');
    if (hex !== src.sha256) {
      throw new FerryError('VERIFY', `${src.label}: sha256 mismatch (hashes to ${hex}, its .parts list says ${src.sha256}); nothing was written`, {
        hint: 'Copy that part again from the source (`sha256sum -c` on the .parts file checks them), then split again.',
      });
    }
  }
  return pos + read;
}
