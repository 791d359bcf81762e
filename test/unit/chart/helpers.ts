import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';

export interface ChartFixture {
  chart: Record<string, unknown>;
  values?: string;
  files?: Record<string, string>;
  subcharts?: Record<string, ChartFixture>;
}

/** Write a small chart directory (Chart.yaml, values.yaml, templates, vendored subcharts). */
export async function writeChart(dir: string, f: ChartFixture): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'Chart.yaml'), stringify({ apiVersion: 'v2', ...f.chart }));
  if (f.values !== undefined) await writeFile(path.join(dir, 'values.yaml'), f.values);
  for (const [rel, text] of Object.entries(f.files ?? {})) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), text);
  }
  for (const [name, sub] of Object.entries(f.subcharts ?? {})) await writeChart(path.join(dir, 'charts', name), sub);
  return dir;
}
