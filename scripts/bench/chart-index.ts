// Chart repository index benchmark (run through scripts/bench/chart-index.sh): a Helm-style
// index.yaml of the size public repositories reach, served by nginx on loopback; ferry's
// streamed read of one chart's versions against a full YAML parse of the same file, and
// image discovery over the chart corpus.
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { HttpClient } from '../../src/net/http.js';
import { readIndexEntries } from '../../src/kinds/chart/repo-http.js';
import { loadChartDir } from '../../src/kinds/chart/load.js';
import { discoverChartImages } from '../../src/kinds/chart/discover.js';
import { startStaticServer } from '../../test/support/chart-repo.js';

const charts = Number(process.argv[2] ?? 4000);
const versions = Number(process.argv[3] ?? 25);
const corpus = process.argv[4];
const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-index-'));
const out: string[] = ['apiVersion: v1', 'entries:'];
for (let c = 0; c < charts; c++) {
  out.push(`  chart-${c}:`);
  for (let v = versions; v > 0; v--) {
    out.push('  - annotations:', '      category: Infrastructure', '    apiVersion: v2', `    appVersion: 1.${v}.0`, '    created: "2026-01-01T00:00:00Z"');
    out.push('    description: A chart', `    digest: ${'a'.repeat(64)}`, '    home: https://example.com', `    name: chart-${c}`, '    urls:', `    - https://charts.example.com/chart-${c}-1.${v}.0.tgz`, `    version: 1.${v}.0`);
  }
}
out.push('generated: "2026-01-01T00:00:00Z"');
await writeFile(path.join(dir, 'index.yaml'), out.join('\n') + '\n');
const size = (await readFile(path.join(dir, 'index.yaml'))).length;
const server = await startStaticServer(dir);
const http = new HttpClient();
const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
try {
  const wanted = `chart-${Math.floor(charts * 0.9)}`;
  let t = performance.now();
  const entries = await readIndexEntries(http, server.url, wanted);
  console.log(JSON.stringify({ step: 'ferry streamed index read', indexBytes: size, chart: wanted, versions: entries.length, ms: Math.round(performance.now() - t), heapUsed: mb(process.memoryUsage().heapUsed) }));
  if (size < 64e6) {
    t = performance.now();
    const doc = parseYaml(await readFile(path.join(dir, 'index.yaml'), 'utf8')) as { entries: Record<string, unknown[]> };
    console.log(JSON.stringify({ step: 'baseline: full YAML parse', versions: doc.entries[wanted].length, ms: Math.round(performance.now() - t), heapUsed: mb(process.memoryUsage().heapUsed) }));
  }
  if (corpus) {
    t = performance.now();
    let images = 0;
    for (const name of ['cert-manager', 'external-dns', 'ingress-nginx', 'keycloak', 'mysql-operator', 'nats', 'postgres-operator']) {
      images += discoverChartImages(await loadChartDir(path.join(corpus, name))).images.length;
    }
    console.log(JSON.stringify({ step: 'discovery over the 7 corpus charts', images, ms: Math.round(performance.now() - t) }));
  }
} finally {
  await http.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
