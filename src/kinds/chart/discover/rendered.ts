import { isMap as isYamlMap, isSeq, type Node } from 'yaml';
import { parseHostileDocument } from '../../../manifest/yaml-input.js';
import { formatImageReference, parseImageReference, withDefaultTag } from '../../../oci/reference.js';
import type { RenderedDocument } from '../render/index.js';
import { GO_YAML_OPTIONS } from '../render/goyaml.js';
import { joinPath, splitImageMap, type Certainty, type ImageRole } from './values.js';
import type { ValueMap } from '../values.js';
import { isImageKey } from '../../image/image-key.js';
import { trimTrailing } from '../../../ui/escape.js';
import { findInjectorImages, INJECTOR_WARNING } from './injector.js';

/**
 * Images in rendered documents, each with the resource, the field path, the template line and what
 * runs it:
 *
 * - every container of every pod template, wherever it sits (Pod, Deployment, StatefulSet,
 *   DaemonSet, ReplicaSet, Job, CronJob, any custom resource with a pod template): `containers`,
 *   `initContainers`, `ephemeralContainers` → workload (test hooks apart);
 * - any other `image` / `*Image` / `*_image` string field, and Prometheus-operator `baseImage` +
 *   `tag`/`version`/`sha` → custom resource (ConfigMap and Secret data → operator);
 * - images handed to operators in container args (`--x-image=REF`), env (`X_IMAGE=REF`) and config
 *   map data: certain when the name says image and the reference is complete (registry, tag or
 *   digest), otherwise possible.
 */
export interface RenderedFinding {
  ref: string;
  raw: string;
  doc: RenderedDocument;
  fieldPath: string;
  role: ImageRole;
  certainty: Certainty;
  reason?: string;
  line?: number;
  /**
   * Values path, in the rendering chart's own values, of the key the image starts with: an image
   * istiod's injector composes as `<global.hub>/<name>:<tag>` (see injector.ts).
   */
  prefixKey?: string;
  /** Values paths of the keys holding the bare name put behind that prefix (`global.proxy.image`). */
  nameKeys?: string[];
}

export const CONTAINER_LISTS: ReadonlySet<string> = new Set(['containers', 'initContainers', 'ephemeralContainers']);
/** host[:port]/path:tag or @digest — complete enough to name what an operator pulls. */
const STRICT_REF = /^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d+)?|localhost(?::\d+)?)\/[a-z0-9._/-]*[a-z0-9](?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const HAS_TAG = /(:[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64})$/;

export function normalizeRef(s: string): string | undefined {
  const t = s.trim();
  if (!t || /\s/.test(t) || t.includes('://') || t.startsWith('/') || t.includes('{{') || t.includes('$')) return undefined;
  if (/^[\d.]+$/.test(t)) return undefined;
  try {
    return formatImageReference(parseImageReference(t));
  } catch {
    return undefined;
  }
}

/** What the kubelet pulls for a rendered reference: an untagged one is `:latest`, so `busybox` and `busybox:latest` are one image. */
function pulledRef(s: string): string | undefined {
  const n = normalizeRef(s);
  return n === undefined ? undefined : formatImageReference(withDefaultTag(parseImageReference(n)));
}

function completeRef(s: string): boolean {
  const t = s.trim();
  const lastSeg = t.split('/').pop() ?? '';
  return t.includes('/') && (HAS_TAG.test(lastSeg) || t.includes('@sha256:'));
}

/**
 * An image handed to an operator in a flag or a variable (`--collector-image=REF`, `SIDECAR_IMAGE`):
 * certain when the name says image and the value is complete; possible with the reason otherwise;
 * undefined when the value is no image reference. Shared by discovery and `rewrite manifests`.
 */
export function handedImage(name: string, value: string): { certainty: Certainty; reason?: string } | undefined {
  const v = value.trim();
  const named = /image/i.test(name);
  // A flag or variable named for an image takes Docker Hub's short form too
  // (`--collector-image=otel/opentelemetry-collector-k8s:0.158.0`) when it has a tag or digest;
  // anything else must name its registry host to count.
  if (!STRICT_REF.test(v) && !(named && HAS_TAG.test(v) && /^[a-z0-9][a-z0-9._/-]*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/.test(v) && normalizeRef(v) !== undefined)) return undefined;
  if (named && (completeRef(v) || (!v.includes('/') && HAS_TAG.test(v)))) return { certainty: 'certain' };
  if (named) return { certainty: 'possible', reason: 'an image handed to an operator without a tag or digest' };
  // unnamed strings only with a tag or digest: `k8s.io/ingress-nginx` is a class name, not an image
  if (completeRef(v)) return { certainty: 'possible', reason: `a string that looks like an image reference (${name})` };
  return undefined;
}

/**
 * The images a container's `args`/`command` item hands over: `--flag-image=REF` (the reference
 * after the `=`), `--flag-image REF` (this item, named by the one before), or a bare item.
 */
export function handedArg(item: string, previous: unknown, listKey: string): { name: string; value: string; prefix: string } {
  const m = /^(\s*--?([\w.-]+)=)(.+)$/.exec(item);
  if (m) return { name: m[2], value: m[3], prefix: m[1] };
  if (typeof previous === 'string' && imageFlag(previous.trim())) return { name: previous, value: item, prefix: '' };
  return { name: listKey, value: item, prefix: '' };
}

/** Longest args/command item read as a shell script: longer ones are read as one word, as before. */
const MAX_SCRIPT = 256 * 1024;

/**
 * The words of an args/command item that is a shell script (`sh -c` text, a multi-line command
 * with `\` continuations): split on blanks outside quotes, one level of `'`/`"` quotes taken off,
 * a lone `\` dropped. One linear pass; undefined for an item without blanks (a single word).
 */
export function scriptWords(item: string): string[] | undefined {
  if (item.length > MAX_SCRIPT || !/\s/.test(item.trim())) return undefined;
  const words: string[] = [];
  let word = '';
  let open = false;
  let quote = '';
  for (const ch of item) {
    if (quote) {
      if (ch === quote) quote = '';
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      open = true;
    } else if (/\s/.test(ch)) {
      if (open && word !== '\\') words.push(word);
      word = '';
      open = false;
    } else {
      word += ch;
      open = true;
    }
  }
  if (open && word !== '\\') words.push(word);
  return words;
}

/**
 * The images a shell-script item hands over in flags (`-consul-dataplane-image="REF" \`,
 * `--x-image REF`): each flag word as handedArg reads a list item; bare words are not read (a
 * script's other words are commands and paths, not hand-overs).
 */
export function handedScriptArgs(item: string, listKey: string): Array<{ name: string; value: string }> {
  const words = scriptWords(item);
  if (!words) return [];
  const out: Array<{ name: string; value: string }> = [];
  words.forEach((w, i) => {
    const h = handedArg(w, i > 0 ? words[i - 1] : undefined, listKey);
    if (h.name !== listKey) out.push({ name: h.name, value: h.value });
  });
  return out;
}

/** A flag naming an image (`--sidecar-image`): what `/^--?[\w.-]*image[\w.-]*$/i` matches, without its quadratic backtracking. */
export function imageFlag(s: string): boolean {
  return s.startsWith('-') && /^[\w.-]+$/.test(s.slice(1)) && /image/i.test(s);
}

const POSITIONED = new WeakMap<RenderedDocument, Node | null>();

/** Find the template line of a field: the document text parsed with positions (once per document), walked along the path. */
function lineOf(doc: RenderedDocument, path: Array<string | number>): number | undefined {
  try {
    let node: Node | null | undefined = POSITIONED.get(doc);
    if (node === undefined) {
      node = parseHostileDocument(doc.text, GO_YAML_OPTIONS).contents as Node | null;
      POSITIONED.set(doc, node);
    }
    for (const p of path) {
      if (typeof p === 'number') node = isSeq(node) ? (node.items[p] as Node) : undefined;
      else if (isYamlMap(node)) {
        const pair = node.items.find((it) => (it.key as { value?: unknown })?.value === p || String((it.key as { value?: unknown })?.value) === p);
        node = pair?.value as Node | undefined;
      } else node = undefined;
      if (!node) return undefined;
    }
    return node?.range ? doc.lineAt(node.range[0]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A container image an admission webhook fills in, not one the kubelet pulls as written: Istio's
 * `image: auto`, which the sidecar injector replaces with the proxy image from istiod's own values
 * (global.hub, global.proxy.image, global.tag) when the pod asks for injection — the
 * `sidecar.istio.io/inject: "true"` label or annotation, or an `inject.istio.io/templates`
 * annotation (https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/#customizing-injection).
 * Without that request `auto` is an ordinary image name (docker.io/library/auto).
 */
export interface InjectedPlaceholder {
  doc: RenderedDocument;
  fieldPath: string;
  line?: number;
  /** What asks for the injection, as the pod template says it. */
  requestedBy: string;
}

/** What asks Istio to inject into a pod whose container image is `auto` (undefined: nothing; then `auto` is an image). */
export function injectionRequest(podTemplate: unknown, image: string): string | undefined {
  if (image.trim() !== 'auto' || !isMapObj(podTemplate) || !isMapObj(podTemplate.metadata)) return undefined;
  const meta = podTemplate.metadata;
  const annotations = isMapObj(meta.annotations) ? meta.annotations : {};
  const labels = isMapObj(meta.labels) ? meta.labels : {};
  const templates = annotations['inject.istio.io/templates'];
  if (typeof templates === 'string' && templates.trim()) return `inject.istio.io/templates: ${templates.trim()}`;
  for (const [where, m] of [['label', labels], ['annotation', annotations]] as const) if (asksForSidecar(m)) return `sidecar.istio.io/inject: "true" (${where})`;
  return undefined;
}

/** Labels (or annotations) saying `sidecar.istio.io/inject: "true"` (a YAML `true` too, as Kubernetes would refuse but a template may write). */
export function asksForSidecar(m: unknown): boolean {
  const v = isMapObj(m) ? m['sidecar.istio.io/inject'] : undefined;
  return v === true || (typeof v === 'string' && v.trim().toLowerCase() === 'true');
}

export function findInjectedPlaceholders(docs: RenderedDocument[]): InjectedPlaceholder[] {
  const out: InjectedPlaceholder[] = [];
  for (const doc of docs) {
    if (doc.object === null || doc.crd) continue;
    walkPodSpecs(doc.object, [], undefined, (spec, parent, pathParts) => {
      for (const list of CONTAINER_LISTS) {
        const cs = spec[list];
        if (!Array.isArray(cs)) continue;
        cs.forEach((c, i) => {
          if (!isMapObj(c) || typeof c.image !== 'string') return;
          const requestedBy = injectionRequest(parent, c.image);
          if (!requestedBy) return;
          const here = [...pathParts, list, i, 'image'];
          out.push({ doc, fieldPath: here.reduce<string>((acc, p) => joinPath(acc, p), ''), line: lineOf(doc, here), requestedBy });
        });
      }
    });
  }
  return out;
}

/** Every map holding a container list, with the map above it (a pod template's metadata sits there). */
export function walkPodSpecs(node: unknown, pathParts: Array<string | number>, parent: unknown, visit: (spec: Record<string, unknown>, parent: unknown, pathParts: Array<string | number>) => void): void {
  if (Array.isArray(node)) return node.forEach((x, i) => walkPodSpecs(x, [...pathParts, i], parent, visit));
  if (!isMapObj(node)) return;
  if ([...CONTAINER_LISTS].some((k) => Array.isArray(node[k]))) visit(node, parent, pathParts);
  for (const [k, v] of Object.entries(node)) if (typeof v === 'object' && v !== null) walkPodSpecs(v, [...pathParts, k], node, visit);
}

/** How an image istiod's injector writes into pods is introduced in its finding's reason. */
export const INJECTED_REASON = "injected at admission by Istio's sidecar injector";

export function findRenderedImages(docs: RenderedDocument[], problems?: string[]): RenderedFinding[] {
  const out: RenderedFinding[] = [];
  for (const doc of docs) {
    if (doc.object === null || doc.crd) continue;
    const isConfig = doc.kind === 'ConfigMap' || doc.kind === 'Secret';
    const isMonitoring = (doc.apiVersion ?? '').startsWith('monitoring.coreos.com/');
    const gpuKind = (doc.apiVersion ?? '').startsWith('nvidia.com/') ? doc.kind : undefined;
    const add = (raw: string, pathParts: Array<string | number>, role: ImageRole, certainty: Certainty, reason?: string) => {
      const ref = pulledRef(raw);
      if (!ref) return;
      const fieldPath = pathParts.reduce<string>((acc, p) => joinPath(acc, p), '');
      const finalRole: ImageRole = doc.test ? 'test-hook' : role;
      out.push({ ref, raw: raw.trim(), doc, fieldPath, role: finalRole, certainty: doc.test && certainty === 'certain' ? 'test' : certainty, reason, line: lineOf(doc, pathParts) });
    };
    const handedOver = (name: string, value: string, pathParts: Array<string | number>) => {
      const h = handedImage(name, value);
      if (h) add(value.trim(), pathParts, 'operator', h.certainty, h.reason);
    };
    const container = (c: Record<string, unknown>, base: Array<string | number>, podTemplate: unknown) => {
      if (typeof c.image === 'string' && !injectionRequest(podTemplate, c.image)) {
        const ref = c.image.trim();
        if (pulledRef(ref) === undefined) problems?.push(invalidContainerImage(doc, [...base, 'image'], c.image));
        else add(ref, [...base, 'image'], 'workload', 'certain');
      }
      for (const key of ['args', 'command'] as const) {
        const list = c[key];
        if (!Array.isArray(list)) continue;
        list.forEach((a, i) => {
          if (typeof a !== 'string') return;
          const h = handedArg(a.trim(), i > 0 ? list[i - 1] : undefined, key);
          handedOver(h.name, h.value, [...base, key, i]);
          for (const s of handedScriptArgs(a, key)) handedOver(s.name, s.value, [...base, key, i]);
        });
      }
      if (Array.isArray(c.env)) {
        c.env.forEach((e, i) => {
          if (isMapObj(e) && typeof e.name === 'string' && typeof e.value === 'string') handedOver(e.name, e.value, [...base, 'env', i, 'value']);
        });
      }
    };
    const walk = (node: unknown, pathParts: Array<string | number>, parent?: unknown) => {
      if (Array.isArray(node)) {
        node.forEach((x, i) => walk(x, [...pathParts, i], parent));
        return;
      }
      if (!isMapObj(node)) return;
      // Prometheus-operator split form: baseImage + sha / tag / version
      if (isMonitoring && typeof node.baseImage === 'string' && node.image === undefined) {
        const base = node.baseImage.trim();
        const ref = typeof node.sha === 'string' && node.sha ? `${base}@sha256:${node.sha}` : typeof node.tag === 'string' && node.tag ? `${base}:${node.tag}` : typeof node.version === 'string' && node.version ? `${base}:${node.version}` : undefined;
        if (ref) add(ref, [...pathParts, 'baseImage'], 'custom-resource', 'certain');
      }
      for (const [k, v] of Object.entries(node)) {
        const here = [...pathParts, k];
        if (CONTAINER_LISTS.has(k) && Array.isArray(v)) {
          v.forEach((c, i) => {
            if (isMapObj(c)) {
              container(c, [...here, i], parent);
              for (const [ck, cv] of Object.entries(c)) if (!['image', 'args', 'command', 'env'].includes(ck)) walk(cv, [...here, i, ck]);
            }
          });
          continue;
        }
        if (typeof v === 'string') {
          if (isConfig && pathParts.length === 1 && (pathParts[0] === 'data' || pathParts[0] === 'stringData')) {
            handedOver(k, v, here);
            continue;
          }
          if (isImageKey(k) && !(isMonitoring && k === 'baseImage')) {
            const t = v.trim();
            if (!t) continue;
            if (k === 'image' && !isConfig && splitImageMap(node as ValueMap)) {
              // NVIDIA's ClusterPolicy: `{repository: nvcr.io/nvidia, image: driver, version: 580}`;
              // an empty repository leaves the operator's default (no image here).
              const repo = typeof node.repository === 'string' ? trimTrailing(node.repository.trim(), '/') : '';
              const version = typeof node.version === 'string' ? node.version.trim() : '';
              const full = `${repo}/${t}${version ? `:${version}` : ''}`;
              if (!repo) continue;
              if (off(node)) add(full, here, 'custom-resource', 'possible', 'the custom resource sets enabled: false beside it');
              else if (version && !version.includes('sha256:') && !t.includes('@') && nodeOsTagged(gpuKind, pathParts)) {
                // The GPU operator never pulls this tag: it appends the GPU node's OS (resolveDriverTag).
                const precompiled = node.usePrecompiled === true || node.usePrecompiled === 'true';
                add(full, here, 'custom-resource', 'possible', `${NODE_OS_REASON}${precompiled ? '-<kernel version>' : ''}-<node OS> (${full}${precompiled ? '-<kernel version>' : ''}-ubuntu24.04, …-rhel9.6): list that tag under images: for each OS the GPU nodes run`);
              }
              else add(full, here, 'custom-resource', version ? 'certain' : 'possible', version ? undefined : 'an image map without a version');
              continue;
            }
            if (isConfig) handedOver(k, t, here);
            else if (off(node)) add(t, here, 'custom-resource', 'possible', 'the custom resource sets enabled: false beside it');
            else if (completeRef(t) || k === 'image') add(t, here, 'custom-resource', completeRef(t) || !t.includes('/') ? 'certain' : 'possible');
            else add(t, here, 'custom-resource', 'possible', `${k} has no tag or digest: the operator may add its own`);
          }
          continue;
        }
        if (isImageKey(k) && isMapObj(v) && typeof v.repository === 'string') {
          const reg = typeof v.registry === 'string' && v.registry ? `${trimTrailing(v.registry, '/')}/` : '';
          const tag = typeof v.tag === 'string' && v.tag ? `:${v.tag}` : '';
          const dig = typeof v.digest === 'string' && v.digest ? `@${v.digest}` : '';
          const full = `${reg}${v.repository}${tag}${dig}`;
          add(full, here, 'custom-resource', tag || dig ? 'certain' : 'possible', tag || dig ? undefined : 'an image map without a tag or digest');
          continue;
        }
        walk(v, here, node);
      }
    };
    walk(doc.object, []);
  }
  // What istiod's injector puts into the pods that ask for it: images this chart makes run.
  for (const i of findInjectorImages(docs, problems)) {
    const ref = pulledRef(i.ref);
    if (!ref) {
      problems?.push(`${INJECTOR_WARNING} (ConfigMap ${i.doc.name ?? '?'}) writes ${JSON.stringify(i.ref.length > 120 ? `${i.ref.slice(0, 120)}…` : i.ref)} into every pod that asks for injection (${i.container}, from ${i.from}), which is no valid image reference: those pods fail to pull; fix the values`);
      continue;
    }
    const how = `${INJECTED_REASON} into every pod that asks for injection (${i.container}), composed from the injector's values: ${i.from}`;
    out.push({ ref, raw: i.ref, doc: i.doc, fieldPath: i.fieldPath, role: 'workload', certainty: i.possibleBecause ? 'possible' : 'certain', reason: i.possibleBecause ? `${how}; ${i.possibleBecause}` : how, line: lineOf(i.doc, ['data', 'values']), prefixKey: i.prefixKey, nameKeys: i.prefixKey ? i.nameKeys : undefined });
  }
  return out;
}

/** How the warning for a rendered container image that is no image reference begins. */
export const INVALID_IMAGE_WARNING = 'a container image that is no valid image reference';

/**
 * A rendered container whose image no kubelet can pull (`image: ":"` from empty values, a leftover
 * `{{`, upper case, spaces): listed as no image, so said, naming the resource, field and template.
 */
function invalidContainerImage(doc: RenderedDocument, pathParts: Array<string | number>, raw: string): string {
  const ns = doc.namespace ? `${doc.namespace}/` : '';
  const field = pathParts.reduce<string>((acc, p) => joinPath(acc, p), '');
  const shown = JSON.stringify(raw.length > 120 ? `${raw.slice(0, 120)}…` : raw);
  const why = raw.trim() ? 'which the kubelet cannot pull (InvalidImageName)' : 'which the API server refuses (an image is required)';
  return `${INVALID_IMAGE_WARNING}: ${doc.kind ?? '?'} ${ns}${doc.name ?? '?'} ${field} (${doc.source}) is ${shown}, ${why}, so no image of it is listed; fix the values or the template that compose it`;
}

/** The reason given to a GPU operator image whose tag the operator completes with the node's OS. */
export const NODE_OS_REASON = 'the GPU operator pulls this tag with ';

/**
 * NVIDIA's ClusterPolicy `spec.driver`, `spec.gds`, `spec.gdrcopy`, `spec.vgpuManager` and an
 * NVIDIADriver's `spec` (and its `gds`, `gdrcopy`): the operator pulls `<repository>/<image>:<version>-<os><version>`
 * (`-ubuntu24.04`, `-rhel9.6`, read from the node), never the tag as written (unless it is a digest).
 */
function nodeOsTagged(kind: string | undefined, pathParts: Array<string | number>): boolean {
  if (kind === 'ClusterPolicy') return pathParts.length === 2 && pathParts[0] === 'spec' && ['driver', 'gds', 'gdrcopy', 'vgpuManager'].includes(String(pathParts[1]));
  if (kind === 'NVIDIADriver') return pathParts[0] === 'spec' && (pathParts.length === 1 || (pathParts.length === 2 && ['gds', 'gdrcopy'].includes(String(pathParts[1]))));
  return false;
}

/** A custom resource's component switched off (`vgpuManager: {enabled: false, image: …}`): the operator runs none of it. */
function off(node: Record<string, unknown>): boolean {
  return node.enabled === false || node.enabled === 'false';
}

function isMapObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
