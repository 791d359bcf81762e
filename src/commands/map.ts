import path from 'node:path';
import { KINDS } from '../kinds/index.js';
import { loadTarget } from '../manifest/load.js';
import { checkCollisions, mapUpstream, registryMappingFor, type MirrorLocation } from '../mapping/index.js';
import { lockFrom } from './inputs.js';

export interface MapOptions {
  /** Mirror target YAML. */
  target: string;
  cwd?: string;
}

export interface MapResult {
  /** The target file, absolute. */
  target: string;
  rows: MirrorLocation[];
}

/** `ferry map`: upstream → mirror for everything the lock pins, from the one mapping. */
export async function mapCommand(source: string, opts: MapOptions): Promise<MapResult> {
  const cwd = opts.cwd ?? process.cwd();
  const lock = await lockFrom(source, cwd);
  const { target, file } = await loadTarget(path.resolve(cwd, opts.target));
  if (target.registry) checkCollisions(lock.images.map((i) => i.ref), registryMappingFor(target));
  const rows: MirrorLocation[] = [];
  for (const { field, kind } of KINDS) {
    for (const entry of (lock[field] ?? []) as unknown[]) {
      for (const ref of kind.references(entry)) rows.push(mapUpstream(ref, target));
    }
  }
  rows.sort((a, b) => a.kind.localeCompare(b.kind) || a.upstream.localeCompare(b.upstream));
  return { target: file, rows };
}
