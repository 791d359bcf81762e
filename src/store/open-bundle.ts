import { BundleReader } from './bundle-reader.js';
import { isOciUrl, RegistryBundleSource } from './registry-bundle.js';
import type { NetOptions } from '../oci/context.js';

/** A bundle read in place: a tar file, or a bundle pushed to a registry (`oci://…`). */
export type BundleSource = BundleReader | RegistryBundleSource;

/**
 * The one place verify, import and serve open a bundle: a path opens the tar, `oci://…` reads
 * the bundle straight from the registry (streaming, no local copy) with the command's network
 * settings (`--ca-file`, `--insecure-registry`, proxies).
 */
export function openBundleSource(pathOrUrl: string, net?: NetOptions): Promise<BundleSource> {
  return isOciUrl(pathOrUrl) ? RegistryBundleSource.open(pathOrUrl, { net }) : BundleReader.open(pathOrUrl);
}

export { isOciUrl };
