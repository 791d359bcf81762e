/**
 * The one rule for "this key holds an image", shared by chart discovery, `rewrite values` and
 * `audit`. Charts write images under many keys: `image`, `img`, `initImage`, `sidecarImage`,
 * `init_image`, `busyboxImage`, and lists under `images`, `extraImages`, `initContainerImages`.
 * A key that ends in "image" (any case) holds one image; one that ends in "images" holds a list
 * of them. What such a key holds still has to look like a reference: the rule says where to
 * look, never that a value is an image.
 */

const SINGLE = /(^img$)|image$/i;
const LIST = /(^imgs$)|images$/i;

/** The key holds one image: a reference string or an image map ({registry, repository, tag, digest}). */
export function isImageKey(key: string): boolean {
  return SINGLE.test(key);
}

/** The key holds a list of images (`images: [a, b]`, `extraImages:`). */
export function isImageListKey(key: string): boolean {
  return LIST.test(key);
}

/** Either form: the key names images. */
export function namesImages(key: string): boolean {
  return isImageKey(key) || isImageListKey(key);
}

/** The fields of a Helm-style split image map. */
export interface ImageMapFields {
  registry?: string;
  repository?: string;
  tag?: string;
  digest?: string;
}

/**
 * A split image map as one reference string, or undefined when the map is not one: it needs a
 * repository and at least one of registry, tag or digest (a bare `repository: txt` says too
 * little), and no URL.
 */
export function imageMapReference(m: ImageMapFields): string | undefined {
  const repo = m.repository?.trim();
  if (!repo || repo.includes('://') || repo.includes('{{')) return undefined;
  if (m.registry === undefined && m.tag === undefined && m.digest === undefined) return undefined;
  const registry = m.registry?.trim();
  const tag = m.tag?.trim();
  const digest = m.digest?.trim();
  return `${registry ? `${registry}/` : ''}${repo}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
}

/**
 * A CI system's pipeline file. Their jobs name the images the runner pulls under keys the rule
 * above does not see: GitLab CI's `image: {name: …}` and `services: [docker:27-dind, {name:
 * postgres:16, alias: db}]`, GitHub Actions' `container: node:20` and `uses: docker://alpine:3.20`.
 * Tekton (`steps[].image`, `sidecars`, `stepTemplate.image`) and Argo Workflows
 * (`container.image`, `script.image`, `containerSet`) use `image:` and need nothing more.
 */
export type CiFile = 'gitlab-ci' | 'github-workflow';

const GITLAB_GLOBAL = new Set(['stages', 'include', 'default', 'variables', 'workflow', 'image', 'services', 'before_script', 'after_script', 'cache', 'spec']);

/**
 * What CI file this is, from its name and its top level (a plain object): a GitLab CI file is
 * named `*gitlab-ci*.yml` or has jobs (top-level maps with `script`, `trigger` or `extends`) and no
 * Kubernetes `kind`; a GitHub Actions workflow has `jobs` whose entries have `runs-on` or `steps`.
 */
export function ciFileKind(file: string, root: unknown): CiFile | undefined {
  if (!root || typeof root !== 'object' || Array.isArray(root)) return undefined;
  const top = root as Record<string, unknown>;
  if ('kind' in top || 'apiVersion' in top) return undefined;
  const isMapping = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  const jobs = top.jobs;
  if (isMapping(jobs) && Object.values(jobs).some((j) => isMapping(j) && ('runs-on' in j || 'steps' in j || 'uses' in j))) return 'github-workflow';
  const base = file.split(/[\\/]/).pop() ?? '';
  if (/gitlab-ci.*\.ya?ml$/i.test(base)) return 'gitlab-ci';
  if (Object.entries(top).some(([k, v]) => !GITLAB_GLOBAL.has(k) && isMapping(v) && ('script' in v || 'trigger' in v || 'extends' in v))) return 'gitlab-ci';
  return undefined;
}

/**
 * The dotted key path (`test.services[1].name`, `jobs.build.container`) of a CI file names an
 * image its runner pulls as written (a bare `node:20` is Docker Hub's). `uses: docker://…` is one
 * too, but only with that prefix (ciStepImage).
 */
export function ciImagePath(kind: CiFile, keyPath: string): boolean {
  if (kind === 'gitlab-ci') return /^[^.[\]]+\.(?:image(?:\.name)?|services\[\d+\](?:\.name)?)$/.test(keyPath) || /^(?:image(?:\.name)?|services\[\d+\](?:\.name)?)$/.test(keyPath);
  return /^jobs\.[^.[\]]+\.(?:container(?:\.image)?|services\.[^.[\]]+\.image)$/.test(keyPath);
}

/**
 * A GitHub Actions step's `uses:`: `docker://alpine:3.20` is an image the runner pulls; `owner/repo@ref`
 * (or `owner/repo/path@ref`) an action the runner downloads from github.com when the job runs;
 * `./path` is in the repository. Undefined where the key path is no step's `uses`.
 */
export function ciStepUses(keyPath: string, value: string): { image: string } | { action: string; repo: string } | undefined {
  if (!/^jobs\.[^.[\]]+\.(?:steps\[\d+\]\.)?uses$/.test(keyPath)) return undefined;
  const v = value.trim();
  if (/^docker:\/\//i.test(v)) return { image: v.slice('docker://'.length) };
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)(?:\/[^@\s]*)?@[^\s]+$/.exec(v);
  // `.` and `..` are no owner or repository GitHub allows: `../../x@v1` named "../.." to mirror
  // and audit's https://github.com/../.. (github.com itself once normalized).
  if (!m || [m[1], m[2]].some((s) => s === '.' || s === '..')) return undefined;
  return { action: v, repo: `${m[1]}/${m[2]}` };
}

/** GitLab CI's `variables:` (a value, or `{value: …, description: …}`), as strings. */
export function gitlabVariables(node: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!node || typeof node !== 'object' || Array.isArray(node)) return out;
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    const value = v && typeof v === 'object' && !Array.isArray(v) ? (v as { value?: unknown }).value : v;
    if (typeof value === 'string' || typeof value === 'number') out.set(k, String(value));
  }
  return out;
}

const jobVariables = new WeakMap<object, Map<string, ReadonlyMap<string, string>>>();

/**
 * The variables a GitLab CI job's image names see: the file's `variables:`, then the job's own
 * over them. Built once per file (`root`, its top level) and job: a pipeline with thousands of
 * image scalars (services) and a `variables:` of thousands was read whole for every scalar.
 */
export function gitlabJobVariables(root: Record<string, unknown>, job: string): ReadonlyMap<string, string> {
  let perJob = jobVariables.get(root);
  if (!perJob) jobVariables.set(root, (perJob = new Map()));
  let vars = perJob.get(job);
  if (!vars) {
    const jobNode = Object.hasOwn(root, job) ? root[job] : undefined;
    vars = new Map([...gitlabVariables(root.variables), ...gitlabVariables(jobNode && typeof jobNode === 'object' ? (jobNode as { variables?: unknown }).variables : undefined)]);
    perJob.set(job, vars);
  }
  return vars;
}
