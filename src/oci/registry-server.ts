import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError } from '../errors.js';
import { checkCollisions, mapImage, type RegistryMapping } from '../mapping/index.js';
import { isManifestType, type OciDescriptor, type OciIndex } from './media-types.js';
import { parseImageReference } from './reference.js';
import { addServedExtras, answerReferrers } from './referrers.js';
import { MAX_MANIFEST_BYTES, walkIndex } from '../store/layout.js';
import { isSafeRelativePath } from '../store/safe-path.js';
import { ANNOTATION, type BlobSource } from '../store/source.js';
import type { LoadedTarget } from '../manifest/load.js';

/**
 * A read-only OCI distribution registry (the pull side) over a bundle tar or an OCI layout,
 * so skopeo and containerd can pull on the air-gapped side with nothing else installed.
 * Repository names come from the one mapping (`mapImage`); blobs are streamed by offset,
 * never loaded whole. Other kinds add plain HTTP trees (files, apt, charts) through `routes`.
 */

/** An extension point: a path prefix outside `/v2/` that another kind serves (`/files/`, `/apt/`, `/charts/`). */
export interface ServeRoute {
  /** Path prefix, starting and ending with `/`. */
  prefix: string;
  /** `rest` is the decoded path after the prefix. Answer the request (GET/HEAD); other methods never reach it. */
  handle(req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> | void;
}

/** What a route provider gets to decide which routes a served bundle/layout needs. */
export interface ServeRouteContext {
  /** Every body a route sends from the bundle goes through this: checked against its digest. */
  source: VerifiedBlobs;
  index: OciIndex;
  /** The mirror target given with `--target`, if any (e.g. the APT site signing key). */
  target?: LoadedTarget;
  /** Things a provider does not serve (damaged, unsafe names), said plainly; printed escaped by the CLI. */
  warnings: string[];
}

export type ServeRouteProvider = (ctx: ServeRouteContext) => Promise<ServeRoute[]> | ServeRoute[];

export interface Listen {
  host: string;
  port: number;
}

/** `127.0.0.1:5000`, `[::1]:5000`, `localhost:0`, `:5000` (all interfaces), `5000` (loopback). */
export function parseListen(text: string): Listen {
  const bad = () =>
    new FerryError('USAGE', `--listen ${JSON.stringify(text)}: expected host:port (e.g. 127.0.0.1:5000, [::1]:5000, :5000)`);
  let host: string;
  let portText: string;
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text);
  if (v6) [host, portText] = [v6[1], v6[2]];
  else if (/^\d+$/.test(text)) [host, portText] = ['127.0.0.1', text];
  else {
    const i = text.lastIndexOf(':');
    if (i === -1) throw bad();
    host = text.slice(0, i) || '0.0.0.0';
    portText = text.slice(i + 1);
    if (host.includes(':')) throw bad();
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw bad();
  return { host, port };
}

export interface ServedRepository {
  name: string;
  /** tag → top-level descriptor. */
  tags: Map<string, OciDescriptor>;
  /** Every manifest/index the repository's images reach: digest → media type. */
  manifests: Map<string, string>;
  /** Every blob (config, layer, other) the repository's images reach. */
  blobs: Set<string>;
  /** The upstream references served here. */
  upstream: string[];
  /** Subject digest → referrers carried with the images (the referrers API answers from it). */
  referrers?: Map<string, OciDescriptor[]>;
}

export interface RegistryCatalog {
  repositories: Map<string, ServedRepository>;
  /** Things in index.json that are not served, or damaged, said plainly. */
  warnings: string[];
}

/** Which top-level descriptors are images the registry serves, under which repository and tag. */
export async function buildCatalog(source: BlobSource, mapping: RegistryMapping, index?: OciIndex): Promise<RegistryCatalog> {
  const idx = index ?? (await source.readIndex());
  const warnings: string[] = [];
  const servable: Array<{ top: OciDescriptor; refName: string }> = [];
  for (const top of idx.manifests ?? []) {
    const refName = top.annotations?.[ANNOTATION.refName];
    const kind = top.annotations?.[ANNOTATION.kind];
    if (!refName || !isManifestType(top.mediaType)) continue;
    if (kind !== undefined && kind !== 'image' && kind !== 'chart') continue;
    if (!/[/:@]/.test(refName)) {
      // The OCI convention (skopeo `oci:dir:tag`) puts only a tag in ref.name: no repository to serve it under.
      warnings.push(`${refName}: ref.name is a bare tag, not a full image reference; not served (${top.digest})`);
      continue;
    }
    try {
      parseImageReference(refName);
    } catch {
      warnings.push(`${refName}: not a full image reference; not served (${top.digest})`);
      continue;
    }
    servable.push({ top, refName });
  }
  checkCollisions(servable.map((s) => s.refName), mapping);

  // Each distinct top-level digest is walked once, labelled by its digest: an index naming one
  // image under many tags costs one walk, not one per tag (and no per-tag label lists).
  const namesOf = new Map<string, string[]>();
  const walkTops: OciDescriptor[] = [];
  for (const { top, refName } of servable) {
    const names = namesOf.get(top.digest);
    if (names) names.push(refName);
    else {
      namesOf.set(top.digest, [refName]);
      walkTops.push({ mediaType: top.mediaType, digest: top.digest, size: top.size });
    }
  }
  const walk = await walkIndex({ schemaVersion: 2, manifests: walkTops }, source);
  const named = (digests: string[]) => {
    const names = digests.flatMap((d) => namesOf.get(d) ?? [d]);
    return names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');
  };
  for (const p of walk.problems) warnings.push(`${named(p.artifacts)} ${p.role} ${p.digest}: ${p.message}`);

  const repositories = new Map<string, ServedRepository>();
  const reposOfTop = new Map<string, Set<ServedRepository>>();
  /** refName → its repository, for the extras (signatures, referrers) that name their subject by it. */
  const repoOfLabel = new Map<string, ServedRepository>();
  for (const { top, refName } of servable) {
    const mapped = mapImage(refName, mapping, top.annotations?.[ANNOTATION.upstreamDigest] ? top.digest : undefined);
    let repo = repositories.get(mapped.repository);
    if (!repo) {
      repo = { name: mapped.repository, tags: new Map(), manifests: new Map(), blobs: new Set(), upstream: [] };
      repositories.set(mapped.repository, repo);
    }
    repo.upstream.push(mapped.upstream);
    repoOfLabel.set(refName, repo);
    if (mapped.tag) {
      const prev = repo.tags.get(mapped.tag);
      if (prev && prev.digest !== top.digest) warnings.push(`${mapped.upstream}: tag ${mapped.tag} appears twice with different digests; serving ${prev.digest}`);
      else repo.tags.set(mapped.tag, top);
    }
    let repos = reposOfTop.get(top.digest);
    if (!repos) reposOfTop.set(top.digest, (repos = new Set()));
    repos.add(repo);
  }
  for (const b of walk.blobs.values()) {
    for (const topDigest of b.artifacts) {
      for (const repo of reposOfTop.get(topDigest) ?? []) {
        if (b.role === 'index' || b.role === 'manifest') repo.manifests.set(b.digest, b.mediaType);
        else repo.blobs.add(b.digest);
      }
    }
  }
  await addServedExtras(idx.manifests ?? [], (d) => source.readBlob(d), (of) => repoOfLabel.get(of), warnings);
  return { repositories, warnings };
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers, exported so routes of other kinds answer the same way.

const DIGEST = /^sha256:[a-f0-9]{64}$/;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, head = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(head ? undefined : text);
}

/** OCI distribution error body: `{"errors":[{"code","message","detail"}]}`. */
export function sendError(res: ServerResponse, status: number, code: string, message: string, head = false, detail?: unknown): void {
  sendJson(res, status, { errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }] }, {}, head);
}

/** A single `Range: bytes=…` header resolved against `size`; multi-range requests get the whole body. */
export type RangeAnswer = { status: 200 | 206; start: number; end: number } | { status: 416 };

export function resolveRange(range: string | undefined, size: number): RangeAnswer {
  if (!range || range.includes(',')) return { status: 200, start: 0, end: size - 1 };
  const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  if (!m || (m[1] === '' && m[2] === '')) return { status: 416 };
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return suffix > 0 ? { status: 206, start: Math.max(0, size - suffix), end: size - 1 } : { status: 416 };
  }
  const start = Number(m[1]);
  const end = m[2] !== '' ? Math.min(Number(m[2]), size - 1) : size - 1;
  return start < size && start <= end ? { status: 206, start, end } : { status: 416 };
}

/**
 * Stream `size` bytes from `open(start, end)` honouring a single `Range: bytes=…` header
 * (206 + Content-Range; 416 when unsatisfiable). Multi-range requests get the whole body.
 * Bodies from a bundle go through `VerifiedBlobs.send`, which calls this.
 */
export async function sendRanged(
  req: IncomingMessage,
  res: ServerResponse,
  size: number,
  open: (start: number, end: number) => Promise<NodeJS.ReadableStream>,
  headers: Record<string, string>,
): Promise<void> {
  const head = req.method === 'HEAD';
  const range = req.headers.range;
  const r = resolveRange(range, size);
  if (r.status === 416) {
    res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Type': 'application/json', ...headers });
    res.end(head ? undefined : JSON.stringify({ errors: [{ code: 'RANGE_INVALID', message: `range ${range} not satisfiable for ${size} bytes` }] }));
    return;
  }
  const { status, start, end } = r;
  const length = size === 0 ? 0 : end - start + 1;
  res.writeHead(status, {
    'Content-Length': String(length),
    'Accept-Ranges': 'bytes',
    ...(status === 206 ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    ...headers,
  });
  if (head || length === 0) {
    res.end();
    return;
  }
  const body = await open(start, end);
  await pipeline(body, res).catch(() => {
    // The client went away mid-blob, the source failed, or the bytes did not match their
    // digest: drop the connection so the client sees a short body, never a complete 200.
    res.destroy();
  });
}

const EMPTY_DIGEST = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const sha256Of = (bytes: Uint8Array) => 'sha256:' + createHash('sha256').update(bytes).digest('hex');

/**
 * The blobs of a served bundle or layout, as `serve` hands them out: nothing that arrived is
 * trusted, so no client ever gets a complete body whose bytes differ from the digest announced.
 *
 * - A whole body is hashed while it streams; its last chunk is held back until the hash is
 *   known, and on a mismatch the connection is cut instead (any HTTP client sees a failed
 *   transfer). One chunk per response is held: memory stays bounded.
 * - A partial body (Range) cannot be checked against the digest, so a range is served only
 *   of a blob already hashed whole in this process: the first range request of a blob hashes
 *   it once (concurrent requests share that pass) and the result is remembered.
 * - A blob found damaged is refused from then on, HEAD included (its digest is never announced).
 * - Small blobs (manifests, configs, metadata) are read whole, with a size cap, and checked
 *   before anything is sent.
 */
export class VerifiedBlobs implements BlobSource {
  private readonly good = new Set<string>();
  /** digest → what its bytes hash to. */
  private readonly bad = new Map<string, string>();
  private readonly checking = new Map<string, Promise<boolean>>();

  constructor(
    readonly inner: BlobSource,
    /** Told once per damaged blob, naming it; the CLI prints it (escaped). */
    private readonly warn: (message: string) => void = () => {},
  ) {}

  blobSize(digest: string): Promise<number | undefined> {
    return this.inner.blobSize(digest);
  }

  /** Raw, unchecked bytes (BlobSource): routes answer with `send`, which checks them. */
  openBlob(digest: string, start?: number, end?: number): Promise<Readable> {
    return this.inner.openBlob(digest, start, end);
  }

  readIndex(): Promise<OciIndex> {
    return this.inner.readIndex();
  }

  /** Whether the blob was found not to match its digest. */
  isDamaged(digest: string): boolean {
    return this.bad.has(digest);
  }

  /** Message for a damaged blob, for routes to answer with. */
  damaged(label: string, digest: string): string {
    return `${label} ${digest}: the served bytes do not match this digest (they hash to ${this.bad.get(digest) ?? 'something else'}); not served`;
  }

  /** A small blob read whole: refused when larger than `maxBytes` or when it does not hash to its digest. */
  async readBlob(digest: string, maxBytes = MAX_MANIFEST_BYTES, label = 'blob'): Promise<Buffer> {
    const size = await this.inner.blobSize(digest);
    if (size === undefined) throw new FerryError('NOT_FOUND', `${label} ${digest}: not there`);
    if (size > maxBytes) throw new FerryError('VERIFY', `${label} ${digest}: ${size} bytes, more than the ${maxBytes} bytes read whole here; not read`);
    if (this.bad.has(digest)) throw new FerryError('VERIFY', this.damaged(label, digest));
    const bytes = await this.inner.readBlob(digest);
    if (bytes.length > maxBytes) throw new FerryError('VERIFY', `${label} ${digest}: more than ${maxBytes} bytes; not read`);
    if (!this.settle(digest, sha256Of(bytes), label)) throw new FerryError('VERIFY', this.damaged(label, digest));
    return bytes;
  }

  /**
   * Answer GET/HEAD with the blob (`Range` honoured), checked as the class comment says.
   * Returns false, having sent nothing, when the blob is damaged: the caller answers in its
   * own format (an OCI error, a plain 500).
   */
  async send(req: IncomingMessage, res: ServerResponse, digest: string, size: number, headers: Record<string, string>, label: string): Promise<boolean> {
    if (size === 0 && digest !== EMPTY_DIGEST) this.settle(digest, EMPTY_DIGEST, label);
    if (this.bad.has(digest)) return false;
    const r = resolveRange(req.headers.range, size);
    const partial = r.status === 206 && (r.start !== 0 || r.end !== size - 1);
    if (partial && req.method !== 'HEAD' && !(await this.verifyWhole(digest, label))) return false;
    await sendRanged(req, res, size, (start, end) => (start === 0 && end === size - 1 ? this.openChecked(digest, size, label) : this.inner.openBlob(digest, start, end)), headers);
    return true;
  }

  /** Record what a blob hashed to; warn (once) when that is not its digest. */
  private settle(digest: string, actual: string, label: string): boolean {
    if (actual === digest) {
      this.good.add(digest);
      return true;
    }
    this.good.delete(digest);
    if (!this.bad.has(digest)) {
      this.bad.set(digest, actual);
      this.warn(this.damaged(label, digest));
    }
    return false;
  }

  private verifyWhole(digest: string, label: string): Promise<boolean> {
    if (this.good.has(digest)) return Promise.resolve(true);
    if (this.bad.has(digest)) return Promise.resolve(false);
    let pass = this.checking.get(digest);
    if (!pass) {
      pass = (async () => {
        const hash = createHash('sha256');
        for await (const chunk of await this.inner.openBlob(digest)) hash.update(chunk as Buffer);
        return this.settle(digest, 'sha256:' + hash.digest('hex'), label);
      })().finally(() => this.checking.delete(digest));
      this.checking.set(digest, pass);
    }
    return pass;
  }

  /** The whole blob, hashed as it flows; the last chunk leaves only once the hash matched. */
  private async openChecked(digest: string, size: number, label: string): Promise<Readable> {
    const source = await this.inner.openBlob(digest);
    const hash = createHash('sha256');
    let held: Buffer | undefined;
    let seen = 0;
    const settle = (actual: string) => this.settle(digest, actual, label);
    const check = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        seen += chunk.length;
        const previous = held;
        held = chunk;
        cb(null, previous);
      },
      flush(cb) {
        if (!settle('sha256:' + hash.digest('hex')) || seen !== size) {
          cb(new FerryError('VERIFY', `${label} ${digest}: bytes do not match the digest; connection cut`));
          return;
        }
        cb(null, held);
      },
    });
    source.on('error', (err) => check.destroy(err));
    check.on('close', () => source.destroy());
    return source.pipe(check);
  }
}

function paginate(items: string[], url: URL): { page: string[]; next?: string } {
  const last = url.searchParams.get('last');
  const nText = url.searchParams.get('n');
  let from = 0;
  if (last !== null) {
    from = items.findIndex((t) => t > last);
    if (from === -1) from = items.length;
  }
  if (nText === null || nText === '') return { page: items.slice(from) };
  const n = Math.max(0, Number.parseInt(nText, 10) || 0);
  const page = items.slice(from, from + n);
  const more = from + n < items.length && page.length > 0;
  return { page, next: more ? page[page.length - 1] : undefined };
}

function linkHeader(pathname: string, n: string | null, last: string): Record<string, string> {
  const q = new URLSearchParams();
  if (n) q.set('n', n);
  q.set('last', last);
  return { Link: `<${pathname}?${q.toString()}>; rel="next"` };
}

export interface RegistryServerOptions {
  /** Wrapped in `VerifiedBlobs` unless it is one already (share one with the routes). */
  source: BlobSource | VerifiedBlobs;
  /** index.json, when the caller has read it already (read once). */
  index?: OciIndex;
  mapping: RegistryMapping;
  /** `127.0.0.1:5000` or parsed. Port 0 picks a free port. */
  listen: string | Listen;
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Extra plain-HTTP trees from other kinds (`/files/`, `/apt/`, `/charts/`). */
  routes?: ServeRoute[];
  /** Called once per answered request, for access logs. */
  onRequest?: (info: { method: string; path: string; status: number }) => void;
  /**
   * A directory target keeps growing while it is served (imports run beside it): when this
   * returns a new value (e.g. index.json's mtime), the catalog is rebuilt before answering.
   * Checked at most once a second.
   */
  indexVersion?: () => Promise<string | undefined>;
  /** Told about damaged blobs found while serving (when `source` is not a VerifiedBlobs already). */
  onWarning?: (message: string) => void;
}

export interface RegistryServer {
  url: string;
  host: string;
  port: number;
  /** The current catalog (rebuilt when `indexVersion` changes). */
  readonly catalog: RegistryCatalog;
  close(): Promise<void>;
}

/** Start the registry; resolves once it listens. */
export async function startRegistryServer(opts: RegistryServerOptions): Promise<RegistryServer> {
  const listen = typeof opts.listen === 'string' ? parseListen(opts.listen) : opts.listen;
  const source = opts.source instanceof VerifiedBlobs ? opts.source : new VerifiedBlobs(opts.source, opts.onWarning);
  // Manifests are read through `source`, so the catalog is built only from ones that match their digest.
  let catalog = await buildCatalog(source, opts.mapping, opts.index);
  let repoNames = [...catalog.repositories.keys()].sort();
  let version = await opts.indexVersion?.();
  let checkedAt = Date.now();
  let refreshing: Promise<void> | undefined;
  const refresh = async () => {
    if (!opts.indexVersion || Date.now() - checkedAt < 1000) return;
    refreshing ??= (async () => {
      checkedAt = Date.now();
      const now = await opts.indexVersion!();
      if (now === version) return;
      // Keep serving the old catalog if the new index is half-written or damaged.
      const next = await buildCatalog(source, opts.mapping).catch(() => undefined);
      if (!next) return;
      catalog = next;
      repoNames = [...catalog.repositories.keys()].sort();
      version = now;
    })().finally(() => {
      refreshing = undefined;
    });
    await refreshing;
  };
  const routes = [...(opts.routes ?? [])].sort((a, b) => b.prefix.length - a.prefix.length);

  const handleV2 = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const head = req.method === 'HEAD';
    const p = url.pathname;
    if (p === '/v2/' || p === '/v2') {
      sendJson(res, 200, {}, {}, head);
      return;
    }
    if (p === '/v2/_catalog') {
      const { page, next } = paginate(repoNames, url);
      sendJson(res, 200, { repositories: page }, next ? linkHeader(p, url.searchParams.get('n'), next) : {}, head);
      return;
    }
    if (answerReferrers(req, res, p, url.searchParams, (name, subject) => catalog.repositories.get(name) && (catalog.repositories.get(name)!.referrers?.get(subject) ?? []))) return;
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(p) ?? /^\/v2\/(.+)\/(tags)\/list$/.exec(p);
    if (!m) {
      sendError(res, 404, 'NOT_FOUND', `no such endpoint: ${p}`, head);
      return;
    }
    const [, name, what, rawRef] = m;
    const repo = catalog.repositories.get(name);
    if (!repo) {
      sendError(res, 404, 'NAME_UNKNOWN', `repository ${name} is not served here`, head, { name });
      return;
    }
    if (what === 'tags') {
      const tags = [...repo.tags.keys()].sort();
      const { page, next } = paginate(tags, url);
      sendJson(res, 200, { name, tags: page }, next ? linkHeader(p, url.searchParams.get('n'), next) : {}, head);
      return;
    }
    let ref: string;
    try {
      ref = decodeURIComponent(rawRef);
    } catch {
      sendError(res, 400, what === 'manifests' ? 'MANIFEST_INVALID' : 'DIGEST_INVALID', `bad reference ${rawRef}`, head);
      return;
    }
    if (what === 'manifests') {
      let digest: string;
      let mediaType: string | undefined;
      if (ref.includes(':')) {
        if (!DIGEST.test(ref)) {
          sendError(res, 400, 'DIGEST_INVALID', `${ref}: unsupported or malformed digest`, head);
          return;
        }
        digest = ref;
        mediaType = repo.manifests.get(ref);
      } else {
        const top = repo.tags.get(ref);
        digest = top?.digest ?? '';
        mediaType = top?.mediaType;
      }
      const size = mediaType ? await source.blobSize(digest) : undefined;
      if (!mediaType || size === undefined) {
        sendError(res, 404, 'MANIFEST_UNKNOWN', `manifest ${ref} is not in ${name}`, head, { name, reference: ref });
        return;
      }
      // Small: read whole (capped) and checked against its digest before a 200 is sent, HEAD included.
      let bytes: Buffer;
      try {
        bytes = await source.readBlob(digest, MAX_MANIFEST_BYTES, `${name} manifest`);
      } catch (err) {
        if (!(err instanceof FerryError) || err.code !== 'VERIFY') throw err;
        sendError(res, 500, 'MANIFEST_INVALID', err.message, head, { name, reference: ref });
        return;
      }
      res.writeHead(200, {
        'Content-Type': mediaType,
        'Content-Length': String(bytes.length),
        'Docker-Content-Digest': digest,
        ETag: `"${digest}"`,
      });
      res.end(head ? undefined : bytes);
      return;
    }
    // blobs
    if (!DIGEST.test(ref)) {
      sendError(res, 400, 'DIGEST_INVALID', `${ref}: unsupported or malformed digest`, head);
      return;
    }
    const reachable = repo.blobs.has(ref) || repo.manifests.has(ref);
    const size = reachable ? await source.blobSize(ref) : undefined;
    if (size === undefined) {
      sendError(res, 404, 'BLOB_UNKNOWN', `blob ${ref} is not in ${name}`, head, { digest: ref });
      return;
    }
    const headers = { 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': ref, ETag: `"${ref}"` };
    if (!(await source.send(req, res, ref, size, headers, `${name} blob`))) {
      sendError(res, 500, 'DIGEST_INVALID', source.damaged(`${name} blob`, ref), head, { digest: ref });
    }
  };

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://registry.invalid');
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    const isV2 = url.pathname === '/v2' || url.pathname.startsWith('/v2/');
    const route = isV2 ? undefined : routes.find((r) => url.pathname.startsWith(r.prefix));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendError(res, 405, 'UNSUPPORTED', `${req.method} is not supported: this registry is read-only (ferry serve)`);
      return;
    }
    if (isV2) {
      await refresh();
      await handleV2(req, res, url);
      return;
    }
    if (route) {
      let rest: string;
      try {
        rest = decodeURIComponent(url.pathname.slice(route.prefix.length));
      } catch {
        sendError(res, 400, 'NAME_INVALID', `bad path ${url.pathname}`, req.method === 'HEAD');
        return;
      }
      // Routes look paths up by name; still, never hand them one that could climb out of a
      // directory (`..`, `.`, empty segments, backslashes, NUL and other control bytes).
      if (rest !== '' && !isSafeRelativePath(rest)) {
        sendError(res, 400, 'NAME_INVALID', `bad path ${url.pathname}`, req.method === 'HEAD');
        return;
      }
      await route.handle(req, res, rest);
      return;
    }
    sendError(res, 404, 'NOT_FOUND', `no such path: ${url.pathname}`, req.method === 'HEAD');
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handler(req, res)
      .catch((err) => {
        if (!res.headersSent) sendError(res, 500, 'UNKNOWN', (err as Error)?.message ?? String(err), req.method === 'HEAD');
        else res.destroy();
      })
      .finally(() => opts.onRequest?.({ method: req.method ?? '?', path: req.url ?? '/', status: res.statusCode }));
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, listener) : http.createServer(listener);
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(
        new FerryError('USAGE', `cannot listen on ${listen.host}:${listen.port} (${err.code ?? err.message})`, {
          cause: err,
          hint: err.code === 'EADDRINUSE' ? 'Another process uses that port; pick another with --listen, or port 0 for a free one.' : undefined,
        }),
      );
    server.once('error', onError);
    server.listen(listen.port, listen.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const hostForUrl = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${hostForUrl}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    get catalog() {
      return catalog;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
