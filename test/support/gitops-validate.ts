import { parseAllDocuments } from 'yaml';

/**
 * The GitOps objects `rewrite manifests` edits, held to the schemas their projects publish:
 * Argo CD's (`@kubernetes-models/argo-cd`, generated from Argo CD's API) and Flux's
 * (`@kubernetes-models/flux-cd`, generated from the controllers' CRDs, each version). A field
 * the schema does not define, a wrong type or a value outside its pattern or enum is an error
 * that names the document, kind and name. Objects of other API groups are not judged here
 * (Kubernetes' own have `kubernetes-models`; k3s's HelmChart has the helm-controller CRD
 * fixture).
 */
type Model = new (data: Record<string, unknown>) => { validate(): void };
type Loader = () => Promise<Record<string, unknown>>;

const modules: Record<string, Loader> = {
  'argoproj.io/v1alpha1': () => import('@kubernetes-models/argo-cd/argoproj.io/v1alpha1'),
  'helm.toolkit.fluxcd.io/v2': () => import('@kubernetes-models/flux-cd/helm.toolkit.fluxcd.io/v2'),
  'helm.toolkit.fluxcd.io/v2beta2': () => import('@kubernetes-models/flux-cd/helm.toolkit.fluxcd.io/v2beta2'),
  'helm.toolkit.fluxcd.io/v2beta1': () => import('@kubernetes-models/flux-cd/helm.toolkit.fluxcd.io/v2beta1'),
  'source.toolkit.fluxcd.io/v1': () => import('@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1'),
  'source.toolkit.fluxcd.io/v1beta2': () => import('@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1beta2'),
  'kustomize.toolkit.fluxcd.io/v1': () => import('@kubernetes-models/flux-cd/kustomize.toolkit.fluxcd.io/v1'),
};

/** The groups this module judges: an object of one of them with an unknown version or kind is an error too. */
const GROUPS = new Set(Object.keys(modules).map((k) => k.split('/')[0]));

/**
 * Every Argo CD / Flux object in the YAML text checked against its published schema; the
 * problems found (empty when all are valid), and how many objects were judged.
 */
export async function gitopsSchemaProblems(text: string, where = 'text'): Promise<{ problems: string[]; judged: number }> {
  const problems: string[] = [];
  let judged = 0;
  const docs = parseAllDocuments(text);
  for (const [i, d] of (Array.isArray(docs) ? docs : [docs]).entries()) {
    if (d.errors.length) {
      problems.push(`${where} document ${i + 1}: not YAML: ${d.errors[0].message}`);
      continue;
    }
    const o = d.toJS({ maxAliasCount: -1 }) as { apiVersion?: string; kind?: string; metadata?: { name?: string } } | null;
    if (!o || typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') continue;
    const group = o.apiVersion.split('/')[0];
    if (!GROUPS.has(group)) continue;
    const label = `${where} document ${i + 1} (${o.kind}/${o.metadata?.name ?? '?'})`;
    const load = modules[o.apiVersion];
    const Model = load ? ((await load())[o.kind] as Model | undefined) : undefined;
    if (!Model) {
      problems.push(`${label}: no published schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    judged++;
    try {
      new Model(o as Record<string, unknown>).validate();
    } catch (e) {
      problems.push(`${label}: ${(e as Error).message}`);
    }
  }
  return { problems, judged };
}

/** Every `.yaml`/`.yml` file under `dir`: the problems of all, and how many Argo CD/Flux objects were judged. */
export async function gitopsTreeProblems(dir: string): Promise<{ problems: string[]; judged: number }> {
  const { readdir, readFile } = await import('node:fs/promises');
  const path = await import('node:path');
  const out = { problems: [] as string[], judged: 0 };
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !/\.ya?ml$/.test(e.name)) continue;
    const file = path.join(e.parentPath, e.name);
    const r = await gitopsSchemaProblems(await readFile(file, 'utf8'), path.relative(dir, file));
    out.problems.push(...r.problems);
    out.judged += r.judged;
  }
  return out;
}
