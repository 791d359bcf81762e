import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { loadTarget } from '../../../src/manifest/load.js';
import { loadManifest } from '../../../src/kinds/schema.js';
import { buildConnectionModel } from '../../../src/audit/model.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
export const SEEDS = ['ccx', 'spinifex', 'spire', 'metal-stack', 'safespring'];

describe('seed manifests', () => {
  for (const seed of SEEDS) {
    it(`${seed}: loadManifest and the connection model accept it, and its mirror target loads`, async () => {
      const loaded = await loadManifest(path.join(ROOT, 'manifests', `${seed}.yaml`));
      const model = buildConnectionModel(loaded);
      expect(model.connections.length + model.endpoints.length).toBeGreaterThan(0);
      const target = await loadTarget(path.join(ROOT, 'mirror-targets', `${seed}.yaml`));
      expect(target.target.kind).toBe('MirrorTarget');
    });
  }
});
