import { parseRelations, type AptPackage } from '../../src/kinds/apt/deps.js';

/**
 * Synthetic APT index entries for closure tests: a package of `source` (an index of the request)
 * with its relations written as in a Packages stanza, and a unique pool path, digest and size.
 */
let n = 0;
export function aptPackage(
  source: number,
  name: string,
  version: string,
  fields: { arch?: string; depends?: string; preDepends?: string; provides?: string; multiArch?: string } = {},
): AptPackage {
  n++;
  const architecture = fields.arch ?? 'amd64';
  return {
    source,
    name,
    version,
    architecture,
    multiArch: fields.multiArch,
    provides: parseRelations(fields.provides).map((g) => g[0]),
    depends: [...parseRelations(fields.preDepends), ...parseRelations(fields.depends)],
    filename: `pool/${source}/${name}_${version}_${architecture}.deb`,
    sha256: n.toString(16).padStart(64, '0'),
    size: n,
  };
}

/** The packages a closure selected, as `name=version`, sorted. */
export const selectedNames = (s: Set<AptPackage> | undefined) => [...(s ?? [])].map((p) => `${p.name}=${p.version}`).sort();
