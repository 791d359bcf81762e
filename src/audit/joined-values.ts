import type { Document, Node } from 'yaml';
import { joinedImages, MAX_JOINED_IMAGES, YAML_JOIN_TREE } from './handed-images.js';
import type { Reference } from './scan.js';

/** A list of containers (`containers[0]`, `extraContainers[1]`, `initContainers[0]`): its `image: busybox` is pulled as written, never joined to a hub. */
const CONTAINER_ITEM = /containers\[\d+\]$/i;

/**
 * A values file's own keys joined as istiod's injector and Istio's charts join them
 * (audit/handed-images.ts joinedImages): `global.hub` + `pilot.image: pilot` + `global.tag` (or
 * `pilot.tag`, `pilot.hub` nearer) is `docker.io/istio/pilot:1.27.1`, reported at the name's line.
 * The `{image, tag}` map the image-map rule read from the same keys (`pilot` as Docker Hub's) and
 * the hub's own host finding (the image's registry, no destination of its own) are replaced.
 * Only a document that is no Kubernetes object (a values file); bounded as joinedImages is.
 */
export function joinValuesImages(file: string, doc: Document, refs: Reference[], before: number, lineOf: (n: Node | null | undefined) => number): void {
  const found = joinedImages(doc.contents, YAML_JOIN_TREE);
  const images = found.images.filter((j) => !j.namePath.some((k) => CONTAINER_ITEM.test(k)));
  if (!images.length) return;
  const replaced = new Set<string>();
  const hubs = new Set<string>();
  for (const j of images) {
    const line = lineOf(j.nameNode as unknown as Node);
    replaced.add(`${line}\n${j.namePath.slice(0, -1).join('.') || '(top level)'}`);
    replaced.add(`${line}\n${j.namePath.join('.')}`);
    if (j.hubPath && j.hub) hubs.add(`${j.hubPath.join('.')}\n${j.hub.split('/')[0]}`);
  }
  let kept = before;
  for (let i = before; i < refs.length; i++) {
    const r = refs[i];
    const drop = (r.kind === 'image' && replaced.has(`${r.line}\n${r.keyPath}`)) || (r.kind === 'host' && hubs.has(`${r.keyPath}\n${r.value}`));
    if (!drop) refs[kept++] = r;
  }
  refs.length = kept;
  const over = found.over ? `; more than ${MAX_JOINED_IMAGES} names joined to a hub, the rest not read` : '';
  for (const j of images) {
    const line = lineOf(j.nameNode as unknown as Node);
    const value = j.ref !== undefined && j.unknown === undefined ? j.ref : j.hub ? `${j.hub}/${j.name}` : `{{ ${j.hubPath!.join('.')} }}/${j.name}`;
    const parts = [j.hubPath ? `hub ${j.hubPath.join('.')}` : '', j.tagPath ? `tag ${j.tagPath.join('.')}` : ''].filter(Boolean).join(' and ');
    refs.push({ file, line, keyPath: j.namePath.join('.'), kind: 'image', value, provenance: `${file}:${line} ${j.namePath.join('.')}: ${j.name} is a name the chart or program joins to the ${parts} around it${over}`, ...(j.unknown ? { tagFrom: j.unknown } : {}) });
  }
}
