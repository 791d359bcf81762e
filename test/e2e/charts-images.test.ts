import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runFerry } from '../support/cli.js';

/** `ferry charts images` as a user runs it on the corpus charts (no helm binary involved). */
const CORPUS = process.env.FERRY_CHART_CORPUS ?? path.resolve(ROOT, '../shared/corpus/charts');
let work: string;

beforeAll(async () => {
  if (!existsSync(CORPUS)) throw new Error(`chart corpus missing at ${CORPUS} (set FERRY_CHART_CORPUS)`);
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-chart-images-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('ferry charts images', () => {
  it('--why prints certain and possible images with chart, file, line and values key', async () => {
    const r = await runFerry(['charts', 'images', path.join(CORPUS, 'keycloak'), '--why']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const certainAt = lines.findIndex((l) => l.trim().startsWith('certain (2)'));
    const possibleAt = lines.findIndex((l) => l.trim().startsWith('possible (3)'));
    expect(certainAt).toBeGreaterThan(0);
    expect(possibleAt).toBeGreaterThan(certainAt);
    expect(r.stdout).toContain('keycloak > postgresql  charts/postgresql/values.yaml:121  values postgresql.image {registry, repository, tag, digest}');
    expect(r.stdout).toMatch(/docker\.io\/bitnami\/os-shell:12-debian-12-r51\n.*\[possible: postgresql\.volumePermissions\.enabled is false\]/);
  });

  it('--values files merge over the defaults (global.imageRegistry, a disabled subchart) and provenance names them', async () => {
    const values = path.join(work, 'site.yaml');
    await writeFile(values, 'global:\n  imageRegistry: registry.site.internal\npostgresql:\n  enabled: false\nimage:\n  tag: 26.3.4\n');
    const r = await runFerry(['charts', 'images', path.join(CORPUS, 'keycloak'), '--values', values, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { charts: Array<{ images: Array<{ ref: string; certainty: string; sources: Array<{ overrides?: Record<string, string>; registryFrom?: string }> }>; skippedSubcharts: Array<{ chart: string; reason: string }> }> };
    const c = report.charts[0];
    expect(c.images.filter((i) => i.certainty === 'certain').map((i) => i.ref)).toEqual(['registry.site.internal/bitnami/keycloak:26.3.4']);
    expect(c.skippedSubcharts).toEqual([{ chart: 'keycloak > postgresql', reason: 'condition postgresql.enabled is false' }]);
    const src = c.images[0].sources[0];
    expect(src.registryFrom).toBe('global.imageRegistry');
    expect(src.overrides).toEqual({ tag: `${values}:6` });
  });

  it('a path that is not a chart is a usage error naming it', async () => {
    const r = await runFerry(['charts', 'images', path.join(work, 'nope')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('nope');
  });
});
