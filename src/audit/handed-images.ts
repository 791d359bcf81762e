/**
 * Images an operator is handed outside an `image:` field, and pulls itself when it creates pods:
 * a variable or flag named for images holding several as `name=ref` entries (Strimzi's
 * `STRIMZI_KAFKA_IMAGES: "4.2.0=quay.io/strimzi/kafka:…\n4.3.0=…"`), and flat dotted config keys
 * that split one image into a repository and a tag (trivy-operator's ConfigMap
 * `trivy.repository` + `trivy.tag`), or name a repository whose tag the program picks
 * (`trivy.dbRepository`). Decided by the shape (a name ending in IMAGES, a `<p>.repository` key
 * beside `<p>.tag`), never by product. Shared by `audit` (scan.ts) and `rewrite manifests`.
 */
import { isMap, isPair, isScalar, isSeq, type Scalar } from 'yaml';
import { embeddedDocuments } from './embedded.js';
import { parseImageReference } from '../oci/reference.js';
import { isImageKey } from '../kinds/image/image-key.js';

/** A name that says it holds several images (`STRIMZI_KAFKA_IMAGES`, `--related-images`, `extraImages`). */
export function namesImageList(name: string): boolean {
  return /images$/i.test(name.trim());
}

/** One reference of an image list: where it is in the value (offset, 0-based line) and what it is. */
export interface ListedImage {
  ref: string;
  /** The entry's name before `=` (`4.2.0`), when written. */
  entry?: string;
  offset: number;
  line: number;
}

/** At most this many entries are read from one value (the rest is named: more than the bound). */
export const MAX_LISTED_IMAGES = 256;

/** Longest value read as a list (a hostile manifest's megabyte string is not split). */
const MAX_LIST_VALUE = 64 * 1024;

/**
 * The references of a value that lists images: entries separated by line breaks, commas,
 * semicolons or blanks, each `ref` or `name=ref`. Every entry must be an image reference with a
 * tag or digest, or a host-qualified one (`quay.io/x/y`), else the value is no list (undefined):
 * nothing is guessed from a value half of which is something else. `over`: entries past the bound.
 */
export function listedImages(value: string): { images: ListedImage[]; over: boolean } | undefined {
  if (value.length > MAX_LIST_VALUE || !/[\s,;=]/.test(value.trim())) return undefined;
  const images: ListedImage[] = [];
  let line = 0;
  let over = false;
  const re = /[^\s,;]+|\n/g;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    if (m[0] === '\n') {
      line++;
      continue;
    }
    const eq = m[0].indexOf('=');
    const ref = eq >= 0 ? m[0].slice(eq + 1) : m[0];
    if (!listedReference(ref)) return undefined;
    if (images.length >= MAX_LISTED_IMAGES) {
      over = true;
      continue;
    }
    images.push({ ref, ...(eq > 0 ? { entry: m[0].slice(0, eq) } : {}), offset: m.index + (eq >= 0 ? eq + 1 : 0), line });
  }
  return images.length ? { images, over } : undefined;
}

function listedReference(ref: string): boolean {
  if (!ref || ref.includes('://') || /[{}$]/.test(ref)) return false;
  try {
    const parsed = parseImageReference(ref);
    const first = ref.split('/')[0];
    const hosted = ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
    return parsed.tag !== undefined || parsed.digest !== undefined || hosted;
  } catch {
    return false;
  }
}

/** One image a map of flat dotted keys composes: the keys it is made of and what it is. */
export interface FlatImage {
  /** The key holding the repository (`trivy.repository`). */
  repositoryKey: string;
  /** The other keys read for it (`trivy.tag`, `trivy.registry`, `trivy.digest`). */
  partKeys: string[];
  ref: string;
  /** No tag or digest beside the repository: the program reading the map picks it. */
  untagged: boolean;
}

/**
 * The images a map of flat dotted keys names (a ConfigMap's `data`): `<p>.repository` with
 * `<p>.tag`, `<p>.digest` and `<p>.registry` beside it is one image; `<p>.repository` or
 * `<p>.<x>Repository` alone is a repository whose tag the program picks, counted only when its
 * value starts with a registry host (`mirror.gcr.io/aquasec/trivy-db`) and is no URL or git
 * address. `get` reads a key's string value.
 */
export function flatImages(keys: readonly string[], get: (key: string) => string | undefined): FlatImage[] {
  const out: FlatImage[] = [];
  const present = new Set(keys);
  for (const key of keys) {
    const m = /^(.+)\.(?:([a-z][A-Za-z0-9]*)Repository|repository)$/.exec(key);
    if (!m) continue;
    const repository = get(key)?.trim();
    if (!repository || /[\s{}$]/.test(repository) || repository.includes('://') || repository.endsWith('.git')) continue;
    const prefix = m[2] ? `${m[1]}.${m[2]}` : m[1];
    const part = (name: string) => {
      const k = m[2] ? `${prefix}${name[0].toUpperCase()}${name.slice(1)}` : `${prefix}.${name}`;
      return present.has(k) ? k : undefined;
    };
    const [registryKey, tagKey, digestKey] = ['registry', 'tag', 'digest'].map(part);
    const registry = registryKey ? get(registryKey)?.trim() : undefined;
    const tag = tagKey ? get(tagKey)?.trim() : undefined;
    const digest = digestKey ? get(digestKey)?.trim() : undefined;
    const untagged = !tag && !digest;
    const ref = `${registry ? `${registry}/` : ''}${repository}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
    try {
      const parsed = parseImageReference(ref);
      // A repository alone counts only with a registry host written: `bitnami/nginx` under some
      // `*.repository` key says too little to be called an image.
      if (untagged && !registry && !/^[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d+)?\//i.test(repository)) continue;
      if (!parsed.repository) continue;
    } catch {
      continue;
    }
    out.push({ repositoryKey: key, partKeys: [registryKey, tagKey, digestKey].filter((k): k is string => !!k && !!get(k)?.trim()), ref, untagged });
  }
  return out;
}

/**
 * One image a tree of values composes from a bare name and the hub and tag around it: istiod's
 * injector values `{global: {hub: docker.io/istio, tag: 1.27.1, proxy: {image: proxyv2}}}` mean
 * `docker.io/istio/proxyv2:1.27.1` (pkg/kube/inject composes `<hub>/<image>:<tag>`), as Helm
 * charts write `{{ .Values.hub | default .Values.global.hub }}/{{ .Values.image }}:{{ … tag }}`.
 * The same shape as a flat `<p>.repository` + `<p>.tag`, but nested: the hub and the tag are the
 * nearest non-empty `hub`/`registry` and `tag` of the name's map or a map above it, then of the
 * root's `global`. `ref` when every part is known; otherwise `unknown` says which is missing.
 */
export interface JoinedImage<N> {
  /** The scalar holding the bare name (`proxyv2`), and its key path from the root (`global.proxy.image`). */
  nameNode: N;
  namePath: string[];
  name: string;
  /** The scalar of the hub the name is joined to (undefined: every hub key around it is empty; `hubPath` is then the nearest). */
  hubNode?: N;
  hubPath?: string[];
  hub?: string;
  tagPath?: string[];
  ref?: string;
  unknown?: string;
}

/** A map's view for joinedImages: its scalar string (or number) values and its child maps, by key. */
export interface JoinTree<N> {
  /** A scalar child's text (a number as written) and node, or undefined. */
  scalar(map: unknown, key: string): { text: string; node: N } | undefined;
  /** The child maps (and maps inside lists) with their keys (a list item's key is `[i]`). */
  children(map: unknown): Array<[string, unknown]>;
  isMap(node: unknown): boolean;
}

/** Where a tree of values sits: its key path (a Kubernetes object's `spec.values`), and a map around it whose hub and tag come before the values' global (IstioOperator's `spec`). */
export interface JoinScope {
  rootPath?: string[];
  outer?: { map: unknown; path: string[] };
}

/** At most this many joined images are read from one tree, this deep (hostile input is bounded; a real one has a handful). */
export const MAX_JOINED_IMAGES = 256;
const MAX_JOIN_DEPTH = 64;
/** At most this many maps are visited in one tree. */
const MAX_JOIN_MAPS = 100_000;

/** A bare image name: no registry, no path, no tag (`proxyv2`, `install-cni`); a `/` or `:` makes it an image of its own. */
const BARE_NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HUB_KEYS = ['hub', 'registry'];

/**
 * The bare names under an `image` key (or `<x>Image`) of `root` joined to the hub and tag around
 * them (JoinedImage). A name with no `hub`/`registry` key anywhere above it is no such image (a
 * custom resource's `image: nginx` is Docker Hub's, read elsewhere). `over`: images past the bound,
 * `beyond`: the bare names past it (not joined, no images of their own either).
 */
export function joinedImages<N>(root: unknown, tree: JoinTree<N>, opts: JoinScope = {}): { images: JoinedImage<N>[]; over: boolean; beyond: N[]; stopped?: JoinStop } {
  const images: JoinedImage<N>[] = [];
  const beyond: N[] = [];
  let over = false;
  let maps = 0;
  let stopped: JoinStop | undefined;
  const pick = (chain: unknown[], keys: string[]) => {
    let present: { map: unknown; key: string } | undefined;
    for (const m of [...chain].reverse()) {
      for (const k of keys) {
        const s = tree.scalar(m, k);
        if (s === undefined) continue;
        present ??= { map: m, key: k };
        if (s.text.trim()) return { ...s, text: s.text.trim(), key: k, map: m, present };
      }
    }
    return { present };
  };
  const pathOf = new Map<unknown, string[]>(opts.outer ? [[opts.outer.map, opts.outer.path]] : []);
  const visit = (map: unknown, chain: unknown[], at: string[], outerGlobal: unknown) => {
    if (++maps > MAX_JOIN_MAPS) return void (stopped ??= { map, path: at, why: `more than ${MAX_JOIN_MAPS} maps in this tree: the names from ${clipPath(at)} on are not joined to a hub (an image they name this way is unknown here)` });
    if (chain.length > MAX_JOIN_DEPTH) return void (stopped ??= { map, path: at, why: `${clipPath(at)} is nested more than ${MAX_JOIN_DEPTH} maps deep: the names below it are not joined to a hub (an image they name this way is unknown here)` });
    pathOf.set(map, at);
    const here = [...chain, map];
    // The `global` of the nearest map holding one: the top's, or one below it that a chart lifts to
    // the top (Istio's charts keep their defaults, `global` too, under `_internal_defaults_do_not_set`).
    const own = tree.children(map).find(([k]) => k === 'global')?.[1];
    const global = own !== undefined && tree.isMap(own) ? own : outerGlobal;
    if (global === own && own !== undefined && !pathOf.has(own)) pathOf.set(own, [...at, 'global']);
    // `image: {registry, image: proxyv2, tag}` is an image map, read by the image-map rules (scan.ts, rewrite/values-images.ts readImageMap).
    const imageMap = at.length > 0 && isImageKey(at[at.length - 1].replace(/\[\d+\]$/, '')) && tree.scalar(map, 'registry') !== undefined;
    const name = imageMap ? undefined : tree.scalar(map, 'image');
    if (name && BARE_NAME.test(name.text.trim()) && images.length >= MAX_JOINED_IMAGES) {
      over = true;
      beyond.push(name.node);
    }
    else if (name && BARE_NAME.test(name.text.trim())) {
      // Nearest last: the name's maps, then an outer scope (IstioOperator's spec.hub over values.global), then global.
      const outer = opts.outer ? [opts.outer.map] : [];
      const scope = global !== undefined && !here.includes(global) ? [global, ...outer, ...here] : [...outer, ...here];
      const hub = pick(scope, HUB_KEYS);
      if (hub.present) {
        {
          const tag = pick(scope, ['tag']);
          const namePath = [...at, 'image'];
          const img: JoinedImage<N> = { nameNode: name.node, namePath, name: name.text.trim() };
          if ('node' in hub) Object.assign(img, { hubNode: hub.node, hubPath: [...(pathOf.get(hub.map) ?? []), hub.key], hub: hub.text.replace(/\/+$/, '') });
          if ('node' in tag) img.tagPath = [...(pathOf.get(tag.map) ?? []), 'tag'];
          const variant = 'node' in tag ? tree.scalar(tag.map, 'variant')?.text.trim() : undefined;
          if (!('node' in hub)) {
            img.hubPath = [...(pathOf.get(hub.present!.map) ?? []), hub.present!.key];
            img.unknown = `${namePath.join('.')} ${img.name} is a name joined to ${img.hubPath.join('.')}, which is empty (as is every hub or registry key around it): the registry it is pulled from is unknown here`;
          }
          else if (!('node' in tag)) img.unknown = `${namePath.join('.')} ${img.name} is joined to ${img.hubPath!.join('.')} ${img.hub} with no tag around it: the program picks the tag, unknown here`;
          else if (variant && variant !== 'default') img.unknown = `${namePath.join('.')} ${img.name} is joined to ${img.hubPath!.join('.')} and ${img.tagPath!.join('.')} ${tag.text}, with variant ${variant} beside the tag: how the program adds it to the tag is unknown here`;
          else {
            const ref = `${img.hub}/${img.name}:${tag.text}`;
            try {
              parseImageReference(ref);
              img.ref = ref;
            } catch {
              img.unknown = `${namePath.join('.')} ${img.name} joined to ${img.hubPath!.join('.')} and ${img.tagPath!.join('.')} makes ${JSON.stringify(ref.slice(0, 200))}, no image reference`;
            }
          }
          images.push(img);
        }
      }
    }
    for (const [k, child] of tree.children(map)) if (tree.isMap(child)) visit(child, here, [...at, k], global);
  };
  if (tree.isMap(root)) visit(root, [], opts.rootPath ?? [], undefined);
  return { images, over, beyond, ...(stopped ? { stopped } : {}) };
}

/** A key path in a note: at most 200 characters, its end kept. */
const clipPath = (at: readonly string[]): string => {
  const p = at.join('.') || '(top level)';
  return p.length > 200 ? `…${p.slice(-200)}` : p;
};

/** Where joinedImages stopped (the first map past a bound) and why, in words. */
export interface JoinStop {
  map: unknown;
  path: string[];
  why: string;
}

/** joinedImages over a parsed YAML (or JSON) document's nodes: a number keeps its written text (`tag: 1.20`). */
const KEYED = new WeakMap<object, Map<unknown, unknown>>();

/** A map's values by key, made once (a hostile map of many keys is not searched again for each name below it). */
function keyed(map: { items: Array<{ key: unknown; value?: unknown }> }): Map<unknown, unknown> {
  let got = KEYED.get(map);
  if (!got) {
    got = new Map();
    for (const p of map.items) if (isScalar(p.key) && !got.has(p.key.value)) got.set(p.key.value, p.value);
    KEYED.set(map, got);
  }
  return got;
}

export const YAML_JOIN_TREE: JoinTree<Scalar> = {
  isMap: (n) => isMap(n),
  scalar(map, key) {
    if (!isMap(map)) return undefined;
    const v = keyed(map).get(key);
    if (!isScalar(v)) return undefined;
    if (typeof v.value === 'string') return { text: v.value, node: v };
    if (typeof v.value === 'number') return { text: typeof v.source === 'string' ? v.source : String(v.value), node: v };
    return undefined;
  },
  children(map) {
    if (!isMap(map)) return [];
    const out: Array<[string, unknown]> = [];
    for (const p of map.items) {
      if (!isPair(p) || !isScalar(p.key)) continue;
      const k = String(p.key.value);
      if (isMap(p.value)) out.push([k, p.value]);
      else if (isSeq(p.value)) p.value.items.forEach((item, i) => isMap(item) && out.push([`${k}[${i}]`, item]));
    }
    return out;
  },
};

/** A joined image of a string's document, as audit reports it: the value, the line of the name in the string (0-based), and what is unknown. */
export interface JoinedInText {
  /** `hub/name:tag`; `hub/name` when the tag is unknown; `{{ <hub key> }}/name:tag` when the hub is. */
  value: string;
  line: number;
  namePath: string;
  /** Key paths (dotted) of the hubs read: their hosts are this image's, no destinations of their own. */
  hubPath?: string;
  /** The hub's host (`docker.io`) and its line in the string (0-based). */
  hubHost?: string;
  hubLine?: number;
  unknown?: string;
}

/**
 * The joined images of a document written in a string (a ConfigMap's `values: |-` JSON), bounded
 * as embedded documents are (a string denser than ferry parses gives none).
 */
export function joinedImagesIn(text: string): { images: JoinedInText[]; over: boolean } {
  const none = { images: [], over: false };
  const parsed = /image/i.test(text) && /hub|registry/i.test(text) ? embeddedDocuments(text) : undefined;
  if (!parsed) return none;
  const { list, lc } = parsed;
  const images: JoinedInText[] = [];
  let over = false;
  for (const d of list) {
    const found = joinedImages(d.contents, YAML_JOIN_TREE);
    over ||= found.over;
    for (const j of found.images) {
      const tagged = j.unknown === undefined && j.ref !== undefined;
      const value = tagged ? j.ref! : j.hub ? `${j.hub}/${j.name}` : `{{ ${j.hubPath!.join('.')} }}/${j.name}`;
      images.push({ value, line: j.nameNode.range ? lc.linePos(j.nameNode.range[0]).line - 1 : 0, namePath: j.namePath.join('.'), ...(j.hub ? { hubPath: j.hubPath!.join('.'), hubHost: j.hub!.split('/')[0], hubLine: j.hubNode?.range ? lc.linePos(j.hubNode.range[0]).line - 1 : 0 } : {}), ...(j.unknown ? { unknown: j.unknown } : {}) });
    }
  }
  return { images, over };
}
