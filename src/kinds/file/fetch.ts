import { FerryError } from '../../errors.js';
import type { OciDescriptor } from '../../oci/media-types.js';
import { ANNOTATION } from '../../store/source.js';
import { humanBytes } from '../../ui/progress.js';
import type { FetchPlan, KindContext } from '../types.js';
import { putArtifact, ROLE } from './artifact.js';
import { explainFileAuthError, fileAuthHeaders } from './auth.js';
import { downloadToStore } from './download.js';
import type { FileLock, PinnedFile } from './lock.js';

export const FILE_ARTIFACT_TYPE = 'application/vnd.ferry.file.v1';
export const SHA512_ANNOTATION = 'io.ferry.sha512';

export function baseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.split('/').filter(Boolean).pop() ?? 'file');
}

async function fetchPinned(p: PinnedFile, label: string, ctx: KindContext, headers: Record<string, string>): Promise<OciDescriptor> {
  const desc = { digest: `sha256:${p.sha256}`, size: p.size };
  if (!(await ctx.store.has(desc))) {
    const changed = (err: unknown) =>
      new FerryError('VERIFY', `${label}: ${p.url} changed since the lock (${(err as Error).message})`, {
        hint: 'Run `ferry lock` again to pin the new checksum file, then re-create the bundle.',
      });
    // The lock pinned its size: a server sending more is cut off there, not read into memory up to a generic cap.
    const bytes = await ctx.http.getBytes(p.url, { label, headers, maxBytes: p.size }).catch((err: unknown) => {
      throw err instanceof FerryError && err.code === 'VERIFY' ? changed(err) : err;
    });
    try {
      await ctx.store.putBytes(bytes, desc.digest);
    } catch (err) {
      throw changed(err);
    }
  }
  return { mediaType: 'text/plain', ...desc, annotations: { [ANNOTATION.title]: baseName(p.url), [ANNOTATION.source]: p.url } };
}

export function fileFetchPlan(entry: FileLock): FetchPlan {
  return { artifact: entry.url, bytes: entry.size ?? 0 };
}

/** Bring a pinned file (and its checksum file and signature) into the store as one OCI artifact. */
export async function fetchFile(entry: FileLock, ctx: KindContext): Promise<OciDescriptor[]> {
  try {
    return await fetchOne(entry, ctx);
  } catch (err) {
    throw explainFileAuthError(err, entry.auth);
  }
}

async function fetchOne(entry: FileLock, ctx: KindContext): Promise<OciDescriptor[]> {
  const label = `files[${entry.name}]`;
  const auth = (url: string) => fileAuthHeaders(entry.auth, entry.url, url, label);
  const plan = fileFetchPlan(entry);
  const task = ctx.progress.start(plan.artifact, plan.bytes);
  let transferred = 0;
  let got;
  try {
    got = await downloadToStore(
      ctx.store,
      ctx.http,
      entry.url,
      { size: entry.size, sha256: entry.sha256, sha512: entry.sha512 },
      {
        label,
        headers: auth(entry.url),
        deferrable: true,
        maxSize: entry.maxSize,
        onProgress: (n) => {
          transferred += n;
          task.advance(n);
        },
        onRetry: (m) => ctx.progress.log(m),
      },
    );
  } catch (err) {
    task.fail(err instanceof FerryError ? err.message : 'unexpected error');
    throw err;
  }
  task.finish(ctx.store.deferral?.get(got.digest) ? `${humanBytes(got.size)} to stream into the bundle` : transferred ? `fetched ${humanBytes(transferred)}` : 'cached');
  const layers: OciDescriptor[] = [
    {
      mediaType: 'application/octet-stream',
      digest: got.digest,
      size: got.size,
      annotations: {
        [ANNOTATION.title]: baseName(entry.url),
        [ANNOTATION.source]: entry.url,
        [ROLE]: 'file',
        ...(entry.sha512 ? { [SHA512_ANNOTATION]: entry.sha512 } : {}),
      },
    },
  ];
  if (entry.checksums) {
    const c = await fetchPinned(entry.checksums.file, label, ctx, auth(entry.checksums.file.url));
    layers.push({ ...c, annotations: { ...c.annotations, [ROLE]: 'checksums' } });
    if (entry.checksums.signature) {
      const s = await fetchPinned(entry.checksums.signature, label, ctx, auth(entry.checksums.signature.url));
      layers.push({ ...s, mediaType: 'application/pgp-signature', annotations: { ...s.annotations, [ROLE]: 'signature' } });
    }
  }
  const top = await putArtifact(ctx.store, {
    artifactType: FILE_ARTIFACT_TYPE,
    layers,
    annotations: { [ANNOTATION.kind]: 'file', [ANNOTATION.source]: entry.url, ...(entry.checksums?.signedBy ? { 'io.ferry.signed-by': entry.checksums.signedBy } : {}) },
    topAnnotations: { [ANNOTATION.kind]: 'file', [ANNOTATION.source]: entry.url, [ANNOTATION.refName]: entry.name, [ANNOTATION.title]: baseName(entry.url) },
  });
  return [top];
}
