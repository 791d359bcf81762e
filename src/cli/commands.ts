import type { Command } from 'commander';
import { register as registerSchema } from './schema.js';

/** One registration function per verb group (one file each): adding a group is one file and one line here. */
const REGISTER: Array<(program: Command) => void> = [registerSchema];

export function registerCommands(program: Command): void {
  for (const register of REGISTER) register(program);
}
