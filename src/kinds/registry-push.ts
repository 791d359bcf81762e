import { FerryError } from '../errors.js';
import { RegistryPushSession } from '../oci/push-session.js';
import type { ImportContext } from './types.js';

export { pushArtifactParts, pushOciArtifact, pushOciArtifactBlobs, RegistryPushSession, type OciArtifactPush } from '../oci/push-session.js';

/**
 * The import's push session (mounts, one transfer per digest, per-repository order; see
 * oci/push-session.ts). The import command creates it once and passes it in ImportContext; a
 * command that did not gets one here, created on first use and kept on the context.
 */
export function pushSessionOf(ctx: ImportContext): RegistryPushSession {
  if (ctx.push) return ctx.push;
  if (!ctx.registry) throw new FerryError('INTERNAL', 'no registry client for the target');
  ctx.push = new RegistryPushSession(ctx.registry, {
    openBlob: (digest, start) => ctx.source.openBlob(digest, start),
    progress: ctx.progress,
    concurrency: ctx.concurrency,
  });
  return ctx.push;
}
