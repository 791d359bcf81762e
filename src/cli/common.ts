import { Option, type Command } from 'commander';
import { FerryError } from '../errors.js';
import { createProgress, type Progress } from '../ui/progress.js';
import { DEFAULT_CONCURRENCY } from '../net/concurrency.js';

export interface CommonCliOptions {
  json?: boolean;
  quiet?: boolean;
  concurrency?: string;
  caFile?: string[];
  insecureRegistry?: string[];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Options every reporting command shares. */
export function withOutputOptions(cmd: Command): Command {
  return cmd.option('--json', 'print machine-readable JSON on stdout').option('-q, --quiet', 'no progress on stderr');
}

/** Options of commands that talk to registries and download hosts. */
export function withNetOptions(cmd: Command): Command {
  return withOutputOptions(cmd)
    .addOption(new Option('--concurrency <n>', 'parallel transfers').default(String(DEFAULT_CONCURRENCY)))
    .option('--ca-file <pem>', 'extra CA certificates (repeatable); SSL_CERT_FILE and NODE_EXTRA_CA_CERTS are honoured too', collect)
    .option('--insecure-registry <host>', 'allow plain HTTP to this registry host (repeatable; loopback is allowed by default)', collect);
}

export function concurrencyOf(opts: CommonCliOptions): number {
  const n = Number(opts.concurrency ?? DEFAULT_CONCURRENCY);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new FerryError('USAGE', `--concurrency ${opts.concurrency}: must be an integer from 1 to 64`);
  return n;
}

export function progressFor(opts: CommonCliOptions): Progress {
  return createProgress({ json: opts.json, quiet: opts.quiet });
}

export function netOptions(opts: CommonCliOptions) {
  const debug = Boolean(process.env.FERRY_DEBUG) || process.argv.includes('--debug');
  return {
    caFiles: opts.caFile,
    plainHttpHosts: opts.insecureRegistry,
    concurrency: concurrencyOf(opts),
    log: debug ? (line: string) => void process.stderr.write(`http: ${line}\n`) : undefined,
  };
}
