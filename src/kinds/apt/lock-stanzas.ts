import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import type { OciDescriptor } from '../../oci/media-types.js';
import { ANNOTATION, type BlobSource } from '../../store/source.js';
import { ROLE } from '../file/artifact.js';
import { clipName, MAX_SAME_NAME } from '../lock-index.js';
import { streamDeb822 } from './control.js';
import { poolPathOf } from './repo.js';
import { suitePrefix } from './spec.js';

/**
 * A filtered suite's generated Packages is ferry's own: made at create from the upstream
 * stanzas of the packages the lock pins, and published at the site signed with the site key.
 * Every stanza of it is held here to the lock's package entry of its suite: its Filename names
 * one, and its Package, Version, Architecture, Size and SHA256 are that entry's; and every
 * package the lock pins for the suite is listed. A crafted bundle cannot tell apt at the site
 * of a version, a package or a file the lock did not pin (another Version, a stanza for a
 * package not carried pointing at a carried .deb, one package's Filename pointing at another's).
 *
 * Linear: the suite's lock packages are indexed once by pool path (60 000-package components
 * are real), each stanza is one lookup.
 */

/** The Packages fields a stanza is held to the lock by. */
const LOCKED_FIELDS: ReadonlySet<string> = new Set(['package', 'version', 'architecture', 'filename', 'sha256', 'size']);

/** Generated indexes are read whole (as import and serve read them to publish them). */
export const GENERATED_INDEX_CAP = 64 * 1024 * 1024;

type LockedPackage = Record<string, unknown>;

const byFileOf = new WeakMap<object, Map<string, LockedPackage | LockedPackage[]>>();

/** One suite's lock packages by pool path (the lock as parsed: entries not objects pin nothing). */
function lockedByFile(suite: Record<string, unknown>): Map<string, LockedPackage | LockedPackage[]> {
  let map = byFileOf.get(suite);
  if (map) return map;
  map = new Map();
  for (const p of Array.isArray(suite.packages) ? suite.packages : []) {
    if (typeof p !== 'object' || p === null || typeof (p as LockedPackage).filename !== 'string') continue;
    const key = (p as LockedPackage).filename as string;
    const had = map.get(key);
    if (had === undefined) map.set(key, p as LockedPackage);
    else if (Array.isArray(had)) had.push(p as LockedPackage);
    else map.set(key, [had, p as LockedPackage]);
  }
  byFileOf.set(suite, map);
  return map;
}

const shown = (s: string | undefined) => (s === undefined ? '(none)' : JSON.stringify(clipName(s)));

/** How a stanza differs from one locked package (the lock's values as `ferry lock` reads a stanza: no Version is 0, no Architecture all). */
function differences(fields: Map<string, string>, p: LockedPackage): string[] {
  const got = {
    Package: fields.get('package'),
    Version: fields.get('version') ?? '0',
    Architecture: fields.get('architecture') ?? 'all',
    SHA256: fields.get('sha256')?.toLowerCase(),
    Size: fields.get('size'),
  };
  const want = { Package: p.name, Version: p.version, Architecture: p.architecture, SHA256: p.sha256, Size: typeof p.size === 'number' ? String(p.size) : p.size };
  const out: string[] = [];
  for (const k of Object.keys(got) as Array<keyof typeof got>) {
    if (got[k] !== want[k]) out.push(`${k} ${shown(got[k] ?? undefined)}, the lock's ${shown(typeof want[k] === 'string' ? want[k] : undefined)}`);
  }
  return out;
}

const MAX_NAMED = 20;

/**
 * Why the generated Packages of one filtered suite of `layers` are not what the lock's suite
 * entry `suite` pins (the first stanzas at fault, and the packages none lists), or undefined.
 * Each generated index is read from `source` under GENERATED_INDEX_CAP and its digest checked.
 */
export async function generatedNotLocked(suite: Record<string, unknown>, layers: readonly OciDescriptor[], source: BlobSource): Promise<string | undefined> {
  if (typeof suite.suite !== 'string') return undefined;
  const prefix = suitePrefix(suite.suite);
  const byFile = lockedByFile(suite);
  const listed = new Set<LockedPackage>();
  const bad: string[] = [];
  let count = 0;
  for (const g of layers) {
    const title = g.annotations?.[ANNOTATION.title];
    if (g.annotations?.[ROLE] !== 'generated-index' || typeof title !== 'string' || !title.startsWith(prefix)) continue;
    const bytes = await source.readBlob(g.digest, GENERATED_INDEX_CAP);
    if ('sha256:' + createHash('sha256').update(bytes).digest('hex') !== g.digest) return `generated index ${clipName(title)}: its content does not match its digest ${g.digest}`;
    for await (const { fields } of streamDeb822(Readable.from([bytes]), false, LOCKED_FIELDS, title)) {
      const file = poolPathOf(fields.get('filename') ?? '');
      const held = byFile.get(file);
      const candidates = held === undefined ? [] : Array.isArray(held) ? held : [held];
      // A lock ferry writes has one package per pool path; a crafted one repeating a path for as
      // many stanzas naming it would be quadratic: more than MAX_SAME_NAME is refused, not compared.
      if (candidates.length > MAX_SAME_NAME) return `the bundle's lock lists ${candidates.length} packages at Filename ${shown(fields.get('filename'))} in suite ${shown(suite.suite)}, more than the ${MAX_SAME_NAME} ferry compares; a lock ferry writes has one`;
      const match = candidates.find((p) => !differences(fields, p).length);
      if (match) {
        listed.add(match);
        continue;
      }
      if (count++ < MAX_NAMED) {
        const why = candidates.length ? differences(fields, candidates[0]).join('; ') : `the lock pins no package at that Filename in suite ${shown(suite.suite)}`;
        bad.push(`${title}: stanza ${shown(fields.get('package'))} Filename ${shown(fields.get('filename'))}: ${why}`);
      }
    }
  }
  const unlisted: string[] = [];
  let missing = 0;
  for (const held of byFile.values()) {
    for (const p of Array.isArray(held) ? held : [held]) {
      if (listed.has(p)) continue;
      if (missing++ < MAX_NAMED) unlisted.push(`${shown(String(p.name))} ${shown(String(p.filename))}`);
    }
  }
  const parts: string[] = [];
  if (count) parts.push(`${count} stanza${count === 1 ? '' : 's'} of its generated Packages ${count === 1 ? 'is' : 'are'} not the package the bundle's lock pins (${bad.join(' | ')}${count > bad.length ? ` | … and ${count - bad.length} more` : ''})`);
  if (missing) parts.push(`${missing} package${missing === 1 ? '' : 's'} the bundle's lock pins for suite ${shown(suite.suite)} ${missing === 1 ? 'is' : 'are'} listed by no generated Packages (${unlisted.join(', ')}${missing > unlisted.length ? `, … and ${missing - unlisted.length} more` : ''})`);
  return parts.length ? parts.join('; ') : undefined;
}

/**
 * With a lock that pins each generated Packages by digest (`generated`), each layer was already
 * held to its digest; what is left is that none the lock pins for the suite is missing (a suite
 * published without one of its Packages would hide every package it lists).
 */
export function generatedMissing(suite: Record<string, unknown>, generated: readonly unknown[], layers: readonly OciDescriptor[]): string | undefined {
  const titles = new Set<string>();
  for (const l of layers) {
    const title = l.annotations?.[ANNOTATION.title];
    if (l.annotations?.[ROLE] === 'generated-index' && typeof title === 'string') titles.add(title);
  }
  const missing: string[] = [];
  let count = 0;
  for (const g of generated) {
    const p = typeof g === 'object' && g !== null ? (g as { path?: unknown }).path : undefined;
    if (typeof p === 'string' && titles.has(p)) continue;
    if (count++ < MAX_NAMED) missing.push(shown(typeof p === 'string' ? p : undefined));
  }
  if (!count) return undefined;
  return `${count} generated Packages the bundle's lock pins for suite ${shown(typeof suite.suite === 'string' ? suite.suite : undefined)} ${count === 1 ? 'is' : 'are'} not in the bundle (${missing.join(', ')}${count > missing.length ? `, … and ${count - missing.length} more` : ''})`;
}

/**
 * With a lock that pins each generated Packages by digest: the first of the suite's generated
 * index layers whose title the lock does not pin or whose digest is not the lock's, said so (a
 * field the stanza check does not compare, Depends or Conflicts, is enough), or undefined.
 */
export function generatedDiffers(suite: Record<string, unknown>, generated: readonly unknown[], layers: readonly OciDescriptor[]): string | undefined {
  if (typeof suite.suite !== 'string') return undefined;
  const prefix = suitePrefix(suite.suite);
  const want = new Map<string, Set<string>>();
  for (const g of generated) {
    if (typeof g !== 'object' || g === null) continue;
    const { path, sha256 } = g as { path?: unknown; sha256?: unknown };
    if (typeof path !== 'string' || typeof sha256 !== 'string') continue;
    let set = want.get(path);
    if (!set) want.set(path, (set = new Set()));
    set.add(`sha256:${sha256}`);
  }
  for (const l of layers) {
    const title = l.annotations?.[ANNOTATION.title];
    if (l.annotations?.[ROLE] !== 'generated-index' || typeof title !== 'string' || !title.startsWith(prefix)) continue;
    const pins = want.get(title);
    if (!pins) return `its generated Packages ${shown(title)} is not one the bundle's lock pins for suite ${shown(suite.suite)}`;
    if (!pins.has(l.digest)) return `its generated Packages ${shown(title)} (${clipName(l.digest)}) is not the one the bundle's lock pins (${clipName([...pins].join(', '))}): a field of its stanzas differs from the upstream stanza the lock pins`;
  }
  return undefined;
}
