import type { Command } from 'commander';
import { trustOptions, withTrustOptions, type CommonCliOptions } from './common.js';
import { serveCommand } from '../commands/serve.js';
import { FerryError } from '../errors.js';
import { SERVE_LIMITS } from '../serve/server.js';
import { escapeLine } from '../ui/escape.js';
import { note, printResult } from '../ui/output.js';

interface ServeCliOptions extends Pick<CommonCliOptions, 'caFile' | 'insecureRegistry'> {
  listen: string;
  target?: string;
  tlsCert?: string;
  tlsKey?: string;
  json?: boolean;
  quiet?: boolean;
  verify?: boolean;
  accessLog?: boolean;
  base?: string;
  maxConnections?: number;
}

function positiveInt(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1) throw new FerryError('USAGE', `--max-connections ${JSON.stringify(text)}: expected a whole number of at least 1`);
  return n;
}

export function register(program: Command): void {
  const cmd = program
    .command('serve')
    .description('serve a bundle or a directory target as a read-only OCI registry (pull only) until interrupted')
    .argument('<source>', 'bundle .tar, oci://registry/repository:tag (a pushed bundle) or OCI layout directory')
    .option('--listen <host:port>', 'address to listen on (port 0 picks a free one)', '127.0.0.1:5000')
    .option('--target <mirror-target.yaml>', 'name repositories as this target maps them (prefix, layout); default nested, no prefix')
    .option('--tls-cert <pem>', 'serve HTTPS with this certificate (needs --tls-key)')
    .option('--tls-key <pem>', 'private key for --tls-cert')
    .option('--verify', 're-hash the whole bundle before listening and refuse a damaged one (without it, each blob is checked as it is served)')
    .option('--base <bundle>', 'for a differential bundle: the base bundle it was made against (blobs are served from either)')
    .option('--max-connections <n>', `connections served at once; more get 503 with Retry-After (default ${SERVE_LIMITS.connections})`, positiveInt)
    .option('--access-log', 'print one line per request on stderr')
    .option('--json', 'print the address and repositories as JSON on stdout')
    .option('-q, --quiet', 'no repository list on stderr');
  withTrustOptions(cmd).action(async (location: string, opts: ServeCliOptions) => {
      // Names below come from the bundle: escaped wherever they are printed.
      const say = (line: string) => note(escapeLine(line));
      const session = await serveCommand(location, {
        listen: opts.listen,
        target: opts.target,
        tlsCert: opts.tlsCert,
        tlsKey: opts.tlsKey,
        verify: opts.verify,
        base: opts.base,
        maxConnections: opts.maxConnections,
        net: trustOptions(opts),
        onRequest: opts.accessLog ? (r) => say(`${r.method} ${r.path} ${r.status}`) : undefined,
        onWarning: (w) => say(`warning: ${w}`),
      });
      const data = session.result;
      // One line on stdout with the address (scripts parse it); the rest goes to stderr.
      printResult(data, { json: opts.json }, (d) => `listening on ${d.url}`);
      if (!opts.json && !opts.quiet) {
        for (const r of data.repositories) say(`  ${r.name}${r.tags.length ? `: ${r.tags.join(', ')}` : ' (by digest)'}`);
        for (const p of data.routes) say(`  ${data.url}${p}`);
      }
      for (const w of data.warnings) say(`warning: ${w}`);
      // SIGHUP (systemctl reload): open the source again (a symlink followed anew) and serve it
      // instead, with no downtime; a bundle that does not open or verify leaves the old one served.
      const reload = () => {
        say(`reload: opening ${location} again${opts.base ? ` (--base ${opts.base})` : ''}`);
        session.reload().then(
          (r) => {
            say(`reload: now serving ${r.source} (${r.repositories.length} repositor${r.repositories.length === 1 ? 'y' : 'ies'}${r.routes.length ? `, ${r.routes.join(', ')}` : ''})`);
            if (!opts.quiet) for (const repo of r.repositories) say(`  ${repo.name}${repo.tags.length ? `: ${repo.tags.join(', ')}` : ' (by digest)'}`);
            for (const w of r.warnings) say(`warning: ${w}`);
          },
          (err: unknown) => {
            const e = err instanceof FerryError ? err : undefined;
            say(`warning: reload failed, still serving what was served before: ${e ? e.message : (err as Error)?.message ?? String(err)}`);
            for (const d of e?.details ?? []) say(`  - ${d}`);
            if (e?.hint) say(`hint: ${e.hint}`);
          },
        );
      };
      process.on('SIGHUP', reload);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          process.off('SIGHUP', reload);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await session.close();
    });
}
