import { link, lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { FerryError, unreadableFile } from '../../errors.js';
import { failTaskOnError } from '../../ui/progress.js';
import type { ResolvedTarget } from '../../manifest/resolved-target.js';
import { mapAptRepo } from '../../mapping/index.js';
import { MirrorTree } from '../../mapping/mirror-tree.js';
import { mapLimit } from '../../net/concurrency.js';
import { publicKeyArmored, publicKeyBinary, readSigningKey, signClear, signDetachedArmored, type SigningKey } from '../../net/pgp.js';
import type { OciDescriptor, OciManifest } from '../../oci/media-types.js';
import { checkRelativePath, safeJoin } from '../../store/safe-path.js';
import { clashesOnTarget } from '../../store/name-folding.js';
import { ANNOTATION, type BlobSource } from '../../store/source.js';
import { MAX_MANIFEST_BYTES } from '../../store/layout.js';
import { MAX_TAR_ENTRIES } from '../../store/tar-index.js';
import { isSameFile, sweepStaleTempsOnce, writeFileAtomic, writeViaTemp } from '../../store/temp-files.js';
import { MAX_APT_PARTS } from './artifact.js';
import { hasSameContent, presentWithSize, verifiedIdentity, writeVerified } from '../../store/verified-write.js';
import { ROLE } from '../file/artifact.js';
import { bundleIndex, isDescriptor, manifestParts, ProblemList, readJsonBlob, type ImportProblem } from '../import-checks.js';
import { clipName, lockedByRefName, lockIndex, readOrSkip } from '../lock-index.js';
import type { ImportContext, ImportNeed, ImportResult } from '../types.js';
import { parseRelease } from './control.js';
import type { AptConfig } from './fetch.js';
import { checkSuiteConfig, filteredSuite, sha256, type PublishedIndex } from './publish.js';
import { checkGeneratedIndex, checkVendorIndex, indexText, mainRelease, packageLayers, releaseTextOf } from './repo.js';
import { flatDir, suiteDir, suitePrefix } from './spec.js';
import { warn } from '../warnings.js';
import { GENERATED_INDEX_CAP, generatedDiffers, generatedMissing, generatedNotLocked } from './lock-stanzas.js';
import { generatedPath } from './generated.js';
import { byHashPath, byHashTypes, checkFlatPackages, currentVersion, publishSuiteVersion, suiteVersions } from './suite-version.js';
import { trimTrailing } from '../../ui/escape.js';
import { APT_SITE_KEY_NAME } from '../../mapping/index.js';

export { byHashPath, byHashTypes } from './suite-version.js';

/** Public half of the site key, written at the root of the APT target for clients' `signed-by` (the mapping names it). */
export const SITE_KEY_NAME = APT_SITE_KEY_NAME;

/** A vendor's Release/InRelease, read whole to learn the index hashes. */
const RELEASE_CAP = 16 * 1024 * 1024;

export function aptTarget(loaded: ResolvedTarget): { dir: string; baseUrl: string; signingKey?: string } {
  const t = loaded.apt;
  if (!t) {
    throw new FerryError('VALIDATION', `${loaded.file}: the bundle carries APT repositories but the target has no apt: { dir, baseUrl }`, {
      hint: 'Add an apt: section (and signingKey: for filtered mirrors) to the mirror target.',
    });
  }
  return t;
}

/**
 * The manifests of one split APT artifact, together: a whole Debian suite at the bundle's entry
 * cap is ~25 MB of them (about 300 bytes a package), and they are held parsed at once.
 */
const MAX_APT_MANIFESTS_BYTES = 64 * 1024 * 1024;

export interface AptArtifact {
  /** The artifact's layers in order, from its one manifest or, split, from every child of its index. */
  manifest: Pick<OciManifest, 'config' | 'layers'>;
  cfg: AptConfig;
  label: string;
}

/**
 * Manifest(s) and config of an APT artifact: capped, digest-checked, and the config's shape
 * checked. Either form (artifact.ts): one manifest, or an index whose children (at most
 * MAX_APT_PARTS, each read under the 4 MiB manifest cap, none twice, all with the same config)
 * carry slices of the layer list, concatenated here in order. Memory stays bounded: at most
 * MAX_APT_MANIFESTS_BYTES of JSON in all, and no more layers than a bundle may hold entries.
 */
export function readAptArtifact(top: OciDescriptor, source: BlobSource): Promise<AptArtifact> {
  let cache = artifactCache.get(source);
  if (!cache) artifactCache.set(source, (cache = new Map()));
  const key = `${top.digest}\0${top.annotations?.[ANNOTATION.source] ?? ''}`;
  const held = cache.get(key);
  const alive = held instanceof WeakRef ? held.deref() : undefined;
  if (alive) return Promise.resolve(alive);
  if (held instanceof Promise) return held;
  const reading = readAptArtifactOnce(top, source);
  cache.set(key, reading);
  reading.then(
    (a) => cache.set(key, new WeakRef(a)),
    () => cache.delete(key),
  );
  return reading;
}

/**
 * APT artifacts read, per bundle source, held weakly: an import's clash check, validation, lock
 * check, staging and import each read the artifact (a Debian component is 60 000 layers, ~20 MB
 * parsed), and one still in memory from the step before is not parsed into a second copy. Held
 * no longer than its users hold it (a long `serve` keeps nothing for this).
 */
const artifactCache = new WeakMap<BlobSource, Map<string, Promise<AptArtifact> | WeakRef<AptArtifact>>>();

async function readAptArtifactOnce(top: OciDescriptor, source: BlobSource): Promise<AptArtifact> {
  const what = `apt ${top.annotations?.[ANNOTATION.source] ?? top.digest}`;
  const { json } = await readJsonBlob<OciManifest & { manifests?: unknown }>(source, top, `${what} manifest`, MAX_MANIFEST_BYTES);
  let manifest: AptArtifact['manifest'];
  if (json.manifests === undefined) {
    manifest = manifestParts(json, what);
  } else {
    const children = json.manifests;
    if (!Array.isArray(children) || !children.length || !children.every(isDescriptor)) throw new FerryError('VERIFY', `${what}: index lists no valid child manifests`);
    if (children.length > MAX_APT_PARTS) throw new FerryError('VERIFY', `${what}: index lists ${children.length} manifests, more than the ${MAX_APT_PARTS} an APT artifact may have`);
    if (new Set(children.map((c) => c.digest)).size !== children.length) throw new FerryError('VERIFY', `${what}: index lists a manifest twice`);
    // The children's JSON is parsed into the one layer list: all of it bounded, not only each.
    const total = children.reduce((n, c) => n + c.size, 0);
    if (total > MAX_APT_MANIFESTS_BYTES) throw new FerryError('VERIFY', `${what}: its manifests are ${total} bytes together, more than the ${MAX_APT_MANIFESTS_BYTES} an APT artifact may have`);
    let config: OciDescriptor | undefined;
    const layers: OciDescriptor[] = [];
    for (const [i, child] of children.entries()) {
      const part = `${what} manifest ${i + 1}/${children.length}`;
      const { json: m } = await readJsonBlob<OciManifest>(source, child, part, MAX_MANIFEST_BYTES);
      const p = manifestParts(m, part);
      config ??= p.config;
      if (p.config.digest !== config.digest) throw new FerryError('VERIFY', `${part}: config ${p.config.digest} differs from the first manifest's ${config.digest}`);
      if (layers.length + p.layers.length > MAX_TAR_ENTRIES) throw new FerryError('VERIFY', `${what}: more than ${MAX_TAR_ENTRIES} layers, more than a bundle may hold; refusing it`);
      for (const l of p.layers) layers.push(l);
    }
    manifest = { config: config!, layers };
  }
  const { json: cfg } = await readJsonBlob<AptConfig>(source, manifest.config, `${what} config`);
  if (typeof cfg.name !== 'string' || typeof cfg.url !== 'string' || (cfg.mode !== 'whole' && cfg.mode !== 'filtered') || !Array.isArray(cfg.suites)) {
    throw new FerryError('VERIFY', `${what}: config has no valid name, url, mode and suites`);
  }
  for (const s of cfg.suites) {
    if (typeof s?.suite !== 'string') throw new FerryError('VERIFY', `${what}: config names a suite that is not a string`);
    // A filtered suite's Release is written from this config and signed with the site key: checked before anything is.
    if (cfg.mode === 'filtered') checkSuiteConfig(s, filteredDescription(cfg), `${what} ${JSON.stringify(s.suite.slice(0, 200))}`);
  }
  return { manifest, cfg, label: `apt[${cfg.name}] ${cfg.url}` };
}

/** The repository's root under `apt.dir` (its upstream host and path), checked to stay inside. */
export function aptRoot(target: { dir: string; baseUrl: string }, a: AptArtifact): { root: string; mapped: ReturnType<typeof mapAptRepo> } {
  const mapped = mapAptRepo(a.cfg.url, target);
  return { root: safeJoin(target.dir, mapped.path, a.label), mapped };
}

/**
 * The repositories one `apt.dir` holds, each root claimed by its upstream URL: `http://` and
 * `https://` of one host, a port `host:8080` and a host `host-8080`, map to one root, and a
 * repository (a flat one at a URL's directory) may lie inside another's root. One URL per root,
 * none inside another (one would be written into the other's suites and pool, or published over
 * them). Import and serve place through here.
 */
export class AptTree extends MirrorTree {
  constructor() {
    super('APT repository', 'the mirror path is the host and the path: not the scheme, and a port joins the host with -');
  }
}

/**
 * Every APT repository of a bundle placed in one AptTree, and the suites of the entries that
 * share one URL compared: each top digest's clashes with the others. Built once per bundle source.
 */
const bundleAptRoots = new WeakMap<BlobSource, Promise<Map<string, string[]>>>();

export function aptClashes(source: BlobSource): Promise<Map<string, string[]>> {
  let p = bundleAptRoots.get(source);
  if (!p) {
    p = (async () => {
      const tree = new AptTree();
      const problems = new Map<string, string[]>();
      const say = (top: OciDescriptor, m: string) => problems.set(top.digest, [...(problems.get(top.digest) ?? []), m]);
      const suites = new Map<string, Array<{ suite: string; name: string }>>();
      const roots: Array<{ top: OciDescriptor; url: string; root: string }> = [];
      for (const top of (await bundleIndex(source)).manifests) {
        if (top?.annotations?.[ANNOTATION.kind] !== 'apt') continue;
        // An artifact that cannot be read, or whose URL has no place, is reported by its own validation.
        const a = await readAptArtifact(top, source).catch(() => undefined);
        if (!a) continue;
        let root: string;
        try {
          root = mapAptRepo(a.cfg.url, { baseUrl: 'http://ferry.invalid' }).path;
        } catch {
          continue;
        }
        const url = trimTrailing(a.cfg.url, '/');
        const placed = tree.place(url, root);
        if ('problem' in placed) {
          const fix = 'mirror them into separate apt.dir targets, or bundle one of them';
          say(top, `${placed.problem}; ${fix}`);
          // The other side is not imported or served either: neither would be whole.
          for (const o of roots) {
            if (o.url !== url && (o.root === root || o.root.startsWith(`${root}/`) || root.startsWith(`${o.root}/`))) say(o.top, `${url} has a mirror path (${root}) that is or holds or lies inside this one's (${o.root}); ${fix}`);
          }
          continue;
        }
        roots.push({ top, url, root });
        // One URL in two entries (other suites of one repository): each suite is published whole, once.
        const mine = suites.get(url) ?? [];
        for (const s of a.cfg.suites) {
          const other = mine.find((o) => suitePrefix(o.suite) === suitePrefix(s.suite) || suitePrefix(s.suite).startsWith(suitePrefix(o.suite)) || suitePrefix(o.suite).startsWith(suitePrefix(s.suite)));
          if (other) say(top, `suite ${JSON.stringify(s.suite)} and suite ${JSON.stringify(other.suite)} of entry ${JSON.stringify(other.name)} are ${suitePrefix(other.suite) === suitePrefix(s.suite) ? 'one suite' : 'one inside the other'} of ${url}: each suite is published whole, by one entry; carry it in one entry`);
        }
        suites.set(url, [...mine, ...a.cfg.suites.map((s) => ({ suite: s.suite, name: a.cfg.name }))]);
      }
      return problems;
    })();
    bundleAptRoots.set(source, p);
  }
  return p;
}

/**
 * Nesting across imports: a directory between `apt.dir` and `root` that an earlier import made a
 * repository (a flat one, published as a symbolic link to its version; or one with `dists/`)
 * would have this repository written into its published tree. Refused before anything is written.
 */
async function nestedInEarlier(dir: string, root: string): Promise<string | undefined> {
  const rel = path.relative(path.resolve(dir), root).split(path.sep);
  for (let i = 1; i < rel.length; i++) {
    const at = path.join(path.resolve(dir), ...rel.slice(0, i));
    const st = await lstat(at).catch(() => undefined);
    if (!st) return undefined;
    const repo = st.isSymbolicLink() ? 'a flat APT repository an earlier import published (a symbolic link to its version)' : (await lstat(path.join(at, 'dists')).catch(() => undefined)) ? 'the root of an APT repository an earlier import wrote (it has dists/)' : undefined;
    if (repo) return `${at} is ${repo}; this repository's root ${root} lies inside it and would be written into its published tree: mirror one of them into another apt.dir`;
  }
  return undefined;
}

/**
 * Which URL each repository root under `apt.dir` was published from: one small JSON file per
 * root in `apt.dir/ferry-roots/` (named by the hash of the root's path), written before the
 * first byte of the repository. A root is the host and the path only, so without it a second
 * import could publish `https://host/x` over `http://host/x`, or `host:8080` over `host-8080`,
 * or a repository whose root holds an earlier one's. Nothing serves or reads it but import.
 */
export const ROOTS_DIR = 'ferry-roots';
/** Records read at most (a site with more repositories than this in one apt.dir is refused, named). */
const MAX_ROOT_RECORDS = 100_000;
const ROOT_RECORD_CAP = 64 * 1024;

interface RootRecord {
  root: string;
  url: string;
}

function rootRecordPath(dir: string, root: string): string {
  return path.join(path.resolve(dir), ROOTS_DIR, `${sha256(Buffer.from(root))}.json`);
}

/** The roots earlier imports recorded under `dir` (none when nothing was recorded yet). */
async function earlierRoots(dir: string): Promise<RootRecord[]> {
  const at = path.join(path.resolve(dir), ROOTS_DIR);
  const names = await readdir(at).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw unreadableFile(at, 'the records of APT repository roots', err);
  });
  if (names.length > MAX_ROOT_RECORDS) throw new FerryError('CONFLICT', `${at}: ${names.length} records of APT repository roots, more than the ${MAX_ROOT_RECORDS} ferry reads; import into another apt.dir`);
  const out: RootRecord[] = [];
  for (const name of names) {
    if (!/^[0-9a-f]{64}\.json$/.test(name)) continue;
    const file = path.join(at, name);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    let rec: Partial<RootRecord> | undefined;
    try {
      rec = text !== undefined && text.length <= ROOT_RECORD_CAP ? (JSON.parse(text) as Partial<RootRecord>) : undefined;
    } catch {
      rec = undefined;
    }
    if (typeof rec?.root !== 'string' || typeof rec.url !== 'string') {
      throw new FerryError('CONFLICT', `${file}: not a record of an APT repository root ({root, url}); ferry cannot tell which URL that repository came from`, {
        hint: `Restore it, or remove it (and the repository it named) from ${dir}.`,
      });
    }
    out.push({ root: rec.root, url: rec.url });
  }
  return out;
}

/** The records under `dir`, read once per bundle (every APT artifact of it is checked against them before any is imported). */
const bundleRootRecords = new WeakMap<BlobSource, Map<string, Promise<RootRecord[]>>>();

function earlierRootsFor(source: BlobSource, dir: string): Promise<RootRecord[]> {
  let byDir = bundleRootRecords.get(source);
  if (!byDir) bundleRootRecords.set(source, (byDir = new Map()));
  let p = byDir.get(dir);
  if (!p) byDir.set(dir, (p = earlierRoots(dir)));
  return p;
}

/** What an earlier import's recorded root says against publishing `url` at `root`, or undefined. */
function clashWithEarlier(records: readonly RootRecord[], dir: string, root: string, url: string): string | undefined {
  const fix = 'mirror one of them into another apt.dir (or remove the earlier repository and its record first)';
  for (const r of records) {
    if (r.root === root && r.url !== url) return `${path.join(dir, root)} holds the APT repository an earlier import published from ${r.url}; this one is from ${url}, another URL with the same mirror path (the host and the path: not the scheme, and a port joins the host with -): ${fix}`;
    if (r.root.startsWith(`${root}/`)) return `this repository's root ${path.join(dir, root)} holds ${path.join(dir, r.root)}, the root of the APT repository an earlier import published from ${r.url}; publishing would write over it: ${fix}`;
    if (root.startsWith(`${r.root}/`)) return `this repository's root ${path.join(dir, root)} lies inside ${path.join(dir, r.root)}, the root of the APT repository an earlier import published from ${r.url}: ${fix}`;
  }
  return undefined;
}

/** Record that `root` under `dir` holds the repository of `url` (before anything of it is written). */
async function recordRoot(dir: string, root: string, url: string): Promise<void> {
  const file = rootRecordPath(dir, root);
  const text = `${JSON.stringify({ root, url })}\n`;
  if ((await readFile(file, 'utf8').catch(() => undefined)) === text) return;
  await writeFileAtomic(file, text);
}

const titleOf = (l: OciDescriptor) => l.annotations?.[ANNOTATION.title] ?? '';

/** Where a package goes under the repository's root, checked to stay inside it. */
const poolPath = (root: string, l: OciDescriptor, name: string) => safeJoin(root, titleOf(l), `apt[${name}] package`);

/**
 * Before anything is written: manifest and config readable and digest-checked; every path the
 * import writes (pool files, indexes, by-hash copies, Release files, generated indexes) inside
 * the repository's root under `apt.dir`; for a filtered mirror, `apt.signingKey` set and readable.
 */
export async function validateAptImport(top: OciDescriptor, source: BlobSource, target: ResolvedTarget): Promise<ImportProblem[]> {
  const problems = new ProblemList();
  const label = `apt ${top.annotations?.[ANNOTATION.source] ?? top.digest}`;
  const a = await problems.check(label, () => readAptArtifact(top, source));
  if (!a || !target.apt) return problems.items;
  const t = aptTarget(target);
  if (a.cfg.mode === 'filtered') {
    if (!t.signingKey) problems.add(a.label, "a filtered mirror is re-signed, but the target's apt: has no signingKey", 'VALIDATION');
    else await problems.check(a.label, () => readSigningKey(t.signingKey!, process.env.FERRY_SIGNING_PASSPHRASE, a.label));
  }
  const r = await problems.check(a.label, () => aptRoot(t, a));
  for (const p of (await aptClashes(source)).get(top.digest) ?? []) problems.add(a.label, p);
  if (!r) return problems.items;
  const rel = mapAptRepo(a.cfg.url, t).path;
  if (rel.split('/')[0] === ROOTS_DIR) problems.add(a.label, `its mirror path ${rel} would lie in ${ROOTS_DIR}/, where ferry records the roots of the repositories it published`);
  const records = await problems.check(a.label, () => earlierRootsFor(source, t.dir));
  const earlier = records ? clashWithEarlier(records, t.dir, rel, trimTrailing(a.cfg.url, '/')) : undefined;
  // What the tree shows first (a root with dists/ or a published flat link), then what the records add (another URL, a root holding one, a root an import left half-written).
  const nested = (await nestedInEarlier(t.dir, r.root)) ?? earlier;
  if (nested) problems.add(a.label, nested, 'CONFLICT');
  // Every title is a path under the root, whatever its role.
  for (const l of a.manifest.layers) {
    if (l.annotations?.[ANNOTATION.title] === undefined) continue;
    await problems.check(a.label, () => safeJoin(r.root, titleOf(l), `${a.label} layer ${l.digest}`));
  }
  // Two titles that are one name on apt.dir's file system (probed): the second would replace the first after it was verified.
  for (const { line } of await clashesOnTarget(a.manifest.layers.map(titleOf).filter(Boolean), t.dir, undefined, r.root)) problems.add(a.label, line, 'CONFLICT');
  // A package under dists/ lies in a suite's own pool (Docker's dists/<codename>/pool/), written
  // into that suite's new version. Anywhere else there it would be written through another
  // suite's symlink into its published version, over the symlink itself (dists/testing), into
  // ferry's versions (dists/.stable.ferry/<id>/…), or over a suite's signed metadata
  // (dists/stable/InRelease, its indexes, by-hash/): refused.
  const pools = a.cfg.suites.filter((s) => flatDir(s.suite) === undefined).map((s) => `dists/${trimTrailing(s.suite, '/')}/pool/`);
  const astray = a.manifest.layers.filter((l) => l.annotations?.[ROLE] === 'package' && /^dists(\/|$)/.test(titleOf(l)) && !pools.some((p) => titleOf(l).startsWith(p)));
  if (astray.length) {
    const shown = (t: string) => JSON.stringify(clipName(t));
    problems.add(
      a.label,
      `${astray.length} package${astray.length === 1 ? ' lies' : 's lie'} under dists/ outside the pool of a suite it carries (dists/<suite>/pool/): ${astray.slice(0, 5).map((l) => shown(titleOf(l))).join(', ')}${astray.length > 5 ? ` and ${astray.length - 5} more` : ''}; refusing to write them over published suites`,
      'VERIFY',
    );
  }
  let debs: Map<string, OciDescriptor> | undefined;
  // Each suite is a symlink to a version directory: one suite inside another would be written into that one's version.
  for (const s of a.cfg.suites) {
    const outer = a.cfg.suites.find((o) => o !== s && suitePrefix(s.suite) !== suitePrefix(o.suite) && suitePrefix(s.suite).startsWith(suitePrefix(o.suite)));
    if (outer) problems.add(a.label, `suite ${JSON.stringify(s.suite)} lies inside suite ${JSON.stringify(outer.suite)}: each suite is published as a whole (dists/<suite> or a flat directory switched at once), so one cannot hold another; mirror one of them`, 'VALIDATION');
  }
  // A flat repository's packages lie beside its signed metadata: none may be written over it (the lock checked the vendor's index; a bundle is checked again).
  const titles = a.manifest.layers.filter((x) => x.annotations?.[ROLE] === 'package').map(titleOf);
  for (const s of a.cfg.suites) await problems.check(a.label, () => checkFlatPackages(titles, s.suite, `${a.label} ${s.suite}`));
  for (const s of a.cfg.suites) {
    const dist = await problems.check(a.label, () => suiteVersions(r.root, s.suite, a.label).link);
    if (!dist) continue;
    // A flat directory is switched whole: a plain directory there (another mirror of this URL, with
    // dists/ suites and a pool, for the root) would be moved aside with all it holds. Refused, not lost.
    if (flatDir(s.suite) !== undefined && (await lstat(dist).then((st) => st.isDirectory(), () => false))) {
      problems.add(a.label, `${dist} is a directory, not the symlink ferry publishes the flat repository ${JSON.stringify(s.suite)} through: publishing would move everything in it aside; move it out of apt.dir (or import into another apt.dir) and import again`, 'CONFLICT');
    }
    const prefix = suitePrefix(s.suite);
    if (a.cfg.mode === 'filtered') {
      for (const g of a.manifest.layers.filter((l) => l.annotations?.[ROLE] === 'generated-index' && titleOf(l).startsWith(prefix))) {
        if (g.size > GENERATED_INDEX_CAP) problems.add(a.label, `${titleOf(g)} is ${g.size} bytes, more than the ${GENERATED_INDEX_CAP} bytes ferry reads into memory for a generated index`);
      }
      continue;
    }
    await problems.check(a.label, async () => {
      const w = await wholeSuitePlan(r.root, s.suite, a.manifest.layers, source, a.label);
      for (const idx of w.indexes) w.byHash(idx);
      await checkWholeSuite(w, (debs ??= packageLayers(a.manifest.layers)), source, `${a.label} ${s.suite}`);
    });
  }
  return problems.items;
}

async function writeSmall(dest: string, bytes: Uint8Array): Promise<boolean> {
  const cur = await readFile(dest).catch(() => undefined);
  if (cur && Buffer.compare(cur, bytes) === 0) return false;
  await writeFileAtomic(dest, bytes);
  return true;
}

/** A file that is not there is written through checks of its own (held directories): the presence check need not walk its path. */
const BEFORE_WRITE = { complete: false } as const;

async function writeBlob(layer: OciDescriptor, dest: string, ctx: ImportContext): Promise<number> {
  if (await hasSameContent(dest, layer.digest, layer.size, BEFORE_WRITE)) return 0;
  if (await ctx.staged?.place(layer.digest, dest)) return layer.size;
  return writeVerified(await ctx.source.openBlob(layer.digest), dest, layer.digest, `${layer.annotations?.[ANNOTATION.title]} → ${dest}`);
}

/**
 * Import's blob pass (one read of the bundle): every `.deb` the repository's pool lacks is
 * staged under its root, hashed as it streams; importApt places them once the whole bundle
 * verified, before any index names them.
 */
export async function importAptBlobs(top: OciDescriptor, ctx: ImportContext): Promise<void> {
  const staged = ctx.staged;
  if (!staged || !ctx.target.apt) return;
  const a = await readAptArtifact(top, ctx.source);
  const { root } = aptRoot(aptTarget(ctx.target), a);
  const packages = a.manifest.layers.filter((l) => l.annotations?.[ROLE] === 'package');
  // A flat repository at the root publishes the root itself (a symlink switched to a complete
  // version): staged beside it, not in it, so the root is never made a plain directory first.
  const stageIn = a.cfg.suites.some((s) => flatDir(s.suite) === '') ? path.dirname(root) : root;
  // Staged copies a killed run left in the repository's root (its pid gone) go: a re-run leaves the tree a clean run does.
  await sweepStaleTempsOnce(stageIn);
  const task = ctx.progress.start(`apt[${a.cfg.name}] ${packages.length} packages`, packages.reduce((n, l) => n + l.size, 0));
  await failTaskOnError(
    task,
    () =>
      mapLimit(packages, ctx.concurrency, async (l) => {
        // aptImportNeeds checked every pool path (before this pass); what is not there is placed through held directories.
        if (!(await presentWithSize(poolPath(root, l, a.cfg.name), l.size, BEFORE_WRITE))) await staged.stage(l, stageIn);
        task.advance(l.size);
      }),
    'not written',
  );
  task.finish();
}

/** Stats at once while the needs of a whole component (60 000 packages) are counted. */
const NEEDS_STATS = 16;

/**
 * What importApt would write into `apt.dir`, as it decides: each pool package not there with its
 * size; per suite, the version it publishes: the current one when that is the same (the same
 * vendor Release, or the same generated indexes), where only what it lacks is written, else a new
 * version directory holding every index and Release file once (by-hash copies and the named
 * index are links of one file) and the suite's own packages, linked from the current version
 * where they are there. A filtered suite's indexes are counted with their .gz (bounded as zlib's
 * deflateBound), its Release files at their usual size. Memory and time are linear in the layers.
 */
export async function aptImportNeeds(top: OciDescriptor, source: BlobSource, target: ResolvedTarget): Promise<ImportNeed[]> {
  if (!target.apt) return [];
  const t = aptTarget(target);
  const a = await readAptArtifact(top, source);
  const { root } = aptRoot(t, a);
  const needs: ImportNeed[] = [];
  const need = (file: string, bytes: number, digest?: string) => needs.push({ key: 'apt.dir', dir: t.dir, file, bytes, digest });
  const lacks = async (file: string, size: number) => !(await presentWithSize(file, size));
  const all = a.manifest.layers.filter((l) => l.annotations?.[ROLE] === 'package');
  const inSuites = new Set(a.cfg.suites.flatMap((s) => suitePackages(s.suite, all)));
  await mapLimit(
    all.filter((l) => !inSuites.has(l)),
    NEEDS_STATS,
    async (l) => {
      const dest = poolPath(root, l, a.cfg.name);
      if (await lacks(dest, l.size)) need(dest, l.size, l.digest);
    },
  );
  for (const s of a.cfg.suites) {
    const v = suiteVersions(root, s.suite, a.label);
    const prefix = suitePrefix(s.suite);
    const mine = a.manifest.layers.filter((l) => titleOf(l).startsWith(prefix));
    const cur = await currentVersion(v);
    const generated = mine.filter((l) => l.annotations?.[ROLE] === 'generated-index');
    let same: boolean;
    let into: string;
    if (a.cfg.mode === 'whole') {
      const main = mainRelease(mine.filter((l) => l.annotations?.[ROLE] === 'release'), titleOf);
      const id = main?.digest.replace(/^sha256:/, '').slice(0, 16) ?? 'new';
      same = cur.id !== undefined && cur.id === id;
      // A version a killed run completed but did not switch to is written into, keeping what it has.
      into = same ? cur.dir! : (await lstat(path.join(v.dir, id)).then((st) => st.isDirectory(), () => false)) ? path.join(v.dir, id) : path.join(v.dir, `${id}.partial`);
    } else {
      // The same generated indexes are the same version (the config aside): each one's plain file, hashed where it is published.
      same = cur.id !== undefined;
      for (const g of generated) if (same) same = await hasSameContent(safeJoin(v.link, titleOf(g).slice(prefix.length), a.label), g.digest, g.size);
      into = same ? cur.dir! : path.join(v.dir, 'next.partial');
    }
    const at = (l: OciDescriptor) => safeJoin(into, titleOf(l).slice(prefix.length), a.label);
    await mapLimit(suitePackages(s.suite, all), NEEDS_STATS, async (l) => {
      if ((await lacks(at(l), l.size)) && (await lacks(safeJoin(root, titleOf(l), a.label), l.size))) need(at(l), l.size, l.digest);
    });
    if (a.cfg.mode === 'whole') {
      for (const l of mine) {
        const role = l.annotations?.[ROLE];
        if ((role === 'index' || role === 'release') && (!same || (await lacks(at(l), l.size)))) need(at(l), l.size, l.digest);
      }
    } else if (!same) {
      let listed = 0;
      for (const g of generated) {
        const gz = g.size + Math.floor(g.size / 4096) + Math.floor(g.size / 16384) + 64;
        // The plain index and its .gz, each at its name and by hash: not links, four files.
        for (const [suffix, bytes] of [['', g.size], ['.gz', gz]] as const) {
          need(`${at(g)}${suffix}`, bytes);
          need(`${at(g)}${suffix} (by-hash)`, bytes);
        }
        listed += 2;
      }
      // Release, InRelease and Release.gpg: the fields, and a line per index and hash.
      for (const name of ['Release', 'InRelease', 'Release.gpg']) need(path.join(into, name), 4096 + 256 * listed);
    }
  }
  return needs;
}

/**
 * Make `dest` the same content as `src` when `src` holds the layer's verified bytes (a hard link,
 * made in dest's held directory, checked to be the very file hashed: one renamed over `src`
 * between its hash and the link is not linked); from the bundle otherwise. Returns the bytes read
 * from the bundle.
 */
async function linkOrCopy(src: string, dest: string, layer: OciDescriptor, ctx: ImportContext): Promise<number> {
  if (await hasSameContent(dest, layer.digest, layer.size, BEFORE_WRITE)) return 0;
  const id = await verifiedIdentity(src, layer.digest, layer.size);
  if (id) {
    const linked = await writeViaTemp(dest, async (tmp) => {
      await link(src, tmp);
      if (!isSameFile(await lstat(tmp), id)) throw new Error(`${src} changed since it was hashed`);
    }).then(
      () => true,
      () => false,
    );
    if (linked) return 0;
  }
  return writeBlob(layer, dest, ctx);
}

/**
 * What a whole suite writes, as paths relative to its `dists/<suite>` version directory (each
 * checked to stay inside it, and inside `root`): its Release files and indexes, the parsed
 * Release, and where the by-hash copies of an index go (checked too: the hashes come from the
 * bundle's Release). By-hash copies are written whether or not the vendor's Release says
 * `Acquire-By-Hash`: a client with `[by-hash=force]` then never reads an index of another Release.
 */
async function wholeSuitePlan(root: string, suite: string, layers: OciDescriptor[], source: BlobSource, label: string) {
  const dir = suiteDir(suite);
  const prefix = dir === '' ? '' : `${checkRelativePath(dir, `${label} suite`)}/`;
  const mine = layers.filter((l) => titleOf(l).startsWith(prefix));
  const releases = mine.filter((l) => l.annotations?.[ROLE] === 'release');
  const main = mainRelease(releases, titleOf);
  if (!main) throw new FerryError('VERIFY', `apt ${suite}: the bundle has no Release for this suite`);
  if (!isDescriptor(main)) throw new FerryError('VERIFY', `apt ${suite}: malformed Release descriptor`);
  const rel = parseRelease(releaseTextOf(await source.readBlob(main.digest, RELEASE_CAP)));
  const inSuite = (relPath: string, what: string) => {
    safeJoin(root, `${prefix}${relPath}`, `${label} ${what}`);
    return checkRelativePath(relPath, `${label} ${what}`);
  };
  const indexes = mine.filter((l) => l.annotations?.[ROLE] === 'index').map((idx) => ({ idx, relPath: inSuite(titleOf(idx).slice(prefix.length), 'index') }));
  const byHash = ({ relPath }: { relPath: string }) =>
    byHashTypes(rel.hashes, relPath).map((type) => inSuite(byHashPath(relPath, type, rel.hashes.get(type)!.get(relPath)!.hash), 'by-hash index'));
  return { rel, main, releases: releases.map((r) => ({ r, relPath: inSuite(titleOf(r).slice(prefix.length), 'release') })), indexes, byHash };
}

/**
 * A whole suite as the bundle carries it is the vendor's, complete: every index is the file its
 * signed Release lists (same SHA256 and size; apt refuses any other), and every package a
 * Packages index names is carried with that SHA256 and size. Checked before anything of the
 * repository is written; one Packages variant per directory is read (the Release pins the others).
 */
async function checkWholeSuite(w: Awaited<ReturnType<typeof wholeSuitePlan>>, debs: ReadonlyMap<string, OciDescriptor>, source: BlobSource, label: string): Promise<void> {
  const listed = w.rel.sha256;
  const wrong: string[] = [];
  for (const { idx, relPath } of w.indexes) {
    const want = listed.get(relPath);
    if (!want) wrong.push(`${relPath} is not listed in the suite's Release`);
    else if (`sha256:${want.hash}` !== idx.digest || want.size !== idx.size) wrong.push(`${relPath} is ${idx.digest} (${idx.size} bytes); the signed Release lists sha256:${want.hash} (${want.size} bytes)`);
  }
  if (wrong.length) {
    throw new FerryError('VERIFY', `${label}: ${wrong.length} index file${wrong.length === 1 ? ' does' : 's do'} not match the vendor's signed Release`, {
      details: wrong.length > 20 ? [...wrong.slice(0, 20), `… and ${wrong.length - 20} more`] : wrong,
      hint: 'apt would refuse these files (hash sum mismatch): the bundle was crafted or damaged. Nothing of this repository was written; create the bundle again on the connected side.',
    });
  }
  const byDir = new Map<string, (typeof w.indexes)[number]>();
  for (const entry of w.indexes) {
    const m = /^(.*\/)?Packages(\.gz|\.xz)?$/.exec(entry.relPath);
    if (!m) continue;
    const dir = m[1] ?? '';
    // The plain file when there is one (nothing to decompress), else the .gz, else the .xz.
    const rank = (ext: string | undefined) => (ext === undefined ? 0 : ext === '.gz' ? 1 : 2);
    const prev = byDir.get(dir);
    if (!prev || rank(m[2]) < rank(/\.(gz|xz)$/.exec(prev.relPath)?.[0])) byDir.set(dir, entry);
  }
  for (const [, { idx, relPath }] of [...byDir].sort(([a], [b]) => (a < b ? -1 : 1))) {
    await checkVendorIndex(indexText(await source.openBlob(idx.digest), relPath), debs, `${label} ${relPath}`);
  }
}

/**
 * The packages a suite's own directory holds: Docker's repository keeps its pool under
 * `dists/<codename>/pool/` (its Packages name `dists/bookworm/pool/stable/amd64/…`). `dists/<suite>`
 * is a symlink switched whole, so these are written into each version, not beside it.
 */
export function suitePackages(suite: string, packages: readonly OciDescriptor[]): OciDescriptor[] {
  const prefix = suitePrefix(suite);
  return packages.filter((l) => titleOf(l).startsWith(prefix));
}

/** Writes a suite's own packages into its version directory `dir`: hard links to the current version's copy where it is the same, else from the bundle. */
async function writeSuitePackages(root: string, dir: string, suite: string, packages: readonly OciDescriptor[], ctx: ImportContext, label: string): Promise<number> {
  const prefix = suitePrefix(suite);
  let sent = 0;
  await mapLimit(suitePackages(suite, packages), ctx.concurrency, async (l) => {
    const dest = safeJoin(dir, titleOf(l).slice(prefix.length), `${label} package`);
    // Through the suite's symlink: the current version's copy, when there is one.
    const current = safeJoin(root, titleOf(l), `${label} package`);
    sent += current !== dest ? await linkOrCopy(current, dest, l, ctx) : await writeBlob(l, dest, ctx);
  });
  return sent;
}

async function importWhole(root: string, suite: string, layers: OciDescriptor[], ctx: ImportContext, label: string): Promise<number> {
  let sent = 0;
  const plan = await wholeSuitePlan(root, suite, layers, ctx.source, label);
  const rel = plan.rel;
  const validUntil = rel.fields.get('valid-until');
  if (validUntil) {
    // The vendor's signature covers Valid-Until; a whole mirror keeps it, so it expires like upstream.
    warn(
      ctx,
      `${root} ${suite}: the vendor's Release is valid until ${validUntil}; after that apt refuses it unless clients set Acquire::Check-Valid-Until=false (or mirror it filtered, re-signed without expiry)`,
    );
  }
  // The suite's version is its Release: the same vendor Release is the same directory, rewritten never.
  const versions = suiteVersions(root, suite, label);
  return publishSuiteVersion(versions, plan.main.digest.replace(/^sha256:/, '').slice(0, 16), async (dir) => {
    const at = (relPath: string) => safeJoin(dir, relPath, `${label} file`);
    sent += await writeSuitePackages(root, dir, suite, layers.filter((l) => l.annotations?.[ROLE] === 'package'), ctx, label);
    for (const entry of plan.indexes) {
      const { idx } = entry;
      const named = at(entry.relPath);
      let first: string | undefined;
      // apt fetches by the strongest hash the Release lists; older clients by SHA256. One copy, hard links for the rest.
      for (const relPath of plan.byHash(entry)) {
        const dest = at(relPath);
        if (first) await linkOrCopy(first, dest, idx, ctx);
        else {
          sent += await writeBlob(idx, dest, ctx);
          first = dest;
        }
      }
      if (first) await linkOrCopy(first, named, idx, ctx);
      else sent += await writeBlob(idx, named, ctx);
    }
    // Signed metadata last, InRelease very last (the directory is switched to only once complete; this order also keeps a re-checked current one sound).
    const order = (x: { r: OciDescriptor }) => ['Release.gpg', 'Release', 'InRelease'].indexOf(titleOf(x.r).split('/').pop()!);
    for (const { r, relPath } of plan.releases.sort((a, b) => order(a) - order(b))) sent += await writeBlob(r, at(relPath), ctx);
    return sent;
  });
}

/** The generated Packages of one filtered suite, from the bundle (re-hashed). */
export async function generatedIndexes(suite: string, layers: OciDescriptor[], read: (digest: string, maxBytes: number) => Promise<Buffer>): Promise<PublishedIndex[]> {
  const prefix = suitePrefix(suite);
  const out: PublishedIndex[] = [];
  for (const g of layers.filter((l) => l.annotations?.[ROLE] === 'generated-index' && titleOf(l).startsWith(prefix))) {
    // The path is checked before the bytes are read: it names a file this suite publishes.
    const relPath = checkRelativePath(titleOf(g).slice(prefix.length), `apt ${suite} generated index`);
    const bytes = await read(g.digest, GENERATED_INDEX_CAP);
    if ('sha256:' + sha256(bytes) !== g.digest) throw new FerryError('VERIFY', `${titleOf(g)}: bundle content does not match its digest`);
    await checkGeneratedIndex(bytes, layers, `apt ${suite} generated index ${titleOf(g)}`);
    out.push({ path: relPath, bytes });
  }
  return out;
}

export function filteredDescription(cfg: AptConfig): string {
  return `Filtered mirror of ${cfg.url} (${cfg.name}), published by ferry`;
}

async function importFiltered(root: string, suiteCfg: AptConfig['suites'][number], cfg: AptConfig, layers: OciDescriptor[], key: SigningKey, ctx: ImportContext): Promise<number> {
  const label = `apt[${cfg.name}] ${suiteCfg.suite}`;
  const generated = await generatedIndexes(suiteCfg.suite, layers, (d, max) => ctx.source.readBlob(d, max));
  const unsigned = await filteredSuite(suiteCfg, generated, filteredDescription(cfg));
  // The version is the unsigned Release: signing again (a new signature time) makes no new version.
  return publishSuiteVersion(suiteVersions(root, suiteCfg.suite, label), sha256(Buffer.from(unsigned.release, 'utf8')).slice(0, 16), async (dist) => {
    const current = await readFile(path.join(dist, 'Release'), 'utf8').catch(() => undefined);
    let sent = await writeSuitePackages(root, dist, suiteCfg.suite, layers.filter((l) => l.annotations?.[ROLE] === 'package'), ctx, label);
    // by-hash copies first, then the named indexes, then the signed Release files: InRelease last.
    for (const p of unsigned.indexes) {
      if (await writeSmall(safeJoin(dist, byHashPath(p.path, 'SHA256', sha256(p.bytes)), label), p.bytes)) sent += p.bytes.length;
    }
    for (const p of unsigned.indexes) if (await writeSmall(safeJoin(dist, p.path, label), p.bytes)) sent += p.bytes.length;
    if (current === unsigned.release && (await readFile(path.join(dist, 'InRelease')).catch(() => undefined))) return sent;
    const releaseBytes = Buffer.from(unsigned.release, 'utf8');
    await writeSmall(path.join(dist, 'Release.gpg'), Buffer.from(await signDetachedArmored(releaseBytes, key)));
    await writeSmall(path.join(dist, 'Release'), releaseBytes);
    await writeSmall(path.join(dist, 'InRelease'), Buffer.from(await signClear(unsigned.release, key)));
    return sent + releaseBytes.length;
  });
}

/**
 * Write one APT repository into `apt.dir` under its mapped path: pool files first (each re-hashed),
 * then indexes (by-hash copies before the named ones), then the signed Release files. A whole
 * mirror keeps the vendor's signed metadata; a filtered one is re-signed with the site key.
 */
export async function importApt(top: OciDescriptor, ctx: ImportContext): Promise<ImportResult[]> {
  const target = aptTarget(ctx.target);
  const a = await readAptArtifact(top, ctx.source);
  const { manifest, cfg } = a;
  const { root, mapped } = aptRoot(target, a);
  let key: SigningKey | undefined;
  if (cfg.mode === 'filtered') {
    if (!target.signingKey) {
      throw new FerryError('VALIDATION', `apt[${cfg.name}] ${cfg.url}: a filtered mirror is re-signed, but the target's apt: has no signingKey`, {
        hint: 'Set apt.signingKey to the site\'s armored OpenPGP private key (gpg --export-secret-keys --armor <id>).',
      });
    }
    key = await readSigningKey(target.signingKey, process.env.FERRY_SIGNING_PASSPHRASE, `apt[${cfg.name}]`);
  }
  const all = manifest.layers.filter((l) => l.annotations?.[ROLE] === 'package');
  // A suite's own packages (Docker's dists/<codename>/pool/) are written with its version, below.
  const inSuites = new Set(cfg.suites.flatMap((s) => suitePackages(s.suite, all)));
  const packages = all.filter((l) => !inSuites.has(l));
  const total = packages.reduce((n, l) => n + l.size, 0);
  // Claimed before the first byte: an import that stops midway still says whose root this is.
  await recordRoot(target.dir, mapped.path, trimTrailing(cfg.url, '/'));
  const task = ctx.progress.start(`apt[${cfg.name}] ${packages.length} packages`, total);
  let poolSent = 0;
  await mapLimit(packages, ctx.concurrency, async (l) => {
    const n = await writeBlob(l, poolPath(root, l, cfg.name), ctx);
    poolSent += n;
    task.advance(l.size);
  });
  task.finish();
  const results: ImportResult[] = [];
  for (const s of cfg.suites) {
    const sent = cfg.mode === 'whole' ? await importWhole(root, s.suite, manifest.layers, ctx, a.label) : await importFiltered(root, s, cfg, manifest.layers, key!, ctx);
    results.push({ artifact: `${cfg.url} ${s.suite}`, location: `${mapped.url} ${s.suite}`, bytesSent: sent, skipped: sent === 0 && poolSent === 0 });
  }
  if (results.length) results[0].bytesSent += poolSent;
  if (key) {
    await writeSmall(path.join(target.dir, `${SITE_KEY_NAME}.asc`), Buffer.from(publicKeyArmored(key)));
    await writeSmall(path.join(target.dir, `${SITE_KEY_NAME}.gpg`), Buffer.from(publicKeyBinary(key)));
  }
  return results;
}

const aptByName = lockIndex((e) => (typeof e.name === 'string' ? e.name : undefined));

/**
 * What one APT lock entry pins: per role of the layers fetch writes, title → sha256 hex (a
 * generated index: its title only). Keys and values are the lock's own strings where they can
 * be (60 000 packages: no second copy of each path and hash).
 */
type AptPins = Map<string, Map<string, string | Set<string>>>;
const pinnedLayers = new WeakMap<Record<string, unknown>, AptPins>();
function aptPins(e: Record<string, unknown>): AptPins {
  let pins = pinnedLayers.get(e);
  if (pins) return pins;
  const made: AptPins = new Map();
  const files = (v: unknown) => (Array.isArray(v) ? v : []).filter((f): f is Record<string, unknown> => typeof f === 'object' && f !== null);
  const pin = (role: string, title: unknown, sha256: unknown) => {
    let byTitle = made.get(role);
    if (!byTitle) made.set(role, (byTitle = new Map()));
    const t = String(title);
    const hex = String(sha256);
    const had = byTitle.get(t);
    if (had === undefined) byTitle.set(t, hex);
    else if (typeof had === 'string') {
      if (had !== hex) byTitle.set(t, new Set([had, hex]));
    } else had.add(hex);
  };
  for (const s of files(e.suites)) {
    for (const r of files(s.release)) {
      if (e.mode === 'whole') pin('release', r.path, r.sha256);
      else pin('upstream-release', `upstream/${String(r.path)}`, r.sha256);
    }
    if (e.mode !== 'whole' && Array.isArray(s.generated)) {
      // Pinned by digest (locks since ferry pins the generated Packages): every byte of it.
      for (const g of files(s.generated)) pin('generated-index', g.path, g.sha256);
    } else {
      for (const i of files(s.indexes)) {
        if (e.mode === 'whole') pin('index', i.path, i.sha256);
        else pin('generated-index', generatedPath(String(i.path)), '');
      }
    }
    for (const p of files(s.packages)) pin('package', p.filename, p.sha256);
  }
  pinnedLayers.set(e, made);
  return made;
}

/** Whether `pins` holds a layer of this role and title with this digest (a generated index of an older lock: by title). */
function pinned(pins: AptPins, role: string, title: string, digest: string): boolean {
  const want = pins.get(role)?.get(title);
  if (want === undefined) return false;
  // A generated index is held to its digest by generatedAgainstLock (which names the stanza at fault).
  if (role === 'generated-index') return true;
  if (!digest.startsWith('sha256:')) return false;
  const hex = digest.slice(7);
  return typeof want === 'string' ? want === hex : want.has(hex);
}

/** Why an APT artifact is not what one lock entry pins (every layer is written at its title's place in the repository). */
function aptAgainstLock(e: Record<string, unknown>, a: AptArtifact): string | undefined {
  const { name, url, mode } = a.cfg;
  if (name !== e.name || url !== e.url || mode !== e.mode) return `its config says ${clipName(`${name} ${url} (${mode})`)}, the bundle's lock ${clipName(`${String(e.name)} ${String(e.url)} (${String(e.mode)})`)}`;
  const suites = new Set((Array.isArray(e.suites) ? e.suites : []).map((s: { suite?: unknown } | null) => s?.suite));
  const stray = a.cfg.suites.find((s) => !suites.has(s.suite));
  if (stray) return `its config names suite ${clipName(stray.suite)}, which the bundle's lock does not`;
  const pins = aptPins(e);
  for (const l of a.manifest.layers) {
    const role = String(l.annotations?.[ROLE] ?? '(none)');
    const title = String(l.annotations?.[ANNOTATION.title] ?? '(none)');
    if (!pinned(pins, role, title, l.digest)) return `its ${clipName(role)} layer ${clipName(title)} (${l.digest}) is not one the bundle's lock pins`;
  }
  return undefined;
}

/**
 * Why an APT repository in index.json is not what the lock pins: its name no locked
 * repository's; its config another URL, mode or suite; or a layer (Release, index, package)
 * that the lock does not pin by path and sha256. A filtered suite's generated Packages is
 * ferry's own (its stanzas checked against the carried packages at import), held to its path.
 */
export async function unlockedAptTop(top: OciDescriptor, entries: readonly unknown[], source: BlobSource): Promise<string | undefined> {
  const found = lockedByRefName(top, entries, aptByName, 'apt repository');
  if ('why' in found) return found.why;
  const a = await readOrSkip(() => readAptArtifact(top, source));
  if (!a) return undefined; // validateAptImport names what cannot be read
  let first: string | undefined;
  for (const e of found.locked) {
    const why = aptAgainstLock(e, a) ?? (await generatedAgainstLock(e, a, source));
    if (!why) return undefined;
    first ??= why;
  }
  return `apt repository ${clipName(found.name)}: ${first}`;
}

/**
 * Why a filtered artifact's generated Packages are not what lock entry `e` pins (lock-stanzas.ts):
 * each suite the artifact publishes, against that suite's locked packages.
 */
async function generatedAgainstLock(e: Record<string, unknown>, a: AptArtifact, source: BlobSource): Promise<string | undefined> {
  if (a.cfg.mode !== 'filtered') return undefined;
  const carried = new Set(a.cfg.suites.map((s) => s.suite));
  for (const s of Array.isArray(e.suites) ? e.suites : []) {
    if (typeof s !== 'object' || s === null || !carried.has((s as { suite?: unknown }).suite as string)) continue;
    const suite = s as Record<string, unknown>;
    const stanzas = () => readOrSkip(() => generatedNotLocked(suite, a.manifest.layers, source));
    let why: string | undefined;
    if (Array.isArray(suite.generated)) {
      // Pinned by digest: each must be there with the lock's digest, nothing to read; when one
      // differs, the stanza check names the stanza at fault if a field it compares differs.
      why = generatedMissing(suite, suite.generated, a.manifest.layers);
      const differs = why ? undefined : generatedDiffers(suite, suite.generated, a.manifest.layers);
      if (differs) why = (await stanzas()) ?? differs;
    } else why = await stanzas();
    if (why) return `suite ${clipName(String((s as { suite?: unknown }).suite))}: ${why}`;
  }
  return undefined;
}
