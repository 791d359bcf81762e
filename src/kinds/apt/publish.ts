import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { AptSuiteConfig } from './fetch.js';

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

/**
 * A Release for a regenerated (filtered) suite: upstream Origin/Label/Suite/Codename/Date kept so
 * clients' sources and pins still match; no Valid-Until, so a frozen mirror does not expire;
 * by-hash on, so a client never fetches an index that a concurrent import just replaced.
 */
export function buildRelease(cfg: AptSuiteConfig, indexes: PublishedIndex[], description: string, now = new Date()): string {
  const arches = new Set(cfg.architectures);
  for (const i of indexes) {
    const m = /binary-([a-z0-9-]+)\//.exec(i.path);
    if (m) arches.add(m[1]);
  }
  const comps = new Set(cfg.components);
  const lines = [
    ...(cfg.origin ? [`Origin: ${cfg.origin}`] : []),
    ...(cfg.label ? [`Label: ${cfg.label}`] : []),
    `Suite: ${cfg.suite}`,
    ...(cfg.version ? [`Version: ${cfg.version}`] : []),
    `Codename: ${cfg.codename ?? cfg.suite}`,
    `Date: ${cfg.date ?? now.toUTCString().replace(/GMT$/, 'UTC')}`,
    `Architectures: ${[...arches].sort().join(' ')}`,
    `Components: ${[...comps].join(' ')}`,
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
