import type { Command } from 'commander';
import { chartsImagesCommand, type ChartsImagesReport } from '../commands/charts-images.js';
import { DEFAULT_KUBE_VERSION } from '../kinds/chart/render/index.js';
import { parseKubeVersion } from '../kinds/chart/render/helm.js';
import { FerryError } from '../errors.js';
import { escapeLine } from '../ui/escape.js';
import { printResult } from '../ui/output.js';
import { netOptions, withNetOptions, type CommonCliOptions } from './common.js';
import type { DiscoveredImage, DiscoverOptions, ImageSource } from '../kinds/chart/discover.js';
import type { RemoteChartOrigin } from '../kinds/chart/remote.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

function describeSource(s: ImageSource): string {
  const at = s.line ? `${s.file}:${s.line}` : s.file;
  let what: string;
  switch (s.kind) {
    case 'values': {
      const keys = s.keys ? ` {${Object.keys(s.keys).join(', ')}}` : '';
      const extra = [s.registryFrom ? `registry from ${s.registryFrom}` : '', s.tagFromAppVersion ? 'tag from appVersion' : '', s.overrides ? `overridden: ${Object.entries(s.overrides).map(([k, v]) => `${k} at ${v}`).join(', ')}` : '']
        .filter(Boolean)
        .join('; ');
      what = `values ${s.valuesPath}${keys}${extra ? ` (${extra})` : ''}`;
      break;
    }
    case 'annotation':
      what = `chart ${s.keyPath}`;
      break;
    case 'images-lock':
      what = 'Images.lock';
      break;
    case 'template':
      what = `template: ${s.text}`;
      break;
    case 'rendered':
      what = `${s.resource} ${s.fieldPath}${s.role && s.role !== 'workload' ? ` [${s.role}]` : ''}${s.hook ? ` (hook: ${s.hook.join(',')})` : ''}`;
      break;    case 'image-path':
      what = `imagePaths ${s.imagePath}`;
      break;
  }
  return `${s.chart}  ${at}  ${what}${s.certainty === 'possible' && s.reason ? `  [possible: ${s.reason}]` : ''}`;
}

/** What was fetched and rendered, with the digest to pin it by and what that digest was checked against. */
export function describeOrigin(o: RemoteChartOrigin): string {
  const checked =
    o.verifiedBy === 'manifest'
      ? 'checked against the OCI manifest\u2019s chart layer'
      : o.verifiedBy === 'index'
        ? 'checked against the digest index.yaml gives'
        : 'not checked: nothing names its digest (pin this one)';
  const signed = o.provenance ? `; its provenance, signed by ${o.provenance.signer}, verified with --keyring and naming this sha256 for ${o.provenance.file}` : '';
  return `fetched ${o.pinned ?? o.reference}: chart archive ${o.archiveDigest} (${o.provenance && o.verifiedBy === 'none' ? 'no digest given for it' : checked}${signed})`;
}

/** `  (imagePaths <path>)` for an image only imagePaths found, `  (also imagePaths <path>)` for one discovery found too. */
function foundAtPaths(img: DiscoveredImage): string {
  const paths = [...new Set(img.sources.filter((s) => s.kind === 'image-path').map((s) => s.imagePath))];
  if (!paths.length) return '';
  return `  (${paths.length < img.sources.length ? 'also ' : ''}imagePaths ${paths.join(', ')})`;
}

function human(report: ChartsImagesReport, why: boolean): string {
  const out: string[] = [];
  for (const r of report.charts) {
    const how = r.rendered ? `  rendered by ${r.rendered.renderer ?? 'ferry'}, Kubernetes ${r.rendered.kubeVersion}` : '';
    out.push(`${r.chart.name} ${r.chart.version}${r.source ? `  (${r.source})` : ''}${how}`);
    if (r.origin) out.push(`  ${describeOrigin(r.origin)}`);
    const groups: Array<[string, DiscoveredImage[]]> = [
      ['certain', r.images.filter((i) => i.certainty === 'certain')],
      ['test hooks', r.images.filter((i) => i.certainty === 'test')],
      ['possible', r.images.filter((i) => i.certainty === 'possible')],
    ];
    for (const [label, list] of groups) {
      if (label === 'test hooks' && list.length === 0) continue;
      out.push(`  ${label} (${list.length})`);
      for (const img of list) {
        out.push(`    ${img.ref}${img.role && img.role !== 'workload' && img.role !== 'test-hook' ? `  (${img.role})` : ''}${foundAtPaths(img)}`);
        if (why) for (const s of img.sources) out.push(`        ${describeSource(s)}`);
      }
    }
    for (const i of r.injected ?? []) out.push(`  filled in by Istio's sidecar injector (${i.requestedBy}): ${i.resource} ${i.fieldPath} (${i.file}${i.line ? `:${i.line}` : ''}) is \`image: auto\`; the proxy image comes from istiod's values (charts images <istiod chart> lists it)`);
    for (const i of r.injects ?? []) out.push(`  injects ${i} into every pod that asks for sidecar injection (from the injector's values)`);
    for (const s of r.skippedSubcharts) out.push(`  skipped subchart ${s.chart}: ${s.reason}`);
    for (const d of r.missingDependencies) out.push(`  dependency ${d.dependency} ${d.version ?? ''} of ${d.chart} is not vendored${d.repository ? ` (from ${d.repository})` : ''}`);
    for (const w of [...(r.rendered?.warnings ?? []), ...(r.warnings ?? [])]) out.push(`  warning: ${w}`);
  }
  if (report.renderNote) out.push(`note: ${report.renderNote}`);
  // chart text (names, files, warnings) reaches the terminal: one line each, controls escaped
  return out.map(escapeLine).join('\n');
}

function renderer(v: string | boolean | undefined): 'ferry' | 'helm' {
  if (v === undefined || v === 'ferry') return 'ferry';
  if (v === true || v === 'helm') return 'helm';
  throw new FerryError('USAGE', `--render ${String(v)}: expected ferry or helm`);
}

/** How a chart is rendered, as `helm template`'s flags say it (discovery's own options). */
type RenderFlags = Pick<DiscoverOptions, 'set' | 'setString' | 'kubeVersion' | 'apiVersions' | 'namespace' | 'releaseName'>;

/** The render flags as commander parses them, with the values files (read by the command). */
export interface RenderCliOptions extends RenderFlags {
  values?: string[];
}

/**
 * `-f/--values`, `--set`, `--set-string`, `--kube-version`, `--api-versions`, `-n/--namespace` and `--release-name`,
 * meaning what they mean to `helm template`: every command that renders a chart takes them alike.
 */
export function withRenderOptions(cmd: Command): Command {
  return cmd
    .option('-f, --values <file>', 'values file you deploy with, merged over the defaults (repeatable, later wins)', collect)
    .option('--set <key=value>', 'set values as helm --set does (repeatable: a.b=c,d[0]=e)', collect)
    .option('--set-string <key=value>', 'set string values as helm --set-string does (repeatable)', collect)
    .option('--kube-version <version>', `Kubernetes version for .Capabilities.KubeVersion (default ${DEFAULT_KUBE_VERSION})`)
    .option('--api-versions <group/version>', 'add to .Capabilities.APIVersions (repeatable, comma-separated), e.g. monitoring.coreos.com/v1', collect)
    .option('-n, --namespace <ns>', 'release namespace (.Release.Namespace)', 'default')
    .option('--release-name <name>', 'release name (.Release.Name)', 'release-name');
}

/** `--version` and `--chart`: a chart where it is published, as `helm template`/`helm pull` name it. */
export function withRemoteChartOptions(cmd: Command): Command {
  return cmd
    .option('--version <version>', 'with oci://… or --chart: the chart version (or a semver range: the newest match; default: the newest release)')
    .option('--chart <name>', 'with a repository URL (http(s)://…, its index.yaml): the chart to fetch, as `helm template --repo <url> <name>`')
    .option('--keyring <file>', "with a fetched chart: OpenPGP public keys (armored, or a binary keyring such as pubring.gpg) its provenance (.prov, an OCI chart's provenance layer) must be signed by, as `helm pull --verify --keyring`; checked before it is rendered, and its dependencies fetched from their repositories are held to it too");
}

/** The parsed render flags (all but the values files), as the renderer takes them; a bad --kube-version is a usage error. */
export function renderFlags(opts: RenderCliOptions): RenderFlags {
  if (opts.kubeVersion !== undefined) {
    try {
      parseKubeVersion(opts.kubeVersion);
    } catch {
      throw new FerryError('USAGE', `--kube-version ${opts.kubeVersion}: expected v<major>.<minor>[.<patch>], e.g. v1.29.0`);
    }
  }
  return { set: opts.set, setString: opts.setString, kubeVersion: opts.kubeVersion, apiVersions: opts.apiVersions, namespace: opts.namespace, releaseName: opts.releaseName };
}

export function register(program: Command): void {
  const charts = program.command('charts').description('Helm charts: inspect what they deploy');
  withNetOptions(
    withRenderOptions(
      withRemoteChartOptions(charts
        .command('images')
        .description('list every image a chart deploys, by rendering it as `helm template` does (chart directory, packaged .tgz, every chart of a manifest, or a chart fetched from oci://, a repository or a URL)')
        .argument('<chart>', 'chart directory, .tgz, manifest.yaml, oci://host/path/chart[:version|@sha256:…], a repository URL with --chart, or an https URL of a .tgz')),
    )
      .option('--image-path <jsonpath>', "a field of the rendered objects that holds images, as a Kubernetes JSONPath (a manifest chart entry's imagePaths:, e.g. \"{.spec.template.spec.containers[*].env[?(@.name == 'SIDECAR')].value}\"; repeatable)", collect)
      .option('--why', 'say where each image was found: rendered resource and field, template line, values key')
      .option('--render [renderer]', 'ferry (default): ferry\u2019s own renderer; helm: a helm binary on PATH (`--render` alone means helm)'),
  ).action(
    async (
      input: string,
      opts: CommonCliOptions & RenderCliOptions & { why?: boolean; render?: string | boolean; version?: string; chart?: string; keyring?: string; imagePath?: string[] },
    ) => {
      const report = await chartsImagesCommand(input, {
        values: opts.values ?? [],
        version: opts.version,
        chart: opts.chart,
        keyring: opts.keyring,
        imagePaths: opts.imagePath,
        ...renderFlags(opts),
        render: renderer(opts.render),
        ...netOptions(opts),
      });
      printResult(report, opts, (r) => human(r, Boolean(opts.why)));
    },
  );
}
