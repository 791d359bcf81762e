import { BundleReader } from './bundle-reader.js';
import { isOciUrl, RegistryBundleSource } from './registry-bundle.js';

/** A bundle read in place: a tar file, or a bundle pushed to a registry (`oci://…`). */
export type BundleSource = BundleReader | RegistryBundleSource;

/**
 * The one place verify, import and serve open a bundle: a path opens the tar, `oci://…` reads
 * the bundle straight from the registry (streaming, no local copy).
 */
export function openBundleSource(pathOrUrl: string): Promise<BundleSource> {
  return isOciUrl(pathOrUrl) ? RegistryBundleSource.open(pathOrUrl) : BundleReader.open(pathOrUrl);
}

export { isOciUrl };
