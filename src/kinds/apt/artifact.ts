import { FerryError } from '../../errors.js';
import { MT, type OciDescriptor } from '../../oci/media-types.js';
import { digestOf } from '../../store/layout.js';
import { ANNOTATION } from '../../store/source.js';
import { sortedRecord } from '../file/artifact.js';

/**
 * The shape of an APT artifact in the store and in a bundle. A repository of up to
 * APT_PACKAGES_PER_MANIFEST packages is ONE OCI artifact manifest (config = AptConfig, layers =
 * release files, indexes, then every .deb), as ferry always wrote it. A bigger one (a whole
 * Debian suite is ~64 000 packages, far past the 4 MiB registries accept for one manifest) is an
 * OCI image index with the same artifactType and annotations, whose child manifests each carry a
 * slice of the same layer list, in the same order: the first child the release files, indexes
 * and the first packages, each further child the next packages. Every child has the same config
 * blob (so each is a valid artifact on its own) and stays under APT_MANIFEST_BUDGET bytes, half
 * the 4 MiB cap, so `bundle push` to a registry is accepted. Readers concatenate the children's
 * layers and see one list either way (readAptArtifact).
 */

/** Packages per manifest; a repository with more is split. About 250 bytes a descriptor: ~1 MB. */
export const APT_PACKAGES_PER_MANIFEST = 4000;
/** Bytes one manifest of an APT artifact may reach (long package file names close a part early). */
export const APT_MANIFEST_BUDGET = 2 * 1024 * 1024;
/** Child manifests one APT index may list: 256 × 4000 packages is far beyond any archive. */
export const MAX_APT_PARTS = 256;
/** Annotation of a child manifest: its place, `<n>/<count>`. */
export const APT_PART_ANNOTATION = 'io.ferry.apt.part';

/**
 * Packages per manifest: APT_PACKAGES_PER_MANIFEST, or FERRY_APT_PACKAGES_PER_MANIFEST. The
 * variable exists for tests (a split repository of a few packages); it changes the bundle's bytes.
 */
export function packagesPerManifest(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FERRY_APT_PACKAGES_PER_MANIFEST;
  if (raw === undefined || raw === '') return APT_PACKAGES_PER_MANIFEST;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new FerryError('USAGE', `FERRY_APT_PACKAGES_PER_MANIFEST=${JSON.stringify(raw)}: not a positive whole number`, { hint: 'Unset it: the default suits every repository.' });
  }
  return n;
}

export interface AptManifestInput {
  artifactType: string;
  config: OciDescriptor;
  /** Release files and indexes, in the order they are listed. */
  meta: OciDescriptor[];
  /** The .debs, sorted by file name. */
  packages: OciDescriptor[];
  /** Annotations of the manifest (and, for the split form, of the index and of each child). */
  annotations: Record<string, string>;
}

/** The split form: child manifests (in order) and the index that lists them, as stored bytes. */
export interface AptSplit {
  children: Buffer[];
  index: Buffer;
}

const jsonBytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

/**
 * The index form of an APT artifact, or undefined when one manifest holds it (the caller then
 * writes the single manifest as before). Deterministic: the same input gives the same bytes.
 */
export function splitAptManifests(input: AptManifestInput, perManifest = APT_PACKAGES_PER_MANIFEST, budget = APT_MANIFEST_BUDGET): AptSplit | undefined {
  const annotations = sortedRecord(input.annotations);
  const manifestOf = (layers: OciDescriptor[], extra?: Record<string, string>) => ({
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    artifactType: input.artifactType,
    config: input.config,
    layers,
    annotations: extra ? sortedRecord({ ...annotations, ...extra }) : annotations,
  });
  // What a manifest costs before its layers (with room for the part annotation), and each layer (plus a comma).
  const overhead = jsonBytes(manifestOf([], { [APT_PART_ANNOTATION]: `${MAX_APT_PARTS}/${MAX_APT_PARTS}` }));
  const metaBytes = input.meta.reduce((n, l) => n + jsonBytes(l) + 1, 0);
  const sizes = input.packages.map((l) => jsonBytes(l) + 1);
  const total = sizes.reduce((n, s) => n + s, overhead + metaBytes);
  if (input.packages.length <= perManifest && total <= budget) return undefined;

  const parts: OciDescriptor[][] = [];
  let current: OciDescriptor[] = [...input.meta];
  let bytes = overhead + metaBytes;
  let count = 0;
  input.packages.forEach((l, i) => {
    if (count > 0 && (count >= perManifest || bytes + sizes[i] > budget)) {
      parts.push(current);
      current = [];
      bytes = overhead;
      count = 0;
    }
    current.push(l);
    bytes += sizes[i];
    count++;
  });
  parts.push(current);
  if (parts.length > MAX_APT_PARTS) {
    throw new FerryError('VALIDATION', `${annotations[ANNOTATION.source] ?? 'apt'}: ${input.packages.length} packages need ${parts.length} manifests, more than the ${MAX_APT_PARTS} one APT artifact may have`, {
      hint: 'Split the repository into several apt: entries (by component or architecture).',
    });
  }
  const children = parts.map((layers, i) => Buffer.from(JSON.stringify(manifestOf(layers, { [APT_PART_ANNOTATION]: `${i + 1}/${parts.length}` }))));
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      artifactType: input.artifactType,
      manifests: children.map((bytes) => ({ mediaType: MT.ociManifest, artifactType: input.artifactType, digest: digestOf(bytes), size: bytes.length })),
      annotations,
    }),
  );
  return { children, index };
}
