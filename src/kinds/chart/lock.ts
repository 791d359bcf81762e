import { z } from 'zod';
import { ChartProvenanceSchema } from './provenance.js';
import { HttpAuthSchema } from '../repo-auth.js';

const Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/);
const Desc = z.object({ mediaType: z.string(), digest: Digest, size: z.number().int().nonnegative() });

/**
 * A values key that deploys a locked image: `path` from the top chart's values
 * (`postgresql.image`), and `registry` when the chart's image map there has a registry key of
 * its own (a user map without one still gets the chart's registry in front of it).
 */
export const ValuesLocationSchema = z.object({
  path: z.string(),
  registry: z.boolean().optional(),
  prefix: z.boolean().optional().describe('The key holds what the image starts with, the name and tag following (Istio\'s `global.hub`): set to the mirror\'s prefix, not to an image.'),
});
export type ValuesLocation = z.infer<typeof ValuesLocationSchema>;

/**
 * One chart pinned: exact version, the archive's digest and where it came from. Dependencies
 * that were not vendored are entries of their own, with `dependencyOf` naming the parent.
 */
export const ChartLockSchema = z.object({
  name: z.string(),
  repo: z.string().describe('Repository as the manifest (or the parent Chart.yaml) wrote it.'),
  version: z.string().describe('Exact version chosen.'),
  requested: z.string().describe('Version or range as written.'),
  source: z.enum(['http', 'oci']),
  url: z.string().optional().describe('Archive URL (HTTP repositories).'),
  digest: Digest.describe('sha256 of the chart archive (.tgz), checked against the index digest.'),
  size: z.number().int().nonnegative(),
  prov: z.object({ url: z.string().optional(), digest: Digest, size: z.number().int().nonnegative() }).optional(),
  auth: HttpAuthSchema.optional().describe("The manifest entry's auth: (environment variable names, never a secret), for bundle create."),
  provenance: ChartProvenanceSchema.optional().describe('Set when the manifest entry gives keys:: the provenance (`prov`) was verified at lock with those keys, by this signer; re-verified offline with the recorded key when the bundle is made, verified, served and imported. Absent: the `.prov` is carried unverified.'),
  oci: z
    .object({ manifest: Desc, config: Desc, layers: z.array(Desc) })
    .optional()
    .describe('The upstream Helm artifact, kept byte for byte (OCI repositories).'),
  dependencyOf: z.array(z.string()).optional().describe('Charts (name version) that need this one as a non-vendored dependency.'),
  images: z.array(z.string()).describe('Images the bundle carries for this chart (discovered as certain, or the explicit list).'),
  platforms: z
    .array(z.string())
    .optional()
    .describe("The platforms its images are carried for (the entry's platforms:, else the manifest's top-level platforms:); absent: every platform. The image entries record what each is carried for."),
  possibleImages: z.array(z.string()).optional().describe('Discovered as possible only (disabled sections, loose matches); not bundled.'),
  testImages: z
    .array(z.string())
    .optional()
    .describe('Images only `helm test` runs (test hooks), discovered by rendering: in `images` too (carried) when the chart entry says `testImages: carry`, else named only. Locks written before this field lack it.'),
  imageValues: z
    .record(z.string(), z.array(ValuesLocationSchema))
    .optional()
    .describe('For images of `images` and `testImages`: every values key (from the top chart, subcharts under their name or alias) that deploys it. Locks written before this field lack it.'),
  imagePathImages: z
    .array(z.string())
    .optional()
    .describe('Of `images`: those only the chart entry\'s `imagePaths` found (no values key is known to set them).'),
  imagePathSources: z
    .record(z.string(), z.array(z.string()))
    .optional()
    .describe('For each image of `imagePathImages`: the `imagePaths` expressions that found it (rewrite names them). Locks written before this field lack it.'),
  injects: z
    .array(z.string())
    .optional()
    .describe('Of `images`: what an admission injector this chart installs writes into other pods (Istio\'s sidecar proxy, which `image: auto` containers and injected pods run).'),
});

export type ChartLock = z.infer<typeof ChartLockSchema>;

const byPath = (a: ValuesLocation, b: ValuesLocation) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** Where the values deploy each certain or test-hook image of a discovery (the lock's `imageValues`). */
export function imageValuesOf(images: ReadonlyArray<{ ref: string; certainty: string; sources: ReadonlyArray<{ kind: string; scope: string[]; valuesPath?: string; keys?: { registry?: string }; registryUnread?: boolean; prefixFrom?: string }> }>): Record<string, ValuesLocation[]> {
  const out: Record<string, ValuesLocation[]> = {};
  for (const img of images) {
    if (img.certainty === 'possible') continue;
    const values = img.sources.filter((s) => s.kind === 'values' && s.valuesPath);
    // A map whose registry key no template reads: the image is set by its repository key, with
    // the registry in it; a file that moves the map by its registry does not move it.
    const locs: ValuesLocation[] = values.map((s) => (s.registryUnread ? { path: `${s.valuesPath!}.repository` } : s.keys?.registry ? { path: s.valuesPath!, registry: true } : { path: s.valuesPath! }));
    for (const s of img.sources) if (s.prefixFrom && !locs.some((l) => l.path === s.prefixFrom)) locs.push({ path: s.prefixFrom, prefix: true });
    if (!locs.length) continue;
    // A subchart renders it, but no key found in its values deploys it (a copy the values finder
    // did not walk): its whole values scope is the location, one no file sets by an image.
    for (const s of img.sources) {
      const scope = s.kind === 'rendered' ? s.scope.join('.') : '';
      if (scope && !s.prefixFrom && !values.some((v) => v.valuesPath!.startsWith(`${scope}.`) || v.valuesPath!.startsWith('global.'))) locs.push({ path: scope });
    }
    if (locs.length) out[img.ref] = mergeImageValues({}, { [img.ref]: locs })[img.ref];
  }
  return out;
}

/** Two `imageValues` records in one (the same chart locked twice); a path with a registry key in either keeps it. */
export function mergeImageValues(a: Record<string, ValuesLocation[]>, b: Record<string, ValuesLocation[]>): Record<string, ValuesLocation[]> {
  const out: Record<string, ValuesLocation[]> = {};
  for (const [ref, locs] of [...Object.entries(a), ...Object.entries(b)]) {
    const byKey = new Map((out[ref] ?? []).map((l) => [l.path, l]));
    for (const l of locs) {
      const was = byKey.get(l.path);
      byKey.set(l.path, { path: l.path, ...(was?.registry || l.registry ? { registry: true } : {}), ...(was?.prefix || l.prefix ? { prefix: true } : {}) });
    }
    out[ref] = [...byKey.values()].sort(byPath);
  }
  // Keys in order too: the lock is JSON, written in insertion order.
  return Object.fromEntries(Object.entries(out).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
}
