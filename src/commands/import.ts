import { FerryError } from '../errors.js';
import { loadResolvedTarget, withRegistryClient, type ResolvedTarget } from '../manifest/resolved-target.js';
import { checkCollisions } from '../mapping/index.js';
import { createTargetNetContext, type NetContext, type NetOptions } from '../oci/context.js';
import { kindByName, kindsWithoutPlace } from '../kinds/index.js';
import type { ImportResult } from '../kinds/types.js';
import { isDescriptor, ProblemList } from '../kinds/import-checks.js';
import { checkBundlePolicy } from '../kinds/image/verify.js';
import { DEFAULT_CONCURRENCY, mapLimit } from '../net/concurrency.js';
import type { OciDescriptor } from '../oci/media-types.js';
import { parseImageReference } from '../oci/reference.js';
import { loadVerifyKey, type SignatureStatus } from '../store/bundle-sign.js';
import { checkBaseOnTarget } from './differential.js';
import { artifactLabel, LayoutWriters } from '../store/layout.js';
import { openBundleSource } from '../store/open-bundle.js';
import { ANNOTATION } from '../store/source.js';
import { RegistryPushSession } from '../oci/push-session.js';
import type { Progress } from '../ui/progress.js';
import { listed, MAX_LISTED, verifyBundle } from './bundle-verify.js';
import { bundleFrom, pathFrom } from './inputs.js';

export interface ImportOptions extends NetOptions {
  /** Mirror target YAML. */
  target: string;
  /** A public key: the bundle must carry a signature it verifies. */
  key?: string;
  concurrency?: number;
  progress: Progress;
  cwd?: string;
}

export interface ImportReport {
  bundle: string;
  target: string;
  verified: { files: number; bytes: number; signature: SignatureStatus; imageSignatures: number; imageSignatureNotes: string[] };
  results: ImportResult[];
  pushed: number;
  skipped: number;
  bytesSent: number;
  warnings: string[];
}

/**
 * The mirror target, resolved once, with the client for its registry (its CA, its plain-HTTP
 * rule) when it has one. Close `net` when done.
 */
export function connectTarget(target: ResolvedTarget, opts: NetOptions): { target: ResolvedTarget; net?: NetContext } {
  const reg = target.registry;
  if (!reg) return { target };
  const net = createTargetNetContext({ registry: { url: reg.url, ca: reg.ca, insecure: reg.insecure } }, target.dir, opts);
  return { target: withRegistryClient(target, net?.registry), net };
}

/**
 * `ferry import`, in three passes, so a hostile or damaged bundle is refused before anything is
 * written anywhere:
 *  1. validation (cheap, reads only small metadata): the format version, index.json, every
 *     entry's kind, the target facets and keys it needs, and every name and path each kind will
 *     write — all problems collected, each with its artifact, and reported at once;
 *  2. the full re-hash of every byte (verifyBundle);
 *  3. import: each top-level entry to its kind. Each kind skips what the target already has,
 *     so a rerun after an interruption completes without resending.
 */
export async function importBundle(bundle: string, opts: ImportOptions): Promise<ImportReport> {
  const cwd = opts.cwd ?? process.cwd();
  const at = (p: string) => pathFrom(cwd, p);
  bundle = bundleFrom(cwd, bundle);
  const resolved = await loadResolvedTarget(at(opts.target));
  const key = opts.key ? await loadVerifyKey(at(opts.key)) : undefined;
  const checkTask = opts.progress.start('check', 0);
  let tops: OciDescriptor[];
  try {
    tops = await validateBundleImport(bundle, resolved);
  } finally {
    checkTask.finish();
  }
  const verifyTask = opts.progress.start('verify', 0);
  const verified = await verifyBundle(bundle, { onProgress: (n) => verifyTask.advance(n), key });
  // Said once, by the result (`verified N files …`), not also here as `verify: verified`.
  verifyTask.finish(verified.ok ? undefined : 'FAILED');
  if (!verified.ok) {
    throw new FerryError('VERIFY', `${bundle}: bundle failed verification; nothing was imported`, {
      details: listed(verified.problems.map((p) => p.message)),
      hint: 'Copy the bundle across again (compare `sha256sum` on both sides), or recreate it.',
    });
  }
  const policySource = await openBundleSource(bundle);
  const imageSignatureNotes: string[] = [];
  const signaturesVerified = await checkBundlePolicy(policySource, imageSignatureNotes).finally(() => policySource.close());

  const source = await openBundleSource(bundle);
  const { target, net } = connectTarget(resolved, opts);
  const results: ImportResult[] = [];
  const warnings: string[] = [];
  try {
    // A differential bundle: the target must already hold every blob it left out; one found in
    // another mirror repository (a base image's) is mounted from there by the push session.
    const mounts = await checkBaseOnTarget(bundle, source, target, target.registry?.client);
    const client = target.registry?.client;
    const push = client
      ? new RegistryPushSession(client, { openBlob: (digest, start) => source.openBlob(digest, start), progress: opts.progress, concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY })
      : undefined;
    for (const [digest, repositories] of mounts) push?.knownAt(digest, repositories);
    // A directory target's index.json is written once, after every entry's blobs are in place.
    const layouts = new LayoutWriters({ deferred: true });
    const ctx = { source, target, progress: opts.progress, concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY, registry: client, layouts, push, warnings };
    // Entries import side by side (each pushes its own blobs, manifests, then tag, in that order).
    const perEntry = await mapLimit(tops, Math.max(1, Math.ceil(ctx.concurrency / 2)), (top) => kindOf(top)!.importTo(top, ctx));
    await layouts.flush();
    results.push(...perEntry.flat());
  } finally {
    await net?.close();
    await source.close();
  }
  return {
    bundle,
    target: target.file,
    verified: { files: verified.files, bytes: verified.bytes, signature: verified.signature, imageSignatures: signaturesVerified, imageSignatureNotes },
    results,
    pushed: results.filter((r) => !r.skipped).length,
    skipped: results.filter((r) => r.skipped).length,
    bytesSent: results.reduce((a, r) => a + r.bytesSent, 0),
    warnings,
  };
}

const kindName = (top: OciDescriptor) => top.annotations?.[ANNOTATION.kind] ?? 'image';
const kindOf = (top: OciDescriptor) => kindByName(kindName(top));

/**
 * The validation pass: everything `import` would write, checked without writing. Throws one
 * FerryError listing every problem (each with its artifact); returns index.json's entries.
 */
export async function validateBundleImport(bundle: string, target: ResolvedTarget): Promise<OciDescriptor[]> {
  const source = await openBundleSource(bundle);
  const problems = new ProblemList(MAX_LISTED);
  try {
    await source.info();
    const index = await source.readIndex();
    const tops = index.manifests;
    const where = (top: OciDescriptor) => artifactLabel(top);

    for (const top of tops) {
      if (!isDescriptor(top)) problems.add(where(top), `index.json entry ${JSON.stringify(String((top as { digest?: unknown }).digest)).slice(0, 100)} is not a sha256 descriptor with a size`);
      if (!kindOf(top)) problems.add(where(top), `kind ${JSON.stringify(kindName(top))} is not one this ferry can import (use the same or a newer ferry than the one that made the bundle)`);
    }
    const missing = kindsWithoutPlace(tops.map(kindName), target.target);
    for (const k of missing) problems.add(k, `add ${kindByName(k)!.targetFacet!.add}`, 'VALIDATION');
    if (target.registry) {
      const names = tops.filter((d) => kindName(d) === 'image').map((d) => d.annotations?.[ANNOTATION.refName]).filter((n): n is string => typeof n === 'string');
      await problems.check('images', () => checkCollisions(names.filter((n) => isImageReference(n)), target.registry!.mapping));
    }
    for (const top of tops) {
      const kind = kindOf(top);
      if (!kind?.validateImport || missing.includes(kind.name)) continue;
      for (const p of await kind.validateImport(top, source, target)) problems.add(p.artifact, p.message, p.code);
    }
    if (problems.count) {
      const n = problems.count;
      // The bundle's fault (crafted or damaged) is a verification failure; the target's, a validation one.
      const code = problems.bundleAtFault ? 'VERIFY' : problems.items[0].code;
      const headline = missing.length
        ? `${target.file}: the target has no place for the bundle's ${missing.map((k) => kindByName(k)!.targetFacet!.noun).join(', ')}; nothing was imported`
        : `${bundle}: ${n} problem${n > 1 ? 's' : ''} found before anything was written; nothing was imported`;
      throw new FerryError(code, headline, {
        details: [
          ...problems.items.map((p) => (p.message.startsWith(p.artifact) ? p.message : `${p.artifact}: ${p.message}`)),
          ...(n > problems.items.length ? [`… and ${n - problems.items.length} more`] : []),
        ],
        hint: 'The bundle names something this target cannot take, or was crafted or damaged. Fix the target, or re-create the bundle on the connected side.',
      });
    }
    return tops;
  } finally {
    await source.close();
  }
}

function isImageReference(s: string): boolean {
  try {
    parseImageReference(s);
    return true;
  } catch {
    return false;
  }
}
