import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { FerryError } from '../errors.js';
import type { ServeRoute } from '../kinds/serve-route.js';
import type { RegistryMapping } from '../mapping/index.js';
import type { OciIndex } from '../oci/media-types.js';
import { isSafeRelativePath } from '../store/safe-path.js';
import type { BlobSource } from '../store/source.js';
import { sendError, sendLowSpeed } from './http.js';
import { buildCatalog, registryHandler, type RegistryCatalog } from './registry.js';
import { VerifiedBlobs } from './verified-blobs.js';
import { trimTrailing } from '../ui/escape.js';

/**
 * `ferry serve`'s HTTP server: the read-only registry (`/v2/`, src/serve/registry.ts) and the
 * plain-HTTP trees the kinds add (`/files/`, `/apt/`, `/charts/`), so skopeo, containerd, apt
 * and curl pull on the air-gapped side with nothing else installed.
 */

export interface Listen {
  host: string;
  port: number;
}

/**
 * The answer of a `/files/`, `/charts/` or `/apt/` URL that names no file (a directory) or no
 * plain path: text in words, as the trees answer a missing file; never the registry's JSON error
 * (those trees are read by curl, apt and helm). The path is not echoed: it is what the client sent.
 */
function plainAnswer(res: ServerResponse, status: 400 | 404, message: string, head: boolean): void {
  const text = `${message}\n`;
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)) });
  res.end(head ? undefined : text);
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

export interface RegistryServerOptions extends ServedContent {
  /** `127.0.0.1:5000` or parsed. Port 0 picks a free port. */
  listen: string | Listen;
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Called once per answered request, for access logs. */
  onRequest?: (info: { method: string; path: string; status: number }) => void;
  /** A request that failed for a reason other than ferry's own errors (an I/O error): told here, not to the client. */
  onError?: (message: string) => void;
  /** Told about damaged blobs found while serving (when `source` is not a VerifiedBlobs already). */
  onWarning?: (message: string) => void;
  /** How long a client may take to send its request headers (default SERVE_TIMEOUTS.headersMs). */
  headersTimeoutMs?: number;
  /** How long a connection may sit with no byte moving either way (default SERVE_TIMEOUTS.idleMs). */
  idleTimeoutMs?: number;
  /** Connections served at once (default SERVE_LIMITS.connections); see SERVE_LIMITS. */
  maxConnections?: number;
}

/**
 * What one client population can hold. Each served request holds a socket and, while a blob
 * goes out, one open file (a first range request of a large blob also hashes it whole first).
 *
 * - At most `connections` connections are served at once (a cluster pulling through one
 *   `ferry serve`: containerd opens a few per image, apt one or two per host). A connection
 *   whose first request arrives past that is answered 503 with `Retry-After` and closed;
 *   containerd, skopeo, apt and curl --retry retry a 503.
 * - Past `connections` + the overflow (a quarter more, at least 16) sockets are not even kept:
 *   Node closes them as they are accepted, so sockets (file descriptors) stay bounded even
 *   against a flood of connections that never send a request.
 * - At most `verifications` whole-blob hashing passes (for range requests) run at once, the
 *   rest wait their turn: hashing is CPU- and disk-bound, more at once only slows each.
 * - A connection's requests are answered one at a time, in order (HTTP/1.1 pipelining: apt sends
 *   10 at once by default): a request waits, holding no file, until the answer before it on its
 *   connection has gone out. Node answers pipelined requests in order anyway, but started them
 *   all at once: each opened its blob and had it read into memory while its answer waited its
 *   turn (one connection sending 60 KB of pipelined GETs of a 3 MiB blob, never reading, held
 *   490 files and 1.6 GB). A connection with more than `pipelined` requests waiting is closed.
 */
export const SERVE_LIMITS = { connections: 256, verifications: 4, retryAfterSeconds: 2, pipelined: 32 };

/** Sockets kept beyond `maxConnections`, to be told 503 instead of being dropped. */
export function overflowConnections(maxConnections: number): number {
  return Math.max(16, Math.ceil(maxConnections / 4));
}

/**
 * A client holds a connection (a socket, a file descriptor) only while it makes progress:
 * request headers arrive within `headersMs` (a slowloris client that trickles them is answered
 * 408 and dropped; Node's default is 60 s, checked every 30 s), and a connection on which
 * nothing moves for `idleMs` (a client that asked for a blob and stopped reading) is closed.
 * The idle bound is long: the first range request of a large blob hashes it whole before the
 * first byte goes out.
 */
export const SERVE_TIMEOUTS = { headersMs: 15_000, idleMs: 10 * 60_000 };

export interface RegistryServer {
  url: string;
  host: string;
  port: number;
  /** The current catalog (rebuilt when `indexVersion` changes). */
  readonly catalog: RegistryCatalog;
  /**
   * Serve `next` instead, with no downtime: new requests get it at once, requests under way finish
   * from what they started with, and the old content's `close` is called when the last of them
   * ended. Resolves once `next` is served (its catalog built); on a failure the old stays.
   */
  swap(next: ServedContent): Promise<void>;
  /** Answer new TLS connections with this certificate and key (a renewed certificate); connections already open keep theirs. */
  setTls(tls: { cert: string | Buffer; key: string | Buffer }): void;
  /** Stop listening, then close what is served (`ServedContent.close`). */
  close(): Promise<void>;
}

/** Start the registry; resolves once it listens. */
export async function startRegistryServer(opts: RegistryServerOptions): Promise<RegistryServer> {
  const listen = typeof opts.listen === 'string' ? parseListen(opts.listen) : opts.listen;
  const maxConnections = opts.maxConnections ?? SERVE_LIMITS.connections;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) throw new FerryError('USAGE', `max connections ${maxConnections}: expected a whole number of at least 1`);
  // What a client too slow to take a body may hold (http.ts, sendRanged); a bad setting stops serve before it listens.
  sendLowSpeed();
  // What is served is one generation (source, catalog, routes); `swap` replaces it whole, with no
  // downtime: a request keeps the generation it started with, and a retired one is closed when its
  // last request ends.
  let current = await makeGeneration(opts, opts.onWarning);
  const retiring = new Set<Promise<void>>();
  let closed = false;
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const gen = current;
    gen.inflight++;
    let done = false;
    const release = () => {
      if (done) return;
      done = true;
      gen.inflight--;
      if (gen.inflight === 0) gen.retire?.();
    };
    res.once('close', release);
    try {
      await handleIn(gen, req, res);
    } finally {
      if (res.writableEnded) release();
    }
  };
  const handleIn = async (gen: Generation, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const routes = gen.routes;
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
      await gen.refresh();
      await gen.handleV2(req, res, url);
      return;
    }
    if (route) {
      let rest: string;
      try {
        rest = decodeURIComponent(url.pathname.slice(route.prefix.length));
      } catch {
        plainAnswer(res, 400, 'bad request: the path is not valid percent-encoding', req.method === 'HEAD');
        return;
      }
      // A directory (`/files/<host>/dir/`, the tree's root) is no file: these trees hold files
      // only, looked up by their full path, and list nothing.
      const dir = trimTrailing(rest, '/');
      if (rest === '' || (dir !== rest && (dir === '' || isSafeRelativePath(dir)))) {
        plainAnswer(res, 404, `not found: ${route.prefix} serves files by their full path; there is no directory listing`, req.method === 'HEAD');
        return;
      }
      // Routes look paths up by name; still, never hand them one that could climb out of a
      // directory (`..`, `.`, empty segments, backslashes, NUL and other control bytes).
      if (!isSafeRelativePath(rest)) {
        plainAnswer(res, 400, 'bad request: not a plain relative path (no `..`, `.`, empty segments, backslashes or control characters)', req.method === 'HEAD');
        return;
      }
      await route.handle(req, res, rest);
      return;
    }
    // Outside /v2/ nothing is the registry API: a tree this server does not have (`/charts/` of a
    // bundle without charts) gets the same plain answer as a path its tree does not hold.
    plainAnswer(res, 404, `not found: this server has no such path${routes.length ? ` (it serves /v2/ and ${routes.map((r) => r.prefix).sort().join(', ')}; files by their full path, with no directory listing)` : ' (it serves /v2/ only)'}`, req.method === 'HEAD');
  };

  // A socket is admitted on its first request while fewer than `maxConnections` are; it stays
  // admitted (keep-alive) until it closes. One not admitted gets 503 and is closed.
  const admitted = new WeakSet<object>();
  let admittedCount = 0;
  const admit = (req: IncomingMessage): boolean => {
    const socket = req.socket;
    if (admitted.has(socket)) return true;
    if (admittedCount >= maxConnections) return false;
    admitted.add(socket);
    admittedCount++;
    socket.once('close', () => admittedCount--);
    return true;
  };
  // Each connection's requests, answered one after the other (see SERVE_LIMITS).
  const queues = new WeakMap<object, { waiting: number; tail: Promise<void> }>();
  const inTurn = (req: IncomingMessage, res: ServerResponse, answer: () => void) => {
    const socket = req.socket;
    let q = queues.get(socket);
    if (!q) queues.set(socket, (q = { waiting: 0, tail: Promise.resolve() }));
    if (q.waiting >= SERVE_LIMITS.pipelined) {
      // A client this far ahead of what it reads is no client of a mirror: drop it, holding nothing.
      socket.destroy();
      return;
    }
    const queue = q;
    queue.waiting++;
    const previous = queue.tail;
    let answered!: () => void;
    queue.tail = new Promise<void>((resolve) => (answered = resolve));
    let done = false;
    const ended = () => {
      if (done) return;
      done = true;
      queue.waiting--;
      answered();
    };
    // Its answer has gone out to the socket (`finish`), or the connection went away (`close`).
    res.once('finish', ended);
    res.once('close', ended);
    void previous.then(() => {
      if (socket.destroyed) {
        res.destroy();
        return;
      }
      answer();
    });
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => inTurn(req, res, () => answerOne(req, res));
  const answerOne = (req: IncomingMessage, res: ServerResponse) => {
    if (!admit(req)) {
      res.setHeader('Connection', 'close');
      res.setHeader('Retry-After', String(SERVE_LIMITS.retryAfterSeconds));
      sendError(res, 503, 'TOOMANYREQUESTS', `this server answers at most ${maxConnections} connections at once; retry later`, req.method === 'HEAD');
      opts.onRequest?.({ method: req.method ?? '?', path: req.url ?? '/', status: 503 });
      return;
    }
    handler(req, res)
      .catch((err) => {
        // ferry's own errors say what is wrong with the bundle; anything else (an I/O error naming
        // a path on this host) goes to the operator's log, and the client gets no detail.
        const own = err instanceof FerryError;
        if (!own) opts.onError?.(`${req.method ?? '?'} ${req.url ?? '/'}: ${(err as Error)?.message ?? String(err)}`);
        if (!res.headersSent) sendError(res, 500, 'UNKNOWN', own ? err.message : 'internal error; the server\'s log has the detail', req.method === 'HEAD');
        else res.destroy();
      })
      .finally(() => opts.onRequest?.({ method: req.method ?? '?', path: req.url ?? '/', status: res.statusCode }));
  };
  const headersTimeout = opts.headersTimeoutMs ?? SERVE_TIMEOUTS.headersMs;
  const limits = {
    headersTimeout,
    // Requests here are GET/HEAD: receiving one is its headers. Node requires requestTimeout > headersTimeout.
    requestTimeout: headersTimeout + 1000,
    // How often Node checks the two above (its default, 30 s, would let a slow client stay twice as long).
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersTimeout / 4))),
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key, ...limits }, listener) : http.createServer(limits, listener);
  server.keepAliveTimeout = 30_000;
  // Sockets past this are closed as they are accepted (see SERVE_LIMITS).
  server.maxConnections = maxConnections + overflowConnections(maxConnections);
  // With no 'timeout' listener, Node destroys a socket idle this long.
  server.timeout = opts.idleTimeoutMs ?? SERVE_TIMEOUTS.idleMs;

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
      return current.catalog;
    },
    swap: async (next) => {
      const gen = await makeGeneration(next, opts.onWarning);
      if (closed) {
        // Stopped while `next` was being opened (SIGTERM during a reload): nothing would serve it, and nothing would close it.
        await next.close?.();
        throw new FerryError('USAGE', 'serve stopped while the new content was being opened; it was not served');
      }
      const old = current;
      current = gen;
      retiring.add(
        new Promise<void>((resolve) => {
          old.retire = resolve;
          if (old.inflight === 0) resolve();
        })
          .then(() => old.close?.())
          .catch((err) => opts.onError?.(`closing what was served before: ${(err as Error)?.message ?? String(err)}`)),
      );
    },
    setTls: (next) => {
      if (!(server instanceof https.Server)) throw new FerryError('USAGE', 'this server was started without --tls-cert/--tls-key; it cannot take a certificate now (start it again with them)');
      server.setSecureContext({ cert: next.cert, key: next.key });
    },
    close: async () => {
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.all([...retiring]);
      await current.close?.();
    },
  };
}

/** What one generation serves: set at start, replaced whole by `RegistryServer.swap`. */
export interface ServedContent {
  /** Wrapped in `VerifiedBlobs` unless it is one already (share one with the routes). */
  source: BlobSource | VerifiedBlobs;
  /** index.json, when the caller has read it already (read once). */
  index?: OciIndex;
  mapping: RegistryMapping;
  /** Extra plain-HTTP trees from other kinds (`/files/`, `/apt/`, `/charts/`). */
  routes?: ServeRoute[];
  /**
   * A directory target keeps growing while it is served (imports run beside it): when this
   * returns a new value (e.g. index.json's mtime), the catalog is rebuilt before answering.
   * Checked at most once a second.
   */
  indexVersion?: () => Promise<string | undefined>;
  /** Called once nothing is served from this content any more (swapped out and idle, or the server closed). */
  close?: () => Promise<void>;
}

interface Generation {
  source: VerifiedBlobs;
  catalog: RegistryCatalog;
  routes: ServeRoute[];
  handleV2: ReturnType<typeof registryHandler>;
  refresh(): Promise<void>;
  /** Requests being answered from this generation. */
  inflight: number;
  /** Set once swapped out: called when the last request ends. */
  retire?: () => void;
  close?: () => Promise<void>;
}

async function makeGeneration(content: ServedContent, onWarning?: (message: string) => void): Promise<Generation> {
  const source = content.source instanceof VerifiedBlobs ? content.source : new VerifiedBlobs(content.source, onWarning);
  // Manifests are read through `source`, so the catalog is built only from ones that match their digest.
  let catalog = await buildCatalog(source, content.mapping, content.index);
  let repoNames = [...catalog.repositories.keys()].sort();
  let version = await content.indexVersion?.();
  let checkedAt = Date.now();
  let refreshing: Promise<void> | undefined;
  const refresh = async () => {
    if (!content.indexVersion || Date.now() - checkedAt < 1000) return;
    refreshing ??= (async () => {
      checkedAt = Date.now();
      const now = await content.indexVersion!();
      if (now === version) return;
      // Keep serving the old catalog if the new index is half-written or damaged.
      const next = await buildCatalog(source, content.mapping).catch(() => undefined);
      if (!next) return;
      catalog = next;
      repoNames = [...catalog.repositories.keys()].sort();
      version = now;
    })().finally(() => {
      refreshing = undefined;
    });
    await refreshing;
  };
  const gen: Generation = {
    source,
    get catalog() {
      return catalog;
    },
    routes: [...(content.routes ?? [])].sort((a, b) => b.prefix.length - a.prefix.length),
    handleV2: registryHandler(source, () => ({ catalog, repoNames })),
    refresh,
    inflight: 0,
    close: content.close,
  };
  return gen;
}
