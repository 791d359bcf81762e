import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { FerryError, exitCodeFor } from '../errors.js';
import { escapeControls, escapeLine } from '../ui/escape.js';
import { useColor } from '../ui/output.js';

/** What the system said, in words, for the errors a machine (not ferry) causes: a full disk, a read-only mount. */
const SYSTEM_PROBLEMS: Record<string, { reason: string; hint: string }> = {
  ENOSPC: { reason: 'no space left on the device', hint: 'Free space on the disk ferry writes to (the -o bundle, the target\'s directories, or the download cache) and run again; `bundle create` keeps <bundle>.partial and resumes from it (with --split-size it starts the parts afresh).' },
  EDQUOT: { reason: 'disk quota exceeded', hint: 'Free space within your quota (or write elsewhere) and run again.' },
  EROFS: { reason: 'read-only file system', hint: 'Write to a place on a writable file system (-o, the target\'s directories, --cache-dir).' },
  EACCES: { reason: 'permission denied', hint: 'Check the permissions of that path and its directories for this user, or write elsewhere.' },
  EPERM: { reason: 'operation not permitted', hint: 'Check the permissions of that path and its directories for this user, or write elsewhere.' },
  EISDIR: { reason: 'is a directory', hint: 'Name a file there, not a directory.' },
  ENOTDIR: { reason: 'a part of the path is a file, not a directory', hint: 'Check the path.' },
  EEXIST: { reason: 'a file is in the way', hint: 'A file stands where ferry needs a directory (or the reverse); check the path.' },
  EMFILE: { reason: 'too many open files', hint: 'Raise the open-files limit (ulimit -n) or lower --concurrency, and run again.' },
  EIO: { reason: 'input/output error', hint: 'The disk or device failed; check it (dmesg) and run again.' },
};

/**
 * An error from the operating system (a full disk, a read-only file system, permissions) is not
 * a bug in ferry: said as the place and what the system said, with what to do, exit 1.
 */
function systemProblem(err: unknown): FerryError | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  const code = e?.code === 'ENOENT' && e.syscall === 'mkdir' && e.path ? whyNoDirectory(e.path) : e?.code;
  const known = e && typeof code === 'string' ? SYSTEM_PROBLEMS[code] : undefined;
  if (!known) return undefined;
  const dest = (e as { dest?: string }).dest;
  const place = e!.path ? `${e!.path}${dest ? ` -> ${dest}` : ''}: ` : '';
  const op = e!.syscall ? `cannot ${e!.syscall}: ` : '';
  return new FerryError('INTERNAL', `${place}${op}${known.reason}`, { hint: known.hint, cause: err });
}

/**
 * A recursive mkdir says ENOENT when a directory on the way cannot be made (on a read-only mount,
 * for one): the nearest existing ancestor says why (EROFS, EACCES), or it is a real ENOENT.
 */
function whyNoDirectory(dir: string): string {
  for (let d = path.dirname(dir), prev = dir; d !== prev; prev = d, d = path.dirname(d)) {
    try {
      if (!statSync(d).isDirectory()) return 'ENOTDIR';
    } catch {
      continue;
    }
    try {
      accessSync(d, constants.W_OK);
      return 'ENOENT';
    } catch (err) {
      return (err as NodeJS.ErrnoException).code ?? 'ENOENT';
    }
  }
  return 'ENOENT';
}

/**
 * The one boundary that turns errors into a short message and an exit code. Messages carry text
 * from outside (a bundle's names, a registry's error body, a manifest's values): control
 * characters are escaped here, once; a detail's lines are escaped one by one and indented under it.
 */
export function reportError(err: unknown, debug: boolean): number {
  const sys = err instanceof FerryError ? undefined : systemProblem(err);
  if (sys) {
    reportError(sys, debug);
    return exitCodeFor(sys);
  }
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
