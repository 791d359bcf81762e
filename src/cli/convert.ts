import type { Command } from 'commander';
import { convertCommand, type ConvertFormat, type ConvertOptions, type ConvertResult } from '../commands/convert.js';
import { FerryError } from '../errors.js';
import { escapeLine } from '../ui/escape.js';
import { note, printResult } from '../ui/output.js';

interface ConvertCliOptions {
  output?: string;
  force?: boolean;
  name?: string;
  set?: string[];
  flavor?: string;
  arch?: string;
  environment?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function parseSets(sets: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new FerryError('USAGE', `--set ${JSON.stringify(s)}: write NAME=value`, { hint: 'NAME is the template\'s name after ###ZARF_PKG_TMPL_, as zarf package create --set takes it.' });
    out[s.slice(0, eq).toUpperCase()] = s.slice(eq + 1);
  }
  return out;
}

/** Not carried on stderr (with --json too: they are in the JSON as well), then the result. */
function report(r: ConvertResult, opts: ConvertCliOptions): void {
  for (const n of r.notCarried) note(`not carried: ${escapeLine(n.place)}: ${escapeLine(n.item)}: ${escapeLine(n.why)}.\n  hint: ${escapeLine(n.todo)}`);
  for (const n of r.changed) note(`note: ${escapeLine(n.place)}: ${escapeLine(n.item)}: ${escapeLine(n.why)}.\n  hint: ${escapeLine(n.todo)}`);
  const c = r.counts;
  const summary = `${c.images} image${c.images === 1 ? '' : 's'}, ${c.charts} chart${c.charts === 1 ? '' : 's'}, ${c.files} file${c.files === 1 ? '' : 's'}; ${r.notCarried.length} not carried`;
  if (!r.output) {
    printResult({ ...r, text: undefined }, opts, () => r.text);
    if (!opts.json) note(summary);
    return;
  }
  printResult({ ...r, text: undefined }, opts, () => `wrote ${escapeLine(r.output!)} (${summary})`);
}

export function register(program: Command): void {
  const convert = program.command('convert').description('write a ferry manifest from a Zarf package (zarf.yaml), Hauler manifests, an oc-mirror ImageSetConfiguration or a helmfile, naming what has no equivalent');
  const common = (cmd: Command) =>
    cmd
      .option('-o, --output <file>', 'write the manifest to this file (default: print it)')
      .option('--force', 'replace the output file when it exists')
      .option('--name <name>', 'metadata.name of the manifest (default: the source\'s name)')
      .option('--json', 'print the result as JSON (the manifest, what was not carried and why)');
  // One action for every format: the common options, and what the format adds (`extra`).
  const sub = (format: ConvertFormat, cmd: Command, extra: (opts: ConvertCliOptions) => Partial<ConvertOptions> = () => ({})) =>
    common(cmd).action(async (files: string[], opts: ConvertCliOptions) => {
      report(await convertCommand(format, files, { output: opts.output, force: opts.force, name: opts.name, ...extra(opts) }), opts);
    });
  sub(
    'zarf',
    convert
      .command('zarf')
      .description('convert zarf.yaml files (zarf.dev/v1alpha1, v1beta1): images, charts from HTTP or OCI repositories, the images of local charts, files from URLs')
      .argument('<zarf.yaml...>', 'Zarf package definitions (several make one manifest)')
      .option('--set <NAME=value>', 'value of a package template ###ZARF_PKG_TMPL_NAME### (repeatable), as zarf package create --set', collect)
      .option('--flavor <flavor>', 'convert the components of this flavor (only.flavor), as zarf package create --flavor')
      .option('--arch <arch>', 'the package\'s architecture (###ZARF_PKG_ARCH###, the linux/<arch> images are pulled for, only.cluster.architecture), as zarf package create --architecture; default: metadata.architecture'),
    (opts) => ({ set: parseSets(opts.set), flavor: opts.flavor, arch: opts.arch }),
  );
  sub(
    'hauler',
    convert
      .command('hauler')
      .description('convert Hauler manifests (content.hauler.cattle.io/v1 Images, Charts, Files)')
      .argument('<manifest...>', 'Hauler manifest files, one or more documents each (several make one manifest)'),
  );
  sub(
    'oc-mirror',
    convert
      .command('oc-mirror')
      .description('convert an oc-mirror ImageSetConfiguration (mirror.openshift.io/v2alpha1, v1alpha2): additional images, Helm repository charts, operator catalog images (their bundles are not resolved); OpenShift releases are not carried')
      .argument('<imageset-config.yaml...>', 'ImageSetConfiguration files (several make one manifest)'),
  );
  sub(
    'helmfile',
    convert
      .command('helmfile')
      .description('convert a helmfile (helmfile.yaml, .gotmpl): releases become charts (repositories: HTTP or oci: true, oci://) with their version and values files; bases: and helmfiles: followed inside its directory; templates resolved only when they name a value of the environment')
      .argument('<helmfile.yaml...>', 'helmfile state files (several make one manifest)')
      .option('-e, --environment <name>', 'the helmfile environment whose values templates are read with, as helmfile --environment', 'default'),
    (opts) => ({ environment: opts.environment }),
  );
}
