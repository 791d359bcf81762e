import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create as tarCreate } from 'tar';
import { discoverChartImages } from '../../../src/kinds/chart/discover.js';
import { loadChartArchive, loadChartDir } from '../../../src/kinds/chart/load.js';
import { ROOT } from '../../support/cli.js';

// The real, unmodified public charts in ../shared/corpus/charts (see SOURCES.md there).
const CORPUS = process.env.FERRY_CHART_CORPUS ?? path.resolve(ROOT, '../shared/corpus/charts');
const CHARTS = ['cert-manager', 'external-dns', 'ingress-nginx', 'keycloak', 'mysql-operator', 'nats', 'postgres-operator'];

async function expected(chart: string): Promise<string[]> {
  const text = await readFile(path.join(ROOT, 'test/fixtures/charts', `${chart}.expected.txt`), 'utf8');
  const lines = text.split('\n').map((l) => l.trim());
  expect(lines[0].startsWith('#'), `${chart}.expected.txt starts with a line saying how it was derived`).toBe(true);
  return lines.filter((l) => l && !l.startsWith('#')).sort();
}

describe('image discovery over the chart corpus', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-corpus-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('has the corpus (CI provides ../shared/corpus/charts)', () => {
    expect(existsSync(CORPUS), `chart corpus missing at ${CORPUS}: set FERRY_CHART_CORPUS or provide ../shared/corpus/charts`).toBe(true);
  });

  for (const name of CHARTS) {
    it(`${name}: finds every image of the default install, each with provenance`, async () => {
      const want = await expected(name);
      const chart = await loadChartDir(path.join(CORPUS, name), undefined, { allFiles: true });
      const result = discoverChartImages(chart, name === 'mysql-operator' ? { namespace: 'mysql-operator' } : {});
      const certain = result.images.filter((i) => i.certainty === 'certain').map((i) => i.ref);
      const all = result.images.map((i) => i.ref);
      const missing = want.filter((w) => !certain.includes(w));
      const extras = certain.filter((c) => !want.includes(c));
      // The figures the report quotes: found (certain), expected, extras (certain but not expected), possible.
      console.log(`${name}: found ${certain.length}, expected ${want.length}, recall ${want.length - missing.length}/${want.length}, extras ${extras.length}${extras.length ? ` (${extras.join(', ')})` : ''}, possible ${all.length - certain.length}`);
      expect(missing, `${name}: expected images not found as certain`).toEqual([]);
      for (const img of result.images) {
        expect(img.sources.length, `${img.ref} has provenance`).toBeGreaterThan(0);
        for (const s of img.sources) {
          expect(s.file, `${img.ref} source names a file`).toMatch(/\S/);
          expect(s.chart.startsWith(chart.metadata.name)).toBe(true);
          if (s.kind === 'values') expect(s.valuesPath).toMatch(/\S/);
          if (s.certainty === 'possible') expect(s.reason).toMatch(/\S/);
        }
      }
      expect(extras.length, `${name}: extras ${extras.join(', ')}`).toBeLessThanOrEqual(1);
    });
  }

  it('a packaged archive (helm package layout, tar+gzip) gives the same findings as the directory', async () => {
    const file = path.join(tmp, 'keycloak-25.4.0.tgz');
    await tarCreate({ gzip: true, file, cwd: CORPUS, portable: true }, ['keycloak']);
    const fromTgz = discoverChartImages(await loadChartArchive(file, { allFiles: true }));
    const fromDir = discoverChartImages(await loadChartDir(path.join(CORPUS, 'keycloak'), undefined, { allFiles: true }));
    expect(fromTgz.images.map((i) => [i.ref, i.certainty])).toEqual(fromDir.images.map((i) => [i.ref, i.certainty]));
    const pg = fromTgz.images.find((i) => i.ref.includes('postgresql:'))!;
    expect(pg.sources.find((s) => s.kind === 'values')!.valuesPath).toBe('postgresql.image');
    expect(pg.sources.find((s) => s.kind === 'rendered')!.resource).toBe('apps/v1 StatefulSet default/release-name-postgresql');
  });
});
