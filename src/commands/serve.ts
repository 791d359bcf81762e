import type { NetOptions } from '../oci/context.js';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { bundleFrom, pathFrom } from './inputs.js';
import { FerryError, unreadableFile } from '../errors.js';
import { readCapped } from '../manifest/input-file.js';
import { loadResolvedTarget } from '../manifest/resolved-target.js';
import { DEFAULT_REGISTRY_MAPPING } from '../mapping/index.js';
import { kindRoutes } from '../serve/routes.js';
import type { RegistryCatalog } from '../serve/registry.js';
import { startRegistryServer, type RegistryServer, type ServedContent } from '../serve/server.js';
import { openServeSource } from '../serve/source.js';
import { isOciUrl } from '../store/open-bundle.js';
import { VerifiedBlobs } from '../serve/verified-blobs.js';
import { listed, verifyBundle } from './bundle-verify.js';
import { checksAgainstLock, topsNotInLock } from '../kinds/lock-tops.js';
import { checkBundlePolicy } from '../kinds/image/verify.js';

export interface ServeOptions {
  /** `host:port` (port 0 picks a free one). */
  listen: string;
  /** Mirror target YAML: name repositories as it maps them (prefix, layout). */
  target?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Re-hash the whole bundle before listening and refuse a damaged one. */
  verify?: boolean;
  /** A differential bundle's base bundle (its blobs are served from either). */
  base?: string;
  /** Network settings for an `oci://…` bundle (`--ca-file`, `--insecure-registry`). */
  net?: NetOptions;
  /** One call per answered request (access log). */
  onRequest?: (info: { method: string; path: string; status: number }) => void;
  /** Damaged blobs found while serving, told once each, after the command returned. */
  onWarning?: (message: string) => void;
  /** Connections served at once (default SERVE_LIMITS.connections; more get 503 + Retry-After). */
  maxConnections?: number;
  cwd?: string;
}

export interface ServedRepositorySummary {
  name: string;
  tags: string[];
  upstream: string[];
}

export interface ServeResult {
  url: string;
  /** The bundle or directory served, absolute, symlinks followed (a `oci://…` bundle as given). */
  source: string;
  repositories: ServedRepositorySummary[];
  /** Path prefixes of the kinds' plain-HTTP trees. */
  routes: string[];
  /** What is not served (bare tags, damaged or unsafe entries), said plainly. */
  warnings: string[];
}

export interface ServeSession {
  result: ServeResult;
  /**
   * Open the same source (and `--base`) again — a symlink followed anew — and serve it instead,
   * with no downtime (SIGHUP). Checked as at start (with `--verify`: re-hashed) before anything
   * changes; on a failure the error is thrown and what was served stays served.
   */
  reload(): Promise<ServeResult>;
  /** Stop listening and close the source. */
  close(): Promise<void>;
}

/** Bytes of a `--tls-cert` or `--tls-key` file: a PEM chain is a few KiB; this is generous. */
export const TLS_FILE_CAP = 1024 * 1024;

/**
 * A `--tls-cert`/`--tls-key` file, read again at each reload: a FIFO put in its place (whose open
 * waits for a writer for ever, and every later reload queued behind it), a device (/dev/zero) or
 * a huge file is refused, named, and the certificate in use stays.
 */
async function readTlsFile(file: string, flag: string): Promise<string> {
  const st = await stat(file).catch((err: unknown) => {
    throw unreadableFile(file, `${flag} file`, err);
  });
  if (!st.isFile()) throw new FerryError('USAGE', `${flag} ${file}: not a regular file (a FIFO, socket, device or directory); refusing to read it`, { hint: `${flag} names a PEM file.` });
  const text = await readCapped(file, TLS_FILE_CAP, `${flag} file`);
  if (text === undefined) throw unreadableFile(file, `${flag} file`, 'ENOENT');
  return text;
}

interface Loaded {
  /** What was opened: the source with symlinks followed. */
  from: string;
  content: ServedContent & { close: () => Promise<void> };
  warnings: string[];
  /** Started once it is served: a split bundle's parts hashed in the background (stopped by `content.close`). */
  startChecks(): void;
}

/** `ferry serve`: open, (optionally) verify, and serve a bundle or directory target until `close`. */
export async function serveCommand(location: string, opts: ServeOptions): Promise<ServeSession> {
  const cwd = opts.cwd ?? process.cwd();
  const at = (p: string) => pathFrom(cwd, p);
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new FerryError('USAGE', '--tls-cert and --tls-key go together');
  const target = opts.target ? await loadResolvedTarget(at(opts.target)) : undefined;
  const readTls = async () =>
    opts.tlsCert && opts.tlsKey ? { cert: await readTlsFile(at(opts.tlsCert), '--tls-cert'), key: await readTlsFile(at(opts.tlsKey), '--tls-key') } : undefined;
  const tls = await readTls();
  const mapping = target?.registry?.mapping ?? DEFAULT_REGISTRY_MAPPING;
  const load = async (): Promise<Loaded> => {
    // A symlink is followed now (each reload anew), so a split bundle's `.parts` or first part is
    // known by its own name, and what is served is named as it is.
    const real = (p: string) => (isOciUrl(p) ? Promise.resolve(p) : realpath(p).catch(() => p));
    const from = await real(bundleFrom(cwd, location));
    // Opened first: the format version is checked before the (long) --verify pass.
    const opened = await openServeSource(from, opts.base && (await real(bundleFrom(cwd, opts.base))), opts.net);
    try {
      if (opened.kind === 'bundle' && opts.verify && opened.opened) {
        // The readers opened above are verified, the bundle's and a differential's base's: one
        // open each, so the bytes checked are the bytes served (a file or part renamed over in
        // between is never read); the base supplies every blob the differential left out, re-hashed.
        const { bundle, base } = opened.opened;
        const report = await verifyBundle(from, { net: opts.net, reader: bundle, ...(base ? { base: { path: base.path, reader: base } } : {}) });
        if (!report.ok) {
          const n = report.problems.length;
          const inBase = base ? report.problems.filter((p) => p.inBase).length : 0;
          throw new FerryError('VERIFY', `${report.bundle}: verification failed (${n} problem${n === 1 ? '' : 's'}${inBase ? `, ${inBase} of them in its --base ${base!.path}` : ''}); not serving it`, {
            details: report.problems.map((p) => p.message),
            hint: inBase
              ? `Copy the damaged bundle again from the source and run \`ferry bundle verify ${report.bundle} --base ${base!.path}\`.`
              : 'Copy the bundle again from the source and run `ferry bundle verify`.',
          });
        }
      }
      // The bundle's image signature policy, as import checks it: an image import would refuse
      // for its signature is not served either (offline; each reload anew).
      const policyWarnings: string[] = [];
      if (opened.kind === 'bundle' && opened.opened) {
        const notes: string[] = [];
        const summary = await checkBundlePolicy(opened.opened.bundle, notes, 'at serve');
        if (summary) policyWarnings.push(...notes);
      }
      const source = new VerifiedBlobs(opened.source, opts.onWarning);
      if (opened.parts) source.setPlaces(opened.parts.places);
      const index = await source.readIndex();
      // What is served must be what the lock pins, as for import: an entry only index.json names
      // would be served unseen by what is made from the lock (map, rewrite, sbom, report).
      if (opened.readLock && Array.isArray(index.manifests) && checksAgainstLock(index.manifests)) {
        const unlocked = await topsNotInLock(await opened.readLock(), index.manifests, source);
        if (unlocked.length) {
          throw new FerryError('VERIFY', `${from}: ${unlocked.length} index.json entr${unlocked.length === 1 ? 'y' : 'ies'} not pinned by the bundle's lock; not serving it`, {
            details: listed(unlocked.map((p) => `${p.artifact}: ${p.message}`)),
            hint: 'The bundle was crafted or damaged: do not serve or import it. Re-create it on the connected side and copy it again.',
          });
        }
      }
      const routeWarnings: string[] = [];
      const routes = await kindRoutes({ source, index, target, warnings: routeWarnings });
      // Plain serve starts at once; a split bundle's parts are hashed against .parts after it listens.
      const startChecks = () => opened.parts?.check(opts.onWarning ?? (() => {}));
      return { from, content: { source, index, mapping, routes, indexVersion: opened.indexVersion, close: () => opened.close() }, warnings: [...routeWarnings, ...opened.warnings, ...policyWarnings], startChecks };
    } catch (err) {
      await opened.close();
      throw err;
    }
  };
  const describe = (url: string, catalog: RegistryCatalog, loaded: Loaded): ServeResult => {
    const repos = [...catalog.repositories.values()].sort((a, b) => a.name.localeCompare(b.name));
    return {
      url,
      source: isOciUrl(location) ? location : loaded.from,
      repositories: repos.map((r) => ({ name: r.name, tags: [...r.tags.keys()].sort(), upstream: [...r.upstream].sort() })),
      routes: (loaded.content.routes ?? []).map((r) => r.prefix),
      warnings: [...catalog.warnings, ...loaded.warnings],
    };
  };
  const first = await load();
  let server: RegistryServer;
  try {
    server = await startRegistryServer({
      ...first.content,
      listen: opts.listen,
      tls,
      onRequest: opts.onRequest,
      onError: (message) => opts.onWarning?.(`request failed: ${message}`),
      maxConnections: opts.maxConnections,
    });
  } catch (err) {
    await first.content.close();
    throw err;
  }
  first.startChecks();
  // One reload at a time. A SIGHUP while one runs asks for one more load after it; any further
  // SIGHUP before that one starts shares it (a flood of signals is two loads, not one each: with
  // --verify each re-hashes the whole bundle).
  let running: Promise<ServeResult> | undefined;
  let waiting: Promise<ServeResult> | undefined;
  const start = (): Promise<ServeResult> => {
    const run = reload().finally(() => {
      if (running === run) running = undefined;
    });
    running = run;
    return run;
  };
  const requestReload = (): Promise<ServeResult> => {
    if (waiting) return waiting;
    if (!running) return start();
    const next = running.then(
      () => undefined,
      () => undefined,
    ).then(() => {
      waiting = undefined;
      return start();
    });
    waiting = next;
    return next;
  };
  const reload = async (): Promise<ServeResult> => {
    // A renewed certificate (same --tls-cert/--tls-key paths) is read again too; checked before anything changes.
    const nextTls = await readTls();
    if (nextTls) {
      try {
        createSecureContext(nextTls);
      } catch (err) {
        throw new FerryError('USAGE', `--tls-cert ${opts.tlsCert} / --tls-key ${opts.tlsKey}: not a certificate and its key (${(err as Error).message})`, { cause: err });
      }
    }
    const next = await load();
    try {
      await server.swap(next.content);
    } catch (err) {
      await next.content.close();
      throw err;
    }
    if (nextTls) server.setTls(nextTls);
    next.startChecks();
    return describe(server.url, server.catalog, next);
  };
  return {
    result: describe(server.url, server.catalog, first),
    reload: requestReload,
    close: () => server.close(),
  };
}
