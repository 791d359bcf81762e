import { parseHostileYaml } from '../../../manifest/yaml-input.js';
import { FerryError } from '../../../errors.js';
import { CONFIG_YAML_TOKENS, yamlTokensOver } from '../../../manifest/input-file.js';
import type { RenderedDocument } from '../render/index.js';

/**
 * Images an admission injector the chart installs puts into other pods. Istio only: istiod's
 * chart renders the sidecar injector's configuration as a ConfigMap (`istio-sidecar-injector`,
 * templates/istiod-injector-configmap.yaml) whose `data.values` is the chart's values as JSON
 * (`global` among them) and whose `data.config` holds the injection templates
 * (files/injection-template.yaml, files/gateway-injection-template.yaml). At admission istiod
 * renders a template into every pod that asks for injection; the templates write the proxy
 * container's image as `{{ .ProxyImage }}` and the init container's as `{{ .ProxyInitImage }}`,
 * or the value of `global.proxy.image` (`global.proxy_init.image`) itself when it holds a `/`.
 * istiod composes those (pkg/kube/inject/inject.go, ProxyImage, ProxyInitImage, imageURL) as
 * `<global.hub>/<global.proxy.image>:<global.tag>[-<variant>]`, the name defaulting to `proxyv2`
 * when the values leave it empty, the variant being `global.variant` (a `-distroless`/`-debug`
 * already on the tag is replaced; `default` means none).
 *
 * No other injector is read: what a webhook writes into a pod is the webhook's own code, and only
 * Istio's is known here. The result is recorded with the key the image starts with (`global.hub`,
 * from the top chart), which `rewrite values` sets to move it.
 */
export interface InjectedImage {
  ref: string;
  doc: RenderedDocument;
  /** `data.values` (the values the injector composes it from). */
  fieldPath: string;
  /** The proxy container (every injected pod) or the init container (pods without Istio's CNI). */
  container: 'istio-proxy' | 'istio-init';
  /** The values the image is composed from, as the injector reads them. */
  from: string;
  /** The keys holding the name (`global.proxy.image`, and `global.proxy_init.image` when it names the same image). */
  nameKeys: string[];
  /** Values path, inside the rendering chart's own values, of the key the image starts with (undefined: a full image in global.proxy.image). */
  prefixKey?: string;
  /** The init container is left out when Istio's CNI plugin does its work: only possible then. */
  possibleBecause?: string;
}

/** Istio's published image types (pkg/kube/inject: KnownImageTypes). */
const KNOWN_IMAGE_TYPES = ['distroless', 'debug'];

/** pkg/kube/inject/inject.go updateImageTypeIfPresent. */
function withImageType(tag: string, imageType: string): string {
  if (!imageType) return tag;
  for (const t of KNOWN_IMAGE_TYPES) {
    if (tag.endsWith(`-${t}`)) {
      tag = tag.slice(0, tag.length - t.length - 1);
      break;
    }
  }
  return imageType === 'default' ? tag : `${tag}-${imageType}`;
}

/** Go's `%v` of a JSON scalar (a tag written as a number stays as written by toPrettyJson). */
function goString(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

type InjectorConfig = { values: Record<string, unknown>; templates: string[] } | undefined;

/** Parsed configurations by the rendered `data` object (shared between renders of one text): discovery reads each render several times. */
const CONFIGS = new WeakMap<object, InjectorConfig>();

/**
 * The injector's `data.values` (JSON) and `data.config` (YAML) are strings inside one rendered
 * document: the document's own density bound saw them escaped (`\x2c` in a double-quoted scalar
 * counts as no comma), so each is held to the same bound once unescaped, before it is parsed
 * (the yaml library takes ~1 KiB a token, JSON.parse ~0.3 KiB an empty object).
 */
function checkDensity(doc: RenderedDocument, field: 'values' | 'config', text: string): void {
  if (text.length <= CONFIG_YAML_TOKENS || !yamlTokensOver(text, CONFIG_YAML_TOKENS)) return;
  throw new FerryError('VALIDATION', `${doc.source}: ConfigMap ${doc.name ?? '?'} (Istio's sidecar injector) data.${field} has more than ${CONFIG_YAML_TOKENS.toLocaleString('en-US')} ${field === 'values' ? 'JSON' : 'YAML'} tokens (list items, keys, commas, lines); ferry does not parse text that dense, so the image it injects is unknown`, {
    hint: "Check the chart: Istio's injector configuration is a few thousand tokens. List the proxy image in the manifest's `images` if the chart is the one you meant.",
  });
}

/** The injector's configuration: values (JSON) and templates, or undefined when the document is not one. */
function injectorConfig(doc: RenderedDocument): InjectorConfig {
  if (doc.kind !== 'ConfigMap' || doc.object === null || doc.crd) return undefined;
  const data = obj(obj(doc.object).data);
  if (typeof data.values !== 'string' || typeof data.config !== 'string') return undefined;
  if (CONFIGS.has(data)) return CONFIGS.get(data);
  checkDensity(doc, 'values', data.values);
  checkDensity(doc, 'config', data.config);
  let values: Record<string, unknown>;
  let config: Record<string, unknown>;
  let cfg: InjectorConfig;
  try {
    values = obj(JSON.parse(data.values));
    config = obj(parseHostileYaml(data.config, { duplicates: 'refuse', maxAliasCount: 100 }));
    const templates = Object.values(obj(config.templates)).filter((t): t is string => typeof t === 'string');
    if (typeof config.template === 'string') templates.push(config.template);
    cfg = templates.length && 'global' in values ? { values, templates } : undefined;
  } catch {
    cfg = undefined;
  }
  CONFIGS.set(data, cfg);
  return cfg;
}

/** How a warning about the injector's proxy image starts (`ferry lock` passes these on). */
export const INJECTOR_WARNING = "istiod's sidecar injector";

/** A value from the chart's values as a warning shows it: quoted, escaped, at most 120 characters. */
const shown = (v: string) => JSON.stringify(v.length > 120 ? `${v.slice(0, 120)}…` : v);

/**
 * The images the injector writes into pods, composed as istiod composes them. An injector whose
 * values compose no image (an empty `global.hub` or `global.tag`) is said in `problems`: every pod
 * that asks for injection then gets a proxy image ferry cannot name, never a silent nothing.
 */
export function findInjectorImages(docs: RenderedDocument[], problems?: string[]): InjectedImage[] {
  const out: InjectedImage[] = [];
  for (const doc of docs) {
    const cfg = injectorConfig(doc);
    if (!cfg) continue;
    const global = obj(cfg.values.global);
    const hub = goString(global.hub).trim();
    const tag = goString(global.tag).trim();
    const variant = goString(global.variant).trim();
    const uses = (field: string) => cfg.templates.some((t) => new RegExp(`\\{\\{-?\\s*\\.${field}\\s*-?\\}\\}`).test(t));
    const compose = (key: 'proxy' | 'proxy_init', container: InjectedImage['container']): InjectedImage | undefined => {
      const name = goString(obj(global[key]).image).trim();
      const from = `global.${key}.image`;
      if (name.includes('/')) return { ref: name, doc, fieldPath: 'data.values', container, from, nameKeys: [from] };
      if (!hub || !tag) {
        problems?.push(`${INJECTOR_WARNING} (ConfigMap ${doc.name ?? '?'}) writes ${container === 'istio-proxy' ? 'its proxy' : 'its init'} image into every pod that asks for injection, but its values compose none (global.hub ${shown(hub)}, global.tag ${shown(tag)}): which image those pods pull is unknown; set both (or ${from} to a whole image reference)`);
        return undefined;
      }
      // istiod's own default name when the values leave it empty (ProxyImage/ProxyInitImage).
      const image = name || 'proxyv2';
      return { ref: `${hub}/${image}:${withImageType(tag, variant)}`, doc, fieldPath: 'data.values', container, from: `global.hub, ${from}${name ? '' : ' (empty: istiod uses proxyv2)'}, global.tag${variant ? ', global.variant' : ''}`, prefixKey: 'global.hub', nameKeys: [from] };
    };
    if (uses('ProxyImage')) {
      const p = compose('proxy', 'istio-proxy');
      if (p) out.push(p);
    }
    if (uses('ProxyInitImage')) {
      const p = compose('proxy_init', 'istio-init');
      const cni = obj(obj(cfg.values.pilot).cni).enabled;
      const same = p && out.find((o) => o.ref === p.ref && o.doc === doc);
      if (same) same.nameKeys.push(...p.nameKeys);
      else if (p) out.push(cni === true || cni === 'true' ? { ...p, possibleBecause: 'the init container is left out while Istio\'s CNI plugin is on (pilot.cni.enabled)' } : p);
    }
  }
  return out;
}
