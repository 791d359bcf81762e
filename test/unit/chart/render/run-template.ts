import { TemplateSet, Writer, type GoFunc } from '../../../../src/kinds/chart/render/exec.js';
import { sprigFuncs } from '../../../../src/kinds/chart/render/sprig.js';

/** Execute one template text with sprig's functions (no Helm functions but those in `more`): its output. */
export function run(text: string, data: unknown = {}, more: Record<string, GoFunc> = {}): string {
  const set = new TemplateSet({ ...sprigFuncs(), ...more });
  set.parse('t', text);
  const w = new Writer();
  set.execute('t', data, w);
  return w.toString();
}
