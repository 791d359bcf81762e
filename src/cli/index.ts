import { Command, CommanderError } from 'commander';
import { FerryError } from '../errors.js';
import { reportError } from './run.js';
import { registerCommands } from './commands.js';
import { applyCliConventions } from './common.js';

import { VERSION } from '../version.js';

export { VERSION };

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('ferry')
    .description('Carry every external dependency of a deployment across an air gap.')
    .version(VERSION)
    .option('--debug', 'show stack traces and HTTP details')
    .exitOverride();
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
