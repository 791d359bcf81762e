import type { Command } from 'commander';
import { renderInventoryCsv, renderInventoryMarkdown } from '../audit/inventory.js';
import { FIREWALL_FORMATS } from '../audit/firewall/emit.js';
import { renderAuditCsv, renderAuditMarkdown } from '../audit/render-audit.js';
import type { ProbeReport } from '../audit/probe.js';
import type { AuditReport } from '../audit/audit.js';
import { auditCommand, type AuditOptions } from '../commands/audit.js';
import { firewallCommand, firewallRuleset } from '../commands/firewall.js';
import { inventoryCommand } from '../commands/inventory.js';
import { probeCommand } from '../commands/probe.js';
import { EXIT, FerryError } from '../errors.js';
import { escapeLine } from '../ui/escape.js';
import { note, printResult, table } from '../ui/output.js';
import { trustOptions, withTrustOptions } from './common.js';
import { emitResult } from './output-file.js';

const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

function checkFormat(format: string, allowed: readonly string[], flag = '--format'): void {
  if (!allowed.includes(format)) throw new FerryError('USAGE', `${flag} ${format}: unknown format`, { hint: `Choose one of ${allowed.join(', ')}.` });
}

/** --format, with --json as its shorthand, checked against md | json | csv. */
function reportFormat(opts: { format?: string; json?: boolean }): 'md' | 'json' | 'csv' {
  const format = opts.json ? 'json' : (opts.format ?? 'md');
  checkFormat(format, ['md', 'json', 'csv']);
  return format as 'md' | 'json' | 'csv';
}

function positiveInteger(value: string, flag: string, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new FerryError('USAGE', `${flag} ${value}: must be ${what}`);
  return n;
}

function renderProbe(r: ProbeReport): string {
  const cell = (s: string) => escapeLine(s);
  const proxyCell = (p: ProbeReport['records'][number]['proxies'][number]) => (p.statusLine ? `${p.result} (${p.statusLine})` : p.result);
  const rows = r.records.map((x) => [x.host, String(x.port), x.name, x.expected, x.status, ...x.proxies.map(proxyCell), x.addresses.join(' '), x.verdict, x.why].map(cell));
  const headers = ['Host', 'Port', 'Declared by', 'Expected', 'Direct', ...r.proxies.map((p) => `via ${p.proxy}`), 'Addresses', 'Verdict', 'Why'];
  const lines = [`probe of ${cell(r.manifest)} at ${r.probedAt} (timeout ${r.timeoutMs} ms)`];
  if (!r.proxies.length) lines.push('proxies asked: none (no --proxy, no HTTPS_PROXY/HTTP_PROXY, no proxied endpoint)');
  for (const p of r.proxies) lines.push(cell(`proxy ${p.proxy}: from ${p.sources.join(', ')}${p.authenticated ? ', with credentials' : ''}${p.honoursNoProxy ? ', not asked for NO_PROXY hosts' : ''}`));
  lines.push(
    r.resetMeansBlocked
      ? 'refused (TCP reset) counts as blocked: --reset-means-blocked (the firewall rejects with tcp reset)'
      : "refused (TCP reset) is not evidence of blocking: a host's closed port answers so too (--reset-means-blocked if the firewall rejects with tcp reset)",
  );
  for (const w of r.warnings) lines.push(`warning: ${cell(w)}`);
  lines.push('', table(headers, rows), '');
  const s = r.summary;
  const direct = (['reachable', 'refused', 'timed-out', 'unreachable', 'error', 'dns-failed', 'skipped'] as const).filter((k) => s[k]).map((k) => `${s[k]} ${k}`);
  lines.push(
    `${r.records.length} destination(s): direct ${direct.join(', ') || 'none'}; ${s.reachableViaProxy} reachable via a proxy; ` +
      `${s.unexpected} unexpected, ${s.inconclusive} inconclusive, ${s['proxy-refused']} proxy-refused, ${s['as-declared']} as-declared`,
  );
  return lines.join('\n');
}

/** Lines of findings named on stderr when --fail-on fails the run. */
const FAIL_LINES = 20;

/**
 * Why `audit --fail-on` exits 5, for stderr: it is said even with --json (stdout carries the
 * data) so a CI log shows which references failed the run, not just the exit code.
 */
export function auditFailure(r: AuditReport): string[] {
  const classes = r.failOn === 'unmitigated' ? ['undeclared', 'declared-unmitigated'] : ['undeclared'];
  const findings = r.findings.filter((f) => classes.includes(f.class));
  const reasons: string[] = [];
  if (r.summary.undeclared) reasons.push(`${r.summary.undeclared} undeclared external reference${r.summary.undeclared === 1 ? '' : 's'}`);
  if (r.summary.unscannedFiles) reasons.push(`${r.summary.unscannedFiles} file${r.summary.unscannedFiles === 1 ? '' : 's'} not scanned (references unaudited)`);
  if (r.summary.unrenderedCharts) reasons.push(`${r.summary.unrenderedCharts} chart${r.summary.unrenderedCharts === 1 ? '' : 's'} not rendered (templates unaudited)`);
  if (r.failOn === 'unmitigated') {
    const n = r.summary['declared-unmitigated'];
    if (n) reasons.push(`${n} declared reference${n === 1 ? '' : 's'} whose mitigation is not in place`);
    if (r.summary.unmetMitigations) reasons.push(`${r.summary.unmetMitigations} unmet mitigation${r.summary.unmetMitigations === 1 ? '' : 's'}`);
    if (r.summary.unmetConnectionChecks) reasons.push(`${r.summary.unmetConnectionChecks} unmet connection check${r.summary.unmetConnectionChecks === 1 ? '' : 's'}`);
  }
  const lines = [`audit failed (--fail-on ${r.failOn}, exit ${EXIT.findings}): ${reasons.join(', ')}`];
  for (const f of findings.slice(0, FAIL_LINES)) lines.push(`  ${f.file}:${f.line}  ${f.value}  (${f.class}${f.declaredBy ? `: ${f.declaredBy}` : ''})`);
  if (findings.length > FAIL_LINES) lines.push(`  … and ${findings.length - FAIL_LINES} more (the report lists them all)`);
  if (r.failOn === 'unmitigated') {
    for (const m of r.mitigations.filter((x) => x.status === 'unmet')) lines.push(`  mitigation of ${m.endpoint}${m.title && m.title !== m.endpoint ? ` (${m.title})` : ''}: not in place`);
    for (const c of r.checks.filter((x) => x.subject === 'connection' && x.status === 'unmet')) lines.push(`  connection ${c.endpoint}: ${c.check}: not met`);
  }
  for (const s of r.skipped.filter((x) => x.unscanned)) lines.push(`  ${s.file}: ${s.reason}`);
  for (const c of r.charts.filter((x) => x.status === 'not-rendered')) lines.push(`  chart ${c.chart} with ${c.values.join(', ')}: not rendered: ${c.reason}`);
  lines.push(
    r.summary.undeclared
      ? 'hint: point each reference at the mirror (`ferry rewrite`), carry it (add it to the manifest), or declare it as an endpoint or connection with its mitigation.'
      : "hint: put each declared endpoint's mitigation in place (its checks say what the configuration must contain), or mark it an exception in the manifest.",
  );
  return lines;
}

interface FirewallCliOptions {
  format?: string;
  json?: boolean;
  zone?: string;
  enable?: string[];
  resolve?: boolean;
  output?: string;
}

interface AuditCliOptions {
  manifest?: string;
  target?: string;
  format?: string;
  json?: boolean;
  failOn?: string;
  cacheDir?: string;
  bundle?: string;
  caFile?: string[];
  certDir?: string;
  insecureRegistry?: string[];
  output?: string;
}

interface ProbeCliOptions {
  zone?: string;
  failOn?: string[];
  proxy?: string[];
  envProxy: boolean;
  resetMeansBlocked?: boolean;
  timeout: string;
  concurrency: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('inventory')
    .description('the connection inventory: inbound listeners, outbound connections, cross-zone matrix, checklist, CMMC mapping')
    .argument('<manifest>', 'manifest file')
    .option('--format <format>', 'md | json | csv', 'md')
    .option('--json', 'same as --format json')
    .option('-o, --output <file>', 'write the inventory to this file (whole, or nothing when the command fails) instead of stdout')
    .action(async (manifest: string, opts: { format?: string; json?: boolean; output?: string }) => {
      const format = reportFormat(opts);
      const inv = await inventoryCommand(manifest);
      await emitResult(inv, { json: format === 'json' }, (d) => (format === 'csv' ? renderInventoryCsv(d) : renderInventoryMarkdown(d)), opts.output);
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
    .option('-o, --output <file>', 'write the rules to this file (whole, or nothing when the command fails) instead of stdout')
    .action(async (manifest: string, opts: FirewallCliOptions) => {
      const rulesetOptions = { zone: opts.zone, enable: opts.enable, resolve: opts.resolve };
      if (opts.json) {
        await emitResult(await firewallRuleset(manifest, rulesetOptions), { json: true }, () => '', opts.output);
        return;
      }
      if (!opts.format) throw new FerryError('USAGE', 'firewall: --format is required', { hint: `Choose one of ${FIREWALL_FORMATS.join(', ')}, or --json.` });
      const out = await firewallCommand(manifest, { ...rulesetOptions, format: opts.format });
      for (const w of out.warnings) note(`warning: ${escapeLine(w)}`);
      await emitResult(out, {}, (o) => o.text, opts.output);
    });

  withTrustOptions(program
    .command('audit')
    .description('scan configuration for references that still point outside; classify each against the manifest and mirror target; run the mitigation checks')
    .argument('<paths...>', 'files or directories (YAML, JSON, TOML, env files, APT sources, plain text)')
    .option('--manifest <manifest>', 'manifest with the artifacts and the connection model (with --bundle, default: the one inside the bundle)')
    .option('-t, --target <file>', 'mirror target YAML (where carried artifacts live)')
    .option('--format <format>', 'md | json | csv', 'md')
    .option('--json', 'same as --format json')
    .option('--fail-on <what>', `unmapped | unmitigated: exit ${EXIT.findings} when such findings exist`)
    .option('--cache-dir <dir>', 'download cache holding the locked chart archives (default ~/.cache/ferry/store, as ferry lock)')
    .option('--bundle <bundle>', "the bundle that carried the deployment (air-gapped side): its lock, its manifest unless --manifest is given, and the chart archives rendered from it (a split bundle by any part, or oci://)")
    .option('-o, --output <file>', 'write the report to this file (whole, or nothing when the audit cannot run; written too when --fail-on fails) instead of stdout'))
    .action(async (paths: string[], opts: AuditCliOptions) => {
      const format = reportFormat(opts);
      if (opts.failOn && opts.failOn !== 'unmapped' && opts.failOn !== 'unmitigated') {
        throw new FerryError('USAGE', `--fail-on ${opts.failOn}: unknown`, { hint: 'Choose unmapped (undeclared external references) or unmitigated (also declared ones whose mitigation is not in place).' });
      }
      const report = await auditCommand(paths, { manifest: opts.manifest, target: opts.target, failOn: opts.failOn as AuditOptions['failOn'], cacheDir: opts.cacheDir, bundle: opts.bundle, net: trustOptions(opts) });
      await emitResult(report, { json: format === 'json' }, (d) => (format === 'csv' ? renderAuditCsv(d) : renderAuditMarkdown(d)), opts.output);
      if (report.failed) {
        for (const line of auditFailure(report)) note(escapeLine(line));
        process.exitCode = EXIT.findings;
      }
    });

  program
    .command('probe')
    .description('from this host, try DNS and a TCP connect to each declared external destination, and CONNECT through each proxy; record reachable / refused / timed out')
    .argument('<manifest>', 'manifest file')
    .option('--zone <zone>', 'only destinations reached from this zone (the zone this host is in)')
    .option('--timeout <ms>', 'connect timeout per destination (and per proxy CONNECT) in milliseconds', '3000')
    .option('--concurrency <n>', 'destinations probed at once', '8')
    .option('--proxy <url>', 'also ask this HTTP proxy to CONNECT to every destination (http://user:password@host:port; repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--no-env-proxy', 'do not ask the proxies HTTPS_PROXY / HTTP_PROXY name')
    .option('--reset-means-blocked', 'count a refused direct connect (TCP reset) as blocked: the firewall rejects with tcp reset')
    .option('--json', 'print the evidence as JSON')
    .option('--fail-on <what>', `unexpected | inconclusive | proxy-refused (comma-separated, repeatable): exit ${EXIT.findings} when a destination has that verdict`, list)
    .action(async (manifest: string, opts: ProbeCliOptions) => {
      const timeoutMs = positiveInteger(opts.timeout, '--timeout', 'a positive number of milliseconds');
      const concurrency = positiveInteger(opts.concurrency, '--concurrency', 'a positive integer');
      const failOn = opts.failOn ?? [];
      const known = ['unexpected', 'inconclusive', 'proxy-refused'];
      for (const f of failOn) {
        if (!known.includes(f)) throw new FerryError('USAGE', `--fail-on ${f}: unknown`, { hint: 'probe knows --fail-on unexpected (a destination that should be blocked answered), inconclusive (no evidence either way), proxy-refused (a proxied endpoint its proxy did not open).' });
      }
      const report = await probeCommand(manifest, { zone: opts.zone, timeoutMs, concurrency, proxies: opts.proxy, envProxy: opts.envProxy, resetMeansBlocked: opts.resetMeansBlocked });
      printResult(report, { json: opts.json }, renderProbe);
      const bad = report.records.filter((x) => failOn.includes(x.verdict));
      if (bad.length) {
        note(`probe failed (--fail-on ${failOn.join(',')}, exit ${EXIT.findings}): ${bad.length} destination${bad.length === 1 ? '' : 's'} with that verdict`);
        for (const x of bad.slice(0, FAIL_LINES)) note(`  ${escapeLine(`${x.host}:${x.port}  (${x.name})  ${x.verdict}: ${x.why}`)}`);
        if (bad.length > FAIL_LINES) note(`  … and ${bad.length - FAIL_LINES} more`);
        process.exitCode = EXIT.findings;
      }
    });
}
