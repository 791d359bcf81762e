// The ferry side of an oracle pass (scripts/oracle/pass.mjs bundles and runs it): for each job
// (JSON lines {id, chart, values: [files], ns?, name?, kube?, api?: []}) render the chart with ferry, read the
// oracle's two renders (OUT/ID.cr.yaml, ID.cr2.yaml, ID.cr.json), mask the fields that differ between
// those two (random passwords, generated names), match documents by source, kind and name and write
// OUT/ID.ferry.yaml and OUT/ID.ferry.json ({ok, error, crOk, crErr, images, crImages, diffs, docs,
// order, randomFields}); one line a job on stdout.
//   node pass-ferry.mjs JOBS.jsonl OUT [filter]
import { readFileSync, writeFileSync } from 'node:fs';
import { loadChart } from '../../src/kinds/chart/load.js';
import { renderChart, formatRendered, documentsFromHelmOutput, type RenderedDocument } from '../../src/kinds/chart/render/index.js';
import { findRenderedImages } from '../../src/kinds/chart/discover/rendered.js';

const [jobsFile, outDir, only] = process.argv.slice(2);
const crDir = outDir;
const jobs = readFileSync(jobsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((j) => !only || j.id.includes(only));
function canon(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map(canon);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])]));
  return v;
}
function firstDiff(a: unknown, b: unknown, p = ''): string | undefined {
  if (JSON.stringify(a) === JSON.stringify(b)) return undefined;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) { const d = firstDiff((a as any)[k], (b as any)[k], `${p}.${k}`); if (d) return d; }
  }
  return `${p}: ferry=${JSON.stringify(a)?.slice(0, 200)} oracle=${JSON.stringify(b)?.slice(0, 200)}`;
}
const imgs = (docs: RenderedDocument[]) => [...new Set(findRenderedImages(docs).filter((f) => f.certainty !== 'possible').map((f) => `${f.ref}${f.role === 'test-hook' ? ' (test)' : ''}`))].sort();
for (const j of jobs) {
  const t0 = Date.now();
  const res: Record<string, unknown> = { id: j.id };
  let fdocs: RenderedDocument[] | undefined;
  try {
    const chart = await loadChart(j.chart, { allFiles: true });
    const r = renderChart(chart, {
      values: (j.values ?? []).map((f: string) => ({ name: f, data: readFileSync(f, 'utf8') })),
      namespace: j.ns, releaseName: j.name, kubeVersion: j.kube, apiVersions: j.api,
    });
    fdocs = r.documents;
    res.ok = true; res.warnings = r.warnings; res.kube = r.kubeVersion;
    writeFileSync(`${outDir}/${j.id}.ferry.yaml`, formatRendered(r));
    res.images = imgs(fdocs);
  } catch (e) {
    res.ok = false; res.error = String((e as Error).message ?? e);
  }
  res.ms = Date.now() - t0;
  const cr = JSON.parse(readFileSync(`${crDir}/${j.id}.cr.json`, 'utf8'));
  res.crOk = cr.rc === 0; // the oracle's error from its last `Error` line to the end (a `fail` message may hold newlines)
  const crLines = String(cr.stderr).trim().split('\n');
  const crAt = crLines.findLastIndex((l: string) => l.startsWith('Error'));
  res.crErr = cr.rc === 0 ? undefined : crAt >= 0 ? crLines.slice(crAt).join('\n') : crLines.filter((l: string) => l.includes('error')).slice(-1)[0] ?? cr.stderr.trim().slice(-300);
  if (fdocs && res.crOk) {
    const crText = readFileSync(`${crDir}/${j.id}.cr.yaml`, 'utf8');
    let cdocs: RenderedDocument[] = [];
    try { cdocs = documentsFromHelmOutput(crText); } catch (e) { res.crParse = String(e); }
    res.crImages = imgs(cdocs);
    let c2docs: RenderedDocument[] = [];
    try { c2docs = documentsFromHelmOutput(readFileSync(`${crDir}/${j.id}.cr2.yaml`, 'utf8')); } catch { /* */ }
    const k0 = (d: RenderedDocument) => `${d.source} ${d.kind ?? ''}/${d.name ?? ''}`;
    const group = (docs: RenderedDocument[], key: (d: RenderedDocument) => string) => { const m = new Map<string, any[]>(); for (const d of docs) { if (d.object === null) continue; const k = key(d); (m.get(k) ?? m.set(k, []).get(k)!).push(canon(d.object)); } return m; };
    const g1 = group(cdocs, k0), g2 = group(c2docs, k0);
    const randomNamed = new Set<string>();
    for (const k of new Set([...g1.keys(), ...g2.keys()])) if (!g1.has(k) || !g2.has(k)) randomNamed.add(k.replace(/\/[^/]*$/, ''));
    const key = (d: RenderedDocument) => { const sk = `${d.source} ${d.kind ?? ''}`; return randomNamed.has(sk) ? `${sk}/<random>` : k0(d); };
    const mask = (o: any, p: string[]) => { let x = o; for (let i = 0; i < p.length - 1; i++) { if (x == null || typeof x !== 'object') return; x = x[p[i]]; } if (x && typeof x === 'object' && p[p.length - 1] in x) x[p[p.length - 1]] = '<random>'; };
    const diffPaths = (a: any, b: any, p: string[], out: string[][]) => {
      if (JSON.stringify(a) === JSON.stringify(b)) return;
      if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b) && (!Array.isArray(a) || a.length === b.length)) { for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diffPaths(a[k], b[k], [...p, k], out); return; }
      out.push(p);
    };
    const h1 = group(cdocs, key), h2 = group(c2docs, key);
    const rand = new Map<string, string[][]>();
    for (const [k, a] of h1) { const b = h2.get(k) ?? []; const out: string[][] = []; if (randomNamed.has(k.replace(/\/[^/]*$/, ''))) out.push(['metadata', 'name']); for (let i = 0; i < Math.min(a.length, b.length); i++) diffPaths(a[i], b[i], [], out); if (out.length) rand.set(k, out); }
    const fm = group(fdocs, key), cm = h1;
    for (const m of [fm, cm]) for (const [k, list] of m) for (const o of list) for (const p of rand.get(k) ?? []) mask(o, p);
    res.randomFields = [...rand.values()].reduce((n, x) => n + x.length, 0);
    const diffs: string[] = [];
    for (const k of new Set([...fm.keys(), ...cm.keys()])) {
      const a = fm.get(k) ?? [], b = cm.get(k) ?? [];
      if (a.length !== b.length) { diffs.push(`${k}: count ferry=${a.length} oracle=${b.length}`); continue; }
      const sa = a.map((x) => JSON.stringify(x)), sb = b.map((x) => JSON.stringify(x));
      for (let i = 0; i < a.length; i++) if (sa[i] !== sb[i]) { const bi = sb.indexOf(sa[i]); if (bi < 0) diffs.push(`${k}: ${firstDiff(a[i], b[i])}`); }
    }
    res.docs = [fdocs.length, cdocs.length];
    res.diffs = diffs;
    res.order = JSON.stringify(fdocs.filter((d) => d.object !== null).map(key)) === JSON.stringify(cdocs.filter((d) => d.object !== null).map(key));
  }
  writeFileSync(`${outDir}/${j.id}.ferry.json`, JSON.stringify(res));
  console.log(j.id, res.ok ? 'ok' : 'ERR', res.crOk ? 'ok' : 'ERR', res.diffs ? (res.diffs as string[]).length : '-', res.ms);
}
