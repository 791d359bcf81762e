#!/usr/bin/env node
// One-line template probes rendered by ferry's renderer and by the Go oracle, side by side: for
// built-in objects and functions no real chart exercises on purpose (`.Capabilities`' types and
// printing, a method's argument checks). A development instrument, never a test: it needs the
// oracle binary (pass.mjs builds it in WORK/cr/chartrender).
//
//   node scripts/oracle/probe.mjs PROBES.txt [--oracle BIN] [--work DIR]
//
// PROBES.txt: one template a line (`#` lines are comments), e.g. scripts/oracle/probes/capabilities.txt.
// Each becomes a chart whose one template is `# <line>` (so the output is a YAML comment and the
// columns in error texts are 2 more than in the line); both outputs, or both errors, are printed
// as `same` or `DIFF` with O: (oracle) and F: (ferry). The oracle's own deviations from Helm
// (its types are main.*, its KubeVersion has json tags, it adds monitoring.coreos.com/v1) show as
// DIFFs: read them against Helm's pkg/chartutil/capabilities.go before fixing anything.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const probesFile = argv[0];
if (!probesFile || probesFile.startsWith('--')) {
  console.error('usage: node scripts/oracle/probe.mjs PROBES.txt [--oracle BIN] [--work DIR]');
  process.exit(2);
}
const ORACLE = opt('oracle', '/tmp/oracle26/cr/chartrender');
const WORK = path.resolve(opt('work', '/tmp/oracle-probe'));
mkdirSync(WORK, { recursive: true });

const { build } = await import(path.join(root, 'node_modules/esbuild/lib/main.js'));
const outfile = path.join(WORK, 'ferry-raw.mjs');
await build({
  entryPoints: [path.join(here, 'ferry-raw.ts')], bundle: true, platform: 'node', format: 'esm', outfile, logLevel: 'error',
  banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
});
const { renderRaw } = await import(`${outfile}?${Date.now()}`);

const probes = readFileSync(probesFile, 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
let same = 0;
for (const [i, line] of probes.entries()) {
  const dir = path.join(WORK, `c${i}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, 'templates'), { recursive: true });
  writeFileSync(path.join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: p\nversion: 0.1.0\n');
  writeFileSync(path.join(dir, 'values.yaml'), 'a: 1\n');
  writeFileSync(path.join(dir, 'templates/t.yaml'), `# ${line}\n`);
  const o = spawnSync(ORACLE, [dir], { encoding: 'utf8' });
  const oracle = o.status === 0
    ? o.stdout.split('\n').filter((l) => l.startsWith('# ') && !l.startsWith('# Source')).join('\n').slice(2)
    : `ERR ${o.stderr.trim().replace(/^Error: /, '')}`;
  const f = await renderRaw(dir);
  const ferry = f.ok ? (f.ok['p/templates/t.yaml'] ?? '').trimEnd().slice(2) : `ERR ${f.err ?? f.crash}`;
  if (oracle === ferry) {
    same++;
    console.log(`same  ${line}  =>  ${oracle}`);
  } else console.log(`DIFF  ${line}\n   O: ${oracle}\n   F: ${ferry}`);
}
console.log(`${same}/${probes.length} same`);
