import type { Command } from 'commander';
import {
  mirrorConfigCommand,
  rewriteAptSourcesCommand,
  rewriteCatalogueCommand,
  rewriteChartCommand,
  rewriteManifestsCommand,
  rewriteValuesCommand,
  type RewriteSources,
} from '../commands/rewrite.js';
import { formatRewriteReport, type RewriteResult } from '../rewrite/edits.js';
import { MIRROR_CONFIG_FORMATS, type MirrorConfigResult } from '../rewrite/mirror-config.js';
import { siteKeyringPath } from '../rewrite/apt-sources.js';
import { FerryError } from '../errors.js';
import { escapeLine } from '../ui/escape.js';
import { note, printResult } from '../ui/output.js';
import { describeOrigin, renderFlags, withRemoteChartOptions, withRenderOptions, type RenderCliOptions } from './charts.js';
import { trustOptions, withOutputOptions, withTrustOptions, type CommonCliOptions } from './common.js';

interface RewriteCliOptions extends CommonCliOptions, RewriteSources {
  dryRun?: boolean;
  allowUnmapped?: boolean;
  output?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** A rewrite subcommand with what every rewrite needs first: the target, and what the mirror holds. */
function rewriteCommand(parent: Command, name: string, description: string, argument: [string, string]): Command {
  return withTrustOptions(
    parent
      .command(name)
      .description(description)
      .argument(...argument)
      .requiredOption('-t, --target <file>', 'mirror target YAML (where things live on the mirror)')
      .option('--lock <file>', 'lock file (what the mirror holds)')
      .option('--bundle <tar>', 'bundle .tar or oci://… (its ferry/lock.json says what the mirror holds)'),
  );
}

/** The flags every rewrite ends with (after its own options, so --help reads target → own options → these). */
function withRewriteOptions(cmd: Command): Command {
  return withOutputOptions(
    cmd
      .option('--dry-run', 'print a unified diff and the report; write nothing')
      .option('--allow-unmapped', 'rewrite what the mirror covers and leave the rest (reported) instead of failing'),
    'no report (warnings are still printed)',
  );
}

function sources(opts: RewriteCliOptions): RewriteSources {
  return { target: opts.target, lock: opts.lock, bundle: opts.bundle, net: trustOptions(opts) };
}

function printWarnings(warnings: string[]): void {
  for (const w of warnings) note(`warning: ${escapeLine(w)}`);
}

/** `output`: -o wrote a new file (an override, or a rewritten copy of `inputs`), leaving the inputs alone. */
function print(result: RewriteResult, opts: RewriteCliOptions, output?: { kind: 'override' | 'copy'; file: string; inputs: string[] }): void {
  printWarnings(result.warnings);
  if (opts.quiet && !opts.json) return;
  printResult(result, opts, (r) => formatRewriteReport(r, { output }));
}

function formatMirrorConfig(r: MirrorConfigResult): string {
  const lines: string[] = [];
  if (r.dryRun && r.diff) lines.push(r.diff.trimEnd(), '');
  if (!r.written.length && !r.dryRun) for (const f of r.files) lines.push(`--- ${f.path}`, f.content.trimEnd(), '');
  for (const m of r.mirrors) lines.push(`${m.upstream} → ${m.mirror}`);
  for (const f of r.written) lines.push(`wrote ${f}`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}

export function register(program: Command): void {
  const rewrite = program.command('rewrite').description('point values, manifests, catalogues and APT sources at the mirror (the mapping import used)');

  withRewriteOptions(
    rewriteCommand(rewrite, 'values', 'Helm values: write a minimal override (-o) or edit in place keeping comments, order and quoting', ['<values...>', 'values files, in the order you pass them to helm'])
      .option('-o, --output <file>', 'override file to write (default: print it)')
      .option('--in-place', 'edit the values files themselves'),
  ).action(async (files: string[], opts: RewriteCliOptions & { inPlace?: boolean }) => {
    const r = await rewriteValuesCommand(files, { ...sources(opts), output: opts.output, inPlace: opts.inPlace, dryRun: opts.dryRun, allowUnmapped: opts.allowUnmapped });
    if (!opts.inPlace && !opts.output && !opts.dryRun && !opts.json) {
      // The override is the output; the report goes beside it so `> override.yaml` works.
      process.stdout.write(r.override ?? '');
      printWarnings(r.warnings);
      if (!opts.quiet) note(formatRewriteReport(r, { overrideOnStdout: true }));
      return;
    }
    print(r, opts, opts.output && !opts.inPlace ? { kind: 'override', file: opts.output, inputs: files } : undefined);
  });

  withRewriteOptions(
    // rendered as `charts images` renders it, for discovery and for the proof
    withRenderOptions(withRemoteChartOptions(rewriteCommand(rewrite, 'chart', "one override for a chart and its subcharts covering every image discovery finds (keys scoped as Helm scopes them)", ['<chart>', 'chart directory, packaged .tgz, oci://host/path/chart[:version|@sha256:…], a repository URL with --chart, or an https URL of a .tgz']))
      .option('-o, --output <file>', 'override file to write (default: print it)')
      .option('--chart-yaml', "also point the chart directory's Chart.yaml dependency repositories at the mirror (edited in place, comments kept)")),
  ).action(async (chart: string, opts: RewriteCliOptions & RenderCliOptions & { chartYaml?: boolean; version?: string; chart?: string; keyring?: string }) => {
    const r = await rewriteChartCommand(chart, {
      ...sources(opts),
      version: opts.version,
      chart: opts.chart,
      keyring: opts.keyring,
      output: opts.output,
      values: opts.values,
      render: renderFlags(opts),
      dryRun: opts.dryRun,
      allowUnmapped: opts.allowUnmapped,
      chartYaml: opts.chartYaml,
    });
    const repos = r.chartRepos.map(
      (d) => `dependency ${d.dependency} of ${d.chart}: ${d.upstream}${d.mirror ? ` → ${d.mirror}` : ' (no mirror location: not an OCI repository or no registry in the target)'}${d.vendored ? ' (vendored in charts/, nothing to fetch)' : ''}`,
    );
    if (r.origin) repos.unshift(escapeLine(describeOrigin(r.origin)));
    if (!opts.output && !opts.dryRun && !opts.json) {
      process.stdout.write(r.override ?? '');
      printWarnings(r.warnings);
      if (!opts.quiet) note([formatRewriteReport(r, { overrideOnStdout: true }), ...repos].join('\n'));
      return;
    }
    printWarnings(r.warnings);
    if (opts.quiet && !opts.json) return;
    printResult(r, opts, (x) => [formatRewriteReport(x, { output: opts.output && !opts.chartYaml ? { kind: 'override', file: opts.output, inputs: [chart] } : undefined }), ...repos].join('\n'));
  });

  withRewriteOptions(
    rewriteCommand(rewrite, 'manifests', 'Kubernetes YAML in place: containers, initContainers, ephemeralContainers of every workload, image keys in custom resources, and the images of Compose services', ['<paths...>', 'files or directories (every .yaml/.yml below)']).option(
      '--cache-dir <dir>',
      "download cache holding the locked chart archives, for the images a GitOps-installed chart's defaults name (default: the one `ferry lock` uses; not with --bundle, whose own archives are read)",
    ),
  ).action(async (paths: string[], opts: RewriteCliOptions & { cacheDir?: string }) => {
    print(await rewriteManifestsCommand(paths, { ...sources(opts), dryRun: opts.dryRun, allowUnmapped: opts.allowUnmapped, cacheDir: opts.cacheDir }), opts);
  });

  withRewriteOptions(
    rewriteCommand(rewrite, 'catalogue', 'URLs of mirrored files (cloud image catalogues, scripts, docs) replaced with their mirror URL; checksums untouched', ['<file>', 'catalogue file'])
      .option('--format <format>', 'json | yaml | toml | text (default: from the extension); checked before and after')
      .option('-o, --output <file>', 'write here instead of in place'),
  ).action(async (file: string, opts: RewriteCliOptions & { format?: 'json' | 'yaml' | 'toml' | 'text' }) => {
    print(await rewriteCatalogueCommand(file, { ...sources(opts), format: opts.format, output: opts.output, dryRun: opts.dryRun, allowUnmapped: opts.allowUnmapped }), opts, opts.output ? { kind: 'copy', file: opts.output, inputs: [file] } : undefined);
  });

  withRewriteOptions(
    rewriteCommand(rewrite, 'apt-sources', 'sources.list lines and deb822 .sources stanzas; Signed-By pointed at the site key where the mirror was re-signed', ['<files...>', 'sources.list or *.sources files'])
      .option('--signed-by <path>', `site keyring path on clients for re-signed (filtered) mirrors (default ${siteKeyringPath()})`)
      .option('-o, --output <file>', 'write here instead of in place (one input file)'),
  ).action(async (files: string[], opts: RewriteCliOptions & { signedBy?: string }) => {
    print(await rewriteAptSourcesCommand(files, { ...sources(opts), signedBy: opts.signedBy, output: opts.output, dryRun: opts.dryRun, allowUnmapped: opts.allowUnmapped }), opts, opts.output ? { kind: 'copy', file: opts.output, inputs: files } : undefined);
  });

  withOutputOptions(
    withTrustOptions(program
      .command('mirror-config')
      .description('runtime configuration so nodes pull upstream-named images from the mirror without touching workloads')
      .argument('<format>', MIRROR_CONFIG_FORMATS.join(' | '))
      .requiredOption('-t, --target <file>', 'mirror target YAML')
      .option('--lock <file>', 'lock file (its images name the upstream registries)')
      .option('--bundle <tar>', 'bundle .tar or oci://… (its ferry/lock.json)')
      .option('-o, --output <dir>', 'directory to write the files into (default: print them)')
      .option('--registry <host>', 'also mirror this upstream registry (repeatable)', collect)
      .option('--config-path <dir>', 'containerd: certs.d location on the nodes', '/etc/containerd/certs.d')
      .option('--never-contact-source', 'containerd: server set to the mirror; registries-conf: location set to the mirror; idms/itms: mirrorSourcePolicy NeverContactSource (a pull the mirror cannot serve fails at once, never tried upstream)')
      .option('--dry-run', 'print a unified diff against the files in -o; write nothing')),
    'with -o, print nothing but warnings',
  ).action(async (format: string, opts: RewriteCliOptions & { registry?: string[]; configPath?: string; neverContactSource?: boolean }) => {
    // The format first: a typo should not be reported as a missing --lock.
    if (!(MIRROR_CONFIG_FORMATS as readonly string[]).includes(format)) {
      throw new FerryError('USAGE', `mirror-config ${format}: unknown format`, { hint: `Choose one of ${MIRROR_CONFIG_FORMATS.join(', ')}.` });
    }
    const r = await mirrorConfigCommand(format, { ...sources(opts), output: opts.output, dryRun: opts.dryRun, configPath: opts.configPath, registries: opts.registry, neverContactSource: opts.neverContactSource });
    printWarnings(r.warnings);
    if (opts.quiet && !opts.json && r.written.length) return;
    printResult(r, opts, formatMirrorConfig);
  });
}
