import type { Command } from 'commander';
import { chartsImagesCommand, type ChartsImagesReport } from '../kinds/chart/images-command.js';
import { printResult } from '../ui/output.js';
import { netOptions, withNetOptions, type CommonCliOptions } from './common.js';
import type { DiscoveredImage, ImageSource } from '../kinds/chart/discover.js';

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
      what = `${s.resource} ${s.fieldPath}${s.hook ? ` (hook: ${s.hook.join(',')})` : ''}`;
      break;
  }
  return `${s.chart}  ${at}  ${what}${s.certainty === 'possible' && s.reason ? `  [possible: ${s.reason}]` : ''}`;
}

function human(report: ChartsImagesReport, why: boolean): string {
  const out: string[] = [];
  for (const r of report.charts) {
    out.push(`${r.chart.name} ${r.chart.version}${r.source ? `  (${r.source})` : ''}`);
    const groups: Array<[string, DiscoveredImage[]]> = [
      ['certain', r.images.filter((i) => i.certainty === 'certain')],
      ['possible', r.images.filter((i) => i.certainty === 'possible')],
    ];
    for (const [label, list] of groups) {
      out.push(`  ${label} (${list.length})`);
      for (const img of list) {
        out.push(`    ${img.ref}`);
        if (why) for (const s of img.sources) out.push(`        ${describeSource(s)}`);
      }
    }
    if (r.renderedOnly?.length) {
      out.push(`  only in helm template (${r.renderedOnly.length})`);
      for (const ref of r.renderedOnly) out.push(`    ${ref}`);
    }
    for (const s of r.skippedSubcharts) out.push(`  skipped subchart ${s.chart}: ${s.reason}`);
    for (const d of r.missingDependencies) out.push(`  dependency ${d.dependency} ${d.version ?? ''} of ${d.chart} is not vendored${d.repository ? ` (from ${d.repository})` : ''}`);
  }
  if (report.renderNote) out.push(`note: ${report.renderNote}`);
  return out.join('\n');
}

export function register(program: Command): void {
  const charts = program.command('charts').description('Helm charts: inspect what they deploy');
  withNetOptions(
    charts
      .command('images')
      .description('list every image a chart deploys (chart directory, packaged .tgz, or every chart of a manifest)')
      .argument('<chart>', 'chart directory, .tgz, or manifest.yaml')
      .option('--values <file>', 'values file you deploy with, merged over the defaults (repeatable, later wins)', collect)
      .option('--why', 'say where each image was found: chart, file, values key or template line')
      .option('--render', 'also run `helm template` when a helm binary is on PATH, and say what only it found'),
  ).action(async (input: string, opts: CommonCliOptions & { values?: string[]; why?: boolean; render?: boolean }) => {
    const report = await chartsImagesCommand(input, { values: opts.values ?? [], render: Boolean(opts.render), ...netOptions(opts) });
    printResult(report, opts, (r) => human(r, Boolean(opts.why)));
  });
}
