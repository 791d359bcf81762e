/** ferry's version, recorded in bundles and printed by `--version`. */
export const VERSION = '0.1.0';
