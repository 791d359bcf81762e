import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { discoverChartImages } from '../../../src/kinds/chart/discover.js';
import { loadChart } from '../../../src/kinds/chart/load.js';
import { LockSchema } from '../../../src/kinds/schema.js';
import { mapImage } from '../../../src/mapping/index.js';
import { parseValuesPath, rewriteChart } from '../../../src/rewrite/chart.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { fixtureTarget } from './helpers.js';

/**
 * For every chart of the shared corpus: lock what discovery finds as certain (what `ferry lock`
 * bundles), produce the override, merge it over the defaults, discover again. No image the
 * values deploy may still point upstream, each must land exactly where the mapping puts it, and
 * the override may set nothing but image keys.
 */
const CORPUS = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../../shared/corpus/charts');
const charts = existsSync(CORPUS) ? readdirSync(CORPUS).filter((d) => existsSync(path.join(CORPUS, d, 'Chart.yaml'))).sort() : [];
const sha = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');
const IMAGE_KEYS = new Set(['registry', 'repository', 'image', 'digest']);

describe('rewrite chart over the corpus', () => {
  it('the corpus is present (CI has it)', () => {
    expect(charts.length, `no charts under ${CORPUS}`).toBeGreaterThanOrEqual(7);
  });

  for (const name of charts) {
    it(`${name}: the override leaves no values-deployed image upstream and touches nothing else`, async () => {
      const dir = path.join(CORPUS, name);
      const chart = await loadChart(dir);
      const before = discoverChartImages(chart);
      const certain = before.images.filter((i) => i.certainty === 'certain');
      const lock = LockSchema.parse({
        apiVersion: 'ferry/v1alpha1',
        kind: 'Lock',
        manifest: { name, digest: sha(name) },
        images: certain.map((i) => ({ source: i.ref, ref: i.ref, digest: i.ref.split('@')[1] ?? sha(i.ref), mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] })),
      });
      const target = await fixtureTarget();
      const ctx = createRewriteContext(target, lock);
      const out = path.join(os.tmpdir(), `ferry-corpus-${name}-${process.pid}.yaml`);
      const r = await rewriteChart(dir, ctx, { output: out });
      const override = parse(await readFile(out, 'utf8'));
      expect(r.unmapped).toEqual([]);

      const after = discoverChartImages(chart, { values: [{ file: 'override.yaml', values: override }] });
      const deployedBefore = certain.filter((i) => i.sources.some((s) => s.kind === 'values'));
      expect(deployedBefore.length, 'discovery found images in the values').toBeGreaterThan(0);
      const deployedAfter = after.images.filter((i) => i.certainty === 'certain' && i.sources.some((s) => s.kind === 'values')).map((i) => i.ref);
      // Every image the values deploy now resolves to exactly its mapped mirror location.
      const m = { host: 'mirror.site.example:5000', prefix: 'ferry', layout: 'nested' as const };
      const expected = deployedBefore.map((i) => mapImage(i.ref, m).mirror).sort();
      expect(deployedAfter.filter((ref) => ref.startsWith('mirror.site.example:5000/')).sort()).toEqual(expected);
      for (const ref of deployedAfter) expect(ref.startsWith('mirror.site.example:5000/'), `${ref} still upstream`).toBe(true);

      // Nothing but image keys: each leaf is a sub-key of a discovered image map, a string image
      // value, the registry key discovery says supplied the registry, or Bitnami's substitution guard.
      const allowed = new Set<string>(['global.security.allowInsecureImages']);
      for (const img of before.images) {
        for (const s of img.sources) {
          if (s.kind !== 'values' || !s.valuesPath) continue;
          if (s.form === 'string') allowed.add(s.valuesPath);
          else for (const k of IMAGE_KEYS) allowed.add(`${s.valuesPath}.${k}`);
          if (s.registryFrom) allowed.add(s.registryFrom);
        }
      }
      const leaves: string[] = [];
      const walk = (v: unknown, p: string[]) => {
        if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
        else leaves.push(p.join('.'));
      };
      walk(override, []);
      expect(leaves.length).toBeGreaterThan(0);
      for (const leaf of leaves) expect(allowed.has(leaf), `override sets ${leaf}`).toBe(true);
      // The report names every key it set.
      expect(r.replacements.map((x) => x.where).sort()).toEqual([...leaves].sort());
    });
  }

  it('parses the key paths discovery writes', () => {
    expect(parseValuesPath('a.b["c.d"][2].e')).toEqual(['a', 'b', 'c.d', 2, 'e']);
  });
});
