import { it } from 'vitest';
import { loadManifest } from '../../../src/manifest/load.js';
import { buildConnectionModel } from '../../../src/audit/model.js';
it('x', async () => {
  for (const f of (process.env.SEEDS ?? '').split(',')) {
    try { buildConnectionModel(await loadManifest(`/work/main/manifests/${f}.yaml`)); console.log(f, 'OK'); }
    catch (e: any) { console.log(f, e.message, e.details); }
  }
});
