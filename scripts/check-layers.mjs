#!/usr/bin/env node
// Layering check (DESIGN.md, "Layout"): a folder under src/ imports only folders below it in
//   main.ts, cli/, commands/, serve/, rewrite/, audit/, kinds/, manifest/, mapping/, store/, oci/, net/, ui/, errors.ts
// errors.ts and ui/ may be imported from anywhere. Reads every src file's relative imports
// (static, `export … from`, `import type`, dynamic `import()`), prints each that goes from a
// lower folder to a higher one, and exits 1 if there is any.
// Usage: node scripts/check-layers.mjs [src-dir]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ORDER = ['main.ts', 'cli', 'commands', 'serve', 'rewrite', 'audit', 'kinds', 'manifest', 'mapping', 'store', 'oci', 'net', 'ui', 'errors.ts'];
const ANYWHERE = new Set(['errors.ts', 'ui']);
// Not in DESIGN.md's list: a constant with no imports of its own, so a leaf like errors.ts.
const LEAVES = new Set(['version.ts']);

const srcDir = path.resolve(process.argv[2] ?? 'src');

function* walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) yield* walk(full);
    else if (/\.(ts|mts|tsx)$/.test(name) && !name.endsWith('.d.ts')) yield full;
  }
}

/** The top-level entry of src/ a file belongs to: a folder name or a top-level file name. */
function topOf(file) {
  return path.relative(srcDir, file).split(path.sep)[0];
}

const unplaced = new Set();
function rank(top) {
  const i = ORDER.indexOf(top);
  if (i < 0 && !LEAVES.has(top)) unplaced.add(top);
  return i;
}

// Import clauses hold only names, braces, commas, `*`, `as` and `type`, so the pattern cannot run
// across other code; anchoring at a line start skips examples inside comments.
const STATIC = /^[ \t]*(?:import|export)\s+[\w\s{},*$]*?\s*from\s*(['"])(\.[^'"]*)\1/gm;
const BARE = /^[ \t]*import\s*(['"])(\.[^'"]*)\1/gm;
const DYNAMIC = /\bimport\(\s*(['"])(\.[^'"]*)\1\s*\)/g;

/** Every relative specifier a file imports, with its offset. */
function relativeImports(text) {
  const out = [];
  for (const re of [STATIC, BARE, DYNAMIC]) for (const m of text.matchAll(re)) out.push({ fileName: m[2], pos: m.index + m[0].lastIndexOf(m[2]) });
  return out.sort((a, b) => a.pos - b.pos);
}

/** A relative specifier (`../oci/client.js`) to the .ts file it names. */
function resolveSpecifier(from, spec) {
  const abs = path.resolve(path.dirname(from), spec);
  return abs.replace(/\.(m?js)$/, (_, ext) => (ext === 'mjs' ? '.mts' : '.ts'));
}

const violations = [];
let files = 0;
let imports = 0;
for (const file of walk(srcDir)) {
  files++;
  const text = readFileSync(file, 'utf8');
  const fromTop = topOf(file);
  const fromRank = rank(fromTop);
  for (const ref of relativeImports(text)) {
    imports++;
    const target = resolveSpecifier(file, ref.fileName);
    const rel = path.relative(srcDir, target);
    if (rel.startsWith('..')) {
      violations.push({ file, line: text.slice(0, ref.pos).split('\n').length, spec: ref.fileName, why: 'imports from outside src/' });
      continue;
    }
    const toTop = topOf(target);
    if (toTop === fromTop || ANYWHERE.has(toTop) || LEAVES.has(toTop)) continue;
    const toRank = rank(toTop);
    if (fromRank < 0 || toRank < 0) continue; // reported below as unplaced
    if (toRank < fromRank) {
      const label = (t) => (t.endsWith('.ts') ? t : `${t}/`);
      violations.push({ file, line: text.slice(0, ref.pos).split('\n').length, spec: ref.fileName, why: `${label(fromTop)} → ${label(toTop)} (upward)` });
    }
  }
}

const cwd = process.cwd();
for (const v of violations) console.log(`${path.relative(cwd, v.file)}:${v.line}: ${v.why}: '${v.spec}'`);
for (const u of [...unplaced].sort()) console.log(`note: src/${u} is not in DESIGN.md's layer list; its imports were not checked`);
console.log(`${files} files, ${imports} relative imports, ${violations.length} upward import${violations.length === 1 ? '' : 's'}`);
process.exit(violations.length ? 1 : 0);
