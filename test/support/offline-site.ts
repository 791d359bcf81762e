import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pushLayoutImage, writeOciLayout } from './images.js';
import { imagesLock, imagesManifest } from './offline-lock.js';
import type { RunningRegistry } from './registry.js';

/**
 * An air-gapped site's inputs for `images` without a network: `<name>.yaml` (the manifest),
 * `<name>.lock.json`, `site.yaml` (the site registry, prefix `ferry`), and each image on the
 * site's registry where import puts it (`ferry/<upstream ref>`, one small image for all).
 */
export async function offlineImagesSite(work: string, site: RunningRegistry, name: string, images: readonly string[]): Promise<void> {
  await writeFile(path.join(work, `${name}.yaml`), imagesManifest(name, images));
  await writeFile(path.join(work, `${name}.lock.json`), imagesLock(name, images));
  await writeFile(path.join(work, 'site.yaml'), `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: ${name} }\nregistry:\n  url: http://${site.host}\n  prefix: ferry\n`);
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, [{ name: 'img', platforms: [{ architecture: 'amd64', layers: [{ files: { 'hello.txt': 'hello' } }] }] }]);
  for (const ref of images) await pushLayoutImage(site, layout, 'img', `ferry/${ref}`);
}
