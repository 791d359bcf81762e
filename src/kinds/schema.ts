import type { z } from 'zod';
import { loadManifestWith, readLockWith, validateManifestWith, type LoadedManifestOf, type ManifestModel } from '../manifest/load.js';
import { lockSchemaFrom } from '../manifest/lock.js';
import { manifestSchemaFrom } from '../manifest/schema.js';
import { ALL_KINDS, KINDS } from './index.js';

/**
 * The manifest and lock schemas (and through them `ferry schema`'s JSON Schema), assembled
 * from KINDS: a fixed header from src/manifest, then each kind's fields in KINDS order. The
 * manifest loaders bound to them live here too, since src/manifest cannot see the kinds.
 */

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
type Kinds = (typeof KINDS)[number];
type ManifestShape = UnionToIntersection<Kinds['manifestShape']>;
type LockShape = UnionToIntersection<Kinds['lockShape']>;

export const ManifestSchema = manifestSchemaFrom(Object.assign({}, ...KINDS.map((k) => k.manifestShape)) as ManifestShape);
export const LockSchema = lockSchemaFrom(Object.assign({}, ...KINDS.map((k) => k.lockShape)) as LockShape);

export type Manifest = z.infer<typeof ManifestSchema>;
export type Lock = z.infer<typeof LockSchema>;
export type LoadedManifest = LoadedManifestOf<Manifest>;
export type { ImageLock } from './image/lock.js';

/** What loading needs of the kinds: the schema, which lists `vars` expand, which files entries point at. */
export const MANIFEST_MODEL: ManifestModel<Manifest> = {
  schema: ManifestSchema,
  expandedFields: ALL_KINDS.filter((k) => k.expandVars).map((k) => k.field),
  referencedFiles: (manifest) =>
    ALL_KINDS.flatMap((k) => (k.referencedFiles ? ((manifest as unknown as Record<string, unknown[]>)[k.field] ?? []).flatMap((spec) => k.referencedFiles!(spec)) : [])),
};

/** Validate a parsed manifest (placeholders expanded, every problem listed at once). */
export function validateManifest(raw: unknown, where: string): Manifest {
  return validateManifestWith(MANIFEST_MODEL, raw, where);
}

/** Read, expand and validate a manifest file, with the digest its lock is checked against (`text`: its text, read already). */
export function loadManifest(file: string, text?: string): Promise<LoadedManifest> {
  return loadManifestWith(MANIFEST_MODEL, file, text);
}

/** The lock file, or undefined when there is none. */
export function readLock(file: string): Promise<Lock | undefined> {
  return readLockWith(LockSchema, file);
}

/** Each kind's lock entries, for code that handles every kind alike. */
export function lockEntries(lock: Lock, field: string): unknown[] {
  return ((lock as unknown as Record<string, unknown[] | undefined>)[field] ?? []) as unknown[];
}

/** How many entries each lock list holds (`{ images, charts, files, apt }`), in KINDS order. */
export function lockCounts(lock: Lock): { [F in keyof LockShape]: number } {
  return Object.fromEntries(ALL_KINDS.filter((k) => k.lockSchema).map((k) => [k.field, lockEntries(lock, k.field).length])) as { [F in keyof LockShape]: number };
}
