import type { OciDescriptor } from '../oci/media-types.js';
import { artifactLabel } from '../store/layout.js';
import { ANNOTATION } from '../store/source.js';
import { kindByName } from './index.js';

/** The kind a top-level bundle entry says it is (none: an image, as OCI tools write them). */
export const kindNameOf = (top: OciDescriptor): string => top.annotations?.[ANNOTATION.kind] ?? 'image';

/** Whether any entry's kind checks its entries against the lock (so the lock must be read). */
export function checksAgainstLock(tops: readonly OciDescriptor[]): boolean {
  return tops.some((t) => typeof t === 'object' && t !== null && kindByName(kindNameOf(t))?.unlockedTop);
}

/**
 * The entries of index.json that the bundle's lock does not pin, each with why (each kind
 * judges its own: `KindModule.unlockedTop`). `lock` is lock.json as parsed.
 */
export function topsNotInLock(lock: unknown, tops: readonly OciDescriptor[]): Array<{ artifact: string; message: string }> {
  const fields = typeof lock === 'object' && lock !== null ? (lock as Record<string, unknown>) : {};
  const out: Array<{ artifact: string; message: string }> = [];
  for (const top of tops) {
    if (typeof top !== 'object' || top === null) continue; // a malformed entry: named by the index checks
    const kind = kindByName(kindNameOf(top));
    if (!kind?.unlockedTop) continue;
    const entries = fields[kind.field];
    const why = kind.unlockedTop(top, Array.isArray(entries) ? entries : []);
    const label = artifactLabel(top);
    if (why) out.push({ artifact: label.length > 200 ? `${label.slice(0, 200)}…` : label, message: why });
  }
  return out;
}
