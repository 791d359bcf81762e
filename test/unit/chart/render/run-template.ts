import path from 'node:path';
import { renderRaw } from '../../../../scripts/oracle/ferry-raw.js';
import { TemplateSet, Writer, type GoFunc } from '../../../../src/kinds/chart/render/exec.js';
import { sprigFuncs } from '../../../../src/kinds/chart/render/sprig.js';
import { scratchDir, writeChart } from '../helpers.js';

/** Execute one template text with sprig's functions (no Helm functions but those in `more`): its output. */
export function run(text: string, data: unknown = {}, more: Record<string, GoFunc> = {}): string {
  const set = new TemplateSet({ ...sprigFuncs(), ...more });
  set.parse('t', text);
  const w = new Writer();
  set.execute('t', data, w);
  return w.toString();
}

/**
 * One chart per call under a temporary directory made before the file's tests and removed after
 * them (registers vitest hooks: call at the top of a test file), rendered as the oracle harness
 * renders it: the template's raw output as Helm's engine gives it, or `ERR` and the error's text
 * after its location. Each chart has `files/x` (`ab`) beside the template. `located`: every chart
 * is named `c` and an error is its whole text, location and all (`template: c/templates/t.yaml:…`).
 */
export function scratchRawRender(prefix: string, { located = false } = {}) {
  const tmp = scratchDir(prefix);
  let n = 0;
  return async function render(template: string, values = 'a: 1\n'): Promise<string> {
    const dirName = `c${n++}`;
    const name = located ? 'c' : dirName;
    const dir = await writeChart(path.join(tmp(), dirName), { chart: { name, version: '1.0.0' }, values, files: { 'templates/t.yaml': template, 'files/x': 'ab' } });
    const r = await renderRaw(dir);
    if (r.crash !== undefined) throw new Error(r.crash);
    if (r.err !== undefined) return located ? `ERR ${r.err}` : `ERR ${r.err.replace(/^template: [^ ]+ executing "[^"]*":? (at <[^>]*>: )?/, '')}`;
    return r.ok![`${name}/templates/t.yaml`];
  };
}
