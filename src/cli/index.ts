import { Command, CommanderError } from 'commander';
import { FerryError } from '../errors.js';
import { reportError } from './run.js';
import { partialsInProgress } from '../store/direct-pack.js';
import { escapeControls } from '../ui/escape.js';
import { registerCommands } from './commands.js';
import { applyCliConventions } from './common.js';

import { VERSION } from '../version.js';

export { VERSION };

/**
 * A reader that goes away (`ferry serve --help | head`, `ferry map … | head -1`) closes the
 * pipe: what is left to print has no one to read it, so ferry stops quietly, as Unix tools do,
 * instead of dying on an unhandled EPIPE with a Node stack trace. Exit 141 (128 + SIGPIPE)
 * for stdout, as a shell reports a process killed by SIGPIPE.
 */
function quietOnClosedPipe(): void {
  for (const [stream, code] of [[process.stdout, 141], [process.stderr, 141]] as const) {
    if (stream.listenerCount('error') > 0) continue;
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(code);
      throw err;
    });
  }
}

/**
 * Ctrl-C (SIGINT) or SIGTERM: stop at once, as the signal would, with the exit code a shell
 * reports for it (130, 143), after one line naming the partial bundle kept for the next run.
 * A command with its own handling (`serve` shuts down gracefully) adds its listener and wins.
 */
let signalsHandled = false;
function stopOnSignal(): void {
  if (signalsHandled) return;
  signalsHandled = true;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(signal, () => {
      if (process.listenerCount(signal) > 1) return;
      for (const partial of partialsInProgress()) {
        process.stderr.write(escapeControls(`interrupted: what was written is kept in ${partial} (and its journal ${partial}.json); the same command run again continues from there.\n`));
      }
      process.exit(code);
    });
  }
}

export async function main(argv: string[]): Promise<number> {
  quietOnClosedPipe();
  stopOnSignal();
  const program = new Command();
  program
    .name('ferry')
    .description('Carry every external dependency of a deployment across an air gap.')
    .option('--debug', 'show stack traces and HTTP details')
    .exitOverride();
  // `ferry --version`; after a command, --version is that command's (`charts images oci://… --version 1.2.0`,
  // as helm takes it): commander would otherwise take it as the program's anywhere on the line.
  if (!argv.some((a) => !a.startsWith('-'))) program.version(VERSION);
  registerCommands(program);
  applyCliConventions(program);
  const debug = argv.includes('--debug') || Boolean(process.env.FERRY_DEBUG);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    return reportError(err instanceof Error && err.name === 'ZodError' ? new FerryError('VALIDATION', err.message) : err, debug);
  }
}
