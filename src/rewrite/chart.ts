import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Document, isMap, isScalar, isSeq } from 'yaml';
import { parseHostileDocument, parseHostileYaml } from '../manifest/yaml-input.js';
import { FerryError, isFerryError } from '../errors.js';
import { discoverChartImages, discoverFromValues, findRenderedImages, firstIsHost, renderOptions, userValues, type DiscoverOptions, type DiscoveryResult, type ImageSource, type UserValues } from '../kinds/chart/discover.js';
import { renderChart, type RenderedDocument } from '../kinds/chart/render/index.js';
import { NODE_OS_REASON, normalizeRef } from '../kinds/chart/discover/rendered.js';
import { defaultImagesOf, isOperatorKind } from '../kinds/image/operator-images.js';
import { chartDependencies, loadChart, type LoadedChart } from '../kinds/chart/load.js';
import { asString, isValueMap, mergeValues, originOf, parseValues, valueAt, type ValueMap } from '../kinds/chart/values.js';
import { chartOciReference, mapChartHttp, mapImage } from '../mapping/index.js';
import { parseImageReference } from '../oci/reference.js';
import type { RewriteContext } from './context.js';
import { applyTextEdits, finishRewrite, lineIndex, readText, readTextIfExists, type FileChange, type Replacement, type RewriteResult, type TextEdit, type Unmapped } from './edits.js';
import { scalarEdit } from './yaml-text.js';
import { lockEntries } from '../kinds/schema.js';
import type { ChartLock } from '../kinds/chart/lock.js';
import { imagePathOutcomes } from '../kinds/chart/discover/jsonpath.js';
import { overrideText } from './values.js';
import { shellQuote } from '../ui/shell-quote.js';

export interface RewriteChartOptions {
  output?: string;
  /** Values files the chart is deployed with (merged over the defaults, later wins). */
  values?: string[];
  dryRun?: boolean;
  allowUnmapped?: boolean;
  /** Also point the chart directory's Chart.yaml dependency repositories at the mirror (in place). */
  chartYaml?: boolean;
  /** How to render the chart for discovery and for the proof (helm template's -n, --kube-version, …). */
  render?: Pick<DiscoverOptions, 'namespace' | 'releaseName' | 'kubeVersion' | 'apiVersions' | 'set' | 'setString'>;
  /** The chart already loaded (fetched from a registry or repository); `chartPath` then only names it. */
  loaded?: LoadedChart;
}

export interface ChartRepoMapping {
  dependency: string;
  chart: string;
  upstream: string;
  mirror?: string;
  vendored: boolean;
}

export interface ChartRewriteResult extends RewriteResult {
  override?: string;
  /** The override as data (what `helm -f` merges). */
  overrideValues: Record<string, unknown>;
  chartRepos: ChartRepoMapping[];
}

/**
 * The override is proven with the values it was made with (a `-f` file can switch an image on,
 * a `--set` can make another key win), so the install must pass the same ones: named here, the
 * files as given and the `--set` flags by kind only (their values may be secrets).
 */
function passItLast(opts: RewriteChartOptions): string {
  const files = (opts.values ?? []).map((f) => `-f ${shellQuote(f)} `).join('');
  const sets = [opts.render?.set?.length ? '--set' : '', opts.render?.setString?.length ? '--set-string' : ''].filter(Boolean);
  const same = sets.length ? `# with the same ${sets.join(' and ')} flags as \`ferry rewrite chart\` was given (Helm applies them over every -f)\n` : '';
  return `# Pass it last, after the values it was made with: helm install … ${files}-f <this file>\n${same}`;
}

type Path = Array<string | number>;

/** `a.b["c.d"][0].e` or `a.b."c.d"[0].e` (discovery's joinPath) → ['a', 'b', 'c.d', 0, 'e']. */
export function parseValuesPath(p: string): Path {
  const out: Path = [];
  const re = /([A-Za-z_][\w-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|("(?:[^"\\]|\\.)*")|\./g;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = re.exec(p))) {
    if (m.index !== pos) throw new FerryError('INTERNAL', `values path ${p}: cannot parse at ${pos}`);
    pos = re.lastIndex;
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else if (m[3] !== undefined) out.push(JSON.parse(m[3]) as string);
    else if (m[4] !== undefined) out.push(JSON.parse(m[4]) as string);
  }
  if (pos !== p.length) throw new FerryError('INTERNAL', `values path ${p}: cannot parse at ${pos}`);
  return out;
}

function getIn(root: unknown, p: Path): unknown {
  let cur = root;
  for (const k of p) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

function setIn(root: Record<string, unknown>, p: Path, value: unknown): void {
  let cur: Record<string, unknown> = root;
  for (let i = 0; i < p.length - 1; i++) {
    const k = String(p[i]);
    if (!cur[k] || typeof cur[k] !== 'object') cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[String(p[p.length - 1])] = value;
}

/**
 * One override for a chart and its subcharts. Discovery says where every image comes from
 * (values key paths, scoped the way Helm scopes subcharts); the override sets exactly the keys
 * that make each of those images resolve to its mirror location, and nothing else.
 */
export async function rewriteChart(chartPath: string, ctx: RewriteContext, opts: RewriteChartOptions): Promise<ChartRewriteResult> {
  const chart = opts.loaded ?? (await loadChart(chartPath, { allFiles: true }));
  const users: UserValues[] = [];
  const userTexts: string[] = [];
  for (const f of opts.values ?? []) {
    const text = await readText(path.resolve(f), 'values file');
    userTexts.push(text);
    // Named as given, unless that is also the name of a chart file (`-f values.yaml` beside the
    // chart's own values.yaml): then `./values.yaml`, so neither is reported as the other.
    const clash = !path.isAbsolute(f) && !/^\.\.?[\\/]/.test(f) && (chart.files.has(f) || f.startsWith('charts/'));
    users.push(userValues(text, clash ? `./${f}` : f));
  }
  const { override, replacements, unmapped, warnings, discovery, setBy } = chartOverride(chart, ctx, users, chartPath, userTexts, opts.render);
  // The proof: render the chart with the override; every image it runs must be on the mirror.
  let proven: RenderedDocument[] | undefined;
  if (discovery.rendered) {
    proveByRendering(chart, ctx, users, override, setBy, chartPath, replacements, unmapped, opts.render ?? {});
    proven = renderWith(chart, users, override, opts.render ?? {}).documents;
    warnings.push(...unreadableImages(proven), ...operatorDefaultImages(proven));
  }
  else if (discovery.renderError) warnings.push(`the chart does not render with these values and release settings (${discovery.renderError}); the override comes from the values alone and is not proven by rendering`);
  warnings.push(...imagePathImagesLeft(chart, ctx, proven));
  // Not read, so not covered: said, never left for the override to look complete (helm install refuses the chart too).
  for (const d of discovery.missingDependencies) {
    warnings.push(`dependency ${d.dependency}${d.version ? ` ${d.version}` : ''} of ${d.chart}${d.repository ? ` (${d.repository})` : ''} is not vendored under charts/: its images were not read, so the override does not cover them (helm install refuses the chart until it is there); run \`helm dependency build\` on the chart and rewrite again`);
  }

  const chartRepos = dependencyRepos(chart, ctx);
  const doc = new Document(override);
  const text = overrideText(doc, `# Mirror override generated by ferry for chart ${chart.metadata.name} ${chart.metadata.version} and target ${ctx.target.metadata.name}.\n${passItLast(opts)}`);
  const changes: FileChange[] = [];
  if (opts.output) {
    const out = path.resolve(opts.output);
    changes.push({ file: out, before: await readTextIfExists(out), after: text });
  }
  if (opts.chartYaml) {
    // A repository already on the mirror stays as it is (rewriting twice changes nothing).
    const mirrorPrefixes = [ctx.mapping.host ? `oci://${ctx.mapping.host}/` : undefined, ctx.target.charts?.baseUrl].filter((p): p is string => Boolean(p));
    const onMirror = (url: string) => mirrorPrefixes.some((p) => url.startsWith(p));
    changes.push(...(await chartYamlChanges(chartPath, chart, chartRepos, onMirror, replacements, warnings)));
  }
  const result = await finishRewrite(changes, replacements, unmapped, { ...opts, warnings });
  return { ...result, override: text, overrideValues: override, chartRepos };
}

export function chartOverride(chart: LoadedChart, ctx: RewriteContext, users: UserValues[], where = chart.where, userTexts: string[] = [], render: RewriteChartOptions['render'] = {}) {
  let discovery: DiscoveryResult;
  try {
    discovery = discoverChartImages(chart, { ...render, values: users });
  } catch (err) {
    if (!isFerryError(err, 'VALIDATION') || !chart.raw) throw err;
    discovery = { ...discoverFromValues(chart, { values: users }), renderError: err.message };
  }
  const override: Record<string, unknown> = {};
  const replacements: Replacement[] = [];
  const unmapped: Unmapped[] = [];
  const warnings: string[] = [];
  const setBy = new Map<string, string>();
  // the chart's own files are named under the chart; the user's values files as they were given
  const given = new Set(users.map((u) => u.file));
  const file = (s: ImageSource) => (given.has(s.file) ? s.file : path.join(where, s.file));

  const set = (p: Path, value: string, image: string, s: ImageSource, kind: Replacement['kind'], old: string): boolean => {
    const key = JSON.stringify(p);
    const prev = setBy.get(key);
    if (prev !== undefined && getIn(override, p) !== value) {
      unmapped.push({ file: file(s), line: s.line ?? 0, kind: 'image', ref: image, reason: `${p.join('.')} also serves ${prev}, which maps elsewhere on the mirror; one value cannot point both at the mirror`, where: s.valuesPath });
      return false;
    }
    if (prev === undefined) replacements.push({ file: file(s), line: s.line ?? 0, kind, old, new: value, where: p.join('.') });
    setBy.set(key, image);
    setIn(override, p, value);
    return true;
  };

  for (const img of discovery.images) {
    // Keys whose values spell the image differently from the render are left to the render proof.
    const valueSources = img.sources.filter((s) => s.kind === 'values' && s.valuesPath && !s.valuesRef);
    // The GPU operator's driver (`{repository, image, version}` in the ClusterPolicy) is pulled as
    // `<version>-<node OS>`: the manifest lists those tags, so the repository is what must be on the mirror.
    const nodeOs = img.certainty !== 'certain' && img.sources.some((s) => s.reason?.startsWith(NODE_OS_REASON));
    const look = ctx.lookupImage(nodeOs ? { ...parseImageReference(img.ref), tag: undefined } : img.ref);
    if (look.status === 'mirror') continue;
    if (nodeOs && look.status !== 'unmapped' && !carriesNodeOsTag(ctx, img.ref)) {
      // The repository moves, but the mirror has no `<tag>-<node OS>` of it: the GPU nodes' pull would fail there.
      const s = valueSources[0] ?? img.sources[0];
      unmapped.push({
        file: file(s),
        line: s.line ?? 0,
        kind: 'image',
        ref: img.ref,
        reason: `the GPU operator pulls ${img.ref}-<node OS>, and the lock carries no such tag: list \`- ref: ${img.ref}-ubuntu24.04\` (each OS the GPU nodes run) in the manifest and lock again`,
        where: s.valuesPath ?? s.keyPath,
      });
    }
    if (look.status === 'unmapped') {
      if (img.certainty === 'certain') {
        const s = valueSources[0] ?? img.sources[0];
        unmapped.push({ file: file(s), line: s.line ?? 0, kind: 'image', ref: img.ref, reason: look.reason, where: s.valuesPath ?? s.keyPath });
      }
      continue;
    }
    if (!valueSources.length) {
      // No values key is known to set it: the render with the override says whether one was found.
      continue;
    }
    const ref = parseImageReference(img.ref);
    for (const s of valueSources) {
      const p = parseValuesPath(s.valuesPath!);
      const keyP = parseValuesPath(s.keyPath ?? s.valuesPath!);
      const firstIndex = keyP.findIndex((k) => typeof k === 'number');
      if (firstIndex >= 0) {
        // Helm replaces lists wholesale: the override carries the whole list, with real YAML types.
        const listKey = [...s.scope, ...keyP.slice(0, firstIndex)];
        if (!Array.isArray(getIn(override, listKey))) {
          const list = getIn(typedScopedValues(chart, userTexts, s.scope), keyP.slice(0, firstIndex));
          if (!Array.isArray(list)) {
            unmapped.push({ file: file(s), line: s.line ?? 0, kind: 'image', ref: img.ref, reason: 'inside a list ferry could not read back; set it in your own values', where: s.valuesPath });
            continue;
          }
          setIn(override, listKey, structuredClone(list));
        }
      }
      const location = look.pathPrefix ? `${look.host}/${look.pathPrefix}` : look.host;
      if (s.form === 'string') {
        const tagKey = s.keys?.tag;
        if (tagKey && s.keys?.image) {
          // `{{ image }}:{{ imageTag }}`: the image key takes the mirror path (and `@sha256` when the
          // tag key holds a digest's hex); the tag key keeps its value unless the digest changed.
          const tagPath = [...p.slice(0, -1), tagKey];
          if (ref.digest && !ref.tag) {
            const [algo, hex] = look.mirrorRef.digest!.split(':');
            set(p, `${look.host}/${look.mirrorRef.repository}@${algo}`, img.ref, s, 'image', img.ref);
            if (look.digestChanged) set(tagPath, hex, img.ref, s, 'digest', ref.digest.split(':')[1]);
          } else set(p, `${look.host}/${look.mirrorRef.repository}`, img.ref, s, 'image', img.ref);
          continue;
        }
        set(p, look.mirror, img.ref, s, look.digestChanged ? 'digest' : 'image', img.ref);
        continue;
      }
      const keys = s.keys ?? {};
      if (keys.repository && keys.image && !keys.registry && !keys.tag && !keys.name && !keys.digest) {
        // NVIDIA style `{{ repository }}/{{ image }}:{{ version }}`: the repository key becomes the
        // mirror path before the image's last component, which stays as the chart wrote it.
        const last = ref.repository.split('/').pop()!;
        const mirrorRepo = look.mirrorRef.repository;
        if (mirrorRepo.endsWith(`/${last}`)) set([...p, 'repository'], `${look.host}/${mirrorRepo.slice(0, -last.length - 1)}`, img.ref, s, 'image', img.ref);
        // The mirror renames the image itself: the chart's `image` key would have to change too, which the render would refuse.
        else unmapped.push({ file: file(s), line: s.line ?? 0, kind: 'image', ref: img.ref, reason: `the mirror stores it as ${look.mirrorRef.repository}, not under the name ${last} the chart's image key keeps; set ${s.valuesPath} yourself`, where: s.valuesPath });
        continue;
      }
      if (!s.registryFrom && keys.image && !keys.registry && !keys.repository && !keys.repo) {
        // `{image: mysql, tag: "8.0"}` rendered `{{ image }}:{{ tag }}`: the image key takes the mirror path.
        set([...p, 'image'], `${look.host}/${look.mirrorRef.repository}`, img.ref, s, 'image', img.ref);
        if (look.digestChanged && keys.digest) set([...p, 'digest'], look.mirrorRef.digest!, img.ref, s, 'digest', ref.digest!);
        continue;
      }
      if (s.registryFrom) {
        // global.* flows down from the top chart; other registry keys are already scoped.
        const regPath = parseValuesPath(s.registryFrom);
        if (!set(regPath, location, img.ref, s, 'registry', ref.registry)) continue;
      } else if (keys.registry || keys.image || !keys.repository) {
        set([...p, 'registry'], location, img.ref, s, 'registry', ref.registry);
      } else {
        // `{repository: k8s.gcr.io/x@sha256, tag: <hex>}` (`{{ repository }}:{{ tag }}`): the repository
        // keeps its `@sha256`, the tag the stored digest's hex.
        const repoValue = asString(valueAt(scopedValues(chart, users, s.scope), [s.keyPath, 'repository'].join('.')));
        const algo = ref.digest && !ref.tag && keys.tag ? /@([a-z0-9]+)$/.exec(repoValue?.trim() ?? '')?.[1] : undefined;
        set([...p, 'repository'], `${look.host}/${look.mirrorRef.repository}${algo ? `@${algo}` : ''}`, img.ref, s, 'image', img.ref);
        if (algo && look.digestChanged) set([...p, 'tag'], look.mirrorRef.digest!.split(':')[1], img.ref, s, 'digest', ref.digest!.split(':')[1]);
        if (look.digestChanged && keys.digest) set([...p, 'digest'], look.mirrorRef.digest!, img.ref, s, 'digest', ref.digest!);
        continue;
      }
      // With the registry key pointing at the mirror path, the repository must spell the upstream
      // repository in full: Docker Hub's library/, and no registry of its own.
      if (keys.repository && !keys.name) {
        const repoValue = asString(valueAt(scopedValues(chart, users, s.scope), [s.keyPath, 'repository'].join('.')));
        if (repoValue !== undefined && (firstIsHost(repoValue) || repoValue.replace(/[:@].*$/, '') !== ref.repository)) {
          set([...p, 'repository'], ref.repository, img.ref, s, 'image', repoValue);
        }
      }
      if (look.digestChanged && keys.digest) set([...p, 'digest'], look.mirrorRef.digest!, img.ref, s, 'digest', ref.digest!);
    }
  }
  // Images only `helm test` runs are not carried unless the manifest lists them: say so, since
  // the override may point them at the mirror (a shared registry key) or leave them upstream.
  const tests = discovery.images.filter((i) => i.certainty === 'test' && ctx.lookupImage(i.ref).status === 'unmapped').map((i) => i.ref);
  if (tests.length) warnings.push(`${tests.length === 1 ? 'an image' : `${tests.length} images`} only \`helm test\` runs (test hooks) ${tests.length === 1 ? 'is' : 'are'} not on the mirror: ${tests.join(', ')}; set \`testImages: carry\` on the chart in the manifest (or list ${tests.length === 1 ? 'it' : 'them'} under images:) and lock again to carry ${tests.length === 1 ? 'it' : 'them'}, or do not run \`helm test\` at the site`);
  // Images the rendered objects name but discovery does not count as deployed (a custom resource's
  // component beside `enabled: false`): the lock does not carry them, so they stay upstream in the
  // objects Helm installs. Name each, with why it was not counted and the key that sets it.
  const idle = discovery.images.filter((i) => i.certainty === 'possible' && i.sources.some((s) => s.kind === 'rendered') && ctx.lookupImage(i.ref).status === 'unmapped');
  if (idle.length) {
    const about = (i: (typeof idle)[number]) => {
      const r = i.sources.find((s) => s.kind === 'rendered' && s.reason) ?? i.sources.find((s) => s.kind === 'rendered')!;
      const key = i.sources.find((s) => s.kind === 'values' && s.valuesPath)?.valuesPath;
      return `${i.ref} (${[r.resource && r.fieldPath ? `${r.resource} ${r.fieldPath}` : undefined, r.reason, key ? `set by ${key}` : undefined].filter(Boolean).join('; ')})`;
    };
    const n = idle.length;
    warnings.push(`${n === 1 ? 'an image' : `${n} images`} the rendered objects name but ferry does not count as deployed ${n === 1 ? 'is' : 'are'} not on the mirror and stay${n === 1 ? 's' : ''} upstream: ${idle.map(about).join(', ')}; if this installation runs ${n === 1 ? 'it' : 'them'}, list ${n === 1 ? 'it' : 'them'} under images: in the manifest and lock again`);
  }
  // An image an admission webhook fills in is not pulled as written: nothing to override here,
  // but the injected image must be on the mirror too, and the injector's chart decides it.
  for (const i of discovery.injected ?? []) {
    warnings.push(
      `${i.resource} ${i.fieldPath} (${path.join(where, i.file)}${i.line ? `:${i.line}` : ''}): \`image: auto\` is filled in at admission by Istio's sidecar injector (${i.requestedBy}), not pulled as written; the injected proxy image comes from istiod's values (global.hub, global.proxy.image, global.tag): carry and rewrite the istiod chart (\`ferry rewrite chart <istiod chart>\`) so it injects the mirror's proxy image`,
    );
  }
  // Bitnami charts refuse to render when an image was substituted unless this is set; an
  // override that moves their images to the mirror is exactly such a substitution.
  const guard = replacements.length ? allowInsecureImagesKey(chart, '') : undefined;
  if (guard) {
    setIn(override, ['global', 'security', 'allowInsecureImages'], true);
    replacements.push({ file: path.join(where, guard.file), line: guard.line ?? 0, kind: 'image', old: guard.old, new: 'true', where: 'global.security.allowInsecureImages' });
    warnings.push('set global.security.allowInsecureImages: true — Bitnami charts refuse images moved to another registry without it (the mirror holds the same digests)');
  }
  return { override, replacements, unmapped, warnings, discovery, setBy };
}

/**
 * The images the lock carries for this chart only because its entry's `imagePaths` found them
 * (ChartLock.imagePathImages): no values key is known to set them, so the override cannot move
 * them. Each is named with the paths that found it (imagePathSources), unless those paths, read in
 * the render with the override, find it at its mirror location and no longer upstream (a shared
 * registry key moved it): then the render proved it moved.
 */
export function imagePathImagesLeft(chart: LoadedChart, ctx: RewriteContext, proven: readonly RenderedDocument[] | undefined): string[] {
  const out: string[] = [];
  const entries = (lockEntries(ctx.lock, 'charts') as ChartLock[]).filter((c) => c.name === chart.metadata.name && c.version === chart.metadata.version);
  for (const c of entries) {
    for (const ref of c.imagePathImages ?? []) {
      const look = ctx.lookupImage(ref);
      if (look.status === 'mirror') continue;
      const paths = c.imagePathSources?.[ref] ?? [];
      if (proven && paths.length && look.status === 'mapped') {
        const found = new Set(imagePathOutcomes(paths, proven).flatMap((o) => ('refs' in o ? o.refs : [])));
        const mirror = normalizeRef(look.mirror);
        if (mirror !== undefined && found.has(mirror) && !found.has(ref)) continue;
      }
      const by = paths.length ? `imagePaths ${paths.join(', ')}` : 'imagePaths (the lock does not record which: lock again to name them)';
      const where = look.status === 'mapped' ? `point the value that holds it at ${look.mirror} in your values yourself, or let nodes pull it through \`ferry mirror-config\`` : `it is not on the mirror either (${look.reason})`;
      out.push(`${ref} was found only by the chart entry's ${by} and is NOT moved by this override: no values key is known to set it, so the objects Helm installs still name it upstream; ${where}`);
    }
  }
  return out;
}

/**
 * Container images the render leaves as no image reference (a source tree's release placeholder
 * `${HELM_IMAGE_REPO}:${HELM_IMAGE_TAG}`, an unset `:`): nothing the mirror can hold, and nothing a
 * node can pull, so the proof cannot vouch for them. Named, not refused.
 */
function unreadableImages(documents: RenderedDocument[]): string[] {
  const out: string[] = [];
  const walk = (doc: RenderedDocument, node: unknown, at: string): void => {
    if (Array.isArray(node)) return node.forEach((x, i) => walk(doc, x, `${at}[${i}]`));
    if (!isValueMap(node as never)) return;
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      const here = at ? `${at}.${k}` : k;
      if (['containers', 'initContainers', 'ephemeralContainers'].includes(k) && Array.isArray(v)) {
        v.forEach((c, i) => {
          const image = (c as { image?: unknown } | null)?.image;
          if (typeof image === 'string' && normalizeRef(image) === undefined) {
            out.push(`${doc.kind ?? 'document'} ${doc.name ?? ''} ${here}[${i}].image (${doc.source}) renders ${JSON.stringify(image)}, which is no image reference: nothing is moved to the mirror and no node can pull it; set the image in your values (a chart from a source tree may carry release placeholders)`);
          }
        });
      }
      // A custom resource's image its own controller templates at run time (testkube's
      // TestWorkflowTemplate `image: grafana/k6:{{ config.version }}`): the tag is chosen when the
      // workflow runs, so no locked reference is it, and the controller pulls it from upstream.
      else if (k === 'image' && typeof v === 'string' && !/^(?:v1|apps\/v1|batch\/v1)$/.test(doc.apiVersion ?? '')) {
        if (/\{\{|\$\{/.test(v)) out.push(`${doc.kind ?? 'document'} ${doc.name ?? ''} ${here} (${doc.source}) names ${JSON.stringify(v)}, which its controller completes at run time: nothing is moved to the mirror and it is pulled from upstream; set it to a mirror reference (or list the images it may become in the manifest and point it at the mirror)`);
        // A custom resource's image left unset by the values (wikimedia's flink-app FlinkDeployment
        // `image: {{ app.image }}:{{ app.version }}` renders ":latest"): its controller can pull nothing.
        else if (v.trim() && normalizeRef(v) === undefined) out.push(`${doc.kind ?? 'document'} ${doc.name ?? ''} ${here} (${doc.source}) renders ${JSON.stringify(v)}, which is no image reference: nothing is moved to the mirror and its controller can pull nothing; set the image in your values`);
      }
      walk(doc, v, here);
    }
  };
  for (const doc of documents) if (doc.object && !doc.crd && !doc.test && doc.kind !== 'ConfigMap' && doc.kind !== 'Secret') walk(doc, doc.object, '');
  return out;
}

/**
 * Images an operator pulls for a rendered custom resource that names none (an Alloy resource
 * without `image.repository`, a Prometheus without `image`; kinds/image/operator-images.ts): no
 * rendered field holds them, so the proof cannot see them, and the operator pulls them from
 * upstream. Named, with the resource and template.
 */
function operatorDefaultImages(documents: RenderedDocument[]): string[] {
  const out: string[] = [];
  for (const doc of documents) {
    if (!doc.object || doc.crd || doc.test || !isOperatorKind(doc.kind)) continue;
    for (const d of defaultImagesOf(doc.object)) out.push(`${doc.kind} ${doc.name ?? ''} (${doc.source}) ${d.note.replace(/^no /, 'has no ')}`);
  }
  return out;
}

type RenderedFindingLike = ReturnType<typeof findRenderedImages>[number];

function renderWith(chart: LoadedChart, users: UserValues[], override: Record<string, unknown>, render: RewriteChartOptions['render'], extra?: Record<string, unknown>) {
  const values = [...users, { file: '(override)', values: override as ValueMap }];
  if (extra) values.push({ file: '(probe)', values: extra as ValueMap });
  return renderChart(chart, renderOptions({ ...render, values }));
}

const PROBE_HOST = 'ferry-probe.invalid';

/**
 * Which values keys set each rendered image field, found by rendering. Every key named like a
 * registry (at the top, in `global`, in each subchart's scope) gets its own sentinel host, and
 * every string value spelling one of the images in full gets its own sentinel image, all in one
 * render; the sentinel that shows up in a field names the key its templates read.
 */
type KeyKind = 'registry' | 'repository' | 'image';
interface ProbeHit {
  path: Path;
  kind: KeyKind;
  /** The rendered field after the key's value, when the value starts the field. */
  suffix?: string;
}

function keysByRendering(
  chart: LoadedChart,
  users: UserValues[],
  override: Record<string, unknown>,
  values: Record<string, unknown>,
  fullImages: Set<string>,
  repositories: Set<string>,
  render: RewriteChartOptions['render'],
  exclude: ReadonlySet<string> = new Set(),
): { hits: Map<string, ProbeHit>; moved: Map<string, Map<string, ProbeHit>> } | undefined {
  // `empty`: an image key left empty for the template's default, probed on its own afterwards
  const candidates: Array<{ path: Path; kind: KeyKind; empty?: true }> = [];
  const walk = (node: unknown, p: Path, depth: number) => {
    if (depth > 12 || candidates.length >= 400 || typeof node !== 'object' || node === null) return;
    // list items too (a container in `initContainers:` spelling its image): set with the whole list
    const entries: Array<[string | number, unknown]> = Array.isArray(node) ? node.map((v, i) => [i, v]) : Object.entries(node as Record<string, unknown>);
    for (const [k, v] of entries) {
      // globals flow down from the top; a subchart's copy of them is not a key of its own
      if (k === 'global' && p.length > 0 && isSubchartScope(chart, p)) continue;
      if (typeof k === 'number') {
        if (typeof v === 'string' && fullImages.has(v.trim())) candidates.push({ path: [...p, k], kind: 'image' });
        else walk(v, [...p, k], depth + 1);
        continue;
      }
      if (exclude.has(JSON.stringify([...p, k]))) continue;
      // `fullnameOverride: clamav` beside `clamav/clamav`: it names the resources, not an image's
      // registry part, and a sentinel there renames the very objects the probe looks up by name.
      if (/^(full)?nameOverride$/i.test(k)) continue;
      if (typeof v === 'string' && fullImages.has(v.trim())) candidates.push({ path: [...p, k], kind: 'image' });
      else if (typeof v === 'string' && repositories.has(v.trim())) candidates.push({ path: [...p, k], kind: 'repository' });
      // a value that starts an image up to a `/` (Istio's hub: registry.istio.io/release) is its registry part
      else if (typeof v === 'string' && v.trim() && [...fullImages].some((raw) => raw.startsWith(`${v.trim()}/`))) candidates.push({ path: [...p, k], kind: 'registry' });
      else if (/registry/i.test(k) && (typeof v === 'string' || v === null)) candidates.push({ path: [...p, k], kind: 'registry' });
      // an empty image key the template defaults past (yugabyte's `otelCollector.image: ""` before
      // `| default "otel/opentelemetry-collector-contrib:…"`): setting it moves the image
      else if (/image$/i.test(k) && (v === '' || v === null)) candidates.push({ path: [...p, k], kind: 'image', empty: true });
      else walk(v, [...p, k], depth + 1);
    }
  };
  walk(values, [], 0);
  if (candidates.length === 0) return undefined;
  const sentinel = (c: { kind: KeyKind }, i: number) => (c.kind === 'image' ? `r${i}.${PROBE_HOST}/probe:1` : c.kind === 'repository' ? `r${i}.${PROBE_HOST}/probe` : `r${i}.${PROBE_HOST}`);
  const re = new RegExp(`(?:^|/)r(\\d+)\\.${PROBE_HOST.replace(/\./g, '\\.')}(?:/|:|$)`);
  const out = new Map<string, ProbeHit>();
  // every field each key moved (a key shared with fields that need another value must not be set)
  const moved = new Map<string, Map<string, ProbeHit>>();
  const tryRender = (idx: number[]): boolean => {
    const probe: Record<string, unknown> = {};
    for (const i of idx) setInLists(probe, candidates[i].path, sentinel(candidates[i], i), values);
    let rendered;
    try {
      // a probe only detects: the schema may reject a sentinel where the chart would not
      rendered = renderChart(chart, { ...renderOptions({ ...render, values: [...users, { file: '(override)', values: override as ValueMap }, { file: '(probe)', values: probe as ValueMap }] }), skipSchemaValidation: true });
    } catch {
      return false;
    }
    for (const f of findRenderedImages(rendered.documents)) {
      const m = re.exec(f.ref);
      if (!m) continue;
      const c = candidates[Number(m[1])];
      // What the templates write after the key's value (`/name:tag` after a registry that is
      // really `host/namespace`, `:tag` after a repository): the value must be the mirror
      // reference without it, or the chart recombines the pieces into another repository.
      const sent = sentinel(c, Number(m[1]));
      const at = f.raw.indexOf(sent);
      // an empty key counts only where it is the whole image (istio's empty `image:` between a
      // hub and a tag is one piece of a composed reference, found by its hub)
      if (c.empty && f.raw !== sent) continue;
      const hit = { path: c.path, kind: c.kind, suffix: at === 0 ? f.raw.slice(sent.length) : undefined };
      const pk = JSON.stringify(c.path);
      if (!moved.has(pk)) moved.set(pk, new Map());
      moved.get(pk)!.set(findingKey(f), hit);
      if (!out.has(findingKey(f))) out.set(findingKey(f), hit);
    }
    return true;
  };
  const all = candidates.map((_c, i) => i).filter((i) => !candidates[i].empty);
  // all at once; a chart that refuses some sentinel (a `fail` on an odd value): one key at a time
  if (all.length && !tryRender(all)) for (const i of all.slice(0, 40)) tryRender([i]);
  // then the empty image keys, apart: set with the others, one could turn a field composed from
  // them into no reference at all, and lose the hit the others make
  const empties = candidates.map((_c, i) => i).filter((i) => candidates[i].empty);
  if (empties.length && !tryRender(empties)) for (const i of empties.slice(0, 40)) tryRender([i]);
  return { hits: out, moved };
}

/** Whether `p` names a subchart's values (`postgresql`, `kafka.zookeeper`), following aliases. */
function isSubchartScope(chart: LoadedChart, p: Path): boolean {
  let cur: LoadedChart | undefined = chart;
  for (const key of p) {
    if (!cur) return false;
    const from: LoadedChart = cur;
    const name: string = chartDependencies(from).find((d) => (d.alias || d.name) === key)?.name ?? String(key);
    cur = from.subcharts.find((c) => c.metadata.name === name);
  }
  return cur !== undefined;
}

/**
 * setIn for a path through lists: Helm replaces a list wholesale, so the first list on the path is
 * copied whole (from `root` when it already has it, else from `source`) and the item set in the copy.
 */
function setInLists(root: Record<string, unknown>, p: Path, value: unknown, source: Record<string, unknown>): void {
  const first = p.findIndex((k) => typeof k === 'number');
  if (first > 0) {
    const listKey = p.slice(0, first);
    if (!Array.isArray(getIn(root, listKey))) {
      const list = getIn(source, listKey);
      if (Array.isArray(list)) setIn(root, listKey, structuredClone(list));
    }
  }
  setIn(root, p, value);
}

function findingKey(f: RenderedFindingLike): string {
  return `${f.doc.source}\u0000${f.doc.kind}\u0000${f.doc.name}\u0000${f.fieldPath}`;
}

function describeFinding(f: RenderedFindingLike): string {
  const ns = f.doc.namespace ? `${f.doc.namespace}/` : '';
  return `${f.doc.kind ?? '?'} ${ns}${f.doc.name ?? '?'} ${f.fieldPath}`;
}

/** Delete the key at `p`, and the maps it leaves empty on the way up (an override holds no `{}`). */
function deleteIn(root: Record<string, unknown>, p: Path): void {
  const parent = getIn(root, p.slice(0, -1));
  if (!parent || typeof parent !== 'object') return;
  delete (parent as Record<string, unknown>)[String(p[p.length - 1])];
  if (!Array.isArray(parent) && p.length > 1 && Object.keys(parent).length === 0) deleteIn(root, p.slice(0, -1));
}

/**
 * Render with the override and compare every image field with the render without it: each image
 * the mirror holds must now be exactly its mirror reference. For fields that are not, the keys the
 * values finder chose are taken back and the keys the templates read are found by rendering
 * (keysByRendering) and set; render again. What is still wrong is reported (the command fails)
 * with the resource, the field and the template line.
 */
export function proveByRendering(
  chart: LoadedChart,
  ctx: RewriteContext,
  users: UserValues[],
  override: Record<string, unknown>,
  setBy: Map<string, string>,
  where: string,
  replacements: Replacement[],
  unmapped: Unmapped[],
  render: RewriteChartOptions['render'],
): void {
  const fileOf = (f: RenderedFindingLike) => path.join(where, f.doc.source.split('/').slice(1).join('/'));
  const before = new Map<string, { f: RenderedFindingLike; mirror: string; location: string; repository: string }>();
  for (const f of findRenderedImages(renderWith(chart, users, {}, render).documents)) {
    if (f.certainty === 'possible') continue;
    const look = ctx.lookupImage(f.ref);
    if (look.status === 'mapped') before.set(findingKey(f), { f, mirror: look.mirror, location: look.pathPrefix ? `${look.host}/${look.pathPrefix}` : look.host, repository: `${look.host}/${look.mirrorRef.repository}` });
  }
  const wrong = (): Array<[string, RenderedFindingLike | undefined]> => {
    const after = new Map(findRenderedImages(renderWith(chart, users, override, render).documents).map((f) => [findingKey(f), f]));
    return [...before].filter(([k, b]) => after.get(k)?.ref !== b.mirror).map(([k]) => [k, after.get(k)]);
  };
  // take back the keys set for these images (unless a good field needs them too)
  const takeBack = (fields: Array<[string, RenderedFindingLike | undefined]>) => {
    const badRefs = new Set(fields.map(([k]) => before.get(k)!.f.ref));
    const goodRefs = new Set([...before].filter(([k]) => !fields.some(([b]) => b === k)).map(([, b]) => b.f.ref));
    for (const [key, ref] of [...setBy]) {
      if (!badRefs.has(ref) || goodRefs.has(ref)) continue;
      const p = JSON.parse(key) as Path;
      deleteIn(override, p);
      setBy.delete(key);
      for (let i = replacements.length - 1; i >= 0; i--) if (replacements[i].where === p.join('.')) replacements.splice(i, 1);
    }
  };
  let bad = wrong();
  if (bad.length) {
    takeBack(bad);
    // A key taken back may have moved other fields too (k8s-monitoring's `global.imageRegistry`,
    // set for one image and read by three subcharts): probe for every field wrong now.
    bad = wrong();
    const values = renderWith(chart, users, override, render).values;
    const raws = bad.map(([k]) => before.get(k)!.f.raw);
    const repos = raws.map((r) => r.replace(/@sha256:[a-f0-9]{64}$/, '').replace(/:[\w][\w.-]{0,127}$/, ''));
    const valueFor = (hit: ProbeHit, b: { mirror: string; location: string; repository: string }) =>
      hit.suffix !== undefined && hit.suffix.length < b.mirror.length && b.mirror.endsWith(hit.suffix) && (hit.suffix === '' || /^[/:@]/.test(hit.suffix))
        ? b.mirror.slice(0, b.mirror.length - hit.suffix.length)
        : hit.kind === 'image' ? b.mirror : hit.kind === 'repository' ? b.repository : b.location;
    // A key the templates read for several fields (global.imageRegistry) serves them only when
    // they all need one value; otherwise look past it to each field's own key.
    const excluded = new Set<string>();
    let keys: Map<string, ProbeHit> | undefined;
    for (let round = 0; round < 5; round++) {
      const res = keysByRendering(chart, users, override, values, new Set(raws), new Set(repos), render, excluded);
      keys = res?.hits;
      if (!res) break;
      const shared = [...res.moved].filter(([, fields]) => new Set([...fields].filter(([fk]) => before.has(fk)).map(([fk, hit]) => valueFor(hit, before.get(fk)!))).size > 1);
      if (!shared.length) break;
      for (const [pk] of shared) excluded.add(pk);
    }
    for (const [k] of bad) {
      const hit = keys?.get(k);
      const b = before.get(k)!;
      if (!hit) continue;
      const value = valueFor(hit, b);
      const pk = JSON.stringify(hit.path);
      if (setBy.has(pk) && getIn(override, hit.path) !== value) continue; // one key cannot serve two places: reported below
      if (!setBy.has(pk)) {
        const old = getIn(values, hit.path);
        replacements.push({ file: fileOf(b.f), line: b.f.line ?? 0, kind: hit.kind === 'registry' ? 'registry' : 'image', old: typeof old === 'string' ? old : '', new: value, where: hit.path.join('.') });
      }
      setBy.set(pk, b.f.ref);
      setInLists(override, hit.path, value, values);
    }
    bad = wrong();
    // A key found by rendering that still leaves its field off the mirror points the image at a
    // path the mirror does not hold (yugaware's `image.postgres.registry` before a `name:
    // postgres` renders …/docker.io/postgres, the mirror holds …/docker.io/library/postgres): the
    // pod would fail to pull where the report said the image was left as is. Take it back too.
    if (bad.some(([k, now]) => now !== undefined && now.ref !== before.get(k)!.f.ref)) {
      takeBack(bad);
      bad = wrong();
    }
  }
  const reported = new Set(unmapped.map((u) => `${u.ref}\u0000${u.where}`));
  for (const [k, now] of bad) {
    const b = before.get(k)!;
    const reason = !now
      ? 'the override makes this field no valid image reference'
      : now.ref === b.f.ref
        ? 'still points upstream in the render with the override: no values key the templates read moves it; let nodes pull it through `ferry mirror-config`'
        : `the render with the override runs ${now.ref}, not the mirror's ${b.mirror}`;
    const w = describeFinding(b.f);
    if (reported.has(`${b.f.ref}\u0000${w}`)) continue;
    reported.add(`${b.f.ref}\u0000${w}`);
    unmapped.push({ file: fileOf(b.f), line: b.f.line ?? 0, kind: 'image', ref: b.f.ref, reason, where: w });
  }
}

/** Where a (sub)chart's defaults declare Bitnami's `global.security.allowInsecureImages`. */
function allowInsecureImagesKey(chart: LoadedChart, prefix: string): { file: string; line?: number; old: string } | undefined {
  const text = chart.files.get('values.yaml') ?? chart.files.get('values.yml');
  if (text) {
    const file = `${prefix}values.yaml`;
    const security = valueAt(parseValues(text, file), 'global.security');
    if (isValueMap(security) && security.allowInsecureImages !== undefined) {
      return { file, line: originOf(security, 'allowInsecureImages')?.line, old: String(security.allowInsecureImages) };
    }
  }
  for (const sub of chart.subcharts) {
    const found = allowInsecureImagesKey(sub, `${prefix}charts/${sub.where.split('/charts/').pop()}/`);
    if (found) return found;
  }
  return undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Helm's merge: maps merge, everything else replaces, null deletes. */
function mergeTyped(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else if (isPlainObject(out[k]) && isPlainObject(v)) out[k] = mergeTyped(out[k] as Record<string, unknown>, v);
    else out[k] = structuredClone(v);
  }
  return out;
}

/** Like scopedValues, with YAML's own types (numbers stay numbers): what an override may copy. */
function typedScopedValues(chart: LoadedChart, userTexts: string[], scope: string[]): Record<string, unknown> {
  const load = (text: string | undefined): Record<string, unknown> => {
    const v = text ? parseHostileYaml(text, { duplicates: 'refuse' }) : undefined;
    return isPlainObject(v) ? v : {};
  };
  const defaults = (c: LoadedChart) => load(c.files.get('values.yaml') ?? c.files.get('values.yml'));
  let values = defaults(chart);
  for (const t of userTexts) values = mergeTyped(values, load(t));
  let cur = chart;
  for (const key of scope) {
    const dep = chartDependencies(cur).find((d) => (d.alias || d.name) === key);
    const sub = cur.subcharts.find((c) => c.metadata.name === (dep?.name ?? key));
    if (!sub) return {};
    values = mergeTyped(defaults(sub), isPlainObject(values[key]) ? values[key] : {});
    cur = sub;
  }
  return values;
}

/** The values a (sub)chart sees: its defaults, with what its parents pass under its key merged over. */
function scopedValues(chart: LoadedChart, users: UserValues[], scope: string[]): ValueMap {
  const defaults = (c: LoadedChart): ValueMap => {
    const text = c.files.get('values.yaml') ?? c.files.get('values.yml');
    return text ? parseValues(text, 'values.yaml') : {};
  };
  let values = defaults(chart);
  for (const u of users) values = mergeValues(values, u.values);
  let cur = chart;
  for (const key of scope) {
    const dep = chartDependencies(cur).find((d) => (d.alias || d.name) === key);
    const sub = cur.subcharts.find((c) => c.metadata.name === (dep?.name ?? key));
    if (!sub) return {};
    const fromParent = isValueMap(values[key]) ? (values[key] as ValueMap) : {};
    values = mergeValues(defaults(sub), fromParent);
    cur = sub;
  }
  return values;
}

/** Chart repositories named in Chart.yaml dependencies, with their place on the mirror (OCI). */
function dependencyRepos(chart: LoadedChart, ctx: RewriteContext): ChartRepoMapping[] {
  const out: ChartRepoMapping[] = [];
  const walk = (c: LoadedChart, label: string) => {
    for (const dep of chartDependencies(c)) {
      if (!dep.repository || dep.repository.startsWith('file://')) continue;
      const vendored = c.subcharts.some((s) => s.metadata.name === dep.name);
      let mirror: string | undefined;
      if (ctx.target.registry && /^(oci|https?):\/\//.test(dep.repository)) {
        // Where import pushes the chart (OCI and HTTP repositories alike); the repository's
        // place does not depend on the version, so any valid tag places it.
        const m = mapImage(chartOciReference(dep.repository, dep.name, '0.0.0'), ctx.mapping);
        mirror = `oci://${m.mirror.slice(0, m.mirror.lastIndexOf('/'))}`;
      } else if (ctx.target.charts) {
        mirror = mapChartHttp(dep.name, '0.0.0', ctx.target.charts).indexUrl.replace(/\/index\.yaml$/, '');
      }
      out.push({ dependency: dep.name, chart: label, upstream: dep.repository, mirror, vendored });
    }
    for (const s of c.subcharts) walk(s, `${label} > ${s.metadata.name}`);
  };
  walk(chart, chart.metadata.name);
  return out;
}

/**
 * Chart.yaml of a chart directory with each dependency's `repository` pointed at its place on
 * the mirror (the same places `dependencyRepos` reports), edited in place so comments and
 * formatting stay; `helm dependency update` then fetches from the mirror. A packaged chart is
 * left alone (a warning says so).
 */
async function chartYamlChanges(
  chartPath: string,
  chart: LoadedChart,
  repos: ChartRepoMapping[],
  onMirror: (url: string) => boolean,
  replacements: Replacement[],
  warnings: string[],
): Promise<FileChange[]> {
  const dir = path.resolve(chartPath);
  const file = path.join(dir, 'Chart.yaml');
  // A packaged chart (.tgz) has no Chart.yaml to edit in place: said, not an error.
  const isDir = await stat(dir).then((st) => st.isDirectory(), () => false);
  const before = isDir ? await readTextIfExists(file) : undefined;
  if (before === undefined) {
    warnings.push(`${chartPath}: --chart-yaml edits a chart directory's Chart.yaml; a packaged chart is left as it is`);
    return [];
  }
  const top = new Map(repos.filter((r) => r.chart === chart.metadata.name && r.mirror).map((r) => [`${r.dependency}\u0000${r.upstream}`, r.mirror!]));
  const doc = parseHostileDocument(before, { duplicates: 'refuse' });
  const lineOf = lineIndex(before);
  const edits: TextEdit[] = [];
  const deps = doc.get('dependencies', true);
  if (isSeq(deps)) {
    deps.items.forEach((item, i) => {
      if (!isMap(item)) return;
      const name = item.get('name');
      const repo = item.get('repository', true);
      if (typeof name !== 'string' || !isScalar(repo) || typeof repo.value !== 'string' || onMirror(repo.value)) return;
      const mirror = top.get(`${name}\u0000${repo.value}`);
      if (!mirror || mirror === repo.value) return;
      edits.push(scalarEdit(repo, mirror, before));
      replacements.push({ file, line: repo.range ? lineOf(repo.range[0]) : 0, kind: 'chart-repo', old: repo.value, new: mirror, where: `dependencies[${i}].repository` });
    });
  }
  return edits.length ? [{ file, before, after: applyTextEdits(before, edits) }] : [];
}

/** Whether the lock carries a `<tag>-…` of `ref` (the GPU operator's `<version>-<node OS>` tags). */
function carriesNodeOsTag(ctx: RewriteContext, ref: string): boolean {
  const want = parseImageReference(ref);
  if (!want.tag) return true;
  return ctx.lock.images.some((i) => {
    let r: ReturnType<typeof parseImageReference>;
    try {
      r = parseImageReference(i.ref);
    } catch {
      return false;
    }
    return r.registry === want.registry && r.repository === want.repository && r.tag !== undefined && r.tag.startsWith(`${want.tag}-`);
  });
}
