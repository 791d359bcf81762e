import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { FerryError, unreadableFile } from '../errors.js';
import type { z } from 'zod';
import type { ManifestBase } from './schema.js';
import { expandEntry, expansionSize, unresolvedPlaceholders, VARS_LIMITS, type Vars } from './vars.js';
import { INPUT_LIMITS, parseYamlText, readCapped, readJsonFile } from './input-file.js';
import { issuesToProblems, parseOrThrow } from './validate.js';
import { jsonChunks } from '../ui/output.js';

/**
 * What loading needs to know about the kinds (manifest/ sits below kinds/, so they are passed
 * in: src/kinds/schema.ts builds this from KINDS and binds loadManifest, validateManifest, readLock).
 */
export interface ManifestModel<M extends ManifestBase> {
  schema: z.ZodType<M, unknown>;
  /** Fields whose entries `vars` placeholders expand (one entry may become several). */
  expandedFields: readonly string[];
  /**
   * Local files the manifest points at whose content changes what gets locked (a chart's values
   * files, signing keys): the lock goes stale when one changes.
   */
  referencedFiles(manifest: M): string[];
}

export interface LoadedManifestOf<M extends ManifestBase> {
  manifest: M;
  /** Absolute path of the manifest file. */
  file: string;
  /** Directory relative paths in the manifest are resolved against. */
  dir: string;
  /** sha256 of the expanded, validated content: what a lock is checked against. */
  digest: string;
  /** The file's text as read and validated (what `bundle create` carries: never read again by path); absent for a manifest made in memory. */
  text?: string;
}

/** Stable JSON: keys sorted, so the digest does not depend on YAML formatting or order of keys. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

export function validateManifestWith<M extends ManifestBase>(model: ManifestModel<M>, raw: unknown, where: string): M {
  const problems: string[] = [];
  const data = (raw && typeof raw === 'object' ? { ...(raw as Record<string, unknown>) } : raw) as Record<string, unknown>;
  if (data && typeof data === 'object') {
    const vars = (data.vars && typeof data.vars === 'object' && !Array.isArray(data.vars) ? data.vars : {}) as Vars;
    // Sizes first: a few list vars in one field multiply (eight lists of 20 are 20^8 entries).
    let entries = 0;
    let chars = 0;
    for (const kind of model.expandedFields) {
      const list = data[kind];
      if (!Array.isArray(list)) continue;
      list.forEach((entry, i) => {
        const size = expansionSize(entry, vars);
        if (size.entries > VARS_LIMITS.perEntry) {
          problems.push(`${kind}[${i}]: vars expand this entry to ${size.entries} entries, more than the limit of ${VARS_LIMITS.perEntry}`);
          return;
        }
        entries += size.entries;
        chars += size.chars;
      });
    }
    if (entries > VARS_LIMITS.total) problems.push(`vars: the entries expand to ${entries} entries in all, more than the limit of ${VARS_LIMITS.total}`);
    if (chars > VARS_LIMITS.chars) problems.push(`vars: the entries expand to about ${chars} characters in all, more than the limit of ${VARS_LIMITS.chars}`);
    if (problems.length) {
      throw new FerryError('VALIDATION', `${where}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in manifest`, {
        details: problems,
        hint: 'List vars multiply the entries that use them; use fewer list vars per entry or split the entry.',
      });
    }
    for (const kind of model.expandedFields) {
      const list = data[kind];
      if (!Array.isArray(list)) continue;
      const expanded: unknown[] = [];
      list.forEach((entry, i) => {
        for (const e of expandEntry(entry, vars)) {
          problems.push(...unresolvedPlaceholders(e, `${kind}[${i}]`));
          expanded.push(e);
        }
      });
      data[kind] = expanded;
    }
  }
  const result = model.schema.safeParse(data);
  if (!result.success) problems.push(...issuesToProblems(result.error.issues, [], model.schema, data));
  const unique = [...new Set(problems)];
  if (unique.length || !result.success) {
    throw new FerryError('VALIDATION', `${where}: ${unique.length} problem${unique.length === 1 ? '' : 's'} in manifest`, {
      details: unique,
      hint: 'Fix each listed field; `ferry schema manifest` prints the JSON Schema for editor completion.',
    });
  }
  return result.data;
}

/** `read`: the file's text when the caller read it already (bounded, through its own checks): not read again. */
export async function loadManifestWith<M extends ManifestBase>(model: ManifestModel<M>, file: string, read?: string): Promise<LoadedManifestOf<M>> {
  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  const text = read ?? (await readCapped(abs, INPUT_LIMITS.yamlBytes, 'manifest'));
  if (text === undefined) throw unreadableFile(abs, 'manifest', 'ENOENT');
  const manifest = validateManifestWith(model, parseYamlText(text, abs, 'manifest'), abs);
  const { metadata: _m, ...content } = manifest;
  // The lock must go stale when a referenced file changes, not only when the manifest does.
  const inputs: Record<string, string> = {};
  for (const rel of [...new Set(model.referencedFiles(manifest))].sort()) {
    inputs[rel] = await inputDigest(path.resolve(dir, rel));
  }
  const digest = 'sha256:' + createHash('sha256').update(canonicalJson({ name: manifest.metadata.name, ...content, ...(Object.keys(inputs).length ? { inputs } : {}) })).digest('hex');
  return { manifest, file: abs, dir, digest, text };
}

/** The largest referenced file (values file, key) hashed into the manifest's digest; past it, its size stands in. */
const MAX_INPUT_BYTES = 256 * 1024 * 1024;

/**
 * A referenced file's sha256 for the manifest digest, streamed; 'missing' when it cannot be read.
 * The manifest may come from outside (`report --bundle` loads the one inside a bundle): a path
 * naming /dev/zero, a FIFO or /proc/kcore is not read (O_NONBLOCK: a FIFO's open does not wait for
 * a writer), it is named in the digest as what it is.
 */
async function inputDigest(file: string): Promise<string> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => undefined);
  if (!fh) return 'missing';
  try {
    const st = await fh.stat();
    // A directory could never be read (as before: 'missing', so no lock digest changes).
    if (st.isDirectory()) return 'missing';
    if (!st.isFile()) return 'not a regular file';
    if (st.size > MAX_INPUT_BYTES) return `larger than ${MAX_INPUT_BYTES} bytes (${st.size})`;
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let total = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_INPUT_BYTES) return `larger than ${MAX_INPUT_BYTES} bytes`;
      h.update(buf.subarray(0, bytesRead));
    }
    return h.digest('hex');
  } catch {
    return 'missing';
  } finally {
    await fh.close();
  }
}

// The target is loaded in target.ts, which imports nothing above manifest/ (so ResolvedTarget can use it).
export { loadTarget, type LoadedTarget } from './target.js';

export function lockPathFor(manifestFile: string, name: string): string {
  return path.join(path.dirname(path.resolve(manifestFile)), `${name}.lock.json`);
}

export async function readLockWith<L>(schema: z.ZodType<L, unknown>, file: string): Promise<L | undefined> {
  const hint = 'Delete it and run `ferry lock` again.';
  // A FIFO or socket where the lock should be would block the read (a FIFO's open waits for a
  // writer, and no signal ends it): refused, named, before it is opened. (An endless device,
  // /dev/zero, is cut at the size bound of the read.)
  const st = await stat(file).catch(() => undefined);
  if (st && (st.isFIFO() || st.isSocket())) {
    throw new FerryError('VALIDATION', `${file}: the lock file is not a regular file (a FIFO or socket); refusing to read it`, { hint: 'Remove it; `ferry lock` writes the lock as a regular file.' });
  }
  const raw = await readJsonFile(file, 'lock file', hint);
  if (raw === undefined) return undefined;
  return parseOrThrow(schema, raw, file, hint);
}

/** Deterministic lock text: fixed key order from the objects we build, sorted lists, trailing newline. */
export function serializeLock(lock: object): string {
  return JSON.stringify(lock, null, 2) + '\n';
}

/** Pieces of at least this many characters (the last one shorter). */
const LOCK_CHUNK_CHARS = 64 * 1024;

/**
 * serializeLock's text in pieces, byte for byte: a whole APT component's lock is 21 MB of text,
 * which whole (and again as the bytes written) was the peak of `ferry lock`. Every container but
 * the innermost is walked (jsonChunks' `leaves`), so no piece is much over 64 KiB.
 */
export function* lockTextChunks(lock: object): Generator<string> {
  yield* jsonChunks(lock, LOCK_CHUNK_CHARS, 'leaves');
  yield '\n';
}
