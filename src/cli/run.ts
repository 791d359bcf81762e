import { FerryError, exitCodeFor } from '../errors.js';
import { useColor } from '../ui/output.js';

/** The one boundary that turns errors into a short message and an exit code. */
export function reportError(err: unknown, debug: boolean): number {
  const red = (s: string) => (useColor() ? `\x1b[31m${s}\x1b[0m` : s);
  if (err instanceof FerryError) {
    process.stderr.write(`${red('error:')} ${err.message}\n`);
    for (const d of err.details ?? []) process.stderr.write(`  - ${d}\n`);
    if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
    if (debug) process.stderr.write(`${err.stack}\n${err.cause ? `cause: ${(err.cause as Error)?.stack ?? String(err.cause)}\n` : ''}`);
  } else {
    const e = err as Error;
    process.stderr.write(`${red('unexpected error:')} ${e?.message ?? String(err)}\n`);
    process.stderr.write(debug ? `${e?.stack}\n` : 'This is a bug in ferry. Run again with --debug for the stack trace and report it.\n');
  }
  return exitCodeFor(err);
}
