import path from 'node:path';
import { buildConnectionModel } from '../audit/model.js';
import { probe, type ProbeDeps, type ProbeReport } from '../audit/probe.js';
import { FerryError } from '../errors.js';
import { loadManifest } from '../kinds/schema.js';

export interface ProbeOptions {
  /** Only destinations reached from this zone (the zone this host is in). */
  zone?: string;
  /** Connect timeout per destination, in milliseconds. */
  timeoutMs: number;
  /** Destinations probed at once. */
  concurrency: number;
  /** DNS, TCP connect and clock (default: the real ones). */
  deps?: ProbeDeps;
  cwd?: string;
}

/** `ferry probe`: from this host, DNS and a TCP connect to each declared external destination. */
export async function probeCommand(manifestFile: string, opts: ProbeOptions): Promise<ProbeReport> {
  const model = buildConnectionModel(await loadManifest(path.resolve(opts.cwd ?? process.cwd(), manifestFile)));
  if (opts.zone && !model.zones.some((z) => z.name === opts.zone)) {
    throw new FerryError('USAGE', `--zone ${opts.zone}: no such zone in ${model.name}`, { hint: `Zones: ${model.zones.map((z) => z.name).join(', ')}` });
  }
  return probe(model, { manifestFile, timeoutMs: opts.timeoutMs, concurrency: opts.concurrency, zone: opts.zone, deps: opts.deps });
}
