import semver from 'semver';
import { stringify as stringifyYaml } from 'yaml';
import { mapChartHttp } from '../../mapping/index.js';
import { ANNOTATION } from '../../store/source.js';
import { addServedPath, answer, type ServedEntry } from '../file/serve.js';
import type { ServeRoute, ServeRouteContext } from '../serve-route.js';
import { ChartTree, readChartArtifact, type ChartArtifact } from './import.js';

/** Where `ferry serve` puts the HTTP chart repository: `<server>/charts/index.yaml` and the archives beside it. */
export const CHARTS_PREFIX = '/charts/';

/**
 * Serve every chart of a bundle or layout as an HTTP chart repository, as import writes
 * `charts.dir`: `<name>-<version>.tgz` (and `.prov`), and an `index.yaml` listing them with
 * relative urls, so `helm repo add site http://<serve>/charts` works from any address ferry
 * serve is reached by. The charts stay served as OCI artifacts under /v2/ too.
 */
export async function chartServeRoutes(ctx: ServeRouteContext): Promise<ServeRoute[]> {
  const paths = new Map<string, ServedEntry>();
  const entries = new Map<string, Array<Record<string, unknown> & { version: string }>>();
  // Import's rule: one archive per `<name>-<version>.tgz`. A name two different archives claim
  // serves neither (a client would get the other's bytes, or a digest index.yaml does not list).
  const tree = new ChartTree();
  const charts: Array<{ a: ChartArtifact; file: string; artifact: string }> = [];
  const clashed = new Set<string>();
  for (const top of ctx.index.manifests) {
    if (top.annotations?.[ANNOTATION.kind] !== 'chart') continue;
    const artifact = top.annotations?.[ANNOTATION.refName] ?? top.digest;
    let a;
    let file: string;
    try {
      a = await readChartArtifact(top, ctx.source);
      file = mapChartHttp(a.meta.name, a.meta.version, { baseUrl: 'http://ferry.invalid' }).path;
    } catch (err) {
      ctx.warnings.push(`chart ${artifact}: cannot be served over HTTP (${(err as Error).message}); still served as an OCI artifact if its manifest is sound`);
      continue;
    }
    const clash = tree.placeChart(a, artifact);
    if (clash.length) {
      ctx.warnings.push(`chart ${artifact}: ${clash.join('; ')}: neither is served over HTTP; both are still served as OCI artifacts`);
      clashed.add(file);
      continue;
    }
    charts.push({ a, file, artifact });
  }
  for (const { a, file, artifact } of charts) {
    if (clashed.has(file) || paths.has(file)) continue;
    if (!addServedPath(ctx, paths, file, { digest: a.chart.digest, size: a.chart.size }, `chart ${artifact}`)) continue;
    if (a.prov) paths.set(`${file}.prov`, { digest: a.prov.digest, size: a.prov.size });
    const { name, version, ...meta } = a.meta;
    const list = entries.get(name) ?? [];
    list.push({ apiVersion: 'v2', ...meta, name, version, urls: [file], digest: a.chart.digest.slice('sha256:'.length) });
    entries.set(name, list);
  }
  if (!paths.size) return [];
  // Deterministic: charts by name, each one's versions newest first (as Helm sorts them).
  const byVersion = (x: { version: string }, y: { version: string }) => {
    const vx = semver.valid(x.version);
    const vy = semver.valid(y.version);
    if (vx && vy) return semver.rcompare(vx, vy);
    return x.version < y.version ? 1 : x.version > y.version ? -1 : 0;
  };
  const index = {
    apiVersion: 'v1',
    entries: Object.fromEntries([...entries.keys()].sort().map((n) => [n, entries.get(n)!.sort(byVersion)])),
  };
  paths.set('index.yaml', { bytes: Buffer.from(stringifyYaml(index, { lineWidth: 0 })) });
  return [
    {
      prefix: CHARTS_PREFIX,
      handle: (req, res, rest) => answer(ctx, req, res, paths.get(rest), rest === 'index.yaml' ? 'application/yaml' : rest.endsWith('.tgz') ? 'application/gzip' : 'application/octet-stream'),
    },
  ];
}
