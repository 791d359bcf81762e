#!/usr/bin/env node
// Differential fuzzer for ferry's chart renderer (src/kinds/chart/render) against the independent
// Go renderer (/work/shared/tools/chartrender, Helm 3.14's text/template + sprig 3.2.3). A
// development instrument, never a test: it needs Go and the oracle.
//
//   node scripts/oracle/fuzz.mjs [--cases N] [--seed S] [--out DIR] [--oracle DIR]
//
// Each case is a random small chart (values.yaml from a pool of YAML 1.1 scalars and nested maps
// and lists, templates/t.yaml and templates/_h.tpl from a grammar of text/template and sprig/Helm
// functions). Both renderers give the raw template outputs (before the split into documents) or an
// error; a case differs when one renders and the other refuses, or the texts differ. Each
// difference is shrunk (statements dropped, expressions replaced by their parts, values keys
// dropped) while it still differs the same way, and written to DIR/diff-N.json with both results.
//
//   --errtext  also compare the error texts when both refuse (`template: FILE:LINE:COL: executing
//              "NAME" at <NODE>: …`, Helm's `execution error at (FILE:LINE:COL): …`): a case whose
//              texts differ is a difference ('errtext'), shrunk like the others
//   --scalars  number-like values.yaml scalars (typeOf and printing of each)
//   --printf   fmt's grid: each case is 40 `printf` calls, a random verb (every one fmt knows and
//              some it does not), flags, width, precision and an operand of each Go type a chart
//              reaches (float64 incl. NaN/±Inf/-0, int, int64, uint8, uint64, string incl. invalid
//              UTF-8, bool, nil, []interface{} with a nil element, []int, []string, []byte, maps
//              incl. map[string]string, a semver); differences are grouped by verb, flags and type
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, cpSync, existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const CASES = Number(arg('cases', '2000'));
let seed = Number(arg('seed', String(Date.now() % 1e9)));
const OUT = arg('out', '/tmp/oracle15/out');
const ORACLE = arg('oracle', '/work/shared/tools/chartrender');
const WORK = arg('work', '/dev/shm/ferry-fuzz');

// ── random ──────────────────────────────────────────────────────────────────
function rnd() {
  // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ri = (n) => Math.floor(rnd() * n);
const pick = (a) => a[ri(a.length)];
const chance = (p) => rnd() < p;

// ── oracle and ferry ────────────────────────────────────────────────────────
function buildOracle() {
  const dir = '/tmp/oracle15/cr-batch';
  if (!existsSync(path.join(dir, 'cr'))) {
    rmSync(dir, { recursive: true, force: true });
    cpSync(ORACLE, dir, { recursive: true, filter: (s) => s !== path.join(ORACLE, 'chartrender') });
    cpSync(path.join(here, 'chartrender-batch.go'), path.join(dir, 'batch.go'));
    execFileSync('go', ['build', '-o', 'cr', '.'], { cwd: dir, env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode:/tmp/gopath' }, stdio: 'inherit' });
  }
  return path.join(dir, 'cr');
}

// The oracle is Go: a case it cannot survive (mergo's deepMerge of a map holding itself overflows
// the goroutine stack, `fatal error: stack overflow`, which no recover catches) ends the process.
// That case is the oracle's crash, and a new oracle takes the next cases.
function startOracle(bin) {
  const waiting = [];
  let closing = false;
  let p;
  const start = () => {
    p = spawn(bin, [], { env: { ...process.env, CR_BATCH: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let fatal = '';
    p.stderr.on('data', (b) => { if (!fatal) fatal = b.toString().split('\n').find((l) => /^(fatal error|panic):/.test(l)) ?? ''; });
    readline.createInterface({ input: p.stdout }).on('line', (l) => waiting.shift()(JSON.parse(l)));
    p.on('exit', () => {
      if (closing) return;
      for (const res of waiting.splice(0)) res({ crash: `oracle exited: ${fatal || 'no message'}` });
      start();
    });
  };
  start();
  return {
    render: (dir) => new Promise((res) => { waiting.push(res); p.stdin.write(`${dir}\n`); }),
    close: () => { closing = true; p.stdin.end(); },
  };
}

async function loadFerry() {
  const { build } = await import(path.join(root, 'node_modules/esbuild/lib/main.js'));
  const outfile = '/tmp/oracle15/ferry-raw.mjs';
  await build({
    entryPoints: [path.join(here, 'ferry-raw.ts')], bundle: true, platform: 'node', format: 'esm', outfile, logLevel: 'error',
    banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
  });
  return (await import(`${outfile}?${Date.now()}`)).renderRaw;
}

// ── values ──────────────────────────────────────────────────────────────────
const SCALARS = [
  '0', '1', '-7', '42', '1.0', '1.5', '-0.5', '1e6', '1e+06', '1000000', '3.14159', '12345678901234567890', '9007199254740993',
  '2147483648', '0x1A', '017', '0o17', '1_000', '+12', 'e5', '08', 'true', 'false', 'yes', 'no', 'on', 'off', 'y', 'n',
  'True', 'NO', '~', 'null', '""', '"123"', '"1.0"', '"true"', "'1e3'", '"0777"', 'abc', 'hello world', 'ünï', '"a: b"', '"- x"',
  '2001-12-14', '2001-12-14T21:59:43.10-05:00', '"1.2.3"', 'v1.2.3', '"  pad  "', '"a\\nb"', '"tab\\there"', '"\\u00e9"', '"{{ .Release.Name }}"',
  '"x-{{ 1 }}"', '"%d"', '"日本語"', '"a,b,c"', '"A_b-C d"', '"#hash"', '"@at"', '"=eq"', '"<>&"', '"\'q\'"', '"\\"dq\\""', '0.1', '100', '-0', '1.23e-7', '123456789.0',
];
const KEYS = ['a', 'b', 'c', 'name', 'x1', 'Key', 'list', 'n'];

function genValue(depth) {
  const r = rnd();
  if (depth <= 0 || r < 0.55) return { t: 's', s: pick(SCALARS) };
  if (r < 0.8) {
    const m = {};
    for (let i = 0, n = ri(4); i < n; i++) m[pick(KEYS)] = genValue(depth - 1);
    return { t: 'm', m };
  }
  const l = [];
  for (let i = 0, n = ri(4); i < n; i++) l.push(genValue(depth - 1));
  return { t: 'l', l };
}
// maps in block style, lists (and everything inside them) in flow style
function flowYaml(v) {
  if (v.t === 's') return v.s;
  if (v.t === 'm') return `{${Object.entries(v.m).map(([k, x]) => `${k}: ${flowYaml(x)}`).join(', ')}}`;
  return `[${v.l.map(flowYaml).join(', ')}]`;
}
function valueYaml(v, indent) {
  const pad = ' '.repeat(indent);
  if (v.t === 's') return ` ${v.s}\n`;
  if (v.t === 'm') {
    const ks = Object.keys(v.m);
    if (ks.length === 0) return ' {}\n';
    return `\n${ks.map((k) => `${pad}  ${k}:${valueYaml(v.m[k], indent + 2)}`).join('')}`;
  }
  return ` ${flowYaml(v)}\n`;
}
function valuesText(vals) {
  return Object.entries(vals).map(([k, v]) => `${k}:${valueYaml(v, 0)}`).join('');
}

// ── templates ───────────────────────────────────────────────────────────────
// A node: { c: 'e'|'s', f: (kidTexts) => text, k: [kids] }; 'e' expression (operand or pipeline),
// 's' statement. Leaves have k = [].
const leaf = (c, s) => ({ c, f: () => s, k: [] });
const node = (c, f, ...k) => ({ c, f, k });
const show = (n) => n.f(n.k.map(show));

const STR_LITS = ['""', '"abc"', '"12"', '"1.5"', '"true"', '"a b"', '"ü"', '"a:b"', '"- x"', '"x,y,z"', '"  sp "', '"A-b_c"', '"1.2.3"', '"v1.20.3"', '"a\\nb"', '`raw\\n`', '"%s"', '"{{ . }}"', '"null"', '"{a: 1}"', '"[1,2]"', '"{\\"k\\":1}"', '"1e3"', '"0x10"', '"-3"', '"$1-${1}x"', '"(a)(b)?"', '">=1.2.0 <2"', '"~1.2"', '"^1.0 || 2.x"', '"{a:1}"', '"[1,]"', '"tru"',
  '"(\\\\w+)@(\\\\w+)"', '"$2:$1"', '"${1}_x"', '"$1x"', '"$$"', '"${name}"', '"$name"', '"(?P<name>a+)"', '"${2}${1}"', '"$10"', '"${10}"', '"$"', '"a(b*)"', '"(x)|(y)"', '"[0-9]+"', '"${1"'];
const INT_LITS = ['0', '1', '2', '-1', '3', '7', '42', '100', '1000000', '9223372036854775807', '0x1F', '010', '1_000', "'a'",
  // Go's other integer types: a semver's uint64 fields, a string's uint8 bytes
  '(semver "1.2.3").Major', '(semver "v0.20.0").Minor', '(index "ab" 0)', '(index "a" 0)'];
const FLOAT_LITS = ['1.0', '1.5', '2.5', '-0.5', '1e3', '1e6', '0.1', '3.0', '1e21', '123.456'];
const VAL_PATHS = ['.Values.s0', '.Values.s1', '.Values.s2', '.Values.m', '.Values.m.a', '.Values.m.b', '.Values.m.c', '.Values.l', '.Values.n', '.Values.zz', '.Values.m.a.b', '.Values.m.list', '.Values', '$.Values.s0', '$.Values.m'];
const BUILTINS = ['.Release.Name', '.Release.Namespace', '.Release.Revision', '.Release.IsInstall', '.Release.Service', '.Chart.Name', '.Chart.Version', '.Chart.AppVersion', '.Chart.Description', '.Chart.IsRoot', '.Chart.Annotations', '.Chart.Keywords', '.Capabilities.KubeVersion.Version', '.Capabilities.KubeVersion.Minor', '.Capabilities.KubeVersion.Major', '.Capabilities.KubeVersion.GitVersion', '.Capabilities.HelmVersion.Version', '.Template.Name', '.Template.BasePath', '.Chart.Maintainers', '.Chart.Home'];

let vars = []; // in scope
function operand(depth, kind) {
  const r = rnd();
  if (kind === 'str' && r < 0.5) return leaf('e', pick(STR_LITS));
  if (kind === 'int' && r < 0.5) return leaf('e', pick(INT_LITS));
  if (kind === 'num' && r < 0.5) return leaf('e', pick(chance(0.5) ? INT_LITS : FLOAT_LITS));
  if (kind === 'bool' && r < 0.3) return leaf('e', pick(['true', 'false']));
  if (kind === 'map' && r < 0.4) return leaf('e', pick(['.Values.m', '.Values', '(dict)', '(dict "a" 1 "b" "x")', '.Values.m.b', '.Chart.Annotations', '(fromYaml "a: 1\\nb: [x]")', '(split "," "a,b")', '(merge nil nil)', '(fromJson "null")']));
  if (kind === 'list' && r < 0.4) return leaf('e', pick(['.Values.l', '(list 1 2 3)', '(list "b" "a" "b")', '(list)', '.Values.m.list', '(splitList "," "a,b,,c")', '(until 3)', '.Capabilities.APIVersions']));
  const q = rnd();
  if (q < 0.3) return leaf('e', pick(VAL_PATHS));
  if (q < 0.4) return leaf('e', pick(BUILTINS));
  if (q < 0.5 && vars.length) return leaf('e', pick(vars) + (chance(0.2) ? pick(['.a', '.b', '.x']) : ''));
  if (q < 0.55) return leaf('e', pick(['.', '$']));
  if (q < 0.6) return leaf('e', pick(['nil', 'true', 'false']));
  if (depth > 0 && q < 0.85) return call(depth - 1, kind);
  return leaf('e', pick([...STR_LITS, ...INT_LITS, ...FLOAT_LITS]));
}

// name: arg kinds ('*' repeats the last); ret kind
const FUNCS = [
  ['default', ['any', 'any'], 'any'], ['empty', ['any'], 'bool'], ['coalesce', ['any', 'any', '*'], 'any'], ['ternary', ['any', 'any', 'bool'], 'any'],
  ['toYaml', ['any'], 'str'], ['toJson', ['any'], 'str'], ['toPrettyJson', ['any'], 'str'], ['fromYaml', ['str'], 'map'], ['fromJson', ['str'], 'map'], ['fromYamlArray', ['str'], 'list'], ['fromJsonArray', ['str'], 'list'], ['toToml', ['any'], 'str'], ['toRawJson', ['any'], 'str'],
  ['dict', ['str', 'any', 'str', 'any'], 'map'], ['list', ['any', '*'], 'list'], ['merge', ['map', 'map'], 'map'], ['mergeOverwrite', ['map', 'map'], 'map'], ['merge', ['map', 'map', 'map'], 'map'], ['mustMergeOverwrite', ['map', 'map', '*'], 'map'], ['mustMerge', ['map', 'map'], 'map'], ['deepCopy', ['any'], 'any'],
  ['pick', ['map', 'str'], 'map'], ['omit', ['map', 'str'], 'map'], ['keys', ['map'], 'list'], ['values', ['map'], 'list'], ['sortAlpha', ['list'], 'list'], ['uniq', ['list'], 'list'], ['get', ['map', 'str'], 'any'], ['hasKey', ['map', 'str'], 'bool'], ['pluck', ['str', 'map'], 'list'], ['dig', ['str', 'any', 'map'], 'any'],
  ['first', ['list'], 'any'], ['last', ['list'], 'any'], ['rest', ['list'], 'list'], ['initial', ['list'], 'list'], ['compact', ['list'], 'list'], ['has', ['any', 'list'], 'bool'], ['without', ['list', 'any'], 'list'], ['append', ['list', 'any'], 'list'], ['concat', ['list', 'list'], 'list'], ['reverse', ['list'], 'list'],
  ['trim', ['str'], 'str'], ['trimAll', ['str', 'str'], 'str'], ['trimPrefix', ['str', 'str'], 'str'], ['trimSuffix', ['str', 'str'], 'str'], ['trunc', ['int', 'str'], 'str'], ['substr', ['int', 'int', 'str'], 'str'], ['abbrev', ['int', 'str'], 'str'],
  ['indent', ['int', 'str'], 'str'], ['nindent', ['int', 'str'], 'str'], ['replace', ['str', 'str', 'str'], 'str'], ['regexReplaceAll', ['str', 'str', 'str'], 'str'], ['regexReplaceAllLiteral', ['str', 'str', 'str'], 'str'], ['mustRegexReplaceAll', ['str', 'str', 'str'], 'str'], ['regexFind', ['str', 'str'], 'str'], ['regexMatch', ['str', 'str'], 'bool'], ['regexFindAll', ['str', 'str', 'int'], 'list'], ['regexSplit', ['str', 'str', 'int'], 'list'],
  ['splitList', ['str', 'str'], 'list'], ['split', ['str', 'str'], 'map'], ['join', ['str', 'any'], 'str'], ['quote', ['any', '*'], 'str'], ['squote', ['any', '*'], 'str'], ['b64enc', ['str'], 'str'], ['b64dec', ['str'], 'str'], ['sha256sum', ['str'], 'str'], ['sha1sum', ['str'], 'str'], ['adler32sum', ['str'], 'str'],
  ['upper', ['str'], 'str'], ['lower', ['str'], 'str'], ['title', ['str'], 'str'], ['camelcase', ['str'], 'str'], ['snakecase', ['str'], 'str'], ['kebabcase', ['str'], 'str'], ['repeat', ['int', 'str'], 'str'], ['cat', ['any', '*'], 'str'], ['contains', ['str', 'str'], 'bool'], ['hasPrefix', ['str', 'str'], 'bool'], ['hasSuffix', ['str', 'str'], 'bool'], ['nospace', ['str'], 'str'], ['wrap', ['int', 'str'], 'str'], ['plural', ['str', 'str', 'int'], 'str'], ['initials', ['str'], 'str'], ['toString', ['any'], 'str'], ['toStrings', ['any'], 'list'],
  ['int', ['any'], 'int'], ['int64', ['any'], 'int'], ['float64', ['any'], 'num'], ['atoi', ['str'], 'int'], ['add', ['num', 'num', '*'], 'int'], ['add1', ['num'], 'int'], ['sub', ['num', 'num'], 'int'], ['mul', ['num', 'num', '*'], 'int'], ['div', ['num', 'num'], 'int'], ['mod', ['num', 'num'], 'int'], ['max', ['num', 'num', '*'], 'int'], ['min', ['num', 'num', '*'], 'int'], ['floor', ['num'], 'num'], ['ceil', ['num'], 'num'], ['round', ['num', 'int'], 'num'], ['addf', ['num', 'num'], 'num'], ['mulf', ['num', 'num'], 'num'], ['divf', ['num', 'num'], 'num'], ['maxf', ['num', 'num'], 'num'], ['until', ['int'], 'list'], ['untilStep', ['int', 'int', 'int'], 'list'], ['seq', ['int', '*'], 'str'],
  ['semver', ['str'], 'any'], ['semverCompare', ['str', 'str'], 'bool'], ['kindOf', ['any'], 'str'], ['typeOf', ['any'], 'str'], ['kindIs', ['str', 'any'], 'bool'], ['typeIs', ['str', 'any'], 'bool'], ['deepEqual', ['any', 'any'], 'bool'],
  ['len', ['any'], 'int'], ['index', ['any', 'any'], 'any'], ['slice', ['any', 'int', 'int'], 'any'], ['not', ['any'], 'bool'], ['and', ['any', 'any', '*'], 'any'], ['or', ['any', 'any', '*'], 'any'], ['eq', ['any', 'any', '*'], 'bool'], ['ne', ['any', 'any'], 'bool'], ['lt', ['num', 'num'], 'bool'], ['le', ['any', 'any'], 'bool'], ['gt', ['num', 'num'], 'bool'], ['ge', ['str', 'str'], 'bool'],
  ['printf', ['fmt', 'any', '*'], 'str'], ['print', ['any', '*'], 'str'], ['println', ['any', '*'], 'str'], ['html', ['any'], 'str'], ['js', ['any'], 'str'], ['urlquery', ['any'], 'str'],
  ['required', ['str', 'any'], 'any'], ['fail', ['str'], 'str'], ['lookup', ['str', 'str', 'str', 'str'], 'map'], ['include', ['tname', 'any'], 'str'], ['tpl', ['tpl', 'any'], 'str'],
  ['toDecimal', ['str'], 'int'], ['base', ['str'], 'str'], ['dir', ['str'], 'str'], ['ext', ['str'], 'str'], ['clean', ['str'], 'str'], ['isAbs', ['str'], 'bool'], ['urlParse', ['str'], 'map'], ['shellQuote', ['str'], 'str'],
  ['mustToJson', ['any'], 'str'], ['mustFirst', ['list'], 'any'], ['set', ['map', 'str', 'any'], 'map'], ['unset', ['map', 'str'], 'map'], ['chunk', ['int', 'list'], 'list'], ['sortAlpha', ['any'], 'list'], ['b32enc', ['str'], 'str'], ['swapcase', ['str'], 'str'], ['duration', ['any'], 'str'], ['durationRound', ['any'], 'str'],
];
const FMTS = ['"%v"', '"%d"', '"%s"', '"%q"', '"%x"', '"%05.2f"', '"%T"', '"%v %v"', '"%+v"', '"%#v"', '"%t"', '"%6.2f|%-4d|"', '"%e"', '"%g"', '"%X"', '"%o"', '"%c"', '"%U"', '"%%"', '"%3s|%-3s|"', '"%08.3f"', '"%.3s"', '"%!"', '"%[2]v %[1]v"', '"%*d"', '"%b"', '"% x"', '"%#x"', '"%+d"',
  '"%-5s|"', '"%05d"', '"%.2f"', '"%x|%X"', '"%q|%+q|%#q"', '"%v|%+v"', '"%-8v|"', '"%8.3v|"', '"%-05d|"', '"%+.1e"', '"%8.3s|"', '"%.0f"', '"%#o"', '"% d"', '"%5t|"', '"%-6q|"', '"%06.1f"', '"%.1g"', '"%10.4g|"', '"%x"', '"% X"', '"%#v"', '"%s %d"', '"%[1]d %[1]x %[1]q"', '"%d %!d"', '"%.*f"', '"%-*d|"', '"%3c|"', '"%08b"', '"%.3x"', '"%#08x"', '"%+5.1f|"', '"%v %v %v"', '"%[3]v"', '"%.-1d"', '"%.2v"', '"%#q"'];
const TNAMES = ['"h.a"', '"h.b"', '"h.list"', '"h.dict"', '"nope"', '"h.cnt"'];
const TPLS = ['"{{ .Values.s0 }}"', '"{{ . }}"', '"{{ .a | default 3 }}"', '"x{{- /* c */ -}} y"', '"{{ define \\"in\\" }}z{{ end }}{{ include \\"in\\" . }}"', '"{{ .Release.Name }}"', '.Values.s0', '"{{ toYaml . }}"', '"{{ $.Values.m }}"', '"{{"',
  '"{{ define \\"r\\" }}{{ if gt (int .) 0 }}{{ . }},{{ include \\"r\\" (sub . 1) }}{{ end }}{{ end }}{{ include \\"r\\" 3 }}"',
  '"{{ define \\"o\\" }}o[{{ include \\"i\\" . }}]{{ end }}{{ define \\"i\\" }}i{{ . }}{{ end }}{{ include \\"o\\" 1 }}"',
  '"{{ tpl \\"{{ .Values.s1 }}-{{ include \\\\\\"h.a\\\\\\" 2 }}\\" . }}"',
  '"{{ define \\"h.a\\" }}over{{ end }}{{ include \\"h.a\\" . }}"',
  '"{{ include \\"h.rec\\" . }}"', '"{{ include \\"h.cnt\\" 5 }}"', '"{{ template \\"h.cnt\\" 2 }}"',
  '"{{ define \\"self\\" }}{{ include \\"self\\" . }}{{ end }}{{ include \\"self\\" . }}"',
  '"{{ tpl .Values.s0 . }}"', '"{{ tpl (toYaml .Values.m) . }}"'];

function argFor(kind, depth) {
  if (kind === 'fmt') return leaf('e', pick(FMTS));
  if (kind === 'tname') return leaf('e', pick(TNAMES));
  if (kind === 'tpl') return leaf('e', pick(TPLS));
  return operand(depth, chance(0.95) ? kind : 'any');
}
const wrapArg = (n) => (n.k.length || / /.test(show(n)) && !/^["`]/.test(show(n)) && !/^\(/.test(show(n)) ? node('e', ([x]) => `(${x})`, n) : n);

function call(depth, kind) {
  const cands = kind === 'any' ? FUNCS : FUNCS.filter((f) => f[2] === kind || chance(0.05));
  const [name, kinds] = pick(cands.length ? cands : FUNCS);
  const args = [];
  for (let i = 0; i < kinds.length; i++) {
    if (kinds[i] === '*') {
      while (chance(0.4)) args.push(argFor(kinds[i - 1] === 'fmt' ? 'any' : kinds[i - 1], depth));
      continue;
    }
    args.push(argFor(kinds[i], depth));
  }
  if (chance(0.05) && args.length) args.pop();
  else if (chance(0.03)) args.push(argFor('any', depth));
  // pipeline form: the last argument piped in
  if (args.length && chance(0.35)) {
    const last = args.pop();
    return node('e', ([l, ...rest]) => `${l} | ${[name, ...rest].join(' ')}`, last.k.length && /\|/.test(show(last)) ? wrapArg(last) : last, ...args.map(wrapArg));
  }
  return node('e', (xs) => [name, ...xs].join(' '), ...args.map(wrapArg));
}

const dl = () => (chance(0.2) ? '{{- ' : '{{ ');
const dr = () => (chance(0.2) ? ' -}}' : ' }}');
const TEXTS = ['\n', 'a: ', '\n  ', 'x', ' ', '\n\n', 'k: v\n', '- ', '"', '#', '  \n', 'ü', '\t'];

function stmt(depth, inRange) {
  const r = rnd();
  if (r < 0.2) return leaf('s', pick(TEXTS));
  if (r < 0.45 || depth <= 0) {
    const e = pipe(depth);
    const [l, r2] = [dl(), dr()];
    return node('s', ([x]) => `${l}${x}${r2}\n`, e);
  }
  if (r < 0.5 && chance(0.5)) return probe(depth);
  if (r < 0.5) return leaf('s', pick(['{{/* c */}}', '{{- /* c */ -}}', '{{- /* multi\nline */}}\n', '{{ "" }}']));
  if (r < 0.58) {
    const v = `$v${vars.length}`;
    const e = pipe(depth);
    vars.push(v);
    return node('s', ([x]) => `{{ ${v} := ${x} }}`, e);
  }
  if (r < 0.6 && vars.length && chance(0.8)) {
    const v = pick(vars);
    return node('s', ([x]) => `{{ ${v} = ${x} }}`, pipe(depth));
  }
  if (r < 0.6) {
    // an assignment to a variable never declared (TrueCharts' common library): Go's parser takes it
    // and declares the name for the rest of the scope; executing it is `undefined variable`
    const u = `$u${vars.length}`;
    vars.push(u);
    const [l, r2] = [dl(), dr()];
    return node('s', ([x]) => `${l}${u} = ${x}${r2}`, pipe(depth));
  }
  if (r < 0.7) {
    const c = pipe(depth - 1);
    const saved = vars.length;
    const body = block(depth - 1, inRange);
    vars.length = saved;
    const alt = chance(0.5) ? block(depth - 1, inRange) : null;
    vars.length = saved;
    const elif = chance(0.2) ? pipe(depth - 1) : null;
    const kids = [c, body, ...(elif ? [elif] : []), ...(alt ? [alt] : [])];
    const [l1, r1, l2, r2] = [dl(), dr(), dl(), dr()];
    return node('s', (xs) => {
      const [cx, bx] = xs;
      let s = `${l1}if ${cx}${r1}${bx}`;
      let i = 2;
      if (elif) s += `{{ else if ${xs[i++]} }}x`;
      if (alt) s += `${l2}else${r2}${xs[i]}`;
      return `${s}{{ end }}`;
    }, ...kids);
  }
  if (r < 0.78) {
    const c = pipe(depth - 1);
    const saved = vars.length;
    const body = block(depth - 1, inRange);
    vars.length = saved;
    const alt = chance(0.4) ? block(depth - 1, inRange) : null;
    vars.length = saved;
    const [l, r2] = [dl(), dr()];
    return node('s', ([cx, bx, ax]) => `${l}with ${cx}${r2}${bx}${ax !== undefined ? `{{ else }}${ax}` : ''}{{ end }}`, c, body, ...(alt ? [alt] : []));
  }
  if (r < 0.88) {
    const c = chance(0.2) ? leaf('e', pick(['3', '0', 'nil', '.Values.n', '"abc"', '-1'])) : pipe(depth - 1);
    const saved = vars.length;
    const form = ri(3);
    const iv = `$i${vars.length}`;
    const vv = `$e${vars.length}`;
    if (form >= 1) vars.push(vv);
    if (form === 2) vars.push(iv);
    const body = block(depth - 1, true);
    vars.length = saved;
    const alt = chance(0.3) ? block(depth - 1, inRange) : null;
    vars.length = saved;
    const head = form === 0 ? '' : form === 1 ? `${vv} := ` : `${iv}, ${vv} := `;
    const [l, r2] = [dl(), dr()];
    return node('s', ([cx, bx, ax]) => `${l}range ${head}${cx}${r2}${bx}${ax !== undefined ? `{{ else }}${ax}` : ''}{{ end }}`, c, body, ...(alt ? [alt] : []));
  }
  if (r < 0.92 && inRange) return leaf('s', pick(['{{ break }}', '{{ continue }}', '{{ if true }}{{ continue }}{{ end }}']));
  const tn = pick(TNAMES);
  if (r < 0.96) return node('s', ([x]) => `{{ template ${tn} ${x} }}`, operand(depth - 1, 'any'));
  const [l, r2, f] = [dl(), dr(), pick(['nindent 2', 'indent 4', 'trim', 'quote', 'upper'])];
  return node('s', ([x]) => `${l}include ${tn} ${x} | ${f}${r2}`, wrapArg(operand(depth - 1, 'any')));
}

// merge & co. mutate their first argument (mergo writes into dst): print it afterwards; nested maps
// are shared by reference, so a later change through one name shows through the other
const MAPS = ['(dict "a" (dict "b" 1 "c" (dict "d" 2)) "e" "x")', '(dict "a" (dict "b" 2 "z" nil) "e" "")', '(dict "a" "s")', '(dict "a" (list 1 2))', '(dict "a" (dict "c" (dict "d" 3 "f" false)))', '(dict)', '(dict "e" 0 "a" (dict))'];
function probe(depth) {
  const fn = pick(['merge', 'mergeOverwrite', 'mustMerge', 'mustMergeOverwrite', 'deepCopy']);
  const v = `$p${vars.length}`;
  const src = () => (chance(0.6) ? leaf('e', pick(MAPS)) : wrapArg(operand(depth - 1, 'map')));
  // a nil destination or source (hazelcast's `merge nil .a .b`; a missing field in parentheses,
  // wikimedia's `merge ($s.annotations) …`, is a nil map to Go where the bare field is refused)
  const nilMap = () => leaf('e', pick(['nil', '(.Values.missing)', '.Values.missing', '(.Values.m.none)']));
  const dst = chance(0.2) ? leaf('e', pick(['(.Values.missing)', '.Values.missing', '(.Values.m.none)'])) : src();
  const a = src();
  const b = chance(0.4) ? (chance(0.3) ? nilMap() : src()) : null;
  const form = ri(4);
  return node('s', ([d, x, y]) => {
    const args = fn === 'deepCopy' ? d : `${v} ${x}${y !== undefined ? ` ${y}` : ''}`;
    if (fn === 'deepCopy') return `{{ ${v} := ${d} }}{{ $q := deepCopy ${v} }}{{ $_ := set $q "e" "n" }}{{ toJson ${v} }}|{{ toJson $q }}\n`;
    if (form === 0) return `{{ ${v} := ${d} }}{{ $r := ${fn} ${args} }}{{ toJson ${v} }}|{{ toJson $r }}\n`;
    if (form === 1) return `{{ ${v} := ${d} }}{{ $r := ${fn} ${args} }}{{ if kindIs "map" (get $r "a") }}{{ $_ := set (get $r "a") "m" 9 }}{{ end }}{{ toJson ${v} }}|{{ toJson ${x} }}\n`;
    if (form === 2) return `{{ $_ := ${fn} .Values.m ${x} }}{{ toJson .Values.m }}|{{ toYaml .Values }}\n`;
    return `{{ ${v} := ${d} }}{{ $_ := ${fn} (dict) ${v} }}{{ $_ := ${fn} ${v} ${x} }}{{ ${v} | ${fn} ${x} | toJson }}\n`;
  }, dst, a, ...(b ? [b] : []));
}

function pipe(depth) {
  const e = operand(depth, 'any');
  if (chance(0.2)) {
    const [name] = pick(FUNCS.filter((f) => f[1].length === 1));
    return node('e', ([x]) => `${x} | ${name}`, e.k.length && /\|/.test(show(e)) ? wrapArg(e) : e);
  }
  return e;
}
function block(depth, inRange) {
  const items = [];
  for (let i = 0, n = 1 + ri(3); i < n; i++) items.push(stmt(depth, inRange));
  return node('s', (xs) => xs.join(''), ...items);
}

const HELPERS = `{{- define "h.a" -}}
a={{ . }}
{{- end }}
{{- define "h.b" }}b:{{ .Values.s0 | default "d" }}{{ end -}}
{{ define "h.list" }}{{ range $k, $v := . }}[{{ $k }}={{ $v }}]{{ end }}{{ end }}
{{- define "h.dict" -}}{{ toYaml . }}{{- end -}}
{{- define "h.rec" -}}r{{ include "h.rec" . }}{{- end -}}
{{- define "h.cnt" -}}{{ if and (kindIs "int" .) (gt . 0) }}{{ . }}{{ include "h.cnt" (sub . 1) }}{{ end }}{{- end -}}
`;

function genCase() {
  vars = [];
  const values = { s0: { t: 's', s: pick(SCALARS) }, s1: { t: 's', s: pick(SCALARS) }, s2: { t: 's', s: pick(SCALARS) }, m: genValue(3), l: { t: 'l', l: [genValue(1), genValue(1), genValue(2)] }, n: { t: 's', s: '~' } };
  if (values.m.t !== 'm') values.m = { t: 'm', m: { a: values.m, b: genValue(2) } };
  return { values, tpl: block(3, false) };
}

// ── run ─────────────────────────────────────────────────────────────────────
let dirN = 0;
function writeCase(c) {
  const dir = path.join(WORK, `c${dirN++ % 64}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, 'templates'), { recursive: true });
  writeFileSync(path.join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: fz\nversion: 1.2.3\nappVersion: "2.0"\ndescription: fuzz\nannotations:\n  k: v\nkeywords: [a, b]\n');
  writeFileSync(path.join(dir, 'values.yaml'), valuesText(c.values));
  writeFileSync(path.join(dir, 'templates', '_h.tpl'), HELPERS);
  writeFileSync(path.join(dir, 'templates', 't.yaml'), show(c.tpl));
  writeFileSync(path.join(dir, 'files.txt'), 'line1\nline2\n');
  return dir;
}

const RANDOM = /\b(rand|uuid|now|date|genCA|genPrivate|bcrypt|htpasswd|shuffle)/;
// Differences known and documented (src/kinds/chart/render/README.md): not shrunk, counted apart.
function known(f, g) {
  // the Go process died (see startOracle); ferry's answer is not compared
  if (g.crash) return 'known: oracle crashed';
  // range over an int: Go 1.22's text/template (newer Helm); Helm 3.14's Go 1.21 refuses it
  // (ferry may then fail later, or with Go 1.22's two-variable error: the texts differ)
  if (g.err && /range can't iterate over -?\d+$/.test(g.err) && (f.ok || /can't use -?\d+ to iterate over more than one variable$/.test(f.err) || f.err !== g.err)) return 'known: range over int (Go 1.22+)';
  // .Capabilities is a pointer in Helm: printing it (or dot holding it) prints an address
  if (g.ok && /0xc[0-9a-f]{9}/.test(JSON.stringify(g.ok))) return 'known: pointer printed';
  // the root context printed whole: Helm's Capabilities/KubeVersion/BuildInfo struct shapes
  if (g.ok && /Capabilities/i.test(JSON.stringify(g.ok))) return 'known: root context printed (Capabilities struct shape)';
  // the oracle's own fromYamlArray names a map "value"; encoding/json's object() says "object"
  if (f.ok && g.ok && JSON.stringify(f.ok) === JSON.stringify(g.ok).replaceAll('cannot unmarshal value into', 'cannot unmarshal object into')) return 'known: oracle names a map "value" (encoding/json: "object")';
  // Helm's own fail (engine.go) wraps its message as required's (`execution error at (…)`); the
  // oracle keeps sprig's plain one
  if (f.err && g.err && /^execution error at \(/.test(f.err) && / at <[^>]*>: error calling fail: /.test(g.err)) return 'known: oracle keeps sprig fail';
  // the oracle's own Values type is main.Values (Helm's chartutil.Values)
  if (f.err && g.err && f.err === g.err.replaceAll('main.Values', 'chartutil.Values').replaceAll('main.Maintainer', 'chart.Maintainer')) return 'known: oracle type names main.*';
  // lenient comparison (README "Deviations"): eq/lt between an int and a float64 compare numerically
  if (g.err && /incompatible types for comparison$/.test(g.err) && f.ok) return 'known: lenient comparison';
  // sprig 3.3's functions (newer Helm); Helm 3.14's sprig 3.2.3 has none
  if (g.err && /function "(shellQuote)" not defined/.test(g.err) && f.ok) return 'known: sprig 3.3 function';
  // lenient argument types (README "Deviations"): a float or string literal for an int parameter
  if (g.err && /expected integer; found|wrong type for value; expected int(64)?; got/.test(g.err) && f.ok) return 'known: lenient int parameter';
  return null;
}

const ERRTEXT = process.argv.includes('--errtext');
function classify(f, g) {
  if (f.crash) return 'ferry-crash';
  if (g.panic) return 'go-panic';
  if (f.err !== undefined && g.err !== undefined) return ERRTEXT && f.err !== g.err ? 'errtext' : null;
  if (f.err !== undefined) return 'ferry-refuses';
  if (g.err !== undefined) return 'go-refuses';
  const a = JSON.stringify(f.ok);
  const b = JSON.stringify(g.ok);
  return a === b ? null : 'text';
}

async function both(c, ferry, oracle) {
  const dir = writeCase(c);
  const [f, g] = [await ferry(dir), await oracle.render(dir)];
  return { f, g, cls: classify(f, g) };
}

function* shrinkCands(n) {
  // statements: drop one; any node: replace by a descendant of the same category
  if (n.c === 's' && n.k.length > 1 && n.k.every((k) => k.c === 's')) {
    for (let i = 0; i < n.k.length; i++) yield { ...n, k: n.k.filter((_, j) => j !== i) };
  }
  const desc = [];
  const walk = (m) => { for (const k of m.k) { if (k.c === n.c) desc.push(k); walk(k); } };
  walk(n);
  for (const d of desc) yield d;
  if (n.c === 'e' && n.k.length) for (const l of ['""', '1', 'nil', '.Values.m']) yield leaf('e', l);
  for (let i = 0; i < n.k.length; i++) for (const s of shrinkCands(n.k[i])) yield { ...n, k: n.k.map((k, j) => (j === i ? s : k)) };
}

async function shrink(c, cls, ferry, oracle) {
  let cur = c;
  let tries = 0;
  for (let changed = true; changed && tries < 3000;) {
    changed = false;
    for (const t of shrinkCands(cur.tpl)) {
      if (++tries > 3000) break;
      if (show(t).length >= show(cur.tpl).length) continue;
      const cand = { ...cur, tpl: t };
      if ((await both(cand, ferry, oracle)).cls === cls) { cur = cand; changed = true; break; }
    }
    for (const k of Object.keys(cur.values)) {
      const v = { ...cur.values };
      delete v[k];
      const cand = { ...cur, values: v };
      if ((await both(cand, ferry, oracle)).cls === cls) { cur = cand; changed = true; }
    }
  }
  return cur;
}

// --scalars: plain scalars of number-like characters as values, each printed with its Go type
async function scalars(ferry, oracle) {
  const alphabet = '0123456789+-._xXoObBeEaAfF:iInN';
  let diffs = 0;
  for (let n = 0; n < CASES; n++) {
    const vals = [];
    for (let i = 0; i < 20; i++) {
      let t = '';
      for (let j = 0, len = 1 + ri(7); j < len; j++) t += chance(0.5) ? String(ri(10)) : alphabet[ri(alphabet.length)];
      vals.push(t);
    }
    const c = { values: Object.fromEntries(vals.map((v, i) => [`k${i}`, { t: 's', s: v }])), tpl: leaf('s', '{{ range $k, $v := .Values }}{{ $k }}={{ $v }}|{{ typeOf $v }}\n{{ end }}') };
    const { f, g, cls } = await both(c, ferry, oracle);
    if (!cls) continue;
    // one scalar at a time, to name the one that differs
    for (const v of vals) {
      const one = await both({ values: { k: { t: 's', s: v } }, tpl: c.tpl }, ferry, oracle);
      if (one.cls && diffs++ < 60) console.log(`${JSON.stringify(v)}: ferry ${JSON.stringify(one.f)} go ${JSON.stringify(one.g)}`);
    }
  }
  console.log(JSON.stringify({ scalarCases: CASES * 20, differing: diffs }));
}

// ── printf grid ─────────────────────────────────────────────────────────────
const PF_OPERANDS = [
  ['float64', ['.Values.f.a', '.Values.f.b', '.Values.f.c', '.Values.f.d', '.Values.f.e', '.Values.f.g', '.Values.f.h', '.Values.f.i', '.Values.f.j', '1.5', '-2.25', '0.0', '1e21', '(float64 "NaN")', '(float64 "+Inf")', '(float64 "-Inf")', '(float64 "-0")', '(float64 "5e-324")', '(float64 "1.7976931348623157e308")', '(float64 "0.1")']],
  ['int', ['0', '1', '-1', '42', '255', '9223372036854775807', "'a'", '(len "abc")', '1114112', '-97']],
  ['int64', ['(add 0 -5)', '(int64 255)', '(sub 0 9223372036854775807)', '(add 0 0)', '(int64 65)']],
  ['uint8', ['(index "a" 0)', '(index "\\xff" 0)', '(index "\\t" 0)']],
  ['uint64', ['(semver "1.2.3").Major', '(semver "0.0.0").Minor']],
  ['string', ['"abc"', '""', '"é日本"', '"a\\tb\\n"', '"\\xff\\xfe"', '"`x`"', '"\\u00ad"', '"\\x7f"']],
  ['bool', ['true', 'false']],
  ['nil', ['nil']],
  ['list', ['(list 1 "a" nil 1.5)', '(list)', '(list true (list 2))', '(list (dict "k" nil))']],
  ['[]int', ['(until 3)']],
  ['[]string', ['(splitList "," "a,b")']],
  ['[]uint8', ['(.Files.GetBytes "files.txt")', '(.Files.GetBytes "nope")']],
  ['map', ['(dict "a" 1 "b" nil)', '(dict)', '.Values.f']],
  ['map[string]string', ['(split "," "a,b")']],
  ['semver', ['(semver "1.2.3")']],
];
const PF_VERBS = 'vsdboOxXcqUeEfFgGtTzy'.split('');
const PF_FLAGS = ['', '', '', '+', '-', '#', ' ', '0', '+0', '-0', '# ', '#0', ' 0', '+#', '-#'];
function pfSpec() {
  const flags = pick(PF_FLAGS);
  const width = chance(0.4) ? String(pick([1, 3, 8, 14, 25])) : '';
  const prec = chance(0.4) ? `.${pick(['', '0', '1', '3', '6', '10', '17', '20'])}` : '';
  const verb = pick(PF_VERBS);
  return { spec: `%${flags}${width}${prec}${verb}`, verb, flags };
}
async function printfGrid(ferry, oracle) {
  const classes = new Map();
  let lines = 0;
  for (let n = 0; n < CASES; n++) {
    const calls = [];
    for (let i = 0; i < 40; i++) {
      const [type, ops] = pick(PF_OPERANDS);
      const { spec, verb, flags } = pfSpec();
      calls.push({ type, verb, flags, text: `{{ printf "${spec}|" ${pick(ops)} }}` });
    }
    const tpl = calls.map((c, i) => `L${i}:${c.text}\n`).join('');
    const values = { f: { t: 'm', m: { a: { t: 's', s: '1.5' }, b: { t: 's', s: '-0.75' }, c: { t: 's', s: '0' }, d: { t: 's', s: '1e6' }, e: { t: 's', s: '123456789' }, g: { t: 's', s: '1.0e-7' }, h: { t: 's', s: '255' }, i: { t: 's', s: '0.1' }, j: { t: 's', s: '-1e21' } } } };
    const { f, g } = await both({ values, tpl: leaf('s', tpl) }, ferry, oracle);
    lines += calls.length;
    // each call's output, by its line marker (an output may hold newlines); an error is every line's
    const out = (r) => {
      if (!r.ok) return calls.map(() => `ERR ${r.err ?? r.crash}`);
      // the oracle's JSON line has U+FFFD for a byte that is no UTF-8, ferry's string an escaped byte
      const text = (Object.entries(r.ok).find(([k]) => k.endsWith('t.yaml'))?.[1] ?? '').replace(/[\udc80-\udcff]/g, '\ufffd');
      const byLine = [];
      for (const seg of text.split(/(?:^|\n)L(?=\d+:)/)) { const m = /^(\d+):([\s\S]*)$/.exec(seg); if (m) byLine[Number(m[1])] = m[2]; }
      return byLine;
    };
    const [fl, gl] = [out(f), out(g)];
    calls.forEach((c, i) => {
      if (fl[i] === gl[i]) return;
      const key = `%${c.flags}${c.verb} ${c.type}`;
      const e = classes.get(key) ?? { n: 0, ex: [] };
      e.n++;
      if (e.ex.length < 2) e.ex.push(`${c.text}\n      ferry: ${String(JSON.stringify(fl[i])).slice(0, 160)}\n      go:    ${String(JSON.stringify(gl[i])).slice(0, 160)}`);
      classes.set(key, e);
    });
  }
  for (const [k, e] of [...classes].sort()) console.log(`${k} (${e.n})\n    ${e.ex.join('\n    ')}`);
  console.log(JSON.stringify({ seed, cases: CASES, printfCalls: lines, differingClasses: classes.size, differingCalls: [...classes.values()].reduce((a, e) => a + e.n, 0) }));
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  mkdirSync(WORK, { recursive: true });
  const oracle = startOracle(buildOracle());
  const ferry = await loadFerry();
  if (process.argv.includes('--printf')) {
    await printfGrid(ferry, oracle);
    oracle.close();
    return;
  }
  if (process.argv.includes('--scalars')) {
    await scalars(ferry, oracle);
    oracle.close();
    return;
  }
  const counts = {};
  const errs = {};
  const seen = new Set();
  let bothOk = 0, bothErr = 0, n = 0, saved = 0;
  const startSeed = seed;
  for (; n < CASES; n++) {
    const c = genCase();
    const text = show(c.tpl);
    if (RANDOM.test(text)) continue;
    const { f, g, cls } = await both(c, ferry, oracle);
    if (!cls) {
      if (f.err !== undefined) {
        bothErr++;
        const why = g.err.replace(/^.*>: /, '').replace(/^template: [^ ]* /, '').replace(/"[^"]*"|\d+/g, '_').slice(0, 70);
        errs[why] = (errs[why] ?? 0) + 1;
      } else bothOk++;
      continue;
    }
    const k = known(f, g);
    if (k) { counts[k] = (counts[k] ?? 0) + 1; continue; }
    counts[cls] = (counts[cls] ?? 0) + 1;
    const small = await shrink(c, cls, ferry, oracle);
    const res = await both(small, ferry, oracle);
    const key = `${cls}|${show(small.tpl)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    writeFileSync(path.join(OUT, `diff-${saved++}.json`), JSON.stringify({ cls, template: show(small.tpl), values: valuesText(small.values), ferry: res.f, go: res.g }, null, 1));
    console.log(`[${n}] ${cls}: ${JSON.stringify(show(small.tpl))}\n   values: ${JSON.stringify(valuesText(small.values))}\n   ferry: ${JSON.stringify(res.f).slice(0, 300)}\n   go:    ${JSON.stringify(res.g).slice(0, 300)}`);
  }
  oracle.close();
  if (process.argv.includes('--errors')) console.log(Object.entries(errs).sort((a, b) => b[1] - a[1]).slice(0, 25));
  console.log(JSON.stringify({ seed: startSeed, cases: n, bothRender: bothOk, bothRefuse: bothErr, differences: counts, distinctShrunk: saved }));
}

await main();
