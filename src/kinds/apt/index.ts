import type { Kind } from '../types.js';
import type { AptSpec } from './spec.js';
import type { AptLock } from './lock.js';
import { resolveApt } from './resolve.js';
import { aptFetchPlan, fetchApt } from './fetch.js';
import { importApt, validateAptImport } from './import.js';

export const aptKind: Kind<AptSpec, AptLock> = {
  name: 'apt',
  resolve: resolveApt,
  fetch: fetchApt,
  fetchPlan: aptFetchPlan,
  importTo: importApt,
  validateImport: validateAptImport,
  references: (entry) => [{ kind: 'apt', upstream: entry.url }],
};
