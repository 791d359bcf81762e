import { isAlias, isMap, isScalar, type Document, type Node, type Scalar } from 'yaml';
import { checkRegistryHost, formatImageReference, parseImageReference, type ImageReference } from '../oci/reference.js';
import { isImageKey, isImageListKey } from '../kinds/image/image-key.js';
import { composedImagesOf, composeImage, defaultImagesOf, isOperatorKind } from '../kinds/image/operator-images.js';
import type { RewriteContext } from './context.js';
import type { ReplacementKind, Unmapped } from './edits.js';
import { formatPath, hasKey, mapGet, scalarText, walk, type YamlPath } from './yaml-text.js';
import { joinPath, splitImageMap } from '../kinds/chart/discover/values.js';
import type { ValueMap } from '../kinds/chart/values.js';
import type { ChartLock } from '../kinds/chart/lock.js';
import { lockEntries } from '../kinds/schema.js';
import { trimTrailing } from '../ui/escape.js';

/**
 * Where a Helm values document names images, and what each place becomes on the mirror.
 *
 * Shapes understood (the ones real charts use):
 * - image maps: `{registry?, repository | image, name?, tag?, digest?}` — the registry key (even
 *   empty) becomes `<mirror host>/<path prefix>` so `{{registry}}/{{repository}}` lands on the
 *   mirrored repository; without a registry key the repository becomes the full mirror path;
 * - image strings: any key the shared image-key rule names (`image`, `initImage`, `init_image`,
 *   `img`; lists under `images`, `extraImages`) holding a reference;
 * - registry-only keys (`imageRegistry`, `global.imageRegistry`, `global.image.registry`): become
 *   `<mirror host>/<path prefix>` for that upstream registry when the lock has images from it.
 */
export interface ValueChange {
  path: YamlPath;
  node?: Scalar;
  line: number;
  old: string;
  new: string;
  kind: ReplacementKind;
  /** The whole upstream image this change is part of (for the report). */
  image?: string;
  /** Write the new value as a YAML boolean (Bitnami's allowInsecureImages guard). */
  boolean?: boolean;
}

export interface ValuesScan {
  changes: ValueChange[];
  unmapped: Array<Omit<Unmapped, 'file'>>;
  /** Every image the document names (whatever the mirror holds), with its key path. */
  seen: SeenImage[];
}

export interface SeenImage {
  ref: ImageReference;
  where: string;
  /** The values path as the lock's `imageValues` spells it (`postgresql.image`, `sidecars[0].image`). */
  valuesPath: string;
  /**
   * An image map that does not move: the chart's own map at this key has a registry key and the
   * file's has none, so the templates put the chart's registry in front of whatever the file says.
   */
  chartRegistry?: boolean;
}

/** `a.b[0]` from `['a', 'b', 0]`, the way the lock writes values paths. */
export function valuesPathOf(path: YamlPath): string {
  return path.reduce<string>((acc, p) => joinPath(acc, p), '');
}

/**
 * Whether the chart's own image map at a values path has a registry key (so a file's map there
 * without one is put behind the chart's registry). The lock holds many charts, and `image` is a
 * key of most: the image the file names there decides which chart's map it is. An image no
 * locked chart deploys from any key is taken as the charts at that path say, when they agree.
 */
function chartRegistryPaths(ctx: RewriteContext): (valuesPath: string, ref: ImageReference) => boolean {
  const at = new Map<string, { registry: Set<string>; plain: Set<string> }>();
  const known = new Set<string>();
  for (const c of lockEntries(ctx.lock, 'charts') as ChartLock[]) {
    for (const [ref, locs] of Object.entries(c.imageValues ?? {})) {
      const repo = tryParse(ref)?.repository;
      if (repo === undefined) continue;
      known.add(repo);
      for (const l of locs) {
        const e = at.get(l.path) ?? { registry: new Set<string>(), plain: new Set<string>() };
        at.set(l.path, e);
        (l.registry ? e.registry : e.plain).add(repo);
      }
    }
  }
  return (valuesPath, ref) => {
    const e = at.get(valuesPath);
    if (!e?.registry.size) return false;
    if (e.registry.has(ref.repository)) return true;
    return !known.has(ref.repository) && !e.plain.size;
  };
}

/**
 * The locked images each chart deploys through an image map's registry key (`imageValues` entries
 * with `registry: true`), by the map's values path: a file that sets only that map's `registry:`
 * (`db.image.registry: docker.io`, the repository and tag left to the chart) composes them.
 */
function registryKeyImages(ctx: RewriteContext): Map<string, ImageReference[]> {
  const at = new Map<string, ImageReference[]>();
  for (const c of lockEntries(ctx.lock, 'charts') as ChartLock[]) {
    for (const [ref, locs] of Object.entries(c.imageValues ?? {})) {
      const r = tryParse(ref);
      if (r) for (const l of locs) if (l.registry) at.set(l.path, [...(at.get(l.path) ?? []), r]);
    }
  }
  return at;
}

const REGISTRY_ONLY_KEYS = new Set(['imageRegistry', 'registry']);

function looksLikeHost(v: string): boolean {
  return (v.includes('.') || v.includes(':') || v === 'localhost') && !checkRegistryHost(v);
}

function tryParse(ref: string): ImageReference | undefined {
  try {
    return parseImageReference(ref);
  } catch {
    return undefined;
  }
}

export function scanValuesDocument(doc: Document.Parsed, ctx: RewriteContext, lineOf: (offset: number) => number): ValuesScan {
  const changes: ValueChange[] = [];
  const unmapped: ValuesScan['unmapped'] = [];
  const seen: SeenImage[] = [];
  const line = (n: Node | undefined) => (n?.range ? lineOf(n.range[0]) : 0);
  const globalRegistry = documentGlobalRegistry(doc);
  const chartRegistry = chartRegistryPaths(ctx);
  const registryKeys = registryKeyImages(ctx);
  // A scalar edited in place once: an alias naming it again changes the override only.
  const edited = new Set<Node>();
  const change = (path: YamlPath, node: Node | undefined, oldV: string, newV: string, kind: ReplacementKind, image?: string) => {
    if (oldV === newV) return;
    const inPlace = isScalar(node) && !edited.has(node) ? node : undefined;
    if (inPlace) edited.add(inPlace);
    changes.push({ path, node: inPlace, line: line(node), old: oldV, new: newV, kind, image });
  };

  // A map with only its registry key set, where the lock deploys images through that key: the
  // chart's repository and tag follow it, so it becomes the mirror's place for them when they all
  // come from that registry and sit under one mirror prefix; otherwise the images are named.
  const registryOfMap = (mapPath: YamlPath, node: Node, value: string, locked: ImageReference[]) => {
    const registry = tryParse(`${value}/x`)?.registry ?? value;
    if (ctx.mapping.host && (registry === ctx.mapping.host || value.startsWith(`${ctx.mapping.host}/`))) return;
    const where = formatPath([...mapPath, 'registry']);
    const composed = locked.map((r) => ({ ...r, registry }));
    for (const r of composed) seen.push({ ref: r, where: formatPath(mapPath), valuesPath: valuesPathOf(mapPath) });
    const looks = composed.map((r) => ({ r, look: ctx.lookupImage(r) }));
    const missing = looks.filter((l) => l.look.status === 'unmapped');
    for (const m of missing) unmapped.push({ line: line(node), kind: 'image', ref: formatImageReference(m.r), reason: (m.look as { reason: string }).reason, where });
    if (missing.length) return;
    // Docker Hub's `library/` is in the mirror path but maybe not in the chart's repository key.
    const library = composed.filter((r) => r.registry === 'docker.io' && r.repository.startsWith('library/'));
    for (const r of library) unmapped.push({ line: line(node), kind: 'image', ref: formatImageReference(r), reason: `the chart's repository key may omit Docker Hub's library/, which the mirror path keeps; set \`repository: ${r.repository}\` beside this registry key`, where });
    if (library.length) return;
    const places = new Set(looks.map(({ look }) => (look.status === 'mapped' ? (look.pathPrefix ? `${look.host}/${look.pathPrefix}` : look.host) : '')));
    const [place] = places;
    if (places.size !== 1 || !place) {
      for (const { r } of looks) unmapped.push({ line: line(node), kind: 'image', ref: formatImageReference(r), reason: `the images this registry key composes sit under different mirror prefixes (${[...places].join(', ')}); set each image's repository instead`, where });
      return;
    }
    change([...mapPath, 'registry'], node, value, place, 'registry', formatImageReference(composed[0]));
  };

  walk(doc.contents, (visited, path, key) => {
    // `image: *img`: the value is the anchored scalar, wherever it sits; it is rewritten there.
    const resolved = isAlias(visited) ? (visited.resolve(doc) as Node | undefined) : undefined;
    if (isAlias(visited) && !isScalar(resolved)) return;
    const node = resolved ?? visited;
    if (isMap(node)) {
      // The document's root is the chart's values, never one image map, whatever keys it has
      // (Percona's pg-db keeps an unused `repository:` beside the `image:` its templates use).
      if (!path.length) return;
      // NVIDIA's `{repository: "", image: vgpu-manager}`: no image until the repository is set.
      if (!readImageMap(node, key, path[path.length - 2])) return splitMap(node) ? false : undefined;
      scanImageMap(node, path, ctx, line, changes, unmapped, { seen, globalRegistry, chartRegistry });
      return false;
    }
    // An image string at `path`; `loose` accepts a bare name (`image: busybox`).
    const imageString = (value: string, loose: boolean) => {
      if (/\s/.test(value) || value.includes('{{')) return;
      const ref = tryParse(value);
      // `image: busybox` is an image; `sidecarImage: enabled` is not unless it looks like one.
      if (!ref || (!loose && !/[:/@]/.test(value))) return;
      seen.push({ ref, where: formatPath(path), valuesPath: valuesPathOf(path) });
      const look = ctx.lookupImage(ref);
      if (look.status === 'mirror') return;
      if (look.status === 'unmapped') {
        unmapped.push({ line: line(node), kind: 'image', ref: value, reason: look.reason, where: formatPath(path) });
        return;
      }
      change(path, node, value, look.mirror, look.digestChanged ? 'digest' : 'image', value);
    };
    // Items of a plain list of image strings (`images: [a, b]`, `extraImages:`); Helm replaces
    // lists wholesale, so the override carries the whole list (addToOverride).
    if (isScalar(node) && typeof key === 'number') {
      const listKey = path[path.length - 2];
      const value = scalarText(node);
      if (value && typeof listKey === 'string' && isImageListKey(listKey)) imageString(value, false);
      return;
    }
    if (isScalar(node) && typeof key === 'string') {
      const value = scalarText(node);
      if (!value) return;
      const parentPath = path.slice(0, -1);
      if (isImageKey(key)) {
        // cp-helm-charts: `image: repo@sha256` with the digest's hex in `imageTag`; the image key
        // takes the mirror path and `@sha256`, the tag key the stored digest's hex.
        const parent = parentPath.length ? doc.getIn(parentPath, true) : doc.contents;
        const tagKey = isMap(parent) ? parent.items.map((i) => scalarText(i.key as Node)).find((k) => k?.toLowerCase() === `${key.toLowerCase()}tag`) : undefined;
        const tagNode = tagKey && isMap(parent) ? mapGet(parent, tagKey) : undefined;
        const hex = scalarText(tagNode);
        const algo = /^[^\s{}]+@([a-z0-9]+)$/.exec(value)?.[1];
        const ref = algo && hex ? tryParse(`${value}:${hex}`) : undefined;
        if (ref) {
          seen.push({ ref, where: formatPath(path), valuesPath: valuesPathOf(path) });
          const look = ctx.lookupImage(ref);
          if (look.status === 'unmapped') unmapped.push({ line: line(node), kind: 'image', ref: `${value}:${hex}`, reason: look.reason, where: formatPath(path) });
          if (look.status !== 'mapped') return;
          change(path, node, value, `${look.host}/${look.mirrorRef.repository}@${algo}`, 'image', `${value}:${hex}`);
          if (look.digestChanged) change([...parentPath, tagKey!], tagNode, hex!, look.mirrorRef.digest!.split(':')[1], 'digest', `${value}:${hex}`);
          return;
        }
        imageString(value, key === 'image');
        return;
      }
      const parentKey = parentPath[parentPath.length - 1];
      if (key === 'registry' && parentPath.length && looksLikeHost(value)) {
        const parent = doc.getIn(parentPath, true);
        const locked = registryKeys.get(valuesPathOf(parentPath));
        if (locked?.length && isMap(parent) && !hasKey(parent, 'repository') && !hasKey(parent, 'image') && !hasKey(parent, 'name')) {
          registryOfMap(parentPath, node, value, locked);
          return;
        }
      }
      const registryOnly = key === 'imageRegistry' || (key === 'registry' && (parentKey === 'global' || (parentKey === 'image' && parentPath[0] === 'global')));
      if (REGISTRY_ONLY_KEYS.has(key) && registryOnly && looksLikeHost(value)) {
        const registry = tryParse(`${value}/x`)?.registry ?? value;
        if (ctx.mapping.host && registry === ctx.mapping.host) return;
        if (value.startsWith(`${ctx.mapping.host}/`)) return;
        if (!ctx.registries.includes(registry)) {
          unmapped.push({ line: line(node), kind: 'image', ref: value, reason: `no image from ${registry} in the lock`, where: formatPath(path) });
          return;
        }
        const probe = ctx.lookupImage({ registry, repository: ctx.lock.images.map((i) => tryParse(i.ref)).find((r) => r?.registry === registry)!.repository });
        if (probe.status !== 'mapped') return;
        change(path, node, value, probe.pathPrefix ? `${probe.host}/${probe.pathPrefix}` : probe.host, 'registry', value);
      }
    }
  });
  // Bitnami charts refuse to render images moved to another registry unless this is true; the
  // mirror holds the same digests, so a values file that moves its images must say so.
  const guard = doc.getIn(['global', 'security', 'allowInsecureImages'], true);
  if (changes.length && isScalar(guard) && guard.value === false) {
    changes.push({ path: ['global', 'security', 'allowInsecureImages'], node: guard, line: line(guard), old: 'false', new: 'true', kind: 'registry', boolean: true });
  }
  scanPrefixKeys(doc, ctx, line, change, unmapped, seen);
  return { changes, unmapped, seen };
}

/**
 * Where the mirror holds images that one prefix field starts (`<prefix>/<suffix>`): each image's
 * mirror repository must end with its suffix, and what comes before is the mirror's prefix for it
 * (`bases`, under `host`). An image already on the mirror ends the walk (`onMirror`, when
 * `stopAtMirror`: the field already points there); one the lock lacks is `missing`, one the mirror
 * keeps under another name is `blocked`.
 */
export function mirrorPlaces(items: Array<{ image: string; suffix: string }>, ctx: RewriteContext, appends: string, stopAtMirror = true): { onMirror: boolean; bases: Set<string>; host: string; missing: Array<{ image: string; reason: string }>; blocked: Array<{ image: string; reason: string }> } {
  const out = { onMirror: false, bases: new Set<string>(), host: '', missing: [] as Array<{ image: string; reason: string }>, blocked: [] as Array<{ image: string; reason: string }> };
  for (const { image, suffix } of items) {
    const ref = tryParse(image);
    const look = ref ? ctx.lookupImage(ref) : { status: 'unmapped' as const, reason: 'not a valid image reference' };
    if (look.status === 'mirror') {
      if (!stopAtMirror) continue;
      out.onMirror = true;
      break;
    }
    if (look.status === 'unmapped') {
      out.missing.push({ image, reason: look.reason });
      continue;
    }
    const repo = look.mirrorRef.repository;
    if (repo !== suffix && !repo.endsWith(`/${suffix}`)) {
      out.blocked.push({ image, reason: `the mirror path ${repo} does not end with ${suffix}, which ${appends}` });
      continue;
    }
    out.host = look.host;
    out.bases.add(repo.slice(0, repo.length - suffix.length));
  }
  return out;
}

/**
 * Keys the lock records as what an image starts with (`imageValues` with `prefix`: Istio's
 * `global.hub`, from which istiod's injector composes the sidecar proxy `<hub>/proxyv2:<tag>`).
 * Such a key names no image, only the start of several: it becomes the mirror's place for them
 * when every carried image it starts sits there under one prefix ending in what follows the key
 * (`…/docker.io/istio` for `docker.io/istio/proxyv2`), as an operator's `spec.hub` does
 * (scanComposedPrefixes). An image it starts that the lock does not carry is named.
 */
function scanPrefixKeys(
  doc: Document.Parsed,
  ctx: RewriteContext,
  line: (n: Node | undefined) => number,
  change: (path: YamlPath, node: Node | undefined, oldV: string, newV: string, kind: ReplacementKind, image?: string) => void,
  unmapped: ValuesScan['unmapped'],
  seen: SeenImage[],
): void {
  const byPath = new Map<string, Set<string>>();
  for (const c of lockEntries(ctx.lock, 'charts') as ChartLock[])
    for (const [ref, locs] of Object.entries(c.imageValues ?? {})) for (const l of locs) if (l.prefix) byPath.set(l.path, (byPath.get(l.path) ?? new Set()).add(ref));
  for (const [valuesPath, refs] of byPath) {
    const path = valuesPath.split('.');
    const node = doc.getIn(path, true) as Node | undefined;
    const raw = scalarText(node);
    if (!isScalar(node) || raw === undefined || !raw.trim() || raw.includes('{{')) continue;
    const value = trimTrailing(raw.trim(), '/');
    const where = formatPath(path);
    const started = [...refs].map((r) => ({ r, ref: tryParse(r) })).filter((x): x is { r: string; ref: ImageReference } => x.ref !== undefined && `${x.ref.registry}/${x.ref.repository}`.startsWith(`${value}/`));
    if (!started.length) {
      // Already the mirror's place (a file rewritten before), or a start the lock knows nothing under.
      const names = [...refs].map(tryParse).filter((r): r is ImageReference => r !== undefined);
      const onMirror = names.filter((r) => ctx.lookupImage(`${value}/${r.repository.split('/').pop()}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`).status === 'mirror');
      if (onMirror.length) {
        for (const r of onMirror) seen.push({ ref: r, where, valuesPath });
        continue;
      }
      unmapped.push({ line: line(node), kind: 'image', ref: value, reason: `the chart composes images from ${where} (${[...refs].sort().join(', ')} in the lock), and the lock carries none under ${value}: lock the chart with these values`, where });
      continue;
    }
    for (const { ref } of started) seen.push({ ref, where, valuesPath });
    const { bases, host, missing, blocked } = mirrorPlaces(started.map(({ r, ref }) => ({ image: r, suffix: `${ref.registry}/${ref.repository}`.slice(value.length + 1) })), ctx, `the templates append to ${where}`, false);
    for (const m of [...missing, ...blocked]) unmapped.push({ line: line(node), kind: 'image', ref: m.image, reason: m.reason, where });
    if (missing.length || blocked.length || !bases.size) continue;
    if (bases.size > 1) {
      unmapped.push({ line: line(node), kind: 'image', ref: value, reason: `the images it starts sit under different mirror prefixes (${[...bases].join(', ')}); one ${where} cannot name them all`, where });
      continue;
    }
    change(path, node, raw, trimTrailing(`${host}/${[...bases][0]}`, '/'), 'registry', started.map((x) => x.r).join(', '));
  }
}

/**
 * The registry a document sets for every image map that names none (`global.imageRegistry`,
 * `global.image.registry`, `global.registry`: ingress-nginx's `{{ global.image.registry }}/{{ image }}`),
 * when it is a registry host.
 */
export function documentGlobalRegistry(doc: Document.Parsed): string | undefined {
  for (const p of [['global', 'imageRegistry'], ['global', 'image', 'registry'], ['global', 'registry']]) {
    const v = scalarText(doc.getIn(p, true) as Node | undefined);
    if (v && looksLikeHost(v)) return v;
  }
  return undefined;
}

/**
 * One image map: the registry key (even empty) becomes `<mirror host>/<path prefix>` and the
 * repository spells the upstream repository in full; without a registry key the repository
 * becomes the full mirror path. A digest becomes the stored one when a platform filter changed it.
 */
export function scanImageMap(
  node: Node,
  path: YamlPath,
  ctx: RewriteContext,
  line: (n: Node | undefined) => number,
  changes: ValueChange[],
  unmapped: ValuesScan['unmapped'],
  doc: { seen?: SeenImage[]; globalRegistry?: string; chartRegistry?: (valuesPath: string, ref: ImageReference) => boolean } = {},
): void {
  const imageMap = readImageMap(node, path[path.length - 1], path[path.length - 2]);
  if (!imageMap) return;
  // A map without a registry of its own, under a document-wide registry: the templates put that
  // registry in front of the repository, and rewriting the global key moves the image; the
  // repository must stay as it is (a mirror path in it would follow the global registry twice).
  if (!imageMap.hasRegistryKey && doc.globalRegistry && !registryIn(scalarText(imageMap.repoNode)!)) {
    const r = imageMap.ref;
    const composed = tryParse(`${doc.globalRegistry}/${r.repository.replace(/^library\//, '')}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`);
    const look = composed && ctx.lookupImage(composed);
    if (composed && look && (look.status !== 'unmapped' || ctx.lookupImage(r).status === 'unmapped')) {
      doc.seen?.push({ ref: composed, where: formatPath(path), valuesPath: valuesPathOf(path) });
      if (look.status === 'unmapped') unmapped.push({ line: line(imageMap.repoNode), kind: 'image', ref: formatImageReference(composed), reason: look.reason, where: formatPath(path) });
      else if (look.status === 'mapped' && look.digestChanged && imageMap.digestNode) {
        changes.push({ path: [...path, 'digest'], node: isScalar(imageMap.digestNode) ? imageMap.digestNode : undefined, line: line(imageMap.digestNode), old: r.digest!, new: look.mirrorRef.digest!, kind: 'digest', image: formatImageReference(composed) });
      }
      return;
    }
  }
  const valuesPath = valuesPathOf(path);
  // The chart's map here has a registry key and this one none: the templates would put the chart's
  // registry in front of a mirror path (`docker.io/mirror.example/…`). Left as it is, and named.
  if (!imageMap.hasRegistryKey && doc.chartRegistry?.(valuesPath, imageMap.ref)) {
    doc.seen?.push({ ref: imageMap.ref, where: formatPath(path), valuesPath, chartRegistry: true });
    return;
  }
  doc.seen?.push({ ref: imageMap.ref, where: formatPath(path), valuesPath });
  const change = (p: YamlPath, n: Node | undefined, oldV: string, newV: string, kind: ReplacementKind, image?: string) => {
    if (oldV !== newV) changes.push({ path: p, node: isScalar(n) ? n : undefined, line: line(n), old: oldV, new: newV, kind, image });
  };
  const { ref, repoKey, repoNode, registryNode, hasRegistryKey, nameNode, digestNode, repoAlgo, tagNode } = imageMap;
  const algoSuffix = repoAlgo ? `@${repoAlgo}` : '';
  const look = ctx.lookupImage(ref);
  if (look.status === 'mirror') return;
  const upstream = formatImageReference(ref);
  if (look.status === 'unmapped') {
    unmapped.push({ line: line(repoNode), kind: 'image', ref: upstream, reason: look.reason, where: formatPath(path) });
    return;
  }
  if (imageMap.split) {
    // `{{ repository }}/{{ image }}:{{ version }}`: the repository becomes the mirror path before
    // the name; a mirror path that does not end with the name cannot be spelled this way.
    const name = ref.repository.split('/').pop()!;
    const mirrorRepo = look.mirrorRef.repository;
    if (!mirrorRepo.endsWith(`/${name}`)) {
      unmapped.push({ line: line(repoNode), kind: 'image', ref: upstream, reason: `the mirror path ${mirrorRepo} does not end with the image key's ${name}`, where: formatPath(path) });
      return;
    }
    change([...path, 'repository'], repoNode, scalarText(repoNode)!, `${look.host}/${mirrorRepo.slice(0, -name.length - 1)}`, 'image', upstream);
  } else if (hasRegistryKey) {
    change([...path, 'registry'], registryNode, scalarText(registryNode) ?? '', look.pathPrefix ? `${look.host}/${look.pathPrefix}` : look.host, 'registry', upstream);
    // What the registry key no longer says must be in the repository: Docker Hub's library/ and
    // any registry the repository carried itself. `{registry, repository: namespace, name}` maps
    // never carry one in practice.
    if (!nameNode) change([...path, repoKey], repoNode, scalarText(repoNode)!, `${ref.repository}${algoSuffix}`, 'image', upstream);
  } else {
    change([...path, repoKey], repoNode, scalarText(repoNode)!, `${look.host}/${look.mirrorRef.repository}${algoSuffix}`, 'image', upstream);
  }
  if (repoAlgo && look.digestChanged) change([...path, 'tag'], tagNode, scalarText(tagNode)!, look.mirrorRef.digest!.split(':')[1], 'digest', upstream);
  if (look.digestChanged && digestNode) change([...path, 'digest'], digestNode, scalarText(digestNode)!, look.mirrorRef.digest!, 'digest', upstream);
}

/** Whether a repository value starts with a registry host (`quay.io/x/y`). */
function registryIn(repo: string): boolean {
  const first = repo.split('/')[0];
  return repo.includes('/') && looksLikeHost(first);
}

interface ImageMap {
  ref: ImageReference;
  repoKey: 'repository' | 'image' | 'name';
  repoNode: Node;
  registryNode?: Node;
  hasRegistryKey: boolean;
  nameNode?: Node;
  digestNode?: Node;
  /** NVIDIA style `{repository, image, version}`: the repository is the path before the name. */
  split?: boolean;
  /** The repository ends `@sha256` and the tag holds the digest's hex. */
  repoAlgo?: string;
  tagNode?: Node;
}

/** `{repository, image: <name>, version?}` (NVIDIA gpu-operator), read as discovery reads it. */
function splitMap(node: Node): boolean {
  return isMap(node) && splitImageMap(node.toJSON() as ValueMap);
}

/**
 * An image map, or undefined when this map is not one (or not a complete, valid one). Under an
 * image key (`key`), `{name: quay.io/jupyterhub/k8s-hub, tag}` is one too (zero-to-jupyterhub's
 * every image), as discovery reads it; so is each entry of a map under an image list key
 * (`prePuller.extraImages: {mc: {name, tag}}`, `parentKey`).
 */
export function readImageMap(node: Node, key?: string | number, parentKey?: string | number): ImageMap | undefined {
  if (splitMap(node)) {
    const repoNode = mapGet(node, 'repository')!;
    const repo = scalarText(repoNode);
    const version = scalarText(mapGet(node, 'version'));
    if (!repo || repo.includes('{{') || (version && version.includes('{{'))) return undefined;
    const ref = tryParse(`${trimTrailing(repo, '/')}/${scalarText(mapGet(node, 'image'))}${version ? `:${version}` : ''}`);
    return ref ? { ref, repoKey: 'repository', repoNode, hasRegistryKey: false, split: true } : undefined;
  }
  let repoKey: ImageMap['repoKey'] | undefined;
  if (scalarText(mapGet(node, 'repository')) !== undefined) repoKey = 'repository';
  else if (scalarText(mapGet(node, 'image')) !== undefined && (hasKey(node, 'registry') || hasKey(node, 'tag') || hasKey(node, 'digest'))) repoKey = 'image';
  else if (((typeof key === 'string' && isImageKey(key)) || (typeof key === 'string' && typeof parentKey === 'string' && isImageListKey(parentKey))) && !hasKey(node, 'image') && !hasKey(node, 'registry') && scalarText(mapGet(node, 'name')) !== undefined && (hasKey(node, 'tag') || hasKey(node, 'digest'))) repoKey = 'name';
  if (!repoKey) return undefined;
  const repoNode = mapGet(node, repoKey)!;
  const repo = scalarText(repoNode)!;
  if (!repo || repo.includes('{{') || repo.includes('://')) return undefined;
  const registryNode = mapGet(node, 'registry');
  const registry = scalarText(registryNode) ?? '';
  if (registryNode && scalarText(registryNode) === undefined && !(isScalar(registryNode) && registryNode.value === null)) return undefined;
  const nameNode = hasKey(node, 'name') && hasKey(node, 'registry') && repoKey === 'repository' ? mapGet(node, 'name') : undefined;
  const name = scalarText(nameNode);
  const tag = scalarText(mapGet(node, 'tag'));
  const digestNode = mapGet(node, 'digest');
  const digest = scalarText(digestNode);
  let s = registry ? `${registry}/${repo}` : repo;
  if (name) s += `/${name}`;
  // `{repository: k8s.gcr.io/x@sha256, tag: <hex>}`, rendered `{{ repository }}:{{ tag }}`: a digest reference.
  const last = repo.split('/').pop()!;
  const repoAlgo = tag && !digest && !name ? /^[^:@]+@([a-z0-9]+)$/.exec(last)?.[1] : undefined;
  if (tag && (!/[:@]/.test(last) || repoAlgo)) s += `:${tag}`;
  if (digest) s += `@${digest}`;
  const ref = tryParse(s);
  if (!ref) return undefined;
  // A registry-less single name with no tag and no registry key is too weak a signal (`repository: txt`),
  // except under an image key: `image: {repository: nginx}` is an image the chart completes with
  // its own tag (audit reads it so too).
  const underImageKey = typeof key === 'string' && isImageKey(key) && repoKey === 'repository';
  if (!registry && !tag && !digest && !repo.includes('/') && !hasKey(node, 'registry') && !underImageKey) return undefined;
  return { ref, repoKey, repoNode, registryNode, hasRegistryKey: hasKey(node, 'registry'), nameNode: name ? nameNode : undefined, digestNode: digest ? digestNode : undefined, repoAlgo, tagNode: repoAlgo ? mapGet(node, 'tag') : undefined };
}

/**
 * An operator's prefix field (`IstioOperator.spec.hub`, `Installation.spec.registry`): the
 * operator composes `<prefix>[/]<path><namePrefix><name>[:<tag>]` (kinds/image/operator-images.ts),
 * so the field can only take a prefix, never an image. It becomes the mirror's prefix when every
 * carried image it composes sits on the mirror under one prefix ending in `<path><name>`; an image
 * it composes that the lock lacks is named (unmapped when the tag is the resource's own, a warning
 * when the operator's release picks it). `names` holds the bare-name fields the prefix covers.
 */
export function scanComposedPrefixes(doc: Document.Parsed, ctx: RewriteContext, lineOf: (offset: number) => number): { changes: ValueChange[]; unmapped: ValuesScan['unmapped']; warnings: string[]; names: Set<Node> } {
  const changes: ValueChange[] = [];
  const unmapped: ValuesScan['unmapped'] = [];
  const warnings: string[] = [];
  const names = new Set<Node>();
  if (!isMap(doc.contents) || !isOperatorKind(scalarText(mapGet(doc.contents, 'kind')))) return { changes, unmapped, warnings, names };
  const resource = doc.toJSON();
  // No image field: the operator's default image, which no rewrite of this file moves.
  const carriedRepo = (image: string) =>
    (ctx.lock.images ?? []).some((i) => {
      const r = tryParse(i.ref);
      return r !== undefined && `${r.registry}/${r.repository}` === image;
    });
  for (const d of defaultImagesOf(resource)) if (!d.carriedByRepository || !carriedRepo(d.image)) warnings.push(`${d.note.replace(/^no /, 'has no ')}`);
  for (const c of composedImagesOf(resource)) {
    for (const f of c.nameFields) {
      const n = doc.getIn(f, true) as Node | undefined;
      const v = scalarText(n);
      if (n && v && !v.includes('/')) names.add(n);
    }
    const node = doc.getIn(c.field, true) as Node | undefined;
    const where = formatPath(c.field);
    const line = node?.range ? lineOf(node.range[0]) : 0;
    const placed = mirrorPlaces(c.names.map((name) => ({ image: composeImage(c, name), suffix: `${c.path}${c.namePrefix}${name}` })), ctx, `the operator appends to ${where}`);
    if (placed.onMirror) continue;
    const { bases, host } = placed;
    const missing = placed.missing.map((m) => `${m.image} (${m.reason})`);
    if (placed.blocked.length) {
      const blocked = placed.blocked[placed.blocked.length - 1];
      unmapped.push({ line, kind: 'image', ref: blocked.image, reason: blocked.reason, where });
      continue;
    }
    if (bases.size > 1) {
      unmapped.push({ line, kind: 'image', ref: c.prefix, reason: `the images it composes sit under different mirror prefixes (${[...bases].join(', ')}); one ${where} cannot name them all`, where });
      continue;
    }
    if (c.tag !== undefined && missing.length) {
      // istioctl pulls every one of them at this tag: moving the hub would break the missing ones.
      for (const m of missing) unmapped.push({ line, kind: 'image', ref: m.split(' (')[0], reason: `${c.rule}: ${m.slice(m.indexOf('(') + 1, -1)}`, where });
      continue;
    }
    if (!bases.size) {
      unmapped.push({ line, kind: 'image', ref: c.prefix, reason: `${c.rule}, and the lock carries none of them (${c.names.map((n) => composeImage(c, n)).join(', ')})`, where });
      continue;
    }
    const base = [...bases][0];
    const head = trimTrailing(`${host}/${base}`, '/');
    const value = c.prefix.endsWith('/') ? `${head}/` : head;
    if (missing.length) warnings.push(`${where}: ${c.rule}; the lock does not carry ${missing.map((m) => m.split(' (')[0]).join(', ')}: list the ones this installation runs (at the operator's version) in the manifest`);
    if (isScalar(node) && value !== c.prefix) changes.push({ path: c.field, node, line, old: c.prefix, new: value, kind: 'registry', image: c.names.map((n) => composeImage(c, n)).join(', ') });
  }
  return { changes, unmapped, warnings, names };
}
