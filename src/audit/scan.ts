import { detached, detachStrings } from './detach.js';
import { createHash } from 'node:crypto';
import { lstat, opendir, realpath, stat } from 'node:fs/promises';
import { impliedEgress, markNtpServers, mentioningJson } from './implied-egress.js';
import { inlineValuesOf, joinValuesImages } from './joined-values.js';
import { applyGrafana, collectGrafana, grafanaIniFile, newGrafanaCollected, type GrafanaCollected } from './grafana.js';
import { markInjectedPlaceholders } from './injected.js';
import type { AptSourceEntry } from '../kinds/types.js';
import { isIP } from 'node:net';
import path from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node as YamlNode, type Scalar } from 'yaml';
import { FerryError, unreadableFile, withoutStackTraces } from '../errors.js';
import { isWithin } from '../store/safe-path.js';
import { CONFIG_YAML_TOKENS, yamlTokensOver } from '../manifest/input-file.js';
import { readRegularFile, specialKind } from '../store/verified-write.js';
import { ciFileKind, ciImagePath, ciStepUses, gitlabJobVariables, imageMapReference, isImageKey, isImageListKey, type CiFile } from '../kinds/image/image-key.js';
import { composedImagesOf, composeImage, defaultImagesOf, isOperatorKind } from '../kinds/image/operator-images.js';
import { fluxUnknownWhy, fluxVariablesOf, FluxSubstitutions } from './flux.js';
import { FLUX_KUSTOMIZE_API, isFluxKustomization, isKustomization, isKustomizationFile, kustomizationEntries, kustomizeScopesOf, mergedField, overridesText, resolveAlias, type KustomizationEntry, type KustomizeScopes } from './kustomize.js';
import { gitopsReleasesOf, valuesSourceOf, type GitOpsRelease, type ValuesSource } from './gitops-releases.js';
import { chartSourcesOf, helmChartObjectOf, helmReleaseChartOf, helmSetValues, isHelmChartKind, K3S_API_PLACEHOLDER, type ChartSourceTool, type HelmChartObject, type HelmReleaseChart } from './chart-sources.js';
import { redactUrl } from '../net/http.js';
import { cutLastLineFrom, lastLineStart, trimTrailing } from '../ui/escape.js';
import { noteTextParsed } from '../store/young-gc.js';
import { composeDotenv, composeEnvEntries, composeEnvFilesOf, containerEnvEntries, interpolateCompose, MAX_INTERPOLATED, readDotenvEntries, type ComposeEnvFileRef, type ServiceEnv } from './compose-env.js';

export { interpolateCompose, MAX_INTERPOLATED, withBuildArgs };
import { applyComposeBuilds, composeBuildsOf, DOCKERFILE_NAME, dockerfileFroms, withBuildArgs, type ComposeBuild } from './dockerfile.js';
import { embeddedLeaves, flagValue } from './embedded.js';
import { CONTAINER_PATH, containerExpansions } from './container-env.js';
import { blanked, fileNameLike, qualifiedNameField, YamlLineKeys } from './qualified-names.js';
import { applyAnsible, isAnsibleConfigFile, isAnsibleText, isAnsibleVarsJson } from './ansible.js';
import { applyTerraform, isTerraformFile } from './terraform.js';
import { composeCliIn, MAX_SOURCE_DEPTH, OWN_DIR_MARK, runtimeScopeOf, setsRuntimeVars, sourcedName, type ShellVar, type SourcedText } from './runtime-vars.js';
import { ApacheDefines, caddyEnvDefaults, isCaddyfile, NginxMaps, nginxMaps, nginxPassVariable, NginxSets, nginxUpstreams, upstreamGroupNote, variableUpstream, variableUpstreamNote } from './web-server.js';
import { webContexts, webFactsOf, type WebContext, type WebFacts } from './web-includes.js';
import { applyMergeKeys } from './yaml-merge.js';
import { caddyFactsOf, importedArgLines, MAX_PASTED_CHARS, type CaddyImport, type PasteBudget } from './caddy-imports.js';
import { collectWebConfigMaps, MAX_MOUNTED_FILES, mountedKeys, webConfigTypeOf, type ConfigMapKey, type ConfigMapMount, type WebConfigCollected, type WebConfigType } from './web-configmaps.js';
import { applyVarScalars, ComposeEnvs, composeEnvOf, interpolateWith, MAX_VAR_SCALARS, substitutionOf, type ComposeEnv, type ComposeRun, type VarScalar } from './var-scalars.js';
import { applySystemdUnits, isSystemdUnit, systemdUnitOf, type SystemdUnitFile } from './systemd.js';
import { applyPodmanShortNames, applyQuadletKube, isQuadletUnit, isRegistriesConf, quadletImages, type PodmanPull } from './podman.js';
import { execKeepingTemplates, templatedImage, templatedScpRemotes } from './unknown-host.js';
import { isRunnerConfig, MAX_RUNNER_IMAGES, runnerImages } from './gitlab-runner.js';
import { flatImages, joinedImagesIn, listedImages, MAX_JOINED_IMAGES, MAX_LISTED_IMAGES, namesImageList } from './handed-images.js';
import { handedImage } from '../kinds/chart/discover/index.js';

/**
 * Scanners: find every place a configuration points somewhere — URLs, oci:// references,
 * image references and bare hostnames — with file, line and key path; and collect the
 * settings (values keys, config keys, environment variables) mitigation checks look at.
 * One scanner per file type, like Renovate's managers.
 */
export type FileType = 'yaml' | 'json' | 'toml' | 'env' | 'apt-list' | 'apt-sources' | 'text';
export type RefKind = 'url' | 'oci' | 'image' | 'host' | 'apt';

export interface Reference {
  file: string;
  line: number;
  /** Dotted key path in structured files (`images[0].ref`), variable name in env files. */
  keyPath?: string;
  kind: RefKind;
  value: string;
  /** A reference found in a chart rendered with scanned values (audit/charts.ts): where it came from, in words. */
  provenance?: string;
  /** Rendered only: the template (`# Source:`) and the resource (`Kind/name`). `line` is then the template's line. */
  template?: string;
  resource?: string;
  /** An APT source entry: what it asks of the repository (types `deb`/`deb-src`, suites, components). */
  apt?: AptSourceEntry;
  /** A Helm chart source a GitOps controller fetches itself (audit/chart-sources.ts): `value` is its URL as written. */
  chartSource?: { tool: ChartSourceTool; object: string; kind: string; repo: string; chart?: string; version?: string; name?: string; namespace?: string; archive?: true };
  /** A place inside the cluster that only looks external (k3s's `https://%{KUBERNETES_API}%/static/charts/…`): what serves it, in words. */
  inCluster?: string;
  /**
   * A Flux HelmRelease's chart, tied to the HelmRepository it names (`applyHelmReleases`): the
   * repository's URL reference again, with the release's chart and version. Audit keeps it only
   * where it says more than the repository's own finding (on the mirror, a version not carried).
   */
  helmRelease?: true;
  /** A kustomization's remote `resources:`/`components:` entry (audit/kustomize.ts): kustomize fetches it from `host` at build time. */
  kustomizeRemote?: { host: string };
  /** A Compose service's `image` with `${VAR}`s, as written: resolved after the scan from the `.env` beside it. */
  composeVars?: string;
  /** A Kubernetes container `image` with `${VAR}`s, as written: Flux's `postBuild` substitution fills them in (applyFluxSubstitutes). */
  fluxVars?: string;
  /** A Flux `ImageRepository`'s `spec.image`: image-reflector-controller lists its tags itself (`ImageRepository/<name>`). */
  polledBy?: string;
  /** An image an operator composes from its resource's fields or pulls by default (kinds/image/operator-images.ts): how, in words. */
  operator?: string;
  /** An image map in values with no tag (`tag: ""`, or none): who decides the tag, in words (the chart's template). */
  tagFrom?: string;
  /** With `tagFrom`: the image the audit's own render of the release these values feed pulls from that repository, at its one tag (audit/charts.ts resolveUntagged), and that render. */
  renderedAs?: { ref: string; from: string };
  /** A Quadlet unit's `Image=` (audit/podman.ts): podman pulls it, through the host's registries.conf. */
  podman?: PodmanPull;
  /** Istio's `image: auto` on a pod asking for injection (audit/injected.ts): what asks for it. */
  injectedBy?: string;
  /** With `injectedBy` from a pod's own label: the namespace its object names (audit/injected.ts). */
  injectedIn?: string;
  /**
   * No reference: a Namespace labelled `istio-injection` other than `enabled` (audit/injected.ts),
   * whose pods Istio's webhooks never select; removed with the labelled pods in it before the audit.
   */
  injectionOff?: string;
  /**
   * A destination the configuration implies without writing it (audit/implied-egress.ts): a DNS
   * provider's API, a product's default notifier or telemetry, an object store by its region: how,
   * in words, with the source of the host. `unknown`: the destination is not known (host unknown).
   */
  implied?: { note: string; unknown?: true };
}

export interface Setting {
  file: string;
  line: number;
  /** values/config: dotted key path; env: variable name. */
  key: string;
  value: string;
  source: 'structured' | 'env';
}

export interface ScannedFile {
  file: string;
  type: FileType;
  /**
   * The file's text, kept only where a pass after the scan reads it (`keepsText`): holding every
   * file's text held the whole tree (494 MB peak RSS for a 60 MB chart monorepo).
   */
  text?: string;
  /** Without `text`: the first line (1-based) holding each of the scan's `textPatterns` found in the file. */
  firstLines?: Map<string, number>;
}

/** What a scan keeps beyond references and settings (scanPaths). */
export interface ScanOptions {
  maxPaths?: number;
  /** The patterns of the manifest's `text` checks: each file's first line holding each is kept (`firstLines`); given, only the texts `keepsText` or `keepText` names are kept. */
  textPatterns?: readonly string[];
  /** Keep the text of these files too (a chart's values files, rendered after the scan). */
  keepText?: (file: string, type: FileType) => boolean;
  /** Keep only the settings some check reads (a chart monorepo has hundreds of thousands). */
  keepSetting?: (s: Setting) => boolean;
}

/**
 * The YAML documents the audit reads after the scan (audit.ts `yamlDocuments`: OpenShift mirror
 * sets, OLM CatalogSources and Subscriptions), by a word their file's text holds; Flux's
 * Kustomizations (`postBuild`) and the ConfigMaps they substitute from.
 */
export const KEPT_YAML_MENTION = /^[ \t]*["']?kind["']?[ \t]*:[ \t]*["']?(?:ImageDigestMirrorSet|ImageTagMirrorSet|ImageContentSourcePolicy|CatalogSource|Subscription)\b/m;

/**
 * Whether a pass after the scan reads this file's text: a Compose `.env` (applyComposeVars), a
 * kustomization (applyKustomizeOverrides), a Flux Kustomization, ConfigMap or Secret (applyFluxSubstitutes),
 * a containerd `hosts.toml`, k3s `registries.yaml` or podman `registries.conf` (audit.ts runtimeMirrors, podman.ts), a YAML file
 * whose `kind:` is a `KEPT_YAML_MENTION`. A new reader of `ScannedFile.text` adds its files here.
 */
/** A Secret written in a YAML file: a Flux Kustomization's `substituteFrom` may name it. */
const SECRET_KIND = /^kind:\s*["']?Secret\b/m;
/**
 * A ConfigMap written in a YAML file (its `kind:` key, not the word: CRDs and READMEs say
 * "ConfigMap" in prose; on a 110 MB tree of real charts, keeping every file that did held 5 MB CRDs).
 */
const CONFIGMAP_KIND = /^[ \t]*["']?kind["']?[ \t]*:[ \t]*["']?ConfigMap\b/m;

export function keepsText(file: string, type: FileType, text: string): boolean {
  const base = path.posix.basename(file);
  // `ansible-playbook -e k=v`, `TF_VAR_x=v` in a script, env or CI file (runtime-vars.ts): read by applyAnsible and applyTerraform.
  if (setsRuntimeVars(text)) return true;
  if (type === 'env') return base === '.env';
  if (base === 'hosts.toml' || isRegistriesConf(file) || base.endsWith('.kube') || isTerraformFile(file) || isAnsibleConfigFile(file)) return true;
  if (type === 'json') return isAnsibleVarsJson(file);
  if (type !== 'yaml') return false;
  return base === 'registries.yaml' || isKustomizationFile(file) || isAnsibleText(file, text) || text.includes('postBuild') || text.includes(FLUX_KUSTOMIZE_API) || CONFIGMAP_KIND.test(text) || SECRET_KIND.test(text) || KEPT_YAML_MENTION.test(text);
}

/** The first line (1-based) holding each pattern, as `text.split('\n').findIndex(l => l.includes(p)) + 1` without splitting. */
export function firstLinesOf(text: string, patterns: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of patterns) {
    if (out.has(p) || p.includes('\n')) continue;
    const at = text.indexOf(p);
    if (at < 0) continue;
    let line = 1;
    for (let i = text.indexOf('\n'); i >= 0 && i < at; i = text.indexOf('\n', i + 1)) line++;
    out.set(p, line);
  }
  return out;
}

/**
 * A file the scan did not read, and why. `unscanned` ones hold configuration the audit could not
 * see (too large, unreadable, a link out of the scanned paths, over the total budget): they are
 * counted in the audit's summary and fail `--fail-on`; the others (binary files, FIFOs, sockets,
 * devices, dangling or looping links) hold nothing to scan.
 */
export interface SkippedFile {
  file: string;
  reason: string;
  unscanned: boolean;
}

export interface ScanResult {
  files: ScannedFile[];
  references: Reference[];
  settings: Setting[];
  /** Files found but not read (always set by scanPaths). */
  skipped?: SkippedFile[];
  /** k3s/RKE2 HelmChart and HelmChartConfig objects (audit/charts.ts renders their charts with their values). */
  helmCharts?: ScannedHelmChart[];
  /** Argo CD Applications/ApplicationSets' chart sources and Flux HelmReleases, with their values (audit/charts.ts renders them). */
  gitopsReleases?: ScannedGitOpsRelease[];
  /** ConfigMaps and Secrets a HelmRelease's valuesFrom may name (bounded: MAX_VALUES_SOURCE_BYTES). */
  valuesSources?: ValuesSource[];
  /** ConfigMaps/Secrets not kept once MAX_VALUES_SOURCE_BYTES were: a valuesFrom naming one is unknown. */
  valuesSourcesDropped?: number;
}

/** A GitOps release seen by the scan, where it is. */
export interface ScannedGitOpsRelease extends GitOpsRelease {
  file: string;
  line: number;
}

/** What one scan collects for GitOps renders. */
interface GitOpsCollected {
  releases: ScannedGitOpsRelease[];
  sources: ValuesSource[];
  bytes: number;
  dropped: number;
}

/** The ConfigMap/Secret data one scan keeps for valuesFrom (a tree of dashboards in ConfigMaps is not all held). */
export const MAX_VALUES_SOURCE_BYTES = 32 * 1024 * 1024;

/** Directories neither `audit` nor `rewrite manifests` enters (version control, packages); other dot entries (`.gitlab-ci.yml`, `.github/workflows/`) are read. */
export const SKIP_DIRS = new Set(['.git', 'node_modules', '.hg', '.svn']);
/** A file larger than this is not read (it is reported, never silently dropped). */
export const MAX_BYTES = 5 * 1024 * 1024;
/** All the text one scan holds in memory (checks look at every file's text). */
export const MAX_TOTAL_BYTES = 256 * 1024 * 1024;
const MIB = (n: number) => `${n / 1024 / 1024} MiB`;

export function fileTypeOf(file: string): FileType {
  const base = path.basename(file).toLowerCase();
  const ext = path.extname(base);
  // kustomize's third file name, `Kustomization` (no extension), is YAML: read as text, its
  // `images:` overrides were never applied and the image as written was reported instead.
  if (ext === '.yaml' || ext === '.yml' || path.basename(file) === 'Kustomization') return 'yaml';
  if (ext === '.json') return 'json';
  if (ext === '.toml' || isRegistriesConf(file.split(path.sep).join('/'))) return 'toml';
  // `/etc/environment` (pam_env's `NAME=value` lines, every login's environment) is an env file too.
  if (base === '.env' || ext === '.env' || base.startsWith('.env.') || base === 'env' || (base === 'environment' && path.basename(path.dirname(file)) === 'etc')) return 'env';
  if (base === 'sources.list' || (ext === '.list' && file.includes('sources.list'))) return 'apt-list';
  if (ext === '.sources') return 'apt-sources';
  return 'text';
}

const TLDS =
  'com|org|net|io|dev|cloud|co|us|eu|de|se|no|fi|dk|nl|fr|uk|ch|at|pro|app|ai|sh|info|biz|gov|edu|mil|internal|local|lan|corp|site|tech|xyz|me|tv|cc|ly|gg|so|page|run|services|systems';
const HOST_RE = new RegExp(`(?<![\\w.@/-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+(?:${TLDS}))(?::\\d{1,5})?(?![\\w-]|\\.[a-z0-9])`, 'gi');
/**
 * A URL; an IPv6 literal host in brackets (`http://[fd00::5]:8080/`) is kept whole, and so is a
 * variable reference in it (`http://$(COLLECTOR_HOST):4318`, `https://github.com/${ORG}/repo`, Apache's
 * `%{REQUEST_URI}`, a Caddy placeholder `{http.request.uri}` or `{env.API_HOST}`), whose closing `)`
 * or `}` otherwise ends a URL (a `{{ … }}` action is withTemplateActions').
 */
const URL_RE = /\b(?:https?|oci|wss?|ftp):\/\/(?:[^\s\x00-\x1f\x7f"'<>`\\)\]}[/@]{0,256}@)?(?:\[[0-9a-f:.]{2,45}\][^\s\x00-\x1f\x7f"'<>`\\)\]}]*|(?:\$\{[^\s\x00-\x1f\x7f"'<>`{}]{1,256}\}|\$\([^\s\x00-\x1f\x7f"'<>`()]{1,256}\)|%\{[A-Za-z_][\w:]{0,63}\}|(?<![{$%])\{(?![{%])[^\s\x00-\x1f\x7f"'<>`{}]{1,256}\}|[^\s\x00-\x1f\x7f"'<>`\\)\]}])+)/gi;
// A URL whose host is only a wildcard names no host: `http://*:8080` (a listen address), `https://*`
// (a CORS origin, a shell glob), `https://.*/x` (a regex).
const WILDCARD_HOST_URL = /^[a-z][a-z0-9+.-]*:\/\/(?:[^/?#@]*@)?[*+.?]+(?=[:/?#]|$)/i;
// `http://unix:/run/app.sock` (nginx's proxy_pass, nginx Unit's proxy, a Unix-socket HTTP client):
// a local socket's path after `unix:`, no host; `http://unix:8080` is a host named unix.
const UNIX_SOCKET_URL = /^[a-z][a-z0-9+.-]*:\/\/(?:[^/?#@]*@)?unix:(?![0-9])(?=\/|$)/i;
/**
 * `node1.corp.example:9100`, `db.vendor.jp:5432`: a lower-case name of three labels or more with a
 * port is a destination whatever its top-level domain (a prometheus target, an SMTP smarthost);
 * two labels (`redis.cache:6379`) may be a Service in another namespace and are left to HOST_RE.
 */
/** k3s/RKE2's `system-default-registry` key (config.yaml, or a config map's key). */
export const SYSTEM_DEFAULT_REGISTRY = /(^|\.)system-default-registry$/;
/** A registry as written in front of a repository: a DNS name or an IPv4 address, with a port or not. */
const REGISTRY_AUTHORITY = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?){0,126}(?::\d{1,5})?$/i;
const HOST_PORT_RE = /(?<![\w.@/:-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){2,}[a-z][a-z0-9-]{0,61}[a-z0-9]:\d{1,5})(?![\w.:-])/g;
const IMAGE_WITH_HOST_RE = /(?<![\w.@/:-])((?:[a-z0-9-]+\.)+[a-z0-9-]+(?::\d{1,5})?\/[a-z0-9._/-]+?(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?)(?![\w./:-])/gi;
/** `user@host:path` with a `/` or `.git` in the path (an e-mail address or `user@host:22` is not one). */
const SCP_GIT_RE = /(?<![\w.@/:-])[a-z0-9_][\w.-]*@([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*):(?=~?[\w.-]*(?:\/|\.git\b))/gi;
export const IMAGE_ANY_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
/**
 * The key path holds an image: the shared image-key rule on its last key (a list item under an
 * `images`-style key too), or `ref`, which is how ferry manifests name images.
 */
export function imageKeyPath(keyPath: string): boolean {
  const m = /(?:^|\.)([^.[\]]+)(\[\d+\])?$/.exec(keyPath);
  if (!m) return false;
  const [, key, index] = m;
  if (/^(ref|imageref)$/i.test(key)) return true;
  return index ? isImageListKey(key) || isImageKey(key) : isImageKey(key);
}

/**
 * An IPv4 address, not one that is a component of a path (`<mirror>/ferry/10.1.2.3-5000/app`, the
 * nested layout's place for a registry at that address; a host name there is skipped as HOST_RE
 * skips it): what connects to it is the host in front.
 */
const IP_RE = /(?<![\w.])(?<![\w.-]\/)((?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3})(?![\w.])/g;
/**
 * A bare IPv6 address in text (`peer: 2001:db8::10`, `--advertise [fd00::5]:7946`): candidates,
 * checked with Node's parser where used. Not inside a longer word, hex run or colon list.
 */
const IP6_RE = /(?<![\w:.])\[?((?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?)(?:%[\w.-]+)?\]?(?![\w:]|\.\w)/gi;

/**
 * A container's `image` field, in a Kubernetes workload (containers, initContainers,
 * ephemeralContainers) or a Compose file (`services.<name>.image`): whatever string is there is
 * an image that gets pulled, a bare name too (`busybox` is `docker.io/library/busybox:latest`).
 */
export function containerImagePath(keyPath: string): boolean {
  return /(?:^|\.)(?:containers|initContainers|ephemeralContainers)\[\d+\]\.image$/.test(keyPath) || COMPOSE_SERVICE_IMAGE.test(keyPath);
}

/** `services.<name>.image`: a Compose service name is `[a-zA-Z0-9._-]+`, dots included (`web.v2`: `services.web.v2.image`). */
export const COMPOSE_SERVICE_IMAGE = /^services\.[\w.-]+\.image$/;

/** The CI system whose pipeline file this document is (kinds/image/image-key.ts), with its top level. */
function ciOf(file: string, doc: Document, notes?: SkippedFile[]): { kind: CiFile; root: Record<string, unknown> } | undefined {
  if (!isMap(doc.contents) || doc.contents.has('kind') || doc.contents.has('apiVersion')) return undefined;
  if (!doc.contents.has('jobs') && !/gitlab-ci/i.test(file) && !doc.contents.items.some((p) => isMap(p.value) && (p.value.has('script') || p.value.has('trigger') || p.value.has('extends')))) return undefined;
  let root: unknown;
  try {
    // GitLab CI's `<<: *job_template` (merge keys applied as its reader applies them).
    root = applyMergeKeys(doc.toJS({ maxAliasCount: 100 }));
  } catch (err) {
    // Said, not failing --fail-on: the generic scan still reads every reference written out (an
    // anchored `image:` at its line); what is lost is the CI reading: job variables filled into
    // images, `extends:` and services as GitLab composes them. (A pipeline of 120 jobs merging one
    // anchor already passes the yaml library's alias bound of 100.)
    notes?.push({ file, reason: `${file}: not read as a CI pipeline: its aliases or merge keys expand past ferry's bound (${(err as Error).message.slice(0, 200)}); every reference written in it is still read where it is written, but job variables are not filled into images and extends:/services are not composed`, unscanned: false });
    return undefined;
  }
  const kind = ciFileKind(file, root);
  return kind ? { kind, root: root as Record<string, unknown> } : undefined;
}

/**
 * A CI file's scalar that its runner acts on beyond what the generic patterns see: a GitHub step's
 * `uses: docker://alpine:3.20` (an image) or `uses: actions/checkout@v4` (an action downloaded from
 * github.com), a GitLab job image with variables (`\${BUILD_IMAGE}`, `$CI_REGISTRY/app:$CI_COMMIT_SHA`),
 * filled in from the file's `variables:` (global, then the job's) as GitLab expands them. True when
 * the scalar is fully handled here.
 */
function ciCiReference(ci: { kind: CiFile; root: Record<string, unknown> }, file: string, line: number, keyPath: string, v: string, refs: Reference[]): boolean {
  if (ci.kind === 'github-workflow') {
    const uses = ciStepUses(keyPath, v);
    if (!uses) return false;
    if ('image' in uses) refs.push({ file, line, keyPath, kind: 'image', value: uses.image, provenance: `${file}:${line} uses: ${v}: the runner pulls ${uses.image} when the job runs` });
    else refs.push({ file, line, keyPath, kind: 'url', value: `https://github.com/${uses.repo}`, provenance: `${file}:${line} uses: ${uses.action}: the runner downloads this action from github.com when the job runs (ferry carries no actions): vendor it into the repository (uses: ./.github/actions/…) or mirror it on the site's Git server` });
    return true;
  }
  if (!v.includes('$') || !ciImagePath(ci.kind, keyPath)) return false;
  const job = keyPath.split(/[.[]/)[0];
  const vars = gitlabJobVariables(ci.root, job);
  const { value, unresolved, tooLong } = interpolateCompose(v, vars);
  if (tooLong) return false;
  if (!unresolved.length) {
    refs.push({ file, line, keyPath, kind: 'image', value, provenance: `${file}:${line} ${v}, pulled as ${value} (GitLab CI variables of the file)` });
    return true;
  }
  const repo = knownRepository(value);
  const predefined = unresolved.filter((u) => /^(CI|GITLAB)_/.test(u));
  refs.push({
    file,
    line,
    keyPath,
    kind: 'image',
    value: repo ?? value,
    provenance: `${file}:${line} ${v}: ${unresolved.map((u) => `$${u}`).join(', ')} set nowhere in the file's variables${predefined.length ? ` (${predefined.map((u) => `$${u}`).join(', ')}: GitLab's predefined variables, filled in by the instance when the pipeline runs; $CI_REGISTRY is the instance's own container registry)` : ' (a project, group or instance CI/CD variable, or an included file, may set it)'}${repo ? `; pulled from ${repo} with a tag the scan does not know` : ''}`,
  });
  return true;
}

/**
 * Everything a string points to. `imageContext`: the key or line says this is an image; where it
 * could also be another word (a values key named `image`), only a reference with a `/` or a `:`
 * counts; `'container'`: a container's image field, where a bare name is an image too.
 */
/**
 * `s` with each match of `re` that `take` takes replaced by a blank, in one pass (a `replace` per
 * match re-copied the line each time: quadratic on a crafted line of 40 000 matches, 8 s).
 */
function blankTaken(s: string, re: RegExp, take: (m: RegExpMatchArray) => boolean): string {
  let out = '';
  let last = 0;
  for (const m of s.matchAll(re)) {
    if (!take(m)) continue;
    out += `${s.slice(last, m.index)} `;
    last = m.index! + m[0].length;
  }
  return last ? out + s.slice(last) : s;
}

/**
 * A URL the pattern cut at a template's `{{` (`https://{{ .Values.apiHost }}/api`, the spaces
 * inside the action end the match): its end moved past each `{{ … }}` on the line (at most 256
 * characters each) and the URL characters after it, so the finding is the whole URL as written.
 */
function withTemplateActions(value: string, start: number, end: number): number {
  // Each search looks at most 258 characters ahead: a line of many unclosed `{{` stays linear.
  const closeOf = (open: number) => {
    const at = value.slice(open + 2, open + 258).indexOf('}}');
    return at < 0 ? -1 : open + 2 + at;
  };
  for (let guard = 0; guard < 16; guard++) {
    const open = value.lastIndexOf('{{', end);
    if (open < start) return end;
    const close = closeOf(open);
    if (close < 0 || close < end || value.slice(open, close).includes('\n')) return end;
    end = close + 2;
    const tail = end;
    while (end < value.length && end - tail < 2048 && !/[\s"'<>`\\)\]}]/.test(value[end])) end++;
    if (!value.slice(tail, end).includes('{{')) return end;
  }
  return end;
}

export function referencesIn(value: string, imageContext: boolean | 'container'): Array<{ kind: RefKind; value: string }> {
  const out: Array<{ kind: RefKind; value: string }> = [];
  let rest = blankTaken(value, URL_RE, (m) => {
    const start = m.index!;
    const end = m[0].includes('{{') ? withTemplateActions(value, start, start + m[0].length) : start + m[0].length;
    const url = trimTrailing(value.slice(start, end), '.,;:');
    if (WILDCARD_HOST_URL.test(url) || UNIX_SOCKET_URL.test(url)) return true;
    out.push({ kind: url.toLowerCase().startsWith('oci://') ? 'oci' : 'url', value: url });
    // Only the URL pattern's own match is blanked: what the template actions hold (a `default
    // "api.vendor.io"`) is still read by the patterns below.
    return true;
  });
  const trimmed = rest.trim();
  if (imageContext && trimmed && !/\s/.test(trimmed) && (IMAGE_ANY_RE.test(trimmed) || IMAGE_WITH_HOST_RE.test(trimmed))) {
    IMAGE_WITH_HOST_RE.lastIndex = 0;
    if (!trimmed.includes('{{') && !/^\d+(\.\d+)*$/.test(trimmed) && (imageContext === 'container' || trimmed.includes('/') || trimmed.includes(':'))) {
      out.push({ kind: 'image', value: trimmed });
      return out;
    }
  }
  // A container's image field holding a template or variable: an image all the same, its host unknown where the template stands for it (unknown-host.ts).
  const templated = imageContext === 'container' ? templatedImage(rest) : undefined;
  if (templated) return [...out, { kind: 'image', value: templated }];
  IMAGE_WITH_HOST_RE.lastIndex = 0;
  rest = blankTaken(rest, IMAGE_WITH_HOST_RE, (m) => {
    // host/path:tag or @digest is an image; host/path alone is just a host.
    if (!/:[\w][\w.-]*$|@sha256:/.test(m[1].split('/').slice(1).join('/'))) return false;
    out.push({ kind: 'image', value: m[1] });
    return true;
  });
  // `git@github.com:org/repo.git` (an Argo CD `repoURL`, a Flux `GitRepository` url): git's
  // scp-like SSH form, no URL to the patterns above, and the host follows an `@` HOST_RE skips.
  for (const m of rest.matchAll(SCP_GIT_RE)) out.push({ kind: 'host', value: m[1].toLowerCase() });
  if (rest.includes('@')) for (const r of templatedScpRemotes(rest)) out.push({ kind: 'url', value: r });
  rest = blankTaken(rest, HOST_PORT_RE, (m) => {
    out.push({ kind: 'host', value: m[1] });
    return true;
  });
  for (const m of rest.matchAll(HOST_RE)) if (!fileNameLike(m[0])) out.push({ kind: 'host', value: m[0].toLowerCase() });
  for (const m of rest.matchAll(IP_RE)) {
    // A network (`podSubnet: 10.244.0.0/16`, `--service-cidr=10.96.0.0/12`, an IPv4-mapped
    // `::ffff:10.0.0.0/104`) is not a place anything connects to; a /32 is one address, kept.
    const prefix = /^\/(\d{1,3})(?!\d)/.exec(rest.slice((m.index ?? 0) + m[0].length));
    const bits = prefix ? Number(prefix[1]) : undefined;
    const mapped = (m.index ?? 0) > 0 && rest[(m.index ?? 0) - 1] === ':';
    if (bits !== undefined && bits < (mapped ? 128 : 32)) continue;
    if (!/^0\.|^255\./.test(m[1])) out.push({ kind: 'host', value: m[1] });
  }
  for (const m of rest.matchAll(IP6_RE)) {
    const ip = m[1];
    // What Node's parser takes as IPv6 (a MAC address, a time or `std::vector` is not); with a
    // digit (`Bad::method` in code parses); IPv4-mapped ones were found by the IPv4 pattern above.
    if (isIP(ip) !== 6 || !/\d/.test(ip) || ip.includes('.') || /^[0:]*$/.test(ip)) continue;
    const prefix = /^\/(\d{1,3})(?!\d)/.exec(rest.slice((m.index ?? 0) + m[0].length));
    if (prefix && Number(prefix[1]) < 128) continue; // a network (`fd00::/8`), not a destination
    out.push({ kind: 'host', value: ip.toLowerCase() });
  }
  return out;
}

/**
 * At most this many paths (files, directories, links, anything listed as not read) are read in
 * one scan: a tree of millions of files stops there, listed as not scanned (it fails
 * `--fail-on`), instead of holding every name.
 */
export const MAX_SCAN_PATHS = 200_000;

interface Walk {
  files: string[];
  skipped: SkippedFile[];
  /** The scanned paths, resolved: a link into one of them is scanned under its own name. */
  roots: string[];
  maxPaths: number;
  /** Names the walk may still read (a directory's names are counted as they are listed). */
  budget: number;
  /** Set once the bound was reached. */
  full?: boolean;
}

/** The bound was reached at `p`: listed once, as not scanned. */
function stopAt(w: Walk, p: string): void {
  if (w.full) return;
  w.full = true;
  w.skipped.push({ file: p, reason: `not all of it scanned: a scan reads at most ${w.maxPaths} paths (audit fewer files at once)`, unscanned: true });
}

/** A directory's names, sorted, no more than the walk's budget allows (`more`: some were left unread). */
async function entriesOf(dir: string, w: Walk): Promise<{ names: string[]; more: boolean }> {
  const names: string[] = [];
  const d = await opendir(dir);
  for await (const e of d) {
    if (SKIP_DIRS.has(e.name)) continue;
    // Leaving the loop closes the directory (as does reaching its end).
    if (w.budget <= 0) return { names: names.sort(), more: true };
    w.budget--;
    names.push(e.name);
  }
  return { names: names.sort(), more: false };
}

/**
 * Collect the regular files under `p`. A path given on the command line is followed wherever it
 * leads; inside a directory nothing is followed: a symbolic link is never opened (a link into the
 * scanned paths is scanned under its target's name, a link out of them is reported — pass its
 * target to scan it), and FIFOs, sockets and devices are reported, never opened.
 */
async function walk(p: string, w: Walk, explicit: boolean): Promise<void> {
  let s;
  try {
    s = explicit ? await stat(p) : await lstat(p);
  } catch (err) {
    if (!explicit) return void w.skipped.push({ file: p, reason: `cannot read: ${(err as Error).message}`, unscanned: true });
    throw unreadableFile(p, 'file or directory to audit', err, { hint: 'Pass the files or directories to audit.' });
  }
  if (s.isSymbolicLink()) {
    const target = await realpath(p).catch(() => undefined);
    if (!target) w.skipped.push({ file: p, reason: 'symbolic link that leads nowhere (dangling or a loop), not followed', unscanned: false });
    else if (!w.roots.some((r) => isWithin(target, r))) w.skipped.push({ file: p, reason: `symbolic link out of the scanned paths (to ${target}), not followed: pass the target to scan it`, unscanned: true });
    return;
  }
  if (s.isDirectory()) {
    let entries: { names: string[]; more: boolean };
    try {
      entries = await entriesOf(p, w);
    } catch (err) {
      return void w.skipped.push({ file: p, reason: `cannot read the directory: ${(err as Error).message}`, unscanned: true });
    }
    // A directory read only in part is not scanned at all: which part would depend on the
    // file system's order, and the scan's output must not.
    if (entries.more) return stopAt(w, p);
    for (const e of entries.names) await walk(path.join(p, e), w, false);
  } else if (s.isFile()) w.files.push(p);
  else w.skipped.push({ file: p, reason: `${specialKind(s)}, not read`, unscanned: false });
}

/**
 * A YAML (or JSON) file's references and settings, by key path. A file that does not parse (a Helm
 * template, JSON with comments, a file with a syntax error) is left to the caller, which reads it
 * line by line as text: nothing is pushed and the first problem is returned.
 */
/** A Flux HelmRelease seen by the scan: where it is and the chart it asks of its source. */
export interface FluxRelease extends Omit<HelmReleaseChart, 'chartNode'> {
  file: string;
  line: number;
}

/** A HelmChart or HelmChartConfig seen by the scan (chart-sources.ts `helmChartObjectOf`), where it is. */
export interface ScannedHelmChart extends Omit<HelmChartObject, 'node'> {
  file: string;
  line: number;
}

function scanYaml(file: string, text: string, refs: Reference[], settings: Setting[], sinks: ScanSinks): string | undefined {
  const { releases, helmCharts, varScalars, envFiles, builds, gitops, grafana, webCm, notes } = sinks;
  const lc = new LineCounter();
  const docs = withoutStackTraces(() => parseAllDocuments(text, { lineCounter: lc, uniqueKeys: false }));
  // The text being read and the file line of an offset in it: the file's, or a HelmChart's
  // `valuesContent` (YAML in a string), read as values with its own offsets.
  let reading = { text, lineAt: (o: number) => lc.linePos(o).line };
  const lineOf = (n: YamlNode | null | undefined) => (n?.range ? reading.lineAt(n.range[0]) : 1);
  const docList = Array.isArray(docs) ? docs : [docs];
  const bad = docList.find((d) => d.errors.length);
  if (bad) return bad.errors[0].message.split('\n')[0];
  let kustomization = false;
  let fluxKustomization = false;
  // Istio's pod label asking for the sidecar (audit/injected.ts): looked for only where the text has it.
  const podInjectionLabel = text.includes('sidecar.istio.io/inject');
  let sources = new Map<string, ReturnType<typeof chartSourcesOf>[number]>();
  let remotes = new Map<unknown, KustomizationEntry>();
  let currentDoc: Document | undefined;
  let ci: { kind: CiFile; root: Record<string, unknown> } | undefined;
  // The document is a k3s/RKE2 HelmChart or HelmChartConfig: `spec.valuesContent` and `spec.set` are Helm values.
  let helmChart = false;
  let docKind: string | undefined;
  // Whose variables a string's `${VAR}` is (audit/var-scalars.ts): Compose's, in a Compose file; Flux's post-build ones, in an object it may apply.
  let substitutedBy: VarScalar['how'] | undefined;
  const setValues = new WeakSet<object>();
  // What the ConfigMap web configurations of this file may put in front of their lines (scanWebConfigValue).
  const webPad = { left: MAX_WEB_PAD };
  // A container's `$(VAR)` references, expanded from its env as Kubernetes does (audit/container-env.ts).
  const expanded = new WeakMap<object, string>();
  const visit = (node: unknown, keyPath: string, envName?: string, valueOf?: string) => {
    if (helmChart && keyPath === 'spec.set' && isMap(node) && !setValues.has(node)) {
      // `--set` keys (`image.repository: quay.io/x`): read as the values they set, each at its own line.
      const values = helmSetValues(node);
      setValues.add(values);
      visit(values, keyPath);
      return;
    }
    if (helmChart && keyPath === 'spec.valuesContent' && isScalar(node) && typeof node.value === 'string' && node.range && visitValuesText(node, keyPath)) return;
    // A kustomization's image override: kustomize pulls `newName` (else `name`) with `newTag` or
    // `digest`; with a newName, `name` is only the pattern it replaces (often a placeholder).
    if (kustomization && isMap(node) && (fluxKustomization ? /^spec\.images\[\d+\]$/ : /^images\[\d+\]$/).test(keyPath)) {
      // A field may come from a YAML merge key (`<<: *base`), as kustomize reads it.
      const field = (k: string) => {
        const v = mergedField(node, k, currentDoc);
        const n = resolveAlias(v, currentDoc);
        return isScalar(n) && n.value !== null && n.value !== '' ? n : undefined;
      };
      const [name, newName, newTag, digest] = ['name', 'newName', 'newTag', 'digest'].map(field);
      const at = newName ?? name;
      if (at) {
        const suffix = digest ? `@${String(digest.value)}` : newTag ? `:${String(newTag.value)}` : '';
        const own = node.items.some((p) => p.value === at);
        refs.push({ file, line: lineOf(own ? at : node), keyPath: `${keyPath}.${newName ? 'newName' : 'name'}`, kind: 'image', value: String(at.value) + suffix });
        return;
      }
    }
    if (isMap(node)) {
      if (CONTAINER_PATH.test(keyPath)) for (const [n, x] of containerExpansions(node)) expanded.set(n, x);
      // Helm-style split image: { registry, repository, tag | digest }.
      const get = (k: string) => {
        const pair = node.items.find((p) => isScalar(p.key) && p.key.value === k);
        return pair && isScalar(pair.value) && pair.value.value !== null ? String(pair.value.value) : undefined;
      };
      const consumed = new Set<string>();
      // zero-to-jupyterhub names every image `{name: quay.io/jupyterhub/k8s-hub, tag}` under an image key
      // (and `prePuller.extraImages: {mc: {name, tag}}`, a map of them)
      const keys = keyPath.split('.');
      const imageAt = isImageKey(keys[keys.length - 1]?.replace(/\[\d+\]$/, '') ?? '') || (keys.length > 1 && isImageListKey(keys[keys.length - 2]));
      // ingress-nginx names its images `{registry, image: ingress-nginx/controller, tag, digest}`:
      // `image` is the repository when no `repository` is written and the map has a registry, tag
      // or digest (as rewrite/values-images.ts readImageMap reads it).
      const has = (k: string) => node.items.some((p) => isScalar(p.key) && p.key.value === k);
      const repoKey =
        get('repository') !== undefined
          ? 'repository'
          : get('image') !== undefined && (has('registry') || has('tag') || has('digest'))
            ? 'image'
            : get('registry') === undefined && get('image') === undefined && imageAt && get('name') !== undefined
              ? 'name'
              : 'repository';
      const fields = { registry: get('registry'), repository: get(repoKey), tag: get('tag'), digest: get('digest') };
      // Under an image key, `{repository: x}` alone is an image too: the chart's template adds the tag.
      const ref = imageMapReference(fields) ?? (imageAt && repoKey === 'repository' ? imageMapReference({ ...fields, tag: '' }) : undefined);
      if (ref) {
        const pair = node.items.find((p) => isScalar(p.key) && p.key.value === repoKey);
        // No tag and no digest (`tag: ""`, or no tag key): the chart's template fills one in (most
        // often its appVersion), or the operator its release pins. Which is unknown here, never `latest`.
        const untagged = !fields.tag?.trim() && !fields.digest?.trim();
        const tagFrom = untagged ? `the tag is not written here (${fields.tag === undefined ? 'no tag key' : 'tag: ""'}): the chart or operator reading this map decides it (a chart most often takes its appVersion), so which tag is pulled is unknown here, not latest` : undefined;
        refs.push({ file, line: lineOf(pair?.value as YamlNode), keyPath: keyPath || '(top level)', kind: 'image', value: ref, ...(tagFrom ? { tagFrom } : {}) });
        for (const k of ['registry', repoKey, 'tag', 'digest']) consumed.add(k);
      }
      // Flat dotted keys (a ConfigMap's `trivy.repository` + `trivy.tag`): one image, or a repository whose tag the program picks.
      const flatKeys = node.items.flatMap((p) => (isScalar(p.key) && typeof p.key.value === 'string' && p.key.value.includes('.') && isScalar(p.value) ? [p.key.value] : []));
      // The map's pairs by key, made once: `get`'s walk of the map for each of its keys was quadratic (30 000 `x<i>.repository` keys: 39 s).
      const pairs = new Map<unknown, (typeof node.items)[number]>();
      if (flatKeys.length) for (const p of node.items) if (isScalar(p.key) && !pairs.has(p.key.value)) pairs.set(p.key.value, p);
      const flatGet = (k: string) => {
        const v = pairs.get(k)?.value;
        return isScalar(v) && v.value !== null ? String(v.value) : undefined;
      };
      for (const f of flatKeys.length ? flatImages(flatKeys, flatGet) : []) {
        if (consumed.has(f.repositoryKey)) continue;
        const pair = pairs.get(f.repositoryKey);
        const tagFrom = f.untagged ? `${f.repositoryKey} names a repository with no tag beside it (no ${f.repositoryKey.replace(/(?:\.r|R)epository$/, (r) => (r[0] === '.' ? '.tag' : 'Tag'))}): the program reading this map picks the tag, so which tag is pulled is unknown here` : undefined;
        refs.push({ file, line: lineOf(pair?.value as YamlNode), keyPath: keyPath ? `${keyPath}.${f.repositoryKey}` : f.repositoryKey, kind: 'image', value: f.ref, ...(tagFrom ? { tagFrom } : {}) });
        for (const k of [f.repositoryKey, ...f.partKeys]) consumed.add(k);
      }
      // Kubernetes env lists: [{ name: X, value: Y }].
      const name = get('name');
      const value = get('value');
      if (name && value !== undefined && /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        const pair = node.items.find((p) => isScalar(p.key) && p.key.value === 'value');
        settings.push({ file, line: lineOf(pair?.value as YamlNode), key: name, value, source: 'env' });
      }
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const k = isScalar(pair.key) ? String(pair.key.value) : '?';
        const sub = keyPath ? `${keyPath}.${k}` : k;
        if (consumed.has(k) && isScalar(pair.value)) {
          settings.push({ file, line: lineOf(pair.value as YamlNode), key: sub, value: String((pair.value as { value: unknown }).value), source: 'structured' });
          continue;
        }
        // The keys of an env map (`env: {ENABLE_SLACK: "true"}`) are variable names.
        const isEnvMap = /(^|\.)(env|environment|extraEnv|envVars)$/i.test(keyPath);
        // `{name: LICENSE_SERVER, value: lic.vendor.example}`: the variable's name says what its value is.
        visit(pair.value, sub, isEnvMap ? k : undefined, k === 'value' && name ? name : undefined);
      }
    } else if (isSeq(node)) {
      // A container's `args: ["--server", "ntp.vendor.jp"]`: the value after a bare `--flag` item is keyed by the flag's name.
      const argList = /(?:^|\.)(?:args|command)$/.test(keyPath);
      node.items.forEach((item, i) => {
        const prev = argList && i > 0 ? node.items[i - 1] : undefined;
        const flag = isScalar(prev) && typeof prev.value === 'string' ? /^--?([A-Za-z][\w.-]*)$/.exec(prev.value.trim())?.[1] : undefined;
        visit(item, `${keyPath}[${i}]`, undefined, flag);
      });
    } else if (isScalar(node)) {
      if (node.value === null || node.value === undefined) return;
      const v = expanded.get(node) ?? String(node.value);
      const line = lineOf(node as YamlNode);
      const expandedFrom = expanded.has(node) ? `${file}:${line} ${String(node.value)}, which Kubernetes expands from the container's env to ${v}` : undefined;
      const src = sources.get(keyPath);
      if (src && src.urlNode === node) {
        // One reference for the whole source (Argo CD's OCI form has no scheme: not a URL to the other patterns).
        settings.push({ file, line, key: keyPath, value: v, source: 'structured' });
        const { tool, object, kind, repo, chart, version, name, namespace, archive } = src;
        refs.push({ file, line, keyPath, kind: src.form === 'oci' ? 'oci' : 'url', value: v, chartSource: { tool, object, kind, repo, chart, version, ...(name !== undefined ? { name } : {}), ...(namespace !== undefined ? { namespace } : {}), ...(archive ? { archive } : {}) } });
        return;
      }
      if (helmChart && keyPath === 'spec.chart' && v.includes(K3S_API_PLACEHOLDER)) {
        // klipper-helm puts the API server's address there: the chart is one the k3s/RKE2 server serves itself.
        settings.push({ file, line, key: keyPath, value: v, source: 'structured' });
        refs.push({ file, line, keyPath, kind: 'url', value: v, inCluster: `the k3s/RKE2 server itself: its install Job fetches the chart from the API server's /static/charts (the charts packaged in the k3s/RKE2 binary, or put in <data-dir>/server/static/charts); nothing goes out` });
        return;
      }
      const remote = remotes.get(node);
      if (remote?.remoteHost && remote.keyPath === keyPath) {
        // One reference for the entry, whatever its form (`github.com/org/repo`, `git@host:…` are no URLs to the other patterns).
        settings.push({ file, line, key: keyPath, value: v, source: 'structured' });
        refs.push({ file, line, keyPath, kind: 'url', value: v, kustomizeRemote: { host: remote.remoteHost } });
        return;
      }
      settings.push({ file, line, key: keyPath, value: v, source: 'structured' });
      if (envName && /^[A-Za-z_][A-Za-z0-9_]*$/.test(envName)) settings.push({ file, line, key: envName, value: v, source: 'env' });
      // docker-compose `environment: [KEY=value]`
      const eq = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(v);
      if (eq && /(^|\.)(env|environment)\[\d+\]$/i.test(keyPath)) settings.push({ file, line, key: eq[1], value: eq[2], source: 'env' });
      if (typeof node.value !== 'string') return;
      // A ConfigMap's `nginx.conf`, `Caddyfile`, `httpd.conf`: read as that file, at the ConfigMap's lines (audit/web-configmaps.ts).
      const webType = docKind === 'ConfigMap' && keyPath.startsWith('data.') && node.range ? webConfigTypeOf(keyPath.slice(5), v) : undefined;
      if (webType) return void scanWebConfigValue(file, keyPath, node, reading.lineAt, webType, refs, settings, webPad, notes);
      // `apiVersion: helm.toolkit.fluxcd.io/v2` names an API group, not a host anything connects to.
      if (/(^|\.)apiVersion$/.test(keyPath) && /^[a-z0-9.-]+\/v\d+(?:(?:alpha|beta)\d+)?$/.test(v)) return;
      // A field defined to hold an API group, label key, finalizer, controller or driver name (audit/qualified-names.ts).
      if (qualifiedNameField(keyPath, v, docKind)) return;
      // A CI file's job images (GitLab `services:`, `image: {name}`; GitHub `container:`, `uses: docker://`).
      if (ci && ciCiReference(ci, file, line, keyPath, v, refs)) return;
      // k3s/RKE2 `system-default-registry: 127.0.0.1:5265` (config.yaml): a registry as the nodes pull from it, its port part of it (another port is another service).
      if (SYSTEM_DEFAULT_REGISTRY.test(keyPath) && REGISTRY_AUTHORITY.test(v.trim())) return void refs.push({ file, line, keyPath, kind: 'host', value: v.trim().toLowerCase() });
      const imageCtx = containerImagePath(keyPath) || (ci && ciImagePath(ci.kind, keyPath)) ? 'container' : imageKeyPath(keyPath);
      // `image: ${REGISTRY:-docker.io}/app:${TAG:-1.2}`: Compose interpolates it (applyComposeVars).
      // The image filled in is the string's one reference: nothing else is read from it as written
      // (`docker.io/app:${V}` gave a bare `docker.io` host beside the image).
      if (imageCtx === 'container' && keyPath.startsWith('services.') && v.includes('$')) return void refs.push({ file, line, keyPath, kind: 'image', value: v, composeVars: v });
      // `image: ${REGISTRY}/app:1.2` in a workload: a Flux Kustomization's postBuild substitutes it (applyFluxSubstitutes).
      if (imageCtx === 'container' && /\$\{[A-Za-z_]/.test(v)) return void refs.push({ file, line, keyPath, kind: 'image', value: v, fluxVars: v });
      // Any other string with variables: read again once the scan holds the `.env` or the Kustomizations that set them.
      else if (varScalars && varScalars.length < MAX_VAR_SCALARS && substitutedBy && (substitutedBy === 'compose' ? /\$\{?[A-Za-z_]/.test(v) : /\$\{[A-Za-z_]/.test(v)))
        varScalars.push({ file, line, lastLine: node.range ? reading.lineAt(node.range[1]) : line, keyPath, written: v, imageCtx, key: valueOf ?? keyPath, literal: node.type === 'BLOCK_LITERAL', how: substitutedBy });
      // A literal block's value lines are its source lines. Elsewhere (a quoted or folded string,
      // `"a\n\nSee https://x"` on one line, a plain scalar folded over lines) each reference is
      // found in the scalar's source text, in order.
      const literal = node.type === 'BLOCK_LITERAL';
      if (handedImages(v, keyPath, valueOf, line, literal)) return;
      const start = node.range?.[0] ?? 0;
      const source = node.range ? reading.text.slice(start, node.range[1]) : '';
      const spans = source.includes('\n');
      let from = 0;
      const valueLines = v.includes('\n') ? v.split('\n') : [v];
      // A bare image name joined to the hub and tag around it (istiod's injector values): one image; its hub is no destination of its own.
      const joined = joinedImagesIn(v);
      const hubHosts = new Set(joined.images.flatMap((j) => (j.hubHost ? [literal ? `${j.hubLine}\n${j.hubHost}` : j.hubHost] : [])));
      // `licenseServer: lic.vendor.jp`: a destination key's value is a host the patterns may not tell from a dotted word.
      // An env list's value is keyed by its variable's name, a container's `--flag=value` by the flag's (audit/embedded.ts).
      const flag = /(?:^|\.)(?:args|command)\[\d+\]$/.test(keyPath) ? flagValue(v) : undefined;
      const keyed = valueLines.length === 1 ? (hostOfDestinationKey(valueOf ?? keyPath, v) ?? (flag && hostOfDestinationKey(flag.flag, flag.value))) : undefined;
      valueLines.forEach((l, i) => {
        let next = from;
        const found = referencesIn(l, valueLines.length > 1 ? false : imageCtx);
        if (keyed && !found.length) found.push({ kind: 'host', value: keyed });
        for (const r of found) {
          if (r.kind === 'host' && hubHosts.has(literal ? `${i}\n${r.value}` : r.value)) continue;
          let where = literal ? line + 1 + i : line;
          if (!literal && spans) {
            let at = source.indexOf(r.value, from);
            // Not a prefix of a longer reference (`…/service/` of `…/service/#endpoints`).
            while (at >= 0 && /[\w/#?%.:-]/.test(source[at + r.value.length] ?? '')) at = source.indexOf(r.value, at + 1);
            if (at >= 0) {
              where = reading.lineAt(start + at);
              next = Math.max(next, at + r.value.length);
            }
          }
          refs.push({ file, line: where, keyPath, ...r, ...(expandedFrom ? { provenance: expandedFrom } : {}) });
        }
        from = next;
      });
      // A config document in the string (`prometheus.yml: |`, `grafana.ini`, JSON): its destination keys.
      const hubs = new Set<string>();
      for (const j of joined.images) {
        if (j.hubPath) hubs.add(j.hubPath);
        const over = joined.over ? `; more than ${MAX_JOINED_IMAGES} names joined to a hub, the rest not read` : '';
        refs.push({ file, line: literal ? line + 1 + j.line : line, keyPath: `${keyPath}.${j.namePath}`, kind: 'image', value: j.value, provenance: `${file}:${line} ${keyPath}: ${j.namePath} is a name the program joins to the hub and tag around it${over}`, ...(j.unknown ? { tagFrom: j.unknown } : {}) });
      }
      for (const leaf of embeddedLeaves(v)) {
        if (hubs.has(leaf.keyPath)) continue;
        const host = hostOfDestinationKey(leaf.keyPath, leaf.value);
        if (host && !referencesIn(leaf.value, false).length) refs.push({ file, line: literal ? line + 1 + leaf.line : line, keyPath: `${keyPath}.${leaf.keyPath}`, kind: 'host', value: host });
      }
    }
  };
  /**
   * Images handed to a program by a name that says so (audit/handed-images.ts): an env variable,
   * a `--flag=`, the item after a bare `-flag`, or a key named for images (`STRIMZI_KAFKA_IMAGES`:
   * `name=ref` entries, one image each, at its own line in a literal block); a variable or flag
   * named for one image (`SHELL_IMAGE`, `-shell-image`) holding a short name (`busybox:1.36`) is
   * an image too, as Docker Hub's. True when the value was read so.
   */
  const handedImages = (v: string, keyPath: string, valueOf: string | undefined, line: number, literal: boolean): boolean => {
    const flag = /(?:^|\.)(?:args|command)\[\d+\]$/.test(keyPath) ? flagValue(v) : undefined;
    // The key path's last key, found from its end (`/([^.[\]]+)$/` was retried from every character: a 100 KB key took 9 s).
    const name = flag?.flag ?? valueOf ?? keyPath.slice(Math.max(keyPath.lastIndexOf('.'), keyPath.lastIndexOf('['), keyPath.lastIndexOf(']')) + 1);
    const value = flag?.value ?? v;
    if (namesImageList(name)) {
      const list = listedImages(value);
      if (!list) return false;
      const over = list.over ? `; ${name} lists more than ${MAX_LISTED_IMAGES} images, the rest not read` : '';
      for (const img of list.images)
        refs.push({ file, line: literal && !flag ? line + 1 + img.line : line, keyPath, kind: 'image', value: img.ref, provenance: `${file}:${line} ${name}${img.entry ? ` entry ${img.entry}` : ''}: an image the program is handed in a list${over}` });
      return true;
    }
    // Only a name given beside the value (an env variable's, a flag's): a key named `image` is read by the image-key rule.
    if (!flag && valueOf === undefined) return false;
    const h = handedImage(name, value);
    if (!h || !/image/i.test(name) || value.includes('\n')) return false;
    const tagFrom = h.certainty === 'possible' ? `${name} hands the program ${value.trim()} with no tag or digest: the program decides which tag it pulls, unknown here` : undefined;
    refs.push({ file, line, keyPath, kind: 'image', value: value.trim(), ...(tagFrom ? { tagFrom } : {}) });
    return true;
  };
  /**
   * A HelmChart's `spec.valuesContent`: Helm values as a YAML string, read key by key (an image map
   * `{repository, tag}` is one image) under `spec.valuesContent.`; a line of a literal block is its
   * file line, anything else is reported at the string's first line. False: not YAML (read as text).
   */
  const visitValuesText = (node: Scalar, keyPath: string): boolean => {
    // Bounded as a file is: a string denser than ferry parses is read as text.
    if (yamlTokensOver(node.value as string, CONFIG_YAML_TOKENS)) return false;
    const inner = new LineCounter();
    let docs;
    try {
      docs = withoutStackTraces(() => parseAllDocuments(node.value as string, { lineCounter: inner, uniqueKeys: false }));
    } catch {
      return false;
    }
    const list = Array.isArray(docs) ? docs : [docs];
    if (list.some((d) => d.errors.length)) return false;
    const outer = reading;
    const first = outer.lineAt(node.range![0]);
    const literal = node.type === 'BLOCK_LITERAL';
    reading = { text: node.value as string, lineAt: (o) => (literal ? first + inner.linePos(o).line : first) };
    try {
      for (const d of list) {
        const start = refs.length;
        visit(d.contents, keyPath);
        // The values' bare image names joined to the hub and tag around them, as in a values file (audit/joined-values.ts).
        if (/\b(?:hub|registry)["']?\s*:/.test(node.value as string)) joinValuesImages(file, d.contents, refs, start, lineOf, { rootPath: keyPath.split('.') }, notes);
      }
    } finally {
      reading = outer;
    }
    return true;
  };
  for (const [docIndex, doc] of docList.entries()) {
    const kind = isMap(doc.contents) ? doc.contents.get('kind') : null;
    const apiVersion = isMap(doc.contents) ? doc.contents.get('apiVersion') : null;
    docKind = typeof kind === 'string' ? kind : undefined;
    substitutedBy = substitutionOf(doc);
    if (envFiles && substitutedBy === 'compose') envFiles.push(...composeEnvFilesOf(doc, file, lineOf));
    if (builds && substitutedBy === 'compose' && builds.length < MAX_COMPOSE_BUILDS) builds.push(...composeBuildsOf(doc, file, lineOf));
    helmChart = typeof apiVersion === 'string' && isHelmChartKind(apiVersion, typeof kind === 'string' ? kind : undefined);
    if (helmChart && helmCharts) {
      const h = helmChartObjectOf(doc.contents, doc);
      if (h) {
        const { node, ...rest } = h;
        helmCharts.push({ ...rest, file, line: lineOf(node) });
      }
    }
    kustomization = isKustomization(file, typeof kind === 'string' || kind === undefined ? kind : String(kind));
    fluxKustomization = isFluxKustomization(doc.contents);
    sources = new Map(chartSourcesOf(doc.contents, { kustomization }).map((s) => [s.keyPath, s]));
    currentDoc = doc;
    ci = ciOf(file, doc, notes);
    remotes = new Map(kustomization ? kustomizationEntries(doc.contents, doc).map((e) => [e.node, e]) : []);
    const before = refs.length;
    visit(doc.contents, '');
    // A values file's bare `image:` names joined to the `hub`/`registry` and `tag` around them (audit/joined-values.ts).
    if (substitutedBy !== 'compose' && !ci && /\b(?:hub|registry)["']?\s*:/.test(doc.range ? text.slice(doc.range[0], doc.range[2]) : text)) {
      if (!(typeof kind === 'string' && typeof apiVersion === 'string')) joinValuesImages(file, doc.contents, refs, before, lineOf, {}, notes);
      else joinObjectValues(file, doc, kind, refs, before, lineOf, notes);
    }
    if (path.posix.basename(file) === 'registries.yaml') registriesYamlMirrors(file, doc, refs, lineOf);
    operatorImages(file, doc, kind, refs, before, lineOf);
    markInjectedPlaceholders(file, doc, refs, before, lineOf, podInjectionLabel);
    impliedEgress(file, doc, text, refs, before, lineOf);
    // Grafana's settings: its containers, the grafana.ini ConfigMaps they mount, Helm values `grafana.ini:` (audit/grafana.ts).
    if (grafana) collectGrafana(grafana, file, doc, text, lineOf);
    // ConfigMap keys no name types and the web configuration files containers mount them as (applyWebConfigMounts).
    if (webCm && (docKind === 'ConfigMap' || /volumeMounts/.test(doc.range ? text.slice(doc.range[0], doc.range[2]) : text))) {
      const json = mentioningJson(doc, text, /configMap/i);
      if (json) collectWebConfigMaps(webCm, file, docIndex, json);
    }
    if (gitops) collectGitOps(gitops, doc, file, lineOf(doc.contents as YamlNode));
    const release = releases ? helmReleaseChartOf(doc.contents) : undefined;
    if (release && release.sourceKind === 'HelmRepository') {
      // Not the YAML node: the document is dropped once scanned.
      const { chartNode, ...rest } = release;
      releases!.push({ ...rest, file, line: lineOf(chartNode) });
    }
    // Flux image automation: image-reflector-controller polls the registry's tag list itself.
    const av = isMap(doc.contents) ? doc.contents.get('apiVersion') : undefined;
    if (String(kind) === 'ImageRepository' && typeof av === 'string' && /^image\.toolkit\.fluxcd\.io\//.test(av)) {
      const name = isMap(doc.contents) ? (doc.contents.getIn(['metadata', 'name']) as unknown) : undefined;
      for (const r of refs.slice(before)) if (r.keyPath === 'spec.image') r.polledBy = `ImageRepository${typeof name === 'string' ? `/${name}` : ''}`;
    }
  }
  return undefined;
}

/** The releases a document installs with their values, and a ConfigMap/Secret's data (bounded), as copies of the file's strings. */
function collectGitOps(g: GitOpsCollected, doc: Document, file: string, line: number): void {
  const contents = doc.contents;
  for (const r of gitopsReleasesOf(contents, doc)) g.releases.push(detachStrings({ ...r, file, line }, 5));
  const v = valuesSourceOf(contents, file);
  if (!v) return;
  const size = [...v.data.values()].reduce((n, x) => n + x.length, 0);
  if (g.bytes + size > MAX_VALUES_SOURCE_BYTES) {
    g.dropped++;
    return;
  }
  g.bytes += size;
  g.sources.push({ ...v, file: detached(file), name: detached(v.name), ...(v.namespace ? { namespace: detached(v.namespace) } : {}) });
}

/**
 * A k3s/RKE2 `registries.yaml`'s `mirrors.<registry>` entries: each is where the node's pulls of
 * that registry go, and the registry itself is still tried last (its default endpoint) unless the
 * node runs with --disable-default-registry-endpoint. One reference for the registry each entry
 * names, at its key (audit.ts says which runtime mirror config it is, and whether it falls back).
 */
function registriesYamlMirrors(file: string, doc: Document, refs: Reference[], lineOf: (n: YamlNode | null | undefined) => number): void {
  const mirrors = isMap(doc.contents) ? doc.contents.get('mirrors', true) : undefined;
  if (!isMap(mirrors)) return;
  for (const p of mirrors.items) {
    const host = isScalar(p.key) && typeof p.key.value === 'string' ? p.key.value.toLowerCase() : undefined;
    // `"*"` stands for every registry without an entry of its own: no host of its own.
    if (!host || host === '*' || /\s/.test(host)) continue;
    refs.push({ file, line: lineOf(p.key as YamlNode), keyPath: `mirrors.${host}`, kind: 'host', value: host });
  }
}

/**
 * The values a Kubernetes object holds (a HelmRelease's `spec.values`, an Application's
 * `helm.valuesObject`, an IstioOperator's `spec.values`): bare image names joined to the hub and
 * tag around them as in a values file. An IstioOperator's `spec.hub`/`spec.tag` come before its
 * values' `global` (istioctl sets global.hub from them); the names istioctl composes from
 * `spec.hub` are the operator rule's (operatorImages), not read again.
 */
function joinObjectValues(file: string, doc: Document, kind: unknown, refs: Reference[], before: number, lineOf: (n: YamlNode | null | undefined) => number, notes?: SkippedFile[]): void {
  const roots = inlineValuesOf(doc.contents);
  if (!roots.length) return;
  const spec = isMap(doc.contents) ? doc.contents.get('spec', true) : undefined;
  const istio = kind === 'IstioOperator' && isMap(spec);
  const skip = new Set<string>();
  if (istio && isOperatorKind(kind)) for (const c of composedImagesOf(doc.toJSON())) for (const f of c.nameFields) skip.add(f.join('.'));
  for (const r of roots) joinValuesImages(file, r.node, refs, before, lineOf, { rootPath: r.path, ...(istio ? { outer: { map: spec, path: ['spec'] } } : {}), skip }, notes);
}

/**
 * An operator's resource (kinds/image/operator-images.ts): a prefix field (`spec.hub`) is the
 * images it composes, not a bare host; an image field left out is the operator's default image.
 */
function operatorImages(file: string, doc: Document, kind: unknown, refs: Reference[], before: number, lineOf: (n: YamlNode | null | undefined) => number): void {
  if (!isOperatorKind(kind)) return;
  const resource = doc.toJSON();
  for (const c of composedImagesOf(resource)) {
    const keyPath = c.field.join('.');
    const node = doc.getIn(c.field, true) as YamlNode | undefined;
    for (let i = refs.length - 1; i >= before; i--) if (refs[i].keyPath === keyPath) refs.splice(i, 1);
    const tag = c.tag ? '' : '; the tag is the one its release pins';
    for (const name of c.names) refs.push({ file, line: lineOf(node), keyPath, kind: 'image', value: composeImage(c, name), operator: `${c.rule}${tag}` });
  }
  const kindNode = isMap(doc.contents) ? (doc.contents.items.find((p) => isScalar(p.key) && p.key.value === 'kind')?.value as YamlNode | undefined) : undefined;
  for (const d of defaultImagesOf(resource)) refs.push({ file, line: lineOf(kindNode), keyPath: d.field, kind: 'image', value: d.image, operator: d.note });
}

function unquote(v: string): string {
  const t = v.trim();
  // A quoted value ends at its closing quote, a comment may follow (`A="x"  # why`, as compose-go reads it).
  const close = t[0] === '"' || t[0] === "'" ? t.indexOf(t[0], 1) : -1;
  if (close > 0) return t.slice(1, close);
  // A trailing comment: cut at the first blank-then-#, found without a backtracking `\s+#.*$`.
  const hash = t.search(/\s#/);
  return hash < 0 ? t : t.slice(0, hash).trimEnd();
}

/**
 * The quoted strings in a TOML value, left to right, in one pass (a regex over `"…"` retried at
 * every quote of an unterminated string is quadratic). Escapes are kept as written.
 */
export function tomlStrings(value: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < value.length) {
    const q = value[i];
    if (q !== '"' && q !== "'") {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < value.length && value[j] !== q) j += q === '"' && value[j] === '\\' ? 2 : 1;
    if (j >= value.length) break; // unterminated: nothing more is a string
    out.push(value.slice(i + 1, j));
    i = j + 1;
  }
  return out;
}

function scanToml(file: string, text: string, refs: Reference[], settings: Setting[]): void {
  let table = '';
  const podmanConf = isRegistriesConf(file);
  // A GitLab runner's config.toml: each image the runner pulls (services too), read at its own line; those lines are read no other way.
  const runner = isRunnerConfig(file, text) ? runnerImages(text) : [];
  const runnerLines = new Set<number>();
  const over = runner.length >= MAX_RUNNER_IMAGES ? `; more than ${MAX_RUNNER_IMAGES} images in this runner configuration, the rest not read` : '';
  for (const r of runner) {
    runnerLines.add(r.line);
    // `helper_image = "…:x86_64-${CI_RUNNER_REVISION}"`: the runner fills in its own revision; the registry is written, the tag is not.
    const filled = r.value.includes('$') && !r.value.split('/')[0].includes('$') ? `${r.key} holds a variable the runner fills in when it runs (${/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/.exec(r.value)?.[0] ?? '$'}): which image it pulls is unknown here, its registry is as written` : undefined;
    refs.push({ file, line: r.line, keyPath: r.key, kind: 'image', value: r.value, ...(over ? { provenance: `${file}:${r.line} GitLab runner ${r.key}${over}` } : {}), ...(filled ? { tagFrom: filled } : {}) });
  }
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const n = i + 1;
    if (!line || line.startsWith('#') || runnerLines.has(n)) return;
    // `[table]` / `[[array]]`: to the first `]`, with no nested quantifiers (the lazy form backtracked cubically).
    const header = /^\[\[?([^\]]*)\]/.exec(line);
    if (header && header[1].trim()) {
      table = header[1].trim().replace(/"/g, '');
      return;
    }
    // `key = value`: the key is what comes before the first `=` (bare or quoted, dotted); checked with one character class.
    const eq = line.indexOf('=');
    const keyText = eq > 0 ? line.slice(0, eq).trimEnd() : '';
    const kv = keyText && /^[A-Za-z0-9_."\s-]+$/.test(keyText) && /[A-Za-z0-9_-]/.test(keyText) ? [line, keyText, line.slice(eq + 1).trimStart()] : null;
    if (!kv) {
      for (const r of referencesIn(line, false)) refs.push({ file, line: n, keyPath: table || undefined, ...r });
      return;
    }
    const key = [table, kv[1].replace(/["\s]/g, '')].filter(Boolean).join('.');
    const value = kv[2].trim();
    if (!value.startsWith('[') && !value.startsWith('{')) settings.push({ file, line: n, key, value: unquote(value), source: 'structured' });
    const strings = tomlStrings(value);
    const imageCtx = imageKeyPath(key);
    for (const s of strings.length ? strings : [value]) {
      const found = referencesIn(s, imageCtx);
      for (const r of found) refs.push({ file, line: n, keyPath: key, ...r });
      // registries.conf names registries where the patterns cannot tell (`mirror.vendor.example`, `registry:5000`)
      const host = found.length ? undefined : podmanConf && REGISTRIES_CONF_HOST_KEY.test(key) ? registryHostOf(s) : hostOfDestinationKey(key, s);
      if (host) refs.push({ file, line: n, keyPath: key, kind: 'host', value: host });
    }
  });
}

/** The keys of registries.conf whose values are registries (`location`, `prefix`, mirrors, the search list, aliases). */
const REGISTRIES_CONF_HOST_KEY = /^(?:registry(?:\.mirror)?\.(?:location|prefix)|registry\.mirror|unqualified-search-registries|aliases\..+)$/;

/** The registry host of a registries.conf value (`host[:port][/path]`), or undefined (a wildcard, a word such as `digest-only`). */
function registryHostOf(value: string): string | undefined {
  const host = hostPart(value);
  if (!/^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/.test(host) && !/^\[[0-9a-f:.]+\](?::\d{1,5})?$/.test(host)) return undefined;
  return host.includes('.') || host.includes(':') || host === 'localhost' ? host : undefined;
}

/**
 * A key whose value is a place to connect to (`host`, `licenseServer`, `endpoint`, `registry`,
 * `PROXY_HOST`, `upstream`…), by its last name; not `domain` (a cookie's, a cluster's or an
 * e-mail domain is no destination).
 */
const DESTINATION_KEY = /(?:host|hostname|server|endpoint|address|addr|registry|registries|proxy|proxies|mirror|upstream|fqdn|remote)s?$/i;
/** Top-level domains beyond the text patterns' list that a destination key's value may end in. */
const MORE_TLDS = new Set('online store shop network digital global company solutions software host live world email link tools zone space website agency group team ltd inc llc int mobi name asia aero coop jobs travel tel arpa google amazon aws azure microsoft'.split(' '));
const KNOWN_TLDS = new Set(TLDS.split('|'));

/**
 * The host a destination key's value names where the text patterns cannot tell a host from a
 * dotted word (`licenseServer: lic.vendor.jp`, `host: mirror.vendor.example:8443/x`): a name of
 * three labels or more, or ending in a two-letter country domain or a known one. A two-label name
 * under an unknown domain (`redis.cache`, a Service in another namespace) is not taken for one.
 */
export function hostOfDestinationKey(keyPath: string, value: string): string | undefined {
  const last = keyPath.replace(/\[\d+\]$/, '').split('.').pop() ?? '';
  if (!DESTINATION_KEY.test(last.replace(/[_-]/g, ''))) return undefined;
  const m = /^((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z][a-z0-9-]*[a-z0-9]))(?::\d{1,5})?(?:\/\S*)?$/i.exec(value.trim());
  if (!m) return undefined;
  const labels = m[1].split('.').length;
  const tld = m[2].toLowerCase();
  if (labels < 3 && !/^[a-z]{2}$/.test(tld) && !KNOWN_TLDS.has(tld) && !MORE_TLDS.has(tld)) return undefined;
  return hostPart(value);
}

/** `host[:port]` of a `host[:port][/path]` value, lower case. */
function hostPart(value: string): string {
  return value.trim().split('/')[0].toLowerCase();
}

const ENV_LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;
const ENV_INLINE = /(?:^|\s)(?:export\s+)?([A-Z_][A-Z0-9_]*)=("[^"]*"|'[^']*'|[^\s;&|]*)/g;

function scanEnv(file: string, text: string, refs: Reference[], settings: Setting[]): void {
  text.split('\n').forEach((raw, i) => {
    const m = ENV_LINE.exec(raw);
    if (!m || raw.trim().startsWith('#')) return;
    envAssignment(file, i + 1, m[1], unquote(m[2]), refs, settings);
  });
}

/** One environment variable's value as audit reads it (an env file's line, a systemd unit's Environment=): its URLs, hosts and images, a destination key's host. */
export function envAssignment(file: string, line: number, key: string, value: string, refs: Reference[], settings: Setting[]): void {
  settings.push({ file, line, key, value, source: 'env' });
  const found = referencesIn(value, /IMAGE/i.test(key));
  for (const r of found) refs.push({ file, line, keyPath: key, ...r });
  const host = found.length ? undefined : hostOfDestinationKey(key, value);
  if (host) refs.push({ file, line, keyPath: key, kind: 'host', value: host });
}

/**
 * A one-line `deb` entry. Each `(?!\S)`/`(?!\s)` holds where the greedy run stopped, so a run is
 * never split or given back (the plain `(\S+)\s*(\S+)?\s*(.*)$` was cubic on a run of spaces).
 */
export const DEB_LINE = /^(deb(?:-src)?)\s+(?:\[[^\]]*\]\s+)?(\S+)(?!\S)\s*(?!\s)(\S+)?(?!\S)\s*(?!\s)(.*)$/;

function scanAptList(file: string, text: string, refs: Reference[]): void {
  text.split('\n').forEach((raw, i) => {
    const line = cutLastLineFrom(raw, '#').trim();
    const m = execKeepingTemplates(DEB_LINE, line);
    if (m) {
      const apt = { types: [m[1]], suites: m[3] ? [m[3]] : [], components: m[4].split(/\s+/).filter(Boolean) };
      refs.push({ file, line: i + 1, kind: 'apt', value: m[2], apt });
    }
  });
}

/** A deb822 field line; `(?!\s)` keeps `\s*` from giving back spaces (`\s*(.*)$` was quadratic on a long run). */
export const DEB822_FIELD = /^([A-Za-z0-9-]+):\s*(?!\s)(.*)$/;

/** deb822 `.sources`: one entry per paragraph; each of its URIs is a reference (on the URIs line). */
function scanAptSources(file: string, text: string, refs: Reference[]): void {
  const lines = text.split('\n');
  let para: { uris: Array<{ value: string; line: number }>; fields: Map<string, string> } = { uris: [], fields: new Map() };
  const flush = () => {
    const words = (k: string) => (para.fields.get(k) ?? '').split(/\s+/).filter(Boolean);
    const apt = { types: words('types'), suites: words('suites'), components: words('components') };
    for (const u of para.uris) refs.push({ file, line: u.line, keyPath: 'URIs', kind: 'apt', value: u.value, apt });
    para = { uris: [], fields: new Map() };
  };
  let last: string | undefined;
  lines.forEach((raw, i) => {
    if (!raw.trim()) {
      flush();
      last = undefined;
      return;
    }
    if (raw.startsWith('#')) return;
    if (/^\s/.test(raw) && last) {
      // A continuation line (folded field).
      para.fields.set(last, `${para.fields.get(last)} ${raw.trim()}`);
      if (last === 'uris') for (const u of raw.trim().split(/\s+/).filter(Boolean)) para.uris.push({ value: u, line: i + 1 });
      return;
    }
    const m = DEB822_FIELD.exec(raw.trim());
    if (!m) return;
    last = m[1].toLowerCase();
    para.fields.set(last, m[2]);
    if (last === 'uris') for (const u of m[2].split(/\s+/).filter(Boolean)) para.uris.push({ value: u, line: i + 1 });
  });
  flush();
}

/**
 * `/^\s*(?:-\s+)?image:\s*\S+\s*(?:#.*)?$/.test(raw)` in one pass (that pattern was quadratic
 * on a long value of `#`): one word, then nothing, or a comment from a `#` after its first
 * character (the last such `#`; `.` stops at a line break, so none may follow it).
 */
export function bareImageLine(raw: string): boolean {
  const m = /^\s*(?:-\s+)?image:\s*/.exec(raw);
  if (!m) return false;
  const rest = raw.slice(m[0].length);
  const word = /^\S*/.exec(rest)![0].length;
  const gap = word + /^\s*/.exec(rest.slice(word))![0].length;
  if (!word || gap === rest.length) return word > 0;
  const hash = rest[gap] === '#' ? gap : rest.lastIndexOf('#', word - 1);
  return hash >= 1 && lastLineStart(rest) <= hash;
}

/** At most this many notes of what a reader stopped on are listed for one text (a crafted file may hold thousands). */
const MAX_TEXT_NOTES = 64;

/**
 * Plain text, line by line. `yamlLines`: the lines of a YAML file that does not parse (a Helm
 * template): an `image:` key there is a container's image field, a bare name (`busybox`) too.
 */
function scanText(file: string, text: string, refs: Reference[], settings: Setting[], yamlLines = false, web?: WebContext, as?: WebConfigType, notes?: SkippedFile[]): void {
  const froms = DOCKERFILE_NAME.test(file) ? dockerfileFroms(text) : undefined;
  // Label and annotation keys, API groups and the fields holding such names are no hosts (audit/qualified-names.ts).
  const names = new YamlLineKeys();
  const defines = yamlLines ? undefined : new ApacheDefines(web?.apache);
  const upstreams = new Map<string, { file: string; line: number }>();
  if (!yamlLines) {
    for (const [name, line] of nginxUpstreams(text)) upstreams.set(name, { file, line });
    for (const [name, at] of web?.upstreams ?? []) if (!upstreams.has(name)) upstreams.set(name, at);
  }
  const nginxSets = yamlLines ? undefined : new NginxSets(text);
  const maps = yamlLines ? undefined : new NginxMaps([...nginxMaps(text, file), ...(web?.maps ?? [])]);
  const caddy = !yamlLines && (as ? as === 'caddy' : isCaddyfile(file));
  // Caddy `import`: a snippet's (or a pasted file's) lines with `{args[…]}` read at the import line, filled in (audit/caddy-imports.ts).
  const caddyFacts = caddy ? caddyFactsOf(text, file) : undefined;
  // An import inside a snippet is pasted where the snippet is imported (importedArgLines), not at its own line.
  const caddyImports = new Map((caddyFacts?.imports ?? []).flatMap((x) => (x.inSnippet ? [] : [[x.line, x] as const])));
  const snippets = new Map([...(web?.caddy?.snippets ?? []), ...(caddyFacts?.snippets ?? [])]);
  // What the Caddy reader stops on (a cycle, a bound) is a note at its line, as an include's bound is (web-includes.ts).
  let noted = 0;
  const note = (n: number, reason: string) => {
    if (!notes || ++noted > MAX_TEXT_NOTES + 1) return;
    notes.push({ file, reason: noted > MAX_TEXT_NOTES ? `${file}:${n}: more than ${MAX_TEXT_NOTES} places in this file where the reader stopped: this one and those after it not listed (what they name is unknown here)` : `${file}:${n}: ${reason}`, unscanned: true });
  };
  for (const c of caddyFacts?.cut ?? []) note(c.line, c.reason);
  let at = 0;
  const pasted: PasteBudget = { left: MAX_PASTED_CHARS, stop: (reason) => note(at, reason) };
  const before = refs.length;
  text.split('\n').forEach((raw, i) => {
    // An empty line names nothing (and a ConfigMap's web configuration is read after up to MAX_WEB_PAD of them).
    if (!raw) return;
    const n = i + 1;
    const imp = caddyImports.get(n);
    at = n;
    if (imp && caddyImportRefs(file, n, raw, imp, importedArgLines(imp, snippets, snippets.has(imp.pattern) ? [] : (web?.caddy?.files.get(n) ?? []), pasted), refs)) return;
    // Apache's `${NAME}` with `Define NAME value` above it (or in a file included above): the line read as httpd reads it.
    const defined = defines?.fill(raw, file, n) ?? (caddy ? caddyEnvDefaults(raw, file, n) : undefined);
    if (defined) {
      for (const r of referencesIn(defined.line, false)) refs.push({ file, line: n, ...r, provenance: defined.note });
      return;
    }
    // `proxy_pass $backend;` with `set $backend https://api.vendor.example;` around it: that destination;
    // `proxy_pass http://$target;` with a `map … $target { … }` of the configuration: each value it gives.
    // What follows the variable (`$backend/api`) follows the value.
    const pass = nginxSets && maps ? nginxPassVariable(raw) : undefined;
    const set = pass ? nginxSets!.valuesAt(pass.name, n, pass.after) : undefined;
    const mapped = pass && !set ? maps!.valuesOf(pass.name, file) : undefined;
    const followed = set && 'values' in set ? set.values : mapped?.values;
    if (pass && followed && (followed.length || mapped?.unknown)) {
      const at = `${file}:${n} ${pass.directive} ${pass.before}${pass.name}${pass.after}`;
      const unread: string[] = mapped?.unknown ? [mapped.unknown] : [];
      for (const v of followed) {
        const found = referencesIn(`${pass.before}${v.value}${pass.after}`, false);
        for (const r of found) refs.push({ file, line: n, ...r, provenance: `${at}: ${pass.name} is ${v.note}` });
        if (!found.length && unread.length < 4) unread.push(`the value ${v.note} names no destination read here`);
      }
      if (unread.length) refs.push({ file, line: n, kind: 'url', value: `${pass.before}${pass.name}${pass.after}`, provenance: `${at}: ${unread.join('; ')}${web ? ` (${web.via})` : ''}` });
      return;
    }
    const upstream = variableUpstream(raw);
    if (upstream) refs.push({ file, line: n, kind: 'url', value: upstream.upstream, provenance: `${variableUpstreamNote(file, n, upstream)}${set && 'unknown' in set ? `; ${set.unknown}` : ''}` });
    const line = blanked(raw, names.masks(raw, yamlLines));
    const from = froms?.get(n);
    if (from) {
      // `FROM $BASE` with `ARG BASE=python:3.12` (and a bare `FROM ubuntu`): the image pulled, said as such.
      if (from.image) refs.push({ file, line: n, kind: 'image', value: from.image });
      for (const r of referencesIn(raw.replace(from.token, ' '), false)) refs.push({ file, line: n, ...r });
      return;
    }
    const imageCtx = /^\s*FROM\s|docker\s+(pull|run)|podman\s+(pull|run)|image:/i.test(raw);
    if (imageCtx) {
      const m = /(?:FROM\s+(?:--platform=\S+\s+)?|(?:pull|run)\s+(?:-\S+\s+)*|image:\s*)(\S+)/i.exec(raw);
      // `image: "nginx:1.25"`: the quotes are YAML's, not the image's.
      const word = m ? m[1].replace(/^(["'])(.*)\1$/, '$2') : '';
      const bare = yamlLines && bareImageLine(raw);
      if (m && IMAGE_ANY_RE.test(word) && !/^\d+(\.\d+)*$/.test(word) && (word.includes('/') || word.includes(':') || bare)) {
        refs.push({ file, line: n, kind: 'image', value: word });
        for (const r of referencesIn(line.replace(m[1], ' '), false)) refs.push({ file, line: n, ...r });
        return;
      }
    }
    for (const r of referencesIn(line, false)) refs.push({ file, line: n, ...r });
    if (!raw.trim().startsWith('#')) for (const m of raw.matchAll(ENV_INLINE)) settings.push({ file, line: n, key: m[1], value: unquote(m[2]), source: 'env' });
  });
  // `proxy_pass http://backend` to an `upstream backend { … }` of the file: a group, not a host.
  if (upstreams.size)
    for (let i = before; i < refs.length; i++) {
      const r = refs[i];
      const name = r.kind === 'url' ? /^[a-z]+:\/\/([A-Za-z0-9_.-]+)(?=[/:;]|$)/i.exec(r.value)?.[1]?.toLowerCase() : undefined;
      const at = name === undefined ? undefined : upstreams.get(name);
      if (at !== undefined) r.inCluster = upstreamGroupNote(at.file, name!, at.line);
    }
}

/**
 * A ConfigMap value read as the web server configuration `type` (a literal block at its own lines;
 * any other string, whose lines are not the file's, at the value's first line, its notes naming
 * the line in the value).
 */
function scanWebConfigValue(file: string, keyPath: string, node: Scalar, lineAt: (o: number) => number, type: WebConfigType, refs: Reference[], settings: Setting[], pad: { left: number }, notes?: SkippedFile[], web?: WebContext): void {
  const v = node.value as string;
  const line = lineAt(node.range![0]);
  // The blank lines put in front are bounded for one file (thousands of such keys deep in a big file would be quadratic): past it, read as a string.
  const literal = node.type === 'BLOCK_LITERAL' && pad.left >= line;
  if (literal) pad.left -= line;
  const own: Reference[] = [];
  const found: Setting[] = [];
  // The value's lines numbered as the file's: its first line follows the block's header line.
  const stops: SkippedFile[] = [];
  if (literal) scanText(file, '\n'.repeat(line) + v, own, found, false, web, type, stops);
  else scanText(`${file} ${keyPath}`, v, own, found, false, web, type, stops);
  for (const x of stops) notes?.push({ ...x, file });
  for (const r of own) refs.push({ ...r, file, keyPath, ...(literal ? {} : { line }) });
  for (const x of found) settings.push({ ...x, file, ...(literal ? {} : { line }) });
}

/** At most this many blank lines are put in front of one file's ConfigMap web configurations to number their lines as the file's. */
const MAX_WEB_PAD = 8 * 1024 * 1024;

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * The ConfigMap keys no name types that a container of the scan mounts as a web server
 * configuration file (`subPath: nginx.conf`, `items: [{key: site, path: default.conf}]`): read
 * again as that file, their findings replaced. A key two mounts type differently is read as the first.
 * The keys one container mounts together (an `nginx.conf` and a `conf.d/app.conf` key of one
 * ConfigMap, or of two) are one configuration: an `include` (Caddy `import`) names the keys mounted
 * at its path (audit/web-includes.ts, over the paths the container sees), and a key joined so is read
 * again with the maps, upstream groups and snippets the others define; what the includes stop on is listed.
 */
function applyWebConfigMounts(c: WebConfigCollected, files: readonly ScannedFile[], references: Reference[], settings: Setting[], notes: SkippedFile[]): void {
  if (!c.keys.length || !c.mounts.length) return;
  const texts = new Map(files.filter((f) => f.text !== undefined).map((f) => [f.file, f.text!]));
  const parsed = new Map<string, { docs: Document[]; lc: LineCounter } | undefined>();
  const valueOf = (k: ConfigMapKey) => {
    if (!parsed.has(k.file)) {
      const text = texts.get(k.file);
      const lc = new LineCounter();
      const docs = text === undefined ? undefined : withoutStackTraces(() => parseAllDocuments(text, { lineCounter: lc, uniqueKeys: false }));
      parsed.set(k.file, docs === undefined ? undefined : { docs: Array.isArray(docs) ? docs : [docs], lc });
    }
    const got = parsed.get(k.file);
    const node = got?.docs[k.doc]?.getIn(['data', k.key], true);
    return got && isScalar(node) && typeof node.value === 'string' && node.range ? { node, lc: got.lc } : undefined;
  };
  // What is read again: a key by (file, document, key), as the file a mount types it, with what its includes join.
  const jobs = new Map<string, { k: ConfigMapKey; path: string; by: string; web?: WebContext; legend?: string }>();
  const id = (k: ConfigMapKey) => `${k.file}\n${k.doc}\n${k.key}`;
  const mounts = new Map<string, ConfigMapMount[]>();
  for (const m of c.mounts) if (!m.dir) push(mounts, `${m.configMap}\n${m.key}`, m);
  for (const k of c.keys) {
    if (k.typed) continue;
    const m = mounts.get(`${k.name}\n${k.key}`)?.find((x) => x.namespace === k.namespace || !x.namespace || !k.namespace);
    if (m && !jobs.has(id(k))) jobs.set(id(k), { k, path: m.path, by: m.by });
  }
  // A ConfigMap's keys by its name (the first MAX_MOUNTED_FILES of a name), matched to a namespace once.
  const byName = new Map<string, ConfigMapKey[]>();
  for (const k of c.keys) if ((byName.get(k.name)?.length ?? 0) < MAX_MOUNTED_FILES) push(byName, k.name, k);
  const matched = new Map<string, ConfigMapKey[]>();
  const keysOf = (m: ConfigMapMount) => {
    const key = `${m.namespace ?? ''}\n${m.configMap}`;
    if (!matched.has(key)) matched.set(key, (byName.get(m.configMap) ?? []).filter((k) => k.namespace === m.namespace || !m.namespace || !k.namespace));
    return matched.get(key)!;
  };
  for (const { by, files: mounted, first, cut } of mountedKeys(c.mounts, keysOf)) {
    if (cut) notes.push({ file: first.file, reason: `${first.file} data.${first.key.slice(0, 120)}: the ${by.slice(0, 200)} ${cut}`, unscanned: true });
    const facts = new Map<string, WebFacts>();
    const at = new Map<string, { k: ConfigMapKey; path: string }>();
    for (const [p, k] of mounted) {
      const v = valueOf(k);
      if (!v || !webConfigTypeOf(p, v.node.value as string)) continue;
      const rel = p.replace(/^\/+/, '');
      const f = webFactsOf(v.node.value as string, rel);
      at.set(rel, { k, path: p });
      if (f) facts.set(rel, f);
    }
    if (at.size < 2 || !facts.size) continue;
    const { contexts, problems } = webContexts(facts, at.keys());
    const legend = [...at.values()].slice(0, 4).map((x) => `${x.path.slice(0, 200)} is ${x.k.file} data.${x.k.key.slice(0, 120)}`).join(', ') + (at.size > 4 ? ` and ${at.size - 4} more` : '');
    for (const p of problems) {
      const x = at.get(p.file);
      if (x) notes.push({ file: x.k.file, reason: `${x.k.file} data.${x.k.key.slice(0, 120)}, mounted at ${p.reason.slice(0, 2000)} (by the ${by.slice(0, 200)}: ${legend})`, unscanned: true });
    }
    for (const [rel, web] of contexts) {
      const x = at.get(rel)!;
      const job = jobs.get(id(x.k));
      if (job?.web) continue;
      jobs.set(id(x.k), { k: x.k, path: x.path, by, web, legend });
    }
  }
  if (!jobs.size) return;
  const read: Array<{ file: string; keyPath: string; from: number; to: number; refs: Reference[] }> = [];
  const pads = new Map<string, { left: number }>();
  for (const { k, path: p, by, web, legend } of jobs.values()) {
    const v = valueOf(k);
    const type = v ? webConfigTypeOf(p, v.node.value as string) : undefined;
    if (!v || !type) continue;
    const pad = pads.get(k.file) ?? pads.set(k.file, { left: MAX_WEB_PAD }).get(k.file)!;
    const keyPath = `data.${k.key}`;
    const own: Reference[] = [];
    // A key its name types gave its settings when its file was read: not again.
    scanWebConfigValue(k.file, keyPath, v.node, (o) => v.lc.linePos(o).line, type, own, k.typed ? [] : settings, pad, notes, web);
    const line = v.lc.linePos(v.node.range![0]).line;
    const why = `${k.file}:${line} ${keyPath}: read as ${p.slice(0, 200)}, where the ${by.slice(0, 200)} mounts it${web ? `, with the ConfigMap keys mounted beside it (${legend})` : ''}`;
    read.push({ file: k.file, keyPath, from: line, to: v.lc.linePos(v.node.range![1]).line, refs: own.map((r) => detachStrings({ ...r, provenance: r.provenance ? `${r.provenance} (${why})` : why })) });
  }
  if (!read.length) return;
  // The findings the value gave as YAML text (or read alone), dropped in one pass.
  const ranges = new Map<string, Array<[number, number]>>();
  for (const x of read) push(ranges, `${x.file}\n${x.keyPath}`, [x.from, x.to] as [number, number]);
  let j = 0;
  for (const r of references) if (!ranges.get(`${r.file}\n${r.keyPath ?? ''}`)?.some(([a, b]) => r.line >= a && r.line <= b)) references[j++] = r;
  references.length = j;
  for (const x of read) references.push(...x.refs);
}

/** An import line's references: each pasted line filled in with its arguments, and what the line names beyond them; false when nothing is pasted. */
function caddyImportRefs(file: string, n: number, raw: string, imp: CaddyImport, pasted: ReturnType<typeof importedArgLines>, refs: Reference[]): boolean {
  if (!pasted.length) return false;
  const seen = new Set<string>();
  const at = `${file}:${n} import ${imp.pattern}${imp.args.length ? ` ${imp.args.join(' ').slice(0, 200)}` : ''}`;
  for (const p of pasted) {
    const env = caddyEnvDefaults(p.line, file, n);
    const filled = env?.line ?? p.line;
    const note = `${at}: Caddy pastes the ${p.from}, filled in with the import's arguments as ${filled.trim().slice(0, 200)}${env ? `; ${env.note}` : ''}`;
    for (const r of referencesIn(filled, false)) {
      seen.add(r.value);
      refs.push({ file, line: n, ...r, provenance: note });
    }
    const upstream = variableUpstream(filled);
    if (upstream) refs.push({ file, line: n, kind: 'url', value: upstream.upstream, provenance: `${note}; ${variableUpstreamNote(file, n, upstream)}` });
  }
  for (const r of referencesIn(raw, false)) if (!seen.has(r.value)) refs.push({ file, line: n, ...r });
  return true;
}

/**
 * What one file's scan feeds besides its references and settings, each optional: the later passes'
 * collections (Flux releases, HelmCharts, variable scalars, Compose env files and builds, GitOps
 * objects, Grafana settings, web-server ConfigMap keys), the web-server include context it is read
 * with, and the notes of what a reader stopped on.
 */
export interface ScanSinks {
  releases?: FluxRelease[];
  helmCharts?: ScannedHelmChart[];
  varScalars?: VarScalar[];
  envFiles?: ComposeEnvFileRef[];
  builds?: ComposeBuild[];
  gitops?: GitOpsCollected;
  web?: WebContext;
  grafana?: GrafanaCollected;
  webCm?: WebConfigCollected;
  notes?: SkippedFile[];
}

/**
 * The references and settings of one file's text, by its type (synchronous: bounded input, linear
 * patterns). A YAML or JSON file that does not parse is read as text; the problem is returned.
 */
export function scanFileText(rel: string, type: FileType, text: string, refs: Reference[], settings: Setting[], sinks: ScanSinks = {}): string | undefined {
  const { web, grafana, notes } = sinks;
  switch (type) {
    case 'yaml':
    case 'json': {
      const problem = scanYaml(rel, text, refs, settings, sinks);
      if (problem !== undefined) scanText(rel, text, refs, settings, type === 'yaml');
      return problem;
    }
    case 'toml':
      scanToml(rel, text, refs, settings);
      break;
    case 'env':
      scanEnv(rel, text, refs, settings);
      break;
    case 'apt-list':
      scanAptList(rel, text, refs);
      break;
    case 'apt-sources':
      scanAptSources(rel, text, refs);
      break;
    default:
      if (isQuadletUnit(rel)) {
        const q = quadletImages(rel, text);
        refs.push(...q.refs);
        scanText(rel, q.rest, refs, settings);
      } else {
        const before = refs.length;
        scanText(rel, text, refs, settings, false, web, undefined, notes);
        markNtpServers(rel, text, refs, before);
        grafanaIniFile(rel, text, refs, grafana);
      }
  }
  return undefined;
}

/**
 * A container image a kustomization of the scan overrides is pulled as the override says
 * (`kubectl kustomize`, Argo CD): that is the reference audited, at the resource's line, with the
 * override named. Without this a base's `nginx:1.24` that the overlay pins to a carried (and
 * rewritten) `1.25` would be reported as going out, and a pinned image not carried would not.
 * The chain is read (a base's override, then each overlay's that includes it, audit/kustomize.ts):
 * an image pulled differently by two overlays is one reference for each way it is pulled.
 */
function applyKustomizeOverrides(scopes: KustomizeScopes, references: Reference[]): void {
  if (!scopes.size) return;
  const more: Reference[] = [];
  for (const r of references) {
    if (r.kind !== 'image' || !r.keyPath || r.provenance || !/(?:^|\.)(?:containers|initContainers)\[\d+\]\.image$/.test(r.keyPath)) continue;
    const ways = scopes.pulls(r.file, r.value);
    if (ways.every((w) => w.image === r.value)) continue;
    const written = r.value;
    ways.forEach((w, i) => {
      const x = i === 0 ? r : { ...r };
      if (w.image !== written) {
        x.provenance = `${r.file}:${r.line} ${written}, pulled as ${overridesText(w.by)} says`;
        x.value = w.image;
      }
      if (i > 0) more.push(x);
    });
  }
  references.push(...more);
}

/** A URL anywhere in a text (`git::https://…`, `…, pulled as https://…`), from the first letter of its scheme. */
const EMBEDDED_URL_RE = /(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]*[^\s"'<>`,;.)]/gi;

/**
 * A text with the credentials of its URLs masked (`https://user:token@host` → `https://***:***@host`,
 * a `?token=` value): a remote base or chart repository written with them in a scanned file is
 * reported, and the report is printed, stored in CI logs, handed around.
 */
export function redactUrlsIn(text: string): string {
  if (!text.includes('://')) return text;
  return text.replace(EMBEDDED_URL_RE, (u) => redactUrl(u));
}

/**
 * A Compose service's `image: ${IMAGE_NAME}:${TAG}-ad` is pulled as interpolated: from the `.env`
 * in the Compose file's directory (Compose's default) and the defaults written in the value. A
 * variable set nowhere in the scan leaves the reference as written, or, when only the tag is
 * unknown (`rancher/k3s:${K3S_VERSION}`), the repository it is pulled from; the note says which.
 */
function applyComposeVars(envs: ComposeEnvs, references: Reference[]): void {
  const more: Reference[] = [];
  for (const r of references) {
    if (r.composeVars === undefined) continue;
    const written = r.composeVars;
    delete r.composeVars;
    // One finding per way a command line of the scan runs the file (its --env-file / --project-directory).
    const ways = envs.ways(r.file);
    const base = { ...r };
    ways.forEach((env, i) => {
      const out = i === 0 ? r : { ...base };
      const { value, unresolved, tooLong } = interpolateWith(written, env);
      if (tooLong) {
        out.provenance = `${r.file}:${r.line} ${written}: interpolated (${env.from}) it is longer than ${MAX_INTERPOLATED} characters, no image reference; left as written`;
      } else if (!unresolved.length) {
        out.value = value;
        out.provenance = `${r.file}:${r.line} ${written}, pulled as ${value} (interpolated, ${env.from})`;
      } else {
        const repo = env.opaque ? undefined : knownRepository(value);
        if (repo !== undefined) out.value = repo;
        out.provenance = `${r.file}:${r.line} ${written}: ${env.opaque ?? env.why(unresolved)}${repo !== undefined ? `; pulled from ${repo} with a tag the scan does not know` : ''}`;
      }
      if (i > 0) more.push(out);
    });
  }
  references.push(...more);
}

/** At most this many Compose `build:`s are read in one scan (past it, the Dockerfiles of the rest keep their ARG defaults). */
const MAX_COMPOSE_BUILDS = 4096;

/** At most this many files a `docker compose` command line names (its --env-files) are read in one scan. */
const MAX_COMPOSE_ENV_FILES = 256;
/** At most this many bytes of env files are read into the distinct lists of them command lines name (each list is its own set of values). */
const MAX_COMPOSE_ENV_MERGED = 64 * 1024 * 1024;
/** The default Compose files of a project directory, in compose-go's order (the first found is read, with its override). */
const DEFAULT_COMPOSE_FILES = [['compose.yaml', 'compose.override.yaml'], ['compose.yml', 'compose.override.yml'], ['docker-compose.yaml', 'docker-compose.override.yaml'], ['docker-compose.yml', 'docker-compose.override.yml']];

/**
 * How the `docker compose` command lines of the scan's scripts, Makefiles and CI files run its
 * Compose files (runtime-vars.ts composeCliIn), as docker compose resolves its options: the
 * command runs where the file's scope is (runtimeScopeOf: a script in `scripts/` runs from the
 * directory above, a workflow from the repository's); `-f` files are relative to there, else the
 * project directory's default file (compose.yaml … docker-compose.yml, and its override); the
 * project directory is `--project-directory`, else the first `-f` file's directory, else where it
 * runs; `--env-file`s (relative to where it runs, read in order, a later value winning) replace
 * the project directory's `.env`. An env file the scan does not hold, or one a shell variable
 * names, makes every variable of that run unknown, said so. At most MAX_COMPOSE_ENV_FILES env
 * files are read, each under the scan's bound for a file and all under its total.
 */
async function composeRuns(files: readonly ScannedFile[], scanned: ReadonlySet<string>, cwd: string, envs: ComposeEnvs): Promise<ComposeRun[]> {
  const runs: ComposeRun[] = [];
  const texts = new Map<string, string | { why: string }>(files.filter((f) => f.type === 'env' && f.text !== undefined).map((f) => [f.file, f.text!]));
  let budget = MAX_TOTAL_BYTES;
  let read = 0;
  const textOf = async (rel: string): Promise<string | { why: string }> => {
    const had = texts.get(rel);
    if (had !== undefined) return had;
    let got: string | { why: string };
    if (!scanned.has(rel)) got = { why: `${rel}, which the scan does not hold (scan it with the Compose file)` };
    else if (++read > MAX_COMPOSE_ENV_FILES || budget <= 0) got = { why: `${rel}, not read: the scan read ${MAX_COMPOSE_ENV_FILES} env files named by command lines already (the most it reads)` };
    else {
      const buf = await readRegularFile(path.resolve(cwd, rel), Math.min(MAX_BYTES, budget), { follow: false });
      if (Buffer.isBuffer(buf)) {
        budget -= buf.length;
        got = buf.toString('utf8');
      } else got = { why: `${rel}, not read (${buf.reason})` };
    }
    texts.set(rel, got);
    return got;
  };
  const join = (dir: string, p: string) => path.posix.normalize(path.posix.join(dir, p)).replace(/\/+$/, '') || '.';
  // Each env file parsed once, each list of them read once: 16 command lines naming one 3 MB env
  // file 8 times each parsed it 128 times (97 s, 1.4 GB); at most MAX_COMPOSE_ENV_MERGED bytes of
  // env files are read into the lists in all (each list holds its own values).
  const entriesOf = new Map<string, ReturnType<typeof composeEnvEntries>>();
  const byList = new Map<string, ComposeEnv>();
  let merged = 0;
  for (const f of files) {
    if (f.text === undefined || !/docker[ \t-]+compose/.test(f.text)) continue;
    const where = runtimeScopeOf(f.file);
    // `source ./env.sh` above a command: the files it reads into the shell, relative to where the
    // script runs (then to the sourcing file's own directory), inside the scan only.
    const candidates = (name: string, from: string) => {
      if (/[$`]/.test(name) || path.posix.isAbsolute(name)) return [];
      const own = name.startsWith(OWN_DIR_MARK) ? [join(path.posix.dirname(from), name.slice(OWN_DIR_MARK.length))] : undefined;
      return (own ?? [...new Set([join(where, name), join(path.posix.dirname(from), name)])]).filter((x) => x !== '..' && !x.startsWith('../'));
    };
    const sourcedTexts = new Map<string, string | { why: string }>();
    const prefetch = async (text: string, from: string, depth: number): Promise<void> => {
      if (depth >= MAX_SOURCE_DEPTH) return;
      for (const line of text.split('\n')) {
        const name = sourcedName(line);
        if (name === undefined) continue;
        for (const rel of candidates(name, from)) {
          if (sourcedTexts.has(rel)) continue;
          const t = scanned.has(rel) ? await textOf(rel) : { why: 'not in the scan' };
          sourcedTexts.set(rel, t);
          if (typeof t === 'string') await prefetch(t, rel, depth + 1);
        }
      }
    };
    if (/^[ \t]*(?:source|\.)[ \t]+\S/m.test(f.text)) await prefetch(f.text, f.file, 0);
    const sourced: SourcedText = (name, from) => {
      const list = candidates(name, from);
      if (!list.length) return { why: /[$`]/.test(name) ? 'a name a shell variable gives' : 'a path outside the scan' };
      for (const rel of list) {
        const t = sourcedTexts.get(rel);
        if (typeof t === 'string') return { file: rel, text: t };
      }
      return { why: `${list.join(' or ')}: not in the scan (scan it with the script)` };
    };
    for (const cmd of composeCliIn(f.text, f.file, sourced)) {
      const at = `${f.file}:${cmd.line}`;
      const named = cmd.files.filter((x) => !path.posix.isAbsolute(x)).map((x) => join(where, x));
      const projectDir = cmd.projectDir !== undefined && !path.posix.isAbsolute(cmd.projectDir) ? join(where, cmd.projectDir) : named.length ? path.posix.dirname(named[0]) : where;
      let composeFiles = named;
      if (!cmd.files.length && !cmd.unnamed.some((u) => u.startsWith('-f'))) {
        const pair = DEFAULT_COMPOSE_FILES.find(([main]) => scanned.has(join(projectDir, main)));
        composeFiles = pair ? pair.map((x) => join(projectDir, x)).filter((x) => scanned.has(x)) : [];
      }
      composeFiles = composeFiles.filter((x) => scanned.has(x));
      if (!composeFiles.length) continue;
      const unknownOption = cmd.unnamed.find((u) => !u.startsWith('-f'));
      let env: ComposeEnv;
      let key: string;
      if (cmd.shellUnknown !== undefined) {
        key = `?sh:${at}`;
        env = { vars: new Map(), from: at, why: () => '', opaque: `${at} runs it, but ${cmd.shellUnknown}: every variable it fills in is unknown here` };
      } else if (unknownOption !== undefined) {
        key = `?${unknownOption}`;
        env = { vars: new Map(), from: `${at} ${unknownOption}`, why: () => '', opaque: `${at} runs it with ${unknownOption}, which a shell or CI variable names: every variable it fills in is unknown here` };
      } else if (cmd.envFiles.length) {
        const list = cmd.envFiles.map((x) => (path.posix.isAbsolute(x) ? x : join(where, x)));
        key = list.join('\0');
        const from = `${list.join(', ')}, as ${at} runs it (--env-file)`;
        const had = byList.get(key);
        if (had) env = { ...had, from, ...(had.opaque ? { opaque: `${at} runs it with --env-file ${had.opaque}: every variable it fills in is unknown here` } : {}) };
        else {
          const acc = { vars: new Map<string, string>(), unknown: new Map<string, string>() };
          let missing: string | undefined;
          for (const rel of list) {
            const t = path.posix.isAbsolute(rel) ? { why: `${rel}, a path outside the scan` } : await textOf(rel);
            if (typeof t !== 'string') missing = t.why;
            else if ((merged += t.length) > MAX_COMPOSE_ENV_MERGED) missing = `${rel}, not read: the scan read ${MAX_COMPOSE_ENV_MERGED / (1024 * 1024)} MiB of env files into the lists command lines name already (the most it reads)`;
            else {
              if (!entriesOf.has(rel)) entriesOf.set(rel, composeEnvEntries(t));
              readDotenvEntries(entriesOf.get(rel)!, rel, undefined, acc);
              continue;
            }
            break;
          }
          byList.set(key, missing !== undefined ? { vars: new Map(), from, why: () => '', opaque: missing } : composeEnvOf(acc, from));
          env = missing !== undefined ? { vars: new Map(), from, why: () => '', opaque: `${at} runs it with --env-file ${missing}: every variable it fills in is unknown here` } : byList.get(key)!;
        }
      } else {
        // The project directory's .env, as the command sets the project directory.
        const dotenv = envs.ofDir(projectDir);
        key = `${projectDir}/.env`;
        env = { ...dotenv, from: `${dotenv.from}, the project directory ${at} runs it with` };
      }
      if (cmd.shellEnv.length && !env.opaque) ({ env, key } = withShellEnv(env, key, cmd.shellEnv, at));
      for (const c of composeFiles) runs.push({ composeFile: c, key, env });
    }
  }
  return runs;
}

/**
 * What the shell a command runs Compose in exports (runtime-vars.ts ShellVar) over its env files:
 * Compose takes the shell's environment first (docs.docker.com "Environment variables precedence":
 * the shell, then the env files). A value not known here stays a variable, its default unused.
 */
function withShellEnv(env: ComposeEnv, key: string, shell: readonly ShellVar[], at: string): { env: ComposeEnv; key: string } {
  // The shell's values over the env's, without copying the env (a copy per command line of a 300 000-value .env grew with both).
  const own = new Map<string, string | undefined>();
  const base = env.vars;
  const vars = { get: (n: string) => (own.has(n) ? own.get(n) : base.get(n)) };
  // Nor its names set to values not known here (a copy per command line of a .env of 200 000
  // values built from shell variables held 512 copies): the shell's say first.
  const baseUnknown = env.setUnknown;
  const setUnknown = { has: (n: string) => (own.has(n) ? own.get(n) === undefined : (baseUnknown?.has(n) ?? false)) };
  const why = new Map<string, string>();
  for (const s of shell) {
    own.set(s.name, s.value);
    if (s.value === undefined) why.set(s.name, `${s.why} (${at.replace(/:\d+$/, '')}:${s.line})`);
  }
  const names = shell.map((s) => s.name).join(', ');
  return {
    key: `${key}\0sh:${shell.map((s) => `${s.name}=${s.value ?? `?${s.line}`}`).join('\0')}`,
    env: {
      vars,
      from: `${env.from}; ${names} exported by the shell ${at} runs it in`,
      setUnknown,
      why: (unresolved) => [env.why(unresolved.filter((u) => !why.has(u) && !shell.some((s) => s.name === u))), ...[...new Set(unresolved)].filter((u) => why.has(u)).map((u) => why.get(u)!)].filter(Boolean).join('; '),
    },
  };
}

/** The repository of an interpolated image whose variables are all in its tag (`rancher/k3s:${V}`), else undefined. */
function knownRepository(value: string): string | undefined {
  const slash = value.lastIndexOf('/');
  const colon = value.indexOf(':', slash + 1);
  const repo = colon > 0 ? value.slice(0, colon) : '';
  return repo !== '' && !repo.includes('$') ? repo : undefined;
}

/**
 * A workload's `image: ${REGISTRY}/app:1.2` is pulled as Flux's kustomize-controller substitutes
 * it (`spec.postBuild.substitute` of a Flux Kustomization, and the `data` of the ConfigMaps its
 * `substituteFrom` names, when the scan holds them; `${VAR:=default}`/`${VAR:-default}` defaults).
 * A variable set to different values by several Kustomizations of the scan is one reference for
 * each value; one set nowhere in the scan leaves the reference as written (or, only the tag
 * unknown, its repository), the note naming it. Without this such an image was no finding at all.
 */
function applyFluxSubstitutes(subs: FluxSubstitutions, references: Reference[]): void {
  const more: Reference[] = [];
  for (const r of references) {
    if (r.fluxVars === undefined) continue;
    const written = r.fluxVars;
    delete r.fluxVars;
    subs.ways(r.file, written).forEach((w, i) => {
      const x = i === 0 ? r : { ...r };
      const { value, unresolved } = w;
      if (!unresolved.length && !w.unknown.length) {
        x.value = value;
        x.provenance = `${r.file}:${r.line} ${written}, pulled as ${value} (Flux substitutes ${w.by.join(', ') || 'the defaults written'})`;
      } else {
        // The written value with the unreadable variables left in: only the repository, or nothing, is known.
        const repo = knownRepository(w.shown);
        const tagOnly = repo !== undefined;
        x.value = repo ?? w.shown;
        x.provenance = `${r.file}:${r.line} ${written}: ${fluxUnknownWhy(w)}${tagOnly ? `; pulled from ${repo} with a tag the scan does not know` : ''}: ${w.unknown.length ? 'check what it is set to where it is applied' : 'scan the Kustomization and ConfigMap that set it'}`;
      }
      if (i > 0) more.push(x);
    });
  }
  references.push(...more);
}

/**
 * Each Flux HelmRelease tied to the HelmRepository it names (`spec.chart.spec.sourceRef`: name, and
 * namespace, the release's own when not written), found anywhere in the scan: the repository's URL
 * reference again, at the release, with its chart and version, so the audit can say when the
 * version is not on the mirror. Flux resolves a sourceRef within one namespace; a repository or
 * release whose namespace is not written (set by a kustomization) matches by name alone.
 */
function applyHelmReleases(releases: FluxRelease[], references: Reference[]): void {
  if (!releases.length) return;
  const repos = new Map<string, Reference[]>();
  for (const r of references) {
    const s = r.chartSource;
    if (s?.kind !== 'HelmRepository' || s.name === undefined) continue;
    let list = repos.get(s.name);
    if (!list) repos.set(s.name, (list = []));
    list.push(r);
  }
  for (const rel of releases) {
    for (const r of repos.get(rel.sourceName) ?? []) {
      const s = r.chartSource!;
      if (s.namespace !== undefined && rel.sourceNamespace !== undefined && s.namespace !== rel.sourceNamespace) continue;
      references.push({
        file: rel.file,
        line: rel.line,
        keyPath: 'spec.chart.spec.chart',
        kind: r.kind,
        value: r.value,
        chartSource: { ...s, object: rel.object, chart: rel.chart, ...(rel.version !== undefined ? { version: rel.version } : {}) },
        provenance: `${rel.file}:${rel.line} ${rel.object}: chart ${rel.chart} ${rel.version ?? '(any version)'} from ${s.object} (${r.file}:${r.line})`,
        helmRelease: true,
      });
    }
  }
}

/**
 * A file a Compose service names in `env_file:` is an env file whatever its name (compose-go reads it
 * with its dotenv parser): one of the scan read as plain text (`config/app.conf`) is read again as an
 * env file (KEY=VALUE, `LICENSE_SERVER=lic.vendor.example` found by its key), its text findings
 * replaced. Only files of the scan (a name outside the scanned tree is not followed), read under the
 * same bound as any file; a file another pass reads as text (a quadlet unit, a runtime config) keeps
 * its own reading, and so does one with a format of its own (YAML, TOML, .env).
 */
async function readComposeEnvFiles(named: readonly ComposeEnvFileRef[], scanned: ReadonlyMap<string, string>, cwd: string, out: { files: ScannedFile[]; references: Reference[]; settings: Setting[]; skipped: SkippedFile[] }, opts: ScanOptions): Promise<void> {
  const byRel = new Map(out.files.map((f) => [f.file, f]));
  const again = new Map<string, ComposeEnvFileRef>();
  // The services naming each file, with their environment: (which wins over the file's values).
  const servicesOf = new Map<string, Array<ServiceEnv | undefined>>();
  for (const ref of named) {
    const rel = scanned.get(path.resolve(cwd, path.dirname(ref.from), ref.path));
    const f = rel === undefined ? undefined : byRel.get(rel);
    // A `format: raw` file of its own type keeps its env reading (values as written, quotes and all).
    if (!f || (f.type !== 'text' && (f.type !== 'env' || ref.raw)) || isQuadletUnit(f.file) || keepsText(f.file, f.type, '')) continue;
    if (!again.has(f.file)) again.set(f.file, ref);
    const list = servicesOf.get(f.file) ?? [];
    servicesOf.set(f.file, list);
    if (list.length < 256) list.push(ref.service);
  }
  if (!again.size) return;
  dropFilesOf(out.references, again);
  dropFilesOf(out.settings, again);
  for (const [rel, ref] of again) {
    const abs = path.resolve(cwd, rel);
    const buf = await readRegularFile(abs, MAX_BYTES, { follow: false });
    if (!Buffer.isBuffer(buf)) {
      out.skipped.push({ file: rel, reason: `named by ${ref.from}:${ref.line} (env_file), not read again as an env file: ${buf.reason}`, unscanned: true });
      continue;
    }
    byRel.get(rel)!.type = 'env';
    const found: Setting[] = [];
    const text = buf.toString('utf8');
    // Read as Compose reads it (compose-go's dotenv syntax), less what the services' environment: sets; `format: raw` line by line, as written.
    const entries = ref.raw ? [] : containerEnvEntries(composeEnvEntries(text), servicesOf.get(rel) ?? []);
    if (ref.raw) {
      const refs: Reference[] = [];
      scanEnv(rel, text, refs, found);
      for (const r of refs) out.references.push(detachStrings({ ...r, provenance: `${rel}:${r.line} ${r.keyPath}: an env file (${ref.from}:${ref.line} names it in env_file with format: raw)` }));
    }
    for (const { entry: e, overriddenIn } of entries) {
      const refs: Reference[] = [];
      envAssignment(rel, e.line, e.name, e.value, refs, found);
      const over = overriddenIn.length ? `; service ${overriddenIn.slice(0, 4).join(', ')} sets ${e.name} in its environment:, which wins there` : '';
      for (const r of refs) out.references.push(detachStrings({ ...r, provenance: `${rel}:${r.line} ${r.keyPath}: an env file (${ref.from}:${ref.line} names it in env_file${ref.filledFrom ? ` as ${ref.filledFrom.written}, filled in from ${ref.filledFrom.from}` : ''})${over}` }));
    }
    for (const x of found) if (!opts.keepSetting || opts.keepSetting(x)) out.settings.push(detachStrings(x));
  }
}

/** At most this many env_file names with variables are filled in in one scan (each in every way its Compose file is run). */
const MAX_ENV_FILE_NAMES = 1024;

/**
 * The env_file names of the scan's Compose files, those with a variable (`config/${STAGE}.env`)
 * filled in as Compose does (compose-go interpolates the whole file, env_file included, from the
 * project environment: the `.env`, or a command line's --env-files; never from the service's own
 * `environment:`, which is what the container gets): one name for each way the file is run. A name
 * a variable of which is unknown is one reference of unknown host at that line (which file, and so
 * which destinations its values name, is unknown), saying why. At most MAX_ENV_FILE_NAMES filled in;
 * past them, each is unknown, said so.
 */
function composeEnvFileNames(envFiles: readonly ComposeEnvFileRef[], envs: ComposeEnvs, references: Reference[]): ComposeEnvFileRef[] {
  const out: ComposeEnvFileRef[] = [];
  let filled = 0;
  for (const ref of envFiles) {
    if (!ref.templated) {
      out.push(ref);
      continue;
    }
    const { keyPath, serviceEnv } = ref.templated;
    const at = `${ref.from}:${ref.line} env_file ${ref.path}`;
    const unknown = (variable: string, why: string) => references.push({ file: ref.from, line: ref.line, keyPath, kind: 'host', value: `\${${variable}}`, provenance: `${at}: Compose reads the env file this names into the container's environment; ${why}: which file, and the destinations its values name, are unknown here` });
    if (filled >= MAX_ENV_FILE_NAMES) {
      unknown([...ref.path.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)][0]?.[1] ?? 'VAR', `not filled in: the scan filled in ${MAX_ENV_FILE_NAMES} env_file names already (the most it does)`);
      continue;
    }
    filled++;
    for (const env of envs.ways(ref.from)) {
      const { value, unresolved, tooLong } = interpolateWith(ref.path, env);
      if (tooLong) unknown('VAR', `filled in (${env.from}) it is longer than ${MAX_INTERPOLATED} characters`);
      else if (unresolved.length) {
        const own = unresolved.filter((u) => serviceEnv.includes(u));
        const why = [own.length ? `${own.map((u) => `\${${u}}`).join(', ')} set only in the service's environment:, which Compose does not fill the file's own text from (only the project environment)` : '', env.opaque ?? env.why(unresolved.filter((u) => !own.includes(u)))].filter(Boolean).join('; ');
        unknown(unresolved[0], why);
      } else out.push({ ...ref, path: value, templated: undefined, filledFrom: { written: ref.path, from: env.from } });
    }
  }
  return out;
}

/** At most this many env files named in `env_file:` are read again for the variables in their values. */
const MAX_ENV_FILES_INTERPOLATED = 1024;

/**
 * The values of a file a Compose service names in `env_file:`, as Compose reads them
 * (compose-go types/project.go WithServicesEnvironmentResolved): interpolated with the project's
 * environment (the Compose file's `.env`), so `API_URL=https://${API_HOST}/v1` is read again as
 * applyVarScalars fills it in from there; with `format: raw` (docker compose's raw reader, docker
 * run's `--env-file`) Compose passes each value as written and fills nothing in, said so. Only
 * files of the scan, at most MAX_ENV_FILES_INTERPOLATED, each read under the scan's bounds (a file's,
 * and all together the scan's total); one past them keeps its values as written.
 */
async function composeEnvFileValues(named: readonly ComposeEnvFileRef[], scanned: ReadonlyMap<string, string>, cwd: string, references: Reference[], varScalars: VarScalar[]): Promise<void> {
  const seen = new Set<string>();
  const raw = new Map<string, ComposeEnvFileRef>();
  // Each file read once (one env file several Compose files name is interpolated for each), at
  // most what one scan reads in all; undefined: not readable.
  const entriesOf = new Map<string, ReturnType<typeof composeEnvEntries> | undefined>();
  let budget = MAX_TOTAL_BYTES;
  for (const ref of named) {
    const rel = scanned.get(path.resolve(cwd, path.dirname(ref.from), ref.path));
    // One reading per file, Compose file and service environment (services without one share it).
    const key = `${rel}\0${ref.from}\0${ref.raw ? 1 : 0}\0${ref.service?.name ?? ''}`;
    if (rel === undefined || seen.has(key) || seen.size >= MAX_ENV_FILES_INTERPOLATED) continue;
    seen.add(key);
    if (ref.raw) {
      if (!raw.has(rel)) raw.set(rel, ref);
      continue;
    }
    if (!entriesOf.has(rel)) {
      if (budget <= 0) break;
      const buf = await readRegularFile(path.resolve(cwd, rel), Math.min(MAX_BYTES, budget), { follow: false });
      if (Buffer.isBuffer(buf)) budget -= buf.length;
      entriesOf.set(rel, Buffer.isBuffer(buf) ? composeEnvEntries(buf.toString('utf8')) : undefined);
    }
    for (const e of entriesOf.get(rel) ?? []) {
      // A single-quoted value is taken as written (compose-go's dotenv parser); a name the service's environment: sets is not the container's.
      if (e.quote === "'" || !e.value.includes('$') || varScalars.length >= MAX_VAR_SCALARS || ref.service?.env.get(e.name) !== undefined) continue;
      const lastLine = e.line + (e.value.match(/\n/g)?.length ?? 0);
      varScalars.push({ file: rel, line: e.line, lastLine, keyPath: e.name, written: e.value, imageCtx: /IMAGE/i.test(e.name), key: e.name, literal: false, how: 'compose', composeFile: ref.from, ...(ref.service ? { service: ref.service } : {}) });
    }
  }
  for (const r of references) {
    const ref = raw.get(r.file);
    if (ref && r.value.includes('$')) r.provenance ??= `${r.file}:${r.line} ${r.keyPath ?? ''}: ${ref.from}:${ref.line} names this file in env_file with format: raw, so Compose passes its values as written and fills in none of their variables: the program reads the text itself`;
  }
}

/** Removes, in place, what `list` holds of the files `files` names (read again after the scan). */
function dropFilesOf<T extends { file: string }>(list: T[], files: { has(file: string): boolean }): void {
  let j = 0;
  for (const x of list) if (!files.has(x.file)) list[j++] = x;
  list.length = j;
}

/** A file's references, each (line, kind, value, key path) once, as copies of the file's strings. */
function pushDistinct(refs: readonly Reference[], references: Reference[]): void {
  const seen = new Set<string>();
  for (const r of refs) {
    const k = `${r.line} ${r.kind} ${r.value} ${r.keyPath ?? ''}`;
    if (seen.has(k)) continue;
    seen.add(k);
    references.push(detachStrings(r));
  }
}

/** A plain text file whose scan waits for the include contexts: where to read it again and what was read the first time. */
interface DeferredText {
  rel: string;
  abs: string;
  follow: boolean;
  /** The text when the scan keeps it anyway (ScannedFile.text); otherwise read again, checked by length and digest. */
  text?: string;
  bytes: number;
  digest: Buffer;
}

/**
 * The plain text files, each scanned once after the loop: any may be a web server configuration
 * that another includes (nginx `include`, Apache `Include`, Caddy `import`), and what it uses (a
 * map, an upstream group, a Define, a snippet) may be defined in a file read later. The contexts
 * come from every file's facts (audit/web-includes.ts), then each file is read with its own. A text
 * the scan does not keep is read again, one at a time (nothing held across the loop); a file that
 * changed since the first read is listed, not scanned, since its facts were taken from the other
 * version.
 */
async function scanDeferredTexts(deferred: readonly DeferredText[], facts: ReadonlyMap<string, WebFacts>, scanned: readonly string[], into: { references: Reference[]; settings: Setting[]; skipped: SkippedFile[]; notes: SkippedFile[]; grafana: GrafanaCollected; webCm: WebConfigCollected }, opts: ScanOptions): Promise<void> {
  // An include cycle, a nesting or count bound: what the files past it define is unknown, so each fails --fail-on as a Caddy stop does.
  const { contexts, problems } = webContexts(facts, scanned);
  for (const p of problems) into.notes.push({ ...p, unscanned: true });
  for (const d of deferred) {
    let text = d.text;
    if (text === undefined) {
      const buf = await readRegularFile(d.abs, MAX_BYTES, { follow: d.follow });
      if (!Buffer.isBuffer(buf) || buf.length !== d.bytes || !createHash('sha256').update(buf).digest().equals(d.digest)) {
        into.skipped.push({ file: d.rel, reason: `changed while the audit read it (read a second time to scan it with the files its configuration includes: ${Buffer.isBuffer(buf) ? 'other bytes' : buf.reason}), not scanned: audit it again when nothing writes it`, unscanned: true });
        continue;
      }
      text = buf.toString('utf8');
    }
    const refs: Reference[] = [];
    const found: Setting[] = [];
    // A systemd unit's environment and command lines are read with its drop-ins (audit/systemd.ts); the rest here.
    const body = isSystemdUnit(d.rel) ? systemdUnitOf(d.rel, text).rest : text;
    scanFileText(d.rel, 'text', body, refs, found, { web: contexts.get(d.rel), grafana: into.grafana, webCm: into.webCm, notes: into.notes });
    noteTextParsed(d.bytes);
    for (const x of found) if (!opts.keepSetting || opts.keepSetting(x)) into.settings.push(detachStrings(x));
    pushDistinct(refs, into.references);
  }
}

export async function scanPaths(inputs: string[], cwd: string = process.cwd(), opts: ScanOptions = {}): Promise<ScanResult & { skipped: SkippedFile[] }> {
  const roots = await Promise.all(inputs.map((p) => realpath(path.resolve(cwd, p)).catch(() => path.resolve(cwd, p))));
  const maxPaths = opts.maxPaths ?? MAX_SCAN_PATHS;
  const w: Walk = { files: [], skipped: [], roots, maxPaths, budget: maxPaths };
  const explicit = new Set<string>();
  for (const p of inputs) {
    const abs = path.resolve(cwd, p);
    if (w.budget <= 0) {
      stopAt(w, abs);
      continue;
    }
    w.budget--;
    const before = w.files.length;
    await walk(abs, w, true);
    if (w.files.length === before + 1 && w.files[before] === abs) explicit.add(abs);
  }
  const unique = [...new Set(w.files)].sort();
  const files: ScannedFile[] = [];
  const references: Reference[] = [];
  const settings: Setting[] = [];
  const relOf = (abs: string) => path.relative(cwd, abs).split(path.sep).join('/') || path.basename(abs);
  const skipped: SkippedFile[] = w.skipped.map((x) => ({ ...x, file: relOf(x.file) }));
  let budget = MAX_TOTAL_BYTES;
  const releases: FluxRelease[] = [];
  const helmCharts: ScannedHelmChart[] = [];
  const varScalars: VarScalar[] = [];
  const envFiles: ComposeEnvFileRef[] = [];
  const builds: ComposeBuild[] = [];
  const gitops: GitOpsCollected = { releases: [], sources: [], bytes: 0, dropped: 0 };
  const grafana = newGrafanaCollected();
  const webCm: WebConfigCollected = { keys: [], mounts: [] };
  const webFacts = new Map<string, WebFacts>();
  const plainTexts: string[] = [];
  const deferred: DeferredText[] = [];
  const units: SystemdUnitFile[] = [];
  // What a reader stopped on inside a file it read (a Caddy import cycle, a paste or nesting bound): listed, failing --fail-on.
  const notes: SkippedFile[] = [];
  for (const abs of unique) {
    const rel = relOf(abs);
    const limit = Math.min(MAX_BYTES, budget);
    const buf = await readRegularFile(abs, limit, { follow: explicit.has(abs) });
    if (!Buffer.isBuffer(buf)) {
      const reason =
        buf.why !== 'too-large'
          ? buf.why === 'link'
            ? 'became a symbolic link while scanning, not followed'
            : buf.reason
          : limit < MAX_BYTES
            ? `not read: the scan already holds ${MIB(MAX_TOTAL_BYTES - budget)} of text, its bound is ${MIB(MAX_TOTAL_BYTES)} (audit fewer files at once)`
            : `${buf.reason}: larger than the ${MIB(MAX_BYTES)} a scanned file may have, not read`;
      skipped.push({ file: rel, reason, unscanned: buf.why !== 'special' && buf.why !== 'directory' });
      continue;
    }
    if (buf.includes(0)) {
      skipped.push({ file: rel, reason: 'binary (holds NUL bytes), not scanned', unscanned: false });
      continue;
    }
    budget -= buf.length;
    const text = buf.toString('utf8');
    const type = fileTypeOf(abs);
    // YAML (and JSON, read by the same parser) denser than the yaml library parses in bounded
    // memory (~1 KiB per token): listed as not scanned, so `--fail-on` still fails on it.
    if ((type === 'yaml' || type === 'json') && yamlTokensOver(text, CONFIG_YAML_TOKENS)) {
      skipped.push({ file: rel, reason: `more than ${CONFIG_YAML_TOKENS.toLocaleString('en-US')} YAML tokens (list items, keys, flow commas, lines), more than ferry parses (about 1 KiB of memory each); not scanned`, unscanned: true });
      continue;
    }
    // Without textPatterns (a caller that runs its own checks), every text is kept, as before.
    if (!opts.textPatterns || keepsText(rel, type, text) || opts.keepText?.(rel, type)) files.push({ file: rel, type, text });
    else files.push({ file: rel, type, ...(opts.textPatterns ? { firstLines: firstLinesOf(text, opts.textPatterns) } : {}) });
    // A systemd unit's environment and command lines are read after the scan, with its drop-ins and environment files (audit/systemd.ts); the rest line by line.
    if (type === 'text' && isSystemdUnit(rel)) {
      const unit = systemdUnitOf(rel, text);
      units.push(detachStrings({ file: unit.file, entries: unit.entries, rest: '' }));
    }
    // A plain text file: its web server facts now, its scan once every file's are known (scanDeferredTexts).
    if (type === 'text' && !isQuadletUnit(rel)) {
      const facts = webFactsOf(text, rel);
      if (facts) webFacts.set(rel, detachStrings(facts, 6));
      plainTexts.push(rel);
      const kept = files[files.length - 1].text;
      deferred.push({ rel, abs, follow: explicit.has(abs), bytes: buf.length, digest: createHash('sha256').update(buf).digest(), ...(kept !== undefined ? { text: kept } : {}) });
      continue;
    }
    const refs: Reference[] = [];
    const found: Setting[] = [];
    const [releasesBefore, chartsBefore, buildsBefore] = [releases.length, helmCharts.length, builds.length];
    const problem = scanFileText(rel, type, text, refs, found, { releases, helmCharts, varScalars, envFiles, builds, gitops, grafana, webCm, notes });
    noteTextParsed(buf.length);
    // What is kept of a file whose text is not: copies of its strings, never views into the text.
    for (let i = releasesBefore; i < releases.length; i++) detachStrings(releases[i]);
    for (let i = chartsBefore; i < helmCharts.length; i++) detachStrings(helmCharts[i]);
    for (let i = buildsBefore; i < builds.length; i++) detachStrings(builds[i]);
    for (const x of found) if (!opts.keepSetting || opts.keepSetting(x)) settings.push(detachStrings(x));
    // Not "unscanned": every line was read for URLs, hosts and images, only key paths are unknown.
    if (problem !== undefined) skipped.push({ file: rel, reason: detached(`not valid ${type === 'json' ? 'JSON' : 'YAML'} (${problem}): read line by line as text (a Helm template, JSON with comments), without key paths`), unscanned: false });
    pushDistinct(refs, references);
  }
  // The plain text files, each with what the files its web server configuration joins define (nginx include, Apache Include, Caddy import).
  await scanDeferredTexts(deferred, webFacts, plainTexts, { references, settings, skipped, notes, grafana, webCm }, opts);
  // ConfigMap keys a container mounts as nginx.conf, a Caddyfile…: read as that file (audit/web-configmaps.ts).
  applyWebConfigMounts(webCm, files, references, settings, notes);
  // Each stop said once, whichever readers met it (a ConfigMap key read again as the file it is mounted as).
  const noted = new Set<string>();
  for (const x of notes) {
    if (noted.has(x.reason)) continue;
    noted.add(x.reason);
    skipped.push(detachStrings(x));
  }
  // The project environment of each Compose file first: it fills in the env_file names with variables.
  const dotenvs = new ComposeEnvs(files);
  const runs = await composeRuns(files, new Set(unique.map(relOf)), cwd, dotenvs);
  const composeEnvs = runs.length ? new ComposeEnvs(files, runs) : dotenvs;
  if (envFiles.length) {
    const scanned = new Map(unique.map((a) => [a, relOf(a)]));
    const named = composeEnvFileNames(envFiles, composeEnvs, references);
    await readComposeEnvFiles(named, scanned, cwd, { files, references, settings, skipped }, opts);
    await composeEnvFileValues(named, scanned, cwd, references, varScalars);
  }
  if (units.length) {
    const sd = await applySystemdUnits(units, new Set(unique.map(relOf)), cwd, envAssignment);
    dropFilesOf(references, sd.reread);
    dropFilesOf(settings, sd.reread);
    for (const x of sd.settings) if (!opts.keepSetting || opts.keepSetting(x)) settings.push(detachStrings(x));
    for (const r of sd.references) references.push(detachStrings(r));
    skipped.push(...sd.notes);
  }
  // A project `.env`'s own values with variables (`SITEURL=https://${DOMAIN}`, DOMAIN set above): read as Compose reads them.
  for (const f of files) {
    if (f.type !== 'env' || path.posix.basename(f.file) !== '.env' || f.text === undefined || !f.text.includes('$')) continue;
    for (const e of composeEnvEntries(f.text)) {
      if (e.quote === "'" || !e.value.includes('$') || varScalars.length >= MAX_VAR_SCALARS) continue;
      varScalars.push({ file: f.file, line: e.line, lastLine: e.line + (e.value.match(/\n/g)?.length ?? 0), keyPath: e.name, written: e.value, imageCtx: /IMAGE/i.test(e.name), key: e.name, literal: false, how: 'compose' });
    }
  }
  applyComposeVars(composeEnvs, references);
  // The Dockerfiles Compose services build: their FROM filled in with each build's args (audit/dockerfile.ts).
  skipped.push(...(await applyComposeBuilds(builds, composeEnvs, new Set(unique.map(relOf)), cwd, references)));
  // A .kube unit's Yaml= is pulled by podman; then every podman pull's short name as podman resolves it.
  skipped.push(...applyQuadletKube(files, references));
  applyPodmanShortNames(files, references);
  // The kustomizations' chain, read once: Flux's variables follow what each builds, and their `images:` apply.
  const kustomizations = kustomizeScopesOf(files);
  const flux = references.some((r) => r.fluxVars !== undefined) || varScalars.some((v) => v.how === 'flux') ? new FluxSubstitutions(fluxVariablesOf(files), (f) => kustomizations.builtFrom(f)) : undefined;
  if (flux) applyFluxSubstitutes(flux, references);
  // Any other string with Compose or Flux variables, read as the tool fills it in (audit/var-scalars.ts).
  applyVarScalars(varScalars.map((v) => detachStrings(v)), references, composeEnvs, flux);
  applyKustomizeOverrides(kustomizations, references);
  applyHelmReleases(releases, references);
  // Each Grafana container with the grafana.ini it mounts; values maps and ConfigMaps no container reads alone (audit/grafana.ts).
  applyGrafana(grafana, references);
  // Ansible tasks by module, their Jinja variables from defaults/vars/group_vars (audit/ansible.ts).
  applyAnsible(files, references);
  // Terraform/OpenTofu providers, module sources and resources, their var./local. values (audit/terraform.ts).
  for (const p of applyTerraform(files, references)) skipped.push({ ...p, unscanned: false });
  for (const r of references) {
    r.value = redactUrlsIn(r.value);
    if (r.provenance) r.provenance = redactUrlsIn(r.provenance);
    if (r.chartSource) r.chartSource.repo = redactUrlsIn(r.chartSource.repo);
  }
  return { files, references, settings, helmCharts, gitopsReleases: gitops.releases, valuesSources: gitops.sources, valuesSourcesDropped: gitops.dropped, skipped: skipped.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0)) };
}
