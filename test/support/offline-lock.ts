import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * Inputs for tests that run ferry offline against a lock (audit, rewrite, mirror-config): a
 * manifest that lists images, a nested-layout site target, and a lock naming those images as
 * `ferry lock` writes it (one placeholder digest: these commands read references and registries).
 */
export const PLACEHOLDER_DIGEST = `sha256:${'a'.repeat(64)}`;

/** A manifest named `name` listing `refs` under `images:`. */
export function imagesManifest(name: string, refs: readonly string[]): string {
  return `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: ${name} }\nimages:\n${refs.map((r) => `  - ref: ${r}`).join('\n')}\n`;
}

/** registry.site.internal, prefix `ferry`, nested layout. */
export const NESTED_SITE_TARGET = `apiVersion: ferry/v1alpha1
kind: MirrorTarget
metadata: { name: site }
registry:
  url: https://registry.site.internal
  prefix: ferry
  layout: nested
`;

/** A lock for manifest `name` pinning `refs`. */
export function imagesLock(name: string, refs: readonly string[]): string {
  const img = (ref: string) => ({ source: ref, ref, digest: PLACEHOLDER_DIGEST, mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] });
  return JSON.stringify({ apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name, digest: PLACEHOLDER_DIGEST }, images: refs.map(img) });
}

/**
 * A fresh work directory holding `m.yaml` (a manifest of `refs`), `m.lock.json` (its offline lock)
 * and `t.yaml` (NESTED_SITE_TARGET): the inputs audit and `rewrite manifests` tests run against.
 */
export async function offlineWork(prefix: string, refs: readonly string[], name = 'fleet'): Promise<string> {
  const work = await mkdtemp(path.join(os.tmpdir(), prefix));
  await writeFile(path.join(work, 'm.yaml'), imagesManifest(name, refs));
  await writeFile(path.join(work, 't.yaml'), NESTED_SITE_TARGET);
  await writeFile(path.join(work, 'm.lock.json'), imagesLock(name, refs));
  return work;
}

/**
 * `<root>/target.yaml`: a target named `name` writing everything to directories under `root` (an
 * OCI layout in `layout/`, charts in `charts/`, files in `files/`); returns the file's path.
 */
export async function writeDirectoryTarget(root: string, name: string): Promise<string> {
  await mkdir(root, { recursive: true });
  const file = path.join(root, 'target.yaml');
  const dirs = `directory: ${JSON.stringify(path.join(root, 'layout'))}\ncharts: { dir: ${JSON.stringify(path.join(root, 'charts'))}, baseUrl: "https://charts.site.example" }\nfiles: { dir: ${JSON.stringify(path.join(root, 'files'))}, baseUrl: "https://files.site.example" }\n`;
  await writeFile(file, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: ${JSON.stringify(name)} }\n${dirs}`);
  return file;
}
