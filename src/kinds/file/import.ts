import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../../errors.js';
import { failTaskOnError } from '../../ui/progress.js';
import type { ResolvedTarget } from '../../manifest/resolved-target.js';
import { mapFileUrl } from '../../mapping/index.js';
import type { OciDescriptor, OciManifest } from '../../oci/media-types.js';
import { foldedByArtifact } from '../../store/name-folding.js';
import { safeJoin } from '../../store/safe-path.js';
import { ANNOTATION, type BlobSource } from '../../store/source.js';
import { sweepStaleTempsOnce, writeFileAtomic } from '../../store/temp-files.js';
import { hasSameContent, presentWithSize, writeVerified } from '../../store/verified-write.js';
import { bundleIndex, manifestParts, ProblemList, readJsonBlob, type ImportProblem } from '../import-checks.js';
import { clipName, lockedByRefName, lockIndex, readOrSkip } from '../lock-index.js';
import type { ImportContext, ImportNeed, ImportResult } from '../types.js';
import { ROLE } from './artifact.js';
import { formatChecksumLine } from './checksums.js';
import { baseName, SHA512_ANNOTATION } from './fetch.js';
import { FileTree, placeUrl, tempNameProblem } from './paths.js';

export function filesTarget(loaded: ResolvedTarget): { dir: string; baseUrl: string } {
  const t = loaded.files;
  if (!t) {
    throw new FerryError('VALIDATION', `${loaded.file}: the bundle carries files but the target has no files: { dir, baseUrl }`, {
      hint: 'Add a files: section to the mirror target.',
    });
  }
  return t;
}

interface FilePlan {
  layer: OciDescriptor;
  url: string;
  mapped: ReturnType<typeof mapFileUrl>;
  dest: string;
}

/** The layers of a file artifact (its manifest read capped and digest-checked). */
async function fileLayers(top: OciDescriptor, source: BlobSource, label: string): Promise<OciDescriptor[]> {
  const { json } = await readJsonBlob<OciManifest>(source, top, `${label} manifest`);
  return manifestParts(json, label).layers;
}

/** Every upstream file of a bundle placed in one tree: what each file artifact's URLs clash with. */
interface BundleFiles {
  tree: FileTree;
  /** Top descriptor digest → its URLs' problems. */
  problems: Map<string, string[]>;
  /** Mirror path → the URL placed there (shown) and its artifact's top digest. */
  placed: Map<string, { shown: string; top: string }>;
  /** Per files.dir: the paths one on its file system, by top digest (probed once). */
  folded: Map<string, Promise<Map<string, string[]>>>;
}

/** Per bundle source, built once: import validates each file artifact against all the others. */
const bundleTrees = new WeakMap<BlobSource, Promise<BundleFiles>>();

function bundleFiles(source: BlobSource): Promise<BundleFiles> {
  let p = bundleTrees.get(source);
  if (!p) {
    p = placeBundleFiles(source);
    bundleTrees.set(source, p);
  }
  return p;
}

async function placeBundleFiles(source: BlobSource): Promise<BundleFiles> {
  const tree = new FileTree();
  const problems = new Map<string, string[]>();
  const placedAt = new Map<string, { shown: string; top: string }>();
  for (const top of (await bundleIndex(source)).manifests) {
    if (top?.annotations?.[ANNOTATION.kind] !== 'file') continue;
    // An artifact whose manifest cannot be read is reported by its own validation (planFile).
    const layers = await fileLayers(top, source, 'file artifact').catch(() => []);
    for (const layer of layers) {
      const url = layer.annotations?.[ANNOTATION.source];
      if (typeof url !== 'string' || !url) continue;
      const placed = placeUrl(tree, url);
      if ('problem' in placed && !placed.own) problems.set(top.digest, [...(problems.get(top.digest) ?? []), `${url}: ${placed.problem}`]);
      else if ('path' in placed && !placedAt.has(placed.path)) placedAt.set(placed.path, { shown: url, top: top.digest });
    }
  }
  return { tree, problems, placed: placedAt, folded: new Map() };
}

/** Where each layer of a file artifact goes: every path checked to stay inside `files.dir`, and to be its own. */
async function planFile(top: OciDescriptor, source: BlobSource, target: { dir: string; baseUrl: string }, problems: ProblemList): Promise<FilePlan[]> {
  const label = `file artifact ${top.annotations?.[ANNOTATION.source] ?? top.digest}`;
  const read = await problems.check(label, () => fileLayers(top, source, label));
  const files = await bundleFiles(source);
  for (const p of files.problems.get(top.digest) ?? []) problems.add(label, p);
  for (const p of (await foldedByArtifact(files.placed, target.dir, files.folded)).get(top.digest) ?? []) problems.add(label, p, 'CONFLICT');
  const plans: FilePlan[] = [];
  for (const layer of read ?? []) {
    const url = layer.annotations?.[ANNOTATION.source];
    if (typeof url !== 'string' || !url) {
      problems.add(label, `layer ${layer.digest} has no ${ANNOTATION.source}`);
      continue;
    }
    await problems.check(url, () => {
      const mapped = mapFileUrl(url, target);
      const dest = safeJoin(target.dir, mapped.path, url);
      const temp = tempNameProblem(mapped.path);
      if (temp) throw new FerryError('VERIFY', temp);
      plans.push({ layer, url, mapped, dest });
    });
  }
  return plans;
}

/** Before anything is written: the manifest reads and every file lands inside `files.dir`. */
export async function validateFileImport(top: OciDescriptor, source: BlobSource, target: ResolvedTarget): Promise<ImportProblem[]> {
  const problems = new ProblemList();
  if (target.files) await planFile(top, source, filesTarget(target), problems);
  return problems.items;
}

/**
 * What importFile would write into `files.dir`: each layer not there with its size (a file there
 * of the bundle's size is hashed when imported, and kept when it matches), and the checksum files
 * it writes beside one that are not there yet.
 */
export async function fileImportNeeds(top: OciDescriptor, source: BlobSource, target: ResolvedTarget): Promise<ImportNeed[]> {
  if (!target.files) return [];
  const t = filesTarget(target);
  const problems = new ProblemList();
  const plans = await planFile(top, source, t, problems);
  const { tree } = await bundleFiles(source);
  const needs: ImportNeed[] = [];
  const need = (file: string, bytes: number) => needs.push({ key: 'files.dir', dir: t.dir, file, bytes });
  for (const { layer, mapped, dest } of plans) {
    if (!(await presentWithSize(dest, layer.size))) needs.push({ key: 'files.dir', dir: t.dir, file: dest, bytes: layer.size, digest: layer.digest });
    if (layer.annotations?.[ROLE] !== 'file') continue;
    const line = (hex: string) => Buffer.byteLength(formatChecksumLine(hex, path.basename(dest)));
    if (tree.isFree(`${mapped.path}.sha256`) && !(await presentWithSize(`${dest}.sha256`, line(layer.digest.slice(7))))) need(`${dest}.sha256`, line(layer.digest.slice(7)));
    const sha512 = layer.annotations?.[SHA512_ANNOTATION];
    if (sha512 && tree.isFree(`${mapped.path}.sha512`) && !(await presentWithSize(`${dest}.sha512`, line(sha512)))) need(`${dest}.sha512`, line(sha512));
  }
  return needs;
}

/** Write every layer of a file artifact under its mapped path (upstream host + path), plus `<file>.sha256`. */
export async function importFile(top: OciDescriptor, ctx: ImportContext): Promise<ImportResult[]> {
  const target = filesTarget(ctx.target);
  const problems = new ProblemList();
  const plans = await planFile(top, ctx.source, target, problems);
  if (problems.items.length) throw new FerryError('VERIFY', problems.items.map((p) => `${p.artifact}: ${p.message}`).join('; '));
  const { tree } = await bundleFiles(ctx.source);
  const results: ImportResult[] = [];
  for (const { layer, url, mapped, dest } of plans) {
    let sent = 0;
    const skipped = await hasSameContent(dest, layer.digest, layer.size);
    if (!skipped) {
      if (await ctx.staged?.place(layer.digest, dest)) {
        sent = layer.size;
      } else {
        const task = ctx.progress.start(baseName(url), layer.size);
        sent = await writeVerified(await ctx.source.openBlob(layer.digest), dest, layer.digest, `${url} → ${dest}`, (n) => task.advance(n));
        task.finish();
      }
    }
    if (layer.annotations?.[ROLE] === 'file') {
      const sha512 = layer.annotations?.[SHA512_ANNOTATION];
      // Beside the file, unless an upstream file of the bundle is there (`x.img.sha256` as its checksum file).
      if (tree.isFree(`${mapped.path}.sha256`)) await writeSidecar(`${dest}.sha256`, formatChecksumLine(layer.digest.slice(7), path.basename(dest)));
      if (sha512 && tree.isFree(`${mapped.path}.sha512`)) await writeSidecar(`${dest}.sha512`, formatChecksumLine(sha512, path.basename(dest)));
      results.push({ artifact: url, location: mapped.url, bytesSent: sent, skipped });
    }
  }
  return results;
}

async function writeSidecar(file: string, line: string): Promise<void> {
  if ((await readFile(file, 'utf8').catch(() => '')) === line) return;
  await writeFileAtomic(file, line);
}

/**
 * Import's blob pass (one read of the bundle): every layer the files directory lacks is staged
 * there, hashed as it streams; importFile places it once the whole bundle verified.
 */
export async function importFileBlobs(top: OciDescriptor, ctx: ImportContext): Promise<void> {
  if (!ctx.staged || !ctx.target.files) return;
  const target = filesTarget(ctx.target);
  const problems = new ProblemList();
  const plans = await planFile(top, ctx.source, target, problems);
  // A problem here is the validation's to report (importFile throws it too): nothing staged.
  if (problems.items.length) return;
  // Staged copies and placement temps a killed run left (its pid gone) go even when every file is
  // already there and nothing is staged: a re-run leaves the tree a clean run does.
  await sweepStaleTempsOnce(target.dir);
  for (const { layer, url, dest } of plans) {
    await sweepStaleTempsOnce(path.dirname(dest));
    if (await presentWithSize(dest, layer.size)) continue;
    const task = ctx.progress.start(baseName(url), layer.size);
    await failTaskOnError(task, () => ctx.staged!.stage(layer, target.dir, (n) => task.advance(n)), 'not written');
    task.finish();
  }
}

const filesByName = lockIndex((e) => (typeof e.name === 'string' ? e.name : undefined));

/** What the lock pins for one role of a file artifact's layers: its URL, and sha256 and size when known. */
function pinOf(p: unknown): { url: string; sha256?: string; size?: number; sha512?: string } | undefined {
  if (typeof p !== 'object' || p === null) return undefined;
  const r = p as Record<string, unknown>;
  if (typeof r.url !== 'string') return undefined;
  return { url: r.url, sha256: typeof r.sha256 === 'string' ? r.sha256 : undefined, size: typeof r.size === 'number' ? r.size : undefined, sha512: typeof r.sha512 === 'string' ? r.sha512 : undefined };
}

/** Why a file artifact's layers are not what one lock entry pins (each layer is written at its own URL's place). */
function fileAgainstLock(e: Record<string, unknown>, layers: readonly OciDescriptor[]): string | undefined {
  const checksums = typeof e.checksums === 'object' && e.checksums !== null ? (e.checksums as Record<string, unknown>) : {};
  const pins: Record<string, ReturnType<typeof pinOf>> = { file: pinOf(e), checksums: pinOf(checksums.file), signature: pinOf(checksums.signature) };
  const seen = new Set<string>();
  for (const layer of layers) {
    const role = String(layer.annotations?.[ROLE] ?? '(none)');
    const url = layer.annotations?.[ANNOTATION.source];
    const pin = Object.hasOwn(pins, role) ? pins[role] : undefined;
    const what = `its ${clipName(role)} layer ${layer.digest}`;
    if (!pin) return `${what} is not one the bundle's lock pins for it`;
    if (seen.has(role)) return `${what}: a second ${role} layer`;
    seen.add(role);
    if (url !== pin.url) return `${what} is written at ${clipName(String(url))}, the bundle's lock has ${clipName(pin.url)}`;
    if (pin.sha256 !== undefined && layer.digest !== `sha256:${pin.sha256}`) return `${clipName(url)}: the bundle carries ${layer.digest}, the bundle's lock pins sha256:${pin.sha256}`;
    if (pin.size !== undefined && layer.size !== pin.size) return `${clipName(url)}: the bundle carries ${layer.size} bytes, the bundle's lock pins ${pin.size}`;
    const sha512 = layer.annotations?.[SHA512_ANNOTATION];
    if (role === 'file' && sha512 !== undefined && sha512 !== pin.sha512) return `${clipName(url)}: the bundle says its sha512 is ${clipName(sha512)}, the bundle's lock ${pin.sha512 ?? 'pins none'}`;
  }
  return seen.has('file') ? undefined : "it carries no file layer";
}

/**
 * Why a file artifact in index.json is not what the lock pins: its name no locked file's, or
 * a layer (the file, its checksum file, their signature) at another URL, of other content or
 * size than the lock pins, or one the lock has no place for. A file whose lock entry pins no
 * sha256 (the server gave none) is held to its URL and size only.
 */
export async function unlockedFileTop(top: OciDescriptor, entries: readonly unknown[], source: BlobSource): Promise<string | undefined> {
  const found = lockedByRefName(top, entries, filesByName, 'file');
  if ('why' in found) return found.why;
  const label = `file ${clipName(found.name)}`;
  const layers = await readOrSkip(() => fileLayers(top, source, label));
  if (!layers) return undefined; // validateFileImport names what cannot be read
  const why = found.locked.map((e) => fileAgainstLock(e, layers));
  return why.includes(undefined) ? undefined : `${label}: ${why[0]}`;
}
