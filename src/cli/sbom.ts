import type { Command } from 'commander';
import { bundleSbom, SBOM_FORMATS } from '../commands/sbom.js';
import { note, printJsonText } from '../ui/output.js';
import { trustOptions, withTrustOptions, type CommonCliOptions } from './common.js';

/** `ferry sbom <bundle>`: CycloneDX 1.6 (default) or SPDX 2.3 JSON of everything the bundle carries. */
export function register(program: Command): void {
  withTrustOptions(program
    .command('sbom')
    .description('print the SBOM of a bundle: every image, chart, Debian package and file it carries (CycloneDX 1.6 or SPDX 2.3 JSON)')
    .argument('<bundle>', 'bundle .tar, or oci://registry/repository:tag (pushed with `ferry bundle push`)')
    .option('--format <format>', `${SBOM_FORMATS.join(' | ')}`, 'cyclonedx')
    .option('-o, --output <file>', 'write the SBOM to this file instead of stdout')
    .option('-q, --quiet', 'no summary on stderr'))
    .action(async (bundle: string, opts: { format: string; output?: string; quiet?: boolean } & Pick<CommonCliOptions, 'caFile' | 'certDir' | 'insecureRegistry'>) => {
      const r = await bundleSbom(bundle, opts.format, { net: trustOptions(opts), output: opts.output });
      if (r.output) {
        if (!opts.quiet) {
          const c = r.counts;
          const n = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;
          note(`wrote ${r.output} (${r.format}: ${n(c.images, 'image', 'images')} with ${n(c.platforms, 'platform manifest', 'platform manifests')}${c.attestations ? ` + ${n(c.attestations, 'attestation manifest', 'attestation manifests')}` : ''}, ${n(c.charts, 'chart', 'charts')}, ${n(c.debs, 'Debian package', 'Debian packages')}, ${n(c.files, 'file', 'files')})`);
        }
      } else {
        // Names from the bundle's lock: escaped as JSON (\u009b), not as \x9b, which breaks the JSON.
        printJsonText(r.text);
      }
    });
}
