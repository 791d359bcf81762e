import type { OciDescriptor } from '../oci/media-types.js';
import { artifactLabel } from '../store/layout.js';
import { ANNOTATION, type BlobSource } from '../store/source.js';
import { kindByName } from './index.js';

/** The kind a top-level bundle entry says it is (none: an image, as OCI tools write them). */
export const kindNameOf = (top: OciDescriptor): string => top.annotations?.[ANNOTATION.kind] ?? 'image';

/** Whether any entry's kind checks its entries against the lock (so the lock must be read). */
export function checksAgainstLock(tops: readonly OciDescriptor[]): boolean {
  return tops.some((t) => typeof t === 'object' && t !== null && kindByName(kindNameOf(t))?.unlockedTop);
}

const clip = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…` : s);

/**
 * The entries of index.json that the bundle's lock does not pin, each with why (each kind
 * judges its own: `KindModule.unlockedTop`). `lock` is lock.json as parsed; `source` the
 * bundle, for a kind whose lock pins what its top-level manifest lists (a chart's archive, a
 * file's content, an APT repository's packages) rather than the manifest's own digest.
 */
export async function topsNotInLock(lock: unknown, tops: readonly OciDescriptor[], source: BlobSource): Promise<Array<{ artifact: string; message: string }>> {
  const fields = typeof lock === 'object' && lock !== null ? (lock as Record<string, unknown>) : {};
  const out: Array<{ artifact: string; message: string }> = [];
  for (const top of tops) {
    if (typeof top !== 'object' || top === null) continue; // a malformed entry: named by the index checks
    const kind = kindByName(kindNameOf(top));
    if (!kind?.unlockedTop) continue;
    const entries = fields[kind.field];
    const why = await kind.unlockedTop(top, Array.isArray(entries) ? entries : [], source);
    if (why) out.push({ artifact: clip(artifactLabel(top)), message: why });
  }
  return out;
}
