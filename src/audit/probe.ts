import { promises as dns } from 'node:dns';
import { isIP, Socket, connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { bypassesProxy, proxyEnv, proxyLabel } from '../net/http.js';
import { FerryError } from '../errors.js';
import { escapeLine } from '../ui/escape.js';
import { flowsOf, isPlaceholder, type ConnectionModel } from './model.js';
import { parseProxy, portRange, portStart } from './firewall/ruleset.js';
import { portsLabel } from './inventory.js';

/**
 * `ferry probe`: from the host it runs on, try DNS and a TCP connect to each external
 * destination the manifest declares, and ask each HTTP proxy this host can use (--proxy, the
 * environment's, the manifest's own) to CONNECT there — evidence that egress is limited as
 * declared (objective [c]/[e]). Nothing is sent after the connect or the proxy's answer.
 *
 * What counts as evidence ("know, don't guess"):
 * - direct: timed-out, unreachable (ICMP reject) and dns-failed (the resolver answered that the
 *   name does not exist here) are evidence of blocking; a resolver that did not answer is error;
 *   refused (a TCP reset) is ambiguous — a host's closed port answers so too, which means the
 *   packet went out — and is evidence only with `resetMeansBlocked` (a firewall that rejects
 *   with tcp reset); error is unknown.
 * - through a proxy: 200 is reachable; any other answer is the proxy refusing (evidence),
 *   except 407 (credentials might open it: unknown); no answer in time and a proxy this host
 *   cannot connect to are evidence; an unreadable answer is unknown.
 */
export type ConnectResult = 'reachable' | 'refused' | 'timed-out' | 'unreachable' | 'error';
export type ProbeStatus = ConnectResult | 'dns-failed' | 'skipped';
/** A proxy's answer to `CONNECT host:port`; not-asked: NO_PROXY sends this host direct (environment proxies only). */
export type ProxyResult = 'reachable' | 'refused' | 'timed-out' | 'proxy-unreachable' | 'error' | 'not-asked';
/**
 * as-declared: every path tried gave evidence matching the manifest. unexpected: a destination
 * that should be blocked (or, for a proxied one, reached only through its proxy) answered
 * directly or through a proxy. proxy-refused: a proxied endpoint its declared proxy did not
 * open a tunnel to. inconclusive: some path gave no evidence (refused, 407, error).
 */
export type ProbeVerdict = 'as-declared' | 'unexpected' | 'inconclusive' | 'proxy-refused' | 'n/a';

export interface ProbeTarget {
  name: string;
  host: string;
  port: number;
  /**
   * blocked: the manifest says this should not be needed (mitigated, blocked, disabled).
   * via-proxy: a proxied endpoint, reached through `proxy` only (the firewall opens the proxy, not it).
   */
  expected: 'blocked' | 'allowed' | 'via-proxy';
  /** The declared proxy (host:port) of a via-proxy destination. */
  proxy?: string;
  reason: string;
}

export interface ProxyProbe {
  /** host:port of the proxy (never its credentials). */
  proxy: string;
  result: ProxyResult;
  /** The proxy's HTTP status, when it answered. */
  statusCode?: number;
  /** The proxy's status line, control characters escaped, at most 200 characters. */
  statusLine?: string;
  detail?: string;
}

export interface ProbeRecord extends ProbeTarget {
  addresses: string[];
  /** The direct connect's result. */
  status: ProbeStatus;
  detail?: string;
  /** One per proxy in the report's `proxies`, same order. */
  proxies: ProxyProbe[];
  verdict: ProbeVerdict;
  /** Why this verdict, in one line. */
  why: string;
}

export interface ProxyInfo {
  proxy: string;
  /** Where it came from: `--proxy`, `HTTPS_PROXY` (the variable's name), `manifest: <endpoint>`. */
  sources: string[];
  /** Credentials from its URL were sent (they are never recorded). */
  authenticated: boolean;
  /** Environment proxies are not asked for hosts NO_PROXY sends direct. */
  honoursNoProxy: boolean;
}

export interface ProbeReport {
  manifest: string;
  probedAt: string;
  timeoutMs: number;
  /** A refused direct connect counted as evidence of blocking (the firewall rejects with tcp reset). */
  resetMeansBlocked: boolean;
  proxies: ProxyInfo[];
  records: ProbeRecord[];
  /** Direct results, verdicts, and destinations reachable through at least one proxy. */
  summary: Record<ProbeStatus, number> & Record<Exclude<ProbeVerdict, 'n/a'>, number> & { reachableViaProxy: number };
  warnings: string[];
}

/** A proxy to ask: where it is, how to talk to it, and its credentials (kept out of every output). */
export interface ProxySpec {
  host: string;
  port: number;
  tls: boolean;
  source: string;
  username?: string;
  password?: string;
  /** NO_PROXY list this proxy honours (environment proxies); undefined: asked for every destination. */
  noProxy?: string;
}

export interface ProxyAnswer {
  result: Exclude<ProxyResult, 'not-asked'>;
  statusCode?: number;
  statusLine?: string;
  detail?: string;
}

export interface ProbeDeps {
  lookup(host: string): Promise<string[]>;
  connect(address: string, port: number, timeoutMs: number): Promise<{ result: ConnectResult; detail?: string }>;
  /** `CONNECT host:port` through a proxy; default the real one. */
  connectViaProxy?(proxy: ProxySpec, host: string, port: number, timeoutMs: number): Promise<ProxyAnswer>;
  now(): Date;
}

export function tcpConnect(address: string, port: number, timeoutMs: number): Promise<{ result: ConnectResult; detail?: string }> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let done = false;
    const finish = (result: ConnectResult, detail?: string) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve({ result, detail });
    };
    socket.setTimeout(timeoutMs, () => finish('timed-out', `no answer within ${timeoutMs} ms`));
    socket.once('connect', () => finish('reachable'));
    socket.once('error', (err: NodeJS.ErrnoException) => finish(...connectFailure(err)));
    socket.connect({ host: address, port });
  });
}

function connectFailure(err: NodeJS.ErrnoException): [ConnectResult, string] {
  if (err.code === 'ECONNREFUSED') return ['refused', err.code];
  if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH' || err.code === 'EACCES' || err.code === 'EPERM') return ['unreachable', err.code];
  if (err.code === 'ETIMEDOUT') return ['timed-out', err.code];
  return ['error', err.code ?? err.message];
}

/** `host:port` as it goes into a CONNECT line and a label: IPv6 in brackets. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

/** A DNS name as probe takes it (letters, digits, `-`, `_`, dots; no wildcard, space or control character). */
const PROBE_HOST = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

/** Longest proxy answer header read. */
const MAX_ANSWER = 16 * 1024;

/**
 * Ask a proxy to `CONNECT host:port` (HTTP/1.1, Basic credentials when the proxy URL has them),
 * read its status line and headers, and close: nothing is sent through a tunnel.
 */
export function proxyConnect(proxy: ProxySpec, host: string, port: number, timeoutMs: number): Promise<ProxyAnswer> {
  return new Promise((resolve) => {
    const opts = { host: proxy.host, port: proxy.port };
    const socket = proxy.tls ? tlsConnect({ ...opts, servername: isIP(proxy.host) ? undefined : proxy.host }) : netConnect(opts);
    let connected = false;
    /** TCP to the proxy is up (for an HTTPS proxy, before its TLS handshake). */
    let tcpUp = false;
    let done = false;
    let buf = Buffer.alloc(0);
    const finish = (a: ProxyAnswer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(a);
    };
    const timer = setTimeout(
      () =>
        finish(
          connected
            ? { result: 'timed-out', detail: `no answer to CONNECT within ${timeoutMs} ms` }
            : tcpUp
              ? { result: 'error', detail: `no TLS handshake with the proxy within ${timeoutMs} ms` }
              : { result: 'proxy-unreachable', detail: `no TCP answer from the proxy within ${timeoutMs} ms` },
        ),
      timeoutMs,
    );
    socket.once('connect', () => (tcpUp = true));
    socket.once(proxy.tls ? 'secureConnect' : 'connect', () => {
      connected = true;
      const target = hostPort(host, port);
      const lines = [`CONNECT ${target} HTTP/1.1`, `Host: ${target}`, 'User-Agent: ferry-probe'];
      if (proxy.username !== undefined || proxy.password !== undefined) {
        lines.push(`Proxy-Authorization: Basic ${Buffer.from(`${proxy.username ?? ''}:${proxy.password ?? ''}`).toString('base64')}`);
      }
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0 && buf.length < MAX_ANSWER) return;
      const first = buf.subarray(0, Math.min(buf.indexOf('\r\n') >= 0 ? buf.indexOf('\r\n') : buf.length, 200)).toString('latin1');
      const statusLine = escapeLine(first);
      const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(first);
      if (end < 0 || !m) return finish({ result: 'error', statusLine, detail: end < 0 ? `answer header longer than ${MAX_ANSWER} bytes` : 'not an HTTP answer' });
      const statusCode = Number(m[1]);
      finish({ result: statusCode === 200 ? 'reachable' : 'refused', statusCode, statusLine });
    });
    socket.once('end', () => finish({ result: 'error', detail: 'the proxy closed the connection without a full answer' }));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (connected) finish({ result: 'error', detail: `after connecting to the proxy: ${err.code ?? err.message}` });
      // The proxy answered TCP but its TLS failed (a certificate this host does not trust, say):
      // it is reachable from here, what it would open is unknown.
      else if (tcpUp) finish({ result: 'error', detail: `TLS with the proxy failed: ${err.code ?? err.message}` });
      else finish({ result: 'proxy-unreachable', detail: `${connectFailure(err)[0]} (${err.code ?? err.message})` });
    });
  });
}

export const defaultProbeDeps: ProbeDeps = {
  lookup: async (host) => (await dns.lookup(host, { all: true })).map((a) => a.address),
  connect: tcpConnect,
  connectViaProxy: proxyConnect,
  now: () => new Date(),
};

/**
 * A proxy URL (`http://user:pass@host:port`, `https://…`, or bare `host:port`) as a ProxySpec.
 * Errors name the proxy by host:port only: the URL may carry credentials.
 */
export function parseProxyUrl(url: string, source: string, noProxy?: string): ProxySpec {
  let u: URL;
  try {
    u = new URL(url.includes('://') ? url : `http://${url}`);
  } catch {
    throw new FerryError('USAGE', `${source}: ${proxyLabel(url)}: not a proxy URL`, { hint: 'A proxy is a URL such as http://proxy.example:3128 (user and password URL-encoded).' });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new FerryError('USAGE', `${source}: ${proxyLabel(url)}: ${u.protocol.replace(/:$/, '')} proxies are not supported`, { hint: 'probe asks HTTP proxies (http:// or https://) to CONNECT.' });
  }
  const host = u.hostname.replace(/^\[(.+)\]$/, '$1');
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return {
    host,
    port: Number(u.port) || (u.protocol === 'https:' ? 443 : 80),
    tls: u.protocol === 'https:',
    source,
    ...(u.username || u.password ? { username: dec(u.username), password: dec(u.password) } : {}),
    ...(noProxy !== undefined ? { noProxy } : {}),
  };
}

/**
 * The environment's proxies (HTTPS_PROXY/https_proxy, HTTP_PROXY/http_proxy), read exactly as
 * ferry's HTTP client reads them (net/http.ts proxyEnv, Go's order: upper case first, empty means
 * unset, no scheme means http://), each honouring NO_PROXY as written.
 */
export function environmentProxies(env: NodeJS.ProcessEnv): ProxySpec[] {
  const noProxy = proxyEnv('no_proxy', env) ?? '';
  const out: ProxySpec[] = [];
  for (const lower of ['https_proxy', 'http_proxy'] as const) {
    const upper = lower.toUpperCase();
    const value = proxyEnv(lower, env);
    if (value) out.push(parseProxyUrl(value, env[upper] ? upper : lower, noProxy));
  }
  return out;
}

function declaredProxyLabel(proxy: string | undefined): { label?: string; spec?: Omit<ProxySpec, 'source'> } {
  const p = parseProxy(proxy);
  if (!p || /@/.test(proxy ?? '')) return {};
  return { label: hostPort(p.host, p.port), spec: { host: p.host, port: p.port, tls: /^https:\/\//i.test(proxy!) } };
}

/** The declared flows probe looks at: from this zone to named hosts outside the system. */
function probedFlows(model: ConnectionModel, zone?: string) {
  return flowsOf(model).filter((f) => {
    const externalTo = model.zones.find((z) => z.name === f.to)?.external ?? true;
    if (!f.hosts.length || !externalTo || f.direction === 'inbound' || f.side === 'browser') return false;
    return !zone || f.from === zone;
  });
}

/**
 * What a probe of these flows does not test, in words: it makes TCP connects to the first port
 * of each range, so UDP (NTP, DNS's UDP half), ICMP and other IP protocols, and the rest of a
 * range, are unknown — said, never counted as reachable or blocked.
 */
export function unprobed(model: ConnectionModel, zone?: string): string[] {
  const out: string[] = [];
  for (const f of probedFlows(model, zone)) {
    const to = f.hosts.join(', ');
    if (f.transport !== 'tcp' && f.transport !== 'tcp+udp') {
      out.push(`${f.kind} ${f.name} (${portsLabel(f.ports, f.transport, f.portNote, f.icmp)} to ${to}): not probed — probe makes TCP connects only; its reachability is unknown`);
      continue;
    }
    if (f.transport === 'tcp+udp') out.push(`${f.kind} ${f.name}: its UDP half (${portsLabel(f.ports, 'udp')} to ${to}) not probed — probe makes TCP connects only; unknown`);
    const ranges = f.ports.filter((p) => typeof p === 'string' && portRange(p)[0] !== portRange(p)[1]);
    if (ranges.length) out.push(`${f.kind} ${f.name}: only the first port of ${ranges.join(', ')} probed (to ${to}); the rest of the range is unknown`);
  }
  return out;
}

export function probeTargets(model: ConnectionModel, zone?: string): ProbeTarget[] {
  const out: ProbeTarget[] = [];
  const seen = new Set<string>();
  for (const f of probedFlows(model, zone)) {
    if (f.transport !== 'tcp' && f.transport !== 'tcp+udp') continue;
    const m = f.endpoint?.mitigation;
    let expected: ProbeTarget['expected'] = 'allowed';
    let reason = f.endpoint ? `mitigation ${m!.type}` : 'declared connection';
    let proxy: string | undefined;
    if (f.status === 'blocked') {
      expected = 'blocked';
      reason = 'connection blocked';
    } else if (m && ['mirrored', 'preset', 'disabled'].includes(m.type)) {
      expected = 'blocked';
    } else if (m?.type === 'proxied') {
      expected = 'via-proxy';
      proxy = declaredProxyLabel(m.proxy).label;
      reason = `mitigation proxied via ${proxy ?? '(unparseable proxy)'}`;
    }
    for (const host of f.hosts) {
      for (const p of f.ports.length ? f.ports : [443]) {
        const port = portStart(p);
        const key = `${f.name} ${host} ${port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ name: f.name, host, port, expected, ...(proxy ? { proxy } : {}), reason });
      }
    }
  }
  return out.sort((a, b) => a.host.localeCompare(b.host) || a.port - b.port || a.name.localeCompare(b.name));
}

/**
 * Every proxy to ask, one per host:port: the given ones (--proxy, then the environment's) and
 * those the manifest's proxied endpoints name. The first with credentials lends them to the
 * others at the same host:port (a manifest cannot hold credentials).
 */
export function collectProxies(model: ConnectionModel, given: ProxySpec[]): { specs: Map<string, ProxySpec & { sources: string[] }>; warnings: string[] } {
  const specs = new Map<string, ProxySpec & { sources: string[] }>();
  const warnings: string[] = [];
  const add = (s: ProxySpec) => {
    const label = hostPort(s.host, s.port);
    const have = specs.get(label);
    if (!have) {
      specs.set(label, { ...s, sources: [s.source] });
      return;
    }
    if (!have.sources.includes(s.source)) have.sources.push(s.source);
    if (have.username === undefined && have.password === undefined && (s.username !== undefined || s.password !== undefined)) Object.assign(have, { username: s.username, password: s.password });
    // Asked for every destination when any source is not an environment proxy.
    if (s.noProxy === undefined) delete have.noProxy;
  };
  given.forEach(add);
  for (const e of [...model.endpoints].sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.mitigation.type !== 'proxied') continue;
    const { spec } = declaredProxyLabel(e.mitigation.proxy);
    if (spec) add({ ...spec, source: `manifest: ${e.name}` });
    else warnings.push(`endpoint ${e.name}: its proxy is not host:port (credentials do not belong in a manifest); not asked`);
  }
  return { specs, warnings };
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

type Evidence = 'open' | 'closed' | 'unknown' | 'none';

function directEvidence(status: ProbeStatus, resetMeansBlocked: boolean): Evidence {
  if (status === 'reachable') return 'open';
  if (status === 'timed-out' || status === 'unreachable' || status === 'dns-failed') return 'closed';
  if (status === 'refused') return resetMeansBlocked ? 'closed' : 'unknown';
  if (status === 'skipped') return 'none';
  return 'unknown';
}

function proxyEvidence(p: ProxyProbe): Evidence {
  if (p.result === 'reachable') return 'open';
  if (p.result === 'refused') return p.statusCode === 407 ? 'unknown' : 'closed';
  if (p.result === 'timed-out' || p.result === 'proxy-unreachable') return 'closed';
  if (p.result === 'not-asked') return 'none';
  return 'unknown';
}

/** DNS answers that a name does not exist (or has no address), as Node reports them. */
const DNS_NO_SUCH_NAME: ReadonlySet<string> = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN']);

const REFUSED_NOTE = "ambiguous: a host's closed port or a firewall's TCP reset";

function directText(status: ProbeStatus): string {
  return status === 'refused' ? `refused (${REFUSED_NOTE})` : status;
}

function proxyText(p: ProxyProbe): string {
  return p.statusLine ? `${p.result} (${p.statusLine})` : p.detail ? `${p.result} (${p.detail})` : p.result;
}

/** The verdict and its reason, from the direct result and each proxy's (see the top of this file). */
export function verdictOf(t: ProbeTarget, status: ProbeStatus, proxies: ProxyProbe[], resetMeansBlocked: boolean): { verdict: ProbeVerdict; why: string } {
  if (status === 'skipped') return { verdict: 'n/a', why: 'not probed: the host has no value' };
  const direct = directEvidence(status, resetMeansBlocked);
  const open = proxies.filter((p) => proxyEvidence(p) === 'open');
  const unknown = [...(direct === 'unknown' ? [`direct ${directText(status)}`] : []), ...proxies.filter((p) => proxyEvidence(p) === 'unknown').map((p) => `via ${p.proxy} ${proxyText(p)}${p.statusCode === 407 ? ' (other credentials may open it)' : ''}`)];
  const asked = proxies.filter((p) => p.result !== 'not-asked').length;
  const paths = `direct${asked ? ` and ${asked} prox${asked === 1 ? 'y' : 'ies'}` : ''}`;
  if (t.expected === 'allowed') {
    if (direct === 'open') return { verdict: 'as-declared', why: 'reachable directly' };
    if (open.length) return { verdict: 'as-declared', why: `reachable via ${open.map((p) => p.proxy).join(', ')}` };
    return { verdict: 'n/a', why: 'allowed, but not reachable from here' };
  }
  if (t.expected === 'blocked') {
    const leaks = [...(direct === 'open' ? ['directly'] : []), ...open.map((p) => `via ${p.proxy}`)];
    if (leaks.length) return { verdict: 'unexpected', why: `should be blocked, reachable ${leaks.join(', ')}` };
    if (unknown.length) return { verdict: 'inconclusive', why: `no evidence from ${unknown.join('; ')}` };
    return { verdict: 'as-declared', why: `blocked on every path tried (${paths})` };
  }
  // via-proxy: only through its own proxy.
  if (direct === 'open') return { verdict: 'unexpected', why: `reachable directly, bypassing its proxy ${t.proxy ?? ''}`.trim() };
  const own = proxies.find((p) => p.proxy === t.proxy);
  if (!own) return { verdict: 'inconclusive', why: 'its proxy is not host:port, not asked' };
  if (own.result !== 'reachable') return { verdict: 'proxy-refused', why: `its proxy ${own.proxy} did not open a tunnel: ${proxyText(own)}` };
  if (direct === 'unknown') return { verdict: 'inconclusive', why: `reachable via its proxy; no evidence the direct path is blocked: direct ${directText(status)}` };
  return { verdict: 'as-declared', why: `reachable via its proxy ${own.proxy} only, direct ${status}` };
}

export async function probe(
  model: ConnectionModel,
  opts: { manifestFile: string; timeoutMs: number; concurrency?: number; zone?: string; deps?: ProbeDeps; proxies?: ProxySpec[]; resetMeansBlocked?: boolean },
): Promise<ProbeReport> {
  const deps = opts.deps ?? defaultProbeDeps;
  const viaProxy = deps.connectViaProxy ?? proxyConnect;
  const resetMeansBlocked = opts.resetMeansBlocked ?? false;
  const targets = probeTargets(model, opts.zone);
  const { specs, warnings: proxyWarnings } = collectProxies(model, opts.proxies ?? []);
  const warnings = [...proxyWarnings, ...unprobed(model, opts.zone)];
  const proxyList = [...specs.entries()];
  const records = await mapLimit(targets, opts.concurrency ?? 8, async (t): Promise<ProbeRecord> => {
    if (isPlaceholder(t.host)) {
      const proxies = proxyList.map(([proxy]): ProxyProbe => ({ proxy, result: 'not-asked', detail: 'host has no value' }));
      return { ...t, addresses: [], status: 'skipped', detail: `${t.host} has no value in vars`, proxies, ...verdictOf(t, 'skipped', proxies, resetMeansBlocked) };
    }
    // A manifest is input like any other: a "host" with spaces or line breaks would be written
    // into the CONNECT request line (a request of its own to the proxy). Only names and addresses are asked.
    if (!isIP(t.host) && !PROBE_HOST.test(t.host)) {
      const proxies = proxyList.map(([proxy]): ProxyProbe => ({ proxy, result: 'not-asked', detail: 'not a host name' }));
      return { ...t, addresses: [], status: 'skipped', detail: `${JSON.stringify(t.host)} is not a host name or address; not probed`, proxies, ...verdictOf(t, 'skipped', proxies, resetMeansBlocked) };
    }
    const askProxies = Promise.all(
      proxyList.map(async ([proxy, spec]): Promise<ProxyProbe> => {
        if (spec.noProxy !== undefined && bypassesProxy(new URL(`https://${hostPort(t.host, t.port)}`), spec.noProxy)) return { proxy, result: 'not-asked', detail: 'NO_PROXY sends this host direct' };
        return { proxy, ...(await viaProxy(spec, t.host, t.port, opts.timeoutMs)) };
      }),
    );
    const direct = (async (): Promise<{ addresses: string[]; status: ProbeStatus; detail?: string }> => {
      let addresses: string[];
      if (isIP(t.host)) addresses = [t.host];
      else {
        try {
          addresses = [...new Set(await deps.lookup(t.host))].sort();
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? String(err);
          // The resolver said the name does not exist: this host cannot reach it by name (DNS
          // filtering, split horizon). A resolver that did not answer (EAI_AGAIN, a timeout, a
          // server failure) says nothing about egress: unknown, not evidence.
          if (DNS_NO_SUCH_NAME.has(code)) return { addresses: [], status: 'dns-failed', detail: `${code}: the name does not resolve here; no address was tried` };
          return { addresses: [], status: 'error', detail: `DNS lookup failed (${code}): the resolver gave no answer, so nothing was tried` };
        }
      }
      // The first address that answers decides; otherwise the first address's failure.
      let first: { result: ConnectResult; detail?: string } | undefined;
      for (const a of addresses) {
        const r = await deps.connect(a, t.port, opts.timeoutMs);
        first ??= r;
        if (r.result === 'reachable') {
          first = r;
          break;
        }
      }
      return { addresses, status: first?.result ?? 'dns-failed', detail: first?.detail };
    })();
    const [proxies, d] = await Promise.all([askProxies, direct]);
    const detail = d.status === 'refused' ? `${d.detail ? `${d.detail}: ` : ''}${REFUSED_NOTE}` : d.detail;
    return { ...t, addresses: d.addresses, status: d.status, ...(detail ? { detail } : {}), proxies, ...verdictOf(t, d.status, proxies, resetMeansBlocked) };
  });
  const statuses: ProbeStatus[] = ['reachable', 'refused', 'timed-out', 'unreachable', 'error', 'dns-failed', 'skipped'];
  const verdicts: Exclude<ProbeVerdict, 'n/a'>[] = ['as-declared', 'unexpected', 'inconclusive', 'proxy-refused'];
  const summary = {
    ...Object.fromEntries(statuses.map((s) => [s, records.filter((r) => r.status === s).length])),
    ...Object.fromEntries(verdicts.map((v) => [v, records.filter((r) => r.verdict === v).length])),
    reachableViaProxy: records.filter((r) => r.proxies.some((p) => p.result === 'reachable')).length,
  } as ProbeReport['summary'];
  const proxies: ProxyInfo[] = proxyList.map(([proxy, s]) => ({ proxy, sources: s.sources, authenticated: s.username !== undefined || s.password !== undefined, honoursNoProxy: s.noProxy !== undefined }));
  return { manifest: opts.manifestFile, probedAt: deps.now().toISOString(), timeoutMs: opts.timeoutMs, resetMeansBlocked, proxies, records, summary, warnings };
}
