import type { Command } from 'commander';
import { renderReportHtml } from '../audit/render-html.js';
import { buildReport, writeReport } from '../commands/report.js';
import { escapeLine } from '../ui/escape.js';
import { note, printResult } from '../ui/output.js';
import { counted } from '../ui/count.js';
import { trustOptions, withTrustOptions, type CommonCliOptions } from './common.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

interface ReportCliOptions extends Pick<CommonCliOptions, 'caFile' | 'certDir' | 'insecureRegistry'> {
  bundle?: string;
  audit?: string[];
  target?: string;
  cacheDir?: string;
  output?: string;
  json?: boolean;
}

export function register(program: Command): void {
  withTrustOptions(program
    .command('report')
    .description('one self-contained HTML page for people: zone diagram, checklist, audit findings, bundle contents, inventory')
    .argument('[manifest]', 'manifest file (default with --bundle: the manifest the bundle was made from, inside it)')
    .option('--bundle <tar>', 'also show what this bundle carries (a .tar or oci://…)')
    .option('--audit <path>', 'audit these files or directories and show the findings (repeatable)', collect)
    .option('-t, --target <file>', 'mirror target for the audit (where carried artifacts live)')
    .option('--cache-dir <dir>', 'download cache holding the locked chart archives (default ~/.cache/ferry/store, as ferry lock)')
    .option('-o, --output <file>', 'HTML file to write (default: print the HTML)')
    .option('--json', 'print the report data as JSON (the page is still written with -o)'))
    .action(async (manifest: string | undefined, opts: ReportCliOptions) => {
      const data = await buildReport(manifest, { bundle: opts.bundle, audit: opts.audit, target: opts.target, cacheDir: opts.cacheDir, net: trustOptions(opts) });
      for (const w of data.warnings) note(`warning: ${escapeLine(w)}`);
      if (!opts.output) {
        printResult(data, { json: opts.json }, () => renderReportHtml(data));
        return;
      }
      const written = await writeReport(data, opts.output);
      const a = data.audit;
      const parts = [counted(data.inventory.zones.length, 'zone'), counted(data.inventory.matrix.length, 'flow'), counted(data.inventory.endpoints.length, 'external endpoint')];
      if (a) parts.push(`audit: ${counted(a.findings.length, 'reference')}, ${a.summary.undeclared} undeclared`);
      if (data.bundle) parts.push(`bundle: ${counted(data.bundle.artifacts.length, 'artifact')}`);
      printResult(data, { json: opts.json }, () => `wrote ${escapeLine(opts.output!)} (${Math.ceil(written.bytes / 1024)} KiB): ${parts.join(', ')}`);
    });
}
