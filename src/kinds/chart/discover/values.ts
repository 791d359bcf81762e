import { parseHostileYaml } from '../../../manifest/yaml-input.js';
import { parseImageReference, formatImageReference } from '../../../oci/reference.js';
import { isImageKey, isImageListKey } from '../../image/image-key.js';
import { chartDependencies, type ChartDependency, type LoadedChart } from '../load.js';
import { trimTrailing } from '../../../ui/escape.js';
import {
  asBoolean,
  asString,
  isValueMap,
  mergeValues,
  originOf,
  parseValues,
  valueAt,
  type Origin,
  type Value,
  type ValueMap,
} from '../values.js';

/**
 * Every image a chart deploys, found without a helm binary, each with where it was found.
 *
 * Sources: the values (user values merged over the defaults, subcharts with Helm's scoping),
 * chart annotations (`helm.sh/images`, `artifacthub.io/images`, `images`), Images.lock files,
 * and image references written literally in templates. "certain" means the default install
 * (with the given values) deploys it; "possible" means a disabled section or a loose match.
 */

/** `test`: only a Helm test hook (`helm test`) runs it; `possible`: not deployed with these values. */
export type Certainty = 'certain' | 'possible' | 'test';
/** `image-path`: a JSONPath the user gave (a chart entry's `imagePaths`, `--image-path`) found it in the rendered objects. */
export type SourceKind = 'values' | 'annotation' | 'images-lock' | 'template' | 'rendered' | 'image-path';
/**
 * What runs the image: a workload container (any pod template, hooks included), a custom
 * resource's image field (an operator runs it), an image handed to an operator in args, env or
 * a config map, or a Helm test hook.
 */
export type ImageRole = 'workload' | 'custom-resource' | 'operator' | 'test-hook';

/** The sub-keys of an image map in values, as the chart wrote them (for override files). */
export interface ImageKeys {
  registry?: string;
  repository?: string;
  image?: string;
  name?: string;
  tag?: string;
  digest?: string;
  /** nats style: a full reference that overrides the other sub-keys when set. */
  fullImageName?: string;
  /** `repo` instead of `repository`. */
  repo?: string;
  /** grafana style: the digest's hex, rendered as `@sha256:<sha>`. */
  sha?: string;
  /** NVIDIA style: `{repository: nvcr.io/nvidia, image: driver, version: 580.95.05}`, the tag in `version`. */
  version?: string;
}

export interface ImageSource {
  kind: SourceKind;
  /** Chart chain as Helm scopes it: `keycloak`, `keycloak > postgresql`. */
  chart: string;
  chartName: string;
  chartVersion: string;
  /**
   * Value scope of the (sub)chart from the top chart's values: [] for the top chart,
   * ['postgresql'] for a subchart (its alias when it has one). An override for this image in the
   * top chart's values goes under `scope.join('.') + '.' + keyPath`.
   */
  scope: string[];
  /** File the finding came from, relative to the top chart (or the user's values file as given). */
  file: string;
  line?: number;
  /** Values key path inside the (sub)chart's own values: `controller.image`, `sidecars[0].image`. */
  keyPath?: string;
  /** Values key path from the top chart: scope + keyPath, what a user override sets. */
  valuesPath?: string;
  /** `map` (registry/repository/tag/digest sub-keys) or `string` (one value holding the reference). */
  form?: 'map' | 'string';
  /** Sub-keys present in an image map (only the ones the chart has). */
  keys?: ImageKeys;
  /**
   * Values path, from the top chart, of a key the image starts with and that no template spells
   * as an image: Istio's `global.hub`, which istiod's injector composes the proxy image from.
   */
  prefixFrom?: string;
  /** Values path that supplied the registry when it was not the map's own (`global.imageRegistry`). */
  registryFrom?: string;
  /** The tag came from the chart's appVersion because the values left it empty. */
  tagFromAppVersion?: boolean;
  /**
   * An image map whose `registry` key no template reads (testkube's `{{ repository }}:{{ tag }}`
   * beside `registry: docker.io`): a probe render with another registry there changed nothing.
   */
  registryUnread?: boolean;
  /** Where values merged over the defaults changed a sub-key: `tag` → `my-values.yaml:4`. */
  overrides?: Record<string, string>;
  /** Template line text, for template findings. */
  text?: string;
  certainty: Certainty;
  /** Why a finding is only possible. */
  reason?: string;
  /**
   * A values source attached to a rendered image it does not spell exactly (the templates add a
   * registry, a suffix…): what the values alone would give. Rewrites do not trust its keys.
   */
  valuesRef?: string;
  /** Rendered findings: the resource (`apps/v1 Deployment ns/name`) and the field path in it. */
  resource?: string;
  fieldPath?: string;
  role?: ImageRole;
  /** Hook events of the rendered resource, when it is a Helm hook. */
  hook?: string[];
  /** `image-path` findings: the JSONPath expression that found it. */
  imagePath?: string;
}

export interface DiscoveredImage {
  /** Normalized reference (`docker.io/bitnami/keycloak:26.3.3-debian-12-r0`). */
  ref: string;
  certainty: Certainty;
  /** For rendered findings: what runs it (the strongest role among the sources). */
  role?: ImageRole;
  sources: ImageSource[];
}

export interface SkippedSubchart {
  chart: string;
  reason: string;
}

export interface DiscoveryResult {
  chart: { name: string; version: string; appVersion?: string };
  images: DiscoveredImage[];
  /** Subcharts not walked because a condition or tags disabled them. */
  skippedSubcharts: SkippedSubchart[];
  /** Dependencies in Chart.yaml with no vendored copy (resolve them to discover their images). */
  missingDependencies: Array<{ chart: string; dependency: string; version?: string; repository?: string }>;
  /** Set when the findings come from rendering the chart. */
  rendered?: { kubeVersion: string; documents: number; warnings: string[]; renderer?: 'ferry' | 'helm' };
  /** Set when rendering failed and the findings come from the values alone (lock falls back so). */
  renderError?: string;
  /**
   * Containers whose image an admission webhook fills in (Istio's `image: auto`): not images the
   * chart pulls; the injected image comes from the injector's own chart (istiod's values).
   */
  injected?: Array<{ resource: string; file: string; line?: number; fieldPath: string; requestedBy: string }>;
  /** Images an admission injector this chart installs writes into other pods (istiod's sidecar proxy). */
  injects?: string[];
}

export interface UserValues {
  /** Name as shown in provenance (the path the user gave). */
  file: string;
  values: ValueMap;
  /** The file's text, for rendering (numbers as Helm reads them). */
  text?: string;
}

export interface DiscoverOptions {
  /** User values, merged over the defaults in order (later wins), as `helm -f a -f b`. */
  values?: UserValues[];
  /** Rendering: `--set` / `--set-string` expressions, applied after the values files. */
  set?: string[];
  setString?: string[];
  /** Rendering: `.Capabilities.KubeVersion` (default v1.29.0) and extra `.Capabilities.APIVersions`. */
  kubeVersion?: string;
  /** The kubeVersion warning's advice (RenderOptions.kubeVersionAdvice). */
  kubeVersionAdvice?: string;
  apiVersions?: string[];
  releaseName?: string;
  namespace?: string;
}

// ── helpers ──────────────────────────────────────────────────────────────────


function hasTemplate(s: string): boolean {
  return s.includes('{{') || s.includes('}}');
}

/** A string that could be an image reference: not a URL, path or template expression. */
function plausibleImage(s: string): boolean {
  if (!s || hasTemplate(s) || s.includes('://') || /\s/.test(s)) return false;
  if (s.startsWith('/') || s.startsWith('.') || s.startsWith('~') || s.includes('$')) return false;
  if (/^[\d.]+$/.test(s)) return false;
  return true;
}

function tryParse(s: string): string | undefined {
  if (!plausibleImage(s)) return undefined;
  try {
    return formatImageReference(parseImageReference(s));
  } catch {
    return undefined;
  }
}

/** The first path component names a registry host (`quay.io/…`, `localhost:5000/…`). */
export function firstIsHost(p: string): boolean {
  const slash = p.indexOf('/');
  if (slash < 0) return false;
  const first = p.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost';
}

/** Strict shape for loose matches anywhere: a registry host, a path and a tag or digest. */
const LOOSE_REF = /(?<![\w/:.@-])((?:[a-z0-9-]+\.)+[a-z0-9-]+(?::\d+)?\/[a-z0-9._/-]*[a-z0-9](?::[\w][\w.-]{0,127}|@sha256:[a-f0-9]{64}))(?![\w/:@-])/g;

/** A values or field path as ferry prints it: `a.b[0].c`, an odd key quoted (`a."x.y"`). */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  const k = /^[A-Za-z_][\w-]*$/.test(key) ? key : JSON.stringify(key);
  return base ? `${base}.${k}` : k;
}

/** The tag a chart renders for an empty tag: its appVersion, with a `v` when its templates add one. */
function appVersionTag(chart: LoadedChart): string | undefined {
  const av = chart.metadata.appVersion;
  if (!av) return undefined;
  if (av.startsWith('v')) return av;
  for (const [p, text] of chart.files) {
    if (!p.startsWith('templates/')) continue;
    if (
      /printf\s+"v%s"\s+(?:\(\s*)?\.Chart\.AppVersion/.test(text) ||
      /\bv\{\{-?\s*\.Chart\.AppVersion/.test(text) ||
      /\b(print|cat)\s+"v"\s+\.Chart\.AppVersion/.test(text)
    ) {
      return `v${av}`;
    }
  }
  return av;
}

// ── the walk ─────────────────────────────────────────────────────────────────

interface Instance {
  chart: LoadedChart;
  /** Display chain. */
  label: string;
  scope: string[];
  /** File prefix relative to the top chart (`charts/postgresql/`). */
  prefix: string;
  values: ValueMap;
  /** The top chart's values (tags are global to the release). */
  rootValues?: ValueMap;
}

interface Ctx {
  findings: Array<{ ref: string; source: ImageSource }>;
  inst: Instance;
  appTag?: string;
  /** Top-level keys that are a vendored subchart's values: walked in the subchart's own scope. */
  subchartKeys?: ReadonlySet<string>;
}

function originText(o: Origin | undefined): string | undefined {
  if (!o) return undefined;
  return o.line ? `${o.file}:${o.line}` : o.file;
}

function baseSource(ctx: Ctx, container: object, key: string | number, keyPath: string): Omit<ImageSource, 'certainty'> {
  const o = originOf(container, key);
  return {
    kind: 'values',
    chart: ctx.inst.label,
    chartName: ctx.inst.chart.metadata.name,
    chartVersion: ctx.inst.chart.metadata.version,
    scope: ctx.inst.scope,
    file: o?.file ?? `${ctx.inst.prefix}values.yaml`,
    line: o?.line,
    keyPath,
    valuesPath: [...ctx.inst.scope, keyPath].join('.'),
  };
}

function imageFromMap(ctx: Ctx, m: ValueMap, imageKey: boolean): Omit<ImageSource, 'kind' | 'chart' | 'chartName' | 'chartVersion' | 'scope' | 'file' | 'certainty'> & { ref: string } | undefined {
  const root = ctx.inst.values;
  const split = splitImageMap(m);
  const repo = (asString(m.repository) || asString(m.repo))?.trim();
  const img = asString(m.image)?.trim();
  const name = asString(m.name)?.trim();
  // Charts that tpl their values write the appVersion in as `{{ .Chart.AppVersion }}`.
  const av = ctx.inst.chart.metadata.appVersion;
  const tag = asString(split ? m.version : m.tag)?.trim().replace(/\{\{-?\s*\.Chart\.AppVersion\s*-?\}\}/g, () => av ?? '{{}}');
  const sha = asString(m.sha)?.trim();
  const digest = asString(m.digest)?.trim() || (sha && /^(sha256:)?[a-f0-9]{64}$/.test(sha) ? (sha.startsWith('sha256:') ? sha : `sha256:${sha}`) : undefined);
  const keys: ImageKeys = {};
  for (const k of ['registry', 'repository', 'repo', 'image', 'name', 'tag', 'digest', 'sha', 'fullImageName', ...(split ? (['version'] as const) : [])] as const) if (k in m) keys[k] = k;
  const fullImageName = asString(m.fullImageName)?.trim();
  if (fullImageName) {
    const ref = tryParse(fullImageName);
    return ref ? { ref, form: 'map', keys } : undefined;
  }
  let path: string;
  let nameBased = false;
  if (split) {
    // NVIDIA style: the repository is the path before the image name, the tag is `version`.
    if (!repo) return undefined;
    path = `${trimTrailing(repo, '/')}/${img}`;
  } else if (repo) {
    // `repository: mysql` + `name: community-operator` (mysql-operator style)
    path = imageKey && name && /^[a-z0-9._-]+$/.test(name) && !repo.endsWith(`/${name}`) ? `${repo}/${name}` : repo;
  } else if (imageKey && (img || name)) {
    nameBased = true;
    // cert-manager style: imageRegistry + imageNamespace + image.name
    const ns = img ? undefined : asString(root.imageNamespace)?.trim();
    path = ns ? `${ns}/${name}` : (img || name)!;
  } else return undefined;
  if (!plausibleImage(path)) return undefined;
  if ((tag && hasTemplate(tag)) || (digest && hasTemplate(digest))) return undefined;

  const global = isValueMap(root.global) ? root.global : {};
  const globalOverride = asString(global.imageRegistry)?.trim();
  const own = asString(m.registry)?.trim();
  const globalImage = isValueMap(global.image) ? asString(global.image.registry)?.trim() : undefined;
  const rootRegistry = nameBased ? asString(root.imageRegistry)?.trim() : undefined;
  let registry: string | undefined;
  let registryFrom: string | undefined;
  if (globalOverride) [registry, registryFrom] = [globalOverride, 'global.imageRegistry'];
  else if (own) registry = own;
  else if (globalImage) [registry, registryFrom] = [globalImage, 'global.image.registry'];
  else if (rootRegistry) [registry, registryFrom] = [rootRegistry, [...ctx.inst.scope, 'imageRegistry'].join('.')];
  if (registry && hasTemplate(registry)) return undefined;
  let full = registry && !firstIsHost(path) ? `${trimTrailing(registry, '/')}/${path}` : path;
  let tagFromAppVersion = false;
  if (tag) full += `:${tag}`;
  else if (!digest && ctx.appTag) {
    full += `:${ctx.appTag}`;
    tagFromAppVersion = true;
  }
  if (digest) full += `@${digest}`;
  const ref = tryParse(full);
  if (!ref) return undefined;
  return { ref, form: 'map', keys, registryFrom, tagFromAppVersion: tagFromAppVersion || undefined };
}

/**
 * NVIDIA's image maps (gpu-operator): `{repository: nvcr.io/nvidia, image: gpu-operator, version: v25}`,
 * rendered `{{ repository }}/{{ image }}:{{ version }}`. The repository key (even empty) is the
 * path before the name, so `image` alone is no image; no registry, tag or name key beside them.
 */
export function splitImageMap(m: ValueMap): boolean {
  const img = asString(m.image)?.trim();
  if (!img || !/^[a-z0-9][a-z0-9._-]*$/.test(img)) return false;
  if (!('repository' in m) || (m.repository !== null && typeof m.repository !== 'string')) return false;
  if ('tag' in m || 'registry' in m || 'name' in m || 'digest' in m) return false;
  return 'version' in m || firstIsHost(asString(m.repository)?.trim() ?? '');
}

function overridesOf(m: ValueMap, defaultsFile: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const k of ['registry', 'repository', 'repo', 'image', 'name', 'tag', 'digest', 'sha', 'fullImageName', 'version']) {
    const o = originOf(m, k);
    if (o && o.file !== defaultsFile) out[k] = originText(o)!;
  }
  return Object.keys(out).length ? out : undefined;
}

function walkValues(ctx: Ctx, node: Value, keyPath: string, disabled: string | undefined): void {
  if (Array.isArray(node)) {
    node.forEach((item, i) => {
      const p = joinPath(keyPath, i);
      if (typeof item === 'string') looseString(ctx, node, i, item, p, disabled);
      else walkValues(ctx, item, p, disabled);
    });
    return;
  }
  if (!isValueMap(node)) return;
  const en = asBoolean(node.enabled);
  if (en === false && !disabled) disabled = `${[...ctx.inst.scope, keyPath].filter(Boolean).join('.') || '(root)'}.enabled is false`;
  for (const [key, val] of Object.entries(node)) {
    if (!keyPath && ctx.subchartKeys?.has(key)) continue;
    if (!keyPath && key === 'global') {
      // Some charts set one image for all components under global (argo-cd: global.image).
      if (isValueMap(val)) walkGlobal(ctx, val, 'global', disabled);
      continue;
    }
    const p = joinPath(keyPath, key);
    const certainty: Certainty = disabled ? 'possible' : 'certain';
    const imageKey = isImageKey(key);
    const split = isValueMap(val) && splitImageMap(val);
    if (isValueMap(val) && (imageKey || split || (typeof (val.repository ?? val.repo) === 'string' && ('tag' in val || 'registry' in val || 'digest' in val)))) {
      const found = imageFromMap(ctx, val, imageKey);
      if (found) {
        const { ref, ...rest } = found;
        const defaultsFile = `${ctx.inst.prefix}values.yaml`;
        ctx.findings.push({
          ref,
          source: { ...baseSource(ctx, node, key, p), ...rest, overrides: overridesOf(val, defaultsFile), certainty, reason: disabled },
        });
        continue;
      }
      // An empty repository: the image is not set (NVIDIA's vgpuManager), not `docker.io/library/<image>`.
      if (split) continue;
    }
    if (typeof val === 'string') {
      if (imageKey || isImageListKey(key)) {
        // Older charts: `image: jenkins/jenkins` with the tag beside it in `imageTag`.
        const tagKey = imageKey ? Object.keys(node).find((k) => k.toLowerCase() === `${key.toLowerCase()}tag`) : undefined;
        const sibling = tagKey ? asString(node[tagKey])?.trim() : undefined;
        const bare = val.trim();
        // cp-helm-charts: `image: repo@sha256` with the digest's hex in `imageTag` (`{{ image }}:{{ imageTag }}`).
        const last = bare.split('/').pop() ?? '';
        const withTag = sibling && !hasTemplate(sibling) && (!/[:@]/.test(last) || /^[^:@]+@[a-z0-9]+$/.test(last)) ? `${bare}:${sibling}` : bare;
        const ref = tryParse(withTag);
        if (ref) {
          const src = { ...baseSource(ctx, node, key, p), form: 'string' as const, certainty, reason: disabled };
          if (withTag !== bare) src.keys = { image: key, tag: tagKey };
          ctx.findings.push({ ref, source: src });
          continue;
        }
      }
      looseString(ctx, node, key, val, p, disabled);
      continue;
    }
    if (Array.isArray(val) && isImageListKey(key)) {
      val.forEach((item, i) => {
        const ref = typeof item === 'string' ? tryParse(item.trim()) : undefined;
        if (ref) ctx.findings.push({ ref, source: { ...baseSource(ctx, val, i, joinPath(p, i)), form: 'string', certainty, reason: disabled } });
        else walkValues(ctx, item, joinPath(p, i), disabled);
      });
      continue;
    }
    walkValues(ctx, val, p, disabled);
  }
}

/** Image maps under `global`: the override path is global (not scoped), whichever subchart sees it. */
function walkGlobal(ctx: Ctx, node: ValueMap, keyPath: string, disabled: string | undefined): void {
  for (const [key, val] of Object.entries(node)) {
    const p = joinPath(keyPath, key);
    if (Array.isArray(val)) {
      // A list of containers under global (`global.containers: [{name, image: mysql, tag: "8.0"}]`).
      val.forEach((item, i) => {
        if (!isValueMap(item) || typeof item.image !== 'string') return;
        const found = imageFromMap(ctx, item, true);
        if (!found) return;
        const { ref, ...rest } = found;
        const ip = joinPath(p, i);
        ctx.findings.push({ ref, source: { ...baseSource(ctx, val, i, ip), valuesPath: ip, ...rest, overrides: overridesOf(item, `${ctx.inst.prefix}values.yaml`), certainty: disabled ? 'possible' : 'certain', reason: disabled } });
      });
      continue;
    }
    if (!isValueMap(val)) continue;
    const found = isImageKey(key) ? imageFromMap(ctx, val, true) : undefined;
    if (found) {
      const { ref, ...rest } = found;
      const base = baseSource(ctx, node, key, p);
      ctx.findings.push({ ref, source: { ...base, valuesPath: p, ...rest, overrides: overridesOf(val, `${ctx.inst.prefix}values.yaml`), certainty: disabled ? 'possible' : 'certain', reason: disabled } });
    } else walkGlobal(ctx, val, p, disabled);
  }
}

/** A string value anywhere that has the strict shape of an image (host/path:tag): possible. */
function looseString(ctx: Ctx, container: object, key: string | number, s: string, p: string, disabled: string | undefined): void {
  const t = s.trim();
  if (!plausibleImage(t) || !firstIsHost(t)) return;
  LOOSE_REF.lastIndex = 0;
  const m = LOOSE_REF.exec(t);
  if (!m || m[1] !== t) return;
  const ref = tryParse(t);
  if (!ref) return;
  ctx.findings.push({
    ref,
    source: { ...baseSource(ctx, container, key, p), form: 'string', certainty: 'possible', reason: disabled ?? `value at ${p} looks like an image reference` },
  });
}

// ── annotations, Images.lock, templates ─────────────────────────────────────

function refsInYaml(data: unknown, out: string[]): void {
  if (typeof data === 'string') {
    const r = tryParse(data.trim());
    if (r) out.push(r);
  } else if (Array.isArray(data)) data.forEach((d) => refsInYaml(d, out));
  else if (data && typeof data === 'object') {
    const o = data as Record<string, unknown>;
    if (typeof o.image === 'string') refsInYaml(o.image, out);
    else for (const [k, v] of Object.entries(o)) if (/^(images?|digests?)$/i.test(k) || typeof v === 'object') refsInYaml(v, out);
  }
}

const IMAGE_ANNOTATIONS = ['helm.sh/images', 'artifacthub.io/images', 'images'];

function annotationFindings(ctx: Ctx): void {
  const ann = ctx.inst.chart.metadata.annotations ?? {};
  for (const key of IMAGE_ANNOTATIONS) {
    const text = ann[key];
    if (typeof text !== 'string') continue;
    yamlRefFindings(ctx, text, (data) => data, { kind: 'annotation', file: 'Chart.yaml', keyPath: `annotations["${key}"]` });
  }
}

function imagesLockFindings(ctx: Ctx): void {
  for (const [p, text] of ctx.inst.chart.files) {
    if (!/(^|\/)images\.lock$/i.test(p)) continue;
    yamlRefFindings(ctx, text, (data) => (data as { images?: unknown })?.images ?? data, { kind: 'images-lock', file: p });
  }
}

/** Every image reference in a YAML text the chart ships (annotation, images.lock): certain findings of that file. */
function yamlRefFindings(ctx: Ctx, text: string, pick: (data: unknown) => unknown, where: { kind: 'annotation' | 'images-lock'; file: string; keyPath?: string }): void {
  let data: unknown;
  try {
    data = parseHostileYaml(text, { duplicates: 'refuse' });
  } catch {
    return;
  }
  const refs: string[] = [];
  refsInYaml(pick(data), refs);
  for (const ref of refs) {
    ctx.findings.push({
      ref,
      source: {
        kind: where.kind,
        chart: ctx.inst.label,
        chartName: ctx.inst.chart.metadata.name,
        chartVersion: ctx.inst.chart.metadata.version,
        scope: ctx.inst.scope,
        file: `${ctx.inst.prefix}${where.file}`,
        ...(where.keyPath ? { keyPath: where.keyPath } : {}),
        certainty: 'certain',
      },
    });
  }
}

// `\s*(?:-\s*)?`, not `\s*-?\s*`: the same lines, but without trying every split of a line's
// indentation between two `\s*` (quadratic in it: a deep CRD template spent 0.3 s here).
const TEMPLATE_IMAGE_START = /^\s*(?:-\s*)?image:/;
const TEMPLATE_IMAGE_LINE = /^\s*(?:-\s*)?image:\s*["']?([^"'\s#]+)["']?\s*(?:#.*)?$/;

// ── template control flow (just enough to see that a literal sits in a disabled block) ──

type Truth = boolean | undefined;
type Expr = string | Expr[];

function tokenize(src: string): string[] | undefined {
  const out: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\(|\)|\||[^\s()|"`]+)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = re.exec(src))) {
    out.push(m[1]);
    pos = re.lastIndex;
  }
  return src.slice(pos).trim() ? undefined : out;
}

function parseExpr(tokens: string[]): Expr[] | undefined {
  const stack: Expr[][] = [[]];
  for (const t of tokens) {
    if (t === '|') return undefined;
    if (t === '(') stack.push([]);
    else if (t === ')') {
      const done = stack.pop();
      if (!done || !stack.length) return undefined;
      stack[stack.length - 1].push(done);
    } else stack[stack.length - 1].push(t);
  }
  return stack.length === 1 ? stack[0] : undefined;
}

function goTruthy(v: Value | undefined): boolean {
  if (v === undefined || v === null || v === false || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isValueMap(v)) return Object.keys(v).length > 0;
  return v !== '0' && v !== 'false';
}

interface EvalScope {
  values: ValueMap;
  /** `.` was rebound by with/range: only `$.Values` still means the values. */
  dotRebound: boolean;
}

function evalValue(e: Expr, sc: EvalScope): { known: boolean; value?: Value } {
  if (Array.isArray(e)) {
    const t = evalCall(e, sc);
    return t === undefined ? { known: false } : { known: true, value: t };
  }
  if (/^".*"$/.test(e)) return { known: true, value: e.slice(1, -1) };
  if (e === 'true' || e === 'false') return { known: true, value: e === 'true' };
  if (/^-?\d+(\.\d+)?$/.test(e)) return { known: true, value: e };
  const m = /^(\$?)\.Values((?:\.[A-Za-z_][\w-]*)*)$/.exec(e);
  if (m && (m[1] === '$' || !sc.dotRebound)) return { known: true, value: valueAt(sc.values, m[2].slice(1)) ?? null };
  return { known: false };
}

function evalCall(e: Expr[], sc: EvalScope): Truth {
  if (!e.length) return undefined;
  const [head, ...args] = e;
  if (typeof head !== 'string') return e.length === 1 ? evalCall(head, sc) : undefined;
  if (head === 'not' && args.length === 1) {
    const t = truthOf(args[0], sc);
    return t === undefined ? undefined : !t;
  }
  if (head === 'and' || head === 'or') {
    const ts = args.map((a) => truthOf(a, sc));
    if (head === 'and') return ts.includes(false) ? false : ts.includes(undefined) ? undefined : true;
    return ts.includes(true) ? true : ts.includes(undefined) ? undefined : false;
  }
  if ((head === 'eq' || head === 'ne') && args.length === 2) {
    const [a, b] = args.map((x) => evalValue(x, sc));
    if (!a.known || !b.known || typeof a.value === 'object' || typeof b.value === 'object') return undefined;
    const same = String(a.value) === String(b.value);
    return head === 'eq' ? same : !same;
  }
  if (args.length === 0) return truthOf(head, sc);
  return undefined;
}

function truthOf(e: Expr, sc: EvalScope): Truth {
  if (Array.isArray(e)) return evalCall(e, sc);
  const v = evalValue(e, sc);
  return v.known ? goTruthy(v.value) : undefined;
}

/** Truth of a Go template condition over the chart's values, or undefined when ferry cannot tell. */
export function templateCondition(cond: string, values: ValueMap, dotRebound = false): Truth {
  const tokens = tokenize(cond.trim());
  const expr = tokens && parseExpr(tokens);
  if (!expr) return undefined;
  return evalCall(expr, { values, dotRebound });
}

interface Block {
  kind: 'if' | 'with' | 'range' | 'define';
  truth: Truth;
  anyTrue: boolean;
  unknown: boolean;
  text: string;
}

/**
 * The actions of a template, `{{- body -}}` (what `/\{\{-?\s*([\s\S]*?)\s*-?\}\}/g` matches, with
 * the same bodies), found by a scan: that regex backtracks cubically on a crafted `{{` and spaces.
 */
export function templateActions(text: string): Array<{ at: number; body: string }> {
  const out: Array<{ at: number; body: string }> = [];
  for (let at = text.indexOf('{{'); at >= 0; ) {
    const close = text.indexOf('}}', at + 2);
    if (close < 0) break;
    let start = at + 2;
    if (text[start] === '-') start++;
    while (start < close && /\s/.test(text[start])) start++;
    let end = close;
    if (end > start && text[end - 1] === '-') end--;
    while (end > start && /\s/.test(text[end - 1])) end--;
    out.push({ at, body: text.slice(start, end) });
    at = text.indexOf('{{', close + 2);
  }
  return out;
}

/** `line` with each `{{ … }}` replaced by a space (as `line.replace(/\{\{.*?\}\}/g, ' ')`, by a scan: linear). */
export function blankActions(line: string): string {
  let out = '';
  let from = 0;
  for (let at = line.indexOf('{{'); at >= 0; ) {
    const close = line.indexOf('}}', at + 2);
    if (close < 0) break;
    // `.` stops at line terminators: an action that spans one is no match; a later `{{` may be.
    const inside = line.slice(at + 2, close);
    const brk = Math.max(inside.lastIndexOf('\r'), inside.lastIndexOf('\u2028'), inside.lastIndexOf('\u2029'), inside.lastIndexOf('\n'));
    if (brk >= 0) {
      at = line.indexOf('{{', at + 2 + brk + 1);
      continue;
    }
    out += `${line.slice(from, at)} `;
    from = close + 2;
    at = line.indexOf('{{', from);
  }
  return from === 0 ? line : out + line.slice(from);
}

function applyAction(stack: Block[], action: string, values: ValueMap): void {
  const rebound = stack.some((b) => b.kind !== 'if');
  const kw = /^(if|else if|else with|else|with|range|define|block|end)\b\s*(.*)$/s.exec(action);
  if (!kw) return;
  const [, word, rest] = kw;
  const top = stack[stack.length - 1];
  switch (word) {
    case 'if':
    case 'with': {
      const t = word === 'if' ? templateCondition(rest, values, rebound) : templateCondition(rest.replace(/^\$\w+\s*:=\s*/, ''), values, rebound);
      stack.push({ kind: word, truth: t, anyTrue: t === true, unknown: t === undefined, text: `${word} ${rest}` });
      break;
    }
    case 'range':
      stack.push({ kind: 'range', truth: undefined, anyTrue: false, unknown: true, text: `range ${rest}` });
      break;
    case 'define':
    case 'block':
      stack.push({ kind: 'define', truth: undefined, anyTrue: false, unknown: true, text: `${word} ${rest}` });
      break;
    case 'else if':
    case 'else with':
      if (!top) return;
      if (top.unknown) top.truth = undefined;
      else if (top.anyTrue) top.truth = false;
      else {
        top.truth = templateCondition(rest, values, rebound || word === 'else with');
        top.anyTrue = top.truth === true;
        top.unknown = top.truth === undefined;
      }
      top.text = `${word} ${rest}`;
      break;
    case 'else':
      if (!top) return;
      top.truth = top.unknown ? undefined : !top.anyTrue;
      top.text = `else of ${top.text}`;
      break;
    case 'end':
      stack.pop();
      break;
  }
}

function templateFindings(ctx: Ctx): void {
  for (const [p, text] of ctx.inst.chart.files) {
    if (!p.startsWith('templates/')) continue;
    const lines = text.split('\n');
    let inComment = false;
    const stack: Block[] = [];
    // Actions over the whole file (they may span lines), applied in order as the lines pass.
    const actions = templateActions(text).filter((a) => !a.body.startsWith('/*'));
    let next = 0;
    let offset = 0;
    lines.forEach((line, i) => {
      const lineStart = offset;
      offset += line.length + 1;
      while (next < actions.length && actions[next].at < lineStart) applyAction(stack, actions[next++].body, ctx.inst.values);
      // Skip {{/* … */}} comment blocks and YAML comments.
      if (inComment) {
        if (line.includes('*/')) inComment = false;
        return;
      }
      if (/\{\{-?\s*\/\*/.test(line) && !line.includes('*/')) {
        inComment = true;
        return;
      }
      const disabledBy = stack.find((b) => b.truth === false);
      const certainty: Certainty = disabledBy ? 'possible' : 'certain';
      const reason = disabledBy ? `inside {{ ${disabledBy.text} }}, which is false with these values` : undefined;
      if (/^\s*#/.test(line)) return;
      const base = {
        kind: 'template' as const,
        chart: ctx.inst.label,
        chartName: ctx.inst.chart.metadata.name,
        chartVersion: ctx.inst.chart.metadata.version,
        scope: ctx.inst.scope,
        file: `${ctx.inst.prefix}${p}`,
        line: i + 1,
        text: line.trim().slice(0, 200),
      };
      const m = TEMPLATE_IMAGE_LINE.exec(line);
      if (m && !hasTemplate(line)) {
        const ref = tryParse(m[1]);
        if (ref) ctx.findings.push({ ref, source: { ...base, certainty, reason } });
        return;
      }
      // `image: {{ .Values.x | default "busybox:1.36" }}`: the fallback a template writes when values leave it empty.
      if (TEMPLATE_IMAGE_START.test(line)) {
        for (const d of line.matchAll(/\bdefault\s+"([^"\s{}]+)"/g)) {
          const ref = tryParse(d[1]);
          if (ref && d[1].includes(':')) ctx.findings.push({ ref, source: { ...base, certainty: 'possible', reason: reason ?? 'default written in the template' } });
        }
      }
      // Literal host/path:tag strings outside template actions (args, env values): possible.
      const outside = blankActions(line);
      LOOSE_REF.lastIndex = 0;
      for (const mm of outside.matchAll(LOOSE_REF)) {
        const ref = tryParse(mm[1]);
        if (ref) ctx.findings.push({ ref, source: { ...base, certainty: 'possible', reason: reason ?? 'literal image-like string in a template' } });
      }
    });
  }
}

// ── subcharts and scoping ────────────────────────────────────────────────────

/** Helm: conditions are paths in the parent's values; tags are read from the top chart's `tags`. */
function conditionState(dep: ChartDependency, parentValues: ValueMap, rootValues: ValueMap): { enabled: boolean; reason?: string } {
  if (dep.condition) {
    for (const c of String(dep.condition).split(',').map((s) => s.trim()).filter(Boolean)) {
      const v = asBoolean(valueAt(parentValues, c));
      if (v !== undefined) return { enabled: v, reason: `condition ${c} is ${v}` };
    }
  }
  if (dep.tags?.length) {
    const tags = isValueMap(rootValues.tags) ? rootValues.tags : {};
    let hasTrue = false;
    let hasFalse = false;
    for (const t of dep.tags) {
      const v = asBoolean(tags[t]);
      if (v === true) hasTrue = true;
      if (v === false) hasFalse = true;
    }
    if (!hasTrue && hasFalse) return { enabled: false, reason: `tags ${dep.tags.join(', ')} are false` };
  }
  return { enabled: true };
}

function defaultValues(chart: LoadedChart, prefix: string): ValueMap {
  const text = chart.files.get('values.yaml') ?? chart.files.get('values.yml');
  return text ? parseValues(text, `${prefix}values.yaml`) : {};
}

function visit(inst: Instance, result: DiscoveryResult, findings: Ctx['findings']): void {
  // The values under a vendored subchart's key are the subchart's (its own templates and
  // defaults decide what they mean); read there, not as the parent's own image maps.
  const subchartKeys = new Set<string>(inst.chart.subcharts.map((s) => s.metadata.name));
  for (const dep of chartDependencies(inst.chart)) if (inst.chart.subcharts.some((s) => s.metadata.name === dep.name)) subchartKeys.add(dep.alias || dep.name);
  const ctx: Ctx = { findings, inst, appTag: appVersionTag(inst.chart), subchartKeys };
  walkValues(ctx, inst.values, '', undefined);
  annotationFindings(ctx);
  imagesLockFindings(ctx);
  templateFindings(ctx);

  const deps = chartDependencies(inst.chart);
  const used = new Set<LoadedChart>();
  const instances: Array<{ chart: LoadedChart; key: string; dep?: ChartDependency }> = [];
  for (const dep of deps) {
    const sub = inst.chart.subcharts.find((s) => s.metadata.name === dep.name);
    if (!sub) {
      result.missingDependencies.push({ chart: inst.label, dependency: dep.name, version: dep.version, repository: dep.repository });
      continue;
    }
    used.add(sub);
    instances.push({ chart: sub, key: dep.alias || dep.name, dep });
  }
  // Vendored charts nobody listed are still installed by Helm, under their own name.
  for (const sub of inst.chart.subcharts) if (!used.has(sub)) instances.push({ chart: sub, key: sub.metadata.name });

  for (const { chart, key, dep } of instances) {
    const label = `${inst.label} > ${key}`;
    if (dep) {
      const state = conditionState(dep, inst.values, inst.rootValues ?? inst.values);
      if (!state.enabled) {
        result.skippedSubcharts.push({ chart: label, reason: state.reason ?? 'disabled' });
        continue;
      }
    }
    const dirName = chart.where.split('/charts/').pop()!;
    const prefix = `${inst.prefix}charts/${dirName}/`;
    const defaults = defaultValues(chart, prefix);
    const fromParent = isValueMap(inst.values[key]) ? (inst.values[key] as ValueMap) : {};
    const values = mergeValues(defaults, fromParent);
    // `global` flows down: the parent's globals win over the subchart's own.
    const parentGlobal = isValueMap(inst.values.global) ? inst.values.global : {};
    const ownGlobal = isValueMap(defaults.global) ? defaults.global : {};
    values.global = mergeValues(ownGlobal, parentGlobal);
    visit({ chart, label, scope: [...inst.scope, key], prefix, values, rootValues: inst.rootValues ?? inst.values }, result, findings);
  }
}

function samePath(a: string, b: string): boolean {
  const pa = parseImageReference(a);
  const pb = parseImageReference(b);
  return pa.repository === pb.repository;
}

/** Discover the images of a loaded chart. */
/**
 * Discovery from the shape of the values alone (no rendering): used to say which values key set a
 * rendered image, to list image keys of features the render does not enable, and for charts loaded
 * without their files.
 */
export function discoverFromValues(chart: LoadedChart, opts: DiscoverOptions = {}): DiscoveryResult {
  const result: DiscoveryResult = {
    chart: { name: chart.metadata.name, version: chart.metadata.version, appVersion: chart.metadata.appVersion },
    images: [],
    skippedSubcharts: [],
    missingDependencies: [],
  };
  let values = defaultValues(chart, '');
  for (const u of opts.values ?? []) values = mergeValues(values, u.values);
  const findings: Ctx['findings'] = [];
  visit({ chart, label: chart.metadata.name, scope: [], prefix: '', values }, result, findings);

  // Values say more than annotations: an annotated image that the values place in a disabled
  // section, or replace with another tag, is only possible.
  const valueFindings = findings.filter((f) => f.source.kind === 'values');
  for (const f of findings) {
    if (f.source.kind !== 'annotation' && f.source.kind !== 'images-lock') continue;
    const same = valueFindings.filter((v) => samePath(v.ref, f.ref));
    if (!same.length) continue;
    if (same.some((v) => v.ref === f.ref && v.source.certainty === 'certain')) continue;
    f.source.certainty = 'possible';
    f.source.reason = same.some((v) => v.ref === f.ref)
      ? `the values put it in a disabled section (${same.find((v) => v.ref === f.ref)!.source.reason})`
      : `the values deploy ${same[0].ref} instead`;
  }

  const byRef = new Map<string, DiscoveredImage>();
  for (const f of findings) {
    let img = byRef.get(f.ref);
    if (!img) byRef.set(f.ref, (img = { ref: f.ref, certainty: 'possible', sources: [] }));
    img.sources.push(f.source);
    if (f.source.certainty === 'certain') img.certainty = 'certain';
  }
  result.images = [...byRef.values()].sort((a, b) => (a.certainty !== b.certainty ? (a.certainty === 'certain' ? -1 : 1) : a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  return result;
}

/** Normalize an image string the way discovery does (undefined when it is not an image). */
export function imageRefOf(s: string): string | undefined {
  return tryParse(s.trim());
}

/** Parse user values files for discovery (`--values`, the manifest's `values:`). */
export function userValues(text: string, file: string): UserValues {
  return { file, values: parseValues(text, file), text };
}
