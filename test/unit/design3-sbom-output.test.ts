import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleSbom } from '../../src/commands/sbom.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { packBundle } from '../../src/store/bundle-pack.js';

/**
 * DESIGN.md: "cli/ commander wiring only: parse → call a command → print"; commands take an
 * injected cwd. `ferry sbom -o` checked its --format and wrote its file in the CLI layer, with
 * the process's directory: a caller of the command (a test, another command) got no file.
 */
let work: string;
let bundle: string;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-design3-sbom-'));
  const store = new BlobStore(path.join(work, 'store'));
  await store.init();
  const lock = { apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'app', digest: `sha256:${sha256('app')}` }, images: [] };
  bundle = path.join(work, 'app.ferry.tar');
  await packBundle({ store, index: { schemaVersion: 2, manifests: [] }, metadata: { manifestYaml: 'x', lock: JSON.stringify(lock), manifestName: 'app' }, output: bundle });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('bundleSbom writes its output itself', () => {
  it('-o relative to the injected cwd, the same bytes it returns, nothing else beside it', async () => {
    const dir = path.join(work, 'site');
    const r = await bundleSbom(bundle, 'spdx', { output: 'out/app.spdx.json', cwd: dir });
    expect(r.output).toBe(path.join(dir, 'out', 'app.spdx.json'));
    expect(await readFile(r.output!, 'utf8')).toBe(r.text);
    expect(JSON.parse(r.text).spdxVersion).toBe('SPDX-2.3');
    expect(await readdir(path.join(dir, 'out'))).toEqual(['app.spdx.json']);
  });

  it('refuses an unknown format before the bundle is read', async () => {
    await expect(bundleSbom(path.join(work, 'missing.tar'), 'xml')).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining('choose one of cyclonedx, spdx') });
  });
});
