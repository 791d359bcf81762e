import { FerryError } from '../../errors.js';
import { platformString, type OciDescriptor, type OciIndex } from '../../oci/media-types.js';

/** `linux/arm64` matches `linux/arm64/v8`; `linux/arm/v7` needs the variant. */
export function platformMatches(want: string, p: OciDescriptor['platform']): boolean {
  if (!p) return false;
  const [os, arch, variant] = want.split('/');
  if (p.os !== os || p.architecture !== arch) return false;
  return variant === undefined || p.variant === variant || (!p.variant && variant === 'v8' && arch === 'arm64');
}

const ATTESTATION_FOR = 'vnd.docker.reference.digest';

/**
 * Keep the children of an index that match the platform filter, plus buildx attestation
 * manifests that describe a kept child. Returns the filtered index bytes (the upstream bytes
 * when nothing was dropped, so the digest is preserved), or throws naming what exists.
 */
export function filterIndex(label: string, upstreamBytes: Buffer, platforms: string[] | undefined): { bytes: Buffer; kept: OciDescriptor[]; changed: boolean } {
  const index = JSON.parse(upstreamBytes.toString('utf8')) as OciIndex;
  const all = index.manifests ?? [];
  if (!platforms) return { bytes: upstreamBytes, kept: all, changed: false };
  const chosen = all.filter((d) => platforms.some((p) => platformMatches(p, d.platform)));
  const missing = platforms.filter((p) => !all.some((d) => platformMatches(p, d.platform)));
  if (missing.length) {
    const available = [...new Set(all.filter((d) => d.platform && d.platform.os !== 'unknown').map((d) => platformString(d.platform)))].sort();
    throw new FerryError('NOT_FOUND', `${label}: no manifest for platform ${missing.join(', ')}`, {
      hint: `Available platforms: ${available.join(', ') || 'none'}. Fix \`platforms\` in the manifest.`,
    });
  }
  const keptDigests = new Set(chosen.map((d) => d.digest));
  const kept = all.filter((d) => keptDigests.has(d.digest) || (d.annotations?.[ATTESTATION_FOR] && keptDigests.has(d.annotations[ATTESTATION_FOR])));
  if (kept.length === all.length) return { bytes: upstreamBytes, kept, changed: false };
  // Deterministic re-serialisation: same key order as upstream, only the list shortened.
  const bytes = Buffer.from(JSON.stringify({ ...index, manifests: kept }, null, 2));
  return { bytes, kept, changed: true };
}

const REFERENCE_TYPE = 'vnd.docker.reference.type';
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * A buildx attestation manifest (an index child annotated `vnd.docker.reference.type:
 * attestation-manifest`, platform `unknown/unknown`): not a platform but statements about one
 * (`of`: the manifest it describes, when the annotation names a digest). Undefined for a platform manifest.
 */
export function attestationOf(d: OciDescriptor): { of?: string } | undefined {
  if (d.annotations?.[REFERENCE_TYPE] !== 'attestation-manifest') return undefined;
  const of = d.annotations[ATTESTATION_FOR];
  return typeof of === 'string' && DIGEST.test(of) ? { of } : {};
}

/** The platforms two entries of one image ask for together: every platform (undefined) when either asks for every one. */
export function unionPlatforms(a: readonly string[] | undefined, b: readonly string[] | undefined): string[] | undefined {
  if (!a || !b) return undefined;
  return [...new Set([...a, ...b])].sort();
}

/** A locked image's manifests as platforms and attestation manifests apart. */
export function platformsKept(manifests: ReadonlyArray<{ platform: string; attestation?: unknown }>): { platforms: string[]; attestations: number } {
  const platforms = manifests.filter((m) => !m.attestation).map((m) => m.platform);
  return { platforms, attestations: manifests.length - platforms.length };
}

/** `2 platforms + 2 attestation manifests`, `1 platform`: how many manifests of an index are platforms. */
export function platformCount(manifests: ReadonlyArray<{ platform: string; attestation?: unknown }>): string {
  const { platforms, attestations } = platformsKept(manifests);
  const n = platforms.length;
  return `${n} platform${n === 1 ? '' : 's'}${attestations ? ` + ${attestations} attestation manifest${attestations === 1 ? '' : 's'}` : ''}`;
}
