import type { NetOptions } from '../oci/context.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleFrom, pathFrom } from './inputs.js';
import { FerryError } from '../errors.js';
import { loadResolvedTarget } from '../manifest/resolved-target.js';
import { DEFAULT_REGISTRY_MAPPING } from '../mapping/index.js';
import { kindRoutes } from '../serve/routes.js';
import { startRegistryServer } from '../serve/server.js';
import { openServeSource } from '../serve/source.js';
import { isOciUrl } from '../store/open-bundle.js';
import { VerifiedBlobs } from '../serve/verified-blobs.js';
import { verifyBundle } from './bundle-verify.js';

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
  /** The bundle or directory served, absolute. */
  source: string;
  repositories: ServedRepositorySummary[];
  /** Path prefixes of the kinds' plain-HTTP trees. */
  routes: string[];
  /** What is not served (bare tags, damaged or unsafe entries), said plainly. */
  warnings: string[];
}

export interface ServeSession {
  result: ServeResult;
  /** Stop listening and close the source. */
  close(): Promise<void>;
}

/** `ferry serve`: open, (optionally) verify, and serve a bundle or directory target until `close`. */
export async function serveCommand(location: string, opts: ServeOptions): Promise<ServeSession> {
  const cwd = opts.cwd ?? process.cwd();
  const at = (p: string) => pathFrom(cwd, p);
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new FerryError('USAGE', '--tls-cert and --tls-key go together');
  const target = opts.target ? await loadResolvedTarget(at(opts.target)) : undefined;
  const tls = opts.tlsCert && opts.tlsKey ? { cert: await readFile(at(opts.tlsCert)), key: await readFile(at(opts.tlsKey)) } : undefined;
  // Opened first: the format version is checked before the (long) --verify pass.
  const opened = await openServeSource(bundleFrom(cwd, location), opts.base && bundleFrom(cwd, opts.base), opts.net);
  try {
    if (opened.kind === 'bundle' && opts.verify) {
      const report = await verifyBundle(bundleFrom(cwd, location), { net: opts.net });
      if (!report.ok) {
        const n = report.problems.length;
        throw new FerryError('VERIFY', `${report.bundle}: verification failed (${n} problem${n === 1 ? '' : 's'}); not serving it`, {
          details: report.problems.map((p) => p.message),
          hint: 'Copy the bundle again from the source and run `ferry bundle verify`.',
        });
      }
    }
    const source = new VerifiedBlobs(opened.source, opts.onWarning);
    const index = await source.readIndex();
    const routeWarnings: string[] = [];
    const routes = await kindRoutes({ source, index, target, warnings: routeWarnings });
    const server = await startRegistryServer({
      source,
      index,
      mapping: target?.registry?.mapping ?? DEFAULT_REGISTRY_MAPPING,
      listen: opts.listen,
      tls,
      routes,
      indexVersion: opened.indexVersion,
      onRequest: opts.onRequest,
      onError: (message) => opts.onWarning?.(`request failed: ${message}`),
      maxConnections: opts.maxConnections,
    });
    const repos = [...server.catalog.repositories.values()].sort((a, b) => a.name.localeCompare(b.name));
    const result: ServeResult = {
      url: server.url,
      source: isOciUrl(location) ? location : path.resolve(at(location)),
      repositories: repos.map((r) => ({ name: r.name, tags: [...r.tags.keys()].sort(), upstream: [...r.upstream].sort() })),
      routes: routes.map((r) => r.prefix),
      warnings: [...server.catalog.warnings, ...routeWarnings],
    };
    return {
      result,
      close: async () => {
        await server.close();
        await opened.close();
      },
    };
  } catch (err) {
    await opened.close();
    throw err;
  }
}
