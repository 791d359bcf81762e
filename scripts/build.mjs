// Single-file build: dist/ferry.mjs runs with no node_modules, so ferry itself can cross the gap.
import { build } from 'esbuild';
import { chmod } from 'node:fs/promises';

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
    js: "#!/usr/bin/env node\nimport { createRequire as __ferryCreateRequire } from 'node:module'; const require = __ferryCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
await chmod('dist/ferry.mjs', 0o755);
