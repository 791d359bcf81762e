import { FerryError } from '../errors.js';
import type { OciDescriptor } from '../oci/media-types.js';
import { mapLimit } from '../net/concurrency.js';
import path from 'node:path';
import { LayoutDir, LayoutWriters } from '../store/layout.js';
import { isDescriptor } from './import-checks.js';
import type { ImportContext } from './types.js';

/**
 * Write one top-level artifact (image or chart) into the target's OCI layout directory: every
 * blob and manifest re-hashed on the way in (the verified write), index.json updated last
 * through the import's LayoutWriters (batched: the import command flushes it once at the end).
 */
export async function writeArtifactToLayout(
  refName: string,
  top: OciDescriptor,
  descs: OciDescriptor[],
  ctx: ImportContext,
): Promise<{ dir: string; bytesSent: number; skipped: boolean }> {
  checkDescriptors(refName, [...descs, top]);
  const dir = ctx.target.directory!;
  // A command that does not hand in writers gets ones that write index.json before each entry returns.
  ctx.layouts ??= new LayoutWriters();
  const index = await ctx.layouts.forDir(dir);
  const layout = index.layout;
  let bytesSent = 0;
  await mapLimit([...descs, top], ctx.concurrency, async (d) => {
    if ((await layout.blobSize(d.digest)) === d.size) return;
    if (!(await ctx.staged?.place(d.digest, layout.blobPath(d.digest)))) await layout.writeBlob(d.digest, d.size, await ctx.source.openBlob(d.digest), refName);
    bytesSent += d.size;
  });
  const skipped = bytesSent === 0 && (await index.hasRef(refName, top.digest));
  await index.add([top]);
  return { dir, bytesSent, skipped };
}

/**
 * Import's blob pass for an OCI layout target: every blob and manifest of the artifact the
 * layout lacks is staged beside its final name (blobs/sha256), hashed as it streams out of the
 * bundle; writeArtifactToLayout places them, and index.json names the artifact, only after the
 * whole bundle verified.
 */
export async function stageArtifactForLayout(refName: string, top: OciDescriptor, descs: OciDescriptor[], ctx: ImportContext): Promise<void> {
  const dir = ctx.target.directory;
  if (!ctx.staged || !dir) return;
  checkDescriptors(refName, [...descs, top]);
  const layout = new LayoutDir(dir);
  const staged = ctx.staged;
  await mapLimit([...descs, top], ctx.concurrency, async (d) => {
    if ((await layout.blobSize(d.digest)) === d.size) return;
    await staged.stage(d, path.dirname(layout.blobPath(d.digest)));
  });
}

/** Blob paths are built from digests only (blobs/sha256/<hex>): refuse any other form first. */
function checkDescriptors(refName: string, descs: OciDescriptor[]): void {
  const bad = descs.find((d) => !isDescriptor(d));
  if (bad) throw new FerryError('VERIFY', `${refName}: descriptor ${JSON.stringify((bad as { digest?: unknown }).digest)} is not a sha256 digest with a size; nothing written for it`);
}
