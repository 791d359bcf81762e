import { FerryError, isFerryError } from '../../errors.js';
import { mapLimit } from '../../net/concurrency.js';
import { MT, type OciDescriptor } from '../../oci/media-types.js';
import { digestOf } from '../../store/layout.js';
import { ANNOTATION } from '../../store/source.js';
import { MAX_TAR_ENTRIES } from '../../store/tar-index.js';
import { holdYoungSync } from '../../store/young-gc.js';
import { putArtifact, ROLE, sortedRecord } from '../file/artifact.js';
import { downloadToStore } from '../file/download.js';
import { failTaskOnError, humanBytes, type ProgressTask } from '../../ui/progress.js';
import type { FetchPlan, KindContext } from '../types.js';
import { parseRelease, words } from './control.js';
import type { AptFile, AptLock, AptSuiteLock } from './lock.js';
import { mainRelease, releaseTextOf, repoUrl } from './repo.js';
import { generatedPackages } from './generated.js';
import { aptLabel, poolProblems } from './resolve.js';
import { packagesPerManifest, splitAptManifests } from './artifact.js';
import { checkSuiteConfig } from './publish.js';
import { flatDir } from './spec.js';
import { aptRepoHttp } from './auth-conf.js';

export const APT_ARTIFACT_TYPE = 'application/vnd.ferry.apt.v1';
export const APT_CONFIG_TYPE = 'application/vnd.ferry.apt.config.v1+json';
export const DEB_MEDIA_TYPE = 'application/vnd.debian.binary-package';

/** What import needs to publish a suite, kept as the artifact's config. */
export interface AptSuiteConfig {
  suite: string;
  origin?: string;
  label?: string;
  codename?: string;
  /** A flat repository's vendor `Suite:` (a dists/ suite's is `suite`). */
  flatSuite?: string;
  date?: string;
  version?: string;
  components: string[];
  architectures: string[];
  acquireByHash: boolean;
}

export interface AptConfig {
  name: string;
  url: string;
  mode: 'whole' | 'filtered';
  suites: AptSuiteConfig[];
}

async function ensurePinned(f: AptFile, base: string, label: string, ctx: KindContext): Promise<void> {
  const desc = { digest: `sha256:${f.sha256}`, size: f.size };
  if (await ctx.store.has(desc)) return;
  const bytes = await ctx.http.getBytes(repoUrl(base, f.path), { label });
  if ((await ctx.store.putBytes(bytes).then((d) => d.digest)) !== desc.digest) {
    throw new FerryError('VERIFY', `${label}: ${repoUrl(base, f.path)} changed since the lock`, {
      hint: 'The repository published new metadata; run `ferry lock` again, then re-create the bundle.',
    });
  }
}

/** An index pinned by the lock: by hash first where offered (it outlives an upstream update), then by name. */
async function fetchPinnedIndex(base: string, idx: AptFile, byHash: boolean, ctx: KindContext, label: string): Promise<void> {
  const expect = { sha256: idx.sha256, size: idx.size };
  if (await ctx.store.has({ digest: `sha256:${idx.sha256}`, size: idx.size })) return;
  if (byHash) {
    try {
      const dir = idx.path.lastIndexOf('/') + 1;
      const byHashPath = dir < idx.path.length ? `${idx.path.slice(0, dir)}by-hash/SHA256/${idx.sha256}` : idx.path;
      await downloadToStore(ctx.store, ctx.http, repoUrl(base, byHashPath), expect, { label });
      return;
    } catch (err) {
      if (!isFerryError(err, 'NOT_FOUND')) throw err;
    }
  }
  await downloadToStore(ctx.store, ctx.http, repoUrl(base, idx.path), expect, { label });
}

function layer(f: { sha256: string; size: number }, title: string, role: string, mediaType = 'application/octet-stream'): OciDescriptor {
  return { mediaType, digest: `sha256:${f.sha256}`, size: f.size, annotations: { [ANNOTATION.title]: title, [ROLE]: role } };
}

function uniqueDebs(entry: AptLock): Array<{ filename: string; sha256: string; size: number }> {
  const debs = new Map<string, { filename: string; sha256: string; size: number }>();
  for (const s of entry.suites) for (const p of s.packages) debs.set(p.filename, p);
  return [...debs.values()].sort((a, b) => (a.filename < b.filename ? -1 : 1));
}

export function aptFetchPlan(entry: AptLock): FetchPlan {
  const meta = entry.suites.flatMap((s) => [...s.release, ...s.indexes]);
  return {
    artifact: `${aptLabel(entry)} ${entry.suites.map((s) => s.suite).join(', ')}`,
    bytes: [...meta, ...uniqueDebs(entry)].reduce((n, f) => n + f.size, 0),
  };
}

/**
 * Bring one APT repository into the store as an OCI artifact: upstream metadata (kept signed
 * for a whole mirror; provenance only for a filtered one), the indexes or the filtered
 * Packages, and every .deb verified by SHA-256 and size while it streams.
 */
export async function fetchApt(entry: AptLock, ctx: KindContext): Promise<OciDescriptor[]> {
  const plan = aptFetchPlan(entry);
  const task = ctx.progress.start(plan.artifact, plan.bytes);
  // A lock made by hand, or by a ferry before it checked: one pool path, one file (see poolProblems).
  const pool = poolProblems([entry]);
  if (pool.length) {
    task.fail('not fetched');
    throw new FerryError('VERIFY', `${aptLabel(entry)}: the lock lists package files that cannot each have a place of their own in the mirror's pool`, {
      details: pool,
      hint: 'Run `ferry lock` again (it refuses such a repository, naming it); nothing of this repository was fetched.',
    });
  }
  const debs = uniqueDebs(entry);
  const got = await failTaskOnError(task, async () => fetchAptInto(entry, debs, ctx, task));
  // Packages recorded for direct packing are fetched and verified by the pack, not yet.
  const deferral = ctx.store.deferral;
  const later = deferral ? debs.filter((p) => deferral.get(`sha256:${p.sha256}`)) : [];
  const now = debs.length - later.length;
  const packages = (n: number) => `${n} package${n === 1 ? '' : 's'}`;
  task.finish(
    later.length
      ? `${now ? `${packages(now)} verified, ` : ''}${packages(later.length)} (${humanBytes(later.reduce((n, p) => n + p.size, 0))}) to stream into the bundle`
      : `${packages(debs.length)} verified, ${humanBytes(plan.bytes)}`,
  );
  return got;
}

async function fetchAptInto(entry: AptLock, list: ReturnType<typeof uniqueDebs>, repoCtx: KindContext, task: ProgressTask): Promise<OciDescriptor[]> {
  // Known before the first download: more packages than a bundle may hold entries would be
  // fetched for a bundle no reader accepts.
  if (list.length > MAX_TAR_ENTRIES) {
    throw new FerryError('VALIDATION', `${aptLabel(entry)}: ${list.length} packages, more than the ${MAX_TAR_ENTRIES} files a bundle may hold`, {
      hint: 'Split it into several apt: entries in several manifests (by component or architecture), one bundle each, or name the packages you need (packages:).',
    });
  }
  // The repository's credentials (auth:, apt's auth.conf) on its client, after the checks that need none.
  const ctx = { ...repoCtx, http: await aptRepoHttp(repoCtx.http, entry.url, entry.auth, aptLabel(entry)) };
  const layers: OciDescriptor[] = [];
  const suites: AptSuiteConfig[] = [];
  for (const s of entry.suites) {
    const label = aptLabel(entry, s.suite);
    for (const f of s.release) await ensurePinned(f, entry.url, label, ctx);
    const main = mainRelease(s.release, (f) => f.path)!;
    const rel = parseRelease(releaseTextOf(await ctx.store.readBytes(`sha256:${main.sha256}`)));
    for (const idx of s.indexes) await fetchPinnedIndex(entry.url, idx, rel.acquireByHash, ctx, `${label} ${idx.path}`);
    const f = rel.fields;
    const suiteCfg: AptSuiteConfig = {
      suite: s.suite,
      ...(f.get('origin') ? { origin: f.get('origin') } : {}),
      ...(f.get('label') ? { label: f.get('label') } : {}),
      ...(f.get('codename') ? { codename: f.get('codename') } : {}),
      ...(flatDir(s.suite) !== undefined && f.get('suite') ? { flatSuite: f.get('suite') } : {}),
      ...(f.get('date') ? { date: f.get('date') } : {}),
      ...(f.get('version') ? { version: f.get('version') } : {}),
      components: entry.components,
      architectures: entry.architectures.filter((a) => !words(f.get('architectures')).length || words(f.get('architectures')).includes(a)),
      acquireByHash: rel.acquireByHash,
    };
    // A filtered suite's Release is written from these values and signed with the site key: a
    // multi-line field of the vendor's Release is refused here, not in a bundle no import reads.
    if (entry.mode === 'filtered') checkSuiteConfig(suiteCfg, '', `${label} ${main.path} (the vendor's signed Release)`);
    suites.push(suiteCfg);
    if (entry.mode === 'whole') {
      for (const r of s.release) layers.push(layer(r, r.path, 'release'));
      for (const i of s.indexes) layers.push(layer(i, i.path, 'index'));
    } else {
      for (const r of s.release) layers.push(layer(r, `upstream/${r.path}`, 'upstream-release'));
      for (const i of s.indexes) {
        const gen = await generatedPackages(s.packages, i, ctx.store);
        const d = await ctx.store.putBytes(gen.bytes);
        const pin = s.generated?.find((g) => g.path === gen.path);
        if (s.generated && (!pin || `sha256:${pin.sha256}` !== d.digest || pin.size !== d.size)) {
          throw new FerryError('VERIFY', `${label} ${gen.path}: the Packages made from the pinned ${i.path} (${d.digest}, ${d.size} bytes) is not the one the lock pins (${pin ? `sha256:${pin.sha256}, ${pin.size} bytes` : 'none'})`, {
            hint: 'The lock was written by a ferry that makes this index differently, or edited. Run `ferry lock` again with this ferry, then create the bundle.',
          });
        }
        layers.push(layer({ sha256: d.digest.slice(7), size: d.size }, gen.path, 'generated-index', 'text/plain'));
      }
    }
  }
  task.status(`${list.length} packages`);
  await mapLimit(list, ctx.concurrency, async (p) => {
    if (await ctx.store.has({ digest: `sha256:${p.sha256}`, size: p.size })) {
      task.cached(p.size);
      return;
    }
    const url = repoUrl(entry.url, p.filename);
    const label = `${aptLabel(entry)} ${p.filename}`;
    await ctx.store.ingest({ digest: `sha256:${p.sha256}`, size: p.size }, (offset) => ctx.http.openAt(url, offset, { label }), {
      label: `${label} (${url})`,
      deferrable: true,
      small: true,
      onProgress: (n) => task.advance(n),
      onRetry: (m) => ctx.progress.log(m),
    });
  });
  // One synchronous stretch (a descriptor per package, then the manifests' JSON): with the
  // young generation held, which V8 otherwise grows to 64 MB and more when so much of what is
  // made survives, and which stays resident after (young-gc.ts).
  const packages = holdYoungSync(() => list.map((p) => layer(p, p.filename, 'package', DEB_MEDIA_TYPE)));
  const config: AptConfig = { name: entry.name, url: entry.url, mode: entry.mode, suites };
  const annotations = sortedRecord({ [ANNOTATION.kind]: 'apt', [ANNOTATION.source]: entry.url, 'io.ferry.apt.mode': entry.mode });
  const topAnnotations = sortedRecord({ [ANNOTATION.kind]: 'apt', [ANNOTATION.source]: entry.url, [ANNOTATION.refName]: entry.name, [ANNOTATION.title]: entry.name });
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDesc = { mediaType: APT_CONFIG_TYPE, digest: digestOf(configBytes), size: configBytes.length };
  const split = holdYoungSync(() => splitAptManifests({ artifactType: APT_ARTIFACT_TYPE, config: configDesc, meta: layers, packages, annotations }, packagesPerManifest()));
  if (!split) {
    // One manifest, as ferry always wrote it (same bytes, same digest).
    return [
      await putArtifact(ctx.store, {
        artifactType: APT_ARTIFACT_TYPE,
        config: { mediaType: APT_CONFIG_TYPE, bytes: configBytes },
        layers: [...layers, ...packages],
        annotations,
        topAnnotations,
      }),
    ];
  }
  // Children before the index that lists them: the store never names a blob it does not have.
  await ctx.store.putBytes(configBytes);
  for (const child of split.children) await ctx.store.putBytes(child);
  const d = await ctx.store.putBytes(split.index);
  return [{ mediaType: MT.ociIndex, digest: d.digest, size: d.size, artifactType: APT_ARTIFACT_TYPE, annotations: topAnnotations }];
}
