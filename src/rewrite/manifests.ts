import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { Document, isAlias, isMap, isNode, isScalar, isSeq, Scalar, visit, type Node as YamlNode, type YAMLMap, type YAMLSeq } from 'yaml';
import { FerryError } from '../errors.js';
import { checkConfigYamlDensity } from '../manifest/input-file.js';
import { formatImageReference, parseImageReference, withDefaultTag } from '../oci/reference.js';
import { isWithin } from '../store/safe-path.js';
import { readRegularFile } from '../store/verified-write.js';
import { interpolateCompose } from '../audit/compose-env.js';
import { redactUrlsIn, SKIP_DIRS } from '../audit/scan.js';
import { addFluxImages, FLUX_KUSTOMIZE_API, imageOverrides, isKustomization, isKustomizationFile, kustomizationEntries, kustomizationImages, KUSTOMIZE_CONTAINER_LISTS, KustomizeScopes, mergedField, overridesText, resolveAlias } from '../audit/kustomize.js';
import type { RewriteContext } from './context.js';
import { vendoredKustomizeCharts } from '../audit/kustomize-helm.js';
import { mapChartHttp, registryMirrorFor } from '../mapping/index.js';
import { applyTextEdits, finishRewrite, lineIndex, readText, type FileChange, type Replacement, type RewriteResult, type TextEdit, type Unmapped } from './edits.js';
import { carriedEdit, carriedText, type CarriedText, formatPath, mapGet, parseYamlDocuments, renderScalar, scalarEdit, scalarText, tryParseYamlDocuments, walk, type YamlPath } from './yaml-text.js';
import { scanJoinedImages } from './joined-images.js';
import { rewriteRunnerConfig } from './runner-config.js';
import { isOperatorKind } from '../kinds/image/operator-images.js';
import { readImageMap, scanComposedPrefixes, scanImageMap, scanValuesDocument, type ValueChange } from './values-images.js';
import { handedArg, handedImage, injectionRequest } from '../kinds/chart/discover/index.js';
import { handedScriptArgs } from '../kinds/chart/discover/rendered.js';
import { carriedOciSource } from '../kinds/image/oci-source.js';
import { ciFileKind, ciImagePath, ciStepUses, gitlabJobVariables, isImageKey } from '../kinds/image/image-key.js';
import { flatImages, listedImages, MAX_LISTED_IMAGES, namesImageList, type FlatImage } from '../audit/handed-images.js';
import { archiveChart, carriedVersion, chartSourcesOf, chartsFrom, helmReleaseChartOf, helmSetValues, isHelmChartKind, K3S_API_PLACEHOLDER, mirrorChartSource, onMirror, type ChartSource } from '../audit/chart-sources.js';
import { trimTrailing } from '../ui/escape.js';
import { isQuadletUnit, isRegistriesConf, isShortName, podmanHosts, podmanShortName, type PodmanHosts } from '../audit/podman.js';
import { kubeYamlsNotGiven, rewriteQuadletUnit, unitKubeYamls } from './quadlet.js';
import { composeEnvOf, demandEnv, settleComposeEnv, type ComposeEnv } from './dotenv.js';
import { FluxVariables, type FluxSetting } from '../audit/flux.js';
import { fluxImage, settleFluxChanges, type FluxVarChange } from './flux-vars.js';
import { moveChartDefaults } from './gitops-values.js';
import type { ChartArchives } from '../audit/charts.js';

export const WORKLOAD_KINDS = ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'ReplicationController', 'PodTemplate'];
const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers']);

export interface RewriteManifestsOptions {
  dryRun?: boolean;
  allowUnmapped?: boolean;
  /** The locked chart archives (download cache or bundle): the images a GitOps-installed chart's defaults name are moved with them (gitops-values.ts). */
  archives?: ChartArchives;
  /** How the lock is named in reasons. */
  lockFile?: string;
}

/**
 * Every .yaml/.yml (and `Kustomization`) under the given files and directories (dot files and
 * directories too, not `.git`, `node_modules`: as `audit` reads a tree), sorted, each once. Inside a directory
 * nothing is followed: a link to a directory (a loop, or a tree elsewhere) is not entered; a link
 * to a file in the given paths is that file, rewritten by its own name; a link to a file
 * elsewhere is listed, and refused when it needs a change (rewrite its target by its own path).
 * FIFOs, sockets and devices in a directory are not manifests and are left alone.
 */
export async function collectYamlFiles(inputs: string[]): Promise<string[]> {
  return (await collectRewriteInputs(inputs)).files;
}

/**
 * The manifests under `inputs` (`files`), and beside them the podman hosts' registries.conf and
 * drop-ins (`registriesConfs`): read, never rewritten, for the short names podman resolves
 * through them (a Quadlet unit, a Compose file on that host).
 */
async function collectRewriteInputs(inputs: string[]): Promise<{ files: string[]; registriesConfs: string[] }> {
  const out = new Set<string>();
  const confs = new Set<string>();
  const roots = await Promise.all(inputs.map((i) => realpath(i).catch(() => path.resolve(i))));
  const inRoots = (f: string) => roots.some((r) => isWithin(f, r));
  const visit = async (p: string, explicit: boolean): Promise<void> => {
    let st;
    try {
      st = explicit ? await stat(p) : await lstat(p);
    } catch {
      throw new FerryError('USAGE', `${p}: no such file or directory`);
    }
    if (st.isSymbolicLink()) {
      const target = await realpath(p).catch(() => undefined);
      const to = target ? await stat(target).catch(() => undefined) : undefined;
      if (target && to?.isFile() && !inRoots(target) && isManifestName(p)) out.add(path.resolve(p));
      return;
    }
    if (st.isDirectory()) {
      const entries = (await readdir(p)).sort();
      // As `audit` reads a tree: `.gitlab-ci.yml` and `.github/workflows/` are pipeline files too.
      for (const e of entries) if (!SKIP_DIRS.has(e)) await visit(path.join(p, e), false);
    } else if (st.isFile() && isRegistriesConf(path.resolve(p))) confs.add(path.resolve(p));
    else if (explicit || (st.isFile() && isManifestName(p))) out.add(path.resolve(p));
  };
  for (const i of inputs) await visit(i, true);
  return { files: [...out].sort(), registriesConfs: [...confs].sort() };
}

/** A .yaml/.yml file, kustomize's `Kustomization` (its third file name, no extension), a Quadlet unit (rewrite/quadlet.ts), or a GitLab runner's config.toml (rewrite/runner-config.ts). */
function isManifestName(p: string): boolean {
  return /\.ya?ml$/i.test(p) || path.basename(p) === 'Kustomization' || isQuadletUnit(p) || path.basename(p) === 'config.toml';
}

/** A `config.toml` given or found: TOML, read as a GitLab runner's configuration only. */
function isTomlConfig(p: string): boolean {
  return path.basename(p) === 'config.toml';
}

function describeWorkload(doc: unknown, path: YamlPath): { kind?: string; name?: string; container?: string } {
  // Resolve the object the path is in: a List's item, or the document itself.
  let obj = doc;
  let rest = path;
  if (scalarText(mapGet(doc, 'kind'))?.endsWith('List') && path[0] === 'items' && typeof path[1] === 'number') {
    obj = (mapGet(doc, 'items') as unknown as { items: unknown[] }).items[path[1]];
    rest = path.slice(2);
  }
  const kind = scalarText(mapGet(obj, 'kind'));
  const name = scalarText(mapGet(mapGet(obj, 'metadata'), 'name'));
  const i = rest.length - 3;
  const isContainer = i >= 0 && CONTAINER_LISTS.has(String(rest[i])) && typeof rest[i + 1] === 'number';
  if (!kind || !WORKLOAD_KINDS.includes(kind) || !isContainer) return { kind, name };
  return { kind, name, container: String(rest[i]) };
}

/** `Kind/name` of the object an image sits in, as findings name it. */
function objectName(info: { kind?: string; name?: string }): string {
  return `${info.kind ?? 'object'}${info.name ? `/${info.name}` : ''}`;
}

/**
 * A kustomization's `images:` overrides (`name`, `newName`, `newTag`, `digest`): kustomize sets
 * every container image whose name is `name` to `newName` (else `name`) with `newTag`/`digest`.
 * `newName` is what gets pulled, so it is what moves to the mirror repository; an entry without
 * one gets one. `name` stays: it is the pattern matched against the resources' images, which may
 * sit in a base this rewrite does not see (moved, the override would silently stop applying).
 * The resources' images an override matches are left as they are (see `scanManifestDocument`).
 * A digest becomes the one the mirror holds.
 */
function scanKustomizationImages(doc: Document.Parsed, text: string, file: string, ctx: RewriteContext, lineOf: (o: number) => number, out: { edits: TextEdit[]; replacements: Replacement[]; unmapped: Unmapped[]; warnings: string[] }): void {
  for (const e of kustomizationEntries(doc.contents, doc)) {
    if (!e.remoteHost) continue;
    out.warnings.push(
      `${file}:${lineOf(e.node.range![0])}: Kustomization ${e.keyPath} is ${e.value}: kustomize fetches it from ${e.remoteHost} at build time, and ferry carries no git trees or remote bases; vendor it into the repository (copy the base in, list it by its local path) and rewrite again`,
    );
  }
  // kustomize's `images:`, or a Flux Kustomization's `spec.images` (kustomize-controller applies them alike)
  const { node: images, keyPath: imagesKey } = kustomizationImages(doc.contents);
  if (!isSeq(images)) return;
  images.items.forEach((raw, i) => {
    const item = resolveAlias(raw, doc);
    if (!isMap(item)) return;
    // A field may come from a YAML merge key (`<<: *base`): read as kustomize reads it, but only
    // the entry's own fields are edited (an anchor is shared; moved, it would move every user).
    const node = (k: string) => {
      let n = mergedField(item, k, doc);
      n = resolveAlias(n, doc);
      return isScalar(n) && scalarText(n) ? (n as Scalar) : undefined;
    };
    const own = (n: Scalar | undefined) => !!n && item.items.some((p) => p.value === n);
    const [name, newName, newTag, digest] = ['name', 'newName', 'newTag', 'digest'].map(node);
    const field = newName ?? name;
    if (!field || (!newName && !newTag && !digest)) return; // nothing pulled differently: the resources' images say it
    const key = newName ? 'newName' : 'name';
    const value = scalarText(field)!;
    const suffix = digest ? `@${scalarText(digest)}` : newTag ? `:${scalarText(newTag)}` : '';
    const where = `Kustomization ${imagesKey}[${i}].${key}`;
    const line = lineOf((own(field) ? field : (item as YamlNode)).range![0]);
    let ref;
    try {
      ref = parseImageReference(value + suffix);
    } catch {
      out.unmapped.push({ file, line, kind: 'image', ref: value + suffix, reason: 'not a valid image reference', where });
      return;
    }
    const look = ctx.lookupImage(ref);
    if (look.status === 'mirror') return;
    if (look.status === 'unmapped') {
      out.unmapped.push({ file, line, kind: 'image', ref: value + suffix, reason: look.reason, where });
      return;
    }
    const repo = `${look.mirrorRef.registry}/${look.mirrorRef.repository}`;
    const newDigest = digest && look.mirrorRef.digest && look.mirrorRef.digest !== scalarText(digest) ? look.mirrorRef.digest : undefined;
    const after = [name, newTag, digest].find(own);
    if ((!own(newName) && !after) || (newDigest && !own(digest))) {
      out.unmapped.push({ file, line, kind: 'image', ref: value + suffix, reason: `its ${newDigest && !own(digest) ? 'digest' : 'fields'} come from a YAML merge key (<<), a shared anchor ferry does not edit: write ${newDigest && !own(digest) ? 'digest' : 'newName'} in this entry and rewrite again`, where });
      return;
    }
    if (own(newName)) out.edits.push(scalarEdit(newName!, repo, text));
    else out.edits.push(insertAfterPair(item, after!, 'newName', repo, text));
    out.replacements.push({ file, line, kind: 'image', old: value, new: repo, where: `Kustomization ${imagesKey}[${i}].newName` });
    if (newDigest) {
      out.edits.push(scalarEdit(digest!, newDigest, text));
      out.replacements.push({ file, line: lineOf(digest!.range![0]), kind: 'digest', old: scalarText(digest)!, new: newDigest, where: `Kustomization ${imagesKey}[${i}].digest` });
    }
  });
}

/** An edit adding `key: value` to a map right after the pair whose value is `after`, in the map's style (block: its own line at the key's indentation, after any comment). */
function insertAfterPair(map: { flow?: boolean }, after: Scalar, key: string, value: string, text: string, raw?: 'raw'): TextEdit {
  const end = after.range![1];
  const rendered = raw ? value : renderScalar(value);
  if (map.flow) return { start: end, end, text: `, ${key}: ${rendered}` };
  const keyStart = (map as { items: Array<{ value: unknown; key: { range?: number[] } }> }).items.find((p) => p.value === after)!.key.range![0];
  const lineStart = text.lastIndexOf('\n', keyStart - 1) + 1;
  const indent = keyStart - lineStart;
  // A value that spans lines (a block scalar, a quoted string broken over lines) ends where its
  // last line does, or at the start of whatever follows it, perhaps a key of an outer map: the
  // end of "that line" is no place for the new key. The pair then goes before the key instead,
  // on a line of its own at the key's indentation (a `- ` before the key stays first).
  if (after.type === Scalar.BLOCK_LITERAL || after.type === Scalar.BLOCK_FOLDED || text.slice(keyStart, end).includes('\n')) {
    const eolStyle = text[text.indexOf('\n', keyStart) - 1] === '\r' ? '\r\n' : '\n';
    return { start: keyStart, end: keyStart, text: `${key}: ${rendered}${eolStyle}${' '.repeat(indent)}` };
  }
  const eol = text.indexOf('\n', end);
  const crlf = eol > 0 && text[eol - 1] === '\r';
  const at = eol < 0 ? text.length : crlf ? eol - 1 : eol;
  return { start: at, end: at, text: `${crlf ? '\r\n' : '\n'}${' '.repeat(indent)}${key}: ${rendered}` };
}

/**
 * kubeadm's ClusterConfiguration names no image: it names the registry (`imageRepository`,
 * `etcd.local.imageRepository`, `dns.imageRepository`) it pulls `<repo>/kube-apiserver:<tag>` …
 * from. One the lock carries images from is rewritten to where the mapping puts that registry.
 * kubeadm's trap: with any imageRepository other than registry.k8s.io, CoreDNS is pulled as
 * `<repo>/coredns:<tag>`, not `<repo>/coredns/coredns:<tag>`; so `dns.imageRepository` becomes
 * `<mirror>/coredns`, and where the file has none while the top-level one is rewritten, a warning
 * names the line to add (kubeadm would otherwise pull a CoreDNS the mirror does not hold).
 */
function scanKubeadmConfig(doc: Document.Parsed, text: string, file: string, ctx: RewriteContext, lineOf: (o: number) => number, out: { edits: TextEdit[]; replacements: Replacement[]; warnings: string[] }): void {
  if (!isMap(doc.contents) || scalarText(mapGet(doc.contents, 'kind')) !== 'ClusterConfiguration' || !/^kubeadm\.k8s\.io\//.test(scalarText(mapGet(doc.contents, 'apiVersion')) ?? '')) return;
  const carried = new Set(ctx.registries.map((r) => r.toLowerCase()));
  const location = (registry: string): string | undefined => {
    if (!carried.has(registry.toLowerCase())) return undefined;
    const { host, pathPrefix } = registryMirrorFor(registry.toLowerCase(), ctx.mapping);
    return host ? (pathPrefix ? `${host}/${pathPrefix}` : host) : undefined;
  };
  const keys: Array<{ path: string[]; coredns: boolean }> = [
    { path: ['imageRepository'], coredns: false },
    { path: ['etcd', 'local', 'imageRepository'], coredns: false },
    { path: ['dns', 'imageRepository'], coredns: true },
  ];
  let topRewritten: string | undefined;
  let dnsSet = false;
  for (const k of keys) {
    const node = doc.getIn(k.path, true);
    if (!isScalar(node)) continue;
    if (k.coredns) dnsSet = true;
    const value = scalarText(node);
    const where = `ClusterConfiguration ${k.path.join('.')}`;
    const line = lineOf(node.range![0]);
    // A repository with a path (`registry.k8s.io/coredns`, the usual dns one) is the registry's place plus that path.
    const slash = value ? value.indexOf('/') : -1;
    const registry = value && slash >= 0 ? value.slice(0, slash) : value;
    const placed = registry ? location(registry) : undefined;
    const at = placed && slash >= 0 ? `${placed}${value!.slice(slash)}` : placed;
    if (!value || !at) {
      if (registry && !carried.has(registry.toLowerCase()) && /^[a-z0-9.-]+\.[a-z]{2,}(:\d+)?$/i.test(registry) && registry.toLowerCase() !== ctx.mapping.host?.toLowerCase())
        out.warnings.push(`${file}:${line}: ${where} is ${value}, a registry the lock carries no image from: kubeadm pulls its images there, not from the mirror`);
      continue;
    }
    // kubeadm appends /coredns only to its default repository (registry.k8s.io, formerly k8s.gcr.io).
    const repo = k.coredns && /^(registry\.k8s\.io|k8s\.gcr\.io)$/i.test(value) ? `${at}/coredns` : at;
    out.edits.push(scalarEdit(node, repo, text));
    out.replacements.push({ file, line, kind: 'image', old: value, new: repo, where: k.coredns ? `${where} (kubeadm pulls <repo>/coredns:<tag>)` : where });
    if (k.path.length === 1) topRewritten = at;
  }
  const k8s = location('registry.k8s.io');
  if (!isScalar(doc.getIn(['imageRepository'], true)) && k8s) {
    out.warnings.push(`${file}: ClusterConfiguration has no imageRepository, so kubeadm pulls from registry.k8s.io: add imageRepository: ${k8s} and dns.imageRepository: ${k8s}/coredns to pull from the mirror`);
  }
  if (topRewritten && !dnsSet) {
    out.warnings.push(
      `${file}: ClusterConfiguration imageRepository now names the mirror, and with a custom imageRepository kubeadm pulls CoreDNS as <repo>/coredns:<tag>, which the mirror does not hold (it carries …/coredns/coredns): add dns.imageRepository: ${topRewritten}/coredns`,
    );
  }
}

/**
 * `scopes`: the kustomizations of the rewritten tree; a container image one of them overrides is
 * pulled as the override says, so that is what must be on the mirror, and the image is left as
 * written (the kustomization's `newName` moves it; rewritten here, it would no longer match).
 */
export function scanManifestDocument(
  doc: Document.Parsed,
  text: string,
  file: string,
  ctx: RewriteContext,
  lineOf: (o: number) => number,
  scopes?: KustomizeScopes,
  helmRepos?: HelmRepositories,
  composeEnv?: ComposeEnv,
  vendored?: ReadonlySet<string>,
  flux?: { settings: ReadonlyMap<string, FluxSetting[]>; changes: FluxVarChange[] },
  podman?: { hosts: PodmanHosts; kubePlay: boolean },
) {
  const edits: TextEdit[] = [];
  const replacements: Replacement[] = [];
  const unmapped: Unmapped[] = [];
  const warnings: string[] = [];
  scanChartSources(doc, text, file, ctx, lineOf, { edits, replacements, unmapped, warnings }, helmRepos, vendored);
  const imageNodes = new Set<YamlNode>();
  if (isKustomization(file, isMap(doc.contents) ? scalarText(mapGet(doc.contents, 'kind')) : null)) scanKustomizationImages(doc, text, file, ctx, lineOf, { edits, replacements, unmapped, warnings });
  scanCarriedTexts(doc, text, file, ctx, lineOf, { edits, replacements, unmapped, warnings });
  scanConfigData(doc, text, file, ctx, lineOf, { edits, replacements, unmapped, warnings });
  scanHelmChartValues(doc, text, file, ctx, lineOf, { edits, replacements, unmapped, warnings });
  scanKubeadmConfig(doc, text, file, ctx, lineOf, { edits, replacements, warnings });
  scanCiImages(doc, text, file, ctx, lineOf, imageNodes, { edits, replacements, unmapped, warnings });
  // An operator's prefix field (`spec.hub`, `spec.registry`): the names behind it are no images of their own.
  const composed = scanComposedPrefixes(doc, ctx, lineOf);
  // A bare name joined to the hub and tag around it (istiod's injector values): the hub moves, the name is no image.
  const kind = isMap(doc.contents) ? scalarText(mapGet(doc.contents, 'kind')) : undefined;
  const joined = isOperatorKind(kind) ? new Set<unknown>() : scanJoinedImages(doc, text, file, ctx, lineOf, objectName(describeWorkload(doc.contents, [])), { edits, replacements, unmapped, warnings });
  for (const c of composed.changes) {
    if (c.node) edits.push(scalarEdit(c.node, c.new, text));
    replacements.push({ file, line: c.line, kind: 'registry', old: c.old, new: c.new, where: `${objectName(describeWorkload(doc.contents, c.path))} ${formatPath(c.path)} (composes ${c.image})` });
  }
  for (const u of composed.unmapped) unmapped.push({ ...u, file, where: `${objectName(describeWorkload(doc.contents, []))} ${u.where} (custom resource)` });
  for (const w of composed.warnings) warnings.push(`${file}: ${objectName(describeWorkload(doc.contents, []))} ${w}`);
  // A HelmChart's values (`spec.values`, `spec.set`) are moved as values (scanHelmChartValues).
  const helmValues = isMap(doc.contents) && isHelmChartKind(scalarText(mapGet(doc.contents, 'apiVersion')) ?? '', scalarText(mapGet(doc.contents, 'kind')));
  walk(doc.contents, (node, p, key) => {
    if (helmValues && p.length === 2 && p[0] === 'spec' && (key === 'values' || key === 'set')) return false;
    if (key === 'image' && isMap(node) && readImageMap(node)) {
      // `image: {registry, repository, tag}` in a custom resource (operators' CRDs).
      const info = describeWorkload(doc.contents, p);
      const where = `${objectName(info)} ${formatPath(p)}`;
      const changes: ValueChange[] = [];
      const um: Array<Omit<Unmapped, 'file'>> = [];
      scanImageMap(node, p, ctx, (n) => (n?.range ? lineOf(n.range[0]) : lineOf(node.range![0])), changes, um);
      for (const c of changes) {
        if (c.node) edits.push(scalarEdit(c.node, c.new, text));
        replacements.push({ file, line: c.line, kind: 'custom-resource-image', old: c.old, new: c.new, where: `${where} (${c.image})` });
      }
      for (const u of um) unmapped.push({ ...u, file, where: `${where} (custom resource)` });
      return false;
    }
    if ((key === 'args' || key === 'command' || key === 'env') && isSeq(node)) {
      const info = describeWorkload(doc.contents, [...p.slice(0, -1), 'image']);
      if (info.container) scanHandedImages(node, p, String(key), objectName(info), { file, text, ctx, lineOf, container: scalarText(mapGet(doc.getIn(p.slice(0, -1), true), 'name')) }, { edits, replacements, unmapped, warnings });
      return false;
    }
    if (key !== 'image') return;
    // `image: *img`: the image is the anchored scalar, wherever it is; it is rewritten there (every
    // alias of it then says the same), once however many aliases name it.
    const aliased = isAlias(node) ? (resolveAlias(node, doc) as YamlNode | undefined) : undefined;
    if (aliased) node = aliased;
    if (!isScalar(node) || imageNodes.has(node) || composed.names.has(node) || joined.has(node)) return;
    imageNodes.add(node);
    const value = scalarText(node);
    if (!value || value.includes('{{')) return;
    if (isComposeService(doc.contents, p)) {
      scanComposeImage(node, value, String(p[1]), { file, text, ctx, line: lineOf(node.range![0]), env: composeEnv, podman: podman?.hosts }, { edits, replacements, unmapped, warnings });
      return;
    }
    const info = describeWorkload(doc.contents, p);
    // Istio's `image: auto` in a pod that asks for injection: the injector fills it in at admission.
    const podTemplate = info.container ? doc.getIn(p.slice(0, -4), true) : undefined;
    const injected = isNode(podTemplate) ? injectionRequest(podTemplate.toJSON(), value) : undefined;
    if (injected) {
      warnings.push(
        `${file}:${lineOf(node.range![0])}: ${objectName(info)} ${formatPath(p)} is "auto", filled in at admission by Istio's injector (${injected}): the proxy image comes from istiod's values; carry the istiod chart and rewrite it too`,
      );
      return;
    }
    const custom = !info.container;
    const where = `${objectName(info)} ${formatPath(p)}`;
    const line = lineOf(node.range![0]);
    let ref;
    try {
      ref = parseImageReference(value);
    } catch {
      // `${REGISTRY}/app:1.2`: Flux's postBuild substitution fills it in at apply time; the variable is what moves.
      const vars = [...new Set([...value.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]))];
      if (vars.length && !custom && flux) {
        fluxImage(node, value, { file, text, line, where }, ctx, flux.settings, { edits, replacements, unmapped, changes: flux.changes });
        return;
      }
      const reason = vars.length
        ? `a variable (${vars.map((v) => `\${${v}}`).join(', ')}) filled in when the manifests are applied (Flux's postBuild substitution, envsubst): set it to the mirror's registry (ferry map prints where the image is), in a Flux Kustomization's postBuild.substitute or the ConfigMap its substituteFrom names`
        : 'not a valid image reference';
      if (!custom) unmapped.push({ file, line, kind: 'image', ref: value, reason, where });
      return;
    }
    const ways = info.container && KUSTOMIZE_CONTAINER_LISTS.has(info.container) ? scopes?.pulls(file, value) : undefined;
    if (ways && !ways.every((w) => w.image === value)) {
      // Overridden on some way it is pulled (a base's override, an overlay's): left as written, or
      // the overrides' `name` would no longer match; each way is judged as kustomize pulls it.
      for (const w of ways) {
        let look;
        try {
          look = ctx.lookupImage(withDefaultTag(parseImageReference(w.image)));
        } catch {
          look = { status: 'unmapped' as const, reason: 'not a valid image reference' };
        }
        const by = w.by.length ? overridesText(w.by, (f) => path.relative(path.dirname(file), f)) : 'no images: override of its kustomizations';
        if (look.status === 'unmapped') unmapped.push({ file, line, kind: 'image', ref: value, reason: `pulled as ${w.image} (${by}): ${look.reason}`, where });
        else if (look.status === 'mapped' && !w.by.length)
          warnings.push(`${file}:${line}: ${where} is ${value}: one overlay including it pulls it as written (upstream), another overrides it, so it stays as written (rewritten, the override would no longer match); add an images: override for it to the overlay that has none`);
      }
      return;
    }
    // A container's image with neither tag nor digest is pulled as `latest`: the mirror must hold
    // that tag (the lock's other tags of the repository do not do). A custom resource's image
    // field may be completed by its operator (a version beside it): looked up as written.
    // A pod `podman kube play` runs (the Yaml= of a .kube unit given with it): a short name is
    // pulled as podman resolves it through the host's registries.conf, or unknown.
    if (podman?.kubePlay && !custom && isShortName(value)) {
      const got = podmanShortName(podman.hosts.of(file), value, false);
      if ('unknown' in got) {
        unmapped.push({ file, line, kind: 'image', ref: value, reason: `run by podman kube play: ${got.unknown}`, where });
        return;
      }
      ref = parseImageReference(got.value);
    }
    const look = ctx.lookupImage(custom ? ref : withDefaultTag(ref));
    if (look.status === 'mirror') return;
    if (look.status === 'unmapped') {
      unmapped.push({ file, line, kind: 'image', ref: value, reason: look.reason, where: custom ? `${where} (custom resource)` : where });
      return;
    }
    edits.push(scalarEdit(node, look.mirror, text));
    replacements.push({ file, line, kind: custom ? 'custom-resource-image' : look.digestChanged ? 'digest' : 'image', old: value, new: look.mirror, where });
  });
  return { edits, replacements, unmapped, warnings };
}

/**
 * A CI pipeline file's job images (kinds/image/image-key.ts says where: GitLab's `image`, `image.name`,
 * `services[]`, `services[].name`; GitHub's `container`, `services.*.image`, `uses: docker://…`),
 * rewritten as a container's image is (a bare `node:20` is Docker Hub's `:20`). A GitLab image that
 * is one variable (`${BUILD_IMAGE}`) set in the file's `variables:` is moved there, keeping the
 * `$VAR` form; any other with variables is left and named. What the runner fetches that ferry
 * cannot carry is named: a GitLab `include: remote:` and a GitHub action (`uses: owner/repo@ref`).
 */
function scanCiImages(doc: Document.Parsed, text: string, file: string, ctx: RewriteContext, lineOf: (o: number) => number, seen: Set<YamlNode>, out: { edits: TextEdit[]; replacements: Replacement[]; unmapped: Unmapped[]; warnings: string[] }): void {
  if (!isMap(doc.contents) || doc.contents.has('kind') || doc.contents.has('apiVersion')) return;
  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: 100 });
  } catch {
    return;
  }
  const kind = ciFileKind(file, root);
  if (!kind) return;
  const system = kind === 'gitlab-ci' ? 'GitLab CI' : 'GitHub Actions';
  const move = (node: Scalar, value: string, p: YamlPath, prefix = '') => {
    const line = lineOf(node.range![0]);
    const where = `${system} ${formatPath(p)}`;
    let ref;
    try {
      ref = parseImageReference(value);
    } catch {
      out.unmapped.push({ file, line, kind: 'image', ref: value, reason: 'not a valid image reference', where });
      return;
    }
    const look = ctx.lookupImage(withDefaultTag(ref));
    if (look.status === 'mirror') return;
    if (look.status === 'unmapped') {
      out.unmapped.push({ file, line, kind: 'image', ref: value, reason: look.reason, where });
      return;
    }
    // GitLab names a service's host after its image (`docker:27-dind` is reached as `docker`): a
    // service written as a bare string keeps that host as an `alias` once it names the mirror.
    const service = kind === 'gitlab-ci' && typeof p[p.length - 1] === 'number' && p[p.length - 2] === 'services' && node.range && node.range[0] !== node.range[1];
    if (service) {
      const alias = value.replace(/@.*$/, '').replace(/:[^/]*$/, '').replace(/\//g, '-');
      out.edits.push({ start: node.range![0], end: node.range![1], text: `{ name: ${renderScalar(look.mirror)}, alias: ${renderScalar(alias)} }` });
    } else out.edits.push(scalarEdit(node, `${prefix}${look.mirror}`, text));
    out.replacements.push({ file, line, kind: look.digestChanged ? 'digest' : 'image', old: `${prefix}${value}`, new: `${prefix}${look.mirror}`, where });
  };
  walk(doc.contents, (node, p) => {
    if (!isScalar(node) || typeof node.value !== 'string') return;
    const keyPath = formatPath(p);
    const value = node.value;
    const line = lineOf(node.range![0]);
    if (kind === 'gitlab-ci' && /^include(?:\[\d+\])?(?:\.remote)?$/.test(keyPath) && /^https?:\/\//i.test(value)) {
      out.warnings.push(`${file}:${line}: ${system} ${keyPath} ${redactUrlsIn(value)} is fetched by GitLab when the pipeline is created, and ferry carries no CI templates: copy the file into a project on the site's GitLab and include it with include: project: (or include: local:)`);
      return;
    }
    if (kind === 'github-workflow') {
      const uses = ciStepUses(keyPath, value);
      if (uses && 'image' in uses) {
        seen.add(node);
        move(node, uses.image, p, value.slice(0, value.length - uses.image.length));
        return;
      }
      if (uses) {
        out.warnings.push(`${file}:${line}: ${system} ${keyPath} ${uses.action} is downloaded from github.com by the runner when the job runs, and ferry carries no actions: vendor it into the repository (uses: ./.github/actions/…) or mirror ${uses.repo} on the site's GitHub Enterprise Server`);
        return;
      }
    }
    if (!ciImagePath(kind, keyPath)) return;
    seen.add(node);
    if (!value.includes('$')) {
      move(node, value, p);
      return;
    }
    // GitLab expands `$VAR`/`${VAR}` in image names from the job's, then the file's, `variables:`.
    const one = kind === 'gitlab-ci' ? /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$/.exec(value) : null;
    const name = one ? (one[1] ?? one[2]) : undefined;
    const job = typeof p[0] === 'string' ? p[0] : '';
    const at = name ? ([[job, 'variables', name], ['variables', name]] as YamlPath[]).find((vp) => isScalar(doc.getIn(vp, true)) || isScalar(doc.getIn([...vp, 'value'], true))) : undefined;
    const varNode = at ? ((isScalar(doc.getIn(at, true)) ? doc.getIn(at, true) : doc.getIn([...at, 'value'], true)) as Scalar) : undefined;
    if (varNode && typeof varNode.value === 'string' && !varNode.value.includes('$')) {
      if (!seen.has(varNode)) {
        seen.add(varNode);
        move(varNode, varNode.value, isScalar(doc.getIn(at!, true)) ? at! : [...at!, 'value']);
      }
      return;
    }
    const vars = gitlabJobVariables(root as Record<string, unknown>, job);
    const { value: pulled, unresolved } = interpolateCompose(value, vars);
    const predefined = unresolved.filter((u) => /^(CI|GITLAB)_/.test(u));
    out.warnings.push(
      `${file}:${line}: ${system} ${keyPath} is ${value}${unresolved.length ? '' : ` (pulled as ${pulled})`}: left as written (ferry rewrites an image that is one variable set in the file's variables:, or none)${predefined.length ? `; ${predefined.map((u) => `$${u}`).join(', ')} ${predefined.length > 1 ? 'are' : 'is'} filled in by GitLab when the pipeline runs ($CI_REGISTRY is the instance's own registry, on the site)` : ''}${unresolved.length > predefined.length ? `; ${unresolved.filter((u) => !predefined.includes(u)).map((u) => `$${u}`).join(', ')} set nowhere in the file: a project, group or instance variable must name an image on the mirror` : ''}`,
    );
  });
}

/** A `.env` is a few lines; one larger than this, or not a regular file (a FIFO, a device), is not read. */
const MAX_ENV_BYTES = 1024 * 1024;

async function readComposeEnv(file: string, cache: Map<string, Promise<ComposeEnv | undefined>>): Promise<ComposeEnv | undefined> {
  const envFile = path.join(path.dirname(file), '.env');
  let got = cache.get(envFile);
  if (!got) {
    got = readRegularFile(envFile, MAX_ENV_BYTES, { follow: true }).then((buf) => (Buffer.isBuffer(buf) ? composeEnvOf(envFile, buf.toString('utf8')) : undefined));
    cache.set(envFile, got);
  }
  return got;
}

/** `services.<name>.image` of a Compose file: a top-level `services:` map, and no Kubernetes `kind`. */
function isComposeService(root: unknown, p: YamlPath): boolean {
  return p.length === 3 && p[0] === 'services' && p[2] === 'image' && isMap(root) && mapGet(root, 'kind') === undefined && mapGet(root, 'apiVersion') === undefined;
}

/** `${NAME:-default}` / `${NAME-default}` and nothing else: the default is a whole image reference. */
const COMPOSE_DEFAULTED = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-)([^}$]*)\}$/;

/**
 * A Compose service's `image:`. Compose pulls a reference with neither tag nor digest as
 * `latest`, and interpolates `${VAR}`s from the `.env` beside the file and the defaults written
 * in the value. What moves to the mirror: a literal reference; the default of
 * `${WEB_IMAGE:-ghcr.io/acme/web:1.4}` (the variable kept, so a `.env` or shell value still
 * wins, and a `.env` value is checked and reported, since that is what is pulled); the repository
 * of `vendor.example/agent:${TAG}` (the tag variable kept). A variable in the registry or
 * repository with no default is reported: only the `.env` can move it.
 */
function scanComposeImage(
  node: Scalar,
  value: string,
  service: string,
  at: { file: string; text: string; ctx: RewriteContext; line: number; env?: ComposeEnv; podman?: PodmanHosts },
  out: { edits: TextEdit[]; replacements: Replacement[]; unmapped: Unmapped[]; warnings: string[] },
): void {
  const { file, text, ctx, line } = at;
  const where = `Compose service ${service} services.${service}.image`;
  const vars = at.env?.vars ?? new Map<string, string>();
  const envName = at.env ? path.relative(path.dirname(file), at.env.file) : 'a .env beside the file (there is none)';
  // On a podman host (its registries.conf among the files given, as audit judges it) a short name
  // is pulled as podman resolves it, known only where podman-compose and docker compose on the
  // podman socket agree (audit/podman.ts): never the Docker Hub name the reference normalizes to.
  const podmanHost = at.podman?.of(file, true);
  const lookup = (written: string) => {
    try {
      if (podmanHost && isShortName(written)) {
        const got = podmanShortName(podmanHost, written, true);
        if ('unknown' in got) return { status: 'unmapped' as const, reason: got.unknown };
        written = got.value;
      }
      return ctx.lookupImage(withDefaultTag(parseImageReference(written)));
    } catch {
      return { status: 'unmapped' as const, reason: 'not a valid image reference' };
    }
  };
  // What the image asks of the .env variables it uses (rewrite/dotenv.ts): settled once every Compose file beside it is read.
  const img = (pulled: string) => ({ file, line, where, written: value, pulled });
  const demand = (pulled: string, mirror: string | undefined, movable: string[]) => (at.env ? demandEnv(at.env, img(pulled), mirror, movable) : { ok: false, why: undefined });
  // A name the .env sets from the shell Compose runs in (`REGISTRY=${DEPLOY_HOST}:5000`): why its value is unknown.
  const unknownWhy = (names: string[]) => names.filter((n) => at.env?.unknown.has(n)).map((n) => `; ${at.env!.unknown.get(n)}`).join('');
  const put = (next: string, pulled: string, digestChanged?: boolean) => {
    out.edits.push(scalarEdit(node, next, text));
    out.replacements.push({ file, line, kind: digestChanged ? 'digest' : 'image', old: value, new: next, where: pulled === value ? where : `${where} (pulled as ${pulled})` });
  };
  if (!value.includes('$')) {
    const look = lookup(value);
    if (look.status === 'mirror') return;
    if (look.status === 'unmapped') out.unmapped.push({ file, line, kind: 'image', ref: value, reason: look.reason, where });
    else put(look.mirror, value, look.digestChanged);
    return;
  }
  const defaulted = COMPOSE_DEFAULTED.exec(value);
  if (defaulted) {
    const [, name, op, fallback] = defaulted;
    const set = vars.get(name);
    const fromEnv = set !== undefined && (set !== '' || op === '-');
    if (at.env?.unknown.has(name)) out.unmapped.push({ file, line, kind: 'image', ref: value, reason: `what Compose pulls is unknown${unknownWhy([name])}`, where });
    if (fallback !== '') {
      const look = lookup(fallback);
      if (look.status === 'mapped') put(`\${${name}${op}${look.mirror}}`, fallback, look.digestChanged);
      else if (look.status === 'unmapped' && !fromEnv) out.unmapped.push({ file, line, kind: 'image', ref: fallback, reason: `the default of \${${name}} (set neither in ${envName}): ${look.reason}`, where });
    }
    if (fromEnv) {
      const look = lookup(set!);
      if (look.status === 'mapped') {
        const moved = demand(set!, look.mirror, [name]);
        if (!moved.ok) out.unmapped.push({ file, line, kind: 'image', ref: set!, reason: moved.why ?? `${name}=${set} in ${envName}, which Compose pulls (upstream): set it to ${look.mirror} there`, where });
      } else demand(set!, undefined, []);
      if (look.status === 'unmapped') out.unmapped.push({ file, line, kind: 'image', ref: set!, reason: `${name}=${set} in ${envName}, which Compose pulls: ${look.reason}`, where });
    }
    return;
  }
  // A name the .env sets from the shell is set to something unknown: a default written with it does not apply.
  const { value: pulled, unresolved } = interpolateCompose(value, vars, at.env?.unknown);
  const dollar = value.indexOf('$');
  const slash = value.lastIndexOf('/', dollar);
  const sep = value.slice(slash + 1, dollar).search(/[:@]/);
  const named = (names: string[]) => [...new Set(names)].map((n) => `\${${n}}`).join(', ');
  if (sep < 0) {
    // `${REGISTRY}/app:1.2`, `acme/${APP}:1`: the variable names where the image comes from.
    const vs = [...value.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
    const look = unresolved.length ? undefined : lookup(pulled);
    // The .env sets what it is pulled from: the value moves there (the first variable that alone can make it the mirror's name).
    const moved = look?.status === 'mapped' ? demand(pulled, look.mirror, vs) : undefined;
    if (moved?.ok) return;
    if (look && look.status !== 'mapped') demand(pulled, undefined, []);
    if (look?.status === 'mirror') return;
    const mirror = look?.status === 'mapped' ? `; set it to pull ${look.mirror}` : look?.status === 'unmapped' ? `; pulled as ${pulled}: ${look.reason}` : '';
    out.unmapped.push({ file, line, kind: 'image', ref: value, reason: moved?.why ? `pulled as ${pulled}: ${moved.why}` : `a Compose variable (${named(vs)}) in its registry or repository, with no default ferry could rewrite; Compose fills it in from ${envName} or the shell${mirror}${unknownWhy(unresolved)}`, where });
    return;
  }
  // `vendor.example/acme/agent:${AGENT_TAG}`: the repository is written out; the tag varies.
  const repoEnd = slash + 1 + sep;
  const repository = value.slice(0, repoEnd);
  if (unresolved.length) {
    out.unmapped.push({ file, line, kind: 'image', ref: value, reason: `its tag variable (${named(unresolved)}) is set ${unknownWhy(unresolved) ? `in ${envName} from the shell Compose runs in` : `neither in ${envName} nor by a default`}, so which tag of ${repository} is pulled is unknown${unknownWhy(unresolved)}`, where });
    return;
  }
  const look = lookup(pulled);
  // The tag variable keeps its value: another image sharing it may not move it.
  demand(pulled, undefined, []);
  if (look.status === 'mirror') return;
  if (look.status === 'unmapped') {
    out.unmapped.push({ file, line, kind: 'image', ref: value, reason: `pulled as ${pulled} (interpolated, ${envName}): ${look.reason}`, where });
    return;
  }
  const m = parseImageReference(look.mirror);
  const mirrorRepo = formatImageReference({ ...m, tag: undefined, digest: undefined });
  put(mirrorRepo + value.slice(repoEnd), pulled);
}

/**
 * An edited scalar that is a YAML anchor (`image: &img alpine:3.20`) changes every alias of it
 * too, image key or not (a GitLab job's `tags: [*img]`, an env value): said, with the lines of the
 * aliases, so a change the rewrite did not mean is not made in silence.
 */
function sharedAnchorWarnings(doc: Document.Parsed, edits: readonly TextEdit[], file: string, text: string, lineOf: (o: number) => number): string[] {
  // No edit, or no `&` in the document's text: no anchor was edited (the walk was a tenth of a big rewrite).
  if (!edits.length || (doc.range && !text.slice(doc.range[0], doc.range[2]).includes('&'))) return [];
  const anchored = new Map<number, string>();
  const uses = new Map<string, number[]>();
  visit(doc, {
    Scalar(_k, n) {
      if (n.anchor && n.range) anchored.set(n.range[0], n.anchor);
    },
    Alias(_k, n) {
      if (!n.range) return;
      let list = uses.get(n.source);
      if (!list) uses.set(n.source, (list = []));
      list.push(lineOf(n.range[0]));
    },
  });
  if (!anchored.size) return [];
  const out: string[] = [];
  const seen = new Set<string>();
  for (const e of edits) {
    // A scalar's range is its value, after its `&anchor`: the edit of it starts where it does.
    const name = anchored.get(e.start);
    if (!name || seen.has(name)) continue;
    seen.add(name);
    const lines = uses.get(name) ?? [];
    if (lines.length) out.push(`${file}:${lineOf(e.start)}: the image rewritten here is the YAML anchor &${name}, and ${lines.length === 1 ? 'its alias at line' : `its ${lines.length} aliases at lines`} ${lines.join(', ')} now ${lines.length === 1 ? 'says' : 'say'} the same: check that each of them is an image`);
  }
  return out;
}

/** Flux HelmRepositories of the rewritten tree, by `namespace/name` (HelmReleases name them); `named`: those a HelmRelease of the tree names. */
export type HelmRepositories = Map<string, ChartSource> & { named?: Set<string> };

const repoKey = (namespace: string | undefined, name: string | undefined) => `${namespace ?? ''}/${name ?? ''}`;

export function collectHelmRepositories(doc: Document.Parsed, into: HelmRepositories): void {
  for (const s of chartSourcesOf(doc.contents)) if (s.kind === 'HelmRepository') into.set(repoKey(s.namespace, s.name), s);
  const release = helmReleaseChartOf(doc.contents);
  if (release?.sourceKind === 'HelmRepository') (into.named ??= new Set()).add(repoKey(release.sourceNamespace, release.sourceName));
}

/**
 * GitOps chart sources (Argo CD Application/ApplicationSet, Flux HelmRepository/OCIRepository, see
 * audit/chart-sources.ts): the controller fetches the chart itself, so the source is pointed at
 * where import put the chart (the target's `charts:` repository or its registry, the form written
 * kept when the target has it). The chart name and version stay; a chart or version the lock does
 * not carry is reported (a Flux HelmRelease's at its own line), never pointed at a mirror that lacks it.
 */
function scanChartSources(
  doc: Document.Parsed,
  text: string,
  file: string,
  ctx: RewriteContext,
  lineOf: (o: number) => number,
  out: DocumentOut,
  helmRepos?: HelmRepositories,
  vendored?: ReadonlySet<string>,
): void {
  const locked = ctx.lock.charts ?? [];
  const noPlace = `target ${ctx.targetFile} has neither charts: nor registry:`;
  const release = helmReleaseChartOf(doc.contents);
  if (release && release.sourceKind === 'HelmRepository') {
    const repo = helmRepos?.get(repoKey(release.sourceNamespace, release.sourceName));
    if (repo && !onMirror(repo, ctx.target, ctx.mapping)) {
      const carried = chartsFrom(locked, repo.repo);
      if (carried.length && !carriedVersion(carried, release.chart, release.version)) {
        out.unmapped.push({
          file,
          line: lineOf(release.chartNode.range![0]),
          kind: 'chart-repo',
          ref: `chart ${release.chart} ${release.version ?? '(any version)'} from ${repo.url}`,
          reason: notCarried(carried, release.chart),
          where: `${release.object} spec.chart.spec.chart (HelmRepository ${release.sourceName})`,
        });
      }
    }
  }
  const kustomization = isKustomization(file, isMap(doc.contents) ? scalarText(mapGet(doc.contents, 'kind')) : null);
  for (const src of chartSourcesOf(doc.contents, { kustomization })) {
    if (onMirror(src, ctx.target, ctx.mapping)) continue;
    const line = lineOf(src.urlNode.range![0]);
    const where = `${src.object} ${src.keyPath}`;
    const carried = chartsFrom(locked, src.repo);
    const fail = (ref: string, reason: string) => out.unmapped.push({ file, line, kind: 'chart-repo', ref, reason, where });
    if (src.kind === 'HelmRepository') {
      if (!carried.length) {
        fail(src.url, `no chart from ${src.repo} is in the lock`);
        continue;
      }
      const places = [...new Set(carried.map((c) => JSON.stringify(mirrorChartSource(c, src.form, ctx.target, ctx.mapping) ?? null)))];
      const m = JSON.parse(places[0]) as ReturnType<typeof mirrorChartSource> | null;
      if (!m) {
        fail(src.url, noPlace);
        continue;
      }
      if (places.length > 1) {
        fail(src.url, `the charts of this repository are in more than one place on the mirror (${places.length}); point one HelmRepository at each`);
        continue;
      }
      const url = m.form === 'http' ? m.url : `oci://${m.path}`;
      out.edits.push(scalarEdit(src.urlNode, url, text));
      out.replacements.push({ file, line, kind: 'chart-repo', old: src.url, new: url, where });
      // The HelmReleases of the tree that install from it move their charts' default images (gitops-values.ts).
      if (!helmRepos?.named?.has(repoKey(src.namespace, src.name))) out.warnings.push(chartDefaultsWarning(file, line, where, `every chart a HelmRelease installs from it`));
      const type = m.form === 'oci' ? 'oci' : 'default';
      if (src.typeNode && scalarText(src.typeNode) !== type) out.edits.push(scalarEdit(src.typeNode, type, text));
      else if (!src.typeNode && m.form === 'oci') out.edits.push(insertAfterPair(src.spec as { flow?: boolean }, src.urlNode, 'type', 'oci', text));
      continue;
    }
    if (src.kind === 'HelmChart') {
      helmChartSource(src, carried, text, ctx, { file, line, where, fail, edits: out.edits, replacements: out.replacements, warnings: out.warnings, spec: mapGet(doc.contents, 'spec') });
      continue;
    }
    const chart = src.chart!;
    const version = carriedVersion(carried, chart, src.version);
    const ref = `chart ${chart} ${src.version ?? '(any version)'} from ${src.url}`;
    // An OCIRepository's artifact carried under `images:` (Flux manifests, a policy bundle): no chart, the repository as is.
    const artifact = !version && src.kind === 'OCIRepository' && ctx.target.registry ? carriedOciSource(ctx.lock.images ?? [], src.url, src.version, ctx.mapping) : undefined;
    if (artifact) {
      const what = `OCI artifact ${artifact.repository}:${src.version ?? 'latest'}`;
      if (!artifact.tag) {
        fail(what, `the lock carries ${artifact.repository} under images: with ${artifact.tags.length ? `tags ${artifact.tags.join(', ')}` : 'digests only'}, not ${src.version ?? 'latest'} (spec.ref)`);
        continue;
      }
      const url = `oci://${artifact.mirror}`;
      out.edits.push(scalarEdit(src.urlNode, url, text));
      out.replacements.push({ file, line, kind: 'chart-repo', old: src.url, new: url, where: `${where} (OCI artifact, tag ${artifact.tag})` });
      continue;
    }
    // A kustomize helmCharts chart vendored where kustomize looks is inflated from there, never pulled.
    if (!version && src.kind === 'Kustomization' && vendored?.has(`${file} ${src.keyPath}`)) continue;
    if (!version) {
      fail(ref, carried.length ? notCarried(carried, chart) : `no chart from ${src.repo} is in the lock`);
      continue;
    }
    const m = mirrorChartSource({ repo: src.repo, name: chart, version }, src.form, ctx.target, ctx.mapping);
    if (!m || (src.kind === 'OCIRepository' && m.form !== 'oci')) {
      fail(ref, m ? `an OCIRepository needs an OCI registry, and target ${ctx.targetFile} has no registry:` : noPlace);
      continue;
    }
    // Argo CD's OCI form is the registry path without a scheme (an `oci://` one keeps its scheme:
    // kustomize's `helmCharts[].repo` always has it).
    const url = src.kind === 'OCIRepository' ? `oci://${(m as { path: string }).path}/${chart}` : m.form === 'http' ? m.url : /^oci:\/\//i.test(src.url) ? `oci://${m.path}` : m.path;
    out.edits.push(scalarEdit(src.urlNode, url, text));
    out.replacements.push({ file, line, kind: 'chart-repo', old: src.url, new: url, where: `${where} (chart ${chart} ${version})` });
  }
}

/**
 * A Flux HelmRepository no HelmRelease of the rewritten files installs from: the images the charts'
 * defaults name are moved in the objects that install them (gitops-values.ts), and none is here.
 * Said, not left silent.
 */
function chartDefaultsWarning(file: string, line: number, where: string, what: string): string {
  return `${file}:${line}: ${where}: ${what} now comes from the mirror, but no HelmRelease among the rewritten files installs from it, so the images the charts' own defaults and templates name were not checked or moved: rewrite the HelmReleases with it (README: "The images a GitOps-installed chart deploys")`;
}

/**
 * A k3s/RKE2 HelmChart's chart source (audit/chart-sources.ts): its install Job runs `helm repo add
 * <name> <spec.repo>` and installs `<name>/<spec.chart>`, or installs `spec.chart` itself (an
 * `oci://` reference or an archive URL). The form stays: `spec.repo` becomes the target's chart
 * repository (an OCI one cannot be `helm repo add`ed: refused, naming the change to make), an
 * `oci://` chart the chart on the mirror registry (its `:tag` kept), an archive URL the archive in
 * the target's chart repository. What the Job then needs to reach the mirror: `spec.plainHTTP: true`
 * for an http registry, written (the target says so; without it the Job's `helm pull` speaks https
 * to it and fails), and the CA of an https mirror it does not trust said (`spec.repoCA`/
 * `spec.repoCAConfigMap`: the CA is the site's to place).
 */
function helmChartSource(
  src: ChartSource,
  carried: ReturnType<typeof chartsFrom>,
  text: string,
  ctx: RewriteContext,
  at: { file: string; line: number; where: string; fail: (ref: string, reason: string) => void; edits: TextEdit[]; replacements: Replacement[]; warnings: string[]; spec: unknown },
): void {
  const { line, where, fail } = at;
  const put = (url: string, what: string, facet: 'charts' | 'registry') => {
    at.edits.push(scalarEdit(src.urlNode, url, text));
    at.replacements.push({ file: at.file, line, kind: 'chart-repo', old: src.url, new: url, where: `${where} (${what})` });
    const ca = ctx.target.registry?.ca || ctx.target.registry?.certDir;
    if (facet === 'registry' && new URL(ctx.target.registry!.url).protocol === 'http:') plainHttp();
    else if (facet === 'registry' && ca) at.warnings.push(`${at.file}:${line}: ${where}: the mirror registry ${ctx.mapping.host} has its own CA (target ${ctx.targetFile}): give ${src.object} spec.repoCAConfigMap (a ConfigMap of the CA in its namespace) or spec.repoCA, or its install Job does not trust the mirror`);
  };
  // spec.plainHTTP: true beside the chart (a `plainHTTP` written otherwise set to true); said when the
  // spec holding the chart is not the document's own map (a List item), where it is not written.
  const plainHttp = () => {
    const spec = at.spec;
    const own = isMap(spec) && spec.items.some((p) => p.value === src.urlNode);
    const now = own ? mapGet(spec, 'plainHTTP') : undefined;
    if (own && isScalar(now) && now.value === true) return;
    if (own && isScalar(now) && now.range) at.edits.push({ start: now.range[0], end: now.range[1], text: 'true' });
    else if (own && now === undefined) at.edits.push(insertAfterPair(spec, src.urlNode, 'plainHTTP', 'true', text, 'raw'));
    else return void at.warnings.push(`${at.file}:${line}: ${where}: the mirror registry ${ctx.mapping.host} speaks plain HTTP: set spec.plainHTTP: true on ${src.object}, or its install Job refuses to pull the chart`);
    at.replacements.push({ file: at.file, line, kind: 'chart-repo', old: isScalar(now) ? `plainHTTP: ${scalarText(now) ?? ''}` : 'plainHTTP (not set)', new: 'plainHTTP: true', where: `${src.object} spec.plainHTTP (the mirror registry ${ctx.mapping.host} speaks plain HTTP)` });
  };
  const chartsUrl = ctx.target.charts ? trimTrailing(ctx.target.charts.baseUrl, '/') : undefined;
  if (src.archive) {
    const c = archiveChart(ctx.lock.charts ?? [], src.repo);
    if (!c) return fail(src.url, 'no chart in the lock was downloaded from this URL');
    if (!ctx.target.charts) return fail(`chart ${c.name} ${c.version} from ${src.url}`, `target ${ctx.targetFile} has no charts: repository to hold the archive; write spec.chart: oci://<the mirror path ferry map prints>/${c.name} with spec.version: ${c.version}, or add charts: to the target`);
    return put(mapChartHttp(c.name, c.version, ctx.target.charts).url, `chart ${c.name} ${c.version}`, 'charts');
  }
  const chart = src.chart!;
  const version = carriedVersion(carried, chart, src.version);
  const ref = `chart ${chart} ${src.version ?? '(any version)'} from ${src.url}`;
  if (!version) return fail(ref, carried.length ? notCarried(carried, chart) : `no chart from ${src.repo} is in the lock`);
  const m = mirrorChartSource({ repo: src.repo, name: chart, version }, src.form, ctx.target, ctx.mapping);
  if (!m) return fail(ref, `target ${ctx.targetFile} has neither charts: nor registry:`);
  if (src.keyPath === 'spec.repo') {
    // helm repo add takes an HTTP chart repository only.
    if (m.form !== 'http') return fail(ref, `target ${ctx.targetFile} has no charts: repository for spec.repo (helm repo add takes an HTTP chart repository); write spec.chart: oci://${m.path}/${chart} and drop spec.repo, or add charts: to the target`);
    return put(m.url, `chart ${chart} ${version}`, 'charts');
  }
  if (m.form !== 'oci') return fail(ref, `target ${ctx.targetFile} has no registry: for an oci:// chart; write spec.repo: ${chartsUrl} with spec.chart: ${chart}, or add registry: to the target`);
  return put(`oci://${m.path}/${chart}${src.ociTag !== undefined ? `:${src.ociTag}` : ''}`, `chart ${chart} ${version}`, 'registry');
}

function notCarried(carried: ReadonlyArray<{ name: string; version: string }>, chart: string): string {
  const same = carried.filter((c) => c.name === chart).map((c) => c.version);
  return same.length ? `the lock carries ${chart} ${same.sort().join(', ')} from this repository, not this version` : `the lock carries no chart ${chart} from this repository (it has ${[...new Set(carried.map((c) => c.name))].sort().join(', ')})`;
}

/** What scanning one document adds to a rewrite. */
type DocumentOut = { edits: TextEdit[]; replacements: Replacement[]; unmapped: Unmapped[]; warnings: string[] };

/** An image in a YAML string on the mirror that could not be changed in place there: named, with what to do. */
function leftInString(where: string, x: { old: string; new: string }, why: string, field: string): string {
  return `${where}: ${x.old} is on the mirror as ${x.new}, but ferry cannot change it in place in ${why}; it was left upstream: change it by hand (or write ${field} as a literal | block and rewrite again)`;
}

/** The string maps of the document's ConfigMaps (`data`) and Secrets (`stringData`), a List's items included. */
function configDataMaps(doc: Document.Parsed): Array<{ kind: string; field: string; data: YAMLMap; name?: string; at: YamlPath }> {
  const objects: Array<{ obj: unknown; at: YamlPath }> = [];
  const items = mapGet(doc.contents, 'items');
  if (scalarText(mapGet(doc.contents, 'kind'))?.endsWith('List') && isSeq(items)) items.items.forEach((obj, i) => objects.push({ obj, at: ['items', i] }));
  else objects.push({ obj: doc.contents, at: [] });
  const out = [];
  for (const { obj, at } of objects) {
    const kind = scalarText(mapGet(obj, 'kind'));
    const field = kind === 'ConfigMap' ? 'data' : kind === 'Secret' ? 'stringData' : undefined;
    const data = field && mapGet(obj, field);
    if (kind && field && isMap(data)) out.push({ kind, field, data, name: scalarText(mapGet(mapGet(obj, 'metadata'), 'name')), at });
  }
  return out;
}

/**
 * Images inside text a ConfigMap's `data` (or a Secret's `stringData`) carries: an operator's pod
 * template or custom resource as a YAML (or JSON) string, which it reads and starts pods from.
 * A string that parses as YAML is scanned as a manifest of its own (the same rules: containers,
 * custom-resource image keys, handed-over images); each change is made inside the string's text
 * in the file, in place (a block literal keeps its style and indentation, a quoted string its
 * quoting), never by writing the string out again. A change that cannot be made so (a folded
 * `>` scalar, an escape in the way) is left as is and named in a warning; an image the mirror
 * lacks is reported as everywhere else. A string that is not YAML is left alone.
 */
function scanCarriedTexts(doc: Document.Parsed, text: string, file: string, ctx: RewriteContext, lineOf: (o: number) => number, out: DocumentOut): void {
  for (const { kind, field, data, name, at } of configDataMaps(doc)) {
    for (const pair of data.items) {
      const node = pair.value;
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (key === undefined || !isScalar(node) || typeof node.value !== 'string' || !node.range || !/image/i.test(node.value)) continue;
      const inner = tryParseYamlDocuments(node.value);
      if (!inner) continue;
      const carried = carriedText(node, text);
      const place = 'value' in carried ? carried : undefined;
      const innerLineOf = (o: number) => lineOf(place ? place.toFile(Math.min(o, place.value.length)) : node.range![0]);
      const where = `${kind}${name ? `/${name}` : ''} ${formatPath([...at, field, key])}`;
      const found = inner.map((d) => scanManifestDocument(d, node.value as string, file, ctx, innerLineOf));
      const edits = found.flatMap((r) => r.edits);
      const mapped = place ? edits.map((e) => carriedEdit(e, place, text)) : [];
      const inPlace = edits.length > 0 && mapped.length === edits.length && mapped.every((e) => e !== undefined);
      for (const r of found) {
        for (const u of r.unmapped) out.unmapped.push({ ...u, where: `${where}: ${u.where ?? 'text'}` });
        out.warnings.push(...r.warnings);
        for (const x of r.replacements) {
          if (inPlace) out.replacements.push({ ...x, where: `${where}: ${x.where ?? 'text'}` });
          else
            out.warnings.push(
              leftInString(`${file}:${x.line}: ${where}: ${x.where ?? 'text'}`, x, 'reason' in carried ? carried.reason : 'this string (an escape or a line break in the way)', 'the string'),
            );
        }
      }
      if (inPlace) out.edits.push(...(mapped as TextEdit[]));
    }
  }
}

/** Where a string's characters are in the file: a literal block's or a quoted scalar's (carriedText), or a plain one-line scalar's own. */
function stringPlace(node: Scalar, text: string): CarriedText | { reason: string } {
  const carried = carriedText(node, text);
  if ('value' in carried || node.type !== Scalar.PLAIN || !node.range || typeof node.value !== 'string') return carried;
  const start = node.range[0];
  const value = node.value;
  return text.slice(start, start + value.length) === value ? { value, style: 'literal', toFile: (o) => start + o } : carried;
}

/**
 * A value that lists images (`STRIMZI_KAFKA_IMAGES: "4.2.0=quay.io/strimzi/kafka:…\n…"`,
 * audit/handed-images.ts): each reference moved to the mirror inside the string, in place, the
 * rest byte for byte; one the mirror lacks is named. `skip`: characters before the list (a flag's
 * `--name=`). A value that is no list of references is left (audit reads it as text).
 */
function moveListedImages(node: Scalar, name: string, skip: number, where: string, at: { file: string; text: string; ctx: RewriteContext; lineOf: (o: number) => number }, out: DocumentOut): void {
  if (typeof node.value !== 'string' || !node.range) return;
  const list = listedImages(node.value.slice(skip));
  if (!list) return;
  const place = stringPlace(node, at.text);
  const lineAt = (o: number) => at.lineOf('value' in place ? place.toFile(o) : node.range![0]);
  if (list.over) out.warnings.push(`${at.file}:${lineAt(0)}: ${where}: ${name} lists more than ${MAX_LISTED_IMAGES} images; only the first ${MAX_LISTED_IMAGES} were read and moved`);
  for (const img of list.images) {
    const offset = skip + img.offset;
    const line = lineAt(offset);
    const entry = `${where}: ${name}${img.entry ? ` entry ${img.entry}` : ''}`;
    const look = at.ctx.lookupImage(img.ref);
    if (look.status === 'mirror') continue;
    if (look.status === 'unmapped') {
      out.unmapped.push({ file: at.file, line, kind: 'image', ref: img.ref, reason: look.reason, where: entry });
      continue;
    }
    const edit = 'value' in place ? carriedEdit({ start: offset, end: offset + img.ref.length, text: look.mirror }, place, at.text) : undefined;
    if (!edit) {
      const why = 'reason' in place ? place.reason : 'this string (an escape or a line break in the way)';
      out.warnings.push(leftInString(`${at.file}:${line}: ${entry}`, { old: img.ref, new: look.mirror }, why, 'the value'));
      continue;
    }
    out.edits.push(edit);
    out.replacements.push({ file: at.file, line, kind: look.digestChanged ? 'digest' : 'image', old: img.ref, new: look.mirror, where: entry });
  }
}

/**
 * Images a ConfigMap's `data` (a Secret's `stringData`) hands a program by key: a key named for
 * one image (`queue-sidecar-image`, `node.collector.imageRef`) holding a reference, a key named
 * for several (`name=ref` entries), and flat dotted keys splitting one image (`trivy.repository`
 * + `trivy.tag`; audit/handed-images.ts). Each moves to the mirror or is named; a repository
 * whose tag the program picks moves when the lock carries that repository, and the warning says
 * the mirror must hold the tag the program asks for.
 */
function scanConfigData(doc: Document.Parsed, text: string, file: string, ctx: RewriteContext, lineOf: (o: number) => number, out: DocumentOut): void {
  for (const { kind, field, data, name, at } of configDataMaps(doc)) {
    const whereOf = (key: string) => `${kind}${name ? `/${name}` : ''} ${formatPath([...at, field, key])}`;
    const scalars = new Map<string, Scalar>();
    for (const pair of data.items) if (isScalar(pair.key) && isScalar(pair.value) && typeof pair.value.value === 'string' && pair.value.range) scalars.set(String(pair.key.value), pair.value as Scalar);
    const consumed = new Set<string>();
    for (const f of flatImages([...scalars.keys()], (k) => scalarText(scalars.get(k)))) {
      consumed.add(f.repositoryKey);
      for (const k of f.partKeys) consumed.add(k);
      moveFlatImage(f, scalars, whereOf(f.repositoryKey), { file, text, ctx, lineOf }, out);
    }
    for (const [key, node] of scalars) {
      // A key named `image` itself is a custom resource's image field to the walk in scanManifestDocument.
      if (consumed.has(key) || key === 'image') continue;
      const last = key.slice(key.lastIndexOf('.') + 1);
      const value = node.value as string;
      if (namesImageList(last)) {
        moveListedImages(node, last, 0, whereOf(key), { file, text, ctx, lineOf }, out);
        continue;
      }
      // As audit's image-key rule reads a key (scan.ts imageKeyPath): named for an image, or `ref`/`imageRef`.
      if (!isImageKey(last) && !/^(?:ref|imageref)$/i.test(last)) continue;
      const h = handedImage(/image/i.test(last) ? last : 'image', value);
      if (!h || value.includes('\n')) continue;
      const line = lineOf(node.range![0]);
      let look;
      try {
        look = ctx.lookupImage(parseImageReference(value.trim()));
      } catch {
        continue;
      }
      if (look.status === 'mirror') continue;
      if (look.status === 'unmapped') {
        if (h.certainty === 'certain') out.unmapped.push({ file, line, kind: 'image', ref: value.trim(), reason: look.reason, where: `${whereOf(key)} (handed to the program)` });
        else out.warnings.push(`${file}:${line}: ${whereOf(key)} is ${value.trim()}, ${h.reason ?? 'an image with no tag or digest'}: ${look.reason}; left as is`);
        continue;
      }
      out.edits.push(scalarEdit(node, look.mirror, text));
      out.replacements.push({ file, line, kind: look.digestChanged ? 'digest' : 'image', old: value.trim(), new: look.mirror, where: `${whereOf(key)} (handed to the program)` });
    }
  }
}

/**
 * One image split over flat keys: the repository key becomes the mirror's repository (with the
 * registry key, when written, the mirror's host and the repository its path there); the tag stays,
 * a digest becomes the stored one.
 */
function moveFlatImage(f: FlatImage, scalars: ReadonlyMap<string, Scalar>, where: string, at: { file: string; text: string; ctx: RewriteContext; lineOf: (o: number) => number }, out: DocumentOut): void {
  const repoNode = scalars.get(f.repositoryKey)!;
  const line = at.lineOf(repoNode.range![0]);
  let look;
  try {
    look = at.ctx.lookupImage(parseImageReference(f.ref));
  } catch {
    out.unmapped.push({ file: at.file, line, kind: 'image', ref: f.ref, reason: 'not a valid image reference', where });
    return;
  }
  if (look.status === 'mirror') return;
  if (look.status === 'unmapped') {
    out.unmapped.push({ file: at.file, line, kind: 'image', ref: f.ref, reason: f.untagged ? `${look.reason} (no tag beside ${f.repositoryKey}: the program picks it)` : look.reason, where });
    return;
  }
  const registryKey = f.partKeys.find((k) => /(?:\.r|R)egistry$/.test(k));
  const digestKey = f.partKeys.find((k) => /(?:\.d|D)igest$/.test(k));
  const sets: Array<[Scalar, string]> = registryKey
    ? [
        [scalars.get(registryKey)!, look.mirrorRef.registry],
        [repoNode, look.mirrorRef.repository],
      ]
    : [[repoNode, `${look.mirrorRef.registry}/${look.mirrorRef.repository}`]];
  if (digestKey && look.digestChanged && look.mirrorRef.digest) sets.push([scalars.get(digestKey)!, look.mirrorRef.digest]);
  for (const [node, next] of sets) {
    const old = scalarText(node) ?? '';
    if (old.trim() === next) continue;
    out.edits.push(scalarEdit(node, next, at.text));
    out.replacements.push({ file: at.file, line: at.lineOf(node.range![0]), kind: 'image', old, new: next, where: `${where} (${f.ref})` });
  }
  if (f.untagged) out.warnings.push(`${at.file}:${line}: ${where} names a repository with no tag beside it: the program picks the tag it pulls, so the mirror must hold that tag of ${look.mirrorRef.registry}/${look.mirrorRef.repository} (the lock carries the repository; which tag is asked for is unknown here)`);
}

/**
 * A k3s/RKE2 HelmChart's (or HelmChartConfig's) values: `spec.valuesContent` (a YAML string) and
 * `spec.set` (`--set` keys) are Helm values, moved as `rewrite values --in-place` moves a values
 * file (image maps, image strings, registry keys: values-images.ts). Inside `valuesContent` each
 * change is made in the string's text in the file, the rest of the string byte for byte (a
 * literal `|` block keeps its lines, a quoted string its quoting); one that cannot be made so (a
 * folded `>` block, an escape in the way) is named and left. A `spec.jobImage` is an image the
 * install Job runs, moved as a container's.
 */
function scanHelmChartValues(doc: Document.Parsed, text: string, file: string, ctx: RewriteContext, lineOf: (o: number) => number, out: DocumentOut): void {
  if (!isMap(doc.contents) || !isHelmChartKind(scalarText(mapGet(doc.contents, 'apiVersion')) ?? '', scalarText(mapGet(doc.contents, 'kind')))) return;
  const object = objectName(describeWorkload(doc.contents, []));
  const spec = mapGet(doc.contents, 'spec');
  if (scalarText(mapGet(spec, 'chart'))?.includes(K3S_API_PLACEHOLDER)) {
    // k3s/RKE2 write their packaged charts' HelmCharts themselves (again at every start), and those
    // charts put global.systemDefaultRegistry in front of their repositories: registries.yaml and
    // system-default-registry move their images, a rewrite of the file does not last.
    if (mapGet(spec, 'valuesContent') || mapGet(spec, 'set') || mapGet(spec, 'values'))
      out.warnings.push(`${file}: ${object} installs a chart packaged in k3s/RKE2 (spec.chart ${scalarText(mapGet(spec, 'chart'))}), whose HelmChart the server writes again at every start: its values are left as they are; its images are the release's system images (k3s-images.txt), pulled through registries.yaml (\`ferry mirror-config k3s\`) and system-default-registry; change its values with a HelmChartConfig`);
    return;
  }
  let moved = false;
  const report = (changes: ValueChange[], unmappedHere: Array<Omit<Unmapped, 'file'>>, at: string, edit: (c: ValueChange) => TextEdit | undefined) => {
    for (const u of unmappedHere) out.unmapped.push({ ...u, file, where: `${object} ${at}.${u.where ?? ''}` });
    moved ||= changes.some((c) => c.node);
    for (const c of changes) {
      if (!c.node) continue;
      const e = edit(c);
      const where = `${object} ${at}.${formatPath(c.path)}`;
      if (!e) {
        out.warnings.push(leftInString(`${file}:${c.line}: ${where}`, c, 'this string (a folded > block, an escape or a line break in the way)', at));
        continue;
      }
      out.edits.push(e);
      out.replacements.push({ file, line: c.line, kind: c.kind, old: c.old, new: c.new, where });
    }
  };
  const valuesNode = mapGet(spec, 'valuesContent');
  if (isScalar(valuesNode) && typeof valuesNode.value === 'string' && valuesNode.range) {
    // Bounded as a values file is (the yaml library needs ~1 KiB a token).
    checkConfigYamlDensity(valuesNode.value, `${file} ${object} spec.valuesContent`, 'the values text');
    const inner = tryParseYamlDocuments(valuesNode.value);
    if (!inner) out.warnings.push(`${file}:${lineOf(valuesNode.range[0])}: ${object} spec.valuesContent is not valid YAML: its images were not read (the helm-controller's install Job fails on it too)`);
    const carried = carriedText(valuesNode, text);
    const place = 'value' in carried ? carried : undefined;
    const innerLineOf = (o: number) => lineOf(place ? place.toFile(Math.min(o, place.value.length)) : valuesNode.range![0]);
    for (const d of inner ?? []) {
      const scan = scanValuesDocument(d, ctx, innerLineOf);
      report(scan.changes, scan.unmapped, 'spec.valuesContent', (c) => {
        const e = c.boolean ? { start: c.node!.range![0], end: c.node!.range![1], text: c.new } : scalarEdit(c.node!, c.new, valuesNode.value as string);
        return place ? carriedEdit(e, place, text) : undefined;
      });
    }
  }
  // `spec.values` (structured) and `spec.set` (`--set` keys, read as the values they set): their scalars are the file's own.
  for (const key of ['values', 'set'] as const) {
    const node = mapGet(spec, key);
    if (!isMap(node)) continue;
    const values = new Document();
    values.contents = key === 'set' ? helmSetValues(node) : node;
    const scan = scanValuesDocument(values as Document.Parsed, ctx, lineOf);
    report(scan.changes, scan.unmapped, `spec.${key}`, (c) => (c.boolean ? { start: c.node!.range![0], end: c.node!.range![1], text: c.new } : scalarEdit(c.node!, c.new, text)));
  }
  if (moved && scalarText(mapGet(doc.contents, 'kind')) === 'HelmChartConfig')
    out.warnings.push(
      `${file}: ${object} adds values to the HelmChart of its name, whose chart decides how an image's values are composed: the charts k3s/RKE2 package (traefik, rke2-*) put global.systemDefaultRegistry in front of their repositories, so with system-default-registry set an image moved here is pulled as <that registry>/<mirror path>; for those, leave the images to registries.yaml (\`ferry mirror-config k3s\`) instead`,
    );
  const job = mapGet(spec, 'jobImage');
  const value = scalarText(job);
  if (isScalar(job) && value && !value.includes('{{')) {
    const line = lineOf(job.range![0]);
    const where = `${object} spec.jobImage`;
    let look;
    try {
      look = ctx.lookupImage(withDefaultTag(parseImageReference(value)));
    } catch {
      out.unmapped.push({ file, line, kind: 'image', ref: value, reason: 'not a valid image reference', where });
      return;
    }
    if (look.status === 'unmapped') out.unmapped.push({ file, line, kind: 'image', ref: value, reason: look.reason, where });
    else if (look.status === 'mapped') {
      out.edits.push(scalarEdit(job, look.mirror, text));
      out.replacements.push({ file, line, kind: look.digestChanged ? 'digest' : 'image', old: value, new: look.mirror, where });
    }
  }
}

/**
 * Images a container hands to its program in `args`/`command` (`--collector-image=REF`, a flag
 * followed by REF) or in `env` (`SIDECAR_IMAGE: REF`): operators start them later, so they must
 * be on the mirror too. Moved when the mirror holds them; one named for an image (certain, as
 * `charts images` calls it) that the mirror lacks is reported, never left upstream in silence.
 */
function scanHandedImages(
  list: YAMLSeq,
  p: YamlPath,
  listKey: string,
  workload: string,
  at: { file: string; text: string; ctx: RewriteContext; lineOf: (o: number) => number; container?: string },
  out: DocumentOut,
): void {
  /** Whether the item was read as one hand-over (a flag, or the word after one): then it is no script. */
  const visit = (node: unknown, name: string, value: string, prefix: string, where: string): boolean => {
    if (namesImageList(name) && isScalar(node)) {
      moveListedImages(node, name, prefix.length, `${where} (handed to the program)`, at, out);
      return true;
    }
    const h = handedImage(name, value);
    if (!h || !isScalar(node) || !node.range) return false;
    let ref;
    try {
      ref = parseImageReference(value.trim());
    } catch {
      return false;
    }
    const line = at.lineOf(node.range[0]);
    const look = at.ctx.lookupImage(ref);
    if (look.status === 'mirror') return true;
    if (look.status === 'unmapped') {
      if (h.certainty === 'certain') out.unmapped.push({ file: at.file, line, kind: 'image', ref: value.trim(), reason: look.reason, where: `${where} (handed to the program)` });
      // Audit names it as an image (a registry host, a tag): left, but said so.
      else out.warnings.push(`${at.file}:${line}: ${where} is ${value.trim()}, ${h.reason ?? 'possibly an image'} handed to the program: ${look.reason}; left as is (carry it if the program pulls it)`);
      return true;
    }
    out.edits.push(scalarEdit(node, `${prefix}${look.mirror}`, at.text));
    out.replacements.push({ file: at.file, line, kind: 'image', old: value.trim(), new: look.mirror, where: `${where} (handed to the program)` });
    return true;
  };
  list.items.forEach((item, i) => {
    const where = `${workload} ${formatPath([...p, i])}`;
    if (listKey === 'env') {
      const name = scalarText(mapGet(item, 'name'));
      const valueNode = mapGet(item, 'value');
      const value = scalarText(valueNode);
      if (name && value) visit(valueNode, name, value, '', `${where}.value`);
      return;
    }
    const value = scalarText(item);
    if (!value) return;
    const h = handedArg(value, scalarText(list.items[i - 1]), listKey);
    if (!visit(item, h.name, h.value, h.prefix, where) && isScalar(item)) moveScriptImages(item, listKey, where, at, out);
  });
}

/** At most this many images one shell-script item hands over are looked up, and at most this many places in it changed. */
const MAX_SCRIPT_IMAGES = 256;

/** What ends a word of a shell script, for finding a reference written out whole: blanks, quotes, `=`, operators, `\`, `,`. */
const SCRIPT_SEPARATOR = /[\s'"=;&|()<>`\\,]/;

/** Each word of `s` (maximal run without a separator) with where it starts: one linear pass. */
function scriptTokens(s: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  let start = -1;
  for (let i = 0; i <= s.length; i++) {
    if (i < s.length && !SCRIPT_SEPARATOR.test(s[i])) {
      if (start < 0) start = i;
      continue;
    }
    if (start < 0) continue;
    const word = s.slice(start, i);
    const list = out.get(word);
    if (list) list.push(start);
    else out.set(word, [start]);
    start = -1;
  }
  return out;
}

/**
 * Images an args/command item that is a shell script hands over in flags (`-dataplane-image="REF" \`
 * in a `/bin/sh -ec` text, `--init-image 'REF'`), read as discovery reads them (handedScriptArgs:
 * bare words of the script are not hand-overs). Nothing is left upstream in silence: one the mirror
 * holds is changed inside the string wherever the reference is written out whole as a word (the
 * rest of the script byte for byte, as moveListedImages does); one written otherwise (quoted in
 * pieces, built from variables) or in a string ferry cannot edit in place (a folded `>` block, an
 * escape in the way) is left and named with the object, container and reference; one the mirror
 * lacks is reported (certain) or warned about (possible), as a flag item of its own is.
 */
function moveScriptImages(node: Scalar, listKey: string, where: string, at: { file: string; text: string; ctx: RewriteContext; lineOf: (o: number) => number; container?: string }, out: DocumentOut): void {
  if (typeof node.value !== 'string' || !node.range) return;
  const item = node.value;
  const handed = handedScriptArgs(item, listKey);
  if (!handed.length) return;
  let tokens: Map<string, number[]> | undefined;
  let place: CarriedText | { reason: string } | undefined;
  const seen = new Set<string>();
  let places = 0;
  for (const h of handed) {
    const value = h.value.trim();
    const certainty = seen.has(value) ? undefined : handedImage(h.name, value);
    if (!certainty) continue;
    let ref;
    try {
      ref = parseImageReference(value);
    } catch {
      continue;
    }
    seen.add(value);
    const named = `${where} (container ${at.container ?? '(unnamed)'}: ${h.name} in a shell script, handed to the program)`;
    if (seen.size > MAX_SCRIPT_IMAGES) {
      out.warnings.push(`${at.file}:${at.lineOf(node.range[0])}: ${named}: the script hands over more than ${MAX_SCRIPT_IMAGES} images; the rest (from ${value} on) were not read or moved: check them by hand`);
      return;
    }
    const look = at.ctx.lookupImage(ref);
    if (look.status === 'mirror') continue;
    tokens ??= scriptTokens(item);
    place ??= stringPlace(node, at.text);
    const offsets = tokens.get(value) ?? [];
    const line = at.lineOf(offsets.length && 'value' in place ? place.toFile(offsets[0]) : node.range[0]);
    if (look.status === 'unmapped') {
      if (certainty.certainty === 'certain') out.unmapped.push({ file: at.file, line, kind: 'image', ref: value, reason: look.reason, where: named });
      else out.warnings.push(`${at.file}:${line}: ${named} is ${value}, ${certainty.reason ?? 'possibly an image'}: ${look.reason}; left as is (carry it if the program pulls it)`);
      continue;
    }
    if (!offsets.length || places + offsets.length > MAX_SCRIPT_IMAGES) {
      out.warnings.push(
        `${at.file}:${line}: ${named}: ${value} is on the mirror as ${look.mirror}, but the script ${offsets.length ? `writes its images in more than ${MAX_SCRIPT_IMAGES} places` : 'does not write it out as one word (quoted in pieces, or built from variables)'}, so ferry did not change it; it was left upstream: change it by hand`,
      );
      continue;
    }
    places += offsets.length;
    const carried = place;
    const edits = offsets.map((o) => ('value' in carried ? carriedEdit({ start: o, end: o + value.length, text: look.mirror }, carried, at.text) : undefined));
    if (edits.some((e) => !e)) {
      out.warnings.push(leftInString(`${at.file}:${line}: ${named}`, { old: value, new: look.mirror }, 'reason' in carried ? carried.reason : 'this string (an escape or a line break in the way)', 'the item'));
      continue;
    }
    out.edits.push(...(edits as TextEdit[]));
    out.replacements.push({ file: at.file, line, kind: look.digestChanged ? 'digest' : 'image', old: value, new: look.mirror, where: offsets.length > 1 ? `${named}, ${offsets.length} places` : named });
  }
}

/** The characters of text whose documents the first pass keeps for the rewrite (a document tree holds ~18 bytes a character). */
const MAX_KEPT_PARSE_CHARS = 4 * 1024 * 1024;

export async function rewriteManifests(inputs: string[], ctx: RewriteContext, opts: RewriteManifestsOptions): Promise<RewriteResult> {
  if (!inputs.length) throw new FerryError('USAGE', 'rewrite manifests needs files or directories');
  const texts = new Map<string, string>();
  const read = async (file: string) => texts.get(file) ?? texts.set(file, await readText(file, 'manifest')).get(file)!;
  // A chart vendored for a kustomization's helmCharts: is no manifest (its templates are Helm's); kustomize inflates it as it is.
  const collected = await collectRewriteInputs(inputs);
  const all = collected.files;
  // Judged by paths as the report prints them (relative to the working directory), which its notes name.
  const hosts = podmanHosts(await Promise.all(collected.registriesConfs.map(async (file) => ({ file: path.relative(process.cwd(), file), type: 'toml' as const, text: await readText(file, 'registries.conf') }))));
  const podman: PodmanHosts = { configs: hosts.configs, of: (file, enclosed) => hosts.of(path.relative(process.cwd(), path.resolve(file)), enclosed) };
  const vendored = await vendoredKustomizeCharts(all, read);
  const inChart = (file: string) => [...vendored.dirs.keys()].find((d) => isWithin(path.resolve(file), d));
  const files = all.filter((f) => !inChart(f));
  const changes: FileChange[] = [];
  const replacements: Replacement[] = [];
  const unmapped: Unmapped[] = [];
  const warnings: string[] = [];
  const scopes = new KustomizeScopes();
  const helmRepos: HelmRepositories = new Map();
  const flux = new FluxVariables();
  const fluxChanges: FluxVarChange[] = [];
  const fileEdits = new Map<string, TextEdit[]>();
  // First the kustomizations and Flux HelmRepositories every file's rewrite may need: each file is
  // read once (its text is what the rewrite edits, as `changes` keeps it anyway), and parsed here
  // only when it can hold one of them: a kind is written out, or spelled with a YAML escape.
  const parsed = new Map<string, Document.Parsed[]>();
  let keptBytes = 0;
  for (const [dir, by] of vendored.dirs) if (all.some((f) => isWithin(path.resolve(f), dir))) warnings.push(`${dir}: the chart ${by} inflates, vendored where kustomize looks: left as it is (its templates are no manifests; kustomize applies the kustomization's images: and valuesInline to what it renders, and \`ferry audit\` renders it and names each image still pulled upstream)`);
  for (const file of files) {
    const text = await read(file);
    const kustomization = isKustomizationFile(file);
    if (isQuadletUnit(file) || isTomlConfig(file)) continue;
    const fluxish = text.includes('postBuild') || text.includes(FLUX_KUSTOMIZE_API) || text.includes('ConfigMap') || text.includes('Secret');
    if (!kustomization && !fluxish && !text.includes('HelmRepository') && !text.includes('HelmRelease') && !text.includes('\\')) continue;
    const docs = parseYamlDocuments(text, file);
    // Kept for the rewrite below while the texts kept stay small (a rendered install holds ConfigMaps:
    // it was parsed twice, each parse of 2 MB ~1 s); past the bound a file is parsed again there.
    if (keptBytes + text.length <= MAX_KEPT_PARSE_CHARS) {
      keptBytes += text.length;
      parsed.set(file, docs);
    }
    for (const d of docs) collectHelmRepositories(d, helmRepos);
    for (const d of docs) flux.add(d, file);
    for (const d of docs) addFluxImages(scopes, file, d);
    const doc = docs[0];
    if (kustomization && doc && isKustomization(file, isMap(doc.contents) ? scalarText(mapGet(doc.contents, 'kind')) : null))
      scopes.add(
        file,
        imageOverrides(doc.contents, doc),
        kustomizationEntries(doc.contents, doc)
          .filter((e) => !e.remoteHost)
          .map((e) => e.value),
      );
  }
  const envs = new Map<string, Promise<ComposeEnv | undefined>>();
  const given = new Set(files.map((f) => path.resolve(f)));
  // The Kubernetes YAML a given .kube unit hands to podman kube play (its short names are podman's).
  const kubePlay = new Set<string>();
  for (const file of files) {
    if (!isQuadletUnit(file)) continue;
    for (const { at } of unitKubeYamls(file, texts.get(file)!)) if (!('outside' in at)) kubePlay.add(path.resolve(at.file));
  }
  for (const file of files) {
    const text = texts.get(file)!;
    if (isQuadletUnit(file)) {
      const q = rewriteQuadletUnit(file, text, ctx, podman.of(file));
      replacements.push(...q.replacements);
      unmapped.push(...q.unmapped, ...kubeYamlsNotGiven(file, text, given));
      changes.push({ file, before: text, after: applyTextEdits(text, q.edits) });
      continue;
    }
    if (isTomlConfig(file)) {
      // A GitLab runner's config.toml (another config.toml is no manifest: left alone).
      const r = rewriteRunnerConfig(file, text, ctx);
      replacements.push(...r.replacements);
      unmapped.push(...r.unmapped);
      warnings.push(...r.warnings);
      changes.push({ file, before: text, after: applyTextEdits(text, r.edits) });
      continue;
    }
    const lineOf = lineIndex(text);
    const edits: TextEdit[] = [];
    fileEdits.set(file, edits);
    const composeEnv = await readComposeEnv(file, envs);
    const fluxAt = { settings: flux.settingsFor(file, scopes.builtFrom(file)), changes: fluxChanges };
    const docs = parsed.get(file) ?? parseYamlDocuments(text, file);
    parsed.delete(file);
    for (const doc of docs) {
      const r = scanManifestDocument(doc, text, file, ctx, lineOf, scopes, helmRepos, composeEnv, vendored.repos, fluxAt, { hosts: podman, kubePlay: kubePlay.has(path.resolve(file)) });
      edits.push(...r.edits);
      replacements.push(...r.replacements);
      unmapped.push(...r.unmapped);
      warnings.push(...r.warnings, ...sharedAnchorWarnings(doc, r.edits, file, text, lineOf));
    }
  }
  // A .env variable the Compose images beside it use moves once, when they all ask the same value of it.
  for (const got of envs.values()) {
    const env = await got;
    if (!env?.demands.length) continue;
    const settled = await settleComposeEnv(env);
    replacements.push(...settled.replacements);
    unmapped.push(...settled.unmapped);
    if (settled.edits.length) changes.push({ file: env.file, before: env.text, after: applyTextEdits(env.text, settled.edits) });
  }
  // A Flux variable several images share moves once, when they all ask the same value of it.
  settleFluxChanges(fluxChanges, (f) => texts.get(f)!, (f, o) => lineIndex(texts.get(f)!)(o), { edits: fileEdits, replacements, unmapped });
  const after = new Map([...fileEdits].map(([file, edits]) => [file, applyTextEdits(texts.get(file)!, edits)]));
  // The images the charts GitOps objects install name themselves, moved in those objects' values (on the rewritten text).
  const defaults = await moveChartDefaults(after, ctx, { archives: opts.archives, lockFile: opts.lockFile ?? 'the lock' });
  replacements.push(...defaults.replacements);
  warnings.push(...defaults.warnings);
  for (const [file, text] of after) changes.push({ file, before: texts.get(file)!, after: defaults.texts.get(file) ?? text });
  // A remote base or chart repository written with credentials (`https://user:token@…`) is
  // reported without them: the report goes to terminals and CI logs.
  for (const u of unmapped) Object.assign(u, { ref: redactUrlsIn(u.ref), reason: redactUrlsIn(u.reason) });
  for (const x of replacements) Object.assign(x, { old: redactUrlsIn(x.old), where: x.where && redactUrlsIn(x.where) });
  return finishRewrite(changes, replacements, unmapped, { ...opts, warnings: warnings.map(redactUrlsIn) });
}
