import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { discoverChartImages, normalizeRef, userValues } from '../../../../src/kinds/chart/discover.js';
import { loadChartDir } from '../../../../src/kinds/chart/load.js';
import { CHARTS, cases, corpusPresent, CORPUS, GOLDEN } from './golden.js';

// The measure: on every corpus chart, defaults and each variant, the images ferry reports
// as deployed equal the images in the rendered output (the Go oracle's image list, tags included),
// and no certain image is absent from the render.
async function oracleImages(chart: string, variant: string): Promise<Array<{ ref: string; resource: string; path: string; source: string }>> {
  const text = await readFile(path.join(GOLDEN, chart, `${variant}.images.tsv`), 'utf8');
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [raw, resource, p, source] = l.split('\t');
      return { ref: normalizeRef(raw)!, resource, path: p, source };
    });
}

describe('discovery from rendered objects over the chart corpus', () => {
  it('has the corpus (CI provides ../shared/corpus/charts)', () => {
    expect(corpusPresent(), `chart corpus missing at ${CORPUS}: set FERRY_CHART_CORPUS or provide ../shared/corpus/charts`).toBe(true);
  });

  for (const chart of CHARTS) {
    it(`${chart}: deployed images equal the rendered ones, for defaults and each variant`, async () => {
      const c = await cases(chart);
      for (const [variant, v] of Object.entries(c.variants)) {
        const values = [];
        for (const f of v.values ?? []) values.push(userValues(await readFile(path.join(GOLDEN, chart, f), 'utf8'), f));
        const t0 = performance.now();
        const loaded = await loadChartDir(path.join(CORPUS, chart), undefined, { allFiles: true });
        const result = discoverChartImages(loaded, { values, namespace: c.namespace, apiVersions: v.apiVersions });
        const ms = Math.round(performance.now() - t0);
        const oracle = await oracleImages(chart, variant);
        const rendered = [...new Set(oracle.map((o) => o.ref))].sort();
        // like for like: what the oracle lists is every `image:` field (and Prometheus baseImage)
        const deployed = result.images
          .filter((i) => i.certainty !== 'possible' && i.sources.some((s) => s.kind === 'rendered' && s.certainty !== 'possible' && /(^|\.)(image|baseImage)$/.test(s.fieldPath ?? '')))
          .map((i) => i.ref)
          .sort();
        const missed = rendered.filter((r) => !deployed.includes(r));
        const extra = deployed.filter((r) => !rendered.includes(r));
        const certain = result.images.filter((i) => i.certainty === 'certain');
        const handed = certain.filter((i) => !deployed.includes(i.ref)).map((i) => i.ref);
        console.log(`${chart} ${variant}: rendered ${rendered.length}, found ${deployed.length}, missed ${missed.length}, extra ${extra.length}; also certain (handed to operators) ${handed.length}; possible ${result.images.filter((i) => i.certainty === 'possible').length}; ${ms} ms`);
        expect(missed, `${chart} ${variant}: rendered but not found`).toEqual([]);
        expect(extra, `${chart} ${variant}: found but not rendered`).toEqual([]);
        // every certain image is in the rendered output, each with its resource, field and template line
        for (const img of certain) {
          const s = img.sources.find((x) => x.kind === 'rendered');
          expect(s, `${img.ref} has a rendered source`).toBeDefined();
          expect(s!.resource).toMatch(/\S+ \S+ \S+/);
          expect(s!.fieldPath).toMatch(/\S/);
          expect(s!.file).toMatch(/^(charts\/[^/]+\/)*templates\//);
          expect(s!.line, `${img.ref} ${s!.file} line`).toBeGreaterThan(0);
        }
        // test hooks are their own class
        for (const o of oracle.filter((x) => x.resource.includes(' Pod ') && x.source.includes('/tests/'))) {
          const img = result.images.find((i) => i.ref === o.ref)!;
          expect(img.sources.some((s) => s.role === 'test-hook' && s.certainty === 'test'), `${o.ref} from a test hook`).toBe(true);
        }
      }
    });
  }
});
