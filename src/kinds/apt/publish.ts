import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { FerryError } from '../../errors.js';
import { isSafeRelativePath } from '../../store/safe-path.js';
import type { AptSuiteConfig } from './fetch.js';
import { flatDir, isFlatSuite } from './spec.js';

export interface PublishedIndex {
  /** Path relative to `dists/<suite>/`. */
  path: string;
  bytes: Buffer;
}

/** Packages and Packages.gz for one generated index (gzip without a timestamp: same input, same bytes). */
export function compressedVariants(path: string, bytes: Buffer): PublishedIndex[] {
  return [
    { path, bytes },
    { path: `${path}.gz`, bytes: gzipSync(bytes, { level: 9 }) },
  ];
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/** A word of a Release field (a component, an architecture): a relative path of no white space or control character. */
const isReleaseWord = (w: unknown): boolean => typeof w === 'string' && !/\s/.test(w) && isSafeRelativePath(w);

/**
 * What in a suite's config (taken from the vendor's Release, then carried in the bundle) cannot go
 * into the Release ferry writes and the site key signs: each value is one line of its field, so a
 * line break (a deb822 continuation upstream, or written into a crafted bundle's config) would add
 * fields of its own choosing — a `Valid-Until` in the past, a second `SHA256:` list — under the
 * site's signature. The suite is a relative path; components and architectures are words.
 */
export function suiteConfigProblems(cfg: AptSuiteConfig, description = ''): string[] {
  const problems: string[] = [];
  const suite: unknown = cfg.suite;
  if (typeof suite !== 'string' || !(isReleaseWord(suite) || isFlatSuite(suite))) problems.push(`suite ${JSON.stringify(shown(suite))} is not a relative path (or a flat repository's directory) without white space or control characters`);
  for (const field of ['origin', 'label', 'codename', 'flatSuite', 'date', 'version'] as const) {
    const v: unknown = cfg[field];
    if (v !== undefined && (typeof v !== 'string' || CONTROL.test(v))) problems.push(`${field} ${JSON.stringify(shown(v))} is not one line of text`);
  }
  for (const field of ['components', 'architectures'] as const) {
    const list: unknown = cfg[field];
    if (!Array.isArray(list)) problems.push(`${field} is not a list`);
    else for (const w of list.filter((x) => !isReleaseWord(x))) problems.push(`${field} has ${JSON.stringify(shown(w))}, which is not a word`);
  }
  if (CONTROL.test(description)) problems.push(`the description ${JSON.stringify(shown(description))} is not one line of text`);
  return problems;
}

function shown(v: unknown): unknown {
  return typeof v === 'string' && v.length > 200 ? `${v.slice(0, 200)}…` : v;
}

/** Refuses (VERIFY, every problem named) a suite config whose values would add lines to the Release ferry signs. */
export function checkSuiteConfig(cfg: AptSuiteConfig, description: string, label: string): void {
  const problems = suiteConfigProblems(cfg, description);
  if (problems.length) {
    throw new FerryError('VERIFY', `${label}: the suite's config cannot be published in a Release`, {
      details: problems,
      hint: 'A value with a line break would write fields of its own into the Release the site key signs. The bundle was crafted, or the vendor\'s Release carries a multi-line field; nothing of this repository was written or served.',
    });
  }
}

/**
 * A Release for a regenerated (filtered) suite: upstream Origin/Label/Suite/Codename/Date kept so
 * clients' sources and pins still match; no Valid-Until, so a frozen mirror does not expire;
 * by-hash on, so a client never fetches an index that a concurrent import just replaced.
 */
/**
 * `/binary-([a-z0-9-]+)\//.exec(path)?.[1]` in one pass (that regex was quadratic on a crafted path
 * of `binary-b…`). Every later `binary-` that starts inside a failed run ends with that run, so the
 * search goes on past it.
 */
export function binaryArch(path: string): string | undefined {
  for (let at = path.indexOf('binary-'); at >= 0; ) {
    let end = at + 'binary-'.length;
    while (end < path.length && /[a-z0-9-]/.test(path[end])) end++;
    if (end > at + 'binary-'.length && path[end] === '/') return path.slice(at + 'binary-'.length, end);
    at = path.indexOf('binary-', end);
  }
  return undefined;
}

export function buildRelease(cfg: AptSuiteConfig, indexes: PublishedIndex[], description: string, now = new Date()): string {
  checkSuiteConfig(cfg, description, `apt suite ${JSON.stringify(shown(cfg.suite))}`);
  const arches = new Set(cfg.architectures);
  for (const i of indexes) {
    const arch = binaryArch(i.path);
    if (arch) arches.add(arch);
  }
  const comps = new Set(cfg.components);
  // A flat repository's Release has no components, and the vendor's Suite (if any): apt checks a
  // flat `deb URL binary/` against Suite or Codename `binary` (warning "Conflicting distribution"
  // otherwise), so without the vendor's that is the Suite written; `./` and `/` are not checked.
  const flat = flatDir(cfg.suite) !== undefined;
  const flatSuite = cfg.flatSuite ?? (flatDir(cfg.suite) || undefined);
  const lines = [
    ...(cfg.origin ? [`Origin: ${cfg.origin}`] : []),
    ...(cfg.label ? [`Label: ${cfg.label}`] : []),
    ...(flat ? (flatSuite ? [`Suite: ${flatSuite}`] : []) : [`Suite: ${cfg.suite}`]),
    ...(cfg.version ? [`Version: ${cfg.version}`] : []),
    ...(flat ? (cfg.codename ? [`Codename: ${cfg.codename}`] : []) : [`Codename: ${cfg.codename ?? cfg.suite}`]),
    `Date: ${cfg.date ?? now.toUTCString().replace(/GMT$/, 'UTC')}`,
    `Architectures: ${[...arches].sort().join(' ')}`,
    ...(flat ? [] : [`Components: ${[...comps].join(' ')}`]),
    `Description: ${description}`,
    'Acquire-By-Hash: yes',
    'SHA256:',
  ];
  const sorted = [...indexes].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const width = Math.max(...sorted.map((i) => String(i.bytes.length).length), 1);
  for (const i of sorted) lines.push(` ${sha256(i.bytes)} ${String(i.bytes.length).padStart(width)} ${i.path}`);
  return lines.join('\n') + '\n';
}

export interface FilteredSuite {
  /** Packages, Packages.gz … relative to `dists/<suite>/`. */
  indexes: PublishedIndex[];
  release: string;
  /** Present when signed. */
  inRelease?: string;
  releaseGpg?: string;
}

/** Indexes and Release for one filtered suite, signed with the site key when one is given. */
export async function filteredSuite(
  cfg: AptSuiteConfig,
  generated: PublishedIndex[],
  description: string,
  sign?: { clear(text: string): Promise<string>; detached(bytes: Uint8Array): Promise<string> },
): Promise<FilteredSuite> {
  const indexes = generated.flatMap((g) => compressedVariants(g.path, g.bytes));
  const release = buildRelease(cfg, indexes, description);
  if (!sign) return { indexes, release };
  return { indexes, release, inRelease: await sign.clear(release), releaseGpg: await sign.detached(Buffer.from(release, 'utf8')) };
}
