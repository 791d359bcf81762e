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
