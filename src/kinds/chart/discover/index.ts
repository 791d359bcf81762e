import { isFerryError } from '../../../errors.js';
import { trimTrailing } from '../../../ui/escape.js';
import { parseImageReference } from '../../../oci/reference.js';
import { chartDependencies, type LoadedChart } from '../load.js';
import { renderChart, type RenderedDocument, type RenderOptions, type RenderResult } from '../render/index.js';
import { setKey, toGoData } from '../render/goyaml.js';
import { findInjectedPlaceholders, findRenderedImages, INJECTED_REASON, type RenderedFinding } from './rendered.js';
import {
  discoverFromValues,
  type Certainty,
  type DiscoveredImage,
  type DiscoverOptions,
  type DiscoveryResult,
  type ImageRole,
  type ImageSource,
  type UserValues,
} from './values.js';

export * from './values.js';
export { findInjectedPlaceholders, findRenderedImages, handedArg, handedImage, injectionRequest, normalizeRef, type InjectedPlaceholder, type RenderedFinding } from './rendered.js';

/**
 * Every image a chart deploys, found by rendering it as `helm template` does (ferry's own
 * renderer, src/kinds/chart/render), then reading the rendered objects (./rendered.ts).
 *
 * - certain: in a rendered workload, custom resource or operator hand-over with these values;
 * - test: only in a Helm test hook;
 * - possible: an image key in the values that this render does not deploy, with the condition that
 *   would (the tag comes from rendering with that condition on, never a guess), or a string that
 *   only looks like an image.
 *
 * The values finder (./values.ts) says which values key set each rendered image. A chart loaded
 * without its files (no `raw`) can only be read from its values: that is the values finder alone.
 */
export function discoverChartImages(chart: LoadedChart, opts: DiscoverOptions = {}): DiscoveryResult {
  if (!chart.raw) return discoverFromValues(chart, opts);
  return discoverWithRenderer(chart, opts, (o) => renderChart(chart, o));
}

/**
 * discoverChartImages by ferry's renderer, with the objects of its first render (the one with the
 * user's values; later renders probe): what a chart's `imagePaths` are read in.
 */
export function discoverWithDocuments(chart: LoadedChart, opts: DiscoverOptions = {}): { result: DiscoveryResult; documents: RenderedDocument[] } {
  if (!chart.raw) return { result: discoverFromValues(chart, opts), documents: [] };
  let documents: RenderedDocument[] | undefined;
  const result = discoverWithRenderer(chart, opts, (o) => {
    const r = renderChart(chart, o);
    documents ??= r.documents;
    return r;
  });
  return { result, documents: documents ?? [] };
}

/** A renderer: ferry's (renderChart) or a helm binary's output read back (`--render helm`). */
export type ChartRenderer = (opts: RenderOptions) => RenderResult;

export function discoverWithRenderer(chart: LoadedChart, opts: DiscoverOptions, render: ChartRenderer): DiscoveryResult {
  const renderOpts = renderOptions(opts);
  const rendered = render(renderOpts);
  const fromValues = discoverFromValues(chart, { values: opts.values });
  const result = combine(chart, rendered, fromValues, renderOpts, render);
  markPrefixKeys(render, renderOpts, result, opts.values ?? []);
  return result;
}

/** The chart rendered once more with probe values over the user's; undefined when it refuses them. */
function probeRender(render: ChartRenderer, base: RenderOptions, data: Record<string, unknown>): RenderResult | undefined {
  try {
    return render({ ...base, values: [...(base.values ?? []), { name: '(probe)', data }] });
  } catch (err) {
    if (isFerryError(err)) return undefined;
    throw err;
  }
}

/**
 * Rendered images no values key spells, that start with the value of a key in the user's values
 * files (Istio's `global.hub: docker.io/istio`, composed `{{ .Values.hub | default .Values.global.hub
 * }}/pilot:{{ tag }}`): one render with each such key set to a probe prefix of its own; an image
 * that then starts with that probe prefix, the rest unchanged, is composed from the key, which is
 * recorded as its prefix key (the lock's `imageValues` with `prefix`, which `rewrite values` sets
 * to the mirror's place). A chart that refuses the probe render is left as it is.
 */
function markPrefixKeys(render: ChartRenderer, base: RenderOptions, result: DiscoveryResult, userValues: UserValues[]): void {
  const unkeyed = result.images.filter((i) => i.certainty !== 'possible' && !i.sources.some((s) => s.valuesPath || s.prefixFrom));
  if (!unkeyed.length || !userValues.length) return;
  const whole = (ref: string) => {
    const r = parseImageReference(ref);
    return `${r.registry}/${r.repository}`;
  };
  const candidates = new Map<string, string>();
  const visit = (node: unknown, path: string) => {
    if (typeof node === 'string') {
      const v = trimTrailing(node.trim(), '/');
      if (v.includes('/') && !v.includes('{{') && unkeyed.some((i) => whole(i.ref).startsWith(`${v}/`))) candidates.set(path, v);
      return;
    }
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return;
    for (const [k, v] of Object.entries(node)) if (!k.includes('.') && !k.includes('[')) visit(v, path ? `${path}.${k}` : k);
  };
  for (const u of userValues) visit(u.values, '');
  if (!candidates.size) return;
  const probe: Record<string, unknown> = {};
  const sentinels = [...candidates].map(([path, value], n) => ({ path, value, sentinel: `ferry-probe-${n}.invalid/prefix` }));
  for (const c of sentinels) setPath(probe, c.path, c.sentinel);
  const probed = probeRender(render, base, probe);
  if (!probed) return;
  const after = new Set(findRenderedImages(probed.documents).map((f) => f.ref));
  for (const img of unkeyed) {
    const full = whole(img.ref);
    const rest = img.ref.slice(full.length);
    for (const c of sentinels) {
      if (!full.startsWith(`${c.value}/`)) continue;
      const moved = `${c.sentinel}${full.slice(c.value.length)}`;
      if (![...after].some((r) => r === `${moved}${rest}` || r.startsWith(`${moved}:`) || r.startsWith(`${moved}@`))) continue;
      const at = img.sources.find((s) => s.kind === 'rendered');
      if (at) at.prefixFrom = c.path;
    }
  }
}

export function renderOptions(opts: DiscoverOptions): RenderOptions {
  return {
    values: (opts.values ?? []).map((u) => ({ name: u.file, data: u.text ?? (toGoData(u.values, true) as Record<string, unknown>) })),
    set: opts.set,
    setString: opts.setString,
    kubeVersion: opts.kubeVersion,
    kubeVersionAdvice: opts.kubeVersionAdvice,
    apiVersions: opts.apiVersions,
    releaseName: opts.releaseName,
    namespace: opts.namespace,
  };
}

const CERTAINTY_RANK: Record<Certainty, number> = { certain: 0, test: 1, possible: 2 };

/** The order of a discovery's images: certain, test hooks, possible; by reference within each. */
export function imageOrder(a: DiscoveredImage, b: DiscoveredImage): number {
  return CERTAINTY_RANK[a.certainty] - CERTAINTY_RANK[b.certainty] || (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0);
}
const ROLE_RANK: Record<ImageRole, number> = { workload: 0, 'custom-resource': 1, operator: 2, 'test-hook': 3 };

function repoKey(ref: string): { repo: string; tag?: string; digest?: string } | undefined {
  try {
    const r = parseImageReference(ref);
    return { repo: r.repository, tag: r.tag, digest: r.digest };
  } catch {
    return undefined;
  }
}

/** The same image up to the registry (a values map and a template that adds the registry). */
function sameImage(a: string, b: string): boolean {
  const x = repoKey(a);
  const y = repoKey(b);
  if (!x || !y) return false;
  const tail = (r: string) => r.split('/').slice(-1)[0];
  return (x.repo === y.repo || tail(x.repo) === tail(y.repo)) && (x.tag ?? '') === (y.tag ?? '') && (x.digest ?? '') === (y.digest ?? '');
}

function sameRepository(a: string, b: string): boolean {
  const x = repoKey(a);
  const y = repoKey(b);
  return Boolean(x && y && x.repo === y.repo);
}

function stripTag(ref: string): string {
  const r = repoKey(ref);
  if (!r) return ref;
  const p = parseImageReference(ref);
  return `${p.registry}/${p.repository}${p.digest ? `@${p.digest}` : ''}`;
}

function sourceOf(chart: LoadedChart, f: RenderedFinding, reason?: string, certainty?: Certainty): ImageSource {
  const d = f.doc;
  const ns = d.namespace ? `${d.namespace}/` : '';
  return {
    kind: 'rendered',
    chart: [chart.metadata.name, ...d.scope].join(' > '),
    chartName: d.scope.length ? d.chart.split('/').pop()! : chart.metadata.name,
    chartVersion: chart.metadata.version,
    scope: d.scope,
    file: d.source.split('/').slice(1).join('/'),
    line: f.line,
    resource: `${d.apiVersion ?? '?'} ${d.kind ?? '?'} ${ns}${d.name ?? '?'}`,
    fieldPath: f.fieldPath,
    role: f.role,
    hook: d.hook,
    certainty: certainty ?? f.certainty,
    reason: reason ?? f.reason,
    // `global` is one map for the top chart and every subchart.
    ...(f.prefixKey ? { prefixFrom: f.prefixKey.startsWith('global.') ? f.prefixKey : [...d.scope, f.prefixKey].join('.') } : {}),
  };
}

/** `a.b.enabled is false` → `a.b.enabled`; the values finder's reasons name the switch. */
function switchOf(reason: string | undefined): string | undefined {
  const m = /^(.+\.enabled) is false$/.exec(reason ?? '');
  return m && m[1] !== '(root).enabled' ? m[1] : undefined;
}

function setPath(into: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = into;
  for (const p of parts.slice(0, -1)) {
    if (typeof cur[p] !== 'object' || cur[p] === null || Array.isArray(cur[p])) setKey(cur, p, {});
    cur = cur[p] as Record<string, unknown>;
  }
  setKey(cur, parts[parts.length - 1], value);
}

/**
 * Of image keys matched to a rendered image by repository alone (the tags differ), those no
 * template reads: one render with each key's repository set to a probe name of its own; a key
 * whose probe name appears nowhere in it deploys nothing, and the rendered image with the same
 * repository comes from the templates themselves (a hard-coded `image:` beside an unused
 * `image.repository`). Keys the probe cannot set (list items, no repository sub-key) are taken as
 * read, as before, unless `unprobedUnread` (keys in a switched-off section); charts that refuse the
 * probe render are taken as read.
 */
function keysNotRead(render: ChartRenderer, base: RenderOptions, sources: ImageSource[], unprobedUnread = false): Set<ImageSource> {
  const probed: Array<{ s: ImageSource; name: string }> = [];
  const on: Record<string, unknown> = {};
  const unprobed = new Set<ImageSource>();
  for (const s of sources) {
    const p = s.valuesPath;
    if (!p || p.includes('[')) {
      unprobed.add(s);
      continue;
    }
    if (probed.some((x) => x.s.valuesPath === p)) continue;
    const name = `ferry-probe/k${probed.length}-unread`;
    if (s.form === 'string') setPath(on, p, `${name}:probe`);
    else if (s.form === 'map' && s.keys && (s.keys.repository !== undefined || s.keys.repo !== undefined || s.keys.image !== undefined) && s.keys.name === undefined && s.keys.fullImageName === undefined) {
      setPath(on, `${p}.${s.keys.repository !== undefined ? 'repository' : s.keys.repo !== undefined ? 'repo' : 'image'}`, name);
    } else {
      unprobed.add(s);
      continue;
    }
    probed.push({ s, name });
  }
  // Keys the probe cannot set: read, unless the caller already knows they are switched off.
  const unread = new Set<ImageSource>(unprobedUnread ? unprobed : []);
  if (!probed.length) return unread;
  const result = probeRender(render, base, on);
  if (!result) return unread;
  const refs = findRenderedImages(result.documents).map((f) => f.ref);
  for (const { s, name } of probed) if (!refs.some((r) => r.includes(`/${name}`))) unread.add(s);
  // Keys sharing a path with a probed one share its verdict.
  for (const s of sources) if (!probed.some((x) => x.s === s) && probed.some((x) => x.s.valuesPath === s.valuesPath && unread.has(x.s))) unread.add(s);
  return unread;
}

/**
 * Image maps with a `registry` key attached to a rendered image that does not spell that registry
 * (testkube's `image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"` beside `registry:
 * docker.io`): one render with each such map's registry and repository set to probe names of its
 * own; a map whose repository shows up without its host has a registry no template reads (a map
 * read not at all is left to the other checks), and a values file that
 * moves it by its registry moves nothing. Charts that refuse the probe render are left as they are.
 */
function markUnreadRegistries(render: ChartRenderer, base: RenderOptions, images: Map<string, DiscoveredImage>, found: RenderedFinding[]): void {
  const suspects: ImageSource[] = [];
  for (const img of images.values()) {
    const raws = found.filter((f) => f.ref === img.ref).map((f) => f.raw);
    if (!raws.length) continue;
    for (const s of img.sources) {
      const reg = s.kind === 'values' && s.form === 'map' && !s.registryFrom ? s.keys?.registry : undefined;
      if (!reg || s.keys?.repository === undefined || !s.valuesPath || s.valuesPath.includes('[')) continue;
      if (raws.some((r) => r.startsWith(`${reg}/`))) continue;
      suspects.push(s);
    }
  }
  if (!suspects.length) return;
  const on: Record<string, unknown> = {};
  const hosts = new Map<string, string>();
  for (const s of suspects) {
    if (hosts.has(s.valuesPath!)) continue;
    const host = `ferry-probe-r${hosts.size}.example`;
    hosts.set(s.valuesPath!, host);
    setPath(on, `${s.valuesPath}.registry`, host);
    setPath(on, `${s.valuesPath}.repository`, `${host.split('.')[0]}-repo/x`);
  }
  const result = probeRender(render, base, on);
  if (!result) return;
  const raws = findRenderedImages(result.documents).map((f) => f.raw);
  for (const s of suspects) {
    const host = hosts.get(s.valuesPath!)!;
    // Only a map the templates do read (its repository shows up) and whose registry they drop.
    if (raws.some((r) => r.includes(`${host.split('.')[0]}-repo/x`)) && !raws.some((r) => r.includes(host))) s.registryUnread = true;
  }
}

/** Render again with the switches on; undefined when the chart refuses (missing required values…). */
function probe(render: ChartRenderer, base: RenderOptions, switches: string[]): RenderResult | undefined {
  if (switches.length === 0) return undefined;
  const on: Record<string, unknown> = {};
  for (const s of switches) setPath(on, s, true);
  return probeRender(render, base, on);
}

/**
 * Images a chart's own server starts at runtime from its values, which no template renders as a
 * container image: zero-to-jupyterhub's hub (KubeSpawner) reads `singleuser.image` and the
 * `singleuser.profileList` images users pick from the values it is handed in a Secret, so with
 * the pre-pullers off (a lab pulling multi-GB notebook images on demand) no template names them.
 */
function spawnedImage(s: ImageSource): string | undefined {
  if (s.chartName !== 'jupyterhub' || !s.keyPath) return undefined;
  if (
    s.keyPath === 'singleuser.image' ||
    s.keyPath === 'hub.config.KubeSpawner.image' ||
    /^singleuser\.profileList\[\d+\]\.(kubespawner_override|profile_options\.[^.]+\.choices\.[^.]+\.kubespawner_override)\.image$/.test(s.keyPath)
  )
    return "JupyterHub's spawner starts user servers with it (the hub reads it from its values at runtime; no template names it)";
  return undefined;
}

function combine(chart: LoadedChart, rendered: RenderResult, fromValues: DiscoveryResult, renderOpts: RenderOptions, render: ChartRenderer): DiscoveryResult {
  const images = new Map<string, DiscoveredImage>();
  const seen = new Set<string>();
  const add = (ref: string, s: ImageSource) => {
    let img = images.get(ref);
    if (!img) images.set(ref, (img = { ref, certainty: s.certainty, sources: [] }));
    const key = `${ref}\u0000${s.kind}\u0000${s.file}\u0000${s.line}\u0000${s.valuesPath}\u0000${s.resource}\u0000${s.fieldPath}`;
    if (seen.has(key)) return;
    seen.add(key);
    img.sources.push(s);
    if (CERTAINTY_RANK[s.certainty] < CERTAINTY_RANK[img.certainty]) img.certainty = s.certainty;
    if (s.role && (!img.role || ROLE_RANK[s.role] < ROLE_RANK[img.role])) img.role = s.role;
  };
  const valueSources = fromValues.images.flatMap((i) => i.sources.filter((s) => s.kind === 'values').map((s) => ({ ref: i.ref, s })));
  const attributed = new Set<ImageSource>();
  // A key inside a section switched off (`enabled: false` beside it) that names the very image
  // a template hard-codes (dysnix's bsc: `autoScaleTrigger.containers[0].image: busybox` and an
  // init container's `image: busybox`) did not deploy it: unless a probe render shows the key is
  // read after all, it is no key of the rendered image.
  const switchedOff = valueSources.filter((v) => switchOf(v.s.reason));
  const offUnread = switchedOff.length ? keysNotRead(render, renderOpts, switchedOff.map((v) => v.s), true) : new Set<ImageSource>();
  const attribute = (ref: string, certainty: Certainty, reason?: string) => {
    const exact = valueSources.filter((v) => v.ref === ref && !offUnread.has(v.s));
    const close = exact.length ? exact : valueSources.filter((v) => sameImage(v.ref, ref));
    for (const v of close) {
      attributed.add(v.s);
      add(ref, { ...v.s, certainty, reason, ...(v.ref !== ref ? { valuesRef: v.ref } : {}) });
    }
  };

  const found = findRenderedImages(rendered.documents, rendered.warnings);
  // A string handed to an operator that a values key names an image, spelled exactly: certain.
  const namedByValues = new Set(valueSources.map((v) => v.ref));
  for (const f of found) {
    if (f.role === 'operator' && f.certainty === 'possible' && namedByValues.has(f.ref)) add(f.ref, sourceOf(chart, f, 'handed to the operator; a values image key sets exactly this reference', 'certain'));
    else add(f.ref, sourceOf(chart, f));
  }
  // The bare name istiod's injector puts behind the hub (`global.proxy.image: proxyv2`) is that
  // injected image's, not an image of its own (Istio's defaults sit under `_internal_defaults_do_not_set`).
  for (const f of found) {
    if (!f.nameKeys) continue;
    const name = parseImageReference(f.ref).repository.split('/').pop();
    for (const v of valueSources) if (f.nameKeys.some((k) => v.s.valuesPath === k || v.s.valuesPath?.endsWith(`.${k}`)) && v.ref.split('/').pop()?.split(/[:@]/)[0] === name) attributed.add(v.s);
  }
  for (const ref of new Set(found.map((f) => f.ref))) attribute(ref, images.get(ref)!.certainty === 'possible' ? 'possible' : images.get(ref)!.certainty);
  // A key whose repository a rendered image in the same (sub)chart uses, with a tag the templates
  // composed otherwise (a suffix, a default): it set that image, not another one.
  const byRepository = valueSources
    .filter((v) => !attributed.has(v.s))
    .map((v) => ({ v, f: found.find((x) => sameRepository(x.ref, v.ref) && x.doc.scope.join('.') === v.s.scope.join('.')) }))
    .filter((x): x is { v: (typeof valueSources)[number]; f: RenderedFinding } => x.f !== undefined);
  const unread = keysNotRead(render, renderOpts, byRepository.map((x) => x.v.s));
  for (const { v, f } of byRepository) {
    if (unread.has(v.s) || offUnread.has(v.s)) continue;
    attributed.add(v.s);
    const img = images.get(f.ref)!;
    img.sources.push({ ...v.s, certainty: img.certainty, reason: undefined, valuesRef: v.ref });
  }
  markUnreadRegistries(render, renderOpts, images, found);
  const renderedRefs = new Set(images.keys());

  // Image keys in the values that this render does not deploy: render with their switches on to
  // learn what they would deploy (the real tag), and say which switch.
  const unrendered = valueSources.filter((v) => !attributed.has(v.s));
  const switches = [...new Set(unrendered.map((v) => switchOf(v.s.reason)).filter((x): x is string => Boolean(x)))].sort();
  // a subchart switched off by its condition: its switch, and which subchart it brings
  const depSwitch = new Map<string, string>();
  for (const d of rendered.disabled) {
    if (d.chart !== chart.metadata.name) continue;
    const cond = chartDependencies(chart).find((c) => (c.alias || c.name) === d.dependency)?.condition?.split(',')[0]?.trim();
    if (cond) {
      switches.push(cond);
      depSwitch.set(d.dependency, cond);
    }
  }
  // All switches in one render; when the chart refuses that (two features that exclude each
  // other, a value a feature requires), split the switches in halves until each part renders.
  const probeFindings: Array<{ f: RenderedFinding; switches: string[] }> = [];
  let budget = 24;
  const probeAll = (on: string[]) => {
    if (on.length === 0 || budget <= 0) return;
    budget--;
    const probed = probe(render, renderOpts, on);
    if (probed) {
      for (const f of findRenderedImages(probed.documents)) probeFindings.push({ f, switches: on });
      return;
    }
    if (on.length === 1) return;
    probeAll(on.slice(0, on.length >> 1));
    probeAll(on.slice(on.length >> 1));
  };
  probeAll(switches);
  for (const { f, switches: on } of probeFindings) {
    if (renderedRefs.has(f.ref)) continue;
    const because = unrendered.filter((v) => v.ref === f.ref || sameImage(v.ref, f.ref) || (sameRepository(v.ref, f.ref) && switchOf(v.s.reason) && on.includes(switchOf(v.s.reason)!)));
    let named = [...new Set(because.map((v) => switchOf(v.s.reason)).filter((x): x is string => Boolean(x)))];
    // else: the switch of the disabled subchart it comes from, or the switches inside its scope
    const scope = f.doc.scope;
    if (!named.length && scope.length && depSwitch.has(scope[0]) && on.includes(depSwitch.get(scope[0])!)) named = [depSwitch.get(scope[0])!];
    if (!named.length && scope.length) named = on.filter((sw) => sw.startsWith(`${scope.join('.')}.`));
    const list = (named.length ? named : on).map((s) => `${s}=true`).join(', ');
    const reason = named.length || on.length === 1 ? `not deployed with these values; deployed with ${list}` : `not deployed with these values; deployed when one of these is on: ${list}`;
    add(f.ref, sourceOf(chart, f, reason, 'possible'));
    for (const v of because) {
      attributed.add(v.s);
      add(f.ref, { ...v.s, certainty: 'possible', reason });
    }
  }
  // What remains: keys no render deployed. Never a guessed tag: a tag the values leave to the
  // templates is dropped.
  for (const v of valueSources) {
    if (attributed.has(v.s)) continue;
    // Switched off, naming an image the templates deploy from elsewhere: not that image's key.
    if (offUnread.has(v.s) && renderedRefs.has(v.ref)) continue;
    const guessed = v.s.tagFromAppVersion;
    const ref = guessed ? stripTag(v.ref) : v.ref;
    const spawned = !guessed && !v.s.reason ? spawnedImage(v.s) : undefined;
    if (spawned) {
      add(ref, { ...v.s, certainty: 'certain', reason: spawned });
      continue;
    }
    const why = v.s.reason ? `not deployed with these values (${v.s.reason})` : 'an image key no rendered template reads with these values';
    add(ref, { ...v.s, certainty: 'possible', reason: guessed ? `${why}; the tag is chosen by the chart's templates` : why });
  }
  // Chart annotations and Images.lock name images upstream: they back a rendered image (the same
  // repository and tag, any registry) or stay possible.
  for (const i of fromValues.images) {
    for (const s of i.sources) {
      if (s.kind !== 'annotation' && s.kind !== 'images-lock') continue;
      const backs = [...images.values()].find((img) => img.ref === i.ref) ?? [...images.values()].find((img) => sameImage(img.ref, i.ref));
      if (backs) {
        backs.sources.push({ ...s, certainty: backs.certainty });
        continue;
      }
      add(i.ref, { ...s, certainty: 'possible', reason: `listed in ${s.kind === 'annotation' ? 'the chart annotation' : 'Images.lock'}, not in the render with these values` });
    }
  }

  const result: DiscoveryResult = {
    chart: fromValues.chart,
    images: [...images.values()].sort(imageOrder),
    skippedSubcharts: rendered.disabled.map((d) => ({ chart: d.chart.split('/charts/').concat(d.dependency).join(' > '), reason: d.reason })),
    missingDependencies: fromValues.missingDependencies,
    rendered: { kubeVersion: rendered.kubeVersion, documents: rendered.documents.length, warnings: rendered.warnings },
  };
  const injected = findInjectedPlaceholders(rendered.documents).map((p) => {
    const s = sourceOf(chart, { ref: 'auto', raw: 'auto', doc: p.doc, fieldPath: p.fieldPath, role: 'workload', certainty: 'certain', line: p.line });
    return { resource: s.resource!, file: s.file!, line: p.line, fieldPath: p.fieldPath, requestedBy: p.requestedBy };
  });
  if (injected.length) result.injected = injected;
  const injects = [...new Set(found.filter((f) => f.doc.kind === 'ConfigMap' && f.fieldPath === 'data.values' && f.certainty === 'certain' && f.reason?.startsWith(INJECTED_REASON)).map((f) => f.ref))].sort();
  if (injects.length) result.injects = injects;
  return result;
}
