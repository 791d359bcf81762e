import { statSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { isWithin } from '../../store/safe-path.js';
import { formatImageReference, parseImageReference, withDefaultTag } from '../../oci/reference.js';
import { API_VERSION } from '../schema.js';
import { trimBoth } from '../../ui/escape.js';

/**
 * What `ferry convert zarf|hauler` shares: where an item came from, what was not carried, and the
 * assembly of the entries into one deterministic manifest (sorted, duplicates merged). The
 * readers of each format (zarf.ts, hauler.ts) only say what each item of theirs becomes.
 */

/** Where an item sits in the file it came from. */
export interface SourcePlace {
  file: string;
  line?: number;
  /** A Zarf component, a Hauler document (`Images/<name>`). */
  component?: string;
}

/** An item of the source that has no place in the ferry manifest (or changed on the way), and what to do about it. */
export interface ConvertNote {
  from: SourcePlace;
  /** The item, as the source writes it (`repos: https://…`). */
  item: string;
  why: string;
  todo: string;
}

export type ConvertField = 'images' | 'charts' | 'files';

/** One manifest entry a source item becomes, before it is checked and merged. */
export interface Candidate {
  field: ConvertField;
  entry: Record<string, unknown>;
  from: SourcePlace;
}

/**
 * A chart on disk (a directory or a packaged .tgz) the source deploys. A ferry chart comes from a
 * repository, so the chart itself is not carried; the command renders it (vendored sub-charts
 * included, with the values files the source gives) and carries the images it deploys.
 */
export interface LocalChart {
  /** Absolute path of the chart, as the source resolves it. */
  location: string;
  /** The chart as the user reads its place (relative to where ferry runs, or as written). */
  shown: string;
  /** Real path of the top source file's directory: a local chart is read only inside it. */
  root: string;
  /** Values files, in the order the source gives them (later wins). */
  values: Array<{ abs: string; shown: string }>;
  /** The source item (`charts: podinfo-local`). */
  item: string;
  from: SourcePlace;
  /**
   * oc-mirror `imagePaths`: JSONPath expressions (Kubernetes syntax) naming more fields of the
   * rendered objects that hold images; the images there are carried too.
   */
  imagePaths?: Array<{ path: string; from: SourcePlace }>;
  /** Platforms (`os/arch`) the chart's images are carried for (oc-mirror's chart `platforms:`); else all. */
  platforms?: string[];
}

/** What a reader makes of its files. */
export interface Conversion {
  name?: string;
  description?: string;
  candidates: Candidate[];
  /** Charts on disk, rendered by the command for their images. */
  localCharts: LocalChart[];
  /** Items not carried. */
  skipped: ConvertNote[];
  /** Items carried, but not as the source had them. */
  notes: ConvertNote[];
}

export function emptyConversion(): Conversion {
  return { candidates: [], localCharts: [], skipped: [], notes: [] };
}

export function placeText(p: SourcePlace): string {
  return `${p.file}${p.line ? `:${p.line}` : ''}${p.component ? ` (${p.component})` : ''}`;
}

/** What to do about a source's registry or repository trust settings (CA, client certificates, plain HTTP). */
export const TRUST_TODO = 'ferry trusts registries and hosts through --ca-file, certs.d directories and --insecure-registry: give those to `ferry lock` and `ferry bundle create`.';

export const isHttpUrl = (s: string): boolean => /^https?:\/\/\S+$/.test(s);

/**
 * A local path the source names (a values file, a key), relative to `base`, as the converted
 * manifest must name it: relative to the directory the manifest is written to, with `/`.
 */
export function rebasePath(p: string, base: string, outDir: string): string {
  const rel = path.relative(outDir, path.resolve(base, p));
  return rel.split(path.sep).join('/') || '.';
}

/**
 * A local file the source names (a values file, a key) as the converted manifest must name it
 * (rebasePath), checked: `ferry lock` reads it from there and refuses the manifest while it is
 * missing, so a file that is not there is said now, with where it was looked for (`base`, which
 * `relativeTo` names) and, when a file of that name is in `alsoIn` instead, that it is there.
 */
export function localFile(p: string, base: string, outDir: string, what: string, from: SourcePlace, conv: Conversion, relativeTo: string, alsoIn?: string): string {
  const rel = rebasePath(p, base, outDir);
  if (isFileAt(path.resolve(base, p))) return rel;
  const there = alsoIn !== undefined && path.resolve(alsoIn, p) !== path.resolve(base, p) && isFileAt(path.resolve(alsoIn, p)) ? path.resolve(alsoIn, p) : undefined;
  conv.notes.push({
    from,
    item: `${what} ${p}`,
    why: `no file at ${path.resolve(base, p)} (${relativeTo}); written as ${rel}, relative to the manifest, and \`ferry lock\` refuses the manifest until the file is there`,
    todo: there ? `A file of that name is at ${there}: if that is the one, convert again from ${alsoIn}, or write its path (relative to the manifest) in the manifest.` : 'Put the file there, or write its path (relative to the manifest) in the manifest.',
  });
  return rel;
}

function isFileAt(abs: string): boolean {
  try {
    return statSync(abs).isFile();
  } catch {
    return false;
  }
}

/**
 * An `oci://host/path/chart[:version]` chart reference as a ferry chart names it: the repository
 * and the chart apart, the version from `version` else the tag (Zarf and helmfile both read it so).
 * A digest pin is refused: a ferry chart names a version, and the lock pins the digest.
 */
export function splitOciChart(url: string, version: string | undefined): { name: string; repo: string; version: string | undefined } | { problem: string; todo: string } {
  const slash = url.lastIndexOf('/');
  let name = url.slice(slash + 1);
  if (name.includes('@') || version?.includes('@')) return { problem: `${url} is pinned by digest; a ferry chart names a version (the lock pins the digest)`, todo: 'Write the chart\'s version under version: and drop the @digest.' };
  const colon = name.indexOf(':');
  if (colon >= 0) {
    version ??= name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  if (slash <= 'oci://'.length || !name) return { problem: `${url} names no chart after the registry`, todo: 'Write the URL as oci://<registry>/<path>/<chart>.' };
  return { name, repo: url.slice(0, slash), version };
}

/** A YAML scalar a source field holds, as text (numbers too: `version: 1.10` is "1.10"). */
export function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return undefined;
}

export const isMapping = (v: unknown): v is Record<string, unknown> => Boolean(v) && typeof v === 'object' && !Array.isArray(v);

/** Whether a source field is set to something (false, '', [] and {} are as if absent). */
export function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isMapping(v)) return Object.values(v).some(isSet);
  return true;
}

/** A short, one-line rendering of a source value for a note (`[3 items]`, a long string cut). */
export function brief(v: unknown): string {
  if (Array.isArray(v)) return `[${v.length} item${v.length === 1 ? '' : 's'}]`;
  if (isMapping(v)) return `{${Object.keys(v).slice(0, 4).join(', ')}${Object.keys(v).length > 4 ? ', …' : ''}}`;
  const s = String(v);
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}

export interface AssembledManifest {
  /** The manifest, as plain data in the order it is written. */
  manifest: Record<string, unknown>;
  counts: { images: number; charts: number; files: number };
  /** Entries left out because another entry of the same thing disagrees with them. */
  conflicts: ConvertNote[];
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** An image's mirror identity: the normalized reference with the default tag. */
function imageKey(ref: string): string {
  return formatImageReference(withDefaultTag(parseImageReference(ref)));
}

/**
 * The manifest the checked candidates make: images by normalized reference (one entry per
 * reference: platforms joined, all platforms when any entry asks for all; verify keys joined;
 * extras off only when every entry turned them off), charts that are the same in every field
 * once, files by URL once (their names made unique, in URL order), each list sorted.
 */
export function assembleManifest(name: string, description: string | undefined, candidates: Candidate[]): AssembledManifest {
  const images = new Map<string, { platforms?: Set<string>; keys: Set<string>; extras: boolean }>();
  const charts = new Map<string, Record<string, unknown>>();
  const files = new Map<string, { name: string; sha256?: string }>();
  const conflicts: ConvertNote[] = [];
  for (const c of candidates) {
    const e = c.entry;
    if (c.field === 'images') {
      const key = imageKey(String(e.ref));
      const platforms = e.platforms as string[] | undefined;
      const keys = ((e.verify as { keys?: string[] } | undefined)?.keys ?? []) as string[];
      const have = images.get(key);
      if (!have) {
        images.set(key, { platforms: platforms && new Set(platforms), keys: new Set(keys), extras: e.extras !== false });
        continue;
      }
      have.platforms = have.platforms && platforms ? new Set([...have.platforms, ...platforms]) : undefined;
      for (const k of keys) have.keys.add(k);
      have.extras ||= e.extras !== false;
    } else if (c.field === 'charts') {
      // One chart listed twice with other imagePaths: one entry reading all of them.
      const key = JSON.stringify([e.repo, e.name, e.version, e.values ?? []]);
      const have = charts.get(key);
      const paths = [...new Set([...((have?.imagePaths as string[] | undefined) ?? []), ...((e.imagePaths as string[] | undefined) ?? [])])];
      charts.set(key, { ...e, ...(paths.length ? { imagePaths: paths } : {}) });
    } else {
      const url = String(e.url);
      const sha256 = e.sha256 as string | undefined;
      const have = files.get(url);
      if (!have) files.set(url, { name: String(e.name), sha256 });
      else if (sha256 && have.sha256 !== sha256) {
        if (!have.sha256) have.sha256 = sha256;
        else conflicts.push({ from: c.from, item: `${url} sha256 ${sha256}`, why: `the same URL is listed with another checksum (${have.sha256}) too`, todo: 'Check which checksum is right and list the file once.' });
      }
    }
  }
  const imageList = [...images.entries()]
    .sort(([a], [b]) => byText(a, b))
    .map(([ref, i]) => ({
      ref,
      ...(i.platforms ? { platforms: [...i.platforms].sort(byText) } : {}),
      ...(i.keys.size ? { verify: { keys: [...i.keys].sort(byText) } } : {}),
      ...(i.extras ? {} : { extras: false }),
    }));
  const chartList = [...charts.values()].sort(
    (a, b) => byText(String(a.name), String(b.name)) || byText(String(a.repo), String(b.repo)) || byText(String(a.version), String(b.version)) || byText(JSON.stringify(a.values ?? []), JSON.stringify(b.values ?? [])),
  );
  // Names are unique in a manifest: a name two URLs want goes to the first URL, the others get -2, -3….
  const taken = new Set<string>();
  const fileList = [...files.entries()]
    .sort(([a], [b]) => byText(a, b))
    .map(([url, f]) => {
      let unique = f.name;
      for (let n = 2; taken.has(unique); n++) unique = `${f.name}-${n}`;
      taken.add(unique);
      return { name: unique, url, ...(f.sha256 ? { sha256: f.sha256 } : {}) };
    })
    .sort((a, b) => byText(a.name, b.name));
  const manifest: Record<string, unknown> = {
    apiVersion: API_VERSION,
    kind: 'Manifest',
    metadata: { name, ...(description ? { description } : {}) },
    ...(imageList.length ? { images: imageList } : {}),
    ...(chartList.length ? { charts: chartList } : {}),
    ...(fileList.length ? { files: fileList } : {}),
  };
  return { manifest, counts: { images: imageList.length, charts: chartList.length, files: fileList.length }, conflicts };
}

/** A manifest name (lowercase letters, digits, `.`, `_`, `-`) made from a source's name or file name. */
export function manifestNameFrom(raw: string): string {
  const name = trimBoth(raw.toLowerCase().replace(/[^a-z0-9._-]+/g, '-'), '._-');
  return name || 'converted';
}

// ───────────────────────── following includes ─────────────────────────

/**
 * One conversion's walk through the files a source includes (a Zarf `import: {path}`, helmfile
 * `bases:`/`helmfiles:`, a local chart's `file://` dependencies, values files): everything is
 * read only inside `root` (a real path), at most `limits.depth` nested and `limits.files` files in all.
 */
export interface IncludeWalk {
  /** Real path of the top source's directory. */
  root: string;
  /** Files read so far (the top one included). */
  filesRead: number;
  limits: { depth: number; files: number };
  /** How its messages name things: the tree (`the package's directory`) and a step (`import`). */
  words: { tree: string; step: string };
}

export function includeWalk(root: string, limits: { depth: number; files: number }, words: IncludeWalk['words']): IncludeWalk {
  return { root, filesRead: 1, limits, words };
}

export type IncludeStep = { real: string } | { refused: 'outside' | 'missing' | 'not-a-file' | 'cycle' | 'depth' | 'files'; why: string };

/**
 * The one rule for following an include: `target` (absolute, resolved from the including file's
 * real directory) is followed when it stays inside the walk's root both as written and as a real
 * path (a symlink out is not followed), is a file, is not already on `chain` (`keyOf` its real path
 * is what the chain holds: a file, or a package's directory), the chain is at most the depth
 * limit long and fewer than the files limit were read. A step taken counts one file read.
 * `shown` names the target in the reason.
 */
export async function stepInto(walk: IncludeWalk, chain: readonly string[], target: string, shown: string, keyOf: (real: string) => string = (r) => r): Promise<IncludeStep> {
  const { tree, step } = walk.words;
  const outside = { refused: 'outside', why: `${shown} leads outside ${tree} (${walk.root}); ferry follows ${step}s only inside it` } as const;
  if (!isWithin(target, walk.root)) return outside;
  const real = await realpath(target).catch(() => undefined);
  if (real === undefined) return { refused: 'missing', why: `${shown} does not exist` };
  if (!isWithin(real, walk.root)) return outside;
  if (!(await stat(real)).isFile()) return { refused: 'not-a-file', why: `${shown} is not a file (a directory?)` };
  if (chain.includes(keyOf(real))) return { refused: 'cycle', why: `${shown} is already on this ${step} chain (a cycle)` };
  if (chain.length > walk.limits.depth) return { refused: 'depth', why: `nested more than ${walk.limits.depth} ${step}s deep; ferry follows no deeper` };
  if (walk.filesRead >= walk.limits.files) return { refused: 'files', why: `more than ${walk.limits.files} files read in all; ferry reads no more` };
  walk.filesRead++;
  return { real };
}

/** What to do about a step not taken: fix a missing path, break a cycle, else `convertToo` (convert the target with this file). */
export function stepTodo(refused: Exclude<IncludeStep, { real: string }>['refused'], convertToo: string): string {
  if (refused === 'missing' || refused === 'not-a-file') return 'Fix the path, or convert the file it names with this one.';
  if (refused === 'cycle') return 'Break the cycle: a file must not include itself, directly or through others.';
  return convertToo;
}
