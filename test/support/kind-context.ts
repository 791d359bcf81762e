import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { KindContext } from '../../src/kinds/types.js';
import { HttpClient } from '../../src/net/http.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { silentProgress } from '../../src/ui/progress.js';

/** A kind context for unit tests against loopback servers: a fresh store, no retries, no registry. */
export async function loopbackKindContext(prefix: string): Promise<KindContext> {
  const store = new BlobStore(await mkdtemp(path.join(os.tmpdir(), prefix)));
  await store.init();
  return {
    manifestDir: os.tmpdir(),
    store,
    progress: silentProgress,
    concurrency: 2,
    http: new HttpClient({ retry: { retries: 0, minTimeoutMs: 1, maxTimeoutMs: 1, maxRetryAfterMs: 1 } }),
    registry: undefined as unknown as KindContext['registry'],
  };
}
