import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { RegistryClient, RepoRef } from '../../../src/oci/client.js';
import { pushOciArtifact, pushOciArtifactBlobs, RegistryPushSession } from '../../../src/oci/push-session.js';
import { silentProgress } from '../../../src/ui/progress.js';

/** An in-process fake registry that records the order of writes and catches overlapping transfers of one digest. */
function fakeRegistry() {
  const log: string[] = [];
  const blobs = new Map<string, Set<string>>();
  const manifests = new Map<string, string>();
  let active = new Set<string>();
  let overlapped = 0;
  const tick = () => new Promise((r) => setTimeout(r, 1));
  const client = {
    async headManifest(repo: RepoRef, ref: string) {
      const d = manifests.get(`${repo.repository}:${ref}`);
      return d ? { digest: d } : undefined;
    },
    async putManifest(repo: RepoRef, ref: string) {
      log.push(`${repo.repository} manifest ${ref}`);
      manifests.set(`${repo.repository}:${ref}`, ref.startsWith('sha256:') ? ref : manifests.get(`${repo.repository}:sha256:top`) ?? 'sha256:top');
    },
    async pushBlob(repo: RepoRef, blob: { digest: string }, _open: unknown, opts: { mountFrom?: string[] }) {
      if (active.has(blob.digest)) overlapped++;
      active.add(blob.digest);
      await tick();
      active.delete(blob.digest);
      const holders = blobs.get(blob.digest) ?? new Set<string>();
      blobs.set(blob.digest, holders);
      let result: 'exists' | 'mounted' | 'uploaded' = 'uploaded';
      if (holders.has(repo.repository)) result = 'exists';
      else if (opts.mountFrom?.some((r) => holders.has(r))) result = 'mounted';
      holders.add(repo.repository);
      log.push(`${repo.repository} blob ${blob.digest} ${result}`);
      return result;
    },
  };
  return { client: client as unknown as RegistryClient, log, overlapped: () => overlapped };
}

const blob = (n: number) => ({ mediaType: 'application/octet-stream', digest: `sha256:${String(n).repeat(64).slice(0, 64)}`, size: 10 });
const top = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:top', size: 2 };

describe('RegistryPushSession', () => {
  it('blobs, then child manifests, then the top by its tag (one PUT; untagged: by digest); mounts what another repository got; one transfer per digest', async () => {
    const reg = fakeRegistry();
    const session = new RegistryPushSession(reg.client, { openBlob: async () => Readable.from([]), progress: silentProgress, concurrency: 4 });
    const shared = [blob(1), blob(2)];
    const repos: RepoRef[] = ['a', 'b', 'c'].map((r) => ({ registry: 'reg', repository: r }));
    const results = await Promise.all(
      repos.map((repo) =>
        pushOciArtifact(session, repo, { label: repo.repository, blobs: shared, children: [{ desc: { ...top, digest: 'sha256:child' }, bytes: Buffer.from('{}') }], top, topBytes: Buffer.from('{}'), tag: '1' }),
      ),
    );
    expect(reg.overlapped()).toBe(0);
    expect(results.map((r) => r.bytesSent)).toEqual([20, 0, 0]);
    const a = reg.log.filter((l) => l.startsWith('a '));
    expect(a.slice(0, 2).sort()).toEqual([`a blob ${blob(1).digest} uploaded`, `a blob ${blob(2).digest} uploaded`]);
    expect(a.slice(-2)).toEqual(['a manifest sha256:child', 'a manifest 1']);
    expect(a).not.toContain('a manifest sha256:top');
    expect(reg.log.filter((l) => l.startsWith('b blob'))).toEqual([`b blob ${blob(1).digest} mounted`, `b blob ${blob(2).digest} mounted`]);
    // A rerun finds the tag in place and sends nothing.
    expect(await pushOciArtifact(session, repos[0], { label: 'a', blobs: shared, children: [], top, topBytes: Buffer.from('{}'), tag: '1' })).toEqual({ bytesSent: 0, skipped: true });
  });

  it("import's blob pass first, then the artifact: its blobs are not asked for again, and the bytes sent are counted once, with the artifact", async () => {
    const reg = fakeRegistry();
    const session = new RegistryPushSession(reg.client, { openBlob: async () => Readable.from([]), progress: silentProgress, concurrency: 4 });
    const repo = { registry: 'reg', repository: 'a' };
    const other = { registry: 'reg', repository: 'b' };
    const art = { label: 'a', blobs: [blob(1), blob(2)], children: [], top, topBytes: Buffer.from('{}'), tag: '1' };
    expect(await pushOciArtifactBlobs(session, repo, art)).toBe(20);
    expect(await pushOciArtifactBlobs(session, other, { ...art, blobs: [blob(1)] })).toBe(0); // mounted
    const blobCalls = reg.log.filter((l) => l.includes(' blob ')).length;
    expect(session.written).toBe(3);
    expect(await pushOciArtifact(session, repo, art)).toEqual({ bytesSent: 20, skipped: false });
    // A second artifact in the same repository sharing the blobs: nothing more to count.
    expect(await pushOciArtifact(session, repo, { ...art, tag: undefined, top: { ...top, digest: 'sha256:other' } })).toEqual({ bytesSent: 0, skipped: false });
    expect(reg.log.filter((l) => l.includes(' blob ')).length).toBe(blobCalls);
    expect(reg.log.slice(-2)).toEqual(['a manifest 1', 'a manifest sha256:other']);
  });

  it('entries for one repository run one after the other', async () => {
    const session = new RegistryPushSession(fakeRegistry().client, { openBlob: async () => Readable.from([]), progress: silentProgress, concurrency: 4 });
    const repo = { registry: 'reg', repository: 'x' };
    const order: string[] = [];
    const job = (name: string) => session.withRepository(repo, async () => {
      order.push(`${name} start`);
      await new Promise((r) => setTimeout(r, 5));
      order.push(`${name} end`);
    });
    await Promise.all([job('one'), job('two')]);
    expect(order).toEqual(['one start', 'one end', 'two start', 'two end']);
  });
});
