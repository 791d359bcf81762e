import { isMap, type Document, type Node } from 'yaml';
import { injectionRequest } from '../kinds/chart/discover/index.js';
import { asksForSidecar, CONTAINER_LISTS, walkPodSpecs } from '../kinds/chart/discover/rendered.js';
import type { ChartLock } from '../kinds/chart/lock.js';
import type { Lock } from '../kinds/schema.js';
import { lockEntries } from '../kinds/schema.js';
import { formatImageReference, parseImageReference } from '../oci/reference.js';
import type { Reference } from './scan.js';


/** `spec.template.spec.containers[0].image` → ['spec', 'template', 'spec', 'containers', 0, 'image']. */
function segments(keyPath: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const part of keyPath.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) return [];
    if (m[1]) out.push(m[1]);
    for (const i of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(i[1]));
  }
  return out;
}

/**
 * Istio's `image: auto` on a pod that asks for injection (a gateway Deployment written by hand,
 * as Istio's docs and gateway chart have it): the kubelet never pulls `auto`, istiod's sidecar
 * injector writes its proxy image there at admission. Marks each such container image reference
 * of a document with what asks for the injection; `withInjectedImages` then names the image.
 */
export function markInjectedPlaceholders(file: string, doc: Document, refs: Reference[], before: number, lineOf: (n: Node | null | undefined) => number, podLabels = false): void {
  namespaceInjection(file, doc, refs, lineOf);
  if (podLabels) podInjection(file, doc, refs, lineOf);
  let json: unknown;
  for (let i = before; i < refs.length; i++) {
    const r = refs[i];
    if (r.kind !== 'image' || r.value.trim() !== 'auto' || !r.keyPath) continue;
    const p = segments(r.keyPath);
    const list = p.findLastIndex((s) => typeof s === 'string' && CONTAINER_LISTS.has(s));
    if (list < 0 || p[p.length - 1] !== 'image') continue;
    json ??= doc.toJSON();
    // The pod template holds the spec with the container list: `…template` above `…template.spec`.
    const templatePath = p.slice(0, Math.max(0, list - 1));
    let template: unknown = json;
    for (const s of templatePath) template = typeof template === 'object' && template !== null ? (template as Record<string | number, unknown>)[s] : undefined;
    const by = injectionRequest(template, r.value);
    if (by) r.injectedBy = by;
  }
}

/**
 * A pod template labelled `sidecar.istio.io/inject: "true"` (a Pod, or a workload's template):
 * Istio's webhook selects such pods by that label whatever their namespace's labels, and adds its
 * proxy container, so istiod's proxy image is pulled there though no file of the workload names
 * it. (The annotation of that name acts only in a namespace the webhook already selects, which the
 * file does not say: not counted.) A template with an `image: auto` container is marked there.
 */
function podInjection(file: string, doc: Document, refs: Reference[], lineOf: (n: Node | null | undefined) => number): void {
  const json = doc.toJSON() as unknown;
  const top = json as { kind?: unknown; metadata?: { name?: unknown } } | null;
  const owner = `${typeof top?.kind === 'string' ? top.kind : '?'}/${typeof top?.metadata?.name === 'string' ? top.metadata.name : '?'}`;
  walkPodSpecs(json, [], undefined, (spec, template, specPath) => {
    const meta = (template as { metadata?: { labels?: unknown } } | undefined)?.metadata;
    if (!asksForSidecar(meta?.labels)) return;
    const auto = [...CONTAINER_LISTS].some((l) => Array.isArray(spec[l]) && (spec[l] as unknown[]).some((c) => typeof c === 'object' && c !== null && String((c as { image?: unknown }).image ?? '').trim() === 'auto'));
    if (auto) return;
    // The template holds the spec with the containers: its path is the spec's less `spec`.
    const at = specPath.slice(0, -1);
    const path = [...at, 'metadata', 'labels', 'sidecar.istio.io/inject'];
    const ns = (top as { metadata?: { namespace?: unknown } } | null)?.metadata?.namespace;
    refs.push({
      file,
      line: lineOf(doc.getIn(path, true) as Node | undefined),
      keyPath: path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join(''),
      kind: 'image',
      value: 'auto',
      injectedBy: `${at.length ? `the pods of ${owner}` : owner}, labelled sidecar.istio.io/inject: "true"`,
      ...(typeof ns === 'string' && ns.trim() ? { injectedIn: ns.trim() } : {}),
    });
  });
}

/**
 * A Namespace labelled for injection (`istio-injection: enabled`, or `istio.io/rev: <revision>`
 * without `istio-injection: disabled`, as Istio's webhook selects them): every pod created in it
 * gets the sidecar, so istiod's proxy image is pulled there though no file names it.
 */
function namespaceInjection(file: string, doc: Document, refs: Reference[], lineOf: (n: Node | null | undefined) => number): void {
  if (!isMap(doc.contents) || doc.get('kind') !== 'Namespace') return;
  const labels = doc.getIn(['metadata', 'labels'], true);
  if (!isMap(labels)) return;
  const label = (k: string) => {
    const v = labels.get(k);
    return typeof v === 'string' ? v.trim() : undefined;
  };
  const injection = label('istio-injection');
  const rev = label('istio.io/rev');
  const key = injection === 'enabled' ? 'istio-injection' : injection === undefined && rev ? 'istio.io/rev' : undefined;
  const name = doc.getIn(['metadata', 'name']);
  // `istio-injection: disabled` (any value but enabled): no webhook of Istio's selects the
  // namespace, and the one that selects pods by their own label requires the namespace to have no
  // istio-injection label at all (istiod chart, mutatingwebhook.yaml): its labelled pods get no proxy.
  if (injection !== undefined && injection !== 'enabled' && typeof name === 'string') {
    refs.push({ file, line: lineOf(labels.get('istio-injection', true) as Node | undefined), keyPath: 'metadata.labels.istio-injection', kind: 'image', value: 'auto', injectionOff: name });
    return;
  }
  if (!key) return;
  refs.push({
    file,
    line: lineOf(labels.get(key, true) as Node | undefined),
    keyPath: `metadata.labels.${key}`,
    kind: 'image',
    value: 'auto',
    injectedBy: `Namespace ${typeof name === 'string' ? name : '?'} labelled ${key}: ${key === 'istio-injection' ? 'enabled' : rev} (every pod created in it)`,
  });
}

/**
 * A lock's `injects` entry as `ferry lock` writes it: an image reference, written as ferry writes
 * one, among the chart's own `images`. A lock arrives (in a bundle, from a repository): anything
 * else is no image ferry knows the injector pulls.
 */
function carried(c: ChartLock, image: string): boolean {
  if (!c.images.includes(image)) return false;
  try {
    return formatImageReference(parseImageReference(image)) === image;
  } catch {
    return false;
  }
}

/**
 * Each `image: auto` placeholder becomes the image istiod's injector writes there: the proxy image
 * of every chart in the lock that injects one (istiod, discovered from the injector's values), each
 * classified as any image is; with no such chart, the placeholder stays, named as unknown.
 */
export function withInjectedImages(refs: Reference[], lock: Lock | undefined): Reference[] {
  // Namespaces whose istio-injection label turns Istio's webhooks off: their labelled pods are not injected.
  const off = new Set(refs.flatMap((r) => (r.injectionOff !== undefined ? [r.injectionOff] : [])));
  if (off.size) refs = refs.filter((r) => r.injectionOff === undefined && !(r.injectedIn !== undefined && off.has(r.injectedIn)));
  if (!refs.some((r) => r.injectedBy)) return refs;
  const injectors = lock ? (lockEntries(lock, 'charts') as ChartLock[]).filter((c) => c.injects?.length) : [];
  return refs.flatMap((r) => {
    if (!r.injectedBy) return [r];
    const head = r.keyPath?.endsWith('image')
      ? `\`image: auto\` is filled in at admission by Istio's sidecar injector (${r.injectedBy}), not pulled as written`
      : `Istio's sidecar injector adds its proxy container at admission to ${r.injectedBy}`;
    if (!injectors.length)
      return [{ ...r, operator: `${head}; which proxy image is unknown: the lock has no chart that injects one (carry the istiod chart with images: discover, lock again, and audit with that lock)` }];
    return injectors.flatMap((c) =>
      c.injects!.map((image) =>
        carried(c, image)
          ? { ...r, value: image, operator: `${head}: ${image} from istiod's values (chart ${c.name} ${c.version} injects it; installed with its values rewritten by \`ferry rewrite values\`, it injects the mirror's copy)` }
          : { ...r, operator: `${head}; which proxy image is unknown: the lock's chart ${c.name} ${c.version} names ${JSON.stringify(image.length > 120 ? `${image.slice(0, 120)}…` : image)} as the image it injects, which is not an image reference among the chart's images (\`ferry lock\` writes only those): lock the chart again and audit with that lock` },
      ),
    );
  });
}
