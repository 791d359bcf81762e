import { promises as dns } from 'node:dns';
import { isIP, Socket } from 'node:net';
import { flowsOf, isPlaceholder, type ConnectionModel } from './model.js';
import { portStart } from './firewall/ruleset.js';

/**
 * `ferry probe`: from the host it runs on, try DNS and a TCP connect to each external
 * destination the manifest declares, and record what happened — evidence that egress is
 * limited as declared (objective [c]/[e]). Nothing is sent after the connect.
 */
export type ConnectResult = 'reachable' | 'refused' | 'timed-out' | 'unreachable' | 'error';
export type ProbeStatus = ConnectResult | 'dns-failed' | 'skipped';

export interface ProbeTarget {
  name: string;
  host: string;
  port: number;
  /** Blocked: the manifest says this should not be needed (mitigated, blocked, disabled). */
  expected: 'blocked' | 'allowed';
  reason: string;
}

export interface ProbeRecord extends ProbeTarget {
  addresses: string[];
  status: ProbeStatus;
  detail?: string;
  /** reachable while expected blocked → egress is not limited as declared. */
  verdict: 'as-declared' | 'unexpected' | 'n/a';
}

export interface ProbeReport {
  manifest: string;
  probedAt: string;
  timeoutMs: number;
  records: ProbeRecord[];
  summary: Record<ProbeStatus, number> & { unexpected: number };
}

export interface ProbeDeps {
  lookup(host: string): Promise<string[]>;
  connect(address: string, port: number, timeoutMs: number): Promise<{ result: ConnectResult; detail?: string }>;
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
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') finish('refused', err.code);
      else if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH' || err.code === 'EACCES' || err.code === 'EPERM') finish('unreachable', err.code);
      else if (err.code === 'ETIMEDOUT') finish('timed-out', err.code);
      else finish('error', err.code ?? err.message);
    });
    socket.connect({ host: address, port });
  });
}

export const defaultProbeDeps: ProbeDeps = {
  lookup: async (host) => (await dns.lookup(host, { all: true })).map((a) => a.address),
  connect: tcpConnect,
  now: () => new Date(),
};

export function probeTargets(model: ConnectionModel, zone?: string): ProbeTarget[] {
  const out: ProbeTarget[] = [];
  const seen = new Set<string>();
  for (const f of flowsOf(model)) {
    const externalTo = model.zones.find((z) => z.name === f.to)?.external ?? true;
    if (!f.hosts.length || !externalTo || f.direction === 'inbound' || f.side === 'browser') continue;
    if (zone && f.from !== zone) continue;
    if (f.transport !== 'tcp' && f.transport !== 'tcp+udp') continue;
    const m = f.endpoint?.mitigation;
    let expected: ProbeTarget['expected'] = 'allowed';
    let reason = f.endpoint ? `mitigation ${m!.type}` : 'declared connection';
    if (f.status === 'blocked') {
      expected = 'blocked';
      reason = 'connection blocked';
    } else if (m && ['mirrored', 'preset', 'disabled'].includes(m.type)) {
      expected = 'blocked';
    }
    for (const host of f.hosts) {
      for (const p of f.ports.length ? f.ports : [443]) {
        const port = portStart(p);
        const key = `${f.name} ${host} ${port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ name: f.name, host, port, expected, reason });
      }
    }
  }
  return out.sort((a, b) => a.host.localeCompare(b.host) || a.port - b.port || a.name.localeCompare(b.name));
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

export async function probe(model: ConnectionModel, opts: { manifestFile: string; timeoutMs: number; concurrency?: number; zone?: string; deps?: ProbeDeps }): Promise<ProbeReport> {
  const deps = opts.deps ?? defaultProbeDeps;
  const targets = probeTargets(model, opts.zone);
  const records = await mapLimit(targets, opts.concurrency ?? 8, async (t): Promise<ProbeRecord> => {
    if (isPlaceholder(t.host)) return { ...t, addresses: [], status: 'skipped', detail: `${t.host} has no value in vars`, verdict: 'n/a' };
    let addresses: string[];
    if (isIP(t.host)) addresses = [t.host];
    else {
      try {
        addresses = [...new Set(await deps.lookup(t.host))].sort();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? String(err);
        return { ...t, addresses: [], status: 'dns-failed', detail: code, verdict: t.expected === 'blocked' ? 'as-declared' : 'n/a' };
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
    const status: ProbeStatus = first?.result ?? 'dns-failed';
    const verdict = status === 'reachable' ? (t.expected === 'blocked' ? 'unexpected' : 'as-declared') : t.expected === 'blocked' ? 'as-declared' : 'n/a';
    return { ...t, addresses, status, detail: first?.detail, verdict };
  });
  const statuses: ProbeStatus[] = ['reachable', 'refused', 'timed-out', 'unreachable', 'error', 'dns-failed', 'skipped'];
  const summary = Object.fromEntries(statuses.map((s) => [s, records.filter((r) => r.status === s).length])) as ProbeReport['summary'];
  summary.unexpected = records.filter((r) => r.verdict === 'unexpected').length;
  return { manifest: opts.manifestFile, probedAt: deps.now().toISOString(), timeoutMs: opts.timeoutMs, records, summary };
}
