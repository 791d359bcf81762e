import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * DESIGN.md's layers: a folder imports only folders below it (errors.ts and ui/ from anywhere).
 * scripts/check-layers.mjs reads every import of src/ with the TypeScript parser; a module that
 * reaches upward (net/ importing store/, say) fails here, not only when someone runs the script.
 */
describe('layering', () => {
  it('src/ has no upward import and every folder is in the layer list', () => {
    const root = path.resolve(import.meta.dirname, '../..');
    const out = execFileSync(process.execPath, [path.join(root, 'scripts/check-layers.mjs'), path.join(root, 'src')], { cwd: root, encoding: 'utf8' });
    expect(out).toMatch(/, 0 upward imports\n$/);
    expect(out).not.toMatch(/^note: /m);
  });
});
