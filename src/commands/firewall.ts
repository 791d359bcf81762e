import { promises as dns } from 'node:dns';
import path from 'node:path';
import type { FirewallOutput } from '../audit/firewall/common.js';
import { emitFirewall, FIREWALL_FORMATS } from '../audit/firewall/emit.js';
import { buildRuleset, type Ruleset } from '../audit/firewall/ruleset.js';
import { buildConnectionModel } from '../audit/model.js';
import { FerryError } from '../errors.js';
import { loadManifest } from '../kinds/schema.js';

/** Name resolution for `--resolve`: injected so a caller can answer without DNS. */
export interface HostResolver {
  lookup(host: string): Promise<string[]>;
  /** How answers were obtained, recorded in the rules beside the time. */
  describe(): string;
}

export const systemResolver: HostResolver = {
  lookup: async (host) => (await dns.lookup(host, { all: true })).map((a) => a.address),
  describe: () => `system resolver (getaddrinfo; nameservers ${dns.getServers().join(', ') || 'none'})`,
};

export interface FirewallRulesetOptions {
  /** Write host rules for hosts in this zone (default: the zone marked self, else gateway rules). */
  zone?: string;
  /** Also allow these connections/endpoints, conditions, or bootstrap, install, optional, all. */
  enable?: string[];
  /** Resolve hostnames the format cannot carry. */
  resolve?: boolean;
  resolver?: HostResolver;
  cwd?: string;
}

export interface FirewallOptions extends FirewallRulesetOptions {
  /** One of FIREWALL_FORMATS. */
  format: string;
}

/** The format-neutral allowlist (address sets, rules, flows not allowed) of a manifest. */
export async function firewallRuleset(manifestFile: string, opts: FirewallRulesetOptions = {}): Promise<Ruleset> {
  const model = buildConnectionModel(await loadManifest(path.resolve(opts.cwd ?? process.cwd(), manifestFile)));
  const resolver = opts.resolver ?? systemResolver;
  return buildRuleset(model, {
    zone: opts.zone,
    enable: opts.enable,
    resolve: opts.resolve ? (host) => resolver.lookup(host) : undefined,
    resolverName: resolver.describe(),
  });
}

/** `ferry firewall --format <f>`: the rules file in one format, with the warnings to print beside it. */
export async function firewallCommand(manifestFile: string, opts: FirewallOptions): Promise<FirewallOutput> {
  if (!FIREWALL_FORMATS.includes(opts.format as (typeof FIREWALL_FORMATS)[number])) {
    throw new FerryError('USAGE', `--format ${opts.format}: unknown format`, { hint: `Choose one of ${FIREWALL_FORMATS.join(', ')}.` });
  }
  return emitFirewall(await firewallRuleset(manifestFile, opts), opts.format);
}
