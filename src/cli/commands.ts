import type { Command } from 'commander';
import { register as registerSchema } from './schema.js';
import { register as registerLock } from './lock.js';
import { register as registerBundle } from './bundle.js';
import { register as registerImport } from './import.js';
import { register as registerMap } from './map.js';
import { register as registerCharts } from './charts.js';
import { register as registerServe } from './serve.js';
import { register as registerRewrite } from './rewrite.js';
import { register as registerAudit } from './audit.js';
import { register as registerReport } from './report.js';
import { register as registerSbom } from './sbom.js';
import { register as registerConvert } from './convert.js';

/** One registration function per verb group (one file each): adding a group is one file and one line here. */
const REGISTER: Array<(program: Command) => void> = [
  registerLock,
  registerBundle,
  registerImport,
  registerMap,
  registerCharts,
  registerServe,
  registerRewrite,
  registerAudit,
  registerReport,
  registerSbom,
  registerConvert,
  registerSchema,
];

export function registerCommands(program: Command): void {
  for (const register of REGISTER) register(program);
}
