import { Option, type Command } from 'commander';
import { FerryError } from '../errors.js';
import { createProgress, type Progress } from '../ui/progress.js';
import { DEFAULT_CONCURRENCY } from '../net/concurrency.js';

export interface CommonCliOptions {
  json?: boolean;
  quiet?: boolean;
  concurrency?: string;
  caFile?: string[];
  certDir?: string;
  insecureRegistry?: string[];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Options every reporting command shares; `quiet` says what --quiet leaves out for this command. */
export function withOutputOptions(cmd: Command, quiet = 'no progress on stderr'): Command {
  return cmd.option('--json', 'print machine-readable JSON on stdout').option('-q, --quiet', quiet);
}

/** How to trust a registry: extra CAs, plain-HTTP hosts (also for reading `oci://` bundles). */
export function withTrustOptions(cmd: Command): Command {
  return cmd
    .option('--ca-file <pem>', 'extra CA certificates (repeatable); SSL_CERT_FILE and NODE_EXTRA_CA_CERTS are honoured too', collect)
    .option('--cert-dir <dir>', 'directory of *.crt CAs and <name>.cert + <name>.key client certificate for every registry, as skopeo\'s --cert-dir (default: <host:port> under ~/.config/containers/certs.d, /etc/containers/certs.d, /etc/docker/certs.d)')
    .option('--insecure-registry <host>', 'allow plain HTTP to this registry host (repeatable; loopback is allowed by default)', collect);
}

/** Options of commands that talk to registries and download hosts. */
export function withNetOptions(cmd: Command): Command {
  return withTrustOptions(withOutputOptions(cmd).addOption(new Option('--concurrency <n>', 'parallel transfers').default(String(DEFAULT_CONCURRENCY))));
}

/** The network settings `withTrustOptions` gives (no concurrency). */
export function trustOptions(opts: Pick<CommonCliOptions, 'caFile' | 'certDir' | 'insecureRegistry'>) {
  return { caFiles: opts.caFile, certDir: opts.certDir, plainHttpHosts: opts.insecureRegistry };
}

export function concurrencyOf(opts: CommonCliOptions): number {
  const n = Number(opts.concurrency ?? DEFAULT_CONCURRENCY);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new FerryError('USAGE', `--concurrency ${opts.concurrency}: must be an integer from 1 to 64`);
  return n;
}

export function progressFor(opts: CommonCliOptions): Progress {
  return createProgress({ json: opts.json, quiet: opts.quiet });
}

export function netOptions(opts: CommonCliOptions) {
  const debug = Boolean(process.env.FERRY_DEBUG) || process.argv.includes('--debug');
  return {
    ...trustOptions(opts),
    concurrency: concurrencyOf(opts),
    log: debug ? (line: string) => void process.stderr.write(`http: ${line}\n`) : undefined,
  };
}

/**
 * Examples shown at the end of each command's --help, by command path. Kept here, in one
 * place, so every page has them without touching each command's file; the test walks every
 * command and fails on one without examples.
 */
export const EXAMPLES: Record<string, string[]> = {
  '': [
    'ferry lock manifest.yaml                               # pin tags to digests → <metadata.name>.lock.json',
    'ferry bundle create manifest.yaml -o app.ferry.tar     # fetch, verify and pack everything',
    'ferry bundle verify app.ferry.tar                      # on the other side of the gap',
    'ferry import app.ferry.tar -t site.yaml                # into the mirror the target names',
    'ferry rewrite values values.yaml -t site.yaml --bundle app.ferry.tar -o mirror.yaml',
    'ferry audit deploy/ --manifest manifest.yaml -t site.yaml --fail-on unmapped',
  ],
  bundle: ['ferry bundle create manifest.yaml -o app.ferry.tar', 'ferry bundle verify app.ferry.tar'],
  charts: ['ferry charts images ./my-chart --why'],
  rewrite: [
    'ferry rewrite values values.yaml -t site.yaml --bundle app.ferry.tar -o mirror.yaml',
    'ferry rewrite manifests k8s/ -t site.yaml --lock manifest.lock.json --dry-run',
    'ferry rewrite apt-sources /etc/apt/sources.list -t site.yaml --bundle app.ferry.tar',
  ],
  lock: ['ferry lock manifest.yaml                      # writes <metadata.name>.lock.json beside it', 'ferry lock manifest.yaml -o locks/app.lock.json', 'ferry lock manifest.yaml --check                # CI: exit 1 when the committed lock does not match the manifest', 'ferry lock manifest.yaml --ca-file corp-ca.pem --json', 'ferry lock manifest.yaml --cert-dir ./harbor-certs    # ca.crt, client.cert, client.key (mutual TLS)'],
  'bundle create': [
    'ferry bundle create manifest.yaml -o app.ferry.tar',
    'ferry bundle create manifest.yaml -o app.ferry.tar --frozen      # only the committed lock, never re-resolve',
    'ferry bundle create manifest.yaml -o app.ferry.tar --sign-key bundle-signing.key',
    'ferry bundle create manifest.yaml -o app-2.ferry.tar --since app-1.lock.json   # only what changed',
    'ferry bundle create manifest.yaml -o app.ferry.tar --split-size 4G             # parts that fit the media',
    'ferry bundle create manifest.yaml --shard 2/4 --cache oci://registry.example.com/ferry-cache',
  ],
  'bundle verify': [
    'ferry bundle verify app.ferry.tar',
    'ferry bundle verify app.ferry.tar --key bundle-signing.pub     # also require the signature',
    'ferry bundle verify oci://registry.example.com/bundles/app:2024-06',
    'ferry bundle verify app-2.ferry.tar --base app-1.ferry.tar      # a differential and its base: complete together?',
  ],
  'bundle split': [
    'ferry bundle split app.ferry.tar --split-size 4G                      # app.ferry.tar.001 … and app.ferry.tar.parts',
    'ferry bundle split app.ferry.tar.parts --split-size 700M -o app-cd.ferry.tar   # a split bundle again, at another size',
  ],
  'bundle push': ['ferry bundle push app.ferry.tar oci://registry.example.com/bundles/app:2024-06'],
  'bundle pull': ['ferry bundle pull oci://registry.example.com/bundles/app:2024-06 -o app.ferry.tar   # the same bytes back'],
  import: ['ferry import app.ferry.tar -t site.yaml', 'ferry import app.ferry.tar -t site.yaml --key bundle-signing.pub --ca-file site-ca.pem',
    'ferry import app.ferry.tar -t site.yaml --cert-dir ./site-certs   # ca.crt, client.cert, client.key for the target (mutual TLS)',
  ],
  map: ['ferry map app.ferry.tar -t site.yaml', 'ferry map manifest.yaml -t site.yaml --json      # uses the <metadata.name>.lock.json beside it'],
  'charts images': [
    'ferry charts images ./my-chart --why',
    'ferry charts images nats-1.2.3.tgz --values prod-values.yaml',
    'ferry charts images manifest.yaml --json    # every chart the manifest names',
    'ferry charts images oci://registry.example.com/charts/web --version 1.2.0      # fetched, verified, its digest printed',
    'ferry charts images https://nats-io.github.io/k8s/helm/charts --chart nats --version 1.2.3',
  ],
  serve: [
    'ferry serve app.ferry.tar                                  # http://127.0.0.1:5000, pull only',
    'ferry serve ./mirror --listen 0.0.0.0:5000 -t site.yaml    # a directory target, named as the target maps it',
    'ferry serve app.ferry.tar --tls-cert tls.crt --tls-key tls.key --verify',
  ],
  'rewrite values': [
    'ferry rewrite values values.yaml -t site.yaml --bundle app.ferry.tar -o mirror.yaml   # then: helm -f values.yaml -f mirror.yaml',
    'ferry rewrite values values.yaml -t site.yaml --lock manifest.lock.json --in-place --dry-run',
  ],
  'rewrite chart': [
    'ferry rewrite chart ./my-chart -t site.yaml --lock manifest.lock.json -o mirror.yaml',
    'ferry rewrite chart nats-1.2.3.tgz --values prod.yaml -t site.yaml --bundle app.ferry.tar',
    'ferry rewrite chart oci://mirror.site.internal/charts/web --version 1.2.0 -t site.yaml --lock manifest.lock.json -o mirror.yaml',
  ],
  'rewrite manifests': ['ferry rewrite manifests k8s/ -t site.yaml --lock manifest.lock.json --dry-run', 'ferry rewrite manifests deploy.yaml -t site.yaml --bundle app.ferry.tar'],
  'rewrite catalogue': ['ferry rewrite catalogue images.json -t site.yaml --lock manifest.lock.json -o images.mirror.json'],
  'rewrite apt-sources': ['ferry rewrite apt-sources /etc/apt/sources.list.d/debian.sources -t site.yaml --bundle app.ferry.tar --dry-run'],
  'mirror-config': ['ferry mirror-config containerd -t site.yaml --bundle app.ferry.tar -o certs.d/', 'ferry mirror-config registries-conf -t site.yaml --lock manifest.lock.json'],
  inventory: ['ferry inventory manifest.yaml', 'ferry inventory manifest.yaml --format csv > connections.csv'],
  firewall: ['ferry firewall manifest.yaml --format nftables', 'ferry firewall manifest.yaml --format networkpolicy --enable install', 'ferry firewall manifest.yaml --json'],
  audit: ['ferry audit deploy/ --manifest manifest.yaml -t site.yaml', 'ferry audit values.yaml k8s/ --manifest manifest.yaml -t site.yaml --fail-on unmapped    # exit 5 on findings (CI)'],
  probe: ['ferry probe manifest.yaml --zone cluster', 'ferry probe manifest.yaml --proxy http://proxy.corp:3128 --fail-on unexpected,inconclusive', 'ferry probe manifest.yaml --fail-on unexpected --json > probe.json'],
  report: ['ferry report manifest.yaml -o report.html', 'ferry report manifest.yaml --bundle app.ferry.tar --audit deploy/ -t site.yaml -o report.html'],
  sbom: ['ferry sbom app.ferry.tar > sbom.cdx.json', 'ferry sbom app.ferry.tar --format spdx -o sbom.spdx.json'],
  convert: ['ferry convert zarf zarf.yaml -o manifest.yaml', 'ferry convert hauler hauler-manifest.yaml -o manifest.yaml', 'ferry convert oc-mirror imageset-config.yaml -o manifest.yaml', 'ferry convert helmfile helmfile.yaml -o manifest.yaml'],
  'convert zarf': ['ferry convert zarf zarf.yaml -o manifest.yaml', 'ferry convert zarf zarf.yaml --flavor upstream --set IMAGE_TAG=1.4.2 -o manifest.yaml', 'ferry convert zarf base/zarf.yaml addons/zarf.yaml -o manifest.yaml --force'],
  'convert hauler': ['ferry convert hauler hauler-manifest.yaml -o manifest.yaml', 'ferry convert hauler images.yaml charts.yaml files.yaml --name site -o manifest.yaml'],
  'convert helmfile': ['ferry convert helmfile helmfile.yaml -o manifest.yaml', 'ferry convert helmfile helmfile.yaml.gotmpl --environment production -o manifest.yaml'],
  'convert oc-mirror': ['ferry convert oc-mirror imageset-config.yaml -o manifest.yaml', 'ferry convert oc-mirror imageset-config.yaml --json > converted.json'],
  schema: ['ferry schema manifest > manifest.schema.json    # for editor completion', 'ferry schema target'],
};

/** A command's path below the program: `bundle create`, `lock`; '' for the program itself. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

const allCommands = (cmd: Command): Command[] => [cmd, ...cmd.commands.flatMap(allCommands)];

/**
 * Conventions every command follows, applied once after registration (so no command file has
 * to remember them):
 * - examples at the end of --help;
 * - a mirror target is `-t, --target` wherever one is taken;
 * - a usage error prints the error and one line pointing at --help, not the whole help page.
 */
export function applyCliConventions(program: Command): void {
  for (const cmd of allCommands(program)) {
    const at = commandPath(cmd);
    const examples = EXAMPLES[at];
    if (examples) cmd.addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}\n`);
    const target = cmd.options.find((o) => o.long === '--target');
    if (target && !target.short && !cmd.options.some((o) => o.short === '-t')) {
      target.short = '-t';
      target.flags = `-t, ${target.flags}`;
    }
    // commander does not mark a required option in --help; a newcomer should not learn it from an error.
    for (const o of cmd.options) if (o.mandatory && !o.description.endsWith('(required)')) o.description = `${o.description} (required)`;
    const what = cmd.commands.length ? 'the commands' : 'the options';
    cmd.showHelpAfterError(`Run \`ferry${at ? ` ${at}` : ''} --help\` for ${what} and examples.`);
  }
}
