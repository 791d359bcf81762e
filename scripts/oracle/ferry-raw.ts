// The fuzzer's ferry side (bundled by fuzz.mjs): a chart directory's raw template outputs, as
// renderTemplates gives them before the split into documents, or the error.
import { loadChart } from '../../src/kinds/chart/load.js';
import { coalesce, processDependencies, processImportValues, toHelmChart } from '../../src/kinds/chart/render/chart.js';
import { capabilities, DEFAULT_API_VERSIONS, parseKubeVersion, renderTemplates } from '../../src/kinds/chart/render/helm.js';
import { resetRandom } from '../../src/kinds/chart/render/sprig.js';

export async function renderRaw(dir: string): Promise<{ ok?: Record<string, string>; err?: string; crash?: string }> {
  let loaded;
  try {
    loaded = await loadChart(dir, { allFiles: true });
  } catch (e) {
    return { err: `load: ${(e as Error).message}` };
  }
  try {
    resetRandom();
    const top = toHelmChart(loaded);
    processDependencies(top, {}, () => {}, [], []);
    processImportValues(top, () => {});
    const values = coalesce(top, {}, false);
    const out = renderTemplates({
      top,
      values,
      release: { name: 'release-name', namespace: 'default', revision: 1, isUpgrade: false },
      caps: capabilities(parseKubeVersion('v1.29.0'), [...DEFAULT_API_VERSIONS]),
    });
    return { ok: Object.fromEntries(out.map((t) => [t.name, t.output])) };
  } catch (e) {
    const err = e as Error;
    if (/Error$/.test(err.constructor.name) && err.constructor.name !== 'Error' && !(err instanceof TypeError) && !(err instanceof RangeError) && !(err instanceof ReferenceError)) return { err: err.message };
    return { crash: `${err.constructor.name}: ${err.message}\n${err.stack}` };
  }
}
