import path from 'node:path';
import type { AuditReport } from '../audit/audit.js';
import { auditPaths, cacheArchives, type ChartArchives } from '../audit/charts.js';
import { openBundleSource, type BundleSource } from '../store/open-bundle.js';
import { bundleFrom, lockInBundle, manifestInBundle } from './inputs.js';
import { FerryError } from '../errors.js';
import { buildConnectionModel } from '../audit/model.js';
import { loadTarget, lockPathFor } from '../manifest/load.js';
import { loadManifest, readLock } from '../kinds/schema.js';
import { defaultCacheDir } from './lock.js';
import type { NetOptions } from '../oci/context.js';

export interface AuditOptions {
  /** Manifest with the artifacts and the connection model; without it, the one a `bundle` was made from (inside it). */
  manifest?: string;
  /** Mirror target: where carried artifacts live. */
  target?: string;
  /** Mark the report failed when such findings exist. */
  failOn?: 'unmapped' | 'unmitigated';
  /** Download cache holding locked chart archives (default: the one `ferry lock` uses). */
  cacheDir?: string;
  /**
   * The bundle that carried the deployment (air-gapped side): its `ferry/lock.json` is the lock,
   * and the chart archives are read from it (a split bundle by any part, or `oci://`).
   */
  bundle?: string;
  cwd?: string;
  /** How to reach a bundle in a registry (`oci://…`): CAs, plain-HTTP hosts. */
  net?: NetOptions;
}

/**
 * `ferry audit`: scan configuration for references that still point outside and classify each
 * against the manifest and the mirror target; run the mitigation checks. Values files for a chart
 * the manifest names are rendered with that chart (offline, from the lock and the download cache)
 * and the rendered objects' images audited too.
 */
export async function auditCommand(paths: string[], opts: AuditOptions): Promise<AuditReport> {
  const cwd = opts.cwd ?? process.cwd();
  if (!opts.manifest && !opts.bundle) {
    throw new FerryError('USAGE', 'audit needs --manifest <manifest>, or --bundle <tar> (the manifest it was made from is inside it)', {
      hint: 'Run `ferry audit deploy/ --manifest manifest.yaml` where the manifest is, or `ferry audit deploy/ --bundle app.ferry.tar` with only the bundle.',
    });
  }
  const target = opts.target ? await loadTarget(path.resolve(cwd, opts.target)) : undefined;
  if (opts.bundle) {
    const bundle = bundleFrom(cwd, opts.bundle);
    const source = await openBundleSource(bundle, opts.net);
    try {
      // The customer of a vendor's bundle has the bundle, not the vendor's manifest: the one the
      // bundle was made from travels inside it (held to the bundle's checksum list), as for `report`.
      const loaded = opts.manifest ? await loadManifest(path.resolve(cwd, opts.manifest)) : await manifestInBundle(bundle, source);
      const model = buildConnectionModel(loaded);
      return await auditPaths(loaded, model, target, paths, {
        cwd,
        lock: await lockInBundle(source, opts.bundle),
        lockFile: `${opts.bundle} (ferry/lock.json)`,
        archives: bundleArchives(source, opts.bundle),
        manifestFile: opts.manifest ?? `${opts.bundle} (ferry/manifest.yaml)`,
        targetFile: opts.target,
        failOn: opts.failOn,
      });
    } finally {
      await source.close();
    }
  }
  const loaded = await loadManifest(path.resolve(cwd, opts.manifest!));
  const model = buildConnectionModel(loaded);
  const lockFile = lockPathFor(loaded.file, loaded.manifest.metadata.name);
  const lock = await readLock(lockFile);
  return auditPaths(loaded, model, target, paths, {
    cwd,
    lock,
    lockFile: path.relative(cwd, lockFile) || lockFile,
    archives: cacheArchives(opts.cacheDir ? path.resolve(cwd, opts.cacheDir) : defaultCacheDir()),
    manifestFile: opts.manifest!,
    targetFile: opts.target,
    failOn: opts.failOn,
  });
}

/** Chart archives read from a bundle by digest (each is one of its blobs, the archive's exact bytes). */
export function bundleArchives(source: BundleSource, name: string): ChartArchives {
  return {
    where: `the bundle ${name}`,
    has: async (digest, size) => (await source.blobSize(digest)) === size,
    open: (digest) => source.openBlob(digest),
    hint: 'the bundle does not carry it (a differential bundle leaves out what its base carried: pass the base bundle)',
  };
}
