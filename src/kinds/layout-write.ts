import path from 'node:path';
import type { OciDescriptor } from '../oci/media-types.js';
import { mapLimit } from '../net/concurrency.js';
import { LayoutDir } from '../store/layout.js';
import type { ImportContext } from './types.js';

/**
 * Write one top-level artifact (image or chart) into the target's OCI layout directory: every
 * blob and manifest re-hashed on the way in (temp name, then rename), index.json updated last.
 */
export async function writeArtifactToLayout(
  refName: string,
  top: OciDescriptor,
  descs: OciDescriptor[],
  ctx: ImportContext,
): Promise<{ dir: string; bytesSent: number; skipped: boolean }> {
  const dir = path.resolve(ctx.target.dir, ctx.target.target.directory!);
  const layout = new LayoutDir(dir);
  await layout.init();
  let bytesSent = 0;
  await mapLimit([...descs, top], ctx.concurrency, async (d) => {
    if ((await layout.blobSize(d.digest)) === d.size) return;
    await layout.writeBlob(d.digest, d.size, await ctx.source.openBlob(d.digest), refName);
    bytesSent += d.size;
  });
  const skipped = bytesSent === 0 && (await layout.hasRef(refName, top.digest));
  await layout.addToIndex([top]);
  return { dir, bytesSent, skipped };
}
