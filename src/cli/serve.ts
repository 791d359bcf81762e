import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { FerryError } from '../errors.js';
import { loadTarget } from '../manifest/load.js';
import { fileServeRoutes } from '../kinds/file/serve.js';
import { aptServeRoutes } from '../kinds/apt/serve.js';
import { registryMappingFor } from '../mapping/index.js';
import { startRegistryServer, VerifiedBlobs, type ServeRoute, type ServeRouteProvider } from '../oci/registry-server.js';
import { BundleReader } from '../store/bundle-reader.js';
import { verifyBundle } from '../store/bundle-verify.js';
import { LayoutDir } from '../store/layout.js';
import type { BlobSource } from '../store/source.js';
import { escapeLine } from '../ui/escape.js';
import { note, printResult } from '../ui/output.js';

/**
 * Plain-HTTP trees other kinds serve beside the registry (files, apt, charts): one line each.
 * A provider looks at the bundle/layout and returns the routes it needs (or none).
 */
export const SERVE_ROUTE_PROVIDERS: ServeRouteProvider[] = [fileServeRoutes, aptServeRoutes];

export async function openServeSource(
  location: string,
): Promise<{ source: BlobSource; kind: 'bundle' | 'layout'; close(): Promise<void>; indexVersion?: () => Promise<string | undefined> }> {
  const abs = path.resolve(location);
  let s;
  try {
    s = await stat(abs);
  } catch {
    throw new FerryError('USAGE', `${abs}: no such bundle or directory`, { hint: 'Pass a bundle .tar (ferry bundle create) or a directory target written by ferry import.' });
  }
  if (s.isDirectory()) {
    const layout = new LayoutDir(abs);
    await layout.readIndex();
    // A directory target may grow while served (another import): pick up a new index.json.
    const indexVersion = () =>
      stat(path.join(abs, 'index.json')).then(
        (st) => `${st.mtimeMs}:${st.size}:${st.ino}`,
        () => undefined,
      );
    return { source: layout, kind: 'layout', close: async () => {}, indexVersion };
  }
  const reader = await BundleReader.open(abs);
  try {
    // Refuse a bundle of another format version (or none) before anything is served from it.
    await reader.info();
  } catch (err) {
    await reader.close();
    throw err;
  }
  return { source: reader, kind: 'bundle', close: () => reader.close() };
}

interface ServeOptions {
  listen: string;
  target?: string;
  tlsCert?: string;
  tlsKey?: string;
  json?: boolean;
  quiet?: boolean;
  verify?: boolean;
  accessLog?: boolean;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('serve a bundle or a directory target as a read-only OCI registry (pull only) until interrupted')
    .argument('<source>', 'bundle .tar or OCI layout directory')
    .option('--listen <host:port>', 'address to listen on (port 0 picks a free one)', '127.0.0.1:5000')
    .option('--target <mirror-target.yaml>', 'name repositories as this target maps them (prefix, layout); default nested, no prefix')
    .option('--tls-cert <pem>', 'serve HTTPS with this certificate (needs --tls-key)')
    .option('--tls-key <pem>', 'private key for --tls-cert')
    .option('--verify', 're-hash the whole bundle before listening and refuse a damaged one (without it, each blob is checked as it is served)')
    .option('--access-log', 'print one line per request on stderr')
    .option('--json', 'print the address and repositories as JSON on stdout')
    .option('-q, --quiet', 'no repository list on stderr')
    .action(async (location: string, opts: ServeOptions) => {
      if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new FerryError('USAGE', '--tls-cert and --tls-key go together');
      const loadedTarget = opts.target ? await loadTarget(opts.target) : undefined;
      const target = loadedTarget?.target;
      const tls = opts.tlsCert && opts.tlsKey ? { cert: await readFile(opts.tlsCert), key: await readFile(opts.tlsKey) } : undefined;
      // Opened first: the format version is checked before the (long) --verify pass.
      const opened = await openServeSource(location);
      try {
        if (opened.kind === 'bundle' && opts.verify) {
          const report = await verifyBundle(location);
          if (!report.ok) {
            throw new FerryError('VERIFY', `${report.bundle}: verification failed (${report.problems.length} problems); not serving it`, {
              details: report.problems.map((p) => p.message),
              hint: 'Copy the bundle again from the source and run `ferry bundle verify`.',
            });
          }
        }
      } catch (err) {
        await opened.close();
        throw err;
      }
      // Names below come from the bundle: escaped wherever they are printed.
      const say = (line: string) => note(escapeLine(line));
      const source = new VerifiedBlobs(opened.source, (w) => say(`warning: ${w}`));
      const index = await source.readIndex();
      const routes: ServeRoute[] = [];
      const routeWarnings: string[] = [];
      for (const provide of SERVE_ROUTE_PROVIDERS) routes.push(...(await provide({ source, index, target: loadedTarget, warnings: routeWarnings })));
      const server = await startRegistryServer({
        source,
        index,
        mapping: registryMappingFor(target),
        listen: opts.listen,
        tls,
        routes,
        indexVersion: opened.indexVersion,
        onRequest: opts.accessLog ? (r) => say(`${r.method} ${r.path} ${r.status}`) : undefined,
      });
      const repos = [...server.catalog.repositories.values()].sort((a, b) => a.name.localeCompare(b.name));
      const data = {
        url: server.url,
        source: path.resolve(location),
        repositories: repos.map((r) => ({ name: r.name, tags: [...r.tags.keys()].sort(), upstream: [...r.upstream].sort() })),
        routes: routes.map((r) => r.prefix),
        warnings: [...server.catalog.warnings, ...routeWarnings],
      };
      // One line on stdout with the address (scripts parse it); the rest goes to stderr.
      printResult(data, { json: opts.json }, (d) => `listening on ${d.url}`);
      if (!opts.json && !opts.quiet) {
        for (const r of data.repositories) say(`  ${r.name}${r.tags.length ? `: ${r.tags.join(', ')}` : ' (by digest)'}`);
        for (const p of data.routes) say(`  ${server.url}${p}`);
      }
      for (const w of data.warnings) say(`warning: ${w}`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await server.close();
      await opened.close();
    });
}
