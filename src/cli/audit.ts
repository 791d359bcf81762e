import { promises as dns } from 'node:dns';
import type { Command } from 'commander';
import { FerryError } from '../errors.js';
import { loadManifest } from '../manifest/load.js';
import { buildConnectionModel } from '../audit/model.js';
import { buildInventory, renderInventoryCsv, renderInventoryMarkdown } from '../audit/inventory.js';
import { buildRuleset } from '../audit/firewall/ruleset.js';
import { emitFirewall, FIREWALL_FORMATS } from '../audit/firewall/emit.js';
import type { FirewallOutput } from '../audit/firewall/common.js';
import { note, printResult, table } from '../ui/output.js';
import { escapeLine } from '../ui/escape.js';
import { EXIT } from '../errors.js';
import { loadTarget, lockPathFor, readLock } from '../manifest/load.js';
import { scanPaths } from '../audit/scan.js';
import { auditReferences, type AuditReport } from '../audit/audit.js';
import { renderAuditCsv, renderAuditMarkdown } from '../audit/render-audit.js';
import { probe, type ProbeReport } from '../audit/probe.js';

const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

function checkFormat(format: string, allowed: readonly string[], flag = '--format'): void {
  if (!allowed.includes(format)) throw new FerryError('USAGE', `${flag} ${format}: unknown format`, { hint: `Choose one of ${allowed.join(', ')}.` });
}

export interface InventoryCommandOptions {
  format?: string;
  json?: boolean;
}

export async function inventoryCommand(manifestFile: string, opts: InventoryCommandOptions) {
  const model = buildConnectionModel(await loadManifest(manifestFile));
  return buildInventory(model);
}

export interface FirewallCommandOptions {
  format: string;
  zone?: string;
  enable?: string[];
  resolve?: boolean;
}

export async function firewallRuleset(manifestFile: string, opts: Omit<FirewallCommandOptions, 'format'>) {
  const model = buildConnectionModel(await loadManifest(manifestFile));
  const servers = dns.getServers();
  return buildRuleset(model, {
    zone: opts.zone,
    enable: opts.enable,
    resolve: opts.resolve ? async (host) => (await dns.lookup(host, { all: true })).map((a) => a.address) : undefined,
    resolverName: `system resolver (getaddrinfo; nameservers ${servers.join(', ') || 'none'})`,
  });
}

export async function firewallCommand(manifestFile: string, opts: FirewallCommandOptions): Promise<FirewallOutput> {
  checkFormat(opts.format, FIREWALL_FORMATS);
  return emitFirewall(await firewallRuleset(manifestFile, opts), opts.format);
}

export interface AuditCommandOptions {
  manifest: string;
  target?: string;
  format?: string;
  json?: boolean;
  failOn?: string;
}

export async function auditCommand(paths: string[], opts: AuditCommandOptions, cwd = process.cwd()): Promise<AuditReport> {
  if (opts.failOn && opts.failOn !== 'unmapped' && opts.failOn !== 'unmitigated') {
    throw new FerryError('USAGE', `--fail-on ${opts.failOn}: unknown`, { hint: 'Choose unmapped (undeclared external references) or unmitigated (also declared ones whose mitigation is not in place).' });
  }
  const loaded = await loadManifest(opts.manifest);
  const model = buildConnectionModel(loaded);
  const target = opts.target ? await loadTarget(opts.target) : undefined;
  const lock = await readLock(lockPathFor(loaded.file, loaded.manifest.metadata.name));
  const scan = await scanPaths(paths, cwd);
  return auditReferences(model, target, scan, { manifestFile: opts.manifest, targetFile: opts.target, failOn: opts.failOn as AuditReport['failOn'], lock });
}

export interface ProbeCommandOptions {
  zone?: string;
  failOn?: string;
  timeout: string;
  concurrency: string;
  json?: boolean;
}

export async function probeCommand(manifestFile: string, opts: ProbeCommandOptions): Promise<ProbeReport> {
  const timeoutMs = Number(opts.timeout);
  const concurrency = Number(opts.concurrency);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new FerryError('USAGE', `--timeout ${opts.timeout}: must be a positive number of milliseconds`);
  if (!Number.isInteger(concurrency) || concurrency <= 0) throw new FerryError('USAGE', `--concurrency ${opts.concurrency}: must be a positive integer`);
  if (opts.failOn && opts.failOn !== 'unexpected') throw new FerryError('USAGE', `--fail-on ${opts.failOn}: unknown`, { hint: 'probe knows --fail-on unexpected (a destination that should be blocked answered).' });
  const model = buildConnectionModel(await loadManifest(manifestFile));
  if (opts.zone && !model.zones.some((z) => z.name === opts.zone)) {
    throw new FerryError('USAGE', `--zone ${opts.zone}: no such zone in ${model.name}`, { hint: `Zones: ${model.zones.map((z) => z.name).join(', ')}` });
  }
  return probe(model, { manifestFile, timeoutMs, concurrency, zone: opts.zone });
}

function renderProbe(r: ProbeReport): string {
  const rows = r.records.map((x) => [x.host, String(x.port), x.name, x.expected, x.status, x.addresses.join(' '), x.verdict, x.detail ?? '']);
  const lines = [`probe of ${r.manifest} at ${r.probedAt} (timeout ${r.timeoutMs} ms)`, '', table(['Host', 'Port', 'Declared by', 'Expected', 'Result', 'Addresses', 'Verdict', 'Detail'], rows), ''];
  lines.push(`${r.records.length} destination(s): ${Object.entries(r.summary).filter(([k, v]) => k !== 'unexpected' && v).map(([k, v]) => `${v} ${k}`).join(', ') || 'none'}; ${r.summary.unexpected} unexpected`);
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('inventory')
    .description('the connection inventory: inbound listeners, outbound connections, cross-zone matrix, checklist, CMMC mapping')
    .argument('<manifest>', 'manifest file')
    .option('--format <format>', 'md | json | csv', 'md')
    .option('--json', 'same as --format json')
    .action(async (manifest: string, opts: InventoryCommandOptions) => {
      const format = opts.json ? 'json' : (opts.format ?? 'md');
      checkFormat(format, ['md', 'json', 'csv']);
      const inv = await inventoryCommand(manifest, opts);
      printResult(inv, { json: format === 'json' }, (d) => (format === 'csv' ? renderInventoryCsv(d) : renderInventoryMarkdown(d)));
    });

  program
    .command('firewall')
    .description('allowlist firewall rules with default deny, generated from the connection model')
    .argument('<manifest>', 'manifest file')
    .option('--format <format>', FIREWALL_FORMATS.join(' | '))
    .option('--json', 'print the format-neutral allowlist (address sets, rules, flows not allowed) as JSON')
    .option('--zone <zone>', 'write host rules (input/output) for hosts in this zone; default: the zone marked self, else gateway rules (forward)')
    .option('--enable <names>', 'also allow these connections/endpoints, conditions, or bootstrap, install, optional, all (comma-separated, repeatable)', list)
    .option('--resolve', 'resolve hostnames the format cannot carry (records time and resolver); default: named placeholders')
    .action(async (manifest: string, opts: FirewallCommandOptions & { json?: boolean }) => {
      if (opts.json) {
        printResult(await firewallRuleset(manifest, opts), { json: true }, () => '');
        return;
      }
      if (!opts.format) throw new FerryError('USAGE', 'firewall: --format is required', { hint: `Choose one of ${FIREWALL_FORMATS.join(', ')}, or --json.` });
      const out = await firewallCommand(manifest, opts);
      for (const w of out.warnings) note(`warning: ${escapeLine(w)}`);
      printResult(out, {}, (o) => o.text);
    });

  program
    .command('audit')
    .description('scan configuration for references that still point outside; classify each against the manifest and mirror target; run the mitigation checks')
    .argument('<paths...>', 'files or directories (YAML, JSON, TOML, env files, APT sources, plain text)')
    .requiredOption('--manifest <manifest>', 'manifest with the artifacts and the connection model')
    .option('--target <mirror-target>', 'mirror target (where carried artifacts live)')
    .option('--format <format>', 'md | json | csv', 'md')
    .option('--json', 'same as --format json')
    .option('--fail-on <what>', `unmapped | unmitigated: exit ${EXIT.findings} when such findings exist`)
    .action(async (paths: string[], opts: AuditCommandOptions) => {
      const format = opts.json ? 'json' : (opts.format ?? 'md');
      checkFormat(format, ['md', 'json', 'csv']);
      const report = await auditCommand(paths, opts);
      printResult(report, { json: format === 'json' }, (d) => (format === 'csv' ? renderAuditCsv(d) : renderAuditMarkdown(d)));
      if (report.failed) process.exitCode = EXIT.findings;
    });

  program
    .command('probe')
    .description('from this host, try DNS and a TCP connect to each declared external destination; record reachable / refused / timed out')
    .argument('<manifest>', 'manifest file')
    .option('--zone <zone>', 'only destinations reached from this zone (the zone this host is in)')
    .option('--timeout <ms>', 'connect timeout per destination in milliseconds', '3000')
    .option('--concurrency <n>', 'destinations probed at once', '8')
    .option('--json', 'print the evidence as JSON')
    .option('--fail-on <what>', `unexpected: exit ${EXIT.findings} when a destination the manifest says is blocked answered`)
    .action(async (manifest: string, opts: ProbeCommandOptions) => {
      const report = await probeCommand(manifest, opts);
      printResult(report, { json: opts.json }, renderProbe);
      if (opts.failOn === 'unexpected' && report.summary.unexpected > 0) process.exitCode = EXIT.findings;
    });
}
