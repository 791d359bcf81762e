import path from 'node:path';
import { buildConnectionModel } from '../audit/model.js';
import { environmentProxies, parseProxyUrl, probe, type ProbeDeps, type ProbeReport } from '../audit/probe.js';
import { FerryError } from '../errors.js';
import { loadManifest } from '../kinds/schema.js';

export interface ProbeOptions {
  /** Only destinations reached from this zone (the zone this host is in). */
  zone?: string;
  /** Connect timeout per destination (and per proxy CONNECT), in milliseconds. */
  timeoutMs: number;
  /** Destinations probed at once. */
  concurrency: number;
  /** Proxies to ask for every destination (http://user:pass@host:port). */
  proxies?: string[];
  /** Also ask the environment's proxies (HTTPS_PROXY, HTTP_PROXY, honouring NO_PROXY); default true. */
  envProxy?: boolean;
  /** The environment to read proxies from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** A refused direct connect is evidence of blocking (the firewall rejects with tcp reset). */
  resetMeansBlocked?: boolean;
  /** DNS, TCP connect, proxy CONNECT and clock (default: the real ones). */
  deps?: ProbeDeps;
  cwd?: string;
}

/**
 * `ferry probe`: from this host, DNS and a TCP connect to each declared external destination,
 * and a CONNECT through each proxy (--proxy, the environment's, the manifest's).
 */
export async function probeCommand(manifestFile: string, opts: ProbeOptions): Promise<ProbeReport> {
  // Proxy URLs are checked before anything is read: a typo is a usage error, not a silent "no proxy".
  const proxies = [...(opts.proxies ?? []).map(parseProxyOption), ...(opts.envProxy === false ? [] : environmentProxies(opts.env ?? process.env))];
  const model = buildConnectionModel(await loadManifest(path.resolve(opts.cwd ?? process.cwd(), manifestFile)));
  if (opts.zone && !model.zones.some((z) => z.name === opts.zone)) {
    throw new FerryError('USAGE', `--zone ${opts.zone}: no such zone in ${model.name}`, { hint: `Zones: ${model.zones.map((z) => z.name).join(', ')}` });
  }
  return probe(model, { manifestFile, timeoutMs: opts.timeoutMs, concurrency: opts.concurrency, zone: opts.zone, deps: opts.deps, proxies, resetMeansBlocked: opts.resetMeansBlocked });
}

/**
 * `--proxy` as typed: a URL that parses only by reading part of it as a path (`http//proxy:3128`,
 * a space in it) is a typo, not a proxy at `http:80`. Named by host:port only (it may carry a password).
 */
function parseProxyOption(value: string) {
  const spec = parseProxyUrl(value, '--proxy');
  let u: URL | undefined;
  try { u = new URL(value.includes('://') ? value : `http://${value}`); } catch { u = undefined; }
  if (/\s/.test(value) || (u && u.pathname !== '/' && u.pathname !== '')) {
    throw new FerryError('USAGE', `--proxy ${u ? `${u.hostname}${u.port ? `:${u.port}` : ''}` : ''}: not a proxy URL (it has a path or a space: ${JSON.stringify(u?.pathname ?? '')})`, { hint: 'A proxy is a URL such as http://proxy.example:3128 (user and password URL-encoded), with nothing after the port.' });
  }
  return spec;
}
