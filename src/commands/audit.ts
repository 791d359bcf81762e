import path from 'node:path';
import { auditReferences, type AuditReport } from '../audit/audit.js';
import { buildConnectionModel } from '../audit/model.js';
import { scanPaths } from '../audit/scan.js';
import { loadTarget, lockPathFor } from '../manifest/load.js';
import { loadManifest, readLock } from '../kinds/schema.js';

export interface AuditOptions {
  /** Manifest with the artifacts and the connection model. */
  manifest: string;
  /** Mirror target: where carried artifacts live. */
  target?: string;
  /** Mark the report failed when such findings exist. */
  failOn?: 'unmapped' | 'unmitigated';
  cwd?: string;
}

/**
 * `ferry audit`: scan configuration for references that still point outside and classify each
 * against the manifest and the mirror target; run the mitigation checks.
 */
export async function auditCommand(paths: string[], opts: AuditOptions): Promise<AuditReport> {
  const cwd = opts.cwd ?? process.cwd();
  const loaded = await loadManifest(path.resolve(cwd, opts.manifest));
  const model = buildConnectionModel(loaded);
  const target = opts.target ? await loadTarget(path.resolve(cwd, opts.target)) : undefined;
  const lock = await readLock(lockPathFor(loaded.file, loaded.manifest.metadata.name));
  const scan = await scanPaths(paths, cwd);
  return auditReferences(model, target, scan, { manifestFile: opts.manifest, targetFile: opts.target, failOn: opts.failOn, lock });
}
