#!/usr/bin/env node
// One oracle pass over real charts: ferry's chart renderer (src/kinds/chart/render) against the
// independent Go renderer (/work/shared/tools/chartrender, Helm 3.14's text/template + sprig 3.2.3).
// A development instrument, never a test: it needs Go and the oracle.
//
//   node scripts/oracle/pass.mjs WORK [--pool DIR]... [--only TEXT] [--step STEP] [--errors] [--kube V1,V2] [--enable-each]
//
// WORK/src holds the repositories, one directory each, named owner+name (e.g. a `fetch`ed snapshot
// unpacked with `git --git-dir=/work/.mirror/owner+name/repo archive HEAD | tar -x -C
// WORK/src/owner+name`, or chart directories pulled file by file with read_file). The steps, in
// order (--step runs one and the ones after it; each reads what the one before wrote):
//
//   charts   every top-level chart directory under WORK/src (a Chart.yaml not inside another chart's
//            charts/, templates/, tests/, testdata or examples) is copied to WORK/charts/<id>, with
//            each dependency it lacks vendored from a `file://` repository or, by chart name, from
//            the charts under WORK/src and each --pool DIR (earlier passes' sources, e.g.
//            /tmp/oracle10/src/bitnami+charts/bitnami for bitnami's common, postgresql, redis);
//            WORK/charts.json lists them with the dependencies still missing
//   jobs     one job a value set: `default` (the chart's values), `ci-NAME` (each ci/*.yaml),
//            `ex-NAME` (values-*.yaml beside values.yaml), `exdir-NAME` (examples/*/values.yaml),
//            `test-NAME` (tests/*values*.yaml), `enable-all` (every `enabled: false` in
//            values.yaml set true, written to WORK/vals) and `registry` (`global.imageRegistry` and
//            every `image.registry` values.yaml holds set to another host); with --enable-each also
//            `enable-PATH`, each of enable-all's flags alone; WORK/jobs.jsonl, one JSON line
//            {id, chart, values: [files], api: [...], kube?, ns?, name?} a job (add `kube` by hand for a
//            chart whose kubeVersion: refuses v1.29.0, `ns` and `name` for the namespace and release
//            name); with --kube V1,V2 the default and enable-all sets once more for each of those
//            Kubernetes versions (ID.default@V1); WORK/jobs.extra.jsonl, jobs written by hand (values
//            a chart requires), is appended
//   oracle   the oracle renders each job twice (WORK/out/ID.cr.yaml, ID.cr2.yaml, and .json with
//            the exit status and stderr): the two renders tell which fields are random
//   ferry    scripts/oracle/pass-ferry.ts, bundled by esbuild, renders each job with ferry
//            (WORK/out/ID.ferry.yaml) and compares: WORK/out/ID.ferry.json
//   summary  prints the summary (below)
//   images   (only when asked: --step images) image discovery compared: the oracle's
//            `-images -indirect-images -include-crds` against `ferry charts images --json` (the
//            built dist/ferry.mjs), references normalised; scripts/oracle/images.mjs says how to
//            read its summary (--summary-only: print it again from WORK/images)
//
// Reading the summary: `renders N both N same images N no doc diffs N bothErr N (same text N)`:
// the jobs, those both rendered, of those the ones with the same image list and the same documents,
// those both refused and of those the ones with the same error text. Then a line for
// each render that is not the same:
//   ONE ID ferry|oracle TEXT   only that renderer rendered; TEXT is the other's error
//   IMG ID ferry-only [...] oracle-only [...]   the derived image lists differ
//   DIFF ID N [...]            documents differ (source kind/name: first differing path, both values);
//                              fields that differ between the oracle's two renders are masked
//                              as <random> first, and documents are matched by source, kind and name
//   ERRTEXT ID F: … O: …       both refused, with different texts (an error ferry locates or words
//                              otherwise, or a different first failure)
//   BOTHERR ID F: … O: …       (with --errors) both refused with the same text
// Every ONE, IMG and DIFF is a ferry bug until shown otherwise (the README's oracle paragraph lists
// the known differences: certificate contents, the oracle's monitoring.coreos.com/v1, …).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { imagesMode, imagesSummary, readImageResults, run } from './images.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const { parse: parseYaml, stringify: stringifyYaml } = await import(path.join(root, 'node_modules/yaml/dist/index.js'));

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const opts = (name) => argv.flatMap((a, i) => (a === `--${name}` ? [argv[i + 1]] : []));
const WORK = argv[0] && !argv[0].startsWith('--') ? path.resolve(argv[0]) : undefined;
if (!WORK) {
  console.error('usage: node scripts/oracle/pass.mjs WORK [--pool DIR]... [--only TEXT] [--step charts|jobs|oracle|ferry|summary|images] [--errors] [--kube V1,V2]');
  process.exit(2);
}
const ORACLE_SRC = opt('oracle') ?? '/work/shared/tools/chartrender';
const ONLY = opt('only');
const STEPS = ['charts', 'jobs', 'oracle', 'ferry', 'summary'];
const IMAGES = opt('step') === 'images';
const from = IMAGES ? STEPS.length : STEPS.indexOf(opt('step') ?? 'charts');
if (from < 0) throw new Error(`--step: one of ${STEPS.join(', ')}`);
const API = ['monitoring.coreos.com/v1'];
// --kube v1.23.0,v1.31.0: the default and enable-all sets rendered for each of these Kubernetes versions
// too (job ID.default@v1.23.0), beside the default v1.29.0
const KUBES = (opt('kube') ?? '').split(',').filter(Boolean);

const readYaml = (file) => {
  try {
    return parseYaml(readFileSync(file, 'utf8'), { uniqueKeys: false, merge: true, maxAliasCount: -1 });
  } catch (e) {
    console.log(`yaml: ${file}: ${e.message.split('\n')[0]}`);
    return undefined;
  }
};
const walk = (dir, out = []) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name === 'Chart.yaml') out.push(p);
  }
  return out;
};
const glob = (dir, re) => (existsSync(dir) ? readdirSync(dir).filter((f) => re.test(f)).sort().map((f) => path.join(dir, f)) : []);

// ── charts ──────────────────────────────────────────────────────────────────
function charts() {
  const src = path.join(WORK, 'src');
  const roots = [];
  for (const repo of readdirSync(src).sort()) {
    for (const cy of walk(path.join(src, repo)).sort()) {
      const d = path.dirname(cy);
      const rel = path.relative(path.join(src, repo), d) || '.';
      const parts = rel.split('/');
      if (parts.some((p) => ['templates', 'tests', 'testdata', 'examples'].includes(p))) continue;
      // a subchart (under another chart's charts/) is vendored with its parent, not a chart of its own
      const parent = path.dirname(d);
      if (path.basename(parent) === 'charts' && existsSync(path.join(path.dirname(parent), 'Chart.yaml'))) continue;
      roots.push({ repo, rel, dir: d });
    }
  }
  const pool = new Map();
  const addPool = (d) => {
    const name = readYaml(path.join(d, 'Chart.yaml'))?.name;
    if (typeof name === 'string' && !pool.has(name)) pool.set(name, d);
  };
  for (const r of roots) addPool(r.dir);
  for (const p of opts('pool')) for (const cy of walk(p)) if (!/\/(templates|tests)\//.test(cy)) addPool(path.dirname(cy));
  const vendor = (from, to, meta, depth) => {
    let deps = meta?.dependencies ?? [];
    if (!deps.length && existsSync(path.join(from, 'requirements.yaml'))) deps = readYaml(path.join(from, 'requirements.yaml'))?.dependencies ?? [];
    const missing = [];
    for (const dep of Array.isArray(deps) ? deps : []) {
      const name = dep?.name;
      if (typeof name !== 'string') continue;
      if (existsSync(path.join(to, 'charts', name)) || glob(path.join(to, 'charts'), new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-.*\\.tgz$`)).length) continue;
      const repo = String(dep.repository ?? '');
      let s;
      if (repo.startsWith('file://')) {
        const f = path.resolve(from, repo.slice(7));
        if (existsSync(path.join(f, 'Chart.yaml'))) s = f;
      }
      if (!s && pool.has(name) && realpathSync(pool.get(name)) !== realpathSync(from)) s = pool.get(name);
      if (!s || depth > 5) {
        missing.push(`${name} ${dep.version ?? ''} ${repo}`);
        continue;
      }
      mkdirSync(path.join(to, 'charts'), { recursive: true });
      cpSync(s, path.join(to, 'charts', name), { recursive: true, dereference: true });
      missing.push(...vendor(s, path.join(to, 'charts', name), readYaml(path.join(s, 'Chart.yaml')), depth + 1));
    }
    return missing;
  };
  const list = [];
  rmSync(path.join(WORK, 'charts'), { recursive: true, force: true });
  for (const r of roots) {
    const meta = readYaml(path.join(r.dir, 'Chart.yaml'));
    if (!meta) continue;
    const id = `${r.repo.split('+')[0]}__${r.rel === '.' ? r.repo.split('+')[1] : r.rel.replaceAll('/', '_')}`;
    const out = path.join(WORK, 'charts', id);
    cpSync(r.dir, out, { recursive: true, dereference: true });
    list.push({ id, dir: out, src: r.dir, missing: vendor(r.dir, out, meta, 0) });
  }
  writeFileSync(path.join(WORK, 'charts.json'), JSON.stringify(list, null, 1));
  console.log(`${list.length} charts`);
  for (const c of list) if (c.missing.length) console.log(`  missing: ${c.id}: ${c.missing.join(', ')}`);
}

// ── jobs ────────────────────────────────────────────────────────────────────
// Every `enabled: false` in the values set true, and nothing else: the everything-enabled set.
function enableAll(v) {
  const out = {};
  if (!v || typeof v !== 'object' || Array.isArray(v)) return out;
  for (const [k, x] of Object.entries(v)) {
    if (k === 'enabled' && x === false) out.enabled = true;
    else if (x && typeof x === 'object' && !Array.isArray(x)) {
      const sub = enableAll(x);
      if (Object.keys(sub).length) out[k] = sub;
    }
  }
  return out;
}
// The image registry pointed elsewhere where the chart has the knob: `global.imageRegistry`, a
// top-level `imageRegistry` and every `image.registry` (any depth) that values.yaml holds, set to
// one host, nothing else.
const OTHER_REGISTRY = 'mirror.example.com:5000';
function registryOverlay(v, top = true) {
  const out = {};
  if (!v || typeof v !== 'object' || Array.isArray(v)) return out;
  for (const [k, x] of Object.entries(v)) {
    // cert-manager's top-level `imageRegistry`
    if (top && k === 'imageRegistry' && typeof x === 'string') out.imageRegistry = OTHER_REGISTRY;
    if (!x || typeof x !== 'object' || Array.isArray(x)) continue;
    const sub = registryOverlay(x, false);
    if ((top && k === 'global' && 'imageRegistry' in x) || (k === 'image' && 'registry' in x)) Object.assign(sub, k === 'global' ? { imageRegistry: OTHER_REGISTRY } : { registry: OTHER_REGISTRY });
    if (Object.keys(sub).length) out[k] = sub;
  }
  return out;
}
const leafPaths = (o, at = []) => Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' ? leafPaths(v, [...at, k]) : [[...at, k]]));
function jobs() {
  const list = JSON.parse(readFileSync(path.join(WORK, 'charts.json'), 'utf8'));
  mkdirSync(path.join(WORK, 'vals'), { recursive: true });
  const all = [];
  const base = (f) => path.basename(f).replace(/\.ya?ml$/, '');
  for (const c of list) {
    const d = c.dir;
    const sets = [['default', []]];
    for (const f of glob(path.join(d, 'ci'), /\.ya?ml$/)) sets.push([`ci-${base(f)}`, [f]]);
    for (const f of glob(d, /^values-.*\.ya?ml$/)) sets.push([`ex-${base(f)}`, [f]]);
    if (existsSync(path.join(d, 'examples'))) for (const e of readdirSync(path.join(d, 'examples')).sort()) if (existsSync(path.join(d, 'examples', e, 'values.yaml'))) sets.push([`exdir-${e}`, [path.join(d, 'examples', e, 'values.yaml')]]);
    for (const f of glob(path.join(d, 'tests'), /values.*\.ya?ml$/)) sets.push([`test-${base(f)}`, [f]]);
    const values = existsSync(path.join(d, 'values.yaml')) ? readYaml(path.join(d, 'values.yaml')) : {};
    const ea = enableAll(values);
    if (Object.keys(ea).length) {
      const f = path.join(WORK, 'vals', `${c.id}.enable-all.yaml`);
      writeFileSync(f, stringifyYaml(ea));
      sets.push(['enable-all', [f]]);
    }
    // --enable-each: one set a flag, that flag alone set true (enable-all fails on charts whose
    // optional parts exclude each other or need a value besides the flag)
    if (argv.includes('--enable-each')) {
      for (const flag of leafPaths(ea)) {
        const f = path.join(WORK, 'vals', `${c.id}.enable-${flag.join('.')}.yaml`);
        writeFileSync(f, stringifyYaml(flag.reduceRight((inner, k) => ({ [k]: inner }), true)));
        sets.push([`enable-${flag.join('.')}`, [f]]);
      }
    }
    const reg = registryOverlay(values);
    if (Object.keys(reg).length) {
      const f = path.join(WORK, 'vals', `${c.id}.registry.yaml`);
      writeFileSync(f, stringifyYaml(reg));
      sets.push(['registry', [f]]);
    }
    for (const [name, files] of sets) {
      all.push({ id: `${c.id}.${name}`, chart: d, values: files, api: API });
      if (name === 'default' || name === 'enable-all') for (const kube of KUBES) all.push({ id: `${c.id}.${name}@${kube}`, chart: d, values: files, api: API, kube });
    }
  }
  // hand-written jobs (a chart's required values, its namespace or release name) kept across runs
  const extra = path.join(WORK, 'jobs.extra.jsonl');
  if (existsSync(extra)) all.push(...readFileSync(extra, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
  writeFileSync(path.join(WORK, 'jobs.jsonl'), all.map((j) => `${JSON.stringify(j)}\n`).join(''));
  console.log(`${list.length} charts, ${all.length} jobs`);
}
const readJobs = () => readFileSync(path.join(WORK, 'jobs.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((j) => !ONLY || j.id.includes(ONLY));

// ── oracle ──────────────────────────────────────────────────────────────────
function buildOracle() {
  const dir = path.join(WORK, 'cr');
  const bin = path.join(dir, 'chartrender');
  if (!existsSync(bin) || statSync(bin).mtimeMs < Math.max(...readdirSync(ORACLE_SRC).filter((f) => f.endsWith('.go')).map((f) => statSync(path.join(ORACLE_SRC, f)).mtimeMs))) {
    rmSync(dir, { recursive: true, force: true });
    cpSync(ORACLE_SRC, dir, { recursive: true, filter: (s) => s !== path.join(ORACLE_SRC, 'chartrender') });
    mkdirSync('/tmp/gopath', { recursive: true });
    execFileSync('go', ['build', '-o', 'chartrender', '.'], { cwd: dir, env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode:/tmp/gopath' }, stdio: 'inherit' });
  }
  return bin;
}
async function oracle() {
  const bin = buildOracle();
  const out = path.join(WORK, 'out');
  mkdirSync(out, { recursive: true });
  const queue = readJobs();
  const n = queue.length;
  const worker = async () => {
    for (let j; (j = queue.shift()); ) {
      const args = [j.chart, ...j.values.flatMap((f) => ['-f', f]), ...(j.api ?? []).flatMap((a) => ['-api-versions', a]), ...(j.kube ? ['-kube-version', j.kube] : []), ...(j.ns ? ['-namespace', j.ns] : []), ...(j.name ? ['-name', j.name] : [])];
      for (const suffix of ['cr', 'cr2']) {
        const r = await run(bin, args, 300_000);
        writeFileSync(path.join(out, `${j.id}.${suffix}.yaml`), r.stdout);
        writeFileSync(path.join(out, `${j.id}.${suffix}.json`), JSON.stringify({ rc: r.rc, stderr: r.stderr }));
      }
    }
  };
  await Promise.all([worker(), worker()]);
  console.log(`oracle: ${n} jobs`);
}

// ── ferry ───────────────────────────────────────────────────────────────────
async function ferry() {
  const { build } = await import(path.join(root, 'node_modules/esbuild/lib/main.js'));
  const outfile = path.join(WORK, 'pass-ferry.mjs');
  await build({
    entryPoints: [path.join(here, 'pass-ferry.ts')], bundle: true, platform: 'node', format: 'esm', outfile, logLevel: 'error',
    banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
  });
  execFileSync(process.execPath, [outfile, path.join(WORK, 'jobs.jsonl'), path.join(WORK, 'out'), ONLY ?? ''], { stdio: 'inherit' });
}

// ── summary ─────────────────────────────────────────────────────────────────
function summary() {
  const ids = new Set(readJobs().map((j) => j.id));
  const rs = [...ids].filter((id) => existsSync(path.join(WORK, 'out', `${id}.ferry.json`))).map((id) => JSON.parse(readFileSync(path.join(WORK, 'out', `${id}.ferry.json`), 'utf8')));
  const both = rs.filter((r) => r.ok && r.crOk);
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const bothErr = rs.filter((r) => !r.ok && !r.crOk);
  console.log(
    `renders ${rs.length} both ${both.length} same images ${both.filter((r) => same(r.images, r.crImages)).length} no doc diffs ${both.filter((r) => !r.diffs?.length).length} bothErr ${bothErr.length} (same text ${bothErr.filter((r) => sameError(r.error, r.crErr ?? '')).length})`,
  );
  for (const r of rs) if (r.ok !== r.crOk) console.log(`ONE ${r.id} ${r.ok ? 'ferry' : 'oracle'} ${(r.error ?? r.crErr ?? '').slice(0, 400)}`);
  for (const r of both) {
    if (!same(r.images, r.crImages)) {
      const a = new Set(r.images), b = new Set(r.crImages);
      console.log(`IMG ${r.id} ferry-only ${JSON.stringify([...a].filter((x) => !b.has(x)))} oracle-only ${JSON.stringify([...b].filter((x) => !a.has(x)))}`);
    }
    if (r.diffs?.length) console.log(`DIFF ${r.id} ${r.diffs.length} ${JSON.stringify(r.diffs.slice(0, 3))}`);
  }
  for (const r of rs) {
    if (r.ok || r.crOk) continue;
    const same = sameError(r.error, r.crErr ?? '');
    if (!same || argv.includes('--errors')) console.log(`${same ? 'BOTHERR' : 'ERRTEXT'} ${r.id}\n   F: ${r.error.slice(-400)}\n   O: ${(r.crErr ?? '').slice(-400)}`);
  }
}
// Both refused with the same text: ferry's `chart NAME VERSION: ` and the oracle's `Error: ` aside,
// and but for Helm's wrapping of `fail` (`execution error at (FILE:LINE:COL): MSG`), which the
// oracle leaves as text/template's `template: FILE:LINE:COL: executing … error calling fail: MSG`.
function sameError(ferryErr, oracleErr) {
  const f = ferryErr.replace(/^chart \S+ \S+: /, '');
  const o = oracleErr.replace(/^Error: /, '');
  if (f === o) return true;
  const m = /^execution error at \((.*?)\): ([\s\S]*)$/.exec(f);
  return m !== null && o.startsWith(`template: ${m[1]}: `) && o.endsWith(`error calling fail: ${m[2]}`);
}

const steps = { charts, jobs, oracle, ferry, summary };
for (const s of STEPS.slice(from)) await steps[s]();
if (IMAGES) {
  if (argv.includes('--summary-only')) imagesSummary(readImageResults(WORK, readJobs()));
  else await imagesMode({ work: WORK, jobs: readJobs(), oracleBin: buildOracle(), ferryBin: path.join(root, 'dist/ferry.mjs'), only: ONLY });
}
