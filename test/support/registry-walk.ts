import { spawn } from 'node:child_process';
import { MANIFEST_ACCEPT } from '../../src/oci/media-types.js';
import { FERRY } from './cli.js';
import type { RunningRegistry } from './registry.js';

/**
 * Every tag the registry serves, walked: its manifest, each child manifest of an index, each
 * config and layer, all present in the tag's repository. Returns the problems and the tags seen.
 */
export async function walkRegistry(reg: RunningRegistry): Promise<{ problems: string[]; tags: string[] }> {
  const problems: string[] = [];
  const tags: string[] = [];
  const repos = ((await (await fetch(`${reg.url}/v2/_catalog`)).json()) as { repositories?: string[] }).repositories ?? [];
  const manifest = async (repo: string, ref: string): Promise<{ mediaType?: string; manifests?: Array<{ digest: string }>; config?: { digest: string }; layers?: Array<{ digest: string }> } | undefined> => {
    const res = await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, { headers: { accept: MANIFEST_ACCEPT } });
    if (res.status !== 200) {
      problems.push(`${repo}:${ref}: manifest ${res.status}`);
      return undefined;
    }
    return (await res.json()) as never;
  };
  const checkManifest = async (repo: string, ref: string, m: Awaited<ReturnType<typeof manifest>>) => {
    if (!m) return;
    if (m.manifests) {
      for (const child of m.manifests) await checkManifest(repo, child.digest, await manifest(repo, child.digest));
      return;
    }
    for (const b of [...(m.config ? [m.config] : []), ...(m.layers ?? [])]) {
      const res = await fetch(`${reg.url}/v2/${repo}/blobs/${b.digest}`, { method: 'HEAD' });
      if (res.status !== 200) problems.push(`${repo}@${ref}: blob ${b.digest} ${res.status}`);
    }
  };
  for (const repo of repos) {
    const list = ((await (await fetch(`${reg.url}/v2/${repo}/tags/list`)).json()) as { tags?: string[] | null }).tags ?? [];
    for (const tag of list) {
      tags.push(`${repo}:${tag}`);
      await checkManifest(repo, tag, await manifest(repo, tag));
    }
  }
  return { problems, tags: tags.sort() };
}

/**
 * The walk once the registry has settled: killing ferry mid-PUT leaves the registry finishing that
 * request on its own, and Distribution writes a tag's directory before its `current` link, so for
 * a moment tags/list names a tag whose manifest answers 404. That is the registry's own write in
 * progress, not a tag ferry left pointing at nothing: walked again until nothing is missing (or
 * the same problems persist for 5 s, which then fail the test).
 */
export async function settledWalk(reg: RunningRegistry): Promise<Awaited<ReturnType<typeof walkRegistry>>> {
  let w = await walkRegistry(reg);
  for (let i = 0; i < 20 && w.problems.length; i++) {
    await new Promise((r) => setTimeout(r, 250));
    w = await walkRegistry(reg);
  }
  return w;
}

/** Run ferry with `env`; kill -9 it once `ready()` says so (polled), or let it finish. Says whether it was killed. */
export async function ferryKilledWhen(args: string[], env: NodeJS.ProcessEnv, ready: () => Promise<boolean>): Promise<boolean> {
  const child = spawn(process.execPath, [FERRY, ...args], { env: { ...process.env, ...env }, stdio: 'ignore' });
  let closed = false;
  const done = new Promise<void>((r) => child.once('close', () => r())).then(() => {
    closed = true;
  });
  let killed = false;
  while (!closed) {
    if (await ready()) {
      killed = child.kill('SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await done;
  return killed;
}
