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

  it('a path that is not there is refused with how to get a chart on disk; --version beside a path is refused, not dropped', async () => {
    const err = (await chartsImagesCommand('web-1.2.0.tgz', { cwd: tmp(), values: [] }).then(
      () => undefined,
      (e: unknown) => e,
    )) as { message: string; hint?: string };
    expect(err.message).toContain('web-1.2.0.tgz: no such chart directory, archive or manifest');
    expect(err.hint).toContain('<name>-<version>.tgz');
    await expect(chartsImagesCommand('app', { cwd: tmp(), values: [], version: '1.0.0' })).rejects.toThrow('--version: app is neither an oci:// reference nor a repository URL');
  });
});
