import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { stringify } from 'yaml';
import { FerryError } from '../../../src/errors.js';
import { loadChart } from '../../../src/kinds/chart/load.js';
import { renderChart } from '../../../src/kinds/chart/render/index.js';

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

/** A temporary directory made before the file's tests and removed after them (registers vitest hooks). */
export function scratchDir(prefix: string): () => string {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), prefix));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });
  return () => tmp;
}

/**
 * Charts written one per call under a temporary directory made before the file's tests and
 * removed after them (registers vitest hooks: call at the top of a test file).
 */
export function scratchCharts(prefix: string) {
  const tmp = scratchDir(prefix);
  let n = 0;
  return async function chartWith(files: Record<string, string>, values = 'x: 1\n') {
    const name = `c${++n}`;
    const dir = await writeChart(path.join(tmp(), name), { chart: { name, version: '1.0.0' }, values, files });
    return loadChart(dir, { allFiles: true });
  };
}

/** Rendering fails with a VALIDATION FerryError matching `problem`. */
export function refuses(chart: Awaited<ReturnType<typeof loadChart>>, problem: RegExp): void {
  let err: unknown;
  try {
    renderChart(chart);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FerryError);
  expect((err as FerryError).code, (err as Error).message).toBe('VALIDATION');
  expect((err as Error).message).toMatch(problem);
}
