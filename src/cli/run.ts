import { FerryError, exitCodeFor } from '../errors.js';
import { escapeControls, escapeLine } from '../ui/escape.js';
import { useColor } from '../ui/output.js';

/**
 * The one boundary that turns errors into a short message and an exit code. Messages carry text
 * from outside (a bundle's names, a registry's error body, a manifest's values): control
 * characters are escaped here, once; a detail's lines are escaped one by one and indented under it.
 */
export function reportError(err: unknown, debug: boolean): number {
  const red = (s: string) => (useColor() ? `\x1b[31m${s}\x1b[0m` : s);
  const write = (s: string) => process.stderr.write(escapeControls(s));
  if (err instanceof FerryError) {
    process.stderr.write(`${red('error:')} `);
    write(`${err.message}\n`);
    // A detail may span lines (a failure with its own details and hint): every line is escaped
    // on its own and continuation lines are indented, so a detail can never forge a top-level line.
    for (const d of err.details ?? []) {
      const [first, ...rest] = d.split('\n');
      write(`  - ${escapeLine(first)}\n`);
      for (const line of rest) write(`${/^\s/.test(line) ? '' : '    '}${escapeLine(line)}\n`);
    }
    if (err.hint) write(`hint: ${err.hint}\n`);
    if (debug) write(`${err.stack}\n${err.cause ? `cause: ${(err.cause as Error)?.stack ?? String(err.cause)}\n` : ''}`);
  } else {
    const e = err as Error;
    process.stderr.write(`${red('unexpected error:')} `);
    write(`${e?.message ?? String(err)}\n`);
    write(debug ? `${e?.stack}\n` : 'This is a bug in ferry. Run again with --debug for the stack trace and report it.\n');
  }
  return exitCodeFor(err);
}
