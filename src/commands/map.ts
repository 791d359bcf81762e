import path from 'node:path';
import { ALL_KINDS, type KindName } from '../kinds/index.js';
import { lockEntries } from '../kinds/schema.js';
import { loadTarget } from '../manifest/load.js';
import { checkCollisions, mirrorMappingFor, placeText, registryMappingFor } from '../mapping/index.js';
import { lockFrom } from './inputs.js';
import type { NetOptions } from '../oci/context.js';

export interface MapOptions {
  /** Mirror target YAML. */
  target: string;
  cwd?: string;
  /** How to reach a bundle in a registry (`oci://…`): CAs, plain-HTTP hosts. */
  net?: NetOptions;
}

/** One upstream thing and where it lives on the mirror: one place per target facet that carries it (none: no place). */
export interface MapRow {
  kind: KindName;
  upstream: string;
  mirror: string[];
}

export interface MapResult {
  /** The target file, absolute. */
  target: string;
  rows: MapRow[];
}

/** `ferry map`: upstream → mirror for everything the lock pins, from the one mapping. */
export async function mapCommand(source: string, opts: MapOptions): Promise<MapResult> {
  const cwd = opts.cwd ?? process.cwd();
  const lock = await lockFrom(source, cwd, opts.net);
  const { target, file } = await loadTarget(path.resolve(cwd, opts.target));
  if (target.registry) checkCollisions(lock.images.map((i) => i.ref), registryMappingFor(target));
  const mapping = mirrorMappingFor(target);
  const rows: MapRow[] = [];
  for (const kind of ALL_KINDS) {
    for (const entry of lockEntries(lock, kind.field)) {
      for (const loc of kind.locations(entry, mapping)) rows.push({ kind: loc.ref.kind as KindName, upstream: loc.ref.upstream, mirror: loc.places.map(placeText) });
    }
  }
  rows.sort((a, b) => a.kind.localeCompare(b.kind) || a.upstream.localeCompare(b.upstream));
  return { target: file, rows };
}
