import { validateManifest } from '../../src/kinds/schema.js';

/** The problems validation lists for `manifest` (none: undefined), and the error itself. */
export function validationOf(manifest: object): { details?: string[]; error?: unknown } {
  try {
    validateManifest(manifest, 'm.yaml');
    return {};
  } catch (error) {
    return { details: (error as { details?: string[] }).details, error };
  }
}
