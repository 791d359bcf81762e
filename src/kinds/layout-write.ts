import { FerryError } from '../errors.js';
import type { OciDescriptor } from '../oci/media-types.js';
import { mapLimit } from '../net/concurrency.js';
import path from 'node:path';
import { stat } from 'node:fs/promises';
import type { ResolvedTarget } from '../manifest/resolved-target.js';
import { artifactLabel, LayoutDir, LayoutWriters } from '../store/layout.js';
import { pathLengthProblem } from '../store/safe-path.js';
import { isDescriptor } from './import-checks.js';
import type { ImportContext, ImportNeed } from './types.js';

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
  checkLayoutRefName(refName);
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
  checkLayoutRefName(refName);
  checkDescriptors(refName, [...descs, top]);
  const layout = new LayoutDir(dir);
  const staged = ctx.staged;
  await mapLimit([...descs, top], ctx.concurrency, async (d) => {
    if ((await layout.blobSize(d.digest)) === d.size) return;
    await staged.stage(d, path.dirname(layout.blobPath(d.digest)));
  });
}

/**
 * What writeArtifactToLayout would write into the target's OCI layout directory: each blob and
 * manifest it lacks (by its size, as the import decides), and index.json, rewritten through a
 * temporary copy when anything is added.
 */
export async function layoutNeeds(top: OciDescriptor, descs: OciDescriptor[], target: ResolvedTarget): Promise<ImportNeed[]> {
  const dir = target.directory;
  if (!dir) return [];
  checkDescriptors(artifactLabel(top), [...descs, top]);
  const layout = new LayoutDir(dir);
  const needs: ImportNeed[] = [];
  for (const d of [...descs, top]) {
    if ((await layout.blobSize(d.digest)) !== d.size) needs.push({ key: 'directory', dir, file: layout.blobPath(d.digest), bytes: d.size, digest: d.digest });
  }
  const index = path.join(dir, 'index.json');
  needs.push({ key: 'directory', dir, file: index, bytes: await stat(index).then((s) => s.size, () => 0) });
  return needs;
}

/** Blob paths are built from digests only (blobs/sha256/<hex>): refuse any other form first. */
function checkDescriptors(refName: string, descs: OciDescriptor[]): void {
  const bad = descs.find((d) => !isDescriptor(d));
  if (bad) throw new FerryError('VERIFY', `${refName}: descriptor ${JSON.stringify((bad as { digest?: unknown }).digest)} is not a sha256 digest with a size; nothing written for it`);
}

/**
 * One component of an `org.opencontainers.image.ref.name` (OCI image spec, annotations.md):
 * `alphanum (separator alphanum)*`, alphanum `[A-Za-z0-9]+`, separator `[-._:@+]` or `--`.
 * No `..`, no empty or absolute component, no control or non-ASCII byte.
 */
const REF_NAME_COMPONENT = /^[A-Za-z0-9]+(?:(?:--|[-._:@+])[A-Za-z0-9]+)*$/;

/**
 * Why `refName` cannot name an artifact in an OCI layout's index.json, or undefined: it must
 * follow the spec's grammar, and hold to the path rule's lengths (tools that unpack a layout by
 * name, `skopeo copy oci:dir:<name>` into a directory of that name, take its components as
 * paths; a 4 000-byte or 250-byte-component name fails there with ENAMETOOLONG midway).
 */
export function layoutRefNameProblem(refName: string): string | undefined {
  if (typeof refName !== 'string' || !refName) return 'it is empty';
  const long = pathLengthProblem(refName);
  if (long) return long.replace('a segment of its mirror path', 'a component of it').replace('its mirror path', 'it');
  const bad = refName.split('/').find((c) => !REF_NAME_COMPONENT.test(c));
  if (bad !== undefined) return `component ${JSON.stringify(bad)} is not one the OCI image spec allows in a ref.name (letters, digits, and one of - . _ : @ + or -- between them)`;
  return undefined;
}

/** Throws naming the artifact (its name cut short) unless `refName` can name it in an OCI layout. */
export function checkLayoutRefName(refName: string): void {
  const problem = layoutRefNameProblem(refName);
  if (!problem) return;
  const shown = JSON.stringify(refName.length > 200 ? `${refName.slice(0, 200)}…` : refName);
  throw new FerryError('VERIFY', `${shown}: refusing it as a name in the OCI layout: ${problem}`, {
    hint: 'The bundle names an artifact the layout cannot hold: it was crafted or damaged. Nothing was written.',
  });
}
