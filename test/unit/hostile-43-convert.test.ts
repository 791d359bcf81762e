import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCommand } from '../../src/commands/convert.js';
import { writeTree } from '../support/convert-output.js';

/**
 * hostile43: `ferry convert helmfile` follows a release's local chart into its Chart.yaml
 * dependencies. A crafted helmfile naming one local chart from thousands of releases made each
 * release read that Chart.yaml again (up to the walk's 64 files) and repeat a note per
 * dependency per release: 270 KB of input gave a 33 MB manifest, 10 s, 470 MB. A local chart's
 * dependencies are read once per state now; each release still says what its chart brings.
 */

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile43-convert-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('convert helmfile: a local chart named by many releases is read once', () => {
  it('300 releases of one local chart with 200 dependencies: one note per dependency, not per release', async () => {
    const releases = ['releases:', ...Array.from({ length: 300 }, (_, i) => `- {name: r${i}, chart: ./c}`)].join('\n');
    const deps = ['apiVersion: v2', 'name: c', 'version: 1.0.0', 'dependencies:', ...Array.from({ length: 200 }, (_, i) => `- {name: d${i}, repository: 'https://charts.example/c'}`), "- {name: s, repository: 'file://../shared'}"].join('\n');
    const dir = await writeTree(path.join(work, 'many'), {
      'helmfile.yaml': `${releases}\n`,
      'c/Chart.yaml': `${deps}\n`,
      'shared/Chart.yaml': "apiVersion: v2\nname: shared\nversion: 1.0.0\ndependencies:\n- {name: e, repository: 'https://charts.example/e', version: 2.0.0}\n",
    });
    const r = await convertCommand('helmfile', ['helmfile.yaml'], { cwd: dir });
    const charts = r.manifest.charts as Array<{ name: string; version: string }>;
    expect(charts).toHaveLength(201);
    expect(charts.find((c) => c.name === 'e')?.version).toBe('2.0.0');
    const noVersion = r.changed.filter((n) => n.item.startsWith('dependencies: d0 '));
    expect(noVersion).toHaveLength(1);
    // Every release says what its chart brings, none that the walk's file limit was reached.
    const local = r.changed.filter((n) => n.item === 'chart: ./c');
    expect(local).toHaveLength(300);
    expect(local.every((n) => n.why.includes('the 201 charts its Chart.yaml depends on are carried'))).toBe(true);
    // The chart is rendered once for its images (convert48): each release names the chart as not carried, each dependency not vendored is named once.
    expect(r.notCarried.filter((n) => n.item === 'chart: ./c' && n.why.includes('a local chart'))).toHaveLength(300);
    expect(r.notCarried.filter((n) => n.item.startsWith('chart: ./c dependency d0 '))).toHaveLength(1);
    expect(r.notCarried.some((n) => n.why.includes('files read in all'))).toBe(false);
  }, 60_000);
});
