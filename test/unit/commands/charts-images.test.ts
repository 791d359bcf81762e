import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chartsImagesCommand } from '../../../src/commands/charts-images.js';
import { scratchDir, writeChart } from '../chart/helpers.js';

const tmp = scratchDir('ferry-charts-images-cmd-');

describe('chartsImagesCommand', () => {
  it('resolves the chart and the values files against the injected cwd, not the process\'s', async () => {
    await writeChart(path.join(tmp(), 'app'), { chart: { name: 'app', version: '1.0.0' }, values: 'image:\n  repository: ghcr.io/acme/app\n  tag: "1.0"\n' });
    await writeFile(path.join(tmp(), 'site.yaml'), 'image:\n  tag: "2.0"\n');
    expect(path.resolve('app')).not.toBe(path.join(tmp(), 'app'));
    const report = await chartsImagesCommand('app', { cwd: tmp(), values: ['site.yaml'] });
    expect(report.charts[0].source).toBe('app');
    expect(report.charts[0].images.map((i) => i.ref)).toEqual(['ghcr.io/acme/app:2.0']);
  });

  it('an oci:// reference (no file) is refused with how to get the chart on disk', async () => {
    const err = (await chartsImagesCommand('oci://registry.example.com/charts/web:1.2.0', { cwd: tmp(), values: [] }).then(
      () => undefined,
      (e: unknown) => e,
    )) as { message: string; hint?: string };
    expect(err.message).toContain('oci://registry.example.com/charts/web:1.2.0: no such chart directory, archive or manifest');
    expect(err.hint).toContain('helm pull oci://registry.example.com/charts/web --version 1.2.0');
    expect(err.hint).toContain('<charts.dir>/<name>-<version>.tgz');
  });
});
