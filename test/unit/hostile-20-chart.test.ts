import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

/**
 * Hostile pass 20, chart directories that follow symbolic links (src/kinds/chart/load.ts).
 *
 * What tripped:
 * - The walk's bound (20 000 entries, 100 MiB) held for one directory, but every `charts/` entry
 *   started a fresh one: 5 000 subcharts linked to one directory were 5 000 whole loads of it (a
 *   directory of 100 MiB linked so was 500 GB read).
 * - A file the walk saw was stat()ed, then read by name: swapped for a FIFO in between (a link
 *   re-pointed), readFile waited forever (for /dev/zero it grew without bound). Now it is opened
 *   once without blocking and checked through that descriptor.
 * Fault injection: readdir is wrapped to swap a file for a FIFO right after it is listed.
 */
const swapAfterList = new Map<string, string>();
vi.mock('node:fs/promises', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:fs/promises')>();
  const readdir = (async (p: string, o: unknown) => {
    const got = await (orig.readdir as (p: string, o: unknown) => Promise<unknown>)(p, o);
    const victim = swapAfterList.get(path.resolve(String(p)));
    if (victim) {
      swapAfterList.delete(path.resolve(String(p)));
      await orig.unlink(victim);
      execFileSync('mkfifo', [victim]);
    }
    return got;
  }) as typeof orig.readdir;
  return { ...orig, default: { ...orig, readdir }, readdir };
});
const { loadChartDir } = await import('../../src/kinds/chart/load.js');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h20-chart-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const chartYaml = (name: string) => `apiVersion: v2\nname: ${name}\nversion: 1.0.0\n`;

describe('a chart directory from outside', () => {
  it('5 000 subcharts linked to one directory share one bound, and are refused', { timeout: 120_000 }, async () => {
    const root = path.join(dir, 'many');
    const lib = path.join(dir, 'lib');
    await mkdir(path.join(lib, 'templates'), { recursive: true });
    await writeFile(path.join(lib, 'Chart.yaml'), chartYaml('lib'));
    for (const f of ['a', 'b', 'c', 'd']) await writeFile(path.join(lib, 'templates', `${f}.yaml`), 'kind: ConfigMap\n');
    await mkdir(path.join(root, 'charts'), { recursive: true });
    await writeFile(path.join(root, 'Chart.yaml'), chartYaml('many'));
    for (let i = 0; i < 5000; i++) await symlink(lib, path.join(root, 'charts', `s${i}`));
    await expect(loadChartDir(root)).rejects.toThrow(/more than 20,000 files and directories under the chart directory \(at [^)]*\), its vendored subcharts counted with it/);
  });

  it('a file swapped for a FIFO after the walk listed it is not read (no hang)', { timeout: 20_000 }, async () => {
    const root = path.join(dir, 'swap');
    await mkdir(path.join(root, 'templates'), { recursive: true });
    await writeFile(path.join(root, 'Chart.yaml'), chartYaml('swap'));
    await writeFile(path.join(root, 'templates', 'x.yaml'), 'kind: ConfigMap\n');
    swapAfterList.set(path.join(root, 'templates'), path.join(root, 'templates', 'x.yaml'));
    const chart = await loadChartDir(root, 'swap', { allFiles: true });
    expect(chart.metadata.name).toBe('swap');
    expect(chart.files.has('templates/x.yaml')).toBe(false);
    await unlink(path.join(root, 'templates', 'x.yaml'));
  });
});
