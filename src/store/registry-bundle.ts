import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { FerryError } from '../errors.js';
import type { RegistryClient, RepoRef } from '../oci/client.js';
import { createNetContext, type NetContext, type NetOptions } from '../oci/context.js';
import type { OciDescriptor, OciIndex } from '../oci/media-types.js';
import { parseImageReference } from '../oci/reference.js';
import { mapLimit } from '../net/concurrency.js';
import { sha256Hex } from './blob-store.js';
import { BLOB_READ_CAP, BundleReader, type BundleInfo, type FerryFileName } from './bundle-reader.js';
import { isSafeRelativePath } from './safe-path.js';
import type { BlobSource } from './source.js';
import { BLOCK, MAX_TAR_ENTRIES, tarHeader, type TarEntry, type TarIndex } from './tar-index.js';

/**
 * A bundle stored in an OCI registry (`oci://registry/repository:tag`), read in place.
 *
 * What `ferry bundle push` writes (see bundle-push.ts):
 *  - every `blobs/sha256/<hex>` file of the bundle tar as a blob of the repository;
 *  - every other file of the tar (oci-layout, ferry/*, index.json) as a blob too, and the
 *    tar's table of contents (entry names, types and sizes, in archive order) as one more;
 *  - the ferry manifest: an OCI image manifest with artifactType application/vnd.ferry.bundle.v1,
 *    config = ferry/bundle.json, layers = the table of contents and then each non-blob file,
 *    each annotated with its tar path (org.opencontainers.image.title), and annotations
 *    carrying the sha256 and size of the whole tar;
 *  - the bundle's own manifests and indexes (children first), so the images are pullable;
 *  - under the tag: an OCI image index (artifactType application/vnd.ferry.bundle.v1) whose
 *    first entry is the ferry manifest and whose other entries are index.json's top-level
 *    descriptors as they are. One tag reaches everything, so registry garbage collection keeps
 *    the whole bundle, and other tools see the images it carries.
 *
 * Reading it back needs nothing but that: the table of contents gives every entry and size in
 * archive order (so offsets are those of the original tar, and `bundle pull` rebuilds it byte
 * for byte, checked against the recorded sha256), blob entries come from the repository by
 * digest, other files from the ferry manifest's layers. Nothing the registry sends is
 * trusted: names are checked like tar names, sizes capped, and every byte re-hashed by verify.
 */

export const BUNDLE_ARTIFACT_TYPE = 'application/vnd.ferry.bundle.v1';
export const BUNDLE_CONFIG_TYPE = 'application/vnd.ferry.bundle.config.v1+json';
export const BUNDLE_TOC_TYPE = 'application/vnd.ferry.bundle.toc.v1+json';
export const BUNDLE_FILE_TYPE = 'application/vnd.ferry.bundle.file.v1';
export const BUNDLE_ANNOTATION = {
  title: 'org.opencontainers.image.title',
  tarDigest: 'io.ferry.bundle.tar.digest',
  tarSize: 'io.ferry.bundle.tar.size',
} as const;

/** The table of contents: the tar's entries in archive order. */
export interface BundleToc {
  entries: Array<{ name: string; type: 'file' | 'directory'; size: number }>;
}

const MAX_TOC_BYTES = 64 * 1024 * 1024;
/** As many entries as a bundle tar may hold: each becomes a 512-byte header held in memory. */
const MAX_TOC_ENTRIES = MAX_TAR_ENTRIES;
/** ferry/ files and index.json are read whole; anything bigger is refused, not held in memory. */
export const MAX_SMALL_FILE = 256 * 1024 * 1024;
const BLOB_NAME = /^blobs\/sha256\/([a-f0-9]{64})$/;

export function isOciUrl(s: string): boolean {
  return s.startsWith('oci://');
}

/** `oci://registry/repository:tag` (or `@sha256:…`) → repository and reference. */
export function parseOciUrl(url: string, opts: { needTag?: boolean } = {}): { repo: RepoRef; reference: string; label: string } {
  if (!isOciUrl(url)) throw new FerryError('USAGE', `${url}: not an oci:// reference`, { hint: 'Write it as oci://registry[:port]/repository:tag' });
  const ref = parseImageReference(url.slice('oci://'.length));
  const reference = opts.needTag ? ref.tag : (ref.digest ?? ref.tag);
  if (!reference) {
    throw new FerryError('USAGE', `${url}: ${opts.needTag ? 'needs a tag' : 'needs a tag or a digest'}`, {
      hint: `Write it as oci://${ref.registry}/${ref.repository}:<tag>`,
    });
  }
  return { repo: { registry: ref.registry, repository: ref.repository }, reference, label: url };
}

/** Offsets of each entry in the tar the table of contents describes (headers as the packer writes them). */
export function tocLayout(toc: BundleToc): { index: TarIndex; headers: Buffer[] } {
  const entries: TarEntry[] = [];
  const headers: Buffer[] = [];
  let pos = 0;
  for (const e of toc.entries) {
    const h = tarHeader(e.name, e.type === 'file' ? e.size : 0, e.type);
    headers.push(h);
    const headerOffset = pos;
    pos += h.length;
    const size = e.type === 'file' ? e.size : 0;
    entries.push({ name: e.name, type: e.type, offset: pos, size, headerOffset });
    pos += Math.ceil(size / BLOCK) * BLOCK;
  }
  pos += 2 * BLOCK;
  return { index: { entries, byName: new Map(entries.map((e) => [e.name, e])), fileSize: pos }, headers };
}

function checkToc(raw: unknown, where: string): BundleToc {
  const problems: string[] = [];
  const list = (raw as BundleToc | null)?.entries;
  if (!Array.isArray(list)) throw new FerryError('VERIFY', `${where}: the table of contents has no entries list`);
  if (list.length > MAX_TOC_ENTRIES) throw new FerryError('VERIFY', `${where}: the table of contents lists more than ${MAX_TOC_ENTRIES} entries`);
  const seen = new Set<string>();
  let total = 0;
  list.forEach((e, i) => {
    const at = `entries[${i}]`;
    if (!e || typeof e !== 'object' || typeof e.name !== 'string') return void problems.push(`${at}: no name`);
    if (!isSafeRelativePath(e.name) || e.name.includes('\\')) problems.push(`${at}: unsafe name ${JSON.stringify(e.name.slice(0, 200))}`);
    if (e.type !== 'file' && e.type !== 'directory') problems.push(`${at}: type must be file or directory`);
    if (!Number.isSafeInteger(e.size) || e.size < 0) problems.push(`${at}: size must be a non-negative integer`);
    else if (e.type === 'file' && !Number.isSafeInteger((total += Math.ceil(e.size / BLOCK) * BLOCK + BLOCK))) problems.push(`${at}: the bundle's size passes 2^53 bytes here`);
    if (seen.has(e.name)) problems.push(`${at}: ${JSON.stringify(e.name.slice(0, 200))} listed twice`);
    seen.add(e.name);
  });
  if (problems.length) {
    throw new FerryError('VERIFY', `${where}: the table of contents is not valid (${problems.length} problem${problems.length > 1 ? 's' : ''})`, {
      details: problems.slice(0, 50),
      hint: 'Push the bundle again with `ferry bundle push`.',
    });
  }
  return { entries: list.map((e) => ({ name: e.name, type: e.type, size: e.type === 'file' ? e.size : 0 })) };
}

/** A stream that counts and hashes what passes, and fails at the end when the digest differs. */
function verifying(body: Readable, digest: string, what: string): Readable {
  const hash = createHash('sha256');
  const check = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const actual = 'sha256:' + hash.digest('hex');
      cb(actual === digest ? null : new FerryError('VERIFY', `${what}: digest mismatch (content hashes to ${actual})`));
    },
  });
  body.on('error', (err) => check.destroy(err));
  return body.pipe(check);
}

/** Take bytes up to `length` from a stream (a range read over a registry that sends the rest). */
function limitStream(body: Readable, length: number): Readable {
  async function* gen() {
    let left = length;
    for await (const c of body) {
      if (left <= 0) break;
      const b = (c as Buffer).length > left ? (c as Buffer).subarray(0, left) : (c as Buffer);
      left -= b.length;
      yield b;
    }
    body.destroy();
  }
  // The body may be dropped before it is read (a lookahead cut short, a client closed): its errors
  // then have no reader, and must not take the process down. A reader still sees them.
  body.on('error', () => undefined);
  const out = Readable.from(gen(), { objectMode: false });
  out.once('close', () => body.destroy());
  return out;
}

/** A tag that is not there: say which tags the repository has (the usual slip is a date or a number). */
async function missingTag(client: RegistryClient, repo: RepoRef, tag: string, url: string): Promise<FerryError> {
  const tags = await client.listTags(repo).catch(() => undefined);
  const where = `${repo.registry}/${repo.repository}`;
  if (!tags?.length) {
    return new FerryError('NOT_FOUND', `${url}: no bundle tagged ${tag}: ${tags ? `${where} has no tags` : `${where} has no tag ${tag}`}`, {
      hint: `Check the repository name (\`ferry bundle push <tar> oci://${where}:<tag>\` creates it).`,
    });
  }
  const shown = tags.slice(-20);
  return new FerryError('NOT_FOUND', `${url}: no bundle tagged ${tag}; ${where} has ${tags.length} tag${tags.length > 1 ? 's' : ''}: ${shown.join(', ')}${tags.length > shown.length ? ' (the last 20)' : ''}`, {
    hint: `Name one of them, e.g. oci://${where}:${shown[shown.length - 1]}`,
  });
}

export class RegistryBundleSource implements BlobSource {
  readonly path: string;
  readonly index: TarIndex;
  readonly headers: Buffer[];
  readonly tarDigest?: string;
  /** tar path → layer descriptor, for the non-blob files. */
  private readonly files: Map<string, OciDescriptor>;
  private readonly small = new Map<string, Promise<Buffer>>();

  private constructor(
    readonly client: RegistryClient,
    readonly repo: RepoRef,
    url: string,
    toc: BundleToc,
    files: Map<string, OciDescriptor>,
    tarDigest: string | undefined,
    private readonly net?: NetContext,
  ) {
    this.path = url;
    const layout = tocLayout(toc);
    this.index = layout.index;
    this.headers = layout.headers;
    this.files = files;
    this.tarDigest = tarDigest;
  }

  /** Open `oci://…`: read the tag, the ferry manifest and the table of contents. */
  static async open(url: string, opts: { client?: RegistryClient; net?: NetOptions } = {}): Promise<RegistryBundleSource> {
    const { repo, reference } = parseOciUrl(url);
    const net = opts.client ? undefined : createNetContext(opts.net ?? {});
    const client = opts.client ?? net!.registry;
    try {
      const top = await client.getManifest(repo, reference);
      let ferryManifest: { bytes: Buffer; digest: string } = top;
      const parsed = JSON.parse(top.bytes.toString('utf8')) as { manifests?: OciDescriptor[]; artifactType?: string };
      if (Array.isArray(parsed.manifests)) {
        const d = parsed.manifests.find((m) => (m as { artifactType?: string }).artifactType === BUNDLE_ARTIFACT_TYPE);
        if (!d) throw notABundle(url);
        ferryManifest = await client.getManifest(repo, d.digest);
      }
      const m = JSON.parse(ferryManifest.bytes.toString('utf8')) as { artifactType?: string; layers?: OciDescriptor[]; annotations?: Record<string, string> };
      if (m.artifactType !== BUNDLE_ARTIFACT_TYPE || !Array.isArray(m.layers)) throw notABundle(url);
      const tocDesc = m.layers.find((l) => l.mediaType === BUNDLE_TOC_TYPE);
      if (!tocDesc) throw notABundle(url);
      let tocRaw: unknown;
      try {
        tocRaw = JSON.parse((await client.getBlobBytes(repo, tocDesc.digest, MAX_TOC_BYTES)).toString('utf8'));
      } catch (err) {
        if (err instanceof FerryError) throw err;
        throw new FerryError('VERIFY', `${url}: the table of contents is not valid JSON`, { cause: err });
      }
      const toc = checkToc(tocRaw, url);
      const files = new Map<string, OciDescriptor>();
      for (const l of m.layers) {
        const title = l.annotations?.[BUNDLE_ANNOTATION.title];
        if (l.mediaType === BUNDLE_FILE_TYPE && typeof title === 'string') files.set(title, l);
      }
      const tarDigest = m.annotations?.[BUNDLE_ANNOTATION.tarDigest];
      if (tarDigest !== undefined && (typeof tarDigest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(tarDigest))) {
        // Dropping it would skip the one check of the rebuilt tar as a whole.
        throw new FerryError('VERIFY', `${url}: the bundle manifest's ${BUNDLE_ANNOTATION.tarDigest} annotation is not a sha256 digest`, { hint: 'Push the bundle again with `ferry bundle push`.' });
      }
      return new RegistryBundleSource(client, repo, url, toc, files, tarDigest, net);
    } catch (err) {
      const missing = err instanceof FerryError && err.code === 'NOT_FOUND' && !reference.includes(':') ? await missingTag(client, repo, reference, url) : undefined;
      await net?.close();
      if (missing) throw missing;
      if (err instanceof SyntaxError) throw new FerryError('VERIFY', `${url}: the registry answered a manifest that is not JSON`, { cause: err });
      throw err;
    }
  }

  entry(name: string): TarEntry | undefined {
    const e = this.index.byName.get(name);
    return e?.type === 'file' ? e : undefined;
  }

  /** Where an entry's bytes live in the repository: its own digest (blobs) or its layer. */
  private locate(name: string): { digest: string; size: number } | undefined {
    const e = this.entry(name);
    if (!e) return undefined;
    const m = BLOB_NAME.exec(name);
    if (m) return { digest: `sha256:${m[1]}`, size: e.size };
    const layer = this.files.get(name);
    return layer ? { digest: layer.digest, size: e.size } : undefined;
  }

  /** The raw bytes of an entry as the registry sends them (not checked: verify hashes them). */
  async openEntry(name: string): Promise<Readable> {
    const at = this.locate(name);
    if (!at) throw new FerryError('NOT_FOUND', `${this.path}: ${name} is not in the bundle`);
    return limitStream(await this.client.openBlob(this.repo, at.digest), at.size);
  }

  /** Whole small file by name (metadata, manifests, index.json), checked against its digest. */
  readFile(name: string, maxBytes = MAX_SMALL_FILE): Promise<Buffer> {
    let p = this.small.get(name);
    if (!p) {
      const at = this.locate(name);
      if (!at) {
        return Promise.reject(new FerryError('NOT_FOUND', `${this.path}: ${name} is not in the bundle`, { hint: 'Is this a ferry bundle? `ferry bundle verify` checks it.' }));
      }
      const cap = Math.min(maxBytes, MAX_SMALL_FILE);
      if (at.size > cap) return Promise.reject(new FerryError('VERIFY', `${this.path}: ${name} is ${at.size} bytes, more than ferry reads whole for it (${cap})`));
      // The registry's blob is checked against its digest; its length against the table of
      // contents (a shorter one would shift every later entry of a pulled tar).
      p = this.client.getBlobBytes(this.repo, at.digest, at.size).then((bytes) => {
        if (bytes.length !== at.size) throw new FerryError('VERIFY', `${this.path}: ${name} is ${bytes.length} bytes in the registry, the table of contents says ${at.size}`, { hint: 'Push the bundle again from a verified copy.' });
        return bytes;
      });
      if (!BLOB_NAME.test(name)) this.small.set(name, p);
    }
    return p;
  }

  ferryFile(name: FerryFileName): Promise<Buffer> {
    return this.readFile(`ferry/${name}`);
  }

  info(): Promise<BundleInfo> {
    return BundleReader.prototype.info.call(this as unknown as BundleReader);
  }

  readIndex(): Promise<OciIndex> {
    return BundleReader.prototype.readIndex.call(this as unknown as BundleReader);
  }

  async blobSize(digest: string): Promise<number | undefined> {
    try {
      return this.entry(`blobs/sha256/${sha256Hex(digest)}`)?.size;
    } catch {
      return undefined;
    }
  }

  /** `end` is inclusive. A whole-blob read is checked against the digest as it streams. */
  async openBlob(digest: string, start = 0, end?: number): Promise<Readable> {
    const size = await this.blobSize(digest);
    if (size === undefined) throw new FerryError('NOT_FOUND', `${this.path}: blob ${digest} is not in the bundle`);
    const stop = end === undefined ? size - 1 : Math.min(end, size - 1);
    if (start > stop) return Readable.from([]);
    const body = limitStream(await this.client.openBlob(this.repo, digest, start), stop - start + 1);
    return start === 0 && stop === size - 1 ? verifying(body, digest, `${this.path} blob ${digest}`) : body;
  }

  /**
   * The blob from `start` as the registry sends it, NOT checked here: for a caller that hashes
   * what passes itself (import's HashedReads), so the bytes are hashed once, not twice.
   */
  async openBlobUnchecked(digest: string, start = 0): Promise<Readable> {
    const size = await this.blobSize(digest);
    if (size === undefined) throw new FerryError('NOT_FOUND', `${this.path}: blob ${digest} is not in the bundle`);
    if (start >= size) return Readable.from([]);
    return limitStream(await this.client.openBlob(this.repo, digest, start), size - start);
  }

  /** Whole small blob (a manifest, a config), capped like a tar bundle's (the table of contents may claim any size). */
  async readBlob(digest: string, maxBytes = BLOB_READ_CAP): Promise<Buffer> {
    const size = await this.blobSize(digest);
    if (size === undefined) throw new FerryError('NOT_FOUND', `${this.path}: blob ${digest} is not in the bundle`);
    if (size > maxBytes) throw new FerryError('VERIFY', `${this.path}: blob ${digest} is ${size} bytes, more than the ${maxBytes} bytes ferry reads into memory for it; refusing it`, { hint: 'No ferry writes a blob this large there: the bundle was crafted or damaged.' });
    return this.client.getBlobBytes(this.repo, digest, size);
  }

  /**
   * sha256 of each entry's bytes as the registry serves them (verify compares them with the
   * names and checksums.sha256, exactly as for a tar). A few entries stream at once.
   */
  async hashEntries(entries: TarEntry[], onProgress?: (bytes: number) => void): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const unreadable: string[] = [];
    await mapLimit(entries, 4, async (e) => {
      const hash = createHash('sha256');
      let n = 0;
      try {
        for await (const c of await this.openEntry(e.name)) {
          hash.update(c as Buffer);
          n += (c as Buffer).length;
          onProgress?.((c as Buffer).length);
        }
      } catch (err) {
        // A registry that lost a blob answers 404, or (Distribution with a descriptor cache) starts the body and cuts it.
        unreadable.push(`${e.name}: ${err instanceof FerryError && err.code === 'NOT_FOUND' ? 'not in the registry' : `transfer failed after ${n} of ${e.size} bytes (${(err as Error).message})`}`);
        return;
      }
      out.set(e.name, n === e.size ? hash.digest('hex') : `size ${n} of ${e.size}`);
    });
    if (unreadable.length) {
      throw new FerryError('VERIFY', `${this.path}: ${unreadable.length} file${unreadable.length > 1 ? 's' : ''} of the bundle could not be read from the registry`, {
        details: unreadable.sort(),
        hint: 'Run it again; if it persists, the registry lost content (garbage collection, a deleted repository?): push the bundle again from a verified copy.',
      });
    }
    return out;
  }

  async close(): Promise<void> {
    await this.net?.close();
  }
}

function notABundle(url: string): FerryError {
  return new FerryError('VALIDATION', `${url}: not a ferry bundle (no ${BUNDLE_ARTIFACT_TYPE} manifest under that reference)`, {
    hint: 'Push one with `ferry bundle push <bundle.tar> oci://…`.',
  });
}
