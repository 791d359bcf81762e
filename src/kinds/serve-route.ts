import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResolvedTarget } from '../manifest/resolved-target.js';
import type { OciIndex } from '../oci/media-types.js';
import type { BlobSource } from '../store/source.js';

/**
 * What a kind contributes to `ferry serve` beyond the registry: plain-HTTP trees (`/files/`,
 * `/apt/`, `/charts/`). The types live here, with the kinds, so a kind names its routes without
 * importing the server (src/serve/ implements them and imports this).
 */

/** A path prefix outside `/v2/` that a kind serves. */
export interface ServeRoute {
  /** Path prefix, starting and ending with `/`. */
  prefix: string;
  /** `rest` is the decoded path after the prefix. Answer the request (GET/HEAD); other methods never reach it. */
  handle(req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> | void;
}

/** The served blobs as routes see them: every body checked against its digest (src/serve/verified-blobs.ts). */
export interface ServedBlobs extends BlobSource {
  /** A small blob read whole: refused when larger than `maxBytes` or when it does not hash to its digest. */
  readBlob(digest: string, maxBytes?: number, label?: string): Promise<Buffer>;
  /**
   * Answer GET/HEAD with the blob (`Range` honoured), checked against its digest. Returns false,
   * having sent nothing, when the blob is damaged: the caller answers in its own format.
   */
  send(req: IncomingMessage, res: ServerResponse, digest: string, size: number, headers: Record<string, string>, label: string): Promise<boolean>;
  /** Whether the blob was found not to match its digest. */
  isDamaged(digest: string): boolean;
  /** Message for a damaged blob, for routes to answer with. */
  damaged(label: string, digest: string): string;
}

/** What a route provider gets to decide which routes a served bundle/layout needs. */
export interface ServeRouteContext {
  /** Every body a route sends from the bundle goes through this: checked against its digest. */
  source: ServedBlobs;
  index: OciIndex;
  /** The mirror target given with `--target`, if any (e.g. the APT site signing key). */
  target?: ResolvedTarget;
  /** Things a provider does not serve (damaged, unsafe names), said plainly; printed escaped by the CLI. */
  warnings: string[];
}

export type ServeRouteProvider = (ctx: ServeRouteContext) => Promise<ServeRoute[]> | ServeRoute[];
