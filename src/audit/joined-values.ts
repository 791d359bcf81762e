import type { Node } from 'yaml';
import { joinedImages, MAX_JOINED_IMAGES, YAML_JOIN_TREE, type JoinScope } from './handed-images.js';
import type { Reference, SkippedFile } from './scan.js';

/** A list of containers (`containers[0]`, `extraContainers[1]`, `initContainers[0]`): its `image: busybox` is pulled as written, never joined to a hub. */
const CONTAINER_ITEM = /containers\[\d+\]$/i;

/**
 * A values file's own keys joined as istiod's injector and Istio's charts join them
 * (audit/handed-images.ts joinedImages): `global.hub` + `pilot.image: pilot` + `global.tag` (or
 * `pilot.tag`, `pilot.hub` nearer) is `docker.io/istio/pilot:1.27.1`, reported at the name's line.
 * The `{image, tag}` map the image-map rule read from the same keys (`pilot` as Docker Hub's) and
 * the hub's own host finding (the image's registry, no destination of its own) are replaced.
 * `root`: a values file's document, or the values a Kubernetes object holds (`scope.rootPath`: a
 * HelmRelease's `spec.values`, an Application's `helm.valuesObject`); `scope.skip`: key paths of
 * names read another way (an operator's). Bounded as joinedImages is.
 */
export function joinValuesImages(file: string, root: unknown, refs: Reference[], before: number, lineOf: (n: Node | null | undefined) => number, scope: JoinScope & { skip?: ReadonlySet<string> } = {}, notes?: SkippedFile[]): void {
  const found = joinedImages(root, YAML_JOIN_TREE, scope);
  // Where the walk stopped (nesting, maps) is said at that map's line, as an include's bound is: the names below it are unknown.
  if (found.stopped) notes?.push({ file, reason: `${file}:${lineOf(found.stopped.map as Node)}: ${found.stopped.why}`, unscanned: true });
  const images = found.images.filter((j) => !j.namePath.some((k) => CONTAINER_ITEM.test(k)) && !scope.skip?.has(j.namePath.join('.')));
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

/** At most this deep and this many maps are searched in one object for the values it holds. */
const MAX_VALUES_DEPTH = 10;
const MAX_VALUES_MAPS = 10_000;

/**
 * The Helm values a Kubernetes object holds as a map, with their key paths: a map under a key
 * `values` or `valuesObject` (Flux HelmRelease `spec.values`, Argo CD `spec.source.helm.valuesObject`
 * and `spec.sources[i]…`, an ApplicationSet's template, IstioOperator `spec.values`), not searched
 * inside. Bounded in depth and maps.
 */
export function inlineValuesOf(root: unknown): Array<{ node: unknown; path: string[] }> {
  const out: Array<{ node: unknown; path: string[] }> = [];
  let maps = 0;
  const walk = (node: unknown, at: string[]) => {
    if (++maps > MAX_VALUES_MAPS || at.length > MAX_VALUES_DEPTH) return;
    for (const [k, child] of YAML_JOIN_TREE.children(node)) {
      if (k === 'values' || k === 'valuesObject') out.push({ node: child, path: [...at, k] });
      else walk(child, [...at, k]);
    }
  };
  if (YAML_JOIN_TREE.isMap(root)) walk(root, []);
  return out;
}
