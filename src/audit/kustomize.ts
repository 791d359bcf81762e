import path from 'node:path';
import { isAlias, isMap, isScalar, isSeq, visit, type Document, type Node as YamlNode, type YAMLMap } from 'yaml';
import { parseHostileDocuments } from '../manifest/yaml-input.js';
import { withoutStackTraces } from '../errors.js';
import { scalarText } from '../manifest/input-file.js';
import { referenceName } from '../oci/reference.js';
import { isWithin } from '../store/safe-path.js';

/**
 * kustomize's `images:` overrides, as `kustomize build` (and `kubectl kustomize`, Argo CD) apply
 * them: a container image whose name (the reference without tag and digest, compared as written)
 * equals an entry's `name` is pulled as `newName` (else that name) with `digest`, else `newTag`,
 * else the tag or digest it had. Audit and `rewrite manifests` both read what a resource runs
 * through these rules, so a base's `nginx:1.24` that an overlay pins to `1.25` counts as 1.25.
 * Each kustomization of the chain applies its own: a base's first (to its resources), then the
 * overlay's (to what the base produced), as `kubectl kustomize` 5.5 does.
 */
export interface ImageOverride {
  /** Position in the kustomization's `images:` list. */
  index: number;
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

/** The container lists kustomize's image transformer visits (at any depth): not `ephemeralContainers`. */
export const KUSTOMIZE_CONTAINER_LISTS: ReadonlySet<string> = new Set(['containers', 'initContainers']);

/** kustomize reads `kustomization.yaml`, `kustomization.yml` or `Kustomization`; apiVersion and kind are optional there. */
export function isKustomizationFile(file: string): boolean {
  return /^(?:kustomization\.ya?ml|Kustomization)$/.test(path.basename(file));
}

/** Whether a document is a kustomization: `kind: Kustomization`, or a map in a kustomization file without a kind (or a `Component`). `kind` null: not a map. */
export function isKustomization(file: string, kind: string | null | undefined): boolean {
  return kind === 'Kustomization' || (isKustomizationFile(file) && (kind === undefined || kind === 'Component'));
}

/**
 * A Flux `Kustomization` (`kustomize.toolkit.fluxcd.io/*`): kustomize-controller builds `spec.path`
 * of its source and applies `spec.images` (the same `name`/`newName`/`newTag`/`digest` entries as
 * kustomize's `images:`) to what it built. Not a kustomization file: its overrides are under `spec`.
 */
export function isFluxKustomization(contents: unknown): boolean {
  if (!isMap(contents)) return false;
  const apiVersion = scalarText(contents.get('apiVersion', true));
  return scalarText(contents.get('kind', true)) === 'Kustomization' && !!apiVersion && /^kustomize\.toolkit\.fluxcd\.io\//.test(apiVersion);
}

/**
 * The directory a Flux Kustomization applies. kustomize-controller builds `spec.path` of its
 * source (the source's root when not written); the source's root is taken to be the directory
 * holding the `clusters/` directory the Kustomization is in (the flux2-kustomize-helm-example and
 * flux2-multi-tenancy layouts: `clusters/<name>/…`). Outside such a layout the root is unknown and
 * the Kustomization is taken to apply to every file (undefined). A path leading out of the root
 * applies to none (`null`).
 */
export function fluxScope(file: string, specPath: string | undefined): string | null | undefined {
  const parts = path.resolve(file).split(path.sep);
  const at = parts.lastIndexOf('clusters', parts.length - 2);
  if (at < 1) return undefined;
  const root = parts.slice(0, at).join(path.sep) || path.sep;
  const dir = path.resolve(root, (specPath ?? '.').replace(/^\/+/, ''));
  return isWithin(dir, root) ? dir : null;
}

/** The `images:` list of a kustomization: top-level in kustomize's, `spec.images` in a Flux one; with the key path it is reported at. */
export function kustomizationImages(contents: unknown): { node: unknown; keyPath: string } {
  if (!isMap(contents)) return { node: undefined, keyPath: 'images' };
  if (isFluxKustomization(contents)) {
    const spec = contents.get('spec', true);
    return { node: isMap(spec) ? spec.get('images', true) : undefined, keyPath: 'spec.images' };
  }
  return { node: contents.get('images', true), keyPath: 'images' };
}

/** At most this many merge sources are followed for one map (`<<: [*a, *b]`, nested): a crafted chain is cut there. */
const MAX_MERGE_SOURCES = 64;

/**
 * The value node of `key` in a map, YAML merge keys (`<<: *base`, `<<: [*a, *b]`) expanded as
 * kustomize reads them: the map's own key wins, then each merged map in order. `doc` resolves aliases.
 */
export function mergedField(map: unknown, key: string, doc?: Document): unknown {
  let budget = MAX_MERGE_SOURCES;
  const seen = new Set<unknown>();
  const look = (m: unknown): unknown => {
    if (!isMap(m) || seen.has(m) || budget-- <= 0) return undefined;
    seen.add(m);
    const own = (m as YAMLMap).items.find((p) => isScalar(p.key) && p.key.value === key);
    if (own) return own.value;
    for (const p of (m as YAMLMap).items) {
      if (!isScalar(p.key) || p.key.value !== '<<') continue;
      const sources = isSeq(p.value) ? p.value.items : [p.value];
      for (const s of sources) {
        const v = look(resolveAlias(s, doc));
        if (v !== undefined) return v;
      }
    }
    return undefined;
  };
  return look(map);
}

/** Each document's aliases → the anchored node each names (the last one before it, as YAML says). */
const aliasTargets = new WeakMap<Document, Map<unknown, YamlNode>>();

/**
 * The node an alias names (any other node as it is). Found in one pass over the document, kept
 * for it: yaml's `Alias.resolve` walks the whole document on every call, and a kustomization of
 * 40 000 `<<: *base` entries (1 MB) took that walk 360 000 times (the audit never ended).
 */
export function resolveAlias(n: unknown, doc?: Document): unknown {
  if (!isAlias(n)) return n;
  if (!doc) return undefined;
  let targets = aliasTargets.get(doc);
  if (!targets) {
    const found = new Map<unknown, YamlNode>();
    const last = new Map<string, YamlNode>();
    visit(doc, {
      Node: (_key, node) => {
        if (isAlias(node)) {
          const t = last.get(node.source);
          if (t) found.set(node, t);
        } else if ((isScalar(node) || isMap(node) || isSeq(node)) && node.anchor) last.set(node.anchor, node);
      },
    });
    aliasTargets.set(doc, (targets = found));
  }
  return targets.get(n);
}

/** The `images:` entries of a kustomization (its document's contents node) that name an image to match. `doc`: expands merge keys. */
export function imageOverrides(contents: unknown, doc?: Document): ImageOverride[] {
  const images = isMap(contents) ? contents.get('images', true) : undefined;
  if (!isSeq(images)) return [];
  const out: ImageOverride[] = [];
  images.items.forEach((raw, index) => {
    const item = resolveAlias(raw, doc);
    if (!isMap(item)) return;
    // As written (`newTag: 1.10` is "1.10", not 1.1); empty is none.
    const field = (k: string) => scalarText(resolveAlias(mergedField(item, k, doc), doc)) || undefined;
    const name = field('name');
    if (!name) return;
    out.push({ index, name, newName: field('newName'), newTag: field('newTag'), digest: field('digest') });
  });
  return out;
}

/** The image kustomize writes for `image` under override `o`. */
export function overriddenImage(image: string, o: ImageOverride): string {
  const name = referenceName(image);
  const to = o.newName ?? name;
  if (o.digest) return `${to}@${o.digest}`;
  if (o.newTag) return `${to}:${o.newTag}`;
  return to + image.slice(name.length);
}

/**
 * A `resources:`/`components:` (or the old `bases:`) entry kustomize fetches at build time: a git
 * repository (`https://github.com/org/repo//path?ref=v1`, `github.com/org/repo/path?ref=…`,
 * `git@host:org/repo`, `ssh://…`, `git::…`) or a URL (`https://example.com/x.yaml`). The host it
 * is fetched from; undefined for a local path.
 */
export function remoteResourceHost(entry: string): string | undefined {
  const v = entry.trim().replace(/^git::/i, '');
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]+\]|[^:/?#]+)/i.exec(v);
  if (scheme) return scheme[1].toLowerCase();
  const scp = /^[A-Za-z0-9._-]+@([A-Za-z0-9.-]+):/.exec(v);
  if (scp) return scp[1].toLowerCase();
  // `github.com/org/repo`: a first segment that is a host name (dotted, ending in letters), then a path.
  const bare = /^([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})(?::\d+)?\//i.exec(v);
  return bare ? bare[1].toLowerCase() : undefined;
}

/** One `resources:`/`components:`/`bases:` entry of a kustomization, as written. */
export interface KustomizationEntry {
  value: string;
  node: YamlNode;
  /** `resources[2]`. */
  keyPath: string;
  /** The host a remote entry is fetched from; undefined for a local path. */
  remoteHost?: string;
}

export const KUSTOMIZATION_RESOURCE_LISTS = ['resources', 'components', 'bases'] as const;

/** The resources, components and bases a kustomization (its document's contents node) names. */
export function kustomizationEntries(contents: unknown, doc?: Document): KustomizationEntry[] {
  const out: KustomizationEntry[] = [];
  if (!isMap(contents)) return out;
  for (const list of KUSTOMIZATION_RESOURCE_LISTS) {
    const seq = contents.get(list, true);
    if (!isSeq(seq)) continue;
    seq.items.forEach((raw, i) => {
      const node = resolveAlias(raw, doc);
      const value = scalarText(node);
      if (!value || !isScalar(node)) return;
      out.push({ value, node: node as YamlNode, keyPath: `${list}[${i}]`, remoteHost: remoteResourceHost(value) });
    });
  }
  return out;
}

/** A kustomize override that changed (or matched) an image on its way: the kustomization file and the entry. */
export interface AppliedOverride {
  file: string;
  override: ImageOverride;
  /** Where the list is in that file: `images` (kustomize's), `spec.images` (a Flux Kustomization's). */
  list?: 'spec.images';
}

/** One way an image is pulled: through one chain of kustomizations (base first), the overrides that matched it. */
export interface PulledImage {
  image: string;
  by: AppliedOverride[];
}

/**
 * Chains longer than this (bases of bases …) are cut; at most this many ways an image is pulled
 * are kept, and at most this many kustomizations are visited for one image (overlays that include
 * each other's bases in a lattice have exponentially many chains).
 */
const MAX_CHAIN = 32;
const MAX_OUTCOMES = 64;
const MAX_VISITS = 4096;

interface Scope {
  file: string;
  dir: string;
  overrides: ImageOverride[];
}

/** A Flux Kustomization's `spec.images`: applied last, to what its `spec.path` builds (`scope`; undefined: root unknown, '\0': none). */
interface FluxLayer {
  file: string;
  scope?: string;
  overrides: ImageOverride[];
}

/**
 * The kustomizations of a scanned tree. A kustomization covers the files under its directory (its
 * resources, usually listed beside it); it is included by the kustomizations that list its
 * directory in `resources:`/`components:`/`bases:` (overlays: `../../base`), and by the nearest one
 * in a directory above it. An image is pulled as the chain says: the covering kustomization's
 * override first, then each including one's, up to the top (cycle-safe, bounded); every overlay
 * that includes a base is one way its images are pulled. Only kustomizations of the scan are read:
 * a base outside the scanned directories is not followed (nor read).
 */
export class KustomizeScopes {
  private readonly byDir = new Map<string, Scope>();
  /** Directory (resolved) → the directories of the kustomizations that list it. */
  private readonly includedBy = new Map<string, Set<string>>();
  private readonly flux: FluxLayer[] = [];

  /**
   * A Flux Kustomization's `spec.images` (kustomize-controller applies them over what `spec.path`
   * builds, after that path's own kustomizations): `specPath` as written.
   */
  addFlux(file: string, specPath: string | undefined, overrides: ImageOverride[]): void {
    if (!overrides.length) return;
    const scope = fluxScope(file, specPath);
    this.flux.push({ file, scope: scope === null ? '\0' : scope, overrides });
  }

  add(file: string, overrides: ImageOverride[], locals: readonly string[] = []): void {
    const dir = path.dirname(path.resolve(file));
    this.byDir.set(dir, { file, dir, overrides });
    for (const l of locals) {
      const to = path.resolve(dir, l);
      if (to === dir) continue;
      let set = this.includedBy.get(to);
      if (!set) this.includedBy.set(to, (set = new Set()));
      set.add(dir);
    }
  }

  get size(): number {
    let n = 0;
    for (const s of this.byDir.values()) if (s.overrides.length) n++;
    return n + this.flux.length;
  }

  /** The kustomization covering a directory: the one in it or the nearest above. */
  private covering(dir: string, strictlyAbove = false): Scope | undefined {
    let d = strictlyAbove ? path.dirname(dir) : dir;
    for (;;) {
      if (strictlyAbove && d === dir) return undefined;
      const s = this.byDir.get(d);
      if (s) return s;
      const up = path.dirname(d);
      if (up === d) return undefined;
      d = up;
    }
  }

  private parents(s: Scope): Scope[] {
    const out = new Map<string, Scope>();
    for (const d of [...(this.includedBy.get(s.dir) ?? [])].sort()) {
      const p = this.byDir.get(d);
      if (p) out.set(p.dir, p);
    }
    const above = this.covering(s.dir, true);
    if (above) out.set(above.dir, above);
    return [...out.values()];
  }

  /**
   * The directories of the kustomizations that build `file` (the one covering it, then each one
   * including that, up the chain; bounded): a Flux Kustomization whose `spec.path` holds one of
   * them applies the file (an overlay's `resources: [../../base]` brings in a base outside it).
   */
  builtFrom(file: string): string[] {
    const start = this.covering(path.dirname(path.resolve(file)));
    if (!start) return [];
    const seen = new Set<string>([start.dir]);
    const queue = [start];
    while (queue.length && seen.size < MAX_VISITS) for (const p of this.parents(queue.shift()!)) if (!seen.has(p.dir)) seen.add(p.dir), queue.push(p);
    return [...seen];
  }

  /** Every way `image` in `file` is pulled (distinct images, in a stable order); the image as written with no override when none applies. */
  pulls(file: string, image: string): PulledImage[] {
    const ways = this.kustomizePulls(file, image);
    return this.flux.length ? this.throughFlux(file, ways) : ways;
  }

  /**
   * The ways as the Flux Kustomizations applying the file change them (their `spec.path` holds it or
   * a kustomization that builds it): each one's `spec.images` over each way; a Flux Kustomization
   * whose repository root is unknown may or may not apply, so the way is kept as it was too.
   */
  private throughFlux(file: string, ways: PulledImage[]): PulledImage[] {
    const abs = path.resolve(file);
    let built: string[] | undefined;
    const applies = (l: FluxLayer) => l.scope === undefined || isWithin(abs, l.scope) || (built ??= this.builtFrom(file)).some((d) => isWithin(d, l.scope!));
    const layers = this.flux.filter(applies);
    if (!layers.length) return ways;
    const out = new Map<string, PulledImage>();
    const put = (w: PulledImage) => void (out.size < MAX_OUTCOMES && !out.has(w.image) && out.set(w.image, w));
    for (const w of ways) {
      if (layers.some((l) => l.scope === undefined)) put(w);
      for (const l of layers) {
        const o = l.overrides.find((x) => x.name === referenceName(w.image));
        put(o ? { image: overriddenImage(w.image, o), by: [...w.by, { file: l.file, override: o, list: 'spec.images' }] } : w);
      }
    }
    return [...out.values()];
  }

  private kustomizePulls(file: string, image: string): PulledImage[] {
    const start = this.size > this.flux.length ? this.covering(path.dirname(path.resolve(file))) : undefined;
    if (!start) return [{ image, by: [] }];
    const out = new Map<string, PulledImage>();
    const onPath = new Set<string>();
    let visits = 0;
    const visit = (s: Scope, img: string, by: AppliedOverride[], depth: number) => {
      if (out.size >= MAX_OUTCOMES || visits++ >= MAX_VISITS) return;
      const name = referenceName(img);
      const o = s.overrides.find((x) => x.name === name);
      const next = o ? overriddenImage(img, o) : img;
      const nextBy = o ? [...by, { file: s.file, override: o }] : by;
      onPath.add(s.dir);
      const ups = depth < MAX_CHAIN ? this.parents(s).filter((p) => !onPath.has(p.dir)) : [];
      if (!ups.length) {
        if (!out.has(next)) out.set(next, { image: next, by: nextBy });
      } else for (const p of ups) visit(p, next, nextBy, depth + 1);
      onPath.delete(s.dir);
    };
    visit(start, image, [], 0);
    return [...out.values()];
  }
}

/** The kustomizations among scanned files (their kept texts), read into one KustomizeScopes: each one's `images:` and local entries. */
export function kustomizeScopesOf(files: ReadonlyArray<{ file: string; type: string; text?: string }>): KustomizeScopes {
  const scopes = new KustomizeScopes();
  for (const f of files) {
    if (f.type !== 'yaml' || f.text === undefined) continue;
    if (!isKustomizationFile(f.file)) {
      if (f.text.includes(FLUX_KUSTOMIZE_API)) for (const doc of withoutStackTraces(() => parseHostileDocuments(f.text!, { duplicates: 'last-wins' }))) if (!doc.errors.length) addFluxImages(scopes, f.file, doc);
      continue;
    }
    const first = withoutStackTraces(() => parseHostileDocuments(f.text!, { duplicates: 'last-wins' }));
    const doc = Array.isArray(first) ? first[0] : first;
    if (!doc || doc.errors.length) continue;
    const locals = kustomizationEntries(doc.contents, doc).filter((e) => !e.remoteHost).map((e) => e.value);
    scopes.add(f.file, imageOverrides(doc.contents, doc), locals);
  }
  return scopes;
}

/** The API group of Flux's Kustomization: a file not holding it has none. */
export const FLUX_KUSTOMIZE_API = 'kustomize.toolkit.fluxcd.io';

/** A document's Flux Kustomization `spec.images`, if it is one, added to the scopes. */
export function addFluxImages(scopes: KustomizeScopes, file: string, doc: Document): void {
  if (!isFluxKustomization(doc.contents)) return;
  const spec = (doc.contents as YAMLMap).get('spec', true);
  if (!isMap(spec)) return;
  scopes.addFlux(file, scalarText(spec.get('path', true)) ?? undefined, imageOverrides(spec, doc));
}

/** `kustomization.yaml images[0]`, then the next override, as findings name the chain. */
export function overridesText(by: readonly AppliedOverride[], base: (file: string) => string = (f) => f): string {
  return by.map((b) => `${base(b.file)} ${b.list ?? 'images'}[${b.override.index}]`).join(', then ');
}
