import path from 'node:path';
import { registryMappingFor, type RegistryMapping } from '../mapping/index.js';
import type { RegistryClient } from '../oci/client.js';
import { loadTarget, type LoadedTarget } from './target.js';

/**
 * A mirror target read once per command and interpreted once: every path absolute, the
 * registry URL parsed with its mapping. Commands build it and pass it down; nothing below
 * re-resolves a facet's path or re-parses the registry URL.
 *
 * It keeps the loaded form (`target`, `file`, `dir`) too, for code that reads a setting this
 * type does not interpret.
 */
export interface ResolvedTarget extends LoadedTarget {
  registry?: ResolvedRegistry;
  /** `directory:` (an OCI image layout), absolute. */
  directory?: string;
  charts?: ResolvedDirFacet;
  files?: ResolvedDirFacet;
  apt?: ResolvedDirFacet & {
    /** The site signing key for filtered mirrors, absolute. */
    signingKey?: string;
  };
}

export interface ResolvedDirFacet {
  /** Absolute directory. */
  dir: string;
  baseUrl: string;
}

export interface ResolvedRegistry {
  /** As written in the target (`https://host[:port]`). */
  url: string;
  /** `url` parsed. */
  parsed: URL;
  /** `host[:port]`, the registry part of a repository reference. */
  host: string;
  /** Where upstream references land on this registry (src/mapping). */
  mapping: RegistryMapping;
  /** CA file, absolute. */
  ca?: string;
  /** certs.d-style directory for this registry's host, absolute. */
  certDir?: string;
  insecure: boolean;
  /** The client for this registry (its CA, its plain-HTTP rule), set by a command that talks to it. */
  client?: RegistryClient;
}

/** Each loaded target's resolved form (a resolved target maps to itself): resolving is done once. */
const resolvedOf = new WeakMap<LoadedTarget, ResolvedTarget>();

/**
 * Interpret a loaded target once: absolute paths for every facet, the registry parsed. Given
 * a target it resolved before (or its loaded form again), it returns that same object.
 */
export function resolveTarget(loaded: LoadedTarget): ResolvedTarget {
  const known = resolvedOf.get(loaded);
  if (known) return known;
  const t = loaded.target;
  const abs = (p: string) => path.resolve(loaded.dir, p);
  const resolved: ResolvedTarget = { ...loaded };
  if (t.registry) {
    const parsed = new URL(t.registry.url);
    resolved.registry = {
      url: t.registry.url,
      parsed,
      host: parsed.host,
      mapping: registryMappingFor(t),
      ...(t.registry.ca ? { ca: abs(t.registry.ca) } : {}),
      ...(t.registry.certDir ? { certDir: abs(t.registry.certDir) } : {}),
      insecure: t.registry.insecure ?? false,
    };
  }
  if (t.directory) resolved.directory = abs(t.directory);
  if (t.charts) resolved.charts = { dir: abs(t.charts.dir), baseUrl: t.charts.baseUrl };
  if (t.files) resolved.files = { dir: abs(t.files.dir), baseUrl: t.files.baseUrl };
  if (t.apt) resolved.apt = { dir: abs(t.apt.dir), baseUrl: t.apt.baseUrl, ...(t.apt.signingKey ? { signingKey: abs(t.apt.signingKey) } : {}) };
  resolvedOf.set(loaded, resolved);
  resolvedOf.set(resolved, resolved);
  return resolved;
}

/** The same target with the client for its registry (built by the command: src/oci/context.ts). */
export function withRegistryClient(target: ResolvedTarget, client: RegistryClient | undefined): ResolvedTarget {
  if (!target.registry || !client) return target;
  const next: ResolvedTarget = { ...target, registry: { ...target.registry, client } };
  resolvedOf.set(next, next);
  return next;
}

/** Read, validate and resolve a mirror target file. */
export async function loadResolvedTarget(file: string): Promise<ResolvedTarget> {
  return resolveTarget(await loadTarget(file));
}
