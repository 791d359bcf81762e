import { hash } from 'node:crypto';
import { FerryError, type ErrorCode } from '../errors.js';
import { isDescriptor, type OciDescriptor, type OciIndex } from '../oci/media-types.js';
import type { BlobSource } from '../store/source.js';

export { isDescriptor };

/**
 * Helpers for the validation pass `ferry import` runs over a whole bundle before the first
 * byte is written: read an artifact's small metadata (size-capped, digest-checked, parsed) and
 * collect what is wrong, each problem with its artifact, instead of stopping at the first.
 */

export interface ImportProblem {
  /** The artifact, named as a user would (reference, URL, chart name). */
  artifact: string;
  message: string;
  /** VERIFY when the bundle is at fault (crafted or damaged), VALIDATION when the target is. */
  code: ErrorCode;
  /** What the problem is made of (the packages at fault, say), printed under it. */
  details?: string[];
}

/**
 * A blob read whole and parsed as a JSON object: refused above `maxBytes` (before reading),
 * when its bytes do not hash to the descriptor's digest, or when it is not a JSON object.
 * The bytes are kept: manifests are pushed exactly as received.
 */
export async function readJsonBlob<T extends object>(source: BlobSource, desc: OciDescriptor, what: string, maxBytes?: number): Promise<{ bytes: Buffer; json: T }> {
  if (!isDescriptor(desc)) throw new FerryError('VERIFY', `${what}: malformed descriptor (sha256 digest and size required)`);
  const bytes = await source.readBlob(desc.digest, maxBytes);
  const got = `sha256:${hash('sha256', bytes, 'hex')}`;
  if (got !== desc.digest) throw new FerryError('VERIFY', `${what} ${desc.digest}: content hashes to ${got}`);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new FerryError('VERIFY', `${what} ${desc.digest}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new FerryError('VERIFY', `${what} ${desc.digest}: not a JSON object`);
  return { bytes, json: json as T };
}

/** The descriptors of an OCI manifest's config and layers, refused unless each is well formed. */
export function manifestParts(m: { config?: unknown; layers?: unknown }, what: string): { config: OciDescriptor; layers: OciDescriptor[] } {
  if (!isDescriptor(m.config)) throw new FerryError('VERIFY', `${what}: manifest has no valid config descriptor`);
  if (!Array.isArray(m.layers) || !m.layers.every(isDescriptor)) throw new FerryError('VERIFY', `${what}: manifest layers are not valid descriptors`);
  return { config: m.config, layers: m.layers };
}

/**
 * Collect problems: `check` runs and any error it throws becomes one problem of `artifact`
 * (errors from outside data are problems to report, never crashes). Returns its result, or
 * undefined when it failed.
 */
export class ProblemList {
  readonly items: ImportProblem[] = [];
  /** Problems found, including those past `keep` (counted, not kept: memory stays bounded). */
  count = 0;
  /** Whether any problem is the bundle's fault (kept or not). */
  bundleAtFault = false;

  constructor(private readonly keep = Infinity) {}

  add(artifact: string, message: string, code: ErrorCode = 'VERIFY', details?: string[]): void {
    this.count++;
    if (code === 'VERIFY') this.bundleAtFault = true;
    if (this.items.length < this.keep) this.items.push({ artifact, message, code, ...(details?.length ? { details } : {}) });
  }

  async check<T>(artifact: string, check: () => T | Promise<T>): Promise<T | undefined> {
    try {
      return await check();
    } catch (err) {
      if (err instanceof FerryError) this.add(artifact, err.message, err.code, err.details);
      else this.add(artifact, err instanceof Error ? err.message : String(err));
      return undefined;
    }
  }
}

const parsedIndexes = new WeakMap<BlobSource, Promise<OciIndex>>();

/**
 * The bundle's index.json, parsed once per source: import's validation reads it, and each kind's
 * look over the whole bundle (clashing mirror paths) shares that parse instead of holding another
 * (80 000 entries are tens of MB parsed).
 */
export function bundleIndex(source: BlobSource): Promise<OciIndex> {
  let p = parsedIndexes.get(source);
  if (!p) {
    p = source.readIndex();
    parsedIndexes.set(source, p);
  }
  return p;
}
