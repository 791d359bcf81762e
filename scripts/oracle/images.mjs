// The `images` mode of an oracle pass (`node scripts/oracle/pass.mjs WORK --step images`): image
// DISCOVERY compared, not rendering. For each job of WORK/jobs.jsonl (the `default`, `enable-all`
// and hand-written sets; not the `@KUBE` repeats) it runs
//
//   - the oracle: `chartrender CHART -images-verbose -indirect-images -include-crds` (every `image`
//     string, Prometheus-operator's baseImage, `--*image*=REF` args and `*IMAGE*` env, CRD files too)
//   - ferry as a user does: `node dist/ferry.mjs charts images CHART --json` (build first)
//
// and compares the references normalised (docker.io/library/ prefix, `:latest` for an untagged one):
// WORK/images/ID.json holds both lists with where each was found; the summary prints one line per
// difference:
//
//   MISS ID REF (oracle PATH)          the oracle reads it, ferry lists nothing: a recall bug until shown otherwise
//   WEAK ID REF (oracle PATH)          ferry lists it only as possible, the oracle as an image
//   EXTRA ID REF (ferry PATH)          ferry lists it certain (or test), the oracle does not: a precision bug
//                                      until shown otherwise (ferry's wider rules: `*Image` keys, image
//                                      maps, Istio's injector, operator hand-overs without the word image)
//   INVALID ID WARNING                 a rendered container image that is no reference (the oracle lists
//                                      the string, ferry warns; MISS for it is that warning's case)
//   and a count of ferry's possible-only images (values keys no render deploys: ferry's documented choice).
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { parse: parseYaml, stringify: stringifyYaml } = await import(path.join(root, 'node_modules/yaml/dist/index.js'));

/**
 * A chart whose dependencies the `charts` step could not vendor is compared as the oracle renders
 * it, without them: a copy whose Chart.yaml no longer lists them (ferry, as Helm, would otherwise
 * fetch them, and this machine has no network). WORK/images-charts/<id>.
 */
function withoutMissing(work, chartsById, j) {
  const c = chartsById.get(path.basename(j.chart));
  if (!c?.missing?.length) return j;
  const dir = path.join(work, 'images-charts', path.basename(j.chart));
  if (!existsSync(dir)) {
    cpSync(j.chart, dir, { recursive: true });
    const file = path.join(dir, 'Chart.yaml');
    const meta = parseYaml(readFileSync(file, 'utf8'));
    const present = (name) => existsSync(path.join(dir, 'charts', name)) || (existsSync(path.join(dir, 'charts')) && readdirSync(path.join(dir, 'charts')).some((f) => f.startsWith(`${name}-`) && f.endsWith('.tgz')));
    meta.dependencies = (meta.dependencies ?? []).filter((d) => present(d.name));
    writeFileSync(file, stringifyYaml(meta));
    rmSync(path.join(dir, 'Chart.lock'), { force: true });
  }
  return { ...j, chart: dir };
}

/** docker.io/library/ for a one-part name, docker.io/ for a name whose first part is no host, `:latest` when untagged. */
export function normaliseRef(s) {
  let t = s.trim();
  const at = t.indexOf('@');
  const digest = at >= 0 ? t.slice(at) : '';
  if (at >= 0) t = t.slice(0, at);
  const slash = t.lastIndexOf('/');
  const colon = t.lastIndexOf(':');
  let tag = '';
  if (colon > slash) {
    tag = t.slice(colon);
    t = t.slice(0, colon);
  }
  const parts = t.split('/');
  if (parts.length === 1) t = `docker.io/library/${t}`;
  else if (!/[.:]/.test(parts[0]) && parts[0] !== 'localhost') t = `docker.io/${t}`;
  else if (parts[0] === 'index.docker.io' || parts[0] === 'registry-1.docker.io') t = `docker.io/${parts.slice(1).join('/')}`;
  if (/^docker\.io\/[^/]+$/.test(t)) t = `docker.io/library/${t.slice('docker.io/'.length)}`;
  if (!tag && !digest) tag = ':latest';
  return `${t}${tag}${digest}`;
}

/** A command's exit status, output and the end of its stderr (killed after timeoutMs); pass.mjs's oracle step uses it too. */
export const run = (cmd, args, timeoutMs = 600_000) =>
  new Promise((res) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    let err = '';
    p.stdout.on('data', (b) => out.push(b));
    p.stderr.on('data', (b) => { err = (err + b.toString()).slice(-8000); });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (rc) => {
      clearTimeout(timer);
      res({ rc: rc ?? -1, stdout: Buffer.concat(out).toString(), stderr: err.slice(-4000) });
    });
  });

const jobArgs = (j) => ({
  oracle: [j.chart, ...j.values.flatMap((f) => ['-f', f]), ...(j.api ?? []).flatMap((a) => ['-api-versions', a]), ...(j.kube ? ['-kube-version', j.kube] : []), ...(j.ns ? ['-namespace', j.ns] : []), ...(j.name ? ['-name', j.name] : [])],
  ferry: [j.chart, '--json', '-q', ...j.values.flatMap((f) => ['-f', f]), ...(j.api ?? []).flatMap((a) => ['--api-versions', a]), ...(j.kube ? ['--kube-version', j.kube] : []), ...(j.ns ? ['-n', j.ns] : []), ...(j.name ? ['--release-name', j.name] : [])],
});

/** One job: both tools run, their lists normalised and compared; WORK/images/ID.json. */
async function compareJob(j, { oracleBin, ferryBin, outDir }) {
  const a = jobArgs(j);
  const cr = await run(oracleBin, [...a.oracle, '-images-verbose', '-indirect-images', '-include-crds']);
  const fe = await run(process.execPath, [ferryBin, 'charts', 'images', ...a.ferry]);
  const res = { id: j.id, crOk: cr.rc === 0, ferryOk: fe.rc === 0 };
  if (!res.crOk) res.crErr = cr.stderr.trim().split('\n').slice(-1)[0];
  if (!res.ferryOk) res.ferryErr = fe.stderr.trim().split('\n').slice(-3).join(' ');
  const oracle = new Map();
  if (res.crOk) {
    for (const line of cr.stdout.split('\n').filter(Boolean)) {
      const [img, resource, at, source, note] = line.split('\t');
      const n = normaliseRef(img);
      if (!oracle.has(n)) oracle.set(n, []);
      oracle.get(n).push(`${resource} ${at} ${source}${note ? ` (${note})` : ''}`);
    }
  }
  const ferry = new Map();
  if (res.ferryOk) {
    for (const c of JSON.parse(fe.stdout).charts) {
      res.invalid = (c.rendered?.warnings ?? []).filter((w) => w.startsWith('a container image that is no valid image reference'));
      for (const i of c.images) {
        const n = normaliseRef(i.ref);
        const where = i.sources.map((s) => (s.kind === 'rendered' ? `${s.resource} ${s.fieldPath} ${s.file}` : `values ${s.valuesPath ?? s.keyPath ?? ''}${s.reason ? ` (${s.reason})` : ''}`));
        const prev = ferry.get(n);
        if (!prev || (prev.certainty === 'possible' && i.certainty !== 'possible')) ferry.set(n, { certainty: i.certainty, where, reason: i.reason ?? i.sources.find((s) => s.reason)?.reason });
      }
    }
  }
  res.oracle = Object.fromEntries(oracle);
  res.ferry = Object.fromEntries(ferry);
  if (res.crOk && res.ferryOk) {
    res.miss = [...oracle.keys()].filter((r) => !ferry.has(r));
    res.weak = [...oracle.keys()].filter((r) => ferry.get(r)?.certainty === 'possible');
    res.extra = [...ferry.keys()].filter((r) => ferry.get(r).certainty !== 'possible' && !oracle.has(r));
    res.possibleOnly = [...ferry.keys()].filter((r) => ferry.get(r).certainty === 'possible' && !oracle.has(r)).length;
  }
  writeFileSync(path.join(outDir, `${j.id}.json`), JSON.stringify(res, null, 1));
  return res;
}

export async function imagesMode({ work, jobs, oracleBin, ferryBin, only }) {
  const outDir = path.join(work, 'images');
  mkdirSync(outDir, { recursive: true });
  if (!existsSync(ferryBin)) throw new Error(`${ferryBin}: build ferry first (npm run -s build)`);
  const chartsFile = path.join(work, 'charts.json');
  const chartsById = new Map(existsSync(chartsFile) ? JSON.parse(readFileSync(chartsFile, 'utf8')).map((c) => [c.id, c]) : []);
  const queue = jobs.filter((j) => !j.id.includes('@') && (!only || j.id.includes(only))).map((j) => withoutMissing(work, chartsById, j));
  const results = [];
  const worker = async () => {
    for (let j; (j = queue.shift()); ) results.push(await compareJob(j, { oracleBin, ferryBin, outDir }));
  };
  await Promise.all([worker(), worker()]);
  results.sort((x, y) => (x.id < y.id ? -1 : 1));
  imagesSummary(results);
}

export function imagesSummary(results) {
  const both = results.filter((r) => r.crOk && r.ferryOk);
  const charts = new Set(results.map((r) => r.id.replace(/\.[^.]*$/, '')));
  const compared = both.reduce((n, r) => n + new Set([...Object.keys(r.oracle), ...Object.keys(r.ferry).filter((k) => r.ferry[k].certainty !== 'possible')]).size, 0);
  const count = (k) => both.reduce((n, r) => n + r[k].length, 0);
  console.log(`images: ${charts.size} charts, ${results.length} jobs, ${both.length} both listed, ${compared} images compared; miss ${count('miss')} weak ${count('weak')} extra ${count('extra')}; ferry possible-only ${both.reduce((n, r) => n + r.possibleOnly, 0)}`);
  for (const r of results) if (r.crOk !== r.ferryOk) console.log(`ONE ${r.id} ${r.crOk ? 'oracle' : 'ferry'} ${(r.ferryErr ?? r.crErr ?? '').slice(0, 300)}`);
  for (const r of both) {
    for (const x of r.miss) console.log(`MISS ${r.id} ${x} (oracle ${r.oracle[x][0]})`);
    for (const x of r.weak) console.log(`WEAK ${r.id} ${x} (oracle ${r.oracle[x][0]}; ferry ${r.ferry[x].reason ?? r.ferry[x].where[0]})`);
    for (const x of r.extra) console.log(`EXTRA ${r.id} ${x} (ferry ${r.ferry[x].where[0]})`);
    for (const w of r.invalid ?? []) console.log(`INVALID ${r.id} ${w}`);
  }
}

/** `--step images --summary-only`: the summary of the results already in WORK/images. */
export function readImageResults(work, jobs) {
  return jobs.filter((j) => !j.id.includes('@') && existsSync(path.join(work, 'images', `${j.id}.json`))).map((j) => JSON.parse(readFileSync(path.join(work, 'images', `${j.id}.json`), 'utf8')));
}
