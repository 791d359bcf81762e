/**
 * Images an operator is handed outside an `image:` field, and pulls itself when it creates pods:
 * a variable or flag named for images holding several as `name=ref` entries (Strimzi's
 * `STRIMZI_KAFKA_IMAGES: "4.2.0=quay.io/strimzi/kafka:…\n4.3.0=…"`), and flat dotted config keys
 * that split one image into a repository and a tag (trivy-operator's ConfigMap
 * `trivy.repository` + `trivy.tag`), or name a repository whose tag the program picks
 * (`trivy.dbRepository`). Decided by the shape (a name ending in IMAGES, a `<p>.repository` key
 * beside `<p>.tag`), never by product. Shared by `audit` (scan.ts) and `rewrite manifests`.
 */
import { parseImageReference } from '../oci/reference.js';

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
