import path from 'node:path';
import { auditPaths, cacheArchives } from '../audit/charts.js';
import { buildInventory } from '../audit/inventory.js';
import { buildConnectionModel } from '../audit/model.js';
import { renderReportHtml, type BundleArtifact, type BundleContents, type HtmlReportInput } from '../audit/render-html.js';
import { FerryError } from '../errors.js';
import { loadTarget, lockPathFor } from '../manifest/load.js';
import { ALL_KINDS, type AnyKind } from '../kinds/index.js';
import { lockEntries, loadManifest, readLock, type Lock } from '../kinds/schema.js';
import { VERSION } from '../version.js';
import { defaultCacheDir } from './lock.js';
import { bundleArchives } from './audit.js';
import { bundleFrom, lockInBundle, manifestInBundle } from './inputs.js';
import { openBundleSource, type BundleSource } from '../store/open-bundle.js';
import { readListedFile, SIGNATURE_FILE } from '../store/bundle-sign.js';
import { readDifferential } from '../store/differential.js';
import type { NetOptions } from '../oci/context.js';
import { writeFileAtomic } from '../store/temp-files.js';

export interface ReportOptions {
  /** A bundle .tar: what it carries joins the report (read from its index and lock, not re-verified). */
  bundle?: string;
  /** Files or directories to audit against the manifest (and the target, when given). */
  audit?: string[];
  /** Mirror target for the audit: where carried artifacts live. */
  target?: string;
  /** Download cache holding locked chart archives, for rendering charts in the audit (default: the one `ferry lock` uses). */
  cacheDir?: string;
  cwd?: string;
  /** How to reach a bundle in a registry (`oci://…`): CAs, plain-HTTP hosts. */
  net?: NetOptions;
}

/**
 * Everything `ferry report` shows, as data: the inventory of the manifest's connection model,
 * the audit of the given paths, and what a bundle carries. The HTML is rendered from this by
 * `renderReportHtml`; nothing here prints or writes.
 */
export async function buildReport(manifestArg: string | undefined, opts: ReportOptions = {}): Promise<HtmlReportInput> {
  // The bundle opened once: its manifest, its lock and contents, and the chart archives the audit
  // renders are read from the same bytes (a bundle renamed over meanwhile is not mixed in).
  const source = opts.bundle ? await openBundleSource(bundleFrom(opts.cwd ?? process.cwd(), opts.bundle), opts.net) : undefined;
  try {
    return await reportFrom(manifestArg, opts, source);
  } finally {
    await source?.close();
  }
}

async function reportFrom(manifestArg: string | undefined, opts: ReportOptions, source: BundleSource | undefined): Promise<HtmlReportInput> {
  const cwd = opts.cwd ?? process.cwd();
  let manifestFile = manifestArg;
  let loaded: Awaited<ReturnType<typeof loadManifest>>;
  if (manifestFile !== undefined) loaded = await loadManifest(path.resolve(cwd, manifestFile));
  else if (opts.bundle) {
    // The customer of a vendor's bundle has the bundle, not the vendor's manifest: the one the
    // bundle was made from travels inside it (checked against the signed checksum list first).
    loaded = await manifestInBundle(bundleFrom(cwd, opts.bundle), source!);
    manifestFile = `${opts.bundle} (ferry/manifest.yaml)`;
  } else {
    throw new FerryError('USAGE', 'report needs a manifest, or --bundle <tar> to report on what a bundle carries (the manifest it was made from is inside it)', {
      hint: 'Run `ferry report manifest.yaml` on the side that has the manifest, or `ferry report --bundle app.ferry.tar -o report.html` with only the bundle.',
    });
  }
  const model = buildConnectionModel(loaded);
  const inventory = buildInventory(model);
  const warnings: string[] = [];

  let bundle: BundleContents | undefined;
  let bundleLock: Lock | undefined;
  if (opts.bundle) {
    const read = await readBundleContents(bundleFrom(cwd, opts.bundle), source!);
    bundle = read.contents;
    bundleLock = read.lock;
    if (bundle.manifestName !== model.name) warnings.push(`the bundle was made from manifest "${bundle.manifestName}", not "${model.name}"`);
  }

  let audit: HtmlReportInput['audit'];
  if (opts.audit?.length) {
    const target = opts.target ? await loadTarget(path.resolve(cwd, opts.target)) : undefined;
    const lockFile = lockPathFor(loaded.file, loaded.manifest.metadata.name);
    const lock = bundleLock ?? (await readLock(lockFile));
    if (!lock) warnings.push('no lock (beside the manifest or in a --bundle): audit cannot tell which digests are carried');
    // Charts the manifest names are rendered with the scanned values files, as `ferry audit` renders them.
    // With a bundle, its chart archives are rendered (the air-gapped side has no download cache).
    audit = await auditPaths(loaded, model, target, opts.audit, {
      cwd,
      lock,
      lockFile: bundleLock ? `${opts.bundle} (ferry/lock.json)` : path.relative(cwd, lockFile) || lockFile,
      archives: source ? bundleArchives(source, opts.bundle!) : cacheArchives(opts.cacheDir ? path.resolve(cwd, opts.cacheDir) : defaultCacheDir()),
      manifestFile,
      targetFile: opts.target,
    });
    for (const c of audit.charts) if (c.status === 'not-rendered') warnings.push(`chart ${c.chart} with ${c.values.join(', ')}: not rendered (${c.reason}); its templates are not audited`);
    for (const c of audit.charts) for (const w of c.warnings ?? []) warnings.push(`chart ${c.chart} with ${c.values.join(', ')}: rendered with a warning: ${w}`);
  } else if (opts.target) {
    warnings.push('--target is used by the audit only; pass --audit <path> to audit a deployment');
  }

  return { generator: `ferry ${VERSION}`, manifestFile: manifestFile!, inventory, audit, auditPaths: opts.audit ?? [], bundle, warnings };
}

/**
 * Render the report page and write it to `output` atomically (its directory created, as every other
 * `-o` is; a fresh temporary name beside it, never a fixed `<output>.partial` a link could be
 * planted at, never left behind); returns where and how large.
 */
export async function writeReport(data: HtmlReportInput, output: string, cwd = process.cwd()): Promise<{ file: string; bytes: number }> {
  const html = renderReportHtml(data);
  const file = path.resolve(cwd, output);
  await writeFileAtomic(file, html);
  return { file, bytes: Buffer.byteLength(html) };
}

/** What a lock carries, one row per entry, as each kind presents it (KINDS order). */
export function bundleArtifacts(lock: Lock, kinds: readonly AnyKind[] = ALL_KINDS): BundleArtifact[] {
  return kinds.flatMap((k) => {
    const table = k.presentation?.bundleTable;
    return table ? lockEntries(lock, k.field).map((e) => ({ kind: k.name, ...table.row(e) })) : [];
  });
}

/** What the lock's entries need that nothing carried provides (APT dependencies), each naming its entry. */
export function bundleUnsatisfied(lock: Lock, kinds: readonly AnyKind[] = ALL_KINDS): string[] {
  return kinds.flatMap((k) => (k.presentation?.unsatisfied ? lockEntries(lock, k.field).flatMap((e) => k.presentation!.unsatisfied!(e)) : []));
}


async function readBundleContents(tarPath: string, reader: BundleSource): Promise<{ contents: BundleContents; lock: Lock }> {
  const info = await reader.info();
  const index = await reader.readIndex();
  // Not JSON or not a lock: a VERIFY error naming the member, as every reader of a bundle's lock says it.
  const lock = await lockInBundle(reader, tarPath);
  let blobs = 0;
  let blobBytes = 0;
  for (const [name, e] of reader.index.byName) {
    if (e.type === 'file' && name.startsWith('blobs/sha256/')) {
      blobs++;
      blobBytes += e.size;
    }
  }
  // The tar's size as read: a split one's parts together (not its .parts list or first part), a
  // bundle in a registry the tar its table of contents lays out (what `bundle pull` writes).
  const tarSize = reader.index.fileSize;
  const diff = info.differential ? await readDifferential(reader) : undefined;
  return {
    contents: {
      path: tarPath,
      formatVersion: info.formatVersion,
      ferryVersion: info.ferryVersion,
      manifestName: info.manifestName,
      tarSize,
      blobs,
      blobBytes,
      topLevel: index.manifests.length,
      artifacts: bundleArtifacts(lock),
      unsatisfied: bundleUnsatisfied(lock),
      ...(diff ? { differential: { base: diff.base, omittedBlobs: diff.omitted.length, omittedBytes: diff.omitted.reduce((n, o) => n + o.size, 0), omitted: new Set(diff.omitted.map((o) => o.digest)) } } : {}),
      signed: Boolean(reader.entry(SIGNATURE_FILE)),
    },
    lock,
  };
}
