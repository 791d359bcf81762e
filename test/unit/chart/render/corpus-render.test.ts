import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHARTS, cases, compareStreams, corpusPresent, CORPUS, formatRendered, GOLDEN, renderVariant } from './golden.js';

// ferry's renderer against goldens made by an independent Go renderer (generate.sh in
// test/fixtures/charts/render): every document of every corpus chart, defaults and variants.
describe('renderer against the Go oracle over the chart corpus', () => {
  it('has the corpus (CI provides ../shared/corpus/charts)', () => {
    expect(corpusPresent(), `chart corpus missing at ${CORPUS}: set FERRY_CHART_CORPUS or provide ../shared/corpus/charts`).toBe(true);
  });

  for (const chart of CHARTS) {
    it(`${chart}: every rendered object equals the golden, for defaults and each variant`, async () => {
      const c = await cases(chart);
      expect(Object.keys(c.variants).length).toBeGreaterThanOrEqual(3);
      for (const variant of Object.keys(c.variants)) {
        const golden = await readFile(path.join(GOLDEN, chart, `${variant}.rendered.yaml`), 'utf8');
        const { result } = await renderVariant(chart, variant);
        const problems = compareStreams(formatRendered(result), golden, c.ignore);
        expect(problems, `${chart} ${variant}`).toEqual([]);
        // the same documents, in the same order helm template prints them
        const order = (s: string) => [...s.matchAll(/^# Source: (.*)$/gm)].map((m) => m[1]);
        expect(order(formatRendered(result)), `${chart} ${variant} order`).toEqual(order(golden));
        // with nothing random in the chart, the very text helm template prints
        if (!c.ignore) expect(formatRendered(result), `${chart} ${variant} text`).toBe(golden.split('\n').slice(3).join('\n'));
      }
    });
  }
});
