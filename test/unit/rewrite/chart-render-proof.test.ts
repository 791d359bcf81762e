import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { discoverChartImages, findRenderedImages, userValues } from '../../../src/kinds/chart/discover.js';
import { loadChartDir } from '../../../src/kinds/chart/load.js';
import { renderChart } from '../../../src/kinds/chart/render/index.js';
import { LockSchema } from '../../../src/kinds/schema.js';
import { mapImage } from '../../../src/mapping/index.js';
import { rewriteChart } from '../../../src/rewrite/chart.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { CHARTS, cases, corpusPresent, CORPUS, GOLDEN } from '../chart/render/golden.js';
import { fixtureTarget } from './helpers.js';

// The measure for rewrite chart: on every corpus chart, with defaults and each values
// variant, the render with ferry's override runs zero images from upstream — each one exactly
// where the mapping puts it.
const sha = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');
const MIRROR_HOST = 'mirror.site.example:5000';

describe('rewrite chart: the override proven by rendering, over the corpus', () => {
  it('has the corpus (CI provides ../shared/corpus/charts)', () => {
    expect(corpusPresent(), `chart corpus missing at ${CORPUS}`).toBe(true);
  });

  for (const chart of CHARTS) {
    it(`${chart}: no image of the render with the override points upstream, defaults and variants`, async () => {
      const c = await cases(chart);
      const dir = path.join(CORPUS, chart);
      for (const [variant, v] of Object.entries(c.variants)) {
        const files = (v.values ?? []).map((f) => path.join(GOLDEN, chart, f));
        const users = [];
        for (const f of files) users.push(userValues(await readFile(f, 'utf8'), f));
        const render = { namespace: c.namespace, apiVersions: v.apiVersions };
        const loaded = await loadChartDir(dir, undefined, { allFiles: true });
        const found = discoverChartImages(loaded, { ...render, values: users }).images.filter((i) => i.certainty !== 'possible');
        const lock = LockSchema.parse({
          apiVersion: 'ferry/v1alpha1',
          kind: 'Lock',
          manifest: { name: chart, digest: sha(chart) },
          images: found.map((i) => ({ source: i.ref, ref: i.ref, digest: i.ref.split('@')[1] ?? sha(i.ref), mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] })),
        });
        const ctx = createRewriteContext(await fixtureTarget(), lock);
        const r = await rewriteChart(dir, ctx, { values: files, render });
        expect(r.unmapped, `${chart} ${variant}`).toEqual([]);
        const after = renderChart(loaded, { namespace: c.namespace, apiVersions: v.apiVersions, values: [...users.map((u) => ({ name: u.file, data: u.text! })), { name: 'override', data: r.overrideValues }] });
        const images = findRenderedImages(after.documents).filter((f) => f.certainty !== 'possible');
        expect(images.length).toBeGreaterThan(0);
        const m = { host: MIRROR_HOST, prefix: 'ferry', layout: 'nested' as const };
        const expected = [...new Set(found.map((i) => mapImage(i.ref, m).mirror))].sort();
        const upstream = images.filter((f) => !f.ref.startsWith(`${MIRROR_HOST}/`)).map((f) => `${f.ref} (${f.doc.kind} ${f.doc.name} ${f.fieldPath})`);
        console.log(`${chart} ${variant}: ${images.length} image fields rendered with the override, ${upstream.length} upstream; keys set: ${r.replacements.map((x) => x.where).join(', ')}`);
        expect(upstream, `${chart} ${variant}`).toEqual([]);
        expect([...new Set(images.map((f) => f.ref))].sort(), `${chart} ${variant}`).toEqual(expected);
      }
    });
  }
});
