import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { TAR_END, tarHeader, tarPadding } from '../../src/store/tar-index.js';
import { tarEntries } from './tar-walk.js';

/**
 * Hostile bundles for tests: take a real bundle made by ferry, change its members as an
 * attacker with write access to the file would (new blobs, rewritten manifests and configs,
 * index.json, bundle.json), and write it back as a well-formed tar whose
 * ferry/checksums.sha256 matches again — so only ferry's own validation can refuse it.
 */

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface OciIndexJson {
  schemaVersion: 2;
  manifests: Desc[];
  [key: string]: unknown;
}

export const sha256 = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** A big member written in chunks: `head`, spaces (JSON whitespace) up to `size` bytes, `tail`. */
export interface PaddedMember {
  head: string;
  size: number;
  tail: string;
}

function* paddedChunks(p: PaddedMember): Generator<Buffer> {
  yield Buffer.from(p.head);
  const chunk = Buffer.alloc(1 << 20, 0x20);
  let left = p.size - Buffer.byteLength(p.head) - Buffer.byteLength(p.tail);
  while (left > 0) {
    const n = Math.min(left, chunk.length);
    yield chunk.subarray(0, n);
    left -= n;
  }
  yield Buffer.from(p.tail);
}

export class CraftedBundle {
  /** Member name → bytes, in archive order. */
  readonly files: Map<string, Buffer>;
  /** Members too big to hold in memory, replacing `files` entries of the same name. */
  readonly padded = new Map<string, PaddedMember>();

  private constructor(files: Map<string, Buffer>) {
    this.files = files;
  }

  /** Read every member of a (small) bundle into memory, with an independent tar walker. */
  static async load(tar: string): Promise<CraftedBundle> {
    const entries = await tarEntries(tar);
    const bytes = await readFile(tar);
    const files = new Map<string, Buffer>();
    for (const [name, e] of entries) files.set(name, Buffer.from(bytes.subarray(e.offset, e.offset + e.size)));
    return new CraftedBundle(files);
  }

  clone(): CraftedBundle {
    return new CraftedBundle(new Map(this.files));
  }

  /** Replace a member by a big one of exactly `size` bytes (`head` + spaces + `tail`). */
  setPadded(name: string, head: string, size: number, tail = ''): void {
    this.files.set(name, Buffer.alloc(0));
    this.padded.set(name, { head, size, tail });
  }

  private chunks(name: string): Iterable<Buffer> {
    const p = this.padded.get(name);
    return p ? paddedChunks(p) : [this.files.get(name)!];
  }

  private sizeOf(name: string): number {
    return this.padded.get(name)?.size ?? this.files.get(name)!.length;
  }

  get index(): OciIndexJson {
    return JSON.parse(this.files.get('index.json')!.toString('utf8')) as OciIndexJson;
  }

  set index(index: OciIndexJson) {
    this.files.set('index.json', Buffer.from(JSON.stringify(index)));
  }

  blob(digest: string): Buffer {
    const b = this.files.get(`blobs/sha256/${digest.slice('sha256:'.length)}`);
    if (!b) throw new Error(`no blob ${digest} in the bundle`);
    return b;
  }

  json<T = Record<string, unknown>>(digest: string): T {
    return JSON.parse(this.blob(digest).toString('utf8')) as T;
  }

  /** Add a blob (bytes, or a value stored as JSON); returns its digest and size. */
  putBlob(content: Buffer | string | object): { digest: string; size: number } {
    const bytes = Buffer.isBuffer(content) ? content : Buffer.from(typeof content === 'string' ? content : JSON.stringify(content));
    const digest = sha256(bytes);
    this.files.set(`blobs/sha256/${digest.slice('sha256:'.length)}`, bytes);
    return { digest, size: bytes.length };
  }

  /** The top-level descriptors of one kind (`io.ferry.kind`; images have none or `image`). */
  tops(kind: string): Desc[] {
    return this.index.manifests.filter((d) => (d.annotations?.['io.ferry.kind'] ?? 'image') === kind);
  }

  /**
   * Rewrite one top-level artifact: `edit` gets its manifest (and config) as JSON and may change
   * them; changed ones are stored as new blobs and the descriptors pointing at them follow.
   */
  editArtifact(
    pick: (top: Desc) => boolean,
    edit: (parts: { top: Desc; manifest: Record<string, unknown> & { config: Desc; layers: Desc[] }; config: Record<string, unknown> }) => void,
  ): void {
    const index = this.index;
    const top = index.manifests.find(pick);
    if (!top) throw new Error('no such artifact in the bundle');
    const manifest = this.json<Record<string, unknown> & { config: Desc; layers: Desc[] }>(top.digest);
    const config = this.json(manifest.config.digest);
    edit({ top, manifest, config });
    manifest.config = { ...manifest.config, ...this.putBlob(config) };
    Object.assign(top, this.putBlob(manifest));
    this.index = index;
  }

  /** A member of the bundle read as JSON (`ferry/lock.json`, say). */
  getJson<T = Record<string, unknown>>(name: string): T {
    const b = this.files.get(name);
    if (!b) throw new Error(`no ${name} in the bundle`);
    return JSON.parse(b.toString('utf8')) as T;
  }

  setJson(name: string, value: unknown): void {
    this.files.set(name, Buffer.from(JSON.stringify(value)));
  }

  /** Write the tar, ferry/checksums.sha256 recomputed over every other member (unless told not to). */
  async write(out: string, opts: { keepChecksums?: boolean } = {}): Promise<string> {
    if (!opts.keepChecksums) {
      const lines = [...this.files.keys()]
        .filter((n) => n !== 'ferry/checksums.sha256')
        .sort()
        .map((n) => {
          const h = createHash('sha256');
          for (const c of this.chunks(n)) h.update(c);
          return `${h.digest('hex')}  ${n}\n`;
        });
      this.files.set('ferry/checksums.sha256', Buffer.from(lines.join('')));
    }
    const fh = await open(out, 'w');
    try {
      for (const name of this.files.keys()) {
        const size = this.sizeOf(name);
        await fh.write(tarHeader(name, size, 'file'));
        for (const c of this.chunks(name)) await fh.write(c);
        await fh.write(tarPadding(size));
      }
      await fh.write(TAR_END);
    } finally {
      await fh.close();
    }
    return out;
  }
}

/** Peak resident set size in MB of a command run under `/usr/bin/time -v`, from its stderr. */
export function peakRssMb(stderr: string): number {
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  if (!m) throw new Error(`no "Maximum resident set size" in the output of /usr/bin/time -v:\n${stderr.slice(-2000)}`);
  return Number(m[1]) / 1024;
}
