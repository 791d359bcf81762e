// The rewrite passes' harness: for each job (JSON lines {id, chart, values: [files], ns?, kube?, api?: []}),
// lock the chart as `ferry lock` does (discovery with the job's values: certain images, imageValues,
// possible and test images), run `rewrite chart` and `rewrite values` (the chart's values.yaml and the
// job's files), render each override with the independent Go renderer (chartrender -images) and sort
// every image it lists: on the mirror at a locked image's place, named by ferry's output (unmapped or
// a warning), or a LEAK (neither) / WRONG (a mirror reference no locked image maps to).
//
// Run (bundled, from a worktree):
//   node_modules/.bin/esbuild scripts/oracle/rewrite-pass.ts --bundle --platform=node --format=esm \
//     --outfile=/tmp/rw.mjs --banner:js="import { createRequire } from 'module'; const require = createRequire(import.meta.url);"
//   node /tmp/rw.mjs JOBS.jsonl OUT_DIR CHARTRENDER [filter]
// Writes OUT_DIR/<id>.rw.json and prints one line a job.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { discoverChartImages, userValues } from '../../src/kinds/chart/discover.js';
import { loadChart } from '../../src/kinds/chart/load.js';
import { imageValuesOf } from '../../src/kinds/chart/lock.js';
import { LockSchema } from '../../src/kinds/schema.js';
import { MirrorTargetSchema } from '../../src/manifest/target.js';
import { normalizeImageReference, parseImageReference } from '../../src/oci/reference.js';
import { rewriteChart } from '../../src/rewrite/chart.js';
import { createRewriteContext, type RewriteContext } from '../../src/rewrite/context.js';
import { rewriteValues } from '../../src/rewrite/values.js';

interface Job {
  id: string;
  chart: string;
  values: string[];
  ns?: string;
  kube?: string;
  api?: string[];
}

const [jobsFile, outDir, chartrender, only] = process.argv.slice(2);
if (!jobsFile || !outDir || !chartrender) throw new Error('usage: rewrite-pass JOBS.jsonl OUT_DIR CHARTRENDER [filter]');
mkdirSync(outDir, { recursive: true });
const jobs: Job[] = readFileSync(jobsFile, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as Job)
  .filter((j) => !only || j.id.includes(only));
// The oracle passes' kube.json beside the jobs: a job's Kubernetes version when the job names none.
const kubeFile = path.join(path.dirname(jobsFile), 'kube.json');
const kubeOf: Record<string, string> = existsSync(kubeFile) ? (JSON.parse(readFileSync(kubeFile, 'utf8')) as Record<string, string>) : {};
for (const j of jobs) j.kube ??= kubeOf[j.id];
const target = MirrorTargetSchema.parse({ apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 'site' }, registry: { url: 'https://mirror.site.example:5000', prefix: 'ferry', layout: 'nested' } });
const sha = (t: string) => 'sha256:' + createHash('sha256').update(t).digest('hex');

function lockFor(job: Job): { ctx: RewriteContext; lockError?: string; certain: string[] } {
  const chart = loadChartSync.get(job.chart)!;
  const values = job.values.map((f) => userValues(readFileSync(f, 'utf8'), f));
  let images: string[] = [];
  let possible: string[] = [];
  let tests: string[] = [];
  let imageValues: Record<string, unknown> = {};
  let lockError: string | undefined;
  try {
    const d = discoverChartImages(chart, { values, kubeVersion: job.kube, apiVersions: job.api, namespace: job.ns });
    images = d.images.filter((i) => i.certainty === 'certain').map((i) => i.ref);
    possible = d.images.filter((i) => i.certainty === 'possible').map((i) => i.ref);
    tests = d.images.filter((i) => i.certainty === 'test').map((i) => i.ref);
    imageValues = imageValuesOf(d.images);
  } catch (e) {
    lockError = (e as Error).message;
  }
  const pinned = (r: string) => r.split('@')[1] ?? sha(r);
  const lock = LockSchema.parse({
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'x', digest: sha('x') },
    images: images.map((r) => ({ source: r, ref: r, digest: pinned(r), mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] })),
    charts: [
      {
        name: chart.metadata.name,
        version: chart.metadata.version,
        repo: 'https://charts.example',
        requested: chart.metadata.version,
        source: 'http',
        digest: sha('c'),
        size: 1,
        images,
        ...(images.length || tests.length ? { imageValues } : {}),
        ...(possible.length ? { possibleImages: possible } : {}),
        ...(tests.length ? { testImages: tests } : {}),
      },
    ],
  });
  return { ctx: createRewriteContext(target, lock), lockError, certain: images };
}
const loadChartSync = new Map<string, Awaited<ReturnType<typeof loadChart>>>();

function goImages(job: Job, extra: string[]): { ok: boolean; images: string[]; err?: string } {
  const args = [job.chart, '-images', ...job.values.flatMap((f) => ['-f', f]), ...extra.flatMap((f) => ['-f', f])];
  for (const a of job.api ?? []) args.push('-api-versions', a);
  if (job.kube) args.push('-kube-version', job.kube);
  if (job.ns) args.push('-namespace', job.ns);
  try {
    const out = execFileSync(chartrender, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000, maxBuffer: 1 << 28 });
    return { ok: true, images: out.split('\n').map((l) => l.trim()).filter(Boolean) };
  } catch (e) {
    const err = String((e as { stderr?: string }).stderr ?? e).trim().split('\n').slice(-1)[0];
    return { ok: false, images: [], err };
  }
}

/** Each image of the render: mirror (at a locked image's mirror place), named, LEAK or WRONG. */
function classify(images: string[], ctx: RewriteContext, said: string) {
  const mirrorOf = new Map<string, string>();
  for (const l of ctx.lock.images ?? []) {
    const m = ctx.lookupImage(l.ref);
    if (m.status === 'mapped') mirrorOf.set(normalizeImageReference(m.mirror), l.ref);
  }
  const mirrorRepos = new Map<string, string[]>();
  for (const [m] of mirrorOf) {
    const r = parseImageReference(m);
    const k = `${r.registry}/${r.repository}`;
    mirrorRepos.set(k, [...(mirrorRepos.get(k) ?? []), m]);
  }
  const out = { mirror: [] as string[], named: [] as string[], leak: [] as string[], wrong: [] as string[] };
  for (const img of images) {
    let n: string;
    try {
      n = normalizeImageReference(img);
    } catch {
      if (said.includes(img)) out.named.push(img);
      else out.leak.push(`${img} (no reference)`);
      continue;
    }
    const r = parseImageReference(n);
    const onMirror = r.registry === 'mirror.site.example:5000';
    if (onMirror) {
      const cands = mirrorRepos.get(`${r.registry}/${r.repository}`) ?? [];
      const hit = cands.some((c) => {
        const cr = parseImageReference(c);
        return (r.digest && cr.digest === r.digest) || (!r.digest && (cr.tag ?? 'latest') === (r.tag ?? 'latest'));
      });
      if (hit) out.mirror.push(img);
      else {
        // A mirror place no locked image is at (a shared registry key moved an image the lock does
        // not carry): named when ferry names that image upstream.
        const up = `${r.repository.replace(/^ferry\//, '').replace(/^docker\.io\//, '')}:${r.tag ?? 'latest'}`;
        (said.includes(up) ? out.named : out.wrong).push(img);
      }
      continue;
    }
    const short = `${r.repository.replace(/^library\//, '')}${r.tag ? `:${r.tag}` : ''}`;
    if (said.includes(img) || said.includes(n) || said.includes(short)) out.named.push(img);
    else out.leak.push(img);
  }
  return out;
}

for (const job of jobs) {
  const res: Record<string, unknown> = { id: job.id };
  const t0 = Date.now();
  try {
    if (!loadChartSync.has(job.chart)) loadChartSync.set(job.chart, await loadChart(job.chart, { allFiles: true }));
    const { ctx, lockError, certain } = lockFor(job);
    res.lockError = lockError;
    res.locked = certain.length;
    const plain = goImages(job, []);
    res.goOk = plain.ok;
    if (!plain.ok) res.goErr = plain.err;
    // Each command's override rendered by the Go renderer, its images sorted against what it said.
    const check = async (mode: 'chart' | 'values', run: () => Promise<{ override?: string; unmapped: unknown[]; warnings: string[] }>) => {
      try {
        const r = await run();
        const f = path.join(outDir, `${job.id}.${mode}-override.yaml`);
        writeFileSync(f, r.override ?? '{}\n');
        const said = JSON.stringify(r.unmapped) + '\n' + r.warnings.join('\n');
        res[`${mode}Said`] = said.slice(0, 4000);
        if (!plain.ok) return;
        const g = goImages(job, [f]);
        res[mode] = g.ok ? classify(g.images, ctx, said) : { goErr: g.err };
      } catch (e) {
        res[`${mode}Error`] = (e as Error).message;
      }
    };
    await check('chart', () => rewriteChart(job.chart, ctx, { values: job.values, allowUnmapped: true, dryRun: true, render: { namespace: job.ns, kubeVersion: job.kube, apiVersions: job.api } }));
    // rewrite values: the chart's values.yaml and the job's files
    const files = [path.join(job.chart, 'values.yaml'), ...job.values].filter((f) => existsSync(f));
    if (files.length) await check('values', () => rewriteValues(files, ctx, { allowUnmapped: true, dryRun: true }));
  } catch (e) {
    res.error = (e as Error).message;
  }
  res.ms = Date.now() - t0;
  writeFileSync(path.join(outDir, `${job.id}.rw.json`), JSON.stringify(res, null, 1));
  const c = res.chart as { leak?: string[]; wrong?: string[]; named?: string[]; mirror?: string[] } | undefined;
  const v = res.values as { leak?: string[]; wrong?: string[]; named?: string[]; mirror?: string[] } | undefined;
  const fmt = (x?: { leak?: string[]; wrong?: string[]; named?: string[]; mirror?: string[] }) => (x?.mirror ? `m${x.mirror.length} n${x.named!.length} L${x.leak!.length} W${x.wrong!.length}` : '-');
  console.log(job.id, res.goOk ? 'go-ok' : 'go-ERR', 'chart', fmt(c), 'values', fmt(v), res.chartError ? 'CHART-ERR' : '', res.ms);
}
