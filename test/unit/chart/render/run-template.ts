import { TemplateSet, Writer } from '../../../../src/kinds/chart/render/exec.js';
import { sprigFuncs } from '../../../../src/kinds/chart/render/sprig.js';

/** Execute one template text with sprig's functions (no Helm functions): its output. */
export function run(text: string, data: unknown = {}): string {
  const set = new TemplateSet(sprigFuncs());
  set.parse('t', text);
  const w = new Writer();
  set.execute('t', data, w);
  return w.toString();
}
