import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { ipBytes, maskedBytes } from '../../net/cidr.js';
import { FerryError } from '../../errors.js';
import { cutLastLineFrom, trimBoth, trimTrailing } from '../../ui/escape.js';
import { icmpTypeText, type IcmpMatch, type Port, type Zone } from '../../kinds/endpoint/spec.js';
import { flowsOf, isPlaceholder, type ConnectionModel, type Flow } from '../model.js';

/**
 * The format-neutral allowlist every firewall emitter renders: address sets (zones, hosts),
 * rules (allowed flows) and the flows that are deliberately not allowed, with the reason.
 * Least privilege: a wildcard destination is refused, naming the connection.
 */
export type Family = 'ipv4' | 'ipv6';

export interface AddressSet {
  /** Identifier usable in every format: lowercase, [a-z0-9_]. */
  id: string;
  kind: 'zone' | 'host';
  /** Zone title or hostname, for comments. */
  label: string;
  /** Known addresses/CIDRs (IPv4 and IPv6 mixed). Empty = placeholder to fill in. */
  cidrs: string[];
  /** Hostname this set stands for (kind host). */
  hostname?: string;
  /** The zone is "anywhere" in both families (0.0.0.0/0 and ::/0): as a source it means no restriction. */
  any: boolean;
  /** Why it is empty: zone without CIDRs, unresolved hostname, or a <var> placeholder. */
  placeholder?: string;
  /** Set when --resolve filled it in. */
  resolved?: { at: string; resolver: string };
}

/** tcp, udp, icmp (ICMP of the rule's address family), or another IP protocol: its IANA keyword (sctp, esp, gre, vrrp…) or number. */
export type RuleTransport = string;

export interface Rule {
  /** Flow names merged into this rule, in manifest order. */
  names: string[];
  refs: string[];
  purpose: string[];
  chain: 'input' | 'output' | 'forward';
  src?: AddressSet;
  dst?: AddressSet;
  /** Source and destination zone names (for security-group style emitters). */
  fromZone: string;
  toZone: string;
  transport: RuleTransport;
  ports: Port[];
  /** transport icmp: only these messages per family (an empty family: none of it); undefined: every ICMP message. */
  icmp?: IcmpMatch;
  /** Protocol label as documented (HTTPS, SMTP…), for proxies. */
  protocols: string[];
  /** The connection to a proxied endpoint's proxy (not the endpoint itself): a forward proxy leaves it out. */
  toProxy?: boolean;
}

export interface SkippedFlow {
  name: string;
  ref?: string;
  chain: Rule['chain'];
  reason: string;
  /** The rule it would be, for a commented-out line. */
  rule?: Rule;
  /** A proxied endpoint: not allowed directly, reached through this proxy (host:port), which allows it. */
  viaProxy?: string;
}

export interface Ruleset {
  system: string;
  mode: 'host' | 'gateway';
  /** host mode: the zone whose hosts run the firewall. */
  zone?: string;
  zones: Zone[];
  sets: AddressSet[];
  rules: Rule[];
  skipped: SkippedFlow[];
  resolution?: { at: string; resolver: string };
}

export interface RulesetOptions {
  /** Host perspective: rules for hosts in this zone (input/output). Default: a zone marked self, else gateway (forward). */
  zone?: string;
  /** Flow names, conditions, or bootstrap/install/optional/all: also allow these. */
  enable?: string[];
  /** Resolve hostnames into addresses (opt-in; records the time and resolver). */
  resolve?: (host: string) => Promise<string[]>;
  resolverName?: string;
  now?: () => Date;
}

export const setId = (prefix: 'zone' | 'host', name: string): string => `${prefix}_${trimBoth(name.toLowerCase().replace(/[^a-z0-9]+/g, '_'), '_')}`;

const ANY = new Set(['0.0.0.0/0', '::/0']);
const isWildcardHost = (h: string) => h === '*' || h.includes('*') || h === 'any' || ANY.has(h);

export function familyOf(cidr: string): Family {
  return cidr.includes(':') ? 'ipv6' : 'ipv4';
}

function isAddress(h: string): boolean {
  const bare = h.replace(/\/\d+$/, '');
  return isIP(bare) !== 0;
}

/**
 * Every address and name a ruleset carries is written into files another tool parses (nft sets,
 * iptables arguments, squid ACLs): one that is not exactly an address, a CIDR or a host name
 * (after `<var>` placeholders) could close a set and add a chain, or add a domain to an ACL
 * (`a.example .evil.example`, `10.0.0.0/8, 0.0.0.0/0`). Why it is none, or undefined.
 */
export function cidrProblem(c: string): string | undefined {
  const m = /^([0-9a-fA-F:.]+)(?:\/(\d{1,3}))?$/.exec(c);
  const family = m ? isIP(m[1]) : 0;
  if (!m || !family) return 'not an IP address or CIDR';
  if (m[2] !== undefined && Number(m[2]) > (family === 6 ? 128 : 32)) return `prefix length /${m[2]} is out of range for IPv${family}`;
  return undefined;
}

const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

function hostProblem(h: string): string | undefined {
  if (/^[0-9a-fA-F:.]+(?:\/\d+)?$/.test(h) && isAddress(h)) return cidrProblem(h);
  // A placeholder is filled in by hand, as a name or an address: what surrounds it must be a name.
  const name = h.replace(/<[A-Za-z_][A-Za-z0-9_-]*>/g, 'x').replace(/\.$/, '');
  if (name.length > 253 || !name.split('.').every((l) => HOST_LABEL.test(l))) return 'not a host name or IP address';
  return undefined;
}

/**
 * The CIDRs without those another of the same family already holds (a duplicate, 10.0.0.0/16
 * beside 10.0.0.0/8): nft refuses overlapping elements in an interval set ("conflicting
 * intervals"), the whole file with them. The first of equal ones is kept, the order otherwise.
 * Each is looked up at every prefix length the list uses, not compared with every other.
 */
export function withoutCovered(cidrs: string[]): string[] {
  const parsed = cidrs.map((c) => {
    const [addr, bits] = c.split('/');
    const bytes = ipBytes(addr);
    if (!bytes || cidrProblem(c)) return undefined;
    return { fam: familyOf(c), bytes, p: bits === undefined ? bytes.length * 8 : Number(bits) };
  });
  const masked = (bytes: number[], p: number) => maskedBytes(bytes, p).join('.');
  const first = new Map<string, number>();
  const lengths = new Map<string, Set<number>>();
  parsed.forEach((x, i) => {
    if (!x) return;
    const k = `${x.fam}/${x.p}/${masked(x.bytes, x.p)}`;
    if (!first.has(k)) first.set(k, i);
    if (!lengths.has(x.fam)) lengths.set(x.fam, new Set());
    lengths.get(x.fam)!.add(x.p);
  });
  return cidrs.filter((_, i) => {
    const x = parsed[i];
    if (!x) return true;
    for (const q of lengths.get(x.fam)!) {
      if (q > x.p) continue;
      const j = first.get(`${x.fam}/${q}/${masked(x.bytes, q)}`);
      if (j !== undefined && (q < x.p || j < i)) return false;
    }
    return true;
  });
}

/** Longest set id: squid's ACL names (`dst_…`, `src_…`) stay under its 64 characters, nft's set names under theirs. */
const MAX_SET_ID = 56;

/** `"<value>"` shown in a refusal: one line, control characters escaped. */
const shown = (s: string): string => JSON.stringify(s);

function enabled(f: Flow, enable: string[]): boolean {
  if (enable.includes('all') || enable.includes(f.name)) return true;
  if (f.endpoint && enable.includes(f.endpoint.name)) return true;
  if (f.lifecycle === 'bootstrap' && enable.includes('bootstrap')) return true;
  if (f.lifecycle === 'install' && enable.includes('install')) return true;
  if (f.requirement === 'optional' && enable.includes('optional')) return true;
  if (f.condition && enable.some((e) => conditionNames(f.condition!, e))) return true;
  return false;
}

const words = (s: string): string[] => s.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
/**
 * `--enable cilium` turns on a flow whose condition is "cilium CNI": the given words, whole and in
 * order, within the condition's. A fragment (`--enable a`, `--enable ca`) used to match inside any
 * word ("canal", "wireguard") and opened flows nobody named.
 */
function conditionNames(condition: string, enable: string): boolean {
  const c = words(condition);
  const e = words(enable);
  if (!e.length) return false;
  for (let i = 0; i + e.length <= c.length; i++) if (e.every((w, j) => c[i + j] === w)) return true;
  return false;
}

/** Why a flow is not allowed, or undefined when it is (the inventory's evidence asks the same, without `--enable`). */
export function skipReason(f: Flow, enable: string[]): string | undefined {
  // The manifest's status decides these: --enable does not open them (change the status there).
  if (f.status === 'blocked') return `BLOCKED in the manifest (--enable does not open it)${f.statusNote ? `: ${f.statusNote}` : ''}`;
  if (f.status === 'tbd') return `TBD in the manifest (decide it there; --enable does not open it)${f.statusNote ? `: ${f.statusNote}` : ''}`;
  if (enabled(f, enable)) return undefined;
  const m = f.endpoint?.mitigation;
  if (m && ['mirrored', 'preset', 'disabled'].includes(m.type)) {
    // The manifest declares the mitigation; this file does not know that it is in place.
    // A mirrored endpoint is checked by the scan itself (what still names it upstream); a preset or
    // disabled one only by the checks declared with it.
    const verified = f.endpoint!.checks?.length ? '`ferry audit` checks it' : m.type === 'mirrored' ? '`ferry audit` finds what still points at it' : 'no check declared, so nothing verifies it';
    return `not needed if the declared mitigation holds: ${m.type}${m.description ? ` (${m.description})` : ''}; ${verified}; --enable ${f.endpoint!.name} to allow`;
  }
  if (f.lifecycle === 'bootstrap') return `bootstrap only${f.condition ? ` (${f.condition})` : ''}; --enable bootstrap to allow`;
  if (f.lifecycle === 'install') return `install/upgrade time only; --enable install to allow`;
  if (f.requirement === 'conditional') return `only if ${f.condition ?? 'enabled'}; --enable ${f.name} to allow`;
  if (f.requirement === 'optional') return `optional${f.condition ? ` (${f.condition})` : ''}; --enable ${f.name} to allow`;
  return undefined;
}

export async function buildRuleset(model: ConnectionModel, opts: RulesetOptions = {}): Promise<Ruleset> {
  const enable = opts.enable ?? [];
  const zoneName = opts.zone ?? model.zones.find((z) => z.self)?.name;
  if (opts.zone && !model.zones.some((z) => z.name === opts.zone)) {
    throw new FerryError('USAGE', `--zone ${opts.zone}: no such zone in ${model.name}`, { hint: `Zones: ${model.zones.map((z) => z.name).join(', ')}` });
  }
  // A typo (`--enable cilum`) silently enabled nothing: the operator believed the CNI's ports open.
  const allFlows = flowsOf(model);
  const unknownEnable = enable.filter(
    (e) => !['all', 'bootstrap', 'install', 'optional'].includes(e) && !allFlows.some((f) => f.name === e || f.endpoint?.name === e || (f.condition !== undefined && conditionNames(f.condition, e))),
  );
  if (unknownEnable.length) {
    const conditions = [...new Set(allFlows.flatMap((f) => (f.condition ? [f.condition] : [])))];
    throw new FerryError('USAGE', `--enable ${unknownEnable.map(shown).join(', ')}: names no connection, endpoint or condition of ${model.name}`, {
      hint: `Give a connection or endpoint name, a word of a condition${conditions.length ? ` (${conditions.map(shown).join(', ')})` : ''}, or bootstrap, install, optional, all.`,
    });
  }
  const mode: Ruleset['mode'] = zoneName ? 'host' : 'gateway';
  const zones = new Map(model.zones.map((z) => [z.name, z]));
  const sets = new Map<string, AddressSet>();
  const at = (opts.now ?? (() => new Date()))().toISOString();
  let resolvedAny = false;

  // Values another tool would read as more than one address or name (a set closed, a domain added).
  const invalid = new Set<string>();
  // One id per zone or host name: two names that read alike once lowered and punctuation folded
  // (a.example, a-example) do not share a set, and a long name is cut to an id squid and nft take.
  const idOf = new Map<string, string>();
  const idOwner = new Map<string, string>();
  const uniqueId = (prefix: 'zone' | 'host', name: string, key: string): string => {
    const k = `${prefix}\0${key}`;
    let id = idOf.get(k);
    if (id !== undefined) return id;
    id = setId(prefix, name);
    if (id.length > MAX_SET_ID || (idOwner.has(id) && idOwner.get(id) !== k)) {
      id = `${trimTrailing(id.slice(0, MAX_SET_ID - 11), '_')}_${createHash('sha256').update(k).digest('hex').slice(0, 10)}`;
    }
    idOf.set(k, id);
    idOwner.set(id, k);
    return id;
  };
  const zoneSet = (name: string): AddressSet => {
    const id = uniqueId('zone', name, name);
    let s = sets.get(id);
    if (!s) {
      const z = zones.get(name);
      for (const c of (z?.cidrs ?? []).filter((x) => !isPlaceholder(x))) {
        const why = cidrProblem(c);
        if (why) invalid.add(`zone ${name}: CIDR ${shown(c)} is ${why}`);
      }
      const cidrs = withoutCovered((z?.cidrs ?? []).filter((c) => !isPlaceholder(c)));
      const unresolved = (z?.cidrs ?? []).filter(isPlaceholder);
      s = {
        id,
        kind: 'zone',
        label: z?.title ?? name,
        cidrs,
        // "Anywhere" only when both families are whole: a zone of 0.0.0.0/0 alone is every IPv4
        // address and no IPv6 one, so its rules keep the match (`ip saddr 0.0.0.0/0`) instead of
        // dropping it and admitting IPv6 too (in `table inet` and ip6tables).
        any: cidrs.includes('0.0.0.0/0') && cidrs.includes('::/0'),
        placeholder: cidrs.length ? undefined : unresolved.length ? `CIDRs of zone ${name}: ${unresolved.join(', ')} has no value in vars` : `CIDRs of zone ${name}, not given in the manifest`,
      };
      sets.set(id, s);
    }
    return s;
  };
  const hostSet = async (host: string, owner: string): Promise<AddressSet> => {
    // Host names are one name whatever their case or a trailing dot.
    const id = uniqueId('host', host, host.toLowerCase().replace(/\.$/, ''));
    let s = sets.get(id);
    const why = hostProblem(host);
    if (why) invalid.add(`${owner}: host ${shown(host)} is ${why}`);
    if (!s) {
      if (isAddress(host)) {
        s = { id, kind: 'host', label: host, cidrs: [host.includes('/') ? host : `${host}/${isIP(host) === 6 ? 128 : 32}`], hostname: host, any: false };
      } else if (isPlaceholder(host)) {
        s = { id, kind: 'host', label: host, cidrs: [], hostname: host, any: false, placeholder: `${host} has no value in vars` };
      } else if (opts.resolve && !why) {
        let addrs: string[] = [];
        try {
          addrs = [...new Set(await opts.resolve(host))].sort();
        } catch (err) {
          throw new FerryError('NETWORK', `resolving ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err, hint: 'Run without --resolve to keep placeholders, or fix DNS.' });
        }
        s = { id, kind: 'host', label: host, cidrs: addrs.map((a) => `${a}/${isIP(a) === 6 ? 128 : 32}`), hostname: host, any: false, resolved: { at, resolver: opts.resolverName ?? 'system resolver' } };
        resolvedAny = true;
      } else {
        s = { id, kind: 'host', label: host, cidrs: [], hostname: host, any: false, placeholder: `addresses of ${host} (resolve, or run ferry firewall --resolve)` };
      }
      sets.set(id, s);
    }
    return s;
  };

  const problems: string[] = [];
  const rules: Rule[] = [];
  const skipped: SkippedFlow[] = [];
  for (const f of allFlows) {
    if (f.direction === 'local' || f.scope === 'localhost' || f.transport === 'unix' || f.side === 'browser') continue;
    if (f.transport === 'other') {
      skipped.push({ name: f.name, ref: f.ref, chain: 'forward', reason: `transport unknown: protocol ${f.protocol} names no IP protocol ferry can match (VPN, IPsec, several protocols in one); write one connection per IP protocol with its transport (udp 500/4500 for IKE, esp, gre…)` });
      continue;
    }
    const isExternal = (zone: string) => zones.get(zone)?.external ?? true;
    // A gateway between zones never sees a flow that starts and ends outside the system (metalctl
    // on an operator's laptop → GitHub): allowing it from "any" source would let every zone out.
    if (mode === 'gateway' && isExternal(f.from) && isExternal(f.to)) {
      skipped.push({ name: f.name, ref: f.ref, chain: 'forward', reason: `outside the system: from ${f.from} to ${f.to} does not cross a gateway between zones` });
      continue;
    }
    const reason = skipReason(f, enable);
    // Destination addresses: the flow's hosts, or its destination zone.
    const wildcard = f.hosts.find(isWildcardHost) ?? (!f.hosts.length && zones.get(f.to)?.cidrs?.some((c) => ANY.has(c)) ? zones.get(f.to)!.cidrs!.find((c) => ANY.has(c)) : undefined);
    if (wildcard && !reason) {
      problems.push(`${f.kind} ${f.name}${f.ref ? ` (${f.ref})` : ''}: destination ${wildcard} is a wildcard`);
      continue;
    }
    let chains: Array<Rule['chain']>;
    if (mode === 'host') {
      if (f.to === zoneName && f.from === zoneName) chains = ['input', 'output'];
      else if (f.to === zoneName) chains = ['input'];
      else if (f.from === zoneName) chains = ['output'];
      else continue;
    } else chains = ['forward'];
    const transports: RuleTransport[] = f.transport === 'tcp+udp' ? ['tcp', 'udp'] : [f.transport];
    const dsts: AddressSet[] = wildcard ? [] : f.hosts.length ? await Promise.all(f.hosts.map((h) => hostSet(h, `${f.kind} ${f.name}`))) : [zoneSet(f.to)];
    const src = zoneSet(f.from);
    // A proxied endpoint goes out through its proxy: the packet filter opens the proxy, not the
    // endpoint (the proxy's own allowlist, squid, names the endpoint).
    const proxy = f.endpoint?.mitigation.type === 'proxied' && !reason && !enabled(f, enable) ? parseProxy(f.endpoint.mitigation.proxy) : undefined;
    if (proxy) {
      const proxySet = await hostSet(proxy.host, `${f.kind} ${f.name} (proxy)`);
      for (const chain of chains) {
        if (chain === 'input') continue;
        rules.push({ names: [f.name], refs: f.ref ? [f.ref] : [], purpose: [`proxy ${proxy.host}:${proxy.port} for ${f.hosts.join(', ') || f.to}`], chain, src: chain === 'output' || src.any ? undefined : src, dst: proxySet, fromZone: f.from, toZone: f.to, transport: 'tcp', ports: [proxy.port], protocols: ['HTTP proxy'], toProxy: true });
      }
    }
    for (const chain of chains) {
      for (const dst of dsts.length ? dsts : [undefined]) {
        for (const transport of transports) {
          const rule: Rule = {
            names: [f.name],
            refs: f.ref ? [f.ref] : [],
            purpose: [f.purpose],
            chain,
            src: chain === 'output' || src.any ? undefined : src,
            dst: chain === 'input' ? undefined : dst,
            fromZone: f.from,
            toZone: f.to,
            transport,
            ports: f.ports,
            ...(transport === 'icmp' && f.icmp ? { icmp: f.icmp } : {}),
            protocols: [f.protocol],
          };
          if (reason) skipped.push({ name: f.name, ref: f.ref, chain, reason, rule });
          else if (proxy && chain !== 'input') skipped.push({ name: f.name, ref: f.ref, chain, reason: `reached through proxy ${proxy.host}:${proxy.port} (mitigation proxied), not directly; --enable ${f.endpoint!.name} to allow it directly`, rule, viaProxy: `${proxy.host}:${proxy.port}` });
          else rules.push(rule);
        }
      }
    }
  }
  if (invalid.size) {
    throw new FerryError('VALIDATION', `${model.name}: ${invalid.size} address${invalid.size === 1 ? '' : 'es'} or host name${invalid.size === 1 ? ' is' : 's are'} not valid; ferry writes them into firewall files only as exactly one address, CIDR or name`, {
      details: [...invalid, ...problems],
      hint: 'Write a zone CIDR as 10.0.0.0/8 or fd00::/8 (one per list item) and a host as a name (registry.example.com) or an address; <var> placeholders are filled in from vars.',
    });
  }
  if (problems.length) {
    throw new FerryError('VALIDATION', `${model.name}: ${problems.length} connection${problems.length === 1 ? '' : 's'} with a wildcard destination; ferry writes least-privilege allowlists only`, {
      details: problems,
      hint: 'Name the destination hosts or CIDRs, or mark the connection status: blocked until they are known.',
    });
  }

  // Merge rules that differ only in ports, keeping the first one's position.
  const merged: Rule[] = [];
  // ICMP rules with different messages are not merged (merging would need the union per family, and "all" wins).
  const key = (r: Rule) => [r.chain, r.src?.id ?? '*', r.dst?.id ?? '*', r.transport, r.fromZone, r.toZone, r.toProxy ? 'proxy' : '', icmpKey(r.icmp)].join('|');
  const byKey = new Map<string, Rule>();
  for (const r of rules) {
    const k = key(r);
    const prev = byKey.get(k);
    if (prev) {
      for (const n of r.names) if (!prev.names.includes(n)) prev.names.push(n);
      for (const n of r.refs) if (!prev.refs.includes(n)) prev.refs.push(n);
      for (const n of r.purpose) if (!prev.purpose.includes(n)) prev.purpose.push(n);
      for (const n of r.protocols) if (!prev.protocols.includes(n)) prev.protocols.push(n);
      if (!prev.ports.length || !r.ports.length) prev.ports = [];
      else prev.ports = sortPorts([...prev.ports, ...r.ports]);
    } else {
      const copy = { ...r, ports: sortPorts(r.ports), names: [...r.names], refs: [...r.refs], purpose: [...r.purpose], protocols: [...r.protocols] };
      byKey.set(k, copy);
      merged.push(copy);
    }
  }

  return {
    system: model.name,
    mode,
    zone: zoneName,
    zones: model.zones,
    // Only sets a rule (allowed or commented out) refers to.
    sets: [...sets.values()]
      .filter((s) => [...merged, ...skipped.flatMap((x) => (x.rule ? [x.rule] : []))].some((r) => r.src?.id === s.id || r.dst?.id === s.id))
      .sort((a, b) => a.id.localeCompare(b.id)),
    rules: merged,
    skipped,
    resolution: resolvedAny ? { at, resolver: opts.resolverName ?? 'system resolver' } : undefined,
  };
}

const icmpKey = (m: IcmpMatch | undefined): string => (m ? `v4:${m.v4.map(icmpTypeText).join(',')};v6:${m.v6.map(icmpTypeText).join(',')}` : '');

/** `host:port`, `[v6]:port` or `http://host:port` of a proxied mitigation (port 3128 when none is given). */
export function parseProxy(proxy: string | undefined): { host: string; port: number } | undefined {
  if (!proxy) return undefined;
  const bare = cutLastLineFrom(proxy.replace(/^[a-z]+:\/\//i, ''), '/');
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(bare) ?? /^([^:]+)(?::(\d+))?$/.exec(bare);
  if (!m) return undefined;
  return { host: m[1], port: m[2] ? Number(m[2]) : 3128 };
}

export function portStart(p: Port): number {
  return typeof p === 'number' ? p : Number(p.split('-')[0]);
}

export function portRange(p: Port): [number, number] {
  if (typeof p === 'number') return [p, p];
  const [a, b] = p.split('-').map(Number);
  return [a, b];
}

/** Unique, sorted by start port. */
export function sortPorts(ports: Port[]): Port[] {
  const seen = new Map<string, Port>();
  for (const p of ports) seen.set(String(p), p);
  return [...seen.values()].sort((a, b) => portStart(a) - portStart(b) || String(a).localeCompare(String(b)));
}
